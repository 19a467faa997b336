//! The 1:1 call scenarios end to end: real engines, a real relay, real peer connections.
//! Decline, busy, ring timeout (missed), a callee that is offline, glare, and hangup from
//! either side in each state, each with the end reason both sides record. The state
//! machine's own tests (happy_path.rs, busy.rs, glare.rs, ...) cover the same rules with
//! virtual time; these check that the engine, the transport and webrtc-rs carry them out.

mod support;

use std::time::{Duration, Instant};

use calling::{CallEvent, CallState, Direction, DropReason, EndReason, Reason};
use nostr_signal::{Identity, PublicKey};
use phantomcall_schemas::{CallId, CallType, PrivacyMode};
use support::{connected_call, phone, relay, Phone, PhoneOptions, Relay};

/// Short enough for a quick test, long enough for an offer to reach the callee.
const SHORT_RING: Duration = Duration::from_secs(3);

/// Alice (440 Hz) and Bob (660 Hz), two new identities on `relay`.
async fn alice_and_bob(relay: &Relay, ring: Option<Duration>) -> (Phone, Phone) {
    let options = |tone_hz| PhoneOptions {
        ring_timeout: ring,
        ..PhoneOptions::tone(tone_hz)
    };
    let alice = phone(relay, &Identity::generate(), options(440.0)).await;
    let bob = phone(relay, &Identity::generate(), options(660.0)).await;
    (alice, bob)
}

/// `caller` dials `callee` (voice, Fast); returns once the offer is out.
async fn dial(caller: &mut Phone, callee: PublicKey) -> CallId {
    let call = caller
        .engine
        .dial(callee, CallType::Voice, PrivacyMode::Fast);
    caller.wait_state(Some(call), CallState::Ringing).await;
    call
}

/// Alice calls Bob; returns once it rings at Bob.
async fn rings_at_bob(relay: &Relay) -> (Phone, Phone, CallId) {
    let (mut alice, mut bob) = alice_and_bob(relay, None).await;
    let call = dial(&mut alice, bob.key).await;
    bob.wait_state(Some(call), CallState::Ringing).await;
    (alice, bob, call)
}

/// Waits for `call` to end on `phone` and checks why.
async fn ends(phone: &mut Phone, call: CallId, reason: EndReason) -> CallEvent {
    let end = phone.wait_state(Some(call), CallState::Ended).await;
    assert_eq!(end.reason, Reason::Ended(reason), "{end:?}");
    end
}

/// Both sides hear each other's tone (audio played from now on).
async fn both_hear_each_other(a: &Phone, b: &Phone) {
    a.wait_hears(b.devices.tone_hz).await;
    b.wait_hears(a.devices.tone_hz).await;
}

async fn shutdown(phones: &[&Phone]) {
    for phone in phones {
        phone.engine.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn declined_call_ends_remote_decline_for_the_caller_and_local_decline_for_the_callee() {
    let relay = relay().await;
    let (mut alice, mut bob, call) = rings_at_bob(&relay).await;
    bob.engine.decline(call);

    let at_bob = ends(&mut bob, call, EndReason::LocalDecline).await;
    assert!(!at_bob.missed, "a declined call is not missed");
    ends(&mut alice, call, EndReason::RemoteDecline).await;
    assert!(
        bob.devices.probes.speakers().is_empty(),
        "no media was started for a declined call"
    );
    alice.wait_speakers_stopped().await;
    shutdown(&[&alice, &bob]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn busy_callee_rejects_a_second_caller_and_its_call_keeps_connected_with_audio() {
    let relay = relay().await;
    let (mut alice, mut bob) = alice_and_bob(&relay, None).await;
    let mut carol = phone(&relay, &Identity::generate(), PhoneOptions::tone(1000.0)).await;
    let live = connected_call(&mut carol, &mut bob).await;

    let second = alice
        .engine
        .dial(bob.key, CallType::Voice, PrivacyMode::Fast);
    ends(&mut alice, second, EndReason::RemoteBusy).await;
    let at_bob = ends(&mut bob, second, EndReason::LocalBusy).await;
    assert!(at_bob.missed, "a call rejected as busy is logged as missed");

    for (who, phone) in [("bob", &bob), ("carol", &carol)] {
        let info = phone.call_info(live).await;
        assert_eq!(info.state, CallState::Connected, "{who}: {info:?}");
    }
    both_hear_each_other(&bob, &carol).await;
    assert_eq!(
        bob.devices.probes.speakers().len(),
        1,
        "the rejected call opened no media"
    );
    shutdown(&[&alice, &bob, &carol]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unanswered_call_ends_by_ring_timeout_on_both_sides_and_is_missed_for_the_callee() {
    let relay = relay().await;
    let (mut alice, mut bob) = alice_and_bob(&relay, Some(SHORT_RING)).await;
    let call = dial(&mut alice, bob.key).await;
    let ringing_since = Instant::now();
    bob.wait_state(Some(call), CallState::Ringing).await;

    ends(&mut alice, call, EndReason::RingTimeout).await;
    assert!(
        ringing_since.elapsed() >= SHORT_RING - Duration::from_secs(1),
        "the caller gave up after its ring timeout, not before: {:?}",
        ringing_since.elapsed()
    );
    let at_bob = ends(&mut bob, call, EndReason::RingTimeout).await;
    assert!(at_bob.missed, "the callee logs the call as missed");
    shutdown(&[&alice, &bob]).await;
}

/// Alice calls Bob, who is not there: the call rings until Alice's ring timeout, then
/// ends; the engine is still alive afterwards.
async fn call_nobody_answers(alice: &mut Phone, bob: PublicKey) {
    let call = dial(alice, bob).await;
    ends(alice, call, EndReason::RingTimeout).await;
    let info = alice.call_info(call).await;
    assert_eq!(info.end_reason, Some(EndReason::RingTimeout), "{info:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn call_to_a_callee_that_never_came_online_ends_by_ring_timeout() {
    let relay = relay().await;
    let options = PhoneOptions {
        ring_timeout: Some(SHORT_RING),
        ..PhoneOptions::tone(440.0)
    };
    let mut alice = phone(&relay, &Identity::generate(), options).await;
    let bob = Identity::generate();

    call_nobody_answers(&mut alice, bob.public_key()).await;
    shutdown(&[&alice]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn call_to_a_callee_that_shut_down_ends_by_ring_timeout() {
    let relay = relay().await;
    let (mut alice, bob) = alice_and_bob(&relay, Some(SHORT_RING)).await;
    bob.engine.shutdown().await;
    bob.transport.shutdown().await;

    call_nobody_answers(&mut alice, bob.key).await;
    shutdown(&[&alice]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn glare_keeps_the_call_with_the_smaller_id_connected_and_ends_the_other_on_both_sides() {
    let relay = relay().await;
    let (mut alice, mut bob) = alice_and_bob(&relay, None).await;

    let from_alice = alice
        .engine
        .dial(bob.key, CallType::Voice, PrivacyMode::Fast);
    let from_bob = bob
        .engine
        .dial(alice.key, CallType::Voice, PrivacyMode::Fast);
    // Both sides compute the same survivor: the smaller call id.
    let (survivor, lost, winner, loser) = if from_alice < from_bob {
        (from_alice, from_bob, &mut alice, &mut bob)
    } else {
        (from_bob, from_alice, &mut bob, &mut alice)
    };

    // The caller of the lost call ends it, and takes the peer's call at once. Its offer
    // is usually out by then (Ringing first); if the peer's offer came first, it never
    // left (the call ends from Dialing) and the peer never hears of it.
    let first = loser
        .wait_call(Some(lost), Duration::from_secs(20), |e| {
            matches!(e.state, CallState::Ringing | CallState::Ended)
        })
        .await;
    let offer_went_out = first.state == CallState::Ringing;
    if offer_went_out {
        ends(loser, lost, EndReason::Glare).await;
    } else {
        assert_eq!(first.reason, Reason::Ended(EndReason::Glare));
    }
    let taken = loser
        .wait_call(Some(survivor), Duration::from_secs(20), |e| {
            e.state == CallState::Connecting
        })
        .await;
    assert_eq!(
        (taken.direction, taken.reason),
        (Direction::Incoming, Reason::GlareWon)
    );
    if offer_went_out {
        // The caller of the survivor drops the lost offer (it never rings there) and
        // remembers that call as ended by glare. The loser sent that offer before its
        // answer, so the drop comes before the survivor connects.
        winner.wait_dropped(lost, DropReason::GlareLost).await;
        let lost_at_winner = winner.call_info(lost).await;
        assert_eq!(
            (lost_at_winner.state, lost_at_winner.end_reason),
            (CallState::Ended, Some(EndReason::Glare))
        );
    }

    winner
        .wait_state(Some(survivor), CallState::Connected)
        .await;
    loser.wait_state(Some(survivor), CallState::Connected).await;
    for phone in [&*winner, &*loser] {
        let info = phone.call_info(survivor).await;
        assert_eq!(info.state, CallState::Connected, "{info:?}");
    }
    both_hear_each_other(winner, loser).await;
    shutdown(&[&alice, &bob]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn caller_cancels_while_ringing_and_the_callee_records_a_missed_call() {
    let relay = relay().await;
    let (mut alice, mut bob, call) = rings_at_bob(&relay).await;
    alice.engine.hangup(call);

    ends(&mut alice, call, EndReason::LocalHangup).await;
    let at_bob = ends(&mut bob, call, EndReason::RemoteHangup).await;
    assert!(at_bob.missed, "a call the caller gave up on is missed");
    alice.wait_speakers_stopped().await;
    shutdown(&[&alice, &bob]).await;
}

/// A connected call, hung up by the caller or by the callee: LocalHangup there,
/// RemoteHangup on the other side, missed on neither, media stopped on both.
async fn hang_up_connected_call(by_caller: bool) {
    let relay = relay().await;
    let (mut alice, mut bob) = alice_and_bob(&relay, None).await;
    let call = connected_call(&mut alice, &mut bob).await;
    both_hear_each_other(&alice, &bob).await;

    let (hanging_up, other) = if by_caller {
        (&mut alice, &mut bob)
    } else {
        (&mut bob, &mut alice)
    };
    hanging_up.engine.hangup(call);
    let here = ends(hanging_up, call, EndReason::LocalHangup).await;
    let there = ends(other, call, EndReason::RemoteHangup).await;
    assert!(
        !here.missed && !there.missed,
        "an answered call is not missed"
    );
    alice.wait_speakers_stopped().await;
    bob.wait_speakers_stopped().await;
    shutdown(&[&alice, &bob]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn caller_hangs_up_a_connected_call_and_both_sides_end() {
    hang_up_connected_call(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callee_hangs_up_a_connected_call_and_both_sides_end() {
    hang_up_connected_call(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callee_hangs_up_while_connecting_and_the_caller_sees_remote_hangup() {
    let relay = relay().await;
    let (mut alice, mut bob, call) = rings_at_bob(&relay).await;
    // Commands run in order: the hangup finds the call Connecting, before media is up.
    bob.engine.accept(call, false);
    bob.engine.hangup(call);

    let connecting = bob
        .wait_call(Some(call), Duration::from_secs(20), |_| true)
        .await;
    assert_eq!(
        (connecting.state, connecting.reason),
        (CallState::Connecting, Reason::LocalAccept)
    );
    let next = bob
        .wait_call(Some(call), Duration::from_secs(20), |_| true)
        .await;
    assert_eq!(
        (next.state, next.reason),
        (CallState::Ended, Reason::Ended(EndReason::LocalHangup))
    );
    assert!(!next.missed, "the callee accepted it");
    ends(&mut alice, call, EndReason::RemoteHangup).await;
    // Bob's answer never went out: Alice took none.
    let info = alice.call_info(call).await;
    assert_eq!(info.answered_by, None, "{info:?}");
    alice.wait_speakers_stopped().await;
    bob.wait_speakers_stopped().await;
    shutdown(&[&alice, &bob]).await;
}
