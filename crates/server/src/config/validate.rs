//! The range checks of [`Settings`]: what `sluice serve` and a reload refuse before anything
//! starts, each with the key it names and the rule that broke.

use super::{ConfigError, Settings, MAX_HOLD_MS};

impl Settings {
    /// Check ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        crate::app::App::new(self, std::sync::Arc::new(crate::control::Metrics::new()))?;
        if self.server.listen.is_empty() {
            return Err(ConfigError::Invalid {
                key: "server.listen",
                why: "at least one address is needed",
            });
        }
        let budgets = std::iter::once(("server.latency_budget_ms", self.server.latency_budget_ms))
            .chain(std::iter::once((
                "server.overload_max_ms",
                self.server.overload_max_ms,
            )))
            .chain(
                self.server
                    .app
                    .iter()
                    .map(|a| ("server.app.latency_budget_ms", a.latency_budget_ms)),
            );
        for (key, ms) in budgets {
            if ms > MAX_HOLD_MS {
                return Err(ConfigError::Invalid {
                    key,
                    why: "must be 0..=1000 (milliseconds)",
                });
            }
        }
        if self.server.chunk_size == 0 || self.server.chunk_size > 0x7FFF_FFFF {
            return Err(ConfigError::Invalid {
                key: "server.chunk_size",
                why: "must be 1..=2147483647",
            });
        }
        if self.limits.max_message_size == 0 || self.limits.max_message_size > 0xFF_FFFF {
            return Err(ConfigError::Invalid {
                key: "limits.max_message_size",
                why: "must be 1..=16777215 (the 24-bit message length field)",
            });
        }
        if self.limits.max_chunk_size == 0 || self.limits.max_chunk_size > 0x7FFF_FFFF {
            return Err(ConfigError::Invalid {
                key: "limits.max_chunk_size",
                why: "must be 1..=2147483647",
            });
        }
        if self.http.hls_segment_target_ms == 0 || self.http.hls_segment_target_ms > 60_000 {
            return Err(ConfigError::Invalid {
                key: "http.hls_segment_target_ms",
                why: "must be 1..=60000",
            });
        }
        if self.http.hls_part_target_ms > self.http.hls_segment_target_ms {
            return Err(ConfigError::Invalid {
                key: "http.hls_part_target_ms",
                why: "must be at most http.hls_segment_target_ms (0 = no parts)",
            });
        }
        if self.http.hls_window_segments == 0 || self.http.hls_window_segments > 1000 {
            return Err(ConfigError::Invalid {
                key: "http.hls_window_segments",
                why: "must be 1..=1000",
            });
        }
        // Durations are added to the current time: bound them so that no setting can overflow
        // an instant (a day is far beyond any sensible value of each).
        const DAY_SECS: u64 = 86_400;
        const DAY_MS: u64 = DAY_SECS * 1000;
        for (key, value, max) in [
            (
                "server.handshake_timeout_secs",
                self.server.handshake_timeout_secs,
                DAY_SECS,
            ),
            (
                "server.idle_timeout_secs",
                self.server.idle_timeout_secs,
                DAY_SECS,
            ),
            (
                "server.ping_interval_secs",
                self.server.ping_interval_secs,
                DAY_SECS,
            ),
            (
                "server.fanout_batch_ms",
                self.server.fanout_batch_ms,
                DAY_MS,
            ),
            (
                "http.write_stall_timeout_secs",
                self.http.write_stall_timeout_secs,
                DAY_SECS,
            ),
            ("hooks.timeout_ms", self.hooks.timeout_ms, DAY_MS),
            (
                "server.unwatched_read_ms",
                self.server.unwatched_read_ms,
                DAY_MS,
            ),
            (
                "hub.player_max_delay_ms",
                self.hub.player_max_delay_ms,
                DAY_MS,
            ),
            (
                "hub.slow_player_timeout_secs",
                self.hub.slow_player_timeout_secs,
                DAY_SECS,
            ),
            (
                "http.flv_publish_wait_ms",
                self.http.flv_publish_wait_ms,
                DAY_MS,
            ),
            ("http.hls_block_max_ms", self.http.hls_block_max_ms, DAY_MS),
            ("http.hls_idle_secs", self.http.hls_idle_secs, DAY_SECS),
            (
                "http.flv_republish_wait_ms",
                self.http.flv_republish_wait_ms,
                DAY_MS,
            ),
            (
                "http.flv_track_probe_ms",
                self.http.flv_track_probe_ms,
                DAY_MS,
            ),
            ("http.flv_wallclock_ms", self.http.flv_wallclock_ms, DAY_MS),
        ] {
            if value > max {
                return Err(ConfigError::Invalid {
                    key,
                    why: "must be at most one day",
                });
            }
        }
        self.relay
            .validate()
            .map_err(|why| ConfigError::Invalid { key: "relay", why })?;
        for origin in &self.http.cors_origins {
            if origin != "*" && axum::http::HeaderValue::from_str(origin).is_err() {
                return Err(ConfigError::Invalid {
                    key: "http.cors_origins",
                    why: "each origin must be \"*\" or a valid header value",
                });
            }
        }
        if self.record.dir.is_empty() {
            return Err(ConfigError::Invalid {
                key: "record.dir",
                why: "a directory is needed (\".\" for the working directory)",
            });
        }
        if self.record.path.is_empty() || self.record.append_path.is_empty() {
            return Err(ConfigError::Invalid {
                key: "record.path",
                why: "the path templates must not be empty",
            });
        }
        self.vod
            .validate()
            .map_err(|why| ConfigError::Invalid { key: "vod", why })?;
        if self.record.index_entries > 1_000_000 {
            return Err(ConfigError::Invalid {
                key: "record.index_entries",
                why: "must be at most 1000000 (18 bytes each are reserved in every FLV file)",
            });
        }
        self.cluster.validate()?;
        Ok(())
    }
}
