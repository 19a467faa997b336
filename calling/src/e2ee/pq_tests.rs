use kem::Decapsulate;
use x_wing::DecapsulationKey;

use super::*;
use crate::pipeline::transform::{FrameKind, FrameTransform};

fn hex(text: &str) -> Vec<u8> {
    let text: String = text.split_whitespace().collect();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

// draft-connolly-cfrg-xwing-kem-08, Appendix C, first vector: the decapsulation key seed,
// the encapsulation randomness and the shared secret, written out from the draft's text.
const XWING_SEED: &str = "7f9c2ba4e88f827d616045507605853ed73b8093f6efbc88eb1a6eacfa66ef26";
const XWING_ESEED: &str = "3cb1eea988004b93103cfb0aeefd2a686e01fa4a58e8a3639ca8a1e3f9ae57e2
    35b8cc873c23dc62b8d260169afa2f75ab916a58d974918835d25e6a435085b2";
const XWING_SS: &str = "d2df0522128f09dd8e2c92b1e905c793d8f57a54c3da25861f10bf4ca613e384";

#[test]
fn x_wing_matches_the_drafts_published_vector() {
    let seed: [u8; 32] = hex(XWING_SEED).try_into().unwrap();
    let eseed: [u8; 64] = hex(XWING_ESEED).try_into().unwrap();
    let decapsulation = DecapsulationKey::from(seed);
    let (ciphertext, shared) = decapsulation
        .encapsulation_key()
        .encapsulate_deterministic(&eseed.into());
    assert_eq!(shared.to_vec(), hex(XWING_SS));
    assert_eq!(
        decapsulation.decapsulate(&ciphertext).to_vec(),
        hex(XWING_SS)
    );
}

const CALL: &str = "5b0c6a4f-1f0e-4c7e-9a43-2f8a3c2d9e11";

fn binding() -> CallBinding<'static> {
    CallBinding {
        call_id: CALL,
        caller: [0xa1; 32],
        callee: [0xb2; 32],
    }
}

fn handshake() -> (CallMediaKeys, CallMediaKeys) {
    let offer = PqOffer::generate().unwrap();
    let (answer, callee) = respond(offer.share(), &binding()).unwrap();
    let caller = offer.finish(&answer, &binding()).unwrap();
    (caller, callee)
}

#[test]
fn both_sides_derive_the_same_key_and_frames_cross() {
    let (caller, callee) = handshake();
    assert_eq!(caller.fingerprint(), callee.fingerprint());
    let (ours, theirs) = (
        caller.transform(true).unwrap(),
        callee.transform(false).unwrap(),
    );
    let frame = b"twenty milliseconds of opus".to_vec();
    let wire = ours.outgoing(FrameKind::Audio, frame.clone()).unwrap();
    assert_eq!(theirs.incoming(FrameKind::Audio, wire).unwrap(), frame);
    let back = theirs.outgoing(FrameKind::Camera, frame.clone()).unwrap();
    assert_eq!(ours.incoming(FrameKind::Camera, back).unwrap(), frame);
}

#[test]
fn each_call_gets_a_fresh_key() {
    let (first, _) = handshake();
    let (second, _) = handshake();
    assert_ne!(first.fingerprint(), second.fingerprint());
}

#[test]
fn the_shares_have_the_sizes_x_wing_defines() {
    let offer = PqOffer::generate().unwrap();
    assert_eq!(offer.share().len(), 1216);
    let (answer, _) = respond(offer.share(), &binding()).unwrap();
    assert_eq!(answer.len(), 1120);
}

/// Flips one byte of a share at `at` (ML-KEM's part comes first, X25519's last 32 bytes).
fn flipped(share: &[u8], at: usize) -> Vec<u8> {
    let mut share = share.to_vec();
    share[at] ^= 0x40;
    share
}

#[test]
fn the_key_changes_when_the_ml_kem_part_of_the_answer_changes() {
    let offer = PqOffer::generate().unwrap();
    let (answer, callee) = respond(offer.share(), &binding()).unwrap();
    // ML-KEM's implicit rejection: a changed ciphertext decapsulates to another secret.
    let caller = offer.finish(&flipped(&answer, 100), &binding()).unwrap();
    assert_ne!(caller.fingerprint(), callee.fingerprint());
}

#[test]
fn the_key_changes_when_the_x25519_part_of_the_answer_changes() {
    let offer = PqOffer::generate().unwrap();
    let (answer, callee) = respond(offer.share(), &binding()).unwrap();
    let caller = offer
        .finish(&flipped(&answer, ANSWER_SHARE_LEN - 5), &binding())
        .unwrap();
    assert_ne!(caller.fingerprint(), callee.fingerprint());
}

#[test]
fn the_key_changes_when_the_ml_kem_part_of_the_offer_changes() {
    let offer = PqOffer::generate().unwrap();
    // A relay swapping part of the offer's ML-KEM key: the callee encapsulates to a key the
    // caller does not hold. (The first flip that keeps every coefficient below ML-KEM's
    // modulus, so the key is still valid.)
    let (answer, callee) = (0..64)
        .find_map(|at| respond(&flipped(offer.share(), at), &binding()).ok())
        .expect("a valid altered key");
    let caller = offer.finish(&answer, &binding()).unwrap();
    assert_ne!(caller.fingerprint(), callee.fingerprint());
}

#[test]
fn the_key_changes_when_the_x25519_part_of_the_offer_changes() {
    let offer = PqOffer::generate().unwrap();
    let (answer, callee) =
        respond(&flipped(offer.share(), OFFER_SHARE_LEN - 3), &binding()).unwrap();
    let caller = offer.finish(&answer, &binding()).unwrap();
    assert_ne!(caller.fingerprint(), callee.fingerprint());
}

#[test]
fn the_key_is_bound_to_the_call_and_the_people() {
    let offer = PqOffer::generate().unwrap();
    let (answer, callee) = respond(offer.share(), &binding()).unwrap();
    let other_call = CallBinding {
        call_id: "another-call",
        ..binding()
    };
    let caller = offer.finish(&answer, &other_call).unwrap();
    assert_ne!(caller.fingerprint(), callee.fingerprint());

    let offer = PqOffer::generate().unwrap();
    let (answer, callee) = respond(offer.share(), &binding()).unwrap();
    let other_callee = CallBinding {
        callee: [0xc3; 32],
        ..binding()
    };
    let caller = offer.finish(&answer, &other_callee).unwrap();
    assert_ne!(caller.fingerprint(), callee.fingerprint());
}

#[test]
fn a_mismatched_key_opens_no_frame() {
    let offer = PqOffer::generate().unwrap();
    let (answer, callee) = respond(offer.share(), &binding()).unwrap();
    let caller = offer.finish(&flipped(&answer, 7), &binding()).unwrap();
    let wire = caller
        .transform(true)
        .unwrap()
        .outgoing(FrameKind::Audio, b"hello".to_vec())
        .unwrap();
    assert_eq!(
        callee
            .transform(false)
            .unwrap()
            .incoming(FrameKind::Audio, wire),
        Err(TransformError::Unauthenticated)
    );
}

#[test]
fn shares_of_the_wrong_size_are_refused() {
    assert_eq!(
        respond(&[0u8; 32], &binding()).unwrap_err(),
        PqError::WrongLength {
            got: 32,
            expected: OFFER_SHARE_LEN
        }
    );
    let offer = PqOffer::generate().unwrap();
    assert_eq!(
        offer.finish(&[1u8; 1119], &binding()).unwrap_err(),
        PqError::WrongLength {
            got: 1119,
            expected: ANSWER_SHARE_LEN
        }
    );
}

#[test]
fn an_offer_key_that_is_not_ml_kem_is_refused() {
    // Every coefficient 0xfff exceeds ML-KEM's modulus: FIPS 203's input check fails.
    assert_eq!(
        respond(&[0xff; OFFER_SHARE_LEN], &binding()).unwrap_err(),
        PqError::InvalidKey
    );
}

#[test]
fn a_degenerate_x25519_answer_is_refused() {
    let offer = PqOffer::generate().unwrap();
    let (mut answer, _) = respond(offer.share(), &binding()).unwrap();
    // The all-zero point gives an all-zero X25519 secret (no contribution from the callee).
    let x25519 = ANSWER_SHARE_LEN - 32;
    answer[x25519..].fill(0);
    assert_eq!(
        offer.finish(&answer, &binding()).unwrap_err(),
        PqError::Refused
    );
}

#[test]
fn no_key_material_in_debug_output() {
    let (caller, _) = handshake();
    let shown = format!("{caller:?} {:?}", PqOffer::generate().unwrap());
    assert!(!shown.chars().any(|c| c.is_ascii_digit()), "{shown}");
}
