//! Errors of the hub layer: refusing a publisher and closing a player.
//!
//! Each variant names the rule that was broken and says what the connection driver sends on the wire.

/// Why [`Hub::publish`](crate::hub::Hub::publish) refused a publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// One publisher per (app, stream): a live publisher already holds the slot, and it is left
    /// untouched. Wire: `onStatus` `NetStream.Publish.BadName` (error), then close the stream.
    #[error("stream is already being published: one publisher per app/stream")]
    AlreadyPublishing,
    /// The hub was shut down and accepts no new publishers. Wire: close the connection.
    #[error("hub is shut down: no new publishers are accepted")]
    ShutDown,
}

/// Why a [`Subscriber`](crate::hub::Subscriber) stopped delivering events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubscriberClosed {
    /// The player stayed over its backlog bound (`player_queue_max_bytes`/`_frames`) for longer than
    /// `slow_player_timeout`. Wire: close the connection (one `warn` line is logged by the hub).
    #[error("player too slow: over its queue bound for longer than slow_player_timeout")]
    TooSlow,
    /// The hub was shut down. Wire: close the connection.
    #[error("hub is shut down")]
    ShutDown,
}
