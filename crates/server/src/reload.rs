//! Live reload (`SIGHUP`, `POST /api/v1/reload`): the settings file is read again and what can
//! change without a restart is swapped in; connections are not touched.
//!
//! Applied at once: `[access]` (rules, signed-URL secret), `[hooks]`, `[limits]`, the
//! per-connection timers and sizes of `[server]` (`handshake_timeout_secs`, `idle_timeout_secs`,
//! `ping_interval_secs`, `chunk_size`, `window_ack_size`), `[api] token` and
//! `[metrics] max_stream_series`, `[relay]` (read when a publish starts its pushes and when a
//! pull opens). They apply to new requests and new connections: a stream
//! already allowed keeps playing even if a rule now denies it, and a connection keeps the limits
//! it started with.
//!
//! Everything else (listeners, TLS, HTTP routes, the hub's caches, proxy trust, logging) needs a
//! restart: a reload that changes such a key applies the rest and reports the key, so nothing
//! is silently ignored. A file that does not load or validate is refused with its error and the
//! settings in force stay as they are.

use crate::app::App;
use crate::config::{ConfigError, Settings};
use crate::Context;
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::{info, warn};

/// The settings that new connections and requests read (replaced whole on reload).
#[derive(Debug)]
pub struct Live {
    /// The settings as last loaded.
    pub settings: Settings,
    /// The RTMP session configuration derived from them.
    pub session_config: std::sync::Arc<sluice_rtmp::session::ServerConfig>,
}

impl Live {
    /// Live settings for `settings`.
    pub fn new(settings: Settings) -> Live {
        Live {
            session_config: std::sync::Arc::new(settings.session_config()),
            settings,
        }
    }
}

/// Reads the settings again (the file, the environment, the command line), as at start.
pub type Loader = Box<dyn Fn() -> Result<Settings, ConfigError> + Send + Sync>;

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReloadReport {
    /// Keys that changed and are in force now (`access.rule`, `hooks.on_publish`, ...).
    pub applied: Vec<String>,
    /// Keys that changed but keep their old value until a restart.
    pub restart_required: Vec<String>,
}

/// Why a reload was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The server was started without a way to read its settings again (embedded use).
    #[error("this server has no settings source to reload from")]
    NoSource,
    /// The new settings do not load or validate; the old ones stay in force.
    #[error("{0}; the settings in force are unchanged")]
    Config(#[from] ConfigError),
}

/// Keys (as `table.key`) whose new value takes effect without a restart.
const LIVE_KEYS: &[&str] = &[
    "access.",
    "hooks.",
    "limits.",
    "server.handshake_timeout_secs",
    "server.idle_timeout_secs",
    "server.ping_interval_secs",
    "server.chunk_size",
    "server.window_ack_size",
    // Latency budgets apply to streams published after the reload.
    "server.latency_budget_ms",
    "server.app",
    "api.token",
    "metrics.max_stream_series",
    "relay.",
    "record.",
];

fn is_live(key: &str) -> bool {
    LIVE_KEYS.iter().any(|k| {
        if k.ends_with('.') {
            key.starts_with(k)
        } else {
            key == *k
        }
    })
}

/// `table.key` → value of every key of `s`.
fn flatten(s: &Settings) -> BTreeMap<String, toml::Value> {
    let mut out = BTreeMap::new();
    if let Ok(toml::Value::Table(tables)) = toml::Value::try_from(s) {
        for (t, v) in tables {
            match v {
                toml::Value::Table(keys) => {
                    for (k, v) in keys {
                        out.insert(format!("{t}.{k}"), v);
                    }
                }
                other => {
                    out.insert(t, other);
                }
            }
        }
    }
    out
}

/// The keys that differ between `old` and `new`, split into live and restart-only ones.
pub fn diff(old: &Settings, new: &Settings) -> ReloadReport {
    let (a, b) = (flatten(old), flatten(new));
    let mut report = ReloadReport::default();
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        if a.get(k) != b.get(k) {
            if is_live(k) {
                report.applied.push(k.clone());
            } else {
                report.restart_required.push(k.clone());
            }
        }
    }
    report
}

impl Context {
    /// Set how [`Context::reload`] reads the settings again.
    pub fn set_loader(&self, loader: Loader) {
        *self.loader.lock().unwrap_or_else(|e| e.into_inner()) = Some(loader);
    }

    /// Read the settings again and apply what can change live (see the module docs).
    pub fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let res = self.try_reload();
        self.metrics.reload(res.is_ok());
        match &res {
            Ok(r) => {
                info!(applied = ?r.applied, "settings reloaded");
                if !r.restart_required.is_empty() {
                    warn!(keys = ?r.restart_required, "changed settings that take effect only after a restart");
                }
            }
            Err(e) => warn!(error = %e, "reload refused"),
        }
        res
    }

    fn try_reload(&self) -> Result<ReloadReport, ReloadError> {
        let new = {
            let loader = self.loader.lock().unwrap_or_else(|e| e.into_inner());
            let load = loader.as_ref().ok_or(ReloadError::NoSource)?;
            load()?
        };
        new.validate()?;
        let app = App::new(&new, self.metrics.clone()).map_err(ConfigError::from)?;
        let old = self.live.load_full();
        let report = diff(&old.settings, &new);
        // Keys that need a restart keep their old values in what is swapped in.
        let mut applied = old.settings.clone();
        applied.access = new.access.clone();
        applied.hooks = new.hooks.clone();
        applied.limits = new.limits.clone();
        applied.api.token = new.api.token.clone();
        applied.metrics.max_stream_series = new.metrics.max_stream_series;
        let s = &mut applied.server;
        s.handshake_timeout_secs = new.server.handshake_timeout_secs;
        s.idle_timeout_secs = new.server.idle_timeout_secs;
        s.ping_interval_secs = new.server.ping_interval_secs;
        s.chunk_size = new.server.chunk_size;
        s.window_ack_size = new.server.window_ack_size;
        self.app.store(Arc::new(app));
        self.live.store(Arc::new(Live::new(applied)));
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_splits_live_and_restart_keys() {
        let old = Settings::default();
        let mut new = Settings::default();
        new.access.publish = crate::app::config::Who::One("nobody".into());
        new.hooks.on_publish = "http://127.0.0.1:1/x".into();
        new.server.listen = vec!["127.0.0.1:1936".into()];
        new.server.idle_timeout_secs += 1;
        new.hub.gop_cache = !new.hub.gop_cache;
        let r = diff(&old, &new);
        assert_eq!(
            r.applied,
            [
                "access.publish",
                "hooks.on_publish",
                "server.idle_timeout_secs"
            ]
        );
        assert_eq!(r.restart_required, ["hub.gop_cache", "server.listen"]);
        assert_eq!(diff(&old, &old), ReloadReport::default());
    }

    #[test]
    fn a_bad_file_keeps_the_settings_in_force() {
        let ctx = Context::new(Settings::default());
        assert!(matches!(ctx.reload(), Err(ReloadError::NoSource)));
        ctx.set_loader(Box::new(|| {
            Settings::from_toml("[access]\npublish = \"everyone\"\n")
        }));
        let e = ctx.reload().unwrap_err();
        assert!(e.to_string().contains("everyone"), "{e}");
        assert!(ctx.live.load().settings.access.publish == crate::app::config::Who::default());
        ctx.set_loader(Box::new(|| {
            Settings::from_toml("[access]\npublish = \"nobody\"\n")
        }));
        let r = ctx.reload().unwrap();
        assert_eq!(r.applied, ["access.publish"]);
        assert!(ctx.live.load().settings.access.publish != crate::app::config::Who::default());
    }
}
