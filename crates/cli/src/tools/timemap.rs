//! Timestamps for publishing a file in real time: [`TimeMap`] turns file timestamps into
//! continuous output timestamps (starting at 0, re-based across discontinuities and across
//! `--loop` repetitions), and [`Pacer`] turns output timestamps into wall-clock send times on
//! the monotonic clock.
//!
//! RTMP timestamps are 32-bit milliseconds (RTMP 1.0 §5.3.1.1); the output is kept as a 64-bit
//! count and wrapped only when sent.

use std::time::Duration;
use tokio::time::Instant;

/// A file timestamp more than this many ms behind the previous one is a discontinuity (audio
/// and video interleave with small backward steps, which are kept).
pub const MAX_BACKWARD_MS: u32 = 1000;
/// A file timestamp more than this many ms ahead of the previous one is a discontinuity.
pub const MAX_FORWARD_JUMP_MS: u32 = 10_000;
/// Gap assumed between the last output timestamp and the first one after a discontinuity or
/// a loop until a frame interval has been measured.
pub const DEFAULT_GAP_MS: u32 = 40;

/// File → output timestamp mapping. See the module docs.
#[derive(Debug, Clone)]
pub struct TimeMap {
    offset: i64,
    last_in: Option<u32>,
    max_out: u64,
    next_start: u64,
    gap: u32,
    discontinuities: u64,
}

impl Default for TimeMap {
    fn default() -> Self {
        TimeMap {
            offset: 0,
            last_in: None,
            max_out: 0,
            next_start: 0,
            gap: DEFAULT_GAP_MS,
            discontinuities: 0,
        }
    }
}

impl TimeMap {
    /// A map whose first output timestamp is 0.
    pub fn new() -> TimeMap {
        TimeMap::default()
    }

    /// The output timestamp (ms) for a file timestamp.
    pub fn map(&mut self, ts: u32) -> u64 {
        let ts64 = i64::from(ts);
        match self.last_in {
            None => self.offset = self.next_start as i64 - ts64,
            Some(last) => {
                let d = ts64 - i64::from(last);
                if d < -i64::from(MAX_BACKWARD_MS) || d > i64::from(MAX_FORWARD_JUMP_MS) {
                    self.discontinuities += 1;
                    self.offset = (self.max_out + u64::from(self.gap)) as i64 - ts64;
                } else if d > 0 {
                    self.gap = d as u32;
                }
            }
        }
        self.last_in = Some(ts);
        let out = (ts64 + self.offset).max(0) as u64;
        self.max_out = self.max_out.max(out);
        out
    }

    /// Start the next repetition of the file: its first timestamp follows the last output one.
    pub fn restart(&mut self) {
        self.last_in = None;
        self.next_start = self.max_out + u64::from(self.gap);
    }

    /// The largest output timestamp so far.
    pub fn max_out(&self) -> u64 {
        self.max_out
    }

    /// How many discontinuities were re-based.
    pub fn discontinuities(&self) -> u64 {
        self.discontinuities
    }
}

/// Wall-clock pacing of output timestamps.
#[derive(Debug, Clone)]
pub struct Pacer {
    anchor: Option<(Instant, u64)>,
    max_late: Duration,
}

impl Pacer {
    /// A pacer that re-anchors when it falls more than `max_late` behind (instead of sending
    /// the backlog in a burst).
    pub fn new(max_late: Duration) -> Pacer {
        Pacer {
            anchor: None,
            max_late,
        }
    }

    /// When the message with output timestamp `out_ms` is due, given the time `now`.
    pub fn due(&mut self, out_ms: u64, now: Instant) -> Instant {
        let (t0, m0) = *self.anchor.get_or_insert((now, out_ms));
        let due = t0 + Duration::from_millis(out_ms.saturating_sub(m0));
        if now > due + self.max_late {
            self.anchor = Some((now, out_ms));
            return now;
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_zero_and_keeps_interleave() {
        let mut m = TimeMap::new();
        let out: Vec<u64> = [1000, 1000, 1023, 1040, 1030, 1080]
            .iter()
            .map(|&t| m.map(t))
            .collect();
        assert_eq!(out, vec![0, 0, 23, 40, 30, 80]);
        assert_eq!(m.discontinuities(), 0);
    }

    #[test]
    fn rebases_jumps_both_ways() {
        let mut m = TimeMap::new();
        assert_eq!(m.map(5000), 0);
        assert_eq!(m.map(5040), 40);
        // Backwards by more than a second: continue after the last output + the last gap.
        assert_eq!(m.map(0), 80);
        assert_eq!(m.map(40), 120);
        // Forward jump of an hour.
        assert_eq!(m.map(3_600_000), 160);
        assert_eq!(m.map(3_600_040), 200);
        assert_eq!(m.discontinuities(), 2);
        // Small backward steps stay (clamped at 0 never needed here).
        assert_eq!(m.map(3_600_000), 160);
    }

    #[test]
    fn loops_are_continuous() {
        let mut m = TimeMap::new();
        for t in [500, 540, 580] {
            m.map(t);
        }
        assert_eq!(m.max_out(), 80);
        m.restart();
        assert_eq!(m.map(500), 120);
        assert_eq!(m.map(540), 160);
        m.restart();
        assert_eq!(m.map(500), 200);
    }

    #[test]
    fn pacer_follows_timestamps_and_reanchors() {
        let t0 = Instant::now();
        let mut p = Pacer::new(Duration::from_secs(1));
        assert_eq!(p.due(1000, t0), t0);
        assert_eq!(p.due(1040, t0), t0 + Duration::from_millis(40));
        // Earlier timestamps are due at once (the anchor time).
        assert_eq!(p.due(900, t0), t0);
        // Far behind: re-anchor at now.
        let late = t0 + Duration::from_secs(10);
        assert_eq!(p.due(1080, late), late);
        assert_eq!(p.due(1120, late), late + Duration::from_millis(40));
    }
}
