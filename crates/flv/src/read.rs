//! Bounds-checked big-endian byte and bit readers shared by the parsers of this crate.
//!
//! Every read either succeeds or returns [`FlvError::Truncated`] (bits: also
//! [`FlvError::ExpGolombOverflow`]); nothing here can panic on peer data. The bit reader
//! implements the `u(n)`, `ue(v)` and `se(v)` descriptors of ITU-T H.264 7.2 / 9.1 and H.265 9.2.

use crate::FlvError;

/// Byte cursor over a borrowed slice.
#[derive(Debug, Clone)]
pub(crate) struct ByteReader<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> ByteReader<'a> {
    /// A cursor at the start of `data`; `what` names the structure in truncation errors.
    pub(crate) fn new(data: &'a [u8], what: &'static str) -> Self {
        ByteReader { data, pos: 0, what }
    }

    /// Bytes consumed so far.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub(crate) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// The unread tail.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or(&[])
    }

    /// Changes the structure name used in truncation errors.
    pub(crate) fn set_what(&mut self, what: &'static str) {
        self.what = what;
    }

    /// Takes the next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], FlvError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        match end.and_then(|e| self.data.get(self.pos..e)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(FlvError::Truncated {
                what: self.what,
                needed: n,
                available: self.remaining(),
            }),
        }
    }

    /// Reads a fixed-size array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], FlvError> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// UI8.
    pub(crate) fn u8(&mut self) -> Result<u8, FlvError> {
        Ok(self.array::<1>()?[0])
    }

    /// UI16, big-endian.
    pub(crate) fn u16(&mut self) -> Result<u16, FlvError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// UI24, big-endian.
    pub(crate) fn u24(&mut self) -> Result<u32, FlvError> {
        let [a, b, c] = self.array()?;
        Ok(u32::from_be_bytes([0, a, b, c]))
    }

    /// SI24, big-endian two's complement.
    pub(crate) fn i24(&mut self) -> Result<i32, FlvError> {
        let v = self.u24()?;
        Ok(sign_extend_24(v))
    }

    /// UI32, big-endian.
    pub(crate) fn u32(&mut self) -> Result<u32, FlvError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
}

/// Sign-extends a 24-bit two's complement value.
pub(crate) fn sign_extend_24(v: u32) -> i32 {
    // Shift the 24-bit value to the top, then arithmetic-shift back down.
    ((v << 8) as i32) >> 8
}

/// MSB-first bit cursor over a borrowed slice.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    bit: usize,
    what: &'static str,
}

impl<'a> BitReader<'a> {
    /// A cursor at the first bit of `data`.
    pub(crate) fn new(data: &'a [u8], what: &'static str) -> Self {
        BitReader { data, bit: 0, what }
    }

    fn bits_left(&self) -> usize {
        (self.data.len() * 8).saturating_sub(self.bit)
    }

    fn truncated(&self, bits: usize) -> FlvError {
        FlvError::Truncated {
            what: self.what,
            needed: bits.div_ceil(8),
            available: self.bits_left() / 8,
        }
    }

    /// u(1) as a flag.
    pub(crate) fn flag(&mut self) -> Result<bool, FlvError> {
        Ok(self.bits(1)? == 1)
    }

    /// u(n) for n <= 32.
    pub(crate) fn bits(&mut self, n: u32) -> Result<u32, FlvError> {
        debug_assert!(n <= 32);
        let n_us = n as usize;
        if self.bits_left() < n_us {
            return Err(self.truncated(n_us));
        }
        let mut v: u64 = 0;
        for _ in 0..n {
            let byte = self.data.get(self.bit / 8).copied().unwrap_or(0);
            let b = (byte >> (7 - (self.bit % 8))) & 1;
            v = (v << 1) | u64::from(b);
            self.bit += 1;
        }
        Ok(v as u32)
    }

    /// Skips `n` bits.
    pub(crate) fn skip(&mut self, n: usize) -> Result<(), FlvError> {
        if self.bits_left() < n {
            return Err(self.truncated(n));
        }
        self.bit += n;
        Ok(())
    }

    /// ue(v): unsigned exp-Golomb (H.264 9.1).
    pub(crate) fn ue(&mut self) -> Result<u32, FlvError> {
        let mut zeros = 0u32;
        while !self.flag()? {
            zeros += 1;
            if zeros > 31 {
                return Err(FlvError::ExpGolombOverflow);
            }
        }
        let suffix = u64::from(self.bits(zeros)?);
        Ok(((1u64 << zeros) - 1 + suffix) as u32)
    }

    /// se(v): signed exp-Golomb (H.264 9.1.1).
    pub(crate) fn se(&mut self) -> Result<i32, FlvError> {
        let k = i64::from(self.ue()?);
        let v = if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) };
        Ok(v as i32)
    }
}

/// Removes H.264/H.265 emulation-prevention bytes (`00 00 03` -> `00 00`), giving the RBSP.
/// The output is never longer than the input.
pub(crate) fn nal_to_rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0usize;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_reader_reads_big_endian() {
        let mut r = ByteReader::new(&[1, 2, 3, 4, 5, 6, 0xff, 0xff, 0xfe], "t");
        assert_eq!(r.u8().unwrap(), 1);
        assert_eq!(r.u16().unwrap(), 0x0203);
        assert_eq!(r.u24().unwrap(), 0x040506);
        assert_eq!(r.i24().unwrap(), -2);
        assert!(matches!(
            r.u8(),
            Err(FlvError::Truncated {
                what: "t",
                needed: 1,
                available: 0
            })
        ));
    }

    #[test]
    fn sign_extension() {
        assert_eq!(sign_extend_24(0x7f_ffff), 8_388_607);
        assert_eq!(sign_extend_24(0x80_0000), -8_388_608);
        assert_eq!(sign_extend_24(0), 0);
    }

    #[test]
    fn exp_golomb() {
        // 1 | 010 | 011 | 00100 | 00101 => ue 0,1,2,3,4 ; packed: 1010 0110 0100 0010 1xxx
        let mut r = BitReader::new(&[0b1010_0110, 0b0100_0010, 0b1000_0000], "t");
        assert_eq!(r.ue().unwrap(), 0);
        assert_eq!(r.ue().unwrap(), 1);
        assert_eq!(r.ue().unwrap(), 2);
        assert_eq!(r.ue().unwrap(), 3);
        assert_eq!(r.ue().unwrap(), 4);
        // se: codeNum 1 -> 1, 2 -> -1
        let mut r = BitReader::new(&[0b0100_1100], "t");
        assert_eq!(r.se().unwrap(), 1);
        assert_eq!(r.se().unwrap(), -1);
    }

    #[test]
    fn exp_golomb_overflow_and_truncation() {
        let mut r = BitReader::new(&[0, 0, 0, 0, 0x80], "t");
        assert!(matches!(r.ue(), Err(FlvError::ExpGolombOverflow)));
        let mut r = BitReader::new(&[0x00], "t");
        assert!(matches!(r.ue(), Err(FlvError::Truncated { .. })));
    }

    #[test]
    fn emulation_prevention_removed() {
        assert_eq!(nal_to_rbsp(&[0, 0, 3, 1, 0, 0, 3]), vec![0, 0, 1, 0, 0]);
        assert_eq!(nal_to_rbsp(&[0, 3, 0, 0, 3, 3]), vec![0, 3, 0, 0, 3]);
    }
}
