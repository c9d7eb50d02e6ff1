//! Endpoint configuration and the limits on everything a far end controls.

use std::time::Duration;

use crate::crypto::dh::GroupId;

/// Limits on what the far end controls. Exceeding one is a typed error
/// ([`HandshakeError`](crate::error::HandshakeError) or
/// [`ProtocolError`](crate::error::ProtocolError)); none panics.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Datagrams longer than this are dropped. Default 8192 (startup packets are at most 4256
    /// bytes of plaintext in rtmfp-cpp; session packets 1200).
    pub max_datagram_len: usize,
    /// Sessions in all. Default 10,000.
    pub max_sessions: usize,
    /// Sessions with far ends at one IP address. Default 64.
    pub max_sessions_per_address: usize,
    /// Responder sessions keyed but not yet confirmed by a session packet from the initiator,
    /// plus initiator opens in progress. Default 256.
    pub max_startups_in_progress: usize,
    /// Receiving flows the far end may open in one session. Default 256.
    pub max_flows_per_session: usize,
    /// Bytes buffered for one receiving flow (out-of-order fragments and a partial message).
    /// Default 1 MiB; it is also the largest message a flow can receive.
    pub max_reassembly_bytes_per_flow: usize,
    /// Bytes buffered for all receiving flows of a session. Default 4 MiB.
    pub max_reassembly_bytes_per_session: usize,
    /// Fragments in one message. Default 1024.
    pub max_fragments_per_message: usize,
    /// How far past the cumulative acknowledgement a sequence number may be (fragments buffered
    /// out of order per flow). Default 4096.
    pub max_sequence_gap: u64,
    /// A cookie older than this gets a Cookie Change; older than twice this is refused.
    /// Default 60 s (rtmfp-cpp's cookies live 95 s).
    pub cookie_max_age: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_datagram_len: 8192,
            max_sessions: 10_000,
            max_sessions_per_address: 64,
            max_startups_in_progress: 256,
            max_flows_per_session: 256,
            max_reassembly_bytes_per_flow: 1 << 20,
            max_reassembly_bytes_per_session: 4 << 20,
            max_fragments_per_message: 1024,
            max_sequence_gap: 4096,
            cookie_max_age: Duration::from_secs(60),
        }
    }
}

/// How a Sluice initiator presents its Diffie-Hellman key (`RTMFP_NOTES.md` §1.7, §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitiatorStyle {
    /// Flash/librtmfp: a static key (`0x1d`) in the certificate, group select in the SKIC.
    /// Fresh per session. Mona-lineage servers understand only this.
    Static,
    /// rtmfp-cpp: ephemeral groups (`0x15`) in the certificate, the key (`0x0d`) in the SKIC,
    /// in the strongest group both ends have.
    Ephemeral,
}

/// Endpoint configuration.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Limits on the far ends.
    pub limits: Limits,
    /// Answer IHellos (be a server). Default false.
    pub accept: bool,
    /// DH groups, preferred first. Default `[14, 2]`: group 2 is mandatory (RFC 7425 §4.2);
    /// 16 is supported but costs ~10× group 14 per handshake.
    pub groups: Vec<GroupId>,
    /// The initiator's key style. Default [`InitiatorStyle::Static`].
    pub initiator_style: InitiatorStyle,
    /// HMAC length offered when initiating ("send on request"). Default 10, as Flash.
    pub hmac_len: usize,
    /// Largest packet plaintext (before crypto framing). Default 1200 (rtmfp-cpp).
    pub max_packet_len: usize,
    /// Largest user data fragment. Default 1024.
    pub max_fragment_len: usize,
    /// Ping after this long without hearing from the far end. Default 10 s (tcserver).
    pub keepalive: Duration,
    /// Close after this long without hearing from the far end. Default 120 s.
    pub idle_timeout: Duration,
    /// Give up a startup after this many transmissions. Default 11 (librtmfp).
    pub startup_attempts: u32,
    /// Delayed acknowledgement. Default 200 ms.
    pub ack_delay: Duration,
    /// Bytes queued per sending flow. Default 4 MiB.
    pub max_send_queue: usize,
    /// Sending flows per session (local). Default 1024.
    pub max_send_flows: usize,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            limits: Limits::default(),
            accept: false,
            groups: vec![GroupId::MODP_2048, GroupId::MODP_1024],
            initiator_style: InitiatorStyle::Static,
            hmac_len: 10,
            max_packet_len: 1200,
            max_fragment_len: 1024,
            keepalive: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            startup_attempts: 11,
            ack_delay: Duration::from_millis(200),
            max_send_queue: 4 << 20,
            max_send_flows: 1024,
        }
    }
}

impl EndpointConfig {
    /// A server configuration: accepts sessions.
    pub fn server() -> Self {
        EndpointConfig {
            accept: true,
            ..Self::default()
        }
    }
}
