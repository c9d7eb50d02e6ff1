//! HLS and Low-Latency HLS (RFC 8216bis) over HTTP, from memory: the HTTP side of
//! [`sluice_mux::hls`]. This module only serves what the stream's session
//! ([`super::hls_session`]) holds.
//!
//! Routes (docs/API.md, "HLS"):
//! - `GET /{app}/{stream}.m3u8` — the media playlist, dispatched from the media route of
//!   [`super::flv`] (axum has one `/{app}/{file}` pattern). `_HLS_msn=M[&_HLS_part=P]` is a
//!   blocking reload (§6.2.5.2): answered when segment M (part P) exists, `400` when it is too
//!   far ahead, and after `http.hls_block_max_ms` with the playlist as it is. `_HLS_skip=YES`
//!   asks for a delta update (§6.2.5.1).
//! - `GET /{app}/{stream}/hls/{tag}-{name}` — `init{N}.mp4`, `seg{M}.m4s`, `part{M}.{P}.m4s`
//!   (relative URIs of the playlist: `{stream}/hls/...`). A part that does not exist yet but
//!   may (the preload hint) is waited for, at most `http.hls_block_max_ms`.
//!
//! Access: every request goes through [`decide_play`] (transport `hls`) with its query
//! string; the playlist carries its query (without the `_HLS_` parameters) into every URI it
//! lists, so a signed URL (`?expires=…&token=…`) covers the segments. A client polls several
//! times a second, so the decisions are cached per (app, stream, query, client address) for
//! [`DECISION_TTL`]: the `on_play` hook is called at most that often per client, and a token
//! that expires is still honoured for up to that long. HLS clients never get `on_stop` (HLS has
//! no end of play) and are not entries of the client registry; their sessions are logged.
//!
//! Headers: `Content-Type` `application/vnd.apple.mpegurl` or `video/mp4`; `Cache-Control`
//! `max-age=31536000, immutable` on init segments, segments and parts (a URI never changes
//! content: each session has its own tag), `no-cache` on playlists, except answers to a
//! blocking reload that found what it asked for (`max-age` of six target durations, what a CDN
//! may keep since the URI names that state). CORS as on the other media routes.

use super::hls_session::{Session, Sessions};
use super::live::{decide_play, MediaTransport, PlayDenied, PlayRequest, MAX_NAME_LEN};
use crate::Context;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use sluice_mux::hls::{Blocking, PartLookup, RenderOptions, Resource};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::time::Instant;
use tracing::debug;

/// How long an access decision is reused for the same client and query.
pub const DECISION_TTL: Duration = Duration::from_secs(10);
/// Most cached decisions; beyond, expired ones are dropped (then all).
const DECISION_CACHE_MAX: usize = 100_000;
/// How long a first playlist request waits for the stream's first complete segment.
const FIRST_SEGMENT_WAIT: Duration = Duration::from_secs(10);

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const IMMUTABLE: &str = "max-age=31536000, immutable";

/// State of the HLS routes.
#[derive(Debug, Clone)]
pub struct HlsState {
    /// The server.
    pub ctx: Weak<Context>,
    /// The sessions.
    pub sessions: Arc<Sessions>,
    decisions: Arc<Mutex<HashMap<DecisionKey, (String, Instant)>>>,
}

type DecisionKey = (String, String, String, IpAddr);

impl HlsState {
    /// The HLS state of a server.
    pub fn new(ctx: &Arc<Context>) -> HlsState {
        let cfg = super::hls_session::HlsSettings::from_settings(&ctx.settings.http);
        HlsState {
            ctx: Arc::downgrade(ctx),
            sessions: Sessions::new(ctx, cfg),
            decisions: Arc::default(),
        }
    }

    /// The access decision for a request (cached, see the module docs): the stream name to
    /// serve.
    async fn decide(
        &self,
        app: &str,
        stream: &str,
        query: &str,
        peer: SocketAddr,
    ) -> Result<String, Response> {
        let key = (
            app.to_owned(),
            stream.to_owned(),
            query.to_owned(),
            peer.ip(),
        );
        let now = Instant::now();
        if let Some((name, at)) = self.lock_decisions().get(&key) {
            if now < *at + DECISION_TTL {
                return Ok(name.clone());
            }
        }
        let ctx = self.ctx.upgrade().ok_or_else(unavailable)?;
        let req = PlayRequest {
            app: app.to_owned(),
            stream: stream.to_owned(),
            query: (!query.is_empty()).then(|| query.to_owned()),
            peer,
            transport: MediaTransport::Hls,
        };
        let id = ctx.next_connection_id();
        let name = decide_play(&ctx, &req, id)
            .await
            .map_err(|PlayDenied { status, reason }| text(status, &reason))?;
        let mut d = self.lock_decisions();
        if d.len() >= DECISION_CACHE_MAX {
            d.retain(|_, (_, at)| now < *at + DECISION_TTL);
            if d.len() >= DECISION_CACHE_MAX {
                d.clear();
            }
        }
        d.insert(key, (name.clone(), now));
        Ok(name)
    }

    fn lock_decisions(&self) -> std::sync::MutexGuard<'_, HashMap<DecisionKey, (String, Instant)>> {
        self.decisions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The resource routes (`/{app}/{stream}/hls/{name}`), with CORS for `origins`.
pub fn routes(state: HlsState, origins: &[String]) -> Router {
    Router::new()
        .route(
            "/{app}/{stream}/hls/{name}",
            get(resource).fallback(|| async { StatusCode::NOT_FOUND }),
        )
        .layer(super::cors::media_cors(origins))
        .with_state(state)
}

fn text(status: StatusCode, body: &str) -> Response {
    let mut r = (status, format!("{body}\n")).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

fn unavailable() -> Response {
    text(StatusCode::SERVICE_UNAVAILABLE, "server is shutting down")
}

fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "no such HLS resource")
}

fn media(data: Bytes) -> Response {
    let mut r = Response::new(axum::body::Body::from(data));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    r
}

/// The query of a playlist request, split into the blocking-reload parameters and the rest
/// (carried into every URI).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PlaylistQuery {
    /// `_HLS_msn`.
    pub msn: Option<u64>,
    /// `_HLS_part`.
    pub part: Option<u64>,
    /// `_HLS_skip=YES`.
    pub skip: bool,
    /// Every other parameter, in order, as received.
    pub rest: String,
    /// An `_HLS_` parameter that does not parse, or `_HLS_part` without `_HLS_msn`.
    pub invalid: bool,
}

impl PlaylistQuery {
    /// Parses a raw query string.
    pub fn parse(query: Option<&str>) -> PlaylistQuery {
        let mut q = PlaylistQuery::default();
        let mut rest = Vec::new();
        for kv in query.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            match k {
                "_HLS_msn" => {
                    q.msn = v.parse().ok().or_else(|| {
                        q.invalid = true;
                        None
                    })
                }
                "_HLS_part" => {
                    q.part = v.parse().ok().or_else(|| {
                        q.invalid = true;
                        None
                    })
                }
                "_HLS_skip" => q.skip = v == "YES",
                k if k.starts_with("_HLS_") => {}
                _ => rest.push(kv),
            }
        }
        q.invalid |= q.part.is_some() && q.msn.is_none();
        q.rest = rest.join("&");
        q
    }
}

/// `s` with every byte outside RFC 3986 "unreserved" percent-encoded (a path segment).
fn encode_segment(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            o.push(char::from(b));
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// The session of a stream that may be served: started when the stream is live (or a
/// publisher is awaited), so requests for unknown names create nothing.
async fn session_for(state: &HlsState, app: &str, stream: &str) -> Result<Arc<Session>, Response> {
    if let Some(s) = state.sessions.get(app, stream) {
        return Ok(s);
    }
    let ctx = state.ctx.upgrade().ok_or_else(unavailable)?;
    let wait = state.sessions.cfg.publish_wait;
    let deadline = Instant::now() + wait;
    if !ctx.hub.is_live(app, stream) {
        // A pull relay (a `[[relay.pull]]` rule, or the node that owns it in a cluster) may
        // bring it here; the session then joins it like any other player.
        if let Some(pull) = ctx.relays.pull(&ctx, app, stream) {
            let _ = tokio::time::timeout(wait, pull).await;
        }
    }
    while !ctx.hub.is_live(app, stream) {
        if Instant::now() >= deadline {
            return Err(text(
                StatusCode::NOT_FOUND,
                &format!("stream {app}/{stream} is not being published"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50).min(wait)).await;
    }
    state
        .sessions
        .get_or_start(app, stream)
        .ok_or_else(unavailable)
}

/// `GET /{app}/{stream}.m3u8` (dispatched from the media route).
pub(crate) async fn playlist(
    state: &HlsState,
    app: String,
    stream: String,
    query: Option<String>,
    peer: SocketAddr,
) -> Response {
    if stream.is_empty() || stream.len() > MAX_NAME_LEN || app.len() > MAX_NAME_LEN {
        return not_found();
    }
    let q = PlaylistQuery::parse(query.as_deref());
    if q.invalid {
        return text(StatusCode::BAD_REQUEST, "invalid _HLS_msn or _HLS_part");
    }
    let name = match state.decide(&app, &stream, &q.rest, peer).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let session = match session_for(state, &app, &name).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    session.touch();
    let cfg = state.sessions.cfg;
    // A new session has no segment yet: wait for the first (its GOP from the hub's cache).
    let first = Instant::now() + FIRST_SEGMENT_WAIT;
    let has_segment = session
        .wait_for(first, |s| s.playlist().last_complete().is_some())
        .await;
    if !has_segment && !session.is_live() {
        return text(
            StatusCode::NOT_FOUND,
            &format!("stream {app}/{stream} is not being published"),
        );
    }
    let mut cache = "no-cache".to_owned();
    if let Some(msn) = q.msn {
        let deadline = Instant::now() + cfg.block_max;
        let mut rejected = false;
        let ready = session
            .wait_for(deadline, |s| match s.playlist().blocking(msn, q.part) {
                Blocking::Ready => true,
                Blocking::Wait => false,
                Blocking::Reject => {
                    rejected = true;
                    true
                }
            })
            .await;
        if rejected {
            return text(
                StatusCode::BAD_REQUEST,
                "_HLS_msn/_HLS_part too far ahead of the playlist (RFC 8216bis 6.2.5.2)",
            );
        }
        if ready {
            let td = session.lock().playlist().target_duration();
            cache = format!("max-age={}", 6 * td);
        }
    }
    let prefix = format!("{}/hls/{}-", encode_segment(&stream), session.tag);
    let body = session.lock().playlist().render(&RenderOptions {
        prefix: &prefix,
        query: Some(&q.rest),
        skip: q.skip,
    });
    let mut r = Response::new(axum::body::Body::from(body));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PLAYLIST_TYPE),
    );
    if let Ok(v) = HeaderValue::from_str(&cache) {
        h.insert(header::CACHE_CONTROL, v);
    }
    r
}

/// `GET /{app}/{stream}/hls/{tag}-{name}`.
async fn resource(
    State(state): State<HlsState>,
    Path((app, stream, file)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    let q = PlaylistQuery::parse(query.as_deref());
    let name = match state.decide(&app, &stream, &q.rest, peer).await {
        Ok(n) => n,
        Err(r) => return r,
    };
    let Some(session) = state.sessions.get(&app, &name) else {
        return not_found();
    };
    let Some(res) = file
        .strip_prefix(session.tag.as_str())
        .and_then(|f| f.strip_prefix('-'))
        .and_then(Resource::parse)
    else {
        return not_found();
    };
    session.touch();
    let found = match res {
        Resource::Init(id) => session.lock().playlist().init(id),
        Resource::Segment(msn) => session.lock().playlist().segment(msn),
        Resource::Part(msn, i) => {
            let deadline = Instant::now() + state.sessions.cfg.block_max;
            let mut found = None;
            session
                .wait_for(deadline, |s| match s.playlist().part(msn, i) {
                    PartLookup::Ready(b) => {
                        found = Some(b);
                        true
                    }
                    PartLookup::Pending => false,
                    PartLookup::Missing => true,
                })
                .await;
            found
        }
    };
    match found {
        Some(data) => media(data),
        None => {
            debug!(peer = %peer, app = %app, stream = %stream, file = %file, "HLS: no such resource");
            not_found()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlist_query() {
        let q = PlaylistQuery::parse(Some(
            "expires=5&_HLS_msn=12&token=ab&_HLS_part=3&_HLS_skip=YES",
        ));
        assert_eq!(
            q,
            PlaylistQuery {
                msn: Some(12),
                part: Some(3),
                skip: true,
                rest: "expires=5&token=ab".into(),
                invalid: false,
            }
        );
        assert!(PlaylistQuery::parse(Some("_HLS_part=1")).invalid);
        assert!(PlaylistQuery::parse(Some("_HLS_msn=x")).invalid);
        assert_eq!(PlaylistQuery::parse(None), PlaylistQuery::default());
    }

    #[test]
    fn uri_segments_are_encoded() {
        assert_eq!(encode_segment("cam-1_a.b~"), "cam-1_a.b~");
        assert_eq!(encode_segment("a b/ü"), "a%20b%2F%C3%BC");
    }
}
