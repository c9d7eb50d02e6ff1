//! The JSON API under `/api/v1/` (docs/API.md, "Control API"): the live streams and connected
//! clients the [`crate::control::Registry`] knows, kicks, and what the server is.
//!
//! Routes ([`routes`]):
//! - `GET /api/v1/streams`, `GET /api/v1/streams/{app}/{stream}` (with its `recording`);
//! - `POST` / `DELETE /api/v1/streams/{app}/{stream}/record` (start / stop a recording);
//! - `GET /api/v1/clients`, `GET /api/v1/clients/{id}`, `DELETE /api/v1/clients/{id}` (kick);
//! - `GET /api/v1/info`;
//! - `POST /api/v1/streams/{app}/{stream}/push`, `DELETE /api/v1/streams/{app}/{stream}/push/{id}`
//!   (push relays, [`crate::relay::api`]).
//!
//! Lists answer `{"items": [...]}`. Every error, on any path under `/api/v1/`, is
//! `{"error": {"status": <code>, "message": "..."}}` with that status: `400` for a bad id, `401`
//! and `403` from the access rule ([`super::access`], which guards every route here), `404` for
//! an unknown stream, client or path, `405` for a method a path does not take. Times are RFC 3339
//! in UTC with milliseconds (`2026-01-31T12:00:00.000Z`).
//!
//! New routes go into [`endpoints`]: it is the one list, and [`routes`] puts all of it behind
//! the access rule.

use super::access;
use crate::control::registry::{AudioInfo, ClientEntry, StreamEntry, VideoInfo};
use crate::record::RecordingStatus;
use crate::Context;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

/// A JSON response (`Content-Type: application/json`). The axum `json` feature would add a
/// request-side dependency this API does not need: the one JSON body it reads (adding a push
/// target) is parsed with `serde_json` from the raw bytes.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    }
}

/// State of the control routes (the API and `/metrics`).
#[derive(Debug, Clone)]
pub struct ControlState {
    /// The server (weak: the HTTP listener must not keep it alive).
    pub ctx: Weak<Context>,
}

impl ControlState {
    /// The server, or `503` once it is gone.
    pub fn ctx(&self) -> Result<Arc<Context>, ApiError> {
        self.ctx.upgrade().ok_or_else(ApiError::shutting_down)
    }
}

/// An API error: answered as `{"error": {"status": ..., "message": ...}}` with that status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong, for people.
    pub message: String,
}

impl ApiError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    /// `404` with `message`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// `503`: the server is going away.
    pub fn shutting_down() -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "server is shutting down")
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    status: u16,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                status: self.status.as_u16(),
                message: &self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, r.body_text())
    }
}

/// `405` for a method a control path does not take.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this path",
    )
}

async fn no_such_path() -> ApiError {
    ApiError::not_found("no such API path")
}

/// `{"items": [...]}`.
#[derive(Debug, Serialize)]
pub struct Items<T> {
    /// The entries.
    pub items: Vec<T>,
}

/// A stream's publisher.
#[derive(Debug, Serialize, PartialEq)]
pub struct PublisherItem {
    /// Its connection id (`/api/v1/clients/{id}`).
    pub client_id: u64,
    /// Its IP address.
    pub ip: String,
    /// Its port.
    pub port: u16,
    /// How it is connected (`rtmp`, `rtmps`, ...).
    pub transport: &'static str,
    /// When it connected (RFC 3339).
    pub since: String,
}

/// One live stream.
#[derive(Debug, Serialize, PartialEq)]
pub struct StreamItem {
    /// Application.
    pub app: String,
    /// Stream name.
    pub name: String,
    /// When publishing started (RFC 3339).
    pub since: String,
    /// Who publishes it.
    pub publisher: PublisherItem,
    /// Video, once its sequence header came; `null` otherwise.
    pub video: Option<VideoInfo>,
    /// Audio, once its sequence header came; `null` otherwise.
    pub audio: Option<AudioInfo>,
    /// Bits per second from the publisher over the last 10 s.
    pub bitrate_in: u64,
    /// Bits per second to all players over the last 10 s.
    pub bitrate_out: u64,
    /// Players now (RTMP and HTTP).
    pub players: u64,
    /// Media bytes received from the publisher.
    pub bytes_in: u64,
    /// Bytes sent to its players (present and gone).
    pub bytes_out: u64,
    /// Its push relay targets (docs/RELAY.md).
    pub push: Vec<crate::relay::api::PushItem>,
    /// Where it is pulled from, when a pull relay feeds it; `null` otherwise.
    pub pull: Option<crate::relay::api::PullItem>,
    /// Its recording: being written, or failed (with `error`); `null` when not recorded.
    pub recording: Option<RecordingStatus>,
}

impl StreamItem {
    /// The item for `s`; `publisher` is its publisher's entry while it is registered.
    pub fn new(s: &StreamEntry, publisher: Option<&ClientEntry>) -> StreamItem {
        let media = s.media();
        let (bitrate_in, bitrate_out) = s.bitrates();
        StreamItem {
            app: s.app.clone(),
            name: s.name.clone(),
            since: rfc3339(s.since),
            publisher: PublisherItem {
                client_id: s.publisher_id,
                ip: s.publisher_peer.ip().to_string(),
                port: s.publisher_peer.port(),
                transport: s.publisher_transport.as_str(),
                since: rfc3339(publisher.map_or(s.since, |p| p.since)),
            },
            video: media.video,
            audio: media.audio,
            bitrate_in,
            bitrate_out,
            players: s.players.load(Ordering::Relaxed),
            bytes_in: s.bytes_in.load(Ordering::Relaxed),
            bytes_out: s.bytes_out(),
            push: Vec::new(),
            pull: None,
            recording: None,
        }
    }
}

/// One connected client.
#[derive(Debug, Serialize, PartialEq)]
pub struct ClientItem {
    /// Connection id (as in the log).
    pub id: u64,
    /// IP address.
    pub ip: String,
    /// Port.
    pub port: u16,
    /// Application (empty before connect).
    pub app: String,
    /// Stream published or played (empty when idle).
    pub stream: String,
    /// `publisher`, `player` or `idle`.
    pub role: &'static str,
    /// `rtmp`, `rtmps`, `rtmpe`, `rtmpt`, `rtmpts`, `http-flv`, `ws-flv`, `rtmfp`.
    pub transport: &'static str,
    /// Bytes received from it (updated about once a second).
    pub bytes_in: u64,
    /// Bytes sent to it (updated about once a second).
    pub bytes_out: u64,
    /// When it connected (RFC 3339).
    pub since: String,
}

impl From<&ClientEntry> for ClientItem {
    fn from(c: &ClientEntry) -> Self {
        let state = c.state();
        ClientItem {
            id: c.id,
            ip: c.peer.ip().to_string(),
            port: c.peer.port(),
            app: state.app,
            stream: state.stream,
            role: state.role.as_str(),
            transport: c.transport().as_str(),
            bytes_in: c.bytes_in.load(Ordering::Relaxed),
            bytes_out: c.bytes_out.load(Ordering::Relaxed),
            since: rfc3339(c.since),
        }
    }
}

/// The addresses the server listens on, by kind (set once the listeners are bound).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Listeners {
    /// RTMP (`server.listen`).
    pub rtmp: Vec<SocketAddr>,
    /// RTMPS (`tls.rtmps_listen`).
    pub rtmps: Vec<SocketAddr>,
    /// HTTP (`http.listen`).
    pub http: Vec<SocketAddr>,
    /// HTTPS (`tls.https_listen`).
    pub https: Vec<SocketAddr>,
}

/// `GET /api/v1/info`.
#[derive(Debug, Serialize, PartialEq)]
pub struct InfoItem {
    /// The server's version.
    pub version: &'static str,
    /// Whole seconds since the server started.
    pub uptime_secs: u64,
    /// Addresses bound.
    pub listeners: Listeners,
    /// Connected clients.
    pub clients: usize,
    /// Live streams.
    pub streams: usize,
}

/// `t` as RFC 3339 in UTC with milliseconds (`1970-01-01T00:00:00.000Z` for times before 1970).
pub fn rfc3339(t: SystemTime) -> String {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    sluice_flv::UtcTime::from_unix_ms(ms).rfc3339()
}

fn stream_item(ctx: &Context, s: &StreamEntry) -> StreamItem {
    let mut item = StreamItem::new(s, ctx.registry.client(s.publisher_id).as_deref());
    item.push = ctx.relays.push_items(&s.app, &s.name);
    item.pull = ctx.relays.pull_item(&s.app, &s.name);
    item.recording = ctx.recorders.status(&s.app, &s.name);
    item
}

/// `{"recording": {...}}`: what `POST` started or `DELETE` stopped.
#[derive(Debug, Serialize)]
struct RecordingAnswer {
    recording: RecordingStatus,
}

/// `POST /api/v1/streams/{app}/{stream}/record[?format=flv|mp4&mode=all|video|audio|keyframes]`:
/// start recording a live stream (until its publisher stops or `DELETE`). Without `format` or
/// `mode`, the `[record]` rule of the stream gives them (`all` if it says `off`). `404` if the
/// stream is not live, `409` if it is being recorded, `400` for a bad parameter.
async fn start_recording(
    State(state): State<ControlState>,
    path: Result<Path<(String, String)>, PathRejection>,
    uri: axum::http::Uri,
) -> Result<Json<RecordingAnswer>, ApiError> {
    use crate::record::{RecordFormat, RecordMode, StartRequest, Trigger};
    let Path((app, name)) = path?;
    let ctx = state.ctx()?;
    if ctx.registry.stream(&app, &name).is_none() {
        return Err(ApiError::not_found(format!("no live stream {app}/{name}")));
    }
    let (mut mode, mut format) = ctx.live.load().settings.record.rule_for(&app, &name);
    for pair in uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = || ApiError::new(StatusCode::BAD_REQUEST, format!("bad parameter {k}={v:?}"));
        match k {
            "format" => {
                format = match v {
                    "flv" => RecordFormat::Flv,
                    "mp4" => RecordFormat::Mp4,
                    _ => return Err(bad()),
                }
            }
            "mode" => {
                mode = match v {
                    "all" => RecordMode::All,
                    "video" => RecordMode::Video,
                    "audio" => RecordMode::Audio,
                    "keyframes" => RecordMode::Keyframes,
                    _ => return Err(bad()),
                }
            }
            _ => return Err(bad()),
        }
    }
    let req = StartRequest {
        trigger: Trigger::Api,
        mode,
        format,
    };
    let rec = ctx
        .recorders
        .start(&ctx, &app, &name, req)
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, e.to_string()))?;
    tracing::info!(app, stream = name, "recording started through the API");
    Ok(Json(RecordingAnswer {
        recording: rec.status(),
    }))
}

/// `DELETE /api/v1/streams/{app}/{stream}/record`: stop its recording (the file is closed
/// with its index). `404` if it is not being recorded.
async fn stop_recording(
    State(state): State<ControlState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<RecordingAnswer>, ApiError> {
    let Path((app, name)) = path?;
    let ctx = state.ctx()?;
    let recording = ctx
        .recorders
        .stop(&app, &name)
        .ok_or_else(|| ApiError::not_found(format!("{app}/{name} is not being recorded")))?;
    tracing::info!(app, stream = name, "recording stopped through the API");
    Ok(Json(RecordingAnswer { recording }))
}

async fn list_streams(
    State(state): State<ControlState>,
) -> Result<Json<Items<StreamItem>>, ApiError> {
    let ctx = state.ctx()?;
    let items = ctx
        .registry
        .streams()
        .iter()
        .map(|s| stream_item(&ctx, s))
        .collect();
    Ok(Json(Items { items }))
}

async fn get_stream(
    State(state): State<ControlState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<StreamItem>, ApiError> {
    let Path((app, name)) = path?;
    let ctx = state.ctx()?;
    let s = ctx
        .registry
        .stream(&app, &name)
        .ok_or_else(|| ApiError::not_found(format!("no live stream {app}/{name}")))?;
    Ok(Json(stream_item(&ctx, &s)))
}

async fn list_clients(
    State(state): State<ControlState>,
) -> Result<Json<Items<ClientItem>>, ApiError> {
    let ctx = state.ctx()?;
    let items = ctx
        .registry
        .clients()
        .iter()
        .map(|c| ClientItem::from(&**c))
        .collect();
    Ok(Json(Items { items }))
}

/// The client a `{id}` path names: `400` if it is not a number, `404` if there is none.
fn client_at(
    ctx: &Context,
    path: Result<Path<String>, PathRejection>,
) -> Result<Arc<ClientEntry>, ApiError> {
    let Path(raw) = path?;
    let id: u64 = raw.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("client id {raw:?} is not a number"),
        )
    })?;
    ctx.registry
        .client(id)
        .ok_or_else(|| ApiError::not_found(format!("no client {id}")))
}

async fn get_client(
    State(state): State<ControlState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<ClientItem>, ApiError> {
    let ctx = state.ctx()?;
    Ok(Json(ClientItem::from(&*client_at(&ctx, path)?)))
}

/// `DELETE /api/v1/clients/{id}`.
#[derive(Debug, Serialize)]
struct Kicked {
    kicked: u64,
}

async fn kick_client(
    State(state): State<ControlState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Kicked>, ApiError> {
    let ctx = state.ctx()?;
    let c = client_at(&ctx, path)?;
    c.kick();
    tracing::info!(conn = c.id, peer = %c.peer, "client kicked through the API");
    Ok(Json(Kicked { kicked: c.id }))
}

async fn info(State(state): State<ControlState>) -> Result<Json<InfoItem>, ApiError> {
    let ctx = state.ctx()?;
    Ok(Json(InfoItem {
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: ctx.metrics.uptime().as_secs(),
        listeners: ctx.listeners.get().cloned().unwrap_or_default(),
        clients: ctx.registry.client_count(),
        streams: ctx.registry.streams().len(),
    }))
}

/// `POST /api/v1/reload`: read the settings again (see [`crate::reload`]). 200 with what was
/// applied and what needs a restart; 400 with the error when the new settings are refused (the
/// old ones stay in force); 501 when the server has no settings source (embedded use).
async fn reload(
    State(state): State<ControlState>,
) -> Result<Json<crate::reload::ReloadReport>, ApiError> {
    let ctx = state.ctx()?;
    // Reading the file is blocking I/O: off the async worker.
    let res = tokio::task::spawn_blocking(move || ctx.reload())
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match res {
        Ok(report) => Ok(Json(report)),
        Err(e @ crate::reload::ReloadError::NoSource) => {
            Err(ApiError::new(StatusCode::NOT_IMPLEMENTED, e.to_string()))
        }
        Err(e) => Err(ApiError::new(StatusCode::BAD_REQUEST, e.to_string())),
    }
}

/// Every API route, not yet guarded: add new ones here (with `.fallback(method_not_allowed)`).
fn endpoints() -> Router<ControlState> {
    Router::new()
        .route(
            "/api/v1/streams",
            get(list_streams).fallback(method_not_allowed),
        )
        .route(
            "/api/v1/streams/{app}/{stream}",
            get(get_stream).fallback(method_not_allowed),
        )
        .route(
            "/api/v1/streams/{app}/{stream}/record",
            post(start_recording)
                .delete(stop_recording)
                .fallback(method_not_allowed),
        )
        .route(
            "/api/v1/clients",
            get(list_clients).fallback(method_not_allowed),
        )
        .route(
            "/api/v1/clients/{id}",
            get(get_client)
                .delete(kick_client)
                .fallback(method_not_allowed),
        )
        .route("/api/v1/info", get(info).fallback(method_not_allowed))
        .route("/api/v1/reload", post(reload).fallback(method_not_allowed))
        .merge(crate::relay::api::endpoints())
        .merge(crate::cluster::api::endpoints())
        .route("/api/v1/{*rest}", any(no_such_path))
}

/// The API router, behind the access rule.
pub fn routes(state: ControlState) -> Router {
    access::guarded(endpoints(), state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::control::registry::MediaInfo;
    use crate::control::{Role, Transport};
    use serde_json::{json, Value};
    use std::time::{Duration, Instant};
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    #[test]
    fn rfc3339_dates() {
        let at = |ms: u64| rfc3339(UNIX_EPOCH + Duration::from_millis(ms));
        assert_eq!(at(0).as_bytes(), b"1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400_000).as_bytes(), b"2000-02-29T00:00:00.000Z");
        assert_eq!(
            at(1_700_000_000_123).as_bytes(),
            b"2023-11-14T22:13:20.123Z"
        );
        assert_eq!(
            at(4_102_444_799_999).as_bytes(),
            b"2099-12-31T23:59:59.999Z"
        );
        assert_eq!(
            at(1_709_251_199_000).as_bytes(),
            b"2024-02-29T23:59:59.000Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(1)).as_bytes(),
            b"1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn errors_are_json_with_their_status() {
        let r = ApiError::not_found("no client 9").into_response();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
        let body = ErrorBody {
            error: ErrorDetail {
                status: 404,
                message: "no client 9",
            },
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"error":{"status":404,"message":"no client 9"}}"#
        );
    }

    /// One request on a fresh connection: status, head, JSON body (`Value::Null` if not JSON).
    async fn call(addr: SocketAddr, method: &str, path: &str, extra: &str) -> (u16, String, Value) {
        let mut c = TcpStream::connect(addr).await.unwrap();
        let req =
            format!("{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n{extra}\r\n");
        c.write_all(req.as_bytes()).await.unwrap();
        let (status, head, body) = crate::http::tests::read_response(&mut c).await;
        (
            status,
            head,
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        )
    }

    fn settings() -> Settings {
        let mut s = Settings::default();
        s.http.listen = vec!["127.0.0.1:0".into()];
        s
    }

    fn error(status: u16, v: &Value) {
        assert_eq!(v["error"]["status"], status, "{v}");
        assert!(v["error"]["message"].is_string(), "{v}");
    }

    #[tokio::test]
    async fn streams_clients_info_and_kicks() {
        let (ctx, addr) = crate::http::tests::start(settings()).await;
        let publisher =
            ctx.registry
                .add_client(7, "192.0.2.1:5000".parse().unwrap(), Transport::Rtmps);
        publisher.set_state("live", "cam", Role::Publisher);
        let stream = ctx.registry.add_stream("live", "cam", &publisher);
        stream.update_media(|m| {
            *m = MediaInfo {
                video: Some(VideoInfo {
                    codec: "H.264".into(),
                    profile: Some("High".into()),
                    width: Some(1280),
                    height: Some(720),
                    fps: Some(30.0),
                }),
                audio: None,
            }
        });
        let player =
            ctx.registry
                .add_client(8, "[2001:db8::2]:6000".parse().unwrap(), Transport::HttpFlv);
        player.set_state("live", "cam", Role::Player);
        let t0 = Instant::now();
        ctx.registry.sample(t0);
        stream.bytes_in.store(125_000, Ordering::Relaxed);
        stream.players.store(1, Ordering::Relaxed);
        player.store_bytes(0, 250_000);
        ctx.registry.sample(t0 + Duration::from_secs(1));

        let (status, head, v) = call(addr, "GET", "/api/v1/streams", "").await;
        assert_eq!(status, 200, "{head}");
        assert!(head.contains("Content-Type: application/json"), "{head}");
        let since = rfc3339(stream.since);
        let publisher_since = rfc3339(publisher.since);
        let item = json!({
            "app": "live",
            "name": "cam",
            "since": since,
            "publisher": {
                "client_id": 7,
                "ip": "192.0.2.1",
                "port": 5000,
                "transport": "rtmps",
                "since": publisher_since,
            },
            "video": {"codec": "H.264", "profile": "High", "width": 1280, "height": 720, "fps": 30.0},
            "audio": null,
            "bitrate_in": 1_000_000,
            "bitrate_out": 2_000_000,
            "players": 1,
            "bytes_in": 125_000,
            "bytes_out": 250_000,
            "push": [],
            "pull": null,
            "recording": null,
        });
        assert_eq!(v, json!({ "items": [item.clone()] }));
        let (status, _, one) = call(addr, "GET", "/api/v1/streams/live/cam", "").await;
        assert_eq!((status, &one), (200, &item));
        let (status, _, v) = call(addr, "GET", "/api/v1/streams/live/nope", "").await;
        assert_eq!(status, 404);
        error(404, &v);

        let (status, _, v) = call(addr, "GET", "/api/v1/clients", "").await;
        assert_eq!(status, 200);
        let items = v["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[1],
            json!({
                "id": 8,
                "ip": "2001:db8::2",
                "port": 6000,
                "app": "live",
                "stream": "cam",
                "role": "player",
                "transport": "http-flv",
                "bytes_in": 0,
                "bytes_out": 250_000,
                "since": rfc3339(player.since),
            })
        );
        assert_eq!(items[0]["role"], "publisher");
        let (status, _, v) = call(addr, "GET", "/api/v1/clients/7", "").await;
        assert_eq!((status, &v["transport"]), (200, &json!("rtmps")));

        // Bad ids, unknown ids and paths, wrong methods.
        for (method, path, want) in [
            ("GET", "/api/v1/clients/x7", 400),
            ("DELETE", "/api/v1/clients/-1", 400),
            ("DELETE", "/api/v1/clients/99", 404),
            ("GET", "/api/v1/nothing/here", 404),
            ("POST", "/api/v1/streams", 405),
            ("PUT", "/api/v1/clients/8", 405),
        ] {
            let (status, _, v) = call(addr, method, path, "").await;
            assert_eq!(status, want, "{method} {path}");
            error(want, &v);
        }

        // A kick.
        assert!(!player.is_kicked());
        let (status, _, v) = call(addr, "DELETE", "/api/v1/clients/8", "").await;
        assert_eq!((status, v), (200, json!({"kicked": 8})));
        assert!(player.is_kicked());

        let (status, _, v) = call(addr, "GET", "/api/v1/info", "").await;
        assert_eq!(status, 200);
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(
            (v["clients"].clone(), v["streams"].clone()),
            (json!(2), json!(1))
        );
        assert!(v["uptime_secs"].is_u64());
        // A bare context has bound nothing it knows of.
        assert_eq!(
            v["listeners"],
            json!({"rtmp": [], "rtmps": [], "http": [], "https": []})
        );

        let (status, head, _) = call(addr, "GET", "/metrics", "").await;
        assert_eq!(status, 200);
        assert!(
            head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
            "{head}"
        );
        let (status, _, v) = call(addr, "POST", "/metrics", "").await;
        assert_eq!(status, 405);
        error(405, &v);
        ctx.begin_shutdown();
    }

    #[tokio::test]
    async fn a_token_guards_the_api_and_metrics_and_routes_can_be_disabled() {
        let mut s = settings();
        s.api.token = "tok".into();
        let (ctx, addr) = crate::http::tests::start(s).await;
        for path in ["/api/v1/clients", "/metrics", "/api/v1/nothing"] {
            let (status, head, v) = call(addr, "GET", path, "").await;
            assert_eq!(status, 401, "{path}");
            assert!(head.contains("Www-Authenticate: Bearer\r\n"), "{head}");
            error(401, &v);
            let (status, head, _) = call(addr, "GET", path, "Authorization: Bearer nope\r\n").await;
            assert_eq!(status, 401, "{path}");
            assert!(head.contains("invalid_token"), "{head}");
        }
        let (status, _, v) = call(
            addr,
            "GET",
            "/api/v1/clients",
            "Authorization: Bearer tok\r\n",
        )
        .await;
        assert_eq!((status, v), (200, json!({"items": []})));
        let (status, _, _) = call(addr, "GET", "/metrics", "Authorization: Bearer tok\r\n").await;
        assert_eq!(status, 200);
        // A reload changes the token for the next request.
        let mut reloaded = ctx.settings.clone();
        reloaded.api.token = "new".into();
        ctx.live.store(Arc::new(crate::reload::Live::new(reloaded)));
        let (status, _, _) = call(addr, "GET", "/metrics", "Authorization: Bearer tok\r\n").await;
        assert_eq!(status, 401);
        let (status, _, _) = call(addr, "GET", "/metrics", "Authorization: Bearer new\r\n").await;
        assert_eq!(status, 200);
        ctx.begin_shutdown();

        let mut s = settings();
        s.api.enabled = false;
        s.metrics.enabled = false;
        let (ctx, addr) = crate::http::tests::start(s).await;
        for path in ["/api/v1/clients", "/metrics"] {
            let (status, _, v) = call(addr, "GET", path, "").await;
            assert_eq!((status, v), (404, Value::Null), "{path}");
        }
        ctx.begin_shutdown();
    }
}
