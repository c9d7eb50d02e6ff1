//! A player's handle: its cursor in the stream's shared window and its backlog policy (the "queue"
//! of one player is the part of the window it has not read yet).
//!
//! Policy, applied each time the player reads:
//! - The backlog is the messages and payload bytes between the player's cursor and the live edge.
//!   Over `player_queue_max_frames` or `player_queue_max_bytes` the player is *behind*: it drops
//!   video (the pending inter frames and keyframes) until a keyframe after which the remaining
//!   backlog fits the bound, and keeps every audio and data message, sequence header, metadata and
//!   publish/unpublish event. The count is reported in [`PlayerEvent::Dropped`].
//! - A player behind for longer than `slow_player_timeout` (measured from the write time of the
//!   oldest message it had not read when it was first seen behind) is closed with
//!   [`SubscriberClosed::TooSlow`] and one `warn` line is logged.
//! - If the player fell out of the window entirely (window = 2x the bound, shared by the stream),
//!   the missed messages are counted as dropped and it restarts at the live edge: it gets
//!   `Unpublish`/`Publish` if the publisher changed meanwhile, the current metadata and sequence
//!   headers again, and video from the next keyframe.
//! - A new player (or one seeing a new `Publish`) without a GOP to start from gets video from the
//!   next keyframe only; audio flows at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::config::HubConfig;
use super::error::SubscriberClosed;
use super::frame::{FrameKind, PlayerEvent, PlayerInfo};
use super::registry::HubInner;
use super::ring::{Cursor, Entry, Overrun, Slot};
use super::stream::{Snapshot, Stream};

/// A player's subscription to one (app, stream). Dropping it leaves the stream.
///
/// Reading is lock-free: one atomic load and one payload reference-count increment per message.
#[derive(Debug)]
pub struct Subscriber {
    stream: Arc<Stream>,
    hub: Arc<HubInner>,
    shard: usize,
    reader: Reader,
}

/// Everything a subscriber reads with, apart from the stream (so `recv_batch` can keep a wake-up
/// registration borrowed from the stream while reading).
#[derive(Debug)]
struct Reader {
    cursor: Cursor,
    policy: Policy,
    /// Events of the join snapshot not yet handed out.
    pending: Vec<PlayerEvent>,
    behind_since: Option<Instant>,
    closed: Option<SubscriberClosed>,
    timeout: Duration,
    info: PlayerInfo,
}

/// Per-player delivery decisions (kept apart from the cursor so both can be borrowed at once).
#[derive(Debug)]
struct Policy {
    /// The player has seen `Publish` (and no `Unpublish` since).
    live: bool,
    /// Epoch of the last `Publish` the player saw.
    epoch: u64,
    /// Hold video back until a keyframe (new player without a GOP, or a new publisher).
    need_keyframe: bool,
    /// Behind: drop video until a keyframe after which the backlog fits the bound.
    skipping: bool,
    /// Dropped messages not yet reported.
    dropped: u64,
    /// Write time of the last message read.
    last_at: Instant,
    bound_frames: u64,
    bound_bytes: u64,
}

impl Policy {
    /// Decide about one message; push what the player gets.
    fn visit(&mut self, seq: u64, slot: &Slot, head: (u64, u64), out: &mut Vec<PlayerEvent>) {
        self.last_at = slot.at;
        match &slot.entry {
            Entry::Publish(epoch) => {
                self.live = true;
                self.epoch = *epoch;
                self.need_keyframe = true;
                out.push(PlayerEvent::Publish);
            }
            Entry::Unpublish => {
                self.live = false;
                out.push(PlayerEvent::Unpublish);
            }
            Entry::Metadata(data) => out.push(PlayerEvent::Metadata(data.clone())),
            Entry::Frame(frame) => {
                let deliver = match frame.kind {
                    FrameKind::Audio | FrameKind::Data => true,
                    FrameKind::Video if frame.sequence_header => true,
                    FrameKind::Video if frame.keyframe => {
                        if self.skipping {
                            let after_frames = head.0.saturating_sub(seq + 1);
                            let after_bytes = head.1.saturating_sub(slot.cum_end);
                            if after_frames <= self.bound_frames && after_bytes <= self.bound_bytes
                            {
                                self.skipping = false;
                            }
                        }
                        if !self.skipping {
                            self.need_keyframe = false;
                        }
                        !self.skipping
                    }
                    FrameKind::Video => !self.skipping && !self.need_keyframe,
                };
                if deliver {
                    out.push(PlayerEvent::Frame(frame.clone()));
                } else if self.skipping && !self.need_keyframe {
                    // Video held back because the player has not started yet is not a drop.
                    self.dropped += 1;
                }
            }
        }
    }
}

impl Subscriber {
    pub(crate) fn new(
        stream: Arc<Stream>,
        hub: Arc<HubInner>,
        config: &HubConfig,
        id: usize,
        info: PlayerInfo,
        snapshot: Snapshot,
    ) -> Self {
        let Snapshot {
            live,
            epoch,
            events,
            has_gop,
            cursor,
        } = snapshot;
        let reader = Reader {
            cursor,
            policy: Policy {
                live,
                epoch,
                need_keyframe: !has_gop,
                skipping: false,
                dropped: 0,
                last_at: Instant::now(),
                bound_frames: config.player_queue_max_frames as u64,
                bound_bytes: config.player_queue_max_bytes as u64,
            },
            pending: events,
            behind_since: None,
            closed: None,
            timeout: config.slow_player_timeout,
            info,
        };
        Self {
            stream,
            hub,
            shard: id,
            reader,
        }
    }

    /// The application name.
    pub fn app(&self) -> &str {
        &self.stream.key.app
    }

    /// The stream name (without query string).
    pub fn stream_name(&self) -> &str {
        &self.stream.key.name
    }

    /// Why the subscriber was closed, if it was.
    pub fn closed_reason(&self) -> Option<SubscriberClosed> {
        self.reader.closed
    }

    /// Wait until at least one event is available, then append every available event to `out`
    /// (so the caller can write them with one vectored write). `out` is not cleared.
    ///
    /// Cancel-safe: if the future is dropped while waiting, no event is lost.
    pub async fn recv_batch(&mut self, out: &mut Vec<PlayerEvent>) -> Result<(), SubscriberClosed> {
        loop {
            let notified = self.stream.notify_shard(self.shard).notified();
            tokio::pin!(notified);
            // Register before looking, so a message written in between still wakes us.
            notified.as_mut().enable();
            if self.reader.drain(&self.stream, out)? > 0 {
                return Ok(());
            }
            notified.await;
        }
    }

    /// Have the publisher's task call `sink` after each append, in place of waking this
    /// subscriber's waiter. The caller then waits on its own wake-up (which the sink triggers)
    /// rather than on [`Subscriber::recv_batch`]. The sink is held weakly (it is skipped once
    /// dropped) and detached when the subscriber is dropped.
    pub fn attach_direct(&mut self, sink: std::sync::Weak<dyn super::DirectSink>) {
        self.stream.add_sink(self.shard, sink);
    }

    /// Append every available event to `out` without waiting; returns how many were appended.
    /// Returns 0 once closed: see [`Subscriber::closed_reason`] (or call `recv_batch` for the error).
    pub fn try_recv_batch(&mut self, out: &mut Vec<PlayerEvent>) -> usize {
        self.reader.drain(&self.stream, out).unwrap_or(0)
    }
}

impl Reader {
    /// Hand out the pending join events and everything written since the cursor, applying the
    /// backlog policy; returns how many events were appended.
    fn drain(
        &mut self,
        stream: &Stream,
        out: &mut Vec<PlayerEvent>,
    ) -> Result<usize, SubscriberClosed> {
        if let Some(reason) = self.closed {
            return Err(reason);
        }
        if stream.is_shut_down() {
            self.closed = Some(SubscriberClosed::ShutDown);
            return Err(SubscriberClosed::ShutDown);
        }
        let start = out.len();
        if !self.pending.is_empty() {
            // The join snapshot (a whole GOP) is handed out once: free its list with it.
            out.extend(std::mem::take(&mut self.pending));
        }

        let head = stream.head();
        let backlog_frames = head.0.saturating_sub(self.cursor.seq);
        let backlog_bytes = head.1.saturating_sub(self.cursor.cum);
        let policy = &mut self.policy;
        if backlog_frames > policy.bound_frames || backlog_bytes > policy.bound_bytes {
            let now = Instant::now();
            let oldest = match self.cursor.front_time() {
                Ok(Some(at)) => at,
                Ok(None) => now,
                Err(Overrun) => policy.last_at,
            };
            let since = *self.behind_since.get_or_insert(oldest);
            let behind = now.saturating_duration_since(since);
            if behind > self.timeout {
                tracing::warn!(
                    app = %stream.key.app,
                    stream = %stream.key.name,
                    peer = %self.info.peer,
                    connection_id = self.info.connection_id,
                    behind_ms = behind.as_millis() as u64,
                    backlog_frames,
                    backlog_bytes,
                    "closing player: over its queue bound for longer than slow_player_timeout"
                );
                self.closed = Some(SubscriberClosed::TooSlow);
                out.truncate(start);
                return Err(SubscriberClosed::TooSlow);
            }
            policy.skipping = true;
        } else {
            self.behind_since = None;
        }

        if self
            .cursor
            .drain(|seq, slot| policy.visit(seq, slot, head, out))
            .is_err()
        {
            resync(stream, &mut self.cursor, policy, out);
            let head = stream.head();
            // Written after the resync snapshot; an overrun again is handled on the next call.
            let _ = self
                .cursor
                .drain(|seq, slot| policy.visit(seq, slot, head, out));
        }
        if policy.dropped > 0 {
            out.push(PlayerEvent::Dropped {
                frames: policy.dropped,
            });
            policy.dropped = 0;
        }
        Ok(out.len() - start)
    }
}

/// The cursor fell out of the window: restart at the live edge with the current state.
fn resync(stream: &Stream, cursor: &mut Cursor, policy: &mut Policy, out: &mut Vec<PlayerEvent>) {
    let snap = stream.lock().snapshot(false);
    policy.dropped += snap.cursor.seq.saturating_sub(cursor.seq);
    let same_publisher = policy.live && snap.live && policy.epoch == snap.epoch;
    if policy.live && !same_publisher {
        out.push(PlayerEvent::Unpublish);
    }
    let mut events = snap.events.into_iter();
    if same_publisher {
        // Skip the repeated `Publish`; metadata and sequence headers are sent again in case the
        // missed part changed them (repeating them is harmless).
        events.next();
    }
    out.extend(events);
    policy.live = snap.live;
    policy.epoch = snap.epoch;
    policy.skipping = true;
    *cursor = snap.cursor;
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stream.remove_sink(self.shard);
        self.stream
            .subscribers
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        self.hub.release(&self.stream);
    }
}
