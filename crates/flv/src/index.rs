//! Opening a stored FLV file for playback (FLV v10.1 Annex E.2-E.4, E.5 `onMetaData`): its
//! header, metadata, duration and a seek index of keyframes, sans-IO.
//!
//! [`FlvOpener`] never touches a file: it asks for byte ranges ([`FlvOpener::poll_read`]) and is
//! fed what the driver read ([`FlvOpener::handle_read`]). It reads the header and the first tag;
//! when that is an `onMetaData` whose `keyframes` object (`times` in seconds, `filepositions`
//! in bytes, the layout of yamdi, ffmpeg's `add_keyframe_index` and our recorder) is consistent
//! with the file (every position holds a whole video keyframe tag, checked with one small read
//! each; the tags' own timestamps are kept) and a `duration` is given, that is the index.
//! Otherwise one scan over the tag
//! headers builds it (bodies are skipped; only the first bytes of video tags are read to find
//! keyframes). A file cut mid-tag (a server killed with `-9` while recording) is read up to its
//! last whole tag. Audio-only files get a seek point per second of audio instead of keyframes.
//!
//! [`FlvTagStream`] then cuts tags out of the bytes read from a seek point onwards.

use bytes::{Buf, BytesMut};
use sluice_amf::{Amf0Object, Amf0Value};

use crate::file::TagHeader;
use crate::script::ON_META_DATA;
use crate::{classify_video, parse_script, FlvError, FlvHeader, FlvTag, TagType, TAG_HEADER_SIZE};

/// Bytes of a video tag body looked at to tell a keyframe (enough for enhanced headers).
const VIDEO_PEEK: usize = 16;
/// Spacing of the seek points of a file without video, ms.
const AUDIO_SEEK_SPACING_MS: u32 = 1000;

/// Limits applied while opening a file (its bytes are as untrusted as a peer's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvIndexLimits {
    /// Largest `onMetaData` body read from the first tag. Default 1 MiB (an index of 40 000
    /// keyframes takes 720 KB).
    pub max_metadata_size: u32,
    /// Most seek points kept; later keyframes are not indexed (seeks past them start at the
    /// last one kept). Default 200 000 (55 hours at one keyframe a second).
    pub max_seek_points: usize,
    /// Bytes asked for per read while scanning. Default 64 KiB.
    pub scan_read_size: usize,
}

impl Default for FlvIndexLimits {
    fn default() -> Self {
        FlvIndexLimits {
            max_metadata_size: 1 << 20,
            max_seek_points: 200_000,
            scan_read_size: 64 * 1024,
        }
    }
}

/// A place playback can start from: a keyframe's tag (or, without video, an audio tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeekPoint {
    /// Timestamp of the tag, ms.
    pub time_ms: u32,
    /// Offset of the tag in the file.
    pub pos: u64,
}

/// Where a file's seek index came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexSource {
    /// The `keyframes` object of `onMetaData`.
    Metadata,
    /// A scan of the tags.
    Scan,
}

/// What playback needs to know about a file.
#[derive(Debug, Clone, PartialEq)]
pub struct FlvFileInfo {
    /// The file header.
    pub header: FlvHeader,
    /// Offset of the first tag.
    pub data_start: u64,
    /// Offset after the last whole tag (a torn tail is beyond it).
    pub end: u64,
    /// Duration, ms (`onMetaData` `duration` or the last timestamp found).
    pub duration_ms: u32,
    /// The properties of the first `onMetaData`, if any.
    pub metadata: Option<Amf0Object>,
    /// Seek points in file order.
    pub seek_points: Vec<SeekPoint>,
    /// Where the seek points came from.
    pub source: IndexSource,
}

impl FlvFileInfo {
    /// The seek point at or before `time_ms` (the first one for earlier times, the start of the
    /// data when there is none).
    pub fn seek(&self, time_ms: u32) -> SeekPoint {
        let n = self.seek_points.partition_point(|p| p.time_ms <= time_ms);
        match n.checked_sub(1).and_then(|i| self.seek_points.get(i)) {
            Some(p) => *p,
            None => self.seek_points.first().copied().unwrap_or(SeekPoint {
                time_ms: 0,
                pos: self.data_start,
            }),
        }
    }
}

/// A byte range the opener needs: `len` bytes from `pos` (fewer at the end of the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadAt {
    /// Offset in the file.
    pub pos: u64,
    /// Bytes wanted.
    pub len: usize,
}

#[derive(Debug)]
enum State {
    Header,
    FirstTag,
    Metadata {
        pos: u64,
        size: u32,
    },
    /// Checking the metadata index: the tag at each position must be a video keyframe.
    Verify {
        index: usize,
    },
    Scan {
        pos: u64,
    },
    Done,
}

/// Builds an [`FlvFileInfo`] from positional reads (see the module docs).
#[derive(Debug)]
pub struct FlvOpener {
    limits: FlvIndexLimits,
    file_size: u64,
    state: State,
    header: Option<FlvHeader>,
    data_start: u64,
    end: u64,
    metadata: Option<Amf0Object>,
    last_ts: u32,
    video_points: Vec<SeekPoint>,
    audio_points: Vec<SeekPoint>,
    from_metadata: Option<(Vec<SeekPoint>, u32)>,
}

impl FlvOpener {
    /// An opener for a file of `file_size` bytes.
    pub fn new(file_size: u64, limits: FlvIndexLimits) -> Self {
        FlvOpener {
            limits,
            file_size,
            state: State::Header,
            header: None,
            data_start: 0,
            end: 0,
            metadata: None,
            last_ts: 0,
            video_points: Vec::new(),
            audio_points: Vec::new(),
            from_metadata: None,
        }
    }

    /// The next range to read, or `None` once [`Self::finish`] can be called.
    pub fn poll_read(&self) -> Option<ReadAt> {
        match self.state {
            State::Header => Some(ReadAt {
                pos: 0,
                len: crate::FLV_HEADER_SIZE as usize,
            }),
            State::FirstTag => Some(ReadAt {
                pos: self.data_start,
                len: TAG_HEADER_SIZE,
            }),
            State::Metadata { pos, size } => Some(ReadAt {
                pos,
                len: size as usize,
            }),
            State::Verify { index } => self.from_metadata.as_ref().and_then(|(points, _)| {
                points.get(index).map(|p| ReadAt {
                    pos: p.pos,
                    len: TAG_HEADER_SIZE + VIDEO_PEEK,
                })
            }),
            State::Scan { pos } => Some(ReadAt {
                pos,
                len: self.limits.scan_read_size.max(TAG_HEADER_SIZE + VIDEO_PEEK),
            }),
            State::Done => None,
        }
    }

    /// Bytes read at `pos` (the range of the last [`Self::poll_read`]; fewer bytes mean the file
    /// ends there). Fails only when the file is not an FLV file.
    pub fn handle_read(&mut self, pos: u64, data: &[u8]) -> Result<(), FlvError> {
        match self.state {
            State::Header => {
                let h = FlvHeader::parse(data)?;
                self.data_start = u64::from(h.data_offset) + 4;
                self.end = self.data_start.min(self.file_size);
                self.header = Some(h);
                self.state = State::FirstTag;
            }
            State::FirstTag => {
                let Ok(hdr) =
                    <[u8; TAG_HEADER_SIZE]>::try_from(data.get(..TAG_HEADER_SIZE).unwrap_or(&[]))
                else {
                    self.state = State::Done;
                    return Ok(());
                };
                let th = TagHeader::parse(&hdr);
                let body = pos + TAG_HEADER_SIZE as u64;
                self.state = if th.tag_type == TagType::SCRIPT
                    && th.data_size <= self.limits.max_metadata_size
                    && body + u64::from(th.data_size) <= self.file_size
                {
                    State::Metadata {
                        pos: body,
                        size: th.data_size,
                    }
                } else {
                    State::Scan {
                        pos: self.data_start,
                    }
                };
            }
            State::Metadata { size, .. } => {
                if data.len() >= size as usize {
                    self.read_metadata(data.get(..size as usize).unwrap_or(&[]));
                }
                self.state = match self.from_metadata {
                    Some(_) => State::Verify { index: 0 },
                    None => State::Scan {
                        pos: self.data_start,
                    },
                };
            }
            State::Verify { index } => self.verify(index, data),
            State::Scan { .. } => self.scan(pos, data),
            State::Done => {}
        }
        Ok(())
    }

    /// The file's description. Call when [`Self::poll_read`] gives `None`.
    pub fn finish(self) -> Result<FlvFileInfo, FlvError> {
        let header = self.header.ok_or(FlvError::UnexpectedEof { buffered: 0 })?;
        let (seek_points, duration_ms, source, end) = match self.from_metadata {
            Some((points, duration)) => (points, duration, IndexSource::Metadata, self.file_size),
            None => {
                let points = if self.video_points.is_empty() {
                    self.audio_points
                } else {
                    self.video_points
                };
                (points, self.last_ts, IndexSource::Scan, self.end)
            }
        };
        Ok(FlvFileInfo {
            header,
            data_start: self.data_start,
            end,
            duration_ms,
            metadata: self.metadata,
            seek_points,
            source,
        })
    }

    fn read_metadata(&mut self, body: &[u8]) {
        let Ok(script) = parse_script(body) else {
            return;
        };
        let script = script.unwrap_set_data_frame();
        if script.name != ON_META_DATA {
            return;
        }
        let Some(md) = script.metadata().cloned() else {
            return;
        };
        self.from_metadata = self.metadata_index(&md);
        self.metadata = Some(md);
    }

    /// The metadata's keyframe index and duration, if they are consistent with the file:
    /// as many times as positions, positions increasing inside the file after the header,
    /// times not decreasing, a positive duration.
    fn metadata_index(&self, md: &Amf0Object) -> Option<(Vec<SeekPoint>, u32)> {
        let duration = md
            .get_number("duration")
            .filter(|d| d.is_finite() && *d > 0.0)?;
        let kf = md.get("keyframes")?.as_object()?;
        let times = numbers(kf.get("times")?)?;
        let positions = numbers(kf.get("filepositions")?)?;
        if times.is_empty()
            || times.len() != positions.len()
            || times.len() > self.limits.max_seek_points
        {
            return None;
        }
        let mut out = Vec::with_capacity(times.len());
        for (&t, &p) in times.iter().zip(&positions) {
            let valid = t.is_finite() && t >= 0.0 && p.is_finite() && p >= self.data_start as f64;
            if !valid || p + TAG_HEADER_SIZE as f64 > self.file_size as f64 {
                return None;
            }
            let point = SeekPoint {
                time_ms: (t * 1000.0).round().min(f64::from(u32::MAX)) as u32,
                pos: p as u64,
            };
            if let Some(prev) = out.last() {
                let prev: &SeekPoint = prev;
                if point.pos <= prev.pos || point.time_ms < prev.time_ms {
                    return None;
                }
            }
            out.push(point);
        }
        Some((
            out,
            (duration * 1000.0).round().min(f64::from(u32::MAX)) as u32,
        ))
    }

    /// Checks the metadata's seek point `index` against the tag read at its position: it must
    /// be a whole video keyframe; its own timestamp replaces the index's time (writers round
    /// times, or list presentation times). A mismatch drops the index for a scan.
    fn verify(&mut self, index: usize, data: &[u8]) {
        let tag = data
            .get(..TAG_HEADER_SIZE)
            .and_then(|s| <[u8; TAG_HEADER_SIZE]>::try_from(s).ok())
            .map(|h| TagHeader::parse(&h));
        let Some((points, _)) = self.from_metadata.as_mut() else {
            self.state = State::Scan {
                pos: self.data_start,
            };
            return;
        };
        let ok = match (tag, points.get(index)) {
            (Some(th), Some(p)) if th.tag_type == TagType::VIDEO => {
                let end = p.pos + TAG_HEADER_SIZE as u64 + u64::from(th.data_size);
                let body = data
                    .get(TAG_HEADER_SIZE..)
                    .unwrap_or(&[])
                    .get(..(th.data_size as usize).min(VIDEO_PEEK))
                    .unwrap_or(&[]);
                let info = classify_video(body);
                end <= self.file_size && info.is_keyframe && !info.is_sequence_header
            }
            _ => false,
        };
        if !ok {
            self.from_metadata = None;
            self.state = State::Scan {
                pos: self.data_start,
            };
            return;
        }
        if let (Some(th), Some(p)) = (tag, points.get_mut(index)) {
            p.time_ms = th.timestamp;
        }
        let sorted = index == 0
            || points.get(index - 1).map(|q| q.time_ms) <= points.get(index).map(|q| q.time_ms);
        if !sorted {
            self.from_metadata = None;
            self.state = State::Scan {
                pos: self.data_start,
            };
        } else if index + 1 < points.len() {
            self.state = State::Verify { index: index + 1 };
        } else {
            self.state = State::Done;
        }
    }

    /// Walks the tag headers in `data` (read at `pos`).
    fn scan(&mut self, pos: u64, data: &[u8]) {
        let mut at = 0usize;
        loop {
            let tag_pos = pos + at as u64;
            let Some(hdr) = data
                .get(at..at + TAG_HEADER_SIZE)
                .and_then(|s| <[u8; TAG_HEADER_SIZE]>::try_from(s).ok())
            else {
                break;
            };
            let th = TagHeader::parse(&hdr);
            let tag_end = tag_pos + (TAG_HEADER_SIZE as u64) + u64::from(th.data_size);
            if tag_end > self.file_size || !matches!(th.tag_type.0, 8 | 9 | 15 | 18) {
                // A torn last tag, or bytes that are no tag: the file ends before them.
                self.state = State::Done;
                return;
            }
            let body_at = at + TAG_HEADER_SIZE;
            if th.tag_type == TagType::VIDEO {
                let peek = (th.data_size as usize).min(VIDEO_PEEK);
                let Some(prefix) = data.get(body_at..body_at + peek) else {
                    break;
                };
                let info = classify_video(prefix);
                if info.is_keyframe && !info.is_sequence_header && !info.is_command {
                    push_point(
                        &mut self.video_points,
                        self.limits.max_seek_points,
                        th.timestamp,
                        tag_pos,
                    );
                }
            } else if th.tag_type == TagType::AUDIO
                && self
                    .audio_points
                    .last()
                    .is_none_or(|p| th.timestamp >= p.time_ms.saturating_add(AUDIO_SEEK_SPACING_MS))
            {
                push_point(
                    &mut self.audio_points,
                    self.limits.max_seek_points,
                    th.timestamp,
                    tag_pos,
                );
            }
            if th.tag_type == TagType::AUDIO || th.tag_type == TagType::VIDEO {
                self.last_ts = self.last_ts.max(th.timestamp);
            }
            let next = tag_end + 4;
            self.end = next.min(self.file_size);
            if next + TAG_HEADER_SIZE as u64 > self.file_size {
                self.state = State::Done;
                return;
            }
            match usize::try_from(next - pos) {
                Ok(n) if n <= data.len() => at = n,
                _ => {
                    self.state = State::Scan { pos: next };
                    return;
                }
            }
        }
        let resume = pos + at as u64;
        if at == 0 && data.len() < TAG_HEADER_SIZE {
            // The read came back short: the file ends here.
            self.state = State::Done;
        } else {
            self.state = State::Scan { pos: resume };
        }
    }
}

fn push_point(points: &mut Vec<SeekPoint>, max: usize, time_ms: u32, pos: u64) {
    if points.len() < max && points.last().is_none_or(|p| time_ms >= p.time_ms) {
        points.push(SeekPoint { time_ms, pos });
    }
}

fn numbers(v: &Amf0Value) -> Option<Vec<f64>> {
    match v {
        Amf0Value::StrictArray(items) => items.iter().map(Amf0Value::as_f64).collect(),
        _ => None,
    }
}

/// Cuts whole tags (and their PreviousTagSize) out of bytes read from a tag boundary, up to the
/// end of the file's last whole tag. Tag bodies are `Bytes` slices of the buffer.
#[derive(Debug, Clone)]
pub struct FlvTagStream {
    pos: u64,
    end: u64,
    max_tag_size: u32,
}

impl FlvTagStream {
    /// A stream of the tags from `pos` (a tag boundary) to `end` (see [`FlvFileInfo::end`]);
    /// tags larger than `max_tag_size` are an error.
    pub fn new(pos: u64, end: u64, max_tag_size: u32) -> Self {
        FlvTagStream {
            pos,
            end,
            max_tag_size,
        }
    }

    /// File offset of the next byte the stream expects (the driver reads from
    /// `position() + buffered bytes`).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Whether every tag up to the end was returned.
    pub fn is_done(&self) -> bool {
        self.pos + TAG_HEADER_SIZE as u64 > self.end
    }

    /// The next tag from `buf` (bytes read from [`Self::position`] on), or `Ok(None)` when more
    /// bytes are needed or the stream is done.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<FlvTag>, FlvError> {
        if self.is_done() {
            return Ok(None);
        }
        let Some(hdr) = buf
            .get(..TAG_HEADER_SIZE)
            .and_then(|s| <[u8; TAG_HEADER_SIZE]>::try_from(s).ok())
        else {
            return Ok(None);
        };
        let th = TagHeader::parse(&hdr);
        if th.data_size > self.max_tag_size {
            return Err(FlvError::TagTooLarge {
                size: th.data_size,
                limit: self.max_tag_size,
            });
        }
        let tag_end = self.pos + TAG_HEADER_SIZE as u64 + u64::from(th.data_size);
        if tag_end > self.end {
            // The torn tail of a file cut mid-tag.
            self.pos = self.end;
            return Ok(None);
        }
        let trailer = (self.end - tag_end).min(4) as usize;
        let whole = TAG_HEADER_SIZE + th.data_size as usize + trailer;
        if buf.len() < whole {
            return Ok(None);
        }
        buf.advance(TAG_HEADER_SIZE);
        let data = buf.split_to(th.data_size as usize).freeze();
        buf.advance(trailer);
        self.pos += whole as u64;
        Ok(Some(FlvTag {
            tag_type: th.tag_type,
            timestamp: th.timestamp,
            stream_id: th.stream_id,
            filter: th.filter,
            data,
        }))
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
