//! Tokio RTMP client: connect to `rtmp://`, `rtmps://`, `rtmpe://`, `rtmpt://`, `rtmpte://` and
//! `rtmpts://` URLs, publish and play, over the sans-IO core in `sluice-rtmp` (RTMP 1.0 §5.2
//! handshake, §7.2 commands, §7.3 publish and play flows).
//!
//! - [`Url`]: `rtmp://host[:port]/app[/instance]/stream[?query]`, the scheme a [`Scheme`].
//! - [`transport`]: the byte stream per scheme ([`ClientStream`]: TCP, TLS with [`TlsConfig`],
//!   the RTMPT HTTP tunnel [`RtmptStream`]), and the RTMP proxy header
//!   ([`ClientOptions::proxy_real_ip`]).
//! - [`Client::connect`] → [`Connection`] (generic over any `AsyncRead + AsyncWrite` stream,
//!   [`Connection::establish`] for streams of your own) → [`Connection::publish`] →
//!   [`Publisher`], or [`Connection::play`] → [`Player`] yielding [`PlayEvent`]s.
//! - Chunk size changes, acknowledgements, Window Acknowledgement Size and ping responses are
//!   handled by the session; the driver writes its output in vectored writes.
//! - Every limit on what the server can make us hold is in [`ClientOptions`].
//!
//! ```no_run
//! use sluice_client::{Client, ClientOptions, PlayEvent, Url};
//!
//! # async fn run() -> Result<(), sluice_client::ClientError> {
//! let url = Url::parse("rtmp://127.0.0.1/live/cam")?;
//! let mut player = Client::play(&url, &ClientOptions::default()).await?;
//! loop {
//!     match player.next_event().await? {
//!         PlayEvent::Video { timestamp, payload } => println!("video {timestamp} {}", payload.len()),
//!         PlayEvent::Eof(reason) => break println!("end: {reason:?}"),
//!         _ => {}
//!     }
//! }
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod connection;
mod error;
mod options;
mod play;
mod publish;
pub mod rtmfp;
pub mod transport;
pub mod url;

pub use connection::{stream_name, Client, ConnectInfo, Connection, MAX_IOVECS};
pub use error::{ClientError, Stage};
pub use options::{ClientOptions, DEFAULT_FOURCC_LIST};
pub use play::{data_event, EndReason, PlayEvent, Player};
pub use publish::Publisher;
pub use rtmfp::{RtmfpClient, RtmfpConnection, RtmfpPlayer, RtmfpPublisher};
pub use transport::rtmpt::{RtmptError, RtmptOptions, RtmptStream};
pub use transport::tls::{TlsConfig, TlsSetupError};
pub use transport::{proxy_header, ClientStream};
pub use url::{Scheme, Url, UrlError};

/// Re-exported core types that appear in this crate's API.
pub use sluice_rtmp::command::{ConnectResponse, PlayArgs, PublishMode, StatusInfo};
pub use sluice_rtmp::handshake::RtmpeType;
pub use sluice_rtmp::Timestamp;
