//! Chunk header wire format (RTMP 1.0 §5.3.1): the 1/2/3-byte basic header (§5.3.1.1), the
//! type 0/1/2/3 message headers (§5.3.1.2) and the extended timestamp (§5.3.1.3).
//!
//! Parsing here is pure and stateless: it reads a header from the front of a byte slice without
//! consuming anything, so the decoder can retry on the next call when the header is incomplete
//! (a header is at most 18 bytes, so the retry never re-reads payload). Whether a type 3 header is
//! followed by a repeated extended timestamp depends on per-chunk-stream state, so that part is
//! decided by the decoder.

use bytes::BufMut;

/// The 24-bit timestamp field value announcing that a 4-byte extended timestamp follows
/// (§5.3.1.3).
pub(crate) const EXTENDED_TIMESTAMP_MARK: u32 = 0x00FF_FFFF;

/// Chunk header type (the 2-bit `fmt` field of the basic header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fmt {
    /// Type 0: absolute timestamp, length, type id, message stream id (11 bytes).
    Full = 0,
    /// Type 1: timestamp delta, length, type id; same stream id (7 bytes).
    SameStream = 1,
    /// Type 2: timestamp delta only (3 bytes).
    DeltaOnly = 2,
    /// Type 3: no message header.
    Continuation = 3,
}

impl Fmt {
    fn from_bits(bits: u8) -> Fmt {
        match bits & 0b11 {
            0 => Fmt::Full,
            1 => Fmt::SameStream,
            2 => Fmt::DeltaOnly,
            _ => Fmt::Continuation,
        }
    }
}

/// A chunk header as read from the wire, before it is interpreted against the chunk stream state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WireHeader {
    /// Header type.
    pub fmt: Fmt,
    /// Chunk stream id, 2..=65599.
    pub csid: u32,
    /// Bytes taken by the basic header, the message header and the extended timestamp (if any).
    pub len: usize,
    /// The timestamp (type 0) or timestamp delta (types 1, 2), with the extended value already
    /// substituted when the 24-bit field was 0xFFFFFF. 0 for type 3.
    pub timestamp: u32,
    /// Whether the 24-bit field was 0xFFFFFF, i.e. an extended timestamp followed.
    pub extended: bool,
    /// Message length (types 0, 1).
    pub length: u32,
    /// Message type id (types 0, 1).
    pub type_id: u8,
    /// Message stream id (type 0 only; little-endian on the wire).
    pub stream_id: u32,
}

/// Reads a big-endian 24-bit value; `b` must hold 3 bytes.
fn be24(b: &[u8]) -> Option<u32> {
    match b {
        [a, b, c, ..] => Some(u32::from(*a) << 16 | u32::from(*b) << 8 | u32::from(*c)),
        _ => None,
    }
}

/// Reads a big-endian 32-bit value from the front of `b`.
pub(crate) fn be32(b: &[u8]) -> Option<u32> {
    match b {
        [a, b, c, d, ..] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

/// Reads a little-endian 32-bit value from the front of `b`.
fn le32(b: &[u8]) -> Option<u32> {
    match b {
        [a, b, c, d, ..] => Some(u32::from_le_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

/// Parses the basic header at the front of `buf`: `(fmt, csid, bytes used)`, or `None` when
/// `buf` is too short (§5.3.1.1).
pub(crate) fn parse_basic(buf: &[u8]) -> Option<(Fmt, u32, usize)> {
    let first = *buf.first()?;
    let fmt = Fmt::from_bits(first >> 6);
    match first & 0x3F {
        0 => Some((fmt, 64 + u32::from(*buf.get(1)?), 2)),
        1 => {
            let lo = u32::from(*buf.get(1)?);
            let hi = u32::from(*buf.get(2)?);
            Some((fmt, 64 + lo + hi * 256, 3))
        }
        id => Some((fmt, u32::from(id), 1)),
    }
}

/// Parses a complete chunk header (basic header, message header, extended timestamp when the
/// 24-bit field says so) from the front of `buf`. `None` means more bytes are needed; every bit
/// pattern is otherwise a syntactically valid header.
pub(crate) fn parse(buf: &[u8]) -> Option<WireHeader> {
    let (fmt, csid, basic_len) = parse_basic(buf)?;
    let rest = buf.get(basic_len..)?;
    let mut header = WireHeader {
        fmt,
        csid,
        len: basic_len,
        timestamp: 0,
        extended: false,
        length: 0,
        type_id: 0,
        stream_id: 0,
    };
    let message_header_len = match fmt {
        Fmt::Full => 11,
        Fmt::SameStream => 7,
        Fmt::DeltaOnly => 3,
        Fmt::Continuation => return Some(header),
    };
    let mh = rest.get(..message_header_len)?;
    let ts_field = be24(mh)?;
    if fmt != Fmt::DeltaOnly {
        header.length = be24(mh.get(3..)?)?;
        header.type_id = *mh.get(6)?;
    }
    if fmt == Fmt::Full {
        header.stream_id = le32(mh.get(7..)?)?;
    }
    header.len += message_header_len;
    if ts_field == EXTENDED_TIMESTAMP_MARK {
        header.timestamp = be32(rest.get(message_header_len..)?)?;
        header.extended = true;
        header.len += 4;
    } else {
        header.timestamp = ts_field;
    }
    Some(header)
}

/// Number of bytes the basic header of `csid` takes (shortest form).
pub(crate) const fn basic_len(csid: u32) -> usize {
    if csid < 64 {
        1
    } else if csid < 320 {
        2
    } else {
        3
    }
}

/// Writes the shortest basic header for `fmt` and `csid` (which must be 2..=65599).
pub(crate) fn put_basic(out: &mut impl BufMut, fmt: Fmt, csid: u32) {
    let fmt_bits = (fmt as u8) << 6;
    if csid < 64 {
        out.put_u8(fmt_bits | csid as u8);
    } else if csid < 320 {
        out.put_u8(fmt_bits);
        out.put_u8((csid - 64) as u8);
    } else {
        let v = csid - 64;
        out.put_u8(fmt_bits | 1);
        out.put_u8((v & 0xFF) as u8);
        out.put_u8((v >> 8) as u8);
    }
}

/// Writes a 24-bit big-endian value (the caller guarantees `v <= 0xFFFFFF`).
fn put_u24(out: &mut impl BufMut, v: u32) {
    out.put_u8((v >> 16) as u8);
    out.put_u8((v >> 8) as u8);
    out.put_u8(v as u8);
}

/// The message header fields to serialise for one chunk header of type 0, 1 or 2.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OutHeader {
    pub fmt: Fmt,
    pub csid: u32,
    /// Absolute timestamp (type 0) or delta (types 1, 2).
    pub timestamp: u32,
    pub length: u32,
    pub type_id: u8,
    pub stream_id: u32,
}

impl OutHeader {
    /// Whether the timestamp needs the 4-byte extended field.
    pub(crate) const fn extended(&self) -> bool {
        self.timestamp >= EXTENDED_TIMESTAMP_MARK
    }

    /// Serialised size.
    pub(crate) const fn len(&self) -> usize {
        let mh = match self.fmt {
            Fmt::Full => 11,
            Fmt::SameStream => 7,
            Fmt::DeltaOnly => 3,
            Fmt::Continuation => 0,
        };
        let ext = if self.extended() && mh > 0 { 4 } else { 0 };
        basic_len(self.csid) + mh + ext
    }

    /// Serialises the header (basic header, message header, extended timestamp).
    pub(crate) fn put(&self, out: &mut impl BufMut) {
        put_basic(out, self.fmt, self.csid);
        if self.fmt == Fmt::Continuation {
            return;
        }
        let ext = self.extended();
        put_u24(
            out,
            if ext {
                EXTENDED_TIMESTAMP_MARK
            } else {
                self.timestamp
            },
        );
        if self.fmt != Fmt::DeltaOnly {
            put_u24(out, self.length);
            out.put_u8(self.type_id);
        }
        if self.fmt == Fmt::Full {
            out.put_u32_le(self.stream_id);
        }
        if ext {
            out.put_u32(self.timestamp);
        }
    }
}
