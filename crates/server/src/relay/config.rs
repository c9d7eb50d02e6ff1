//! `[relay]`: push targets per app or stream pattern, pull upstreams per app, and the timings
//! both use. Every setting has a documented default; `sluice.toml` lists them all.

use serde::{Deserialize, Serialize};

/// `[[relay.push]]`: push the streams whose app and name match to these targets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PushRule {
    /// Application pattern (`*` matches any run of characters). Default `*`.
    #[serde(default = "star")]
    pub app: String,
    /// Stream name pattern. Default `*`.
    #[serde(default = "star")]
    pub stream: String,
    /// Target URLs (`rtmp`, `rtmps`, `rtmpe`, `rtmpt`, `rtmpte`, `rtmpts`); `{app}` and
    /// `{stream}` are replaced by the published stream's app and name.
    pub targets: Vec<String>,
}

/// `[[relay.pull]]`: a play of a stream of `app` that is not live here pulls it from the first
/// upstream that has it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PullRule {
    /// Application pattern. Default `*`.
    #[serde(default = "star")]
    pub app: String,
    /// Upstream application URLs, tried in order (`rtmp://origin:1935/live`); the stream name
    /// is appended. `{app}` is replaced by the requested app.
    pub upstreams: Vec<String>,
    /// Seconds a pull stays open after its last player left. Default
    /// [`DEFAULT_PULL_IDLE_SECS`].
    #[serde(default = "default_idle")]
    pub idle_secs: u64,
}

/// Default of [`PullRule::idle_secs`].
pub const DEFAULT_PULL_IDLE_SECS: u64 = 10;

fn star() -> String {
    "*".into()
}

fn default_idle() -> u64 {
    DEFAULT_PULL_IDLE_SECS
}

/// `[relay]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RelaySection {
    /// First wait before a failed push target is tried again (ms). Default 1000.
    pub backoff_min_ms: u64,
    /// The wait doubles after each failure up to this (ms). Default 30000.
    pub backoff_max_ms: u64,
    /// Limit for connecting to a target or upstream: TCP, TLS, handshake and `connect`
    /// (ms). Default 5000.
    pub connect_timeout_ms: u64,
    /// A push target that accepts no data for this long is disconnected and retried (ms).
    /// Default 10000.
    pub write_timeout_ms: u64,
    /// Most push targets per stream (config, hook and API together). Default 16.
    pub max_push_per_stream: usize,
    /// PEM file of the certificate authorities that `rtmps://` targets and upstreams are
    /// checked against; empty = the webpki (Mozilla) roots. Default empty.
    pub ca_file: String,
    /// How long players wait for a pull to start before they get
    /// `NetStream.Play.StreamNotFound` (ms). Default 10000.
    pub pull_wait_ms: u64,
    /// How long an upstream may take, after accepting `play`, to send its first media before
    /// the next upstream is tried: an RTMP server accepts a play of a stream it does not have
    /// and simply sends nothing (ms). Default 3000.
    pub pull_probe_ms: u64,
    /// Push rules.
    pub push: Vec<PushRule>,
    /// Pull rules.
    pub pull: Vec<PullRule>,
}

impl Default for RelaySection {
    fn default() -> Self {
        RelaySection {
            backoff_min_ms: 1000,
            backoff_max_ms: 30_000,
            connect_timeout_ms: 5000,
            write_timeout_ms: 10_000,
            max_push_per_stream: 16,
            ca_file: String::new(),
            pull_wait_ms: 10_000,
            pull_probe_ms: 3000,
            push: Vec::new(),
            pull: Vec::new(),
        }
    }
}

impl RelaySection {
    /// The push target URLs (templates filled in) for a publish of `app`/`stream`, in rule
    /// order; every matching rule contributes.
    pub fn push_targets(&self, app: &str, stream: &str) -> Vec<String> {
        self.push
            .iter()
            .filter(|r| glob(&r.app, app) && glob(&r.stream, stream))
            .flat_map(|r| {
                r.targets
                    .iter()
                    .map(|t| super::target::fill(t, app, stream))
            })
            .collect()
    }

    /// The first pull rule for `app`, if any.
    pub fn pull_rule(&self, app: &str) -> Option<&PullRule> {
        self.pull
            .iter()
            .find(|r| glob(&r.app, app) && !r.upstreams.is_empty())
    }

    /// Check the URLs and ranges (at start and on reload).
    pub fn validate(&self) -> Result<(), &'static str> {
        for r in &self.push {
            for t in &r.targets {
                super::target::parse_target(&super::target::fill(t, "app", "stream"))
                    .map_err(|_| "relay.push.targets: each must be an rtmp[s|e|t]:// URL")?;
            }
        }
        for r in &self.pull {
            for u in &r.upstreams {
                super::target::upstream_url(u, "app", "stream").map_err(|_| {
                    "relay.pull.upstreams: each must be an rtmp[s|e|t]://host/app URL"
                })?;
            }
            if r.idle_secs > 86_400 {
                return Err("relay.pull.idle_secs: must be at most one day");
            }
        }
        if self.backoff_min_ms == 0 || self.backoff_min_ms > self.backoff_max_ms {
            return Err("relay.backoff_min_ms: must be 1..=backoff_max_ms");
        }
        let day_ms = 86_400_000;
        if [
            self.backoff_max_ms,
            self.connect_timeout_ms,
            self.write_timeout_ms,
            self.pull_wait_ms,
            self.pull_probe_ms,
        ]
        .iter()
        .any(|v| *v > day_ms)
        {
            return Err("relay.*_ms: must be at most one day");
        }
        Ok(())
    }
}

/// `*` matches any run of characters (also empty); everything else matches itself.
pub fn glob(pattern: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    go(pattern.as_bytes(), s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_by_pattern_and_fill_templates() {
        let cfg: RelaySection = toml::from_str(
            r#"
            [[push]]
            app = "live"
            targets = ["rtmp://a/live/{stream}", "rtmps://b/app/key"]
            [[push]]
            stream = "cam*"
            targets = ["rtmp://c/{app}/{stream}"]
            [[pull]]
            app = "edge"
            upstreams = ["rtmp://origin:1935/live"]
            "#,
        )
        .unwrap();
        assert_eq!(
            cfg.push_targets("live", "cam1"),
            [
                "rtmp://a/live/cam1",
                "rtmps://b/app/key",
                "rtmp://c/live/cam1"
            ]
        );
        assert_eq!(cfg.push_targets("other", "x"), Vec::<String>::new());
        assert_eq!(cfg.push_targets("other", "cam"), ["rtmp://c/other/cam"]);
        assert_eq!(cfg.pull_rule("edge").unwrap().idle_secs, 10);
        assert!(cfg.pull_rule("live").is_none());
        assert!(cfg.validate().is_ok());
        assert!(glob("a*c", "abbc") && glob("*", "") && !glob("a*c", "abd"));
    }

    #[test]
    fn bad_settings_are_refused() {
        let mut cfg = RelaySection::default();
        cfg.push.push(PushRule {
            app: "*".into(),
            stream: "*".into(),
            targets: vec!["http://x/y".into()],
        });
        assert!(cfg.validate().is_err());
        let mut cfg = RelaySection {
            backoff_min_ms: 5,
            backoff_max_ms: 1,
            ..RelaySection::default()
        };
        assert!(cfg.validate().is_err());
        cfg.backoff_max_ms = 10;
        assert!(cfg.validate().is_ok());
    }
}
