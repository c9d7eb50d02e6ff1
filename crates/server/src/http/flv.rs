//! HTTP-FLV and WebSocket-FLV: `GET /{app}/{stream}.flv` streams a live stream of the hub as an
//! FLV (FLV v10.1 Annex E, Enhanced RTMP v2 for codecs legacy FLV lacks), the way an RTMP player
//! gets it: header, `onMetaData`, sequence headers, the GOP cache from its keyframe, then live
//! tags for as long as the stream lives. The bytes come from [`FlvLiveMuxer`] (`flv_live.rs`).
//!
//! Transports of the same bytes:
//! - **HTTP-FLV**: a `200` response with `Content-Type: video/x-flv` and a body without length
//!   (chunked in HTTP/1.1, DATA frames in HTTP/2). Each tag goes out as body frames that share
//!   the hub's payloads (no copy), one batch per hub wake-up.
//! - **WebSocket-FLV**: the same path with `Upgrade: websocket` (RFC 6455; RFC 8441 extended
//!   CONNECT on HTTP/2). One binary message per hub wake-up, holding whole tags (the first one
//!   starts with the FLV header); mpegts.js and flv.js reassemble any split. Pings are answered,
//!   a close from the client ends the player; client messages are read and ignored (at most
//!   [`WS_MAX_CLIENT_MESSAGE`] bytes each).
//!
//! Flow of a request: parse the path → [`decide_play`] (the access decision) → subscribe to the
//! hub → wait for the publisher (`http.flv_publish_wait_ms`, 0 by default: a stream that is not
//! being published answers `404` at once, as nginx-http-flv and SRS do) → stream. The query
//! string (`?token=…`) is handed to [`decide_play`]; the only parameter read here is
//! `wallclock=1|0`, which turns the `onFI` wall-clock stamps on or off for this player (default
//! `http.flv_wallclock_default`, off: ffmpeg-based players treat an unknown script tag as a
//! data stream and then probe for 5 s before they play).
//!
//! End of a response: when the publisher leaves, the response stays open for
//! `http.flv_republish_wait_ms` (5 s by default) and goes on if a publisher comes back (same
//! FLV, timestamps continue); otherwise it ends (the chunked body's last chunk, or a WebSocket
//! close 1000). A player the hub closes as too slow (`hub.slow_player_timeout_secs`) has its
//! HTTP connection aborted (a body error, so the client cannot mistake it for the end of the
//! stream) or its WebSocket closed with 1008. Slow players are bounded by the hub as RTMP
//! players are (video dropped to the next keyframe, then closed).
//!
//! Registry: a player that starts is a client of [`Context::registry`] (transport `http-flv` or
//! `ws-flv`, role `player`) until its response or WebSocket ends, and counts in the connection
//! metrics. Its `bytes_out` (bytes handed to the connection, like the RTMP driver's) is kept in
//! its registry entry and logged in its `close` line. A kick (`DELETE /api/v1/clients/{id}`)
//! ends it at its next wake-up: the HTTP connection is aborted (as for a slow player), the
//! WebSocket closed with 1008. A response whose client has stopped reading is not polled, so it
//! sees the kick once its socket drains or the hub closes it as too slow.

use super::flv_live::{FlvLiveConfig, FlvLiveMuxer};
use crate::control::{ClientEntry, ClientGuard, Role, Transport};
use crate::hub::{PeerInfo, PlayerEvent, Subscriber, SubscriberClosed};
use crate::Context;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
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
use tracing::{debug, info};

/// Largest message a WebSocket-FLV client may send (it has nothing to say; pings and closes are
/// far smaller).
pub const WS_MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// Longest application and stream names accepted in a media path.
pub const MAX_NAME_LEN: usize = 256;

/// Settings of the FLV routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvRouteConfig {
    /// How the FLV is written.
    pub live: FlvLiveConfig,
    /// Wait for a publisher before answering 404. Default 0 (`http.flv_publish_wait_ms`).
    pub publish_wait: Duration,
    /// Wait for a publisher to come back before ending. Default 5 s
    /// (`http.flv_republish_wait_ms`).
    pub republish_wait: Duration,
    /// Whether players get `onFI` stamps without asking (`wallclock=1` in the query). Default
    /// false (`http.flv_wallclock_default`): ffmpeg-based players open a data stream for an
    /// unknown script tag and then probe the full `analyzeduration` (5 s) before playing.
    pub wallclock_default: bool,
}

impl FlvRouteConfig {
    /// The configuration these settings imply.
    pub fn from_settings(http: &crate::config::HttpSection) -> Self {
        FlvRouteConfig {
            live: FlvLiveConfig {
                legacy_codecs: http.flv_legacy_codecs,
                wallclock_interval: (http.flv_wallclock_ms > 0)
                    .then(|| Duration::from_millis(http.flv_wallclock_ms)),
                track_probe: Duration::from_millis(http.flv_track_probe_ms),
            },
            publish_wait: Duration::from_millis(http.flv_publish_wait_ms),
            republish_wait: Duration::from_millis(http.flv_republish_wait_ms),
            wallclock_default: http.flv_wallclock_default,
        }
    }
}

impl Default for FlvRouteConfig {
    fn default() -> Self {
        Self::from_settings(&crate::config::HttpSection::default())
    }
}

/// State of the FLV routes.
#[derive(Debug, Clone)]
pub struct FlvState {
    /// The server (weak: the HTTP listener must not keep it alive).
    pub ctx: Weak<Context>,
    /// Settings.
    pub cfg: Arc<FlvRouteConfig>,
}

/// The FLV routes, with CORS for `origins` (`http.cors_origins`).
pub fn routes(state: FlvState, origins: &[String]) -> Router {
    Router::new()
        // Other methods answer 404 like other unknown paths (not 405: the path is a pattern that
        // also matches paths of other features when they are disabled, such as RTMPT's).
        .route(
            "/{app}/{file}",
            get(play)
                .connect(play)
                .fallback(|| async { StatusCode::NOT_FOUND }),
        )
        .layer(super::cors::media_cors(origins))
        .with_state(state)
}

/// How the player asked for the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaTransport {
    /// A plain HTTP response body.
    HttpFlv,
    /// A WebSocket carrying binary messages.
    WebSocketFlv,
}

impl MediaTransport {
    /// The transport the registry and the metrics name.
    pub fn registry_transport(self) -> Transport {
        match self {
            MediaTransport::HttpFlv => Transport::HttpFlv,
            MediaTransport::WebSocketFlv => Transport::WsFlv,
        }
    }
}

/// What the access decision is asked about: one request to play a stream over HTTP.
#[derive(Debug, Clone)]
pub struct PlayRequest {
    /// Application name (first path segment).
    pub app: String,
    /// Stream name (second path segment without `.flv`).
    pub stream: String,
    /// The raw query string, if any (e.g. `token=…`).
    pub query: Option<String>,
    /// The client's address.
    pub peer: SocketAddr,
    /// HTTP-FLV or WebSocket-FLV.
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
enum FlvRequestError {
    #[error("not a media path (expected /{{app}}/{{stream}}.flv)")]
    NotMedia,
    #[error("stream {0}/{1} is not being published")]
    NotPublished(String, String),
    #[error("server is shutting down")]
    ShuttingDown,
    #[error("{}", .0.reason)]
    Denied(PlayDenied),
}

impl IntoResponse for FlvRequestError {
    fn into_response(self) -> Response {
        let status = match &self {
            FlvRequestError::NotMedia | FlvRequestError::NotPublished(..) => StatusCode::NOT_FOUND,
            FlvRequestError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            FlvRequestError::Denied(d) => d.status,
        };
        (status, format!("{self}\n")).into_response()
    }
}

/// `GET /{app}/{stream}.flv`, HTTP or WebSocket.
async fn play(
    State(state): State<FlvState>,
    Path((app, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    headers: axum::http::HeaderMap,
) -> Response {
    let wants_ws = headers
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
        || ws.is_ok();
    let transport = if wants_ws {
        MediaTransport::WebSocketFlv
    } else {
        MediaTransport::HttpFlv
    };
    let start = match start_player(&state, app, file, query, peer, transport).await {
        Ok(s) => s,
        Err(e) => {
            debug!(peer = %peer, error = %e, "media request refused");
            return e.into_response();
        }
    };
    match transport {
        MediaTransport::HttpFlv => {
            let body = FlvBody::new(start);
            let mut r = Response::new(axum::body::Body::new(body));
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("video/x-flv"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
        MediaTransport::WebSocketFlv => match ws {
            Ok(ws) => ws
                .max_message_size(WS_MAX_CLIENT_MESSAGE)
                .max_frame_size(WS_MAX_CLIENT_MESSAGE)
                .on_upgrade(move |socket| serve_ws(socket, start)),
            Err(rejection) => rejection.into_response(),
        },
    }
}

/// A player that is subscribed and whose stream is live.
struct Start {
    pump: Pump,
    log: CloseLog,
}

async fn start_player(
    state: &FlvState,
    app: String,
    file: String,
    query: Option<String>,
    peer: SocketAddr,
    transport: MediaTransport,
) -> Result<Start, FlvRequestError> {
    let stream = file
        .strip_suffix(".flv")
        .filter(|s| !s.is_empty() && s.len() <= MAX_NAME_LEN && app.len() <= MAX_NAME_LEN)
        .ok_or(FlvRequestError::NotMedia)?
        .to_owned();
    let ctx = state.ctx.upgrade().ok_or(FlvRequestError::ShuttingDown)?;
    if *ctx.shutdown.borrow() {
        return Err(FlvRequestError::ShuttingDown);
    }
    let mut req = PlayRequest {
        app,
        stream,
        query,
        peer,
        transport,
    };
    let id = ctx.next_connection_id();
    req.stream = decide_play(&ctx, &req, id)
        .await
        .map_err(FlvRequestError::Denied)?;

    let mut sub = ctx.hub.subscribe(
        &req.app,
        &req.stream,
        PeerInfo::new(peer.to_string()).with_connection_id(id),
    );
    let mut events = Vec::new();
    let deadline = Instant::now() + state.cfg.publish_wait;
    loop {
        sub.try_recv_batch(&mut events);
        if events.contains(&PlayerEvent::Publish) {
            break;
        }
        if sub.closed_reason().is_some() {
            return Err(FlvRequestError::ShuttingDown);
        }
        events.clear();
        match tokio::time::timeout_at(deadline, sub.recv_batch(&mut events)).await {
            Ok(Ok(())) if events.contains(&PlayerEvent::Publish) => break,
            Ok(Ok(())) => continue,
            Ok(Err(_)) => return Err(FlvRequestError::ShuttingDown),
            Err(_) => return Err(FlvRequestError::NotPublished(req.app, req.stream)),
        }
    }
    let registered = transport.registry_transport();
    let client = ctx.registry.add_client(id, peer, registered);
    client.set_state(&req.app, &req.stream, Role::Player);
    ctx.metrics.connection_opened(registered);
    let what = match transport {
        MediaTransport::HttpFlv => "HTTP-FLV",
        MediaTransport::WebSocketFlv => "WS-FLV",
    };
    info!(conn = id, peer = %peer, app = %req.app, stream = %req.stream, "{what} play");
    let mut live = state.cfg.live.clone();
    if !wants_wallclock(req.query.as_deref(), state.cfg.wallclock_default) {
        live.wallclock_interval = None;
    }
    let mut pump = Pump {
        client: client.entry().clone(),
        sub,
        mux: FlvLiveMuxer::new(live),
        events: Vec::new(),
        live: false,
        unpublished_at: None,
        republish_wait: state.cfg.republish_wait,
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
    })
}

/// Whether a player gets `onFI` stamps: `wallclock=1`/`true` or `0`/`false` in its query,
/// else `default`.
fn wants_wallclock(query: Option<&str>, default: bool) -> bool {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.strip_prefix("wallclock="))
        .next_back()
        .map_or(default, |v| matches!(v, "1" | "true"))
}

/// Why a player's FLV ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The publisher left and did not come back in time.
    PublisherGone,
    /// The hub closed the subscriber.
    Closed(SubscriberClosed),
    /// Kicked through the API.
    Kicked,
}

impl End {
    fn reason(self) -> &'static str {
        match self {
            End::PublisherGone => "publisher gone",
            End::Kicked => "kicked",
            End::Closed(SubscriberClosed::TooSlow) => "too slow",
            End::Closed(_) => "server shutting down",
        }
    }
}

/// A subscriber and its muxer: waits for hub events and turns them into FLV pieces.
struct Pump {
    /// The player's registry entry (for kicks).
    client: Arc<ClientEntry>,
    sub: Subscriber,
    mux: FlvLiveMuxer,
    events: Vec<PlayerEvent>,
    live: bool,
    unpublished_at: Option<Instant>,
    republish_wait: Duration,
}

impl Pump {
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
        self.mux
            .handle_events(events, now.into_std(), SystemTime::now());
    }

    /// The next FLV pieces (never empty). Cancel-safe: nothing is lost when the future is
    /// dropped while it waits.
    async fn next_output(&mut self) -> Result<Vec<Bytes>, End> {
        loop {
            if self.client.is_kicked() {
                return Err(End::Kicked);
            }
            let mut out = Vec::new();
            self.mux.take_output(&mut out);
            if !out.is_empty() {
                return Ok(out);
            }
            let probe = self.mux.poll_timeout().map(Instant::from_std);
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
                    self.mux.handle_timeout(now.into_std(), SystemTime::now());
                }
            }
        }
    }

    /// [`Pump::next_output`] as an owned future (for a body that must store it).
    async fn step(mut self) -> (Pump, Result<Vec<Bytes>, End>) {
        let r = self.next_output().await;
        (self, r)
    }
}

/// The `close` log line of a player, written when it is dropped.
struct CloseLog {
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
    reason: &'static str,
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

type Step = Pin<Box<dyn Future<Output = (Pump, Result<Vec<Bytes>, End>)> + Send>>;

/// The body of an HTTP-FLV response: the pump's pieces as data frames.
struct FlvBody {
    pieces: VecDeque<Bytes>,
    step: Option<Step>,
    log: CloseLog,
}

impl FlvBody {
    fn new(start: Start) -> Self {
        FlvBody {
            pieces: VecDeque::new(),
            step: Some(Box::pin(start.pump.step())),
            log: start.log,
        }
    }
}

/// The error that aborts the connection of a player the hub closed as too slow, or a kicked one.
#[derive(Debug, thiserror::Error)]
#[error("HTTP-FLV player closed: {0}")]
struct PlayerClosed(&'static str);

impl hyper::body::Body for FlvBody {
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
                    this.pieces.extend(pieces);
                    this.step = Some(Box::pin(pump.step()));
                }
                Err(end) => {
                    this.step = None;
                    this.log.reason = end.reason();
                    if matches!(end, End::Closed(SubscriberClosed::TooSlow) | End::Kicked) {
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

/// Serve one WebSocket-FLV player until the stream ends or the client goes away.
async fn serve_ws(mut socket: WebSocket, start: Start) {
    let Start { mut pump, mut log } = start;
    loop {
        tokio::select! {
            r = pump.next_output() => match r {
                Ok(pieces) => {
                    let len = pieces.iter().map(Bytes::len).sum();
                    let mut msg = BytesMut::with_capacity(len);
                    for p in &pieces {
                        msg.extend_from_slice(p);
                    }
                    if socket.send(Message::Binary(msg.freeze())).await.is_err() {
                        log.reason = "write failed";
                        return;
                    }
                    log.add(len);
                }
                Err(end) => {
                    log.reason = end.reason();
                    let code = match end {
                        End::Closed(SubscriberClosed::TooSlow) | End::Kicked => 1008,
                        _ => 1000,
                    };
                    let frame = CloseFrame { code, reason: end.reason().into() };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    return;
                }
            },
            m = socket.recv() => match m {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                // Pings are answered by the WebSocket layer; anything else is ignored.
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;
    use crate::hub::{MediaFrame, PeerInfo};
    use crate::Context;
    use bytes::Bytes;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn start() -> (Arc<Context>, SocketAddr) {
        let mut s = Settings::default();
        s.http.listen = vec!["127.0.0.1:0".into()];
        s.http.flv_republish_wait_ms = 100;
        let ctx = Arc::new(Context::new(s));
        let l = super::super::bind(&ctx.settings, None).await.unwrap();
        let addr = l.local_addrs()[0];
        l.spawn(&ctx);
        (ctx, addr)
    }

    /// Sends `req` and reads until the head is complete and `want` body bytes arrived (or the
    /// connection closed); returns the head and the raw (possibly chunked) rest.
    async fn exchange(addr: SocketAddr, req: &str, want: usize) -> (String, Vec<u8>) {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                if buf.len() >= i + 4 + want {
                    let head = String::from_utf8_lossy(&buf[..i + 4]).into_owned();
                    return (head, buf[i + 4..].to_vec());
                }
            }
            let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut chunk))
                .await
                .expect("response in time")
                .unwrap();
            if n == 0 {
                let i = buf
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .expect("a head");
                let head = String::from_utf8_lossy(&buf[..i + 4]).into_owned();
                return (head, buf[i + 4..].to_vec());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    #[tokio::test]
    async fn http_flv_streams_a_live_stream_and_404s_otherwise() {
        let (ctx, addr) = start().await;
        let (head, _) = exchange(addr, "GET /live/none.flv HTTP/1.1\r\nHost: t\r\n\r\n", 0).await;
        assert!(head.starts_with("HTTP/1.1 404"), "{head}");
        let (head, _) = exchange(addr, "GET /live/none.mp4 HTTP/1.1\r\nHost: t\r\n\r\n", 0).await;
        assert!(head.starts_with("HTTP/1.1 404"), "{head}");

        let publisher = ctx.hub.publish("live", "s", PeerInfo::new("t")).unwrap();
        publisher.send(
            MediaFrame::video(0, Bytes::from_static(&[0x17, 0, 0, 0, 0, 1]), true)
                .into_sequence_header(),
        );
        publisher.send(MediaFrame::video(
            0,
            Bytes::from_static(&[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]),
            true,
        ));
        let (head, body) = exchange(
            addr,
            "GET /live/s.flv?token=abc&wallclock=1 HTTP/1.1\r\nHost: t\r\nOrigin: http://page.example\r\n\r\n",
            64,
        )
        .await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("Content-Type: video/x-flv"), "{head}");
        assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
        assert!(head.contains("Access-Control-Allow-Origin: *"), "{head}");
        let text = String::from_utf8_lossy(&body);
        assert!(
            text.contains("FLV\x01\x01"),
            "video-only header: {body:02x?}"
        );
        assert!(text.contains("onFI"), "wall-clock stamp: {text:?}");

        // The publisher leaves: after the grace the response ends with the last chunk.
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /live/s.flv HTTP/1.0\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(publisher);
        let mut all = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut all))
            .await
            .expect("the response ends after the grace")
            .unwrap();
        assert!(
            all.starts_with(b"HTTP/1.0 200"),
            "{:?}",
            String::from_utf8_lossy(&all[..all.len().min(200)])
        );
        ctx.begin_shutdown();
    }

    #[test]
    fn wallclock_query() {
        assert!(!super::wants_wallclock(None, false));
        assert!(super::wants_wallclock(None, true));
        assert!(super::wants_wallclock(Some("token=a&wallclock=1"), false));
        assert!(!super::wants_wallclock(Some("wallclock=0&token=a"), true));
        assert!(!super::wants_wallclock(Some("xwallclock=1"), false));
    }

    #[tokio::test]
    async fn cors_preflight_is_answered() {
        let (ctx, addr) = start().await;
        let (head, _) = exchange(
            addr,
            "OPTIONS /live/s.flv HTTP/1.1\r\nHost: t\r\nOrigin: http://page.example\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: range\r\n\r\n",
            0,
        )
        .await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let lower = head.to_ascii_lowercase();
        assert!(lower.contains("access-control-allow-origin: *"), "{head}");
        assert!(
            lower.contains("access-control-allow-methods: get,head,options"),
            "{head}"
        );
        assert!(lower.contains("access-control-allow-headers: *"), "{head}");
        assert!(lower.contains("access-control-max-age: 600"), "{head}");
        // Other methods on a media path: 404, as for unknown paths.
        let (head, _) = exchange(
            addr,
            "POST /live/s.flv HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
            0,
        )
        .await;
        assert!(head.starts_with("HTTP/1.1 404"), "{head}");
        ctx.begin_shutdown();
    }

    #[tokio::test]
    async fn a_player_is_a_registry_client_until_kicked() {
        let (ctx, addr) = start().await;
        let publisher = ctx.hub.publish("live", "k", PeerInfo::new("t")).unwrap();
        publisher.send(
            MediaFrame::video(0, Bytes::from_static(&[0x17, 0, 0, 0, 0, 1]), true)
                .into_sequence_header(),
        );
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /live/k.flv HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        let mut head = [0u8; 12];
        c.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        let client = ctx
            .registry
            .clients()
            .pop()
            .expect("the player is registered");
        let state = client.state();
        assert_eq!((state.app.as_str(), state.stream.as_str()), ("live", "k"));
        assert_eq!(state.role, crate::control::Role::Player);
        assert_eq!(client.transport(), crate::control::Transport::HttpFlv);
        assert_eq!(client.peer.ip(), addr.ip());
        assert!(ctx
            .metrics
            .render(&ctx.registry, 10)
            .contains("sluice_connections{transport=\"http-flv\"} 1"));

        // A kick aborts the response and unregisters the player.
        client.kick();
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut rest))
            .await
            .expect("the kicked response ends");
        for _ in 0..100 {
            if ctx.registry.client_count() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(ctx.registry.client_count(), 0);
        assert!(ctx
            .metrics
            .render(&ctx.registry, 10)
            .contains("sluice_connections{transport=\"http-flv\"} 0"));
        drop(publisher);
        ctx.begin_shutdown();
    }
}
