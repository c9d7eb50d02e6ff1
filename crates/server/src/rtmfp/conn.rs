//! One RTMFP client: its [`TcServer`] (RFC 7425 §5.3 NetConnection and NetStreams), its entry
//! in the connection registry, the decisions asked of the app for its `connect`, `publish`
//! and `play` (the same chain and answers as RTMP's `driver/decide.rs`), and its publishers'
//! media into the hub.

use super::play::{self, PlaySlot};
use crate::app::{self, Action, Check, Decision, DenyKind};
use crate::control::{ClientGuard, Role, StreamGuard, Transport};
use crate::driver::decide;
use crate::driver::media::{is_on_metadata, log_codec, record_codec, record_fps};
use crate::driver::{app_key, split_query};
use crate::hub::{MediaFrame, PeerInfo, Publisher};
use crate::Context;
use bytes::Bytes;
use sluice_amf::{Amf0Decoder, Amf0Value};
use sluice_rtmfp::tc::{TcServer, TcServerConfig, TcServerEvent};
use sluice_rtmfp::{Endpoint, Event, SessionHandle};
use sluice_rtmp::command::{codes, ConnectCommand, ConnectResponse, PublishMode, StatusInfo};
use sluice_rtmp::session::ServerSession;
use sluice_rtmp::{MessageType, RawMessage};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{info, warn};

/// How long a refused connection stays open so that its `_error` reaches the client.
const REFUSAL_GRACE: Duration = Duration::from_secs(1);

/// What every connection of one socket shares.
pub(super) struct Shared {
    pub ctx: Arc<Context>,
    pub tc: TcServerConfig,
    pub decided: mpsc::Sender<Decided>,
    pub media: mpsc::Sender<play::PlayerBatch>,
}

/// A request awaiting its decision.
pub(super) enum Asked {
    Connect(Box<ConnectCommand>),
    Publish {
        stream_id: u32,
        mode: PublishMode,
    },
    /// An allowed publish waiting for its stream's claim in the cluster registry.
    PublishClaimed {
        stream_id: u32,
        mode: PublishMode,
        claim: decide::ClaimSlot,
    },
    Play {
        stream_id: u32,
    },
    /// An allowed play waiting for its pull relay to start.
    PlayPulled {
        stream_id: u32,
    },
}

/// A decision that took a round trip, back on the loop.
pub(super) struct Decided {
    pub session: SessionHandle,
    /// Which ask of the session it answers (a newer ask on the same stream wins).
    pub ask: u64,
    pub asked: Asked,
    pub decision: Decision,
}

struct PublishSlot {
    publisher: Publisher,
    entry: StreamGuard,
    _pushes: crate::relay::PushGuard,
    /// The stream's claim in the cluster registry, released with the slot.
    _claim: Option<crate::cluster::ClaimGuard>,
    name: String,
    logged_video: bool,
    logged_audio: bool,
}

pub(super) struct Conn {
    pub id: u64,
    session: SessionHandle,
    peer: SocketAddr,
    tc: TcServer,
    client: ClientGuard,
    app: String,
    tc_url: String,
    connect_param: String,
    publishers: HashMap<u32, PublishSlot>,
    pub(super) players: HashMap<u32, PlaySlot>,
    /// The latest ask per stream (0 = connect).
    asks: HashMap<u32, u64>,
    next_ask: u64,
    close_at: Option<Instant>,
    pub(super) bytes_in: u64,
    pub(super) bytes_out: u64,
}

impl Conn {
    pub fn new(sh: &Shared, session: SessionHandle, peer: SocketAddr, peer_id: &[u8; 32]) -> Conn {
        let id = sh.ctx.next_connection_id();
        let client = sh.ctx.registry.add_client(id, peer, Transport::Rtmfp);
        sh.ctx.metrics.connection_opened(Transport::Rtmfp);
        let fingerprint: String = peer_id.iter().map(|b| format!("{b:02x}")).collect();
        info!(conn = id, peer = %peer, peer_id = %fingerprint, "RTMFP session");
        Conn {
            id,
            session,
            peer,
            tc: TcServer::new(session, sh.tc.clone()),
            client,
            app: String::new(),
            tc_url: String::new(),
            connect_param: String::new(),
            publishers: HashMap::new(),
            players: HashMap::new(),
            asks: HashMap::new(),
            next_ask: 1,
            close_at: None,
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    /// True once a refused connection's grace has passed or the API kicked the client.
    pub fn wants_close(&mut self, now: Instant) -> bool {
        self.client.store_bytes(self.bytes_in, self.bytes_out);
        if self.client.is_kicked() {
            info!(conn = self.id, peer = %self.peer, "kicked through the API");
            return true;
        }
        self.close_at.is_some_and(|t| now >= t)
    }

    fn close_soon(&mut self, now: Instant) {
        self.close_at.get_or_insert(now + REFUSAL_GRACE);
    }

    /// An endpoint event of this session.
    pub fn handle_event(&mut self, ep: &mut Endpoint, sh: &Shared, now: Instant, event: &Event) {
        if let Event::Message { bytes, .. } = event {
            self.bytes_in += bytes.len() as u64;
        }
        if let Err(e) = self.tc.handle_event(ep, now, event) {
            warn!(conn = self.id, peer = %self.peer, error = %e, "RTMFP protocol error; closing");
            let _ = ep.close(now, self.session);
            return;
        }
        self.drain_tc(ep, sh, now);
    }

    fn drain_tc(&mut self, ep: &mut Endpoint, sh: &Shared, now: Instant) {
        while let Some(ev) = self.tc.poll_event() {
            match ev {
                TcServerEvent::Connect(c) => self.on_connect(ep, sh, now, Box::new(c)),
                TcServerEvent::Publish {
                    stream_id,
                    name,
                    mode,
                } => {
                    let (key, query) = split_query(&name);
                    let req = self.request(Action::Publish, key, query);
                    self.ask(ep, sh, now, req, Asked::Publish { stream_id, mode });
                }
                TcServerEvent::Play { stream_id, args } => {
                    self.players.remove(&stream_id);
                    let (key, query) = split_query(&args.name);
                    let req = self.request(Action::Play, key, query);
                    self.ask(ep, sh, now, req, Asked::Play { stream_id });
                }
                TcServerEvent::Media(m) => self.on_media(m),
                TcServerEvent::StreamClosed { stream_id } => self.end_stream(sh, stream_id),
                TcServerEvent::PeerInfo(addrs) => {
                    // `setPeerInfo`: the client may now be introduced to other peers.
                    let parsed: Vec<SocketAddr> =
                        addrs.iter().filter_map(|a| a.parse().ok()).collect();
                    let _ = ep.set_peer_addresses(self.session, &parsed);
                }
                TcServerEvent::Disconnected => {
                    let _ = ep.close(now, self.session);
                }
            }
        }
    }

    fn request(&self, action: Action, stream: &str, query: &str) -> app::Request {
        app::Request {
            action,
            client_id: self.id,
            peer: self.peer,
            app: self.app.clone(),
            stream: stream.to_owned(),
            param: if query.is_empty() {
                self.connect_param.clone()
            } else {
                query.to_owned()
            },
            tc_url: self.tc_url.clone(),
            transport: Transport::Rtmfp,
        }
    }

    fn on_connect(&mut self, ep: &mut Endpoint, sh: &Shared, now: Instant, c: Box<ConnectCommand>) {
        self.app = app_key(&c.app);
        self.tc_url = c.tc_url.clone().unwrap_or_default();
        self.connect_param = decide::connect_param(&c.app, &self.tc_url);
        info!(conn = self.id, peer = %self.peer, app = %self.app, flash_ver = c.flash_ver.as_deref().unwrap_or(""), "connect");
        if self.app.is_empty() {
            let info =
                StatusInfo::error(codes::CONNECT_REJECTED, "an application name is required");
            let _ = self.tc.reject_connect(ep, now, info);
            sh.ctx.metrics.request("connect", false, "bad_name");
            self.close_soon(now);
            return;
        }
        self.client.set_state(&self.app, "", Role::Idle);
        let req = self.request(Action::Connect, "", "");
        self.ask(ep, sh, now, req, Asked::Connect(c));
    }

    /// Ask the app; answer now if it decided, else when the decision comes back to the loop.
    fn ask(
        &mut self,
        ep: &mut Endpoint,
        sh: &Shared,
        now: Instant,
        req: app::Request,
        asked: Asked,
    ) {
        let ask = self.next_ask;
        self.next_ask += 1;
        self.asks.insert(asked.stream_id(), ask);
        match sh.ctx.app.load().check(req) {
            Check::Ready(d) => self.on_decided(ep, sh, now, ask, asked, d),
            Check::Pending(fut) => self.wait(sh, ask, asked, fut),
        }
    }

    /// Decide `asked` when `decision` completes, on the loop (the session keeps being served).
    fn wait(
        &self,
        sh: &Shared,
        ask: u64,
        asked: Asked,
        decision: impl std::future::Future<Output = Decision> + Send + 'static,
    ) {
        let tx = sh.decided.clone();
        let session = self.session;
        tokio::spawn(async move {
            let decision = decision.await;
            let d = Decided {
                session,
                ask,
                asked,
                decision,
            };
            let _ = tx.send(d).await;
        });
    }

    /// Carry out a decision (stale ones, overtaken by a newer request, are dropped).
    pub fn on_decided(
        &mut self,
        ep: &mut Endpoint,
        sh: &Shared,
        now: Instant,
        ask: u64,
        asked: Asked,
        d: Decision,
    ) {
        if self.asks.get(&asked.stream_id()) != Some(&ask) {
            return;
        }
        match asked {
            Asked::Connect(c) => self.finish_connect(ep, now, &c, d),
            Asked::Publish { stream_id, mode } => {
                self.claim_publish(ep, sh, now, ask, stream_id, mode, d)
            }
            Asked::PublishClaimed {
                stream_id,
                mode,
                claim,
            } => {
                if let Err(deny) = &d {
                    sh.ctx.metrics.request("publish", false, deny.kind.as_str());
                }
                let guard = claim.lock().unwrap_or_else(|e| e.into_inner()).take();
                self.finish_publish(ep, sh, now, stream_id, &mode, d, guard)
            }
            Asked::Play { stream_id } => self.finish_play(ep, sh, now, ask, stream_id, d),
            Asked::PlayPulled { stream_id } => self.start_play(ep, sh, now, stream_id, d),
        }
        // Commands held while connect was decided, or media released by an accepted publish.
        self.drain_tc(ep, sh, now);
    }

    fn finish_connect(&mut self, ep: &mut Endpoint, now: Instant, c: &ConnectCommand, d: Decision) {
        if let Err(deny) = d {
            warn!(conn = self.id, peer = %self.peer, app = %self.app, reason = %deny, "connect denied");
            let info = StatusInfo::error(codes::CONNECT_REJECTED, deny.message);
            let _ = self.tc.reject_connect(ep, now, info);
            self.close_soon(now);
            return;
        }
        let mut resp = ConnectResponse {
            extra_properties: ServerSession::enhanced_rtmp_properties(c),
            ..ConnectResponse::default()
        };
        resp.extra_information.insert(
            "data",
            sluice_amf::Amf0Object::new().with("version", "3,5,7,7009"),
        );
        if let Err(e) = self.tc.accept_connect(ep, now, &resp) {
            warn!(conn = self.id, peer = %self.peer, error = %e, "connect not answered; closing");
            let _ = ep.close(now, self.session);
        }
    }

    /// An allowed publish claims its stream in the cluster registry first (as on RTMP:
    /// [`decide::claim_publish`]; the loop goes on meanwhile), then [`Self::finish_publish`].
    #[allow(clippy::too_many_arguments)]
    fn claim_publish(
        &mut self,
        ep: &mut Endpoint,
        sh: &Shared,
        now: Instant,
        ask: u64,
        stream_id: u32,
        mode: PublishMode,
        d: Decision,
    ) {
        let allowed = match d {
            Ok(a) if !a.stream.is_empty() => a,
            other => return self.finish_publish(ep, sh, now, stream_id, &mode, other, None),
        };
        let (claim, decision) =
            decide::claim_publish(sh.ctx.cluster.clone(), self.app.clone(), allowed);
        let asked = Asked::PublishClaimed {
            stream_id,
            mode,
            claim,
        };
        self.wait(sh, ask, asked, decision);
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_publish(
        &mut self,
        ep: &mut Endpoint,
        sh: &Shared,
        now: Instant,
        stream_id: u32,
        mode: &PublishMode,
        d: Decision,
        claim: Option<crate::cluster::ClaimGuard>,
    ) {
        let d = match d {
            Ok(a) if a.stream.is_empty() => Err(app::Deny::new(
                DenyKind::BadName,
                "a stream name is required".into(),
            )),
            other => other,
        };
        let allowed = match d {
            Ok(a) => a,
            Err(deny) => {
                decide::log_publish_denied(self.id, &self.peer, &self.app, &deny);
                let code = decide::publish_deny_code(deny.kind);
                let _ = self.tc.reject_stream(
                    ep,
                    now,
                    stream_id,
                    StatusInfo::error(code, deny.message),
                );
                return;
            }
        };
        let key = allowed.stream;
        let info = PeerInfo::new(self.peer.to_string()).with_connection_id(self.id);
        let publisher = match sh.ctx.hub.publish(&self.app, &key, info) {
            Ok(p) => p,
            Err(e) => {
                warn!(conn = self.id, peer = %self.peer, app = %self.app, stream = %key, error = %e, "publish refused");
                let code = decide::publish_error_code(&e);
                sh.ctx
                    .metrics
                    .request("publish", false, DenyKind::InUse.as_str());
                let status = StatusInfo::error(code, e.to_string());
                let _ = self.tc.reject_stream(ep, now, stream_id, status);
                return;
            }
        };
        if self.tc.accept_publish(ep, now, stream_id, &key).is_err() {
            // The stream was deleted while the decision was pending.
            return;
        }
        let entry = sh.ctx.registry.add_stream(&self.app, &key, &self.client);
        let pushes = sh
            .ctx
            .relays
            .start_pushes(&sh.ctx, &self.app, &key, &allowed.push);
        info!(conn = self.id, peer = %self.peer, app = %self.app, stream = %key, mode = mode.as_str(), "publish");
        self.publishers.insert(
            stream_id,
            PublishSlot {
                publisher,
                entry,
                _pushes: pushes,
                _claim: claim,
                name: key.clone(),
                logged_video: false,
                logged_audio: false,
            },
        );
        self.client.set_state(&self.app, &key, Role::Publisher);
        decide::start_recording(&sh.ctx, self.id, &self.app, &key, mode, allowed.record);
    }

    /// An allowed play of a stream that is not live, in an app with a pull relay, waits for
    /// the pull; otherwise it starts at once.
    fn finish_play(
        &mut self,
        ep: &mut Endpoint,
        sh: &Shared,
        now: Instant,
        ask: u64,
        stream_id: u32,
        d: Decision,
    ) {
        if let Ok(a) = &d {
            let pull = (!sh.ctx.hub.is_live(&self.app, &a.stream))
                .then(|| sh.ctx.relays.pull(&sh.ctx, &self.app, &a.stream))
                .flatten();
            if let Some(wait) = pull {
                info!(conn = self.id, peer = %self.peer, app = %self.app, stream = %a.stream, "play waits for a pull relay");
                let allowed = a.clone();
                let decision = async move {
                    wait.await
                        .map(|()| allowed)
                        .map_err(|why| app::Deny::new(DenyKind::NotFound, why))
                };
                self.wait(sh, ask, Asked::PlayPulled { stream_id }, decision);
                return;
            }
        }
        self.start_play(ep, sh, now, stream_id, d);
    }

    fn start_play(
        &mut self,
        ep: &mut Endpoint,
        sh: &Shared,
        now: Instant,
        stream_id: u32,
        d: Decision,
    ) {
        let key = match d {
            Ok(a) => a.stream,
            Err(deny) => {
                warn!(conn = self.id, peer = %self.peer, app = %self.app, reason = %deny, "play denied");
                let code = decide::play_deny_code(deny.kind);
                let status = StatusInfo::error(code, deny.message);
                let _ = self.tc.reject_stream(ep, now, stream_id, status);
                return;
            }
        };
        if self.tc.accept_play(ep, now, stream_id, &key).is_err() {
            return;
        }
        let live = sh.ctx.hub.is_live(&self.app, &key);
        info!(conn = self.id, peer = %self.peer, app = %self.app, stream = %key, live, "play");
        let info = PeerInfo::new(self.peer.to_string()).with_connection_id(self.id);
        let subscriber = sh.ctx.hub.subscribe(&self.app, &key, info);
        let slot = PlaySlot::start(sh, self.session, stream_id, key.clone(), subscriber);
        self.players.insert(stream_id, slot);
        self.client.set_state(&self.app, &key, Role::Player);
    }

    /// A publisher's audio, video or data message into the hub.
    fn on_media(&mut self, m: RawMessage) {
        let Some(slot) = self.publishers.get_mut(&m.stream_id) else {
            return;
        };
        let ts = m.timestamp.value();
        match m.type_id {
            MessageType::AUDIO | MessageType::VIDEO => {
                let video = m.type_id == MessageType::VIDEO;
                let (mut f, header, logged) = if video {
                    let i = sluice_flv::classify_video(&m.payload);
                    let f = MediaFrame::video(ts, m.payload, i.is_keyframe);
                    (f, i.is_sequence_header, &mut slot.logged_video)
                } else {
                    let i = sluice_flv::classify_audio(&m.payload);
                    let f = MediaFrame::audio(ts, m.payload);
                    (f, i.is_sequence_header, &mut slot.logged_audio)
                };
                if header {
                    record_codec(&slot.entry, video, &f.payload);
                    if !*logged {
                        *logged = true;
                        log_codec(self.id, &slot.name, video, &f.payload);
                    }
                    f = f.into_sequence_header();
                }
                slot.publisher.send(f);
            }
            MessageType::DATA_AMF0 => on_data(slot, ts, m.payload),
            // AMF3 data: a format byte (0) before AMF0 values.
            MessageType::DATA_AMF3 if m.payload.first() == Some(&0) => {
                on_data(slot, ts, m.payload.slice(1..))
            }
            _ => {}
        }
    }

    /// A stream stopped publishing or playing.
    fn end_stream(&mut self, sh: &Shared, stream_id: u32) {
        if let Some(slot) = self.publishers.remove(&stream_id) {
            info!(conn = self.id, app = %self.app, stream = %slot.name, "unpublish");
            self.notify_end(sh, Action::Publish, &slot.name);
        }
        if let Some(p) = self.players.remove(&stream_id) {
            info!(conn = self.id, app = %self.app, stream = %p.name, frames = p.frames, dropped = p.dropped, "play stop");
            self.notify_end(sh, Action::Play, &p.name);
        }
        self.asks.remove(&stream_id);
        if self.publishers.is_empty() && self.players.is_empty() {
            self.client.set_state(&self.app, "", Role::Idle);
        }
    }

    fn notify_end(&self, sh: &Shared, action: Action, stream: &str) {
        let req = self.request(action, stream, "");
        sh.ctx.app.load().notify_end(req);
        if action == Action::Publish {
            sh.ctx.recorders.forget_failed(&self.app, stream);
        }
    }

    /// Server shutdown: players hear the stream ended before the session closes.
    pub fn shut_down(&mut self, ep: &mut Endpoint, now: Instant) {
        for (sid, p) in &self.players {
            let info = StatusInfo::status(
                codes::PLAY_UNPUBLISH_NOTIFY,
                format!("{} is now unpublished", p.name),
            );
            let _ = self.tc.send_status(ep, now, *sid, info);
        }
    }

    /// The session ended: unpublish, stop playing, tell the hooks, log.
    pub fn finish(mut self, sh: &Shared, reason: &str) {
        self.client.store_bytes(self.bytes_in, self.bytes_out);
        sh.ctx.metrics.connection_closed(Transport::Rtmfp);
        let streams: Vec<u32> = self
            .publishers
            .keys()
            .chain(self.players.keys())
            .copied()
            .collect();
        for s in streams {
            self.end_stream(sh, s);
        }
        info!(conn = self.id, peer = %self.peer, app = %self.app, bytes_in = self.bytes_in, bytes_out = self.bytes_out, reason, "close");
    }

    /// The TC connection (for the play path).
    pub(super) fn tc_mut(&mut self) -> &mut TcServer {
        &mut self.tc
    }

    pub(super) fn session(&self) -> SessionHandle {
        self.session
    }
}

/// A data message from a publisher: `@setDataFrame` / `onMetaData` become the stream's cached
/// metadata, `@clearDataFrame` is dropped, anything else is forwarded as data.
fn on_data(slot: &mut PublishSlot, ts: u32, payload: Bytes) {
    let mut dec = Amf0Decoder::new(&payload);
    let name = match dec.decode() {
        Ok(Amf0Value::String(s)) => s,
        _ => return,
    };
    match name.as_str() {
        "@setDataFrame" => {
            let rest = payload.slice(dec.position()..);
            if is_on_metadata(&rest) {
                record_fps(&slot.entry, &rest);
                slot.publisher.set_metadata(rest);
            } else {
                slot.publisher.send(MediaFrame::data(ts, rest));
            }
        }
        "onMetaData" => {
            record_fps(&slot.entry, &payload);
            slot.publisher.set_metadata(payload);
        }
        "@clearDataFrame" => {}
        _ => slot.publisher.send(MediaFrame::data(ts, payload)),
    }
}
