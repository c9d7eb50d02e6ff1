//! Limits on what a peer can make an AMF decoder produce, and their bookkeeping.
//!
//! Neither AMF specification bounds nesting, counts or (thanks to references) the size of
//! the decoded value, so every bound here is a local policy with a documented default.

use crate::AmfError;

/// Bounds applied while decoding AMF0 or AMF3 data from a peer.
///
/// The defaults fit every RTMP command and metadata message seen from real encoders
/// (the largest, `onMetaData` with keyframe tables, has a few ten thousand values) while
/// keeping the worst case for one message to a few tens of MiB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmfLimits {
    /// Containers (objects, arrays, vectors, dictionaries) open at once. A top-level object
    /// counts as one. Default: 64. Decoding recurses once per level, so keep it modest.
    pub max_depth: usize,
    /// Values produced by one decoder, counting every nested value, vector item and
    /// dictionary key, and counting values copied out of references again.
    /// Default: 262 144 (2^18).
    pub max_elements: usize,
    /// Bytes in one string, XML text, property name, class name or byte array.
    /// Default: 16 MiB (larger than any RTMP message).
    pub max_string_len: usize,
    /// Bytes of strings, property names and byte arrays produced by one decoder, counting
    /// copies made for references again. Default: 64 MiB.
    pub max_total_bytes: usize,
    /// Accept an AMF0 ECMA array that runs to the end of the buffer without its object-end
    /// marker (`00 00 09`), or with only the empty name `00 00` of it. Some encoders
    /// (older FMLE and several hardware encoders writing `onMetaData`) do this.
    /// Default: true. When false the missing marker is [`AmfError::UnexpectedEof`].
    pub allow_unterminated_ecma_array: bool,
}

impl AmfLimits {
    /// Default for [`max_depth`](Self::max_depth).
    pub const DEFAULT_MAX_DEPTH: usize = 64;
    /// Default for [`max_elements`](Self::max_elements).
    pub const DEFAULT_MAX_ELEMENTS: usize = 1 << 18;
    /// Default for [`max_string_len`](Self::max_string_len).
    pub const DEFAULT_MAX_STRING_LEN: usize = 16 << 20;
    /// Default for [`max_total_bytes`](Self::max_total_bytes).
    pub const DEFAULT_MAX_TOTAL_BYTES: usize = 64 << 20;
}

impl Default for AmfLimits {
    fn default() -> Self {
        AmfLimits {
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_elements: Self::DEFAULT_MAX_ELEMENTS,
            max_string_len: Self::DEFAULT_MAX_STRING_LEN,
            max_total_bytes: Self::DEFAULT_MAX_TOTAL_BYTES,
            allow_unterminated_ecma_array: true,
        }
    }
}

/// What one decoder has produced so far, checked against its limits.
///
/// An AMF0 decoder hands its budget to the AMF3 decoder of an AVM+ value and takes it back,
/// so one message has one budget whatever the mix of formats.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    pub(crate) limits: AmfLimits,
    elements: usize,
    bytes: usize,
}

impl Budget {
    pub(crate) fn new(limits: AmfLimits) -> Self {
        Budget {
            limits,
            elements: 0,
            bytes: 0,
        }
    }

    /// Charges one produced value.
    pub(crate) fn element(&mut self) -> Result<(), AmfError> {
        self.elements(1)
    }

    /// Charges `n` produced values (vector items, or a check before pre-sizing).
    pub(crate) fn elements(&mut self, n: usize) -> Result<(), AmfError> {
        match self.elements.checked_add(n) {
            Some(total) if total <= self.limits.max_elements => {
                self.elements = total;
                Ok(())
            }
            _ => Err(AmfError::ElementLimit {
                limit: self.limits.max_elements,
            }),
        }
    }

    /// Fails if `n` more values would exceed the limit, without charging them.
    pub(crate) fn check_elements(&self, n: usize) -> Result<(), AmfError> {
        match self.elements.checked_add(n) {
            Some(total) if total <= self.limits.max_elements => Ok(()),
            _ => Err(AmfError::ElementLimit {
                limit: self.limits.max_elements,
            }),
        }
    }

    /// Checks a declared string length against `max_string_len`.
    pub(crate) fn string_len(&self, len: usize) -> Result<(), AmfError> {
        if len > self.limits.max_string_len {
            Err(AmfError::StringTooLong {
                len,
                limit: self.limits.max_string_len,
            })
        } else {
            Ok(())
        }
    }

    /// Charges `n` produced string or byte-array bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<(), AmfError> {
        match self.bytes.checked_add(n) {
            Some(total) if total <= self.limits.max_total_bytes => {
                self.bytes = total;
                Ok(())
            }
            _ => Err(AmfError::TotalBytesLimit {
                limit: self.limits.max_total_bytes,
            }),
        }
    }

    /// Opens one more container when `depth` are already open; returns the new depth.
    pub(crate) fn enter(&self, depth: usize) -> Result<usize, AmfError> {
        if depth >= self.limits.max_depth {
            Err(AmfError::DepthLimit {
                limit: self.limits.max_depth,
            })
        } else {
            Ok(depth + 1)
        }
    }

    /// Copies a borrowed string into the output, charging its bytes.
    pub(crate) fn own(&mut self, s: &str) -> Result<String, AmfError> {
        self.bytes(s.len())?;
        Ok(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_documented_values() {
        let l = AmfLimits::default();
        assert_eq!(l.max_depth, 64);
        assert_eq!(l.max_elements, 262_144);
        assert_eq!(l.max_string_len, 16 * 1024 * 1024);
        assert_eq!(l.max_total_bytes, 64 * 1024 * 1024);
        assert!(l.allow_unterminated_ecma_array);
    }

    #[test]
    fn budget_counts_and_fails() {
        let mut b = Budget::new(AmfLimits {
            max_elements: 2,
            max_total_bytes: 3,
            max_depth: 1,
            max_string_len: 1,
            ..AmfLimits::default()
        });
        b.element().unwrap();
        b.element().unwrap();
        assert_eq!(b.element(), Err(AmfError::ElementLimit { limit: 2 }));
        assert_eq!(
            b.check_elements(usize::MAX),
            Err(AmfError::ElementLimit { limit: 2 })
        );
        assert_eq!(b.own("abc").unwrap(), "abc");
        assert_eq!(b.bytes(1), Err(AmfError::TotalBytesLimit { limit: 3 }));
        assert_eq!(b.enter(0), Ok(1));
        assert_eq!(b.enter(1), Err(AmfError::DepthLimit { limit: 1 }));
        assert_eq!(
            b.string_len(2),
            Err(AmfError::StringTooLong { len: 2, limit: 1 })
        );
    }
}
