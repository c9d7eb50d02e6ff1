//! Session state machines: the RTMP connection above the byte stream (RTMP 1.0 §7: handshake,
//! then NetConnection and NetStream commands), for both ends.
//!
//! Both are sans-IO (no sockets, no clock, no async): the driver feeds received bytes with
//! `handle_input`, drains `poll_event` for things the application must know or decide, calls
//! plain methods for its decisions and requests (`accept_publish`, `send_video`, ...), and writes
//! whatever `poll_transmit` returns to the peer. Call order for a driver:
//!
//! 1. construct the session (a client queues C0+C1 at once);
//! 2. write out every `poll_transmit()` buffer (vectored writes welcome);
//! 3. on bytes from the peer: `handle_input(bytes)?` — an `Err` means the peer broke the protocol:
//!    log it and close the connection;
//! 4. drain `poll_event()` and act on each event (application decisions go back through methods);
//! 5. repeat from 2.
//!
//! Time never enters the core: keepalives (`send_ping`) and timeouts are the driver's business.

pub mod client;
mod conn;
pub mod server;
mod server_api;

pub use client::{ClientConfig, ClientEvent, ClientSession};
pub use server::{RequestId, ServerConfig, ServerEvent, ServerSession};

use crate::chunk::ChunkError;
use crate::command::CommandError;
use crate::handshake::HandshakeError;
use crate::message::MessageError;

/// Errors of the session layer. The first four are the peer's fault (close the connection);
/// the rest are local misuse of the API.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The handshake failed (RTMP 1.0 §5.2).
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    /// The chunk stream is corrupt or exceeds a limit (§5.3).
    #[error("chunk stream: {0}")]
    Chunk(#[from] ChunkError),
    /// A control, user control, shared object or aggregate message is malformed (§5.4, §6, §7.1).
    #[error("message: {0}")]
    Message(#[from] MessageError),
    /// A command message is malformed (§7.1.1, §7.2).
    #[error("command: {0}")]
    Command(#[from] CommandError),
    /// The peer sent a message that is not allowed in the current state.
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    /// The application answered a request id that is unknown or already answered.
    #[error("unknown or already answered request {0}")]
    UnknownRequest(u64),
    /// The application referred to a message stream that does not exist or is in the wrong state.
    #[error("message stream {stream_id}: {why}")]
    BadStream {
        /// The message stream id.
        stream_id: u32,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A client sent more media while its publish awaited a decision than
    /// `ServerConfig::max_held_publish_bytes` allows.
    #[error("message stream {stream_id}: more than {limit} bytes of media sent before the publish was accepted")]
    HeldMediaLimit {
        /// The message stream id.
        stream_id: u32,
        /// The limit in force.
        limit: usize,
    },
    /// The session was closed; no further input or output is possible.
    #[error("session closed")]
    Closed,
}

/// Chunk stream ids used for outgoing messages. Peers do not depend on them, but these match
/// common practice (ffmpeg, SRS): protocol control on 2, connection commands on 3, stream-level
/// commands and data on 5, audio on 4 and video on 6.
pub mod csid {
    /// Protocol control and user control messages (§5.4: must be 2).
    pub const CONTROL: u32 = 2;
    /// NetConnection commands and their responses.
    pub const COMMAND: u32 = 3;
    /// Audio messages.
    pub const AUDIO: u32 = 4;
    /// NetStream commands, onStatus and data messages.
    pub const STREAM: u32 = 5;
    /// Video messages.
    pub const VIDEO: u32 = 6;
}
