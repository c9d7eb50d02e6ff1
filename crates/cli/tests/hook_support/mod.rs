//! A real HTTP hook service (`hook_server.py`, Python's http.server) for the access-control
//! tests: started on a kernel-chosen port, every request it received readable as JSON.

#![allow(dead_code)] // Each test binary uses a different subset.

use sluice_testkit::{spawn, tool, ChildGuard};
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// The running hook service.
pub struct HookServer {
    /// The Python process.
    pub guard: ChildGuard,
    /// Its port on 127.0.0.1.
    pub port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl HookServer {
    /// Start it; panics if python3 is missing or it does not listen within 10 s.
    pub fn start() -> HookServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = dir.path().join("hook_server.py");
        std::fs::write(&script, include_str!("hook_server.py")).expect("write the hook server");
        let log = dir.path().join("requests.jsonl");
        let mut cmd = Command::new(tool("python3"));
        cmd.arg("-u").arg(&script).arg(&log);
        let mut guard = spawn(cmd);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(port) = guard
                .log()
                .lines()
                .find_map(|l| l.strip_prefix("PORT ").and_then(|p| p.trim().parse().ok()))
            {
                return HookServer {
                    guard,
                    port,
                    log,
                    _dir: dir,
                };
            }
            assert!(
                guard.is_running() && Instant::now() < deadline,
                "the hook server did not start: {}",
                guard.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// `http://127.0.0.1:PORT/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// Every request so far: `{"path", "content_type", "body"}`.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The JSON bodies of the requests so far (JSON style).
    pub fn json_bodies(&self) -> Vec<serde_json::Value> {
        self.requests()
            .iter()
            .filter_map(|r| serde_json::from_str(r["body"].as_str()?).ok())
            .collect()
    }

    /// Waits until a JSON body satisfies `pred`; returns it.
    pub fn wait_json(
        &self,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(b) = self.json_bodies().into_iter().find(|b| pred(b)) {
                return b;
            }
            assert!(
                Instant::now() < deadline,
                "no hook request {what} within 15 s; got {:?}",
                self.requests()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}
