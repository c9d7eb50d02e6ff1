//! Digest ("complex") handshake primitives: the Flash Player / Flash Media Server keys, where the
//! digest and the Diffie-Hellman key slot sit inside a 1536-byte C1/S1, and the HMAC-SHA256
//! computations that sign C1/S1 and C2/S2.
//!
//! The RTMP 1.0 specification (§5.2.3) describes C1/S1 as time + zero + random; Flash Player 9+
//! and Flash Media Server instead fill the last 1528 bytes with two 764-byte blocks, one holding
//! an HMAC-SHA256 digest, the other a 128-byte DH public key slot (used by RTMPE). The facts
//! implemented here are the ones in `PROTOCOL_NOTES.md`, "Complex (digest) handshake":
//!
//! - digest block: 4 offset bytes first; digest at `(sum of offset bytes) % 728 + 4` from the
//!   block start;
//! - key block: 4 offset bytes last; 128-byte key at `(sum of offset bytes) % 632` from the block
//!   start;
//! - [`DigestLayout::DigestFirst`] ("schema 1"): digest block at 8..772, key block at 772..1536;
//!   [`DigestLayout::KeyFirst`] ("schema 0"): key block at 8..772, digest block at 772..1536;
//! - C1/S1 digest = HMAC-SHA256(public part of the key, packet without its 32 digest bytes);
//! - C2/S2 signature = HMAC-SHA256(HMAC-SHA256(full key, peer's digest), first 1504 bytes).
//!
//! Every function takes a whole packet as `&[u8; HANDSHAKE_SIZE]`, so every offset computed
//! here is in bounds by construction (the largest digest end is 776 + 727 + 32 = 1535, the
//! largest key end is 772 + 631 + 128 = 1531), whatever bytes the peer sent.
//!
//! RTMPE builds on [`key_offset`], [`packet_digest`] and [`hmac_sha256`]; its Diffie-Hellman
//! exchange, RC4 streams and signature ciphers live in [`super::dh`] and [`super::rtmpe`].

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{DigestLayout, HANDSHAKE_SIZE};

/// Length of an HMAC-SHA256 digest, and of the digest carried in C1/S1 and C2/S2.
pub const DIGEST_LEN: usize = 32;

/// Length of the Diffie-Hellman public key slot in the key block (1024-bit key, big-endian).
pub const DH_KEY_LEN: usize = 128;

/// Length of each of the two blocks that follow the 8-byte time/version header of C1/S1.
pub const BLOCK_LEN: usize = 764;

/// The 32 constant bytes that follow the ASCII part of both keys.
const KEY_TAIL: [u8; 32] = [
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
];

const fn concat_key<const N: usize, const A: usize>(ascii: &[u8; A]) -> [u8; N] {
    let mut out = [0u8; N];
    let mut i = 0;
    while i < A {
        out[i] = ascii[i];
        i += 1;
    }
    let mut j = 0;
    while j < KEY_TAIL.len() {
        out[A + j] = KEY_TAIL[j];
        j += 1;
    }
    out
}

/// Length of the public (ASCII) part of the Flash Player key, used to sign C1.
pub const FP_KEY_PUBLIC_LEN: usize = 30;

/// Length of the public (ASCII) part of the Flash Media Server key, used to sign S1.
pub const FMS_KEY_PUBLIC_LEN: usize = 36;

/// The full 62-byte Flash Player key: `Genuine Adobe Flash Player 001` + 32 constant bytes.
///
/// Its first [`FP_KEY_PUBLIC_LEN`] bytes sign C1; all of it keys the C2 signature.
pub const FP_KEY: [u8; 62] = concat_key::<62, 30>(b"Genuine Adobe Flash Player 001");

/// The full 68-byte Flash Media Server key: `Genuine Adobe Flash Media Server 001` + 32
/// constant bytes.
///
/// Its first [`FMS_KEY_PUBLIC_LEN`] bytes sign S1; all of it keys the S2 signature.
pub const FMS_KEY: [u8; 68] = concat_key::<68, 36>(b"Genuine Adobe Flash Media Server 001");

/// The key that signs C1 (the public part of [`FP_KEY`]).
pub fn client_digest_key() -> &'static [u8] {
    FP_KEY.split_at(FP_KEY_PUBLIC_LEN).0
}

/// The key that signs S1 (the public part of [`FMS_KEY`]).
pub fn server_digest_key() -> &'static [u8] {
    FMS_KEY.split_at(FMS_KEY_PUBLIC_LEN).0
}

/// HMAC-SHA256 of the concatenation of `parts`, keyed with `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    // HMAC accepts keys of any length, so this constructor cannot fail.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Start offsets (from the packet start) of the digest block and the key block.
const fn block_starts(layout: DigestLayout) -> (usize, usize) {
    match layout {
        DigestLayout::DigestFirst => (8, 8 + BLOCK_LEN),
        DigestLayout::KeyFirst => (8 + BLOCK_LEN, 8),
    }
}

fn sum4(bytes: &[u8; HANDSHAKE_SIZE], at: usize) -> usize {
    bytes[at..at + 4].iter().map(|&b| usize::from(b)).sum()
}

/// Absolute offset (from the start of the 1536-byte packet) of the 32-byte digest in `layout`.
///
/// The digest block's first 4 bytes are summed; the digest sits `sum % 728 + 4` bytes into the
/// block. DigestFirst: 12 + sum % 728; KeyFirst: 776 + sum % 728.
pub fn digest_offset(packet: &[u8; HANDSHAKE_SIZE], layout: DigestLayout) -> usize {
    let (digest_block, _) = block_starts(layout);
    digest_block + 4 + sum4(packet, digest_block) % (BLOCK_LEN - 4 - DIGEST_LEN)
}

/// Absolute offset (from the start of the 1536-byte packet) of the 128-byte DH public key slot
/// in `layout`.
///
/// The key block's last 4 bytes are summed; the key sits `sum % 632` bytes into the block.
/// DigestFirst: 772 + sum(1532..1536) % 632; KeyFirst: 8 + sum(768..772) % 632.
pub fn key_offset(packet: &[u8; HANDSHAKE_SIZE], layout: DigestLayout) -> usize {
    let (_, key_block) = block_starts(layout);
    key_block + sum4(packet, key_block + BLOCK_LEN - 4) % (BLOCK_LEN - 4 - DH_KEY_LEN)
}

/// The digest of a C1/S1 `packet` in `layout`: HMAC-SHA256 keyed with `key` over the packet
/// with the 32 digest bytes left out. Use [`client_digest_key`] for C1, [`server_digest_key`]
/// for S1.
pub fn packet_digest(
    packet: &[u8; HANDSHAKE_SIZE],
    layout: DigestLayout,
    key: &[u8],
) -> [u8; DIGEST_LEN] {
    let at = digest_offset(packet, layout);
    hmac_sha256(key, &[&packet[..at], &packet[at + DIGEST_LEN..]])
}

/// Computes the digest of `packet` in `layout` and writes it in place; returns the digest.
pub fn imprint_digest(
    packet: &mut [u8; HANDSHAKE_SIZE],
    layout: DigestLayout,
    key: &[u8],
) -> [u8; DIGEST_LEN] {
    let digest = packet_digest(packet, layout, key);
    let at = digest_offset(packet, layout);
    packet[at..at + DIGEST_LEN].copy_from_slice(&digest);
    digest
}

/// The digest stored in `packet` at its `layout` position (whether or not it verifies).
pub fn stored_digest(packet: &[u8; HANDSHAKE_SIZE], layout: DigestLayout) -> [u8; DIGEST_LEN] {
    let at = digest_offset(packet, layout);
    let mut out = [0u8; DIGEST_LEN];
    out.copy_from_slice(&packet[at..at + DIGEST_LEN]);
    out
}

/// Whether the digest stored in `packet` at its `layout` position is the one [`packet_digest`]
/// computes with `key`.
pub fn verify_digest(packet: &[u8; HANDSHAKE_SIZE], layout: DigestLayout, key: &[u8]) -> bool {
    ct_eq(
        &packet_digest(packet, layout, key),
        &stored_digest(packet, layout),
    )
}

/// Tries both layouts (DigestFirst, then KeyFirst, as Flash and librtmp clients most often use
/// the former) and returns the one whose digest verifies with `key`, with that digest.
pub fn find_digest(
    packet: &[u8; HANDSHAKE_SIZE],
    key: &[u8],
) -> Option<(DigestLayout, [u8; DIGEST_LEN])> {
    [DigestLayout::DigestFirst, DigestLayout::KeyFirst]
        .into_iter()
        .find(|&layout| verify_digest(packet, layout, key))
        .map(|layout| (layout, stored_digest(packet, layout)))
}

/// Offset of the signature in a C2/S2: its last 32 bytes.
pub const RESPONSE_SIGNATURE_OFFSET: usize = HANDSHAKE_SIZE - DIGEST_LEN;

/// The signature of a C2/S2 answering a peer whose C1/S1 carried `peer_digest`:
/// HMAC-SHA256(key = HMAC-SHA256(`full_key`, `peer_digest`), data = first 1504 bytes).
///
/// A server uses [`FMS_KEY`] and C1's digest for S2; a client uses [`FP_KEY`] and S1's digest for
/// C2.
pub fn response_signature(
    packet: &[u8; HANDSHAKE_SIZE],
    full_key: &[u8],
    peer_digest: &[u8; DIGEST_LEN],
) -> [u8; DIGEST_LEN] {
    let signing_key = hmac_sha256(full_key, &[peer_digest]);
    hmac_sha256(&signing_key, &[&packet[..RESPONSE_SIGNATURE_OFFSET]])
}

/// Writes [`response_signature`] into the last 32 bytes of `packet`.
pub fn imprint_response(
    packet: &mut [u8; HANDSHAKE_SIZE],
    full_key: &[u8],
    peer_digest: &[u8; DIGEST_LEN],
) {
    let signature = response_signature(packet, full_key, peer_digest);
    packet[RESPONSE_SIGNATURE_OFFSET..].copy_from_slice(&signature);
}

/// Whether the last 32 bytes of `packet` are the [`response_signature`] for `peer_digest`.
pub fn verify_response(
    packet: &[u8; HANDSHAKE_SIZE],
    full_key: &[u8],
    peer_digest: &[u8; DIGEST_LEN],
) -> bool {
    ct_eq(
        &response_signature(packet, full_key, peer_digest),
        &packet[RESPONSE_SIGNATURE_OFFSET..],
    )
}

/// Comparison whose time does not depend on where the inputs differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet_with(fill: impl Fn(usize) -> u8) -> [u8; HANDSHAKE_SIZE] {
        let mut p = [0u8; HANDSHAKE_SIZE];
        for (i, b) in p.iter_mut().enumerate() {
            *b = fill(i);
        }
        p
    }

    #[test]
    fn keys_have_the_documented_bytes() {
        assert_eq!(FP_KEY.len(), 62);
        assert_eq!(FMS_KEY.len(), 68);
        assert_eq!(client_digest_key(), b"Genuine Adobe Flash Player 001");
        assert_eq!(server_digest_key(), b"Genuine Adobe Flash Media Server 001");
        let tail = hex::decode("F0EEC24A8068BEE82E00D0D1029E7E576EEC5D2D29806FAB93B8E636CFEB31AE")
            .unwrap();
        assert_eq!(&FP_KEY[30..], &tail[..]);
        assert_eq!(&FMS_KEY[36..], &tail[..]);
    }

    #[test]
    fn hmac_sha256_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mac = hmac_sha256(b"Jefe", &[b"what do ya ", b"want for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn digest_offsets_from_hand_computed_sums() {
        let mut p = [0u8; HANDSHAKE_SIZE];
        // All zero: digest right after the offset bytes, key at the block start.
        assert_eq!(digest_offset(&p, DigestLayout::DigestFirst), 12);
        assert_eq!(digest_offset(&p, DigestLayout::KeyFirst), 776);
        assert_eq!(key_offset(&p, DigestLayout::DigestFirst), 772);
        assert_eq!(key_offset(&p, DigestLayout::KeyFirst), 8);

        // DigestFirst offset bytes 8..12 = 01 02 03 04: sum 10 -> 12 + 10.
        p[8..12].copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(digest_offset(&p, DigestLayout::DigestFirst), 22);
        // All 0xFF: sum 1020, 1020 % 728 = 292.
        p[8..12].copy_from_slice(&[0xFF; 4]);
        assert_eq!(digest_offset(&p, DigestLayout::DigestFirst), 12 + 292);
        p[772..776].copy_from_slice(&[0xFF; 4]);
        assert_eq!(digest_offset(&p, DigestLayout::KeyFirst), 776 + 292);
        // Sum 727 is the largest position: digest ends at 776 + 727 + 32 = 1535.
        p[772..776].copy_from_slice(&[0xFF, 0xFF, 0xD9, 0x00]);
        assert_eq!(digest_offset(&p, DigestLayout::KeyFirst), 776 + 727);
        // Sum 728 wraps to 0.
        p[772..776].copy_from_slice(&[0xFF, 0xFF, 0xDA, 0x00]);
        assert_eq!(digest_offset(&p, DigestLayout::KeyFirst), 776);

        // Key block offset bytes are the block's last 4: 1532..1536 (DigestFirst), 768..772.
        p[1532..1536].copy_from_slice(&[0xFF; 4]);
        assert_eq!(key_offset(&p, DigestLayout::DigestFirst), 772 + 1020 % 632);
        p[768..772].copy_from_slice(&[0x00, 0x00, 0x01, 0x77]); // 1 + 0x77 = 120
        assert_eq!(key_offset(&p, DigestLayout::KeyFirst), 8 + 120);
    }

    #[test]
    fn hand_checked_c1_digest_vector() {
        // C1 = 1536 zero bytes: digest at 12, so the signed data is 1504 zero bytes.
        let p = [0u8; HANDSHAKE_SIZE];
        let zeros = [0u8; HANDSHAKE_SIZE - DIGEST_LEN];
        let expected = hmac_sha256(b"Genuine Adobe Flash Player 001", &[&zeros]);
        assert_eq!(
            packet_digest(&p, DigestLayout::DigestFirst, client_digest_key()),
            expected
        );
        // HMAC-SHA256("Genuine Adobe Flash Player 001", 1504 zero bytes), computed independently
        // (Python: hmac.new(key, bytes(1504), hashlib.sha256)).
        assert_eq!(
            hex::encode(expected),
            "48568ca3c957d19edd1d11d5a3dc2205f432d23464a3dcb849a22c91822a65d0"
        );
    }

    /// Vectors computed independently (Python `hmac`/`hashlib`) over the packet
    /// `p[i] = (7 i + 3) mod 256` with version bytes 9.0.124.2.
    #[test]
    fn independent_vectors_for_both_layouts_and_the_response() {
        let mut p = packet_with(|i| (i * 7 + 3) as u8);
        p[4..8].copy_from_slice(&[9, 0, 124, 2]);
        // 8..12 = 3b 42 49 50: sum 278 -> digest at 12 + 278 = 290.
        assert_eq!(digest_offset(&p, DigestLayout::DigestFirst), 290);
        assert_eq!(
            hex::encode(packet_digest(
                &p,
                DigestLayout::DigestFirst,
                client_digest_key()
            )),
            "f89f1f7af03c88aada0200583415ae45a083c4505de98ca5dd416f5e7d6b7374"
        );
        // 772..776 = 1f 26 2d 34: sum 166 -> digest at 776 + 166 = 942.
        assert_eq!(digest_offset(&p, DigestLayout::KeyFirst), 942);
        assert_eq!(
            hex::encode(packet_digest(
                &p,
                DigestLayout::KeyFirst,
                server_digest_key()
            )),
            "ddbf24f0deaa87e0f829a94f1c2754d6aefbae628f621358766b950def130aac"
        );
        // Signature over p[..1504] keyed by HMAC(FMS key, 00 01 .. 1f).
        let peer: [u8; DIGEST_LEN] = core::array::from_fn(|i| i as u8);
        assert_eq!(
            hex::encode(response_signature(&p, &FMS_KEY, &peer)),
            "68ace773d6e323d38ae7d096e7980d6fa9aa24e145b580ef19eb145deafc6c42"
        );
    }

    #[test]
    fn imprint_then_verify_in_both_layouts_and_only_there() {
        let base = packet_with(|i| (i * 7 + 3) as u8);
        for layout in [DigestLayout::DigestFirst, DigestLayout::KeyFirst] {
            let mut p = base;
            let digest = imprint_digest(&mut p, layout, client_digest_key());
            assert!(verify_digest(&p, layout, client_digest_key()));
            assert!(!verify_digest(&p, layout, server_digest_key()));
            assert_eq!(find_digest(&p, client_digest_key()), Some((layout, digest)));
            // One flipped bit anywhere outside the digest breaks it.
            let mut q = p;
            q[1000] ^= 0x01;
            if !(digest_offset(&p, layout)..digest_offset(&p, layout) + 32).contains(&1000) {
                assert!(!verify_digest(&q, layout, client_digest_key()));
            }
        }
        assert_eq!(find_digest(&base, client_digest_key()), None);
    }

    #[test]
    fn response_signature_round_trip() {
        let mut p = packet_with(|i| (i % 251) as u8);
        let peer = [0x5Au8; DIGEST_LEN];
        imprint_response(&mut p, &FMS_KEY, &peer);
        assert!(verify_response(&p, &FMS_KEY, &peer));
        assert!(!verify_response(&p, &FP_KEY, &peer));
        assert!(!verify_response(&p, &FMS_KEY, &[0u8; DIGEST_LEN]));
        let key = hmac_sha256(&FMS_KEY, &[&peer]);
        assert_eq!(&p[1504..], &hmac_sha256(&key, &[&p[..1504]])[..]);
    }
}
