//! Fragmented MP4 (CMAF) from RTMP/FLV media, sans-IO: FLV tag bodies in, an init segment
//! and `moof`+`mdat` fragments out, for Media Source Extensions (live fMP4 over WebSocket or
//! HTTP), HLS/LL-HLS segments and parts, and MP4 recording.
//!
//! No sockets, no tokio, no clock: timestamps come from the RTMP messages, and the wall clock
//! for `prft` is read by the caller and passed in ([`Sample::wall_clock`]). Media bytes are
//! never copied: samples are `Bytes` slices of the RTMP message bodies and a [`Fragment`] is a
//! list of chunks (one header chunk, then the payloads) for vectored writes.
//!
//! # Call order
//!
//! ```text
//! let adapter = FlvToSamples::new();
//! let mut mux = Fmp4Muxer::new(MuxerOptions::default());
//! for each RTMP audio/video message (kind, timestamp, body):
//!     if let Some(item) = adapter.push(kind, timestamp, &body)?   // sequence header / frame / end
//!         mux.handle_flv_item(item)?                             // or handle_config / handle_sample
//!     while let Some(event) = mux.poll_event():
//!         MuxEvent::Init(init)     -> send init.data (first, and again after a codec change);
//!                                     init.mime is for MediaSource.isTypeSupported/addSourceBuffer
//!         MuxEvent::Fragment(frag) -> write frag.chunks() (or frag.to_bytes())
//! at the end: mux.flush(), then drain poll_event() again
//! ```
//!
//! A player joining mid-stream gets [`Fmp4Muxer::init_segment`] and then the fragments from
//! the next one that [`Fragment::starts_with_keyframe`]. For HLS, cut fragments where the
//! playlist needs them with [`FragmentPolicy::Manual`] and [`Fmp4Muxer::request_cut`]
//! (before handing in the first sample of the next part), and read
//! [`Fragment::duration_secs`] and [`Fragment::starts_with_keyframe`] (`INDEPENDENT=YES`).
//!
//! # Layers
//!
//! - [`flv`](FlvToSamples): FLV tag bodies (legacy and Enhanced RTMP v2) to [`TrackConfig`]s and
//!   [`Sample`]s.
//! - [`muxer`](Fmp4Muxer): durations, timestamps (32-bit wrap, monotonic `tfdt`), fragment
//!   cutting policy, init segment changes.
//! - [`write_init_segment`] / [`write_fragment`]: the box writers, usable on their own with
//!   samples whose durations the caller knows (for example a file recorder).
//! - [`codec_string`](TrackConfig::codec_string) and [`mime_type`]: RFC 6381.
//! - [`hls`]: HLS/LL-HLS playlists (RFC 8216bis) from the fragments, sans-IO.
//!
//! # Specifications
//!
//! ISO/IEC 14496-12 (ISOBMFF: `ftyp`, `moov`, `mvex`, `moof`, `tfdt`, `trun`, `prft`);
//! ISO/IEC 23000-19 (CMAF brands and structure); ISO/IEC 14496-15 (`avcC`, `hvcC`, codec
//! strings of Annex E); AV1 Codec ISO Media File Format Binding (`av1C`); VP Codec ISO Media
//! File Format Binding (`vpcC`); Encapsulation of Opus in ISOBMFF (`dOps`); ISO/IEC 14496-3
//! and 14496-14 (AudioSpecificConfig, `esds`); RFC 6381 (codecs parameter); Enhanced RTMP v2.
//!
//! # Scope
//!
//! One video and one audio track. Enhanced RTMP multitrack messages contribute the track with
//! one chosen trackId (0 by default). No edit lists, no `sidx`, no encryption.
#![forbid(unsafe_code)]

mod bmff;
mod codec_string;
mod demux;
mod demux_frag;
mod entry;
mod error;
mod flv;
mod fragment;
pub mod hls;
mod init;
mod muxer;
mod track;

#[cfg(test)]
mod muxer_tests;
#[cfg(test)]
mod testutil;

pub use codec_string::mime_type;
pub use demux::{Mp4DemuxError, Mp4File, Mp4Limits, Mp4Opener, Mp4Sample, Mp4Video};
pub use error::MuxError;
pub use flv::{FlvItem, FlvToSamples};
pub use fragment::{
    write_fragment, Fragment, FragmentSample, FragmentTrack, NtpTime, ProducerTime, TrackRun,
    NON_SYNC_SAMPLE_FLAGS, SYNC_SAMPLE_FLAGS,
};
pub use init::write_init_segment;
pub use muxer::{Fmp4Muxer, FragmentPolicy, InitSegment, MuxEvent, MuxerOptions, Sample};
pub use track::{
    opus_packet_samples, vp9_frame_size, AudioConfig, AudioFormat, OpusHead, TrackConfig,
    TrackKind, VideoConfig, VideoFormat, VIDEO_TIMESCALE,
};
