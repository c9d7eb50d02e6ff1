//! Shared plumbing for the client tool tests (`client_*.rs`): running the `sluice` binary,
//! media fixtures, an ffmpeg RTMP listener, a `sluice serve` child, and ffprobe packet counts.
//! Every process lives in a [`ChildGuard`]; every port comes from [`free_port`].

#![allow(dead_code)] // Each test binary uses a different subset.

use sluice_testkit::{
    free_port, make_test_flv, run, spawn, tool, wait_for_port, ChildGuard, FixtureOpts, RunOutput,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// Generous limit for one tool run on a loaded 2-core machine.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The `sluice` binary with a clean environment (no `SLUICE_*` settings, no RUST_LOG).
pub fn sluice() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SLUICE_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// Runs `sluice ARGS` to completion.
pub fn run_sluice(args: &[&str]) -> RunOutput {
    let mut cmd = sluice();
    cmd.args(args);
    run(cmd, RUN_TIMEOUT)
}

/// Starts `sluice ARGS` in the background.
pub fn spawn_sluice(args: &[&str]) -> ChildGuard {
    let mut cmd = sluice();
    cmd.args(args);
    spawn(cmd)
}

/// A fixture of `secs` seconds (320x240 25 fps H.264 + AAC 44.1 kHz stereo) in `dir`.
pub fn fixture(dir: &Path, secs: u64) -> PathBuf {
    let p = dir.join(format!("fixture-{secs}s.flv"));
    make_test_flv(
        &p,
        FixtureOpts::default().with_duration(Duration::from_secs(secs)),
    );
    p
}

/// Whether something listens on 127.0.0.1:`port`, read from /proc/net/tcp so the check does
/// not use up a one-shot listener (ffmpeg `-listen 1`).
pub fn is_listening(port: u16) -> bool {
    let needle = format!(":{port:04X} ");
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && format!("{} ", f[1]).ends_with(&needle) && f[3] == "0A"
        })
}

/// Waits until `port` is listening (see [`is_listening`]).
pub fn wait_listening(port: u16, guard: &mut ChildGuard) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if is_listening(port) {
            return;
        }
        assert!(
            guard.is_running(),
            "{} exited:\n{}",
            guard.name(),
            guard.log()
        );
        thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "{} did not listen on {port}:\n{}",
        guard.name(),
        guard.log()
    );
}

/// `ffmpeg -re -i INPUT -c copy -f flv -listen 1 rtmp://127.0.0.1:PORT/app/s`: an RTMP server
/// that plays the file to the first client. Returns the guard and the URL.
pub fn ffmpeg_server(input: &Path) -> (ChildGuard, String) {
    let port = free_port();
    let url = format!("rtmp://127.0.0.1:{port}/app/s");
    let mut cmd = Command::new(tool("ffmpeg"));
    cmd.args([
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "info",
        "-re",
        "-i",
    ])
    .arg(input)
    .args(["-c", "copy", "-f", "flv", "-listen", "1", &url]);
    let mut g = spawn(cmd);
    wait_listening(port, &mut g);
    (g, url)
}

/// `ffmpeg -listen 1 -i rtmp://127.0.0.1:PORT/app/s -c copy OUT`: an RTMP server that records
/// what is published to it.
pub fn ffmpeg_listener(out: &Path) -> (ChildGuard, String) {
    let port = free_port();
    let url = format!("rtmp://127.0.0.1:{port}/app/s");
    let mut cmd = Command::new(tool("ffmpeg"));
    cmd.args([
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "info",
        "-y",
    ])
    .args(["-listen", "1", "-i", &url, "-c", "copy"])
    .arg(out);
    let mut g = spawn(cmd);
    wait_listening(port, &mut g);
    (g, url)
}

/// `ffmpeg -re -i INPUT -c copy -f flv URL` (a publisher).
pub fn ffmpeg_publish(input: &Path, url: &str) -> ChildGuard {
    sluice_testkit::publish_flv(&tool("ffmpeg"), input, url)
}

/// A `sluice serve` on an ephemeral port (no HTTP listener).
pub struct Serve {
    /// The server process.
    pub guard: ChildGuard,
    /// Its RTMP port.
    pub port: u16,
}

impl Serve {
    /// Starts the server and waits until it accepts connections.
    pub fn start() -> Serve {
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = sluice();
            cmd.args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--log",
                "info",
            ]);
            cmd.env("SLUICE_HTTP_LISTEN", "");
            let mut guard = spawn(cmd);
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline && guard.is_running() {
                if wait_for_port(port, Duration::from_millis(200)) {
                    return Serve { guard, port };
                }
            }
            eprintln!("sluice serve did not start (port clash?):\n{}", guard.log());
        }
        panic!("sluice serve could not be started");
    }

    /// `rtmp://127.0.0.1:PORT/live/STREAM`.
    pub fn url(&self, stream: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{stream}", self.port)
    }
}

/// Packets of each kind (`video`, `audio`) ffprobe reads in `path`.
pub fn packets(path: &Path) -> (u64, u64) {
    let mut cmd = Command::new(tool("ffprobe"));
    cmd.args(["-v", "error", "-count_packets", "-show_entries"])
        .args(["stream=codec_type,nb_read_packets", "-of", "csv=p=0"])
        .arg(path);
    let out = run(cmd, RUN_TIMEOUT);
    assert!(out.status.success(), "ffprobe failed: {}", out.log);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut v = (0, 0);
    for line in text.lines() {
        let mut f = line.split(',');
        let (Some(kind), Some(n)) = (f.next(), f.next()) else {
            continue;
        };
        let n: u64 = n.trim().parse().unwrap_or(0);
        match kind {
            "video" => v.0 += n,
            "audio" => v.1 += n,
            _ => {}
        }
    }
    v
}

/// The stderr of a failed run: exactly one line (no panic, no usage dump), returned trimmed.
pub fn one_error_line(out: &RunOutput) -> String {
    assert_eq!(out.status.code(), Some(1), "exit status; log:\n{}", out.log);
    let log = out.log.trim();
    assert!(!log.contains("panicked"), "panic:\n{log}");
    assert_eq!(log.lines().count(), 1, "expected one line:\n{log}");
    log.to_owned()
}
