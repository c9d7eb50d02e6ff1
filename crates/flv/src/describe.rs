//! One probe-style summary ([`StreamCodecInfo`]) of a stream's codec, built from its sequence
//! header tag body: legacy AVC / HEVC (id 12) / AV1 (id 13) sequence headers, Enhanced RTMP
//! SequenceStart packets (avc1, hvc1, av01, vp09, vp08, mp4a, Opus, fLaC, others by name),
//! legacy AAC sequence headers and self-describing legacy audio headers (MP3, Speex, PCM...).
//!
//! Record syntaxes: ISO/IEC 14496-15 (avcC, hvcC), AV1 ISOBMFF binding (av1C), VP codec ISOBMFF
//! binding (vpcC), ISO/IEC 14496-3 (AudioSpecificConfig), RFC 7845 5.1 (OpusHead), FLAC format
//! (STREAMINFO).

use bytes::Bytes;

use crate::aac::{aac_profile_name, parse_aac_config};
use crate::audio::{AacPacketType, AudioPacketType, AudioTagHeader, SoundFormat};
use crate::av1::{parse_av1_config, parse_vp_config};
use crate::avc::{avc_profile_name, parse_avc_config};
use crate::classify::{AudioCodec, VideoCodec};
use crate::hevc::{hevc_profile_name, parse_hevc_config};
use crate::read::{BitReader, ByteReader};
use crate::video::{AvcPacketType, VideoCodecId, VideoPacketType, VideoTagHeader};
use crate::{parse_audio_header, parse_video_header, FlvError, FourCc};

/// Codec summary of one stream, for probe-like reporting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamCodecInfo {
    /// Codec name as printed by [`VideoCodec`] / [`AudioCodec`] ("h264", "aac", ...).
    pub codec: String,
    /// Profile name ("High", "Main", "LC"...), when known.
    pub profile: Option<String>,
    /// Level ("3.1", "4"...), when known.
    pub level: Option<String>,
    /// Picture width.
    pub width: Option<u32>,
    /// Picture height.
    pub height: Option<u32>,
    /// Audio sample rate in Hz.
    pub sample_rate: Option<u32>,
    /// Audio channel count.
    pub channels: Option<u8>,
}

fn dotted(major: u32, minor: u32) -> String {
    if minor == 0 {
        major.to_string()
    } else {
        format!("{major}.{minor}")
    }
}

fn describe_avc(record: &[u8]) -> Result<StreamCodecInfo, FlvError> {
    let c = parse_avc_config(record)?;
    Ok(StreamCodecInfo {
        codec: VideoCodec::Avc.to_string(),
        profile: avc_profile_name(c.profile, c.compatibility).map(str::to_owned),
        level: Some(if c.level == 9 {
            "1b".to_owned()
        } else {
            dotted(u32::from(c.level) / 10, u32::from(c.level) % 10)
        }),
        width: c.width,
        height: c.height,
        ..StreamCodecInfo::default()
    })
}

fn describe_hevc(record: &[u8]) -> Result<StreamCodecInfo, FlvError> {
    let c = parse_hevc_config(record)?;
    let l = u32::from(c.general_level_idc);
    Ok(StreamCodecInfo {
        codec: VideoCodec::Hevc.to_string(),
        profile: hevc_profile_name(c.general_profile_idc).map(str::to_owned),
        level: Some(dotted(l / 30, (l % 30) / 3)),
        width: c.width,
        height: c.height,
        ..StreamCodecInfo::default()
    })
}

fn describe_av1(record: &[u8]) -> Result<StreamCodecInfo, FlvError> {
    let c = parse_av1_config(record)?;
    let profile = match c.seq_profile {
        0 => Some("Main"),
        1 => Some("High"),
        2 => Some("Professional"),
        _ => None,
    };
    let idx = u32::from(c.seq_level_idx);
    Ok(StreamCodecInfo {
        codec: VideoCodec::Av1.to_string(),
        profile: profile.map(str::to_owned),
        level: (idx < 31).then(|| format!("{}.{}", 2 + (idx >> 2), idx & 3)),
        width: c.width,
        height: c.height,
        ..StreamCodecInfo::default()
    })
}

fn describe_vp(codec: VideoCodec, record: &[u8]) -> Result<StreamCodecInfo, FlvError> {
    let c = parse_vp_config(record)?;
    Ok(StreamCodecInfo {
        codec: codec.to_string(),
        profile: Some(format!("Profile {}", c.profile)),
        level: Some(dotted(u32::from(c.level) / 10, u32::from(c.level) % 10)),
        ..StreamCodecInfo::default()
    })
}

fn describe_video_fourcc(fourcc: FourCc, record: &[u8]) -> Result<StreamCodecInfo, FlvError> {
    match fourcc {
        FourCc::AVC1 => describe_avc(record),
        FourCc::HVC1 => describe_hevc(record),
        FourCc::AV01 => describe_av1(record),
        FourCc::VP09 | FourCc::VP08 => describe_vp(VideoCodec::from_fourcc(fourcc), record),
        other => Ok(StreamCodecInfo {
            codec: VideoCodec::from_fourcc(other).to_string(),
            ..StreamCodecInfo::default()
        }),
    }
}

/// Describes a video sequence header from a whole video tag body (legacy or enhanced). For a
/// multitrack message the first track is described.
pub fn describe_video_sequence_header(payload: &[u8]) -> Result<StreamCodecInfo, FlvError> {
    let (header, len) = parse_video_header(payload)?;
    let body = payload.get(len..).unwrap_or(&[]);
    match header {
        VideoTagHeader::Legacy(h) => {
            if h.avc_packet_type != Some(AvcPacketType::SEQUENCE_HEADER) {
                return Err(FlvError::NotSequenceHeader);
            }
            match h.codec_id {
                VideoCodecId::AVC => describe_avc(body),
                VideoCodecId::HEVC => describe_hevc(body),
                _ => describe_av1(body),
            }
        }
        VideoTagHeader::Enhanced(h) => {
            if h.packet_type != VideoPacketType::SEQUENCE_START {
                return Err(FlvError::NotSequenceHeader);
            }
            let bytes = Bytes::copy_from_slice(body);
            match h.tracks(bytes).next() {
                Some(track) => {
                    let t = track?;
                    describe_video_fourcc(t.fourcc, &t.data)
                }
                None => Err(FlvError::NotSequenceHeader),
            }
        }
    }
}

fn describe_opus(head: &[u8]) -> Result<StreamCodecInfo, FlvError> {
    let mut info = StreamCodecInfo {
        codec: AudioCodec::Opus.to_string(),
        sample_rate: Some(48000),
        ..StreamCodecInfo::default()
    };
    // An empty Opus SequenceStart is allowed (mono/stereo or MultichannelConfig then).
    if head.is_empty() {
        return Ok(info);
    }
    let mut r = ByteReader::new(head, "OpusHead");
    if r.take(8)? != b"OpusHead" {
        return Err(FlvError::BadCodecSignature {
            codec: "Opus",
            magic: "OpusHead",
        });
    }
    r.u8()?; // version
    info.channels = Some(r.u8()?);
    Ok(info)
}

fn describe_flac(head: &[u8]) -> Result<StreamCodecInfo, FlvError> {
    let mut r = ByteReader::new(head, "FLAC sequence header");
    if r.take(4)? != b"fLaC" {
        return Err(FlvError::BadCodecSignature {
            codec: "FLAC",
            magic: "fLaC",
        });
    }
    let block_type = r.u8()? & 0x7f;
    if block_type != 0 {
        return Err(FlvError::UnexpectedUnitType {
            expected: "FLAC STREAMINFO block",
            found: block_type,
        });
    }
    r.u24()?; // block length
    let streaminfo = r.take(18)?;
    let mut b = BitReader::new(streaminfo, "FLAC STREAMINFO");
    b.skip(16 + 16 + 24 + 24)?;
    let sample_rate = b.bits(20)?;
    let channels = b.bits(3)? as u8 + 1;
    Ok(StreamCodecInfo {
        codec: AudioCodec::Flac.to_string(),
        sample_rate: Some(sample_rate),
        channels: Some(channels),
        ..StreamCodecInfo::default()
    })
}

fn describe_aac(asc: &[u8]) -> Result<StreamCodecInfo, FlvError> {
    let c = parse_aac_config(asc)?;
    Ok(StreamCodecInfo {
        codec: AudioCodec::Aac.to_string(),
        profile: aac_profile_name(c.object_type).map(str::to_owned),
        sample_rate: Some(c.sample_rate),
        channels: Some(c.channels),
        ..StreamCodecInfo::default()
    })
}

/// Describes an audio stream from a whole audio tag body: an AAC sequence header, an enhanced
/// SequenceStart (first track if multitrack), or any legacy non-AAC tag (those headers are
/// self-describing: rate and channels come from SoundRate / SoundType).
pub fn describe_audio_sequence_header(payload: &[u8]) -> Result<StreamCodecInfo, FlvError> {
    let (header, len) = parse_audio_header(payload)?;
    let body = payload.get(len..).unwrap_or(&[]);
    match header {
        AudioTagHeader::Legacy(h) => {
            if h.sound_format == SoundFormat::AAC {
                if h.aac_packet_type != Some(AacPacketType::SEQUENCE_HEADER) {
                    return Err(FlvError::NotSequenceHeader);
                }
                return describe_aac(body);
            }
            let sample_rate = match h.sound_format.0 {
                4 | 11 => 16000,
                5 | 7 | 8 | 14 => 8000,
                _ => h.sample_rate_hz(),
            };
            let channels = if matches!(h.sound_format.0, 4 | 5 | 11) {
                1
            } else {
                h.sound_type + 1
            };
            Ok(StreamCodecInfo {
                codec: AudioCodec::from_sound_format(h.sound_format).to_string(),
                sample_rate: Some(sample_rate),
                channels: Some(channels),
                ..StreamCodecInfo::default()
            })
        }
        AudioTagHeader::Enhanced(h) => {
            if h.packet_type != AudioPacketType::SEQUENCE_START {
                return Err(FlvError::NotSequenceHeader);
            }
            let bytes = Bytes::copy_from_slice(body);
            let Some(track) = h.tracks(bytes).next() else {
                return Err(FlvError::NotSequenceHeader);
            };
            let t = track?;
            match t.fourcc {
                FourCc::MP4A => describe_aac(&t.data),
                FourCc::OPUS => describe_opus(&t.data),
                FourCc::FLAC => describe_flac(&t.data),
                other => Ok(StreamCodecInfo {
                    codec: AudioCodec::from_fourcc(other).to_string(),
                    ..StreamCodecInfo::default()
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hx;

    #[test]
    fn legacy_avc_720p() {
        let body = hx(
            "1700000000 0164001fffe1001a6764001facd9405005bb011000000300100000030320f1\
                       83196001000668ebe3cb22c0fdf8f800",
        );
        let i = describe_video_sequence_header(&body).unwrap();
        assert_eq!(i.codec, "h264");
        assert_eq!(i.profile.as_deref(), Some("High"));
        assert_eq!(i.level.as_deref(), Some("3.1"));
        assert_eq!((i.width, i.height), (Some(1280), Some(720)));
        assert!(matches!(
            describe_video_sequence_header(&hx("1701000000 00")),
            Err(FlvError::NotSequenceHeader)
        ));
    }

    #[test]
    fn enhanced_hvc1_1080p_and_legacy_id_12() {
        let rec = crate::testutil::HEVC_RECORD_1080P.replace(' ', "");
        let i = describe_video_sequence_header(&hx(&format!("9068766331{rec}"))).unwrap();
        assert_eq!(i.codec, "hevc");
        assert_eq!(i.profile.as_deref(), Some("Main"));
        assert_eq!(i.level.as_deref(), Some("4"));
        assert_eq!((i.width, i.height), (Some(1920), Some(1080)));
        let j = describe_video_sequence_header(&hx(&format!("1c00000000{rec}"))).unwrap();
        assert_eq!(i, j);
    }

    #[test]
    fn enhanced_av01_vp09_and_unknown() {
        let i =
            describe_video_sequence_header(&hx("9061763031 81010c000a0b0000000cc4ff6736be4010"))
                .unwrap();
        assert_eq!(i.codec, "av1");
        assert_eq!(i.level.as_deref(), Some("2.1"));
        assert_eq!((i.width, i.height), (Some(640), Some(360)));
        let i =
            describe_video_sequence_header(&hx("9076703039 01000000 00158202020200 00")).unwrap();
        assert_eq!(i.codec, "vp9");
        assert_eq!(i.level.as_deref(), Some("2.1"));
        let i = describe_video_sequence_header(&hx("9076766331 01")).unwrap();
        assert_eq!(i.codec, "vvc");
        assert!(matches!(
            describe_video_sequence_header(&hx("9161763031")),
            Err(FlvError::NotSequenceHeader)
        ));
    }

    #[test]
    fn audio_sequence_headers() {
        let i = describe_audio_sequence_header(&hx("af00 1210")).unwrap();
        assert_eq!(i.codec, "aac");
        assert_eq!(i.profile.as_deref(), Some("LC"));
        assert_eq!((i.sample_rate, i.channels), (Some(44100), Some(2)));
        assert!(matches!(
            describe_audio_sequence_header(&hx("af01 21")),
            Err(FlvError::NotSequenceHeader)
        ));
        let i = describe_audio_sequence_header(&hx("906d703461 1190")).unwrap();
        assert_eq!(
            (i.codec.as_str(), i.sample_rate, i.channels),
            ("aac", Some(48000), Some(2))
        );
        let opus = "904f707573 4f707573486561640102380180bb0000000000";
        let i = describe_audio_sequence_header(&hx(opus)).unwrap();
        assert_eq!(
            (i.codec.as_str(), i.sample_rate, i.channels),
            ("opus", Some(48000), Some(2))
        );
        assert!(describe_audio_sequence_header(&hx("904f707573 4f70757348")).is_err());
        assert!(matches!(
            describe_audio_sequence_header(&hx("904f707573 4f67675300000000")),
            Err(FlvError::BadCodecSignature { codec: "Opus", .. })
        ));
        // fLaC + STREAMINFO: 44100 Hz (0x0ac44), 2 channels (001), 16 bits (01111)
        let flac = "90664c6143 664c6143 80000022 10001000 000000 000000 0ac442f0 0000000000";
        let i = describe_audio_sequence_header(&hx(flac)).unwrap();
        assert_eq!(
            (i.codec.as_str(), i.sample_rate, i.channels),
            ("flac", Some(44100), Some(2))
        );
        let i = describe_audio_sequence_header(&hx("9061632d33")).unwrap();
        assert_eq!(i.codec, "ac3");
    }

    #[test]
    fn legacy_self_describing_audio() {
        let i = describe_audio_sequence_header(&hx("2afff3")).unwrap();
        assert_eq!(
            (i.codec.as_str(), i.sample_rate, i.channels),
            ("mp3", Some(22050), Some(1))
        );
        let i = describe_audio_sequence_header(&hx("b6")).unwrap();
        assert_eq!(
            (i.codec.as_str(), i.sample_rate, i.channels),
            ("speex", Some(16000), Some(1))
        );
    }
}
