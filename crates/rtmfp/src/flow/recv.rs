//! The receiving side of a flow (RFC 7016 §3.6.3): fragments arrive in any order, are buffered
//! up to the limits, reassembled and delivered in sequence; gaps the sender abandoned (below its
//! forward sequence number) are skipped, and a message that lost a fragment that way is dropped
//! whole. Acknowledgements describe what arrived (§3.6.3.4); the advertised window is never zero
//! (librtmfp closes the session on a zero window, `RTMFP_NOTES.md` §5.8).

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::chunk::{Ack, Fragment, UserData};
use crate::config::Limits;
use crate::error::ProtocolError;

#[derive(Debug)]
struct Pending {
    fragment: Fragment,
    abandoned: bool,
    data: Bytes,
}

/// At most this many ranges go into one acknowledgement.
pub const MAX_RANGES_SENT: usize = 64;

/// One receiving flow.
#[derive(Debug)]
pub struct RecvFlow {
    /// The far end's flow ID.
    pub far_id: u64,
    /// The flow metadata from its first fragment.
    pub metadata: Bytes,
    /// The local sending flow this flow answers, if any.
    pub return_flow: Option<u64>,
    cumulative: u64,
    pending: BTreeMap<u64, Pending>,
    assembling: Option<(Vec<Bytes>, usize)>,
    buffered: usize,
    fin: Option<u64>,
    /// Set once FIN has been reached and reported.
    pub finished: bool,
    /// An acknowledgement should be sent.
    pub ack_wanted: bool,
    /// An acknowledgement should be sent right away (gap, duplicate, probe, FIN).
    pub ack_now: bool,
    /// Data packets since the last acknowledgement.
    pub packets_since_ack: u32,
    /// Rejected locally with this exception code.
    pub rejected: Option<u64>,
}

impl RecvFlow {
    /// A flow first seen with `metadata`.
    pub fn new(far_id: u64, metadata: Bytes, return_flow: Option<u64>) -> Self {
        RecvFlow {
            far_id,
            metadata,
            return_flow,
            cumulative: 0,
            pending: BTreeMap::new(),
            assembling: None,
            buffered: 0,
            fin: None,
            finished: false,
            ack_wanted: false,
            ack_now: false,
            packets_since_ack: 0,
            rejected: None,
        }
    }

    /// Bytes buffered (out-of-order fragments and the message being reassembled).
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Take one fragment. Complete messages are appended to `out`. `session_buffered` is the
    /// session's total, kept up to date.
    pub fn on_fragment(
        &mut self,
        d: &UserData,
        limits: &Limits,
        session_buffered: &mut usize,
        out: &mut Vec<Bytes>,
    ) -> Result<(), ProtocolError> {
        self.ack_wanted = true;
        if d.fsn_offset > d.seq {
            return Err(ProtocolError::BadFsnOffset {
                seq: d.seq,
                offset: d.fsn_offset,
            });
        }
        if d.seq == 0 {
            return Err(ProtocolError::SequenceTooFar {
                flow: self.far_id,
                seq: 0,
            });
        }
        if d.flags.fin {
            self.fin = Some(d.seq);
        }
        if d.seq <= self.cumulative || self.pending.contains_key(&d.seq) {
            self.ack_now = true;
            return Ok(());
        }
        if d.seq - self.cumulative > limits.max_sequence_gap {
            return Err(ProtocolError::SequenceTooFar {
                flow: self.far_id,
                seq: d.seq,
            });
        }
        if d.seq != self.cumulative + 1 {
            self.ack_now = true;
        }
        let len = d.data.len();
        if self.buffered + len > limits.max_reassembly_bytes_per_flow {
            return Err(ProtocolError::FlowBufferExceeded {
                flow: self.far_id,
                max: limits.max_reassembly_bytes_per_flow,
            });
        }
        if *session_buffered + len > limits.max_reassembly_bytes_per_session {
            return Err(ProtocolError::SessionBufferExceeded {
                max: limits.max_reassembly_bytes_per_session,
            });
        }
        self.buffered += len;
        *session_buffered += len;
        self.pending.insert(
            d.seq,
            Pending {
                fragment: d.fragment,
                abandoned: d.flags.abandoned,
                data: d.data.clone(),
            },
        );
        let fsn = d.seq - d.fsn_offset;
        let before = self.buffered;
        let result = self.advance(fsn, limits, out);
        *session_buffered = session_buffered.saturating_sub(before.saturating_sub(self.buffered));
        result
    }

    fn advance(
        &mut self,
        fsn: u64,
        limits: &Limits,
        out: &mut Vec<Bytes>,
    ) -> Result<(), ProtocolError> {
        loop {
            let next = self.cumulative + 1;
            if let Some(p) = self.pending.remove(&next) {
                self.buffered -= p.data.len();
                self.cumulative = next;
                self.take(p, limits, out)?;
                continue;
            }
            if next <= fsn {
                // Abandoned by the sender: skip to the next buffered fragment or the FSN.
                let to = self
                    .pending
                    .keys()
                    .next()
                    .map_or(fsn, |&k| (k - 1).min(fsn));
                self.cumulative = to;
                self.drop_partial();
                continue;
            }
            return Ok(());
        }
    }

    fn drop_partial(&mut self) {
        if let Some((_, bytes)) = self.assembling.take() {
            self.buffered -= bytes;
        }
    }

    fn take(
        &mut self,
        p: Pending,
        limits: &Limits,
        out: &mut Vec<Bytes>,
    ) -> Result<(), ProtocolError> {
        if p.abandoned {
            self.drop_partial();
            return Ok(());
        }
        match p.fragment {
            Fragment::Whole => {
                self.drop_partial();
                out.push(p.data);
            }
            Fragment::Begin => {
                self.drop_partial();
                self.buffered += p.data.len();
                let n = p.data.len();
                self.assembling = Some((vec![p.data], n));
            }
            Fragment::Middle | Fragment::End => {
                let Some((parts, bytes)) = self.assembling.as_mut() else {
                    return Ok(()); // the start was abandoned
                };
                if parts.len() + 1 > limits.max_fragments_per_message {
                    return Err(ProtocolError::TooManyFragments {
                        max: limits.max_fragments_per_message,
                    });
                }
                if self.buffered + p.data.len() > limits.max_reassembly_bytes_per_flow {
                    return Err(ProtocolError::FlowBufferExceeded {
                        flow: self.far_id,
                        max: limits.max_reassembly_bytes_per_flow,
                    });
                }
                *bytes += p.data.len();
                self.buffered += p.data.len();
                parts.push(p.data);
                if p.fragment == Fragment::End {
                    let (parts, bytes) = self.assembling.take().expect("present");
                    self.buffered -= bytes;
                    let mut whole = Vec::with_capacity(bytes);
                    for part in parts {
                        whole.extend_from_slice(&part);
                    }
                    out.push(Bytes::from(whole));
                }
            }
        }
        Ok(())
    }

    /// Whether the FIN has been reached (everything up to it arrived or was abandoned).
    pub fn fin_reached(&self) -> bool {
        self.fin.is_some_and(|f| self.cumulative >= f)
    }

    /// The acknowledgement to send now; clears the pending-ack state.
    pub fn make_ack(&mut self, limits: &Limits) -> Ack {
        self.ack_wanted = false;
        self.ack_now = false;
        self.packets_since_ack = 0;
        let room = limits
            .max_reassembly_bytes_per_flow
            .saturating_sub(self.buffered);
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for &s in self.pending.keys() {
            if let Some(r) = ranges.last_mut() {
                if r.1 + 1 == s {
                    r.1 = s;
                    continue;
                }
            }
            if ranges.len() == MAX_RANGES_SENT {
                break;
            }
            ranges.push((s, s));
        }
        Ack {
            flow_id: self.far_id,
            buffer_blocks: (room / 1024).max(1) as u64,
            cumulative: self.cumulative,
            ranges,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::UserDataFlags;

    fn frag(seq: u64, fsn_offset: u64, fragment: Fragment, data: &'static [u8]) -> UserData {
        UserData {
            flow_id: 1,
            seq,
            fsn_offset,
            fragment,
            flags: UserDataFlags::default(),
            metadata: None,
            return_flow: None,
            data: Bytes::from_static(data),
        }
    }

    #[test]
    fn reorder_reassemble_and_skip() {
        let limits = Limits::default();
        let mut total = 0;
        let mut out = Vec::new();
        let mut f = RecvFlow::new(1, Bytes::new(), None);
        f.on_fragment(
            &frag(2, 2, Fragment::Middle, b"b"),
            &limits,
            &mut total,
            &mut out,
        )
        .unwrap();
        assert_eq!(f.make_ack(&limits).ranges, vec![(2, 2)]);
        f.on_fragment(
            &frag(3, 3, Fragment::End, b"c"),
            &limits,
            &mut total,
            &mut out,
        )
        .unwrap();
        assert!(out.is_empty());
        f.on_fragment(
            &frag(1, 0, Fragment::Begin, b"a"),
            &limits,
            &mut total,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, vec![Bytes::from_static(b"abc")]);
        assert_eq!(total, 0);
        // 4 (Begin) lost and abandoned; 6 arrives with FSN 5: 5 is skipped too, 6 delivered.
        f.on_fragment(
            &frag(6, 1, Fragment::Whole, b"z"),
            &limits,
            &mut total,
            &mut out,
        )
        .unwrap();
        assert_eq!(out.last().unwrap(), &Bytes::from_static(b"z"));
        let ack = f.make_ack(&limits);
        assert_eq!(ack.cumulative, 6);
        assert!(ack.buffer_blocks >= 1);
        // A Middle whose Begin was skipped is dropped.
        f.on_fragment(
            &frag(8, 1, Fragment::End, b"q"),
            &limits,
            &mut total,
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn limits() {
        let limits = Limits {
            max_reassembly_bytes_per_flow: 4,
            max_fragments_per_message: 2,
            max_sequence_gap: 10,
            ..Limits::default()
        };
        let mut total = 0;
        let mut out = Vec::new();
        let mut f = RecvFlow::new(1, Bytes::new(), None);
        assert_eq!(
            f.on_fragment(
                &frag(11, 0, Fragment::Whole, b"x"),
                &limits,
                &mut total,
                &mut out
            ),
            Err(ProtocolError::SequenceTooFar { flow: 1, seq: 11 })
        );
        assert!(matches!(
            f.on_fragment(
                &frag(3, 0, Fragment::Whole, b"hello"),
                &limits,
                &mut total,
                &mut out
            ),
            Err(ProtocolError::FlowBufferExceeded { .. })
        ));
        f.on_fragment(
            &frag(1, 0, Fragment::Begin, b"a"),
            &limits,
            &mut total,
            &mut out,
        )
        .unwrap();
        f.on_fragment(
            &frag(2, 0, Fragment::Middle, b"b"),
            &limits,
            &mut total,
            &mut out,
        )
        .unwrap();
        assert_eq!(
            f.on_fragment(
                &frag(3, 0, Fragment::Middle, b"c"),
                &limits,
                &mut total,
                &mut out
            ),
            Err(ProtocolError::TooManyFragments { max: 2 })
        );
        assert_eq!(
            f.on_fragment(
                &frag(5, 9, Fragment::Whole, b""),
                &limits,
                &mut total,
                &mut out
            ),
            Err(ProtocolError::BadFsnOffset { seq: 5, offset: 9 })
        );
        let small = Limits {
            max_reassembly_bytes_per_session: 2,
            ..Limits::default()
        };
        let mut total = 2;
        let mut g = RecvFlow::new(2, Bytes::new(), None);
        assert_eq!(
            g.on_fragment(
                &frag(2, 0, Fragment::Whole, b"x"),
                &small,
                &mut total,
                &mut out
            ),
            Err(ProtocolError::SessionBufferExceeded { max: 2 })
        );
    }
}
