//! RTMP over RTMFP (RFC 7425 §5) end to end over the sans-IO cores: a client written against the
//! raw endpoint API publishes on one NetStream and plays it back on another through a
//! [`TcServer`], on a clean link and on a lossy, duplicating, reordering one (virtual clock).

mod support;

use std::time::Duration;

use bytes::Bytes;
use sluice_amf::{Amf0Value, AmfLimits};
use sluice_rtmfp::tc::{
    TcMessage, TcMetadata, TcServer, TcServerConfig, TcServerEvent, TcUserControl,
};
use sluice_rtmfp::{Event, InitiatorStyle, RecvFlowId, Reliability, SendFlowId, SessionHandle};
use sluice_rtmp::command::{
    codes, Command, CommandMessage, ConnectCommand, ConnectResponse, StatusInfo,
};
use sluice_rtmp::{MessageType, RawMessage};
use support::{clean, lossy, Link, Pair};

struct Harness {
    p: Pair,
    tc: TcServer,
    client: SessionHandle,
    seen_server: usize,
    seen_client: usize,
    server_log: Vec<TcServerEvent>,
    /// Client side: (flow, metadata, return flow) of flows the server opened.
    client_flows: Vec<(RecvFlowId, TcMetadata, Option<SendFlowId>)>,
    /// Client side: every TC message, with its flow.
    client_msgs: Vec<(RecvFlowId, TcMessage)>,
}

impl Harness {
    fn new(seed: u64, link: Link) -> Harness {
        Harness::with_config(seed, link, TcServerConfig::default())
    }

    fn with_config(seed: u64, link: Link, cfg: TcServerConfig) -> Harness {
        let mut p = Pair::new(seed, link, InitiatorStyle::Ephemeral);
        let (client, server) = p.connect();
        let tc = TcServer::new(server, cfg);
        Harness {
            p,
            tc,
            client,
            seen_server: 0,
            seen_client: 0,
            server_log: Vec::new(),
            client_flows: Vec::new(),
            client_msgs: Vec::new(),
        }
    }

    /// The application side of the server: accept everything, relay stream 1 to stream 2.
    fn serve(&mut self) {
        let now = self.p.now;
        while self.seen_server < self.p.server_events.len() {
            let e = self.p.server_events[self.seen_server].clone();
            self.seen_server += 1;
            self.tc.handle_event(&mut self.p.server, now, &e).unwrap();
        }
        while let Some(ev) = self.tc.poll_event() {
            let ep = &mut self.p.server;
            match &ev {
                TcServerEvent::Connect(c) if c.app == "denied" => {
                    let info = StatusInfo::error(codes::CONNECT_REJECTED, "not here");
                    self.tc.reject_connect(ep, now, info).unwrap();
                }
                TcServerEvent::Connect(c) => {
                    assert_eq!(c.app, "live");
                    self.tc
                        .accept_connect(ep, now, &ConnectResponse::default())
                        .unwrap();
                }
                TcServerEvent::Publish {
                    stream_id, name, ..
                } if name == "denied" => {
                    let info = StatusInfo::error(codes::PUBLISH_DENIED, "no");
                    self.tc.reject_stream(ep, now, *stream_id, info).unwrap();
                }
                TcServerEvent::Publish {
                    stream_id, name, ..
                } => {
                    self.tc.accept_publish(ep, now, *stream_id, name).unwrap();
                }
                TcServerEvent::Play { stream_id, args } => {
                    self.tc
                        .accept_play(ep, now, *stream_id, &args.name)
                        .unwrap();
                }
                TcServerEvent::Media(m) => {
                    let mut out = m.clone();
                    out.stream_id = 2;
                    self.tc.send_media(ep, now, 2, &out).unwrap();
                }
                _ => {}
            }
            self.server_log.push(ev);
        }
        while self.seen_client < self.p.client_events.len() {
            match self.p.client_events[self.seen_client].clone() {
                Event::FlowOpened {
                    flow,
                    metadata,
                    return_flow,
                    ..
                } => self.client_flows.push((
                    flow,
                    TcMetadata::decode(&metadata).unwrap(),
                    return_flow,
                )),
                Event::Message { flow, bytes, .. } => {
                    self.client_msgs
                        .push((flow, TcMessage::decode(&bytes).unwrap()));
                }
                _ => {}
            }
            self.seen_client += 1;
        }
    }

    fn run_until(&mut self, mut done: impl FnMut(&Harness) -> bool) {
        let end = self.p.now + Duration::from_secs(60);
        self.serve();
        while !done(self) {
            assert!(self.p.now < end, "timed out");
            assert!(self.p.step(), "nothing left to do");
            self.serve();
        }
    }

    fn send(&mut self, flow: SendFlowId, msg: TcMessage, reliability: Reliability) {
        let now = self.p.now;
        self.p
            .client
            .send(now, self.client, flow, msg.encode(), reliability)
            .unwrap();
    }

    fn command(&mut self, flow: SendFlowId, cmd: Command) {
        let payload = cmd.to_message().encode(false);
        self.send(
            flow,
            TcMessage::new(MessageType::COMMAND_AMF0, 0, payload).unwrap(),
            Reliability::Reliable,
        );
    }

    fn commands(&self) -> Vec<(RecvFlowId, CommandMessage)> {
        self.client_msgs
            .iter()
            .filter(|(_, m)| m.type_id == MessageType::COMMAND_AMF0)
            .map(|(f, m)| {
                (
                    *f,
                    CommandMessage::decode(&m.payload, false, &AmfLimits::default()).unwrap(),
                )
            })
            .collect()
    }

    fn has_status(&self, code: &str) -> bool {
        self.commands().iter().any(|(_, c)| {
            c.name == "onStatus"
                && matches!(c.arg(0), Some(Amf0Value::Object(o)) if o.get("code") == Some(&Amf0Value::String(code.into())))
        })
    }

    /// Audio and video the player (stream 2) received.
    fn played(&self) -> Vec<TcMessage> {
        self.client_msgs
            .iter()
            .filter(|(f, m)| {
                self.stream_of(*f) == Some(2)
                    && matches!(m.type_id, MessageType::AUDIO | MessageType::VIDEO)
            })
            .map(|(_, m)| m.clone())
            .collect()
    }

    fn stream_of(&self, flow: RecvFlowId) -> Option<u32> {
        self.client_flows
            .iter()
            .find(|f| f.0 == flow)
            .map(|f| f.1.stream_id)
    }
}

fn media(i: u32) -> TcMessage {
    let (t, len) = if i % 3 == 0 {
        (MessageType::VIDEO, 3000)
    } else {
        (MessageType::AUDIO, 200)
    };
    let body: Vec<u8> = (0..len).map(|j| (i as usize + j) as u8).collect();
    TcMessage::new(t, i * 20, Bytes::from(body)).unwrap()
}

fn publish_and_play(seed: u64, link: Link, count: u32) -> Harness {
    publish_and_play_with(seed, link, count, TcServerConfig::default())
}

fn publish_and_play_with(seed: u64, link: Link, count: u32, cfg: TcServerConfig) -> Harness {
    let mut h = Harness::with_config(seed, link, cfg);
    let now = h.p.now;
    let control =
        h.p.client
            .open_flow(h.client, TcMetadata::CONTROL.encode(), None, 5)
            .unwrap();
    let connect = ConnectCommand::new("live", "rtmfp://192.0.2.1/live");
    h.command(control, Command::Connect(connect));
    h.run_until(|h| h.commands().iter().any(|(_, c)| c.name == "_result"));
    // The server answered on a return flow of the control flow, TC stream 0, and set keepalives.
    let (server_control, md, ret) = h.client_flows[0];
    assert_eq!((md.stream_id, ret), (0, Some(control)));
    h.run_until(|h| {
        h.client_msgs.iter().any(|(_, m)| {
            m.type_id == MessageType::USER_CONTROL
                && matches!(
                    TcUserControl::decode(&m.payload),
                    Ok(TcUserControl::SetKeepaliveTimers { .. })
                )
        })
    });
    for tid in [2.0, 3.0] {
        h.command(
            control,
            Command::CreateStream {
                transaction_id: tid,
            },
        );
    }
    h.run_until(|h| {
        h.commands()
            .iter()
            .filter(|(_, c)| c.name == "_result")
            .count()
            == 3
    });
    let ids: Vec<_> = h
        .commands()
        .into_iter()
        .filter(|(_, c)| c.name == "_result" && c.transaction_id > 1.0)
        .map(|(_, c)| c.arg(0).cloned())
        .collect();
    assert_eq!(
        ids,
        vec![Some(Amf0Value::Number(1.0)), Some(Amf0Value::Number(2.0))]
    );

    // NetStream 1 publishes, NetStream 2 plays the same name.
    let _ = now;
    let pub_flow =
        h.p.client
            .open_flow(
                h.client,
                TcMetadata::stream(1).encode(),
                Some(server_control),
                5,
            )
            .unwrap();
    h.command(
        pub_flow,
        Command::Publish {
            transaction_id: 0.0,
            name: "cam".into(),
            mode: sluice_rtmp::command::PublishMode::Live,
        },
    );
    let play_flow =
        h.p.client
            .open_flow(
                h.client,
                TcMetadata::stream(2).encode(),
                Some(server_control),
                5,
            )
            .unwrap();
    h.command(
        play_flow,
        Command::Play(sluice_rtmp::command::PlayArgs {
            name: "cam".into(),
            start: -2.0,
            duration: -1.0,
            reset: true,
        }),
    );
    h.run_until(|h| h.has_status(codes::PUBLISH_START) && h.has_status(codes::PLAY_START));
    // Play opened three flows for stream 2, each starting with Flow Sync (count 3).
    let play_flows: Vec<_> = h
        .client_flows
        .iter()
        .filter(|f| f.1.stream_id == 2)
        .map(|f| f.0)
        .collect();
    assert_eq!(play_flows.len(), 3);
    // Every stream flow is a return flow of the client's control flow (what rtmfp-cpp's
    // TCConnection::acceptFlow requires; found in the interop run, docs/RTMFP.md).
    assert!(h
        .client_flows
        .iter()
        .filter(|f| f.1.stream_id != 0)
        .all(|f| f.2 == Some(control)));
    h.run_until(|h| {
        h.client_msgs
            .iter()
            .filter(|(_, m)| {
                matches!(
                    TcUserControl::decode(&m.payload),
                    Ok(TcUserControl::FlowSync { count: 3, .. })
                )
            })
            .count()
            == 3
    });
    for f in &play_flows {
        let first = h.client_msgs.iter().find(|(g, _)| g == f).unwrap();
        assert!(matches!(
            TcUserControl::decode(&first.1.payload),
            Ok(TcUserControl::FlowSync { .. })
        ));
    }
    for i in 1..=count {
        h.send(pub_flow, media(i), Reliability::Reliable);
    }
    h.run_until(|h| {
        h.client_msgs
            .iter()
            .filter(|(f, m)| h.stream_of(*f) == Some(2) && m.type_id == MessageType::AUDIO)
            .count()
            >= (count - count / 3) as usize
    });
    h
}

#[test]
fn publish_and_play_clean_link() {
    let count = 60;
    let mut h = publish_and_play(11, clean(), count);
    h.run_until(|h| h.played().len() == count as usize);
    let published: Vec<RawMessage> = h
        .server_log
        .iter()
        .filter_map(|e| match e {
            TcServerEvent::Media(m) => Some(m.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(published.len(), count as usize);
    assert!(published.iter().all(|m| m.stream_id == 1));
    // Everything arrives on a clean link, on the flow of its type, unchanged.
    let played = h.played();
    for i in 1..=count {
        assert!(played.contains(&media(i)), "message {i} played");
    }
}

#[test]
fn publish_and_play_lossy_link() {
    // 5 % loss, 2 % duplicates, 30 ms jitter: the published messages still all reach the server
    // (the client sent them reliably) and every audio message reaches the player (the helper
    // waits for that); the player's audio and video are on separate flows, so a lost video
    // fragment never holds audio back.
    let count = 60;
    let h = publish_and_play(12, lossy(), count);
    let n = h
        .server_log
        .iter()
        .filter(|e| matches!(e, TcServerEvent::Media(_)))
        .count();
    assert_eq!(n, count as usize);
}

#[test]
fn refuses_flows_for_unknown_streams_and_non_tc_flows() {
    let mut h = Harness::new(13, clean());
    let control =
        h.p.client
            .open_flow(h.client, TcMetadata::CONTROL.encode(), None, 5)
            .unwrap();
    h.command(
        control,
        Command::Connect(ConnectCommand::new("live", "rtmfp://192.0.2.1/live")),
    );
    h.run_until(|h| !h.client_flows.is_empty());
    let server_control = h.client_flows[0].0;
    let stray =
        h.p.client
            .open_flow(
                h.client,
                TcMetadata::stream(9).encode(),
                Some(server_control),
                5,
            )
            .unwrap();
    h.send(stray, media(1), Reliability::Reliable);
    let group =
        h.p.client
            .open_flow(h.client, Bytes::from_static(b"GC"), None, 5)
            .unwrap();
    h.send(group, media(2), Reliability::Reliable);
    h.run_until(|h| {
        h.p.client_events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::FlowClosed {
                        flow: sluice_rtmfp::FlowRef::Send {
                            exception: Some(_),
                            ..
                        },
                        ..
                    }
                )
            })
            .count()
            == 2
    });
    assert!(!h
        .server_log
        .iter()
        .any(|e| matches!(e, TcServerEvent::Media(_))));
}

/// `TcClient` against `TcServer` over a lossy link: one stream publishes, another plays the
/// relayed stream; statuses arrive, audio arrives complete.
#[test]
fn tc_client_publishes_and_plays_through_tc_server() {
    use sluice_rtmfp::tc::{TcClient, TcClientConfig, TcClientEvent};
    let mut h = Harness::new(21, lossy());
    let mut client = TcClient::new(h.client, TcClientConfig::default());
    let now = h.p.now;
    let connect = ConnectCommand::new("live", "rtmfp://192.0.2.1/live");
    client.connect(&mut h.p.client, now, connect).unwrap();
    // Issued before connect completes: held and sent after the result.
    let t1 = client.create_stream(&mut h.p.client, now).unwrap();
    let t2 = client.create_stream(&mut h.p.client, now).unwrap();
    let mut got: Vec<TcClientEvent> = Vec::new();
    let mut seen = 0;
    let end = h.p.now + Duration::from_secs(60);
    let mut published = false;
    let mut sent = 0u32;
    let count = 40u32;
    loop {
        let now = h.p.now;
        while seen < h.p.client_events.len() {
            let e = h.p.client_events[seen].clone();
            seen += 1;
            client.handle_event(&mut h.p.client, now, &e).unwrap();
        }
        while let Some(ev) = client.poll_event() {
            match &ev {
                TcClientEvent::StreamCreated {
                    transaction_id,
                    stream_id,
                } if *transaction_id == t1 => {
                    assert_eq!(*stream_id, 1);
                    client
                        .publish(
                            &mut h.p.client,
                            now,
                            1,
                            "cam",
                            sluice_rtmp::command::PublishMode::Live,
                        )
                        .unwrap();
                }
                TcClientEvent::StreamCreated {
                    transaction_id,
                    stream_id,
                } if *transaction_id == t2 => {
                    assert_eq!(*stream_id, 2);
                    let args = sluice_rtmp::command::PlayArgs {
                        name: "cam".into(),
                        start: -2.0,
                        duration: -1.0,
                        reset: true,
                    };
                    client.play(&mut h.p.client, now, 2, args).unwrap();
                }
                TcClientEvent::Status { stream_id: 1, info }
                    if info.code == codes::PUBLISH_START =>
                {
                    published = true
                }
                _ => {}
            }
            got.push(ev);
        }
        let playing = got
            .iter()
            .any(|e| matches!(e, TcClientEvent::Status { stream_id: 2, info } if info.code == codes::PLAY_START));
        if published && playing && sent < count {
            sent += 1;
            let m = media(sent).into_raw(1);
            assert!(client.send_media(&mut h.p.client, now, 1, &m).unwrap());
        }
        let audio = got
            .iter()
            .filter(|e| matches!(e, TcClientEvent::Media(m) if m.type_id == MessageType::AUDIO && m.stream_id == 2))
            .count();
        if audio == (count - count / 3) as usize {
            break;
        }
        assert!(h.p.now < end, "timed out: {got:?}");
        assert!(h.p.step(), "nothing left to do");
        h.serve();
    }
    assert!(got.iter().any(|e| matches!(e, TcClientEvent::Connected(_))));
    assert!(got.iter().any(|e| matches!(
        e,
        TcClientEvent::KeepaliveTimers {
            server_ms: 10_000,
            peer_ms: 5_000
        }
    )));
}

/// Refusals reach the client as typed events: `connect` with `_error`, `publish` with an error
/// status; media of a refused publish are not delivered.
#[test]
fn refused_connect_and_publish() {
    use sluice_rtmfp::tc::{TcClient, TcClientConfig, TcClientEvent};
    fn drive(
        h: &mut Harness,
        client: &mut TcClient,
        seen: &mut usize,
        got: &mut Vec<TcClientEvent>,
    ) {
        let now = h.p.now;
        while *seen < h.p.client_events.len() {
            let e = h.p.client_events[*seen].clone();
            *seen += 1;
            client.handle_event(&mut h.p.client, now, &e).unwrap();
        }
        got.extend(std::iter::from_fn(|| client.poll_event()));
        assert!(h.p.step(), "nothing left to do");
        h.serve();
    }
    let mut h = Harness::new(31, clean());
    let mut client = TcClient::new(h.client, TcClientConfig::default());
    let now = h.p.now;
    let connect = ConnectCommand::new("denied", "rtmfp://192.0.2.1/denied");
    client.connect(&mut h.p.client, now, connect).unwrap();
    let (mut seen, mut got) = (0, Vec::new());
    while !got
        .iter()
        .any(|e| matches!(e, TcClientEvent::ConnectRefused(_)))
    {
        drive(&mut h, &mut client, &mut seen, &mut got);
    }
    let refused = got.iter().find_map(|e| match e {
        TcClientEvent::ConnectRefused(Some(info)) => Some(info.code.clone()),
        _ => None,
    });
    assert_eq!(refused.as_deref(), Some(codes::CONNECT_REJECTED));

    let mut h = Harness::new(32, clean());
    let mut client = TcClient::new(h.client, TcClientConfig::default());
    let now = h.p.now;
    let connect = ConnectCommand::new("live", "rtmfp://192.0.2.1/live");
    client.connect(&mut h.p.client, now, connect).unwrap();
    client.create_stream(&mut h.p.client, now).unwrap();
    let (mut seen, mut got) = (0, Vec::new());
    let mut asked = false;
    loop {
        let denied = got.iter().any(|e| {
            matches!(e, TcClientEvent::Status { stream_id: 1, info } if info.code == codes::PUBLISH_DENIED)
        });
        if denied {
            break;
        }
        if !asked
            && got
                .iter()
                .any(|e| matches!(e, TcClientEvent::StreamCreated { .. }))
        {
            asked = true;
            let now = h.p.now;
            let mode = sluice_rtmp::command::PublishMode::Live;
            client
                .publish(&mut h.p.client, now, 1, "denied", mode)
                .unwrap();
            client
                .send_media(&mut h.p.client, now, 1, &media(1).into_raw(1))
                .unwrap();
        }
        drive(&mut h, &mut client, &mut seen, &mut got);
    }
    for _ in 0..50 {
        drive(&mut h, &mut client, &mut seen, &mut got);
    }
    assert!(!h
        .server_log
        .iter()
        .any(|e| matches!(e, TcServerEvent::Media(_))));
}

/// Partial reliability at the TC level: with a video lifetime shorter than a retransmission on
/// a lossy link, the server abandons late video while every audio message still plays.
#[test]
fn late_video_is_abandoned_audio_is_not() {
    let cfg = TcServerConfig {
        video_lifetime: Duration::from_millis(30),
        ..TcServerConfig::default()
    };
    let count = 150;
    let mut h = publish_and_play_with(41, lossy(), count, cfg);
    // Let retransmissions settle, then count.
    let until = h.p.now + Duration::from_secs(5);
    h.run_until(|h| h.p.now >= until);
    let played = h.played();
    let audio = played
        .iter()
        .filter(|m| m.type_id == MessageType::AUDIO)
        .count();
    let video = played
        .iter()
        .filter(|m| m.type_id == MessageType::VIDEO)
        .count();
    let sent_video = (count / 3) as usize;
    println!("played audio {audio}, video {video} of {sent_video}");
    assert_eq!(
        audio,
        count as usize - sent_video,
        "every audio message played"
    );
    assert!(
        video < sent_video,
        "some late video abandoned ({video} of {sent_video} played)"
    );
    assert!(video > 0, "video still flows ({video} of {sent_video})");
}

/// `createStream` past `max_streams` is answered with `_error`, not a new stream.
#[test]
fn stream_limit_answers_error() {
    let cfg = TcServerConfig {
        max_streams: 1,
        ..TcServerConfig::default()
    };
    let mut h = Harness::with_config(51, clean(), cfg);
    let control =
        h.p.client
            .open_flow(h.client, TcMetadata::CONTROL.encode(), None, 5)
            .unwrap();
    let connect = ConnectCommand::new("live", "rtmfp://192.0.2.1/live");
    h.command(control, Command::Connect(connect));
    for tid in [2.0, 3.0] {
        h.command(
            control,
            Command::CreateStream {
                transaction_id: tid,
            },
        );
    }
    h.run_until(|h| h.commands().iter().any(|(_, c)| c.transaction_id == 3.0));
    let answers: Vec<(String, f64)> = h
        .commands()
        .into_iter()
        .map(|(_, c)| (c.name, c.transaction_id))
        .collect();
    assert!(answers.contains(&("_result".into(), 2.0)));
    assert!(answers.contains(&("_error".into(), 3.0)));
}
