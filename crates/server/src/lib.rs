//! Sluice's tokio RTMP server: listeners, the connection driver, and the stream hub that fans media out
//! from one publisher to many players.
//!
//! The protocol itself lives in the sans-IO `sluice-rtmp` crate; this crate adds the I/O and the shared
//! state between connections. [`hub`] is the publisher/player fan-out (stream registry, sequence-header,
//! metadata and GOP caches, and the per-player backlog policy for slow players).

pub mod hub;
