//! Live fragmented MP4 over HTTP and WebSocket: `GET /{app}/{stream}.mp4` streams a live stream
//! of the hub as an init segment (`ftyp`+`moov`) and movie fragments (`[prft] moof mdat`), from
//! [`sluice_mux`] (ISO/IEC 14496-12, CMAF 23000-19). It shares the route, the access decision,
//! the publisher waits, the registry entry (transport `http-mp4` / `ws-mp4`), kicks and the
//! slow-player policy with HTTP-FLV ([`super::live`]); this module is the format.
//!
//! **WebSocket protocol** (the built-in page plays it with MSE; docs/API.md, "Media routes"):
//! 1. a text message `{"type":"init","mime":…,"generation":N,"tracks":[…]}` ([`init_json`]),
//!    immediately followed by
//! 2. a binary message: the init segment;
//! 3. one binary message per fragment; the first fragment after an init starts with a video
//!    keyframe when the stream has video;
//! 4. a new init pair when the codec configuration changes or a publisher comes back;
//! 5. when the publisher leaves, a text `{"type":"unpublished"}`; if it comes back within
//!    `http.flv_republish_wait_ms` a new init pair follows and timestamps go on increasing,
//!    otherwise close 1000. A codec fMP4 cannot carry closes with 1003 and the reason.
//!
//! **HTTP**: `200` with the init's MIME type as `Content-Type` (so the response waits for the
//! first init: a codec fMP4 cannot carry answers `415` with the codec named instead), then the
//! init segment and the fragments, without the text messages.
//!
//! **Fragments.** [`FragmentPolicy::VideoFrames`]: one fragment per video frame with the audio
//! that arrived since the previous one (one fragment per audio frame without video), each
//! written as soon as the next video frame tells its duration (one frame of latency).
//! `EverySample` would let two audio frames that arrive between video frames go out before
//! the keyframe that must open the stream.
//!
//! **Join and tracks.** The hub gives a new player the sequence headers, then the GOP cache
//! from its keyframe. Like the FLV header, the init must name every track: events are held
//! until the configuration of each track the stream has is known (the `onMetaData` tracks,
//! else both audio and video), or `http.flv_track_probe_ms` after the publisher was seen.
//! Samples before the first video keyframe (after a join, a republish or a new video
//! configuration) are dropped, so each init is followed by a keyframe.
//!
//! **Time.** Timestamps go through [`TimestampMapper`] as for FLV and RTMP players, so a
//! republish continues the timeline; the muxer rebases the first sample to 0.
//!
//! **`prft`** (on unless `?prft=0`): the server's wall clock for the fragment's first sample,
//! for latency measurement. The hub does not keep the time a frame arrived, so it is estimated:
//! the newest frame of a hub wake-up arrived now, an older one (the GOP cache at join) that many
//! milliseconds of media time earlier.

use super::flv::{query_flag, FlvState};
use super::flv_live::{metadata_tracks, Tracks};
use super::live::{
    move_pieces, start_player, End, LiveOutput, Piece, PlayRequest, RequestError, OUT_KEEP,
};
use super::live_out::{respond, Delivery};
use crate::hub::{FrameKind, PlayerEvent};
use crate::timestamps::{TimestampMapper, Track};
use axum::response::Response;
use serde_json::{json, Map, Value};
use sluice_mux::{
    FlvItem, FlvToSamples, Fmp4Muxer, FragmentPolicy, InitSegment, MuxError, MuxEvent,
    MuxerOptions, NtpTime, TrackConfig, TrackKind,
};
use std::time::{Duration, Instant, SystemTime};
use tracing::debug;

/// How a live fMP4 output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mp4LiveConfig {
    /// Write a `prft` in every fragment. Default true; `?prft=0` turns it off.
    pub prft: bool,
    /// Longest wait for the track decision at join (`http.flv_track_probe_ms`, 1 s).
    pub track_probe: Duration,
}

impl Default for Mp4LiveConfig {
    fn default() -> Self {
        Mp4LiveConfig {
            prft: true,
            track_probe: Duration::from_secs(1),
        }
    }
}

/// The live fMP4 writer of one player (see the module docs). Sans-IO.
#[derive(Debug)]
pub struct Mp4LiveMuxer {
    cfg: Mp4LiveConfig,
    adapter: FlvToSamples,
    mux: Fmp4Muxer,
    ts: TimestampMapper,
    decided: bool,
    probe_since: Option<Instant>,
    meta_tracks: Option<Tracks>,
    /// Configurations seen before the decision.
    configs: Tracks,
    held: Vec<PlayerEvent>,
    started: bool,
    live: bool,
    /// Drop samples until a video keyframe (when there is video).
    need_key: bool,
    /// A publisher came back: send the init again before the next fragment.
    resend_init: bool,
    generation: u32,
    first_mime: Option<String>,
    /// Newest frame timestamp of the current hub wake-up (for the `prft` estimate).
    newest: Option<u32>,
    failure: Option<String>,
    out: Vec<Piece>,
}

impl Mp4LiveMuxer {
    /// A writer for a player that has not received anything yet.
    pub fn new(cfg: Mp4LiveConfig) -> Self {
        Mp4LiveMuxer {
            cfg,
            adapter: FlvToSamples::new(),
            mux: Fmp4Muxer::new(MuxerOptions {
                policy: FragmentPolicy::VideoFrames,
                producer_reference_time: cfg.prft,
                ..MuxerOptions::default()
            }),
            ts: TimestampMapper::new(),
            decided: false,
            probe_since: None,
            meta_tracks: None,
            configs: Tracks::default(),
            held: Vec::new(),
            started: false,
            live: false,
            need_key: true,
            resend_init: false,
            generation: 0,
            first_mime: None,
            newest: None,
            failure: None,
            out: Vec::new(),
        }
    }

    /// The MIME type of the first init segment, once it is written.
    pub fn first_mime(&self) -> Option<&str> {
        self.first_mime.as_deref()
    }

    fn fail(&mut self, e: &MuxError) {
        if self.failure.is_none() {
            self.failure = Some(unsupported_reason(e));
        }
    }

    /// Learn about the tracks from an event held before the decision.
    fn observe(&mut self, ev: &PlayerEvent, now: Instant) {
        match ev {
            PlayerEvent::Publish => {
                self.probe_since.get_or_insert(now);
            }
            PlayerEvent::Metadata(body) => {
                if let Some(t) = metadata_tracks(body) {
                    self.meta_tracks = Some(t);
                }
            }
            PlayerEvent::Frame(f) => {
                let Some(kind) = track_kind(f.kind) else {
                    return;
                };
                match self.adapter.push(kind, f.timestamp, &f.payload) {
                    Ok(Some(FlvItem::Config(c))) => match c.kind() {
                        TrackKind::Video => self.configs.video = true,
                        TrackKind::Audio => self.configs.audio = true,
                    },
                    Err(e) if is_unsupported(&e) => self.fail(&e),
                    _ => {}
                }
            }
            PlayerEvent::Unpublish | PlayerEvent::Dropped { .. } => {}
        }
    }

    fn try_decide(&mut self, now: Instant, wall: SystemTime) {
        let Some(since) = self.probe_since else {
            return;
        };
        let c = self.configs;
        let complete = match self.meta_tracks {
            Some(m) => {
                let missing = (m.audio && !c.audio) || (m.video && !c.video);
                (c.audio || c.video) && !missing
            }
            None => c.audio && c.video,
        };
        if !complete && now < since + self.cfg.track_probe {
            return;
        }
        self.decided = true;
        for ev in std::mem::take(&mut self.held) {
            self.write_event(ev, wall);
        }
    }

    fn write_event(&mut self, ev: PlayerEvent, wall: SystemTime) {
        if self.failure.is_some() {
            return;
        }
        match ev {
            PlayerEvent::Publish => {
                if self.started && !self.live {
                    self.ts.restart();
                    self.need_key = true;
                    self.resend_init = self.generation > 0;
                }
                self.started = true;
                self.live = true;
            }
            PlayerEvent::Unpublish => {
                if self.live {
                    self.mux.flush();
                    self.drain();
                    self.out
                        .push(Piece::Text(r#"{"type":"unpublished"}"#.into()));
                }
                self.live = false;
            }
            PlayerEvent::Frame(f) => {
                let Some(kind) = track_kind(f.kind) else {
                    return;
                };
                match self.adapter.push(kind, f.timestamp, &f.payload) {
                    Ok(Some(item)) => self.write_item(item, wall),
                    Ok(None) => {}
                    Err(e) if is_unsupported(&e) => self.fail(&e),
                    Err(e) => debug!(error = %e, "fMP4 player: frame skipped"),
                }
            }
            PlayerEvent::Metadata(_) | PlayerEvent::Dropped { .. } => {}
        }
    }

    fn write_item(&mut self, item: FlvItem, wall: SystemTime) {
        match item {
            FlvItem::Config(c) => {
                if self.mux.track_config(c.kind()) != Some(&c) {
                    self.need_key = true;
                }
                self.mux.handle_config(c);
            }
            FlvItem::Sample(mut s) => {
                if self.need_key {
                    let has_video = self.mux.track_config(TrackKind::Video).is_some();
                    if has_video && !(s.track == TrackKind::Video && s.keyframe) {
                        return;
                    }
                    self.need_key = false;
                }
                let track = match s.track {
                    TrackKind::Video => Track::Video,
                    TrackKind::Audio => Track::Audio,
                };
                let received = self.received_at(s.timestamp, wall);
                s.timestamp = self.ts.map(track, s.timestamp, true);
                if self.cfg.prft {
                    s.wall_clock = Some(NtpTime::from_system_time(received));
                }
                if let Err(e) = self.mux.handle_sample(s) {
                    debug!(error = %e, "fMP4 player: sample skipped");
                }
            }
            FlvItem::EndOfSequence(_) => self.mux.flush(),
        }
        self.drain();
    }

    /// The estimated wall clock at which the frame with publisher timestamp `ts` arrived.
    fn received_at(&self, ts: u32, wall: SystemTime) -> SystemTime {
        let behind = self
            .newest
            .map_or(0, |n| (n.wrapping_sub(ts) as i32).max(0));
        wall - Duration::from_millis(behind as u64)
    }

    /// Moves the muxer's output to the pieces.
    fn drain(&mut self) {
        while let Some(ev) = self.mux.poll_event() {
            match ev {
                MuxEvent::Init(init) => {
                    self.resend_init = false;
                    self.push_init(&init);
                }
                MuxEvent::Fragment(f) => {
                    if std::mem::take(&mut self.resend_init) {
                        if let Some(init) = self.mux.init_segment().cloned() {
                            self.push_init(&init);
                        }
                    }
                    self.out.extend(f.chunks().iter().cloned().map(Piece::Data));
                    self.out.push(Piece::Boundary);
                }
            }
        }
    }

    fn push_init(&mut self, init: &InitSegment) {
        self.generation += 1;
        let configs = init.tracks.iter().filter_map(|&k| self.mux.track_config(k));
        let text = init_json(&init.mime, self.generation, configs);
        self.first_mime.get_or_insert_with(|| init.mime.clone());
        self.out.push(Piece::Text(text));
        self.out.push(Piece::Data(init.data.clone()));
        self.out.push(Piece::Boundary);
    }
}

impl LiveOutput for Mp4LiveMuxer {
    fn handle_events(&mut self, events: &mut Vec<PlayerEvent>, now: Instant, wall: SystemTime) {
        if self.failure.is_some() {
            events.clear();
            return;
        }
        self.newest = events
            .iter()
            .filter_map(|e| match e {
                PlayerEvent::Frame(f) if !f.sequence_header && f.kind != FrameKind::Data => {
                    Some(f.timestamp)
                }
                _ => None,
            })
            .reduce(|a, b| if (b.wrapping_sub(a) as i32) > 0 { b } else { a });
        for ev in events.drain(..) {
            if self.decided {
                self.write_event(ev, wall);
            } else {
                self.observe(&ev, now);
                self.held.push(ev);
            }
        }
        if !self.decided && self.failure.is_none() {
            self.try_decide(now, wall);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.decided, self.probe_since) {
            (false, Some(since)) if self.failure.is_none() => Some(since + self.cfg.track_probe),
            _ => None,
        }
    }

    fn handle_timeout(&mut self, now: Instant, wall: SystemTime) {
        if !self.decided && self.failure.is_none() {
            self.try_decide(now, wall);
        }
    }

    fn take_output(&mut self, out: &mut Vec<Piece>) {
        move_pieces(&mut self.out, out, |p| p);
    }

    fn take_data(&mut self, out: &mut Vec<bytes::Bytes>) {
        // Straight from the list (the trait's default goes through a new one per call).
        out.extend(self.out.drain(..).filter_map(Piece::into_data));
        self.out.shrink_to(OUT_KEEP);
    }

    fn failure(&self) -> Option<String> {
        self.failure.clone()
    }
}

fn track_kind(kind: FrameKind) -> Option<TrackKind> {
    match kind {
        FrameKind::Audio => Some(TrackKind::Audio),
        FrameKind::Video => Some(TrackKind::Video),
        FrameKind::Data => None,
    }
}

/// Whether a muxer error means the stream cannot be carried at all (as opposed to one bad
/// frame).
fn is_unsupported(e: &MuxError) -> bool {
    matches!(
        e,
        MuxError::UnsupportedAudioCodec(_) | MuxError::UnsupportedVideoCodec(_)
    )
}

/// The refusal text for a codec fMP4 cannot carry (the `415` body, the WebSocket close reason:
/// at most 123 bytes).
pub fn unsupported_reason(e: &MuxError) -> String {
    match e {
        MuxError::UnsupportedAudioCodec(c) => format!("audio codec {c} cannot be sent as fMP4"),
        MuxError::UnsupportedVideoCodec(c) => format!("video codec {c} cannot be sent as fMP4"),
        other => other.to_string(),
    }
}

/// The text message that precedes an init segment on a WebSocket:
/// `{"type":"init","mime":…,"generation":N,"tracks":[…]}`, each track `{"kind":"video",
/// "codec","width","height"}` or `{"kind":"audio","codec","sample_rate","channels"}`, with
/// fields whose value is unknown (0) left out.
pub fn init_json<'a>(
    mime: &str,
    generation: u32,
    tracks: impl IntoIterator<Item = &'a TrackConfig>,
) -> String {
    let tracks: Vec<Value> = tracks
        .into_iter()
        .map(|t| {
            let mut o = Map::new();
            let mut put = |k: &str, v: u32| {
                if v > 0 {
                    o.insert(k.into(), v.into());
                }
            };
            let kind = match t {
                TrackConfig::Video(v) => {
                    put("width", v.width());
                    put("height", v.height());
                    "video"
                }
                TrackConfig::Audio(a) => {
                    put("sample_rate", a.sample_rate());
                    put("channels", u32::from(a.channels()));
                    "audio"
                }
            };
            o.insert("kind".into(), kind.into());
            o.insert("codec".into(), t.codec_string().into());
            Value::Object(o)
        })
        .collect();
    json!({"type": "init", "mime": mime, "generation": generation, "tracks": tracks}).to_string()
}

/// `GET /{app}/{stream}.mp4` once the path is parsed (dispatched from [`super::flv`]).
pub(crate) async fn play(
    state: &FlvState,
    req: PlayRequest,
    delivery: Delivery,
) -> Result<Response, RequestError> {
    let cfg = Mp4LiveConfig {
        prft: query_flag(req.query.as_deref(), "prft").unwrap_or(true),
        track_probe: state.cfg.live.track_probe,
    };
    let (app, stream) = (req.app.clone(), req.stream.clone());
    let mut start = start_player(&state.ctx, req, state.cfg.waits(), |_| {
        Mp4LiveMuxer::new(cfg)
    })
    .await?;
    if delivery.is_websocket() {
        return Ok(respond(start, delivery, ""));
    }
    // The Content-Type is the first init's MIME type: wait for it, or for the refusal.
    let mime = loop {
        match start.pump.next_output().await {
            Ok(pieces) => start.pending.extend(pieces),
            Err(end) => {
                start.log.reason = end.reason();
                return Err(match end {
                    End::Unsupported(why) => RequestError::Unsupported(why),
                    End::PublisherGone => RequestError::NotPublished(app, stream),
                    _ => RequestError::ShuttingDown,
                });
            }
        }
        if let Some(m) = start.pump.out.first_mime() {
            break m.to_owned();
        }
    };
    Ok(respond(start, delivery, &mime))
}

#[cfg(test)]
#[path = "mp4_live_tests.rs"]
mod tests;
