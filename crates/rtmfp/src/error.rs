//! Errors, one enum per layer and one variant per rule broken.
//!
//! * [`CodecError`]: a structure (VLU, option, field, chunk) is malformed.
//! * [`PacketError`]: a datagram fails the packet layer (RFC 7016 §2.2, RFC 7425 §4.1–4.2):
//!   size, alignment, checksum, HMAC, replay, mode.
//! * [`HandshakeError`]: the far end broke a startup rule (RFC 7016 §3.5.1, RFC 7425 §4.3–4.6).
//! * [`ProtocolError`]: the far end broke a rule of an open session or a flow (RFC 7016 §3.6),
//!   including every [`Limits`](crate::Limits) it exceeded.
//! * [`PeerError`]: any of the above, as returned by
//!   [`Endpoint::handle_datagram`](crate::Endpoint::handle_datagram). The datagram is dropped;
//!   a [`ProtocolError`] on an open session also closes it.
//! * [`ApiError`]: local misuse of the API (an unknown handle, sending on a closed flow). Never
//!   caused by the far end.
//!
//! What goes back on the wire: packet and handshake errors get nothing (RFC 7016 §2.2.4 says to
//! drop bad packets silently); a protocol error closes the session with a Session Close Request
//! (§3.5.5) and reports [`CloseReason::ProtocolViolation`](crate::CloseReason).

use thiserror::Error;

/// A malformed encoding.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    /// The input ended inside a structure.
    #[error("truncated {what}")]
    Truncated {
        /// What was being read.
        what: &'static str,
    },
    /// A VLU does not fit 64 bits.
    #[error("VLU overflow in {what}")]
    VluOverflow {
        /// What was being read.
        what: &'static str,
    },
    /// An option list has more options than allowed.
    #[error("more than {max} options in {what}")]
    TooManyOptions {
        /// What was being read.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// A value is outside what the structure allows.
    #[error("invalid {what}")]
    Invalid {
        /// What was wrong.
        what: &'static str,
    },
}

/// A datagram rejected by the packet layer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PacketError {
    /// Shorter than the 4-byte scrambled session ID plus one cipher block.
    #[error("datagram of {len} bytes is too short")]
    TooShort {
        /// The datagram length.
        len: usize,
    },
    /// Longer than [`Limits::max_datagram_len`](crate::Limits::max_datagram_len).
    #[error("datagram of {len} bytes exceeds the limit of {max}")]
    TooLong {
        /// The datagram length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The encrypted part is not a whole number of 16-byte blocks (RFC 7425 §4.1).
    #[error("encrypted part of {len} bytes is not a multiple of 16")]
    NotBlockAligned {
        /// The encrypted length.
        len: usize,
    },
    /// The 16-bit checksum does not match (RFC 7425 §4.2).
    #[error("checksum mismatch")]
    BadChecksum,
    /// The HMAC does not match (RFC 7425 §4.6.5).
    #[error("HMAC mismatch")]
    BadHmac,
    /// A session sequence number was seen before or is too old (RFC 7425 §4.6.6).
    #[error("session sequence number {sseq} replayed or outside the window")]
    Replay {
        /// The sequence number.
        sseq: u64,
    },
    /// The mode bits are 0, or not the mode the far end's role must send (RFC 7016 §2.2.3).
    #[error("packet mode {mode} not allowed here")]
    BadMode {
        /// The mode bits.
        mode: u8,
    },
    /// No session has this ID.
    #[error("no session with ID {session_id:#010x}")]
    UnknownSession {
        /// The (unscrambled) session ID.
        session_id: u32,
    },
    /// A chunk or header is malformed.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// The far end broke a startup rule.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HandshakeError {
    /// A startup chunk appeared where it may not (wrong mode or direction).
    #[error("unexpected startup chunk {chunk:#04x}")]
    UnexpectedChunk {
        /// The chunk type.
        chunk: u8,
    },
    /// The cookie is not one of ours (bad MAC or length).
    #[error("invalid cookie")]
    BadCookie,
    /// The cookie is older than [`Limits::cookie_max_age`](crate::Limits::cookie_max_age).
    #[error("cookie expired")]
    CookieExpired,
    /// An endpoint discriminator the endpoint does not answer.
    #[error("endpoint discriminator not for this endpoint")]
    NotForUs,
    /// A certificate or key component is malformed.
    #[error("malformed {what}")]
    Malformed {
        /// Which structure.
        what: &'static str,
    },
    /// No Diffie-Hellman group both ends support (RFC 7425 §4.6.1).
    #[error("no common Diffie-Hellman group")]
    NoCommonGroup,
    /// The far Diffie-Hellman public key fails the range checks (RFC 7425 §4.6.2).
    #[error("invalid Diffie-Hellman public key")]
    BadPublicKey,
    /// The far end demands HMAC or session sequence numbers this end does not send, or refuses
    /// what this end requires.
    #[error("{what} negotiation failed")]
    Negotiation {
        /// `"HMAC"` or `"session sequence numbers"`.
        what: &'static str,
    },
    /// Too many startups in progress (responder half-open sessions or initiator opens).
    #[error("more than {max} startups in progress")]
    TooManyStartups {
        /// The limit.
        max: usize,
    },
    /// Too many sessions from one address.
    #[error("more than {max} sessions from one address")]
    TooManySessionsFromAddress {
        /// The limit.
        max: usize,
    },
    /// Too many sessions in all.
    #[error("more than {max} sessions")]
    TooManySessions {
        /// The limit.
        max: usize,
    },
    /// A reply that matches no startup in progress (unknown tag or session ID).
    #[error("reply matches no startup in progress")]
    NoSuchStartup,
    /// A chunk could not be decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// The far end broke a rule of an open session or flow, or exceeded a limit.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtocolError {
    /// Next User Data without a preceding User Data in the same packet (RFC 7016 §2.3.12).
    #[error("Next User Data without User Data before it")]
    OrphanNextUserData,
    /// A startup chunk inside an open session.
    #[error("startup chunk {chunk:#04x} in an open session")]
    StartupChunkInSession {
        /// The chunk type.
        chunk: u8,
    },
    /// A flow opened by the far end beyond [`Limits::max_flows_per_session`](crate::Limits).
    #[error("more than {max} receiving flows")]
    TooManyFlows {
        /// The limit.
        max: usize,
    },
    /// Buffered out-of-order or partial data beyond the per-flow limit.
    #[error("flow {flow} buffers more than {max} bytes")]
    FlowBufferExceeded {
        /// The far flow ID.
        flow: u64,
        /// The limit.
        max: usize,
    },
    /// Buffered data beyond the per-session limit.
    #[error("session buffers more than {max} bytes")]
    SessionBufferExceeded {
        /// The limit.
        max: usize,
    },
    /// A message made of more fragments than allowed.
    #[error("message of more than {max} fragments")]
    TooManyFragments {
        /// The limit.
        max: usize,
    },
    /// A sequence number too far ahead of the forward sequence number to buffer.
    #[error("sequence number {seq} too far ahead on flow {flow}")]
    SequenceTooFar {
        /// The far flow ID.
        flow: u64,
        /// The sequence number.
        seq: u64,
    },
    /// The fsnOffset exceeds the sequence number (RFC 7016 §2.3.11).
    #[error("fsnOffset {offset} larger than sequence number {seq}")]
    BadFsnOffset {
        /// The sequence number.
        seq: u64,
        /// The offset.
        offset: u64,
    },
    /// An acknowledgement for data never sent (RFC 7016 §3.6.2.5).
    #[error("acknowledgement of unsent sequence number {seq} on flow {flow}")]
    AckOfUnsent {
        /// The local flow ID.
        flow: u64,
        /// The sequence number.
        seq: u64,
    },
    /// A chunk could not be decoded.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// Why a datagram was dropped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PeerError {
    /// Packet layer.
    #[error(transparent)]
    Packet(#[from] PacketError),
    /// Startup.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// Open session; the session has been closed.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

impl From<CodecError> for PeerError {
    fn from(e: CodecError) -> Self {
        PeerError::Packet(PacketError::Codec(e))
    }
}

/// Local misuse of the API.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApiError {
    /// No such session (never existed, or closed).
    #[error("unknown session")]
    UnknownSession,
    /// The session is not open yet, or closing.
    #[error("session not open")]
    SessionNotOpen,
    /// No such flow on this session.
    #[error("unknown flow")]
    UnknownFlow,
    /// The flow has been closed for sending.
    #[error("flow closed")]
    FlowClosed,
    /// Too many local sending flows on one session.
    #[error("more than {max} sending flows")]
    TooManyFlows {
        /// The limit.
        max: usize,
    },
    /// Too many bytes queued on a flow.
    #[error("send queue of {max} bytes full")]
    SendQueueFull {
        /// The limit.
        max: usize,
    },
    /// Too many opens in progress.
    #[error("more than {max} startups in progress")]
    TooManyStartups {
        /// The limit.
        max: usize,
    },
    /// An endpoint discriminator or metadata too large for a packet.
    #[error("{what} too large")]
    TooLarge {
        /// Which value.
        what: &'static str,
    },
}
