//! RTMPE ("encrypted" RTMP, C0 = 6, 8 or 9): the pieces the digest handshake adds for it, as
//! `PROTOCOL_NOTES.md` ("RTMPE") describes and as ffmpeg (`rtmpcrypt.c`) and librtmp
//! (`handshake.h`) implement it. **It is obfuscation, not security**: the keys of every
//! signature cipher are public constants, RC4 is broken and nothing authenticates the DH
//! exchange. Use RTMPS for confidentiality.
//!
//! - The C1/S1 key block carries a 1024-bit Diffie-Hellmann public key ([`super::dh`]) at the
//!   [`key_offset`](super::digest::key_offset) of the packet's layout.
//! - RC4 keys ([`RtmpeCipher`]): each side's *outgoing* key is the first 16 bytes of
//!   HMAC-SHA256(key = shared secret, data = the peer's public key); its *incoming* key uses its
//!   own public key. The first 1536 bytes of both keystreams are discarded. C2/S2 travel in the
//!   clear; every byte after them is RC4-encrypted, both ways.
//! - C2/S2 signatures are the digest handshake's, but for types 8 and 9 each of the 4 8-byte
//!   blocks of the 32-byte signature is further encrypted with XTEA (type 8) or Blowfish (type 9)
//!   under one of 16 constant keys, chosen by the byte of the *signing key* (the intermediate
//!   HMAC(full key, peer digest)) at the block's offset, modulo 15 ([`encrypt_signature`]). Both
//!   ciphers read the block as two **little-endian** 32-bit words.
//!
//! # What peers do (verified against ffmpeg 9 and rtmpdump in `crates/cli/tests/rtmpe.rs`)
//!
//! - ffmpeg and librtmp clients send C0 = 6, version 128.0.3.2, their key and digest in the
//!   [`KeyFirst`](DigestLayout::KeyFirst) layout. Both take the signature type from S0, so a
//!   server may answer 8 or 9 to a 6 (librtmp's own server answers 8 to Flash Player 10).
//! - ffmpeg *playing* looks for S1's digest in the key-first position, then the digest-first
//!   one, and reads S1's key in the layout that verified. ffmpeg *publishing* checks nothing and
//!   always reads S1's key at the [`DigestFirst`](DigestLayout::DigestFirst) key position. So a
//!   key-first S1 carries its public key twice ([`place_server_key`]): in its own key block and
//!   where a digest-first layout would have it, clear of the digest.

use std::fmt;

use blowfish::cipher::generic_array::GenericArray;
use blowfish::cipher::{BlockEncrypt, KeyInit};

use super::digest::{self, DH_KEY_LEN, DIGEST_LEN};
use super::rc4::Rc4;
use super::{xtea, DigestLayout, HANDSHAKE_SIZE};

/// Which RTMPE variant a connection uses: the C0/S0 version byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RtmpeType {
    /// C0 = 6: Diffie-Hellman and RC4, signatures as in the digest handshake. What ffmpeg and
    /// rtmpdump send.
    #[default]
    Basic,
    /// C0 = 8: signatures further encrypted with XTEA (Flash Player 10).
    Xtea,
    /// C0 = 9: signatures further encrypted with Blowfish.
    Blowfish,
}

impl RtmpeType {
    /// The type a C0/S0 byte requests, if it is 6, 8 or 9.
    pub fn from_version_byte(byte: u8) -> Option<Self> {
        match byte {
            0x06 => Some(RtmpeType::Basic),
            0x08 => Some(RtmpeType::Xtea),
            0x09 => Some(RtmpeType::Blowfish),
            _ => None,
        }
    }

    /// The C0/S0 byte for this type.
    pub fn version_byte(self) -> u8 {
        match self {
            RtmpeType::Basic => 0x06,
            RtmpeType::Xtea => 0x08,
            RtmpeType::Blowfish => 0x09,
        }
    }
}

/// Version bytes (C1 bytes 4..8) an RTMPE client sends: 128.0.3.2, as ffmpeg and librtmp do
/// (Flash Player 10 style; servers read 128 as "can do type 8").
pub const RTMPE_CLIENT_VERSION: [u8; 4] = [128, 0, 3, 2];

/// Bytes of each RC4 keystream discarded before the first encrypted byte.
pub const KEYSTREAM_SKIP: usize = HANDSHAKE_SIZE;

/// Length of the RC4 keys (the first bytes of an HMAC-SHA256).
pub const RC4_KEY_LEN: usize = 16;

/// The 16 XTEA keys of type 8, as 32-bit words (librtmp's table; ffmpeg stores the same words
/// as little-endian bytes).
const XTEA_KEYS: [[u32; 4]; 16] = [
    [0xbff034b2, 0x11d9081f, 0xccdfb795, 0x748de732],
    [0x086a5eb6, 0x1743090e, 0x6ef05ab8, 0xfe5a39e2],
    [0x7b10956f, 0x76ce0521, 0x2388a73a, 0x440149a1],
    [0xa943f317, 0xebf11bb2, 0xa691a5ee, 0x17f36339],
    [0x7a30e00a, 0xb529e22c, 0xa087aea5, 0xc0cb79ac],
    [0xbdce0c23, 0x2febdeff, 0x1cfaae16, 0x1123239d],
    [0x55dd3f7b, 0x77e7e62e, 0x9bb8c499, 0xc9481ee4],
    [0x407bb6b4, 0x71e89136, 0xa7aebf55, 0xca33b839],
    [0xfcf6bdc3, 0xb63c3697, 0x7ce4f825, 0x04d959b2],
    [0x28e091fd, 0x41954c4c, 0x7fb7db00, 0xe3a066f8],
    [0x57845b76, 0x4f251b03, 0x46d45bcd, 0xa2c30d29],
    [0x0acceef8, 0xda55b546, 0x03473452, 0x5863713b],
    [0xb82075dc, 0xa75f1fee, 0xd84268e8, 0xa72a44cc],
    [0x07cf6e9e, 0xa16d7b25, 0x9fa7ae6c, 0xd92f5629],
    [0xfeb1eae4, 0x8c8c3ce1, 0x4e0064a7, 0x6a387c2a],
    [0x893a9427, 0xcc3013a2, 0xf106385b, 0xa829f927],
];

/// The 16 Blowfish keys (24 bytes each) of type 9 (ffmpeg's table).
const BLOWFISH_KEYS: [[u8; 24]; 16] = [
    hex24(*b"7934774c67d1383adfb356be8b7bd02438e07358415d6967"),
    hex24(*b"46f6b4cc0193e3a19e7d3c655586fd098ff7b3c46f41ca5c"),
    hex24(*b"1ae7e2f3f9147994c0d39743087bb384432f9d843f21019b"),
    hex24(*b"d3e354b0f71df62b5a434d0483643e0d592f61cbb16a590d"),
    hex24(*b"c8c1e9b8165699217b5b36b7b59bdf06492c97f59548857e"),
    hex24(*b"ebe5e62ea4bad42cf216e08f6623a94341ce381484950053"),
    hex24(*b"66db90f03b4ff56fe49c2089355ed2b2c39e9f7f63b22881"),
    hex24(*b"bb20aced2a046a1994989bc8ffcd93efc60d56a7eb13d930"),
    hex24(*b"bcf2438209408a8725436de6bba4b944583f217c99bb3f24"),
    hex24(*b"ec1aaacdcebd5311d2fb83b6c3baab4f6279e865a9922876"),
    hex24(*b"c60c300391182d7b79dae1d564779a12c5b1d7914f964ca3"),
    hex24(*b"d77c2abfa6e7857c45adff1294d8dea45c3d79a444025d22"),
    hex24(*b"16190d816a4cc7f8b8f94ecd2c9e9084b2082560e11eae18"),
    hex24(*b"e97c58261b519e49826061fca0a01bcdf505d6a66d0788a3"),
    hex24(*b"2b97118bd94ed9df20e39c10e6a1352111f9130d0b2465b2"),
    hex24(*b"536a4c54ac8b9bb89729fc602c5b3a8568b5aa6a44cd3fa7"),
];

/// Decodes 48 hex digits at compile time (a malformed table fails the build).
const fn hex24(text: [u8; 48]) -> [u8; 24] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a lowercase hex digit"),
        }
    }
    let mut out = [0u8; 24];
    let mut i = 0;
    while i < 24 {
        out[i] = (nibble(text[2 * i]) << 4) | nibble(text[2 * i + 1]);
        i += 1;
    }
    out
}

/// The standard Blowfish cipher (big-endian halves; the type's default byte order).
type BlowfishBe = blowfish::Blowfish;

/// XTEA-encrypts one 8-byte block as RTMPE type 8 does: two little-endian words.
fn xtea_block(block: &mut [u8], key: &[u32; 4]) {
    let mut words = [0u32; 2];
    for (word, bytes) in words.iter_mut().zip(block.chunks_exact(4)) {
        let mut le = [0u8; 4];
        le.copy_from_slice(bytes);
        *word = u32::from_le_bytes(le);
    }
    let out = xtea::encrypt_block(key, words);
    for (bytes, word) in block.chunks_exact_mut(4).zip(out) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
}

/// Blowfish-encrypts one 8-byte block as RTMPE type 9 does: the standard cipher (big-endian
/// halves) applied to the block with each 4-byte half byte-reversed, i.e. little-endian halves.
fn blowfish_block(block: &mut [u8], key: &[u8; 24]) {
    let cipher = match BlowfishBe::new_from_slice(key) {
        Ok(cipher) => cipher,
        Err(_) => unreachable!("Blowfish takes 4- to 56-byte keys; these are 24"),
    };
    let mut swapped = [0u8; 8];
    for (dst, src) in swapped.chunks_exact_mut(4).zip(block.chunks_exact(4)) {
        for (d, s) in dst.iter_mut().zip(src.iter().rev()) {
            *d = *s;
        }
    }
    cipher.encrypt_block(GenericArray::from_mut_slice(&mut swapped));
    for (dst, src) in block.chunks_exact_mut(4).zip(swapped.chunks_exact(4)) {
        for (d, s) in dst.iter_mut().zip(src.iter().rev()) {
            *d = *s;
        }
    }
}

/// Applies the type's extra signature encryption to a C2/S2 `signature` in place: nothing for
/// type 6; for 8 and 9, each 8-byte block `i` is encrypted with key number
/// `signing_key[8 i] % 15`. `signing_key` is HMAC-SHA256(full key, peer's digest), the key the
/// signature itself was made with.
pub fn encrypt_signature(
    rtmpe_type: RtmpeType,
    signature: &mut [u8; DIGEST_LEN],
    signing_key: &[u8; DIGEST_LEN],
) {
    for (block, key_bytes) in signature
        .chunks_exact_mut(8)
        .zip(signing_key.chunks_exact(8))
    {
        let key_id = key_bytes.first().map_or(0, |b| usize::from(b % 15));
        match rtmpe_type {
            RtmpeType::Basic => {}
            RtmpeType::Xtea => {
                if let Some(key) = XTEA_KEYS.get(key_id) {
                    xtea_block(block, key);
                }
            }
            RtmpeType::Blowfish => {
                if let Some(key) = BLOWFISH_KEYS.get(key_id) {
                    blowfish_block(block, key);
                }
            }
        }
    }
}

/// The C2/S2 signature of an RTMPE handshake: the digest handshake's
/// [`response_signature`](digest::response_signature), then [`encrypt_signature`].
pub fn response_signature(
    rtmpe_type: RtmpeType,
    packet: &[u8; HANDSHAKE_SIZE],
    full_key: &[u8],
    peer_digest: &[u8; DIGEST_LEN],
) -> [u8; DIGEST_LEN] {
    let signing_key = digest::hmac_sha256(full_key, &[peer_digest]);
    let mut signature = digest::hmac_sha256(
        &signing_key,
        &[&packet[..digest::RESPONSE_SIGNATURE_OFFSET]],
    );
    encrypt_signature(rtmpe_type, &mut signature, &signing_key);
    signature
}

/// The 128-byte DH public key stored in `packet` at `layout`'s key position.
pub fn public_key_at(packet: &[u8; HANDSHAKE_SIZE], layout: DigestLayout) -> [u8; DH_KEY_LEN] {
    let at = digest::key_offset(packet, layout);
    let mut key = [0u8; DH_KEY_LEN];
    key.copy_from_slice(&packet[at..at + DH_KEY_LEN]);
    key
}

/// Writes `public` at `layout`'s key position of `packet`.
pub fn put_public_key(
    packet: &mut [u8; HANDSHAKE_SIZE],
    layout: DigestLayout,
    public: &[u8; DH_KEY_LEN],
) {
    let at = digest::key_offset(packet, layout);
    packet[at..at + DH_KEY_LEN].copy_from_slice(public);
}

/// Four offset bytes (each at most 255) that sum to `sum` (at most 1020).
fn offset_bytes(sum: usize) -> [u8; 4] {
    let mut left = sum.min(4 * 255);
    let mut out = [0u8; 4];
    for b in &mut out {
        let v = left.min(255);
        *b = v as u8;
        left -= v;
    }
    out
}

/// Highest digest position (from its block's data start) the server picks in a key-first S1;
/// keeps the digest in the first part of the block so the second copy of the key fits after it.
const MAX_SERVER_DIGEST_POS: usize = 200;

/// Prepares a server S1 (random body, before its digest is imprinted) to carry `public` for a
/// client that used `layout`, so that every known client finds it (see the module docs).
///
/// Digest-first: the key goes at the digest-first key position; nothing else is needed.
/// Key-first: the key goes at the key-first position (inside 8..768), and a copy at the
/// digest-first position (inside 772..1532), where ffmpeg publishers read it; the offset bytes
/// at 772..776 and 1532..1536 are chosen so that the digest (776 + d, d < 200) and the copy
/// (772 + k, k ≥ 36 + d) do not overlap. The caller imprints the digest afterwards.
pub fn place_server_key(
    s1: &mut [u8; HANDSHAKE_SIZE],
    layout: DigestLayout,
    public: &[u8; DH_KEY_LEN],
    rng: &mut impl rand::RngCore,
) {
    if layout == DigestLayout::KeyFirst {
        let d = (rng.next_u32() as usize) % MAX_SERVER_DIGEST_POS;
        let min_k = 36 + d;
        let span = 632 - min_k;
        let k = min_k + (rng.next_u32() as usize) % span;
        s1[772..776].copy_from_slice(&offset_bytes(d));
        s1[1532..1536].copy_from_slice(&offset_bytes(k));
        put_public_key(s1, DigestLayout::DigestFirst, public);
    }
    put_public_key(s1, layout, public);
}

/// The RC4 pair of an established RTMPE connection: one keystream for what this side receives,
/// one for what it sends.
#[derive(Clone)]
pub struct RtmpeCipher {
    decrypt: Rc4,
    encrypt: Rc4,
}

impl RtmpeCipher {
    /// Derives both keystreams from the DH `secret` and the two public keys (see the module
    /// docs) and discards their first [`KEYSTREAM_SKIP`] bytes.
    pub fn new(
        secret: &[u8; DH_KEY_LEN],
        own_public: &[u8; DH_KEY_LEN],
        peer_public: &[u8; DH_KEY_LEN],
    ) -> Self {
        let key = |public: &[u8; DH_KEY_LEN]| {
            let mac = digest::hmac_sha256(secret, &[public]);
            let mut key = [0u8; RC4_KEY_LEN];
            key.copy_from_slice(&mac[..RC4_KEY_LEN]);
            key
        };
        let mut encrypt = Rc4::new(&key(peer_public));
        let mut decrypt = Rc4::new(&key(own_public));
        encrypt.skip(KEYSTREAM_SKIP);
        decrypt.skip(KEYSTREAM_SKIP);
        RtmpeCipher { decrypt, encrypt }
    }

    /// Decrypts received bytes in place, continuing the incoming keystream.
    pub fn decrypt(&mut self, data: &mut [u8]) {
        self.decrypt.apply_keystream(data);
    }

    /// Encrypts bytes to send in place, continuing the outgoing keystream.
    pub fn encrypt(&mut self, data: &mut [u8]) {
        self.encrypt.apply_keystream(data);
    }
}

impl fmt::Debug for RtmpeCipher {
    /// Never prints key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RtmpeCipher").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn version_bytes_round_trip() {
        for (byte, t) in [
            (6, RtmpeType::Basic),
            (8, RtmpeType::Xtea),
            (9, RtmpeType::Blowfish),
        ] {
            assert_eq!(RtmpeType::from_version_byte(byte), Some(t));
            assert_eq!(t.version_byte(), byte);
        }
        for byte in [0, 3, 5, 7, 10, 0xF3] {
            assert_eq!(RtmpeType::from_version_byte(byte), None);
        }
        assert_eq!(RtmpeType::default(), RtmpeType::Basic);
    }

    #[test]
    fn tables_match_the_published_ones_at_their_ends() {
        // ffmpeg's rtmpe8_keys[0] as little-endian bytes: b2 34 f0 bf 1f 08 d9 11 ...
        assert_eq!(XTEA_KEYS[0][0].to_le_bytes(), [0xb2, 0x34, 0xf0, 0xbf]);
        assert_eq!(XTEA_KEYS[15][3], 0xa829f927);
        assert_eq!(BLOWFISH_KEYS[0][..4], [0x79, 0x34, 0x77, 0x4c]);
        assert_eq!(BLOWFISH_KEYS[15][20..], [0x44, 0xcd, 0x3f, 0xa7]);
    }

    /// Blowfish with the byte-order plumbing removed, against Eric Young's vectors.
    #[test]
    fn blowfish_known_answers() {
        for (key, plain, cipher) in [
            ("0000000000000000", "0000000000000000", "4ef997456198dd78"),
            ("ffffffffffffffff", "ffffffffffffffff", "51866fd5b85ecb8a"),
            ("0123456789abcdef", "1111111111111111", "61f9c3802281b096"),
        ] {
            let bf = BlowfishBe::new_from_slice(&hex::decode(key).unwrap()).unwrap();
            let mut block = hex::decode(plain).unwrap();
            bf.encrypt_block(GenericArray::from_mut_slice(&mut block));
            assert_eq!(hex::encode(block), cipher);
        }
    }

    /// The little-endian wrappers are the standard ciphers on byte-reversed halves.
    #[test]
    fn signature_ciphers_read_little_endian_words() {
        let plain = *b"\x01\x02\x03\x04\x05\x06\x07\x08";
        let mut block = plain;
        xtea_block(&mut block, &XTEA_KEYS[3]);
        let [v0, v1] = xtea::encrypt_block(&XTEA_KEYS[3], [0x04030201, 0x08070605]);
        assert_eq!(block[..4], v0.to_le_bytes());
        assert_eq!(block[4..], v1.to_le_bytes());

        let mut block = plain;
        blowfish_block(&mut block, &BLOWFISH_KEYS[5]);
        let bf = BlowfishBe::new_from_slice(&BLOWFISH_KEYS[5]).unwrap();
        let mut be = [4, 3, 2, 1, 8, 7, 6, 5];
        bf.encrypt_block(GenericArray::from_mut_slice(&mut be));
        assert_eq!(
            block,
            [be[3], be[2], be[1], be[0], be[7], be[6], be[5], be[4]]
        );
    }

    #[test]
    fn signature_encryption_picks_keys_by_signing_key_bytes() {
        let signature: [u8; 32] = core::array::from_fn(|i| i as u8);
        // Signing key bytes 0, 8, 16, 24 = 15, 16, 29, 255 -> keys 0, 1, 14, 0.
        let mut signing_key = [0u8; 32];
        signing_key[0] = 15;
        signing_key[8] = 16;
        signing_key[16] = 29;
        signing_key[24] = 255;

        let mut plain = signature;
        encrypt_signature(RtmpeType::Basic, &mut plain, &signing_key);
        assert_eq!(plain, signature);

        let mut x = signature;
        encrypt_signature(RtmpeType::Xtea, &mut x, &signing_key);
        for (i, key_id) in [0usize, 1, 14, 0].into_iter().enumerate() {
            let mut block = [0u8; 8];
            block.copy_from_slice(&signature[8 * i..8 * i + 8]);
            xtea_block(&mut block, &XTEA_KEYS[key_id]);
            assert_eq!(x[8 * i..8 * i + 8], block);
        }

        let mut b = signature;
        encrypt_signature(RtmpeType::Blowfish, &mut b, &signing_key);
        for (i, key_id) in [0usize, 1, 14, 0].into_iter().enumerate() {
            let mut block = [0u8; 8];
            block.copy_from_slice(&signature[8 * i..8 * i + 8]);
            blowfish_block(&mut block, &BLOWFISH_KEYS[key_id]);
            assert_eq!(b[8 * i..8 * i + 8], block);
        }
        assert_ne!(x, b);
    }

    #[test]
    fn offset_bytes_sum_up() {
        for sum in [0, 1, 254, 255, 256, 631, 727, 1020] {
            let bytes = offset_bytes(sum);
            assert_eq!(bytes.iter().map(|&b| usize::from(b)).sum::<usize>(), sum);
        }
    }

    #[test]
    fn key_first_s1_carries_the_key_twice_clear_of_the_digest() {
        let public: [u8; DH_KEY_LEN] = core::array::from_fn(|i| 0x80 | i as u8);
        for seed in 0..200 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut s1 = [0u8; HANDSHAKE_SIZE];
            rand::RngCore::fill_bytes(&mut rng, &mut s1);
            place_server_key(&mut s1, DigestLayout::KeyFirst, &public, &mut rng);
            let before = s1;
            digest::imprint_digest(&mut s1, DigestLayout::KeyFirst, digest::server_digest_key());
            assert!(digest::verify_digest(
                &s1,
                DigestLayout::KeyFirst,
                digest::server_digest_key()
            ));
            assert_eq!(public_key_at(&s1, DigestLayout::KeyFirst), public);
            assert_eq!(public_key_at(&s1, DigestLayout::DigestFirst), public);
            // Only the 32 digest bytes changed.
            let changed = s1.iter().zip(before.iter()).filter(|(a, b)| a != b).count();
            assert!(changed <= DIGEST_LEN);
        }
    }

    #[test]
    fn digest_first_s1_carries_the_key_once() {
        let public = [0x42u8; DH_KEY_LEN];
        let mut rng = StdRng::seed_from_u64(1);
        let mut s1 = [0u8; HANDSHAKE_SIZE];
        place_server_key(&mut s1, DigestLayout::DigestFirst, &public, &mut rng);
        assert_eq!(public_key_at(&s1, DigestLayout::DigestFirst), public);
        assert_eq!(s1.iter().filter(|&&b| b == 0x42).count(), DH_KEY_LEN);
    }

    #[test]
    fn cipher_pair_interlocks() {
        let secret = [9u8; DH_KEY_LEN];
        let client_pub = [1u8; DH_KEY_LEN];
        let server_pub = [2u8; DH_KEY_LEN];
        let mut client = RtmpeCipher::new(&secret, &client_pub, &server_pub);
        let mut server = RtmpeCipher::new(&secret, &server_pub, &client_pub);
        for msg in [&b"connect"[..], &[0u8; 3000][..], b"x"] {
            let mut data = msg.to_vec();
            client.encrypt(&mut data);
            assert_ne!(data, msg);
            server.decrypt(&mut data);
            assert_eq!(data, msg);
            let mut back = msg.to_vec();
            server.encrypt(&mut back);
            client.decrypt(&mut back);
            assert_eq!(back, msg);
        }
        // Out key = HMAC(secret, peer's key), after 1536 skipped bytes.
        let mac = digest::hmac_sha256(&secret, &[&server_pub]);
        let mut rc4 = Rc4::new::<16>(mac[..16].try_into().unwrap());
        rc4.skip(1536);
        let mut expected = [0u8; 8];
        rc4.apply_keystream(&mut expected);
        let mut fresh = RtmpeCipher::new(&secret, &client_pub, &server_pub);
        let mut got = [0u8; 8];
        fresh.encrypt(&mut got);
        assert_eq!(got, expected);
        assert_eq!(format!("{fresh:?}"), "RtmpeCipher { .. }");
    }
}
