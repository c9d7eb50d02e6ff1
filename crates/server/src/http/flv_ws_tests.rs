//! WebSocket-FLV players in-process, on the direct path ([`super::super::direct`]) and through
//! hyper and axum (`http.direct_write = false`): the handshake, the messages, pings, closes
//! either way, and a client that breaks RFC 6455.

use crate::hub::{MediaFrame, Publisher};
use crate::Context;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

async fn start(direct_write: bool) -> (Arc<Context>, SocketAddr) {
    super::tests::start_with(direct_write).await
}

fn publish(ctx: &Context) -> Publisher {
    super::tests::publish_keyframe(ctx)
}

async fn next(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
) -> Option<Message> {
    tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .expect("a message in time")
        .map(|m| m.expect("a valid message"))
}

async fn plays_pings_and_ends(direct: bool) {
    let (ctx, addr) = start(direct).await;
    let url = format!("ws://{addr}/live/s.flv");
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 404),
        other => panic!("no stream: want a 404, got {other:?}"),
    }
    let publisher = publish(&ctx);
    let (mut ws, resp) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("handshake");
    assert_eq!(resp.status(), 101);
    let mut flv = Vec::new();
    while flv.len() < 13 {
        match next(&mut ws).await {
            Some(Message::Binary(b)) => flv.extend_from_slice(&b),
            other => panic!("want FLV in binary messages, got {other:?}"),
        }
    }
    assert!(flv.starts_with(b"FLV\x01\x01"), "{flv:02x?}");
    // A ping is answered with its payload, among the media messages.
    ws.send(Message::Ping(Bytes::from_static(b"are you there")))
        .await
        .unwrap();
    publisher.send(MediaFrame::video(
        40,
        Bytes::from_static(&[0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x41]),
        false,
    ));
    loop {
        match next(&mut ws).await {
            Some(Message::Pong(p)) => {
                assert_eq!(&p[..], b"are you there");
                break;
            }
            Some(Message::Binary(_)) => {}
            other => panic!("want the pong, got {other:?}"),
        }
    }
    // The publisher leaves: after the grace a close frame says why.
    drop(publisher);
    loop {
        match next(&mut ws).await {
            Some(Message::Close(Some(f))) => {
                assert_eq!(f.code, CloseCode::Normal);
                assert_eq!(f.reason.as_str(), "publisher gone");
                break;
            }
            Some(Message::Binary(_)) => {}
            other => panic!("want a close, got {other:?}"),
        }
    }
    ctx.begin_shutdown();
}

#[tokio::test]
async fn a_direct_ws_flv_player_plays_pings_and_ends_with_a_close() {
    plays_pings_and_ends(true).await;
}

#[tokio::test]
async fn a_ws_flv_player_through_hyper_plays_pings_and_ends_with_a_close() {
    plays_pings_and_ends(false).await;
}

/// The client closes: the server answers with the same code and the connection ends.
#[tokio::test]
async fn a_client_close_is_answered() {
    let (ctx, addr) = start(true).await;
    let _publisher = publish(&ctx);
    let url = format!("ws://{addr}/live/s.flv");
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("handshake");
    assert!(matches!(next(&mut ws).await, Some(Message::Binary(_))));
    ws.close(Some(tungstenite::protocol::CloseFrame {
        code: CloseCode::Away,
        reason: "bye".into(),
    }))
    .await
    .unwrap();
    loop {
        match next(&mut ws).await {
            Some(Message::Close(Some(f))) => {
                assert_eq!(f.code, CloseCode::Away);
                break;
            }
            Some(Message::Binary(_)) => {}
            other => panic!("want the close answered, got {other:?}"),
        }
    }
    assert!(next(&mut ws).await.is_none(), "the connection ends");
    ctx.begin_shutdown();
}

/// An unmasked client frame (RFC 6455 5.1) gets a 1002 close and the end of the connection.
#[tokio::test]
async fn an_unmasked_client_frame_is_a_protocol_error() {
    let (ctx, addr) = start(true).await;
    let _publisher = publish(&ctx);
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(
        b"GET /live/s.flv HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .unwrap();
    c.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), c.read_to_end(&mut all))
        .await
        .expect("the server closes")
        .unwrap();
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 101 "), "{text}");
    assert!(
        text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{text}"
    );
    assert!(
        all.windows(4).any(|w| w == [0x88, 0x02, 0x03, 0xea]),
        "a 1002 close at the end: {:02x?}",
        &all[all.len().saturating_sub(8)..]
    );
    ctx.begin_shutdown();
}
