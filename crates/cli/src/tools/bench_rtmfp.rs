//! RTMFP players for `sluice bench --play-url rtmfp://HOST:PORT/app/stream` (RTMP over RTMFP,
//! RFC 7016 sessions with the Flash profile of RFC 7425 §5.3): the publisher still publishes
//! over RTMP to the bench URL, and each player is what a real RTMFP client is, its own UDP
//! socket, RTMFP endpoint and session ([`sluice_client::RtmfpClient`]), so the server sees as
//! many sessions (handshakes, keys, acknowledgements) as there are players.
//!
//! Measured exactly as RTMP players are (both go through [`play_measured`], here so that
//! `bench.rs` stays small): first frame,
//! per-player bitrate over the UDP payload bytes received (RTMFP headers, acknowledgements'
//! answers and encryption padding included, as TCP players count the RTMP chunk headers),
//! and delivery latency from the publisher's stamps in the media.

use super::any::AnyPlayer;
use super::bench::{Meter, PlayerJob, PlayerResult};
use sluice_client::{ClientError, PlayEvent, RtmfpClient, Scheme, Url};
use std::sync::atomic::Ordering;

/// Reject a `--play-url` of the rtmfp scheme that cannot be played (no stream name, bad
/// URL) before any player starts; other schemes are left to their players.
pub fn check_url(play_url: &str) -> anyhow::Result<()> {
    if !play_url.starts_with("rtmfp://") {
        return Ok(());
    }
    let url = Url::parse(play_url).map_err(|e| anyhow::anyhow!("--play-url {play_url}: {e}"))?;
    if url.scheme() != Scheme::Rtmfp || url.stream().is_empty() {
        anyhow::bail!("--play-url {play_url}: expected rtmfp://HOST[:PORT]/APP/STREAM");
    }
    Ok(())
}

/// One RTMFP player of `url`, measured like an RTMP player.
pub(super) async fn run_player(job: PlayerJob, url: &str) -> PlayerResult {
    let url = Url::parse(url);
    let options = job.options.clone();
    let open = async move {
        let url = url.map_err(ClientError::Url)?;
        let player = RtmfpClient::play(&url, &options).await?;
        Ok(AnyPlayer::Rtmfp(Box::new(player)))
    };
    play_measured(job, open).await
}

/// Measure one RTMP or RTMFP player: `open` connects and plays, then every audio and video
/// message goes through the [`Meter`] until the end of the run.
pub(super) async fn play_measured(
    job: PlayerJob,
    open: impl std::future::Future<Output = Result<AnyPlayer, ClientError>>,
) -> PlayerResult {
    let mut m = Meter::new();
    let open = async { open.await.map_err(|e| (e.kind(), e.to_string())) };
    let Some(mut player) = m.start(job.stop_at, open).await else {
        return m.finish(0, &job.live);
    };
    m.connected(&job.live);
    let sleep = tokio::time::sleep_until(m.first_deadline(&job));
    tokio::pin!(sleep);
    let mut last_bytes = player.bytes_read();
    loop {
        let ev = tokio::select! {
            ev = player.next_event() => ev,
            () = &mut sleep => {
                m.timed_out(job.first_frame_limit);
                break;
            }
        };
        let now_bytes = player.bytes_read();
        job.live
            .bytes
            .fetch_add(now_bytes - last_bytes, Ordering::Relaxed);
        last_bytes = now_bytes;
        let (video, payload) = match ev {
            Ok(PlayEvent::Video { payload, .. }) => (true, payload),
            Ok(PlayEvent::Audio { payload, .. }) => (false, payload),
            Ok(PlayEvent::Eof(reason)) => {
                m.fail("stream_ended", format!("stream ended: {reason:?}"));
                break;
            }
            Ok(_) => continue,
            Err(e) => {
                m.fail(e.kind(), e.to_string());
                break;
            }
        };
        if m.media(video, &payload, now_bytes, &job.live) {
            sleep.as_mut().reset(job.stop_at);
        }
    }
    let bytes = player.bytes_read();
    m.finish(bytes, &job.live)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn play_urls_are_checked() {
        assert!(check_url("rtmfp://127.0.0.1:1935/live/b").is_ok());
        assert!(check_url("rtmfp://127.0.0.1:1935/live").is_err());
        assert!(check_url("http://127.0.0.1:8080/live/b.flv").is_ok());
    }
}
