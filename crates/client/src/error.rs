//! The client layer's error type: one variant per way a connection, publish or play can fail,
//! each with a message that can be shown to a user as one line.

use crate::transport::rtmpt::RtmptError;
use crate::transport::tls::TlsSetupError;
use crate::url::{Scheme, UrlError};
use sluice_rtmp::command::StatusInfo;
use sluice_rtmp::session::SessionError;
use std::time::Duration;

/// The step of a connection an error or timeout happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Resolving the host and opening the transport (TCP, TLS, the RTMPT session).
    Connect,
    /// The RTMP handshake (RTMP 1.0 §5.2).
    Handshake,
    /// Waiting for the answer to `connect` (§7.2.1.1).
    ConnectCommand,
    /// Waiting for `NetStream.Publish.Start`.
    Publish,
    /// Waiting for `NetStream.Play.Start`.
    Play,
    /// Streaming media.
    Streaming,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Connect => "opening the connection",
            Stage::Handshake => "RTMP handshake",
            Stage::ConnectCommand => "connect command",
            Stage::Publish => "publish",
            Stage::Play => "play",
            Stage::Streaming => "streaming",
        })
    }
}

/// Errors of the client layer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL does not parse.
    #[error("bad URL: {0}")]
    Url(UrlError),
    /// The RTMP proxy header was asked for over an HTTP tunnel, which cannot carry it.
    #[error("the RTMP proxy header (real client IP) cannot be sent over {0}:// (HTTP tunnel)")]
    ProxyHeaderUnsupported(Scheme),
    /// The TLS configuration could not be built (CA file).
    #[error("TLS setup: {0}")]
    TlsSetup(TlsSetupError),
    /// The URL's host cannot be a TLS server name.
    #[error("`{0}` cannot be used as a TLS server name")]
    BadTlsName(String),
    /// The TLS handshake failed (certificate not trusted, not a TLS server, ...).
    #[error("TLS handshake with {addr} failed: {error}")]
    Tls {
        /// `host:port`.
        addr: String,
        /// The TLS or OS error.
        error: std::io::Error,
    },
    /// The RTMPT (HTTP tunnel) transport failed.
    #[error("RTMPT: {0}")]
    Rtmpt(RtmptError),
    /// The URL has no stream name but one is needed (publish, play).
    #[error("URL has no stream name: expected rtmp://host[:port]/app/stream")]
    MissingStream,
    /// The host name does not resolve.
    #[error("cannot resolve {host}: {error}")]
    Resolve {
        /// The host.
        host: String,
        /// The resolver's error.
        error: std::io::Error,
    },
    /// Nothing listens at the address.
    #[error("connection refused by {addr}")]
    Refused {
        /// `host:port`.
        addr: String,
    },
    /// Opening the TCP connection failed for another reason.
    #[error("cannot connect to {addr}: {error}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// The OS error.
        error: std::io::Error,
    },
    /// A step did not finish within its time limit.
    #[error("timed out after {after:?} during {stage}")]
    Timeout {
        /// What was being waited for.
        stage: Stage,
        /// The limit that expired.
        after: Duration,
    },
    /// The server closed the connection.
    #[error("server closed the connection during {0}")]
    Closed(Stage),
    /// Reading or writing the connection failed.
    #[error("I/O error during {stage}: {error}")]
    Io {
        /// What was going on.
        stage: Stage,
        /// The OS error.
        error: std::io::Error,
    },
    /// The server broke the protocol (bad handshake, corrupt chunk stream, limit exceeded).
    #[error("protocol error from server: {0}")]
    Protocol(SessionError),
    /// The server refused `connect` (`_error`).
    #[error("server rejected connect: {} ({})", .0.code, .0.description)]
    ConnectRejected(StatusInfo),
    /// The server refused `publish` (error-level onStatus or `_error`).
    #[error("server rejected publish: {} ({})", .0.code, .0.description)]
    PublishRejected(StatusInfo),
    /// The server refused `play`.
    #[error("server rejected play: {} ({})", .0.code, .0.description)]
    PlayRejected(StatusInfo),
    /// The server made us exceed one of the [`crate::ClientOptions`] limits.
    #[error("server exceeded a limit: more than {limit} {what}")]
    LimitExceeded {
        /// What was counted.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The server reported an error on a stream that was already running.
    #[error("stream error from server: {} ({})", .0.code, .0.description)]
    StreamError(StatusInfo),
    /// The RTMFP session failed (handshake refused, protocol error from the server).
    #[error("RTMFP: {0}")]
    Rtmfp(String),
}

// Conversions without `#[from]`: the inner error is part of the message, so it is not also
// reported as the `source()` (which would print it twice in a `{:#}` chain).
impl From<UrlError> for ClientError {
    fn from(e: UrlError) -> Self {
        ClientError::Url(e)
    }
}

impl From<SessionError> for ClientError {
    fn from(e: SessionError) -> Self {
        ClientError::Protocol(e)
    }
}

impl From<TlsSetupError> for ClientError {
    fn from(e: TlsSetupError) -> Self {
        ClientError::TlsSetup(e)
    }
}

impl From<RtmptError> for ClientError {
    fn from(e: RtmptError) -> Self {
        ClientError::Rtmpt(e)
    }
}

impl ClientError {
    /// A short machine-friendly name of the error's kind (for counting errors by kind).
    pub fn kind(&self) -> &'static str {
        match self {
            ClientError::Url(_) => "bad_url",
            ClientError::ProxyHeaderUnsupported(_) => "proxy_header_unsupported",
            ClientError::TlsSetup(_) => "tls_setup",
            ClientError::BadTlsName(_) => "bad_tls_name",
            ClientError::Tls { .. } => "tls",
            ClientError::Rtmpt(_) => "rtmpt",
            ClientError::MissingStream => "missing_stream",
            ClientError::Resolve { .. } => "resolve",
            ClientError::Refused { .. } => "refused",
            ClientError::Connect { .. } => "connect",
            ClientError::Timeout { .. } => "timeout",
            ClientError::Closed(_) => "closed",
            ClientError::Io { .. } => "io",
            ClientError::Protocol(_) => "protocol",
            ClientError::ConnectRejected(_) => "connect_rejected",
            ClientError::PublishRejected(_) => "publish_rejected",
            ClientError::PlayRejected(_) => "play_rejected",
            ClientError::LimitExceeded { .. } => "limit_exceeded",
            ClientError::StreamError(_) => "stream_error",
            ClientError::Rtmfp(_) => "rtmfp",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_kinds() {
        let cases: Vec<(ClientError, &str, &str)> = vec![
            (
                ClientError::Url(UrlError::MissingApp),
                "bad URL: URL has no application: expected rtmp://host[:port]/app/stream",
                "bad_url",
            ),
            (
                ClientError::ProxyHeaderUnsupported(Scheme::Rtmpt),
                "the RTMP proxy header (real client IP) cannot be sent over rtmpt:// (HTTP tunnel)",
                "proxy_header_unsupported",
            ),
            (
                ClientError::TlsSetup(TlsSetupError::NoCertificates {
                    path: "ca.pem".into(),
                }),
                "TLS setup: CA file ca.pem holds no PEM certificate",
                "tls_setup",
            ),
            (
                ClientError::BadTlsName("a b".into()),
                "`a b` cannot be used as a TLS server name",
                "bad_tls_name",
            ),
            (
                ClientError::Tls {
                    addr: "h:443".into(),
                    error: std::io::Error::other("invalid peer certificate: UnknownIssuer"),
                },
                "TLS handshake with h:443 failed: invalid peer certificate: UnknownIssuer",
                "tls",
            ),
            (
                ClientError::Rtmpt(RtmptError::UnknownSession {
                    sid: "abc".into(),
                    path: "/idle/abc/2".into(),
                }),
                "RTMPT: the server does not know RTMPT session abc (HTTP 404 for POST /idle/abc/2)",
                "rtmpt",
            ),
            (
                ClientError::MissingStream,
                "URL has no stream name: expected rtmp://host[:port]/app/stream",
                "missing_stream",
            ),
            (
                ClientError::Resolve {
                    host: "nowhere".into(),
                    error: std::io::Error::other("no such host"),
                },
                "cannot resolve nowhere: no such host",
                "resolve",
            ),
            (
                ClientError::Refused {
                    addr: "127.0.0.1:1".into(),
                },
                "connection refused by 127.0.0.1:1",
                "refused",
            ),
            (
                ClientError::Connect {
                    addr: "h:1".into(),
                    error: std::io::Error::other("unreachable"),
                },
                "cannot connect to h:1: unreachable",
                "connect",
            ),
            (
                ClientError::Timeout {
                    stage: Stage::Play,
                    after: Duration::from_secs(2),
                },
                "timed out after 2s during play",
                "timeout",
            ),
            (
                ClientError::Closed(Stage::Handshake),
                "server closed the connection during RTMP handshake",
                "closed",
            ),
            (
                ClientError::Io {
                    stage: Stage::Streaming,
                    error: std::io::Error::other("reset"),
                },
                "I/O error during streaming: reset",
                "io",
            ),
            (
                ClientError::Protocol(SessionError::Closed),
                "protocol error from server: session closed",
                "protocol",
            ),
            (
                ClientError::ConnectRejected(StatusInfo::error(
                    "NetConnection.Connect.Rejected",
                    "no",
                )),
                "server rejected connect: NetConnection.Connect.Rejected (no)",
                "connect_rejected",
            ),
            (
                ClientError::PublishRejected(StatusInfo::error(
                    "NetStream.Publish.BadName",
                    "in use",
                )),
                "server rejected publish: NetStream.Publish.BadName (in use)",
                "publish_rejected",
            ),
            (
                ClientError::PlayRejected(StatusInfo::error(
                    "NetStream.Play.StreamNotFound",
                    "none",
                )),
                "server rejected play: NetStream.Play.StreamNotFound (none)",
                "play_rejected",
            ),
            (
                ClientError::LimitExceeded {
                    what: "messages before NetStream.Play.Start",
                    limit: 256,
                },
                "server exceeded a limit: more than 256 messages before NetStream.Play.Start",
                "limit_exceeded",
            ),
            (
                ClientError::StreamError(StatusInfo::error("NetStream.Failed", "x")),
                "stream error from server: NetStream.Failed (x)",
                "stream_error",
            ),
        ];
        for (e, msg, kind) in cases {
            // The message carries the cause; it is not also a `source()` (no doubled chain).
            assert!(std::error::Error::source(&e).is_none(), "{e}");
            assert_eq!(e.to_string(), msg);
            assert_eq!(e.kind(), kind);
        }
        for s in [
            Stage::Connect,
            Stage::Handshake,
            Stage::ConnectCommand,
            Stage::Publish,
            Stage::Play,
            Stage::Streaming,
        ] {
            assert!(!s.to_string().is_empty());
        }
    }
}
