//! Blocking convenience wrappers: [`FlvReader`] drives an [`FlvDemuxer`] from any
//! `std::io::Read`, [`FlvWriter`] writes an FLV file (header, tags, PreviousTagSize values) to
//! any `std::io::Write`. FLV specification v10.1, Annex E.2-E.3.

use std::io::{ErrorKind, Read, Write};

use bytes::BytesMut;

use crate::{encode_tag, FlvDemuxer, FlvError, FlvEvent, FlvHeader, FlvLimits, FlvTag};

/// Bytes requested from the reader per `read` call.
const READ_CHUNK: usize = 64 * 1024;

/// Reads FLV tags from a blocking byte source.
#[derive(Debug)]
pub struct FlvReader<R: Read> {
    inner: R,
    demux: FlvDemuxer,
    buf: BytesMut,
    scratch: Vec<u8>,
    header: Option<FlvHeader>,
    eof: bool,
}

impl<R: Read> FlvReader<R> {
    /// A reader with default [`FlvLimits`].
    pub fn new(inner: R) -> Self {
        Self::with_limits(inner, FlvLimits::default())
    }

    /// A reader with the given limits.
    pub fn with_limits(inner: R, limits: FlvLimits) -> Self {
        FlvReader {
            inner,
            demux: FlvDemuxer::with_limits(limits),
            buf: BytesMut::new(),
            scratch: vec![0; READ_CHUNK],
            header: None,
            eof: false,
        }
    }

    /// The file header, reading it first if needed.
    pub fn header(&mut self) -> Result<FlvHeader, FlvError> {
        while self.header.is_none() {
            match self.demux.decode(&mut self.buf)? {
                Some(FlvEvent::Header(h)) => self.header = Some(h),
                Some(FlvEvent::Tag(_)) => {} // unreachable: the header comes first
                None => self.fill()?,
            }
        }
        self.header.ok_or(FlvError::UnexpectedEof { buffered: 0 })
    }

    /// The next tag, or `None` at a clean end of file.
    pub fn next_tag(&mut self) -> Result<Option<FlvTag>, FlvError> {
        loop {
            match self.demux.decode(&mut self.buf)? {
                Some(FlvEvent::Header(h)) => self.header = Some(h),
                Some(FlvEvent::Tag(t)) => return Ok(Some(t)),
                None if self.eof => {
                    self.demux.finish(&self.buf)?;
                    return Ok(None);
                }
                None => self.fill()?,
            }
        }
    }

    /// Statistics of the underlying demuxer (PreviousTagSize mismatches).
    pub fn demuxer(&self) -> &FlvDemuxer {
        &self.demux
    }

    /// Gives the byte source back.
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn fill(&mut self) -> Result<(), FlvError> {
        if self.eof {
            return Err(FlvError::UnexpectedEof {
                buffered: self.buf.len(),
            });
        }
        loop {
            match self.inner.read(&mut self.scratch) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.buf
                        .extend_from_slice(&self.scratch[..n.min(self.scratch.len())]);
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Writes an FLV file to a blocking byte sink.
#[derive(Debug)]
pub struct FlvWriter<W: Write> {
    inner: W,
    scratch: Vec<u8>,
}

impl<W: Write> FlvWriter<W> {
    /// Writes a version 1 header (and PreviousTagSize0) and returns the writer.
    pub fn new(inner: W, has_audio: bool, has_video: bool) -> Result<Self, FlvError> {
        Self::with_header(inner, FlvHeader::new(has_audio, has_video))
    }

    /// Writes the given header (and PreviousTagSize0) and returns the writer.
    pub fn with_header(mut inner: W, header: FlvHeader) -> Result<Self, FlvError> {
        let mut scratch = Vec::with_capacity(16);
        header.write(&mut scratch);
        inner.write_all(&scratch)?;
        Ok(FlvWriter { inner, scratch })
    }

    /// Writes one tag followed by its PreviousTagSize.
    pub fn write_tag(&mut self, tag: &FlvTag) -> Result<(), FlvError> {
        self.scratch.clear();
        encode_tag(tag, &mut self.scratch)?;
        self.inner.write_all(&self.scratch)?;
        Ok(())
    }

    /// Flushes the sink.
    pub fn flush(&mut self) -> Result<(), FlvError> {
        self.inner.flush()?;
        Ok(())
    }

    /// Gives the sink back (without flushing).
    pub fn into_inner(self) -> W {
        self.inner
    }
}
