//! Sans-IO RTMFP core: the Secure Real-Time Media Flow Protocol (RFC 7016) with Adobe's Flash
//! crypto profile (RFC 7425).
//!
//! The crate has no sockets, no async runtime and no clock: datagrams and time go in, datagrams
//! and events come out. Time is a [`std::time::Instant`] supplied by the caller; randomness is a
//! [`rand::RngCore`] supplied by the caller.
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
pub mod time;

pub use config::{EndpointConfig, InitiatorStyle, Limits};
pub use endpoint::Endpoint;
pub use error::{ApiError, HandshakeError, PacketError, PeerError, ProtocolError};
pub use event::{CloseReason, Event, FlowRef, RecvFlowId, SendFlowId, SessionHandle};
pub use flash::Epd;
pub use flow::Reliability;
