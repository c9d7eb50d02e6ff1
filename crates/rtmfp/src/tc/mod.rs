//! RTMP over RTMFP, "TC" (RFC 7425 §5): RTMP messages on RTMFP flows.
//!
//! | module | what | spec |
//! |---|---|---|
//! | [`metadata`] | the `TC` flow signature with its stream ID | RFC 7425 §5.1.1 |
//! | [`message`] | message framing on a flow; Flow Sync and Set Keepalive Timers | §5.1.2, §5.2, §5.3.4 |
//! | [`sync`] | the Flow Sync barrier across a NetStream's flows | §5.2 |
//! | [`client`] | a client's NetConnection over one session: connect, createStream, publish, play | §5.3 |
//! | [`server`] | a server's NetConnection over one session: connect, createStream, publish, play, deleteStream, setPeerInfo | §5.3, §5.4 |
//!
//! Commands are the RTMP core's ([`sluice_rtmp::command`]); media are RTMP message bodies
//! unchanged, so what an RTMFP publisher sends is what an RTMP player receives.

pub mod client;
mod flows;
pub mod message;
pub mod metadata;
pub mod server;
mod server_api;
pub mod sync;

pub use client::{TcClient, TcClientConfig, TcClientEvent};
pub use message::{TcMessage, TcMessageError, TcUserControl};
pub use metadata::{ReceiveIntent, TcMetadata, TcMetadataError};
pub use server::{TcError, TcServer, TcServerConfig, TcServerEvent};
pub use sync::FlowSync;
