//! `sluice play` and `sluice publish` over every transport against `sluice serve` (issue 6):
//! a publisher on plain `rtmp://`, then `sluice play <scheme>://... -o out.flv --duration 3`
//! checked with ffprobe (H.264 320x240 + AAC, with frames), for `rtmps://` (a self-signed
//! certificate made here with rcgen, trusted with `--ca-file`; without it the run fails with
//! one TLS error line), `rtmpe://` (types 6, 8 and 9, checked with `sluice probe`), `rtmpt://` and `rtmpte://` (HTTP
//! listener), `rtmpts://` (HTTPS listener), `sluice publish rtmpt://`; `sluice publish --proxy-real-ip` to a server that
//! trusts the client (the server logs the announced address), and `sluice publish rtmps://`.

mod client_support;
mod live_support;

use client_support::{one_error_line, run_sluice, spawn_sluice};
use live_support::{fixture, strip_ansi, Sluice};
use sluice_testkit::{ffprobe, free_port, spawn, wait_for_port, ChildGuard, FixtureOpts};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// A `sluice serve` with plain RTMP, RTMPS, HTTP (RTMPT) and HTTPS (RTMPTS) listeners, all
/// on free ports, and its self-signed certificate.
struct Server {
    sluice: Sluice,
    rtmps: u16,
    http: u16,
    https: u16,
    cert: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts the server; `trusted` go to `[proxy] trusted`.
    fn start(trusted: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let ck = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .expect("rcgen makes a self-signed certificate");
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, ck.cert.pem()).expect("write cert.pem");
        std::fs::write(&key, ck.key_pair.serialize_pem()).expect("write key.pem");
        for _ in 0..3 {
            let (port, rtmps, http, https) = (free_port(), free_port(), free_port(), free_port());
            let config = dir.path().join("sluice.toml");
            let trusted: Vec<String> = trusted.iter().map(|t| format!("{t:?}")).collect();
            std::fs::write(
                &config,
                format!(
                    "[server]\nlisten = [\"127.0.0.1:{port}\"]\n\
                     [tls]\nrtmps_listen = [\"127.0.0.1:{rtmps}\"]\n\
                     https_listen = [\"127.0.0.1:{https}\"]\ncert = {:?}\nkey = {:?}\n\
                     [http]\nlisten = [\"127.0.0.1:{http}\"]\n\
                     [proxy]\ntrusted = [{}]\n",
                    path_str(&cert),
                    path_str(&key),
                    trusted.join(", ")
                ),
            )
            .expect("write sluice.toml");
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
            cmd.args(["serve", "--log", "info", "--config", path_str(&config)]);
            for (k, _) in std::env::vars() {
                if k.starts_with("SLUICE_") || k == "RUST_LOG" {
                    cmd.env_remove(k);
                }
            }
            cmd.env("NO_COLOR", "1");
            let mut guard = spawn(cmd);
            if wait_listening(&mut guard, &[port, rtmps, http, https]) {
                return Server {
                    sluice: Sluice { guard, port },
                    rtmps,
                    http,
                    https,
                    cert,
                    _dir: dir,
                };
            }
            eprintln!(
                "sluice exited at start (port clash?), retrying; log:\n{}",
                guard.log()
            );
        }
        panic!("sluice serve could not be started three times in a row");
    }

    /// `scheme://127.0.0.1:PORT/live/stream` with the port of the scheme's listener.
    fn url(&self, scheme: &str, stream: &str) -> String {
        let port = match scheme {
            "rtmp" | "rtmpe" => self.sluice.port,
            "rtmps" => self.rtmps,
            "rtmpt" | "rtmpte" => self.http,
            "rtmpts" => self.https,
            other => panic!("no listener for {other}"),
        };
        format!("{scheme}://127.0.0.1:{port}/live/{stream}")
    }

    fn cert(&self) -> &str {
        path_str(&self.cert)
    }

    /// Starts `sluice publish --loop` of the fixture to `url` (plus `extra` flags) and waits
    /// until the server has logged the publish of `stream`.
    fn publish(&self, url: &str, stream: &str, extra: &[&str]) -> ChildGuard {
        let input = fixture(FixtureOpts::default());
        let mut args = vec!["publish", "--loop", "--quiet", path_str(&input), url];
        args.extend_from_slice(extra);
        let publisher = spawn_sluice(&args);
        self.sluice.wait_log(
            &["publish", &format!("stream={stream}")],
            Duration::from_secs(30),
        );
        publisher
    }
}

/// Waits until the server logs "RTMP listening" and every port accepts; false if it exited.
fn wait_listening(guard: &mut ChildGuard, ports: &[u16]) -> bool {
    let deadline = Instant::now() + live_support::SERVER_START_TIMEOUT;
    while Instant::now() < deadline {
        if !guard.is_running() {
            return false;
        }
        if strip_ansi(&guard.log()).contains("RTMP listening")
            && ports
                .iter()
                .all(|p| wait_for_port(*p, Duration::from_secs(1)))
        {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "sluice did not listen within the start timeout; log:\n{}",
        guard.log()
    );
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// `sluice play URL -o OUT --duration 3 EXTRA...` must succeed and write H.264 320x240 + AAC
/// with most of 3 s of frames.
fn play_and_check(url: &str, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "play",
        url,
        "-o",
        path_str(out),
        "--duration",
        "3",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    let r = run_sluice(&args);
    assert!(r.status.success(), "sluice play {url} failed:\n{}", r.log);
    let p = ffprobe(path_str(out));
    let v = p
        .video()
        .unwrap_or_else(|| panic!("{url}: no video in {p:?}"));
    assert_eq!(v.codec_name, "h264", "{url}");
    assert_eq!((v.width, v.height), (Some(320), Some(240)), "{url}");
    let frames = v.nb_read_frames.unwrap_or(0);
    assert!(frames >= 60, "{url}: only {frames} video frames in 3 s");
    let a = p
        .audio()
        .unwrap_or_else(|| panic!("{url}: no audio in {p:?}"));
    assert_eq!(a.codec_name, "aac", "{url}");
    assert!(
        a.nb_read_frames.unwrap_or(0) >= 90,
        "{url}: too few audio frames: {a:?}"
    );
}

#[test]
fn sluice_plays_over_rtmps_with_its_ca_file_and_publishes_over_rtmps() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mut publisher = server.publish(&server.url("rtmp", "s"), "s", &[]);
    play_and_check(
        &server.url("rtmps", "s"),
        &dir.path().join("rtmps.flv"),
        &["--ca-file", server.cert()],
    );

    // Without the CA file the self-signed certificate is not trusted: one clear line, exit 1.
    let out = dir.path().join("untrusted.flv");
    let r = run_sluice(&[
        "play",
        &server.url("rtmps", "s"),
        "-o",
        path_str(&out),
        "--duration",
        "3",
        "--timeout",
        "10",
    ]);
    let line = one_error_line(&r);
    assert!(line.contains("TLS handshake with 127.0.0.1:"), "{line}");
    assert!(line.contains("certificate"), "{line}");
    assert!(!out.exists(), "an empty output was left behind");
    // --tls-insecure skips the check.
    play_and_check(
        &server.url("rtmps", "s"),
        &dir.path().join("insecure.flv"),
        &["--tls-insecure"],
    );
    publisher.kill();

    // `sluice publish rtmps://` to the TLS listener; a plain player receives it.
    let mut publisher = server.publish(
        &server.url("rtmps", "tls_in"),
        "tls_in",
        &["--ca-file", server.cert()],
    );
    play_and_check(
        &server.url("rtmp", "tls_in"),
        &dir.path().join("from-rtmps.flv"),
        &[],
    );
    assert!(publisher.is_running(), "{}", publisher.log());
    publisher.kill();
    assert_eq!(
        server
            .sluice
            .count_log(&["TLS handshake failed", "peer=127.0.0.1:"]),
        1,
        "only the untrusting player's handshake fails:\n{}",
        server.sluice.log()
    );
}

#[test]
fn sluice_plays_over_rtmpe_types_6_8_and_9() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mut publisher = server.publish(&server.url("rtmp", "e"), "e", &[]);
    for t in ["6", "8", "9"] {
        play_and_check(
            &server.url("rtmpe", "e"),
            &dir.path().join(format!("rtmpe{t}.flv")),
            &["--rtmpe-type", t],
        );
    }
    // The handshake really is RTMPE of the requested type (probe reports what S0 answered).
    for t in ["6", "8", "9"] {
        let r = run_sluice(&[
            "probe",
            &server.url("rtmpe", "e"),
            "--rtmpe-type",
            t,
            "--json",
            "--measure",
            "0.5",
        ]);
        assert!(r.status.success(), "probe over rtmpe type {t}:\n{}", r.log);
        let j: serde_json::Value = serde_json::from_slice(&r.stdout).expect("probe JSON");
        assert_eq!(j["server"]["handshake"], format!("rtmpe type {t}"), "{j:#}");
        assert_eq!(j["video"]["codec"], "h264", "{j:#}");
    }
    publisher.kill();
    assert_eq!(
        server.sluice.count_log(&["handshake"]),
        0,
        "{}",
        server.sluice.log()
    );
}

#[test]
fn sluice_plays_over_rtmpt_rtmpte_and_rtmpts() {
    let server = Server::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mut publisher = server.publish(&server.url("rtmp", "t"), "t", &[]);
    play_and_check(
        &server.url("rtmpt", "t"),
        &dir.path().join("rtmpt.flv"),
        &[],
    );
    play_and_check(
        &server.url("rtmpte", "t"),
        &dir.path().join("rtmpte.flv"),
        &["--rtmpe-type", "9"],
    );
    play_and_check(
        &server.url("rtmpts", "t"),
        &dir.path().join("rtmpts.flv"),
        &["--ca-file", server.cert()],
    );
    publisher.kill();

    // `sluice publish rtmpt://`: the media goes up in /send bodies; a plain player gets it.
    let mut publisher = server.publish(&server.url("rtmpt", "up"), "up", &[]);
    play_and_check(
        &server.url("rtmp", "up"),
        &dir.path().join("from-rtmpt.flv"),
        &[],
    );
    assert!(publisher.is_running(), "{}", publisher.log());
    publisher.kill();
    // Every tunnel was opened and closed by the client (POST /close), none expired.
    let log = server.sluice.log();
    assert!(
        server.sluice.count_log(&["RTMPT session opened"]) >= 4,
        "{log}"
    );
    assert!(
        server.sluice.count_log(&["RTMPT session closed by client"]) >= 3,
        "{log}"
    );

    // rtmpt:// to the plain RTMP port: it closes on `POST`, one RTMPT error line.
    let r = run_sluice(&[
        "play",
        &format!("rtmpt://127.0.0.1:{}/live/t", server.sluice.port),
        "--timeout",
        "5",
    ]);
    let line = one_error_line(&r);
    assert!(
        line.contains(
            "RTMPT: the server closed the HTTP connection without answering POST /open/1"
        ),
        "{line}"
    );

    // The proxy header cannot ride an HTTP tunnel.
    let r = run_sluice(&[
        "play",
        &server.url("rtmpt", "t"),
        "--proxy-real-ip",
        "203.0.113.7",
    ]);
    let line = one_error_line(&r);
    assert!(line.contains("cannot be sent over rtmpt://"), "{line}");
}

#[test]
fn publish_with_proxy_real_ip_is_logged_with_that_address() {
    let server = Server::start(&["127.0.0.1"]);
    let dir = tempfile::tempdir().unwrap();
    let mut publisher = server.publish(
        &server.url("rtmp", "px"),
        "px",
        &["--proxy-real-ip", "203.0.113.7"],
    );
    server.sluice.wait_log(
        &["publish", "stream=px", "peer=203.0.113.7"],
        Duration::from_secs(10),
    );
    // A player announcing another address through the proxy header over TLS too.
    play_and_check(
        &server.url("rtmps", "px"),
        &dir.path().join("px.flv"),
        &[
            "--ca-file",
            server.cert(),
            "--proxy-real-ip",
            "198.51.100.9",
        ],
    );
    server.sluice.wait_log(
        &[" play conn=", "stream=px", "peer=198.51.100.9"],
        Duration::from_secs(10),
    );
    publisher.kill();
    assert_eq!(
        server
            .sluice
            .count_log(&["publish", "stream=px", "peer=127.0.0.1"]),
        0,
        "{}",
        server.sluice.log()
    );
}
