//! A minimal RTMFP server over a blocking `std` UDP socket, for interop runs against other
//! implementations (docs/RTMFP.md): it accepts every `connect`, `publish` and `play`, and relays
//! each published stream to the players of the same name, with the last `@setDataFrame` and the
//! audio/video sequence headers for players that join late. It prints what happens, one line per
//! event. The product's server driver lives in `sluice-server`; this only exercises the sans-IO
//! core and the TC layer (RFC 7425 §5) on real sockets.
//!
//! `cargo run -p sluice-rtmfp --example tc_relay -- 127.0.0.1:1935`

mod support;

use std::collections::HashMap;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use sluice_rtmfp::tc::{TcServer, TcServerConfig, TcServerEvent};
use sluice_rtmfp::{Endpoint, EndpointConfig, Event, SessionHandle};
use sluice_rtmp::command::ConnectResponse;
use sluice_rtmp::{MessageType, RawMessage};

#[derive(Default)]
struct Published {
    data: Option<RawMessage>,
    audio_header: Option<RawMessage>,
    video_header: Option<RawMessage>,
    players: Vec<(SessionHandle, u32)>,
}

fn session_of(e: &Event) -> SessionHandle {
    match e {
        Event::SessionOpened { session, .. }
        | Event::FlowOpened { session, .. }
        | Event::Message { session, .. }
        | Event::FlowClosed { session, .. }
        | Event::SessionClosed { session, .. } => *session,
    }
}

fn main() -> std::io::Result<()> {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:1935".into());
    let socket = UdpSocket::bind(&bind)?;
    println!("listening on udp {}", socket.local_addr()?);
    let mut ep = Endpoint::new(
        EndpointConfig::server(),
        Instant::now(),
        Box::new(StdRng::from_entropy()),
    );
    println!("server peer id {}", support::hex(&ep.peer_id()));
    let mut conns: HashMap<SessionHandle, TcServer> = HashMap::new();
    let mut streams: HashMap<String, Published> = HashMap::new();
    // (session, stream id) -> name, for publishers and players.
    let mut names: HashMap<(SessionHandle, u32), String> = HashMap::new();
    let mut buf = vec![0u8; 8192];
    loop {
        let now = support::turn(&socket, &mut ep, &mut buf, Duration::from_secs(1))?;
        while let Some(event) = ep.poll_event() {
            let s = session_of(&event);
            match &event {
                Event::SessionOpened { peer_id, addr, .. } => {
                    println!(
                        "session {s:?} opened from {addr}, peer id {}",
                        support::hex(peer_id)
                    );
                    conns.insert(s, TcServer::new(s, TcServerConfig::default()));
                }
                Event::FlowOpened {
                    flow,
                    metadata,
                    return_flow,
                    ..
                } => {
                    println!("session {s:?} flow {flow:?} opened, metadata {}, return of {return_flow:?}", support::hex(metadata));
                }
                Event::SessionClosed { reason, .. } => println!("session {s:?} closed: {reason:?}"),
                _ => {}
            }
            let Some(tc) = conns.get_mut(&s) else {
                continue;
            };
            if let Err(e) = tc.handle_event(&mut ep, now, &event) {
                println!("session {s:?}: {e}; closing");
                let _ = ep.close(now, s);
                continue;
            }
            let evs: Vec<TcServerEvent> = std::iter::from_fn(|| tc.poll_event()).collect();
            for ev in evs {
                let Some(tc) = conns.get_mut(&s) else { break };
                match ev {
                    TcServerEvent::Connect(c) => {
                        println!("session {s:?} connect app={} tcUrl={:?}", c.app, c.tc_url);
                        let _ = tc.accept_connect(&mut ep, now, &ConnectResponse::default());
                    }
                    TcServerEvent::Publish {
                        stream_id, name, ..
                    } => {
                        println!("session {s:?} publish {name} on stream {stream_id}");
                        let _ = tc.accept_publish(&mut ep, now, stream_id, &name);
                        names.insert((s, stream_id), name.clone());
                        streams.entry(name).or_default();
                    }
                    TcServerEvent::Play { stream_id, args } => {
                        println!("session {s:?} play {} on stream {stream_id}", args.name);
                        let _ = tc.accept_play(&mut ep, now, stream_id, &args.name);
                        let p = streams.entry(args.name.clone()).or_default();
                        for m in [&p.data, &p.video_header, &p.audio_header]
                            .into_iter()
                            .flatten()
                        {
                            let _ = tc.send_media(&mut ep, now, stream_id, m);
                        }
                        p.players.push((s, stream_id));
                        names.insert((s, stream_id), args.name);
                    }
                    TcServerEvent::Media(m) => {
                        let Some(name) = names.get(&(s, m.stream_id)) else {
                            continue;
                        };
                        let Some(p) = streams.get_mut(name) else {
                            continue;
                        };
                        match m.type_id {
                            MessageType::DATA_AMF0 | MessageType::DATA_AMF3 => {
                                p.data = Some(m.clone())
                            }
                            MessageType::AUDIO if m.payload.get(1) == Some(&0) => {
                                p.audio_header = Some(m.clone())
                            }
                            MessageType::VIDEO if m.payload.get(1) == Some(&0) => {
                                p.video_header = Some(m.clone())
                            }
                            _ => {}
                        }
                        for (ps, pid) in p.players.clone() {
                            if let Some(ptc) = conns.get_mut(&ps).filter(|_| ps != s) {
                                let _ = ptc.send_media(&mut ep, now, pid, &m);
                            }
                        }
                    }
                    other => println!("session {s:?} {other:?}"),
                }
            }
        }
        support::flush(&socket, &mut ep)?;
    }
}
