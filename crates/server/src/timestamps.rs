//! Per-player timestamp mapping: every player sees its stream start near zero and each track's
//! timestamps never go backwards, whatever point of the publisher's timeline it joined at and
//! however often the publisher stops and comes back (RTMP 1.0 §5.3.1 timestamps are per message
//! stream and must not decrease on a track).

/// Maps publisher timestamps to one player's timeline.
#[derive(Debug, Default, Clone)]
pub struct TimestampMapper {
    /// Publisher timestamp that maps to `offset`.
    base: Option<u32>,
    /// Player timestamp where the current publisher session starts.
    offset: u32,
    last_audio: u32,
    last_video: u32,
    last_data: u32,
}

/// Which track a timestamp belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    /// Audio messages.
    Audio,
    /// Video messages.
    Video,
    /// Data messages.
    Data,
}

impl TimestampMapper {
    /// A mapper for a player that has not received anything yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The publisher changed (unpublish then publish): continue after the last timestamp sent.
    pub fn restart(&mut self) {
        self.base = None;
        self.offset = self.last_audio.max(self.last_video).max(self.last_data);
    }

    /// The latest timestamp sent on any track.
    pub fn last(&self) -> u32 {
        self.last_audio.max(self.last_video).max(self.last_data)
    }

    /// Map a timestamp. Sequence headers and metadata (`anchor == false`) do not fix the base, so
    /// a cached header with an old timestamp does not pull the timeline back.
    pub fn map(&mut self, track: Track, ts: u32, anchor: bool) -> u32 {
        let rel = match self.base {
            Some(base) => (ts.wrapping_sub(base) as i32).max(0) as u32,
            None if anchor => {
                self.base = Some(ts);
                0
            }
            None => 0,
        };
        let mapped = self.offset.wrapping_add(rel);
        let last = match track {
            Track::Audio => &mut self.last_audio,
            Track::Video => &mut self.last_video,
            Track::Data => &mut self.last_data,
        };
        let out = mapped.max(*last);
        *last = out;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_mid_stream_starts_at_zero_and_stays_monotonic() {
        let mut m = TimestampMapper::new();
        // Cached sequence header with an old timestamp, then the GOP from 50 000 ms.
        assert_eq!(m.map(Track::Video, 0, false), 0);
        assert_eq!(m.map(Track::Video, 50_000, true), 0);
        // Audio slightly before the keyframe clamps to 0, never negative.
        assert_eq!(m.map(Track::Audio, 49_990, true), 0);
        assert_eq!(m.map(Track::Audio, 50_023, true), 23);
        assert_eq!(m.map(Track::Video, 50_040, true), 40);
        // A republish restarting at 0 continues after the last timestamp.
        m.restart();
        assert_eq!(m.map(Track::Video, 0, true), 40);
        assert_eq!(m.map(Track::Video, 40, true), 80);
        assert_eq!(m.map(Track::Audio, 20, true), 60);
    }

    #[test]
    fn wraps_with_the_publisher() {
        let mut m = TimestampMapper::new();
        assert_eq!(m.map(Track::Video, u32::MAX - 10, true), 0);
        assert_eq!(m.map(Track::Video, 29, true), 40);
    }
}
