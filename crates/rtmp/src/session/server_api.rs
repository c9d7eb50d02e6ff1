//! The application-facing types of the server session ([`super::server::ServerSession`]): its
//! settings, the events it raises and the ids of the requests the application answers.

use crate::chunk::ChunkLimits;
use crate::command::{CommandMessage, ConnectCommand, PlayArgs, PublishMode};
use crate::handshake::HandshakeKind;
use crate::message::{AggregateLimits, SharedObjectMessage};
use crate::types::{MessageType, Timestamp};
use bytes::Bytes;
use sluice_amf::AmfLimits;
use std::fmt;

/// Server session settings. Every limit applies to what the peer controls.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Chunk stream limits (chunk size, message size, chunk streams, buffered bytes).
    pub chunk: ChunkLimits,
    /// AMF decoding limits for commands and data (nesting depth, element counts).
    pub amf: AmfLimits,
    /// Aggregate message limits.
    pub aggregate: AggregateLimits,
    /// Most message streams (createStream) one connection may hold. Default 16.
    pub max_streams: u32,
    /// Chunk size announced after connect for everything we send. Default 4096.
    pub chunk_size: u32,
    /// Window Acknowledgement Size announced to the client. Default 2 500 000.
    pub window_ack_size: u32,
    /// Set Peer Bandwidth sent to the client (dynamic limit). Default 2 500 000.
    pub peer_bandwidth: u32,
    /// Whether to send onBWDone after connect (Flash clients wait for it). Default true.
    pub send_bw_done: bool,
    /// Messages that arrive in one chunk and are at most this long are copied out of the input
    /// buffer instead of sliced from it, so that small frames a server keeps (GOP cache) do not
    /// pin whole input buffers. Default 4096; 0 = always zero-copy.
    pub copy_small_messages: usize,
    /// Bytes of audio, video and data a client may send on a message stream whose publish is
    /// still awaiting the application's decision (a hook round trip); they are held and
    /// delivered in order once the publish is accepted, dropped if it is refused. Past this
    /// the session fails with [`SessionError::HeldMediaLimit`]. Default 4 MiB.
    pub max_held_publish_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            chunk: ChunkLimits::default(),
            amf: AmfLimits::default(),
            aggregate: AggregateLimits::default(),
            max_streams: 16,
            chunk_size: 4096,
            window_ack_size: 2_500_000,
            peer_bandwidth: 2_500_000,
            send_bw_done: true,
            copy_small_messages: 4096,
            max_held_publish_bytes: 4 << 20,
        }
    }
}

/// Identifies a request awaiting the application's decision.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Something the application must know about or decide.
#[derive(Debug, Clone)]
pub enum ServerEvent {
    /// The handshake finished (`None` kind only if the handshake did not report one).
    HandshakeComplete(Option<HandshakeKind>),
    /// A client asks to connect: answer with `accept_connect` or `reject_connect`.
    ConnectRequest {
        /// The request to answer.
        request: RequestId,
        /// The connect command.
        command: Box<ConnectCommand>,
    },
    /// A message stream was created (answered automatically).
    StreamCreated {
        /// The new message stream id.
        stream_id: u32,
    },
    /// FMLE-style `releaseStream` / `FCPublish` / `FCUnpublish` (answered automatically).
    FmleCommand {
        /// `releaseStream`, `FCPublish` or `FCUnpublish`.
        command: &'static str,
        /// The stream name argument.
        name: String,
    },
    /// A client asks to publish: answer with `accept_publish` or `reject_publish`.
    PublishRequest {
        /// The request to answer.
        request: RequestId,
        /// Message stream the publish arrived on.
        stream_id: u32,
        /// Publishing name (with any query string).
        name: String,
        /// live / record / append.
        mode: PublishMode,
    },
    /// A client asks to play: answer with `accept_play` or `reject_play`.
    PlayRequest {
        /// The request to answer.
        request: RequestId,
        /// Message stream the play arrived on.
        stream_id: u32,
        /// play arguments.
        args: PlayArgs,
        /// true when the request came from `play2`.
        play2: bool,
    },
    /// Audio from a publisher.
    Audio {
        /// Message stream id.
        stream_id: u32,
        /// Timestamp.
        timestamp: Timestamp,
        /// The audio tag body.
        payload: Bytes,
    },
    /// Video from a publisher.
    Video {
        /// Message stream id.
        stream_id: u32,
        /// Timestamp.
        timestamp: Timestamp,
        /// The video tag body.
        payload: Bytes,
    },
    /// A data message (`@setDataFrame`, `onMetaData`, `onTextData`, ...) from a publisher.
    Data {
        /// Message stream id.
        stream_id: u32,
        /// Timestamp.
        timestamp: Timestamp,
        /// The first value of the body when it is a string (the handler name).
        name: String,
        /// The AMF0 body (AMF3 data messages have their format byte removed).
        payload: Bytes,
    },
    /// A publisher stopped (FCUnpublish, closeStream or deleteStream on its stream).
    PublishStopped {
        /// Message stream id.
        stream_id: u32,
    },
    /// A player stopped (closeStream or deleteStream on its stream).
    PlayStopped {
        /// Message stream id.
        stream_id: u32,
    },
    /// A message stream was deleted (after any Publish/PlayStopped for it).
    StreamDeleted {
        /// Message stream id.
        stream_id: u32,
    },
    /// A player paused or resumed (already answered with Pause/Unpause.Notify).
    Pause {
        /// Message stream id.
        stream_id: u32,
        /// true = paused.
        paused: bool,
        /// Position the client reported, ms.
        position_ms: f64,
    },
    /// A player asked to seek (answered with Seek.Notify; live streams ignore the position).
    Seek {
        /// Message stream id.
        stream_id: u32,
        /// Requested position, ms.
        position_ms: f64,
    },
    /// receiveAudio / receiveVideo changed (applied by the session's send functions).
    ReceiveChanged {
        /// Message stream id.
        stream_id: u32,
        /// Audio enabled.
        audio: bool,
        /// Video enabled.
        video: bool,
    },
    /// The client set its buffer length.
    SetBufferLength {
        /// Message stream id.
        stream_id: u32,
        /// Buffer length, ms.
        buffer_ms: u32,
    },
    /// `getStreamLength`: answer with `respond_stream_length`.
    StreamLengthRequest {
        /// The request to answer.
        request: RequestId,
        /// Stream name.
        name: String,
    },
    /// A remote procedure call the session does not handle: answer with `respond_call` or
    /// `respond_call_error` if the transaction id is non-zero.
    Call {
        /// The request to answer.
        request: RequestId,
        /// Message stream it arrived on.
        stream_id: u32,
        /// The call.
        command: CommandMessage,
    },
    /// A shared object message.
    SharedObject {
        /// The message.
        message: SharedObjectMessage,
        /// Whether it came as type 16 (AMF3 variant).
        amf3: bool,
    },
    /// The client acknowledged this many bytes (sequence number of its Acknowledgement).
    Acknowledgement(u32),
    /// Answer to our `send_ping`.
    PingResponse(u32),
    /// The client closed the NetConnection (`close`).
    CloseRequested,
    /// A message was ignored because it is not valid in the current state or of an unknown
    /// type; the connection goes on.
    Ignored {
        /// Type of the ignored message.
        type_id: MessageType,
        /// Why.
        reason: &'static str,
    },
}
