//! `[api]` and `[metrics]`: who may use the JSON API and `/metrics`, and how many per-stream
//! series a scrape carries.

use serde::{Deserialize, Serialize};

/// `[api]`: the JSON API under `/api/v1/` on the HTTP listeners.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSection {
    /// Serve the API at all. Default true.
    pub enabled: bool,
    /// Empty (the default): the API answers loopback clients only (127.0.0.0/8, ::1).
    /// Set: any client presenting `Authorization: Bearer <token>` may use it (loopback too
    /// must present it then).
    pub token: String,
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            enabled: true,
            token: String::new(),
        }
    }
}

/// `[metrics]`: Prometheus metrics at `/metrics` (same access rule as the API).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSection {
    /// Serve `/metrics`. Default true.
    pub enabled: bool,
    /// Most streams with their own `sluice_stream_*` series in one scrape; the rest are
    /// counted in `sluice_stream_series_omitted`. Default 1000.
    pub max_stream_series: usize,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            enabled: true,
            max_stream_series: super::metrics::DEFAULT_MAX_STREAM_SERIES,
        }
    }
}
