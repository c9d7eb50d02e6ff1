//! Recordings over HTTP: ffmpeg publishes a short stream that `[record]` records; the file is
//! then listed by `GET /api/v1/recordings` and served at `/recordings/{path}` with Range
//! requests (ffprobe reads it over HTTP, a byte range gets `206`), and nothing outside the
//! recordings directory can be fetched.

mod live_support;

use live_support::{api_wait, fixture, http_get, publish, temp_dir, Sluice};
use sluice_testkit::{tool, FixtureOpts};
use std::process::Command;
use std::time::Duration;

#[test]
fn recordings_are_listed_and_served_with_ranges() {
    let dir = temp_dir();
    let rec = dir.path().join("rec");
    let rec_s = rec.to_str().unwrap().to_owned();
    let (sluice, http) = Sluice::start_with_http(&[
        ("SLUICE_RECORD_RECORD", "all"),
        ("SLUICE_RECORD_DIR", &rec_s),
    ]);
    let input = fixture(FixtureOpts::default().with_duration(Duration::from_secs(5)));
    let mut publisher = publish(&input, &sluice.url("cam"));
    publisher.wait_success(Duration::from_secs(30));
    sluice.wait_log(&["recording file closed"], Duration::from_secs(15));

    let list = api_wait(
        &sluice,
        http,
        "/api/v1/recordings",
        Duration::from_secs(10),
        |v| v["items"].as_array().is_some_and(|a| a.len() == 1),
    );
    let item = &list["items"][0];
    let url = item["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with("/recordings/live/cam-") && url.ends_with(".flv"),
        "{list}"
    );
    let size = item["bytes"].as_u64().unwrap();
    assert!(size > 10_000, "{list}");
    assert_eq!(list["truncated"], false);

    // A byte range.
    let (head, body) = http_get(
        http,
        &url,
        "Range: bytes=0-99\r\n",
        Duration::from_secs(10),
        100,
    );
    assert!(head.contains(" 206 "), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-range: bytes 0-99/{size}")),
        "{head}"
    );
    assert_eq!(&body[..3], b"FLV");

    // ffprobe reads it over HTTP: the codecs and the duration of the publish.
    let out = Command::new(tool("ffprobe"))
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name",
            "-of",
            "csv=p=0",
        ])
        .arg(format!("http://127.0.0.1:{http}{url}"))
        .output()
        .expect("run ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("h264") && text.contains("aac"), "{text}");
    let duration: f64 = text
        .lines()
        .filter_map(|l| l.trim().parse::<f64>().ok())
        .next_back()
        .unwrap_or(0.0);
    assert!(
        (3.5..7.0).contains(&duration),
        "duration {duration}: {text}"
    );

    // Nothing outside the directory, and unknown files are JSON 404s.
    std::fs::write(dir.path().join("secret.flv"), b"FLVsecret").unwrap();
    for path in [
        "/recordings/../secret.flv",
        "/recordings/%2e%2e/secret.flv",
        "/recordings/live/none.flv",
    ] {
        let (head, body) = http_get(http, path, "", Duration::from_secs(10), 1_000_000);
        assert!(
            !head.contains(" 200 ") && !head.contains(" 206 "),
            "{path}: {head}"
        );
        assert!(!String::from_utf8_lossy(&body).contains("secret"), "{path}");
    }
}
