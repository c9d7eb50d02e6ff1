//! The pure parts of relaying: URL templates, the redacted form of a URL that logs and the API
//! show, and the reconnect back-off schedule.
//!
//! A push URL's last path segment is usually a secret (a YouTube, Twitch or Facebook stream
//! key), and so may its query be: [`redact`] keeps `scheme://host[:port]/app` only, and nothing
//! outside this module and the task that connects sees the whole URL.

use sluice_client::{Url, UrlError};
use std::time::Duration;

/// `{app}` and `{stream}` in `template` replaced by `app` and `stream`.
pub fn fill(template: &str, app: &str, stream: &str) -> String {
    template.replace("{app}", app).replace("{stream}", stream)
}

/// Why a relay URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not an RTMP URL (the reason never quotes the URL, which may hold a key).
    #[error("not an RTMP URL: {0}")]
    Url(#[from] UrlError),
    /// A push URL needs a stream name (the key) after the app.
    #[error("the URL names no stream after the application")]
    NoStream,
}

/// Parse a push target: an RTMP URL with an app and a stream name.
pub fn parse_target(url: &str) -> Result<Url, TargetError> {
    let u = Url::parse(url)?;
    if u.stream().is_empty() {
        return Err(TargetError::NoStream);
    }
    Ok(u)
}

/// The URL to pull `stream` of `app` from an upstream application URL (`rtmp://origin/live`,
/// `{app}` filled in): the stream name replaces whatever the URL named after its app.
pub fn upstream_url(upstream: &str, app: &str, stream: &str) -> Result<Url, TargetError> {
    let filled = fill(upstream, app, "");
    Ok(Url::parse(filled.trim_end_matches('/'))?.with_stream(stream))
}

/// `scheme://host[:port]/app` of `url`: what logs and the API show of a relay URL (the stream
/// name and the query, where keys live, are left out).
pub fn redact(url: &Url) -> String {
    format!("{}://{}/{}", url.scheme(), url.authority(), url.app())
}

/// [`redact`] of a URL string; `(invalid URL)` when it does not parse.
pub fn redact_str(url: &str) -> String {
    Url::parse(url).map_or_else(|_| "(invalid URL)".to_owned(), |u| redact(&u))
}

/// Exponential back-off: `min`, `2·min`, `4·min`, … capped at `max`; [`Backoff::reset`] after a
/// success. No jitter: each target has its own schedule, started when its own publish started,
/// so targets do not retry in lock-step unless they failed at the same instant.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// A schedule from `min` to `max` (`min` is raised to at least 1 ms, `max` to `min`).
    pub fn new(min: Duration, max: Duration) -> Backoff {
        let min = min.max(Duration::from_millis(1));
        let max = max.max(min);
        Backoff {
            min,
            max,
            next: min,
        }
    }

    /// The wait before the next attempt; doubles the one after.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    /// Start again from `min` (the target connected).
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert_eq!(
            fill("rtmp://a/{app}/{stream}?k={stream}", "live", "cam"),
            "rtmp://a/live/cam?k=cam"
        );
        assert_eq!(
            fill("rtmps://b/app/key", "live", "cam"),
            "rtmps://b/app/key"
        );
    }

    #[test]
    fn targets_and_upstreams_parse() {
        let t = parse_target("rtmps://live-api-s.facebook.com:443/rtmp/FB-123-0-Ab").unwrap();
        assert_eq!((t.app(), t.stream()), ("rtmp", "FB-123-0-Ab"));
        assert_eq!(parse_target("rtmp://h/live"), Err(TargetError::NoStream));
        assert!(parse_target("http://h/live/x").is_err());
        let u = upstream_url("rtmp://origin:1935/live", "live", "cam").unwrap();
        assert_eq!(u.to_string(), "rtmp://origin:1935/live/cam");
        let u = upstream_url("rtmp://origin/{app}/", "edge", "cam").unwrap();
        assert_eq!((u.app(), u.stream()), ("edge", "cam"));
    }

    #[test]
    fn redaction_keeps_scheme_host_and_app_only() {
        let u = parse_target("rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl?x=secret").unwrap();
        assert_eq!(redact(&u), "rtmp://a.rtmp.youtube.com/live2");
        assert_eq!(
            redact_str("rtmps://h:8443/app/inst/KEY"),
            "rtmps://h:8443/app/inst"
        );
        assert_eq!(redact_str("nope"), "(invalid URL)");
        assert!(!redact_str("rtmp://h/live/SECRETKEY").contains("SECRET"));
    }

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(1000), ms(30_000));
        let got: Vec<_> = (0..7).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(got, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
        b.reset();
        assert_eq!(b.next_delay(), ms(1000));
        let mut b = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(b.next_delay(), ms(1));
    }
}
