//! The stream hub: fans media out from one publisher per (app, stream) to any number of players,
//! decoupling their connection tasks.
//!
//! Spec context: RTMP 1.0 §7.2.2 (`publish`/`play` NetStream commands; a stream has one publisher,
//! many players), the FLV/Enhanced RTMP v2 convention that a decoder starts from the codec sequence
//! header (`AVCDecoderConfigurationRecord`, `AudioSpecificConfig`, Enhanced `SequenceStart`) followed
//! by a keyframe, and `onMetaData` delivered before media. The hub never parses payloads: the RTMP
//! session classifies each message ([`MediaFrame::keyframe`], [`MediaFrame::sequence_header`]).
//!
//! # Use
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use bytes::Bytes;
//! use sluice_server::hub::{Hub, HubConfig, MediaFrame, PeerInfo, PlayerEvent};
//!
//! let hub = Hub::new(HubConfig::default());
//! let publisher = hub.publish("live", "cam", PeerInfo::new("192.0.2.1:5000"))?;
//! let mut player = hub.subscribe("live", "cam", PeerInfo::new("192.0.2.2:6000"));
//! publisher.send(MediaFrame::video(0, Bytes::from_static(&[0x17, 0x01]), true));
//! let mut batch = Vec::new();
//! player.recv_batch(&mut batch).await?; // [Publish, Frame(keyframe)]
//! assert_eq!(batch[0], PlayerEvent::Publish);
//! # Ok(()) }
//! ```
//!
//! # Design
//! Each stream has one **shared broadcast window** (`ring.rs`): an append-only chain of segments of
//! 64 write-once slots. The publisher's [`Publisher::send`] takes the stream mutex (uncontended:
//! players do not take it to read), updates the caches, writes the next slot and bumps the head
//! counters, then wakes waiting players. Each player owns a cursor into the window and reads the
//! slots after it with one atomic acquire load per message, cloning the payload handle (one
//! reference-count increment). So per message per player there is no lock, no allocation and no
//! hash lookup, and payloads are never copied. The only per-message allocations are the publisher's
//! (one segment per 64 messages, GOP-cache growth).
//!
//! A per-player queue under a mutex would cost a lock and a push per message per player on the
//! publisher's side; the window costs the publisher O(1) per message plus the wake-up, and the
//! memory of a stream is bounded once (the window), not per player.
//!
//! **Wake-ups.** Players wait on [`tokio::sync::Notify`] lists (4 shards per stream, so
//! re-registering players spread over several locks). The publisher wakes only players that are
//! waiting; a woken player drains everything written until it runs, so wake-ups coalesce naturally.
//! [`Publisher::send_many`] publishes several messages with one wake-up round; a driver that wants
//! fewer wake-ups per audio frame batches its sends (the hub itself only notifies).
//!
//! **Direct players.** A connection whose socket supports non-blocking writes attaches a
//! [`DirectSink`] to its subscriber ([`Subscriber::attach_direct`]) and stops waiting on the
//! wake-up lists: the publisher's task calls every sink after each append, and the sink serialises
//! and writes for a caught-up player in place. Waking 1000 player tasks per video frame (scheduler,
//! `select!`, re-registration) cost more than the writes themselves.
//!
//! **Bounds.** The window holds at least the last 2x the per-player bound (`player_queue_max_frames`
//! / `player_queue_max_bytes`) and at most that plus one segment (64 messages or 1/8 of the byte
//! budget, plus one message), evicting whole segments; a player within 2x its bound is never evicted.
//! It also keeps nothing older than `player_max_delay` (5 s by default, so a 2 Mbps stream keeps
//! about 1.3 MB however long it runs): a player further behind than that leaves the window.
//! Players hold only a weak reference between reads, so a player that stops reading keeps no
//! payload alive. The memory of one stream is at most the window plus the GOP cache
//! (`gop_cache_max_*`; payloads are shared between them): about 9 + 8 MiB with the defaults,
//! whatever the number of players.
//!
//! **Slow players** (see `subscriber.rs`): a player whose unread part of the window exceeds its bound
//! drops video until a keyframe (keeping audio, data, sequence headers and metadata), reports
//! [`PlayerEvent::Dropped`], and is closed with [`SubscriberClosed::TooSlow`] after staying behind
//! longer than `slow_player_timeout`. A player that fell out of the window restarts at the live
//! edge. Nothing a player does slows the publisher or other players.
//!
//! **Join.** A player joining a live stream first gets `Publish`, the metadata, the video and audio
//! sequence headers and the GOP cache (`gop.rs`) from its keyframe with audio interleaved, then live
//! messages, so it starts at once on a keyframe. Without a GOP (cache off, overflowed, or no
//! keyframe yet) live video is held back until the next keyframe; audio goes at once. A player
//! joining a stream without publisher waits for `Publish`; after `Unpublish` it waits for the next.
//!
//! **Caches.** A new sequence header replaces the cached one of its kind and is forwarded live; if it
//! differs from the cached one (codec change), the GOP cache restarts at the next keyframe. Unpublish
//! clears metadata, sequence headers and the GOP cache. Audio-only streams have no GOP cache.
//! With `gop_cache_unwatched = false` a stream without players keeps only its sequence headers and
//! metadata: the GOP cache restarts at the first keyframe after a player joins and is dropped when
//! the last one leaves.
//!
//! **Registry** (`registry.rs`): streams by (app, stream name without query string), isolated per
//! app, removed as soon as they have neither publisher nor players. Lock order: registry, then a
//! stream's state. Everything is `Send + Sync` for a multi-threaded runtime.

pub mod config;
mod error;
mod frame;
mod gop;
mod publisher;
mod registry;
mod ring;
mod stream;
mod subscriber;

pub use config::HubConfig;
pub use error::{PublishError, SubscriberClosed};
pub use frame::{FrameKind, MediaFrame, PeerInfo, PlayerEvent, PlayerInfo, PublisherInfo};
pub use publisher::Publisher;
pub use registry::{Hub, HubStats};
pub use subscriber::Subscriber;

/// A player output that the publisher's task serves directly, instead of waking the player's task.
///
/// After every append (frames, metadata, publish, unpublish, shutdown) the stream calls
/// [`DirectSink::on_append`] of each sink attached with [`Subscriber::attach_direct`], from the
/// publishing task, with no hub lock held. The sink reads its subscriber
/// ([`Subscriber::try_recv_batch`]) and writes without blocking when it can; otherwise it wakes
/// its own task. It must never block on a lock the player's task may hold (use `try_lock`).
pub trait DirectSink: Send + Sync {
    /// New entries are in the window (or the stream changed state).
    fn on_append(&self);
}
