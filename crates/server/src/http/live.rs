//! What every live media player over HTTP shares, whatever it is sent as (FLV in [`super::flv`],
//! fragmented MP4 in [`super::mp4_live`]): the path, the access decision, the hub subscription
//! and the wait for a publisher, the registry entry and the `close` line, and the two ways bytes
//! leave (an HTTP response body, WebSocket messages).
//!
//! Flow of a request: parse the path ([`parse_media_path`]) → [`decide_play`] (the access
//! decision) → subscribe to the hub → wait for the publisher (`http.flv_publish_wait_ms`, 0 by
//! default: a stream that is not being published answers `404` at once, as nginx-http-flv and
//! SRS do) → stream through a [`LiveOutput`], the sans-IO format writer.
//!
//! End of a player: when the publisher leaves, it stays open for `http.flv_republish_wait_ms`
//! (5 s by default) and goes on if a publisher comes back; otherwise it ends (the chunked body's
//! last chunk, or a WebSocket close 1000). A player the hub closes as too slow
//! (`hub.slow_player_timeout_secs`) or kicked through the API has its HTTP connection aborted
//! (a body error, so the client cannot mistake it for the end of the stream) or its WebSocket
//! closed with 1008. An output that cannot carry the stream any more (a republish with a codec
//! fMP4 has no sample entry for) aborts the HTTP connection too, or closes with 1003.
//!
//! Registry: a player that starts is a client of [`Context::registry`] (role `player`, the
//! transport of [`MediaTransport::registry_transport`]) until its response or WebSocket ends,
//! and counts in the connection metrics. Its `bytes_out` (bytes handed to the connection) is
//! kept in its registry entry and logged in its `close` line. A kick ends it at its next
//! wake-up. A response whose client has stopped reading is not polled, so it sees the kick once
//! its socket drains or the hub closes it as too slow.

use crate::control::{ClientEntry, ClientGuard, Role, Transport};
use crate::hub::{PeerInfo, PlayerEvent, Subscriber, SubscriberClosed};
use crate::Context;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use hyper::body::Frame;
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;
use tracing::info;

/// Largest message a WebSocket media client may send (it has nothing to say; pings and closes
/// are far smaller).
pub const WS_MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// Longest application and stream names accepted in a media path.
pub const MAX_NAME_LEN: usize = 256;

/// What a media path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaFormat {
    /// `/{app}/{stream}.flv`.
    Flv,
    /// `/{app}/{stream}.mp4`: live fragmented MP4.
    Mp4,
}

/// The format and stream name of the last path segment (`stream.flv`, `stream.mp4`), if it is
/// a media path with names of at most [`MAX_NAME_LEN`] bytes.
pub fn parse_media_path(app: &str, file: &str) -> Option<(MediaFormat, String)> {
    let (format, stream) = if let Some(s) = file.strip_suffix(".flv") {
        (MediaFormat::Flv, s)
    } else {
        (MediaFormat::Mp4, file.strip_suffix(".mp4")?)
    };
    (!stream.is_empty() && stream.len() <= MAX_NAME_LEN && app.len() <= MAX_NAME_LEN)
        .then(|| (format, stream.to_owned()))
}

/// How the player asked for the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaTransport {
    /// FLV in a plain HTTP response body.
    HttpFlv,
    /// FLV in WebSocket binary messages.
    WebSocketFlv,
    /// Fragmented MP4 in a plain HTTP response body.
    HttpMp4,
    /// Fragmented MP4 in WebSocket messages.
    WebSocketMp4,
    /// HLS playlists and segments ([`super::hls`]).
    Hls,
}

impl MediaTransport {
    /// The transport of `format` over a WebSocket or plain HTTP.
    pub fn new(format: MediaFormat, websocket: bool) -> Self {
        match (format, websocket) {
            (MediaFormat::Flv, false) => MediaTransport::HttpFlv,
            (MediaFormat::Flv, true) => MediaTransport::WebSocketFlv,
            (MediaFormat::Mp4, false) => MediaTransport::HttpMp4,
            (MediaFormat::Mp4, true) => MediaTransport::WebSocketMp4,
        }
    }

    /// The transport the registry and the metrics name.
    pub fn registry_transport(self) -> Transport {
        match self {
            MediaTransport::HttpFlv => Transport::HttpFlv,
            MediaTransport::WebSocketFlv => Transport::WsFlv,
            MediaTransport::HttpMp4 => Transport::HttpMp4,
            MediaTransport::WebSocketMp4 => Transport::WsMp4,
            MediaTransport::Hls => Transport::Hls,
        }
    }

    /// Whether the player reads WebSocket messages.
    pub fn is_websocket(self) -> bool {
        matches!(
            self,
            MediaTransport::WebSocketFlv | MediaTransport::WebSocketMp4
        )
    }

    /// The name in log lines.
    pub fn label(self) -> &'static str {
        match self {
            MediaTransport::HttpFlv => "HTTP-FLV",
            MediaTransport::WebSocketFlv => "WS-FLV",
            MediaTransport::HttpMp4 => "HTTP-MP4",
            MediaTransport::WebSocketMp4 => "WS-MP4",
            MediaTransport::Hls => "HLS",
        }
    }
}

/// What the access decision is asked about: one request to play a stream over HTTP.
#[derive(Debug, Clone)]
pub struct PlayRequest {
    /// Application name (first path segment).
    pub app: String,
    /// Stream name (second path segment without `.flv` / `.mp4`).
    pub stream: String,
    /// The raw query string, if any (e.g. `token=…`).
    pub query: Option<String>,
    /// The client's address.
    pub peer: SocketAddr,
    /// Format and transport.
    pub transport: MediaTransport,
}

/// Why a request was refused; answered with `status` and `reason` as a text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayDenied {
    /// HTTP status (e.g. 403).
    pub status: StatusCode,
    /// Reason, for the body and the log.
    pub reason: String,
}

/// The access decision for a media request: may `req` play its stream, and under which name?
///
/// The same chain as RTMP players ([`crate::app`]): rules, signed URL (`?expires=…&token=…`
/// on the media URL), the `on_play` hook (which may rename). It runs before the player
/// subscribes, so a refused request never touches the hub; a refusal is `403` with the reason.
pub async fn decide_play(ctx: &Context, req: &PlayRequest, id: u64) -> Result<String, PlayDenied> {
    let ask = app_request(req, id, crate::app::Action::Play);
    let decision = match ctx.app.load().check(ask) {
        crate::app::Check::Ready(d) => d,
        crate::app::Check::Pending(f) => f.await,
    };
    match decision {
        Ok(a) => Ok(a.stream),
        Err(deny) => {
            tracing::warn!(conn = id, peer = %req.peer, app = %req.app, reason = %deny, "play denied");
            Err(PlayDenied {
                status: StatusCode::FORBIDDEN,
                reason: deny.message,
            })
        }
    }
}

/// The app's view of a media request.
fn app_request(req: &PlayRequest, id: u64, action: crate::app::Action) -> crate::app::Request {
    crate::app::Request {
        action,
        client_id: id,
        peer: req.peer,
        app: req.app.clone(),
        stream: req.stream.clone(),
        param: req.query.clone().unwrap_or_default(),
        tc_url: String::new(),
        transport: req.transport.registry_transport(),
    }
}

/// Errors of a media request, each with its status.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    #[error("not a media path (expected /{{app}}/{{stream}}.flv, .mp4 or .m3u8)")]
    NotMedia,
    #[error("stream {0}/{1} is not being published")]
    NotPublished(String, String),
    #[error("server is shutting down")]
    ShuttingDown,
    #[error("{}", .0.reason)]
    Denied(PlayDenied),
    /// The stream has a codec the requested format cannot carry.
    #[error("{0}")]
    Unsupported(String),
}

impl IntoResponse for RequestError {
    fn into_response(self) -> Response {
        let status = match &self {
            RequestError::NotMedia | RequestError::NotPublished(..) => StatusCode::NOT_FOUND,
            RequestError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            RequestError::Denied(d) => d.status,
            RequestError::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        };
        (status, format!("{self}\n")).into_response()
    }
}

/// One piece of a player's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Media bytes: part of the response body, and of the current WebSocket binary message.
    Data(Bytes),
    /// Ends the current WebSocket binary message (nothing in an HTTP body).
    Boundary,
    /// A WebSocket text message (nothing in an HTTP body).
    Text(String),
}

/// A format writer for one player: hub events in, [`Piece`]s out (sans-IO, like
/// [`super::flv_live::FlvLiveMuxer`]). A WebSocket message holds the data of one wake-up, or
/// up to a [`Piece::Boundary`].
pub(crate) trait LiveOutput: Send + 'static {
    /// Handle hub events (drained from `events`) at `now`, with `wall` the wall clock.
    fn handle_events(
        &mut self,
        events: &mut Vec<PlayerEvent>,
        now: std::time::Instant,
        wall: SystemTime,
    );
    /// When [`LiveOutput::handle_timeout`] must be called.
    fn poll_timeout(&self) -> Option<std::time::Instant>;
    /// Time passed.
    fn handle_timeout(&mut self, now: std::time::Instant, wall: SystemTime);
    /// The pieces produced since the last call, in order.
    fn take_output(&mut self, out: &mut Vec<Piece>);
    /// Why the output cannot go on (a codec it cannot carry), once its output is taken.
    fn failure(&self) -> Option<String> {
        None
    }
    /// The output is a plain byte stream (FLV): over WebSocket it may be cut into messages
    /// anywhere (and is, at [`WS_STREAM_MESSAGE`] bytes). When false (fMP4), each message is the
    /// data up to a [`Piece::Boundary`].
    const BYTE_STREAM: bool = false;
}

/// Why a player ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    /// The publisher left and did not come back in time.
    PublisherGone,
    /// The hub closed the subscriber.
    Closed(SubscriberClosed),
    /// Kicked through the API.
    Kicked,
    /// The output cannot carry the stream (the reason names the codec).
    Unsupported(String),
}

impl End {
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            End::PublisherGone => "publisher gone",
            End::Kicked => "kicked",
            End::Closed(SubscriberClosed::TooSlow) => "too slow",
            End::Closed(_) => "server shutting down",
            End::Unsupported(_) => "unsupported codec",
        }
    }

    /// Whether an HTTP response ends with an error (not a clean end of stream).
    fn aborts(&self) -> bool {
        matches!(
            self,
            End::Closed(SubscriberClosed::TooSlow) | End::Kicked | End::Unsupported(_)
        )
    }

    /// The WebSocket close frame (RFC 6455 7.4.1: 1008 policy, 1003 unacceptable data).
    fn close_frame(&self) -> CloseFrame {
        let (code, reason) = match self {
            End::Closed(SubscriberClosed::TooSlow) | End::Kicked => (1008, self.reason()),
            End::Unsupported(why) => (1003, truncate(why, 123)),
            _ => (1000, self.reason()),
        };
        CloseFrame {
            code,
            reason: reason.into(),
        }
    }
}

/// `s` cut to at most `max` bytes on a character boundary (a close reason is at most 123).
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A subscriber and its output: waits for hub events and turns them into pieces.
pub(crate) struct Pump<M> {
    /// The player's registry entry (for kicks).
    client: Arc<ClientEntry>,
    sub: Subscriber,
    pub(crate) out: M,
    events: Vec<PlayerEvent>,
    live: bool,
    unpublished_at: Option<Instant>,
    republish_wait: Duration,
}

impl<M: LiveOutput> Pump<M> {
    fn handle(&mut self, events: &mut Vec<PlayerEvent>, now: Instant) {
        for e in events.iter() {
            match e {
                PlayerEvent::Publish => {
                    self.live = true;
                    self.unpublished_at = None;
                }
                PlayerEvent::Unpublish => {
                    self.live = false;
                    self.unpublished_at.get_or_insert(now);
                }
                _ => {}
            }
        }
        self.out
            .handle_events(events, now.into_std(), SystemTime::now());
    }

    /// The next pieces (never empty). Cancel-safe: nothing is lost when the future is dropped
    /// while it waits.
    pub(crate) async fn next_output(&mut self) -> Result<Vec<Piece>, End> {
        loop {
            if self.client.is_kicked() {
                return Err(End::Kicked);
            }
            let mut out = Vec::new();
            self.out.take_output(&mut out);
            if !out.is_empty() {
                return Ok(out);
            }
            if let Some(why) = self.out.failure() {
                return Err(End::Unsupported(why));
            }
            let probe = self.out.poll_timeout().map(Instant::from_std);
            let gone = self.unpublished_at.map(|t| t + self.republish_wait);
            let deadline = match (probe, gone) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let timer = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                // The flag is checked at the top of the loop.
                () = self.client.notify.notified() => {}
                r = self.sub.recv_batch(&mut self.events) => {
                    r.map_err(End::Closed)?;
                    let mut events = std::mem::take(&mut self.events);
                    self.handle(&mut events, Instant::now());
                    self.events = events;
                }
                () = timer => {
                    let now = Instant::now();
                    if gone.is_some_and(|g| now >= g) && !self.live {
                        return Err(End::PublisherGone);
                    }
                    self.out.handle_timeout(now.into_std(), SystemTime::now());
                }
            }
        }
    }

    /// [`Pump::next_output`] as an owned future (for a body that must store it).
    async fn step(mut self) -> (Self, Result<Vec<Piece>, End>) {
        let r = self.next_output().await;
        (self, r)
    }
}

/// A player that is subscribed and whose stream is live.
pub(crate) struct Start<M> {
    pub(crate) pump: Pump<M>,
    pub(crate) log: CloseLog,
    /// Output taken before the response started (sent first).
    pub(crate) pending: Vec<Piece>,
}

/// How long to wait for a publisher.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Waits {
    /// Before answering 404.
    pub(crate) publish: Duration,
    /// For a publisher to come back before ending.
    pub(crate) republish: Duration,
}

/// Decide, subscribe, wait for the publisher, register: a player whose output `make` builds.
pub(crate) async fn start_player<M: LiveOutput>(
    ctx: &Weak<Context>,
    mut req: PlayRequest,
    waits: Waits,
    make: impl FnOnce(&PlayRequest) -> M,
) -> Result<Start<M>, RequestError> {
    let ctx = ctx.upgrade().ok_or(RequestError::ShuttingDown)?;
    if *ctx.shutdown.borrow() {
        return Err(RequestError::ShuttingDown);
    }
    let id = ctx.next_connection_id();
    req.stream = decide_play(&ctx, &req, id)
        .await
        .map_err(RequestError::Denied)?;
    let peer = req.peer;
    // A stream that is not live here may come from a pull relay (HTTP players are never
    // relays of ours, so they may always open one).
    if !ctx.hub.is_live(&req.app, &req.stream) {
        if let Some(wait) = ctx.relays.pull(&ctx, &req.app, &req.stream) {
            if let Err(why) = wait.await {
                info!(conn = id, peer = %peer, app = %req.app, stream = %req.stream, reason = %why, "pull relay found no upstream");
                return Err(RequestError::NotPublished(req.app, req.stream));
            }
        }
    }

    let mut sub = ctx.hub.subscribe(
        &req.app,
        &req.stream,
        PeerInfo::new(peer.to_string()).with_connection_id(id),
    );
    let mut events = Vec::new();
    let deadline = Instant::now() + waits.publish;
    loop {
        sub.try_recv_batch(&mut events);
        if events.contains(&PlayerEvent::Publish) {
            break;
        }
        if sub.closed_reason().is_some() {
            return Err(RequestError::ShuttingDown);
        }
        events.clear();
        match tokio::time::timeout_at(deadline, sub.recv_batch(&mut events)).await {
            Ok(Ok(())) if events.contains(&PlayerEvent::Publish) => break,
            Ok(Ok(())) => continue,
            Ok(Err(_)) => return Err(RequestError::ShuttingDown),
            Err(_) => return Err(RequestError::NotPublished(req.app, req.stream)),
        }
    }
    let registered = req.transport.registry_transport();
    let client = ctx.registry.add_client(id, peer, registered);
    client.set_state(&req.app, &req.stream, Role::Player);
    ctx.metrics.connection_opened(registered);
    let what = req.transport.label();
    info!(conn = id, peer = %peer, app = %req.app, stream = %req.stream, "{what} play");
    let mut pump = Pump {
        client: client.entry().clone(),
        sub,
        out: make(&req),
        events: Vec::new(),
        live: false,
        unpublished_at: None,
        republish_wait: waits.republish,
    };
    pump.handle(&mut events, Instant::now());
    Ok(Start {
        pump,
        log: CloseLog {
            id,
            peer,
            what,
            ended: app_request(&req, id, crate::app::Action::Play),
            app: req.app,
            stream: req.stream,
            started: Instant::now(),
            ctx: Arc::downgrade(&ctx),
            client,
            reason: "client closed",
        },
        pending: Vec::new(),
    })
}

/// The `close` log line of a player, written when it is dropped.
pub(crate) struct CloseLog {
    id: u64,
    peer: SocketAddr,
    what: &'static str,
    app: String,
    stream: String,
    /// What `on_stop` is told when the player ends.
    ended: crate::app::Request,
    started: Instant,
    /// For the connection metrics at close.
    ctx: Weak<Context>,
    /// Registered while the player lives; dropped after the close line.
    client: ClientGuard,
    pub(crate) reason: &'static str,
}

impl CloseLog {
    fn add(&self, n: usize) {
        self.client.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl Drop for CloseLog {
    fn drop(&mut self) {
        info!(
            conn = self.id,
            peer = %self.peer,
            app = %self.app,
            stream = %self.stream,
            bytes_out = self.client.bytes_out.load(Ordering::Relaxed),
            secs = self.started.elapsed().as_secs_f32(),
            reason = self.reason,
            "{} close",
            self.what
        );
        if let Some(ctx) = self.ctx.upgrade() {
            ctx.metrics.connection_closed(self.client.transport());
            ctx.app.load().notify_end(self.ended.clone());
        }
    }
}

/// A `200` response streaming `start` as its body, with `content_type` and `no-cache`.
pub(crate) fn http_response<M: LiveOutput>(start: Start<M>, content_type: &str) -> Response {
    let body = MediaBody::new(start);
    let mut r = Response::new(axum::body::Body::new(body));
    let h = r.headers_mut();
    let ct = HeaderValue::from_str(content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_TYPE, ct);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The upgrade response of a WebSocket player (the socket is served by [`serve_ws`]).
///
/// A player sends almost nothing, so its read buffer is small ([`WS_READ_BUFFER`] instead of
/// tungstenite's 128 KiB, which is 125 MiB for 1000 players); writes are flushed by
/// [`send_pieces`] once per batch, so no write buffering threshold is needed.
pub(crate) fn ws_response<M: LiveOutput>(ws: WebSocketUpgrade, start: Start<M>) -> Response {
    ws.max_message_size(WS_MAX_CLIENT_MESSAGE)
        .max_frame_size(WS_MAX_CLIENT_MESSAGE)
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(0)
        .on_upgrade(move |socket| serve_ws(socket, start))
}

/// Read buffer of a WebSocket player's connection.
const WS_READ_BUFFER: usize = 4096;

type Step<M> = Pin<Box<dyn Future<Output = (Pump<M>, Result<Vec<Piece>, End>)> + Send>>;

/// The body of an HTTP media response: the pump's data pieces as data frames.
struct MediaBody<M> {
    pieces: VecDeque<Bytes>,
    step: Option<Step<M>>,
    log: CloseLog,
}

impl<M: LiveOutput> MediaBody<M> {
    fn new(start: Start<M>) -> Self {
        let mut body = MediaBody {
            pieces: VecDeque::new(),
            step: Some(Box::pin(start.pump.step())),
            log: start.log,
        };
        body.extend(start.pending);
        body
    }

    fn extend(&mut self, pieces: Vec<Piece>) {
        self.pieces
            .extend(pieces.into_iter().filter_map(|p| match p {
                Piece::Data(b) => Some(b),
                Piece::Boundary | Piece::Text(_) => None,
            }));
    }
}

/// The error that aborts the connection of a player the hub closed as too slow, a kicked one,
/// or one whose stream changed to a codec its format cannot carry.
#[derive(Debug, thiserror::Error)]
#[error("HTTP media player closed: {0}")]
struct PlayerClosed(&'static str);

impl<M: LiveOutput> hyper::body::Body for MediaBody<M> {
    type Data = Bytes;
    type Error = PlayerClosed;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, PlayerClosed>>> {
        let this = &mut *self;
        loop {
            if let Some(piece) = this.pieces.pop_front() {
                this.log.add(piece.len());
                return Poll::Ready(Some(Ok(Frame::data(piece))));
            }
            let Some(step) = this.step.as_mut() else {
                return Poll::Ready(None);
            };
            let (pump, result) = std::task::ready!(step.as_mut().poll(cx));
            match result {
                Ok(pieces) => {
                    this.extend(pieces);
                    this.step = Some(Box::pin(pump.step()));
                }
                Err(end) => {
                    this.step = None;
                    this.log.reason = end.reason();
                    if end.aborts() {
                        return Poll::Ready(Some(Err(PlayerClosed(end.reason()))));
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pieces.is_empty() && self.step.is_none()
    }
}

/// Sends `pieces` as WebSocket messages (data up to each boundary is one binary message) and
/// flushes once: one write for the whole batch. Returns the bytes sent, or `None` if a write
/// failed.
async fn send_pieces(
    socket: &mut WebSocket,
    pieces: Vec<Piece>,
    byte_stream: bool,
) -> Option<usize> {
    use futures_util::SinkExt;
    if byte_stream {
        return send_byte_stream(socket, pieces).await;
    }
    let mut sent = 0;
    // Data of the message being built: one piece is sent as it is (no copy).
    let mut parts: Vec<Bytes> = Vec::new();
    for p in pieces.into_iter().chain([Piece::Boundary]) {
        let text = match p {
            Piece::Data(b) => {
                parts.push(b);
                continue;
            }
            Piece::Boundary => None,
            Piece::Text(t) => Some(t),
        };
        if !parts.is_empty() {
            let binary = if parts.len() == 1 {
                parts.pop().unwrap_or_default()
            } else {
                let mut msg = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
                for part in parts.drain(..) {
                    msg.extend_from_slice(&part);
                }
                msg.freeze()
            };
            sent += binary.len();
            socket.feed(Message::Binary(binary)).await.ok()?;
        }
        if let Some(t) = text {
            sent += t.len();
            socket.feed(Message::Text(t.into())).await.ok()?;
        }
    }
    socket.flush().await.ok()?;
    Some(sent)
}

/// The largest WebSocket message of a byte-stream output. tungstenite keeps its write buffer at
/// the largest frame it wrote, so capping messages caps that memory per player (a 500 KB GOP
/// sent at join would otherwise stay allocated for the player's life).
const WS_STREAM_MESSAGE: usize = 16 * 1024;

/// [`send_pieces`] for a byte stream: small pieces coalesced, large ones sliced (no copy), into
/// messages of at most [`WS_STREAM_MESSAGE`] bytes; one flush at the end.
async fn send_byte_stream(socket: &mut WebSocket, pieces: Vec<Piece>) -> Option<usize> {
    use futures_util::SinkExt;
    let mut sent = 0;
    let mut acc = BytesMut::new();
    for p in pieces {
        let b = match p {
            Piece::Data(b) => b,
            Piece::Boundary => continue,
            Piece::Text(t) => {
                if !acc.is_empty() {
                    sent += acc.len();
                    socket
                        .feed(Message::Binary(acc.split().freeze()))
                        .await
                        .ok()?;
                }
                sent += t.len();
                socket.feed(Message::Text(t.into())).await.ok()?;
                continue;
            }
        };
        if acc.len() + b.len() <= WS_STREAM_MESSAGE {
            acc.extend_from_slice(&b);
            continue;
        }
        if !acc.is_empty() {
            sent += acc.len();
            socket
                .feed(Message::Binary(acc.split().freeze()))
                .await
                .ok()?;
        }
        let mut off = 0;
        while b.len() - off > WS_STREAM_MESSAGE {
            sent += WS_STREAM_MESSAGE;
            let slice = b.slice(off..off + WS_STREAM_MESSAGE);
            socket.feed(Message::Binary(slice)).await.ok()?;
            off += WS_STREAM_MESSAGE;
        }
        acc.extend_from_slice(&b[off..]);
    }
    if !acc.is_empty() {
        sent += acc.len();
        socket.feed(Message::Binary(acc.freeze())).await.ok()?;
    }
    socket.flush().await.ok()?;
    Some(sent)
}

/// Serve one WebSocket player until the stream ends or the client goes away. Pings are
/// answered by the WebSocket layer, a close from the client ends the player; other client
/// messages are read and ignored (at most [`WS_MAX_CLIENT_MESSAGE`] bytes each).
async fn serve_ws<M: LiveOutput>(mut socket: WebSocket, start: Start<M>) {
    let Start {
        mut pump,
        mut log,
        pending,
    } = start;
    if !pending.is_empty() {
        match send_pieces(&mut socket, pending, M::BYTE_STREAM).await {
            Some(n) => log.add(n),
            None => {
                log.reason = "write failed";
                return;
            }
        }
    }
    loop {
        tokio::select! {
            r = pump.next_output() => match r {
                Ok(pieces) => match send_pieces(&mut socket, pieces, M::BYTE_STREAM).await {
                    Some(n) => log.add(n),
                    None => {
                        log.reason = "write failed";
                        return;
                    }
                },
                Err(end) => {
                    log.reason = end.reason();
                    let _ = socket.send(Message::Close(Some(end.close_frame()))).await;
                    return;
                }
            },
            m = socket.recv() => match m {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_paths() {
        assert_eq!(
            parse_media_path("live", "s.flv"),
            Some((MediaFormat::Flv, "s".into()))
        );
        assert_eq!(
            parse_media_path("live", "cam.mp4"),
            Some((MediaFormat::Mp4, "cam".into()))
        );
        assert_eq!(parse_media_path("live", ".mp4"), None);
        assert_eq!(parse_media_path("live", "s.ts"), None);
        assert_eq!(
            parse_media_path("live", &format!("{}.mp4", "x".repeat(300))),
            None
        );
    }

    #[test]
    fn close_frames() {
        assert_eq!(End::Kicked.close_frame().code, 1008);
        assert_eq!(End::PublisherGone.close_frame().code, 1000);
        let f = End::Unsupported("é".repeat(100)).close_frame();
        assert_eq!(f.code, 1003);
        assert!(f.reason.len() <= 123);
        assert!(End::Unsupported(String::new()).aborts());
    }
}
