//! Writing a played stream as an FLV file (FLV v10.1 Annex E) that players and ffprobe accept
//! from its first byte:
//!
//! - the header's audio/video flags say what actually arrived, so the start of the stream is
//!   held back ([`MAX_HOLD_TAGS`], [`MAX_HOLD_BYTES`], [`MAX_HOLD_SPAN_MS`]) until the tracks
//!   and their sequence headers are known;
//! - the `onMetaData` script tag comes first, then the sequence headers, then frames; video
//!   frames before the first keyframe are dropped (nothing can decode them);
//! - timestamps are re-based so the first frame is at 0 (RTMP timestamps are serial numbers,
//!   RTMP 1.0 §5.3.1; anything before the base is written at 0).

use bytes::Bytes;
use sluice_amf::Amf0Object;
use sluice_flv::{
    classify_audio, classify_video, AudioCodec, FlvHeader, FlvTag, FlvWriter, TagType, VideoCodec,
};
use sluice_rtmp::Timestamp;
use std::io::Write;

/// Most messages held back while waiting for the tracks to be known.
pub const MAX_HOLD_TAGS: usize = 1000;
/// Most payload bytes held back while waiting for the tracks to be known.
pub const MAX_HOLD_BYTES: usize = 32 * 1024 * 1024;
/// Most media time (ms) held back while waiting for the tracks to be known.
pub const MAX_HOLD_SPAN_MS: u32 = 3000;
/// Media time (ms) to wait for a second track when metadata does not say which tracks exist.
pub const WAIT_SECOND_TRACK_MS: u32 = 1000;

/// The kind of a recorded message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Audio tag.
    Audio,
    /// Video tag.
    Video,
}

/// What has been written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecorderStats {
    /// Video tags written (sequence headers included).
    pub video: u64,
    /// Audio tags written (sequence headers included).
    pub audio: u64,
    /// Video keyframes written.
    pub keyframes: u64,
    /// Messages dropped (video before the first keyframe).
    pub dropped: u64,
    /// Bytes written to the file.
    pub bytes: u64,
    /// Largest timestamp written (ms, after re-basing).
    pub last_ts: u32,
}

#[derive(Debug)]
struct Held {
    kind: Kind,
    ts: Timestamp,
    data: Bytes,
    config: bool,
}

fn video_needs_config(c: VideoCodec) -> bool {
    matches!(
        c,
        VideoCodec::Avc | VideoCodec::Hevc | VideoCodec::Av1 | VideoCodec::Vp9 | VideoCodec::Vp8
    )
}

fn audio_needs_config(c: AudioCodec) -> bool {
    matches!(c, AudioCodec::Aac | AudioCodec::Opus | AudioCodec::Flac)
}

/// Which tracks the metadata announces (`None`: it does not say).
fn announced(md: &Amf0Object, has: &str, codec: &str) -> Option<bool> {
    if let Some(b) = md.get(has).and_then(|v| v.as_bool()) {
        return Some(b);
    }
    md.get(codec).map(|_| true)
}

/// An FLV writer for a live stream. See the module docs.
#[derive(Debug)]
pub struct FlvRecorder<W: Write> {
    sink: Option<W>,
    writer: Option<FlvWriter<W>>,
    held: Vec<Held>,
    held_bytes: usize,
    metadata: Option<Bytes>,
    expect_video: Option<bool>,
    expect_audio: Option<bool>,
    video_codec: Option<VideoCodec>,
    audio_codec: Option<AudioCodec>,
    video_config: bool,
    audio_config: bool,
    key_seen: bool,
    base: Option<Timestamp>,
    stats: RecorderStats,
}

impl<W: Write> FlvRecorder<W> {
    /// A recorder writing to `sink` (nothing is written until the tracks are known).
    pub fn new(sink: W) -> Self {
        FlvRecorder {
            sink: Some(sink),
            writer: None,
            held: Vec::new(),
            held_bytes: 0,
            metadata: None,
            expect_video: None,
            expect_audio: None,
            video_codec: None,
            audio_codec: None,
            video_config: false,
            audio_config: false,
            key_seen: false,
            base: None,
            stats: RecorderStats::default(),
        }
    }

    /// What has been written so far.
    pub fn stats(&self) -> RecorderStats {
        self.stats
    }

    /// Whether the header has been written (the tracks are decided).
    #[cfg(test)]
    pub fn started(&self) -> bool {
        self.writer.is_some()
    }

    /// Record `onMetaData` (`body` = `"onMetaData"` + properties, as in a script tag).
    pub fn push_metadata(
        &mut self,
        properties: &Amf0Object,
        body: Bytes,
    ) -> Result<(), sluice_flv::FlvError> {
        if self.writer.is_none() {
            self.expect_video = announced(properties, "hasVideo", "videocodecid");
            self.expect_audio = announced(properties, "hasAudio", "audiocodecid");
            self.metadata = Some(body);
            return self.maybe_start();
        }
        let ts = self.stats.last_ts;
        self.write(TagType::SCRIPT, ts, body)
    }

    /// Record an audio or video message.
    pub fn push(
        &mut self,
        kind: Kind,
        ts: Timestamp,
        data: Bytes,
    ) -> Result<(), sluice_flv::FlvError> {
        let config = match kind {
            Kind::Video => {
                let i = classify_video(&data);
                self.video_codec.get_or_insert(i.codec);
                i.is_sequence_header
            }
            Kind::Audio => {
                let i = classify_audio(&data);
                self.audio_codec.get_or_insert(i.codec);
                i.is_sequence_header
            }
        };
        if self.writer.is_some() {
            return self.write_media(kind, ts, data, config);
        }
        match (kind, config) {
            (Kind::Video, true) => self.video_config = true,
            (Kind::Audio, true) => self.audio_config = true,
            _ => {}
        }
        self.held_bytes += data.len();
        self.held.push(Held {
            kind,
            ts,
            data,
            config,
        });
        self.maybe_start()
    }

    /// Write whatever is held and flush; returns the sink.
    pub fn finish(mut self) -> Result<(W, RecorderStats), sluice_flv::FlvError> {
        if self.writer.is_none() {
            self.start()?;
        }
        let mut w = self
            .writer
            .take()
            .ok_or(sluice_flv::FlvError::UnexpectedEof { buffered: 0 })?;
        w.flush()?;
        Ok((w.into_inner(), self.stats))
    }

    /// Flush the sink.
    pub fn flush(&mut self) -> Result<(), sluice_flv::FlvError> {
        match &mut self.writer {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }

    fn track_ready(present: bool, config: bool, needs: bool) -> bool {
        !present || config || !needs
    }

    fn maybe_start(&mut self) -> Result<(), sluice_flv::FlvError> {
        let seen_video = self.video_codec.is_some();
        let seen_audio = self.audio_codec.is_some();
        let video_present = seen_video || self.expect_video == Some(true);
        let audio_present = seen_audio || self.expect_audio == Some(true);
        let video_ok = Self::track_ready(
            video_present,
            self.video_config,
            self.video_codec.is_none_or(video_needs_config),
        ) && (!video_present || seen_video);
        let audio_ok = Self::track_ready(
            audio_present,
            self.audio_config,
            self.audio_codec.is_none_or(audio_needs_config),
        ) && (!audio_present || seen_audio);
        // Something decodable to start with: audio, or a video keyframe.
        let has_frame = self
            .held
            .iter()
            .any(|h| !h.config && (h.kind == Kind::Audio || classify_video(&h.data).is_keyframe));
        let span = self.held_span();
        let known = (self.expect_video.is_some() && self.expect_audio.is_some())
            || (seen_video && seen_audio)
            || span >= WAIT_SECOND_TRACK_MS;
        let ready = video_ok && audio_ok && has_frame && known;
        let full = self.held.len() >= MAX_HOLD_TAGS
            || self.held_bytes >= MAX_HOLD_BYTES
            || span >= MAX_HOLD_SPAN_MS;
        if ready || full {
            self.start()?;
        }
        Ok(())
    }

    fn held_span(&self) -> u32 {
        let mut it = self.held.iter().map(|h| h.ts);
        let Some(first) = it.next() else { return 0 };
        let (mut lo, mut hi) = (first, first);
        for t in it {
            lo = lo.min(t);
            hi = hi.max(t);
        }
        hi.delta_since(lo)
    }

    fn start(&mut self) -> Result<(), sluice_flv::FlvError> {
        let Some(sink) = self.sink.take() else {
            return Ok(());
        };
        let held = std::mem::take(&mut self.held);
        self.held_bytes = 0;
        let has_video = held.iter().any(|h| h.kind == Kind::Video);
        let has_audio = held.iter().any(|h| h.kind == Kind::Audio);
        let header = FlvHeader::new(
            has_audio || (!has_video && self.expect_audio == Some(true)),
            has_video || (!has_audio && self.expect_video == Some(true)),
        );
        let writer = FlvWriter::with_header(sink, header)?;
        self.stats.bytes += 13;
        self.writer = Some(writer);
        // The base: the first frame that will be written (video before the first keyframe is
        // dropped, so it does not count).
        let mut key_seen = false;
        let mut base: Option<Timestamp> = None;
        for h in held.iter().filter(|h| !h.config) {
            let keep = match h.kind {
                Kind::Audio => true,
                Kind::Video => {
                    key_seen |= classify_video(&h.data).is_keyframe;
                    key_seen
                }
            };
            if keep {
                base = Some(base.map_or(h.ts, |b| b.min(h.ts)));
            }
        }
        self.base = base;
        if let Some(md) = self.metadata.take() {
            self.write(TagType::SCRIPT, 0, md)?;
        }
        // Sequence headers first (the last of each kind that arrived), then frames in order.
        for kind in [Kind::Video, Kind::Audio] {
            if let Some(h) = held.iter().rev().find(|h| h.config && h.kind == kind) {
                self.write_media(kind, h.ts, h.data.clone(), true)?;
            }
        }
        for h in held.into_iter().filter(|h| !h.config) {
            self.write_media(h.kind, h.ts, h.data, false)?;
        }
        Ok(())
    }

    fn rel(&mut self, ts: Timestamp) -> u32 {
        let base = *self.base.get_or_insert(ts);
        u32::try_from(ts.serial_diff(base).max(0)).unwrap_or(0)
    }

    fn write_media(
        &mut self,
        kind: Kind,
        ts: Timestamp,
        data: Bytes,
        config: bool,
    ) -> Result<(), sluice_flv::FlvError> {
        let tag_type = match kind {
            Kind::Audio => TagType::AUDIO,
            Kind::Video => TagType::VIDEO,
        };
        if config {
            // Sequence headers carry no picture: timestamp of the base or later.
            let rel = if self.base.is_some() { self.rel(ts) } else { 0 };
            return self.count_and_write(kind, tag_type, rel, data, false);
        }
        let mut key = false;
        if kind == Kind::Video {
            key = classify_video(&data).is_keyframe;
            self.key_seen |= key;
            if !self.key_seen {
                self.stats.dropped += 1;
                return Ok(());
            }
        }
        let rel = self.rel(ts);
        self.count_and_write(kind, tag_type, rel, data, key)
    }

    fn count_and_write(
        &mut self,
        kind: Kind,
        tag_type: TagType,
        rel: u32,
        data: Bytes,
        key: bool,
    ) -> Result<(), sluice_flv::FlvError> {
        match kind {
            Kind::Audio => self.stats.audio += 1,
            Kind::Video => self.stats.video += 1,
        }
        if key {
            self.stats.keyframes += 1;
        }
        self.write(tag_type, rel, data)
    }

    fn write(
        &mut self,
        tag_type: TagType,
        ts: u32,
        data: Bytes,
    ) -> Result<(), sluice_flv::FlvError> {
        let Some(w) = &mut self.writer else {
            return Ok(());
        };
        let tag = FlvTag {
            tag_type,
            timestamp: ts,
            stream_id: 0,
            filter: false,
            data,
        };
        w.write_tag(&tag)?;
        self.stats.bytes += tag.size_on_disk() as u64 + 4;
        self.stats.last_ts = self.stats.last_ts.max(ts);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_flv::FlvReader;

    const VSEQ: &[u8] = &[0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f];
    const ASEQ: &[u8] = &[0xaf, 0, 0x12, 0x10];

    fn key(n: u8) -> Bytes {
        Bytes::from(vec![0x17, 1, 0, 0, 0, n])
    }
    fn inter(n: u8) -> Bytes {
        Bytes::from(vec![0x27, 1, 0, 0, 0, n])
    }
    fn aac(n: u8) -> Bytes {
        Bytes::from(vec![0xaf, 1, n])
    }

    fn read_back(file: &[u8]) -> (FlvHeader, Vec<(u8, u32, Vec<u8>)>) {
        let mut r = FlvReader::new(file);
        let h = r.header().unwrap();
        let mut tags = Vec::new();
        while let Some(t) = r.next_tag().unwrap() {
            tags.push((t.tag_type.0, t.timestamp, t.data.to_vec()));
        }
        (h, tags)
    }

    fn md(props: Amf0Object) -> Bytes {
        sluice_amf::amf0_encode_all(&[
            sluice_amf::Amf0Value::String("onMetaData".into()),
            sluice_amf::Amf0Value::EcmaArray(props),
        ])
    }

    #[test]
    fn orders_metadata_headers_frames_and_rebases() {
        let mut r = FlvRecorder::new(Vec::new());
        // A live join: an inter frame first, then the cached headers, then a keyframe.
        r.push(Kind::Video, Timestamp(5000), inter(1)).unwrap();
        r.push(Kind::Audio, Timestamp(5010), Bytes::from_static(ASEQ))
            .unwrap();
        r.push(Kind::Video, Timestamp(5000), Bytes::from_static(VSEQ))
            .unwrap();
        let props = Amf0Object::new().with("width", 320.0);
        r.push_metadata(&props, md(props.clone())).unwrap();
        assert!(!r.started(), "no frame yet");
        r.push(Kind::Audio, Timestamp(5020), aac(1)).unwrap();
        assert!(r.started(), "both tracks and their headers are known");
        r.push(Kind::Video, Timestamp(5040), key(2)).unwrap();
        assert!(r.started());
        r.push(Kind::Video, Timestamp(5080), inter(3)).unwrap();
        let (file, stats) = r.finish().unwrap();
        let (h, tags) = read_back(&file);
        assert!(h.has_audio && h.has_video);
        let summary: Vec<(u8, u32)> = tags.iter().map(|t| (t.0, t.1)).collect();
        assert_eq!(
            summary,
            vec![(18, 0), (9, 0), (8, 0), (8, 0), (9, 20), (9, 60)],
            "{tags:?}"
        );
        assert_eq!(tags[1].2, VSEQ);
        assert_eq!(stats.dropped, 1);
        assert_eq!(stats.video, 3);
        assert_eq!(stats.audio, 2);
        assert_eq!(stats.keyframes, 1);
        assert_eq!(stats.last_ts, 60);
        assert_eq!(stats.bytes, file.len() as u64);
    }

    #[test]
    fn video_only_by_metadata_starts_at_once() {
        let mut r = FlvRecorder::new(Vec::new());
        let props = Amf0Object::new()
            .with("videocodecid", 7.0)
            .with("hasAudio", false);
        r.push_metadata(&props, md(props.clone())).unwrap();
        r.push(Kind::Video, Timestamp(0), Bytes::from_static(VSEQ))
            .unwrap();
        r.push(Kind::Video, Timestamp(0), key(1)).unwrap();
        assert!(r.started());
        let (file, _) = r.finish().unwrap();
        let (h, tags) = read_back(&file);
        assert!(h.has_video && !h.has_audio);
        assert_eq!(tags.len(), 3);
    }

    #[test]
    fn without_metadata_waits_for_a_second_track_then_gives_up() {
        let mut r = FlvRecorder::new(Vec::new());
        r.push(Kind::Video, Timestamp(0), Bytes::from_static(VSEQ))
            .unwrap();
        for i in 0..25 {
            r.push(
                Kind::Video,
                Timestamp(i * 40),
                if i == 0 { key(0) } else { inter(0) },
            )
            .unwrap();
            assert!(!r.started());
        }
        r.push(Kind::Video, Timestamp(1000), inter(0)).unwrap();
        assert!(r.started());
        let (file, _) = r.finish().unwrap();
        let (h, tags) = read_back(&file);
        assert!(h.has_video && !h.has_audio);
        assert_eq!(tags.len(), 27);
    }

    #[test]
    fn hold_limits_force_a_start() {
        let mut r = FlvRecorder::new(Vec::new());
        // Audio that needs a config that never comes: the span limit starts the file anyway.
        for i in 0..=(MAX_HOLD_SPAN_MS / 20) {
            r.push(Kind::Audio, Timestamp(i * 20), aac(0)).unwrap();
        }
        assert!(r.started());
        let mut r = FlvRecorder::new(Vec::new());
        for _ in 0..MAX_HOLD_TAGS {
            r.push(Kind::Audio, Timestamp(0), aac(0)).unwrap();
        }
        assert!(r.started());
    }

    #[test]
    fn late_metadata_and_empty_streams() {
        let mut r = FlvRecorder::new(Vec::new());
        let props = Amf0Object::new()
            .with("hasVideo", true)
            .with("hasAudio", false);
        r.push_metadata(&props, md(props.clone())).unwrap();
        r.push(Kind::Video, Timestamp(100), Bytes::from_static(VSEQ))
            .unwrap();
        r.push(Kind::Video, Timestamp(100), key(0)).unwrap();
        r.push(Kind::Video, Timestamp(140), inter(0)).unwrap();
        r.push_metadata(&props, md(props.clone())).unwrap();
        let (file, _) = r.finish().unwrap();
        let (_, tags) = read_back(&file);
        assert_eq!(tags.last().map(|t| (t.0, t.1)), Some((18, 40)));

        // Nothing arrived: a valid empty file (header only).
        let (file, stats) = FlvRecorder::new(Vec::new()).finish().unwrap();
        assert_eq!(file.len(), 13);
        assert_eq!(stats.bytes, 13);
        let (h, tags) = read_back(&file);
        assert!(!h.has_audio && !h.has_video && tags.is_empty());
    }

    #[test]
    fn timestamps_across_the_wrap() {
        let mut r = FlvRecorder::new(Vec::new());
        let props = Amf0Object::new()
            .with("hasVideo", true)
            .with("hasAudio", false);
        r.push_metadata(&props, md(props.clone())).unwrap();
        r.push(
            Kind::Video,
            Timestamp(u32::MAX - 10),
            Bytes::from_static(VSEQ),
        )
        .unwrap();
        r.push(Kind::Video, Timestamp(u32::MAX - 10), key(0))
            .unwrap();
        r.push(Kind::Video, Timestamp(29), inter(0)).unwrap();
        let (file, _) = r.finish().unwrap();
        let (_, tags) = read_back(&file);
        let ts: Vec<u32> = tags.iter().map(|t| t.1).collect();
        assert_eq!(ts, vec![0, 0, 0, 40]);
    }
}
