//! Fuzz target for the chunk stream decoder (`sluice_rtmp::chunk`, RTMP 1.0 §5.3).
//!
//! The first input byte picks the configuration: bits 0–2 an initial inbound chunk size
//! (128, 1, 2, 7, 64, 4096, 65536, 0x7FFFFFFF), bits 3–4 how the rest is cut into pieces
//! (1, 5, 97 or 4096 bytes), bit 5 small limits instead of the defaults. The rest is fed to a
//! `ChunkDecoder` whole and in pieces. Neither run may panic; their message lists must agree (one
//! is a prefix of the other: only the buffer-limit error point may depend on the cutting); when
//! both succeed they must agree exactly, with consumed + leftover = input. Every decoded message
//! except Set Chunk Size / Abort is then re-encoded with `ChunkEncoder` and must decode back
//! identically.
//!
//! `crates/rtmp/tests/chunk_corpus.rs` replays `fuzz/corpus/chunk/` through a copy of `run`
//! below; keep the two in step.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sluice_rtmp::chunk::{ChunkDecoder, ChunkEncoder, ChunkError, ChunkLimits};
use sluice_rtmp::{MessageType, RawMessage};

const CHUNK_SIZES: [u32; 8] = [128, 1, 2, 7, 64, 4096, 65_536, 0x7FFF_FFFF];
const PIECES: [usize; 4] = [1, 5, 97, 4096];

fn limits(small: bool) -> ChunkLimits {
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

struct Outcome {
    messages: Vec<RawMessage>,
    error: Option<ChunkError>,
    consumed: u64,
    leftover: usize,
}

fn decode(data: &[u8], chunk_size: u32, limits: &ChunkLimits, piece: usize) -> Outcome {
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
                    // Sticky: the same error again.
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

fn run(data: &[u8]) {
    let Some((&config, rest)) = data.split_first() else {
        return;
    };
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

    // Re-encode what was decoded and decode it again.
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
}

fuzz_target!(|data: &[u8]| run(data));
