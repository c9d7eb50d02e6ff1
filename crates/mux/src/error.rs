//! The one error type of this crate.
//!
//! Every error concerns a single input (one FLV tag body, one configuration record or one
//! sample), so a live caller logs the error and goes on with the next message. A rejected
//! sample or configuration leaves the muxer as it was; [`MuxError::FragmentTooLarge`] leaves
//! the samples queued. Variants caused by the peer's bytes (malformed headers,
//! unsupported codecs) are distinguished from local misuse (a sample for a track that has no
//! configuration).

use sluice_flv::FlvError;

use crate::TrackKind;

/// What went wrong while turning FLV media into fMP4.
#[derive(Debug, thiserror::Error)]
pub enum MuxError {
    /// The FLV tag header or a codec configuration record does not parse (peer data).
    #[error("malformed FLV media: {0}")]
    Flv(#[from] FlvError),
    /// A video codec this muxer has no ISOBMFF sample entry for (H.263, VP6, VP8, VVC...).
    #[error("video codec {0} is not supported in fMP4 by this muxer")]
    UnsupportedVideoCodec(String),
    /// An audio codec this muxer has no ISOBMFF sample entry for (MP3, Speex, FLAC, AC-3...).
    #[error("audio codec {0} is not supported in fMP4 by this muxer")]
    UnsupportedAudioCodec(String),
    /// The Opus `SequenceStart` body is not an OpusHead (RFC 7845 5.1: magic, length).
    #[error("bad OpusHead: {0}")]
    BadOpusHead(&'static str),
    /// An AudioSpecificConfig with a sample rate of 0, which cannot be a track timescale
    /// (14496-12 8.4.2.3).
    #[error("audio sample rate {0} Hz cannot be a timescale")]
    BadSampleRate(u32),
    /// A coded frame arrived for a track whose sequence header has not (local misuse, or a
    /// publisher that skipped the sequence header).
    #[error("{0:?} sample before its sequence header")]
    SampleBeforeConfig(TrackKind),
    /// A coded frame with no bytes.
    #[error("empty {0:?} sample")]
    EmptySample(TrackKind),
    /// The samples of one fragment add up to more than a 32-bit `mdat` (and `trun` data offset)
    /// can address.
    #[error("fragment media data of {0} bytes exceeds 4 GiB")]
    FragmentTooLarge(u64),
}
