//! The built-in web page in headless Chromium: ffmpeg publishes over RTMP, Chromium opens
//! `http://…/` (the stream list) or `/play/{app}/{stream}`, and the page's own MSE player plays
//! the WebSocket fMP4 route. The tests assert that frames were decoded, that playback time
//! advances, that the page shows a latency, and that the page plays again after the publisher
//! comes back. The latency the page reports (from the `prft` boxes; server and browser share a
//! clock here) is printed as p50/p99, and a screenshot of the page playing is written to
//! `target/artefacts/console.png`.
//!
//! Chromium, ffmpeg and ffmpeg9 come from `scripts/install-deps.sh`; missing ones panic.

mod live_support;

use live_support::{api_wait, fixture, publish, publish9, Sluice};
use serde_json::Value;
use sluice_testkit::{AudioCodec, Chromium, FixtureOpts, VideoCodec};
use std::path::PathBuf;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// One browser test at a time: each runs Chromium and a real-time ffmpeg on a small machine.
static SERIAL: Mutex<()> = Mutex::new(());

/// Size of the page in the screenshot (CSS pixels).
const VIEW: (u32, u32) = (960, 560);

fn fixture_of(video: VideoCodec, audio: AudioCodec) -> PathBuf {
    fixture(
        FixtureOpts::default()
            .with_duration(Duration::from_secs(20))
            .with_video(video)
            .with_audio(Some(audio)),
    )
}

/// The player's stats (`SluicePlayer.stats()`), `null` before a stream is chosen.
fn stats(browser: &mut Chromium) -> Value {
    browser.eval("sluice.stats()")
}

/// Waits until the page's player has shown more than `frames` frames in all and its playback
/// time advanced by more than 1 s meanwhile; returns the last stats.
fn wait_playing(browser: &mut Chromium, frames: u64, what: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut t0: Option<f64> = None;
    loop {
        let st = stats(browser);
        let n = st["frames"].as_u64().unwrap_or(0);
        let t = st["currentTime"].as_f64().unwrap_or(0.0);
        if n > 0 && t0.is_none() {
            t0 = Some(t);
        }
        if n > frames && t0.is_some_and(|t0| t > t0 + 1.0) {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the page did not play (last stats {st}); Chromium log:\n{}",
            browser.log()
        );
        thread::sleep(Duration::from_millis(200));
    }
}

/// Latency samples the page reports, every 100 ms for `span`; also checks the readout shows
/// a number of seconds.
fn sample_latency(browser: &mut Chromium, span: Duration) -> Vec<f64> {
    let readout = browser.wait_for(
        "/^-?\\d+\\.\\d\\d s$/.test(document.getElementById('s-latency').textContent) \
         && document.getElementById('s-latency').textContent",
        Duration::from_secs(10),
    );
    eprintln!("latency readout: {readout}");
    let end = Instant::now() + span;
    let mut v = Vec::new();
    while Instant::now() < end {
        if let Some(l) = stats(browser)["latency"].as_f64() {
            v.push(l);
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert!(v.len() > 20, "too few latency samples: {v:?}");
    v.sort_by(f64::total_cmp);
    v
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn artefact(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("artefacts");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir.join(name)
}

fn start_browser() -> Chromium {
    let mut browser = Chromium::launch();
    browser.command(
        "Emulation.setDeviceMetricsOverride",
        serde_json::json!({ "width": VIEW.0, "height": VIEW.1, "deviceScaleFactor": 1, "mobile": false }),
    );
    browser
}

/// Waits until `/console/streams.json` lists `live/<stream>` with its video known.
fn wait_listed(server: &Sluice, http: u16, stream: &str) -> Value {
    api_wait(
        server,
        http,
        "/console/streams.json",
        Duration::from_secs(20),
        |v| {
            v["items"].as_array().is_some_and(|items| {
                items
                    .iter()
                    .any(|s| s["name"] == stream && s["video"].is_object())
            })
        },
    )
}

#[test]
fn console_lists_plays_h264_aac_and_plays_again_after_a_republish() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let input = fixture_of(VideoCodec::H264, AudioCodec::Aac);
    // A publisher away for more than 1.5 s ends the players' WebSockets.
    let (server, http) = Sluice::start_with_http(&[("SLUICE_HTTP_FLV_REPUBLISH_WAIT_MS", "1500")]);
    let publisher = publish(&input, &server.url("s"));
    let list = wait_listed(&server, http, "s");
    eprintln!("/console/streams.json: {list}");

    let mut browser = start_browser();
    browser.navigate(&format!("http://127.0.0.1:{http}/"));
    // The list polls /console/streams.json; click the row.
    browser.wait_for(
        "document.querySelector('#streams tr[data-key=\"live/s\"]') !== null",
        Duration::from_secs(15),
    );
    let row = browser.eval("document.querySelector('#streams tr[data-key=\"live/s\"]').innerText");
    eprintln!("stream list row: {row}");
    browser.eval("document.querySelector('#streams tr[data-key=\"live/s\"] a').click(), true");

    let st = wait_playing(&mut browser, 50, "H.264/AAC from the list");
    assert_eq!(st["info"]["tracks"][0]["kind"], "video", "{st}");
    let codecs = st["info"]["mime"].as_str().unwrap_or_default().to_owned();
    assert!(
        codecs.contains("avc1.") && codecs.contains("mp4a.40.2"),
        "{st}"
    );
    assert_eq!(st["width"].as_u64(), Some(320), "{st}");
    assert!(
        st["bitrate"].as_f64().unwrap_or(0.0) > 10_000.0,
        "the page measures a bitrate: {st}"
    );
    // The page offers the same stream as HLS, saying whether this browser plays it natively
    // (recent Chromium answers canPlayType for HLS too); the link is a live playlist.
    let links = browser.eval(
        "[document.getElementById('s-hls').getAttribute('href'), \
          document.getElementById('s-hls-note').textContent]",
    );
    assert_eq!(links[0], "/live/s.m3u8", "{links}");
    let note = links[1].as_str().unwrap_or("");
    assert!(note.contains("HLS"), "{links}");
    eprintln!("HLS note on this Chromium: {note}");
    let (head, body) = live_support::http_get(http, "/live/s.m3u8", "", Duration::from_secs(10), 1);
    assert!(head.contains(" 200 "), "{head}");
    assert!(
        String::from_utf8_lossy(&body).starts_with("#EXTM3U"),
        "{head}"
    );

    // The first seconds, while the player catches up with the live edge, and then 5 s.
    let settling = sample_latency(&mut browser, Duration::from_secs(3));
    let lat = sample_latency(&mut browser, Duration::from_secs(5));
    let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
    let st = stats(&mut browser);
    eprintln!(
        "console WS-fMP4 H.264/AAC on loopback: page-reported latency p50 {:.0} ms, p99 {:.0} ms \
         ({} samples over 5 s, after 3 s of settling with p50 {:.0} ms, max {:.0} ms); \
         {} frames ({} dropped), buffer {:.2} s, target {:.2} s, {} jumps",
        p50 * 1000.0,
        p99 * 1000.0,
        lat.len(),
        percentile(&settling, 0.5) * 1000.0,
        percentile(&settling, 1.0) * 1000.0,
        st["frames"],
        st["dropped"],
        st["buffer"].as_f64().unwrap_or(0.0),
        st["target"].as_f64().unwrap_or(0.0),
        st["jumps"],
    );
    assert!((-0.2..3.0).contains(&p50), "latency p50 {p50} s");

    let png = browser.screenshot(VIEW.0, VIEW.1);
    let path = artefact("console.png");
    std::fs::write(&path, &png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    eprintln!("screenshot: {} ({} bytes)", path.display(), png.len());

    // The publisher goes away and comes back within http.flv_republish_wait_ms: a new init on
    // the same WebSocket; the page starts over and plays again.
    let mut frames = st["frames"].as_u64().unwrap_or(0);
    drop(publisher);
    browser.wait_for(
        "sluice.stats().state === 'waiting'",
        Duration::from_secs(20),
    );
    let republished = publish(&input, &server.url("s"));
    let st = wait_playing(&mut browser, frames + 50, "after a quick republish");
    eprintln!(
        "after a quick republish: {} frames in all (was {frames}), generation {}, {} connection(s)",
        st["frames"], st["info"]["generation"], st["connections"]
    );
    assert_eq!(st["connections"], 1, "the same WebSocket goes on: {st}");
    assert_eq!(st["info"]["generation"], 2, "{st}");

    // Away for longer: the server closes the WebSocket, the page reconnects with back-off
    // until the stream is back.
    frames = st["frames"].as_u64().unwrap_or(0);
    drop(republished);
    browser.wait_for(
        "sluice.stats().state === 'waiting' && sluice.stats().connections > 1",
        Duration::from_secs(20),
    );
    thread::sleep(Duration::from_secs(2));
    let _back = publish(&input, &server.url("s"));
    let st = wait_playing(&mut browser, frames + 50, "after a late republish");
    eprintln!(
        "after a late republish: {} frames in all (was {frames}), {} connection(s)",
        st["frames"], st["connections"]
    );
}

#[test]
fn console_plays_av1_opus() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let input = fixture_of(VideoCodec::Av1, AudioCodec::Opus);
    let (server, http) = Sluice::start_with_http(&[]);
    let _publisher = publish9(&input, &server.url("av1"));
    wait_listed(&server, http, "av1");

    let mut browser = start_browser();
    browser.navigate(&format!("http://127.0.0.1:{http}/play/live/av1"));
    let st = wait_playing(&mut browser, 50, "AV1/Opus at /play/live/av1");
    let mime = st["info"]["mime"].as_str().unwrap_or_default();
    assert!(mime.contains("av01.") && mime.contains("opus"), "{st}");
    assert_eq!(st["width"].as_u64(), Some(320), "{st}");
    let lat = sample_latency(&mut browser, Duration::from_secs(3));
    eprintln!(
        "console WS-fMP4 AV1/Opus: {} frames ({} dropped), latency p50 {:.0} ms",
        st["frames"],
        st["dropped"],
        percentile(&lat, 0.5) * 1000.0
    );
}
