//! Writing an [`HlsPlaylist`] as an M3U8 media playlist (RFC 8216bis §4), and the names of
//! the resources it points at.
//!
//! ```text
//! #EXTM3U
//! #EXT-X-VERSION:9                      (7 without parts and skips: EXT-X-MAP needs 6+)
//! #EXT-X-TARGETDURATION:1
//! #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=6.0,PART-HOLD-BACK=0.600
//! #EXT-X-PART-INF:PART-TARGET=0.200
//! #EXT-X-MEDIA-SEQUENCE:40
//! #EXT-X-DISCONTINUITY-SEQUENCE:1       (when a discontinuity left the window)
//! #EXT-X-SKIP:SKIPPED-SEGMENTS=5        (a delta update, _HLS_skip=YES)
//! #EXT-X-DISCONTINUITY                  (first segment after a publisher restart)
//! #EXT-X-MAP:URI="init1.mp4"            (again after a change of init)
//! #EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:00.000Z
//! #EXT-X-PART:DURATION=0.200,URI="part45.0.m4s",INDEPENDENT=YES   (recent segments only)
//! #EXTINF:1.000,
//! seg45.m4s
//! #EXT-X-PRELOAD-HINT:TYPE=PART,URI="part47.3.m4s"
//! ```
//!
//! Parts are listed for the segments within three target durations of the playlist's end
//! (§4.4.4.9: older ones SHOULD be removed). Every URI is `prefix` + name + `?query`, so a
//! signed query reaches every resource.

use std::fmt::Write;

use super::playlist::{HlsPlaylist, Segment};

/// A resource a playlist points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `init{id}.mp4`.
    Init(u32),
    /// `seg{msn}.m4s`.
    Segment(u64),
    /// `part{msn}.{index}.m4s`.
    Part(u64, usize),
}

impl Resource {
    /// The file name.
    pub fn name(&self) -> String {
        match self {
            Resource::Init(id) => format!("init{id}.mp4"),
            Resource::Segment(msn) => format!("seg{msn}.m4s"),
            Resource::Part(msn, i) => format!("part{msn}.{i}.m4s"),
        }
    }

    /// Parses a file name written by [`Resource::name`].
    pub fn parse(name: &str) -> Option<Resource> {
        fn num(s: &str) -> Option<&str> {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
        }
        if let Some(id) = name
            .strip_prefix("init")
            .and_then(|s| s.strip_suffix(".mp4"))
        {
            return num(id)?.parse().ok().map(Resource::Init);
        }
        let body = name.strip_suffix(".m4s")?;
        if let Some(msn) = body.strip_prefix("seg") {
            return num(msn)?.parse().ok().map(Resource::Segment);
        }
        let (msn, i) = body.strip_prefix("part")?.split_once('.')?;
        Some(Resource::Part(
            num(msn)?.parse().ok()?,
            num(i)?.parse().ok()?,
        ))
    }
}

/// How to render one playlist response.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions<'a> {
    /// Put before every resource name (for example `cam/hls/k1x-`).
    pub prefix: &'a str,
    /// Appended as `?query` to every URI (the request's signed query), when not empty.
    pub query: Option<&'a str>,
    /// A delta update (`_HLS_skip=YES`), if the playlist offers them.
    pub skip: bool,
}

/// `value` seconds with three decimals.
fn secs(value: f64) -> String {
    format!("{value:.3}")
}

/// A Unix time in milliseconds as `YYYY-MM-DDThh:mm:ss.sssZ` (RFC 3339, UTC).
pub fn format_program_date_time(unix_ms: u64) -> String {
    sluice_flv::UtcTime::from_unix_ms(unix_ms).rfc3339()
}

impl HlsPlaylist {
    /// `CAN-SKIP-UNTIL` in seconds (six target durations, §4.4.3.8), when delta updates are on
    /// and the window is long enough for a skip to save anything.
    pub fn can_skip_until(&self) -> Option<u32> {
        let until = 6 * self.target_duration;
        let window = self.cfg.window_segments as u64 * u64::from(self.cfg.segment_target_ms);
        (self.cfg.delta_updates && window > u64::from(until) * 1000).then_some(until)
    }

    /// The number of segments a delta update leaves out: those that end more than
    /// `CAN-SKIP-UNTIL` before the end of the playlist.
    fn skipped(&self) -> usize {
        let Some(until) = self.can_skip_until() else {
            return 0;
        };
        let mut from_end = self.open.as_ref().map_or(0.0, Segment::duration);
        let mut keep = 0;
        for s in self.segments.iter().rev() {
            if from_end >= f64::from(until) {
                break;
            }
            from_end += s.duration();
            keep += 1;
        }
        self.segments.len() - keep
    }

    /// The playlist text.
    pub fn render(&self, opts: &RenderOptions<'_>) -> String {
        let ll = self.low_latency();
        let skip_until = self.can_skip_until();
        let skipped = if opts.skip { self.skipped() } else { 0 };
        let query = opts.query.filter(|q| !q.is_empty());
        let uri = |r: Resource| match query {
            Some(q) => format!("{}{}?{q}", opts.prefix, r.name()),
            None => format!("{}{}", opts.prefix, r.name()),
        };
        let mut o = String::with_capacity(4096);
        let version = if ll || skip_until.is_some() { 9 } else { 7 };
        let _ = writeln!(o, "#EXTM3U\n#EXT-X-VERSION:{version}");
        let _ = writeln!(o, "#EXT-X-TARGETDURATION:{}", self.target_duration);
        let part_target = f64::from(self.cfg.part_target_ms) / 1000.0;
        if ll || skip_until.is_some() {
            o.push_str("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES");
            if let Some(u) = skip_until {
                let _ = write!(o, ",CAN-SKIP-UNTIL={u}.0");
            }
            if ll {
                let _ = write!(o, ",PART-HOLD-BACK={}", secs(3.0 * part_target));
            }
            o.push('\n');
        }
        if ll {
            let _ = writeln!(o, "#EXT-X-PART-INF:PART-TARGET={}", secs(part_target));
        }
        let _ = writeln!(o, "#EXT-X-MEDIA-SEQUENCE:{}", self.media_sequence());
        if self.discontinuity_sequence > 0 {
            let _ = writeln!(
                o,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                self.discontinuity_sequence
            );
        }
        if skipped > 0 {
            let _ = writeln!(o, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
        }
        // Parts are listed from the first segment within 3 target durations of the end.
        let mut from_end = 0.0;
        let mut parts_from = self.open.as_ref().map_or(u64::MAX, |s| s.msn);
        for s in self.segments.iter().rev() {
            from_end += s.duration();
            if from_end > 3.0 * f64::from(self.target_duration) {
                break;
            }
            parts_from = s.msn;
        }
        let mut map = None;
        // Without parts, the open segment is not listed until it is complete.
        let open = self.open.iter().filter(|_| ll);
        for s in self.segments.iter().skip(skipped).chain(open) {
            if s.discontinuity {
                o.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if map != Some(s.init) {
                let _ = writeln!(o, "#EXT-X-MAP:URI=\"{}\"", uri(Resource::Init(s.init)));
                map = Some(s.init);
            }
            let _ = writeln!(
                o,
                "#EXT-X-PROGRAM-DATE-TIME:{}",
                format_program_date_time(s.program_date_time_ms)
            );
            if ll && s.msn >= parts_from {
                for (i, p) in s.parts.iter().enumerate() {
                    let _ = write!(
                        o,
                        "#EXT-X-PART:DURATION={},URI=\"{}\"",
                        secs(p.duration),
                        uri(Resource::Part(s.msn, i))
                    );
                    o.push_str(if p.independent {
                        ",INDEPENDENT=YES\n"
                    } else {
                        "\n"
                    });
                }
            }
            if s.data.is_some() {
                let _ = writeln!(
                    o,
                    "#EXTINF:{},\n{}",
                    secs(s.duration()),
                    uri(Resource::Segment(s.msn))
                );
            }
        }
        if let Some((msn, i)) = self.preload_hint() {
            let _ = writeln!(
                o,
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"",
                uri(Resource::Part(msn, i))
            );
        }
        o
    }
}
