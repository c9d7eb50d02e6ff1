//! The hub itself: the registry of streams by (app, stream name), publish / subscribe entry points,
//! statistics and shutdown.
//!
//! Streams are isolated per app. A stream entry exists while it has a publisher or at least one
//! player and is removed as soon as it has neither. Its size is therefore bounded by the number of
//! open connections, which the server's connection limit bounds; the names themselves are bounded
//! by the RTMP command size limit upstream.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::config::HubConfig;
use super::error::PublishError;
use super::frame::{PlayerInfo, PublisherInfo};
use super::publisher::Publisher;
use super::stream::{Stream, StreamKey};
use super::subscriber::Subscriber;

/// Counts for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubStats {
    /// Streams in the registry (with a publisher, players, or both).
    pub streams: usize,
    /// Streams with a live publisher.
    pub publishers: usize,
    /// Subscribed players over all streams.
    pub players: usize,
}

#[derive(Debug, Default)]
struct Registry {
    streams: HashMap<StreamKey, Arc<Stream>>,
    shut_down: bool,
}

/// Shared part of [`Hub`]; also held by every publisher and player handle for cleanup.
#[derive(Debug)]
pub(crate) struct HubInner {
    config: HubConfig,
    registry: Mutex<Registry>,
    next_player: AtomicUsize,
}

impl HubInner {
    /// Lock order: registry, then a stream's state. Poisoning is ignored (map operations only).
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remove `stream` from the registry if it has neither publisher nor players.
    pub(crate) fn release(&self, stream: &Arc<Stream>) {
        let mut reg = self.lock();
        // Subscriptions and publishes only happen under the registry lock, so this check cannot
        // race with a new one.
        if stream.subscribers.load(Ordering::Acquire) != 0 || stream.has_publisher() {
            return;
        }
        if reg
            .streams
            .get(&stream.key)
            .is_some_and(|s| Arc::ptr_eq(s, stream))
        {
            reg.streams.remove(&stream.key);
        }
    }
}

/// The stream hub: decouples one publisher per (app, stream) from its players. Cheap to clone
/// (shared inside); `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new(HubConfig::default())
    }
}

impl Hub {
    /// A hub with the given limits (zero bounds are raised to 1, see [`HubConfig::normalized`]).
    pub fn new(config: HubConfig) -> Self {
        Self {
            inner: Arc::new(HubInner {
                config: config.normalized(),
                registry: Mutex::new(Registry::default()),
                next_player: AtomicUsize::new(0),
            }),
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    fn key(app: &str, stream: &str) -> StreamKey {
        StreamKey {
            app: app.to_owned(),
            name: stream.to_owned(),
        }
    }

    /// Claim the publisher slot of (app, stream). Fails with [`PublishError::AlreadyPublishing`] if a
    /// live publisher holds it (that publisher is untouched), or [`PublishError::ShutDown`].
    pub fn publish(
        &self,
        app: &str,
        stream: &str,
        publisher_info: PublisherInfo,
    ) -> Result<Publisher, PublishError> {
        let mut reg = self.inner.lock();
        if reg.shut_down {
            return Err(PublishError::ShutDown);
        }
        let key = Self::key(app, stream);
        let entry = reg
            .streams
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Stream::new(key, &self.inner.config)));
        let stream_arc = Arc::clone(entry);
        let peer = publisher_info.peer.clone();
        let Some(epoch) = stream_arc.claim_publisher(publisher_info) else {
            tracing::debug!(app, stream, %peer, "publish refused: already publishing");
            return Err(PublishError::AlreadyPublishing);
        };
        drop(reg);
        tracing::debug!(app, stream, %peer, epoch, "published");
        Ok(Publisher::new(stream_arc, Arc::clone(&self.inner), epoch))
    }

    /// Subscribe a player to (app, stream), whether or not it is live. If live, the first events are
    /// `Publish`, metadata, sequence headers and the GOP cache; otherwise the player waits for
    /// `Publish`. After [`Hub::shutdown`] the subscriber is closed at once.
    pub fn subscribe(&self, app: &str, stream: &str, player_info: PlayerInfo) -> Subscriber {
        let id = self.inner.next_player.fetch_add(1, Ordering::Relaxed);
        let mut reg = self.inner.lock();
        let key = Self::key(app, stream);
        let stream_arc = if reg.shut_down {
            // Not registered: it only carries the shut-down flag to the subscriber.
            let s = Arc::new(Stream::new(key, &self.inner.config));
            s.shut_down();
            s
        } else {
            let entry = reg
                .streams
                .entry(key.clone())
                .or_insert_with(|| Arc::new(Stream::new(key, &self.inner.config)));
            Arc::clone(entry)
        };
        stream_arc.subscribers.fetch_add(1, Ordering::AcqRel);
        let snapshot = stream_arc.lock().snapshot(self.inner.config.gop_cache);
        drop(reg);
        tracing::debug!(app, stream, peer = %player_info.peer, live = snapshot.live, "player subscribed");
        Subscriber::new(
            stream_arc,
            Arc::clone(&self.inner),
            &self.inner.config,
            id,
            player_info,
            snapshot,
        )
    }

    /// True if (app, stream) has a live publisher.
    pub fn is_live(&self, app: &str, stream: &str) -> bool {
        let reg = self.inner.lock();
        reg.streams
            .get(&Self::key(app, stream))
            .is_some_and(|s| s.has_publisher())
    }

    /// Players subscribed to (app, stream), live or waiting (0 when it has none).
    pub fn player_count(&self, app: &str, stream: &str) -> usize {
        let reg = self.inner.lock();
        reg.streams
            .get(&Self::key(app, stream))
            .map_or(0, |s| s.subscribers.load(Ordering::Acquire))
    }

    /// Current counts (takes the registry lock and each stream's lock briefly).
    pub fn stats(&self) -> HubStats {
        let reg = self.inner.lock();
        let mut stats = HubStats {
            streams: reg.streams.len(),
            ..HubStats::default()
        };
        for s in reg.streams.values() {
            stats.players += s.subscribers.load(Ordering::Acquire);
            if s.has_publisher() {
                stats.publishers += 1;
            }
        }
        stats
    }

    /// Refuse new publishers, close every player ([`SubscriberClosed::ShutDown`]) and empty the
    /// registry. Publishers see [`Publisher::is_shut_down`].
    ///
    /// [`SubscriberClosed::ShutDown`]: crate::hub::SubscriberClosed::ShutDown
    pub fn shutdown(&self) {
        let mut reg = self.inner.lock();
        reg.shut_down = true;
        for (_, s) in reg.streams.drain() {
            s.shut_down();
        }
    }
}
