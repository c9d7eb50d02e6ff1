//! VOD of MP4 files with real peers: an H.264 + AAC MP4 made from the 20 s FLV fixture plays to
//! ffmpeg and gives the FLV source's tag bodies to the core client; an HEVC MP4 plays to the
//! recent ffmpeg over Enhanced RTMP.

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
    let (got, statuses) = play_all(&v, "clip.mp4");
    assert!(statuses.iter().any(|s| s == codes::PLAY_STOP));
    let want = file_media(&v.source);
    let bodies = |m: &[(bool, u32, u64)], video: bool| -> Vec<u64> {
        m.iter().filter(|x| x.0 == video).map(|x| x.2).collect()
    };
    let mut want_video = bodies(&want, true);
    // The FLV source ends with an AVC end-of-sequence tag, which MP4 has no sample for.
    want_video.pop();
    assert!(bodies(&got, true) == want_video, "video bodies differ");
    assert!(
        bodies(&got, false) == bodies(&want, false),
        "audio bodies differ"
    );
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
