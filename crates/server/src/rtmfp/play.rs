//! RTMFP players as hub sinks: a task per player waits on its [`Subscriber`] and passes each
//! batch to the socket's loop, which turns it into TC messages on the player's flows (RFC 7425
//! §5.1.2) with per-player timestamps ([`TimestampMapper`]).
//!
//! The hub's slow-consumer policy applies as for every sink (video dropped until a keyframe,
//! audio kept; closed after `slow_player_timeout`). Past it, when the player's flow has more
//! queued than `max_send_queue`, [`TcServer::send_media`](sluice_rtmfp::tc::TcServer::send_media)
//! drops the media message and the stream goes on; statuses always go.

use super::conn::{Conn, Shared};
use crate::hub::{FrameKind, PlayerEvent, Subscriber, SubscriberClosed};
use crate::timestamps::{TimestampMapper, Track};
use sluice_rtmfp::{Endpoint, SessionHandle};
use sluice_rtmp::command::{codes, StatusInfo};
use sluice_rtmp::{MessageType, RawMessage, Timestamp};
use std::time::Instant;
use tokio::task::JoinHandle;
use tracing::{debug, info};

/// Chunk stream id put on messages for a player (unused on RTMFP, where flows carry them).
const MEDIA_CSID: u32 = 4;

/// What a player's task hands to the loop.
pub(super) struct PlayerBatch {
    pub session: SessionHandle,
    pub stream_id: u32,
    /// Which play of the stream it belongs to (a newer `play` on the stream wins).
    pub play: u64,
    pub events: Result<Vec<PlayerEvent>, SubscriberClosed>,
}

/// One playing NetStream.
pub(super) struct PlaySlot {
    pub name: String,
    play: u64,
    ts: TimestampMapper,
    live: bool,
    started: bool,
    pub frames: u64,
    pub dropped: u64,
    task: JoinHandle<()>,
}

impl Drop for PlaySlot {
    fn drop(&mut self) {
        // Dropping the task's subscriber leaves the stream.
        self.task.abort();
    }
}

impl PlaySlot {
    /// Start moving `subscriber`'s batches to the loop.
    pub fn start(
        sh: &Shared,
        session: SessionHandle,
        stream_id: u32,
        name: String,
        mut subscriber: Subscriber,
    ) -> PlaySlot {
        let play = next_play_id();
        let tx = sh.media.clone();
        let task = tokio::spawn(async move {
            loop {
                let mut batch = Vec::new();
                let events = subscriber.recv_batch(&mut batch).await.map(|()| batch);
                let end = events.is_err();
                let msg = PlayerBatch {
                    session,
                    stream_id,
                    play,
                    events,
                };
                // Waiting here is how a busy loop pushes back: the hub's policy takes over.
                if tx.send(msg).await.is_err() || end {
                    return;
                }
            }
        });
        PlaySlot {
            name,
            play,
            ts: TimestampMapper::new(),
            live: false,
            started: false,
            frames: 0,
            dropped: 0,
            task,
        }
    }
}

fn next_play_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Conn {
    /// Hand a player's batch to its flows.
    pub(super) fn on_player_batch(&mut self, ep: &mut Endpoint, now: Instant, b: PlayerBatch) {
        let sid = b.stream_id;
        let Some(mut slot) = self.players.remove(&sid) else {
            return;
        };
        if slot.play != b.play {
            self.players.insert(sid, slot);
            return;
        }
        let events = match b.events {
            Ok(e) => e,
            Err(why) => {
                info!(conn = self.id, stream = %slot.name, reason = %why, "player left the stream");
                if why == SubscriberClosed::TooSlow {
                    let _ = ep.close(now, self.session());
                }
                return;
            }
        };
        for ev in events {
            let msg = match ev {
                PlayerEvent::Publish => {
                    if slot.started && !slot.live {
                        slot.ts.restart();
                        let info = StatusInfo::status(
                            codes::PLAY_PUBLISH_NOTIFY,
                            format!("{} is now published", slot.name),
                        );
                        let _ = self.tc_mut().send_status(ep, now, sid, info);
                    }
                    slot.started = true;
                    slot.live = true;
                    continue;
                }
                PlayerEvent::Unpublish => {
                    if slot.live {
                        let info = StatusInfo::status(
                            codes::PLAY_UNPUBLISH_NOTIFY,
                            format!("{} is now unpublished", slot.name),
                        );
                        let _ = self.tc_mut().send_status(ep, now, sid, info);
                    }
                    slot.live = false;
                    continue;
                }
                PlayerEvent::Dropped { frames } => {
                    slot.dropped += frames;
                    debug!(conn = self.id, stream = %slot.name, frames, "hub dropped frames for a slow player");
                    continue;
                }
                PlayerEvent::Metadata(body) => {
                    let ts = slot.ts.map(Track::Data, 0, false);
                    message(MessageType::DATA_AMF0, ts, sid, body)
                }
                PlayerEvent::Frame(f) => {
                    let (track, type_id, anchor) = match f.kind {
                        FrameKind::Audio => (Track::Audio, MessageType::AUDIO, !f.sequence_header),
                        FrameKind::Video => (Track::Video, MessageType::VIDEO, !f.sequence_header),
                        FrameKind::Data => (Track::Data, MessageType::DATA_AMF0, true),
                    };
                    let ts = slot.ts.map(track, f.timestamp, anchor);
                    message(type_id, ts, sid, f.payload)
                }
            };
            let len = msg.payload.len() as u64;
            match self.tc_mut().send_media(ep, now, sid, &msg) {
                Ok(true) => {
                    slot.frames += 1;
                    self.bytes_out += len;
                }
                Ok(false) => slot.dropped += 1,
                Err(e) => {
                    debug!(conn = self.id, stream = %slot.name, error = %e, "media not sent");
                    slot.dropped += 1;
                }
            }
        }
        self.players.insert(sid, slot);
    }
}

fn message(type_id: MessageType, ts: u32, stream_id: u32, payload: bytes::Bytes) -> RawMessage {
    RawMessage {
        csid: MEDIA_CSID,
        timestamp: Timestamp(ts),
        type_id,
        stream_id,
        payload,
    }
}
