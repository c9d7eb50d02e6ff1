//! [`RedisRegistry`]: the cluster registry in a Redis shared by every node (docs/CLUSTER.md).
//!
//! Keys (all under `cluster.key_prefix`, default `sluice:`):
//! - `stream:<app>/<name>` = the owning node's id, with a lease (`PX`). A claim is
//!   `SET key node NX PX lease`; when the key exists, the guarded claim script decides: it renews
//!   the lease if the value is ours and reports the owner otherwise. Refresh runs the same script
//!   (so a claim lost with a restarted Redis is taken again); release is a script that deletes
//!   the key only when its value is ours. Scripts run atomically on the server (`EVALSHA`, the
//!   Redis `EVAL` semantics), so a node can never renew or drop another node's claim.
//! - `node:<id>` = a hash `advertise`, `streams`, `players`, `heartbeat_ms`, with a lease.
//! - Listing uses `SCAN … MATCH` (never `KEYS`), bounded by the caller's `max`.
//!
//! One multiplexed connection is shared by every caller; when a command fails on it, the next
//! call connects again (for a Sentinel URL, after asking the Sentinels for the current master,
//! so a Sentinel failover is followed). Connects and commands have their own timeouts, and
//! after a failed connect the calls of the next `connect_timeout_ms` fail at once.

use super::config::{ClusterConfigError, ClusterSection, RedisTarget};
use super::registry::{Claim, ClusterRegistry, NodeInfo, RegistryError, RegistryFuture};
use redis::aio::MultiplexedConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{AsyncConnectionConfig, Client, ConnectionAddr, Script, Value};
use std::collections::HashMap;
use std::time::Duration;

/// Renew the claim if it is ours, take it if nobody holds it, else name the owner.
const CLAIM_LUA: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return ARGV[1]
end
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return v
";

/// Delete the claim only if it is ours.
const RELEASE_LUA: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Keys one `SCAN` step asks for.
const SCAN_COUNT: usize = 200;

enum Source {
    Direct(Client),
    Sentinel(tokio::sync::Mutex<SentinelClient>),
}

/// The shared connection, and when connecting last failed.
#[derive(Default)]
struct Link {
    conn: Option<MultiplexedConnection>,
    failed_at: Option<tokio::time::Instant>,
}

/// The Redis registry.
pub struct RedisRegistry {
    source: Source,
    conn: tokio::sync::Mutex<Link>,
    prefix: String,
    connect_timeout: Duration,
    command_timeout: Duration,
    claim: Script,
    release: Script,
}

impl std::fmt::Debug for RedisRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRegistry")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn io_error(e: redis::RedisError) -> RegistryError {
    if e.is_timeout() {
        RegistryError::Timeout
    } else if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() {
        RegistryError::Unreachable(e.to_string())
    } else {
        RegistryError::Protocol(e.to_string())
    }
}

impl RedisRegistry {
    /// A registry for `cfg.redis` (no connection is made until the first call).
    pub fn new(cfg: &ClusterSection) -> Result<RedisRegistry, ClusterConfigError> {
        let source = match cfg.target()? {
            RedisTarget::None => return Err(ClusterConfigError::BadRedisUrl),
            RedisTarget::Direct(url) => {
                Source::Direct(Client::open(url).map_err(|_| ClusterConfigError::BadRedisUrl)?)
            }
            RedisTarget::Sentinel {
                sentinels,
                master,
                db,
                username,
                password,
            } => {
                let bad = ClusterConfigError::BadSentinelUrl;
                let addrs = sentinels
                    .iter()
                    .map(|s| {
                        let (h, p) = s.rsplit_once(':').ok_or(bad)?;
                        Ok(ConnectionAddr::Tcp(
                            h.to_owned(),
                            p.parse().map_err(|_| bad)?,
                        ))
                    })
                    .collect::<Result<Vec<_>, ClusterConfigError>>()?;
                let mut b = SentinelClientBuilder::new(addrs, master, SentinelServerType::Master)
                    .map_err(|_| bad)?
                    .set_client_to_redis_db(db);
                if let Some(u) = username {
                    b = b.set_client_to_redis_username(u);
                }
                if let Some(p) = password {
                    b = b.set_client_to_redis_password(p);
                }
                Source::Sentinel(tokio::sync::Mutex::new(b.build().map_err(|_| bad)?))
            }
        };
        Ok(RedisRegistry {
            source,
            conn: tokio::sync::Mutex::new(Link::default()),
            prefix: cfg.key_prefix.clone(),
            connect_timeout: Duration::from_millis(cfg.connect_timeout_ms),
            command_timeout: Duration::from_millis(cfg.command_timeout_ms),
            claim: Script::new(CLAIM_LUA),
            release: Script::new(RELEASE_LUA),
        })
    }

    fn stream_key(&self, stream: &str) -> String {
        format!("{}stream:{stream}", self.prefix)
    }

    fn node_key(&self, id: &str) -> String {
        format!("{}node:{id}", self.prefix)
    }

    /// The shared connection, connecting first when there is none.
    async fn connection(&self) -> Result<MultiplexedConnection, RegistryError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.conn.as_ref() {
            return Ok(c.clone());
        }
        // One attempt per connect timeout: callers queued behind a failed attempt (Redis
        // black-holed, each attempt lasting the whole timeout) fail at once instead of in turn.
        if let Some(at) = slot.failed_at {
            if at.elapsed() < self.connect_timeout {
                return Err(RegistryError::Unreachable(
                    "the last connection attempt failed moments ago".into(),
                ));
            }
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.command_timeout));
        let connect = async {
            let client = match &self.source {
                Source::Direct(c) => c.clone(),
                Source::Sentinel(s) => s.lock().await.async_get_client().await.map_err(io_error)?,
            };
            client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(io_error)
        };
        let c = tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| RegistryError::Timeout)
            .and_then(|r| r);
        match c {
            Ok(c) => {
                *slot = Link {
                    conn: Some(c.clone()),
                    failed_at: None,
                };
                Ok(c)
            }
            Err(e) => {
                slot.failed_at = Some(tokio::time::Instant::now());
                Err(e)
            }
        }
    }

    /// Run `f` on the connection within the command timeout; a failure drops the connection
    /// (the next call connects again) unless Redis merely refused the command.
    async fn run<T, F, Fut>(&self, f: F) -> Result<T, RegistryError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.connection().await?;
        let r = match tokio::time::timeout(self.command_timeout, f(conn)).await {
            Err(_) => Err(RegistryError::Timeout),
            Ok(r) => r.map_err(io_error),
        };
        if matches!(
            r,
            Err(RegistryError::Timeout | RegistryError::Unreachable(_))
        ) {
            self.conn.lock().await.conn = None;
        }
        r
    }

    async fn guarded_claim(
        &self,
        stream: &str,
        node: &str,
        lease: Duration,
    ) -> Result<Claim, RegistryError> {
        let key = self.stream_key(stream);
        let owner: String = self
            .run(|mut c| {
                let mut inv = self.claim.key(&key);
                inv.arg(node).arg(lease_ms(lease));
                async move { inv.invoke_async(&mut c).await }
            })
            .await?;
        Ok(if owner == node {
            Claim::Ours
        } else {
            Claim::Taken(owner)
        })
    }

    /// Up to `max` keys matching `pattern`, by `SCAN`.
    async fn scan(&self, pattern: &str, max: usize) -> Result<Vec<String>, RegistryError> {
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = self
                .run(|mut c| async move {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(SCAN_COUNT)
                        .query_async(&mut c)
                        .await
                })
                .await?;
            keys.extend(batch);
            if next == 0 || keys.len() >= max {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        keys.truncate(max);
        Ok(keys)
    }
}

fn lease_ms(lease: Duration) -> u64 {
    (lease.as_millis() as u64).max(1)
}

fn parse_node(id: &str, fields: HashMap<String, String>) -> Option<NodeInfo> {
    if fields.is_empty() {
        return None;
    }
    let num = |k: &str| fields.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
    Some(NodeInfo {
        id: id.to_owned(),
        advertise: fields.get("advertise").cloned().unwrap_or_default(),
        streams: num("streams"),
        players: num("players"),
        heartbeat_unix_ms: num("heartbeat_ms"),
    })
}

impl ClusterRegistry for RedisRegistry {
    fn claim<'a>(
        &'a self,
        stream: &'a str,
        node: &'a str,
        lease: Duration,
    ) -> RegistryFuture<'a, Claim> {
        Box::pin(async move {
            let key = self.stream_key(stream);
            let set: Value = self
                .run(|mut c| async move {
                    redis::cmd("SET")
                        .arg(&key)
                        .arg(node)
                        .arg("NX")
                        .arg("PX")
                        .arg(lease_ms(lease))
                        .query_async(&mut c)
                        .await
                })
                .await?;
            match set {
                Value::Okay => Ok(Claim::Ours),
                Value::Nil => self.guarded_claim(stream, node, lease).await,
                other => Err(RegistryError::Protocol(format!(
                    "SET NX answered {other:?}"
                ))),
            }
        })
    }

    fn refresh<'a>(
        &'a self,
        stream: &'a str,
        node: &'a str,
        lease: Duration,
    ) -> RegistryFuture<'a, Claim> {
        Box::pin(self.guarded_claim(stream, node, lease))
    }

    fn release<'a>(&'a self, stream: &'a str, node: &'a str) -> RegistryFuture<'a, bool> {
        Box::pin(async move {
            let key = self.stream_key(stream);
            let n: i64 = self
                .run(|mut c| {
                    let mut inv = self.release.key(&key);
                    inv.arg(node);
                    async move { inv.invoke_async(&mut c).await }
                })
                .await?;
            Ok(n == 1)
        })
    }

    fn owner<'a>(&'a self, stream: &'a str) -> RegistryFuture<'a, Option<String>> {
        Box::pin(async move {
            let key = self.stream_key(stream);
            self.run(|mut c| async move { redis::cmd("GET").arg(&key).query_async(&mut c).await })
                .await
        })
    }

    fn heartbeat<'a>(&'a self, node: &'a NodeInfo, lease: Duration) -> RegistryFuture<'a, ()> {
        Box::pin(async move {
            let key = self.node_key(&node.id);
            self.run(|mut c| async move {
                redis::pipe()
                    .atomic()
                    .cmd("HSET")
                    .arg(&key)
                    .arg("advertise")
                    .arg(&node.advertise)
                    .arg("streams")
                    .arg(node.streams)
                    .arg("players")
                    .arg(node.players)
                    .arg("heartbeat_ms")
                    .arg(node.heartbeat_unix_ms)
                    .ignore()
                    .cmd("PEXPIRE")
                    .arg(&key)
                    .arg(lease_ms(lease))
                    .ignore()
                    .query_async::<()>(&mut c)
                    .await
            })
            .await
        })
    }

    fn forget_node<'a>(&'a self, node: &'a str) -> RegistryFuture<'a, ()> {
        Box::pin(async move {
            let key = self.node_key(node);
            self.run(|mut c| async move { redis::cmd("DEL").arg(&key).query_async(&mut c).await })
                .await
        })
    }

    fn node<'a>(&'a self, id: &'a str) -> RegistryFuture<'a, Option<NodeInfo>> {
        Box::pin(async move {
            let key = self.node_key(id);
            let fields: HashMap<String, String> =
                self.run(|mut c| async move {
                    redis::cmd("HGETALL").arg(&key).query_async(&mut c).await
                })
                .await?;
            Ok(parse_node(id, fields))
        })
    }

    fn nodes(&self, max: usize) -> RegistryFuture<'_, Vec<NodeInfo>> {
        Box::pin(async move {
            let prefix = self.node_key("");
            let keys = self.scan(&format!("{prefix}*"), max).await?;
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let all: Vec<HashMap<String, String>> = self
                .run(|mut c| {
                    let mut p = redis::pipe();
                    for k in &keys {
                        p.cmd("HGETALL").arg(k);
                    }
                    async move { p.query_async(&mut c).await }
                })
                .await?;
            Ok(keys
                .iter()
                .zip(all)
                .filter_map(|(k, f)| parse_node(&k[prefix.len()..], f))
                .collect())
        })
    }

    fn claims(&self, max: usize) -> RegistryFuture<'_, Vec<(String, String)>> {
        Box::pin(async move {
            let prefix = self.stream_key("");
            let keys = self.scan(&format!("{prefix}*"), max).await?;
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let owners: Vec<Option<String>> = self
                .run(|mut c| {
                    let keys = keys.clone();
                    async move { redis::cmd("MGET").arg(keys).query_async(&mut c).await }
                })
                .await?;
            Ok(keys
                .iter()
                .zip(owners)
                .filter_map(|(k, o)| Some((k[prefix.len()..].to_owned(), o?)))
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_redis::RedisServer;
    use super::*;

    fn registry(url: String, prefix: &str) -> RedisRegistry {
        RedisRegistry::new(&ClusterSection {
            redis: url,
            key_prefix: prefix.into(),
            ..ClusterSection::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn redis_registry_keeps_the_contract() {
        let server = RedisServer::start();
        let r = registry(server.url(), "t1:");
        let lease = Duration::from_millis(300);
        super::super::registry::check_contract(&r, lease, || tokio::time::sleep(lease * 3)).await;
        let calls = server.command_calls();
        let called = |c: &str| calls.iter().any(|(n, k)| n == c && *k > 0);
        assert!(
            called("set") && called("evalsha") && called("scan"),
            "{calls:?}"
        );
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_an_error_and_the_registry_recovers() {
        let mut server = RedisServer::start();
        let r = registry(server.url(), "t2:");
        let lease = Duration::from_secs(30);
        assert_eq!(r.claim("live/a", "n1", lease).await, Ok(Claim::Ours));
        server.stop();
        assert!(matches!(
            r.claim("live/b", "n1", lease).await,
            Err(RegistryError::Unreachable(_) | RegistryError::Timeout)
        ));
        assert!(r.owner("live/a").await.is_err());
        // Right after a failed connect, calls fail at once instead of each trying again.
        assert_eq!(
            r.owner("live/a").await,
            Err(RegistryError::Unreachable(
                "the last connection attempt failed moments ago".into()
            ))
        );
        // The same port again, empty (no persistence): once the connect timeout has passed,
        // the next call connects, and the refresh takes the claim again.
        server.restart();
        let mut refreshed = r.refresh("live/a", "n1", lease).await;
        for _ in 0..50 {
            if refreshed.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            refreshed = r.refresh("live/a", "n1", lease).await;
        }
        assert_eq!(refreshed, Ok(Claim::Ours));
        assert_eq!(r.owner("live/a").await, Ok(Some("n1".into())));
    }

    #[tokio::test]
    async fn a_sentinel_url_finds_the_master() {
        let master = RedisServer::start();
        let sentinel = RedisServer::sentinel("media", master.port);
        let r = registry(
            format!("redis+sentinel://127.0.0.1:{}/media", sentinel.port),
            "t3:",
        );
        let lease = Duration::from_secs(30);
        // Sentinel may need a moment before it answers for the master.
        let mut claimed = r.claim("live/s", "n1", lease).await;
        for _ in 0..50 {
            if claimed.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            claimed = r.claim("live/s", "n1", lease).await;
        }
        assert_eq!(claimed, Ok(Claim::Ours));
        // It went to the master itself.
        let direct = registry(master.url(), "t3:");
        assert_eq!(direct.owner("live/s").await, Ok(Some("n1".into())));
    }
}
