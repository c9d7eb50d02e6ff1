//! Cutting a live stream into HLS segments and parts: [`FlvItem`]s in, an [`HlsPlaylist`]
//! out, through one [`Fmp4Muxer`] with [`FragmentPolicy::Manual`] (one fragment per part).
//!
//! Before each sample of the *boundary track* (video when there is video, else audio) the
//! segmenter decides, on the RTMP millisecond clock, whether the sample starts
//! - a **segment**: a video key frame (any audio frame without video) at least
//!   `segment_target_ms` after the segment's start; or else
//! - a **part**: when the part would otherwise grow past `part_target_ms`, judged with the
//!   last frame interval (so parts stay within PART-TARGET for a regular frame rate).
//!
//! and asks the muxer for a cut ([`Fmp4Muxer::request_cut`]); the fragment that comes out is
//! the part that just ended. Samples before the first video key frame (at the start, after a
//! restart, after a new video configuration) are dropped, so every segment starts with one.
//!
//! A publisher restart ([`HlsSegmenter::handle_restart`]) flushes the muxer into the last part,
//! starts a fresh muxer (timestamps from 0 again) and marks the next segment with
//! `EXT-X-DISCONTINUITY`; media sequence numbers go on.

use super::playlist::{HlsConfig, HlsPlaylist, Part};
use crate::{
    FlvItem, Fmp4Muxer, FragmentPolicy, MuxEvent, MuxerOptions, Sample, TrackConfig, TrackKind,
};

/// Where the next part begins, and what it begins.
#[derive(Debug, Clone, Copy)]
struct Open {
    /// Starts a new segment.
    new_segment: bool,
    /// Wall clock of its first sample, Unix ms.
    wall_ms: u64,
}

/// The segmenter of one stream; see the module docs.
#[derive(Debug)]
pub struct HlsSegmenter {
    cfg: HlsConfig,
    mux: Fmp4Muxer,
    playlist: HlsPlaylist,
    /// RTMP time of the open segment's and part's first boundary-track sample.
    segment_start: Option<u32>,
    part_start: u32,
    last_ts: Option<u32>,
    last_interval: u32,
    need_key: bool,
    open: Open,
}

fn muxer() -> Fmp4Muxer {
    Fmp4Muxer::new(MuxerOptions {
        policy: FragmentPolicy::Manual,
        producer_reference_time: false,
        ..MuxerOptions::default()
    })
}

impl HlsSegmenter {
    /// A segmenter with an empty playlist.
    pub fn new(cfg: HlsConfig) -> Self {
        HlsSegmenter {
            cfg,
            mux: muxer(),
            playlist: HlsPlaylist::new(cfg),
            segment_start: None,
            part_start: 0,
            last_ts: None,
            last_interval: 0,
            need_key: true,
            open: Open {
                new_segment: true,
                wall_ms: 0,
            },
        }
    }

    /// The playlist.
    pub fn playlist(&self) -> &HlsPlaylist {
        &self.playlist
    }

    /// The current configuration of a track.
    pub fn track_config(&self, kind: TrackKind) -> Option<&TrackConfig> {
        self.mux.track_config(kind)
    }

    fn has_video(&self) -> bool {
        self.mux.track_config(TrackKind::Video).is_some()
    }

    /// Hands in one item from [`crate::FlvToSamples`]; `wall_ms` is the wall clock (Unix ms) at
    /// which its frame was received.
    pub fn handle_item(&mut self, item: FlvItem, wall_ms: u64) -> Result<(), crate::MuxError> {
        match item {
            FlvItem::Config(c) => {
                if self.mux.track_config(c.kind()) != Some(&c) {
                    if c.kind() == TrackKind::Video {
                        self.need_key = true;
                    }
                    self.segment_start = None;
                }
                self.mux.handle_config(c);
                self.drain();
            }
            FlvItem::Sample(s) => self.handle_sample(s, wall_ms)?,
            FlvItem::EndOfSequence(_) => self.end(),
        }
        Ok(())
    }

    /// Hands in one sample (its track configured before).
    pub fn handle_sample(&mut self, s: Sample, wall_ms: u64) -> Result<(), crate::MuxError> {
        let has_video = self.has_video();
        if self.need_key {
            if has_video && !(s.track == TrackKind::Video && s.keyframe) {
                return Ok(());
            }
            self.need_key = false;
        }
        let boundary = if has_video {
            TrackKind::Video
        } else {
            TrackKind::Audio
        };
        let mut next = None;
        if s.track == boundary {
            let ts = s.timestamp;
            if let Some(prev) = self.last_ts {
                let d = ts.wrapping_sub(prev) as i32;
                if d > 0 {
                    self.last_interval = d as u32;
                }
            }
            self.last_ts = Some(ts);
            let elapsed = |from: u32| (ts.wrapping_sub(from) as i32).max(0) as u32;
            match self.segment_start {
                None => {
                    next = Some(true);
                }
                Some(start) => {
                    let key = s.keyframe || !has_video;
                    if key && elapsed(start) >= self.cfg.segment_target_ms {
                        next = Some(true);
                    } else if self.cfg.part_target_ms > 0
                        && elapsed(self.part_start) + self.last_interval > self.cfg.part_target_ms
                    {
                        next = Some(false);
                    }
                }
            }
            if let Some(new_segment) = next {
                if new_segment {
                    self.segment_start = Some(ts);
                }
                self.part_start = ts;
                self.mux.request_cut();
            }
        }
        self.mux.handle_sample(s)?;
        self.drain();
        if let Some(new_segment) = next {
            self.open = Open {
                new_segment,
                wall_ms,
            };
        }
        Ok(())
    }

    /// The stream ended (end of sequence, or the publisher left): the held samples become the
    /// last part and the segment is complete.
    pub fn end(&mut self) {
        self.mux.flush();
        self.drain();
        self.playlist.end_segment();
        self.segment_start = None;
    }

    /// A new publisher: see the module docs.
    pub fn handle_restart(&mut self) {
        self.end();
        self.mux = muxer();
        self.playlist.handle_discontinuity();
        self.last_ts = None;
        self.need_key = true;
        self.open.new_segment = true;
    }

    /// Moves the muxer's output into the playlist.
    fn drain(&mut self) {
        while let Some(ev) = self.mux.poll_event() {
            match ev {
                MuxEvent::Init(init) => {
                    self.playlist.handle_init(init.data);
                }
                MuxEvent::Fragment(f) => {
                    let track = if self.has_video() {
                        TrackKind::Video
                    } else {
                        TrackKind::Audio
                    };
                    let duration = f.track(track).map_or_else(
                        || f.duration_secs(),
                        |t| t.duration as f64 / f64::from(t.timescale.max(1)),
                    );
                    let independent = if self.has_video() {
                        f.starts_with_keyframe()
                    } else {
                        f.is_independent()
                    };
                    let part = Part {
                        duration,
                        independent,
                        data: f.to_bytes(),
                    };
                    let Open {
                        new_segment,
                        wall_ms,
                    } = self.open;
                    self.playlist.push_part(part, new_segment, wall_ms);
                    self.open.new_segment = false;
                }
            }
        }
    }
}
