//! `rtmfp://` URLs: RTMP over RTMFP (RFC 7016 with Adobe's Flash profile, RFC 7425), the
//! tokio driver over the sans-IO core in `sluice-rtmfp`.
//!
//! [`RtmfpClient::connect`] resolves the host, opens an RTMFP session over UDP (default port
//! 1935) and sends `connect` on the NetConnection's control flow, all within
//! [`ClientOptions::connect_timeout`]; [`RtmfpConnection::publish`] and
//! [`RtmfpConnection::play`] create a stream and wait (within
//! [`ClientOptions::command_timeout`]) for `NetStream.Publish.Start` / `NetStream.Play.Start`.
//! Errors are the same [`ClientError`]s as RTMP's: a refused `connect` is
//! [`ClientError::ConnectRejected`], a server that does not answer is a
//! [`ClientError::Timeout`] (UDP has no connection to refuse, but an ICMP port unreachable is
//! [`ClientError::Refused`]).
//!
//! A player yields the same [`PlayEvent`]s as an RTMP [`crate::Player`]. A publisher's audio
//! and video carry RTMFP lifetimes (1.5 s and 1 s): what the network cannot deliver in time is
//! abandoned, not retransmitted; a message the send queue has no room for is dropped and
//! counted ([`RtmfpPublisher::dropped`]).

mod link;
mod stream;

pub use stream::{RtmfpPlayer, RtmfpPublisher};

use crate::error::{ClientError, Stage};
use crate::options::ClientOptions;
use crate::url::Url;
use link::Link;
use sluice_rtmfp::tc::TcClientEvent;
use sluice_rtmp::command::{codes, ConnectCommand, ConnectResponse, StatusInfo};
use std::time::{Duration, Instant};

/// How long a closing client waits for the server to acknowledge its close.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Entry points for `rtmfp://` URLs.
#[derive(Debug, Clone, Copy, Default)]
pub struct RtmfpClient;

impl RtmfpClient {
    /// Open a session to `url` and `connect` to its application.
    pub async fn connect(
        url: &Url,
        options: &ClientOptions,
    ) -> Result<RtmfpConnection, ClientError> {
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + options.connect_timeout;
        let host = url.host_port();
        let addrs = tokio::time::timeout(options.connect_timeout, tokio::net::lookup_host(&host))
            .await
            .map_err(|_| ClientError::Timeout {
                stage: Stage::Connect,
                after: options.connect_timeout,
            })?
            .map_err(|error| ClientError::Resolve {
                host: url.host().to_owned(),
                error,
            })?;
        let mut addrs: Vec<_> = addrs.collect();
        // Prefer IPv4 as the RTMP transports do with `localhost`.
        addrs.sort_by_key(|a| !a.is_ipv4());
        let Some(server) = addrs.first().copied() else {
            return Err(ClientError::Resolve {
                host: url.host().to_owned(),
                error: std::io::Error::other("no address"),
            });
        };
        let mut command = ConnectCommand::new(url.connect_app(), url.tc_url());
        command.flash_ver = Some(options.flash_ver.clone());
        let mut link = Link::open(server, &url.tc_url(), command).await?;
        let response = loop {
            let stage = if link.tc.is_some() {
                Stage::ConnectCommand
            } else {
                Stage::Handshake
            };
            match link.next_event(stage, Some(deadline)).await? {
                None => {
                    return Err(ClientError::Timeout {
                        stage,
                        after: options.connect_timeout,
                    })
                }
                Some(TcClientEvent::Connected(r)) => break r,
                Some(TcClientEvent::ConnectRefused(info)) => {
                    link.close(CLOSE_WAIT).await;
                    return Err(ClientError::ConnectRejected(info.unwrap_or_else(|| {
                        StatusInfo::error(codes::CONNECT_REJECTED, "connect refused")
                    })));
                }
                Some(TcClientEvent::Disconnected) => {
                    return Err(ClientError::Closed(Stage::ConnectCommand))
                }
                Some(_) => {}
            }
        };
        Ok(RtmfpConnection {
            link,
            url: url.clone(),
            options: options.clone(),
            response,
            connect_time: started.elapsed(),
        })
    }

    /// Connect to `url` and publish its stream name (with the query).
    pub async fn publish(
        url: &Url,
        options: &ClientOptions,
    ) -> Result<RtmfpPublisher, ClientError> {
        let name = crate::stream_name(url)?;
        RtmfpClient::connect(url, options)
            .await?
            .publish(&name)
            .await
    }

    /// Connect to `url` and play its stream name (with the query).
    pub async fn play(url: &Url, options: &ClientOptions) -> Result<RtmfpPlayer, ClientError> {
        let name = crate::stream_name(url)?;
        RtmfpClient::connect(url, options).await?.play(&name).await
    }
}

/// An RTMFP session whose `connect` was accepted.
#[derive(Debug)]
pub struct RtmfpConnection {
    link: Link,
    url: Url,
    options: ClientOptions,
    response: ConnectResponse,
    connect_time: Duration,
}

impl RtmfpConnection {
    /// The `_result` of `connect`.
    pub fn response(&self) -> &ConnectResponse {
        &self.response
    }

    /// Time from the start to the `connect` answer (resolve, RTMFP handshake, connect).
    pub fn connect_time(&self) -> Duration {
        self.connect_time
    }

    /// The URL connected to.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The server's address.
    pub fn server(&self) -> std::net::SocketAddr {
        self.link.server()
    }

    /// UDP payload bytes received.
    pub fn bytes_read(&self) -> u64 {
        self.link.bytes_read
    }

    /// UDP payload bytes sent.
    pub fn bytes_written(&self) -> u64 {
        self.link.bytes_written
    }

    /// `createStream` and wait for its answer.
    async fn create_stream(&mut self, stage: Stage) -> Result<u32, ClientError> {
        let deadline = tokio::time::Instant::now() + self.options.command_timeout;
        let tid = {
            let link = &mut self.link;
            let Some(tc) = link.tc.as_mut() else {
                return Err(ClientError::Closed(stage));
            };
            tc.create_stream(&mut link.ep, Instant::now())
                .map_err(|e| ClientError::Rtmfp(e.to_string()))?
        };
        loop {
            match self.link.next_event(stage, Some(deadline)).await? {
                None => return Err(self.timeout(stage)),
                Some(TcClientEvent::StreamCreated {
                    transaction_id,
                    stream_id,
                }) if transaction_id == tid => return Ok(stream_id),
                Some(TcClientEvent::Disconnected) => return Err(ClientError::Closed(stage)),
                Some(_) => {}
            }
        }
    }

    fn timeout(&self, stage: Stage) -> ClientError {
        ClientError::Timeout {
            stage,
            after: self.options.command_timeout,
        }
    }

    /// Publish `name` (live) on a new stream; waits for `NetStream.Publish.Start`.
    pub async fn publish(mut self, name: &str) -> Result<RtmfpPublisher, ClientError> {
        let stream_id = self.create_stream(Stage::Publish).await?;
        {
            let link = &mut self.link;
            let Some(tc) = link.tc.as_mut() else {
                return Err(ClientError::Closed(Stage::Publish));
            };
            tc.publish(
                &mut link.ep,
                Instant::now(),
                stream_id,
                name,
                sluice_rtmp::command::PublishMode::Live,
            )
            .map_err(|e| ClientError::Rtmfp(e.to_string()))?;
        }
        let deadline = tokio::time::Instant::now() + self.options.command_timeout;
        loop {
            match self.link.next_event(Stage::Publish, Some(deadline)).await? {
                None => return Err(self.timeout(Stage::Publish)),
                Some(TcClientEvent::Status { stream_id: s, info }) if s == stream_id => {
                    if info.is_error() {
                        self.link.close(CLOSE_WAIT).await;
                        return Err(ClientError::PublishRejected(info));
                    }
                    if info.code == codes::PUBLISH_START {
                        return Ok(RtmfpPublisher::new(self, stream_id, name.to_owned()));
                    }
                }
                Some(TcClientEvent::Disconnected) => {
                    return Err(ClientError::Closed(Stage::Publish))
                }
                Some(_) => {}
            }
        }
    }

    /// Play `name` on a new stream; waits for `NetStream.Play.Start`.
    pub async fn play(mut self, name: &str) -> Result<RtmfpPlayer, ClientError> {
        let stream_id = self.create_stream(Stage::Play).await?;
        {
            let link = &mut self.link;
            let Some(tc) = link.tc.as_mut() else {
                return Err(ClientError::Closed(Stage::Play));
            };
            let args = sluice_rtmp::command::PlayArgs {
                name: name.to_owned(),
                start: -2.0,
                duration: -1.0,
                reset: true,
            };
            tc.play(&mut link.ep, Instant::now(), stream_id, args)
                .map_err(|e| ClientError::Rtmfp(e.to_string()))?;
        }
        let deadline = tokio::time::Instant::now() + self.options.command_timeout;
        let mut early = Vec::new();
        loop {
            match self.link.next_event(Stage::Play, Some(deadline)).await? {
                None => return Err(self.timeout(Stage::Play)),
                Some(TcClientEvent::Status { stream_id: s, info }) if s == stream_id => {
                    if info.is_error() {
                        self.link.close(CLOSE_WAIT).await;
                        return Err(ClientError::PlayRejected(info));
                    }
                    if info.code == codes::PLAY_START {
                        return Ok(RtmfpPlayer::new(self, stream_id, name.to_owned(), early));
                    }
                }
                Some(TcClientEvent::Disconnected) => return Err(ClientError::Closed(Stage::Play)),
                Some(ev @ TcClientEvent::Media(_)) => {
                    if early.len() >= self.options.max_early_messages {
                        return Err(ClientError::LimitExceeded {
                            what: "messages before NetStream.Play.Start",
                            limit: self.options.max_early_messages,
                        });
                    }
                    early.push(ev);
                }
                Some(_) => {}
            }
        }
    }
}
