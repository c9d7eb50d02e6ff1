//! Vectors for the Flash profile structures and key derivation.

use bytes::Bytes;

use super::keys::SessionKeys;
use super::*;
use crate::crypto::dh::KeyPair;

#[test]
fn epd_forms() {
    let epd = Epd::for_uri("rtmfp://xugar.net:1985/");
    let bytes = epd.encode();
    assert_eq!(bytes[..2], [0x18, 0x0a]);
    assert_eq!(Epd::decode(&bytes).unwrap(), epd);
    let p2p = Epd::for_peer([0xab; 32]);
    let bytes = p2p.encode();
    assert_eq!(bytes.len(), 0x22);
    assert_eq!(bytes[..2], [0x21, 0x0f]);
    assert_eq!(Epd::decode(&bytes).unwrap(), p2p);
    assert!(
        Epd::decode(&[0x03, 0x0f, 1, 2]).is_err(),
        "short fingerprint"
    );
}

#[test]
fn mona_server_certificate_layout() {
    let cert = server_certificate(&[0x11; 64], &[GroupId(2), GroupId(14)]);
    assert_eq!(cert.len(), 2 + 66 + 3 + 3);
    assert_eq!(cert[..4], [0x01, 0x0a, 0x41, 0x0e]);
    assert_eq!(cert[68..], [0x02, 0x15, 0x02, 0x02, 0x15, 0x0e]);
    let c = Certificate::decode(Bytes::from(cert.clone())).unwrap();
    assert!(c.accepts_ancillary);
    assert_eq!(c.ephemeral_groups, vec![GroupId(2), GroupId(14)]);
    assert_eq!(c.canonical(), &cert[..]);
    assert_eq!(c.fingerprint(), fingerprint(&cert));
}

#[test]
fn flash_initiator_certificate_and_marker() {
    let cert = static_key_certificate(GroupId(2), &[0x42; 128]);
    assert_eq!(cert[..4], [0x81, 0x02, 0x1d, 0x02]);
    let mut with_tail = cert.clone();
    with_tail.extend_from_slice(&[0x00, 0x02, 0x0e, 0x99]);
    let c = Certificate::decode(Bytes::from(with_tail)).unwrap();
    assert_eq!(
        c.canonical(),
        &cert[..],
        "the marker ends the canonical part"
    );
    assert_eq!(c.static_key(GroupId(2)).unwrap().len(), 128);
    // Static keys and ephemeral groups together are refused.
    let mut both = cert;
    both.extend_from_slice(&[0x02, 0x15, 0x02]);
    assert!(Certificate::decode(Bytes::from(both)).is_err());
}

#[test]
fn flash_skic_and_mona_skrc_layouts() {
    let flash_offer = Negotiation {
        flags: NEG_SEND_ON_REQUEST,
        len: 10,
    };
    let sseq_offer = Negotiation {
        flags: NEG_SEND_ON_REQUEST,
        len: 0,
    };
    let skic = initiator_component(GroupId(2), None, &[0x33; 64], flash_offer, sseq_offer);
    assert_eq!(hex::encode(&skic[..5]), "021d02410e");
    assert_eq!(hex::encode(&skic[69..]), "031a020a021e02");
    let c = Component::decode(&Bytes::from(skic)).unwrap();
    assert_eq!(c.group_select, Some(GroupId(2)));
    assert_eq!(c.hmac, flash_offer);
    // Mirroring a Flash offer gives zeros: the exact SKRC prefix librtmfp requires.
    let skrc = responder_component(
        GroupId(2),
        &[0x44; 128],
        mirror(c.hmac, true),
        mirror(c.sseq, false),
    );
    assert_eq!(
        hex::encode(&skrc[..11]),
        "031a0000021e008102".to_string() + "0d02"
    );
    assert_eq!(skrc.len(), 139);
    // rtmfp-cpp's default 0x07 offer is mirrored as 0x07.
    let cpp = Negotiation {
        flags: 0x07,
        len: 16,
    };
    assert_eq!(
        mirror(cpp, true),
        Negotiation {
            flags: 0x07,
            len: 16
        }
    );
}

#[test]
fn negotiation_outcomes() {
    let n = |flags, len| Negotiation { flags, len };
    // Flash ↔ mirrored zeros: nothing either way.
    assert_eq!(resolve(n(0x02, 10), n(0, 0), "HMAC"), Ok((None, None)));
    // rtmfp-cpp 0x07 ↔ mirrored 0x07: both ways.
    assert_eq!(
        resolve(n(7, 16), n(7, 16), "HMAC"),
        Ok((Some(16), Some(16)))
    );
    // Send on request answered by a request: we send, they don't.
    assert_eq!(
        resolve(n(0x02, 10), n(0x01, 0), "HMAC"),
        Ok((Some(10), None))
    );
    // We require and they will not send.
    assert!(resolve(n(0x01, 0), n(0x00, 0), "HMAC").is_err());
}

#[test]
fn key_derivation_with_fixed_keys_and_nonces() {
    let g = GroupId::MODP_1024;
    let a = KeyPair::from_private(g, &[0x5a; 128]).unwrap();
    let b = KeyPair::from_private(g, &[0x3c; 127]).unwrap();
    let s_a = a.shared_secret(b.public()).unwrap();
    let s_b = b.shared_secret(a.public()).unwrap();
    assert_eq!(s_a, s_b);
    let skic = b"initiator component";
    let skrc = b"responder component";
    let i = SessionKeys::derive(&s_a, skic, skrc);
    let r = SessionKeys::derive(&s_b, skrc, skic);
    assert_eq!(i.encrypt, r.decrypt);
    assert_eq!(i.decrypt, r.encrypt);
    assert_eq!(i.hmac_send, r.hmac_recv);
    assert_eq!(i.near_nonce, r.far_nonce);
    // The formula, spelled out: initiator→responder key = HMAC(S, HMAC(SKRC, SKIC))[..16].
    let inner = crate::crypto::hmac_sha256(skrc, &[skic]);
    let outer = crate::crypto::hmac_sha256(&s_a, &[&inner]);
    assert_eq!(i.encrypt, outer[..16]);
    // Pinned vector for these fixed private keys.
    assert_eq!(hex::encode(i.encrypt), PINNED_ENCRYPT);
}

/// Computed independently with Python (`pow` and `hmac`) from the same private keys.
const PINNED_ENCRYPT: &str = "36da133bd973437adcfc930e6275dd60";
