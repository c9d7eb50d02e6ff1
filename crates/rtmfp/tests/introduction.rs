//! P2P introduction through a server (RFC 7016 §3.5.1.4–3.5.1.6, RFC 7425 §5.4), in process
//! with a virtual clock: peer B has a session with server S and told it its addresses; A sends
//! S an IHello naming B's peer ID (as S knows it), gets a Redirect and sends its IHellos to B's
//! observed and reported addresses, while S forwards the IHello to B inside B's session. An
//! IHello naming a peer that never sent its addresses gets no answer. (Sluice's own endpoint
//! does not answer an introduced IHello yet: see docs/RTMFP.md.)

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use sluice_rtmfp::{Endpoint, EndpointConfig, Epd, Event, SessionHandle};

struct Net {
    now: Instant,
    nodes: Vec<(SocketAddr, Endpoint, Vec<Event>)>,
    /// Datagrams sent to each address (delivered or not), and per (from, to).
    sent_to: HashMap<SocketAddr, usize>,
    sent: HashMap<(SocketAddr, SocketAddr), usize>,
}

impl Net {
    fn new() -> Net {
        Net {
            now: Instant::now(),
            nodes: Vec::new(),
            sent_to: HashMap::new(),
            sent: HashMap::new(),
        }
    }

    fn add(&mut self, addr: &str, cfg: EndpointConfig, seed: u64) -> usize {
        let ep = Endpoint::new(cfg, self.now, Box::new(StdRng::seed_from_u64(seed)));
        self.nodes.push((addr.parse().unwrap(), ep, Vec::new()));
        self.nodes.len() - 1
    }

    fn addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].0
    }

    /// Deliver everything queued, then move the clock by 5 ms and run the timers.
    fn step(&mut self) {
        let mut moved = true;
        while moved {
            moved = false;
            for i in 0..self.nodes.len() {
                let from = self.nodes[i].0;
                while let Some((to, d)) = self.nodes[i].1.poll_transmit() {
                    moved = true;
                    *self.sent_to.entry(to).or_default() += 1;
                    *self.sent.entry((from, to)).or_default() += 1;
                    if let Some(j) = self.nodes.iter().position(|n| n.0 == to) {
                        let _ = self.nodes[j].1.handle_datagram(self.now, from, &d);
                    }
                }
            }
            for n in &mut self.nodes {
                while let Some(e) = n.1.poll_event() {
                    n.2.push(e);
                }
            }
        }
        self.now += Duration::from_millis(5);
        for n in &mut self.nodes {
            n.1.handle_timeout(self.now);
        }
    }

    fn run_until(&mut self, limit: Duration, done: impl Fn(&Net) -> bool) {
        let end = self.now + limit;
        while self.now < end && !done(self) {
            self.step();
        }
    }

    /// The first session `i` opened with a far end at `addr`.
    fn opened_with(&self, i: usize, addr: SocketAddr) -> Option<(SessionHandle, [u8; 32])> {
        self.nodes[i].2.iter().find_map(|e| match e {
            Event::SessionOpened {
                session,
                peer_id,
                addr: a,
            } if *a == addr => Some((*session, *peer_id)),
            _ => None,
        })
    }
}

#[test]
fn ihello_for_a_connected_peer_is_redirected_to_it() {
    let mut net = Net::new();
    let s = net.add("192.0.2.1:1935", EndpointConfig::server(), 1);
    let b = net.add("192.0.2.2:5000", EndpointConfig::server(), 2);
    let a = net.add("192.0.2.3:6000", EndpointConfig::default(), 3);
    let stranger = net.add("192.0.2.4:7000", EndpointConfig::default(), 4);
    let (s_addr, b_addr, a_addr) = (net.addr(s), net.addr(b), net.addr(a));

    let now = net.now;
    net.nodes[b]
        .1
        .connect(now, s_addr, Epd::for_uri("rtmfp://192.0.2.1/live"))
        .unwrap();
    net.run_until(Duration::from_secs(10), |n| {
        n.opened_with(s, b_addr).is_some()
    });
    let (s_to_b, id_at_s) = net.opened_with(s, b_addr).expect("B's session at S");

    // An IHello naming B before B said where it is: no introduction, no answer.
    let now = net.now;
    net.nodes[stranger]
        .1
        .connect(now, s_addr, Epd::for_peer(id_at_s))
        .unwrap();
    net.run_until(Duration::from_secs(2), |_| false);
    let stranger_addr = net.addr(stranger);
    assert_eq!(
        net.sent_to.get(&stranger_addr),
        None,
        "S answered before setPeerInfo"
    );

    // B's setPeerInfo: one more (unreachable here) address.
    let reported: SocketAddr = "198.51.100.2:5000".parse().unwrap();
    net.nodes[s]
        .1
        .set_peer_addresses(s_to_b, &[reported])
        .unwrap();
    let s_to_b_before = net.sent.get(&(s_addr, b_addr)).copied().unwrap_or(0);
    let now = net.now;
    net.nodes[a]
        .1
        .connect(now, s_addr, Epd::for_peer(id_at_s))
        .unwrap();
    net.run_until(Duration::from_millis(500), |_| false);
    let count = |from, to| net.sent.get(&(from, to)).copied().unwrap_or(0);
    // The Redirect reached A: it sends its IHello to B's observed and reported addresses.
    assert!(count(s_addr, a_addr) >= 1, "no Redirect to A");
    assert!(
        count(a_addr, b_addr) >= 1,
        "A did not try B's observed address"
    );
    assert!(
        count(a_addr, reported) >= 1,
        "A did not try B's reported address"
    );
    // S forwarded the IHello to B on B's (otherwise idle) session.
    assert!(
        count(s_addr, b_addr) > s_to_b_before,
        "no Forwarded IHello to B"
    );
    // A opened no session with S itself.
    assert!(net.opened_with(a, s_addr).is_none());
}
