//! Message serialisation into chunks (RTMP 1.0 §5.3.1, §5.3.2).
//!
//! [`ChunkEncoder`] keeps, per chunk stream, the header it last sent so it can compress the next
//! one: type 0 for the first message on a chunk stream, a new message stream id or a timestamp
//! that goes backwards; type 1 when length or type id change; type 2 when only the timestamp
//! delta changes; type 3 when everything including the delta repeats. Type 3 for a new message is
//! only used after a type 1/2 header with the same delta, never right after a type 0 header
//! (peers disagree on which delta a type 3 re-applies after type 0) and never with an extended
//! delta (peers disagree on whether such a type 3 repeats the 4 bytes). Continuation chunks of a
//! message whose header had an extended timestamp repeat the 4 bytes, as §5.3.1.3 says and as
//! ffmpeg, librtmp and Flash expect.
//!
//! Misuse by the caller (not by the peer) panics: a chunk stream id outside 2..=65599, a payload
//! longer than the 24-bit length field (16 MiB − 1) or a chunk size outside 1..=0x7FFFFFFF.

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};

use super::header::{self, Fmt, OutHeader};
use super::{DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MAX_CSID, MAX_MESSAGE_LENGTH, MIN_CSID};
use crate::types::{MessageType, RawMessage, Timestamp};

/// What the peer's decoder remembers about a chunk stream after our last message on it.
#[derive(Clone, Copy, Debug)]
struct SentHeader {
    timestamp: Timestamp,
    /// The delta of the last type 1/2 header (re-applied by a type 3 new message); `None` after a
    /// type 0 header.
    delta: Option<u32>,
    length: u32,
    type_id: MessageType,
    stream_id: u32,
}

/// Serialises RTMP messages into chunks for one connection direction (RTMP 1.0 §5.3).
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use sluice_rtmp::chunk::{ChunkDecoder, ChunkEncoder};
/// use sluice_rtmp::{MessageType, RawMessage, Timestamp};
///
/// let msg = RawMessage {
///     csid: 6,
///     timestamp: Timestamp(40),
///     type_id: MessageType::VIDEO,
///     stream_id: 1,
///     payload: Bytes::from(vec![0x17; 300]),
/// };
/// let mut out = BytesMut::new();
/// ChunkEncoder::new().encode(&msg, &mut out);
/// let decoded = ChunkDecoder::default().decode(&mut out).unwrap();
/// assert_eq!(decoded, Some(msg));
/// ```
#[derive(Debug)]
pub struct ChunkEncoder {
    chunk_size: u32,
    sent: crate::vecmap::VecMap<SentHeader>,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        ChunkEncoder::new()
    }
}

impl ChunkEncoder {
    /// An encoder at the start of a connection: chunk size 128, no header history.
    pub fn new() -> Self {
        ChunkEncoder {
            chunk_size: DEFAULT_CHUNK_SIZE,
            sent: crate::vecmap::VecMap::new(),
        }
    }

    /// The outbound chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Changes the outbound chunk size. Send the Set Chunk Size message first (it is encoded at
    /// the old size), then call this.
    ///
    /// # Panics
    /// If `size` is 0 or above 0x7FFFFFFF (§5.4.1); that is a bug in the caller.
    pub fn set_chunk_size(&mut self, size: u32) {
        assert!(
            (1..=MAX_CHUNK_SIZE).contains(&size),
            "chunk size {size} outside 1..=0x7FFFFFFF (RTMP 1.0 §5.4.1)"
        );
        self.chunk_size = size;
    }

    /// Serialises `msg` into `out`, copying the payload.
    ///
    /// # Panics
    /// If `msg.csid` is outside 2..=65599 or the payload is longer than 16 MiB − 1.
    pub fn encode(&mut self, msg: &RawMessage, out: &mut BytesMut) {
        let first = self.plan(msg);
        write_contiguous(&first, &msg.payload, self.chunk_size, out);
    }

    /// Serialises `msg` as segments for a vectored write: header bytes (from one small allocation
    /// per message) interleaved with zero-copy slices of the payload.
    ///
    /// # Panics
    /// As [`encode`](Self::encode).
    pub fn encode_vectored(&mut self, msg: &RawMessage, out: &mut Vec<Bytes>) {
        let first = self.plan(msg);
        write_segments(&first, &msg.payload, self.chunk_size, out);
    }

    /// As [`encode_vectored`](Self::encode_vectored), appending straight to a connection's output
    /// queue (no intermediate list to fill and drain for every message of every player).
    pub(crate) fn encode_vectored_queue(&mut self, msg: &RawMessage, out: &mut VecDeque<Bytes>) {
        let first = self.plan(msg);
        write_segments(&first, &msg.payload, self.chunk_size, out);
    }

    /// Records that `msg` was sent on this connection through [`encode_standalone`] (a type 0
    /// header), so the next message on the same chunk stream is compressed against what the peer
    /// actually saw. Call it for every shared message written to this peer.
    ///
    /// # Panics
    /// As [`encode`](Self::encode).
    pub fn record_standalone(&mut self, msg: &RawMessage) {
        let length = checked_length(msg);
        self.sent.insert(
            msg.csid,
            SentHeader {
                timestamp: msg.timestamp,
                delta: None,
                length,
                type_id: msg.type_id,
                stream_id: msg.stream_id,
            },
        );
    }

    /// Chooses the first chunk's header for `msg` and records it.
    fn plan(&mut self, msg: &RawMessage) -> OutHeader {
        let length = checked_length(msg);
        let prev = self.sent.get(&msg.csid).copied();
        let (fmt, timestamp, delta) = match prev {
            Some(p) if p.stream_id == msg.stream_id && msg.timestamp >= p.timestamp => {
                let delta = msg.timestamp.delta_since(p.timestamp);
                let fmt = if p.length != length || p.type_id != msg.type_id {
                    Fmt::SameStream
                } else if p.delta == Some(delta) && delta < header::EXTENDED_TIMESTAMP_MARK {
                    Fmt::Continuation
                } else {
                    Fmt::DeltaOnly
                };
                (fmt, delta, Some(delta))
            }
            _ => (Fmt::Full, msg.timestamp.value(), None),
        };
        self.sent.insert(
            msg.csid,
            SentHeader {
                timestamp: msg.timestamp,
                delta,
                length,
                type_id: msg.type_id,
                stream_id: msg.stream_id,
            },
        );
        OutHeader {
            fmt,
            csid: msg.csid,
            timestamp,
            length,
            type_id: msg.type_id.0,
            stream_id: msg.stream_id,
        }
    }
}

/// Serialises `msg` with a type 0 first chunk at `chunk_size`, independent of any connection
/// state, as segments for a vectored write (header bytes from one allocation, zero-copy payload
/// slices). The segments can be shared by every receiver whose outbound chunk size is
/// `chunk_size`; tell each receiver's [`ChunkEncoder`] with
/// [`record_standalone`](ChunkEncoder::record_standalone).
///
/// # Panics
/// If `msg.csid` is outside 2..=65599, the payload is longer than 16 MiB − 1, or `chunk_size`
/// is outside 1..=0x7FFFFFFF.
pub fn encode_standalone(msg: &RawMessage, chunk_size: u32, out: &mut Vec<Bytes>) {
    assert!(
        (1..=MAX_CHUNK_SIZE).contains(&chunk_size),
        "chunk size {chunk_size} outside 1..=0x7FFFFFFF (RTMP 1.0 §5.4.1)"
    );
    let first = OutHeader {
        fmt: Fmt::Full,
        csid: msg.csid,
        timestamp: msg.timestamp.value(),
        length: checked_length(msg),
        type_id: msg.type_id.0,
        stream_id: msg.stream_id,
    };
    write_segments(&first, &msg.payload, chunk_size, out);
}

/// Validates the caller-supplied csid and payload length; returns the length.
fn checked_length(msg: &RawMessage) -> u32 {
    assert!(
        (MIN_CSID..=MAX_CSID).contains(&msg.csid),
        "chunk stream id {} outside 2..=65599 (RTMP 1.0 §5.3.1.1)",
        msg.csid
    );
    match u32::try_from(msg.payload.len()) {
        Ok(len) if len <= MAX_MESSAGE_LENGTH => len,
        _ => panic!(
            "message of {} bytes does not fit the 24-bit length field (RTMP 1.0 §5.3.1.2.1)",
            msg.payload.len()
        ),
    }
}

/// The type 3 header of continuation chunks: basic header plus the repeated extended timestamp
/// when the first header had one.
fn continuation(first: &OutHeader) -> OutHeader {
    OutHeader {
        fmt: Fmt::Continuation,
        ..*first
    }
}

fn continuation_len(first: &OutHeader) -> usize {
    let repeat = if first.fmt != Fmt::Continuation && first.extended() {
        4
    } else {
        0
    };
    header::basic_len(first.csid) + repeat
}

fn put_continuation(first: &OutHeader, out: &mut impl BufMut) {
    continuation(first).put(out);
    if first.fmt != Fmt::Continuation && first.extended() {
        out.put_u32(first.timestamp);
    }
}

/// Number of chunks a payload of `len` bytes takes (at least one, for empty messages).
fn chunk_count(len: usize, chunk_size: usize) -> usize {
    len.div_ceil(chunk_size).max(1)
}

fn write_contiguous(first: &OutHeader, payload: &Bytes, chunk_size: u32, out: &mut BytesMut) {
    let cs = chunk_size as usize;
    let chunks = chunk_count(payload.len(), cs);
    out.reserve(first.len() + (chunks - 1) * continuation_len(first) + payload.len());
    first.put(out);
    let mut rest: &[u8] = payload;
    let mut first_chunk = true;
    while first_chunk || !rest.is_empty() {
        if !first_chunk {
            put_continuation(first, out);
        }
        first_chunk = false;
        let (chunk, tail) = rest.split_at(rest.len().min(cs));
        out.extend_from_slice(chunk);
        rest = tail;
    }
}

/// Where [`write_segments`] appends: a list for one vectored write or a connection's queue.
trait Segments {
    fn reserve_segments(&mut self, n: usize);
    fn push_segment(&mut self, b: Bytes);
}

impl Segments for Vec<Bytes> {
    fn reserve_segments(&mut self, n: usize) {
        self.reserve(n);
    }
    fn push_segment(&mut self, b: Bytes) {
        self.push(b);
    }
}

impl Segments for VecDeque<Bytes> {
    fn reserve_segments(&mut self, n: usize) {
        self.reserve(n);
    }
    fn push_segment(&mut self, b: Bytes) {
        self.push_back(b);
    }
}

fn write_segments(first: &OutHeader, payload: &Bytes, chunk_size: u32, out: &mut impl Segments) {
    let cs = chunk_size as usize;
    let chunks = chunk_count(payload.len(), cs);
    let first_len = first.len();
    let mut headers = BytesMut::with_capacity(first_len + continuation_len(first));
    first.put(&mut headers);
    if chunks > 1 {
        put_continuation(first, &mut headers);
    }
    let headers = headers.freeze();
    out.reserve_segments(2 * chunks);
    out.push_segment(headers.slice(..first_len));
    let cont = headers.slice(first_len..);
    let mut offset = 0;
    while offset < payload.len() {
        if offset > 0 {
            out.push_segment(cont.clone());
        }
        let end = payload.len().min(offset.saturating_add(cs));
        out.push_segment(payload.slice(offset..end));
        offset = end;
    }
}
