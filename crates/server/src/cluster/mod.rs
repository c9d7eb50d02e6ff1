//! The cluster: nodes that share a registry of who publishes which stream, so that a stream
//! published on any node can be played on every node (docs/CLUSTER.md, ARCHITECTURE.md "the
//! cluster is a trait with two implementations").
//!
//! - **Registry** ([`registry`]): [`ClusterRegistry`] with the in-memory one-node default
//!   ([`MemoryRegistry`], no `[cluster]` section) and Redis ([`redis::RedisRegistry`],
//!   `cluster.redis`). Media never goes through the registry.
//! - **Publish**: once the decision chain allows a publish, the connection claims the stream
//!   ([`Cluster::claim`], a pending decision: the connection's loop keeps running) before it
//!   answers `NetStream.Publish.Start`. A stream claimed by another live node is refused like a
//!   second publisher on one node (`NetStream.Publish.BadName`); a claim that cannot be made
//!   because the registry is unreachable is refused too (`NetStream.Publish.Denied`). The
//!   returned [`ClaimGuard`] lives in the publisher's slot: the node's heartbeat task renews
//!   every claim it holds each `cluster.heartbeat_ms`, and dropping the guard (unpublish,
//!   close) releases the claim.
//! - **Play** of a stream that is not live here: [`Cluster::owner_elsewhere`] names the owning
//!   node and its `advertise` address, and the pull relay ([`crate::relay`]) pulls it from there
//!   for every local player (RTMP, HTTP-FLV, fMP4, HLS). A node never pulls from itself, and a
//!   pull connection says it is a relay (`flashVer`), so the owner never pulls it back.
//! - **Failover**: a dead owner's claim lapses after `cluster.lease_ms`; the publisher reconnects
//!   to another node, which claims the stream; the edges' pulls, which look the owner up again
//!   while they have players, find the new owner, and their players stay subscribed to the same
//!   hub stream meanwhile (they see UnpublishNotify, then PublishNotify).
//! - **Redis unreachable**: what is live keeps being served, publishes that cannot be claimed are
//!   refused, and `sluice_cluster_redis_up` / `sluice_cluster_registry_errors_total` say so (one
//!   log line per change of state, not per request). When Redis is back, the heartbeat renews
//!   every claim this node holds, taking again those Redis lost.

pub mod api;
pub mod config;
pub mod redis;
pub mod registry;
#[cfg(test)]
mod scale_tests;
#[cfg(test)]
mod test_redis;

pub use config::{ClusterConfigError, ClusterSection};
pub use registry::{Claim, ClusterRegistry, MemoryRegistry, NodeInfo, RegistryError};

use crate::Context;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};
use tracing::{info, warn};

/// Claim refreshes one heartbeat keeps in flight at once.
const REFRESHES_IN_FLIGHT: usize = 64;

/// Why a publish could not claim its stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// Another node publishes it.
    #[error("the stream is published on node {0}")]
    Taken(String),
    /// The registry could not be asked: the claim cannot be verified.
    #[error("the cluster registry cannot be reached")]
    Unavailable(#[source] RegistryError),
}

/// A node that owns a stream another node wants to play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Its id.
    pub node: String,
    /// Its RTMP address (`rtmp://host:port`).
    pub advertise: String,
}

/// This node's view of the cluster: its registry, its identity and the claims it holds.
#[derive(Debug)]
pub struct Cluster {
    registry: Arc<dyn ClusterRegistry>,
    shared: bool,
    node_id: String,
    advertise: String,
    lease: Duration,
    heartbeat: Duration,
    max_listed: usize,
    pull_idle_secs: u64,
    /// Streams claimed by a live local publisher: key → the generation of its guard.
    owned: Mutex<HashMap<String, u64>>,
    next_generation: AtomicU64,
    up: AtomicBool,
    errors: AtomicU64,
    last_heartbeat: Mutex<Option<SystemTime>>,
}

/// Held by a publisher for its stream's claim: dropping it releases the claim.
#[derive(Debug)]
pub struct ClaimGuard {
    cluster: Weak<Cluster>,
    key: String,
    /// `None`: a local publisher already held the claim (the hub refuses this one).
    generation: Option<u64>,
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        let (Some(cluster), Some(generation)) = (self.cluster.upgrade(), self.generation) else {
            return;
        };
        {
            let mut owned = lock(&cluster.owned);
            if owned.get(&self.key) != Some(&generation) {
                return;
            }
            owned.remove(&self.key);
        }
        let key = std::mem::take(&mut self.key);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let r = cluster.registry.release(&key, &cluster.node_id).await;
                if cluster.note(&r) {
                    info!(stream = %key, node = %cluster.node_id, "cluster claim released");
                }
            });
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The registry's key of a stream.
pub fn stream_key(app: &str, stream: &str) -> String {
    format!("{app}/{stream}")
}

/// The host name, for the default node id and advertise address.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

impl Cluster {
    /// The cluster of a server with `settings`: Redis when `cluster.redis` is set, else the
    /// in-memory registry.
    ///
    /// # Errors
    /// When `cluster.redis` cannot be used ([`crate::Settings::validate`] checks it first).
    pub fn new(settings: &crate::Settings) -> Result<Cluster, ClusterConfigError> {
        let cfg = &settings.cluster;
        let registry: Arc<dyn ClusterRegistry> = if cfg.enabled() {
            Arc::new(redis::RedisRegistry::new(cfg)?)
        } else {
            Arc::new(MemoryRegistry::default())
        };
        let listen = settings
            .server
            .listen
            .first()
            .and_then(|a| a.parse::<std::net::SocketAddr>().ok());
        let port = listen.map_or(1935, |a| a.port());
        let node_id = if cfg.node_id.is_empty() {
            format!("{}:{port}", host_name())
        } else {
            cfg.node_id.clone()
        };
        let advertise = if cfg.advertise.is_empty() {
            match listen {
                Some(a) if !a.ip().is_unspecified() => format!("rtmp://{a}"),
                _ => format!("rtmp://{}:{port}", host_name()),
            }
        } else {
            cfg.advertise.trim_end_matches('/').to_owned()
        };
        Ok(Cluster {
            registry,
            shared: cfg.enabled(),
            node_id,
            advertise,
            lease: cfg.lease(),
            heartbeat: cfg.heartbeat(),
            max_listed: cfg.max_listed,
            pull_idle_secs: cfg.pull_idle_secs,
            owned: Mutex::new(HashMap::new()),
            next_generation: AtomicU64::new(1),
            up: AtomicBool::new(true),
            errors: AtomicU64::new(0),
            last_heartbeat: Mutex::new(None),
        })
    }

    /// Whether other nodes share the registry (`cluster.redis` is set).
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// This node's RTMP address for the others.
    pub fn advertise(&self) -> &str {
        &self.advertise
    }

    /// Whether the last registry call succeeded.
    pub fn registry_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Registry calls that failed so far.
    pub fn registry_errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// How often the heartbeat runs (also the longest a pull waits before it looks the owner up
    /// again).
    pub fn heartbeat_period(&self) -> Duration {
        self.heartbeat
    }

    /// The lease of claims and heartbeats (also how long a pull from an owner may stay silent).
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Seconds a pull from an owner stays open after its last local player left.
    pub fn pull_idle_secs(&self) -> u64 {
        self.pull_idle_secs
    }

    /// The registry.
    pub fn registry(&self) -> &dyn ClusterRegistry {
        &*self.registry
    }

    /// Most nodes and claims the API lists.
    pub fn max_listed(&self) -> usize {
        self.max_listed
    }

    /// Count a registry result; logs once when the registry goes down or comes back. Returns
    /// whether it succeeded.
    fn note<T>(&self, r: &Result<T, RegistryError>) -> bool {
        match r {
            Ok(_) => {
                if !self.up.swap(true, Ordering::Relaxed) {
                    info!(node = %self.node_id, "cluster registry reachable again");
                }
                true
            }
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                if self.up.swap(false, Ordering::Relaxed) {
                    warn!(node = %self.node_id, error = %e, "cluster registry unreachable: live streams go on, new publishes are refused");
                }
                false
            }
        }
    }

    /// Claim `app`/`stream` for a publisher of this node. A stream a local publisher holds
    /// already gives a guard that releases nothing (the hub then refuses the second publisher,
    /// as on one node).
    pub async fn claim(self: Arc<Self>, app: &str, stream: &str) -> Result<ClaimGuard, ClaimError> {
        let key = stream_key(app, stream);
        let shadow = ClaimGuard {
            cluster: Arc::downgrade(&self),
            key: key.clone(),
            generation: None,
        };
        if lock(&self.owned).contains_key(&key) {
            return Ok(shadow);
        }
        let r = self.registry.claim(&key, &self.node_id, self.lease).await;
        self.note(&r);
        match r {
            Ok(Claim::Ours) => {}
            Ok(Claim::Taken(node)) => return Err(ClaimError::Taken(node)),
            Err(e) => return Err(ClaimError::Unavailable(e)),
        }
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        let mut owned = lock(&self.owned);
        if owned.contains_key(&key) {
            return Ok(shadow);
        }
        owned.insert(key.clone(), generation);
        drop(owned);
        Ok(ClaimGuard {
            cluster: Arc::downgrade(&self),
            key,
            generation: Some(generation),
        })
    }

    /// The other node that owns `app`/`stream`, with its address; `None` when nobody does,
    /// this node does, or the owner's heartbeat is gone (it is dying: its claim lapses next).
    pub async fn owner_elsewhere(
        &self,
        app: &str,
        stream: &str,
    ) -> Result<Option<Owner>, RegistryError> {
        let key = stream_key(app, stream);
        let r = self.registry.owner(&key).await;
        self.note(&r);
        let Some(node) = r? else {
            return Ok(None);
        };
        if node == self.node_id {
            return Ok(None);
        }
        let r = self.registry.node(&node).await;
        self.note(&r);
        Ok(r?.filter(|n| !n.advertise.is_empty()).map(|n| Owner {
            node,
            advertise: n.advertise,
        }))
    }

    /// When the last heartbeat reached the registry.
    pub fn last_heartbeat(&self) -> Option<SystemTime> {
        *lock(&self.last_heartbeat)
    }

    /// One heartbeat: this node's load, and every claim it holds renewed (or taken again).
    pub async fn beat(&self, streams: u64, players: u64) {
        let now = SystemTime::now();
        let node = NodeInfo {
            id: self.node_id.clone(),
            advertise: self.advertise.clone(),
            streams,
            players,
            heartbeat_unix_ms: now
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        };
        let r = self.registry.heartbeat(&node, self.lease).await;
        if !self.note(&r) {
            return;
        }
        *lock(&self.last_heartbeat) = Some(now);
        // The refreshes go out together on the one connection (pipelined), at most
        // REFRESHES_IN_FLIGHT at a time, so a node's heartbeat costs about one round trip per
        // that many streams.
        let keys: Vec<String> = lock(&self.owned).keys().cloned().collect();
        let mut in_flight = tokio::task::JoinSet::new();
        // Once a refresh fails the registry is gone: the rest wait for the next heartbeat.
        let mut failed = false;
        for key in keys {
            if failed {
                break;
            }
            if !lock(&self.owned).contains_key(&key) {
                // Released meanwhile: do not take it again.
                continue;
            }
            while in_flight.len() >= REFRESHES_IN_FLIGHT {
                if let Some(Ok((key, r))) = in_flight.join_next().await {
                    failed |= !self.refreshed(key, r);
                }
            }
            let (registry, node, lease) = (self.registry.clone(), self.node_id.clone(), self.lease);
            in_flight.spawn(async move {
                let r = registry.refresh(&key, &node, lease).await;
                (key, r)
            });
        }
        while let Some(done) = in_flight.join_next().await {
            if let Ok((key, r)) = done {
                self.refreshed(key, r);
            }
        }
    }

    /// Handle one refresh's answer; false when the registry failed.
    fn refreshed(&self, key: String, r: Result<Claim, RegistryError>) -> bool {
        let ok = self.note(&r);
        if let Ok(Claim::Taken(other)) = r {
            // Another node claimed it while ours lapsed (Redis lost it or was unreachable past
            // the lease): both publishers are live until one leaves; ours keeps being served
            // here, and the registry sends players elsewhere to the other. Said once: the claim
            // is no longer ours to renew or release.
            warn!(stream = %key, node = %self.node_id, owner = %other, "cluster claim lost to another node");
            lock(&self.owned).remove(&key);
        }
        ok
    }

    /// Leave the cluster (graceful shutdown): release every claim still held and drop the
    /// heartbeat, so that other nodes may take the streams at once instead of a lease later.
    /// Best effort: what fails lapses with its lease.
    pub async fn leave(&self) {
        let keys: Vec<String> = lock(&self.owned).drain().map(|(k, _)| k).collect();
        for key in keys {
            if !self.note(&self.registry.release(&key, &self.node_id).await) {
                return;
            }
        }
        let r = self.registry.forget_node(&self.node_id).await;
        if self.note(&r) {
            info!(node = %self.node_id, "left the cluster");
        }
    }

    /// The heartbeat task: [`Cluster::beat`] every heartbeat period with the load `ctx` has,
    /// until the context is gone or shuts down.
    pub async fn run(self: Arc<Self>, ctx: Weak<Context>) {
        let mut tick = tokio::time::interval(self.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        info!(node = %self.node_id, advertise = %self.advertise, shared = self.shared, "cluster node");
        loop {
            tick.tick().await;
            let Some(ctx) = ctx.upgrade() else { return };
            if *ctx.shutdown.borrow() {
                return;
            }
            let streams = ctx.registry.streams();
            let players = streams
                .iter()
                .map(|s| s.players.load(Ordering::Relaxed))
                .sum();
            let count = streams.len() as u64;
            drop(streams);
            drop(ctx);
            // A heartbeat that hangs must not pile up: it has its own timeouts, and the next
            // one waits for it.
            self.beat(count, players).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(redis: &str, node: &str) -> Arc<Cluster> {
        let mut s = crate::Settings::default();
        s.cluster.redis = redis.into();
        s.cluster.node_id = node.into();
        s.cluster.advertise = format!("rtmp://{node}:1935");
        s.cluster.lease_ms = 30_000;
        Arc::new(Cluster::new(&s).unwrap())
    }

    #[tokio::test]
    async fn one_node_claims_refreshes_and_releases() {
        let c = cluster("", "n1");
        assert!(!c.is_shared());
        let g = c.clone().claim("live", "a").await.unwrap();
        // A second local publisher gets a guard that releases nothing.
        let second = c.clone().claim("live", "a").await.unwrap();
        drop(second);
        assert_eq!(c.registry().owner("live/a").await, Ok(Some("n1".into())));
        c.beat(1, 2).await;
        assert_eq!(c.registry().nodes(10).await.unwrap()[0].players, 2);
        assert_eq!(c.owner_elsewhere("live", "a").await, Ok(None));
        drop(g);
        tokio::task::yield_now().await;
        assert_eq!(c.registry().owner("live/a").await, Ok(None));
        // Leaving releases what is still claimed and the heartbeat.
        let _kept = c.clone().claim("live", "b").await.unwrap();
        c.leave().await;
        assert_eq!(c.registry().owner("live/b").await, Ok(None));
        assert_eq!(c.registry().nodes(10).await, Ok(Vec::new()));
    }

    #[tokio::test]
    async fn a_claim_lost_to_another_node_is_given_up_once() {
        let mut server = super::test_redis::RedisServer::start();
        let a = cluster(&server.url(), "a");
        let b = cluster(&server.url(), "b");
        let g = a.clone().claim("live", "x").await.unwrap();
        server.restart();
        // b's publisher comes first after the restart (its first call meets the dead link).
        let _ = b.registry().owner("live/x").await;
        let _bg = b.clone().claim("live", "x").await.unwrap();
        let _ = a.registry().owner("live/x").await;
        a.beat(1, 0).await;
        assert!(lock(&a.owned).is_empty());
        drop(g);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(b.registry().owner("live/x").await, Ok(Some("b".into())));
    }

    #[tokio::test]
    async fn nodes_sharing_redis_see_each_other_and_recover() {
        let mut server = super::test_redis::RedisServer::start();
        let a = cluster(&server.url(), "a");
        let b = cluster(&server.url(), "b");
        let g = a.clone().claim("live", "cam").await.unwrap();
        a.beat(1, 0).await;
        assert_eq!(
            b.clone().claim("live", "cam").await.unwrap_err(),
            ClaimError::Taken("a".into())
        );
        assert_eq!(
            b.owner_elsewhere("live", "cam").await,
            Ok(Some(Owner {
                node: "a".into(),
                advertise: "rtmp://a:1935".into()
            }))
        );
        // Redis restarts empty: a's heartbeat claims its stream again.
        server.restart();
        // Each node's old connection fails once, then it connects again.
        let _ = b.owner_elsewhere("live", "cam").await;
        assert_eq!(b.owner_elsewhere("live", "cam").await, Ok(None));
        let _ = a.registry().owner("live/cam").await;
        a.beat(1, 0).await;
        assert!(a.registry_up());
        assert_eq!(
            b.owner_elsewhere("live", "cam")
                .await
                .unwrap()
                .unwrap()
                .node,
            "a"
        );
        drop(g);
        // The release is spawned: wait for it.
        for _ in 0..100 {
            if b.registry().owner("live/cam").await == Ok(None) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(b.registry().owner("live/cam").await, Ok(None));
        drop(server);
        assert!(matches!(
            b.clone().claim("live", "x").await,
            Err(ClaimError::Unavailable(_))
        ));
        assert!(!b.registry_up());
        assert!(b.registry_errors() >= 1);
    }
}
