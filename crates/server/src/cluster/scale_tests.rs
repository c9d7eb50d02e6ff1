//! A load run of the registry against a real `redis-server` (docs/CLUSTER.md, "Scale"): 100
//! nodes, each with its own connection, claim 10 000 streams, run heartbeat rounds and look
//! streams up; `INFO commandstats` then says how many Redis commands each operation costs. The
//! counts are asserted (they are the design); the times are printed for the document, never
//! asserted (`cargo test -p sluice-server --lib cluster::scale -- --nocapture`).

use super::test_redis::RedisServer;
use super::Cluster;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const NODES: usize = 100;
const STREAMS: usize = 10_000;
const ROUNDS: usize = 3;

fn node(url: &str, i: usize) -> Arc<Cluster> {
    let mut s = crate::Settings::default();
    s.cluster.redis = url.into();
    s.cluster.node_id = format!("node{i:03}");
    s.cluster.advertise = format!("rtmp://10.0.{}.{}:1935", i / 250, i % 250 + 1);
    s.cluster.lease_ms = 60_000;
    s.cluster.command_timeout_ms = 10_000;
    Arc::new(Cluster::new(&s).unwrap())
}

fn calls(server: &RedisServer) -> HashMap<String, u64> {
    server.command_calls().into_iter().collect()
}

fn delta(after: &HashMap<String, u64>, before: &HashMap<String, u64>) -> HashMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(k, v)| *v > 0 && k != "info")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_streams_on_a_hundred_nodes() {
    let server = RedisServer::start();
    let url = server.url();
    let nodes: Vec<Arc<Cluster>> = (0..NODES).map(|i| node(&url, i)).collect();

    // Claims: each node publishes STREAMS / NODES streams, all nodes at once.
    let base = calls(&server);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let n = n.clone();
        tasks.push(tokio::spawn(async move {
            let mut guards = Vec::new();
            for s in 0..STREAMS / NODES {
                guards.push(n.clone().claim("live", &format!("s{i}-{s}")).await.unwrap());
            }
            guards
        }));
    }
    let mut guards = Vec::new();
    for t in tasks {
        guards.extend(t.await.unwrap());
    }
    let claim_time = t.elapsed();
    let after_claims = calls(&server);
    let d = delta(&after_claims, &base);
    assert_eq!(d.get("set"), Some(&(STREAMS as u64)), "{d:?}");

    // Heartbeat rounds: every node beats once per round, all at once.
    let t = Instant::now();
    for _ in 0..ROUNDS {
        let tasks: Vec<_> = nodes
            .iter()
            .map(|n| {
                let n = n.clone();
                tokio::spawn(async move { n.beat(100, 10_000).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    }
    let beat_time = t.elapsed();
    let after_beats = calls(&server);
    let d = delta(&after_beats, &after_claims);
    // One refresh script per claim per round (its GET and PEXPIRE run inside Redis; the first
    // EVALSHAs may miss the script cache and be sent again after SCRIPT LOAD),
    // one MULTI HSET PEXPIRE EXEC per node per round.
    let (sr, nr) = ((STREAMS * ROUNDS) as u64, (NODES * ROUNDS) as u64);
    // Each EVALSHA that missed the script cache is followed by one SCRIPT LOAD and a retry.
    let evals = d.get("evalsha").copied().unwrap_or(0);
    let loads = d.get("script|load").copied().unwrap_or(0);
    assert_eq!(evals, sr + loads, "{d:?}");
    assert_eq!(d.get("get"), Some(&sr), "{d:?}");
    assert_eq!(d.get("hset"), Some(&nr), "{d:?}");
    assert_eq!(d.get("exec"), Some(&nr), "{d:?}");
    assert_eq!(d.get("pexpire"), Some(&(sr + nr)), "{d:?}");
    println!("commands of {ROUNDS} heartbeat rounds: {d:?}");

    // Lookups: an edge opening a pull asks for the owner and its address.
    let t = Instant::now();
    let tasks: Vec<_> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let n = n.clone();
            tokio::spawn(async move {
                for s in 0..STREAMS / NODES {
                    let owner = (i + 1) % NODES;
                    let found = n
                        .owner_elsewhere("live", &format!("s{owner}-{s}"))
                        .await
                        .unwrap()
                        .unwrap();
                    assert_eq!(found.node, format!("node{owner:03}"));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let lookup_time = t.elapsed();
    let d = delta(&calls(&server), &after_beats);
    assert_eq!(d.get("get"), Some(&(STREAMS as u64)), "{d:?}");
    assert_eq!(d.get("hgetall"), Some(&(STREAMS as u64)), "{d:?}");

    let per_sec = |ops: usize, t: Duration| ops as f64 / t.as_secs_f64();
    println!(
        "claims: {STREAMS} in {claim_time:?} ({:.0}/s); heartbeat rounds: {ROUNDS} x ({NODES} heartbeats + {STREAMS} refreshes) in {beat_time:?} ({:.0} refreshes/s); lookups: {STREAMS} (GET + HGETALL) in {lookup_time:?} ({:.0}/s)",
        per_sec(STREAMS, claim_time),
        per_sec(STREAMS * ROUNDS, beat_time),
        per_sec(STREAMS, lookup_time),
    );
    let used = std::process::Command::new("redis-cli")
        .args(["-p", &server.port.to_string(), "INFO", "memory"])
        .output()
        .unwrap();
    let used = String::from_utf8_lossy(&used.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("used_memory_human:").map(str::to_owned))
        .unwrap_or_default();
    println!("redis memory with {STREAMS} claims and {NODES} nodes: {used}");
    let stats = std::process::Command::new("redis-cli")
        .args(["-p", &server.port.to_string(), "INFO", "commandstats"])
        .output()
        .unwrap();
    // usec_per_call: the time Redis itself spends per command.
    println!("{}", String::from_utf8_lossy(&stats.stdout));
    drop(guards);
}
