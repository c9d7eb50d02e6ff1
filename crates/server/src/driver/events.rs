//! What the driver does with each event of the sans-IO session: connect, publish and play
//! requests handed to the app (`decide`), media and data handed to the publishing slot, shared objects, calls
//! and the commands a live server answers by itself (RTMP 1.0 §7.2: NetConnection and NetStream
//! commands). The hub operations these lead to are in [`super::media`].

use super::{CloseReason, Connection};
use crate::app::Action;
use crate::control::Transport;
use crate::hub::FrameKind;
use crate::shared_objects::QUEUE_PER_CONNECTION;
use sluice_rtmp::handshake::HandshakeKind;
use sluice_rtmp::session::ServerEvent;
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
                return self.on_connect_request(request, command);
            }
            ServerEvent::StreamCreated { stream_id } => {
                debug!(conn = self.id, stream_id, "createStream");
            }
            ServerEvent::FmleCommand { command, .. } => {
                // The name may be a publisher's secret key: not logged.
                debug!(conn = self.id, command, "FMLE command");
            }
            ServerEvent::PublishRequest {
                request,
                stream_id,
                name,
                mode,
            } => return self.on_publish_request(request, stream_id, &name, mode),
            ServerEvent::PlayRequest {
                request,
                stream_id,
                args,
                play2,
            } => return self.on_play_request(request, stream_id, &args, play2),
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
                    self.notify_end(Action::Publish, &slot.name);
                    self.update_role();
                }
            }
            ServerEvent::PlayStopped { stream_id } | ServerEvent::StreamDeleted { stream_id } => {
                if let Some(ended) = self.vod.stop(stream_id) {
                    self.end_vod_play(ended);
                }
                if let Some(pos) = self.players.iter().position(|p| p.stream_id == stream_id) {
                    let p = self.players.remove(pos);
                    info!(conn = self.id, peer = %self.peer, app = %self.app, stream = %p.name, frames = p.frames, dropped = p.dropped, "stop playing");
                    self.notify_end(Action::Play, &p.name);
                    self.update_role();
                }
            }
            ServerEvent::Pause {
                stream_id, paused, ..
            } => {
                debug!(conn = self.id, stream_id, paused, "pause");
                self.vod.pause(stream_id, paused);
            }
            ServerEvent::Seek {
                stream_id,
                position_ms,
            } => {
                if self.vod.has(stream_id) {
                    info!(conn = self.id, stream_id, position_ms, "VOD seek");
                    self.vod.seek(stream_id, position_ms);
                } else {
                    debug!(conn = self.id, stream_id, "seek on a live stream (ignored)");
                }
            }
            ServerEvent::ReceiveChanged {
                stream_id,
                audio,
                video,
            } => debug!(conn = self.id, stream_id, audio, video, "receive flags"),
            ServerEvent::SetBufferLength {
                stream_id,
                buffer_ms,
            } => {
                debug!(conn = self.id, stream_id, buffer_ms, "set buffer length");
                let live = self.ctx.live.load();
                self.vod
                    .set_buffer(&live.settings.vod, stream_id, buffer_ms);
            }
            ServerEvent::StreamLengthRequest { request, name } => {
                match self.vod_dir() {
                    Some(dir) => {
                        let (key, _) = super::split_query(&name);
                        let name = key.to_owned();
                        let live = self.ctx.live.load();
                        let vod = &live.settings.vod;
                        self.vod
                            .stream_length(vod, &mut self.session, dir, request, name);
                    }
                    // Live streams have no length.
                    None => {
                        let _ = self.session.respond_stream_length(request, 0.0);
                    }
                }
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
