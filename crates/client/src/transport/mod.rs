//! The byte streams RTMP runs over, one per URL scheme, all feeding the same
//! [`crate::Connection`] driver:
//!
//! | scheme | stream | handshake |
//! |---|---|---|
//! | `rtmp://` | TCP | digest (or [`crate::ClientOptions::handshake`]) |
//! | `rtmpe://` | TCP | RTMPE ([`crate::ClientOptions::rtmpe_type`]; RC4 inside the session) |
//! | `rtmps://` | TLS over TCP ([`tls`]) | digest |
//! | `rtmpt://` | HTTP tunnel ([`rtmpt`]) | digest |
//! | `rtmpte://` | HTTP tunnel | RTMPE |
//! | `rtmpts://` | HTTP tunnel over TLS | digest |
//!
//! RTMPE's encryption lives in the sans-IO session, so here it is plain TCP. RTMPE is
//! obfuscation, not security: its keys are exchanged without authentication. Use `rtmps://`.
//!
//! The RTMP proxy protocol (seed 000, "RTMP 代理"; `PROTOCOL_NOTES.md`): with
//! [`crate::ClientOptions::proxy_real_ip`] set, `F3`, a big-endian u16 size 4 and the IPv4
//! address are written on the TCP connection before anything else (before C0, or before the
//! TLS ClientHello on `rtmps://`), so a Sluice edge can tell the origin who the client really
//! is. The origin must trust the edge's address. HTTP tunnels carry no such header
//! ([`crate::ClientError::ProxyHeaderUnsupported`]).

pub(crate) mod http;
pub mod rtmpt;
pub mod tls;

use crate::error::{ClientError, Stage};
use crate::options::ClientOptions;
use crate::url::{Scheme, Url};
use rtmpt::RtmptStream;
use std::io::{self, IoSlice};
use std::net::Ipv4Addr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// First byte of the RTMP proxy protocol header (in place of C0).
pub const PROXY_MARKER: u8 = 0xF3;

/// The RTMP proxy protocol header announcing `ip`: `F3 00 04 a b c d`.
pub fn proxy_header(ip: Ipv4Addr) -> [u8; 7] {
    let [a, b, c, d] = ip.octets();
    [PROXY_MARKER, 0x00, 0x04, a, b, c, d]
}

/// A connection to an RTMP server over whichever transport the URL named.
#[derive(Debug)]
pub enum ClientStream {
    /// Plain TCP (`rtmp://`, `rtmpe://`).
    Tcp(TcpStream),
    /// TLS over TCP (`rtmps://`, and the HTTP connection of `rtmpts://`).
    Tls(Box<TlsStream<TcpStream>>),
    /// An RTMPT session (`rtmpt://`, `rtmpte://`, `rtmpts://`).
    Rtmpt(RtmptStream),
}

impl ClientStream {
    /// Open the transport for `url`: TCP (with the proxy header if configured), then TLS or
    /// the RTMPT session as the scheme says. No RTMP byte is exchanged yet.
    pub async fn open(url: &Url, options: &ClientOptions) -> Result<ClientStream, ClientError> {
        match url.scheme() {
            Scheme::Rtmp | Scheme::Rtmpe | Scheme::Rtmps => dial(url, options).await,
            Scheme::Rtmpt | Scheme::Rtmpte | Scheme::Rtmpts => {
                if options.proxy_real_ip.is_some() {
                    return Err(ClientError::ProxyHeaderUnsupported(url.scheme()));
                }
                Ok(ClientStream::Rtmpt(RtmptStream::open(url, options).await?))
            }
            Scheme::Rtmfp => Err(ClientError::Rtmfp(
                "rtmfp:// is not a byte stream: use RtmfpClient".into(),
            )),
        }
    }
}

/// TCP to the URL's host and port, the proxy header when configured (not for HTTP tunnels),
/// then TLS for `rtmps`/`rtmpts`.
pub(crate) async fn dial(url: &Url, options: &ClientOptions) -> Result<ClientStream, ClientError> {
    let mut tcp = tcp_connect(url, options).await?;
    let tunnel = matches!(
        url.scheme(),
        Scheme::Rtmpt | Scheme::Rtmpte | Scheme::Rtmpts
    );
    if let (Some(ip), false) = (options.proxy_real_ip, tunnel) {
        tcp.write_all(&proxy_header(ip))
            .await
            .map_err(|error| ClientError::Io {
                stage: Stage::Connect,
                error,
            })?;
    }
    if !matches!(url.scheme(), Scheme::Rtmps | Scheme::Rtmpts) {
        return Ok(ClientStream::Tcp(tcp));
    }
    let name = tls::server_name(url.host())
        .ok_or_else(|| ClientError::BadTlsName(url.host().to_owned()))?;
    let connector = TlsConnector::from(options.tls.client_config()?);
    let stream = connector
        .connect(name, tcp)
        .await
        .map_err(|error| ClientError::Tls {
            addr: url.host_port(),
            error,
        })?;
    Ok(ClientStream::Tls(Box::new(stream)))
}

async fn tcp_connect(url: &Url, options: &ClientOptions) -> Result<TcpStream, ClientError> {
    let addr = url.host_port();
    let addrs: Vec<_> = tokio::net::lookup_host((url.host(), url.port()))
        .await
        .map_err(|error| ClientError::Resolve {
            host: url.host().to_owned(),
            error,
        })?
        .collect();
    let mut last = None;
    for a in addrs {
        match TcpStream::connect(a).await {
            Ok(s) => {
                if options.tcp_nodelay {
                    // Failing to set the option only costs latency.
                    let _ = s.set_nodelay(true);
                }
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if e.kind() == io::ErrorKind::ConnectionRefused => ClientError::Refused { addr },
        Some(error) => ClientError::Connect { addr, error },
        None => ClientError::Resolve {
            host: url.host().to_owned(),
            error: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
        },
    })
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            ClientStream::Tcp($s) => {
                let $s = Pin::new($s);
                $e
            }
            ClientStream::Tls($s) => {
                let $s = Pin::new(&mut **$s);
                $e
            }
            ClientStream::Rtmpt($s) => {
                let $s = Pin::new($s);
                $e
            }
        }
    };
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ClientStream::Tcp(s) => s.is_write_vectored(),
            ClientStream::Tls(s) => s.is_write_vectored(),
            ClientStream::Rtmpt(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests;
