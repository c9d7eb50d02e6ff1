//! The client side of the handshake (RTMP 1.0 §5.2): send C0+C1 (digest form by default, like
//! Flash Player 9+, librtmp and ffmpeg; or RTMPE), answer S1 with C2 in the form S1 shows, then
//! read S2.

use bytes::{BufMut, Bytes, BytesMut};

use super::dh::DhKeyPair;
use super::digest::{self, DIGEST_LEN, FMS_KEY, FP_KEY};
use super::rtmpe::{self, RtmpeCipher, RtmpeType, RTMPE_CLIENT_VERSION};
use super::{
    is_simple_echo, parse_version, random_packet, simple_echo, take_version_byte, version_bytes,
    DigestLayout, HandshakeError, HandshakeKind, PacketReader, Version, CLIENT_VERSION,
    HANDSHAKE_SIZE, RTMP_VERSION,
};

/// Which C1 the client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ClientHandshakeMode {
    /// The specification's form: C1 version bytes zero, C2 echoes S1.
    Simple,
    /// Looks like Flash Player 9+ ([`CLIENT_VERSION`], digest in
    /// [`DigestLayout::DigestFirst`]); servers that check, and Flash-era servers that need it
    /// for H.264/AAC, accept it.
    #[default]
    Digest,
    /// RTMPE of the given type (C0 = 6, 8 or 9): like ffmpeg and librtmp, version bytes
    /// [`RTMPE_CLIENT_VERSION`], digest and Diffie-Hellman key in
    /// [`DigestLayout::KeyFirst`]. The server's S0 decides the signature type actually used;
    /// S1 must carry a verifiable digest ([`HandshakeError::DigestMismatch`] otherwise, strict
    /// or not: the server's key cannot be located without it).
    Rtmpe(RtmpeType),
}

/// Client options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ClientHandshakeConfig {
    /// Which C1 to send. Default: [`ClientHandshakeMode::Digest`].
    pub mode: ClientHandshakeMode,
    /// Reject a digest-form S1 whose digest does not verify
    /// ([`HandshakeError::DigestMismatch`]) and, after a digest handshake, an S2 whose signature
    /// does not verify ([`HandshakeError::InvalidS2`]), as ffmpeg does. Default `false`: fall
    /// back to echoing S1 and record the outcome ([`ClientHandshake::s1_digest_verified`],
    /// [`ClientHandshake::s2_verified`]).
    pub strict: bool,
}

#[derive(Debug)]
enum State {
    ReadS0,
    ReadS1,
    ReadS2,
    Done,
    Failed(HandshakeError),
}

/// Client end of the handshake. See the [module docs](super) for the call order.
#[derive(Debug)]
pub struct ClientHandshake {
    config: ClientHandshakeConfig,
    state: State,
    reader: PacketReader,
    c1: Box<[u8; HANDSHAKE_SIZE]>,
    /// C1's digest (digest mode), which keys S2's signature.
    c1_digest: Option<[u8; DIGEST_LEN]>,
    outgoing: BytesMut,
    kind: Option<HandshakeKind>,
    peer_version: Option<[u8; 4]>,
    s1_digest_verified: Option<bool>,
    s2_verified: Option<bool>,
    /// Our DH key pair (RTMPE mode).
    dh: Option<Box<DhKeyPair>>,
    /// The RTMPE type S0 announced.
    rtmpe: Option<RtmpeType>,
    cipher: Option<RtmpeCipher>,
}

impl ClientHandshake {
    /// A lenient client in `mode`; C0+C1 are ready at once through
    /// [`poll_transmit`](Self::poll_transmit).
    pub fn new(mode: ClientHandshakeMode, rng: &mut impl rand::RngCore) -> Self {
        Self::with_config(
            ClientHandshakeConfig {
                mode,
                strict: false,
            },
            rng,
        )
    }

    /// A client with explicit options; C0+C1 are ready at once.
    pub fn with_config(config: ClientHandshakeConfig, rng: &mut impl rand::RngCore) -> Self {
        let mut c1 = random_packet(rng);
        c1[..4].copy_from_slice(&[0; 4]);
        let mut dh = None;
        let mut c0 = RTMP_VERSION;
        let c1_digest = match config.mode {
            ClientHandshakeMode::Simple => {
                c1[4..8].copy_from_slice(&[0; 4]);
                None
            }
            ClientHandshakeMode::Digest => {
                c1[4..8].copy_from_slice(&CLIENT_VERSION);
                Some(digest::imprint_digest(
                    &mut c1,
                    DigestLayout::DigestFirst,
                    digest::client_digest_key(),
                ))
            }
            ClientHandshakeMode::Rtmpe(rtmpe_type) => {
                c0 = rtmpe_type.version_byte();
                c1[4..8].copy_from_slice(&RTMPE_CLIENT_VERSION);
                let pair = DhKeyPair::generate(rng);
                rtmpe::put_public_key(&mut c1, DigestLayout::KeyFirst, pair.public_key());
                dh = Some(Box::new(pair));
                Some(digest::imprint_digest(
                    &mut c1,
                    DigestLayout::KeyFirst,
                    digest::client_digest_key(),
                ))
            }
        };
        let mut outgoing = BytesMut::with_capacity(1 + 2 * HANDSHAKE_SIZE);
        outgoing.put_u8(c0);
        outgoing.put_slice(&c1[..]);
        ClientHandshake {
            config,
            state: State::ReadS0,
            reader: PacketReader::new(),
            c1,
            c1_digest,
            outgoing,
            kind: None,
            peer_version: None,
            s1_digest_verified: None,
            s2_verified: None,
            dh,
            rtmpe: None,
            cipher: None,
        }
    }

    /// Feeds received bytes. Consumes exactly what the handshake needs from the front of
    /// `input` (S0, S1, S2, possibly across calls) and leaves any further bytes there. After
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
                State::ReadS0 => {
                    let Some(version) = take_version_byte(input) else {
                        return Ok(());
                    };
                    let parsed = parse_version(version)?;
                    match (self.config.mode, parsed) {
                        (ClientHandshakeMode::Rtmpe(_), Version::Rtmpe(answered)) => {
                            self.rtmpe = Some(answered);
                        }
                        (ClientHandshakeMode::Rtmpe(_), Version::Plain) => {
                            return Err(HandshakeError::RtmpeRefused(version));
                        }
                        (_, Version::Rtmpe(_)) => {
                            return Err(HandshakeError::EncryptedNotSupported(version));
                        }
                        (_, Version::Plain) => {}
                    }
                    self.state = State::ReadS1;
                }
                State::ReadS1 => {
                    let Some(s1) = self.reader.fill(input) else {
                        return Ok(());
                    };
                    let s1 = *s1;
                    if self.rtmpe.is_some() {
                        self.answer_rtmpe(&s1, rng)?;
                    } else {
                        self.answer(&s1, rng)?;
                    }
                    self.state = State::ReadS2;
                }
                State::ReadS2 => {
                    let Some(s2) = self.reader.fill(input) else {
                        return Ok(());
                    };
                    let verified = match (self.kind, self.c1_digest) {
                        (Some(HandshakeKind::Rtmpe { rtmpe_type, .. }), Some(c1_digest)) => {
                            let expected =
                                rtmpe::response_signature(rtmpe_type, s2, &FMS_KEY, &c1_digest);
                            let ok = expected[..] == s2[digest::RESPONSE_SIGNATURE_OFFSET..];
                            if !ok && self.config.strict {
                                return Err(HandshakeError::InvalidS2);
                            }
                            ok
                        }
                        (Some(HandshakeKind::Digest(_)), Some(c1_digest)) => {
                            let ok = digest::verify_response(s2, &FMS_KEY, &c1_digest);
                            if !ok && self.config.strict {
                                return Err(HandshakeError::InvalidS2);
                            }
                            ok
                        }
                        _ => is_simple_echo(s2, &self.c1),
                    };
                    self.s2_verified = Some(verified);
                    self.state = State::Done;
                }
                State::Done => return Ok(()),
                State::Failed(e) => return Err(e.clone()),
            }
        }
    }

    /// Builds C2 for `s1` and queues it.
    fn answer(
        &mut self,
        s1: &[u8; HANDSHAKE_SIZE],
        rng: &mut impl rand::RngCore,
    ) -> Result<(), HandshakeError> {
        let server_version = version_bytes(s1);
        self.peer_version = Some(server_version);
        // A digest C2 only makes sense if we sent a digest C1 (S2 is keyed by it) and S1 is in
        // the digest form (non-zero version, as ffmpeg decides).
        let digest_form =
            self.config.mode == ClientHandshakeMode::Digest && server_version != [0; 4];
        let found = if digest_form {
            let found = digest::find_digest(s1, digest::server_digest_key());
            self.s1_digest_verified = Some(found.is_some());
            if found.is_none() && self.config.strict {
                return Err(HandshakeError::DigestMismatch { server_version });
            }
            found
        } else {
            None
        };

        let c2 = match found {
            Some((layout, s1_digest)) => {
                self.kind = Some(HandshakeKind::Digest(layout));
                let mut c2 = random_packet(rng);
                digest::imprint_response(&mut c2, &FP_KEY, &s1_digest);
                *c2
            }
            None => {
                self.kind = Some(HandshakeKind::Simple);
                simple_echo(s1)
            }
        };
        self.outgoing.put_slice(&c2);
        Ok(())
    }

    /// Builds the RTMPE C2 for `s1`, derives the RC4 pair and queues C2.
    fn answer_rtmpe(
        &mut self,
        s1: &[u8; HANDSHAKE_SIZE],
        rng: &mut impl rand::RngCore,
    ) -> Result<(), HandshakeError> {
        let server_version = version_bytes(s1);
        self.peer_version = Some(server_version);
        let found = digest::find_digest(s1, digest::server_digest_key());
        self.s1_digest_verified = Some(found.is_some());
        let (Some((layout, s1_digest)), Some(rtmpe_type), Some(pair)) =
            (found, self.rtmpe, self.dh.as_deref())
        else {
            return Err(HandshakeError::DigestMismatch { server_version });
        };
        let server_public = rtmpe::public_key_at(s1, layout);
        let secret = pair.shared_secret(&server_public)?;
        self.cipher = Some(RtmpeCipher::new(&secret, pair.public_key(), &server_public));
        self.kind = Some(HandshakeKind::Rtmpe { rtmpe_type, layout });

        let mut c2 = random_packet(rng);
        let signature = rtmpe::response_signature(rtmpe_type, &c2, &FP_KEY, &s1_digest);
        c2[digest::RESPONSE_SIGNATURE_OFFSET..].copy_from_slice(&signature);
        self.outgoing.put_slice(&c2[..]);
        Ok(())
    }

    /// C0+C1 (at once), then C2 once S0+S1 are in. Returns everything queued so far.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        (!self.outgoing.is_empty()).then(|| self.outgoing.split().freeze())
    }

    /// Whether S2 has been received: the connection may now carry chunks.
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The form answered with C2, known once S1 is in. A lenient client that could not verify a
    /// digest-form S1 reports [`HandshakeKind::Simple`] (it echoed S1).
    pub fn kind(&self) -> Option<HandshakeKind> {
        self.kind
    }

    /// S1 bytes 4..8: the server's version (zero for the simple form).
    pub fn peer_version(&self) -> Option<[u8; 4]> {
        self.peer_version
    }

    /// Whether a digest-form S1's digest verified in one of the layouts. `None` until S1 is in,
    /// and when the digest form was not in play (simple mode, or S1 version bytes zero).
    pub fn s1_digest_verified(&self) -> Option<bool> {
        self.s1_digest_verified
    }

    /// Whether S2 answered C1 correctly (digest form: signature keyed by C1's digest, encrypted
    /// per the RTMPE type if any; simple form: echo of C1's time and random bytes). `None`
    /// until S2 is in.
    pub fn s2_verified(&self) -> Option<bool> {
        self.s2_verified
    }

    /// The RC4 pair of an RTMPE connection, once, after completion (`None` before, for plain
    /// RTMP, and after it was taken). Every byte after S2, both ways, goes through it —
    /// including bytes already left in the input buffer.
    pub fn take_cipher(&mut self) -> Option<RtmpeCipher> {
        if self.is_complete() {
            self.cipher.take()
        } else {
            None
        }
    }
}
