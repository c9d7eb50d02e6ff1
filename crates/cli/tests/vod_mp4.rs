//! VOD of MP4 files with real peers: an H.264 + AAC MP4 made from the 20 s FLV fixture plays to
//! ffmpeg and gives the FLV source's tag bodies to the core client; an HEVC MP4 plays to the
//! recent ffmpeg over Enhanced RTMP; a fragmented MP4 (ffmpeg's `frag_keyframe`) and Sluice's
//! own MP4 recording play with every frame, and a recording cut in a fragment plays to the cut.

mod live_support;
mod vod_support;

use live_support::{fixture, packets};
use sluice_rtmp::command::codes;
use sluice_testkit::{spawn, FixtureOpts};
use std::process::Command as Process;
use std::time::Duration;
use vod_support::{ffmpeg_plays_whole, file_media, play_all, start};

#[test]
fn an_mp4_file_plays_to_ffmpeg_and_gives_the_frames_of_its_source() {
    let v = start(&[]);
    // ffmpeg's default MP4: moov after mdat.
    let mut cmd = Process::new(live_support::ffmpeg());
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-i"])
        .arg(&v.source)
        .args(["-c", "copy", "-y"])
        .arg(v.source_dir().join("clip.mp4"));
    spawn(cmd).wait_success(Duration::from_secs(60));

    let out = ffmpeg_plays_whole(&v, "mp4:clip");
    assert_eq!(packets(&out, "a").len(), packets(&v.source, "a").len());

    // The tag bodies equal the FLV source's (same H.264 and AAC data, legacy FLV headers).
    assert_same_frames(&v, "clip.mp4", &v.source);
}

/// The payload hashes of one kind of media, in order.
fn bodies(m: &[(bool, u32, u64)], video: bool) -> Vec<u64> {
    m.iter().filter(|x| x.0 == video).map(|x| x.2).collect()
}

/// Playing `name` gives the tag bodies of the FLV `source`, and ends with `Play.Stop`.
fn assert_same_frames(v: &vod_support::Vod, name: &str, source: &std::path::Path) {
    let (got, statuses) = play_all(v, name);
    assert!(statuses.iter().any(|s| s == codes::PLAY_STOP));
    let want = file_media(source);
    let mut want_video = bodies(&want, true);
    // The FLV source ends with an AVC end-of-sequence tag, which MP4 has no sample for.
    want_video.pop();
    assert!(
        bodies(&got, true) == want_video,
        "video bodies of {name} differ"
    );
    assert!(
        bodies(&got, false) == bodies(&want, false),
        "audio bodies of {name} differ"
    );
}

#[test]
fn a_fragmented_mp4_file_plays_with_the_frames_of_its_source() {
    let v = start(&[]);
    // A CMAF-like file: empty moov with mvex, then a moof+mdat per keyframe.
    let mut cmd = Process::new(live_support::ffmpeg());
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-i"])
        .arg(&v.source)
        .args([
            "-c",
            "copy",
            "-movflags",
            "frag_keyframe+empty_moov+default_base_moof",
            "-y",
        ])
        .arg(v.source_dir().join("frag.mp4"));
    spawn(cmd).wait_success(Duration::from_secs(60));
    assert_same_frames(&v, "frag.mp4", &v.source);
    let out = ffmpeg_plays_whole(&v, "mp4:frag");
    assert_eq!(packets(&out, "a").len(), packets(&v.source, "a").len());
}

#[test]
fn a_sluice_mp4_recording_plays_whole_and_cut() {
    let v = start(&[
        ("SLUICE_RECORD_FORMAT", "mp4"),
        ("SLUICE_RECORD_RECORD", "all"),
        ("SLUICE_RECORD_PATH", "{app}/{stream}.{ext}"),
    ]);
    let source = fixture(FixtureOpts::default().with_duration(Duration::from_secs(4)));
    let live = format!("rtmp://127.0.0.1:{}/live/cam", v.sluice.port);
    live_support::publish(&source, &live).wait_success(Duration::from_secs(60));
    v.sluice
        .wait_log(&["recording", "stopped"], Duration::from_secs(20));
    let recording = v.source_dir().join("live/cam.mp4");
    assert!(recording.exists(), "{}", v.sluice.log());
    // Every frame the publisher sent comes back over VOD.
    assert_same_frames(&v, "live/cam.mp4", &source);
    // A recording cut in a fragment (as by kill -9) plays up to its last whole sample.
    let bytes = std::fs::read(&recording).unwrap();
    std::fs::write(
        v.source_dir().join("cut.mp4"),
        &bytes[..bytes.len() * 2 / 3],
    )
    .unwrap();
    let (got, statuses) = play_all(&v, "cut.mp4");
    assert!(statuses.iter().any(|s| s == codes::PLAY_STOP));
    let (full, _) = play_all(&v, "live/cam.mp4");
    let video = bodies(&got, true);
    assert!(video.len() > 10, "{} frames", video.len());
    assert!(video.len() < bodies(&full, true).len());
    assert_eq!(video[..], bodies(&full, true)[..video.len()]);
}

#[test]
fn an_hevc_mp4_file_plays_to_the_recent_ffmpeg_over_enhanced_rtmp() {
    let v = start(&[]);
    let source = fixture(FixtureOpts::hevc().with_duration(Duration::from_secs(5)));
    let mut cmd = Process::new(sluice_testkit::ffmpeg9());
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-i"])
        .arg(&source)
        .args(["-c", "copy", "-tag:v", "hvc1", "-y"])
        .arg(v.source_dir().join("hevc.mp4"));
    spawn(cmd).wait_success(Duration::from_secs(60));
    let streams = sluice_testkit::ffmpeg9_probe(&v.url("mp4:hevc"));
    let video = streams
        .iter()
        .find(|s| s.kind == "Video")
        .expect("a video stream");
    assert_eq!(video.codec, "hevc", "{streams:?}");
    assert_eq!(video.packets, 125, "{streams:?}");
    assert!(
        streams.iter().any(|s| s.codec == "aac" && s.packets > 200),
        "{streams:?}"
    );
}
