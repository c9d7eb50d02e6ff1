//! `sluice bench --play-url rtmfp://…` against a real `sluice serve`: the bench publishes an
//! ffmpeg-made H.264+AAC fixture over RTMP and three players play it over RTMFP (UDP, the
//! server's `[rtmfp]` listener on its RTMP port); every player must connect, receive the stream
//! and measure delivery latency from the publisher's stamps, and the server must have logged
//! three RTMFP plays.

mod live_support;

use live_support::{fixture, Sluice};
use sluice_testkit::FixtureOpts;
use std::process::Command;
use std::time::Duration;

#[test]
fn bench_players_over_rtmfp() {
    let sluice = Sluice::start();
    let input = fixture(FixtureOpts::default().with_duration(Duration::from_secs(10)));
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("bench")
        .arg(sluice.url("b"))
        .args(["--players", "3", "--duration", "3", "--ramp", "0", "--json"])
        .arg("-q")
        .arg("--publish")
        .arg(&input)
        .arg("--play-url")
        .arg(format!("rtmfp://127.0.0.1:{}/live/b", sluice.port))
        .env_remove("SLUICE_FFMPEG9")
        .output()
        .expect("run sluice bench");
    assert!(
        out.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bench JSON");
    assert_eq!(r["connected"], 3, "{r}");
    assert_eq!(r["failed"], 0, "{r}");
    assert_eq!(r["receiving"], 3, "{r}");
    assert!(r["latency_ms"]["count"].as_u64().unwrap_or(0) > 0, "{r}");
    assert!(
        r["audio_latency_ms"]["count"].as_u64().unwrap_or(0) > 0,
        "{r}"
    );
    assert!(
        r["bitrate_kbps"]["min"].as_f64().unwrap_or(0.0) > 50.0,
        "{r}"
    );
    assert!(r["first_frame_ms"]["count"].as_u64() == Some(3), "{r}");
    assert_eq!(
        sluice.count_log(&["rtmfp", "play", "stream=b"]),
        3,
        "{}",
        sluice.log()
    );
}

#[test]
fn bench_rejects_an_rtmfp_url_without_a_stream() {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["bench", "rtmp://127.0.0.1:9/live/b", "--players", "1"])
        .args(["--play-url", "rtmfp://127.0.0.1:9/live"])
        .env_remove("SLUICE_FFMPEG9")
        .output()
        .expect("run sluice bench");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--play-url rtmfp://127.0.0.1:9/live"), "{err}");
}
