//! Remote shared objects against a real `sluice serve`: two clients (the sans-IO client session
//! over TCP) use the same object; a change by one reaches the other, a message reaches both, a
//! removal is announced, and an object of another application is separate.

mod live_support;

use live_support::{RawClient, Sluice};
use sluice_amf::Amf0Value;
use sluice_rtmp::message::{SharedObjectEvent, SharedObjectMessage};
use sluice_rtmp::session::ClientEvent;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

fn so(name: &str, events: Vec<SharedObjectEvent>) -> SharedObjectMessage {
    SharedObjectMessage {
        name: name.into(),
        version: 0,
        persistent: false,
        flags: 0,
        events,
    }
}

fn send(c: &mut RawClient, m: SharedObjectMessage) {
    c.session.send_shared_object(&m, false).unwrap();
    c.flush();
}

/// Waits for a shared object message on `name` with an event matching `f`.
fn wait_so(
    c: &mut RawClient,
    what: &str,
    f: impl Fn(&SharedObjectEvent) -> bool,
) -> SharedObjectMessage {
    c.wait_for(what, T, |e| match e {
        ClientEvent::SharedObject { message, .. } if message.events.iter().any(&f) => {
            Some(message.clone())
        }
        _ => None,
    })
}

#[test]
fn two_clients_share_an_object() {
    let server = Sluice::start();
    let mut a = RawClient::connect(server.addr(), |_| {});
    a.wait_connected();
    let mut b = RawClient::connect(server.addr(), |_| {});
    b.wait_connected();

    send(&mut a, so("chat", vec![SharedObjectEvent::Use]));
    wait_so(&mut a, "UseSuccess for a", |e| {
        matches!(e, SharedObjectEvent::UseSuccess)
    });
    send(
        &mut a,
        so(
            "chat",
            vec![SharedObjectEvent::RequestChange {
                properties: vec![("topic".into(), Amf0Value::String("rtmp".into()))],
            }],
        ),
    );
    wait_so(
        &mut a,
        "Success for a",
        |e| matches!(e, SharedObjectEvent::Success { name } if name == "topic"),
    );

    // B joins and receives the current state.
    send(&mut b, so("chat", vec![SharedObjectEvent::Use]));
    let state = wait_so(&mut b, "initial state for b", |e| {
        matches!(e, SharedObjectEvent::Change { .. })
    });
    assert!(state.events.iter().any(|e| matches!(
        e,
        SharedObjectEvent::Change { properties } if properties == &vec![("topic".to_string(), Amf0Value::String("rtmp".into()))]
    )));

    // B's change reaches A.
    send(
        &mut b,
        so(
            "chat",
            vec![SharedObjectEvent::RequestChange {
                properties: vec![("count".into(), Amf0Value::Number(2.0))],
            }],
        ),
    );
    wait_so(
        &mut a,
        "Change of count for a",
        |e| matches!(e, SharedObjectEvent::Change { properties } if properties[0].0 == "count"),
    );

    // A message reaches both.
    send(
        &mut a,
        so(
            "chat",
            vec![SharedObjectEvent::SendMessage {
                values: vec![Amf0Value::String("hello".into())],
            }],
        ),
    );
    for c in [&mut a, &mut b] {
        wait_so(
            c,
            "SendMessage",
            |e| matches!(e, SharedObjectEvent::SendMessage { values } if values == &vec![Amf0Value::String("hello".into())]),
        );
    }

    // A removal is announced.
    send(
        &mut b,
        so(
            "chat",
            vec![SharedObjectEvent::RequestRemove {
                name: "topic".into(),
            }],
        ),
    );
    wait_so(
        &mut a,
        "Remove for a",
        |e| matches!(e, SharedObjectEvent::Remove { name } if name == "topic"),
    );

    // A request without Use is refused with an error status.
    let mut c = RawClient::connect(server.addr(), |_| {});
    c.wait_connected();
    send(
        &mut c,
        so(
            "chat",
            vec![SharedObjectEvent::SendMessage { values: vec![] }],
        ),
    );
    wait_so(
        &mut c,
        "error status",
        |e| matches!(e, SharedObjectEvent::Status { level, .. } if level == "error"),
    );
}
