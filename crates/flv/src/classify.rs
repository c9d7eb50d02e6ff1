//! Cheap, allocation-free classification of audio/video tag bodies for the hot path (stream
//! hub: GOP cache, sequence header cache, keyframe-aligned joins). Never fails: bytes that do
//! not parse give an all-false result with an unknown codec.
//!
//! Legacy headers are classified from their first two bytes (FLV v10.1 E.4.2.1 / E.4.3.1);
//! enhanced ones through the full header parser (Enhanced RTMP v2), which does not allocate.

use std::fmt;

use crate::audio::{AacPacketType, AudioPacketType, AudioTagHeader, SoundFormat};
use crate::ex::AvMultitrackType;
use crate::video::{AvcPacketType, FrameType, VideoCodecId, VideoPacketType, VideoTagHeader};
use crate::{parse_audio_header, parse_video_header, FourCc};

/// A video codec named by a legacy CodecID or an Enhanced RTMP FOURCC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VideoCodec {
    /// Not recognisable (empty or garbage payload).
    #[default]
    Unknown,
    /// Sorenson H.263.
    H263,
    /// Screen video (v1 or v2).
    Screen,
    /// On2 VP6 (with or without alpha).
    Vp6,
    /// H.264 / AVC.
    Avc,
    /// H.265 / HEVC.
    Hevc,
    /// AV1.
    Av1,
    /// VP8.
    Vp8,
    /// VP9.
    Vp9,
    /// H.266 / VVC.
    Vvc,
    /// A legacy CodecID this crate does not name.
    OtherId(u8),
    /// A FOURCC this crate does not name.
    OtherFourCc(FourCc),
}

impl VideoCodec {
    /// The codec of a legacy CodecID.
    pub fn from_codec_id(id: VideoCodecId) -> Self {
        match id {
            VideoCodecId::H263 => VideoCodec::H263,
            VideoCodecId::SCREEN | VideoCodecId::SCREEN2 => VideoCodec::Screen,
            VideoCodecId::VP6 | VideoCodecId::VP6A => VideoCodec::Vp6,
            VideoCodecId::AVC => VideoCodec::Avc,
            VideoCodecId::HEVC => VideoCodec::Hevc,
            VideoCodecId::AV1 => VideoCodec::Av1,
            other => VideoCodec::OtherId(other.0),
        }
    }

    /// The codec of an Enhanced RTMP video FOURCC.
    pub fn from_fourcc(f: FourCc) -> Self {
        match f {
            FourCc::AVC1 => VideoCodec::Avc,
            FourCc::HVC1 => VideoCodec::Hevc,
            FourCc::AV01 => VideoCodec::Av1,
            FourCc::VP08 => VideoCodec::Vp8,
            FourCc::VP09 => VideoCodec::Vp9,
            FourCc::VVC1 => VideoCodec::Vvc,
            other => VideoCodec::OtherFourCc(other),
        }
    }
}

impl fmt::Display for VideoCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VideoCodec::Unknown => f.write_str("unknown"),
            VideoCodec::H263 => f.write_str("h263"),
            VideoCodec::Screen => f.write_str("screen"),
            VideoCodec::Vp6 => f.write_str("vp6"),
            VideoCodec::Avc => f.write_str("h264"),
            VideoCodec::Hevc => f.write_str("hevc"),
            VideoCodec::Av1 => f.write_str("av1"),
            VideoCodec::Vp8 => f.write_str("vp8"),
            VideoCodec::Vp9 => f.write_str("vp9"),
            VideoCodec::Vvc => f.write_str("vvc"),
            VideoCodec::OtherId(id) => write!(f, "video-codec-{id}"),
            VideoCodec::OtherFourCc(fc) => write!(f, "{fc}"),
        }
    }
}

/// An audio codec named by a legacy SoundFormat or an Enhanced RTMP FOURCC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AudioCodec {
    /// Not recognisable (empty or garbage payload).
    #[default]
    Unknown,
    /// Linear PCM (platform or little endian).
    Pcm,
    /// ADPCM.
    Adpcm,
    /// MP3 (including MP3 8 kHz).
    Mp3,
    /// Nellymoser (any variant).
    Nellymoser,
    /// G.711 A-law.
    G711ALaw,
    /// G.711 mu-law.
    G711MuLaw,
    /// AAC.
    Aac,
    /// Speex.
    Speex,
    /// Device-specific sound.
    DeviceSpecific,
    /// Opus.
    Opus,
    /// FLAC.
    Flac,
    /// AC-3.
    Ac3,
    /// E-AC-3.
    Eac3,
    /// A legacy SoundFormat this crate does not name (reserved values).
    OtherId(u8),
    /// A FOURCC this crate does not name.
    OtherFourCc(FourCc),
}

impl AudioCodec {
    /// The codec of a legacy SoundFormat.
    pub fn from_sound_format(f: SoundFormat) -> Self {
        match f.0 {
            0 | 3 => AudioCodec::Pcm,
            1 => AudioCodec::Adpcm,
            2 | 14 => AudioCodec::Mp3,
            4..=6 => AudioCodec::Nellymoser,
            7 => AudioCodec::G711ALaw,
            8 => AudioCodec::G711MuLaw,
            10 => AudioCodec::Aac,
            11 => AudioCodec::Speex,
            15 => AudioCodec::DeviceSpecific,
            other => AudioCodec::OtherId(other),
        }
    }

    /// The codec of an Enhanced RTMP audio FOURCC.
    pub fn from_fourcc(f: FourCc) -> Self {
        match f {
            FourCc::MP4A => AudioCodec::Aac,
            FourCc::OPUS => AudioCodec::Opus,
            FourCc::FLAC => AudioCodec::Flac,
            FourCc::AC3 => AudioCodec::Ac3,
            FourCc::EC3 => AudioCodec::Eac3,
            FourCc::MP3 => AudioCodec::Mp3,
            other => AudioCodec::OtherFourCc(other),
        }
    }
}

impl fmt::Display for AudioCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AudioCodec::Unknown => f.write_str("unknown"),
            AudioCodec::Pcm => f.write_str("pcm"),
            AudioCodec::Adpcm => f.write_str("adpcm"),
            AudioCodec::Mp3 => f.write_str("mp3"),
            AudioCodec::Nellymoser => f.write_str("nellymoser"),
            AudioCodec::G711ALaw => f.write_str("pcm_alaw"),
            AudioCodec::G711MuLaw => f.write_str("pcm_mulaw"),
            AudioCodec::Aac => f.write_str("aac"),
            AudioCodec::Speex => f.write_str("speex"),
            AudioCodec::DeviceSpecific => f.write_str("device-specific"),
            AudioCodec::Opus => f.write_str("opus"),
            AudioCodec::Flac => f.write_str("flac"),
            AudioCodec::Ac3 => f.write_str("ac3"),
            AudioCodec::Eac3 => f.write_str("eac3"),
            AudioCodec::OtherId(id) => write!(f, "audio-format-{id}"),
            AudioCodec::OtherFourCc(fc) => write!(f, "{fc}"),
        }
    }
}

/// Classification of a video tag body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VideoInfo {
    /// FrameType is key frame (or generated key frame). Also true for sequence headers sent
    /// with the key frame type; check `is_sequence_header` first.
    pub is_keyframe: bool,
    /// AVC/HEVC/AV1 sequence header, or enhanced SequenceStart / MPEG2TSSequenceStart.
    pub is_sequence_header: bool,
    /// AVC end of sequence, or enhanced SequenceEnd.
    pub is_sequence_end: bool,
    /// FrameType 5: video info / command frame (no picture).
    pub is_command: bool,
    /// The codec (for `ManyTracksManyCodecs`: the first track's).
    pub codec: VideoCodec,
}

/// Classifies a video tag body; never fails (see the module docs).
pub fn classify_video(payload: &[u8]) -> VideoInfo {
    let Some(&b0) = payload.first() else {
        return VideoInfo::default();
    };
    if b0 & 0x80 == 0 {
        let frame_type = FrameType(b0 >> 4);
        let codec_id = VideoCodecId(b0 & 0x0f);
        let is_command = frame_type == FrameType::COMMAND;
        let packet = if codec_id.has_avc_packet_type() && !is_command {
            payload.get(1).map(|&b| AvcPacketType(b))
        } else {
            None
        };
        return VideoInfo {
            is_keyframe: matches!(frame_type, FrameType::KEY | FrameType::GENERATED_KEY),
            is_sequence_header: packet == Some(AvcPacketType::SEQUENCE_HEADER),
            is_sequence_end: packet == Some(AvcPacketType::END_OF_SEQUENCE),
            is_command,
            codec: VideoCodec::from_codec_id(codec_id),
        };
    }
    let Ok((VideoTagHeader::Enhanced(h), len)) = parse_video_header(payload) else {
        return VideoInfo::default();
    };
    let is_metadata = h.packet_type == VideoPacketType::METADATA;
    let fourcc = h
        .fourcc
        .or_else(|| first_track_fourcc(h.multitrack.as_ref(), payload, len));
    VideoInfo {
        is_keyframe: !is_metadata
            && matches!(h.frame_type, FrameType::KEY | FrameType::GENERATED_KEY),
        is_sequence_header: matches!(
            h.packet_type,
            VideoPacketType::SEQUENCE_START | VideoPacketType::MPEG2TS_SEQUENCE_START
        ),
        is_sequence_end: h.packet_type == VideoPacketType::SEQUENCE_END,
        is_command: h.video_command.is_some(),
        codec: fourcc.map_or(VideoCodec::Unknown, VideoCodec::from_fourcc),
    }
}

fn first_track_fourcc(
    mt: Option<&crate::MultitrackInfo>,
    payload: &[u8],
    len: usize,
) -> Option<FourCc> {
    match mt {
        Some(m) if m.multitrack_type == AvMultitrackType::MANY_TRACKS_MANY_CODECS => {
            let b = payload.get(len..len.checked_add(4)?)?;
            let mut a = [0u8; 4];
            a.copy_from_slice(b);
            Some(FourCc(a))
        }
        _ => None,
    }
}

/// Classification of an audio tag body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AudioInfo {
    /// AAC sequence header, or enhanced SequenceStart.
    pub is_sequence_header: bool,
    /// The codec (for `ManyTracksManyCodecs`: the first track's).
    pub codec: AudioCodec,
}

/// Classifies an audio tag body; never fails (see the module docs).
pub fn classify_audio(payload: &[u8]) -> AudioInfo {
    let Some(&b0) = payload.first() else {
        return AudioInfo::default();
    };
    let format = SoundFormat(b0 >> 4);
    if format != SoundFormat::EX_HEADER {
        return AudioInfo {
            is_sequence_header: format == SoundFormat::AAC
                && payload.get(1) == Some(&AacPacketType::SEQUENCE_HEADER.0),
            codec: AudioCodec::from_sound_format(format),
        };
    }
    let Ok((AudioTagHeader::Enhanced(h), len)) = parse_audio_header(payload) else {
        return AudioInfo::default();
    };
    let fourcc = h
        .fourcc
        .or_else(|| first_track_fourcc(h.multitrack.as_ref(), payload, len));
    AudioInfo {
        is_sequence_header: h.packet_type == AudioPacketType::SEQUENCE_START,
        codec: fourcc.map_or(AudioCodec::Unknown, AudioCodec::from_fourcc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hx;

    #[test]
    fn legacy_video() {
        let i = classify_video(&hx("1700000000"));
        assert!(i.is_keyframe && i.is_sequence_header && !i.is_sequence_end);
        assert_eq!(i.codec, VideoCodec::Avc);
        assert_eq!(i.codec.to_string(), "h264");
        let i = classify_video(&hx("1701000000"));
        assert!(i.is_keyframe && !i.is_sequence_header);
        let i = classify_video(&hx("2701"));
        assert!(!i.is_keyframe);
        let i = classify_video(&hx("1702000000"));
        assert!(i.is_sequence_end);
        let i = classify_video(&hx("1c00"));
        assert_eq!(i.codec, VideoCodec::Hevc);
        assert!(i.is_sequence_header);
        let i = classify_video(&hx("5700"));
        assert!(i.is_command && !i.is_sequence_header);
        assert_eq!(classify_video(&hx("22")).codec, VideoCodec::H263);
        assert_eq!(classify_video(&hx("2f")).codec, VideoCodec::OtherId(15));
    }

    #[test]
    fn enhanced_video() {
        let i = classify_video(&hx("9068766331"));
        assert!(i.is_sequence_header && i.is_keyframe);
        assert_eq!(i.codec, VideoCodec::Hevc);
        let i = classify_video(&hx("a161766331000000"));
        assert!(!i.is_keyframe && !i.is_sequence_header);
        assert_eq!(i.codec, VideoCodec::Avc);
        let i = classify_video(&hx("9361763031"));
        assert!(i.is_keyframe);
        assert_eq!(i.codec.to_string(), "av1");
        let i = classify_video(&hx("9276703039"));
        assert!(i.is_sequence_end);
        assert_eq!(i.codec, VideoCodec::Vp9);
        assert!(classify_video(&hx("d100")).is_command);
        let i = classify_video(&hx("9461763031"));
        assert!(!i.is_keyframe, "metadata frames ignore the frame type");
        // ManyTracksManyCodecs: the first track's codec
        let i = classify_video(&hx("9620 61763031 00 000001 81"));
        assert!(i.is_sequence_header);
        assert_eq!(i.codec, VideoCodec::Av1);
        assert_eq!(classify_video(&hx("9031323334")).codec.to_string(), "1234");
    }

    #[test]
    fn garbage_video() {
        assert_eq!(classify_video(&[]), VideoInfo::default());
        assert_eq!(classify_video(&hx("90")), VideoInfo::default());
        assert_eq!(classify_video(&hx("9606")), VideoInfo::default());
    }

    #[test]
    fn audio() {
        let i = classify_audio(&hx("af00 1210"));
        assert!(i.is_sequence_header);
        assert_eq!(i.codec.to_string(), "aac");
        assert!(!classify_audio(&hx("af01")).is_sequence_header);
        assert_eq!(classify_audio(&hx("2a")).codec, AudioCodec::Mp3);
        assert_eq!(classify_audio(&hx("b2")).codec.to_string(), "speex");
        let i = classify_audio(&hx("90 4f707573"));
        assert!(i.is_sequence_header);
        assert_eq!(i.codec.to_string(), "opus");
        assert_eq!(classify_audio(&hx("91 664c6143")).codec, AudioCodec::Flac);
        assert_eq!(classify_audio(&hx("91 61632d33")).codec.to_string(), "ac3");
        assert_eq!(classify_audio(&hx("91 65632d33")).codec.to_string(), "eac3");
        assert_eq!(classify_audio(&hx("91 2e6d7033")).codec, AudioCodec::Mp3);
        assert_eq!(classify_audio(&hx("9521 4f707573")).codec, AudioCodec::Opus);
        assert_eq!(classify_audio(&[]), AudioInfo::default());
        assert_eq!(classify_audio(&hx("9100")), AudioInfo::default());
        assert_eq!(classify_audio(&hx("c0")).codec, AudioCodec::OtherId(12));
    }
}
