//! The gateway service end to end with a SIP phone the project did not write: baresip
//! calls a DID and a PhantomCall user answers; a user dials a number and baresip (as the
//! trunk's far end) answers. A tone from each side is found on the other. The user's
//! side is a real PhantomCall client on an embedded relay, real webrtc-rs media.

mod common;

use std::time::Duration;

use calling::{EndReason, PhoneRefusal};
use common::baresip::{Baresip, PhoneOptions, Role};
use common::kamailio::Kamailio;
use common::service::*;
use media::audio::{DtmfDetector, ToneCheck, SAMPLE_RATE};
use phantomcall_schemas::{PhoneLeg, PrivacyMode};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_phone_calls_a_did_and_the_user_it_maps_to_hears_it_and_is_heard() {
    let mut scene = scene(440.0).await;
    let (gateway, phone, ringing) = scene
        .phone_rings_alice(|sip| phone_dialling("127.0.0.1", sip))
        .await;
    assert_eq!(ringing.peer, gateway.public_key());
    assert_eq!(
        ringing.phone.as_ref().and_then(PhoneLeg::shown),
        Some("+1 555 …12"),
        "the user sees who calls, not their whole number, and that it is a phone"
    );
    assert!(
        ringing
            .phone
            .as_ref()
            .and_then(PhoneLeg::reference)
            .is_some(),
        "the phone is named opaquely, so the user's side can tell phones apart"
    );
    assert_eq!(gateway.bridged_calls(), 1);
    scene.both_hear(&phone, 1_000.0, "").await;
    // The user hangs up: the phone's call ends too.
    scene.alice.engine.hangup(ringing.call_id);
    phone_call_ends(&phone, "baresip's call ended").await;
    assert_eq!(gateway.bridged_calls(), 0);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_dials_a_number_and_talks_with_the_phone_that_answers() {
    let mut scene = scene(660.0).await;
    let alice = &scene.alice;
    let phone = Baresip::start("+15551234567", 1_400, Role::AutoAnswer, 40);
    let gateway = service(scene.relay.url(), alice, Some(phone.sip), &[alice]).await;
    let connected = scene.alice_dials(&gateway, "+15551234567").await;
    let call = connected.call_id;
    assert_eq!(
        connected.phone,
        PhoneLeg::phone("+15551234567"),
        "the user's own dialled number, in full"
    );
    scene.both_hear(&phone, 1_400.0, "").await;
    assert!(
        gateway
            .gateway()
            .credit_minutes(&scene.alice.key.to_hex())
            .unwrap()
            < 30.0,
        "the call is charged"
    );
    // The phone hangs up (baresip quits, saying BYE): the user's call ends.
    phone.quit();
    assert_eq!(
        ended_within(&mut scene.events, call).await,
        EndReason::RemoteHangup
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_who_is_not_enrolled_is_refused_and_no_number_is_dialled() {
    let mut scene = scene(660.0).await;
    let mallory = &scene.alice;
    let phone = Baresip::start("+15551234567", 1_400, Role::AutoAnswer, 20);
    let gateway = service(scene.relay.url(), mallory, Some(phone.sip), &[]).await;
    let call = mallory
        .engine
        .dial_phone(gateway.public_key(), "+15551234567", PrivacyMode::Fast)
        .unwrap();
    assert_eq!(
        ended_within(&mut scene.events, call).await,
        EndReason::RemotePhoneRefused(PhoneRefusal::NotEnrolled),
        "the user is told why"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !phone.log().contains("Incoming call"),
        "nothing reached the phone: {}",
        phone.log()
    );
    assert_eq!(gateway.gateway().stats().outbound_calls, 0);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_phone_behind_a_kamailio_proxy_reaches_the_user_and_a_direct_call_is_not_let_in() {
    let mut scene = scene(440.0).await;
    // The gateway takes calls from the proxy's address only.
    let gateway = service_allowing(
        scene.relay.url(),
        &scene.alice,
        None,
        &[],
        "127.0.0.2",
        30,
        "",
    )
    .await;
    let gw_sip = gateway.gateway().sip_addr("test").unwrap();
    let proxy = Kamailio::start("127.0.0.2", gw_sip);
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Straight to the gateway from another address: dropped without an answer.
    let stray = phone_dialling("127.0.0.3", gw_sip);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(gateway.gateway().stats().blocked_sources >= 1);
    assert!(!stray.log().contains("established"), "{}", stray.log());
    drop(stray);

    // Through the proxy: it rings the user, both hear each other, the hang-up goes back.
    // (The phone is on 127.0.0.1: its RTP socket is unbound, so toward the gateway the
    // kernel picks that source, and the gateway takes media only from the SDP's address.)
    let phone = phone_dialling("127.0.0.1", proxy.sip);
    let ringing = scene.answer().await;
    assert_eq!(
        ringing.phone.as_ref().and_then(PhoneLeg::shown),
        Some("+1 555 …12")
    );
    scene.both_hear(&phone, 1_000.0, " through Kamailio").await;
    assert!(
        proxy
            .log()
            .contains("proxy: new call relayed to the gateway"),
        "the call went through Kamailio: {}",
        proxy.log()
    );
    scene.alice.engine.hangup(ringing.call_id);
    phone_call_ends(&phone, "the BYE went back through the proxy").await;
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_phone_that_vanishes_without_a_bye_is_hung_up_after_the_media_timeout() {
    let mut scene = scene(440.0).await;
    let (gateway, phone, ringing) = scene
        .phone_rings_alice(|sip| phone_dialling("127.0.0.1", sip))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Killed: no BYE, its RTP just stops (a carrier that lost the line). The trunk's
    // media timeout is 3 s here.
    drop(phone);
    assert_eq!(
        ended_within(&mut scene.events, ringing.call_id).await,
        EndReason::RemoteHangup
    );
    assert_eq!(gateway.bridged_calls(), 0);
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_about_to_run_out_of_credit_hears_the_warning_and_the_phone_does_not() {
    let mut scene = scene(660.0).await;
    let alice = &scene.alice;
    let phone = Baresip::start("+15551234567", 1_400, Role::AutoAnswer, 40);
    // One minute of credit: under the rules' default 60 s warning at once.
    let gateway = service_allowing(
        scene.relay.url(),
        alice,
        Some(phone.sip),
        &[alice],
        "127.0.0.1",
        1,
        "",
    )
    .await;
    scene.alice_dials(&gateway, "+15551234567").await;
    // The warning is three 0.2 s beeps at 1 kHz, played over the phone's 1.4 kHz.
    let heard = tokio::time::timeout(Duration::from_secs(6), async {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let speaker = scene.devices.probes.speakers().pop().expect("a speaker");
            let last = speaker.recording.last(SAMPLE_RATE as usize / 5);
            if ToneCheck::detect(&last, 1_000.0).dominant {
                return;
            }
        }
    })
    .await;
    assert!(heard.is_ok(), "the user hears the low-credit beeps");
    assert!(
        !phone_hears(&phone, 1_000.0),
        "the warning is for the user only"
    );
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credit_used_before_a_restart_stays_used_after_it() {
    let mut scene = scene(660.0).await;
    let alice = &scene.alice;
    let phone = Baresip::start("+15551234567", 1_400, Role::AutoAnswer, 40);
    let state = common::tempdir::Dir::new("gateway-state");
    let keys = format!(
        "state_db = \"{}\"\n",
        state.0.join("gateway.sqlite").display()
    );
    let enrolled = [alice];
    let start = || {
        service_allowing(
            scene.relay.url(),
            alice,
            Some(phone.sip),
            &enrolled,
            "127.0.0.1",
            30,
            &keys,
        )
    };
    let gateway = start().await;
    let call = dial_connected(alice, &mut scene.events, &gateway, "+15551234567")
        .await
        .call_id;
    tokio::time::sleep(Duration::from_secs(3)).await;
    alice.engine.hangup(call);
    ended_within(&mut scene.events, call).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let left = gateway
        .gateway()
        .credit_minutes(&alice.key.to_hex())
        .unwrap();
    assert!(left < 29.96, "three seconds were charged: {left}");
    gateway.shutdown().await;

    let again = start().await;
    let after = again.gateway().credit_minutes(&alice.key.to_hex()).unwrap();
    assert!(
        (after - left).abs() < 0.001,
        "the restart gave no minutes back: {left} before, {after} after"
    );
    again.shutdown().await;
}

/// baresip with only the Opus codec, as a phone (`role`), saying `hz`.
fn opus_phone(user: &str, hz: u32, role: Role<'_>) -> Baresip {
    let options = PhoneOptions {
        opus_only: true,
        ..Default::default()
    };
    Baresip::start_with("127.0.0.1", user, hz, role, 40, &options)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_cross_an_opus_call_both_ways_between_baresip_and_the_user() {
    let mut scene = scene(440.0).await;
    let options = PhoneOptions {
        opus_only: true,
        keypad: true,
        ..Default::default()
    };
    let (gateway, phone, ringing) = scene
        .phone_rings_alice(|sip| {
            let dial = did_at(sip);
            Baresip::start_with(
                "127.0.0.1",
                "+15551234512",
                1_000,
                Role::Dial(&dial),
                40,
                &options,
            )
        })
        .await;
    assert_eq!(
        gateway.gateway().stats().opus_calls,
        1,
        "the SIP leg is Opus: {}",
        phone.log()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The user's keypad: tones in the call's audio, found by the gateway and sent to the
    // phone as RFC 4733 events beside the Opus stream.
    scene.alice.engine.send_dtmf(ringing.call_id, "5#x9");
    let keys = tokio::time::timeout(Duration::from_secs(6), async {
        while phone.keys_received().len() < 3 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(keys.is_ok(), "the phone got the keys: {}", phone.log());
    assert_eq!(
        phone.keys_received(),
        "5#9",
        "each of the user's keys once, in order (x is no key)"
    );

    // The phone's keypad: its events become tones the user hears.
    phone.press("7");
    tokio::time::sleep(Duration::from_millis(700)).await;
    phone.press("*");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        phone.log().contains("send DTMF digit: '*'"),
        "the phone sent its keys: {}",
        phone.log()
    );
    let speaker = scene.devices.probes.speakers().pop().expect("a speaker");
    let heard = speaker.recording.last(3 * SAMPLE_RATE as usize);
    let keys: String = DtmfDetector::new(SAMPLE_RATE)
        .push(&heard)
        .into_iter()
        .collect();
    assert_eq!(keys, "7*", "the user hears the phone's keys, once each");
    scene.alice.engine.hangup(ringing.call_id);
    phone_call_ends(&phone, "baresip's call ended").await;
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_opus_only_phone_calls_a_did_and_the_sip_leg_carries_opus_both_ways() {
    let mut scene = scene(440.0).await;
    let (gateway, phone, ringing) = scene
        .phone_rings_alice(|sip| opus_phone("+15551234512", 1_000, Role::Dial(&did_at(sip))))
        .await;
    assert_eq!(ringing.peer, gateway.public_key());
    assert_eq!(
        gateway.gateway().stats().opus_calls,
        1,
        "the phone offered nothing but Opus and the gateway took it"
    );
    scene.both_hear(&phone, 1_000.0, " through Opus").await;
    scene.alice.engine.hangup(ringing.call_id);
    phone_call_ends(&phone, "baresip's call ended").await;
    gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_dials_an_opus_only_phone_and_the_gateways_offer_gets_an_opus_answer() {
    let mut scene = scene(660.0).await;
    let alice = &scene.alice;
    let phone = opus_phone("+15551234567", 1_400, Role::AutoAnswer);
    let gateway = service(scene.relay.url(), alice, Some(phone.sip), &[alice]).await;
    let call = scene.alice_dials(&gateway, "+15551234567").await.call_id;
    let stats = gateway.gateway().stats();
    assert_eq!(
        (stats.outbound_calls, stats.opus_calls),
        (1, 1),
        "the phone answered the gateway's offer with Opus"
    );
    scene.both_hear(&phone, 1_400.0, " through Opus").await;
    phone.quit();
    assert_eq!(
        ended_within(&mut scene.events, call).await,
        EndReason::RemoteHangup
    );
    gateway.shutdown().await;
}
