//! VOD over RTMP (issue 13 part 2; RTMP 1.0 §7.2.2.1 `play` with start and duration, §7.2.2.7
//! `seek`, §7.2.2.8 `pause`, §7.1.6 aggregate messages): applications configured in `[vod]`
//! serve stored FLV files (by default the app `vod` serves the recordings of `[record]`).
//!
//! A play goes through the decision chain like a live one; when the app is a VOD app and the
//! play asks for a recording (`start >= 0`, or `-2` while the stream is not live), the name is
//! looked up in the app's directory ([`lookup`]), the file opened and indexed off the
//! connection's task ([`reader`], over the sans-IO `sluice_flv::FlvOpener`), and the play
//! answered: `NetStream.Play.StreamNotFound` when there is no such file, else the recorded
//! stream sequence of `sluice_rtmp`'s server session (StreamBegin, Play.Reset, Play.Start,
//! StreamIsRecorded, `|RtmpSampleAccess`), `onMetaData` with the real duration, then media
//! paced by the player's buffer length plus a margin ([`play`]), packed into aggregate messages
//! when `[vod] aggregate` is on. Seek, pause and the end of the file follow the session's
//! recorded-stream API. MP4 files (H.264/HEVC + AAC) are demuxed by `sluice_mux::Mp4Opener`
//! ([`mp4`]). See docs/RECORDING.md ("VOD").

pub mod config;
pub mod lookup;
mod mp4;
mod play;
mod reader;

pub use config::{VodApp, VodSection};
pub use play::{Ended, StartMode, VodPlays};
