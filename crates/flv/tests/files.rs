//! File-level tests: real FLV files written by ffmpeg 5.1 (tests/data), FlvWriter -> FlvReader
//! round trips, a property test over arbitrary tags, truncation at every position, and
//! panic-freedom of every tag-body parser on arbitrary bytes.

use std::io::Read;

use bytes::Bytes;
use proptest::prelude::*;
use sluice_flv::{
    classify_audio, classify_video, describe_audio_sequence_header, describe_video_sequence_header,
    parse_audio_header, parse_script, parse_video_header, AudioCodec, FlvError, FlvReader, FlvTag,
    FlvWriter, TagType, VideoCodec, VideoTagHeader,
};

fn data(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(path).expect("test data file")
}

fn read_all(bytes: &[u8]) -> Result<Vec<FlvTag>, FlvError> {
    let mut r = FlvReader::new(bytes);
    let mut tags = Vec::new();
    while let Some(t) = r.next_tag()? {
        tags.push(t);
    }
    Ok(tags)
}

/// ffmpeg -f lavfi -i testsrc=size=320x240:rate=10 -f lavfi -i sine=frequency=440:sample_rate=44100
///   -t 1 -pix_fmt yuv420p -c:v libx264 -profile:v high -g 5 -bf 2 -c:a aac -b:a 64k -ac 2 -f flv
#[test]
fn real_ffmpeg_avc_aac_file() {
    let bytes = data("small_avc_aac.flv");
    let mut r = FlvReader::new(&bytes[..]);
    let h = r.header().unwrap();
    assert!(h.has_audio && h.has_video);
    assert_eq!((h.version, h.data_offset), (1, 9));
    let mut tags = Vec::new();
    while let Some(t) = r.next_tag().unwrap() {
        tags.push(t);
    }
    assert_eq!(r.demuxer().previous_tag_size_mismatches(), 0);

    // onMetaData first
    assert_eq!(tags[0].tag_type, TagType::SCRIPT);
    let meta = parse_script(&tags[0].data).unwrap();
    assert_eq!(meta.name, "onMetaData");
    let md = meta.metadata().unwrap();
    assert_eq!(md.get_number("width"), Some(320.0));
    assert_eq!(md.get_number("videocodecid"), Some(7.0));

    let video: Vec<_> = tags
        .iter()
        .filter(|t| t.tag_type == TagType::VIDEO)
        .collect();
    let audio: Vec<_> = tags
        .iter()
        .filter(|t| t.tag_type == TagType::AUDIO)
        .collect();
    assert_eq!(
        video.len(),
        1 + 10 + 1,
        "sequence header + 10 frames + end of sequence"
    );
    assert!(audio.len() > 40);

    let v = describe_video_sequence_header(&video[0].data).unwrap();
    assert_eq!(
        (v.codec.as_str(), v.width, v.height),
        ("h264", Some(320), Some(240))
    );
    assert_eq!(v.profile.as_deref(), Some("High"));
    let a = describe_audio_sequence_header(&audio[0].data).unwrap();
    assert_eq!(
        (a.codec.as_str(), a.sample_rate, a.channels),
        ("aac", Some(44100), Some(2))
    );

    let mut keyframes = 0;
    let mut positive_cts = 0;
    for (i, t) in video.iter().enumerate() {
        let info = classify_video(&t.data);
        assert_eq!(info.codec, VideoCodec::Avc);
        assert_eq!(info.is_sequence_header, i == 0);
        assert_eq!(info.is_sequence_end, i == video.len() - 1);
        if info.is_keyframe && !info.is_sequence_header && !info.is_sequence_end {
            keyframes += 1;
        }
        if let (VideoTagHeader::Legacy(l), 5) = parse_video_header(&t.data).unwrap() {
            if l.composition_time > 0 {
                positive_cts += 1;
            }
        } else {
            panic!("legacy AVC header expected");
        }
    }
    assert_eq!(keyframes, 2, "-g 5 over 10 frames");
    assert!(positive_cts > 0, "B-frames give composition offsets");
    for t in &audio[1..] {
        let info = classify_audio(&t.data);
        assert_eq!(info.codec, AudioCodec::Aac);
        assert!(!info.is_sequence_header);
    }
    // timestamps never go backwards per media type
    for list in [&video, &audio] {
        assert!(list.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    }

    // Writing the tags back reproduces the file byte for byte.
    let mut w = FlvWriter::with_header(Vec::new(), h).unwrap();
    for t in &tags {
        w.write_tag(t).unwrap();
    }
    assert_eq!(w.into_inner(), bytes);
}

/// ffmpeg -f lavfi -i sine=frequency=440:sample_rate=22050 -t 0.5 -c:a libmp3lame -ac 1 -f flv
#[test]
fn real_ffmpeg_mp3_file() {
    let tags = read_all(&data("mp3.flv")).unwrap();
    let audio: Vec<_> = tags
        .iter()
        .filter(|t| t.tag_type == TagType::AUDIO)
        .collect();
    assert!(!audio.is_empty());
    for t in &audio {
        assert_eq!(classify_audio(&t.data).codec, AudioCodec::Mp3);
        let d = describe_audio_sequence_header(&t.data).unwrap();
        assert_eq!((d.sample_rate, d.channels), (Some(22050), Some(1)));
    }
}

#[test]
fn truncation_at_every_position() {
    let bytes = data("small_avc_aac.flv");
    let full = read_all(&bytes).unwrap();
    // Tag boundaries (offsets where a prefix ends cleanly): after a tag body or its back pointer.
    let mut clean = vec![9, 13];
    let mut off = 13;
    for t in &full {
        off += 11 + t.data.len();
        clean.push(off);
        off += 4;
        clean.push(off);
    }
    for cut in 0..bytes.len() {
        let res = read_all(&bytes[..cut]);
        match res {
            Ok(tags) => {
                assert!(clean.contains(&cut), "cut {cut} accepted");
                assert_eq!(&tags[..], &full[..tags.len()]);
            }
            Err(FlvError::UnexpectedEof { .. }) => assert!(!clean.contains(&cut), "cut {cut}"),
            Err(e) => panic!("cut {cut}: unexpected error {e}"),
        }
    }
}

/// A reader that returns at most 3 bytes per call and sometimes `Interrupted`.
struct Trickle<'a> {
    data: &'a [u8],
    calls: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.calls += 1;
        if self.calls % 5 == 0 {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        let n = self.data.len().min(buf.len()).min(3);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn reader_over_trickling_source() {
    let bytes = data("mp3.flv");
    let expected = read_all(&bytes).unwrap();
    let mut r = FlvReader::new(Trickle {
        data: &bytes,
        calls: 0,
    });
    let mut got = Vec::new();
    while let Some(t) = r.next_tag().unwrap() {
        got.push(t);
    }
    assert_eq!(got, expected);
}

#[test]
fn io_errors_are_reported() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    assert!(matches!(
        FlvReader::new(Broken).header(),
        Err(FlvError::Io(_))
    ));
    assert!(matches!(
        FlvReader::new(&b""[..]).next_tag(),
        Err(FlvError::UnexpectedEof { buffered: 0 })
    ));
}

fn arb_tag() -> impl Strategy<Value = FlvTag> {
    (
        0u8..32,
        any::<u32>(),
        0u32..(1 << 24),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(t, ts, sid, filter, data)| FlvTag {
            tag_type: TagType(t),
            timestamp: ts,
            stream_id: sid,
            filter,
            data: Bytes::from(data),
        })
}

proptest! {
    #[test]
    fn writer_reader_round_trip(
        tags in proptest::collection::vec(arb_tag(), 0..12),
        has_audio: bool,
        has_video: bool,
    ) {
        let mut w = FlvWriter::new(Vec::new(), has_audio, has_video).unwrap();
        for t in &tags {
            w.write_tag(t).unwrap();
        }
        let bytes = w.into_inner();
        let mut r = FlvReader::new(&bytes[..]);
        let h = r.header().unwrap();
        prop_assert_eq!((h.has_audio, h.has_video), (has_audio, has_video));
        let mut got = Vec::new();
        while let Some(t) = r.next_tag().unwrap() {
            got.push(t);
        }
        prop_assert_eq!(got, tags);
        prop_assert_eq!(r.demuxer().previous_tag_size_mismatches(), 0);
    }

    #[test]
    fn tag_body_parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = parse_audio_header(&body);
        let _ = parse_video_header(&body);
        let _ = classify_audio(&body);
        let _ = classify_video(&body);
        sluice_flv::check::exercise_tag_body(&body);
    }

    #[test]
    fn enhanced_video_bodies_never_panic(
        first in 0x80u8..=0xff,
        rest in proptest::collection::vec(any::<u8>(), 0..48),
    ) {
        let mut body = vec![first];
        body.extend(rest);
        sluice_flv::check::exercise_tag_body(&body);
    }

    #[test]
    fn demuxer_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut framed = b"FLV\x01\x05\x00\x00\x00\x09".to_vec();
        framed.extend(bytes);
        sluice_flv::check::exercise_flv(&framed);
    }
}

#[test]
fn header_parsers_survive_every_truncation() {
    let vectors = [
        "af001210",
        "9702000064016d70346121",
        "9521 4f707573 00 000002 aabb 6d703461 01 000001 cc",
        "1700000000 0164001fffe1001a6764001facd9405005bb011000000300100000030320f183196001000668ebe3cb22c0",
        "96 11 68766331 00 000005 000002aabb 01 000004 fffffecc",
        "97 02 000064 01 61766331 000001 65",
        "9068766331 01016000000090000000000078f000fcfdf8f800000f03",
    ];
    for v in vectors {
        let full = hex::decode(v.replace(' ', "")).unwrap();
        for cut in 0..=full.len() {
            sluice_flv::check::exercise_tag_body(&full[..cut]);
        }
    }
}
