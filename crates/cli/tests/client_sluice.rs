//! The client tools against `sluice serve`: `sluice probe` reports the codecs of a stream ffmpeg
//! publishes (text and JSON), `sluice publish` → `sluice play` round trip, and a small
//! `sluice bench` without its own publisher.

mod client_support;

use client_support::{ffmpeg_publish, fixture, packets, run_sluice, spawn_sluice, Serve};
use std::time::{Duration, Instant};

/// Runs `probe` until the stream is live (the publisher needs a moment to connect).
fn probe_until_live(args: &[&str]) -> sluice_testkit::RunOutput {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = run_sluice(args);
        if r.status.success() || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn probe_reports_codecs_of_an_ffmpeg_stream() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture(dir.path(), 20);
    let serve = Serve::start();
    let url = serve.url("cam");
    let _publisher = ffmpeg_publish(&input, &url);

    let r = probe_until_live(&["probe", &url, "--json", "--timeout", "3"]);
    assert!(r.status.success(), "probe failed:\n{}", r.log);
    let j: serde_json::Value = serde_json::from_slice(&r.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}):\n{}", String::from_utf8_lossy(&r.stdout)));
    assert!(
        !j["server"]["fms_ver"].as_str().unwrap().is_empty(),
        "{j:#}"
    );
    assert!(j["server"]["capabilities"].as_f64().is_some(), "{j:#}");
    assert_eq!(j["video"]["codec"], "h264", "{j:#}");
    assert_eq!(j["video"]["width"], 320, "{j:#}");
    assert_eq!(j["video"]["height"], 240, "{j:#}");
    assert!(j["video"]["profile"].as_str().is_some(), "{j:#}");
    assert!(j["video"]["level"].as_str().is_some(), "{j:#}");
    let fps = j["video"]["frame_rate_measured"].as_f64().unwrap();
    assert!((20.0..30.0).contains(&fps), "{j:#}");
    assert_eq!(j["audio"]["codec"], "aac", "{j:#}");
    assert_eq!(j["audio"]["profile"], "LC", "{j:#}");
    assert_eq!(j["audio"]["sample_rate"], 44_100, "{j:#}");
    assert_eq!(j["audio"]["channels"], 2, "{j:#}");
    assert!(j["metadata"]["width"].as_f64().is_some(), "{j:#}");
    let t = &j["timings"];
    let connect = t["connect_ms"].as_f64().unwrap();
    let first = t["first_frame_ms"].as_f64().unwrap();
    let key = t["first_keyframe_ms"].as_f64().unwrap();
    assert!(connect > 0.0 && first >= connect && key >= connect, "{j:#}");

    let r = run_sluice(&["probe", &url, "--measure", "1"]);
    assert!(r.status.success(), "probe failed:\n{}", r.log);
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(text.contains("video         h264"), "{text}");
    assert!(text.contains("320x240"), "{text}");
    assert!(
        text.contains("audio         aac LC, 44100 Hz, 2 channels"),
        "{text}"
    );
    assert!(text.contains("fmsVer "), "{text}");
}

#[test]
fn publish_then_play_through_sluice_serve() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture(dir.path(), 3);
    let serve = Serve::start();
    let url = serve.url("roundtrip");
    let mut publisher = spawn_sluice(&["publish", "--loop", input.to_str().unwrap(), &url]);
    let out = dir.path().join("out.flv");
    let r = run_sluice(&["play", &url, "-o", out.to_str().unwrap(), "--duration", "4"]);
    assert!(r.status.success(), "play failed:\n{}", r.log);
    let (v, a) = packets(&out);
    // At least 4 s at 25 fps (the server's GOP cache may add up to a second).
    assert!(v >= 95, "{v} video packets");
    assert!(a >= 150, "{a} audio packets");
    assert!(publisher.is_running(), "{}", publisher.log());

    let r = run_sluice(&[
        "bench",
        &url,
        "--players",
        "20",
        "--duration",
        "2",
        "--ramp",
        "0",
    ]);
    assert!(r.status.success(), "bench failed:\n{}", r.log);
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(
        text.contains("20 requested, 20 connected, 20 receiving, 0 failed"),
        "{text}"
    );
    assert!(
        text.contains("latency ms      - (needs --publish)"),
        "{text}"
    );
    publisher.kill();
}
