//! Real-peer validation: FLV made by ffmpeg (Debian's for H.264/AAC, the recent "ffmpeg9" for
//! Enhanced RTMP HEVC/AV1/VP9/Opus), read with `sluice_flv::FlvDemuxer`, muxed to fMP4 with
//! this crate, then read back by Debian's ffprobe (codecs, size, frame counts, packet timing)
//! and decoded in full by Debian's ffmpeg, which must print no error. Missing tools fail the
//! test (sluice-testkit panics naming scripts/install-deps.sh); nothing is skipped.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::BytesMut;
use sluice_flv::{FlvDemuxer, FlvEvent, TagType};
use sluice_mux::{
    FlvItem, FlvToSamples, Fmp4Muxer, FragmentPolicy, MuxEvent, MuxerOptions, TrackKind,
};
use sluice_testkit::{
    ffmpeg9, ffprobe, make_test_flv, run, tool, AudioCodec, FixtureOpts, ProbeResult, VideoCodec,
};

const SECS: u64 = 2;

/// What muxing one FLV file produced.
#[derive(Debug, Default)]
struct Muxed {
    inits: usize,
    mime: String,
    fragments: Vec<sluice_mux::Fragment>,
    video_samples: u64,
    audio_samples: u64,
}

fn mux_flv(flv: &Path, opts: MuxerOptions, out: &Path) -> Muxed {
    mux_flv_shifted(flv, opts, out, 0)
}

/// [`mux_flv`] with every RTMP timestamp moved by `shift` ms (wrapping, as RTMP does).
fn mux_flv_shifted(flv: &Path, opts: MuxerOptions, out: &Path, shift: u32) -> Muxed {
    let data = std::fs::read(flv).unwrap();
    let mut buf = BytesMut::from(&data[..]);
    let mut demux = FlvDemuxer::new();
    let adapter = FlvToSamples::new();
    let mut mux = Fmp4Muxer::new(opts);
    let mut file = Vec::new();
    let mut m = Muxed::default();
    let drain = |mux: &mut Fmp4Muxer, m: &mut Muxed, file: &mut Vec<u8>| {
        while let Some(ev) = mux.poll_event() {
            match ev {
                MuxEvent::Init(init) => {
                    m.inits += 1;
                    m.mime = init.mime.clone();
                    file.extend_from_slice(&init.data);
                }
                MuxEvent::Fragment(f) => {
                    for c in f.chunks() {
                        file.extend_from_slice(c);
                    }
                    for t in f.tracks() {
                        match t.track {
                            TrackKind::Video => m.video_samples += u64::from(t.samples),
                            TrackKind::Audio => m.audio_samples += u64::from(t.samples),
                        }
                    }
                    m.fragments.push(f);
                }
            }
        }
    };
    while let Some(ev) = demux.decode(&mut buf).unwrap() {
        let FlvEvent::Tag(tag) = ev else { continue };
        let kind = match tag.tag_type {
            TagType::VIDEO => TrackKind::Video,
            TagType::AUDIO => TrackKind::Audio,
            _ => continue,
        };
        match adapter.push(kind, tag.timestamp.wrapping_add(shift), &tag.data) {
            Ok(Some(item)) => mux.handle_flv_item(item).unwrap(),
            Ok(None) => {}
            Err(e) => panic!("tag at {} ms: {e}", tag.timestamp),
        }
        drain(&mut mux, &mut m, &mut file);
    }
    demux.finish(&buf).unwrap();
    mux.flush();
    drain(&mut mux, &mut m, &mut file);
    std::fs::write(out, &file).unwrap();
    m
}

/// One packet as ffprobe lists it.
#[derive(Debug)]
struct Packet {
    stream: u32,
    pts: i64,
    dts: i64,
    /// `None` for "N/A": ffprobe 5.1 prints it for the first AAC packet of any MP4 (ffmpeg's own
    /// fragmented output included), for every Opus packet and for the AV1 packets of the
    /// first fragment; ffmpeg 9 reads the `trun` durations ([`framecrc`]).
    duration: Option<i64>,
    key: bool,
}

fn packets(path: &Path) -> Vec<Packet> {
    let mut cmd = Command::new(tool("ffprobe"));
    cmd.args(["-v", "error", "-show_entries"])
        .arg("packet=stream_index,pts,dts,duration,flags")
        .args(["-of", "csv=p=0"])
        .arg(path);
    let out = run(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "ffprobe packets: {}", out.log);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Packet {
                stream: f[0].parse().unwrap(),
                pts: f[1].parse().unwrap(),
                dts: f[2].parse().unwrap(),
                duration: f[3].parse().ok(),
                key: f[4].starts_with('K'),
            }
        })
        .collect()
}

/// `(stream, dts, duration)` of every packet as the recent ffmpeg reads it (`-f framecrc`,
/// stream timebases = track timescales): stricter than ffprobe 5.1 about `trun` durations.
fn framecrc(path: &Path) -> Vec<(u32, i64, i64)> {
    let mut cmd = Command::new(ffmpeg9());
    cmd.args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0", "-c", "copy", "-f", "framecrc", "-"]);
    let out = run(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "ffmpeg9 framecrc: {}", out.log);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<i64> = l
                .split(',')
                .take(4)
                .map(|x| x.trim().parse().unwrap())
                .collect();
            (f[0] as u32, f[1], f[3])
        })
        .collect()
}

/// `ffmpeg -v error -i FILE -f null -` decodes everything and prints nothing.
fn assert_decodes_cleanly(path: &Path) {
    let mut cmd = Command::new(tool("ffmpeg"));
    cmd.args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"]);
    let out = run(cmd, Duration::from_secs(120));
    assert!(out.status.success(), "ffmpeg decode failed: {}", out.log);
    assert!(
        out.log.trim().is_empty(),
        "ffmpeg reported errors decoding {}:\n{}",
        path.display(),
        out.log
    );
}

struct Case {
    name: &'static str,
    fixture: FixtureOpts,
    opts: MuxerOptions,
    mime_prefix: &'static str,
}

fn check(case: Case) -> (Muxed, ProbeResult, Vec<Packet>) {
    let dir = tempfile::tempdir().unwrap();
    let flv = dir.path().join(format!("{}.flv", case.name));
    let mp4 = dir.path().join(format!("{}.mp4", case.name));
    let fixture = case.fixture.with_duration(Duration::from_secs(SECS));
    make_test_flv(&flv, fixture.clone());
    let m = mux_flv(&flv, case.opts, &mp4);
    assert_eq!(m.inits, 1, "one init segment");
    assert!(
        m.mime.starts_with(case.mime_prefix),
        "{}: mime {}",
        case.name,
        m.mime
    );
    let p = ffprobe(mp4.to_str().unwrap());
    assert!(p.format_name.contains("mp4"), "{}", p.format_name);
    let pk = packets(&mp4);
    let has_video = case.mime_prefix.starts_with("video");
    if has_video {
        let v = p.video().expect("a video stream");
        assert_eq!(v.codec_name, fixture.video.ffmpeg_name(), "{}", case.name);
        assert_eq!((v.width, v.height), (Some(320), Some(240)), "{}", case.name);
        let frames = fixture.expected_video_frames();
        assert_eq!(m.video_samples, frames, "{}: samples muxed", case.name);
        assert_eq!(
            v.nb_read_frames,
            Some(frames),
            "{}: frames decoded",
            case.name
        );
        let vp: Vec<&Packet> = pk.iter().filter(|x| x.stream == v.index).collect();
        assert_eq!(vp.len() as u64, frames);
        let keys = vp.iter().filter(|x| x.key).count() as u64;
        assert_eq!(keys, SECS, "{}: one key frame per second", case.name);
        assert!(vp.windows(2).all(|w| w[1].dts > w[0].dts), "dts increase");
        assert!(
            vp.iter().all(|x| x.duration.is_none_or(|d| d == 3600)),
            "{}: 40 ms frames",
            case.name
        );
        let crc = framecrc(&mp4);
        let vd: Vec<i64> = crc.iter().filter(|x| x.0 == v.index).map(|x| x.2).collect();
        assert!(
            vd.iter().all(|&d| d == 3600),
            "{}: video durations {vd:?}",
            case.name
        );
        // Presentation times are a gapless run of 40 ms frames.
        let end = vp.iter().map(|x| x.pts + 3600).max().unwrap();
        let start = vp.iter().map(|x| x.pts).min().unwrap();
        assert_eq!(
            end - start,
            (SECS * 90_000) as i64,
            "{}: video span",
            case.name
        );
    }
    if let Some(audio) = fixture.audio {
        let a = p.audio().expect("an audio stream");
        assert_eq!(a.codec_name, audio.ffmpeg_name(), "{}", case.name);
        let rate = if audio == AudioCodec::Opus {
            48_000
        } else {
            44_100
        };
        assert_eq!((a.sample_rate, a.channels), (Some(rate), Some(2)));
        let ap: Vec<&Packet> = pk.iter().filter(|x| x.stream == a.index).collect();
        assert_eq!(ap.len() as u64, m.audio_samples, "{}", case.name);
        assert_eq!(a.nb_read_frames, Some(m.audio_samples), "{}", case.name);
        let frame = if audio == AudioCodec::Opus { 960 } else { 1024 };
        // Sample-count timing: every packet one access unit long, contiguous.
        assert!(
            ap.iter().all(|x| x.duration.is_none_or(|d| d == frame)),
            "{}: audio durations",
            case.name
        );
        let crc = framecrc(&mp4);
        let ad: Vec<i64> = crc.iter().filter(|x| x.0 == a.index).map(|x| x.2).collect();
        assert!(
            ad.iter().all(|&d| d == frame),
            "{}: audio durations {ad:?}",
            case.name
        );
        assert!(ap.windows(2).all(|w| w[1].dts == w[0].dts + frame));
        let secs = ap.len() as f64 * frame as f64 / f64::from(rate);
        assert!(
            (secs - SECS as f64).abs() < 0.1,
            "{}: {secs} s of audio",
            case.name
        );
    }
    assert_eq!(
        pk.iter().map(|x| x.dts).min(),
        Some(0),
        "timeline rebased to 0"
    );
    let duration = p.duration.expect("a duration");
    assert!(
        (duration - SECS as f64).abs() < 0.15,
        "{}: {duration} s",
        case.name
    );
    assert_decodes_cleanly(&mp4);
    (m, p, pk)
}

fn keyframes() -> MuxerOptions {
    MuxerOptions::default()
}

#[test]
fn h264_aac_fragment_per_gop() {
    let (m, _, _) = check(Case {
        name: "h264_aac",
        fixture: FixtureOpts::default(),
        opts: keyframes(),
        mime_prefix: "video/mp4; codecs=\"avc1.",
    });
    assert!(m.mime.ends_with(",mp4a.40.2\""), "{}", m.mime);
    // Two GOPs of 25 frames: two fragments, each starting with a key frame, plus nothing else.
    assert_eq!(m.fragments.len(), 2);
    assert!(m.fragments.iter().all(|f| f.starts_with_keyframe()));
    assert_eq!(m.fragments[0].track(TrackKind::Video).unwrap().samples, 25);
}

#[test]
fn h264_aac_low_latency_fragment_per_sample() {
    let opts = MuxerOptions {
        policy: FragmentPolicy::EverySample,
        ..MuxerOptions::default()
    };
    let (m, _, _) = check(Case {
        name: "h264_aac_ll",
        fixture: FixtureOpts::default(),
        opts,
        mime_prefix: "video/mp4",
    });
    // One sample per fragment, but the final flush writes the last sample of each track.
    let (last, rest) = m.fragments.split_last().unwrap();
    assert!(rest
        .iter()
        .all(|f| f.tracks().len() == 1 && f.tracks()[0].samples == 1));
    assert_eq!(last.tracks().len(), 2);
    let seqs: Vec<u32> = m.fragments.iter().map(|f| f.sequence_number()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1) && seqs[0] == 1);
}

#[test]
fn h264_with_b_frames_keeps_composition_offsets() {
    let fixture = FixtureOpts {
        b_frames: 2,
        ..FixtureOpts::default()
    };
    let (_, _, pk) = check(Case {
        name: "h264_bframes",
        fixture,
        opts: keyframes(),
        mime_prefix: "video/mp4",
    });
    assert!(
        pk.iter().any(|x| x.stream == 0 && x.pts != x.dts),
        "B-frames reorder"
    );
}

#[test]
fn h264_aac_across_the_32_bit_timestamp_wrap() {
    let dir = tempfile::tempdir().unwrap();
    let flv = dir.path().join("wrap.flv");
    let mp4 = dir.path().join("wrap.mp4");
    make_test_flv(
        &flv,
        FixtureOpts::default().with_duration(Duration::from_secs(SECS)),
    );
    // The RTMP clock wraps one second into the stream.
    let m = mux_flv_shifted(&flv, keyframes(), &mp4, u32::MAX - 999);
    let p = ffprobe(mp4.to_str().unwrap());
    assert_eq!(p.video().unwrap().nb_read_frames, Some(m.video_samples));
    assert_eq!(m.video_samples, 50);
    assert_eq!(p.audio().unwrap().nb_read_frames, Some(m.audio_samples));
    let crc = framecrc(&mp4);
    let v: Vec<&(u32, i64, i64)> = crc.iter().filter(|x| x.0 == 0).collect();
    assert!(
        v.windows(2).all(|w| w[1].1 == w[0].1 + 3600),
        "gapless video dts"
    );
    assert!(v.iter().all(|x| x.2 == 3600));
    assert!((p.duration.unwrap() - SECS as f64).abs() < 0.15);
    assert_decodes_cleanly(&mp4);
}

#[test]
fn h264_video_only() {
    check(Case {
        name: "h264_only",
        fixture: FixtureOpts::default().with_audio(None),
        opts: keyframes(),
        mime_prefix: "video/mp4; codecs=\"avc1.",
    });
}

#[test]
fn aac_audio_only() {
    // Audio only: the fixture still has video, which the adapter is not given.
    let dir = tempfile::tempdir().unwrap();
    let flv = dir.path().join("a.flv");
    let mp4 = dir.path().join("a.mp4");
    let stripped = dir.path().join("audio.flv");
    make_test_flv(
        &flv,
        FixtureOpts::default().with_duration(Duration::from_secs(SECS)),
    );
    let mut cmd = Command::new(tool("ffmpeg"));
    cmd.args(["-nostdin", "-v", "error", "-i"])
        .arg(&flv)
        .args(["-vn", "-c", "copy", "-f", "flv"])
        .arg(&stripped);
    assert!(run(cmd, Duration::from_secs(60)).status.success());
    let m = mux_flv(&stripped, keyframes(), &mp4);
    assert_eq!(m.mime, "audio/mp4; codecs=\"mp4a.40.2\"");
    assert_eq!(m.video_samples, 0);
    // 2 s limit per fragment: at least one cut, every fragment independent.
    assert!(m.fragments.iter().all(|f| f.is_independent()));
    let p = ffprobe(mp4.to_str().unwrap());
    assert_eq!(p.streams.len(), 1);
    let a = p.audio().unwrap();
    assert_eq!(
        (a.codec_name.as_str(), a.sample_rate),
        ("aac", Some(44_100))
    );
    assert_eq!(a.nb_read_frames, Some(m.audio_samples));
    assert!((p.duration.unwrap() - SECS as f64).abs() < 0.1);
    assert_decodes_cleanly(&mp4);
}

#[test]
fn hevc_aac_enhanced_rtmp() {
    let (m, _, _) = check(Case {
        name: "hevc",
        fixture: FixtureOpts::hevc(),
        opts: keyframes(),
        mime_prefix: "video/mp4; codecs=\"hvc1.1.6.L",
    });
    assert!(m.mime.ends_with(",mp4a.40.2\""), "{}", m.mime);
}

#[test]
fn av1_opus_enhanced_rtmp() {
    let (m, _, _) = check(Case {
        name: "av1_opus",
        fixture: FixtureOpts::default()
            .with_video(VideoCodec::Av1)
            .with_audio(Some(AudioCodec::Opus)),
        opts: keyframes(),
        mime_prefix: "video/mp4; codecs=\"av01.0.",
    });
    assert!(m.mime.ends_with("M.08,opus\""), "{}", m.mime);
}

#[test]
fn vp9_opus_enhanced_rtmp() {
    let (m, _, _) = check(Case {
        name: "vp9_opus",
        fixture: FixtureOpts::default()
            .with_video(VideoCodec::Vp9)
            .with_audio(Some(AudioCodec::Opus)),
        opts: keyframes(),
        mime_prefix: "video/mp4; codecs=\"vp09.00.",
    });
    assert!(m.mime.ends_with(".08,opus\""), "{}", m.mime);
}

#[test]
fn flv_items_cover_every_tag() {
    // The adapter turns every audio/video tag of an ffmpeg FLV into something.
    let dir = tempfile::tempdir().unwrap();
    let flv = dir.path().join("x.flv");
    make_test_flv(
        &flv,
        FixtureOpts::default().with_duration(Duration::from_secs(1)),
    );
    let data = std::fs::read(&flv).unwrap();
    let mut buf = BytesMut::from(&data[..]);
    let mut demux = FlvDemuxer::new();
    let adapter = FlvToSamples::new();
    let (mut configs, mut samples) = (0, 0);
    while let Some(ev) = demux.decode(&mut buf).unwrap() {
        let FlvEvent::Tag(tag) = ev else { continue };
        let kind = match tag.tag_type {
            TagType::VIDEO => TrackKind::Video,
            TagType::AUDIO => TrackKind::Audio,
            _ => continue,
        };
        match adapter.push(kind, tag.timestamp, &tag.data).unwrap() {
            Some(FlvItem::Config(_)) => configs += 1,
            Some(FlvItem::Sample(_)) => samples += 1,
            Some(FlvItem::EndOfSequence(_)) | None => {}
        }
    }
    assert_eq!(configs, 2);
    assert!(samples > 25 + 40, "{samples}");
}
