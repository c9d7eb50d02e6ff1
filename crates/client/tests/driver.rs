//! The client driver against an in-memory server built on the sans-IO `ServerSession`, over a
//! `tokio::io::duplex` pipe: connect, publish, play, rejections, timeouts and closed
//! connections, with no sockets.

use bytes::Bytes;
use sluice_amf::Amf0Object;
use sluice_client::{
    Client, ClientError, ClientOptions, Connection, EndReason, PlayEvent, Stage, Timestamp, Url,
};
use sluice_rtmp::chunk::encode_standalone;
use sluice_rtmp::command::{codes, ConnectResponse};
use sluice_rtmp::session::{client::set_data_frame_body, ServerConfig, ServerEvent, ServerSession};
use sluice_rtmp::{MessageType, RawMessage};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

#[derive(Clone, Default)]
struct Policy {
    /// Never answer connect.
    silent_connect: bool,
    reject_connect: bool,
    reject_publish: bool,
    reject_play: bool,
    /// Media to send before accepting play (tests the early-message buffer).
    early_videos: usize,
}

fn video(key: bool, n: u8) -> Bytes {
    Bytes::from(vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0, n, n, n])
}

/// Runs a server session on `io` until the client goes away; reports every event.
async fn serve(mut io: DuplexStream, policy: Policy, tx: mpsc::UnboundedSender<ServerEvent>) {
    let mut s = ServerSession::new(ServerConfig::default(), &mut rand::thread_rng());
    let mut buf = vec![0u8; 8192];
    loop {
        while let Some(b) = s.poll_transmit() {
            if io.write_all(&b).await.is_err() {
                return;
            }
        }
        let n = match io.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if s.handle_input(&buf[..n]).is_err() {
            return;
        }
        while let Some(ev) = s.poll_event() {
            match &ev {
                ServerEvent::ConnectRequest { request, .. } => {
                    if policy.reject_connect {
                        s.reject_connect(*request, "go away").unwrap();
                    } else if !policy.silent_connect {
                        s.accept_connect(*request, ConnectResponse::default())
                            .unwrap();
                    }
                }
                ServerEvent::PublishRequest { request, .. } => {
                    if policy.reject_publish {
                        s.reject_publish(*request, codes::PUBLISH_BAD_NAME, "in use")
                            .unwrap();
                    } else {
                        s.accept_publish(*request).unwrap();
                        // A ping the client must answer while publishing.
                        s.send_ping(1234);
                    }
                }
                ServerEvent::PlayRequest {
                    request, stream_id, ..
                } => {
                    let sid = *stream_id;
                    if policy.reject_play {
                        s.reject_play(*request, codes::PLAY_STREAM_NOT_FOUND, "no such stream")
                            .unwrap();
                    } else {
                        // Media before Play.Start: the session would not send it, so write
                        // standalone-encoded messages on a chunk stream of their own.
                        while let Some(b) = s.poll_transmit() {
                            io.write_all(&b).await.unwrap();
                        }
                        for i in 0..policy.early_videos {
                            let mut out = Vec::new();
                            let msg = RawMessage {
                                csid: 20,
                                timestamp: Timestamp(i as u32),
                                type_id: MessageType::VIDEO,
                                stream_id: sid,
                                payload: video(true, 0),
                            };
                            encode_standalone(&msg, 128, &mut out);
                            for b in out {
                                io.write_all(&b).await.unwrap();
                            }
                        }
                        s.accept_play(*request).unwrap();
                        let md = Amf0Object::new().with("width", 320.0);
                        s.send_data(sid, Timestamp(0), set_data_frame_body(md));
                        s.send_video(sid, Timestamp(0), video(true, 1));
                        s.send_audio(sid, Timestamp(10), Bytes::from_static(&[0xaf, 1, 9]));
                        s.send_video(sid, Timestamp(40), video(false, 2));
                        s.notify_unpublish(sid, "s");
                    }
                }
                _ => {}
            }
            let _ = tx.send(ev);
        }
    }
}

fn url() -> Url {
    Url::parse("rtmp://test.invalid/live/s").unwrap()
}

fn options() -> ClientOptions {
    ClientOptions {
        connect_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(5),
        finish_timeout: Duration::from_millis(500),
        ..ClientOptions::default()
    }
}

async fn connect(
    policy: Policy,
    opts: &ClientOptions,
) -> (
    Result<Connection<DuplexStream>, ClientError>,
    mpsc::UnboundedReceiver<ServerEvent>,
) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(serve(b, policy, tx));
    (Connection::establish(a, &url(), opts).await, rx)
}

fn drain(rx: &mut mpsc::UnboundedReceiver<ServerEvent>) -> Vec<ServerEvent> {
    let mut v = Vec::new();
    while let Ok(e) = rx.try_recv() {
        v.push(e);
    }
    v
}

#[tokio::test]
async fn connect_reports_server_info() {
    let (conn, mut rx) = connect(Policy::default(), &options()).await;
    let conn = conn.unwrap();
    assert_eq!(conn.info().response.fms_ver, "FMS/3,5,7,7009");
    assert_eq!(conn.info().response.capabilities, 31.0);
    assert!(conn.info().handshake.is_some());
    assert!(conn.bytes_written() > 1536);
    assert!(conn.bytes_read() > 3072);
    let evs = drain(&mut rx);
    let cmd = evs
        .iter()
        .find_map(|e| match e {
            ServerEvent::ConnectRequest { command, .. } => Some(command.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(cmd.app, "live");
    assert_eq!(cmd.tc_url.as_deref(), Some("rtmp://test.invalid/live"));
    assert!(cmd.fourcc_list.iter().any(|f| f == "hvc1"));
}

#[tokio::test]
async fn publish_metadata_and_media_in_order() {
    let (conn, mut rx) = connect(Policy::default(), &options()).await;
    let mut p = conn.unwrap().publish("s?key=1").await.unwrap();
    assert_eq!(p.name(), "s?key=1");
    p.send_metadata(Amf0Object::new().with("width", 320.0))
        .await
        .unwrap();
    p.send_video(Timestamp(0), video(true, 7)).await.unwrap();
    p.send_audio(Timestamp(5), Bytes::from_static(&[0xaf, 1, 1, 2]))
        .await
        .unwrap();
    // A large frame crosses many chunks and goes out in one vectored write.
    let big = Bytes::from(vec![0x27; 100_000]);
    p.send_video(Timestamp(40), big.clone()).await.unwrap();
    p.sleep_until(tokio::time::Instant::now() + Duration::from_millis(50))
        .await
        .unwrap();
    p.finish().await.unwrap();
    // Wait for the server task to see the end.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let evs = drain(&mut rx);
    let name = evs.iter().find_map(|e| match e {
        ServerEvent::PublishRequest { name, .. } => Some(name.clone()),
        _ => None,
    });
    assert_eq!(name.as_deref(), Some("s?key=1"));
    let media: Vec<(u8, u32, usize)> = evs
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Data {
                name, timestamp, ..
            } => {
                assert_eq!(name, "@setDataFrame");
                Some((18, timestamp.0, 0))
            }
            ServerEvent::Video {
                timestamp, payload, ..
            } => Some((9, timestamp.0, payload.len())),
            ServerEvent::Audio {
                timestamp, payload, ..
            } => Some((8, timestamp.0, payload.len())),
            _ => None,
        })
        .collect();
    assert_eq!(
        media,
        vec![(18, 0, 0), (9, 0, 8), (8, 5, 4), (9, 40, 100_000)]
    );
    assert!(evs
        .iter()
        .any(|e| matches!(e, ServerEvent::PublishStopped { .. })));
    // The ping the server sent on publish was answered while we were sending.
    assert!(evs
        .iter()
        .any(|e| matches!(e, ServerEvent::PingResponse(1234))));
}

#[tokio::test]
async fn play_yields_metadata_media_and_eof() {
    let (conn, _rx) = connect(Policy::default(), &options()).await;
    let mut p = conn.unwrap().play("s").await.unwrap();
    let mut got = Vec::new();
    loop {
        let ev = p.next_event().await.unwrap();
        if let PlayEvent::Eof(r) = &ev {
            assert_eq!(
                *r,
                EndReason::Status(codes::PLAY_UNPUBLISH_NOTIFY.to_owned())
            );
            break;
        }
        got.push(ev);
    }
    // Eof repeats.
    assert!(matches!(p.next_event().await.unwrap(), PlayEvent::Eof(_)));
    let kinds: Vec<String> = got
        .iter()
        .map(|e| match e {
            PlayEvent::Metadata { properties, .. } => {
                format!("meta {}", properties.get_number("width").unwrap())
            }
            PlayEvent::Video { timestamp, .. } => format!("v{}", timestamp.0),
            PlayEvent::Audio { timestamp, .. } => format!("a{}", timestamp.0),
            PlayEvent::Status(s) => s.code.clone(),
            PlayEvent::Control(c) => format!("{c:?}"),
            PlayEvent::Data { name, .. } => name.clone(),
            PlayEvent::Eof(_) => unreachable!(),
        })
        .collect();
    let media: Vec<&String> = kinds
        .iter()
        .filter(|k| k.starts_with("meta") || k.starts_with('v') || k.starts_with('a'))
        .collect();
    assert_eq!(media, vec!["meta 320", "v0", "a10", "v40"], "{kinds:?}");
    p.stop().await.unwrap();
}

#[tokio::test]
async fn play_keeps_early_media_within_the_limit() {
    let policy = Policy {
        early_videos: 3,
        ..Policy::default()
    };
    let (conn, _rx) = connect(policy.clone(), &options()).await;
    let mut p = conn.unwrap().play("s").await.unwrap();
    let mut videos = 0;
    loop {
        match p.next_event().await.unwrap() {
            PlayEvent::Video { .. } => videos += 1,
            PlayEvent::Eof(_) => break,
            _ => {}
        }
    }
    assert_eq!(videos, 3 + 2);

    let opts = ClientOptions {
        max_early_messages: 2,
        ..options()
    };
    let (conn, _rx) = connect(policy, &opts).await;
    let e = conn.unwrap().play("s").await.unwrap_err();
    assert!(
        matches!(e, ClientError::LimitExceeded { limit: 2, .. }),
        "{e}"
    );
}

#[tokio::test]
async fn rejections_are_typed() {
    let (conn, _rx) = connect(
        Policy {
            reject_connect: true,
            ..Policy::default()
        },
        &options(),
    )
    .await;
    let e = conn.unwrap_err();
    assert!(
        matches!(e, ClientError::ConnectRejected(ref i) if i.code == codes::CONNECT_REJECTED),
        "{e}"
    );

    let (conn, _rx) = connect(
        Policy {
            reject_publish: true,
            ..Policy::default()
        },
        &options(),
    )
    .await;
    let e = conn.unwrap().publish("s").await.unwrap_err();
    assert!(
        matches!(e, ClientError::PublishRejected(ref i) if i.code == codes::PUBLISH_BAD_NAME),
        "{e}"
    );

    let (conn, _rx) = connect(
        Policy {
            reject_play: true,
            ..Policy::default()
        },
        &options(),
    )
    .await;
    let e = conn.unwrap().play("s").await.unwrap_err();
    assert!(
        matches!(e, ClientError::PlayRejected(ref i) if i.code == codes::PLAY_STREAM_NOT_FOUND),
        "{e}"
    );
}

#[tokio::test]
async fn timeouts_name_the_stage() {
    let opts = ClientOptions {
        connect_timeout: Duration::from_millis(200),
        ..options()
    };
    let (conn, _rx) = connect(
        Policy {
            silent_connect: true,
            ..Policy::default()
        },
        &opts,
    )
    .await;
    let e = conn.unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::Timeout {
                stage: Stage::ConnectCommand,
                ..
            }
        ),
        "{e}"
    );

    // A peer that never answers the handshake.
    let (a, _b) = tokio::io::duplex(64 * 1024);
    let e = Connection::establish(a, &url(), &opts).await.unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::Timeout {
                stage: Stage::Handshake,
                ..
            }
        ),
        "{e}"
    );
}

#[tokio::test]
async fn closed_and_garbage_peers() {
    // Closes at once.
    let (a, b) = tokio::io::duplex(64 * 1024);
    drop(b);
    let e = Connection::establish(a, &url(), &options())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::Closed(Stage::Handshake) | ClientError::Io { .. }
        ),
        "{e}"
    );
    // Answers the handshake with a wrong version byte.
    let (a, mut b) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let mut buf = [0u8; 1537];
        let _ = b.read_exact(&mut buf).await;
        let _ = b.write_all(&[0x42; 3073]).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    });
    let e = Connection::establish(a, &url(), &options())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Protocol(_)), "{e}");
}

#[tokio::test]
async fn tcp_errors() {
    // Nothing listens on a port we just released.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let u = Url::parse(&format!("rtmp://127.0.0.1:{port}/live/s")).unwrap();
    let e = Client::connect(&u, &options()).await.unwrap_err();
    assert!(matches!(e, ClientError::Refused { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!("connection refused by 127.0.0.1:{port}")
    );

    // Every scheme opens its transport first: nothing listens there either.
    for scheme in ["rtmps", "rtmpe", "rtmpt", "rtmpte", "rtmpts"] {
        let u = Url::parse(&format!("{scheme}://127.0.0.1:{port}/live/s")).unwrap();
        let e = Client::connect(&u, &options()).await.unwrap_err();
        assert!(matches!(e, ClientError::Refused { .. }), "{scheme}: {e}");
    }

    let u = Url::parse("rtmp://127.0.0.1/live").unwrap();
    let e = Client::play(&u, &options()).await.unwrap_err();
    assert!(matches!(e, ClientError::MissingStream), "{e}");

    let u = Url::parse("rtmp://no-such-host.invalid/live/s").unwrap();
    let e = Client::connect(&u, &options()).await.unwrap_err();
    assert!(
        matches!(e, ClientError::Resolve { .. } | ClientError::Timeout { .. }),
        "{e}"
    );
}
