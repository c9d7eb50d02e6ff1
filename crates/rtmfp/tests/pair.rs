//! An in-process client/server pair over the sans-IO endpoints, with a virtual clock and a
//! datagram link that can lose, duplicate and reorder (seeded, so every run is the same).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_rtmfp::{
    CloseReason, Endpoint, EndpointConfig, Epd, Event, FlowRef, InitiatorStyle, Reliability,
    SessionHandle,
};

const CLIENT: &str = "192.0.2.10:50000";
const SERVER: &str = "192.0.2.1:1935";

struct Link {
    loss: f64,
    duplicate: f64,
    /// Extra delay up to this, so datagrams reorder.
    jitter: Duration,
    delay: Duration,
}

struct Pair {
    now: Instant,
    client: Endpoint,
    server: Endpoint,
    link: Link,
    rng: StdRng,
    /// (arrival, to_server, from, bytes)
    in_flight: Vec<(Instant, bool, SocketAddr, Bytes)>,
    client_events: Vec<Event>,
    server_events: Vec<Event>,
    delivered: usize,
}

impl Pair {
    fn new(seed: u64, link: Link, style: InitiatorStyle) -> Pair {
        let now = Instant::now();
        let client_cfg = EndpointConfig {
            initiator_style: style,
            ..EndpointConfig::default()
        };
        let client = Endpoint::new(client_cfg, now, Box::new(StdRng::seed_from_u64(seed ^ 1)));
        let server = Endpoint::new(
            EndpointConfig::server(),
            now,
            Box::new(StdRng::seed_from_u64(seed ^ 2)),
        );
        Pair {
            now,
            client,
            server,
            link,
            rng: StdRng::seed_from_u64(seed),
            in_flight: Vec::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            delivered: 0,
        }
    }

    fn collect(&mut self) {
        let (c, s): (SocketAddr, SocketAddr) = (CLIENT.parse().unwrap(), SERVER.parse().unwrap());
        while let Some((to, d)) = self.client.poll_transmit() {
            assert_eq!(to, s);
            self.send(true, c, d);
        }
        while let Some((to, d)) = self.server.poll_transmit() {
            assert_eq!(to, c);
            self.send(false, s, d);
        }
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
    }

    fn send(&mut self, to_server: bool, from: SocketAddr, d: Bytes) {
        if self.rng.gen_bool(self.link.loss) {
            return;
        }
        let copies = if self.rng.gen_bool(self.link.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let jitter = self.link.jitter.mul_f64(self.rng.gen::<f64>());
            let at = self.now + self.link.delay + jitter;
            self.in_flight.push((at, to_server, from, d.clone()));
        }
    }

    /// Advance the virtual clock to the next arrival or timer and handle it.
    fn step(&mut self) -> bool {
        self.collect();
        let next_arrival = self.in_flight.iter().map(|x| x.0).min();
        let next_timer = [self.client.poll_timeout(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = [next_arrival, next_timer].into_iter().flatten().min() else {
            return false;
        };
        self.now = self.now.max(next);
        let now = self.now;
        let mut i = 0;
        while i < self.in_flight.len() {
            if self.in_flight[i].0 <= now {
                let (_, to_server, from, d) = self.in_flight.swap_remove(i);
                self.delivered += 1;
                let ep = if to_server {
                    &mut self.server
                } else {
                    &mut self.client
                };
                let _ = ep.handle_datagram(now, from, &d);
            } else {
                i += 1;
            }
        }
        self.client.handle_timeout(now);
        self.server.handle_timeout(now);
        self.collect();
        true
    }

    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Pair) -> bool) {
        let end = self.now + limit;
        while !done(self) {
            assert!(self.now < end, "timed out");
            assert!(self.step(), "nothing left to do");
        }
    }

    fn connect(&mut self) -> (SessionHandle, SessionHandle) {
        let now = self.now;
        let h = self
            .client
            .connect(
                now,
                SERVER.parse().unwrap(),
                Epd::for_uri("rtmfp://192.0.2.1/live"),
            )
            .unwrap();
        self.run_until(Duration::from_secs(30), |p| {
            p.client_events
                .iter()
                .any(|e| matches!(e, Event::SessionOpened { .. }))
                && p.server_events
                    .iter()
                    .any(|e| matches!(e, Event::SessionOpened { .. }))
        });
        let server_handle = self
            .server_events
            .iter()
            .find_map(|e| match e {
                Event::SessionOpened {
                    session, peer_id, ..
                } => Some((*session, *peer_id)),
                _ => None,
            })
            .unwrap();
        let client_peer = self
            .client_events
            .iter()
            .find_map(|e| match e {
                Event::SessionOpened { peer_id, .. } => Some(*peer_id),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            client_peer,
            self.server.peer_id(),
            "the client sees the server's peer ID"
        );
        let (cn, cf) = self.client.session_nonces(h).unwrap();
        let (sn, sf) = self.server.session_nonces(server_handle.0).unwrap();
        assert_eq!((cn, cf), (sf, sn), "nonces agree");
        (h, server_handle.0)
    }

    fn messages(events: &[Event]) -> Vec<Bytes> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Message { bytes, .. } => Some(bytes.clone()),
                _ => None,
            })
            .collect()
    }
}

fn clean() -> Link {
    Link {
        loss: 0.0,
        duplicate: 0.0,
        jitter: Duration::ZERO,
        delay: Duration::from_millis(20),
    }
}

fn lossy() -> Link {
    Link {
        loss: 0.05,
        duplicate: 0.02,
        jitter: Duration::from_millis(30),
        delay: Duration::from_millis(20),
    }
}

fn message(i: usize) -> Bytes {
    let len = 1 + (i * 797) % 5000;
    Bytes::from((0..len).map(|j| (i + j) as u8).collect::<Vec<u8>>())
}

fn exchange(seed: u64, link: Link, style: InitiatorStyle, count: usize) {
    let mut p = Pair::new(seed, link, style);
    let (c, s) = p.connect();
    let now = p.now;
    let meta = Bytes::from_static(b"TC\x04\x00");
    let cf = p.client.open_flow(c, meta.clone(), None, 5).unwrap();
    for i in 0..count {
        p.client
            .send(now, c, cf, message(i), Reliability::Reliable)
            .unwrap();
    }
    p.run_until(Duration::from_secs(120), |p| {
        Pair::messages(&p.server_events).len() == count
    });
    let (flow, md) = p
        .server_events
        .iter()
        .find_map(|e| match e {
            Event::FlowOpened { flow, metadata, .. } => Some((*flow, metadata.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(md, meta);
    assert_eq!(
        Pair::messages(&p.server_events),
        (0..count).map(message).collect::<Vec<_>>()
    );
    // The server answers on a return flow associated with the client's flow.
    let now = p.now;
    let sf = p.server.open_flow(s, meta.clone(), Some(flow), 5).unwrap();
    for i in 0..count {
        p.server
            .send(now, s, sf, message(i + 1000), Reliability::Reliable)
            .unwrap();
    }
    p.run_until(Duration::from_secs(120), |p| {
        Pair::messages(&p.client_events).len() == count
    });
    assert!(p.client_events.iter().any(|e| matches!(
        e,
        Event::FlowOpened { return_flow: Some(f), .. } if *f == cf
    )));
    assert_eq!(
        Pair::messages(&p.client_events),
        (0..count).map(|i| message(i + 1000)).collect::<Vec<_>>()
    );
    // Flow close: FIN reaches the server, the ack finishes the client's flow.
    let now = p.now;
    p.client.close_flow(now, c, cf).unwrap();
    p.run_until(Duration::from_secs(60), |p| {
        p.client_events.iter().any(|e| {
            matches!(
                e,
                Event::FlowClosed {
                    flow: FlowRef::Send {
                        exception: None,
                        ..
                    },
                    ..
                }
            )
        }) && p.server_events.iter().any(|e| {
            matches!(
                e,
                Event::FlowClosed {
                    flow: FlowRef::Recv(_),
                    ..
                }
            )
        })
    });
    assert!(p.client.session_rtt(c).unwrap().is_some());
    // Session close.
    let now = p.now;
    p.client.close(now, c).unwrap();
    p.run_until(Duration::from_secs(120), |p| {
        p.client_events.iter().any(|e| {
            matches!(
                e,
                Event::SessionClosed {
                    reason: CloseReason::Local,
                    ..
                }
            )
        }) && p.server_events.iter().any(|e| {
            matches!(
                e,
                Event::SessionClosed {
                    reason: CloseReason::Peer,
                    ..
                }
            )
        })
    });
}

#[test]
fn clean_link_static_style() {
    exchange(1, clean(), InitiatorStyle::Static, 20);
}

#[test]
fn clean_link_ephemeral_style() {
    exchange(2, clean(), InitiatorStyle::Ephemeral, 5);
}

#[test]
fn lossy_link() {
    for seed in 10..13 {
        exchange(seed, lossy(), InitiatorStyle::Static, 60);
    }
}

#[test]
fn partial_reliability_skips_abandoned_messages() {
    let mut p = Pair::new(
        7,
        Link {
            loss: 0.3,
            ..clean()
        },
        InitiatorStyle::Static,
    );
    let (c, _) = p.connect();
    let now = p.now;
    let cf = p
        .client
        .open_flow(c, Bytes::from_static(b"TC\x04\x01"), None, 4)
        .unwrap();
    for i in 0..40 {
        let r = if i % 2 == 0 {
            Reliability::Until(now + Duration::from_millis(50))
        } else {
            Reliability::Reliable
        };
        p.client.send(now, c, cf, message(i), r).unwrap();
    }
    // Every reliable message arrives, in order; abandoned ones may be missing.
    p.run_until(Duration::from_secs(300), |p| {
        Pair::messages(&p.server_events)
            .iter()
            .filter(|m| (0..40).step_by(2).all(|i| **m != message(i)))
            .count()
            == 20
    });
    let got = Pair::messages(&p.server_events);
    let positions: Vec<usize> = got
        .iter()
        .map(|m| (0..40).position(|i| message(i) == *m).unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "in order: {positions:?}"
    );
}

#[test]
fn startup_gives_up_without_a_server() {
    let now = Instant::now();
    let mut client = Endpoint::new(
        EndpointConfig::default(),
        now,
        Box::new(StdRng::seed_from_u64(3)),
    );
    let h = client
        .connect(now, SERVER.parse().unwrap(), Epd::for_uri("rtmfp://x/"))
        .unwrap();
    let mut sends = 0;
    let mut t = now;
    loop {
        while client.poll_transmit().is_some() {
            sends += 1;
        }
        if let Some(Event::SessionClosed { session, reason }) = client.poll_event() {
            assert_eq!(session, h);
            assert_eq!(reason, CloseReason::StartupTimeout);
            break;
        }
        t = client.poll_timeout().unwrap();
        client.handle_timeout(t);
    }
    assert_eq!(sends, 11);
    assert!(
        t - now > Duration::from_secs(60),
        "backs off: {:?}",
        t - now
    );
}

#[test]
fn idle_timeout_closes() {
    let mut p = Pair::new(4, clean(), InitiatorStyle::Static);
    let (c, _) = p.connect();
    // Cut the link: keepalive pings go unanswered.
    p.link.loss = 1.0;
    p.run_until(Duration::from_secs(200), |p| {
        p.client_events.iter().any(|e| matches!(e, Event::SessionClosed { session, reason: CloseReason::IdleTimeout } if *session == c))
    });
}
