//! Protocol control messages (RTMP 1.0 §5.4): Set Chunk Size (type 1, §5.4.1), Abort Message
//! (type 2, §5.4.2), Acknowledgement (type 3, §5.4.3), Window Acknowledgement Size (type 5,
//! §5.4.4) and Set Peer Bandwidth (type 6, §5.4.5).
//!
//! All five travel on chunk stream 2, message stream 0, and have fixed big-endian bodies: four
//! bytes, plus one limit-type byte for Set Peer Bandwidth.
//!
//! Leniency: bytes after the fixed fields are ignored (the body length is already bounded by the
//! chunk layer, and some peers pad). A body shorter than its fixed fields is a
//! [`MessageError::Truncated`]. A Set Chunk Size of 0 or with bit 31 set is
//! [`MessageError::InvalidChunkSize`] (ffmpeg and librtmp also refuse such values).

use super::error::{be_u32, MessageError};
use crate::types::{MessageType, RawMessage, Timestamp};
use bytes::{BufMut, Bytes, BytesMut};
use std::fmt;

/// Chunk stream id every protocol control and user control message uses (RTMP 1.0 §5.4).
pub const CONTROL_CSID: u32 = 2;

/// Largest valid Set Chunk Size value (31 bits, RTMP 1.0 §5.4.1).
pub const MAX_CHUNK_SIZE_VALUE: u32 = 0x7FFF_FFFF;

/// The limit type of Set Peer Bandwidth (RTMP 1.0 §5.4.5). Unknown values are kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LimitType(pub u8);

impl LimitType {
    /// Hard: limit output bandwidth to the indicated window size.
    pub const HARD: LimitType = LimitType(0);
    /// Soft: limit to the smaller of this window and the one already in effect.
    pub const SOFT: LimitType = LimitType(1);
    /// Dynamic: treat as Hard if the previous limit was Hard, else ignore.
    pub const DYNAMIC: LimitType = LimitType(2);

    /// The name of a known limit type, `None` for an unknown one.
    pub const fn name(self) -> Option<&'static str> {
        match self.0 {
            0 => Some("Hard"),
            1 => Some("Soft"),
            2 => Some("Dynamic"),
            _ => None,
        }
    }
}

impl fmt::Debug for LimitType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}({})", self.0),
            None => write!(f, "Unknown({})", self.0),
        }
    }
}

/// A decoded protocol control message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolControl {
    /// Type 1: the sender's new maximum chunk size, 1..=0x7FFFFFFF.
    SetChunkSize(u32),
    /// Type 2: discard the partly received message on this chunk stream.
    Abort {
        /// The chunk stream whose pending message is dropped.
        csid: u32,
    },
    /// Type 3: bytes received so far (wrapping u32).
    Acknowledgement {
        /// Sequence number: total bytes received.
        sequence: u32,
    },
    /// Type 5: the window after which the receiver must acknowledge.
    WindowAckSize(u32),
    /// Type 6: limit the peer's output bandwidth.
    SetPeerBandwidth {
        /// Window size in bytes.
        size: u32,
        /// How to apply it.
        limit: LimitType,
    },
}

impl ProtocolControl {
    /// Decodes the body of a protocol control message of type `type_id`.
    ///
    /// Errors: [`MessageError::NotProtocolControl`] for a type outside 1, 2, 3, 5, 6,
    /// [`MessageError::Truncated`] for a short body, [`MessageError::InvalidChunkSize`] for a
    /// Set Chunk Size of 0 or with bit 31 set. Trailing bytes are ignored.
    pub fn decode(type_id: MessageType, payload: &[u8]) -> Result<ProtocolControl, MessageError> {
        match type_id {
            MessageType::SET_CHUNK_SIZE => {
                let size = be_u32("Set Chunk Size", payload, 0)?;
                if size == 0 || size > MAX_CHUNK_SIZE_VALUE {
                    return Err(MessageError::InvalidChunkSize(size));
                }
                Ok(ProtocolControl::SetChunkSize(size))
            }
            MessageType::ABORT => Ok(ProtocolControl::Abort {
                csid: be_u32("Abort Message", payload, 0)?,
            }),
            MessageType::ACKNOWLEDGEMENT => Ok(ProtocolControl::Acknowledgement {
                sequence: be_u32("Acknowledgement", payload, 0)?,
            }),
            MessageType::WINDOW_ACK_SIZE => Ok(ProtocolControl::WindowAckSize(be_u32(
                "Window Acknowledgement Size",
                payload,
                0,
            )?)),
            MessageType::SET_PEER_BANDWIDTH => {
                let &[a, b, c, d, limit, ..] = payload else {
                    return Err(MessageError::Truncated {
                        what: "Set Peer Bandwidth",
                        needed: 5,
                        got: payload.len(),
                    });
                };
                let size = u32::from_be_bytes([a, b, c, d]);
                let limit = LimitType(limit);
                Ok(ProtocolControl::SetPeerBandwidth { size, limit })
            }
            other => Err(MessageError::NotProtocolControl(other)),
        }
    }

    /// The message type id this message travels as.
    pub fn message_type(&self) -> MessageType {
        match self {
            ProtocolControl::SetChunkSize(_) => MessageType::SET_CHUNK_SIZE,
            ProtocolControl::Abort { .. } => MessageType::ABORT,
            ProtocolControl::Acknowledgement { .. } => MessageType::ACKNOWLEDGEMENT,
            ProtocolControl::WindowAckSize(_) => MessageType::WINDOW_ACK_SIZE,
            ProtocolControl::SetPeerBandwidth { .. } => MessageType::SET_PEER_BANDWIDTH,
        }
    }

    /// Encodes the body. Values are written as given: a `SetChunkSize` outside
    /// 1..=0x7FFFFFFF is the caller's mistake and the peer will refuse it.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(5);
        match *self {
            ProtocolControl::SetChunkSize(v)
            | ProtocolControl::Abort { csid: v }
            | ProtocolControl::Acknowledgement { sequence: v }
            | ProtocolControl::WindowAckSize(v) => out.put_u32(v),
            ProtocolControl::SetPeerBandwidth { size, limit } => {
                out.put_u32(size);
                out.put_u8(limit.0);
            }
        }
        out.freeze()
    }

    /// The complete message: chunk stream 2, message stream 0, timestamp 0.
    pub fn to_raw(&self) -> RawMessage {
        RawMessage {
            csid: CONTROL_CSID,
            timestamp: Timestamp::ZERO,
            type_id: self.message_type(),
            stream_id: 0,
            payload: self.encode(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).expect("test hex")
    }

    fn check(msg: ProtocolControl, ty: u8, body: &str) {
        let bytes = h(body);
        assert_eq!(msg.message_type(), MessageType(ty));
        assert_eq!(msg.encode().as_ref(), &bytes[..], "encode {msg:?}");
        assert_eq!(
            ProtocolControl::decode(MessageType(ty), &bytes).expect("decode"),
            msg
        );
        let raw = msg.to_raw();
        assert_eq!(raw.csid, 2);
        assert_eq!(raw.stream_id, 0);
        assert_eq!(raw.timestamp, Timestamp::ZERO);
        assert_eq!(raw.type_id, MessageType(ty));
        assert_eq!(raw.payload.as_ref(), &bytes[..]);
    }

    #[test]
    fn hex_vectors() {
        check(ProtocolControl::SetChunkSize(4096), 1, "00 00 10 00");
        check(ProtocolControl::SetChunkSize(0x7FFF_FFFF), 1, "7F FF FF FF");
        check(ProtocolControl::Abort { csid: 4 }, 2, "00 00 00 04");
        check(
            ProtocolControl::Acknowledgement {
                sequence: 0x0102_0304,
            },
            3,
            "01 02 03 04",
        );
        check(ProtocolControl::WindowAckSize(2_500_000), 5, "00 26 25 A0");
    }

    #[test]
    fn set_peer_bandwidth_each_limit_type() {
        check(
            ProtocolControl::SetPeerBandwidth {
                size: 2_500_000,
                limit: LimitType::HARD,
            },
            6,
            "00 26 25 A0 00",
        );
        check(
            ProtocolControl::SetPeerBandwidth {
                size: 2_500_000,
                limit: LimitType::SOFT,
            },
            6,
            "00 26 25 A0 01",
        );
        check(
            ProtocolControl::SetPeerBandwidth {
                size: 2_500_000,
                limit: LimitType::DYNAMIC,
            },
            6,
            "00 26 25 A0 02",
        );
        // Unknown limit types are kept, not guessed.
        check(
            ProtocolControl::SetPeerBandwidth {
                size: 1,
                limit: LimitType(0x7F),
            },
            6,
            "00 00 00 01 7F",
        );
        assert_eq!(format!("{:?}", LimitType(9)), "Unknown(9)");
        assert_eq!(format!("{:?}", LimitType::SOFT), "Soft(1)");
    }

    #[test]
    fn truncated_at_every_cut() {
        for (ty, full) in [(1u8, 4usize), (2, 4), (3, 4), (5, 4), (6, 5)] {
            let body = [0x00, 0x00, 0x10, 0x00, 0x01];
            for cut in 0..full {
                match ProtocolControl::decode(MessageType(ty), &body[..cut]) {
                    Err(MessageError::Truncated { needed, got, .. }) => {
                        assert_eq!(needed, full, "type {ty} cut {cut}");
                        assert_eq!(got, cut);
                    }
                    other => panic!("type {ty} cut {cut}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn trailing_bytes_ignored() {
        assert_eq!(
            ProtocolControl::decode(MessageType::WINDOW_ACK_SIZE, &h("00 00 00 05 FF FF")).ok(),
            Some(ProtocolControl::WindowAckSize(5))
        );
    }

    #[test]
    fn invalid_chunk_size() {
        for body in ["00 00 00 00", "80 00 00 00", "FF FF FF FF"] {
            assert!(matches!(
                ProtocolControl::decode(MessageType::SET_CHUNK_SIZE, &h(body)),
                Err(MessageError::InvalidChunkSize(_))
            ));
        }
    }

    #[test]
    fn not_protocol_control() {
        for ty in [0u8, 4, 7, 8, 20, 255] {
            assert!(matches!(
                ProtocolControl::decode(MessageType(ty), &h("00 00 00 01 00")),
                Err(MessageError::NotProtocolControl(t)) if t == MessageType(ty)
            ));
        }
    }

    proptest::proptest! {
        #[test]
        fn round_trip(v in 0u32.., limit in 0u8..) {
            let msgs = [
                ProtocolControl::Abort { csid: v },
                ProtocolControl::Acknowledgement { sequence: v },
                ProtocolControl::WindowAckSize(v),
                ProtocolControl::SetPeerBandwidth { size: v, limit: LimitType(limit) },
                ProtocolControl::SetChunkSize((v & MAX_CHUNK_SIZE_VALUE).max(1)),
            ];
            for m in msgs {
                proptest::prop_assert_eq!(ProtocolControl::decode(m.message_type(), &m.encode()).ok(), Some(m));
            }
        }
    }
}
