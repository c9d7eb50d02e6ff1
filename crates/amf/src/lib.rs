//! AMF0 and AMF3 (Action Message Format) values, decoders and encoders.
//!
//! RTMP carries commands, metadata and shared objects as AMF values: AMF0 in message types
//! 18/19/20 and AMF3 (usually behind an AMF0 "AVM+" switch) in types 15/16/17. This crate
//! implements both formats completely:
//!
//! * [`amf0`]: the "AMF0 File Format Specification" (Adobe, 2007), every marker `0x00..=0x11`,
//!   with the reference table of complex values and the `0x11` switch to AMF3.
//! * [`amf3`]: the "AMF3 Specification" (Adobe, 2013 revision), every marker `0x00..=0x11`,
//!   with its three reference tables (strings, objects, traits).
//!
//! Values are plain owned trees ([`Amf0Value`], [`Amf3Value`]). Decoders resolve references
//! by producing a copy of the referenced value, so a value never aliases another.
//!
//! # Untrusted input
//!
//! Decoding never panics and never allocates from a peer-declared length without a cap.
//! Everything a peer controls is bounded by [`AmfLimits`] (nesting depth, number of values
//! produced, string length, total bytes produced); exceeding a limit is a typed
//! [`AmfError`]. Limits count the *output*, so values duplicated by references
//! ("billion laughs") are charged in full.
//!
//! # Example
//!
//! ```
//! use sluice_amf::{amf0_decode_all, amf0_encode_all, Amf0Value};
//!
//! let body = amf0_encode_all(&["createStream".into(), 2.0.into(), Amf0Value::Null]);
//! assert_eq!(amf0_decode_all(&body).unwrap()[0].as_str(), Some("createStream"));
//! ```
#![forbid(unsafe_code)]

pub mod amf0;
pub mod amf3;
pub mod check;
mod error;
mod limits;
mod reader;

pub use amf0::{
    amf0_decode_all, amf0_encode, amf0_encode_all, Amf0Decoder, Amf0Marker, Amf0Object, Amf0Value,
};
pub use amf3::{
    amf3_decode_all, amf3_encode_all, Amf3Array, Amf3Decoder, Amf3Encoder, Amf3Marker, Amf3Object,
    Amf3Value,
};
pub use error::AmfError;
pub use limits::AmfLimits;
