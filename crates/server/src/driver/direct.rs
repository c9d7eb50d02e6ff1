//! The direct fan-out path of plain-TCP connections: the connection's state sits behind a mutex
//! shared with a [`DirectSink`] that each of its subscribers attaches to its stream, so the
//! publisher's task writes to caught-up players in place (one non-blocking vectored send per
//! batch) instead of waking 1000 player tasks per video frame. Also the unwatched-publisher read
//! gate (`SO_RCVLOWAT` between reads on a shared grid). The generic loop for every other
//! transport is [`super::Connection::run`]; the session-event handling both share is in
//! [`super`].

use super::recv_so;
use super::{AfterRead, CloseReason, Connection, LoopState, MAX_IOVECS, SMALL_IOVECS, TICK};
use crate::hub::DirectSink;
use crate::Context;
use bytes::{Buf, Bytes};
use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::Notify;
use tracing::{debug, warn};

/// Drive one plain-TCP connection whose players are written to from the publisher's task.
///
/// `prefix` holds bytes already read from the socket (by proxy detection); they are fed to the
/// session first. The connection's state lives behind a mutex shared with a [`DirectSink`] that
/// each of its subscribers attaches to its stream: after every append the publisher's task
/// `try_lock`s the state and, when nothing is pending for this socket, serialises the new
/// messages and writes them with one non-blocking vectored send. When the state is busy, the
/// socket is full or the subscriber was closed, the sink wakes this task instead, which then
/// works like the generic loop (waiting for the socket with the stall timeout). Bytes are written
/// only under the lock and, while some are pending, only by this task, so the order on the wire
/// is the order of the session's queue.
pub fn serve_tcp_connection(
    tcp: tokio::net::TcpStream,
    prefix: Bytes,
    peer: SocketAddr,
    ctx: Arc<Context>,
) -> impl std::future::Future<Output = ()> + Send {
    // Set up before the future: it then holds only what the loop needs (the socket, the address
    // and the proxy-detection buffer are not kept in it for the connection's life).
    let (rd, wr) = tcp.into_split();
    let mut conn = Connection::new(peer, ctx, crate::control::Transport::Rtmp);
    let early = prefix.len();
    if early > 0 {
        conn.session.recv_buffer().extend_from_slice(&prefix);
    }
    drop(prefix);
    // One wake-up for the sinks and the VOD readers: one `Notified` in the loop, not two.
    let wake = Arc::new(Notify::new());
    conn.vod.set_wake(Arc::clone(&wake));
    let shared = Arc::new(Shared {
        conn: Mutex::new(conn),
        wake,
        writer: wr,
    });
    let sink: Weak<dyn DirectSink> = Arc::downgrade(&shared) as Weak<dyn DirectSink>;
    shared.lock().direct = Some(sink);
    async move {
        let reason = run_direct(&shared, &rd, early).await;
        let mut conn = shared.lock();
        conn.direct = None;
        conn.finish(&reason);
    }
}

/// A direct connection's state, shared between its task and the publishers' sinks.
struct Shared {
    conn: Mutex<Connection>,
    /// Wakes the connection's task (a stored permit is never lost): the sinks, and the VOD
    /// readers of its plays from files.
    wake: Arc<Notify>,
    writer: OwnedWriteHalf,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The hub holds each direct connection's state weakly (the connection owns its subscribers).
impl DirectSink for Shared {
    fn on_append(&self) {
        let sh = self;
        let Ok(mut guard) = sh.conn.try_lock() else {
            // The task is busy with this connection (or it is this very task): it looks again.
            sh.wake.notify_one();
            return;
        };
        let conn = &mut *guard;
        if !conn.out.is_empty() || conn.write_error.is_some() {
            // The task is waiting for room in the socket: only it writes until that is sent.
            sh.wake.notify_one();
            return;
        }
        for i in 0..conn.players.len() {
            conn.deliver(i);
        }
        conn.session.drain_transmit(&mut conn.out);
        let written = try_write_out(&sh.writer, &mut conn.out);
        let closed = conn
            .players
            .iter()
            .any(|p| p.subscriber.closed_reason().is_some());
        let failed = match written {
            Ok(n) => {
                conn.bytes_out += n as u64;
                false
            }
            Err(e) => {
                // The task reports it on its next flush and closes.
                conn.out.clear();
                conn.write_error = Some(e);
                true
            }
        };
        if closed || failed || !conn.out.is_empty() {
            sh.wake.notify_one();
        }
    }
}

/// The direct connection's loop: like [`Connection::run`], with the state locked only between
/// awaits and players waiting on the connection's own wake-up instead of the hub's lists.
/// `early`: bytes already in the session's input buffer (read by proxy detection).
async fn run_direct(sh: &Shared, rd: &OwnedReadHalf, early: usize) -> CloseReason {
    let mut lp = LoopState::new(&sh.lock().ctx);
    // The shutdown flag is read at the top of every turn; what wakes the task for it is the
    // registry entry's notification below (`Context::begin_shutdown` wakes every client), so
    // a connection holds no shutdown future of its own.
    // One timer for the once-a-second checks, the batch deadline and the read gate, re-armed
    // to the earliest of them: one boxed `Sleep` per connection instead of an interval plus a
    // fresh timer per deadline and loop turn.
    let mut next_tick = tokio::time::Instant::now() + TICK;
    let mut timer = Box::pin(tokio::time::sleep_until(next_tick));
    let mut so_rx = None;
    let entry = sh.lock().client.entry().clone();
    let mut kicked = std::pin::pin!(entry.notify.notified());
    // Pending decisions, polled here outside the connection's lock.
    let mut decisions = Vec::new();
    if early > 0 {
        let after = sh.lock().after_read(early, &mut lp);
        match after {
            AfterRead::Go => {}
            AfterRead::Close(r) => return r,
            AfterRead::FlushClose(r) => {
                let _ = flush_direct(sh, Duration::from_secs(1)).await;
                return r;
            }
        }
    }

    loop {
        if let Err(r) = flush_direct(sh, lp.write_timeout).await {
            return r;
        }
        let shutting_down = {
            let mut conn = sh.lock();
            if conn.session.is_closed() {
                return CloseReason::ConnectRejected;
            }
            let down = *conn.ctx.shutdown.borrow();
            if down {
                conn.on_shutdown();
            }
            conn.take_decisions(&mut decisions);
            down
        };
        if shutting_down {
            let _ = flush_direct(sh, Duration::from_secs(2)).await;
            return CloseReason::Shutdown;
        }
        if so_rx.is_none() {
            so_rx = sh.lock().so_rx.take();
        }
        let wake_at = [lp.batch_deadline, lp.read_gate]
            .into_iter()
            .flatten()
            .fold(next_tick, std::cmp::min);
        if timer.deadline() != wake_at {
            timer.as_mut().reset(wake_at);
        }
        tokio::select! {
            biased;
            _ = kicked.as_mut() => {
                // A kick, or the shutdown (seen at the top of the loop).
                if entry.is_kicked() {
                    return CloseReason::Kicked;
                }
                kicked.set(entry.notify.notified());
            }
            Some(m) = recv_so(&mut so_rx) => {
                sh.lock().send_shared_object(&m, false);
            }
            (i, d) = super::decide::next_decision(&mut decisions) => {
                let w = decisions.swap_remove(i);
                if let Some(r) = sh.lock().on_waited_decision(w, d) {
                    return r;
                }
            }
            _ = timer.as_mut() => {
                // Everything due by the deadline that fired is handled, so the timer is always
                // re-armed later than it was (never polled again while already elapsed).
                let now = tokio::time::Instant::now().max(timer.deadline());
                if lp.read_gate.is_some_and(|at| at <= now) {
                    // Time to read what came meanwhile: readable as soon as anything is there.
                    lp.read_gate = None;
                    set_low_watermark(rd, &mut lp, false);
                }
                if lp.batch_deadline.is_some_and(|at| at <= now) {
                    lp.batch_deadline = sh.lock().flush_due(now, lp.batch_window);
                }
                if next_tick <= now {
                    next_tick = now + TICK;
                    if let Some(r) = sh.lock().on_tick(&mut lp) {
                        return r;
                    }
                }
            }
            r = rd.readable(), if lp.read_gate.is_none() => {
                if let Err(e) = r {
                    return CloseReason::Io(e);
                }
                let after = {
                    let mut conn = sh.lock();
                    conn.reserve_read(lp.read_size);
                    let after = match rd.try_read_buf(conn.session.recv_buffer()) {
                        Ok(0) => return CloseReason::PeerClosed,
                        Ok(n) => {
                            let filled = n >= lp.read_size;
                            let after = conn.after_read(n, &mut lp);
                            // A publisher nobody watches is read in larger, rarer gulps,
                            // unless it sends faster than one buffer per gap.
                            if !filled
                                && !lp.unwatched_read.is_zero()
                                && lp.unwatched
                            {
                                lp.read_gate = Some(next_read_slot(lp.unwatched_read));
                                set_low_watermark(rd, &mut lp, true);
                                // Nothing to keep between gulps: 200 idle 64 KiB buffers
                                // would outweigh everything else an ingest server holds.
                                conn.session.release_idle_memory();
                            } else {
                                set_low_watermark(rd, &mut lp, false);
                            }
                            after
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => AfterRead::Go,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => AfterRead::Go,
                        Err(e) => return CloseReason::Io(e),
                    };
                    conn.release_idle_read_buffer(&lp);
                    after
                };
                match after {
                    AfterRead::Go => {}
                    AfterRead::Close(r) => return r,
                    AfterRead::FlushClose(r) => {
                        let _ = flush_direct(sh, Duration::from_secs(1)).await;
                        return r;
                    }
                }
            }
            _ = sh.wake.notified() => {
                let mut conn = sh.lock();
                conn.pump_vod();
                for i in 0..conn.players.len() {
                    conn.deliver(i);
                }
                if let Some(closed) = conn.players.iter().find_map(|p| p.subscriber.closed_reason()) {
                    warn!(conn = conn.id, peer = %conn.peer, reason = %closed, "player closed by hub");
                    return CloseReason::TooSlow;
                }
            }
        }
    }
}

/// The receive low watermark of a publisher nobody watches, between its reads: below this
/// many buffered bytes its socket does not wake the reactor (see [`crate::sockopt`]), so the
/// timer of `unwatched_read_ms` is what wakes it. A faster publisher reaches it first and is read
/// at once. The kernel caps it at half the receive buffer.
const UNWATCHED_LOW_WATERMARK: u32 = 64 * 1024;

/// Raise (`high`) or restore the socket's receive low watermark, if not already so. A failure
/// (not expected on Linux TCP sockets) is logged once and the connection goes on without it.
fn set_low_watermark(rd: &OwnedReadHalf, lp: &mut LoopState, high: bool) {
    if lp.low_watermark == high || lp.no_low_watermark {
        return;
    }
    let tcp: &tokio::net::TcpStream = rd.as_ref();
    let bytes = if high { UNWATCHED_LOW_WATERMARK } else { 1 };
    match crate::sockopt::set_recv_low_watermark(tcp, bytes) {
        Ok(()) => lp.low_watermark = high,
        Err(e) => {
            debug!(error = %e, "SO_RCVLOWAT refused; unwatched reads wake on every segment");
            lp.no_low_watermark = true;
            lp.low_watermark = false;
        }
    }
}

/// When a publisher nobody watches reads next: at least half of `period` from now, on a grid of
/// `period` shared by every connection, so that their timers fire together (one reactor turn
/// for all of them) instead of spread over the period.
fn next_read_slot(period: Duration) -> tokio::time::Instant {
    static EPOCH: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(tokio::time::Instant::now);
    grid_slot(epoch, tokio::time::Instant::now(), period)
}

/// The first multiple of `period` after `epoch` that is at least `period / 2` after `now`.
fn grid_slot(
    epoch: tokio::time::Instant,
    now: tokio::time::Instant,
    period: Duration,
) -> tokio::time::Instant {
    let p = u64::try_from(period.as_millis()).unwrap_or(u64::MAX).max(1);
    let earliest = (now + period / 2).saturating_duration_since(epoch);
    let earliest_ms = u64::try_from(earliest.as_millis()).unwrap_or(u64::MAX);
    let slots = earliest_ms / p + 1;
    epoch + Duration::from_millis(slots.saturating_mul(p))
}

/// Write everything the session has queued (and what a sink left), waiting for room in the
/// socket at most `timeout` in all.
///
/// Almost always the socket takes everything at once, so that is tried first without building a
/// future; the waiting part is boxed on its own (only while a player's socket is full), which
/// keeps every connection's long-lived task smaller.
async fn flush_direct(sh: &Shared, timeout: Duration) -> Result<(), CloseReason> {
    if try_flush_direct(sh)? {
        return Ok(());
    }
    Box::pin(wait_flush_direct(sh, timeout)).await
}

/// The waiting part of [`flush_direct`].
async fn wait_flush_direct(sh: &Shared, timeout: Duration) -> Result<(), CloseReason> {
    let at = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(at, sh.writer.writable()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(CloseReason::Io(e)),
            Err(_) => return Err(CloseReason::WriteStalled),
        }
        if try_flush_direct(sh)? {
            return Ok(());
        }
    }
}

/// One non-blocking attempt at [`flush_direct`]: `Ok(true)` once nothing is left to write.
fn try_flush_direct(sh: &Shared) -> Result<bool, CloseReason> {
    let mut guard = sh.lock();
    let conn = &mut *guard;
    if let Some(e) = conn.write_error.take() {
        return Err(CloseReason::Io(e));
    }
    conn.session.drain_transmit(&mut conn.out);
    match try_write_out(&sh.writer, &mut conn.out) {
        Ok(n) => conn.bytes_out += n as u64,
        Err(e) => {
            conn.out.clear();
            return Err(CloseReason::Io(e));
        }
    }
    Ok(conn.out.is_empty())
}

/// Write as much of `out` as the socket takes now, without waiting; drops what was written from
/// the front of `out` and returns the byte count.
pub(crate) fn try_write_out(w: &OwnedWriteHalf, out: &mut Vec<Bytes>) -> std::io::Result<usize> {
    let mut total = 0;
    while !out.is_empty() {
        let count = out.len().min(MAX_IOVECS);
        let want: usize = out[..count].iter().map(Bytes::len).sum();
        let res = if count <= SMALL_IOVECS {
            let mut arr = [IoSlice::new(&[]); SMALL_IOVECS];
            for (slot, b) in arr.iter_mut().zip(&out[..count]) {
                *slot = IoSlice::new(b);
            }
            send_now(w, &arr[..count])
        } else {
            let slices: Vec<IoSlice<'_>> = out[..count].iter().map(|b| IoSlice::new(b)).collect();
            send_now(w, &slices)
        };
        let mut n = match res {
            Ok(0) if want > 0 => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n;
        let full = n >= want;
        let mut done = 0;
        while done < out.len() {
            let len = out[done].len();
            if n >= len {
                n -= len;
                done += 1;
            } else {
                out[done].advance(n);
                break;
            }
        }
        out.drain(..done);
        if !full {
            // The socket took less than offered: it is full.
            break;
        }
    }
    if out.is_empty() {
        // Between writes a player holds no list: 1000 idle lists would cost more memory than
        // allocating one per write costs time.
        *out = Vec::new();
    }
    Ok(total)
}

/// One non-blocking vectored send. It goes to the socket first, without tokio's readiness check
/// (one cache line less to load per player and write on the fan-out path); only when the socket
/// is full is the send repeated through tokio, which then clears its readiness so that
/// `writable()` waits for room instead of returning at once.
fn send_now(w: &OwnedWriteHalf, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
    let tcp: &tokio::net::TcpStream = w.as_ref();
    match socket2::SockRef::from(tcp).send_vectored(bufs) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => w.try_write_vectored(bufs),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn read_slots_are_shared_and_at_least_half_a_period_away() {
        let epoch = tokio::time::Instant::now();
        let ms = Duration::from_millis;
        let p = ms(100);
        // From 0-49 ms after a slot the next one is taken; from 50 ms on, the one after.
        assert_eq!(grid_slot(epoch, epoch, p), epoch + ms(100));
        assert_eq!(grid_slot(epoch, epoch + ms(49), p), epoch + ms(100));
        assert_eq!(grid_slot(epoch, epoch + ms(50), p), epoch + ms(200));
        assert_eq!(grid_slot(epoch, epoch + ms(120), p), epoch + ms(200));
        assert_eq!(grid_slot(epoch, epoch + ms(151), p), epoch + ms(300));
        // Two connections reading at different times in the same half-period share the slot.
        assert_eq!(
            grid_slot(epoch, epoch + ms(1_010), p),
            grid_slot(epoch, epoch + ms(1_040), p)
        );
        // A period under 1 ms is treated as 1 ms.
        assert_eq!(grid_slot(epoch, epoch, Duration::ZERO), epoch + ms(1));
    }

    /// A socket whose peer does not read fills up: `try_write_out` writes what fits, keeps the
    /// rest in order and never blocks; once the peer reads, the rest follows byte for byte.
    #[tokio::test]
    async fn try_write_out_keeps_unsent_bytes_in_order() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let (_rd, wr) = client.into_split();

        // 40 buffers (more than SMALL_IOVECS) of 256 KiB, each filled with its own index.
        let mut out: Vec<Bytes> = (0..40u8)
            .map(|i| Bytes::from(vec![i; 256 * 1024]))
            .collect();
        let total: usize = out.iter().map(Bytes::len).sum();
        let first = try_write_out(&wr, &mut out).unwrap();
        assert!(first > 0 && first < total, "the socket takes part: {first}");
        assert_eq!(first + out.iter().map(Bytes::len).sum::<usize>(), total);

        let reader = tokio::spawn(async move {
            let mut got = Vec::with_capacity(total);
            while got.len() < total {
                let mut buf = vec![0u8; 64 * 1024];
                let n = server.read(&mut buf).await.unwrap();
                assert!(n > 0);
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        let mut sent = first;
        while !out.is_empty() {
            wr.writable().await.unwrap();
            sent += try_write_out(&wr, &mut out).unwrap();
        }
        assert_eq!(sent, total);
        let got = reader.await.unwrap();
        for (i, chunk) in got.chunks(256 * 1024).enumerate() {
            assert!(
                chunk.iter().all(|&b| b as usize == i),
                "buffer {i} in order"
            );
        }
    }

    #[tokio::test]
    async fn try_write_out_reports_a_closed_peer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        // Closed with nothing read: the first write draws a reset, later ones fail.
        drop(server);
        let (_rd, wr) = client.into_split();
        let mut res = Ok(0);
        for _ in 0..100 {
            let mut out = vec![Bytes::from_static(b"hello")];
            res = try_write_out(&wr, &mut out);
            if res.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(res.is_err(), "a write to a reset connection fails");
    }
}
