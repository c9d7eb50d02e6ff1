//! The part of a session both ends share: handshake driving, chunk decoding and encoding,
//! acknowledgements (RTMP 1.0 §5.4.3, §5.4.4), Set Peer Bandwidth handling (§5.4.5) and the
//! transmit queue.
//!
//! RTMPE (`PROTOCOL_NOTES.md`, "RTMPE") is handled here, below the chunk layer, so drivers never
//! see it: once the handshake hands over its [`RtmpeCipher`], received bytes are decrypted as
//! they are appended (the bytes that were already buffered behind C2/S2 first), and everything
//! queued after the handshake is encrypted as it leaves [`Conn::poll_transmit`] /
//! [`Conn::drain_transmit`]. The handshake's own packets, still queued, go out in the clear.
//! Encryption needs a private copy, so an RTMPE connection coalesces its pending buffers into
//! one fresh buffer per poll; plain RTMP keeps handing out the shared payload slices. An RTMPE
//! server never sends Set Chunk Size (see [`Conn::send_control`] for the ffmpeg bug this avoids).

use super::{csid, SessionError};
use crate::chunk::{ChunkDecoder, ChunkEncoder, ChunkLimits};
use crate::command::CommandMessage;
use crate::handshake::{ClientHandshake, HandshakeKind, RtmpeCipher, ServerHandshake};
use crate::message::{LimitType, ProtocolControl, UserControlEvent};
use crate::types::{MessageType, RawMessage, Timestamp};
use bytes::{Bytes, BytesMut};
use rand::rngs::StdRng;
use std::collections::VecDeque;

/// Where the handshake stands.
#[derive(Debug)]
pub(crate) enum Hs {
    /// The server handshake with the random source it draws from; both are freed together when
    /// the handshake completes (nothing after it needs randomness).
    Server(Box<(ServerHandshake, StdRng)>),
    /// The client handshake and its random source.
    Client(Box<(ClientHandshake, StdRng)>),
    Done(Option<HandshakeKind>),
}

/// Segments of outgoing queue capacity kept across drains; more is released (see
/// [`Conn::drain_transmit`]).
const OUT_QUEUE_KEEP: usize = 16;

#[derive(Debug)]
pub(crate) struct Conn {
    hs: Hs,
    in_buf: BytesMut,
    decoder: ChunkDecoder,
    encoder: ChunkEncoder,
    out: VecDeque<Bytes>,
    scratch: BytesMut,
    /// Window size the peer asked us to acknowledge at (its Window Acknowledgement Size).
    peer_window: u32,
    /// Bytes received (after the handshake) when we last sent an acknowledgement.
    last_ack: u64,
    /// The window we announced to the peer (what it acknowledges at).
    pub(crate) our_window: u32,
    /// Last Set Peer Bandwidth the peer sent us (size), used for the dynamic limit type.
    peer_bandwidth: Option<u32>,
    closed: bool,
    /// RTMPE: the RC4 pair, once the handshake is complete (boxed: ~0.5 KB that plain
    /// connections do not need).
    cipher: Option<Box<RtmpeCipher>>,
    /// How many buffers at the front of `out` are handshake packets, to be sent unencrypted.
    clear_front: usize,
    /// Whether this is the server end (fixed at construction).
    server: bool,
}

/// What one step of input produced below the session level.
pub(crate) enum Input {
    /// The handshake just completed.
    HandshakeDone(Option<HandshakeKind>),
    /// A complete message (protocol control already applied where the chunk layer needs it).
    Message(RawMessage),
}

impl Conn {
    pub(crate) fn new(hs: Hs, limits: ChunkLimits, copy_threshold: usize) -> Self {
        let server = matches!(hs, Hs::Server(_));
        Conn {
            hs,
            in_buf: BytesMut::new(),
            decoder: ChunkDecoder::new(limits).with_copy_threshold(copy_threshold),
            encoder: ChunkEncoder::new(),
            out: VecDeque::new(),
            scratch: BytesMut::new(),
            peer_window: 0,
            last_ack: 0,
            our_window: 0,
            peer_bandwidth: None,
            closed: false,
            cipher: None,
            clear_front: 0,
            server,
        }
    }

    pub(crate) fn handshake_kind(&self) -> Option<HandshakeKind> {
        match &self.hs {
            Hs::Done(k) => *k,
            _ => None,
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    /// Queue the client's first flight (C0+C1).
    pub(crate) fn flush_handshake(&mut self) {
        let out = match &mut self.hs {
            Hs::Server(b) => b.0.poll_transmit(),
            Hs::Client(b) => b.0.poll_transmit(),
            Hs::Done(_) => None,
        };
        if let Some(b) = out {
            self.out.push_back(b);
        }
    }

    pub(crate) fn append_input(&mut self, data: &[u8]) -> Result<(), SessionError> {
        if self.closed {
            return Err(SessionError::Closed);
        }
        let start = self.in_buf.len();
        self.in_buf.extend_from_slice(data);
        if let Some(cipher) = &mut self.cipher {
            cipher.decrypt(&mut self.in_buf[start..]);
        }
        Ok(())
    }

    /// The input buffer, for a driver that reads straight into it (see `commit_received`).
    pub(crate) fn recv_buffer(&mut self) -> &mut BytesMut {
        &mut self.in_buf
    }

    /// Free the input buffer, the output queue and the small-message buffer when they are empty (see
    /// `ServerSession::release_idle_memory`).
    pub(crate) fn release_idle_memory(&mut self) {
        if self.in_buf.is_empty() && self.in_buf.capacity() > 0 {
            self.in_buf = BytesMut::new();
        }
        if self.out.is_empty() && self.out.capacity() > 0 {
            self.out = VecDeque::new();
        }
        if self.scratch.is_empty() && self.scratch.capacity() > 0 {
            self.scratch = BytesMut::new();
        }
    }

    /// `n` bytes were just appended to the input buffer by the driver.
    pub(crate) fn commit_received(&mut self, n: usize) -> Result<(), SessionError> {
        if self.closed {
            return Err(SessionError::Closed);
        }
        let start = self.in_buf.len().saturating_sub(n);
        if let Some(cipher) = &mut self.cipher {
            cipher.decrypt(&mut self.in_buf[start..]);
        }
        Ok(())
    }

    /// Next unit of input, or `None` when more bytes are needed.
    pub(crate) fn next_input(&mut self) -> Result<Option<Input>, SessionError> {
        if self.closed {
            return Ok(None);
        }
        let done = match &mut self.hs {
            Hs::Server(b) => {
                let (h, rng) = &mut **b;
                h.handle_input(&mut self.in_buf, rng)?;
                if let Some(b) = h.poll_transmit() {
                    self.out.push_back(b);
                }
                h.is_complete().then(|| (h.kind(), h.take_cipher()))
            }
            Hs::Client(b) => {
                let (h, rng) = &mut **b;
                h.handle_input(&mut self.in_buf, rng)?;
                while let Some(b) = h.poll_transmit() {
                    self.out.push_back(b);
                }
                h.is_complete().then(|| (h.kind(), h.take_cipher()))
            }
            Hs::Done(_) => None,
        };
        match (&self.hs, done) {
            (Hs::Done(_), _) => {}
            (_, None) => return Ok(None),
            (_, Some((kind, cipher))) => {
                self.hs = Hs::Done(kind);
                if let Some(mut cipher) = cipher {
                    // What is buffered now arrived behind C2/S2: already encrypted.
                    cipher.decrypt(&mut self.in_buf[..]);
                    self.start_encryption(cipher);
                }
                return Ok(Some(Input::HandshakeDone(kind)));
            }
        }
        let msg = self.decoder.decode(&mut self.in_buf)?;
        self.maybe_ack();
        Ok(msg.map(Input::Message))
    }

    /// Installs the RTMPE cipher: what is queued now (handshake packets only, as nothing else is
    /// sent before the handshake completes) stays clear, everything queued later is encrypted.
    fn start_encryption(&mut self, cipher: RtmpeCipher) {
        self.flush_scratch();
        self.clear_front = self.out.len();
        self.cipher = Some(Box::new(cipher));
    }

    /// Takes everything pending after the clear handshake packets, as one encrypted buffer.
    fn take_encrypted(&mut self) -> Option<Bytes> {
        let cipher = self.cipher.as_mut()?;
        if self.out.is_empty() {
            // Only the scratch buffer: it is ours, encrypt it where it is.
            if self.scratch.is_empty() {
                return None;
            }
            let mut buf = self.scratch.split();
            cipher.encrypt(&mut buf[..]);
            return Some(buf.freeze());
        }
        let len = self.out.iter().map(Bytes::len).sum::<usize>() + self.scratch.len();
        let mut buf = BytesMut::with_capacity(len);
        for b in self.out.drain(..) {
            buf.extend_from_slice(&b);
        }
        buf.extend_from_slice(&self.scratch);
        self.scratch.clear();
        cipher.encrypt(&mut buf[..]);
        Some(buf.freeze())
    }

    fn maybe_ack(&mut self) {
        if self.peer_window == 0 {
            return;
        }
        let received = self.decoder.bytes_consumed();
        if received.saturating_sub(self.last_ack) >= u64::from(self.peer_window) {
            self.last_ack = received;
            // The sequence number is the byte count modulo 2^32 (§5.4.3).
            let seq = received as u32;
            self.send_control(&ProtocolControl::Acknowledgement { sequence: seq });
        }
    }

    /// Apply a protocol control message from the peer. Returns an acknowledgement sequence
    /// number when the message was an Acknowledgement.
    pub(crate) fn on_protocol_control(&mut self, pc: &ProtocolControl) {
        match pc {
            // The chunk decoder already applied Set Chunk Size and Abort.
            ProtocolControl::SetChunkSize(_) | ProtocolControl::Abort { .. } => {}
            ProtocolControl::Acknowledgement { .. } => {}
            ProtocolControl::WindowAckSize(size) => {
                self.peer_window = *size;
            }
            ProtocolControl::SetPeerBandwidth { size, limit } => {
                // §5.4.5: the receiver limits its output bandwidth and answers with a Window
                // Acknowledgement Size if the window differs from the last one it sent. A dynamic
                // limit is treated as hard if the previous limit was hard; we keep no rate
                // limiter, so only the window matters.
                let size = match *limit {
                    LimitType::SOFT => self.peer_bandwidth.map_or(*size, |prev| prev.min(*size)),
                    _ => *size,
                };
                self.peer_bandwidth = Some(size);
                if size != self.our_window && size > 0 {
                    self.our_window = size;
                    self.send_control(&ProtocolControl::WindowAckSize(size));
                }
            }
        }
    }

    fn flush_scratch(&mut self) {
        if !self.scratch.is_empty() {
            self.out.push_back(self.scratch.split().freeze());
        }
    }

    /// Send an audio (`video` false) or video message on its chunk stream.
    pub(crate) fn send_av(
        &mut self,
        video: bool,
        stream_id: u32,
        timestamp: Timestamp,
        payload: Bytes,
    ) {
        let (csid, type_id) = if video {
            (csid::VIDEO, MessageType::VIDEO)
        } else {
            (csid::AUDIO, MessageType::AUDIO)
        };
        self.send_media(&RawMessage {
            csid,
            timestamp,
            type_id,
            stream_id,
            payload,
        });
    }

    /// Send a shared object message (type 19, or 16 for AMF3) on the command chunk stream.
    pub(crate) fn send_shared_object(
        &mut self,
        message: &crate::message::SharedObjectMessage,
        amf3: bool,
    ) -> Result<(), SessionError> {
        let msg = RawMessage {
            csid: csid::COMMAND,
            timestamp: Timestamp::ZERO,
            type_id: if amf3 {
                MessageType::SHARED_OBJECT_AMF3
            } else {
                MessageType::SHARED_OBJECT_AMF0
            },
            stream_id: 0,
            payload: message.encode(amf3)?,
        };
        self.send_small(&msg);
        Ok(())
    }

    /// Send a small message (control, command, data): serialised into the shared scratch buffer.
    pub(crate) fn send_small(&mut self, msg: &RawMessage) {
        self.encoder.encode(msg, &mut self.scratch);
    }

    /// Send a media message without copying its payload.
    pub(crate) fn send_media(&mut self, msg: &RawMessage) {
        if msg.payload.len() <= 256 {
            self.send_small(msg);
            return;
        }
        self.flush_scratch();
        self.encoder.encode_vectored_queue(msg, &mut self.out);
    }

    pub(crate) fn send_control(&mut self, pc: &ProtocolControl) {
        if matches!(pc, ProtocolControl::SetChunkSize(_)) && self.server && self.cipher.is_some() {
            // ffmpeg (through 9.0 at least) publishing over RTMPE echoes a Set Chunk Size back
            // to the server, but its RTMPE layer encrypts the packet in place on the way out and
            // ffmpeg then reads its new chunk size from that now-encrypted buffer: a random
            // size that breaks the connection (seen in crates/cli/tests/rtmpe.rs). An RTMPE
            // server therefore announces nothing and keeps sending 128-byte chunks (§5.4.1).
            return;
        }
        self.send_small(&pc.to_raw());
        if let ProtocolControl::SetChunkSize(size) = pc {
            self.encoder.set_chunk_size(*size);
        }
    }

    pub(crate) fn send_user_control(&mut self, ev: &UserControlEvent) {
        self.send_small(&ev.to_raw());
    }

    pub(crate) fn send_command(
        &mut self,
        chunk_stream: u32,
        stream_id: u32,
        cmd: &CommandMessage,
        amf3: bool,
    ) {
        let msg = RawMessage {
            csid: chunk_stream,
            timestamp: Timestamp::ZERO,
            type_id: if amf3 {
                MessageType::COMMAND_AMF3
            } else {
                MessageType::COMMAND_AMF0
            },
            stream_id,
            payload: cmd.encode(amf3),
        };
        self.send_small(&msg);
    }

    pub(crate) fn send_data(&mut self, stream_id: u32, timestamp: Timestamp, payload: Bytes) {
        let msg = RawMessage {
            csid: csid::STREAM,
            timestamp,
            type_id: MessageType::DATA_AMF0,
            stream_id,
            payload,
        };
        self.send_media(&msg);
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.clear_front > 0 {
            self.clear_front -= 1;
            return self.out.pop_front();
        }
        if self.cipher.is_some() {
            return self.take_encrypted();
        }
        if let Some(b) = self.out.pop_front() {
            return Some(b);
        }
        if self.scratch.is_empty() {
            None
        } else {
            Some(self.scratch.split().freeze())
        }
    }

    /// Move every pending buffer into `out` (for one vectored write).
    pub(crate) fn drain_transmit(&mut self, out: &mut Vec<Bytes>) {
        if self.cipher.is_some() {
            let clear = std::mem::take(&mut self.clear_front).min(self.out.len());
            out.extend(self.out.drain(..clear));
            out.extend(self.take_encrypted());
            return;
        }
        if out.is_empty() {
            // Hand the queue over whole (no copy), leaving an empty one without memory: between
            // writes an idle connection (a player) then holds no queue at all.
            *out = Vec::from(std::mem::take(&mut self.out));
        } else {
            out.extend(self.out.drain(..));
            if self.out.capacity() > OUT_QUEUE_KEEP {
                // A burst (a GOP sent to a new player) grew the queue: give the memory back
                // rather than keep it for the connection's whole life.
                self.out.shrink_to(OUT_QUEUE_KEEP);
            }
        }
        if !self.scratch.is_empty() {
            out.push(self.scratch.split().freeze());
        }
    }

    pub(crate) fn has_transmit(&self) -> bool {
        !self.out.is_empty() || !self.scratch.is_empty()
    }

    pub(crate) fn bytes_received(&self) -> u64 {
        self.decoder.bytes_consumed()
    }

    pub(crate) fn out_chunk_size(&self) -> u32 {
        self.encoder.chunk_size()
    }

    pub(crate) fn in_chunk_size(&self) -> u32 {
        self.decoder.chunk_size()
    }
}
