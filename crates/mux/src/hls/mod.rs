//! HLS and Low-Latency HLS media playlists from memory (RFC 8216bis), on the fMP4 muxer.
//!
//! Sans-IO like the rest of the crate: media in, playlist state out; the caller serves it.
//!
//! - [`HlsSegmenter`] (`segmenter.rs`): samples in, cut into segments on key frames and into
//!   parts of about `part_target_ms` through one [`crate::Fmp4Muxer`] per stream (every client
//!   gets the same bytes).
//! - [`HlsPlaylist`] (`playlist.rs`): the window of segments and parts, init segments, program
//!   date times, discontinuities, and what a blocking reload waits for ([`Blocking`]).
//! - [`HlsPlaylist::render`] (`render.rs`): the M3U8 text, with URIs named by [`Resource`].
//!
//! # Call order
//!
//! ```text
//! let mut seg = HlsSegmenter::new(HlsConfig::default());
//! for each RTMP audio/video message: seg.handle_item(adapter.push(kind, ts, &body)?, wall_ms)?
//! a new publisher:                   seg.handle_restart()
//! the publisher left:                seg.end()
//! a playlist request:  match seg.playlist().blocking(msn, part) { Ready => render, Wait => wait
//!                      for seg.playlist().version() to change (bounded), Reject => 400 }
//!                      seg.playlist().render(&RenderOptions { prefix, query, skip })
//! a resource request:  Resource::parse(name) -> playlist.init(id) / segment(msn) / part(msn, i)
//! ```
//!
//! # Specifications
//!
//! RFC 8216bis (HTTP Live Streaming 2nd edition, draft 16): §4.4.3.8 `EXT-X-SERVER-CONTROL`,
//! §4.4.3.7 `EXT-X-PART-INF`, §4.4.4.9 `EXT-X-PART`, §4.4.5.3 `EXT-X-PRELOAD-HINT`,
//! §4.4.5.2 `EXT-X-SKIP`, §6.2.5.2 blocking playlist reload, §6.2.5.1 delta updates.

mod playlist;
mod render;
mod segmenter;

#[cfg(test)]
mod tests;

pub use playlist::{Blocking, HlsConfig, HlsPlaylist, Part, PartLookup, Segment};
pub use render::{format_program_date_time, RenderOptions, Resource};
pub use segmenter::HlsSegmenter;
