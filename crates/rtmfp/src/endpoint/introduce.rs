//! P2P introduction by a server (RFC 7016 §3.5.1.4–3.5.1.6; RFC 7425 §5.4): an IHello whose
//! EPD names the peer ID of a far end we have an open session with, and which told us its
//! addresses (`setPeerInfo`, possibly none: [`Endpoint::set_peer_addresses`]), is answered with
//! a Redirect listing that peer's addresses (the one we see, then the ones it reported), and the
//! peer gets a Forwarded IHello carrying the initiator's EPD, tag and observed address inside
//! its session, so it can answer (and open its NAT) towards the initiator.
//!
//! Each IHello costs one Redirect and one Forwarded IHello, both no larger than the IHello's
//! tag (at most 64 bytes) plus [`MAX_PEER_ADDRESSES`] addresses: no amplification past that.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use super::Endpoint;
use crate::chunk::startup::{Address, Origin};
use crate::chunk::Chunk;
use crate::error::ApiError;
use crate::event::SessionHandle;

/// Addresses kept per session from [`Endpoint::set_peer_addresses`] (and so the most a
/// Redirect lists besides the observed one).
pub const MAX_PEER_ADDRESSES: usize = 8;

impl Endpoint {
    /// The addresses `session`'s far end says it can be reached at (from RFC 7425 §5.4
    /// `setPeerInfo`), for introducing other initiators to it. At most
    /// [`MAX_PEER_ADDRESSES`] are kept.
    pub fn set_peer_addresses(
        &mut self,
        session: SessionHandle,
        addrs: &[SocketAddr],
    ) -> Result<(), ApiError> {
        let s = self.open_session_mut(session)?;
        let mut kept: Vec<SocketAddr> = Vec::new();
        for a in addrs {
            if kept.len() < MAX_PEER_ADDRESSES && !kept.contains(a) {
                kept.push(*a);
            }
        }
        s.peer_addrs = Some(kept);
        Ok(())
    }

    /// Introduce the initiator at `from` to the far end of an open session whose peer ID is
    /// `peer`. False when there is none.
    pub(super) fn introduce(
        &mut self,
        now: Instant,
        from: SocketAddr,
        epd: &[u8],
        tag: &Bytes,
        peer: [u8; 32],
    ) -> bool {
        if !self.cfg.accept {
            return false;
        }
        let Some(s) = self
            .sessions
            .values_mut()
            .find(|s| s.is_open() && s.peer_id == peer && s.peer_addrs.is_some())
        else {
            return false;
        };
        let mut addresses = vec![Address {
            addr: s.addr,
            origin: Origin::OBSERVED,
        }];
        for a in s.peer_addrs.iter().flatten() {
            if *a != s.addr {
                addresses.push(Address {
                    addr: *a,
                    origin: Origin::LOCAL,
                });
            }
        }
        s.queue_control(Chunk::ForwardedIHello {
            epd: Bytes::copy_from_slice(epd),
            reply_address: Address {
                addr: from,
                origin: Origin::OBSERVED,
            },
            tag: tag.clone(),
        });
        let redirect = Chunk::Redirect {
            tag: tag.clone(),
            addresses,
        };
        self.send_startup(now, from, 0, &redirect);
        true
    }
}
