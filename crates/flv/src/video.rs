//! Video tag headers: the legacy VideoTagHeader of the FLV specification v10.1 (E.4.3.1) and the
//! ExVideoTagHeader of Enhanced RTMP v2 ("Enhanced Video"), with ModEx, multitrack, command
//! frames and the SI24 composition time rules. These bytes are also the payload of an RTMP
//! video message (type 9).
//!
//! Legacy: `FrameType:UB[4] | CodecID:UB[4]`; AVC (7), and the widespread non-standard HEVC (12)
//! and AV1 (13) ids, add `AVCPacketType:UI8` and `CompositionTime:SI24`. A command frame
//! (FrameType 5) is followed by a `VideoCommand:UI8` instead (as the Enhanced RTMP pseudocode
//! reads it), with no AVCPacketType.
//!
//! Enhanced (top bit set): `IsExHeader:UB[1] | FrameType:UB[3] | VideoPacketType:UB[4]`, ModEx
//! entries, then either a VideoCommand (command frame, not Metadata) or multitrack signalling and
//! a FOURCC. avc1/hvc1/vvc1 `CodedFrames` carry an SI24 composition time; `CodedFramesX` implies
//! zero. `Metadata` bodies are AMF values (see [`crate::script`]).

use bytes::Bytes;

use crate::codes::wire_code;
use crate::ex::{mod_ex_loop, AvMultitrackType, ExTrack, ExTracks, MultitrackInfo};
use crate::read::ByteReader;
use crate::{FlvError, FlvLimits, FourCc};

wire_code! {
    /// Video `FrameType` (`UB[4]` legacy, `UB[3]` enhanced).
    pub struct FrameType(u8) {
        /// Key frame (seekable).
        KEY = 1 => "KeyFrame",
        /// Inter frame.
        INTER = 2 => "InterFrame",
        /// Disposable inter frame (H.263 only).
        DISPOSABLE = 3 => "DisposableInterFrame",
        /// Generated key frame (server use).
        GENERATED_KEY = 4 => "GeneratedKeyFrame",
        /// Video info / command frame.
        COMMAND = 5 => "Command",
    }
}

wire_code! {
    /// Legacy `CodecID` (`UB[4]`).
    pub struct VideoCodecId(u8) {
        /// Sorenson H.263.
        H263 = 2 => "SorensonH263",
        /// Screen video.
        SCREEN = 3 => "Screen",
        /// On2 VP6.
        VP6 = 4 => "On2VP6",
        /// On2 VP6 with alpha channel.
        VP6A = 5 => "On2VP6A",
        /// Screen video version 2.
        SCREEN2 = 6 => "ScreenV2",
        /// H.264 / AVC.
        AVC = 7 => "Avc",
        /// H.265 / HEVC: non-standard id, common in Chinese CDNs and forks.
        HEVC = 12 => "Hevc",
        /// AV1: non-standard id used by some forks.
        AV1 = 13 => "Av1",
    }
}

impl VideoCodecId {
    /// Whether this legacy codec carries AVCPacketType and CompositionTime (7, 12, 13).
    pub const fn has_avc_packet_type(self) -> bool {
        matches!(self.0, 7 | 12 | 13)
    }
}

wire_code! {
    /// `AVCPacketType` (UI8) of legacy AVC/HEVC/AV1 tags.
    pub struct AvcPacketType(u8) {
        /// Decoder configuration record follows.
        SEQUENCE_HEADER = 0 => "SequenceHeader",
        /// One or more NAL units (full frames).
        NALU = 1 => "Nalu",
        /// End of sequence.
        END_OF_SEQUENCE = 2 => "EndOfSequence",
    }
}

wire_code! {
    /// `VideoPacketType` (`UB[4]`) of the ExVideoTagHeader.
    pub struct VideoPacketType(u8) {
        /// Decoder configuration record.
        SEQUENCE_START = 0 => "SequenceStart",
        /// Coded frames (avc1/hvc1/vvc1 with an SI24 composition time).
        CODED_FRAMES = 1 => "CodedFrames",
        /// End of sequence.
        SEQUENCE_END = 2 => "SequenceEnd",
        /// Coded frames with composition time zero (no SI24 on the wire).
        CODED_FRAMES_X = 3 => "CodedFramesX",
        /// AMF-encoded metadata (e.g. colorInfo); the frame type is ignored.
        METADATA = 4 => "Metadata",
        /// MPEG-2 TS sequence start (AV1 video descriptor).
        MPEG2TS_SEQUENCE_START = 5 => "MPEG2TSSequenceStart",
        /// Turns on multitrack mode.
        MULTITRACK = 6 => "Multitrack",
        /// A ModEx entry follows.
        MOD_EX = 7 => "ModEx",
    }
}

wire_code! {
    /// `VideoCommand` (UI8) carried by command frames.
    pub struct VideoCommand(u8) {
        /// Start of client-side seeking video frame sequence.
        START_SEEK = 0 => "StartSeek",
        /// End of client-side seeking video frame sequence.
        END_SEEK = 1 => "EndSeek",
    }
}

/// Legacy (pre-2023) video tag header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyVideoHeader {
    /// FrameType.
    pub frame_type: FrameType,
    /// CodecID.
    pub codec_id: VideoCodecId,
    /// AVCPacketType, for codec ids 7, 12 and 13 (not for command frames).
    pub avc_packet_type: Option<AvcPacketType>,
    /// Composition time offset in ms: the SI24 for NALU packets, 0 otherwise (as the spec says).
    pub composition_time: i32,
    /// The VideoCommand of a command frame.
    pub video_command: Option<VideoCommand>,
}

/// Enhanced RTMP ExVideoTagHeader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExVideoHeader {
    /// FrameType (3 bits). Ignored by the spec for `Metadata` packets.
    pub frame_type: FrameType,
    /// VideoPacketType after ModEx processing (and after the multitrack byte, if any).
    pub packet_type: VideoPacketType,
    /// Codec; `None` for command frames and for `ManyTracksManyCodecs`.
    pub fourcc: Option<FourCc>,
    /// Composition time offset in ms for non-multitrack / OneTrack avc1/hvc1/vvc1
    /// `CodedFrames`; 0 otherwise (per-track values come from [`ExVideoHeader::tracks`]).
    pub composition_time: i32,
    /// Multitrack signalling, if the message is multitrack.
    pub multitrack: Option<MultitrackInfo>,
    /// TimestampOffsetNano from a ModEx entry.
    pub timestamp_nano_offset: Option<u32>,
    /// The VideoCommand of a command frame (then there is no FOURCC and no body).
    pub video_command: Option<VideoCommand>,
}

impl ExVideoHeader {
    /// Walks the tracks of the body `payload[header_len..]` (pass it as `Bytes`). Command
    /// frames yield nothing.
    pub fn tracks(&self, body: Bytes) -> ExTracks {
        if self.video_command.is_some() {
            return ExTracks::empty();
        }
        let coded = self.packet_type == VideoPacketType::CODED_FRAMES;
        match (self.multitrack, self.fourcc) {
            (Some(MultitrackInfo { track_id: None, .. }), fourcc) => {
                ExTracks::many(body, fourcc, coded)
            }
            (mt, Some(fourcc)) => ExTracks::single(ExTrack {
                track_id: mt.and_then(|m| m.track_id).unwrap_or(0),
                fourcc,
                composition_time: self.composition_time,
                data: body,
            }),
            (_, None) => ExTracks::empty(),
        }
    }
}

/// A parsed video tag header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoTagHeader {
    /// Legacy CodecID header.
    Legacy(LegacyVideoHeader),
    /// Enhanced RTMP FOURCC header.
    Enhanced(ExVideoHeader),
}

/// Parses the video tag header at the start of `payload` with default [`FlvLimits`].
///
/// Returns the header and its length, i.e. the offset of the codec data (for `ManyTracks*`
/// multitrack: of the first track record).
pub fn parse_video_header(payload: &[u8]) -> Result<(VideoTagHeader, usize), FlvError> {
    parse_video_header_with(payload, &FlvLimits::default())
}

/// [`parse_video_header`] with explicit limits (ModEx entry count).
pub fn parse_video_header_with(
    payload: &[u8],
    limits: &FlvLimits,
) -> Result<(VideoTagHeader, usize), FlvError> {
    let mut r = ByteReader::new(payload, "video tag header");
    let b0 = r.u8()?;
    if b0 & 0x80 == 0 {
        let frame_type = FrameType(b0 >> 4);
        let codec_id = VideoCodecId(b0 & 0x0f);
        let mut h = LegacyVideoHeader {
            frame_type,
            codec_id,
            avc_packet_type: None,
            composition_time: 0,
            video_command: None,
        };
        if frame_type == FrameType::COMMAND {
            h.video_command = Some(VideoCommand(r.u8()?));
        } else if codec_id.has_avc_packet_type() {
            let pt = AvcPacketType(r.u8()?);
            let cts = r.i24()?;
            h.avc_packet_type = Some(pt);
            if pt == AvcPacketType::NALU {
                h.composition_time = cts;
            }
        }
        return Ok((VideoTagHeader::Legacy(h), r.pos()));
    }

    let frame_type = FrameType((b0 >> 4) & 0x07);
    let m = mod_ex_loop(&mut r, b0 & 0x0f, VideoPacketType::MOD_EX.0, limits)?;
    let mut h = ExVideoHeader {
        frame_type,
        packet_type: VideoPacketType(m.packet_type),
        fourcc: None,
        composition_time: 0,
        multitrack: None,
        timestamp_nano_offset: m.timestamp_nano_offset,
        video_command: None,
    };
    if h.packet_type != VideoPacketType::METADATA && frame_type == FrameType::COMMAND {
        h.video_command = Some(VideoCommand(r.u8()?));
        return Ok((VideoTagHeader::Enhanced(h), r.pos()));
    }
    if h.packet_type == VideoPacketType::MULTITRACK {
        let b = r.u8()?;
        let mt = AvMultitrackType(b >> 4);
        h.packet_type = VideoPacketType(b & 0x0f);
        if h.packet_type == VideoPacketType::MULTITRACK {
            return Err(FlvError::NestedMultitrack);
        }
        if mt.0 > AvMultitrackType::MANY_TRACKS_MANY_CODECS.0 {
            return Err(FlvError::UnknownMultitrackType(mt.0));
        }
        if mt != AvMultitrackType::MANY_TRACKS_MANY_CODECS {
            h.fourcc = Some(FourCc(r.array()?));
        }
        let track_id = if mt == AvMultitrackType::ONE_TRACK {
            Some(r.u8()?)
        } else {
            None
        };
        h.multitrack = Some(MultitrackInfo {
            multitrack_type: mt,
            track_id,
        });
    } else {
        h.fourcc = Some(FourCc(r.array()?));
    }
    let single_track = h.multitrack.is_none_or(|m| m.track_id.is_some());
    if single_track && h.packet_type == VideoPacketType::CODED_FRAMES {
        if let Some(f) = h.fourcc {
            if f.has_composition_time() {
                r.set_what("video composition time");
                h.composition_time = r.i24()?;
            }
        }
    }
    Ok((VideoTagHeader::Enhanced(h), r.pos()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hx;

    fn parse(hex: &str) -> (VideoTagHeader, usize) {
        parse_video_header(&hx(hex)).unwrap()
    }

    fn legacy(h: VideoTagHeader) -> LegacyVideoHeader {
        match h {
            VideoTagHeader::Legacy(l) => l,
            VideoTagHeader::Enhanced(e) => panic!("expected legacy, got {e:?}"),
        }
    }

    fn enhanced(h: VideoTagHeader) -> ExVideoHeader {
        match h {
            VideoTagHeader::Enhanced(e) => e,
            VideoTagHeader::Legacy(l) => panic!("expected enhanced, got {l:?}"),
        }
    }

    #[test]
    fn legacy_avc_sequence_header() {
        // From an ffmpeg-written FLV: 17 = key | AVC, 00 = sequence header, cts 000000, record
        let (h, len) = parse("1700000000 0164001fffe1");
        let l = legacy(h);
        assert_eq!(len, 5);
        assert_eq!(l.frame_type, FrameType::KEY);
        assert_eq!(l.codec_id, VideoCodecId::AVC);
        assert_eq!(l.avc_packet_type, Some(AvcPacketType::SEQUENCE_HEADER));
        assert_eq!(l.composition_time, 0);
    }

    #[test]
    fn legacy_avc_nalu_with_negative_and_positive_cts() {
        let (h, len) = parse("2701000190 000001dc");
        let l = legacy(h);
        assert_eq!(len, 5);
        assert_eq!(l.frame_type, FrameType::INTER);
        assert_eq!(l.avc_packet_type, Some(AvcPacketType::NALU));
        assert_eq!(l.composition_time, 400);
        let (h, _) = parse("27 01 ffff38");
        assert_eq!(legacy(h).composition_time, -200);
    }

    #[test]
    fn legacy_avc_end_of_sequence() {
        let (h, len) = parse("1702000000");
        assert_eq!(len, 5);
        assert_eq!(
            legacy(h).avc_packet_type,
            Some(AvcPacketType::END_OF_SEQUENCE)
        );
    }

    #[test]
    fn legacy_hevc_id_12_and_h263() {
        let (h, len) = parse("1c00000000");
        assert_eq!(len, 5);
        assert_eq!(legacy(h).codec_id, VideoCodecId::HEVC);
        let (h, len) = parse("220000");
        assert_eq!(len, 1);
        assert_eq!(legacy(h).codec_id, VideoCodecId::H263);
    }

    #[test]
    fn legacy_command_frame() {
        let (h, len) = parse("5701");
        let l = legacy(h);
        assert_eq!(len, 2);
        assert_eq!(l.frame_type, FrameType::COMMAND);
        assert_eq!(l.video_command, Some(VideoCommand::END_SEEK));
        assert_eq!(l.avc_packet_type, None);
    }

    #[test]
    fn legacy_truncated_cts() {
        assert!(matches!(
            parse_video_header(&hx("170000")),
            Err(FlvError::Truncated {
                needed: 3,
                available: 1,
                ..
            })
        ));
    }

    #[test]
    fn enhanced_hvc1_sequence_start() {
        // 0x90 = ex | key(1) | SequenceStart(0); "hvc1"; record starts with 01
        let (h, len) = parse("90 68766331 01");
        let e = enhanced(h);
        assert_eq!(len, 5);
        assert_eq!(e.frame_type, FrameType::KEY);
        assert_eq!(e.packet_type, VideoPacketType::SEQUENCE_START);
        assert_eq!(e.fourcc, Some(FourCc::HVC1));
        assert_eq!(e.composition_time, 0);
    }

    #[test]
    fn enhanced_coded_frames_with_cts() {
        // 0xA1 = ex | inter(2) | CodedFrames; "avc1"; cts 0x000050 = 80 ms
        let (h, len) = parse("a1 61766331 000050 00000002");
        let e = enhanced(h);
        assert_eq!(len, 8);
        assert_eq!(e.frame_type, FrameType::INTER);
        assert_eq!(e.packet_type, VideoPacketType::CODED_FRAMES);
        assert_eq!(e.composition_time, 80);
        // negative CTS for hvc1
        let (h, _) = parse("91 68766331 fffff6");
        assert_eq!(enhanced(h).composition_time, -10);
    }

    #[test]
    fn enhanced_coded_frames_x_has_no_cts() {
        let (h, len) = parse("93 68766331 00000002");
        let e = enhanced(h);
        assert_eq!(len, 5);
        assert_eq!(e.packet_type, VideoPacketType::CODED_FRAMES_X);
        assert_eq!(e.composition_time, 0);
    }

    #[test]
    fn enhanced_av01_and_vp09_coded_frames_have_no_cts() {
        let (h, len) = parse("91 61763031 12000a");
        assert_eq!(len, 5);
        assert_eq!(enhanced(h).fourcc, Some(FourCc::AV01));
        let (h, len) = parse("a1 76703039 8249");
        assert_eq!(len, 5);
        assert_eq!(enhanced(h).fourcc, Some(FourCc::VP09));
    }

    #[test]
    fn enhanced_sequence_end_and_metadata() {
        let (h, len) = parse("92 61763031");
        assert_eq!(len, 5);
        assert_eq!(enhanced(h).packet_type, VideoPacketType::SEQUENCE_END);
        // Metadata with frame type COMMAND: the frame type is ignored, FOURCC is still read
        let (h, len) = parse("d4 68766331 02");
        let e = enhanced(h);
        assert_eq!(len, 5);
        assert_eq!(e.packet_type, VideoPacketType::METADATA);
        assert_eq!(e.video_command, None);
    }

    #[test]
    fn enhanced_command_frame() {
        // 0xD1 = ex | command(5) | CodedFrames; VideoCommand 0; no FOURCC
        let (h, len) = parse("d100");
        let e = enhanced(h);
        assert_eq!(len, 2);
        assert_eq!(e.video_command, Some(VideoCommand::START_SEEK));
        assert_eq!(e.fourcc, None);
        assert_eq!(e.tracks(Bytes::new()).count(), 0);
    }

    #[test]
    fn enhanced_mod_ex_then_coded_frames() {
        // 0x97 ModEx, size 3 bytes 000064 (100 ns), then 0x01: nano | CodedFrames, avc1, cts 1
        let (h, len) = parse("97 02 000064 01 61766331 000001 65");
        let e = enhanced(h);
        assert_eq!(len, 13);
        assert_eq!(e.frame_type, FrameType::KEY);
        assert_eq!(e.timestamp_nano_offset, Some(100));
        assert_eq!(e.composition_time, 1);
    }

    #[test]
    fn enhanced_multitrack_one_track() {
        // 0x96 = key | Multitrack; 0x01 = OneTrack | CodedFrames; avc1; track 2; cts 5
        let p = hx("96 01 61766331 02 000005 6588");
        let (h, len) = parse_video_header(&p).unwrap();
        let e = enhanced(h);
        assert_eq!(len, 10);
        assert_eq!(e.packet_type, VideoPacketType::CODED_FRAMES);
        assert_eq!(e.composition_time, 5);
        assert_eq!(e.multitrack.unwrap().track_id, Some(2));
        let t: Vec<_> = e
            .tracks(Bytes::from(p).slice(len..))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].track_id, t[0].composition_time), (2, 5));
        assert_eq!(&t[0].data[..], &[0x65, 0x88]);
    }

    #[test]
    fn enhanced_multitrack_many_tracks() {
        // 0x96; 0x11 = ManyTracks | CodedFrames; hvc1; records with per-track CTS:
        // id 0 size 5 [000002 aabb]; id 1 size 4 [fffffe cc]
        let p = hx("96 11 68766331 00 000005 000002aabb 01 000004 fffffecc");
        let (h, len) = parse_video_header(&p).unwrap();
        let e = enhanced(h);
        assert_eq!(len, 6);
        assert_eq!(e.fourcc, Some(FourCc::HVC1));
        let t: Vec<_> = e
            .tracks(Bytes::from(p).slice(len..))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!((t[0].track_id, t[0].composition_time), (0, 2));
        assert_eq!(&t[0].data[..], &[0xaa, 0xbb]);
        assert_eq!((t[1].track_id, t[1].composition_time), (1, -2));
        assert_eq!(&t[1].data[..], &[0xcc]);
    }

    #[test]
    fn enhanced_multitrack_many_codecs() {
        // 0x96; 0x20 = ManyTracksManyCodecs | SequenceStart; av01 id 0 [81]; vp09 id 1 [01]
        let p = hx("96 20 61763031 00 000001 81 76703039 01 000001 01");
        let (h, len) = parse_video_header(&p).unwrap();
        let e = enhanced(h);
        assert_eq!(len, 2);
        assert_eq!(e.fourcc, None);
        let t: Vec<_> = e
            .tracks(Bytes::from(p).slice(len..))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(t[0].fourcc, FourCc::AV01);
        assert_eq!(t[1].fourcc, FourCc::VP09);
    }

    #[test]
    fn enhanced_multitrack_errors() {
        assert!(matches!(
            parse_video_header(&hx("9606")),
            Err(FlvError::NestedMultitrack)
        ));
        assert!(matches!(
            parse_video_header(&hx("96f1")),
            Err(FlvError::UnknownMultitrackType(15))
        ));
        // record whose CTS is cut off
        let p = hx("96 11 61766331 00 000002 0000");
        let (h, len) = parse_video_header(&p).unwrap();
        let mut it = enhanced(h).tracks(Bytes::from(p).slice(len..));
        assert!(matches!(it.next(), Some(Err(FlvError::Truncated { .. }))));
    }
}
