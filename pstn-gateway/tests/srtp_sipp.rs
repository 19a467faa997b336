//! SDES signalling against sipp (which sends no SRTP itself): what our answers and offers
//! say, and that `srtp = "required"` never turns into plain RTP, neither through a
//! re-INVITE nor through a trunk that answers without a key.

mod common;

use std::time::Duration;

use common::*;
use pstn_gateway::{DialError, EndReason};

const REQUIRED: &str = "srtp = \"required\"\n";

#[tokio::test]
async fn an_srtp_call_is_answered_with_our_key_and_a_plain_reinvite_is_refused() {
    let Some(bin) = sipp() else { return };
    let (gw, mut calls, addr) = gateway(GwOptions {
        trunk_extra: REQUIRED,
        ..Default::default()
    })
    .await;
    // sipp checks the answer's RTP/SAVP line and our a=crypto (same tag 5), then the 488.
    let sipp = start_sipp(
        &bin,
        "inbound_srtp_plain_reinvite.xml",
        free_port(),
        Some(addr),
        &["-s", DID],
        tempdir::Dir::new("srtp-reinvite"),
    );
    let call = next_call(&mut calls, "an INVITE").await;
    call.answer().await.unwrap();
    let mut ended = call.ended();
    tokio::time::timeout(Duration::from_secs(10), ended.wait_for(|r| r.is_some()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*ended.borrow(), Some(EndReason::RemoteHungUp));
    sipp.finish().await;
    gw.shutdown();
}

#[tokio::test]
async fn a_trunk_answering_without_a_key_is_hung_up_when_srtp_is_required() {
    let Some(bin) = sipp() else { return };
    let sipp_port = free_port();
    let trunk = format!("127.0.0.1:{sipp_port}").parse().unwrap();
    let dir = tempdir::Dir::new("srtp-plain-answer");
    write_ulaw_tone(&dir.0.join("tone.ulaw"), 600.0, 0.2);
    // The trunk answers plain RTP/AVP, then expects a BYE.
    let sipp = start_sipp(&bin, "outbound_trunk_auth.xml", sipp_port, None, &[], dir);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (gw, _calls, _) = gateway(GwOptions {
        trunk_server: Some(trunk),
        trunk_password: Some(TRUNK_PASS),
        trunk_extra: REQUIRED,
        ..Default::default()
    })
    .await;
    gw.add_credit(USER, 10);
    let err = gw.dial(USER, "test", "+15550100142").await.unwrap_err();
    assert!(matches!(err, DialError::BadAnswer(_)), "{err:?}");
    sipp.finish().await;
    assert_eq!(gw.stats().outbound_calls, 0);
    assert_eq!(gw.credit_minutes(USER), Some(10.0), "nothing charged");
    gw.shutdown();
}
