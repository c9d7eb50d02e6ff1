//! The relay part of the JSON API (docs/API.md, docs/RELAY.md): push targets of a live stream,
//! shown in its `GET /api/v1/streams` item (`push`, `pull`), added and removed while live:
//!
//! - `POST /api/v1/streams/{app}/{stream}/push` with `{"url": "rtmps://…/key"}` → `201`
//!   `{"id": 3}`; `400` for a body or URL that does not do, `404` when the stream is not live,
//!   `409` when it has `relay.max_push_per_stream` targets already;
//! - `DELETE /api/v1/streams/{app}/{stream}/push/{id}` → `{"removed": 3}`, `404` if no such
//!   target.
//!
//! Also `/metrics`' relay families ([`render_metrics`]).

use super::{PushTarget, Relays};
use crate::http::api::{rfc3339, ApiError, ControlState, Json};
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, post};
use axum::Router;
use serde::Serialize;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

/// Longest request body read (a URL and some JSON).
const MAX_BODY: usize = 8 * 1024;

/// One push target as the API shows it (the URL redacted: `scheme://host[:port]/app`).
#[derive(Debug, Serialize, PartialEq)]
pub struct PushItem {
    /// Its id (for `DELETE …/push/{id}`).
    pub id: u64,
    /// The target, without its stream name and query (where keys live).
    pub target: String,
    /// `config`, `hook` or `api`.
    pub origin: &'static str,
    /// `connecting`, `live` or `backoff`.
    pub state: &'static str,
    /// Since when it is in that state (RFC 3339).
    pub since: String,
    /// The last failure (scrubbed of the key), `null` while none or once live again.
    pub last_error: Option<String>,
    /// Bytes sent to it, over every connection.
    pub bytes: u64,
    /// Successful publishes to it.
    pub connects: u64,
    /// Failed attempts.
    pub failures: u64,
    /// Video frames dropped because it was slow.
    pub dropped_frames: u64,
}

impl From<&PushTarget> for PushItem {
    fn from(t: &PushTarget) -> PushItem {
        let s = t.status();
        PushItem {
            id: t.id,
            target: t.shown.clone(),
            origin: t.origin.as_str(),
            state: s.state.as_str(),
            since: rfc3339(s.since),
            last_error: s.last_error,
            bytes: t.bytes.load(Ordering::Relaxed),
            connects: s.connects,
            failures: s.failures,
            dropped_frames: t.dropped.load(Ordering::Relaxed),
        }
    }
}

/// Where a pulled stream comes from.
#[derive(Debug, Serialize, PartialEq)]
pub struct PullItem {
    /// The upstream (redacted like push targets).
    pub upstream: String,
    /// Since when it is pulled (RFC 3339).
    pub since: String,
}

impl Relays {
    /// The API items of `app`/`stream`'s push targets.
    pub fn push_items(&self, app: &str, stream: &str) -> Vec<PushItem> {
        self.pushes(app, stream)
            .iter()
            .map(|t| PushItem::from(&**t))
            .collect()
    }

    /// The API item of `app`/`stream`'s pull, when it is pulled.
    pub fn pull_item(&self, app: &str, stream: &str) -> Option<PullItem> {
        self.pulled_from(app, stream)
            .map(|(upstream, since)| PullItem {
                upstream,
                since: rfc3339(since),
            })
    }
}

#[derive(Serialize)]
struct Added {
    id: u64,
}

#[derive(Serialize)]
struct Removed {
    removed: u64,
}

async fn add_push(
    State(state): State<ControlState>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let Path((app, stream)) = path?;
    let ctx = state.ctx()?;
    let bad = |m: &str| ApiError::new(StatusCode::BAD_REQUEST, m);
    if body.len() > MAX_BODY {
        return Err(bad("the body is too large"));
    }
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|_| bad("the body must be JSON: {\"url\": \"rtmp://host/app/key\"}"))?;
    let url = v
        .get("url")
        .and_then(|u| u.as_str())
        .ok_or_else(|| bad("the body must have a string `url`"))?;
    match ctx.relays.add_push(&ctx, &app, &stream, url) {
        Ok(id) => {
            tracing::info!(app, stream, id, target = %super::target::redact_str(url), "push target added through the API");
            Ok((StatusCode::CREATED, Json(Added { id })))
        }
        Err(e @ super::AddPushError::NotLive(..)) => Err(ApiError::not_found(e.to_string())),
        Err(e @ super::AddPushError::TooMany(_)) => {
            Err(ApiError::new(StatusCode::CONFLICT, e.to_string()))
        }
        Err(e) => Err(bad(&e.to_string())),
    }
}

async fn remove_push(
    State(state): State<ControlState>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Json<Removed>, ApiError> {
    let Path((app, stream, raw)) = path?;
    let ctx = state.ctx()?;
    let id: u64 = raw.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("push id {raw:?} is not a number"),
        )
    })?;
    if ctx.relays.remove_push(&app, &stream, id) {
        Ok(Json(Removed { removed: id }))
    } else {
        Err(ApiError::not_found(format!(
            "no push target {id} on {app}/{stream}"
        )))
    }
}

/// The relay routes (merged into the API's [`endpoints`](crate::http::api)).
pub fn endpoints() -> Router<ControlState> {
    Router::new()
        .route(
            "/api/v1/streams/{app}/{stream}/push",
            post(add_push).fallback(crate::http::api::method_not_allowed),
        )
        .route(
            "/api/v1/streams/{app}/{stream}/push/{id}",
            delete(remove_push).fallback(crate::http::api::method_not_allowed),
        )
}

/// The `sluice_relay_*` families in the text exposition format, appended to `/metrics`.
/// Per-target series are labelled `app`, `stream`, `id` and the redacted `target`; they exist
/// while the stream is live, so their number is bounded by `relay.max_push_per_stream` per
/// live stream.
pub fn render_metrics(relays: &Relays) -> String {
    let pushes = relays.all_pushes();
    let mut out = String::new();
    let mut family =
        |name: &str, kind: &str, help: &str, rows: &mut dyn Iterator<Item = String>| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for r in rows {
                let _ = writeln!(out, "{name}{r}");
            }
        };
    let label = |(app, stream): &(String, String), t: &PushTarget| {
        format!(
            "{{app=\"{}\",stream=\"{}\",id=\"{}\",target=\"{}\"}}",
            escape(app),
            escape(stream),
            t.id,
            escape(&t.shown)
        )
    };
    let states = ["connecting", "live", "backoff"];
    family(
        "sluice_relay_push_targets",
        "gauge",
        "Push targets of live streams, by state.",
        &mut states.iter().map(|s| {
            let n = pushes
                .iter()
                .filter(|(_, t)| t.status().state.as_str() == *s)
                .count();
            format!("{{state=\"{s}\"}} {n}")
        }),
    );
    family(
        "sluice_relay_push_up",
        "gauge",
        "1 while the push target is live, 0 while connecting or backing off.",
        &mut pushes.iter().map(|(k, t)| {
            let up = u8::from(t.status().state == super::PushState::Live);
            format!("{} {up}", label(k, t))
        }),
    );
    family(
        "sluice_relay_push_sent_bytes_total",
        "counter",
        "Bytes sent to the push target, over all its connections.",
        &mut pushes
            .iter()
            .map(|(k, t)| format!("{} {}", label(k, t), t.bytes.load(Ordering::Relaxed))),
    );
    family(
        "sluice_relay_push_failures_total",
        "counter",
        "Failed attempts to connect to or feed the push target.",
        &mut pushes
            .iter()
            .map(|(k, t)| format!("{} {}", label(k, t), t.status().failures)),
    );
    family(
        "sluice_relay_push_dropped_frames_total",
        "counter",
        "Video frames dropped for the push target because it was slow.",
        &mut pushes
            .iter()
            .map(|(k, t)| format!("{} {}", label(k, t), t.dropped.load(Ordering::Relaxed))),
    );
    family(
        "sluice_relay_pulls",
        "gauge",
        "Streams being pulled from an upstream (starting or live).",
        &mut std::iter::once(format!(" {}", relays.pull_count())),
    );
    out
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
