//! Group calls on loopback through a real relay: NIP-AC mesh, one real webrtc-rs
//! connection per pair, every member's synthetic microphone a tone of its own, so what
//! each speaker plays tells who is heard.

mod support;

use std::time::Duration;

use calling::e2ee::MediaKeys;
use calling::{
    EngineEvent, GroupChange, GroupEnd, GroupEvent, LeaveReason, MediaEvent, MemberState,
};
use nostr_signal::{Identity, PublicKey};
use phantomcall_schemas::{CallId, CallType, PrivacyMode};
use support::{phone, relay, Phone, PhoneOptions};

/// Distinct tones, far enough apart for a 0.5 s window to tell them in a mix.
const TONES: [f32; 5] = [300.0, 550.0, 1000.0, 2000.0, 3000.0];

async fn phones(relay: &support::Relay, n: usize) -> Vec<Phone> {
    let mut phones = Vec::new();
    for tone in TONES.iter().take(n) {
        let identity = Identity::generate();
        phones.push(phone(relay, &identity, PhoneOptions::tone(*tone)).await);
    }
    phones
}

async fn wait_group(
    phone: &mut Phone,
    within: Duration,
    pred: impl Fn(&GroupEvent) -> bool,
) -> GroupEvent {
    match phone
        .wait_event(within, |e| matches!(e, EngineEvent::Group(g) if pred(g)))
        .await
    {
        EngineEvent::Group(g) => g,
        other => panic!("not a group event: {other:?}"),
    }
}

/// Waits for the invitation to ring and accepts it.
async fn accept_ringing(phone: &mut Phone, call: CallId) -> Vec<PublicKey> {
    let event = wait_group(phone, Duration::from_secs(20), |g| {
        g.call_id == call && matches!(g.change, GroupChange::Ringing { .. })
    })
    .await;
    let GroupChange::Ringing { members, .. } = event.change else {
        unreachable!()
    };
    phone.engine.accept(call, false);
    members
}

/// Waits until each of `members` (the first ones of the group, whose tones are
/// `TONES[..n]` in order) hears exactly the others' tones.
async fn each_hears_the_others(members: &[Phone]) {
    let tones = &TONES[..members.len()];
    for (i, phone) in members.iter().enumerate() {
        let others: Vec<f32> = tones
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, t)| *t)
            .collect();
        phone.wait_hears_all(&others).await;
    }
}

/// Waits for the call's group keys to reach `keyed` of `members` people; returns the epoch.
async fn wait_keys(phone: &mut Phone, call: CallId, keyed: usize, members: usize) -> u64 {
    let event = wait_group(phone, Duration::from_secs(20), |g| {
        g.call_id == call
            && matches!(g.change, GroupChange::Keys { keyed: k, members: m, .. } if k == keyed && m == members)
    })
    .await;
    match event.change {
        GroupChange::Keys { epoch, .. } => epoch,
        _ => unreachable!(),
    }
}

async fn shut_down(group: &[Phone]) {
    for phone in group {
        phone.engine.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_members_each_hear_the_three_others_see_a_mute_and_go_on_when_one_leaves() {
    let relay = relay().await;
    let mut group = phones(&relay, 4).await;
    let others: Vec<PublicKey> = group[1..].iter().map(|p| p.key).collect();
    let call = group[0]
        .engine
        .dial_group(others, CallType::Voice, PrivacyMode::Fast)
        .expect("four fit an audio group");
    for phone in group[1..].iter_mut() {
        let members = accept_ringing(phone, call).await;
        assert_eq!(members.len(), 3, "the invitation names everyone else");
    }
    each_hears_the_others(&group).await;
    // Everyone holds the MLS keys of the epoch after the last join (the caller created
    // epoch 0, each join is a commit), and every connection is keyed by them.
    let mut epochs = Vec::new();
    for phone in group.iter_mut() {
        epochs.push(wait_keys(phone, call, 4, 4).await);
    }
    assert_eq!(epochs, vec![3; 4], "one epoch per join, the same for all");
    // The figures of each connection say which keys protect it.
    wait_group(&mut group[0], Duration::from_secs(5), |g| {
        matches!(&g.change, GroupChange::Stats { stats, .. } if stats.media_keys == MediaKeys::Group { epoch: 3 })
    })
    .await;

    // The second member mutes: the others see it from its audio (digital silence), and
    // see it speak again once it unmutes.
    let muter = group[1].key;
    let voice_of = |g: &GroupEvent, muted: bool, speaking: bool| {
        matches!(&g.change, GroupChange::Media { member, event: MediaEvent::RemoteVoice(v) }
            if *member == muter && v.muted == muted && v.speaking == speaking)
    };
    group[1].engine.set_muted(call, true);
    for phone in [0, 2, 3] {
        wait_group(&mut group[phone], Duration::from_secs(5), |g| {
            voice_of(g, true, false)
        })
        .await;
    }
    group[1].engine.set_muted(call, false);
    wait_group(&mut group[0], Duration::from_secs(5), |g| {
        voice_of(g, false, true)
    })
    .await;

    // The fourth member leaves: the three others keep talking, without it.
    let leaver = group[3].key;
    group[3].engine.hangup(call);
    wait_group(&mut group[3], Duration::from_secs(10), |g| {
        matches!(
            g.change,
            GroupChange::Ended {
                reason: GroupEnd::WeLeft
            }
        )
    })
    .await;
    for phone in group[..3].iter_mut() {
        wait_group(phone, Duration::from_secs(10), |g| {
            matches!(&g.change, GroupChange::Member { member, state: MemberState::Left(LeaveReason::HungUp) } if *member == leaver)
        })
        .await;
    }
    // Its tone is gone from the mix: detect_mix fails on a stray strong candidate.
    each_hears_the_others(&group[..3]).await;
    // A new epoch without it: what is sent from now on is under keys it never had.
    for phone in group[..3].iter_mut() {
        assert_eq!(wait_keys(phone, call, 3, 3).await, 4);
    }
    shut_down(&group).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_invited_mid_call_is_connected_by_every_member() {
    let relay = relay().await;
    let mut group = phones(&relay, 4).await;
    let first: Vec<PublicKey> = vec![group[1].key, group[2].key];
    let call = group[0]
        .engine
        .dial_group(first, CallType::Voice, PrivacyMode::Fast)
        .unwrap();
    for phone in group[1..3].iter_mut() {
        accept_ringing(phone, call).await;
    }
    each_hears_the_others(&group[..3]).await;
    // A callee (not the caller) invites the fourth.
    let newcomer = group[3].key;
    group[1].engine.invite(call, newcomer);
    let members = accept_ringing(&mut group[3], call).await;
    assert_eq!(members.len(), 3, "the invitation names every member");
    each_hears_the_others(&group).await;
    // The newcomer joined the group keys too: four keyed, in the epoch after its join.
    assert_eq!(wait_keys(&mut group[3], call, 4, 4).await, 3);
    shut_down(&group).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_members_on_video_each_receive_only_filtered_frames_from_both_others() {
    let relay = relay().await;
    let mut group = phones(&relay, 3).await;
    let others: Vec<PublicKey> = group[1..].iter().map(|p| p.key).collect();
    let call = group[0]
        .engine
        .dial_group(others, CallType::Video, PrivacyMode::Fast)
        .unwrap();
    for phone in group[1..].iter_mut() {
        let event = wait_group(phone, Duration::from_secs(20), |g| {
            g.call_id == call && matches!(g.change, GroupChange::Ringing { .. })
        })
        .await;
        assert!(matches!(
            event.change,
            GroupChange::Ringing {
                call_type: CallType::Video,
                ..
            }
        ));
        phone.engine.accept(call, true);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for phone in &group {
        loop {
            let frames: Vec<u64> = phone
                .devices
                .probes
                .videos()
                .iter()
                .map(|v| v.snapshot().frames)
                .collect();
            // One remote view per other member, each decoding its frames.
            if frames.len() == 2 && frames.iter().all(|f| *f >= 10) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "frames per remote view: {frames:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Invariant 1 (no raw frame leaves): the cameras here run the all-black filter,
        // so every frame any member receives from the group is black.
        for view in phone.devices.probes.videos() {
            let seen = view.snapshot();
            assert_eq!(
                seen.black_frames, seen.frames,
                "a frame that was not filtered"
            );
        }
        // One speaker for the whole call, however many members.
        assert_eq!(phone.devices.probes.speakers().len(), 1, "one speaker");
    }
    shut_down(&group).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_past_the_cap_or_of_two_is_refused_before_anything_is_sent() {
    let relay = relay().await;
    let group = phones(&relay, 1).await;
    let nine: Vec<PublicKey> = (0..9).map(|_| Identity::generate().public_key()).collect();
    let err = group[0]
        .engine
        .dial_group(nine[..8].to_vec(), CallType::Voice, PrivacyMode::Fast)
        .expect_err("nine people in audio");
    assert!(err.to_string().contains("at most 8"), "{err}");
    let err = group[0]
        .engine
        .dial_group(nine[..6].to_vec(), CallType::Video, PrivacyMode::Fast)
        .expect_err("seven people on video");
    assert!(err.to_string().contains("at most 6"), "{err}");
    // One other person is a 1:1 call on the wire (NIP-AC tells a group by its callees).
    let err = group[0]
        .engine
        .dial_group(nine[..1].to_vec(), CallType::Voice, PrivacyMode::Fast)
        .expect_err("a group of two");
    assert!(
        err.to_string().contains("at least two other people"),
        "{err}"
    );
    assert!(group[0]
        .engine
        .dial_group(nine[..5].to_vec(), CallType::Video, PrivacyMode::Fast)
        .is_ok());
    // Shutting down at once, while the connections are still being set up, stops them
    // all (a connection that starts after its call ended must not wait on the devices).
    tokio::time::timeout(Duration::from_secs(30), group[0].engine.shutdown())
        .await
        .expect("the engine stops");
}
