//! Failures of the client tools are one clear line on stderr and exit code 1, never a panic:
//! missing or non-FLV file, bad URL, refused connection, rejected publish, a stream that never
//! starts. And every subcommand's `--help` explains its options with examples.

mod client_support;

use client_support::{ffmpeg_publish, fixture, one_error_line, run_sluice, Serve};
use sluice_testkit::free_port;
use std::time::{Duration, Instant};

#[test]
fn missing_and_non_flv_files() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("rtmp://127.0.0.1:{}/live/s", free_port());
    let missing = dir.path().join("missing.flv");
    let r = run_sluice(&["publish", missing.to_str().unwrap(), &url]);
    let line = one_error_line(&r);
    assert!(
        line.contains("cannot open") && line.contains("missing.flv"),
        "{line}"
    );

    let junk = dir.path().join("junk.flv");
    std::fs::write(&junk, b"GIF89a not a video").unwrap();
    let r = run_sluice(&["publish", junk.to_str().unwrap(), &url]);
    let line = one_error_line(&r);
    assert!(line.contains("is not an FLV file"), "{line}");

    // A header and then garbage.
    let bad = dir.path().join("bad.flv");
    std::fs::write(
        &bad,
        b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00\x12\xff\xff\xff",
    )
    .unwrap();
    let r = run_sluice(&["publish", bad.to_str().unwrap(), &url]);
    let line = one_error_line(&r);
    assert!(line.contains("not a valid FLV file"), "{line}");

    let r = run_sluice(&["bench", &url, "--publish", missing.to_str().unwrap()]);
    let line = one_error_line(&r);
    assert!(line.contains("cannot open"), "{line}");
}

#[test]
fn bad_urls() {
    for (args, needle) in [
        (
            vec!["play", "http://127.0.0.1/live/s"],
            "unknown URL scheme `http`",
        ),
        (vec!["probe", "rtmp://127.0.0.1"], "no application"),
        (vec!["play", "rtmp://127.0.0.1/live"], "no stream name"),
        (vec!["bench", "rtmp://127.0.0.1:99999/live/s"], "bad port"),
        (vec!["play", "127.0.0.1/live/s"], "no scheme"),
    ] {
        let r = run_sluice(&args);
        let line = one_error_line(&r);
        assert!(line.contains("bad URL"), "{args:?}: {line}");
        assert!(line.contains(needle), "{args:?}: {line}");
    }
}

#[test]
fn refused_connection() {
    let port = free_port();
    let url = format!("rtmp://127.0.0.1:{port}/live/s");
    for cmd in ["play", "probe"] {
        let r = run_sluice(&[cmd, &url]);
        let line = one_error_line(&r);
        assert!(
            line.contains(&format!("connection refused by 127.0.0.1:{port}")),
            "{cmd}: {line}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let input = fixture(dir.path(), 1);
    let r = run_sluice(&["publish", input.to_str().unwrap(), &url]);
    let line = one_error_line(&r);
    assert!(line.contains("connection refused"), "{line}");
    // bench counts refusals by kind instead of failing.
    let r = run_sluice(&[
        "bench",
        &url,
        "--players",
        "3",
        "--duration",
        "1",
        "--ramp",
        "0",
        "--quiet",
    ]);
    assert!(r.status.success(), "{}", r.log);
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(
        text.contains("3 requested, 0 connected, 0 receiving, 3 failed"),
        "{text}"
    );
    assert!(text.contains("refused: 3"), "{text}");
}

#[test]
fn stream_that_never_starts_and_rejected_publish() {
    let serve = Serve::start();
    let url = serve.url("nobody");
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.flv");
    let r = run_sluice(&["play", &url, "--timeout", "2", "-o", out.to_str().unwrap()]);
    let line = one_error_line(&r);
    assert!(line.contains("the stream never started"), "{line}");
    assert!(!out.exists(), "no empty output file is left behind");
    assert!(started.elapsed() < Duration::from_secs(30));
    let r = run_sluice(&["probe", &url, "--timeout", "2"]);
    let line = one_error_line(&r);
    assert!(line.contains("the stream never started"), "{line}");

    // A second publisher of the same name is refused.
    let input = fixture(dir.path(), 20);
    let busy = serve.url("busy");
    let _first = ffmpeg_publish(&input, &busy);
    // Wait until ffmpeg is live (probe sees media), then publish the same name.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !run_sluice(&["probe", &busy, "--timeout", "2", "--measure", "0.1"])
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "ffmpeg never went live");
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = run_sluice(&["publish", input.to_str().unwrap(), &busy, "--timeout", "5"]);
    let line = one_error_line(&r);
    assert!(line.contains("rejected publish"), "{line}");
    assert!(line.contains("NetStream.Publish.BadName"), "{line}");
}

#[test]
fn help_explains_every_option_with_examples() {
    for (cmd, options) in [
        (
            "publish",
            &["--loop", "--timeout", "--app", "--stream", "--quiet"][..],
        ),
        (
            "play",
            &["--output", "--duration", "--timeout", "--app", "--stream"][..],
        ),
        (
            "probe",
            &["--json", "--timeout", "--measure", "--app", "--stream"][..],
        ),
        (
            "bench",
            &[
                "--players",
                "--publish",
                "--publishers",
                "--duration",
                "--ramp",
                "--json",
                "--timeout",
                "--threads",
                "--read-buffer",
            ][..],
        ),
    ] {
        let r = run_sluice(&[cmd, "--help"]);
        assert!(r.status.success(), "{cmd} --help: {}", r.log);
        let text = String::from_utf8_lossy(&r.stdout);
        assert!(text.contains("Examples:"), "{cmd}: {text}");
        assert!(text.contains(&format!("sluice {cmd} ")), "{cmd}: {text}");
        for o in options {
            assert!(text.contains(o), "{cmd} --help lacks {o}:\n{text}");
        }
    }
    // `serve` is still there.
    let r = run_sluice(&["serve", "--help"]);
    assert!(r.status.success(), "{}", r.log);
}
