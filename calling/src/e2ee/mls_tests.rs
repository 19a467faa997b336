use super::*;
use crate::e2ee::SframeTransform;
use crate::pipeline::transform::{FrameKind, FrameTransform, TransformError};

struct Person {
    identity: Identity,
    keys: GroupKeys,
}

fn person() -> Person {
    let identity = Identity::generate();
    let keys = GroupKeys::new(&identity).unwrap();
    Person { identity, keys }
}

/// A transform for `who` under its current epoch keys.
fn transform(who: &Person) -> SframeTransform {
    let epoch = who.keys.epoch_keys().unwrap();
    let transform = SframeTransform::new(&epoch.own).unwrap();
    for (_, key) in &epoch.members {
        transform.add_member_key(key).unwrap();
    }
    transform
}

const FRAME: &[u8] = b"an opus frame of the group call";

/// Alice starts the group and adds Bob and Carol in one commit; both join by the welcome.
fn three() -> (Person, Person, Person) {
    let (mut alice, mut bob, mut carol) = (person(), person(), person());
    alice.keys.create(b"group-call-id").unwrap();
    let packages = [
        bob.keys.key_package().unwrap(),
        carol.keys.key_package().unwrap(),
    ];
    let (_commit, welcome) = alice.keys.add(&packages).unwrap();
    bob.keys.join(&welcome).unwrap();
    carol.keys.join(&welcome).unwrap();
    (alice, bob, carol)
}

#[test]
fn members_agree_on_the_epoch_and_open_each_others_frames() {
    let (alice, bob, carol) = three();
    assert_eq!(alice.keys.epoch(), Some(1));
    assert_eq!(bob.keys.epoch(), alice.keys.epoch());
    let mut members = alice.keys.members().unwrap();
    members.sort();
    let mut expected = vec![
        alice.identity.public_key(),
        bob.identity.public_key(),
        carol.identity.public_key(),
    ];
    expected.sort();
    assert_eq!(members, expected, "credentials name the Nostr keys");

    let (a, b, c) = (transform(&alice), transform(&bob), transform(&carol));
    let wire = a.outgoing(FrameKind::Audio, FRAME.to_vec()).unwrap();
    assert_eq!(b.incoming(FrameKind::Audio, wire.clone()).unwrap(), FRAME);
    assert_eq!(c.incoming(FrameKind::Audio, wire).unwrap(), FRAME);
    let back = c.outgoing(FrameKind::Camera, FRAME.to_vec()).unwrap();
    assert_eq!(a.incoming(FrameKind::Camera, back).unwrap(), FRAME);
}

#[test]
fn every_sender_has_its_own_key_id() {
    let (alice, _, _) = three();
    let epoch = alice.keys.epoch_keys().unwrap();
    let mut ids: Vec<u64> = epoch.members.iter().map(|(_, k)| k.key_id).collect();
    ids.push(epoch.own.key_id);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3);
}

#[test]
fn after_a_leave_the_old_member_cannot_open_frames_of_the_new_epoch() {
    let (mut alice, mut bob, carol) = three();
    let carol_old = transform(&carol);
    let commit = alice.keys.remove(&carol.identity.public_key()).unwrap();
    bob.keys.process_commit(&commit).unwrap();
    assert_eq!(alice.keys.epoch(), Some(2));
    assert_eq!(bob.keys.epoch(), Some(2));

    let (a, b) = (transform(&alice), transform(&bob));
    let wire = a.outgoing(FrameKind::Audio, FRAME.to_vec()).unwrap();
    assert_eq!(b.incoming(FrameKind::Audio, wire.clone()).unwrap(), FRAME);
    assert!(
        carol_old.incoming(FrameKind::Audio, wire.clone()).is_err(),
        "the member who left opened a frame of the new epoch"
    );
    // Even given the new key id under its old epoch secret, the frame does not open.
    let old = carol.keys.epoch_keys().unwrap();
    let forged = SframeTransform::new(&old.own).unwrap();
    let new_alice_id = alice.keys.epoch_keys().unwrap().own.key_id;
    forged
        .add_member_key(&SframeKey::new(new_alice_id, old.own.secret.to_vec()))
        .unwrap();
    assert_eq!(
        forged.incoming(FrameKind::Audio, wire),
        Err(TransformError::Unauthenticated)
    );
}

#[test]
fn a_late_joiner_cannot_open_frames_from_before_it_joined() {
    let (mut alice, mut bob, mut carol) = three();
    let before = transform(&alice)
        .outgoing(FrameKind::Audio, FRAME.to_vec())
        .unwrap();
    let mut dave = person();
    let (commit, welcome) = alice.keys.add(&[dave.keys.key_package().unwrap()]).unwrap();
    bob.keys.process_commit(&commit).unwrap();
    carol.keys.process_commit(&commit).unwrap();
    dave.keys.join(&welcome).unwrap();
    assert_eq!(dave.keys.epoch(), Some(2));

    let d = transform(&dave);
    assert!(d.incoming(FrameKind::Audio, before).is_err());
    // And it hears what is sent now.
    let now = transform(&alice)
        .outgoing(FrameKind::Audio, FRAME.to_vec())
        .unwrap();
    assert_eq!(d.incoming(FrameKind::Audio, now).unwrap(), FRAME);
}

#[test]
fn a_key_package_whose_credential_names_another_nostr_key_is_refused() {
    let mut alice = person();
    alice.keys.create(b"call").unwrap();
    // Mallory's credential claims Bob's npub with Mallory's signature.
    let mallory = Identity::generate();
    let bob = Identity::generate();
    let mut forged = GroupKeys::new(&mallory).unwrap();
    let mut claimed = bob.public_key().to_bytes().to_vec();
    claimed.extend_from_slice(&mallory.sign_digest(binding_digest(forged.signer.public())));
    forged.credential.credential = BasicCredential::new(claimed).into();
    let package = forged.key_package().unwrap();
    assert_eq!(
        alice.keys.add(std::slice::from_ref(&package)),
        Err(MlsError::UnboundCredential)
    );
    assert_eq!(
        alice.keys.key_package_owner(&package),
        Err(MlsError::UnboundCredential)
    );
    assert_eq!(alice.keys.epoch(), Some(0), "nothing changed");
    // An honest package names its owner.
    let carol = person();
    let honest = carol.keys.key_package().unwrap();
    assert_eq!(
        alice.keys.key_package_owner(&honest),
        Ok(carol.identity.public_key())
    );
}

#[test]
fn garbage_is_refused_as_malformed_without_panic() {
    let mut alice = person();
    assert_eq!(
        alice.keys.join(&[0xff; 40]),
        Err(MlsError::Malformed("welcome"))
    );
    assert_eq!(
        alice.keys.process_commit(&[]),
        Err(MlsError::Malformed("commit"))
    );
    alice.keys.create(b"call").unwrap();
    assert_eq!(
        alice.keys.add(&[vec![1, 2, 3]]),
        Err(MlsError::Malformed("key package"))
    );
    // A key package where a welcome is expected.
    let package = person().keys.key_package().unwrap();
    assert_eq!(
        alice.keys.join(&package),
        Err(MlsError::Malformed("welcome"))
    );
}

#[test]
fn removing_a_stranger_is_refused() {
    let (mut alice, _, _) = three();
    assert_eq!(
        alice.keys.remove(&Identity::generate().public_key()),
        Err(MlsError::NotMember)
    );
}

#[test]
fn a_welcome_into_another_group_than_the_calls_is_refused() {
    let mut alice = person();
    alice.keys.create(b"call-a").unwrap();
    let mut bob = person();
    let (_, welcome) = alice.keys.add(&[bob.keys.key_package().unwrap()]).unwrap();
    assert_eq!(
        bob.keys.join_group(&welcome, Some(b"call-b")),
        Err(MlsError::WrongGroup)
    );
    assert_eq!(bob.keys.epoch(), None, "not joined");
}

#[test]
fn a_welcome_into_the_calls_group_is_taken() {
    let mut alice = person();
    alice.keys.create(b"call-a").unwrap();
    let mut bob = person();
    let (_, welcome) = alice.keys.add(&[bob.keys.key_package().unwrap()]).unwrap();
    bob.keys.join_group(&welcome, Some(b"call-a")).unwrap();
    assert_eq!(bob.keys.epoch(), alice.keys.epoch());
}
