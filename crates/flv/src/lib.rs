//! FLV files and tags, legacy and Enhanced RTMP audio/video tag headers, and codec
//! configuration records.
//!
//! The FLV tag body of an audio (8) or video (9) tag is byte-for-byte the payload of the RTMP
//! message of the same type, so everything here serves both the file format and the RTMP layer.
//!
//! Specifications implemented:
//! - Adobe Flash Video File Format Specification v10.1, Annex E: FLV header, tags,
//!   PreviousTagSize ([`FlvHeader`], [`FlvTag`], [`FlvDemuxer`], [`FlvReader`], [`FlvWriter`]),
//!   legacy AudioTagHeader / VideoTagHeader ([`parse_audio_header`], [`parse_video_header`]),
//!   SCRIPTDATA ([`parse_script`]); opening a stored file for playback with its keyframe index
//!   ([`FlvOpener`], [`FlvTagStream`]).
//! - Enhanced RTMP v2 (veovera, v2-2026-01-31-r2): ExAudioTagHeader / ExVideoTagHeader with
//!   FOURCC, ModEx (TimestampOffsetNano), multitrack, command frames, Metadata packets,
//!   MultichannelConfig; the legacy form of `avc1`/`mp4a` tags for legacy-only players
//!   ([`legacy_video`], [`legacy_audio`]).
//! - ISO/IEC 14496-15 (AVC and HEVC decoder configuration records) with H.264 / H.265 SPS
//!   picture size parsing; ISO/IEC 14496-3 AudioSpecificConfig; AV1 (av1C) and VP (vpcC)
//!   configuration records; OpusHead and FLAC STREAMINFO for descriptions.
//!
//! Everything that reads peer data is bounds-checked and returns [`FlvError`]; nothing panics on
//! input and nothing allocates from a declared length without a bound ([`FlvLimits`]). The
//! demuxer is sans-IO (tokio-util `Decoder` contract); tag bodies are `Bytes` slices of the
//! input, never copied.
//!
//! The hot path of a media server uses [`classify_video`] / [`classify_audio`], which never fail
//! and never allocate.
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use sluice_flv::{classify_video, FlvDemuxer, FlvEvent, FlvTag, FlvWriter, TagType};
//!
//! // Write a one-tag file: a legacy AVC end-of-sequence video tag.
//! let mut w = FlvWriter::new(Vec::new(), false, true)?;
//! w.write_tag(&FlvTag {
//!     tag_type: TagType::VIDEO,
//!     timestamp: 40,
//!     stream_id: 0,
//!     filter: false,
//!     data: Bytes::from_static(&[0x17, 0x02, 0, 0, 0]),
//! })?;
//! let file = w.into_inner();
//!
//! // Demux it incrementally, as bytes arrive.
//! let mut demux = FlvDemuxer::new();
//! let mut buf = BytesMut::new();
//! let mut tags = Vec::new();
//! for piece in file.chunks(7) {
//!     buf.extend_from_slice(piece);
//!     while let Some(event) = demux.decode(&mut buf)? {
//!         if let FlvEvent::Tag(tag) = event {
//!             tags.push(tag);
//!         }
//!     }
//! }
//! demux.finish(&buf)?;
//! let info = classify_video(&tags[0].data);
//! assert!(info.is_sequence_end);
//! assert_eq!(info.codec.to_string(), "h264");
//! # Ok::<(), sluice_flv::FlvError>(())
//! ```
#![forbid(unsafe_code)]

mod codes;
mod read;

mod aac;
mod audio;
mod av1;
mod avc;
#[doc(hidden)]
pub mod check;
mod classify;
mod clock;
mod demux;
mod describe;
mod error;
mod ex;
mod file;
mod fourcc;
mod hevc;
mod index;
mod io;
mod legacy;
pub mod script;
mod video;

#[cfg(test)]
mod testutil;

pub use aac::{aac_profile_name, parse_aac_config, AacConfig};
pub use audio::{
    parse_audio_header, parse_audio_header_with, parse_multichannel_config, AacPacketType,
    AudioChannelOrder, AudioPacketType, AudioTagHeader, ExAudioHeader, LegacyAudioHeader,
    MultichannelConfig, SoundFormat,
};
pub use av1::{parse_av1_config, parse_vp_config, Av1Config, VpConfig};
pub use avc::{avc_profile_name, parse_avc_config, parse_avc_sps, AvcConfig, AvcSps};
pub use classify::{classify_audio, classify_video, AudioCodec, AudioInfo, VideoCodec, VideoInfo};
pub use clock::UtcTime;
pub use demux::{FlvDemuxer, FlvEvent};
pub use describe::{
    describe_audio_sequence_header, describe_video_sequence_header, StreamCodecInfo,
};
pub use error::FlvError;
pub use ex::{AvMultitrackType, ExTrack, ExTracks, ModExType, MultitrackInfo};
pub use file::{
    encode_tag, put_tag_header, FlvHeader, FlvLimits, FlvTag, TagType, FLV_HEADER_SIZE,
    MAX_TAG_DATA_SIZE, TAG_HEADER_SIZE,
};
pub use fourcc::FourCc;
pub use hevc::{
    hevc_profile_name, parse_hevc_config, parse_hevc_config_with, parse_hevc_sps, HevcConfig,
    HevcSps, HEVC_NAL_PPS, HEVC_NAL_SPS, HEVC_NAL_VPS,
};
pub use index::{
    FlvFileInfo, FlvIndexLimits, FlvOpener, FlvTagStream, IndexSource, ReadAt, SeekPoint,
};
pub use io::{FlvReader, FlvWriter};
pub use legacy::{legacy_audio, legacy_video, LegacyForm, LegacyHeader};
pub use script::{parse_script, parse_script_with, ScriptData};
pub use video::{
    parse_video_header, parse_video_header_with, AvcPacketType, ExVideoHeader, FrameType,
    LegacyVideoHeader, VideoCodecId, VideoCommand, VideoPacketType, VideoTagHeader,
};
