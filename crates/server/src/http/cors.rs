//! CORS for the media routes (Fetch standard, "CORS protocol"): browsers play HTTP-FLV with
//! `fetch()` from pages of other origins (mpegts.js, flv.js), so every media response carries
//! `Access-Control-Allow-Origin` and preflight requests (`OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`) are answered by the layer, before any route runs.
//!
//! Origins come from `http.cors_origins`: `"*"` (the default) allows any origin and answers
//! `Access-Control-Allow-Origin: *`; a list answers with the request's origin when it is listed
//! (with `Vary: Origin`) and with no CORS headers otherwise. No credentials are allowed: media
//! routes take their tokens in the query string.

use axum::http::{HeaderValue, Method};
use std::time::Duration;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

/// How long a browser may cache a preflight answer (`Access-Control-Max-Age`).
pub const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The CORS layer of the media routes for these origins (see the module docs). Origins that are
/// not valid header values are skipped (`Settings::validate` refuses them first).
pub fn media_cors(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .allow_headers(Any)
        .max_age(PREFLIGHT_MAX_AGE)
}
