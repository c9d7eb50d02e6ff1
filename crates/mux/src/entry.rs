//! Sample entries: the one entry of each track's `stsd` box (ISO/IEC 14496-12 8.5.2), with the
//! codec configuration box inside it.
//!
//! - VisualSampleEntry (14496-12 12.1.3) for `avc1` + `avcC` and `hvc1` + `hvcC` (14496-15
//!   5.4.2 / 8.4.1), `av01` + `av1C` (AV1-ISOBMFF 2.2 / 2.3) and `vp09` + `vpcC`
//!   (VP-ISOBMFF 2.2). The configuration records are the publisher's bytes, written verbatim.
//!   `hvc1` (not `hev1`) says every parameter set is in `hvcC`, which is what MSE wants; the
//!   muxer leaves in-band parameter sets in the samples, which `hvc1` allows decoders to meet.
//! - AudioSampleEntry (14496-12 12.2.3) for `mp4a` + `esds` (14496-14 5.6, with the
//!   ES_Descriptor of 14496-1 7.2.6.5) and `Opus` + `dOps` (Opus-ISOBMFF 4.3.1 / 4.3.2).

use crate::bmff::BoxWriter;
use crate::track::{AudioConfig, AudioFormat, OpusHead, VideoConfig, VideoFormat};

/// Writes the `stsd` box of a video track.
pub(crate) fn write_video_stsd(w: &mut BoxWriter, v: &VideoConfig) {
    w.full_box(b"stsd", 0, 0, |w| {
        w.u32(1); // entry_count
        let (entry, config) = match v.format() {
            VideoFormat::Avc => (b"avc1", b"avcC"),
            VideoFormat::Hevc => (b"hvc1", b"hvcC"),
            VideoFormat::Av1 => (b"av01", b"av1C"),
            VideoFormat::Vp9 => (b"vp09", b"vpcC"),
        };
        w.boxed(entry, |w| {
            visual_sample_entry_fields(w, v.width(), v.height());
            // For vpcC the record already starts with the FullBox version and flags.
            w.boxed(config, |w| w.bytes(v.record()));
        });
    });
}

fn sample_entry_header(w: &mut BoxWriter) {
    w.zeros(6); // reserved
    w.u16(1); // data_reference_index: the self-contained `url ` entry of dref
}

/// The VisualSampleEntry fields after the SampleEntry header (14496-12 12.1.3.2).
fn visual_sample_entry_fields(w: &mut BoxWriter, width: u32, height: u32) {
    sample_entry_header(w);
    w.u16(0); // pre_defined
    w.u16(0); // reserved
    w.zeros(12); // pre_defined[3]
    w.u16(u16::try_from(width).unwrap_or(u16::MAX));
    w.u16(u16::try_from(height).unwrap_or(u16::MAX));
    w.u32(0x0048_0000); // horizresolution: 72 dpi
    w.u32(0x0048_0000); // vertresolution
    w.u32(0); // reserved
    w.u16(1); // frame_count
    w.zeros(32); // compressorname: empty Pascal string
    w.u16(0x0018); // depth: colour, no alpha
    w.i16(-1); // pre_defined
}

/// Writes the `stsd` box of an audio track.
pub(crate) fn write_audio_stsd(w: &mut BoxWriter, a: &AudioConfig) {
    w.full_box(b"stsd", 0, 0, |w| {
        w.u32(1); // entry_count
        let entry = match a.format() {
            AudioFormat::Aac => b"mp4a",
            AudioFormat::Opus => b"Opus",
        };
        w.boxed(entry, |w| {
            sample_entry_header(w);
            w.zeros(8); // reserved[2]
            w.u16(a.channels());
            w.u16(16); // samplesize
            w.u16(0); // pre_defined
            w.u16(0); // reserved
                      // 16.16 fixed point; rates above 65535 Hz do not fit and are left 0 (decoders take
                      // the rate from the decoder configuration).
            w.u32(if a.sample_rate() <= 0xffff {
                a.sample_rate() << 16
            } else {
                0
            });
            match a.format() {
                AudioFormat::Aac => write_esds(w, a.audio_specific_config()),
                AudioFormat::Opus => {
                    if let Some(h) = a.opus_head() {
                        write_dops(w, h);
                    }
                }
            }
        });
    });
}

/// An MPEG-4 descriptor (14496-1 8.3.3): tag, expandable size (7 bits per byte, high bit
/// "more"), payload.
fn descriptor(w: &mut BoxWriter, tag: u8, payload: &[u8]) {
    w.u8(tag);
    let len = payload.len();
    let mut groups = Vec::with_capacity(4);
    let mut n = len;
    loop {
        groups.push((n & 0x7f) as u8);
        n >>= 7;
        if n == 0 {
            break;
        }
    }
    for (i, g) in groups.iter().rev().enumerate() {
        let more = if i + 1 < groups.len() { 0x80 } else { 0 };
        w.u8(g | more);
    }
    w.bytes(payload);
}

/// The `esds` box (14496-14 5.6.1): an ES_Descriptor holding a DecoderConfigDescriptor for
/// MPEG-4 Audio (objectTypeIndication 0x40, streamType 5) with the AudioSpecificConfig as its
/// DecoderSpecificInfo, and the MP4 SLConfigDescriptor (predefined = 2).
pub(crate) fn write_esds(w: &mut BoxWriter, asc: &[u8]) {
    let mut dsi = BoxWriter::new();
    descriptor(&mut dsi, 0x05, asc);
    let mut dcd = BoxWriter::new();
    dcd.u8(0x40); // objectTypeIndication: Audio ISO/IEC 14496-3
    dcd.u8(0x05 << 2 | 1); // streamType AudioStream, upStream 0, reserved 1
    dcd.u24(0); // bufferSizeDB: unknown
    dcd.u32(0); // maxBitrate: unknown
    dcd.u32(0); // avgBitrate: variable / unknown
    dcd.bytes(&dsi.into_vec());
    let mut es = BoxWriter::new();
    es.u16(0); // ES_ID: 0 in files, the track_ID identifies the stream (14496-14 3.1.2)
    es.u8(0); // no stream dependence, URL or OCR stream; priority 0
    descriptor(&mut es, 0x04, &dcd.into_vec());
    descriptor(&mut es, 0x06, &[0x02]);
    let es = es.into_vec();
    w.full_box(b"esds", 0, 0, |w| descriptor(w, 0x03, &es));
}

/// The `dOps` box (Opus-ISOBMFF 4.3.2): OpusHead's fields, big-endian, Version 0.
pub(crate) fn write_dops(w: &mut BoxWriter, h: &OpusHead) {
    w.boxed(b"dOps", |w| {
        w.u8(0); // Version
        w.u8(h.channels);
        w.u16(h.pre_skip);
        w.u32(h.input_sample_rate);
        w.i16(h.output_gain);
        w.u8(h.mapping_family);
        if let Some((streams, coupled, table)) = &h.mapping {
            w.u8(*streams);
            w.u8(*coupled);
            w.bytes(table);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn hx(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    fn written(f: impl FnOnce(&mut BoxWriter)) -> String {
        let mut w = BoxWriter::new();
        f(&mut w);
        hex::encode(w.into_vec())
    }

    #[test]
    fn esds_for_aac_lc_stereo_44100() {
        let got = written(|w| write_esds(w, &hx("1210")));
        let want = "00000027 65736473 00000000 \
                    03 19 0000 00 \
                    04 11 40 15 000000 00000000 00000000 \
                    05 02 1210 \
                    06 01 02";
        assert_eq!(got, want.replace(' ', ""));
    }

    #[test]
    fn long_descriptor_sizes_use_continuation_bytes() {
        let got = written(|w| descriptor(w, 0x05, &[0u8; 200]));
        assert_eq!(&got[..6], "058148"); // 200 = 1 * 128 + 72
        assert_eq!(got.len(), 2 * (3 + 200));
    }

    #[test]
    fn dops_from_opus_head() {
        let h = OpusHead::parse(&hx("4f707573486561640102380180bb0000000000")).unwrap();
        let got = written(|w| write_dops(w, &h));
        assert_eq!(
            got,
            "00000013644f707300020138 0000bb80 0000 00".replace(' ', "")
        );
        let h = OpusHead::parse(&hx("4f707573486561640103380180bb00000000010201 000102")).unwrap();
        let got = written(|w| write_dops(w, &h));
        assert!(
            got.ends_with("01 02 01 000102".replace(' ', "").as_str()),
            "{got}"
        );
    }

    #[test]
    fn avc1_sample_entry_layout() {
        let record = hx(
            "0142c01e ffe1 0018 6742c01eda0283f602220000030002000003006478b1728c 01 0004 68ce3c80",
        );
        let v = VideoConfig::avc(Bytes::from(record.clone()))
            .unwrap()
            .with_size(320, 240);
        let got = written(|w| write_video_stsd(w, &v));
        let entry = format!(
            "{:08x}61766331 000000000000 0001 0000 0000 000000000000000000000000 \
             0140 00f0 00480000 00480000 00000000 0001 {} 0018 ffff {:08x}61766343{}",
            8 + 78 + 8 + record.len(),
            "00".repeat(32),
            8 + record.len(),
            hex::encode(&record)
        );
        let want = format!(
            "{:08x}73747364 00000000 00000001 {entry}",
            16 + 8 + 78 + 8 + record.len()
        );
        assert_eq!(got, want.replace(' ', ""));
    }

    #[test]
    fn mp4a_sample_entry_layout() {
        let a = AudioConfig::aac(Bytes::from_static(&[0x12, 0x10])).unwrap();
        let got = written(|w| write_audio_stsd(w, &a));
        // stsd header, mp4a entry: reserved, dri 1, reserved[2], 2 channels, 16 bit,
        // pre_defined, reserved, 44100 << 16, then the esds of the test above.
        let want = "0000005b 73747364 00000000 00000001 \
                    0000004b 6d703461 000000000000 0001 0000000000000000 0002 0010 0000 0000 \
                    ac440000 00000027";
        assert!(got.starts_with(&want.replace(' ', "")), "{got}");
    }
}
