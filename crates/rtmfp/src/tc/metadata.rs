//! TC flow metadata (RFC 7425 §5.1.1): what a flow carrying RTMP messages says about itself.
//!
//! Layout of the user-metadata option value: `'T' 'C'`, one flags byte, then `VLU(streamID)` when
//! flag `0x04` is set. Flag `0x01` is the receive intent: clear = deliver in sequence (original
//! queuing order), set = deliver in network arrival order. Stream ID 0 is the NetConnection;
//! anything else is a NetStream. Flash's direct-P2P NetStreams use IDs from 2,000,000 up, so the
//! VLU is parsed generically (never by prefix). Other signatures (NetGroup's `GC`/`GR`) are not
//! TC flows and decode to [`TcMetadataError::NotTc`].

use bytes::Bytes;

use crate::codec::{put_vlu, Reader};
use crate::error::CodecError;

/// Flag: a stream ID follows (RFC 7425 §5.1.1; required in practice, every peer sets it).
pub const FLAG_STREAM_ID: u8 = 0x04;
/// Flag: the receiver may deliver in network order instead of original order.
pub const FLAG_NETWORK_ORDER: u8 = 0x01;

/// How the far end wants a flow's messages delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiveIntent {
    /// In original queuing order (the default; commands need it).
    Sequence,
    /// As they arrive (media that prefers freshness to order).
    NetworkOrder,
}

/// Parsed TC metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcMetadata {
    /// 0 for the NetConnection's control flow, the NetStream's ID otherwise.
    pub stream_id: u32,
    /// Delivery order asked for.
    pub intent: ReceiveIntent,
}

/// Why metadata is not usable TC metadata.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TcMetadataError {
    /// The signature is not `TC` (for example NetGroup's `GC`/`GR`, or empty metadata).
    #[error("flow metadata is not a TC signature")]
    NotTc,
    /// The flags byte lacks the stream-ID flag.
    #[error("TC metadata without a stream ID")]
    NoStreamId,
    /// The stream ID does not fit 32 bits (RTMP stream IDs are u32).
    #[error("TC stream ID {0} exceeds 32 bits")]
    StreamIdRange(u64),
    /// Truncated or malformed VLU.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

impl TcMetadata {
    /// The NetConnection control flow (stream 0, in sequence).
    pub const CONTROL: TcMetadata = TcMetadata {
        stream_id: 0,
        intent: ReceiveIntent::Sequence,
    };

    /// Metadata of a NetStream's flows, in sequence.
    pub fn stream(stream_id: u32) -> TcMetadata {
        TcMetadata {
            stream_id,
            intent: ReceiveIntent::Sequence,
        }
    }

    /// Encode the option value.
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(8);
        out.extend_from_slice(b"TC");
        let mut flags = FLAG_STREAM_ID;
        if self.intent == ReceiveIntent::NetworkOrder {
            flags |= FLAG_NETWORK_ORDER;
        }
        out.push(flags);
        put_vlu(&mut out, u64::from(self.stream_id));
        Bytes::from(out)
    }

    /// Decode the option value. Bytes after the stream ID are ignored (room for extensions).
    pub fn decode(value: &[u8]) -> Result<TcMetadata, TcMetadataError> {
        let mut r = Reader::new(value);
        if r.remaining() < 3 || r.bytes(2, "TC signature")? != b"TC" {
            return Err(TcMetadataError::NotTc);
        }
        let flags = r.u8("TC flags")?;
        if flags & FLAG_STREAM_ID == 0 {
            return Err(TcMetadataError::NoStreamId);
        }
        let id = r.vlu("TC stream ID")?;
        let stream_id = u32::try_from(id).map_err(|_| TcMetadataError::StreamIdRange(id))?;
        let intent = if flags & FLAG_NETWORK_ORDER != 0 {
            ReceiveIntent::NetworkOrder
        } else {
            ReceiveIntent::Sequence
        };
        Ok(TcMetadata { stream_id, intent })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_flow_bytes() {
        // MonaServer's view of a NetConnection flow: option type 00, then 54 43 04 00.
        assert_eq!(&TcMetadata::CONTROL.encode()[..], &[0x54, 0x43, 0x04, 0x00]);
        assert_eq!(
            TcMetadata::decode(&[0x54, 0x43, 0x04, 0x00]).unwrap(),
            TcMetadata::CONTROL
        );
    }

    #[test]
    fn netstream_and_p2p_ids() {
        assert_eq!(
            &TcMetadata::stream(1).encode()[..],
            &[0x54, 0x43, 0x04, 0x01]
        );
        assert_eq!(
            &TcMetadata::stream(130).encode()[..],
            &[0x54, 0x43, 0x04, 0x81, 0x02]
        );
        // Flash P2P stream 2,000,001 = VLU FA 89 01.
        let m = TcMetadata::decode(&[0x54, 0x43, 0x04, 0xFA, 0x89, 0x01]).unwrap();
        assert_eq!(m.stream_id, 2_000_001);
        assert_eq!(
            TcMetadata::stream(2_000_001).encode(),
            Bytes::from_static(&[0x54, 0x43, 0x04, 0xFA, 0x89, 0x01])
        );
    }

    #[test]
    fn network_order_flag() {
        let m = TcMetadata::decode(&[0x54, 0x43, 0x05, 0x03]).unwrap();
        assert_eq!(m.intent, ReceiveIntent::NetworkOrder);
        assert_eq!(m.stream_id, 3);
        assert_eq!(&m.encode()[..], &[0x54, 0x43, 0x05, 0x03]);
    }

    #[test]
    fn rejects_other_signatures() {
        assert_eq!(TcMetadata::decode(b""), Err(TcMetadataError::NotTc));
        assert_eq!(
            TcMetadata::decode(&[0x47, 0x43, 0x04]),
            Err(TcMetadataError::NotTc)
        );
        assert_eq!(
            TcMetadata::decode(&[0x54, 0x43, 0x00, 0x01]),
            Err(TcMetadataError::NoStreamId)
        );
        assert!(matches!(
            TcMetadata::decode(&[0x54, 0x43, 0x04, 0x81]),
            Err(TcMetadataError::Codec(_))
        ));
        assert_eq!(
            TcMetadata::decode(&[0x54, 0x43, 0x04, 0x90, 0x80, 0x80, 0x80, 0x00]),
            Err(TcMetadataError::StreamIdRange(1 << 32))
        );
    }
}
