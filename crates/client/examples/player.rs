//! A minimal player on the library API: plays an RTMP stream and prints what arrives.
//!
//! ```text
//! cargo run -p sluice-client --example player -- rtmp://127.0.0.1/live/cam
//! ```
//!
//! (`sluice play` is the full tool: FLV output, duration, progress.)

use sluice_client::{Client, ClientOptions, PlayEvent, Url};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: player rtmp://host[:port]/app/stream");
        std::process::exit(2);
    };
    let url = Url::parse(&url)?;
    let mut player = Client::play(&url, &ClientOptions::default()).await?;
    let info = &player.connection().info().response;
    println!(
        "connected: fmsVer {} capabilities {}",
        info.fms_ver, info.capabilities
    );
    loop {
        match player.next_event().await? {
            PlayEvent::Metadata { properties, .. } => {
                let keys: Vec<&str> = properties.iter().map(|(k, _)| k).collect();
                println!("metadata: {}", keys.join(", "));
            }
            PlayEvent::Video { timestamp, payload } => {
                let info = sluice_flv::classify_video(&payload);
                println!(
                    "video {timestamp:>8} ms {:>7} bytes {}{}",
                    payload.len(),
                    info.codec,
                    if info.is_keyframe { " key" } else { "" }
                );
            }
            PlayEvent::Audio { timestamp, payload } => {
                println!("audio {timestamp:>8} ms {:>7} bytes", payload.len());
            }
            PlayEvent::Data { name, .. } => println!("data {name}"),
            PlayEvent::Status(s) => println!("status {}", s.code),
            PlayEvent::Control(c) => println!("control {c:?}"),
            PlayEvent::Eof(reason) => {
                println!("end of stream: {reason:?}");
                break;
            }
        }
    }
    player.stop().await?;
    Ok(())
}
