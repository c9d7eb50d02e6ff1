//! The initialization segment: `ftyp` + `moov` (ISO/IEC 14496-12 4.3 and 8.2.1; CMAF,
//! ISO/IEC 23000-19 7.3.1 "CMAF header").
//!
//! ```text
//! ftyp                     major iso6, compatible iso6 cmfc iso5 (4.3)
//! moov
//!   mvhd                   v0, timescale 1000, duration 0 (8.2.2)
//!   trak (video, id 1)     one per present track
//!     tkhd                 v0, flags enabled|in_movie, width/height 16.16 (8.3.2)
//!     mdia
//!       mdhd               v0, timescale 90000 or the sample rate, language und (8.4.2)
//!       hdlr               vide / soun (8.4.3)
//!       minf
//!         vmhd | smhd      (12.1.2 / 12.2.2)
//!         dinf/dref/url    self-contained (8.7.1, 8.7.2)
//!         stbl             stsd + empty stts, stsc, stsz, stco (8.5 .. 8.7)
//!   trak (audio, id 2)
//!   mvex                   (8.8.1)
//!     trex                 one per track, no defaults (8.8.3)
//! ```
//!
//! Durations are 0: the media lives in movie fragments. No edit list is written, so a video
//! track whose first sample has a composition offset starts presenting at that offset.

use bytes::Bytes;

use crate::bmff::BoxWriter;
use crate::entry::{write_audio_stsd, write_video_stsd};
use crate::track::TrackConfig;

/// Movie timescale of `mvhd`; only its (zero) duration uses it.
const MOVIE_TIMESCALE: u32 = 1000;

/// ISO-639-2/T "und" packed as three 5-bit letters (14496-12 8.4.2.3).
const LANGUAGE_UND: u16 =
    ((b'u' - 0x60) as u16) << 10 | ((b'n' - 0x60) as u16) << 5 | (b'd' - 0x60) as u16;

/// Writes `ftyp` + `moov` for `tracks` (video first, then audio, as given).
pub fn write_init_segment(tracks: &[TrackConfig]) -> Bytes {
    let mut w = BoxWriter::with_capacity(1024);
    w.boxed(b"ftyp", |w| {
        w.bytes(b"iso6"); // major_brand
        w.u32(0); // minor_version
        for brand in [b"iso6", b"cmfc", b"iso5"] {
            w.bytes(brand);
        }
    });
    w.boxed(b"moov", |w| {
        write_mvhd(w, tracks);
        for t in tracks {
            write_trak(w, t);
        }
        w.boxed(b"mvex", |w| {
            for t in tracks {
                w.full_box(b"trex", 0, 0, |w| {
                    w.u32(t.kind().track_id());
                    w.u32(1); // default_sample_description_index
                    w.u32(0); // default_sample_duration
                    w.u32(0); // default_sample_size
                    w.u32(0); // default_sample_flags
                });
            }
        });
    });
    Bytes::from(w.into_vec())
}

fn write_mvhd(w: &mut BoxWriter, tracks: &[TrackConfig]) {
    let next_track_id = tracks
        .iter()
        .map(|t| t.kind().track_id())
        .max()
        .unwrap_or(0)
        + 1;
    w.full_box(b"mvhd", 0, 0, |w| {
        w.u32(0); // creation_time
        w.u32(0); // modification_time
        w.u32(MOVIE_TIMESCALE);
        w.u32(0); // duration: fragmented
        w.u32(0x0001_0000); // rate 1.0
        w.u16(0x0100); // volume 1.0
        w.u16(0); // reserved
        w.zeros(8); // reserved[2]
        w.unity_matrix();
        w.zeros(24); // pre_defined[6]
        w.u32(next_track_id);
    });
}

fn write_trak(w: &mut BoxWriter, t: &TrackConfig) {
    w.boxed(b"trak", |w| {
        write_tkhd(w, t);
        w.boxed(b"mdia", |w| {
            w.full_box(b"mdhd", 0, 0, |w| {
                w.u32(0); // creation_time
                w.u32(0); // modification_time
                w.u32(t.timescale());
                w.u32(0); // duration
                w.u16(LANGUAGE_UND); // pad bit 0 + language
                w.u16(0); // pre_defined
            });
            let (handler, name): (&[u8; 4], &[u8]) = match t {
                TrackConfig::Video(_) => (b"vide", b"VideoHandler\0"),
                TrackConfig::Audio(_) => (b"soun", b"SoundHandler\0"),
            };
            w.full_box(b"hdlr", 0, 0, |w| {
                w.u32(0); // pre_defined
                w.bytes(handler);
                w.zeros(12); // reserved[3]
                w.bytes(name);
            });
            w.boxed(b"minf", |w| {
                match t {
                    TrackConfig::Video(_) => w.full_box(b"vmhd", 0, 1, |w| {
                        w.u16(0); // graphicsmode: copy
                        w.zeros(6); // opcolor
                    }),
                    TrackConfig::Audio(_) => w.full_box(b"smhd", 0, 0, |w| {
                        w.i16(0); // balance
                        w.u16(0); // reserved
                    }),
                }
                w.boxed(b"dinf", |w| {
                    w.full_box(b"dref", 0, 0, |w| {
                        w.u32(1); // entry_count
                        w.full_box(b"url ", 0, 1, |_| {}); // flags 1: media in this file
                    });
                });
                w.boxed(b"stbl", |w| {
                    match t {
                        TrackConfig::Video(v) => write_video_stsd(w, v),
                        TrackConfig::Audio(a) => write_audio_stsd(w, a),
                    }
                    w.full_box(b"stts", 0, 0, |w| w.u32(0));
                    w.full_box(b"stsc", 0, 0, |w| w.u32(0));
                    w.full_box(b"stsz", 0, 0, |w| {
                        w.u32(0); // sample_size
                        w.u32(0); // sample_count
                    });
                    w.full_box(b"stco", 0, 0, |w| w.u32(0));
                });
            });
        });
    });
}

fn write_tkhd(w: &mut BoxWriter, t: &TrackConfig) {
    // track_enabled | track_in_movie
    w.full_box(b"tkhd", 0, 0x000003, |w| {
        w.u32(0); // creation_time
        w.u32(0); // modification_time
        w.u32(t.kind().track_id());
        w.u32(0); // reserved
        w.u32(0); // duration
        w.zeros(8); // reserved[2]
        w.u16(0); // layer
        w.u16(0); // alternate_group
        let (volume, width, height) = match t {
            TrackConfig::Video(v) => (0, v.width(), v.height()),
            TrackConfig::Audio(_) => (0x0100, 0, 0),
        };
        w.u16(volume);
        w.u16(0); // reserved
        w.unity_matrix();
        w.u32(width.min(0xffff) << 16);
        w.u32(height.min(0xffff) << 16);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{find, parse_boxes};
    use crate::{AudioConfig, VideoConfig};

    fn video() -> TrackConfig {
        let record = hex::decode(
            "0142c01effe100186742c01eda0283f602220000030002000003006478b1728c01000468ce3c80",
        )
        .unwrap();
        TrackConfig::Video(
            VideoConfig::avc(Bytes::from(record))
                .unwrap()
                .with_size(320, 240),
        )
    }

    fn audio() -> TrackConfig {
        TrackConfig::Audio(AudioConfig::aac(Bytes::from_static(&[0x12, 0x10])).unwrap())
    }

    #[test]
    fn layout_of_audio_and_video_init() {
        let init = write_init_segment(&[video(), audio()]);
        let boxes = parse_boxes(&init);
        let top: Vec<_> = boxes.iter().map(|b| b.name()).collect();
        assert_eq!(top, ["ftyp", "moov"]);
        assert_eq!(
            hex::encode(&boxes[0].payload),
            hex::encode(b"iso6\0\0\0\0iso6cmfciso5")
        );
        let moov: Vec<_> = boxes[1].children().iter().map(|b| b.name()).collect();
        assert_eq!(moov, ["mvhd", "trak", "trak", "mvex"]);
        let mvhd = &boxes[1].children()[0].payload;
        assert_eq!(mvhd.len(), 100);
        assert_eq!(&mvhd[12..16], &1000u32.to_be_bytes()); // timescale after version/flags/times
        assert_eq!(&mvhd[96..100], &3u32.to_be_bytes()); // next_track_ID
        let paths = [
            "moov/trak/mdia/minf/stbl/stsd",
            "moov/trak/mdia/minf/stbl/stts",
            "moov/trak/mdia/minf/stbl/stsc",
            "moov/trak/mdia/minf/stbl/stsz",
            "moov/trak/mdia/minf/stbl/stco",
            "moov/trak/mdia/minf/dinf/dref",
            "moov/mvex/trex",
        ];
        for p in paths {
            assert!(find(&boxes, p).is_some(), "{p} missing");
        }
    }

    #[test]
    fn tkhd_and_mdhd_fields() {
        let init = write_init_segment(&[video()]);
        let boxes = parse_boxes(&init);
        let tkhd = &find(&boxes, "moov/trak/tkhd").unwrap().payload;
        assert_eq!(tkhd.len(), 84);
        assert_eq!(&tkhd[..4], &[0, 0, 0, 3]); // version 0, enabled | in movie
        assert_eq!(&tkhd[12..16], &1u32.to_be_bytes()); // track_ID
        assert_eq!(&tkhd[36..38], &[0, 0]); // volume 0 for video
        assert_eq!(&tkhd[76..80], &(320u32 << 16).to_be_bytes());
        assert_eq!(&tkhd[80..84], &(240u32 << 16).to_be_bytes());
        let mdhd = &find(&boxes, "moov/trak/mdia/mdhd").unwrap().payload;
        assert_eq!(
            hex::encode(mdhd),
            "00000000 00000000 00000000 00015f90 00000000 55c4 0000".replace(' ', "")
        );
        let hdlr = &find(&boxes, "moov/trak/mdia/hdlr").unwrap().payload;
        assert_eq!(&hdlr[8..12], b"vide");
        let trex = &find(&boxes, "moov/mvex/trex").unwrap().payload;
        assert_eq!(
            hex::encode(trex),
            "00000000 00000001 00000001 00000000 00000000 00000000".replace(' ', "")
        );
    }

    #[test]
    fn audio_only_init_has_one_sound_track() {
        let init = write_init_segment(&[audio()]);
        let boxes = parse_boxes(&init);
        let tkhd = &find(&boxes, "moov/trak/tkhd").unwrap().payload;
        assert_eq!(&tkhd[12..16], &2u32.to_be_bytes());
        assert_eq!(&tkhd[36..38], &[1, 0]); // volume 1.0
        assert!(find(&boxes, "moov/trak/mdia/minf/smhd").is_some());
        let mdhd = &find(&boxes, "moov/trak/mdia/mdhd").unwrap().payload;
        assert_eq!(&mdhd[12..16], &44_100u32.to_be_bytes());
    }
}
