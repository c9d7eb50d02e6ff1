//! Replays the handshake fuzz corpus (`fuzz/corpus/handshake/`) through the same driver as the
//! fuzz target `fuzz/fuzz_targets/handshake.rs` (server fed C0 C1 C2; digest, strict digest and
//! simple clients fed S0 S1 S2; several splittings that must agree), then checks what each seed
//! is known to produce.
//!
//! The driver is `sluice_rtmp::check::handshake`, the same code the fuzz target runs.

use std::path::PathBuf;

use sluice_rtmp::check::handshake::run;
use sluice_rtmp::handshake::{HandshakeError, HandshakeKind, HANDSHAKE_SIZE};

use sluice_rtmp::handshake::DigestLayout;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/handshake")
}

fn load(name: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join(name)).unwrap_or_else(|e| panic!("corpus file {name}: {e}"))
}

const SERVER: usize = 0;
const CLIENT_DIGEST: usize = 1;
const CLIENT_STRICT: usize = 2;
const CLIENT_SIMPLE: usize = 3;

#[test]
fn every_corpus_file_keeps_the_invariants() {
    let mut count = 0;
    for entry in std::fs::read_dir(corpus_dir()).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcomes = run(&data);
        assert_eq!(outcomes.len(), 4, "{}", path.display());
        count += 1;
    }
    assert!(count >= 4, "the seed corpus has {count} files");
}

#[test]
fn simple_c0c1c2_completes_simple() {
    let o = run(&load("simple_c0c1c2"));
    assert_eq!(o[SERVER].result, Ok(()));
    assert!(o[SERVER].complete);
    assert_eq!(o[SERVER].kind, Some(HandshakeKind::Simple));
    assert_eq!(o[SERVER].output.len(), 1 + 2 * HANDSHAKE_SIZE);
}

#[test]
fn digest_c0c1c2_completes_digest_and_keeps_the_chunk() {
    for name in ["digest_c0c1c2", "digest_c0c1c2_then_chunk"] {
        let data = load(name);
        let o = run(&data);
        assert!(o[SERVER].complete, "{name}");
        assert_eq!(
            o[SERVER].kind,
            Some(HandshakeKind::Digest(DigestLayout::DigestFirst)),
            "{name}"
        );
        assert_eq!(o[SERVER].leftover, data[3073..], "{name}");
    }
    let o = run(&load("digest_c0c1c2_then_chunk"));
    assert_eq!(
        o[SERVER].leftover[0], 0x03,
        "the first chunk's basic header stays"
    );
}

#[test]
fn keyfirst_c0c1_is_answered_in_kind() {
    let o = run(&load("keyfirst_c0c1"));
    assert_eq!(o[SERVER].result, Ok(()));
    assert!(!o[SERVER].complete);
    assert_eq!(
        o[SERVER].kind,
        Some(HandshakeKind::Digest(DigestLayout::KeyFirst))
    );
    assert_eq!(o[SERVER].output.len(), 1 + 2 * HANDSHAKE_SIZE);
}

#[test]
fn digest_s0s1s2_satisfies_even_the_strict_client() {
    let o = run(&load("digest_s0s1s2"));
    for role in [CLIENT_DIGEST, CLIENT_STRICT] {
        assert_eq!(o[role].result, Ok(()));
        assert!(o[role].complete);
        assert_eq!(
            o[role].kind,
            Some(HandshakeKind::Digest(DigestLayout::DigestFirst))
        );
    }
    assert!(o[CLIENT_SIMPLE].complete);
    assert_eq!(o[CLIENT_SIMPLE].kind, Some(HandshakeKind::Simple));
}

#[test]
fn simple_s0s1s2_completes_every_client() {
    let o = run(&load("simple_s0s1s2"));
    for role in [CLIENT_DIGEST, CLIENT_STRICT, CLIENT_SIMPLE] {
        assert!(o[role].complete);
        assert_eq!(o[role].kind, Some(HandshakeKind::Simple));
    }
}

#[test]
fn rtmpe_seeds_are_answered_and_plain_clients_refuse_rtmpe() {
    use sluice_rtmp::handshake::RtmpeType;
    for (name, rtmpe_type) in [
        ("rtmpe_c0c1", RtmpeType::Basic),
        ("rtmpe9_c0c1", RtmpeType::Blowfish),
    ] {
        let o = run(&load(name));
        assert_eq!(o[SERVER].result, Ok(()), "{name}");
        assert!(!o[SERVER].complete);
        assert_eq!(
            o[SERVER].kind,
            Some(HandshakeKind::Rtmpe {
                rtmpe_type,
                layout: DigestLayout::KeyFirst
            }),
            "{name}"
        );
        assert_eq!(o[SERVER].output.len(), 1 + 2 * HANDSHAKE_SIZE);
        assert_eq!(
            o[SERVER].output[0],
            rtmpe_type.version_byte(),
            "S0 echoes C0"
        );
    }

    // C2 is followed by the client's encrypted first chunks, which stay in the buffer.
    let data = load("rtmpe_c0c1c2_then_chunk");
    let o = run(&data);
    assert!(o[SERVER].complete);
    assert_eq!(o[SERVER].leftover, data[3073..]);
    assert!(!o[SERVER].leftover.is_empty());

    let o = run(&load("rtmpe_bad_key_c0c1"));
    assert_eq!(o[SERVER].result, Err(HandshakeError::InvalidDhPublicKey));
    assert!(o[SERVER].output.is_empty());

    // The corpus clients ask for plain RTMP: an RTMPE S0 is refused.
    let o = run(&load("rtmpe_s0s1s2"));
    for role in [CLIENT_DIGEST, CLIENT_STRICT, CLIENT_SIMPLE] {
        assert_eq!(
            o[role].result,
            Err(HandshakeError::EncryptedNotSupported(6))
        );
    }
}

#[test]
fn rejected_and_short_seeds() {
    let o = run(&load("http_get"));
    assert_eq!(
        o[SERVER].result,
        Err(HandshakeError::UnsupportedVersion(b'G'))
    );

    let o = run(&load("short"));
    assert_eq!(o[SERVER].result, Ok(()));
    assert!(!o[SERVER].complete && o[SERVER].output.is_empty());
    assert_eq!(o[SERVER].kind, None);
}
