//! The packet layer of the Flash crypto profile (RFC 7425 §4.1–4.2, §4.6.5–4.6.6) and the
//! packet multiplex of RFC 7016 §2.2.1–2.2.2.
//!
//! ```text
//! datagram  = [scrambled session ID u32][AES-128-CBC(plaintext), zero IV][HMAC?]
//! plaintext = [session sequence number VLU?][checksum u16?][packet][0xff padding to 16n]
//! ```
//!
//! * The scrambled session ID is `session ID ⊕ W1 ⊕ W2`, where W1 and W2 are the first two
//!   32-bit words of the encrypted part (RFC 7016 §2.2.1).
//! * Every packet uses a zero IV; the plaintext is padded with 0xff, never with a cipher padding
//!   mode.
//! * Without HMAC, a 16-bit checksum covers everything after it, padding included. It is the
//!   ones'-complement Internet checksum with one quirk shared by Flash, Cumulus and rtmfp-cpp: an
//!   odd final byte is added as the **low** byte (RFC 1071 would shift it up). See [`checksum`].
//! * With HMAC, an HMAC-SHA256 over the encrypted part, truncated to the negotiated length, is
//!   appended and the checksum is dropped. Each direction negotiates separately.
//! * With session sequence numbers, a VLU counter from 0 starts the plaintext; the receiver keeps
//!   a replay window.
//!
//! Startup packets use [`DEFAULT_KEY`] both ways with a checksum and neither option.

pub mod dh;
pub mod primes;

use aes::Aes128;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::codec::{put_vlu, Reader};
use crate::error::PacketError;

/// The default session key, `"Adobe Systems 02"` (RFC 7425 §4.1).
pub const DEFAULT_KEY: [u8; 16] = *b"Adobe Systems 02";

/// The cipher block size.
pub const BLOCK: usize = 16;

/// Longest HMAC accepted in negotiation (RFC 7425 §4.6.5: 4 to 32 bytes).
pub const MAX_HMAC_LEN: usize = 32;
/// Shortest HMAC accepted in negotiation.
pub const MIN_HMAC_LEN: usize = 4;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `msg` under `key`.
pub fn hmac_sha256(key: &[u8], msg: &[&[u8]]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for m in msg {
        mac.update(m);
    }
    mac.finalize().into_bytes().into()
}

/// The RTMFP checksum: the 16-bit ones'-complement sum of big-endian words, complemented. An odd
/// final byte is added unshifted, as the low byte (the Flash/Cumulus/rtmfp-cpp quirk).
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last);
    }
    while sum > 0xffff {
        sum = (sum >> 16) + (sum & 0xffff);
    }
    !(sum as u16)
}

/// Unscramble the session ID of a datagram (RFC 7016 §2.2.1); `None` if it is shorter than
/// 12 bytes.
pub fn session_id(datagram: &[u8]) -> Option<u32> {
    if datagram.len() < 12 {
        return None;
    }
    let w = |i: usize| u32::from_be_bytes(datagram[i..i + 4].try_into().expect("4 bytes"));
    Some(w(0) ^ w(4) ^ w(8))
}

/// One direction's HMAC: key and truncated length.
#[derive(Clone)]
pub struct HmacKey {
    key: [u8; 32],
    len: usize,
}

impl HmacKey {
    /// An HMAC key; `len` is clamped to 4..=32.
    pub fn new(key: [u8; 32], len: usize) -> Self {
        HmacKey {
            key,
            len: len.clamp(MIN_HMAC_LEN, MAX_HMAC_LEN),
        }
    }
}

impl std::fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmacKey").field("len", &self.len).finish()
    }
}

/// The replay window for received session sequence numbers: the highest seen and a bitmap of
/// the 64 below it.
#[derive(Debug, Clone, Default)]
pub struct ReplayWindow {
    highest: Option<u64>,
    seen: u64,
}

impl ReplayWindow {
    /// Whether `n` is new; does not record it.
    pub fn check(&self, n: u64) -> bool {
        match self.highest {
            None => true,
            Some(h) if n > h => true,
            Some(h) => {
                let back = h - n;
                back != 0 && back <= 64 && self.seen & (1 << (back - 1)) == 0
            }
        }
    }

    /// Record `n` (after the packet authenticated).
    pub fn record(&mut self, n: u64) {
        match self.highest {
            None => self.highest = Some(n),
            Some(h) if n > h => {
                let shift = n - h;
                self.seen = match shift {
                    1..=63 => (self.seen << shift) | (1 << (shift - 1)),
                    64 => 1 << 63,
                    _ => 0,
                };
                self.highest = Some(n);
            }
            Some(h) => {
                let back = h - n;
                if (1..=64).contains(&back) {
                    self.seen |= 1 << (back - 1);
                }
            }
        }
    }
}

/// The keys and options of one session's packet layer, both directions.
#[derive(Clone)]
pub struct PacketCrypto {
    encrypt: Aes128,
    decrypt: Aes128,
    send_hmac: Option<HmacKey>,
    recv_hmac: Option<HmacKey>,
    send_sseq: Option<u64>,
    recv_sseq: Option<ReplayWindow>,
}

impl std::fmt::Debug for PacketCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketCrypto")
            .field("send_hmac", &self.send_hmac)
            .field("recv_hmac", &self.recv_hmac)
            .field("send_sseq", &self.send_sseq)
            .finish_non_exhaustive()
    }
}

impl PacketCrypto {
    /// Startup crypto: the default key both ways, checksums, no sequence numbers.
    pub fn startup() -> Self {
        Self::new(DEFAULT_KEY, DEFAULT_KEY)
    }

    /// Session crypto with checksums and no sequence numbers; add options with
    /// [`with_hmac`](Self::with_hmac) and [`with_sseq`](Self::with_sseq).
    pub fn new(encrypt: [u8; 16], decrypt: [u8; 16]) -> Self {
        PacketCrypto {
            encrypt: Aes128::new(&encrypt.into()),
            decrypt: Aes128::new(&decrypt.into()),
            send_hmac: None,
            recv_hmac: None,
            send_sseq: None,
            recv_sseq: None,
        }
    }

    /// Use HMAC on sent and/or received packets.
    pub fn with_hmac(mut self, send: Option<HmacKey>, recv: Option<HmacKey>) -> Self {
        self.send_hmac = send;
        self.recv_hmac = recv;
        self
    }

    /// Use session sequence numbers on sent and/or received packets.
    pub fn with_sseq(mut self, send: bool, recv: bool) -> Self {
        self.send_sseq = send.then_some(0);
        self.recv_sseq = recv.then(ReplayWindow::default);
        self
    }

    /// The framing overhead for a packet of `len` plaintext bytes: the datagram length.
    pub fn datagram_len(&self, len: usize) -> usize {
        let mut plain = len;
        if let Some(n) = self.send_sseq {
            plain += crate::codec::vlu_len(n);
        }
        if self.send_hmac.is_none() {
            plain += 2;
        }
        4 + plain.div_ceil(BLOCK) * BLOCK + self.send_hmac.as_ref().map_or(0, |h| h.len)
    }

    /// Frame `packet` (flags onwards) for the far end's receive session ID `far_session_id`.
    pub fn seal(&mut self, far_session_id: u32, packet: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.datagram_len(packet.len()));
        out.extend_from_slice(&[0; 4]);
        if let Some(n) = self.send_sseq.as_mut() {
            put_vlu(&mut out, *n);
            *n += 1;
        }
        let checksum_at = out.len();
        if self.send_hmac.is_none() {
            out.extend_from_slice(&[0, 0]);
        }
        out.extend_from_slice(packet);
        let pad = (BLOCK - (out.len() - 4) % BLOCK) % BLOCK;
        out.resize(out.len() + pad, 0xff);
        if self.send_hmac.is_none() {
            let sum = checksum(&out[checksum_at + 2..]);
            out[checksum_at..checksum_at + 2].copy_from_slice(&sum.to_be_bytes());
        }
        let mut enc =
            cbc::Encryptor::<Aes128>::inner_iv_init(self.encrypt.clone(), &[0; 16].into());
        for block in out[4..].chunks_exact_mut(BLOCK) {
            enc.encrypt_block_mut(block.into());
        }
        let ssid = far_session_id
            ^ u32::from_be_bytes(out[4..8].try_into().expect("4 bytes"))
            ^ u32::from_be_bytes(out[8..12].try_into().expect("4 bytes"));
        out[..4].copy_from_slice(&ssid.to_be_bytes());
        if let Some(h) = &self.send_hmac {
            let mac = hmac_sha256(&h.key, &[&out[4..]]);
            out.extend_from_slice(&mac[..h.len]);
        }
        out
    }

    /// Check and decrypt a datagram; returns the packet (flags onwards, padding included).
    pub fn open(&mut self, datagram: &[u8]) -> Result<Vec<u8>, PacketError> {
        let hmac_len = self.recv_hmac.as_ref().map_or(0, |h| h.len);
        if datagram.len() < 4 + BLOCK + hmac_len {
            return Err(PacketError::TooShort {
                len: datagram.len(),
            });
        }
        let (body, mac) = datagram[4..].split_at(datagram.len() - 4 - hmac_len);
        if body.len() % BLOCK != 0 {
            return Err(PacketError::NotBlockAligned { len: body.len() });
        }
        if let Some(h) = &self.recv_hmac {
            let expected = hmac_sha256(&h.key, &[body]);
            // Constant time is not needed for a MAC we would only leak one packet's worth of.
            if expected[..h.len] != *mac {
                return Err(PacketError::BadHmac);
            }
        }
        let mut plain = body.to_vec();
        let mut dec =
            cbc::Decryptor::<Aes128>::inner_iv_init(self.decrypt.clone(), &[0; 16].into());
        for block in plain.chunks_exact_mut(BLOCK) {
            dec.decrypt_block_mut(block.into());
        }
        let mut r = Reader::new(&plain);
        let sseq = match &self.recv_sseq {
            Some(w) => {
                let n = r.vlu("session sequence number")?;
                if !w.check(n) {
                    return Err(PacketError::Replay { sseq: n });
                }
                Some(n)
            }
            None => None,
        };
        if self.recv_hmac.is_none() {
            let sum = r.u16("checksum")?;
            if checksum(r.clone().rest()) != sum {
                return Err(PacketError::BadChecksum);
            }
        }
        let start = plain.len() - r.remaining();
        if let (Some(n), Some(w)) = (sseq, self.recv_sseq.as_mut()) {
            w.record(n);
        }
        plain.drain(..start);
        Ok(plain)
    }
}

#[cfg(test)]
mod tests;
