//! Ephemeral loopback ports for servers under test.
//!
//! Tests only ever listen on and connect to 127.0.0.1, on ports the kernel
//! hands out, so parallel tests and other programs on the machine never clash
//! with a fixed port such as 1935.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// A TCP port on 127.0.0.1 that was free a moment ago: binds port 0, reads the
/// port the kernel chose, and closes the listener.
///
/// Another process may grab the port before the caller binds it; the kernel
/// cycles through the ephemeral range, so this is rare in practice.
///
/// # Panics
/// If binding a loopback socket fails (no loopback interface).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0 to find a free port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("cannot read the local address of a bound socket: {e}"))
        .port()
}

/// Waits until something accepts TCP connections on `127.0.0.1:port`.
/// Returns `true` once a connection succeeds, `false` if `timeout` passes first.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + timeout;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let attempt = (deadline - now).min(Duration::from_millis(500));
        if TcpStream::connect_timeout(&addr, attempt).is_ok() {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
}
