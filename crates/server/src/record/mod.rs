//! Recording (DVR): a recorder is one more sink of the hub, like a player. It subscribes to a
//! stream, and writes what it receives to FLV ([`flv`]) or fragmented MP4 ([`mp4`]) files under
//! `[record] dir` (docs/RECORDING.md).
//!
//! **When.** [`Recorders::start`] is called when a publish is accepted (the driver's
//! `finish_publish`: `[record]` rules, the publisher's `record` / `append`, an `on_publish`
//! answer `{"record": true}`) or by `POST /api/v1/streams/{app}/{stream}/record`. A recording
//! ends when the publisher stops, on `DELETE` of the same path, or on an error.
//!
//! **Never slows anyone, never loses silently.** Two halves: a tokio task reads the
//! subscription (lock-free, no I/O, so it keeps up with the publisher) into a queue, and a
//! blocking thread writes the queue to disk. The queue is bounded by `queue_max_bytes`: if the
//! disk cannot keep up and the queue overflows, the recording stops with an error. The hub's
//! own slow-consumer policy would drop video for a reader that falls behind; a recorder that
//! sees a drop ([`PlayerEvent::Dropped`]) stops with an error too. Every failure (queue
//! overflow, drop, disk full, unwritable directory) is logged at `error`, shown in the API
//! (`recording.error` of the stream) and counted in `sluice_recordings_failed_total`; the live
//! stream and its players are not affected.
//!
//! **Files.** The path comes from the template (`{app}`, `{stream}`, `{date}`, `{time}`,
//! `{unix}`, `{ext}`); an existing file is never overwritten (a `-1`, `-2`... suffix is
//! added), except by `append`, which adds to it. Timestamps start at 0 in each file (appends
//! continue after the file's last one). Files are split at a keyframe once `max_duration_secs`
//! of media or `max_bytes` are written; each new file starts with the metadata and sequence
//! headers. When a file closes, retention runs ([`retention`]) and `on_record_done` is told.

pub mod config;
pub mod flv;
pub mod mp4;
pub mod retention;
pub mod writer;

use crate::hub::{MediaFrame, PeerInfo, PlayerEvent, Subscriber, SubscriberClosed};
use crate::Context;
use bytes::Bytes;
pub use config::{RecordFormat, RecordMode, RecordSection};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tracing::error;

/// Who asked for a recording (for the log and the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A `[record]` rule.
    Config,
    /// The publisher's `publish` type `record`.
    PublisherRecord,
    /// The publisher's `publish` type `append`.
    PublisherAppend,
    /// The `on_publish` hook's answer.
    Hook,
    /// `POST /api/v1/streams/{app}/{stream}/record`.
    Api,
}

impl Trigger {
    /// The name in the log and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Config => "config",
            Trigger::PublisherRecord => "publisher_record",
            Trigger::PublisherAppend => "publisher_append",
            Trigger::Hook => "hook",
            Trigger::Api => "api",
        }
    }
}

/// What to record and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartRequest {
    /// Who asked.
    pub trigger: Trigger,
    /// Which messages (never [`RecordMode::Off`]: that is treated as `All`).
    pub mode: RecordMode,
    /// The container.
    pub format: RecordFormat,
}

/// Why a recording could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// One is running for the stream already.
    #[error("{0} is being recorded already")]
    AlreadyRecording(String),
}

/// The state of a recording, as the API shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RecordingStatus {
    /// The file being written (or last written), relative to the working directory.
    pub path: String,
    /// Bytes written to all its files.
    pub bytes: u64,
    /// When it started (RFC 3339).
    pub since: String,
    /// `flv` or `mp4`.
    pub format: &'static str,
    /// `all`, `video`, `audio` or `keyframes`.
    pub mode: &'static str,
    /// Who asked (`config`, `publisher_record`, `publisher_append`, `hook`, `api`).
    pub trigger: &'static str,
    /// Files written (more than one after splits).
    pub files: u64,
    /// True while writing; false once it failed.
    pub active: bool,
    /// Why it stopped, when it failed.
    pub error: Option<String>,
}

/// One recording, shared by its reader task, its writer thread and the API.
#[derive(Debug)]
pub struct Recording {
    app: String,
    stream: String,
    req: StartRequest,
    since: SystemTime,
    /// Set to stop: by `DELETE`, or by the writer after a failure.
    stopping: AtomicBool,
    stop: tokio::sync::Notify,
    /// Payload bytes queued for the writer.
    queued: AtomicU64,
    bytes: AtomicU64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    path: String,
    files: u64,
    error: Option<String>,
    done: bool,
}

impl Recording {
    /// The status for the API.
    pub fn status(&self) -> RecordingStatus {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        RecordingStatus {
            path: st.path.clone(),
            bytes: self.bytes.load(Ordering::Relaxed),
            since: crate::http::api::rfc3339(self.since),
            format: self.req.format.ext(),
            mode: self.req.mode.as_str(),
            trigger: self.req.trigger.as_str(),
            files: st.files,
            active: st.error.is_none() && !st.done,
            error: st.error.clone(),
        }
    }

    /// Ask it to stop (the writer closes the file).
    pub fn request_stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.stop.notify_one();
    }

    fn failed(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .error
            .is_some()
    }
}

/// What the reader hands the writer.
#[derive(Debug)]
enum Item {
    Metadata(Bytes),
    Frame(MediaFrame),
    /// Close the file: the publisher stopped, `DELETE`, or shutdown.
    End,
}

/// The recordings of a server, by (app, stream).
#[derive(Debug, Default)]
pub struct Recorders {
    active: Mutex<HashMap<(String, String), Arc<Recording>>>,
    /// One retention sweep at a time.
    pub(crate) sweep: Mutex<()>,
}

impl Recorders {
    /// Start recording `app`/`stream` (it need not be live yet: the recorder waits for
    /// `Publish`). The subscription is made before this returns, so nothing the publisher
    /// sends after it is missed.
    pub fn start(
        &self,
        ctx: &Arc<Context>,
        app: &str,
        stream: &str,
        mut req: StartRequest,
    ) -> Result<Arc<Recording>, StartError> {
        if req.mode == RecordMode::Off {
            req.mode = RecordMode::All;
        }
        let key = (app.to_owned(), stream.to_owned());
        let rec = {
            let mut active = self.lock();
            if let Some(r) = active.get(&key) {
                if r.status().active {
                    return Err(StartError::AlreadyRecording(format!("{app}/{stream}")));
                }
            }
            let rec = Arc::new(Recording {
                app: app.to_owned(),
                stream: stream.to_owned(),
                req,
                since: SystemTime::now(),
                stopping: AtomicBool::new(false),
                stop: tokio::sync::Notify::new(),
                queued: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
                state: Mutex::new(State::default()),
            });
            active.insert(key, rec.clone());
            rec
        };
        let settings = ctx.live.load().settings.record.clone();
        let sub = ctx.hub.subscribe(app, stream, PeerInfo::new("recorder"));
        let (tx, rx) = mpsc::unbounded_channel();
        ctx.metrics.recording_started();
        tracing::info!(
            app,
            stream,
            trigger = req.trigger.as_str(),
            mode = req.mode.as_str(),
            format = req.format.ext(),
            "recording started"
        );
        tokio::spawn(read(
            sub,
            rec.clone(),
            tx,
            settings.queue_max_bytes.max(1),
            ctx.clone(),
        ));
        let w = writer::Writer::new(ctx.clone(), rec.clone(), settings);
        tokio::task::spawn_blocking(move || w.run(rx));
        Ok(rec)
    }

    /// Stop the recording of `app`/`stream`; its status, if there was one running.
    pub fn stop(&self, app: &str, stream: &str) -> Option<RecordingStatus> {
        let rec = self
            .lock()
            .get(&(app.to_owned(), stream.to_owned()))
            .cloned()?;
        let status = rec.status();
        if !status.active {
            return None;
        }
        rec.request_stop();
        Some(status)
    }

    /// The status of `app`/`stream`'s recording (running, or failed while the stream is live).
    pub fn status(&self, app: &str, stream: &str) -> Option<RecordingStatus> {
        self.lock()
            .get(&(app.to_owned(), stream.to_owned()))
            .map(|r| r.status())
    }

    /// Recordings being written.
    pub fn active_count(&self) -> usize {
        self.lock().values().filter(|r| r.status().active).count()
    }

    /// The publisher of `app`/`stream` left: forget a failed recording's status.
    pub fn forget_failed(&self, app: &str, stream: &str) {
        let mut active = self.lock();
        let key = (app.to_owned(), stream.to_owned());
        if active.get(&key).is_some_and(|r| r.failed()) {
            active.remove(&key);
        }
    }

    /// Wait (at most `timeout`) until every recording has closed its file (at shutdown).
    pub async fn wait_idle(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.active_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Paths of the files being written (retention leaves them alone).
    pub(crate) fn open_paths(&self) -> Vec<String> {
        self.lock()
            .values()
            .map(|r| {
                r.state
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .path
                    .clone()
            })
            .collect()
    }

    /// The writer finished: drop the entry unless it failed (the API shows the error until the
    /// publisher leaves) or a newer recording replaced it.
    fn finished(&self, rec: &Arc<Recording>) {
        let mut active = self.lock();
        let key = (rec.app.clone(), rec.stream.clone());
        if active.get(&key).is_some_and(|r| Arc::ptr_eq(r, rec)) && !rec.failed() {
            active.remove(&key);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Arc<Recording>>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Mark `rec` failed: log, metrics, status; the reader stops at its next turn.
fn fail(ctx: &Context, rec: &Recording, reason: &'static str, message: String) {
    {
        let mut st = rec.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.error.is_some() {
            return;
        }
        st.error = Some(message.clone());
    }
    error!(app = %rec.app, stream = %rec.stream, reason, error = %message, "recording failed");
    ctx.metrics.recording_failed(reason);
    rec.request_stop();
}

/// Whether `mode` keeps `f`.
fn keeps(mode: RecordMode, f: &MediaFrame) -> bool {
    use crate::hub::FrameKind;
    match mode {
        RecordMode::Off | RecordMode::All => true,
        RecordMode::Video => f.kind != FrameKind::Audio,
        RecordMode::Audio => f.kind != FrameKind::Video,
        RecordMode::Keyframes => {
            f.kind == FrameKind::Video && (f.is_sequence_header() || f.is_video_keyframe())
        }
    }
}

/// The reader half: subscription → queue. Never waits for the disk.
async fn read(
    mut sub: Subscriber,
    rec: Arc<Recording>,
    tx: mpsc::UnboundedSender<Item>,
    max_queued: u64,
    ctx: Arc<Context>,
) {
    let mut batch = Vec::with_capacity(64);
    let mut seen_publish = false;
    loop {
        if rec.stopping.load(Ordering::Acquire) {
            break;
        }
        batch.clear();
        tokio::select! {
            _ = rec.stop.notified() => break,
            r = sub.recv_batch(&mut batch) => {
                if let Err(e) = r {
                    if e == SubscriberClosed::TooSlow {
                        fail(&ctx, &rec, "too_slow", "the hub closed the recorder as too slow".into());
                    }
                    break;
                }
            }
        }
        let mut end = false;
        for ev in batch.drain(..) {
            let item = match ev {
                PlayerEvent::Publish => {
                    seen_publish = true;
                    continue;
                }
                PlayerEvent::Unpublish => {
                    if seen_publish {
                        end = true;
                        break;
                    }
                    continue;
                }
                PlayerEvent::Dropped { frames } => {
                    fail(
                        &ctx,
                        &rec,
                        "dropped",
                        format!("{frames} frames were dropped before the recorder read them"),
                    );
                    end = true;
                    break;
                }
                PlayerEvent::Metadata(m) => Item::Metadata(m),
                PlayerEvent::Frame(f) if keeps(rec.req.mode, &f) => Item::Frame(f),
                PlayerEvent::Frame(_) => continue,
            };
            let len = match &item {
                Item::Metadata(m) => m.len(),
                Item::Frame(f) => f.len(),
                Item::End => 0,
            } as u64;
            let queued = rec.queued.fetch_add(len, Ordering::AcqRel) + len;
            if queued > max_queued {
                fail(
                    &ctx,
                    &rec,
                    "queue_full",
                    format!(
                        "the disk did not keep up: {queued} bytes waiting (record.queue_max_bytes = {max_queued})"
                    ),
                );
                end = true;
                break;
            }
            if tx.send(item).is_err() {
                end = true; // the writer is gone (it failed)
                break;
            }
        }
        if end {
            break;
        }
    }
    let _ = tx.send(Item::End);
}
