//! SMS over SIP MESSAGE (RFC 3428) from sipp acting as the trunk: a text/plain MESSAGE
//! reaches the SMS bridge's intake like a webhook message (and STOP opts out), another
//! body type is refused with 415.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use pstn_gateway::number::E164;
use pstn_gateway::sms::{Intake, SmsEvent, SmsStore};
use pstn_gateway::{Gateway, GatewayConfig};
use tokio::sync::mpsc;

fn sms_intake(gw: &Gateway) -> (mpsc::Receiver<SmsEvent>, Arc<SmsStore>) {
    let toml = format!(
        "[sms]\nprovider = \"twilio\"\naccount_id = \"AC1\"\nauth_token = \"token-12345678\"\n\
         public_url = \"https://gw.example.org/sms\"\nlisten = \"127.0.0.1:0\"\n\
         state_db = \"unused.sqlite\"\n[sms.numbers]\n\"{DID}\" = \"{TARGET}\"\n"
    );
    let config = Arc::new(GatewayConfig::from_toml(&toml).unwrap().sms.unwrap());
    let store = Arc::new(SmsStore::open_in_memory().unwrap());
    let (tx, rx) = mpsc::channel(8);
    assert!(gw.set_sms_intake(Arc::new(Intake::new(config, store.clone(), tx))));
    (rx, store)
}

#[tokio::test]
async fn a_text_message_over_sip_reaches_the_sms_intake() {
    let Some(bin) = sipp() else { return };
    let (gw, _calls, addr) = gateway(GwOptions::default()).await;
    let (mut events, _) = sms_intake(&gw);
    let extra = ["-s", DID, "-key", "body", "Hello over SIP"];
    let sipp = start_sipp(
        &bin,
        "message_text.xml",
        free_port(),
        Some(addr),
        &extra,
        tempdir::Dir::new("message"),
    );
    sipp.finish().await;
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    match event {
        SmsEvent::Message(m) => {
            assert_eq!(m.from, E164::parse("+15550100199").unwrap());
            assert_eq!(m.to, E164::parse(DID).unwrap());
            assert_eq!(m.target, TARGET);
            assert_eq!(m.text.trim_end(), "Hello over SIP");
            assert!(m.provider_message_id.starts_with("sip-"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn stop_over_sip_opts_the_sender_out() {
    let Some(bin) = sipp() else { return };
    let (gw, _calls, addr) = gateway(GwOptions::default()).await;
    let (mut events, store) = sms_intake(&gw);
    let extra = ["-s", DID, "-key", "body", "STOP"];
    let sipp = start_sipp(
        &bin,
        "message_text.xml",
        free_port(),
        Some(addr),
        &extra,
        tempdir::Dir::new("message-stop"),
    );
    sipp.finish().await;
    let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(event, SmsEvent::OptedOut { .. }), "{event:?}");
    assert!(store
        .is_opted_out(&E164::parse("+15550100199").unwrap())
        .unwrap());
}

#[tokio::test]
async fn a_message_that_is_not_text_plain_is_refused_with_415() {
    let Some(bin) = sipp() else { return };
    let (gw, _calls, addr) = gateway(GwOptions::default()).await;
    let (mut events, _) = sms_intake(&gw);
    let sipp = start_sipp(
        &bin,
        "message_html.xml",
        free_port(),
        Some(addr),
        &["-s", DID],
        tempdir::Dir::new("message-html"),
    );
    sipp.finish().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(events.try_recv().is_err());
}
