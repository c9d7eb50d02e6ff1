//! In-memory client/server pairs and hand-built packets exercising both handshake forms.

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use super::digest::{self, FMS_KEY, FP_KEY};
use super::*;

pub(super) fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Feeds `bytes` to `feed` in pieces of `step` bytes (0 = all at once) through one growing
/// buffer, as a socket reader would; returns what was left unconsumed.
pub(super) fn feed_in_steps(
    bytes: &[u8],
    step: usize,
    mut feed: impl FnMut(&mut BytesMut) -> Result<(), HandshakeError>,
) -> Result<BytesMut, HandshakeError> {
    let mut buf = BytesMut::new();
    let step = if step == 0 { bytes.len().max(1) } else { step };
    for piece in bytes.chunks(step) {
        buf.extend_from_slice(piece);
        feed(&mut buf)?;
    }
    Ok(buf)
}

pub(super) struct PairOutcome {
    pub(super) server: ServerHandshake,
    pub(super) client: ClientHandshake,
    /// Everything the client sent (C0 C1 C2).
    pub(super) client_bytes: Vec<u8>,
    /// Everything the server sent (S0 S1 S2).
    pub(super) server_bytes: Vec<u8>,
}

/// Runs a client and a server against each other in memory, each side receiving in `step`-byte
/// pieces.
pub(super) fn run_pair(mode: ClientHandshakeMode, step: usize) -> PairOutcome {
    let mut crng = rng(1);
    let mut srng = rng(2);
    let mut client = ClientHandshake::new(mode, &mut crng);
    let mut server = ServerHandshake::new(&mut srng);
    let mut client_bytes = Vec::new();
    let mut server_bytes = Vec::new();
    for _ in 0..4 {
        if let Some(out) = client.poll_transmit() {
            client_bytes.extend_from_slice(&out);
            let rest = feed_in_steps(&out, step, |b| server.handle_input(b, &mut srng)).unwrap();
            assert!(rest.is_empty());
        }
        if let Some(out) = server.poll_transmit() {
            server_bytes.extend_from_slice(&out);
            let rest = feed_in_steps(&out, step, |b| client.handle_input(b, &mut crng)).unwrap();
            assert!(rest.is_empty());
        }
    }
    assert!(client.is_complete() && server.is_complete());
    assert_eq!(client_bytes.len(), 1 + 2 * HANDSHAKE_SIZE);
    assert_eq!(server_bytes.len(), 1 + 2 * HANDSHAKE_SIZE);
    PairOutcome {
        server,
        client,
        client_bytes,
        server_bytes,
    }
}

pub(super) fn packet(bytes: &[u8]) -> [u8; HANDSHAKE_SIZE] {
    let mut p = [0u8; HANDSHAKE_SIZE];
    p.copy_from_slice(&bytes[..HANDSHAKE_SIZE]);
    p
}

/// The server's answer to a hand-made C1, split into (S1, S2).
fn server_answer(c1: &[u8; HANDSHAKE_SIZE]) -> (ServerHandshake, [u8; 1536], [u8; 1536]) {
    let mut r = rng(7);
    let mut server = ServerHandshake::new(&mut r);
    let mut input = BytesMut::new();
    input.put_u8(3);
    input.put_slice(c1);
    server.handle_input(&mut input, &mut r).unwrap();
    assert!(input.is_empty());
    let out = server.poll_transmit().unwrap();
    assert_eq!(out.len(), 1 + 2 * HANDSHAKE_SIZE);
    assert_eq!(out[0], RTMP_VERSION);
    assert_eq!(server.poll_transmit(), None, "S0S1S2 are sent once");
    (
        server,
        packet(&out[1..]),
        packet(&out[1 + HANDSHAKE_SIZE..]),
    )
}

fn random_c1(seed: u64, version: [u8; 4]) -> [u8; HANDSHAKE_SIZE] {
    let mut c1 = [0u8; HANDSHAKE_SIZE];
    rng(seed).fill_bytes(&mut c1);
    c1[..4].copy_from_slice(&[0, 0, 0x12, 0x34]);
    c1[4..8].copy_from_slice(&version);
    c1
}

#[test]
fn simple_pair() {
    let o = run_pair(ClientHandshakeMode::Simple, 0);
    assert_eq!(o.server.kind(), Some(HandshakeKind::Simple));
    assert_eq!(o.client.kind(), Some(HandshakeKind::Simple));
    assert_eq!(o.server.peer_version(), Some([0; 4]));
    assert_eq!(o.client.peer_version(), Some([0; 4]));
    assert_eq!(o.server.c2_verified(), Some(true));
    assert_eq!(o.client.s2_verified(), Some(true));
    assert_eq!(o.client.s1_digest_verified(), None);
    // C0 = 03, C1 = time 0 + zero 4 bytes.
    assert_eq!(&o.client_bytes[..9], &[3, 0, 0, 0, 0, 0, 0, 0, 0]);
    // S2 echoes C1 (time, random), C2 echoes S1.
    assert_eq!(
        &o.server_bytes[1 + 1536..][8..],
        &o.client_bytes[1..1537][8..]
    );
    assert_eq!(&o.client_bytes[1537..][8..], &o.server_bytes[1..1537][8..]);
}

#[test]
fn digest_pair() {
    let o = run_pair(ClientHandshakeMode::Digest, 0);
    let kind = Some(HandshakeKind::Digest(DigestLayout::DigestFirst));
    assert_eq!(o.server.kind(), kind);
    assert_eq!(o.client.kind(), kind);
    assert_eq!(o.server.peer_version(), Some(CLIENT_VERSION));
    assert_eq!(o.client.peer_version(), Some(SERVER_VERSION));
    assert_eq!(o.server.c2_verified(), Some(true));
    assert_eq!(o.client.s1_digest_verified(), Some(true));
    assert_eq!(o.client.s2_verified(), Some(true));
    // C1: time 0, version 9.0.124.2, and a digest that verifies in the DigestFirst layout.
    assert_eq!(&o.client_bytes[..9], &[3, 0, 0, 0, 0, 9, 0, 124, 2]);
    let c1 = packet(&o.client_bytes[1..]);
    assert!(digest::verify_digest(
        &c1,
        DigestLayout::DigestFirst,
        digest::client_digest_key()
    ));
    let s1 = packet(&o.server_bytes[1..]);
    assert!(digest::verify_digest(
        &s1,
        DigestLayout::DigestFirst,
        digest::server_digest_key()
    ));
    // C2 is not an echo in the digest form.
    assert_ne!(&o.client_bytes[1537..][8..], &o.server_bytes[1..1537][8..]);
}

#[test]
fn byte_at_a_time_gives_the_same_bytes() {
    for mode in [ClientHandshakeMode::Simple, ClientHandshakeMode::Digest] {
        let whole = run_pair(mode, 0);
        let bytewise = run_pair(mode, 1);
        assert_eq!(whole.client_bytes, bytewise.client_bytes);
        assert_eq!(whole.server_bytes, bytewise.server_bytes);
        assert_eq!(whole.server.kind(), bytewise.server.kind());
    }
}

#[test]
fn fresh_buffer_per_byte_is_also_fine() {
    // A caller that hands over a new buffer every time loses nothing: partial packets are kept.
    let mut crng = rng(3);
    let mut srng = rng(4);
    let mut client = ClientHandshake::new(ClientHandshakeMode::Digest, &mut crng);
    let mut server = ServerHandshake::new(&mut srng);
    for b in client.poll_transmit().unwrap() {
        server
            .handle_input(&mut BytesMut::from(&[b][..]), &mut srng)
            .unwrap();
    }
    for b in server.poll_transmit().unwrap() {
        client
            .handle_input(&mut BytesMut::from(&[b][..]), &mut crng)
            .unwrap();
    }
    for b in client.poll_transmit().unwrap() {
        server
            .handle_input(&mut BytesMut::from(&[b][..]), &mut srng)
            .unwrap();
    }
    assert!(server.is_complete() && client.is_complete());
    assert_eq!(server.c2_verified(), Some(true));
}

#[test]
fn server_answers_digest_first_c1_in_kind() {
    let mut c1 = random_c1(10, [0x80, 0x00, 0x07, 0x02]);
    let c1_digest = digest::imprint_digest(
        &mut c1,
        DigestLayout::DigestFirst,
        digest::client_digest_key(),
    );
    let (server, s1, s2) = server_answer(&c1);
    assert_eq!(
        server.kind(),
        Some(HandshakeKind::Digest(DigestLayout::DigestFirst))
    );
    assert_eq!(server.peer_version(), Some([0x80, 0x00, 0x07, 0x02]));
    assert_eq!(&s1[..8], &[0, 0, 0, 0, 4, 5, 0, 1]);
    assert!(digest::verify_digest(
        &s1,
        DigestLayout::DigestFirst,
        digest::server_digest_key()
    ));
    assert!(digest::verify_response(&s2, &FMS_KEY, &c1_digest));
}

#[test]
fn server_answers_key_first_c1_in_kind() {
    let mut c1 = random_c1(11, [0x80, 0x00, 0x03, 0x02]);
    let c1_digest =
        digest::imprint_digest(&mut c1, DigestLayout::KeyFirst, digest::client_digest_key());
    assert!(!digest::verify_digest(
        &c1,
        DigestLayout::DigestFirst,
        digest::client_digest_key()
    ));
    let (mut server, s1, s2) = server_answer(&c1);
    assert_eq!(
        server.kind(),
        Some(HandshakeKind::Digest(DigestLayout::KeyFirst))
    );
    assert!(digest::verify_digest(
        &s1,
        DigestLayout::KeyFirst,
        digest::server_digest_key()
    ));
    assert!(digest::verify_response(&s2, &FMS_KEY, &c1_digest));

    // A correct C2 for S1 verifies.
    let s1_digest = digest::stored_digest(&s1, DigestLayout::KeyFirst);
    let mut c2 = random_c1(12, [1, 2, 3, 4]);
    digest::imprint_response(&mut c2, &FP_KEY, &s1_digest);
    let mut input = BytesMut::from(&c2[..]);
    server.handle_input(&mut input, &mut rng(0)).unwrap();
    assert!(server.is_complete());
    assert_eq!(server.c2_verified(), Some(true));
}

#[test]
fn garbage_digest_falls_back_to_simple() {
    let c1 = random_c1(13, [9, 0, 124, 2]);
    let (server, s1, s2) = server_answer(&c1);
    assert_eq!(server.kind(), Some(HandshakeKind::Simple));
    assert_eq!(server.peer_version(), Some([9, 0, 124, 2]));
    // S1: time 0, zero version bytes.
    assert_eq!(&s1[..8], &[0; 8]);
    // S2: C1's time, time read (0 in our epoch), C1's random bytes.
    assert_eq!(&s2[..4], &[0, 0, 0x12, 0x34]);
    assert_eq!(&s2[4..8], &[0; 4]);
    assert_eq!(&s2[8..], &c1[8..]);
}

#[test]
fn zero_version_c1_is_simple_even_with_a_digest() {
    let mut c1 = random_c1(14, [0; 4]);
    digest::imprint_digest(
        &mut c1,
        DigestLayout::DigestFirst,
        digest::client_digest_key(),
    );
    let (server, _, _) = server_answer(&c1);
    assert_eq!(server.kind(), Some(HandshakeKind::Simple));
}

#[test]
fn nothing_is_sent_before_c1_is_whole() {
    let mut r = rng(5);
    let mut server = ServerHandshake::new(&mut r);
    let c1 = random_c1(15, [0; 4]);
    let mut input = BytesMut::new();
    input.put_u8(3);
    input.put_slice(&c1[..HANDSHAKE_SIZE - 1]);
    server.handle_input(&mut input, &mut r).unwrap();
    assert!(input.is_empty());
    assert_eq!(server.poll_transmit(), None);
    assert_eq!(server.kind(), None);
    assert_eq!(server.peer_version(), None);
    input.put_u8(c1[HANDSHAKE_SIZE - 1]);
    server.handle_input(&mut input, &mut r).unwrap();
    assert!(server.poll_transmit().is_some());
    assert!(!server.is_complete());
}

#[test]
fn bytes_after_c2_stay_in_the_input() {
    let o = run_pair(ClientHandshakeMode::Digest, 0);
    let mut r = rng(2);
    let mut server = ServerHandshake::new(&mut r);
    let first_chunk = [0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4B, 0x14];
    let mut input = BytesMut::from(&o.client_bytes[..]);
    input.put_slice(&first_chunk);
    server.handle_input(&mut input, &mut r).unwrap();
    assert!(server.is_complete());
    assert_eq!(&input[..], &first_chunk);
    // Once complete, nothing more is consumed.
    server.handle_input(&mut input, &mut r).unwrap();
    assert_eq!(&input[..], &first_chunk);
}

#[test]
fn bytes_after_s2_stay_in_the_input() {
    let mut crng = rng(1);
    let mut client = ClientHandshake::new(ClientHandshakeMode::Digest, &mut crng);
    let mut srng = rng(2);
    let mut server = ServerHandshake::new(&mut srng);
    let mut c0c1 = BytesMut::from(&client.poll_transmit().unwrap()[..]);
    server.handle_input(&mut c0c1, &mut srng).unwrap();
    let mut input = BytesMut::from(&server.poll_transmit().unwrap()[..]);
    input.put_slice(b"\x02rest");
    client.handle_input(&mut input, &mut crng).unwrap();
    assert!(client.is_complete());
    assert_eq!(&input[..], b"\x02rest");
    let c2 = client.poll_transmit().unwrap();
    assert_eq!(c2.len(), HANDSHAKE_SIZE);
    assert_eq!(client.poll_transmit(), None);
}

#[test]
fn unknown_versions_are_rejected_and_the_error_sticks() {
    for v in [0u8, 1, 2, 4, 5, 7, 10, 31, 0x47, 0xF3, 0xFF] {
        let mut r = rng(0);
        let mut server = ServerHandshake::new(&mut r);
        let mut input = BytesMut::from(&[v, 0, 0][..]);
        let err = server.handle_input(&mut input, &mut r).unwrap_err();
        assert_eq!(err, HandshakeError::UnsupportedVersion(v));
        assert_eq!(input.len(), 2, "only C0 is consumed");
        assert_eq!(
            server.handle_input(&mut input, &mut r),
            Err(HandshakeError::UnsupportedVersion(v))
        );
        assert_eq!(input.len(), 2);
        assert_eq!(server.poll_transmit(), None);

        let mut client = ClientHandshake::new(ClientHandshakeMode::Digest, &mut r);
        let err = client
            .handle_input(&mut BytesMut::from(&[v][..]), &mut r)
            .unwrap_err();
        assert_eq!(err, HandshakeError::UnsupportedVersion(v));
    }
    assert!(HandshakeError::UnsupportedVersion(0x47)
        .to_string()
        .contains("0x47"));
}

#[test]
fn rtmpe_versions_are_refused_where_rtmpe_is_off() {
    for v in RTMPE_VERSIONS {
        let mut r = rng(0);
        // The default server accepts C0 = 6, 8, 9 (and waits for C1).
        let mut server = ServerHandshake::new(&mut r);
        let mut input = BytesMut::from(&[v][..]);
        assert_eq!(server.handle_input(&mut input, &mut r), Ok(()));
        assert!(input.is_empty());
        // One configured without RTMPE refuses them.
        let config = ServerHandshakeConfig {
            rtmpe: false,
            ..ServerHandshakeConfig::default()
        };
        let mut server = ServerHandshake::with_config(config, &mut r);
        let err = server
            .handle_input(&mut BytesMut::from(&[v][..]), &mut r)
            .unwrap_err();
        assert_eq!(err, HandshakeError::EncryptedNotSupported(v));
        // A client that did not ask for RTMPE refuses an RTMPE S0.
        for mode in [ClientHandshakeMode::Simple, ClientHandshakeMode::Digest] {
            let mut client = ClientHandshake::new(mode, &mut r);
            let err = client
                .handle_input(&mut BytesMut::from(&[v][..]), &mut r)
                .unwrap_err();
            assert_eq!(err, HandshakeError::EncryptedNotSupported(v));
            assert!(err.to_string().contains("RTMPE"));
        }
    }
}

#[test]
fn c2_that_does_not_verify_is_accepted() {
    let mut c1 = random_c1(16, CLIENT_VERSION);
    digest::imprint_digest(
        &mut c1,
        DigestLayout::DigestFirst,
        digest::client_digest_key(),
    );
    let (mut server, _, _) = server_answer(&c1);
    let c2 = random_c1(17, [0; 4]);
    server
        .handle_input(&mut BytesMut::from(&c2[..]), &mut rng(0))
        .unwrap();
    assert!(server.is_complete());
    assert_eq!(server.c2_verified(), Some(false));

    // Simple form: a C2 that is not an echo is accepted too.
    let (mut server, _, _) = server_answer(&random_c1(18, [0; 4]));
    server
        .handle_input(&mut BytesMut::from(&c2[..]), &mut rng(0))
        .unwrap();
    assert!(server.is_complete());
    assert_eq!(server.c2_verified(), Some(false));
}

/// S0 + an S1 with non-zero version and a garbage digest + an S2.
fn bad_digest_s0s1s2() -> (Bytes, [u8; HANDSHAKE_SIZE]) {
    let s1 = random_c1(19, SERVER_VERSION);
    let mut out = BytesMut::new();
    out.put_u8(3);
    out.put_slice(&s1);
    out.put_slice(&random_c1(20, [0; 4]));
    (out.freeze(), s1)
}

#[test]
fn lenient_client_echoes_an_unverifiable_s1() {
    let mut r = rng(0);
    let mut client = ClientHandshake::new(ClientHandshakeMode::Digest, &mut r);
    client.poll_transmit().unwrap();
    let (input, s1) = bad_digest_s0s1s2();
    client
        .handle_input(&mut BytesMut::from(&input[..]), &mut r)
        .unwrap();
    assert!(client.is_complete());
    assert_eq!(client.kind(), Some(HandshakeKind::Simple));
    assert_eq!(client.s1_digest_verified(), Some(false));
    assert_eq!(client.s2_verified(), Some(false));
    let c2 = client.poll_transmit().unwrap();
    assert_eq!(&c2[..4], &s1[..4]);
    assert_eq!(&c2[4..8], &[0; 4]);
    assert_eq!(&c2[8..], &s1[8..]);
}

#[test]
fn strict_client_rejects_an_unverifiable_s1() {
    let mut r = rng(0);
    let config = ClientHandshakeConfig {
        mode: ClientHandshakeMode::Digest,
        strict: true,
    };
    let mut client = ClientHandshake::with_config(config, &mut r);
    client.poll_transmit().unwrap();
    let (input, _) = bad_digest_s0s1s2();
    let mut input = BytesMut::from(&input[..]);
    let err = client.handle_input(&mut input, &mut r).unwrap_err();
    let expected = HandshakeError::DigestMismatch {
        server_version: SERVER_VERSION,
    };
    assert_eq!(err, expected);
    assert!(err.to_string().contains("04, 05, 00, 01"));
    assert_eq!(client.poll_transmit(), None, "no C2 after a rejected S1");
    assert_eq!(client.handle_input(&mut input, &mut r), Err(expected));
}

#[test]
fn strict_client_rejects_a_bad_s2_and_lenient_records_it() {
    for strict in [true, false] {
        let mut crng = rng(1);
        let mut srng = rng(2);
        let config = ClientHandshakeConfig {
            mode: ClientHandshakeMode::Digest,
            strict,
        };
        let mut client = ClientHandshake::with_config(config, &mut crng);
        let mut server = ServerHandshake::new(&mut srng);
        let mut c0c1 = BytesMut::from(&client.poll_transmit().unwrap()[..]);
        server.handle_input(&mut c0c1, &mut srng).unwrap();
        let mut s = BytesMut::from(&server.poll_transmit().unwrap()[..]);
        let last = s.len() - 1;
        s[last] ^= 0x80; // break S2's signature
        let result = client.handle_input(&mut s, &mut crng);
        assert_eq!(
            client.kind(),
            Some(HandshakeKind::Digest(DigestLayout::DigestFirst))
        );
        if strict {
            assert_eq!(result, Err(HandshakeError::InvalidS2));
            assert!(!client.is_complete());
        } else {
            result.unwrap();
            assert!(client.is_complete());
            assert_eq!(client.s2_verified(), Some(false));
        }
    }
}

#[test]
fn digest_client_against_simple_server_echoes() {
    let mut r = rng(0);
    let mut client = ClientHandshake::new(ClientHandshakeMode::Digest, &mut r);
    let c0c1 = client.poll_transmit().unwrap();
    // A spec-only server: S1 with zero version, S2 = exact echo of C1.
    let s1 = random_c1(21, [0; 4]);
    let mut input = BytesMut::new();
    input.put_u8(3);
    input.put_slice(&s1);
    input.put_slice(&c0c1[1..]);
    client.handle_input(&mut input, &mut r).unwrap();
    assert!(client.is_complete());
    assert_eq!(client.kind(), Some(HandshakeKind::Simple));
    assert_eq!(client.s1_digest_verified(), None);
    assert_eq!(client.s2_verified(), Some(true));
    let c2 = client.poll_transmit().unwrap();
    assert_eq!(&c2[8..], &s1[8..]);
}

#[test]
fn simple_client_echoes_even_a_digest_s1() {
    // A simple-mode client has no C1 digest to key S2, so it always answers in the simple form.
    let mut r = rng(0);
    let mut client = ClientHandshake::new(ClientHandshakeMode::Simple, &mut r);
    client.poll_transmit().unwrap();
    let mut s1 = random_c1(22, SERVER_VERSION);
    digest::imprint_digest(
        &mut s1,
        DigestLayout::DigestFirst,
        digest::server_digest_key(),
    );
    let mut input = BytesMut::new();
    input.put_u8(3);
    input.put_slice(&s1);
    client.handle_input(&mut input, &mut r).unwrap();
    assert_eq!(client.kind(), Some(HandshakeKind::Simple));
    assert_eq!(client.peer_version(), Some(SERVER_VERSION));
    assert!(!client.is_complete());
    assert_eq!(&client.poll_transmit().unwrap()[8..], &s1[8..]);
}

#[test]
fn default_mode_is_digest() {
    assert_eq!(ClientHandshakeMode::default(), ClientHandshakeMode::Digest);
    assert!(!ClientHandshakeConfig::default().strict);
}

/// Feeds `bytes` split at `cuts` (sorted, deduplicated positions) into a fresh server seeded
/// like the reference; returns (output, leftover, complete).
fn server_split_run(bytes: &[u8], cuts: &[usize]) -> (Vec<u8>, Vec<u8>, bool) {
    let mut r = rng(2);
    let mut server = ServerHandshake::new(&mut r);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut prev = 0;
    for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
        buf.extend_from_slice(&bytes[prev..cut]);
        prev = cut;
        server.handle_input(&mut buf, &mut r).unwrap();
        while let Some(o) = server.poll_transmit() {
            out.extend_from_slice(&o);
        }
    }
    (out, buf.to_vec(), server.is_complete())
}

fn client_split_run(
    mode: ClientHandshakeMode,
    bytes: &[u8],
    cuts: &[usize],
) -> (Vec<u8>, Vec<u8>, bool) {
    let mut r = rng(1);
    let mut client = ClientHandshake::new(mode, &mut r);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut prev = 0;
    for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
        buf.extend_from_slice(&bytes[prev..cut]);
        prev = cut;
        client.handle_input(&mut buf, &mut r).unwrap();
        while let Some(o) = client.poll_transmit() {
            out.extend_from_slice(&o);
        }
    }
    (out, buf.to_vec(), client.is_complete())
}

/// Checks that feeding a pair's packets split at `raw_cuts` (plus `extra` bytes behind them)
/// gives the same bytes as feeding them whole.
fn check_split_points(
    mode: ClientHandshakeMode,
    raw_cuts: &[usize],
    extra: &[u8],
) -> Result<(), TestCaseError> {
    let simple = mode == ClientHandshakeMode::Simple;
    let reference = run_pair(mode, 0);

    let mut to_server = reference.client_bytes.clone();
    to_server.extend_from_slice(extra);
    let mut cuts: Vec<usize> = raw_cuts.iter().map(|c| c % (to_server.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let (out, rest, done) = server_split_run(&to_server, &cuts);
    prop_assert!(done);
    prop_assert_eq!(&out, &reference.server_bytes);
    prop_assert_eq!(&rest, extra);

    if !simple {
        let mut to_client = reference.server_bytes.clone();
        to_client.extend_from_slice(extra);
        let (out, rest, done) = client_split_run(mode, &to_client, &cuts);
        prop_assert!(done);
        prop_assert_eq!(&out, &reference.client_bytes);
        prop_assert_eq!(&rest, extra);
    }
    Ok(())
}

proptest! {
    #[test]
    fn split_points_do_not_matter(
        simple in any::<bool>(),
        raw_cuts in proptest::collection::vec(0usize..3090, 0..12),
        extra in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let mode = if simple { ClientHandshakeMode::Simple } else { ClientHandshakeMode::Digest };
        check_split_points(mode, &raw_cuts, &extra)?;
    }
}

proptest! {
    // Each case runs several 1024-bit modular exponentiations: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn rtmpe_split_points_do_not_matter(
        type_index in 0usize..3,
        raw_cuts in proptest::collection::vec(0usize..3090, 0..12),
        extra in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let types = [RtmpeType::Basic, RtmpeType::Xtea, RtmpeType::Blowfish];
        let mode = ClientHandshakeMode::Rtmpe(types[type_index]);
        check_split_points(mode, &raw_cuts, &extra)?;
    }
}
