//! Shared plumbing for the live-server interop tests (`live_*.rs`): a `sluice serve` child on an
//! ephemeral port, cached media fixtures, real-peer helpers (ffmpeg, ffprobe) and a raw RTMP
//! client that drives the sans-IO [`ClientSession`] over a blocking [`TcpStream`] (RTMP 1.0 §5.2
//! handshake, §7.2 connect/play), for the checks no real peer exposes: exact timestamps,
//! onStatus codes, a peer that stops reading.
//!
//! Every process lives in a [`ChildGuard`]; every port comes from [`free_port`]; outputs go to a
//! per-test [`tempfile::TempDir`]. Missing peer tools panic (tests never skip).

#![allow(dead_code)] // Each test binary uses a different subset.

mod http;
mod stalled;
#[allow(unused_imports)] // Each test binary uses a different subset.
pub use http::*;
#[allow(unused_imports)]
pub use stalled::{assert_cut_off, assert_normal_player_got, stalled_player_scenario};

use bytes::Bytes;
use sluice_rtmp::command::{PlayArgs, PublishMode};
use sluice_rtmp::session::{ClientConfig, ClientEvent, ClientSession};
use sluice_testkit::{
    ffmpeg9, free_port, make_test_flv, spawn, tool, wait_for_port, ChildGuard, FixtureOpts,
};
use std::collections::hash_map::DefaultHasher;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// How long `sluice serve` may take to accept connections.
pub const SERVER_START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running `sluice serve` on 127.0.0.1 and an ephemeral port.
#[derive(Debug)]
pub struct Sluice {
    /// The server process (stderr = its log).
    pub guard: ChildGuard,
    /// Its RTMP port.
    pub port: u16,
}

impl Sluice {
    /// Starts the server with the default settings.
    pub fn start() -> Sluice {
        Sluice::start_with_env(&[])
    }

    /// Starts the server with extra `SLUICE_*` settings in its environment. Any `SLUICE_*`
    /// variable of the test's own environment (e.g. testkit's `SLUICE_FFMPEG9`) is removed first:
    /// the server treats every `SLUICE_` variable as a setting.
    pub fn start_with_env(env: &[(&str, &str)]) -> Sluice {
        Sluice::start_inner(env, None, None).0
    }

    /// Like [`Sluice::start_with_config`], with an HTTP listener on another ephemeral port.
    pub fn start_with_config_http(config: &Path, env: &[(&str, &str)]) -> (Sluice, u16) {
        let (s, http) = Sluice::start_inner(env, Some(()), Some(config));
        (s, http.expect("an HTTP port"))
    }

    /// Like [`Sluice::start_with_env`], reading the settings file `config` (`--config`).
    pub fn start_with_config(config: &Path, env: &[(&str, &str)]) -> Sluice {
        Sluice::start_inner(env, None, Some(config)).0
    }

    /// Like [`Sluice::start_with_env`], with an HTTP listener (HTTP-FLV, WebSocket-FLV, RTMPT)
    /// on another ephemeral port, returned with the server.
    pub fn start_with_http(env: &[(&str, &str)]) -> (Sluice, u16) {
        let (s, http) = Sluice::start_inner(env, Some(()), None);
        (s, http.expect("an HTTP port"))
    }

    fn start_inner(
        env: &[(&str, &str)],
        with_http: Option<()>,
        config: Option<&Path>,
    ) -> (Sluice, Option<u16>) {
        // The port may be taken between free_port() and the server's bind: retry a few times.
        for _ in 0..3 {
            let port = free_port();
            let http = with_http.map(|()| free_port());
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
            cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")]);
            cmd.args(["--log", "info"]);
            if let Some(c) = config {
                cmd.arg("--config").arg(c);
            }
            for (k, _) in std::env::vars() {
                if k.starts_with("SLUICE_") || k == "RUST_LOG" {
                    cmd.env_remove(k);
                }
            }
            cmd.env("NO_COLOR", "1");
            // No HTTP listener on its fixed default port: tests run in parallel.
            let http_listen = http.map_or(String::new(), |p| format!("127.0.0.1:{p}"));
            cmd.env("SLUICE_HTTP_LISTEN", &http_listen);
            for (k, v) in env {
                cmd.env(k, v);
            }
            let mut guard = spawn(cmd);
            let deadline = Instant::now() + SERVER_START_TIMEOUT;
            while Instant::now() < deadline {
                if !guard.is_running() {
                    break;
                }
                if guard.log().contains("RTMP listening")
                    && wait_for_port(port, Duration::from_secs(1))
                    && http.is_none_or(|p| wait_for_port(p, Duration::from_secs(1)))
                {
                    return (Sluice { guard, port }, http);
                }
                thread::sleep(Duration::from_millis(20));
            }
            if guard.is_running() {
                panic!(
                    "sluice did not listen on port {port} within {SERVER_START_TIMEOUT:?}; log:\n{}",
                    guard.log()
                );
            }
            eprintln!(
                "sluice exited at start (port clash?), retrying; log:\n{}",
                guard.log()
            );
        }
        panic!("sluice serve could not be started three times in a row");
    }

    /// `rtmp://127.0.0.1:PORT/live/<stream>`.
    pub fn url(&self, stream: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{stream}", self.port)
    }

    /// The server's socket address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Everything the server has logged so far, colour codes removed.
    pub fn log(&self) -> String {
        strip_ansi(&self.guard.log())
    }

    /// Log lines containing every one of `needles`.
    pub fn log_lines(&self, needles: &[&str]) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .map(str::to_owned)
            .collect()
    }

    /// Waits until a log line contains all of `needles`; returns it.
    ///
    /// # Panics
    /// If none does within `timeout` (the message holds the log).
    pub fn wait_log(&self, needles: &[&str], timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.log_lines(needles).into_iter().next() {
                return l;
            }
            if Instant::now() >= deadline {
                panic!(
                    "no server log line with {needles:?} within {timeout:?}; log:\n{}",
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Counts log lines containing all of `needles`.
    pub fn count_log(&self, needles: &[&str]) -> usize {
        self.log_lines(needles).len()
    }
}

/// Removes ANSI escape sequences (`ESC [ ... letter`).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Serialises fixture generation: encoders are CPU-heavy and the machine is small.
static FIXTURE_LOCK: Mutex<()> = Mutex::new(());

/// An FLV fixture made by [`make_test_flv`], cached under the target directory (keyed by the
/// ffmpeg arguments) so repeated runs do not re-encode.
pub fn fixture(opts: FixtureOpts) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("live-fixtures");
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let mut h = DefaultHasher::new();
    opts.ffmpeg_args(Path::new("x.flv")).hash(&mut h);
    let name = format!(
        "{}-{}-{}s-{:016x}.flv",
        opts.video.ffmpeg_name(),
        opts.audio.map_or("none", |a| a.ffmpeg_name()),
        opts.duration.as_secs(),
        h.finish()
    );
    let path = dir.join(name);
    let _lock = FIXTURE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if !path.is_file() {
        let tmp = path.with_extension(format!("tmp{}.flv", std::process::id()));
        make_test_flv(&tmp, opts);
        std::fs::rename(&tmp, &path).unwrap_or_else(|e| {
            panic!("cannot rename {} to {}: {e}", tmp.display(), path.display())
        });
    }
    path
}

/// Debian's ffmpeg.
pub fn ffmpeg() -> PathBuf {
    tool("ffmpeg")
}

/// Starts `ffmpeg_bin` playing `url` into the FLV file `out` (stream copy). `extra` goes before
/// the output (e.g. `-t 2`). The read ends when the server has been silent for `idle`.
pub fn ffmpeg_play(
    ffmpeg_bin: &Path,
    url: &str,
    out: &Path,
    idle: Duration,
    extra: &[&str],
) -> ChildGuard {
    let mut cmd = Command::new(ffmpeg_bin);
    cmd.args(["-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"]);
    cmd.args(["-rw_timeout", &idle.as_micros().to_string()]);
    cmd.args(["-i", url, "-map", "0", "-c", "copy"]);
    cmd.args(extra);
    cmd.args(["-f", "flv", "-y"]).arg(out);
    spawn(cmd)
}

/// The Debian ffmpeg's `-re -c copy` publish of `input` to `url`, as a guard.
pub fn publish(input: &Path, url: &str) -> ChildGuard {
    sluice_testkit::publish_flv(&ffmpeg(), input, url)
}

/// The recent ffmpeg's `-re -c copy` publish of `input` to `url` (Enhanced RTMP codecs).
pub fn publish9(input: &Path, url: &str) -> ChildGuard {
    sluice_testkit::publish_flv(&ffmpeg9(), input, url)
}

/// One packet of a file as ffprobe lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// Presentation time in seconds.
    pub pts: f64,
    /// Decode time in seconds.
    pub dts: f64,
    /// ffprobe's flags contain `K`.
    pub keyframe: bool,
}

/// The packets of the first stream of `kind` (`v` or `a`) in `path`, in file order.
pub fn packets(path: &Path, kind: &str) -> Vec<Packet> {
    let mut cmd = Command::new(tool("ffprobe"));
    cmd.args(["-v", "error", "-select_streams", kind, "-show_packets"]);
    cmd.args([
        "-show_entries",
        "packet=pts_time,dts_time,flags",
        "-of",
        "csv=p=0",
    ]);
    cmd.arg(path);
    let out = sluice_testkit::run(cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "ffprobe -show_packets {} failed: {}",
        path.display(),
        out.log
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split(',');
            let pts = f.next()?.trim().parse().ok()?;
            let dts = f.next()?.trim().parse().ok()?;
            let flags = f.next()?.trim();
            Some(Packet {
                pts,
                dts,
                keyframe: flags.contains('K'),
            })
        })
        .collect()
}

/// A per-test temporary directory.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("sluice-live-")
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"))
}

/// A video tag body's first byte says keyframe (FLV FrameType 1), legacy or Enhanced RTMP.
pub fn is_video_keyframe(payload: &[u8]) -> bool {
    payload.first().is_some_and(|b| (b & 0x70) >> 4 == 1)
}

/// A video tag body is a sequence header (AVC packet type 0, or Enhanced RTMP
/// PacketTypeSequenceStart).
pub fn is_video_sequence_header(payload: &[u8]) -> bool {
    sluice_flv::classify_video(payload).is_sequence_header
}

/// An RTMP client over a blocking socket, driven by the sans-IO [`ClientSession`].
#[derive(Debug)]
pub struct RawClient {
    /// The socket.
    pub stream: TcpStream,
    /// The session.
    pub session: ClientSession,
    events: VecDeque<ClientEvent>,
    closed: bool,
}

/// What [`RawClient::read_some`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Bytes arrived and were handled.
    Data(usize),
    /// Nothing arrived within the timeout.
    Timeout,
    /// The server closed the connection (EOF or reset).
    Closed,
}

impl RawClient {
    /// Connects TCP to `addr` and runs the handshake and `connect` for app `live`; `configure`
    /// may change the client settings first. Panics unless the server answers `_result`.
    pub fn connect(addr: SocketAddr, configure: impl FnOnce(&mut ClientConfig)) -> RawClient {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
        RawClient::connect_over(stream, addr, configure)
    }

    /// Like [`RawClient::connect`] over an already connected socket.
    pub fn connect_over(
        stream: TcpStream,
        addr: SocketAddr,
        configure: impl FnOnce(&mut ClientConfig),
    ) -> RawClient {
        stream.set_nodelay(true).ok();
        let mut cfg = ClientConfig::new("live", format!("rtmp://{addr}/live"));
        configure(&mut cfg);
        let session = ClientSession::new(cfg, &mut rand::thread_rng());
        let mut c = RawClient {
            stream,
            session,
            events: VecDeque::new(),
            closed: false,
        };
        c.flush();
        c
    }

    /// Writes everything the session has queued.
    pub fn flush(&mut self) {
        while let Some(b) = self.session.poll_transmit() {
            if let Err(e) = self.stream.write_all(&b) {
                if !self.closed {
                    panic!("write to the server failed: {e}");
                }
                return;
            }
        }
    }

    /// Reads once (waiting up to `timeout`), feeds the session, writes its answers.
    pub fn read_some(&mut self, timeout: Duration) -> ReadOutcome {
        if self.closed {
            return ReadOutcome::Closed;
        }
        let mut buf = [0u8; 64 * 1024];
        self.stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .ok();
        match self.stream.read(&mut buf) {
            Ok(0) => {
                self.closed = true;
                ReadOutcome::Closed
            }
            Ok(n) => {
                self.session
                    .handle_input(&buf[..n])
                    .unwrap_or_else(|e| panic!("the server broke the protocol: {e}"));
                while let Some(ev) = self.session.poll_event() {
                    self.events.push_back(ev);
                }
                self.flush();
                ReadOutcome::Data(n)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                ReadOutcome::Timeout
            }
            Err(_) => {
                self.closed = true;
                ReadOutcome::Closed
            }
        }
    }

    /// The next event, reading as needed; `None` if the connection closed or `timeout` passed.
    pub fn next_event(&mut self, timeout: Duration) -> Option<ClientEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(ev) = self.events.pop_front() {
                return Some(ev);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            if self.read_some(deadline - now) == ReadOutcome::Closed {
                return None;
            }
        }
    }

    /// Reads events until `f` maps one to `Some`; returns it with every event skipped.
    ///
    /// # Panics
    /// If the connection closes or `timeout` passes first.
    pub fn wait_for<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&ClientEvent) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(ev) = self.next_event(left) else {
                panic!(
                    "no {what} within {timeout:?} (closed: {}); events seen: {skipped:#?}",
                    self.closed
                );
            };
            if let Some(t) = f(&ev) {
                return t;
            }
            if skipped.len() < 50 {
                skipped.push(ev);
            }
        }
    }

    /// Waits for `Connected` and returns the server's response.
    pub fn wait_connected(&mut self) -> sluice_rtmp::command::ConnectResponse {
        self.wait_for("Connected", Duration::from_secs(10), |e| match e {
            ClientEvent::Connected(r) => Some(r.clone()),
            ClientEvent::ConnectFailed(info) => panic!("connect failed: {info:?}"),
            _ => None,
        })
    }

    /// Sends play for `name` (live) and waits for `NetStream.Play.Start`; returns the stream id.
    pub fn play(&mut self, name: &str) -> u32 {
        self.session
            .play(PlayArgs {
                name: name.to_owned(),
                start: -2.0,
                duration: -1.0,
                reset: true,
            })
            .unwrap_or_else(|e| panic!("play: {e}"));
        self.flush();
        self.wait_for("PlayStarted", Duration::from_secs(10), |e| match e {
            ClientEvent::PlayStarted { stream_id } => Some(*stream_id),
            ClientEvent::StreamFailed { info, .. } => panic!("play failed: {info:?}"),
            _ => None,
        })
    }

    /// Sends publish for `name` (live) and returns the stream id, or the failure status.
    pub fn publish(&mut self, name: &str) -> Result<u32, sluice_rtmp::command::StatusInfo> {
        self.session
            .publish(name, PublishMode::Live)
            .unwrap_or_else(|e| panic!("publish: {e}"));
        self.flush();
        self.wait_for(
            "PublishStarted/StreamFailed",
            Duration::from_secs(10),
            |e| match e {
                ClientEvent::PublishStarted { stream_id } => Some(Ok(*stream_id)),
                ClientEvent::StreamFailed { info, .. } => Some(Err(info.clone())),
                _ => None,
            },
        )
    }

    /// Whether the server closed the connection.
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

/// A media message a [`RawClient`] player received, with its arrival time.
#[derive(Debug, Clone)]
pub struct Received {
    /// Time since the collection started.
    pub at: Duration,
    /// true for video, false for audio.
    pub video: bool,
    /// RTMP timestamp (ms).
    pub timestamp: u32,
    /// Tag body.
    pub payload: Bytes,
}

/// Everything a [`RawClient`] player saw while [`collect`] ran.
#[derive(Debug, Default)]
pub struct Collected {
    /// Audio and video messages in arrival order.
    pub media: Vec<Received>,
    /// onStatus codes in arrival order, with the index into `media` at which each arrived.
    pub statuses: Vec<(String, usize)>,
    /// Whether the server closed the connection.
    pub closed: bool,
}

impl Collected {
    /// Video messages that are not sequence headers.
    pub fn video_frames(&self) -> impl Iterator<Item = &Received> {
        self.media
            .iter()
            .filter(|m| m.video && !is_video_sequence_header(&m.payload))
    }

    /// Whether an onStatus with `code` arrived.
    pub fn has_status(&self, code: &str) -> bool {
        self.statuses.iter().any(|(c, _)| c == code)
    }
}

/// Reads from `client` until `stop` says so (given what was collected), the connection closes or
/// `limit` passes.
pub fn collect(
    client: &mut RawClient,
    limit: Duration,
    mut stop: impl FnMut(&Collected) -> bool,
) -> Collected {
    let start = Instant::now();
    let mut c = Collected::default();
    while start.elapsed() < limit && !stop(&c) {
        let left = limit.saturating_sub(start.elapsed());
        match client.next_event(left.min(Duration::from_millis(200))) {
            Some(ClientEvent::Video {
                timestamp, payload, ..
            }) => c.media.push(Received {
                at: start.elapsed(),
                video: true,
                timestamp: timestamp.0,
                payload,
            }),
            Some(ClientEvent::Audio {
                timestamp, payload, ..
            }) => c.media.push(Received {
                at: start.elapsed(),
                video: false,
                timestamp: timestamp.0,
                payload,
            }),
            Some(ClientEvent::Status { info, .. }) => c.statuses.push((info.code, c.media.len())),
            Some(_) => {}
            None if client.is_closed() => {
                c.closed = true;
                break;
            }
            None => {}
        }
    }
    c
}

/// Reads from a raw socket until the peer closes it (EOF or an error such as a reset). Returns
/// whether it closed within `timeout` and how many bytes arrived.
pub fn wait_closed(stream: &mut TcpStream, timeout: Duration) -> (bool, usize) {
    let deadline = Instant::now() + timeout;
    let mut total = 0;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (false, total);
        }
        stream.set_read_timeout(Some(left)).ok();
        match stream.read(&mut buf) {
            Ok(0) => return (true, total),
            Ok(n) => total += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (false, total)
            }
            Err(_) => return (true, total),
        }
    }
}

/// Waits for `guard` to exit; returns how long that took from `since`.
///
/// # Panics
/// If it has not exited after `timeout` (its log is in the message).
pub fn wait_exit(guard: &mut ChildGuard, timeout: Duration) -> std::process::ExitStatus {
    guard.wait_timeout(timeout).unwrap_or_else(|| {
        let log = guard.log_tail(8 * 1024);
        guard.kill();
        panic!(
            "{} still running after {timeout:?}; log tail:\n{log}",
            guard.name()
        )
    })
}

/// A `sluice ARGS` command for client runs, without the `SLUICE_*` settings (and `RUST_LOG`) of
/// the test's environment, which are meant for the servers the tests start.
pub fn sluice_cli(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SLUICE_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("NO_COLOR", "1").args(args);
    cmd
}
