//! Fixture generation and probing: the FLVs we feed peers contain what the
//! options say, as seen by ffprobe (legacy FLV) and ffmpeg9 (Enhanced RTMP).

use std::time::Duration;

use sluice_testkit::{
    ffmpeg9_probe, ffmpeg9_stream_codecs, ffprobe, make_test_flv, AudioCodec, FixtureOpts,
    VideoCodec,
};

fn short(opts: FixtureOpts) -> FixtureOpts {
    opts.with_duration(Duration::from_secs(2))
}

#[test]
fn default_fixture_is_h264_aac_at_the_documented_shape() {
    let opts = FixtureOpts::default();
    assert_eq!(opts.duration, Duration::from_secs(5));
    assert_eq!((opts.width, opts.height, opts.fps), (320, 240, 25));
    assert_eq!(opts.audio, Some(AudioCodec::Aac));
    assert_eq!((opts.sample_rate, opts.channels), (44_100, 2));
    assert!(!opts.needs_ffmpeg9());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("default.flv");
    make_test_flv(&path, opts.clone());
    let probe = ffprobe(path.to_str().unwrap());
    assert_eq!(probe.format_name, "flv");
    let v = probe.video().expect("video stream");
    assert_eq!(v.codec_name, "h264");
    assert_eq!((v.width, v.height), (Some(320), Some(240)));
    assert_eq!(v.nb_read_frames, Some(opts.expected_video_frames()));
    let a = probe.audio().expect("audio stream");
    assert_eq!(a.codec_name, "aac");
    assert_eq!((a.sample_rate, a.channels), (Some(44_100), Some(2)));
    let duration = probe.duration.expect("duration");
    assert!((4.9..5.2).contains(&duration), "duration {duration}");
}

#[test]
fn custom_shape_video_only_with_b_frames() {
    let opts = FixtureOpts {
        width: 640,
        height: 360,
        fps: 30,
        keyframe_interval: 15,
        b_frames: 2,
        audio: None,
        ..short(FixtureOpts::default())
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("custom.flv");
    make_test_flv(&path, opts.clone());
    let probe = ffprobe(path.to_str().unwrap());
    assert_eq!(probe.streams.len(), 1);
    let v = probe.video().unwrap();
    assert_eq!((v.width, v.height), (Some(640), Some(360)));
    assert_eq!(v.nb_read_frames, Some(60));
    assert_eq!(opts.expected_video_frames(), 60);
}

#[test]
fn hevc_fixture_is_enhanced_rtmp_flv() {
    let opts = short(FixtureOpts::hevc());
    assert!(opts.needs_ffmpeg9());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hevc.flv");
    make_test_flv(&path, opts);
    let streams = ffmpeg9_probe(path.to_str().unwrap());
    assert_eq!(streams.len(), 2, "{streams:?}");
    assert_eq!(
        (streams[0].kind.as_str(), streams[0].codec.as_str()),
        ("Video", "hevc")
    );
    assert_eq!(streams[0].packets, 50);
    assert_eq!(
        (streams[1].kind.as_str(), streams[1].codec.as_str()),
        ("Audio", "aac")
    );
    assert!(streams[1].packets > 80, "{streams:?}");

    // The first video tag is an Enhanced RTMP sequence start with FourCC hvc1:
    // byte 0 = IsExHeader (0x80) | FrameType key (1 << 4) | PacketType 0.
    let bytes = std::fs::read(&path).unwrap();
    let hvc1 = bytes
        .windows(5)
        .position(|w| w == [0x90, b'h', b'v', b'c', b'1']);
    assert!(
        hvc1.is_some(),
        "no ex-header hvc1 sequence start in the file"
    );
}

#[test]
fn av1_opus_and_vp9_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    let av1 = dir.path().join("av1.flv");
    make_test_flv(
        &av1,
        short(FixtureOpts::default())
            .with_video(VideoCodec::Av1)
            .with_audio(Some(AudioCodec::Opus)),
    );
    assert_eq!(
        ffmpeg9_stream_codecs(av1.to_str().unwrap()),
        ["av1", "opus"]
    );

    let vp9 = dir.path().join("vp9.flv");
    make_test_flv(
        &vp9,
        short(FixtureOpts::default()).with_video(VideoCodec::Vp9),
    );
    assert_eq!(ffmpeg9_stream_codecs(vp9.to_str().unwrap()), ["vp9", "aac"]);
}

#[test]
#[should_panic(expected = "failed with")]
fn ffprobe_of_a_missing_file_panics_with_its_log() {
    ffprobe("/nonexistent/sluice-no-such-file.flv");
}
