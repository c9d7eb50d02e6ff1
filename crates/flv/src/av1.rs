//! AV1 and VP8/VP9 configuration records carried by Enhanced RTMP `av01` / `vp09` / `vp08`
//! SequenceStart packets: the AV1CodecConfigurationRecord ("av1C", AV1 ISOBMFF binding 2.3.3)
//! with the picture size taken from its sequence header OBU (AV1 specification 5.5.1), and the
//! VPCodecConfigurationRecord ("vpcC", VP codec ISOBMFF binding 2.2, with its FullBox version
//! and flags, as ffmpeg writes it).

use crate::read::{BitReader, ByteReader};
use crate::FlvError;

/// A parsed AV1CodecConfigurationRecord.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Av1Config {
    /// seq_profile (0 Main, 1 High, 2 Professional).
    pub seq_profile: u8,
    /// seq_level_idx_0 (level = 2 + (idx >> 2) . (idx & 3)).
    pub seq_level_idx: u8,
    /// seq_tier_0.
    pub tier: bool,
    /// Bit depth (8, 10 or 12).
    pub bit_depth: u8,
    /// monochrome.
    pub monochrome: bool,
    /// Maximum frame width from the sequence header OBU, if present and parsable.
    pub width: Option<u32>,
    /// Maximum frame height from the sequence header OBU, if present and parsable.
    pub height: Option<u32>,
}

/// Parses an AV1CodecConfigurationRecord (marker 1, version 1). The picture size is best
/// effort, from the first configOBU if it is a sequence header.
pub fn parse_av1_config(record: &[u8]) -> Result<Av1Config, FlvError> {
    let mut r = ByteReader::new(record, "AV1CodecConfigurationRecord");
    let mv = r.u8()?;
    if mv != 0x81 {
        return Err(FlvError::UnsupportedConfigVersion {
            record: "AV1CodecConfigurationRecord",
            version: mv,
        });
    }
    let b1 = r.u8()?;
    let b2 = r.u8()?;
    r.u8()?; // reserved, initial_presentation_delay
    let high_bitdepth = b2 & 0x40 != 0;
    let twelve_bit = b2 & 0x20 != 0;
    let size = parse_sequence_header_obu(r.rest()).ok();
    Ok(Av1Config {
        seq_profile: b1 >> 5,
        seq_level_idx: b1 & 0x1f,
        tier: b2 & 0x80 != 0,
        bit_depth: match (high_bitdepth, twelve_bit) {
            (false, _) => 8,
            (true, false) => 10,
            (true, true) => 12,
        },
        monochrome: b2 & 0x10 != 0,
        width: size.map(|s| s.0),
        height: size.map(|s| s.1),
    })
}

/// Reads the OBU header and, for a sequence header OBU, the maximum frame size.
fn parse_sequence_header_obu(obus: &[u8]) -> Result<(u32, u32), FlvError> {
    let mut r = ByteReader::new(obus, "AV1 OBU");
    let header = r.u8()?;
    let obu_type = (header >> 3) & 0x0f;
    if obu_type != 1 {
        return Err(FlvError::UnexpectedUnitType {
            expected: "AV1 sequence header OBU",
            found: obu_type,
        });
    }
    if header & 0x04 != 0 {
        r.u8()?; // extension header
    }
    let payload = if header & 0x02 != 0 {
        let mut size = 0u64;
        for i in 0..8 {
            let byte = r.u8()?;
            size |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                break;
            }
        }
        let len = usize::try_from(size).unwrap_or(usize::MAX);
        r.take(len.min(r.remaining()))?
    } else {
        r.rest()
    };
    let mut b = BitReader::new(payload, "AV1 sequence header");
    b.bits(3)?; // seq_profile
    b.flag()?; // still_picture
    let reduced = b.flag()?;
    if reduced {
        b.bits(5)?; // seq_level_idx[0]
    } else {
        let timing_info_present = b.flag()?;
        let mut decoder_model_info_present = false;
        let mut buffer_delay_length = 0;
        if timing_info_present {
            b.skip(64)?; // num_units_in_display_tick, time_scale
            if b.flag()? {
                // equal_picture_interval
                b.ue()?; // num_ticks_per_picture_minus_1: uvlc() has ue(v)'s layout
            }
            decoder_model_info_present = b.flag()?;
            if decoder_model_info_present {
                buffer_delay_length = b.bits(5)? + 1;
                b.skip(32 + 5 + 5)?;
            }
        }
        let initial_display_delay_present = b.flag()?;
        let op_count = b.bits(5)? + 1;
        for _ in 0..op_count {
            b.bits(12)?; // operating_point_idc
            let level = b.bits(5)?;
            if level > 7 {
                b.flag()?; // seq_tier
            }
            if decoder_model_info_present && b.flag()? {
                b.skip(2 * buffer_delay_length as usize + 1)?;
            }
            if initial_display_delay_present && b.flag()? {
                b.bits(4)?;
            }
        }
    }
    let wbits = b.bits(4)? + 1;
    let hbits = b.bits(4)? + 1;
    let w = u64::from(b.bits(wbits)?) + 1;
    let h = u64::from(b.bits(hbits)?) + 1;
    Ok((w as u32, h as u32))
}

/// A parsed VPCodecConfigurationRecord.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VpConfig {
    /// profile.
    pub profile: u8,
    /// level (e.g. 31 = level 3.1).
    pub level: u8,
    /// bitDepth.
    pub bit_depth: u8,
    /// chromaSubsampling.
    pub chroma_subsampling: u8,
}

/// Parses a VPCodecConfigurationRecord preceded by its FullBox version (1) and flags.
pub fn parse_vp_config(record: &[u8]) -> Result<VpConfig, FlvError> {
    let mut r = ByteReader::new(record, "VPCodecConfigurationRecord");
    let version = r.u8()?;
    if version != 1 {
        return Err(FlvError::UnsupportedConfigVersion {
            record: "VPCodecConfigurationRecord",
            version,
        });
    }
    r.u24()?; // flags
    let profile = r.u8()?;
    let level = r.u8()?;
    let b = r.u8()?;
    Ok(VpConfig {
        profile,
        level,
        bit_depth: b >> 4,
        chroma_subsampling: (b >> 1) & 0x07,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hx;

    #[test]
    fn real_av1c_640x360() {
        // av1C written by ffmpeg 5.1 / libaom for a 640x360 4:2:0 8-bit stream.
        let c = parse_av1_config(&hx("81010c00 0a0b0000000cc4ff6736be4010")).unwrap();
        assert_eq!((c.seq_profile, c.seq_level_idx, c.tier), (0, 1, false));
        assert_eq!((c.bit_depth, c.monochrome), (8, false));
        assert_eq!((c.width, c.height), (Some(640), Some(360)));
        // Without configOBUs: no size.
        let c = parse_av1_config(&hx("81010c00")).unwrap();
        assert_eq!(c.width, None);
    }

    #[test]
    fn av1c_errors() {
        assert!(matches!(
            parse_av1_config(&hx("01010c00")),
            Err(FlvError::UnsupportedConfigVersion { version: 1, .. })
        ));
        assert!(matches!(
            parse_av1_config(&hx("8101")),
            Err(FlvError::Truncated { .. })
        ));
        // A metadata OBU (type 5) instead of a sequence header: size unknown, still Ok.
        let c = parse_av1_config(&hx("81010c00 2a0100")).unwrap();
        assert_eq!(c.height, None);
    }

    #[test]
    fn real_vpcc() {
        // vpcC written by ffmpeg 5.1 / libvpx-vp9: profile 0, level 2.1, 8-bit, 4:2:0.
        let c = parse_vp_config(&hx("01000000 00 15 82 020202 0000")).unwrap();
        assert_eq!(
            c,
            VpConfig {
                profile: 0,
                level: 21,
                bit_depth: 8,
                chroma_subsampling: 1
            }
        );
        assert!(matches!(
            parse_vp_config(&hx("00000000")),
            Err(FlvError::UnsupportedConfigVersion { version: 0, .. })
        ));
        assert!(parse_vp_config(&hx("0100000000")).is_err());
    }
}
