//! The interop relay's application logic, shared by `tc_relay` (live and capture modes) and the
//! transcript replay test (`tests/replay.rs`, which includes this file by path): accept every
//! `connect`, `publish` and `play` (RFC 7425 §5.3), and relay each published stream to the
//! players of the same name, with the last `@setDataFrame` and the audio/video sequence headers
//! for players that join late.
//!
//! It takes no clock and no randomness of its own and walks only ordered maps, so given the same
//! endpoint calls at the same instants it makes the same calls back: what a capture recorded, a
//! replay reproduces byte for byte. What it did is returned as one note per line (the `ev` lines
//! of a transcript).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Instant;

use sluice_rtmfp::tc::{TcServer, TcServerConfig, TcServerEvent};
use sluice_rtmfp::{Endpoint, Event, SessionHandle};
use sluice_rtmp::command::ConnectResponse;
use sluice_rtmp::{MessageType, RawMessage};

#[derive(Default)]
struct Published {
    data: Option<RawMessage>,
    audio_header: Option<RawMessage>,
    video_header: Option<RawMessage>,
    players: Vec<(SessionHandle, u32)>,
}

/// The session an endpoint event is about.
pub fn session_of(e: &Event) -> SessionHandle {
    match e {
        Event::SessionOpened { session, .. }
        | Event::FlowOpened { session, .. }
        | Event::Message { session, .. }
        | Event::FlowClosed { session, .. }
        | Event::SessionClosed { session, .. } => *session,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The relay: one [`TcServer`] per session, published streams by name.
pub struct Relay {
    cfg: TcServerConfig,
    conns: BTreeMap<SessionHandle, TcServer>,
    streams: BTreeMap<String, Published>,
    // (session, stream id) -> name, for publishers and players.
    names: BTreeMap<(SessionHandle, u32), String>,
    /// Sessions that have closed so far.
    pub closed: usize,
}

impl Relay {
    /// A relay whose connections use `cfg`.
    pub fn new(cfg: TcServerConfig) -> Relay {
        Relay {
            cfg,
            conns: BTreeMap::new(),
            streams: BTreeMap::new(),
            names: BTreeMap::new(),
            closed: 0,
        }
    }

    /// Drain the endpoint's events and act on them at `now`; one note per thing that happened.
    pub fn handle_events(&mut self, ep: &mut Endpoint, now: Instant, notes: &mut Vec<String>) {
        while let Some(event) = ep.poll_event() {
            let s = session_of(&event);
            match &event {
                Event::SessionOpened { peer_id, addr, .. } => {
                    notes.push(format!(
                        "session {} opened from {addr} peer_id={}",
                        s.0,
                        hex(peer_id)
                    ));
                    self.conns.insert(s, TcServer::new(s, self.cfg.clone()));
                }
                Event::FlowOpened {
                    flow,
                    metadata,
                    return_flow,
                    ..
                } => notes.push(format!(
                    "session {} flow {} opened metadata={} return={:?}",
                    s.0,
                    flow.0,
                    hex(metadata),
                    return_flow.map(|f| f.0)
                )),
                Event::SessionClosed { reason, .. } => {
                    self.closed += 1;
                    notes.push(format!("session {} closed: {reason:?}", s.0));
                }
                _ => {}
            }
            let Some(tc) = self.conns.get_mut(&s) else {
                continue;
            };
            if let Err(e) = tc.handle_event(ep, now, &event) {
                notes.push(format!("session {}: {e}; closing", s.0));
                let _ = ep.close(now, s);
                continue;
            }
            let evs: Vec<TcServerEvent> = std::iter::from_fn(|| tc.poll_event()).collect();
            for ev in evs {
                self.on_tc_event(ep, now, s, ev, notes);
            }
            if matches!(event, Event::SessionClosed { .. }) {
                self.forget(s);
            }
        }
    }

    fn forget(&mut self, s: SessionHandle) {
        self.conns.remove(&s);
        self.names.retain(|(ns, _), _| *ns != s);
        for p in self.streams.values_mut() {
            p.players.retain(|(ps, _)| *ps != s);
        }
    }

    fn on_tc_event(
        &mut self,
        ep: &mut Endpoint,
        now: Instant,
        s: SessionHandle,
        ev: TcServerEvent,
        notes: &mut Vec<String>,
    ) {
        let Some(tc) = self.conns.get_mut(&s) else {
            return;
        };
        match ev {
            TcServerEvent::Connect(c) => {
                notes.push(format!(
                    "session {} connect app={} tcUrl={}",
                    s.0,
                    c.app,
                    c.tc_url.as_deref().unwrap_or("-")
                ));
                let _ = tc.accept_connect(ep, now, &ConnectResponse::default());
            }
            TcServerEvent::Publish {
                stream_id, name, ..
            } => {
                notes.push(format!("session {} publish {name} stream={stream_id}", s.0));
                let _ = tc.accept_publish(ep, now, stream_id, &name);
                self.names.insert((s, stream_id), name.clone());
                self.streams.entry(name).or_default();
            }
            TcServerEvent::Play { stream_id, args } => {
                notes.push(format!(
                    "session {} play {} stream={stream_id}",
                    s.0, args.name
                ));
                let _ = tc.accept_play(ep, now, stream_id, &args.name);
                let p = self.streams.entry(args.name.clone()).or_default();
                for m in [&p.data, &p.video_header, &p.audio_header]
                    .into_iter()
                    .flatten()
                {
                    let _ = tc.send_media(ep, now, stream_id, m);
                }
                p.players.push((s, stream_id));
                self.names.insert((s, stream_id), args.name);
            }
            TcServerEvent::Media(m) => {
                notes.push(format!(
                    "session {} media stream={} type={} ts={} len={}",
                    s.0,
                    m.stream_id,
                    m.type_id.0,
                    m.timestamp.value(),
                    m.payload.len()
                ));
                self.relay_media(ep, now, s, m);
            }
            other => notes.push(format!("session {} {other:?}", s.0)),
        }
    }

    fn relay_media(&mut self, ep: &mut Endpoint, now: Instant, s: SessionHandle, m: RawMessage) {
        let Some(name) = self.names.get(&(s, m.stream_id)) else {
            return;
        };
        let Some(p) = self.streams.get_mut(name) else {
            return;
        };
        match m.type_id {
            MessageType::DATA_AMF0 | MessageType::DATA_AMF3 => p.data = Some(m.clone()),
            MessageType::AUDIO if m.payload.get(1) == Some(&0) => p.audio_header = Some(m.clone()),
            MessageType::VIDEO if m.payload.get(1) == Some(&0) => p.video_header = Some(m.clone()),
            _ => {}
        }
        for &(ps, pid) in &p.players {
            if let Some(ptc) = self.conns.get_mut(&ps).filter(|_| ps != s) {
                let _ = ptc.send_media(ep, now, pid, &m);
            }
        }
    }
}
