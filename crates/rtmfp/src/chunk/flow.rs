//! Flow chunk bodies: User Data / Next User Data (RFC 7016 §2.3.11–12) and the Data
//! Acknowledgement Bitmap and Ranges forms (§2.3.13–14).
//!
//! User data options (§2.3.11.1): `0x00` user metadata, `0x0a` return flow association. Sluice
//! emits them in exactly that order with a marker, as Mona-lineage parsers assume
//! (`RTMFP_NOTES.md` §1.8); unknown options are skipped on receive.

use bytes::Bytes;

use crate::codec::{options, put_marker, put_option, put_vlu, put_vlu_option, Reader};
use crate::error::CodecError;

/// Option type: user metadata.
pub const OPT_METADATA: u64 = 0x00;
/// Option type: return flow association.
pub const OPT_RETURN_FLOW: u64 = 0x0a;
/// At most this many options in one user data chunk.
pub const MAX_USER_DATA_OPTIONS: usize = 16;

/// The fragment control bits of User Data flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fragment {
    /// A whole message (`00`).
    Whole,
    /// The first fragment (`10`).
    Begin,
    /// A middle fragment (`30`).
    Middle,
    /// The last fragment (`20`).
    End,
}

impl Fragment {
    fn bits(self) -> u8 {
        match self {
            Fragment::Whole => 0x00,
            Fragment::Begin => 0x10,
            Fragment::End => 0x20,
            Fragment::Middle => 0x30,
        }
    }

    fn from_bits(flags: u8) -> Fragment {
        match flags & 0x30 {
            0x00 => Fragment::Whole,
            0x10 => Fragment::Begin,
            0x20 => Fragment::End,
            _ => Fragment::Middle,
        }
    }

    /// Whether this fragment starts a message.
    pub fn starts(self) -> bool {
        matches!(self, Fragment::Whole | Fragment::Begin)
    }

    /// Whether this fragment ends a message.
    pub fn ends(self) -> bool {
        matches!(self, Fragment::Whole | Fragment::End)
    }
}

/// The User Data flag bits other than fragment control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct UserDataFlags {
    /// `0x02`: abandoned; the fragment carries no data.
    pub abandoned: bool,
    /// `0x01`: the last sequence number of the flow.
    pub fin: bool,
}

/// One fragment of a flow's message stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserData {
    /// The sending flow ID.
    pub flow_id: u64,
    /// The fragment's sequence number (from 1).
    pub seq: u64,
    /// `seq − FSN`.
    pub fsn_offset: u64,
    /// Fragment control.
    pub fragment: Fragment,
    /// Abandon / final bits.
    pub flags: UserDataFlags,
    /// User metadata option (the first packets of a flow carry it).
    pub metadata: Option<Bytes>,
    /// Return flow association option.
    pub return_flow: Option<u64>,
    /// The fragment bytes.
    pub data: Bytes,
}

impl UserData {
    /// Decode a User Data (`next == false`) or Next User Data value.
    pub fn decode(value: &Bytes, next: bool) -> Result<UserData, CodecError> {
        let mut r = Reader::new(value);
        let flags = r.u8("user data flags")?;
        let (flow_id, seq, fsn_offset) = if next {
            (0, 0, 0)
        } else {
            (
                r.vlu("user data flow ID")?,
                r.vlu("user data sequence number")?,
                r.vlu("user data fsnOffset")?,
            )
        };
        let mut metadata = None;
        let mut return_flow = None;
        let rest = r.rest();
        let data = if flags & 0x80 != 0 {
            let (opts, data) = options(rest, MAX_USER_DATA_OPTIONS, "user data options")?;
            for o in opts {
                match o.kind {
                    OPT_METADATA if metadata.is_none() => metadata = Some(value.slice_ref(o.value)),
                    OPT_RETURN_FLOW if return_flow.is_none() => {
                        return_flow = Some(Reader::new(o.value).vlu("return flow association")?)
                    }
                    _ => {}
                }
            }
            data
        } else {
            rest
        };
        Ok(UserData {
            flow_id,
            seq,
            fsn_offset,
            fragment: Fragment::from_bits(flags),
            flags: UserDataFlags {
                abandoned: flags & 0x02 != 0,
                fin: flags & 0x01 != 0,
            },
            metadata,
            return_flow,
            data: if data.is_empty() {
                Bytes::new()
            } else {
                value.slice_ref(data)
            },
        })
    }

    /// The flags byte.
    pub fn flags_byte(&self) -> u8 {
        let mut f = self.fragment.bits();
        if self.metadata.is_some() || self.return_flow.is_some() {
            f |= 0x80;
        }
        if self.flags.abandoned {
            f |= 0x02;
        }
        if self.flags.fin {
            f |= 0x01;
        }
        f
    }

    /// Append the value (User Data when `next == false`, else Next User Data).
    pub fn encode(&self, out: &mut Vec<u8>, next: bool) {
        out.push(self.flags_byte());
        if !next {
            put_vlu(out, self.flow_id);
            put_vlu(out, self.seq);
            put_vlu(out, self.fsn_offset);
        }
        if self.metadata.is_some() || self.return_flow.is_some() {
            if let Some(m) = &self.metadata {
                put_option(out, OPT_METADATA, m);
            }
            if let Some(f) = self.return_flow {
                put_vlu_option(out, OPT_RETURN_FLOW, f);
            }
            put_marker(out);
        }
        out.extend_from_slice(&self.data);
    }

    /// The encoded value length.
    pub fn encoded_len(&self, next: bool) -> usize {
        let mut v = Vec::new();
        let data = Bytes::new();
        UserData {
            data,
            ..self.clone()
        }
        .encode(&mut v, next);
        v.len() + self.data.len()
    }
}

/// A data acknowledgement, in either wire form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ack {
    /// The sending flow ID being acknowledged.
    pub flow_id: u64,
    /// Receive window in 1024-byte blocks.
    pub buffer_blocks: u64,
    /// Every sequence number ≤ this has arrived (or been abandoned).
    pub cumulative: u64,
    /// Further received ranges, inclusive, ascending, each starting at least two past the end of
    /// the one before (or of `cumulative`).
    pub ranges: Vec<(u64, u64)>,
}

/// At most this many ranges are decoded from one acknowledgement (a bitmap of a large chunk
/// could describe far more).
pub const MAX_ACK_RANGES: usize = 1024;

impl Ack {
    fn decode_head(r: &mut Reader<'_>) -> Result<(u64, u64, u64), CodecError> {
        Ok((
            r.vlu("ack flow ID")?,
            r.vlu("ack buffer blocks")?,
            r.vlu("ack cumulative")?,
        ))
    }

    /// Decode a Data Acknowledgement Ranges value.
    pub fn decode_ranges(value: &[u8]) -> Result<Ack, CodecError> {
        let mut r = Reader::new(value);
        let (flow_id, buffer_blocks, cumulative) = Self::decode_head(&mut r)?;
        let mut ranges = Vec::new();
        let mut cursor = cumulative;
        while !r.is_empty() {
            let holes = r.vlu("ack holes")?;
            let received = r.vlu("ack received")?;
            let from = cursor
                .checked_add(holes)
                .and_then(|v| v.checked_add(2))
                .ok_or(CodecError::Invalid { what: "ack range" })?;
            let to = from
                .checked_add(received)
                .ok_or(CodecError::Invalid { what: "ack range" })?;
            if ranges.len() == MAX_ACK_RANGES {
                return Err(CodecError::Invalid {
                    what: "too many ack ranges",
                });
            }
            ranges.push((from, to));
            cursor = to;
        }
        Ok(Ack {
            flow_id,
            buffer_blocks,
            cumulative,
            ranges,
        })
    }

    /// Decode a Data Acknowledgement Bitmap value: bit i (LSB first) means `cumulative + 2 + i`
    /// was received.
    pub fn decode_bitmap(value: &[u8]) -> Result<Ack, CodecError> {
        let mut r = Reader::new(value);
        let (flow_id, buffer_blocks, cumulative) = Self::decode_head(&mut r)?;
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for (j, byte) in r.rest().iter().enumerate() {
            for k in 0..8 {
                if byte & (1 << k) == 0 {
                    continue;
                }
                let seq = cumulative
                    .checked_add(2 + (j as u64) * 8 + k)
                    .ok_or(CodecError::Invalid { what: "ack bitmap" })?;
                match ranges.last_mut() {
                    Some(last) if last.1 + 1 == seq => last.1 = seq,
                    _ => {
                        if ranges.len() == MAX_ACK_RANGES {
                            return Err(CodecError::Invalid {
                                what: "too many ack ranges",
                            });
                        }
                        ranges.push((seq, seq))
                    }
                }
            }
        }
        Ok(Ack {
            flow_id,
            buffer_blocks,
            cumulative,
            ranges,
        })
    }

    /// Append the Ranges form.
    pub fn encode_ranges(&self, out: &mut Vec<u8>) {
        put_vlu(out, self.flow_id);
        put_vlu(out, self.buffer_blocks);
        put_vlu(out, self.cumulative);
        let mut cursor = self.cumulative;
        for &(from, to) in &self.ranges {
            put_vlu(out, from - cursor - 2);
            put_vlu(out, to - from);
            cursor = to;
        }
    }

    /// Append the Bitmap form.
    pub fn encode_bitmap(&self, out: &mut Vec<u8>) {
        put_vlu(out, self.flow_id);
        put_vlu(out, self.buffer_blocks);
        put_vlu(out, self.cumulative);
        let Some(&(_, last)) = self.ranges.last() else {
            return;
        };
        let bits = (last - self.cumulative - 1) as usize;
        let mut map = vec![0u8; bits.div_ceil(8)];
        for &(from, to) in &self.ranges {
            for seq in from..=to {
                let i = (seq - self.cumulative - 2) as usize;
                map[i / 8] |= 1 << (i % 8);
            }
        }
        out.extend_from_slice(&map);
    }
}
