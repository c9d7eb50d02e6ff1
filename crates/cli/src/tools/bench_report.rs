//! The report of `sluice bench`: percentiles, bitrates, publisher and CPU figures, as JSON
//! (`--json`) or text ([`render`]).

use serde::Serialize;
use std::collections::BTreeMap;

/// Percentiles of a set of samples (milliseconds).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Percentiles {
    /// Number of samples.
    pub count: usize,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// Nearest-rank percentiles of `v` (sorted in place), scaled by `scale`.
pub fn percentiles(v: &mut [f64]) -> Option<Percentiles> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let at = |p: f64| {
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    };
    let r = |x: f64| (x * 100.0).round() / 100.0;
    Some(Percentiles {
        count: v.len(),
        p50: r(at(50.0)),
        p90: r(at(90.0)),
        p99: r(at(99.0)),
        max: r(v[v.len() - 1]),
    })
}

/// Distribution of per-player bitrates (kbit/s).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BitrateReport {
    /// Lowest.
    pub min: f64,
    /// Median.
    pub median: f64,
    /// Highest.
    pub max: f64,
    /// Sum over all players.
    pub total: f64,
}

/// Publisher results.
#[derive(Debug, Clone, Serialize)]
pub struct PublisherReport {
    /// Publishers started.
    pub count: u32,
    /// Video and audio frames sent.
    pub frames: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Errors after start.
    pub errors: Vec<String>,
}

/// CPU use of this process over the run.
#[derive(Debug, Clone, Serialize)]
pub struct CpuReport {
    /// User CPU seconds.
    pub user_s: f64,
    /// System CPU seconds.
    pub system_s: f64,
    /// Wall seconds.
    pub wall_s: f64,
    /// (user + system) / wall, in percent of one core.
    pub percent_of_one_core: f64,
    /// Peak resident set size, MiB.
    pub max_rss_mib: f64,
    /// Runtime threads for players.
    pub threads: usize,
}

/// The bench report.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Target URL.
    pub url: String,
    /// Players asked for.
    pub players: u32,
    /// Players whose play started.
    pub connected: u32,
    /// Players that failed (connect, play, no media, or an error later).
    pub failed: u32,
    /// Players that received at least one frame.
    pub receiving: u32,
    /// Per-player received bitrate over its time since the first frame.
    pub bitrate_kbps: Option<BitrateReport>,
    /// Time from connection start to the first video frame (audio if no video).
    pub first_frame_ms: Option<Percentiles>,
    /// Delivery latency of video frames (only with --publish).
    pub latency_ms: Option<Percentiles>,
    /// Delivery latency of AAC audio frames (only with --publish).
    pub audio_latency_ms: Option<Percentiles>,
    /// Error counts by kind.
    pub errors: BTreeMap<String, u32>,
    /// One message per error kind.
    pub error_examples: BTreeMap<String, String>,
    /// Publishers (with --publish).
    pub publishers: Option<PublisherReport>,
    /// Ramp rate used (players per second, 0 = all at once).
    pub ramp_per_sec: f64,
    /// Measurement time after the last start (s).
    pub duration_s: f64,
    /// This process's CPU.
    pub cpu: CpuReport,
}

fn fmt_pct(p: &Option<Percentiles>) -> String {
    match p {
        Some(p) => format!(
            "p50 {:.1}, p90 {:.1}, p99 {:.1}, max {:.1} ({} samples)",
            p.p50, p.p90, p.p99, p.max, p.count
        ),
        None => "-".into(),
    }
}

/// The text form of a report.
pub fn render(r: &BenchReport) -> String {
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<16}{v}\n"));
    line("url", r.url.clone());
    line(
        "players",
        format!(
            "{} requested, {} connected, {} receiving, {} failed",
            r.players, r.connected, r.receiving, r.failed
        ),
    );
    line(
        "bitrate kbit/s",
        r.bitrate_kbps.as_ref().map_or("-".into(), |b| {
            format!(
                "per player min {:.1}, median {:.1}, max {:.1}; total {:.1}",
                b.min, b.median, b.max, b.total
            )
        }),
    );
    line("first frame ms", fmt_pct(&r.first_frame_ms));
    line(
        "latency ms",
        if r.publishers.is_some() {
            fmt_pct(&r.latency_ms)
        } else {
            "- (needs --publish)".into()
        },
    );
    if r.publishers.is_some() {
        line("audio latency ms", fmt_pct(&r.audio_latency_ms));
    }
    if let Some(p) = &r.publishers {
        line(
            "publishers",
            format!(
                "{} publishing, {} frames, {} sent{}",
                p.count,
                p.frames,
                super::fmt_bytes(p.bytes),
                if p.errors.is_empty() {
                    String::new()
                } else {
                    format!("; errors: {}", p.errors.join("; "))
                }
            ),
        );
    }
    if r.errors.is_empty() {
        line("errors", "none".into());
    } else {
        for (kind, n) in &r.errors {
            let ex = r.error_examples.get(kind).cloned().unwrap_or_default();
            line("errors", format!("{kind}: {n} (e.g. {ex})"));
        }
    }
    let c = &r.cpu;
    line(
        "bench cpu",
        format!(
            "user {:.2} s, system {:.2} s over {:.1} s = {:.1}% of one core ({} thread{}), max RSS {:.1} MiB",
            c.user_s,
            c.system_s,
            c.wall_s,
            c.percent_of_one_core,
            c.threads,
            if c.threads == 1 { "" } else { "s" },
            c.max_rss_mib
        ),
    );
    out
}
