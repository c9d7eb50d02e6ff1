//! RTMFP wire transcripts: what `tc_relay --capture` records and `tests/replay.rs` replays.
//!
//! A transcript is every call made into the endpoint (datagrams in, timer runs) at the instant
//! it was made, and everything that came out (datagrams, the relay's notes), in order. Given the
//! endpoint's seed, the same calls at the same instants must give the same output: the keys,
//! cookies (which carry the time since the endpoint's epoch, RFC 7016 §3.5.1.2) and session IDs
//! come from the seeded rng and the recorded clock.
//!
//! Text, one record a line, UTF-8; fields separated by one space:
//!
//! ```text
//! sluice-rtmfp-transcript 1          first line: format and version
//! # …                                 a comment (how it was made); ignored
//! seed 42                             Endpoint rng = StdRng::seed_from_u64(42)
//! endpoint server                     EndpointConfig::server() (the only preset so far)
//! tc default                          TcServerConfig::default() (the only preset so far)
//! in <µs> <addr> <hex>                handle_datagram(epoch + µs, addr, bytes)
//! drop <µs> <error>                   … and it returned this error (Display)
//! tick <µs>                           handle_timeout(epoch + µs)
//! out <µs> <addr> <hex>               a datagram poll_transmit gave after the call before
//! ev <µs> <text>                      a relay note (connect, publish, play, media, close …)
//! ```
//!
//! Times are whole microseconds since the endpoint's epoch: the capture rounds its clock down
//! to them before calling the endpoint, so a replay at `epoch + µs` gives the endpoint the very
//! same durations. Hex is lower case.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use sluice_rtmfp::tc::TcServerConfig;
use sluice_rtmfp::{Endpoint, EndpointConfig};

use super::relay::Relay;

/// First line of every transcript.
pub const MAGIC: &str = "sluice-rtmfp-transcript 1";

/// One line of a transcript (comments are not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A datagram handed to the endpoint.
    In {
        /// Microseconds since the epoch.
        t: u64,
        /// From.
        from: SocketAddr,
        /// The datagram.
        bytes: Vec<u8>,
    },
    /// The endpoint refused the datagram before it.
    Drop {
        /// Microseconds since the epoch.
        t: u64,
        /// The error's text.
        error: String,
    },
    /// A timer run.
    Tick {
        /// Microseconds since the epoch.
        t: u64,
    },
    /// A datagram the endpoint sent.
    Out {
        /// Microseconds since the epoch.
        t: u64,
        /// To.
        to: SocketAddr,
        /// The datagram.
        bytes: Vec<u8>,
    },
    /// A relay note.
    Ev {
        /// Microseconds since the epoch.
        t: u64,
        /// The note.
        text: String,
    },
}

impl Record {
    /// The record's time.
    pub fn time(&self) -> u64 {
        match self {
            Record::In { t, .. }
            | Record::Drop { t, .. }
            | Record::Tick { t }
            | Record::Out { t, .. }
            | Record::Ev { t, .. } => *t,
        }
    }

    /// The record as its line (no newline).
    pub fn line(&self) -> String {
        match self {
            Record::In { t, from, bytes } => format!("in {t} {from} {}", to_hex(bytes)),
            Record::Drop { t, error } => format!("drop {t} {}", one_line(error)),
            Record::Tick { t } => format!("tick {t}"),
            Record::Out { t, to, bytes } => format!("out {t} {to} {}", to_hex(bytes)),
            Record::Ev { t, text } => format!("ev {t} {}", one_line(text)),
        }
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// A whole transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// Comment lines, without the `# `.
    pub comments: Vec<String>,
    /// The endpoint's rng seed.
    pub seed: u64,
    /// The endpoint configuration preset (`server`).
    pub endpoint: String,
    /// The TC server configuration preset (`default`).
    pub tc: String,
    /// The records, in order.
    pub records: Vec<Record>,
}

/// A transcript that does not parse: the line number (1-based) and what is wrong.
#[derive(Debug)]
pub struct ParseError {
    /// Line number.
    pub line: usize,
    /// What is wrong.
    pub what: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "transcript line {}: {}", self.line, self.what)
    }
}

/// Lower-case hex.
pub fn to_hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Transcript {
    /// An empty transcript for `seed` with the default presets.
    pub fn new(seed: u64) -> Transcript {
        Transcript {
            comments: Vec::new(),
            seed,
            endpoint: "server".into(),
            tc: "default".into(),
            records: Vec::new(),
        }
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut s = format!("{MAGIC}\n");
        for c in &self.comments {
            let _ = writeln!(s, "# {}", one_line(c));
        }
        let _ = writeln!(s, "seed {}", self.seed);
        let _ = writeln!(s, "endpoint {}", self.endpoint);
        let _ = writeln!(s, "tc {}", self.tc);
        for r in &self.records {
            s.push_str(&r.line());
            s.push('\n');
        }
        s
    }

    /// Parse a file's text.
    pub fn parse(text: &str) -> Result<Transcript, ParseError> {
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        let err = |line: usize, what: &str| ParseError {
            line,
            what: what.to_owned(),
        };
        match lines.next() {
            Some((_, MAGIC)) => {}
            _ => return Err(err(1, "not a version 1 transcript")),
        }
        let mut t = Transcript::new(0);
        let mut seed = None;
        for (n, line) in lines {
            if let Some(c) = line.strip_prefix('#') {
                t.comments.push(c.trim_start().to_owned());
                continue;
            }
            let (kind, rest) = line.split_once(' ').ok_or_else(|| err(n, "no fields"))?;
            let time = |f: &str| f.parse::<u64>().map_err(|_| err(n, "bad time"));
            let addr = |f: &str| f.parse::<SocketAddr>().map_err(|_| err(n, "bad address"));
            let bytes = |f: &str| from_hex(f).ok_or_else(|| err(n, "bad hex"));
            let mut f = rest.splitn(3, ' ');
            let mut field = || f.next().ok_or_else(|| err(n, "missing field"));
            let r = match kind {
                "seed" => {
                    seed = Some(rest.parse().map_err(|_| err(n, "bad seed"))?);
                    continue;
                }
                "endpoint" => {
                    t.endpoint = rest.to_owned();
                    continue;
                }
                "tc" => {
                    t.tc = rest.to_owned();
                    continue;
                }
                "in" => Record::In {
                    t: time(field()?)?,
                    from: addr(field()?)?,
                    bytes: bytes(field()?)?,
                },
                "out" => Record::Out {
                    t: time(field()?)?,
                    to: addr(field()?)?,
                    bytes: bytes(field()?)?,
                },
                "tick" => Record::Tick { t: time(field()?)? },
                "drop" | "ev" => {
                    let (at, text) = rest.split_once(' ').unwrap_or((rest, ""));
                    let (t, text) = (time(at)?, text.to_owned());
                    if kind == "drop" {
                        Record::Drop { t, error: text }
                    } else {
                        Record::Ev { t, text }
                    }
                }
                _ => return Err(err(n, "unknown record")),
            };
            t.records.push(r);
        }
        t.seed = seed.ok_or_else(|| err(0, "no seed line"))?;
        Ok(t)
    }
}

/// The endpoint configuration a preset names.
pub fn endpoint_config(preset: &str) -> Option<EndpointConfig> {
    (preset == "server").then(EndpointConfig::server)
}

/// The TC server configuration a preset names.
pub fn tc_config(preset: &str) -> Option<TcServerConfig> {
    (preset == "default").then(TcServerConfig::default)
}

/// An endpoint and a relay driven by recorded calls: the capture makes each call at the
/// (rounded) time it happens, the replay at the recorded one; both get the records back.
pub struct Recorder {
    /// The endpoint (seeded).
    pub ep: Endpoint,
    /// The relay on top.
    pub relay: Relay,
    /// The endpoint's epoch.
    pub epoch: Instant,
    /// Every call and its output so far.
    pub records: Vec<Record>,
}

impl Recorder {
    /// An endpoint for the transcript's seed and presets, with epoch `epoch`.
    pub fn new(header: &Transcript, epoch: Instant) -> Result<Recorder, String> {
        let cfg = endpoint_config(&header.endpoint)
            .ok_or_else(|| format!("unknown endpoint preset {:?}", header.endpoint))?;
        let tc =
            tc_config(&header.tc).ok_or_else(|| format!("unknown tc preset {:?}", header.tc))?;
        Ok(Recorder {
            ep: Endpoint::new(cfg, epoch, Box::new(StdRng::seed_from_u64(header.seed))),
            relay: Relay::new(tc),
            epoch,
            records: Vec::new(),
        })
    }

    /// The instant `t` µs after the epoch.
    pub fn at(&self, t: u64) -> Instant {
        self.epoch + Duration::from_micros(t)
    }

    /// `handle_datagram` at `t`, then the relay and the transmits.
    pub fn datagram(&mut self, t: u64, from: SocketAddr, bytes: &[u8]) {
        let now = self.at(t);
        self.records.push(Record::In {
            t,
            from,
            bytes: bytes.to_vec(),
        });
        if let Err(e) = self.ep.handle_datagram(now, from, bytes) {
            self.records.push(Record::Drop {
                t,
                error: e.to_string(),
            });
        }
        self.after(t);
    }

    /// `handle_timeout` at `t`, then the relay and the transmits.
    pub fn tick(&mut self, t: u64) {
        self.records.push(Record::Tick { t });
        self.ep.handle_timeout(self.at(t));
        self.after(t);
    }

    fn after(&mut self, t: u64) {
        let mut notes = Vec::new();
        let now = self.at(t);
        self.relay.handle_events(&mut self.ep, now, &mut notes);
        self.records
            .extend(notes.into_iter().map(|text| Record::Ev { t, text }));
        while let Some((to, d)) = self.ep.poll_transmit() {
            self.records.push(Record::Out {
                t,
                to,
                bytes: d.to_vec(),
            });
        }
    }
}
