//! RTMPT (RTMP tunnelled over HTTP) against real peers: Debian's ffmpeg publishes and plays over
//! `rtmpt://`, rtmpdump (librtmp) plays over `rtmpt://`, and the tunnel's HTTP surface answers
//! probes and unknown sessions with 404.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Duration;

use sluice_testkit::{
    ffprobe, free_port, make_test_flv, publish_flv, spawn, tool, wait_for_port, ChildGuard,
    FixtureOpts,
};

/// A running `sluice serve` with its RTMP and HTTP ports.
struct Sluice {
    guard: ChildGuard,
    rtmp: u16,
    http: u16,
}

fn start_sluice() -> Sluice {
    start_sluice_with_ports(&[], &[])
}

/// `sluice serve` on free RTMP and HTTP ports plus `extra` arguments, once every port in
/// `extra_ports` accepts connections too. A port can be taken between [`free_port`] and the
/// server's bind, so a server that exits at start is retried.
fn start_sluice_with_ports(extra: &[String], extra_ports: &[u16]) -> Sluice {
    for _ in 0..3 {
        let rtmp = free_port();
        let http = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
        cmd.args(["serve", "--log", "info"])
            .arg("--listen")
            .arg(format!("127.0.0.1:{rtmp}"))
            .arg("--http")
            .arg(format!("127.0.0.1:{http}"))
            .args(extra);
        // The server reads every SLUICE_* variable as a setting (testkit has its own) and
        // RUST_LOG would override --log.
        for (k, _) in std::env::vars() {
            if k.starts_with("SLUICE_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        cmd.env("NO_COLOR", "1");
        let mut guard = spawn(cmd);
        let all_up = [rtmp, http]
            .iter()
            .chain(extra_ports)
            .all(|p| wait_for_port(*p, Duration::from_secs(10)));
        if all_up && guard.is_running() {
            return Sluice { guard, rtmp, http };
        }
        eprintln!(
            "sluice did not start (port clash?), retrying; log:\n{}",
            guard.log()
        );
    }
    panic!("sluice serve could not be started three times in a row");
}

fn fixture(dir: &Path) -> std::path::PathBuf {
    let input = dir.join("in.flv");
    make_test_flv(
        &input,
        FixtureOpts::default().with_duration(Duration::from_secs(3)),
    );
    input
}

/// Wait until the server has logged `needle` `count` times.
fn wait_for_log(server: &Sluice, needle: &str, count: usize) {
    for _ in 0..1000 {
        if server.guard.log().matches(needle).count() >= count {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "sluice never logged {count}x {needle:?}; log:\n{}",
        server.guard.log()
    );
}

/// The recorded file holds H.264 320x240 and AAC with most of the fixture's 75 frames.
fn assert_recording(path: &Path, who: &str) {
    let rec = ffprobe(path.to_str().unwrap());
    let v = rec
        .video()
        .unwrap_or_else(|| panic!("{who}: no video in {rec:?}"));
    assert_eq!(v.codec_name, "h264", "{who}");
    assert_eq!((v.width, v.height), (Some(320), Some(240)), "{who}");
    let frames = v.nb_read_frames.unwrap_or(0);
    assert!(
        (50..=75).contains(&frames),
        "{who} recorded {frames} video frames of 75"
    );
    let a = rec
        .audio()
        .unwrap_or_else(|| panic!("{who}: no audio in {rec:?}"));
    assert_eq!(a.codec_name, "aac", "{who}");
    assert!(a.nb_read_frames.unwrap_or(0) > 50, "{who}: {a:?}");
}

#[test]
fn ffmpeg_publishes_and_plays_over_rtmpt() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture(dir.path());
    let server = start_sluice();
    let url = format!("rtmpt://127.0.0.1:{}/live/s", server.http);

    // The player first, so it sees the stream from its first keyframe.
    let recorded = dir.path().join("ffmpeg-play.flv");
    let mut player = Command::new(tool("ffmpeg"));
    player
        .args(["-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"])
        .args(["-i", &url, "-map", "0", "-c", "copy", "-f", "flv"])
        .arg(&recorded);
    let mut player = spawn(player);
    wait_for_log(&server, "RTMPT session opened", 1);
    wait_for_log(&server, "play", 1);

    let mut publisher = publish_flv(&tool("ffmpeg"), &input, &url);
    publisher.wait_success(Duration::from_secs(60));
    wait_for_log(&server, "RTMPT session opened", 2);

    // The player stops when the server reports the end of the stream; if it does not within
    // a while, SIGINT makes it finish the file all the same.
    if player.wait_timeout(Duration::from_secs(15)).is_none() {
        player.interrupt(Duration::from_secs(10));
    }
    assert_recording(&recorded, "ffmpeg over rtmpt");
    let log = server.guard.log();
    assert!(log.contains("publish"), "{log}");
}

#[test]
fn rtmpdump_plays_over_rtmpt() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture(dir.path());
    let server = start_sluice();
    let play_url = format!("rtmpt://127.0.0.1:{}/live/s", server.http);
    let publish_url = format!("rtmp://127.0.0.1:{}/live/s", server.rtmp);

    let recorded = dir.path().join("rtmpdump.flv");
    let mut rtmpdump = Command::new(tool("rtmpdump"));
    rtmpdump
        // `-m 3`: stop 3 s after data stops; rtmpdump then exits with status 2 ("incomplete"),
        // which is normal for a live stream: the file is what counts.
        .args(["--live", "--quiet", "-m", "3", "-r", &play_url, "-o"])
        .arg(&recorded);
    let mut rtmpdump = spawn(rtmpdump);
    wait_for_log(&server, "RTMPT session opened", 1);
    wait_for_log(&server, "play", 1);

    let mut publisher = publish_flv(&tool("ffmpeg"), &input, &publish_url);
    publisher.wait_success(Duration::from_secs(60));

    assert!(
        rtmpdump.wait_timeout(Duration::from_secs(30)).is_some(),
        "rtmpdump did not stop after the stream ended; log:\n{}",
        rtmpdump.log()
    );
    assert_recording(&recorded, "rtmpdump over rtmpt");
}

#[test]
fn ffmpeg_plays_over_rtmpts() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture(dir.path());
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("self-signed certificate");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    let https = free_port();
    let config = dir.path().join("sluice.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\nhttps_listen = [\"127.0.0.1:{https}\"]\ncert = {:?}\nkey = {:?}\n",
            cert.to_str().unwrap(),
            key.to_str().unwrap()
        ),
    )
    .unwrap();
    let server = start_sluice_with_ports(
        &["--config".to_owned(), config.to_str().unwrap().to_owned()],
        &[https],
    );
    let play_url = format!("rtmpts://127.0.0.1:{https}/live/s");
    let publish_url = format!("rtmp://127.0.0.1:{}/live/s", server.rtmp);

    let recorded = dir.path().join("ffmpeg-rtmpts.flv");
    let mut player = Command::new(tool("ffmpeg"));
    player
        .args(["-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"])
        .args(["-i", &play_url, "-map", "0", "-c", "copy", "-f", "flv"])
        .arg(&recorded);
    let mut player = spawn(player);
    wait_for_log(&server, "RTMPT session opened", 1);
    wait_for_log(&server, "play", 1);

    let mut publisher = publish_flv(&tool("ffmpeg"), &input, &publish_url);
    publisher.wait_success(Duration::from_secs(60));
    if player.wait_timeout(Duration::from_secs(15)).is_none() {
        player.interrupt(Duration::from_secs(10));
    }
    assert_recording(&recorded, "ffmpeg over rtmpts");
    assert!(server.guard.log().contains("HTTPS listening"));
}

/// One HTTP/1.1 POST over a fresh connection: (status, head, body).
fn post(port: u16, path: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-fcs\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    s.write_all(&req).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head")
        + 4;
    let head = String::from_utf8_lossy(&resp[..end]).into_owned();
    let status = head[9..12].parse().unwrap();
    (status, head, resp[end..].to_vec())
}

#[test]
fn rtmpt_http_surface() {
    let server = start_sluice();
    let port = server.http;

    for probe in ["/fcs/ident2", "/fcs/ident"] {
        let (status, head, _) = post(port, probe, &[0]);
        assert_eq!(status, 404, "{probe}: {head}");
        assert!(head.contains("Content-Type: application/x-fcs"), "{head}");
    }
    for path in [
        "/idle/ffffffffffffffff/1",
        "/send/nosuchsession/1",
        "/close/ffffffffffffffff/2",
    ] {
        assert_eq!(post(port, path, &[0]).0, 404, "{path}");
    }

    let (status, head, body) = post(port, "/open/1", &[0]);
    assert_eq!(status, 200);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(head.contains("Content-Length: 17\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: application/x-fcs\r\n"),
        "{head}"
    );
    assert_eq!(body.len(), 17);
    assert_eq!(body[16], b'\n');
    let sid = String::from_utf8(body[..16].to_vec()).unwrap();
    assert!(sid.bytes().all(|b| b.is_ascii_hexdigit()), "{sid}");

    // An idle poll answers the polling byte only (nothing to send before the handshake).
    let (status, _, body) = post(port, &format!("/idle/{sid}/0"), &[0]);
    assert_eq!(status, 200);
    assert_eq!(body, [1]);
    let (status, _, body) = post(port, &format!("/close/{sid}/1"), &[0]);
    assert_eq!(status, 200);
    assert_eq!(body, [0]);
    assert_eq!(post(port, &format!("/idle/{sid}/2"), &[0]).0, 404);
    wait_for_log(&server, "RTMPT session closed by client", 1);
}
