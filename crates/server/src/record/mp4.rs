//! The fragmented MP4 file of a recording: the muxer's init segment (`ftyp` + `moov`), then
//! one `moof` + `mdat` fragment per video keyframe (at most 10 s each, for audio-only
//! streams). Such a file plays in ffmpeg and browsers as it is, and a file cut short by a
//! crash still plays up to its last whole fragment: there is no index to finish.
//!
//! A codec change mid-stream would need a second init segment, which one file cannot hold:
//! the writer starts a new file when a sequence header differs from the previous one. Should
//! the muxer still ask for a new init segment, [`Mp4File::write`] returns
//! [`Written::NewInit`] (the writer logs a warning; the file keeps its first init segment).

use sluice_mux::{FlvItem, FlvToSamples, Fmp4Muxer, FragmentPolicy, MuxEvent, MuxerOptions};
use sluice_mux::{TrackConfig, TrackKind};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Longest fragment without a keyframe (audio-only streams), ms.
const MAX_FRAGMENT_MS: u32 = 10_000;

/// What writing one frame led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Written (or held by the muxer for the next fragment).
    Ok,
    /// The codec changed: close this file and start the next one with the same configs.
    NewInit,
}

/// An MP4 recording being written.
#[derive(Debug)]
pub struct Mp4File {
    out: BufWriter<File>,
    pos: u64,
    adapter: FlvToSamples,
    mux: Fmp4Muxer,
    inits: u32,
    first_ts: Option<u32>,
    last_ts: u32,
}

impl Mp4File {
    /// Creates (or truncates) `path`; `configs` are the tracks' sequence headers known so far.
    pub fn create(path: &Path, configs: &[TrackConfig]) -> io::Result<Mp4File> {
        let file = File::create(path)?;
        let mut mux = Fmp4Muxer::new(MuxerOptions {
            policy: FragmentPolicy::Keyframes {
                max_duration_ms: MAX_FRAGMENT_MS,
            },
            rebase_to_zero: true,
            producer_reference_time: false,
            ..MuxerOptions::default()
        });
        for c in configs {
            mux.handle_config(c.clone());
        }
        Ok(Mp4File {
            out: BufWriter::with_capacity(256 * 1024, file),
            pos: 0,
            adapter: FlvToSamples::new(),
            mux,
            inits: 0,
            first_ts: None,
            last_ts: 0,
        })
    }

    /// The track configuration a sequence header body gives, for the next file.
    pub fn config_of(kind: TrackKind, ts: u32, body: &bytes::Bytes) -> Option<TrackConfig> {
        match FlvToSamples::new().push(kind, ts, body) {
            Ok(Some(FlvItem::Config(c))) => Some(c),
            _ => None,
        }
    }

    /// Bytes in the file.
    pub fn len(&self) -> u64 {
        self.pos
    }

    /// True while nothing was written.
    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }

    /// Media time written, ms.
    pub fn duration_ms(&self) -> u32 {
        self.first_ts
            .map_or(0, |f| self.last_ts.wrapping_sub(f).min(i32::MAX as u32))
    }

    /// Hands one audio or video tag body (RTMP timestamp) to the muxer and writes what it
    /// gives. A body the muxer cannot use (an unsupported codec) is an error: the recording
    /// stops rather than leaving frames out silently.
    pub fn write(&mut self, kind: TrackKind, ts: u32, body: &bytes::Bytes) -> io::Result<Written> {
        let item = self
            .adapter
            .push(kind, ts, body)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let Some(item) = item else {
            return Ok(Written::Ok);
        };
        if let FlvItem::Sample(s) = &item {
            self.first_ts.get_or_insert(s.timestamp);
            self.last_ts = s.timestamp;
        }
        self.mux
            .handle_flv_item(item)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        self.drain()
    }

    fn drain(&mut self) -> io::Result<Written> {
        let mut result = Written::Ok;
        while let Some(ev) = self.mux.poll_event() {
            match ev {
                MuxEvent::Init(init) => {
                    self.inits += 1;
                    if self.inits > 1 {
                        result = Written::NewInit;
                        continue;
                    }
                    self.out.write_all(&init.data)?;
                    self.pos += init.data.len() as u64;
                }
                MuxEvent::Fragment(f) => {
                    for c in f.chunks() {
                        self.out.write_all(c)?;
                    }
                    self.pos += f.len() as u64;
                }
            }
        }
        Ok(result)
    }

    /// Hands buffered bytes to the OS.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Writes the last fragment, syncs and closes; returns the duration in ms.
    pub fn finish(mut self) -> io::Result<u32> {
        self.mux.flush();
        self.drain()?;
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        Ok(self.duration_ms())
    }
}
