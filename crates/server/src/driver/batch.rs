//! A publisher's frames on their way to the hub: held and handed over in batches, so that each
//! player writes a whole batch with one vectored write (docs/CAPACITY.md).
//!
//! - **No hold** (latency budget 0 and no load): a batch ends at each video frame, with the
//!   audio before it; audio alone waits at most `fanout_batch_ms` for the next picture.
//! - **Hold** (the stream's latency budget, or longer when the load rule asks, see
//!   [`crate::load`]): a batch ends once its first frame has waited that long, whatever came
//!   since. Frames are never reordered or dropped here; audio and video go in the same batches.
//! - A batch is handed over at once, whatever the hold, once it holds a quarter of a player's
//!   queue bound (`hub.player_queue_max_bytes` / `_frames`), at most [`MAX_BYTES`] and
//!   [`MAX_FRAMES`]: a player that keeps up is never over its bound because of one batch, and a
//!   publisher's burst never piles up here.
//!
//! The hold in force when a batch starts is the one it keeps: a change of the load rule applies
//! from the next batch.
//!
//! The budget bounds what the server adds to a frame's latency, writes included: a batch is
//! handed over `hold − fan-out time` after its first frame, where the fan-out time is how long
//! handing the recent batches to every player took (a decaying maximum, [`Batch::record_fanout`]).
//! So the last player of 1000 gets the first frame of a batch within the budget, not a budget
//! plus the writes to the 999 before it.

use crate::hub::{FrameKind, MediaFrame};
use std::time::Duration;
use tokio::time::Instant;

/// Most payload bytes held in one batch (1 MiB: a second of 8 Mbps video).
pub(super) const MAX_BYTES: usize = 1 << 20;
/// Most frames held in one batch (a second of 60 fps video with its audio is ~110).
pub(super) const MAX_FRAMES: usize = 256;

/// One publisher's frames not yet handed to the hub.
pub(super) struct Batch {
    frames: Vec<MediaFrame>,
    bytes: usize,
    /// When the first frame of `frames` arrived.
    since: Instant,
    /// The hold of the current batch (zero: end at each video frame).
    hold: Duration,
    /// The stream's latency budget.
    budget: Duration,
    /// How long handing a batch to the hub (every player's write) took lately.
    fanout: Duration,
    /// Hand over once this many bytes or frames are held.
    max_bytes: usize,
    max_frames: usize,
}

impl Batch {
    /// An empty batch for a stream with this latency budget, whose players may each lag
    /// `queue_bytes` / `queue_frames` behind (the hub's bounds).
    pub(super) fn new(budget: Duration, queue_bytes: usize, queue_frames: usize) -> Batch {
        Batch {
            frames: Vec::with_capacity(64),
            bytes: 0,
            since: Instant::now(),
            hold: Duration::ZERO,
            budget,
            fanout: Duration::ZERO,
            max_bytes: (queue_bytes / 4).clamp(1, MAX_BYTES),
            max_frames: (queue_frames / 4).clamp(1, MAX_FRAMES),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Add a frame that arrived at `now`; `load_hold` is what the load rule asks for. True when
    /// the batch is complete and must be handed to the hub now.
    pub(super) fn push(&mut self, frame: MediaFrame, now: Instant, load_hold: Duration) -> bool {
        if self.frames.is_empty() {
            self.since = now;
            let hold = self.budget.max(load_hold);
            // A hold the writes alone use up is no hold: the batch ends at each picture.
            self.hold = hold.saturating_sub(self.fanout);
        }
        let picture = frame.kind == FrameKind::Video && !frame.sequence_header;
        self.bytes += frame.payload.len();
        self.frames.push(frame);
        if self.bytes >= self.max_bytes || self.frames.len() >= self.max_frames {
            return true;
        }
        if self.hold.is_zero() {
            picture
        } else {
            now >= self.since + self.hold
        }
    }

    /// When the batch must be handed over at the latest (None when empty); `audio_window` is
    /// `fanout_batch_ms`, the wait of audio for the next picture when nothing is held.
    pub(super) fn deadline(&self, audio_window: Duration) -> Option<Instant> {
        if self.frames.is_empty() {
            return None;
        }
        let wait = if self.hold.is_zero() {
            audio_window
        } else {
            self.hold
        };
        Some(self.since + wait)
    }

    /// How long handing the last batch to the hub took: the estimate decays by 1/8 a batch and
    /// jumps to any longer time at once.
    pub(super) fn record_fanout(&mut self, took: Duration) {
        self.fanout = took.max(self.fanout.mul_f64(0.875));
    }

    /// Everything batched, in arrival order; the batch is empty afterwards.
    pub(super) fn take(&mut self) -> std::vec::Drain<'_, MediaFrame> {
        self.bytes = 0;
        self.frames.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn video(ts: u32, key: bool) -> MediaFrame {
        MediaFrame {
            kind: FrameKind::Video,
            timestamp: ts,
            keyframe: key,
            sequence_header: false,
            payload: Bytes::from_static(&[0x27, 1, 0, 0, 0, 1, 2, 3]),
        }
    }

    fn audio(ts: u32) -> MediaFrame {
        MediaFrame {
            kind: FrameKind::Audio,
            timestamp: ts,
            keyframe: false,
            sequence_header: false,
            payload: Bytes::from_static(&[0xAF, 1, 9, 9]),
        }
    }

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn without_a_hold_each_picture_ends_a_batch() {
        let t = Instant::now();
        let mut b = Batch::new(Duration::ZERO, 4 << 20, 1024);
        assert!(!b.push(audio(0), t, Duration::ZERO));
        assert_eq!(b.deadline(MS(40)), Some(t + MS(40)));
        assert!(b.push(video(0, true), t, Duration::ZERO));
        let got: Vec<u32> = b.take().map(|f| f.timestamp).collect();
        assert_eq!(got, [0, 0]);
        assert!(b.is_empty());
        assert_eq!(b.deadline(MS(40)), None);
    }

    #[test]
    fn a_budget_merges_pictures_until_it_has_passed() {
        let t = Instant::now();
        let mut b = Batch::new(MS(100), 4 << 20, 1024);
        for i in 0..3u32 {
            let at = t + MS(u64::from(i) * 40);
            assert!(!b.push(audio(i * 40), at, Duration::ZERO));
            assert!(
                !b.push(video(i * 40, i == 0), at, Duration::ZERO),
                "frame {i}"
            );
        }
        assert_eq!(b.deadline(MS(40)), Some(t + MS(100)));
        // The first frame arrived 120 ms ago: this one completes the batch.
        assert!(b.push(video(120, false), t + MS(120), Duration::ZERO));
        let got: Vec<(FrameKind, u32)> = b.take().map(|f| (f.kind, f.timestamp)).collect();
        assert_eq!(got.len(), 7);
        assert!(
            got.windows(2).all(|w| w[0].1 <= w[1].1),
            "in order: {got:?}"
        );
    }

    #[test]
    fn the_load_rule_lengthens_the_hold_from_the_next_batch() {
        let t = Instant::now();
        let mut b = Batch::new(Duration::ZERO, 4 << 20, 1024);
        assert!(b.push(video(0, true), t, MS(0)));
        b.take().for_each(drop);
        assert!(!b.push(video(40, false), t + MS(40), MS(75)));
        assert_eq!(b.deadline(MS(40)), Some(t + MS(115)));
        // A larger budget wins over a smaller load hold.
        let mut b = Batch::new(MS(300), 4 << 20, 1024);
        assert!(!b.push(video(0, true), t, MS(75)));
        assert_eq!(b.deadline(MS(40)), Some(t + MS(300)));
    }

    #[test]
    fn the_fanout_time_comes_out_of_the_hold() {
        let t = Instant::now();
        let mut b = Batch::new(MS(100), 4 << 20, 1024);
        b.record_fanout(MS(20));
        assert!(!b.push(video(0, true), t, Duration::ZERO));
        assert_eq!(b.deadline(MS(40)), Some(t + MS(80)));
        assert!(b.push(video(80, false), t + MS(80), Duration::ZERO));
        b.take().for_each(drop);
        // A shorter fan-out lowers the estimate by an eighth a batch, not at once.
        b.record_fanout(MS(1));
        assert!(!b.push(video(120, false), t + MS(120), Duration::ZERO));
        assert_eq!(
            b.deadline(MS(40)),
            Some(t + MS(120) + MS(100) - MS(20).mul_f64(0.875))
        );
        b.take().for_each(drop);
        // Writes that take the whole budget leave no hold: each picture ends a batch.
        b.record_fanout(MS(150));
        assert!(b.push(video(200, false), t + MS(200), Duration::ZERO));
    }

    #[test]
    fn a_big_batch_goes_at_once() {
        let t = Instant::now();
        let mut b = Batch::new(MS(1000), 4 << 20, 1024);
        let big = MediaFrame {
            payload: Bytes::from(vec![0x17; MAX_BYTES / 2]),
            ..video(0, true)
        };
        assert!(!b.push(big.clone(), t, Duration::ZERO));
        assert!(b.push(big, t, Duration::ZERO));
        b.take().for_each(drop);
        for i in 0..MAX_FRAMES - 1 {
            assert!(!b.push(audio(i as u32), t, Duration::ZERO));
        }
        assert!(b.push(audio(9999), t, Duration::ZERO));
        // A small player queue bound makes small batches: 256 KiB -> 64 KiB.
        let mut b = Batch::new(MS(1000), 256 << 10, 1024);
        let frame = MediaFrame {
            payload: Bytes::from(vec![0x27; 16 << 10]),
            ..video(0, false)
        };
        for _ in 0..3 {
            assert!(!b.push(frame.clone(), t, Duration::ZERO));
        }
        assert!(b.push(frame, t, Duration::ZERO));
    }
}
