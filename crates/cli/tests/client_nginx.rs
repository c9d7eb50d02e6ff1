//! `sluice publish` → nginx-rtmp (a server that is not Sluice) → `sluice play` and ffmpeg both
//! receive the stream; `sluice bench` against nginx-rtmp with 200 players and its own
//! publisher reports every player connected and receiving.

mod client_support;

use client_support::{fixture, packets, run_sluice, spawn_sluice, RUN_TIMEOUT};
use sluice_testkit::{ffprobe, tool, NginxRtmp, Signal};
use std::process::Command;
use std::time::Duration;

#[test]
fn publish_to_nginx_is_played_by_sluice_and_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture(dir.path(), 4);
    let nginx = NginxRtmp::start();
    let url = nginx.url("live", "cam");
    let mut publisher = spawn_sluice(&["publish", "--loop", input.to_str().unwrap(), &url]);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        publisher.is_running(),
        "publisher died:\n{}",
        publisher.log()
    );

    // ffmpeg plays for 3 s in the background while sluice plays for 3 s.
    let ff_out = dir.path().join("ffmpeg.flv");
    let mut ff = Command::new(tool("ffmpeg"));
    ff.args([
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "info",
        "-y",
        "-i",
        &url,
    ])
    .args(["-t", "3", "-c", "copy"])
    .arg(&ff_out);
    let mut ff = sluice_testkit::spawn(ff);
    let out = dir.path().join("sluice.flv");
    let r = run_sluice(&["play", &url, "-o", out.to_str().unwrap(), "--duration", "3"]);
    assert!(r.status.success(), "sluice play failed:\n{}", r.log);
    assert!(r.log.contains("duration reached"), "{}", r.log);
    ff.wait_success(RUN_TIMEOUT);

    for f in [&out, &ff_out] {
        let p = ffprobe(f.to_str().unwrap());
        assert_eq!(
            p.video().map(|s| s.codec_name.as_str()),
            Some("h264"),
            "{f:?}"
        );
        assert_eq!(p.video().and_then(|s| s.width), Some(320), "{f:?}");
        assert_eq!(
            p.audio().map(|s| s.codec_name.as_str()),
            Some("aac"),
            "{f:?}"
        );
        let (v, a) = packets(f);
        assert!(v >= 50, "{f:?}: {v} video packets");
        assert!(a >= 80, "{f:?}: {a} audio packets");
    }
    // Ctrl-C ends a looping publish cleanly.
    publisher.signal_group(Signal::SIGINT);
    let status = publisher
        .wait_timeout(Duration::from_secs(20))
        .expect("publisher exits");
    assert!(status.success(), "{}", publisher.log());
    assert!(publisher.log().contains("sent "), "{}", publisher.log());
}

#[test]
fn bench_200_players_against_nginx() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture(dir.path(), 4);
    let nginx = NginxRtmp::start_with("");
    let url = nginx.url("live", "bench");
    let r = run_sluice(&[
        "bench",
        &url,
        "--players",
        "200",
        "--publish",
        input.to_str().unwrap(),
        "--duration",
        "3",
        "--ramp",
        "400",
        "--timeout",
        "20",
        "--json",
        "--quiet",
    ]);
    assert!(r.status.success(), "bench failed:\n{}", r.log);
    let report: serde_json::Value = serde_json::from_slice(&r.stdout)
        .unwrap_or_else(|e| panic!("bad JSON ({e}):\n{}", String::from_utf8_lossy(&r.stdout)));
    assert_eq!(report["players"], 200, "{report:#}");
    assert_eq!(report["connected"], 200, "{report:#}");
    assert_eq!(report["receiving"], 200, "{report:#}");
    assert_eq!(report["failed"], 0, "{report:#}");
    assert!(
        report["errors"].as_object().unwrap().is_empty(),
        "{report:#}"
    );
    // Every player got a real share of a ~600 kbit/s stream.
    let min = report["bitrate_kbps"]["min"].as_f64().unwrap();
    assert!(min > 100.0, "{report:#}");
    // Latency measured from the publisher's stamps.
    assert!(
        report["latency_ms"]["count"].as_u64().unwrap() > 1000,
        "{report:#}"
    );
    assert!(
        report["first_frame_ms"]["p50"].as_f64().unwrap() > 0.0,
        "{report:#}"
    );
    assert!(
        report["cpu"]["percent_of_one_core"].as_f64().is_some(),
        "{report:#}"
    );
    assert_eq!(report["publishers"]["count"], 1, "{report:#}");
}
