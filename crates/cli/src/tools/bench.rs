//! `sluice bench URL --players N [--publish F.flv] [--publishers M] [--duration S]
//! [--ramp PER_SEC] [--json]`: a load tester for RTMP servers.
//!
//! Players are plain futures on one runtime (single-threaded by default, `--threads` for
//! more): each is one `sluice_client::Player` (or, with `--play-url`, an HTTP-FLV, WS-FLV,
//! LL-HLS or RTMFP player) with a small read buffer and a few counters, and payloads are never parsed beyond the 12-byte latency trailer check. Optional publishers run
//! on a thread of their own so that player load does not delay the media (and so the
//! latencies). Publishers loop the file in real time and stamp every H.264/H.265 frame with
//! its send time ([`super::stamp`]); players read the stamp back for delivery latency.
//!
//! Reported: players connected / failed / receiving, per-player received bitrate
//! (min / median / max), time to first frame and delivery latency percentiles, errors by kind,
//! and the process's own CPU time (getrusage) so the tool can be ruled out as the bottleneck.

use super::any::AnyPlayer;
pub use super::bench_publish::publisher_names;
use super::bench_publish::{load_tags, run_publisher, PublisherLive};
pub use super::bench_report::{
    percentiles, render, BenchReport, BitrateReport, CpuReport, PublisherReport,
};
use super::progress::Progress;
use super::stamp::{now_micros, read_stamp};
use super::{client_options, secs, Target, TransportArgs};
use anyhow::Context as _;
use clap::Args;
use sluice_client::{Client, ClientOptions, Url};
use sluice_flv::FlvTag;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Most players one run may start.
pub const MAX_PLAYERS: u32 = 100_000;
/// Most publishers one run may start.
pub const MAX_PUBLISHERS: u32 = 1000;
/// Largest `--publish` file (it is held in memory).
pub const MAX_PUBLISH_FILE: u64 = 512 * 1024 * 1024;
/// Latency samples kept per player; past it, every other sample is dropped and the sampling
/// stride doubles, so long runs keep an even spread in bounded memory.
pub const MAX_SAMPLES_PER_PLAYER: usize = 2048;

/// Arguments of `sluice bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub target: Target,
    /// Number of concurrent players. Example: --players 1000
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub players: u32,
    /// Publish this FLV file (looped, in real time) and measure delivery latency.
    /// Example: --publish test.flv
    #[arg(long, value_name = "F.flv")]
    pub publish: Option<PathBuf>,
    /// Number of publishers with --publish; with more than one, publisher i publishes
    /// STREAM_i and players are spread evenly over them. Example: --publishers 4
    #[arg(long, value_name = "M", default_value_t = 1)]
    pub publishers: u32,
    /// Seconds to measure after the last player has been started. Example: --duration 30
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    pub duration: f64,
    /// Players started per second (0: all at once). Example: --ramp 100
    #[arg(long, value_name = "PER_SEC", default_value_t = 200.0)]
    pub ramp: f64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Seconds allowed per player to connect, to start playing, and for its first frame
    /// (then it counts as failed with `no_media`). Example: --timeout 5
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub timeout: f64,
    /// Runtime worker threads for the players (1: a single-threaded runtime).
    #[arg(long, value_name = "T", default_value_t = 1)]
    pub threads: usize,
    /// Read buffer per player in bytes (memory per player vs. system calls).
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024)]
    pub read_buffer: usize,
    /// No progress lines; only the report.
    #[arg(short, long)]
    pub quiet: bool,
    /// Players read this HTTP-FLV (`http://HOST:8080/live/s.flv`), WebSocket-FLV
    /// (`ws://HOST:8080/live/s.flv`), LL-HLS (`http://HOST:8080/live/s.m3u8`: blocking
    /// playlist reloads and every part, over one keep-alive connection) or RTMFP
    /// (`rtmfp://HOST:1935/live/s`: a UDP socket and RTMFP session per player) URL instead of
    /// playing the RTMP URL (which --publish still publishes to). Latency and bitrate are measured the
    /// same way (for HLS from the stamps found in the parts, audio and video together).
    #[arg(long, value_name = "URL")]
    pub play_url: Option<String>,
    #[command(flatten)]
    pub transport: TransportArgs,
}

/// The long help of `sluice bench`.
pub const AFTER_HELP: &str = "\
Latency is measured only when bench publishes (--publish): each H.264/H.265 video message gets
a trailing filler-data NAL unit carrying `SLBT` and its send time (decoders ignore filler data),
and players compute receive time minus send time on the same clock, for frames sent after the
player started playing (frames a server replays from its GOP cache are not counted). Bitrate
is per player, over the time since its first frame. CPU is this process's user+system time
(getrusage) over the run's wall time; 100% is one core. Everything runs against the given server only.

Examples:
  sluice bench rtmp://127.0.0.1/live/cam --players 1000 --ramp 200 --duration 30
  sluice bench rtmp://127.0.0.1/live/bench --players 500 --publish test.flv --publishers 2 --json
  sluice bench rtmp://127.0.0.1/live/b --players 1000 --publish test.flv --play-url ws://127.0.0.1:8080/live/b.flv
  sluice bench rtmp://127.0.0.1/live/b --players 200 --publish test.flv --play-url rtmfp://127.0.0.1/live/b";

/// Latency samples with bounded memory (see [`MAX_SAMPLES_PER_PLAYER`]).
#[derive(Debug, Default)]
struct Samples {
    v: Vec<u32>,
    stride: u32,
    skip: u32,
}

impl Samples {
    fn push(&mut self, us: u32) {
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        self.stride = self.stride.max(1);
        self.skip = self.stride - 1;
        self.v.push(us);
        if self.v.len() >= MAX_SAMPLES_PER_PLAYER {
            let kept: Vec<u32> = self.v.iter().copied().step_by(2).collect();
            self.v = kept;
            self.stride *= 2;
            self.skip = self.stride - 1;
        }
    }
}

/// What one player saw.
#[derive(Debug, Default)]
pub(super) struct PlayerResult {
    connected: bool,
    error: Option<(&'static str, String)>,
    first_video_us: Option<u64>,
    first_audio_us: Option<u64>,
    frames: u64,
    bytes: u64,
    receive_time: Duration,
    latency: Samples,
    audio_latency: Samples,
}

/// Counters shared with the progress line.
#[derive(Debug, Default)]
pub(super) struct Live {
    connected: AtomicU64,
    receiving: AtomicU64,
    failed: AtomicU64,
    pub(super) bytes: AtomicU64,
}

pub(super) struct PlayerJob {
    url: Arc<Url>,
    /// Play over HTTP-FLV (`http://…/app/stream.flv`), WebSocket-FLV (`ws://…`), LL-HLS or
    /// RTMFP (`rtmfp://…/app/stream`) instead.
    pub(super) play_url: Option<Arc<String>>,
    name: String,
    pub(super) options: Arc<ClientOptions>,
    pub(super) stop_at: Instant,
    pub(super) first_frame_limit: Duration,
    pub(super) live: Arc<Live>,
}

fn fail(r: &mut PlayerResult, kind: &'static str, msg: String) {
    if r.error.is_none() {
        r.error = Some((kind, msg));
    }
}

/// What one player measures, whatever carries its media (RTMP and, through `bench_rtmfp`,
/// RTMFP here; HTTP-FLV and WS-FLV in `bench_http`, LL-HLS in `bench_hls`).
pub(super) struct Meter {
    t0: Instant,
    /// Frames stamped before this instant are GOP-cache replays: not delivery latency.
    live_from: u64,
    first_media: Option<(Instant, u64)>,
    pub(super) r: PlayerResult,
}

impl Meter {
    pub(super) fn new() -> Meter {
        Meter {
            t0: Instant::now(),
            live_from: 0,
            first_media: None,
            r: PlayerResult::default(),
        }
    }

    /// The deadline for the first frame.
    pub(super) fn first_deadline(&self, job: &PlayerJob) -> Instant {
        (self.t0 + job.first_frame_limit).min(job.stop_at)
    }

    pub(super) fn fail(&mut self, kind: &'static str, msg: String) {
        fail(&mut self.r, kind, msg);
    }

    /// Wait for `start` (connect, play, open a request) until the end of the run; on a failure
    /// or the end of the run, the player's error is recorded and `None` returned.
    pub(super) async fn start<T>(
        &mut self,
        stop_at: Instant,
        start: impl std::future::Future<Output = Result<T, (&'static str, String)>>,
    ) -> Option<T> {
        match tokio::time::timeout_at(stop_at, start).await {
            Ok(Ok(t)) => Some(t),
            Ok(Err((kind, msg))) => {
                self.fail(kind, msg);
                None
            }
            Err(_) => {
                self.fail("timeout", "run ended before play started".into());
                None
            }
        }
    }

    /// Playing started.
    pub(super) fn connected(&mut self, live: &Live) {
        self.r.connected = true;
        live.connected.fetch_add(1, Ordering::Relaxed);
        self.live_from = now_micros();
    }

    /// One audio or video message; `bytes_now` is the connection's byte count so far. True
    /// when it was the first (the caller then waits until the end of the run).
    pub(super) fn media(
        &mut self,
        video: bool,
        payload: &[u8],
        bytes_now: u64,
        live: &Live,
    ) -> bool {
        if let Some(sent) = read_stamp(payload).filter(|&sent| sent >= self.live_from) {
            let us = u32::try_from(now_micros().saturating_sub(sent)).unwrap_or(u32::MAX);
            if video {
                self.r.latency.push(us);
            } else {
                self.r.audio_latency.push(us);
            }
        }
        self.r.frames += 1;
        let since = self.t0.elapsed().as_micros() as u64;
        if video {
            self.r.first_video_us.get_or_insert(since);
        } else {
            self.r.first_audio_us.get_or_insert(since);
        }
        if self.first_media.is_none() {
            self.first_media = Some((Instant::now(), bytes_now));
            live.receiving.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// The first frame did not come in time.
    pub(super) fn timed_out(&mut self, limit: Duration) {
        if self.first_media.is_none() {
            self.fail("no_media", format!("no frame within {limit:?}"));
        }
    }

    pub(super) fn finish(mut self, bytes_now: u64, live: &Live) -> PlayerResult {
        if let Some((at, bytes)) = self.first_media {
            self.r.receive_time = at.elapsed();
            self.r.bytes = bytes_now - bytes;
        }
        if self.r.error.is_some() {
            live.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.r
    }
}

async fn run_player(job: PlayerJob) -> PlayerResult {
    if let Some(url) = job.play_url.clone() {
        if url.starts_with("rtmfp://") {
            return super::bench_rtmfp::run_player(job, &url).await;
        }
        return super::bench_http::run_player(job, &url).await;
    }
    let (url, options, name) = (job.url.clone(), job.options.clone(), job.name.clone());
    let open = async move {
        let conn = Client::connect(&url, &options).await?;
        Ok(AnyPlayer::Rtmp(Box::new(conn.play(&name).await?)))
    };
    super::bench_rtmfp::play_measured(job, open).await
}

#[derive(Debug, Clone, Copy)]
struct Rusage {
    user: f64,
    system: f64,
    max_rss_kib: i64,
}

fn rusage() -> Rusage {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
            Rusage {
                user: secs(u.user_time()),
                system: secs(u.system_time()),
                max_rss_kib: u.max_rss(),
            }
        }
        Err(_) => Rusage {
            user: 0.0,
            system: 0.0,
            max_rss_kib: 0,
        },
    }
}

/// Run `sluice bench`.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let url = args.target.url()?;
    if args.players > MAX_PLAYERS || (args.players == 0 && args.publish.is_none()) {
        anyhow::bail!(
            "--players must be from 1 to {MAX_PLAYERS} (0 is allowed with --publish: an ingest-only run)"
        );
    }
    if args.publishers == 0 || args.publishers > MAX_PUBLISHERS {
        anyhow::bail!("--publishers must be from 1 to {MAX_PUBLISHERS}");
    }
    if !args.ramp.is_finite() || args.ramp < 0.0 {
        anyhow::bail!("--ramp must be 0 (all at once) or a positive number of players per second");
    }
    if args.threads == 0 || args.threads > 256 {
        anyhow::bail!("--threads must be from 1 to 256");
    }
    if let Some(play) = args.play_url.as_deref() {
        super::bench_rtmfp::check_url(play)?;
    }
    let duration = secs(args.duration, "--duration")?;
    let first_frame_limit = secs(args.timeout, "--timeout")?;
    let mut options = client_options(args.timeout, &args.transport)?;
    options.read_buffer_size = args.read_buffer;
    options.finish_timeout = Duration::from_millis(500);
    let tags = args.publish.as_deref().map(load_tags).transpose()?;
    let rt = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    }
    .context("cannot start the runtime")?;
    let url = Arc::new(url);
    let report = rt.block_on(bench(
        args.clone(),
        url,
        options,
        tags,
        duration,
        first_frame_limit,
    ))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}

async fn bench(
    args: BenchArgs,
    url: Arc<Url>,
    options: ClientOptions,
    tags: Option<Vec<FlvTag>>,
    duration: Duration,
    first_frame_limit: Duration,
) -> anyhow::Result<BenchReport> {
    let names = if tags.is_some() {
        publisher_names(&url, args.publishers)
    } else {
        publisher_names(&url, 1)
    };
    let stop = Arc::new(AtomicBool::new(false));
    let pub_live = Arc::new(PublisherLive::default());
    let mut publisher_thread = None;
    if let Some(tags) = tags {
        let tags = Arc::new(tags);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let (url2, names2, opts2, stop2, live2) = (
            url.clone(),
            names.clone(),
            options.clone(),
            stop.clone(),
            pub_live.clone(),
        );
        let handle = std::thread::Builder::new()
            .name("bench-publishers".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(format!("cannot start the publisher runtime: {e}")));
                        return;
                    }
                };
                rt.block_on(async move {
                    let mut set = JoinSet::new();
                    for name in names2 {
                        set.spawn(run_publisher(
                            url2.clone(),
                            name,
                            opts2.clone(),
                            tags.clone(),
                            stop2.clone(),
                            live2.clone(),
                            tx.clone(),
                        ));
                    }
                    while set.join_next().await.is_some() {}
                });
            })
            .context("cannot start the publisher thread")?;
        publisher_thread = Some(handle);
        for _ in 0..names.len() {
            match rx.recv().await {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    stop.store(true, Ordering::Relaxed);
                    anyhow::bail!("{e}");
                }
                None => anyhow::bail!("the publishers stopped before starting"),
            }
        }
    }

    let cpu_start = rusage();
    let wall_start = Instant::now();
    let ramp_time = if args.ramp > 0.0 {
        Duration::from_secs_f64(f64::from(args.players) / args.ramp)
    } else {
        Duration::ZERO
    };
    let stop_at = wall_start + ramp_time + duration;
    let live = Arc::new(Live::default());
    let options = Arc::new(options);
    let play_url = args.play_url.clone().map(Arc::new);
    let mut progress = Progress::new("bench", args.quiet);
    let mut set = JoinSet::new();
    let show = |live: &Live, started: u32, progress: &mut Progress| {
        let (c, r, f) = (
            live.connected.load(Ordering::Relaxed),
            live.receiving.load(Ordering::Relaxed),
            live.failed.load(Ordering::Relaxed),
        );
        let bytes = live.bytes.load(Ordering::Relaxed);
        progress.update(|| {
            let el = wall_start.elapsed();
            format!(
                "{:.0}s started {started} connected {c} receiving {r} failed {f}, received {:.1} Mbit/s avg",
                el.as_secs_f64(),
                bytes as f64 * 8.0 / 1e6 / el.as_secs_f64().max(0.001)
            )
        });
    };
    for i in 0..args.players {
        if args.ramp > 0.0 {
            let due = wall_start + Duration::from_secs_f64(f64::from(i) / args.ramp);
            tokio::time::sleep_until(due).await;
        }
        let name = names
            .get(i as usize % names.len())
            .cloned()
            .unwrap_or_default();
        set.spawn(run_player(PlayerJob {
            url: url.clone(),
            play_url: play_url.clone(),
            name,
            options: options.clone(),
            stop_at,
            first_frame_limit,
            live: live.clone(),
        }));
        show(&live, i + 1, &mut progress);
    }
    if args.players == 0 {
        // Ingest-only run: the publishers work for the whole duration.
        tokio::time::sleep_until(stop_at).await;
    }
    let mut results = Vec::with_capacity(args.players as usize);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            r = set.join_next() => match r {
                Some(Ok(r)) => results.push(r),
                Some(Err(e)) => results.push(PlayerResult {
                    error: Some(("internal", e.to_string())),
                    ..PlayerResult::default()
                }),
                None => break,
            },
            _ = tick.tick() => show(&live, args.players, &mut progress),
        }
    }
    let wall = wall_start.elapsed();
    let cpu_end = rusage();
    stop.store(true, Ordering::Relaxed);
    if let Some(h) = publisher_thread {
        let _ = tokio::task::spawn_blocking(move || h.join()).await;
    }
    progress.done(&format!("{} players done", results.len()));

    let mut errors = BTreeMap::new();
    let mut examples = BTreeMap::new();
    let mut rates = Vec::new();
    let mut ttff = Vec::new();
    let mut latency = Vec::new();
    let mut audio_latency = Vec::new();
    let (mut connected, mut failed, mut receiving) = (0, 0, 0);
    for r in &results {
        connected += u32::from(r.connected);
        receiving += u32::from(r.frames > 0);
        if let Some((kind, msg)) = &r.error {
            failed += 1;
            *errors.entry((*kind).to_owned()).or_insert(0) += 1;
            examples
                .entry((*kind).to_owned())
                .or_insert_with(|| msg.clone());
        }
        if r.frames > 0 {
            let t = r.receive_time.as_secs_f64();
            if t > 0.0 {
                rates.push(r.bytes as f64 * 8.0 / 1000.0 / t);
            }
        }
        if let Some(us) = r.first_video_us.or(r.first_audio_us) {
            ttff.push(us as f64 / 1000.0);
        }
        latency.extend(r.latency.v.iter().map(|&us| f64::from(us) / 1000.0));
        audio_latency.extend(r.audio_latency.v.iter().map(|&us| f64::from(us) / 1000.0));
    }
    rates.sort_by(f64::total_cmp);
    let r1 = |x: f64| (x * 10.0).round() / 10.0;
    let bitrate_kbps = (!rates.is_empty()).then(|| BitrateReport {
        min: r1(rates[0]),
        median: r1(rates[rates.len() / 2]),
        max: r1(rates[rates.len() - 1]),
        total: r1(rates.iter().sum()),
    });
    let cpu_s = (cpu_end.user - cpu_start.user) + (cpu_end.system - cpu_start.system);
    let pub_report = args.publish.as_ref().map(|_| PublisherReport {
        count: names.len() as u32,
        frames: pub_live.frames.load(Ordering::Relaxed),
        bytes: pub_live.bytes.load(Ordering::Relaxed),
        errors: pub_live
            .errors
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default(),
    });
    Ok(BenchReport {
        url: url.to_string(),
        players: args.players,
        connected,
        failed,
        receiving,
        bitrate_kbps,
        first_frame_ms: percentiles(&mut ttff),
        latency_ms: percentiles(&mut latency),
        audio_latency_ms: percentiles(&mut audio_latency),
        errors,
        error_examples: examples,
        publishers: pub_report,
        ramp_per_sec: args.ramp,
        duration_s: duration.as_secs_f64(),
        cpu: CpuReport {
            user_s: r1((cpu_end.user - cpu_start.user) * 10.0) / 10.0,
            system_s: r1((cpu_end.system - cpu_start.system) * 10.0) / 10.0,
            wall_s: r1(wall.as_secs_f64() * 10.0) / 10.0,
            percent_of_one_core: r1(cpu_s / wall.as_secs_f64().max(0.001) * 100.0),
            max_rss_mib: r1(cpu_end.max_rss_kib as f64 / 1024.0),
            threads: args.threads,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_ranks() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).rev().collect();
        let p = percentiles(&mut v).unwrap();
        assert_eq!(
            (p.count, p.p50, p.p90, p.p99, p.max),
            (100, 50.0, 90.0, 99.0, 100.0)
        );
        let p = percentiles(&mut [7.0]).unwrap();
        assert_eq!((p.p50, p.p99, p.max), (7.0, 7.0, 7.0));
        assert!(percentiles(&mut []).is_none());
    }

    #[test]
    fn samples_stay_bounded_and_spread() {
        let mut s = Samples::default();
        for i in 0..100_000u32 {
            s.push(i);
        }
        assert!(s.v.len() < MAX_SAMPLES_PER_PLAYER);
        assert!(s.v.len() > MAX_SAMPLES_PER_PLAYER / 4);
        // Spread over the whole run, not only its start.
        assert!(*s.v.last().unwrap() > 90_000, "{}", s.v.last().unwrap());
        assert_eq!(s.v[0], 0);
        let mut s = Samples::default();
        for i in 0..10 {
            s.push(i);
        }
        assert_eq!(s.v, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn names_for_publishers() {
        let u = Url::parse("rtmp://h/live/cam?k=1").unwrap();
        assert_eq!(publisher_names(&u, 1), vec!["cam?k=1"]);
        assert_eq!(publisher_names(&u, 2), vec!["cam_0?k=1", "cam_1?k=1"]);
    }

    #[test]
    fn render_report() {
        let r = BenchReport {
            url: "rtmp://h/live/s".into(),
            players: 2,
            connected: 2,
            failed: 1,
            receiving: 1,
            bitrate_kbps: Some(BitrateReport {
                min: 1.0,
                median: 1.0,
                max: 1.0,
                total: 1.0,
            }),
            first_frame_ms: percentiles(&mut [5.0]),
            latency_ms: None,
            audio_latency_ms: None,
            errors: BTreeMap::from([("no_media".to_owned(), 1)]),
            error_examples: BTreeMap::from([("no_media".to_owned(), "no frame".to_owned())]),
            publishers: None,
            ramp_per_sec: 0.0,
            duration_s: 1.0,
            cpu: CpuReport {
                user_s: 0.1,
                system_s: 0.1,
                wall_s: 1.0,
                percent_of_one_core: 20.0,
                max_rss_mib: 10.0,
                threads: 1,
            },
        };
        let t = render(&r);
        assert!(
            t.contains("2 requested, 2 connected, 1 receiving, 1 failed"),
            "{t}"
        );
        assert!(t.contains("no_media: 1 (e.g. no frame)"), "{t}");
        assert!(t.contains("latency ms      - (needs --publish)"), "{t}");
        assert!(t.contains("20.0% of one core (1 thread)"), "{t}");
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["connected"], 2);
        assert_eq!(j["errors"]["no_media"], 1);
    }
}
