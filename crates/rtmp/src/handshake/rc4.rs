//! RC4 (ARCFOUR), the stream cipher RTMPE runs over every byte after C2/S2 (`PROTOCOL_NOTES.md`,
//! "RTMPE"). Tested against the keystreams of RFC 6229 §2.
//!
//! RC4 is broken as a cipher; RTMPE is obfuscation, not security (use RTMPS for that). It is
//! implemented here only because deployed RTMPE peers speak it.

use std::fmt;

/// One direction of an RC4 stream: the key schedule's permutation and the two indices.
#[derive(Clone)]
pub struct Rc4 {
    s: [u8; 256],
    i: u8,
    j: u8,
}

impl Rc4 {
    /// Runs the key schedule for `key` (1 to 256 bytes, checked at compile time).
    pub fn new<const N: usize>(key: &[u8; N]) -> Self {
        const { assert!(N >= 1 && N <= 256, "RC4 keys are 1 to 256 bytes") };
        let mut s = [0u8; 256];
        for (slot, value) in s.iter_mut().zip(0u8..=255) {
            *slot = value;
        }
        let mut j = 0u8;
        for (i, &k) in (0..256).zip(key.iter().cycle()) {
            j = j.wrapping_add(s[i]).wrapping_add(k);
            s.swap(i, usize::from(j));
        }
        Rc4 { s, i: 0, j: 0 }
    }

    fn next_byte(&mut self) -> u8 {
        self.i = self.i.wrapping_add(1);
        let si = self.s[usize::from(self.i)];
        self.j = self.j.wrapping_add(si);
        self.s.swap(usize::from(self.i), usize::from(self.j));
        let t = si.wrapping_add(self.s[usize::from(self.i)]);
        self.s[usize::from(t)]
    }

    /// XORs the next `data.len()` keystream bytes into `data` (encrypts or decrypts in place).
    pub fn apply_keystream(&mut self, data: &mut [u8]) {
        for b in data {
            *b ^= self.next_byte();
        }
    }

    /// Discards the next `n` keystream bytes.
    pub fn skip(&mut self, n: usize) {
        for _ in 0..n {
            self.next_byte();
        }
    }
}

impl fmt::Debug for Rc4 {
    /// Never prints the key state.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rc4").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keystream bytes at `offset` (16 of them), as RFC 6229 lists them.
    fn keystream_at<const N: usize>(key: &[u8; N], offset: usize) -> String {
        let mut rc4 = Rc4::new(key);
        rc4.skip(offset);
        let mut block = [0u8; 16];
        rc4.apply_keystream(&mut block);
        hex::encode(block)
    }

    #[test]
    fn rfc6229_40_bit_key() {
        let key = [0x01, 0x02, 0x03, 0x04, 0x05];
        assert_eq!(keystream_at(&key, 0), "b2396305f03dc027ccc3524a0a1118a8");
        assert_eq!(keystream_at(&key, 1520), "3294f744d8f9790507e70f62e5bbceea");
        // 1536 is where RTMPE starts using the keystream.
        assert_eq!(keystream_at(&key, 1536), "d8729db41882259bee4f825325f5a130");
        assert_eq!(keystream_at(&key, 4096), "ff25b58995996707e51fbdf08b34d875");
    }

    #[test]
    fn rfc6229_128_bit_key() {
        // RTMPE keys are 16 bytes.
        let key: [u8; 16] = core::array::from_fn(|i| i as u8 + 1);
        assert_eq!(keystream_at(&key, 0), "9ac7cc9a609d1ef7b2932899cde41b97");
        assert_eq!(keystream_at(&key, 1520), "b40110c4190b5622a96116b0017ed297");
        assert_eq!(keystream_at(&key, 1536), "ffa0b514647ec04f6306b892ae661181");
    }

    #[test]
    fn encrypt_then_decrypt_in_uneven_pieces() {
        let key = [7u8; 16];
        let plain: Vec<u8> = (0..1000u32).map(|i| (i * 31) as u8).collect();
        let mut data = plain.clone();
        let mut enc = Rc4::new(&key);
        for piece in data.chunks_mut(13) {
            enc.apply_keystream(piece);
        }
        assert_ne!(data, plain);
        let mut dec = Rc4::new(&key);
        dec.apply_keystream(&mut data);
        assert_eq!(data, plain);
    }

    #[test]
    fn debug_hides_the_state() {
        assert_eq!(format!("{:?}", Rc4::new(&[1u8])), "Rc4 { .. }");
    }
}
