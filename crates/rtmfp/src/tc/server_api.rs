//! The public types of [`TcServer`](super::TcServer): its settings, its events and its errors
//! (RFC 7425 §5.3–5.4; the state machine is in `server.rs`).

use std::time::Duration;

use sluice_amf::AmfLimits;
use sluice_rtmp::command::{CommandError, ConnectCommand, PlayArgs, PublishMode};
use sluice_rtmp::RawMessage;

use super::message::TcMessageError;
use super::sync::DEFAULT_MAX_HELD_BYTES;
use crate::error::ApiError;
/// Priority of the control, data and audio flows (RFC 7425 §5.1.3: IMMEDIATE).
pub const PRIORITY_IMMEDIATE: u8 = 5;
/// Priority of video flows (PRIORITY).
pub const PRIORITY_VIDEO: u8 = 4;
/// Flow exception code sent when a flow is refused (not TC, unknown stream, second control flow).
pub const EXCEPTION_REFUSED: u64 = 1;

/// Settings of a [`TcServer`].
#[derive(Debug, Clone)]
pub struct TcServerConfig {
    /// AMF decoding limits for commands.
    pub amf: AmfLimits,
    /// Streams one connection may have at once (default 16).
    pub max_streams: usize,
    /// Commands buffered while `connect` is being decided (default 16).
    pub max_pending_commands: usize,
    /// Bytes held behind one stream's Flow Sync barrier (default 1 MiB).
    pub max_sync_held_bytes: usize,
    /// Addresses kept from one `setPeerInfo` (default 8).
    pub max_peer_addresses: usize,
    /// Set Keepalive Timers sent after `connect` (server, peer; ms). Default 10 s and 5 s;
    /// `None` sends nothing.
    pub keepalive_ms: Option<(u32, u32)>,
    /// How long an audio message may wait for delivery before RTMFP abandons it (default 1.5 s).
    pub audio_lifetime: Duration,
    /// How long a video message may wait (default 1 s: video is dropped before audio).
    pub video_lifetime: Duration,
}

impl Default for TcServerConfig {
    fn default() -> Self {
        TcServerConfig {
            amf: AmfLimits::default(),
            max_streams: 16,
            max_pending_commands: 16,
            max_sync_held_bytes: DEFAULT_MAX_HELD_BYTES,
            max_peer_addresses: 8,
            keepalive_ms: Some((10_000, 5_000)),
            audio_lifetime: Duration::from_millis(1_500),
            video_lifetime: Duration::from_millis(1_000),
        }
    }
}

/// What the application decides or consumes.
#[derive(Debug, Clone, PartialEq)]
pub enum TcServerEvent {
    /// `connect`: answer with [`TcServer::accept_connect`] or [`TcServer::reject_connect`].
    Connect(ConnectCommand),
    /// `publish` on a stream: answer with [`TcServer::accept_publish`] or
    /// [`TcServer::reject_stream`].
    Publish {
        /// The stream.
        stream_id: u32,
        /// Stream name (with any query string).
        name: String,
        /// live / record / append.
        mode: PublishMode,
    },
    /// `play` on a stream: answer with [`TcServer::accept_play`] or [`TcServer::reject_stream`].
    Play {
        /// The stream.
        stream_id: u32,
        /// The play arguments.
        args: PlayArgs,
    },
    /// Audio, video or data from an accepted publisher, as an RTMP message on `stream_id`.
    Media(RawMessage),
    /// The stream stopped publishing or playing (`closeStream`, `deleteStream`, `FCUnpublish`
    /// or its flows closed).
    StreamClosed {
        /// The stream.
        stream_id: u32,
    },
    /// `setPeerInfo`: the client's own addresses, for P2P introduction (RFC 7425 §5.4).
    PeerInfo(Vec<String>),
    /// The client closed its control flow or the session ended.
    Disconnected,
}

/// A peer error: the caller logs it and closes the session.
#[derive(Debug, thiserror::Error)]
pub enum TcError {
    /// A flow message is not a TC message.
    #[error("TC message: {0}")]
    Message(#[from] TcMessageError),
    /// A command failed to decode.
    #[error("command: {0}")]
    Command(#[from] CommandError),
    /// More commands than [`TcServerConfig::max_pending_commands`] before `connect` was decided.
    #[error("more than {0} commands before connect was answered")]
    TooManyPending(usize),
    /// A command other than `connect` on a connection that has not connected.
    #[error("{0} before connect")]
    NotConnected(String),
    /// A second `connect`.
    #[error("connect repeated")]
    RepeatedConnect,
    /// The endpoint refused an operation (session gone, send queue full...).
    #[error("endpoint: {0}")]
    Api(#[from] ApiError),
}
