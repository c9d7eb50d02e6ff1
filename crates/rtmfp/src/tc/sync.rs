//! The Flow Sync barrier (RFC 7425 §5.2): keep the order of a NetStream's messages across its
//! separate audio, video and data flows at a transition (publish or play start, a new play).
//!
//! A flow that delivers Flow Sync `(syncID, count)` is held: its later messages are buffered until
//! `count` flows of the same stream have delivered the same `syncID`, then every held flow is
//! released in the order the flows reached the barrier. The far end controls how much is held, so
//! the bytes held per stream are limited ([`FlowSync::new`]); past the limit the barrier is
//! released early (delivery continues, order across flows may slip) rather than growing.

use std::collections::{BTreeMap, VecDeque};

use super::message::TcMessage;
use crate::event::RecvFlowId;

/// Default for the bytes held behind one stream's barrier (1 MiB: a few seconds of video).
pub const DEFAULT_MAX_HELD_BYTES: usize = 1 << 20;

#[derive(Debug, Default)]
struct Barrier {
    sync_id: u32,
    count: u32,
    /// Flows that reached the barrier, in order, with what they delivered since.
    arrived: Vec<(RecvFlowId, VecDeque<TcMessage>)>,
    held_bytes: usize,
}

/// Per-stream Flow Sync state of one session.
#[derive(Debug)]
pub struct FlowSync {
    max_held_bytes: usize,
    barriers: BTreeMap<u32, Barrier>,
}

impl FlowSync {
    /// A barrier set holding at most `max_held_bytes` per stream.
    pub fn new(max_held_bytes: usize) -> Self {
        FlowSync {
            max_held_bytes,
            barriers: BTreeMap::new(),
        }
    }

    /// A flow of `stream_id` delivered Flow Sync. Returns messages now released, in order.
    pub fn sync(
        &mut self,
        stream_id: u32,
        flow: RecvFlowId,
        sync_id: u32,
        count: u32,
    ) -> Vec<(RecvFlowId, TcMessage)> {
        let b = self.barriers.entry(stream_id).or_default();
        if b.arrived.is_empty() || b.sync_id != sync_id {
            // A new barrier replaces an unfinished older one: release what the old one held.
            let mut out = Self::drain(b);
            b.sync_id = sync_id;
            b.count = count;
            b.arrived.push((flow, VecDeque::new()));
            if count <= 1 {
                out.extend(Self::drain(b));
                self.barriers.remove(&stream_id);
            }
            return out;
        }
        if !b.arrived.iter().any(|(f, _)| *f == flow) {
            b.arrived.push((flow, VecDeque::new()));
        }
        if b.arrived.len() as u64 >= u64::from(b.count) {
            let out = Self::drain(b);
            self.barriers.remove(&stream_id);
            return out;
        }
        Vec::new()
    }

    /// A flow of `stream_id` delivered `msg`: returns it at once unless the flow is held.
    pub fn message(
        &mut self,
        stream_id: u32,
        flow: RecvFlowId,
        msg: TcMessage,
    ) -> Vec<(RecvFlowId, TcMessage)> {
        let Some(b) = self.barriers.get_mut(&stream_id) else {
            return vec![(flow, msg)];
        };
        let Some((_, held)) = b.arrived.iter_mut().find(|(f, _)| *f == flow) else {
            return vec![(flow, msg)];
        };
        b.held_bytes += msg.payload.len();
        held.push_back(msg);
        if b.held_bytes > self.max_held_bytes {
            let out = Self::drain(b);
            self.barriers.remove(&stream_id);
            return out;
        }
        Vec::new()
    }

    /// Forget a stream (deleted, or its flows closed), releasing what it held.
    pub fn remove(&mut self, stream_id: u32) -> Vec<(RecvFlowId, TcMessage)> {
        self.barriers
            .remove(&stream_id)
            .map(|mut b| Self::drain(&mut b))
            .unwrap_or_default()
    }

    fn drain(b: &mut Barrier) -> Vec<(RecvFlowId, TcMessage)> {
        b.held_bytes = 0;
        b.arrived
            .drain(..)
            .flat_map(|(f, q)| q.into_iter().map(move |m| (f, m)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use sluice_rtmp::MessageType;

    use super::*;

    fn msg(t: MessageType, ts: u32, len: usize) -> TcMessage {
        TcMessage::new(t, ts, Bytes::from(vec![0u8; len])).unwrap()
    }

    #[test]
    fn holds_until_every_flow_synced() {
        let (a, v, d) = (RecvFlowId(1), RecvFlowId(2), RecvFlowId(3));
        let mut s = FlowSync::new(DEFAULT_MAX_HELD_BYTES);
        assert!(s.sync(1, a, 7, 3).is_empty());
        assert!(s.message(1, a, msg(MessageType::AUDIO, 10, 4)).is_empty());
        // A flow that has not reached the barrier yet is not held.
        assert_eq!(s.message(1, v, msg(MessageType::VIDEO, 5, 4)).len(), 1);
        assert!(s.sync(1, v, 7, 3).is_empty());
        assert!(s.message(1, v, msg(MessageType::VIDEO, 20, 4)).is_empty());
        let out = s.sync(1, d, 7, 3);
        let order: Vec<_> = out
            .iter()
            .map(|(f, m)| (f.0, m.timestamp.value()))
            .collect();
        assert_eq!(order, vec![(1, 10), (2, 20)]);
        assert_eq!(s.message(1, a, msg(MessageType::AUDIO, 30, 4)).len(), 1);
    }

    #[test]
    fn held_bytes_are_bounded() {
        let mut s = FlowSync::new(10);
        assert!(s.sync(1, RecvFlowId(1), 1, 2).is_empty());
        assert!(s
            .message(1, RecvFlowId(1), msg(MessageType::VIDEO, 0, 8))
            .is_empty());
        assert_eq!(
            s.message(1, RecvFlowId(1), msg(MessageType::VIDEO, 1, 8))
                .len(),
            2
        );
        assert_eq!(
            s.message(1, RecvFlowId(1), msg(MessageType::VIDEO, 2, 8))
                .len(),
            1
        );
    }

    #[test]
    fn single_flow_and_replaced_barriers_release() {
        let mut s = FlowSync::new(DEFAULT_MAX_HELD_BYTES);
        assert!(s.sync(1, RecvFlowId(1), 1, 1).is_empty());
        assert_eq!(
            s.message(1, RecvFlowId(1), msg(MessageType::AUDIO, 0, 1))
                .len(),
            1
        );
        assert!(s.sync(2, RecvFlowId(4), 1, 2).is_empty());
        assert!(s
            .message(2, RecvFlowId(4), msg(MessageType::AUDIO, 0, 1))
            .is_empty());
        assert_eq!(s.sync(2, RecvFlowId(5), 2, 2).len(), 1);
        assert!(
            s.message(2, RecvFlowId(4), msg(MessageType::AUDIO, 1, 1))
                .len()
                == 1
        );
        assert!(s.remove(2).is_empty());
    }
}
