//! Carrying out the application's decisions ([`crate::app`]) on an RTMP connection: a connect,
//! publish or play request is turned into an [`app::Request`], asked, and answered when the
//! decision comes — at once for rules, after the hook's round trip otherwise. Pending decisions
//! are futures the connection's own loop polls ([`next_decision`]), so the connection keeps
//! reading (media of a pending publish is held by the session), pinging and serving its other
//! streams while it waits.
//!
//! A play of a stream that is not live, in an app with a pull relay, waits the same way for the
//! pull to start ([`crate::relay`]): accepted once the pulled stream is live here, refused with
//! `NetStream.Play.StreamNotFound` when no upstream has it.

use super::{app_key, split_query, CloseReason, Connection, PlaySlot, PublishSlot};
use crate::app::{self, Action, Check, Decision, DenyKind, PendingDecision};
use crate::hub::PeerInfo;
use crate::timestamps::TimestampMapper;
use sluice_rtmp::command::{codes, ConnectCommand, ConnectResponse, PlayArgs, PublishMode};
use sluice_rtmp::session::{RequestId, ServerSession};
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;
use std::time::Instant;
use tracing::{info, warn};

/// A request awaiting its decision.
pub(super) enum Asked {
    Connect {
        request: RequestId,
        command: Box<ConnectCommand>,
    },
    Publish {
        request: RequestId,
        stream_id: u32,
        mode: PublishMode,
    },
    Play {
        request: RequestId,
        stream_id: u32,
        play2: bool,
    },
    /// An allowed publish waiting for its claim in the cluster registry.
    PublishClaimed {
        request: RequestId,
        stream_id: u32,
        mode: PublishMode,
        claim: ClaimSlot,
    },
    /// An allowed play waiting for its pull relay to start.
    PlayPulled {
        request: RequestId,
        stream_id: u32,
        play2: bool,
    },
}

/// Where a publish's claim future leaves the claim for the connection to keep.
pub(crate) type ClaimSlot = Arc<Mutex<Option<crate::cluster::ClaimGuard>>>;

/// The second step of an allowed publish, for every protocol's driver: claim the stream in the
/// cluster registry (crate::cluster). The future decides the publish again: allowed once the
/// claim is held (the guard is left in the slot), `InUse` when another node owns the stream,
/// `Unverified` when the registry cannot be asked.
pub(crate) fn claim_publish(
    cluster: Arc<crate::cluster::Cluster>,
    app: String,
    allowed: app::Allowed,
) -> (
    ClaimSlot,
    impl std::future::Future<Output = Decision> + Send + 'static,
) {
    let claim: ClaimSlot = Arc::default();
    let slot = claim.clone();
    let decision = async move {
        match cluster.claim(&app, &allowed.stream).await {
            Ok(guard) => {
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(guard);
                Ok(allowed)
            }
            Err(e @ crate::cluster::ClaimError::Taken(_)) => {
                Err(app::Deny::new(DenyKind::InUse, e.to_string()))
            }
            Err(e) => Err(app::Deny::new(DenyKind::Unverified, e.to_string())),
        }
    };
    (claim, decision)
}

/// Log a refused publish: at `warn`, except refusals for want of the cluster registry, logged
/// once when it went away (crate::cluster) rather than per publish.
pub(crate) fn log_publish_denied(
    conn: u64,
    peer: &std::net::SocketAddr,
    app: &str,
    deny: &app::Deny,
) {
    if deny.kind == DenyKind::Unverified {
        tracing::debug!(conn, peer = %peer, app = %app, reason = %deny, "publish denied");
    } else {
        warn!(conn, peer = %peer, app = %app, reason = %deny, "publish denied");
    }
}

/// A request and the future that decides it.
pub(super) struct Waiting {
    asked: Asked,
    decision: PendingDecision,
}

/// The first pending decision to complete: its index and the decision. Pending forever when
/// there is none (the loop builds this future afresh each turn).
pub(super) async fn next_decision(waiting: &mut [Waiting]) -> (usize, Decision) {
    if waiting.is_empty() {
        return std::future::pending().await;
    }
    std::future::poll_fn(|cx| {
        for (i, w) in waiting.iter_mut().enumerate() {
            if let Poll::Ready(d) = w.decision.as_mut().poll(cx) {
                return Poll::Ready((i, d));
            }
        }
        Poll::Pending
    })
    .await
}

impl Connection {
    /// A request of this connection for the app.
    fn app_request(&self, action: Action, stream: &str, query: &str) -> app::Request {
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
            transport: self.client.transport(),
        }
    }

    /// Ask the app about `req`; answer now if it decided, or keep waiting.
    fn ask(&mut self, req: app::Request, asked: Asked) -> Option<CloseReason> {
        match self.ctx.app.load().check(req) {
            Check::Ready(d) => self.on_decision(asked, d),
            Check::Pending(decision) => {
                self.decisions.push(Waiting { asked, decision });
                None
            }
        }
    }

    /// Tell the app a publish or play ended (`on_unpublish` / `on_stop`).
    pub(super) fn notify_end(&self, action: Action, stream: &str) {
        let req = self.app_request(action, stream, "");
        self.ctx.app.load().notify_end(req);
        if action == Action::Publish {
            self.ctx.recorders.forget_failed(&self.app, stream);
        }
    }

    /// A connect request: remember its app, tcUrl and query, and ask.
    pub(super) fn on_connect_request(
        &mut self,
        request: RequestId,
        command: Box<ConnectCommand>,
    ) -> Option<CloseReason> {
        self.app = app_key(&command.app);
        self.relay_peer = crate::relay::is_relay_flash_ver(command.flash_ver.as_deref());
        self.tc_url = command.tc_url.clone().unwrap_or_default();
        self.connect_param = connect_param(&command.app, &self.tc_url);
        info!(
            conn = self.id,
            peer = %self.peer,
            app = %self.app,
            flash_ver = command.flash_ver.as_deref().unwrap_or(""),
            object_encoding = command.object_encoding,
            "connect"
        );
        if self.app.is_empty() {
            let _ = self
                .session
                .reject_connect(request, "an application name is required");
            self.ctx.metrics.request("connect", false, "bad_name");
            return Some(CloseReason::ConnectRejected);
        }
        self.client
            .set_state(&self.app, "", crate::control::Role::Idle);
        let req = self.app_request(Action::Connect, "", "");
        self.ask(req, Asked::Connect { request, command })
    }

    /// A publish request: ask about the name without its query.
    pub(super) fn on_publish_request(
        &mut self,
        request: RequestId,
        stream_id: u32,
        name: &str,
        mode: PublishMode,
    ) -> Option<CloseReason> {
        let (key, query) = split_query(name);
        let req = self.app_request(Action::Publish, key, query);
        self.ask(
            req,
            Asked::Publish {
                request,
                stream_id,
                mode,
            },
        )
    }

    /// A play request.
    pub(super) fn on_play_request(
        &mut self,
        request: RequestId,
        stream_id: u32,
        args: &PlayArgs,
        play2: bool,
    ) -> Option<CloseReason> {
        let (key, query) = split_query(&args.name);
        let req = self.app_request(Action::Play, key, query);
        self.vod.note_play(stream_id, args.start, args.duration);
        self.players.retain(|p| p.stream_id != stream_id);
        self.ask(
            req,
            Asked::Play {
                request,
                stream_id,
                play2,
            },
        )
    }

    /// Carry out a decision. Whatever the session queued meanwhile (media held during a
    /// pending publish, released on accept) is handled next by the caller's event drain.
    pub(super) fn on_decision(&mut self, asked: Asked, d: Decision) -> Option<CloseReason> {
        match asked {
            Asked::Connect { request, command } => self.finish_connect(request, &command, d),
            Asked::Publish {
                request,
                stream_id,
                mode,
            } => {
                self.finish_publish(request, stream_id, mode, d);
                None
            }
            Asked::PublishClaimed {
                request,
                stream_id,
                mode,
                claim,
            } => {
                if let Err(deny) = &d {
                    self.ctx
                        .metrics
                        .request("publish", false, deny.kind.as_str());
                }
                let guard = claim.lock().unwrap_or_else(|e| e.into_inner()).take();
                self.start_publish(request, stream_id, &mode, d, guard);
                None
            }
            Asked::Play {
                request,
                stream_id,
                play2,
            } => {
                self.finish_play(request, stream_id, play2, d);
                None
            }
            Asked::PlayPulled {
                request,
                stream_id,
                play2,
            } => {
                self.start_play(request, stream_id, play2, d);
                None
            }
        }
    }

    /// A decided pending request, from the loop: answer it, then handle what it released.
    pub(super) fn on_waited_decision(&mut self, w: Waiting, d: Decision) -> Option<CloseReason> {
        if let Some(r) = self.on_decision(w.asked, d) {
            return Some(r);
        }
        let closing = self.drain_session_events();
        self.flush_batches();
        closing
    }

    /// Move pending decisions out (the direct loop polls them outside the connection's lock).
    pub(super) fn take_decisions(&mut self, into: &mut Vec<Waiting>) {
        into.append(&mut self.decisions);
    }

    fn finish_connect(
        &mut self,
        request: RequestId,
        command: &ConnectCommand,
        d: Decision,
    ) -> Option<CloseReason> {
        if let Err(deny) = d {
            warn!(conn = self.id, peer = %self.peer, app = %self.app, reason = %deny, "connect denied");
            let _ = self.session.reject_connect(request, &deny.message);
            return Some(CloseReason::ConnectRejected);
        }
        let mut resp = ConnectResponse {
            extra_properties: ServerSession::enhanced_rtmp_properties(command),
            ..ConnectResponse::default()
        };
        resp.extra_information.insert(
            "data",
            sluice_amf::Amf0Object::new().with("version", "3,5,7,7009"),
        );
        if let Err(e) = self.session.accept_connect(request, resp) {
            return Some(CloseReason::Protocol(e.to_string()));
        }
        None
    }

    /// An allowed publish claims its stream in the cluster registry first (a pending decision:
    /// the loop goes on meanwhile); [`Self::start_publish`] answers once the claim is decided.
    fn finish_publish(
        &mut self,
        request: RequestId,
        stream_id: u32,
        mode: PublishMode,
        d: Decision,
    ) {
        let allowed = match d {
            Ok(a) if !a.stream.is_empty() => a,
            other => return self.start_publish(request, stream_id, &mode, other, None),
        };
        let (claim, decision) = claim_publish(self.ctx.cluster.clone(), self.app.clone(), allowed);
        self.decisions.push(Waiting {
            asked: Asked::PublishClaimed {
                request,
                stream_id,
                mode,
                claim,
            },
            decision: Box::pin(decision),
        });
    }

    /// Answer a publish: refused, or published into the hub with `claim` (the stream's claim
    /// in the cluster registry, released with the publisher's slot).
    fn start_publish(
        &mut self,
        request: RequestId,
        stream_id: u32,
        mode: &PublishMode,
        d: Decision,
        claim: Option<crate::cluster::ClaimGuard>,
    ) {
        let name = match d {
            Ok(a) if a.stream.is_empty() => Err(app::Deny::new(
                DenyKind::BadName,
                "a stream name is required".into(),
            )),
            other => other,
        };
        let (key, push, hook_record) = match name {
            Ok(a) => (a.stream, a.push, a.record),
            Err(deny) => {
                log_publish_denied(self.id, &self.peer, &self.app, &deny);
                let code = publish_deny_code(deny.kind);
                let _ = self.session.reject_publish(request, code, &deny.message);
                return;
            }
        };
        let info = PeerInfo::new(self.peer.to_string()).with_connection_id(self.id);
        match self.ctx.hub.publish(&self.app, &key, info) {
            Ok(publisher) => {
                if self.session.accept_publish(request).is_err() {
                    // The client deleted the stream while the decision was pending.
                    publisher.unpublish();
                    return;
                }
                let entry = self.ctx.registry.add_stream(&self.app, &key, &self.client);
                let pushes = self
                    .ctx
                    .relays
                    .start_pushes(&self.ctx, &self.app, &key, &push);
                let budget = self
                    .ctx
                    .live
                    .load()
                    .settings
                    .server
                    .latency_budget(&self.app);
                if budget.is_zero() {
                    info!(conn = self.id, peer = %self.peer, app = %self.app, stream = %key, mode = mode.as_str(), "publish");
                } else {
                    info!(conn = self.id, peer = %self.peer, app = %self.app, stream = %key, mode = mode.as_str(), latency_budget_ms = budget.as_millis() as u64, "publish");
                }
                self.publishers.insert(
                    stream_id,
                    PublishSlot {
                        publisher,
                        entry,
                        _pushes: pushes,
                        _claim: claim,
                        batch: super::batch::Batch::new(
                            budget,
                            self.ctx.hub.config().player_queue_max_bytes,
                            self.ctx.hub.config().player_queue_max_frames,
                        ),
                        name: key.clone(),
                        started: Instant::now(),
                        bytes: 0,
                        frames: 0,
                        logged_video: false,
                        logged_audio: false,
                    },
                );
                self.update_role();
                self.start_recording(&key, mode, hook_record);
            }
            Err(e) => {
                warn!(conn = self.id, peer = %self.peer, app = %self.app, stream = %key, error = %e, "publish refused");
                let code = publish_error_code(&e);
                self.ctx
                    .metrics
                    .request("publish", false, DenyKind::InUse.as_str());
                let _ = self.session.reject_publish(request, code, &e.to_string());
            }
        }
    }

    /// Record the publish just accepted (see [`start_recording`]).
    fn start_recording(&self, key: &str, mode: &PublishMode, hook_record: Option<bool>) {
        start_recording(&self.ctx, self.id, &self.app, key, mode, hook_record);
    }

    /// An allowed play of a stream that is not live, from a client that is not one of our
    /// relays, in an app with a pull relay: wait for the pull first. Otherwise play at once.
    fn finish_play(&mut self, request: RequestId, stream_id: u32, play2: bool, d: Decision) {
        if let Ok(a) = &d {
            if self.start_vod(request, stream_id, &a.stream) {
                return;
            }
            let pull = (!self.relay_peer && !self.ctx.hub.is_live(&self.app, &a.stream))
                .then(|| self.ctx.relays.pull(&self.ctx, &self.app, &a.stream))
                .flatten();
            if let Some(wait) = pull {
                info!(conn = self.id, peer = %self.peer, app = %self.app, stream = %a.stream, "play waits for a pull relay");
                let allowed = a.clone();
                self.decisions.push(Waiting {
                    asked: Asked::PlayPulled {
                        request,
                        stream_id,
                        play2,
                    },
                    decision: Box::pin(async move {
                        wait.await
                            .map(|()| allowed)
                            .map_err(|why| app::Deny::new(DenyKind::NotFound, why))
                    }),
                });
                return;
            }
        }
        self.start_play(request, stream_id, play2, d);
    }

    fn start_play(&mut self, request: RequestId, stream_id: u32, play2: bool, d: Decision) {
        let key = match d {
            Ok(a) => a.stream,
            Err(deny) => {
                warn!(conn = self.id, peer = %self.peer, app = %self.app, reason = %deny, "play denied");
                let code = play_deny_code(deny.kind);
                let _ = self.session.reject_play(request, code, &deny.message);
                return;
            }
        };
        if self.session.accept_play(request).is_err() {
            // The client deleted the stream while the decision was pending.
            return;
        }
        self.players.retain(|p| p.stream_id != stream_id);
        let live = self.ctx.hub.is_live(&self.app, &key);
        let info = PeerInfo::new(self.peer.to_string()).with_connection_id(self.id);
        let mut subscriber = self.ctx.hub.subscribe(&self.app, &key, info);
        if let Some(sink) = &self.direct {
            subscriber.attach_direct(Weak::clone(sink));
        }
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
}

/// Record a publish just accepted if `[record]`, the publisher's `record` / `append` or the
/// `on_publish` hook says so (the hook's `false` wins over the rest). Shared by the RTMP and
/// RTMFP drivers.
pub(crate) fn start_recording(
    ctx: &std::sync::Arc<crate::Context>,
    conn: u64,
    app: &str,
    key: &str,
    mode: &PublishMode,
    hook_record: Option<bool>,
) {
    use crate::record::{RecordMode, StartRequest, Trigger};
    let live = ctx.live.load();
    let cfg = &live.settings.record;
    let (rule_mode, format) = cfg.rule_for(app, key);
    let asked = match mode {
        PublishMode::Record if cfg.allow_publisher_request => Some(Trigger::PublisherRecord),
        PublishMode::Append if cfg.allow_publisher_request => Some(Trigger::PublisherAppend),
        _ => None,
    };
    let trigger = match hook_record {
        Some(false) => return,
        Some(true) => asked.unwrap_or(Trigger::Hook),
        None => match asked {
            Some(t) => t,
            None if rule_mode != RecordMode::Off => Trigger::Config,
            None => return,
        },
    };
    let req = StartRequest {
        trigger,
        mode: rule_mode,
        format,
    };
    if let Err(e) = ctx.recorders.start(ctx, app, key, req) {
        warn!(conn, app = %app, stream = %key, error = %e, "recording not started");
    }
}

/// Connect's query string (the parameters of requests whose stream name has none): the
/// `app`'s, or else the tcUrl's.
pub(crate) fn connect_param(app: &str, tc_url: &str) -> String {
    let (_, app_query) = split_query(app);
    let (_, tc_query) = split_query(tc_url);
    if app_query.is_empty() {
        tc_query
    } else {
        app_query
    }
    .to_owned()
}

/// The onStatus code of a refused publish.
pub(crate) fn publish_deny_code(kind: DenyKind) -> &'static str {
    match kind {
        DenyKind::BadName | DenyKind::InUse => codes::PUBLISH_BAD_NAME,
        _ => codes::PUBLISH_DENIED,
    }
}

/// The onStatus code of a publish the hub refused.
pub(crate) fn publish_error_code(e: &crate::hub::PublishError) -> &'static str {
    match e {
        crate::hub::PublishError::AlreadyPublishing => codes::PUBLISH_BAD_NAME,
        crate::hub::PublishError::ShutDown => codes::PUBLISH_DENIED,
    }
}

/// The onStatus code of a refused play.
pub(crate) fn play_deny_code(kind: DenyKind) -> &'static str {
    if kind == DenyKind::NotFound {
        codes::PLAY_STREAM_NOT_FOUND
    } else {
        codes::PLAY_FAILED
    }
}
