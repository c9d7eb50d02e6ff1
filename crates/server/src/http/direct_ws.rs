//! WebSocket framing for direct players ([`super::direct`]): the opening handshake's answer, the
//! server's frames around the hub's shared payloads, and a bounded reader of what the client
//! sends (RFC 6455). Frame headers are written and parsed by tungstenite's [`FrameHeader`]; the
//! payloads are never copied: a message is its header followed by the payload handles, written
//! in one vectored write with the rest of the batch.
//!
//! **Out** (§5.2, §5.6): a byte-stream output (FLV) sends each batch as one unmasked binary
//! message; a framed output (fMP4) sends the data up to each [`Piece::Boundary`] as one binary
//! message and each [`Piece::Text`] as a text message, as the hyper path
//! (`live_out::send_pieces`) does.
//!
//! **In** (§5.1-5.5): every client frame must be masked, use no reserved bit or opcode, and a
//! control frame must be final with at most 125 bytes (§5.5). Data frames are discarded
//! without being buffered (a frame over [`WS_MAX_CLIENT_MESSAGE`] bytes is refused with 1009);
//! a ping is answered with a pong carrying its payload (§5.5.2); a close is answered with a
//! close carrying its status code (§5.5.1) and ends the player. A broken rule gets a close with
//! 1002 (§7.4.1) and ends the player.

use super::live::{truncate, Piece, WS_MAX_CLIENT_MESSAGE};
use axum::extract::ws::CloseFrame;
use bytes::{Bytes, BytesMut};
use std::io::Cursor;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

/// Bytes held of a client frame being parsed: the longest header (14) and the longest control
/// payload (125).
const CLIENT_HOLD: usize = 14 + 125;
/// Header bytes allocated at a time (headers of many messages share one allocation).
const HEADER_BLOCK: usize = 256;

/// The `Sec-WebSocket-Accept` value for a request's `Sec-WebSocket-Key` (§4.2.2).
pub(super) fn accept_key(key: &str) -> String {
    tungstenite::handshake::derive_accept_key(key.trim().as_bytes())
}

/// The `101` answer to a WebSocket opening handshake (§4.2.2).
pub(super) fn switching_head(key: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\nDate: {}\r\n\r\n",
        accept_key(key),
        httpdate::fmt_http_date(std::time::SystemTime::now())
    )
    .into_bytes()
}

/// Frames a direct player's output as server-to-client WebSocket messages.
pub(super) struct WsFramer {
    headers: BytesMut,
    /// A framed output's pieces, taken from the pump.
    pieces: Vec<Piece>,
    /// Data of the message being built.
    parts: Vec<Bytes>,
}

impl WsFramer {
    pub(super) fn new() -> Self {
        WsFramer {
            headers: BytesMut::new(),
            pieces: Vec::new(),
            parts: Vec::new(),
        }
    }

    /// A frame header for a final frame of `opcode` with `len` payload bytes.
    fn header(&mut self, opcode: OpCode, len: usize) -> Bytes {
        let h = FrameHeader {
            is_final: true,
            opcode,
            ..FrameHeader::default()
        };
        let mut buf = [0u8; 14];
        let mut cur = Cursor::new(&mut buf[..]);
        // 14 bytes hold any header; writing into a slice that fits cannot fail.
        let n = match h.format(len as u64, &mut cur) {
            Ok(()) => cur.position() as usize,
            Err(_) => 0,
        };
        if self.headers.capacity() - self.headers.len() < n {
            self.headers.reserve(HEADER_BLOCK);
        }
        self.headers.extend_from_slice(&buf[..n]);
        self.headers.split().freeze()
    }

    /// Frame `out[from..]` (data just taken from a byte-stream output) as one binary message.
    pub(super) fn frame_tail(&mut self, out: &mut Vec<Bytes>, from: usize) {
        let len: usize = out[from..].iter().map(Bytes::len).sum();
        if len == 0 {
            out.truncate(from);
            return;
        }
        let h = self.header(OpCode::Data(Data::Binary), len);
        out.insert(from, h);
    }

    /// Append the messages of `pieces` (taken before the player started) to `out`.
    pub(super) fn frame_taken(&mut self, out: &mut Vec<Bytes>, pieces: Vec<Piece>) {
        let r: Result<(), std::convert::Infallible> = self.frame_pieces(out, |p| {
            p.extend(pieces);
            Ok(())
        });
        let Ok(()) = r;
    }

    /// Take a framed output's pieces (`take` appends them) and append their messages to `out`.
    pub(super) fn frame_pieces<E>(
        &mut self,
        out: &mut Vec<Bytes>,
        take: impl FnOnce(&mut Vec<Piece>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut pieces = std::mem::take(&mut self.pieces);
        let r = take(&mut pieces);
        for p in pieces.drain(..).chain([Piece::Boundary]) {
            match p {
                Piece::Data(b) => self.parts.push(b),
                Piece::Boundary => self.flush_binary(out),
                Piece::Text(t) => {
                    self.flush_binary(out);
                    let h = self.header(OpCode::Data(Data::Text), t.len());
                    out.push(h);
                    out.push(Bytes::from(t));
                }
            }
        }
        self.pieces = pieces;
        r
    }

    fn flush_binary(&mut self, out: &mut Vec<Bytes>) {
        let len: usize = self.parts.iter().map(Bytes::len).sum();
        if len > 0 {
            let h = self.header(OpCode::Data(Data::Binary), len);
            out.push(h);
            out.append(&mut self.parts);
        }
        self.parts.clear();
    }

    /// Append a control frame (`payload` at most 125 bytes, cut otherwise).
    pub(super) fn control(&mut self, out: &mut Vec<Bytes>, c: Control, payload: &[u8]) {
        let payload = &payload[..payload.len().min(125)];
        let h = self.header(OpCode::Control(c), payload.len());
        out.push(h);
        if !payload.is_empty() {
            out.push(Bytes::copy_from_slice(payload));
        }
    }

    /// Append a close frame (§5.5.1: a status code, then a UTF-8 reason).
    pub(super) fn close(&mut self, out: &mut Vec<Bytes>, frame: &CloseFrame) {
        let mut payload = frame.code.to_be_bytes().to_vec();
        payload.extend_from_slice(truncate(frame.reason.as_str(), 123).as_bytes());
        self.control(out, Control::Close, &payload);
    }
}

/// What a client frame asks of the server.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ClientFrame {
    /// Answer with a pong carrying this payload.
    Ping(Vec<u8>),
    /// The client closes; its payload (a status code and reason, or empty).
    Close(Vec<u8>),
}

/// A rule of RFC 6455 a client frame broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum WsReadError {
    #[error("unmasked frame from the client (RFC 6455 5.1)")]
    Unmasked,
    #[error("reserved bit set without an extension (RFC 6455 5.2)")]
    ReservedBit,
    #[error("reserved opcode (RFC 6455 5.2)")]
    ReservedOpcode,
    #[error("control frame fragmented or over 125 bytes (RFC 6455 5.5)")]
    BadControl,
    #[error("frame of {0} bytes, over the limit of {WS_MAX_CLIENT_MESSAGE}")]
    TooBig(u64),
    #[error("malformed frame header")]
    BadHeader,
}

impl WsReadError {
    /// The close status for this error (§7.4.1).
    pub(super) fn close_frame(self) -> CloseFrame {
        let code = match self {
            WsReadError::TooBig(_) => 1009,
            _ => 1002,
        };
        CloseFrame {
            code,
            reason: "".into(),
        }
    }
}

/// Reads what a client sends, holding at most [`CLIENT_HOLD`] bytes.
#[derive(Default)]
pub(super) struct WsReader {
    held: Vec<u8>,
    /// Bytes of a data frame still to discard.
    skip: u64,
}

impl WsReader {
    /// Feed bytes read from the client; the frames that need an answer are appended to `out`.
    pub(super) fn feed(
        &mut self,
        mut input: &[u8],
        out: &mut Vec<ClientFrame>,
    ) -> Result<(), WsReadError> {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(input.len() as u64) as usize;
                input = &input[n..];
                self.skip -= n as u64;
                if self.skip > 0 {
                    return Ok(());
                }
            }
            let take = (CLIENT_HOLD - self.held.len()).min(input.len());
            self.held.extend_from_slice(&input[..take]);
            input = &input[take..];
            let mut cur = Cursor::new(&self.held[..]);
            let Some((h, len)) = FrameHeader::parse(&mut cur).map_err(|e| match e {
                tungstenite::Error::Protocol(tungstenite::error::ProtocolError::InvalidOpcode(
                    _,
                )) => WsReadError::ReservedOpcode,
                _ => WsReadError::BadHeader,
            })?
            else {
                // Incomplete: `held` is not full, so all input is in it.
                return Ok(());
            };
            let head = cur.position() as usize;
            let Some(mask) = h.mask else {
                return Err(WsReadError::Unmasked);
            };
            if h.rsv1 || h.rsv2 || h.rsv3 {
                return Err(WsReadError::ReservedBit);
            }
            match h.opcode {
                OpCode::Control(Control::Reserved(_)) | OpCode::Data(Data::Reserved(_)) => {
                    return Err(WsReadError::ReservedOpcode)
                }
                OpCode::Control(c) => {
                    if len > 125 || !h.is_final {
                        return Err(WsReadError::BadControl);
                    }
                    let end = head + len as usize;
                    if self.held.len() < end {
                        // `held` can hold the whole frame: all input is in it.
                        return Ok(());
                    }
                    let mut payload = self.held[head..end].to_vec();
                    for (i, b) in payload.iter_mut().enumerate() {
                        *b ^= mask[i % 4];
                    }
                    self.held.drain(..end);
                    match c {
                        Control::Ping => out.push(ClientFrame::Ping(payload)),
                        Control::Close => {
                            out.push(ClientFrame::Close(payload));
                            return Ok(());
                        }
                        Control::Pong | Control::Reserved(_) => {}
                    }
                }
                OpCode::Data(_) => {
                    if len > WS_MAX_CLIENT_MESSAGE as u64 {
                        return Err(WsReadError::TooBig(len));
                    }
                    let avail = (self.held.len() - head) as u64;
                    if avail >= len {
                        self.held.drain(..head + len as usize);
                    } else {
                        self.skip = len - avail;
                        self.held.clear();
                    }
                }
            }
            if input.is_empty() && self.held.is_empty() && self.skip == 0 {
                return Ok(());
            }
        }
    }
}

/// The close frame answering a client's close payload: its status code echoed (§5.5.1), or
/// none when it sent none.
pub(super) fn echo_close(payload: &[u8]) -> CloseFrame {
    let code = match payload {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 1000,
    };
    CloseFrame {
        code,
        reason: "".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked with `mask`.
    fn client_frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut f = vec![first];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n < 65536 => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    fn flat(out: &[Bytes]) -> Vec<u8> {
        out.iter().flat_map(|b| b.iter().copied()).collect()
    }

    #[test]
    fn the_accept_key_of_rfc_6455_section_1_3() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let head = String::from_utf8(switching_head("dGhlIHNhbXBsZSBub25jZQ==")).unwrap();
        assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(head.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(head.ends_with("\r\n\r\n"));
    }

    #[test]
    fn a_byte_stream_batch_is_one_binary_message_of_shared_payloads() {
        let mut f = WsFramer::new();
        let a = Bytes::from(vec![1u8; 100]);
        let b = Bytes::from(vec![2u8; 200]);
        let mut out = vec![Bytes::from_static(b"earlier")];
        out.extend([a.clone(), b.clone()]);
        f.frame_tail(&mut out, 1);
        assert_eq!(out.len(), 4);
        assert_eq!(&out[1][..], &[0x82, 126, 0x01, 0x2c]);
        assert_eq!(out[2].as_ptr(), a.as_ptr(), "payloads are not copied");
        // Small and large lengths use the 7-bit and the 64-bit forms.
        let mut out = vec![Bytes::from_static(b"xyz")];
        f.frame_tail(&mut out, 0);
        assert_eq!(flat(&out), b"\x82\x03xyz");
        let mut out = vec![Bytes::from(vec![0u8; 70_000])];
        f.frame_tail(&mut out, 0);
        assert_eq!(&out[0][..], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
        // Nothing taken: no empty message.
        let mut out = vec![Bytes::new()];
        f.frame_tail(&mut out, 0);
        assert!(out.is_empty());
    }

    #[test]
    fn framed_pieces_are_one_message_per_boundary_and_text_messages() {
        let mut f = WsFramer::new();
        let mut out = Vec::new();
        let r: Result<(), ()> = f.frame_pieces(&mut out, |p| {
            p.extend([
                Piece::Data(Bytes::from_static(b"ab")),
                Piece::Data(Bytes::from_static(b"c")),
                Piece::Boundary,
                Piece::Text("{}".into()),
                Piece::Data(Bytes::from_static(b"d")),
            ]);
            Ok(())
        });
        assert!(r.is_ok());
        assert_eq!(flat(&out), b"\x82\x03abc\x81\x02{}\x82\x01d");
    }

    #[test]
    fn close_frames_carry_the_code_and_a_cut_reason() {
        let mut f = WsFramer::new();
        let mut out = Vec::new();
        f.close(
            &mut out,
            &CloseFrame {
                code: 1008,
                reason: "x".repeat(200).into(),
            },
        );
        let bytes = flat(&out);
        assert_eq!(&bytes[..4], &[0x88, 125, 0x03, 0xf0]);
        assert_eq!(bytes.len(), 2 + 125);
        assert_eq!(echo_close(&[0x03, 0xe8, b'b']).code, 1000);
        assert_eq!(echo_close(&[0x0f, 0xa0]).code, 4000);
        assert_eq!(echo_close(&[]).code, 1000);
    }

    #[test]
    fn pings_and_closes_are_read_data_is_discarded_in_any_split() {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut wire = client_frame(0x82, &vec![9u8; 5000], mask);
        wire.extend(client_frame(0x89, b"hello", mask));
        wire.extend(client_frame(0x8a, b"pong", mask));
        wire.extend(client_frame(0x81, b"text", mask));
        wire.extend(client_frame(0x88, &[0x03, 0xe8], mask));
        for step in [1, 2, 3, 7, 100, 1024, wire.len()] {
            let mut r = WsReader::default();
            let mut got = Vec::new();
            for chunk in wire.chunks(step) {
                r.feed(chunk, &mut got).expect("valid frames");
            }
            assert_eq!(
                got,
                vec![
                    ClientFrame::Ping(b"hello".to_vec()),
                    ClientFrame::Close(vec![0x03, 0xe8])
                ],
                "split {step}"
            );
            assert!(r.held.len() <= CLIENT_HOLD);
        }
    }

    #[test]
    fn broken_rules_are_refused() {
        let mask = [1, 2, 3, 4];
        let feed = |wire: &[u8]| WsReader::default().feed(wire, &mut Vec::new());
        assert_eq!(feed(&[0x82, 0x01, b'x']), Err(WsReadError::Unmasked));
        assert_eq!(
            feed(&client_frame(0xc2, b"x", mask)),
            Err(WsReadError::ReservedBit)
        );
        assert_eq!(
            feed(&client_frame(0x83, b"x", mask)),
            Err(WsReadError::ReservedOpcode)
        );
        assert_eq!(
            feed(&client_frame(0x09, b"x", mask)),
            Err(WsReadError::BadControl)
        );
        assert_eq!(
            feed(&client_frame(0x89, &[0; 126], mask)),
            Err(WsReadError::BadControl)
        );
        let big = WS_MAX_CLIENT_MESSAGE as u64 + 1;
        let mut head = vec![0x82, 0x80 | 127];
        head.extend_from_slice(&big.to_be_bytes());
        head.extend_from_slice(&mask);
        assert_eq!(feed(&head), Err(WsReadError::TooBig(big)));
        assert_eq!(WsReadError::TooBig(big).close_frame().code, 1009);
        assert_eq!(WsReadError::Unmasked.close_frame().code, 1002);
    }
}
