//! Round-trip self-checks shared by the fuzz targets (`fuzz/fuzz_targets/amf{0,3}.rs`) and the
//! corpus test (`tests/corpus.rs`), so CI runs the fuzzers' exact code path on the seed corpus.
//!
//! Each check decodes arbitrary bytes; when they are valid it re-encodes the values, decodes
//! the result and requires the same values back. Values are compared through their encoding
//! (canonical for a given value tree), which compares doubles bit for bit and so copes with
//! NaN.

use crate::{amf0_encode_all, amf3_encode_all, Amf0Decoder, Amf3Decoder, AmfError, AmfLimits};

/// Decodes `data` as AMF0 with `limits`; if valid, checks the round trip and returns the
/// number of values.
///
/// # Panics
///
/// Only on a bug in this crate: when a re-encoded message does not decode, or decodes to
/// different values.
pub fn amf0_round_trip(data: &[u8], limits: &AmfLimits) -> Result<usize, AmfError> {
    let values = Amf0Decoder::with_limits(data, limits.clone()).decode_all()?;
    let first = amf0_encode_all(&values);
    let again = match Amf0Decoder::with_limits(&first, limits.clone()).decode_all() {
        Ok(v) => v,
        Err(e) => panic!("re-encoded AMF0 does not decode: {e}; values {values:?}"),
    };
    let second = amf0_encode_all(&again);
    assert_eq!(
        first, second,
        "AMF0 round trip changed the values: {values:?} became {again:?}"
    );
    Ok(values.len())
}

/// Decodes `data` as AMF3 with `limits`; if valid, checks the round trip and returns the
/// number of values.
///
/// # Panics
///
/// Only on a bug in this crate: when a re-encoded message does not decode, or decodes to
/// different values.
pub fn amf3_round_trip(data: &[u8], limits: &AmfLimits) -> Result<usize, AmfError> {
    let values = Amf3Decoder::with_limits(data, limits.clone()).decode_all()?;
    let first = amf3_encode_all(&values);
    let again = match Amf3Decoder::with_limits(&first, limits.clone()).decode_all() {
        Ok(v) => v,
        Err(e) => panic!("re-encoded AMF3 does not decode: {e}; values {values:?}"),
    };
    let second = amf3_encode_all(&again);
    assert_eq!(
        first, second,
        "AMF3 round trip changed the values: {values:?} became {again:?}"
    );
    Ok(values.len())
}
