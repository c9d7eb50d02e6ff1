//! The server side of the handshake (RTMP 1.0 §5.2): read C0 and C1, answer S0+S1+S2 in the
//! form C1 asks for (digest when C1's digest verifies in either layout, simple otherwise), then
//! read C2, which is recorded but never rejected.

use bytes::{BufMut, Bytes, BytesMut};

use super::digest::{self, DIGEST_LEN, FMS_KEY, FP_KEY};
use super::{
    check_version, is_simple_echo, random_packet, simple_echo, take_version_byte, version_bytes,
    HandshakeError, HandshakeKind, PacketReader, HANDSHAKE_SIZE, RTMP_VERSION, SERVER_VERSION,
};

#[derive(Debug)]
enum State {
    ReadC0,
    ReadC1,
    ReadC2,
    Done,
    Failed(HandshakeError),
}

/// Server end of the handshake. See the [module docs](super) for the call order.
#[derive(Debug)]
pub struct ServerHandshake {
    state: State,
    reader: PacketReader,
    /// Random S1 body, drawn up front; time and version bytes are set when C1 is in.
    s1: Box<[u8; HANDSHAKE_SIZE]>,
    /// S1's digest (digest form), which keys C2's signature.
    s1_digest: Option<[u8; DIGEST_LEN]>,
    outgoing: Option<Bytes>,
    kind: Option<HandshakeKind>,
    peer_version: Option<[u8; 4]>,
    c2_verified: Option<bool>,
}

impl ServerHandshake {
    /// A server waiting for C0.
    pub fn new(rng: &mut impl rand::RngCore) -> Self {
        ServerHandshake {
            state: State::ReadC0,
            reader: PacketReader::new(),
            s1: random_packet(rng),
            s1_digest: None,
            outgoing: None,
            kind: None,
            peer_version: None,
            c2_verified: None,
        }
    }

    /// Feeds received bytes. Consumes exactly what the handshake needs from the front of
    /// `input` (C0, C1, C2, possibly across calls) and leaves any further bytes there. After
    /// completion it consumes nothing; after an error it returns that error again.
    pub fn handle_input(
        &mut self,
        input: &mut BytesMut,
        rng: &mut impl rand::RngCore,
    ) -> Result<(), HandshakeError> {
        let result = self.advance(input, rng);
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        result
    }

    fn advance(
        &mut self,
        input: &mut BytesMut,
        rng: &mut impl rand::RngCore,
    ) -> Result<(), HandshakeError> {
        loop {
            match &self.state {
                State::ReadC0 => {
                    let Some(version) = take_version_byte(input) else {
                        return Ok(());
                    };
                    check_version(version)?;
                    self.state = State::ReadC1;
                }
                State::ReadC1 => {
                    let Some(c1) = self.reader.fill(input) else {
                        return Ok(());
                    };
                    let c1 = *c1;
                    self.answer(&c1, rng);
                    self.state = State::ReadC2;
                }
                State::ReadC2 => {
                    let Some(c2) = self.reader.fill(input) else {
                        return Ok(());
                    };
                    let verified = match self.s1_digest {
                        Some(s1_digest) => digest::verify_response(c2, &FP_KEY, &s1_digest),
                        None => is_simple_echo(c2, &self.s1),
                    };
                    self.c2_verified = Some(verified);
                    self.state = State::Done;
                }
                State::Done => return Ok(()),
                State::Failed(e) => return Err(e.clone()),
            }
        }
    }

    /// Builds S0+S1+S2 for `c1` and queues them.
    fn answer(&mut self, c1: &[u8; HANDSHAKE_SIZE], rng: &mut impl rand::RngCore) {
        let c1_version = version_bytes(c1);
        self.peer_version = Some(c1_version);
        // A zero version means a simple-form client (nginx-rtmp and SRS skip the digest check
        // then too); otherwise C1 may carry a digest in either layout.
        let found = if c1_version == [0; 4] {
            None
        } else {
            digest::find_digest(c1, digest::client_digest_key())
        };

        self.s1[..4].copy_from_slice(&[0; 4]);
        let s2 = match found {
            Some((layout, c1_digest)) => {
                self.kind = Some(HandshakeKind::Digest(layout));
                self.s1[4..8].copy_from_slice(&SERVER_VERSION);
                let s1_digest =
                    digest::imprint_digest(&mut self.s1, layout, digest::server_digest_key());
                self.s1_digest = Some(s1_digest);
                let mut s2 = random_packet(rng);
                digest::imprint_response(&mut s2, &FMS_KEY, &c1_digest);
                *s2
            }
            None => {
                self.kind = Some(HandshakeKind::Simple);
                self.s1[4..8].copy_from_slice(&[0; 4]);
                simple_echo(c1)
            }
        };

        let mut out = BytesMut::with_capacity(1 + 2 * HANDSHAKE_SIZE);
        out.put_u8(RTMP_VERSION);
        out.put_slice(&self.s1[..]);
        out.put_slice(&s2);
        self.outgoing = Some(out.freeze());
    }

    /// S0+S1+S2 (one buffer, 3073 bytes), once, as soon as C0+C1 are in.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.outgoing.take()
    }

    /// Whether C2 has been received: the connection may now carry chunks.
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The form answered, known once C1 is in.
    pub fn kind(&self) -> Option<HandshakeKind> {
        self.kind
    }

    /// C1 bytes 4..8: the client's version (e.g. Flash Player or ffmpeg `9.0.124.2`), zero for
    /// the simple form.
    pub fn peer_version(&self) -> Option<[u8; 4]> {
        self.peer_version
    }

    /// Whether C2 answered S1 correctly (digest form: signature keyed by S1's digest; simple
    /// form: echo of S1's time and random bytes). `None` until C2 is in. Informational only:
    /// C2 is never rejected.
    pub fn c2_verified(&self) -> Option<bool> {
        self.c2_verified
    }
}
