//! Flows (RFC 7016 §3.6): unidirectional, ordered-or-not, partially reliable message streams
//! inside a session. A flow carries metadata in its first fragments (RFC 7425 puts the "TC"
//! stream metadata there) and may be associated with a flow in the other direction that it
//! answers (the return flow association, §3.6.1.2), which is how RFC 7425 pairs a server's
//! replies with the client's NetConnection or NetStream flows.

pub mod congestion;
pub mod recv;
pub mod send;

pub use recv::RecvFlow;
pub use send::{Reliability, SendFlow};
