//! The file side of one VOD play: a task that opens the file ([`sluice_flv::FlvOpener`] over
//! positional tokio reads; MP4 through [`super::mp4`]), then reads tags from the seek point ([`sluice_flv::FlvTagStream`])
//! and hands them to the connection in batches, paced by the play clock the connection keeps
//! (media goes out `lead` ms ahead of it: the player's buffer plus a margin). Read-ahead is
//! bounded: one read buffer and `read_ahead_batches` batches waiting in the channel.

use super::config::VodSection;
use super::lookup::{self, Container};
use bytes::BytesMut;
use sluice_flv::{
    classify_audio, classify_video, FlvFileInfo, FlvIndexLimits, FlvOpener, FlvTag, FlvTagStream,
    TagType,
};
use sluice_rtmp::command::codes;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;

/// Most script and sequence header tags read from the start of a file to find the sequence
/// headers sent before media from a seek point.
const MAX_PRELUDE_TAGS: usize = 16;

/// The play clock: media time `origin_ts` was at `origin`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Clock {
    pub origin: Instant,
    pub origin_ts: u32,
    /// The seek this clock belongs to (0: the play's start).
    pub seek_gen: u64,
}

impl Clock {
    /// Media time now.
    pub fn now_ts(&self, now: Instant) -> u32 {
        let run = now.saturating_duration_since(self.origin).as_millis();
        self.origin_ts
            .saturating_add(u32::try_from(run).unwrap_or(u32::MAX))
    }

    /// When the tag at `ts` is due, `lead_ms` ahead of the clock.
    fn due(&self, ts: u32, lead_ms: u32) -> Instant {
        let ahead = ts.saturating_sub(self.origin_ts).saturating_sub(lead_ms);
        self.origin + Duration::from_millis(u64::from(ahead))
    }
}

/// What the connection tells the task.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Control {
    /// `None` before the play is accepted and while paused.
    pub clock: Option<Clock>,
    /// How far ahead of the clock media is sent, ms.
    pub lead_ms: u32,
    /// Bumped by every seek.
    pub seek_gen: u64,
    /// The time asked by the last seek, ms.
    pub seek_ms: u32,
}

/// What the task tells the connection.
#[derive(Debug)]
pub(crate) enum VodOut {
    /// The file is open (or why not: the onStatus code and a description).
    Opened(Result<Arc<FlvFileInfo>, (&'static str, String)>),
    /// Tags to send, in order.
    Media(Vec<FlvTag>),
    /// The seek numbered `gen` starts at the keyframe at `ms`; media before this is stale.
    Seeked { gen: u64, ms: u32 },
    /// Every tag was sent (or the play's duration is over).
    End,
    /// Reading failed mid-play.
    Failed(String),
}

/// One play's task settings.
pub(crate) struct Task {
    /// The VOD directory and the stream name looked up in it.
    pub dir: PathBuf,
    pub name: String,
    pub start_ms: u32,
    /// Stop after this media time (from `play`'s duration).
    pub stop_ms: Option<u32>,
    pub settings: VodSection,
    pub tx: mpsc::Sender<VodOut>,
    pub control: watch::Receiver<Control>,
    pub wake: Arc<Notify>,
}

/// The file `name` stands for under `dir` (see [`super::lookup`]), or the onStatus code and
/// description of a refusal.
pub(crate) async fn find(
    dir: PathBuf,
    name: String,
) -> Result<(PathBuf, Container), (&'static str, String)> {
    let found = tokio::task::spawn_blocking(move || lookup::resolve(&dir, &name))
        .await
        .map_err(|e| (codes::PLAY_FAILED, e.to_string()))?;
    found.map_err(|e| (codes::PLAY_STREAM_NOT_FOUND, e.to_string()))
}

/// A file's tags, FLV or MP4.
pub(crate) enum Source {
    Flv(Tags),
    Mp4(super::mp4::Mp4Tags),
}

impl Source {
    fn reset(&mut self, pos: u64) {
        match self {
            Source::Flv(t) => t.reset(pos),
            Source::Mp4(t) => t.reset(pos),
        }
    }

    async fn next(&mut self) -> Result<Option<FlvTag>, String> {
        match self {
            Source::Flv(t) => t.next().await,
            Source::Mp4(t) => t.next().await,
        }
    }
}

/// Opens the file found for a play: its tags, description and sequence headers (sent again
/// before media from a seek point; for MP4 also at the start, where FLV has them inline).
pub(crate) async fn open_source(
    path: &PathBuf,
    container: Container,
    settings: &VodSection,
) -> Result<(Source, FlvFileInfo, Vec<FlvTag>), String> {
    if container == Container::Mp4 {
        let (tags, info) = super::mp4::open(path, settings.max_tag_size).await?;
        let headers = tags.headers();
        return Ok((Source::Mp4(tags), info, headers));
    }
    let (file, info) = open_info(path).await?;
    let mut tags = Tags {
        file,
        stream: FlvTagStream::new(info.data_start, info.end, settings.max_tag_size),
        buf: BytesMut::new(),
        scratch: Vec::new(),
        end: info.end,
        max_tag_size: settings.max_tag_size,
        read_size: settings.read_size,
        eof: false,
    };
    let mut prelude = Vec::new();
    for _ in 0..MAX_PRELUDE_TAGS {
        match tags.next().await {
            Ok(Some(t)) if is_sequence_header(&t) => prelude.push(t),
            Ok(Some(t)) if t.tag_type == TagType::SCRIPT => {}
            _ => break,
        }
    }
    Ok((Source::Flv(tags), info, prelude))
}

/// The duration of the file `name` stands for under `dir`, seconds (0 when there is none).
pub(crate) async fn length_secs(dir: PathBuf, name: String, settings: &VodSection) -> f64 {
    match find(dir, name).await {
        Ok((path, container)) => open_source(&path, container, settings)
            .await
            .map_or(0.0, |(_, info, _)| f64::from(info.duration_ms) / 1000.0),
        Err(_) => 0.0,
    }
}

/// Opens `path` and gives its description (for `getStreamLength`, and the start of a play).
pub(crate) async fn open_info(path: &PathBuf) -> Result<(File, FlvFileInfo), String> {
    let mut file = File::open(path).await.map_err(|e| e.to_string())?;
    let size = file.metadata().await.map_err(|e| e.to_string())?.len();
    let mut opener = FlvOpener::new(size, FlvIndexLimits::default());
    let mut buf = Vec::new();
    while let Some(r) = opener.poll_read() {
        read_at(&mut file, r.pos, r.len, &mut buf)
            .await
            .map_err(|e| e.to_string())?;
        opener.handle_read(r.pos, &buf).map_err(|e| e.to_string())?;
    }
    let info = opener.finish().map_err(|e| e.to_string())?;
    Ok((file, info))
}

/// Reads up to `len` bytes at `pos` into `buf` (fewer only at the end of the file).
pub(crate) async fn read_at(
    file: &mut File,
    pos: u64,
    len: usize,
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    buf.clear();
    buf.resize(len, 0);
    file.seek(std::io::SeekFrom::Start(pos)).await?;
    let mut got = 0;
    while got < len {
        let n = file.read(&mut buf[got..]).await?;
        if n == 0 {
            break;
        }
        got += n;
    }
    buf.truncate(got);
    Ok(())
}

/// Tags of an FLV file from a position, read `read_size` bytes at a time.
pub(crate) struct Tags {
    file: File,
    stream: FlvTagStream,
    buf: BytesMut,
    scratch: Vec<u8>,
    end: u64,
    max_tag_size: u32,
    read_size: usize,
    eof: bool,
}

impl Tags {
    fn reset(&mut self, pos: u64) {
        self.stream = FlvTagStream::new(pos, self.end, self.max_tag_size);
        self.buf.clear();
        self.eof = false;
    }

    async fn next(&mut self) -> Result<Option<FlvTag>, String> {
        loop {
            if let Some(t) = self
                .stream
                .decode(&mut self.buf)
                .map_err(|e| e.to_string())?
            {
                return Ok(Some(t));
            }
            if self.stream.is_done() || self.eof {
                return Ok(None);
            }
            let at = self.stream.position() + self.buf.len() as u64;
            read_at(&mut self.file, at, self.read_size, &mut self.scratch)
                .await
                .map_err(|e| e.to_string())?;
            self.eof = self.scratch.is_empty();
            self.buf.extend_from_slice(&self.scratch);
        }
    }
}

fn is_sequence_header(t: &FlvTag) -> bool {
    match t.tag_type {
        TagType::VIDEO => classify_video(&t.data).is_sequence_header,
        TagType::AUDIO => classify_audio(&t.data).is_sequence_header,
        _ => false,
    }
}

fn is_on_metadata(t: &FlvTag) -> bool {
    t.tag_type == TagType::SCRIPT
        && sluice_flv::parse_script(&t.data)
            .map(|s| s.unwrap_set_data_frame().name == sluice_flv::script::ON_META_DATA)
            .unwrap_or(false)
}

impl Task {
    async fn send(&self, out: VodOut) -> bool {
        let ok = self.tx.send(out).await.is_ok();
        self.wake.notify_one();
        ok
    }

    /// Runs the play to its end (or until the connection drops it).
    pub async fn run(mut self) {
        let opened = match find(self.dir.clone(), self.name.clone()).await {
            Ok((path, container)) => open_source(&path, container, &self.settings)
                .await
                .map_err(|e| (codes::PLAY_FAILED, format!("{}: {e}", self.name))),
            Err(e) => Err(e),
        };
        let (mut tags, info, prelude) = match opened {
            Ok(x) => x,
            Err(e) => {
                self.send(VodOut::Opened(Err(e))).await;
                return;
            }
        };
        let inline_headers = matches!(tags, Source::Flv(_));
        let info = Arc::new(info);
        if !self.send(VodOut::Opened(Ok(Arc::clone(&info)))).await {
            return;
        }
        let first = info.seek_points.first().map_or(0, |p| p.time_ms);
        let start = if self.start_ms <= first {
            tags.reset(info.data_start);
            None
        } else {
            let p = info.seek(self.start_ms);
            tags.reset(p.pos);
            Some(p)
        };
        let mut pending: Vec<FlvTag> = if start.is_some() || !inline_headers {
            prelude.clone()
        } else {
            Vec::new()
        };
        let mut gen = 0u64;
        let mut peeked: Option<FlvTag> = None;
        let mut ended = false;
        loop {
            let c = self.control.borrow_and_update().clone();
            if c.seek_gen != gen {
                gen = c.seek_gen;
                let p = info.seek(c.seek_ms);
                tags.reset(p.pos);
                peeked = None;
                ended = false;
                // A seek plays to the end of the file.
                self.stop_ms = None;
                pending = prelude.clone();
                if !self.send(VodOut::Seeked { gen, ms: p.time_ms }).await {
                    return;
                }
                continue;
            }
            let clock = c.clock.filter(|k| k.seek_gen == gen);
            let (Some(clock), false) = (clock, ended) else {
                if self.control.changed().await.is_err() {
                    return;
                }
                continue;
            };
            if !pending.is_empty() {
                if !self.send(VodOut::Media(std::mem::take(&mut pending))).await {
                    return;
                }
                continue;
            }
            let tag = match peeked.take() {
                Some(t) => Some(t),
                None => match tags.next().await {
                    Ok(t) => t,
                    Err(e) => {
                        self.send(VodOut::Failed(e)).await;
                        return;
                    }
                },
            };
            let tag = tag.filter(|t| self.stop_ms.is_none_or(|s| t.timestamp <= s));
            let Some(tag) = tag else {
                ended = true;
                if !self.send(VodOut::End).await {
                    return;
                }
                continue;
            };
            let due = clock.due(tag.timestamp, c.lead_ms);
            if due > Instant::now() {
                peeked = Some(tag);
                tokio::select! {
                    _ = tokio::time::sleep_until(due) => {}
                    r = self.control.changed() => if r.is_err() { return; }
                }
                continue;
            }
            let batch = match self.batch(tag, &mut tags, &clock, c.lead_ms).await {
                Ok((batch, next)) => {
                    peeked = next;
                    batch
                }
                Err(e) => {
                    self.send(VodOut::Failed(e)).await;
                    return;
                }
            };
            if !batch.is_empty() && !self.send(VodOut::Media(batch)).await {
                return;
            }
        }
    }

    /// `first` and the tags after it due within the aggregate window, up to
    /// `aggregate_max_bytes` (one tag when aggregates are off); also the tag read past them.
    async fn batch(
        &self,
        first: FlvTag,
        tags: &mut Source,
        clock: &Clock,
        lead_ms: u32,
    ) -> Result<(Vec<FlvTag>, Option<FlvTag>), String> {
        let s = &self.settings;
        let mut bytes = first.data.len();
        let mut batch = Vec::new();
        if !is_on_metadata(&first) {
            batch.push(first);
        }
        if !s.aggregate {
            return Ok((batch, None));
        }
        let horizon = Instant::now() + Duration::from_millis(u64::from(s.aggregate_window_ms));
        while let Some(t) = tags.next().await? {
            let late = self.stop_ms.is_some_and(|stop| t.timestamp > stop);
            let over = bytes + t.data.len() + 15 > s.aggregate_max_bytes;
            if late || over || clock.due(t.timestamp, lead_ms) > horizon {
                return Ok((batch, Some(t)));
            }
            bytes += t.data.len() + 15;
            if !is_on_metadata(&t) {
                batch.push(t);
            }
        }
        Ok((batch, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_due_and_now() {
        let origin = Instant::now();
        let c = Clock {
            origin,
            origin_ts: 10_000,
            seek_gen: 0,
        };
        // Within the lead: due at once; beyond it, when the clock gets to ts - lead.
        assert_eq!(c.due(12_000, 4000), origin);
        assert_eq!(c.due(15_000, 4000), origin + Duration::from_secs(1));
        assert_eq!(c.due(5_000, 0), origin);
        assert_eq!(c.now_ts(origin + Duration::from_millis(250)), 10_250);
    }
}
