//! Sans-IO FLV demuxer (FLV specification v10.1, Annex E.2-E.3: header, then
//! `PreviousTagSize0`, then tags each followed by its PreviousTagSize).
//!
//! It follows the tokio-util `Decoder` contract: feed bytes into a `BytesMut`, call
//! [`FlvDemuxer::decode`] until it returns `Ok(None)` ("need more bytes"); `Err` means the stream
//! is corrupt and the demuxer should be dropped. The decode state is explicit, so nothing is
//! re-parsed, and tag bodies are split off the input buffer without copying. At end of input
//! call [`FlvDemuxer::finish`] to learn whether the stream ended on a tag boundary.

use bytes::{Buf, BytesMut};

use crate::file::{TagHeader, FLV_HEADER_SIZE, TAG_HEADER_SIZE};
use crate::{FlvError, FlvHeader, FlvLimits, FlvTag};

/// What the demuxer produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlvEvent {
    /// The file header; always the first event.
    Header(FlvHeader),
    /// A complete tag.
    Tag(FlvTag),
}

#[derive(Debug, Clone, Copy)]
enum State {
    Header,
    SkipPadding { remaining: u32 },
    PreviousTagSize { expected: u32 },
    TagHeader,
    TagBody(TagHeader),
}

/// Incremental FLV demuxer; see the module docs.
#[derive(Debug, Clone)]
pub struct FlvDemuxer {
    limits: FlvLimits,
    state: State,
    mismatches: u64,
}

impl Default for FlvDemuxer {
    fn default() -> Self {
        Self::new()
    }
}

impl FlvDemuxer {
    /// A demuxer with default [`FlvLimits`].
    pub fn new() -> Self {
        Self::with_limits(FlvLimits::default())
    }

    /// A demuxer with the given limits.
    pub fn with_limits(limits: FlvLimits) -> Self {
        FlvDemuxer {
            limits,
            state: State::Header,
            mismatches: 0,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &FlvLimits {
        &self.limits
    }

    /// How many PreviousTagSize values differed from the size of the tag before them (only
    /// counted in lenient mode; strict mode fails instead).
    pub fn previous_tag_size_mismatches(&self) -> u64 {
        self.mismatches
    }

    /// Decodes the next event from `src`, consuming the bytes it used.
    ///
    /// Returns `Ok(None)` when more input is needed (having reserved room for the unit being
    /// read, bounded by the limits).
    pub fn decode(&mut self, src: &mut BytesMut) -> Result<Option<FlvEvent>, FlvError> {
        loop {
            match self.state {
                State::Header => {
                    let Some(head) = src.get(..FLV_HEADER_SIZE as usize) else {
                        return Ok(None);
                    };
                    let header = FlvHeader::parse(head)?;
                    if header.data_offset > self.limits.max_data_offset {
                        return Err(FlvError::DataOffsetTooLarge {
                            offset: header.data_offset,
                            limit: self.limits.max_data_offset,
                        });
                    }
                    src.advance(FLV_HEADER_SIZE as usize);
                    self.state = State::SkipPadding {
                        remaining: header.data_offset - FLV_HEADER_SIZE,
                    };
                    return Ok(Some(FlvEvent::Header(header)));
                }
                State::SkipPadding { remaining } => {
                    let n = src.len().min(remaining as usize);
                    src.advance(n);
                    let remaining = remaining - n as u32;
                    if remaining > 0 {
                        self.state = State::SkipPadding { remaining };
                        return Ok(None);
                    }
                    self.state = State::PreviousTagSize { expected: 0 };
                }
                State::PreviousTagSize { expected } => {
                    if src.len() < 4 {
                        return Ok(None);
                    }
                    let found = src.get_u32();
                    if found != expected {
                        if self.limits.strict_previous_tag_size {
                            return Err(FlvError::PreviousTagSizeMismatch { expected, found });
                        }
                        self.mismatches += 1;
                    }
                    self.state = State::TagHeader;
                }
                State::TagHeader => {
                    let Some(head) = src.get(..TAG_HEADER_SIZE) else {
                        return Ok(None);
                    };
                    let mut arr = [0u8; TAG_HEADER_SIZE];
                    arr.copy_from_slice(head);
                    let th = TagHeader::parse(&arr);
                    if th.data_size > self.limits.max_tag_size {
                        return Err(FlvError::TagTooLarge {
                            size: th.data_size,
                            limit: self.limits.max_tag_size,
                        });
                    }
                    src.advance(TAG_HEADER_SIZE);
                    self.state = State::TagBody(th);
                }
                State::TagBody(th) => {
                    let size = th.data_size as usize;
                    if src.len() < size {
                        // Bounded by `max_tag_size`, checked above.
                        src.reserve(size - src.len());
                        return Ok(None);
                    }
                    let data = src.split_to(size).freeze();
                    self.state = State::PreviousTagSize {
                        expected: th.data_size + TAG_HEADER_SIZE as u32,
                    };
                    return Ok(Some(FlvEvent::Tag(FlvTag {
                        tag_type: th.tag_type,
                        timestamp: th.timestamp,
                        stream_id: th.stream_id,
                        filter: th.filter,
                        data,
                    })));
                }
            }
        }
    }

    /// Checks, once the input has ended, that `src` (what is left after the last `decode`)
    /// ends on a boundary. A missing final PreviousTagSize is accepted; anything else left over,
    /// or an input that never produced a header, is [`FlvError::UnexpectedEof`].
    pub fn finish(&self, src: &BytesMut) -> Result<(), FlvError> {
        let clean = src.is_empty()
            && matches!(
                self.state,
                State::TagHeader | State::PreviousTagSize { .. } | State::SkipPadding { .. }
            );
        if clean {
            Ok(())
        } else {
            Err(FlvError::UnexpectedEof {
                buffered: src.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::hx;
    use crate::TagType;

    fn sample() -> Vec<u8> {
        hx("464c5601 05 00000009 00000000 \
            12 000003 000000 00 000000 020001 0000000e \
            08 000002 000021 00 000000 af01 0000000d")
    }

    fn drain(d: &mut FlvDemuxer, src: &mut BytesMut) -> Vec<FlvEvent> {
        let mut out = Vec::new();
        while let Some(ev) = d.decode(src).unwrap() {
            out.push(ev);
        }
        out
    }

    #[test]
    fn decodes_whole_buffer() {
        let mut d = FlvDemuxer::new();
        let mut src = BytesMut::from(&sample()[..]);
        let ev = drain(&mut d, &mut src);
        assert_eq!(ev.len(), 3);
        assert!(matches!(ev[0], FlvEvent::Header(h) if h.has_audio && h.has_video));
        match &ev[2] {
            FlvEvent::Tag(t) => {
                assert_eq!(t.tag_type, TagType::AUDIO);
                assert_eq!(t.timestamp, 0x21);
                assert_eq!(&t.data[..], &[0xaf, 0x01]);
            }
            other => panic!("unexpected {other:?}"),
        }
        d.finish(&src).unwrap();
        assert_eq!(d.previous_tag_size_mismatches(), 0);
    }

    #[test]
    fn decodes_byte_by_byte() {
        let bytes = sample();
        let mut d = FlvDemuxer::new();
        let mut src = BytesMut::new();
        let mut events = Vec::new();
        for b in bytes {
            src.extend_from_slice(&[b]);
            events.extend(drain(&mut d, &mut src));
        }
        assert_eq!(events.len(), 3);
        d.finish(&src).unwrap();
    }

    #[test]
    fn truncated_stream_reported_by_finish() {
        let bytes = sample();
        for cut in 0..=bytes.len() {
            let mut d = FlvDemuxer::new();
            let mut src = BytesMut::from(&bytes[..cut]);
            drain(&mut d, &mut src);
            let ok = d.finish(&src).is_ok();
            // Clean cuts: after the header (a missing back pointer is tolerated), after
            // PreviousTagSize0, after each tag and after each tag's back pointer.
            let boundaries = [9, 13, 13 + 14, 13 + 14 + 4, 13 + 18 + 13, 13 + 18 + 13 + 4];
            assert_eq!(ok, boundaries.contains(&cut), "cut at {cut}");
        }
    }

    #[test]
    fn previous_tag_size_lenient_and_strict() {
        let mut bytes = sample();
        bytes[12] = 5; // PreviousTagSize0 = 5
        let mut d = FlvDemuxer::new();
        let mut src = BytesMut::from(&bytes[..]);
        assert_eq!(drain(&mut d, &mut src).len(), 3);
        assert_eq!(d.previous_tag_size_mismatches(), 1);

        let limits = FlvLimits {
            strict_previous_tag_size: true,
            ..FlvLimits::default()
        };
        let mut d = FlvDemuxer::with_limits(limits);
        let mut src = BytesMut::from(&bytes[..]);
        assert!(matches!(d.decode(&mut src), Ok(Some(FlvEvent::Header(_)))));
        assert!(matches!(
            d.decode(&mut src),
            Err(FlvError::PreviousTagSizeMismatch {
                expected: 0,
                found: 5
            })
        ));
    }

    #[test]
    fn limits_enforced() {
        let limits = FlvLimits {
            max_tag_size: 2,
            ..FlvLimits::default()
        };
        let mut d = FlvDemuxer::with_limits(limits);
        let mut src = BytesMut::from(&sample()[..]);
        assert!(matches!(d.decode(&mut src), Ok(Some(FlvEvent::Header(_)))));
        assert!(matches!(
            d.decode(&mut src),
            Err(FlvError::TagTooLarge { size: 3, limit: 2 })
        ));

        let mut d = FlvDemuxer::new();
        let mut src = BytesMut::from(&hx("464c5601 05 00010000")[..]);
        assert!(matches!(
            d.decode(&mut src),
            Err(FlvError::DataOffsetTooLarge {
                offset: 65536,
                limit: 1024
            })
        ));
    }

    #[test]
    fn header_padding_skipped_incrementally() {
        let bytes = hx("464c5601 04 0000000b aaaa 00000000 08 000001 000000 00 000000 2a");
        let mut d = FlvDemuxer::new();
        let mut src = BytesMut::new();
        let mut events = Vec::new();
        for b in bytes {
            src.extend_from_slice(&[b]);
            events.extend(drain(&mut d, &mut src));
        }
        assert_eq!(events.len(), 2);
        assert!(matches!(&events[1], FlvEvent::Tag(t) if t.data[..] == [0x2a]));
        d.finish(&src).unwrap();
    }

    #[test]
    fn bad_signature_and_empty_input() {
        let mut d = FlvDemuxer::new();
        let mut src = BytesMut::from(&b"GIF89a\0\0\0\0"[..]);
        assert!(matches!(d.decode(&mut src), Err(FlvError::BadSignature(_))));
        let d = FlvDemuxer::new();
        assert!(matches!(
            d.finish(&BytesMut::new()),
            Err(FlvError::UnexpectedEof { buffered: 0 })
        ));
    }
}
