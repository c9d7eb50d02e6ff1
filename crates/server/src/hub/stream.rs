//! One stream, keyed by (app, stream name): the publisher slot, the metadata / sequence-header / GOP
//! caches, the shared broadcast window and the wake-ups of its players.
//!
//! Control-plane changes (publish, unpublish, a player joining) and the publisher's appends are
//! serialised by one mutex per stream, so a joining player's cache snapshot and its window cursor
//! are consistent. Players never take this lock to read media; see [`crate::hub`].

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::Notify;

use super::config::HubConfig;
use super::frame::{FrameKind, MediaFrame, PeerInfo, PlayerEvent};
use super::gop::{GopCache, GopState};
use super::ring::{Cursor, Entry, RingWriter};
use super::DirectSink;

/// A player's output that the publisher's task writes to directly (see [`crate::hub::DirectSink`]).
/// Held weakly: the connection owns its subscribers, and a sink is the connection's own state
/// (one pointer to follow per player and append, no separate handle to load first).
pub(crate) type SinkList = Arc<Vec<(usize, Weak<dyn DirectSink>)>>;

/// Players are spread over this many wake-up lists so that re-registering waiters do not all
/// contend on one lock; the publisher notifies every list.
pub(crate) const NOTIFY_SHARDS: usize = 4;

/// Registry key: the app and the stream name without its query string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct StreamKey {
    pub(crate) app: String,
    pub(crate) name: String,
}

/// State guarded by the stream mutex.
#[derive(Debug)]
pub(crate) struct StreamState {
    pub(crate) publisher: Option<PeerInfo>,
    /// Counts publishes of this stream; identifies the current publisher.
    pub(crate) epoch: u64,
    metadata: Option<Bytes>,
    video_seq: Option<MediaFrame>,
    audio_seq: Option<MediaFrame>,
    /// `gop_cache_unwatched`: keep the GOP while the stream has no player.
    gop_unwatched: bool,
    gop: GopCache,
    ring: RingWriter,
}

/// What a player needs to start reading: cached state plus a cursor at the live edge.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) live: bool,
    pub(crate) epoch: u64,
    /// `Publish`, metadata and sequence headers (empty when not live).
    pub(crate) events: Vec<PlayerEvent>,
    /// True when `events` ends with a GOP starting at a keyframe.
    pub(crate) has_gop: bool,
    pub(crate) cursor: Cursor,
}

impl StreamState {
    fn new(config: &HubConfig) -> Self {
        Self {
            publisher: None,
            epoch: 0,
            metadata: None,
            video_seq: None,
            audio_seq: None,
            gop_unwatched: config.gop_cache_unwatched,
            gop: GopCache::new(
                config.gop_cache,
                config.gop_cache_max_frames,
                config.gop_cache_max_bytes,
            ),
            ring: RingWriter::new(config.window_frames(), config.window_bytes())
                .with_max_age(config.player_max_delay),
        }
    }

    /// Update the caches for one published frame.
    fn cache_frame(&mut self, frame: &MediaFrame) {
        if frame.is_sequence_header() {
            let cached = match frame.kind {
                FrameKind::Video => &mut self.video_seq,
                _ => &mut self.audio_seq,
            };
            // A different configuration is a codec change: frames cached under the old one would
            // not decode after the new header, so the GOP restarts at the next keyframe.
            if cached
                .as_ref()
                .is_some_and(|old| old.payload != frame.payload)
            {
                self.gop.reset();
            }
            *cached = Some(frame.clone());
        } else {
            self.gop.on_frame(frame);
        }
    }

    /// Cached state for a player joining now (`with_gop`) or resynchronising (without the GOP).
    pub(crate) fn snapshot(&self, with_gop: bool) -> Snapshot {
        let live = self.publisher.is_some();
        let mut events = Vec::new();
        let mut has_gop = false;
        if live {
            events.push(PlayerEvent::Publish);
            if let Some(meta) = &self.metadata {
                events.push(PlayerEvent::Metadata(meta.clone()));
            }
            for seq in [&self.video_seq, &self.audio_seq].into_iter().flatten() {
                events.push(PlayerEvent::Frame(seq.clone()));
            }
            if with_gop && self.gop.state() == GopState::Caching && !self.gop.frames().is_empty() {
                events.reserve(self.gop.frames().len());
                events.extend(self.gop.frames().iter().cloned().map(PlayerEvent::Frame));
                has_gop = true;
            }
        }
        Snapshot {
            live,
            epoch: self.epoch,
            events,
            has_gop,
            cursor: self.ring.cursor_at_head(),
        }
    }
}

/// One stream shared by its publisher and players.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) key: StreamKey,
    state: Mutex<StreamState>,
    notify: [Notify; NOTIFY_SHARDS],
    head_seq: AtomicU64,
    head_cum: AtomicU64,
    /// Live [`Subscriber`](crate::hub::Subscriber) handles; only incremented under the registry lock.
    pub(crate) subscribers: AtomicUsize,
    shut_down: AtomicBool,
    /// Players served from the publisher's task; replaced whole on change, so a walk clones one `Arc`.
    direct: Mutex<SinkList>,
}

impl std::fmt::Debug for dyn DirectSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirectSink")
    }
}

impl Stream {
    pub(crate) fn new(key: StreamKey, config: &HubConfig) -> Self {
        Self {
            key,
            state: Mutex::new(StreamState::new(config)),
            notify: std::array::from_fn(|_| Notify::new()),
            head_seq: AtomicU64::new(0),
            head_cum: AtomicU64::new(0),
            subscribers: AtomicUsize::new(0),
            shut_down: AtomicBool::new(false),
            direct: Mutex::new(Arc::new(Vec::new())),
        }
    }

    /// Lock the state. A panic elsewhere while holding the lock leaves the state consistent enough
    /// to go on (every mutation is a few field writes), so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, StreamState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The wake-up list of shard `shard` (any number; taken modulo the shard count).
    pub(crate) fn notify_shard(&self, shard: usize) -> &Notify {
        &self.notify[shard % NOTIFY_SHARDS]
    }

    /// Wake every waiting player, then hand the new entries to every direct player's sink.
    /// Never called with the state lock held (sinks read the window and may resynchronise).
    pub(crate) fn notify_all(&self) {
        for n in &self.notify {
            n.notify_waiters();
        }
        let sinks = Arc::clone(&self.direct.lock().unwrap_or_else(PoisonError::into_inner));
        for (_, sink) in sinks.iter() {
            if let Some(sink) = sink.upgrade() {
                sink.on_append();
            }
        }
    }

    /// Register player `id`'s direct sink (replacing an earlier one of the same id).
    pub(crate) fn add_sink(&self, id: usize, sink: Weak<dyn DirectSink>) {
        let mut list = self.direct.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next: Vec<_> = list.iter().filter(|(i, _)| *i != id).cloned().collect();
        next.push((id, sink));
        *list = Arc::new(next);
    }

    /// Unregister player `id`'s direct sink, if any.
    pub(crate) fn remove_sink(&self, id: usize) {
        let mut list = self.direct.lock().unwrap_or_else(PoisonError::into_inner);
        if list.iter().any(|(i, _)| *i == id) {
            let next: Vec<_> = list.iter().filter(|(i, _)| *i != id).cloned().collect();
            *list = Arc::new(next);
        }
    }

    /// (next sequence number, cumulative payload bytes) of the window, as last published.
    pub(crate) fn head(&self) -> (u64, u64) {
        (
            self.head_seq.load(Ordering::Acquire),
            self.head_cum.load(Ordering::Acquire),
        )
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Acquire)
    }

    /// Mark the stream shut down and wake its players.
    pub(crate) fn shut_down(&self) {
        self.shut_down.store(true, Ordering::Release);
        self.notify_all();
    }

    fn append(&self, st: &mut StreamState, entry: Entry, now: Instant) {
        let (seq, cum) = st.ring.push(entry, now);
        self.head_cum.store(cum, Ordering::Release);
        self.head_seq.store(seq, Ordering::Release);
    }

    /// Take the publisher slot (caller holds the registry lock). Returns the publish epoch.
    pub(crate) fn claim_publisher(&self, info: PeerInfo) -> Option<u64> {
        let epoch = {
            let mut st = self.lock();
            if st.publisher.is_some() {
                return None;
            }
            st.epoch += 1;
            st.publisher = Some(info);
            let epoch = st.epoch;
            self.append(&mut st, Entry::Publish(epoch), Instant::now());
            epoch
        };
        self.notify_all();
        Some(epoch)
    }

    /// Free the publisher slot of `epoch`: clear caches, tell players, trim the window.
    pub(crate) fn release_publisher(&self, epoch: u64) {
        {
            let mut st = self.lock();
            if st.epoch != epoch || st.publisher.is_none() {
                return;
            }
            st.publisher = None;
            st.metadata = None;
            st.video_seq = None;
            st.audio_seq = None;
            st.gop.reset();
            self.append(&mut st, Entry::Unpublish, Instant::now());
            st.ring.trim_to_head();
        }
        self.notify_all();
    }

    /// Cache and broadcast new metadata from the publisher of `epoch`.
    pub(crate) fn set_metadata(&self, epoch: u64, data: Bytes) {
        {
            let mut st = self.lock();
            if st.epoch != epoch || st.publisher.is_none() {
                return;
            }
            st.metadata = Some(data.clone());
            self.append(&mut st, Entry::Metadata(data), Instant::now());
        }
        self.notify_all();
    }

    /// Cache and broadcast frames from the publisher of `epoch`; one lock and one wake-up round.
    pub(crate) fn send_frames(&self, epoch: u64, frames: impl IntoIterator<Item = MediaFrame>) {
        {
            let mut st = self.lock();
            if st.epoch != epoch || st.publisher.is_none() {
                return;
            }
            if self.subscribers.load(Ordering::Acquire) == 0 {
                // Nobody to deliver to: only the caches (sequence headers, GOP) matter, and a
                // player that joins later starts from them and a cursor at the head. Keeping the
                // window empty bounds an unwatched stream's memory by its GOP cache, and without
                // `gop_cache_unwatched` by its sequence headers alone.
                if st.gop_unwatched {
                    for frame in frames {
                        st.cache_frame(&frame);
                    }
                } else {
                    st.gop.reset();
                    for frame in frames.into_iter().filter(MediaFrame::is_sequence_header) {
                        st.cache_frame(&frame);
                    }
                }
                st.ring.trim_to_head();
                return;
            }
            let now = Instant::now();
            for frame in frames {
                st.cache_frame(&frame);
                self.append(&mut st, Entry::Frame(frame), now);
            }
        }
        self.notify_all();
    }

    pub(crate) fn has_publisher(&self) -> bool {
        self.lock().publisher.is_some()
    }
}
