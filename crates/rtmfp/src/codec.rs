//! The primitive encodings every RTMFP structure is made of (RFC 7016 §2.1.2–§2.1.3):
//!
//! * **VLU** (variable length unsigned integer): 7 bits per byte, most significant group first,
//!   the high bit of every byte but the last set. `81 02` = 130, `FA 89 01` = 2,000,001.
//! * **Option**: `VLU length` + `VLU type` + value, the length covering type and value. A length
//!   of 0 is a **marker**: it ends an option list (and, in a certificate, separates the
//!   canonical part from the rest).
//! * **Field**: `VLU length` + that many bytes.
//!
//! Decoding goes through [`Reader`], a cursor over a borrowed slice whose every read is checked:
//! short input is a [`CodecError`], never a panic.

use crate::error::CodecError;

/// The longest VLU accepted: ten bytes carry 70 bits, enough for any `u64`.
pub const MAX_VLU_BYTES: usize = 10;

/// A checked cursor over a borrowed byte slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Whether everything has been read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The next byte without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    /// `n` bytes.
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CodecError> {
        if n > self.buf.len() {
            return Err(CodecError::Truncated { what });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    /// One byte.
    pub fn u8(&mut self, what: &'static str) -> Result<u8, CodecError> {
        Ok(self.bytes(1, what)?[0])
    }

    /// A big-endian u16.
    pub fn u16(&mut self, what: &'static str) -> Result<u16, CodecError> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A big-endian u32.
    pub fn u32(&mut self, what: &'static str) -> Result<u32, CodecError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A VLU (RFC 7016 §2.1.2).
    pub fn vlu(&mut self, what: &'static str) -> Result<u64, CodecError> {
        let mut value: u64 = 0;
        for _ in 0..MAX_VLU_BYTES {
            let byte = self.u8(what)?;
            if value > (u64::MAX >> 7) {
                return Err(CodecError::VluOverflow { what });
            }
            value = (value << 7) | u64::from(byte & 0x7F);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(CodecError::VluOverflow { what })
    }

    /// A VLU that must fit a `usize` (a length).
    pub fn vlu_len(&mut self, what: &'static str) -> Result<usize, CodecError> {
        let v = self.vlu(what)?;
        usize::try_from(v).map_err(|_| CodecError::VluOverflow { what })
    }

    /// A field: `VLU length` + bytes (RFC 7016 §2.1.3).
    pub fn field(&mut self, what: &'static str) -> Result<&'a [u8], CodecError> {
        let len = self.vlu_len(what)?;
        self.bytes(len, what)
    }

    /// The next option, or `None` at a marker (length 0). At the end of input this is an error:
    /// use [`options`] for lists that may end without a marker.
    pub fn option(&mut self, what: &'static str) -> Result<Option<RawOption<'a>>, CodecError> {
        let len = self.vlu_len(what)?;
        if len == 0 {
            return Ok(None);
        }
        let body = self.bytes(len, what)?;
        let mut inner = Reader::new(body);
        let kind = inner.vlu(what)?;
        Ok(Some(RawOption {
            kind,
            value: inner.rest(),
        }))
    }
}

/// One option as found on the wire; unknown types are kept, not refused (RFC 7016 §2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawOption<'a> {
    /// The option type.
    pub kind: u64,
    /// The value bytes.
    pub value: &'a [u8],
}

/// Decode an option list that ends at a marker **or** at the end of `buf`. Returns the options
/// and what follows the marker (empty when there was none).
pub fn options<'a>(
    buf: &'a [u8],
    max: usize,
    what: &'static str,
) -> Result<(Vec<RawOption<'a>>, &'a [u8]), CodecError> {
    let mut r = Reader::new(buf);
    let mut out = Vec::new();
    while !r.is_empty() {
        match r.option(what)? {
            None => return Ok((out, r.rest())),
            Some(o) => {
                if out.len() == max {
                    return Err(CodecError::TooManyOptions { what, max });
                }
                out.push(o);
            }
        }
    }
    Ok((out, &[]))
}

/// The number of bytes `v` takes as a VLU.
pub fn vlu_len(v: u64) -> usize {
    let bits = 64 - v.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Append `v` as a VLU.
pub fn put_vlu(out: &mut Vec<u8>, v: u64) {
    let n = vlu_len(v);
    for i in (0..n).rev() {
        let group = ((v >> (7 * i)) & 0x7F) as u8;
        out.push(if i == 0 { group } else { group | 0x80 });
    }
}

/// Append a field (`VLU length` + bytes).
pub fn put_field(out: &mut Vec<u8>, bytes: &[u8]) {
    put_vlu(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Append an option (`VLU length` + `VLU type` + value).
pub fn put_option(out: &mut Vec<u8>, kind: u64, value: &[u8]) {
    put_vlu(out, (vlu_len(kind) + value.len()) as u64);
    put_vlu(out, kind);
    out.extend_from_slice(value);
}

/// Append an option whose value is a single VLU.
pub fn put_vlu_option(out: &mut Vec<u8>, kind: u64, v: u64) {
    let mut value = Vec::with_capacity(MAX_VLU_BYTES);
    put_vlu(&mut value, v);
    put_option(out, kind, &value);
}

/// Append a marker (an option of length 0).
pub fn put_marker(out: &mut Vec<u8>) {
    out.push(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vlu(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        put_vlu(&mut out, v);
        out
    }

    #[test]
    fn vlu_vectors() {
        let cases: &[(u64, &str)] = &[
            (0, "00"),
            (1, "01"),
            (127, "7f"),
            (128, "8100"),
            (130, "8102"),
            (16383, "ff7f"),
            (16384, "818000"),
            (2_000_001, "fa8901"),
            (u64::MAX, "81ffffffffffffffff7f"),
        ];
        for &(v, hex) in cases {
            assert_eq!(hex::encode(vlu(v)), hex, "{v}");
            assert_eq!(vlu_len(v), hex.len() / 2);
            let bytes = hex::decode(hex).unwrap();
            assert_eq!(Reader::new(&bytes).vlu("t").unwrap(), v);
        }
    }

    #[test]
    fn vlu_errors() {
        assert_eq!(
            Reader::new(&[0x81]).vlu("t"),
            Err(CodecError::Truncated { what: "t" })
        );
        // 2^64 does not fit.
        let big = hex::decode("8280808080808080808000").unwrap();
        assert_eq!(
            Reader::new(&big).vlu("t"),
            Err(CodecError::VluOverflow { what: "t" })
        );
        assert!(Reader::new(&[0x80; 20]).vlu("t").is_err());
    }

    #[test]
    fn option_and_field_vectors() {
        let mut out = Vec::new();
        put_option(&mut out, 0x0a, b"rtmfp://xugar.net:1985/");
        assert_eq!(out[..2], [0x18, 0x0a]);
        let mut f = Vec::new();
        put_field(&mut f, &out);
        assert_eq!(f[0], 0x19);
        let mut r = Reader::new(&f);
        let inner = r.field("epd").unwrap();
        let (opts, rest) = options(inner, 8, "epd").unwrap();
        assert!(rest.is_empty());
        assert_eq!(
            opts,
            vec![RawOption {
                kind: 0x0a,
                value: b"rtmfp://xugar.net:1985/"
            }]
        );
        // A marker splits the list: `02 15 02 | 00 | 01 0e`.
        let (opts, rest) = options(&[0x02, 0x15, 0x02, 0x00, 0x01, 0x0e], 8, "c").unwrap();
        assert_eq!(opts.len(), 1);
        assert_eq!(rest, &[0x01, 0x0e]);
        // A 130-byte option uses a two-byte length: `81 02 1d 02 <128>`.
        let mut o = Vec::new();
        let mut v = vec![2u8];
        v.extend_from_slice(&[7; 128]);
        put_option(&mut o, 0x1d, &v);
        assert_eq!(o[..4], [0x81, 0x02, 0x1d, 0x02]);
        // An option whose length runs past the end.
        assert!(options(&[0x05, 0x01], 8, "c").is_err());
        // Too many options.
        assert_eq!(
            options(&[1, 1, 1, 1, 1, 1], 2, "c"),
            Err(CodecError::TooManyOptions { what: "c", max: 2 })
        );
    }
}
