//! Fuzz target `flv`: demuxes the input as an FLV stream in input-dependent split points
//! (checking the result does not depend on them), round-trips every tag through the encoder,
//! and runs every tag-body parser, classifier and describer of `sluice-flv` on each tag body
//! and on the raw input. The same path runs over the seed corpus in
//! `crates/flv/tests/corpus.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sluice_flv::check::exercise_flv(data);
});
