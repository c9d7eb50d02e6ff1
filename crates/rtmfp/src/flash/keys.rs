//! Session key derivation (RFC 7425 §4.6.3–4.6.5), as Flash, Cumulus, MonaServer2 and rtmfp-cpp
//! compute it. With `HMAC(k, m)` = HMAC-SHA256 under key `k`, `S` the DH shared secret and the
//! two complete key components as nonces:
//!
//! ```text
//! encrypt digest (near → far) = HMAC(S, HMAC(far component, near component))
//! decrypt digest (far → near) = HMAC(S, HMAC(near component, far component))
//! AES keys                    = first 16 bytes of each digest
//! HMAC send / receive keys    = HMAC(S, encrypt digest) / HMAC(S, decrypt digest)
//! near / far nonce            = HMAC(S, near component) / HMAC(S, far component)
//! ```

use crate::crypto::{hmac_sha256, HmacKey, PacketCrypto};

/// Everything derived from one key agreement, from one side's point of view.
#[derive(Clone)]
pub struct SessionKeys {
    /// AES key for packets this side sends.
    pub encrypt: [u8; 16],
    /// AES key for packets this side receives.
    pub decrypt: [u8; 16],
    /// HMAC key for packets this side sends.
    pub hmac_send: [u8; 32],
    /// HMAC key for packets this side receives.
    pub hmac_recv: [u8; 32],
    /// NetConnection.nearNonce.
    pub near_nonce: [u8; 32],
    /// NetConnection.farNonce.
    pub far_nonce: [u8; 32],
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeys").finish_non_exhaustive()
    }
}

impl SessionKeys {
    /// Derive the keys from the shared secret and the near and far components.
    pub fn derive(shared: &[u8], near: &[u8], far: &[u8]) -> SessionKeys {
        let enc = hmac_sha256(shared, &[&hmac_sha256(far, &[near])]);
        let dec = hmac_sha256(shared, &[&hmac_sha256(near, &[far])]);
        SessionKeys {
            encrypt: enc[..16].try_into().expect("16 bytes"),
            decrypt: dec[..16].try_into().expect("16 bytes"),
            hmac_send: hmac_sha256(shared, &[&enc]),
            hmac_recv: hmac_sha256(shared, &[&dec]),
            near_nonce: hmac_sha256(shared, &[near]),
            far_nonce: hmac_sha256(shared, &[far]),
        }
    }

    /// The packet layer for these keys with the negotiated options (`None` = off; `Some(len)` =
    /// HMAC of that length).
    pub fn packet_crypto(
        &self,
        hmac_send: Option<usize>,
        hmac_recv: Option<usize>,
        sseq_send: bool,
        sseq_recv: bool,
    ) -> PacketCrypto {
        PacketCrypto::new(self.encrypt, self.decrypt)
            .with_hmac(
                hmac_send.map(|l| HmacKey::new(self.hmac_send, l)),
                hmac_recv.map(|l| HmacKey::new(self.hmac_recv, l)),
            )
            .with_sseq(sseq_send, sseq_recv)
    }
}
