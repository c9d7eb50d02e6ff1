//! `GET /metrics`: the Prometheus text exposition format 0.0.4 of [`crate::control::Metrics`],
//! behind the same access rule as the API ([`super::access`]). `metrics.max_stream_series`
//! bounds the per-stream series of one scrape.

use super::access;
use super::api::{method_not_allowed, ApiError, ControlState};
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn scrape(State(state): State<ControlState>) -> Result<Response, ApiError> {
    let ctx = state.ctx()?;
    // The live settings: `metrics.max_stream_series` changes on reload.
    let max_series = ctx.live.load().settings.metrics.max_stream_series;
    let mut body = ctx.metrics.render(&ctx.registry, max_series);
    body.push_str(&crate::relay::api::render_metrics(&ctx.relays));
    body.push_str(&crate::load::render_metrics(&ctx.load));
    body.push_str(&crate::cluster::api::render_metrics(&ctx.cluster));
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(r)
}

/// The `/metrics` router, behind the access rule.
pub fn routes(state: ControlState) -> Router {
    let r = Router::new().route("/metrics", get(scrape).fallback(method_not_allowed));
    access::guarded(r, state)
}
