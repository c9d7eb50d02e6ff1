//! The small HTTP/1.1 client the RTMPT tunnel needs (RFC 9112): one `POST` at a time on a
//! keep-alive connection, a response head parsed with `httparse`, and a body framed by
//! `Content-Length` (RFC 9112 §6.3 rule 5), `Transfer-Encoding: chunked` (§7.1) or the end of
//! the connection (§6.3 rule 8).
//!
//! Written by hand rather than with a general client so that every size the server controls is
//! bounded by [`RtmptOptions`] (head bytes, header count, body bytes, chunk-size lines) and a
//! violation is a typed [`RtmptError`]. The parsers are sans-IO ([`parse_head`],
//! [`ChunkedDecoder`]: `Ok(None)` means "need more bytes"); [`read_response`] drives them over
//! a stream.

use super::rtmpt::{RtmptError, RtmptOptions};
use bytes::{Buf, Bytes, BytesMut};
use std::io::IoSlice;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Most header lines in one response head.
pub const MAX_HEADERS: usize = 64;
/// Longest chunk-size line (size, extensions, CRLF) or trailer line of a chunked body.
pub const MAX_CHUNK_LINE: usize = 1024;
/// The content type of every RTMPT request and reply.
pub const CONTENT_TYPE: &str = "application/x-fcs";

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Exactly this many bytes.
    Length(usize),
    /// Chunked transfer coding.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
    /// No body (1xx, 204, 304).
    Empty,
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Body framing.
    pub framing: Framing,
    /// Whether the connection may carry another request afterwards.
    pub keep_alive: bool,
}

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// The body.
    pub body: Bytes,
    /// Whether the connection may carry another request.
    pub keep_alive: bool,
}

/// The head of `POST path` with a body of `body_len` bytes.
pub fn request_head(path: &str, host: &str, body_len: usize) -> Vec<u8> {
    // librtmp and Flash Player send this user agent; some RTMPT servers look for it.
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Shockwave Flash\r\n\
         Content-Type: {CONTENT_TYPE}\r\nContent-Length: {body_len}\r\n\
         Connection: Keep-Alive\r\nCache-Control: no-cache\r\n\r\n"
    )
    .into_bytes()
}

/// Write a request (head and body) in vectored writes and flush it.
pub async fn write_request<S: AsyncWrite + Unpin>(
    io: &mut S,
    head: &[u8],
    body: &[u8],
) -> std::io::Result<()> {
    let (mut head, mut body) = (head, body);
    while !head.is_empty() || !body.is_empty() {
        let n = io
            .write_vectored(&[IoSlice::new(head), IoSlice::new(body)])
            .await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let h = n.min(head.len());
        head = head.get(h..).unwrap_or(&[]);
        body = body.get(n - h..).unwrap_or(&[]);
    }
    io.flush().await
}

/// Parse a response head from the front of `buf`, consuming it. `Ok(None)`: incomplete.
pub fn parse_head(buf: &mut BytesMut, opts: &RtmptOptions) -> Result<Option<Head>, RtmptError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > opts.max_header_bytes {
                return Err(RtmptError::HeadTooLarge {
                    limit: opts.max_header_bytes,
                });
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(RtmptError::TooManyHeaders { limit: MAX_HEADERS })
        }
        Err(e) => return Err(RtmptError::BadResponse(e.to_string())),
    };
    if len > opts.max_header_bytes {
        return Err(RtmptError::HeadTooLarge {
            limit: opts.max_header_bytes,
        });
    }
    let status = resp.code.unwrap_or(0);
    let reason = resp.reason.unwrap_or("").to_owned();
    let http11 = resp.version == Some(1);
    let mut length: Option<usize> = None;
    let mut chunked = false;
    let mut close = !http11;
    for h in resp.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = parse_length(value, opts)?;
            if length.is_some_and(|l| l != n) {
                return Err(RtmptError::BadResponse(
                    "conflicting Content-Length headers".into(),
                ));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"));
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("keep-alive") && !http11 {
                    close = false;
                }
            }
        }
    }
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Empty
    } else if chunked {
        // RFC 9112 §6.3 rule 4: chunked wins over Content-Length.
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        close = true;
        Framing::UntilClose
    };
    buf.advance(len);
    Ok(Some(Head {
        status,
        reason,
        framing,
        keep_alive: !close,
    }))
}

fn parse_length(value: &str, opts: &RtmptOptions) -> Result<usize, RtmptError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RtmptError::BadResponse(format!(
            "bad Content-Length `{value}`"
        )));
    }
    match value.parse::<u64>() {
        Ok(n) if n <= opts.max_reply_bytes as u64 => Ok(n as usize),
        _ => Err(RtmptError::BodyTooLarge {
            limit: opts.max_reply_bytes,
        }),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(usize),
    DataEnd,
    Trailer,
}

/// Decoder of a chunked body (RFC 9112 §7.1), bounded by `max_reply_bytes`.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: ChunkState,
    body: BytesMut,
    max: usize,
}

impl ChunkedDecoder {
    /// A decoder for a body of at most `max` bytes.
    pub fn new(max: usize) -> ChunkedDecoder {
        ChunkedDecoder {
            state: ChunkState::Size,
            body: BytesMut::new(),
            max,
        }
    }

    /// Consume what can be decoded from `buf`; the whole body once its last chunk and
    /// trailers are in.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, RtmptError> {
        loop {
            match self.state {
                ChunkState::Size => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(None);
                    };
                    let size = line[..].split(|&b| b == b';').next().unwrap_or(&[]);
                    let size = std::str::from_utf8(size).unwrap_or("").trim();
                    let size = usize::from_str_radix(size, 16)
                        .map_err(|_| RtmptError::BadResponse(format!("bad chunk size `{size}`")))?;
                    if size == 0 {
                        self.state = ChunkState::Trailer;
                    } else if self.body.len().saturating_add(size) > self.max {
                        return Err(RtmptError::BodyTooLarge { limit: self.max });
                    } else {
                        self.state = ChunkState::Data(size);
                    }
                }
                ChunkState::Data(left) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let n = left.min(buf.len());
                    self.body.extend_from_slice(&buf.split_to(n));
                    self.state = if n == left {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left - n)
                    };
                }
                ChunkState::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(None);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(RtmptError::BadResponse(
                            "chunk data not followed by CRLF".into(),
                        ));
                    }
                    buf.advance(2);
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailer => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(None);
                    };
                    if line.is_empty() {
                        return Ok(Some(std::mem::take(&mut self.body).freeze()));
                    }
                }
            }
        }
    }
}

/// One CRLF-terminated line (without the CRLF) from the front of `buf`, at most
/// [`MAX_CHUNK_LINE`] bytes.
fn take_line(buf: &mut BytesMut) -> Result<Option<BytesMut>, RtmptError> {
    match buf.windows(2).position(|w| w == b"\r\n") {
        Some(i) if i + 2 <= MAX_CHUNK_LINE => {
            let line = buf.split_to(i);
            buf.advance(2);
            Ok(Some(line))
        }
        None if buf.len() < MAX_CHUNK_LINE => Ok(None),
        _ => Err(RtmptError::BadResponse(format!(
            "chunk-size or trailer line longer than {MAX_CHUNK_LINE} bytes"
        ))),
    }
}

/// Read more bytes into `buf`; `Ok(false)` at end of stream.
async fn fill<S: AsyncRead + Unpin>(io: &mut S, buf: &mut BytesMut) -> std::io::Result<bool> {
    buf.reserve(16 * 1024);
    Ok(io.read_buf(buf).await? > 0)
}

/// Read one response (skipping 1xx interim responses). `buf` keeps bytes read past it.
/// End of stream before the first byte is [`RtmptError::Closed`] with `before_response`.
pub async fn read_response<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    opts: &RtmptOptions,
    path: &str,
) -> Result<Response, RtmptError> {
    let io_err = |error| RtmptError::Io {
        path: path.to_owned(),
        error,
    };
    let closed = |before_response| RtmptError::Closed {
        path: path.to_owned(),
        before_response,
    };
    let mut first = true;
    loop {
        let head = loop {
            if let Some(h) = parse_head(buf, opts)? {
                break h;
            }
            if !fill(io, buf).await.map_err(io_err)? {
                return Err(closed(first && buf.is_empty()));
            }
        };
        first = false;
        if (100..200).contains(&head.status) {
            continue;
        }
        let body = match head.framing {
            Framing::Empty => Bytes::new(),
            Framing::Length(n) => {
                while buf.len() < n {
                    if !fill(io, buf).await.map_err(io_err)? {
                        return Err(closed(false));
                    }
                }
                buf.split_to(n).freeze()
            }
            Framing::Chunked => {
                let mut dec = ChunkedDecoder::new(opts.max_reply_bytes);
                loop {
                    if let Some(b) = dec.decode(buf)? {
                        break b;
                    }
                    if !fill(io, buf).await.map_err(io_err)? {
                        return Err(closed(false));
                    }
                }
            }
            Framing::UntilClose => loop {
                if buf.len() > opts.max_reply_bytes {
                    return Err(RtmptError::BodyTooLarge {
                        limit: opts.max_reply_bytes,
                    });
                }
                if !fill(io, buf).await.map_err(io_err)? {
                    break buf.split().freeze();
                }
            },
        };
        return Ok(Response {
            status: head.status,
            reason: head.reason,
            body,
            keep_alive: head.keep_alive,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn opts() -> RtmptOptions {
        RtmptOptions::default()
    }

    fn head(s: &str) -> Result<Option<Head>, RtmptError> {
        parse_head(&mut BytesMut::from(s.as_bytes()), &opts())
    }

    #[test]
    fn request_head_layout() {
        let h = request_head("/send/abc/3", "127.0.0.1:8080", 5);
        assert_eq!(
            String::from_utf8(h).unwrap(),
            "POST /send/abc/3 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: Shockwave Flash\r\n\
             Content-Type: application/x-fcs\r\nContent-Length: 5\r\n\
             Connection: Keep-Alive\r\nCache-Control: no-cache\r\n\r\n"
        );
    }

    #[test]
    fn heads() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
            .unwrap()
            .unwrap();
        assert_eq!(
            h,
            Head {
                status: 200,
                reason: "OK".into(),
                framing: Framing::Length(3),
                keep_alive: true
            }
        );
        let h = head("HTTP/1.1 200 OK\r\ncontent-length: 3\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive);
        let h = head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive);
        let h = head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.keep_alive);
        let h = head(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 9\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.framing, Framing::Chunked);
        let h = head("HTTP/1.1 200 OK\r\n\r\n").unwrap().unwrap();
        assert_eq!(h.framing, Framing::UntilClose);
        assert!(!h.keep_alive);
        for s in [
            "HTTP/1.1 204 No Content\r\n\r\n",
            "HTTP/1.1 100 Continue\r\n\r\n",
        ] {
            assert_eq!(head(s).unwrap().unwrap().framing, Framing::Empty);
        }
        let h = head("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((h.status, h.reason.as_str()), (404, "Not Found"));
        assert_eq!(head("HTTP/1.1 200 OK\r\nContent-Le").unwrap(), None);
    }

    #[test]
    fn head_errors() {
        assert!(matches!(
            head("garbage\r\n\r\n"),
            Err(RtmptError::BadResponse(_))
        ));
        assert!(matches!(
            head("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"),
            Err(RtmptError::BadResponse(_))
        ));
        assert!(matches!(
            head("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Err(RtmptError::BadResponse(_))
        ));
        assert!(matches!(
            head("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n"),
            Err(RtmptError::BodyTooLarge { .. })
        ));
        let big = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", 64 << 20);
        assert!(matches!(head(&big), Err(RtmptError::BodyTooLarge { .. })));
        let mut many = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..=MAX_HEADERS {
            many.push_str(&format!("X-{i}: y\r\n"));
        }
        many.push_str("\r\n");
        assert!(matches!(
            head(&many),
            Err(RtmptError::TooManyHeaders { limit: MAX_HEADERS })
        ));
        let long = format!("HTTP/1.1 200 OK\r\nX: {}", "a".repeat(20_000));
        assert!(matches!(head(&long), Err(RtmptError::HeadTooLarge { .. })));
        let long = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(20_000));
        assert!(matches!(head(&long), Err(RtmptError::HeadTooLarge { .. })));
    }

    #[test]
    fn chunked() {
        let mut d = ChunkedDecoder::new(100);
        let mut b = BytesMut::from(&b"3;ext=1\r\nabc\r\n"[..]);
        assert_eq!(d.decode(&mut b).unwrap(), None);
        b.extend_from_slice(b"2\r\nde\r\n0\r\nX-T: 1\r\n\r\nrest");
        assert_eq!(
            d.decode(&mut b).unwrap().unwrap(),
            Bytes::from_static(b"abcde")
        );
        assert_eq!(&b[..], b"rest");

        let mut d = ChunkedDecoder::new(4);
        let mut b = BytesMut::from(&b"5\r\n"[..]);
        assert!(matches!(
            d.decode(&mut b),
            Err(RtmptError::BodyTooLarge { limit: 4 })
        ));
        let mut d = ChunkedDecoder::new(4);
        let mut b = BytesMut::from(&b"zz\r\n"[..]);
        assert!(matches!(d.decode(&mut b), Err(RtmptError::BadResponse(_))));
        let mut d = ChunkedDecoder::new(4);
        let mut b = BytesMut::from(&b"1\r\naXY"[..]);
        assert!(matches!(d.decode(&mut b), Err(RtmptError::BadResponse(_))));
        let mut d = ChunkedDecoder::new(4);
        let mut b = BytesMut::from(vec![b'1'; MAX_CHUNK_LINE + 1].as_slice());
        assert!(matches!(d.decode(&mut b), Err(RtmptError::BadResponse(_))));
    }

    #[tokio::test]
    async fn read_response_framings() {
        let o = opts();
        let mut input: &[u8] =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n\r\ntail";
        let mut buf = BytesMut::new();
        let r = read_response(&mut input, &mut buf, &o, "/p").await.unwrap();
        assert_eq!(
            (r.status, &r.body[..], r.keep_alive),
            (200, &b"hi"[..], true)
        );
        let r = read_response(&mut input, &mut buf, &o, "/p").await.unwrap();
        assert_eq!(&r.body[..], b"x");
        let r = read_response(&mut input, &mut buf, &o, "/p").await.unwrap();
        assert_eq!((&r.body[..], r.keep_alive), (&b"tail"[..], false));
        let e = read_response(&mut input, &mut buf, &o, "/p")
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                RtmptError::Closed {
                    before_response: true,
                    ..
                }
            ),
            "{e}"
        );

        let mut input: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab";
        let e = read_response(&mut input, &mut BytesMut::new(), &o, "/p")
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                RtmptError::Closed {
                    before_response: false,
                    ..
                }
            ),
            "{e}"
        );
        let mut input: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab";
        let e = read_response(&mut input, &mut BytesMut::new(), &o, "/p")
            .await
            .unwrap_err();
        assert!(matches!(e, RtmptError::Closed { .. }), "{e}");
        let small = RtmptOptions {
            max_reply_bytes: 3,
            ..RtmptOptions::default()
        };
        let mut input: &[u8] = b"HTTP/1.1 200 OK\r\n\r\nabcdef";
        let e = read_response(&mut input, &mut BytesMut::new(), &small, "/p")
            .await
            .unwrap_err();
        assert!(matches!(e, RtmptError::BodyTooLarge { limit: 3 }), "{e}");
    }

    #[tokio::test]
    async fn vectored_request_write() {
        let mut out = Vec::new();
        write_request(&mut out, b"HEAD", b"body").await.unwrap();
        assert_eq!(out, b"HEADbody");
    }

    proptest! {
        #[test]
        fn chunked_round_trip(body in proptest::collection::vec(any::<u8>(), 0..2000), split in 1usize..64) {
            let mut enc = Vec::new();
            for c in body.chunks(split) {
                enc.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                enc.extend_from_slice(c);
                enc.extend_from_slice(b"\r\n");
            }
            enc.extend_from_slice(b"0\r\n\r\n");
            let mut d = ChunkedDecoder::new(4096);
            let mut buf = BytesMut::new();
            let mut out = None;
            // Feed a few bytes at a time: the decoder must resume anywhere.
            for piece in enc.chunks(7) {
                buf.extend_from_slice(piece);
                if let Some(b) = d.decode(&mut buf).unwrap() {
                    out = Some(b);
                }
            }
            prop_assert_eq!(out.unwrap(), Bytes::from(body));
        }
    }
}
