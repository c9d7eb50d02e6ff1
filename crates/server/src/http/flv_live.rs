//! The live FLV muxer behind HTTP-FLV and WebSocket-FLV: a player's hub events in, FLV bytes
//! out. Sans-IO: no sockets, no clock of its own (the caller passes `now` and the wall clock),
//! so it is tested with plain event lists.
//!
//! Output, per FLV v10.1 Annex E: the 9-byte FLV header and `PreviousTagSize0`, then one tag
//! (11-byte header, body, `PreviousTagSize`) per event: `onMetaData` (script tag 18), the
//! sequence headers, the hub's GOP from its keyframe, live frames. The hub's join order
//! (`Publish`, metadata, video and audio sequence headers, GOP) is the order written.
//!
//! **Header flags.** `TypeFlagsAudio`/`TypeFlagsVideo` must name the tracks the stream really
//! has: mpegts.js (and Chromium's MSE under it) waits for a track the header announces, so an
//! audio-only stream announced with video never plays. The muxer holds events back at join until
//! it knows: the `onMetaData` of the stream decides at once (`hasAudio`/`hasVideo`, else the
//! presence of `audiocodecid`/`videocodecid`, plus any track whose frames already arrived);
//! without metadata, a sequence header or frame of each kind decides; otherwise the decision is
//! taken with what was seen [`FlvLiveConfig::track_probe`] after the publisher was seen
//! (`http.flv_track_probe_ms`, 1 s by default: [`FlvLiveMuxer::poll_timeout`] says when). A
//! stream that showed nothing by then is announced with both.
//!
//! **Timestamps** go through [`TimestampMapper`] as on RTMP players: each player's FLV starts
//! near 0, no track goes backwards, and a publisher that leaves and comes back continues the
//! same timeline (sequence headers and metadata are written again as the hub repeats them).
//!
//! **Codec fit** ([`FlvLiveConfig::legacy_codecs`]): Enhanced RTMP `avc1`/`mp4a` tags become
//! legacy H.264/AAC tags ([`sluice_flv::legacy_video`], [`sluice_flv::legacy_audio`]), and an
//! `onMetaData` naming them by FOURCC gets the legacy ids 7 and 10. Other codecs stay in their
//! Enhanced form, which FLV carries as it is. `FlvLiveMuxer::fit` is the one place a future
//! output with a narrower codec set decides what to do with a tag.
//!
//! **Wall clock** ([`FlvLiveConfig::wallclock_interval`]): before the first media tag and then
//! every interval, a script tag `onFI` with the timestamp of that media tag carries the server's
//! wall clock (AMF0: the string `"onFI"`, then an ECMA array `{sd: "YYYY-MM-DD", st:
//! "HH:MM:SS.mmm", wallclock_ms: <ms since the UNIX epoch>}`, UTC), so a player can tell how old
//! the picture it shows is (docs/API.md, "Media routes").
//!
//! **Zero copy.** Payloads are never copied: the output is a list of [`Bytes`] pieces, the shared
//! payloads between small pieces that hold the tag headers and `PreviousTagSize` fields (one
//! piece per gap, cut from one buffer). Rewritten legacy headers go into the small pieces and
//! the payload is sliced past its Enhanced header.

use super::live::move_pieces;
#[cfg(test)]
use super::live::OUT_KEEP;
use crate::hub::{FrameKind, MediaFrame, PlayerEvent};
use crate::timestamps::{TimestampMapper, Track};
use bytes::{BufMut, Bytes, BytesMut};
use sluice_amf::{amf0_encode, Amf0Decoder, Amf0Object, Amf0Value};
use sluice_flv::{FlvHeader, FourCc, LegacyForm, TagType, MAX_TAG_DATA_SIZE, TAG_HEADER_SIZE};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How a live FLV output is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvLiveConfig {
    /// Rewrite Enhanced `avc1`/`mp4a` to legacy tags. Default true (`http.flv_legacy_codecs`).
    pub legacy_codecs: bool,
    /// Interval between `onFI` tags; `None` = none. Default 1 s (`http.flv_wallclock_ms`).
    pub wallclock_interval: Option<Duration>,
    /// Longest wait for the track decision at join. Default 1 s (`http.flv_track_probe_ms`).
    pub track_probe: Duration,
}

impl Default for FlvLiveConfig {
    fn default() -> Self {
        FlvLiveConfig {
            legacy_codecs: true,
            wallclock_interval: Some(Duration::from_secs(1)),
            track_probe: Duration::from_secs(1),
        }
    }
}

/// Which tracks the FLV header announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tracks {
    /// TypeFlagsAudio.
    pub audio: bool,
    /// TypeFlagsVideo.
    pub video: bool,
}

/// Counters of one output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MuxStats {
    /// Bytes produced (header and tags).
    pub bytes: u64,
    /// Audio and video tags written.
    pub media_tags: u64,
    /// Frames the hub dropped for this player because it was behind.
    pub dropped_by_hub: u64,
    /// Tags not written: Enhanced packets without a legacy form, or bodies over 16 MiB.
    pub skipped: u64,
}

/// The live FLV muxer of one player (see the module docs).
#[derive(Debug)]
pub struct FlvLiveMuxer {
    cfg: FlvLiveConfig,
    ts: TimestampMapper,
    /// Set once the header is written.
    tracks: Option<Tracks>,
    /// When the first `Publish` was seen (start of the track probe).
    probe_since: Option<Instant>,
    meta_tracks: Option<Tracks>,
    seen: Tracks,
    held: Vec<PlayerEvent>,
    started: bool,
    live: bool,
    next_stamp: Option<Instant>,
    small: BytesMut,
    out: Vec<Bytes>,
    stats: MuxStats,
}

/// Capacity reserved at a time for tag headers (each needs 15 bytes plus a legacy header, so
/// one reservation serves ~50 frames; every player keeps its current one).
const SMALL_CHUNK: usize = 1024;

impl FlvLiveMuxer {
    /// A muxer for a player that has not received anything yet.
    pub fn new(cfg: FlvLiveConfig) -> Self {
        FlvLiveMuxer {
            cfg,
            ts: TimestampMapper::new(),
            tracks: None,
            probe_since: None,
            meta_tracks: None,
            seen: Tracks::default(),
            held: Vec::new(),
            started: false,
            live: false,
            next_stamp: None,
            small: BytesMut::new(),
            out: Vec::new(),
            stats: MuxStats::default(),
        }
    }

    /// The tracks announced, once the FLV header is written.
    pub fn tracks(&self) -> Option<Tracks> {
        self.tracks
    }

    /// Whether the stream has a publisher (as far as the events handled so far tell).
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Counters so far.
    pub fn stats(&self) -> MuxStats {
        self.stats
    }

    /// Handle hub events (drained from `events`). `now` drives the track probe and the `onFI`
    /// interval; `wall` is the wall clock written in `onFI`.
    pub fn handle_events(&mut self, events: &mut Vec<PlayerEvent>, now: Instant, wall: SystemTime) {
        for ev in events.drain(..) {
            if self.tracks.is_some() {
                self.write_event(ev, now, wall);
                continue;
            }
            self.observe(&ev, now);
            self.held.push(ev);
        }
        if self.tracks.is_none() {
            self.try_decide(now, wall);
        }
    }

    /// When [`FlvLiveMuxer::handle_timeout`] must be called: the end of the track probe.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.tracks, self.probe_since) {
            (None, Some(since)) => Some(since + self.cfg.track_probe),
            _ => None,
        }
    }

    /// Time passed: takes the track decision once the probe is over.
    pub fn handle_timeout(&mut self, now: Instant, wall: SystemTime) {
        if self.tracks.is_none() {
            self.try_decide(now, wall);
        }
    }

    /// The bytes produced since the last call, in order.
    pub fn take_output(&mut self, out: &mut Vec<Bytes>) {
        self.take_output_as(out, |b| b);
    }

    /// [`FlvLiveMuxer::take_output`], each piece turned into a `T` by `f`.
    pub fn take_output_as<T>(&mut self, out: &mut Vec<T>, f: impl FnMut(Bytes) -> T) {
        self.flush_small();
        move_pieces(&mut self.out, out, f);
    }

    /// Learn about the tracks from an event held before the header.
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
            PlayerEvent::Frame(f) => match f.kind {
                FrameKind::Audio => self.seen.audio = true,
                FrameKind::Video => self.seen.video = true,
                FrameKind::Data => {}
            },
            PlayerEvent::Unpublish | PlayerEvent::Dropped { .. } => {}
        }
    }

    fn try_decide(&mut self, now: Instant, wall: SystemTime) {
        let Some(since) = self.probe_since else {
            return;
        };
        let seen = self.seen;
        let tracks = match self.meta_tracks {
            Some(m) => Tracks {
                audio: m.audio || seen.audio,
                video: m.video || seen.video,
            },
            None if seen.audio && seen.video => seen,
            None if now >= since + self.cfg.track_probe => {
                if seen.audio || seen.video {
                    seen
                } else {
                    Tracks {
                        audio: true,
                        video: true,
                    }
                }
            }
            None => return,
        };
        self.tracks = Some(tracks);
        self.reserve();
        FlvHeader::new(tracks.audio, tracks.video).write(&mut self.small);
        for ev in std::mem::take(&mut self.held) {
            self.write_event(ev, now, wall);
        }
    }

    fn write_event(&mut self, ev: PlayerEvent, now: Instant, wall: SystemTime) {
        match ev {
            PlayerEvent::Publish => {
                if self.started && !self.live {
                    self.ts.restart();
                }
                self.started = true;
                self.live = true;
            }
            PlayerEvent::Unpublish => self.live = false,
            PlayerEvent::Metadata(body) => {
                let body = if self.cfg.legacy_codecs {
                    legacy_metadata(&body).unwrap_or(body)
                } else {
                    body
                };
                let ts = self.ts.map(Track::Data, 0, false);
                self.write_tag(TagType::SCRIPT, ts, &[], body);
            }
            PlayerEvent::Frame(f) => self.write_frame(f, now, wall),
            PlayerEvent::Dropped { frames } => self.stats.dropped_by_hub += frames,
        }
    }

    fn write_frame(&mut self, f: MediaFrame, now: Instant, wall: SystemTime) {
        let anchor = !f.sequence_header;
        let (tag_type, ts) = match f.kind {
            FrameKind::Audio => (
                TagType::AUDIO,
                self.ts.map(Track::Audio, f.timestamp, anchor),
            ),
            FrameKind::Video => (
                TagType::VIDEO,
                self.ts.map(Track::Video, f.timestamp, anchor),
            ),
            FrameKind::Data => {
                let ts = self.ts.map(Track::Data, f.timestamp, true);
                self.write_tag(TagType::SCRIPT, ts, &[], f.payload);
                return;
            }
        };
        let (prefix, body) = match self.fit(&f) {
            Fitted::Keep => (Vec::new(), f.payload),
            Fitted::Rewrite(header, offset) => (header, f.payload.slice(offset..)),
            Fitted::Drop => {
                self.stats.skipped += 1;
                return;
            }
        };
        if let Some(interval) = self.cfg.wallclock_interval {
            if self.next_stamp.is_none_or(|t| now >= t) {
                self.next_stamp = Some(now + interval);
                let stamp = on_fi(wall);
                self.write_tag(TagType::SCRIPT, ts, &[], stamp);
            }
        }
        if self.write_tag(tag_type, ts, &prefix, body) {
            self.stats.media_tags += 1;
        }
    }

    /// What this output sends for a media frame: the codec-fit decision point.
    fn fit(&self, f: &MediaFrame) -> Fitted {
        if !self.cfg.legacy_codecs {
            return Fitted::Keep;
        }
        let form = match f.kind {
            FrameKind::Audio => sluice_flv::legacy_audio(&f.payload),
            FrameKind::Video => sluice_flv::legacy_video(&f.payload),
            FrameKind::Data => LegacyForm::Keep,
        };
        match form {
            LegacyForm::Keep => Fitted::Keep,
            LegacyForm::Rewrite {
                header,
                body_offset,
            } => Fitted::Rewrite(header.as_bytes().to_vec(), body_offset),
            LegacyForm::Drop => Fitted::Drop,
        }
    }

    /// Write one tag: header (with `prefix` as the start of the body), `body`, PreviousTagSize.
    /// Returns false (and writes nothing) for a body too large for the 24-bit DataSize.
    fn write_tag(&mut self, tag_type: TagType, ts: u32, prefix: &[u8], body: Bytes) -> bool {
        let size = prefix.len() + body.len();
        if size > MAX_TAG_DATA_SIZE as usize {
            self.stats.skipped += 1;
            return false;
        }
        self.reserve();
        sluice_flv::put_tag_header(&mut self.small, false, tag_type, size as u32, ts, 0);
        self.small.put_slice(prefix);
        if !body.is_empty() {
            self.flush_small();
            self.stats.bytes += body.len() as u64;
            self.out.push(body);
        }
        self.small.put_u32((TAG_HEADER_SIZE + size) as u32);
        true
    }

    fn reserve(&mut self) {
        if self.small.capacity() - self.small.len() < 64 {
            self.small.reserve(SMALL_CHUNK);
        }
    }

    fn flush_small(&mut self) {
        if !self.small.is_empty() {
            let piece = self.small.split().freeze();
            self.stats.bytes += piece.len() as u64;
            self.out.push(piece);
        }
    }
}

/// The codec-fit decision for one frame.
enum Fitted {
    Keep,
    /// A replacement header and the offset of the body in the payload.
    Rewrite(Vec<u8>, usize),
    Drop,
}

/// The `onMetaData` object of a script body (`"onMetaData"`, then an object or ECMA array).
fn metadata_object(body: &[u8]) -> Option<(String, Amf0Object)> {
    let mut dec = Amf0Decoder::new(body);
    let name = match dec.decode().ok()? {
        Amf0Value::String(s) => s,
        _ => return None,
    };
    match dec.decode().ok()? {
        Amf0Value::Object(o) | Amf0Value::EcmaArray(o) => Some((name, o)),
        _ => None,
    }
}

/// The tracks an `onMetaData` body says the stream has; `None` if it does not parse.
pub(crate) fn metadata_tracks(body: &[u8]) -> Option<Tracks> {
    let (_, o) = metadata_object(body)?;
    let says = |has: &str, keys: &[&str]| match o.get(has).and_then(Amf0Value::as_bool) {
        Some(b) => b,
        None => keys
            .iter()
            .any(|k| o.get(k).is_some_and(|v| !v.is_null_or_undefined())),
    };
    Some(Tracks {
        audio: says("hasAudio", &["audiocodecid", "audiosamplerate"]),
        video: says("hasVideo", &["videocodecid", "width", "height"]),
    })
}

/// The `onMetaData` body with `videocodecid` avc1 → 7 and `audiocodecid` mp4a → 10, or `None`
/// when nothing needs to change (or it does not parse).
fn legacy_metadata(body: &[u8]) -> Option<Bytes> {
    let (name, o) = metadata_object(body)?;
    let mut changed = false;
    let mut fixed = Amf0Object::with_capacity(o.len());
    for (k, v) in o.into_vec() {
        let v = match (k.as_str(), v.as_f64()) {
            ("videocodecid", Some(id)) if id == f64::from(FourCc::AVC1.to_u32()) => {
                changed = true;
                Amf0Value::Number(7.0)
            }
            ("audiocodecid", Some(id)) if id == f64::from(FourCc::MP4A.to_u32()) => {
                changed = true;
                Amf0Value::Number(10.0)
            }
            _ => v,
        };
        fixed.insert(k, v);
    }
    if !changed {
        return None;
    }
    let mut out = BytesMut::with_capacity(body.len());
    amf0_encode(&Amf0Value::String(name), &mut out);
    amf0_encode(&Amf0Value::EcmaArray(fixed), &mut out);
    Some(out.freeze())
}

/// The body of an `onFI` script tag for wall-clock time `wall` (see the module docs).
pub fn on_fi(wall: SystemTime) -> Bytes {
    let ms = wall
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let (date, time) = utc_date_time(ms);
    let info = Amf0Object::new()
        .with("sd", date)
        .with("st", time)
        .with("wallclock_ms", Amf0Value::Number(ms as f64));
    let mut out = BytesMut::with_capacity(96);
    amf0_encode(&Amf0Value::String("onFI".into()), &mut out);
    amf0_encode(&Amf0Value::EcmaArray(info), &mut out);
    out.freeze()
}

/// `("YYYY-MM-DD", "HH:MM:SS.mmm")` in UTC for milliseconds since the UNIX epoch.
pub(crate) fn utc_date_time(ms: u64) -> (String, String) {
    let t = sluice_flv::UtcTime::from_unix_ms(ms);
    (t.date(), t.time())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use sluice_amf::amf0_encode_all;
    use sluice_flv::{FlvDemuxer, FlvEvent, FlvTag};

    fn meta(pairs: &[(&str, Amf0Value)]) -> Bytes {
        let mut o = Amf0Object::new();
        for (k, v) in pairs {
            o.insert(*k, v.clone());
        }
        amf0_encode_all(&[
            Amf0Value::String("onMetaData".into()),
            Amf0Value::EcmaArray(o),
        ])
    }

    fn no_stamp() -> FlvLiveConfig {
        FlvLiveConfig {
            wallclock_interval: None,
            ..FlvLiveConfig::default()
        }
    }

    /// Demux what the muxer wrote.
    fn demux(pieces: &[Bytes]) -> (sluice_flv::FlvHeader, Vec<FlvTag>) {
        let mut buf = BytesMut::new();
        for p in pieces {
            buf.extend_from_slice(p);
        }
        let mut d = FlvDemuxer::new();
        let mut header = None;
        let mut tags = Vec::new();
        while let Some(ev) = d.decode(&mut buf).unwrap() {
            match ev {
                FlvEvent::Header(h) => header = Some(h),
                FlvEvent::Tag(t) => tags.push(t),
            }
        }
        assert!(buf.is_empty(), "{} bytes left over", buf.len());
        (header.expect("an FLV header"), tags)
    }

    fn run(cfg: FlvLiveConfig, events: Vec<PlayerEvent>) -> (FlvLiveMuxer, Vec<Bytes>) {
        let mut m = FlvLiveMuxer::new(cfg);
        let mut evs = events;
        let now = Instant::now();
        m.handle_events(&mut evs, now, SystemTime::now());
        let mut out = Vec::new();
        m.take_output(&mut out);
        (m, out)
    }

    fn avc_seq() -> MediaFrame {
        MediaFrame::video(1000, Bytes::from_static(&[0x17, 0, 0, 0, 0, 1, 0x64]), true)
            .into_sequence_header()
    }

    fn aac_seq() -> MediaFrame {
        MediaFrame::audio(1000, Bytes::from_static(&[0xAF, 0, 0x12, 0x10])).into_sequence_header()
    }

    #[test]
    fn join_with_metadata_writes_header_metadata_sequence_headers_and_gop() {
        let key = Bytes::from_static(&[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]);
        let (m, out) = run(
            no_stamp(),
            vec![
                PlayerEvent::Publish,
                PlayerEvent::Metadata(meta(&[
                    ("videocodecid", 7.0.into()),
                    ("audiocodecid", 10.0.into()),
                ])),
                PlayerEvent::Frame(avc_seq()),
                PlayerEvent::Frame(aac_seq()),
                PlayerEvent::Frame(MediaFrame::video(50_000, key.clone(), true)),
                PlayerEvent::Frame(MediaFrame::audio(50_010, Bytes::from_static(&[0xAF, 1, 9]))),
                PlayerEvent::Frame(MediaFrame::video(50_040, key.clone(), false)),
            ],
        );
        let (h, tags) = demux(&out);
        assert!(h.has_audio && h.has_video);
        let kinds: Vec<u8> = tags.iter().map(|t| t.tag_type.0).collect();
        assert_eq!(kinds, [18, 9, 8, 9, 8, 9]);
        let ts: Vec<u32> = tags.iter().map(|t| t.timestamp).collect();
        assert_eq!(ts, [0, 0, 0, 0, 10, 40]);
        // Payloads are the very same buffers (zero copy).
        assert!(out.iter().any(|p| p.as_ptr() == key.as_ptr()));
        assert_eq!(m.stats().media_tags, 5);
        assert_eq!(
            m.stats().bytes,
            out.iter().map(|p| p.len() as u64).sum::<u64>()
        );
    }

    #[test]
    fn a_join_burst_leaves_no_large_lists_behind() {
        // A whole GOP at join: hundreds of pieces, then the output list shrinks back.
        let key = Bytes::from_static(&[0x17, 1, 0, 0, 0, 0, 0, 0, 1, 0x65]);
        let mut events = vec![
            PlayerEvent::Publish,
            PlayerEvent::Frame(avc_seq()),
            PlayerEvent::Frame(aac_seq()),
        ];
        for i in 0..300 {
            events.push(PlayerEvent::Frame(MediaFrame::video(
                50_000 + i * 40,
                key.clone(),
                i == 0,
            )));
        }
        let (m, out) = run(no_stamp(), events);
        let (_, tags) = demux(&out);
        assert_eq!(tags.len(), 302);
        assert!(m.out.is_empty() && m.out.capacity() <= OUT_KEEP);
        // Tag headers come from small reservations, not one buffer per burst.
        assert!(m.small.capacity() <= SMALL_CHUNK);
    }

    #[test]
    fn audio_only_and_video_only_headers() {
        // Audio only, told by metadata: decided at once.
        let (m, out) = run(
            no_stamp(),
            vec![
                PlayerEvent::Publish,
                PlayerEvent::Metadata(meta(&[("audiocodecid", 10.0.into())])),
                PlayerEvent::Frame(aac_seq()),
            ],
        );
        let (h, _) = demux(&out);
        assert!(h.has_audio && !h.has_video);
        assert_eq!(
            m.tracks(),
            Some(Tracks {
                audio: true,
                video: false
            })
        );

        // Video only without metadata: held until the probe ends.
        let mut m = FlvLiveMuxer::new(no_stamp());
        let t0 = Instant::now();
        let mut evs = vec![PlayerEvent::Publish, PlayerEvent::Frame(avc_seq())];
        m.handle_events(&mut evs, t0, SystemTime::now());
        let mut out = Vec::new();
        m.take_output(&mut out);
        assert!(out.is_empty());
        assert_eq!(m.poll_timeout(), Some(t0 + Duration::from_secs(1)));
        m.handle_timeout(t0 + Duration::from_millis(999), SystemTime::now());
        assert!(m.tracks().is_none());
        m.handle_timeout(t0 + Duration::from_secs(1), SystemTime::now());
        m.take_output(&mut out);
        let (h, tags) = demux(&out);
        assert!(!h.has_audio && h.has_video);
        assert_eq!(tags.len(), 1);
        assert_eq!(m.poll_timeout(), None);

        // hasAudio = false wins over an audiocodecid.
        let t = metadata_tracks(&meta(&[
            ("hasAudio", false.into()),
            ("audiocodecid", 10.0.into()),
            ("width", 640.0.into()),
        ]));
        assert_eq!(
            t,
            Some(Tracks {
                audio: false,
                video: true
            })
        );
        assert_eq!(metadata_tracks(b"\x02\x00"), None);
    }

    #[test]
    fn enhanced_avc1_and_mp4a_become_legacy() {
        let (_, out) = run(
            no_stamp(),
            vec![
                PlayerEvent::Publish,
                PlayerEvent::Metadata(meta(&[
                    ("videocodecid", f64::from(FourCc::AVC1.to_u32()).into()),
                    ("audiocodecid", f64::from(FourCc::MP4A.to_u32()).into()),
                    ("width", 320.0.into()),
                ])),
                PlayerEvent::Frame(
                    MediaFrame::video(0, Bytes::from_static(b"\x90avc1\x01\x64\x00\x1f"), true)
                        .into_sequence_header(),
                ),
                PlayerEvent::Frame(
                    MediaFrame::audio(0, Bytes::from_static(b"\x90mp4a\x12\x10"))
                        .into_sequence_header(),
                ),
                PlayerEvent::Frame(MediaFrame::video(
                    0,
                    Bytes::from_static(b"\x93avc1\x00\x00\x00\x01\x65"),
                    true,
                )),
                // Video Metadata (colorInfo) has no legacy form: dropped.
                PlayerEvent::Frame(MediaFrame::video(
                    0,
                    Bytes::from_static(b"\x94avc1\x05"),
                    false,
                )),
            ],
        );
        let (_, tags) = demux(&out);
        assert_eq!(tags.len(), 4);
        let (_, o) = metadata_object(&tags[0].data).unwrap();
        assert_eq!(o.get_number("videocodecid"), Some(7.0));
        assert_eq!(o.get_number("audiocodecid"), Some(10.0));
        assert_eq!(o.get_number("width"), Some(320.0));
        assert_eq!(&tags[1].data[..], b"\x17\x00\x00\x00\x00\x01\x64\x00\x1f");
        assert_eq!(&tags[2].data[..], b"\xAF\x00\x12\x10");
        assert_eq!(
            &tags[3].data[..],
            b"\x17\x01\x00\x00\x00\x00\x00\x00\x01\x65"
        );

        // With the rewrite off, everything stays Enhanced.
        let (_, out) = run(
            FlvLiveConfig {
                legacy_codecs: false,
                ..no_stamp()
            },
            vec![
                PlayerEvent::Publish,
                PlayerEvent::Frame(MediaFrame::video(
                    0,
                    Bytes::from_static(b"\x93avc1\x00"),
                    true,
                )),
                PlayerEvent::Frame(MediaFrame::audio(0, Bytes::from_static(b"\x91mp4a\x21"))),
            ],
        );
        let (_, tags) = demux(&out);
        assert_eq!(&tags[0].data[..], b"\x93avc1\x00");
    }

    #[test]
    fn on_fi_precedes_media_once_per_interval() {
        let mut m = FlvLiveMuxer::new(FlvLiveConfig::default());
        let t0 = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let mut evs = vec![
            PlayerEvent::Publish,
            PlayerEvent::Metadata(meta(&[("videocodecid", 7.0.into())])),
            PlayerEvent::Frame(MediaFrame::video(
                100,
                Bytes::from_static(&[0x17, 1, 0, 0, 0]),
                true,
            )),
            PlayerEvent::Frame(MediaFrame::video(
                140,
                Bytes::from_static(&[0x27, 1, 0, 0, 0]),
                false,
            )),
        ];
        m.handle_events(&mut evs, t0, wall);
        let mut evs = vec![PlayerEvent::Frame(MediaFrame::video(
            1100,
            Bytes::from_static(&[0x27, 1, 0, 0, 0]),
            false,
        ))];
        m.handle_events(&mut evs, t0 + Duration::from_secs(1), wall);
        let mut out = Vec::new();
        m.take_output(&mut out);
        let (_, tags) = demux(&out);
        let kinds: Vec<u8> = tags.iter().map(|t| t.tag_type.0).collect();
        assert_eq!(kinds, [18, 18, 9, 9, 18, 9]);
        assert_eq!(tags[4].timestamp, 1000);
        let (name, o) = metadata_object(&tags[1].data).unwrap();
        assert_eq!(name, "onFI");
        assert_eq!(o.get_str("sd"), Some("2023-11-14"));
        assert_eq!(o.get_str("st"), Some("22:13:20.123"));
        assert_eq!(o.get_number("wallclock_ms"), Some(1_700_000_000_123.0));
    }

    #[test]
    fn republish_continues_the_timeline() {
        let frame = |ts, key| {
            PlayerEvent::Frame(MediaFrame::video(
                ts,
                Bytes::from_static(&[0x17, 1, 0, 0, 0]),
                key,
            ))
        };
        let (m, out) = run(
            no_stamp(),
            vec![
                PlayerEvent::Publish,
                PlayerEvent::Frame(avc_seq()),
                PlayerEvent::Frame(aac_seq()),
                frame(5000, true),
                frame(5040, false),
                PlayerEvent::Unpublish,
                PlayerEvent::Publish,
                PlayerEvent::Frame(avc_seq()),
                frame(0, true),
            ],
        );
        let (_, tags) = demux(&out);
        let ts: Vec<u32> = tags.iter().map(|t| t.timestamp).collect();
        assert_eq!(ts, [0, 0, 0, 40, 40, 40]);
        assert!(m.is_live());
    }

    #[test]
    fn dates() {
        assert_eq!(
            utc_date_time(0),
            ("1970-01-01".to_string(), "00:00:00.000".to_string())
        );
        assert_eq!(utc_date_time(951_782_400_000).0, "2000-02-29");
        assert_eq!(
            utc_date_time(4_102_444_799_999),
            ("2099-12-31".to_string(), "23:59:59.999".to_string())
        );
    }
}
