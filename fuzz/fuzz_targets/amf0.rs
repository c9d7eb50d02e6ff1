//! Fuzz target: arbitrary bytes as an AMF0 message. Decoding must never panic, and every
//! message that decodes must survive re-encoding unchanged (see `sluice_amf::check`).
//! Both the default (lenient ECMA array end) and strict settings are exercised.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_amf::{check, AmfLimits};

fuzz_target!(|data: &[u8]| {
    let _ = check::amf0_round_trip(data, &AmfLimits::default());
    let strict = AmfLimits {
        allow_unterminated_ecma_array: false,
        ..AmfLimits::default()
    };
    let _ = check::amf0_round_trip(data, &strict);
});
