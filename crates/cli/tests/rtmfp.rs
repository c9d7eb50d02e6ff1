//! RTMP over RTMFP (RFC 7016, RFC 7425) against `sluice serve` on real UDP sockets: `sluice
//! publish … rtmfp://` → ffmpeg plays over RTMP; ffmpeg publishes over RTMP → `sluice play
//! rtmfp://`; the same play through a lossy UDP relay (5 % loss each way, 5 % reordering) where
//! the stream still plays, every audio frame arrives and late video is abandoned; and the
//! decision chain's refusals as RTMFP statuses.
//!
//! The server's RTMFP listener is on UDP at its RTMP port (the `[rtmfp]` default follows
//! `[server] listen`); each test waits for its "RTMFP listening" line.

mod live_support;

use live_support::{ffmpeg, ffmpeg_play, fixture, packets, publish, temp_dir, Sluice};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_testkit::{run, FixtureOpts, RunOutput};
use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// A server whose RTMFP listener is up, with extra `SLUICE_*` settings.
fn server(env: &[(&str, &str)]) -> Sluice {
    let s = Sluice::start_with_env(env);
    let port = s.port.to_string();
    s.wait_log(
        &["RTMFP listening", &format!("127.0.0.1:{port}")],
        Duration::from_secs(10),
    );
    s
}

/// `sluice ARGS` to completion (no `SLUICE_*` of the test's environment).
fn sluice(args: &[&str]) -> RunOutput {
    run(live_support::sluice_cli(args), RUN_TIMEOUT)
}

fn rtmfp_url(port: u16, stream: &str) -> String {
    format!("rtmfp://127.0.0.1:{port}/live/{stream}")
}

/// Plays `url` with `sluice play` once the stream is live (the publisher needs a moment).
fn play_when_live(url: &str, out: &std::path::Path, secs: &str) -> RunOutput {
    let out = out.to_str().expect("utf-8 path");
    let mut last = None;
    for _ in 0..20 {
        let r = sluice(&["play", url, "-o", out, "--duration", secs, "--timeout", "5"]);
        if r.status.success() {
            return r;
        }
        last = Some(r);
        std::thread::sleep(Duration::from_millis(300));
    }
    let r = last.expect("tried");
    panic!("sluice play {url} never succeeded:\n{}", r.log);
}

#[test]
fn rtmfp_publisher_is_played_by_ffmpeg_over_rtmp() {
    let dir = temp_dir();
    let input = fixture(FixtureOpts::default().with_duration(Duration::from_secs(8)));
    let s = server(&[]);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.env_remove("SLUICE_FFMPEG9").env("NO_COLOR", "1");
    cmd.args(["publish", "-q"])
        .arg(&input)
        .arg(rtmfp_url(s.port, "up"));
    let mut publisher = sluice_testkit::spawn(cmd);
    s.wait_log(&["rtmfp", "publish", "stream=up"], Duration::from_secs(15));
    let out = dir.path().join("rtmp.flv");
    let mut player = ffmpeg_play(
        &ffmpeg(),
        &s.url("up"),
        &out,
        Duration::from_secs(5),
        &["-t", "3"],
    );
    player.wait_success(RUN_TIMEOUT);
    let (video, audio) = (packets(&out, "v"), packets(&out, "a"));
    // 3 s of 25 fps video and 43 AAC frames a second, less what the join skips.
    assert!(video.len() >= 40, "video packets: {}", video.len());
    assert!(audio.len() >= 70, "audio packets: {}", audio.len());
    assert!(video[0].keyframe, "the RTMP player starts on a keyframe");
    let status = publisher.wait_success(RUN_TIMEOUT);
    assert!(status.success());
    assert!(publisher.log().contains("sent "), "{}", publisher.log());
    s.wait_log(
        &["rtmfp", "unpublish", "stream=up"],
        Duration::from_secs(10),
    );
}

#[test]
fn ffmpeg_rtmp_publisher_is_played_over_rtmfp() {
    let dir = temp_dir();
    let input = fixture(FixtureOpts::default().with_duration(Duration::from_secs(10)));
    let s = server(&[]);
    let _publisher = publish(&input, &s.url("down"));
    let out = dir.path().join("rtmfp.flv");
    let r = play_when_live(&rtmfp_url(s.port, "down"), &out, "3");
    assert!(r.log.contains("duration reached"), "{}", r.log);
    let (video, audio) = (packets(&out, "v"), packets(&out, "a"));
    assert!(video.len() >= 60, "video packets: {}", video.len());
    assert!(audio.len() >= 100, "audio packets: {}", audio.len());
    assert!(video[0].keyframe, "the RTMFP player starts on a keyframe");
    s.wait_log(&["rtmfp", "play", "stream=down"], Duration::from_secs(5));
}

#[test]
fn refusals_are_rtmfp_statuses() {
    let s = server(&[
        ("SLUICE_ACCESS_PUBLISH", "nobody"),
        ("SLUICE_ACCESS_PLAY", "nobody"),
    ]);
    let dir = temp_dir();
    let input = fixture(FixtureOpts::default().with_duration(Duration::from_secs(2)));
    let r = sluice(&["publish", input.to_str().unwrap(), &rtmfp_url(s.port, "no")]);
    assert!(!r.status.success());
    assert!(r.log.contains("NetStream.Publish.Denied"), "{}", r.log);
    let out = dir.path().join("no.flv");
    let r = sluice(&[
        "play",
        &rtmfp_url(s.port, "no"),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!r.status.success());
    assert!(r.log.contains("NetStream.Play.Failed"), "{}", r.log);
    // A connect hook that cannot be reached refuses every connect (a pending decision).
    let closed = sluice_testkit::free_port();
    let hook = format!("http://127.0.0.1:{closed}/connect");
    let s = server(&[("SLUICE_HOOKS_ON_CONNECT", &hook)]);
    let r = sluice(&["probe", &rtmfp_url(s.port, "any")]);
    assert!(!r.status.success());
    assert!(
        r.log.contains("NetConnection.Connect.Rejected"),
        "{}",
        r.log
    );
}

/// A UDP relay between one client and the server: each datagram is delayed by `delay`, `loss`
/// of them are dropped in each direction and `reorder` of them are held 15 ms longer, so later
/// ones overtake them (seeded: the same run each time).
struct LossyRelay {
    port: u16,
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    reordered: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl LossyRelay {
    fn start(server: SocketAddr, delay: Duration, loss: f64, reorder: f64, seed: u64) -> Self {
        let front = UdpSocket::bind("127.0.0.1:0").expect("bind relay");
        let back = UdpSocket::bind("127.0.0.1:0").expect("bind relay");
        for s in [&front, &back] {
            s.set_read_timeout(Some(Duration::from_millis(2))).unwrap();
        }
        let port = front.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let reordered = Arc::new(AtomicU64::new(0));
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let (front, back) = (Arc::new(front), Arc::new(back));
        let mut threads = Vec::new();
        for (i, upstream) in [true, false].into_iter().enumerate() {
            let (from, to) = if upstream {
                (front.clone(), back.clone())
            } else {
                (back.clone(), front.clone())
            };
            let (stop, dropped, reordered, client) = (
                stop.clone(),
                dropped.clone(),
                reordered.clone(),
                client.clone(),
            );
            let mut rng = StdRng::seed_from_u64(seed + i as u64);
            threads.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; 9000];
                let mut queue: Vec<(Instant, Vec<u8>, SocketAddr)> = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    queue.retain(|(due, d, dest)| {
                        let keep = *due > now;
                        if !keep {
                            let _ = to.send_to(d, *dest);
                        }
                        keep
                    });
                    let Ok((n, peer)) = from.recv_from(&mut buf) else {
                        continue;
                    };
                    let dest = if upstream {
                        *client.lock().unwrap() = Some(peer);
                        server
                    } else {
                        match *client.lock().unwrap() {
                            Some(c) => c,
                            None => continue,
                        }
                    };
                    if rng.gen_bool(loss) {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let mut due = Instant::now() + delay;
                    if rng.gen_bool(reorder) {
                        reordered.fetch_add(1, Ordering::Relaxed);
                        due += Duration::from_millis(15);
                    }
                    queue.push((due, buf[..n].to_vec(), dest));
                }
            }));
        }
        LossyRelay {
            port,
            stop,
            dropped,
            reordered,
            threads,
        }
    }
}

impl Drop for LossyRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Timestamps (ms) of the audio and video tags of an FLV file, sequence headers left out.
fn tag_times(path: &std::path::Path) -> (Vec<u32>, Vec<u32>) {
    let mut r = sluice_flv::FlvReader::new(std::fs::File::open(path).expect("open FLV"));
    r.header().expect("FLV header");
    let (mut audio, mut video) = (Vec::new(), Vec::new());
    while let Some(t) = r.next_tag().expect("FLV tag") {
        match t.tag_type {
            sluice_flv::TagType::AUDIO
                if !sluice_flv::classify_audio(&t.data).is_sequence_header =>
            {
                audio.push(t.timestamp)
            }
            sluice_flv::TagType::VIDEO
                if !sluice_flv::classify_video(&t.data).is_sequence_header =>
            {
                video.push(t.timestamp)
            }
            _ => {}
        }
    }
    (audio, video)
}

/// Milliseconds between consecutive timestamps.
fn gaps_ms(ts: &[u32]) -> Vec<u32> {
    ts.windows(2).map(|w| w[1].saturating_sub(w[0])).collect()
}

#[test]
fn lossy_link_keeps_audio_complete_and_drops_late_video() {
    // A 40 ms one-way delay: a lost fragment is noticed from the acknowledgements (RFC 7016
    // §3.6.2.5) at the earliest one round trip (80 ms) later, and its retransmission lands
    // 40 ms after that. Video may wait 100 ms for delivery, so lost video is abandoned rather
    // than resent late; audio keeps its 1.5 s and is retransmitted.
    let s = server(&[("SLUICE_RTMFP_VIDEO_LIFETIME_MS", "100")]);
    let dir = temp_dir();
    let input = fixture(FixtureOpts::default().with_duration(Duration::from_secs(20)));
    let _publisher = publish(&input, &s.url("lossy"));
    let relay = LossyRelay::start(s.addr(), Duration::from_millis(10), 0.05, 0.05, 7016);
    let out = dir.path().join("lossy.flv");
    let r = play_when_live(&rtmfp_url(relay.port, "lossy"), &out, "6");
    let (dropped, reordered) = (
        relay.dropped.load(Ordering::Relaxed),
        relay.reordered.load(Ordering::Relaxed),
    );
    drop(relay);
    assert!(
        dropped > 10 && reordered > 10,
        "relay: {dropped} dropped, {reordered} reordered"
    );
    let (audio, video) = tag_times(&out);
    // Still plays: six seconds of both tracks.
    assert!(
        audio.len() >= 200,
        "audio packets: {}\n{}",
        audio.len(),
        r.log
    );
    assert!(
        video.len() >= 25,
        "video packets: {}\n{}",
        video.len(),
        r.log
    );
    // Audio complete: AAC frames are 1024 samples at 44.1 kHz (23.2 ms); no frame is missing.
    let audio_gaps = gaps_ms(&audio);
    let worst = audio_gaps.iter().copied().max().unwrap_or(0);
    assert!(worst <= 35, "an audio frame is missing (gap {worst} ms)");
    // Late video dropped: the 25 fps track (40 ms per frame) has holes, fewer frames than its
    // span holds.
    let span_frames = ((video.last().unwrap() - video[0]) / 40) as usize + 1;
    let holes = gaps_ms(&video).iter().filter(|g| **g > 40).count();
    assert!(
        video.len() < span_frames && holes > 0,
        "no video was dropped: {} of {span_frames} frames",
        video.len()
    );
    eprintln!(
        "relay dropped {dropped}, reordered {reordered}; played {} audio frames (largest gap {worst} ms), {} of {span_frames} video frames",
        audio.len(),
        video.len()
    );
}

#[test]
fn rtmfp_clients_are_in_the_api_and_can_be_kicked() {
    let (s, http) = Sluice::start_with_http(&[]);
    s.wait_log(&["RTMFP listening"], Duration::from_secs(10));
    let input = fixture(FixtureOpts::default().with_duration(Duration::from_secs(20)));
    let _publisher = publish(&input, &s.url("api"));
    s.wait_log(&["publish", "stream=api"], Duration::from_secs(15));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.env_remove("SLUICE_FFMPEG9").env("NO_COLOR", "1");
    cmd.args(["play", "-q", &rtmfp_url(s.port, "api")]);
    let mut player = sluice_testkit::spawn(cmd);
    s.wait_log(&["rtmfp", "play", "stream=api"], Duration::from_secs(15));
    let clients = live_support::api_get(http, "/api/v1/clients");
    let items = clients["items"].as_array().expect("items");
    let rtmfp = items
        .iter()
        .find(|c| c["transport"] == "rtmfp")
        .unwrap_or_else(|| panic!("no rtmfp client in {clients}"));
    assert_eq!(rtmfp["role"], "player", "{rtmfp}");
    assert_eq!(rtmfp["stream"], "api", "{rtmfp}");
    let id = rtmfp["id"].as_u64().expect("id");
    let (status, head, _) =
        live_support::http_request(http, "DELETE", &format!("/api/v1/clients/{id}"), "");
    assert_eq!(status, 200, "{head}");
    s.wait_log(&["kicked through the API"], Duration::from_secs(5));
    let status = player.wait_timeout(Duration::from_secs(15));
    assert!(
        status.is_some(),
        "the kicked player did not end:\n{}",
        player.log()
    );
    assert!(player.log().contains("server closed"), "{}", player.log());
}
