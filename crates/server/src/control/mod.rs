//! The control plane: what the server knows about its connections and streams (the
//! [`registry`]), the counters and gauges it exports ([`metrics`]). Settings that change without a restart are
//! in `crate::reload`. The JSON API (`http/api.rs`) and `/metrics` (`http/metrics.rs`)
//! read from here; connection drivers write to it.

pub mod config;
pub mod metrics;
pub mod registry;

pub use metrics::Metrics;
pub use registry::{ClientEntry, ClientGuard, Registry, Role, StreamEntry, StreamGuard, Transport};
