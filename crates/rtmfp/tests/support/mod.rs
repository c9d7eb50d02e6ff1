//! The in-process pair harness shared by the pair tests: two sans-IO endpoints, a virtual clock
//! and a datagram link that can lose, duplicate and reorder (seeded, so every run is the same).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sluice_rtmfp::{Endpoint, EndpointConfig, Epd, Event, InitiatorStyle, SessionHandle};

pub const CLIENT: &str = "192.0.2.10:50000";
pub const SERVER: &str = "192.0.2.1:1935";

pub struct Link {
    pub loss: f64,
    pub duplicate: f64,
    /// Extra delay up to this, so datagrams reorder.
    pub jitter: Duration,
    pub delay: Duration,
}

pub struct Pair {
    pub now: Instant,
    pub client: Endpoint,
    pub server: Endpoint,
    pub link: Link,
    pub rng: StdRng,
    /// (arrival, to_server, from, bytes)
    pub in_flight: Vec<(Instant, bool, SocketAddr, Bytes)>,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    pub delivered: usize,
}

impl Pair {
    pub fn new(seed: u64, link: Link, style: InitiatorStyle) -> Pair {
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

    pub fn collect(&mut self) {
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

    pub fn send(&mut self, to_server: bool, from: SocketAddr, d: Bytes) {
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
    pub fn step(&mut self) -> bool {
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

    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Pair) -> bool) {
        let end = self.now + limit;
        while !done(self) {
            assert!(self.now < end, "timed out");
            assert!(self.step(), "nothing left to do");
        }
    }

    pub fn connect(&mut self) -> (SessionHandle, SessionHandle) {
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

    pub fn messages(events: &[Event]) -> Vec<Bytes> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Message { bytes, .. } => Some(bytes.clone()),
                _ => None,
            })
            .collect()
    }
}

pub fn clean() -> Link {
    Link {
        loss: 0.0,
        duplicate: 0.0,
        jitter: Duration::ZERO,
        delay: Duration::from_millis(20),
    }
}

pub fn lossy() -> Link {
    Link {
        loss: 0.05,
        duplicate: 0.02,
        jitter: Duration::from_millis(30),
        delay: Duration::from_millis(20),
    }
}
