//! Track configurations: what an init segment says about each track, built from the codec
//! configuration records that FLV sequence headers carry.
//!
//! | track | FLV sequence header body | ISOBMFF box written from it |
//! |---|---|---|
//! | H.264 | AVCDecoderConfigurationRecord (14496-15 5.3.3.1) | `avcC`, verbatim |
//! | HEVC | HEVCDecoderConfigurationRecord (14496-15 8.3.3.1) | `hvcC`, verbatim |
//! | AV1 | AV1CodecConfigurationRecord (AV1-ISOBMFF 2.3.3) | `av1C`, verbatim |
//! | VP9 | VPCodecConfigurationRecord with FullBox version/flags (VP-ISOBMFF 2.2) | `vpcC`, verbatim |
//! | AAC | AudioSpecificConfig (14496-3 1.6.2.1) | `esds` DecoderSpecificInfo |
//! | Opus | OpusHead (RFC 7845 5.1, little-endian) | `dOps` (Opus-ISOBMFF 4.3.2, big-endian) |
//!
//! Records are parsed with `sluice_flv` to validate them and to learn the picture size, the
//! sample rate and the RFC 6381 codec string; the bytes written into the init segment are the
//! publisher's own. VP9 records carry no picture size: [`VideoConfig::vp9`] leaves it 0 and the
//! muxer takes it from the first key frame's uncompressed header ([`vp9_frame_size`]).

use bytes::Bytes;
use sluice_flv::parse_vp_config;
use sluice_flv::{parse_aac_config, parse_av1_config, parse_avc_config, parse_hevc_config};

use crate::codec_string;
use crate::MuxError;

/// Which of the (at most two) tracks of a muxer a configuration or sample belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TrackKind {
    /// The video track, `track_ID` 1.
    Video,
    /// The audio track, `track_ID` 2.
    Audio,
}

impl TrackKind {
    /// The ISOBMFF `track_ID`. It is fixed per kind (video 1, audio 2) whatever tracks are
    /// present, so it stays the same across init segments of one stream.
    pub const fn track_id(self) -> u32 {
        match self {
            TrackKind::Video => 1,
            TrackKind::Audio => 2,
        }
    }
}

/// Video codecs this muxer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoFormat {
    /// H.264 / AVC, sample entry `avc1`.
    Avc,
    /// H.265 / HEVC, sample entry `hvc1` (parameter sets in `hvcC` only).
    Hevc,
    /// AV1, sample entry `av01`.
    Av1,
    /// VP9, sample entry `vp09`.
    Vp9,
}

/// Audio codecs this muxer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioFormat {
    /// MPEG-4 AAC, sample entry `mp4a`.
    Aac,
    /// Opus, sample entry `Opus`.
    Opus,
}

/// The configuration of a video track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoConfig {
    format: VideoFormat,
    record: Bytes,
    width: u32,
    height: u32,
    codec: String,
}

impl VideoConfig {
    /// H.264 from an AVCDecoderConfigurationRecord; the size comes from its first SPS.
    pub fn avc(record: Bytes) -> Result<Self, MuxError> {
        let c = parse_avc_config(&record)?;
        let codec = codec_string::avc(&record);
        Ok(Self::new(
            VideoFormat::Avc,
            record,
            c.width,
            c.height,
            codec,
        ))
    }

    /// HEVC from an HEVCDecoderConfigurationRecord; the size comes from its first SPS.
    pub fn hevc(record: Bytes) -> Result<Self, MuxError> {
        let c = parse_hevc_config(&record)?;
        let codec = codec_string::hevc(&record);
        Ok(Self::new(
            VideoFormat::Hevc,
            record,
            c.width,
            c.height,
            codec,
        ))
    }

    /// AV1 from an AV1CodecConfigurationRecord; the size comes from its sequence header OBU.
    pub fn av1(record: Bytes) -> Result<Self, MuxError> {
        let c = parse_av1_config(&record)?;
        let codec = codec_string::av1(&c);
        Ok(Self::new(
            VideoFormat::Av1,
            record,
            c.width,
            c.height,
            codec,
        ))
    }

    /// VP9 from a VPCodecConfigurationRecord preceded by its FullBox version and flags (as
    /// Enhanced RTMP publishers send it). The size is unknown (0) until set with
    /// [`VideoConfig::with_size`]; the muxer does it from the first key frame.
    pub fn vp9(record: Bytes) -> Result<Self, MuxError> {
        let c = parse_vp_config(&record)?;
        let codec = codec_string::vp9(&c);
        Ok(Self::new(VideoFormat::Vp9, record, None, None, codec))
    }

    fn new(
        format: VideoFormat,
        record: Bytes,
        width: Option<u32>,
        height: Option<u32>,
        codec: String,
    ) -> Self {
        VideoConfig {
            format,
            record,
            width: width.unwrap_or(0),
            height: height.unwrap_or(0),
            codec,
        }
    }

    /// The same configuration with another picture size (for example from `onMetaData`).
    pub fn with_size(mut self, width: u32, height: u32) -> Self {
        self.width = width;
        self.height = height;
        self
    }

    /// The codec.
    pub fn format(&self) -> VideoFormat {
        self.format
    }

    /// The configuration record, as written into the `avcC`/`hvcC`/`av1C`/`vpcC` box.
    pub fn record(&self) -> &Bytes {
        &self.record
    }

    /// Picture width in pixels (0 if unknown).
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Picture height in pixels (0 if unknown).
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The RFC 6381 codec string, e.g. `avc1.64001f`.
    pub fn codec_string(&self) -> &str {
        &self.codec
    }
}

/// The OpusHead fields that `dOps` carries (RFC 7845 5.1, Opus-ISOBMFF 4.3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusHead {
    /// Output channel count.
    pub channels: u8,
    /// Samples (at 48 kHz) to discard from the decoder output at the start.
    pub pre_skip: u16,
    /// Sample rate of the original input (informational).
    pub input_sample_rate: u32,
    /// Output gain in Q7.8 dB.
    pub output_gain: i16,
    /// Channel mapping family (0: mono/stereo, 1: Vorbis order, 255: undefined...).
    pub mapping_family: u8,
    /// For families other than 0: stream count, coupled stream count and the channel mapping.
    pub mapping: Option<(u8, u8, Vec<u8>)>,
}

impl OpusHead {
    /// Parses an OpusHead ("OpusHead", version 1). An empty body (allowed by Enhanced RTMP)
    /// means plain stereo with no pre-skip.
    pub fn parse(head: &[u8]) -> Result<Self, MuxError> {
        if head.is_empty() {
            return Ok(OpusHead {
                channels: 2,
                pre_skip: 0,
                input_sample_rate: 48_000,
                output_gain: 0,
                mapping_family: 0,
                mapping: None,
            });
        }
        if head.len() < 19 {
            return Err(MuxError::BadOpusHead("shorter than 19 bytes"));
        }
        if &head[..8] != b"OpusHead" {
            return Err(MuxError::BadOpusHead("no OpusHead magic"));
        }
        if head[8] >> 4 != 0 {
            return Err(MuxError::BadOpusHead("unsupported major version"));
        }
        let channels = head[9];
        if channels == 0 {
            return Err(MuxError::BadOpusHead("zero channels"));
        }
        let mapping_family = head[18];
        let mapping = if mapping_family == 0 {
            None
        } else {
            let table = head
                .get(21..21 + usize::from(channels))
                .ok_or(MuxError::BadOpusHead("channel mapping table truncated"))?;
            Some((head[19], head[20], table.to_vec()))
        };
        Ok(OpusHead {
            channels,
            pre_skip: u16::from_le_bytes([head[10], head[11]]),
            input_sample_rate: u32::from_le_bytes([head[12], head[13], head[14], head[15]]),
            output_gain: i16::from_le_bytes([head[16], head[17]]),
            mapping_family,
            mapping,
        })
    }
}

/// The configuration of an audio track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioConfig {
    format: AudioFormat,
    sample_rate: u32,
    channels: u16,
    asc: Bytes,
    opus: Option<OpusHead>,
    frame_samples: u32,
    codec: String,
}

impl AudioConfig {
    /// AAC from an AudioSpecificConfig.
    pub fn aac(asc: Bytes) -> Result<Self, MuxError> {
        let c = parse_aac_config(&asc)?;
        if c.sample_rate == 0 {
            return Err(MuxError::BadSampleRate(0));
        }
        // With explicit SBR/PS signalling the reported rate is the SBR (output) rate, at which
        // one access unit is 2048 samples; otherwise 1024 (the 960-sample variant is not used by
        // RTMP encoders).
        let frame_samples = if matches!(c.object_type, 5 | 29) {
            2048
        } else {
            1024
        };
        Ok(AudioConfig {
            format: AudioFormat::Aac,
            sample_rate: c.sample_rate,
            channels: u16::from(if c.channels == 0 { 2 } else { c.channels }),
            asc,
            opus: None,
            frame_samples,
            codec: codec_string::aac(c.object_type),
        })
    }

    /// Opus from an OpusHead (or an empty body: stereo). The timescale is always 48 kHz.
    pub fn opus(head: &[u8]) -> Result<Self, MuxError> {
        let h = OpusHead::parse(head)?;
        Ok(AudioConfig {
            format: AudioFormat::Opus,
            sample_rate: 48_000,
            channels: u16::from(h.channels),
            asc: Bytes::new(),
            opus: Some(h),
            frame_samples: 960,
            codec: "opus".to_string(),
        })
    }

    /// The codec.
    pub fn format(&self) -> AudioFormat {
        self.format
    }

    /// Sample rate in Hz; also the track's timescale.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Channel count.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// The AudioSpecificConfig (AAC; empty for Opus).
    pub fn audio_specific_config(&self) -> &Bytes {
        &self.asc
    }

    /// The OpusHead fields (Opus only).
    pub fn opus_head(&self) -> Option<&OpusHead> {
        self.opus.as_ref()
    }

    /// The usual number of samples per access unit (AAC 1024 or 2048; Opus 960, but each Opus
    /// packet says its own, see [`opus_packet_samples`]).
    pub fn frame_samples(&self) -> u32 {
        self.frame_samples
    }

    /// The RFC 6381 codec string, e.g. `mp4a.40.2` or `opus`.
    pub fn codec_string(&self) -> &str {
        &self.codec
    }

    /// Samples in one access unit of this track.
    pub(crate) fn samples_in(&self, data: &[u8]) -> u32 {
        match self.format {
            AudioFormat::Aac => self.frame_samples,
            AudioFormat::Opus => opus_packet_samples(data).unwrap_or(self.frame_samples),
        }
    }
}

/// One track's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackConfig {
    /// The video track.
    Video(VideoConfig),
    /// The audio track.
    Audio(AudioConfig),
}

impl TrackConfig {
    /// Which track this configures.
    pub fn kind(&self) -> TrackKind {
        match self {
            TrackConfig::Video(_) => TrackKind::Video,
            TrackConfig::Audio(_) => TrackKind::Audio,
        }
    }

    /// The track's timescale: 90 kHz for video, the sample rate for audio.
    pub fn timescale(&self) -> u32 {
        match self {
            TrackConfig::Video(_) => VIDEO_TIMESCALE,
            TrackConfig::Audio(a) => a.sample_rate,
        }
    }

    /// The RFC 6381 codec string.
    pub fn codec_string(&self) -> &str {
        match self {
            TrackConfig::Video(v) => v.codec_string(),
            TrackConfig::Audio(a) => a.codec_string(),
        }
    }
}

/// The video timescale. 90 kHz is a whole number of ticks per RTMP millisecond (90), so FLV
/// timestamps and composition offsets convert exactly; it is also MPEG-TS's clock, so HLS
/// segments in either container share timestamps, and it is fine-grained enough for any frame
/// rate (a 1 kHz timescale cannot express 29.97 fps durations without rounding every frame).
pub const VIDEO_TIMESCALE: u32 = 90_000;

/// Samples (at 48 kHz) in one Opus packet, from its TOC byte (RFC 6716 3.1): the frame size
/// of the configuration times the frame count of the code. For a multistream packet the first
/// stream's TOC speaks for all (every stream of a packet has the same duration).
pub fn opus_packet_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame sizes in units of 2.5 ms (120 samples at 48 kHz).
    let units = match config {
        0..=11 => [4, 8, 16, 24][usize::from(config % 4)],
        12..=15 => [4, 8][usize::from(config % 2)],
        _ => [1, 2, 4, 8][usize::from(config % 4)],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3f),
    };
    Some(units * 120 * frames)
}

/// The frame size of a VP9 key frame, from its uncompressed header (VP9 bitstream
/// specification 6.2: frame marker, profile, frame sync code, color config, frame size).
/// `None` for inter frames, `show_existing_frame` headers and anything unparsable.
pub fn vp9_frame_size(frame: &[u8]) -> Option<(u32, u32)> {
    let mut r = Bits {
        data: frame,
        pos: 0,
    };
    if r.bits(2)? != 2 {
        return None; // frame_marker
    }
    let profile = r.bits(1)? | (r.bits(1)? << 1);
    if profile == 3 {
        r.bits(1)?; // reserved_zero
    }
    if r.bits(1)? == 1 {
        return None; // show_existing_frame
    }
    if r.bits(1)? != 0 {
        return None; // frame_type: not a key frame
    }
    r.bits(2)?; // show_frame, error_resilient_mode
    if r.bits(24)? != 0x49_83_42 {
        return None; // frame_sync_code
    }
    if profile >= 2 {
        r.bits(1)?; // ten_or_twelve_bit
    }
    let color_space = r.bits(3)?;
    if color_space != 7 {
        r.bits(1)?; // color_range
        if profile == 1 || profile == 3 {
            r.bits(3)?; // subsampling_x, subsampling_y, reserved_zero
        }
    } else if profile == 1 || profile == 3 {
        r.bits(1)?; // reserved_zero
    }
    let w = r.bits(16)? + 1;
    let h = r.bits(16)? + 1;
    Some((w, h))
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            let bit = (byte >> (7 - self.pos % 8)) & 1;
            v = (v << 1) | u32::from(bit);
            self.pos += 1;
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hx(s: &str) -> Bytes {
        Bytes::from(hex::decode(s.replace(' ', "")).unwrap())
    }

    #[test]
    fn opus_head_and_defaults() {
        let h = OpusHead::parse(&hx("4f707573486561640102380180bb0000000000")).unwrap();
        assert_eq!(
            (h.channels, h.pre_skip, h.input_sample_rate),
            (2, 312, 48_000)
        );
        assert_eq!((h.output_gain, h.mapping_family, h.mapping), (0, 0, None));
        assert_eq!(OpusHead::parse(&[]).unwrap().channels, 2);
        assert!(matches!(
            OpusHead::parse(&hx("4f707573486561640102380180bb00000000")),
            Err(MuxError::BadOpusHead(_))
        ));
        // Family 1 with a truncated mapping table.
        assert!(OpusHead::parse(&hx("4f707573486561640106380180bb000000000104020001")).is_err());
        let h = OpusHead::parse(&hx("4f707573486561640103380180bb00000000010201 000102")).unwrap();
        assert_eq!(h.mapping, Some((2, 1, vec![0, 1, 2])));
    }

    #[test]
    fn opus_toc_durations() {
        assert_eq!(opus_packet_samples(&[0xfc]), Some(960)); // CELT FB 20 ms, one frame
        assert_eq!(opus_packet_samples(&[0xf8 | 1]), Some(1920)); // two 20 ms frames
        assert_eq!(opus_packet_samples(&[0x08]), Some(960)); // SILK NB 20 ms
        assert_eq!(opus_packet_samples(&[0x18]), Some(2880)); // SILK NB 60 ms
        assert_eq!(opus_packet_samples(&[0x80 | 3, 0x03]), Some(360)); // 3 x 2.5 ms CELT
        assert_eq!(opus_packet_samples(&[0x03]), None);
        assert_eq!(opus_packet_samples(&[]), None);
    }

    #[test]
    fn vp9_key_frame_size() {
        // Profile 0 key frame header of a 320x240 libvpx frame: marker 2, profile 0,
        // show_existing 0, key, show, !error_resilient, sync code, color space BT.601 (1),
        // studio range, width-1 = 319, height-1 = 239.
        let mut w = Vec::new();
        let bits = "10 0 0 0 0 1 0 010010011000001101000010 001 0 \
                    0000000100111111 0000000011101111 0000";
        let s: String = bits.split_whitespace().collect();
        for chunk in s.as_bytes().chunks(8) {
            let mut b = 0u8;
            for (i, c) in chunk.iter().enumerate() {
                b |= (c - b'0') << (7 - i);
            }
            w.push(b);
        }
        assert_eq!(vp9_frame_size(&w), Some((320, 240)));
        assert_eq!(vp9_frame_size(&[0x86]), None, "inter frame");
        assert_eq!(vp9_frame_size(&[0x82, 0x49]), None, "truncated");
    }

    #[test]
    fn aac_config() {
        let a = AudioConfig::aac(hx("1210")).unwrap();
        assert_eq!(
            (a.sample_rate(), a.channels(), a.frame_samples()),
            (44_100, 2, 1024)
        );
        assert_eq!(a.codec_string(), "mp4a.40.2");
        // HE-AAC, explicit SBR: 24 kHz core, 48 kHz output, 2048 samples per frame.
        let a = AudioConfig::aac(hx("2b118800")).unwrap();
        assert_eq!((a.sample_rate(), a.frame_samples()), (48_000, 2048));
        assert_eq!(a.codec_string(), "mp4a.40.5");
    }
}
