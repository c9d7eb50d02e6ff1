//! The one error type of the AMF layer.
//!
//! Every variant names the rule of the AMF0 / AMF3 specifications (or a local limit from
//! [`AmfLimits`](crate::AmfLimits)) that the input broke. All of them are peer violations:
//! encoding is infallible, so no variant describes local misuse.

use thiserror::Error;

/// Why AMF data could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AmfError {
    /// The data ended inside a value.
    #[error("truncated AMF data: needed {needed} more bytes, {available} available")]
    UnexpectedEof {
        /// Bytes the current field needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A marker the specification reserves and forbids on the wire (AMF0 movieclip `0x04`,
    /// recordset `0x0E`).
    #[error("AMF marker {0:#04x} is reserved and not supported on the wire")]
    ReservedMarker(u8),
    /// A marker byte outside the type table of the format.
    #[error("unknown AMF marker {0:#04x}")]
    UnknownMarker(u8),
    /// AMF0 object-end marker (`0x09`) where a value was expected: it may only follow an
    /// empty property name inside an object, ECMA array or typed object.
    #[error("AMF0 object-end marker outside the end of an object's property list")]
    UnexpectedObjectEnd,
    /// A reference (AMF0 `0x07`, AMF3 U29O-ref) to an index the object table does not have.
    #[error("AMF reference to object #{index}, which was not sent before")]
    InvalidReference {
        /// The index the peer sent.
        index: usize,
    },
    /// An AMF3 U29S-ref to an index the string table does not have.
    #[error("AMF3 reference to string #{index}, which was not sent before")]
    InvalidStringReference {
        /// The index the peer sent.
        index: usize,
    },
    /// An AMF3 U29O-traits-ref to an index the traits table does not have.
    #[error("AMF3 reference to traits #{index}, which were not sent before")]
    InvalidTraitReference {
        /// The index the peer sent.
        index: usize,
    },
    /// A reference to a complex value that is still being decoded (a cycle). Values here are
    /// trees, so cyclic graphs are rejected.
    #[error("AMF reference to an object that is still being decoded (cyclic graph)")]
    CircularReference,
    /// An AMF3 reference whose target has another type than the marker in front of it
    /// (e.g. an array marker referencing a date).
    #[error("AMF3 reference #{index} under marker {expected:#04x} points to a {found:#04x} value")]
    ReferenceTypeMismatch {
        /// The index the peer sent.
        index: usize,
        /// The marker in front of the reference.
        expected: u8,
        /// The marker of the referenced value.
        found: u8,
    },
    /// More containers nested than [`AmfLimits::max_depth`](crate::AmfLimits::max_depth).
    #[error("AMF nesting deeper than the limit of {limit}")]
    DepthLimit {
        /// The limit in force.
        limit: usize,
    },
    /// More values produced than [`AmfLimits::max_elements`](crate::AmfLimits::max_elements).
    #[error("AMF data produces more than the limit of {limit} values")]
    ElementLimit {
        /// The limit in force.
        limit: usize,
    },
    /// A string, XML text, class name or byte array longer than
    /// [`AmfLimits::max_string_len`](crate::AmfLimits::max_string_len).
    #[error("AMF string of {len} bytes exceeds the limit of {limit}")]
    StringTooLong {
        /// The declared length.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// More string and byte-array bytes produced than
    /// [`AmfLimits::max_total_bytes`](crate::AmfLimits::max_total_bytes).
    #[error("AMF data produces more than the limit of {limit} string bytes")]
    TotalBytesLimit {
        /// The limit in force.
        limit: usize,
    },
    /// A string that is not valid UTF-8 (both formats require UTF-8).
    #[error("AMF string is not valid UTF-8")]
    InvalidUtf8,
    /// An AMF3 object with externalizable traits: its body is in a class-specific format
    /// that only that class can read, so it cannot be decoded generically.
    #[error("AMF3 externalizable object of class {class_name:?} cannot be decoded")]
    Externalizable {
        /// The class that would have to read the body.
        class_name: String,
    },
}
