//! LL-HLS players for `sluice bench --play-url http://…/app/stream.m3u8`: each keeps one
//! HTTP/1.1 connection (as hls.js does), asks for the playlist with a blocking reload for the
//! part after the newest it has (`_HLS_msn`/`_HLS_part`, RFC 8216bis §6.2.5.2) and fetches every
//! new part. Latency is measured from the publisher's stamps (`stamp.rs`: `SLBT` + send time at
//! the end of each video and AAC sample), found in the parts' bytes; every stamped sample counts
//! as a frame (video and audio together).

use super::bench::{Meter, PlayerJob, PlayerResult};
use super::stamp::MAGIC;
use bytes::{Buf, BytesMut};
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest response head, and body, accepted.
const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 16 * 1024 * 1024;

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    stream: TcpStream,
    host: String,
    buf: BytesMut,
}

impl Conn {
    async fn open(host: &str) -> Result<Conn, (&'static str, String)> {
        let stream = TcpStream::connect(host)
            .await
            .map_err(|e| ("connect", e.to_string()))?;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            host: host.to_owned(),
            buf: BytesMut::with_capacity(8 * 1024),
        })
    }

    async fn fill(&mut self) -> Result<(), (&'static str, String)> {
        let n = self
            .stream
            .read_buf(&mut self.buf)
            .await
            .map_err(|e| ("io", e.to_string()))?;
        if n == 0 {
            return Err(("stream_ended", "the server closed the connection".into()));
        }
        Ok(())
    }

    /// `GET path`: the status and the body (the response must have a Content-Length).
    async fn get(&mut self, path: &str) -> Result<(u16, BytesMut), (&'static str, String)> {
        let req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        self.stream
            .write_all(req.as_bytes())
            .await
            .map_err(|e| ("io", e.to_string()))?;
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(("http_status", "response head too long".into()));
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.advance(end);
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let len = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .ok_or(("http_status", format!("no Content-Length in {head:?}")))?;
        if len > MAX_BODY {
            return Err(("http_status", format!("body of {len} bytes")));
        }
        while self.buf.len() < len {
            self.fill().await?;
        }
        Ok((status, self.buf.split_to(len)))
    }
}

/// What a playlist says: the parts in order, as (media sequence number, part index, URI).
fn parse_parts(playlist: &str) -> Vec<(u64, u64, String)> {
    let mut msn = playlist
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let mut part = 0;
    let mut out = Vec::new();
    for line in playlist.lines() {
        if let Some(attrs) = line.strip_prefix("#EXT-X-PART:") {
            if let Some(uri) = attr(attrs, "URI") {
                out.push((msn, part, uri.to_owned()));
                part += 1;
            }
        } else if line.starts_with("#EXT-X-SKIP:") {
            // A delta update: skipped segments count toward the sequence numbers.
            let skipped = attr(line, "SKIPPED-SEGMENTS")
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            msn += skipped;
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            // A complete segment's URI: the next parts belong to the next segment.
            msn += 1;
            part = 0;
        }
    }
    out
}

/// The value of `key` in an attribute list (`KEY=value` or `KEY="value"`).
fn attr<'a>(attrs: &'a str, key: &str) -> Option<&'a str> {
    let i = attrs.find(&format!("{key}="))? + key.len() + 1;
    let rest = &attrs[i..];
    if let Some(q) = rest.strip_prefix('"') {
        return q.split('"').next();
    }
    rest.split(',').next()
}

/// A URI of the playlist, as a path on the server (relative to the playlist's directory).
fn resolve(playlist_path: &str, uri: &str) -> String {
    if uri.starts_with('/') {
        return uri.to_owned();
    }
    let dir = playlist_path
        .split('?')
        .next()
        .and_then(|p| p.rsplit_once('/'))
        .map_or("", |(d, _)| d);
    format!("{dir}/{uri}")
}

/// One LL-HLS player, measured like an RTMP player.
pub(super) async fn run_player(job: PlayerJob, host: &str, path: &str) -> PlayerResult {
    let mut m = Meter::new();
    let Some(mut conn) = m.start(job.stop_at, Conn::open(host)).await else {
        return m.finish(0, &job.live);
    };
    let base = path.split('?').next().unwrap_or(path).to_owned();
    let query = path.split_once('?').map(|(_, q)| q.to_owned());
    let with_query = |p: String, extra: &str| -> String {
        let mut q: Vec<&str> = Vec::new();
        if let Some(qq) = &query {
            q.push(qq);
        }
        if !extra.is_empty() {
            q.push(extra);
        }
        if q.is_empty() || p.contains('?') {
            p
        } else {
            format!("{p}?{}", q.join("&"))
        }
    };
    let mut total = 0u64;
    let mut seen: HashSet<String> = HashSet::new();
    let mut next: Option<(u64, u64)> = None;
    let mut connected = false;
    let first_deadline = m.first_deadline(&job);
    let mut deadline = first_deadline;
    loop {
        let block = next.map_or(String::new(), |(msn, p)| {
            format!("_HLS_msn={msn}&_HLS_part={p}")
        });
        let url = with_query(base.clone(), &block);
        let res = tokio::time::timeout_at(deadline, async {
            let (status, body) = conn.get(&url).await?;
            if status != 200 {
                return Err(("http_status", format!("{status} for {url}")));
            }
            let text = String::from_utf8_lossy(&body).into_owned();
            let parts = parse_parts(&text);
            let mut got = Vec::new();
            for (msn, p, uri) in &parts {
                if next.is_none()
                    && (msn, p) != parts.last().map(|(a, b, _)| (a, b)).unwrap_or((msn, p))
                {
                    // Joining: start at the newest part (the live edge).
                    seen.insert(uri.clone());
                    continue;
                }
                if seen.insert(uri.clone()) {
                    let (status, data) = conn.get(&resolve(&base, uri)).await?;
                    if status != 200 {
                        return Err(("http_status", format!("{status} for part {uri}")));
                    }
                    got.push(data);
                }
                next = Some((*msn, *p + 1));
            }
            Ok(got)
        })
        .await;
        let got = match res {
            Ok(Ok(g)) => g,
            Ok(Err((k, e))) => {
                m.fail(k, e);
                break;
            }
            Err(_) => {
                if deadline == first_deadline {
                    m.timed_out(job.first_frame_limit);
                }
                break;
            }
        };
        if !connected {
            connected = true;
            m.connected(&job.live);
        }
        for data in got {
            total += data.len() as u64;
            job.live
                .bytes
                .fetch_add(data.len() as u64, Ordering::Relaxed);
            for i in memchr::memmem::find_iter(&data, MAGIC) {
                if let Some(stamp) = data.get(i..i + 12) {
                    if m.media(true, stamp, total, &job.live) {
                        deadline = job.stop_at;
                    }
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
    fn parts_of_a_low_latency_playlist() {
        let pl = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-PART:DURATION=0.2,URI=\"p7.0.m4s\"\n\
                  #EXT-X-PART:DURATION=0.2,URI=\"p7.1.m4s\",INDEPENDENT=YES\n#EXTINF:0.4,\ns7.m4s\n\
                  #EXT-X-PART:DURATION=0.2,URI=\"p8.0.m4s\"\n\
                  #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p8.1.m4s\"\n";
        assert_eq!(
            parse_parts(pl),
            [
                (7, 0, "p7.0.m4s".to_string()),
                (7, 1, "p7.1.m4s".to_string()),
                (8, 0, "p8.0.m4s".to_string())
            ]
        );
        assert_eq!(
            resolve("/live/s.m3u8?x=1", "s/hls/a.m4s"),
            "/live/s/hls/a.m4s"
        );
        assert_eq!(resolve("/live/s.m3u8", "/abs"), "/abs");
        assert_eq!(attr("TYPE=PART,URI=\"a,b\"", "URI"), Some("a,b"));
    }
}
