//! Property round-trips for the chunk stream codec (RTMP 1.0 §5.3): random message sequences,
//! encoded with `ChunkEncoder::encode`, `encode_vectored` or `encode_standalone` at random chunk
//! sizes (changed mid-sequence with Set Chunk Size), decoded from input split at random points,
//! must come back identical.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use sluice_rtmp::chunk::{encode_standalone, ChunkDecoder, ChunkEncoder, ChunkLimits};
use sluice_rtmp::{MessageType, RawMessage, Timestamp};

/// How one message's timestamp is chosen relative to the previous one on its chunk stream.
#[derive(Clone, Debug)]
enum TsMode {
    /// Same delta as last time (exercises type 3 new messages).
    Repeat,
    /// A small forward delta.
    Small(u32),
    /// An absolute value (large, near/over 0xFFFFFF, near the wrap, or backwards).
    Absolute(u32),
}

#[derive(Clone, Copy, Debug)]
enum Path {
    Contiguous,
    Vectored,
    Standalone,
}

#[derive(Clone, Debug)]
enum Step {
    Message {
        csid: u32,
        ts: TsMode,
        /// `None`: same length as the previous message on the chunk stream.
        len: Option<usize>,
        type_id: u8,
        stream_id: u32,
        fill: u8,
        path: Path,
    },
    SetChunkSize(u32),
}

fn chunk_size() -> impl Strategy<Value = u32> {
    prop_oneof![1..=8u32, 9..=300u32, 301..=70_000u32]
}

fn ts_mode() -> impl Strategy<Value = TsMode> {
    prop_oneof![
        3 => Just(TsMode::Repeat),
        3 => (0..100u32).prop_map(TsMode::Small),
        1 => (0xFF_FF00..0x100_0100u32).prop_map(TsMode::Absolute),
        1 => (u32::MAX - 200..=u32::MAX).prop_map(TsMode::Absolute),
        1 => any::<u32>().prop_map(TsMode::Absolute),
        1 => (0xFF_FFF0..0x200_0000u32).prop_map(TsMode::Small),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let csid = prop_oneof![2..10u32, 60..70u32, 310..330u32, 65_590..=65_599u32];
    let len = prop_oneof![
        2 => Just(None),
        2 => (0..200usize).prop_map(Some),
        1 => (0..20_000usize).prop_map(Some),
    ];
    // Types 1 and 2 would be applied by the decoder; they are generated as SetChunkSize steps.
    let type_id = prop_oneof![Just(8u8), Just(9), Just(18), Just(20), 3..=255u8];
    let stream_id = prop_oneof![Just(0u32), Just(1), any::<u32>()];
    let path = prop_oneof![
        Just(Path::Contiguous),
        Just(Path::Vectored),
        Just(Path::Standalone)
    ];
    prop_oneof![
        12 => (csid, ts_mode(), len, type_id, stream_id, any::<u8>(), path).prop_map(
            |(csid, ts, len, type_id, stream_id, fill, path)| Step::Message {
                csid,
                ts,
                len,
                type_id,
                stream_id,
                fill,
                path,
            }
        ),
        1 => chunk_size().prop_map(Step::SetChunkSize),
    ]
}

/// Builds the concrete messages and the wire bytes.
fn encode_steps(initial_chunk_size: u32, steps: &[Step]) -> (Vec<RawMessage>, Vec<u8>) {
    use std::collections::HashMap;
    let mut enc = ChunkEncoder::new();
    let mut wire = BytesMut::new();
    let mut expected = Vec::new();
    let mut last: HashMap<u32, (Timestamp, u32, usize)> = HashMap::new();
    let emit = |enc: &mut ChunkEncoder, m: &RawMessage, path: Path, wire: &mut BytesMut| match path
    {
        Path::Contiguous => enc.encode(m, wire),
        Path::Vectored => {
            let mut segs = Vec::new();
            enc.encode_vectored(m, &mut segs);
            segs.iter().for_each(|s| wire.extend_from_slice(s));
        }
        Path::Standalone => {
            let mut segs = Vec::new();
            encode_standalone(m, enc.chunk_size(), &mut segs);
            enc.record_standalone(m);
            segs.iter().for_each(|s| wire.extend_from_slice(s));
        }
    };
    let mut all_steps = vec![Step::SetChunkSize(initial_chunk_size)];
    all_steps.extend_from_slice(steps);
    for step in &all_steps {
        match step {
            Step::SetChunkSize(size) => {
                let m = RawMessage {
                    csid: 2,
                    timestamp: Timestamp(0),
                    type_id: MessageType::SET_CHUNK_SIZE,
                    stream_id: 0,
                    payload: Bytes::copy_from_slice(&size.to_be_bytes()),
                };
                emit(&mut enc, &m, Path::Contiguous, &mut wire);
                enc.set_chunk_size(*size);
                expected.push(m);
            }
            Step::Message {
                csid,
                ts,
                len,
                type_id,
                stream_id,
                fill,
                path,
            } => {
                let (prev_ts, prev_delta, prev_len) =
                    last.get(csid).copied().unwrap_or((Timestamp(0), 0, 10));
                let timestamp = match ts {
                    TsMode::Repeat => prev_ts.add(prev_delta),
                    TsMode::Small(d) => prev_ts.add(*d),
                    TsMode::Absolute(v) => Timestamp(*v),
                };
                let len = len.unwrap_or(prev_len);
                last.insert(*csid, (timestamp, timestamp.delta_since(prev_ts), len));
                let payload: Vec<u8> = (0..len).map(|i| fill.wrapping_add(i as u8)).collect();
                let m = RawMessage {
                    csid: *csid,
                    timestamp,
                    type_id: MessageType(*type_id),
                    stream_id: *stream_id,
                    payload: Bytes::from(payload),
                };
                emit(&mut enc, &m, *path, &mut wire);
                expected.push(m);
            }
        }
    }
    (expected, wire.to_vec())
}

fn decode_split(wire: &[u8], splits: &[usize]) -> Vec<RawMessage> {
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    let mut src = BytesMut::new();
    let mut out = Vec::new();
    let mut rest = wire;
    let mut i = 0;
    while !rest.is_empty() {
        let n = splits
            .get(i % splits.len().max(1))
            .copied()
            .unwrap_or(rest.len())
            .clamp(1, rest.len());
        i += 1;
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        src.extend_from_slice(piece);
        while let Some(m) = dec.decode(&mut src).expect("own encoding decodes") {
            out.push(m);
        }
    }
    assert!(src.is_empty());
    assert_eq!(dec.bytes_consumed(), wire.len() as u64);
    assert_eq!(dec.buffered_bytes(), 0);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn encode_decode_round_trip(
        initial in chunk_size(),
        steps in prop::collection::vec(step(), 1..16),
        splits in prop::collection::vec(prop_oneof![1..4usize, 1..300usize, 1..70_000usize], 0..8),
    ) {
        let (expected, wire) = encode_steps(initial, &steps);
        let got = decode_split(&wire, &splits);
        prop_assert_eq!(got, expected);
    }
}

#[test]
fn byte_at_a_time_round_trip() {
    let steps: Vec<Step> = (0..40u32)
        .map(|i| Step::Message {
            csid: [3, 4, 6, 70, 400][(i % 5) as usize],
            ts: if i % 3 == 0 {
                TsMode::Absolute(0xFF_FFF0 + i * 7)
            } else {
                TsMode::Repeat
            },
            len: Some(if i % 4 == 0 { 0 } else { 300 }),
            type_id: 9,
            stream_id: 1,
            fill: i as u8,
            path: [Path::Contiguous, Path::Vectored, Path::Standalone][(i % 3) as usize],
        })
        .collect();
    let (expected, wire) = encode_steps(64, &steps);
    assert_eq!(decode_split(&wire, &[1]), expected);
}
