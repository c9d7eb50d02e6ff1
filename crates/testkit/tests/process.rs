//! ChildGuard: process-group kill on drop, timeouts, output capture.

use std::fs;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use sluice_testkit::{run, spawn, spawn_with, Signal, SpawnOptions};

/// Whether `pid` is gone (or a zombie waiting for a reaper that is not us).
fn is_dead(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // Field 3, after the parenthesised command name, is the state.
        Ok(stat) => stat
            .rsplit_once(") ")
            .map(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X'))
            .unwrap_or(true),
    }
}

fn wait_dead(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if is_dead(pid) {
            return true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn drop_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("grandchild.pid");
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "sleep 300 & echo $! > {}; wait",
        pid_file.display()
    ));
    let guard = spawn(cmd);
    let leader = guard.pid();
    let deadline = Instant::now() + Duration::from_secs(5);
    let grandchild: u32 = loop {
        if let Some(pid) = fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            break pid;
        }
        assert!(
            Instant::now() < deadline,
            "the shell never wrote the grandchild pid"
        );
        thread::sleep(Duration::from_millis(10));
    };
    assert!(!is_dead(grandchild));
    drop(guard);
    assert!(wait_dead(leader), "leader {leader} survived the guard");
    assert!(
        wait_dead(grandchild),
        "grandchild {grandchild} survived the guard"
    );
}

#[test]
fn wait_timeout_returns_status_or_none() {
    let mut quick = spawn(Command::new("true"));
    let status = quick
        .wait_timeout(Duration::from_secs(10))
        .expect("true exits");
    assert!(status.success());
    assert!(!quick.is_running());

    let mut slow = Command::new("sleep");
    slow.arg("30");
    let mut slow = spawn(slow);
    let start = Instant::now();
    assert_eq!(slow.wait_timeout(Duration::from_millis(200)), None);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(slow.is_running());
    let status = slow.kill().expect("killed child is reaped");
    assert!(!status.success());
    assert!(slow.killed_by(Signal::SIGKILL));
}

#[test]
fn interrupt_stops_with_sigint() {
    let mut cmd = Command::new("sleep");
    cmd.arg("30");
    let mut guard = spawn(cmd);
    thread::sleep(Duration::from_millis(50));
    assert!(guard.interrupt(Duration::from_secs(5)).is_some());
    assert!(guard.killed_by(Signal::SIGINT));
}

#[test]
fn log_captures_stdout_and_stderr() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo to-stdout; echo to-stderr >&2; exit 3"]);
    let mut guard = spawn(cmd);
    let status = guard.wait_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(status.code(), Some(3));
    let log = guard.log();
    assert!(
        log.contains("to-stdout") && log.contains("to-stderr"),
        "log: {log:?}"
    );
    assert!(guard.log_tail(10).ends_with("to-stderr\n"));
    assert!(guard.log_path().is_file());
    assert_eq!(guard.name(), "sh");
}

#[test]
fn piped_stdio_reaches_the_test() {
    use std::io::{Read, Write};
    let mut guard = spawn_with(
        Command::new("cat"),
        SpawnOptions {
            stdin_piped: true,
            stdout_piped: true,
        },
    );
    let mut stdin = guard.take_stdin().unwrap();
    stdin.write_all(b"ping").unwrap();
    drop(stdin);
    let mut out = String::new();
    guard
        .take_stdout()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, "ping");
    assert!(guard.wait_success(Duration::from_secs(10)).success());
}

#[test]
fn run_collects_stdout_and_log() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "printf out; printf err >&2"]);
    let out = run(cmd, Duration::from_secs(10));
    assert!(out.status.success());
    assert_eq!(out.stdout, b"out");
    assert_eq!(out.log, "err");
}

#[test]
#[should_panic(expected = "still running after")]
fn run_panics_on_timeout() {
    let mut cmd = Command::new("sleep");
    cmd.arg("30");
    run(cmd, Duration::from_millis(100));
}

#[test]
#[should_panic(expected = "failed with exit status: 7")]
fn wait_success_panics_on_failure_with_the_log() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo boom >&2; exit 7"]);
    spawn(cmd).wait_success(Duration::from_secs(10));
}

#[test]
#[should_panic(expected = "cannot start peer tool")]
fn spawning_a_missing_program_panics() {
    spawn(Command::new("/nonexistent/sluice-no-such-program"));
}
