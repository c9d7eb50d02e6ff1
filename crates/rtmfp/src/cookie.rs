//! Stateless responder cookies (RFC 7016 §3.5.1.2): a responder keeps no state between RHello
//! and IIKeying; the cookie it hands out proves, when echoed, that the initiator can receive at
//! its address and did so recently.
//!
//! Layout, 64 bytes (Mona, Cumulus and librtmfp require exactly 64, `RTMFP_NOTES.md` §5.2):
//!
//! ```text
//! [issued u32: seconds since the endpoint's epoch]
//! [HMAC(secret, "T" ‖ issued)[..28]]           proves the cookie is ours
//! [HMAC(secret, "A" ‖ issued ‖ address)[..32]] binds it to the initiator's address
//! ```
//!
//! The two MACs tell "not ours" (drop) from "ours, but for another address or too old" (answer
//! with an RHello Cookie Change, §2.3.6).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::crypto::hmac_sha256;

/// Cookie length.
pub const COOKIE_LEN: usize = 64;

/// What an echoed cookie is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieCheck {
    /// Ours, for this address, young enough.
    Valid,
    /// Ours but for another address, or older than the age limit and younger than twice it:
    /// answer with a Cookie Change.
    Stale,
    /// Ours but older than twice the age limit.
    Expired,
    /// Not ours.
    Invalid,
}

/// Makes and checks cookies with one secret.
#[derive(Clone)]
pub struct CookieJar {
    secret: [u8; 32],
}

impl std::fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieJar").finish_non_exhaustive()
    }
}

fn addr_bytes(addr: SocketAddr) -> Vec<u8> {
    let mut v = match addr.ip() {
        IpAddr::V4(ip) => ip.octets().to_vec(),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    };
    v.extend_from_slice(&addr.port().to_be_bytes());
    v
}

impl CookieJar {
    /// A jar with `secret`.
    pub fn new(secret: [u8; 32]) -> Self {
        CookieJar { secret }
    }

    /// A cookie for `addr` issued at `since_epoch`.
    pub fn make(&self, addr: SocketAddr, since_epoch: Duration) -> [u8; COOKIE_LEN] {
        let issued = (since_epoch.as_secs() as u32).to_be_bytes();
        let mut out = [0u8; COOKIE_LEN];
        out[..4].copy_from_slice(&issued);
        out[4..32].copy_from_slice(&hmac_sha256(&self.secret, &[b"T", &issued])[..28]);
        out[32..].copy_from_slice(&hmac_sha256(
            &self.secret,
            &[b"A", &issued, &addr_bytes(addr)],
        ));
        out
    }

    /// Check an echoed cookie from `addr` at `since_epoch`.
    pub fn check(
        &self,
        cookie: &[u8],
        addr: SocketAddr,
        since_epoch: Duration,
        max_age: Duration,
    ) -> CookieCheck {
        if cookie.len() != COOKIE_LEN {
            return CookieCheck::Invalid;
        }
        let issued: [u8; 4] = cookie[..4].try_into().expect("4 bytes");
        if hmac_sha256(&self.secret, &[b"T", &issued])[..28] != cookie[4..32] {
            return CookieCheck::Invalid;
        }
        let now = since_epoch.as_secs();
        let issued_secs = u64::from(u32::from_be_bytes(issued));
        if issued_secs > now {
            return CookieCheck::Invalid;
        }
        let age = Duration::from_secs(now - issued_secs);
        if age > max_age * 2 {
            return CookieCheck::Expired;
        }
        let bound = hmac_sha256(&self.secret, &[b"A", &issued, &addr_bytes(addr)]);
        if age > max_age || bound != cookie[32..] {
            return CookieCheck::Stale;
        }
        CookieCheck::Valid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_lifecycle() {
        let jar = CookieJar::new([7; 32]);
        let a: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        let b: SocketAddr = "192.0.2.1:5001".parse().unwrap();
        let t = Duration::from_secs(100);
        let max = Duration::from_secs(30);
        let c = jar.make(a, t);
        assert_eq!(c.len(), 64);
        assert_eq!(
            jar.check(&c, a, t + Duration::from_secs(29), max),
            CookieCheck::Valid
        );
        assert_eq!(jar.check(&c, b, t, max), CookieCheck::Stale);
        assert_eq!(
            jar.check(&c, a, t + Duration::from_secs(31), max),
            CookieCheck::Stale
        );
        assert_eq!(
            jar.check(&c, a, t + Duration::from_secs(61), max),
            CookieCheck::Expired
        );
        let mut forged = c;
        forged[3] ^= 1;
        assert_eq!(jar.check(&forged, a, t, max), CookieCheck::Invalid);
        assert_eq!(jar.check(&c[..63], a, t, max), CookieCheck::Invalid);
        assert_eq!(
            CookieJar::new([8; 32]).check(&c, a, t, max),
            CookieCheck::Invalid
        );
    }
}
