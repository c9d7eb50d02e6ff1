//! RTMPS against a real peer: `sluice serve --rtmps` with a self-signed certificate made here
//! (rcgen), Debian's ffmpeg publishing and playing over `rtmps://` (its TLS does not verify the
//! certificate by default), ffprobe checking what the player wrote. Also the failure paths: a
//! plain RTMP client on the TLS port, and `--rtmps` without a certificate.

mod live_support;

use live_support::{
    ffmpeg, ffmpeg_play, fixture, publish, temp_dir, wait_closed, RawClient, Sluice,
};
use sluice_testkit::{ffprobe, free_port, run, spawn, wait_for_port, ChildGuard, FixtureOpts};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// A self-signed certificate for `localhost` and 127.0.0.1, written as PEM into `dir`.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("rcgen makes a self-signed certificate");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).expect("write cert.pem");
    std::fs::write(&key, ck.key_pair.serialize_pem()).expect("write key.pem");
    (cert, key)
}

/// `sluice serve` with plain RTMP and RTMPS listeners on free ports; returns the server and the
/// RTMPS port once both accept connections.
fn serve_rtmps(cert: &Path, key: &Path) -> (Sluice, u16) {
    for _ in 0..3 {
        let port = free_port();
        let tls_port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--rtmps", &format!("127.0.0.1:{tls_port}")])
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .args(["--http", "none", "--log", "info"]);
        clean_env(&mut cmd);
        let mut guard = spawn(cmd);
        if wait_listening(&mut guard, &[port, tls_port], "RTMPS listening") {
            return (Sluice { guard, port }, tls_port);
        }
        eprintln!(
            "sluice exited at start (port clash?), retrying; log:\n{}",
            guard.log()
        );
    }
    panic!("sluice serve --rtmps could not be started three times in a row");
}

fn clean_env(cmd: &mut Command) {
    for (k, _) in std::env::vars() {
        if k.starts_with("SLUICE_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("NO_COLOR", "1");
}

/// Waits until the log says `marker` and every port accepts; false if the server exited.
fn wait_listening(guard: &mut ChildGuard, ports: &[u16], marker: &str) -> bool {
    let deadline = Instant::now() + live_support::SERVER_START_TIMEOUT;
    while Instant::now() < deadline {
        if !guard.is_running() {
            return false;
        }
        if guard.log().contains(marker)
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

#[test]
fn ffmpeg_publishes_and_plays_over_rtmps() {
    let opts = FixtureOpts::default();
    let input = fixture(opts.clone());
    let dir = temp_dir();
    let (cert, key) = self_signed(dir.path());
    let (server, tls_port) = serve_rtmps(&cert, &key);
    let url = format!("rtmps://127.0.0.1:{tls_port}/live/s");
    let out = dir.path().join("rtmps-play.flv");

    let mut publisher = publish(&input, &url);
    server.wait_log(&["publish", "stream=s"], Duration::from_secs(15));
    let mut player = ffmpeg_play(&ffmpeg(), &url, &out, Duration::from_secs(3), &[]);

    publisher.wait_success(Duration::from_secs(30));
    player.wait_success(Duration::from_secs(30));
    let p = ffprobe(path_str(&out));
    let v = p
        .video()
        .unwrap_or_else(|| panic!("no video in the RTMPS recording: {p:?}"));
    assert_eq!(v.codec_name, "h264");
    assert_eq!((v.width, v.height), (Some(320), Some(240)));
    let frames = v.nb_read_frames.unwrap_or(0);
    assert!(
        frames >= opts.expected_video_frames() / 2,
        "only {frames} video frames over RTMPS"
    );
    assert_eq!(p.audio().map(|a| a.codec_name.as_str()), Some("aac"));
    // Both peers came in over TLS on the RTMPS port and were logged with their own address.
    assert!(server.count_log(&[" connect conn=", "peer=127.0.0.1:"]) >= 2);
    assert_eq!(
        server.count_log(&["TLS handshake failed"]),
        0,
        "{}",
        server.log()
    );
}

#[test]
fn plain_rtmp_on_the_rtmps_port_is_a_tls_failure() {
    let dir = temp_dir();
    let (cert, key) = self_signed(dir.path());
    let (server, tls_port) = serve_rtmps(&cert, &key);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, tls_port));
    let mut stream = TcpStream::connect(addr).expect("connect to the RTMPS port");
    // C0 (0x03) and C1: not a TLS record, so the server closes (maybe after a TLS alert).
    let mut c0c1 = vec![0x03];
    c0c1.extend(std::iter::repeat_n(0u8, 1536));
    stream.write_all(&c0c1).expect("write C0C1");
    let (closed, _) = wait_closed(&mut stream, Duration::from_secs(10));
    assert!(closed, "the RTMPS port kept a plain RTMP client open");
    server.wait_log(
        &["TLS handshake failed", "peer=127.0.0.1:"],
        Duration::from_secs(5),
    );
    // The plain listener still serves plain RTMP next to it.
    let mut plain = RawClient::connect(server.addr(), |_| {});
    plain.wait_connected();
}

#[test]
fn rtmps_without_a_certificate_is_a_startup_error() {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--rtmps", &format!("127.0.0.1:{}", free_port())])
        .args(["--http", "none"]);
    clean_env(&mut cmd);
    let out = run(cmd, Duration::from_secs(15));
    assert!(!out.status.success());
    assert!(out.log.contains("tls.cert"), "{}", out.log);

    // A certificate file that is not PEM: the error names the file.
    let dir = temp_dir();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").expect("write junk.pem");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--rtmps", &format!("127.0.0.1:{}", free_port())])
        .arg("--tls-cert")
        .arg(&junk)
        .arg("--tls-key")
        .arg(&junk)
        .args(["--http", "none"]);
    clean_env(&mut cmd);
    let out = run(cmd, Duration::from_secs(15));
    assert!(!out.status.success());
    assert!(out.log.contains("junk.pem"), "{}", out.log);
}
