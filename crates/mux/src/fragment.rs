//! Movie fragments: `[prft] moof mdat` (ISO/IEC 14496-12 8.8 and 8.16.5; CMAF chunk,
//! ISO/IEC 23000-19 7.3.2).
//!
//! ```text
//! prft                 optional, v1: reference track, NTP wall clock, media time (8.16.5)
//! moof
//!   mfhd               sequence_number, +1 per fragment (8.8.5)
//!   traf               one per track with samples (8.8.6)
//!     tfhd             flags default-base-is-moof: data offsets count from the moof (8.8.7)
//!     tfdt             v1, 64-bit baseMediaDecodeTime (8.8.12)
//!     trun             data offset, per sample duration, size, flags, and for video a
//!                      signed (v1) composition offset (8.8.8)
//! mdat                 each traf's samples, in traf order (8.1.1)
//! ```
//!
//! The fragment is a list of [`Bytes`] chunks: one header chunk (`prft`, `moof`, `mdat`
//! header) followed by the sample payloads themselves, shared with the caller's frames, not
//! copied. Write them with vectored I/O, or join them with [`Fragment::to_bytes`].

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::bmff::BoxWriter;
use crate::{MuxError, TrackKind};

/// `sample_flags` (14496-12 8.8.3.1) of a sync sample: sample_depends_on = 2 (depends on no
/// other sample), sample_is_non_sync_sample = 0.
pub const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;
/// `sample_flags` of a non-sync sample: sample_depends_on = 1 (depends on others),
/// sample_is_non_sync_sample = 1.
pub const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0101_0000;

const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
const TRUN_DATA_OFFSET: u32 = 0x00_0001;
const TRUN_DURATION: u32 = 0x00_0100;
const TRUN_SIZE: u32 = 0x00_0200;
const TRUN_FLAGS: u32 = 0x00_0400;
const TRUN_COMPOSITION_OFFSET: u32 = 0x00_0800;

/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A 64-bit NTP timestamp (RFC 5905 6): seconds since 1900 in the high 32 bits, the binary
/// fraction of a second in the low 32, as `prft` carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NtpTime(pub u64);

impl NtpTime {
    /// From a time since the Unix epoch.
    pub fn from_unix(secs: u64, nanos: u32) -> Self {
        let frac = (u64::from(nanos.min(999_999_999)) << 32) / 1_000_000_000;
        NtpTime(((secs + NTP_UNIX_OFFSET) << 32) | frac)
    }

    /// From a wall-clock reading the caller made (this crate never reads the clock).
    pub fn from_system_time(t: SystemTime) -> Self {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        Self::from_unix(d.as_secs(), d.subsec_nanos())
    }
}

/// One sample as a fragment stores it: timing in its track's timescale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentSample {
    /// Duration in timescale units (the next sample's decode time minus this one's).
    pub duration: u32,
    /// Presentation time minus decode time, in timescale units.
    pub composition_offset: i32,
    /// A sync sample (video key frame; every audio sample).
    pub sync: bool,
    /// The coded sample (AVC/HEVC: length-prefixed NAL units; AV1: OBUs; AAC: a raw access
    /// unit; Opus: one packet).
    pub data: Bytes,
}

/// The samples of one track in a fragment: consecutive, starting at `base_decode_time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackRun {
    /// The track.
    pub track: TrackKind,
    /// The track's timescale (for the durations reported by [`Fragment`]).
    pub timescale: u32,
    /// Decode time of the first sample, in timescale units (`tfdt`).
    pub base_decode_time: u64,
    /// The samples, in decode order.
    pub samples: Vec<FragmentSample>,
}

impl TrackRun {
    /// Sum of the sample durations.
    pub fn duration(&self) -> u64 {
        self.samples.iter().map(|s| u64::from(s.duration)).sum()
    }
}

/// What `prft` says: the wall clock at which the reference track's sample with decode time
/// `media_time` was produced. Written with flags 0 ("input to the encoder"), the closest of
/// the associations 14496-12 defines to "received by the server".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerTime {
    /// The reference track.
    pub track: TrackKind,
    /// The wall clock.
    pub ntp: NtpTime,
    /// The media time it corresponds to, in the reference track's timescale.
    pub media_time: u64,
}

/// Timing of one track in a [`Fragment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentTrack {
    /// The track.
    pub track: TrackKind,
    /// Its timescale.
    pub timescale: u32,
    /// `tfdt` of the track.
    pub base_decode_time: u64,
    /// Total duration of its samples, in timescale units.
    pub duration: u64,
    /// Number of samples.
    pub samples: u32,
    /// Whether the first sample is a sync sample.
    pub starts_with_sync: bool,
}

/// One `[prft] moof mdat`, as chunks (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    sequence_number: u32,
    chunks: Vec<Bytes>,
    len: usize,
    tracks: Vec<FragmentTrack>,
}

impl Fragment {
    /// The `mfhd` sequence number.
    pub fn sequence_number(&self) -> u32 {
        self.sequence_number
    }

    /// The bytes: the header chunk then the sample payloads, to write in order.
    pub fn chunks(&self) -> &[Bytes] {
        &self.chunks
    }

    /// Total size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the fragment holds no bytes (never true for a written fragment).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The fragment as one contiguous buffer (copies the samples once).
    pub fn to_bytes(&self) -> Bytes {
        let mut v = Vec::with_capacity(self.len);
        for c in &self.chunks {
            v.extend_from_slice(c);
        }
        Bytes::from(v)
    }

    /// Per-track timing, in `traf` order.
    pub fn tracks(&self) -> &[FragmentTrack] {
        &self.tracks
    }

    /// Timing of one track, if the fragment has samples of it.
    pub fn track(&self, kind: TrackKind) -> Option<&FragmentTrack> {
        self.tracks.iter().find(|t| t.track == kind)
    }

    /// True if the fragment has video and its first video sample is a key frame: a player
    /// (MSE, an HLS part with `INDEPENDENT=YES`, a segment start) can begin decoding here.
    pub fn starts_with_keyframe(&self) -> bool {
        self.track(TrackKind::Video)
            .is_some_and(|t| t.starts_with_sync)
    }

    /// True if every track's first sample is a sync sample (an audio-only fragment always is).
    pub fn is_independent(&self) -> bool {
        self.tracks.iter().all(|t| t.starts_with_sync)
    }

    /// Duration in seconds of the longest track (for HLS `EXTINF` / part `DURATION`).
    pub fn duration_secs(&self) -> f64 {
        self.tracks
            .iter()
            .map(|t| t.duration as f64 / f64::from(t.timescale.max(1)))
            .fold(0.0, f64::max)
    }
}

/// Writes `[prft] moof mdat` for `runs` (runs without samples are left out).
pub fn write_fragment(
    sequence_number: u32,
    runs: &[TrackRun],
    prft: Option<&ProducerTime>,
) -> Result<Fragment, MuxError> {
    let runs: Vec<&TrackRun> = runs.iter().filter(|r| !r.samples.is_empty()).collect();
    let data_len: u64 = runs
        .iter()
        .flat_map(|r| &r.samples)
        .map(|s| s.data.len() as u64)
        .sum();
    let mut w =
        BoxWriter::with_capacity(128 + runs.iter().map(|r| 16 * r.samples.len()).sum::<usize>());
    if let Some(p) = prft {
        w.full_box(b"prft", 1, 0, |w| {
            w.u32(p.track.track_id());
            w.u64(p.ntp.0);
            w.u64(p.media_time);
        });
    }
    let moof_start = w.len();
    let mut offset_fields = Vec::with_capacity(runs.len());
    w.boxed(b"moof", |w| {
        w.full_box(b"mfhd", 0, 0, |w| w.u32(sequence_number));
        for run in &runs {
            w.boxed(b"traf", |w| {
                w.full_box(b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF, |w| {
                    w.u32(run.track.track_id());
                });
                w.full_box(b"tfdt", 1, 0, |w| w.u64(run.base_decode_time));
                let with_cts = run.track == TrackKind::Video;
                let mut flags = TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS;
                if with_cts {
                    flags |= TRUN_COMPOSITION_OFFSET;
                }
                // Version 1: signed composition offsets (B-frames before their reference).
                w.full_box(b"trun", u8::from(with_cts), flags, |w| {
                    w.u32(u32::try_from(run.samples.len()).unwrap_or(u32::MAX));
                    offset_fields.push(w.len());
                    w.i32(0); // data_offset, patched below
                    for s in &run.samples {
                        w.u32(s.duration);
                        w.u32(u32::try_from(s.data.len()).unwrap_or(u32::MAX));
                        w.u32(if s.sync {
                            SYNC_SAMPLE_FLAGS
                        } else {
                            NON_SYNC_SAMPLE_FLAGS
                        });
                        if with_cts {
                            w.i32(s.composition_offset);
                        }
                    }
                });
            });
        }
    });
    let moof_len = w.len() - moof_start;
    let mdat_len = 8 + data_len;
    let too_large = |_| MuxError::FragmentTooLarge(data_len);
    let mdat_size = u32::try_from(mdat_len).map_err(too_large)?;
    // Data offsets count from the first byte of the moof (default-base-is-moof).
    let mut offset = moof_len as u64 + 8;
    for (run, field) in runs.iter().zip(&offset_fields) {
        let o = i32::try_from(offset).map_err(|_| MuxError::FragmentTooLarge(data_len))?;
        w.patch_u32(*field, o as u32);
        offset += run.samples.iter().map(|s| s.data.len() as u64).sum::<u64>();
    }
    w.u32(mdat_size);
    w.bytes(b"mdat");
    let header = Bytes::from(w.into_vec());
    let len = header.len() + data_len as usize;
    let mut chunks = Vec::with_capacity(1 + runs.iter().map(|r| r.samples.len()).sum::<usize>());
    chunks.push(header);
    for run in &runs {
        chunks.extend(
            run.samples
                .iter()
                .filter(|s| !s.data.is_empty())
                .map(|s| s.data.clone()),
        );
    }
    let tracks = runs
        .iter()
        .map(|r| FragmentTrack {
            track: r.track,
            timescale: r.timescale,
            base_decode_time: r.base_decode_time,
            duration: r.duration(),
            samples: u32::try_from(r.samples.len()).unwrap_or(u32::MAX),
            starts_with_sync: r.samples.first().is_some_and(|s| s.sync),
        })
        .collect();
    Ok(Fragment {
        sequence_number,
        chunks,
        len,
        tracks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{be32, be64, find, find_all, parse_boxes};

    fn sample(duration: u32, cts: i32, sync: bool, data: &'static [u8]) -> FragmentSample {
        FragmentSample {
            duration,
            composition_offset: cts,
            sync,
            data: Bytes::from_static(data),
        }
    }

    #[test]
    fn ntp_from_unix() {
        assert_eq!(NtpTime::from_unix(0, 0).0, NTP_UNIX_OFFSET << 32);
        assert_eq!(
            NtpTime::from_unix(1, 500_000_000).0,
            ((NTP_UNIX_OFFSET + 1) << 32) | 0x8000_0000
        );
    }

    #[test]
    fn one_video_sample_exact_bytes() {
        let run = TrackRun {
            track: TrackKind::Video,
            timescale: 90_000,
            base_decode_time: 0x1_0000_0000,
            samples: vec![sample(3600, -3600, true, b"\x00\x00\x00\x01\x65")],
        };
        let f = write_fragment(7, &[run], None).unwrap();
        let want = "00000068 6d6f6f66 \
                      00000010 6d666864 00000000 00000007 \
                      00000050 74726166 \
                        00000010 74666864 00020000 00000001 \
                        00000014 74666474 01000000 0000000100000000 \
                        00000024 7472756e 01000f01 00000001 00000070 \
                          00000e10 00000005 02000000 fffff1f0 \
                    0000000d 6d646174";
        assert_eq!(hex::encode(&f.chunks()[0]), want.replace(' ', ""));
        assert_eq!(f.chunks()[1].as_ref(), b"\x00\x00\x00\x01\x65");
        assert_eq!(f.len(), 0x68 + 0x0d);
        assert!(f.starts_with_keyframe() && f.is_independent());
        assert_eq!(f.duration_secs(), 0.04);
    }

    #[test]
    fn two_tracks_offsets_point_at_each_tracks_data() {
        let video = TrackRun {
            track: TrackKind::Video,
            timescale: 90_000,
            base_decode_time: 0,
            samples: vec![
                sample(3000, 0, false, b"vvv"),
                sample(3000, 6000, false, b"VV"),
            ],
        };
        let audio = TrackRun {
            track: TrackKind::Audio,
            timescale: 48_000,
            base_decode_time: 960,
            samples: vec![sample(960, 0, true, b"aaaa")],
        };
        let prft = ProducerTime {
            track: TrackKind::Video,
            ntp: NtpTime(0x0102_0304_0506_0708),
            media_time: 0,
        };
        let f = write_fragment(1, &[video, audio], Some(&prft)).unwrap();
        let bytes = f.to_bytes();
        let boxes = parse_boxes(&bytes);
        let names: Vec<_> = boxes.iter().map(|b| b.name()).collect();
        assert_eq!(names, ["prft", "moof", "mdat"]);
        assert_eq!(
            hex::encode(&boxes[0].payload),
            "01000000 00000001 0102030405060708 0000000000000000".replace(' ', "")
        );
        assert_eq!(boxes[2].payload, b"vvvVVaaaa");
        let moof_start = 8 + boxes[0].payload.len();
        let truns = find_all(&boxes, "moof/traf/trun");
        assert_eq!(truns.len(), 2);
        let video_offset = be32(&truns[0].payload, 8) as usize;
        let audio_offset = be32(&truns[1].payload, 8) as usize;
        assert_eq!(&bytes[moof_start + video_offset..][..5], b"vvvVV");
        assert_eq!(&bytes[moof_start + audio_offset..][..4], b"aaaa");
        assert_eq!(
            truns[1].payload[0], 0,
            "audio trun is version 0 without offsets"
        );
        assert_eq!(be32(&truns[1].payload, 0) & 0xffffff, 0x701);
        let tfdts = find_all(&boxes, "moof/traf/tfdt");
        assert_eq!(be64(&tfdts[1].payload, 4), 960);
        assert!(find(&boxes, "moof/mfhd").is_some());
        assert!(!f.starts_with_keyframe());
        assert!(!f.is_independent());
        assert_eq!(f.track(TrackKind::Video).unwrap().duration, 6000);
        assert_eq!(f.chunks().len(), 4);
    }
}
