//! Chunk codec throughput (RTMP 1.0 §5.3): encode and decode about 100 MB of video-like
//! messages (4–60 KB each, 33 ms apart) at chunk sizes 128 and 4096, release mode.
//!
//! Run with `cargo bench -p sluice-rtmp --bench chunk`. Plain `std::time::Instant` timing, best of
//! three runs per case; MB = 10^6 payload bytes. `encode` copies into a write buffer cleared
//! every 64 KiB (as a socket flush would); `encode_vectored`/`encode_standalone` only build
//! segment lists (header bytes + zero-copy payload slices), so they measure header work alone.
//! Decoding feeds the wire bytes in 64 KiB reads, as a socket driver would.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use sluice_rtmp::chunk::{encode_standalone, ChunkDecoder, ChunkEncoder, ChunkLimits};
use sluice_rtmp::{MessageType, RawMessage, Timestamp};

const TOTAL_PAYLOAD: usize = 100_000_000;
const READ_SIZE: usize = 64 * 1024;
const RUNS: usize = 3;

/// Deterministic video-like messages: sizes 4..60 KB from a fixed LCG.
fn messages() -> Vec<RawMessage> {
    let mut state: u64 = 0x5EED_1234;
    let mut out = Vec::new();
    let mut total = 0;
    let mut ts = Timestamp(0);
    while total < TOTAL_PAYLOAD {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let len = 4_000 + (state >> 33) as usize % 56_000;
        let payload: Vec<u8> = (0..len).map(|i| (i as u64 ^ state) as u8).collect();
        out.push(RawMessage {
            csid: 6,
            timestamp: ts,
            type_id: MessageType::VIDEO,
            stream_id: 1,
            payload: Bytes::from(payload),
        });
        ts = ts.add(33);
        total += len;
    }
    out
}

fn best_of(mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut result = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        result = f();
        best = best.min(start.elapsed());
    }
    (best, result)
}

fn report(name: &str, chunk_size: u32, payload: usize, count: usize, elapsed: Duration) {
    let secs = elapsed.as_secs_f64();
    println!(
        "{name:<22} chunk {chunk_size:>5}: {:>8.1} MB/s {:>10.0} msg/s ({:.1} ms)",
        payload as f64 / 1e6 / secs,
        count as f64 / secs,
        secs * 1e3
    );
}

fn main() {
    let msgs = messages();
    let payload: usize = msgs.iter().map(|m| m.payload.len()).sum();
    println!(
        "{} messages, {:.1} MB payload, best of {RUNS}",
        msgs.len(),
        payload as f64 / 1e6
    );
    for chunk_size in [128u32, 4096] {
        // The wire image for the decode runs, built outside the timing.
        let mut wire = BytesMut::with_capacity(payload + payload / 64 + 1024);
        let mut enc = ChunkEncoder::new();
        enc.set_chunk_size(chunk_size);
        for m in &msgs {
            enc.encode(m, &mut wire);
        }
        let wire = wire.freeze();

        // contiguous: payload copied into a write buffer, flushed (cleared) past 64 KiB
        let (t, _) = best_of(|| {
            let mut enc = ChunkEncoder::new();
            enc.set_chunk_size(chunk_size);
            let mut out = BytesMut::with_capacity(2 * READ_SIZE);
            let mut n = 0;
            for m in &msgs {
                enc.encode(m, &mut out);
                if out.len() >= READ_SIZE {
                    n += black_box(&out).len();
                    out.clear();
                }
            }
            n + out.len()
        });
        report("encode", chunk_size, payload, msgs.len(), t);

        // vectored: header segments + zero-copy payload slices
        let (t, _) = best_of(|| {
            let mut enc = ChunkEncoder::new();
            enc.set_chunk_size(chunk_size);
            let mut segs = Vec::new();
            let mut n = 0;
            for m in &msgs {
                segs.clear();
                enc.encode_vectored(m, &mut segs);
                n += segs.len();
            }
            black_box(n)
        });
        report("encode_vectored", chunk_size, payload, msgs.len(), t);

        let (t, _) = best_of(|| {
            let mut segs = Vec::new();
            let mut n = 0;
            for m in &msgs {
                segs.clear();
                encode_standalone(m, chunk_size, &mut segs);
                n += segs.len();
            }
            black_box(n)
        });
        report("encode_standalone", chunk_size, payload, msgs.len(), t);

        // decode in socket-sized reads
        let (t, decoded) = best_of(|| {
            let mut dec = ChunkDecoder::new(ChunkLimits::default());
            dec.set_chunk_size(chunk_size).expect("valid chunk size");
            let mut src = BytesMut::with_capacity(2 * READ_SIZE);
            let mut count = 0;
            for read in wire.chunks(READ_SIZE) {
                src.extend_from_slice(read);
                while let Some(m) = dec.decode(&mut src).expect("bench stream decodes") {
                    black_box(&m);
                    count += 1;
                }
            }
            count
        });
        assert_eq!(decoded, msgs.len());
        report("decode", chunk_size, payload, msgs.len(), t);
    }
}
