//! Diffie-Hellman over the 1024-bit MODP group of RFC 2409 §6.2 (Oakley group 2, generator 2),
//! the key agreement inside an RTMPE handshake (`PROTOCOL_NOTES.md`, "RTMPE").
//!
//! Public keys and the shared secret travel as 128-byte big-endian numbers, left-padded with
//! zeros: a secret whose top byte is zero keeps that byte (some peers built on OpenSSL's
//! `BN_bn2bin` drop it; see [`super::rtmpe`] for how the server sidesteps that). A peer's public
//! key must lie in `[2, p - 2]` (RFC 2631 §2.1.5, the check librtmp and ffmpeg make), so neither
//! side can be forced onto the trivial secrets 0, 1 or p − 1.

use std::fmt;

use num_bigint::BigUint;

use super::digest::DH_KEY_LEN;
use super::HandshakeError;

/// The RFC 2409 §6.2 prime, 2^1024 − 2^960 − 1 + 2^64 · (⌊2^894 π⌋ + 129093), big-endian.
pub const PRIME: [u8; DH_KEY_LEN] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC9, 0x0F, 0xDA, 0xA2, 0x21, 0x68, 0xC2, 0x34,
    0xC4, 0xC6, 0x62, 0x8B, 0x80, 0xDC, 0x1C, 0xD1, 0x29, 0x02, 0x4E, 0x08, 0x8A, 0x67, 0xCC, 0x74,
    0x02, 0x0B, 0xBE, 0xA6, 0x3B, 0x13, 0x9B, 0x22, 0x51, 0x4A, 0x08, 0x79, 0x8E, 0x34, 0x04, 0xDD,
    0xEF, 0x95, 0x19, 0xB3, 0xCD, 0x3A, 0x43, 0x1B, 0x30, 0x2B, 0x0A, 0x6D, 0xF2, 0x5F, 0x14, 0x37,
    0x4F, 0xE1, 0x35, 0x6D, 0x6D, 0x51, 0xC2, 0x45, 0xE4, 0x85, 0xB5, 0x76, 0x62, 0x5E, 0x7E, 0xC6,
    0xF4, 0x4C, 0x42, 0xE9, 0xA6, 0x37, 0xED, 0x6B, 0x0B, 0xFF, 0x5C, 0xB6, 0xF4, 0x06, 0xB7, 0xED,
    0xEE, 0x38, 0x6B, 0xFB, 0x5A, 0x89, 0x9F, 0xA5, 0xAE, 0x9F, 0x24, 0x11, 0x7C, 0x4B, 0x1F, 0xE6,
    0x49, 0x28, 0x66, 0x51, 0xEC, 0xE6, 0x53, 0x81, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
];

/// The group generator.
pub const GENERATOR: u32 = 2;

fn prime() -> BigUint {
    BigUint::from_bytes_be(&PRIME)
}

/// `n` (which is below the prime, so at most 128 bytes) as 128 big-endian bytes.
fn to_fixed(n: &BigUint) -> [u8; DH_KEY_LEN] {
    let bytes = n.to_bytes_be();
    let mut out = [0u8; DH_KEY_LEN];
    let len = bytes.len().min(DH_KEY_LEN);
    let (_, tail) = out.split_at_mut(DH_KEY_LEN - len);
    let (_, src) = bytes.split_at(bytes.len() - len);
    tail.copy_from_slice(src);
    out
}

/// Whether `key` (128 bytes, big-endian) is an acceptable peer public key: `2 ≤ y ≤ p − 2`.
pub fn is_valid_public_key(key: &[u8; DH_KEY_LEN]) -> bool {
    let y = BigUint::from_bytes_be(key);
    let two = BigUint::from(2u32);
    y >= two && y <= prime() - two
}

/// One side's key pair: a private exponent `x` and the public key `2^x mod p`.
#[derive(Clone)]
pub struct DhKeyPair {
    private: BigUint,
    public: [u8; DH_KEY_LEN],
}

impl DhKeyPair {
    /// A fresh key pair from `rng`. The private exponent has its top two bits cleared and bit 1
    /// set, so `2 ≤ x < 2^1022 < q = (p − 1) / 2`: as 2 generates the subgroup of order `q`,
    /// the public key is then never 1 or p − 1 and always passes [`is_valid_public_key`].
    pub fn generate(rng: &mut impl rand::RngCore) -> Self {
        let mut x = [0u8; DH_KEY_LEN];
        rng.fill_bytes(&mut x);
        x[0] &= 0x3F;
        x[DH_KEY_LEN - 1] |= 0x02;
        Self::from_private(&x)
    }

    /// The key pair for a given private exponent (128 bytes, big-endian). For tests and known
    /// vectors; [`generate`](Self::generate) is what handshakes use.
    pub fn from_private(private: &[u8; DH_KEY_LEN]) -> Self {
        let private = BigUint::from_bytes_be(private);
        let public = BigUint::from(GENERATOR).modpow(&private, &prime());
        DhKeyPair {
            private,
            public: to_fixed(&public),
        }
    }

    /// The public key `2^x mod p`, 128 bytes big-endian, left-padded.
    pub fn public_key(&self) -> &[u8; DH_KEY_LEN] {
        &self.public
    }

    /// The shared secret `peer^x mod p`, 128 bytes big-endian with any leading zeros kept.
    ///
    /// Fails with [`HandshakeError::InvalidDhPublicKey`] if `peer` is outside `[2, p − 2]`.
    pub fn shared_secret(
        &self,
        peer: &[u8; DH_KEY_LEN],
    ) -> Result<[u8; DH_KEY_LEN], HandshakeError> {
        if !is_valid_public_key(peer) {
            return Err(HandshakeError::InvalidDhPublicKey);
        }
        let y = BigUint::from_bytes_be(peer);
        Ok(to_fixed(&y.modpow(&self.private, &prime())))
    }
}

impl fmt::Debug for DhKeyPair {
    /// Shows the public key only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DhKeyPair")
            .field("public", &format_args!("{:02x?}", &self.public[..4]))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn fixed(n: u64) -> [u8; DH_KEY_LEN] {
        let mut out = [0u8; DH_KEY_LEN];
        out[DH_KEY_LEN - 8..].copy_from_slice(&n.to_be_bytes());
        out
    }

    fn hex128(s: &str) -> [u8; DH_KEY_LEN] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    #[test]
    fn prime_is_rfc2409_group_2() {
        assert_eq!(
            hex::encode(PRIME).to_uppercase(),
            "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1\
             29024E088A67CC74020BBEA63B139B22514A08798E3404DD\
             EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245\
             E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED\
             EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381\
             FFFFFFFFFFFFFFFF"
        );
    }

    #[test]
    fn small_exponents_by_hand() {
        // 2^1 = 2, 2^5 = 32, 2^10 = 1024: no reduction, left-padded to 128 bytes.
        assert_eq!(DhKeyPair::from_private(&fixed(1)).public_key(), &fixed(2));
        assert_eq!(DhKeyPair::from_private(&fixed(5)).public_key(), &fixed(32));
        assert_eq!(
            DhKeyPair::from_private(&fixed(10)).public_key(),
            &fixed(1024)
        );
        // 2^1024 mod p = 2^960 + 1 − 2^64 · (⌊2^894 π⌋ + 129093), computed independently
        // (Python `pow(2, 1024, p)`).
        let mut x = [0u8; DH_KEY_LEN];
        x[DH_KEY_LEN - 2] = 0x04; // 1024
        assert_eq!(
            hex::encode(DhKeyPair::from_private(&x).public_key()),
            "000000000000000036f0255dde973dcb3b399d747f23e32ed6fdb1f77598338bfdf44159c4ec64dd\
             aeb5f78671cbfb22106ae64c32c5bce4cfd4f5920da0ebc8b01eca9292ae3dba1b7a4a899da18139\
             0bb3bd1659c81294f400a3490bf9481211c79404a576605a5160dbee83b4e019b6d799ae1319ac7e\
             0000000000000001"
        );
    }

    /// A full exchange checked against Python's `pow`: private keys a = 0x1234567890abcdef and
    /// b = 905. 2^905 has leading zero bytes (a public key that must stay 128 bytes long), and
    /// the shared secret starts with a zero byte, which must be kept.
    #[test]
    fn exchange_with_leading_zero_secret() {
        let alice = DhKeyPair::from_private(&fixed(0x1234_5678_90ab_cdef));
        let bob = DhKeyPair::from_private(&fixed(905));
        assert_eq!(
            hex::encode(alice.public_key()),
            "93f8d799cbd30682bf23960f3fcdcebebc5ae2902a8a1c086a6c7cc03864df85b44c2990b5a67caf\
             408450090df90b6e7c682d8e502be4b51c14530f805eef9cc89ef81d191986bfce41a32748a7d2e9\
             434838ca5751a508529ab2cc4f2e2913f8380fdd29e2990046f71b8ea6d6facdc81439cf27ccad92\
             e7c415265fffc584"
        );
        let mut b_pub = [0u8; DH_KEY_LEN];
        b_pub[DH_KEY_LEN - 1 - 905 / 8] = 1 << (905 % 8);
        assert_eq!(bob.public_key(), &b_pub);
        let expected = hex128(
            "002d49877c0a6ec30b70ec5a34aadb0354f75a501a39df8fff4f85fd3cc38db09d640496eb097338\
             e5f0566f8d5ba42d419ff1dfc3e2023112060ed819f9e6a0e90015bf43945199e0636e3fbc24c32a\
             3da8f87188a79a60fe4da942cba9eec9486c593c4b021b5ecca937cf76420fcf20ffbfa8fea58688\
             30e0e89d3c472298",
        );
        assert_eq!(expected[0], 0);
        assert_eq!(alice.shared_secret(bob.public_key()).unwrap(), expected);
        assert_eq!(bob.shared_secret(alice.public_key()).unwrap(), expected);
    }

    #[test]
    fn generated_pairs_agree_and_are_valid() {
        let mut rng = StdRng::seed_from_u64(3);
        let a = DhKeyPair::generate(&mut rng);
        let b = DhKeyPair::generate(&mut rng);
        assert!(is_valid_public_key(a.public_key()));
        assert_ne!(a.public_key(), b.public_key());
        assert_eq!(
            a.shared_secret(b.public_key()).unwrap(),
            b.shared_secret(a.public_key()).unwrap()
        );
        // Even an all-zero random source gives a usable pair (x = 2, y = 4).
        struct Zeros;
        impl rand::RngCore for Zeros {
            fn next_u32(&mut self) -> u32 {
                0
            }
            fn next_u64(&mut self) -> u64 {
                0
            }
            fn fill_bytes(&mut self, dest: &mut [u8]) {
                dest.fill(0);
            }
            fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
                dest.fill(0);
                Ok(())
            }
        }
        assert_eq!(DhKeyPair::generate(&mut Zeros).public_key(), &fixed(4));
    }

    #[test]
    fn peer_keys_outside_2_to_p_minus_2_are_rejected() {
        let me = DhKeyPair::from_private(&fixed(12345));
        let mut p_minus_1 = PRIME;
        p_minus_1[DH_KEY_LEN - 1] -= 1;
        let mut p_minus_2 = PRIME;
        p_minus_2[DH_KEY_LEN - 1] -= 2;
        for bad in [fixed(0), fixed(1), p_minus_1, PRIME, [0xFF; DH_KEY_LEN]] {
            assert!(!is_valid_public_key(&bad));
            assert_eq!(
                me.shared_secret(&bad),
                Err(HandshakeError::InvalidDhPublicKey)
            );
        }
        for good in [fixed(2), p_minus_2] {
            assert!(is_valid_public_key(&good));
            assert!(me.shared_secret(&good).is_ok());
        }
    }

    #[test]
    fn debug_hides_the_private_key() {
        let text = format!("{:?}", DhKeyPair::from_private(&fixed(7)));
        assert!(text.starts_with("DhKeyPair { public: [00, 00, 00, 00]"));
    }
}
