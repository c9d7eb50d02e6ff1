//! Over-limit and malformed input gives a typed error and never panics.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use sluice_rtmfp::chunk::Chunk;
use sluice_rtmfp::crypto::PacketCrypto;
use sluice_rtmfp::packet::{self, Header, Mode};
use sluice_rtmfp::{
    CloseReason, Endpoint, EndpointConfig, Epd, Event, HandshakeError, PacketError, PeerError,
    ProtocolError, Reliability,
};

const SERVER: &str = "192.0.2.1:1935";

fn server(cfg: EndpointConfig, now: Instant) -> Endpoint {
    Endpoint::new(cfg, now, Box::new(StdRng::seed_from_u64(99)))
}

fn startup_datagram(chunk: Chunk) -> Vec<u8> {
    let h = Header {
        mode: Mode::Startup,
        time_critical: false,
        time_critical_reverse: false,
        timestamp: Some(0),
        timestamp_echo: None,
    };
    PacketCrypto::startup().seal(0, &packet::encode(&h, &[chunk]).unwrap())
}

/// Pump both ways without loss; returns the server's errors.
fn pump(
    now: &mut Instant,
    a: &mut Endpoint,
    a_addr: SocketAddr,
    s: &mut Endpoint,
) -> Vec<PeerError> {
    let mut errors = Vec::new();
    for _ in 0..50 {
        let mut moved = false;
        while let Some((_, d)) = a.poll_transmit() {
            moved = true;
            if let Err(e) = s.handle_datagram(*now, a_addr, &d) {
                errors.push(e);
            }
        }
        while let Some((to, d)) = s.poll_transmit() {
            moved = true;
            if to == a_addr {
                let _ = a.handle_datagram(*now, SERVER.parse().unwrap(), &d);
            }
        }
        if !moved {
            *now += Duration::from_millis(250);
            a.handle_timeout(*now);
            s.handle_timeout(*now);
        }
    }
    errors
}

#[test]
fn oversized_and_short_datagrams() {
    let now = Instant::now();
    let mut s = server(EndpointConfig::server(), now);
    let from: SocketAddr = "192.0.2.9:1".parse().unwrap();
    assert_eq!(
        s.handle_datagram(now, from, &vec![0; 9000]),
        Err(PeerError::Packet(PacketError::TooLong {
            len: 9000,
            max: 8192
        }))
    );
    assert_eq!(
        s.handle_datagram(now, from, &[1, 2, 3]),
        Err(PeerError::Packet(PacketError::TooShort { len: 3 }))
    );
    assert!(matches!(
        s.handle_datagram(now, from, &[7; 20]),
        Err(PeerError::Packet(PacketError::UnknownSession { .. }))
    ));
}

#[test]
fn forged_cookie_and_foreign_epd() {
    let now = Instant::now();
    let mut s = server(EndpointConfig::server(), now);
    let from: SocketAddr = "192.0.2.9:1".parse().unwrap();
    let d = startup_datagram(Chunk::IIKeying {
        session_id: 5,
        cookie: Bytes::from(vec![0xaa; 64]),
        certificate: Bytes::new(),
        skic: Bytes::new(),
        signature: Bytes::from_static(b"X"),
    });
    assert_eq!(
        s.handle_datagram(now, from, &d),
        Err(PeerError::Handshake(HandshakeError::BadCookie))
    );
    let d = startup_datagram(Chunk::IHello {
        epd: Bytes::from(Epd::for_peer([1; 32]).encode()),
        tag: Bytes::from(vec![0; 16]),
    });
    assert_eq!(
        s.handle_datagram(now, from, &d),
        Err(PeerError::Handshake(HandshakeError::NotForUs))
    );
    assert!(s.poll_transmit().is_none(), "nothing answered");
}

#[test]
fn sessions_per_address() {
    let mut now = Instant::now();
    let cfg = EndpointConfig {
        limits: sluice_rtmfp::Limits {
            max_sessions_per_address: 1,
            ..Default::default()
        },
        ..EndpointConfig::server()
    };
    let mut s = server(cfg, now);
    for (i, port) in [5000u16, 5001].into_iter().enumerate() {
        let mut c = Endpoint::new(
            EndpointConfig::default(),
            now,
            Box::new(StdRng::seed_from_u64(i as u64)),
        );
        c.connect(now, SERVER.parse().unwrap(), Epd::for_uri("rtmfp://x/"))
            .unwrap();
        let addr: SocketAddr = format!("192.0.2.50:{port}").parse().unwrap();
        let errors = pump(&mut now, &mut c, addr, &mut s);
        if i == 0 {
            assert!(errors.is_empty(), "{errors:?}");
        } else {
            assert!(errors.contains(&PeerError::Handshake(
                HandshakeError::TooManySessionsFromAddress { max: 1 }
            )));
        }
    }
    assert_eq!(s.session_count(), 1);
}

#[test]
fn flows_per_session() {
    let mut now = Instant::now();
    let cfg = EndpointConfig {
        limits: sluice_rtmfp::Limits {
            max_flows_per_session: 1,
            ..Default::default()
        },
        ..EndpointConfig::server()
    };
    let mut s = server(cfg, now);
    let mut c = Endpoint::new(
        EndpointConfig::default(),
        now,
        Box::new(StdRng::seed_from_u64(5)),
    );
    let h = c
        .connect(now, SERVER.parse().unwrap(), Epd::for_uri("rtmfp://x/"))
        .unwrap();
    let addr: SocketAddr = "192.0.2.51:5000".parse().unwrap();
    pump(&mut now, &mut c, addr, &mut s);
    for _ in 0..2 {
        let f = c
            .open_flow(h, Bytes::from_static(b"TC\x04\x00"), None, 5)
            .unwrap();
        c.send(
            now,
            h,
            f,
            Bytes::from_static(b"hello"),
            Reliability::Reliable,
        )
        .unwrap();
    }
    let errors = pump(&mut now, &mut c, addr, &mut s);
    assert!(
        errors.contains(&PeerError::Protocol(ProtocolError::TooManyFlows { max: 1 })),
        "{errors:?}"
    );
    let mut closed = false;
    while let Some(e) = s.poll_event() {
        if let Event::SessionClosed {
            reason: CloseReason::ProtocolViolation(ProtocolError::TooManyFlows { .. }),
            ..
        } = e
        {
            closed = true;
        }
    }
    assert!(closed);
    // The client is told with a Close Request.
    let mut peer_closed = false;
    while let Some(e) = c.poll_event() {
        peer_closed |= matches!(
            e,
            Event::SessionClosed {
                reason: CloseReason::Peer,
                ..
            }
        );
    }
    assert!(peer_closed);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_datagrams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let now = Instant::now();
        let mut s = server(EndpointConfig::server(), now);
        let from: SocketAddr = "192.0.2.9:1".parse().unwrap();
        let _ = s.handle_datagram(now, from, &bytes);
        s.handle_timeout(now + Duration::from_secs(5));
    }

    #[test]
    fn random_startup_plaintexts_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600)) {
        // Valid framing under the default key, random packet inside: reaches the chunk parsers.
        let now = Instant::now();
        let mut s = server(EndpointConfig::server(), now);
        let from: SocketAddr = "192.0.2.9:1".parse().unwrap();
        let mut plain = vec![0x0b, 0, 0];
        plain.extend_from_slice(&body);
        let d = PacketCrypto::startup().seal(0, &plain);
        let _ = s.handle_datagram(now, from, &d);
        let _ = s.poll_transmit();
    }
}
