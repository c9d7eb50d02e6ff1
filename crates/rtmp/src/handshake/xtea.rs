//! XTEA (Needham and Wheeler, 1997): the 64-bit block cipher RTMPE type 8 applies to the C2/S2
//! signature (`PROTOCOL_NOTES.md`, "RTMPE"). 32 cycles, delta `0x9E3779B9`, a 128-bit key as
//! four 32-bit words; the block is two 32-bit words.
//!
//! Byte order is the caller's business: the published test vectors read words big-endian, while
//! RTMPE reads the signature's words little-endian (see [`super::rtmpe`]).

/// The key schedule constant, ⌊2^32 / φ⌋.
pub const DELTA: u32 = 0x9E37_79B9;

/// Cycles (each two Feistel rounds) RTMPE uses; the recommended count.
pub const CYCLES: u32 = 32;

/// Encrypts one block `[v0, v1]` with `key`.
pub fn encrypt_block(key: &[u32; 4], block: [u32; 2]) -> [u32; 2] {
    let [mut v0, mut v1] = block;
    let mut sum = 0u32;
    for _ in 0..CYCLES {
        v0 = v0.wrapping_add(
            (((v1 << 4) ^ (v1 >> 5)).wrapping_add(v1)) ^ sum.wrapping_add(key[(sum & 3) as usize]),
        );
        sum = sum.wrapping_add(DELTA);
        v1 = v1.wrapping_add(
            (((v0 << 4) ^ (v0 >> 5)).wrapping_add(v0))
                ^ sum.wrapping_add(key[((sum >> 11) & 3) as usize]),
        );
    }
    [v0, v1]
}

/// Decrypts one block `[v0, v1]` with `key` (the inverse of [`encrypt_block`]).
pub fn decrypt_block(key: &[u32; 4], block: [u32; 2]) -> [u32; 2] {
    let [mut v0, mut v1] = block;
    let mut sum = DELTA.wrapping_mul(CYCLES);
    for _ in 0..CYCLES {
        v1 = v1.wrapping_sub(
            (((v0 << 4) ^ (v0 >> 5)).wrapping_add(v0))
                ^ sum.wrapping_add(key[((sum >> 11) & 3) as usize]),
        );
        sum = sum.wrapping_sub(DELTA);
        v0 = v0.wrapping_sub(
            (((v1 << 4) ^ (v1 >> 5)).wrapping_add(v1)) ^ sum.wrapping_add(key[(sum & 3) as usize]),
        );
    }
    [v0, v1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn be_words<const N: usize>(hex_str: &str) -> [u32; N] {
        let bytes = hex::decode(hex_str).unwrap();
        core::array::from_fn(|i| {
            u32::from_be_bytes([
                bytes[4 * i],
                bytes[4 * i + 1],
                bytes[4 * i + 2],
                bytes[4 * i + 3],
            ])
        })
    }

    /// The published XTEA vectors (Bouncy Castle, Go's x/crypto/xtea, mbed TLS), big-endian words.
    #[test]
    fn known_answers() {
        let cases = [
            (
                "000102030405060708090a0b0c0d0e0f",
                "4142434445464748",
                "497df3d072612cb5",
            ),
            (
                "000102030405060708090a0b0c0d0e0f",
                "4141414141414141",
                "e78f2d13744341d8",
            ),
            (
                "00000000000000000000000000000000",
                "4142434445464748",
                "a0390589f8b8efa5",
            ),
            (
                "00000000000000000000000000000000",
                "4141414141414141",
                "ed23375a821a8c2d",
            ),
        ];
        for (key, plain, cipher) in cases {
            let key = be_words::<4>(key);
            let plain = be_words::<2>(plain);
            let cipher = be_words::<2>(cipher);
            assert_eq!(encrypt_block(&key, plain), cipher);
            assert_eq!(decrypt_block(&key, cipher), plain);
        }
    }

    proptest! {
        #[test]
        fn decrypt_inverts_encrypt(key: [u32; 4], block: [u32; 2]) {
            prop_assert_eq!(decrypt_block(&key, encrypt_block(&key, block)), block);
        }
    }
}
