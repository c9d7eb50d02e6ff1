//! HTTP-FLV and WebSocket-FLV against real peers: Debian's ffmpeg publishes over RTMP and
//! ffprobe/ffmpeg read `http://…/live/<stream>.flv`; a tokio-tungstenite client reads the same
//! stream as WebSocket-FLV; a raw RTMP client publishes Enhanced RTMP `avc1`/`mp4a` and the FLV
//! output must carry legacy H.264/AAC tags; CORS preflights are answered.
//!
//! Every process lives in a `ChildGuard`, every port is ephemeral; missing tools panic.

mod live_support;

use bytes::{Bytes, BytesMut};
use live_support::{ffmpeg, fixture, http_get, live_ffprobe, temp_dir, RawClient, Sluice};
use sluice_flv::{FlvDemuxer, FlvEvent, FlvHeader, FlvReader, FlvTag, TagType};
use sluice_rtmp::Timestamp;
use sluice_testkit::{publish_flv, spawn, ChildGuard, FixtureOpts};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// A 20 s H.264 + AAC fixture (long enough to join, probe and decode while it plays).
fn av_fixture() -> std::path::PathBuf {
    fixture(FixtureOpts::default().with_duration(Duration::from_secs(20)))
}

/// Waits until `/live/<stream>.flv` answers 200 (the publisher is live).
fn wait_live(port: u16, stream: &str) {
    live_support::wait_http_live(port, &format!("/live/{stream}.flv"));
}

/// Demuxes an FLV byte stream (a cut-off last tag is ignored).
fn demux(bytes: &[u8]) -> (FlvHeader, Vec<FlvTag>) {
    let mut buf = BytesMut::from(bytes);
    let mut d = FlvDemuxer::new();
    let mut header = None;
    let mut tags = Vec::new();
    while let Some(ev) = d.decode(&mut buf).expect("a well-formed FLV") {
        match ev {
            FlvEvent::Header(h) => header = Some(h),
            FlvEvent::Tag(t) => tags.push(t),
        }
    }
    (header.expect("an FLV header"), tags)
}

fn script_name(tag: &FlvTag) -> String {
    sluice_flv::parse_script(&tag.data)
        .map(|s| s.name)
        .unwrap_or_default()
}

/// The checks every FLV output must pass: metadata first, sequence headers before media,
/// video from a keyframe, timestamps from near zero, onFI stamps when asked for (`stamps`).
fn check_live_flv(tags: &[FlvTag], want_audio: bool, want_video: bool, stamps: bool) {
    assert!(!tags.is_empty());
    assert_eq!(tags[0].tag_type, TagType::SCRIPT);
    assert_eq!(script_name(&tags[0]), "onMetaData");
    let video: Vec<&FlvTag> = tags
        .iter()
        .filter(|t| t.tag_type == TagType::VIDEO)
        .collect();
    let audio: Vec<&FlvTag> = tags
        .iter()
        .filter(|t| t.tag_type == TagType::AUDIO)
        .collect();
    assert_eq!(!video.is_empty(), want_video, "video tags");
    assert_eq!(!audio.is_empty(), want_audio, "audio tags");
    if want_video {
        let first = sluice_flv::classify_video(&video[0].data);
        assert!(first.is_sequence_header, "first video tag: {first:?}");
        let first_frame = video
            .iter()
            .map(|t| sluice_flv::classify_video(&t.data))
            .find(|i| !i.is_sequence_header)
            .expect("a video frame");
        assert!(first_frame.is_keyframe, "video starts on a keyframe");
    }
    if want_audio {
        assert!(sluice_flv::classify_audio(&audio[0].data).is_sequence_header);
    }
    let first_media = tags.iter().find(|t| t.tag_type != TagType::SCRIPT).unwrap();
    assert!(
        first_media.timestamp < 200,
        "timestamps start near 0, not {}",
        first_media.timestamp
    );
    let asked = stamps;
    let stamps = tags
        .iter()
        .filter(|t| t.tag_type == TagType::SCRIPT && script_name(t) == "onFI")
        .count();
    assert_eq!(stamps > 0, asked, "{stamps} onFI wall-clock stamps");
}

/// `ffmpeg -t secs -i url -f null -`: the number of decoded video frames and whether audio was
/// decoded (from ffmpeg's final statistics).
fn decode(url: &str, secs: u32) -> (u64, bool, String) {
    let mut cmd = Command::new(ffmpeg());
    cmd.args([
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "info",
        "-stats_period",
        "0.5",
    ]);
    cmd.args([
        "-rw_timeout",
        "10000000",
        "-t",
        &secs.to_string(),
        "-i",
        url,
    ]);
    cmd.args(["-f", "null", "-"]);
    let out = sluice_testkit::run(cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "ffmpeg decode of {url} failed:\n{}",
        out.log
    );
    let frames = out
        .log
        .rsplit("frame=")
        .next()
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let audio = out
        .log
        .lines()
        .any(|l| l.contains("audio:") && !l.contains("audio:0kB") && !l.contains("audio:0KiB"));
    (frames, audio, out.log)
}

#[test]
fn ffmpeg_reads_http_flv_with_the_right_codecs_and_decodes_it() {
    let input = av_fixture();
    let (server, http) = Sluice::start_with_http(&[]);
    let _publisher = publish_flv(&ffmpeg(), &input, &server.url("s"));
    wait_live(http, "s");

    let (head, body) = http_get(
        http,
        "/live/s.flv?token=x&wallclock=1",
        "",
        Duration::from_secs(3),
        1 << 20,
    );
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(head.contains("Content-Type: video/x-flv"), "{head}");
    let (h, tags) = demux(&body);
    assert!(h.has_audio && h.has_video, "{h:?}");
    check_live_flv(&tags, true, true, true);

    let url = format!("http://127.0.0.1:{http}/live/s.flv");
    let probe = live_ffprobe(&url);
    assert_eq!(probe.video().map(|v| v.codec_name.as_str()), Some("h264"));
    assert_eq!(probe.audio().map(|a| a.codec_name.as_str()), Some("aac"));
    assert_eq!(probe.video().and_then(|v| v.width), Some(320));

    let (frames, audio, log) = decode(&url, 3);
    assert!(frames >= 50, "decoded {frames} video frames in 3 s:\n{log}");
    assert!(audio, "audio decoded:\n{log}");
    // The players' close lines carry their byte counts.
    thread::sleep(Duration::from_millis(300));
    let closes = server.log_lines(&["HTTP-FLV close", "bytes_out="]);
    assert!(!closes.is_empty(), "{}", server.log());
}

#[test]
fn audio_only_and_video_only_streams_play_with_the_right_header_flags() {
    let dir = temp_dir();
    // ffprobe and ffmpeg probe single-track FLV for several seconds (over RTMP as well): a
    // longer stream keeps both publishers live through the probes and decodes below.
    let av = fixture(FixtureOpts::default().with_duration(Duration::from_secs(45)));
    let audio_only = dir.path().join("audio.flv");
    let video_only = dir.path().join("video.flv");
    for (out, drop) in [(&audio_only, "-vn"), (&video_only, "-an")] {
        let mut cmd = Command::new(ffmpeg());
        cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-i"]);
        cmd.arg(&av).args([drop, "-c", "copy", "-y"]).arg(out);
        spawn(cmd).wait_success(Duration::from_secs(60));
    }
    let (server, http) = Sluice::start_with_http(&[]);
    let _a = publish_flv(&ffmpeg(), &audio_only, &server.url("a"));
    let _v = publish_flv(&ffmpeg(), &video_only, &server.url("v"));
    wait_live(http, "a");
    wait_live(http, "v");

    let (_, body) = http_get(http, "/live/a.flv", "", Duration::from_secs(2), 1 << 20);
    let (h, tags) = demux(&body);
    assert!(h.has_audio && !h.has_video, "audio-only header: {h:?}");
    check_live_flv(&tags, true, false, false);
    let (_, body) = http_get(http, "/live/v.flv", "", Duration::from_secs(2), 1 << 20);
    let (h, tags) = demux(&body);
    assert!(!h.has_audio && h.has_video, "video-only header: {h:?}");
    check_live_flv(&tags, false, true, false);

    let probe = live_ffprobe(&format!("http://127.0.0.1:{http}/live/a.flv"));
    assert!(
        probe.video().is_none() && probe.audio().is_some(),
        "{probe:?}"
    );
    let probe = live_ffprobe(&format!("http://127.0.0.1:{http}/live/v.flv"));
    assert!(
        probe.video().is_some() && probe.audio().is_none(),
        "{probe:?}"
    );

    let (_, audio, log) = decode(&format!("http://127.0.0.1:{http}/live/a.flv"), 2);
    assert!(audio, "audio-only decodes:\n{log}");
    let (frames, _, log) = decode(&format!("http://127.0.0.1:{http}/live/v.flv"), 2);
    assert!(frames >= 30, "video-only decodes ({frames} frames):\n{log}");
}

#[test]
fn a_stream_that_is_not_published_is_404_and_cors_preflight_is_answered() {
    let (_server, http) = Sluice::start_with_http(&[]);
    let (head, _) = http_get(http, "/live/nobody.flv", "", Duration::from_secs(2), 0);
    assert!(head.starts_with("HTTP/1.0 404"), "{head}");

    let mut s = TcpStream::connect(("127.0.0.1", http)).unwrap();
    s.write_all(
        b"OPTIONS /live/nobody.flv HTTP/1.1\r\nHost: x\r\nOrigin: http://page.test\r\n\
          Access-Control-Request-Method: GET\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut resp = String::new();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.read_to_string(&mut resp).unwrap();
    let lower = resp.to_ascii_lowercase();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(lower.contains("access-control-allow-origin: *"), "{resp}");
    assert!(
        lower.contains("access-control-allow-methods: get"),
        "{resp}"
    );
}

#[test]
fn cors_origins_list_is_enforced() {
    let (_server, http) =
        Sluice::start_with_http(&[("SLUICE_HTTP_CORS_ORIGINS", "http://good.test")]);
    for (origin, allowed) in [("http://good.test", true), ("http://evil.test", false)] {
        let (head, _) = http_get(
            http,
            "/live/nobody.flv",
            &format!("Origin: {origin}\r\n"),
            Duration::from_secs(2),
            0,
        );
        let lower = head.to_ascii_lowercase();
        assert_eq!(
            lower.contains(&format!("access-control-allow-origin: {origin}")),
            allowed,
            "{head}"
        );
    }
}

/// Reads WebSocket-FLV from `url` for `dur`; returns the binary messages.
async fn ws_read(url: &str, dur: Duration) -> Vec<Bytes> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let (mut ws, resp) = tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("WebSocket connect to {url}: {e}"));
    assert_eq!(resp.status(), 101);
    let mut msgs = Vec::new();
    let deadline = tokio::time::Instant::now() + dur;
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, ws.next()).await {
        match m.expect("a WebSocket message") {
            Message::Binary(b) => msgs.push(b),
            Message::Close(_) => break,
            _ => {}
        }
    }
    let _ = ws.close(None).await;
    msgs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_flv_carries_the_same_flv_as_http_flv() {
    let input = av_fixture();
    let (server, http) = Sluice::start_with_http(&[]);
    let _publisher = publish_flv(&ffmpeg(), &input, &server.url("w"));
    tokio::task::spawn_blocking(move || wait_live(http, "w"))
        .await
        .unwrap();

    let msgs = ws_read(
        &format!("ws://127.0.0.1:{http}/live/w.flv?wallclock=1"),
        Duration::from_secs(3),
    )
    .await;
    assert!(msgs.len() > 5, "{} messages", msgs.len());
    assert!(
        msgs[0].starts_with(b"FLV\x01\x05"),
        "first message starts the FLV"
    );
    let ws_bytes: Vec<u8> = msgs.iter().flat_map(|m| m.iter().copied()).collect();
    let (wh, wtags) = demux(&ws_bytes);
    check_live_flv(&wtags, true, true, true);

    let (_, body) = tokio::task::spawn_blocking(move || {
        http_get(
            http,
            "/live/w.flv?wallclock=1",
            "",
            Duration::from_secs(2),
            1 << 20,
        )
    })
    .await
    .unwrap();
    let (hh, htags) = demux(&body);
    assert_eq!(wh, hh);
    // The same start: metadata and sequence headers byte for byte, then a keyframe.
    let start = |tags: &[FlvTag]| -> Vec<(TagType, Bytes)> {
        tags.iter()
            .filter(|t| !(t.tag_type == TagType::SCRIPT && script_name(t) == "onFI"))
            .take(3)
            .map(|t| (t.tag_type, t.data.clone()))
            .collect()
    };
    assert_eq!(start(&wtags), start(&htags));
    drop(server);
}

/// Publishes `input` (legacy H.264/AAC FLV) as Enhanced RTMP `avc1`/`mp4a` tags in real time,
/// from a thread, until the file ends or `stop` is set.
fn publish_enhanced(
    addr: std::net::SocketAddr,
    name: &str,
    input: &Path,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> thread::JoinHandle<usize> {
    let name = name.to_owned();
    let input = input.to_owned();
    thread::spawn(move || {
        let mut c = RawClient::connect(addr, |_| {});
        c.wait_connected();
        let sid = c.publish(&name).expect("publish accepted");
        let mut r = FlvReader::new(std::fs::File::open(&input).unwrap());
        r.header().unwrap();
        let start = Instant::now();
        let mut sent = 0;
        while let Some(tag) = r.next_tag().unwrap() {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            let at = Duration::from_millis(u64::from(tag.timestamp));
            if let Some(wait) = at.checked_sub(start.elapsed()) {
                thread::sleep(wait);
            }
            let ts = Timestamp(tag.timestamp);
            match tag.tag_type {
                TagType::VIDEO => c.session.send_video(sid, ts, to_avc1(&tag.data)),
                TagType::AUDIO => c.session.send_audio(sid, ts, to_mp4a(&tag.data)),
                _ => c.session.send_data(sid, ts, tag.data.clone()),
            }
            c.flush();
            // Keep the connection serviced (acknowledgements, pings).
            c.read_some(Duration::from_millis(1));
            sent += 1;
        }
        sent
    })
}

/// A legacy AVC tag body in Enhanced RTMP `avc1` form (CodedFramesX when cts is 0).
fn to_avc1(legacy: &[u8]) -> Bytes {
    let frame_type = legacy[0] >> 4;
    let (packet_type, cts): (u8, &[u8]) = match legacy[1] {
        0 => (0, &[]),
        1 if legacy[2..5] == [0, 0, 0] => (3, &[]),
        1 => (1, &legacy[2..5]),
        _ => (2, &[]),
    };
    let mut v = vec![0x80 | frame_type << 4 | packet_type];
    v.extend_from_slice(b"avc1");
    v.extend_from_slice(cts);
    v.extend_from_slice(&legacy[5..]);
    Bytes::from(v)
}

/// A legacy AAC tag body in Enhanced RTMP `mp4a` form.
fn to_mp4a(legacy: &[u8]) -> Bytes {
    let mut v = vec![0x90 | legacy[1]];
    v.extend_from_slice(b"mp4a");
    v.extend_from_slice(&legacy[2..]);
    Bytes::from(v)
}

#[test]
fn an_enhanced_avc1_publisher_is_served_as_legacy_h264_and_aac() {
    let input = fixture(FixtureOpts {
        b_frames: 2,
        ..FixtureOpts::default().with_duration(Duration::from_secs(20))
    });
    let (server, http) = Sluice::start_with_http(&[]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publisher = publish_enhanced(server.addr(), "e", &input, stop.clone());
    wait_live(http, "e");
    // The server saw Enhanced RTMP.
    thread::sleep(Duration::from_millis(500));

    let (_, body) = http_get(http, "/live/e.flv", "", Duration::from_secs(3), 1 << 20);
    let (h, tags) = demux(&body);
    assert!(h.has_audio && h.has_video, "{h:?}");
    check_live_flv(&tags, true, true, false);
    let mut with_cts = 0;
    for t in &tags {
        match t.tag_type {
            TagType::VIDEO => {
                assert_eq!(
                    t.data[0] & 0x8f,
                    0x07,
                    "legacy AVC tag: {:02x?}",
                    &t.data[..5]
                );
                if t.data[1] == 1 && t.data[2..5] != [0, 0, 0] {
                    with_cts += 1;
                }
            }
            TagType::AUDIO => assert_eq!(t.data[0], 0xAF, "legacy AAC tag"),
            _ => {}
        }
    }
    assert!(with_cts > 0, "B-frames keep their composition times");
    let url = format!("http://127.0.0.1:{http}/live/e.flv");
    let probe = live_ffprobe(&url);
    assert_eq!(probe.video().map(|v| v.codec_name.as_str()), Some("h264"));
    assert_eq!(probe.audio().map(|a| a.codec_name.as_str()), Some("aac"));
    let (frames, _, log) = decode(&url, 2);
    assert!(frames >= 30, "decoded {frames} frames:\n{log}");

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(publisher.join().unwrap() > 0);
}

/// A stream whose publisher leaves ends the HTTP-FLV response after the republish wait.
#[test]
fn the_response_ends_after_the_publisher_leaves() {
    let input = fixture(FixtureOpts::default());
    let (server, http) = Sluice::start_with_http(&[("SLUICE_HTTP_FLV_REPUBLISH_WAIT_MS", "500")]);
    let mut publisher: ChildGuard = publish_flv(&ffmpeg(), &input, &server.url("end"));
    wait_live(http, "end");
    let t0 = Instant::now();
    let (head, body) = http_get(
        http,
        "/live/end.flv",
        "",
        Duration::from_secs(20),
        usize::MAX,
    );
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(
        t0.elapsed() < Duration::from_secs(12),
        "ended {:?} after the join",
        t0.elapsed()
    );
    let (_, tags) = demux(&body);
    check_live_flv(&tags, true, true, false);
    publisher.wait_success(Duration::from_secs(20));
    server.wait_log(
        &["HTTP-FLV close", "publisher gone"],
        Duration::from_secs(5),
    );
}

/// An HTTP-FLV player that stops reading is cut off (too slow, or its writes stalled) without
/// holding up the publisher or another HTTP-FLV player (the direct write path and the hub's
/// bound on slow players).
#[test]
fn a_stalled_http_flv_player_is_cut_off_and_slows_nobody() {
    let opts = FixtureOpts {
        width: 1280,
        height: 720,
        video_kbps: 8000,
        ..FixtureOpts::default()
    };
    let input = fixture(opts.clone());
    let (server, http) = Sluice::start_with_http(&[
        ("SLUICE_HUB_PLAYER_QUEUE_MAX_BYTES", "262144"),
        ("SLUICE_HUB_SLOW_PLAYER_TIMEOUT_SECS", "2"),
        ("SLUICE_HTTP_WRITE_STALL_TIMEOUT_SECS", "4"),
    ]);
    let started = Instant::now();
    let mut publisher: ChildGuard = publish_flv(&ffmpeg(), &input, &server.url("busy"));
    wait_live(http, "busy");

    // A player with a tiny receive buffer that reads the head, then never reads again.
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{http}").parse().unwrap();
    sock.connect_timeout(&addr.into(), Duration::from_secs(5))
        .expect("connect");
    let mut stalled: TcpStream = sock.into();
    stalled
        .write_all(b"GET /live/busy.flv HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut head = [0u8; 512];
    let n = stalled.read(&mut head).unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &head[..n]);
    let stalled_local = stalled.local_addr().unwrap();

    let dir = temp_dir();
    let out = dir.path().join("normal.flv");
    let url = format!("http://127.0.0.1:{http}/live/busy.flv");
    let mut player = live_support::ffmpeg_play(&ffmpeg(), &url, &out, Duration::from_secs(5), &[]);

    // Coarse bound: catches a publisher blocked behind the stalled player, not a benchmark.
    let budget = opts.duration * 2 + Duration::from_secs(5);
    publisher.wait_success(budget);
    assert!(
        started.elapsed() <= budget,
        "publisher took {:?}",
        started.elapsed()
    );
    player.wait_success(Duration::from_secs(20));
    live_support::assert_normal_player_got(&out, opts.expected_video_frames() * 3 / 5);
    live_support::assert_cut_off(&server, "HTTP-FLV close", stalled_local);
    drop(stalled);
}
