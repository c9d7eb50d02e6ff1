//! Interop tests for the live server against real peers (issue 3): ffmpeg (Debian 5.1 and the
//! recent "ffmpeg9" for Enhanced RTMP v2 codecs), rtmpdump (librtmp, digest handshake of RTMP
//! 1.0 §5.2 as Flash Player 9 does it) and GStreamer's rtmp2 elements publish to and play from
//! `sluice serve`; ffprobe checks what the players wrote. Also the live-stream rules of the hub:
//! one publisher per stream, mid-stream joins start on a keyframe near timestamp 0, and a
//! waiting player follows a publisher that stops and comes back.
//!
//! Each test starts its own server on an ephemeral port; tools that are missing make the test
//! fail, never skip.

mod live_support;

use live_support::{
    collect, ffmpeg, ffmpeg_play, fixture, is_video_keyframe, is_video_sequence_header, packets,
    publish, publish9, temp_dir, wait_exit, RawClient, Sluice,
};
use sluice_rtmp::command::codes;
use sluice_testkit::{
    ffmpeg9, ffmpeg9_probe, ffprobe, spawn, tool, AudioCodec, FixtureOpts, ProbeResult, VideoCodec,
};
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// Longest a real-time publish of a fixture of `secs` seconds may take, with slack for a busy
/// machine.
fn publish_budget(secs: u64) -> Duration {
    Duration::from_secs(secs * 2 + 15)
}

/// How long a player may hear nothing before it treats the stream as over.
const PLAYER_IDLE: Duration = Duration::from_secs(5);

/// Asserts `p` holds H.264 video with at least `min_frames` decoded frames and AAC audio.
fn assert_h264_aac(p: &ProbeResult, min_frames: u64, what: &str) {
    let v = p
        .video()
        .unwrap_or_else(|| panic!("{what}: no video stream in {p:?}"));
    assert_eq!(v.codec_name, "h264", "{what}: {p:?}");
    let frames = v.nb_read_frames.unwrap_or(0);
    assert!(
        frames >= min_frames,
        "{what}: {frames} video frames, expected at least {min_frames}: {p:?}"
    );
    let a = p
        .audio()
        .unwrap_or_else(|| panic!("{what}: no audio stream in {p:?}"));
    assert_eq!(a.codec_name, "aac", "{what}: {p:?}");
    assert!(
        a.nb_read_frames.unwrap_or(0) > 0,
        "{what}: no audio frames: {p:?}"
    );
}

/// 80% of the fixture's frames: what a player that joins right after the publisher must get.
fn min_frames(opts: &FixtureOpts) -> u64 {
    opts.expected_video_frames() * 4 / 5
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

#[test]
fn ffmpeg_publishes_and_ffmpeg_plays_h264_aac() {
    let opts = FixtureOpts::default();
    let input = fixture(opts.clone());
    let server = Sluice::start();
    let dir = temp_dir();
    let out = dir.path().join("ffmpeg-play.flv");

    let mut publisher = publish(&input, &server.url("ffmpeg"));
    server.wait_log(&["publish", "stream=ffmpeg"], Duration::from_secs(10));
    let mut player = ffmpeg_play(&ffmpeg(), &server.url("ffmpeg"), &out, PLAYER_IDLE, &[]);

    publisher.wait_success(publish_budget(5));
    player.wait_success(Duration::from_secs(20));
    let p = ffprobe(path_str(&out));
    assert_h264_aac(&p, min_frames(&opts), "ffmpeg player");
    server.wait_log(&["unpublish", "stream=ffmpeg"], Duration::from_secs(5));
}

#[test]
fn rtmpdump_plays_with_the_digest_handshake() {
    let opts = FixtureOpts::default();
    let input = fixture(opts.clone());
    // The handshake form is logged at debug level.
    let server = Sluice::start_with_env(&[("RUST_LOG", "info,sluice_server::driver=debug")]);
    let dir = temp_dir();
    let out = dir.path().join("rtmpdump.flv");

    let mut publisher = publish(&input, &server.url("dump"));
    server.wait_log(&["publish", "stream=dump"], Duration::from_secs(10));
    let mut cmd = Command::new(tool("rtmpdump"));
    cmd.args(["-r", &server.url("dump"), "--live", "-m", "5", "-o"])
        .arg(&out);
    let mut player = spawn(cmd);

    publisher.wait_success(publish_budget(5));
    player.wait_success(Duration::from_secs(20));
    let p = ffprobe(path_str(&out));
    assert_h264_aac(&p, min_frames(&opts), "rtmpdump");
    // librtmp sends the Flash Player 9 digest handshake; the server must have answered in kind.
    let hs: Vec<String> = server.log_lines(&["handshake complete"]);
    assert!(
        hs.iter().any(|l| l.contains("Digest")),
        "no digest handshake logged: {hs:#?}"
    );
}

#[test]
fn gstreamer_rtmp2sink_publishes_and_rtmp2src_plays() {
    let opts = FixtureOpts::default();
    let input = fixture(opts.clone());
    let server = Sluice::start();
    let dir = temp_dir();
    let out = dir.path().join("gst.flv");
    let gst = tool("gst-launch-1.0");

    // The fixture's own H.264/AAC, remuxed: rtmp2sink paces to the clock, i.e. real time.
    let mut cmd = Command::new(&gst);
    cmd.arg("-q")
        .arg("filesrc")
        .arg(format!("location={}", input.display()))
        .args(["!", "flvdemux", "name=d"])
        .args(["d.video", "!", "queue", "!", "h264parse", "!"])
        .args(["flvmux", "name=m", "streamable=true", "!", "rtmp2sink"])
        .arg(format!("location={}", server.url("gst")))
        .args(["d.audio", "!", "queue", "!", "aacparse", "!", "m."]);
    let mut publisher = spawn(cmd);
    server.wait_log(&["publish", "stream=gst"], Duration::from_secs(15));

    let mut cmd = Command::new(&gst);
    cmd.args(["-e", "rtmp2src"])
        .arg(format!("location={}", server.url("gst")))
        .args(["!", "filesink"])
        .arg(format!("location={}", out.display()));
    let mut player = spawn(cmd);

    publisher.wait_success(publish_budget(5));
    // rtmp2src ends the pipeline (EOS) when the server says the stream was unpublished.
    player.wait_success(Duration::from_secs(20));
    let p = ffprobe(path_str(&out));
    // The player joins a moment after the publisher started; the GOP cache covers the gap.
    assert_h264_aac(&p, opts.expected_video_frames() / 2, "rtmp2src");
}

/// Publishes an Enhanced RTMP fixture with ffmpeg9, plays it back with ffmpeg9 into FLV and
/// checks the codecs and the packet count with ffmpeg9 (Debian's ffprobe cannot read it).
fn enhanced_round_trip(server: &Sluice, opts: FixtureOpts, stream: &str, dir: &Path) {
    let input = fixture(opts.clone());
    let out = dir.join(format!("{stream}.flv"));
    let mut publisher = publish9(&input, &server.url(stream));
    server.wait_log(
        &["publish", &format!("stream={stream}")],
        Duration::from_secs(15),
    );
    let mut player = ffmpeg_play(&ffmpeg9(), &server.url(stream), &out, PLAYER_IDLE, &[]);
    publisher.wait_success(publish_budget(opts.duration.as_secs()));
    player.wait_success(Duration::from_secs(20));

    let streams = ffmpeg9_probe(path_str(&out));
    let video = streams
        .iter()
        .find(|s| s.kind == "Video")
        .unwrap_or_else(|| panic!("{stream}: no video in {streams:?}"));
    assert_eq!(
        video.codec,
        opts.video.ffmpeg_name(),
        "{stream}: {streams:?}"
    );
    assert!(
        video.packets >= min_frames(&opts),
        "{stream}: {} video packets, expected at least {}: {streams:?}",
        video.packets,
        min_frames(&opts)
    );
    if let Some(audio_codec) = opts.audio {
        let audio = streams
            .iter()
            .find(|s| s.kind == "Audio")
            .unwrap_or_else(|| panic!("{stream}: no audio in {streams:?}"));
        assert_eq!(
            audio.codec,
            audio_codec.ffmpeg_name(),
            "{stream}: {streams:?}"
        );
        assert!(audio.packets > 0, "{stream}: no audio packets: {streams:?}");
    }
    server.wait_log(
        &["codec", &format!("stream=\"{stream}\""), "kind=\"video\""],
        Duration::from_secs(1),
    );
}

#[test]
fn ffmpeg9_publishes_and_plays_hevc_over_enhanced_rtmp() {
    let server = Sluice::start();
    let dir = temp_dir();
    enhanced_round_trip(&server, FixtureOpts::hevc(), "hevc", dir.path());
}

#[test]
fn ffmpeg9_publishes_and_plays_av1_and_vp9_with_opus() {
    let server = Sluice::start();
    let dir = temp_dir();
    let three = Duration::from_secs(3);
    let av1 = FixtureOpts::default()
        .with_duration(three)
        .with_video(VideoCodec::Av1)
        .with_audio(Some(AudioCodec::Opus));
    let vp9 = FixtureOpts::default()
        .with_duration(three)
        .with_video(VideoCodec::Vp9)
        .with_audio(Some(AudioCodec::Opus));
    // Encode both fixtures before the clock-sensitive part.
    fixture(av1.clone());
    fixture(vp9.clone());
    thread::scope(|s| {
        s.spawn(|| enhanced_round_trip(&server, av1, "av1", dir.path()));
        s.spawn(|| enhanced_round_trip(&server, vp9, "vp9", dir.path()));
    });
}

#[test]
fn second_publisher_is_refused_and_the_first_keeps_going() {
    let opts = FixtureOpts::default();
    let input = fixture(opts.clone());
    let server = Sluice::start();
    let dir = temp_dir();
    let out = dir.path().join("first.flv");

    let mut first = publish(&input, &server.url("one"));
    server.wait_log(&["publish", "stream=one"], Duration::from_secs(10));
    let mut player = ffmpeg_play(&ffmpeg(), &server.url("one"), &out, PLAYER_IDLE, &[]);
    thread::sleep(Duration::from_secs(1));

    let mut second = publish(&input, &server.url("one"));
    let status = wait_exit(&mut second, Duration::from_secs(15));
    assert!(
        !status.success(),
        "the second publisher should fail, it exited with {status}; log:\n{}",
        second.log()
    );
    server.wait_log(&["publish refused", "stream=one"], Duration::from_secs(5));
    assert!(
        first.is_running(),
        "the first publisher stopped early: {}",
        first.log()
    );

    first.wait_success(publish_budget(5));
    player.wait_success(Duration::from_secs(20));
    let p = ffprobe(path_str(&out));
    assert_h264_aac(&p, min_frames(&opts), "player of the first publisher");
    assert_eq!(
        server.count_log(&["publish", "stream=one", "mode="]),
        1,
        "exactly one publish accepted"
    );
}

/// Plays `stream` (live for a few seconds already) with the raw client and checks what a
/// mid-stream join must look like: the sequence header first, then a keyframe at (or very near)
/// timestamp 0, then no timestamp jumps; audio near 0 too.
fn assert_joins_on_a_keyframe(server: &Sluice, stream: &str) {
    assert_starts_on_a_keyframe(server, stream, 100);
}

/// [`assert_joins_on_a_keyframe`] with the first video frame allowed up to `max_first_video_ms`
/// (a player without a GOP to start from gets audio at once and video from the next keyframe).
fn assert_starts_on_a_keyframe(server: &Sluice, stream: &str, max_first_video_ms: u32) {
    let joined = Instant::now();
    let mut raw = RawClient::connect(server.addr(), |_| {});
    raw.wait_connected();
    raw.play(stream);
    let got = collect(&mut raw, Duration::from_secs(5), |c| {
        c.video_frames().count() >= 25
    });
    eprintln!(
        "{stream}: first video frame {:?} after play started, 25 frames {:?} after connecting",
        got.video_frames().next().map(|m| m.at),
        joined.elapsed()
    );
    drop(raw);
    let frames: Vec<_> = got.video_frames().collect();
    assert!(
        frames.len() >= 25,
        "{stream}: only {} video frames in 5 s",
        frames.len()
    );
    assert!(
        got.media
            .iter()
            .find(|m| m.video)
            .is_some_and(|m| is_video_sequence_header(&m.payload)),
        "{stream}: the first video message is not the sequence header"
    );
    assert!(
        is_video_keyframe(&frames[0].payload),
        "{stream}: first video frame is not a keyframe: {:02x?}",
        &frames[0].payload[..frames[0].payload.len().min(8)]
    );
    assert!(
        frames[0].timestamp <= max_first_video_ms,
        "{stream}: first video frame at {} ms, expected at most {max_first_video_ms}",
        frames[0].timestamp
    );
    for w in frames.windows(2) {
        let step = w[1].timestamp.wrapping_sub(w[0].timestamp);
        assert!(
            step <= 200,
            "{stream}: video timestamp jumps from {} to {}",
            w[0].timestamp,
            w[1].timestamp
        );
    }
    let first_audio = got
        .media
        .iter()
        .find(|m| !m.video && !sluice_flv::classify_audio(&m.payload).is_sequence_header)
        .unwrap_or_else(|| panic!("{stream}: no audio frames"));
    assert!(
        first_audio.timestamp <= 1000,
        "{stream}: first audio frame at {} ms",
        first_audio.timestamp
    );
}

#[test]
fn player_joining_mid_stream_starts_on_a_keyframe_near_zero() {
    let opts = FixtureOpts::default().with_duration(Duration::from_secs(8));
    let input = fixture(opts.clone());
    let server = Sluice::start();
    let dir = temp_dir();

    let mut publisher = publish(&input, &server.url("mid"));
    server.wait_log(&["publish", "stream=mid"], Duration::from_secs(10));
    thread::sleep(Duration::from_millis(3300));

    // The exact view: what the server sends, timestamps included.
    assert_joins_on_a_keyframe(&server, "mid");

    // The real-peer view: ffmpeg's output starts on a keyframe.
    assert_ffmpeg_starts_on_a_keyframe(&server, "mid", dir.path(), 25, 0.2);
    publisher.wait_success(publish_budget(8));
}

/// ffmpeg plays `stream` for 2 s: at least `min_packets` video packets, the first a keyframe
/// with a presentation time under `max_pts` seconds.
fn assert_ffmpeg_starts_on_a_keyframe(
    server: &Sluice,
    stream: &str,
    dir: &Path,
    min_packets: usize,
    max_pts: f64,
) {
    let out = dir.join(format!("{stream}.flv"));
    let started = Instant::now();
    let mut player = ffmpeg_play(
        &ffmpeg(),
        &server.url(stream),
        &out,
        PLAYER_IDLE,
        &["-t", "2"],
    );
    player.wait_success(Duration::from_secs(20));
    eprintln!("ffmpeg -t 2 took {:?}", started.elapsed());
    let video = packets(&out, "v");
    assert!(
        video.len() >= min_packets.max(1),
        "{} video packets in 2 s",
        video.len()
    );
    assert!(video[0].keyframe, "first packet not a keyframe: {video:?}");
    assert!(video[0].pts < max_pts, "first video pts {} s", video[0].pts);
}

/// With `gop_cache_unwatched = false` an unwatched stream keeps no GOP: a player's audio starts at
/// once and its video at the next keyframe (the fixture has one a second), with timestamps that
/// keep audio and video in step, so the first picture comes at most about a GOP after 0. The
/// publisher was read in spaced gulps until then (`unwatched_read_ms`). ffmpeg's output starts on
/// that keyframe too.
#[test]
fn without_an_unwatched_gop_cache_a_player_starts_at_the_next_keyframe() {
    let opts = FixtureOpts::default().with_duration(Duration::from_secs(8));
    let input = fixture(opts.clone());
    let server = Sluice::start_with_env(&[("SLUICE_HUB_GOP_CACHE_UNWATCHED", "false")]);
    let dir = temp_dir();

    let mut publisher = publish(&input, &server.url("nogop"));
    server.wait_log(&["publish", "stream=nogop"], Duration::from_secs(10));
    thread::sleep(Duration::from_millis(3300));

    assert_starts_on_a_keyframe(&server, "nogop", 1500);
    assert_ffmpeg_starts_on_a_keyframe(&server, "nogop", dir.path(), 1, 1.5);
    publisher.wait_success(publish_budget(8));
}

#[test]
fn player_joining_an_hevc_stream_mid_way_starts_on_a_keyframe() {
    // Enhanced RTMP: the keyframe and sequence start are in the ExVideoTagHeader.
    let input = fixture(FixtureOpts::hevc());
    let server = Sluice::start();
    let mut publisher = publish9(&input, &server.url("mid-hevc"));
    server.wait_log(&["publish", "stream=mid-hevc"], Duration::from_secs(10));
    thread::sleep(Duration::from_millis(2300));
    assert_joins_on_a_keyframe(&server, "mid-hevc");
    publisher.wait_success(publish_budget(5));
}

#[test]
fn waiting_player_follows_a_publisher_that_comes_back() {
    // ffmpeg 5.1, rtmpdump and rtmp2src all end playback on NetStream.Play.UnpublishNotify
    // (as they do with nginx-rtmp), so the player here is the sans-IO client.
    let opts = FixtureOpts::default().with_duration(Duration::from_secs(3));
    let input = fixture(opts.clone());
    let server = Sluice::start();

    let mut raw = RawClient::connect(server.addr(), |_| {});
    raw.wait_connected();
    raw.play("again");
    let player = thread::spawn(move || {
        collect(&mut raw, Duration::from_secs(30), |c| {
            c.statuses
                .iter()
                .filter(|(code, _)| code == codes::PLAY_UNPUBLISH_NOTIFY)
                .count()
                >= 2
        })
    });

    let mut first = publish(&input, &server.url("again"));
    first.wait_success(publish_budget(3));
    thread::sleep(Duration::from_secs(1));
    let mut second = publish(&input, &server.url("again"));
    second.wait_success(publish_budget(3));

    let got = player.join().expect("player thread");
    let frames: Vec<_> = got.video_frames().collect();
    let one = opts.expected_video_frames();
    assert!(
        frames.len() as u64 > one && frames.len() as u64 >= 2 * min_frames(&opts),
        "{} video frames over two publishes of {one} frames each; statuses {:?}",
        frames.len(),
        got.statuses
    );
    let codes_seen: Vec<&str> = got.statuses.iter().map(|(c, _)| c.as_str()).collect();
    let unpub = codes_seen
        .iter()
        .position(|c| *c == codes::PLAY_UNPUBLISH_NOTIFY)
        .unwrap_or_else(|| panic!("no UnpublishNotify: {codes_seen:?}"));
    let repub = codes_seen
        .iter()
        .position(|c| *c == codes::PLAY_PUBLISH_NOTIFY)
        .unwrap_or_else(|| panic!("no PublishNotify: {codes_seen:?}"));
    assert!(unpub < repub, "statuses out of order: {codes_seen:?}");
    // Frames on both sides of the gap, the second run starting on a keyframe.
    let gap_at = got.statuses[repub].1;
    let after: Vec<_> = got.media[gap_at..]
        .iter()
        .filter(|m| m.video && !is_video_sequence_header(&m.payload))
        .collect();
    assert!(
        after.len() as u64 >= min_frames(&opts),
        "{} frames after PublishNotify",
        after.len()
    );
    assert!(
        is_video_keyframe(&after[0].payload),
        "second publish does not start on a keyframe"
    );
    for w in frames.windows(2) {
        assert!(
            w[1].timestamp >= w[0].timestamp,
            "video timestamps go back: {} then {}",
            w[0].timestamp,
            w[1].timestamp
        );
    }
    assert!(!got.closed, "the server closed the waiting player");
}
