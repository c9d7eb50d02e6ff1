//! Handles and events: what the application sees.

use std::net::SocketAddr;

use bytes::Bytes;

use crate::error::ProtocolError;

/// A session, by its local receive session ID (unique while the session exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionHandle(pub u32);

/// A local sending flow of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SendFlowId(pub u64);

/// A receiving flow of a session (the far end's flow ID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecvFlowId(pub u64);

/// Which flow closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowRef {
    /// A receiving flow reached its FIN.
    Recv(RecvFlowId),
    /// A sending flow finished (everything acknowledged after `close_flow`), or was rejected by
    /// the receiver with an exception code.
    Send {
        /// The flow.
        flow: SendFlowId,
        /// The far end's Flow Exception code, if it rejected the flow.
        exception: Option<u64>,
    },
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// Closed locally and acknowledged (or the close timed out).
    Local,
    /// The far end closed it.
    Peer,
    /// Nothing heard for [`EndpointConfig::idle_timeout`](crate::EndpointConfig).
    IdleTimeout,
    /// The startup got no answer after
    /// [`EndpointConfig::startup_attempts`](crate::EndpointConfig) transmissions.
    StartupTimeout,
    /// The far end's keying failed (bad key, no common group, failed negotiation).
    StartupFailed(crate::error::HandshakeError),
    /// The far end broke the protocol.
    ProtocolViolation(ProtocolError),
}

/// Something the application should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A session is open (either role).
    SessionOpened {
        /// The session.
        session: SessionHandle,
        /// The far end's peer ID (SHA-256 of its certificate's canonical part).
        peer_id: [u8; 32],
        /// The far end's address.
        addr: SocketAddr,
    },
    /// The far end opened a flow.
    FlowOpened {
        /// The session.
        session: SessionHandle,
        /// The new receiving flow.
        flow: RecvFlowId,
        /// Its metadata (RFC 7425: `TC` + flags + stream ID).
        metadata: Bytes,
        /// The local sending flow it answers, if it is a return flow.
        return_flow: Option<SendFlowId>,
    },
    /// A complete message.
    Message {
        /// The session.
        session: SessionHandle,
        /// The receiving flow.
        flow: RecvFlowId,
        /// The message.
        bytes: Bytes,
    },
    /// A flow closed.
    FlowClosed {
        /// The session.
        session: SessionHandle,
        /// Which flow.
        flow: FlowRef,
    },
    /// A session ended; its handle is no longer valid.
    SessionClosed {
        /// The session.
        session: SessionHandle,
        /// Why.
        reason: CloseReason,
    },
}
