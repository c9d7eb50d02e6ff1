//! The state of one live HLS media playlist (RFC 8216bis): init segments, a sliding window of
//! media segments with their partial segments, the open segment being built, and what a
//! blocking playlist request waits for (§6.2.5.2). Sans-IO: parts and segment boundaries come
//! in from [`super::HlsSegmenter`] (or a test), the wall clock is passed in as Unix
//! milliseconds, nothing here sleeps or reads a clock.
//!
//! Numbering: media sequence numbers start at 0 and only grow, also across publisher restarts
//! (an `EXT-X-DISCONTINUITY` marks them, `EXT-X-DISCONTINUITY-SEQUENCE` counts the ones that
//! left the window). Parts are numbered from 0 within their segment. Init segments are
//! numbered from 1 by this playlist (a new muxer after a restart starts its own generations
//! again; an init identical to the current one keeps its number).
//!
//! Memory: a part's bytes are kept once. When its segment completes, the parts are joined into
//! the segment's bytes and each part becomes a slice of them (no second copy).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Settings of an HLS playlist and its segmenter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HlsConfig {
    /// A segment ends at the first key frame at least this long after its start (without
    /// video: at the first audio frame). Default 1000 ms.
    pub segment_target_ms: u32,
    /// Partial segments (LL-HLS) of at most this length; 0 for classic HLS without parts.
    /// Default 200 ms.
    pub part_target_ms: u32,
    /// Complete segments kept in the playlist. Default 12.
    pub window_segments: usize,
    /// Offer delta updates (`CAN-SKIP-UNTIL`, `_HLS_skip=YES`) when the window is longer
    /// than the skip boundary. Default true.
    pub delta_updates: bool,
}

impl Default for HlsConfig {
    fn default() -> Self {
        HlsConfig {
            segment_target_ms: 1000,
            part_target_ms: 200,
            window_segments: 12,
            delta_updates: true,
        }
    }
}

/// A partial segment (`EXT-X-PART`): one movie fragment.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// Duration in seconds.
    pub duration: f64,
    /// Starts with a key frame (`INDEPENDENT=YES`).
    pub independent: bool,
    /// `moof`+`mdat` (a slice of the segment's bytes once it is complete).
    pub data: Bytes,
}

/// A media segment, open (still growing) or complete.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Media sequence number.
    pub msn: u64,
    /// Number of the init segment it depends on (`EXT-X-MAP`).
    pub init: u32,
    /// First segment after a publisher restart (`EXT-X-DISCONTINUITY`).
    pub discontinuity: bool,
    /// `EXT-X-PROGRAM-DATE-TIME` of its first sample, Unix milliseconds.
    pub program_date_time_ms: u64,
    /// Its parts, in order.
    pub parts: Vec<Part>,
    /// The whole segment, once complete.
    pub data: Option<Bytes>,
}

impl Segment {
    /// Sum of the part durations, seconds.
    pub fn duration(&self) -> f64 {
        self.parts.iter().map(|p| p.duration).sum()
    }
}

/// What a blocking playlist request (`_HLS_msn`, `_HLS_part`) should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocking {
    /// The playlist has what was asked for: answer.
    Ready,
    /// Not yet: wait for more media (bounded by the server).
    Wait,
    /// Too far ahead (§6.2.5.2): answer 400 at once.
    Reject,
}

/// What a request for a part finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartLookup {
    /// The part.
    Ready(Bytes),
    /// It may still come (the preload hint, or a little ahead of it): wait.
    Pending,
    /// It does not exist and will not (out of the window, or its segment ended first).
    Missing,
}

/// An init segment kept for `EXT-X-MAP`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Init {
    id: u32,
    data: Bytes,
}

/// One live media playlist; see the module docs.
#[derive(Debug, Clone)]
pub struct HlsPlaylist {
    pub(super) cfg: HlsConfig,
    pub(super) segments: VecDeque<Segment>,
    pub(super) open: Option<Segment>,
    inits: Vec<Init>,
    next_msn: u64,
    pub(super) discontinuity_sequence: u64,
    pub(super) target_duration: u32,
    pending_discontinuity: bool,
    /// Continues `EXT-X-PROGRAM-DATE-TIME` from the previous segment's end.
    next_pdt_ms: Option<u64>,
    /// Counts changes, for waiters.
    version: u64,
}

impl HlsPlaylist {
    /// An empty playlist.
    pub fn new(cfg: HlsConfig) -> Self {
        HlsPlaylist {
            cfg,
            segments: VecDeque::new(),
            open: None,
            inits: Vec::new(),
            next_msn: 0,
            discontinuity_sequence: 0,
            target_duration: cfg.segment_target_ms.div_ceil(1000).max(1),
            pending_discontinuity: false,
            next_pdt_ms: None,
            version: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &HlsConfig {
        &self.cfg
    }

    /// Counts every change (a new part, segment or init), for waiters to compare.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether LL-HLS parts are on.
    pub fn low_latency(&self) -> bool {
        self.cfg.part_target_ms > 0
    }

    /// `EXT-X-TARGETDURATION`: the configured target rounded up, or the longest segment so far
    /// rounded to the nearest second if that is more (it only grows).
    pub fn target_duration(&self) -> u32 {
        self.target_duration
    }

    /// The complete segments in the window, oldest first.
    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter()
    }

    /// The segment being built, if any.
    pub fn open_segment(&self) -> Option<&Segment> {
        self.open.as_ref()
    }

    /// Hands in an init segment: a different one than the current closes the open segment and
    /// is what later segments depend on. Returns its number.
    pub fn handle_init(&mut self, data: Bytes) -> u32 {
        if let Some(cur) = self.inits.last() {
            if cur.data == data {
                return cur.id;
            }
        }
        self.end_segment();
        let id = self.inits.last().map_or(1, |i| i.id + 1);
        self.inits.push(Init { id, data });
        self.version += 1;
        id
    }

    /// The current init segment's number, if any.
    pub fn current_init(&self) -> Option<u32> {
        self.inits.last().map(|i| i.id)
    }

    /// The bytes of init segment `id`, while a segment in the window (or the next) needs it.
    pub fn init(&self, id: u32) -> Option<Bytes> {
        self.inits
            .iter()
            .find(|i| i.id == id)
            .map(|i| i.data.clone())
    }

    /// Appends a part. `new_segment` closes the open segment first (the part starts with a
    /// key frame at a segment boundary); `wall_ms` is the wall clock of its first sample, used
    /// for the program date time of a segment that does not continue the previous one.
    ///
    /// # Panics
    /// Never; a part before any init is dropped (nothing could decode it).
    pub fn push_part(&mut self, part: Part, new_segment: bool, wall_ms: u64) {
        let Some(init) = self.current_init() else {
            return;
        };
        if new_segment || self.open.as_ref().is_some_and(|s| s.init != init) {
            self.end_segment();
        }
        let seg = self.open.get_or_insert_with(|| {
            let msn = self.next_msn;
            self.next_msn += 1;
            let discontinuity = std::mem::take(&mut self.pending_discontinuity);
            Segment {
                msn,
                init,
                discontinuity,
                program_date_time_ms: self.next_pdt_ms.unwrap_or(wall_ms),
                parts: Vec::new(),
                data: None,
            }
        });
        seg.parts.push(part);
        self.version += 1;
    }

    /// Closes the open segment (at a segment boundary, a new init, or the publisher's end).
    pub fn end_segment(&mut self) {
        let Some(mut seg) = self.open.take() else {
            return;
        };
        let duration = seg.duration();
        let mut joined = BytesMut::with_capacity(seg.parts.iter().map(|p| p.data.len()).sum());
        for p in &seg.parts {
            joined.extend_from_slice(&p.data);
        }
        let joined = joined.freeze();
        let mut at = 0;
        for p in &mut seg.parts {
            let n = p.data.len();
            p.data = joined.slice(at..at + n);
            at += n;
        }
        seg.data = Some(joined);
        self.next_pdt_ms = Some(seg.program_date_time_ms + (duration * 1000.0).round() as u64);
        // RFC 8216bis 4.4.3.1: EXTINF rounded to the nearest integer <= TARGETDURATION.
        self.target_duration = self.target_duration.max(duration.round() as u32);
        self.segments.push_back(seg);
        while self.segments.len() > self.cfg.window_segments.max(1) {
            if let Some(old) = self.segments.pop_front() {
                if old.discontinuity {
                    self.discontinuity_sequence += 1;
                }
            }
        }
        let keep = self
            .segments
            .front()
            .map_or(u32::MAX, |s| s.init)
            .min(self.current_init().unwrap_or(u32::MAX));
        self.inits.retain(|i| i.id >= keep);
        self.version += 1;
    }

    /// A publisher restart: the open segment ends, the next one is marked
    /// `EXT-X-DISCONTINUITY` and takes its program date time from the wall clock again.
    pub fn handle_discontinuity(&mut self) {
        self.end_segment();
        if self.next_msn > 0 {
            self.pending_discontinuity = true;
        }
        self.next_pdt_ms = None;
        self.version += 1;
    }

    /// `EXT-X-MEDIA-SEQUENCE`: the first segment in the window.
    pub fn media_sequence(&self) -> u64 {
        self.segments
            .front()
            .or(self.open.as_ref())
            .map_or(self.next_msn, |s| s.msn)
    }

    /// The newest part: (msn, part index).
    pub fn last_part(&self) -> Option<(u64, usize)> {
        if let Some(s) = self.open.as_ref().filter(|s| !s.parts.is_empty()) {
            return Some((s.msn, s.parts.len() - 1));
        }
        self.segments
            .back()
            .map(|s| (s.msn, s.parts.len().saturating_sub(1)))
    }

    /// The newest complete segment's number.
    pub fn last_complete(&self) -> Option<u64> {
        self.segments.back().map(|s| s.msn)
    }

    /// `EXT-X-PRELOAD-HINT`: the part that comes next (msn, index).
    pub fn preload_hint(&self) -> Option<(u64, usize)> {
        if !self.low_latency() || self.current_init().is_none() {
            return None;
        }
        Some(match &self.open {
            Some(s) => (s.msn, s.parts.len()),
            None => (self.next_msn, 0),
        })
    }

    /// The Advance Part Limit of §6.2.5.2: 3 / PART-TARGET below one second, else 3.
    fn advance_part_limit(&self) -> u64 {
        match self.cfg.part_target_ms {
            0 => 0,
            ms if ms < 1000 => u64::from(3000 / ms),
            _ => 3,
        }
    }

    /// What a request with `_HLS_msn=msn` (and `_HLS_part=part`) should do (RFC 8216bis
    /// §6.2.5.2): ready once the playlist has segment `msn` (complete) or part `part` of it, or
    /// anything later; rejected when `msn` is more than two segments after the last one, or the
    /// part more than the Advance Part Limit ahead of the last part.
    pub fn blocking(&self, msn: u64, part: Option<u64>) -> Blocking {
        let part = part.filter(|_| self.low_latency());
        let newest_msn = self
            .open
            .as_ref()
            .filter(|s| !s.parts.is_empty())
            .map(|s| s.msn)
            .or(self.last_complete());
        let ready = match part {
            None => self.last_complete().is_some_and(|m| m >= msn),
            Some(p) => match self.last_part() {
                Some((m, i)) => (m, i as u64) >= (msn, p),
                None => false,
            },
        };
        if ready {
            return Blocking::Ready;
        }
        let last = newest_msn.unwrap_or(self.next_msn);
        if msn > last + 2 {
            return Blocking::Reject;
        }
        if let Some(p) = part {
            let (lm, li) = self
                .last_part()
                .map_or((self.next_msn, -1), |(m, i)| (m, i as i64));
            // Parts still to come, counting segments of the target length after the last.
            let per_segment =
                i64::from(self.cfg.segment_target_ms / self.cfg.part_target_ms.max(1));
            let ahead = if msn == lm {
                (p as i64 - li).max(0)
            } else {
                (per_segment - li - 1).max(0) + (msn - lm - 1) as i64 * per_segment + p as i64 + 1
            };
            let ahead = ahead as u64;
            if ahead > self.advance_part_limit() {
                return Blocking::Reject;
            }
        }
        Blocking::Wait
    }

    /// The bytes of complete segment `msn`, if it is in the window.
    pub fn segment(&self, msn: u64) -> Option<Bytes> {
        self.segments
            .iter()
            .find(|s| s.msn == msn)
            .and_then(|s| s.data.clone())
    }

    /// Part `index` of segment `msn`.
    pub fn part(&self, msn: u64, index: usize) -> PartLookup {
        let seg = self
            .segments
            .iter()
            .chain(self.open.iter())
            .find(|s| s.msn == msn);
        match seg {
            Some(s) => match s.parts.get(index) {
                Some(p) => PartLookup::Ready(p.data.clone()),
                None if s.data.is_none() && index <= s.parts.len() + 1 => PartLookup::Pending,
                None => PartLookup::Missing,
            },
            // The hinted part of a segment that has not started yet.
            None if self.preload_hint() == Some((msn, index)) => PartLookup::Pending,
            None => PartLookup::Missing,
        }
    }
}
