//! What the driver does with each event of the sans-IO session: connect, createStream, publish
//! and play requests answered, media and data handed to the publishing slot, shared objects, calls
//! and the commands a live server answers by itself (RTMP 1.0 §7.2: NetConnection and NetStream
//! commands). The hub operations these lead to are in [`super::media`].

use super::{app_key, split_query, CloseReason, Connection, PlaySlot, PublishSlot};
use crate::control::Transport;
use crate::hub::{FrameKind, PeerInfo};
use crate::shared_objects::QUEUE_PER_CONNECTION;
use crate::timestamps::TimestampMapper;
use sluice_rtmp::command::{codes, ConnectResponse};
use sluice_rtmp::handshake::HandshakeKind;
use sluice_rtmp::session::{ServerEvent, ServerSession};
use std::sync::Weak;
use std::time::Instant;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

impl Connection {
    pub(super) fn on_session_event(&mut self, ev: ServerEvent) -> Option<CloseReason> {
        match ev {
            ServerEvent::HandshakeComplete(kind) => {
                debug!(conn = self.id, peer = %self.peer, ?kind, "handshake complete");
                let name = match kind {
                    Some(HandshakeKind::Simple) => "simple",
                    Some(HandshakeKind::Digest(_)) => "digest",
                    Some(HandshakeKind::Rtmpe { .. }) => "rtmpe",
                    None => "unknown",
                };
                self.ctx.metrics.handshake(name);
                if matches!(kind, Some(HandshakeKind::Rtmpe { .. }))
                    && self.client.transport() == Transport::Rtmp
                {
                    self.client.set_transport(Transport::Rtmpe);
                    self.ctx
                        .metrics
                        .connection_moved(Transport::Rtmp, Transport::Rtmpe);
                }
            }
            ServerEvent::ConnectRequest { request, command } => {
                self.app = app_key(&command.app);
                info!(
                    conn = self.id,
                    peer = %self.peer,
                    app = %self.app,
                    tc_url = command.tc_url.as_deref().unwrap_or(""),
                    flash_ver = command.flash_ver.as_deref().unwrap_or(""),
                    object_encoding = command.object_encoding,
                    "connect"
                );
                if self.app.is_empty() {
                    let _ = self
                        .session
                        .reject_connect(request, "an application name is required");
                    return Some(CloseReason::ConnectRejected);
                }
                let mut resp = ConnectResponse {
                    extra_properties: ServerSession::enhanced_rtmp_properties(&command),
                    ..ConnectResponse::default()
                };
                resp.extra_information.insert(
                    "data",
                    sluice_amf::Amf0Object::new().with("version", "3,5,7,7009"),
                );
                if let Err(e) = self.session.accept_connect(request, resp) {
                    return Some(CloseReason::Protocol(e.to_string()));
                }
            }
            ServerEvent::StreamCreated { stream_id } => {
                debug!(conn = self.id, stream_id, "createStream");
            }
            ServerEvent::FmleCommand { command, name } => {
                debug!(conn = self.id, command, name = %name, "FMLE command");
            }
            ServerEvent::PublishRequest {
                request,
                stream_id,
                name,
                mode,
            } => {
                let (key, _query) = split_query(&name);
                let key = key.to_owned();
                let info = PeerInfo::new(self.peer.to_string()).with_connection_id(self.id);
                match self.ctx.hub.publish(&self.app, &key, info) {
                    Ok(publisher) => {
                        let _ = self.session.accept_publish(request);
                        let entry = self.ctx.registry.add_stream(&self.app, &key, &self.client);
                        info!(conn = self.id, peer = %self.peer, app = %self.app, stream = %key, mode = mode.as_str(), "publish");
                        self.publishers.insert(
                            stream_id,
                            PublishSlot {
                                publisher,
                                entry,
                                batch: Vec::with_capacity(64),
                                name: key,
                                started: Instant::now(),
                                bytes: 0,
                                frames: 0,
                                logged_video: false,
                                logged_audio: false,
                            },
                        );
                        self.update_role();
                    }
                    Err(e) => {
                        warn!(conn = self.id, peer = %self.peer, app = %self.app, stream = %key, error = %e, "publish refused");
                        let code = match e {
                            crate::hub::PublishError::AlreadyPublishing => codes::PUBLISH_BAD_NAME,
                            crate::hub::PublishError::ShutDown => codes::PUBLISH_DENIED,
                        };
                        let _ = self.session.reject_publish(request, code, &e.to_string());
                    }
                }
            }
            ServerEvent::PlayRequest {
                request,
                stream_id,
                args,
                play2,
            } => {
                let (key, _) = split_query(&args.name);
                let key = key.to_owned();
                self.players.retain(|p| p.stream_id != stream_id);
                let live = self.ctx.hub.is_live(&self.app, &key);
                let info = PeerInfo::new(self.peer.to_string()).with_connection_id(self.id);
                let mut subscriber = self.ctx.hub.subscribe(&self.app, &key, info);
                if let Some(sink) = &self.direct {
                    subscriber.attach_direct(Weak::clone(sink));
                }
                let _ = self.session.accept_play(request);
                info!(conn = self.id, peer = %self.peer, app = %self.app, stream = %key, live, play2, "play");
                // Almost every connection plays one stream: no spare slots.
                self.players.reserve_exact(1);
                self.players.push(PlaySlot {
                    stream_id,
                    subscriber,
                    name: key,
                    live: false,
                    started: false,
                    ts: TimestampMapper::new(),
                    frames: 0,
                    dropped: 0,
                    pending: Vec::new(),
                });
                self.update_role();
                if self.direct.is_some() {
                    // Nobody wakes a direct player for what it joins with (caches, `Publish`).
                    self.deliver(self.players.len() - 1);
                }
            }
            ServerEvent::Audio {
                stream_id,
                timestamp,
                payload,
            } => self.on_publisher_media(stream_id, FrameKind::Audio, timestamp, payload),
            ServerEvent::Video {
                stream_id,
                timestamp,
                payload,
            } => self.on_publisher_media(stream_id, FrameKind::Video, timestamp, payload),
            ServerEvent::Data {
                stream_id,
                timestamp,
                name,
                payload,
            } => self.on_publisher_data(stream_id, timestamp, &name, payload),
            ServerEvent::PublishStopped { stream_id } => {
                if let Some(mut slot) = self.publishers.remove(&stream_id) {
                    slot.flush();
                    self.log_unpublish(&slot, "unpublish");
                    self.update_role();
                }
            }
            ServerEvent::PlayStopped { stream_id } | ServerEvent::StreamDeleted { stream_id } => {
                if let Some(pos) = self.players.iter().position(|p| p.stream_id == stream_id) {
                    let p = self.players.remove(pos);
                    info!(conn = self.id, peer = %self.peer, app = %self.app, stream = %p.name, frames = p.frames, dropped = p.dropped, "stop playing");
                    self.update_role();
                }
            }
            ServerEvent::Pause {
                stream_id, paused, ..
            } => {
                debug!(conn = self.id, stream_id, paused, "pause");
            }
            ServerEvent::Seek { stream_id, .. } => {
                debug!(conn = self.id, stream_id, "seek on a live stream (ignored)");
            }
            ServerEvent::ReceiveChanged {
                stream_id,
                audio,
                video,
            } => debug!(conn = self.id, stream_id, audio, video, "receive flags"),
            ServerEvent::SetBufferLength {
                stream_id,
                buffer_ms,
            } => debug!(conn = self.id, stream_id, buffer_ms, "set buffer length"),
            ServerEvent::StreamLengthRequest { request, .. } => {
                // Live streams have no length.
                let _ = self.session.respond_stream_length(request, 0.0);
            }
            ServerEvent::Call {
                request, command, ..
            } => {
                debug!(conn = self.id, procedure = %command.name, "unhandled call");
                let _ = self
                    .session
                    .respond_call_error(request, &format!("no such procedure: {}", command.name));
            }
            ServerEvent::SharedObject { message, amf3 } => {
                debug!(conn = self.id, name = %message.name, events = message.events.len(), "shared object");
                let so_rx = &mut self.so_rx;
                let tx = self
                    .so_tx
                    .get_or_insert_with(|| {
                        let (tx, rx) = mpsc::channel(QUEUE_PER_CONNECTION);
                        *so_rx = Some(rx);
                        tx
                    })
                    .clone();
                let replies = self
                    .ctx
                    .shared_objects
                    .handle(&self.app, self.id, &tx, message);
                for r in replies {
                    self.send_shared_object(&r, amf3);
                }
            }
            ServerEvent::Acknowledgement(_) | ServerEvent::PingResponse(_) => {}
            ServerEvent::CloseRequested => return Some(CloseReason::CloseCommand),
            ServerEvent::Ignored { type_id, reason } => {
                if !self.warned_ignored {
                    self.warned_ignored = true;
                    warn!(conn = self.id, peer = %self.peer, ?type_id, reason, "message ignored (further ones are logged at debug)");
                } else {
                    debug!(conn = self.id, ?type_id, reason, "message ignored");
                }
            }
        }
        None
    }
}
