//! Signed URLs: a web back end mints them with the server's secret, without calling Sluice.
//!
//! The query is `expires=<E>&token=<T>` where `E` is the Unix time (seconds) after which the
//! URL stops working and `T` is the lower-case hex HMAC-SHA256, keyed with `access.secret`, of
//! the UTF-8 text `"{action}\n{app}\n{stream}\n{E}"` — `action` is `publish` or `play`, `app`
//! and `stream` as the client names them (no query, no slashes around the app). For example,
//! in Python:
//!
//! ```text
//! hmac.new(secret, f"play\nlive\ncam\n{expires}".encode(), hashlib.sha256).hexdigest()
//! ```
//!
//! The same token is accepted on every output of that stream (RTMP today; HTTP later). A token
//! for `play` does not allow `publish`, nor another stream. Comparison is in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a signed URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No `token` (or no `expires`) in the query.
    #[error("no signed token in the URL (expected ?expires=…&token=…)")]
    Missing,
    /// `expires` is not a number or `token` is not 64 hex digits.
    #[error("malformed signed token: {0}")]
    Malformed(&'static str),
    /// The expiry has passed.
    #[error("signed token expired at {expires} (now {now})")]
    Expired {
        /// The token's expiry (Unix seconds).
        expires: u64,
        /// The server's time.
        now: u64,
    },
    /// The signature does not match (wrong secret, action, app, stream or expiry).
    #[error("signed token does not match (wrong secret, action, app, stream or expiry)")]
    Mismatch,
}

fn mac(secret: &[u8], action: &str, app: &str, stream: &str, expires: u64) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    m.update(format!("{action}\n{app}\n{stream}\n{expires}").as_bytes());
    m
}

/// The hex signature of (`action`, `app`, `stream`, `expires`).
pub fn sign(secret: &[u8], action: &str, app: &str, stream: &str, expires: u64) -> String {
    hex::encode(
        mac(secret, action, app, stream, expires)
            .finalize()
            .into_bytes(),
    )
}

/// The query string (`expires=…&token=…`) of a signed URL.
pub fn signed_query(secret: &[u8], action: &str, app: &str, stream: &str, expires: u64) -> String {
    format!(
        "expires={expires}&token={}",
        sign(secret, action, app, stream, expires)
    )
}

/// The value of `key` in a query string (`a=1&b=2`), if present.
pub fn query_value<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// Check the signed token in `query` for (`action`, `app`, `stream`) at Unix time `now`.
pub fn verify(
    secret: &[u8],
    action: &str,
    app: &str,
    stream: &str,
    query: &str,
    now: u64,
) -> Result<(), TokenError> {
    let (Some(expires), Some(token)) = (query_value(query, "expires"), query_value(query, "token"))
    else {
        return Err(TokenError::Missing);
    };
    let expires: u64 = expires
        .parse()
        .map_err(|_| TokenError::Malformed("expires is not a number of seconds"))?;
    if token.len() != 64 {
        return Err(TokenError::Malformed("token is not 64 hex digits"));
    }
    let sig = hex::decode(token).map_err(|_| TokenError::Malformed("token is not hex"))?;
    // Checked before the expiry, so that an expired token is only reported as such when it
    // was genuine.
    mac(secret, action, app, stream, expires)
        .verify_slice(&sig)
        .map_err(|_| TokenError::Mismatch)?;
    if expires < now {
        return Err(TokenError::Expired { expires, now });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"s3cret";

    #[test]
    fn known_vector() {
        // Python: hmac.new(b"s3cret", b"play\nlive\ncam\n1700000000", hashlib.sha256).hexdigest()
        assert_eq!(
            sign(SECRET, "play", "live", "cam", 1_700_000_000),
            "0d60243b98b7d6e865d5934d7c87bb40d4fff90e6509e93bc7091ad3a3fb9162"
        );
    }

    #[test]
    fn valid_expired_tampered_wrong_action() {
        let q = signed_query(SECRET, "play", "live", "cam", 2000);
        assert_eq!(verify(SECRET, "play", "live", "cam", &q, 1000), Ok(()));
        assert_eq!(
            verify(SECRET, "play", "live", "cam", &q, 3000),
            Err(TokenError::Expired {
                expires: 2000,
                now: 3000
            })
        );
        assert_eq!(
            verify(SECRET, "publish", "live", "cam", &q, 1000),
            Err(TokenError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, "play", "live", "cam2", &q, 1000),
            Err(TokenError::Mismatch)
        );
        let longer = q.replace("expires=2000", "expires=9000");
        assert_eq!(
            verify(SECRET, "play", "live", "cam", &longer, 1000),
            Err(TokenError::Mismatch)
        );
        assert_eq!(
            verify(b"other", "play", "live", "cam", &q, 1000),
            Err(TokenError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, "play", "live", "cam", "x=1", 1000),
            Err(TokenError::Missing)
        );
        assert!(matches!(
            verify(SECRET, "play", "live", "cam", "expires=1&token=zz", 0),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn other_query_arguments_are_ignored() {
        let q = format!(
            "a=1&{}&b",
            signed_query(SECRET, "publish", "live", "cam", 50)
        );
        assert_eq!(verify(SECRET, "publish", "live", "cam", &q, 10), Ok(()));
        assert_eq!(query_value("a=1&b", "b"), Some(""));
    }
}
