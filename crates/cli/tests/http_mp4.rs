//! Live fragmented MP4 (`/{app}/{stream}.mp4`) against real peers: Debian's ffmpeg publishes
//! over RTMP and ffprobe/ffmpeg read `http://…/live/<stream>.mp4`; a tokio-tungstenite client
//! reads the WebSocket protocol (text init, binary init, one binary message per fragment);
//! the recent ffmpeg publishes AV1 + Opus; an MP3 publish is refused with 415 / close 1003;
//! signed URLs and the registry apply as for HTTP-FLV.
//!
//! Every process lives in a `ChildGuard`, every port is ephemeral; missing tools panic.

mod live_support;

use live_support::{api_wait, ffmpeg, fixture, http_get, live_ffprobe, publish9, temp_dir, Sluice};
use sluice_testkit::{publish_flv, spawn, AudioCodec, FixtureOpts, ProbeResult, VideoCodec};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn av_fixture() -> std::path::PathBuf {
    fixture(FixtureOpts::default().with_duration(Duration::from_secs(20)))
}

/// Waits until `/live/<stream>.mp4` answers 200 (the first init is out).
fn wait_live(port: u16, stream: &str) {
    live_support::wait_http_live(port, &format!("/live/{stream}.mp4"));
}

/// `ffmpeg -i url -t secs -c copy out.mp4`, then ffprobe `-count_frames` of the file.
fn copy_to_file(url: &str, secs: u32, out: &Path) -> ProbeResult {
    let mut cmd = Command::new(ffmpeg());
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error"]);
    cmd.args(["-rw_timeout", "10000000", "-i", url]);
    cmd.args(["-t", &secs.to_string(), "-map", "0", "-c", "copy", "-y"]);
    cmd.arg(out);
    spawn(cmd).wait_success(Duration::from_secs(60));
    sluice_testkit::ffprobe(out.to_str().unwrap())
}

/// The top-level boxes of `b` as (type, payload).
fn boxes(mut b: &[u8]) -> Vec<(String, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 8 {
        let size = (u32::from_be_bytes(b[..4].try_into().unwrap()) as usize).clamp(8, b.len());
        out.push((String::from_utf8_lossy(&b[4..8]).into_owned(), &b[8..size]));
        b = &b[size..];
    }
    out
}

fn child<'a>(b: &'a [u8], name: &str) -> Option<&'a [u8]> {
    boxes(b)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, p)| p)
}

/// (track_id, first sample's flags) of each `traf` of a fragment.
fn first_sample_flags(fragment: &[u8]) -> Vec<(u32, u32)> {
    let moof = child(fragment, "moof").expect("a moof");
    let be = |b: &[u8], at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap());
    boxes(moof)
        .into_iter()
        .filter(|(n, _)| n == "traf")
        .map(|(_, traf)| {
            let tfhd = child(traf, "tfhd").expect("tfhd");
            let trun = child(traf, "trun").expect("trun");
            let flags = be(trun, 0) & 0xff_ffff;
            let mut at = 8 + if flags & 1 != 0 { 4 } else { 0 };
            let first = if flags & 4 != 0 {
                be(trun, at)
            } else {
                at += [0x100, 0x200].iter().filter(|&&f| flags & f != 0).count() * 4;
                assert!(flags & 0x400 != 0, "trun without sample flags");
                be(trun, at)
            };
            (be(tfhd, 4), first)
        })
        .collect()
}

#[test]
fn ffmpeg_reads_http_mp4_with_the_right_codecs() {
    let (server, http) = Sluice::start_with_http(&[]);
    let _publisher = publish_flv(&ffmpeg(), &av_fixture(), &server.url("s"));
    wait_live(http, "s");

    let (head, body) = http_get(http, "/live/s.mp4", "", Duration::from_secs(2), 1 << 20);
    let lower = head.to_ascii_lowercase();
    assert!(lower.starts_with("http/1.0 200"), "{head}");
    assert!(
        lower.contains("content-type: video/mp4; codecs=\"avc1.") && lower.contains("mp4a.40.2"),
        "{head}"
    );
    assert!(lower.contains("cache-control: no-cache"), "{head}");
    let top: Vec<String> = boxes(&body).into_iter().map(|(n, _)| n).collect();
    assert_eq!(top[..2], ["ftyp", "moov"], "{top:?}");
    assert_eq!(top[2], "prft", "prft by default: {top:?}");
    let (_, body) = http_get(
        http,
        "/live/s.mp4?prft=0",
        "",
        Duration::from_secs(1),
        1 << 18,
    );
    let top: Vec<String> = boxes(&body).into_iter().map(|(n, _)| n).collect();
    assert!(
        !top.iter().any(|n| n == "prft") && top[2] == "moof",
        "{top:?}"
    );

    let url = format!("http://127.0.0.1:{http}/live/s.mp4");
    let probe = live_ffprobe(&url);
    assert_eq!(probe.video().map(|v| v.codec_name.as_str()), Some("h264"));
    assert_eq!(probe.audio().map(|a| a.codec_name.as_str()), Some("aac"));

    let dir = temp_dir();
    let copy = copy_to_file(&url, 4, &dir.path().join("out.mp4"));
    let frames = copy.video().and_then(|v| v.nb_read_frames).unwrap_or(0);
    assert!(frames >= 75, "{frames} video frames in 4 s: {copy:?}");
    let audio = copy.audio().and_then(|a| a.nb_read_frames).unwrap_or(0);
    assert!(audio > 50, "{audio} audio frames: {copy:?}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !server
            .log_lines(&["HTTP-MP4 close", "bytes_out="])
            .is_empty(),
        "{}",
        server.log()
    );
}

/// The messages of a WebSocket for `dur`: `Ok(text)` / `Err(binary)`, and the close frame.
async fn ws_read(
    url: &str,
    dur: Duration,
) -> (
    Vec<Result<String, Vec<u8>>>,
    Option<tokio_tungstenite::tungstenite::protocol::CloseFrame>,
) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let (mut ws, resp) = tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("WebSocket connect to {url}: {e}"));
    assert_eq!(resp.status(), 101);
    let mut msgs = Vec::new();
    let mut close = None;
    let deadline = tokio::time::Instant::now() + dur;
    while let Ok(Some(m)) = tokio::time::timeout_at(deadline, ws.next()).await {
        match m.expect("a WebSocket message") {
            Message::Binary(b) => msgs.push(Err(b.to_vec())),
            Message::Text(t) => msgs.push(Ok(t.to_string())),
            Message::Close(c) => {
                close = c;
                break;
            }
            _ => {}
        }
    }
    let _ = ws.close(None).await;
    (msgs, close)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_mp4_sends_text_init_binary_init_then_fragments_from_a_keyframe() {
    let (server, http) = Sluice::start_with_http(&[]);
    let _publisher = publish_flv(&ffmpeg(), &av_fixture(), &server.url("s"));
    tokio::task::spawn_blocking(move || wait_live(http, "s"))
        .await
        .unwrap();

    let url = format!("ws://127.0.0.1:{http}/live/s.mp4");
    let reader = tokio::spawn(async move { ws_read(&url, Duration::from_secs(3)).await });
    // While it plays, the registry lists it as a ws-mp4 player.
    let srv = &server;
    let clients = tokio::task::block_in_place(|| {
        api_wait(srv, http, "/api/v1/clients", Duration::from_secs(10), |c| {
            c["items"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|c| c["transport"] == "ws-mp4" && c["role"] == "player")
            })
        })
    });
    eprintln!("clients: {clients}");
    let (msgs, _) = reader.await.unwrap();

    let Ok(text) = &msgs[0] else {
        panic!("a text init first: {:?}", &msgs[..1])
    };
    let init: serde_json::Value = serde_json::from_str(text).expect("init is JSON");
    assert_eq!(init["type"], "init");
    let mime = init["mime"].as_str().unwrap();
    assert!(mime.contains("avc1") && mime.contains("mp4a"), "{mime}");
    assert_eq!(init["generation"], 1);
    let tracks = init["tracks"].as_array().unwrap();
    assert_eq!(tracks[0]["kind"], "video");
    assert_eq!(tracks[0]["width"], 320);
    assert_eq!(tracks[1]["kind"], "audio");
    assert!(tracks[1]["sample_rate"].as_u64() > Some(0));
    let Err(init_seg) = &msgs[1] else {
        panic!("a binary init second")
    };
    assert_eq!(&init_seg[4..8], b"ftyp");
    let frags: Vec<&Vec<u8>> = msgs[2..]
        .iter()
        .map(|m| m.as_ref().expect_err("only fragments after the init"))
        .collect();
    assert!(frags.len() > 50, "{} fragments in 3 s", frags.len());
    for f in &frags {
        assert!(&f[4..8] == b"moof" || &f[4..8] == b"prft", "{:?}", &f[..8]);
    }
    let first = first_sample_flags(frags[0]);
    assert_eq!(first[0].0, 1, "the first fragment is video: {first:?}");
    assert_eq!(first[0].1 & 0x0001_0000, 0, "a sync sample: {first:x?}");
    assert_eq!(first[0].1 >> 24 & 3, 2, "depends on no other: {first:x?}");

    // Over HTTP the registry says http-mp4.
    let get = std::thread::spawn(move || {
        http_get(http, "/live/s.mp4", "", Duration::from_secs(3), usize::MAX)
    });
    tokio::task::block_in_place(|| {
        api_wait(srv, http, "/api/v1/clients", Duration::from_secs(10), |c| {
            c["items"]
                .as_array()
                .is_some_and(|a| a.iter().any(|c| c["transport"] == "http-mp4"))
        })
    });
    get.join().unwrap();
}

#[test]
fn audio_only_and_video_only_streams_play() {
    let dir = temp_dir();
    let av = av_fixture();
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

    let (head, _) = http_get(http, "/live/a.mp4", "", Duration::from_secs(1), 1);
    assert!(head.contains("audio/mp4; codecs=\"mp4a.40.2\""), "{head}");
    let url = format!("http://127.0.0.1:{http}/live/a.mp4");
    let copy = copy_to_file(&url, 3, &dir.path().join("a.mp4"));
    assert!(copy.video().is_none(), "{copy:?}");
    assert!(
        copy.audio().and_then(|a| a.nb_read_frames) > Some(50),
        "{copy:?}"
    );

    let url = format!("http://127.0.0.1:{http}/live/v.mp4");
    let copy = copy_to_file(&url, 3, &dir.path().join("v.mp4"));
    assert!(copy.audio().is_none(), "{copy:?}");
    assert_eq!(copy.video().map(|v| v.codec_name.as_str()), Some("h264"));
    assert!(
        copy.video().and_then(|v| v.nb_read_frames) > Some(50),
        "{copy:?}"
    );
}

#[test]
fn av1_and_opus_from_the_recent_ffmpeg_are_served() {
    let opts = FixtureOpts::default()
        .with_video(VideoCodec::Av1)
        .with_audio(Some(AudioCodec::Opus))
        .with_duration(Duration::from_secs(20));
    let input = fixture(opts);
    let (server, http) = Sluice::start_with_http(&[]);
    let _publisher = publish9(&input, &server.url("av1"));
    wait_live(http, "av1");
    let (head, _) = http_get(http, "/live/av1.mp4", "", Duration::from_secs(1), 1);
    assert!(head.contains("av01.") && head.contains("opus"), "{head}");
    let probe = live_ffprobe(&format!("http://127.0.0.1:{http}/live/av1.mp4"));
    assert_eq!(probe.video().map(|v| v.codec_name.as_str()), Some("av1"));
    assert_eq!(probe.audio().map(|a| a.codec_name.as_str()), Some("opus"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mp3_audio_is_refused_with_415_and_close_1003() {
    let dir = temp_dir();
    let mp3 = dir.path().join("mp3.flv");
    let mut cmd = Command::new(ffmpeg());
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-i"]);
    cmd.arg(av_fixture())
        .args(["-c:v", "copy", "-c:a", "libmp3lame", "-ar", "44100", "-y"])
        .arg(&mp3);
    spawn(cmd).wait_success(Duration::from_secs(60));
    let (server, http) = Sluice::start_with_http(&[]);
    let _publisher = publish_flv(&ffmpeg(), &mp3, &server.url("m"));
    server.wait_log(&["publish", "stream=m"], Duration::from_secs(15));

    let (head, body) = tokio::task::block_in_place(|| {
        http_get(http, "/live/m.mp4", "", Duration::from_secs(10), usize::MAX)
    });
    assert!(head.starts_with("HTTP/1.0 415"), "{head}");
    let body = String::from_utf8_lossy(&body).to_ascii_lowercase();
    assert!(body.contains("audio codec mp3"), "{body}");

    let url = format!("ws://127.0.0.1:{http}/live/m.mp4");
    let (msgs, close) = ws_read(&url, Duration::from_secs(10)).await;
    assert!(
        msgs.is_empty(),
        "no media before the refusal: {}",
        msgs.len()
    );
    let close = close.expect("a close frame");
    assert_eq!(u16::from(close.code), 1003);
    assert!(
        close.reason.to_ascii_lowercase().contains("mp3"),
        "{close:?}"
    );
}

#[test]
fn signed_urls_apply_to_mp4() {
    let (server, http) = Sluice::start_with_http(&[
        ("SLUICE_ACCESS_PLAY", "token"),
        ("SLUICE_ACCESS_SECRET", "s3cret"),
    ]);
    let _publisher = publish_flv(&ffmpeg(), &av_fixture(), &server.url("cam"));
    server.wait_log(&["publish", "stream=cam"], Duration::from_secs(15));
    let (head, _) = http_get(http, "/live/cam.mp4", "", Duration::from_secs(5), 0);
    assert!(head.starts_with("HTTP/1.0 403"), "{head}");
    let q = sluice_server::app::token::signed_query(
        b"s3cret",
        "play",
        "live",
        "cam",
        sluice_server::app::unix_now() + 600,
    );
    let (head, body) = http_get(
        http,
        &format!("/live/cam.mp4?{q}"),
        "",
        Duration::from_secs(5),
        1000,
    );
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert_eq!(&body[4..8], b"ftyp");
}
