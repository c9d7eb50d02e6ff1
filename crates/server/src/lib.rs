//! Sluice's tokio RTMP server: listeners, the connection driver, and the stream hub that fans media out
//! from one publisher to many players.
//!
//! The protocol itself lives in the sans-IO `sluice-rtmp` crate; this crate adds the I/O and the shared
//! state between connections:
//! - [`server`]: listeners (RTMP and RTMPS), accept loop, graceful shutdown;
//! - [`proxy`]: the RTMP 0xF3 and HAProxy PROXY v1/v2 headers from trusted proxies;
//! - [`tls`]: the certificate and key for RTMPS (and RTMPT over TLS);
//! - [`driver`]: one task per connection over any async byte stream, session events to hub
//!   operations and hub events to player messages, batched vectored writes;
//! - [`http`]: the HTTP listener and its routers (RTMPT, HTTP-FLV, WebSocket-FLV);
//! - [`relay`]: push relays (restreaming to other servers) and pull relays (edge pulls);
//! - [`hub`]: the publisher/player fan-out (stream registry, sequence-header, metadata and GOP
//!   caches, and the per-player backlog policy for slow players);
//! - [`cluster`]: nodes sharing a registry (Redis) of who publishes what; edges pull from owners;
//! - [`record`]: recordings (DVR), a hub sink writing FLV or fragmented MP4 files;
//! - [`load`]: the load rule of the latency budget (hold media longer when the CPU is busy);
//! - [`config`]: settings with documented defaults, TOML and environment overrides;
//! - `sockopt`: the receive low watermark (`SO_RCVLOWAT`), the workspace's only `unsafe` code.

pub mod app;
pub mod cluster;
pub mod config;
pub mod control;
pub mod driver;
pub mod http;
pub mod hub;
pub mod load;
pub mod log_throttle;
pub mod proxy;
pub mod record;
pub mod relay;
pub mod reload;
pub mod rtmfp;
pub mod rtmpt;
pub mod server;
pub mod shared_objects;
mod sockopt;
pub mod timestamps;
pub mod tls;
pub mod vod;

pub use config::Settings;
pub use server::{Server, ServerError};

/// State shared by every connection of a server.
pub struct Context {
    /// Settings in force.
    pub settings: Settings,
    /// The settings new connections and requests read (replaced on reload; `settings` stays
    /// as started, for what needs a restart).
    pub live: arc_swap::ArcSwap<reload::Live>,
    /// How to read the settings again on reload.
    loader: std::sync::Mutex<Option<reload::Loader>>,
    /// The stream hub.
    pub hub: hub::Hub,
    /// Remote shared objects of every application.
    pub shared_objects: shared_objects::SharedObjects,
    next_id: std::sync::atomic::AtomicU64,
    /// Every client and live stream (for the API, metrics and kicks).
    pub registry: control::Registry,
    /// Prometheus metrics.
    pub metrics: std::sync::Arc<control::Metrics>,
    /// The decision chain in force (replaced whole on reload).
    pub app: arc_swap::ArcSwap<app::App>,
    /// The addresses bound, by kind (set by [`Server::bind`]; empty in a bare context).
    pub listeners: std::sync::OnceLock<http::api::Listeners>,
    /// Push and pull relays.
    pub relays: relay::Relays,
    /// The cluster registry and this node's claims (in-memory when there is no `[cluster]`).
    pub cluster: std::sync::Arc<cluster::Cluster>,
    /// Recordings in progress (and failed ones while their stream is live).
    pub recorders: record::Recorders,
    /// Summarises repeated warnings (`log.repeat_limit`).
    pub log_throttle: log_throttle::LogThrottle,
    /// The load rule's current hold (`server.adaptive_batching`), read by every publisher.
    pub load: std::sync::Arc<load::Governor>,
    /// Flips to true when the server shuts down.
    pub shutdown: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("settings", &self.settings)
            .field("hub", &self.hub)
            .finish_non_exhaustive()
    }
}
