//! Tests of the live fMP4 writer (plain event lists) and of the `.mp4` route.

use super::*;
use crate::hub::MediaFrame;
use bytes::Bytes;

/// An AVCDecoderConfigurationRecord (Baseline 3.0, one SPS and PPS).
const AVCC: &str = "0142c01effe100186742c01eda0283f602220000030002000003006478b1728c01000468ce3c80";

fn avc_seq(ts: u32) -> PlayerEvent {
    let mut body = vec![0x17, 0, 0, 0, 0];
    body.extend(hex::decode(AVCC).unwrap());
    PlayerEvent::Frame(MediaFrame::video(ts, Bytes::from(body), true).into_sequence_header())
}

fn aac_seq(ts: u32) -> PlayerEvent {
    PlayerEvent::Frame(
        MediaFrame::audio(ts, Bytes::from_static(&[0xAF, 0, 0x12, 0x10])).into_sequence_header(),
    )
}

fn video(ts: u32, key: bool) -> PlayerEvent {
    let first = if key { 0x17 } else { 0x27 };
    let body = vec![
        first,
        1,
        0,
        0,
        0,
        0,
        0,
        0,
        2,
        if key { 0x65 } else { 0x41 },
        0,
    ];
    PlayerEvent::Frame(MediaFrame::video(ts, Bytes::from(body), key))
}

fn audio(ts: u32) -> PlayerEvent {
    PlayerEvent::Frame(MediaFrame::audio(
        ts,
        Bytes::from_static(&[0xAF, 1, 0x21, 0x10, 0x04]),
    ))
}

/// The WebSocket messages the pieces make: `Ok(text)` or `Err(binary)`.
fn messages(pieces: Vec<Piece>) -> Vec<Result<String, Vec<u8>>> {
    let mut out = Vec::new();
    let mut bin = Vec::new();
    for p in pieces.into_iter().chain([Piece::Boundary]) {
        match p {
            Piece::Data(b) => bin.extend_from_slice(&b),
            Piece::Boundary | Piece::Text(_) if !bin.is_empty() => {
                out.push(Err(std::mem::take(&mut bin)));
                if let Piece::Text(t) = p {
                    out.push(Ok(t));
                }
            }
            Piece::Text(t) => out.push(Ok(t)),
            Piece::Boundary => {}
        }
    }
    out
}

fn run(cfg: Mp4LiveConfig, events: Vec<PlayerEvent>) -> (Mp4LiveMuxer, Vec<Piece>) {
    let mut m = Mp4LiveMuxer::new(cfg);
    let mut evs = events;
    let now = Instant::now();
    m.handle_events(&mut evs, now, SystemTime::now());
    // Past the track probe: a stream without both tracks is decided too.
    m.handle_timeout(now + Duration::from_secs(2), SystemTime::now());
    let mut out = Vec::new();
    m.take_output(&mut out);
    (m, out)
}

fn box_type(b: &[u8]) -> &[u8] {
    &b[4..8]
}

/// The box types at the top level of `b`.
fn top_boxes(mut b: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    while b.len() >= 8 {
        let size = u32::from_be_bytes(b[..4].try_into().unwrap()) as usize;
        names.push(String::from_utf8_lossy(box_type(b)).into_owned());
        b = &b[size.min(b.len())..];
    }
    names
}

#[test]
fn init_json_names_the_tracks_and_leaves_out_unknown_fields() {
    let v = TrackConfig::Video(
        sluice_mux::VideoConfig::avc(Bytes::from(hex::decode(AVCC).unwrap()))
            .unwrap()
            .with_size(1280, 720),
    );
    let a = TrackConfig::Audio(
        sluice_mux::AudioConfig::aac(Bytes::from_static(&[0x12, 0x10])).unwrap(),
    );
    let text = init_json("video/mp4; codecs=\"avc1.42c01e,mp4a.40.2\"", 3, [&v, &a]);
    let j: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(j["type"], "init");
    assert_eq!(j["generation"], 3);
    assert_eq!(j["mime"], "video/mp4; codecs=\"avc1.42c01e,mp4a.40.2\"");
    let t = j["tracks"].as_array().unwrap();
    assert_eq!(t[0]["kind"], "video");
    assert_eq!(t[0]["codec"], "avc1.42c01e");
    assert_eq!(
        (t[0]["width"].as_u64(), t[0]["height"].as_u64()),
        (Some(1280), Some(720))
    );
    assert_eq!(t[1]["kind"], "audio");
    assert_eq!(t[1]["codec"], "mp4a.40.2");
    assert_eq!(t[1]["sample_rate"], 44100);
    assert_eq!(t[1]["channels"], 2);

    // A VP9 track before its first frame has no size: the fields are left out.
    let vp9 = TrackConfig::Video(
        sluice_mux::VideoConfig::vp9(Bytes::from_static(&[
            1, 0, 0, 0, 0x1f, 0x80, 0, 0, 0, 0, 0, 0,
        ]))
        .unwrap(),
    );
    let j: Value = serde_json::from_str(&init_json("video/mp4", 1, [&vp9])).unwrap();
    let o = j["tracks"][0].as_object().unwrap();
    assert!(
        !o.contains_key("width") && !o.contains_key("height"),
        "{o:?}"
    );
}

#[test]
fn codecs_fmp4_cannot_carry_are_refused_with_their_name() {
    // Legacy MP3 audio (SoundFormat 2), with metadata announcing it.
    let (m, out) = run(
        Mp4LiveConfig::default(),
        vec![
            PlayerEvent::Publish,
            PlayerEvent::Frame(MediaFrame::audio(
                0,
                Bytes::from_static(&[0x2F, 0xFF, 0xFB]),
            )),
        ],
    );
    assert!(out.is_empty());
    let why = m.failure().expect("refused");
    assert!(
        why.to_ascii_lowercase().contains("audio codec mp3"),
        "{why}"
    );
    assert!(why.len() <= 123);
    assert_eq!(m.poll_timeout(), None);

    // Sorenson H.263 (codec id 2) and VP6 (4) video.
    for (byte, name) in [(0x12u8, "263"), (0x14, "vp6")] {
        let (m, _) = run(
            Mp4LiveConfig::default(),
            vec![
                PlayerEvent::Publish,
                PlayerEvent::Frame(MediaFrame::video(0, Bytes::from(vec![byte, 0, 0]), true)),
            ],
        );
        let why = m.failure().expect("refused");
        let lower = why.to_ascii_lowercase();
        assert!(
            lower.contains(name) && lower.contains("video codec"),
            "{why}"
        );
    }
    assert_eq!(
        unsupported_reason(&MuxError::UnsupportedAudioCodec("Speex".into())),
        "audio codec Speex cannot be sent as fMP4"
    );
}

#[test]
fn join_writes_init_then_fragments_from_a_keyframe() {
    let (m, out) = run(
        Mp4LiveConfig::default(),
        vec![
            PlayerEvent::Publish,
            avc_seq(0),
            aac_seq(0),
            audio(4980), // before the keyframe: dropped
            video(5000, true),
            audio(5003),
            video(5040, false),
            audio(5026),
            video(5080, false),
        ],
    );
    let msgs = messages(out);
    let Ok(text) = &msgs[0] else {
        panic!("init text first: {msgs:?}")
    };
    let j: Value = serde_json::from_str(text).unwrap();
    assert_eq!(j["type"], "init");
    assert_eq!(j["generation"], 1);
    let mime = j["mime"].as_str().unwrap();
    assert!(
        mime.contains("avc1.42c01e") && mime.contains("mp4a.40.2"),
        "{mime}"
    );
    assert_eq!(m.first_mime(), Some(mime));
    let Err(init) = &msgs[1] else { panic!() };
    assert_eq!(top_boxes(init), ["ftyp", "moov"]);
    let frags: Vec<&Vec<u8>> = msgs[2..].iter().map(|m| m.as_ref().unwrap_err()).collect();
    // One fragment per video frame whose duration is known, with the audio before it: [key],
    // [v2, a1] (v3 and a2 are held).
    assert_eq!(frags.len(), 2, "{msgs:?}");
    for f in &frags {
        assert_eq!(top_boxes(f), ["prft", "moof", "mdat"]);
    }
    // The first fragment is the keyframe (trun sample flags of a sync sample).
    let first = frags[0];
    let mdat = first.windows(4).position(|w| w == b"mdat").unwrap();
    assert_eq!(
        first[mdat + 4 + 4],
        0x65,
        "keyframe NAL first (after its 4-byte length)"
    );
}

#[test]
fn republish_sends_unpublished_then_a_new_init_and_prft_can_be_off() {
    let cfg = Mp4LiveConfig {
        prft: false,
        ..Mp4LiveConfig::default()
    };
    let (_, out) = run(
        cfg,
        vec![
            PlayerEvent::Publish,
            avc_seq(0),
            video(1000, true),
            video(1040, false),
            PlayerEvent::Unpublish,
            PlayerEvent::Publish,
            avc_seq(0),
            video(0, false), // not a keyframe: dropped
            video(40, true),
            video(80, false),
        ],
    );
    let msgs = messages(out);
    let texts: Vec<&str> = msgs.iter().filter_map(|m| m.as_deref().ok()).collect();
    assert_eq!(texts.len(), 3, "{msgs:?}");
    assert!(texts[0].contains("\"generation\":1"));
    assert_eq!(texts[1], r#"{"type":"unpublished"}"#);
    assert!(texts[2].contains("\"generation\":2"), "{}", texts[2]);
    assert!(texts[2].contains("video/mp4"));
    for m in &msgs {
        if let Err(b) = m {
            let top = top_boxes(b);
            assert!(
                top == ["ftyp", "moov"] || top == ["moof", "mdat"],
                "{top:?}"
            );
        }
    }
    // Before unpublished: init + 2 fragments (the flush writes the held one).
    let unpub = msgs
        .iter()
        .position(|m| m.as_deref() == Ok(texts[1]))
        .unwrap();
    assert_eq!(unpub, 4);
    // After: text init, binary init, the keyframe fragment.
    assert_eq!(msgs.len(), unpub + 4, "{msgs:?}");
}

#[test]
fn audio_only_is_decided_by_metadata_and_video_only_by_the_probe() {
    let meta = {
        let mut o = sluice_amf::Amf0Object::new();
        o.insert("audiocodecid", sluice_amf::Amf0Value::Number(10.0));
        sluice_amf::amf0_encode_all(&[
            sluice_amf::Amf0Value::String("onMetaData".into()),
            sluice_amf::Amf0Value::EcmaArray(o),
        ])
    };
    let (_, out) = run(
        Mp4LiveConfig::default(),
        vec![
            PlayerEvent::Publish,
            PlayerEvent::Metadata(meta),
            aac_seq(0),
            audio(0),
            audio(23),
        ],
    );
    let msgs = messages(out);
    let j: Value = serde_json::from_str(msgs[0].as_ref().unwrap()).unwrap();
    assert!(j["mime"].as_str().unwrap().starts_with("audio/mp4"), "{j}");
    assert_eq!(j["tracks"].as_array().unwrap().len(), 1);
    assert_eq!(msgs.len(), 3, "init pair and the first audio fragment");

    // Video only, no metadata: held until the probe ends.
    let mut m = Mp4LiveMuxer::new(Mp4LiveConfig::default());
    let t0 = Instant::now();
    let mut evs = vec![
        PlayerEvent::Publish,
        avc_seq(0),
        video(0, true),
        video(40, false),
    ];
    m.handle_events(&mut evs, t0, SystemTime::now());
    let mut out = Vec::new();
    m.take_output(&mut out);
    assert!(out.is_empty());
    assert_eq!(m.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    m.handle_timeout(t0 + Duration::from_secs(1), SystemTime::now());
    m.take_output(&mut out);
    let msgs = messages(out);
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert_eq!(m.poll_timeout(), None);
}

mod route {
    use crate::config::Settings;
    use crate::hub::{MediaFrame, PeerInfo};
    use crate::Context;
    use bytes::Bytes;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn get(addr: std::net::SocketAddr, path: &str, want: &[u8]) -> String {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buf.windows(want.len()).any(|w| w == want) {
            let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut chunk))
                .await
                .expect("answer in time")
                .unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    #[tokio::test]
    async fn mp4_answers_with_the_init_mime_or_415() {
        let mut s = Settings::default();
        s.http.listen = vec!["127.0.0.1:0".into()];
        let ctx = Arc::new(Context::new(s));
        let l = crate::http::bind(&ctx.settings, None).await.unwrap();
        let addr = l.local_addrs()[0];
        l.spawn(&ctx);

        let text = get(addr, "/live/none.mp4", b"\r\n\r\n").await;
        assert!(text.starts_with("HTTP/1.1 404"), "{text}");

        // The player joins first, then the frames come (the hub caches no MP3 GOP).
        let p = ctx.hub.publish("live", "v", PeerInfo::new("t")).unwrap();
        let play = tokio::spawn(get(addr, "/live/v.mp4", b"moof"));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let super::PlayerEvent::Frame(seq) = super::avc_seq(0) else {
            unreachable!()
        };
        p.send(seq);
        for (ts, key) in [(0, true), (40, false), (80, false)] {
            let super::PlayerEvent::Frame(f) = super::video(ts, key) else {
                unreachable!()
            };
            p.send(f);
        }
        let text = play.await.unwrap().to_ascii_lowercase();
        assert!(text.starts_with("http/1.1 200"), "{text}");
        assert!(
            text.contains("content-type: video/mp4; codecs=\"avc1.42c01e\""),
            "{text}"
        );
        assert!(text.contains("cache-control: no-cache"), "{text}");
        assert!(text.contains("ftyp") && text.contains("prft"), "{text}");

        let mp3 = ctx.hub.publish("live", "mp3", PeerInfo::new("t")).unwrap();
        let play = tokio::spawn(get(addr, "/live/mp3.mp4", b"fMP4"));
        tokio::time::sleep(Duration::from_millis(200)).await;
        mp3.send(MediaFrame::audio(
            0,
            Bytes::from_static(&[0x2F, 0xFF, 0xFB, 0x90]),
        ));
        let text = play.await.unwrap();
        assert!(text.starts_with("HTTP/1.1 415"), "{text}");
        assert!(
            text.to_ascii_lowercase().contains("audio codec mp3"),
            "{text}"
        );
        ctx.begin_shutdown();
    }
}
