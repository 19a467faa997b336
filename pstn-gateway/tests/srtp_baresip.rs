//! SRTP (SDES, RFC 4568) with baresip, a phone the project did not write: baresip in
//! `srtp-mand` mode calls the gateway, and the audio must arrive both ways, which needs
//! both sides' keys to be right. Plain-RTP peers are refused when SRTP is required.
//!
//! Over UDP here: SDES over UDP exposes the key to anyone who can read the SIP, which is
//! why TLS trunks default to `srtp = "required"` and UDP/TCP to "off" (see
//! docs/decisions.md); the key exchange and the SRTP contexts are the same.

mod common;

use std::time::Duration;

use common::baresip::{Baresip, PhoneOptions, Role};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_srtp_phone_is_heard_and_hears_the_gateway_through_sdes_keys() {
    let (gw, mut calls, sip) = gateway(GwOptions {
        trunk_extra: "srtp = \"required\"\n",
        ..Default::default()
    })
    .await;
    let phone = Baresip::start_with(
        "127.0.0.1",
        "+15551234512",
        1_000,
        Role::Dial(&format!("sip:{DID}@{sip}")),
        20,
        &PhoneOptions {
            srtp: true,
            ..Default::default()
        },
    );
    let mut call = next_call_or(&mut calls, || {
        format!("baresip's SRTP offer was accepted: {}", phone.log())
    })
    .await;
    call.answer().await.unwrap();
    // Our side says 600 Hz for 3 s while we listen.
    let heard_by_gateway = talk(&mut call, 600.0).await;
    assert!(
        mostly(&heard_by_gateway[8_000..], 1_000.0),
        "the gateway decrypted baresip's 1 kHz: {}",
        phone.log()
    );
    let heard_by_phone = phone.heard();
    assert!(
        mostly(&heard_by_phone, 600.0),
        "baresip decrypted the gateway's 600 Hz ({} samples): {}",
        heard_by_phone.len(),
        phone.log()
    );
    call.hang_up().await;
    gw.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_rtp_phone_is_refused_when_srtp_is_required() {
    let (gw, mut calls, sip) = gateway(GwOptions {
        trunk_extra: "srtp = \"required\"\n",
        ..Default::default()
    })
    .await;
    let phone = Baresip::start(
        "+15551234512",
        1_000,
        Role::Dial(&format!("sip:{DID}@{sip}")),
        10,
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while gw.stats().bad_offers == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(gw.stats().bad_offers, 1, "refused (488): {}", phone.log());
    assert!(calls.try_recv().is_err(), "never offered as a plain call");
    gw.shutdown();
}
