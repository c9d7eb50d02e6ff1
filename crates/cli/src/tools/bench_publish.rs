//! The publishers of `sluice bench --publish F.flv`: the file read into memory once, then each
//! publisher loops it in real time (timestamps continued across loops, metadata sent on the
//! first round only) and stamps every frame with its send time for the players' latency
//! ([`super::stamp`]).

use super::bench::MAX_PUBLISH_FILE;
use super::publish::{open_flv, script_message};
use super::stamp::{now_micros, stamp_audio, stamp_video};
use super::timemap::{Pacer, TimeMap};
use anyhow::Context as _;
use sluice_client::{Client, ClientError, ClientOptions, Timestamp, Url};
use sluice_flv::{FlvTag, TagType};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Default)]
pub(super) struct PublisherLive {
    pub(super) frames: AtomicU64,
    pub(super) bytes: AtomicU64,
    pub(super) errors: Mutex<Vec<String>>,
}

/// The file's tags, in memory, for looping.
pub(super) fn load_tags(path: &Path) -> anyhow::Result<Vec<FlvTag>> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot open {}", path.display()))?
        .len();
    if len > MAX_PUBLISH_FILE {
        anyhow::bail!(
            "{} is {} bytes; bench holds the file in memory and takes at most {MAX_PUBLISH_FILE}",
            path.display(),
            len
        );
    }
    let mut reader = open_flv(path)?;
    let mut tags = Vec::new();
    while let Some(t) = reader
        .next_tag()
        .with_context(|| format!("reading {}", path.display()))?
    {
        tags.push(t);
    }
    if !tags
        .iter()
        .any(|t| matches!(t.tag_type, TagType::AUDIO | TagType::VIDEO))
    {
        anyhow::bail!("{} has no audio or video tags", path.display());
    }
    Ok(tags)
}

pub(super) async fn run_publisher(
    url: Arc<Url>,
    name: String,
    options: ClientOptions,
    tags: Arc<Vec<FlvTag>>,
    stop: Arc<AtomicBool>,
    live: Arc<PublisherLive>,
    ready: tokio::sync::mpsc::UnboundedSender<Result<(), String>>,
) {
    let started = async {
        let conn = Client::connect(&url, &options).await?;
        conn.publish(&name).await
    }
    .await;
    let mut p = match started {
        Ok(p) => {
            let _ = ready.send(Ok(()));
            p
        }
        Err(e) => {
            let _ = ready.send(Err(format!("publisher {name}: {e}")));
            return;
        }
    };
    let mut map = TimeMap::new();
    let mut pacer = Pacer::new(Duration::from_secs(1));
    let mut first_round = true;
    let mut last_written = 0;
    let result: Result<(), ClientError> = async {
        'outer: loop {
            for tag in tags.iter() {
                if stop.load(Ordering::Relaxed) {
                    break 'outer;
                }
                let out = map.map(tag.timestamp);
                let ts = Timestamp(out as u32);
                match tag.tag_type {
                    TagType::AUDIO | TagType::VIDEO => {
                        p.sleep_until(pacer.due(out, Instant::now())).await?;
                        if tag.tag_type == TagType::AUDIO {
                            let data = stamp_audio(&tag.data, now_micros())
                                .unwrap_or_else(|| tag.data.clone());
                            p.send_audio(ts, data).await?;
                        } else {
                            let data = stamp_video(&tag.data, now_micros())
                                .unwrap_or_else(|| tag.data.clone());
                            p.send_video(ts, data).await?;
                        }
                        live.frames.fetch_add(1, Ordering::Relaxed);
                    }
                    TagType::SCRIPT => {
                        let (is_metadata, body) = script_message(&tag.data);
                        if !is_metadata || first_round {
                            p.send_data(if is_metadata { Timestamp::ZERO } else { ts }, body)
                                .await?;
                        }
                    }
                    _ => {}
                }
                let w = p.connection().bytes_written();
                live.bytes.fetch_add(w - last_written, Ordering::Relaxed);
                last_written = w;
            }
            first_round = false;
            map.restart();
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        if let Ok(mut errors) = live.errors.lock() {
            errors.push(format!("publisher {name}: {e}"));
        }
        return;
    }
    let _ = p.finish().await;
}

/// Stream names for `count` publishers of `url`'s stream (`STREAM` alone, or `STREAM_i`),
/// each with the URL's query.
pub fn publisher_names(url: &Url, count: u32) -> Vec<String> {
    let q = url.query().map(|q| format!("?{q}")).unwrap_or_default();
    if count <= 1 {
        return vec![format!("{}{q}", url.stream())];
    }
    (0..count)
        .map(|i| format!("{}_{i}{q}", url.stream()))
        .collect()
}
