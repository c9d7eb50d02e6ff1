//! Direct media bodies: a plain-TCP HTTP/1.x `GET /{app}/{stream}.flv` (or `.mp4`) is answered
//! outside hyper so that its body is written from the publisher's task, the way RTMP players
//! are ([`crate::driver::serve_tcp_connection`]): one non-blocking `writev` of the hub's shared
//! payloads per batch for every caught-up player, no task wake-up per player and batch, no
//! chunk framing. `http.direct_write` (default true) turns it off.
//!
//! **Taking the request.** The accept loop peeks at the first bytes of each plain connection
//! ([`sniff`]). Only a complete request head (RFC 9112 §2-3, parsed with `httparse`) that is a
//! `GET` of a two-segment path ending in `.flv` or `.mp4`, without `Upgrade`, is taken; anything
//! else (a partial head, other paths or methods, WebSocket upgrades, HTTP/2) goes to hyper
//! untouched, since peeking consumed nothing. A taken request still goes through the one router
//! (CORS, the decision chain, hooks, the registry): the media route finds a [`DirectOffer`] in
//! its extensions and puts the started player into a [`DirectPlayer`] extension of its response
//! instead of a body.
//!
//! **The response.** Its head is written here with `Connection: close` and no length: the body
//! ends with the connection (RFC 9112 §6.3, rule 8), which is how every FLV player reads a live
//! stream anyway. Any other response (403, 404, a refused codec) is written whole with its
//! `Content-Length` (at most [`MAX_PLAIN_BODY`] bytes) and the connection closed.
//!
//! **The body.** The connection's state (the player's pump and the bytes not yet written) sits
//! behind a mutex shared with the [`DirectSink`] attached to its subscriber. After each append
//! the publisher's task `try_lock`s it and, when nothing is pending, drains the subscriber and
//! writes at once. When the socket is full, the state is busy or the player ended, the sink wakes
//! the connection's task, which waits for room (closing after `http.write_stall_timeout_secs`
//! without progress), reads and discards what the client sends, ends on the client's close, a
//! kick, shutdown or the publisher staying away, and runs the output's timers. The hub's bound on
//! a slow player applies unchanged: while bytes wait, the task drains the subscriber only up to
//! [`PENDING_DRAIN_MAX`] bytes held here.

use super::live::{LiveOutput, Piece, Start};
use crate::driver::try_write_out;
use crate::hub::DirectSink;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderName, HeaderValue, Request, Response, Version};
use axum::Router;
use bytes::Bytes;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tower_service::Service;
use tracing::debug;

/// Bytes peeked for the request head; a longer head goes to hyper.
const PEEK_MAX: usize = 8 * 1024;
/// Headers parsed in a peeked head; a request with more goes to hyper (whose limit is 100).
const MAX_HEADERS: usize = 64;
/// Largest body of a non-streaming answer written here (errors are a few bytes).
pub(crate) const MAX_PLAIN_BODY: usize = 64 * 1024;
/// A player whose socket is full still drains its subscriber (so that the hub sees its
/// backlog, drops video to the next keyframe and, after `slow_player_timeout_secs`, closes it,
/// and so that an unpublish starts the wait for the publisher) while fewer than this many bytes
/// wait here; beyond it the hub holds the backlog and `write_stall_timeout_secs` applies.
const PENDING_DRAIN_MAX: usize = 256 * 1024;
/// Bytes read (and discarded) per read of what a direct player's client sends.
const DISCARD_READ: usize = 1024;

/// Request extension: the media route may answer with a [`DirectPlayer`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct DirectOffer;

/// Response extension: the started player, for [`serve`] to write directly.
#[derive(Clone)]
pub(crate) struct DirectPlayer(Arc<Mutex<Option<Box<dyn RunDirect>>>>);

impl DirectPlayer {
    pub(crate) fn new<M: LiveOutput>(start: Start<M>) -> Self {
        DirectPlayer(Arc::new(Mutex::new(Some(Box::new(start)))))
    }

    fn take(&self) -> Option<Box<dyn RunDirect>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// A started player that can be served on a socket (erases the output type).
trait RunDirect: Send {
    fn run(
        self: Box<Self>,
        sock: TcpStream,
        stall: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

impl<M: LiveOutput> RunDirect for Start<M> {
    fn run(
        self: Box<Self>,
        sock: TcpStream,
        stall: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(run(sock, *self, stall, shutdown))
    }
}

/// What [`sniff`] found at the start of a connection.
pub(super) enum Sniff {
    /// A media request to serve here: its head is this long and parses to this request.
    Take(usize, Box<Request<Body>>),
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
            Some((len, req)) => Sniff::Take(len, Box::new(req)),
            None => Sniff::Hyper,
        },
    }
}

/// A complete head of a `GET` for `/{app}/{name}.flv|.mp4` without `Upgrade`, as a request
/// (and the head's length); `None` for anything else.
fn parse_head(buf: &[u8]) -> Option<(usize, Request<Body>)> {
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
        if name == header::UPGRADE {
            return None;
        }
        let value = HeaderValue::from_bytes(h.value).ok()?;
        req.headers_mut().append(name, value);
    }
    Some((len, req))
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

/// Serve a request [`sniff`] took: consume its head, route it, and write the answer (a direct
/// body, or a whole small response), then close.
pub(super) async fn serve(
    mut sock: TcpStream,
    head_len: usize,
    req: Box<Request<Body>>,
    peer: SocketAddr,
    mut app: Router,
    stall: Duration,
    shutdown: watch::Receiver<bool>,
) {
    // The head was peeked, so it is all in the socket's buffer.
    let mut head = vec![0u8; head_len];
    if sock.read_exact(&mut head).await.is_err() {
        return;
    }
    drop(head);
    let mut req = *req;
    req.extensions_mut().insert(ConnectInfo(peer));
    req.extensions_mut().insert(DirectOffer);
    let version = req.version();
    let res = match app.call(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let (parts, body) = res.into_parts();
    let player = parts
        .extensions
        .get::<DirectPlayer>()
        .and_then(DirectPlayer::take);
    let res = Response::from_parts(parts, ());
    let Some(player) = player else {
        // A small answer (an error, a CORS preflight): whole, with its length.
        let body = axum::body::to_bytes(body, MAX_PLAIN_BODY)
            .await
            .unwrap_or_default();
        let mut bytes = response_head(&res, version, Some(body.len()));
        bytes.extend_from_slice(&body);
        let _ = tokio::time::timeout(stall, async {
            let _ = sock.write_all(&bytes).await;
            let _ = sock.shutdown().await;
        })
        .await;
        return;
    };
    let head = response_head(&res, version, None);
    match tokio::time::timeout(stall, sock.write_all(&head)).await {
        Ok(Ok(())) => player.run(sock, stall, shutdown).await,
        _ => debug!(peer = %peer, "direct media response head not written"),
    }
}

/// The status line (in the request's `version`, as hyper answers) and headers of `res` (names in title case, as hyper writes them for this
/// listener), with `Date`, `Connection: close` and, when given, `Content-Length`.
fn response_head(res: &Response<()>, version: Version, length: Option<usize>) -> Vec<u8> {
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

/// A direct player's state, shared between its task and the publisher's sink.
struct Shared<M> {
    state: Mutex<State<M>>,
    /// Wakes the connection's task (a stored permit is never lost).
    wake: Notify,
    writer: OwnedWriteHalf,
}

struct State<M> {
    start: Start<M>,
    /// Bytes taken from the output and not yet written, in order.
    out: Vec<Bytes>,
    /// Why the player ends, once it does (written out first).
    end: Option<&'static str>,
    /// The output's deadline the task waits for: the sink wakes the task when it moves (the
    /// publisher left, say, which starts the wait for its return).
    armed: Option<Instant>,
}

impl<M> Shared<M> {
    fn lock(&self) -> MutexGuard<'_, State<M>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<M: LiveOutput> State<M> {
    /// Drain the subscriber (when nothing waits, or less than [`PENDING_DRAIN_MAX`] when
    /// `behind`), and write what there is without blocking. Returns whether bytes were
    /// written; a write error ends the player.
    fn pump_and_write(&mut self, w: &OwnedWriteHalf, behind: bool) -> bool {
        let room = self.out.is_empty()
            || (behind && self.out.iter().map(Bytes::len).sum::<usize>() < PENDING_DRAIN_MAX);
        if room && self.end.is_none() {
            if let Err(end) = self.start.pump.drain_now(&mut self.out) {
                self.end = Some(end.reason());
            }
        }
        if self.out.is_empty() {
            return false;
        }
        match try_write_out(w, &mut self.out) {
            Ok(n) => {
                self.start.log.add(n);
                n > 0
            }
            Err(_) => {
                self.out.clear();
                self.end = Some("write failed");
                false
            }
        }
    }
}

impl<M: LiveOutput> DirectSink for Shared<M> {
    fn on_append(&self) {
        let Ok(mut st) = self.state.try_lock() else {
            // The task is busy with this player: it looks again.
            self.wake.notify_one();
            return;
        };
        if st.out.is_empty() && st.end.is_none() {
            st.pump_and_write(&self.writer, false);
        }
        if !st.out.is_empty() || st.end.is_some() || st.start.pump.deadline() != st.armed {
            // Waiting for room (only the task writes until that is sent), ended, or a timer
            // for the task to arm.
            self.wake.notify_one();
        }
    }
}

/// Serve a started player's body on `sock` until it ends.
async fn run<M: LiveOutput>(
    sock: TcpStream,
    start: Start<M>,
    stall: Duration,
    shutdown: watch::Receiver<bool>,
) {
    let (rd, wr) = sock.into_split();
    let mut start = start;
    let out: Vec<Bytes> = std::mem::take(&mut start.pending)
        .into_iter()
        .filter_map(Piece::into_data)
        .collect();
    let client = start.pump.client().clone();
    let sh = Arc::new(Shared {
        state: Mutex::new(State {
            start,
            out,
            end: None,
            armed: None,
        }),
        wake: Notify::new(),
        writer: wr,
    });
    let sink: Weak<dyn DirectSink> = Arc::downgrade(&sh) as Weak<dyn DirectSink>;
    sh.lock().start.pump.attach_direct(sink);
    let reason = drive(&sh, &rd, &client, stall, shutdown).await;
    sh.lock().start.log.reason = reason;
}

/// The direct player's task: see the module docs. Returns why the player ended.
async fn drive<M: LiveOutput>(
    sh: &Shared<M>,
    rd: &OwnedReadHalf,
    client: &crate::control::ClientEntry,
    stall: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> &'static str {
    let mut kicked = std::pin::pin!(client.notify.notified());
    kicked.as_mut().enable();
    let mut stuck_since: Option<Instant> = None;
    let mut scratch = [0u8; DISCARD_READ];
    loop {
        if client.is_kicked() {
            return "kicked";
        }
        if *shutdown.borrow_and_update() {
            return "server shutdown";
        }
        let (pending, deadline) = {
            let mut st = sh.lock();
            if st.pump_and_write(&sh.writer, true) {
                stuck_since = None;
            }
            if st.out.is_empty() {
                if let Some(end) = st.end.take() {
                    return end;
                }
            }
            st.armed = st.start.pump.deadline();
            (!st.out.is_empty(), st.armed)
        };
        let stall_at = pending.then(|| *stuck_since.get_or_insert_with(Instant::now) + stall);
        tokio::select! {
            biased;
            r = shutdown.changed() => {
                if r.is_err() {
                    return "server shutdown";
                }
            }
            () = kicked.as_mut() => {
                kicked.set(client.notify.notified());
                kicked.as_mut().enable();
            }
            r = sh.writer.writable(), if pending => {
                if r.is_err() {
                    return "write failed";
                }
            }
            () = sleep_until(stall_at) => return "write stalled",
            () = sleep_until(deadline) => {
                if let Err(end) = sh.lock().start.pump.on_timer() {
                    return end.reason();
                }
            }
            r = rd.readable() => {
                if r.is_err() {
                    return "client closed";
                }
                match rd.try_read(&mut scratch) {
                    Ok(0) => return "client closed",
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return "client closed",
                }
            }
            () = sh.wake.notified() => {}
        }
    }
}

/// Sleep until `at`, or for ever when `None`.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
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
        let (len, req) =
            parse_head(b"GET /live/s.flv?x=1 HTTP/1.1\r\nHost: h\r\nOrigin: o\r\n\r\nrest")
                .expect("taken");
        assert_eq!(len, 52);
        assert_eq!(req.uri().path(), "/live/s.flv");
        assert_eq!(req.uri().query(), Some("x=1"));
        assert_eq!(req.headers()["origin"], "o");
        assert_eq!(req.version(), Version::HTTP_11);
        let (_, req) = parse_head(b"GET /live/s.flv HTTP/1.0\r\n\r\n").expect("taken");
        assert_eq!(req.version(), Version::HTTP_10);
        // Partial heads, other methods, upgrades and HTTP/2's preface go to hyper.
        assert!(parse_head(b"GET /live/s.flv HTTP/1.1\r\nHost: h\r\n").is_none());
        assert!(parse_head(b"HEAD /live/s.flv HTTP/1.1\r\n\r\n").is_none());
        assert!(parse_head(
            b"GET /live/s.flv HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        )
        .is_none());
        assert!(parse_head(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").is_none());
        assert!(parse_head(b"\x16\x03\x01garbage").is_none());
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
