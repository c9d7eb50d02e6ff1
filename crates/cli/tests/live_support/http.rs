//! HTTP helpers of the live-server tests: raw HTTP/1.0 requests, the JSON API, polling until a
//! state is reached, and live HTTP media (ffprobe of a live URL, waiting for a stream to go live).

#![allow(dead_code)] // Each test binary uses a different subset.

use super::Sluice;
use sluice_testkit::tool;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// One HTTP/1.1 request to `127.0.0.1:port` on a fresh connection (`Connection: close`,
/// `extra` holds whole header lines): the status, the head and the body (read to the close).
pub fn http_request(port: u16, method: &str, path: &str, extra: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the HTTP port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n{extra}\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)
        .unwrap_or_else(|e| panic!("{method} {path}: reading the response: {e}"));
    let i = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {path}: no response head: {buf:?}"))
        + 4;
    let head = String::from_utf8_lossy(&buf[..i]).into_owned();
    let status = head
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: bad status line: {head}"));
    (status, head, buf[i..].to_vec())
}

/// `GET path` of the JSON API; panics unless it answers 200 with JSON.
pub fn api_get(port: u16, path: &str) -> serde_json::Value {
    let (status, head, body) = http_request(port, "GET", path, "");
    assert_eq!(
        status,
        200,
        "GET {path}: {head}{}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "GET {path}: not JSON ({e}): {}",
            String::from_utf8_lossy(&body)
        )
    })
}

/// Calls `probe` every 100 ms until it gives `Ok`, for at most `timeout`.
///
/// # Panics
/// If it does not in time; the message is `what`, the last `Err` and what `explain` says then.
pub fn poll_until<T>(
    timeout: Duration,
    what: &str,
    mut probe: impl FnMut() -> Result<T, String>,
    explain: impl FnOnce() -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!(
                    "{what}: not within {timeout:?}; last:\n{last}\n{}",
                    explain()
                )
            }
            Err(_) => thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Polls `GET path` until it answers 200 and `ok` holds for its JSON; returns that JSON.
///
/// # Panics
/// If it does not within `timeout` (the message holds the last answer and the server log).
pub fn api_wait(
    server: &Sluice,
    port: u16,
    path: &str,
    timeout: Duration,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    poll_until(
        timeout,
        &format!("GET {path} reaching the expected state"),
        || {
            let (status, head, body) = http_request(port, "GET", path, "");
            match serde_json::from_slice(&body) {
                Ok(v) if status == 200 && ok(&v) => Ok(v),
                _ => Err(format!("{head}{}", String::from_utf8_lossy(&body))),
            }
        },
        || format!("server log:\n{}", server.log()),
    )
}

/// Reads `GET path` over HTTP/1.0 (no chunked coding) for at most `dur` or until `max` body
/// bytes; returns the response head and the body bytes read.
pub fn http_get(
    port: u16,
    path: &str,
    extra: &str,
    dur: Duration,
    max: usize,
) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the HTTP port");
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{extra}\r\n").unwrap();
    let deadline = Instant::now() + dur;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if let Some(i) = head_end(&buf) {
            if buf.len() - i >= max {
                break;
            }
        }
    }
    let i = head_end(&buf).unwrap_or_else(|| {
        panic!(
            "no HTTP response head for {path}: {:?}",
            String::from_utf8_lossy(&buf)
        )
    });
    (
        String::from_utf8_lossy(&buf[..i]).into_owned(),
        buf[i..].to_vec(),
    )
}

pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// ffprobe's streams of a live URL (probing only: `-count_frames` would read a live stream to
/// its end).
pub fn live_ffprobe(url: &str) -> sluice_testkit::ProbeResult {
    let mut cmd = Command::new(tool("ffprobe"));
    cmd.args([
        "-v",
        "error",
        "-rw_timeout",
        "10000000",
        "-show_streams",
        "-show_format",
    ]);
    cmd.args(["-of", "json", url]);
    let out = sluice_testkit::run(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "ffprobe {url} failed:\n{}", out.log);
    sluice_testkit::ProbeResult::from_json(&out.stdout)
        .unwrap_or_else(|e| panic!("ffprobe {url} JSON: {e}\n{}", out.log))
}

/// Waits until `GET path` on the HTTP port answers 200 (its publisher is live), for 20 s.
pub fn wait_http_live(port: u16, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (head, _) = http_get(port, path, "", Duration::from_secs(3), 1);
        if head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never went live; last answer:\n{head}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}
