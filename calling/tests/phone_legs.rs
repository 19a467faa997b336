//! Calls with a telephone at one end, through a phone gateway: the `dial` tag takes the
//! number to the gateway, the `phone` tag tells the app who is on the phone, and every
//! event of such a call says so (the UI then says it is not end-to-end encrypted).

mod support;

use std::time::Duration;

use calling::{CallState, Direction};
use nostr_signal::Identity;
use phantomcall_schemas::{PhoneLeg, PrivacyMode};
use support::{phone, relay, PhoneOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_dials_a_number_through_the_gateway_and_both_know_a_phone_is_on_the_line() {
    let relay = relay().await;
    let mut user = phone(&relay, &Identity::generate(), PhoneOptions::tone(440.0)).await;
    let mut gateway = phone(&relay, &Identity::generate(), PhoneOptions::tone(660.0)).await;

    assert_eq!(
        user.engine
            .dial_phone(gateway.key, "5551234567", PrivacyMode::Fast),
        None,
        "not E.164: nothing is sent"
    );
    let call = user
        .engine
        .dial_phone(gateway.key, "+15551234567", PrivacyMode::Fast)
        .expect("an E.164 number");
    let dialing = user
        .wait_call(Some(call), Duration::from_secs(20), |e| {
            e.state == CallState::Ringing
        })
        .await;
    assert_eq!(
        dialing.phone,
        PhoneLeg::dial("+15551234567"),
        "before any answer"
    );

    let offered = gateway.wait_state(Some(call), CallState::Ringing).await;
    assert_eq!(offered.direction, Direction::Incoming);
    assert_eq!(
        offered.phone,
        PhoneLeg::dial("+15551234567"),
        "the gateway reads the number to dial"
    );
    assert!(gateway.engine.accept_for_phone(call, "+1 555 …67"));
    let connected = user.wait_state(Some(call), CallState::Connected).await;
    assert_eq!(
        connected.phone,
        PhoneLeg::phone("+1 555 …67"),
        "the gateway's answer says who is on the phone"
    );
    let info = user.engine.calls().await;
    assert_eq!(info[0].phone, PhoneLeg::phone("+1 555 …67"));
    user.engine.hangup(call);
    gateway.wait_state(Some(call), CallState::Ended).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_phone_caller_rings_a_user_through_the_gateway_as_a_phone_call() {
    let relay = relay().await;
    let mut user = phone(&relay, &Identity::generate(), PhoneOptions::tone(440.0)).await;
    let mut gateway = phone(&relay, &Identity::generate(), PhoneOptions::tone(660.0)).await;

    assert_eq!(
        gateway
            .engine
            .dial_for_phone(user.key, "<not a number>", None, PrivacyMode::Fast),
        None
    );
    // The gateway names the telephone opaquely; the user's side reads the same name.
    let reference = phantomcall_schemas::PhoneRef::from_bytes([0x5a; 16]);
    let call = gateway
        .engine
        .dial_for_phone(user.key, "+1 555 …12", Some(reference), PrivacyMode::Fast)
        .expect("a number as shown");
    let ringing = user.wait_state(Some(call), CallState::Ringing).await;
    let named = PhoneLeg::phone_with_reference("+1 555 …12", reference);
    assert_eq!(ringing.phone, named);
    user.engine.accept(call, false);
    let connected = user.wait_state(Some(call), CallState::Connected).await;
    assert_eq!(connected.phone, named);
    // An ordinary call between two apps carries no phone leg.
    user.engine.hangup(call);
    gateway.wait_state(Some(call), CallState::Ended).await;
    let plain = user.engine.dial(
        gateway.key,
        phantomcall_schemas::CallType::Voice,
        PrivacyMode::Fast,
    );
    let offered = gateway.wait_state(Some(plain), CallState::Ringing).await;
    assert_eq!(offered.phone, None);
    user.engine.hangup(plain);
}
