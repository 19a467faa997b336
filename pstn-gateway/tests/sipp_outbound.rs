//! Outbound calls to sipp acting as the trunk: the gateway answers a 401 digest
//! challenge, the call is answered, audio arrives, and the gateway hangs up with BYE.

mod common;

use std::time::Duration;

use common::*;
use pstn_gateway::{DialError, EndReason};

#[tokio::test]
async fn a_dialled_call_answers_the_trunk_challenge_and_hangs_up() {
    let Some(bin) = sipp() else { return };
    let sipp_port = free_port();
    let trunk = format!("127.0.0.1:{sipp_port}").parse().unwrap();
    let dir = tempdir::Dir::new("outbound");
    write_ulaw_tone(&dir.0.join("tone.ulaw"), 600.0, 1.0);
    let sipp = start_sipp(&bin, "outbound_trunk_auth.xml", sipp_port, None, &[], dir);
    // sipp needs a moment to bind before the INVITE is sent.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (gw, _calls, _) = gateway(GwOptions {
        trunk_server: Some(trunk),
        trunk_password: Some(TRUNK_PASS),
        ..Default::default()
    })
    .await;
    gw.add_credit(USER, 10);
    let mut call = gw.dial(USER, "test", "+1 555 010 0142").await.unwrap();
    assert_eq!(call.info().remote_number, "+15550100142");
    let pcm = collect(&mut call, 60).await;
    let loud: Vec<i16> = pcm
        .chunks(160)
        .filter(|f| f.iter().any(|s| s.abs() > 2000))
        .flatten()
        .copied()
        .collect();
    assert!(
        loud.len() >= 4000,
        "the trunk's tone arrived: {} samples",
        loud.len()
    );
    assert!(tone_share(&loud, 600.0) > 0.9);
    call.send_dtmf('7').unwrap();
    assert!(call.send_dtmf('x').is_err());
    call.hang_up().await;
    let mut ended = call.ended();
    tokio::time::timeout(Duration::from_secs(5), ended.wait_for(|r| r.is_some()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*ended.borrow(), Some(EndReason::HungUp));
    sipp.finish().await;
    assert!(
        gw.credit_minutes(USER).unwrap() < 10.0,
        "the call was charged"
    );
    assert_eq!(gw.stats().outbound_calls, 1);
    gw.shutdown();
}

#[tokio::test]
async fn a_wrong_trunk_password_is_auth_failed() {
    let Some(bin) = sipp() else { return };
    let sipp_port = free_port();
    let trunk = format!("127.0.0.1:{sipp_port}").parse().unwrap();
    let dir = tempdir::Dir::new("outbad");
    // sipp caches the scenario's audio file at start, even on the path that never plays it.
    write_ulaw_tone(&dir.0.join("tone.ulaw"), 600.0, 0.2);
    let sipp = start_sipp(&bin, "outbound_trunk_auth.xml", sipp_port, None, &[], dir);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (gw, _calls, _) = gateway(GwOptions {
        trunk_server: Some(trunk),
        trunk_password: Some("wrong-password-000"),
        ..Default::default()
    })
    .await;
    gw.add_credit(USER, 10);
    let err = gw.dial(USER, "test", "+15550100142").await.unwrap_err();
    assert_eq!(err, DialError::AuthFailed);
    sipp.finish().await;
    assert_eq!(gw.credit_minutes(USER), Some(10.0), "nothing charged");
    gw.shutdown();
}

#[tokio::test]
async fn an_unanswered_call_is_cancelled_at_the_answer_timeout() {
    let Some(bin) = sipp() else { return };
    let sipp_port = free_port();
    let trunk = format!("127.0.0.1:{sipp_port}").parse().unwrap();
    let sipp = start_sipp(
        &bin,
        "outbound_no_answer.xml",
        sipp_port,
        None,
        &[],
        tempdir::Dir::new("noanswer"),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (gw, _calls, _) = gateway(GwOptions {
        trunk_server: Some(trunk),
        answer_timeout: Some(2),
        ..Default::default()
    })
    .await;
    gw.add_credit(USER, 10);
    let started = std::time::Instant::now();
    let err = gw.dial(USER, "test", "+15550100142").await.unwrap_err();
    assert_eq!(err, DialError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(5));
    sipp.finish().await;
    assert_eq!(gw.credit_minutes(USER), Some(10.0), "ringing is free");
    gw.shutdown();
}
