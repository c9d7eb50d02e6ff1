//! Enhanced RTMP → legacy FLV tag headers, for outputs whose players only know the FLV v10.1
//! forms of H.264 and AAC (flv.js/mpegts.js, Flash-era players, older ffmpeg builds).
//!
//! Enhanced RTMP v2 lets a publisher send H.264 as `avc1` and AAC as `mp4a` FOURCC tags
//! ("Enhanced Video" `ExVideoTagHeader`, "Enhanced Audio" `ExAudioTagHeader`). Their codec data is
//! byte-for-byte what the legacy tags carry (AVCDecoderConfigurationRecord / NAL units with
//! 4-byte lengths; AudioSpecificConfig / raw AAC frames), so only the header changes:
//!
//! | Enhanced | legacy (FLV v10.1 E.4.3.1 / E.4.2.1) |
//! |---|---|
//! | video `SequenceStart`, avc1 | `FrameType|7`, `AVCPacketType 0`, `CompositionTime 0` |
//! | video `CodedFrames`, avc1, SI24 cts | `FrameType|7`, `AVCPacketType 1`, the same SI24 |
//! | video `CodedFramesX`, avc1 (cts implied 0) | `FrameType|7`, `AVCPacketType 1`, `0` |
//! | video `SequenceEnd`, avc1 | `FrameType|7`, `AVCPacketType 2`, `0` |
//! | audio `SequenceStart`, mp4a | `0xAF 0x00` (AAC, 44 kHz, 16-bit, stereo as the spec fixes) |
//! | audio `CodedFrames`, mp4a | `0xAF 0x01` |
//!
//! Enhanced packets with no legacy equivalent for these codecs (video `Metadata` such as
//! `colorInfo`, audio `SequenceEnd` and `MultichannelConfig`) are dropped: a legacy decoder would
//! misread them. Everything else is kept as it is: legacy tags, other FOURCCs (HEVC, AV1, VP9,
//! Opus... have no standard legacy form, and players that know them read the Enhanced form),
//! multitrack messages, command frames and bytes that do not parse.
//!
//! The rewrite never copies the codec data: [`LegacyForm::Rewrite`] gives a header of at most
//! five bytes and the offset where the unchanged body starts.

use crate::audio::{AudioPacketType, AudioTagHeader};
use crate::video::{FrameType, VideoPacketType, VideoTagHeader};
use crate::{parse_audio_header, parse_video_header, FourCc};

/// A legacy tag header of at most five bytes (video: 1 + 1 + 3, AAC audio: 1 + 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyHeader {
    bytes: [u8; 5],
    len: u8,
}

impl LegacyHeader {
    /// The header bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    fn video(frame_type: FrameType, avc_packet_type: u8, composition_time: i32) -> Self {
        let cts = composition_time.to_be_bytes();
        LegacyHeader {
            bytes: [
                (frame_type.0 & 0x0f) << 4 | 7,
                avc_packet_type,
                cts[1],
                cts[2],
                cts[3],
            ],
            len: 5,
        }
    }

    fn aac(aac_packet_type: u8) -> Self {
        LegacyHeader {
            bytes: [0xAF, aac_packet_type, 0, 0, 0],
            len: 2,
        }
    }
}

/// What a legacy-only output sends in place of one audio or video tag body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyForm {
    /// Send the body as it is.
    Keep,
    /// Send `header` followed by `payload[body_offset..]`.
    Rewrite {
        /// The legacy header.
        header: LegacyHeader,
        /// Where the codec data starts in the original payload.
        body_offset: usize,
    },
    /// Send nothing: an Enhanced packet that legacy players would misread.
    Drop,
}

/// The legacy form of a video tag body (see the module docs). Never fails.
pub fn legacy_video(payload: &[u8]) -> LegacyForm {
    let Ok((VideoTagHeader::Enhanced(h), offset)) = parse_video_header(payload) else {
        return LegacyForm::Keep;
    };
    if h.fourcc != Some(FourCc::AVC1) || h.multitrack.is_some() || h.video_command.is_some() {
        return LegacyForm::Keep;
    }
    let header = match h.packet_type {
        VideoPacketType::SEQUENCE_START => LegacyHeader::video(h.frame_type, 0, 0),
        VideoPacketType::CODED_FRAMES => LegacyHeader::video(h.frame_type, 1, h.composition_time),
        VideoPacketType::CODED_FRAMES_X => LegacyHeader::video(h.frame_type, 1, 0),
        VideoPacketType::SEQUENCE_END => LegacyHeader::video(h.frame_type, 2, 0),
        VideoPacketType::METADATA => return LegacyForm::Drop,
        _ => return LegacyForm::Keep,
    };
    LegacyForm::Rewrite {
        header,
        body_offset: offset,
    }
}

/// The legacy form of an audio tag body (see the module docs). Never fails.
pub fn legacy_audio(payload: &[u8]) -> LegacyForm {
    let Ok((AudioTagHeader::Enhanced(h), offset)) = parse_audio_header(payload) else {
        return LegacyForm::Keep;
    };
    if h.fourcc != Some(FourCc::MP4A) || h.multitrack.is_some() {
        return LegacyForm::Keep;
    }
    let header = match h.packet_type {
        AudioPacketType::SEQUENCE_START => LegacyHeader::aac(0),
        AudioPacketType::CODED_FRAMES => LegacyHeader::aac(1),
        AudioPacketType::SEQUENCE_END | AudioPacketType::MULTICHANNEL_CONFIG => {
            return LegacyForm::Drop
        }
        _ => return LegacyForm::Keep,
    };
    LegacyForm::Rewrite {
        header,
        body_offset: offset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hx;
    use crate::{classify_video, parse_video_header, AvcPacketType};

    fn rewritten(form: LegacyForm, payload: &[u8]) -> Vec<u8> {
        match form {
            LegacyForm::Rewrite {
                header,
                body_offset,
            } => {
                let mut v = header.as_bytes().to_vec();
                v.extend_from_slice(&payload[body_offset..]);
                v
            }
            other => panic!("expected a rewrite, got {other:?}"),
        }
    }

    #[test]
    fn avc1_sequence_start_becomes_avc_sequence_header() {
        // 0x90 = ex header | key frame | SequenceStart, "avc1", then an avcC record start.
        let p = hx("90 61766331 0164001fffe1");
        assert_eq!(
            rewritten(legacy_video(&p), &p),
            hx("17 00 000000 0164001fffe1")
        );
    }

    #[test]
    fn avc1_coded_frames_keep_their_composition_time() {
        // 0xA1 = ex header | inter frame | CodedFrames, "avc1", cts 0x000050 (80 ms), NALU.
        let p = hx("A1 61766331 000050 00000002 0910");
        let out = rewritten(legacy_video(&p), &p);
        assert_eq!(out, hx("27 01 000050 00000002 0910"));
        let (h, _) = parse_video_header(&out).unwrap();
        match h {
            VideoTagHeader::Legacy(l) => {
                assert_eq!(l.avc_packet_type, Some(AvcPacketType::NALU));
                assert_eq!(l.composition_time, 80);
            }
            other => panic!("{other:?}"),
        }
        // A negative composition time survives as SI24.
        let p = hx("A1 61766331 FFFFD8 00");
        assert_eq!(rewritten(legacy_video(&p), &p), hx("27 01 FFFFD8 00"));
    }

    #[test]
    fn avc1_coded_frames_x_get_composition_time_zero() {
        // 0x93 = ex header | key frame | CodedFramesX.
        let p = hx("93 61766331 00000002 6588");
        let out = rewritten(legacy_video(&p), &p);
        assert_eq!(out, hx("17 01 000000 00000002 6588"));
        let info = classify_video(&out);
        assert!(info.is_keyframe && !info.is_sequence_header);
    }

    #[test]
    fn avc1_sequence_end_and_metadata() {
        let p = hx("92 61766331");
        assert_eq!(rewritten(legacy_video(&p), &p), hx("17 02 000000"));
        // 0x94 = Metadata (colorInfo): no legacy form.
        let p = hx("94 61766331 02000963 6f6c6f72 496e666f");
        assert_eq!(legacy_video(&p), LegacyForm::Drop);
    }

    #[test]
    fn other_video_is_kept() {
        // Legacy AVC, Enhanced HEVC and AV1, a command frame, garbage and nothing.
        for p in [
            hx("1701000000 00000002 6588"),
            hx("91 68766331 000000 00"),
            hx("90 61763031 81"),
            hx("D0 00"),
            hx("ff"),
            hx(""),
        ] {
            assert_eq!(legacy_video(&p), LegacyForm::Keep, "{p:02x?}");
        }
        // Multitrack (OneTrack avc1, track 0) has no legacy form either: kept.
        let p = hx("96 01 61766331 00 000000 00");
        assert_eq!(legacy_video(&p), LegacyForm::Keep);
    }

    #[test]
    fn mp4a_becomes_legacy_aac() {
        // 0x90 = ExHeader sound format | SequenceStart, "mp4a", AudioSpecificConfig 1210.
        let p = hx("90 6d703461 1210");
        assert_eq!(rewritten(legacy_audio(&p), &p), hx("AF 00 1210"));
        let p = hx("91 6d703461 21101f");
        assert_eq!(rewritten(legacy_audio(&p), &p), hx("AF 01 21101f"));
        // SequenceEnd and MultichannelConfig have no legacy form.
        assert_eq!(legacy_audio(&hx("92 6d703461")), LegacyForm::Drop);
        assert_eq!(legacy_audio(&hx("94 6d703461 01 02")), LegacyForm::Drop);
    }

    #[test]
    fn other_audio_is_kept() {
        for p in [
            hx("AF 01 2110"),
            hx("2F ff"),
            hx("91 4f707573 fc"),
            hx("90"),
            hx(""),
        ] {
            assert_eq!(legacy_audio(&p), LegacyForm::Keep, "{p:02x?}");
        }
    }
}
