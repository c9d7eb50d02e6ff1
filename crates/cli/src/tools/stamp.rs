//! Send-time stamps for `sluice bench` latency measurement.
//!
//! The bench publisher appends one NAL unit to every H.264 / H.265 coded-frame video message it
//! sends: a *filler data* NAL unit (H.264 type 12, H.265 type 38 `FD_NUT`), length-prefixed with
//! 4 bytes like the other NAL units of an AVCC/HVCC payload (ISO/IEC 14496-15; the 4-byte length
//! is what x264/x265 and ffmpeg write). Its body is the magic `SLBT` and the send time as a
//! big-endian u64 of microseconds on this process's monotonic clock ([`now_micros`]). Decoders
//! drop filler data, servers forward the payload untouched, and players (in the same process,
//! so on the same clock) read the last 12 bytes back ([`read_stamp`]).
//!
//! ```text
//! H.264: 00 00 00 0d | 0c       | 53 4c 42 54 | t t t t t t t t
//! H.265: 00 00 00 0e | 4c 01    | 53 4c 42 54 | t t t t t t t t
//!        NAL length  | NAL hdr  | "SLBT"      | send time, µs
//! ```
//!
//! Only legacy AVC / HEVC NALU packets and Enhanced RTMP `avc1` / `hvc1` CodedFrames(X)
//! single-track packets are stamped; other video is sent as is (latency is then not measured).
//! AAC raw audio frames get the same 12 bytes (magic and time) appended without NAL framing
//! ([`stamp_audio`]), so audio delivery latency is measured separately.

use bytes::{BufMut, Bytes, BytesMut};
use std::sync::OnceLock;
use std::time::Instant;

/// The magic before the timestamp.
pub const MAGIC: &[u8; 4] = b"SLBT";

/// Microseconds since the first call in this process (monotonic).
pub fn now_micros() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NalFlavor {
    Avc,
    Hevc,
}

fn flavor(payload: &[u8]) -> Option<NalFlavor> {
    let b0 = *payload.first()?;
    if b0 & 0x80 == 0 {
        // Legacy VideoTagHeader: codec id in the low nibble, AVCPacketType 1 = NALU.
        return match (b0 & 0x0f, payload.get(1)?) {
            (7, 1) => Some(NalFlavor::Avc),
            (12, 1) => Some(NalFlavor::Hevc),
            _ => None,
        };
    }
    // Enhanced RTMP ExVideoTagHeader: packet type in the low nibble, FourCC next (single
    // track only). 1 = CodedFrames, 3 = CodedFramesX.
    let packet_type = b0 & 0x0f;
    if packet_type != 1 && packet_type != 3 {
        return None;
    }
    match payload.get(1..5)? {
        b"avc1" => Some(NalFlavor::Avc),
        b"hvc1" => Some(NalFlavor::Hevc),
        _ => None,
    }
}

/// `payload` with the send-time trailer appended, or `None` if this message is not a frame
/// that can carry one.
pub fn stamp_video(payload: &[u8], micros: u64) -> Option<Bytes> {
    let flavor = flavor(payload)?;
    let mut out = BytesMut::with_capacity(payload.len() + 18);
    out.put_slice(payload);
    match flavor {
        NalFlavor::Avc => {
            out.put_u32(13);
            out.put_u8(0x0c);
        }
        NalFlavor::Hevc => {
            out.put_u32(14);
            out.put_u8(38 << 1);
            out.put_u8(0x01);
        }
    }
    out.put_slice(MAGIC);
    out.put_u64(micros);
    Some(out.freeze())
}

/// `payload` with the 12-byte send-time trailer (magic and time, no NAL framing) appended, if it
/// is an AAC raw frame (legacy audio tag, SoundFormat 10, AACPacketType 1); other audio is not
/// stamped. An AAC raw data block ends with its END element, so a decoder stops before the
/// trailer; the bench's own players only read it back.
pub fn stamp_audio(payload: &[u8], micros: u64) -> Option<Bytes> {
    match payload {
        [b0, 1, ..] if b0 >> 4 == 10 => {
            let mut out = BytesMut::with_capacity(payload.len() + 12);
            out.put_slice(payload);
            out.put_slice(MAGIC);
            out.put_u64(micros);
            Some(out.freeze())
        }
        _ => None,
    }
}

/// The send time carried by a stamped video or audio payload.
pub fn read_stamp(payload: &[u8]) -> Option<u64> {
    let start = payload.len().checked_sub(12)?;
    let tail = payload.get(start..)?;
    if tail.get(..4)? != MAGIC {
        return None;
    }
    let mut t = [0u8; 8];
    t.copy_from_slice(tail.get(4..12)?);
    Some(u64::from_be_bytes(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hx(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn avc_trailer_bytes() {
        // Legacy AVC inter frame, NALU packet, CTS 0, one 2-byte NAL unit.
        let frame = hx("27 01 000000 00000002 4101");
        let s = stamp_video(&frame, 0x0102_0304_0506_0708).unwrap();
        assert_eq!(
            s.as_ref(),
            hx("27 01 000000 00000002 4101 0000000d 0c 534c4254 0102030405060708").as_slice()
        );
        assert_eq!(read_stamp(&s), Some(0x0102_0304_0506_0708));
    }

    #[test]
    fn hevc_and_enhanced_trailers() {
        let legacy_hevc = hx("1c 01 000000 00000001 26");
        let s = stamp_video(&legacy_hevc, 7).unwrap();
        assert_eq!(
            &s[legacy_hevc.len()..],
            hx("0000000e 4c01 534c4254 0000000000000007").as_slice()
        );
        // Enhanced CodedFramesX (packet type 3), key frame, hvc1.
        let ex = hx("93 68766331 00000001 26");
        assert_eq!(read_stamp(&stamp_video(&ex, 9).unwrap()), Some(9));
        // Enhanced CodedFrames (1) avc1 with its 3-byte composition time.
        let ex = hx("91 61766331 000000 00000001 65");
        assert_eq!(read_stamp(&stamp_video(&ex, 10).unwrap()), Some(10));
    }

    #[test]
    fn aac_raw_trailer_bytes_and_other_audio_left_alone() {
        let raw = hx("af 01 2110");
        let s = stamp_audio(&raw, 0x0102_0304_0506_0708).unwrap();
        assert_eq!(
            s.as_ref(),
            hx("af 01 2110 534c4254 0102030405060708").as_slice()
        );
        assert_eq!(read_stamp(&s), Some(0x0102_0304_0506_0708));
        for p in [
            hx(""),
            hx("af"),
            hx("af 00 1210"),
            hx("2f 01 00"),
            hx("9f 01 00"),
        ] {
            assert!(stamp_audio(&p, 1).is_none(), "{p:02x?}");
        }
    }

    #[test]
    fn not_stamped() {
        for p in [
            hx(""),
            hx("17"),
            hx("17 00 000000 01640028"), // AVC sequence header
            hx("17 02 000000"),          // end of sequence
            hx("22 0000"),               // H.263
            hx("90 68766331 01"),        // enhanced SequenceStart
            hx("96 00 61763031"),        // multitrack
            hx("91 61763031 00"),        // av01
            hx("91 6176"),               // truncated FourCC
        ] {
            assert!(stamp_video(&p, 1).is_none(), "{p:02x?}");
        }
        assert_eq!(read_stamp(&hx("27 01 000000 00000002 4101")), None);
        assert_eq!(read_stamp(&[]), None);
    }

    #[test]
    fn clock_is_monotonic() {
        let a = now_micros();
        let b = now_micros();
        assert!(b >= a);
    }

    proptest! {
        #[test]
        fn round_trip(body in proptest::collection::vec(any::<u8>(), 0..200), t in any::<u64>()) {
            let mut frame = vec![0x27, 0x01, 0, 0, 0];
            frame.extend(body);
            let s = stamp_video(&frame, t).unwrap();
            prop_assert_eq!(read_stamp(&s), Some(t));
            prop_assert_eq!(&s[..frame.len()], frame.as_slice());
        }

        #[test]
        fn read_never_panics(p in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = read_stamp(&p);
            let _ = stamp_video(&p, 0);
        }
    }
}
