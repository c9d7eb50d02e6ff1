//! One push target: a task that connects, publishes and feeds the target from its own hub
//! subscriber, and reconnects after a back-off when anything fails, until the stream ends or
//! the target is removed.
//!
//! The subscriber has the backlog bound of every player, so a slow target drops video until
//! the next keyframe (the hub's policy, see [`crate::hub`]); a target that stays behind longer
//! than `hub.slow_player_timeout_secs` is closed by the hub and reconnected. A write that makes
//! no progress for `relay.write_timeout_ms` is a failure too. None of it touches the publisher
//! or anyone else's queue.

use super::config::RelaySection;
use super::target::{parse_target, Backoff};
use super::{PushState, PushTarget, RELAY_FLASH_VER};
use crate::hub::{FrameKind, PeerInfo, PlayerEvent};
use crate::Context;
use bytes::{BufMut, Bytes, BytesMut};
use sluice_client::{Client, ClientOptions, ClientStream, Publisher, Timestamp, TlsConfig, Url};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// Start the task of `target`.
pub(super) fn spawn(
    ctx: &Arc<Context>,
    target: Arc<PushTarget>,
    app: &str,
    stream: &str,
    cfg: &RelaySection,
) {
    let job = Job {
        ctx: ctx.clone(),
        target,
        app: app.to_owned(),
        stream: stream.to_owned(),
        cfg: cfg.clone(),
    };
    tokio::spawn(job.run());
}

/// The client settings of relay connections (push and pull).
pub(super) fn client_options(cfg: &RelaySection) -> Result<ClientOptions, String> {
    let mut o = ClientOptions {
        connect_timeout: Duration::from_millis(cfg.connect_timeout_ms.max(1)),
        command_timeout: Duration::from_millis(cfg.connect_timeout_ms.max(1)),
        flash_ver: RELAY_FLASH_VER.to_owned(),
        ..ClientOptions::default()
    };
    if !cfg.ca_file.is_empty() {
        o.tls = TlsConfig::from_ca_file(std::path::Path::new(&cfg.ca_file))
            .map_err(|e| format!("relay.ca_file: {e}"))?;
    }
    Ok(o)
}

/// `message` with the URL's stream name (the key) and query replaced by `***`: a server's
/// error text may quote the name it was given.
pub(super) fn scrub(message: &str, url: &Url) -> String {
    let mut m = message.to_owned();
    if let Some(q) = url.query().filter(|q| !q.is_empty()) {
        m = m.replace(q, "***");
    }
    if !url.stream().is_empty() {
        m = m.replace(url.stream(), "***");
    }
    m
}

/// How an attempt ended without failing.
enum Ended {
    /// The publisher left (or the hub shut down).
    Stream,
}

struct Job {
    ctx: Arc<Context>,
    target: Arc<PushTarget>,
    app: String,
    stream: String,
    cfg: RelaySection,
}

impl Job {
    async fn run(self) {
        let t = &self.target;
        let mut stop = t.stop.subscribe();
        let mut backoff = Backoff::new(
            Duration::from_millis(self.cfg.backoff_min_ms),
            Duration::from_millis(self.cfg.backoff_max_ms),
        );
        info!(app = %self.app, stream = %self.stream, id = t.id, target = %t.shown, origin = t.origin.as_str(), "push target started");
        loop {
            if *stop.borrow() {
                break;
            }
            t.update(|s| s.state = PushState::Connecting);
            let attempt = tokio::select! {
                r = self.attempt() => r,
                _ = stop.wait_for(|s| *s) => break,
            };
            match attempt {
                Ok(Ended::Stream) => break,
                Err(error) => {
                    if t.status().state == PushState::Live {
                        // It worked for a while: the next failure starts the schedule again.
                        backoff.reset();
                    }
                    let delay = backoff.next_delay();
                    warn!(app = %self.app, stream = %self.stream, id = t.id, target = %t.shown, %error, retry_ms = delay.as_millis() as u64, "push target failed");
                    t.update(|s| {
                        s.state = PushState::Backoff;
                        s.last_error = Some(error);
                        s.failures += 1;
                    });
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        _ = stop.wait_for(|s| *s) => break,
                    }
                }
            }
        }
        info!(app = %self.app, stream = %self.stream, id = t.id, target = %t.shown, bytes = t.bytes.load(Ordering::Relaxed), "push target stopped");
    }

    /// Connect, publish, and feed the target until the stream ends (`Ok`) or anything fails
    /// (`Err`, the reason scrubbed of the key).
    async fn attempt(&self) -> Result<Ended, String> {
        let t = &self.target;
        let url = parse_target(&t.url).map_err(|e| e.to_string())?;
        let options = client_options(&self.cfg)?;
        let scrubbed = |e: sluice_client::ClientError| scrub(&e.to_string(), &url);
        let name = url.stream_with_query();
        let conn = Client::connect(&url, &options).await.map_err(scrubbed)?;
        let mut publisher = conn.publish(&name).await.map_err(scrubbed)?;
        t.update(|s| {
            s.state = PushState::Live;
            s.last_error = None;
            s.connects += 1;
        });
        info!(app = %self.app, stream = %self.stream, id = t.id, target = %t.shown, "push target live");
        let base = t.bytes.load(Ordering::Relaxed);
        let r = self
            .feed(&mut publisher, base)
            .await
            .map_err(|e| scrub(&e, &url));
        t.bytes.store(
            base + publisher.connection().bytes_written(),
            Ordering::Relaxed,
        );
        if r.is_ok() {
            // The stream ended: tell the target properly (bounded by finish_timeout).
            let _ = publisher.finish().await;
        }
        r
    }

    async fn feed(
        &self,
        publisher: &mut Publisher<ClientStream>,
        base: u64,
    ) -> Result<Ended, String> {
        let t = &self.target;
        let info = PeerInfo::new(format!("push {}", t.shown));
        let mut sub = self.ctx.hub.subscribe(&self.app, &self.stream, info);
        let write_timeout = Duration::from_millis(self.cfg.write_timeout_ms.max(1));
        let mut events = Vec::with_capacity(64);
        // Only to answer the target (acknowledgements, pings) while no media comes.
        let far = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
        loop {
            events.clear();
            tokio::select! {
                r = sub.recv_batch(&mut events) => {
                    if let Err(e) = r {
                        return match e {
                            crate::hub::SubscriberClosed::ShutDown => Ok(Ended::Stream),
                            other => Err(other.to_string()),
                        };
                    }
                }
                r = publisher.sleep_until(far) => {
                    r.map_err(|e| e.to_string())?;
                    continue;
                }
            }
            for ev in events.drain(..) {
                match ev {
                    PlayerEvent::Publish => {}
                    PlayerEvent::Unpublish => return Ok(Ended::Stream),
                    PlayerEvent::Metadata(body) => {
                        let msg = set_data_frame(&body);
                        within(write_timeout, publisher.send_data(Timestamp::ZERO, msg)).await?;
                    }
                    PlayerEvent::Frame(f) => {
                        let ts = Timestamp(f.timestamp);
                        match f.kind {
                            FrameKind::Audio => publisher.queue_audio(ts, f.payload),
                            FrameKind::Video => publisher.queue_video(ts, f.payload),
                            FrameKind::Data => {
                                within(write_timeout, publisher.send_data(ts, f.payload)).await?;
                            }
                        }
                    }
                    PlayerEvent::Dropped { frames } => {
                        t.dropped.fetch_add(frames, Ordering::Relaxed);
                    }
                }
            }
            within(write_timeout, publisher.flush()).await?;
            t.bytes.store(
                base + publisher.connection().bytes_written(),
                Ordering::Relaxed,
            );
        }
    }
}

/// `fut` within `limit`; a client error or the time running out is a failure.
async fn within(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<(), sluice_client::ClientError>>,
) -> Result<(), String> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "the target took no data for {} ms (relay.write_timeout_ms)",
            limit.as_millis()
        )),
    }
}

/// `@setDataFrame` + the hub's `onMetaData` body: what a publisher sends (FLV v10.1 E.4.4).
fn set_data_frame(body: &Bytes) -> Bytes {
    const NAME: &[u8] = b"@setDataFrame";
    let mut b = BytesMut::with_capacity(3 + NAME.len() + body.len());
    b.put_u8(0x02);
    b.put_u16(NAME.len() as u16);
    b.put_slice(NAME);
    b.put_slice(body);
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_lose_the_key() {
        let url = parse_target("rtmp://h/live/SECRET?auth=TOKEN").unwrap();
        assert_eq!(
            scrub(
                "server rejected publish: BadName (SECRET?auth=TOKEN taken)",
                &url
            ),
            "server rejected publish: BadName (***?*** taken)"
        );
    }

    #[test]
    fn metadata_is_wrapped_in_set_data_frame() {
        let m = set_data_frame(&Bytes::from_static(b"\x02\x00\x0aonMetaData"));
        assert_eq!(&m[..16], b"\x02\x00\x0d@setDataFrame");
        assert_eq!(&m[16..], b"\x02\x00\x0aonMetaData");
    }
}
