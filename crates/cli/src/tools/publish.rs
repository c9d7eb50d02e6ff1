//! `sluice publish INPUT.flv URL [--loop]`: publish an FLV file (legacy and Enhanced RTMP tags,
//! FLV v10.1 Annex E) in real time, paced by its timestamps on the monotonic clock.
//!
//! `onMetaData` script tags go out as `@setDataFrame` data messages (what FMLE, OBS and ffmpeg
//! send); other script tags go out unchanged; audio and video tag bodies are the message
//! payloads (FLV tag body = RTMP message payload). Timestamps start at 0 and are re-based over
//! discontinuities and across `--loop` repetitions ([`super::timemap`]).

use super::any::AnyPublisher;
use super::progress::Progress;
use super::timemap::{Pacer, TimeMap};
use super::{
    client_options, fmt_bytes, fmt_clock, interrupted, kbps, runtime, Target, TransportArgs,
};
use anyhow::Context as _;
use bytes::{BufMut, Bytes, BytesMut};
use clap::Args;
use sluice_client::Timestamp;
use sluice_flv::script::{ON_META_DATA, SET_DATA_FRAME};
use sluice_flv::{FlvReader, FlvTag, TagType};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Arguments of `sluice publish`.
#[derive(Debug, Clone, Args)]
pub struct PublishArgs {
    /// The FLV file to publish (legacy or Enhanced RTMP tags). Example: input.flv
    #[arg(value_name = "INPUT.flv")]
    pub input: PathBuf,
    #[command(flatten)]
    pub target: Target,
    /// Repeat the file forever with continuous timestamps (stop with Ctrl-C).
    #[arg(long = "loop")]
    pub repeat: bool,
    /// Seconds allowed to connect and to get the answer to publish. Example: --timeout 5
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub timeout: f64,
    /// No progress output; only the final summary line.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub transport: TransportArgs,
}

/// The long help of `sluice publish`.
pub const AFTER_HELP: &str = "\
Pacing: each tag is sent when its timestamp is due on the monotonic clock, counted from the
first tag; timestamps start at 0 on the wire, and jumps (more than 1 s back or 10 s forward)
are re-based so the stream stays continuous. Progress (elapsed, bitrate, frames) is a live line
on a terminal and a plain line every 3 s otherwise, on stderr.

Examples:
  sluice publish input.flv rtmp://127.0.0.1/live/cam
  sluice publish --loop input.flv rtmp://example.com:1935/live/cam?key=secret
  sluice publish input.flv rtmp://host/app/instance/cam --app app --stream instance/cam
  sluice publish input.flv rtmps://example.com/live/cam
  sluice publish input.flv rtmfp://example.com/live/cam   (RTMP over RTMFP, UDP 1935)
  sluice publish input.flv rtmp://origin/live/cam --proxy-real-ip 203.0.113.7";

/// Bytes a `@setDataFrame` AMF0 string takes: marker, u16 length, 13 bytes.
const SET_DATA_FRAME_PREFIX: usize = 3 + SET_DATA_FRAME.len();

/// A script tag body as a data message: `onMetaData` gets wrapped in `@setDataFrame`.
pub fn script_message(body: &Bytes) -> (bool, Bytes) {
    let name = sluice_flv::parse_script(body).ok().map(|s| s.name);
    match name.as_deref() {
        Some(ON_META_DATA) => {
            let mut b = BytesMut::with_capacity(SET_DATA_FRAME_PREFIX + body.len());
            b.put_u8(0x02);
            b.put_u16(SET_DATA_FRAME.len() as u16);
            b.put_slice(SET_DATA_FRAME.as_bytes());
            b.put_slice(body);
            (true, b.freeze())
        }
        Some(SET_DATA_FRAME) => (true, body.clone()),
        _ => (false, body.clone()),
    }
}

/// Open an FLV file and read its header; errors name the file.
pub fn open_flv(path: &Path) -> anyhow::Result<FlvReader<BufReader<File>>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = FlvReader::new(BufReader::new(file));
    reader
        .header()
        .with_context(|| format!("{} is not an FLV file", path.display()))?;
    Ok(reader)
}

#[derive(Debug, Default)]
struct Counters {
    video: u64,
    audio: u64,
    data: u64,
    loops: u64,
    rebased: u64,
    media_ms: u64,
}

/// Run `sluice publish`.
pub fn run(args: PublishArgs) -> anyhow::Result<()> {
    let url = args.target.url()?;
    let options = client_options(args.timeout, &args.transport)?;
    // Fail on a bad file before touching the network.
    let mut reader = open_flv(&args.input)?;
    let first = reader
        .next_tag()
        .with_context(|| format!("{} is not a valid FLV file", args.input.display()))?;
    if first.is_none() {
        anyhow::bail!("{} has no tags", args.input.display());
    }
    runtime()?.block_on(async move {
        let publisher = AnyPublisher::open(&url, &options)
            .await
            .with_context(|| format!("cannot publish to {url}"))?;
        let mut progress = Progress::new("publish", args.quiet);
        let started = tokio::time::Instant::now();
        let mut counters = Counters::default();
        let mut publisher = publisher;
        let result = tokio::select! {
            r = publish_file(&mut publisher, &args, reader, first, &mut counters, &mut progress) => r,
            () = interrupted() => Ok(()),
        };
        let elapsed = started.elapsed();
        let sent = publisher.bytes_written();
        result?;
        publisher.finish().await.context("closing the stream")?;
        progress.done(&format!(
            "sent {} video and {} audio frames ({:.1}s of media), {} in {} ({:.0} kbit/s){}{}",
            counters.video,
            counters.audio,
            counters.media_ms as f64 / 1000.0,
            fmt_bytes(sent),
            fmt_clock(elapsed),
            kbps(sent, elapsed),
            if counters.loops > 0 {
                format!(", {} loops", counters.loops)
            } else {
                String::new()
            },
            if counters.rebased > 0 {
                format!(", {} timestamp jumps re-based", counters.rebased)
            } else {
                String::new()
            }
        ));
        Ok(())
    })
}

async fn publish_file(
    publisher: &mut AnyPublisher,
    args: &PublishArgs,
    mut reader: FlvReader<BufReader<File>>,
    first: Option<FlvTag>,
    counters: &mut Counters,
    progress: &mut Progress,
) -> anyhow::Result<()> {
    let mut map = TimeMap::new();
    let mut pacer = Pacer::new(Duration::from_secs(1));
    let started = tokio::time::Instant::now();
    let mut pending = first;
    loop {
        let tag = match pending.take() {
            Some(t) => Some(t),
            None => reader
                .next_tag()
                .with_context(|| format!("reading {}", args.input.display()))?,
        };
        counters.rebased = map.discontinuities();
        counters.media_ms = map.max_out();
        let Some(tag) = tag else {
            if !args.repeat {
                return Ok(());
            }
            counters.loops += 1;
            map.restart();
            reader = open_flv(&args.input)?;
            continue;
        };
        let out = map.map(tag.timestamp);
        let ts = Timestamp(out as u32);
        match tag.tag_type {
            TagType::AUDIO | TagType::VIDEO => {
                let due = pacer.due(out, tokio::time::Instant::now());
                publisher.sleep_until(due).await?;
                if tag.tag_type == TagType::AUDIO {
                    counters.audio += 1;
                    publisher.send_audio(ts, tag.data).await?;
                } else {
                    counters.video += 1;
                    publisher.send_video(ts, tag.data).await?;
                }
            }
            TagType::SCRIPT => {
                let (is_metadata, body) = script_message(&tag.data);
                // Metadata once per run; other script data every time it occurs.
                if !is_metadata || counters.loops == 0 {
                    counters.data += 1;
                    let ts = if is_metadata { Timestamp::ZERO } else { ts };
                    publisher.send_data(ts, body).await?;
                }
            }
            // AMF3 script data and unknown tag types have no RTMP publishing form here.
            _ => {}
        }
        let sent = publisher.bytes_written();
        let (v, a) = (counters.video, counters.audio);
        progress.update(|| {
            let elapsed = started.elapsed();
            format!(
                "{} sent {} ({:.0} kbit/s) video {v} audio {a} media {:.1}s",
                fmt_clock(elapsed),
                fmt_bytes(sent),
                kbps(sent, elapsed),
                out as f64 / 1000.0
            )
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_amf::{amf0_encode_all, Amf0Object, Amf0Value};

    #[test]
    fn metadata_is_wrapped_other_script_data_is_not() {
        let md = amf0_encode_all(&[
            Amf0Value::String(ON_META_DATA.into()),
            Amf0Value::EcmaArray(Amf0Object::new().with("width", 1.0)),
        ]);
        let (is_md, body) = script_message(&md);
        assert!(is_md);
        // 02 000d "@setDataFrame" then the original body.
        assert_eq!(&body[..3], &[0x02, 0x00, 0x0d]);
        assert_eq!(&body[3..16], b"@setDataFrame");
        assert_eq!(&body[16..], &md[..]);
        let s = sluice_flv::parse_script(&body).unwrap();
        assert!(s.is_set_data_frame());

        let (is_md, again) = script_message(&body);
        assert!(is_md);
        assert_eq!(again, body);

        let cue = amf0_encode_all(&[Amf0Value::String("onCuePoint".into()), Amf0Value::Null]);
        assert_eq!(script_message(&cue), (false, cue.clone()));
        let junk = Bytes::from_static(&[0xff, 0x00]);
        assert_eq!(script_message(&junk), (false, junk.clone()));
    }

    #[test]
    fn open_flv_errors_name_the_file() {
        let e = open_flv(Path::new("/nonexistent/x.flv")).unwrap_err();
        assert!(
            format!("{e:#}").starts_with("cannot open /nonexistent/x.flv"),
            "{e:#}"
        );
        let dir = std::env::temp_dir().join(format!("sluice-publish-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("not.flv");
        std::fs::write(&p, b"this is not a video file").unwrap();
        let e = open_flv(&p).unwrap_err();
        assert!(format!("{e:#}").contains("is not an FLV file"), "{e:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
