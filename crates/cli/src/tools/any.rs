//! One player and one publisher type for every URL scheme: the RTMP family over a byte stream
//! ([`Player`] / [`Publisher`] of a [`ClientStream`]) and `rtmfp://` over UDP
//! ([`RtmfpPlayer`] / [`RtmfpPublisher`]), so `play`, `publish` and `probe` take the same
//! options and report the same errors whatever the scheme.

use bytes::Bytes;
use sluice_client::{
    Client, ClientError, ClientOptions, ClientStream, ConnectResponse, PlayEvent, Player,
    Publisher, RtmfpClient, RtmfpPlayer, RtmfpPublisher, Scheme, Timestamp, Url,
};

/// A playing stream.
pub enum AnyPlayer {
    /// rtmp, rtmps, rtmpe, rtmpt, rtmpte, rtmpts.
    Rtmp(Box<Player<ClientStream>>),
    /// rtmfp.
    Rtmfp(Box<RtmfpPlayer>),
}

impl AnyPlayer {
    /// Connect to `url` and play its stream.
    pub async fn open(url: &Url, options: &ClientOptions) -> Result<AnyPlayer, ClientError> {
        Ok(match url.scheme() {
            Scheme::Rtmfp => AnyPlayer::Rtmfp(Box::new(RtmfpClient::play(url, options).await?)),
            _ => AnyPlayer::Rtmp(Box::new(Client::play(url, options).await?)),
        })
    }

    /// The next event (cancel-safe).
    pub async fn next_event(&mut self) -> Result<PlayEvent, ClientError> {
        match self {
            AnyPlayer::Rtmp(p) => p.next_event().await,
            AnyPlayer::Rtmfp(p) => p.next_event().await,
        }
    }

    /// Bytes received (TCP stream or UDP payloads).
    pub fn bytes_read(&self) -> u64 {
        match self {
            AnyPlayer::Rtmp(p) => p.connection().bytes_read(),
            AnyPlayer::Rtmfp(p) => p.connection().bytes_read(),
        }
    }

    /// The URL played.
    pub fn url(&self) -> &Url {
        match self {
            AnyPlayer::Rtmp(p) => p.connection().url(),
            AnyPlayer::Rtmfp(p) => p.connection().url(),
        }
    }

    /// Stop playing and close the connection.
    pub async fn stop(self) -> Result<(), ClientError> {
        match self {
            AnyPlayer::Rtmp(p) => p.stop().await,
            AnyPlayer::Rtmfp(p) => p.stop().await,
        }
    }
}

/// A publishing stream.
pub enum AnyPublisher {
    /// rtmp, rtmps, rtmpe, rtmpt, rtmpte, rtmpts.
    Rtmp(Box<Publisher<ClientStream>>),
    /// rtmfp.
    Rtmfp(Box<RtmfpPublisher>),
}

impl AnyPublisher {
    /// Connect to `url` and publish its stream.
    pub async fn open(url: &Url, options: &ClientOptions) -> Result<AnyPublisher, ClientError> {
        Ok(match url.scheme() {
            Scheme::Rtmfp => {
                AnyPublisher::Rtmfp(Box::new(RtmfpClient::publish(url, options).await?))
            }
            _ => AnyPublisher::Rtmp(Box::new(Client::publish(url, options).await?)),
        })
    }

    /// Send an audio message.
    pub async fn send_audio(&mut self, ts: Timestamp, payload: Bytes) -> Result<(), ClientError> {
        match self {
            AnyPublisher::Rtmp(p) => p.send_audio(ts, payload).await,
            AnyPublisher::Rtmfp(p) => p.send_audio(ts, payload).await,
        }
    }

    /// Send a video message.
    pub async fn send_video(&mut self, ts: Timestamp, payload: Bytes) -> Result<(), ClientError> {
        match self {
            AnyPublisher::Rtmp(p) => p.send_video(ts, payload).await,
            AnyPublisher::Rtmfp(p) => p.send_video(ts, payload).await,
        }
    }

    /// Send a data message (AMF0 body as given).
    pub async fn send_data(&mut self, ts: Timestamp, body: Bytes) -> Result<(), ClientError> {
        match self {
            AnyPublisher::Rtmp(p) => p.send_data(ts, body).await,
            AnyPublisher::Rtmfp(p) => p.send_data(ts, body).await,
        }
    }

    /// Wait until `deadline`, serving the connection meanwhile.
    pub async fn sleep_until(&mut self, deadline: tokio::time::Instant) -> Result<(), ClientError> {
        match self {
            AnyPublisher::Rtmp(p) => p.sleep_until(deadline).await,
            AnyPublisher::Rtmfp(p) => p.sleep_until(deadline).await,
        }
    }

    /// Bytes sent.
    pub fn bytes_written(&self) -> u64 {
        match self {
            AnyPublisher::Rtmp(p) => p.connection().bytes_written(),
            AnyPublisher::Rtmfp(p) => p.connection().bytes_written(),
        }
    }

    /// Stop publishing and close the connection.
    pub async fn finish(self) -> Result<(), ClientError> {
        match self {
            AnyPublisher::Rtmp(p) => p.finish().await,
            AnyPublisher::Rtmfp(p) => p.finish().await,
        }
    }
}

/// Connect (any scheme) and play `name`: the connect answer, the handshake kind (RTMP only),
/// the time to connect and the player, for `probe`.
pub async fn connect_and_play(
    url: &Url,
    options: &ClientOptions,
    name: &str,
) -> anyhow::Result<(
    ConnectResponse,
    Option<sluice_rtmp::handshake::HandshakeKind>,
    std::time::Duration,
    AnyPlayer,
)> {
    use anyhow::Context as _;
    if url.scheme() == Scheme::Rtmfp {
        let conn = RtmfpClient::connect(url, options)
            .await
            .with_context(|| format!("cannot connect to {url}"))?;
        let (resp, took) = (conn.response().clone(), conn.connect_time());
        let player = conn
            .play(name)
            .await
            .with_context(|| format!("cannot play {url}"))?;
        return Ok((resp, None, took, AnyPlayer::Rtmfp(Box::new(player))));
    }
    let conn = Client::connect(url, options)
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    let info = conn.info().clone();
    let player = conn
        .play(name)
        .await
        .with_context(|| format!("cannot play {url}"))?;
    Ok((
        info.response,
        info.handshake,
        info.connect_time,
        AnyPlayer::Rtmp(Box::new(player)),
    ))
}
