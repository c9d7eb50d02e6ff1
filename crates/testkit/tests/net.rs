//! Ephemeral ports: free_port hands out bindable loopback ports and
//! wait_for_port sees listeners come and go.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use sluice_testkit::{free_port, wait_for_port};

#[test]
fn free_port_is_bindable_and_nonzero() {
    let port = free_port();
    assert_ne!(port, 0);
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("free port can be bound");
    assert_eq!(listener.local_addr().unwrap().port(), port);
}

#[test]
fn wait_for_port_sees_a_listener() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    assert!(wait_for_port(port, Duration::from_secs(5)));
}

#[test]
fn wait_for_port_times_out_on_a_closed_port() {
    let port = free_port();
    let start = Instant::now();
    assert!(!wait_for_port(port, Duration::from_millis(300)));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "returned early: {took:?}"
    );
    assert!(
        took < Duration::from_secs(3),
        "overshot the timeout: {took:?}"
    );
}
