//! HTTP-FLV and WebSocket-FLV: `GET /{app}/{stream}.flv` streams a live stream of the hub as an
//! FLV (FLV v10.1 Annex E, Enhanced RTMP v2 for codecs legacy FLV lacks), the way an RTMP player
//! gets it: header, `onMetaData`, sequence headers, the GOP cache from its keyframe, then live
//! tags for as long as the stream lives. The bytes come from [`FlvLiveMuxer`] (`flv_live.rs`).
//!
//! Transports of the same bytes:
//! - **HTTP-FLV**: a `200` response with `Content-Type: video/x-flv` and a body without length.
//!   On plain HTTP/1.x it is written from the publisher's task with `Connection: close`
//!   ([`super::direct`], `http.direct_write`); on HTTPS it is chunked (HTTP/1.1) or DATA frames
//!   (HTTP/2), one batch per hub wake-up. Either way the tags share the hub's payloads (no copy).
//! - **WebSocket-FLV**: the same path with `Upgrade: websocket` (RFC 6455; RFC 8441 extended
//!   CONNECT on HTTP/2). One binary message per hub wake-up, holding whole tags (the first one
//!   starts with the FLV header); mpegts.js and flv.js reassemble any split. Pings are answered,
//!   a close from the client ends the player; client messages are read and ignored (at most
//!   [`WS_MAX_CLIENT_MESSAGE`] bytes each).
//!
//! The path's suffix picks the format: `.flv` here, `.mp4` in [`super::mp4_live`], `.m3u8` in
//! [`super::hls`] (one axum route for all). The request flow, the end of a player, the registry entry and the two
//! transports are shared: [`super::live`]. The query string (`?token=…`) is handed to
//! [`decide_play`]; the only parameter read here is `wallclock=1|0`, which turns the `onFI`
//! wall-clock stamps on or off for this player (default `http.flv_wallclock_default`, off:
//! ffmpeg-based players treat an unknown script tag as a data stream and then probe for 5 s
//! before they play). When the publisher leaves and comes back within
//! `http.flv_republish_wait_ms`, the same FLV goes on and timestamps continue.
//!
//! Registry transport `http-flv` or `ws-flv`. Slow players are bounded by the hub as RTMP
//! players are (video dropped to the next keyframe, then closed).

use super::direct::DirectOffer;
use super::flv_live::{FlvLiveConfig, FlvLiveMuxer};
use super::live::{
    parse_media_path, start_player, LiveOutput, MediaFormat, MediaTransport, Piece, PlayRequest,
    RequestError, Waits,
};
use super::live_out::{respond, Delivery};
use crate::hub::PlayerEvent;
use crate::Context;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Extension;
use axum::Router;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};
use tracing::debug;

pub use super::live::{decide_play, PlayDenied, MAX_NAME_LEN, WS_MAX_CLIENT_MESSAGE};

/// Settings of the media routes (FLV and fMP4).
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

    pub(crate) fn waits(&self) -> Waits {
        Waits {
            publish: self.publish_wait,
            republish: self.republish_wait,
        }
    }
}

impl Default for FlvRouteConfig {
    fn default() -> Self {
        Self::from_settings(&crate::config::HttpSection::default())
    }
}

/// State of the media routes.
#[derive(Debug, Clone)]
pub struct FlvState {
    /// The server (weak: the HTTP listener must not keep it alive).
    pub ctx: Weak<Context>,
    /// Settings.
    pub cfg: Arc<FlvRouteConfig>,
}

/// What the media route serves: FLV and fMP4 (`http.flv`), HLS playlists (`http.hls`).
#[derive(Debug, Clone, Default)]
pub struct MediaState {
    /// `.flv` and `.mp4`, when on.
    pub flv: Option<FlvState>,
    /// `.m3u8` ([`super::hls`]), when on.
    pub hls: Option<super::hls::HlsState>,
}

/// The media route (`.flv`, `.mp4`, `.m3u8`), with CORS for `origins` (`http.cors_origins`).
pub fn routes(state: MediaState, origins: &[String]) -> Router {
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

/// `GET /{app}/{stream}.flv`, `.mp4` or `.m3u8`, HTTP or WebSocket: dispatched on the suffix
/// (one axum route serves all, as the pattern is the same).
async fn play(
    State(media): State<MediaState>,
    Path((app, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    headers: axum::http::HeaderMap,
    offer: Option<Extension<DirectOffer>>,
) -> Response {
    if let Some(stream) = file.strip_suffix(".m3u8") {
        return match &media.hls {
            Some(hls) => super::hls::playlist(hls, app, stream.to_owned(), query, peer).await,
            None => RequestError::NotMedia.into_response(),
        };
    }
    let Some(state) = media.flv else {
        return RequestError::NotMedia.into_response();
    };
    let wants_ws = headers
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
        || ws.is_ok();
    let Some((format, stream)) = parse_media_path(&app, &file) else {
        return RequestError::NotMedia.into_response();
    };
    let req = PlayRequest {
        app,
        stream,
        query,
        peer,
        transport: MediaTransport::new(format, wants_ws),
    };
    let delivery = match (wants_ws, offer) {
        (true, Some(Extension(DirectOffer { websocket: true }))) => Delivery::DirectWs,
        (true, _) => match ws {
            Ok(ws) => Delivery::Ws(ws),
            Err(rejection) => return rejection.into_response(),
        },
        (false, Some(_)) => Delivery::Direct,
        (false, None) => Delivery::Body,
    };
    let answer = match format {
        MediaFormat::Flv => play_flv(&state, req, delivery).await,
        MediaFormat::Mp4 => super::mp4_live::play(&state, req, delivery).await,
    };
    answer.unwrap_or_else(|e| {
        debug!(peer = %peer, error = %e, "media request refused");
        e.into_response()
    })
}

async fn play_flv(
    state: &FlvState,
    req: PlayRequest,
    delivery: Delivery,
) -> Result<Response, RequestError> {
    let mut live = state.cfg.live.clone();
    if !wants_wallclock(req.query.as_deref(), state.cfg.wallclock_default) {
        live.wallclock_interval = None;
    }
    let start = start_player(&state.ctx, req, state.cfg.waits(), |_| {
        FlvLiveMuxer::new(live)
    })
    .await?;
    Ok(respond(start, delivery, "video/x-flv"))
}

/// The FLV writer as a player output: one WebSocket message per wake-up.
impl LiveOutput for FlvLiveMuxer {
    const BYTE_STREAM: bool = true;

    fn handle_events(&mut self, events: &mut Vec<PlayerEvent>, now: Instant, wall: SystemTime) {
        FlvLiveMuxer::handle_events(self, events, now, wall);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        FlvLiveMuxer::poll_timeout(self)
    }

    fn handle_timeout(&mut self, now: Instant, wall: SystemTime) {
        FlvLiveMuxer::handle_timeout(self, now, wall);
    }

    fn take_output(&mut self, out: &mut Vec<Piece>) {
        self.take_output_as(out, Piece::Data);
    }

    fn take_data(&mut self, out: &mut Vec<bytes::Bytes>) {
        FlvLiveMuxer::take_output(self, out);
    }
}

/// Whether a player gets `onFI` stamps: `wallclock=1`/`true` or `0`/`false` in its query,
/// else `default`.
fn wants_wallclock(query: Option<&str>, default: bool) -> bool {
    query_flag(query, "wallclock").unwrap_or(default)
}

/// The last `name=1|true|0|false` of a query: `Some(true)` for `1`/`true`, `Some(false)` for
/// anything else, `None` when absent.
pub(crate) fn query_flag(query: Option<&str>, name: &str) -> Option<bool> {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .next_back()
        .map(|v| matches!(v, "1" | "true"))
}

#[cfg(test)]
#[path = "flv_ws_tests.rs"]
mod ws_tests;

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
        start_with(true).await
    }

    pub(super) async fn start_with(direct_write: bool) -> (Arc<Context>, SocketAddr) {
        let mut s = Settings::default();
        s.http.direct_write = direct_write;
        s.http.listen = vec!["127.0.0.1:0".into()];
        s.http.flv_republish_wait_ms = 100;
        let ctx = Arc::new(Context::new(s));
        let l = super::super::bind(&ctx.settings, None).await.unwrap();
        let addr = l.local_addrs()[0];
        l.spawn(&ctx);
        (ctx, addr)
    }

    /// `live/s` published: a video sequence header and a keyframe.
    pub(super) fn publish_keyframe(ctx: &Context) -> crate::hub::Publisher {
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
        publisher
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

    /// The direct path: no chunks, `Connection: close`.
    #[tokio::test]
    async fn http_flv_streams_a_live_stream_and_404s_otherwise() {
        streams_a_live_stream_and_404s_otherwise(true).await;
    }

    /// Through hyper (`http.direct_write = false`): chunked.
    #[tokio::test]
    async fn http_flv_through_hyper_streams_a_live_stream_and_404s_otherwise() {
        streams_a_live_stream_and_404s_otherwise(false).await;
    }

    async fn streams_a_live_stream_and_404s_otherwise(direct: bool) {
        let (ctx, addr) = start_with(direct).await;
        let (head, _) = exchange(addr, "GET /live/none.flv HTTP/1.1\r\nHost: t\r\n\r\n", 0).await;
        assert!(head.starts_with("HTTP/1.1 404"), "{head}");
        let (head, _) = exchange(addr, "GET /live/none.mp4 HTTP/1.1\r\nHost: t\r\n\r\n", 0).await;
        assert!(head.starts_with("HTTP/1.1 404"), "{head}");

        let publisher = publish_keyframe(&ctx);
        let (head, body) = exchange(
            addr,
            "GET /live/s.flv?token=abc&wallclock=1 HTTP/1.1\r\nHost: t\r\nOrigin: http://page.example\r\n\r\n",
            64,
        )
        .await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("Content-Type: video/x-flv"), "{head}");
        if direct {
            assert!(head.contains("Connection: close"), "{head}");
            assert!(!head.contains("Transfer-Encoding"), "{head}");
        } else {
            assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
        }
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
