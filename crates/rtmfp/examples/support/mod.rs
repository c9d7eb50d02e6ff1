//! The blocking-UDP loop the interop examples share: wait for a datagram or the endpoint's next
//! timer (at most `max_wait`), hand it to the endpoint, run its timers; and flush its output.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use sluice_rtmfp::Endpoint;

/// One turn: receive (or time out), then `handle_timeout`. Returns the time it ended.
pub fn turn(
    socket: &UdpSocket,
    ep: &mut Endpoint,
    buf: &mut [u8],
    max_wait: Duration,
) -> std::io::Result<Instant> {
    let wait = ep
        .poll_timeout()
        .map(|t| t.saturating_duration_since(Instant::now()))
        .unwrap_or(max_wait)
        .clamp(Duration::from_millis(1), max_wait);
    socket.set_read_timeout(Some(wait))?;
    match socket.recv_from(buf) {
        Ok((n, from)) => {
            if let Err(e) = ep.handle_datagram(Instant::now(), from, &buf[..n]) {
                println!("dropped datagram from {from}: {e}");
            }
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        Err(e) => return Err(e),
    }
    let now = Instant::now();
    ep.handle_timeout(now);
    Ok(now)
}

/// Send everything the endpoint has queued.
pub fn flush(socket: &UdpSocket, ep: &mut Endpoint) -> std::io::Result<()> {
    while let Some((to, d)) = ep.poll_transmit() {
        socket.send_to(&d, to)?;
    }
    Ok(())
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
