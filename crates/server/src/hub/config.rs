//! Hub limits: GOP cache bounds, the per-player backlog bound and the slow-player timeout.
//!
//! Every quantity here is under a peer's control (a publisher chooses frame sizes and GOP length, a
//! player chooses how fast it reads), so each has a bounded, documented default. See the module docs of
//! [`crate::hub`] for how the bounds are applied.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Default for [`HubConfig::gop_cache`]: the GOP cache is on.
pub const DEFAULT_GOP_CACHE: bool = true;
/// Default for [`HubConfig::gop_cache_unwatched`]: streams nobody watches keep their GOP too.
pub const DEFAULT_GOP_CACHE_UNWATCHED: bool = true;
/// Default for [`HubConfig::gop_cache_max_frames`]: 1024 frames (audio, video and data together), about
/// 10 s of 30 fps video with 48 kHz AAC.
pub const DEFAULT_GOP_CACHE_MAX_FRAMES: usize = 1024;
/// Default for [`HubConfig::gop_cache_max_bytes`]: 8 MiB of payload.
pub const DEFAULT_GOP_CACHE_MAX_BYTES: usize = 8 * 1024 * 1024;
/// Default for [`HubConfig::player_queue_max_bytes`]: 4 MiB of undelivered payload per player.
pub const DEFAULT_PLAYER_QUEUE_MAX_BYTES: usize = 4 * 1024 * 1024;
/// Default for [`HubConfig::player_queue_max_frames`]: 1024 undelivered messages per player.
pub const DEFAULT_PLAYER_QUEUE_MAX_FRAMES: usize = 1024;
/// Default for [`HubConfig::player_max_delay`]: 5 s.
pub const DEFAULT_PLAYER_MAX_DELAY: Duration = Duration::from_secs(5);
/// Default for [`HubConfig::slow_player_timeout`]: 10 s.
pub const DEFAULT_SLOW_PLAYER_TIMEOUT: Duration = Duration::from_secs(10);

/// Limits and switches of the [`Hub`](crate::hub::Hub).
///
/// Zero bounds are treated as 1 (a hub always keeps at least one message per stream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HubConfig {
    /// Keep the current group of pictures (from the latest video keyframe) so a new player starts at
    /// once on a keyframe. Default [`DEFAULT_GOP_CACHE`].
    pub gop_cache: bool,
    /// Keep the GOP cache of streams that have no player, so that their first player starts at
    /// once too. `false` caches a stream's GOP only while it has players (from the next keyframe
    /// on) and drops it when the last one leaves: an ingest server with many unwatched streams
    /// then holds no media for them, and the first player of a stream starts at its next
    /// keyframe (later ones at once). Default [`DEFAULT_GOP_CACHE_UNWATCHED`].
    pub gop_cache_unwatched: bool,
    /// Most messages (audio, video and data) held in one stream's GOP cache; a GOP longer than this
    /// is not cached (see [`crate::hub`]). Default [`DEFAULT_GOP_CACHE_MAX_FRAMES`].
    pub gop_cache_max_frames: usize,
    /// Most payload bytes held in one stream's GOP cache. Default [`DEFAULT_GOP_CACHE_MAX_BYTES`].
    pub gop_cache_max_bytes: usize,
    /// A player whose undelivered backlog exceeds this many payload bytes is "behind": it drops video
    /// until the next keyframe. Default [`DEFAULT_PLAYER_QUEUE_MAX_BYTES`].
    pub player_queue_max_bytes: usize,
    /// A player whose undelivered backlog exceeds this many messages is "behind".
    /// Default [`DEFAULT_PLAYER_QUEUE_MAX_FRAMES`].
    pub player_queue_max_frames: usize,
    /// How far behind the live edge a player may fall: the stream's shared window keeps messages
    /// for this long (besides the byte and frame bounds, twice the per-player ones), and a player
    /// whose unread messages are older than that leaves the window, is counted as dropping them
    /// and restarts at the live edge (video from the next keyframe). It also bounds the memory a
    /// watched stream keeps: about this long of its bitrate. Default [`DEFAULT_PLAYER_MAX_DELAY`].
    pub player_max_delay: Duration,
    /// A player that stays behind for longer than this is closed
    /// ([`SubscriberClosed::TooSlow`](crate::hub::SubscriberClosed::TooSlow)).
    /// Default [`DEFAULT_SLOW_PLAYER_TIMEOUT`].
    pub slow_player_timeout: Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            gop_cache: DEFAULT_GOP_CACHE,
            gop_cache_unwatched: DEFAULT_GOP_CACHE_UNWATCHED,
            gop_cache_max_frames: DEFAULT_GOP_CACHE_MAX_FRAMES,
            gop_cache_max_bytes: DEFAULT_GOP_CACHE_MAX_BYTES,
            player_queue_max_bytes: DEFAULT_PLAYER_QUEUE_MAX_BYTES,
            player_queue_max_frames: DEFAULT_PLAYER_QUEUE_MAX_FRAMES,
            player_max_delay: DEFAULT_PLAYER_MAX_DELAY,
            slow_player_timeout: DEFAULT_SLOW_PLAYER_TIMEOUT,
        }
    }
}

impl HubConfig {
    /// The configuration with every zero bound raised to 1, as the hub applies it.
    pub fn normalized(mut self) -> Self {
        self.gop_cache_max_frames = self.gop_cache_max_frames.max(1);
        self.gop_cache_max_bytes = self.gop_cache_max_bytes.max(1);
        self.player_queue_max_bytes = self.player_queue_max_bytes.max(1);
        self.player_queue_max_frames = self.player_queue_max_frames.max(1);
        self.player_max_delay = self.player_max_delay.max(Duration::from_millis(1));
        self
    }

    /// Messages the shared per-stream window keeps: twice the per-player bound, so a player that
    /// is behind still finds its audio in the window while it skips video.
    pub(crate) fn window_frames(&self) -> u64 {
        (self.player_queue_max_frames as u64).saturating_mul(2)
    }

    /// Payload bytes the shared per-stream window keeps: twice the per-player bound.
    pub(crate) fn window_bytes(&self) -> u64 {
        (self.player_queue_max_bytes as u64).saturating_mul(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_documented_values() {
        let c = HubConfig::default();
        assert!(c.gop_cache);
        assert!(c.gop_cache_unwatched);
        assert_eq!(c.gop_cache_max_frames, 1024);
        assert_eq!(c.gop_cache_max_bytes, 8 << 20);
        assert_eq!(c.player_queue_max_bytes, 4 << 20);
        assert_eq!(c.player_queue_max_frames, 1024);
        assert_eq!(c.slow_player_timeout, Duration::from_secs(10));
        assert_eq!(c.player_max_delay, Duration::from_secs(5));
        assert_eq!(c.window_frames(), 2048);
        assert_eq!(c.window_bytes(), 8 << 20);
    }

    #[test]
    fn zero_bounds_are_raised_to_one() {
        let c = HubConfig {
            gop_cache_max_frames: 0,
            gop_cache_max_bytes: 0,
            player_queue_max_bytes: 0,
            player_queue_max_frames: 0,
            ..HubConfig::default()
        }
        .normalized();
        assert_eq!(c.gop_cache_max_frames, 1);
        assert_eq!(c.gop_cache_max_bytes, 1);
        assert_eq!(c.player_queue_max_bytes, 1);
        assert_eq!(c.player_queue_max_frames, 1);
    }
}
