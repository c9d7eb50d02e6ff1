//! The live fragmenter: track configurations and timed samples in, init segments and movie
//! fragments out (sans-IO: `handle_*` inputs, [`Fmp4Muxer::poll_event`] outputs).
//!
//! **Durations.** A trun needs each sample's duration, which FLV does not carry: it is the
//! next sample's decode time minus this one's. So the muxer holds back the newest sample of
//! each track until the next sample of that track arrives (one frame of latency), or until
//! [`Fmp4Muxer::flush`], which estimates the last durations (the track's previous duration,
//! or one access unit for audio).
//!
//! **Cutting.** When a sample arrives that starts a fragment (per [`FragmentPolicy`], or after
//! [`Fmp4Muxer::request_cut`]), every sample whose duration is known is written as one
//! fragment. A held-back sample of the other track joins the next fragment, so an audio frame
//! that began up to one frame before a video key frame sits in the fragment of that key frame;
//! players and HLS do not mind.
//!
//! **Time.** RTMP timestamps are 32-bit milliseconds that wrap after 49.7 days; they are
//! unwrapped with serial-number arithmetic (RFC 1982) into one 64-bit timeline shared by both
//! tracks, then converted to each track's timescale (video 90 kHz, audio its sample rate).
//! Audio decode times follow the sample count (1024 per AAC frame, the TOC for Opus) while
//! they stay within half a frame of the RTMP clock, so millisecond rounding does not make
//! durations jitter. Decode times are strictly increasing per track, so `tfdt` is monotonic:
//! a jump back by more than [`MuxerOptions::max_backward_jump_ms`] (a publisher restart with
//! the same codec configuration) shifts the timeline so it goes on from where it was; smaller
//! steps back are clamped. Forward gaps are kept (they are real pauses in the source).
//!
//! **Codec changes.** A configuration that differs from the track's current one (a new
//! sequence header; an identical repeat is ignored) flushes the held samples into a last
//! fragment and makes the muxer emit a new [`MuxEvent::Init`] before the next fragment. The
//! caller compares [`InitSegment::tracks`] and the codecs with the previous init: same track
//! set and codecs, append it to the same MSE SourceBuffer; otherwise `changeType()` or a new
//! SourceBuffer. A publisher that restarts with the same configuration makes no new init:
//! its media goes on in the same timeline. A caller that wants a fresh start for a new
//! publisher (sequence numbers and `tfdt` from the beginning) makes a new muxer.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::fragment::{write_fragment, Fragment, FragmentSample, NtpTime, ProducerTime, TrackRun};
use crate::init::write_init_segment;
use crate::track::{vp9_frame_size, TrackConfig, VideoFormat};
use crate::{codec_string, MuxError, TrackKind};

/// Where fragments are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragmentPolicy {
    /// Low latency: one fragment per sample, written as soon as its duration is known (when
    /// the next sample of its track arrives).
    EverySample,
    /// Low latency for live players: a fragment starts at every video sample and holds that
    /// frame with the audio that arrived since the previous one (video `traf` first, so a
    /// fragment that starts at a key frame [`Fragment::starts_with_keyframe`]). Without a
    /// video track, every audio sample starts one (as [`FragmentPolicy::EverySample`]).
    VideoFrames,
    /// A fragment starts at every video key frame, and when the open fragment reaches
    /// `max_duration_ms` (0: no limit; needed for audio-only streams).
    Keyframes {
        /// Longest fragment in milliseconds, 0 for no limit.
        max_duration_ms: u32,
    },
    /// Only where the caller asks ([`Fmp4Muxer::request_cut`]) and at [`Fmp4Muxer::flush`]:
    /// for HLS parts and segments cut on the caller's schedule.
    Manual,
}

/// Options of an [`Fmp4Muxer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MuxerOptions {
    /// Where fragments are cut. Default: at key frames, at most 2 s.
    pub policy: FragmentPolicy,
    /// Start the timeline at 0 with the first sample (default true), instead of the RTMP
    /// timestamp. MSE players start at 0 without seeking.
    pub rebase_to_zero: bool,
    /// Write a `prft` before a fragment whose reference sample carries
    /// [`Sample::wall_clock`] (default true).
    pub producer_reference_time: bool,
    /// A decode time more than this far behind the previous one of its track is a
    /// discontinuity (default 1000 ms); see the module docs.
    pub max_backward_jump_ms: u32,
}

impl Default for MuxerOptions {
    fn default() -> Self {
        MuxerOptions {
            policy: FragmentPolicy::Keyframes {
                max_duration_ms: 2000,
            },
            rebase_to_zero: true,
            producer_reference_time: true,
            max_backward_jump_ms: 1000,
        }
    }
}

/// One coded frame of a track, as RTMP times it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The track.
    pub track: TrackKind,
    /// Decode timestamp: the RTMP timestamp in milliseconds (wrapping 32-bit).
    pub timestamp: u32,
    /// Presentation minus decode time in milliseconds (FLV CompositionTime).
    pub composition_offset: i32,
    /// Video key frame (a sync sample). Audio samples are always sync samples.
    pub keyframe: bool,
    /// The coded frame, without FLV headers (a slice of the RTMP message, not a copy).
    pub data: Bytes,
    /// Wall clock at which the caller received the frame, for `prft`.
    pub wall_clock: Option<NtpTime>,
}

/// An initialization segment (`ftyp` + `moov`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitSegment {
    /// The bytes.
    pub data: Bytes,
    /// The tracks it declares, video first.
    pub tracks: Vec<TrackKind>,
    /// MIME type with codecs, e.g. `video/mp4; codecs="avc1.64001f,mp4a.40.2"`.
    pub mime: String,
    /// Counts the init segments this muxer has emitted, from 1.
    pub generation: u32,
}

/// Output of the muxer, in the order to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MuxEvent {
    /// A new initialization segment; every later fragment depends on it.
    Init(InitSegment),
    /// A movie fragment.
    Fragment(Fragment),
}

#[derive(Debug)]
struct Held {
    dts: u64,
    cts: i32,
    sync: bool,
    data: Bytes,
    wall: Option<NtpTime>,
    /// Audio: the access unit's length in samples (= ticks).
    samples: u32,
}

#[derive(Debug)]
struct TrackState {
    config: TrackConfig,
    timescale: u32,
    held: Option<Held>,
    ready: Vec<FragmentSample>,
    ready_base: u64,
    ready_wall: Option<(NtpTime, u64)>,
    last_duration: Option<u32>,
    last_ms: Option<i64>,
    /// End of the last written sample: the next decode time may not be earlier.
    next_min_dts: u64,
}

impl TrackState {
    fn new(config: TrackConfig) -> Self {
        TrackState {
            timescale: config.timescale(),
            config,
            held: None,
            ready: Vec::new(),
            ready_base: 0,
            ready_wall: None,
            last_duration: None,
            last_ms: None,
            next_min_dts: 0,
        }
    }

    fn is_video(&self) -> bool {
        matches!(self.config, TrackConfig::Video(_))
    }

    /// Moves the held sample to the ready list with the given duration.
    fn release(&mut self, duration: u32) {
        let Some(h) = self.held.take() else { return };
        if self.ready.is_empty() {
            self.ready_base = h.dts;
            self.ready_wall = h
                .wall
                .map(|w| (w, h.dts.saturating_add_signed(i64::from(h.cts))));
        }
        self.last_duration = Some(duration);
        self.ready.push(FragmentSample {
            duration,
            composition_offset: h.cts,
            sync: h.sync,
            data: h.data,
        });
    }

    /// A duration for the held sample when no next sample will tell it.
    fn estimated_duration(&self) -> u32 {
        match (&self.held, self.last_duration) {
            (Some(h), _) if !self.is_video() => h.samples,
            (_, Some(d)) => d,
            _ => self.timescale / 25,
        }
    }

    fn ready_ms(&self) -> u64 {
        let d: u64 = self.ready.iter().map(|s| u64::from(s.duration)).sum();
        d * 1000 / u64::from(self.timescale.max(1))
    }
}

/// The fragmented-MP4 muxer; see the crate docs for the call order.
#[derive(Debug)]
pub struct Fmp4Muxer {
    opts: MuxerOptions,
    video: Option<TrackState>,
    audio: Option<TrackState>,
    init: Option<InitSegment>,
    init_stale: bool,
    events: VecDeque<MuxEvent>,
    sequence_number: u32,
    /// (last raw RTMP timestamp, its unwrapped value)
    clock: Option<(u32, i64)>,
    origin: i64,
    shift: i64,
    cut_requested: bool,
}

impl Fmp4Muxer {
    /// A muxer with no tracks yet.
    pub fn new(opts: MuxerOptions) -> Self {
        Fmp4Muxer {
            opts,
            video: None,
            audio: None,
            init: None,
            init_stale: false,
            events: VecDeque::new(),
            sequence_number: 0,
            clock: None,
            origin: 0,
            shift: 0,
            cut_requested: false,
        }
    }

    /// The options.
    pub fn options(&self) -> &MuxerOptions {
        &self.opts
    }

    fn track_mut(&mut self, kind: TrackKind) -> &mut Option<TrackState> {
        match kind {
            TrackKind::Video => &mut self.video,
            TrackKind::Audio => &mut self.audio,
        }
    }

    fn tracks(&self) -> impl Iterator<Item = &TrackState> {
        self.video.iter().chain(self.audio.iter())
    }

    /// The current configuration of a track.
    pub fn track_config(&self, kind: TrackKind) -> Option<&TrackConfig> {
        match kind {
            TrackKind::Video => self.video.as_ref().map(|t| &t.config),
            TrackKind::Audio => self.audio.as_ref().map(|t| &t.config),
        }
    }

    /// Sets a track's configuration (from a sequence header). A repeat of the current one is
    /// ignored; a change flushes the held samples and schedules a new init segment.
    pub fn handle_config(&mut self, config: TrackConfig) {
        let kind = config.kind();
        if self.track_config(kind) == Some(&config) {
            return;
        }
        if self
            .tracks()
            .any(|t| t.held.is_some() || !t.ready.is_empty())
        {
            self.flush();
        }
        let slot = self.track_mut(kind);
        match slot {
            Some(t) => {
                let ts = config.timescale();
                if ts != t.timescale {
                    t.next_min_dts = t.next_min_dts * u64::from(ts) / u64::from(t.timescale.max(1));
                    t.last_duration = None;
                    t.timescale = ts;
                }
                t.config = config;
            }
            None => *slot = Some(TrackState::new(config)),
        }
        self.init_stale = true;
    }

    /// Asks for the next sample handed in to start a new fragment (any policy).
    pub fn request_cut(&mut self) {
        self.cut_requested = true;
    }

    /// Hands in one coded frame.
    pub fn handle_sample(&mut self, s: Sample) -> Result<(), MuxError> {
        if self.track_config(s.track).is_none() {
            return Err(MuxError::SampleBeforeConfig(s.track));
        }
        if s.data.is_empty() {
            return Err(MuxError::EmptySample(s.track));
        }
        if self.init_stale {
            self.fill_vp9_size(&s);
            self.emit_init();
        }
        let ms = self.timeline_ms(&s);
        let opts = self.opts;
        let Some(t) = self.track_mut(s.track).as_mut() else {
            return Err(MuxError::SampleBeforeConfig(s.track));
        };
        let ts = i64::from(t.timescale);
        let mut dts = u64::try_from(ms.max(0) * ts / 1000).unwrap_or(0);
        let samples = match &t.config {
            TrackConfig::Audio(a) => a.samples_in(&s.data),
            TrackConfig::Video(_) => 0,
        };
        if let Some(h) = &t.held {
            if samples > 0 {
                let predicted = h.dts + u64::from(h.samples);
                if dts.abs_diff(predicted) <= u64::from(h.samples / 2) {
                    dts = predicted;
                }
            }
            dts = dts.max(h.dts + 1);
            let duration = u32::try_from(dts - h.dts).unwrap_or(u32::MAX);
            t.release(duration);
        }
        dts = dts.max(t.next_min_dts);
        t.last_ms = Some(ms);
        let cts = i32::try_from(i64::from(s.composition_offset) * ts / 1000).unwrap_or(0);
        let sync = s.keyframe || samples > 0;
        let ready_ms = t.ready_ms();
        let has_video = self.video.is_some();
        let cut = self.cut_requested
            || match opts.policy {
                FragmentPolicy::EverySample => true,
                FragmentPolicy::VideoFrames => s.track == TrackKind::Video || !has_video,
                FragmentPolicy::Keyframes { max_duration_ms } => {
                    (s.track == TrackKind::Video && s.keyframe)
                        || (max_duration_ms > 0 && ready_ms >= u64::from(max_duration_ms))
                }
                FragmentPolicy::Manual => false,
            };
        if cut {
            self.cut_requested = false;
            self.emit_fragment()?;
        }
        if let Some(t) = self.track_mut(s.track).as_mut() {
            t.held = Some(Held {
                dts,
                cts,
                sync,
                data: s.data,
                wall: s.wall_clock,
                samples,
            });
        }
        Ok(())
    }

    /// Writes every held sample (estimating the last durations) as a fragment. Call it at the
    /// end of the stream; the next sample starts a new fragment.
    pub fn flush(&mut self) {
        for t in self.video.iter_mut().chain(self.audio.iter_mut()) {
            if t.held.is_some() {
                let d = t.estimated_duration();
                t.release(d);
            }
        }
        // Held samples were checked when handed in; a fragment over 4 GiB is the only failure.
        if let Err(e) = self.emit_fragment() {
            debug_assert!(false, "flush: {e}");
        }
    }

    /// The next output, if any.
    pub fn poll_event(&mut self) -> Option<MuxEvent> {
        self.events.pop_front()
    }

    /// The latest init segment (for a player joining mid-stream: send it, then fragments
    /// from one that [`Fragment::starts_with_keyframe`]).
    pub fn init_segment(&self) -> Option<&InitSegment> {
        self.init.as_ref()
    }

    /// The MIME type with codecs of the configured tracks, e.g.
    /// `video/mp4; codecs="avc1.64001f,mp4a.40.2"`; `None` with no tracks.
    pub fn codecs_mime(&self) -> Option<String> {
        if self.video.is_none() && self.audio.is_none() {
            return None;
        }
        Some(codec_string::mime_type(self.tracks().map(|t| &t.config)))
    }

    /// Unwraps the RTMP timestamp and applies the discontinuity shift (module docs).
    fn timeline_ms(&mut self, s: &Sample) -> i64 {
        let ext = match self.clock {
            None => {
                self.origin = if self.opts.rebase_to_zero {
                    i64::from(s.timestamp)
                } else {
                    0
                };
                i64::from(s.timestamp)
            }
            Some((raw, ext)) => ext + i64::from(s.timestamp.wrapping_sub(raw) as i32),
        };
        self.clock = Some((s.timestamp, ext));
        let mut ms = ext - self.origin + self.shift;
        let track = match s.track {
            TrackKind::Video => &self.video,
            TrackKind::Audio => &self.audio,
        };
        if let Some(t) = track {
            if let Some(last) = t.last_ms {
                if ms < last - i64::from(self.opts.max_backward_jump_ms) {
                    let step = t
                        .last_duration
                        .map_or(0, |d| i64::from(d) * 1000 / i64::from(t.timescale.max(1)));
                    let target = last + step;
                    self.shift += target - ms;
                    ms = target;
                }
            }
        }
        ms
    }

    fn fill_vp9_size(&mut self, s: &Sample) {
        let Some(t) = self.video.as_mut() else { return };
        if let TrackConfig::Video(v) = &t.config {
            if v.format() == VideoFormat::Vp9 && v.width() == 0 && s.track == TrackKind::Video {
                if let Some((w, h)) = vp9_frame_size(&s.data) {
                    t.config = TrackConfig::Video(v.clone().with_size(w, h));
                }
            }
        }
    }

    fn emit_init(&mut self) {
        let configs: Vec<TrackConfig> = self.tracks().map(|t| t.config.clone()).collect();
        let generation = self.init.as_ref().map_or(1, |i| i.generation + 1);
        let init = InitSegment {
            data: write_init_segment(&configs),
            tracks: configs.iter().map(TrackConfig::kind).collect(),
            mime: codec_string::mime_type(&configs),
            generation,
        };
        self.init = Some(init.clone());
        self.init_stale = false;
        self.events.push_back(MuxEvent::Init(init));
    }

    fn emit_fragment(&mut self) -> Result<(), MuxError> {
        let mut runs = Vec::with_capacity(2);
        let mut prft = None;
        for t in self.video.iter().chain(self.audio.iter()) {
            if t.ready.is_empty() {
                continue;
            }
            if prft.is_none() && self.opts.producer_reference_time {
                prft = t.ready_wall.map(|(ntp, media_time)| ProducerTime {
                    track: t.config.kind(),
                    ntp,
                    media_time,
                });
            }
            runs.push(TrackRun {
                track: t.config.kind(),
                timescale: t.timescale,
                base_decode_time: t.ready_base,
                samples: t.ready.clone(),
            });
        }
        if runs.is_empty() {
            return Ok(());
        }
        let seq = self.sequence_number.wrapping_add(1);
        let fragment = write_fragment(seq, &runs, prft.as_ref())?;
        self.sequence_number = seq;
        for t in self.video.iter_mut().chain(self.audio.iter_mut()) {
            if !t.ready.is_empty() {
                let d: u64 = t.ready.iter().map(|s| u64::from(s.duration)).sum();
                t.next_min_dts = t.ready_base + d;
                t.ready.clear();
                t.ready_wall = None;
            }
        }
        self.events.push_back(MuxEvent::Fragment(fragment));
        Ok(())
    }
}
