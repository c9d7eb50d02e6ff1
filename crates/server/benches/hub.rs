//! Micro-benchmark of the stream hub fan-out (`cargo bench -p sluice-server --bench hub`).
//!
//! 1. Publisher `send` cost with 1000 subscribers that one task drains with `try_recv_batch`
//!    every 16 frames (the hub's own cost, no wake-ups pending).
//! 2. 1000 player tasks awaiting `recv_batch` on a 2-worker runtime; the publisher sends batches of
//!    8 (`send_many`) in lockstep (next batch once every player has the previous one): end-to-end
//!    cost including wake-ups.
//!
//! Prints ns per frame; no assertions, no external harness.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_server::hub::{Hub, HubConfig, MediaFrame, PeerInfo, PlayerEvent};
use tokio::sync::Notify;

const PLAYERS: usize = 1000;

/// A 30 fps video + ~47 Hz AAC mix: keyframe every 60 video frames.
fn frames(n: usize) -> Vec<MediaFrame> {
    let video = Bytes::from(vec![0x27u8; 4000]);
    let key = Bytes::from(vec![0x17u8; 40_000]);
    let audio = Bytes::from(vec![0xAFu8; 300]);
    let mut v = 0u32;
    (0..n)
        .map(|i| {
            let ts = (i as u32) * 13;
            if i % 5 < 2 {
                v += 1;
                if v % 60 == 1 {
                    MediaFrame::video(ts, key.clone(), true)
                } else {
                    MediaFrame::video(ts, video.clone(), false)
                }
            } else {
                MediaFrame::audio(ts, audio.clone())
            }
        })
        .collect()
}

fn config() -> HubConfig {
    HubConfig {
        player_queue_max_bytes: 64 << 20,
        ..HubConfig::default()
    }
}

fn single_task_drain() {
    let hub = Hub::new(config());
    let publisher = hub
        .publish("live", "bench", PeerInfo::new("pub"))
        .expect("publish");
    let mut subs: Vec<_> = (0..PLAYERS)
        .map(|i| hub.subscribe("live", "bench", PeerInfo::new(format!("p{i}"))))
        .collect();
    let input = frames(20_000);
    let mut out: Vec<PlayerEvent> = Vec::with_capacity(64);
    let mut send_time = Duration::ZERO;
    let mut drain_time = Duration::ZERO;
    let mut delivered = 0u64;
    for chunk in input.chunks(16) {
        let t = Instant::now();
        for frame in chunk {
            publisher.send(frame.clone());
        }
        send_time += t.elapsed();
        let t = Instant::now();
        for sub in &mut subs {
            out.clear();
            delivered += sub.try_recv_batch(&mut out) as u64;
            black_box(&out);
        }
        drain_time += t.elapsed();
    }
    let n = input.len() as f64;
    println!(
        "hub/single-task: {PLAYERS} players, {} frames: publisher send {:.0} ns/frame, \
         drain {:.1} ns/frame/player ({:.0} ns/frame for all players), {delivered} events",
        input.len(),
        send_time.as_nanos() as f64 / n,
        drain_time.as_nanos() as f64 / n / PLAYERS as f64,
        drain_time.as_nanos() as f64 / n,
    );
}

fn tasks_with_wakeups() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let hub = Hub::new(config());
        let publisher = hub.publish("live", "bench", PeerInfo::new("pub")).expect("publish");
        let input = frames(8_000);
        let total = input.len();
        // Lockstep: the publisher sends a batch, then waits until every player has it, so the
        // figure includes waking and draining all players (what a paced live stream costs).
        let delivered = Arc::new(AtomicU64::new(0));
        let target = Arc::new(AtomicU64::new(u64::MAX));
        let all_done = Arc::new(Notify::new());
        let mut tasks = Vec::new();
        for i in 0..PLAYERS {
            let mut sub = hub.subscribe("live", "bench", PeerInfo::new(format!("p{i}")));
            let (delivered, target, all_done) =
                (Arc::clone(&delivered), Arc::clone(&target), Arc::clone(&all_done));
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::with_capacity(64);
                let mut seen = 0u64;
                while seen < total as u64 {
                    out.clear();
                    if sub.recv_batch(&mut out).await.is_err() {
                        break;
                    }
                    let n: u64 = out
                        .iter()
                        .map(|ev| match ev {
                            PlayerEvent::Frame(_) => 1,
                            PlayerEvent::Dropped { frames } => *frames,
                            _ => 0,
                        })
                        .sum();
                    seen += n;
                    if delivered.fetch_add(n, Ordering::AcqRel) + n == target.load(Ordering::Acquire) {
                        all_done.notify_one();
                    }
                }
            }));
        }
        let start = Instant::now();
        let mut send_time = Duration::ZERO;
        let mut sent = 0u64;
        for chunk in input.chunks(8) {
            sent += chunk.len() as u64;
            target.store(sent * PLAYERS as u64, Ordering::Release);
            let t = Instant::now();
            publisher.send_many(chunk.iter().cloned());
            send_time += t.elapsed();
            all_done.notified().await;
        }
        let wall = start.elapsed();
        for t in tasks {
            t.await.expect("player task");
        }
        let n = total as f64;
        println!(
            "hub/tasks: {PLAYERS} player tasks on 2 workers, {total} frames in lockstep batches of 8: \
             publisher send {:.0} ns/frame, wall {:.0} ns/frame = {:.1} ns/frame/player",
            send_time.as_nanos() as f64 / n,
            wall.as_nanos() as f64 / n,
            wall.as_nanos() as f64 / n / PLAYERS as f64,
        );
    });
}

fn main() {
    single_task_drain();
    tasks_with_wakeups();
}
