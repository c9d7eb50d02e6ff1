//! MP4 files for VOD: `sluice_mux::Mp4Opener` over positional tokio reads, and the samples as
//! FLV tags (one read per sample), described like an FLV file ([`FlvFileInfo`]: a seek point is
//! a sample index) so the play side treats both alike.

use super::reader::read_at;
use bytes::{BufMut, Bytes, BytesMut};
use sluice_flv::{FlvFileInfo, FlvHeader, FlvTag, IndexSource, SeekPoint, TagType};
use sluice_mux::{Mp4File, Mp4Limits, Mp4Opener};
use std::path::Path;
use tokio::fs::File;

/// Spacing of the seek points of a file without video, ms.
const AUDIO_SEEK_SPACING_MS: u32 = 1000;

/// An open MP4 file and the next sample to read.
pub(crate) struct Mp4Tags {
    file: File,
    mp4: Mp4File,
    next: usize,
    max_tag_size: u32,
    scratch: Vec<u8>,
}

/// Opens and demuxes `path`.
pub(crate) async fn open(path: &Path, max_tag_size: u32) -> Result<(Mp4Tags, FlvFileInfo), String> {
    let mut file = File::open(path).await.map_err(|e| e.to_string())?;
    let size = file.metadata().await.map_err(|e| e.to_string())?.len();
    let mut opener = Mp4Opener::new(size, Mp4Limits::default());
    let mut buf = Vec::new();
    while let Some((pos, len)) = opener.poll_read() {
        read_at(&mut file, pos, len, &mut buf)
            .await
            .map_err(|e| e.to_string())?;
        opener.handle_read(pos, &buf);
    }
    let mp4 = opener.finish().map_err(|e| e.to_string())?;
    let has_video = mp4.video.is_some();
    let mut seek_points: Vec<SeekPoint> = Vec::new();
    for (i, s) in mp4.samples.iter().enumerate() {
        let point = if has_video {
            s.video && s.key
        } else {
            seek_points
                .last()
                .is_none_or(|p| s.dts_ms >= p.time_ms.saturating_add(AUDIO_SEEK_SPACING_MS))
        };
        if point {
            seek_points.push(SeekPoint {
                time_ms: s.dts_ms,
                pos: i as u64,
            });
        }
    }
    let info = FlvFileInfo {
        header: FlvHeader::new(mp4.headers.iter().any(|(v, _)| !v), has_video),
        data_start: 0,
        end: mp4.samples.len() as u64,
        duration_ms: mp4.duration_ms,
        metadata: None,
        seek_points,
        source: IndexSource::Metadata,
    };
    let tags = Mp4Tags {
        file,
        mp4,
        next: 0,
        max_tag_size,
        scratch: Vec::new(),
    };
    Ok((tags, info))
}

impl Mp4Tags {
    /// The sequence headers, as tags at time 0.
    pub fn headers(&self) -> Vec<FlvTag> {
        self.mp4
            .headers
            .iter()
            .map(|(video, body)| tag(*video, 0, body.clone()))
            .collect()
    }

    /// Go on from sample `index`.
    pub fn reset(&mut self, index: u64) {
        self.next = usize::try_from(index).unwrap_or(usize::MAX);
    }

    /// The next sample as a tag.
    pub async fn next(&mut self) -> Result<Option<FlvTag>, String> {
        let Some(s) = self.mp4.samples.get(self.next).copied() else {
            return Ok(None);
        };
        self.next += 1;
        if s.size > self.max_tag_size {
            return Err(format!("sample of {} bytes exceeds max_tag_size", s.size));
        }
        read_at(&mut self.file, s.offset, s.size as usize, &mut self.scratch)
            .await
            .map_err(|e| e.to_string())?;
        if self.scratch.len() < s.size as usize {
            // A file cut short: it ends here.
            self.next = self.mp4.samples.len();
            return Ok(None);
        }
        let prefix = self.mp4.tag_prefix(&s);
        let mut body = BytesMut::with_capacity(prefix.len() + self.scratch.len());
        body.put_slice(&prefix);
        body.put_slice(&self.scratch);
        Ok(Some(tag(s.video, s.dts_ms, body.freeze())))
    }
}

fn tag(video: bool, timestamp: u32, data: Bytes) -> FlvTag {
    FlvTag {
        tag_type: if video {
            TagType::VIDEO
        } else {
            TagType::AUDIO
        },
        timestamp,
        stream_id: 0,
        filter: false,
        data,
    }
}
