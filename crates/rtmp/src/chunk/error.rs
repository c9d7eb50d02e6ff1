//! Errors of the chunk stream layer (RTMP 1.0 §5.3, §5.4.1, §5.4.2).
//!
//! Every variant is a rule the peer broke or a configured limit it exceeded. All of them mean
//! the byte stream can no longer be framed reliably, so the only reaction is to close the
//! connection (there is no in-band error reply at this layer).

use thiserror::Error;

/// A chunk stream decoding failure. The decoder is unusable afterwards: it returns the same error
/// on every later call and the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// Set Chunk Size carried 0 or a value with the top bit set (§5.4.1: 31 bits, 1..=0x7FFFFFFF).
    #[error("invalid chunk size {size}: Set Chunk Size must be 1..=0x7FFFFFFF (RTMP 1.0 §5.4.1)")]
    InvalidChunkSize {
        /// The value received.
        size: u32,
    },
    /// Set Chunk Size above [`ChunkLimits::max_chunk_size`](super::ChunkLimits::max_chunk_size).
    #[error("chunk size {size} exceeds the configured limit {limit}")]
    ChunkSizeTooLarge {
        /// The value received.
        size: u32,
        /// The configured limit.
        limit: u32,
    },
    /// A message header declared a length above
    /// [`ChunkLimits::max_message_size`](super::ChunkLimits::max_message_size).
    #[error("message of {len} bytes on chunk stream {csid} exceeds the configured limit {limit}")]
    MessageTooLarge {
        /// Chunk stream id.
        csid: u32,
        /// Declared message length.
        len: u32,
        /// The configured limit.
        limit: u32,
    },
    /// A new chunk stream id would exceed
    /// [`ChunkLimits::max_chunk_streams`](super::ChunkLimits::max_chunk_streams).
    #[error("more than {limit} chunk streams opened on one connection")]
    TooManyChunkStreams {
        /// The configured limit.
        limit: usize,
    },
    /// Partially received messages would hold more than
    /// [`ChunkLimits::max_buffered_bytes`](super::ChunkLimits::max_buffered_bytes).
    #[error("partially received messages exceed the buffered bytes limit of {limit}")]
    BufferedBytesLimit {
        /// The configured limit.
        limit: usize,
    },
    /// The first chunk seen on a chunk stream was not type 0, so there is no previous header to
    /// take the omitted fields from (§5.3.1.2). Type 1 on a fresh chunk stream 2 is tolerated
    /// (librtmp pings), see the decoder docs.
    #[error(
        "chunk type {fmt} on chunk stream {csid} without a prior type 0 header (RTMP 1.0 §5.3.1.2)"
    )]
    Fmt1Or2OrFmt3WithoutPriorHeader {
        /// Chunk stream id.
        csid: u32,
        /// The chunk type (1, 2 or 3).
        fmt: u8,
    },
    /// A type 0 or 1 header arrived while a message was still being assembled on that chunk
    /// stream and declared a different length (§5.3.1.2.4: the remaining chunks of a message
    /// continue it, they cannot resize it).
    #[error("message length changed from {expected} to {got} in the middle of a message on chunk stream {csid}")]
    MessageLengthChangedMidMessage {
        /// Chunk stream id.
        csid: u32,
        /// Length declared by the message's first chunk.
        expected: u32,
        /// Length declared by the offending header.
        got: u32,
    },
    /// A Set Chunk Size (type 1) or Abort (type 2) message had fewer than the 4 payload bytes
    /// §5.4.1 and §5.4.2 require.
    #[error("protocol control message type {type_id} has {len} payload bytes, 4 required (RTMP 1.0 §5.4)")]
    ControlMessageTooShort {
        /// Message type id (1 or 2).
        type_id: u8,
        /// Payload length received.
        len: usize,
    },
}
