//! Wire-level types shared by every layer of the core: the RTMP timestamp (a wrapping 32-bit
//! millisecond counter, compared with serial-number arithmetic as RTMP 1.0 §5.3.1 and RFC 1982
//! require), the message type id (RTMP 1.0 §5.4, §6, §7.1) and a complete message as it leaves
//! the chunk stream layer.

use bytes::Bytes;
use std::cmp::Ordering;
use std::fmt;

/// An RTMP timestamp: milliseconds, wrapping at 2^32.
///
/// Ordering uses serial-number arithmetic (RFC 1982): `a < b` when `b` is ahead of `a` by less
/// than 2^31, so comparisons stay correct across the wrap (every ~49.7 days of stream time).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Timestamp(pub u32);

impl Timestamp {
    /// Zero.
    pub const ZERO: Timestamp = Timestamp(0);

    /// Milliseconds as carried on the wire.
    pub const fn value(self) -> u32 {
        self.0
    }

    /// `self + delta`, wrapping.
    #[must_use]
    pub const fn add(self, delta: u32) -> Timestamp {
        Timestamp(self.0.wrapping_add(delta))
    }

    /// The forward distance from `earlier` to `self`, wrapping (`self - earlier mod 2^32`).
    pub const fn delta_since(self, earlier: Timestamp) -> u32 {
        self.0.wrapping_sub(earlier.0)
    }

    /// Signed serial-number difference `self - other`, in `-2^31 .. 2^31`.
    pub const fn serial_diff(self, other: Timestamp) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> Ordering {
        self.serial_diff(*other).cmp(&0)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<u32> for Timestamp {
    fn from(v: u32) -> Self {
        Timestamp(v)
    }
}

/// A message type id (one byte on the wire). Unknown values are kept, never guessed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageType(pub u8);

impl MessageType {
    /// Protocol control: Set Chunk Size (RTMP 1.0 §5.4.1).
    pub const SET_CHUNK_SIZE: MessageType = MessageType(1);
    /// Protocol control: Abort Message (§5.4.2).
    pub const ABORT: MessageType = MessageType(2);
    /// Protocol control: Acknowledgement (§5.4.3).
    pub const ACKNOWLEDGEMENT: MessageType = MessageType(3);
    /// User Control Message (§6.2).
    pub const USER_CONTROL: MessageType = MessageType(4);
    /// Protocol control: Window Acknowledgement Size (§5.4.4).
    pub const WINDOW_ACK_SIZE: MessageType = MessageType(5);
    /// Protocol control: Set Peer Bandwidth (§5.4.5).
    pub const SET_PEER_BANDWIDTH: MessageType = MessageType(6);
    /// Audio data (§7.1.4).
    pub const AUDIO: MessageType = MessageType(8);
    /// Video data (§7.1.5).
    pub const VIDEO: MessageType = MessageType(9);
    /// Data message, AMF3 (§7.1.2).
    pub const DATA_AMF3: MessageType = MessageType(15);
    /// Shared object message, AMF3 (§7.1.3).
    pub const SHARED_OBJECT_AMF3: MessageType = MessageType(16);
    /// Command message, AMF3 (§7.1.1).
    pub const COMMAND_AMF3: MessageType = MessageType(17);
    /// Data message, AMF0 (§7.1.2).
    pub const DATA_AMF0: MessageType = MessageType(18);
    /// Shared object message, AMF0 (§7.1.3).
    pub const SHARED_OBJECT_AMF0: MessageType = MessageType(19);
    /// Command message, AMF0 (§7.1.1).
    pub const COMMAND_AMF0: MessageType = MessageType(20);
    /// Aggregate message (§7.1.6).
    pub const AGGREGATE: MessageType = MessageType(22);

    /// The name of a known type, `None` for an unknown one.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "SetChunkSize",
            2 => "Abort",
            3 => "Acknowledgement",
            4 => "UserControl",
            5 => "WindowAckSize",
            6 => "SetPeerBandwidth",
            8 => "Audio",
            9 => "Video",
            15 => "DataAmf3",
            16 => "SharedObjectAmf3",
            17 => "CommandAmf3",
            18 => "DataAmf0",
            19 => "SharedObjectAmf0",
            20 => "CommandAmf0",
            22 => "Aggregate",
            _ => return None,
        })
    }

    /// Whether this is one of the protocol control types 1, 2, 3, 5, 6.
    pub const fn is_protocol_control(self) -> bool {
        matches!(self.0, 1 | 2 | 3 | 5 | 6)
    }
}

impl fmt::Debug for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}({})", self.0),
            None => write!(f, "Unknown({})", self.0),
        }
    }
}

impl From<u8> for MessageType {
    fn from(v: u8) -> Self {
        MessageType(v)
    }
}

/// A complete RTMP message as produced by the chunk decoder and consumed by the chunk encoder.
///
/// `csid` is the chunk stream the message travelled (or will travel) on; it carries no meaning
/// above the chunk layer but is kept for diagnostics and for the encoder's header compression.
#[derive(Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// Chunk stream id, 2..=65599.
    pub csid: u32,
    /// Absolute timestamp (deltas already applied by the decoder).
    pub timestamp: Timestamp,
    /// Message type id.
    pub type_id: MessageType,
    /// Message stream id (little-endian on the wire in type-0 chunk headers).
    pub stream_id: u32,
    /// The message body.
    pub payload: Bytes,
}

impl fmt::Debug for RawMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawMessage")
            .field("csid", &self.csid)
            .field("timestamp", &self.timestamp)
            .field("type_id", &self.type_id)
            .field("stream_id", &self.stream_id)
            .field("len", &self.payload.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_order_across_wrap() {
        let a = Timestamp(u32::MAX - 10);
        let b = a.add(20);
        assert_eq!(b.0, 9);
        assert!(a < b);
        assert_eq!(b.delta_since(a), 20);
        assert_eq!(a.serial_diff(b), -20);
    }
}
