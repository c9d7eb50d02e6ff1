//! RTMPE handshakes: in-memory client/server pairs of every type, hand-built packets for every
//! RTMPE error, and the byte layouts peers rely on.

use bytes::{BufMut, BytesMut};
use rand::RngCore;

use super::dh::DhKeyPair;
use super::digest::{self, DH_KEY_LEN, FMS_KEY, FP_KEY};
use super::rtmpe::{self, RTMPE_CLIENT_VERSION};
use super::tests::{packet, rng, run_pair};
use super::*;

const TYPES: [RtmpeType; 3] = [RtmpeType::Basic, RtmpeType::Xtea, RtmpeType::Blowfish];

/// An ffmpeg-style RTMPE C1: version 128.0.3.2, key and digest key-first.
fn rtmpe_c1(seed: u64, public: &[u8; DH_KEY_LEN]) -> [u8; HANDSHAKE_SIZE] {
    let mut c1 = [0u8; HANDSHAKE_SIZE];
    rng(seed).fill_bytes(&mut c1);
    c1[..4].copy_from_slice(&[0; 4]);
    c1[4..8].copy_from_slice(&RTMPE_CLIENT_VERSION);
    rtmpe::put_public_key(&mut c1, DigestLayout::KeyFirst, public);
    digest::imprint_digest(&mut c1, DigestLayout::KeyFirst, digest::client_digest_key());
    c1
}

fn feed_server(
    server: &mut ServerHandshake,
    bytes: &[u8],
    r: &mut impl RngCore,
) -> Result<(), HandshakeError> {
    server.handle_input(&mut BytesMut::from(bytes), r)
}

#[test]
fn pairs_of_every_type_agree_on_keys() {
    for t in TYPES {
        let mut o = run_pair(ClientHandshakeMode::Rtmpe(t), 0);
        let kind = Some(HandshakeKind::Rtmpe {
            rtmpe_type: t,
            layout: DigestLayout::KeyFirst,
        });
        assert_eq!(o.server.kind(), kind);
        assert_eq!(o.client.kind(), kind);
        assert_eq!(o.client_bytes[0], t.version_byte());
        assert_eq!(o.server_bytes[0], t.version_byte(), "S0 echoes C0");
        assert_eq!(o.server.peer_version(), Some(RTMPE_CLIENT_VERSION));
        assert_eq!(o.client.peer_version(), Some(SERVER_VERSION));
        assert_eq!(o.client.s1_digest_verified(), Some(true));
        assert_eq!(o.client.s2_verified(), Some(true));
        assert_eq!(o.server.c2_verified(), Some(true));

        let mut client = o.client.take_cipher().expect("client cipher");
        let mut server = o.server.take_cipher().expect("server cipher");
        assert!(o.client.take_cipher().is_none(), "handed over once");
        assert!(o.server.take_cipher().is_none(), "handed over once");
        let mut up = b"\x03connect".to_vec();
        client.encrypt(&mut up);
        assert_ne!(&up, b"\x03connect");
        server.decrypt(&mut up);
        assert_eq!(&up, b"\x03connect");
        let mut down = vec![0x55u8; 5000];
        server.encrypt(&mut down);
        client.decrypt(&mut down);
        assert_eq!(down, vec![0x55u8; 5000]);
    }
}

#[test]
fn byte_at_a_time_rtmpe_gives_the_same_bytes() {
    let whole = run_pair(ClientHandshakeMode::Rtmpe(RtmpeType::Xtea), 0);
    let split = run_pair(ClientHandshakeMode::Rtmpe(RtmpeType::Xtea), 1);
    assert_eq!(whole.client_bytes, split.client_bytes);
    assert_eq!(whole.server_bytes, split.server_bytes);
}

#[test]
fn no_cipher_before_completion_nor_for_plain_rtmp() {
    let mut r = rng(4);
    let mut client = ClientHandshake::new(ClientHandshakeMode::Rtmpe(RtmpeType::Basic), &mut r);
    assert!(client.take_cipher().is_none());
    let c0c1 = client.poll_transmit().unwrap();
    let mut server = ServerHandshake::new(&mut r);
    feed_server(&mut server, &c0c1, &mut r).unwrap();
    assert!(server.poll_transmit().is_some());
    assert!(server.take_cipher().is_none(), "C2 not in yet");

    for mode in [ClientHandshakeMode::Simple, ClientHandshakeMode::Digest] {
        let mut o = run_pair(mode, 0);
        assert!(o.client.take_cipher().is_none());
        assert!(o.server.take_cipher().is_none());
    }
}

#[test]
fn client_c1_layout_matches_ffmpeg() {
    let mut r = rng(5);
    let mut client = ClientHandshake::new(ClientHandshakeMode::Rtmpe(RtmpeType::Blowfish), &mut r);
    let out = client.poll_transmit().unwrap();
    assert_eq!(out.len(), 1 + HANDSHAKE_SIZE);
    assert_eq!(out[0], 0x09);
    let c1 = packet(&out[1..]);
    assert_eq!(&c1[..8], &[0, 0, 0, 0, 128, 0, 3, 2]);
    assert!(digest::verify_digest(
        &c1,
        DigestLayout::KeyFirst,
        digest::client_digest_key()
    ));
    let public = rtmpe::public_key_at(&c1, DigestLayout::KeyFirst);
    assert!(dh::is_valid_public_key(&public));
}

#[test]
fn server_answers_an_ffmpeg_style_c1_for_players_and_publishers() {
    let client = DhKeyPair::from_private(&[0x11; DH_KEY_LEN]);
    let c1 = rtmpe_c1(21, client.public_key());
    let mut r = rng(22);
    let mut server = ServerHandshake::new(&mut r);
    let mut input = BytesMut::new();
    input.put_u8(6);
    input.put_slice(&c1);
    server.handle_input(&mut input, &mut r).unwrap();
    let out = server.poll_transmit().unwrap();
    assert_eq!(out.len(), 1 + 2 * HANDSHAKE_SIZE);
    assert_eq!(out[0], 6);
    let s1 = packet(&out[1..]);
    let s2 = packet(&out[1 + HANDSHAKE_SIZE..]);

    // A player (ffmpeg, librtmp) verifies S1 key-first and reads the key there; a publisher
    // (ffmpeg) reads it at the digest-first key position. Both get the same key.
    assert_eq!(&s1[4..8], &SERVER_VERSION);
    assert!(digest::verify_digest(
        &s1,
        DigestLayout::KeyFirst,
        digest::server_digest_key()
    ));
    let server_public = rtmpe::public_key_at(&s1, DigestLayout::KeyFirst);
    assert_eq!(
        rtmpe::public_key_at(&s1, DigestLayout::DigestFirst),
        server_public
    );
    let secret = client.shared_secret(&server_public).unwrap();
    assert_ne!(secret[0], 0, "the server avoids leading-zero secrets");

    // Type 6: S2's signature is the plain digest-handshake one.
    let c1_digest = digest::stored_digest(&c1, DigestLayout::KeyFirst);
    assert!(digest::verify_response(&s2, &FMS_KEY, &c1_digest));

    // The RC4 streams the player would derive match the server's.
    let mut player = RtmpeCipher::new(&secret, client.public_key(), &server_public);
    let s1_digest = digest::stored_digest(&s1, DigestLayout::KeyFirst);
    let mut c2 = [0x77u8; HANDSHAKE_SIZE];
    digest::imprint_response(&mut c2, &FP_KEY, &s1_digest);
    let mut input = BytesMut::from(&c2[..]);
    let mut first_chunk = *b"\x03\x00\x00\x00";
    player.encrypt(&mut first_chunk);
    input.put_slice(&first_chunk);
    server.handle_input(&mut input, &mut r).unwrap();
    assert!(server.is_complete());
    assert_eq!(server.c2_verified(), Some(true));
    assert_eq!(input.len(), 4, "bytes after C2 are left, still encrypted");
    let mut cipher = server.take_cipher().unwrap();
    cipher.decrypt(&mut input[..]);
    assert_eq!(&input[..], b"\x03\x00\x00\x00");
}

#[test]
fn server_answers_a_digest_first_rtmpe_c1_in_kind() {
    let client = DhKeyPair::from_private(&[0x22; DH_KEY_LEN]);
    let mut c1 = [0u8; HANDSHAKE_SIZE];
    rng(30).fill_bytes(&mut c1);
    c1[4..8].copy_from_slice(&RTMPE_CLIENT_VERSION);
    rtmpe::put_public_key(&mut c1, DigestLayout::DigestFirst, client.public_key());
    digest::imprint_digest(
        &mut c1,
        DigestLayout::DigestFirst,
        digest::client_digest_key(),
    );
    let mut r = rng(31);
    let mut server = ServerHandshake::new(&mut r);
    let mut input = BytesMut::new();
    input.put_u8(8);
    input.put_slice(&c1);
    server.handle_input(&mut input, &mut r).unwrap();
    assert_eq!(
        server.kind(),
        Some(HandshakeKind::Rtmpe {
            rtmpe_type: RtmpeType::Xtea,
            layout: DigestLayout::DigestFirst,
        })
    );
    let out = server.poll_transmit().unwrap();
    assert_eq!(out[0], 8);
    let s1 = packet(&out[1..]);
    let s2 = packet(&out[1 + HANDSHAKE_SIZE..]);
    assert!(digest::verify_digest(
        &s1,
        DigestLayout::DigestFirst,
        digest::server_digest_key()
    ));
    let server_public = rtmpe::public_key_at(&s1, DigestLayout::DigestFirst);
    assert!(client.shared_secret(&server_public).is_ok());
    // Type 8: the signature is XTEA-encrypted, so the plain one no longer verifies.
    let c1_digest = digest::stored_digest(&c1, DigestLayout::DigestFirst);
    assert!(!digest::verify_response(&s2, &FMS_KEY, &c1_digest));
    assert_eq!(
        rtmpe::response_signature(RtmpeType::Xtea, &s2, &FMS_KEY, &c1_digest)[..],
        s2[1504..]
    );
}

#[test]
fn configured_answer_type_is_used_by_both_ends() {
    // librtmp's server answers 8 to a C0 of 6; clients follow S0.
    for answer in TYPES {
        let config = ServerHandshakeConfig {
            rtmpe_answer: Some(answer),
            ..ServerHandshakeConfig::default()
        };
        let mut crng = rng(40);
        let mut srng = rng(41);
        let mut client =
            ClientHandshake::new(ClientHandshakeMode::Rtmpe(RtmpeType::Basic), &mut crng);
        let mut server = ServerHandshake::with_config(config, &mut srng);
        let c0c1 = client.poll_transmit().unwrap();
        assert_eq!(c0c1[0], 6);
        feed_server(&mut server, &c0c1, &mut srng).unwrap();
        let s = server.poll_transmit().unwrap();
        assert_eq!(s[0], answer.version_byte());
        client
            .handle_input(&mut BytesMut::from(&s[..]), &mut crng)
            .unwrap();
        let c2 = client.poll_transmit().unwrap();
        feed_server(&mut server, &c2, &mut srng).unwrap();
        assert!(client.is_complete() && server.is_complete());
        assert_eq!(client.s2_verified(), Some(true));
        assert_eq!(server.c2_verified(), Some(true));
        let kind = Some(HandshakeKind::Rtmpe {
            rtmpe_type: answer,
            layout: DigestLayout::KeyFirst,
        });
        assert_eq!(client.kind(), kind);
        assert_eq!(server.kind(), kind);
    }
}

#[test]
fn rtmpe_c1_without_a_digest_is_rejected() {
    let mut r = rng(50);
    let mut server = ServerHandshake::new(&mut r);
    let mut c1 = [0u8; HANDSHAKE_SIZE];
    r.fill_bytes(&mut c1);
    let mut input = BytesMut::new();
    input.put_u8(6);
    input.put_slice(&c1);
    assert_eq!(
        server.handle_input(&mut input, &mut r),
        Err(HandshakeError::RtmpeWithoutDigest)
    );
    assert_eq!(server.poll_transmit(), None);
    assert_eq!(
        server.handle_input(&mut BytesMut::new(), &mut r),
        Err(HandshakeError::RtmpeWithoutDigest),
        "the error sticks"
    );
    assert!(HandshakeError::RtmpeWithoutDigest
        .to_string()
        .contains("digest"));
}

#[test]
fn rtmpe_c1_with_a_bad_key_is_rejected() {
    for bad in [[0u8; DH_KEY_LEN], dh::PRIME] {
        let c1 = rtmpe_c1(60, &bad);
        let mut r = rng(61);
        let mut server = ServerHandshake::new(&mut r);
        let mut input = BytesMut::new();
        input.put_u8(9);
        input.put_slice(&c1);
        assert_eq!(
            server.handle_input(&mut input, &mut r),
            Err(HandshakeError::InvalidDhPublicKey)
        );
        assert_eq!(server.poll_transmit(), None);
    }
    assert!(HandshakeError::InvalidDhPublicKey
        .to_string()
        .contains("p-2"));
}

/// The server's answer to a default RTMPE client, as (client, S0 S1 S2).
fn rtmpe_exchange(seed: u64) -> (ClientHandshake, Vec<u8>) {
    let mut crng = rng(seed);
    let mut srng = rng(seed + 1);
    let mut client = ClientHandshake::with_config(
        ClientHandshakeConfig {
            mode: ClientHandshakeMode::Rtmpe(RtmpeType::Basic),
            strict: true,
        },
        &mut crng,
    );
    let mut server = ServerHandshake::new(&mut srng);
    feed_server(&mut server, &client.poll_transmit().unwrap(), &mut srng).unwrap();
    (client, server.poll_transmit().unwrap().to_vec())
}

#[test]
fn rtmpe_client_refuses_a_plain_s0() {
    let (mut client, mut s) = rtmpe_exchange(70);
    s[0] = 3;
    let err = client
        .handle_input(&mut BytesMut::from(&s[..]), &mut rng(0))
        .unwrap_err();
    assert_eq!(err, HandshakeError::RtmpeRefused(3));
    assert!(err.to_string().contains("0x03"));
    let (mut client, mut s) = rtmpe_exchange(70);
    s[0] = 0x47;
    assert_eq!(
        client.handle_input(&mut BytesMut::from(&s[..]), &mut rng(0)),
        Err(HandshakeError::UnsupportedVersion(0x47))
    );
}

#[test]
fn rtmpe_client_needs_a_verifiable_s1_even_when_lenient() {
    let (_, mut s) = rtmpe_exchange(80);
    s[1 + 1000] ^= 0xFF; // breaks the S1 digest wherever it is
    s[1 + 20] ^= 0xFF;
    let mut r = rng(81);
    let mut client = ClientHandshake::new(ClientHandshakeMode::Rtmpe(RtmpeType::Basic), &mut r);
    client.poll_transmit();
    let err = client
        .handle_input(&mut BytesMut::from(&s[..]), &mut r)
        .unwrap_err();
    assert_eq!(
        err,
        HandshakeError::DigestMismatch {
            server_version: SERVER_VERSION
        }
    );
    assert_eq!(client.s1_digest_verified(), Some(false));
}

#[test]
fn rtmpe_client_rejects_a_bad_server_key() {
    let mut r = rng(90);
    let mut s1 = [0u8; HANDSHAKE_SIZE];
    r.fill_bytes(&mut s1);
    s1[4..8].copy_from_slice(&SERVER_VERSION);
    rtmpe::put_public_key(&mut s1, DigestLayout::KeyFirst, &[0xFF; DH_KEY_LEN]);
    digest::imprint_digest(&mut s1, DigestLayout::KeyFirst, digest::server_digest_key());
    let mut input = BytesMut::new();
    input.put_u8(6);
    input.put_slice(&s1);
    let mut client = ClientHandshake::new(ClientHandshakeMode::Rtmpe(RtmpeType::Basic), &mut r);
    assert_eq!(
        client.handle_input(&mut input, &mut r),
        Err(HandshakeError::InvalidDhPublicKey)
    );
}

#[test]
fn strict_rtmpe_client_rejects_a_bad_s2_and_lenient_records_it() {
    let (mut strict, mut s) = rtmpe_exchange(100);
    let last = s.len() - 1;
    s[last] ^= 0x01;
    assert_eq!(
        strict.handle_input(&mut BytesMut::from(&s[..]), &mut rng(0)),
        Err(HandshakeError::InvalidS2)
    );

    let mut crng = rng(100);
    let mut lenient = ClientHandshake::new(ClientHandshakeMode::Rtmpe(RtmpeType::Basic), &mut crng);
    lenient.poll_transmit();
    lenient
        .handle_input(&mut BytesMut::from(&s[..]), &mut crng)
        .unwrap();
    assert!(lenient.is_complete());
    assert_eq!(lenient.s2_verified(), Some(false));
    assert!(lenient.take_cipher().is_some());
}

#[test]
fn c2_echoing_s1_is_accepted_as_ffmpeg_publishers_send_it() {
    let mut crng = rng(110);
    let mut srng = rng(111);
    let mut client = ClientHandshake::new(ClientHandshakeMode::Rtmpe(RtmpeType::Basic), &mut crng);
    let mut server = ServerHandshake::new(&mut srng);
    feed_server(&mut server, &client.poll_transmit().unwrap(), &mut srng).unwrap();
    let s = server.poll_transmit().unwrap();
    // ffmpeg publishing sends S1 back as C2.
    feed_server(&mut server, &s[1..1 + HANDSHAKE_SIZE], &mut srng).unwrap();
    assert!(server.is_complete());
    assert_eq!(server.c2_verified(), Some(false));
    assert!(server.take_cipher().is_some());
}
