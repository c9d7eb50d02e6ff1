//! Bounds-checked big-endian reading over a borrowed buffer, shared by both formats.
//!
//! Every read checks the remaining length first and reports [`AmfError::UnexpectedEof`];
//! nothing here can panic on any input.

use bytes::Bytes;

use crate::AmfError;

/// A cursor over the message being decoded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// The same bytes as `buf` when the caller handed over a `Bytes`, so byte arrays can be
    /// sliced out of it instead of copied.
    shared: Option<&'a Bytes>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            shared: None,
        }
    }

    pub(crate) fn shared(bytes: &'a Bytes) -> Self {
        Reader {
            buf: bytes.as_ref(),
            pos: 0,
            shared: Some(bytes),
        }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Moves the cursor to `pos`, an offset this reader reported earlier.
    pub(crate) fn seek(&mut self, pos: usize) {
        self.pos = pos.min(self.buf.len());
    }

    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining().is_empty()
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], AmfError> {
        let rest = self.remaining();
        match rest.get(..n) {
            Some(head) => {
                self.pos += n;
                Ok(head)
            }
            None => Err(AmfError::UnexpectedEof {
                needed: n,
                available: rest.len(),
            }),
        }
    }

    /// Fails with `UnexpectedEof` unless at least `n` bytes remain; reads nothing.
    pub(crate) fn require(&self, n: usize) -> Result<(), AmfError> {
        let available = self.remaining().len();
        if available < n {
            Err(AmfError::UnexpectedEof {
                needed: n,
                available,
            })
        } else {
            Ok(())
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], AmfError> {
        let s = self.take(N)?;
        s.try_into().map_err(|_| AmfError::UnexpectedEof {
            needed: N,
            available: s.len(),
        })
    }

    pub(crate) fn peek_u8(&self) -> Option<u8> {
        self.remaining().first().copied()
    }

    pub(crate) fn u8(&mut self) -> Result<u8, AmfError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, AmfError> {
        self.array().map(u16::from_be_bytes)
    }

    pub(crate) fn i16(&mut self) -> Result<i16, AmfError> {
        self.array().map(i16::from_be_bytes)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, AmfError> {
        self.array().map(u32::from_be_bytes)
    }

    pub(crate) fn i32(&mut self) -> Result<i32, AmfError> {
        self.array().map(i32::from_be_bytes)
    }

    pub(crate) fn f64(&mut self) -> Result<f64, AmfError> {
        self.array().map(f64::from_be_bytes)
    }

    /// Reads `len` bytes of UTF-8 text.
    pub(crate) fn utf8(&mut self, len: usize) -> Result<&'a str, AmfError> {
        let raw = self.take(len)?;
        std::str::from_utf8(raw).map_err(|_| AmfError::InvalidUtf8)
    }

    /// Reads `len` bytes as an owned payload: a zero-copy slice when the reader was built
    /// from `Bytes`, otherwise one copy.
    pub(crate) fn payload(&mut self, len: usize) -> Result<Bytes, AmfError> {
        let raw = self.take(len)?;
        Ok(match self.shared {
            Some(b) => b.slice_ref(raw),
            None => Bytes::copy_from_slice(raw),
        })
    }

    /// Reads an AMF3 U29: 1 to 4 bytes, 7 value bits in each of the first three (high bit
    /// set = another byte follows) and all 8 bits of a fourth (AMF3 spec 1.3.1).
    pub(crate) fn u29(&mut self) -> Result<u32, AmfError> {
        let mut value = 0u32;
        for _ in 0..3 {
            let b = self.u8()?;
            value = (value << 7) | u32::from(b & 0x7F);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        let b = self.u8()?;
        Ok((value << 8) | u32::from(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_and_reports_eof() {
        let data = [0x01, 0x02, 0x03];
        let mut r = Reader::new(&data);
        assert_eq!(r.u16(), Ok(0x0102));
        assert_eq!(
            r.u16(),
            Err(AmfError::UnexpectedEof {
                needed: 2,
                available: 1
            })
        );
        assert_eq!(r.peek_u8(), Some(3));
        assert_eq!(r.u8(), Ok(3));
        assert!(r.is_empty());
        assert_eq!(r.peek_u8(), None);
        r.seek(100);
        assert!(r.is_empty());
    }

    #[test]
    fn u29_lengths() {
        let cases: &[(&[u8], u32)] = &[
            (&[0x00], 0),
            (&[0x7F], 0x7F),
            (&[0x81, 0x00], 0x80),
            (&[0xFF, 0x7F], 0x3FFF),
            (&[0x81, 0x80, 0x00], 0x4000),
            (&[0xFF, 0xFF, 0x7F], 0x1F_FFFF),
            (&[0x80, 0xC0, 0x80, 0x00], 0x20_0000),
            (&[0xFF, 0xFF, 0xFF, 0xFF], 0x1FFF_FFFF),
        ];
        for (bytes, want) in cases {
            let mut r = Reader::new(bytes);
            assert_eq!(r.u29(), Ok(*want), "{bytes:02X?}");
            assert!(r.is_empty());
        }
        assert!(Reader::new(&[0x80, 0x80, 0x80]).u29().is_err());
    }

    #[test]
    fn payload_slices_shared_bytes() {
        let b = Bytes::from_static(b"hello");
        let mut r = Reader::shared(&b);
        let p = r.payload(4).unwrap();
        assert_eq!(&p[..], b"hell");
        assert_eq!(p.as_ptr(), b.as_ptr());
        assert_eq!(r.utf8(1), Ok("o"));
        assert_eq!(Reader::new(&[0xFF]).utf8(1), Err(AmfError::InvalidUtf8));
    }
}
