//! Tests of the FLV file opener and tag stream: byte vectors, files with and without an index,
//! torn files, and a property test over read sizes and cut points.

use super::*;
use crate::encode_tag;
use crate::testutil::hx;
use bytes::Bytes;
use proptest::prelude::*;
use sluice_amf::amf0_encode_all;

/// Reads for an opener from `file`, asking for `scan_read_size` bytes while scanning (reads
/// are short only at the end of the file, as the opener expects).
fn open_with(file: &[u8], scan_read_size: usize) -> FlvFileInfo {
    let limits = FlvIndexLimits {
        scan_read_size,
        ..FlvIndexLimits::default()
    };
    let mut o = FlvOpener::new(file.len() as u64, limits);
    while let Some(r) = o.poll_read() {
        let start = (r.pos as usize).min(file.len());
        let end = (start + r.len).min(file.len());
        o.handle_read(r.pos, &file[start..end]).unwrap();
    }
    o.finish().unwrap()
}

fn open(file: &[u8]) -> FlvFileInfo {
    open_with(file, 64 * 1024)
}

fn tag(tag_type: TagType, timestamp: u32, data: Vec<u8>) -> FlvTag {
    FlvTag {
        tag_type,
        timestamp,
        stream_id: 0,
        filter: false,
        data: Bytes::from(data),
    }
}

fn meta(md: Amf0Object) -> FlvTag {
    let body = amf0_encode_all(&[
        Amf0Value::String("onMetaData".into()),
        Amf0Value::EcmaArray(md),
    ]);
    tag(TagType::SCRIPT, 0, body.to_vec())
}

/// A file: optional metadata, AVC and AAC sequence headers, then `secs` seconds of 25 fps video
/// (a keyframe each second) and 50 audio frames a second. Returns the bytes and the offsets
/// and times of the keyframe tags.
fn sample(md: Option<Amf0Object>, secs: u32) -> (Vec<u8>, Vec<SeekPoint>) {
    let mut f = Vec::new();
    FlvHeader::new(true, true).write(&mut f);
    let put = |f: &mut Vec<u8>, t: FlvTag| encode_tag(&t, f).unwrap();
    if let Some(md) = md {
        put(&mut f, meta(md));
    }
    put(
        &mut f,
        tag(TagType::VIDEO, 0, vec![0x17, 0, 0, 0, 0, 1, 2, 3]),
    );
    put(&mut f, tag(TagType::AUDIO, 0, vec![0xaf, 0, 0x12, 0x10]));
    let mut keys = Vec::new();
    for ms in (0..secs * 1000).step_by(20) {
        if ms % 40 == 0 {
            let key = ms % 1000 == 0;
            if key {
                keys.push(SeekPoint {
                    time_ms: ms,
                    pos: f.len() as u64,
                });
            }
            let b0 = if key { 0x17 } else { 0x27 };
            put(
                &mut f,
                tag(TagType::VIDEO, ms, vec![b0, 1, 0, 0, 0, 9, 9, 9, 9]),
            );
        }
        put(&mut f, tag(TagType::AUDIO, ms, vec![0xaf, 1, 7, 7]));
    }
    (f, keys)
}

#[test]
fn header_and_first_tag_vectors() {
    // Header (audio+video), PreviousTagSize0, one audio tag at 0x000102 ms.
    let file = hx("464c5601 05 00000009 00000000 \
                   08 000002 000102 00 000000 af01 0000000d");
    let info = open(&file);
    assert_eq!(info.data_start, 13);
    assert_eq!(info.end, file.len() as u64);
    assert_eq!(info.duration_ms, 0x102);
    assert_eq!(info.source, IndexSource::Scan);
    assert_eq!(
        info.seek_points,
        vec![SeekPoint {
            time_ms: 0x102,
            pos: 13
        }]
    );
    let mut o = FlvOpener::new(3, FlvIndexLimits::default());
    assert!(matches!(
        o.handle_read(0, &hx("464c56")),
        Err(FlvError::Truncated { .. })
    ));
}

#[test]
fn scan_finds_keyframes_and_duration() {
    let (file, keys) = sample(None, 5);
    let info = open(&file);
    assert_eq!(info.source, IndexSource::Scan);
    assert_eq!(info.seek_points, keys);
    assert_eq!(info.duration_ms, 4980);
    assert_eq!(info.end, file.len() as u64);
    assert!(info.metadata.is_none());
    // Small reads give the same answer.
    assert_eq!(open_with(&file, 30), info);
    assert_eq!(info.seek(2500), keys[2]);
    assert_eq!(info.seek(0), keys[0]);
    assert_eq!(info.seek(99_999), keys[4]);
}

#[test]
fn consistent_metadata_index_is_used_without_a_scan() {
    let (plain, keys) = sample(None, 3);
    // Build the index for the file that has the metadata tag in front: every offset moves by
    // the metadata tag's size, which does not depend on the values (numbers are 9 bytes).
    let index = |shift: u64| {
        Amf0Object::new().with("duration", 3.0).with(
            "keyframes",
            Amf0Value::Object(
                Amf0Object::new()
                    .with(
                        "times",
                        Amf0Value::StrictArray(
                            keys.iter()
                                .map(|k| Amf0Value::Number(f64::from(k.time_ms) / 1000.0))
                                .collect(),
                        ),
                    )
                    .with(
                        "filepositions",
                        Amf0Value::StrictArray(
                            keys.iter()
                                .map(|k| Amf0Value::Number((k.pos + shift) as f64))
                                .collect(),
                        ),
                    ),
            ),
        )
    };
    let meta_len = (sample(Some(index(0)), 3).0.len() - plain.len()) as u64;
    let (file, keys2) = sample(Some(index(meta_len)), 3);
    let info = open(&file);
    assert_eq!(info.source, IndexSource::Metadata);
    assert_eq!(info.seek_points, keys2);
    assert_eq!(info.duration_ms, 3000);
    assert_eq!(
        info.metadata.as_ref().unwrap().get_number("duration"),
        Some(3.0)
    );
    // Times are taken from the tags: an index that rounds them still seeks exactly.
    let rounded = {
        let mut md = index(meta_len);
        if let Some(Amf0Value::Object(kf)) = md.remove("keyframes") {
            let mut kf = kf;
            if let Some(Amf0Value::StrictArray(t)) = kf.remove("times") {
                let t = t
                    .iter()
                    .map(|v| Amf0Value::Number(v.as_f64().unwrap() + 0.3))
                    .collect();
                kf.insert("times", Amf0Value::StrictArray(t));
            }
            md.insert("keyframes", Amf0Value::Object(kf));
        }
        md
    };
    let info = open(&sample(Some(rounded), 3).0);
    assert_eq!(info.source, IndexSource::Metadata);
    assert_eq!(info.seek_points, keys2);
    // Positions that do not hold keyframes (shifted onto the audio tag after each): a scan.
    let (shifted, _) = sample(Some(index(meta_len + 19)), 3);
    assert_eq!(open(&shifted).source, IndexSource::Scan);
    // The same index on a file cut short points past its end: a scan replaces it.
    let cut = &file[..file.len() / 2];
    let info = open(cut);
    assert_eq!(info.source, IndexSource::Scan);
    assert!(info.seek_points.len() < keys2.len());
}

#[test]
fn inconsistent_metadata_index_falls_back_to_a_scan() {
    let bad = Amf0Object::new().with("duration", 3.0).with(
        "keyframes",
        Amf0Value::Object(
            Amf0Object::new()
                .with(
                    "times",
                    Amf0Value::StrictArray(vec![Amf0Value::Number(0.0), Amf0Value::Number(1.0)]),
                )
                .with(
                    "filepositions",
                    Amf0Value::StrictArray(vec![
                        Amf0Value::Number(900.0),
                        Amf0Value::Number(100.0),
                    ]),
                ),
        ),
    );
    let (file, _) = sample(Some(bad), 3);
    let info = open(&file);
    assert_eq!(info.source, IndexSource::Scan);
    assert_eq!(info.seek_points.len(), 3);
    assert_eq!(info.metadata.unwrap().get_number("duration"), Some(3.0));
}

#[test]
fn torn_file_is_read_up_to_its_last_whole_tag() {
    let (file, _) = sample(None, 2);
    let whole = open(&file);
    // Cut inside the last tag: the tag before it ends the file.
    let cut = &file[..file.len() - 6];
    let info = open(cut);
    assert!(info.end < cut.len() as u64);
    // The last tag (audio at 1980 ms) is torn; the audio tag at 1960 ms is the last whole one.
    assert_eq!(info.duration_ms, 1960);
    let mut stream = FlvTagStream::new(info.data_start, info.end, 1 << 20);
    let mut buf = BytesMut::from(&cut[info.data_start as usize..]);
    let mut n = 0;
    let mut last = 0;
    while let Some(t) = stream.decode(&mut buf).unwrap() {
        n += 1;
        last = t.timestamp;
    }
    assert!(stream.is_done());
    assert_eq!(last, info.duration_ms);
    let mut all = FlvTagStream::new(whole.data_start, whole.end, 1 << 20);
    let mut buf = BytesMut::from(&file[whole.data_start as usize..]);
    let mut total = 0;
    while all.decode(&mut buf).unwrap().is_some() {
        total += 1;
    }
    assert_eq!(n + 1, total);
}

#[test]
fn tag_stream_limits_and_partial_input() {
    let file = hx("09 000005 000028 00 000000 1701000000 00000010 \
                   08 000002 00003c 00 000000 af01 0000000d");
    let mut s = FlvTagStream::new(0, file.len() as u64, 4);
    let mut buf = BytesMut::from(&file[..]);
    assert!(matches!(
        s.decode(&mut buf),
        Err(FlvError::TagTooLarge { size: 5, limit: 4 })
    ));
    let mut s = FlvTagStream::new(0, file.len() as u64, 1 << 20);
    let mut buf = BytesMut::new();
    let mut tags = Vec::new();
    for b in &file {
        buf.extend_from_slice(&[*b]);
        while let Some(t) = s.decode(&mut buf).unwrap() {
            tags.push(t);
        }
    }
    assert_eq!(tags.len(), 2);
    assert_eq!(tags[0].timestamp, 40);
    assert_eq!(&tags[1].data[..], &[0xaf, 0x01]);
    assert_eq!(s.position(), file.len() as u64);
    assert!(s.is_done());
}

proptest! {
    /// Whatever the read size and wherever the file is cut, the opener ends at a tag boundary
    /// no later than the cut, its seek points are keyframes of the whole file (once one is
    /// there), and the tag
    /// stream reads exactly the whole tags before the cut.
    #[test]
    fn any_cut_and_read_size(cut in 0usize..4000, chunk in 1usize..300) {
        let (file, keys) = sample(None, 2);
        let cut = &file[..cut.min(file.len())];
        if cut.len() < 9 {
            return Ok(());
        }
        let info = open_with(cut, chunk);
        prop_assert!(info.end <= cut.len() as u64);
        // Keyframes once one is in the cut part (before that, audio seek points).
        if info.seek_points.iter().any(|p| keys.contains(p)) {
            for p in &info.seek_points {
                prop_assert!(keys.contains(p));
            }
        }
        prop_assert!(info.seek_points.windows(2).all(|w| w[0].pos < w[1].pos));
        let mut s = FlvTagStream::new(info.data_start, info.end, 1 << 20);
        let mut buf = BytesMut::from(cut.get(info.data_start as usize..).unwrap_or(&[]));
        let mut last_end = info.data_start.min(info.end);
        while s.decode(&mut buf).unwrap().is_some() {
            last_end = s.position();
        }
        prop_assert!(last_end <= info.end);
        prop_assert!(s.is_done());
    }
}
