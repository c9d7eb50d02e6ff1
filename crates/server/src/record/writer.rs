//! The writer half of a recording, on a blocking thread: the queue → files (opened on the first
//! frame, split at keyframes, closed at the end), with the timestamps re-based per file.

use super::config::expand;
use super::flv::FlvFile;
use super::mp4::{Mp4File, Written};
use super::{fail, Item, RecordFormat, RecordMode, RecordSection, Recording, Trigger};
use crate::hub::{FrameKind, MediaFrame};
use crate::Context;
use sluice_amf::{Amf0Object, Amf0Value};
use sluice_flv::TagType;
use sluice_mux::TrackKind;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::{info, warn};

/// What a file is written with.
#[derive(Debug)]
enum Sink {
    Flv(FlvFile),
    // The muxer's state is large; one per recording, so boxed.
    Mp4(Box<Mp4File>),
}

impl Sink {
    fn len(&self) -> u64 {
        match self {
            Sink::Flv(f) => f.len(),
            Sink::Mp4(m) => m.len(),
        }
    }
}

/// A closed file, for the `on_record_done` hook.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordDone {
    /// Application.
    pub app: String,
    /// Stream name.
    pub stream: String,
    /// The file.
    pub path: String,
    /// Media duration in seconds.
    pub duration: f64,
    /// Size in bytes.
    pub size: u64,
    /// `flv` or `mp4`.
    pub format: &'static str,
    /// The recording's error, when it stopped because of one.
    pub error: Option<String>,
}

pub(super) struct Writer {
    ctx: Arc<Context>,
    rec: Arc<Recording>,
    cfg: RecordSection,
    sink: Option<Sink>,
    path: PathBuf,
    /// The publisher's latest `onMetaData` properties.
    meta: Amf0Object,
    seq_video: Option<MediaFrame>,
    seq_audio: Option<MediaFrame>,
    /// RTMP timestamp that is 0 (plus `offset`) in the current file.
    base: Option<u32>,
    /// Added to every timestamp (an append continues after the file's last one).
    offset: u32,
    /// Last file timestamp written.
    last_ts: u32,
    /// File length already counted in the byte totals.
    counted: u64,
    files: u64,
    video_seen: bool,
}

impl Writer {
    pub(super) fn new(ctx: Arc<Context>, rec: Arc<Recording>, cfg: RecordSection) -> Writer {
        Writer {
            ctx,
            rec,
            cfg,
            sink: None,
            path: PathBuf::new(),
            meta: Amf0Object::new(),
            seq_video: None,
            seq_audio: None,
            base: None,
            offset: 0,
            last_ts: 0,
            counted: 0,
            files: 0,
            video_seen: false,
        }
    }

    /// Until the queue ends (`End`, or the reader gone): write, flush after each burst.
    pub(super) fn run(mut self, mut rx: mpsc::UnboundedReceiver<Item>) {
        let result = self.drain(&mut rx);
        if let Err(e) = result {
            let reason = if e.raw_os_error() == Some(28) {
                "disk_full"
            } else {
                "io"
            };
            let what = if self.path.as_os_str().is_empty() {
                self.cfg.dir.clone()
            } else {
                self.path.display().to_string()
            };
            fail(&self.ctx, &self.rec, reason, format!("{what}: {e}"));
        }
        if let Err(e) = self.close() {
            if !self.rec.failed() {
                fail(
                    &self.ctx,
                    &self.rec,
                    "io",
                    format!("{}: closing: {e}", self.path.display()),
                );
            }
        }
        self.rec
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .done = true;
        self.ctx.recorders.finished(&self.rec);
        self.ctx.metrics.recording_ended();
        info!(app = %self.rec.app, stream = %self.rec.stream, files = self.files, bytes = self.rec.bytes.load(Ordering::Relaxed), "recording stopped");
    }

    fn drain(&mut self, rx: &mut mpsc::UnboundedReceiver<Item>) -> io::Result<()> {
        while let Some(mut item) = rx.blocking_recv() {
            loop {
                if matches!(item, Item::End) || self.rec.failed() {
                    return Ok(());
                }
                let len = match &item {
                    Item::Metadata(m) => m.len(),
                    Item::Frame(f) => f.len(),
                    Item::End => 0,
                } as u64;
                self.handle(item)?;
                self.rec.queued.fetch_sub(len, Ordering::AcqRel);
                match rx.try_recv() {
                    Ok(next) => item = next,
                    Err(_) => break,
                }
            }
            if let Some(s) = &mut self.sink {
                match s {
                    Sink::Flv(f) => f.flush()?,
                    Sink::Mp4(m) => m.flush()?,
                }
            }
            self.count_bytes();
        }
        Ok(())
    }

    fn count_bytes(&mut self) {
        let Some(len) = self.sink.as_ref().map(Sink::len) else {
            return;
        };
        let delta = len.saturating_sub(self.counted);
        self.counted = len;
        self.rec.bytes.fetch_add(delta, Ordering::Relaxed);
        self.ctx.metrics.record_bytes(delta);
    }

    fn handle(&mut self, item: Item) -> io::Result<()> {
        match item {
            Item::Metadata(m) => {
                if let Ok(sd) = sluice_flv::parse_script(&m) {
                    if let Some(o) = sd.metadata() {
                        self.meta = o.clone();
                    }
                }
                if let Some(Sink::Flv(f)) = &mut self.sink {
                    let ts = self.last_ts;
                    f.write_tag(TagType::SCRIPT, ts, &m, false)?;
                    f.set_publisher_meta(self.meta.clone());
                }
                Ok(())
            }
            Item::Frame(f) => self.frame(f),
            Item::End => Ok(()),
        }
    }

    fn frame(&mut self, f: MediaFrame) -> io::Result<()> {
        if f.kind == FrameKind::Video {
            self.video_seen = true;
        }
        if f.is_sequence_header() {
            let changed = match f.kind {
                FrameKind::Video => self.seq_video.as_ref().map(|s| &s.payload),
                _ => self.seq_audio.as_ref().map(|s| &s.payload),
            }
            .is_some_and(|old| *old != f.payload);
            match f.kind {
                FrameKind::Video => self.seq_video = Some(f.clone()),
                _ => self.seq_audio = Some(f.clone()),
            }
            // One MP4 file holds one init segment: a codec change starts the next file.
            if changed && matches!(self.sink, Some(Sink::Mp4(_))) {
                return self.rotate();
            }
        }
        if self.sink.is_none() {
            self.open(true, &f)?;
        } else if self.split_due(&f) {
            self.rotate()?;
        }
        self.write(&f)
    }

    /// A new file is due before `f`: limits reached and `f` starts a GOP (or the stream has
    /// no video and `f` is audio).
    fn split_due(&self, f: &MediaFrame) -> bool {
        let at_cut = seekable(f)
            || (!self.video_seen && f.kind == FrameKind::Audio && !f.is_sequence_header());
        if !at_cut {
            return false;
        }
        let len = self.sink.as_ref().map_or(0, Sink::len);
        let secs = u64::from(self.file_ts(f.timestamp).saturating_sub(self.offset)) / 1000;
        (self.cfg.max_duration_secs > 0 && secs >= self.cfg.max_duration_secs)
            || (self.cfg.max_bytes > 0 && len >= self.cfg.max_bytes)
    }

    fn file_ts(&self, ts: u32) -> u32 {
        match self.base {
            None => self.offset,
            Some(b) => self
                .offset
                .wrapping_add((ts.wrapping_sub(b) as i32).max(0) as u32),
        }
    }

    fn write(&mut self, f: &MediaFrame) -> io::Result<()> {
        if self.base.is_none() && !f.is_sequence_header() {
            self.base = Some(f.timestamp);
        }
        let ts = self.file_ts(f.timestamp);
        self.last_ts = self.last_ts.max(ts);
        match &mut self.sink {
            Some(Sink::Flv(file)) => {
                let tag_type = match f.kind {
                    FrameKind::Audio => TagType::AUDIO,
                    FrameKind::Video => TagType::VIDEO,
                    FrameKind::Data => TagType::SCRIPT,
                };
                file.write_tag(tag_type, ts, &f.payload, seekable(f))
            }
            Some(Sink::Mp4(m)) => {
                let kind = match f.kind {
                    FrameKind::Audio => TrackKind::Audio,
                    FrameKind::Video => TrackKind::Video,
                    // fMP4 has no place for script data.
                    FrameKind::Data => return Ok(()),
                };
                if m.write(kind, f.timestamp, &f.payload)? == Written::NewInit {
                    warn!(path = %self.path.display(), "codec changed without a new sequence header; the MP4 keeps the first init segment");
                }
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Close the current file and open the next, starting with the sequence headers.
    fn rotate(&mut self) -> io::Result<()> {
        self.count_bytes();
        self.close()?;
        self.base = None;
        self.offset = 0;
        self.last_ts = 0;
        let first = self.seq_video.clone().or_else(|| self.seq_audio.clone());
        let Some(first) = first else {
            return Ok(()); // opened by the next frame
        };
        self.open(false, &first)?;
        let is_mp4 = matches!(self.sink, Some(Sink::Mp4(_)));
        if !is_mp4 {
            for sh in [self.seq_video.clone(), self.seq_audio.clone()]
                .into_iter()
                .flatten()
            {
                self.write(&sh)?;
            }
        }
        Ok(())
    }

    /// Open the next file. `first`: the recording's first (the one an `append` adds to).
    fn open(&mut self, first: bool, f: &MediaFrame) -> io::Result<()> {
        let format = self.rec.req.format;
        let append = first
            && self.rec.req.trigger == Trigger::PublisherAppend
            && format == RecordFormat::Flv;
        let template = if append {
            &self.cfg.append_path
        } else {
            &self.cfg.path
        };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let rel = expand(
            template,
            &self.rec.app,
            &self.rec.stream,
            format.ext(),
            now_ms,
        );
        let mut path = Path::new(&self.cfg.dir).join(rel);
        self.path = path.clone();
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let entries = self.cfg.index_entries;
        let mut sink = None;
        if append {
            if let Some(file) = FlvFile::append(&path, entries)? {
                if file.len() > super::flv::META_TAG_POS {
                    self.offset = file.last_ts().saturating_add(1);
                }
                sink = Some(Sink::Flv(file));
            }
        } else {
            path = unique(path);
        }
        let sink = match sink {
            Some(s) => s,
            None => match format {
                RecordFormat::Flv => {
                    let (audio, video) = self.tracks(f);
                    Sink::Flv(FlvFile::create(
                        &path,
                        self.meta.clone(),
                        audio,
                        video,
                        entries,
                    )?)
                }
                RecordFormat::Mp4 => {
                    let configs: Vec<_> = [
                        (TrackKind::Video, &self.seq_video),
                        (TrackKind::Audio, &self.seq_audio),
                    ]
                    .into_iter()
                    .filter_map(|(k, s)| {
                        let s = s.as_ref()?;
                        Mp4File::config_of(k, s.timestamp, &s.payload)
                    })
                    .collect();
                    Sink::Mp4(Box::new(Mp4File::create(&path, &configs)?))
                }
            },
        };
        self.counted = sink.len();
        self.rec.bytes.fetch_add(self.counted, Ordering::Relaxed);
        self.ctx.metrics.record_bytes(self.counted);
        self.sink = Some(sink);
        self.path = path;
        self.files += 1;
        {
            let mut st = self.rec.state.lock().unwrap_or_else(|e| e.into_inner());
            st.path = self.path.display().to_string();
            st.files = self.files;
        }
        info!(app = %self.rec.app, stream = %self.rec.stream, path = %self.path.display(), append, "recording file opened");
        Ok(())
    }

    /// Which tracks the FLV header announces: what the metadata and the headers so far say,
    /// limited by the mode (the flags are corrected when the file closes).
    fn tracks(&self, f: &MediaFrame) -> (bool, bool) {
        let says = |codec: &str, has: &str| {
            self.meta.get(codec).is_some()
                || matches!(self.meta.get(has), Some(Amf0Value::Boolean(true)))
        };
        let mut audio = says("audiocodecid", "hasAudio")
            || self.seq_audio.is_some()
            || f.kind == FrameKind::Audio;
        let mut video = says("videocodecid", "hasVideo")
            || self.seq_video.is_some()
            || f.kind == FrameKind::Video;
        match self.rec.req.mode {
            RecordMode::Video | RecordMode::Keyframes => audio = false,
            RecordMode::Audio => video = false,
            RecordMode::All | RecordMode::Off => {}
        }
        (audio, video)
    }

    /// Finish the current file: final metadata, sync, retention, `on_record_done`.
    fn close(&mut self) -> io::Result<()> {
        let Some(sink) = self.sink.take() else {
            return Ok(());
        };
        let path = self.path.display().to_string();
        let (duration_ms, size) = match sink {
            Sink::Flv(f) => {
                let (summary, index) = f.finish()?;
                if !index {
                    warn!(path, "the keyframe index did not fit the room reserved for it; the file keeps its first onMetaData");
                }
                (summary.duration_ms, summary.filesize)
            }
            Sink::Mp4(m) => {
                let d = m.finish()?;
                (d, std::fs::metadata(&self.path).map_or(0, |m| m.len()))
            }
        };
        let grew = size.saturating_sub(self.counted);
        self.rec.bytes.fetch_add(grew, Ordering::Relaxed);
        self.ctx.metrics.record_bytes(grew);
        self.counted = 0;
        let duration = f64::from(duration_ms) / 1000.0;
        info!(app = %self.rec.app, stream = %self.rec.stream, path, duration, size, "recording file closed");
        super::retention::after_close(&self.ctx, &self.cfg);
        let error = self
            .rec
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .error
            .clone();
        self.ctx.app.load().record_done(RecordDone {
            app: self.rec.app.clone(),
            stream: self.rec.stream.clone(),
            path,
            duration,
            size,
            format: self.rec.req.format.ext(),
            error,
        });
        Ok(())
    }
}

/// A video keyframe a decoder can start at (not an end of sequence or a command frame, which
/// carry the keyframe type too).
fn seekable(f: &MediaFrame) -> bool {
    if !f.is_video_keyframe() {
        return false;
    }
    let info = sluice_flv::classify_video(&f.payload);
    !info.is_sequence_end && !info.is_command
}

/// `path`, or `name-1.ext`, `name-2.ext`... if it exists.
fn unique(path: PathBuf) -> PathBuf {
    if !path.exists() {
        return path;
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let mut i = 1u64;
    loop {
        let p = path.with_file_name(format!("{stem}-{i}{ext}"));
        if !p.exists() {
            return p;
        }
        i += 1;
    }
}
