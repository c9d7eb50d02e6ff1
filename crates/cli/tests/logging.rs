//! Logs an operator can use: `sluice serve` writing to a pipe (not a terminal) emits no ANSI
//! colour codes, and `log.format = "json"` writes one JSON object per line.

use sluice_testkit::{free_port, spawn, wait_for_port};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// Start `sluice serve` with these extra environment variables and return its log once it
/// listens.
fn serve_log(env: &[(&str, &str)]) -> String {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--http", "none", "--log", "info"]);
    for (k, _) in std::env::vars() {
        if k.starts_with("SLUICE_") || k == "RUST_LOG" || k == "NO_COLOR" {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut guard = spawn(cmd);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && guard.is_running() {
        if guard.log().contains("listening") && wait_for_port(port, Duration::from_secs(1)) {
            return guard.log();
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("sluice did not start; log:\n{}", guard.log());
}

#[test]
fn text_logs_to_a_pipe_have_no_colour_codes() {
    let log = serve_log(&[]);
    assert!(log.contains("RTMP listening"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escape in a piped log:\n{log:?}"
    );
}

#[test]
fn json_format_writes_one_object_per_line() {
    let log = serve_log(&[("SLUICE_LOG_FORMAT", "json")]);
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(
            v.get("level").is_some() && v.get("fields").is_some(),
            "{line}"
        );
    }
    assert!(log.contains("RTMP listening"), "{log}");
}
