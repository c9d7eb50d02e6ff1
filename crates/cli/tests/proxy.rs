//! The RTMP proxy protocol (seed 000: `F3`, size, IPv4, then the original C0) and HAProxy PROXY
//! v1/v2 against `sluice serve --trusted-proxy`: a raw TCP client plays the part of the proxy,
//! writes the header, then runs a normal RTMP session (the sans-IO `ClientSession`) on the same
//! socket. The server must log the announced client address for connect and play, and refuse
//! the header from a peer that is not trusted.

mod live_support;

use live_support::{wait_closed, RawClient, Sluice};
use sluice_testkit::{free_port, run, spawn, wait_for_port};
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// `sluice serve` on a free port with these `--trusted-proxy` entries and HTTP off.
fn serve_trusting(trusted: &[&str]) -> Sluice {
    for _ in 0..3 {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--http", "none", "--log", "info"]);
        for t in trusted {
            cmd.args(["--trusted-proxy", t]);
        }
        for (k, _) in std::env::vars() {
            if k.starts_with("SLUICE_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        cmd.env("NO_COLOR", "1");
        let mut guard = spawn(cmd);
        let deadline = Instant::now() + live_support::SERVER_START_TIMEOUT;
        while Instant::now() < deadline && guard.is_running() {
            if guard.log().contains("RTMP listening") && wait_for_port(port, Duration::from_secs(1))
            {
                return Sluice { guard, port };
            }
            thread::sleep(Duration::from_millis(20));
        }
        assert!(
            !guard.is_running(),
            "sluice did not listen within the start timeout; log:\n{}",
            guard.log()
        );
        eprintln!(
            "sluice exited at start (port clash?), retrying; log:\n{}",
            guard.log()
        );
    }
    panic!("sluice serve could not be started three times in a row");
}

// Log needles: the driver's lines read `connect conn=N peer=...` and `play conn=N peer=...`.

/// Connects as the proxy, sends `header`, then connects and plays `stream` as the client.
fn play_through_proxy(server: &Sluice, header: &[u8], stream: &str) {
    let addr = server.addr();
    let mut sock = TcpStream::connect(addr).expect("connect to sluice");
    sock.write_all(header).expect("write the proxy header");
    let mut client = RawClient::connect_over(sock, addr, |_| {});
    client.wait_connected();
    client.play(stream);
}

/// The seed's header layout with 203.0.113.7 (TEST-NET-3).
const F3_203_0_113_7: [u8; 7] = [0xF3, 0x00, 0x04, 0xCB, 0x00, 0x71, 0x07];

#[test]
fn f3_header_from_a_trusted_proxy_sets_the_client_address() {
    let server = serve_trusting(&["127.0.0.1"]);
    play_through_proxy(&server, &F3_203_0_113_7, "f3");
    let t = Duration::from_secs(5);
    server.wait_log(&[" connect conn=", "peer=203.0.113.7"], t);
    server.wait_log(&[" play conn=", "stream=f3", "peer=203.0.113.7"], t);
    // No line of this connection names the proxy's own address.
    assert_eq!(
        server.count_log(&["app=live", "peer=127.0.0.1"]),
        0,
        "{}",
        server.log()
    );
}

#[test]
fn f3_header_from_an_untrusted_peer_is_refused() {
    let server = serve_trusting(&["10.0.0.0/8"]);
    let mut sock = TcpStream::connect(server.addr()).expect("connect to sluice");
    let mut bytes = F3_203_0_113_7.to_vec();
    bytes.push(0x03);
    bytes.extend(std::iter::repeat_n(0u8, 1536));
    sock.write_all(&bytes).expect("write header and C0C1");
    let (closed, got) = wait_closed(&mut sock, Duration::from_secs(10));
    assert!(closed, "the connection stayed open");
    assert_eq!(got, 0, "the server answered an untrusted proxy header");
    let line = server.wait_log(&["proxy header refused"], Duration::from_secs(5));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("peer=127.0.0.1:"), "{line}");
    assert!(line.contains("0xF3"), "{line}");
    assert_eq!(server.count_log(&["203.0.113.7"]), 0, "{}", server.log());
    // Without a header the same peer is an ordinary client.
    let mut plain = RawClient::connect(server.addr(), |_| {});
    plain.wait_connected();
    server.wait_log(
        &[" connect conn=", "peer=127.0.0.1:"],
        Duration::from_secs(5),
    );
}

#[test]
fn proxy_v2_with_an_ipv6_source_from_a_trusted_proxy() {
    let server = serve_trusting(&["10.0.0.0/8", "127.0.0.0/8"]);
    // PROXY v2, command PROXY, AF_INET6/STREAM, 36 address bytes plus a NOOP TLV (type 4).
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x21, 0x00, 36 + 3]);
    h.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
    h.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    h.extend_from_slice(&40001u16.to_be_bytes());
    h.extend_from_slice(&1935u16.to_be_bytes());
    h.extend_from_slice(&[0x04, 0x00, 0x00]);
    play_through_proxy(&server, &h, "v2");
    let t = Duration::from_secs(5);
    server.wait_log(&[" connect conn=", "peer=[2001:db8::7]:40001"], t);
    server.wait_log(&[" play conn=", "stream=v2", "peer=[2001:db8::7]:40001"], t);
}

#[test]
fn proxy_v1_tcp4_from_a_trusted_proxy() {
    let server = serve_trusting(&["127.0.0.1"]);
    play_through_proxy(
        &server,
        b"PROXY TCP4 198.51.100.9 127.0.0.1 40002 1935\r\n",
        "v1",
    );
    let t = Duration::from_secs(5);
    server.wait_log(&[" connect conn=", "peer=198.51.100.9:40002"], t);
    server.wait_log(&[" play conn=", "stream=v1", "peer=198.51.100.9:40002"], t);
}

#[test]
fn malformed_header_from_a_trusted_proxy_closes_with_a_reason() {
    let server = serve_trusting(&["127.0.0.1"]);
    let mut sock = TcpStream::connect(server.addr()).expect("connect to sluice");
    sock.write_all(&[0xF3, 0x10, 0x00])
        .expect("write the header");
    let (closed, _) = wait_closed(&mut sock, Duration::from_secs(10));
    assert!(closed);
    let line = server.wait_log(&["exceeds the limit 1024"], Duration::from_secs(5));
    assert!(line.contains("peer=127.0.0.1:"), "{line}");
}

#[test]
fn invalid_trusted_proxy_entry_is_a_startup_error() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
    cmd.args(["serve", "--listen", &listen.to_string(), "--http", "none"])
        .args(["--trusted-proxy", "10.0.0.0/33"]);
    for (k, _) in std::env::vars() {
        if k.starts_with("SLUICE_") {
            cmd.env_remove(k);
        }
    }
    let out = run(cmd, Duration::from_secs(15));
    assert!(!out.status.success());
    assert!(out.log.contains("10.0.0.0/33"), "{}", out.log);
}
