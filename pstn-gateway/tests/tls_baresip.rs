//! SIP over TLS with SRTP (`transport = "tls"`, `srtp` defaulting to "required"), against
//! baresip (Debian's sipp is built without TLS): baresip calls the gateway's TLS listener,
//! and the gateway dials baresip's, verifying its certificate against the configured CA
//! (an rcgen test CA). Audio must arrive both ways, which needs SIP over TLS and the SDES
//! keys it carries to be right.

mod common;

use std::time::Duration;

use common::baresip::{Baresip, PhoneOptions, Role};
use common::tls::TestPki;
use common::*;
use pstn_gateway::{DialError, Direction};

/// Waits until baresip reports its call ended (our BYE reached it over TLS).
async fn phone_hung_up(phone: &Baresip) {
    tokio::time::timeout(Duration::from_secs(5), async {
        while !phone.log().contains("terminated") {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("baresip's call ended: {}", phone.log()));
}

fn srtp_phone(pki: &TestPki, serve_tls: bool) -> PhoneOptions {
    PhoneOptions {
        srtp: true,
        tls_ca: Some(pki.path("ca.pem")),
        tls_certificate: serve_tls.then(|| pki.path("both.pem")),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_calling_over_tls_with_srtp_hears_and_is_heard() {
    let pki = TestPki::new();
    let (gw, mut calls, sip) = gateway(GwOptions {
        trunk_keys: pki.trunk_keys(),
        ..Default::default()
    })
    .await;
    let phone = Baresip::start_with(
        "127.0.0.1",
        "+15551234512",
        1_000,
        Role::Dial(&format!("sip:{DID}@{sip};transport=tls")),
        20,
        &srtp_phone(&pki, false),
    );
    let mut call = next_call_or(&mut calls, || {
        format!("the INVITE arrived over TLS: {}", phone.log())
    })
    .await;
    assert_eq!(call.info().direction, Direction::Inbound);
    call.answer().await.unwrap();
    let heard = talk(&mut call, 600.0).await;
    assert!(
        mostly(&heard[8_000..], 1_000.0),
        "the gateway heard the phone: {}",
        phone.log()
    );
    assert!(
        mostly(&phone.heard(), 600.0),
        "the phone heard the gateway: {}",
        phone.log()
    );
    call.hang_up().await;
    phone_hung_up(&phone).await;
    gw.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_dials_a_tls_trunk_it_verifies_and_both_sides_hear() {
    let pki = TestPki::new();
    let phone = Baresip::start_with(
        "127.0.0.1",
        "+15550100142",
        1_400,
        Role::AutoAnswer,
        20,
        &srtp_phone(&pki, true),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (gw, _calls, _) = gateway(GwOptions {
        trunk_server: Some(phone.tls_addr()),
        trunk_keys: pki.trunk_keys(),
        ..Default::default()
    })
    .await;
    gw.add_credit(USER, 10);
    let mut call = gw
        .dial(USER, "test", "+15550100142")
        .await
        .unwrap_or_else(|e| panic!("answered over TLS: {e}: {}", phone.log()));
    let heard = talk(&mut call, 600.0).await;
    assert!(
        mostly(&heard[8_000..], 1_400.0),
        "the gateway heard the phone: {}",
        phone.log()
    );
    assert!(
        mostly(&phone.heard(), 600.0),
        "the phone heard the gateway: {}",
        phone.log()
    );
    call.hang_up().await;
    phone_hung_up(&phone).await;
    assert_eq!(gw.stats().outbound_calls, 1);
    gw.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_certificate_from_another_ca_is_not_trusted() {
    let trunk_pki = TestPki::new();
    let our_pki = TestPki::new();
    let phone = Baresip::start_with(
        "127.0.0.1",
        "+15550100142",
        1_400,
        Role::AutoAnswer,
        15,
        &srtp_phone(&trunk_pki, true),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (gw, _calls, _) = gateway(GwOptions {
        trunk_server: Some(phone.tls_addr()),
        trunk_keys: our_pki.trunk_keys(),
        answer_timeout: Some(3),
        ..Default::default()
    })
    .await;
    gw.add_credit(USER, 10);
    let err = gw.dial(USER, "test", "+15550100142").await.unwrap_err();
    assert!(
        matches!(err, DialError::Timeout | DialError::Internal(_)),
        "no call to an unverified trunk: {err:?}"
    );
    assert!(
        !phone.log().contains("ncoming call"),
        "nothing reached the phone: {}",
        phone.log()
    );
    assert_eq!(gw.stats().outbound_calls, 0);
    assert_eq!(gw.credit_minutes(USER), Some(10.0));
    gw.shutdown();
}

#[tokio::test]
async fn a_tls_trunk_with_a_key_that_does_not_match_its_certificate_does_not_start() {
    let pki = TestPki::new();
    let other = TestPki::new();
    let ours = pki.path("key.pem").display().to_string();
    let wrong = other.path("key.pem").display().to_string();
    let keys = pki.trunk_keys().replace(&ours, &wrong);
    let toml = format!(
        "[[trunk]]\nname = \"t\"\nserver = \"127.0.0.1:9\"\nlisten = \"127.0.0.1:0\"\n{keys}"
    );
    let config = pstn_gateway::GatewayConfig::from_toml(&toml).unwrap();
    let err = pstn_gateway::Gateway::start(config).await.err().unwrap();
    let text = err.to_string();
    assert!(
        matches!(err, pstn_gateway::StartError::Tls { .. }),
        "{text}"
    );
    let key = std::fs::read_to_string(other.path("key.pem")).unwrap();
    let body = key.lines().nth(1).unwrap();
    assert!(!text.contains(body), "the key is not in the error: {text}");
}
