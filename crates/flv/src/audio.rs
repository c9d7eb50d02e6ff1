//! Audio tag headers: the legacy AudioTagHeader of the FLV specification v10.1 (E.4.2.1) and the
//! ExAudioTagHeader of Enhanced RTMP v2 ("Enhanced Audio"), including ModEx, multitrack and the
//! MultichannelConfig body. These bytes are also the payload of an RTMP audio message (type 8).
//!
//! Layout of the first byte: `SoundFormat:UB[4] | SoundRate:UB[2] | SoundSize:UB[1] |
//! SoundType:UB[1]`. AAC (10) adds `AACPacketType:UI8`. SoundFormat 9 (ExHeader) switches to the
//! enhanced layout: the low nibble is an `AudioPacketType`, then ModEx entries, multitrack
//! signalling and a FOURCC.
//!
//! An empty audio message is the "audio silence" message of Enhanced RTMP; it has no header, so
//! [`parse_audio_header`] reports it as [`FlvError::Truncated`]: check for emptiness first.

use bytes::Bytes;

use crate::codes::wire_code;
use crate::ex::{mod_ex_loop, AvMultitrackType, ExTrack, ExTracks, MultitrackInfo};
use crate::read::ByteReader;
use crate::{FlvError, FlvLimits, FourCc};

wire_code! {
    /// `SoundFormat` (`UB[4]`) of the legacy AudioTagHeader.
    pub struct SoundFormat(u8) {
        /// Linear PCM, platform endian.
        LINEAR_PCM = 0 => "LPcmPlatformEndian",
        /// ADPCM.
        ADPCM = 1 => "AdPcm",
        /// MP3.
        MP3 = 2 => "Mp3",
        /// Linear PCM, little endian.
        LINEAR_PCM_LE = 3 => "LPcmLittleEndian",
        /// Nellymoser 16 kHz mono.
        NELLYMOSER_16K_MONO = 4 => "Nellymoser16KMono",
        /// Nellymoser 8 kHz mono.
        NELLYMOSER_8K_MONO = 5 => "Nellymoser8KMono",
        /// Nellymoser.
        NELLYMOSER = 6 => "Nellymoser",
        /// G.711 A-law.
        G711_ALAW = 7 => "G711ALaw",
        /// G.711 mu-law.
        G711_MULAW = 8 => "G711MuLaw",
        /// Enhanced RTMP: the ExAudioTagHeader follows (FOURCC mode).
        EX_HEADER = 9 => "ExHeader",
        /// AAC; an AACPacketType byte follows.
        AAC = 10 => "Aac",
        /// Speex.
        SPEEX = 11 => "Speex",
        /// MP3 8 kHz.
        MP3_8K = 14 => "Mp3_8K",
        /// Device-specific sound.
        DEVICE_SPECIFIC = 15 => "Native",
    }
}

wire_code! {
    /// `AACPacketType` (UI8) of a legacy AAC audio tag.
    pub struct AacPacketType(u8) {
        /// AudioSpecificConfig follows.
        SEQUENCE_HEADER = 0 => "SequenceHeader",
        /// Raw AAC frame data follows.
        RAW = 1 => "Raw",
    }
}

wire_code! {
    /// `AudioPacketType` (`UB[4]`) of the ExAudioTagHeader.
    pub struct AudioPacketType(u8) {
        /// Codec configuration (AudioSpecificConfig, OpusHead, fLaC + STREAMINFO).
        SEQUENCE_START = 0 => "SequenceStart",
        /// Coded audio frames.
        CODED_FRAMES = 1 => "CodedFrames",
        /// End of the audio sequence.
        SEQUENCE_END = 2 => "SequenceEnd",
        /// Channel order / count ([`parse_multichannel_config`]).
        MULTICHANNEL_CONFIG = 4 => "MultichannelConfig",
        /// Turns on multitrack mode.
        MULTITRACK = 5 => "Multitrack",
        /// A ModEx entry follows.
        MOD_EX = 7 => "ModEx",
    }
}

/// Legacy (pre-2023) audio tag header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyAudioHeader {
    /// SoundFormat.
    pub sound_format: SoundFormat,
    /// SoundRate: 0 = 5.5 kHz, 1 = 11 kHz, 2 = 22 kHz, 3 = 44 kHz.
    pub sound_rate: u8,
    /// SoundSize: 0 = 8-bit, 1 = 16-bit samples.
    pub sound_size: u8,
    /// SoundType: 0 = mono, 1 = stereo.
    pub sound_type: u8,
    /// AACPacketType, present when SoundFormat is AAC.
    pub aac_packet_type: Option<AacPacketType>,
}

impl LegacyAudioHeader {
    /// The SoundRate field in Hz (5512, 11025, 22050, 44100). For AAC the real rate is in the
    /// AudioSpecificConfig.
    pub fn sample_rate_hz(&self) -> u32 {
        match self.sound_rate & 3 {
            0 => 5512,
            1 => 11025,
            2 => 22050,
            _ => 44100,
        }
    }
}

/// Enhanced RTMP ExAudioTagHeader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExAudioHeader {
    /// AudioPacketType after ModEx processing (and after the multitrack byte, if any).
    pub packet_type: AudioPacketType,
    /// Codec; `None` for `ManyTracksManyCodecs`, where each track names its own.
    pub fourcc: Option<FourCc>,
    /// Multitrack signalling, if the message is multitrack.
    pub multitrack: Option<MultitrackInfo>,
    /// TimestampOffsetNano from a ModEx entry (nanoseconds added to the message timestamp).
    pub timestamp_nano_offset: Option<u32>,
}

impl ExAudioHeader {
    /// Walks the tracks of the body `payload[header_len..]` (pass it as `Bytes`).
    pub fn tracks(&self, body: Bytes) -> ExTracks {
        match (self.multitrack, self.fourcc) {
            (Some(MultitrackInfo { track_id: None, .. }), fourcc) => {
                ExTracks::many(body, fourcc, false)
            }
            (mt, Some(fourcc)) => ExTracks::single(ExTrack {
                track_id: mt.and_then(|m| m.track_id).unwrap_or(0),
                fourcc,
                composition_time: 0,
                data: body,
            }),
            (_, None) => ExTracks::empty(),
        }
    }
}

/// A parsed audio tag header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioTagHeader {
    /// Legacy SoundFormat header.
    Legacy(LegacyAudioHeader),
    /// Enhanced RTMP FOURCC header.
    Enhanced(ExAudioHeader),
}

/// Parses the audio tag header at the start of `payload` with default [`FlvLimits`].
///
/// Returns the header and its length, i.e. the offset of the codec data (for `ManyTracks*`
/// multitrack: of the first track record).
pub fn parse_audio_header(payload: &[u8]) -> Result<(AudioTagHeader, usize), FlvError> {
    parse_audio_header_with(payload, &FlvLimits::default())
}

/// [`parse_audio_header`] with explicit limits (ModEx entry count).
pub fn parse_audio_header_with(
    payload: &[u8],
    limits: &FlvLimits,
) -> Result<(AudioTagHeader, usize), FlvError> {
    let mut r = ByteReader::new(payload, "audio tag header");
    let b0 = r.u8()?;
    let sound_format = SoundFormat(b0 >> 4);
    if sound_format != SoundFormat::EX_HEADER {
        let aac_packet_type = if sound_format == SoundFormat::AAC {
            Some(AacPacketType(r.u8()?))
        } else {
            None
        };
        let h = LegacyAudioHeader {
            sound_format,
            sound_rate: (b0 >> 2) & 3,
            sound_size: (b0 >> 1) & 1,
            sound_type: b0 & 1,
            aac_packet_type,
        };
        return Ok((AudioTagHeader::Legacy(h), r.pos()));
    }
    let m = mod_ex_loop(&mut r, b0 & 0x0f, AudioPacketType::MOD_EX.0, limits)?;
    let mut packet_type = AudioPacketType(m.packet_type);
    let mut multitrack = None;
    let mut fourcc = None;
    if packet_type == AudioPacketType::MULTITRACK {
        let b = r.u8()?;
        let mt = AvMultitrackType(b >> 4);
        packet_type = AudioPacketType(b & 0x0f);
        if packet_type == AudioPacketType::MULTITRACK {
            return Err(FlvError::NestedMultitrack);
        }
        if mt.0 > AvMultitrackType::MANY_TRACKS_MANY_CODECS.0 {
            return Err(FlvError::UnknownMultitrackType(mt.0));
        }
        if mt != AvMultitrackType::MANY_TRACKS_MANY_CODECS {
            fourcc = Some(FourCc(r.array()?));
        }
        let track_id = if mt == AvMultitrackType::ONE_TRACK {
            Some(r.u8()?)
        } else {
            None
        };
        multitrack = Some(MultitrackInfo {
            multitrack_type: mt,
            track_id,
        });
    } else {
        fourcc = Some(FourCc(r.array()?));
    }
    let h = ExAudioHeader {
        packet_type,
        fourcc,
        multitrack,
        timestamp_nano_offset: m.timestamp_nano_offset,
    };
    Ok((AudioTagHeader::Enhanced(h), r.pos()))
}

wire_code! {
    /// `AudioChannelOrder` (UI8) of a MultichannelConfig packet.
    pub struct AudioChannelOrder(u8) {
        /// Only the channel count is known.
        UNSPECIFIED = 0 => "Unspecified",
        /// Channels in `AudioChannel` order; a UI32 `AudioChannelMask` follows.
        NATIVE = 1 => "Native",
        /// An explicit `AudioChannel` per channel follows.
        CUSTOM = 2 => "Custom",
    }
}

/// Body of an `AudioPacketType::MULTICHANNEL_CONFIG` packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultichannelConfig {
    /// How channels are mapped to speakers.
    pub order: AudioChannelOrder,
    /// Number of channels.
    pub channel_count: u8,
    /// `Custom`: one `AudioChannel` value per channel (at most 255 entries).
    pub mapping: Vec<u8>,
    /// `Native`: the `AudioChannelMask` flags.
    pub channel_flags: Option<u32>,
}

/// Parses a MultichannelConfig body (the bytes after the header of such a packet).
pub fn parse_multichannel_config(body: &[u8]) -> Result<MultichannelConfig, FlvError> {
    let mut r = ByteReader::new(body, "MultichannelConfig");
    let order = AudioChannelOrder(r.u8()?);
    let channel_count = r.u8()?;
    let mut mapping = Vec::new();
    let mut channel_flags = None;
    if order == AudioChannelOrder::CUSTOM {
        mapping = r.take(usize::from(channel_count))?.to_vec();
    } else if order == AudioChannelOrder::NATIVE {
        channel_flags = Some(r.u32()?);
    }
    Ok(MultichannelConfig {
        order,
        channel_count,
        mapping,
        channel_flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hx;

    fn parse(hex: &str) -> (AudioTagHeader, usize) {
        parse_audio_header(&hx(hex)).unwrap()
    }

    fn legacy(h: AudioTagHeader) -> LegacyAudioHeader {
        match h {
            AudioTagHeader::Legacy(l) => l,
            AudioTagHeader::Enhanced(e) => panic!("expected legacy, got {e:?}"),
        }
    }

    fn enhanced(h: AudioTagHeader) -> ExAudioHeader {
        match h {
            AudioTagHeader::Enhanced(e) => e,
            AudioTagHeader::Legacy(l) => panic!("expected enhanced, got {l:?}"),
        }
    }

    #[test]
    fn legacy_aac_sequence_header() {
        // 0xAF = AAC(10) | 44kHz(3) | 16-bit(1) | stereo(1); 00 = sequence header; 12 10 = ASC
        let (h, len) = parse("af001210");
        let l = legacy(h);
        assert_eq!(len, 2);
        assert_eq!(l.sound_format, SoundFormat::AAC);
        assert_eq!((l.sound_rate, l.sound_size, l.sound_type), (3, 1, 1));
        assert_eq!(l.aac_packet_type, Some(AacPacketType::SEQUENCE_HEADER));
        assert_eq!(l.sample_rate_hz(), 44100);
    }

    #[test]
    fn legacy_aac_raw() {
        let (h, len) = parse("af01de0200");
        assert_eq!(len, 2);
        assert_eq!(legacy(h).aac_packet_type, Some(AacPacketType::RAW));
    }

    #[test]
    fn legacy_mp3() {
        // 0x2A = MP3(2) | 22kHz(2) | 16-bit | mono; frame header fff3 follows (from ffmpeg)
        let (h, len) = parse("2afff340c4");
        let l = legacy(h);
        assert_eq!(len, 1);
        assert_eq!(l.sound_format, SoundFormat::MP3);
        assert_eq!(l.sample_rate_hz(), 22050);
        assert_eq!(l.sound_type, 0);
        assert_eq!(l.aac_packet_type, None);
    }

    #[test]
    fn legacy_aac_missing_packet_type() {
        assert!(matches!(
            parse_audio_header(&[0xaf]),
            Err(FlvError::Truncated {
                needed: 1,
                available: 0,
                ..
            })
        ));
        assert!(matches!(
            parse_audio_header(&[]),
            Err(FlvError::Truncated { .. })
        ));
    }

    #[test]
    fn enhanced_opus_sequence_start() {
        // 0x90 = ExHeader | SequenceStart, "Opus", OpusHead...
        let (h, len) = parse("904f7075734f707573486561640102");
        let e = enhanced(h);
        assert_eq!(len, 5);
        assert_eq!(e.packet_type, AudioPacketType::SEQUENCE_START);
        assert_eq!(e.fourcc, Some(FourCc::OPUS));
        assert_eq!(e.multitrack, None);
    }

    #[test]
    fn enhanced_flac_coded_frames() {
        let (h, len) = parse("91664c6143fff8");
        let e = enhanced(h);
        assert_eq!(len, 5);
        assert_eq!(e.packet_type, AudioPacketType::CODED_FRAMES);
        assert_eq!(e.fourcc, Some(FourCc::FLAC));
    }

    #[test]
    fn enhanced_mod_ex_nano_offset() {
        // 0x97 = ModEx; size-1 = 2 (3 bytes of data) = 0x0f423f (999_999 ns);
        // next byte 0x01 = ModExType 0 (TimestampOffsetNano) | CodedFrames; then "mp4a"
        let (h, len) = parse("9702 0f423f 01 6d703461 21");
        let e = enhanced(h);
        assert_eq!(len, 10);
        assert_eq!(e.timestamp_nano_offset, Some(999_999));
        assert_eq!(e.packet_type, AudioPacketType::CODED_FRAMES);
        assert_eq!(e.fourcc, Some(FourCc::MP4A));
    }

    #[test]
    fn enhanced_mod_ex_sixteen_bit_size_and_unknown_type() {
        // size byte 0xff -> 256 -> UI16 follows: 0x0100 + 1 = 257 bytes of data, type 5 (unknown)
        let mut p = vec![0x97, 0xff, 0x01, 0x00];
        p.extend_from_slice(&[0xaa; 257]);
        p.push(0x50); // ModExType 5 | SequenceStart
        p.extend_from_slice(b"mp4a");
        let (h, len) = parse_audio_header(&p).unwrap();
        let e = enhanced(h);
        assert_eq!(len, p.len());
        assert_eq!(e.timestamp_nano_offset, None);
        assert_eq!(e.packet_type, AudioPacketType::SEQUENCE_START);
    }

    #[test]
    fn enhanced_mod_ex_errors() {
        // nano offset with a 2-byte payload
        let p = hx("9701000001");
        assert!(matches!(
            parse_audio_header(&p),
            Err(FlvError::ModExTooShort { size: 2 })
        ));
        // too many entries: 9 entries of 1 byte each, type 1 (unknown), looping ModEx
        let mut p = vec![0x97];
        for _ in 0..9 {
            p.extend_from_slice(&[0x00, 0x00, 0x17]);
        }
        assert!(matches!(
            parse_audio_header(&p),
            Err(FlvError::TooManyModEx { limit: 8 })
        ));
    }

    #[test]
    fn enhanced_multitrack_one_track() {
        // 0x95 = Multitrack; 0x01 = OneTrack | CodedFrames; "Opus"; trackId 3; data
        let (h, len) = parse("95 01 4f707573 03 fc");
        let e = enhanced(h);
        assert_eq!(len, 7);
        assert_eq!(
            e.multitrack,
            Some(MultitrackInfo {
                multitrack_type: AvMultitrackType::ONE_TRACK,
                track_id: Some(3)
            })
        );
        let body = Bytes::from_static(&[0xfc]);
        let tracks: Vec<_> = e.tracks(body).collect::<Result<_, _>>().unwrap();
        assert_eq!(tracks.len(), 1);
        assert_eq!(tracks[0].track_id, 3);
        assert_eq!(tracks[0].fourcc, FourCc::OPUS);
    }

    #[test]
    fn enhanced_multitrack_many_codecs() {
        // 0x95; 0x21 = ManyTracksManyCodecs | CodedFrames; then records:
        // "Opus" id 0 size 2 [aa bb]; "mp4a" id 1 size 1 [cc]
        let p = hx("9521 4f707573 00 000002 aabb 6d703461 01 000001 cc");
        let (h, len) = parse_audio_header(&p).unwrap();
        let e = enhanced(h);
        assert_eq!(len, 2);
        assert_eq!(e.fourcc, None);
        let body = Bytes::from(p).slice(len..);
        let t: Vec<_> = e.tracks(body).collect::<Result<_, _>>().unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[0].track_id, t[0].fourcc, &t[0].data[..]),
            (0, FourCc::OPUS, &[0xaa, 0xbb][..])
        );
        assert_eq!(
            (t[1].track_id, t[1].fourcc, &t[1].data[..]),
            (1, FourCc::MP4A, &[0xcc][..])
        );
    }

    #[test]
    fn enhanced_multitrack_errors() {
        assert!(matches!(
            parse_audio_header(&hx("9505")),
            Err(FlvError::NestedMultitrack)
        ));
        assert!(matches!(
            parse_audio_header(&hx("9531")),
            Err(FlvError::UnknownMultitrackType(3))
        ));
        // ManyTracks (one codec) with a track size beyond the message
        let p = hx("9511 4f707573 00 000009 aa");
        let (h, len) = parse_audio_header(&p).unwrap();
        let mut it = enhanced(h).tracks(Bytes::from(p).slice(len..));
        assert!(matches!(
            it.next(),
            Some(Err(FlvError::TrackSizeOverflow {
                declared: 9,
                available: 1
            }))
        ));
        assert!(it.next().is_none());
    }

    #[test]
    fn multichannel_config() {
        let c = parse_multichannel_config(&hx("0206000102030405")).unwrap();
        assert_eq!(c.order, AudioChannelOrder::CUSTOM);
        assert_eq!(c.mapping, vec![0, 1, 2, 3, 4, 5]);
        let c = parse_multichannel_config(&hx("01020000 0003")).unwrap();
        assert_eq!(c.channel_flags, Some(3));
        assert!(parse_multichannel_config(&hx("0206 00")).is_err());
    }
}
