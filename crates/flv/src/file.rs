//! FLV file structures of the FLV specification v10.1, Annex E.2-E.4.1: the 9-byte FLV header,
//! the 11-byte tag header (`Reserved:UB[2] Filter:UB[1] TagType:UB[5] DataSize:UI24
//! Timestamp:UI24 TimestampExtended:UI8 StreamID:UI24`), `PreviousTagSize:UI32` back-pointers,
//! and the limits applied while reading them.

use bytes::{BufMut, Bytes};

use crate::read::ByteReader;
use crate::FlvError;

/// Size of the FLV header of version 1 (and the smallest valid DataOffset).
pub const FLV_HEADER_SIZE: u32 = 9;
/// Size of an FLV tag header.
pub const TAG_HEADER_SIZE: usize = 11;
/// Largest DataSize a tag can declare (UI24).
pub const MAX_TAG_DATA_SIZE: u32 = 0x00ff_ffff;

/// Limits and parsing options for FLV data read from a peer or file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvLimits {
    /// Largest tag DataSize accepted. Default: 16 MiB - 1 (0xFFFFFF), the most the UI24 field
    /// can express, i.e. no extra restriction; lower it to bound the demuxer's buffer.
    pub max_tag_size: u32,
    /// Largest DataOffset accepted in the FLV header (bytes skipped after it are consumed
    /// incrementally, never buffered). Default: 1024.
    pub max_data_offset: u32,
    /// Largest number of ModEx entries in one enhanced audio/video header. Default: 8.
    pub max_mod_ex_entries: usize,
    /// Largest number of NAL units accepted in one HEVCDecoderConfigurationRecord (its counts
    /// are UI16, so without a bound a record of zero-length NAL units would cost far more memory
    /// than its size). Real encoders send 3 to 5. Default: 64.
    pub max_parameter_sets: usize,
    /// Whether a PreviousTagSize that differs from 11 + DataSize of the previous tag is an error
    /// ([`FlvError::PreviousTagSizeMismatch`]). Default: `false` (lenient: many writers get it
    /// wrong; mismatches are only counted, see `FlvDemuxer::previous_tag_size_mismatches`).
    pub strict_previous_tag_size: bool,
}

impl Default for FlvLimits {
    fn default() -> Self {
        FlvLimits {
            max_tag_size: MAX_TAG_DATA_SIZE,
            max_data_offset: 1024,
            max_mod_ex_entries: 8,
            max_parameter_sets: 64,
            strict_previous_tag_size: false,
        }
    }
}

/// The FLV file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlvHeader {
    /// File version (1 for all known files).
    pub version: u8,
    /// TypeFlagsAudio.
    pub has_audio: bool,
    /// TypeFlagsVideo.
    pub has_video: bool,
    /// DataOffset: size of the header, 9 for version 1.
    pub data_offset: u32,
}

impl FlvHeader {
    /// A version 1 header with DataOffset 9.
    pub fn new(has_audio: bool, has_video: bool) -> Self {
        FlvHeader {
            version: 1,
            has_audio,
            has_video,
            data_offset: FLV_HEADER_SIZE,
        }
    }

    /// Parses the 9-byte header at the start of `buf`. Reserved flag bits are ignored; the
    /// DataOffset must be at least 9 (bytes beyond 9 are not inspected here).
    pub fn parse(buf: &[u8]) -> Result<FlvHeader, FlvError> {
        let mut r = ByteReader::new(buf, "FLV header");
        let sig: [u8; 3] = r.array()?;
        if &sig != b"FLV" {
            return Err(FlvError::BadSignature(sig));
        }
        let version = r.u8()?;
        let flags = r.u8()?;
        let data_offset = r.u32()?;
        if data_offset < FLV_HEADER_SIZE {
            return Err(FlvError::DataOffsetTooSmall(data_offset));
        }
        Ok(FlvHeader {
            version,
            has_audio: flags & 0x04 != 0,
            has_video: flags & 0x01 != 0,
            data_offset,
        })
    }

    /// Writes the header, zero padding up to DataOffset (a DataOffset below 9 is written as 9),
    /// and PreviousTagSize0 (four zero bytes).
    pub fn write(&self, out: &mut impl BufMut) {
        let offset = self.data_offset.max(FLV_HEADER_SIZE);
        out.put_slice(b"FLV");
        out.put_u8(self.version);
        out.put_u8(u8::from(self.has_audio) << 2 | u8::from(self.has_video));
        out.put_u32(offset);
        out.put_bytes(0, (offset - FLV_HEADER_SIZE) as usize);
        out.put_u32(0);
    }
}

/// FLV `TagType` (`UB[5]`); equals the RTMP message type id of the same data.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagType(pub u8);

impl TagType {
    /// Audio data.
    pub const AUDIO: TagType = TagType(8);
    /// Video data.
    pub const VIDEO: TagType = TagType(9);
    /// AMF3-encoded script data (Enhanced RTMP addition).
    pub const SCRIPT_AMF3: TagType = TagType(15);
    /// AMF0-encoded script data.
    pub const SCRIPT: TagType = TagType(18);

    /// A name for known tag types.
    pub const fn name(self) -> Option<&'static str> {
        match self.0 {
            8 => Some("Audio"),
            9 => Some("Video"),
            15 => Some("ScriptAmf3"),
            18 => Some("Script"),
            _ => None,
        }
    }
}

impl std::fmt::Debug for TagType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(n) => write!(f, "TagType::{n}({})", self.0),
            None => write!(f, "TagType({})", self.0),
        }
    }
}

/// One FLV tag: header fields and the tag body (for audio/video exactly the RTMP message
/// payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    /// TagType.
    pub tag_type: TagType,
    /// Timestamp in ms: UI24 plus TimestampExtended as the upper 8 bits.
    pub timestamp: u32,
    /// StreamID (always 0 in files).
    pub stream_id: u32,
    /// Filter bit: the body is pre-processed (encrypted) and starts with filter parameters.
    pub filter: bool,
    /// Tag body.
    pub data: Bytes,
}

impl FlvTag {
    /// Size of the whole tag on disk without its trailing PreviousTagSize (11 + DataSize).
    pub fn size_on_disk(&self) -> usize {
        TAG_HEADER_SIZE + self.data.len()
    }
}

/// Parsed 11-byte tag header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TagHeader {
    pub filter: bool,
    pub tag_type: TagType,
    pub data_size: u32,
    pub timestamp: u32,
    pub stream_id: u32,
}

impl TagHeader {
    pub(crate) fn parse(b: &[u8; TAG_HEADER_SIZE]) -> TagHeader {
        let [b0, s0, s1, s2, t0, t1, t2, tx, i0, i1, i2] = *b;
        TagHeader {
            filter: b0 & 0x20 != 0,
            tag_type: TagType(b0 & 0x1f),
            data_size: u32::from_be_bytes([0, s0, s1, s2]),
            timestamp: u32::from_be_bytes([tx, t0, t1, t2]),
            stream_id: u32::from_be_bytes([0, i0, i1, i2]),
        }
    }
}

/// Writes the 11-byte tag header alone (FLV v10.1 Annex E.4.1): for writers that send the body
/// as a separate shared buffer. The caller has checked the ranges [`encode_tag`] checks
/// (`data_size` and `stream_id` in 24 bits, `tag_type` in 5); wider values are truncated.
pub fn put_tag_header(
    out: &mut impl BufMut,
    filter: bool,
    tag_type: TagType,
    data_size: u32,
    timestamp: u32,
    stream_id: u32,
) {
    let ts = timestamp.to_be_bytes();
    out.put_u8(u8::from(filter) << 5 | (tag_type.0 & 0x1f));
    out.put_uint(u64::from(data_size & 0x00ff_ffff), 3);
    out.put_slice(&[ts[1], ts[2], ts[3], ts[0]]);
    out.put_uint(u64::from(stream_id & 0x00ff_ffff), 3);
}

/// Writes `tag` (11-byte header + data) and its PreviousTagSize (11 + DataSize).
///
/// Fails with [`FlvError::FieldTooWide`] (writing nothing) if the data is longer than
/// 0xFFFFFF bytes, the stream id does not fit 24 bits or the tag type does not fit 5 bits.
pub fn encode_tag(tag: &FlvTag, out: &mut impl BufMut) -> Result<(), FlvError> {
    let size = tag.data.len() as u64;
    if size > u64::from(MAX_TAG_DATA_SIZE) {
        return Err(FlvError::FieldTooWide {
            field: "tag DataSize",
            value: size,
            bits: 24,
        });
    }
    if tag.stream_id > 0x00ff_ffff {
        return Err(FlvError::FieldTooWide {
            field: "tag StreamID",
            value: u64::from(tag.stream_id),
            bits: 24,
        });
    }
    if tag.tag_type.0 > 0x1f {
        return Err(FlvError::FieldTooWide {
            field: "TagType",
            value: u64::from(tag.tag_type.0),
            bits: 5,
        });
    }
    put_tag_header(
        out,
        tag.filter,
        tag.tag_type,
        size as u32,
        tag.timestamp,
        tag.stream_id,
    );
    out.put_slice(&tag.data);
    out.put_u32((TAG_HEADER_SIZE as u64 + size) as u32);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hx;

    #[test]
    fn header_round_trip() {
        let h = FlvHeader::new(true, true);
        let mut out = Vec::new();
        h.write(&mut out);
        assert_eq!(out, hx("464c5601 05 00000009 00000000"));
        assert_eq!(FlvHeader::parse(&out).unwrap(), h);
        let v = FlvHeader::parse(&hx("464c5601 01 00000009")).unwrap();
        assert!(v.has_video && !v.has_audio);
    }

    #[test]
    fn header_padding_and_errors() {
        let h = FlvHeader {
            data_offset: 12,
            ..FlvHeader::new(false, true)
        };
        let mut out = Vec::new();
        h.write(&mut out);
        assert_eq!(out, hx("464c5601 01 0000000c 000000 00000000"));
        assert!(matches!(
            FlvHeader::parse(&hx("464c5801 01 00000009")),
            Err(FlvError::BadSignature(s)) if &s == b"FLX"
        ));
        assert!(matches!(
            FlvHeader::parse(&hx("464c5601 01 00000008")),
            Err(FlvError::DataOffsetTooSmall(8))
        ));
        assert!(matches!(
            FlvHeader::parse(&hx("464c5601 01 0000")),
            Err(FlvError::Truncated { .. })
        ));
    }

    #[test]
    fn tag_encoding_layout() {
        // audio tag at 0x12345678 ms: timestamp low 24 bits then extended byte 0x12
        let tag = FlvTag {
            tag_type: TagType::AUDIO,
            timestamp: 0x1234_5678,
            stream_id: 0,
            filter: false,
            data: Bytes::from_static(&[0xaf, 0x01]),
        };
        let mut out = Vec::new();
        encode_tag(&tag, &mut out).unwrap();
        assert_eq!(out, hx("08 000002 345678 12 000000 af01 0000000d"));
        let hdr: [u8; 11] = out[..11].try_into().unwrap();
        let th = TagHeader::parse(&hdr);
        assert_eq!(th.timestamp, 0x1234_5678);
        assert_eq!(th.data_size, 2);
        assert_eq!(th.tag_type, TagType::AUDIO);
        assert!(!th.filter);
    }

    #[test]
    fn tag_encoding_rejects_wide_fields() {
        let mut tag = FlvTag {
            tag_type: TagType(32),
            timestamp: 0,
            stream_id: 0,
            filter: true,
            data: Bytes::new(),
        };
        let mut out = Vec::new();
        assert!(matches!(
            encode_tag(&tag, &mut out),
            Err(FlvError::FieldTooWide { bits: 5, .. })
        ));
        tag.tag_type = TagType::SCRIPT;
        tag.stream_id = 1 << 24;
        assert!(matches!(
            encode_tag(&tag, &mut out),
            Err(FlvError::FieldTooWide { bits: 24, .. })
        ));
        assert!(out.is_empty());
        tag.stream_id = 0;
        tag.data = Bytes::from(vec![0u8; MAX_TAG_DATA_SIZE as usize + 1]);
        assert!(matches!(
            encode_tag(&tag, &mut out),
            Err(FlvError::FieldTooWide {
                field: "tag DataSize",
                ..
            })
        ));
        tag.data = Bytes::new();
        encode_tag(&tag, &mut out).unwrap();
        assert_eq!(out, hx("32 000000 000000 00 000000 0000000b"));
    }
}
