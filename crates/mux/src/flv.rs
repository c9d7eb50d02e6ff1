//! From FLV tag bodies (= RTMP audio/video message bodies) to track configurations and samples,
//! with the header parsers of `sluice_flv`.
//!
//! | FLV | becomes |
//! |---|---|
//! | legacy AVC (7), HEVC (12), AV1 (13) `AVCPacketType` 0 | [`FlvItem::Config`] from the record after the 5-byte header |
//! | legacy `AVCPacketType` 1 | [`FlvItem::Sample`]: the NAL units after the 5-byte header, composition offset from its SI24 |
//! | legacy `AVCPacketType` 2, Enhanced `SequenceEnd` | [`FlvItem::EndOfSequence`] |
//! | Enhanced `avc1`/`hvc1`/`av01`/`vp09` `SequenceStart` | [`FlvItem::Config`] |
//! | Enhanced `CodedFrames` / `CodedFramesX` | [`FlvItem::Sample`], composition offset from the SI24 (avc1/hvc1) or 0 |
//! | legacy AAC (10) `AACPacketType` 0 / 1 | Config from the AudioSpecificConfig / Sample after the 2-byte header |
//! | Enhanced `mp4a` / `Opus` `SequenceStart` / `CodedFrames` | Config / Sample |
//! | `Metadata`, `MultichannelConfig`, `MPEG2TSSequenceStart`, command frames, empty (silence) audio | nothing (`Ok(None)`) |
//!
//! Enhanced RTMP multitrack messages: only the track with the chosen trackId (0 by default,
//! [`FlvToSamples::with_track_id`]) is taken; the other tracks are skipped. Samples are
//! slices of the message payload: no media byte is copied.

use bytes::Bytes;
use sluice_flv::{
    parse_audio_header, parse_video_header, AacPacketType, AudioCodec, AudioPacketType,
    AudioTagHeader, AvcPacketType, ExTrack, ExTracks, FourCc, FrameType, SoundFormat, VideoCodec,
    VideoCodecId, VideoPacketType, VideoTagHeader,
};

use crate::muxer::{Fmp4Muxer, Sample};
use crate::track::{AudioConfig, TrackConfig, VideoConfig};
use crate::{MuxError, TrackKind};

/// What one FLV audio or video tag body means for the muxer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlvItem {
    /// A sequence header: the track's (new or repeated) configuration.
    Config(TrackConfig),
    /// A coded frame.
    Sample(Sample),
    /// The publisher ended the track's sequence.
    EndOfSequence(TrackKind),
}

/// The FLV-to-samples adapter; stateless apart from the multitrack choice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlvToSamples {
    track_id: u8,
}

impl FlvToSamples {
    /// Follows trackId 0 of multitrack messages.
    pub fn new() -> Self {
        Self::default()
    }

    /// Follows another trackId of Enhanced RTMP multitrack messages.
    pub fn with_track_id(track_id: u8) -> Self {
        FlvToSamples { track_id }
    }

    /// Interprets one audio or video tag body received at `timestamp` (RTMP milliseconds).
    /// `Ok(None)`: nothing for the muxer (see the module table).
    pub fn push(
        &self,
        kind: TrackKind,
        timestamp: u32,
        body: &Bytes,
    ) -> Result<Option<FlvItem>, MuxError> {
        match kind {
            TrackKind::Video => self.push_video(timestamp, body),
            TrackKind::Audio => self.push_audio(timestamp, body),
        }
    }

    /// [`FlvToSamples::push`] for a video tag body.
    pub fn push_video(&self, timestamp: u32, body: &Bytes) -> Result<Option<FlvItem>, MuxError> {
        let (header, len) = parse_video_header(body)?;
        let rest = body.slice(len..);
        let sample = |cts: i32, keyframe: bool, data: Bytes| {
            Some(FlvItem::Sample(Sample {
                track: TrackKind::Video,
                timestamp,
                composition_offset: cts,
                keyframe,
                data,
                wall_clock: None,
            }))
        };
        let is_key = |f: FrameType| matches!(f, FrameType::KEY | FrameType::GENERATED_KEY);
        match header {
            VideoTagHeader::Legacy(l) => {
                if l.video_command.is_some() {
                    return Ok(None);
                }
                let make: fn(Bytes) -> Result<VideoConfig, MuxError> = match l.codec_id {
                    VideoCodecId::AVC => VideoConfig::avc,
                    VideoCodecId::HEVC => VideoConfig::hevc,
                    VideoCodecId::AV1 => VideoConfig::av1,
                    other => {
                        let name = VideoCodec::from_codec_id(other).to_string();
                        return Err(MuxError::UnsupportedVideoCodec(name));
                    }
                };
                Ok(match l.avc_packet_type {
                    Some(AvcPacketType::SEQUENCE_HEADER) => {
                        Some(FlvItem::Config(TrackConfig::Video(make(rest)?)))
                    }
                    Some(AvcPacketType::NALU) => {
                        sample(l.composition_time, is_key(l.frame_type), rest)
                    }
                    Some(AvcPacketType::END_OF_SEQUENCE) => {
                        Some(FlvItem::EndOfSequence(TrackKind::Video))
                    }
                    _ => None,
                })
            }
            VideoTagHeader::Enhanced(h) => {
                if h.video_command.is_some()
                    || matches!(
                        h.packet_type,
                        VideoPacketType::METADATA | VideoPacketType::MPEG2TS_SEQUENCE_START
                    )
                {
                    return Ok(None);
                }
                let Some(track) = self.pick(h.tracks(rest))? else {
                    return Ok(None);
                };
                let make: fn(Bytes) -> Result<VideoConfig, MuxError> = match track.fourcc {
                    FourCc::AVC1 => VideoConfig::avc,
                    FourCc::HVC1 => VideoConfig::hevc,
                    FourCc::AV01 => VideoConfig::av1,
                    FourCc::VP09 => VideoConfig::vp9,
                    other => {
                        let name = VideoCodec::from_fourcc(other).to_string();
                        return Err(MuxError::UnsupportedVideoCodec(name));
                    }
                };
                Ok(match h.packet_type {
                    VideoPacketType::SEQUENCE_START => {
                        Some(FlvItem::Config(TrackConfig::Video(make(track.data)?)))
                    }
                    VideoPacketType::CODED_FRAMES | VideoPacketType::CODED_FRAMES_X => {
                        sample(track.composition_time, is_key(h.frame_type), track.data)
                    }
                    VideoPacketType::SEQUENCE_END => Some(FlvItem::EndOfSequence(TrackKind::Video)),
                    _ => None,
                })
            }
        }
    }

    /// [`FlvToSamples::push`] for an audio tag body.
    pub fn push_audio(&self, timestamp: u32, body: &Bytes) -> Result<Option<FlvItem>, MuxError> {
        if body.is_empty() {
            return Ok(None); // Enhanced RTMP audio silence message
        }
        let (header, len) = parse_audio_header(body)?;
        let rest = body.slice(len..);
        let sample = |data: Bytes| {
            Some(FlvItem::Sample(Sample {
                track: TrackKind::Audio,
                timestamp,
                composition_offset: 0,
                keyframe: true,
                data,
                wall_clock: None,
            }))
        };
        match header {
            AudioTagHeader::Legacy(l) => {
                if l.sound_format != SoundFormat::AAC {
                    let name = AudioCodec::from_sound_format(l.sound_format).to_string();
                    return Err(MuxError::UnsupportedAudioCodec(name));
                }
                Ok(match l.aac_packet_type {
                    Some(AacPacketType::SEQUENCE_HEADER) => {
                        Some(FlvItem::Config(TrackConfig::Audio(AudioConfig::aac(rest)?)))
                    }
                    Some(AacPacketType::RAW) => sample(rest),
                    _ => None,
                })
            }
            AudioTagHeader::Enhanced(h) => {
                if !matches!(
                    h.packet_type,
                    AudioPacketType::SEQUENCE_START
                        | AudioPacketType::CODED_FRAMES
                        | AudioPacketType::SEQUENCE_END
                ) {
                    return Ok(None);
                }
                let Some(track) = self.pick(h.tracks(rest))? else {
                    return Ok(None);
                };
                let is_aac = match track.fourcc {
                    FourCc::MP4A => true,
                    FourCc::OPUS => false,
                    other => {
                        let name = AudioCodec::from_fourcc(other).to_string();
                        return Err(MuxError::UnsupportedAudioCodec(name));
                    }
                };
                Ok(match h.packet_type {
                    AudioPacketType::SEQUENCE_START => {
                        let config = if is_aac {
                            AudioConfig::aac(track.data)?
                        } else {
                            AudioConfig::opus(&track.data)?
                        };
                        Some(FlvItem::Config(TrackConfig::Audio(config)))
                    }
                    AudioPacketType::CODED_FRAMES => sample(track.data),
                    _ => Some(FlvItem::EndOfSequence(TrackKind::Audio)),
                })
            }
        }
    }

    fn pick(&self, tracks: ExTracks) -> Result<Option<ExTrack>, MuxError> {
        for t in tracks {
            let t = t?;
            if t.track_id == self.track_id {
                return Ok(Some(t));
            }
        }
        Ok(None)
    }
}

impl Fmp4Muxer {
    /// Hands one [`FlvItem`] to the muxer: a configuration to [`Fmp4Muxer::handle_config`], a
    /// sample to [`Fmp4Muxer::handle_sample`], an end of sequence to [`Fmp4Muxer::flush`].
    pub fn handle_flv_item(&mut self, item: FlvItem) -> Result<(), MuxError> {
        match item {
            FlvItem::Config(c) => self.handle_config(c),
            FlvItem::Sample(s) => self.handle_sample(s)?,
            FlvItem::EndOfSequence(_) => self.flush(),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hx(s: &str) -> Bytes {
        Bytes::from(hex::decode(s.replace(' ', "")).unwrap())
    }

    const AVCC: &str =
        "0142c01effe100186742c01eda0283f602220000030002000003006478b1728c01000468ce3c80";

    #[test]
    fn legacy_avc() {
        let a = FlvToSamples::new();
        let item = a.push_video(0, &hx(&format!("1700000000{AVCC}"))).unwrap();
        let Some(FlvItem::Config(TrackConfig::Video(v))) = item else {
            panic!("{item:?}")
        };
        assert_eq!(v.record().as_ref(), hx(AVCC).as_ref());
        let body = hx("27 01 000050 00000002 0910");
        let Some(FlvItem::Sample(s)) = a.push_video(40, &body).unwrap() else {
            panic!()
        };
        assert_eq!(
            (s.timestamp, s.composition_offset, s.keyframe),
            (40, 80, false)
        );
        assert_eq!(s.data.as_ref(), &body[5..]);
        // No copy: the sample points into the body.
        assert_eq!(s.data.as_ptr(), body[5..].as_ptr());
        assert_eq!(
            a.push_video(80, &hx("1702000000")).unwrap(),
            Some(FlvItem::EndOfSequence(TrackKind::Video))
        );
        assert_eq!(a.push_video(0, &hx("5701")).unwrap(), None, "command frame");
        assert!(matches!(
            a.push_video(0, &hx("2200")),
            Err(MuxError::UnsupportedVideoCodec(c)) if c == "h263"
        ));
        assert!(matches!(
            a.push_video(0, &Bytes::new()),
            Err(MuxError::Flv(_))
        ));
    }

    #[test]
    fn legacy_hevc_codec_id_12() {
        // Sequence header with an HEVCDecoderConfigurationRecord (Main, level 3.1, no arrays).
        let hvcc = "01 01 60000000 900000000000 5d f000 fc fd f8 f8 0000 0f 00";
        let a = FlvToSamples::new();
        let item = a
            .push_video(0, &hx(&format!("1c 00 000000 {hvcc}")))
            .unwrap();
        let Some(FlvItem::Config(TrackConfig::Video(v))) = item else {
            panic!("{item:?}")
        };
        assert_eq!(v.format(), crate::VideoFormat::Hevc);
        assert_eq!(v.codec_string(), "hvc1.1.6.L93.90");
        let Some(FlvItem::Sample(s)) = a.push_video(0, &hx("1c 01 000028 00000002 2601")).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (s.composition_offset, s.keyframe, s.data.len()),
            (40, true, 6)
        );
    }

    #[test]
    fn enhanced_video() {
        let a = FlvToSamples::new();
        let item = a
            .push_video(0, &hx(&format!("90 61766331 {AVCC}")))
            .unwrap();
        assert!(matches!(item, Some(FlvItem::Config(TrackConfig::Video(_)))));
        // CodedFrames with SI24 = -40 ms, key frame.
        let Some(FlvItem::Sample(s)) = a
            .push_video(0, &hx("91 61766331 ffffd8 00000001 65"))
            .unwrap()
        else {
            panic!()
        };
        assert_eq!((s.composition_offset, s.keyframe), (-40, true));
        assert_eq!(s.data.as_ref(), &hx("00000001 65")[..]);
        // CodedFramesX: no SI24, offset 0.
        let Some(FlvItem::Sample(s)) = a.push_video(40, &hx("a3 61766331 00000001 41")).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (s.composition_offset, s.keyframe, s.data.len()),
            (0, false, 5)
        );
        assert_eq!(
            a.push_video(0, &hx("94 61766331 02")).unwrap(),
            None,
            "metadata"
        );
        assert_eq!(
            a.push_video(0, &hx("92 76703039")).unwrap(),
            Some(FlvItem::EndOfSequence(TrackKind::Video))
        );
        assert!(matches!(
            a.push_video(0, &hx("91 76766331 000000")),
            Err(MuxError::UnsupportedVideoCodec(c)) if c == "vvc"
        ));
    }

    #[test]
    fn multitrack_takes_the_chosen_track() {
        // ManyTracks, CodedFramesX of av01: track 0 = "aa", track 1 = "bbb".
        let body = hx("96 13 61763031 00 000002 aaaa 01 000003 bbbbbb");
        let Some(FlvItem::Sample(s)) = FlvToSamples::new().push_video(0, &body).unwrap() else {
            panic!()
        };
        assert_eq!(s.data.as_ref(), &[0xaa, 0xaa]);
        let Some(FlvItem::Sample(s)) = FlvToSamples::with_track_id(1).push_video(0, &body).unwrap()
        else {
            panic!()
        };
        assert_eq!(s.data.as_ref(), &[0xbb, 0xbb, 0xbb]);
        assert_eq!(
            FlvToSamples::with_track_id(7).push_video(0, &body).unwrap(),
            None
        );
    }

    #[test]
    fn audio() {
        let a = FlvToSamples::new();
        let Some(FlvItem::Config(TrackConfig::Audio(c))) =
            a.push_audio(0, &hx("af00 1210")).unwrap()
        else {
            panic!()
        };
        assert_eq!(c.sample_rate(), 44_100);
        let body = hx("af01 211b");
        let Some(FlvItem::Sample(s)) = a.push_audio(23, &body).unwrap() else {
            panic!()
        };
        assert_eq!(
            (s.timestamp, s.keyframe, s.data.as_ref()),
            (23, true, &[0x21, 0x1b][..])
        );
        assert_eq!(a.push_audio(0, &Bytes::new()).unwrap(), None, "silence");
        assert!(matches!(
            a.push_audio(0, &hx("2aff")),
            Err(MuxError::UnsupportedAudioCodec(c)) if c == "mp3"
        ));
        let opus = hx("90 4f707573 4f707573486561640102380180bb0000000000");
        let Some(FlvItem::Config(TrackConfig::Audio(c))) = a.push_audio(0, &opus).unwrap() else {
            panic!()
        };
        assert_eq!(
            (c.sample_rate(), c.channels(), c.codec_string()),
            (48_000, 2, "opus")
        );
        let Some(FlvItem::Sample(s)) = a.push_audio(20, &hx("91 4f707573 fc01")).unwrap() else {
            panic!()
        };
        assert_eq!(s.data.as_ref(), &[0xfc, 0x01]);
        assert_eq!(
            a.push_audio(0, &hx("94 4f707573 000102")).unwrap(),
            None,
            "multichannel config"
        );
        assert_eq!(
            a.push_audio(0, &hx("92 4f707573")).unwrap(),
            Some(FlvItem::EndOfSequence(TrackKind::Audio))
        );
        assert!(matches!(
            a.push_audio(0, &hx("90 664c6143")),
            Err(MuxError::UnsupportedAudioCodec(c)) if c == "flac"
        ));
    }
}
