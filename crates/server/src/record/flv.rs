//! The FLV file of a recording (FLV v10.1 Annex E): header, a padded `onMetaData`, then every
//! tag in order with its PreviousTagSize.
//!
//! A file is readable from its first byte at any moment (a server killed with `-9` leaves a
//! file that plays up to its last write: FLV needs no trailer). When it closes, the
//! `onMetaData` at offset 13 is rewritten in place with `duration`, `filesize`, the codecs and
//! a keyframe index (`keyframes: {times: [s...], filepositions: [bytes...]}`, the layout
//! ffmpeg, flv.js and Flash players read to seek without scanning), and the header's
//! audio/video flags are set to what was written. Room for the index is reserved when the file
//! is created: the tag's body is sized for `index_entries` keyframes and padded with a trailing
//! AMF0 long string of spaces (one value, which readers of `onMetaData` ignore). A longer file
//! keeps an evenly spaced subset of its keyframes, so the index always fits.
//!
//! `append` reopens a file, drops a torn last tag (a crash mid-write), rebuilds the keyframe
//! index by scanning the tags and continues after the last timestamp.

use bytes::{BufMut, BytesMut};
use sluice_amf::{amf0_encode, Amf0Object, Amf0Value};
use sluice_flv::{parse_script, put_tag_header, TagType, FLV_HEADER_SIZE, TAG_HEADER_SIZE};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Where the `onMetaData` tag starts: after the 9-byte header and PreviousTagSize0.
pub const META_TAG_POS: u64 = FLV_HEADER_SIZE as u64 + 4;

/// Bytes added to the reservation beyond what a full index needs (publisher metadata that
/// grows, longer numbers never happen: AMF0 numbers are 9 bytes).
const META_SLACK: usize = 512;

/// The keyframes written so far: file time in ms and the offset of each keyframe's tag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyframeIndex {
    /// Timestamps (ms, in the file's timeline).
    pub times_ms: Vec<u32>,
    /// Byte offsets of the tags.
    pub positions: Vec<u64>,
}

impl KeyframeIndex {
    /// At most `max` entries, evenly spaced, the first always kept.
    pub fn thinned(&self, max: usize) -> KeyframeIndex {
        let n = self.times_ms.len();
        if n <= max {
            return self.clone();
        }
        let mut out = KeyframeIndex::default();
        for i in 0..max {
            let j = i * n / max;
            out.times_ms.push(self.times_ms[j]);
            out.positions.push(self.positions[j]);
        }
        out
    }

    fn push(&mut self, time_ms: u32, pos: u64) {
        self.times_ms.push(time_ms);
        self.positions.push(pos);
    }
}

/// What the final `onMetaData` says besides the publisher's own properties.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Last timestamp written (ms).
    pub duration_ms: u32,
    /// File size in bytes.
    pub filesize: u64,
    /// Whether video / audio tags were written.
    pub has_video: bool,
    /// See `has_video`.
    pub has_audio: bool,
}

/// The `onMetaData` tag body: the publisher's properties overridden by ours, then the index.
/// `None` summary: the first version, without duration and index.
pub fn metadata_body(
    publisher: &Amf0Object,
    summary: Option<&Summary>,
    index: &KeyframeIndex,
) -> BytesMut {
    let mut obj = Amf0Object::new();
    for (k, v) in publisher.iter() {
        if !matches!(k, "duration" | "filesize" | "keyframes" | "lasttimestamp") {
            obj.insert(k, v.clone());
        }
    }
    obj.insert("metadatacreator", "sluice");
    if let Some(s) = summary {
        obj.insert("duration", f64::from(s.duration_ms) / 1000.0);
        obj.insert("lasttimestamp", f64::from(s.duration_ms) / 1000.0);
        obj.insert("filesize", s.filesize as f64);
        obj.insert("hasVideo", s.has_video);
        obj.insert("hasAudio", s.has_audio);
        obj.insert("hasKeyframes", !index.times_ms.is_empty());
        let times = index
            .times_ms
            .iter()
            .map(|t| Amf0Value::Number(f64::from(*t) / 1000.0))
            .collect();
        let positions = index
            .positions
            .iter()
            .map(|p| Amf0Value::Number(*p as f64))
            .collect();
        obj.insert(
            "keyframes",
            Amf0Object::new()
                .with("times", Amf0Value::StrictArray(times))
                .with("filepositions", Amf0Value::StrictArray(positions)),
        );
    }
    let mut out = BytesMut::new();
    amf0_encode(&Amf0Value::String("onMetaData".into()), &mut out);
    amf0_encode(&Amf0Value::EcmaArray(obj), &mut out);
    out
}

/// Pads `body` to exactly `size` bytes with AMF0 values readers ignore: a long string of
/// spaces (5 bytes of marker and length, then the spaces), or up to 4 nulls for a smaller gap.
/// `false` if `body` is already longer.
pub fn pad_to(body: &mut BytesMut, size: usize) -> bool {
    let Some(gap) = size.checked_sub(body.len()) else {
        return false;
    };
    if gap >= 5 {
        body.put_u8(0x0C);
        body.put_u32((gap - 5) as u32);
        body.put_bytes(b' ', gap - 5);
    } else {
        body.put_bytes(0x05, gap);
    }
    true
}

/// The body size reserved for `onMetaData` with `entries` keyframes.
pub fn reserved_size(publisher: &Amf0Object, entries: usize) -> usize {
    let full = KeyframeIndex {
        times_ms: vec![0; entries],
        positions: vec![0; entries],
    };
    metadata_body(publisher, Some(&Summary::default()), &full).len() + META_SLACK
}

/// One 11-byte header + body + PreviousTagSize, as bytes.
fn put_tag(out: &mut impl BufMut, tag_type: TagType, ts: u32, body: &[u8]) {
    put_tag_header(out, false, tag_type, body.len() as u32, ts, 0);
    out.put_slice(body);
    out.put_u32((TAG_HEADER_SIZE + body.len()) as u32);
}

/// An FLV recording being written.
#[derive(Debug)]
pub struct FlvFile {
    out: BufWriter<File>,
    /// Bytes in the file (the next tag's offset).
    pos: u64,
    /// Body size of the `onMetaData` tag at [`META_TAG_POS`], when the file has ours.
    meta_reserved: Option<usize>,
    index_entries: usize,
    publisher_meta: Amf0Object,
    index: KeyframeIndex,
    last_ts: u32,
    has_video: bool,
    has_audio: bool,
}

impl FlvFile {
    /// Creates (or truncates) `path` and writes the header and the padded `onMetaData`.
    pub fn create(
        path: &Path,
        publisher_meta: Amf0Object,
        has_audio: bool,
        has_video: bool,
        index_entries: usize,
    ) -> io::Result<FlvFile> {
        let file = File::create(path)?;
        let mut head = BytesMut::new();
        // The header and PreviousTagSize0.
        sluice_flv::FlvHeader::new(has_audio, has_video).write(&mut head);
        let reserved = reserved_size(&publisher_meta, index_entries);
        let mut body = metadata_body(&publisher_meta, None, &KeyframeIndex::default());
        pad_to(&mut body, reserved);
        put_tag(&mut head, TagType::SCRIPT, 0, &body);
        let mut out = BufWriter::with_capacity(256 * 1024, file);
        out.write_all(&head)?;
        out.flush()?;
        Ok(FlvFile {
            out,
            pos: head.len() as u64,
            meta_reserved: Some(reserved),
            index_entries,
            publisher_meta,
            index: KeyframeIndex::default(),
            last_ts: 0,
            has_video: false,
            has_audio: false,
        })
    }

    /// Opens `path` to add to it (see the module docs). `Ok(None)` when it does not exist.
    pub fn append(path: &Path, index_entries: usize) -> io::Result<Option<FlvFile>> {
        let mut file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let scan = scan(&mut file)?;
        file.set_len(scan.end)?;
        file.seek(SeekFrom::Start(scan.end))?;
        Ok(Some(FlvFile {
            out: BufWriter::with_capacity(256 * 1024, file),
            pos: scan.end,
            meta_reserved: scan.meta_reserved,
            index_entries,
            publisher_meta: scan.publisher_meta,
            index: scan.index,
            last_ts: scan.last_ts,
            has_video: scan.has_video,
            has_audio: scan.has_audio,
        }))
    }

    /// The last timestamp in the file (an appended recording continues after it).
    pub fn last_ts(&self) -> u32 {
        self.last_ts
    }

    /// The publisher's metadata changed: the final `onMetaData` is built from this.
    pub fn set_publisher_meta(&mut self, meta: Amf0Object) {
        self.publisher_meta = meta;
    }

    /// Bytes in the file.
    pub fn len(&self) -> u64 {
        self.pos
    }

    /// True before anything but the header was written (never, in practice).
    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }

    /// Writes one tag (`ts` in the file's timeline); `keyframe` adds it to the index.
    pub fn write_tag(
        &mut self,
        tag_type: TagType,
        ts: u32,
        body: &[u8],
        keyframe: bool,
    ) -> io::Result<()> {
        if keyframe {
            self.index.push(ts, self.pos);
        }
        match tag_type {
            TagType::VIDEO => self.has_video = true,
            TagType::AUDIO => self.has_audio = true,
            _ => {}
        }
        let mut head = [0u8; TAG_HEADER_SIZE];
        put_tag_header(
            &mut &mut head[..],
            false,
            tag_type,
            body.len() as u32,
            ts,
            0,
        );
        self.out.write_all(&head)?;
        self.out.write_all(body)?;
        self.out
            .write_all(&((TAG_HEADER_SIZE + body.len()) as u32).to_be_bytes())?;
        self.pos += (TAG_HEADER_SIZE + body.len() + 4) as u64;
        self.last_ts = self.last_ts.max(ts);
        Ok(())
    }

    /// Hands buffered tags to the OS (a crash after this loses nothing written so far).
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Writes the final `onMetaData` and header flags, syncs and closes. Returns the summary;
    /// `Ok` with the index left out when it could not fit (logged by the caller from
    /// `index_written`).
    pub fn finish(mut self) -> io::Result<(Summary, bool)> {
        self.out.flush()?;
        let summary = Summary {
            duration_ms: self.last_ts,
            filesize: self.pos,
            has_video: self.has_video,
            has_audio: self.has_audio,
        };
        let file = self.out.get_mut();
        let mut flags = 0u8;
        if summary.has_audio {
            flags |= 0x04;
        }
        if summary.has_video {
            flags |= 0x01;
        }
        if flags != 0 {
            file.seek(SeekFrom::Start(4))?;
            file.write_all(&[flags])?;
        }
        let mut written = false;
        if let Some(reserved) = self.meta_reserved {
            let mut max = self.index_entries.min(self.index.times_ms.len());
            loop {
                let index = self.index.thinned(max);
                let mut body = metadata_body(&self.publisher_meta, Some(&summary), &index);
                if pad_to(&mut body, reserved) {
                    file.seek(SeekFrom::Start(META_TAG_POS + TAG_HEADER_SIZE as u64))?;
                    file.write_all(&body)?;
                    written = true;
                    break;
                }
                if max == 0 {
                    break;
                }
                max /= 2;
            }
        }
        file.sync_all()?;
        Ok((summary, written))
    }
}

/// What scanning an existing file found.
#[derive(Debug, Default)]
struct Scan {
    end: u64,
    meta_reserved: Option<usize>,
    publisher_meta: Amf0Object,
    index: KeyframeIndex,
    last_ts: u32,
    has_video: bool,
    has_audio: bool,
}

/// Reads the tags of an FLV file: where the last whole tag ends, its `onMetaData` (if it is
/// the first tag) and its keyframes.
fn scan(file: &mut File) -> io::Result<Scan> {
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(0))?;
    let mut r = io::BufReader::new(&mut *file);
    let mut head = [0u8; 13];
    r.read_exact(&mut head)?;
    if &head[..3] != b"FLV" {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not an FLV file (cannot append to it)",
        ));
    }
    let mut s = Scan {
        end: META_TAG_POS,
        ..Scan::default()
    };
    let mut pos = META_TAG_POS;
    loop {
        let mut th = [0u8; TAG_HEADER_SIZE];
        if pos + TAG_HEADER_SIZE as u64 + 4 > len || r.read_exact(&mut th).is_err() {
            break;
        }
        let size = u32::from_be_bytes([0, th[1], th[2], th[3]]) as u64;
        let ts = u32::from_be_bytes([th[7], th[4], th[5], th[6]]);
        if pos + TAG_HEADER_SIZE as u64 + size + 4 > len {
            break; // torn by a crash
        }
        let mut body = vec![0u8; size as usize];
        r.read_exact(&mut body)?;
        let mut pts = [0u8; 4];
        r.read_exact(&mut pts)?;
        match TagType(th[0] & 0x1f) {
            TagType::VIDEO => {
                s.has_video = true;
                let info = sluice_flv::classify_video(&body);
                if info.is_keyframe && !info.is_sequence_header && !info.is_command {
                    s.index.push(ts, pos);
                }
            }
            TagType::AUDIO => s.has_audio = true,
            TagType::SCRIPT if pos == META_TAG_POS => {
                if let Ok(sd) = parse_script(&body) {
                    if sd.name == "onMetaData" {
                        s.publisher_meta = sd.metadata().cloned().unwrap_or_default();
                        s.meta_reserved = Some(body.len());
                    }
                }
            }
            _ => {}
        }
        s.last_ts = s.last_ts.max(ts);
        pos += TAG_HEADER_SIZE as u64 + size + 4;
        s.end = pos;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_metadata_is_padded_to_the_reservation() {
        let meta = Amf0Object::new().with("width", 320.0);
        let reserved = reserved_size(&meta, 2);
        let mut body = metadata_body(&meta, None, &KeyframeIndex::default());
        assert!(pad_to(&mut body, reserved));
        assert_eq!(body.len(), reserved);
        // "onMetaData", then the ECMA array, then the padding string (one value).
        let sd = parse_script(&body).unwrap();
        assert_eq!(sd.name, "onMetaData");
        assert_eq!(sd.values.len(), 2);
        assert_eq!(sd.metadata().unwrap().get_number("width"), Some(320.0));
        assert!(matches!(&sd.values[1], Amf0Value::String(s) if s.bytes().all(|b| b == b' ')));
    }

    #[test]
    fn small_gaps_pad_with_nulls() {
        let mut b = BytesMut::from(&[1u8, 2][..]);
        assert!(pad_to(&mut b, 5));
        assert_eq!(&b[..], &[1, 2, 5, 5, 5]);
        let mut b = BytesMut::from(&[0u8; 4][..]);
        assert!(pad_to(&mut b, 9));
        assert_eq!(&b[..], &[0, 0, 0, 0, 0x0C, 0, 0, 0, 0]);
        assert!(!pad_to(&mut b, 3));
    }

    #[test]
    fn index_bytes() {
        let index = KeyframeIndex {
            times_ms: vec![0, 2000],
            positions: vec![13, 4096],
        };
        let summary = Summary {
            duration_ms: 2500,
            filesize: 5000,
            has_video: true,
            has_audio: false,
        };
        let body = metadata_body(&Amf0Object::new(), Some(&summary), &index);
        let hex = hex::encode(&body);
        // "keyframes" object: times [0.0, 2.0], filepositions [13.0, 4096.0].
        let keyframes = concat!(
            "00096b65796672616d657303",                 // "keyframes" Object
            "000574696d65730a00000002",                 // "times" StrictArray(2)
            "000000000000000000",                       // 0.0
            "004000000000000000",                       // 2.0
            "000d66696c65706f736974696f6e730a00000002", // "filepositions" StrictArray(2)
            "00402a000000000000",                       // 13.0
            "0040b0000000000000",                       // 4096.0
            "000009",                                   // object end
        );
        assert!(hex.contains(keyframes), "{hex}");
        // "duration" 2.5
        assert!(hex.contains("00086475726174696f6e004004000000000000"));
        let sd = parse_script(&body).unwrap();
        let kf = sd.metadata().unwrap().get("keyframes").unwrap();
        assert!(kf.as_object().is_some());
    }

    #[test]
    fn thinning_keeps_the_first_and_spreads() {
        let index = KeyframeIndex {
            times_ms: (0..10).map(|i| i * 1000).collect(),
            positions: (0..10).map(|i| i * 100).collect(),
        };
        let t = index.thinned(3);
        assert_eq!(t.times_ms, [0, 3000, 6000]);
        assert_eq!(t.positions, [0, 300, 600]);
        assert_eq!(index.thinned(20), index);
    }

    #[test]
    fn a_file_closes_with_its_index_and_appends_after_a_torn_tag() {
        let dir = std::env::temp_dir().join(format!("sluice-flv-rec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.flv");
        let mut f = FlvFile::create(&path, Amf0Object::new(), true, true, 16).unwrap();
        let key = [0x17, 0x01, 0, 0, 0, 0xAA];
        let inter = [0x27, 0x01, 0, 0, 0, 0xBB];
        let first_key_pos = f.len();
        f.write_tag(TagType::VIDEO, 0, &key, true).unwrap();
        f.write_tag(TagType::VIDEO, 40, &inter, false).unwrap();
        let second_key_pos = f.len();
        f.write_tag(TagType::VIDEO, 1000, &key, true).unwrap();
        let (summary, written) = f.finish().unwrap();
        assert!(written);
        assert_eq!(summary.duration_ms, 1000);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes[4], 0x01, "video only, as written");
        assert_eq!(summary.filesize, bytes.len() as u64);
        let tag_at = |p: u64| bytes[p as usize];
        assert_eq!(tag_at(first_key_pos), 9);
        let body_len = u32::from_be_bytes([0, bytes[14], bytes[15], bytes[16]]) as usize;
        let sd = parse_script(&bytes[24..24 + body_len]).unwrap();
        let kf = sd
            .metadata()
            .unwrap()
            .get("keyframes")
            .unwrap()
            .as_object()
            .unwrap();
        let Some(Amf0Value::StrictArray(pos)) = kf.get("filepositions") else {
            panic!("no filepositions");
        };
        assert_eq!(pos[0].as_f64(), Some(first_key_pos as f64));
        assert_eq!(pos[1].as_f64(), Some(second_key_pos as f64));

        // A torn tag at the end (a crash mid-write) is dropped on append.
        let mut torn = bytes.clone();
        torn.extend_from_slice(&[9, 0, 0, 50, 0, 0]);
        std::fs::write(&path, &torn).unwrap();
        let mut f = FlvFile::append(&path, 16).unwrap().unwrap();
        assert_eq!(f.len(), bytes.len() as u64);
        assert_eq!(f.last_ts(), 1000);
        f.write_tag(TagType::VIDEO, 1041, &key, true).unwrap();
        let (summary, written) = f.finish().unwrap();
        assert!(written);
        assert_eq!(summary.duration_ms, 1041);
        let bytes = std::fs::read(&path).unwrap();
        let sd = parse_script(&bytes[24..24 + body_len]).unwrap();
        let kf = sd
            .metadata()
            .unwrap()
            .get("keyframes")
            .unwrap()
            .as_object()
            .unwrap();
        let Some(Amf0Value::StrictArray(times)) = kf.get("times") else {
            panic!("no times");
        };
        assert_eq!(times.len(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
