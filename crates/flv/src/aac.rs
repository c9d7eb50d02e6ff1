//! AAC AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1): audio object type (with the escape value
//! 31), sampling frequency (index table, or explicit 24-bit value for index 15), channel
//! configuration, and explicit SBR/PS signalling (object types 5 and 29). This is the body of a
//! legacy AAC sequence header and of an Enhanced RTMP `mp4a` SequenceStart.

use crate::read::BitReader;
use crate::FlvError;

/// samplingFrequencyIndex table (ISO/IEC 14496-3 Table 1.18), indexes 0..=12.
const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// A parsed AudioSpecificConfig.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AacConfig {
    /// audioObjectType as signalled (2 = AAC LC, 5 = SBR / HE-AAC, 29 = PS / HE-AAC v2...).
    pub object_type: u8,
    /// Output sample rate in Hz: for explicit SBR/PS signalling the extension (SBR) rate,
    /// otherwise the core rate.
    pub sample_rate: u32,
    /// Channel count from channelConfiguration (0 = defined by a program config element).
    pub channels: u8,
}

fn object_type(b: &mut BitReader<'_>) -> Result<u8, FlvError> {
    let t = b.bits(5)? as u8;
    if t == 31 {
        Ok(32 + b.bits(6)? as u8)
    } else {
        Ok(t)
    }
}

fn frequency(b: &mut BitReader<'_>) -> Result<u32, FlvError> {
    let idx = b.bits(4)? as u8;
    if idx == 15 {
        return b.bits(24);
    }
    SAMPLE_RATES
        .get(usize::from(idx))
        .copied()
        .ok_or(FlvError::AacReservedFrequencyIndex(idx))
}

/// Parses an AudioSpecificConfig. Bytes after the fields above (GASpecificConfig, backward
/// compatible extension signalling) are ignored.
pub fn parse_aac_config(asc: &[u8]) -> Result<AacConfig, FlvError> {
    let mut b = BitReader::new(asc, "AudioSpecificConfig");
    let object = object_type(&mut b)?;
    let mut sample_rate = frequency(&mut b)?;
    let config = b.bits(4)? as u8;
    let channels = match config {
        0..=6 => config,
        7 => 8,
        11 => 7,
        12 | 14 => 8,
        13 => 24,
        other => return Err(FlvError::AacReservedChannelConfig(other)),
    };
    if object == 5 || object == 29 {
        sample_rate = frequency(&mut b)?;
    }
    Ok(AacConfig {
        object_type: object,
        sample_rate,
        channels,
    })
}

/// A human-readable name for an audio object type.
pub fn aac_profile_name(object_type: u8) -> Option<&'static str> {
    Some(match object_type {
        1 => "Main",
        2 => "LC",
        3 => "SSR",
        4 => "LTP",
        5 => "HE-AAC",
        23 => "LD",
        29 => "HE-AACv2",
        39 => "ELD",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lc_44100_stereo() {
        // 00010 0100 0010 000 => 0x12 0x10
        let c = parse_aac_config(&[0x12, 0x10]).unwrap();
        assert_eq!(
            c,
            AacConfig {
                object_type: 2,
                sample_rate: 44100,
                channels: 2
            }
        );
        assert_eq!(aac_profile_name(2), Some("LC"));
    }

    #[test]
    fn ffmpeg_asc_with_sync_extension() {
        // Written by ffmpeg's aac encoder: LC 44.1 kHz stereo + 0x2b7 sync extension.
        let c = parse_aac_config(&[0x12, 0x10, 0x56, 0xe5, 0x00]).unwrap();
        assert_eq!((c.object_type, c.sample_rate, c.channels), (2, 44100, 2));
    }

    #[test]
    fn lc_48000_mono_and_7_1() {
        // 00010 0011 0001 => 0x11 0x88
        let c = parse_aac_config(&[0x11, 0x88]).unwrap();
        assert_eq!((c.sample_rate, c.channels), (48000, 1));
        // channel config 7 => 8 channels: 00010 0011 0111 000 => 0x11 0xb8
        assert_eq!(parse_aac_config(&[0x11, 0xb8]).unwrap().channels, 8);
    }

    #[test]
    fn escape_object_type_and_explicit_frequency() {
        // object 31 + 6 bits (010000 => 32+16 = 48), freq index 15 + 24-bit 0x00bb80 (48000),
        // channels 2:
        // 11111 010000 1111 000000001011101110000000 0010
        let bits = "11111010000111100000000101110111000000000100000";
        let bytes = pack(bits);
        let c = parse_aac_config(&bytes).unwrap();
        assert_eq!((c.object_type, c.sample_rate, c.channels), (48, 48000, 2));
    }

    #[test]
    fn explicit_sbr_signalling() {
        // object 5, core 24000 (idx 6), stereo, extension idx 3 (48000), then AOT 2
        // 00101 0110 0010 0011 00010 => 0x2b 0x11 0x88
        let c = parse_aac_config(&[0x2b, 0x11, 0x88]).unwrap();
        assert_eq!((c.object_type, c.sample_rate, c.channels), (5, 48000, 2));
    }

    #[test]
    fn errors() {
        // index 13 reserved: 00010 1101 ...
        assert!(matches!(
            parse_aac_config(&[0x16, 0x80]),
            Err(FlvError::AacReservedFrequencyIndex(13))
        ));
        // channel config 8 reserved: 00010 0100 1000
        assert!(matches!(
            parse_aac_config(&[0x12, 0x40]),
            Err(FlvError::AacReservedChannelConfig(8))
        ));
        assert!(matches!(
            parse_aac_config(&[0x12]),
            Err(FlvError::Truncated { .. })
        ));
        assert!(matches!(
            parse_aac_config(&[]),
            Err(FlvError::Truncated { .. })
        ));
    }

    fn pack(bits: &str) -> Vec<u8> {
        bits.as_bytes()
            .chunks(8)
            .map(|c| {
                c.iter().enumerate().fold(
                    0u8,
                    |acc, (i, b)| if *b == b'1' { acc | 0x80 >> i } else { acc },
                )
            })
            .collect()
    }
}
