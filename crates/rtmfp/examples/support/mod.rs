//! The blocking-UDP loop the interop examples share: wait for a datagram or the endpoint's next
//! timer (at most `max_wait`), hand it to the endpoint, run its timers; and flush its output.
//! [`relay`] is `tc_relay`'s application logic and [`transcript`] its capture format; both are
//! also included by `tests/replay.rs`.

#![allow(dead_code)]

pub mod relay;
pub mod transcript;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use sluice_rtmfp::tc::{TcClient, TcClientConfig, TcClientEvent};
use sluice_rtmfp::{Endpoint, EndpointConfig, Epd, Event, SessionHandle};
use sluice_rtmp::command::ConnectCommand;

/// A client: a socket on an ephemeral port, an endpoint, and a session opening to `server`.
pub fn open_client(
    server: SocketAddr,
    url: &str,
) -> std::io::Result<(UdpSocket, Endpoint, SessionHandle)> {
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    let now = Instant::now();
    let mut ep = Endpoint::new(
        EndpointConfig::default(),
        now,
        Box::new(StdRng::from_entropy()),
    );
    let session = ep
        .connect(now, server, Epd::for_uri(url))
        .expect("start session");
    Ok((socket, ep, session))
}

/// Once the session is open: `connect` to the URL's app and one `createStream`.
pub fn connect(ep: &mut Endpoint, now: Instant, session: SessionHandle, url: &str) -> TcClient {
    let app = url.splitn(4, '/').nth(3).unwrap_or("").to_owned();
    let mut c = TcClient::new(session, TcClientConfig::default());
    c.connect(ep, now, ConnectCommand::new(app, url))
        .expect("connect");
    c.create_stream(ep, now).expect("createStream");
    c
}

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

/// Hand an endpoint event to the client, creating it (connect + createStream) when the session
/// opens; returns the client's events. A closed session or a protocol error ends the program.
pub fn client_events(
    ep: &mut Endpoint,
    now: Instant,
    session: SessionHandle,
    url: &str,
    tc: &mut Option<TcClient>,
    event: &Event,
) -> Vec<TcClientEvent> {
    match event {
        Event::SessionOpened { peer_id, addr, .. } => {
            println!("session open to {addr}, server peer id {}", hex(peer_id));
            *tc = Some(connect(ep, now, session, url));
            return Vec::new();
        }
        Event::SessionClosed { reason, .. } => {
            println!("session closed: {reason:?}");
            std::process::exit(1);
        }
        _ => {}
    }
    let Some(c) = tc.as_mut() else {
        return Vec::new();
    };
    if let Err(e) = c.handle_event(ep, now, event) {
        println!("protocol error: {e}");
        std::process::exit(1);
    }
    std::iter::from_fn(|| c.poll_event()).collect()
}
