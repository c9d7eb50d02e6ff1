//! The RTMP handshake (RTMP 1.0 §5.2), sans-IO, for both ends of a connection, in its two forms:
//!
//! - **simple** (the form the specification documents, §5.2.2–§5.2.4): C0/S0 carry the version
//!   byte 3; C1/S1 are time (4) + zero (4) + 1528 random bytes; C2/S2 echo the peer's C1/S1 with
//!   the second time field set to when it was read;
//! - **digest** ("complex", used by Flash Player 9+, Flash Media Server, librtmp and ffmpeg; see
//!   `PROTOCOL_NOTES.md`, "Complex (digest) handshake"): C1/S1 carry a non-zero version and an
//!   HMAC-SHA256 digest in one of two [`DigestLayout`]s; C2/S2 end with a signature keyed by the
//!   peer's digest. Flash Player needs it to play H.264/AAC; the primitives live in [`digest`].
//!
//! Byte flow (§5.2.1): the client sends C0+C1; the server answers S0+S1+S2 as soon as C0+C1 are
//! in (S1 must follow C1's layout, so it waits for C1; ffmpeg and librtmp accept the three at
//! once); the client sends C2 once S1 is in and is done after S2; the server is done after C2.
//!
//! # Driving it
//!
//! No sockets, no clock: randomness is injected (`&mut impl rand::RngCore`), and the caller
//! enforces the handshake time limit. Call order for either end:
//!
//! 1. create it ([`ServerHandshake::new`] / [`ClientHandshake::new`]);
//! 2. write whatever [`poll_transmit`](ServerHandshake::poll_transmit) returns (the client has
//!    C0+C1 ready at once);
//! 3. append received bytes to a `BytesMut` and call `handle_input`; it consumes exactly the
//!    handshake's bytes from the front (keeping partial packets internally) and leaves anything
//!    after them — the first chunks, which a client may send right behind C2 — in the buffer;
//! 4. repeat 2–3 until `is_complete()`; then hand the rest of the buffer to the chunk layer.
//!
//! # Limits
//!
//! Every packet has a fixed size (1 + 1536 + 1536 bytes each way) and no field is a length, so
//! the peer controls no allocation: each end holds at most one 1536-byte packet being read, plus
//! its own packets. Errors are final: a failed handshake returns the same error on every later
//! call; the connection should be closed (there is nothing to send back).
//!
//! # What is verified
//!
//! Following what deployed peers do (and the notes): a server never rejects a C2 (ffmpeg's does
//! not always verify) but records whether it did ([`ServerHandshake::c2_verified`]); a client
//! rejects a complex-form S1/S2 whose digest or signature is wrong only when configured
//! [`strict`](ClientHandshakeConfig::strict), otherwise it falls back to echoing S1 and records it.
//!
//! # RTMPE (C0 = 6, 8, 9)
//!
//! An RTMPE handshake is a digest handshake that also exchanges Diffie-Hellman keys in the
//! C1/S1 key blocks ([`dh`]) and, for types 8 and 9, encrypts the C2/S2 signatures
//! ([`rtmpe`]). A server accepts it on the same port as plain RTMP (unless configured not to,
//! [`ServerHandshakeConfig::rtmpe`]); a client asks for it with [`ClientHandshakeMode::Rtmpe`].
//! C0..C2 and S0..S2 are exchanged in the clear. Once `is_complete()`, `take_cipher()` hands
//! over the [`RtmpeCipher`]: every later byte, both ways, goes through it — including any bytes
//! already left in the input buffer behind C2/S2. RTMPE is obfuscation, not security: prefer
//! RTMPS.
//!
//! An RTMPE C1 must carry a verifiable digest (otherwise its key cannot be located) and a DH
//! public key in `[2, p − 2]`; S1 likewise for a client. Both are checked and are errors.

pub mod dh;
pub mod digest;
pub mod rc4;
pub mod rtmpe;
pub mod xtea;

mod client;
mod server;

#[cfg(test)]
mod rtmpe_tests;
#[cfg(test)]
mod tests;

use bytes::{Buf, BytesMut};

pub use client::{ClientHandshake, ClientHandshakeConfig, ClientHandshakeMode};
pub use rtmpe::{RtmpeCipher, RtmpeType};
pub use server::{ServerHandshake, ServerHandshakeConfig, MAX_KEY_PAIR_DRAWS};

/// The only plain RTMP version (C0/S0 byte), RTMP 1.0 §5.2.2.
pub const RTMP_VERSION: u8 = 3;

/// Size of C1, S1, C2 and S2 (RTMP 1.0 §5.2.3, §5.2.4).
pub const HANDSHAKE_SIZE: usize = 1536;

/// C0 values that request RTMPE (encrypted RTMP): 6 (plain DH + RC4), 8 (XTEA-signed), 9
/// (Blowfish-signed). See [`RtmpeType`].
pub const RTMPE_VERSIONS: [u8; 3] = [0x06, 0x08, 0x09];

/// Version bytes (C1/S1 bytes 4..8) this crate's client sends in the digest form: Flash Player
/// 9.0.124.2, what ffmpeg sends.
pub const CLIENT_VERSION: [u8; 4] = [9, 0, 124, 2];

/// Version bytes (S1 bytes 4..8) this crate's server sends in the digest form: Flash Media
/// Server 4.5.0.1. Non-zero, so ffmpeg and Flash validate the digest.
pub const SERVER_VERSION: [u8; 4] = [4, 5, 0, 1];

/// Why a handshake failed. Every variant is a peer violation; the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// C0/S0 is neither RTMP version 3 nor an RTMPE variant.
    #[error("handshake version byte {0:#04x} is not RTMP version 3 (RTMP 1.0 §5.2.2)")]
    UnsupportedVersion(u8),
    /// C0/S0 requests RTMPE (6, 8 or 9) where this endpoint does not do it: a server configured
    /// without RTMPE, or an S0 answering a client that did not ask for RTMPE.
    #[error(
        "handshake version byte {0:#04x} requests RTMPE encryption, which is not enabled here"
    )]
    EncryptedNotSupported(u8),
    /// A client asked for RTMPE but S0 is not an RTMPE version byte (6, 8 or 9).
    #[error("RTMPE was requested but the server answered with version byte {0:#04x}")]
    RtmpeRefused(u8),
    /// An RTMPE C1 whose digest verifies in neither layout, so its Diffie-Hellman key cannot be
    /// located (RTMPE rides on the digest handshake).
    #[error("RTMPE C1 carries no verifiable digest, so its Diffie-Hellman key cannot be located")]
    RtmpeWithoutDigest,
    /// The peer's Diffie-Hellman public key is outside `[2, p - 2]` (RFC 2631 §2.1.5).
    #[error("RTMPE Diffie-Hellman public key is outside [2, p-2]")]
    InvalidDhPublicKey,
    /// A strict client got an S1 with non-zero version bytes (the digest form) whose digest
    /// verifies in neither layout with the Flash Media Server key.
    #[error(
        "S1 has version bytes {server_version:02x?} (digest form) but its digest verifies in \
         neither layout"
    )]
    DigestMismatch {
        /// S1 bytes 4..8 as received.
        server_version: [u8; 4],
    },
    /// A strict client completed a digest handshake but S2 does not end with
    /// HMAC(HMAC(server key, C1 digest), S2[..1504]).
    #[error("S2 signature is not keyed by C1's digest (digest handshake)")]
    InvalidS2,
}

/// Which handshake form was negotiated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandshakeKind {
    /// The specification's form: echoes, no digests.
    Simple,
    /// The digest form, with the layout the client's C1 used (the server answers in kind).
    Digest(DigestLayout),
    /// RTMPE: the digest form with a Diffie-Hellman exchange; everything after C2/S2 is
    /// RC4-encrypted.
    Rtmpe {
        /// The type S0 announced (the one whose signatures are in use).
        rtmpe_type: RtmpeType,
        /// The digest layout: the client's C1 layout on the server, S1's on the client.
        layout: DigestLayout,
    },
}

/// Where the digest block sits in a digest-form C1/S1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestLayout {
    /// "Schema 1": digest block at 8..772, key block at 772..1536. librtmp's and ffmpeg's default
    /// for plain RTMP.
    DigestFirst,
    /// "Schema 0": key block at 8..772, digest block at 772..1536. Used by ffmpeg for RTMPE.
    KeyFirst,
}

/// What a C0/S0 version byte asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    /// 3: plain RTMP.
    Plain,
    /// 6, 8 or 9: RTMPE.
    Rtmpe(RtmpeType),
}

/// Parses a C0/S0 version byte; anything but 3, 6, 8 or 9 is an error.
fn parse_version(version: u8) -> Result<Version, HandshakeError> {
    match version {
        RTMP_VERSION => Ok(Version::Plain),
        v => RtmpeType::from_version_byte(v)
            .map(Version::Rtmpe)
            .ok_or(HandshakeError::UnsupportedVersion(v)),
    }
}

/// Takes the one-byte C0/S0 from the front of `input`, if any.
fn take_version_byte(input: &mut BytesMut) -> Option<u8> {
    input.has_remaining().then(|| input.get_u8())
}

/// Collects one 1536-byte packet across `handle_input` calls, taking only what it needs.
#[derive(Debug)]
struct PacketReader {
    buf: Box<[u8; HANDSHAKE_SIZE]>,
    len: usize,
}

impl PacketReader {
    fn new() -> Self {
        PacketReader {
            buf: Box::new([0u8; HANDSHAKE_SIZE]),
            len: 0,
        }
    }

    /// Moves up to the missing number of bytes from the front of `input`; returns the packet
    /// once it is whole, and starts a new one on the next call.
    fn fill(&mut self, input: &mut BytesMut) -> Option<&[u8; HANDSHAKE_SIZE]> {
        if self.len == HANDSHAKE_SIZE {
            self.len = 0;
        }
        let n = (HANDSHAKE_SIZE - self.len).min(input.len());
        self.buf[self.len..self.len + n].copy_from_slice(&input[..n]);
        input.advance(n);
        self.len += n;
        (self.len == HANDSHAKE_SIZE).then_some(&*self.buf)
    }
}

/// The 4 version bytes (4..8) of a C1/S1.
fn version_bytes(packet: &[u8; HANDSHAKE_SIZE]) -> [u8; 4] {
    let mut v = [0u8; 4];
    v.copy_from_slice(&packet[4..8]);
    v
}

/// A simple-form C2/S2 answering `peer` (RTMP 1.0 §5.2.4): the peer's time, then the time we
/// read it, then the peer's random bytes.
///
/// Without a clock, our epoch starts when the handshake does and the packet is read at time 0
/// of it (our own C1/S1 also carries time 0).
fn simple_echo(peer: &[u8; HANDSHAKE_SIZE]) -> [u8; HANDSHAKE_SIZE] {
    let mut out = *peer;
    out[4..8].copy_from_slice(&[0; 4]);
    out
}

/// Whether `echo` is a simple-form answer to `ours`: same time and random bytes; the second
/// time field is free.
fn is_simple_echo(echo: &[u8; HANDSHAKE_SIZE], ours: &[u8; HANDSHAKE_SIZE]) -> bool {
    echo[..4] == ours[..4] && echo[8..] == ours[8..]
}

/// A packet of random bytes from `rng`.
fn random_packet(rng: &mut impl rand::RngCore) -> Box<[u8; HANDSHAKE_SIZE]> {
    let mut p = Box::new([0u8; HANDSHAKE_SIZE]);
    rng.fill_bytes(&mut p[..]);
    p
}
