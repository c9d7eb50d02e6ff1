//! Who may use the control routes (the JSON API under `/api/v1/` and `/metrics`).
//!
//! The rule ([`check`]), from `[api]`:
//! - `api.token` empty (the default): only loopback peers are served (127.0.0.0/8, `::1`, and
//!   IPv4-mapped loopback `::ffff:127.x.y.z`); anyone else gets `403`.
//! - `api.token` set: every request, loopback included, must carry
//!   `Authorization: Bearer <token>` (RFC 6750 §2.1; the scheme name is case-insensitive,
//!   RFC 9110 §11.1); otherwise `401` with `WWW-Authenticate: Bearer` (RFC 6750 §3). The token is
//!   compared in constant time (`subtle`), so response timing does not reveal how much of a
//!   guess was right; only its length can show.
//!
//! The peer is the TCP peer of the HTTP connection, which the listener hands every request as
//! [`ConnectInfo<SocketAddr>`] (the HTTP listener takes no proxy headers, so it is the real
//! client). [`guarded`] wraps a router of control routes in the rule; every control router goes
//! through it, so no route can be added outside it by accident.

use super::api::{ApiError, ControlState};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::net::{IpAddr, SocketAddr};
use subtle::ConstantTimeEq;

/// Why a control request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No token is configured and the peer is not on loopback (`403`).
    NotLoopback,
    /// A token is configured and the request has no `Authorization: Bearer` (`401`).
    NoToken,
    /// A token is configured and the request presents another one (`401`).
    WrongToken,
}

impl Denied {
    /// The HTTP status of the refusal.
    pub fn status(self) -> StatusCode {
        match self {
            Denied::NotLoopback => StatusCode::FORBIDDEN,
            Denied::NoToken | Denied::WrongToken => StatusCode::UNAUTHORIZED,
        }
    }

    fn message(self) -> &'static str {
        match self {
            Denied::NotLoopback => "the API answers loopback clients only (api.token is not set)",
            Denied::NoToken => "missing Authorization: Bearer token",
            Denied::WrongToken => "invalid bearer token",
        }
    }
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let mut r = ApiError::new(self.status(), self.message()).into_response();
        let challenge = match self {
            Denied::NotLoopback => return r,
            Denied::NoToken => "Bearer",
            Denied::WrongToken => "Bearer error=\"invalid_token\"",
        };
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        r
    }
}

/// Whether `ip` is a loopback address: 127.0.0.0/8, `::1`, or IPv4-mapped 127.0.0.0/8.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The token of an `Authorization` header value with the `Bearer` scheme.
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let space = value.iter().position(|&b| b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// The access rule (module docs): `token` is `api.token`, `peer` the client's address (`None`
/// when unknown, which is never loopback), `authorization` the `Authorization` header's value.
pub fn check(
    token: &str,
    peer: Option<SocketAddr>,
    authorization: Option<&[u8]>,
) -> Result<(), Denied> {
    if token.is_empty() {
        return match peer {
            Some(p) if is_loopback(p.ip()) => Ok(()),
            _ => Err(Denied::NotLoopback),
        };
    }
    match authorization.and_then(bearer) {
        Some(t) if bool::from(t.ct_eq(token.as_bytes())) => Ok(()),
        Some(_) => Err(Denied::WrongToken),
        None => Err(Denied::NoToken),
    }
}

/// The middleware that applies [`check`] before any control route (its fallbacks included).
async fn require(State(state): State<ControlState>, req: Request, next: Next) -> Response {
    let verdict = match state.ctx.upgrade() {
        // The live settings: `api.token` changes on reload.
        Some(ctx) => check(
            &ctx.live.load().settings.api.token,
            req.extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
            req.headers()
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes),
        ),
        None => return ApiError::shutting_down().into_response(),
    };
    match verdict {
        Ok(()) => next.run(req).await,
        Err(denied) => denied.into_response(),
    }
}

/// `routes` behind the access rule, with `state` supplied.
pub fn guarded(routes: Router<ControlState>, state: ControlState) -> Router {
    routes
        .layer(middleware::from_fn_with_state(state.clone(), require))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(s: &str) -> Option<SocketAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn loopback_addresses() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:127.1.2.3",
        ] {
            assert!(is_loopback(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "10.0.0.1",
            "128.0.0.1",
            "::",
            "::2",
            "::ffff:10.0.0.1",
            "fe80::1",
            "::127.0.0.1",
        ] {
            assert!(!is_loopback(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn without_a_token_only_loopback_is_served() {
        assert_eq!(check("", peer("127.0.0.1:5000"), None), Ok(()));
        assert_eq!(check("", peer("[::1]:5000"), None), Ok(()));
        assert_eq!(check("", peer("[::ffff:127.0.0.1]:5000"), None), Ok(()));
        assert_eq!(
            check("", peer("192.0.2.7:5000"), None),
            Err(Denied::NotLoopback)
        );
        assert_eq!(
            check("", peer("[2001:db8::1]:5000"), None),
            Err(Denied::NotLoopback)
        );
        assert_eq!(check("", None, None), Err(Denied::NotLoopback));
        // A bearer header does not open the API to others when no token is configured.
        assert_eq!(
            check("", peer("192.0.2.7:5000"), Some(b"Bearer x")),
            Err(Denied::NotLoopback)
        );
        assert_eq!(Denied::NotLoopback.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn with_a_token_every_peer_must_present_it() {
        let t = "s3cret";
        let remote = peer("192.0.2.7:5000");
        assert_eq!(check(t, remote, Some(b"Bearer s3cret")), Ok(()));
        assert_eq!(check(t, remote, Some(b"bearer  s3cret ")), Ok(()));
        assert_eq!(check(t, remote, Some(b"BEARER s3cret")), Ok(()));
        assert_eq!(check(t, peer("127.0.0.1:1"), None), Err(Denied::NoToken));
        assert_eq!(
            check(t, remote, Some(b"Basic czNjcmV0")),
            Err(Denied::NoToken)
        );
        assert_eq!(check(t, remote, Some(b"Bearer")), Err(Denied::NoToken));
        assert_eq!(check(t, remote, Some(b"Bearer ")), Err(Denied::NoToken));
        assert_eq!(
            check(t, remote, Some(b"Bearer s3cre")),
            Err(Denied::WrongToken)
        );
        assert_eq!(
            check(t, remote, Some(b"Bearer s3cret2")),
            Err(Denied::WrongToken)
        );
        assert_eq!(
            check(t, remote, Some(b"Bearer S3CRET")),
            Err(Denied::WrongToken)
        );
        assert_eq!(Denied::WrongToken.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn refusals_carry_the_challenge() {
        let r = Denied::NoToken.into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let r = Denied::WrongToken.into_response();
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\""
        );
        let r = Denied::NotLoopback.into_response();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
    }
}
