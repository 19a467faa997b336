use std::convert::Infallible;

use sframe::frame::{FrameCounter, MediaFrameView};
use sframe::key::EncryptionKey;
use sframe::CipherSuite;

use super::*;

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A counter that hands out one fixed value (the test vector's CTR).
struct FixedCounter(u64);

impl FrameCounter for FixedCounter {
    type Error = Infallible;
    fn try_next(&mut self) -> Result<u64, Infallible> {
        Ok(self.0)
    }
}

// RFC 9605 Appendix C.5 ("SFrame Encryption/Decryption"), written out from the RFC text:
// the same KID, CTR, base key, metadata and plaintext for every suite.
const RFC_KID: u64 = 0x123;
const RFC_CTR: u64 = 0x4567;
const RFC_BASE_KEY: &str = "000102030405060708090a0b0c0d0e0f";
const RFC_METADATA: &str = "4945544620534672616d65205747";
const RFC_PLAINTEXT: &str = "64726166742d696574662d736672616d652d656e63";

fn rfc_ciphertext(suite: CipherSuite) -> Vec<u8> {
    let key = EncryptionKey::derive_from(suite, RFC_KID, hex(RFC_BASE_KEY)).expect("key");
    let (plaintext, metadata) = (hex(RFC_PLAINTEXT), hex(RFC_METADATA));
    let frame =
        MediaFrameView::try_with_meta_data(&mut FixedCounter(RFC_CTR), &plaintext, &metadata)
            .expect("frame");
    let mut out = Vec::new();
    // RFC 9605 section 4.2: header, encrypted data and tag; the metadata is authenticated,
    // not sent.
    let encrypted = frame.encrypt_into(&key, &mut out).expect("encrypt");
    encrypted.sframe_cipher_text().to_vec()
}

#[test]
fn our_suite_matches_rfc_9605_appendix_c_aes_128_gcm_sha256_128() {
    assert_eq!(SFRAME_SUITE, CipherSuite::AesGcm128Sha256);
    assert_eq!(
        rfc_ciphertext(CipherSuite::AesGcm128Sha256),
        hex("9901234567b7412c2513a1b66dbb48841bbaf17f598751176ad847681a69c6d0b091c07018ce4adb34eb")
    );
}

#[test]
fn the_crate_matches_rfc_9605_appendix_c_aes_256_gcm_sha512_128() {
    assert_eq!(
        rfc_ciphertext(CipherSuite::AesGcm256Sha512),
        hex("990123456794f509d36e9beacb0e261d99c7d1e972f1fed787d4049f17ca21353c1cc24d56ceabced279")
    );
}

fn pair() -> (SframeTransform, SframeTransform) {
    let alice_key = SframeKey::new(1, b"alice base key, sixteen+".to_vec());
    let bob_key = SframeKey::new(2, b"bob base key, sixteen+++".to_vec());
    let alice = SframeTransform::new(&alice_key).unwrap();
    let bob = SframeTransform::new(&bob_key).unwrap();
    alice.add_member_key(&bob_key).unwrap();
    bob.add_member_key(&alice_key).unwrap();
    (alice, bob)
}

const FRAME: &[u8] = b"an encoded opus frame, twenty milliseconds of it";

#[test]
fn a_frame_round_trips_and_is_not_readable_on_the_wire() {
    let (alice, bob) = pair();
    let wire = alice.outgoing(FrameKind::Audio, FRAME.to_vec()).unwrap();
    assert!(
        !wire.windows(8).any(|w| FRAME.windows(8).any(|f| f == w)),
        "the plaintext shows through"
    );
    assert_eq!(bob.incoming(FrameKind::Audio, wire).unwrap(), FRAME);
    // And the other way, under Bob's own key.
    let back = bob.outgoing(FrameKind::Camera, FRAME.to_vec()).unwrap();
    assert_eq!(alice.incoming(FrameKind::Camera, back).unwrap(), FRAME);
}

#[test]
fn every_frame_gets_a_fresh_counter() {
    let (alice, _) = pair();
    let first = alice.outgoing(FrameKind::Audio, FRAME.to_vec()).unwrap();
    let second = alice.outgoing(FrameKind::Audio, FRAME.to_vec()).unwrap();
    assert_ne!(first, second, "same counter (nonce) twice");
}

#[test]
fn a_frame_under_a_key_we_do_not_hold_is_refused_as_no_key() {
    let (alice, _) = pair();
    let stranger =
        SframeTransform::new(&SframeKey::new(9, b"someone else's key".to_vec())).unwrap();
    let wire = stranger.outgoing(FrameKind::Audio, FRAME.to_vec()).unwrap();
    assert_eq!(
        alice.incoming(FrameKind::Audio, wire),
        Err(TransformError::NoKey)
    );
}

#[test]
fn a_frame_under_a_known_kid_but_another_secret_is_refused_as_unauthenticated() {
    let (alice, _) = pair();
    // Claims Bob's KID 2 without Bob's secret.
    let forger =
        SframeTransform::new(&SframeKey::new(2, b"a guess at bob's key".to_vec())).unwrap();
    let wire = forger.outgoing(FrameKind::Audio, FRAME.to_vec()).unwrap();
    assert_eq!(
        alice.incoming(FrameKind::Audio, wire),
        Err(TransformError::Unauthenticated)
    );
}

#[test]
fn a_tampered_frame_is_refused() {
    let (alice, bob) = pair();
    let mut wire = alice.outgoing(FrameKind::Audio, FRAME.to_vec()).unwrap();
    let last = wire.len() - 1;
    wire[last] ^= 1;
    assert_eq!(
        bob.incoming(FrameKind::Audio, wire),
        Err(TransformError::Unauthenticated)
    );
    // The forged frame was not recorded: the genuine next one still decrypts.
    let next = alice.outgoing(FrameKind::Audio, FRAME.to_vec()).unwrap();
    assert_eq!(bob.incoming(FrameKind::Audio, next).unwrap(), FRAME);
}

#[test]
fn garbage_and_empty_frames_are_refused_without_panic() {
    let (alice, _) = pair();
    for junk in [
        vec![],
        vec![0xff],
        vec![0x99, 0x01],
        vec![0u8; 3],
        vec![0x8f; 40],
    ] {
        assert!(alice.incoming(FrameKind::Audio, junk).is_err());
    }
}

#[test]
fn a_replayed_frame_is_refused() {
    let (alice, bob) = pair();
    let wire = alice.outgoing(FrameKind::Audio, FRAME.to_vec()).unwrap();
    assert!(bob.incoming(FrameKind::Audio, wire.clone()).is_ok());
    assert_eq!(
        bob.incoming(FrameKind::Audio, wire),
        Err(TransformError::Replayed)
    );
}

#[test]
fn frames_reordered_within_the_window_are_taken() {
    let (alice, bob) = pair();
    let frames: Vec<_> = (0..5)
        .map(|_| alice.outgoing(FrameKind::Audio, FRAME.to_vec()).unwrap())
        .collect();
    for index in [1, 0, 4, 2, 3] {
        assert_eq!(
            bob.incoming(FrameKind::Audio, frames[index].clone()),
            Ok(FRAME.to_vec()),
            "frame {index}"
        );
    }
}

#[test]
fn a_removed_member_key_is_refused_from_then_on() {
    let (alice, bob) = pair();
    let before = alice.outgoing(FrameKind::Audio, FRAME.to_vec()).unwrap();
    let after = alice.outgoing(FrameKind::Audio, FRAME.to_vec()).unwrap();
    assert!(bob.incoming(FrameKind::Audio, before).is_ok());
    bob.remove_member_key(1);
    assert_eq!(
        bob.incoming(FrameKind::Audio, after),
        Err(TransformError::NoKey)
    );
}

#[test]
fn a_new_epoch_key_takes_over_sending() {
    let (alice, bob) = pair();
    let epoch_two = SframeKey::new(0x101, b"alice, second epoch".to_vec());
    alice.set_own_key(&epoch_two).unwrap();
    let wire = alice.outgoing(FrameKind::Audio, FRAME.to_vec()).unwrap();
    assert_eq!(
        bob.incoming(FrameKind::Audio, wire.clone()),
        Err(TransformError::NoKey),
        "bob has not got the new epoch yet"
    );
    bob.add_member_key(&epoch_two).unwrap();
    assert_eq!(bob.incoming(FrameKind::Audio, wire).unwrap(), FRAME);
}

#[test]
fn replacing_a_key_under_the_same_kid_restarts_its_replay_window() {
    let (alice, bob) = pair();
    for _ in 0..3 {
        let wire = alice.outgoing(FrameKind::Audio, FRAME.to_vec()).unwrap();
        bob.incoming(FrameKind::Audio, wire).unwrap();
    }
    // Alice rekeys under the same KID; her counter starts again at zero.
    let rekeyed = SframeKey::new(1, b"alice, fresh secret".to_vec());
    alice.set_own_key(&rekeyed).unwrap();
    bob.add_member_key(&rekeyed).unwrap();
    let wire = alice.outgoing(FrameKind::Audio, FRAME.to_vec()).unwrap();
    assert_eq!(bob.incoming(FrameKind::Audio, wire).unwrap(), FRAME);
}

#[test]
fn the_debug_form_never_shows_the_secret() {
    let key = SframeKey::new(7, b"top secret material".to_vec());
    let shown = format!("{key:?}");
    assert!(shown.contains('7') && !shown.contains("secret material"));
}
