//! SIP over TCP (`transport = "tcp"`): sipp in TCP mode (`-t t1`) as the carrier calling
//! in and as the trunk the gateway dials; the media (plain RTP over UDP) must flow both
//! times, which only happens if every SIP message of the call went over the connection.

mod common;

use std::time::Duration;

use common::*;
use pstn_gateway::{Direction, EndReason};

const TCP: &str = "transport = \"tcp\"\n";

fn loud_samples(pcm: &[i16]) -> Vec<i16> {
    pcm.chunks(160)
        .filter(|f| f.iter().any(|s| s.abs() > 2000))
        .flatten()
        .copied()
        .collect()
}

#[tokio::test]
async fn an_inbound_call_over_tcp_carries_a_tone_and_ends_with_the_carriers_bye() {
    let Some(bin) = sipp() else { return };
    let (gw, mut calls, addr) = gateway(GwOptions {
        inbound_auth: true,
        trunk_extra: TCP,
        ..Default::default()
    })
    .await;
    let dir = tempdir::Dir::new("tcp-in");
    write_ulaw_tone(&dir.0.join("tone.ulaw"), 1000.0, 1.0);
    write_dtmf_pcap(&dir.0.join("dtmf.pcap"), '5');
    let extra = [
        "-t",
        "t1",
        "-s",
        DID,
        "-au",
        CARRIER_USER,
        "-ap",
        CARRIER_PASS,
    ];
    let sipp = start_sipp(
        &bin,
        "inbound_auth_media.xml",
        free_port(),
        Some(addr),
        &extra,
        dir,
    );
    let mut call = next_call(&mut calls, "the INVITE arrived over TCP").await;
    assert_eq!(call.info().direction, Direction::Inbound);
    call.answer().await.unwrap();
    let loud = loud_samples(&collect(&mut call, 90).await);
    assert!(
        loud.len() >= 6400,
        "the tone arrived: {} samples",
        loud.len()
    );
    assert!(tone_share(&loud, 1000.0) > 0.9);
    let mut ended = call.ended();
    tokio::time::timeout(Duration::from_secs(5), ended.wait_for(|r| r.is_some()))
        .await
        .expect("the carrier's BYE arrived over TCP")
        .unwrap();
    assert_eq!(*ended.borrow(), Some(EndReason::RemoteHungUp));
    sipp.finish().await;
    assert_eq!(gw.stats().inbound_calls, 1);
    gw.shutdown();
}

#[tokio::test]
async fn an_outbound_call_over_tcp_answers_the_challenge_and_hangs_up() {
    let Some(bin) = sipp() else { return };
    let sipp_port = free_port();
    let trunk = format!("127.0.0.1:{sipp_port}").parse().unwrap();
    let dir = tempdir::Dir::new("tcp-out");
    write_ulaw_tone(&dir.0.join("tone.ulaw"), 600.0, 1.0);
    let sipp = start_sipp(
        &bin,
        "outbound_trunk_auth.xml",
        sipp_port,
        None,
        &["-t", "t1"],
        dir,
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (gw, _calls, _) = gateway(GwOptions {
        trunk_server: Some(trunk),
        trunk_password: Some(TRUNK_PASS),
        trunk_extra: TCP,
        ..Default::default()
    })
    .await;
    gw.add_credit(USER, 10);
    let mut call = gw
        .dial(USER, "test", "+15550100142")
        .await
        .expect("answered over TCP");
    let loud = loud_samples(&collect(&mut call, 60).await);
    assert!(
        loud.len() >= 4000,
        "the trunk's tone: {} samples",
        loud.len()
    );
    assert!(tone_share(&loud, 600.0) > 0.9);
    call.hang_up().await;
    let mut ended = call.ended();
    tokio::time::timeout(Duration::from_secs(5), ended.wait_for(|r| r.is_some()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(*ended.borrow(), Some(EndReason::HungUp));
    // sipp fails the scenario unless our BYE reached it (over its TCP socket).
    sipp.finish().await;
    assert_eq!(gw.stats().outbound_calls, 1);
    gw.shutdown();
}

#[tokio::test]
async fn a_tcp_listen_address_in_use_is_a_start_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let toml =
        format!("[[trunk]]\nname = \"t\"\nserver = \"127.0.0.1:9\"\nlisten = \"{addr}\"\n{TCP}");
    let config = pstn_gateway::GatewayConfig::from_toml(&toml).unwrap();
    let err = pstn_gateway::Gateway::start(config).await.err().unwrap();
    assert!(
        matches!(err, pstn_gateway::StartError::Listen { addr: a, .. } if a == addr),
        "{err}"
    );
}

#[tokio::test]
async fn an_invite_over_udp_from_a_tcp_trunks_carrier_is_dropped() {
    let Some(bin) = sipp() else { return };
    // 127.0.0.1 is the TCP trunk's carrier; the UDP trunk takes calls from elsewhere only.
    let toml = format!(
        "[[trunk]]\nname = \"plain\"\nserver = \"127.0.0.1:9\"\nlisten = \"127.0.0.1:0\"\n\
         inbound_allow = [\"192.0.2.1\"]\n[trunk.dids]\n\"{DID}\" = \"{TARGET}\"\n\
         [[trunk]]\nname = \"tcp\"\nserver = \"127.0.0.1:9\"\nlisten = \"127.0.0.1:0\"\n{TCP}\
         inbound_allow = [\"127.0.0.1\"]\n[trunk.dids]\n\"{DID}\" = \"{TARGET}\"\n"
    );
    let config = pstn_gateway::GatewayConfig::from_toml(&toml).unwrap();
    let (gw, mut calls) = pstn_gateway::Gateway::start(config).await.unwrap();
    let udp = gw.sip_addr("plain").unwrap();
    let _sipp = start_sipp(
        &bin,
        "inbound_reinvite.xml",
        free_port(),
        Some(udp),
        &["-s", DID],
        tempdir::Dir::new("tcp-over-udp"),
    );
    let offered = tokio::time::timeout(Duration::from_secs(2), calls.recv()).await;
    assert!(offered.is_err(), "not offered as the TCP trunk's call");
    assert!(gw.stats().blocked_sources >= 1, "dropped as a stranger");
    gw.shutdown();
}
