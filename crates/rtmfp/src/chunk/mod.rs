//! Chunks: `[type u8][length u16 BE][value]` (RFC 7016 §2.3), and every chunk type Sluice reads
//! or writes. Startup chunk bodies are in [`startup`], flow chunk bodies in [`flow`].
//!
//! Decoding is generic: a chunk is split into type and value by [`crate::packet`], then
//! [`Chunk::decode`] reads the value. Unknown chunk types are kept as [`Chunk::Unknown`] and
//! ignored by the session (RFC 7016 §2.3: "unrecognized chunks MUST be ignored"; rtmfp-cpp sends
//! an experimental 0xec ECN report, Mona a private 0x4d).

pub mod flow;
pub mod startup;

use bytes::Bytes;

use crate::codec::{put_vlu, Reader};
use crate::error::CodecError;

pub use flow::{Ack, Fragment, UserData, UserDataFlags};
pub use startup::Address;

/// A chunk type; unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkType(pub u8);

impl ChunkType {
    /// Padding that has a length (RFC 7016 §2.3.1).
    pub const PADDING: ChunkType = ChunkType(0x00);
    /// Ping (§2.3.9).
    pub const PING: ChunkType = ChunkType(0x01);
    /// Session Close Request (§2.3.17).
    pub const CLOSE: ChunkType = ChunkType(0x0c);
    /// Forwarded Initiator Hello (§2.3.3).
    pub const FORWARDED_IHELLO: ChunkType = ChunkType(0x0f);
    /// User Data (§2.3.11).
    pub const USER_DATA: ChunkType = ChunkType(0x10);
    /// Next User Data (§2.3.12).
    pub const NEXT_USER_DATA: ChunkType = ChunkType(0x11);
    /// Buffer Probe (§2.3.15).
    pub const BUFFER_PROBE: ChunkType = ChunkType(0x18);
    /// Initiator Hello (§2.3.2).
    pub const IHELLO: ChunkType = ChunkType(0x30);
    /// Initiator Initial Keying (§2.3.7).
    pub const IIKEYING: ChunkType = ChunkType(0x38);
    /// Ping Reply (§2.3.10).
    pub const PING_REPLY: ChunkType = ChunkType(0x41);
    /// Session Close Acknowledgement (§2.3.18).
    pub const CLOSE_ACK: ChunkType = ChunkType(0x4c);
    /// Data Acknowledgement Bitmap (§2.3.13).
    pub const ACK_BITMAP: ChunkType = ChunkType(0x50);
    /// Data Acknowledgement Ranges (§2.3.14).
    pub const ACK_RANGES: ChunkType = ChunkType(0x51);
    /// Flow Exception Report (§2.3.16).
    pub const FLOW_EXCEPTION: ChunkType = ChunkType(0x5e);
    /// Responder Hello (§2.3.4).
    pub const RHELLO: ChunkType = ChunkType(0x70);
    /// Responder Redirect (§2.3.5).
    pub const REDIRECT: ChunkType = ChunkType(0x71);
    /// Responder Initial Keying (§2.3.8).
    pub const RIKEYING: ChunkType = ChunkType(0x78);
    /// RHello Cookie Change (§2.3.6).
    pub const COOKIE_CHANGE: ChunkType = ChunkType(0x79);
    /// Packet Fragment (§2.3.1 of RFC 7016 lists it; Sluice never sends it).
    pub const PACKET_FRAGMENT: ChunkType = ChunkType(0x7f);
    /// In the chunk-type position: the rest of the packet is padding.
    pub const END: ChunkType = ChunkType(0xff);

    /// Whether this chunk may appear only in startup (mode 3) packets.
    pub fn is_startup(self) -> bool {
        matches!(
            self,
            Self::IHELLO
                | Self::RHELLO
                | Self::REDIRECT
                | Self::IIKEYING
                | Self::RIKEYING
                | Self::COOKIE_CHANGE
        )
    }
}

/// A decoded chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// 0x30: endpoint discriminator and tag.
    IHello {
        /// Endpoint discriminator (an option list).
        epd: Bytes,
        /// The initiator's tag (16 random bytes in practice).
        tag: Bytes,
    },
    /// 0x0f: an IHello forwarded by a server inside an open session.
    ForwardedIHello {
        /// Endpoint discriminator.
        epd: Bytes,
        /// Where the initiator can be reached.
        reply_address: Address,
        /// The initiator's tag.
        tag: Bytes,
    },
    /// 0x70: tag echo, cookie, responder certificate.
    RHello {
        /// The initiator's tag.
        tag: Bytes,
        /// The responder's cookie.
        cookie: Bytes,
        /// The responder's certificate.
        certificate: Bytes,
    },
    /// 0x71: tag echo and other addresses to try.
    Redirect {
        /// The initiator's tag.
        tag: Bytes,
        /// Redirect destinations.
        addresses: Vec<Address>,
    },
    /// 0x79: the cookie to use instead of the one echoed.
    CookieChange {
        /// The cookie the initiator echoed.
        old: Bytes,
        /// The cookie to echo instead.
        new: Bytes,
    },
    /// 0x38: initiator session ID, cookie echo, certificate, key component, signature.
    IIKeying {
        /// The initiator's receive session ID.
        session_id: u32,
        /// The cookie from RHello.
        cookie: Bytes,
        /// The initiator's certificate.
        certificate: Bytes,
        /// SKIC, the session key initiator component.
        skic: Bytes,
        /// Signature (Flash: the single byte 0x58).
        signature: Bytes,
    },
    /// 0x78: responder session ID, key component, signature.
    RIKeying {
        /// The responder's receive session ID.
        session_id: u32,
        /// SKRC, the session key responder component.
        skrc: Bytes,
        /// Signature (Flash: the single byte 0x58).
        signature: Bytes,
    },
    /// 0x01: a ping; its body is echoed.
    Ping(Bytes),
    /// 0x41: the echoed body.
    PingReply(Bytes),
    /// 0x10: a user data fragment.
    UserData(UserData),
    /// 0x11: a fragment continuing the previous (Next) User Data chunk of the same packet. Flow,
    /// sequence number and FSN are implied; `flow_id`, `seq` and `fsn_offset` are 0 here and
    /// filled in by the session.
    NextUserData(UserData),
    /// 0x50: acknowledgement in bitmap form.
    AckBitmap(Ack),
    /// 0x51: acknowledgement in ranges form.
    AckRanges(Ack),
    /// 0x18: asks for an acknowledgement of a flow.
    BufferProbe {
        /// The far end's sending flow ID.
        flow_id: u64,
    },
    /// 0x5e: the receiver rejects a flow.
    FlowException {
        /// The sending flow ID being rejected.
        flow_id: u64,
        /// Application exception code.
        code: u64,
    },
    /// 0x0c.
    Close,
    /// 0x4c.
    CloseAck,
    /// A chunk type this crate does not interpret (ignored; includes 0x00 padding and 0x7f
    /// packet fragments).
    Unknown {
        /// The type.
        kind: ChunkType,
        /// The value.
        value: Bytes,
    },
}

impl Chunk {
    /// The wire type.
    pub fn kind(&self) -> ChunkType {
        match self {
            Chunk::IHello { .. } => ChunkType::IHELLO,
            Chunk::ForwardedIHello { .. } => ChunkType::FORWARDED_IHELLO,
            Chunk::RHello { .. } => ChunkType::RHELLO,
            Chunk::Redirect { .. } => ChunkType::REDIRECT,
            Chunk::CookieChange { .. } => ChunkType::COOKIE_CHANGE,
            Chunk::IIKeying { .. } => ChunkType::IIKEYING,
            Chunk::RIKeying { .. } => ChunkType::RIKEYING,
            Chunk::Ping(_) => ChunkType::PING,
            Chunk::PingReply(_) => ChunkType::PING_REPLY,
            Chunk::UserData(_) => ChunkType::USER_DATA,
            Chunk::NextUserData(_) => ChunkType::NEXT_USER_DATA,
            Chunk::AckBitmap(_) => ChunkType::ACK_BITMAP,
            Chunk::AckRanges(_) => ChunkType::ACK_RANGES,
            Chunk::BufferProbe { .. } => ChunkType::BUFFER_PROBE,
            Chunk::FlowException { .. } => ChunkType::FLOW_EXCEPTION,
            Chunk::Close => ChunkType::CLOSE,
            Chunk::CloseAck => ChunkType::CLOSE_ACK,
            Chunk::Unknown { kind, .. } => *kind,
        }
    }

    /// Decode the value of a chunk of type `kind`. `value` is the whole chunk value (a `Bytes`
    /// so that payloads are sliced, not copied).
    pub fn decode(kind: ChunkType, value: Bytes) -> Result<Chunk, CodecError> {
        let sub = |s: &[u8]| value.slice_ref(s);
        let mut r = Reader::new(&value);
        let chunk = match kind {
            ChunkType::IHELLO => {
                let epd = sub(r.field("IHello EPD")?);
                Chunk::IHello {
                    epd,
                    tag: sub(r.rest()),
                }
            }
            ChunkType::FORWARDED_IHELLO => {
                let epd = sub(r.field("FIHello EPD")?);
                let reply_address = Address::decode(&mut r)?;
                Chunk::ForwardedIHello {
                    epd,
                    reply_address,
                    tag: sub(r.rest()),
                }
            }
            ChunkType::RHELLO => {
                let tag = sub(r.field("RHello tag")?);
                let cookie = sub(r.field("RHello cookie")?);
                Chunk::RHello {
                    tag,
                    cookie,
                    certificate: sub(r.rest()),
                }
            }
            ChunkType::REDIRECT => {
                let tag = sub(r.field("Redirect tag")?);
                let mut addresses = Vec::new();
                while !r.is_empty() {
                    addresses.push(Address::decode(&mut r)?);
                }
                Chunk::Redirect { tag, addresses }
            }
            ChunkType::COOKIE_CHANGE => {
                let old = sub(r.field("Cookie Change old cookie")?);
                Chunk::CookieChange {
                    old,
                    new: sub(r.rest()),
                }
            }
            ChunkType::IIKEYING => {
                let session_id = r.u32("IIKeying session ID")?;
                let cookie = sub(r.field("IIKeying cookie")?);
                let certificate = sub(r.field("IIKeying certificate")?);
                let skic = sub(r.field("IIKeying SKIC")?);
                Chunk::IIKeying {
                    session_id,
                    cookie,
                    certificate,
                    skic,
                    signature: sub(r.rest()),
                }
            }
            ChunkType::RIKEYING => {
                let session_id = r.u32("RIKeying session ID")?;
                let skrc = sub(r.field("RIKeying SKRC")?);
                Chunk::RIKeying {
                    session_id,
                    skrc,
                    signature: sub(r.rest()),
                }
            }
            ChunkType::PING => Chunk::Ping(value.clone()),
            ChunkType::PING_REPLY => Chunk::PingReply(value.clone()),
            ChunkType::USER_DATA => Chunk::UserData(UserData::decode(&value, false)?),
            ChunkType::NEXT_USER_DATA => Chunk::NextUserData(UserData::decode(&value, true)?),
            ChunkType::ACK_BITMAP => Chunk::AckBitmap(Ack::decode_bitmap(&value)?),
            ChunkType::ACK_RANGES => Chunk::AckRanges(Ack::decode_ranges(&value)?),
            ChunkType::BUFFER_PROBE => Chunk::BufferProbe {
                flow_id: r.vlu("Buffer Probe flow ID")?,
            },
            ChunkType::FLOW_EXCEPTION => {
                let flow_id = r.vlu("Flow Exception flow ID")?;
                let code = r.vlu("Flow Exception code")?;
                Chunk::FlowException { flow_id, code }
            }
            ChunkType::CLOSE => Chunk::Close,
            ChunkType::CLOSE_ACK => Chunk::CloseAck,
            kind => Chunk::Unknown {
                kind,
                value: value.clone(),
            },
        };
        Ok(chunk)
    }

    /// Append the whole chunk (type, length, value) to `out`. Fails only if the value exceeds
    /// 65535 bytes.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let start = out.len();
        out.push(self.kind().0);
        out.extend_from_slice(&[0, 0]);
        self.encode_value(out);
        let len = out.len() - start - 3;
        let len = u16::try_from(len).map_err(|_| CodecError::Invalid {
            what: "chunk longer than 65535 bytes",
        })?;
        out[start + 1..start + 3].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }

    /// The encoded size of the whole chunk.
    pub fn encoded_len(&self) -> usize {
        let mut v = Vec::new();
        self.encode_value(&mut v);
        v.len() + 3
    }

    fn encode_value(&self, out: &mut Vec<u8>) {
        use crate::codec::put_field;
        match self {
            Chunk::IHello { epd, tag } => {
                put_field(out, epd);
                out.extend_from_slice(tag);
            }
            Chunk::ForwardedIHello {
                epd,
                reply_address,
                tag,
            } => {
                put_field(out, epd);
                reply_address.encode(out);
                out.extend_from_slice(tag);
            }
            Chunk::RHello {
                tag,
                cookie,
                certificate,
            } => {
                put_field(out, tag);
                put_field(out, cookie);
                out.extend_from_slice(certificate);
            }
            Chunk::Redirect { tag, addresses } => {
                put_field(out, tag);
                for a in addresses {
                    a.encode(out);
                }
            }
            Chunk::CookieChange { old, new } => {
                put_field(out, old);
                out.extend_from_slice(new);
            }
            Chunk::IIKeying {
                session_id,
                cookie,
                certificate,
                skic,
                signature,
            } => {
                out.extend_from_slice(&session_id.to_be_bytes());
                put_field(out, cookie);
                put_field(out, certificate);
                put_field(out, skic);
                out.extend_from_slice(signature);
            }
            Chunk::RIKeying {
                session_id,
                skrc,
                signature,
            } => {
                out.extend_from_slice(&session_id.to_be_bytes());
                put_field(out, skrc);
                out.extend_from_slice(signature);
            }
            Chunk::Ping(b) | Chunk::PingReply(b) => out.extend_from_slice(b),
            Chunk::UserData(d) => d.encode(out, false),
            Chunk::NextUserData(d) => d.encode(out, true),
            Chunk::AckBitmap(a) => a.encode_bitmap(out),
            Chunk::AckRanges(a) => a.encode_ranges(out),
            Chunk::BufferProbe { flow_id } => put_vlu(out, *flow_id),
            Chunk::FlowException { flow_id, code } => {
                put_vlu(out, *flow_id);
                put_vlu(out, *code);
            }
            Chunk::Close | Chunk::CloseAck => {}
            Chunk::Unknown { value, .. } => out.extend_from_slice(value),
        }
    }
}

#[cfg(test)]
mod tests;
