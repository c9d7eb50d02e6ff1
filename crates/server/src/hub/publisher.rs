//! The publisher's handle on its stream: the only way to feed media into the hub.
//!
//! Every method is synchronous and cheap: it takes the stream's mutex (never held by players while
//! they read), appends to the shared window and wakes waiting players. It never waits for players.

use std::sync::Arc;

use bytes::Bytes;

use super::frame::MediaFrame;
use super::registry::HubInner;
use super::stream::Stream;

/// Holds the publisher slot of one (app, stream). Dropping it unpublishes: players get
/// [`PlayerEvent::Unpublish`](crate::hub::PlayerEvent::Unpublish) and keep waiting for the next
/// publisher.
#[derive(Debug)]
pub struct Publisher {
    stream: Arc<Stream>,
    hub: Arc<HubInner>,
    epoch: u64,
}

impl Publisher {
    pub(crate) fn new(stream: Arc<Stream>, hub: Arc<HubInner>, epoch: u64) -> Self {
        Self { stream, hub, epoch }
    }

    /// The application name this publisher publishes to.
    pub fn app(&self) -> &str {
        &self.stream.key.app
    }

    /// The stream name (without query string).
    pub fn stream_name(&self) -> &str {
        &self.stream.key.name
    }

    /// Cache `data` (the `onMetaData` body, already stripped of `@setDataFrame`) and send it to the
    /// players.
    pub fn set_metadata(&self, data: Bytes) {
        self.stream.set_metadata(self.epoch, data);
    }

    /// Send one frame to every player. Never blocks on or awaits players: cost is one mutex, one
    /// slot write and one wake-up round.
    pub fn send(&self, frame: MediaFrame) {
        self.stream.send_frames(self.epoch, std::iter::once(frame));
    }

    /// Send several frames (for example all messages decoded from one socket read) under one lock
    /// and with one wake-up round, which spares waking every player once per frame.
    pub fn send_many(&self, frames: impl IntoIterator<Item = MediaFrame>) {
        self.stream.send_frames(self.epoch, frames);
    }

    /// Players currently subscribed to this stream.
    pub fn player_count(&self) -> usize {
        self.stream
            .subscribers
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// True once the hub has been shut down: the connection should be closed.
    pub fn is_shut_down(&self) -> bool {
        self.stream.is_shut_down()
    }

    /// Give up the publisher slot (same as dropping the handle).
    pub fn unpublish(self) {
        drop(self);
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stream.release_publisher(self.epoch);
        tracing::debug!(app = %self.stream.key.app, stream = %self.stream.key.name, "unpublished");
        self.hub.release(&self.stream);
    }
}
