//! Fuzz target: arbitrary bytes as an AMF3 message. Decoding must never panic, and every
//! message that decodes must survive re-encoding unchanged (see `sluice_amf::check`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_amf::{check, AmfLimits};

fuzz_target!(|data: &[u8]| {
    let _ = check::amf3_round_trip(data, &AmfLimits::default());
});
