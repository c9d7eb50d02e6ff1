//! `sluice play URL [-o OUT.flv] [--duration SECS]`: play a stream and write it as an FLV file
//! ([`super::recorder`]) or to stdout (`-o -`, for `sluice play URL -o - | ffplay -`), or just
//! count what arrives. Progress goes to stderr only.

use super::any::AnyPlayer;
use super::progress::Progress;
use super::recorder::{FlvRecorder, Kind};
use super::{
    client_options, fmt_bytes, fmt_clock, interrupted, kbps, runtime, secs, Target, TransportArgs,
};
use anyhow::Context as _;
use clap::Args;
use sluice_client::{ClientError, EndReason, PlayEvent};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;
use tokio::time::Instant;

/// Arguments of `sluice play`.
#[derive(Debug, Clone, Args)]
pub struct PlayArgs {
    #[command(flatten)]
    pub target: Target,
    /// Write the stream to this FLV file; `-` writes to stdout. Without it, only count.
    /// Example: -o out.flv
    #[arg(short, long, value_name = "OUT.flv")]
    pub output: Option<PathBuf>,
    /// Stop after this many seconds of media (counted from the first frame).
    /// Example: --duration 30
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Seconds allowed to connect, to get the answer to play, and for the first media to
    /// arrive (a stream that never starts is an error). Example: --timeout 5
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub timeout: f64,
    /// No progress output; only the final summary line.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub transport: TransportArgs,
}

/// The long help of `sluice play`.
pub const AFTER_HELP: &str = "\
The FLV file starts with onMetaData, then the sequence headers, then frames (video frames
before the first keyframe are dropped), with timestamps re-based to start at 0; its header flags
say which tracks arrived. The stream ends when the server closes it, sends NetStream.Play.Stop,
or the publisher goes away (NetStream.Play.UnpublishNotify), or with --duration, or Ctrl-C.
Progress and the summary go to stderr, never stdout.

Examples:
  sluice play rtmp://127.0.0.1/live/cam -o cam.flv --duration 60
  sluice play rtmp://127.0.0.1/live/cam -o - | ffplay -
  sluice play rtmp://127.0.0.1/live/cam          (count frames and bitrate only)
  sluice play rtmps://example.com/live/cam -o cam.flv --ca-file server.pem
  sluice play rtmpe://example.com/live/cam -o cam.flv --rtmpe-type 9
  sluice play rtmpt://example.com:8080/live/cam -o cam.flv
  sluice play rtmfp://example.com/live/cam -o cam.flv   (RTMP over RTMFP, UDP 1935)";

#[derive(Debug, Default)]
struct Count {
    video: u64,
    audio: u64,
    data: u64,
    first_ts: Option<sluice_client::Timestamp>,
    media_ms: u32,
}

enum Sink {
    None,
    File(FlvRecorder<Box<dyn Write>>),
}

/// Run `sluice play`.
pub fn run(args: PlayArgs) -> anyhow::Result<()> {
    let url = args.target.url()?;
    let options = client_options(args.timeout, &args.transport)?;
    let first_media_limit = secs(args.timeout, "--timeout")?;
    let duration = args.duration.map(|d| secs(d, "--duration")).transpose()?;
    let (mut sink, label) = match &args.output {
        None => (Sink::None, None),
        Some(p) if p.as_os_str() == "-" => (
            Sink::File(FlvRecorder::new(Box::new(
                BufWriter::new(std::io::stdout()),
            ))),
            Some("stdout".to_owned()),
        ),
        Some(p) => {
            let f = std::fs::File::create(p)
                .with_context(|| format!("cannot create {}", p.display()))?;
            (
                Sink::File(FlvRecorder::new(Box::new(BufWriter::new(f)))),
                Some(p.display().to_string()),
            )
        }
    };
    let created = args.output.clone().filter(|p| p.as_os_str() != "-");
    let result = runtime()?.block_on(async move {
        let started = Instant::now();
        let mut player = AnyPlayer::open(&url, &options)
            .await
            .with_context(|| format!("cannot play {url}"))?;
        let mut progress = Progress::new("play", args.quiet);
        let mut count = Count::default();
        let outcome = tokio::select! {
            r = receive(&mut player, &mut sink, &mut count, &mut progress, first_media_limit, duration) => r,
            () = interrupted() => Ok(Outcome::Interrupted),
        };
        let received = player.bytes_read();
        let elapsed = started.elapsed();
        let outcome = match outcome {
            Err(e) => Err(e),
            Ok(o) => {
                if !matches!(o, Outcome::Ended(EndReason::Closed)) {
                    let _ = player.stop().await;
                }
                Ok(o)
            }
        };
        let written = match sink {
            Sink::None => None,
            Sink::File(rec) => match rec.finish() {
                Ok((_, stats)) => Some(stats),
                Err(e) if is_broken_pipe(&e) => None,
                Err(e) => return Err(anyhow::Error::new(e).context("writing the output")),
            },
        };
        let outcome = outcome?;
        let end = match &outcome {
            Outcome::Ended(EndReason::Closed) => "server closed the connection".to_owned(),
            Outcome::Ended(EndReason::Status(code)) => code.clone(),
            Outcome::Duration => "duration reached".to_owned(),
            Outcome::Interrupted => "interrupted".to_owned(),
            Outcome::OutputClosed => "output closed".to_owned(),
        };
        let mut summary = format!(
            "{} video and {} audio frames, {:.1}s of media, {} in {} ({:.0} kbit/s); {end}",
            count.video,
            count.audio,
            f64::from(count.media_ms) / 1000.0,
            fmt_bytes(received),
            fmt_clock(elapsed),
            kbps(received, elapsed),
        );
        if let (Some(stats), Some(label)) = (written, &label) {
            summary.push_str(&format!(
                "; wrote {} ({} video, {} audio tags, {} dropped before the first keyframe) to {label}",
                fmt_bytes(stats.bytes),
                stats.video,
                stats.audio,
                stats.dropped
            ));
        }
        progress.done(&summary);
        if count.video + count.audio == 0 && !matches!(outcome, Outcome::Interrupted) {
            anyhow::bail!("stream {url} ended before any media arrived ({end})");
        }
        Ok(())
    });
    if result.is_err() {
        // Do not leave an empty (or header-only) file behind a failure.
        if let Some(p) = created {
            if std::fs::metadata(&p).is_ok_and(|m| m.len() <= 13) {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
    result
}

enum Outcome {
    Ended(EndReason),
    Duration,
    Interrupted,
    OutputClosed,
}

fn is_broken_pipe(e: &sluice_flv::FlvError) -> bool {
    matches!(e, sluice_flv::FlvError::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe)
}

async fn receive(
    player: &mut AnyPlayer,
    sink: &mut Sink,
    count: &mut Count,
    progress: &mut Progress,
    first_media_limit: Duration,
    duration: Option<Duration>,
) -> anyhow::Result<Outcome> {
    let play_started = Instant::now();
    let first_media_deadline = play_started + first_media_limit;
    let mut first_frame_at: Option<Instant> = None;
    loop {
        let ev = if count.video + count.audio == 0 {
            match tokio::time::timeout_at(first_media_deadline, player.next_event()).await {
                Ok(ev) => ev,
                Err(_) => anyhow::bail!(
                    "no media from {} within {:?}: the stream never started",
                    player.url(),
                    first_media_limit
                ),
            }
        } else {
            player.next_event().await
        };
        let ev = match ev {
            Ok(ev) => ev,
            Err(e @ ClientError::StreamError(_)) => return Err(e.into()),
            Err(e) => return Err(anyhow::Error::new(e).context("playing")),
        };
        let mut media_ts = None;
        let result = match (&mut *sink, ev) {
            (_, PlayEvent::Eof(reason)) => return Ok(Outcome::Ended(reason)),
            (s, PlayEvent::Video { timestamp, payload }) => {
                count.video += 1;
                media_ts = Some(timestamp);
                match s {
                    Sink::File(r) => r.push(Kind::Video, timestamp, payload),
                    Sink::None => Ok(()),
                }
            }
            (s, PlayEvent::Audio { timestamp, payload }) => {
                count.audio += 1;
                media_ts = Some(timestamp);
                match s {
                    Sink::File(r) => r.push(Kind::Audio, timestamp, payload),
                    Sink::None => Ok(()),
                }
            }
            (
                Sink::File(r),
                PlayEvent::Metadata {
                    properties, body, ..
                },
            ) => r.push_metadata(&properties, body),
            (_, PlayEvent::Data { .. }) => {
                count.data += 1;
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(e) = result.and_then(|()| match sink {
            Sink::File(r) => r.flush(),
            Sink::None => Ok(()),
        }) {
            if is_broken_pipe(&e) {
                return Ok(Outcome::OutputClosed);
            }
            return Err(anyhow::Error::new(e).context("writing the output"));
        }
        if let Some(ts) = media_ts {
            let first = *count.first_ts.get_or_insert(ts);
            count.media_ms = count
                .media_ms
                .max(u32::try_from(ts.serial_diff(first).max(0)).unwrap_or(0));
            let first_at = *first_frame_at.get_or_insert_with(Instant::now);
            if let Some(d) = duration {
                // Media time decides; the wall clock bounds servers that stall.
                if u128::from(count.media_ms) >= d.as_millis()
                    || first_at.elapsed() >= d + Duration::from_secs(2)
                {
                    return Ok(Outcome::Duration);
                }
            }
        }
        let received = player.bytes_read();
        let (v, a, m) = (count.video, count.audio, count.media_ms);
        let written = match sink {
            Sink::File(r) => Some(r.stats().bytes),
            Sink::None => None,
        };
        progress.update(|| {
            let elapsed = play_started.elapsed();
            format!(
                "{} received {} ({:.0} kbit/s) video {v} audio {a} media {:.1}s{}",
                fmt_clock(elapsed),
                fmt_bytes(received),
                kbps(received, elapsed),
                f64::from(m) / 1000.0,
                written.map_or_else(String::new, |w| format!(" written {}", fmt_bytes(w)))
            )
        });
    }
}
