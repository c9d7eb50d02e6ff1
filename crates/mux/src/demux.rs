//! Demuxing a stored (non-fragmented) MP4 file into FLV/RTMP tag bodies, sans-IO: the sample
//! tables of `moov` (ISO/IEC 14496-12 §8.6-8.7: `stts`, `ctts`, `stsz`, `stsc`, `stco`/`co64`,
//! `stss`), the decoder configurations `avcC` / `hvcC` (ISO/IEC 14496-15) and `esds`
//! (ISO/IEC 14496-1 §7.2.6, AudioSpecificConfig of 14496-3).
//!
//! [`Mp4Opener`] asks for byte ranges ([`Mp4Opener::poll_read`]): the top-level box headers
//! until `moov` (before or after `mdat`), then `moov` whole (at most
//! [`Mp4Limits::max_moov_size`]). [`Mp4File`] then lists every sample of the first H.264/HEVC
//! track and the first AAC track in decode order with its file range, and makes the tag bodies:
//! AVC and AAC in the legacy FLV form, HEVC in the Enhanced RTMP form (`hvc1` FourCC).
//!
//! Fragmented files (an `mvex` in `moov`, samples in `moof` boxes: Sluice's own MP4
//! recordings, CMAF) are read too: the opener then reads every `moof` as well (together at most
//! [`Mp4Limits::max_moov_size`] bytes), and [`super::demux_frag`] adds their samples. A file cut
//! in a fragment is read up to its last whole sample.

use super::demux_frag::{add_moof, trex_defaults, FragTrack};
use bytes::{BufMut, Bytes, BytesMut};

/// Why an MP4 file cannot be played.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Mp4DemuxError {
    /// A box header or body ends before its declared size.
    #[error("truncated MP4 box {0}")]
    Truncated(&'static str),
    /// The `moof` boxes of a fragmented file are larger together than
    /// [`Mp4Limits::max_moov_size`].
    #[error("moof boxes exceed the limit of {limit} bytes")]
    FragmentsTooLarge {
        /// Configured limit.
        limit: u64,
    },
    /// No `moov` box before the end of the file.
    #[error("no moov box in the file")]
    NoMoov,
    /// `moov` is larger than [`Mp4Limits::max_moov_size`].
    #[error("moov box of {size} bytes exceeds the limit of {limit}")]
    MoovTooLarge {
        /// Declared size.
        size: u64,
        /// Configured limit.
        limit: u64,
    },
    /// More samples than [`Mp4Limits::max_samples`].
    #[error("more than {0} samples")]
    TooManySamples(usize),
    /// Neither an H.264/HEVC nor an AAC track.
    #[error("no H.264, HEVC or AAC track")]
    NoTrack,
    /// A sample table is inconsistent (sizes, chunks and times do not add up).
    #[error("inconsistent sample table: {0}")]
    BadTable(&'static str),
}

/// Limits applied to a file's (untrusted) boxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mp4Limits {
    /// Largest `moov` read, and most bytes of all `moof` boxes of a fragmented file together.
    /// Default 64 MiB.
    pub max_moov_size: u64,
    /// Most samples of all tracks together. Default 4 000 000 (37 hours of 30 fps video with
    /// 44.1 kHz AAC).
    pub max_samples: usize,
}

impl Default for Mp4Limits {
    fn default() -> Self {
        Mp4Limits {
            max_moov_size: 64 << 20,
            max_samples: 4_000_000,
        }
    }
}

/// The video codec of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mp4Video {
    /// H.264 (`avc1` / `avc3`).
    Avc,
    /// HEVC (`hvc1` / `hev1`).
    Hevc,
}

/// One sample in decode order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mp4Sample {
    /// File offset of its data.
    pub offset: u64,
    /// Data size.
    pub size: u32,
    /// Decode time, ms.
    pub dts_ms: u32,
    /// Composition offset, ms.
    pub cts_ms: i32,
    /// A sync sample (video keyframe; every audio sample).
    pub key: bool,
    /// Video (else audio).
    pub video: bool,
}

/// A demuxed file: its samples and the sequence header tag bodies.
#[derive(Debug, Clone, PartialEq)]
pub struct Mp4File {
    /// Every sample of the video and audio track, in decode order.
    pub samples: Vec<Mp4Sample>,
    /// The video codec, if there is a video track.
    pub video: Option<Mp4Video>,
    /// Sequence header tag bodies (video first), sent before any frame.
    pub headers: Vec<(bool, Bytes)>,
    /// Duration, ms (the end of the last sample).
    pub duration_ms: u32,
}

impl Mp4File {
    /// The FLV tag body prefix of `s` (the sample's data follows it).
    pub fn tag_prefix(&self, s: &Mp4Sample) -> Vec<u8> {
        let cts = s.cts_ms.clamp(-0x80_0000, 0x7f_ffff).to_be_bytes();
        match (s.video, self.video) {
            (true, Some(Mp4Video::Hevc)) => {
                // ExVideoTagHeader: IsExHeader, FrameType, PacketType CodedFrames; FourCC; SI24.
                let frame = if s.key { 1 } else { 2 };
                let mut v = vec![0x80 | frame << 4 | 1];
                v.extend_from_slice(b"hvc1");
                v.extend_from_slice(&cts[1..]);
                v
            }
            (true, _) => {
                let b0 = if s.key { 0x17 } else { 0x27 };
                vec![b0, 1, cts[1], cts[2], cts[3]]
            }
            (false, _) => vec![0xaf, 1],
        }
    }
}

#[derive(Debug)]
enum State {
    Boxes { pos: u64 },
    Moov { pos: u64, size: u64 },
    Moof { pos: u64, size: u64 },
    Done,
}

/// Finds and reads `moov` through positional reads (see the module docs).
#[derive(Debug)]
pub struct Mp4Opener {
    file_size: u64,
    limits: Mp4Limits,
    state: State,
    moov: Option<Vec<u8>>,
    /// `moof` boxes (whole) with their file offsets, and their total size.
    moofs: Vec<(u64, Vec<u8>)>,
    moof_bytes: u64,
    error: Option<Mp4DemuxError>,
}

/// A byte range wanted: `len` bytes at `pos` (fewer at the end of the file).
pub type Mp4Read = (u64, usize);

impl Mp4Opener {
    /// An opener for a file of `file_size` bytes.
    pub fn new(file_size: u64, limits: Mp4Limits) -> Self {
        Mp4Opener {
            file_size,
            limits,
            state: State::Boxes { pos: 0 },
            moov: None,
            moofs: Vec::new(),
            moof_bytes: 0,
            error: None,
        }
    }

    /// The next range to read, or `None` once [`Self::finish`] can be called.
    pub fn poll_read(&self) -> Option<Mp4Read> {
        match self.state {
            State::Boxes { pos } => Some((pos, 16)),
            State::Moov { pos, size } | State::Moof { pos, size } => Some((pos, size as usize)),
            State::Done => None,
        }
    }

    /// The bytes read for the last [`Self::poll_read`].
    pub fn handle_read(&mut self, pos: u64, data: &[u8]) {
        match self.state {
            State::Boxes { .. } => {
                let Some((kind, size, _)) = box_header(data, self.file_size - pos) else {
                    // The end of the file, or a box cut short at it: a fragmented file is read
                    // up to there.
                    self.end_of_boxes();
                    return;
                };
                if &kind == b"moov" {
                    if size > self.limits.max_moov_size {
                        self.fail(Mp4DemuxError::MoovTooLarge {
                            size,
                            limit: self.limits.max_moov_size,
                        });
                    } else {
                        self.state = State::Moov { pos, size };
                    }
                } else if &kind == b"moof" {
                    self.moof_bytes += size;
                    if self.moof_bytes > self.limits.max_moov_size {
                        self.fail(Mp4DemuxError::FragmentsTooLarge {
                            limit: self.limits.max_moov_size,
                        });
                    } else {
                        self.state = State::Moof { pos, size };
                    }
                } else {
                    self.next_box(pos + size);
                }
            }
            State::Moov { pos, size } => {
                if (data.len() as u64) < size {
                    self.fail(Mp4DemuxError::Truncated("moov"));
                    return;
                }
                let fragmented = box_header(data, size)
                    .and_then(|(_, _, h)| child(data.get(h..)?, b"mvex"))
                    .is_some();
                self.moov = Some(data.to_vec());
                if fragmented {
                    self.next_box(pos + size);
                } else {
                    self.state = State::Done;
                }
            }
            State::Moof { pos, size } => {
                if (data.len() as u64) < size {
                    self.end_of_boxes();
                } else {
                    self.moofs.push((pos, data.to_vec()));
                    self.next_box(pos + size);
                }
            }
            State::Done => {}
        }
    }

    /// Go on with the box at `pos`, or stop at the end of the file.
    fn next_box(&mut self, pos: u64) {
        if pos >= self.file_size {
            self.end_of_boxes();
        } else {
            self.state = State::Boxes { pos };
        }
    }

    fn end_of_boxes(&mut self) {
        if self.moov.is_some() {
            self.state = State::Done;
        } else {
            self.fail(Mp4DemuxError::NoMoov);
        }
    }

    fn fail(&mut self, e: Mp4DemuxError) {
        self.error = Some(e);
        self.state = State::Done;
    }

    /// The demuxed file.
    pub fn finish(self) -> Result<Mp4File, Mp4DemuxError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let moov = self.moov.ok_or(Mp4DemuxError::NoMoov)?;
        let (_, _, header) = box_header(&moov, moov.len() as u64).ok_or(Mp4DemuxError::NoMoov)?;
        let moofs: Vec<(u64, &[u8])> = self
            .moofs
            .iter()
            .filter_map(|(pos, b)| {
                let (_, _, h) = box_header(b, b.len() as u64)?;
                Some((*pos, b.get(h..)?))
            })
            .collect();
        parse_moov(
            moov.get(header..).unwrap_or(&[]),
            &moofs,
            self.file_size,
            &self.limits,
        )
    }
}

/// A box header at the start of `data` (`avail`: bytes left in the file or parent): type,
/// whole size, header size.
fn box_header(data: &[u8], avail: u64) -> Option<([u8; 4], u64, usize)> {
    let size32 = u32::from_be_bytes(data.get(..4)?.try_into().ok()?);
    let kind: [u8; 4] = data.get(4..8)?.try_into().ok()?;
    let (size, header) = match size32 {
        0 => (avail, 8),
        1 => (u64::from_be_bytes(data.get(8..16)?.try_into().ok()?), 16),
        n => (u64::from(n), 8),
    };
    (size >= header as u64 && size <= avail).then_some((kind, size, header))
}

/// The child boxes of a box body: (type, body).
pub(crate) fn children(mut data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    std::iter::from_fn(move || {
        let (kind, size, header) = box_header(data, data.len() as u64)?;
        let body = data.get(header..size as usize)?;
        data = data.get(size as usize..)?;
        Some((kind, body))
    })
}

pub(crate) fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    children(data).find(|(k, _)| k == kind).map(|(_, b)| b)
}

pub(crate) fn be32(d: &[u8], at: usize) -> Result<u32, Mp4DemuxError> {
    d.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or(Mp4DemuxError::Truncated("sample table"))
}

pub(crate) fn be64(d: &[u8], at: usize) -> Result<u64, Mp4DemuxError> {
    d.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or(Mp4DemuxError::Truncated("sample table"))
}

/// A full box's entry count (after version and flags) and entries of `width` bytes, bounded
/// by the body.
fn entries(d: &[u8], width: usize) -> Result<(usize, &[u8]), Mp4DemuxError> {
    let n = be32(d, 4)? as usize;
    let body = d.get(8..).unwrap_or(&[]);
    if n.checked_mul(width).is_none_or(|need| need > body.len()) {
        return Err(Mp4DemuxError::Truncated("sample table entries"));
    }
    Ok((n, body))
}

enum Codec {
    Video(Mp4Video, Bytes),
    Aac(Bytes),
}

struct Track {
    /// `tkhd` track_ID (0 without a `tkhd`).
    id: u32,
    timescale: u32,
    codec: Codec,
    samples: Vec<Mp4Sample>,
    end_ms: u32,
}

/// `v` timescale units in ms. In i128: a crafted table's times times 1000 may not fit i64.
pub(crate) fn ms(v: i64, timescale: u32) -> i64 {
    let m = i128::from(v) * 1000 / i128::from(timescale.max(1));
    i64::try_from(m).unwrap_or(if m < 0 { i64::MIN } else { i64::MAX })
}

fn parse_moov(
    moov: &[u8],
    moofs: &[(u64, &[u8])],
    file_size: u64,
    limits: &Mp4Limits,
) -> Result<Mp4File, Mp4DemuxError> {
    let mut video: Option<Track> = None;
    let mut audio: Option<Track> = None;
    let mut total = 0usize;
    for (kind, trak) in children(moov) {
        if &kind != b"trak" {
            continue;
        }
        let Some(track) = parse_trak(trak, limits, total)? else {
            continue;
        };
        let slot = match track.codec {
            Codec::Video(..) => &mut video,
            Codec::Aac(_) => &mut audio,
        };
        if slot.is_none() {
            total += track.samples.len();
            *slot = Some(track);
        }
    }
    if video.is_none() && audio.is_none() {
        return Err(Mp4DemuxError::NoTrack);
    }
    if let Some(mvex) = child(moov, b"mvex") {
        add_fragments(
            mvex,
            moofs,
            file_size,
            [&mut video, &mut audio],
            limits,
            total,
        )?;
    }
    let mut headers = Vec::new();
    let mut samples = Vec::with_capacity(total);
    let mut codec = None;
    let mut duration_ms = 0;
    for t in [video, audio].into_iter().flatten() {
        duration_ms = duration_ms.max(t.end_ms);
        match t.codec {
            Codec::Video(c, record) => {
                codec = Some(c);
                let mut b = BytesMut::new();
                match c {
                    Mp4Video::Avc => b.put_slice(&[0x17, 0, 0, 0, 0]),
                    Mp4Video::Hevc => {
                        b.put_u8(0x80 | 1 << 4);
                        b.put_slice(b"hvc1");
                    }
                }
                b.put_slice(&record);
                headers.push((true, b.freeze()));
            }
            Codec::Aac(asc) => {
                let mut b = BytesMut::new();
                b.put_slice(&[0xaf, 0]);
                b.put_slice(&asc);
                headers.push((false, b.freeze()));
            }
        }
        samples.extend(t.samples);
    }
    samples.sort_by_key(|s| (s.dts_ms, s.offset));
    Ok(Mp4File {
        samples,
        video: codec,
        headers,
        duration_ms,
    })
}

fn parse_trak(
    trak: &[u8],
    limits: &Mp4Limits,
    so_far: usize,
) -> Result<Option<Track>, Mp4DemuxError> {
    let Some(mdia) = child(trak, b"mdia") else {
        return Ok(None);
    };
    let (Some(mdhd), Some(stbl)) = (
        child(mdia, b"mdhd"),
        child(mdia, b"minf").and_then(|m| child(m, b"stbl")),
    ) else {
        return Ok(None);
    };
    let timescale = if mdhd.first() == Some(&1) {
        be32(mdhd, 20)?
    } else {
        be32(mdhd, 12)?
    };
    if timescale == 0 {
        return Err(Mp4DemuxError::BadTable("timescale 0"));
    }
    let Some(codec) = child(stbl, b"stsd").and_then(sample_entry) else {
        return Ok(None);
    };
    let is_video = matches!(codec, Codec::Video(..));
    let need = |k: &'static [u8; 4]| child(stbl, k).ok_or(Mp4DemuxError::BadTable("missing box"));
    // Sizes.
    let stsz = need(b"stsz")?;
    let fixed = be32(stsz, 4)?;
    let count = be32(stsz, 8)? as usize;
    if so_far.saturating_add(count) > limits.max_samples {
        return Err(Mp4DemuxError::TooManySamples(limits.max_samples));
    }
    let sizes: Vec<u32> = if fixed != 0 {
        vec![fixed; count]
    } else {
        let body = stsz.get(12..).unwrap_or(&[]);
        if count.saturating_mul(4) > body.len() {
            return Err(Mp4DemuxError::Truncated("stsz"));
        }
        (0..count)
            .map(|i| be32(body, i * 4))
            .collect::<Result<_, _>>()?
    };
    // Chunk offsets.
    let offsets: Vec<u64> = if let Some(co) = child(stbl, b"stco") {
        let (n, b) = entries(co, 4)?;
        (0..n)
            .map(|i| be32(b, i * 4).map(u64::from))
            .collect::<Result<_, _>>()?
    } else {
        let (n, b) = entries(need(b"co64")?, 8)?;
        (0..n).map(|i| be64(b, i * 8)).collect::<Result<_, _>>()?
    };
    let (runs, stsc) = entries(need(b"stsc")?, 12)?;
    // Decode times.
    let (n_stts, stts) = entries(need(b"stts")?, 8)?;
    let mut dts = Vec::with_capacity(count);
    let mut t = 0u64;
    'stts: for i in 0..n_stts {
        let (n, delta) = (be32(stts, i * 8)?, be32(stts, i * 8 + 4)?);
        for _ in 0..n {
            if dts.len() == count {
                break 'stts;
            }
            dts.push(t);
            t += u64::from(delta);
        }
    }
    if dts.len() != count {
        return Err(Mp4DemuxError::BadTable(
            "stts covers fewer samples than stsz",
        ));
    }
    let mut cts = vec![0i64; count];
    if let Some(ctts) = child(stbl, b"ctts") {
        let (n, b) = entries(ctts, 8)?;
        let mut i = 0usize;
        for e in 0..n {
            let (run, off) = (be32(b, e * 8)?, be32(b, e * 8 + 4)? as i32);
            for _ in 0..run {
                if let Some(c) = cts.get_mut(i) {
                    *c = i64::from(off);
                }
                i += 1;
            }
        }
    }
    let sync: Option<Vec<u32>> = match child(stbl, b"stss") {
        Some(stss) => {
            let (n, b) = entries(stss, 4)?;
            Some((0..n).map(|i| be32(b, i * 4)).collect::<Result<_, _>>()?)
        }
        None => None,
    };
    let ms = |v: i64| ms(v, timescale);
    // Walk the chunks: stsc runs give the samples per chunk from a first chunk on.
    let mut samples = Vec::with_capacity(count);
    let mut index = 0usize;
    for r in 0..runs {
        let first = be32(stsc, r * 12)? as usize;
        let per = be32(stsc, r * 12 + 4)? as usize;
        let last = if r + 1 < runs {
            be32(stsc, (r + 1) * 12)? as usize
        } else {
            offsets.len() + 1
        };
        if first == 0 || last < first || last > offsets.len() + 1 {
            return Err(Mp4DemuxError::BadTable("stsc chunk numbers"));
        }
        for chunk in first..last {
            let mut at = offsets[chunk - 1];
            for _ in 0..per {
                let Some(&size) = sizes.get(index) else {
                    break;
                };
                let d = dts[index] as i64;
                let key = !is_video
                    || sync
                        .as_ref()
                        .is_none_or(|s| s.binary_search(&(index as u32 + 1)).is_ok());
                samples.push(Mp4Sample {
                    offset: at,
                    size,
                    dts_ms: u32::try_from(ms(d)).unwrap_or(u32::MAX),
                    cts_ms: i32::try_from(ms(d.saturating_add(cts[index])).saturating_sub(ms(d)))
                        .unwrap_or(0),
                    key,
                    video: is_video,
                });
                at += u64::from(size);
                index += 1;
            }
        }
    }
    if index != count {
        return Err(Mp4DemuxError::BadTable(
            "chunks hold fewer samples than stsz",
        ));
    }
    let end_ms = u32::try_from(ms(t as i64)).unwrap_or(u32::MAX);
    let id = child(trak, b"tkhd")
        .and_then(|tkhd| be32(tkhd, if tkhd.first() == Some(&1) { 20 } else { 12 }).ok())
        .unwrap_or(0);
    Ok(Some(Track {
        id,
        timescale,
        codec,
        samples,
        end_ms,
    }))
}

/// The samples of a fragmented file's `moof`s, added to the tracks chosen from `moov`.
fn add_fragments(
    mvex: &[u8],
    moofs: &[(u64, &[u8])],
    file_size: u64,
    tracks: [&mut Option<Track>; 2],
    limits: &Mp4Limits,
    mut total: usize,
) -> Result<(), Mp4DemuxError> {
    let mut frag: Vec<FragTrack> = Vec::new();
    let mut chosen: Vec<&mut Track> = tracks.into_iter().flatten().collect();
    for t in chosen.iter() {
        let end = t.samples.last().map_or(0, |_| {
            // Samples in moov and fragments both: fragments continue at moov's end.
            u64::from(t.end_ms) * u64::from(t.timescale) / 1000
        });
        frag.push(FragTrack {
            id: t.id,
            timescale: t.timescale,
            video: matches!(t.codec, Codec::Video(..)),
            defaults: trex_defaults(mvex, t.id),
            next_dts: end,
            samples: Vec::new(),
        });
    }
    for (pos, moof) in moofs {
        add_moof(moof, *pos, file_size, &mut frag, limits, &mut total)?;
    }
    for (t, f) in chosen.iter_mut().zip(frag) {
        t.end_ms = t
            .end_ms
            .max(u32::try_from(ms(f.next_dts as i64, f.timescale)).unwrap_or(u32::MAX));
        t.samples.extend(f.samples);
    }
    Ok(())
}

/// The codec of the first sample entry of `stsd`, with its decoder configuration.
fn sample_entry(stsd: &[u8]) -> Option<Codec> {
    let (kind, entry) = children(stsd.get(8..)?).next()?;
    match &kind {
        b"avc1" | b"avc3" => {
            let rec = child(entry.get(78..)?, b"avcC")?;
            Some(Codec::Video(Mp4Video::Avc, Bytes::copy_from_slice(rec)))
        }
        b"hvc1" | b"hev1" => {
            let rec = child(entry.get(78..)?, b"hvcC")?;
            Some(Codec::Video(Mp4Video::Hevc, Bytes::copy_from_slice(rec)))
        }
        b"mp4a" => {
            let esds = child(entry.get(28..)?, b"esds")?;
            audio_specific_config(esds.get(4..)?).map(Codec::Aac)
        }
        _ => None,
    }
}

/// A descriptor at the start of `d`: tag, body.
fn descriptor(d: &[u8]) -> Option<(u8, &[u8])> {
    let tag = *d.first()?;
    let mut len = 0usize;
    let mut i = 1;
    loop {
        let b = *d.get(i)?;
        len = len << 7 | usize::from(b & 0x7f);
        i += 1;
        if b & 0x80 == 0 || i > 4 {
            break;
        }
    }
    Some((tag, d.get(i..i + len)?))
}

/// The DecoderSpecificInfo (AudioSpecificConfig) inside an ES_Descriptor.
fn audio_specific_config(d: &[u8]) -> Option<Bytes> {
    let (tag, es) = descriptor(d)?;
    if tag != 3 {
        return None;
    }
    let flags = *es.get(2)?;
    let mut at = 3;
    if flags & 0x80 != 0 {
        at += 2;
    }
    if flags & 0x40 != 0 {
        at += 1 + usize::from(*es.get(at)?);
    }
    if flags & 0x20 != 0 {
        at += 2;
    }
    let (tag, dcd) = descriptor(es.get(at..)?)?;
    if tag != 4 || *dcd.first()? != 0x40 {
        return None;
    }
    let (tag, dsi) = descriptor(dcd.get(13..)?)?;
    (tag == 5).then(|| Bytes::copy_from_slice(dsi))
}

#[cfg(test)]
#[path = "demux_tests.rs"]
mod tests;
