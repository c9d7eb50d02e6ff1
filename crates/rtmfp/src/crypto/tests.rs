//! Packet-layer vectors: AES against FIPS-197, the checksum and its odd-length quirk, default-key
//! packets (round trip and a pinned vector), HMAC and session sequence numbers.

use super::*;

#[test]
fn aes_zero_iv_first_block_is_fips197() {
    // FIPS-197 C.1: with a zero IV the first CBC block is plain AES.
    let key: [u8; 16] = hex::decode("000102030405060708090a0b0c0d0e0f")
        .unwrap()
        .try_into()
        .unwrap();
    let mut block = hex::decode("00112233445566778899aabbccddeeff").unwrap();
    let mut enc =
        cbc::Encryptor::<Aes128>::inner_iv_init(Aes128::new(&key.into()), &[0; 16].into());
    enc.encrypt_block_mut(block.as_mut_slice().into());
    assert_eq!(hex::encode(block), "69c4e0d86a7b0430d8cdb78070b4c55a");
}

#[test]
fn checksum_vectors() {
    assert_eq!(checksum(&[]), 0xffff);
    // 0x0001 + 0xf203 + 0xf4f5 + 0xf6f7 (RFC 1071 §3 example) = 0xddf2 after folding.
    assert_eq!(checksum(&hex::decode("0001f203f4f5f6f7").unwrap()), !0xddf2);
    // The odd-length quirk: the final byte is added unshifted. 0x0102 + 0x03 = 0x0105.
    assert_eq!(checksum(&[0x01, 0x02, 0x03]), !0x0105);
    // RFC 1071 would give !(0x0102 + 0x0300) = !0x0402; make sure that is not what we do.
    assert_ne!(checksum(&[0x01, 0x02, 0x03]), !0x0402);
    // Carries fold: 0xffff + 0x0002 = 0x0002 (end-around carry).
    assert_eq!(checksum(&[0xff, 0xff, 0x00, 0x02]), !0x0002);
}

#[test]
fn odd_length_region_with_sseq() {
    // A one-byte SSEQ VLU leaves an odd 13-byte checksummed region in a 16-byte block.
    let mut tx = PacketCrypto::startup().with_sseq(true, false);
    let mut rx = PacketCrypto::startup().with_sseq(false, true);
    let d = tx.seal(7, &[0x0b, 0, 0]);
    assert_eq!(d.len(), 4 + 16);
    assert_eq!(rx.open(&d).unwrap()[..3], [0x0b, 0, 0]);
}

#[test]
fn default_key_round_trip_and_vector() {
    let packet = hex::decode("0b00010c0000").unwrap();
    let mut c = PacketCrypto::startup();
    let d = c.seal(0, &packet);
    assert_eq!(d.len(), 20);
    assert_eq!(session_id(&d), Some(0));
    let plain = c.open(&d).unwrap();
    assert_eq!(plain[..6], packet[..]);
    assert!(plain[6..].iter().all(|&b| b == 0xff));
    // Pinned: checksum then packet then padding, under "Adobe Systems 02", zero IV. The
    // plaintext is `f3f3 0b0001 0c0000 ff×8`; the checksum is the complement of the sum of
    // 0x0b00 + 0x010c + 0x0000 + 4 × 0xffff.
    let expected_plain = "f3f30b00010c0000ffffffffffffffff";
    let mut dec =
        cbc::Decryptor::<Aes128>::inner_iv_init(Aes128::new(&DEFAULT_KEY.into()), &[0; 16].into());
    let mut body = d[4..].to_vec();
    dec.decrypt_block_mut(body.as_mut_slice().into());
    assert_eq!(hex::encode(&body), expected_plain);
    // The ciphertext was checked with `openssl enc -aes-128-cbc -K <"Adobe Systems 02"> -iv 0
    // -nopad`; the scrambled ID is 0 ⊕ ab8bbf04 ⊕ e89f3973.
    assert_eq!(hex::encode(&d), "43148677ab8bbf04e89f39738ffc95b548f9dab8");
}

#[test]
fn session_id_scrambling() {
    let mut c = PacketCrypto::startup();
    let d = c.seal(0xdead_beef, &[0x09, 0, 0]);
    assert_eq!(session_id(&d), Some(0xdead_beef));
    assert_eq!(session_id(&d[..11]), None);
}

#[test]
fn corrupt_datagrams() {
    let mut c = PacketCrypto::startup();
    let mut d = c.seal(0, &[0x0b, 0, 0, 0x01, 0, 0]);
    d[10] ^= 1;
    assert_eq!(c.open(&d), Err(PacketError::BadChecksum));
    assert_eq!(c.open(&d[..19]), Err(PacketError::TooShort { len: 19 }));
    let mut long = d.clone();
    long.push(0);
    assert_eq!(c.open(&long), Err(PacketError::NotBlockAligned { len: 17 }));
}

#[test]
fn hmac_and_sseq_replay() {
    let key = [9u8; 32];
    let mut tx = PacketCrypto::new([1; 16], [2; 16])
        .with_hmac(Some(HmacKey::new(key, 10)), None)
        .with_sseq(true, false);
    let mut rx = PacketCrypto::new([2; 16], [1; 16])
        .with_hmac(None, Some(HmacKey::new(key, 10)))
        .with_sseq(false, true);
    let d0 = tx.seal(5, &[0x09, 0, 1]);
    let d1 = tx.seal(5, &[0x09, 0, 2]);
    assert_eq!(d0.len(), 4 + 16 + 10);
    assert_eq!(tx.datagram_len(3), d1.len());
    assert_eq!(rx.open(&d1).unwrap()[..3], [0x09, 0, 2]);
    assert_eq!(rx.open(&d0).unwrap()[..3], [0x09, 0, 1]);
    assert_eq!(rx.open(&d0), Err(PacketError::Replay { sseq: 0 }));
    let mut bad = d1.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(rx.open(&bad), Err(PacketError::BadHmac));
}

#[test]
fn replay_window() {
    let mut w = ReplayWindow::default();
    for n in [5u64, 3, 70, 6, 200] {
        assert!(w.check(n), "{n}");
        w.record(n);
        assert!(!w.check(n), "{n} again");
    }
    assert!(!w.check(100), "more than 64 behind");
    assert!(w.check(199));
}
