//! The Redis cluster with real processes (docs/CLUSTER.md): a `redis-server` on a free loopback
//! port and three `sluice serve` nodes sharing it (2 s leases).
//! - ffmpeg publishes to node 1; an HTTP-FLV and an ffmpeg player on node 2 and a raw RTMP
//!   player on node 3 receive it (each edge pulls it from node 1); `GET /api/v1/cluster` lists the three nodes and
//!   the claim; a second publisher of the same name on node 2 is refused (`BadName`);
//! - `kill -9` node 1: its claim lapses, ffmpeg publishes again to node 2, and the player on
//!   node 3 receives frames again on the same connection (UnpublishNotify, then PublishNotify);
//! - Redis is killed: live streams go on, a new publish is refused (`Denied`),
//!   `sluice_cluster_redis_up` is 0; Redis starts again (empty) on the same port: node 2 claims
//!   its stream again, and a new stream published on node 3 reaches a player that was waiting
//!   for it on node 2 before it was published.
//! - an RTMFP publisher claims its stream as an RTMP one does: an RTMP player on another node
//!   gets it by a pull, and a second RTMFP publisher of the name on that node is refused.

mod live_support;

use live_support::{
    api_get, ffmpeg, ffmpeg_play, fixture, http_get, http_request, packets, poll_until, publish,
    temp_dir, RawClient, Sluice,
};
use serde_json::Value;
use sluice_rtmp::session::ClientEvent;
use sluice_testkit::{free_port, spawn, wait_for_port, ChildGuard, FixtureOpts};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// `redis-server` on `port`, no persistence (a restart starts empty).
fn redis(port: u16) -> ChildGuard {
    let mut cmd = Command::new("redis-server");
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"]);
    cmd.args(["--save", "", "--appendonly", "no"]);
    let guard = spawn(cmd);
    assert!(
        wait_for_port(port, Duration::from_secs(10)),
        "redis-server did not listen on {port} (is the redis-server package installed?)"
    );
    guard
}

/// A node of the cluster, with its HTTP port (API, metrics).
struct Node {
    sluice: Sluice,
    http: u16,
}

fn node(dir: &Path, id: &str, redis_port: u16) -> Node {
    let cfg = dir.join(format!("{id}.toml"));
    std::fs::write(
        &cfg,
        format!(
            r#"
[cluster]
redis = "redis://127.0.0.1:{redis_port}"
node_id = "{id}"
lease_ms = 2000
heartbeat_ms = 400
connect_timeout_ms = 500
command_timeout_ms = 500
pull_idle_secs = 2
[relay]
backoff_min_ms = 100
backoff_max_ms = 500
pull_probe_ms = 3000
"#
        ),
    )
    .unwrap();
    let (sluice, http) = Sluice::start_with_config_http(&cfg, &[]);
    Node { sluice, http }
}

impl Node {
    fn cluster(&self) -> (u16, Value) {
        let (status, _, body) = http_request(self.http, "GET", "/api/v1/cluster", "");
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// The node owning `live/<name>` in this node's view of the registry.
    fn owner(&self, name: &str) -> Option<String> {
        let (status, v) = self.cluster();
        if status != 200 {
            return None;
        }
        v["claims"]
            .as_array()?
            .iter()
            .find(|c| c["stream"] == format!("live/{name}"))
            .map(|c| c["node"].as_str().unwrap().to_owned())
    }

    fn wait_owner(&self, name: &str, want: Option<&str>) {
        poll_until(
            WAIT,
            &format!("live/{name} owned by {want:?}"),
            || {
                let o = self.owner(name);
                if o.as_deref() == want {
                    Ok(())
                } else {
                    Err(format!("{o:?} / {}", self.cluster().1))
                }
            },
            || self.sluice.log(),
        );
    }

    fn metric(&self, name: &str) -> Option<u64> {
        let (_, _, body) = http_request(self.http, "GET", "/metrics", "");
        String::from_utf8_lossy(&body)
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} "))?.trim().parse().ok())
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.sluice.port))
    }
}

/// What a background player saw: video frames (not sequence headers) and onStatus codes, in
/// order.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Video,
    Status(String),
}

/// A raw RTMP player of `live/<name>` on its own thread, reading until `stop`.
struct Player {
    seen: Arc<Mutex<Vec<Seen>>>,
    closed: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Player {
    fn start(addr: SocketAddr, name: &str) -> Player {
        let mut client = RawClient::connect(addr, |_| {});
        client.wait_connected();
        client.play(name);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (seen, closed, stop) = (seen.clone(), closed.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match client.next_event(Duration::from_millis(100)) {
                        Some(ClientEvent::Video { payload, .. })
                            if !live_support::is_video_sequence_header(&payload) =>
                        {
                            seen.lock().unwrap().push(Seen::Video)
                        }
                        Some(ClientEvent::Status { info, .. }) => {
                            seen.lock().unwrap().push(Seen::Status(info.code))
                        }
                        Some(_) => {}
                        None if client.is_closed() => {
                            closed.store(true, Ordering::Relaxed);
                            return;
                        }
                        None => {}
                    }
                }
            })
        };
        Player {
            seen,
            closed,
            stop,
            thread: Some(thread),
        }
    }

    fn frames(&self) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| **s == Seen::Video)
            .count()
    }

    fn wait_frames(&self, n: usize, what: &str, log: &dyn Fn() -> String) {
        poll_until(
            WAIT,
            what,
            || {
                if self.closed.load(Ordering::Relaxed) {
                    panic!(
                        "the player's connection closed; {:?}",
                        self.seen.lock().unwrap()
                    );
                }
                let f = self.frames();
                if f >= n {
                    Ok(())
                } else {
                    Err(format!("{f} frames"))
                }
            },
            log,
        );
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A raw publish of `live/<name>` on `addr`: `Err(code)` when refused.
fn try_publish(addr: SocketAddr, name: &str) -> Result<RawClient, String> {
    let mut c = RawClient::connect(addr, |_| {});
    c.wait_connected();
    match c.publish(name) {
        Ok(_) => Ok(c),
        Err(info) => Err(info.code),
    }
}

#[test]
fn three_nodes_share_streams_fail_over_and_survive_a_redis_restart() {
    let dir = temp_dir();
    let input = fixture(FixtureOpts {
        duration: Duration::from_secs(90),
        ..FixtureOpts::default()
    });
    let redis_port = free_port();
    let mut redis_guard = redis(redis_port);
    let mut n1 = node(dir.path(), "n1", redis_port);
    let n2 = node(dir.path(), "n2", redis_port);
    let n3 = node(dir.path(), "n3", redis_port);

    // Every node sees the three heartbeats.
    poll_until(
        WAIT,
        "three nodes in the registry",
        || {
            let (_, v) = n2.cluster();
            let ids: Vec<&str> = v["nodes"]
                .as_array()
                .map(|a| a.iter().filter_map(|n| n["id"].as_str()).collect())
                .unwrap_or_default();
            if ids == ["n1", "n2", "n3"] {
                Ok(())
            } else {
                Err(v.to_string())
            }
        },
        || n2.sluice.log(),
    );
    let v = api_get(n1.http, "/api/v1/cluster");
    assert_eq!(v["node"], "n1");
    assert_eq!(v["shared"], true);
    assert_eq!(
        v["advertise"],
        format!("rtmp://127.0.0.1:{}", n1.sluice.port)
    );

    // ffmpeg publishes to node 1, which claims the stream.
    let mut first = publish(&input, &n1.sluice.url("cam"));
    n3.wait_owner("cam", Some("n1"));

    // Players on nodes 2 and 3 receive it through pulls from node 1: an HTTP-FLV player (it
    // opens node 2's pull), an ffmpeg RTMP player on node 2, a raw RTMP player on node 3.
    let (head, body) = http_get(
        n2.http,
        "/live/cam.flv",
        "",
        Duration::from_secs(15),
        64 * 1024,
    );
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    assert!(
        body.starts_with(b"FLV") && body.len() >= 64 * 1024,
        "{head} {} bytes",
        body.len()
    );
    let on_n3 = Player::start(n3.addr(), "cam");
    on_n3.wait_frames(10, "frames on node 3 from node 1", &|| n3.sluice.log());
    let out2 = dir.path().join("n2.flv");
    let mut play2 = ffmpeg_play(
        &ffmpeg(),
        &n2.sluice.url("cam"),
        &out2,
        Duration::from_secs(10),
        &["-t", "3"],
    );
    play2.wait_success(WAIT);
    assert!(
        packets(&out2, "v").len() > 10,
        "ffmpeg on node 2 got too little; log:\n{}",
        n2.sluice.log()
    );
    n3.sluice
        .wait_log(&["pull live", "cam"], Duration::from_secs(5));

    // A second publisher of the same stream on node 2 is refused, as on one node.
    assert_eq!(
        try_publish(n2.addr(), "cam").err().as_deref(),
        Some("NetStream.Publish.BadName")
    );

    // Node 1 dies; its claim lapses; the publisher comes back on node 2.
    n1.sluice.guard.kill();
    first.kill();
    let before = on_n3.frames();
    n2.wait_owner("cam", None);
    let _second = publish(&input, &n2.sluice.url("cam"));
    n3.wait_owner("cam", Some("n2"));
    on_n3.wait_frames(before + 25, "frames on node 3 after the failover", &|| {
        n3.sluice.log()
    });
    {
        let seen = on_n3.seen.lock().unwrap();
        let unpublished = seen
            .iter()
            .position(|s| *s == Seen::Status("NetStream.Play.UnpublishNotify".into()))
            .expect("UnpublishNotify when node 1 died");
        let republished = seen
            .iter()
            .rposition(|s| *s == Seen::Status("NetStream.Play.PublishNotify".into()))
            .expect("PublishNotify when node 2 took over");
        assert!(unpublished < republished, "{seen:?}");
        assert!(
            seen[republished..]
                .iter()
                .filter(|s| **s == Seen::Video)
                .count()
                >= 10,
            "{seen:?}"
        );
    }
    assert!(!on_n3.closed.load(Ordering::Relaxed));

    // Redis goes away: what is live goes on; what cannot be claimed is refused.
    redis_guard.kill();
    poll_until(
        WAIT,
        "sluice_cluster_redis_up 0 on node 3",
        || match n3.metric("sluice_cluster_redis_up") {
            Some(0) => Ok(()),
            other => Err(format!("{other:?}")),
        },
        || n3.sluice.log(),
    );
    let during = on_n3.frames();
    on_n3.wait_frames(during + 10, "frames on node 3 while Redis is down", &|| {
        n3.sluice.log()
    });
    assert_eq!(
        try_publish(n3.addr(), "other").err().as_deref(),
        Some("NetStream.Publish.Denied")
    );
    assert!(n3.metric("sluice_cluster_registry_errors_total").unwrap() > 0);
    assert_eq!(n3.cluster().0, 503);
    // Logged once per change of state, not per failed call or refused publish.
    assert_eq!(
        n3.sluice
            .count_log(&["publish denied", "cannot be reached"]),
        0,
        "{}",
        n3.sluice.log()
    );
    assert_eq!(
        n3.sluice.count_log(&["cluster registry unreachable"]),
        1,
        "{}",
        n3.sluice.log()
    );

    // Redis is back, empty: node 2 claims its live stream again, and new publishes work.
    let _redis_again = redis(redis_port);
    n3.wait_owner("cam", Some("n2"));
    assert_eq!(n3.metric("sluice_cluster_redis_up"), Some(1));
    // This player asks before anyone publishes `cam2`: it waits, and gets it once node 3 does.
    let on_n2 = Player::start(n2.addr(), "cam2");
    thread::sleep(Duration::from_millis(500));
    let _third = publish(&input, &n3.sluice.url("cam2"));
    n2.wait_owner("cam2", Some("n3"));
    on_n2.wait_frames(
        10,
        "frames of a stream published after the recovery",
        &|| n2.sluice.log(),
    );
    assert!(!on_n3.closed.load(Ordering::Relaxed));
}

/// `kill -<sig> <pid>`.
fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// An owner whose host stops answering without a reset (`SIGSTOP`, as a machine that lost
/// power): the edge's pull hears nothing for a lease and ends, the owner's claim lapses, and the
/// publisher moving to the edge itself takes the stream over for the edge's waiting player; the
/// old owner, awake again, gives its lost claim up and serves the stream to HLS by a pull.
#[test]
fn a_silent_owner_is_given_up_after_a_lease_and_the_edge_takes_the_stream() {
    let dir = temp_dir();
    let input = fixture(FixtureOpts {
        duration: Duration::from_secs(90),
        ..FixtureOpts::default()
    });
    let redis_port = free_port();
    let _redis = redis(redis_port);
    let n1 = node(dir.path(), "n1", redis_port);
    let n2 = node(dir.path(), "n2", redis_port);
    let mut first = publish(&input, &n1.sluice.url("cam"));
    n2.wait_owner("cam", Some("n1"));
    let player = Player::start(n2.addr(), "cam");
    player.wait_frames(10, "frames on node 2 from node 1", &|| n2.sluice.log());

    signal(n1.sluice.guard.pid(), "-STOP");
    n2.sluice.wait_log(&["sent nothing for a lease"], WAIT);
    n2.wait_owner("cam", None);
    let before = player.frames();
    let _second = publish(&input, &n2.sluice.url("cam"));
    n2.wait_owner("cam", Some("n2"));
    player.wait_frames(
        before + 25,
        "frames on node 2 from its own publisher",
        &|| n2.sluice.log(),
    );
    assert!(!player.closed.load(Ordering::Relaxed));
    // Node 1 wakes up; its publisher leaves (its claim was lost: it releases nothing).
    signal(n1.sluice.guard.pid(), "-CONT");
    first.kill();
    n1.sluice
        .wait_log(&["cluster claim lost to another node"], WAIT);
    n1.sluice.wait_log(&["unpublish", "stream=cam"], WAIT);
    // An HLS request alone opens the pull from the owner (node 2 now): node 1 serves it.
    poll_until(
        WAIT,
        "an HLS playlist on node 1 of the stream node 2 publishes",
        || {
            let (status, _, body) = http_request(n1.http, "GET", "/live/cam.m3u8", "");
            let text = String::from_utf8_lossy(&body).into_owned();
            if status == 200 && text.contains("#EXTINF") {
                Ok(())
            } else {
                Err(format!("{status} {text}"))
            }
        },
        || n1.sluice.log(),
    );
    n1.sluice.wait_log(&["pull live", "cam"], WAIT);
    assert_eq!(n2.owner("cam").as_deref(), Some("n2"));
}

#[test]
fn an_rtmfp_publisher_claims_its_stream_like_an_rtmp_one() {
    let dir = temp_dir();
    let input = fixture(FixtureOpts {
        duration: Duration::from_secs(60),
        ..FixtureOpts::default()
    });
    let redis_port = free_port();
    let _redis = redis(redis_port);
    let n1 = node(dir.path(), "n1", redis_port);
    let n2 = node(dir.path(), "n2", redis_port);
    for n in [&n1, &n2] {
        n.sluice.wait_log(&["RTMFP listening"], WAIT);
    }
    // An RTMFP publisher on node 1 (UDP, the RTMP port number): node 1 claims the stream, and
    // an RTMP player on node 2 gets it by a pull from node 1.
    let url1 = format!("rtmfp://127.0.0.1:{}/live/udp", n1.sluice.port);
    let _publisher = spawn(live_support::sluice_cli(&[
        "publish",
        "-q",
        input.to_str().unwrap(),
        &url1,
    ]));
    n2.wait_owner("udp", Some("n1"));
    let player = Player::start(n2.addr(), "udp");
    player.wait_frames(
        10,
        "frames on node 2 from node 1's RTMFP publisher",
        &|| n2.sluice.log(),
    );
    // A second RTMFP publisher of the name, on node 2, is refused as a second RTMP one is.
    let url2 = format!("rtmfp://127.0.0.1:{}/live/udp", n2.sluice.port);
    let out = sluice_testkit::run(
        live_support::sluice_cli(&["publish", input.to_str().unwrap(), &url2]),
        WAIT,
    );
    assert!(!out.status.success(), "{}", out.log);
    assert!(out.log.contains("NetStream.Publish.BadName"), "{}", out.log);
    assert_eq!(n1.owner("udp").as_deref(), Some("n1"));
    assert!(!player.closed.load(Ordering::Relaxed));
}
