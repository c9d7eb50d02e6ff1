//! `[rtmfp]`: where the RTMFP server listens (UDP) and the limits of its sans-IO core
//! (`sluice_rtmfp::Limits`, `TcServerConfig`) that a user may want to change.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The `listen` entry that stands for every `[server] listen` address, on UDP.
pub const SAME_AS_RTMP: &str = "server.listen";

/// `[rtmfp]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RtmfpSection {
    /// UDP addresses. Default `["server.listen"]`: the `[server] listen` addresses (UDP 1935,
    /// as Flash Media Server did), where a bind failure is a logged warning; an address given
    /// here that cannot be bound is an error. `[]` turns RTMFP off.
    pub listen: Vec<String>,
    /// Sessions in all, per listen address. Default 10,000.
    pub max_sessions: usize,
    /// Sessions from one IP address. Default 64.
    pub max_sessions_per_address: usize,
    /// Handshakes in progress at once. Default 256.
    pub max_startups_in_progress: usize,
    /// NetStreams one connection may have. Default 16.
    pub max_streams: usize,
    /// Seconds without a packet from a client before its session is closed. Default 120.
    pub idle_timeout_secs: u64,
    /// Milliseconds an audio message may wait for delivery before it is abandoned. Default 1500.
    pub audio_lifetime_ms: u64,
    /// Milliseconds a video message may wait (late video is dropped first). Default 1000.
    pub video_lifetime_ms: u64,
}

impl Default for RtmfpSection {
    fn default() -> Self {
        let limits = sluice_rtmfp::Limits::default();
        RtmfpSection {
            listen: vec![SAME_AS_RTMP.to_owned()],
            max_sessions: limits.max_sessions,
            max_sessions_per_address: limits.max_sessions_per_address,
            max_startups_in_progress: limits.max_startups_in_progress,
            max_streams: 16,
            idle_timeout_secs: 120,
            audio_lifetime_ms: 1500,
            video_lifetime_ms: 1000,
        }
    }
}

/// One UDP address to bind, and whether failing to bind it is only a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    /// `host:port`.
    pub addr: String,
    /// Taken from `[server] listen` by default (a failure is a warning).
    pub defaulted: bool,
}

impl RtmfpSection {
    /// The addresses to bind, `server.listen` expanded to `rtmp_listen`.
    pub fn addresses(&self, rtmp_listen: &[String]) -> Vec<ListenAddr> {
        let mut out: Vec<ListenAddr> = Vec::new();
        for a in &self.listen {
            if a == SAME_AS_RTMP {
                out.extend(rtmp_listen.iter().map(|r| ListenAddr {
                    addr: r.clone(),
                    defaulted: true,
                }));
            } else {
                out.push(ListenAddr {
                    addr: a.clone(),
                    defaulted: false,
                });
            }
        }
        out.dedup_by(|a, b| a.addr == b.addr);
        out
    }

    /// The core's endpoint configuration (a server: it answers IHellos).
    pub fn endpoint_config(&self) -> sluice_rtmfp::EndpointConfig {
        let mut cfg = sluice_rtmfp::EndpointConfig::server();
        cfg.limits.max_sessions = self.max_sessions.max(1);
        cfg.limits.max_sessions_per_address = self.max_sessions_per_address.max(1);
        cfg.limits.max_startups_in_progress = self.max_startups_in_progress.max(1);
        cfg.idle_timeout = Duration::from_secs(self.idle_timeout_secs.max(1));
        cfg
    }

    /// The TC layer's configuration for one connection.
    pub fn tc_config(&self) -> sluice_rtmfp::tc::TcServerConfig {
        sluice_rtmfp::tc::TcServerConfig {
            max_streams: self.max_streams.max(1),
            audio_lifetime: Duration::from_millis(self.audio_lifetime_ms.max(1)),
            video_lifetime: Duration::from_millis(self.video_lifetime_ms.max(1)),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_follows_server_listen_explicit_does_not() {
        let rtmp = vec!["0.0.0.0:1935".to_owned(), "[::]:1935".to_owned()];
        let d = RtmfpSection::default().addresses(&rtmp);
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|a| a.defaulted));
        assert_eq!(d[1].addr, "[::]:1935");
        let explicit = RtmfpSection {
            listen: vec!["127.0.0.1:1936".into()],
            ..Default::default()
        };
        assert_eq!(
            explicit.addresses(&rtmp),
            vec![ListenAddr {
                addr: "127.0.0.1:1936".into(),
                defaulted: false
            }]
        );
        let off = RtmfpSection {
            listen: vec![],
            ..Default::default()
        };
        assert!(off.addresses(&rtmp).is_empty());
    }

    #[test]
    fn limits_reach_the_core() {
        let s = RtmfpSection {
            max_sessions: 5,
            max_streams: 2,
            ..Default::default()
        };
        assert_eq!(s.endpoint_config().limits.max_sessions, 5);
        assert!(s.endpoint_config().accept);
        assert_eq!(s.tc_config().max_streams, 2);
    }
}
