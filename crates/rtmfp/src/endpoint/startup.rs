//! Session startup (RFC 7016 §3.5.1, RFC 7425 §4.3–4.6), both roles.
//!
//! Initiator: IHello (retransmitted from 1 s, +1.5 s each time) → RHello or Redirect →
//! IIKeying (retransmitted likewise; re-sent with a new cookie on Cookie Change) → RIKeying →
//! open. Responder: stateless RHello with a 64-byte cookie; IIKeying with a valid cookie →
//! key agreement → RIKeying → open. A repeated IIKeying (same address, initiator session ID and
//! SKIC) gets the same RIKeying again. Glare (each end opening to the other): the end whose
//! certificate compares greater keeps its own open and ignores the other's IIKeying
//! (RFC 7425 §4.3.6 compares the encoded certificates); the other end drops its open and
//! answers, keeping the same session handle.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Endpoint;
use crate::chunk::Chunk;
use crate::config::InitiatorStyle;
use crate::cookie::CookieCheck;
use crate::crypto::dh::{GroupId, KeyPair};
use crate::error::{HandshakeError, PeerError};
use crate::event::{CloseReason, Event, SessionHandle};
use crate::flash::keys::SessionKeys;
use crate::flash::{self, Certificate, Component, Epd, Negotiation, NEG_SEND_ON_REQUEST};
use crate::packet::{Mode, Packet};
use crate::session::{Role, Session};

/// Initial startup retransmission interval.
const FIRST_RETRANSMIT: Duration = Duration::from_secs(1);
/// Added to the interval at each retransmission.
const RETRANSMIT_STEP: Duration = Duration::from_millis(1500);
/// The Flash signature.
const SIGNATURE: &[u8] = &[0x58];

/// An initiator's startup in progress.
#[derive(Debug)]
pub struct Opening {
    id: u32,
    targets: Vec<SocketAddr>,
    epd: Vec<u8>,
    tag: [u8; 16],
    keying: Option<Keying>,
    attempts: u32,
    interval: Duration,
    pub(crate) next_send: Instant,
}

#[derive(Debug)]
struct Keying {
    addr: SocketAddr,
    responder_cert: Certificate,
    keypair: KeyPair,
    cert: Bytes,
    skic: Bytes,
    cookie: Bytes,
    offer: (Negotiation, Negotiation),
}

impl Opening {
    pub(crate) fn new(
        id: u32,
        addr: SocketAddr,
        epd: Vec<u8>,
        tag: [u8; 16],
        now: Instant,
    ) -> Self {
        Opening {
            id,
            targets: vec![addr],
            epd,
            tag,
            keying: None,
            attempts: 1,
            interval: FIRST_RETRANSMIT,
            next_send: now + FIRST_RETRANSMIT,
        }
    }
}

impl Endpoint {
    pub(super) fn send_ihello(&mut self, now: Instant, id: u32) {
        let Some(o) = self.openings.get(&id) else {
            return;
        };
        let chunk = Chunk::IHello {
            epd: Bytes::copy_from_slice(&o.epd),
            tag: Bytes::copy_from_slice(&o.tag),
        };
        for to in o.targets.clone() {
            self.send_startup(now, to, 0, &chunk);
        }
    }

    fn send_iikeying(&mut self, now: Instant, id: u32) {
        let Some(Opening {
            keying: Some(k), ..
        }) = self.openings.get(&id)
        else {
            return;
        };
        let chunk = Chunk::IIKeying {
            session_id: id,
            cookie: k.cookie.clone(),
            certificate: k.cert.clone(),
            skic: k.skic.clone(),
            signature: Bytes::from_static(SIGNATURE),
        };
        let to = k.addr;
        self.send_startup(now, to, 0, &chunk);
    }

    pub(super) fn startup_timeouts(&mut self, now: Instant) {
        let due: Vec<u32> = self
            .openings
            .values()
            .filter(|o| o.next_send <= now)
            .map(|o| o.id)
            .collect();
        for id in due {
            let o = self.openings.get_mut(&id).expect("listed");
            if o.attempts >= self.cfg.startup_attempts {
                self.openings.remove(&id);
                self.events.push_back(Event::SessionClosed {
                    session: SessionHandle(id),
                    reason: CloseReason::StartupTimeout,
                });
                continue;
            }
            o.attempts += 1;
            o.interval += RETRANSMIT_STEP;
            o.next_send = now + o.interval;
            if o.keying.is_some() {
                self.send_iikeying(now, id);
            } else {
                self.send_ihello(now, id);
            }
        }
    }

    pub(super) fn handle_startup(
        &mut self,
        now: Instant,
        from: SocketAddr,
        session_id: u32,
        packet: Packet,
    ) -> Result<(), PeerError> {
        if packet.header.mode != Mode::Startup {
            return Err(crate::error::PacketError::BadMode {
                mode: packet.header.flags() & 3,
            }
            .into());
        }
        for chunk in packet.chunks {
            let kind = chunk.kind().0;
            match (session_id, chunk) {
                (0, Chunk::IHello { epd, tag }) if self.cfg.accept => {
                    self.on_ihello(now, from, &epd, tag)?
                }
                (
                    0,
                    Chunk::RHello {
                        tag,
                        cookie,
                        certificate,
                    },
                ) => self.on_rhello(now, from, &tag, cookie, certificate)?,
                (0, Chunk::Redirect { tag, addresses }) => {
                    let o = self
                        .openings
                        .values_mut()
                        .find(|o| o.keying.is_none() && o.tag[..] == tag[..])
                        .ok_or(HandshakeError::NoSuchStartup)?;
                    let mut new = Vec::new();
                    for a in addresses.iter().take(8) {
                        if !o.targets.contains(&a.addr) && o.targets.len() < 16 {
                            o.targets.push(a.addr);
                            new.push(a.addr);
                        }
                    }
                    // Only the new addresses get an IHello now (the rest follow the
                    // retransmission schedule): answering every Redirect with IHellos to all
                    // targets, the redirector included, would loop as fast as the link goes.
                    let chunk = Chunk::IHello {
                        epd: Bytes::copy_from_slice(&o.epd),
                        tag: Bytes::copy_from_slice(&o.tag),
                    };
                    for to in new {
                        self.send_startup(now, to, 0, &chunk);
                    }
                }
                (
                    0,
                    Chunk::IIKeying {
                        session_id,
                        cookie,
                        certificate,
                        skic,
                        ..
                    },
                ) if self.cfg.accept => {
                    self.on_iikeying(now, from, session_id, cookie, certificate, skic)?
                }
                (id, Chunk::CookieChange { old, new }) if id != 0 => {
                    let Some(Opening {
                        keying: Some(k), ..
                    }) = self.openings.get_mut(&id)
                    else {
                        return Err(HandshakeError::NoSuchStartup.into());
                    };
                    if k.cookie != old {
                        return Err(HandshakeError::BadCookie.into());
                    }
                    k.cookie = new;
                    self.send_iikeying(now, id);
                }
                (
                    id,
                    Chunk::RIKeying {
                        session_id: far,
                        skrc,
                        ..
                    },
                ) if id != 0 => self.on_rikeying(now, id, far, skrc)?,
                (_, Chunk::Unknown { .. }) => {}
                _ => return Err(HandshakeError::UnexpectedChunk { chunk: kind }.into()),
            }
        }
        Ok(())
    }

    pub(super) fn on_ihello(
        &mut self,
        now: Instant,
        from: SocketAddr,
        epd: &[u8],
        tag: Bytes,
    ) -> Result<(), PeerError> {
        let raw_epd = epd;
        let epd = Epd::decode(epd)?;
        // A URI (or hostname) or our server peer ID is answered with the server certificate;
        // our P2P peer ID with the certificate we open sessions with.
        let p2p = epd.fingerprint == Some(self.p2p_peer_id());
        let for_us = match epd.fingerprint {
            Some(f) => f == self.peer_id() || p2p,
            None => epd.ancillary.is_some() || epd.hostname.is_some(),
        };
        if tag.len() > 64 {
            return Err(HandshakeError::NotForUs.into());
        }
        if !for_us {
            // An IHello naming a peer we have a session with: introduce them.
            return match epd.fingerprint {
                Some(f) if self.introduce(now, from, raw_epd, &tag, f) => Ok(()),
                _ => Err(HandshakeError::NotForUs.into()),
            };
        }
        let cookie = self.cookies.make(from, now - self.epoch);
        let chunk = Chunk::RHello {
            tag,
            cookie: Bytes::copy_from_slice(&cookie),
            certificate: Bytes::copy_from_slice(if p2p {
                &self.ephemeral_cert
            } else {
                &self.server_cert
            }),
        };
        self.send_startup(now, from, 0, &chunk);
        Ok(())
    }

    fn choose_group(&self, offered: &[GroupId]) -> Option<GroupId> {
        self.cfg
            .groups
            .iter()
            .copied()
            .find(|g| g.is_supported() && offered.contains(g))
    }

    fn on_rhello(
        &mut self,
        now: Instant,
        from: SocketAddr,
        tag: &[u8],
        cookie: Bytes,
        cert: Bytes,
    ) -> Result<(), PeerError> {
        let id = self
            .openings
            .values()
            .find(|o| o.keying.is_none() && o.tag[..] == *tag)
            .map(|o| o.id)
            .ok_or(HandshakeError::NoSuchStartup)?;
        let responder_cert = Certificate::decode(cert)?;
        let group = if responder_cert.ephemeral_groups.is_empty() {
            GroupId::MODP_1024
        } else {
            self.choose_group(&responder_cert.ephemeral_groups)
                .ok_or(HandshakeError::NoCommonGroup)?
        };
        let keypair =
            KeyPair::generate(group, &mut *self.rng).ok_or(HandshakeError::NoCommonGroup)?;
        let mut randomness = [0u8; 64];
        self.rng.fill_bytes(&mut randomness);
        let hmac = Negotiation {
            flags: NEG_SEND_ON_REQUEST,
            len: self.cfg.hmac_len,
        };
        let sseq = Negotiation {
            flags: NEG_SEND_ON_REQUEST,
            len: 0,
        };
        let (cert, skic) = match self.cfg.initiator_style {
            InitiatorStyle::Static => (
                flash::static_key_certificate(group, keypair.public()),
                flash::initiator_component(group, None, &randomness, hmac, sseq),
            ),
            InitiatorStyle::Ephemeral => (
                self.ephemeral_cert.clone(),
                flash::initiator_component(group, Some(keypair.public()), &randomness, hmac, sseq),
            ),
        };
        let o = self.openings.get_mut(&id).expect("found above");
        o.keying = Some(Keying {
            addr: from,
            responder_cert,
            keypair,
            cert: Bytes::from(cert),
            skic: Bytes::from(skic),
            cookie,
            offer: (hmac, sseq),
        });
        o.attempts = 1;
        o.interval = FIRST_RETRANSMIT;
        o.next_send = now + FIRST_RETRANSMIT;
        self.send_iikeying(now, id);
        Ok(())
    }

    fn on_rikeying(
        &mut self,
        now: Instant,
        id: u32,
        far_session_id: u32,
        skrc: Bytes,
    ) -> Result<(), PeerError> {
        let Some(Opening {
            keying: Some(k), ..
        }) = self.openings.get(&id)
        else {
            return Err(HandshakeError::NoSuchStartup.into());
        };
        let result = (|| {
            let c = Component::decode(&skrc)?;
            let (g, key) = c.ephemeral_key.clone().ok_or(HandshakeError::Malformed {
                what: "SKRC without a public key",
            })?;
            if g != k.keypair.group() {
                return Err(HandshakeError::NoCommonGroup);
            }
            let shared = k
                .keypair
                .shared_secret(&key)
                .ok_or(HandshakeError::BadPublicKey)?;
            let (hs, hr) = flash::resolve(k.offer.0, c.hmac, "HMAC")?;
            let (ss, sr) = flash::resolve(k.offer.1, c.sseq, "session sequence numbers")?;
            let keys = SessionKeys::derive(&shared, &k.skic, &skrc);
            Ok((keys, hs, hr, ss.is_some(), sr.is_some()))
        })();
        let o = self.openings.remove(&id).expect("found above");
        let k = o.keying.expect("matched above");
        let (keys, hs, hr, ss, sr) = match result {
            Ok(v) => v,
            Err(e) => {
                self.events.push_back(Event::SessionClosed {
                    session: SessionHandle(id),
                    reason: CloseReason::StartupFailed(e.clone()),
                });
                return Err(e.into());
            }
        };
        let crypto = keys.packet_crypto(hs, hr, ss, sr);
        let peer_id = k.responder_cert.fingerprint();
        let session = Session::new(
            SessionHandle(id),
            Role::Initiator,
            k.addr,
            far_session_id,
            crypto,
            peer_id,
            (keys.near_nonce, keys.far_nonce),
            self.epoch,
            now,
            &self.cfg,
        );
        *self.per_ip.entry(k.addr.ip()).or_default() += 1;
        self.sessions.insert(id, session);
        self.events.push_back(Event::SessionOpened {
            session: SessionHandle(id),
            peer_id,
            addr: k.addr,
        });
        Ok(())
    }

    fn on_iikeying(
        &mut self,
        now: Instant,
        from: SocketAddr,
        isid: u32,
        cookie: Bytes,
        cert: Bytes,
        skic: Bytes,
    ) -> Result<(), PeerError> {
        // A repeat of an IIKeying already answered: the same RIKeying again.
        let repeat = self.sessions.values().find_map(|s| match &s.rikeying {
            Some((prev_skic, packet))
                if s.addr == from && s.far_session_id == isid && *prev_skic == skic =>
            {
                Some(packet.clone())
            }
            _ => None,
        });
        if let Some(packet) = repeat {
            let d = self.startup_crypto.seal(isid, &packet);
            self.transmits.push_back((from, Bytes::from(d)));
            return Ok(());
        }
        let limits = &self.cfg.limits;
        match self
            .cookies
            .check(&cookie, from, now - self.epoch, limits.cookie_max_age)
        {
            CookieCheck::Valid => {}
            CookieCheck::Invalid => return Err(HandshakeError::BadCookie.into()),
            CookieCheck::Expired => return Err(HandshakeError::CookieExpired.into()),
            CookieCheck::Stale => {
                let new = self.cookies.make(from, now - self.epoch);
                let chunk = Chunk::CookieChange {
                    old: cookie,
                    new: Bytes::copy_from_slice(&new),
                };
                self.send_startup(now, from, isid, &chunk);
                return Ok(());
            }
        }
        if self.sessions.len() >= limits.max_sessions {
            return Err(HandshakeError::TooManySessions {
                max: limits.max_sessions,
            }
            .into());
        }
        if self.per_ip.get(&from.ip()).copied().unwrap_or(0) >= limits.max_sessions_per_address {
            return Err(HandshakeError::TooManySessionsFromAddress {
                max: limits.max_sessions_per_address,
            }
            .into());
        }
        let half_open = self.sessions.values().filter(|s| !s.confirmed).count();
        if half_open >= limits.max_startups_in_progress {
            return Err(HandshakeError::TooManyStartups {
                max: limits.max_startups_in_progress,
            }
            .into());
        }
        let initiator_cert = Certificate::decode(cert.clone())?;
        let c = Component::decode(&skic)?;
        let (group, far_key) = match (&c.ephemeral_key, c.group_select) {
            (Some((g, k)), _) => (*g, k.clone()),
            (None, Some(g)) => (
                g,
                initiator_cert
                    .static_key(g)
                    .cloned()
                    .ok_or(HandshakeError::Malformed {
                        what: "group select without a static key",
                    })?,
            ),
            (None, None) => {
                return Err(HandshakeError::Malformed {
                    what: "SKIC without a key",
                }
                .into())
            }
        };
        if !self.cfg.groups.contains(&group) || !group.is_supported() {
            return Err(HandshakeError::NoCommonGroup.into());
        }
        let peer_id = initiator_cert.fingerprint();
        // Glare: we are opening to this very peer.
        let glare = self
            .openings
            .values()
            .find(|o| Epd::decode(&o.epd).ok().and_then(|e| e.fingerprint) == Some(peer_id))
            .map(|o| o.id);
        if let Some(our) = glare {
            if self.server_cert.as_slice() > cert.as_ref() {
                return Ok(()); // we win: our open proceeds, theirs is ignored
            }
            self.openings.remove(&our);
        }
        let keypair =
            KeyPair::generate(group, &mut *self.rng).ok_or(HandshakeError::NoCommonGroup)?;
        let shared = keypair
            .shared_secret(&far_key)
            .ok_or(HandshakeError::BadPublicKey)?;
        let hmac = flash::mirror(c.hmac, true);
        let sseq = flash::mirror(c.sseq, false);
        let (hs, hr) = flash::resolve(hmac, c.hmac, "HMAC")?;
        let (ss, sr) = flash::resolve(sseq, c.sseq, "session sequence numbers")?;
        let skrc = flash::responder_component(group, keypair.public(), hmac, sseq);
        let keys = SessionKeys::derive(&shared, &skrc, &skic);
        let id = match glare {
            Some(our) => our,
            None => self.new_session_id(),
        };
        let chunk = Chunk::RIKeying {
            session_id: id,
            skrc: Bytes::from(skrc),
            signature: Bytes::from_static(SIGNATURE),
        };
        let header = crate::packet::Header {
            mode: Mode::Startup,
            time_critical: false,
            time_critical_reverse: false,
            timestamp: Some(crate::time::timestamp(self.epoch, now)),
            timestamp_echo: None,
        };
        let packet = crate::packet::encode(&header, &[chunk])?;
        let mut session = Session::new(
            SessionHandle(id),
            Role::Responder,
            from,
            isid,
            keys.packet_crypto(hs, hr, ss.is_some(), sr.is_some()),
            peer_id,
            (keys.near_nonce, keys.far_nonce),
            self.epoch,
            now,
            &self.cfg,
        );
        let d = self.startup_crypto.seal(isid, &packet);
        self.transmits.push_back((from, Bytes::from(d)));
        session.rikeying = Some((skic, packet));
        *self.per_ip.entry(from.ip()).or_default() += 1;
        self.sessions.insert(id, session);
        self.events.push_back(Event::SessionOpened {
            session: SessionHandle(id),
            peer_id,
            addr: from,
        });
        Ok(())
    }
}
