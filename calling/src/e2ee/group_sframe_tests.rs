use nostr_signal::Identity;

use super::*;
use crate::e2ee::mls::GroupKeys;

const FRAME: &[u8] = b"an opus frame of the group call";

struct Member {
    key: PublicKey,
    keys: GroupKeys,
    sframe: GroupSframe,
}

impl Member {
    fn new() -> Self {
        let identity = Identity::generate();
        Self {
            key: identity.public_key(),
            keys: GroupKeys::new(&identity).unwrap(),
            sframe: GroupSframe::new(),
        }
    }

    fn rekey(&self) {
        self.sframe.apply(&self.keys.epoch_keys().unwrap()).unwrap();
    }

    fn send(&self) -> Vec<u8> {
        self.sframe
            .outgoing(FrameKind::Audio, FRAME.to_vec())
            .unwrap()
    }

    fn open(&self, wire: &[u8]) -> Result<Vec<u8>, TransformError> {
        self.sframe.incoming(FrameKind::Audio, wire.to_vec())
    }
}

/// Alice creates the group and adds Bob and Carol one after the other, as members join a
/// call; everyone is keyed for the last epoch.
fn three() -> (Member, Member, Member) {
    let (mut alice, mut bob, mut carol) = (Member::new(), Member::new(), Member::new());
    alice.keys.create(b"call").unwrap();
    alice.rekey();
    let (_, welcome) = alice.keys.add(&[bob.keys.key_package().unwrap()]).unwrap();
    bob.keys.join(&welcome).unwrap();
    let (commit, welcome) = alice
        .keys
        .add(&[carol.keys.key_package().unwrap()])
        .unwrap();
    bob.keys.process_commit(&commit).unwrap();
    carol.keys.join(&welcome).unwrap();
    for m in [&alice, &bob, &carol] {
        m.rekey();
    }
    (alice, bob, carol)
}

#[test]
fn nothing_passes_before_the_first_epoch() {
    let member = Member::new();
    assert_eq!(member.sframe.epoch(), None);
    assert_eq!(
        member.sframe.outgoing(FrameKind::Audio, FRAME.to_vec()),
        Err(TransformError::NoKey)
    );
    assert_eq!(member.open(FRAME), Err(TransformError::NoKey));
}

#[test]
fn members_of_one_epoch_open_each_others_frames() {
    let (alice, bob, carol) = three();
    assert_eq!(alice.sframe.epoch(), Some(2));
    assert_eq!(alice.sframe.members(), 2);
    let wire = bob.send();
    assert_ne!(wire, FRAME, "ciphertext on the wire");
    assert_eq!(alice.open(&wire).unwrap(), FRAME);
    assert_eq!(carol.open(&wire).unwrap(), FRAME);
    assert!(bob.open(&wire).is_err(), "our own key id is not a member's");
}

#[test]
fn a_member_who_left_opens_nothing_new_and_is_not_heard_any_more() {
    let (mut alice, mut bob, carol) = three();
    let carol_earlier = carol.send();
    let alice_earlier = alice.send();
    let commit = alice.keys.remove(&carol.key).unwrap();
    bob.keys.process_commit(&commit).unwrap();
    alice.rekey();
    bob.rekey();
    assert_eq!(bob.sframe.epoch(), Some(3));
    assert_eq!(bob.sframe.members(), 1, "only Alice is left for Bob");
    // Sent in the new epoch: Bob opens it, Carol (keys of epoch 2) cannot.
    let wire = alice.send();
    assert_eq!(bob.open(&wire).unwrap(), FRAME);
    assert_eq!(carol.open(&wire), Err(TransformError::NoKey));
    // Carol's frames, even of the epoch she was in, are refused from now on...
    assert_eq!(bob.open(&carol_earlier), Err(TransformError::NoKey));
    // ...while a staying member's frame of the previous epoch, still in flight, opens.
    assert_eq!(bob.open(&alice_earlier).unwrap(), FRAME);
}

#[test]
fn a_late_joiner_cannot_open_frames_from_before_it_joined() {
    let (mut alice, bob, _carol) = three();
    let before = bob.send();
    let mut dave = Member::new();
    let (commit, welcome) = alice.keys.add(&[dave.keys.key_package().unwrap()]).unwrap();
    dave.keys.join(&welcome).unwrap();
    let _ = commit;
    alice.rekey();
    dave.rekey();
    assert_eq!(dave.open(&before), Err(TransformError::NoKey));
    assert_eq!(dave.open(&alice.send()).unwrap(), FRAME);
}

#[test]
fn keys_two_epochs_old_are_dropped_and_an_older_epoch_is_ignored() {
    let (mut alice, mut bob, carol) = three();
    let epoch2 = alice.keys.epoch_keys().unwrap();
    let bob_epoch2 = bob.send();
    for _ in 0..2 {
        let mut extra = Member::new();
        let (commit, welcome) = alice
            .keys
            .add(&[extra.keys.key_package().unwrap()])
            .unwrap();
        bob.keys.process_commit(&commit).unwrap();
        extra.keys.join(&welcome).unwrap();
        alice.rekey();
        bob.rekey();
    }
    assert_eq!(alice.sframe.epoch(), Some(4));
    assert_eq!(
        alice.open(&bob_epoch2),
        Err(TransformError::NoKey),
        "epoch 2 is two epochs old"
    );
    // Going back is refused silently: the keys stay those of epoch 4.
    alice.sframe.apply(&epoch2).unwrap();
    assert_eq!(alice.sframe.epoch(), Some(4));
    assert_eq!(alice.open(&bob.send()).unwrap(), FRAME);
    drop(carol);
}
