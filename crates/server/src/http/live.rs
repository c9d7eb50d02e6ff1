//! What every live media player over HTTP shares, whatever it is sent as (FLV in [`super::flv`],
//! fragmented MP4 in [`super::mp4_live`]): the path, the access decision, the hub subscription
//! and the wait for a publisher, the registry entry and the `close` line, and the two ways bytes
//! leave (an HTTP response body, WebSocket messages: [`super::live_out`]).
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
use axum::extract::ws::CloseFrame;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
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

impl Piece {
    /// What the piece puts in an HTTP body: its bytes, if it is data.
    pub(crate) fn into_data(self) -> Option<Bytes> {
        match self {
            Piece::Data(b) => Some(b),
            Piece::Boundary | Piece::Text(_) => None,
        }
    }
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
    /// The data pieces produced since the last call, appended to `out` (what an HTTP body
    /// carries: boundaries and text dropped).
    fn take_data(&mut self, out: &mut Vec<Bytes>) {
        let mut pieces = Vec::new();
        self.take_output(&mut pieces);
        out.extend(pieces.into_iter().filter_map(Piece::into_data));
    }
    /// Why the output cannot go on (a codec it cannot carry), once its output is taken.
    fn failure(&self) -> Option<String> {
        None
    }
    /// The output is a plain byte stream (FLV): over WebSocket it may be cut into messages
    /// anywhere (and is, at `live_out::WS_STREAM_MESSAGE` bytes). When false (fMP4), each message is the
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
    pub(super) fn aborts(&self) -> bool {
        matches!(
            self,
            End::Closed(SubscriberClosed::TooSlow) | End::Kicked | End::Unsupported(_)
        )
    }

    /// The WebSocket close frame (RFC 6455 7.4.1: 1008 policy, 1003 unacceptable data).
    pub(super) fn close_frame(&self) -> CloseFrame {
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

/// Most slots an output list keeps once emptied: a join's GOP burst grows one to hundreds of
/// pieces (32 bytes each), which would otherwise stay allocated for the player's life.
pub(crate) const OUT_KEEP: usize = 32;

/// Move every piece of `from` to the end of `to` (through `f`), leaving `from` empty with at
/// most [`OUT_KEEP`] slots.
pub(crate) fn move_pieces<T, U>(from: &mut Vec<T>, to: &mut Vec<U>, f: impl FnMut(T) -> U) {
    to.extend(from.drain(..).map(f));
    from.shrink_to(OUT_KEEP);
}

/// `s` cut to at most `max` bytes on a character boundary (a close reason is at most 123).
pub(super) fn truncate(s: &str, max: usize) -> &str {
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
            let deadline = self.deadline();
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
                () = timer => self.on_timer()?,
            }
        }
    }

    /// What the subscriber holds now, without waiting: its data appended to `out`. For a
    /// writer called by the publisher's task ([`super::direct`]); the end of the player is an
    /// error, as in [`Pump::next_output`].
    pub(crate) fn drain_now(&mut self, out: &mut Vec<Bytes>) -> Result<(), End> {
        self.drain_with(|m| m.take_data(out))
    }

    /// [`Pump::drain_now`] keeping boundaries and text (for a direct WebSocket player).
    pub(crate) fn drain_pieces_now(&mut self, out: &mut Vec<Piece>) -> Result<(), End> {
        self.drain_with(|m| m.take_output(out))
    }

    fn drain_with(&mut self, take: impl FnOnce(&mut M)) -> Result<(), End> {
        if self.client.is_kicked() {
            return Err(End::Kicked);
        }
        let mut events = std::mem::take(&mut self.events);
        if self.sub.try_recv_batch(&mut events) > 0 {
            self.handle(&mut events, Instant::now());
        }
        events.clear();
        self.events = events;
        take(&mut self.out);
        if let Some(reason) = self.sub.closed_reason() {
            return Err(End::Closed(reason));
        }
        if let Some(why) = self.out.failure() {
            return Err(End::Unsupported(why));
        }
        Ok(())
    }

    /// When [`Pump::on_timer`] must run: the output's next timer or the end of the wait for a
    /// publisher to come back.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let probe = self.out.poll_timeout().map(Instant::from_std);
        let gone = self.unpublished_at.map(|t| t + self.republish_wait);
        match (probe, gone) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Time passed (see [`Pump::deadline`]): the player ends when its publisher stayed away.
    pub(crate) fn on_timer(&mut self) -> Result<(), End> {
        let now = Instant::now();
        let gone = self.unpublished_at.map(|t| t + self.republish_wait);
        if gone.is_some_and(|g| now >= g) && !self.live {
            return Err(End::PublisherGone);
        }
        self.out.handle_timeout(now.into_std(), SystemTime::now());
        Ok(())
    }

    /// Have the publisher's task call `sink` after each append instead of waking a waiter
    /// ([`crate::hub::Subscriber::attach_direct`]).
    pub(crate) fn attach_direct(&mut self, sink: std::sync::Weak<dyn crate::hub::DirectSink>) {
        self.sub.attach_direct(sink);
    }

    /// The player's registry entry (kicks notify it).
    pub(crate) fn client(&self) -> &Arc<ClientEntry> {
        &self.client
    }

    /// [`Pump::next_output`] as an owned future (for a body that must store it).
    pub(super) async fn step(mut self) -> (Self, Result<Vec<Piece>, End>) {
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
    pub(super) id: u64,
    pub(super) peer: SocketAddr,
    pub(super) what: &'static str,
    pub(super) app: String,
    pub(super) stream: String,
    /// What `on_stop` is told when the player ends.
    pub(super) ended: crate::app::Request,
    pub(super) started: Instant,
    /// For the connection metrics at close.
    pub(super) ctx: Weak<Context>,
    /// Registered while the player lives; dropped after the close line.
    pub(super) client: ClientGuard,
    pub(crate) reason: &'static str,
}

impl CloseLog {
    pub(super) fn add(&self, n: usize) {
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
