//! `sluice bench --play-url` against a real `sluice serve`: the bench publishes an ffmpeg-made
//! H.264+AAC fixture over RTMP and its players read HTTP-FLV, WebSocket-FLV or LL-HLS; every player must
//! connect, receive the stream at its bitrate and measure delivery latency from the stamps; the
//! same for LL-HLS players (blocking playlist reloads, every part).

mod live_support;

use live_support::{fixture, Sluice};
use sluice_testkit::FixtureOpts;
use std::process::Command;
use std::time::Duration;

fn bench_over(scheme: &str) -> serde_json::Value {
    bench_url(|http| format!("{scheme}://127.0.0.1:{http}/live/b.flv"))
}

fn bench_url(url: impl Fn(u16) -> String) -> serde_json::Value {
    let (sluice, http) = Sluice::start_with_http(&[]);
    let input = fixture(FixtureOpts::default().with_duration(Duration::from_secs(10)));
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("bench")
        .arg(sluice.url("b"))
        .args([
            "--players",
            "5",
            "--duration",
            "3",
            "--ramp",
            "0",
            "--json",
            "-q",
        ])
        .arg("--publish")
        .arg(&input)
        .arg("--play-url")
        .arg(url(http))
        .env_remove("SLUICE_FFMPEG9")
        .output()
        .expect("run sluice bench");
    assert!(
        out.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("bench JSON")
}

fn check(r: &serde_json::Value) {
    assert_eq!(r["connected"], 5, "{r}");
    assert_eq!(r["failed"], 0, "{r}");
    assert!(r["latency_ms"]["count"].as_u64().unwrap_or(0) > 0, "{r}");
    assert!(
        r["bitrate_kbps"]["min"].as_f64().unwrap_or(0.0) > 50.0,
        "{r}"
    );
}

#[test]
fn bench_players_over_http_flv() {
    check(&bench_over("http"));
}

#[test]
fn bench_players_over_ws_flv() {
    check(&bench_over("ws"));
}

#[test]
fn bench_players_over_ll_hls() {
    check(&bench_url(|http| {
        format!("http://127.0.0.1:{http}/live/b.m3u8")
    }));
}
