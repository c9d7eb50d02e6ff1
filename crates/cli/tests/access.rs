//! Access control end to end, with real peers: Debian's ffmpeg publishes and plays through a
//! `sluice serve` whose decisions come from `[access]` rules, signed URLs (`sluice token`) and a
//! real HTTP hook service (Python's http.server, `hook_support/hook_server.py`).
//!
//! Covered: a hook allows, denies (ffmpeg exits with an error), renames (the player plays
//! `alice` while the publisher used a secret key, which never reaches the log), times out (the
//! request is denied and the server goes on), is down; `on_connect`, `on_unpublish` and
//! `on_stop`; the nginx-rtmp form style with a 302 rename; signed URLs valid, expired,
//! tampered and of the wrong action, over RTMP and HTTP-FLV; a fixed key.

mod hook_support;
mod live_support;

use hook_support::HookServer;
use live_support::{ffmpeg, ffmpeg_play, fixture, packets, publish, temp_dir, Sluice};
use sluice_testkit::{free_port, ChildGuard, FixtureOpts};
use std::process::Command;
use std::time::{Duration, Instant};

fn av_fixture() -> std::path::PathBuf {
    fixture(FixtureOpts::default().with_duration(Duration::from_secs(20)))
}

/// Waits for an ffmpeg that must fail (a refused publish or play); panics if it runs on.
fn expect_failure(mut g: ChildGuard, what: &str, within: Duration) -> String {
    match g.wait_timeout(within) {
        Some(status) => {
            assert!(
                !status.success(),
                "{what}: ffmpeg succeeded; log:\n{}",
                g.log()
            );
            g.log()
        }
        None => panic!(
            "{what}: ffmpeg still runs after {within:?}; log:\n{}",
            g.log()
        ),
    }
}

/// Plays `url` for 3 s into a file and returns its video packet count (the play must work).
fn play_frames(url: &str) -> usize {
    let dir = temp_dir();
    let out = dir.path().join("out.flv");
    let mut g = ffmpeg_play(&ffmpeg(), url, &out, Duration::from_secs(5), &["-t", "3"]);
    let status = g.wait_timeout(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "play of {url} failed: {status:?}; log:\n{}",
        g.log()
    );
    packets(&out, "v").len()
}

#[test]
fn json_hooks_allow_deny_rename_time_out_and_notify() {
    let hook = HookServer::start();
    let url = hook.url("hook");
    let sluice = Sluice::start_with_env(&[
        ("SLUICE_HOOKS_ON_CONNECT", &url),
        ("SLUICE_HOOKS_ON_PUBLISH", &url),
        ("SLUICE_HOOKS_ON_UNPUBLISH", &url),
        ("SLUICE_HOOKS_ON_PLAY", &url),
        ("SLUICE_HOOKS_ON_STOP", &url),
        ("SLUICE_HOOKS_TIMEOUT_MS", "1000"),
    ]);
    let input = av_fixture();

    // Renamed: the publisher's secret key becomes `alice`, which players use.
    let mut publisher = publish(&input, &sluice.url("key-alice"));
    sluice.wait_log(&["publish", "stream=alice"], Duration::from_secs(15));
    let asked = hook.wait_json("on_publish", |b| b["action"] == "publish");
    assert_eq!(asked["app"], "live");
    assert_eq!(asked["stream"], "key-alice");
    assert_eq!(asked["transport"], "rtmp");
    assert_eq!(asked["ip"], "127.0.0.1");
    assert!(asked["client_id"].as_u64().is_some(), "{asked}");
    assert!(
        asked["tc_url"].as_str().unwrap_or("").ends_with("/live"),
        "{asked}"
    );
    assert!(hook
        .json_bodies()
        .iter()
        .any(|b| b["action"] == "connect" && b["app"] == "live"));
    let frames = play_frames(&sluice.url("alice"));
    assert!(
        frames >= 30,
        "the renamed stream played {frames} video frames"
    );
    hook.wait_json("on_play", |b| {
        b["action"] == "play" && b["stream"] == "alice"
    });
    hook.wait_json("on_stop", |b| {
        b["action"] == "stop" && b["stream"] == "alice"
    });

    // Denied by the hook: ffmpeg gives up with an error.
    let log = expect_failure(
        publish(&input, &sluice.url("deny-me")),
        "denied publish",
        Duration::from_secs(15),
    );
    assert!(
        log.contains("no such key") || log.contains("Denied"),
        "{log}"
    );
    sluice.wait_log(&["publish denied", "no such key"], Duration::from_secs(5));

    // A hook slower than hooks.timeout_ms denies; the server goes on serving.
    let t0 = Instant::now();
    expect_failure(
        publish(&input, &sluice.url("slow-1")),
        "publish with a slow hook",
        Duration::from_secs(15),
    );
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    sluice.wait_log(
        &["publish denied", "no answer within 1000 ms"],
        Duration::from_secs(5),
    );
    let frames = play_frames(&sluice.url("alice"));
    assert!(
        frames >= 30,
        "after the slow hook the stream played {frames} frames"
    );

    // on_connect refuses an application.
    expect_failure(
        publish(
            &input,
            &format!("rtmp://127.0.0.1:{}/closed/x", sluice.port),
        ),
        "connect to a closed app",
        Duration::from_secs(15),
    );
    sluice.wait_log(
        &["connect denied", "application closed"],
        Duration::from_secs(5),
    );

    // The end of the publish is told.
    publisher.kill();
    hook.wait_json("on_unpublish", |b| {
        b["action"] == "unpublish" && b["stream"] == "alice"
    });

    // The secret key is never logged (only the name it was renamed to).
    let server_log = sluice.log();
    assert!(!server_log.contains("key-alice"), "{server_log}");
}

#[test]
fn a_hook_that_is_down_denies() {
    let closed = free_port();
    let sluice = Sluice::start_with_env(&[(
        "SLUICE_HOOKS_ON_PUBLISH",
        &format!("http://127.0.0.1:{closed}/auth"),
    )]);
    expect_failure(
        publish(&av_fixture(), &sluice.url("cam")),
        "publish with the hook down",
        Duration::from_secs(15),
    );
    sluice.wait_log(
        &["publish denied", "request failed"],
        Duration::from_secs(5),
    );
}

#[test]
fn nginx_style_hooks_with_a_302_rename() {
    let hook = HookServer::start();
    let url = hook.url("on_publish");
    let sluice = Sluice::start_with_env(&[
        ("SLUICE_HOOKS_ON_PUBLISH", &url),
        ("SLUICE_HOOKS_STYLE", "nginx"),
    ]);
    let input = av_fixture();
    let _publisher = publish(&input, &format!("{}?pass=1", sluice.url("key-bob")));
    sluice.wait_log(&["publish", "stream=bob"], Duration::from_secs(15));
    let req = &hook.requests()[0];
    assert_eq!(req["content_type"], "application/x-www-form-urlencoded");
    let body = req["body"].as_str().unwrap();
    for part in [
        "call=publish",
        "addr=127.0.0.1",
        "app=live",
        "name=key-bob",
        "pass=1",
    ] {
        assert!(
            body.split('&').any(|kv| kv == part),
            "{part} missing in {body}"
        );
    }
    let frames = play_frames(&sluice.url("bob"));
    assert!(frames >= 30, "{frames}");
    expect_failure(
        publish(&input, &sluice.url("deny-x")),
        "nginx-style deny",
        Duration::from_secs(15),
    );
}

/// The status line of `GET path` on the HTTP port.
fn http_status(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

fn sluice_token(action: &str, stream: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["token", "--secret", "s3cret", "--action", action])
        .args(["--app", "live", "--stream", stream, "--ttl", "600"])
        .output()
        .expect("run sluice token");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn signed_urls_valid_expired_tampered_wrong_action() {
    let (sluice, http) = Sluice::start_with_http(&[
        ("SLUICE_ACCESS_PUBLISH", "token"),
        ("SLUICE_ACCESS_PLAY", "token"),
        ("SLUICE_ACCESS_SECRET", "s3cret"),
    ]);
    let input = av_fixture();
    let publish_q = sluice_token("publish", "cam");
    assert!(publish_q.starts_with("expires=") && publish_q.contains("&token="));
    let _publisher = publish(&input, &format!("{}?{publish_q}", sluice.url("cam")));
    sluice.wait_log(&["publish", "stream=cam"], Duration::from_secs(15));

    let play_q = sluice_token("play", "cam");
    let frames = play_frames(&format!("{}?{play_q}", sluice.url("cam")));
    assert!(frames >= 30, "{frames}");

    // HTTP-FLV honours the same rule and token: ffmpeg reads the FLV with the token; without
    // it the answer is 403.
    let frames = play_frames(&format!("http://127.0.0.1:{http}/live/cam.flv?{play_q}"));
    assert!(frames >= 30, "HTTP-FLV with a token: {frames}");
    let head = http_status(http, "/live/cam.flv");
    assert!(
        head.starts_with("HTTP/1.0 403") || head.starts_with("HTTP/1.1 403"),
        "{head}"
    );

    // No token.
    let dir = temp_dir();
    let out = dir.path().join("x.flv");
    let play = |url: &str| ffmpeg_play(&ffmpeg(), url, &out, Duration::from_secs(5), &["-t", "2"]);
    expect_failure(
        play(&sluice.url("cam")),
        "play without a token",
        Duration::from_secs(15),
    );
    // Tampered: one hex digit changed.
    let mut tampered = play_q.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == '0' { '1' } else { '0' });
    expect_failure(
        play(&format!("{}?{tampered}", sluice.url("cam"))),
        "play with a tampered token",
        Duration::from_secs(15),
    );
    // Expired, though correctly signed.
    let expired = sluice_server::app::token::signed_query(
        b"s3cret",
        "play",
        "live",
        "cam",
        sluice_server::app::unix_now() - 10,
    );
    expect_failure(
        play(&format!("{}?{expired}", sluice.url("cam"))),
        "play with an expired token",
        Duration::from_secs(15),
    );
    sluice.wait_log(&["play denied", "expired"], Duration::from_secs(5));
    // A play token cannot publish.
    let cam2_play = sluice_token("play", "cam2");
    expect_failure(
        publish(&input, &format!("{}?{cam2_play}", sluice.url("cam2"))),
        "publish with a play token",
        Duration::from_secs(15),
    );
    sluice.wait_log(
        &["publish denied", "does not match"],
        Duration::from_secs(5),
    );
    // The tokens themselves are not logged.
    let token_hex = play_q.rsplit('=').next().unwrap();
    assert!(!sluice.log().contains(token_hex));
}

#[test]
fn a_fixed_key_rule_per_app() {
    let dir = temp_dir();
    let cfg = dir.path().join("sluice.toml");
    std::fs::write(
        &cfg,
        r#"
[access]
publish = "nobody"

[[access.rule]]
app = "live"
stream = "studio-*"
publish = "key:opensesame"
"#,
    )
    .unwrap();
    let sluice = Sluice::start_with_config(&cfg, &[]);
    let input = av_fixture();
    let _ok = publish(
        &input,
        &format!("{}?key=opensesame", sluice.url("studio-1")),
    );
    sluice.wait_log(&["publish", "stream=studio-1"], Duration::from_secs(15));
    expect_failure(
        publish(&input, &format!("{}?key=wrong", sluice.url("studio-2"))),
        "wrong key",
        Duration::from_secs(15),
    );
    expect_failure(
        publish(&input, &sluice.url("other")),
        "no rule: nobody publishes",
        Duration::from_secs(15),
    );
    assert!(!sluice.log().contains("opensesame"));
}
