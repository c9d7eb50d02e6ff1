//! Robustness tests for the live server (issue 3): a player that stops reading must not hold
//! up the publisher or other players (house style, fan-out: bounded per-player queues); hostile
//! or broken input (RTMP 1.0 §5.2 handshake, §5.3 chunk stream, §5.4.1 Set Chunk Size) closes
//! only the offending connection, with a log line, and the server keeps serving; the handshake
//! timeout; a clean shutdown on SIGTERM that tells players the stream ended; and an AMF3
//! (objectEncoding 3, §7.2.1.1) client.
//!
//! Raw peers use the sans-IO `ClientSession` over a blocking socket, or plain bytes for input no
//! real client would send.

mod live_support;

use live_support::{
    collect, ffmpeg, ffmpeg_play, fixture, publish, temp_dir, wait_closed, wait_exit, RawClient,
    Sluice,
};
use sluice_rtmp::command::codes;
use sluice_testkit::{ffprobe, FixtureOpts, Signal};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// How long the server may take to close a connection that broke a rule.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a player may hear nothing before it treats the stream as over.
const PLAYER_IDLE: Duration = Duration::from_secs(5);

/// The close log line of the connection from `client`'s local address.
fn close_line(server: &Sluice, client: &TcpStream) -> String {
    let local = client.local_addr().expect("local address");
    server.wait_log(&["close", &format!("peer={local}")], CLOSE_TIMEOUT)
}

/// Connects and completes a simple-form handshake (RTMP 1.0 §5.2.2-§5.2.4: C0 version 3, C1
/// with a zero version field, C2 echoing S1).
fn handshaken(server: &Sluice) -> TcpStream {
    let mut s = TcpStream::connect(server.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut c0c1 = vec![3u8];
    c0c1.extend_from_slice(&[0; 8]);
    c0c1.extend((0..1528u32).map(|i| (i * 7 + 1) as u8));
    s.write_all(&c0c1).expect("write C0+C1");
    let mut s0s1s2 = vec![0u8; 1 + 1536 * 2];
    s.read_exact(&mut s0s1s2).expect("read S0+S1+S2");
    assert_eq!(s0s1s2[0], 3, "S0 version");
    s.write_all(&s0s1s2[1..1537]).expect("write C2");
    s
}

/// Sends `bytes` after a handshake and expects the server to close the connection with a
/// protocol-error log line mentioning `reason`.
fn expect_protocol_close(server: &Sluice, what: &str, bytes: &[u8], reason: &str) {
    let mut s = handshaken(server);
    // The server may close while we write; that is the point.
    let _ = s.write_all(bytes);
    let (closed, _) = wait_closed(&mut s, CLOSE_TIMEOUT);
    assert!(
        closed,
        "{what}: connection still open after {CLOSE_TIMEOUT:?}"
    );
    let line = close_line(server, &s);
    eprintln!("{what}: {line}");
    assert!(
        line.contains("protocol error") && line.contains(reason),
        "{what}: unexpected close line: {line}"
    );
}

/// A type 0 chunk header (§5.3.1) for chunk stream `csid` (2..=319).
fn fmt0_header(csid: u32, len: u32, type_id: u8) -> Vec<u8> {
    let mut h = Vec::new();
    if csid < 64 {
        h.push(csid as u8);
    } else {
        h.push(0);
        h.push((csid - 64) as u8);
    }
    h.extend_from_slice(&[0, 0, 0]); // timestamp
    h.extend_from_slice(&len.to_be_bytes()[1..]);
    h.push(type_id);
    h.extend_from_slice(&[0, 0, 0, 0]); // message stream id
    h
}

/// ffmpeg publishes a short fixture and ffmpeg plays it: the server still serves.
fn assert_still_serving(server: &Sluice, stream: &str) {
    let opts = FixtureOpts::default().with_duration(Duration::from_secs(3));
    let input = fixture(opts.clone());
    let dir = temp_dir();
    let out = dir.path().join("after.flv");
    let mut publisher = publish(&input, &server.url(stream));
    server.wait_log(
        &["publish", &format!("stream={stream}")],
        Duration::from_secs(10),
    );
    let mut player = ffmpeg_play(&ffmpeg(), &server.url(stream), &out, PLAYER_IDLE, &[]);
    publisher.wait_success(Duration::from_secs(20));
    player.wait_success(Duration::from_secs(20));
    let p = ffprobe(out.to_str().expect("UTF-8 path"));
    let frames = p.video().and_then(|v| v.nb_read_frames).unwrap_or(0);
    assert!(
        frames >= opts.expected_video_frames() * 4 / 5,
        "{frames} frames after the bad input: {p:?}"
    );
}

#[test]
fn stalled_player_does_not_delay_the_publisher_or_other_players() {
    live_support::stalled_player_scenario(&[]);
}

#[test]
fn bad_input_closes_only_that_connection() {
    let server = Sluice::start();

    // Not RTMP at all: an HTTP request where C0 should be.
    {
        let mut s = TcpStream::connect(server.addr()).expect("connect");
        let mut junk = b"GET / HTTP/1.1\r\nHost: sluice\r\n\r\n".to_vec();
        junk.extend(std::iter::repeat_n(0xAB, 2000));
        let _ = s.write_all(&junk);
        let (closed, _) = wait_closed(&mut s, CLOSE_TIMEOUT);
        assert!(closed, "garbage: connection still open");
        let line = close_line(&server, &s);
        assert!(
            line.contains("protocol error") && line.contains("handshake"),
            "garbage: {line}"
        );
    }

    // A handshake cut short: C0 and part of C1, then the client's end closes.
    {
        let mut s = TcpStream::connect(server.addr()).expect("connect");
        let mut part = vec![3u8];
        part.extend(std::iter::repeat_n(0u8, 700));
        s.write_all(&part).expect("write");
        s.shutdown(Shutdown::Write).expect("shutdown");
        let (closed, got) = wait_closed(&mut s, CLOSE_TIMEOUT);
        assert!(closed, "truncated handshake: connection still open");
        assert_eq!(got, 0, "the server answered an incomplete C1");
        close_line(&server, &s);
    }

    // Set Chunk Size with bit 31 set (§5.4.1: it must be zero).
    let mut scs = fmt0_header(2, 4, 1);
    scs.extend_from_slice(&0xFFFF_FFFFu32.to_be_bytes());
    expect_protocol_close(&server, "Set Chunk Size 0xFFFFFFFF", &scs, "chunk");

    // A message declaring 16 MiB - 1 (above the 8 MiB default limit).
    let mut huge = fmt0_header(3, 0xFF_FFFF, 0x14);
    huge.extend(std::iter::repeat_n(0u8, 128));
    expect_protocol_close(&server, "16 MiB message", &huge, "chunk");

    // A flood of chunk streams, each with a message left incomplete (limit: 64 per connection).
    let mut flood = Vec::new();
    for csid in 3..=200 {
        flood.extend(fmt0_header(csid, 1000, 0x14));
        flood.extend(std::iter::repeat_n(0u8, 128));
    }
    expect_protocol_close(&server, "chunk stream flood", &flood, "chunk");

    assert_still_serving(&server, "after-bad-input");
}

#[test]
fn silent_and_stuck_handshakes_time_out() {
    let server = Sluice::start_with_env(&[("SLUICE_SERVER_HANDSHAKE_TIMEOUT_SECS", "1")]);
    let started = Instant::now();
    // Connects and sends nothing.
    let mut silent = TcpStream::connect(server.addr()).expect("connect");
    // Sends C0 and half of C1, then waits.
    let mut stuck = TcpStream::connect(server.addr()).expect("connect");
    let mut part = vec![3u8];
    part.extend(std::iter::repeat_n(0u8, 700));
    stuck.write_all(&part).expect("write");
    // Completes the handshake but never sends connect.
    let mut mute = handshaken(&server);

    for (what, s) in [
        ("silent", &mut silent),
        ("stuck", &mut stuck),
        ("no connect", &mut mute),
    ] {
        let (closed, _) = wait_closed(s, CLOSE_TIMEOUT);
        assert!(closed, "{what}: still open after {:?}", started.elapsed());
        let line = close_line(&server, s);
        // Before the first byte the listener's (PROXY header) timer fires; after it the
        // connection driver's handshake timer does.
        assert!(
            line.contains("handshake/connect not completed in time")
                || line.contains("closed before the RTMP handshake"),
            "{what}: {line}"
        );
    }
    eprintln!("all three closed after {:?}", started.elapsed());
    assert_still_serving(&server, "after-timeouts");
}

#[test]
fn sigterm_tells_players_and_exits_cleanly() {
    let opts = FixtureOpts::default().with_duration(Duration::from_secs(8));
    let input = fixture(opts);
    let mut server = Sluice::start();
    let mut publisher = publish(&input, &server.url("bye"));
    server.wait_log(&["publish", "stream=bye"], Duration::from_secs(10));

    let mut player = RawClient::connect(server.addr(), |_| {});
    player.wait_connected();
    player.play("bye");
    let got = collect(&mut player, Duration::from_secs(10), |c| {
        c.video_frames().count() >= 10
    });
    assert!(got.video_frames().count() >= 10, "no media before shutdown");

    server.guard.signal_group(Signal::SIGTERM);
    let signalled = Instant::now();
    let after = collect(&mut player, Duration::from_secs(8), |c| {
        c.has_status(codes::PLAY_UNPUBLISH_NOTIFY)
    });
    assert!(
        after.has_status(codes::PLAY_UNPUBLISH_NOTIFY),
        "no UnpublishNotify after SIGTERM: statuses {:?}, closed {}",
        after.statuses,
        after.closed
    );
    let status = wait_exit(&mut server.guard, Duration::from_secs(10));
    assert!(
        status.success(),
        "server exited with {status}; log:\n{}",
        server.log()
    );
    eprintln!("server stopped {:?} after SIGTERM", signalled.elapsed());
    assert!(server.log().contains("shutting down"), "{}", server.log());
    // Every connection's task saw the shutdown (none was left to the 5 s abort).
    assert!(
        !server.log().contains("did not close within"),
        "{}",
        server.log()
    );
    // The publisher loses its server; it must not hang.
    wait_exit(&mut publisher, Duration::from_secs(15));
    let rest = collect(&mut player, Duration::from_secs(5), |_| false);
    assert!(rest.closed, "the player's connection was not closed");
}

#[test]
fn amf3_client_connects_and_plays() {
    let server = Sluice::start();
    let mut client = RawClient::connect(server.addr(), |c| c.connect.object_encoding = 3.0);
    let resp = client.wait_connected();
    assert_eq!(resp.object_encoding, 3.0, "{resp:?}");
    // The connection stays usable: a play of a stream nobody publishes yet is accepted.
    client.play("amf3");
    server.wait_log(&["connect", "object_encoding=3"], Duration::from_secs(5));
    server.wait_log(&["play", "stream=amf3"], Duration::from_secs(5));
}
