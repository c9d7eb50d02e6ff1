//! A small ISOBMFF box writer (ISO/IEC 14496-12 4.2, "Object structure").
//!
//! A box is `size:u32 | type:[u8;4] | payload`, where `size` counts the whole box. A FullBox
//! (4.2.2) adds `version:u8 | flags:u24` before its payload. [`BoxWriter::boxed`] writes the
//! header with a placeholder size, runs the closure that writes the payload, then patches the
//! size, so nested boxes are written in one pass with no size arithmetic by hand. Every field is
//! big-endian (14496-12 4.1).
//!
//! The writer never writes 64-bit `largesize` boxes: nothing this crate writes comes near 4 GiB
//! except an `mdat`, whose header the fragmenter writes itself after checking the size.

/// A growable buffer of big-endian ISOBMFF fields and nested boxes.
#[derive(Debug, Default, Clone)]
pub(crate) struct BoxWriter {
    buf: Vec<u8>,
}

impl BoxWriter {
    pub(crate) fn new() -> Self {
        BoxWriter { buf: Vec::new() }
    }

    pub(crate) fn with_capacity(n: usize) -> Self {
        BoxWriter {
            buf: Vec::with_capacity(n),
        }
    }

    /// Bytes written so far.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.buf
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn i16(&mut self, v: i16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn u24(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes()[1..]);
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    pub(crate) fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }

    /// Overwrites a u32 written earlier at `pos` (a size or a data offset).
    pub(crate) fn patch_u32(&mut self, pos: usize, v: u32) {
        self.buf[pos..pos + 4].copy_from_slice(&v.to_be_bytes());
    }

    /// The unity transformation matrix of `mvhd` and `tkhd` (14496-12 8.2.2.3 / 8.3.2.3):
    /// `{0x00010000,0,0, 0,0x00010000,0, 0,0,0x40000000}`.
    pub(crate) fn unity_matrix(&mut self) {
        for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
            self.u32(v);
        }
    }

    /// Writes the box `fourcc` whose payload `f` writes.
    pub(crate) fn boxed(&mut self, fourcc: &[u8; 4], f: impl FnOnce(&mut Self)) {
        let start = self.buf.len();
        self.u32(0);
        self.bytes(fourcc);
        f(self);
        let size = self.buf.len() - start;
        // Init segments and moof boxes are small (kilobytes); a box this writer builds in memory
        // cannot reach 4 GiB without the process running out of memory first.
        let size = u32::try_from(size).unwrap_or(u32::MAX);
        self.patch_u32(start, size);
    }

    /// Writes the FullBox `fourcc` (version, flags) whose payload `f` writes.
    pub(crate) fn full_box(
        &mut self,
        fourcc: &[u8; 4],
        version: u8,
        flags: u32,
        f: impl FnOnce(&mut Self),
    ) {
        self.boxed(fourcc, |w| {
            w.u8(version);
            w.u24(flags);
            f(w);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_sizes_are_patched() {
        let mut w = BoxWriter::new();
        w.boxed(b"moov", |w| {
            w.full_box(b"mvhd", 1, 0x000102, |w| w.u16(0xabcd));
            w.boxed(b"free", |_| {});
        });
        assert_eq!(
            hex::encode(w.into_vec()),
            "0000001e6d6f6f76\
             0000000e6d76686401000102abcd\
             0000000866726565"
        );
    }

    #[test]
    fn fields_are_big_endian() {
        let mut w = BoxWriter::with_capacity(32);
        w.u24(0x0a0b0c);
        w.i16(-2);
        w.i32(-1);
        w.u64(1);
        w.zeros(2);
        assert_eq!(
            hex::encode(w.into_vec()),
            "0a0b0cfffeffffffff00000000000000010000"
        );
    }
}
