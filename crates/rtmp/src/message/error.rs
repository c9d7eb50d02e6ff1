//! The error type of the message layer: decoding and encoding the bodies of protocol control
//! (RTMP 1.0 §5.4), user control (§6.2, §7.1.7), shared object (§7.1.3) and aggregate (§7.1.6)
//! messages.
//!
//! Each variant names the rule that was broken. Variants fall in two groups:
//!
//! * **peer violations** (everything produced by a `decode`/`split` function): the remote side sent
//!   a malformed body. A session answers by closing the connection (protocol control, user control,
//!   aggregate) or by dropping the message and logging one line (shared object).
//! * **local misuse** ([`MessageError::is_local`] is true): the application asked to encode
//!   something the wire format cannot carry. Nothing is sent; the caller gets the error.

use crate::types::MessageType;
use sluice_amf::AmfError;
use thiserror::Error;

/// Errors of the message layer.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageError {
    /// A fixed-layout field did not fit in the body.
    #[error("truncated {what}: needs {needed} bytes, body has {got}")]
    Truncated {
        /// Which field or message was cut short.
        what: &'static str,
        /// Bytes required from the start of the body.
        needed: usize,
        /// Bytes actually present.
        got: usize,
    },

    /// `ProtocolControl::decode` was handed a message type other than 1, 2, 3, 5 or 6.
    #[error(
        "message type {0:?} is not a protocol control message (RTMP 1.0 §5.4: types 1, 2, 3, 5, 6)"
    )]
    NotProtocolControl(MessageType),

    /// Set Chunk Size outside 1..=0x7FFFFFFF (the top bit must be zero, zero is meaningless).
    #[error(
        "Set Chunk Size {0:#x} invalid: must be 1..=0x7FFFFFFF with bit 31 clear (RTMP 1.0 §5.4.1)"
    )]
    InvalidChunkSize(u32),

    /// An AMF value inside the body failed to decode.
    #[error("AMF value in message body: {0}")]
    Amf(#[from] AmfError),

    /// A string that must be UTF-8 (shared object name, property name, status text) was not.
    #[error("{what} is not valid UTF-8 (AMF0 strings are UTF-8)")]
    InvalidUtf8 {
        /// Which string.
        what: &'static str,
    },

    /// The format byte in front of an AMF3 shared object message (type 16) was not 0.
    #[error(
        "shared object (type 16) format byte {0:#04x} unsupported: only 0x00 (AMF0 body) is known"
    )]
    UnsupportedSharedObjectEncoding(u8),

    /// An event's declared data length runs past the end of the message.
    #[error(
        "shared object event type {event_type} declares {declared} data bytes but only {available} remain (RTMP 1.0 §7.1.3)"
    )]
    SharedObjectEventOverrun {
        /// The event type byte.
        event_type: u8,
        /// Declared event data length.
        declared: u32,
        /// Bytes left in the message.
        available: usize,
    },

    /// More events in one shared object message than `SharedObjectLimits::max_events`.
    #[error(
        "shared object message carries more than {limit} events (SharedObjectLimits::max_events)"
    )]
    TooManySharedObjectEvents {
        /// The configured limit.
        limit: usize,
    },

    /// More properties or values in one event than `SharedObjectLimits::max_items_per_event`.
    #[error(
        "shared object event type {event_type} carries more than {limit} items (SharedObjectLimits::max_items_per_event)"
    )]
    TooManySharedObjectItems {
        /// The event type byte.
        event_type: u8,
        /// The configured limit.
        limit: usize,
    },

    /// Local misuse: a string (or event body) longer than its length field can describe
    /// (16 bits for strings, 32 bits for shared object event data).
    #[error("{what} is {len} bytes long, more than its length field can describe")]
    StringTooLong {
        /// Which string.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },

    /// An aggregate sub-message header or body runs past the end of the aggregate.
    #[error(
        "aggregate truncated at byte {offset}: sub-message needs {needed} bytes, {got} remain (RTMP 1.0 §7.1.6)"
    )]
    AggregateTruncated {
        /// Offset of the sub-message within the aggregate body.
        offset: usize,
        /// Bytes the sub-message (header + data + back pointer) needs.
        needed: usize,
        /// Bytes left in the body.
        got: usize,
    },

    /// A sub-message's back pointer differs from 11 + its data size (only when checking strictly).
    #[error(
        "aggregate sub-message {index}: back pointer {got} != 11 + data size = {expected} (RTMP 1.0 §7.1.6)"
    )]
    AggregateBackPointerMismatch {
        /// Index of the sub-message.
        index: usize,
        /// 11 + data size.
        expected: u32,
        /// The value on the wire.
        got: u32,
    },

    /// More sub-messages in one aggregate than `AggregateLimits::max_sub_messages`.
    #[error(
        "aggregate carries more than {limit} sub-messages (AggregateLimits::max_sub_messages)"
    )]
    TooManySubMessages {
        /// The configured limit.
        limit: usize,
    },

    /// An aggregate inside an aggregate: refused so that splitting can never recurse.
    #[error("aggregate sub-message {index} is itself an aggregate (type 22); nesting is refused")]
    NestedAggregate {
        /// Index of the sub-message.
        index: usize,
    },

    /// Local misuse: `build_aggregate` was given no messages.
    #[error("an aggregate needs at least one sub-message")]
    EmptyAggregate,

    /// Local misuse: messages of different message streams cannot share one aggregate.
    #[error(
        "aggregate sub-message {index} is on stream {got}, the aggregate on stream {expected} (RTMP 1.0 §7.1.6)"
    )]
    AggregateStreamMismatch {
        /// Index of the offending message.
        index: usize,
        /// The first message's stream id.
        expected: u32,
        /// The offending message's stream id.
        got: u32,
    },

    /// Local misuse: a sub-message body larger than the 24-bit size field.
    #[error(
        "aggregate sub-message {index} is {size} bytes; the size field holds at most 0xFFFFFF"
    )]
    AggregateSubMessageTooLarge {
        /// Index of the offending message.
        index: usize,
        /// Its body size.
        size: usize,
    },

    /// Local misuse: the aggregate body would exceed the 24-bit RTMP message length.
    #[error("aggregate body would be {size} bytes; an RTMP message holds at most 0xFFFFFF")]
    AggregateTooLarge {
        /// The body size that was reached.
        size: usize,
    },
}

impl MessageError {
    /// True for errors caused by the local application (encoding something unrepresentable),
    /// false for errors caused by the peer's bytes.
    pub fn is_local(&self) -> bool {
        matches!(
            self,
            MessageError::StringTooLong { .. }
                | MessageError::EmptyAggregate
                | MessageError::AggregateStreamMismatch { .. }
                | MessageError::AggregateSubMessageTooLarge { .. }
                | MessageError::AggregateTooLarge { .. }
        )
    }
}

/// Reads a big-endian u32 at `at`, or reports `what` as truncated.
pub(crate) fn be_u32(what: &'static str, payload: &[u8], at: usize) -> Result<u32, MessageError> {
    match payload.get(at..at + 4) {
        Some(&[a, b, c, d]) => Ok(u32::from_be_bytes([a, b, c, d])),
        _ => Err(MessageError::Truncated {
            what,
            needed: at + 4,
            got: payload.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_and_peer_errors_are_told_apart() {
        let local = MessageError::StringTooLong {
            what: "shared object name",
            len: 70_000,
        };
        assert!(local.is_local());
        assert!(MessageError::EmptyAggregate.is_local());
        let peer = MessageError::InvalidChunkSize(0);
        assert!(!peer.is_local());
        assert!(peer.to_string().contains("§5.4.1"));
        let amf: MessageError = AmfError::InvalidUtf8.into();
        assert!(!amf.is_local());
        assert!(amf.to_string().starts_with("AMF value"));
    }
}
