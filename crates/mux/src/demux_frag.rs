//! Fragmented MP4 for the demuxer (ISO/IEC 14496-12 §8.8): the samples of `moof` boxes, as
//! Sluice's own MP4 recordings (`[record] format = "mp4"`), ffmpeg's `-movflags frag_keyframe`
//! and CMAF files are laid out: an empty `moov` with `mvex`/`trex` defaults (§8.8.3), then
//! `moof`+`mdat` pairs. Each `traf` has a `tfhd` (§8.8.7: base data offset, or the
//! default-base-is-moof flag, and default duration, size and flags), an optional `tfdt`
//! (§8.8.12: the decode time of its first sample) and `trun`s (§8.8.8: data offset, and per
//! sample duration, size, flags and composition offset, each present as its flags say).
//!
//! A sample is a sync sample unless its flags set `sample_is_non_sync_sample` (§8.8.3.1).
//! Samples whose data lies past the end of the file (a fragment cut by a crash) are dropped.

use super::demux::{be32, be64, child, children, ms, Mp4DemuxError, Mp4Limits, Mp4Sample};

/// `tfhd` flags.
const TFHD_BASE_DATA_OFFSET: u32 = 0x01;
const TFHD_SAMPLE_DESCRIPTION_INDEX: u32 = 0x02;
const TFHD_DEFAULT_DURATION: u32 = 0x08;
const TFHD_DEFAULT_SIZE: u32 = 0x10;
const TFHD_DEFAULT_FLAGS: u32 = 0x20;
/// `trun` flags.
const TRUN_DATA_OFFSET: u32 = 0x01;
const TRUN_FIRST_SAMPLE_FLAGS: u32 = 0x04;
const TRUN_DURATION: u32 = 0x100;
const TRUN_SIZE: u32 = 0x200;
const TRUN_FLAGS: u32 = 0x400;
const TRUN_COMPOSITION_OFFSET: u32 = 0x800;
/// `sample_is_non_sync_sample` in sample flags.
const NON_SYNC: u32 = 0x0001_0000;

/// One track's state across fragments.
#[derive(Debug)]
pub(crate) struct FragTrack {
    /// `tkhd` track_ID.
    pub id: u32,
    pub timescale: u32,
    pub video: bool,
    /// `trex` defaults: duration, size, flags.
    pub defaults: (u32, u32, u32),
    /// Decode time after the last sample, in timescale units.
    pub next_dts: u64,
    pub samples: Vec<Mp4Sample>,
}

/// The `trex` defaults of `mvex` for `track_id` (duration, size, flags).
pub(crate) fn trex_defaults(mvex: &[u8], track_id: u32) -> (u32, u32, u32) {
    children(mvex)
        .filter(|(k, _)| k == b"trex")
        .find_map(|(_, t)| {
            (be32(t, 4).ok()? == track_id)
                .then(|| Some((be32(t, 12).ok()?, be32(t, 16).ok()?, be32(t, 20).ok()?)))?
        })
        .unwrap_or((0, 0, 0))
}

/// Add the samples of one `moof` (its body, and the file offset of the box itself) to the
/// tracks it has fragments of; `total` counts samples against [`Mp4Limits::max_samples`].
pub(crate) fn add_moof(
    moof: &[u8],
    moof_pos: u64,
    file_size: u64,
    tracks: &mut [FragTrack],
    limits: &Mp4Limits,
    total: &mut usize,
) -> Result<(), Mp4DemuxError> {
    for (kind, traf) in children(moof) {
        if &kind != b"traf" {
            continue;
        }
        let tfhd = child(traf, b"tfhd").ok_or(Mp4DemuxError::BadTable("traf without tfhd"))?;
        let flags = be32(tfhd, 0)? & 0xff_ffff;
        let id = be32(tfhd, 4)?;
        let Some(track) = tracks.iter_mut().find(|t| t.id == id) else {
            continue;
        };
        let mut at = 8;
        let base = if flags & TFHD_BASE_DATA_OFFSET != 0 {
            at += 8;
            be64(tfhd, 8)?
        } else {
            // Default-base-is-moof, and what writers without it mean for their one traf.
            moof_pos
        };
        if flags & TFHD_SAMPLE_DESCRIPTION_INDEX != 0 {
            at += 4;
        }
        let (mut d_duration, mut d_size, mut d_flags) = track.defaults;
        for (bit, slot) in [
            (TFHD_DEFAULT_DURATION, &mut d_duration),
            (TFHD_DEFAULT_SIZE, &mut d_size),
            (TFHD_DEFAULT_FLAGS, &mut d_flags),
        ] {
            if flags & bit != 0 {
                *slot = be32(tfhd, at)?;
                at += 4;
            }
        }
        if let Some(tfdt) = child(traf, b"tfdt") {
            track.next_dts = if tfdt.first() == Some(&1) {
                be64(tfdt, 4)?
            } else {
                u64::from(be32(tfdt, 4)?)
            };
        }
        // Samples of a trun without a data offset follow the previous trun's.
        let mut data = base;
        for (kind, trun) in children(traf) {
            if &kind != b"trun" {
                continue;
            }
            let version = trun.first().copied().unwrap_or(0);
            let tf = be32(trun, 0)? & 0xff_ffff;
            let count = be32(trun, 4)? as usize;
            *total = total.saturating_add(count);
            if *total > limits.max_samples {
                return Err(Mp4DemuxError::TooManySamples(limits.max_samples));
            }
            let mut p = 8;
            if tf & TRUN_DATA_OFFSET != 0 {
                data = base.wrapping_add_signed(i64::from(be32(trun, p)? as i32));
                p += 4;
            }
            let first_flags = if tf & TRUN_FIRST_SAMPLE_FLAGS != 0 {
                p += 4;
                Some(be32(trun, p - 4)?)
            } else {
                None
            };
            let per = [
                TRUN_DURATION,
                TRUN_SIZE,
                TRUN_FLAGS,
                TRUN_COMPOSITION_OFFSET,
            ]
            .iter()
            .filter(|&&b| tf & b != 0)
            .count()
                * 4;
            if count.saturating_mul(per) > trun.len().saturating_sub(p) {
                return Err(Mp4DemuxError::Truncated("trun"));
            }
            for i in 0..count {
                let mut field = |bit: u32, default: u32| -> Result<u32, Mp4DemuxError> {
                    if tf & bit == 0 {
                        return Ok(default);
                    }
                    p += 4;
                    be32(trun, p - 4)
                };
                let duration = field(TRUN_DURATION, d_duration)?;
                let size = field(TRUN_SIZE, d_size)?;
                let sflags = field(
                    TRUN_FLAGS,
                    first_flags.filter(|_| i == 0).unwrap_or(d_flags),
                )?;
                let cto = field(TRUN_COMPOSITION_OFFSET, 0)?;
                let cto = if version == 0 {
                    i64::from(cto)
                } else {
                    i64::from(cto as i32)
                };
                let dts = track.next_dts as i64;
                if data.saturating_add(u64::from(size)) <= file_size {
                    track.samples.push(Mp4Sample {
                        offset: data,
                        size,
                        dts_ms: u32::try_from(ms(dts, track.timescale)).unwrap_or(u32::MAX),
                        cts_ms: i32::try_from(
                            ms(dts.saturating_add(cto), track.timescale)
                                .saturating_sub(ms(dts, track.timescale)),
                        )
                        .unwrap_or(0),
                        key: !track.video || sflags & NON_SYNC == 0,
                        video: track.video,
                    });
                }
                data = data.saturating_add(u64::from(size));
                track.next_dts = track.next_dts.saturating_add(u64::from(duration));
            }
        }
    }
    Ok(())
}
