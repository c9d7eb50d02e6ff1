//! `/metrics` against real peers: Debian's ffmpeg publishes over RTMP and plays it back; every
//! scrape must pass `promtool check metrics` (Debian's `prometheus` package), and the
//! connection counters must follow the peers: `sluice_connections_total{transport="rtmp"}`
//! grows as connections come, `sluice_connections{transport="rtmp"}` falls when they leave.
//!
//! Every process lives in a `ChildGuard`, every port is ephemeral; missing tools panic.

mod live_support;

use live_support::{
    api_wait, ffmpeg, ffmpeg_play, fixture, http_request, poll_until, temp_dir, Sluice,
};
use sluice_testkit::{publish_flv, tool, FixtureOpts};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `GET /metrics`: checks the content type, returns the body.
fn scrape(http: u16) -> String {
    let (status, head, body) = http_request(http, "GET", "/metrics", "");
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    String::from_utf8(body).expect("UTF-8 exposition")
}

/// The value of the sample `series` (name with labels, as written) in `text`.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

/// Pipes `text` into `promtool check metrics`; panics unless it exits 0 (lint findings are
/// printed either way).
fn promtool_check(text: &str) {
    let mut child = Command::new(tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().expect("promtool runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("promtool check metrics: {} {said}", out.status);
    assert!(
        out.status.success(),
        "promtool check metrics failed ({}): {said}\n{text}",
        out.status
    );
}

/// Scrapes until `ok` holds for the body; returns it.
fn scrape_until(server: &Sluice, http: u16, what: &str, ok: impl Fn(&str) -> bool) -> String {
    poll_until(
        Duration::from_secs(20),
        what,
        || {
            let text = scrape(http);
            if ok(&text) {
                Ok(text)
            } else {
                Err(text)
            }
        },
        || format!("server log:\n{}", server.log()),
    )
}

const TOTAL: &str = "sluice_connections_total{transport=\"rtmp\"}";
const OPEN: &str = "sluice_connections{transport=\"rtmp\"}";

#[test]
fn scrapes_pass_promtool_and_follow_the_connections() {
    let input = fixture(FixtureOpts::default().with_duration(Duration::from_secs(60)));
    let (server, http) = Sluice::start_with_http(&[]);
    let dir = temp_dir();

    // The start-up probe of the test harness (a TCP connect to the RTMP port) counts as one
    // connection; it is gone by now or soon.
    let idle = scrape_until(&server, http, "no open RTMP connection", |t| {
        value(t, OPEN) == 0.0
    });
    promtool_check(&idle);
    let start = value(&idle, TOTAL);
    assert_eq!(value(&idle, "sluice_streams"), 0.0);
    // The load rule: an idle server holds nothing.
    assert_eq!(value(&idle, "sluice_load_hold_seconds"), 0.0, "{idle}");
    assert!(value(&idle, "sluice_load_duty") < 1.0, "{idle}");

    let _publisher = publish_flv(&ffmpeg(), &input, &server.url("m"));
    let out = dir.path().join("p1.flv");
    let mut player = ffmpeg_play(
        &ffmpeg(),
        &server.url("m"),
        &out,
        Duration::from_secs(10),
        &[],
    );
    api_wait(
        &server,
        http,
        "/api/v1/streams/live/m",
        Duration::from_secs(20),
        |s| s["players"] == 1 && s["bitrate_out"].as_u64() > Some(0),
    );
    let busy = scrape_until(&server, http, "two open RTMP connections", |t| {
        value(t, OPEN) == 2.0
    });
    promtool_check(&busy);
    let total = value(&busy, TOTAL);
    assert!(total >= start + 2.0, "{busy}");
    assert_eq!(value(&busy, "sluice_streams"), 1.0, "{busy}");
    assert_eq!(value(&busy, "sluice_players"), 1.0, "{busy}");
    assert_eq!(
        value(&busy, "sluice_stream_players{app=\"live\",stream=\"m\"}"),
        1.0,
        "{busy}"
    );
    assert!(value(&busy, "sluice_received_bytes_total") > 0.0, "{busy}");
    assert!(value(&busy, "sluice_sent_bytes_total") > 0.0, "{busy}");

    // The player leaves: the gauge falls, the counter keeps its count.
    player.kill();
    let left = scrape_until(&server, http, "one open RTMP connection", |t| {
        value(t, OPEN) == 1.0
    });
    promtool_check(&left);
    assert_eq!(value(&left, TOTAL), total, "{left}");

    // Another comes: the counter grows.
    let out = dir.path().join("p2.flv");
    let _player2 = ffmpeg_play(
        &ffmpeg(),
        &server.url("m"),
        &out,
        Duration::from_secs(10),
        &[],
    );
    let again = scrape_until(&server, http, "a new RTMP connection counted", |t| {
        value(t, TOTAL) > total && value(t, OPEN) == 2.0
    });
    promtool_check(&again);
}
