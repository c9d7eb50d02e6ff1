//! The built-in web page (`http.console`): `GET /` lists the live streams and plays one with a
//! click, `GET /play/{app}/{stream}` is a player for that stream alone.
//!
//! The page is four small files embedded in the binary (`index.html`, `page.js`, `player.js`,
//! `style.css`: no third-party JavaScript, so it works offline). `player.js` is its own Media
//! Source Extensions player over the WebSocket fMP4 route (`/{app}/{stream}.mp4`, protocol in
//! [`super::mp4_live`] and docs/API.md): it chases the live edge, reads the server's receive time from each
//! fragment's `prft` box (ISO/IEC 14496-12 §8.16.5) for the latency it shows, and reconnects
//! when the publisher comes back.
//!
//! Routes ([`routes`]):
//! - `GET /` and `GET /play/{app}/{stream}`: the page (one HTML file; the script tells the two
//!   apart by the path);
//! - `GET /console/streams.json`: the live streams a client with no key and no token may play
//!   (the `[access]` rules, hooks not asked: [`crate::app::App::allows_anonymous_play`]);
//! - `GET /console/page.js`, `/console/player.js`, `/console/style.css`.
//!
//! The paths are static, so they win over the media route `/{app}/{file}`; an application named
//! `console` stays playable except as `console/streams.json` and the three file names. `/play/…`
//! has three segments and cannot meet the media route (two) nor RTMPT's (`/send/{sid}/{seq}`
//! has another first segment).

use super::api::{method_not_allowed, ApiError, ControlState, Items, Json};
use crate::control::registry::{AudioInfo, StreamEntry, VideoInfo};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

const INDEX_HTML: &str = include_str!("index.html");
const PAGE_JS: &str = include_str!("page.js");
const PLAYER_JS: &str = include_str!("player.js");
const STYLE_CSS: &str = include_str!("style.css");

/// What the page may load: its own files, media from `blob:` URLs (MSE), WebSockets to its
/// own origin.
const CSP: &str = "default-src 'self'; media-src 'self' blob:; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'self'";

/// One stream of `/console/streams.json`: what the list shows. A subset of the API's
/// [`super::api::StreamItem`] on purpose: this list is public, so it leaves out the publisher's
/// address and the byte counters.
#[derive(Debug, Serialize, PartialEq)]
pub struct ConsoleStream {
    /// Application.
    pub app: String,
    /// Stream name.
    pub name: String,
    /// Video, once its sequence header came; `null` otherwise.
    pub video: Option<VideoInfo>,
    /// Audio, once its sequence header came; `null` otherwise.
    pub audio: Option<AudioInfo>,
    /// Bits per second from the publisher over the last 10 s.
    pub bitrate_in: u64,
    /// Players now (RTMP and HTTP).
    pub players: u64,
}

impl From<&StreamEntry> for ConsoleStream {
    fn from(s: &StreamEntry) -> ConsoleStream {
        let media = s.media();
        ConsoleStream {
            app: s.app.clone(),
            name: s.name.clone(),
            video: media.video,
            audio: media.audio,
            bitrate_in: s.bitrates().0,
            players: s.players.load(Ordering::Relaxed),
        }
    }
}

async fn streams(
    State(state): State<ControlState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<impl IntoResponse, ApiError> {
    let ctx = state.ctx()?;
    let app = ctx.app.load();
    let items = ctx
        .registry
        .streams()
        .iter()
        .filter(|s| app.allows_anonymous_play(&s.app, &s.name, peer))
        .map(|s| ConsoleStream::from(&**s))
        .collect();
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(Items { items }),
    ))
}

/// A fixed file: its type, revalidated on every load (a new server version serves new files).
fn file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    let headers: [(HeaderName, HeaderValue); 4] = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
    ];
    (headers, body)
}

async fn index() -> impl IntoResponse {
    file("text/html; charset=utf-8", INDEX_HTML)
}

/// The console router.
pub fn routes(state: ControlState) -> Router {
    let get_only = |r: axum::routing::MethodRouter<ControlState>| r.fallback(method_not_allowed);
    Router::new()
        .route("/", get_only(get(index)))
        .route("/play/{app}/{stream}", get_only(get(index)))
        .route("/console/streams.json", get_only(get(streams)))
        .route(
            "/console/page.js",
            get_only(get(|| async {
                file("text/javascript; charset=utf-8", PAGE_JS)
            })),
        )
        .route(
            "/console/player.js",
            get_only(get(|| async {
                file("text/javascript; charset=utf-8", PLAYER_JS)
            })),
        )
        .route(
            "/console/style.css",
            get_only(get(|| async { file("text/css; charset=utf-8", STYLE_CSS) })),
        )
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use crate::app::config::{RuleSection, Who};
    use crate::control::registry::{MediaInfo, Role, VideoInfo};
    use crate::control::Transport;
    use crate::http::tests::{read_response, start};
    use crate::Settings;
    use serde_json::{json, Value};
    use std::net::SocketAddr;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    async fn get(addr: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
        let mut c = TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
        c.write_all(req.as_bytes()).await.unwrap();
        read_response(&mut c).await
    }

    fn settings() -> Settings {
        let mut s = Settings::default();
        s.http.listen = vec!["127.0.0.1:0".into()];
        s.access.secret = "s".into();
        s.access.rule = vec![RuleSection {
            app: "live".into(),
            stream: "private*".into(),
            publish: None,
            play: Some(Who::Any(vec!["token".into(), "key:k".into()])),
        }];
        s
    }

    #[tokio::test]
    async fn page_files_and_the_anonymous_stream_list() {
        let (ctx, addr) = start(settings()).await;
        for (path, ty) in [
            ("/", "text/html"),
            ("/play/live/cam", "text/html"),
            ("/console/page.js", "text/javascript"),
            ("/console/player.js", "text/javascript"),
            ("/console/style.css", "text/css"),
        ] {
            let (status, head, body) = get(addr, path).await;
            assert_eq!(status, 200, "{path}: {head}");
            assert!(head.contains(&format!("Content-Type: {ty}")), "{head}");
            assert!(head.contains("Content-Security-Policy: "), "{head}");
            assert!(!body.is_empty());
        }
        // The media route still gets the other paths of an application named `console` and
        // of `play`; a third segment is nobody's.
        for path in ["/console/cam.flv", "/play/cam.flv"] {
            let (status, _, body) = get(addr, path).await;
            assert_eq!(status, 404);
            let body = String::from_utf8(body).unwrap();
            assert!(body.contains("is not being published"), "{path}: {body}");
        }
        let (status, _, _) = get(addr, "/play/live").await;
        assert_eq!(status, 404);

        let publisher =
            ctx.registry
                .add_client(7, "192.0.2.1:5000".parse().unwrap(), Transport::Rtmp);
        publisher.set_state("live", "cam", Role::Publisher);
        let open = ctx.registry.add_stream("live", "cam", &publisher);
        open.update_media(|m| {
            *m = MediaInfo {
                video: Some(VideoInfo {
                    codec: "h264".into(),
                    profile: None,
                    width: Some(640),
                    height: Some(360),
                    fps: Some(25.0),
                }),
                audio: None,
            }
        });
        let _private = ctx.registry.add_stream("live", "private-1", &publisher);
        let (status, head, body) = get(addr, "/console/streams.json").await;
        assert_eq!(status, 200, "{head}");
        assert!(head.contains("Content-Type: application/json"), "{head}");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"items": [{
                "app": "live",
                "name": "cam",
                "video": {"codec": "h264", "profile": null, "width": 640, "height": 360, "fps": 25.0},
                "audio": null,
                "bitrate_in": 0,
                "players": 0,
            }]})
        );
        ctx.begin_shutdown();
    }

    #[tokio::test]
    async fn the_page_can_be_turned_off() {
        let mut s = settings();
        s.http.console = false;
        let (ctx, addr) = start(s).await;
        for path in ["/", "/console/streams.json", "/play/live/cam"] {
            let (status, _, _) = get(addr, path).await;
            assert_eq!(status, 404, "{path}");
        }
        ctx.begin_shutdown();
    }
}
