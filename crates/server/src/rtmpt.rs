//! RTMPT: RTMP tunnelled over HTTP POST requests, as Flash Player, ffmpeg (`rtmpt://`) and
//! rtmpdump speak it (the request layout is summarised in `PROTOCOL_NOTES.md`, "RTMPT").
//!
//! A client opens a session with `POST /open/1` and gets back a session id followed by `\n`.
//! After that every request names the session and a sequence number:
//! `POST /send/<sid>/<seq>` carries client→server RTMP bytes, `POST /idle/<sid>/<seq>` only asks
//! for what the server has queued, `POST /close/<sid>/<seq>` ends the session. Replies to send and
//! idle are one polling-delay byte followed by pending server→client RTMP bytes; every reply has
//! `Content-Type: application/x-fcs`. `/fcs/ident` and `/fcs/ident2` (Flash probes) answer 404.
//!
//! Each session is one ordinary RTMP connection: [`SessionTable::open`] makes a
//! [`tokio::io::duplex`] pipe, [`crate::driver::serve_connection`] drives one end exactly as it
//! drives a TCP socket, and the HTTP handlers write request bodies into the other end and drain
//! what the driver wrote. The pipe's capacity is the session's pending-byte bound
//! ([`RtmptConfig::max_pending_bytes`]): when a client stops polling, the driver's writes stall and
//! it closes the connection after its write timeout, and the sweeper ([`sweep_loop`]) drops
//! sessions that have not been polled within [`RtmptConfig::session_timeout`], which the driver
//! sees as end of stream.
//!
//! Polling delay: the byte starts at [`MIN_POLL_DELAY`] and stays there while data moves in either
//! direction; every [`EMPTY_REPLIES_PER_STEP`] consecutive empty replies double it, up to
//! [`MAX_POLL_DELAY`] (the shape of Red5's back-off). ffmpeg and rtmpdump ignore the value;
//! Flash Player waits accordingly before its next idle poll.

use crate::driver::serve_connection;
use crate::Context;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::Router;
use bytes::{BufMut, Bytes, BytesMut};
use rand::Rng;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tracing::{debug, info, warn};

/// The content type of every RTMPT request and reply.
pub const CONTENT_TYPE: &str = "application/x-fcs";
/// Polling delay announced while data moves.
pub const MIN_POLL_DELAY: u8 = 1;
/// Largest polling delay announced after a long run of empty replies.
pub const MAX_POLL_DELAY: u8 = 32;
/// Consecutive empty replies after which the polling delay doubles.
pub const EMPTY_REPLIES_PER_STEP: u32 = 10;

/// RTMPT limits and timings. Every size or count a client controls is bounded here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmptConfig {
    /// Most concurrent sessions; `/open` answers 503 beyond it. Default 1000
    /// (`http.rtmpt_max_sessions`).
    pub max_sessions: usize,
    /// A session not polled for this long is dropped. Default 30 s
    /// (`http.rtmpt_session_timeout_secs`).
    pub session_timeout: Duration,
    /// Capacity of each direction of a session's pipe: at most this many server→client bytes
    /// wait for the client to poll. Default 8 MiB (`http.rtmpt_max_pending_bytes`).
    pub max_pending_bytes: usize,
    /// Largest request body; larger ones answer 413. Default 1 MiB
    /// (`http.rtmpt_max_request_bytes`).
    pub max_request_bytes: usize,
    /// Most RTMP bytes in one reply (after the polling byte), so one reply never holds up the
    /// next poll for long. Default 32 KiB.
    pub max_reply_bytes: usize,
    /// When nothing is pending, how long a send/idle request waits for the connection to
    /// produce output before answering empty. Default 20 ms.
    pub empty_reply_hold: Duration,
    /// How long a request body may take to be accepted by the connection before the session is
    /// considered stuck and closed. Default 10 s.
    pub input_timeout: Duration,
}

impl Default for RtmptConfig {
    fn default() -> Self {
        RtmptConfig {
            max_sessions: 1000,
            session_timeout: Duration::from_secs(30),
            max_pending_bytes: 8 * 1024 * 1024,
            max_request_bytes: 1024 * 1024,
            max_reply_bytes: 32 * 1024,
            empty_reply_hold: Duration::from_millis(20),
            input_timeout: Duration::from_secs(10),
        }
    }
}

impl RtmptConfig {
    /// The configuration the `[http]` settings imply (fixed defaults for the rest).
    pub fn from_settings(http: &crate::config::HttpSection) -> RtmptConfig {
        RtmptConfig {
            max_sessions: http.rtmpt_max_sessions,
            session_timeout: Duration::from_secs(http.rtmpt_session_timeout_secs.max(1)),
            max_pending_bytes: http.rtmpt_max_pending_bytes.max(1),
            max_request_bytes: http.rtmpt_max_request_bytes,
            ..RtmptConfig::default()
        }
    }
}

/// Why an RTMPT request failed; each maps to one HTTP status.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RtmptError {
    /// The session id names no live session (never opened, closed or expired).
    #[error("unknown RTMPT session id")]
    UnknownSession,
    /// `/open` while `max_sessions` sessions are live.
    #[error("RTMPT session limit reached ({max} sessions)")]
    TooManySessions {
        /// The limit.
        max: usize,
    },
    /// The sequence number in the path is not a decimal number.
    #[error("RTMPT sequence number {0:?} is not a decimal number")]
    BadSequence(String),
    /// The request body is larger than `max_request_bytes`.
    #[error("RTMPT request body larger than {max} bytes")]
    RequestTooLarge {
        /// The limit.
        max: usize,
    },
    /// The request body could not be read.
    #[error("RTMPT request body could not be read")]
    BadBody,
    /// The RTMP connection behind the session has ended.
    #[error("the RTMP connection of this RTMPT session has ended")]
    SessionEnded,
    /// The connection did not accept the request body within `input_timeout`.
    #[error("the RTMP connection did not accept input in time")]
    InputStalled,
    /// The server is shutting down and opens no sessions.
    #[error("server shutting down")]
    ShuttingDown,
}

impl RtmptError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            RtmptError::UnknownSession | RtmptError::SessionEnded => StatusCode::NOT_FOUND,
            RtmptError::TooManySessions { .. }
            | RtmptError::InputStalled
            | RtmptError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            RtmptError::BadSequence(_) | RtmptError::BadBody => StatusCode::BAD_REQUEST,
            RtmptError::RequestTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}

impl IntoResponse for RtmptError {
    fn into_response(self) -> Response {
        fcs_response(self.status(), Bytes::new())
    }
}

/// The polling-delay byte's back-off state for one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollDelay {
    delay: u8,
    empty_streak: u32,
}

impl Default for PollDelay {
    fn default() -> Self {
        PollDelay {
            delay: MIN_POLL_DELAY,
            empty_streak: 0,
        }
    }
}

impl PollDelay {
    /// The byte the next reply would carry.
    pub fn current(&self) -> u8 {
        self.delay
    }

    /// Account for one reply (`moved`: whether any byte went either way) and return the
    /// polling byte for it.
    pub fn on_reply(&mut self, moved: bool) -> u8 {
        if moved {
            self.delay = MIN_POLL_DELAY;
            self.empty_streak = 0;
        } else {
            self.empty_streak = self.empty_streak.saturating_add(1);
            if self.empty_streak % EMPTY_REPLIES_PER_STEP == 0 {
                self.delay = self.delay.saturating_mul(2).min(MAX_POLL_DELAY);
            }
        }
        self.delay
    }
}

/// The HTTP side of one session: its end of the pipe and the per-session counters.
#[derive(Debug)]
struct SessionIo {
    pipe: DuplexStream,
    delay: PollDelay,
    last_seq: Option<u64>,
}

/// One RTMPT session.
#[derive(Debug)]
pub struct Session {
    id: String,
    peer: SocketAddr,
    last_seen: Mutex<Instant>,
    io: tokio::sync::Mutex<SessionIo>,
}

impl Session {
    /// The session id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The HTTP client that opened the session.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// When the client last made a request for this session.
    pub fn last_seen(&self) -> Instant {
        *self.last_seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn touch(&self, now: Instant) {
        *self.last_seen.lock().unwrap_or_else(|p| p.into_inner()) = now;
    }

    /// Write `input` into the connection (if any), then collect pending output: everything
    /// available up to `max_reply_bytes`, waiting at most `empty_reply_hold` when nothing is
    /// pending. Returns the reply body (polling byte first) or why the session is over.
    async fn exchange(
        &self,
        seq: u64,
        input: &[u8],
        cfg: &RtmptConfig,
    ) -> Result<Bytes, RtmptError> {
        let mut io = self.io.lock().await;
        if let Some(last) = io.last_seq {
            if seq != last.wrapping_add(1) {
                debug!(session = %self.id, last, seq, "RTMPT sequence gap (tolerated)");
            }
        }
        io.last_seq = Some(seq);
        if !input.is_empty() {
            match tokio::time::timeout(cfg.input_timeout, io.pipe.write_all(input)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(RtmptError::SessionEnded),
                Err(_) => return Err(RtmptError::InputStalled),
            }
        }
        let mut out = BytesMut::new();
        out.put_u8(MIN_POLL_DELAY);
        let ended = drain_pending(&mut io.pipe, &mut out, cfg).await;
        let data = out.len() - 1;
        if ended && data == 0 {
            return Err(RtmptError::SessionEnded);
        }
        let moved = data > 0 || !input.is_empty();
        let delay = io.delay.on_reply(moved);
        if let Some(first) = out.first_mut() {
            *first = delay;
        }
        Ok(out.freeze())
    }
}

/// Read what the connection has written, without blocking: up to `cfg.max_reply_bytes` into
/// `out`; if nothing at all is pending, wait up to `cfg.empty_reply_hold` for a first byte.
/// Returns whether the connection's end of the pipe is closed.
async fn drain_pending(pipe: &mut DuplexStream, out: &mut BytesMut, cfg: &RtmptConfig) -> bool {
    let start = out.len();
    let mut held = false;
    loop {
        let got = out.len() - start;
        let room = cfg.max_reply_bytes.saturating_sub(got);
        if room == 0 {
            return false;
        }
        let mut limited = (&mut *out).limit(room);
        // `read_buf` on a duplex pipe is cancel-safe: a read that is not ready loses nothing.
        let r = tokio::select! {
            biased;
            r = pipe.read_buf(&mut limited) => Some(r),
            _ = std::future::ready(()) => None,
        };
        let r = match r {
            Some(r) => r,
            None if got == 0 && !held => {
                held = true;
                match tokio::time::timeout(cfg.empty_reply_hold, pipe.read_buf(&mut limited)).await
                {
                    Ok(r) => r,
                    Err(_) => return false,
                }
            }
            None => return false,
        };
        match r {
            Ok(0) | Err(_) => return true,
            Ok(_) => {}
        }
    }
}

/// Every live RTMPT session of a server.
#[derive(Debug)]
pub struct SessionTable {
    cfg: RtmptConfig,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

impl SessionTable {
    /// An empty table with these limits.
    pub fn new(cfg: RtmptConfig) -> SessionTable {
        SessionTable {
            cfg,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &RtmptConfig {
        &self.cfg
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }

    /// Register a new session for `peer`, returning it and the connection's end of its pipe
    /// (to be driven by [`serve_connection`]).
    pub fn open(
        &self,
        peer: SocketAddr,
        now: Instant,
    ) -> Result<(Arc<Session>, DuplexStream), RtmptError> {
        let mut map = self.map();
        if map.len() >= self.cfg.max_sessions {
            return Err(RtmptError::TooManySessions {
                max: self.cfg.max_sessions,
            });
        }
        let id = loop {
            let id = format!("{:016x}", rand::thread_rng().gen::<u64>());
            if !map.contains_key(&id) {
                break id;
            }
        };
        let (http_end, conn_end) = tokio::io::duplex(self.cfg.max_pending_bytes);
        let session = Arc::new(Session {
            id: id.clone(),
            peer,
            last_seen: Mutex::new(now),
            io: tokio::sync::Mutex::new(SessionIo {
                pipe: http_end,
                delay: PollDelay::default(),
                last_seq: None,
            }),
        });
        map.insert(id, session.clone());
        Ok((session, conn_end))
    }

    /// The live session `id`, marked as seen at `now`.
    pub fn get(&self, id: &str, now: Instant) -> Result<Arc<Session>, RtmptError> {
        let session = self
            .map()
            .get(id)
            .cloned()
            .ok_or(RtmptError::UnknownSession)?;
        session.touch(now);
        Ok(session)
    }

    /// Forget session `id`; once no request holds it, its connection sees end of stream.
    pub fn remove(&self, id: &str) -> Option<Arc<Session>> {
        self.map().remove(id)
    }

    /// Drop every session not seen for `session_timeout` before `now`; returns how many.
    pub fn expire(&self, now: Instant) -> usize {
        let timeout = self.cfg.session_timeout;
        let mut map = self.map();
        let before = map.len();
        map.retain(|id, s| {
            let keep = now.saturating_duration_since(s.last_seen()) < timeout;
            if !keep {
                info!(session = %id, peer = %s.peer, "RTMPT session expired (client stopped polling)");
            }
            keep
        });
        before - map.len()
    }
}

/// Expire idle sessions every quarter of the session timeout (at least once a second) until
/// the server shuts down or the table is dropped.
pub async fn sweep_loop(
    table: Weak<SessionTable>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let period = match table.upgrade() {
        Some(t) => (t.cfg.session_timeout / 4).max(Duration::from_secs(1)),
        None => return,
    };
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            r = shutdown.changed() => {
                if r.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
        let Some(t) = table.upgrade() else { return };
        t.expire(Instant::now());
    }
}

/// Shared state of the RTMPT handlers.
#[derive(Debug, Clone)]
pub struct RtmptState {
    /// The server context (weak: the HTTP tasks must not keep a dropped server alive).
    pub ctx: Weak<Context>,
    /// The sessions.
    pub table: Arc<SessionTable>,
}

/// The RTMPT routes, to be merged into the HTTP router.
pub fn routes(state: RtmptState) -> Router {
    let limit = state.table.cfg.max_request_bytes;
    Router::new()
        .route("/fcs/ident", any(ident))
        .route("/fcs/ident2", any(ident))
        .route("/open/{n}", post(open))
        .route("/send/{sid}/{seq}", post(send))
        .route("/idle/{sid}/{seq}", post(idle))
        .route("/close/{sid}/{seq}", post(close))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

fn fcs_response(status: StatusCode, body: Bytes) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn parse_seq(seq: &str) -> Result<u64, RtmptError> {
    seq.parse::<u64>()
        .map_err(|_| RtmptError::BadSequence(seq.chars().take(32).collect()))
}

fn body_or_error(body: Result<Bytes, BytesRejection>, max: usize) -> Result<Bytes, RtmptError> {
    body.map_err(|rej| {
        if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
            RtmptError::RequestTooLarge { max }
        } else {
            RtmptError::BadBody
        }
    })
}

// Every handler reads the request body, even when it ignores it: hyper closes a keep-alive
// connection whose previous request body was left unread, and ffmpeg then fails its next
// request on that connection instead of reconnecting.

async fn ident(State(st): State<RtmptState>, body: Result<Bytes, BytesRejection>) -> Response {
    match body_or_error(body, st.table.cfg.max_request_bytes) {
        Ok(_) => RtmptError::UnknownSession.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn open(
    State(st): State<RtmptState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, RtmptError> {
    // The body is one filler byte.
    body_or_error(body, st.table.cfg.max_request_bytes)?;
    let ctx = st.ctx.upgrade().ok_or(RtmptError::ShuttingDown)?;
    if *ctx.shutdown.borrow() {
        return Err(RtmptError::ShuttingDown);
    }
    let (session, conn_end) = st.table.open(peer, Instant::now()).inspect_err(|e| {
        warn!(peer = %peer, error = %e, "RTMPT open refused");
    })?;
    let id = session.id.clone();
    info!(peer = %peer, session = %id, "RTMPT session opened");
    let table = Arc::downgrade(&st.table);
    let driver_id = id.clone();
    tokio::spawn(async move {
        serve_connection(conn_end, peer, ctx, crate::control::Transport::Rtmpt).await;
        if let Some(t) = table.upgrade() {
            if t.remove(&driver_id).is_some() {
                debug!(session = %driver_id, "RTMPT session ended with its connection");
            }
        }
    });
    let mut body = BytesMut::with_capacity(id.len() + 1);
    body.extend_from_slice(id.as_bytes());
    body.put_u8(b'\n');
    Ok(fcs_response(StatusCode::OK, body.freeze()))
}

async fn exchange(
    st: &RtmptState,
    sid: &str,
    seq: &str,
    input: &[u8],
) -> Result<Response, RtmptError> {
    let seq = parse_seq(seq)?;
    let cfg = &st.table.cfg;
    let session = st.table.get(sid, Instant::now())?;
    match session.exchange(seq, input, cfg).await {
        Ok(body) => {
            session.touch(Instant::now());
            Ok(fcs_response(StatusCode::OK, body))
        }
        Err(e) => {
            debug!(session = %sid, error = %e, "RTMPT session over");
            st.table.remove(sid);
            Err(e)
        }
    }
}

async fn send(
    State(st): State<RtmptState>,
    Path((sid, seq)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, RtmptError> {
    let body = body_or_error(body, st.table.cfg.max_request_bytes)?;
    exchange(&st, &sid, &seq, &body).await
}

async fn idle(
    State(st): State<RtmptState>,
    Path((sid, seq)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, RtmptError> {
    // The body is one filler byte, not RTMP data.
    body_or_error(body, st.table.cfg.max_request_bytes)?;
    exchange(&st, &sid, &seq, &[]).await
}

async fn close(
    State(st): State<RtmptState>,
    Path((sid, seq)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, RtmptError> {
    body_or_error(body, st.table.cfg.max_request_bytes)?;
    parse_seq(&seq)?;
    let session = st.table.remove(&sid).ok_or(RtmptError::UnknownSession)?;
    info!(session = %sid, peer = %session.peer, "RTMPT session closed by client");
    Ok(fcs_response(StatusCode::OK, Bytes::from_static(&[0])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "192.0.2.1:5000".parse().unwrap()
    }

    fn cfg() -> RtmptConfig {
        RtmptConfig {
            max_sessions: 2,
            session_timeout: Duration::from_secs(30),
            max_pending_bytes: 64,
            max_request_bytes: 16,
            max_reply_bytes: 8,
            empty_reply_hold: Duration::from_millis(5),
            input_timeout: Duration::from_millis(50),
        }
    }

    #[test]
    fn poll_delay_backs_off_and_resets() {
        let mut d = PollDelay::default();
        assert_eq!(d.current(), 1);
        assert_eq!(d.on_reply(true), 1);
        let mut seen = Vec::new();
        for _ in 0..70 {
            seen.push(d.on_reply(false));
        }
        assert!(seen[..9].iter().all(|&b| b == 1));
        assert_eq!(seen[9], 2);
        assert_eq!(seen[19], 4);
        assert_eq!(seen[29], 8);
        assert_eq!(seen[39], 16);
        assert_eq!(seen[49], 32);
        assert_eq!(seen[69], MAX_POLL_DELAY);
        assert_eq!(d.on_reply(true), MIN_POLL_DELAY);
        assert_eq!(d.on_reply(false), MIN_POLL_DELAY);
    }

    #[test]
    fn settings_map_to_config() {
        let http = crate::config::HttpSection {
            rtmpt_max_sessions: 7,
            rtmpt_session_timeout_secs: 0,
            ..Default::default()
        };
        let c = RtmptConfig::from_settings(&http);
        assert_eq!(c.max_sessions, 7);
        assert_eq!(c.session_timeout, Duration::from_secs(1));
        assert_eq!(c.max_pending_bytes, 8 * 1024 * 1024);
        assert_eq!(c.max_request_bytes, 1024 * 1024);
        assert_eq!(RtmptConfig::default().max_reply_bytes, 32 * 1024);
    }

    #[test]
    fn error_statuses() {
        use RtmptError as E;
        let cases = [
            (E::UnknownSession, 404),
            (E::SessionEnded, 404),
            (E::TooManySessions { max: 1 }, 503),
            (E::InputStalled, 503),
            (E::ShuttingDown, 503),
            (E::BadSequence("x".into()), 400),
            (E::BadBody, 400),
            (E::RequestTooLarge { max: 1 }, 413),
        ];
        for (e, code) in cases {
            assert_eq!(e.status().as_u16(), code, "{e}");
            assert!(!e.to_string().is_empty());
            let r = e.into_response();
            assert_eq!(r.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        }
    }

    #[test]
    fn sequence_numbers_parse() {
        assert_eq!(parse_seq("0"), Ok(0));
        assert_eq!(parse_seq("18446744073709551615"), Ok(u64::MAX));
        assert!(matches!(parse_seq("-1"), Err(RtmptError::BadSequence(_))));
        assert!(matches!(parse_seq("1a"), Err(RtmptError::BadSequence(_))));
        let long = "9".repeat(100);
        match parse_seq(&long) {
            Err(RtmptError::BadSequence(s)) => assert_eq!(s.len(), 32),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn table_limits_ids_and_expiry() {
        let t = SessionTable::new(cfg());
        let t0 = Instant::now();
        let (a, _ca) = t.open(peer(), t0).unwrap();
        let (b, _cb) = t.open(peer(), t0).unwrap();
        assert_eq!(a.id().len(), 16);
        assert!(a.id().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.id(), b.id());
        assert_eq!(a.peer(), peer());
        assert_eq!(
            t.open(peer(), t0).unwrap_err(),
            RtmptError::TooManySessions { max: 2 }
        );
        assert_eq!(t.get("nope", t0).unwrap_err(), RtmptError::UnknownSession);
        // `a` is polled at +20 s; at +40 s only `b` (last seen at 0) has timed out.
        t.get(a.id(), t0 + Duration::from_secs(20)).unwrap();
        assert_eq!(t.expire(t0 + Duration::from_secs(29)), 0);
        assert_eq!(t.expire(t0 + Duration::from_secs(40)), 1);
        assert_eq!(t.len(), 1);
        assert!(t.get(b.id(), t0).is_err());
        assert_eq!(t.expire(t0 + Duration::from_secs(50)), 1);
        assert!(t.is_empty());
        assert!(t.remove(a.id()).is_none());
    }

    #[tokio::test]
    async fn expiry_closes_the_connection_end() {
        let t = SessionTable::new(cfg());
        let t0 = Instant::now();
        let (s, mut conn) = t.open(peer(), t0).unwrap();
        drop(s);
        t.expire(t0 + Duration::from_secs(31));
        let mut buf = [0u8; 4];
        assert_eq!(conn.read(&mut buf).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn exchange_moves_bytes_both_ways_in_bounded_replies() {
        let c = cfg();
        let t = SessionTable::new(c.clone());
        let (s, mut conn) = t.open(peer(), Instant::now()).unwrap();
        // Client → server.
        let reply = s.exchange(0, b"\x03abc", &c).await.unwrap();
        assert_eq!(&reply[..], &[MIN_POLL_DELAY]);
        let mut got = [0u8; 4];
        conn.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"\x03abc");
        // Server → client, cut at max_reply_bytes (8).
        conn.write_all(b"0123456789ABC").await.unwrap();
        let reply = s.exchange(1, &[], &c).await.unwrap();
        assert_eq!(&reply[..], b"\x0101234567");
        let reply = s.exchange(5, &[], &c).await.unwrap(); // a gap is tolerated
        assert_eq!(&reply[..], b"\x0189ABC");
        // Empty replies back off after EMPTY_REPLIES_PER_STEP.
        let mut last = 0;
        for seq in 6..(6 + u64::from(EMPTY_REPLIES_PER_STEP)) {
            let r = s.exchange(seq, &[], &c).await.unwrap();
            assert_eq!(r.len(), 1);
            last = r[0];
        }
        assert_eq!(last, 2);
        // The connection ends: pending bytes are still delivered, then the session is over.
        conn.write_all(b"zz").await.unwrap();
        drop(conn);
        let reply = s.exchange(100, &[], &c).await.unwrap();
        assert_eq!(&reply[..], b"\x01zz");
        assert_eq!(
            s.exchange(101, &[], &c).await.unwrap_err(),
            RtmptError::SessionEnded
        );
        assert_eq!(
            s.exchange(102, b"x", &c).await.unwrap_err(),
            RtmptError::SessionEnded
        );
    }

    #[tokio::test]
    async fn waits_briefly_for_output_when_nothing_is_pending() {
        let c = RtmptConfig {
            empty_reply_hold: Duration::from_secs(5),
            ..cfg()
        };
        let t = SessionTable::new(c.clone());
        let (s, mut conn) = t.open(peer(), Instant::now()).unwrap();
        let writer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            conn.write_all(b"hi").await.unwrap();
            conn
        });
        let started = Instant::now();
        let reply = s.exchange(0, &[], &c).await.unwrap();
        assert_eq!(&reply[..], b"\x01hi");
        assert!(started.elapsed() < Duration::from_secs(4));
        drop(writer.await.unwrap());
    }

    #[tokio::test]
    async fn stalled_input_times_out() {
        // Pipe capacity 64 and nobody reading the connection end: the third 30-byte write stalls.
        let c = cfg();
        let t = SessionTable::new(c.clone());
        let (s, _conn) = t.open(peer(), Instant::now()).unwrap();
        let chunk = [7u8; 30];
        s.exchange(0, &chunk, &c).await.unwrap();
        s.exchange(1, &chunk, &c).await.unwrap();
        assert_eq!(
            s.exchange(2, &chunk, &c).await.unwrap_err(),
            RtmptError::InputStalled
        );
    }
}
