//! H.265 / HEVC decoder configuration: the HEVCDecoderConfigurationRecord of ISO/IEC 14496-15
//! 8.3.3.1 (legacy codec id 12 sequence headers and Enhanced RTMP `hvc1` SequenceStart bodies),
//! and the start of the sequence parameter set (ITU-T H.265 7.3.2.2.1, profile_tier_level 7.3.3)
//! up to the conformance window, which gives the picture size.

use bytes::Bytes;

use crate::read::{nal_to_rbsp, BitReader, ByteReader};
use crate::{FlvError, FlvLimits};

/// NAL unit type of a video parameter set.
pub const HEVC_NAL_VPS: u8 = 32;
/// NAL unit type of a sequence parameter set.
pub const HEVC_NAL_SPS: u8 = 33;
/// NAL unit type of a picture parameter set.
pub const HEVC_NAL_PPS: u8 = 34;

/// A parsed HEVCDecoderConfigurationRecord.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcConfig {
    /// general_profile_space.
    pub general_profile_space: u8,
    /// general_tier_flag (true = High tier).
    pub general_tier_flag: bool,
    /// general_profile_idc (1 Main, 2 Main 10, 3 Main Still Picture, 4 Range extensions...).
    pub general_profile_idc: u8,
    /// general_level_idc (30 x level, e.g. 93 = 3.1).
    pub general_level_idc: u8,
    /// chroma_format_idc.
    pub chroma_format_idc: u8,
    /// bitDepthLumaMinus8 + 8.
    pub bit_depth_luma: u8,
    /// Size in bytes of the NAL unit length prefix (lengthSizeMinusOne + 1).
    pub nal_length_size: u8,
    /// Parameter set arrays: (NAL_unit_type, NAL units).
    pub arrays: Vec<(u8, Vec<Bytes>)>,
    /// Picture width from the first SPS, conformance window applied (best effort).
    pub width: Option<u32>,
    /// Picture height from the first SPS, conformance window applied (best effort).
    pub height: Option<u32>,
}

impl HevcConfig {
    /// The NAL units of the array of the given type (empty if absent).
    pub fn nalus(&self, nal_type: u8) -> &[Bytes] {
        self.arrays
            .iter()
            .find(|(t, _)| *t == nal_type)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }
}

/// Parses an HEVCDecoderConfigurationRecord with default [`FlvLimits`]. Width/height are best
/// effort (`None` if the SPS cannot be parsed).
pub fn parse_hevc_config(record: &[u8]) -> Result<HevcConfig, FlvError> {
    parse_hevc_config_with(record, &FlvLimits::default())
}

/// [`parse_hevc_config`] with explicit limits: at most
/// [`FlvLimits::max_parameter_sets`] NAL units over all arrays (counts are never
/// pre-allocated).
pub fn parse_hevc_config_with(record: &[u8], limits: &FlvLimits) -> Result<HevcConfig, FlvError> {
    let mut r = ByteReader::new(record, "HEVCDecoderConfigurationRecord");
    let version = r.u8()?;
    if version != 1 {
        return Err(FlvError::UnsupportedConfigVersion {
            record: "HEVCDecoderConfigurationRecord",
            version,
        });
    }
    let b = r.u8()?;
    let general_profile_space = b >> 6;
    let general_tier_flag = b & 0x20 != 0;
    let general_profile_idc = b & 0x1f;
    r.take(4 + 6)?; // general_profile_compatibility_flags, general_constraint_indicator_flags
    let general_level_idc = r.u8()?;
    r.take(2 + 1)?; // min_spatial_segmentation_idc, parallelismType
    let chroma_format_idc = r.u8()? & 0x03;
    let bit_depth_luma = (r.u8()? & 0x07) + 8;
    r.take(1 + 2)?; // bitDepthChromaMinus8, avgFrameRate
    let nal_length_size = (r.u8()? & 0x03) + 1;
    let num_arrays = r.u8()?;
    let mut arrays = Vec::new();
    let mut total = 0usize;
    for _ in 0..num_arrays {
        let nal_type = r.u8()? & 0x3f;
        let count = r.u16()?;
        let mut units = Vec::new();
        for _ in 0..count {
            total += 1;
            if total > limits.max_parameter_sets {
                return Err(FlvError::TooManyParameterSets {
                    limit: limits.max_parameter_sets,
                });
            }
            let len = r.u16()?;
            units.push(Bytes::copy_from_slice(r.take(usize::from(len))?));
        }
        arrays.push((nal_type, units));
    }
    let mut cfg = HevcConfig {
        general_profile_space,
        general_tier_flag,
        general_profile_idc,
        general_level_idc,
        chroma_format_idc,
        bit_depth_luma,
        nal_length_size,
        arrays,
        width: None,
        height: None,
    };
    if let Some(Ok(sps)) = cfg.nalus(HEVC_NAL_SPS).first().map(|s| parse_hevc_sps(s)) {
        cfg.width = Some(sps.width);
        cfg.height = Some(sps.height);
    }
    Ok(cfg)
}

/// Fields of an H.265 sequence parameter set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HevcSps {
    /// general_profile_idc.
    pub general_profile_idc: u8,
    /// general_level_idc.
    pub general_level_idc: u8,
    /// chroma_format_idc.
    pub chroma_format_idc: u8,
    /// Width after the conformance window.
    pub width: u32,
    /// Height after the conformance window.
    pub height: u32,
}

fn out_of_range(field: &'static str, value: u64) -> FlvError {
    FlvError::ParameterOutOfRange { field, value }
}

/// Parses an SPS NAL unit (with its 2-byte NAL header; emulation prevention removed here).
pub fn parse_hevc_sps(nal: &[u8]) -> Result<HevcSps, FlvError> {
    let rbsp = nal_to_rbsp(nal);
    let mut b = BitReader::new(&rbsp, "H.265 SPS");
    let nal_type = ((b.bits(16)? >> 9) & 0x3f) as u8;
    if nal_type != HEVC_NAL_SPS {
        return Err(FlvError::UnexpectedUnitType {
            expected: "H.265 SPS",
            found: nal_type,
        });
    }
    b.bits(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = b.bits(3)? as usize;
    b.flag()?; // sps_temporal_id_nesting_flag
               // profile_tier_level(1, max_sub_layers_minus1)
    b.bits(2)?; // general_profile_space
    b.flag()?; // general_tier_flag
    let general_profile_idc = b.bits(5)? as u8;
    b.skip(32 + 4 + 43 + 1)?; // compatibility flags, source flags, constraint bits
    let general_level_idc = b.bits(8)? as u8;
    let mut sub_profile = [false; 8];
    let mut sub_level = [false; 8];
    for i in 0..max_sub_layers_minus1 {
        sub_profile[i] = b.flag()?;
        sub_level[i] = b.flag()?;
    }
    if max_sub_layers_minus1 > 0 {
        b.skip(2 * (8 - max_sub_layers_minus1))?; // reserved_zero_2bits
    }
    for i in 0..max_sub_layers_minus1 {
        if sub_profile[i] {
            b.skip(88)?;
        }
        if sub_level[i] {
            b.skip(8)?;
        }
    }
    let sps_id = b.ue()?;
    if sps_id > 15 {
        return Err(out_of_range("sps_seq_parameter_set_id", sps_id.into()));
    }
    let chroma_format_idc = b.ue()?;
    if chroma_format_idc > 3 {
        return Err(out_of_range("chroma_format_idc", chroma_format_idc.into()));
    }
    let separate_colour_plane = chroma_format_idc == 3 && b.flag()?;
    let width = u64::from(b.ue()?);
    let height = u64::from(b.ue()?);
    let (mut l, mut r, mut t, mut bo) = (0u64, 0u64, 0u64, 0u64);
    if b.flag()? {
        l = b.ue()?.into();
        r = b.ue()?.into();
        t = b.ue()?.into();
        bo = b.ue()?.into();
    }
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (sub_w, sub_h) = match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let w = width
        .checked_sub(sub_w * (l + r))
        .filter(|&w| w > 0 && w <= u64::from(u32::MAX))
        .ok_or_else(|| out_of_range("pic_width_in_luma_samples", width))?;
    let h = height
        .checked_sub(sub_h * (t + bo))
        .filter(|&h| h > 0 && h <= u64::from(u32::MAX))
        .ok_or_else(|| out_of_range("pic_height_in_luma_samples", height))?;
    Ok(HevcSps {
        general_profile_idc,
        general_level_idc,
        chroma_format_idc: chroma_format_idc as u8,
        width: w as u32,
        height: h as u32,
    })
}

/// A human-readable name for general_profile_idc.
pub fn hevc_profile_name(profile_idc: u8) -> Option<&'static str> {
    Some(match profile_idc {
        1 => "Main",
        2 => "Main 10",
        3 => "Main Still Picture",
        4 => "Rext",
        5 => "High Throughput",
        9 => "Screen Content",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{hx, HEVC_RECORD_1080P as RECORD_1080P};

    #[test]
    fn real_1080p_record() {
        let c = parse_hevc_config(&hx(RECORD_1080P)).unwrap();
        assert_eq!(c.general_profile_space, 0);
        assert!(!c.general_tier_flag);
        assert_eq!(c.general_profile_idc, 1);
        assert_eq!(c.general_level_idc, 120);
        assert_eq!(c.chroma_format_idc, 1);
        assert_eq!(c.bit_depth_luma, 8);
        assert_eq!(c.nal_length_size, 4);
        let types: Vec<u8> = c.arrays.iter().map(|(t, _)| *t).collect();
        assert_eq!(types, vec![HEVC_NAL_VPS, HEVC_NAL_SPS, HEVC_NAL_PPS]);
        assert_eq!(c.nalus(HEVC_NAL_SPS)[0].len(), 42);
        assert_eq!((c.width, c.height), (Some(1920), Some(1080)));
        assert_eq!(hevc_profile_name(c.general_profile_idc), Some("Main"));
    }

    #[test]
    fn record_errors() {
        let full = hx(RECORD_1080P);
        for cut in 0..full.len() {
            assert!(parse_hevc_config(&full[..cut]).is_err(), "cut {cut}");
        }
        assert!(matches!(
            parse_hevc_config(&hx("00")),
            Err(FlvError::UnsupportedConfigVersion { version: 0, .. })
        ));
        // numOfArrays = 3 but no arrays follow
        assert!(parse_hevc_config(&full[..23]).is_err());
        // numOfArrays = 0: parses, no size
        let mut empty = full[..22].to_vec();
        empty.push(0);
        let c = parse_hevc_config(&empty).unwrap();
        assert!(c.arrays.is_empty());
        assert_eq!(c.width, None);
    }

    #[test]
    fn parameter_set_limit() {
        // One array declaring 65535 zero-length NAL units.
        let mut rec = hx(RECORD_1080P)[..22].to_vec();
        rec.extend_from_slice(&[1, 0x20, 0xff, 0xff]);
        rec.resize(rec.len() + 2 * 65535, 0);
        assert!(matches!(
            parse_hevc_config(&rec),
            Err(FlvError::TooManyParameterSets { limit: 64 })
        ));
        let limits = FlvLimits {
            max_parameter_sets: 100_000,
            ..FlvLimits::default()
        };
        let c = parse_hevc_config_with(&rec, &limits).unwrap();
        assert_eq!(c.arrays[0].1.len(), 65535);
    }

    #[test]
    fn sps_wrong_type() {
        assert!(matches!(
            parse_hevc_sps(&hx("40010c01")),
            Err(FlvError::UnexpectedUnitType { found: 32, .. })
        ));
    }
}
