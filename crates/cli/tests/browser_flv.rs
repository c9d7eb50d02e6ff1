//! HTTP-FLV and WebSocket-FLV played by mpegts.js in headless Chromium: ffmpeg publishes
//! H.264 + AAC over RTMP, a page served from its own origin (so CORS applies) plays
//! `http://…/live/b.flv` and then `ws://…/live/b.flv` through Media Source Extensions, and the
//! test asserts that frames were decoded and shown and that playback time advanced. The onFI
//! wall-clock stamps give a server-to-screen latency estimate, printed with the results.
//!
//! Chromium and mpegts.js come from `scripts/install-deps.sh`; missing ones panic.

mod live_support;

use live_support::{ffmpeg, fixture, Sluice};
use serde_json::Value;
use sluice_testkit::{mpegts_js, publish_flv, Chromium, FixtureOpts, StaticSite};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>sluice flv</title></head>
<body>
<script src="/mpegts.js"></script>
<script>
window.S = { player: null, video: null, errors: [], stamps: [] };
window.start = function (url) {
  if (S.player) { S.player.destroy(); S.player = null; }
  if (S.video) { S.video.remove(); }
  const v = document.createElement('video');
  v.muted = true; v.autoplay = true; v.playsInline = true; v.width = 320; v.height = 240;
  document.body.appendChild(v);
  S.video = v; S.errors = []; S.stamps = [];
  const p = mpegts.createPlayer({ type: 'flv', isLive: true, url: url },
                                { enableWorker: false, enableStashBuffer: false });
  p.on(mpegts.Events.ERROR, (t, d, i) => S.errors.push(t + ' ' + d + ' ' + JSON.stringify(i)));
  p.on(mpegts.Events.SCRIPTDATA_ARRIVED, (data) => {
    const fi = data && data.onFI;
    if (fi && typeof fi.wallclock_ms === 'number') S.stamps.push({ wall: fi.wallclock_ms, at: Date.now() });
  });
  p.attachMediaElement(v);
  p.load();
  const r = p.play();
  if (r && r.catch) r.catch((e) => S.errors.push('play: ' + e));
  S.player = p;
  return true;
};
window.state = function () {
  const v = S.video;
  if (!v) return null;
  const q = v.getVideoPlaybackQuality();
  const end = v.buffered.length ? v.buffered.end(v.buffered.length - 1) : 0;
  const last = S.stamps.length ? S.stamps[S.stamps.length - 1] : null;
  return {
    frames: q.totalVideoFrames, dropped: q.droppedVideoFrames, t: v.currentTime,
    buffered_ahead_ms: Math.round((end - v.currentTime) * 1000), ready: v.readyState,
    paused: v.paused, errors: S.errors, stamps: S.stamps.length,
    delivery_ms: last ? last.at - last.wall : null,
    width: v.videoWidth,
  };
};
</script>
</body></html>
"#;

/// Waits until `/live/<stream>.flv` answers 200.
fn wait_live(port: u16, stream: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = write!(s, "GET /live/{stream}.flv HTTP/1.0\r\nHost: x\r\n\r\n");
            s.set_read_timeout(Some(Duration::from_secs(2))).ok();
            let mut head = [0u8; 12];
            if s.read_exact(&mut head).is_ok() && head.ends_with(b"200") {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{stream} never went live");
        thread::sleep(Duration::from_millis(100));
    }
}

/// Plays `url` in the page until at least 25 frames were shown and the playback time passed
/// 1.5 s; returns the final state.
fn play(browser: &mut Chromium, url: &str) -> Value {
    assert_eq!(
        browser.eval(&format!("start({})", Value::from(url))),
        Value::Bool(true)
    );
    let deadline = Instant::now() + Duration::from_secs(25);
    loop {
        let st = browser.eval("state()");
        let errors = st["errors"].as_array().map_or(0, Vec::len);
        assert_eq!(errors, 0, "mpegts.js reported errors playing {url}: {st}");
        let frames = st["frames"].as_u64().unwrap_or(0);
        let t = st["t"].as_f64().unwrap_or(0.0);
        if frames > 25 && t > 1.5 {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not play in Chromium (last state {st}); Chromium log:\n{}",
            browser.log()
        );
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn mpegts_js_plays_http_flv_and_ws_flv_in_headless_chromium() {
    let input = fixture(FixtureOpts::default().with_duration(Duration::from_secs(60)));
    let (server, http) = Sluice::start_with_http(&[]);
    let _publisher = publish_flv(&ffmpeg(), &input, &server.url("b"));
    wait_live(http, "b");

    let mut files = HashMap::new();
    files.insert(
        "/".to_string(),
        (
            "text/html; charset=utf-8".to_string(),
            PAGE.as_bytes().to_vec(),
        ),
    );
    let js = std::fs::read(mpegts_js()).expect("read mpegts.js");
    files.insert(
        "/mpegts.js".to_string(),
        ("text/javascript".to_string(), js),
    );
    let site = StaticSite::serve(files);

    let mut browser = Chromium::launch();
    browser.navigate(&site.url("/"));
    let support = browser.eval(
        "[typeof mpegts === 'object' && mpegts.isSupported(), \
          MediaSource.isTypeSupported('video/mp4; codecs=\"avc1.42E01E,mp4a.40.2\"')]",
    );
    assert_eq!(
        support,
        serde_json::json!([true, true]),
        "mpegts.js loaded and H.264/AAC MSE supported by this Chromium"
    );

    for url in [
        format!("http://127.0.0.1:{http}/live/b.flv?wallclock=1"),
        format!("ws://127.0.0.1:{http}/live/b.flv?wallclock=1"),
    ] {
        let st = play(&mut browser, &url);
        assert_eq!(st["width"].as_u64(), Some(320), "{st}");
        let stamps = st["stamps"].as_u64().unwrap_or(0);
        assert!(stamps > 0, "onFI stamps reached mpegts.js: {st}");
        let delivery = st["delivery_ms"].as_i64().unwrap_or(i64::MAX);
        assert!(
            (0..5000).contains(&delivery),
            "stamp delivery delay {delivery} ms"
        );
        // Server-to-screen latency, same machine and clock: the newest stamp's age on arrival
        // plus what is buffered ahead of the picture on screen; sampled for 5 s after 2 s of
        // settling.
        thread::sleep(Duration::from_secs(2));
        let mut lat: Vec<i64> = Vec::new();
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            let st = browser.eval("state()");
            if let (Some(d), Some(a)) =
                (st["delivery_ms"].as_i64(), st["buffered_ahead_ms"].as_i64())
            {
                lat.push(d + a);
            }
            thread::sleep(Duration::from_millis(100));
        }
        lat.sort_unstable();
        assert!(!lat.is_empty(), "no latency samples for {url}");
        let q = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
        eprintln!(
            "{url}: {} frames ({} dropped) in {:.2} s of playback; server-to-screen latency \
             p50 {} ms, p99 {} ms ({} samples)",
            st["frames"],
            st["dropped"],
            st["t"].as_f64().unwrap_or(0.0),
            q(0.5),
            q(0.99),
            lat.len()
        );
    }
    let log = server.log();
    assert!(log.contains("HTTP-FLV play"), "{log}");
    assert!(log.contains("WS-FLV play"), "{log}");
}
