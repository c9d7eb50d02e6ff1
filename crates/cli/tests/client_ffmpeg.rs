//! `sluice play` and `sluice publish` against ffmpeg's own RTMP server mode (`-listen 1`), a peer
//! that is not Sluice: playing from it gives an FLV file ffprobe reads, publishing into it gives
//! a file with every published frame.

mod client_support;

use client_support::{ffmpeg_listener, ffmpeg_server, fixture, packets, run_sluice, RUN_TIMEOUT};
use sluice_testkit::ffprobe;

#[test]
fn play_from_ffmpeg_server_writes_a_valid_flv() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture(dir.path(), 4);
    let (mut server, url) = ffmpeg_server(&input);
    let out = dir.path().join("out.flv");
    let r = run_sluice(&["play", &url, "-o", out.to_str().unwrap(), "--timeout", "30"]);
    assert!(r.status.success(), "sluice play failed:\n{}", r.log);
    assert!(r.log.contains("server closed the connection"), "{}", r.log);
    server.wait_timeout(RUN_TIMEOUT);

    let p = ffprobe(out.to_str().unwrap());
    let v = p.video().expect("video stream");
    assert_eq!(v.codec_name, "h264");
    assert_eq!((v.width, v.height), (Some(320), Some(240)));
    let a = p.audio().expect("audio stream");
    assert_eq!(a.codec_name, "aac");
    assert_eq!(a.sample_rate, Some(44_100));
    // The whole file arrived: 4 s at 25 fps.
    let (video, audio) = packets(&out);
    assert_eq!(video, 100, "video packets");
    assert!(audio >= 170, "audio packets: {audio}");
    assert!(p.duration.unwrap_or(0.0) > 3.5, "{p:?}");
}

#[test]
fn play_to_stdout_is_a_clean_flv_stream() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture(dir.path(), 2);
    let (_server, url) = ffmpeg_server(&input);
    let r = run_sluice(&["play", &url, "-o", "-", "--timeout", "30"]);
    assert!(r.status.success(), "sluice play failed:\n{}", r.log);
    // stdout holds the FLV and nothing else (progress and summary are on stderr).
    assert_eq!(&r.stdout[..3], b"FLV");
    assert!(r.log.contains("to stdout"), "{}", r.log);
    let out = dir.path().join("stdout.flv");
    std::fs::write(&out, &r.stdout).unwrap();
    let (video, audio) = packets(&out);
    assert_eq!(video, 50);
    assert!(audio > 80, "{audio}");
}

#[test]
fn publish_into_ffmpeg_listener_delivers_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let input = fixture(dir.path(), 3);
    let rec = dir.path().join("rec.flv");
    let (mut listener, url) = ffmpeg_listener(&rec);
    let started = std::time::Instant::now();
    let r = run_sluice(&["publish", input.to_str().unwrap(), &url, "--timeout", "30"]);
    assert!(r.status.success(), "sluice publish failed:\n{}", r.log);
    // Real time: a 3 s file takes about 3 s.
    let took = started.elapsed().as_secs_f64();
    assert!((2.5..20.0).contains(&took), "took {took} s");
    assert!(r.log.contains("sent 77 video and"), "{}", r.log);
    listener.wait_timeout(RUN_TIMEOUT);

    let p = ffprobe(rec.to_str().unwrap());
    assert_eq!(p.video().map(|s| s.codec_name.as_str()), Some("h264"));
    assert_eq!(p.audio().map(|s| s.codec_name.as_str()), Some("aac"));
    let (sent_video, sent_audio) = packets(&input);
    assert_eq!(packets(&rec), (sent_video, sent_audio));
}
