//! A minimal publisher on the library API: sends an FLV file to an RTMP URL in real time.
//!
//! ```text
//! cargo run -p sluice-client --example publisher -- input.flv rtmp://127.0.0.1/live/cam
//! ```
//!
//! (`sluice publish` is the full tool: looping, timestamp re-basing, progress.)

use sluice_client::{Client, ClientOptions, Timestamp, Url};
use sluice_flv::{FlvReader, TagType};
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(url)) = (args.next(), args.next()) else {
        eprintln!("usage: publisher INPUT.flv rtmp://host[:port]/app/stream");
        std::process::exit(2);
    };
    let url = Url::parse(&url)?;
    let mut reader = FlvReader::new(std::io::BufReader::new(std::fs::File::open(&path)?));
    reader.header()?;
    let mut publisher = Client::publish(&url, &ClientOptions::default()).await?;
    let start = tokio::time::Instant::now();
    let mut first_ts = None;
    while let Some(tag) = reader.next_tag()? {
        // Pace by the tag timestamps, relative to the first one.
        let base = *first_ts.get_or_insert(tag.timestamp);
        let due = Duration::from_millis(u64::from(tag.timestamp.saturating_sub(base)));
        publisher.sleep_until(start + due).await?;
        let ts = Timestamp(tag.timestamp);
        match tag.tag_type {
            TagType::AUDIO => publisher.send_audio(ts, tag.data).await?,
            TagType::VIDEO => publisher.send_video(ts, tag.data).await?,
            TagType::SCRIPT => {
                if let Ok(script) = sluice_flv::parse_script(&tag.data) {
                    if let Some(md) = script.metadata() {
                        publisher.send_metadata(md.clone()).await?;
                    }
                }
            }
            _ => {}
        }
    }
    publisher.finish().await?;
    println!("published {path} to {url}");
    Ok(())
}
