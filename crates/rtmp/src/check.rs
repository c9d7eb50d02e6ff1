//! Invariant checks shared by the fuzz targets (`fuzz/fuzz_targets/handshake.rs`, `chunk.rs`)
//! and the corpus replay tests (`tests/handshake_corpus.rs`, `tests/chunk_corpus.rs`), so both
//! run exactly the same code. Not part of the API: the functions panic when an invariant breaks,
//! which is what a fuzzer or a test wants.

#![allow(missing_docs)]

/// The handshake driver: C0 C1 C2 into a server, S0 S1 S2 into clients, in several splittings
/// that must all agree (RTMP 1.0 §5.2).
pub mod handshake {
    use crate::handshake::{
        ClientHandshake, ClientHandshakeConfig, ClientHandshakeMode, HandshakeError, HandshakeKind,
        ServerHandshake, HANDSHAKE_SIZE,
    };
    use bytes::BytesMut;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// Piece sizes the input is cut into; `usize::MAX` feeds it whole.
    pub const STEPS: [usize; 4] = [usize::MAX, 1, 7, 1000];

    /// What one run produced (fields as observed after feeding the input).
    #[derive(Debug, PartialEq, Eq)]
    pub struct Outcome {
        pub result: Result<(), HandshakeError>,
        pub output: Vec<u8>,
        pub leftover: Vec<u8>,
        pub complete: bool,
        pub kind: Option<HandshakeKind>,
    }

    #[derive(Debug)]
    pub enum Role {
        Server,
        Client(ClientHandshakeConfig),
    }

    pub fn run_once(data: &[u8], role: &Role, step: usize) -> Outcome {
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
    pub fn roles() -> [Role; 4] {
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
    pub fn run(data: &[u8]) -> Vec<Outcome> {
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
}

/// The chunk stream driver: the first byte picks chunk size, cutting and limits; the rest is
/// decoded whole and in pieces, which must agree, then re-encoded and decoded again (RTMP 1.0
/// §5.3).
pub mod chunk {
    use crate::chunk::{ChunkDecoder, ChunkEncoder, ChunkError, ChunkLimits};
    use crate::{MessageType, RawMessage};
    use bytes::BytesMut;

    pub const CHUNK_SIZES: [u32; 8] = [128, 1, 2, 7, 64, 4096, 65_536, 0x7FFF_FFFF];
    pub const PIECES: [usize; 4] = [1, 5, 97, 4096];

    pub fn limits(small: bool) -> ChunkLimits {
        if small {
            ChunkLimits {
                max_chunk_size: 65_536,
                max_message_size: 4096,
                max_chunk_streams: 4,
                max_buffered_bytes: 8192,
            }
        } else {
            ChunkLimits::default()
        }
    }

    #[derive(Debug)]
    pub struct Outcome {
        pub messages: Vec<RawMessage>,
        pub error: Option<ChunkError>,
        pub consumed: u64,
        pub leftover: usize,
    }

    pub fn decode(data: &[u8], chunk_size: u32, limits: &ChunkLimits, piece: usize) -> Outcome {
        let mut dec = ChunkDecoder::new(limits.clone());
        let mut error = dec.set_chunk_size(chunk_size).err();
        let mut messages = Vec::new();
        let mut src = BytesMut::new();
        for part in data.chunks(piece.max(1)) {
            if error.is_some() {
                break;
            }
            src.extend_from_slice(part);
            loop {
                match dec.decode(&mut src) {
                    Ok(Some(m)) => messages.push(m),
                    Ok(None) => break,
                    Err(e) => {
                        assert_eq!(dec.decode(&mut src).err().as_ref(), Some(&e));
                        error = Some(e);
                        break;
                    }
                }
            }
        }
        Outcome {
            messages,
            error,
            consumed: dec.bytes_consumed(),
            leftover: src.len(),
        }
    }

    /// Returns the whole-input outcome for the corpus assertions below.
    pub fn run(data: &[u8]) -> Option<Outcome> {
        let (&config, rest) = data.split_first()?;
        let chunk_size = CHUNK_SIZES[usize::from(config & 7)];
        let piece = PIECES[usize::from((config >> 3) & 3)];
        let limits = limits(config & 0x20 != 0);

        let whole = decode(rest, chunk_size, &limits, rest.len());
        let cut = decode(rest, chunk_size, &limits, piece);
        let n = whole.messages.len().min(cut.messages.len());
        assert_eq!(whole.messages[..n], cut.messages[..n]);
        if whole.error.is_none() && cut.error.is_none() {
            assert_eq!(whole.messages, cut.messages);
            assert_eq!(whole.consumed, cut.consumed);
            assert_eq!(whole.consumed + whole.leftover as u64, rest.len() as u64);
            assert_eq!(cut.consumed + cut.leftover as u64, rest.len() as u64);
        }

        let replay: Vec<&RawMessage> = whole
            .messages
            .iter()
            .filter(|m| !matches!(m.type_id, MessageType::SET_CHUNK_SIZE | MessageType::ABORT))
            .collect();
        let mut enc = ChunkEncoder::new();
        let mut wire = BytesMut::new();
        for m in &replay {
            enc.encode(m, &mut wire);
        }
        let mut dec = ChunkDecoder::new(limits);
        let mut again = Vec::new();
        while let Some(m) = dec.decode(&mut wire).expect("re-encoded stream decodes") {
            again.push(m);
        }
        assert!(wire.is_empty());
        assert_eq!(again.len(), replay.len());
        assert!(again.iter().zip(&replay).all(|(a, b)| a == *b));
        Some(whole)
    }
}
