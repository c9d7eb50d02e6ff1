//! Connection settings and limits for the client ([`ClientOptions`]), and their translation into
//! the sans-IO session's [`ClientConfig`].

use crate::transport::rtmpt::RtmptOptions;
use crate::transport::tls::TlsConfig;
use crate::url::{Scheme, Url};
use sluice_amf::AmfLimits;
use sluice_rtmp::chunk::ChunkLimits;
use sluice_rtmp::handshake::{ClientHandshakeMode, RtmpeType};
use sluice_rtmp::message::AggregateLimits;
use sluice_rtmp::session::ClientConfig;
use std::net::Ipv4Addr;
use std::time::Duration;

/// The Enhanced RTMP codecs announced in `connect`'s `fourCcList` by default (Enhanced RTMP v2,
/// "Enhancing NetConnection connect Command"): servers that honour it may then send these
/// codecs in enhanced tags. Servers that do not know the field ignore it.
pub const DEFAULT_FOURCC_LIST: &[&str] = &[
    "av01", "vp09", "vp08", "hvc1", "avc1", "Opus", "fLaC", "mp4a", ".mp3", "ac-3", "ec-3",
];

/// Settings of one client connection. Every limit on what the server may make us hold has a
/// documented default.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Limit for opening the connection: name resolution, TCP connect, handshake and the answer
    /// to `connect`, together. Default 10 s.
    pub connect_timeout: Duration,
    /// Limit for the answer to `publish` or `play` (`NetStream.Publish.Start` /
    /// `NetStream.Play.Start` or an error). Default 10 s.
    pub command_timeout: Duration,
    /// How long [`crate::Publisher::finish`] and [`crate::Player::stop`] wait for the server to
    /// close its side after ours is shut down (so nothing we sent is lost to a reset).
    /// Default 3 s.
    pub finish_timeout: Duration,
    /// Handshake form. Default: digest (complex), as Flash Player and librtmp send.
    /// `rtmpe://` and `rtmpte://` URLs use [`ClientHandshakeMode::Rtmpe`] with
    /// [`ClientOptions::rtmpe_type`] unless this is already an RTMPE mode.
    pub handshake: ClientHandshakeMode,
    /// RTMPE type for `rtmpe://` and `rtmpte://` (C0 = 6, 8 or 9). Default
    /// [`RtmpeType::Basic`] (6), what ffmpeg and rtmpdump send.
    pub rtmpe_type: RtmpeType,
    /// How `rtmps://` and `rtmpts://` servers are authenticated. Default: the webpki (Mozilla)
    /// roots.
    pub tls: TlsConfig,
    /// Send the RTMP proxy header (`F3`, seed 000) announcing this address as the real client
    /// before anything else on the TCP connection. Default none. Not possible over RTMPT.
    pub proxy_real_ip: Option<Ipv4Addr>,
    /// RTMPT limits and timings; see [`RtmptOptions`] for the defaults.
    pub rtmpt: RtmptOptions,
    /// Chunk size for what we send, announced right after the handshake. Default 4096.
    pub chunk_size: u32,
    /// Buffer length announced before `play`, in ms. Default 1000.
    pub buffer_ms: u32,
    /// `flashVer` sent in `connect`. Default `FMLE/3.0 (compatible; Sluice)`.
    pub flash_ver: String,
    /// Enhanced RTMP `fourCcList` sent in `connect` (empty: not sent). Default
    /// [`DEFAULT_FOURCC_LIST`].
    pub fourcc_list: Vec<String>,
    /// Bytes read from the socket per read call, the per-connection read buffer. Default
    /// 64 KiB; load testers with thousands of players may lower it (at least 512 is used).
    pub read_buffer_size: usize,
    /// Messages a server may send on a play stream before `NetStream.Play.Start`; they are
    /// kept and delivered after it. More is [`crate::ClientError::LimitExceeded`].
    /// Default 256.
    pub max_early_messages: usize,
    /// Whether a player ends ([`crate::PlayEvent::Eof`]) on `NetStream.Play.UnpublishNotify`
    /// (the live publisher went away), like ffmpeg and librtmp do. `NetStream.Play.Stop` and
    /// `NetStream.Play.Complete` always end it. Default true.
    pub end_on_unpublish: bool,
    /// Set TCP_NODELAY on TCP connections (media is written in whole messages, so Nagle's
    /// algorithm only adds delay). Default true.
    pub tcp_nodelay: bool,
    /// Chunk stream limits for what the server sends (message size, chunk streams, buffered
    /// bytes); see [`ChunkLimits`] for the defaults.
    pub chunk: ChunkLimits,
    /// AMF decoding limits for commands and data; see [`AmfLimits`].
    pub amf: AmfLimits,
    /// Aggregate message limits; see [`AggregateLimits`].
    pub aggregate: AggregateLimits,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(10),
            finish_timeout: Duration::from_secs(3),
            handshake: ClientHandshakeMode::Digest,
            rtmpe_type: RtmpeType::Basic,
            tls: TlsConfig::default(),
            proxy_real_ip: None,
            rtmpt: RtmptOptions::default(),
            chunk_size: 4096,
            buffer_ms: 1000,
            flash_ver: "FMLE/3.0 (compatible; Sluice)".into(),
            fourcc_list: DEFAULT_FOURCC_LIST
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            read_buffer_size: 64 * 1024,
            max_early_messages: 256,
            end_on_unpublish: true,
            tcp_nodelay: true,
            chunk: ChunkLimits::default(),
            amf: AmfLimits::default(),
            aggregate: AggregateLimits::default(),
        }
    }
}

impl ClientOptions {
    /// The sans-IO session configuration for connecting to `url`.
    pub fn session_config(&self, url: &Url) -> ClientConfig {
        let mut c = ClientConfig::new(url.connect_app(), url.tc_url());
        c.connect.flash_ver = Some(self.flash_ver.clone());
        c.connect.fourcc_list = self.fourcc_list.clone();
        c.handshake = self.handshake_for(url.scheme());
        c.chunk_size = self.chunk_size;
        c.buffer_ms = self.buffer_ms;
        c.chunk = self.chunk.clone();
        c.amf = self.amf.clone();
        c.aggregate = self.aggregate;
        c
    }

    /// The handshake form used for `scheme`: RTMPE for `rtmpe`/`rtmpte`, else
    /// [`ClientOptions::handshake`].
    pub fn handshake_for(&self, scheme: Scheme) -> ClientHandshakeMode {
        match (scheme, self.handshake) {
            (_, mode @ ClientHandshakeMode::Rtmpe(_)) => mode,
            (Scheme::Rtmpe | Scheme::Rtmpte, _) => ClientHandshakeMode::Rtmpe(self.rtmpe_type),
            (_, mode) => mode,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_config_carries_the_url_and_settings() {
        let url = Url::parse("rtmp://h:1940/live/inst/cam").unwrap();
        let o = ClientOptions {
            chunk_size: 60000,
            fourcc_list: vec![],
            ..ClientOptions::default()
        };
        let c = o.session_config(&url);
        assert_eq!(c.connect.app, "live/inst");
        assert_eq!(c.connect.tc_url.as_deref(), Some("rtmp://h:1940/live/inst"));
        assert_eq!(c.chunk_size, 60000);
        assert!(c.connect.fourcc_list.is_empty());
        let c = ClientOptions::default().session_config(&url);
        assert_eq!(c.connect.fourcc_list.len(), DEFAULT_FOURCC_LIST.len());
        assert_eq!(
            c.connect.flash_ver.as_deref(),
            Some("FMLE/3.0 (compatible; Sluice)")
        );
    }

    #[test]
    fn encrypted_schemes_use_rtmpe() {
        let o = ClientOptions {
            rtmpe_type: RtmpeType::Blowfish,
            ..ClientOptions::default()
        };
        for (url, mode) in [
            ("rtmp://h/a/s", ClientHandshakeMode::Digest),
            ("rtmps://h/a/s", ClientHandshakeMode::Digest),
            ("rtmpt://h/a/s", ClientHandshakeMode::Digest),
            ("rtmpts://h/a/s", ClientHandshakeMode::Digest),
            (
                "rtmpe://h/a/s",
                ClientHandshakeMode::Rtmpe(RtmpeType::Blowfish),
            ),
            (
                "rtmpte://h/a/s",
                ClientHandshakeMode::Rtmpe(RtmpeType::Blowfish),
            ),
        ] {
            let url = Url::parse(url).unwrap();
            assert_eq!(o.session_config(&url).handshake, mode, "{url}");
        }
        assert_eq!(ClientOptions::default().rtmpe_type, RtmpeType::Basic);
        // An explicit RTMPE mode wins, on any scheme.
        let o = ClientOptions {
            handshake: ClientHandshakeMode::Rtmpe(RtmpeType::Xtea),
            ..ClientOptions::default()
        };
        assert_eq!(
            o.handshake_for(Scheme::Rtmp),
            ClientHandshakeMode::Rtmpe(RtmpeType::Xtea)
        );
        assert_eq!(
            o.handshake_for(Scheme::Rtmpe),
            ClientHandshakeMode::Rtmpe(RtmpeType::Xtea)
        );
    }
}
