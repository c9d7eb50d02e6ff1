//! RFC 6381 `codecs` parameters, as `MediaSource.isTypeSupported` and the HLS `CODECS`
//! attribute (RFC 8216 4.3.4.2) expect them.
//!
//! - H.264 (14496-15 Annex E / RFC 6381 3.3): `avc1.PPCCLL`, the three hex bytes
//!   profile_idc, constraint flags, level_idc from the avcC.
//! - HEVC (14496-15 Annex E.3): `hvc1.[A|B|C]profile_idc.compat.Ttier_level.constraints`: the
//!   profile space as a letter (none for 0), general_profile_idc in decimal, the 32
//!   general_profile_compatibility_flags in reverse bit order as hex without leading zeros,
//!   `L` or `H` (tier) and general_level_idc in decimal, then the six constraint bytes in hex,
//!   each after a dot, trailing zero bytes left out.
//! - AV1 (AV1-ISOBMFF "Codecs Parameter String"): `av01.P.LLT.DD`, the short form (the
//!   optional colour fields default to BT.709 4:2:0 studio range).
//! - VP9 (VP-ISOBMFF "Codecs Parameter String"): `vp09.PP.LL.DD`, the short form.
//! - AAC (RFC 6381 3.3): `mp4a.40.AOT`, objectTypeIndication 0x40 and the audio object type
//!   in decimal (2 = AAC-LC, 5 = HE-AAC, 29 = HE-AAC v2).
//! - Opus (Opus-ISOBMFF 4.5): `opus`.

use std::fmt::Write as _;

use sluice_flv::{Av1Config, VpConfig};

use crate::TrackConfig;

pub(crate) fn avc(record: &[u8]) -> String {
    match record.get(1..4) {
        Some(p) => format!("avc1.{:02x}{:02x}{:02x}", p[0], p[1], p[2]),
        None => "avc1".to_string(),
    }
}

pub(crate) fn hevc(record: &[u8]) -> String {
    let Some(r) = record.get(..13) else {
        return "hvc1".to_string();
    };
    let space = ["", "A", "B", "C"][usize::from(r[1] >> 6)];
    let tier = if r[1] & 0x20 != 0 { 'H' } else { 'L' };
    let compat = u32::from_be_bytes([r[2], r[3], r[4], r[5]]).reverse_bits();
    let mut s = format!("hvc1.{space}{}.{compat:X}.{tier}{}", r[1] & 0x1f, r[12]);
    let constraints = &r[6..12];
    let used = constraints
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i + 1);
    for b in &constraints[..used] {
        let _ = write!(s, ".{b:X}");
    }
    s
}

pub(crate) fn av1(c: &Av1Config) -> String {
    let tier = if c.tier { 'H' } else { 'M' };
    format!(
        "av01.{}.{:02}{tier}.{:02}",
        c.seq_profile, c.seq_level_idx, c.bit_depth
    )
}

pub(crate) fn vp9(c: &VpConfig) -> String {
    format!("vp09.{:02}.{:02}.{:02}", c.profile, c.level, c.bit_depth)
}

pub(crate) fn aac(object_type: u8) -> String {
    format!("mp4a.40.{object_type}")
}

/// The MIME type with codecs for a set of tracks, e.g.
/// `video/mp4; codecs="avc1.64001f,mp4a.40.2"`; `audio/mp4` when there is no video track.
pub fn mime_type<'a>(tracks: impl IntoIterator<Item = &'a TrackConfig>) -> String {
    let mut video = false;
    let mut codecs = Vec::new();
    for t in tracks {
        video |= matches!(t, TrackConfig::Video(_));
        codecs.push(t.codec_string());
    }
    let top = if video { "video" } else { "audio" };
    format!("{top}/mp4; codecs=\"{}\"", codecs.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AudioConfig, VideoConfig};
    use bytes::Bytes;

    fn hx(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn avc_string() {
        assert_eq!(avc(&hx("0164001fffe1")), "avc1.64001f");
        assert_eq!(avc(&hx("0142c01e")), "avc1.42c01e");
    }

    #[test]
    fn hevc_strings() {
        // Main profile, compat flags 0x60000000 (profiles 1 and 2), Main tier level 3.1,
        // progressive_source + frame_only constraint bits (0x90).
        let main = "01 01 60000000 900000000000 5d f000fcfdf8f800000f03";
        assert_eq!(hevc(&hx(main)), "hvc1.1.6.L93.90");
        // Main 10, High tier, level 5.1, constraint bytes B0 and one more non-zero byte.
        let main10 = "01 22 20000000 b00000000001 99 f000fcfdf8f800000f03";
        assert_eq!(hevc(&hx(main10)), "hvc1.2.4.H153.B0.0.0.0.0.1");
        // Profile space 1, no constraint bytes.
        let spaced = "01 41 40000000 000000000000 3c";
        assert_eq!(hevc(&hx(spaced)), "hvc1.A1.2.L60");
        assert_eq!(hevc(&hx("01")), "hvc1");
    }

    #[test]
    fn av1_and_vp9_strings() {
        let c = sluice_flv::parse_av1_config(&hx("81010c00")).unwrap();
        assert_eq!(av1(&c), "av01.0.01M.08");
        let c = sluice_flv::parse_av1_config(&hx("8148c000")).unwrap();
        assert_eq!(av1(&c), "av01.2.08H.10");
        let c = sluice_flv::parse_vp_config(&hx("01000000 00 15 82 020202 0000")).unwrap();
        assert_eq!(vp9(&c), "vp09.00.21.08");
    }

    #[test]
    fn mime_types() {
        let v = VideoConfig::avc(Bytes::from(hx(
            "0142c01e ffe1 0018 6742c01eda0283f602220000030002000003006478b1728c 01 0004 68ce3c80",
        )))
        .unwrap();
        let a = AudioConfig::aac(Bytes::from(hx("1210"))).unwrap();
        let (v, a) = (TrackConfig::Video(v), TrackConfig::Audio(a));
        assert_eq!(
            mime_type([&v, &a]),
            "video/mp4; codecs=\"avc1.42c01e,mp4a.40.2\""
        );
        assert_eq!(mime_type([&a]), "audio/mp4; codecs=\"mp4a.40.2\"");
        let o = TrackConfig::Audio(AudioConfig::opus(&[]).unwrap());
        assert_eq!(mime_type([&o]), "audio/mp4; codecs=\"opus\"");
    }
}
