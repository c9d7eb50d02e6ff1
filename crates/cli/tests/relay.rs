//! Push and pull relays against real peers (docs/RELAY.md):
//! - push: ffmpeg publishes to Sluice, which pushes to nginx-rtmp, to an `ffmpeg -listen`
//!   receiver, to a target that is down (it shows `backoff` in the API, and connects once a
//!   receiver listens on its port) and over `rtmps://` to a second Sluice with a certificate
//!   made here (rcgen); ffmpeg plays from nginx and the receivers' files have frames;
//! - push targets from an `on_publish` hook answer (`hook_support`) and through the API;
//! - pull: Sluice B pulls from Sluice A on the first play; two players on B share one pull
//!   (A's `/api/v1/clients` shows exactly one player of the stream: B), which closes
//!   `idle_secs` after both left; a play of a stream no upstream has gets
//!   `NetStream.Play.StreamNotFound`.

mod hook_support;
mod live_support;

use hook_support::HookServer;
use live_support::{
    api_get, api_wait, ffmpeg, ffmpeg_play, fixture, packets, poll_until, publish, temp_dir,
    RawClient, Sluice,
};
use serde_json::Value;
use sluice_rtmp::session::ClientEvent;
use sluice_testkit::{free_port, spawn, wait_for_port, ChildGuard, FixtureOpts, NginxRtmp};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn input() -> PathBuf {
    fixture(FixtureOpts {
        duration: Duration::from_secs(30),
        ..FixtureOpts::default()
    })
}

/// `ffmpeg -listen 1` as an RTMP server on `port` (one connection), writing what is published
/// to `out`.
fn ffmpeg_listen(port: u16, out: &Path) -> ChildGuard {
    let mut cmd = Command::new(ffmpeg());
    cmd.args(["-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"]);
    cmd.args([
        "-listen",
        "1",
        "-i",
        &format!("rtmp://127.0.0.1:{port}/live/x"),
    ]);
    cmd.args(["-c", "copy", "-f", "flv", "-y"]).arg(out);
    // No probe connection: `-listen 1` serves exactly one, and the pushing server retries
    // until ffmpeg listens anyway.
    spawn(cmd)
}

/// A self-signed CA certificate for 127.0.0.1 and localhost, written as PEM into `dir`.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let mut params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key_pair = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key_pair).unwrap();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key_pair.serialize_pem()).unwrap();
    (c, k)
}

fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// One HTTP request with a body; the status and the JSON answer (`Null` if not JSON).
fn http_json(port: u16, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let i = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let status = String::from_utf8_lossy(&buf[9..12]).parse().unwrap();
    (
        status,
        serde_json::from_slice(&buf[i..]).unwrap_or(Value::Null),
    )
}

/// The `push` list of live stream `live/<name>` (empty when it is not live).
fn pushes(port: u16, name: &str) -> Vec<Value> {
    let v = api_get(port, "/api/v1/streams");
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .and_then(|s| s["push"].as_array().cloned())
        .unwrap_or_default()
}

fn target_state(port: u16, name: &str, target: &str) -> String {
    pushes(port, name)
        .iter()
        .find(|p| p["target"] == target)
        .map_or(String::new(), |p| p["state"].as_str().unwrap().to_owned())
}

fn is_live(port: u16, name: &str) -> bool {
    api_get(port, "/api/v1/streams")["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["name"] == name)
}

fn video_packets(f: &Path) -> usize {
    packets(f, "v").len()
}

#[test]
fn push_to_nginx_ffmpeg_listen_a_down_target_and_rtmps() {
    let dir = temp_dir();
    let input = input();
    let nginx = NginxRtmp::start();
    let listen_port = free_port();
    let listen_out = dir.path().join("listen.flv");
    let mut listener = ffmpeg_listen(listen_port, &listen_out);
    let down_port = free_port();

    // The rtmps receiver: a second Sluice with TLS.
    let (cert, key) = self_signed(dir.path());
    let tls_port = free_port();
    let receiver_cfg = write_config(
        dir.path(),
        "receiver.toml",
        &format!(
            "[tls]\nrtmps_listen = [\"127.0.0.1:{tls_port}\"]\ncert = {:?}\nkey = {:?}\n",
            cert.to_str().unwrap(),
            key.to_str().unwrap()
        ),
    );
    let (receiver, receiver_http) = Sluice::start_with_config_http(&receiver_cfg, &[]);
    assert!(wait_for_port(tls_port, Duration::from_secs(10)));

    let cfg = write_config(
        dir.path(),
        "origin.toml",
        &format!(
            r#"
[relay]
backoff_min_ms = 200
backoff_max_ms = 1000
ca_file = {ca:?}
[[relay.push]]
app = "live"
stream = "cam"
targets = [
  "rtmp://127.0.0.1:{nginx}/live/{{stream}}",
  "rtmp://127.0.0.1:{listen_port}/live/x",
  "rtmp://127.0.0.1:{down_port}/live/SECRETKEY",
  "rtmps://127.0.0.1:{tls_port}/{{app}}/tls",
]
"#,
            ca = cert.to_str().unwrap(),
            nginx = nginx.port(),
        ),
    );
    let (server, http) = Sluice::start_with_config_http(&cfg, &[]);
    let _publisher = publish(&input, &server.url("cam"));

    let down = format!("rtmp://127.0.0.1:{down_port}/live");
    api_wait(&server, http, "/api/v1/streams", WAIT, |v| {
        let Some(p) = v["items"][0]["push"].as_array() else {
            return false;
        };
        let state = |t: &str| {
            p.iter()
                .find(|x| x["target"] == t)
                .map(|x| x["state"].clone())
        };
        p.len() == 4
            && state(&format!("rtmp://127.0.0.1:{}/live", nginx.port())) == Some("live".into())
            && state(&format!("rtmp://127.0.0.1:{listen_port}/live")) == Some("live".into())
            && state(&format!("rtmps://127.0.0.1:{tls_port}/live")) == Some("live".into())
            && state(&down) == Some("backoff".into())
    });
    let p = pushes(http, "cam");
    let d = p.iter().find(|x| x["target"] == down.as_str()).unwrap();
    assert!(d["last_error"].is_string(), "{d}");
    assert!(d["failures"].as_u64().unwrap() >= 1, "{d}");

    // ffmpeg plays the stream back from nginx.
    let from_nginx = dir.path().join("nginx.flv");
    let mut play = ffmpeg_play(
        &ffmpeg(),
        &nginx.url("live", "cam"),
        &from_nginx,
        Duration::from_secs(5),
        &["-t", "3"],
    );
    assert!(play.wait_timeout(WAIT).is_some(), "{}", play.log());
    assert!(video_packets(&from_nginx) >= 30, "{}", play.log());

    // The rtmps receiver has the stream live.
    api_wait(&receiver, receiver_http, "/api/v1/streams", WAIT, |v| {
        v["items"][0]["name"] == "tls" && v["items"][0]["bytes_in"].as_u64() > Some(10_000)
    });

    // A receiver comes up on the down target's port: the target connects.
    let down_out = dir.path().join("down.flv");
    let mut late = ffmpeg_listen(down_port, &down_out);
    poll_until(
        WAIT,
        "the down target connecting",
        || match target_state(http, "cam", &down) {
            s if s == "live" => Ok(()),
            s => Err(s),
        },
        || server.log(),
    );
    std::thread::sleep(Duration::from_secs(3));

    // Metrics, and the key never in the log or the API.
    let (status, _, body) = live_support::http_request(http, "GET", "/metrics", "");
    assert_eq!(status, 200);
    let metrics = String::from_utf8_lossy(&body);
    assert!(
        metrics.contains("sluice_relay_push_targets{state=\"live\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sluice_relay_push_sent_bytes_total{"),
        "{metrics}"
    );
    assert!(!server.log().contains("SECRETKEY"), "{}", server.log());
    assert!(!api_get(http, "/api/v1/streams")
        .to_string()
        .contains("SECRETKEY"));

    // The stream ends: the listen receivers finish their files.
    drop(_publisher);
    for (guard, out) in [(&mut listener, &listen_out), (&mut late, &down_out)] {
        assert!(
            guard.wait_timeout(WAIT).is_some(),
            "ffmpeg -listen did not end: {}",
            guard.log()
        );
        assert!(video_packets(out) >= 10, "{out:?}: {}", guard.log());
    }
    server.wait_log(&["push target stopped"], WAIT);
}

#[test]
fn push_from_a_hook_answer_and_through_the_api() {
    let dir = temp_dir();
    let input = input();
    let hook = HookServer::start();
    let (receiver, receiver_http) = Sluice::start_with_http(&[]);
    let cfg = write_config(
        dir.path(),
        "origin.toml",
        &format!(
            "[hooks]\non_publish = {:?}\n[relay]\nbackoff_min_ms = 200\n",
            hook.url("publish")
        ),
    );
    let (server, http) = Sluice::start_with_config_http(&cfg, &[]);
    let relay = format!("rtmp%3A%2F%2F127.0.0.1%3A{}%2Flive%2Fhooked", receiver.port);
    let _publisher = publish(&input, &format!("{}?relay={relay}", server.url("push-cam")));
    api_wait(&receiver, receiver_http, "/api/v1/streams", WAIT, |v| {
        v["items"][0]["name"] == "hooked"
    });
    let p = pushes(http, "push-cam");
    assert_eq!(
        (p.len(), &p[0]["origin"]),
        (1, &Value::from("hook")),
        "{p:?}"
    );

    // Add a target through the API, see it live on the receiver, remove it.
    let path = "/api/v1/streams/live/push-cam/push";
    let url = format!("rtmp://127.0.0.1:{}/live/viaapi", receiver.port);
    let (status, v) = http_json(http, "POST", path, &format!("{{\"url\": {url:?}}}"));
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_u64().unwrap();
    api_wait(&receiver, receiver_http, "/api/v1/streams", WAIT, |v| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "viaapi")
    });
    assert_eq!(pushes(http, "push-cam").len(), 2);
    for (body, want) in [("nope", 400), ("{\"url\": \"http://x/y/z\"}", 400)] {
        assert_eq!(http_json(http, "POST", path, body).0, want, "{body}");
    }
    let (status, _) = http_json(
        http,
        "POST",
        "/api/v1/streams/live/none/push",
        &format!("{{\"url\": {url:?}}}"),
    );
    assert_eq!(status, 404);
    let (status, v) = http_json(http, "DELETE", &format!("{path}/{id}"), "");
    assert_eq!((status, v), (200, serde_json::json!({"removed": id})));
    poll_until(
        WAIT,
        "the removed target leaving the receiver",
        || {
            if is_live(receiver_http, "viaapi") {
                Err("live".into())
            } else {
                Ok(())
            }
        },
        || server.log(),
    );
    assert!(is_live(receiver_http, "hooked"));
    assert_eq!(
        http_json(http, "DELETE", &format!("{path}/{id}"), "").0,
        404
    );
}

#[test]
fn pull_on_first_play_shared_by_two_players_closed_when_idle() {
    let dir = temp_dir();
    let input = input();
    let (origin, origin_http) = Sluice::start_with_http(&[]);
    let cfg = write_config(
        dir.path(),
        "edge.toml",
        &format!(
            "[relay]\npull_wait_ms = 4000\npull_probe_ms = 1500\n[[relay.pull]]\napp = \"live\"\nupstreams = [\"rtmp://127.0.0.1:{}/live\"]\nidle_secs = 3\n",
            origin.port
        ),
    );
    let (edge, edge_http) = Sluice::start_with_config_http(&cfg, &[]);
    let _publisher = publish(&input, &origin.url("cam"));
    api_wait(&origin, origin_http, "/api/v1/streams", WAIT, |v| {
        v["items"][0]["name"] == "cam"
    });

    let outs = [dir.path().join("p1.flv"), dir.path().join("p2.flv")];
    let mut players: Vec<ChildGuard> = outs
        .iter()
        .map(|o| {
            ffmpeg_play(
                &ffmpeg(),
                &edge.url("cam"),
                o,
                Duration::from_secs(8),
                &["-t", "4"],
            )
        })
        .collect();
    let v = api_wait(&edge, edge_http, "/api/v1/streams", WAIT, |v| {
        v["items"][0]["name"] == "cam" && v["items"][0]["players"] == 2
    });
    assert_eq!(
        v["items"][0]["pull"]["upstream"],
        format!("rtmp://127.0.0.1:{}/live", origin.port),
        "{v}"
    );
    // Exactly one connection plays the stream on the origin: the edge's pull.
    let clients = api_get(origin_http, "/api/v1/clients");
    let pulling: Vec<_> = clients["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["role"] == "player" && c["stream"] == "cam")
        .collect();
    assert_eq!(pulling.len(), 1, "{clients}");
    for (p, out) in players.iter_mut().zip(&outs) {
        assert!(p.wait_timeout(WAIT).is_some(), "{}", p.log());
        assert!(video_packets(out) >= 30, "{out:?}: {}", p.log());
    }
    edge.wait_log(&["pull closed: no player"], Duration::from_secs(15));
    api_wait(&origin, origin_http, "/api/v1/clients", WAIT, |v| {
        !v["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["role"] == "player")
    });
    // The edge's pulled stream ends once the pull's connection has closed (just after the
    // origin lets the player go).
    poll_until(
        WAIT,
        "the pulled stream gone from the edge",
        || {
            if is_live(edge_http, "cam") {
                Err("still live".into())
            } else {
                Ok(())
            }
        },
        || edge.log(),
    );

    // A stream no upstream has: the player is told it is not found.
    let mut c = RawClient::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, edge.port)), |_| {});
    c.wait_connected();
    c.session
        .play(sluice_rtmp::command::PlayArgs {
            name: "missing".into(),
            start: -2.0,
            duration: -1.0,
            reset: true,
        })
        .unwrap();
    c.flush();
    let code = c.wait_for("the play's answer", WAIT, |e| match e {
        ClientEvent::StreamFailed { info, .. } => Some(info.code.clone()),
        ClientEvent::PlayStarted { .. } => Some("started".into()),
        _ => None,
    });
    assert_eq!(code, "NetStream.Play.StreamNotFound");
    edge.wait_log(&["pull failed"], WAIT);
}
