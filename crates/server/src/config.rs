//! Server settings: everything `sluice serve` can be told, with the defaults it runs with when it
//! is told nothing. The TOML layout mirrors these structs one table per struct; the sample
//! `sluice.toml` at the repository root lists every key with its default.
//!
//! Environment variables override the file: `SLUICE_<TABLE>_<KEY>` in upper case, e.g.
//! `SLUICE_SERVER_CHUNK_SIZE=8192` or `SLUICE_HUB_GOP_CACHE=false`; list values are
//! comma-separated (`SLUICE_SERVER_LISTEN=0.0.0.0:1935,[::]:1935`).

use crate::hub::HubConfig;
use serde::{Deserialize, Serialize};
use sluice_amf::AmfLimits;
use sluice_rtmp::chunk::ChunkLimits;
use sluice_rtmp::session::ServerConfig;
use std::time::Duration;

mod validate;

/// All settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Listeners and per-connection behaviour.
    pub server: ServerSection,
    /// Limits on what a peer controls.
    pub limits: LimitsSection,
    /// Stream hub: caches and slow-player policy.
    pub hub: HubSection,
    /// TLS (RTMPS, and RTMPT over TLS).
    pub tls: TlsSection,
    /// HTTP listener (RTMPT, HTTP-FLV, WebSocket-FLV; later the API).
    pub http: HttpSection,
    /// Proxy protocols (RTMP 0xF3 header, HAProxy PROXY v1/v2).
    pub proxy: ProxySection,
    /// Logging.
    pub log: LogSection,
    /// Who may publish and play.
    pub access: crate::app::config::AccessSection,
    /// HTTP hooks.
    pub hooks: crate::app::config::HooksSection,
    /// The JSON API.
    pub api: crate::control::config::ApiSection,
    /// Prometheus metrics.
    pub metrics: crate::control::config::MetricsSection,
    /// Push and pull relays.
    pub relay: crate::relay::RelaySection,
    /// Recordings (DVR).
    pub record: crate::record::RecordSection,
    /// RTMP over RTMFP (UDP).
    pub rtmfp: crate::rtmfp::RtmfpSection,
    /// The cluster registry (Redis) and this node's identity in it.
    pub cluster: crate::cluster::ClusterSection,
    /// VOD over RTMP (stored files played by apps).
    pub vod: crate::vod::VodSection,
}

/// The most any latency setting may hold media (ms): beyond a second a player's buffer, not
/// the server, is the place to wait.
pub const MAX_HOLD_MS: u64 = 1000;

/// `[server]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// RTMP listen addresses. Default `["0.0.0.0:1935"]`.
    pub listen: Vec<String>,
    /// Chunk size we send with (announced after connect). Default 4096.
    pub chunk_size: u32,
    /// Window Acknowledgement Size announced to clients. Default 2 500 000.
    pub window_ack_size: u32,
    /// Seconds a client has to complete the handshake and connect. Default 10.
    pub handshake_timeout_secs: u64,
    /// Seconds without any byte from a client before it is considered dead. Default 60.
    pub idle_timeout_secs: u64,
    /// Seconds between Ping Requests to idle peers (0 = never). Default 15.
    pub ping_interval_secs: u64,
    /// Most simultaneous connections; more are refused at accept. Default 10000.
    pub max_connections: usize,
    /// How a publisher's frames are batched for its players. A batch ends at each video frame
    /// (so pictures are never held back) or after this many milliseconds, whichever comes first;
    /// each player then writes the whole batch with one vectored write. Audio may wait up to this
    /// long for the next video frame. 0 = hand every frame on at once (lowest latency, more
    /// system calls per player). Default 40.
    pub fanout_batch_ms: u64,
    /// Plain-TCP players are written to from the publisher's task when their socket has room,
    /// instead of waking each player's task per batch (TLS, RTMPT and proxied-with-prefix
    /// connections always use their own task). Default true.
    pub direct_write: bool,
    /// A plain-TCP publisher whose streams have no players is read at most once per this many
    /// milliseconds (unless a read fills the buffer): fewer, larger reads and wake-ups, as nobody
    /// is waiting for the data (it still reaches the GOP cache). The first player to arrive may
    /// see the stream this much late at first. 0 = read as soon as data arrives. Default 100.
    pub unwatched_read_ms: u64,
    /// The latency budget: how many milliseconds the server may hold a stream's media to merge
    /// it into fewer, larger writes to each player (see docs/CAPACITY.md). 0 = every video frame
    /// goes out at once, with the audio before it (`fanout_batch_ms`). Up to 1000. Default 0.
    pub latency_budget_ms: u64,
    /// Merge more when the server nears its CPU capacity: the load rule of docs/CAPACITY.md may
    /// hold media longer than the budget, up to `overload_max_ms`. Default true.
    pub adaptive_batching: bool,
    /// The most the load rule holds media, in milliseconds (it never lowers a larger budget).
    /// Up to 1000. Default 200.
    pub overload_max_ms: u64,
    /// Per-app settings (`[[server.app]]`); the first entry whose `app` glob matches applies.
    pub app: Vec<AppSettings>,
}

/// `[[server.app]]`: settings of the apps whose name matches `app`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppSettings {
    /// App name glob (`*` matches any run of characters).
    pub app: String,
    /// The latency budget of these apps' streams (see `latency_budget_ms`).
    pub latency_budget_ms: u64,
}

impl ServerSection {
    /// The latency budget of `app`'s streams: its `[[server.app]]` entry's, else the global one.
    pub fn latency_budget(&self, app: &str) -> std::time::Duration {
        let ms = self
            .app
            .iter()
            .find(|a| crate::app::rules::glob_match(&a.app, app))
            .map_or(self.latency_budget_ms, |a| a.latency_budget_ms);
        std::time::Duration::from_millis(ms)
    }
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: vec!["0.0.0.0:1935".into()],
            chunk_size: 4096,
            window_ack_size: 2_500_000,
            handshake_timeout_secs: 10,
            idle_timeout_secs: 60,
            ping_interval_secs: 15,
            max_connections: 10_000,
            fanout_batch_ms: 40,
            direct_write: true,
            unwatched_read_ms: 100,
            latency_budget_ms: 0,
            adaptive_batching: true,
            overload_max_ms: 200,
            app: Vec::new(),
        }
    }
}

/// `[limits]`: every size or count a peer controls.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSection {
    /// Largest Set Chunk Size accepted from a peer.
    pub max_chunk_size: u32,
    /// Largest message accepted, bytes.
    pub max_message_size: u32,
    /// Most chunk streams a peer may use at once.
    pub max_chunk_streams: usize,
    /// Most bytes of partly received messages buffered per connection.
    pub max_buffered_bytes: usize,
    /// Most message streams (createStream) per connection.
    pub max_streams_per_connection: u32,
    /// Deepest AMF nesting accepted in commands and metadata.
    pub amf_max_depth: usize,
    /// Bytes of media a publisher may send on a stream whose publish awaits its decision (a
    /// hook's round trip); held and delivered once allowed, and the connection closes past it.
    pub max_held_publish_bytes: usize,
}

impl Default for LimitsSection {
    fn default() -> Self {
        let c = ChunkLimits::default();
        let a = AmfLimits::default();
        LimitsSection {
            max_held_publish_bytes: ServerConfig::default().max_held_publish_bytes,
            max_chunk_size: c.max_chunk_size,
            max_message_size: c.max_message_size,
            max_chunk_streams: c.max_chunk_streams,
            max_buffered_bytes: c.max_buffered_bytes,
            max_streams_per_connection: ServerConfig::default().max_streams,
            amf_max_depth: a.max_depth,
        }
    }
}

/// `[hub]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HubSection {
    /// Keep the latest GOP so new players start at once on a keyframe. Default true.
    pub gop_cache: bool,
    /// Keep the GOP of streams that have no player too (false: only while watched, so an
    /// ingest server holds no media for unwatched streams). Default true.
    pub gop_cache_unwatched: bool,
    /// Most frames in the GOP cache.
    pub gop_cache_max_frames: usize,
    /// Most bytes in the GOP cache.
    pub gop_cache_max_bytes: usize,
    /// Bytes a player may lag behind before its video is dropped until the next keyframe.
    pub player_queue_max_bytes: usize,
    /// Frames a player may lag behind before its video is dropped until the next keyframe.
    pub player_queue_max_frames: usize,
    /// Milliseconds a player may fall behind the live edge before it restarts there (next
    /// keyframe); also how long each watched stream keeps its messages.
    pub player_max_delay_ms: u64,
    /// Seconds a player may stay behind before it is disconnected.
    pub slow_player_timeout_secs: u64,
}

impl Default for HubSection {
    fn default() -> Self {
        let h = HubConfig::default();
        HubSection {
            gop_cache: h.gop_cache,
            gop_cache_unwatched: h.gop_cache_unwatched,
            gop_cache_max_frames: h.gop_cache_max_frames,
            gop_cache_max_bytes: h.gop_cache_max_bytes,
            player_queue_max_bytes: h.player_queue_max_bytes,
            player_queue_max_frames: h.player_queue_max_frames,
            player_max_delay_ms: h.player_max_delay.as_millis() as u64,
            slow_player_timeout_secs: h.slow_player_timeout.as_secs(),
        }
    }
}

/// `[tls]`: certificate and listeners for RTMPS.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSection {
    /// RTMPS listen addresses (TLS, then RTMP). Default none. Needs `cert` and `key`.
    pub rtmps_listen: Vec<String>,
    /// HTTPS listen addresses for RTMPT over TLS (rtmpts://). Default none.
    pub https_listen: Vec<String>,
    /// PEM certificate chain file. Default empty (no TLS).
    pub cert: String,
    /// PEM private key file. Default empty (no TLS).
    pub key: String,
}

/// `[http]`: the HTTP listener (RTMPT tunnel, HTTP-FLV and WebSocket-FLV).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSection {
    /// HTTP listen addresses. Default `["0.0.0.0:8080"]`; empty disables HTTP.
    pub listen: Vec<String>,
    /// Serve the RTMPT tunnel (`/open`, `/send`, `/idle`, `/close`). Default true.
    pub rtmpt: bool,
    /// Most concurrent RTMPT sessions. Default 1000.
    pub rtmpt_max_sessions: usize,
    /// Seconds without a request before an RTMPT session is dropped. Default 30.
    pub rtmpt_session_timeout_secs: u64,
    /// Most server-to-client bytes queued for one RTMPT session before it is dropped.
    /// Default 8 MiB.
    pub rtmpt_max_pending_bytes: usize,
    /// Most bytes in one RTMPT request body. Default 1 MiB.
    pub rtmpt_max_request_bytes: usize,
    /// Serve live streams as HTTP-FLV and WebSocket-FLV at `/{app}/{stream}.flv`. Default true.
    pub flv: bool,
    /// Origins allowed by CORS on the media routes; `"*"` allows any. Default `["*"]`.
    pub cors_origins: Vec<String>,
    /// How long a request for a stream that is not being published waits for its publisher
    /// before it is answered 404. Default 0 (404 at once, as nginx-http-flv and SRS do).
    pub flv_publish_wait_ms: u64,
    /// After the publisher leaves, how long an HTTP-FLV/WS-FLV response stays open for it to
    /// come back (the FLV goes on with the new publisher); then the response ends. Default 5000.
    pub flv_republish_wait_ms: u64,
    /// At join, the longest wait for learning which tracks a stream has (for the FLV header's
    /// audio/video flags) when neither its metadata nor its sequence headers tell. Default 1000.
    pub flv_track_probe_ms: u64,
    /// Interval between `onFI` wall-clock script tags in FLV outputs (0 = none). Default 1000.
    pub flv_wallclock_ms: u64,
    /// Whether FLV players get `onFI` stamps without asking for them with `wallclock=1` in the
    /// query (ffmpeg-based players probe 5 s longer when a stream has them). Default false.
    pub flv_wallclock_default: bool,
    /// Rewrite Enhanced RTMP `avc1`/`mp4a` tags to legacy FLV H.264/AAC tags on FLV outputs
    /// (mpegts.js and older players know only those). Default true.
    pub flv_legacy_codecs: bool,
    /// Offer HTTP/2 (ALPN `h2`) on the HTTPS listener. Default true.
    pub http2: bool,
    /// An HTTP connection whose client reads nothing for this long while a response waits to
    /// be written is closed (a stalled media player would otherwise live for ever). Default 30.
    pub write_stall_timeout_secs: u64,
    /// Write plain HTTP/1.x media players (HTTP-FLV, HTTP fMP4 and their WebSocket forms on
    /// `ws://`) from the publisher's task, as RTMP players are (`http::direct`). Default true.
    pub direct_write: bool,
    /// Serve the built-in web page: `/` (the live streams), `/play/{app}/{stream}` (one
    /// player), `/console/streams.json` (the streams anyone may play) and `/console/*` (the
    /// page's script and style). It plays WebSocket fMP4 (`/{app}/{stream}.mp4`). Default true.
    pub console: bool,
    /// Serve live streams as HLS / LL-HLS at `/{app}/{stream}.m3u8`. Default true.
    pub hls: bool,
    /// An HLS segment ends at the first key frame at least this long after its start.
    /// Default 1000 (segments follow the GOP: a 2 s GOP makes 2 s segments).
    pub hls_segment_target_ms: u32,
    /// LL-HLS partial segments of at most this length (`EXT-X-PART`); 0 = classic HLS
    /// without parts or blocking reload. Default 200.
    pub hls_part_target_ms: u32,
    /// Complete segments kept in a playlist (and in memory). Default 12.
    pub hls_window_segments: usize,
    /// Offer delta updates (`_HLS_skip=YES`) when the window is long enough. Default true.
    pub hls_delta_updates: bool,
    /// Longest wait of a blocking playlist reload (`_HLS_msn`/`_HLS_part`) or of a request for
    /// a part that does not exist yet; then the playlist is answered as it is. Default 3000.
    pub hls_block_max_ms: u64,
    /// An HLS session (the stream's one muxer and playlist) is dropped this long after its
    /// last request. Default 30.
    pub hls_idle_secs: u64,
    /// Keep an HLS session for every published stream, from its first frame, even without
    /// clients (the first client then gets a full window at once). Default false.
    pub hls_always: bool,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            listen: vec!["0.0.0.0:8080".into()],
            rtmpt: true,
            rtmpt_max_sessions: 1000,
            rtmpt_session_timeout_secs: 30,
            rtmpt_max_pending_bytes: 8 * 1024 * 1024,
            rtmpt_max_request_bytes: 1024 * 1024,
            flv: true,
            cors_origins: vec!["*".into()],
            flv_publish_wait_ms: 0,
            flv_republish_wait_ms: 5000,
            flv_track_probe_ms: 1000,
            flv_wallclock_ms: 1000,
            flv_wallclock_default: false,
            flv_legacy_codecs: true,
            http2: true,
            write_stall_timeout_secs: 30,
            direct_write: true,
            console: true,
            hls: true,
            hls_segment_target_ms: 1000,
            hls_part_target_ms: 200,
            hls_window_segments: 12,
            hls_delta_updates: true,
            hls_block_max_ms: 3000,
            hls_idle_secs: 30,
            hls_always: false,
        }
    }
}

/// `[proxy]`: which peers may announce a client's real address.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ProxySection {
    /// Addresses or CIDR ranges allowed to send the RTMP 0xF3 header or a PROXY v1/v2 header.
    /// From anyone else such a header closes the connection. Default none.
    pub trusted: Vec<String>,
}

/// `[log]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// tracing filter, e.g. `info` or `sluice_server=debug`. Default `info`.
    /// `RUST_LOG`, when set, wins.
    pub level: String,
    /// Line format: `text` (human-readable; colours only when stderr is a terminal) or `json`
    /// (one JSON object per line, for log shippers). Default `text`.
    pub format: LogFormat,
    /// Repeated warnings of one kind (for example 5 000 sockets that never finish the handshake)
    /// are logged at most this many times per 10 s; the rest are counted and summarised in one
    /// line per kind when the next window starts. 0 = log every one. Default 5.
    pub repeat_limit: u32,
}

/// `log.format`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: "info".into(),
            format: LogFormat::Text,
            repeat_limit: 5,
        }
    }
}

/// Errors loading settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML for these settings.
    #[error("invalid config: {0}")]
    Parse(String),
    /// An environment variable could not be applied.
    #[error("environment variable {var}: {why}")]
    Env {
        /// Variable name.
        var: String,
        /// What is wrong.
        why: String,
    },
    /// `[access]` or `[hooks]` cannot be used.
    #[error("invalid setting: {0}")]
    App(#[from] crate::app::AppError),
    /// `[cluster]` cannot be used.
    #[error("invalid setting: {0}")]
    Cluster(#[from] crate::cluster::ClusterConfigError),
    /// A value is out of range.
    #[error("invalid setting {key}: {why}")]
    Invalid {
        /// Key.
        key: &'static str,
        /// What is wrong.
        why: &'static str,
    },
}

impl Settings {
    /// Parse TOML text.
    pub fn from_toml(text: &str) -> Result<Settings, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))
    }

    /// Read a TOML file.
    pub fn from_file(path: &std::path::Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text)
    }

    /// Apply `SLUICE_<TABLE>_<KEY>` overrides from `vars` (normally `std::env::vars()`).
    pub fn apply_env(
        self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let mut tree =
            toml::Value::try_from(&self).map_err(|e| ConfigError::Parse(e.to_string()))?;
        let vars: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("SLUICE_"))
            .collect();
        if vars.is_empty() {
            return Ok(self);
        }
        let Some(tables) = tree.as_table_mut() else {
            return Ok(self);
        };
        for (var, raw) in vars {
            let mut applied = false;
            for (table_name, table) in tables.iter_mut() {
                let prefix = format!("SLUICE_{}_", table_name.to_uppercase());
                let Some(key) = var.strip_prefix(&prefix) else {
                    continue;
                };
                let Some(t) = table.as_table_mut() else {
                    continue;
                };
                let key = key.to_lowercase();
                let Some(current) = t.get(&key) else {
                    continue;
                };
                let value = parse_like(current, &raw).map_err(|why| ConfigError::Env {
                    var: var.clone(),
                    why,
                })?;
                t.insert(key, value);
                applied = true;
            }
            let names_a_table = tables
                .keys()
                .any(|t| var.starts_with(&format!("SLUICE_{}_", t.to_uppercase())));
            // Variables that name one of our tables must name a real key; other SLUICE_*
            // variables (tools, tests) are not settings and are left alone.
            if !applied && names_a_table {
                return Err(ConfigError::Env {
                    var,
                    why: "no such setting".into(),
                });
            }
        }
        let s: Settings = tree
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse(e.to_string()))?;
        Ok(s)
    }

    /// The session configuration these settings imply.
    pub fn session_config(&self) -> ServerConfig {
        let chunk = ChunkLimits {
            max_chunk_size: self.limits.max_chunk_size,
            max_message_size: self.limits.max_message_size,
            max_chunk_streams: self.limits.max_chunk_streams,
            max_buffered_bytes: self.limits.max_buffered_bytes,
        };
        let amf = AmfLimits {
            max_depth: self.limits.amf_max_depth,
            ..AmfLimits::default()
        };
        ServerConfig {
            chunk,
            amf,
            max_streams: self.limits.max_streams_per_connection,
            chunk_size: self.server.chunk_size,
            window_ack_size: self.server.window_ack_size,
            peer_bandwidth: self.server.window_ack_size,
            max_held_publish_bytes: self.limits.max_held_publish_bytes,
            ..ServerConfig::default()
        }
    }

    /// The hub configuration these settings imply.
    pub fn hub_config(&self) -> HubConfig {
        HubConfig {
            gop_cache: self.hub.gop_cache,
            gop_cache_unwatched: self.hub.gop_cache_unwatched,
            gop_cache_max_frames: self.hub.gop_cache_max_frames,
            gop_cache_max_bytes: self.hub.gop_cache_max_bytes,
            player_queue_max_bytes: self.hub.player_queue_max_bytes,
            player_queue_max_frames: self.hub.player_queue_max_frames,
            player_max_delay: Duration::from_millis(self.hub.player_max_delay_ms),
            slow_player_timeout: Duration::from_secs(self.hub.slow_player_timeout_secs),
        }
    }
}

fn parse_like(current: &toml::Value, raw: &str) -> Result<toml::Value, String> {
    Ok(match current {
        toml::Value::String(_) => toml::Value::String(raw.to_owned()),
        toml::Value::Integer(_) => toml::Value::Integer(
            raw.trim()
                .parse::<i64>()
                .map_err(|e| format!("expected an integer: {e}"))?,
        ),
        toml::Value::Boolean(_) => match raw.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => toml::Value::Boolean(true),
            "0" | "false" | "no" | "off" => toml::Value::Boolean(false),
            _ => return Err("expected true or false".into()),
        },
        toml::Value::Float(_) => toml::Value::Float(
            raw.trim()
                .parse::<f64>()
                .map_err(|e| format!("expected a number: {e}"))?,
        ),
        toml::Value::Array(_) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
        _ => return Err("cannot be set from the environment".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml() {
        let s = Settings::default();
        let text = toml::to_string(&s).unwrap();
        assert_eq!(Settings::from_toml(&text).unwrap(), s);
        assert_eq!(Settings::from_toml("").unwrap(), s);
    }

    #[test]
    fn env_overrides_file() {
        let s = Settings::from_toml("[server]\nchunk_size = 8192\n").unwrap();
        let s = s
            .apply_env([
                ("SLUICE_SERVER_CHUNK_SIZE".to_string(), "60000".to_string()),
                ("SLUICE_HUB_GOP_CACHE".to_string(), "false".to_string()),
                (
                    "SLUICE_SERVER_LISTEN".to_string(),
                    "127.0.0.1:1,127.0.0.1:2".to_string(),
                ),
                ("OTHER".to_string(), "x".to_string()),
            ])
            .unwrap();
        assert_eq!(s.server.chunk_size, 60000);
        assert!(!s.hub.gop_cache);
        assert_eq!(s.server.listen, vec!["127.0.0.1:1", "127.0.0.1:2"]);
        assert!(Settings::default()
            .apply_env([("SLUICE_SERVER_NOPE".to_string(), "1".to_string())])
            .is_err());
        assert_eq!(
            Settings::default()
                .apply_env([("SLUICE_FFMPEG9".to_string(), "/x".to_string())])
                .unwrap(),
            Settings::default()
        );
        assert!(Settings::from_toml("[server]\nbogus = 1\n").is_err());
    }
}

#[cfg(test)]
mod sample_file {
    use super::Settings;

    /// The repository's sample `sluice.toml` documents every key with its default: it must parse
    /// to exactly the defaults.
    #[test]
    fn sample_config_is_the_defaults() {
        let text = include_str!("../../../sluice.toml");
        assert_eq!(Settings::from_toml(text).unwrap(), Settings::default());
    }

    #[test]
    fn durations_beyond_a_day_are_refused() {
        assert!(Settings::default().validate().is_ok());
        let mut s = Settings::default();
        s.server.unwatched_read_ms = u64::MAX;
        match s.validate() {
            Err(super::ConfigError::Invalid { key, .. }) => {
                assert_eq!(key, "server.unwatched_read_ms")
            }
            other => panic!("{other:?}"),
        }
        let mut s = Settings::default();
        s.hub.player_max_delay_ms = 86_400_001;
        match s.validate() {
            Err(super::ConfigError::Invalid { key, .. }) => {
                assert_eq!(key, "hub.player_max_delay_ms")
            }
            other => panic!("{other:?}"),
        }
        let mut s = Settings::default();
        s.server.idle_timeout_secs = 86_400;
        assert!(s.validate().is_ok());
    }
}
