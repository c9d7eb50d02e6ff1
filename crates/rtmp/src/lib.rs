//! Sans-IO RTMP protocol core: everything about RTMP that is not I/O.
//!
//! The crate has no sockets, no async runtime and no clock. Bytes go in, events and bytes come
//! out; a driver (the tokio server and client in `sluice-server` / `sluice-client`, or a test)
//! moves them. Every transport — TCP, TLS, RTMPE, RTMPT — feeds the same session.
//!
//! Layers, bottom up (RTMP 1.0, December 2012; Enhanced RTMP v2):
//!
//! | module | what | spec |
//! |---|---|---|
//! | [`types`] | timestamps (serial arithmetic), message type ids, raw messages | §5.3.1, §5.4, §6, §7.1 |
//! | [`handshake`] | C0/C1/C2 and S0/S1/S2, simple and digest forms, both ends | §5.2 |
//! | [`chunk`] | chunk stream decoder and encoder, Set Chunk Size, Abort | §5.3, §5.4.1–2 |
//! | [`message`] | protocol control, user control, shared object, aggregate bodies | §5.4, §6.2, §7.1 |
//! | [`command`] | AMF command messages and the typed NetConnection/NetStream commands | §7.1.1, §7.2 |
//! | [`session`] | server and client state machines on top of all of the above | §7.3 |
//!
//! # Using a session
//!
//! ```
//! use sluice_rtmp::session::{ServerConfig, ServerEvent, ServerSession};
//!
//! let mut session = ServerSession::new(ServerConfig::default(), &mut rand::thread_rng());
//! // 1. bytes from the peer:
//! # let bytes_from_peer: &[u8] = &[];
//! session.handle_input(bytes_from_peer).expect("protocol error: close the connection");
//! // 2. events for the application (decisions go back through methods):
//! while let Some(event) = session.poll_event() {
//!     match event {
//!         ServerEvent::ConnectRequest { request, .. } => {
//!             session.accept_connect(request, Default::default()).unwrap();
//!         }
//!         _ => {}
//!     }
//! }
//! // 3. bytes for the peer (one vectored write):
//! let mut out = Vec::new();
//! session.drain_transmit(&mut out);
//! ```
//!
//! Limits on everything the peer controls live in [`chunk::ChunkLimits`],
//! [`sluice_amf::AmfLimits`], [`message::AggregateLimits`], [`message::SharedObjectLimits`] and
//! [`session::ServerConfig`]; each has documented defaults and a typed error when exceeded.
#![forbid(unsafe_code)]

#[doc(hidden)]
pub mod check;
pub mod chunk;
pub mod command;
pub mod handshake;
pub mod message;
pub mod session;
pub mod types;
mod vecmap;

pub use types::{MessageType, RawMessage, Timestamp};
