//! RTMP URLs: `scheme://host[:port]/app[/instance]/stream[?query]`.
//!
//! RTMP has no formal URL grammar; the de-facto one is librtmp's and ffmpeg's (`rtmpproto.c`),
//! and this module follows it:
//!
//! - the scheme is one of `rtmp`, `rtmps`, `rtmpe`, `rtmpt`, `rtmpte`, `rtmpts`, `rtmfp`
//!   ([`Scheme`]); default ports are 1935 for `rtmp`/`rtmpe` and (UDP) `rtmfp`, 443 for `rtmps`/`rtmpts` and 80 for
//!   `rtmpt`/`rtmpte`;
//! - the host may be a name, an IPv4 address or a bracketed IPv6 address (`[::1]:1935`);
//! - where the application ends and the stream name begins is ambiguous once instances are
//!   involved. The rule: with one or two path segments, the application is the first segment
//!   and the stream the second (`/live/cam` → app `live`, stream `cam`); with more than two
//!   segments the application is the first two (`app/instance`) and the stream is the rest
//!   (`/live/inst/cam` → app `live/inst`, stream `cam`), unless the second segment carries a
//!   type prefix such as `mp4:` (`/vod/mp4:dir/file.mp4` → app `vod`, stream `mp4:dir/file.mp4`).
//!   [`Url::with_app`] and [`Url::with_stream`] override the split when it guesses wrong;
//! - the query string belongs to the stream name (servers read tokens from the `publish` /
//!   `play` name: `cam?token=x`); when there is no stream name it is kept on the application
//!   instead (`connect` app `live?token=x`), as SRS-style `app?vhost=...` URLs expect;
//! - `tcUrl` (the `connect` parameter naming the URL) is `scheme://host[:port]/app`, the port
//!   written only when the URL had one.

use std::fmt;
use std::str::FromStr;

/// Longest URL accepted (bytes); longer input is a [`UrlError::TooLong`].
pub const MAX_URL_LEN: usize = 4096;

/// The transport named by the URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `rtmp://`: plain TCP.
    Rtmp,
    /// `rtmps://`: RTMP over TLS.
    Rtmps,
    /// `rtmpe://`: RTMP with the Adobe encryption handshake (RC4 over TCP).
    Rtmpe,
    /// `rtmpt://`: RTMP tunnelled over HTTP.
    Rtmpt,
    /// `rtmpte://`: encrypted RTMP tunnelled over HTTP.
    Rtmpte,
    /// `rtmpts://`: RTMP tunnelled over HTTPS.
    Rtmpts,
    /// `rtmfp://`: RTMP over RTMFP (UDP; [`crate::rtmfp`]).
    Rtmfp,
}

impl Scheme {
    /// Parse a scheme name (case-insensitive).
    pub fn parse(s: &str) -> Option<Scheme> {
        Some(match s.to_ascii_lowercase().as_str() {
            "rtmp" => Scheme::Rtmp,
            "rtmps" => Scheme::Rtmps,
            "rtmpe" => Scheme::Rtmpe,
            "rtmpt" => Scheme::Rtmpt,
            "rtmpte" => Scheme::Rtmpte,
            "rtmpts" => Scheme::Rtmpts,
            "rtmfp" => Scheme::Rtmfp,
            _ => return None,
        })
    }

    /// The scheme as written in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Rtmp => "rtmp",
            Scheme::Rtmps => "rtmps",
            Scheme::Rtmpe => "rtmpe",
            Scheme::Rtmpt => "rtmpt",
            Scheme::Rtmpte => "rtmpte",
            Scheme::Rtmpts => "rtmpts",
            Scheme::Rtmfp => "rtmfp",
        }
    }

    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Rtmp | Scheme::Rtmpe | Scheme::Rtmfp => 1935,
            Scheme::Rtmps | Scheme::Rtmpts => 443,
            Scheme::Rtmpt | Scheme::Rtmpte => 80,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not an RTMP URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// The URL is longer than [`MAX_URL_LEN`].
    #[error("URL is longer than {MAX_URL_LEN} bytes")]
    TooLong,
    /// There is no `scheme://` prefix.
    #[error("URL has no scheme: expected rtmp://host[:port]/app/stream")]
    MissingScheme,
    /// The scheme is not one of the RTMP family.
    #[error(
        "unknown URL scheme `{0}`: expected rtmp, rtmps, rtmpe, rtmpt, rtmpte, rtmpts or rtmfp"
    )]
    UnknownScheme(String),
    /// The host is empty.
    #[error("URL has no host")]
    MissingHost,
    /// A `[` of an IPv6 literal is not closed, or something other than `:port` follows it.
    #[error("malformed IPv6 host `{0}`")]
    BadIpv6(String),
    /// The port is not a number in 1..=65535.
    #[error("bad port `{0}`: expected a number from 1 to 65535")]
    BadPort(String),
    /// The host contains characters no host name has (spaces, `@`, ...).
    #[error("bad host `{0}`")]
    BadHost(String),
    /// There is no application name after the host.
    #[error("URL has no application: expected rtmp://host[:port]/app/stream")]
    MissingApp,
}

/// A parsed RTMP URL. See the [module docs](self) for the application/stream split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    scheme: Scheme,
    host: String,
    port: Option<u16>,
    app: String,
    stream: String,
    query: Option<String>,
}

impl Url {
    /// Parse `scheme://host[:port]/app[/instance]/stream[?query]`.
    pub fn parse(input: &str) -> Result<Url, UrlError> {
        let input = input.trim();
        if input.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong);
        }
        let (scheme, rest) = input.split_once("://").ok_or(UrlError::MissingScheme)?;
        let scheme = Scheme::parse(scheme).ok_or_else(|| UrlError::UnknownScheme(scheme.into()))?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q.to_owned())),
            None => (rest, None),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let (host, port) = split_authority(authority)?;
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let (app, stream) = match segments.as_slice() {
            [] => return Err(UrlError::MissingApp),
            [app] => ((*app).to_owned(), String::new()),
            [app, stream] => ((*app).to_owned(), (*stream).to_owned()),
            [first, second, ..] if second.contains(':') => {
                ((*first).to_owned(), segments[1..].join("/"))
            }
            [first, second, rest @ ..] => (format!("{first}/{second}"), rest.join("/")),
        };
        Ok(Url {
            scheme,
            host,
            port,
            app,
            stream,
            query: query.filter(|q| !q.is_empty()),
        })
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host (IPv6 literals without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port: the URL's, else the scheme's default.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.scheme.default_port())
    }

    /// The port as written in the URL, if any.
    pub fn explicit_port(&self) -> Option<u16> {
        self.port
    }

    /// The application (`app` or `app/instance`), without the query.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The stream name without the query (empty when the URL names none).
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The query string (without `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The stream name as sent in `publish` / `play`: the stream plus `?query` when there is one.
    pub fn stream_with_query(&self) -> String {
        match (&self.query, self.stream.is_empty()) {
            (Some(q), false) => format!("{}?{q}", self.stream),
            _ => self.stream.clone(),
        }
    }

    /// The application as sent in `connect`: the query is appended only when there is no
    /// stream name to carry it.
    pub fn connect_app(&self) -> String {
        match (&self.query, self.stream.is_empty()) {
            (Some(q), true) => format!("{}?{q}", self.app),
            _ => self.app.clone(),
        }
    }

    /// `scheme://host[:port]/app` (the `connect` command's `tcUrl`).
    pub fn tc_url(&self) -> String {
        format!(
            "{}://{}/{}",
            self.scheme,
            self.authority(),
            self.connect_app()
        )
    }

    /// `host[:port]` as written (IPv6 in brackets).
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        }
    }

    /// `host:port` with the effective port (IPv6 in brackets), for messages and connecting.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port())
        } else {
            format!("{}:{}", self.host, self.port())
        }
    }

    /// The same URL with another application (overrides the path split).
    #[must_use]
    pub fn with_app(mut self, app: impl Into<String>) -> Url {
        self.app = app.into().trim_matches('/').to_owned();
        self
    }

    /// The same URL with another stream name. A `?query` in `stream` replaces the URL's query.
    #[must_use]
    pub fn with_stream(mut self, stream: impl Into<String>) -> Url {
        let stream = stream.into();
        match stream.split_once('?') {
            Some((s, q)) => {
                self.stream = s.to_owned();
                self.query = (!q.is_empty()).then(|| q.to_owned());
            }
            None => self.stream = stream,
        }
        self
    }
}

impl FromStr for Url {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Url::parse(s)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}/{}", self.scheme, self.authority(), self.app)?;
        if !self.stream.is_empty() {
            write!(f, "/{}", self.stream)?;
        }
        if let Some(q) = &self.query {
            write!(f, "?{q}")?;
        }
        Ok(())
    }
}

fn split_authority(authority: &str) -> Result<(String, Option<u16>), UrlError> {
    // Drop userinfo (`user:pass@host`): RTMP has no use for it, and servers that want
    // credentials read them from the query.
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| UrlError::BadIpv6(authority.into()))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| UrlError::BadIpv6(authority.into()))?,
            ),
        };
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(UrlError::BadIpv6(authority.into()));
        }
        (host, port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "@#%/\\<>\"'`{}|^".contains(c))
    {
        return Err(UrlError::BadHost(host.into()));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(UrlError::BadPort(p.into())),
        },
    };
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn basic() {
        let u = p("rtmp://example.com/live/cam1");
        assert_eq!(u.scheme(), Scheme::Rtmp);
        assert_eq!(u.host(), "example.com");
        assert_eq!(u.port(), 1935);
        assert_eq!(u.explicit_port(), None);
        assert_eq!(u.app(), "live");
        assert_eq!(u.stream(), "cam1");
        assert_eq!(u.query(), None);
        assert_eq!(u.tc_url(), "rtmp://example.com/live");
        assert_eq!(u.to_string(), "rtmp://example.com/live/cam1");
    }

    #[test]
    fn port_and_tc_url() {
        let u = p("rtmp://127.0.0.1:19350/app/s");
        assert_eq!(u.port(), 19350);
        assert_eq!(u.tc_url(), "rtmp://127.0.0.1:19350/app");
    }

    #[test]
    fn default_ports() {
        assert_eq!(p("rtmps://h/a/s").port(), 443);
        assert_eq!(p("rtmpt://h/a/s").port(), 80);
        assert_eq!(p("rtmpe://h/a/s").port(), 1935);
        assert_eq!(p("rtmpte://h/a/s").port(), 80);
        assert_eq!(p("RTMPTS://h/a/s").port(), 443);
        assert_eq!(p("RTMPTS://h/a/s").scheme(), Scheme::Rtmpts);
    }

    #[test]
    fn instance_split() {
        let u = p("rtmp://h/live/inst/cam");
        assert_eq!((u.app(), u.stream()), ("live/inst", "cam"));
        assert_eq!(u.tc_url(), "rtmp://h/live/inst");
        let u = p("rtmp://h/live/inst/dir/cam");
        assert_eq!((u.app(), u.stream()), ("live/inst", "dir/cam"));
        // A type prefix in the second segment means it is the stream.
        let u = p("rtmp://h/vod/mp4:dir/file.mp4");
        assert_eq!((u.app(), u.stream()), ("vod", "mp4:dir/file.mp4"));
        // Empty segments are ignored.
        let u = p("rtmp://h//live//cam/");
        assert_eq!((u.app(), u.stream()), ("live", "cam"));
    }

    #[test]
    fn query_goes_with_the_stream() {
        let u = p("rtmp://h/live/cam?token=abc&x=1");
        assert_eq!(u.stream(), "cam");
        assert_eq!(u.query(), Some("token=abc&x=1"));
        assert_eq!(u.stream_with_query(), "cam?token=abc&x=1");
        assert_eq!(u.connect_app(), "live");
        assert_eq!(u.tc_url(), "rtmp://h/live");
        assert_eq!(u.to_string(), "rtmp://h/live/cam?token=abc&x=1");
        // No stream: the query stays on the app.
        let u = p("rtmp://h/live?vhost=v");
        assert_eq!(u.stream(), "");
        assert_eq!(u.connect_app(), "live?vhost=v");
        assert_eq!(u.tc_url(), "rtmp://h/live?vhost=v");
        // An empty query is no query.
        assert_eq!(p("rtmp://h/live/cam?").query(), None);
    }

    #[test]
    fn ipv6_and_userinfo() {
        let u = p("rtmp://[::1]:1936/live/s");
        assert_eq!(u.host(), "::1");
        assert_eq!(u.port(), 1936);
        assert_eq!(u.tc_url(), "rtmp://[::1]:1936/live");
        let u = p("rtmp://[fe80::1]/live/s");
        assert_eq!(u.port(), 1935);
        assert_eq!(u.authority(), "[fe80::1]");
        let u = p("rtmp://user:pw@host:1/live/s");
        assert_eq!((u.host(), u.port()), ("host", 1));
    }

    #[test]
    fn overrides() {
        let u = p("rtmp://h/live/inst/cam")
            .with_app("live")
            .with_stream("inst/cam");
        assert_eq!((u.app(), u.stream()), ("live", "inst/cam"));
        assert_eq!(u.tc_url(), "rtmp://h/live");
        let u = p("rtmp://h/live/cam?a=1").with_stream("other?b=2");
        assert_eq!(u.stream_with_query(), "other?b=2");
        let u = p("rtmp://h/live/cam?a=1").with_stream("other");
        assert_eq!(u.stream_with_query(), "other?a=1");
        assert_eq!(p("rtmp://h/x").with_app("/a/b/").app(), "a/b");
    }

    #[test]
    fn errors() {
        assert_eq!(Url::parse("live/cam"), Err(UrlError::MissingScheme));
        assert_eq!(
            Url::parse("http://h/live/cam"),
            Err(UrlError::UnknownScheme("http".into()))
        );
        assert_eq!(Url::parse("rtmp:///live/cam"), Err(UrlError::MissingHost));
        assert_eq!(Url::parse("rtmp://:1935/live"), Err(UrlError::MissingHost));
        assert_eq!(Url::parse("rtmp://h"), Err(UrlError::MissingApp));
        assert_eq!(Url::parse("rtmp://h/"), Err(UrlError::MissingApp));
        assert_eq!(
            Url::parse("rtmp://h:0/live"),
            Err(UrlError::BadPort("0".into()))
        );
        assert_eq!(
            Url::parse("rtmp://h:65536/live"),
            Err(UrlError::BadPort("65536".into()))
        );
        assert_eq!(
            Url::parse("rtmp://h:+5/live"),
            Err(UrlError::BadPort("+5".into()))
        );
        assert_eq!(
            Url::parse("rtmp://h:/live"),
            Err(UrlError::BadPort("".into()))
        );
        assert_eq!(
            Url::parse("rtmp://[::1/live"),
            Err(UrlError::BadIpv6("[::1".into()))
        );
        assert_eq!(
            Url::parse("rtmp://[::1]x/live"),
            Err(UrlError::BadIpv6("[::1]x".into()))
        );
        assert_eq!(
            Url::parse("rtmp://[zz]/live"),
            Err(UrlError::BadIpv6("[zz]".into()))
        );
        assert_eq!(
            Url::parse("rtmp://a b/live"),
            Err(UrlError::BadHost("a b".into()))
        );
        let long = format!("rtmp://h/live/{}", "x".repeat(MAX_URL_LEN));
        assert_eq!(Url::parse(&long), Err(UrlError::TooLong));
    }

    proptest! {
        #[test]
        fn display_round_trips(
            host in "[a-z][a-z0-9.-]{0,20}",
            port in proptest::option::of(1u16..),
            app in "[a-zA-Z0-9_-]{1,10}",
            stream in "[a-zA-Z0-9_.-]{0,10}",
            query in proptest::option::of("[a-z]{1,5}=[a-z0-9]{1,5}"),
        ) {
            let mut s = format!("rtmp://{host}");
            if let Some(p) = port { s.push_str(&format!(":{p}")); }
            s.push_str(&format!("/{app}"));
            if !stream.is_empty() { s.push_str(&format!("/{stream}")); }
            if let Some(q) = &query { s.push_str(&format!("?{q}")); }
            let u = Url::parse(&s).unwrap();
            prop_assert_eq!(u.to_string(), s.clone());
            prop_assert_eq!(Url::parse(&u.to_string()).unwrap(), u.clone());
            prop_assert_eq!(u.app(), app.as_str());
            prop_assert_eq!(u.stream(), stream.as_str());
        }

        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            let _ = Url::parse(&s);
            let _ = Url::parse(&format!("rtmp://{s}"));
        }
    }
}
