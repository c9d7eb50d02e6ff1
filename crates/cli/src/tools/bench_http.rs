//! HTTP-FLV and WebSocket-FLV players for `sluice bench --play-url` (LL-HLS ones, for a
//! `.m3u8` URL, are in `bench_hls`): the same measurements as
//! the RTMP players (first frame, per-player bitrate, delivery latency from the publisher's
//! stamps), over `GET http://…/app/stream.flv` (HTTP/1.0, so the body is the raw FLV until the
//! server closes) or a WebSocket on `ws://…/app/stream.flv` (binary messages of FLV bytes).

use super::bench::{Meter, PlayerJob, PlayerResult};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use sluice_flv::{FlvDemuxer, FlvEvent, TagType};
use std::sync::atomic::Ordering;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// The longest response head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// Where a player's FLV bytes come from.
enum Source {
    Http {
        stream: TcpStream,
        first: Option<Bytes>,
    },
    Ws(Box<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>>),
}

impl Source {
    /// The next bytes of FLV; `None` at the end of the stream.
    async fn next(&mut self, buf: &mut [u8]) -> Result<Option<Bytes>, String> {
        match self {
            Source::Http { stream, first } => {
                if let Some(b) = first.take() {
                    return Ok(Some(b));
                }
                match stream.read(buf).await {
                    Ok(0) => Ok(None),
                    Ok(n) => Ok(Some(Bytes::copy_from_slice(&buf[..n]))),
                    Err(e) => Err(e.to_string()),
                }
            }
            Source::Ws(ws) => loop {
                match ws.next().await {
                    None | Some(Ok(Message::Close(_))) => return Ok(None),
                    Some(Ok(Message::Binary(b))) => return Ok(Some(b)),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(e.to_string()),
                }
            },
        }
    }
}

/// `http://host[:port]/path?query` → (`host:port`, `/path?query`).
fn split_http_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: expected http:// or ws://"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:80")
    };
    Ok((host, path.to_owned()))
}

async fn open(url: &str) -> Result<Source, (&'static str, String)> {
    if url.starts_with("ws://") || url.starts_with("wss://") {
        let (ws, resp) = tokio_tungstenite::connect_async(url)
            .await
            .map_err(|e| ("connect", e.to_string()))?;
        if resp.status().as_u16() != 101 {
            return Err(("http_status", format!("{}", resp.status())));
        }
        return Ok(Source::Ws(Box::new(ws)));
    }
    let (host, path) = split_http_url(url).map_err(|e| ("url", e))?;
    let mut stream = TcpStream::connect(&host)
        .await
        .map_err(|e| ("connect", e.to_string()))?;
    let _ = stream.set_nodelay(true);
    let req = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
    stream
        .write_all(req.as_bytes())
        .await
        .map_err(|e| ("io", e.to_string()))?;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let end = loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| ("io", e.to_string()))?;
        if n == 0 {
            return Err(("http_status", "closed before the response head".into()));
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if head.len() > MAX_HEAD {
            return Err(("http_status", "response head too long".into()));
        }
    };
    let status_line = String::from_utf8_lossy(&head[..end]);
    let status_line = status_line.lines().next().unwrap_or("");
    if status_line.split(' ').nth(1) != Some("200") {
        return Err(("http_status", status_line.to_owned()));
    }
    let first = (head.len() > end).then(|| Bytes::copy_from_slice(&head[end..]));
    Ok(Source::Http { stream, first })
}

/// One HTTP-FLV or WS-FLV player, measured like an RTMP player.
pub(super) async fn run_player(job: PlayerJob, url: &str) -> PlayerResult {
    if url.split('?').next().is_some_and(|p| p.ends_with(".m3u8")) {
        if let Ok((host, path)) = split_http_url(url) {
            return super::bench_hls::run_player(job, &host, &path).await;
        }
    }
    let mut m = Meter::new();
    let Some(mut source) = m.start(job.stop_at, open(url)).await else {
        return m.finish(0, &job.live);
    };
    m.connected(&job.live);
    let sleep = tokio::time::sleep_until(m.first_deadline(&job));
    tokio::pin!(sleep);
    let mut demux = FlvDemuxer::new();
    let mut pending = BytesMut::new();
    let mut read_buf = vec![0u8; 16 * 1024];
    let mut total = 0u64;
    'run: loop {
        let next = tokio::select! {
            n = source.next(&mut read_buf) => n,
            () = &mut sleep => {
                m.timed_out(job.first_frame_limit);
                break;
            }
        };
        let bytes = match next {
            Ok(Some(b)) => b,
            Ok(None) => {
                m.fail("stream_ended", "the server ended the response".into());
                break;
            }
            Err(e) => {
                m.fail("io", e);
                break;
            }
        };
        total += bytes.len() as u64;
        job.live
            .bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        pending.extend_from_slice(&bytes);
        loop {
            match demux.decode(&mut pending) {
                Ok(Some(FlvEvent::Tag(tag))) => {
                    let video = match tag.tag_type {
                        TagType::VIDEO => true,
                        TagType::AUDIO => false,
                        _ => continue,
                    };
                    if m.media(video, &tag.data, total, &job.live) {
                        sleep.as_mut().reset(job.stop_at);
                    }
                }
                Ok(Some(FlvEvent::Header(_))) => {}
                Ok(None) => break,
                Err(e) => {
                    m.fail("flv", e.to_string());
                    break 'run;
                }
            }
        }
    }
    m.finish(total, &job.live)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls() {
        assert_eq!(
            split_http_url("http://127.0.0.1:8080/live/b.flv?x=1").unwrap(),
            ("127.0.0.1:8080".into(), "/live/b.flv?x=1".into())
        );
        assert_eq!(
            split_http_url("http://example.com").unwrap(),
            ("example.com:80".into(), "/".into())
        );
        assert!(split_http_url("https://x/y").is_err());
    }
}
