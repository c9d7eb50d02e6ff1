//! Fuzz target for the sans-IO handshake (`sluice_rtmp::handshake`, RTMP 1.0 §5.2): the input is
//! fed to a `ServerHandshake` as C0 C1 C2 and to `ClientHandshake`s (digest, strict digest,
//! simple) as S0 S1 S2, each in several splittings (whole, byte by byte, odd-sized pieces). None
//! may panic, and every splitting must give the same outcome, output and leftover bytes.
//!
//! `crates/rtmp/tests/handshake_corpus.rs` replays `fuzz/corpus/handshake/` through a copy of
//! `run` below; keep the two in step.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rand::rngs::StdRng;
use rand::SeedableRng;
use sluice_rtmp::handshake::{
    ClientHandshake, ClientHandshakeConfig, ClientHandshakeMode, HandshakeError, HandshakeKind,
    ServerHandshake, HANDSHAKE_SIZE,
};

/// Piece sizes the input is cut into; `usize::MAX` feeds it whole.
const STEPS: [usize; 4] = [usize::MAX, 1, 7, 1000];

/// What one run produced.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    result: Result<(), HandshakeError>,
    output: Vec<u8>,
    leftover: Vec<u8>,
    complete: bool,
    kind: Option<HandshakeKind>,
}

enum Role {
    Server,
    Client(ClientHandshakeConfig),
}

fn run_once(data: &[u8], role: &Role, step: usize) -> Outcome {
    let mut rng = StdRng::seed_from_u64(0x5EED);
    let mut buf = BytesMut::new();
    let mut output = Vec::new();
    let mut result = Ok(());
    match role {
        Role::Server => {
            let mut hs = ServerHandshake::new(&mut rng);
            for piece in data.chunks(step.max(1)) {
                buf.extend_from_slice(piece);
                result = hs.handle_input(&mut buf, &mut rng);
                while let Some(out) = hs.poll_transmit() {
                    output.extend_from_slice(&out);
                }
                if result.is_err() {
                    break;
                }
            }
            Outcome {
                result,
                output,
                leftover: buf.to_vec(),
                complete: hs.is_complete(),
                kind: hs.kind(),
            }
        }
        Role::Client(config) => {
            let mut hs = ClientHandshake::with_config(*config, &mut rng);
            for piece in data.chunks(step.max(1)) {
                buf.extend_from_slice(piece);
                result = hs.handle_input(&mut buf, &mut rng);
                while let Some(out) = hs.poll_transmit() {
                    output.extend_from_slice(&out);
                }
                if result.is_err() {
                    break;
                }
            }
            Outcome {
                result,
                output,
                leftover: buf.to_vec(),
                complete: hs.is_complete(),
                kind: hs.kind(),
            }
        }
    }
}

/// The roles every input is played against: the server, then clients in digest, strict digest
/// and simple mode.
fn roles() -> [Role; 4] {
    [
        Role::Server,
        Role::Client(ClientHandshakeConfig {
            mode: ClientHandshakeMode::Digest,
            strict: false,
        }),
        Role::Client(ClientHandshakeConfig {
            mode: ClientHandshakeMode::Digest,
            strict: true,
        }),
        Role::Client(ClientHandshakeConfig {
            mode: ClientHandshakeMode::Simple,
            strict: false,
        }),
    ]
}

/// Runs every role (in [`roles`] order) in every splitting, checks the invariants and returns
/// each role's outcome with the input fed whole.
fn run(data: &[u8]) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for role in &roles() {
        let reference = run_once(data, role, STEPS[0]);
        for &step in &STEPS[1..] {
            // A split may change which call reports an error, never what is decided.
            let split = run_once(data, role, step);
            assert_eq!(split.result, reference.result, "step {step}");
            assert_eq!(split.output, reference.output, "step {step}");
            assert_eq!(split.complete, reference.complete, "step {step}");
            assert_eq!(split.kind, reference.kind, "step {step}");
            if reference.result.is_ok() {
                assert_eq!(split.leftover, reference.leftover, "step {step}");
            }
        }
        if reference.complete {
            // Exactly the handshake is consumed: 1 + 2 * 1536 bytes; the rest is left.
            assert_eq!(reference.leftover, data[1 + 2 * HANDSHAKE_SIZE..]);
        }
        outcomes.push(reference);
    }
    outcomes
}

fuzz_target!(|data: &[u8]| {
    run(data);
});
