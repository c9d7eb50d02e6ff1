//! The GOP cache: the frames since the latest video keyframe, so a new player starts on a keyframe.
//!
//! Rules (see also [`crate::hub`]):
//! - A video keyframe (not a sequence header) clears the cache and starts a new GOP with it.
//! - Every later non-sequence-header frame (video inter frames, audio, data) is appended, so audio
//!   stays interleaved with video in publish order.
//! - Bounds: `gop_cache_max_frames` messages and `gop_cache_max_bytes` payload bytes. A GOP that would
//!   exceed either is dropped whole and caching stops until the next keyframe (a partial GOP is
//!   useless to a new player and would hold memory); players joining meanwhile wait for that keyframe.
//! - Before the first keyframe nothing is cached: an audio-only stream has no GOP cache, and a
//!   player joining it starts at the live edge after the cached audio sequence header (AAC and the
//!   Enhanced RTMP audio codecs decode from any frame).
//! - Sequence headers are never stored here; the stream keeps the latest one per kind.

use super::frame::MediaFrame;

/// Whether the cache currently holds a usable GOP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GopState {
    /// No keyframe seen since the cache was (re)set.
    WaitingForKeyframe,
    /// Holding the GOP that started at the cached keyframe.
    Caching,
}

/// The bounded GOP cache of one stream.
#[derive(Debug)]
pub(crate) struct GopCache {
    enabled: bool,
    max_frames: usize,
    max_bytes: usize,
    frames: Vec<MediaFrame>,
    bytes: usize,
    state: GopState,
}

impl GopCache {
    /// An empty cache with the given bounds; `enabled == false` caches nothing.
    pub(crate) fn new(enabled: bool, max_frames: usize, max_bytes: usize) -> Self {
        Self {
            enabled,
            max_frames,
            max_bytes,
            frames: Vec::new(),
            bytes: 0,
            state: GopState::WaitingForKeyframe,
        }
    }

    /// Forget the cached GOP and wait for the next keyframe (codec change, unpublish, overflow).
    pub(crate) fn reset(&mut self) {
        self.frames.clear();
        self.bytes = 0;
        self.state = GopState::WaitingForKeyframe;
    }

    /// Account one published frame (sequence headers must not be passed here).
    pub(crate) fn on_frame(&mut self, frame: &MediaFrame) {
        if !self.enabled {
            return;
        }
        if frame.is_video_keyframe() {
            self.reset();
            self.state = GopState::Caching;
        } else if self.state == GopState::WaitingForKeyframe {
            return;
        }
        let bytes = self.bytes.saturating_add(frame.len());
        if self.frames.len() >= self.max_frames || bytes > self.max_bytes {
            self.reset();
            return;
        }
        self.frames.push(frame.clone());
        self.bytes = bytes;
    }

    /// The cached GOP (starting with its keyframe), or an empty slice.
    pub(crate) fn frames(&self) -> &[MediaFrame] {
        &self.frames
    }

    /// Current state.
    pub(crate) fn state(&self) -> GopState {
        self.state
    }

    /// Payload bytes held.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn key(n: usize) -> MediaFrame {
        MediaFrame::video(0, Bytes::from(vec![0x17; n]), true)
    }
    fn inter(n: usize) -> MediaFrame {
        MediaFrame::video(0, Bytes::from(vec![0x27; n]), false)
    }
    fn audio(n: usize) -> MediaFrame {
        MediaFrame::audio(0, Bytes::from(vec![0xAF; n]))
    }

    #[test]
    fn nothing_before_first_keyframe() {
        let mut g = GopCache::new(true, 10, 100);
        g.on_frame(&audio(2));
        g.on_frame(&inter(2));
        assert!(g.frames().is_empty());
        assert_eq!(g.state(), GopState::WaitingForKeyframe);
    }

    #[test]
    fn keyframe_resets_and_audio_is_interleaved() {
        let mut g = GopCache::new(true, 10, 100);
        g.on_frame(&key(3));
        g.on_frame(&audio(1));
        g.on_frame(&inter(2));
        assert_eq!(g.frames().len(), 3);
        assert_eq!(g.bytes(), 6);
        g.on_frame(&key(4));
        assert_eq!(g.frames(), &[key(4)]);
        assert_eq!(g.bytes(), 4);
    }

    #[test]
    fn frame_bound_drops_gop_until_next_keyframe() {
        let mut g = GopCache::new(true, 3, 1000);
        g.on_frame(&key(1));
        g.on_frame(&inter(1));
        g.on_frame(&inter(1));
        assert_eq!(g.frames().len(), 3);
        g.on_frame(&inter(1));
        assert!(g.frames().is_empty());
        assert_eq!(g.state(), GopState::WaitingForKeyframe);
        g.on_frame(&audio(1));
        assert!(g.frames().is_empty());
        g.on_frame(&key(1));
        assert_eq!(g.frames().len(), 1);
    }

    #[test]
    fn byte_bound_drops_gop() {
        let mut g = GopCache::new(true, 100, 10);
        g.on_frame(&key(6));
        g.on_frame(&inter(4));
        assert_eq!(g.bytes(), 10);
        g.on_frame(&audio(1));
        assert_eq!(g.bytes(), 0);
        assert_eq!(g.state(), GopState::WaitingForKeyframe);
        // A keyframe larger than the bound is not cached at all.
        g.on_frame(&key(11));
        assert!(g.frames().is_empty());
        assert_eq!(g.state(), GopState::WaitingForKeyframe);
    }

    #[test]
    fn disabled_caches_nothing() {
        let mut g = GopCache::new(false, 100, 100);
        g.on_frame(&key(1));
        assert!(g.frames().is_empty());
    }
}
