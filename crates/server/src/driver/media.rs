//! The media path of a connection: a publisher's audio, video and data messages classified and
//! batched into the hub (`fanout_batch_ms`, the latency budget: [`super::batch`]), `@setDataFrame`/`onMetaData` cached as metadata, and
//! what the hub has for a player turned into RTMP messages with per-player timestamps.

use super::{Connection, PENDING_KEEP};
use crate::control::registry::{AudioInfo, StreamEntry, VideoInfo};
use crate::hub::{FrameKind, MediaFrame, PlayerEvent};
use crate::timestamps::Track;
use bytes::Bytes;
use sluice_amf::{Amf0Decoder, Amf0Value};
use sluice_rtmp::Timestamp;
use tracing::{debug, info};

impl Connection {
    pub(super) fn on_publisher_media(
        &mut self,
        stream_id: u32,
        kind: FrameKind,
        timestamp: Timestamp,
        payload: Bytes,
    ) {
        let Some(slot) = self.publishers.get_mut(&stream_id) else {
            return;
        };
        slot.bytes += payload.len() as u64;
        slot.frames += 1;
        let frame = match kind {
            FrameKind::Video => {
                let info = sluice_flv::classify_video(&payload);
                if info.is_sequence_header {
                    record_codec(&slot.entry, true, &payload);
                    if !slot.logged_video {
                        slot.logged_video = true;
                        log_codec(self.id, &slot.name, true, &payload);
                    }
                }
                MediaFrame {
                    kind,
                    timestamp: timestamp.value(),
                    keyframe: info.is_keyframe,
                    sequence_header: info.is_sequence_header,
                    payload,
                }
            }
            _ => {
                let info = sluice_flv::classify_audio(&payload);
                if info.is_sequence_header {
                    record_codec(&slot.entry, false, &payload);
                    if !slot.logged_audio {
                        slot.logged_audio = true;
                        log_codec(self.id, &slot.name, false, &payload);
                    }
                }
                MediaFrame {
                    kind,
                    timestamp: timestamp.value(),
                    keyframe: false,
                    sequence_header: info.is_sequence_header,
                    payload,
                }
            }
        };
        // Without a hold a batch ends with a video frame: players get each picture at once,
        // with the audio that came before it, in one write (audio alone waits for the batch
        // window); with one it ends when its first frame has waited that long (batch.rs).
        slot.push(frame, self.ctx.load.hold());
    }

    pub(super) fn on_publisher_data(
        &mut self,
        stream_id: u32,
        timestamp: Timestamp,
        name: &str,
        payload: Bytes,
    ) {
        let Some(slot) = self.publishers.get_mut(&stream_id) else {
            return;
        };
        match name {
            "@setDataFrame" => {
                // Strip the first value: the rest is `onMetaData, {...}` for players.
                let mut dec = Amf0Decoder::new(&payload);
                if dec.decode().is_ok() {
                    let pos = dec.position();
                    let rest = payload.slice(pos..);
                    if is_on_metadata(&rest) {
                        record_fps(&slot.entry, &rest);
                        slot.flush();
                        slot.publisher.set_metadata(rest);
                    } else {
                        slot.push(
                            MediaFrame::data(timestamp.value(), rest),
                            self.ctx.load.hold(),
                        );
                    }
                }
            }
            "onMetaData" => {
                record_fps(&slot.entry, &payload);
                slot.flush();
                slot.publisher.set_metadata(payload);
            }
            "@clearDataFrame" => {}
            _ => slot.push(
                MediaFrame::data(timestamp.value(), payload),
                self.ctx.load.hold(),
            ),
        }
    }

    /// Turn what the hub has for player `index` into messages.
    pub(super) fn deliver(&mut self, index: usize) {
        if index >= self.players.len() {
            return;
        }
        let player = &mut self.players[index];
        let mut events = std::mem::take(&mut player.pending);
        if events.is_empty() {
            // What arrived since the last delivery, in the thread's scratch list (a direct
            // player keeps none of its own: ~150 bytes each, 1000 players on a publisher).
            events = SCRATCH.take();
            player.subscriber.try_recv_batch(&mut events);
        }
        let sid = player.stream_id;
        for ev in events.drain(..) {
            match ev {
                PlayerEvent::Publish => {
                    if player.started && !player.live {
                        player.ts.restart();
                        self.session.notify_publish(sid, &player.name);
                    }
                    player.started = true;
                    player.live = true;
                }
                PlayerEvent::Unpublish => {
                    if player.live {
                        self.session.notify_unpublish(sid, &player.name);
                    }
                    player.live = false;
                }
                PlayerEvent::Metadata(body) => {
                    let ts = player.ts.map(Track::Data, 0, false);
                    self.session.send_data(sid, Timestamp(ts), body);
                }
                PlayerEvent::Frame(f) => {
                    player.frames += 1;
                    match f.kind {
                        FrameKind::Audio => {
                            let ts = player.ts.map(Track::Audio, f.timestamp, !f.sequence_header);
                            self.session.send_audio(sid, Timestamp(ts), f.payload);
                        }
                        FrameKind::Video => {
                            let ts = player.ts.map(Track::Video, f.timestamp, !f.sequence_header);
                            self.session.send_video(sid, Timestamp(ts), f.payload);
                        }
                        FrameKind::Data => {
                            let ts = player.ts.map(Track::Data, f.timestamp, true);
                            self.session.send_data(sid, Timestamp(ts), f.payload);
                        }
                    }
                }
                PlayerEvent::Dropped { frames } => {
                    player.dropped += frames;
                    debug!(conn = self.id, stream = %player.name, frames, "dropped frames for a slow player");
                }
            }
        }
        // A burst (the GOP at join) may have grown it: past PENDING_KEEP the next delivery
        // starts a small one.
        if events.capacity() <= PENDING_KEEP {
            if self.direct.is_some() {
                SCRATCH.set(events);
            } else {
                player.pending = events;
            }
        }
    }
}

thread_local! {
    /// The event list direct deliveries fill and drain (each delivery takes it and puts it back).
    static SCRATCH: std::cell::Cell<Vec<PlayerEvent>> = const { std::cell::Cell::new(Vec::new()) };
}

pub(crate) fn is_on_metadata(body: &[u8]) -> bool {
    matches!(Amf0Decoder::new(body).decode(), Ok(Amf0Value::String(s)) if s == "onMetaData")
}

/// Codec, size, rate and channels from a sequence header, for the API.
pub(crate) fn record_codec(entry: &StreamEntry, video: bool, payload: &[u8]) {
    let described = if video {
        sluice_flv::describe_video_sequence_header(payload)
    } else {
        sluice_flv::describe_audio_sequence_header(payload)
    };
    let Ok(c) = described else {
        return;
    };
    entry.update_media(|m| {
        if video {
            let fps = m.video.as_ref().and_then(|v| v.fps);
            m.video = Some(VideoInfo {
                codec: c.codec.to_string(),
                profile: c.profile.clone(),
                width: c.width,
                height: c.height,
                fps,
            });
        } else {
            m.audio = Some(AudioInfo {
                codec: c.codec.to_string(),
                sample_rate: c.sample_rate,
                channels: c.channels.map(u32::from),
            });
        }
    });
}

/// The frame rate an `onMetaData` body announces (`framerate` or `videoframerate`).
pub(crate) fn record_fps(entry: &StreamEntry, body: &[u8]) {
    let mut dec = Amf0Decoder::new(body);
    let _ = dec.decode();
    let Ok(meta) = dec.decode() else {
        return;
    };
    let fps = ["framerate", "videoframerate"]
        .iter()
        .find_map(|k| meta.as_object().and_then(|o| o.get_number(k)))
        .filter(|f| f.is_finite() && *f > 0.0 && *f < 1000.0);
    if let Some(fps) = fps {
        entry.update_media(|m| {
            m.video.get_or_insert_with(VideoInfo::default).fps = Some(fps);
        });
    }
}

/// One log line naming a stream's codec, from its sequence header.
pub(crate) fn log_codec(conn: u64, stream: &str, video: bool, payload: &[u8]) {
    let described = if video {
        sluice_flv::describe_video_sequence_header(payload)
    } else {
        sluice_flv::describe_audio_sequence_header(payload)
    };
    match described {
        Ok(c) => info!(
            conn,
            stream,
            kind = if video { "video" } else { "audio" },
            codec = %c.codec,
            profile = c.profile.as_deref().unwrap_or(""),
            level = c.level.as_deref().unwrap_or(""),
            width = c.width.unwrap_or(0),
            height = c.height.unwrap_or(0),
            sample_rate = c.sample_rate.unwrap_or(0),
            channels = c.channels.unwrap_or(0),
            "codec"
        ),
        Err(e) => debug!(conn, stream, error = %e, "sequence header not described"),
    }
}
