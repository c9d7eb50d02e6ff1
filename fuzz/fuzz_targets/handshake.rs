//! Fuzz target for the sans-IO handshake (`sluice_rtmp::handshake`, RTMP 1.0 §5.2): the input is
//! fed to a `ServerHandshake` as C0 C1 C2 and to `ClientHandshake`s (digest, strict digest,
//! simple) as S0 S1 S2, each in several splittings (whole, byte by byte, odd-sized pieces). None
//! may panic, and every splitting must give the same outcome, output and leftover bytes.
//!
//! The driver lives in `sluice_rtmp::check::handshake`, shared with
//! `crates/rtmp/tests/handshake_corpus.rs`, which replays `fuzz/corpus/handshake/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sluice_rtmp::check::handshake::run(data);
});
