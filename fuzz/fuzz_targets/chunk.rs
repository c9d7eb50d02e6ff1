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
//! The driver lives in `sluice_rtmp::check::chunk`, shared with
//! `crates/rtmp/tests/chunk_corpus.rs`, which replays `fuzz/corpus/chunk/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sluice_rtmp::check::chunk::run(data);
});
