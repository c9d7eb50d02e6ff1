//! The RTMP chunk stream (RTMP 1.0 §5.3): splitting messages into chunks and reassembling them,
//! sans-IO.
//!
//! * [`ChunkDecoder`] turns received bytes into [`RawMessage`]s following the tokio-util decoder
//!   contract (`Ok(None)` = need more bytes, `Err` = corrupt stream). It applies Set Chunk Size
//!   (§5.4.1) and Abort (§5.4.2) itself, before the next chunk is read, and still hands those
//!   messages to the caller.
//! * [`ChunkEncoder`] serialises messages with header compression against the previous message on
//!   the same chunk stream, into a `BytesMut` ([`ChunkEncoder::encode`]) or as zero-copy segments
//!   for a vectored write ([`ChunkEncoder::encode_vectored`]).
//! * [`encode_standalone`] serialises a message with a type 0 first chunk and no per-connection
//!   state, so one serialisation can be shared by every player using the same chunk size.
//!
//! Wire summary (§5.3.1): basic header of 1 byte (csid 2..=63), 2 bytes (csid 64..=319, second
//! byte = csid − 64) or 3 bytes (csid 64..=65599, bytes 2–3 = csid − 64 little-endian); then a
//! message header of 11 (type 0: timestamp, length, type id, stream id), 7 (type 1: delta, length,
//! type id), 3 (type 2: delta) or 0 (type 3) bytes; then a 4-byte extended timestamp when the
//! 24-bit timestamp field is 0xFFFFFF; then at most `chunk size` payload bytes.
//!
//! Every quantity the peer controls is bounded by [`ChunkLimits`].

mod decoder;
mod encoder;
mod error;
mod header;

#[cfg(test)]
mod tests;

pub use decoder::ChunkDecoder;
pub use encoder::{encode_standalone, ChunkEncoder};
pub use error::ChunkError;

#[cfg(doc)]
use crate::RawMessage;

/// Chunk size in force in both directions until a Set Chunk Size message changes it (§5.4.1).
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Largest chunk size the protocol can express (31 bits, §5.4.1).
pub const MAX_CHUNK_SIZE: u32 = 0x7FFF_FFFF;
/// Smallest chunk stream id (0 and 1 select the 2- and 3-byte basic header forms).
pub const MIN_CSID: u32 = 2;
/// Largest chunk stream id (3-byte basic header form: 64 + 0xFFFF).
pub const MAX_CSID: u32 = 65_599;
/// Largest message length the 24-bit length field can express.
pub const MAX_MESSAGE_LENGTH: u32 = 0x00FF_FFFF;

/// Bounds on what a peer can make the [`ChunkDecoder`] hold. Exceeding any of them is a
/// [`ChunkError`] and the connection must be closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkLimits {
    /// Largest chunk size accepted in a Set Chunk Size message.
    ///
    /// Default: [`MAX_CHUNK_SIZE`] (0x7FFFFFFF, everything the protocol allows). A large chunk
    /// size costs no memory by itself: a chunk never carries more than the rest of its message,
    /// which `max_message_size` and `max_buffered_bytes` bound.
    pub max_chunk_size: u32,
    /// Largest message length accepted in a type 0 or type 1 header.
    ///
    /// Default: 8 MiB (8 388 608 bytes), comfortably above a 4K keyframe at broadcast bitrates
    /// and half the 16 MiB the 24-bit field could declare.
    pub max_message_size: u32,
    /// Distinct chunk stream ids tracked per connection (their state is kept for the life of the
    /// connection, as header compression requires).
    ///
    /// Default: 64. Real clients use fewer than ten (control, command, audio, video, data per
    /// stream).
    pub max_chunk_streams: usize,
    /// Total buffer capacity reserved for partially received messages across all chunk streams.
    /// Buffers grow with the bytes that actually arrived (at most doubling, never beyond the
    /// declared length), never from the declared length alone.
    ///
    /// Default: 32 MiB (four maximum-size messages in flight at once).
    pub max_buffered_bytes: usize,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        ChunkLimits {
            max_chunk_size: MAX_CHUNK_SIZE,
            max_message_size: 8 * 1024 * 1024,
            max_chunk_streams: 64,
            max_buffered_bytes: 32 * 1024 * 1024,
        }
    }
}
