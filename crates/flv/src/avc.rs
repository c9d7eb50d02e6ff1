//! H.264 / AVC decoder configuration: the AVCDecoderConfigurationRecord of ISO/IEC 14496-15
//! 5.3.3.1 (legacy AVC sequence headers and Enhanced RTMP `avc1` SequenceStart bodies), and the
//! parts of the sequence parameter set (ITU-T H.264 7.3.2.1.1) needed for the picture size:
//! chroma format, scaling lists (skipped), POC type, frame_mbs_only and frame cropping.

use bytes::Bytes;

use crate::read::{nal_to_rbsp, BitReader, ByteReader};
use crate::FlvError;

/// A parsed AVCDecoderConfigurationRecord.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcConfig {
    /// AVCProfileIndication (profile_idc).
    pub profile: u8,
    /// profile_compatibility (constraint_set flags).
    pub compatibility: u8,
    /// AVCLevelIndication (level_idc, e.g. 31 for level 3.1).
    pub level: u8,
    /// Size in bytes of the NAL unit length prefix (lengthSizeMinusOne + 1).
    pub nal_length_size: u8,
    /// Sequence parameter set NAL units (at most 31).
    pub sps: Vec<Bytes>,
    /// Picture parameter set NAL units (at most 255).
    pub pps: Vec<Bytes>,
    /// Picture width in pixels, from the first SPS (`None` if it could not be parsed).
    pub width: Option<u32>,
    /// Picture height in pixels, from the first SPS (`None` if it could not be parsed).
    pub height: Option<u32>,
}

/// Parses an AVCDecoderConfigurationRecord. Width and height are best effort: a record whose
/// SPS cannot be parsed still succeeds, with `None` sizes.
///
/// The trailing high-profile extension (chroma_format etc.) is not required and not read.
pub fn parse_avc_config(record: &[u8]) -> Result<AvcConfig, FlvError> {
    let mut r = ByteReader::new(record, "AVCDecoderConfigurationRecord");
    let version = r.u8()?;
    if version != 1 {
        return Err(FlvError::UnsupportedConfigVersion {
            record: "AVCDecoderConfigurationRecord",
            version,
        });
    }
    let profile = r.u8()?;
    let compatibility = r.u8()?;
    let level = r.u8()?;
    let nal_length_size = (r.u8()? & 0x03) + 1;
    let num_sps = r.u8()? & 0x1f;
    let mut sps = Vec::with_capacity(usize::from(num_sps));
    for _ in 0..num_sps {
        let len = r.u16()?;
        sps.push(Bytes::copy_from_slice(r.take(usize::from(len))?));
    }
    let num_pps = r.u8()?;
    let mut pps = Vec::new();
    for _ in 0..num_pps {
        let len = r.u16()?;
        pps.push(Bytes::copy_from_slice(r.take(usize::from(len))?));
    }
    let dims = sps.first().and_then(|s| parse_avc_sps(s).ok());
    Ok(AvcConfig {
        profile,
        compatibility,
        level,
        nal_length_size,
        sps,
        pps,
        width: dims.as_ref().map(|d| d.width),
        height: dims.as_ref().map(|d| d.height),
    })
}

/// Fields of an H.264 sequence parameter set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvcSps {
    /// profile_idc.
    pub profile_idc: u8,
    /// constraint_set0..5 flags byte.
    pub constraint_flags: u8,
    /// level_idc.
    pub level_idc: u8,
    /// chroma_format_idc (1 = 4:2:0 when absent).
    pub chroma_format_idc: u8,
    /// bit_depth_luma_minus8 + 8.
    pub bit_depth_luma: u8,
    /// Cropped picture width in pixels.
    pub width: u32,
    /// Cropped picture height in pixels.
    pub height: u32,
}

/// Profiles whose SPS carries chroma_format_idc, bit depths and scaling lists (H.264 7.3.2.1.1).
fn has_chroma_info(profile_idc: u8) -> bool {
    matches!(
        profile_idc,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    )
}

fn out_of_range(field: &'static str, value: u64) -> FlvError {
    FlvError::ParameterOutOfRange { field, value }
}

/// Parses an SPS NAL unit (with its 1-byte NAL header; emulation prevention is removed here).
pub fn parse_avc_sps(nal: &[u8]) -> Result<AvcSps, FlvError> {
    let rbsp = nal_to_rbsp(nal);
    let mut b = BitReader::new(&rbsp, "H.264 SPS");
    let nal_type = b.bits(8)? as u8 & 0x1f;
    if nal_type != 7 {
        return Err(FlvError::UnexpectedUnitType {
            expected: "H.264 SPS",
            found: nal_type,
        });
    }
    let profile_idc = b.bits(8)? as u8;
    let constraint_flags = b.bits(8)? as u8;
    let level_idc = b.bits(8)? as u8;
    let sps_id = b.ue()?;
    if sps_id > 31 {
        return Err(out_of_range("seq_parameter_set_id", sps_id.into()));
    }
    let mut chroma_format_idc = 1u32;
    let mut separate_colour_plane = false;
    let mut bit_depth_luma = 8u32;
    if has_chroma_info(profile_idc) {
        chroma_format_idc = b.ue()?;
        if chroma_format_idc > 3 {
            return Err(out_of_range("chroma_format_idc", chroma_format_idc.into()));
        }
        if chroma_format_idc == 3 {
            separate_colour_plane = b.flag()?;
        }
        let depth_minus8 = b.ue()?;
        if depth_minus8 > 6 {
            return Err(out_of_range("bit_depth_luma_minus8", depth_minus8.into()));
        }
        bit_depth_luma = depth_minus8 + 8;
        b.ue()?; // bit_depth_chroma_minus8
        b.flag()?; // qpprime_y_zero_transform_bypass_flag
        if b.flag()? {
            // seq_scaling_matrix_present_flag
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if b.flag()? {
                    skip_scaling_list(&mut b, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    b.ue()?; // log2_max_frame_num_minus4
    let poc_type = b.ue()?;
    match poc_type {
        0 => {
            b.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            b.flag()?; // delta_pic_order_always_zero_flag
            b.se()?; // offset_for_non_ref_pic
            b.se()?; // offset_for_top_to_bottom_field
            let cycle = b.ue()?;
            if cycle > 255 {
                return Err(out_of_range(
                    "num_ref_frames_in_pic_order_cnt_cycle",
                    cycle.into(),
                ));
            }
            for _ in 0..cycle {
                b.se()?;
            }
        }
        2 => {}
        other => return Err(out_of_range("pic_order_cnt_type", other.into())),
    }
    b.ue()?; // max_num_ref_frames
    b.flag()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = u64::from(b.ue()?) + 1;
    let height_map_units = u64::from(b.ue()?) + 1;
    let frame_mbs_only = b.flag()?;
    if !frame_mbs_only {
        b.flag()?; // mb_adaptive_frame_field_flag
    }
    b.flag()?; // direct_8x8_inference_flag
    let (mut crop_l, mut crop_r, mut crop_t, mut crop_b) = (0u64, 0u64, 0u64, 0u64);
    if b.flag()? {
        crop_l = b.ue()?.into();
        crop_r = b.ue()?.into();
        crop_t = b.ue()?.into();
        crop_b = b.ue()?.into();
    }
    let field_factor = if frame_mbs_only { 1 } else { 2 };
    let chroma_array_type = if separate_colour_plane {
        0
    } else {
        chroma_format_idc
    };
    let (crop_x, crop_y) = match chroma_array_type {
        0 => (1, field_factor),
        1 => (2, 2 * field_factor),
        2 => (2, field_factor),
        _ => (1, field_factor),
    };
    let full_w = width_mbs * 16;
    let full_h = height_map_units * 16 * field_factor;
    let width = full_w
        .checked_sub(crop_x * (crop_l + crop_r))
        .filter(|&w| w > 0 && w <= u64::from(u32::MAX))
        .ok_or_else(|| out_of_range("frame_crop_left/right_offset", crop_l + crop_r))?;
    let height = full_h
        .checked_sub(crop_y * (crop_t + crop_b))
        .filter(|&h| h > 0 && h <= u64::from(u32::MAX))
        .ok_or_else(|| out_of_range("frame_crop_top/bottom_offset", crop_t + crop_b))?;
    Ok(AvcSps {
        profile_idc,
        constraint_flags,
        level_idc,
        chroma_format_idc: chroma_format_idc as u8,
        bit_depth_luma: bit_depth_luma as u8,
        width: width as u32,
        height: height as u32,
    })
}

/// scaling_list() of H.264 7.3.2.1.1.1, values discarded.
fn skip_scaling_list(b: &mut BitReader<'_>, size: usize) -> Result<(), FlvError> {
    let mut last = 8i64;
    let mut next = 8i64;
    for _ in 0..size {
        if next != 0 {
            let delta = i64::from(b.se()?);
            next = (last + delta).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// A human-readable profile name for profile_idc (and constraint_set1 for Constrained Baseline).
pub fn avc_profile_name(profile_idc: u8, compatibility: u8) -> Option<&'static str> {
    Some(match profile_idc {
        66 if compatibility & 0x40 != 0 => "Constrained Baseline",
        66 => "Baseline",
        77 => "Main",
        88 => "Extended",
        100 => "High",
        110 => "High 10",
        122 => "High 4:2:2",
        244 => "High 4:4:4 Predictive",
        44 => "CAVLC 4:4:4 Intra",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hx;

    /// Sequence header body written by ffmpeg 5.1 / libx264 for 1280x720 High profile, level 3.1
    /// (`17 00 000000` tag header stripped).
    const RECORD_720P: &str = "0164001fffe1001a6764001facd9405005bb011000000300100000030320f18319\
                               6001000668ebe3cb22c0";

    #[test]
    fn real_720p_high_record() {
        let c = parse_avc_config(&hx(RECORD_720P)).unwrap();
        assert_eq!((c.profile, c.compatibility, c.level), (100, 0, 31));
        assert_eq!(c.nal_length_size, 4);
        assert_eq!(c.sps.len(), 1);
        assert_eq!(c.sps[0].len(), 26);
        assert_eq!(c.pps.len(), 1);
        assert_eq!(&c.pps[0][..], &hx("68ebe3cb22c0")[..]);
        assert_eq!((c.width, c.height), (Some(1280), Some(720)));
        assert_eq!(avc_profile_name(c.profile, c.compatibility), Some("High"));
    }

    #[test]
    fn real_320x240_record_with_trailing_extension() {
        // ffmpeg 320x240 High 1.2; the record ends with the High-profile extension fdf8f800.
        let rec = hx(
            "0164000cffe100196764000cacd94141fb011000000300100000030140f14299\
                      6001000668ebe3cb22c0fdf8f800",
        );
        let c = parse_avc_config(&rec).unwrap();
        assert_eq!((c.width, c.height), (Some(320), Some(240)));
        assert_eq!(c.level, 12);
    }

    #[test]
    fn sps_with_cropping_1080p() {
        // Baseline SPS for 1920x1080: 120x68 MBs, frame_crop_bottom_offset 4 (8 lines).
        // profile 66, level 40; bits: sps_id ue(0)=1, log2_max_frame_num ue(0)=1, poc_type
        // ue(2)=011, max_num_ref_frames ue(1)=010, gaps 0, width_mbs-1=119 ue, height-1=67 ue,
        // frame_mbs_only 1, direct8x8 1, cropping 1, 0 0 0 4.
        let mut bits = String::from("1" /*sps id*/);
        bits += "1"; // log2_max_frame_num_minus4 = 0
        bits += "011"; // poc type 2
        bits += "010"; // max_num_ref_frames 1
        bits += "0"; // gaps
        bits += &ue(119);
        bits += &ue(67);
        bits += "1"; // frame_mbs_only
        bits += "1"; // direct_8x8
        bits += "1"; // cropping
        bits += &ue(0);
        bits += &ue(0);
        bits += &ue(0);
        bits += &ue(4);
        bits += "1"; // rbsp stop bit
        let mut nal = vec![0x67, 66, 0xc0, 40];
        nal.extend(pack(&bits));
        let s = parse_avc_sps(&nal).unwrap();
        assert_eq!((s.width, s.height), (1920, 1080));
        assert_eq!(s.chroma_format_idc, 1);
    }

    fn ue(v: u32) -> String {
        let x = v + 1;
        let n = 32 - x.leading_zeros();
        format!(
            "{}{:0width$b}",
            "0".repeat(n as usize - 1),
            x,
            width = n as usize
        )
    }

    fn pack(bits: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in bits.as_bytes().chunks(8) {
            let mut byte = 0u8;
            for (i, c) in chunk.iter().enumerate() {
                if *c == b'1' {
                    byte |= 0x80 >> i;
                }
            }
            out.push(byte);
        }
        out
    }

    #[test]
    fn high_profile_sps_with_scaling_lists_and_444() {
        // High 4:4:4 (244): chroma 3, separate plane 0, depths 0/0, bypass 0, scaling matrix
        // present with list 0 present (all deltas 0 => 16 se(0) -> first delta 0 keeps next=8,
        // so all 16 entries read) and lists 1..11 absent; then a 64x48 picture.
        let mut bits = String::new();
        bits += "1"; // sps id
        bits += &ue(3); // chroma_format_idc
        bits += "0"; // separate_colour_plane_flag
        bits += "1"; // bit_depth_luma_minus8 = 0
        bits += "1"; // bit_depth_chroma_minus8 = 0
        bits += "0"; // qpprime bypass
        bits += "1"; // scaling matrix present
        bits += "1"; // list 0 present
        bits += &"1".repeat(16); // 16 x se(0)
        bits += &"0".repeat(11); // lists 1..11 absent
        bits += "1"; // log2_max_frame_num
        bits += "1"; // poc type 0
        bits += "1"; // log2_max_poc_lsb
        bits += "010"; // refs
        bits += "0";
        bits += &ue(3); // 4 MBs wide
        bits += &ue(2); // 3 MBs high
        bits += "11"; // frame_mbs_only, direct8x8
        bits += "0"; // no cropping
        bits += "1";
        let mut nal = vec![0x67, 244, 0x00, 30];
        nal.extend(pack(&bits));
        let s = parse_avc_sps(&nal).unwrap();
        assert_eq!((s.width, s.height, s.chroma_format_idc), (64, 48, 3));
    }

    #[test]
    fn interlaced_sps_doubles_height() {
        let mut bits = String::new();
        bits += "1"; // sps id
        bits += "1"; // log2_max_frame_num
        bits += "011"; // poc type 2
        bits += "010";
        bits += "0";
        bits += &ue(44); // 720 / 16 - 1
        bits += &ue(17); // 576 / 32 - 1 map units
        bits += "0"; // frame_mbs_only = 0
        bits += "1"; // mb_adaptive
        bits += "1"; // direct8x8
        bits += "0";
        bits += "1";
        let mut nal = vec![0x67, 77, 0x40, 30];
        nal.extend(pack(&bits));
        let s = parse_avc_sps(&nal).unwrap();
        assert_eq!((s.width, s.height), (720, 576));
    }

    #[test]
    fn sps_errors() {
        assert!(matches!(
            parse_avc_sps(&hx("68ebe3cb22c0")),
            Err(FlvError::UnexpectedUnitType { found: 8, .. })
        ));
        assert!(matches!(
            parse_avc_sps(&hx("6764")),
            Err(FlvError::Truncated { .. })
        ));
        // poc type 3 is out of range
        let mut nal = vec![0x67, 66, 0, 30];
        nal.extend(pack(&format!("11{}1", ue(3))));
        assert!(matches!(
            parse_avc_sps(&nal),
            Err(FlvError::ParameterOutOfRange {
                field: "pic_order_cnt_type",
                value: 3
            })
        ));
    }

    #[test]
    fn record_errors() {
        assert!(matches!(
            parse_avc_config(&hx("0264001f")),
            Err(FlvError::UnsupportedConfigVersion { version: 2, .. })
        ));
        let full = hx(RECORD_720P);
        for cut in 0..full.len() {
            assert!(parse_avc_config(&full[..cut]).is_err(), "cut {cut}");
        }
        // A record whose SPS is garbage still parses, without a size.
        let c = parse_avc_config(&hx("0142c01effe10002 6742 01 0002 68ce")).unwrap();
        assert_eq!((c.width, c.height), (None, None));
    }
}
