//! A minimal RTMFP publisher over a blocking `std` UDP socket, for interop runs against other
//! servers (docs/RTMFP.md): it connects with [`TcClient`], creates a stream, publishes an FLV
//! file's tags in real time (script data as `@setDataFrame`), and prints the statuses it gets.
//! The product's publisher is `sluice publish … rtmfp://…`; this only exercises the sans-IO core
//! and the TC layer (RFC 7425 §5) on real sockets.
//!
//! `cargo run -p sluice-rtmfp --example tc_publish -- 127.0.0.1:1935 rtmfp://127.0.0.1/live cam file.flv`

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use sluice_flv::{FlvReader, FlvTag};
use sluice_rtmfp::tc::{TcClient, TcClientEvent};
use sluice_rtmp::command::{codes, PublishMode};
use sluice_rtmp::{MessageType, RawMessage, Timestamp};

fn message(tag: &FlvTag) -> RawMessage {
    let type_id = MessageType(tag.tag_type.0);
    let payload = if type_id == MessageType::DATA_AMF0 {
        let mut b = BytesMut::new();
        b.put_u8(0x02);
        b.put_u16(13);
        b.extend_from_slice(b"@setDataFrame");
        b.extend_from_slice(&tag.data);
        b.freeze()
    } else {
        tag.data.clone()
    };
    RawMessage {
        csid: 4,
        timestamp: Timestamp(tag.timestamp),
        type_id,
        stream_id: 0,
        payload,
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: tc_publish server-addr rtmfp-url stream-name file.flv");
        std::process::exit(2);
    }
    let server: SocketAddr = args[1].parse().expect("server address ip:port");
    let (url, name) = (&args[2], &args[3]);
    let mut reader = FlvReader::new(std::fs::File::open(&args[4])?);
    reader.header().expect("FLV header");
    let mut tags = Vec::new();
    while let Some(t) = reader.next_tag().expect("FLV tag") {
        tags.push(t);
    }
    let (socket, mut ep, session) = support::open_client(server, url)?;
    let mut tc: Option<TcClient> = None;
    let mut publishing: Option<(u32, Instant)> = None;
    let (mut next, mut dropped) = (0usize, 0u32);
    let mut buf = vec![0u8; 8192];
    loop {
        let now = support::turn(&socket, &mut ep, &mut buf, Duration::from_millis(10))?;
        while let Some(event) = ep.poll_event() {
            let evs = support::client_events(&mut ep, now, session, url, &mut tc, &event);
            let Some(c) = tc.as_mut() else { continue };
            for ev in evs {
                match ev {
                    TcClientEvent::StreamCreated { stream_id, .. } => {
                        println!("stream {stream_id} created; publish {name}");
                        c.publish(&mut ep, now, stream_id, name, PublishMode::Live)
                            .expect("publish");
                    }
                    TcClientEvent::Status { stream_id, info } => {
                        println!(
                            "status stream {stream_id}: {} {}",
                            info.code, info.description
                        );
                        if info.code == codes::PUBLISH_START {
                            publishing = Some((stream_id, now));
                        }
                    }
                    other => println!("{other:?}"),
                }
            }
        }
        if let (Some((stream_id, since)), Some(c)) = (publishing, tc.as_mut()) {
            let first = tags.first().map_or(0, |t| t.timestamp);
            while let Some(tag) = tags.get(next) {
                let due = since + Duration::from_millis(u64::from(tag.timestamp - first));
                if due > now {
                    break;
                }
                if !c
                    .send_media(&mut ep, now, stream_id, &message(tag))
                    .expect("send")
                {
                    dropped += 1;
                }
                next += 1;
            }
            if next == tags.len() {
                println!("sent {next} tags, {dropped} dropped at the sender");
                for _ in 0..100 {
                    support::flush(&socket, &mut ep)?;
                    support::turn(&socket, &mut ep, &mut buf, Duration::from_millis(10))?;
                }
                ep.close(Instant::now(), session).expect("close");
                support::flush(&socket, &mut ep)?;
                return Ok(());
            }
        }
        support::flush(&socket, &mut ep)?;
    }
}
