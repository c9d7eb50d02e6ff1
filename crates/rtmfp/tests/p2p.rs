//! P2P introduction (RFC 7016 §3.5.1.4–3.5.1.6, RFC 7425 §5.4) over three sans-IO endpoints on
//! a virtual clock: peer B has a session to server S and reported its addresses; peer A opens
//! to B's peer ID through S; S redirects A to B and forwards A's IHello to B; B answers A
//! directly, and A and B then have a session of their own, with no data through S. Here every
//! end is Sluice's own endpoint (`tests/introduction.rs` checks the server's side alone).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::SeedableRng;
use sluice_rtmfp::{
    Endpoint, EndpointConfig, Epd, Event, HandshakeError, InitiatorStyle, PeerError, Reliability,
    SessionHandle,
};

const S: &str = "198.51.100.1:1935";
const A: &str = "203.0.113.7:40000";
const B: &str = "192.0.2.20:50000";
/// B's reported LAN address: nothing answers there.
const B_LAN: &str = "10.1.2.3:50000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Endpoints by address, a loss-free 5 ms link and a virtual clock.
struct Net {
    now: Instant,
    nodes: HashMap<SocketAddr, Endpoint>,
    events: HashMap<SocketAddr, Vec<Event>>,
    /// Errors the endpoints returned for datagrams, by receiver.
    errors: HashMap<SocketAddr, Vec<PeerError>>,
    in_flight: Vec<(Instant, SocketAddr, SocketAddr, Bytes)>,
    /// Datagrams that went from one address to another.
    sent: Vec<(SocketAddr, SocketAddr)>,
}

impl Net {
    fn new() -> Net {
        let now = Instant::now();
        let mut nodes = HashMap::new();
        nodes.insert(
            addr(S),
            Endpoint::new(
                EndpointConfig::server(),
                now,
                Box::new(StdRng::seed_from_u64(1)),
            ),
        );
        // A peer that may be introduced: it accepts sessions and opens with its one certificate.
        let peer = EndpointConfig {
            accept: true,
            initiator_style: InitiatorStyle::Ephemeral,
            ..EndpointConfig::default()
        };
        nodes.insert(
            addr(B),
            Endpoint::new(peer, now, Box::new(StdRng::seed_from_u64(2))),
        );
        nodes.insert(
            addr(A),
            Endpoint::new(
                EndpointConfig::default(),
                now,
                Box::new(StdRng::seed_from_u64(3)),
            ),
        );
        Net {
            now,
            nodes,
            events: HashMap::new(),
            errors: HashMap::new(),
            in_flight: Vec::new(),
            sent: Vec::new(),
        }
    }

    fn node(&mut self, a: &str) -> &mut Endpoint {
        self.nodes.get_mut(&addr(a)).unwrap()
    }

    fn collect(&mut self) {
        for (&from, ep) in self.nodes.iter_mut() {
            while let Some((to, d)) = ep.poll_transmit() {
                self.sent.push((from, to));
                self.in_flight
                    .push((self.now + Duration::from_millis(5), from, to, d));
            }
            while let Some(e) = ep.poll_event() {
                self.events.entry(from).or_default().push(e);
            }
        }
    }

    /// Advance to the next arrival or timer; false when nothing is left to do.
    fn step(&mut self) -> bool {
        self.collect();
        let arrival = self.in_flight.iter().map(|f| f.0).min();
        let timer = self.nodes.values().filter_map(|e| e.poll_timeout()).min();
        let Some(next) = arrival.into_iter().chain(timer).min() else {
            return false;
        };
        self.now = self.now.max(next);
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = self.in_flight.drain(..).partition(|f| f.0 <= now);
        self.in_flight = later;
        for (_, from, to, d) in due {
            if let Some(ep) = self.nodes.get_mut(&to) {
                if let Err(e) = ep.handle_datagram(now, from, &d) {
                    self.errors.entry(to).or_default().push(e);
                }
            }
        }
        for ep in self.nodes.values_mut() {
            ep.handle_timeout(now);
        }
        self.collect();
        true
    }

    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Net) -> bool) {
        let end = self.now + limit;
        while !done(self) && self.now < end {
            if !self.step() {
                break;
            }
        }
    }

    fn opened(&self, at: &str) -> Vec<(SessionHandle, [u8; 32], SocketAddr)> {
        self.events
            .get(&addr(at))
            .into_iter()
            .flatten()
            .filter_map(|e| match e {
                Event::SessionOpened {
                    session,
                    peer_id,
                    addr,
                } => Some((*session, *peer_id, *addr)),
                _ => None,
            })
            .collect()
    }
}

/// B opens a session to S; S learns B's reported addresses (as setPeerInfo would tell it).
fn b_joins(net: &mut Net, report: bool) {
    let now = net.now;
    net.node(B)
        .connect(now, addr(S), Epd::for_uri("rtmfp://198.51.100.1/live"))
        .unwrap();
    net.run_until(Duration::from_secs(5), |n| {
        !n.opened(S).is_empty() && !n.opened(B).is_empty()
    });
    let (b_at_s, peer, seen) = net.opened(S)[0];
    assert_eq!(seen, addr(B));
    assert_eq!(
        peer,
        net.nodes[&addr(B)].p2p_peer_id(),
        "S knows B by its P2P peer ID"
    );
    if report {
        net.node(S)
            .set_peer_addresses(b_at_s, &[addr(B_LAN), addr(B_LAN), addr(B)])
            .unwrap();
    }
}

#[test]
fn a_reaches_b_through_an_introduction_and_talks_to_it_directly() {
    let mut net = Net::new();
    b_joins(&mut net, true);
    let b_id = net.nodes[&addr(B)].p2p_peer_id();
    let now = net.now;
    let a_to_b = net
        .node(A)
        .connect(now, addr(S), Epd::for_peer(b_id))
        .unwrap();
    net.run_until(Duration::from_secs(10), |n| {
        !n.opened(A).is_empty() && n.opened(B).len() == 2
    });
    let (session, peer, at) = net.opened(A)[0];
    assert_eq!(session, a_to_b);
    assert_eq!(peer, b_id, "A's session is with B's peer ID");
    assert_eq!(at, addr(B), "and with B's address, not S's");
    let (_, _, a_seen) = net.opened(B)[1];
    assert_eq!(a_seen, addr(A));
    // S redirected A (one Redirect carrying B's observed and LAN addresses: A tried both) and
    // forwarded the IHello to B; B's RHello went to A directly.
    assert!(
        net.sent.contains(&(addr(A), addr(B_LAN))),
        "A tried B's LAN address"
    );
    assert!(net.sent.contains(&(addr(B), addr(A))));
    assert!(net.opened(S).len() == 1, "S has no session with A");

    // A message from A reaches B on the P2P session, without S.
    let before = net.sent.len();
    let now = net.now;
    let flow = net
        .node(A)
        .open_flow(a_to_b, Bytes::from_static(b"TC\x04\x00"), None, 5)
        .unwrap();
    net.node(A)
        .send(
            now,
            a_to_b,
            flow,
            Bytes::from_static(b"hello B"),
            Reliability::Reliable,
        )
        .unwrap();
    net.run_until(Duration::from_secs(5), |n| {
        n.events[&addr(B)]
            .iter()
            .any(|e| matches!(e, Event::Message { bytes, .. } if &bytes[..] == b"hello B"))
    });
    assert!(net.events[&addr(B)]
        .iter()
        .any(|e| matches!(e, Event::Message { bytes, .. } if &bytes[..] == b"hello B")));
    let to_s: Vec<_> = net
        .sent
        .iter()
        .skip(before)
        .filter(|(f, to)| *f == addr(A) && *to == addr(S))
        .collect();
    assert!(to_s.is_empty(), "A sent nothing more to S: {to_s:?}");
}

#[test]
fn a_peer_that_did_not_report_its_addresses_is_not_introduced() {
    let mut net = Net::new();
    b_joins(&mut net, false);
    let b_id = net.nodes[&addr(B)].p2p_peer_id();
    let now = net.now;
    net.node(A)
        .connect(now, addr(S), Epd::for_peer(b_id))
        .unwrap();
    net.run_until(Duration::from_secs(3), |_| false);
    assert!(net.opened(A).is_empty());
    assert!(
        !net.sent.contains(&(addr(S), addr(A))),
        "S never answered A"
    );
    assert!(net.errors[&addr(S)]
        .iter()
        .all(|e| matches!(e, PeerError::Handshake(HandshakeError::NotForUs))));
    assert!(!net.errors[&addr(S)].is_empty());
}

#[test]
fn an_unknown_peer_id_gets_no_answer() {
    let mut net = Net::new();
    b_joins(&mut net, true);
    let now = net.now;
    net.node(A)
        .connect(now, addr(S), Epd::for_peer([7; 32]))
        .unwrap();
    net.run_until(Duration::from_secs(3), |_| false);
    assert!(net.opened(A).is_empty());
    assert!(!net.sent.contains(&(addr(S), addr(A))));
}
