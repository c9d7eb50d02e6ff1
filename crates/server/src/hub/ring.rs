//! The per-stream broadcast window: an append-only chain of fixed-size segments that every player of
//! the stream reads with its own cursor.
//!
//! The publisher (the single writer, under the stream's state lock) fills [`OnceLock`] slots in order;
//! a player reads a slot with one acquire load and clones its entry, so there is no lock, allocation
//! or hash lookup per message per player. Segments are reference counted: the writer keeps a bounded
//! window of them (`window_frames`/`window_bytes` from [`HubConfig`](crate::hub::HubConfig)) and
//! players hold only a [`Weak`] between reads, so a player that stops reading does not keep payloads
//! alive. When a player's segment has been evicted its cursor reports [`Overrun`] and the player
//! resynchronises at the live edge.

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::frame::MediaFrame;

/// Slots per segment: one segment allocation per this many messages per stream.
pub(crate) const SEGMENT_LEN: usize = 64;

/// One published event, in publish order.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    /// A publisher claimed the stream; the number counts publishes of this stream.
    Publish(u64),
    /// The publisher left.
    Unpublish,
    /// New `onMetaData`.
    Metadata(Bytes),
    /// Audio, video or data.
    Frame(MediaFrame),
}

impl Entry {
    /// Payload bytes counted against the byte bounds.
    fn weight(&self) -> u64 {
        match self {
            Entry::Publish(_) | Entry::Unpublish => 0,
            Entry::Metadata(b) => b.len() as u64,
            Entry::Frame(f) => f.len() as u64,
        }
    }
}

/// One written slot.
#[derive(Debug)]
pub(crate) struct Slot {
    /// When the publisher wrote it.
    pub(crate) at: Instant,
    /// Total payload bytes written to the stream up to and including this entry.
    pub(crate) cum_end: u64,
    /// The event.
    pub(crate) entry: Entry,
}

/// A fixed run of slots plus the link to the following segment.
#[derive(Debug)]
pub(crate) struct Segment {
    base_seq: u64,
    base_cum: u64,
    slots: Box<[OnceLock<Slot>]>,
    next: OnceLock<Arc<Segment>>,
}

impl Segment {
    fn new(base_seq: u64, base_cum: u64) -> Self {
        Self {
            base_seq,
            base_cum,
            slots: (0..SEGMENT_LEN).map(|_| OnceLock::new()).collect(),
            next: OnceLock::new(),
        }
    }
}

impl Drop for Segment {
    /// Unlink iteratively: dropping a long chain of evicted segments must not recurse.
    fn drop(&mut self) {
        let mut next = self.next.take();
        while let Some(seg) = next {
            next = match Arc::into_inner(seg) {
                Some(mut inner) => inner.next.take(),
                None => None,
            };
        }
    }
}

/// A player's read position.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    seg: Weak<Segment>,
    idx: usize,
    /// Sequence number of the next entry to read.
    pub(crate) seq: u64,
    /// Cumulative payload bytes of everything before `seq`.
    pub(crate) cum: u64,
}

/// The cursor's segment was evicted from the window: entries were lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overrun;

impl Cursor {
    /// Visit every entry written after the cursor, in order, and advance past them.
    pub(crate) fn drain(&mut self, mut visit: impl FnMut(u64, &Slot)) -> Result<(), Overrun> {
        let mut seg = self.seg.upgrade().ok_or(Overrun)?;
        loop {
            if let Some(slot) = seg.slots.get(self.idx).and_then(OnceLock::get) {
                visit(self.seq, slot);
                self.idx += 1;
                self.seq += 1;
                self.cum = slot.cum_end;
                continue;
            }
            // Nothing written here (or past the end): move on only once the segment is closed.
            let Some(next) = seg.next.get().map(Arc::clone) else {
                break;
            };
            // The link is set after the segment's last write, so this re-check cannot miss it.
            if seg.slots.get(self.idx).and_then(OnceLock::get).is_some() {
                continue;
            }
            seg = next;
            self.idx = 0;
        }
        self.seg = Arc::downgrade(&seg);
        Ok(())
    }

    /// When the next unread entry was written (`Ok(None)` if there is none yet).
    pub(crate) fn front_time(&self) -> Result<Option<Instant>, Overrun> {
        let mut seg = self.seg.upgrade().ok_or(Overrun)?;
        let mut idx = self.idx;
        loop {
            if let Some(slot) = seg.slots.get(idx).and_then(OnceLock::get) {
                return Ok(Some(slot.at));
            }
            let Some(next) = seg.next.get().map(Arc::clone) else {
                return Ok(None);
            };
            if let Some(slot) = seg.slots.get(idx).and_then(OnceLock::get) {
                return Ok(Some(slot.at));
            }
            seg = next;
            idx = 0;
        }
    }
}

/// The writer side: the retained window of segments. Owned by the stream state (single writer).
///
/// A segment is closed when its 64 slots are full or it holds `max_bytes / 8` payload bytes, so
/// one segment never holds much of the byte budget. The front segment is evicted once the
/// segments after it alone hold more than `max_frames` entries or `max_bytes` bytes, or (with
/// [`RingWriter::with_max_age`]) once they start with an entry older than the age bound. Hence a
/// cursor at most `max_frames` entries and `max_bytes` bytes behind the head is never evicted,
/// and the window holds at most `max_frames + 64` entries and about `max_bytes * 9 / 8` bytes
/// (plus one message).
#[derive(Debug)]
pub(crate) struct RingWriter {
    segments: VecDeque<Arc<Segment>>,
    /// Slots filled in the last segment.
    head_len: usize,
    next_seq: u64,
    cum: u64,
    max_frames: u64,
    max_bytes: u64,
    /// Entries older than this (by write time) are evicted, whole segments at a time.
    max_age: Duration,
    segment_max_bytes: u64,
}

impl RingWriter {
    /// An empty window (see the type docs for how `max_frames` and `max_bytes` apply).
    pub(crate) fn new(max_frames: u64, max_bytes: u64) -> Self {
        let mut segments = VecDeque::new();
        segments.push_back(Arc::new(Segment::new(0, 0)));
        Self {
            segments,
            head_len: 0,
            next_seq: 0,
            cum: 0,
            max_frames,
            max_bytes,
            max_age: Duration::MAX,
            segment_max_bytes: (max_bytes / 8).max(1),
        }
    }

    /// Also evict by age: the front segment goes once the segment after it starts with an entry
    /// written more than `max_age` before the newest one, so a cursor whose unread entries are all
    /// younger than `max_age` is never evicted.
    pub(crate) fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Append one entry; returns the new (head sequence number, cumulative bytes).
    pub(crate) fn push(&mut self, entry: Entry, at: Instant) -> (u64, u64) {
        let cum_end = self.cum.saturating_add(entry.weight());
        let slot = Slot { at, cum_end, entry };
        let head_bytes = self.segments.back().map_or(0, |b| self.cum - b.base_cum);
        if self.head_len >= SEGMENT_LEN
            || (self.head_len > 0 && head_bytes >= self.segment_max_bytes)
        {
            let seg = Arc::new(Segment::new(self.next_seq, self.cum));
            if let Some(back) = self.segments.back() {
                // The back segment's link is set exactly once, here, after its last write.
                let _ = back.next.set(Arc::clone(&seg));
            }
            self.segments.push_back(seg);
            self.head_len = 0;
        }
        if let Some(back) = self.segments.back() {
            if let Some(cell) = back.slots.get(self.head_len) {
                // Slots are written once, in order, by this single writer.
                let _ = cell.set(slot);
            }
        }
        self.head_len += 1;
        self.next_seq += 1;
        self.cum = cum_end;
        self.evict(at);
        (self.next_seq, self.cum)
    }

    fn evict(&mut self, now: Instant) {
        while let Some(second) = self.segments.get(1) {
            let rest_frames = self.next_seq - second.base_seq;
            let rest_bytes = self.cum - second.base_cum;
            let too_old = second
                .slots
                .first()
                .and_then(OnceLock::get)
                .is_some_and(|s| now.saturating_duration_since(s.at) > self.max_age);
            if rest_frames <= self.max_frames && rest_bytes <= self.max_bytes && !too_old {
                break;
            }
            self.segments.pop_front();
        }
    }

    /// Drop every segment but the one being written (used when the publisher leaves, so an idle
    /// stream holds at most one segment of old payloads). Lagging cursors then see [`Overrun`].
    pub(crate) fn trim_to_head(&mut self) {
        while self.segments.len() > 1 {
            self.segments.pop_front();
        }
    }

    /// A cursor at the live edge: it will read the next entry written.
    pub(crate) fn cursor_at_head(&self) -> Cursor {
        let seg = self.segments.back().map(Arc::downgrade).unwrap_or_default();
        Cursor {
            seg,
            idx: self.head_len,
            seq: self.next_seq,
            cum: self.cum,
        }
    }

    /// Sequence number the next entry will get.
    #[cfg(test)]
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Entries currently retained.
    #[cfg(test)]
    pub(crate) fn retained_frames(&self) -> u64 {
        self.segments
            .front()
            .map_or(0, |f| self.next_seq - f.base_seq)
    }

    /// Payload bytes currently retained.
    #[cfg(test)]
    pub(crate) fn retained_bytes(&self) -> u64 {
        self.segments.front().map_or(0, |f| self.cum - f.base_cum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: usize) -> Entry {
        Entry::Frame(MediaFrame::audio(0, Bytes::from(vec![0xAF; n])))
    }

    fn read_all(c: &mut Cursor) -> Result<Vec<u64>, Overrun> {
        let mut seqs = Vec::new();
        c.drain(|seq, _| seqs.push(seq))?;
        Ok(seqs)
    }

    #[test]
    fn window_is_bounded_by_age() {
        let mut w = RingWriter::new(1 << 20, 1 << 30).with_max_age(Duration::from_secs(5));
        let mut old = w.cursor_at_head();
        let t0 = Instant::now();
        // Two full segments written at t0, then one entry per second.
        for _ in 0..(SEGMENT_LEN * 2) {
            w.push(frame(1), t0);
        }
        let mut young = w.cursor_at_head();
        for s in 1..=5 {
            w.push(frame(1), t0 + Duration::from_secs(s));
        }
        // The newest entry is 5 s after t0: nothing is older than the bound yet.
        assert_eq!(w.retained_frames(), SEGMENT_LEN as u64 * 2 + 5);
        w.push(frame(1), t0 + Duration::from_secs(6));
        // The second segment starts with an entry 6 s old, so the first goes; the third starts
        // 5 s back, so the second (the one before it) stays: eviction is by whole segments.
        assert_eq!(w.retained_frames(), SEGMENT_LEN as u64 + 6);
        assert_eq!(read_all(&mut old), Err(Overrun));
        assert_eq!(read_all(&mut young).unwrap().len(), 6);
        // One second later the third segment starts 6 s back too: only it is left.
        w.push(frame(1), t0 + Duration::from_secs(7));
        assert_eq!(w.retained_frames(), 7);
        assert_eq!(read_all(&mut young).unwrap().len(), 1);
    }

    #[test]
    fn cursor_reads_across_segments_in_order() {
        let mut w = RingWriter::new(10_000, 1 << 30);
        let mut c = w.cursor_at_head();
        let now = Instant::now();
        for _ in 0..(SEGMENT_LEN * 2 + 5) {
            w.push(frame(1), now);
        }
        let seqs = read_all(&mut c).unwrap();
        assert_eq!(seqs, (0..(SEGMENT_LEN as u64 * 2 + 5)).collect::<Vec<_>>());
        assert_eq!(c.seq, w.next_seq());
        assert_eq!(c.cum, SEGMENT_LEN as u64 * 2 + 5);
        assert!(read_all(&mut c).unwrap().is_empty());
        w.push(frame(1), now);
        assert_eq!(read_all(&mut c).unwrap(), vec![SEGMENT_LEN as u64 * 2 + 5]);
    }

    #[test]
    fn cursor_at_full_segment_follows_link() {
        let mut w = RingWriter::new(10_000, 1 << 30);
        let now = Instant::now();
        for _ in 0..SEGMENT_LEN {
            w.push(frame(1), now);
        }
        let mut c = w.cursor_at_head();
        assert_eq!(c.front_time(), Ok(None));
        w.push(frame(1), now);
        assert_eq!(c.front_time(), Ok(Some(now)));
        assert_eq!(read_all(&mut c).unwrap(), vec![SEGMENT_LEN as u64]);
    }

    #[test]
    fn window_is_bounded_by_frames_and_bytes() {
        let now = Instant::now();
        let mut w = RingWriter::new(100, 1 << 30);
        for _ in 0..(SEGMENT_LEN * 10) {
            w.push(frame(1), now);
            assert!(w.retained_frames() <= 100 + SEGMENT_LEN as u64);
        }
        let mut w = RingWriter::new(1 << 30, 8000);
        for _ in 0..(SEGMENT_LEN * 10) {
            w.push(frame(100), now);
            assert!(w.retained_bytes() <= 8000 + 1000 + 100);
        }
    }

    #[test]
    fn cursor_within_bounds_is_never_evicted() {
        let now = Instant::now();
        for (max_frames, max_bytes, size) in [(5, 1 << 30, 1), (1 << 30, 50, 10), (3, 7, 2)] {
            let mut w = RingWriter::new(max_frames, max_bytes);
            let mut c = w.cursor_at_head();
            for i in 0..(SEGMENT_LEN as u64 * 5) {
                // Read just before the next push would take the cursor over a bound.
                if w.next_seq - c.seq + 1 > max_frames || w.cum - c.cum + size as u64 > max_bytes {
                    let n = read_all(&mut c)
                        .expect("cursor within bounds was evicted")
                        .len();
                    assert!(n > 0, "iteration {i}");
                }
                w.push(frame(size), now);
            }
        }
    }

    #[test]
    fn cursor_follows_segments_closed_by_bytes() {
        let now = Instant::now();
        // Segments close at 800 / 8 = 100 bytes: ten 10-byte frames each.
        let mut w = RingWriter::new(1 << 20, 800);
        let mut c = w.cursor_at_head();
        for _ in 0..25 {
            w.push(frame(10), now);
        }
        assert_eq!(w.segments.len(), 3);
        assert_eq!(read_all(&mut c).unwrap(), (0..25).collect::<Vec<_>>());
        assert_eq!(c.front_time(), Ok(None));
        w.push(frame(10), now);
        assert_eq!(c.front_time(), Ok(Some(now)));
    }

    #[test]
    fn evicted_cursor_overruns_and_payloads_are_freed() {
        let now = Instant::now();
        let mut w = RingWriter::new(SEGMENT_LEN as u64, 1 << 30);
        let mut c = w.cursor_at_head();
        let payload = Bytes::from(vec![1u8; 10]);
        w.push(Entry::Frame(MediaFrame::audio(0, payload.clone())), now);
        for _ in 0..(SEGMENT_LEN * 3) {
            w.push(frame(1), now);
        }
        assert_eq!(c.drain(|_, _| {}), Err(Overrun));
        assert_eq!(c.front_time(), Err(Overrun));
        // Only our handle is left: the evicted slot released its clone.
        assert!(payload.is_unique());
    }

    #[test]
    fn trim_to_head_keeps_live_cursor_working() {
        let now = Instant::now();
        let mut w = RingWriter::new(1 << 20, 1 << 30);
        for _ in 0..(SEGMENT_LEN * 3 + 1) {
            w.push(frame(1), now);
        }
        let mut c = w.cursor_at_head();
        let mut old = w.cursor_at_head();
        old.seg = Weak::new();
        w.trim_to_head();
        assert_eq!(w.retained_frames(), 1);
        w.push(frame(1), now);
        assert_eq!(read_all(&mut c).unwrap().len(), 1);
        assert_eq!(old.drain(|_, _| {}), Err(Overrun));
    }

    #[test]
    fn long_chain_drop_does_not_recurse() {
        let now = Instant::now();
        let mut w = RingWriter::new(u64::MAX, u64::MAX);
        for _ in 0..(SEGMENT_LEN * 5_000) {
            w.push(Entry::Unpublish, now);
        }
        // Keep only the oldest segment alive through a strong handle, then drop the window:
        // the whole chain hangs off it and is released iteratively.
        let first = w.segments.front().map(Arc::clone);
        drop(w);
        drop(first);
    }
}
