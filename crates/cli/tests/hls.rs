//! HLS and LL-HLS (`/{app}/{stream}.m3u8`) against real peers: Debian's ffmpeg publishes over
//! RTMP and ffmpeg/ffprobe read the playlist; the playlists parse with the `m3u8-rs` crate and
//! keep the RFC 8216bis rules across a publisher restart; blocking reloads; signed URLs; hls.js
//! in headless Chromium plays with `lowLatencyMode` and the latency is printed.
//!
//! Every process lives in a `ChildGuard`, every port is ephemeral; missing tools panic.

mod live_support;

use live_support::{ffmpeg, fixture, http_request, live_ffprobe, publish9, temp_dir, Sluice};
use m3u8_rs::{MediaPlaylist, Playlist};
use serde_json::Value;
use sluice_testkit::{
    hls_js, publish_flv, spawn, AudioCodec, Chromium, FixtureOpts, StaticSite, VideoCodec,
};
use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

fn av_fixture(secs: u64) -> std::path::PathBuf {
    fixture(FixtureOpts::default().with_duration(Duration::from_secs(secs)))
}

/// `GET path`: status and body as text.
fn get(port: u16, path: &str) -> (u16, String, Vec<u8>) {
    http_request(port, "GET", path, "")
}

/// Waits until the playlist answers 200 with at least one segment; returns its text.
fn wait_playlist(port: u16, path: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, body) = get(port, path);
        let text = String::from_utf8_lossy(&body).into_owned();
        if status == 200 && text.contains("#EXTINF") {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: no playlist; last {status}:\n{text}"
        );
        thread::sleep(Duration::from_millis(200));
    }
}

fn parse(text: &str) -> MediaPlaylist {
    match m3u8_rs::parse_playlist_res(text.as_bytes()) {
        Ok(Playlist::MediaPlaylist(p)) => p,
        other => panic!("not a media playlist: {other:?}\n{text}"),
    }
}

/// The value of `NAME=` in an attribute list.
fn attr<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    list.split(',')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .map(|v| v.trim_matches('"'))
}

/// RFC 8216bis rules on one playlist: every `EXT-X-PART` DURATION ≤ PART-TARGET, every
/// EXTINF rounded ≤ TARGETDURATION, a map before the first segment.
fn check_rules(text: &str) -> MediaPlaylist {
    let p = parse(text);
    let part_target: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PART-INF:"))
        .and_then(|a| attr(a, "PART-TARGET"))
        .expect("PART-TARGET")
        .parse()
        .unwrap();
    for l in text.lines() {
        if let Some(a) = l.strip_prefix("#EXT-X-PART:") {
            let d: f64 = attr(a, "DURATION").unwrap().parse().unwrap();
            assert!(
                d <= part_target,
                "part {d} > PART-TARGET {part_target}: {l}"
            );
        }
    }
    assert!(text.contains("CAN-BLOCK-RELOAD=YES"), "{text}");
    assert!(text.contains("#EXT-X-VERSION:9"), "{text}");
    for s in &p.segments {
        assert!(
            (s.duration.round() as u64) <= p.target_duration,
            "EXTINF {} > TARGETDURATION {}",
            s.duration,
            p.target_duration
        );
        assert!(s.program_date_time.is_some(), "PDT on {}", s.uri);
    }
    assert!(p.segments[0].map.is_some(), "EXT-X-MAP first:\n{text}");
    p
}

#[test]
fn ffmpeg_reads_hls_with_the_right_codecs_and_frames() {
    let (server, http) = Sluice::start_with_http(&[]);
    let _publisher = publish_flv(&ffmpeg(), &av_fixture(30), &server.url("s"));
    server.wait_log(&["publish", "stream=s"], Duration::from_secs(15));
    let text = wait_playlist(http, "/live/s.m3u8");
    check_rules(&text);
    let (status, head, _) = get(http, "/live/s.m3u8");
    let lower = head.to_ascii_lowercase();
    assert_eq!(status, 200);
    assert!(
        lower.contains("content-type: application/vnd.apple.mpegurl"),
        "{head}"
    );
    assert!(lower.contains("cache-control: no-cache"), "{head}");
    assert!(lower.contains("access-control-allow-origin: *"), "{head}");

    let url = format!("http://127.0.0.1:{http}/live/s.m3u8");
    let probe = live_ffprobe(&url);
    assert_eq!(probe.video().map(|v| v.codec_name.as_str()), Some("h264"));
    assert_eq!(probe.audio().map(|a| a.codec_name.as_str()), Some("aac"));

    let dir = temp_dir();
    let out = dir.path().join("out.mp4");
    let mut cmd = std::process::Command::new(ffmpeg());
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-i", &url]);
    cmd.args(["-t", "6", "-map", "0", "-c", "copy", "-y"])
        .arg(&out);
    spawn(cmd).wait_success(Duration::from_secs(60));
    let copy = sluice_testkit::ffprobe(out.to_str().unwrap());
    let frames = copy.video().and_then(|v| v.nb_read_frames).unwrap_or(0);
    assert!(
        (125..=175).contains(&frames),
        "{frames} video frames in 6 s at 25 fps: {copy:?}"
    );
    let audio = copy.audio().and_then(|a| a.nb_read_frames).unwrap_or(0);
    assert!(audio > 200, "{audio} AAC frames in 6 s: {copy:?}");
    assert!(server.log().contains("HLS session start"));
}

#[test]
fn av1_and_opus_from_the_recent_ffmpeg_are_served_as_hls() {
    let opts = FixtureOpts::default()
        .with_video(VideoCodec::Av1)
        .with_audio(Some(AudioCodec::Opus))
        .with_duration(Duration::from_secs(30));
    let input = fixture(opts);
    let (server, http) = Sluice::start_with_http(&[]);
    let _publisher = publish9(&input, &server.url("av1"));
    server.wait_log(&["publish", "stream=av1"], Duration::from_secs(15));
    check_rules(&wait_playlist(http, "/live/av1.m3u8"));
    let probe = live_ffprobe(&format!("http://127.0.0.1:{http}/live/av1.m3u8"));
    assert_eq!(probe.video().map(|v| v.codec_name.as_str()), Some("av1"));
    assert_eq!(probe.audio().map(|a| a.codec_name.as_str()), Some("opus"));
}

#[test]
fn playlists_keep_the_rules_and_the_sequence_across_a_publisher_restart() {
    let (server, http) = Sluice::start_with_http(&[]);
    let input = av_fixture(5);
    let mut first = publish_flv(&ffmpeg(), &input, &server.url("r"));
    server.wait_log(&["publish", "stream=r"], Duration::from_secs(15));
    let mut last_seq = 0;
    let mut seen = Vec::new();
    let mut poll = |until: &dyn Fn(&str) -> bool, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let (status, _, body) = get(http, "/live/r.m3u8");
            let text = String::from_utf8_lossy(&body).into_owned();
            if status == 200 {
                let p = check_rules(&text);
                assert!(p.media_sequence >= last_seq, "sequence went back:\n{text}");
                last_seq = p.media_sequence;
                let msns: Vec<u64> = (0..p.segments.len() as u64)
                    .map(|i| p.media_sequence + i)
                    .collect();
                seen.extend(msns);
                if until(&text) {
                    return text;
                }
            }
            assert!(Instant::now() < deadline, "{what}; last {status}:\n{text}");
            thread::sleep(Duration::from_millis(300));
        }
    };
    poll(&|t| t.matches("#EXTINF").count() >= 2, "two segments");
    live_support::wait_exit(&mut first, Duration::from_secs(30));
    let _second = publish_flv(&ffmpeg(), &input, &server.url("r"));
    let text = poll(
        &|t| {
            t.split("#EXT-X-DISCONTINUITY\n")
                .nth(1)
                .is_some_and(|after| after.matches("#EXTINF").count() >= 2)
        },
        "a discontinuity with two segments after it",
    );
    let p = parse(&text);
    let disc = p.segments.iter().filter(|s| s.discontinuity).count();
    assert_eq!(disc, 1, "{text}");
    eprintln!("restart playlist:\n{text}");
}

#[test]
fn blocking_reload_returns_when_the_part_exists_and_refuses_far_ahead() {
    let (server, http) = Sluice::start_with_http(&[]);
    let _publisher = publish_flv(&ffmpeg(), &av_fixture(30), &server.url("b"));
    server.wait_log(&["publish", "stream=b"], Duration::from_secs(15));
    let text = wait_playlist(http, "/live/b.m3u8");
    let hint = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PRELOAD-HINT:"))
        .and_then(|a| attr(a, "URI"))
        .expect("a preload hint")
        .to_owned();
    // part{msn}.{i}.m4s
    let name = hint.rsplit('-').next().unwrap();
    let (msn, part) = name
        .strip_prefix("part")
        .and_then(|s| s.strip_suffix(".m4s"))
        .and_then(|s| s.split_once('.'))
        .expect("a part name");
    let started = Instant::now();
    let (status, head, body) = get(
        http,
        &format!("/live/b.m3u8?_HLS_msn={msn}&_HLS_part={part}"),
    );
    let waited = started.elapsed();
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{head}");
    let hinted_line = format!("URI=\"{hint}\"");
    assert!(
        text.lines()
            .any(|l| l.starts_with("#EXT-X-PART:") && l.contains(&hinted_line))
            || !text.contains(&format!("part{msn}.")),
        "the blocked reload lists the part it waited for ({hint}):\n{text}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("cache-control: max-age="),
        "{head}"
    );
    // Generous sanity bound: the part comes within ~200 ms, the bounded wait is 3 s.
    eprintln!("blocking reload for {msn}.{part} answered in {waited:?}");
    assert!(waited < Duration::from_millis(2500), "{waited:?}");

    // The hinted part itself (it exists now, or is waited for).
    let (status, head, body) = get(http, &format!("/live/{hint}"));
    assert_eq!(status, 200, "{head}");
    assert!(head.to_ascii_lowercase().contains("immutable"), "{head}");
    assert_eq!(&body[4..8], b"moof");

    // Far ahead: 400 at once.
    let far: u64 = msn.parse::<u64>().unwrap() + 10;
    let started = Instant::now();
    let (status, _, _) = get(http, &format!("/live/b.m3u8?_HLS_msn={far}"));
    assert_eq!(status, 400);
    assert!(started.elapsed() < Duration::from_secs(2));
    let (status, _, _) = get(http, &format!("/live/b.m3u8?_HLS_msn={msn}&_HLS_part=99"));
    assert_eq!(status, 400);
    let (status, _, _) = get(http, "/live/b.m3u8?_HLS_part=1");
    assert_eq!(status, 400, "_HLS_part without _HLS_msn");
    // A segment of another session's tag, or not in the window: 404.
    let (status, _, _) = get(http, "/live/b/hls/zzz-seg0.m4s");
    assert_eq!(status, 404);
    let (status, _, _) = get(http, "/live/none.m3u8");
    assert_eq!(status, 404);
}

#[test]
fn signed_urls_apply_to_playlists_and_segments() {
    let (server, http) = Sluice::start_with_http(&[
        ("SLUICE_ACCESS_PLAY", "token"),
        ("SLUICE_ACCESS_SECRET", "s3cret"),
    ]);
    let _publisher = publish_flv(&ffmpeg(), &av_fixture(30), &server.url("cam"));
    server.wait_log(&["publish", "stream=cam"], Duration::from_secs(15));
    let (status, _, _) = get(http, "/live/cam.m3u8");
    assert_eq!(status, 403);
    let q = sluice_server::app::token::signed_query(
        b"s3cret",
        "play",
        "live",
        "cam",
        sluice_server::app::unix_now() + 600,
    );
    let text = wait_playlist(http, &format!("/live/cam.m3u8?{q}"));
    let p = parse(&text);
    let seg = &p.segments[0].uri;
    assert!(seg.ends_with(&format!("?{q}")), "{seg}");
    let map = p.segments[0].map.as_ref().unwrap();
    assert!(map.uri.ends_with(&format!("?{q}")), "{}", map.uri);
    let (status, head, body) = get(http, &format!("/live/{seg}"));
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: video/mp4"),
        "{head}"
    );
    assert!(body.len() > 1000);
    let (status, _, _) = get(http, &format!("/live/{}", map.uri));
    assert_eq!(status, 200);
    let bare = seg.split('?').next().unwrap();
    let (status, _, _) = get(http, &format!("/live/{bare}"));
    assert_eq!(status, 403, "a segment without the token");
}

const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>sluice hls</title></head>
<body>
<script src="/hls.js"></script>
<script>
window.S = { hls: null, video: null, errors: [] };
window.start = function (url, ll) {
  const v = document.createElement('video');
  v.muted = true; v.autoplay = true; v.playsInline = true; v.width = 320; v.height = 240;
  document.body.appendChild(v);
  S.video = v;
  // maxLiveSyncPlaybackRate: hls.js's default (1) never speeds up to reach its target latency.
  const h = new Hls({ lowLatencyMode: ll, enableWorker: false, maxLiveSyncPlaybackRate: 1.5 });
  h.on(Hls.Events.ERROR, (e, d) => { if (d.fatal) S.errors.push(d.type + ' ' + d.details); });
  h.loadSource(url);
  h.attachMedia(v);
  h.on(Hls.Events.MANIFEST_PARSED, () => { const r = v.play(); if (r && r.catch) r.catch((e) => S.errors.push('play: ' + e)); });
  S.hls = h;
  return Hls.isSupported();
};
window.state = function () {
  const v = S.video;
  const q = v.getVideoPlaybackQuality();
  const pdt = v.getStartDate ? null : null;
  const lvl = S.hls.levels && S.hls.levels[S.hls.currentLevel];
  const details = lvl && lvl.details;
  let pdtLatency = null;
  if (S.hls.playingDate) pdtLatency = Date.now() - S.hls.playingDate.getTime();
  return {
    frames: q.totalVideoFrames, dropped: q.droppedVideoFrames, t: v.currentTime,
    latency: S.hls.latency, target: S.hls.targetLatency, pdt_latency_ms: pdtLatency,
    ll: details ? !!details.partList : null, errors: S.errors, width: v.videoWidth,
  };
};
</script>
</body></html>
"#;

#[test]
fn hls_js_plays_ll_hls_in_headless_chromium() {
    hls_js_plays(&[], true);
}

/// Classic HLS (`hls_part_target_ms = 0`: no parts, no blocking reload) in hls.js without its
/// low-latency mode.
#[test]
fn hls_js_plays_classic_hls_in_headless_chromium() {
    hls_js_plays(&[("SLUICE_HTTP_HLS_PART_TARGET_MS", "0")], false);
}

fn hls_js_plays(env: &[(&str, &str)], ll: bool) {
    let (server, http) = Sluice::start_with_http(env);
    let _publisher = publish_flv(&ffmpeg(), &av_fixture(60), &server.url("h"));
    server.wait_log(&["publish", "stream=h"], Duration::from_secs(15));
    wait_playlist(http, "/live/h.m3u8");

    let mut files = HashMap::new();
    files.insert(
        "/".to_string(),
        (
            "text/html; charset=utf-8".to_string(),
            PAGE.as_bytes().to_vec(),
        ),
    );
    let js = std::fs::read(hls_js()).expect("read hls.js");
    files.insert("/hls.js".to_string(), ("text/javascript".to_string(), js));
    let site = StaticSite::serve(files);
    let mut browser = Chromium::launch();
    browser.navigate(&site.url("/"));
    let url = format!("http://127.0.0.1:{http}/live/h.m3u8");
    assert_eq!(
        browser.eval(&format!("start({}, {ll})", Value::from(url.as_str()))),
        Value::Bool(true),
        "hls.js supported"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut first: Option<(u64, f64)> = None;
    let st = loop {
        let st = browser.eval("state()");
        let errors = st["errors"].as_array().map_or(0, Vec::len);
        assert_eq!(errors, 0, "hls.js errors: {st}");
        let frames = st["frames"].as_u64().unwrap_or(0);
        let t = st["t"].as_f64().unwrap_or(0.0);
        if frames > 0 && first.is_none() {
            first = Some((frames, t));
        }
        // Watch it play a while past the first frames, for a settled latency.
        if let Some((f0, t0)) = first {
            if frames > f0 + 75 && t > t0 + 3.0 {
                break st;
            }
        }
        assert!(
            Instant::now() < deadline,
            "hls.js did not play (last state {st}); Chromium log:\n{}",
            browser.log()
        );
        thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(st["width"].as_u64(), Some(320), "{st}");
    assert_eq!(
        st["ll"],
        Value::Bool(ll),
        "hls.js saw parts only in LL-HLS: {st}"
    );
    let latency = st["latency"].as_f64().unwrap_or(f64::NAN);
    eprintln!(
        "hls.js (low latency {ll}): {} frames ({} dropped), currentTime {:.2} s; latency {latency:.2} s \
         (hls.js), {} ms (program date time vs now), target {:.2} s",
        st["frames"],
        st["dropped"],
        st["t"].as_f64().unwrap_or(0.0),
        st["pdt_latency_ms"],
        st["target"].as_f64().unwrap_or(f64::NAN),
    );
    assert!(latency > 0.0 && latency < 20.0, "latency {latency} s: {st}");
    // Settled latency: hls.js's `latency` sampled every 200 ms for 5 s after 3 s more.
    thread::sleep(Duration::from_secs(3));
    let mut lat: Vec<f64> = Vec::new();
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if let Some(l) = browser.eval("state()")["latency"].as_f64() {
            lat.push(l);
        }
        thread::sleep(Duration::from_millis(200));
    }
    lat.sort_by(f64::total_cmp);
    assert!(!lat.is_empty(), "no latency samples");
    eprintln!(
        "hls.js (low latency {ll}) settled latency: p50 {:.2} s, max {:.2} s ({} samples)",
        lat[lat.len() / 2],
        lat[lat.len() - 1],
        lat.len()
    );
}
