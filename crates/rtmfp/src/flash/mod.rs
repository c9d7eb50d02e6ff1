//! The Flash crypto profile's handshake structures (RFC 7425 §4.3–4.6): endpoint discriminators,
//! certificates, session key components, HMAC / session sequence number negotiation and key
//! derivation.
//!
//! Every structure is an option list (RFC 7016 §2.1.3). Sluice **parses** them generically, in
//! any order (rtmfp-cpp orders them differently from Flash), and **emits** the Flash-identical
//! layouts that Mona-lineage peers match byte for byte (`RTMFP_NOTES.md` §5.4).

pub mod keys;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::codec::{options, put_option, put_vlu, Reader};
use crate::crypto::dh::GroupId;
use crate::error::{CodecError, HandshakeError};

/// EPD option: required hostname.
pub const EPD_HOSTNAME: u64 = 0x00;
/// EPD option: ancillary data (Flash puts the whole `rtmfp://` URI here).
pub const EPD_ANCILLARY: u64 = 0x0a;
/// EPD option: fingerprint (a peer ID, 32 bytes).
pub const EPD_FINGERPRINT: u64 = 0x0f;

/// Certificate option: hostname.
pub const CERT_HOSTNAME: u64 = 0x00;
/// Certificate option: accepts ancillary data.
pub const CERT_ACCEPTS_ANCILLARY: u64 = 0x0a;
/// Certificate / component option: extra randomness.
pub const OPT_RANDOMNESS: u64 = 0x0e;
/// Certificate option: supported ephemeral DH group.
pub const CERT_EPHEMERAL_GROUP: u64 = 0x15;
/// Certificate option: static DH public key; component option: DH group select.
pub const OPT_STATIC_KEY_OR_GROUP_SELECT: u64 = 0x1d;
/// Component option: ephemeral DH public key.
pub const COMP_EPHEMERAL_KEY: u64 = 0x0d;
/// Component option: HMAC negotiation.
pub const COMP_HMAC: u64 = 0x1a;
/// Component option: session sequence number negotiation.
pub const COMP_SSEQ: u64 = 0x1e;

/// Negotiation flag: will always send.
pub const NEG_SEND_ALWAYS: u8 = 0x04;
/// Negotiation flag: will send on request.
pub const NEG_SEND_ON_REQUEST: u8 = 0x02;
/// Negotiation flag: request (rtmfp-cpp treats it as "require").
pub const NEG_REQUEST: u8 = 0x01;

/// Options per structure, at most.
const MAX_OPTIONS: usize = 32;

/// An endpoint discriminator (RFC 7425 §4.4): whom an IHello is for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Epd {
    /// Required hostname.
    pub hostname: Option<Bytes>,
    /// Ancillary data (the URI, for client→server sessions).
    pub ancillary: Option<Bytes>,
    /// Required fingerprint (peer ID), for P2P or server pinning.
    pub fingerprint: Option<[u8; 32]>,
}

impl Epd {
    /// The EPD Flash sends to a server: one ancillary option holding the URI.
    pub fn for_uri(uri: &str) -> Epd {
        Epd {
            ancillary: Some(Bytes::copy_from_slice(uri.as_bytes())),
            ..Epd::default()
        }
    }

    /// The EPD for a peer ID (P2P, or a pinned server).
    pub fn for_peer(peer_id: [u8; 32]) -> Epd {
        Epd {
            fingerprint: Some(peer_id),
            ..Epd::default()
        }
    }

    /// Decode; unknown options are ignored.
    pub fn decode(buf: &[u8]) -> Result<Epd, CodecError> {
        let (opts, _) = options(buf, MAX_OPTIONS, "EPD")?;
        let mut epd = Epd::default();
        for o in opts {
            match o.kind {
                EPD_HOSTNAME => epd.hostname = Some(Bytes::copy_from_slice(o.value)),
                EPD_ANCILLARY => epd.ancillary = Some(Bytes::copy_from_slice(o.value)),
                EPD_FINGERPRINT => {
                    epd.fingerprint = Some(o.value.try_into().map_err(|_| CodecError::Invalid {
                        what: "EPD fingerprint",
                    })?)
                }
                _ => {}
            }
        }
        Ok(epd)
    }

    /// Encode (each present option once, in type order).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(h) = &self.hostname {
            put_option(&mut out, EPD_HOSTNAME, h);
        }
        if let Some(a) = &self.ancillary {
            put_option(&mut out, EPD_ANCILLARY, a);
        }
        if let Some(f) = &self.fingerprint {
            put_option(&mut out, EPD_FINGERPRINT, f);
        }
        out
    }
}

/// A parsed certificate (RFC 7425 §4.3). The canonical part is everything before the first
/// marker; the peer ID is its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The certificate as sent.
    pub raw: Bytes,
    /// Length of the canonical part.
    pub canonical_len: usize,
    /// Hostname option.
    pub hostname: Option<Bytes>,
    /// The "accepts ancillary data" option.
    pub accepts_ancillary: bool,
    /// Supported ephemeral DH groups.
    pub ephemeral_groups: Vec<GroupId>,
    /// Static DH public keys.
    pub static_keys: Vec<(GroupId, Bytes)>,
}

impl Certificate {
    /// Parse a certificate.
    pub fn decode(raw: Bytes) -> Result<Certificate, HandshakeError> {
        let (opts, rest) = options(&raw, MAX_OPTIONS, "certificate")?;
        let canonical_len = if rest.is_empty() {
            raw.len()
        } else {
            raw.len() - rest.len() - 1
        };
        let mut cert = Certificate {
            raw: raw.clone(),
            canonical_len,
            hostname: None,
            accepts_ancillary: false,
            ephemeral_groups: Vec::new(),
            static_keys: Vec::new(),
        };
        for o in opts {
            match o.kind {
                CERT_HOSTNAME => cert.hostname = Some(raw.slice_ref(o.value)),
                CERT_ACCEPTS_ANCILLARY => cert.accepts_ancillary = true,
                CERT_EPHEMERAL_GROUP => {
                    cert.ephemeral_groups
                        .push(GroupId(Reader::new(o.value).vlu("certificate group")?));
                }
                OPT_STATIC_KEY_OR_GROUP_SELECT => {
                    let mut r = Reader::new(o.value);
                    let g = GroupId(r.vlu("certificate static key group")?);
                    cert.static_keys.push((g, raw.slice_ref(r.rest())));
                }
                _ => {}
            }
        }
        if !cert.ephemeral_groups.is_empty() && !cert.static_keys.is_empty() {
            return Err(HandshakeError::Malformed {
                what: "certificate with both ephemeral groups and static keys",
            });
        }
        Ok(cert)
    }

    /// The canonical part.
    pub fn canonical(&self) -> &[u8] {
        &self.raw[..self.canonical_len]
    }

    /// The peer ID: SHA-256 of the canonical part.
    pub fn fingerprint(&self) -> [u8; 32] {
        fingerprint(self.canonical())
    }

    /// The static key for `group`.
    pub fn static_key(&self, group: GroupId) -> Option<&Bytes> {
        self.static_keys
            .iter()
            .find(|(g, _)| *g == group)
            .map(|(_, k)| k)
    }
}

/// SHA-256 of `bytes`.
pub fn fingerprint(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A server certificate in the Mona/Cumulus layout: `01 0a | 41 0e <64 random> | 02 15 g…`.
pub fn server_certificate(randomness: &[u8; 64], groups: &[GroupId]) -> Vec<u8> {
    let mut out = Vec::new();
    put_option(&mut out, CERT_ACCEPTS_ANCILLARY, &[]);
    put_option(&mut out, OPT_RANDOMNESS, randomness);
    for g in groups {
        let mut v = Vec::new();
        put_vlu(&mut v, g.0);
        put_option(&mut out, CERT_EPHEMERAL_GROUP, &v);
    }
    out
}

/// A Flash initiator certificate: one static key, `81 02 1d 02 <key>` for group 2.
pub fn static_key_certificate(group: GroupId, public: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    put_vlu(&mut v, group.0);
    v.extend_from_slice(public);
    let mut out = Vec::new();
    put_option(&mut out, OPT_STATIC_KEY_OR_GROUP_SELECT, &v);
    out
}

/// An rtmfp-cpp style initiator certificate: ephemeral groups, then randomness.
pub fn ephemeral_certificate(randomness: &[u8; 64], groups: &[GroupId]) -> Vec<u8> {
    let mut out = Vec::new();
    for g in groups {
        let mut v = Vec::new();
        put_vlu(&mut v, g.0);
        put_option(&mut out, CERT_EPHEMERAL_GROUP, &v);
    }
    put_option(&mut out, OPT_RANDOMNESS, randomness);
    out
}

/// One side's HMAC or SSEQ negotiation option: flags, and for HMAC the length it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Negotiation {
    /// `NEG_*` bits.
    pub flags: u8,
    /// HMAC length this side sends (0 for SSEQ or when it will not send).
    pub len: usize,
}

/// A parsed session key component (SKIC or SKRC, RFC 7425 §4.5).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Component {
    /// Ephemeral public key.
    pub ephemeral_key: Option<(GroupId, Bytes)>,
    /// Group select (the far certificate has a static key in this group).
    pub group_select: Option<GroupId>,
    /// HMAC negotiation (absent = flags 0).
    pub hmac: Negotiation,
    /// SSEQ negotiation (absent = flags 0).
    pub sseq: Negotiation,
}

impl Component {
    /// Parse a component.
    pub fn decode(buf: &Bytes) -> Result<Component, HandshakeError> {
        let (opts, _) = options(buf, MAX_OPTIONS, "key component")?;
        let mut c = Component::default();
        for o in opts {
            let mut r = Reader::new(o.value);
            match o.kind {
                COMP_EPHEMERAL_KEY => {
                    let g = GroupId(r.vlu("component key group")?);
                    c.ephemeral_key = Some((g, buf.slice_ref(r.rest())));
                }
                OPT_STATIC_KEY_OR_GROUP_SELECT => {
                    c.group_select = Some(GroupId(r.vlu("component group select")?));
                }
                COMP_HMAC => {
                    let flags = r.u8("HMAC negotiation flags")?;
                    let len = r.vlu_len("HMAC negotiation length")?;
                    c.hmac = Negotiation { flags, len };
                }
                COMP_SSEQ => {
                    c.sseq = Negotiation {
                        flags: r.u8("SSEQ negotiation flags")?,
                        len: 0,
                    };
                }
                _ => {}
            }
        }
        Ok(c)
    }
}

/// The Flash SKIC for a far certificate with a static key... and the Sluice one for any far
/// certificate: `[02 1d g | 0d g <key>] | 41 0e <64 random> | 03 1a f l | 02 1e f`.
/// `ephemeral_key` is `None` for the Flash static style (the key is in our certificate).
pub fn initiator_component(
    group: GroupId,
    ephemeral_key: Option<&[u8]>,
    randomness: &[u8; 64],
    hmac: Negotiation,
    sseq: Negotiation,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut v = Vec::new();
    put_vlu(&mut v, group.0);
    match ephemeral_key {
        Some(k) => {
            v.extend_from_slice(k);
            put_option(&mut out, COMP_EPHEMERAL_KEY, &v);
        }
        None => put_option(&mut out, OPT_STATIC_KEY_OR_GROUP_SELECT, &v),
    }
    put_option(&mut out, OPT_RANDOMNESS, randomness);
    put_negotiation(&mut out, hmac, sseq);
    out
}

/// The Mona-layout SKRC: `03 1a f l | 02 1e f | 0d g <key>`. librtmfp matches the prefix
/// `03 1a 00 00 02 1e 00` literally.
pub fn responder_component(
    group: GroupId,
    public: &[u8],
    hmac: Negotiation,
    sseq: Negotiation,
) -> Vec<u8> {
    let mut out = Vec::new();
    put_negotiation(&mut out, hmac, sseq);
    let mut v = Vec::new();
    put_vlu(&mut v, group.0);
    v.extend_from_slice(public);
    put_option(&mut out, COMP_EPHEMERAL_KEY, &v);
    out
}

fn put_negotiation(out: &mut Vec<u8>, hmac: Negotiation, sseq: Negotiation) {
    let mut v = vec![hmac.flags];
    put_vlu(&mut v, hmac.len as u64);
    put_option(out, COMP_HMAC, &v);
    put_option(out, COMP_SSEQ, &[sseq.flags]);
}

/// What a responder answers to an initiator's offer: it mirrors it (`RTMFP_NOTES.md` §5.5).
/// "Send on request" only (Flash, librtmfp) → all zeros; a request or "send always"
/// (rtmfp-cpp's default 0x07) → 0x07 with the same HMAC length.
pub fn mirror(offer: Negotiation, is_hmac: bool) -> Negotiation {
    if offer.flags & (NEG_REQUEST | NEG_SEND_ALWAYS) != 0 {
        let len = if is_hmac {
            offer
                .len
                .clamp(crate::crypto::MIN_HMAC_LEN, crate::crypto::MAX_HMAC_LEN)
        } else {
            0
        };
        Negotiation {
            flags: NEG_SEND_ALWAYS | NEG_SEND_ON_REQUEST | NEG_REQUEST,
            len,
        }
    } else {
        Negotiation::default()
    }
}

/// The outcome of one option's negotiation: the length sent and the length received (`None` =
/// not used in that direction). Errors if either side requires what the other will not send.
pub fn resolve(
    near: Negotiation,
    far: Negotiation,
    what: &'static str,
) -> Result<(Option<usize>, Option<usize>), HandshakeError> {
    let sends = |a: Negotiation, b: Negotiation| {
        a.flags & NEG_SEND_ALWAYS != 0
            || (a.flags & NEG_SEND_ON_REQUEST != 0 && b.flags & NEG_REQUEST != 0)
    };
    let send = sends(near, far);
    let recv = sends(far, near);
    if (near.flags & NEG_REQUEST != 0 && !recv) || (far.flags & NEG_REQUEST != 0 && !send) {
        return Err(HandshakeError::Negotiation { what });
    }
    Ok((send.then_some(near.len), recv.then_some(far.len)))
}

#[cfg(test)]
mod tests;
