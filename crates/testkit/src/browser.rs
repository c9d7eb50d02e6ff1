//! Headless Chromium driven over the Chrome DevTools Protocol (CDP), for playback tests in a
//! real browser (MSE, mpegts.js), and a tiny static HTTP server for the test pages.
//!
//! [`Chromium::launch`] starts `chromium --headless` with a fresh profile and
//! `--remote-debugging-port=0`, reads the port and browser endpoint from the profile's
//! `DevToolsActivePort` file, opens a page target (`Target.createTarget`) and attaches to it in
//! flat mode (`Target.attachToTarget`, commands carry the `sessionId`). [`Chromium::eval`] runs
//! `Runtime.evaluate` (promises awaited, result by value). The WebSocket is blocking
//! (tungstenite) with read timeouts, like the rest of this crate.
//!
//! [`StaticSite`] serves fixed files on an ephemeral loopback port, so a page and its scripts
//! come from a real `http://` origin (pages loaded from `data:` or `file:` URLs have an opaque
//! origin, which changes CORS and media behaviour).
//!
//! Missing tools panic with a message naming `scripts/install-deps.sh`: tests never skip.

use crate::process::{spawn, ChildGuard};
use crate::tools::{repo_root, tool};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

/// How long Chromium may take to open its DevTools endpoint.
pub const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one CDP command may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// The mpegts.js browser bundle installed by `scripts/install-deps.sh` into `.cache/npm`.
///
/// # Panics
/// If it is not there.
pub fn mpegts_js() -> PathBuf {
    let p = repo_root().join(".cache/npm/node_modules/mpegts.js/dist/mpegts.js");
    assert!(
        p.is_file(),
        "mpegts.js is missing ({}): run scripts/install-deps.sh",
        p.display()
    );
    p
}

/// The hls.js browser bundle installed by `scripts/install-deps.sh` into `.cache/npm`.
///
/// # Panics
/// If it is not there.
pub fn hls_js() -> PathBuf {
    let p = repo_root().join(".cache/npm/node_modules/hls.js/dist/hls.js");
    assert!(
        p.is_file(),
        "hls.js is missing ({}): run scripts/install-deps.sh",
        p.display()
    );
    p
}

/// A headless Chromium with one page, driven over CDP. Killed (whole process group) on drop.
#[derive(Debug)]
pub struct Chromium {
    ws: WebSocket<TcpStream>,
    session: String,
    next_id: u64,
    guard: ChildGuard,
    _profile: tempfile::TempDir,
}

impl Chromium {
    /// Starts Chromium and opens a blank page.
    ///
    /// # Panics
    /// If Chromium is missing, does not start, or does not answer CDP.
    pub fn launch() -> Chromium {
        let profile = tempfile::Builder::new()
            .prefix("sluice-chromium-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a Chromium profile dir: {e}"));
        let mut cmd = Command::new(tool("chromium"));
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--mute-audio",
            "--autoplay-policy=no-user-gesture-required",
            "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
        ]);
        cmd.arg(format!("--user-data-dir={}", profile.path().display()));
        cmd.arg("about:blank");
        let mut guard = spawn(cmd);
        let active = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + LAUNCH_TIMEOUT;
        let (port, path) = loop {
            if let Ok(text) = std::fs::read_to_string(&active) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    if let Ok(port) = port.trim().parse::<u16>() {
                        break (port, path.trim().to_owned());
                    }
                }
            }
            if !guard.is_running() || Instant::now() >= deadline {
                let log = guard.log_tail(8 * 1024);
                panic!("Chromium did not open its DevTools port within {LAUNCH_TIMEOUT:?}; log:\n{log}");
            }
            thread::sleep(Duration::from_millis(50));
        };
        let stream = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("cannot connect to Chromium's DevTools port {port}: {e}"));
        stream.set_read_timeout(Some(COMMAND_TIMEOUT)).ok();
        let url = format!("ws://127.0.0.1:{port}{path}");
        let (ws, _) = tungstenite::client(url.as_str(), stream)
            .unwrap_or_else(|e| panic!("CDP WebSocket handshake with {url} failed: {e}"));
        let mut c = Chromium {
            ws,
            session: String::new(),
            next_id: 0,
            guard,
            _profile: profile,
        };
        let target = c.browser_command("Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"]
            .as_str()
            .unwrap_or_else(|| panic!("Target.createTarget answered {target}"))
            .to_owned();
        let attached = c.browser_command(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        );
        c.session = attached["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("Target.attachToTarget answered {attached}"))
            .to_owned();
        c
    }

    /// Chromium's own log so far (stderr and stdout).
    pub fn log(&self) -> String {
        self.guard.log()
    }

    /// Sends a CDP command to the page; returns its `result`.
    ///
    /// # Panics
    /// If the command fails or does not answer within [`COMMAND_TIMEOUT`].
    pub fn command(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(method, params, Some(&session))
    }

    fn browser_command(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None)
    }

    fn send(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .unwrap_or_else(|e| panic!("CDP send {method}: {e}"));
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            assert!(
                Instant::now() < deadline,
                "CDP {method} did not answer within {COMMAND_TIMEOUT:?}"
            );
            let m = match self.ws.read() {
                Ok(m) => m,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    continue
                }
                Err(e) => panic!(
                    "CDP connection failed during {method}: {e}; Chromium log:\n{}",
                    self.guard.log_tail(8 * 1024)
                ),
            };
            let Message::Text(text) = m else { continue };
            let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
                continue;
            };
            if v["id"].as_u64() != Some(id) {
                continue; // an event, or another session's answer
            }
            if let Some(err) = v.get("error") {
                panic!("CDP {method} failed: {err}");
            }
            return v["result"].clone();
        }
    }

    /// Loads `url` in the page and waits until its `load` event (`document.readyState` is
    /// `complete`).
    pub fn navigate(&mut self, url: &str) {
        let r = self.command("Page.navigate", json!({ "url": url }));
        if let Some(e) = r.get("errorText") {
            panic!("navigation to {url} failed: {e}");
        }
        self.wait_for(
            "document.readyState === 'complete'",
            Duration::from_secs(30),
        );
    }

    /// Evaluates `js` in the page (a promise is awaited) and returns its value.
    ///
    /// # Panics
    /// If the expression throws.
    pub fn eval(&mut self, js: &str) -> Value {
        let r = self.command(
            "Runtime.evaluate",
            json!({ "expression": js, "awaitPromise": true, "returnByValue": true }),
        );
        if let Some(ex) = r.get("exceptionDetails") {
            panic!("JavaScript `{js}` threw: {ex}");
        }
        r["result"]["value"].clone()
    }

    /// A PNG of the page as it is shown now (`Page.captureScreenshot`), `width`×`height` CSS
    /// pixels at scale 1 (`Emulation.setDeviceMetricsOverride`, which stays in force).
    ///
    /// # Panics
    /// If Chromium answers no image.
    pub fn screenshot(&mut self, width: u32, height: u32) -> Vec<u8> {
        use base64::Engine as _;
        self.command(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        );
        let r = self.command("Page.captureScreenshot", json!({ "format": "png" }));
        let data = r["data"]
            .as_str()
            .unwrap_or_else(|| panic!("Page.captureScreenshot answered {r}"));
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap_or_else(|e| panic!("Page.captureScreenshot: bad base64: {e}"))
    }

    /// Evaluates `js` every 100 ms until it is truthy; returns the value.
    ///
    /// # Panics
    /// If it is not truthy within `timeout`.
    pub fn wait_for(&mut self, js: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.eval(js);
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "`{js}` not true within {timeout:?} (last value {v})"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A static HTTP/1.1 server on 127.0.0.1 and an ephemeral port, serving fixed files (GET only,
/// `Connection: close`). Stops on drop.
#[derive(Debug)]
pub struct StaticSite {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl StaticSite {
    /// Serves `files`: URL path (e.g. `/index.html`) → (content type, body).
    pub fn serve(files: HashMap<String, (String, Vec<u8>)>) -> StaticSite {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let files = Arc::new(files);
        let thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if flag.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let files = files.clone();
                thread::spawn(move || answer(conn, &files));
            }
        });
        StaticSite {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn answer(mut conn: TcpStream, files: &HashMap<String, (String, Vec<u8>)>) {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .split('?')
        .next()
        .unwrap_or("/")
        .to_owned();
    let (status, ctype, body) = match files.get(&path) {
        Some((t, b)) => ("200 OK", t.as_str(), b.as_slice()),
        None => ("404 Not Found", "text/plain", &b"not found\n"[..]),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body);
}

impl Drop for StaticSite {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
