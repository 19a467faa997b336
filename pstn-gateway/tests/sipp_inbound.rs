//! Inbound calls from sipp acting as the carrier: digest challenge, media and DTMF, and
//! the rejections (wrong digest, unknown DID, CANCEL, malformed SIP, foreign source).

mod common;

use std::time::Duration;

use common::*;
use pstn_gateway::{Direction, EndReason};

#[tokio::test]
async fn a_carrier_call_with_digest_carries_a_tone_and_a_key() {
    let Some(bin) = sipp() else { return };
    let (gw, mut calls, addr) = gateway(GwOptions {
        inbound_auth: true,
        ..Default::default()
    })
    .await;
    let dir = tempdir::Dir::new("inbound");
    write_ulaw_tone(&dir.0.join("tone.ulaw"), 1000.0, 1.0);
    write_dtmf_pcap(&dir.0.join("dtmf.pcap"), '5');
    let extra = ["-s", DID, "-au", CARRIER_USER, "-ap", CARRIER_PASS];
    let sipp = start_sipp(
        &bin,
        "inbound_auth_media.xml",
        free_port(),
        Some(addr),
        &extra,
        dir,
    );
    let mut call = next_call(&mut calls, "an INVITE").await;
    assert_eq!(call.info().direction, Direction::Inbound);
    assert_eq!(call.info().did.as_deref(), Some(DID));
    assert_eq!(call.info().target.as_deref(), Some(TARGET));
    assert_eq!(call.info().remote_number, "+15550100199");
    call.answer().await.unwrap();
    // 1.5 s of audio: the tone (1 s) inside, then the key.
    let pcm = collect(&mut call, 90).await;
    let loud: Vec<i16> = pcm
        .chunks(160)
        .filter(|f| f.iter().any(|s| s.abs() > 2000))
        .flatten()
        .copied()
        .collect();
    assert!(
        loud.len() >= 8000 * 8 / 10,
        "most of the 1 s tone arrived: {} samples",
        loud.len()
    );
    let share = tone_share(&loud, 1000.0);
    assert!(share > 0.9, "1 kHz dominates: {share}");
    assert!(tone_share(&loud, 1400.0) < 0.05);
    let key = tokio::time::timeout(Duration::from_secs(5), call.dtmf_from_phone().recv())
        .await
        .unwrap();
    assert_eq!(key, Some('5'));
    let mut ended = call.ended();
    tokio::time::timeout(Duration::from_secs(5), ended.wait_for(|r| r.is_some()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*ended.borrow(), Some(EndReason::RemoteHungUp));
    sipp.finish().await;
    assert_eq!(gw.stats().inbound_calls, 1);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), call.dtmf_from_phone().recv())
            .await
            .map_or(true, |k| k.is_none()),
        "one key only"
    );
    gw.shutdown();
}

#[tokio::test]
async fn a_wrong_carrier_digest_is_refused_with_403() {
    let Some(bin) = sipp() else { return };
    let (gw, mut calls, addr) = gateway(GwOptions {
        inbound_auth: true,
        ..Default::default()
    })
    .await;
    let extra = ["-s", DID, "-au", CARRIER_USER, "-ap", "not-the-password"];
    start_sipp(
        &bin,
        "inbound_wrong_auth.xml",
        free_port(),
        Some(addr),
        &extra,
        tempdir::Dir::new("badauth"),
    )
    .finish()
    .await;
    assert_eq!(gw.stats().auth_failures, 1);
    assert!(calls.try_recv().is_err(), "no call reached the application");
    gw.shutdown();
}

#[tokio::test]
async fn an_unknown_did_gets_404() {
    let Some(bin) = sipp() else { return };
    let (gw, mut calls, addr) = gateway(GwOptions::default()).await;
    let extra = ["-s", "+15550100999"];
    start_sipp(
        &bin,
        "inbound_unknown_did.xml",
        free_port(),
        Some(addr),
        &extra,
        tempdir::Dir::new("did"),
    )
    .finish()
    .await;
    assert_eq!(gw.stats().unknown_dids, 1);
    assert!(calls.try_recv().is_err());
    gw.shutdown();
}

#[tokio::test]
async fn a_cancel_before_answer_ends_the_call() {
    let Some(bin) = sipp() else { return };
    let (gw, mut calls, addr) = gateway(GwOptions::default()).await;
    let sipp = start_sipp(
        &bin,
        "inbound_cancel.xml",
        free_port(),
        Some(addr),
        &["-s", DID],
        tempdir::Dir::new("cancel"),
    );
    let call = next_call(&mut calls, "an INVITE").await;
    let mut ended = call.ended();
    tokio::time::timeout(Duration::from_secs(10), ended.wait_for(|r| r.is_some()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*ended.borrow(), Some(EndReason::Cancelled));
    sipp.finish().await;
    gw.shutdown();
}

#[tokio::test]
async fn a_reinvite_is_answered_with_the_same_media() {
    let Some(bin) = sipp() else { return };
    let (gw, mut calls, addr) = gateway(GwOptions::default()).await;
    let sipp = start_sipp(
        &bin,
        "inbound_reinvite.xml",
        free_port(),
        Some(addr),
        &["-s", DID],
        tempdir::Dir::new("reinvite"),
    );
    let call = next_call(&mut calls, "an INVITE").await;
    // The split form the bridge uses: media channels owned elsewhere, controls here.
    let (mut media, control) = call.into_parts();
    control.early_media().await.unwrap();
    assert_eq!(
        media.from_phone.recv().await.map(|f| f.len()),
        Some(160),
        "media before answer"
    );
    control.answer().await.unwrap();
    assert!(control.early_media().await.is_err(), "not after answer");
    assert_eq!(media.from_phone.recv().await.map(|f| f.len()), Some(160));
    let mut ended = control.ended();
    tokio::time::timeout(Duration::from_secs(10), ended.wait_for(|r| r.is_some()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*ended.borrow(), Some(EndReason::RemoteHungUp));
    sipp.finish().await;
    gw.shutdown();
}

#[tokio::test]
async fn malformed_sip_is_dropped_and_the_next_call_is_answered() {
    let Some(bin) = sipp() else { return };
    let (gw, mut calls, addr) = gateway(GwOptions::default()).await;
    let raw = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let junk: [&[u8]; 4] = [
        b"INVITE sip:+15550100101@127.0.0.1 SIP/2.0\r\nVia: garbage\r\n\r\n",
        b"\x00\x01\x02\xff\xfe not sip at all",
        b"INVITE sip:x SIP/2.0\r\nContent-Length: 99999\r\n\r\nv=0",
        b"SIP/2.0 200 OK\r\n\r\n",
    ];
    for datagram in junk {
        raw.send_to(datagram, addr).await.unwrap();
    }
    let mut buf = [0u8; 2048];
    let answered = tokio::time::timeout(Duration::from_millis(500), raw.recv_from(&mut buf)).await;
    assert!(answered.is_err(), "malformed messages get no reply");
    let sipp = start_sipp(
        &bin,
        "inbound_reinvite.xml",
        free_port(),
        Some(addr),
        &["-s", DID],
        tempdir::Dir::new("malformed"),
    );
    let call = next_call(&mut calls, "an INVITE").await;
    call.answer().await.unwrap();
    sipp.finish().await;
    gw.shutdown();
}

#[tokio::test]
async fn an_invite_from_outside_the_allow_list_is_dropped_silently() {
    let (gw, mut calls, addr) = gateway(GwOptions {
        foreign_only: true,
        ..Default::default()
    })
    .await;
    let raw = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = raw.local_addr().unwrap();
    let invite = format!(
        "INVITE sip:{DID}@{addr} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-scan1\r\n\
         From: <sip:scanner@{me}>;tag=1\r\nTo: <sip:{DID}@{addr}>\r\nCall-ID: scan-1\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:scanner@{me}>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    raw.send_to(invite.as_bytes(), addr).await.unwrap();
    let mut buf = [0u8; 2048];
    let reply = tokio::time::timeout(Duration::from_millis(800), raw.recv_from(&mut buf)).await;
    // rsipstack may send its own 100 Trying before the application sees the INVITE; the
    // point is that no final response and no call follow.
    if let Ok(Ok((n, _))) = reply {
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(
            text.starts_with("SIP/2.0 100"),
            "only a 100 Trying at most: {text}"
        );
    }
    assert_eq!(gw.stats().blocked_sources, 1);
    assert!(calls.try_recv().is_err());
    gw.shutdown();
}
