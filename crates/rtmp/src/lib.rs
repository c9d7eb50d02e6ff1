//! Sans-IO RTMP protocol core. (Crate docs are completed by the session work.)

pub mod chunk;
pub mod command;
pub mod handshake;
pub mod message;
pub mod session;
pub mod types;

pub use types::{MessageType, RawMessage, Timestamp};
