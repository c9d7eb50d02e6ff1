//! TC messages on a flow (RFC 7425 §5.1.2) and the two RTMFP-only user control events
//! (§5.2 Flow Sync, §5.3.4 Set Keepalive Timers).
//!
//! One flow message = one RTMP message: `[type u8][timestamp u32 BE][payload]`. No chunking, no
//! length (the flow delimits messages) and no message stream ID (the flow's metadata carries it).
//! RTMP's chunk-stream and window control (types 1, 2, 3, 5, 6) have no meaning on flows and are
//! refused ([`TcMessageError::NotOverRtmfp`]); everything else, including the AMF3 "ext" forms
//! 15/17 with their leading 0x00, is carried as is.

use bytes::{BufMut, Bytes, BytesMut};
use sluice_rtmp::message::{MessageError, UserControlEvent};
use sluice_rtmp::{MessageType, RawMessage, Timestamp};

/// Bytes before the payload.
pub const HEADER_LEN: usize = 5;

/// User control event 34: Flow Sync (RFC 7425 §5.2).
pub const FLOW_SYNC: u16 = 34;
/// User control event 41: Set Keepalive Timers (RFC 7425 §5.3.4).
pub const SET_KEEPALIVE_TIMERS: u16 = 41;
/// Keepalive periods below this are raised to it by a receiver (RFC 7425 §5.3.4: 5 s).
pub const MIN_KEEPALIVE_MS: u32 = 5_000;

/// Why a flow message is not a usable TC message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TcMessageError {
    /// Shorter than the 5-byte header.
    #[error("TC message of {0} bytes is shorter than its 5-byte header")]
    Truncated(usize),
    /// A type that RFC 7425 §5.1.2 leaves out (chunk size, abort, acks, window, bandwidth).
    #[error("RTMP message type {0} is not carried over RTMFP (RFC 7425 §5.1.2)")]
    NotOverRtmfp(u8),
    /// A user control body is malformed.
    #[error("user control: {0}")]
    UserControl(#[from] MessageError),
}

/// An RTMP message as it travels on a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcMessage {
    /// RTMP message type.
    pub type_id: MessageType,
    /// RTMP timestamp (ms).
    pub timestamp: Timestamp,
    /// Body.
    pub payload: Bytes,
}

fn carried(t: MessageType) -> bool {
    !t.is_protocol_control()
}

impl TcMessage {
    /// A message; refuses types not carried over RTMFP.
    pub fn new(
        type_id: MessageType,
        timestamp: u32,
        payload: Bytes,
    ) -> Result<Self, TcMessageError> {
        if !carried(type_id) {
            return Err(TcMessageError::NotOverRtmfp(type_id.0));
        }
        Ok(TcMessage {
            type_id,
            timestamp: Timestamp(timestamp),
            payload,
        })
    }

    /// From an RTMP message (its chunk stream and message stream IDs are dropped: the flow
    /// carries the stream ID).
    pub fn from_raw(msg: &RawMessage) -> Result<Self, TcMessageError> {
        Self::new(msg.type_id, msg.timestamp.value(), msg.payload.clone())
    }

    /// Back to an RTMP message on `stream_id` (chunk stream chosen like an RTMP sender would:
    /// 2 for control, 3 for commands, 4 audio, 6 video, 5 data).
    pub fn into_raw(self, stream_id: u32) -> RawMessage {
        let csid = match self.type_id {
            MessageType::USER_CONTROL => 2,
            MessageType::AUDIO => 4,
            MessageType::VIDEO => 6,
            MessageType::DATA_AMF0 | MessageType::DATA_AMF3 => 5,
            _ => 3,
        };
        RawMessage {
            csid,
            timestamp: self.timestamp,
            type_id: self.type_id,
            stream_id,
            payload: self.payload,
        }
    }

    /// Encode for [`Endpoint::send`](crate::Endpoint::send).
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(HEADER_LEN + self.payload.len());
        out.put_u8(self.type_id.0);
        out.put_u32(self.timestamp.value());
        out.extend_from_slice(&self.payload);
        out.freeze()
    }

    /// Decode a flow message (zero-copy: the payload is a slice of `bytes`).
    pub fn decode(bytes: &Bytes) -> Result<Self, TcMessageError> {
        if bytes.len() < HEADER_LEN {
            return Err(TcMessageError::Truncated(bytes.len()));
        }
        let type_id = MessageType(bytes[0]);
        let ts = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        Self::new(type_id, ts, bytes.slice(HEADER_LEN..))
    }
}

/// A user control event as RTMFP uses them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TcUserControl {
    /// 34: hold this flow until `count` flows of the stream have delivered `sync_id`.
    FlowSync {
        /// Barrier identifier.
        sync_id: u32,
        /// Flows taking part (including this one).
        count: u32,
    },
    /// 41: keepalive periods the server asks for.
    SetKeepaliveTimers {
        /// How often the client should keep its session to the server alive (ms).
        server_keepalive_ms: u32,
        /// How often the client should keep P2P sessions alive (ms).
        peer_keepalive_ms: u32,
    },
    /// Any RTMP user control event (stream begin, EOF, buffer length...).
    Rtmp(UserControlEvent),
}

impl TcUserControl {
    /// Decode a user control body.
    pub fn decode(payload: &Bytes) -> Result<Self, TcMessageError> {
        let be = |at: usize, what: &'static str| -> Result<u32, TcMessageError> {
            payload
                .get(at..at + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or(TcMessageError::UserControl(MessageError::Truncated {
                    what,
                    needed: at + 4,
                    got: payload.len(),
                }))
        };
        let event = match payload.as_ref() {
            [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
            _ => return Ok(TcUserControl::Rtmp(UserControlEvent::decode(payload)?)),
        };
        Ok(match event {
            FLOW_SYNC => TcUserControl::FlowSync {
                sync_id: be(2, "Flow Sync")?,
                count: be(6, "Flow Sync")?,
            },
            SET_KEEPALIVE_TIMERS => TcUserControl::SetKeepaliveTimers {
                server_keepalive_ms: be(2, "Set Keepalive Timers")?,
                peer_keepalive_ms: be(6, "Set Keepalive Timers")?,
            },
            _ => TcUserControl::Rtmp(UserControlEvent::decode(payload)?),
        })
    }

    /// Encode a user control body.
    pub fn encode(&self) -> Bytes {
        let pair = |event: u16, a: u32, b: u32| {
            let mut out = BytesMut::with_capacity(10);
            out.put_u16(event);
            out.put_u32(a);
            out.put_u32(b);
            out.freeze()
        };
        match self {
            TcUserControl::FlowSync { sync_id, count } => pair(FLOW_SYNC, *sync_id, *count),
            TcUserControl::SetKeepaliveTimers {
                server_keepalive_ms,
                peer_keepalive_ms,
            } => pair(
                SET_KEEPALIVE_TIMERS,
                *server_keepalive_ms,
                *peer_keepalive_ms,
            ),
            TcUserControl::Rtmp(e) => e.encode(),
        }
    }

    /// As a complete TC message (timestamp 0).
    pub fn to_message(&self) -> TcMessage {
        TcMessage {
            type_id: MessageType::USER_CONTROL,
            timestamp: Timestamp::ZERO,
            payload: self.encode(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_bytes() {
        let m = TcMessage::new(
            MessageType::AUDIO,
            0x0102_0304,
            Bytes::from_static(&[0xAF, 0x01]),
        )
        .unwrap();
        let wire = m.encode();
        assert_eq!(&wire[..], &[0x08, 0x01, 0x02, 0x03, 0x04, 0xAF, 0x01]);
        assert_eq!(TcMessage::decode(&wire).unwrap(), m);
        let raw = m.clone().into_raw(1);
        assert_eq!((raw.csid, raw.stream_id), (4, 1));
        assert_eq!(TcMessage::from_raw(&raw).unwrap(), m);
    }

    #[test]
    fn refuses_chunk_layer_types_and_short_messages() {
        for t in [1u8, 2, 3, 5, 6] {
            let wire = Bytes::from(vec![t, 0, 0, 0, 0, 0, 0, 0, 1]);
            assert_eq!(
                TcMessage::decode(&wire),
                Err(TcMessageError::NotOverRtmfp(t))
            );
        }
        assert_eq!(
            TcMessage::decode(&Bytes::from_static(&[0x14, 0, 0])),
            Err(TcMessageError::Truncated(3))
        );
        // An empty body is fine (Flash sends empty data messages).
        assert!(TcMessage::decode(&Bytes::from_static(&[0x12, 0, 0, 0, 0])).is_ok());
    }

    #[test]
    fn flow_sync_and_keepalive_bytes() {
        let sync = TcUserControl::FlowSync {
            sync_id: 1,
            count: 3,
        };
        let wire = sync.to_message().encode();
        assert_eq!(
            &wire[..],
            &[0x04, 0, 0, 0, 0, 0x00, 0x22, 0, 0, 0, 1, 0, 0, 0, 3]
        );
        assert_eq!(TcUserControl::decode(&sync.encode()).unwrap(), sync);
        let ka = TcUserControl::SetKeepaliveTimers {
            server_keepalive_ms: 10_000,
            peer_keepalive_ms: 5_000,
        };
        assert_eq!(
            &ka.encode()[..],
            &[0x00, 0x29, 0x00, 0x00, 0x27, 0x10, 0x00, 0x00, 0x13, 0x88]
        );
        assert_eq!(TcUserControl::decode(&ka.encode()).unwrap(), ka);
        let begin = TcUserControl::decode(&Bytes::from_static(&[0, 0, 0, 0, 0, 1])).unwrap();
        assert_eq!(begin, TcUserControl::Rtmp(UserControlEvent::StreamBegin(1)));
        assert!(TcUserControl::decode(&Bytes::from_static(&[0x00, 0x22, 0, 0, 0, 1])).is_err());
    }
}
