//! RTMP message bodies above the chunk stream (RTMP 1.0 §5.4, §6.2 and §7.1): decoding a
//! [`RawMessage`](crate::types::RawMessage) payload into a typed value and encoding it back.
//!
//! | module | message types | spec |
//! |---|---|---|
//! | [`control`] | 1, 2, 3, 5, 6 protocol control | §5.4 |
//! | [`user_control`] | 4 user control events | §6.2, §7.1.7 |
//! | [`shared_object`] | 19 / 16 shared object events | §7.1.3 |
//! | [`aggregate`] | 22 aggregate | §7.1.6 |
//! | [`typed`] | every type: one [`Message`] enum, unknown types kept | §5.4, §6, §7.1 |
//!
//! Everything here is sans-IO and allocation-bounded: lengths and counts come from the peer and are
//! checked against the payload size and the limits structs ([`SharedObjectLimits`],
//! [`AggregateLimits`]) before anything is allocated. Errors are [`MessageError`].

pub mod aggregate;
pub mod control;
pub mod error;
pub mod shared_object;
pub mod typed;
pub mod user_control;

pub use aggregate::{build_aggregate, split_aggregate, AggregateLimits};
pub use control::{LimitType, ProtocolControl, CONTROL_CSID};
pub use error::MessageError;
pub use shared_object::{SharedObjectEvent, SharedObjectLimits, SharedObjectMessage};
pub use typed::{DecodeError, Message};
pub use user_control::UserControlEvent;
