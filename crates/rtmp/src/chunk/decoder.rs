//! Chunk stream reassembly (RTMP 1.0 §5.3): bytes in, complete [`RawMessage`]s out.
//!
//! Decisions where the spec is silent or real peers disagree:
//!
//! * **Type 3 starting a new message** reuses the previous header on that chunk stream and adds
//!   its timestamp delta again (§5.3.1.2.4). After a type 0 header the "delta" is the type 0
//!   timestamp field itself, as ffmpeg (`ts_field`) and SRS (`timestamp_delta`) both do, and as
//!   ffmpeg's own encoder assumes when it sends type 3 after type 0.
//! * **Extended timestamp on type 3 chunks.** The spec says type 3 chunks repeat the 4-byte
//!   extended timestamp when the latest type 0/1/2 header on the chunk stream had one; some peers
//!   do, some do not (notably for continuation chunks). The decoder accepts both the way SRS and
//!   librtmp do: it peeks at the 4 bytes after a type 3 basic header and treats them as the repeat
//!   when they equal the stored extended value, as payload otherwise. Known ambiguity: a peer that
//!   does *not* repeat, whose payload happens to continue with exactly those 4 bytes at a chunk
//!   boundary, is mis-framed; and with such a peer the decoder waits for 4 bytes after a type 3
//!   header even when fewer remain of the message.
//! * **Type 1/2/3 as the first chunk on a chunk stream** is rejected with
//!   [`ChunkError::Fmt1Or2OrFmt3WithoutPriorHeader`] (the omitted fields are unknown), with one
//!   exception: type 1 on a fresh chunk stream 2 is accepted with stream id 0 and a timestamp base
//!   of 0, because librtmp answers pings that way (SRS accepts it for the same reason).
//! * **Type 0/1/2 headers in the middle of a message** (where type 3 is expected) are tolerated as
//!   continuation chunks when they declare the same length, like ffmpeg; their timestamp, type and
//!   stream id are ignored, but their extended-timestamp presence governs later type 3 chunks. A
//!   different length is [`ChunkError::MessageLengthChangedMidMessage`].
//! * **Set Chunk Size and Abort** are recognised by their type id on any chunk stream and message
//!   stream (the spec puts them on chunk stream 2, stream 0). Set Chunk Size with the top bit set
//!   is rejected ([`ChunkError::InvalidChunkSize`]) rather than masked: §5.4.1 says the bit MUST be
//!   zero and a peer setting it is not speaking RTMP.
//!
//! Memory: a message that fits in one chunk is handed out as a zero-copy slice of the input
//! (the caller's buffer then holds at most one such message, itself bounded by
//! `max_message_size`). Longer messages are copied into a per-chunk-stream buffer that grows with
//! the bytes received, at most doubling and never beyond the declared length; the sum of these
//! buffers' capacities is bounded by [`ChunkLimits::max_buffered_bytes`].

use std::cmp::{max, min};

use bytes::{Buf, Bytes, BytesMut};

use super::header::{self, Fmt, WireHeader};
use super::{ChunkError, ChunkLimits, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE};
use crate::types::{MessageType, RawMessage, Timestamp};

/// Smallest capacity a reassembly buffer grows to (unless the message is shorter), so tiny chunk
/// sizes do not cause a reallocation per chunk.
const MIN_GROWTH: usize = 4096;

/// Per chunk stream state: the last header (for compression) and the message being assembled.
#[derive(Debug)]
struct StreamState {
    csid: u32,
    /// Timestamp of the message in progress, or of the last message.
    timestamp: Timestamp,
    /// Delta a type 3 header starting a new message adds again.
    delta: u32,
    length: u32,
    type_id: MessageType,
    stream_id: u32,
    /// Value of the extended timestamp carried by the latest type 0/1/2 header, if it had one.
    extended: Option<u32>,
    /// Bytes received so far of a message spanning several chunks; `None` when idle.
    partial: Option<BytesMut>,
}

/// Where the decoder is inside the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    /// At a chunk boundary: the next bytes are a chunk header.
    Header,
    /// Inside the payload of a chunk of `streams[slot]`, `remaining` bytes to go. `whole`: the
    /// chunk carries the entire message, which is cut from the input without copying.
    Payload {
        slot: usize,
        remaining: usize,
        whole: bool,
    },
    /// Skipping the rest of a chunk whose message was aborted.
    Discard { remaining: usize },
}

/// Marks an unused entry of [`ChunkDecoder`]'s small chunk-stream index.
const NO_SLOT: u8 = u8::MAX;

/// Reassembles RTMP messages from a chunk stream (RTMP 1.0 §5.3), sans-IO.
///
/// Feed it the bytes received after the handshake with [`decode`](Self::decode) until it returns
/// `Ok(None)`, then read more. See the [module docs](self) for how ambiguous inputs are treated.
#[derive(Debug)]
pub struct ChunkDecoder {
    limits: ChunkLimits,
    chunk_size: u32,
    streams: Vec<StreamState>,
    /// Index into `streams` for one-byte chunk stream ids (the common case); [`NO_SLOT`] when
    /// unknown. `u8` keeps this table at 64 bytes per connection (it was 1 KiB as
    /// `Option<usize>`); a slot that does not fit goes to `large_index`.
    small_index: [u8; 64],
    /// Index into `streams` for chunk stream ids 64 and above.
    /// Searched linearly: ids from 64 up are rare and the number of chunk streams is bounded by
    /// [`ChunkLimits::max_chunk_streams`] (64 by default).
    large_index: Vec<(u32, usize)>,
    state: ReadState,
    /// Sum of the capacities of all `partial` buffers.
    buffered: usize,
    consumed: u64,
    /// Set by the first error; every later call returns it.
    failed: Option<ChunkError>,
    /// Single-chunk messages up to this many bytes are copied instead of sliced (0 = never).
    copy_threshold: usize,
}

impl Default for ChunkDecoder {
    fn default() -> Self {
        ChunkDecoder::new(ChunkLimits::default())
    }
}

impl ChunkDecoder {
    /// A decoder at the start of a connection (chunk size 128, no chunk streams known).
    pub fn new(limits: ChunkLimits) -> Self {
        ChunkDecoder {
            limits,
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: Vec::new(),
            small_index: [NO_SLOT; 64],
            large_index: Vec::new(),
            state: ReadState::Header,
            buffered: 0,
            consumed: 0,
            failed: None,
            copy_threshold: 0,
        }
    }

    /// Copy single-chunk messages of up to `bytes` out of the input instead of slicing them from
    /// it (default 0: always zero-copy). A receiver that keeps small messages for long — a
    /// server's GOP cache holds seconds of audio frames of a few hundred bytes — sets this so
    /// that each kept message does not pin the whole input buffer it arrived in.
    #[must_use]
    pub fn with_copy_threshold(mut self, bytes: usize) -> Self {
        self.copy_threshold = bytes;
        self
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> &ChunkLimits {
        &self.limits
    }

    /// Decodes at most one message from the front of `src`, consuming the bytes it used.
    ///
    /// Follows the tokio-util decoder contract: `Ok(None)` means more bytes are needed (nothing
    /// is lost: complete chunk payload bytes are consumed and kept, an incomplete header is left
    /// in `src` and re-read, headers being at most 18 bytes); `Ok(Some(msg))` is one complete
    /// message; `Err` means the stream is corrupt or a limit was exceeded, the connection must be
    /// closed, and every later call returns the same error.
    ///
    /// Set Chunk Size (type 1) and Abort (type 2) messages are applied before they are returned,
    /// so they govern the very next chunk.
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RawMessage>, ChunkError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let result = self.decode_inner(src);
        if let Err(err) = &result {
            self.failed = Some(err.clone());
        }
        result
    }

    /// The chunk size currently applied to received chunks (128 until the peer changes it).
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Sets the inbound chunk size, as a received Set Chunk Size message does (the decoder calls
    /// this itself for such messages). Takes effect from the next chunk, also in the middle of a
    /// message.
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), ChunkError> {
        if size == 0 || size > MAX_CHUNK_SIZE {
            return Err(ChunkError::InvalidChunkSize { size });
        }
        if size > self.limits.max_chunk_size {
            return Err(ChunkError::ChunkSizeTooLarge {
                size,
                limit: self.limits.max_chunk_size,
            });
        }
        self.chunk_size = size;
        Ok(())
    }

    /// Drops the partially received message on chunk stream `csid`, as a received Abort message
    /// does (the decoder calls this itself for such messages). If the decoder is in the middle of
    /// a chunk of that message, the rest of the chunk is skipped. Unknown ids are ignored.
    pub fn abort(&mut self, csid: u32) {
        let Some(slot) = self.lookup(csid) else {
            return;
        };
        if let Some(stream) = self.streams.get_mut(slot) {
            if let Some(partial) = stream.partial.take() {
                self.buffered = self.buffered.saturating_sub(partial.capacity());
            }
        }
        if let ReadState::Payload {
            slot: current,
            remaining,
            ..
        } = self.state
        {
            if current == slot {
                self.state = ReadState::Discard { remaining };
            }
        }
    }

    /// Total bytes consumed from the input so far (what Acknowledgement messages count, §5.4.3).
    pub fn bytes_consumed(&self) -> u64 {
        self.consumed
    }

    /// Capacity currently reserved for partially received messages.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    fn lookup(&self, csid: u32) -> Option<usize> {
        match usize::try_from(csid) {
            Ok(i) if i < self.small_index.len() => match self.small_index.get(i).copied() {
                Some(NO_SLOT) | None => self.large_lookup(csid),
                Some(slot) => Some(usize::from(slot)),
            },
            _ => self.large_lookup(csid),
        }
    }

    fn large_lookup(&self, csid: u32) -> Option<usize> {
        self.large_index
            .iter()
            .find(|(id, _)| *id == csid)
            .map(|(_, slot)| *slot)
    }

    fn insert(&mut self, stream: StreamState) -> Result<usize, ChunkError> {
        if self.streams.len() >= self.limits.max_chunk_streams {
            return Err(ChunkError::TooManyChunkStreams {
                limit: self.limits.max_chunk_streams,
            });
        }
        let slot = self.streams.len();
        let csid = stream.csid;
        self.streams.push(stream);
        let small = u8::try_from(slot).ok().filter(|s| *s != NO_SLOT);
        match (
            small,
            usize::try_from(csid)
                .ok()
                .and_then(|i| self.small_index.get_mut(i)),
        ) {
            (Some(s), Some(entry)) => *entry = s,
            _ => {
                self.large_index.push((csid, slot));
            }
        }
        Ok(slot)
    }

    fn consume(&mut self, src: &mut BytesMut, n: usize) {
        src.advance(n);
        self.consumed += n as u64;
    }

    fn decode_inner(&mut self, src: &mut BytesMut) -> Result<Option<RawMessage>, ChunkError> {
        loop {
            match self.state {
                ReadState::Header => {
                    let Some(wire) = header::parse(src) else {
                        return Ok(None);
                    };
                    let Some(header_len) = self.begin_chunk(&wire, src)? else {
                        return Ok(None);
                    };
                    self.consume(src, header_len);
                }
                ReadState::Discard { remaining } => {
                    let n = min(remaining, src.len());
                    self.consume(src, n);
                    if n < remaining {
                        self.state = ReadState::Discard {
                            remaining: remaining - n,
                        };
                        return Ok(None);
                    }
                    self.state = ReadState::Header;
                }
                ReadState::Payload {
                    slot,
                    remaining,
                    whole,
                } => {
                    if let Some(msg) = self.read_payload(src, slot, remaining, whole)? {
                        return Ok(Some(msg));
                    }
                    if self.state != ReadState::Header {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Applies a parsed chunk header to its chunk stream and enters the payload state. Returns the
    /// header length to consume, or `None` (with nothing changed) when the bytes that decide
    /// whether a type 3 header repeats the extended timestamp have not arrived yet.
    fn begin_chunk(&mut self, wire: &WireHeader, src: &[u8]) -> Result<Option<usize>, ChunkError> {
        let csid = wire.csid;
        if matches!(wire.fmt, Fmt::Full | Fmt::SameStream)
            && wire.length > self.limits.max_message_size
        {
            return Err(ChunkError::MessageTooLarge {
                csid,
                len: wire.length,
                limit: self.limits.max_message_size,
            });
        }
        let slot = match self.lookup(csid) {
            Some(slot) => slot,
            None => {
                let lenient_ping = wire.fmt == Fmt::SameStream && csid == 2;
                if wire.fmt != Fmt::Full && !lenient_ping {
                    return Err(ChunkError::Fmt1Or2OrFmt3WithoutPriorHeader {
                        csid,
                        fmt: wire.fmt as u8,
                    });
                }
                // Fields a type 1 header omits start from zero.
                self.insert(StreamState {
                    csid,
                    timestamp: Timestamp::ZERO,
                    delta: 0,
                    length: 0,
                    type_id: MessageType(0),
                    stream_id: 0,
                    extended: None,
                    partial: None,
                })?
            }
        };
        let chunk_size = self.chunk_size as usize;
        let Some(stream) = self.streams.get_mut(slot) else {
            // `slot` always comes from the index; unreachable, but never panic.
            return Ok(None);
        };
        let in_progress = stream.partial.is_some();
        let mut header_len = wire.len;
        let extended = wire.extended.then_some(wire.timestamp);
        match wire.fmt {
            Fmt::Full | Fmt::SameStream if in_progress => {
                if wire.length != stream.length {
                    return Err(ChunkError::MessageLengthChangedMidMessage {
                        csid,
                        expected: stream.length,
                        got: wire.length,
                    });
                }
                stream.extended = extended;
            }
            Fmt::DeltaOnly if in_progress => stream.extended = extended,
            Fmt::Full => {
                stream.timestamp = Timestamp(wire.timestamp);
                stream.delta = wire.timestamp;
                stream.length = wire.length;
                stream.type_id = MessageType(wire.type_id);
                stream.stream_id = wire.stream_id;
                stream.extended = extended;
            }
            Fmt::SameStream => {
                stream.timestamp = stream.timestamp.add(wire.timestamp);
                stream.delta = wire.timestamp;
                stream.length = wire.length;
                stream.type_id = MessageType(wire.type_id);
                stream.extended = extended;
            }
            Fmt::DeltaOnly => {
                stream.timestamp = stream.timestamp.add(wire.timestamp);
                stream.delta = wire.timestamp;
                stream.extended = extended;
            }
            Fmt::Continuation => {
                if let Some(value) = stream.extended {
                    match src.get(header_len..).and_then(header::be32) {
                        None => return Ok(None),
                        Some(repeat) if repeat == value => header_len += 4,
                        Some(_) => {}
                    }
                }
                if !in_progress {
                    stream.timestamp = stream.timestamp.add(stream.delta);
                }
            }
        }
        let received = stream.partial.as_ref().map_or(0, BytesMut::len);
        let left = (stream.length as usize).saturating_sub(received);
        let chunk = min(left, chunk_size);
        self.state = if !in_progress && chunk == left {
            ReadState::Payload {
                slot,
                remaining: left,
                whole: true,
            }
        } else {
            stream.partial.get_or_insert_with(BytesMut::new);
            ReadState::Payload {
                slot,
                remaining: chunk,
                whole: false,
            }
        };
        Ok(Some(header_len))
    }

    /// Moves payload bytes of the current chunk. Returns a message when one completes; otherwise
    /// `None`, with the state left in `Payload` (need more bytes) or `Header` (chunk done).
    fn read_payload(
        &mut self,
        src: &mut BytesMut,
        slot: usize,
        remaining: usize,
        whole: bool,
    ) -> Result<Option<RawMessage>, ChunkError> {
        if whole {
            if src.len() < remaining {
                return Ok(None);
            }
            // Zero-copy by default. With a copy threshold set, small messages are copied out: a
            // slice of a few hundred bytes kept alive for long (say in a GOP cache) would
            // otherwise pin the whole input buffer it was cut from.
            let payload = if remaining <= self.copy_threshold {
                let p = Bytes::copy_from_slice(src.get(..remaining).unwrap_or_default());
                src.advance(remaining);
                p
            } else {
                src.split_to(remaining).freeze()
            };
            self.consumed += remaining as u64;
            self.state = ReadState::Header;
            return self.finish(slot, payload).map(Some);
        }
        let n = min(remaining, src.len());
        if n == 0 {
            return Ok(None);
        }
        let Some(stream) = self.streams.get_mut(slot) else {
            return Ok(None);
        };
        let declared = stream.length as usize;
        let partial = stream.partial.get_or_insert_with(BytesMut::new);
        let (len, cap) = (partial.len(), partial.capacity());
        if cap - len < n {
            let target = min(declared, max(len + n, max(2 * len, MIN_GROWTH)));
            let buffered = self.buffered - cap + target;
            if buffered > self.limits.max_buffered_bytes {
                return Err(ChunkError::BufferedBytesLimit {
                    limit: self.limits.max_buffered_bytes,
                });
            }
            let mut grown = BytesMut::with_capacity(target);
            grown.extend_from_slice(partial);
            self.buffered = self.buffered - cap + grown.capacity();
            *partial = grown;
        }
        partial.extend_from_slice(src.get(..n).unwrap_or_default());
        let complete = partial.len() >= declared;
        self.consume(src, n);
        if n < remaining {
            self.state = ReadState::Payload {
                slot,
                remaining: remaining - n,
                whole: false,
            };
            return Ok(None);
        }
        self.state = ReadState::Header;
        if !complete {
            return Ok(None);
        }
        let payload = match self.streams.get_mut(slot).and_then(|s| s.partial.take()) {
            Some(partial) => {
                self.buffered = self.buffered.saturating_sub(partial.capacity());
                partial.freeze()
            }
            None => Bytes::new(),
        };
        self.finish(slot, payload).map(Some)
    }

    /// Builds the completed message and applies protocol control messages that change framing.
    fn finish(&mut self, slot: usize, payload: Bytes) -> Result<RawMessage, ChunkError> {
        let (csid, timestamp, type_id, stream_id) = match self.streams.get(slot) {
            Some(s) => (s.csid, s.timestamp, s.type_id, s.stream_id),
            None => (0, Timestamp::ZERO, MessageType(0), 0),
        };
        if matches!(type_id, MessageType::SET_CHUNK_SIZE | MessageType::ABORT) {
            let value = header::be32(&payload).ok_or(ChunkError::ControlMessageTooShort {
                type_id: type_id.0,
                len: payload.len(),
            })?;
            if type_id == MessageType::SET_CHUNK_SIZE {
                self.set_chunk_size(value)?;
            } else {
                self.abort(value);
            }
        }
        Ok(RawMessage {
            csid,
            timestamp,
            type_id,
            stream_id,
            payload,
        })
    }
}
