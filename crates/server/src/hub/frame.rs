//! What flows through the hub: media frames from a publisher and the events a player receives.
//!
//! A [`MediaFrame`] is one RTMP audio (type 8), video (type 9) or data (type 18) message body, kept
//! untouched as shared [`Bytes`], legacy FLV tag body or Enhanced RTMP v2 alike. The hub never parses
//! it: the caller (the RTMP session, which understands FLV/Enhanced RTMP headers) classifies it with
//! the `keyframe` and `sequence_header` flags.

use bytes::Bytes;

/// Which RTMP message type a frame came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// Audio message (RTMP message type 8).
    Audio,
    /// Video message (RTMP message type 9).
    Video,
    /// Data message (RTMP message type 18/15) other than the cached `onMetaData`.
    Data,
}

/// One media message, shared by every player: cloning it only bumps the payload's reference count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFrame {
    /// The RTMP message type the frame came in.
    pub kind: FrameKind,
    /// RTMP timestamp in milliseconds (wrapping 32-bit).
    pub timestamp: u32,
    /// The RTMP message body, untouched (legacy FLV tag body or Enhanced RTMP).
    pub payload: Bytes,
    /// Video keyframe (frame type 1), set by the caller. Ignored for audio and data.
    pub keyframe: bool,
    /// Codec configuration: AVC/HEVC sequence header, Enhanced RTMP `SequenceStart`, AAC
    /// `AudioSpecificConfig` or Enhanced audio `SequenceStart`, set by the caller. The latest one per
    /// kind (audio, video) is cached for new players. Ignored for data.
    pub sequence_header: bool,
}

impl MediaFrame {
    /// An audio frame (not a sequence header).
    pub fn audio(timestamp: u32, payload: Bytes) -> Self {
        Self {
            kind: FrameKind::Audio,
            timestamp,
            payload,
            keyframe: false,
            sequence_header: false,
        }
    }

    /// A video frame; `keyframe` as classified by the caller.
    pub fn video(timestamp: u32, payload: Bytes, keyframe: bool) -> Self {
        Self {
            kind: FrameKind::Video,
            timestamp,
            payload,
            keyframe,
            sequence_header: false,
        }
    }

    /// A data message (for example `onCuePoint`).
    pub fn data(timestamp: u32, payload: Bytes) -> Self {
        Self {
            kind: FrameKind::Data,
            timestamp,
            payload,
            keyframe: false,
            sequence_header: false,
        }
    }

    /// The same frame marked as a codec sequence header.
    pub fn into_sequence_header(mut self) -> Self {
        self.sequence_header = true;
        self
    }

    /// True for an audio or video sequence header (the flag is ignored on data frames).
    pub fn is_sequence_header(&self) -> bool {
        self.sequence_header && self.kind != FrameKind::Data
    }

    /// True for a video keyframe that is not a sequence header: a point where a decoder can start.
    pub fn is_video_keyframe(&self) -> bool {
        self.kind == FrameKind::Video && self.keyframe && !self.sequence_header
    }

    /// Payload length in bytes (what the hub's byte bounds count).
    pub fn len(&self) -> usize {
        self.payload.len()
    }

    /// True when the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.payload.is_empty()
    }
}

/// What a player's connection task receives from [`Subscriber`](crate::hub::Subscriber).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayerEvent {
    /// A publisher started (or was already live when the player joined): send `NetStream.Play.Start`
    /// / `PublishNotify` and the like.
    Publish,
    /// The `onMetaData` body (without `@setDataFrame`), at join and whenever the publisher sets it.
    Metadata(Bytes),
    /// A media frame. After [`PlayerEvent::Publish`] the order is: cached sequence headers (video,
    /// then audio), the GOP cache from its keyframe, then live frames.
    Frame(MediaFrame),
    /// The publisher left; the player stays subscribed and waits for the next `Publish`.
    Unpublish,
    /// Informational: this many frames were dropped for this player because it was behind.
    Dropped {
        /// Number of messages dropped since the previous `Dropped` event.
        frames: u64,
    },
}

/// Who is at the other end of a publisher or player handle (for logs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerInfo {
    /// Remote address as text, e.g. `"192.0.2.7:51234"`.
    pub peer: String,
    /// Connection id assigned by the server (0 if unknown).
    pub connection_id: u64,
}

impl PeerInfo {
    /// Info with the given peer address and connection id 0.
    pub fn new(peer: impl Into<String>) -> Self {
        Self {
            peer: peer.into(),
            connection_id: 0,
        }
    }

    /// The same info with a connection id.
    pub fn with_connection_id(mut self, connection_id: u64) -> Self {
        self.connection_id = connection_id;
        self
    }
}

/// Describes the publisher's connection, given to [`Hub::publish`](crate::hub::Hub::publish).
pub type PublisherInfo = PeerInfo;
/// Describes the player's connection, given to [`Hub::subscribe`](crate::hub::Hub::subscribe).
pub type PlayerInfo = PeerInfo;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_helpers() {
        let v = MediaFrame::video(0, Bytes::from_static(&[0x17, 0x01]), true);
        assert!(v.is_video_keyframe());
        assert!(!v.is_sequence_header());
        let sh =
            MediaFrame::video(0, Bytes::from_static(&[0x17, 0x00]), true).into_sequence_header();
        assert!(sh.is_sequence_header());
        assert!(!sh.is_video_keyframe());
        let d = MediaFrame::data(0, Bytes::from_static(b"x")).into_sequence_header();
        assert!(!d.is_sequence_header());
        let a = MediaFrame::audio(0, Bytes::new());
        assert!(a.is_empty());
        assert_eq!(
            MediaFrame::audio(0, Bytes::from_static(&[0xAF, 0x01, 0x21])).len(),
            3
        );
        assert_eq!(PeerInfo::new("p").with_connection_id(7).connection_id, 7);
    }
}
