//! Test helpers: hex literals with spaces, and real codec records shared by several modules.

/// Decodes hex, ignoring whitespace.
pub(crate) fn hx(s: &str) -> Vec<u8> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(clean).expect("valid hex in test")
}

/// hvcC written by ffmpeg 5.1 / libx265 3.5 for 1920x1080 Main, level 4 (SEI array
/// removed, numOfArrays patched to 3). The SPS codes 1920x1088 with an 8-line conformance
/// window at the bottom.
pub(crate) const HEVC_RECORD_1080P: &str = "01016000000090000000000078f000fcfdf8f800000f03\
    200001001840010c01ffff016000000300900000030000030078959809\
    210001002a420101016000000300900000030000030078a003c08010e596566924caf016808000000300800000\
    0c84\
    22000100074401c172b46240";
