//! Sans-IO RTMFP core: the Secure Real-Time Media Flow Protocol (RFC 7016) with Adobe's Flash
//! crypto profile (RFC 7425).
//!
//! The crate has no sockets, no async runtime and no clock: datagrams and time go in, datagrams
//! and events come out. Time is a [`std::time::Instant`] supplied by the caller; randomness is a
//! [`rand::RngCore`] supplied by the caller.
//!
//! | module | what | spec |
//! |---|---|---|
//! | [`codec`] | VLU, options, fields | RFC 7016 §2.1 |
//! | [`chunk`] | every chunk type, byte vectors beside | RFC 7016 §2.3 |
//! | [`packet`] | flags, timestamps, chunk framing | RFC 7016 §2.2.4 |
//! | [`crypto`] | scrambled session ID, AES-128-CBC, checksum, HMAC, SSEQ, MODP DH | RFC 7016 §2.2.1, RFC 7425 §4.1–4.2, §4.6 |
//! | [`flash`] | EPD, certificates, key components, negotiation, key derivation | RFC 7425 §4.3–4.6 |
//! | [`cookie`] | stateless responder cookies | RFC 7016 §3.5.1.2 |
//! | [`time`] | timestamp echo, RTT, ERTO | RFC 7016 §3.5.2 |
//! | [`flow`] | sending/receiving flows, acks, abandonment, congestion control | RFC 7016 §3.6, §3.5.2 |
//! | [`session`] | open session: ping, keepalive, close | RFC 7016 §3.5.3–3.5.5 |
//! | [`endpoint`] | demux, startup (both roles), the public API | RFC 7016 §3.5.1 |
//! | [`tc`] | RTMP over RTMFP: TC flows, NetConnection, NetStream | RFC 7425 §5 |
//!
//! Driver loop: [`Endpoint::handle_datagram`] for each datagram, [`Endpoint::handle_timeout`]
//! when [`Endpoint::poll_timeout`] passes, then drain [`Endpoint::poll_event`] and
//! [`Endpoint::poll_transmit`]. Limits on what a far end controls are in [`Limits`].
#![forbid(unsafe_code)]

pub mod chunk;
pub mod codec;
pub mod config;
pub mod cookie;
pub mod crypto;
pub mod endpoint;
pub mod error;
pub mod event;
pub mod flash;
pub mod flow;
pub mod packet;
pub mod session;
pub mod tc;
pub mod time;

pub use config::{EndpointConfig, InitiatorStyle, Limits};
pub use endpoint::Endpoint;
pub use error::{ApiError, HandshakeError, PacketError, PeerError, ProtocolError};
pub use event::{CloseReason, Event, FlowRef, RecvFlowId, SendFlowId, SessionHandle};
pub use flash::Epd;
pub use flow::Reliability;
