//! The server side of the handshake (RTMP 1.0 §5.2): read C0 and C1, answer S0+S1+S2 in the
//! form C1 asks for (digest when C1's digest verifies in either layout, simple otherwise, RTMPE
//! when C0 is 6, 8 or 9), then read C2, which is recorded but never rejected.

use bytes::{BufMut, Bytes, BytesMut};

use super::dh::{self, DhKeyPair};
use super::digest::{self, DIGEST_LEN, FMS_KEY, FP_KEY};
use super::rtmpe::{self, RtmpeCipher, RtmpeType};
use super::{
    is_simple_echo, parse_version, random_packet, simple_echo, take_version_byte, version_bytes,
    HandshakeError, HandshakeKind, PacketReader, Version, HANDSHAKE_SIZE, RTMP_VERSION,
    SERVER_VERSION,
};

/// How many key pairs the server draws, at most, looking for one whose shared secret does not
/// start with a zero byte (see [`ServerHandshake`]). Each draw fails with probability 1/256.
pub const MAX_KEY_PAIR_DRAWS: usize = 4;

/// Server options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerHandshakeConfig {
    /// Accept RTMPE (C0 = 6, 8, 9) on this listener. Default `true`; when `false` such a C0
    /// fails with [`HandshakeError::EncryptedNotSupported`].
    pub rtmpe: bool,
    /// Answer every RTMPE client with this type (S0 byte) instead of echoing its C0. Clients
    /// take the signature cipher from S0, so this exercises their XTEA/Blowfish code (librtmp's
    /// server answers 8 to Flash Player 10 clients). Default `None`: echo C0.
    pub rtmpe_answer: Option<RtmpeType>,
}

impl Default for ServerHandshakeConfig {
    fn default() -> Self {
        ServerHandshakeConfig {
            rtmpe: true,
            rtmpe_answer: None,
        }
    }
}

#[derive(Debug)]
enum State {
    ReadC0,
    ReadC1(Version),
    ReadC2,
    Done,
    Failed(HandshakeError),
}

/// Server end of the handshake. See the [module docs](super) for the call order.
///
/// For RTMPE the server draws its Diffie-Hellman key pair once C1 is in, and redraws (up to
/// [`MAX_KEY_PAIR_DRAWS`] times) while the shared secret would start with a zero byte: peers
/// built on OpenSSL's `BN_bn2bin` (librtmp, some ffmpeg builds) drop that byte and would derive
/// other RC4 keys. The secret itself is always used at its full 128 bytes.
#[derive(Debug)]
pub struct ServerHandshake {
    config: ServerHandshakeConfig,
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
    /// The RTMPE type answered in S0.
    rtmpe: Option<RtmpeType>,
    cipher: Option<RtmpeCipher>,
}

impl ServerHandshake {
    /// A server with the default options, waiting for C0.
    pub fn new(rng: &mut impl rand::RngCore) -> Self {
        Self::with_config(ServerHandshakeConfig::default(), rng)
    }

    /// A server with explicit options, waiting for C0.
    pub fn with_config(config: ServerHandshakeConfig, rng: &mut impl rand::RngCore) -> Self {
        ServerHandshake {
            config,
            state: State::ReadC0,
            reader: PacketReader::new(),
            s1: random_packet(rng),
            s1_digest: None,
            outgoing: None,
            kind: None,
            peer_version: None,
            c2_verified: None,
            rtmpe: None,
            cipher: None,
        }
    }

    /// Feeds received bytes. Consumes exactly what the handshake needs from the front of
    /// `input` (C0, C1, C2, possibly across calls) and leaves any further bytes there (for
    /// RTMPE they are already encrypted). After completion it consumes nothing; after an error
    /// it returns that error again.
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
                    let parsed = parse_version(version)?;
                    if matches!(parsed, Version::Rtmpe(_)) && !self.config.rtmpe {
                        return Err(HandshakeError::EncryptedNotSupported(version));
                    }
                    self.state = State::ReadC1(parsed);
                }
                State::ReadC1(version) => {
                    let version = *version;
                    let Some(c1) = self.reader.fill(input) else {
                        return Ok(());
                    };
                    let c1 = *c1;
                    match version {
                        Version::Plain => self.answer(&c1, rng),
                        Version::Rtmpe(requested) => self.answer_rtmpe(&c1, requested, rng)?,
                    }
                    self.state = State::ReadC2;
                }
                State::ReadC2 => {
                    let Some(c2) = self.reader.fill(input) else {
                        return Ok(());
                    };
                    let verified = match (self.s1_digest, self.rtmpe) {
                        (Some(s1_digest), Some(rtmpe_type)) => {
                            rtmpe::response_signature(rtmpe_type, c2, &FP_KEY, &s1_digest)[..]
                                == c2[digest::RESPONSE_SIGNATURE_OFFSET..]
                        }
                        (Some(s1_digest), None) => digest::verify_response(c2, &FP_KEY, &s1_digest),
                        (None, _) => is_simple_echo(c2, &self.s1),
                    };
                    self.c2_verified = Some(verified);
                    self.state = State::Done;
                }
                State::Done => return Ok(()),
                State::Failed(e) => return Err(e.clone()),
            }
        }
    }

    /// Builds S0+S1+S2 for a plain (version 3) `c1` and queues them.
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
        self.queue(RTMP_VERSION, &s2);
    }

    /// Builds S0+S1+S2 for an RTMPE `c1` (C0 = `requested`), derives the RC4 pair and queues
    /// the answer.
    fn answer_rtmpe(
        &mut self,
        c1: &[u8; HANDSHAKE_SIZE],
        requested: RtmpeType,
        rng: &mut impl rand::RngCore,
    ) -> Result<(), HandshakeError> {
        self.peer_version = Some(version_bytes(c1));
        let (layout, c1_digest) = digest::find_digest(c1, digest::client_digest_key())
            .ok_or(HandshakeError::RtmpeWithoutDigest)?;
        let client_public = rtmpe::public_key_at(c1, layout);
        if !dh::is_valid_public_key(&client_public) {
            return Err(HandshakeError::InvalidDhPublicKey);
        }
        let mut pair = DhKeyPair::generate(rng);
        let mut secret = pair.shared_secret(&client_public)?;
        for _ in 1..MAX_KEY_PAIR_DRAWS {
            if secret[0] != 0 {
                break;
            }
            pair = DhKeyPair::generate(rng);
            secret = pair.shared_secret(&client_public)?;
        }

        let answer = self.config.rtmpe_answer.unwrap_or(requested);
        self.rtmpe = Some(answer);
        self.kind = Some(HandshakeKind::Rtmpe {
            rtmpe_type: answer,
            layout,
        });

        self.s1[..4].copy_from_slice(&[0; 4]);
        self.s1[4..8].copy_from_slice(&SERVER_VERSION);
        rtmpe::place_server_key(&mut self.s1, layout, pair.public_key(), rng);
        let s1_digest = digest::imprint_digest(&mut self.s1, layout, digest::server_digest_key());
        self.s1_digest = Some(s1_digest);

        let mut s2 = random_packet(rng);
        let signature = rtmpe::response_signature(answer, &s2, &FMS_KEY, &c1_digest);
        s2[digest::RESPONSE_SIGNATURE_OFFSET..].copy_from_slice(&signature);

        self.cipher = Some(RtmpeCipher::new(&secret, pair.public_key(), &client_public));
        self.queue(answer.version_byte(), &s2[..]);
        Ok(())
    }

    fn queue(&mut self, s0: u8, s2: &[u8]) {
        let mut out = BytesMut::with_capacity(1 + 2 * HANDSHAKE_SIZE);
        out.put_u8(s0);
        out.put_slice(&self.s1[..]);
        out.put_slice(s2);
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

    /// C1 bytes 4..8: the client's version (e.g. Flash Player or ffmpeg `9.0.124.2`, RTMPE
    /// clients `128.0.3.2`), zero for the simple form.
    pub fn peer_version(&self) -> Option<[u8; 4]> {
        self.peer_version
    }

    /// Whether C2 answered S1 correctly (digest form: signature keyed by S1's digest, encrypted
    /// per the RTMPE type if any; simple form: echo of S1's time and random bytes). `None`
    /// until C2 is in. Informational only: C2 is never rejected (ffmpeg publishing over RTMPE
    /// echoes S1).
    pub fn c2_verified(&self) -> Option<bool> {
        self.c2_verified
    }

    /// The RC4 pair of an RTMPE connection, once, after completion (`None` before, for plain
    /// RTMP, and after it was taken). Every byte after C2, both ways, goes through it.
    pub fn take_cipher(&mut self) -> Option<RtmpeCipher> {
        if self.is_complete() {
            self.cipher.take()
        } else {
            None
        }
    }
}
