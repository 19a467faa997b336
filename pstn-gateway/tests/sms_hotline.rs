//! SMS to the messaging hotline, end to end: a provider's signed webhook reaches the
//! gateway service's real webhook endpoint, becomes a conversation in the hotline's shared
//! inbox (over a real relay), and the dispatcher's reply leaves the gateway as an SMS to
//! the provider's REST API (a loopback stand-in: the real APIs cannot be reached here).
//! The hotline never learns the phone's number, and nobody but the hotline the number
//! routes to can make the gateway text that phone.

mod sms_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use calling::client::{self, Callers, ClientSetup};
use calling::peer::NetworkConfig;
use calling::SyntheticDevices;
use hotline::ids::Npub;
use hotline::inbox::{ConversationId, InboxEvent, InboxService, InboxServiceConfig, MessageKind};
use hotline::store::Store;
use hotline::voice::wire::Control;
use nostr_signal::{EmbeddedRelay, Identity, NostrTransportConfig, RelayUrl};
use phantomcall_schemas::PrivacyMode;
use pstn_gateway::service::{GatewayService, ServiceSetup};
use pstn_gateway::GatewayConfig;
use sms_common::*;
use tokio::sync::broadcast;

const TOKEN: &str = "twilio-token-123";
const WAIT: Duration = Duration::from_secs(30);

fn transport(relay: &RelayUrl) -> NostrTransportConfig {
    let mut config = NostrTransportConfig::new(vec![relay.clone()]);
    config.reconnect_interval = Duration::from_millis(300);
    config.dm_relay_lookup_timeout = Duration::from_millis(300);
    config.allow_local_peer_relays = true;
    config
}

async fn inbox(
    relay: &EmbeddedRelay,
    hotline: &Identity,
    dispatcher: Npub,
    gateway: &Identity,
    db: &std::path::Path,
) -> InboxService {
    let mut config = InboxServiceConfig::new(vec![relay.url().clone()], vec![dispatcher]);
    config.transport = transport(relay.url());
    config.transport.verifier.freshness_window = Duration::from_secs(7 * 24 * 3600);
    config.phone_gateways = vec![Npub::from_bytes(gateway.public_key().to_bytes())];
    InboxService::start(hotline.clone(), config, Store::open(db).unwrap())
        .await
        .expect("the inbox starts")
}

/// The gateway service with `[sms]`: our number routes to the hotline; the provider's
/// API is the stand-in at `api`.
async fn gateway(
    relay: &RelayUrl,
    identity: &Identity,
    hotline: &Identity,
    api: std::net::SocketAddr,
    db: &std::path::Path,
) -> GatewayService {
    let toml = format!(
        "[[trunk]]\nname = \"test\"\nserver = \"127.0.0.1:9\"\nlisten = \"127.0.0.1:0\"\n\
         media_ip = \"127.0.0.1\"\n[trunk.dids]\n\"{OUR_NUMBER}\" = \"hotline:test\"\n\
         [service.hotlines]\ntest = \"{}\"\n\
         [sms]\nprovider = \"twilio\"\naccount_id = \"AC0123456789abcdef\"\n\
         auth_token = \"{TOKEN}\"\npublic_url = \"{PUBLIC}\"\nlisten = \"127.0.0.1:0\"\n\
         api_base_url = \"http://{api}\"\nstate_db = \"{}\"\n\
         [sms.numbers]\n\"{OUR_NUMBER}\" = \"hotline:test\"\n",
        nostr_signal::encode_npub(&hotline.public_key()),
        db.display(),
    );
    GatewayService::start(ServiceSetup {
        config: GatewayConfig::from_toml(&toml).unwrap(),
        identity: identity.clone(),
        transport: transport(relay),
        network: NetworkConfig::loopback(),
        mode: PrivacyMode::Fast,
    })
    .await
    .expect("the gateway starts")
}

/// The phone texts our number: a webhook signed as Twilio documents it.
/// A relay, the hotline's inbox with one available dispatcher, and the gateway whose SMS
/// go to it and whose replies go to `provider`'s REST stand-in (started here, so a test
/// scripts its answers first).
struct Scene {
    relay: EmbeddedRelay,
    dir: tempfile::TempDir,
    dispatcher: Npub,
    inbox: InboxService,
    events: broadcast::Receiver<InboxEvent>,
    gateway: GatewayService,
}

async fn scene(provider: &StandIn) -> Scene {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (hotline_id, gateway_id) = (Identity::generate(), Identity::generate());
    let dispatcher = Npub::from_bytes(Identity::generate().public_key().to_bytes());
    let inbox = inbox(
        &relay,
        &hotline_id,
        dispatcher,
        &gateway_id,
        &dir.path().join("h.db"),
    )
    .await;
    inbox.set_available(&dispatcher, true).unwrap();
    let events = inbox.events();
    let api = provider.start().await;
    let gateway = gateway(
        relay.url(),
        &gateway_id,
        &hotline_id,
        api,
        &dir.path().join("s.db"),
    )
    .await;
    Scene {
        relay,
        dir,
        dispatcher,
        inbox,
        events,
        gateway,
    }
}

async fn text_from_phone(gateway: &GatewayService, sid: &str, body: &str) {
    let params = twilio_inbound(sid, body);
    let signature = twilio_sign(TOKEN, &format!("{PUBLIC}/inbound"), &params);
    let (status, _) = post(
        gateway.sms_addr().expect("the webhook listens"),
        "/sms/inbound",
        &[("X-Twilio-Signature", signature)],
        encode(&params),
    )
    .await;
    assert_eq!(status, 200, "the webhook takes the message");
}

async fn next_message(events: &mut broadcast::Receiver<InboxEvent>) -> (ConversationId, Npub) {
    tokio::time::timeout(WAIT, async {
        loop {
            if let InboxEvent::SenderMessage {
                conversation,
                dispatcher: Some(dispatcher),
            } = events.recv().await.expect("inbox events")
            {
                return (conversation, dispatcher);
            }
        }
    })
    .await
    .expect("the SMS reaches the inbox")
}

async fn provider_gets(provider: &StandIn, count: usize) -> Vec<Seen> {
    let deadline = Instant::now() + WAIT;
    while provider.seen().len() < count {
        assert!(
            Instant::now() < deadline,
            "the reply never reached the provider"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    provider.seen()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_sms_becomes_an_inbox_conversation_and_the_dispatchers_reply_goes_back_as_an_sms() {
    let provider = StandIn::default();
    let Scene {
        relay: _relay,
        dir: _dir,
        dispatcher,
        inbox,
        mut events,
        gateway,
    } = scene(&provider).await;

    text_from_phone(
        &gateway,
        "SM00000000000000000000000000000001",
        "Is anyone there?",
    )
    .await;
    let (conversation, assigned) = next_message(&mut events).await;
    assert_eq!(assigned, dispatcher);
    text_from_phone(
        &gateway,
        "SM00000000000000000000000000000002",
        "I need help",
    )
    .await;
    let (again, _) = next_message(&mut events).await;
    assert_eq!(again, conversation, "one phone is one conversation");
    let view = inbox.view(&dispatcher, conversation).unwrap();
    let texts: Vec<&str> = view.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["Is anyone there?", "I need help"]);
    assert!(
        !format!("{view:?}").contains(&CALLER[2..]),
        "the hotline never sees the phone's number"
    );

    inbox
        .reply(&dispatcher, conversation, "We are here. How can we help?")
        .await
        .unwrap();
    let seen = provider_gets(&provider, 1).await;
    let form: Vec<(String, String)> = form_urlencoded::parse(seen[0].body.as_bytes())
        .into_owned()
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    assert_eq!(
        field("To"),
        CALLER,
        "the reply goes to the phone that wrote"
    );
    assert_eq!(field("From"), OUR_NUMBER, "from the number it wrote to");
    assert_eq!(field("Body"), "We are here. How can we help?");
    assert!(seen[0].path.ends_with("/Messages.json"), "{}", seen[0].path);
    // Longer than one SMS may be: refused at the inbox, nothing sent.
    let long = "x".repeat(1_601);
    assert!(inbox.reply(&dispatcher, conversation, &long).await.is_err());
    assert_eq!(provider.seen().len(), 1);

    // The phone opts out: the conversation shows it, and a reply is not sent.
    text_from_phone(&gateway, "SM00000000000000000000000000000004", "stop").await;
    next_message(&mut events).await;
    let view = inbox.view(&dispatcher, conversation).unwrap();
    assert_eq!(view.messages.last().map(|m| m.text.as_str()), Some("STOP"));
    inbox
        .reply(&dispatcher, conversation, "are you still there?")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        provider.seen().len(),
        1,
        "nothing goes to a phone that opted out"
    );
    gateway.shutdown().await;
    inbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_the_hotline_the_number_routes_to_can_make_the_gateway_text_a_phone() {
    let provider = StandIn::default();
    let Scene {
        relay,
        dir: _dir,
        dispatcher,
        inbox,
        mut events,
        gateway,
    } = scene(&provider).await;
    text_from_phone(&gateway, "SM00000000000000000000000000000003", "hello").await;
    let (conversation, _) = next_message(&mut events).await;
    // The token the hotline holds for the phone (in the stored message's id).
    let view = inbox.view(&dispatcher, conversation).unwrap();
    let MessageKind::FromSender { rumor_id } = &view.messages[0].kind else {
        panic!("a sender's message")
    };
    let token = rumor_id.rsplit(':').next().unwrap().to_owned();

    // Someone else (with control messages on, on the same relay) names the same token.
    let mut setup = ClientSetup::new(
        Identity::generate(),
        {
            let mut t = transport(relay.url());
            t.verifier.accept_controls = true;
            t
        },
        Arc::new(SyntheticDevices::new(440.0)),
        Callers::Contacts(Vec::new()),
    );
    setup.network = NetworkConfig::loopback();
    let impostor = client::connect(setup).await.unwrap();
    let forged = Control::SmsOut {
        sender: token,
        text: "send your bank code to this number".into(),
    };
    impostor
        .transport
        .hub()
        .send_control(gateway.public_key(), &forged.to_json())
        .await
        .unwrap();
    // The hotline's own reply, sent after the forgery, is the only one that arrives.
    inbox
        .reply(&dispatcher, conversation, "genuine")
        .await
        .unwrap();
    let seen = provider_gets(&provider, 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let seen_after = provider.seen();
    assert_eq!(seen_after.len(), 1, "{seen_after:?}");
    assert!(seen[0].body.contains("Body=genuine"), "{}", seen[0].body);
    impostor.engine.shutdown().await;
    gateway.shutdown().await;
    inbox.shutdown().await;
}

async fn next_undelivered(
    events: &mut broadcast::Receiver<InboxEvent>,
    conversation: ConversationId,
) {
    tokio::time::timeout(WAIT, async {
        loop {
            if let InboxEvent::Undelivered {
                conversation: c, ..
            } = events.recv().await.expect("inbox events")
            {
                assert_eq!(c, conversation);
                return;
            }
        }
    })
    .await
    .expect("the failure reaches the conversation")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reply_the_provider_refuses_or_the_carrier_cannot_deliver_is_shown_in_its_conversation() {
    let provider = StandIn::default();
    // The provider's REST API refuses the first reply (as Twilio does an unreachable
    // number); the second is accepted and later reported undelivered.
    provider.script.lock().unwrap().push_back((
        400,
        r#"{"code":21614,"message":"not a mobile number","status":400}"#.into(),
    ));
    let Scene {
        relay: _relay,
        dir: _dir,
        dispatcher,
        inbox,
        mut events,
        gateway,
    } = scene(&provider).await;
    text_from_phone(&gateway, "SM00000000000000000000000000000011", "hello?").await;
    let (conversation, _) = next_message(&mut events).await;

    inbox
        .reply(&dispatcher, conversation, "Hi, we are here")
        .await
        .unwrap();
    next_undelivered(&mut events, conversation).await;
    let view = inbox.view(&dispatcher, conversation).unwrap();
    let last = view.messages.last().unwrap();
    assert!(
        last.text
            .starts_with("SMS not delivered: provider refused the message (HTTP 400"),
        "{}",
        last.text
    );
    assert_eq!(last.kind, MessageKind::Undelivered);
    assert!(last.kind.is_internal(), "never sent to the phone");

    inbox
        .reply(&dispatcher, conversation, "Trying again")
        .await
        .unwrap();
    let seen = provider_gets(&provider, 2).await;
    assert!(seen[1].body.contains("Trying+again"), "{}", seen[1].body);
    // The stand-in named the second message SM + 32 digits ending in 2.
    let sid = format!("SM{:032}", 2);
    let params = [
        ("AccountSid", "AC0123456789abcdef"),
        ("MessageSid", sid.as_str()),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "30003"),
    ];
    let signature = twilio_sign(TOKEN, &format!("{PUBLIC}/status"), &params);
    let (status, _) = post(
        gateway.sms_addr().unwrap(),
        "/sms/status",
        &[("X-Twilio-Signature", signature)],
        encode(&params),
    )
    .await;
    assert_eq!(status, 200, "the signed report is taken");
    next_undelivered(&mut events, conversation).await;
    let view = inbox.view(&dispatcher, conversation).unwrap();
    assert_eq!(
        view.messages.last().map(|m| m.text.as_str()),
        Some("SMS not delivered: the carrier could not deliver it (error 30003)")
    );
    assert!(
        !format!("{view:?}").contains(&CALLER[2..]),
        "the reason names no number"
    );
    gateway.shutdown().await;
    inbox.shutdown().await;
}
