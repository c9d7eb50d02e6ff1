//! Parts shared by the Enhanced RTMP v2 audio and video tag headers: the ModEx loop
//! (`AudioPacketType.ModEx` / `VideoPacketType.ModEx`), `AvMultitrackType` and the per-track
//! layout of the ExAudioTagBody / ExVideoTagBody sections (sections "Enhanced Audio",
//! "Enhanced Video" and "Multitrack Streaming via Enhanced RTMP").
//!
//! A multitrack body for `ManyTracks` / `ManyTracksManyCodecs` is a sequence of
//! `[FOURCC if ManyTracksManyCodecs] trackId:UI8 sizeOfTrack:UI24 track-data`, where the size
//! counts from just after the size field. For video `CodedFrames` of avc1/hvc1/vvc1 the track
//! data starts with its SI24 composition time. [`ExTracks`] walks that layout without copying.

use bytes::Bytes;

use crate::codes::wire_code;
use crate::read::ByteReader;
use crate::{FlvError, FlvLimits, FourCc};

wire_code! {
    /// `AvMultitrackType` (`UB[4]`) of Enhanced RTMP, shared by audio and video.
    pub struct AvMultitrackType(u8) {
        /// One track; the body carries a trackId but no track size.
        ONE_TRACK = 0 => "OneTrack",
        /// Several tracks sharing one codec (FOURCC in the header).
        MANY_TRACKS = 1 => "ManyTracks",
        /// Several tracks, each with its own FOURCC.
        MANY_TRACKS_MANY_CODECS = 2 => "ManyTracksManyCodecs",
    }
}

wire_code! {
    /// `AudioPacketModExType` / `VideoPacketModExType` (`UB[4]`) of a ModEx entry.
    pub struct ModExType(u8) {
        /// The ModEx data's first three bytes are a UI24 nanosecond offset for this message.
        TIMESTAMP_OFFSET_NANO = 0 => "TimestampOffsetNano",
    }
}

/// Multitrack signalling found in an enhanced header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultitrackInfo {
    /// Layout of the tracks in the body.
    pub multitrack_type: AvMultitrackType,
    /// For `OneTrack`, its trackId (the header length then points past it, at the codec data).
    /// `None` for `ManyTracks*`: the header length points at the first track record; walk them
    /// with the header's `tracks` method.
    pub track_id: Option<u8>,
}

/// Result of the ModEx loop: the final packet type and what the entries carried.
pub(crate) struct ModExResult {
    pub packet_type: u8,
    pub timestamp_nano_offset: Option<u32>,
}

/// Runs the ModEx loop starting from `packet_type` (the low nibble of the first byte).
/// Unknown ModEx types are skipped (their size is known); TimestampOffsetNano is decoded.
pub(crate) fn mod_ex_loop(
    r: &mut ByteReader<'_>,
    mut packet_type: u8,
    mod_ex_value: u8,
    limits: &FlvLimits,
) -> Result<ModExResult, FlvError> {
    let mut nano = None;
    let mut count = 0usize;
    while packet_type == mod_ex_value {
        count += 1;
        if count > limits.max_mod_ex_entries {
            return Err(FlvError::TooManyModEx {
                limit: limits.max_mod_ex_entries,
            });
        }
        let mut size = usize::from(r.u8()?) + 1;
        if size == 256 {
            size = usize::from(r.u16()?) + 1;
        }
        let data = r.take(size)?;
        let b = r.u8()?;
        let kind = ModExType(b >> 4);
        packet_type = b & 0x0f;
        if kind == ModExType::TIMESTAMP_OFFSET_NANO {
            match data {
                [a, b, c, ..] => nano = Some(u32::from_be_bytes([0, *a, *b, *c])),
                _ => return Err(FlvError::ModExTooShort { size: data.len() }),
            }
        }
    }
    Ok(ModExResult {
        packet_type,
        timestamp_nano_offset: nano,
    })
}

/// One track of an enhanced audio or video message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExTrack {
    /// trackId (0 when the message is not multitrack).
    pub track_id: u8,
    /// Codec of this track.
    pub fourcc: FourCc,
    /// SI24 composition time offset in ms (video `CodedFrames` of avc1/hvc1/vvc1), else 0.
    pub composition_time: i32,
    /// Codec data of this track (a slice of the message payload, no copy).
    pub data: Bytes,
}

#[derive(Debug, Clone)]
enum TracksState {
    Single(Option<ExTrack>),
    Many {
        body: Bytes,
        fourcc: Option<FourCc>,
        parse_cts: bool,
    },
    Done,
}

/// Iterator over the tracks of an enhanced message body; see the module docs.
///
/// Yields exactly one track for non-multitrack and `OneTrack` messages. For `ManyTracks*` it
/// yields one item per track record and stops after the first error.
#[derive(Debug, Clone)]
pub struct ExTracks {
    state: TracksState,
}

impl ExTracks {
    /// Iterator yielding a single, already located track.
    pub(crate) fn single(track: ExTrack) -> Self {
        ExTracks {
            state: TracksState::Single(Some(track)),
        }
    }

    /// Iterator over `ManyTracks*` records. `fourcc` is `None` for `ManyTracksManyCodecs`.
    /// `cts_codec` says whether CodedFrames tracks of avc1/hvc1/vvc1 start with an SI24.
    pub(crate) fn many(body: Bytes, fourcc: Option<FourCc>, coded_frames_video: bool) -> Self {
        ExTracks {
            state: TracksState::Many {
                body,
                fourcc,
                parse_cts: coded_frames_video,
            },
        }
    }

    /// Iterator yielding nothing (command frames carry no track data).
    pub(crate) fn empty() -> Self {
        ExTracks {
            state: TracksState::Done,
        }
    }
}

fn next_record(
    body: &mut Bytes,
    fourcc: Option<FourCc>,
    parse_cts: bool,
) -> Result<ExTrack, FlvError> {
    let mut r = ByteReader::new(body, "multitrack record");
    let fourcc = match fourcc {
        Some(f) => f,
        None => FourCc(r.array()?),
    };
    let track_id = r.u8()?;
    let size = r.u24()?;
    let start = r.pos();
    let available = r.remaining();
    let len = size as usize;
    if len > available {
        return Err(FlvError::TrackSizeOverflow {
            declared: size,
            available,
        });
    }
    let mut data = body.slice(start..start + len);
    *body = body.slice(start + len..);
    let mut composition_time = 0;
    if parse_cts && fourcc.has_composition_time() {
        let mut t = ByteReader::new(&data, "track composition time");
        composition_time = t.i24()?;
        data = data.slice(3..);
    }
    Ok(ExTrack {
        track_id,
        fourcc,
        composition_time,
        data,
    })
}

impl Iterator for ExTracks {
    type Item = Result<ExTrack, FlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.state {
            TracksState::Single(t) => {
                let t = t.take();
                self.state = TracksState::Done;
                t.map(Ok)
            }
            TracksState::Many {
                body,
                fourcc,
                parse_cts,
            } => {
                if body.is_empty() {
                    self.state = TracksState::Done;
                    return None;
                }
                let res = next_record(body, *fourcc, *parse_cts);
                if res.is_err() {
                    self.state = TracksState::Done;
                }
                Some(res)
            }
            TracksState::Done => None,
        }
    }
}
