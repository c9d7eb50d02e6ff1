//! The RTMFP packet inside the crypto framing (RFC 7016 §2.2.4):
//! `[flags][timestamp u16?][timestamp echo u16?][chunk]...[padding]`.
//!
//! Flags: `0x80` TC (time critical), `0x40` TCR (time-critical reverse notification), `0x08`
//! timestamp present, `0x04` timestamp echo present, low two bits the mode (1 initiator,
//! 2 responder, 3 startup; 0 is invalid). A chunk type 0xff where a chunk is expected means the
//! rest is padding (RFC 7016 §2.3); the Flash profile pads with 0xff (RFC 7425 §4.1).
//!
//! Sluice always sends the timestamp and never sends an echo in startup packets: Mona-lineage
//! peers accept startup packets only with flags exactly 0x0B (`RTMFP_NOTES.md` §1.4).

use bytes::Bytes;

use crate::chunk::{Chunk, ChunkType};
use crate::codec::Reader;
use crate::error::{CodecError, PacketError};

/// Who sent a packet (the low two flag bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The session's initiator.
    Initiator,
    /// The session's responder.
    Responder,
    /// A startup (handshake) packet.
    Startup,
}

impl Mode {
    fn bits(self) -> u8 {
        match self {
            Mode::Initiator => 1,
            Mode::Responder => 2,
            Mode::Startup => 3,
        }
    }
}

/// Flag bit: time critical.
pub const FLAG_TC: u8 = 0x80;
/// Flag bit: time-critical reverse notification.
pub const FLAG_TCR: u8 = 0x40;
/// Flag bit: timestamp present.
pub const FLAG_TS: u8 = 0x08;
/// Flag bit: timestamp echo present.
pub const FLAG_TSE: u8 = 0x04;

/// The packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Sender role.
    pub mode: Mode,
    /// Time critical.
    pub time_critical: bool,
    /// Time-critical reverse notification.
    pub time_critical_reverse: bool,
    /// The sender's 4 ms clock.
    pub timestamp: Option<u16>,
    /// The echo of the latest timestamp received, advanced by the time held.
    pub timestamp_echo: Option<u16>,
}

impl Header {
    /// The flags byte.
    pub fn flags(&self) -> u8 {
        let mut f = self.mode.bits();
        if self.time_critical {
            f |= FLAG_TC;
        }
        if self.time_critical_reverse {
            f |= FLAG_TCR;
        }
        if self.timestamp.is_some() {
            f |= FLAG_TS;
        }
        if self.timestamp_echo.is_some() {
            f |= FLAG_TSE;
        }
        f
    }

    /// Append the header.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.flags());
        if let Some(ts) = self.timestamp {
            out.extend_from_slice(&ts.to_be_bytes());
        }
        if let Some(ts) = self.timestamp_echo {
            out.extend_from_slice(&ts.to_be_bytes());
        }
    }

    /// The encoded header length.
    pub fn encoded_len(&self) -> usize {
        1 + 2 * usize::from(self.timestamp.is_some())
            + 2 * usize::from(self.timestamp_echo.is_some())
    }
}

/// A decoded packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The header.
    pub header: Header,
    /// The chunks, padding removed.
    pub chunks: Vec<Chunk>,
}

/// Decode a packet (the plaintext after the crypto framing).
pub fn decode(plain: Bytes) -> Result<Packet, PacketError> {
    let mut r = Reader::new(&plain);
    let flags = r.u8("packet flags")?;
    let mode = match flags & 0x03 {
        1 => Mode::Initiator,
        2 => Mode::Responder,
        3 => Mode::Startup,
        m => return Err(PacketError::BadMode { mode: m }),
    };
    let timestamp = if flags & FLAG_TS != 0 {
        Some(r.u16("timestamp")?)
    } else {
        None
    };
    let timestamp_echo = if flags & FLAG_TSE != 0 {
        Some(r.u16("timestamp echo")?)
    } else {
        None
    };
    let header = Header {
        mode,
        time_critical: flags & FLAG_TC != 0,
        time_critical_reverse: flags & FLAG_TCR != 0,
        timestamp,
        timestamp_echo,
    };
    let mut chunks = Vec::new();
    while let Some(kind) = r.peek() {
        if kind == ChunkType::END.0 {
            break;
        }
        r.u8("chunk type")?;
        let len = usize::from(r.u16("chunk length")?);
        let value = r.bytes(len, "chunk value")?;
        let chunk = Chunk::decode(ChunkType(kind), plain.slice_ref(value))?;
        chunks.push(chunk);
    }
    Ok(Packet { header, chunks })
}

/// Builds one packet's plaintext up to a size limit.
#[derive(Debug)]
pub struct PacketBuilder {
    buf: Vec<u8>,
    max: usize,
    chunks: usize,
}

impl PacketBuilder {
    /// A packet with `header`, at most `max` plaintext bytes (before crypto framing).
    pub fn new(header: Header, max: usize) -> Self {
        let mut buf = Vec::with_capacity(max.min(2048));
        header.encode(&mut buf);
        PacketBuilder {
            buf,
            max,
            chunks: 0,
        }
    }

    /// Room left for chunks, in bytes (a chunk needs 3 bytes of header plus its value).
    pub fn remaining(&self) -> usize {
        self.max.saturating_sub(self.buf.len())
    }

    /// Append `chunk` if it fits; returns whether it did.
    pub fn push(&mut self, chunk: &Chunk) -> Result<bool, CodecError> {
        if chunk.encoded_len() > self.remaining() {
            return Ok(false);
        }
        chunk.encode(&mut self.buf)?;
        self.chunks += 1;
        Ok(true)
    }

    /// How many chunks were pushed.
    pub fn chunk_count(&self) -> usize {
        self.chunks
    }

    /// The packet bytes.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Encode a whole packet without a size limit (tests, startup packets).
pub fn encode(header: &Header, chunks: &[Chunk]) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    header.encode(&mut out);
    for c in chunks {
        c.encode(&mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_header_is_0x0b() {
        let h = Header {
            mode: Mode::Startup,
            time_critical: false,
            time_critical_reverse: false,
            timestamp: Some(0x1234),
            timestamp_echo: None,
        };
        let bytes = encode(&h, &[Chunk::Ping(Bytes::from_static(b"x"))]).unwrap();
        assert_eq!(hex::encode(&bytes), "0b1234010001".to_string() + "78");
        let p = decode(Bytes::from(bytes)).unwrap();
        assert_eq!(p.header, h);
    }

    #[test]
    fn all_header_forms_and_padding() {
        // TC|TCR|TS|TSE|responder, ts 1, echo 2, Close, then 0xff padding.
        let bytes = hex::decode("ce000100020c0000ffffff").unwrap();
        let p = decode(Bytes::from(bytes)).unwrap();
        assert_eq!(p.header.mode, Mode::Responder);
        assert!(p.header.time_critical && p.header.time_critical_reverse);
        assert_eq!(p.header.timestamp, Some(1));
        assert_eq!(p.header.timestamp_echo, Some(2));
        assert_eq!(p.chunks, vec![Chunk::Close]);
        assert_eq!(p.header.flags(), 0xce);
        // No timestamp at all is accepted on receive.
        let p = decode(Bytes::from_static(&[0x01, 0x4c, 0, 0])).unwrap();
        assert_eq!(p.chunks, vec![Chunk::CloseAck]);
    }

    #[test]
    fn bad_packets() {
        assert_eq!(
            decode(Bytes::from_static(&[0x08, 0, 0])),
            Err(PacketError::BadMode { mode: 0 })
        );
        assert!(decode(Bytes::from_static(&[0x0b, 0])).is_err());
        assert!(decode(Bytes::from_static(&[0x03, 0x01, 0x00, 0x05, 0xaa])).is_err());
        assert!(decode(Bytes::new()).is_err());
    }

    #[test]
    fn builder_respects_limit() {
        let h = Header {
            mode: Mode::Initiator,
            time_critical: false,
            time_critical_reverse: false,
            timestamp: Some(0),
            timestamp_echo: None,
        };
        let mut b = PacketBuilder::new(h, 10);
        assert!(b.push(&Chunk::Close).unwrap());
        assert!(!b.push(&Chunk::Ping(Bytes::from_static(b"abcd"))).unwrap());
        assert!(b.push(&Chunk::CloseAck).unwrap());
        assert_eq!(b.finish().len(), 9);
    }
}
