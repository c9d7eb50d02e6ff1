//! `[cluster]`: the Redis registry shared by the nodes of a cluster, this node's identity and the
//! lease timings (docs/CLUSTER.md). No `redis` URL = one node with the in-memory registry.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[cluster]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSection {
    /// The registry: `redis://[user:password@]host:port[/db]`, or Sentinel
    /// `redis+sentinel://[user:password@]host:port[,host:port…]/master_name[/db]`.
    /// Empty = no cluster: one node with the in-memory registry. Default empty.
    pub redis: String,
    /// This node's id in the registry. Empty = `<host name>:<first RTMP listen port>`.
    /// Default empty.
    pub node_id: String,
    /// The RTMP address other nodes pull this node's streams from (`rtmp://host:port`).
    /// Empty = the first `server.listen` address (the host name when it is a wildcard).
    /// Default empty.
    pub advertise: String,
    /// How long a stream claim and a node heartbeat live without a refresh (ms): a node that
    /// dies loses its streams this long after its last refresh. Default 10000.
    pub lease_ms: u64,
    /// How often the node refreshes its claims and heartbeat (ms). 0 = `lease_ms / 3`.
    /// Default 0.
    pub heartbeat_ms: u64,
    /// Prefix of every Redis key, to share one Redis between clusters. Default `sluice:`.
    pub key_prefix: String,
    /// Limit for connecting to Redis (and asking Sentinel for the master) (ms). Default 2000.
    pub connect_timeout_ms: u64,
    /// Limit for one Redis command's answer (ms); past it the command counts as failed.
    /// Default 1000.
    pub command_timeout_ms: u64,
    /// Seconds a pull from the owner stays open after its last local player left. Default 10.
    pub pull_idle_secs: u64,
    /// Most nodes and claims `GET /api/v1/cluster` lists (and scans Redis for). Default 10000.
    pub max_listed: usize,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            redis: String::new(),
            node_id: String::new(),
            advertise: String::new(),
            lease_ms: 10_000,
            heartbeat_ms: 0,
            key_prefix: "sluice:".into(),
            connect_timeout_ms: 2000,
            command_timeout_ms: 1000,
            pull_idle_secs: 10,
            max_listed: 10_000,
        }
    }
}

/// Why `[cluster]` cannot be used: one variant per rule, each naming its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClusterConfigError {
    /// `redis` is neither `redis://` nor `redis+sentinel://`.
    #[error("cluster.redis: must be a redis:// or redis+sentinel:// URL")]
    BadRedisUrl,
    /// A Sentinel URL without hosts or master name.
    #[error("cluster.redis: a Sentinel URL needs host:port[,host:port…]/master_name")]
    BadSentinelUrl,
    /// `advertise` is not an `rtmp://host:port` address.
    #[error("cluster.advertise: must be rtmp://host[:port]")]
    BadAdvertise,
    /// `node_id` has spaces, control characters or is too long.
    #[error("cluster.node_id: at most 128 printable characters without spaces")]
    BadNodeId,
    /// `key_prefix` too long.
    #[error("cluster.key_prefix: at most 64 characters")]
    BadPrefix,
    /// `lease_ms` out of range.
    #[error("cluster.lease_ms: must be 100..=86400000")]
    BadLease,
    /// `heartbeat_ms` not below the lease.
    #[error("cluster.heartbeat_ms: must be below lease_ms")]
    BadHeartbeat,
    /// A timeout out of range.
    #[error("cluster.*_timeout_ms: must be 1..=60000")]
    BadTimeout,
    /// `pull_idle_secs` out of range.
    #[error("cluster.pull_idle_secs: must be at most one day")]
    BadIdle,
    /// `max_listed` out of range.
    #[error("cluster.max_listed: must be 1..=1000000")]
    BadMaxListed,
}

impl ClusterConfigError {
    /// The setting at fault.
    pub fn key(self) -> &'static str {
        match self {
            ClusterConfigError::BadRedisUrl | ClusterConfigError::BadSentinelUrl => "cluster.redis",
            ClusterConfigError::BadAdvertise => "cluster.advertise",
            ClusterConfigError::BadNodeId => "cluster.node_id",
            ClusterConfigError::BadPrefix => "cluster.key_prefix",
            ClusterConfigError::BadLease => "cluster.lease_ms",
            ClusterConfigError::BadHeartbeat => "cluster.heartbeat_ms",
            ClusterConfigError::BadTimeout => "cluster.connect_timeout_ms",
            ClusterConfigError::BadIdle => "cluster.pull_idle_secs",
            ClusterConfigError::BadMaxListed => "cluster.max_listed",
        }
    }
}

/// Where the registry lives, from `cluster.redis`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// No cluster: the in-memory registry.
    None,
    /// One Redis server (the `redis` crate parses the URL).
    Direct(String),
    /// Redis behind Sentinels: ask them for the master of `master`.
    Sentinel {
        /// `host:port` of each Sentinel.
        sentinels: Vec<String>,
        /// The monitored master's name.
        master: String,
        /// Database number.
        db: i64,
        /// User name for the master, if any.
        username: Option<String>,
        /// Password for the master, if any.
        password: Option<String>,
    },
}

impl ClusterSection {
    /// Whether nodes share a Redis registry.
    pub fn enabled(&self) -> bool {
        !self.redis.is_empty()
    }

    /// The heartbeat period (`heartbeat_ms`, or a third of the lease).
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(if self.heartbeat_ms == 0 {
            (self.lease_ms / 3).max(1)
        } else {
            self.heartbeat_ms
        })
    }

    /// The lease.
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }

    /// Parse `redis`.
    pub fn target(&self) -> Result<RedisTarget, ClusterConfigError> {
        let url = self.redis.trim();
        if url.is_empty() {
            return Ok(RedisTarget::None);
        }
        if let Some(rest) = url.strip_prefix("redis+sentinel://") {
            return parse_sentinel(rest);
        }
        if url.starts_with("redis://") && url.len() > "redis://".len() {
            return Ok(RedisTarget::Direct(url.to_owned()));
        }
        Err(ClusterConfigError::BadRedisUrl)
    }

    /// Check every rule (at start; `[cluster]` needs a restart to change).
    pub fn validate(&self) -> Result<(), ClusterConfigError> {
        self.target()?;
        if !self.advertise.is_empty() && parse_advertise(&self.advertise).is_none() {
            return Err(ClusterConfigError::BadAdvertise);
        }
        if self.node_id.len() > 128
            || self
                .node_id
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ClusterConfigError::BadNodeId);
        }
        if self.key_prefix.len() > 64 {
            return Err(ClusterConfigError::BadPrefix);
        }
        if !(100..=86_400_000).contains(&self.lease_ms) {
            return Err(ClusterConfigError::BadLease);
        }
        if self.heartbeat_ms >= self.lease_ms {
            return Err(ClusterConfigError::BadHeartbeat);
        }
        for t in [self.connect_timeout_ms, self.command_timeout_ms] {
            if !(1..=60_000).contains(&t) {
                return Err(ClusterConfigError::BadTimeout);
            }
        }
        if self.pull_idle_secs > 86_400 {
            return Err(ClusterConfigError::BadIdle);
        }
        if !(1..=1_000_000).contains(&self.max_listed) {
            return Err(ClusterConfigError::BadMaxListed);
        }
        Ok(())
    }
}

/// `host[:port]` of an `rtmp://host[:port]` address (a trailing `/` allowed), port 1935 by
/// default.
pub fn parse_advertise(s: &str) -> Option<(String, u16)> {
    let rest = s.strip_prefix("rtmp://")?.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') || rest.contains('@') {
        return None;
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            if h.contains(':') && !h.starts_with('[') {
                // A bare IPv6 address without brackets.
                return None;
            }
            (h, p.parse::<u16>().ok()?)
        }
        _ => (rest, 1935),
    };
    (!host.is_empty() && port != 0).then(|| (host.to_owned(), port))
}

/// `[user:password@]host:port[,host:port…]/master[/db]`.
fn parse_sentinel(rest: &str) -> Result<RedisTarget, ClusterConfigError> {
    let bad = ClusterConfigError::BadSentinelUrl;
    let (auth, rest) = match rest.rsplit_once('@') {
        Some((a, r)) => (Some(a), r),
        None => (None, rest),
    };
    let (hosts, path) = rest.split_once('/').ok_or(bad)?;
    let sentinels: Vec<String> = hosts.split(',').map(str::to_owned).collect();
    if sentinels.iter().any(|h| {
        h.rsplit_once(':')
            .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
    }) {
        return Err(bad);
    }
    let mut parts = path.split('/');
    let master = parts
        .next()
        .filter(|m| !m.is_empty())
        .ok_or(bad)?
        .to_owned();
    let db = match parts.next() {
        None | Some("") => 0,
        Some(d) => d.parse().map_err(|_| bad)?,
    };
    if parts.next().is_some() {
        return Err(bad);
    }
    let (username, password) = match auth {
        None => (None, None),
        Some(a) => match a.split_once(':') {
            Some((u, p)) => ((!u.is_empty()).then(|| u.to_owned()), Some(p.to_owned())),
            None => (Some(a.to_owned()), None),
        },
    };
    Ok(RedisTarget::Sentinel {
        sentinels,
        master,
        db,
        username,
        password,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_or_are_refused() {
        let mut c = ClusterSection::default();
        assert_eq!(c.target(), Ok(RedisTarget::None));
        assert!(!c.enabled());
        c.redis = "redis://127.0.0.1:6379/0".into();
        assert_eq!(
            c.target(),
            Ok(RedisTarget::Direct("redis://127.0.0.1:6379/0".into()))
        );
        c.redis = "redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2:26379/media/2".into();
        assert_eq!(
            c.target(),
            Ok(RedisTarget::Sentinel {
                sentinels: vec!["10.0.0.1:26379".into(), "10.0.0.2:26379".into()],
                master: "media".into(),
                db: 2,
                username: None,
                password: Some("pw".into()),
            })
        );
        for bad in [
            "http://x",
            "redis://",
            "redis+sentinel://h:1",
            "redis+sentinel://h/m",
            "redis+sentinel://h:1/",
            "redis+sentinel://h:1/m/x",
        ] {
            c.redis = bad.into();
            assert!(c.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_and_addresses_are_checked() {
        let ok = ClusterSection::default();
        assert!(ok.validate().is_ok());
        assert_eq!(ok.heartbeat(), Duration::from_millis(3333));
        assert_eq!(
            parse_advertise("rtmp://10.0.0.5:1936"),
            Some(("10.0.0.5".into(), 1936))
        );
        assert_eq!(
            parse_advertise("rtmp://edge.example/"),
            Some(("edge.example".into(), 1935))
        );
        assert_eq!(
            parse_advertise("rtmp://[::1]:1935"),
            Some(("[::1]".into(), 1935))
        );
        assert_eq!(parse_advertise("rtmp://h/app"), None);
        assert_eq!(parse_advertise("http://h"), None);
        let cases = [
            (
                ClusterSection {
                    advertise: "h:1".into(),
                    ..ok.clone()
                },
                ClusterConfigError::BadAdvertise,
            ),
            (
                ClusterSection {
                    node_id: "a b".into(),
                    ..ok.clone()
                },
                ClusterConfigError::BadNodeId,
            ),
            (
                ClusterSection {
                    lease_ms: 10,
                    ..ok.clone()
                },
                ClusterConfigError::BadLease,
            ),
            (
                ClusterSection {
                    heartbeat_ms: 10_000,
                    ..ok.clone()
                },
                ClusterConfigError::BadHeartbeat,
            ),
            (
                ClusterSection {
                    command_timeout_ms: 0,
                    ..ok.clone()
                },
                ClusterConfigError::BadTimeout,
            ),
        ];
        for (c, e) in cases {
            assert_eq!(c.validate(), Err(e));
            assert!(e.key().starts_with("cluster."));
        }
    }

    #[test]
    fn settings_refuse_a_bad_cluster_section() {
        let s = crate::Settings::from_toml("[cluster]\nredis = \"http://x\"\n").unwrap();
        assert!(matches!(
            s.validate(),
            Err(crate::config::ConfigError::Cluster(
                ClusterConfigError::BadRedisUrl
            ))
        ));
        assert!(crate::Settings::from_toml("[cluster]\nnope = 1\n").is_err());
    }
}
