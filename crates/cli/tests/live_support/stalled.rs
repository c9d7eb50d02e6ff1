//! The stalled-player scenario, run with the default settings (live_robustness.rs) and with a
//! latency budget (latency_budget.rs): a player that plays, then never reads again, must be cut
//! off without holding up the publisher or another player.

use super::{ffmpeg, ffmpeg_play, fixture, publish, temp_dir, wait_exit, RawClient, Sluice};
use sluice_testkit::{ffprobe, FixtureOpts};
use std::time::{Duration, Instant};

/// Runs the scenario on a server started with `env` (on top of a small player queue bound and
/// a 2 s slow-player timeout).
pub fn stalled_player_scenario(env: &[(&str, &str)]) {
    // ~5.5 MB in 5 s: more than the kernel buffers (4 MiB send buffer at most) can absorb, so
    // the stalled player really stalls the server's writes.
    let opts = FixtureOpts {
        width: 1280,
        height: 720,
        video_kbps: 8000,
        ..FixtureOpts::default()
    };
    let input = fixture(opts.clone());
    let mut all = vec![
        ("SLUICE_HUB_PLAYER_QUEUE_MAX_BYTES", "262144"),
        ("SLUICE_HUB_SLOW_PLAYER_TIMEOUT_SECS", "2"),
    ];
    all.extend_from_slice(env);
    let server = Sluice::start_with_env(&all);
    let dir = temp_dir();
    let out = dir.path().join("normal.flv");

    // A player with a tiny receive buffer that plays, then never reads again.
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    sock.connect_timeout(&server.addr().into(), Duration::from_secs(5))
        .expect("connect");
    let mut stalled = RawClient::connect_over(sock.into(), server.addr(), |c| c.buffer_ms = 100);
    stalled.wait_connected();
    stalled.play("busy");
    let stalled_local = stalled.stream.local_addr().expect("local address");

    let started = Instant::now();
    let mut publisher = publish(&input, &server.url("busy"));
    server.wait_log(&["publish", "stream=busy"], Duration::from_secs(10));
    let idle = Duration::from_secs(5);
    let mut player = ffmpeg_play(&ffmpeg(), &server.url("busy"), &out, idle, &[]);

    // Coarse bound: catches a publisher blocked behind the stalled player, not a benchmark.
    let budget = opts.duration * 2 + Duration::from_secs(5);
    wait_exit(&mut publisher, budget);
    let took = started.elapsed();
    assert!(
        took <= budget,
        "publisher took {took:?} for {:?} of media",
        opts.duration
    );
    assert!(
        publisher.try_wait().is_some_and(|s| s.success()),
        "publisher failed: {}",
        publisher.log()
    );
    player.wait_success(Duration::from_secs(20));
    assert_normal_player_got(&out, opts.expected_video_frames() * 4 / 5);
    assert_cut_off(&server, "close", stalled_local);
    drop(stalled);
}

/// The normal player's recording `out` holds at least `min` video frames.
pub fn assert_normal_player_got(out: &std::path::Path, min: u64) {
    let p = ffprobe(out.to_str().expect("UTF-8 path"));
    let frames = p.video().and_then(|v| v.nb_read_frames).unwrap_or(0);
    assert!(
        frames >= min,
        "the normal player got {frames} frames: {p:?}"
    );
}

/// The stalled player at `local` is cut off (write stalled or too slow), with a log line
/// holding `close_word`.
pub fn assert_cut_off(server: &Sluice, close_word: &str, local: std::net::SocketAddr) {
    let line = server.wait_log(
        &[close_word, &format!("peer={local}")],
        Duration::from_secs(20),
    );
    eprintln!("stalled player: {line}");
    assert!(
        line.contains("write stalled") || line.contains("too slow"),
        "unexpected close of the stalled player: {line}"
    );
}
