//! FourCC codec identifiers of Enhanced RTMP v2 (sections "Enhanced Audio" / "Enhanced Video":
//! `enum AudioFourCc`, `enum VideoFourCc`). A FOURCC is four ASCII bytes sent as a UI32.

use std::fmt;

/// A four-character code, kept as the raw bytes so unknown codes survive unchanged.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FourCc(pub [u8; 4]);

impl FourCc {
    /// H.264 / AVC video.
    pub const AVC1: FourCc = FourCc(*b"avc1");
    /// H.265 / HEVC video.
    pub const HVC1: FourCc = FourCc(*b"hvc1");
    /// H.266 / VVC video.
    pub const VVC1: FourCc = FourCc(*b"vvc1");
    /// AV1 video.
    pub const AV01: FourCc = FourCc(*b"av01");
    /// VP9 video.
    pub const VP09: FourCc = FourCc(*b"vp09");
    /// VP8 video.
    pub const VP08: FourCc = FourCc(*b"vp08");
    /// AAC audio.
    pub const MP4A: FourCc = FourCc(*b"mp4a");
    /// Opus audio.
    pub const OPUS: FourCc = FourCc(*b"Opus");
    /// FLAC audio.
    pub const FLAC: FourCc = FourCc(*b"fLaC");
    /// AC-3 audio.
    pub const AC3: FourCc = FourCc(*b"ac-3");
    /// E-AC-3 audio.
    pub const EC3: FourCc = FourCc(*b"ec-3");
    /// MP3 audio.
    pub const MP3: FourCc = FourCc(*b".mp3");

    /// The code as the big-endian UI32 used on the wire and in `videocodecid`/`audiocodecid`.
    pub const fn to_u32(self) -> u32 {
        u32::from_be_bytes(self.0)
    }

    /// The code from its big-endian UI32 value.
    pub const fn from_u32(v: u32) -> FourCc {
        FourCc(v.to_be_bytes())
    }

    /// Whether this video codec carries an SI24 composition time in `CodedFrames` packets
    /// (Enhanced RTMP: avc1, hvc1 and vvc1 do; `CodedFramesX` never does).
    pub const fn has_composition_time(self) -> bool {
        matches!(&self.0, b"avc1" | b"hvc1" | b"vvc1")
    }
}

impl From<[u8; 4]> for FourCc {
    fn from(b: [u8; 4]) -> Self {
        FourCc(b)
    }
}

impl fmt::Display for FourCc {
    /// Prints the four characters; bytes outside printable ASCII are shown as `\xNN`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in &self.0 {
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FourCc(\"{self}\")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_debug() {
        assert_eq!(FourCc::AC3.to_string(), "ac-3");
        assert_eq!(format!("{:?}", FourCc::MP3), "FourCc(\".mp3\")");
        assert_eq!(FourCc([0, b'a', 0xff, b'b']).to_string(), "\\x00a\\xffb");
    }

    #[test]
    fn u32_round_trip() {
        assert_eq!(FourCc::AV01.to_u32(), 0x6176_3031);
        assert_eq!(FourCc::from_u32(0x6876_6331), FourCc::HVC1);
    }

    #[test]
    fn composition_time_codecs() {
        assert!(FourCc::AVC1.has_composition_time());
        assert!(FourCc::HVC1.has_composition_time());
        assert!(FourCc::VVC1.has_composition_time());
        assert!(!FourCc::AV01.has_composition_time());
        assert!(!FourCc::VP09.has_composition_time());
    }
}
