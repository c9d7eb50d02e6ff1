//! Converts an FLV file into a fragmented MP4 with the sans-IO muxer:
//! `cargo run -p sluice-mux --example flv_to_fmp4 -- in.flv out.mp4 [every-sample]`.
//! Prints the MIME type and one line per fragment.

use bytes::BytesMut;
use sluice_flv::{FlvDemuxer, FlvEvent, TagType};
use sluice_mux::{FlvToSamples, Fmp4Muxer, FragmentPolicy, MuxEvent, MuxerOptions, TrackKind};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(input), Some(output)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: flv_to_fmp4 IN.flv OUT.mp4 [every-sample]");
        std::process::exit(2);
    };
    let mut opts = MuxerOptions::default();
    if args.get(3).map(String::as_str) == Some("every-sample") {
        opts.policy = FragmentPolicy::EverySample;
    }
    let mut buf = BytesMut::from(&std::fs::read(input)?[..]);
    let mut demux = FlvDemuxer::new();
    let adapter = FlvToSamples::new();
    let mut mux = Fmp4Muxer::new(opts);
    let mut out = Vec::new();
    while let Some(event) = demux.decode(&mut buf)? {
        let FlvEvent::Tag(tag) = event else { continue };
        let kind = match tag.tag_type {
            TagType::VIDEO => TrackKind::Video,
            TagType::AUDIO => TrackKind::Audio,
            _ => continue,
        };
        match adapter.push(kind, tag.timestamp, &tag.data) {
            Ok(Some(item)) => mux.handle_flv_item(item)?,
            Ok(None) => {}
            Err(e) => eprintln!("tag at {} ms skipped: {e}", tag.timestamp),
        }
        drain(&mut mux, &mut out);
    }
    mux.flush();
    drain(&mut mux, &mut out);
    std::fs::write(output, &out)?;
    Ok(())
}

/// Appends the muxer's pending output to `out`, printing what it is.
fn drain(mux: &mut Fmp4Muxer, out: &mut Vec<u8>) {
    while let Some(event) = mux.poll_event() {
        match event {
            MuxEvent::Init(init) => {
                println!(
                    "init #{}: {} ({} bytes)",
                    init.generation,
                    init.mime,
                    init.data.len()
                );
                out.extend_from_slice(&init.data);
            }
            MuxEvent::Fragment(f) => {
                let tracks: Vec<String> = f
                    .tracks()
                    .iter()
                    .map(|t| format!("{:?} tfdt {} x{}", t.track, t.base_decode_time, t.samples))
                    .collect();
                println!(
                    "fragment {} key={} {:.3}s {}",
                    f.sequence_number(),
                    f.starts_with_keyframe(),
                    f.duration_secs(),
                    tracks.join(", ")
                );
                for c in f.chunks() {
                    out.extend_from_slice(c);
                }
            }
        }
    }
}
