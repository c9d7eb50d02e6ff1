//! The cluster registry: who owns which stream, and which nodes are alive with what load.
//!
//! [`ClusterRegistry`] is the contract both implementations keep: [`MemoryRegistry`] (one
//! node, the default) and [`super::redis::RedisRegistry`] (many nodes sharing a Redis). A claim
//! is a lease: it ends `lease` after its last refresh unless released first, and only the node
//! that holds it can refresh or release it. Node heartbeats are leases too, carrying the node's
//! RTMP address and load.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// What a registry call returns.
pub type RegistryFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, RegistryError>> + Send + 'a>>;

/// A registry call that failed: the registry could not be reached or answered nonsense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No connection (refused, reset, DNS, Sentinel without master).
    #[error("registry unreachable: {0}")]
    Unreachable(String),
    /// No answer within `cluster.command_timeout_ms`.
    #[error("registry timed out")]
    Timeout,
    /// An answer that is not what the command returns.
    #[error("registry answered unexpectedly: {0}")]
    Protocol(String),
}

/// The outcome of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The claim is ours (new, or already ours and now refreshed).
    Ours,
    /// Another node holds it.
    Taken(String),
}

/// A node as its heartbeat describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Its id (`cluster.node_id`).
    pub id: String,
    /// Its RTMP address (`cluster.advertise`).
    pub advertise: String,
    /// Streams published on it.
    pub streams: u64,
    /// Players on it.
    pub players: u64,
    /// When it last sent a heartbeat (Unix time, ms).
    pub heartbeat_unix_ms: u64,
}

/// Who owns which stream and which nodes are alive. Stream keys are `app/stream`.
pub trait ClusterRegistry: Send + Sync + std::fmt::Debug {
    /// Claim `stream` for `node` for `lease`, atomically: it becomes ours if nobody holds it
    /// (or we already do: then the lease is renewed).
    fn claim<'a>(
        &'a self,
        stream: &'a str,
        node: &'a str,
        lease: Duration,
    ) -> RegistryFuture<'a, Claim>;

    /// Renew our claim of `stream`, or take it again if it lapsed (the registry restarted or
    /// the lease ran out while it was unreachable). `Taken` when another node holds it.
    fn refresh<'a>(
        &'a self,
        stream: &'a str,
        node: &'a str,
        lease: Duration,
    ) -> RegistryFuture<'a, Claim>;

    /// Drop our claim of `stream`; false when it was not ours (then it is left alone).
    fn release<'a>(&'a self, stream: &'a str, node: &'a str) -> RegistryFuture<'a, bool>;

    /// The node holding `stream`, if any.
    fn owner<'a>(&'a self, stream: &'a str) -> RegistryFuture<'a, Option<String>>;

    /// Record `node`'s heartbeat (address and load) for `lease`.
    fn heartbeat<'a>(&'a self, node: &'a NodeInfo, lease: Duration) -> RegistryFuture<'a, ()>;

    /// Drop `node`'s heartbeat (it is leaving).
    fn forget_node<'a>(&'a self, node: &'a str) -> RegistryFuture<'a, ()>;

    /// The heartbeat of node `id`, while it lives.
    fn node<'a>(&'a self, id: &'a str) -> RegistryFuture<'a, Option<NodeInfo>>;

    /// Living nodes, at most `max`, ordered by id.
    fn nodes(&self, max: usize) -> RegistryFuture<'_, Vec<NodeInfo>>;

    /// Claims (stream, node), at most `max`, ordered by stream.
    fn claims(&self, max: usize) -> RegistryFuture<'_, Vec<(String, String)>>;
}

/// The one-node registry: claims and heartbeats in a map, leases on the runtime's clock.
#[derive(Debug, Default)]
pub struct MemoryRegistry {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    claims: HashMap<String, (String, Instant)>,
    nodes: HashMap<String, (NodeInfo, Instant)>,
}

impl MemoryRegistry {
    fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut MemoryState, Instant) -> T,
    ) -> RegistryFuture<'_, T> {
        let now = Instant::now();
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.claims.retain(|_, (_, until)| *until > now);
        s.nodes.retain(|_, (_, until)| *until > now);
        let v = f(&mut s, now);
        Box::pin(std::future::ready(Ok(v)))
    }
}

impl ClusterRegistry for MemoryRegistry {
    fn claim<'a>(
        &'a self,
        stream: &'a str,
        node: &'a str,
        lease: Duration,
    ) -> RegistryFuture<'a, Claim> {
        self.with(move |s, now| match s.claims.get_mut(stream) {
            Some((owner, _)) if owner != node => Claim::Taken(owner.clone()),
            Some((_, until)) => {
                *until = now + lease;
                Claim::Ours
            }
            None => {
                s.claims
                    .insert(stream.to_owned(), (node.to_owned(), now + lease));
                Claim::Ours
            }
        })
    }

    fn refresh<'a>(
        &'a self,
        stream: &'a str,
        node: &'a str,
        lease: Duration,
    ) -> RegistryFuture<'a, Claim> {
        self.claim(stream, node, lease)
    }

    fn release<'a>(&'a self, stream: &'a str, node: &'a str) -> RegistryFuture<'a, bool> {
        self.with(move |s, _| {
            if s.claims.get(stream).is_some_and(|(o, _)| o == node) {
                s.claims.remove(stream);
                true
            } else {
                false
            }
        })
    }

    fn owner<'a>(&'a self, stream: &'a str) -> RegistryFuture<'a, Option<String>> {
        self.with(move |s, _| s.claims.get(stream).map(|(o, _)| o.clone()))
    }

    fn heartbeat<'a>(&'a self, node: &'a NodeInfo, lease: Duration) -> RegistryFuture<'a, ()> {
        self.with(move |s, now| {
            s.nodes.insert(node.id.clone(), (node.clone(), now + lease));
        })
    }

    fn forget_node<'a>(&'a self, node: &'a str) -> RegistryFuture<'a, ()> {
        self.with(move |s, _| {
            s.nodes.remove(node);
        })
    }

    fn node<'a>(&'a self, id: &'a str) -> RegistryFuture<'a, Option<NodeInfo>> {
        self.with(move |s, _| s.nodes.get(id).map(|(n, _)| n.clone()))
    }

    fn nodes(&self, max: usize) -> RegistryFuture<'_, Vec<NodeInfo>> {
        self.with(move |s, _| {
            let mut v: Vec<NodeInfo> = s.nodes.values().map(|(n, _)| n.clone()).collect();
            v.sort_by(|a, b| a.id.cmp(&b.id));
            v.truncate(max);
            v
        })
    }

    fn claims(&self, max: usize) -> RegistryFuture<'_, Vec<(String, String)>> {
        self.with(move |s, _| {
            let mut v: Vec<(String, String)> = s
                .claims
                .iter()
                .map(|(k, (o, _))| (k.clone(), o.clone()))
                .collect();
            v.sort();
            v.truncate(max);
            v
        })
    }
}

/// The contract every registry keeps, run against `r` (the memory one here, Redis in
/// `redis.rs`). `wait` lets a lease of `lease` run out.
#[cfg(test)]
pub(crate) async fn check_contract<F, Fut>(r: &dyn ClusterRegistry, lease: Duration, wait: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let long = Duration::from_secs(60);
    assert_eq!(r.claim("live/a", "n1", lease).await, Ok(Claim::Ours));
    assert_eq!(r.claim("live/a", "n1", lease).await, Ok(Claim::Ours));
    assert_eq!(
        r.claim("live/a", "n2", long).await,
        Ok(Claim::Taken("n1".into()))
    );
    assert_eq!(
        r.refresh("live/a", "n2", long).await,
        Ok(Claim::Taken("n1".into()))
    );
    assert_eq!(r.release("live/a", "n2").await, Ok(false));
    assert_eq!(r.owner("live/a").await, Ok(Some("n1".into())));
    assert_eq!(r.refresh("live/a", "n1", lease).await, Ok(Claim::Ours));
    assert_eq!(r.claim("live/b", "n2", long).await, Ok(Claim::Ours));
    assert_eq!(
        r.claims(10).await,
        Ok(vec![
            ("live/a".into(), "n1".into()),
            ("live/b".into(), "n2".into())
        ])
    );
    assert_eq!(r.claims(1).await.map(|c| c.len()), Ok(1));
    assert_eq!(r.release("live/b", "n2").await, Ok(true));
    assert_eq!(r.owner("live/b").await, Ok(None));
    let n1 = NodeInfo {
        id: "n1".into(),
        advertise: "rtmp://127.0.0.1:1935".into(),
        streams: 1,
        players: 7,
        heartbeat_unix_ms: 1_700_000_000_000,
    };
    let n2 = NodeInfo {
        id: "n2".into(),
        ..n1.clone()
    };
    r.heartbeat(&n1, lease).await.unwrap();
    r.heartbeat(&n2, long).await.unwrap();
    assert_eq!(r.node("n1").await, Ok(Some(n1.clone())));
    assert_eq!(r.nodes(10).await, Ok(vec![n1.clone(), n2.clone()]));
    r.forget_node("n1").await.unwrap();
    assert_eq!(r.node("n1").await, Ok(None));
    r.heartbeat(&n1, lease).await.unwrap();
    // n1 stops refreshing: its claim and heartbeat lapse, and n2 may claim its stream.
    wait().await;
    assert_eq!(r.owner("live/a").await, Ok(None));
    assert_eq!(r.node("n1").await, Ok(None));
    assert_eq!(r.nodes(10).await, Ok(vec![n2]));
    assert_eq!(r.claim("live/a", "n2", long).await, Ok(Claim::Ours));
    // A lapsed claim is taken again by its refresh (the registry lost it), unless it is taken.
    assert_eq!(r.refresh("live/c", "n1", long).await, Ok(Claim::Ours));
    assert_eq!(
        r.refresh("live/a", "n1", long).await,
        Ok(Claim::Taken("n2".into()))
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn memory_registry_keeps_the_contract() {
        let r = MemoryRegistry::default();
        let lease = Duration::from_millis(500);
        check_contract(&r, lease, || tokio::time::sleep(lease * 2)).await;
    }
}
