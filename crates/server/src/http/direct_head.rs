//! The request and response heads of direct media players ([`super::direct`]): which
//! connections are taken from hyper (a peeked, complete `GET` head of a media path, RFC 9112
//! §2-3, or a complete WebSocket opening handshake, RFC 6455 §4.2.1) and the heads written
//! back.

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, Request, Response, Version};
use std::time::{Duration, SystemTime};
use tokio::net::TcpStream;

/// Bytes peeked for the request head; a longer head goes to hyper.
const PEEK_MAX: usize = 8 * 1024;
/// Headers parsed in a peeked head; a request with more goes to hyper (whose limit is 100).
const MAX_HEADERS: usize = 64;
/// Largest body of a non-streaming answer written here (errors are a few bytes).
pub(crate) const MAX_PLAIN_BODY: usize = 64 * 1024;

/// What [`sniff`] found at the start of a connection.
pub(super) enum Sniff {
    /// A media request to serve here.
    Take(Taken),
    /// Anything else: hyper serves the connection.
    Hyper,
    /// The client closed, failed or sent nothing in time.
    Gone,
}

/// Peek at the first request of a plain connection (waiting at most `timeout` for bytes).
pub(super) async fn sniff(sock: &TcpStream, timeout: Duration) -> Sniff {
    let mut buf = vec![0u8; PEEK_MAX];
    match tokio::time::timeout(timeout, sock.peek(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) | Err(_) => Sniff::Gone,
        Ok(Ok(n)) => match parse_head(&buf[..n]) {
            Some(taken) => Sniff::Take(taken),
            None => Sniff::Hyper,
        },
    }
}

/// A request [`sniff`] took (served by [`super::direct::serve`]).
pub(super) struct Taken {
    /// Length of its head.
    pub(super) head_len: usize,
    pub(super) req: Box<Request<Body>>,
    /// `Sec-WebSocket-Key` of a WebSocket opening handshake.
    pub(super) ws_key: Option<String>,
}

/// A complete head of a `GET` for `/{app}/{name}.flv|.mp4`, without `Upgrade` or as a
/// WebSocket opening handshake; `None` for anything else.
fn parse_head(buf: &[u8]) -> Option<Taken> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(len) = parsed.parse(buf).ok()? else {
        return None;
    };
    if parsed.method != Some("GET") || !is_media_path(parsed.path?) {
        return None;
    }
    let version = match parsed.version? {
        0 => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut req = Request::builder()
        .method("GET")
        .uri(parsed.path?)
        .version(version)
        .body(Body::empty())
        .ok()?;
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(h.value).ok()?;
        req.headers_mut().append(name, value);
    }
    let ws_key = match req.headers().get(header::UPGRADE) {
        None => None,
        Some(_) => Some(websocket_key(&req)?),
    };
    Some(Taken {
        head_len: len,
        req: Box::new(req),
        ws_key,
    })
}

/// The key of a complete WebSocket opening handshake (RFC 6455 §4.2.1), or `None`.
fn websocket_key(req: &Request<Body>) -> Option<String> {
    let h = req.headers();
    let has_token = |name: HeaderName, token: &str| {
        h.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if req.version() != Version::HTTP_11
        || !has_token(header::UPGRADE, "websocket")
        || !has_token(header::CONNECTION, "upgrade")
        || h.get(header::SEC_WEBSOCKET_VERSION)?.as_bytes() != b"13"
    {
        return None;
    }
    // 16 bytes in base64: 22 characters of its alphabet and "==".
    let key = h.get(header::SEC_WEBSOCKET_KEY)?.to_str().ok()?.trim();
    let b64 = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    (key.len() == 24 && key.ends_with("==") && key.bytes().take(22).all(b64))
        .then(|| key.to_owned())
}

/// `/{app}/{file}` with `file` ending in `.flv` or `.mp4` (the media route's pattern), with or
/// without a query.
fn is_media_path(target: &str) -> bool {
    let path = target.split('?').next().unwrap_or_default();
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let mut parts = rest.split('/');
    let (Some(app), Some(file), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !app.is_empty() && (file.len() > 4 && (file.ends_with(".flv") || file.ends_with(".mp4")))
}

/// The status line (in the request's `version`, as hyper answers) and headers of `res` (names in title case, as hyper writes them for this
/// listener), with `Date`, `Connection: close` and, when given, `Content-Length`.
pub(super) fn response_head(
    res: &Response<()>,
    version: Version,
    length: Option<usize>,
) -> Vec<u8> {
    use std::fmt::Write as _;
    let status = res.status();
    let mut s = String::with_capacity(256);
    let _ = write!(
        s,
        "{} {} {}\r\n",
        if version == Version::HTTP_10 {
            "HTTP/1.0"
        } else {
            "HTTP/1.1"
        },
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    for (name, value) in res.headers() {
        if [
            header::CONNECTION,
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
            header::DATE,
        ]
        .contains(name)
        {
            continue;
        }
        let Ok(value) = value.to_str() else { continue };
        push_title_case(&mut s, name.as_str());
        let _ = write!(s, ": {value}\r\n");
    }
    let _ = write!(
        s,
        "Date: {}\r\nConnection: close\r\n",
        httpdate::fmt_http_date(SystemTime::now())
    );
    if let Some(n) = length {
        let _ = write!(s, "Content-Length: {n}\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// `content-type` as `Content-Type`.
fn push_title_case(s: &mut String, name: &str) {
    let mut upper = true;
    for c in name.chars() {
        s.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_paths_are_taken_and_others_left_to_hyper() {
        assert!(is_media_path("/live/s.flv"));
        assert!(is_media_path("/live/s.mp4?token=a/b"));
        assert!(!is_media_path("/live/.flv"));
        assert!(!is_media_path("//s.flv"));
        assert!(!is_media_path("/live/s.m3u8"));
        assert!(!is_media_path("/api/v1/x/s.flv"));
        assert!(!is_media_path("/s.flv"));
        assert!(!is_media_path("*"));
    }

    #[test]
    fn heads() {
        let t = parse_head(b"GET /live/s.flv?x=1 HTTP/1.1\r\nHost: h\r\nOrigin: o\r\n\r\nrest")
            .expect("taken");
        assert_eq!(t.head_len, 52);
        assert_eq!(t.req.uri().path(), "/live/s.flv");
        assert_eq!(t.req.uri().query(), Some("x=1"));
        assert_eq!(t.req.headers()["origin"], "o");
        assert_eq!(t.req.version(), Version::HTTP_11);
        assert!(t.ws_key.is_none());
        let t = parse_head(b"GET /live/s.flv HTTP/1.0\r\n\r\n").expect("taken");
        assert_eq!(t.req.version(), Version::HTTP_10);
        // Partial heads, other methods and HTTP/2's preface go to hyper.
        assert!(parse_head(b"GET /live/s.flv HTTP/1.1\r\nHost: h\r\n").is_none());
        assert!(parse_head(b"HEAD /live/s.flv HTTP/1.1\r\n\r\n").is_none());
        assert!(parse_head(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").is_none());
        assert!(parse_head(b"\x16\x03\x01garbage").is_none());
    }

    #[test]
    fn websocket_handshakes_are_taken_only_when_complete() {
        let ws = |extra: &str, version: &str| {
            format!(
                "GET /live/s.flv HTTP/{version}\r\nHost: h\r\nUpgrade: WebSocket\r\n\
                 Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                 {extra}\r\n"
            )
        };
        let t = parse_head(ws("Sec-WebSocket-Version: 13\r\n", "1.1").as_bytes()).expect("taken");
        assert_eq!(t.ws_key.as_deref(), Some("dGhlIHNhbXBsZSBub25jZQ=="));
        // Another version, no version, HTTP/1.0, other upgrades, a short key: hyper answers.
        assert!(parse_head(ws("Sec-WebSocket-Version: 8\r\n", "1.1").as_bytes()).is_none());
        assert!(parse_head(ws("", "1.1").as_bytes()).is_none());
        assert!(parse_head(ws("Sec-WebSocket-Version: 13\r\n", "1.0").as_bytes()).is_none());
        assert!(parse_head(
            b"GET /live/s.flv HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
        )
        .is_none());
        assert!(parse_head(
            b"GET /live/s.flv HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n\r\n"
        )
        .is_none());
    }

    #[test]
    fn response_heads() {
        let res = Response::builder()
            .status(403)
            .header("content-type", "text/plain")
            .header("access-control-allow-origin", "*")
            .header("connection", "keep-alive")
            .body(())
            .unwrap();
        let head = String::from_utf8(response_head(&res, Version::HTTP_11, Some(5))).unwrap();
        assert!(head.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{head}");
        assert!(head.contains("\r\nContent-Type: text/plain\r\n"), "{head}");
        assert!(
            head.contains("\r\nAccess-Control-Allow-Origin: *\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nConnection: close\r\n"), "{head}");
        assert!(!head.contains("keep-alive"), "{head}");
        assert!(head.contains("\r\nContent-Length: 5\r\n"), "{head}");
        assert!(head.contains("\r\nDate: "), "{head}");
        assert!(head.ends_with("\r\n\r\n"), "{head}");
        let head = String::from_utf8(response_head(&res, Version::HTTP_10, None)).unwrap();
        assert!(head.starts_with("HTTP/1.0 403 Forbidden\r\n"), "{head}");
        assert!(!head.contains("Content-Length"), "{head}");
    }
}
