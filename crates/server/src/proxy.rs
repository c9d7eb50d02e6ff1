//! Proxy headers in front of RTMP: where a connection really comes from when a load balancer or
//! an edge server sits between the client and Sluice.
//!
//! Three headers are understood, each sent once, before anything else on the connection (before
//! C0 on plain RTMP, before the TLS ClientHello on RTMPS):
//! - the **RTMP proxy protocol** (SRS; seed 000, section "RTMP 代理"; `PROTOCOL_NOTES.md`,
//!   "RTMP proxy protocol"): `F3`, a big-endian u16 size N, N bytes of which the first 4 are the
//!   client's IPv4 address; the client's original C0 follows and stays in the stream;
//! - **HAProxy PROXY v1** (PROXY protocol spec §2.1): one ASCII line of at most 107 bytes,
//!   `PROXY TCP4|TCP6|UNKNOWN <src> <dst> <sport> <dport>\r\n`;
//! - **HAProxy PROXY v2** (PROXY protocol spec §2.2): the 12-byte signature
//!   `\r\n\r\n\0\r\nQUIT\n`, a version/command byte, a family/transport byte, a big-endian u16
//!   length, then addresses and TLVs (TLVs are skipped).
//!
//! A header is only believed from a peer whose socket address is in the trusted list
//! ([`TrustedProxies`]); from anyone else it would let a client forge its address, so the
//! connection is refused ([`ProxyError::Untrusted`]). A connection without a header passes
//! through untouched: the bytes read while looking are replayed by [`Prefixed`].
//!
//! The parsers are sans-IO ([`classify`], [`parse_header`]; `Ok(None)` means "need more bytes");
//! [`accept`] drives them over an async stream with a bounded buffer and a timeout.

use bytes::Bytes;
use std::fmt;
use std::io::IoSlice;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

mod trusted;

pub use trusted::{IpNet, TrustedProxies, TrustedProxyError};

/// First byte of the RTMP proxy protocol header (in place of C0).
pub const RTMP_PROXY_MARKER: u8 = 0xF3;
/// The PROXY v1 line starts with these bytes.
pub const V1_PREFIX: &[u8; 6] = b"PROXY ";
/// Longest PROXY v1 line including its CRLF (PROXY protocol spec §2.1: 107 bytes).
pub const V1_MAX_LINE: usize = 107;
/// The PROXY v2 signature (PROXY protocol spec §2.2).
pub const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// Length of the fixed part of a PROXY v2 header (signature, ver/cmd, family, length).
pub const V2_FIXED_LEN: usize = 16;

/// Limits on what a proxy header may declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyLimits {
    /// Largest size field accepted in an 0xF3 header. Default 1024 (SRS rejects more).
    pub max_f3_size: u16,
    /// Largest address-plus-TLV length accepted in a PROXY v2 header. Default 1024.
    pub max_v2_len: u16,
}

impl Default for ProxyLimits {
    fn default() -> Self {
        ProxyLimits {
            max_f3_size: 1024,
            max_v2_len: 1024,
        }
    }
}

impl ProxyLimits {
    /// The most bytes a header allowed by these limits can take: the read buffer size.
    pub fn max_header_len(&self) -> usize {
        (3 + usize::from(self.max_f3_size))
            .max(V1_MAX_LINE)
            .max(V2_FIXED_LEN + usize::from(self.max_v2_len))
    }
}

/// Which proxy header a connection starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderKind {
    /// The RTMP proxy protocol (0xF3).
    RtmpF3,
    /// HAProxy PROXY protocol, text version 1.
    ProxyV1,
    /// HAProxy PROXY protocol, binary version 2.
    ProxyV2,
}

impl fmt::Display for HeaderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeaderKind::RtmpF3 => "RTMP proxy (0xF3)",
            HeaderKind::ProxyV1 => "PROXY v1",
            HeaderKind::ProxyV2 => "PROXY v2",
        })
    }
}

/// What the first bytes of a connection are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// No proxy header: plain RTMP (C0) or TLS.
    Plain,
    /// A proxy header of this kind (not yet validated).
    Header(HeaderKind),
}

/// PROXY v2 command (low nibble of byte 13). Unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct V2Command(pub u8);

impl V2Command {
    /// LOCAL: the proxy's own connection (health check); use the socket address.
    pub const LOCAL: V2Command = V2Command(0x0);
    /// PROXY: relayed on behalf of the client in the address block.
    pub const PROXY: V2Command = V2Command(0x1);
}

/// PROXY v2 address family (high nibble of byte 14). Unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct V2Family(pub u8);

impl V2Family {
    /// AF_UNSPEC: no address carried.
    pub const UNSPEC: V2Family = V2Family(0x0);
    /// AF_INET: 4-byte addresses, 12 bytes in all.
    pub const INET: V2Family = V2Family(0x1);
    /// AF_INET6: 16-byte addresses, 36 bytes in all.
    pub const INET6: V2Family = V2Family(0x2);
    /// AF_UNIX: 108-byte paths, 216 bytes in all (no IP address to use).
    pub const UNIX: V2Family = V2Family(0x3);
}

/// A validated proxy header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyHeader {
    /// Which header it was.
    pub kind: HeaderKind,
    /// The client's address, or `None` when the header carries none (PROXY v1 `UNKNOWN`,
    /// PROXY v2 `LOCAL`, `AF_UNSPEC` or `AF_UNIX`): then the socket address is the client.
    /// The 0xF3 header carries no port: it is reported as port 0.
    pub source: Option<SocketAddr>,
    /// Bytes the header took; what follows belongs to the client.
    pub len: usize,
}

/// Errors while reading a proxy header. Each closes the connection.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A peer that is not a trusted proxy sent a proxy header.
    #[error("{kind} header from a peer that is not in proxy.trusted")]
    Untrusted {
        /// The header it sent.
        kind: HeaderKind,
    },
    /// 0xF3 header: the size field exceeds the limit.
    #[error("RTMP proxy (0xF3) header: size {size} exceeds the limit {max}")]
    F3TooLarge {
        /// Declared size.
        size: u16,
        /// Limit ([`ProxyLimits::max_f3_size`]).
        max: u16,
    },
    /// 0xF3 header: the size field is too small for the 4-byte IPv4 address.
    #[error("RTMP proxy (0xF3) header: size {size} cannot hold the 4-byte client IPv4 address")]
    F3TooSmall {
        /// Declared size.
        size: u16,
    },
    /// PROXY v1: no CRLF within 107 bytes.
    #[error("PROXY v1 header: no CRLF within {V1_MAX_LINE} bytes")]
    V1LineTooLong,
    /// PROXY v1: the line is not printable ASCII.
    #[error("PROXY v1 header: the line is not printable ASCII")]
    V1NotAscii,
    /// PROXY v1: the protocol is not TCP4, TCP6 or UNKNOWN.
    #[error("PROXY v1 header: protocol {0:?} is not TCP4, TCP6 or UNKNOWN")]
    V1UnknownProtocol(String),
    /// PROXY v1: TCP4/TCP6 need exactly four fields after the protocol.
    #[error("PROXY v1 header: {0} fields after the protocol, expected 4 (src dst sport dport)")]
    V1FieldCount(usize),
    /// PROXY v1: an address is not valid for the declared protocol.
    #[error("PROXY v1 header: {0:?} is not a valid address for the declared protocol")]
    V1BadAddress(String),
    /// PROXY v1: a port is not a decimal number in 0..=65535.
    #[error("PROXY v1 header: port {0:?} is not a decimal number in 0..=65535")]
    V1BadPort(String),
    /// PROXY v2: the version nibble is not 2.
    #[error("PROXY v2 header: version {0} is not 2")]
    V2BadVersion(u8),
    /// PROXY v2: the command is neither LOCAL nor PROXY.
    #[error("PROXY v2 header: command {0:?} is neither LOCAL (0) nor PROXY (1)")]
    V2UnknownCommand(V2Command),
    /// PROXY v2: the address family is not one the spec defines.
    #[error("PROXY v2 header: address family {0:?} is not UNSPEC, INET, INET6 or UNIX")]
    V2UnknownFamily(V2Family),
    /// PROXY v2: the length field exceeds the limit.
    #[error("PROXY v2 header: length {len} exceeds the limit {max}")]
    V2TooLong {
        /// Declared length.
        len: u16,
        /// Limit ([`ProxyLimits::max_v2_len`]).
        max: u16,
    },
    /// PROXY v2: the length is too small for the declared family's addresses.
    #[error("PROXY v2 header: length {len} is too small for family {family:?} (needs {needed})")]
    V2AddressTooShort {
        /// Declared family.
        family: V2Family,
        /// Declared length.
        len: u16,
        /// Bytes the family's address block needs.
        needed: u16,
    },
    /// The peer closed the connection in the middle of a header.
    #[error("connection closed in the middle of a {0} header")]
    Truncated(HeaderKind),
    /// The read buffer filled up without a decision (cannot happen with consistent limits:
    /// every parser decides within [`ProxyLimits::max_header_len`] bytes).
    #[error("no proxy header decision within {0} bytes")]
    BufferFull(usize),
    /// No decision within the handshake timeout.
    #[error("no complete proxy header or first byte within {0:?}")]
    Timeout(Duration),
    /// Reading from the socket failed.
    #[error("reading the proxy header failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Look at the first bytes of a connection: `Ok(None)` = too few bytes to tell yet.
///
/// Plain RTMP starts with C0 (3, 6, 8, 9...) and TLS with 0x16, so none of the markers clash.
pub fn classify(buf: &[u8]) -> Option<Start> {
    let first = *buf.first()?;
    match first {
        RTMP_PROXY_MARKER => Some(Start::Header(HeaderKind::RtmpF3)),
        b'P' => prefix_match(buf, V1_PREFIX, HeaderKind::ProxyV1),
        b'\r' => prefix_match(buf, V2_SIGNATURE, HeaderKind::ProxyV2),
        _ => Some(Start::Plain),
    }
}

fn prefix_match(buf: &[u8], sig: &[u8], kind: HeaderKind) -> Option<Start> {
    let n = buf.len().min(sig.len());
    if buf.get(..n) != sig.get(..n) {
        Some(Start::Plain)
    } else if n < sig.len() {
        None
    } else {
        Some(Start::Header(kind))
    }
}

/// Parse a header of `kind` from the start of `buf` (the tokio-util decoder contract: `Ok(None)`
/// means more bytes are needed; `Err` means the header is malformed).
pub fn parse_header(
    kind: HeaderKind,
    buf: &[u8],
    limits: &ProxyLimits,
) -> Result<Option<ProxyHeader>, ProxyError> {
    match kind {
        HeaderKind::RtmpF3 => parse_f3(buf, limits),
        HeaderKind::ProxyV1 => parse_v1(buf),
        HeaderKind::ProxyV2 => parse_v2(buf, limits),
    }
}

fn parse_f3(buf: &[u8], limits: &ProxyLimits) -> Result<Option<ProxyHeader>, ProxyError> {
    let Some(&[_, hi, lo]) = buf.get(..3) else {
        return Ok(None);
    };
    let size = u16::from_be_bytes([hi, lo]);
    if size > limits.max_f3_size {
        return Err(ProxyError::F3TooLarge {
            size,
            max: limits.max_f3_size,
        });
    }
    if size < 4 {
        return Err(ProxyError::F3TooSmall { size });
    }
    let len = 3 + usize::from(size);
    let Some(&[a, b, c, d]) = buf.get(3..7) else {
        return Ok(None);
    };
    if buf.len() < len {
        return Ok(None);
    }
    Ok(Some(ProxyHeader {
        kind: HeaderKind::RtmpF3,
        source: Some(SocketAddr::new(Ipv4Addr::new(a, b, c, d).into(), 0)),
        len,
    }))
}

fn parse_v1(buf: &[u8]) -> Result<Option<ProxyHeader>, ProxyError> {
    let window = buf.get(..buf.len().min(V1_MAX_LINE)).unwrap_or(buf);
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_MAX_LINE {
            Err(ProxyError::V1LineTooLong)
        } else {
            Ok(None)
        };
    };
    let line = window.get(..end).unwrap_or_default();
    if !line.iter().all(|&b| (0x20..0x7F).contains(&b)) {
        return Err(ProxyError::V1NotAscii);
    }
    // Printable ASCII is valid UTF-8.
    let line = std::str::from_utf8(line).map_err(|_| ProxyError::V1NotAscii)?;
    let mut fields = line.split(' ');
    fields.next(); // "PROXY", checked by classify
    let proto = fields.next().unwrap_or_default();
    let rest: Vec<&str> = fields.collect();
    let source = match proto {
        "UNKNOWN" => None,
        "TCP4" | "TCP6" => {
            let [src, dst, sport, dport] = rest[..] else {
                return Err(ProxyError::V1FieldCount(rest.len()));
            };
            let ip = if proto == "TCP4" {
                Ipv4Addr::from_str(src).map(IpAddr::V4)
            } else {
                Ipv6Addr::from_str(src).map(IpAddr::V6)
            }
            .map_err(|_| ProxyError::V1BadAddress(src.to_owned()))?;
            let dst_ok = if proto == "TCP4" {
                Ipv4Addr::from_str(dst).is_ok()
            } else {
                Ipv6Addr::from_str(dst).is_ok()
            };
            if !dst_ok {
                return Err(ProxyError::V1BadAddress(dst.to_owned()));
            }
            let port = v1_port(sport)?;
            v1_port(dport)?;
            Some(SocketAddr::new(ip, port))
        }
        other => return Err(ProxyError::V1UnknownProtocol(other.to_owned())),
    };
    Ok(Some(ProxyHeader {
        kind: HeaderKind::ProxyV1,
        source,
        len: end + 2,
    }))
}

fn v1_port(s: &str) -> Result<u16, ProxyError> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProxyError::V1BadPort(s.to_owned()));
    }
    s.parse().map_err(|_| ProxyError::V1BadPort(s.to_owned()))
}

fn parse_v2(buf: &[u8], limits: &ProxyLimits) -> Result<Option<ProxyHeader>, ProxyError> {
    let Some(&[ver_cmd, fam, hi, lo]) = buf.get(12..16) else {
        return Ok(None);
    };
    let version = ver_cmd >> 4;
    if version != 2 {
        return Err(ProxyError::V2BadVersion(version));
    }
    let command = V2Command(ver_cmd & 0x0F);
    if command != V2Command::LOCAL && command != V2Command::PROXY {
        return Err(ProxyError::V2UnknownCommand(command));
    }
    let len = u16::from_be_bytes([hi, lo]);
    if len > limits.max_v2_len {
        return Err(ProxyError::V2TooLong {
            len,
            max: limits.max_v2_len,
        });
    }
    let total = V2_FIXED_LEN + usize::from(len);
    let Some(block) = buf.get(V2_FIXED_LEN..total) else {
        return Ok(None);
    };
    let family = V2Family(fam >> 4);
    let needed: u16 = match family {
        V2Family::UNSPEC => 0,
        V2Family::INET => 12,
        V2Family::INET6 => 36,
        V2Family::UNIX => 216,
        other => return Err(ProxyError::V2UnknownFamily(other)),
    };
    // LOCAL headers may carry anything (or nothing) in the block: it is skipped.
    if command == V2Command::LOCAL {
        return Ok(Some(ProxyHeader {
            kind: HeaderKind::ProxyV2,
            source: None,
            len: total,
        }));
    }
    if len < needed {
        return Err(ProxyError::V2AddressTooShort {
            family,
            len,
            needed,
        });
    }
    let source = match (family, block) {
        (V2Family::INET, [a, b, c, d, _, _, _, _, p0, p1, ..]) => Some(SocketAddr::new(
            Ipv4Addr::new(*a, *b, *c, *d).into(),
            u16::from_be_bytes([*p0, *p1]),
        )),
        (V2Family::INET6, _) => {
            let ip: Option<[u8; 16]> = block.get(..16).and_then(|s| s.try_into().ok());
            let port: Option<[u8; 2]> = block.get(32..34).and_then(|s| s.try_into().ok());
            ip.zip(port).map(|(ip, port)| {
                SocketAddr::new(Ipv6Addr::from(ip).into(), u16::from_be_bytes(port))
            })
        }
        _ => None,
    };
    Ok(Some(ProxyHeader {
        kind: HeaderKind::ProxyV2,
        source,
        len: total,
    }))
}

/// Proxy-header policy for a listener.
#[derive(Debug, Clone, Default)]
pub struct ProxyPolicy {
    /// Who may send a header.
    pub trusted: TrustedProxies,
    /// Limits on the header.
    pub limits: ProxyLimits,
}

/// A stream whose first bytes were already read: they are replayed before reading on. Writes go
/// straight to the inner stream.
#[derive(Debug)]
pub struct Prefixed<S> {
    prefix: Bytes,
    inner: S,
}

impl<S> Prefixed<S> {
    /// Replay `prefix`, then read from `inner`.
    pub fn new(prefix: Bytes, inner: S) -> Self {
        Prefixed { prefix, inner }
    }

    /// The inner stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The bytes not yet replayed and the inner stream.
    pub fn into_parts(self) -> (Bytes, S) {
        (self.prefix, self.inner)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let n = buf.remaining().min(this.prefix.len());
        buf.put_slice(&this.prefix.split_to(n));
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A connection after the proxy-header check.
#[derive(Debug)]
pub struct Accepted<S> {
    /// The stream, positioned at the client's first byte (C0 or the TLS ClientHello).
    pub stream: Prefixed<S>,
    /// The client's address: from the header when a trusted proxy sent one, else the socket's.
    pub client: SocketAddr,
    /// The header that was read, if any.
    pub header: Option<HeaderKind>,
}

/// Read the optional proxy header from `io`, whose socket peer is `peer`, within `timeout`.
///
/// Reads at most [`ProxyLimits::max_header_len`] bytes before deciding. A header from a peer
/// outside `policy.trusted` is [`ProxyError::Untrusted`]; a connection closed before its first
/// byte yields a stream that reads end-of-file at once.
pub async fn accept<S: AsyncRead + Unpin>(
    io: S,
    peer: SocketAddr,
    policy: &ProxyPolicy,
    timeout: Duration,
) -> Result<Accepted<S>, ProxyError> {
    match tokio::time::timeout(timeout, accept_inner(io, peer, policy)).await {
        Ok(r) => r,
        Err(_) => Err(ProxyError::Timeout(timeout)),
    }
}

async fn accept_inner<S: AsyncRead + Unpin>(
    mut io: S,
    peer: SocketAddr,
    policy: &ProxyPolicy,
) -> Result<Accepted<S>, ProxyError> {
    let mut buf = vec![0u8; policy.limits.max_header_len()];
    let mut filled = 0;
    let mut kind = None;
    loop {
        let have = buf.get(..filled).unwrap_or_default();
        if kind.is_none() {
            match classify(have) {
                Some(Start::Plain) => {
                    buf.truncate(filled);
                    return Ok(Accepted {
                        stream: Prefixed::new(Bytes::from(buf), io),
                        client: peer,
                        header: None,
                    });
                }
                Some(Start::Header(k)) => {
                    if !policy.trusted.contains(peer.ip()) {
                        return Err(ProxyError::Untrusted { kind: k });
                    }
                    kind = Some(k);
                }
                None => {}
            }
        }
        if let Some(k) = kind {
            if let Some(h) = parse_header(k, have, &policy.limits)? {
                buf.truncate(filled);
                let mut all = Bytes::from(buf);
                let rest = all.split_off(h.len.min(all.len()));
                return Ok(Accepted {
                    stream: Prefixed::new(rest, io),
                    client: h.source.unwrap_or(peer),
                    header: Some(k),
                });
            }
        }
        let Some(space) = buf.get_mut(filled..).filter(|s| !s.is_empty()) else {
            return Err(ProxyError::BufferFull(filled));
        };
        let n = io.read(space).await?;
        if n == 0 {
            return match kind {
                Some(k) => Err(ProxyError::Truncated(k)),
                None => {
                    // Closed before deciding: hand back what there is (maybe nothing); the RTMP
                    // or TLS layer reports the early close.
                    buf.truncate(filled);
                    Ok(Accepted {
                        stream: Prefixed::new(Bytes::from(buf), io),
                        client: peer,
                        header: None,
                    })
                }
            };
        }
        filled += n;
    }
}

#[cfg(test)]
mod tests;
