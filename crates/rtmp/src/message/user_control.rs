//! User control messages (message type 4, RTMP 1.0 §6.2 and the event list of §7.1.7), plus the
//! widely deployed events the 2012 spec leaves out (SWF verification 26/27, buffer empty/ready
//! 31/32, as sent by Flash Media Server, Red5 and librtmp).
//!
//! Body: a big-endian u16 event type followed by the event data. Every stream event carries the
//! 4-byte message stream id; Set Buffer Length adds a 4-byte buffer length in milliseconds; Ping
//! carries a 4-byte timestamp; SWF verification request has no data and its response carries
//! 42 bytes. User control messages travel on chunk stream 2, message stream 0.
//!
//! Leniency: bytes after an event's fixed data are ignored (Red5-era servers sometimes pad);
//! unknown event types are kept whole as [`UserControlEvent::Unknown`].

use super::control::CONTROL_CSID;
use super::error::{be_u32, MessageError};
use crate::types::{MessageType, RawMessage, Timestamp};
use bytes::{BufMut, Bytes, BytesMut};

/// Length of the SWF verification response data (event 27).
pub const SWF_VERIFY_RESPONSE_LEN: usize = 42;

/// A user control event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserControlEvent {
    /// 0: the stream with this id is ready to carry data.
    StreamBegin(u32),
    /// 1: playback of the stream with this id has finished.
    StreamEof(u32),
    /// 2: the stream with this id has no more data for now.
    StreamDry(u32),
    /// 3: the client's buffer length for a stream.
    SetBufferLength {
        /// Message stream id.
        stream_id: u32,
        /// Buffer length in milliseconds.
        buffer_ms: u32,
    },
    /// 4: the stream with this id is a recorded stream.
    StreamIsRecorded(u32),
    /// 6: liveness probe carrying the sender's local time.
    PingRequest(u32),
    /// 7: answer to a ping, echoing its timestamp.
    PingResponse(u32),
    /// 26: the server asks for the SWF verification hash (no data).
    SwfVerifyRequest,
    /// 27: the client's SWF verification answer ([`SWF_VERIFY_RESPONSE_LEN`] bytes).
    SwfVerifyResponse(Bytes),
    /// 31: the stream with this id ran out of buffered data.
    BufferEmpty(u32),
    /// 32: the stream with this id has buffered data again.
    BufferReady(u32),
    /// Any other event type, kept with its raw data.
    Unknown {
        /// The event type on the wire.
        event_type: u16,
        /// Everything after the event type.
        data: Bytes,
    },
}

impl UserControlEvent {
    /// Event type 0.
    pub const STREAM_BEGIN: u16 = 0;
    /// Event type 1.
    pub const STREAM_EOF: u16 = 1;
    /// Event type 2.
    pub const STREAM_DRY: u16 = 2;
    /// Event type 3.
    pub const SET_BUFFER_LENGTH: u16 = 3;
    /// Event type 4.
    pub const STREAM_IS_RECORDED: u16 = 4;
    /// Event type 6.
    pub const PING_REQUEST: u16 = 6;
    /// Event type 7.
    pub const PING_RESPONSE: u16 = 7;
    /// Event type 26.
    pub const SWF_VERIFY_REQUEST: u16 = 26;
    /// Event type 27.
    pub const SWF_VERIFY_RESPONSE: u16 = 27;
    /// Event type 31.
    pub const BUFFER_EMPTY: u16 = 31;
    /// Event type 32.
    pub const BUFFER_READY: u16 = 32;

    /// Decodes a user control message body. The SWF verification response and unknown events
    /// keep zero-copy slices of `payload`.
    pub fn decode(payload: &Bytes) -> Result<Self, MessageError> {
        let &[hi, lo, ..] = payload.as_ref() else {
            return Err(MessageError::Truncated {
                what: "user control event type",
                needed: 2,
                got: payload.len(),
            });
        };
        let event_type = u16::from_be_bytes([hi, lo]);
        let u32_at = |what, at| be_u32(what, payload, at);
        Ok(match event_type {
            Self::STREAM_BEGIN => Self::StreamBegin(u32_at("StreamBegin", 2)?),
            Self::STREAM_EOF => Self::StreamEof(u32_at("StreamEOF", 2)?),
            Self::STREAM_DRY => Self::StreamDry(u32_at("StreamDry", 2)?),
            Self::SET_BUFFER_LENGTH => Self::SetBufferLength {
                stream_id: u32_at("SetBufferLength", 2)?,
                buffer_ms: u32_at("SetBufferLength", 6)?,
            },
            Self::STREAM_IS_RECORDED => Self::StreamIsRecorded(u32_at("StreamIsRecorded", 2)?),
            Self::PING_REQUEST => Self::PingRequest(u32_at("PingRequest", 2)?),
            Self::PING_RESPONSE => Self::PingResponse(u32_at("PingResponse", 2)?),
            Self::SWF_VERIFY_REQUEST => Self::SwfVerifyRequest,
            Self::SWF_VERIFY_RESPONSE => {
                let end = 2 + SWF_VERIFY_RESPONSE_LEN;
                if payload.len() < end {
                    return Err(MessageError::Truncated {
                        what: "SWFVerificationResponse",
                        needed: end,
                        got: payload.len(),
                    });
                }
                Self::SwfVerifyResponse(payload.slice(2..end))
            }
            Self::BUFFER_EMPTY => Self::BufferEmpty(u32_at("BufferEmpty", 2)?),
            Self::BUFFER_READY => Self::BufferReady(u32_at("BufferReady", 2)?),
            _ => Self::Unknown {
                event_type,
                data: payload.slice(2..),
            },
        })
    }

    /// The event type on the wire.
    pub fn event_type(&self) -> u16 {
        match self {
            Self::StreamBegin(_) => Self::STREAM_BEGIN,
            Self::StreamEof(_) => Self::STREAM_EOF,
            Self::StreamDry(_) => Self::STREAM_DRY,
            Self::SetBufferLength { .. } => Self::SET_BUFFER_LENGTH,
            Self::StreamIsRecorded(_) => Self::STREAM_IS_RECORDED,
            Self::PingRequest(_) => Self::PING_REQUEST,
            Self::PingResponse(_) => Self::PING_RESPONSE,
            Self::SwfVerifyRequest => Self::SWF_VERIFY_REQUEST,
            Self::SwfVerifyResponse(_) => Self::SWF_VERIFY_RESPONSE,
            Self::BufferEmpty(_) => Self::BUFFER_EMPTY,
            Self::BufferReady(_) => Self::BUFFER_READY,
            Self::Unknown { event_type, .. } => *event_type,
        }
    }

    /// Encodes the body. `SwfVerifyResponse` and `Unknown` data are written as given.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(10);
        out.put_u16(self.event_type());
        match self {
            Self::StreamBegin(v)
            | Self::StreamEof(v)
            | Self::StreamDry(v)
            | Self::StreamIsRecorded(v)
            | Self::PingRequest(v)
            | Self::PingResponse(v)
            | Self::BufferEmpty(v)
            | Self::BufferReady(v) => out.put_u32(*v),
            Self::SetBufferLength {
                stream_id,
                buffer_ms,
            } => {
                out.put_u32(*stream_id);
                out.put_u32(*buffer_ms);
            }
            Self::SwfVerifyRequest => {}
            Self::SwfVerifyResponse(data) | Self::Unknown { data, .. } => {
                out.extend_from_slice(data)
            }
        }
        out.freeze()
    }

    /// The complete message: type 4, chunk stream 2, message stream 0, timestamp 0.
    pub fn to_raw(&self) -> RawMessage {
        RawMessage {
            csid: CONTROL_CSID,
            timestamp: Timestamp::ZERO,
            type_id: MessageType::USER_CONTROL,
            stream_id: 0,
            payload: self.encode(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Bytes {
        Bytes::from(hex::decode(s.replace(' ', "")).expect("test hex"))
    }

    fn check(ev: UserControlEvent, body: &str) {
        let bytes = h(body);
        assert_eq!(ev.encode(), bytes, "encode {ev:?}");
        assert_eq!(UserControlEvent::decode(&bytes).expect("decode"), ev);
        let raw = ev.to_raw();
        assert_eq!(
            (raw.csid, raw.stream_id, raw.type_id),
            (2, 0, MessageType::USER_CONTROL)
        );
        assert_eq!(raw.payload, bytes);
    }

    fn swf_response() -> Bytes {
        Bytes::from((1..=42u8).collect::<Vec<u8>>())
    }

    #[test]
    fn hex_vectors_every_event() {
        use UserControlEvent as E;
        check(E::StreamBegin(1), "0000 00000001");
        check(E::StreamEof(1), "0001 00000001");
        check(E::StreamDry(2), "0002 00000002");
        check(
            E::SetBufferLength {
                stream_id: 1,
                buffer_ms: 3000,
            },
            "0003 00000001 00000BB8",
        );
        check(E::StreamIsRecorded(1), "0004 00000001");
        check(E::PingRequest(0x0001_E240), "0006 0001E240");
        check(E::PingResponse(0x0001_E240), "0007 0001E240");
        check(E::SwfVerifyRequest, "001A");
        let mut resp = String::from("001B");
        resp.push_str(&hex::encode(swf_response()));
        check(E::SwfVerifyResponse(swf_response()), &resp);
        check(E::BufferEmpty(1), "001F 00000001");
        check(E::BufferReady(1), "0020 00000001");
    }

    #[test]
    fn unknown_event_kept() {
        check(
            UserControlEvent::Unknown {
                event_type: 0x0005,
                data: h("DEADBEEF"),
            },
            "0005 DEADBEEF",
        );
        check(
            UserControlEvent::Unknown {
                event_type: 0xFFFF,
                data: Bytes::new(),
            },
            "FFFF",
        );
        assert_eq!(
            UserControlEvent::decode(&h("0064 01"))
                .map(|e| e.event_type())
                .ok(),
            Some(100)
        );
    }

    #[test]
    fn truncated_at_every_cut() {
        let full = [
            UserControlEvent::StreamBegin(7),
            UserControlEvent::StreamEof(7),
            UserControlEvent::StreamDry(7),
            UserControlEvent::SetBufferLength {
                stream_id: 7,
                buffer_ms: 100,
            },
            UserControlEvent::StreamIsRecorded(7),
            UserControlEvent::PingRequest(7),
            UserControlEvent::PingResponse(7),
            UserControlEvent::SwfVerifyResponse(swf_response()),
            UserControlEvent::BufferEmpty(7),
            UserControlEvent::BufferReady(7),
        ];
        for ev in full {
            let body = ev.encode();
            for cut in 0..body.len() {
                match UserControlEvent::decode(&body.slice(..cut)) {
                    Err(MessageError::Truncated { got, needed, .. }) => {
                        assert_eq!(got, cut, "{ev:?} cut {cut}");
                        assert!(needed > cut);
                    }
                    other => panic!("{ev:?} cut {cut}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn trailing_bytes_ignored_and_zero_copy() {
        assert_eq!(
            UserControlEvent::decode(&h("0000 00000001 0000")).ok(),
            Some(UserControlEvent::StreamBegin(1))
        );
        let mut body = vec![0x00, 0x1B];
        body.extend_from_slice(&swf_response());
        body.extend_from_slice(&[9, 9]);
        let body = Bytes::from(body);
        let Ok(UserControlEvent::SwfVerifyResponse(data)) = UserControlEvent::decode(&body) else {
            panic!("expected SWF verification response");
        };
        assert_eq!(data, swf_response());
        assert_eq!(data.as_ptr(), body[2..].as_ptr(), "sliced, not copied");
    }

    proptest::proptest! {
        #[test]
        fn round_trip(ty in 0u16.., a in 0u32.., b in 0u32.., data in proptest::collection::vec(0u8.., 0..64)) {
            let ev = match ty % 12 {
                0 => UserControlEvent::StreamBegin(a),
                1 => UserControlEvent::StreamEof(a),
                2 => UserControlEvent::StreamDry(a),
                3 => UserControlEvent::SetBufferLength { stream_id: a, buffer_ms: b },
                4 => UserControlEvent::StreamIsRecorded(a),
                5 => UserControlEvent::PingRequest(a),
                6 => UserControlEvent::PingResponse(a),
                7 => UserControlEvent::SwfVerifyRequest,
                8 => UserControlEvent::BufferEmpty(a),
                9 => UserControlEvent::BufferReady(a),
                10 => UserControlEvent::SwfVerifyResponse(Bytes::from(vec![b as u8; SWF_VERIFY_RESPONSE_LEN])),
                _ => {
                    let known = [0u16, 1, 2, 3, 4, 6, 7, 26, 27, 31, 32];
                    let event_type = if known.contains(&ty) { 5 } else { ty };
                    UserControlEvent::Unknown { event_type, data: Bytes::from(data) }
                }
            };
            proptest::prop_assert_eq!(UserControlEvent::decode(&ev.encode()).ok(), Some(ev));
        }
    }
}
