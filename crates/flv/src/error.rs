//! The one error type of the FLV layer.
//!
//! Each variant names the rule of the FLV specification (v10.1, Annex E), the Enhanced RTMP v2
//! specification, or the codec configuration record syntax (ISO/IEC 14496-15, 14496-3, H.264,
//! H.265, AV1) that the input broke. Peer violations, local misuse (encoding a value that does not
//! fit its wire field) and I/O failures are separate variants.

use thiserror::Error;

/// Everything that can go wrong while reading or writing FLV data and the media tag bodies it
/// carries (which are also the payloads of RTMP audio and video messages).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FlvError {
    /// The input ends inside a structure that declares more bytes (or bits) than are present.
    #[error("truncated {what}: need {needed} more byte(s), {available} available")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Bytes the structure still needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// FLV header rule: a file starts with the signature "FLV".
    #[error("FLV header signature must be \"FLV\", found {0:02x?}")]
    BadSignature([u8; 3]),
    /// FLV header rule: DataOffset is the header size and is at least 9.
    #[error("FLV header DataOffset {0} is smaller than the 9-byte header")]
    DataOffsetTooSmall(u32),
    /// Local limit: DataOffset larger than [`FlvLimits::max_data_offset`](crate::FlvLimits).
    #[error("FLV header DataOffset {offset} exceeds the limit of {limit} bytes")]
    DataOffsetTooLarge {
        /// Declared DataOffset.
        offset: u32,
        /// Configured limit.
        limit: u32,
    },
    /// Local limit: a tag's DataSize is larger than [`FlvLimits::max_tag_size`](crate::FlvLimits).
    #[error("FLV tag DataSize {size} exceeds the limit of {limit} bytes")]
    TagTooLarge {
        /// Declared DataSize.
        size: u32,
        /// Configured limit.
        limit: u32,
    },
    /// FLV body rule: each PreviousTagSize equals 11 + DataSize of the tag before it (0 for the
    /// first one). Only reported when [`FlvLimits::strict_previous_tag_size`](crate::FlvLimits)
    /// is set.
    #[error("PreviousTagSize is {found}, the previous tag needs {expected}")]
    PreviousTagSizeMismatch {
        /// 11 + DataSize of the previous tag (0 before the first tag).
        expected: u32,
        /// Value found in the stream.
        found: u32,
    },
    /// The byte source ended in the middle of the FLV header or a tag.
    #[error("FLV stream ends inside a header or tag ({buffered} byte(s) left over)")]
    UnexpectedEof {
        /// Bytes that were buffered but did not form a complete unit.
        buffered: usize,
    },
    /// I/O error of the underlying reader or writer.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Local misuse: a value does not fit the wire field that has to carry it.
    #[error("{field} value {value} does not fit its {bits}-bit field")]
    FieldTooWide {
        /// The field being encoded.
        field: &'static str,
        /// The offending value.
        value: u64,
        /// Width of the field on the wire.
        bits: u8,
    },
    /// Local limit: more ModEx entries than [`FlvLimits::max_mod_ex_entries`](crate::FlvLimits).
    #[error("more than {limit} ModEx entries in one media tag header")]
    TooManyModEx {
        /// Configured limit.
        limit: usize,
    },
    /// Local limit: more NAL units in a configuration record than
    /// [`FlvLimits::max_parameter_sets`](crate::FlvLimits).
    #[error("configuration record holds more than {limit} parameter sets")]
    TooManyParameterSets {
        /// Configured limit.
        limit: usize,
    },
    /// Enhanced RTMP rule: TimestampOffsetNano ModEx data is at least 3 bytes.
    #[error("TimestampOffsetNano ModEx data is {size} byte(s), at least 3 are required")]
    ModExTooShort {
        /// Size of the ModEx data found.
        size: usize,
    },
    /// Enhanced RTMP rule: the packet type fetched after Multitrack must not be Multitrack again.
    #[error("packet type inside a multitrack header is Multitrack again")]
    NestedMultitrack,
    /// Enhanced RTMP rule: AvMultitrackType is 0, 1 or 2; other values leave the layout unknown.
    #[error("unknown AvMultitrackType {0}")]
    UnknownMultitrackType(u8),
    /// Enhanced RTMP rule: sizeOfAudioTrack / sizeOfVideoTrack must lie within the message.
    #[error("track size {declared} exceeds the {available} byte(s) left in the message")]
    TrackSizeOverflow {
        /// Declared track size.
        declared: u32,
        /// Bytes left in the message after the size field.
        available: usize,
    },
    /// A configuration record starts with a version (or marker) this crate does not understand.
    #[error("{record}: unsupported version/marker byte 0x{version:02x}")]
    UnsupportedConfigVersion {
        /// Record name, e.g. "AVCDecoderConfigurationRecord".
        record: &'static str,
        /// The byte found.
        version: u8,
    },
    /// A NAL unit or OBU of the wrong type was given where a parameter set was expected.
    #[error("expected {expected} unit, found type {found}")]
    UnexpectedUnitType {
        /// The unit expected, e.g. "H.264 SPS".
        expected: &'static str,
        /// The type found.
        found: u8,
    },
    /// Exp-Golomb rule: an ue(v) code has at most 31 leading zero bits (H.264 9.1).
    #[error("exp-Golomb code longer than 32 bits")]
    ExpGolombOverflow,
    /// A parameter set field is outside the range its specification allows.
    #[error("parameter set field {field} has out-of-range value {value}")]
    ParameterOutOfRange {
        /// Field name as in the specification.
        field: &'static str,
        /// Value found.
        value: u64,
    },
    /// ISO/IEC 14496-3 rule: samplingFrequencyIndex 13 and 14 are reserved.
    #[error("AAC samplingFrequencyIndex {0} is reserved")]
    AacReservedFrequencyIndex(u8),
    /// ISO/IEC 14496-3 rule: channelConfiguration 8..=10 and 15 are reserved.
    #[error("AAC channelConfiguration {0} is reserved")]
    AacReservedChannelConfig(u8),
    /// A sequence header was expected but the tag body carries something else.
    #[error("media tag is not a sequence header")]
    NotSequenceHeader,
    /// A codec-specific sequence header does not start with its required magic bytes.
    #[error("{codec} sequence header lacks its {magic} signature")]
    BadCodecSignature {
        /// Codec name.
        codec: &'static str,
        /// Expected signature.
        magic: &'static str,
    },
    /// SCRIPTDATA rule: the body is a name (AMF0 string) followed by values.
    #[error("script data must start with an AMF0 string name")]
    ScriptNameNotString,
    /// AMF decoding failed inside script data.
    #[error("AMF error in script data: {0}")]
    Amf(#[from] sluice_amf::AmfError),
}
