//! Diffie-Hellman over the MODP groups of the Flash profile (RFC 7425 §4.2, §4.6.1–4.6.2):
//! group 2 (1024-bit, mandatory), 14 (2048-bit) and 16 (4096-bit), generator 2.
//!
//! Public keys and the shared secret are **minimal-length big-endian** numbers, as OpenSSL's
//! `BN_bn2bin` writes them and as Flash, Mona and rtmfp-cpp expect: about one key in 256 is a
//! byte shorter than the prime, and padding it would break key agreement
//! (`RTMFP_NOTES.md` §1.7). A far public key is accepted only if `2^24 ≤ y ≤ p − 2^24` and its
//! binary form has at least 16 zero bits and 16 one bits (the RFC 7425 §4.6.2 checks as
//! rtmfp-cpp makes them); that implies `1 < y < p − 1`.

use num_bigint::BigUint;

use super::primes::{MODP_14, MODP_16, MODP_2};

/// A MODP group ID as carried in certificates and key components; unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub u64);

impl GroupId {
    /// 1024-bit MODP group (RFC 2409 §6.2), mandatory.
    pub const MODP_1024: GroupId = GroupId(2);
    /// 2048-bit MODP group (RFC 3526 §3).
    pub const MODP_2048: GroupId = GroupId(14);
    /// 4096-bit MODP group (RFC 3526 §5).
    pub const MODP_4096: GroupId = GroupId(16);

    /// The prime, if Sluice implements this group.
    pub fn prime(self) -> Option<&'static [u8]> {
        match self.0 {
            2 => Some(&MODP_2),
            14 => Some(&MODP_14),
            16 => Some(&MODP_16),
            _ => None,
        }
    }

    /// Whether Sluice implements this group.
    pub fn is_supported(self) -> bool {
        self.prime().is_some()
    }
}

/// Whether `y` (big-endian, any length) is an acceptable far public key in `group`.
pub fn is_valid_public_key(group: GroupId, y: &[u8]) -> bool {
    let Some(p) = group.prime() else {
        return false;
    };
    let p = BigUint::from_bytes_be(p);
    let y = BigUint::from_bytes_be(y);
    let bound = BigUint::from(1u32 << 24);
    if y < bound || y > &p - &bound {
        return false;
    }
    let bits = y.bits();
    let ones: u64 = y
        .to_bytes_be()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum();
    ones >= 16 && bits - ones >= 16
}

/// One side's key pair in one group.
#[derive(Clone)]
pub struct KeyPair {
    group: GroupId,
    private: BigUint,
    public: Vec<u8>,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("group", &self.group)
            .field("public_len", &self.public.len())
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// A fresh key pair; `None` if the group is not supported. The private exponent has the
    /// prime's length with the top two bits cleared (below q = (p − 1)/2) and bit 1 set; the
    /// public key is regenerated in the rare case it fails [`is_valid_public_key`].
    pub fn generate(group: GroupId, rng: &mut dyn rand::RngCore) -> Option<KeyPair> {
        let p = group.prime()?;
        loop {
            let mut x = vec![0u8; p.len()];
            rng.fill_bytes(&mut x);
            x[0] &= 0x3f;
            x[p.len() - 1] |= 0x02;
            let pair = Self::from_private(group, &x)?;
            if is_valid_public_key(group, &pair.public) {
                return Some(pair);
            }
        }
    }

    /// The key pair for a given private exponent (big-endian). For fixed vectors.
    pub fn from_private(group: GroupId, private: &[u8]) -> Option<KeyPair> {
        let p = BigUint::from_bytes_be(group.prime()?);
        let private = BigUint::from_bytes_be(private);
        let public = BigUint::from(2u32).modpow(&private, &p).to_bytes_be();
        Some(KeyPair {
            group,
            private,
            public,
        })
    }

    /// The group.
    pub fn group(&self) -> GroupId {
        self.group
    }

    /// The public key, minimal-length big-endian.
    pub fn public(&self) -> &[u8] {
        &self.public
    }

    /// The shared secret with `far_public` (minimal-length big-endian), or `None` if the far key
    /// fails [`is_valid_public_key`].
    pub fn shared_secret(&self, far_public: &[u8]) -> Option<Vec<u8>> {
        if !is_valid_public_key(self.group, far_public) {
            return None;
        }
        let p = BigUint::from_bytes_be(self.group.prime()?);
        let y = BigUint::from_bytes_be(far_public);
        Some(y.modpow(&self.private, &p).to_bytes_be())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn agreement_in_every_group() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for g in [GroupId::MODP_1024, GroupId::MODP_2048, GroupId::MODP_4096] {
            let a = KeyPair::generate(g, &mut rng).unwrap();
            let b = KeyPair::generate(g, &mut rng).unwrap();
            assert!(a.public().len() <= g.prime().unwrap().len());
            assert_eq!(a.shared_secret(b.public()), b.shared_secret(a.public()));
        }
        assert!(KeyPair::generate(GroupId(5), &mut rng).is_none());
    }

    #[test]
    fn range_checks() {
        let g = GroupId::MODP_1024;
        let p = BigUint::from_bytes_be(g.prime().unwrap());
        assert!(!is_valid_public_key(g, &[]));
        assert!(!is_valid_public_key(g, &[1]));
        assert!(!is_valid_public_key(g, &(&p - 1u32).to_bytes_be()));
        assert!(!is_valid_public_key(g, &p.to_bytes_be()));
        assert!(
            !is_valid_public_key(g, &[0xff; 128]),
            "too few zero bits / above p"
        );
        assert!(!is_valid_public_key(GroupId(5), &[0x55; 100]));
        assert!(is_valid_public_key(g, &[0x55; 100]));
    }

    #[test]
    fn fixed_private_key_vector() {
        // 2^1 mod p = 2: from_private works with short exponents and keeps minimal encoding.
        let k = KeyPair::from_private(GroupId::MODP_1024, &[1]).unwrap();
        assert_eq!(k.public(), &[2]);
        // 2^1024 mod p is 2^1024 − p < 2^960: 120 bytes, no padding, starting 0x36f0255dde973dcb.
        let mut e = vec![0u8; 2];
        e[0] = 0x04;
        let k = KeyPair::from_private(GroupId::MODP_1024, &e).unwrap();
        assert_eq!(k.public().len(), 120);
        assert_eq!(hex::encode(&k.public()[..8]), "36f0255dde973dcb");
    }
}
