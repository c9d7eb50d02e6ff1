//! A minimal RTMFP player over a blocking `std` UDP socket, for interop runs against other
//! servers (docs/RTMFP.md): it opens a session to the server, connects with [`TcClient`],
//! creates a stream, plays a name and prints each status and a line per media message until
//! the time limit, then a count. The product's client is `sluice play rtmfp://…`; this only
//! exercises the sans-IO core and the TC layer (RFC 7425 §5) on real sockets.
//!
//! `cargo run -p sluice-rtmfp --example tc_play -- 127.0.0.1:1935 rtmfp://127.0.0.1/live cam 10`

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sluice_rtmfp::tc::{TcClient, TcClientEvent};
use sluice_rtmp::command::PlayArgs;
use sluice_rtmp::MessageType;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: tc_play server-addr rtmfp-url stream-name [seconds]");
        std::process::exit(2);
    }
    let server: SocketAddr = args[1].parse().expect("server address ip:port");
    let url = &args[2];
    let name = &args[3];
    let secs: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(10);
    let start = Instant::now();
    let (socket, mut ep, session) = support::open_client(server, url)?;
    let mut tc: Option<TcClient> = None;
    let (mut audio, mut video, mut data) = (0u32, 0u32, 0u32);
    let mut buf = vec![0u8; 8192];
    while start.elapsed() < Duration::from_secs(secs) {
        let now = support::turn(&socket, &mut ep, &mut buf, Duration::from_millis(100))?;
        while let Some(event) = ep.poll_event() {
            let evs = support::client_events(&mut ep, now, session, url, &mut tc, &event);
            let Some(c) = tc.as_mut() else { continue };
            for ev in evs {
                match ev {
                    TcClientEvent::StreamCreated { stream_id, .. } => {
                        println!("stream {stream_id} created; play {name}");
                        let args = PlayArgs {
                            name: name.clone(),
                            start: -2.0,
                            duration: -1.0,
                            reset: true,
                        };
                        c.play(&mut ep, now, stream_id, args).expect("play");
                    }
                    TcClientEvent::Status { stream_id, info } => {
                        println!(
                            "status stream {stream_id}: {} {}",
                            info.code, info.description
                        )
                    }
                    TcClientEvent::Media(m) => {
                        match m.type_id {
                            MessageType::AUDIO => audio += 1,
                            MessageType::VIDEO => video += 1,
                            _ => data += 1,
                        }
                        if audio + video + data <= 5 {
                            println!(
                                "media type {} ts {} len {}",
                                m.type_id.0,
                                m.timestamp.value(),
                                m.payload.len()
                            );
                        }
                    }
                    other => println!("{other:?}"),
                }
            }
        }
        support::flush(&socket, &mut ep)?;
    }
    println!("received audio {audio} video {video} data {data}");
    Ok(())
}
