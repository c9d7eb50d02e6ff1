//! An in-process client/server pair over the sans-IO endpoints (harness in support/).

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::SeedableRng;
use sluice_rtmfp::{
    CloseReason, Endpoint, EndpointConfig, Epd, Event, FlowRef, InitiatorStyle, Reliability,
};
use support::{clean, lossy, Link, Pair, SERVER};

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
