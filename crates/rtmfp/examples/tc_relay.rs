//! A minimal RTMFP server over a blocking `std` UDP socket, for interop runs against other
//! implementations (docs/RTMFP.md): it accepts every `connect`, `publish` and `play`, and relays
//! each published stream to the players of the same name, with the last `@setDataFrame` and the
//! audio/video sequence headers for players that join late (`support/relay.rs`). It prints what
//! happens, one line per event. The product's server driver lives in `sluice-server`; this only
//! exercises the sans-IO core and the TC layer (RFC 7425 §5) on real sockets.
//!
//! `cargo run -p sluice-rtmfp --example tc_relay -- 127.0.0.1:1935`
//!
//! Capture mode writes a transcript (format in `support/transcript.rs`) that
//! `tests/replay.rs` replays in CI: the endpoint's rng is `StdRng::seed_from_u64(SEED)` and every
//! call into it is made at a time rounded to whole microseconds and recorded:
//!
//! `tc_relay 127.0.0.1:19350 --capture FILE [--seed SEED] [--sessions N] [--seconds S]
//! [--comment TEXT]…` — stops when `N` sessions have closed and none is open, or after `S`
//! seconds, then writes `FILE`. Without `--capture` the seed is random.

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use support::transcript::{Record, Recorder, Transcript};

struct Args {
    bind: String,
    capture: Option<String>,
    seed: Option<u64>,
    sessions: Option<usize>,
    seconds: Option<u64>,
    comments: Vec<String>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        bind: "127.0.0.1:1935".into(),
        capture: None,
        seed: None,
        sessions: None,
        seconds: None,
        comments: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|_| format!("{arg}: not a number"));
        match arg.as_str() {
            "--capture" => a.capture = Some(value()?),
            "--seed" => a.seed = Some(number(value()?)?),
            "--sessions" => a.sessions = Some(number(value()?)? as usize),
            "--seconds" => a.seconds = Some(number(value()?)?),
            "--comment" => a.comments.push(value()?),
            _ if !arg.starts_with("--") => a.bind = arg,
            _ => return Err(format!("unknown option {arg}")),
        }
    }
    Ok(a)
}

fn main() -> std::io::Result<()> {
    let a = args().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let socket = UdpSocket::bind(&a.bind)?;
    println!("listening on udp {}", socket.local_addr()?);
    let mut header = Transcript::new(a.seed.unwrap_or_else(rand::random));
    header.comments = a.comments;
    let epoch = Instant::now();
    let mut rec = Recorder::new(&header, epoch).expect("default presets");
    println!(
        "server peer id {}, seed {}",
        support::hex(&rec.ep.peer_id()),
        header.seed
    );
    let max_wait = Duration::from_secs(1);
    let mut buf = vec![0u8; 8192];
    let mut shown = 0;
    loop {
        let wait = rec
            .ep
            .poll_timeout()
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(max_wait)
            .clamp(Duration::from_millis(1), max_wait);
        socket.set_read_timeout(Some(wait))?;
        let got = match socket.recv_from(&mut buf) {
            Ok(r) => Some(r),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => return Err(e),
        };
        // The recorded clock: whole microseconds since the epoch, the same on replay.
        let t = epoch.elapsed().as_micros() as u64;
        if let Some((n, from)) = got {
            rec.datagram(t, from, &buf[..n]);
        }
        if rec.ep.poll_timeout().is_some_and(|d| d <= rec.at(t)) {
            rec.tick(t);
        }
        for r in &rec.records[shown..] {
            match r {
                Record::Out { to, bytes, .. } => {
                    socket.send_to(bytes, to)?;
                }
                Record::Ev { text, .. } => println!("{text}"),
                Record::Drop { error, .. } => println!("dropped datagram: {error}"),
                Record::In { .. } | Record::Tick { .. } => {}
            }
        }
        if a.capture.is_some() {
            shown = rec.records.len();
        } else {
            rec.records.clear();
        }
        let done = a
            .sessions
            .is_some_and(|n| rec.relay.closed >= n && rec.ep.session_count() == 0);
        if done || a.seconds.is_some_and(|s| epoch.elapsed().as_secs() >= s) {
            break;
        }
    }
    if let Some(path) = a.capture {
        header.records = rec.records;
        std::fs::write(&path, header.to_text())?;
        println!("wrote {} records to {path}", header.records.len());
    }
    Ok(())
}
