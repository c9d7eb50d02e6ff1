//! The connection side of VOD plays: one [`VodPlays`] per connection starts a reader task per
//! play ([`super::reader`]), keeps each play's clock (start, pause, seek, buffer length) and
//! turns what the tasks hand over into messages of the sans-IO session
//! (`accept_play_recorded`, `send_aggregate`, `notify_seek`, `finish_recorded`).

use super::config::VodSection;
use super::reader::{self, Clock, Control, Task, VodOut};
use bytes::Bytes;
use sluice_amf::{amf0_encode_all, Amf0Value};
use sluice_flv::FlvFileInfo;
use sluice_rtmp::session::{RequestId, ServerSession};
use sluice_rtmp::types::{MessageType, RawMessage, Timestamp};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;
use tracing::{info, warn};

/// Message streams whose `play` arguments and Set Buffer Length are kept (the peer names the
/// stream id: bounded so that it cannot grow the list; past it the oldest entry goes).
const MAX_STREAM_ENTRIES: usize = 64;
/// `getStreamLength` requests of one connection looked up at once; further ones are answered 0
/// until one finishes (each may scan a file).
const MAX_LENGTH_REQUESTS: usize = 4;

/// How a `play` request's start argument is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    /// `-1` (or `-1000`, librtmp's live flag): live only.
    LiveOnly,
    /// `-2` (the default; also `-2000`): live if the stream is live, else the file.
    LiveOrRecorded,
    /// `>= 0`: the file from this offset, ms.
    Recorded(u32),
}

impl StartMode {
    /// The mode of `play`'s `start` (ms; RTMP 1.0 §7.2.2.1).
    pub fn of(start: f64) -> StartMode {
        if start == -1.0 || start == -1000.0 {
            StartMode::LiveOnly
        } else if start.is_nan() || start < 0.0 {
            StartMode::LiveOrRecorded
        } else {
            StartMode::Recorded(start.min(f64::from(u32::MAX)) as u32)
        }
    }
}

/// A play that ended (for the connection's log and `on_play_done`).
#[derive(Debug)]
pub struct Ended {
    /// Stream name.
    pub name: String,
    /// Whether it had started (false: the file was not found or not readable).
    pub started: bool,
}

struct Play {
    stream_id: u32,
    /// The play request, until the file is open.
    request: Option<RequestId>,
    name: String,
    rx: mpsc::Receiver<VodOut>,
    control: watch::Sender<Control>,
    task: tokio::task::JoinHandle<()>,
    info: Option<Arc<FlvFileInfo>>,
    /// Media before the `Seeked` of the latest seek is stale.
    seeking: bool,
    paused_at: Option<u32>,
    /// `play`'s start, ms.
    start_ms: u32,
    /// Subtracted from the file's timestamps: the seek point of a play with a start offset, so
    /// that timestamps count from the start (librtmp adds the start back, as FMS expects); 0
    /// after a `seek`, whose timestamps are the file's.
    ts_offset: u32,
    aggregate: bool,
    bytes: u64,
    frames: u64,
}

impl Drop for Play {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The VOD plays of one connection.
pub struct VodPlays {
    wake: Arc<Notify>,
    plays: Vec<Play>,
    /// `play` arguments and Set Buffer Length by message stream (a list: a player has one or
    /// two streams, and each connection keeps it for life).
    streams: Vec<StreamArgs>,
    /// Answers of `getStreamLength` lookups, made on the first one (most connections never ask:
    /// a channel is ~1 KB per connection).
    lengths: Option<LengthChannel>,
    /// `getStreamLength` lookups in progress (at most [`MAX_LENGTH_REQUESTS`]).
    lengths_pending: usize,
}

/// A message stream's `play` arguments and buffer length.
#[derive(Debug, Clone, Copy)]
struct StreamArgs {
    stream_id: u32,
    /// Set Buffer Length, ms.
    buffer_ms: Option<u32>,
    /// The last `play`'s start and duration arguments.
    start: f64,
    duration: f64,
}

impl StreamArgs {
    fn new(stream_id: u32) -> StreamArgs {
        StreamArgs {
            stream_id,
            buffer_ms: None,
            start: -2.0,
            duration: -1.0,
        }
    }
}

/// Where `getStreamLength` lookups hand their answers back.
struct LengthChannel {
    tx: mpsc::UnboundedSender<(RequestId, f64)>,
    rx: mpsc::UnboundedReceiver<(RequestId, f64)>,
}

impl std::fmt::Debug for VodPlays {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VodPlays")
            .field("plays", &self.plays.len())
            .finish_non_exhaustive()
    }
}

impl Default for VodPlays {
    fn default() -> Self {
        VodPlays {
            wake: Arc::new(Notify::new()),
            plays: Vec::new(),
            streams: Vec::new(),
            lengths: None,
            lengths_pending: 0,
        }
    }
}

fn lead(settings: &VodSection, buffer_ms: Option<u32>) -> u32 {
    buffer_ms
        .unwrap_or(settings.default_buffer_ms)
        .min(settings.max_lead_ms)
        .saturating_add(settings.buffer_margin_ms)
}

impl VodPlays {
    /// Notified whenever a task has something for [`Self::pump`].
    pub fn wake(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }

    /// Wake `wake` instead when a reader task has something (before any play starts): a
    /// connection that already waits on a notification of its own shares it.
    pub fn set_wake(&mut self, wake: Arc<Notify>) {
        self.wake = wake;
    }

    /// A `play` arrived on `stream_id` (before its decision).
    pub fn note_play(&mut self, stream_id: u32, start: f64, duration: f64) {
        let entry = self.entry(stream_id);
        entry.start = start;
        entry.duration = duration;
        self.plays.retain(|p| p.stream_id != stream_id);
    }

    /// The start mode of the last `play` on `stream_id`.
    pub fn start_mode(&self, stream_id: u32) -> StartMode {
        StartMode::of(self.args(stream_id).start)
    }

    /// Start serving the allowed play `request` from `dir`: the answer (accept or
    /// StreamNotFound) goes out once the file is open.
    pub fn start(
        &mut self,
        settings: &VodSection,
        dir: PathBuf,
        request: RequestId,
        stream_id: u32,
        name: &str,
    ) {
        let StreamArgs {
            start,
            duration,
            buffer_ms,
            ..
        } = self.args(stream_id);
        let start_ms = match StartMode::of(start) {
            StartMode::Recorded(ms) => ms,
            _ => 0,
        };
        let stop_ms = (duration >= 0.0)
            .then(|| start_ms.saturating_add(duration.min(f64::from(u32::MAX)) as u32));
        let (tx, rx) = mpsc::channel(settings.read_ahead_batches);
        let (control, control_rx) = watch::channel(Control {
            clock: None,
            lead_ms: lead(settings, buffer_ms),
            seek_gen: 0,
            seek_ms: 0,
        });
        let task = Task {
            dir,
            name: name.to_owned(),
            start_ms,
            stop_ms,
            settings: settings.clone(),
            tx,
            control: control_rx,
            wake: Arc::clone(&self.wake),
        };
        let task = tokio::spawn(task.run());
        self.plays.retain(|p| p.stream_id != stream_id);
        self.plays.push(Play {
            stream_id,
            request: Some(request),
            name: name.to_owned(),
            rx,
            control,
            task,
            info: None,
            seeking: false,
            paused_at: None,
            start_ms,
            ts_offset: 0,
            aggregate: settings.aggregate,
            bytes: 0,
            frames: 0,
        });
    }

    /// Answer `getStreamLength` for `name` under `dir` with the file's duration (0 when there
    /// is no such file, or when [`MAX_LENGTH_REQUESTS`] lookups are already in progress).
    pub fn stream_length(
        &mut self,
        settings: &VodSection,
        session: &mut ServerSession,
        dir: PathBuf,
        request: RequestId,
        name: String,
    ) {
        if self.lengths_pending >= MAX_LENGTH_REQUESTS {
            let _ = session.respond_stream_length(request, 0.0);
            return;
        }
        self.lengths_pending += 1;
        let tx = self
            .lengths
            .get_or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                LengthChannel { tx, rx }
            })
            .tx
            .clone();
        let wake = Arc::clone(&self.wake);
        let settings = settings.clone();
        tokio::spawn(async move {
            let secs = reader::length_secs(dir, name, &settings).await;
            let _ = tx.send((request, secs));
            wake.notify_one();
        });
    }

    /// The stream name of the first play (for the connection's role in the API).
    pub fn first_name(&self) -> Option<&str> {
        self.plays.first().map(|p| p.name.as_str())
    }

    /// What is known of `stream_id` (a play without arguments: start -2, duration -1).
    fn args(&self, stream_id: u32) -> StreamArgs {
        self.streams
            .iter()
            .find(|a| a.stream_id == stream_id)
            .copied()
            .unwrap_or(StreamArgs::new(stream_id))
    }

    /// The entry of `stream_id`, made (evicting the oldest past [`MAX_STREAM_ENTRIES`]) if new.
    fn entry(&mut self, stream_id: u32) -> &mut StreamArgs {
        let i = match self.streams.iter().position(|a| a.stream_id == stream_id) {
            Some(i) => i,
            None => {
                if self.streams.len() >= MAX_STREAM_ENTRIES {
                    self.streams.remove(0);
                }
                // Exactly one more slot: most connections only ever have one entry.
                self.streams.reserve_exact(1);
                self.streams.push(StreamArgs::new(stream_id));
                self.streams.len() - 1
            }
        };
        &mut self.streams[i]
    }

    /// Whether `stream_id` is a VOD play (its seek, pause and buffer length are handled here).
    pub fn has(&self, stream_id: u32) -> bool {
        self.plays.iter().any(|p| p.stream_id == stream_id)
    }

    /// The player set its buffer length.
    pub fn set_buffer(&mut self, settings: &VodSection, stream_id: u32, buffer_ms: u32) {
        self.entry(stream_id).buffer_ms = Some(buffer_ms);
        if let Some(p) = self.plays.iter().find(|p| p.stream_id == stream_id) {
            let lead_ms = lead(settings, Some(buffer_ms));
            p.control.send_modify(|c| c.lead_ms = lead_ms);
        }
    }

    /// The player paused (the clock stops) or resumed (it goes on from where it stopped).
    pub fn pause(&mut self, stream_id: u32, paused: bool) {
        let Some(p) = self.plays.iter_mut().find(|p| p.stream_id == stream_id) else {
            return;
        };
        let now = Instant::now();
        if paused {
            if p.paused_at.is_none() {
                let at = p.control.borrow().clock.map(|c| c.now_ts(now));
                p.paused_at = at.or(Some(0));
                p.control.send_modify(|c| c.clock = None);
            }
        } else if let Some(at) = p.paused_at.take() {
            p.control.send_modify(|c| {
                c.clock = Some(Clock {
                    origin: now,
                    origin_ts: at,
                    seek_gen: c.seek_gen,
                })
            });
        }
        self.wake.notify_one();
    }

    /// The player asked to seek to `position_ms`.
    pub fn seek(&mut self, stream_id: u32, position_ms: f64) {
        let Some(p) = self.plays.iter_mut().find(|p| p.stream_id == stream_id) else {
            return;
        };
        let ms = if position_ms.is_finite() && position_ms > 0.0 {
            position_ms.min(f64::from(u32::MAX)) as u32
        } else {
            0
        };
        p.seeking = true;
        p.control.send_modify(|c| {
            c.seek_gen += 1;
            c.seek_ms = ms;
        });
    }

    /// The player stopped (closeStream, deleteStream, or a new play on the stream).
    pub fn stop(&mut self, stream_id: u32) -> Option<Ended> {
        let i = self.plays.iter().position(|p| p.stream_id == stream_id)?;
        let p = self.plays.remove(i);
        Some(Ended {
            started: p.info.is_some(),
            name: p.name.clone(),
        })
    }

    /// Carry out what the tasks handed over; gives the plays that ended.
    pub fn pump(&mut self, session: &mut ServerSession, conn: u64) -> Vec<Ended> {
        if let Some(ch) = &mut self.lengths {
            while let Ok((request, secs)) = ch.rx.try_recv() {
                self.lengths_pending = self.lengths_pending.saturating_sub(1);
                let _ = session.respond_stream_length(request, secs);
            }
        }
        let mut ended = Vec::new();
        let mut i = 0;
        while i < self.plays.len() {
            let done = pump_play(&mut self.plays[i], session, conn);
            if done {
                let p = self.plays.remove(i);
                ended.push(Ended {
                    started: p.info.is_some(),
                    name: p.name.clone(),
                });
            } else {
                i += 1;
            }
        }
        ended
    }
}

/// The `onMetaData` sent at the start: the file's own properties with its real duration.
fn metadata_body(info: &FlvFileInfo) -> Bytes {
    let mut md = info.metadata.clone().unwrap_or_default();
    md.remove("keyframes");
    md.insert("duration", f64::from(info.duration_ms) / 1000.0);
    amf0_encode_all(&[
        Amf0Value::String("onMetaData".into()),
        Amf0Value::EcmaArray(md),
    ])
}

/// Handles one play's messages; true when it is over.
fn pump_play(p: &mut Play, session: &mut ServerSession, conn: u64) -> bool {
    loop {
        if p.paused_at.is_some() && p.info.is_some() && !p.seeking {
            // Paused: what was read stays queued and goes out on resume.
            return false;
        }
        let out = match p.rx.try_recv() {
            Ok(out) => out,
            Err(mpsc::error::TryRecvError::Empty) => return false,
            Err(mpsc::error::TryRecvError::Disconnected) => {
                if let Some(request) = p.request.take() {
                    let _ = session.reject_play(
                        request,
                        sluice_rtmp::command::codes::PLAY_FAILED,
                        "VOD reader stopped",
                    );
                } else {
                    finish(p, session);
                }
                return true;
            }
        };
        match out {
            VodOut::Opened(Ok(info)) => {
                let Some(request) = p.request.take() else {
                    continue;
                };
                let Ok(stream_id) = session.accept_play_recorded(request) else {
                    // The client deleted the stream meanwhile.
                    return true;
                };
                info!(conn, stream = %p.name, duration_ms = info.duration_ms, seek_points = info.seek_points.len(), index = ?info.source, "VOD play");
                session.send_data(stream_id, Timestamp::ZERO, metadata_body(&info));
                // The clock starts at the first tag played: the seek point of the start time
                // (the reader plays from the first one the same way).
                let origin_ts = info.seek(p.start_ms).time_ms;
                if p.start_ms > info.seek_points.first().map_or(0, |k| k.time_ms) {
                    p.ts_offset = origin_ts;
                }
                p.info = Some(info);
                let start = p.control.borrow().clock.is_none() && p.paused_at.is_none();
                if start {
                    p.control.send_modify(|c| {
                        c.clock = Some(Clock {
                            origin: Instant::now(),
                            origin_ts,
                            seek_gen: 0,
                        })
                    });
                }
            }
            VodOut::Opened(Err((code, why))) => {
                warn!(conn, stream = %p.name, reason = %why, "VOD play refused");
                if let Some(request) = p.request.take() {
                    let _ = session.reject_play(request, code, &why);
                }
                return true;
            }
            VodOut::Media(tags) => {
                if p.seeking {
                    continue;
                }
                send_media(p, session, tags);
            }
            VodOut::Seeked { gen, ms } => {
                if gen != p.control.borrow().seek_gen {
                    continue;
                }
                p.seeking = false;
                p.ts_offset = 0;
                let _ = session.notify_seek(p.stream_id, ms);
                if p.paused_at.is_some() {
                    p.paused_at = Some(ms);
                } else {
                    p.control.send_modify(|c| {
                        c.clock = Some(Clock {
                            origin: Instant::now(),
                            origin_ts: ms,
                            seek_gen: gen,
                        })
                    });
                }
            }
            VodOut::End => {
                if p.seeking {
                    continue;
                }
                finish(p, session);
                return true;
            }
            VodOut::Failed(why) => {
                warn!(conn, stream = %p.name, reason = %why, "VOD read failed");
                finish(p, session);
                return true;
            }
        }
    }
}

fn send_media(p: &mut Play, session: &mut ServerSession, tags: Vec<sluice_flv::FlvTag>) {
    let msgs: Vec<RawMessage> = tags
        .into_iter()
        .map(|t| RawMessage {
            csid: 0,
            timestamp: Timestamp(t.timestamp.saturating_sub(p.ts_offset)),
            type_id: MessageType(t.tag_type.0),
            stream_id: p.stream_id,
            payload: t.data,
        })
        .collect();
    p.frames += msgs.len() as u64;
    p.bytes += msgs.iter().map(|m| m.payload.len() as u64).sum::<u64>();
    if p.aggregate {
        session.send_aggregate(p.stream_id, &msgs);
    } else {
        for m in &msgs {
            session.send_aggregate(p.stream_id, std::slice::from_ref(m));
        }
    }
}

fn finish(p: &Play, session: &mut ServerSession) {
    let secs = p
        .info
        .as_ref()
        .map_or(0.0, |i| f64::from(i.duration_ms) / 1000.0);
    let _ = session.finish_recorded(p.stream_id, secs, p.bytes, &p.name);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_modes() {
        assert_eq!(StartMode::of(-1.0), StartMode::LiveOnly);
        assert_eq!(StartMode::of(-1000.0), StartMode::LiveOnly);
        assert_eq!(StartMode::of(-2.0), StartMode::LiveOrRecorded);
        assert_eq!(StartMode::of(-2000.0), StartMode::LiveOrRecorded);
        assert_eq!(StartMode::of(f64::NAN), StartMode::LiveOrRecorded);
        assert_eq!(StartMode::of(0.0), StartMode::Recorded(0));
        assert_eq!(StartMode::of(10_000.0), StartMode::Recorded(10_000));
    }

    #[test]
    fn stream_arguments_are_kept_per_stream_and_bounded() {
        let mut v = VodPlays::default();
        assert_eq!(v.start_mode(1), StartMode::LiveOrRecorded);
        v.note_play(1, 5000.0, 2.0);
        v.set_buffer(&VodSection::default(), 1, 900);
        v.set_buffer(&VodSection::default(), 2, 300);
        assert_eq!(v.start_mode(1), StartMode::Recorded(5000));
        assert_eq!(v.start_mode(2), StartMode::LiveOrRecorded);
        let a = v.args(1);
        assert_eq!((a.start, a.duration, a.buffer_ms), (5000.0, 2.0, Some(900)));
        assert_eq!(v.args(2).buffer_ms, Some(300));
        // The peer names the ids: past the bound the oldest entries go.
        for id in 10..200 {
            v.note_play(id, -1.0, -1.0);
        }
        assert_eq!(v.streams.len(), MAX_STREAM_ENTRIES);
        assert_eq!(v.start_mode(1), StartMode::LiveOrRecorded);
        assert_eq!(v.start_mode(199), StartMode::LiveOnly);
        // No channel until a getStreamLength lookup.
        assert!(v.lengths.is_none());
    }

    #[test]
    fn lead_is_buffer_capped_plus_margin() {
        let s = VodSection::default();
        assert_eq!(lead(&s, None), 4000);
        assert_eq!(lead(&s, Some(36_000_000)), 61_000);
        assert_eq!(lead(&s, Some(100)), 1100);
    }
}
