//! The sending side of a flow (RFC 7016 §3.6.2): messages cut into fragments with sequence
//! numbers, kept until acknowledged, retransmitted when lost, abandoned when their deadline
//! passes (partial reliability, §3.6.2.3), finished with a FIN.
//!
//! The forward sequence number (FSN) sent with every fragment is the highest sequence number
//! such that everything up to it is acknowledged or abandoned, so the receiver can move past
//! abandoned data it will never get. An abandoned fragment that still needs to be acknowledged
//! is sent as an empty chunk with the ABN flag.
//!
//! A server flow to a player holds every fragment in flight or queued, hundreds at a few Mbps,
//! and its session asks for the next fragment, the oldest in flight and what expired on every
//! datagram: so the fragments' states are indexed (lost ones, in flight by send time, live ones
//! by deadline, and the first never sent, since fragments are sent in order the first time),
//! and those questions cost O(log n), not a scan of the flow.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use bytes::Bytes;

use crate::chunk::{Ack, Fragment, UserData, UserDataFlags};
use crate::error::ProtocolError;

/// How long a message is worth sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reliability {
    /// Retransmit until acknowledged.
    Reliable,
    /// Abandon whatever is not acknowledged at this instant.
    Until(Instant),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FragState {
    Queued,
    InFlight { sent_at: Instant },
    Lost,
}

#[derive(Debug, Clone)]
struct Frag {
    fragment: Fragment,
    data: Bytes,
    deadline: Option<Instant>,
    abandoned: bool,
    fin: bool,
    state: FragState,
    naks: u32,
    /// Bytes counted in flight while `InFlight`.
    wire_len: usize,
}

/// What an acknowledgement did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AckOutcome {
    /// Bytes newly acknowledged (they leave the flight).
    pub acked: usize,
    /// Bytes newly declared lost (they leave the flight and will be retransmitted).
    pub lost: usize,
}

/// One sending flow.
#[derive(Debug)]
pub struct SendFlow {
    /// The flow ID.
    pub id: u64,
    /// Flow priority (0–7; ≥ 4 is time critical, RFC 7016 §3.6.2.1).
    pub priority: u8,
    metadata: Bytes,
    return_flow: Option<u64>,
    next_seq: u64,
    frags: BTreeMap<u64, Frag>,
    /// Every fragment from this sequence number on is `Queued`, and none before it.
    next_unsent: u64,
    /// The `Lost` fragments.
    lost: BTreeSet<u64>,
    /// The `InFlight` fragments by send time.
    sent: BTreeSet<(Instant, u64)>,
    /// The fragments with a deadline that are not abandoned yet, by deadline.
    deadlines: BTreeSet<(Instant, u64)>,
    queued_bytes: usize,
    options_acked: bool,
    closing: bool,
    far_window: usize,
    in_flight: usize,
    /// Set when the receiver rejected the flow (Flow Exception Report).
    pub exception: Option<u64>,
}

impl SendFlow {
    /// A new flow; its first fragments carry `metadata` and the association with the far
    /// end's receiving flow `return_flow`, until one of them is acknowledged.
    pub fn new(id: u64, metadata: Bytes, return_flow: Option<u64>, priority: u8) -> Self {
        SendFlow {
            id,
            priority,
            metadata,
            return_flow,
            next_seq: 1,
            frags: BTreeMap::new(),
            next_unsent: 1,
            lost: BTreeSet::new(),
            sent: BTreeSet::new(),
            deadlines: BTreeSet::new(),
            queued_bytes: 0,
            options_acked: false,
            closing: false,
            far_window: 64 * 1024,
            in_flight: 0,
            exception: None,
        }
    }

    /// The flow metadata.
    pub fn metadata(&self) -> &Bytes {
        &self.metadata
    }

    /// Bytes queued or unacknowledged.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Bytes in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Whether the flow was closed locally.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// Whether everything, FIN included, has been acknowledged.
    pub fn is_finished(&self) -> bool {
        self.closing && self.frags.is_empty()
    }

    /// Queue a message, cut into fragments of at most `max_fragment` bytes.
    pub fn send(&mut self, message: Bytes, reliability: Reliability, max_fragment: usize) {
        let deadline = match reliability {
            Reliability::Reliable => None,
            Reliability::Until(t) => Some(t),
        };
        let count = message.len().div_ceil(max_fragment).max(1);
        for i in 0..count {
            let start = i * max_fragment;
            let end = (start + max_fragment).min(message.len());
            let fragment = match (count, i) {
                (1, _) => Fragment::Whole,
                (_, 0) => Fragment::Begin,
                (_, i) if i + 1 == count => Fragment::End,
                _ => Fragment::Middle,
            };
            self.push(Frag {
                fragment,
                data: message.slice(start..end),
                deadline,
                abandoned: false,
                fin: false,
                state: FragState::Queued,
                naks: 0,
                wire_len: 0,
            });
        }
    }

    fn push(&mut self, f: Frag) {
        self.queued_bytes += f.data.len();
        if let (Some(d), false) = (f.deadline, f.abandoned) {
            self.deadlines.insert((d, self.next_seq));
        }
        self.frags.insert(self.next_seq, f);
        self.next_seq += 1;
    }

    /// Close for sending: a final, empty, abandoned fragment with FIN after everything queued.
    pub fn close(&mut self) {
        if self.closing {
            return;
        }
        self.closing = true;
        self.push(Frag {
            fragment: Fragment::Whole,
            data: Bytes::new(),
            deadline: None,
            abandoned: true,
            fin: true,
            state: FragState::Queued,
            naks: 0,
            wire_len: 0,
        });
    }

    /// The forward sequence number.
    fn fsn(&self) -> u64 {
        self.frags
            .iter()
            .find(|(_, f)| !f.abandoned)
            .map_or(self.next_seq - 1, |(&s, _)| s - 1)
    }

    /// Abandon fragments whose deadline has passed; returns bytes that left the flight.
    pub fn abandon_expired(&mut self, now: Instant) -> usize {
        let mut left = 0;
        while let Some(&(d, seq)) = self.deadlines.first() {
            if d > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(f) = self.frags.get_mut(&seq) {
                f.abandoned = true;
                self.queued_bytes -= f.data.len();
                f.data = Bytes::new();
            }
        }
        // Abandoned fragments before the first live one (data or FIN) need no more sending:
        // the FSN that live fragment carries covers them. At the tail, only ABN chunks can tell
        // the receiver, so those stay.
        let Some(first_live) = self
            .frags
            .iter()
            .find(|(_, f)| !f.abandoned || f.fin)
            .map(|(&s, _)| s)
        else {
            return 0;
        };
        let removable: Vec<u64> = self
            .frags
            .range(..first_live)
            .filter(|(_, f)| f.abandoned)
            .map(|(&s, _)| s)
            .collect();
        for s in removable {
            if let Some(f) = self.remove(s) {
                if let FragState::InFlight { .. } = f.state {
                    self.in_flight -= f.wire_len;
                    left += f.wire_len;
                }
            }
        }
        left
    }

    /// Take fragment `seq` out of the flow and of the indexes.
    fn remove(&mut self, seq: u64) -> Option<Frag> {
        let f = self.frags.remove(&seq)?;
        self.unindex(seq, &f);
        if let (Some(d), false) = (f.deadline, f.abandoned) {
            self.deadlines.remove(&(d, seq));
        }
        Some(f)
    }

    /// Drop fragment `seq`'s state from the state indexes (before it changes or goes).
    fn unindex(&mut self, seq: u64, f: &Frag) {
        match f.state {
            FragState::Queued => {}
            FragState::InFlight { sent_at } => {
                self.sent.remove(&(sent_at, seq));
            }
            FragState::Lost => {
                self.lost.remove(&seq);
            }
        }
    }

    /// The first fragment never sent.
    fn first_queued(&self) -> Option<u64> {
        self.frags.range(self.next_unsent..).next().map(|(&s, _)| s)
    }

    /// Whether a fragment is ready to send (lost or queued) within the far receive window.
    pub fn has_ready(&self) -> bool {
        self.exception.is_none()
            && (self.in_flight == 0 || self.in_flight < self.far_window)
            && (!self.lost.is_empty() || self.first_queued().is_some())
    }

    /// The next fragment to send at `now`, as a User Data chunk whose encoding fits `room`
    /// bytes of chunk value; marks it in flight. Returns the chunk and its wire size.
    pub fn next_chunk(&mut self, room: usize, now: Instant) -> Option<(UserData, usize)> {
        if self.exception.is_some() || (self.in_flight > 0 && self.in_flight >= self.far_window) {
            return None;
        }
        let seq = self.lost.first().copied().or_else(|| self.first_queued())?;
        let fsn = self.fsn();
        let with_options = !self.options_acked;
        let f = self.frags.get(&seq).expect("found above");
        let chunk = UserData {
            flow_id: self.id,
            seq,
            fsn_offset: seq - fsn.min(seq),
            fragment: f.fragment,
            flags: UserDataFlags {
                abandoned: f.abandoned,
                fin: f.fin,
            },
            metadata: with_options.then(|| self.metadata.clone()),
            return_flow: if with_options { self.return_flow } else { None },
            data: f.data.clone(),
        };
        let len = chunk.encoded_len(false) + 3;
        if len > room {
            return None;
        }
        let f = self.frags.get_mut(&seq).expect("found above");
        match f.state {
            FragState::Lost => {
                self.lost.remove(&seq);
            }
            FragState::Queued => self.next_unsent = seq + 1,
            FragState::InFlight { .. } => {}
        }
        f.state = FragState::InFlight { sent_at: now };
        self.sent.insert((now, seq));
        f.naks = 0;
        f.wire_len = len;
        self.in_flight += len;
        Some((chunk, len))
    }

    /// Process an acknowledgement.
    pub fn on_ack(&mut self, ack: &Ack) -> Result<AckOutcome, ProtocolError> {
        let highest = ack.ranges.last().map_or(ack.cumulative, |r| r.1);
        if highest >= self.next_seq {
            return Err(ProtocolError::AckOfUnsent {
                flow: self.id,
                seq: highest,
            });
        }
        let mut out = AckOutcome::default();
        self.far_window =
            usize::try_from(ack.buffer_blocks.saturating_mul(1024)).unwrap_or(usize::MAX);
        let acked = |s: u64| s <= ack.cumulative || ack.ranges.iter().any(|r| r.0 <= s && s <= r.1);
        let seqs: Vec<u64> = self.frags.range(..=highest).map(|(&s, _)| s).collect();
        for s in seqs {
            if acked(s) {
                let f = self.remove(s).expect("listed");
                self.options_acked = true;
                self.queued_bytes -= f.data.len();
                if let FragState::InFlight { .. } = f.state {
                    self.in_flight -= f.wire_len;
                    out.acked += f.wire_len;
                }
            } else if let Some(f) = self.frags.get_mut(&s) {
                if let FragState::InFlight { sent_at } = f.state {
                    f.naks += 1;
                    if f.naks >= 3 {
                        self.sent.remove(&(sent_at, s));
                        self.lost.insert(s);
                        f.state = FragState::Lost;
                        self.in_flight -= f.wire_len;
                        out.lost += f.wire_len;
                    }
                }
            }
        }
        Ok(out)
    }

    /// The retransmission timer fired: everything in flight is lost. Returns the bytes.
    pub fn on_timeout(&mut self) -> usize {
        let mut lost = 0;
        for (_, seq) in std::mem::take(&mut self.sent) {
            if let Some(f) = self.frags.get_mut(&seq) {
                f.state = FragState::Lost;
                lost += f.wire_len;
                self.lost.insert(seq);
            }
        }
        self.in_flight = 0;
        lost
    }

    /// When the oldest fragment in flight was sent.
    pub fn oldest_in_flight(&self) -> Option<Instant> {
        self.sent.first().map(|&(t, _)| t)
    }

    /// The receiver rejected the flow: drop everything.
    pub fn on_exception(&mut self, code: u64) -> usize {
        self.exception = Some(code);
        self.frags.clear();
        self.lost.clear();
        self.sent.clear();
        self.deadlines.clear();
        self.queued_bytes = 0;
        std::mem::take(&mut self.in_flight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fragments_acks_and_loss() {
        let now = Instant::now();
        let mut f = SendFlow::new(1, Bytes::from_static(b"TC\x04\x00"), Some(3), 5);
        f.send(Bytes::from(vec![7u8; 2500]), Reliability::Reliable, 1000);
        f.send(Bytes::from_static(b"x"), Reliability::Reliable, 1000);
        let mut sent = Vec::new();
        while let Some((c, _)) = f.next_chunk(1200, now) {
            sent.push(c);
        }
        assert_eq!(sent.len(), 4);
        assert_eq!(
            sent.iter().map(|c| c.fragment).collect::<Vec<_>>(),
            [
                Fragment::Begin,
                Fragment::Middle,
                Fragment::End,
                Fragment::Whole
            ]
        );
        assert!(sent
            .iter()
            .all(|c| c.metadata.is_some() && c.return_flow == Some(3)));
        assert_eq!(sent[0].fsn_offset, 1);
        // Ack 1 and 3..=4: 2 is NAKed once.
        let ack = Ack {
            flow_id: 1,
            buffer_blocks: 64,
            cumulative: 1,
            ranges: vec![(3, 4)],
        };
        let o = f.on_ack(&ack).unwrap();
        assert_eq!(o.lost, 0);
        assert!(o.acked > 0);
        f.on_ack(&ack).unwrap();
        let o = f.on_ack(&ack).unwrap();
        assert!(o.lost > 0, "third NAK");
        let (c, _) = f.next_chunk(1200, now).unwrap();
        assert_eq!(c.seq, 2);
        assert!(c.metadata.is_none(), "options stop once acknowledged");
        assert_eq!(c.fsn_offset, 1);
        assert!(f
            .on_ack(&Ack {
                flow_id: 1,
                buffer_blocks: 1,
                cumulative: 9,
                ranges: vec![]
            })
            .is_err());
    }

    #[test]
    fn indexes_follow_the_fragments() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut f = SendFlow::new(1, Bytes::new(), None, 0);
        for _ in 0..4 {
            f.send(Bytes::from_static(b"abc"), Reliability::Reliable, 1000);
        }
        assert_eq!(f.oldest_in_flight(), None);
        for (i, seq) in (1..=3).enumerate() {
            let (c, _) = f.next_chunk(1200, ms(i as u64)).unwrap();
            assert_eq!(c.seq, seq);
        }
        assert_eq!(f.oldest_in_flight(), Some(ms(0)));
        // 2 and 3 acknowledged, 1 NAKed three times: lost, and resent before the unsent 4.
        let ack = Ack {
            flow_id: 1,
            buffer_blocks: 64,
            cumulative: 0,
            ranges: vec![(2, 3)],
        };
        for _ in 0..3 {
            f.on_ack(&ack).unwrap();
        }
        assert_eq!(f.oldest_in_flight(), None, "nothing in flight");
        assert!(f.has_ready());
        let (c, _) = f.next_chunk(1200, ms(10)).unwrap();
        assert_eq!(c.seq, 1, "the lost fragment first");
        let (c, _) = f.next_chunk(1200, ms(11)).unwrap();
        assert_eq!(c.seq, 4);
        assert!(!f.has_ready());
        assert_eq!(f.oldest_in_flight(), Some(ms(10)));
        // The retransmission timer: both lost, resent in sequence order.
        assert!(f.on_timeout() > 0);
        assert_eq!(f.oldest_in_flight(), None);
        assert_eq!(f.next_chunk(1200, ms(20)).unwrap().0.seq, 1);
        assert_eq!(f.next_chunk(1200, ms(20)).unwrap().0.seq, 4);
        assert!(f.next_chunk(1200, ms(20)).is_none());
        f.on_ack(&Ack {
            flow_id: 1,
            buffer_blocks: 64,
            cumulative: 4,
            ranges: vec![],
        })
        .unwrap();
        assert_eq!(f.oldest_in_flight(), None);
        assert_eq!(f.queued_bytes(), 0);
        // Deadlines: only the expired message is abandoned, whatever the order they came in.
        f.send(
            Bytes::from_static(b"late"),
            Reliability::Until(ms(50)),
            1000,
        );
        f.send(
            Bytes::from_static(b"soon"),
            Reliability::Until(ms(30)),
            1000,
        );
        f.abandon_expired(ms(40));
        assert_eq!(f.queued_bytes(), 4);
    }

    #[test]
    fn abandonment_and_fin() {
        let now = Instant::now();
        let mut f = SendFlow::new(1, Bytes::new(), None, 0);
        f.send(
            Bytes::from(vec![1u8; 3000]),
            Reliability::Until(now + Duration::from_millis(10)),
            1000,
        );
        f.next_chunk(1200, now).unwrap();
        f.abandon_expired(now + Duration::from_millis(10));
        assert_eq!(f.queued_bytes(), 0);
        // The in-flight fragment stays (covered by FSN when acked); the unsent tail goes out as
        // empty ABN chunks.
        let (c, _) = f.next_chunk(1200, now).unwrap();
        assert!(c.flags.abandoned && c.data.is_empty());
        f.close();
        while let Some((c, _)) = f.next_chunk(1200, now) {
            if c.flags.fin {
                assert_eq!(c.fsn_offset, 0, "everything before is abandoned");
            }
        }
        f.on_ack(&Ack {
            flow_id: 1,
            buffer_blocks: 1,
            cumulative: 4,
            ranges: vec![],
        })
        .unwrap();
        assert!(f.is_finished());
    }
}
