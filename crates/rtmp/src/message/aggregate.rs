//! Aggregate messages (message type 22, RTMP 1.0 §7.1.6): one RTMP message carrying a run of
//! sub-messages, each laid out like an FLV tag:
//!
//! ```text
//! type (1) | size (3) | timestamp (3 low bytes + 1 high byte) | stream id (3) | data (size) | back pointer (4)
//! ```
//!
//! All integers are big-endian; the back pointer is `11 + size`, the length of the sub-message
//! header plus data.
//!
//! Splitting rules (see also `/work/shared/PROTOCOL_NOTES.md`, "Aggregate message"):
//! * every sub-message takes the aggregate's message stream id and chunk stream id; the stream id
//!   bytes inside the sub-message are ignored;
//! * timestamps are rebased: `offset = aggregate timestamp - first sub-message timestamp`
//!   (wrapping), added to every sub-message timestamp;
//! * sub-message bodies are zero-copy slices of the aggregate's payload;
//! * a nested aggregate (sub-message of type 22) is refused so that splitting never recurses.
//!
//! Back pointers: ffmpeg and most servers never read them and some muxers get them wrong, so by
//! default a mismatch is ignored; set [`AggregateLimits::strict_back_pointer`] to turn it into
//! [`MessageError::AggregateBackPointerMismatch`].

use super::error::MessageError;
use crate::types::{MessageType, RawMessage, Timestamp};
use bytes::{BufMut, BytesMut};

/// Bytes of a sub-message header.
pub const SUB_HEADER_LEN: usize = 11;
/// Bytes of the back pointer that follows each sub-message's data.
pub const BACK_POINTER_LEN: usize = 4;
/// Largest value of a 24-bit size field (sub-message size and RTMP message length).
pub const MAX_U24: usize = 0xFF_FFFF;

/// Limits applied when splitting an aggregate received from a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggregateLimits {
    /// Most sub-messages accepted in one aggregate. Default 4096: real encoders and servers
    /// put a few dozen frames in one aggregate, and 4096 empty sub-messages already take
    /// 60 KiB of body.
    pub max_sub_messages: usize,
    /// Reject sub-messages whose back pointer is not `11 + size`. Default `false` (lenient, see
    /// the module docs).
    pub strict_back_pointer: bool,
}

impl Default for AggregateLimits {
    fn default() -> Self {
        AggregateLimits {
            max_sub_messages: 4096,
            strict_back_pointer: false,
        }
    }
}

fn u24(b: [u8; 3]) -> u32 {
    u32::from_be_bytes([0, b[0], b[1], b[2]])
}

/// Splits an aggregate message into its sub-messages (see the module docs for the rules).
///
/// An empty aggregate body yields an empty list.
pub fn split_aggregate(
    msg: &RawMessage,
    limits: &AggregateLimits,
) -> Result<Vec<RawMessage>, MessageError> {
    let body = &msg.payload;
    let mut out = Vec::new();
    let mut offset = 0usize;
    let mut rebase: Option<u32> = None;
    while offset < body.len() {
        let rest = body.get(offset..).unwrap_or_default();
        let &[ty, s0, s1, s2, t0, t1, t2, t3, _, _, _, ..] = rest else {
            return Err(MessageError::AggregateTruncated {
                offset,
                needed: SUB_HEADER_LEN,
                got: rest.len(),
            });
        };
        let index = out.len();
        if index >= limits.max_sub_messages {
            return Err(MessageError::TooManySubMessages {
                limit: limits.max_sub_messages,
            });
        }
        let type_id = MessageType(ty);
        if type_id == MessageType::AGGREGATE {
            return Err(MessageError::NestedAggregate { index });
        }
        let size = u24([s0, s1, s2]) as usize;
        let needed = SUB_HEADER_LEN + size + BACK_POINTER_LEN;
        let Some(&[b0, b1, b2, b3]) = rest.get(SUB_HEADER_LEN + size..needed) else {
            return Err(MessageError::AggregateTruncated {
                offset,
                needed,
                got: rest.len(),
            });
        };
        let back_pointer = u32::from_be_bytes([b0, b1, b2, b3]);
        let expected = (SUB_HEADER_LEN + size) as u32;
        if limits.strict_back_pointer && back_pointer != expected {
            return Err(MessageError::AggregateBackPointerMismatch {
                index,
                expected,
                got: back_pointer,
            });
        }
        let sub_ts = Timestamp(u32::from_be_bytes([t3, t0, t1, t2]));
        let delta = *rebase.get_or_insert_with(|| msg.timestamp.delta_since(sub_ts));
        let data_start = offset + SUB_HEADER_LEN;
        out.push(RawMessage {
            csid: msg.csid,
            timestamp: sub_ts.add(delta),
            type_id,
            stream_id: msg.stream_id,
            payload: msg.payload.slice(data_start..data_start + size),
        });
        offset += needed;
    }
    Ok(out)
}

/// Builds an aggregate message from `messages` on chunk stream `csid`.
///
/// The aggregate takes the first message's timestamp and stream id; sub-messages keep their own
/// absolute timestamps, so splitting gives them back unchanged. Errors (all local misuse):
/// [`MessageError::EmptyAggregate`], [`MessageError::AggregateStreamMismatch`],
/// [`MessageError::NestedAggregate`], [`MessageError::AggregateSubMessageTooLarge`],
/// [`MessageError::AggregateTooLarge`]. Only the low 24 bits of the stream id fit the
/// sub-message header; the receiver uses the aggregate's own stream id anyway.
pub fn build_aggregate(messages: &[RawMessage], csid: u32) -> Result<RawMessage, MessageError> {
    let first = messages.first().ok_or(MessageError::EmptyAggregate)?;
    let mut total = 0usize;
    for (index, m) in messages.iter().enumerate() {
        if m.stream_id != first.stream_id {
            return Err(MessageError::AggregateStreamMismatch {
                index,
                expected: first.stream_id,
                got: m.stream_id,
            });
        }
        if m.type_id == MessageType::AGGREGATE {
            return Err(MessageError::NestedAggregate { index });
        }
        if m.payload.len() > MAX_U24 {
            return Err(MessageError::AggregateSubMessageTooLarge {
                index,
                size: m.payload.len(),
            });
        }
        total += SUB_HEADER_LEN + m.payload.len() + BACK_POINTER_LEN;
        if total > MAX_U24 {
            return Err(MessageError::AggregateTooLarge { size: total });
        }
    }
    let mut body = BytesMut::with_capacity(total);
    for m in messages {
        let size = m.payload.len() as u32;
        let ts = m.timestamp.value().to_be_bytes();
        body.put_u8(m.type_id.0);
        body.put_slice(&size.to_be_bytes()[1..]);
        body.put_slice(&[ts[1], ts[2], ts[3], ts[0]]);
        body.put_slice(&m.stream_id.to_be_bytes()[1..]);
        body.put_slice(&m.payload);
        body.put_u32(size + SUB_HEADER_LEN as u32);
    }
    Ok(RawMessage {
        csid,
        timestamp: first.timestamp,
        type_id: MessageType::AGGREGATE,
        stream_id: first.stream_id,
        payload: body.freeze(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use proptest::prelude::*;

    fn h(s: &str) -> Bytes {
        Bytes::from(hex::decode(s.replace(' ', "")).expect("test hex"))
    }

    fn agg(ts: u32, body: Bytes) -> RawMessage {
        RawMessage {
            csid: 6,
            timestamp: Timestamp(ts),
            type_id: MessageType::AGGREGATE,
            stream_id: 1,
            payload: body,
        }
    }

    /// Audio (ts 0, 2 bytes AF 01) then video (ts 40, 3 bytes 17 01 00), hand-built.
    const TWO: &str = concat!(
        "08 000002 000000 00 000001 AF01 0000000D",
        "09 000003 000028 00 000001 170100 0000000E",
    );

    #[test]
    fn hand_built_two_sub_messages_rebased() {
        let msg = agg(1000, h(TWO));
        let subs = split_aggregate(&msg, &AggregateLimits::default()).expect("split");
        assert_eq!(subs.len(), 2);
        assert_eq!(subs[0].type_id, MessageType::AUDIO);
        assert_eq!(subs[0].timestamp, Timestamp(1000));
        assert_eq!(subs[0].payload, h("AF01"));
        assert_eq!(subs[1].type_id, MessageType::VIDEO);
        assert_eq!(subs[1].timestamp, Timestamp(1040));
        assert_eq!(subs[1].payload, h("170100"));
        for s in &subs {
            assert_eq!((s.csid, s.stream_id), (6, 1));
        }
        // Zero-copy: the sub-payload points into the aggregate body.
        assert_eq!(subs[1].payload.as_ptr(), msg.payload[28..].as_ptr());
    }

    #[test]
    fn extended_timestamp_byte_and_wrapping_rebase() {
        // Sub ts = 0x01000010 (high byte 01), aggregate ts 0x10: offset wraps.
        let body = h("08 000001 000010 01 000005 AA 0000000C");
        let subs = split_aggregate(&agg(0x10, body), &AggregateLimits::default()).expect("split");
        assert_eq!(subs[0].timestamp, Timestamp(0x10));
        let body =
            h("08 000001 000010 01 000000 AA 0000000C 08 000001 000020 01 000000 BB 0000000C");
        let subs = split_aggregate(&agg(5, body), &AggregateLimits::default()).expect("split");
        assert_eq!(subs[1].timestamp, Timestamp(5 + 0x10));
    }

    #[test]
    fn build_matches_hand_vector() {
        let msgs = split_aggregate(&agg(0, h(TWO)), &AggregateLimits::default()).expect("split");
        let built = build_aggregate(&msgs, 6).expect("build");
        assert_eq!(built.payload, h(TWO));
        assert_eq!(built.timestamp, Timestamp(0));
        assert_eq!(built.type_id, MessageType::AGGREGATE);
        assert_eq!((built.csid, built.stream_id), (6, 1));
    }

    #[test]
    fn empty_aggregate() {
        let subs = split_aggregate(&agg(7, Bytes::new()), &AggregateLimits::default());
        assert_eq!(subs.ok(), Some(vec![]));
        assert!(matches!(
            build_aggregate(&[], 6),
            Err(MessageError::EmptyAggregate)
        ));
    }

    #[test]
    fn truncated_at_every_cut() {
        let body = h(TWO);
        for cut in 1..body.len() {
            if cut == 17 {
                continue; // exactly one complete sub-message
            }
            let r = split_aggregate(&agg(0, body.slice(..cut)), &AggregateLimits::default());
            assert!(
                matches!(r, Err(MessageError::AggregateTruncated { .. })),
                "cut {cut}: {r:?}"
            );
        }
        let one = split_aggregate(&agg(0, body.slice(..17)), &AggregateLimits::default());
        assert_eq!(one.map(|v| v.len()).ok(), Some(1));
        assert!(matches!(
            split_aggregate(&agg(0, body.slice(..20)), &AggregateLimits::default()),
            Err(MessageError::AggregateTruncated {
                offset: 17,
                needed: 11,
                got: 3
            })
        ));
    }

    #[test]
    fn huge_declared_size_is_truncation_not_allocation() {
        let body = h("09 FFFFFF 000000 00 000000 00");
        assert!(matches!(
            split_aggregate(&agg(0, body), &AggregateLimits::default()),
            Err(MessageError::AggregateTruncated {
                offset: 0,
                needed: 0x100_000E,
                got: 12
            })
        ));
    }

    #[test]
    fn back_pointer_lenient_and_strict() {
        let body = h("08 000001 000000 00 000000 AA 00000001");
        assert_eq!(
            split_aggregate(&agg(0, body.clone()), &AggregateLimits::default())
                .map(|v| v.len())
                .ok(),
            Some(1)
        );
        let strict = AggregateLimits {
            strict_back_pointer: true,
            ..AggregateLimits::default()
        };
        assert!(matches!(
            split_aggregate(&agg(0, body), &strict),
            Err(MessageError::AggregateBackPointerMismatch {
                index: 0,
                expected: 12,
                got: 1
            })
        ));
    }

    #[test]
    fn sub_message_limit() {
        let limits = AggregateLimits {
            max_sub_messages: 1,
            ..AggregateLimits::default()
        };
        assert!(matches!(
            split_aggregate(&agg(0, h(TWO)), &limits),
            Err(MessageError::TooManySubMessages { limit: 1 })
        ));
        let limits = AggregateLimits {
            max_sub_messages: 2,
            ..AggregateLimits::default()
        };
        assert!(split_aggregate(&agg(0, h(TWO)), &limits).is_ok());
    }

    #[test]
    fn nested_aggregate_refused() {
        let body = h("16 000000 000000 00 000000 0000000B");
        assert!(matches!(
            split_aggregate(&agg(0, body), &AggregateLimits::default()),
            Err(MessageError::NestedAggregate { index: 0 })
        ));
        let inner = agg(0, Bytes::new());
        assert!(matches!(
            build_aggregate(&[inner], 6),
            Err(MessageError::NestedAggregate { index: 0 })
        ));
    }

    #[test]
    fn build_errors() {
        let a = RawMessage {
            csid: 4,
            timestamp: Timestamp(0),
            type_id: MessageType::AUDIO,
            stream_id: 1,
            payload: Bytes::from_static(b"x"),
        };
        let mut b = a.clone();
        b.stream_id = 2;
        assert!(matches!(
            build_aggregate(&[a.clone(), b], 6),
            Err(MessageError::AggregateStreamMismatch {
                index: 1,
                expected: 1,
                got: 2
            })
        ));
        let mut big = a.clone();
        big.payload = Bytes::from(vec![0u8; MAX_U24 + 1]);
        assert!(matches!(
            build_aggregate(&[big], 6),
            Err(MessageError::AggregateSubMessageTooLarge { index: 0, .. })
        ));
        let mut half = a;
        half.payload = Bytes::from(vec![0u8; MAX_U24 / 2]);
        assert!(matches!(
            build_aggregate(&[half.clone(), half.clone(), half], 6),
            Err(MessageError::AggregateTooLarge { .. })
        ));
    }

    fn sub_message() -> impl Strategy<Value = (u8, u32, Vec<u8>)> {
        (
            prop_oneof![Just(8u8), Just(9u8), Just(18u8)],
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..40),
        )
    }

    proptest! {
        #[test]
        fn build_split_round_trip(
            subs in proptest::collection::vec(sub_message(), 1..12),
            stream_id in 0u32..0xFF_FFFF,
        ) {
            let msgs: Vec<RawMessage> = subs
                .into_iter()
                .map(|(ty, ts, data)| RawMessage {
                    csid: 9,
                    timestamp: Timestamp(ts),
                    type_id: MessageType(ty),
                    stream_id,
                    payload: Bytes::from(data),
                })
                .collect();
            let built = build_aggregate(&msgs, 9).expect("build");
            let strict = AggregateLimits { strict_back_pointer: true, ..AggregateLimits::default() };
            let back = split_aggregate(&built, &strict).expect("split");
            prop_assert_eq!(back, msgs);
        }

        #[test]
        fn split_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = split_aggregate(&agg(3, Bytes::from(body)), &AggregateLimits::default());
        }
    }
}
