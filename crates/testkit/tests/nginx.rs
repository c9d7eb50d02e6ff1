//! nginx-rtmp sanity: the reference server starts on a free port and relays a
//! stream published by ffmpeg to ffprobe and rtmpdump players.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use sluice_testkit::{
    ffmpeg9_probe, ffprobe, make_test_flv, publish_flv, spawn, tool, wait_for_port, FixtureOpts,
    NginxRtmp,
};

fn wait_for_log(nginx: &NginxRtmp, needle: &str, count: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while nginx.error_log().matches(needle).count() < count {
        assert!(
            Instant::now() < deadline,
            "nginx never logged {count}x {needle:?}; log:\n{}",
            nginx.error_log()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn nginx_starts_listens_and_stops_on_drop() {
    let mut nginx = NginxRtmp::start();
    let port = nginx.port();
    assert!(wait_for_port(port, Duration::from_secs(1)));
    assert!(nginx.guard_mut().is_running());
    assert_eq!(
        nginx.url("live", "x"),
        format!("rtmp://127.0.0.1:{port}/live/x")
    );
    assert!(nginx.dir().join("nginx.conf").is_file());
    drop(nginx);
    assert!(
        !wait_for_port(port, Duration::from_millis(200)),
        "port {port} still open"
    );
}

#[test]
fn ffmpeg_publish_is_relayed_to_ffprobe_and_rtmpdump() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.flv");
    let opts = FixtureOpts::default().with_duration(Duration::from_secs(3));
    make_test_flv(&input, opts);

    let nginx = NginxRtmp::start();
    let url = nginx.url("live", "sanity");

    // Players first, so they see the stream from its first keyframe.
    let recorded = dir.path().join("rtmpdump.flv");
    let mut rtmpdump = Command::new(tool("rtmpdump"));
    rtmpdump
        // `-m 3`: rtmpdump also waits on after the publisher leaves; it
        // exits (status 2, "incomplete") after 3 s without data.
        .args(["--live", "--quiet", "-m", "3", "-r", &url, "-o"])
        .arg(&recorded);
    let mut rtmpdump = spawn(rtmpdump);

    let probe_url = url.clone();
    let prober = thread::spawn(move || ffprobe(&probe_url));
    let probe9_url = url.clone();
    let prober9 = thread::spawn(move || ffmpeg9_probe(&probe9_url));
    wait_for_log(&nginx, "play: name='sanity'", 3, Duration::from_secs(20));

    let mut publisher = publish_flv(&tool("ffmpeg"), &input, &url);
    publisher.wait_success(Duration::from_secs(60));

    let probe = prober.join().expect("ffprobe of the live URL");
    let v = probe.video().expect("video relayed");
    assert_eq!(v.codec_name, "h264");
    assert_eq!((v.width, v.height), (Some(320), Some(240)));
    let frames = v.nb_read_frames.unwrap_or(0);
    assert!(
        (60..=75).contains(&frames),
        "ffprobe decoded {frames} frames of 75"
    );
    let a = probe.audio().expect("audio relayed");
    assert_eq!(a.codec_name, "aac");
    assert_eq!(a.sample_rate, Some(44_100));

    let streams = prober9.join().expect("ffmpeg9 probe of the live URL");
    let video = streams
        .iter()
        .find(|s| s.kind == "Video")
        .expect("ffmpeg9 saw video");
    assert_eq!(video.codec, "h264");
    assert!(
        (60..=75).contains(&video.packets),
        "ffmpeg9 read {streams:?}"
    );

    assert!(
        rtmpdump.wait_timeout(Duration::from_secs(30)).is_some(),
        "rtmpdump did not stop after the stream ended"
    );
    let rec = ffprobe(recorded.to_str().unwrap());
    let v = rec.video().expect("rtmpdump recorded video");
    assert_eq!(v.codec_name, "h264");
    let frames = v.nb_read_frames.unwrap_or(0);
    assert!(
        (60..=75).contains(&frames),
        "rtmpdump recorded {frames} frames of 75"
    );
    assert_eq!(rec.audio().map(|a| a.codec_name.as_str()), Some("aac"));
}
