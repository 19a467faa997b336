//! A phone caller in a hotline's queue, end to end with real parts: an embedded relay,
//! the hotline's voice service, dispatchers' own clients (`DispatcherClient`), the gateway
//! service, and baresip (a SIP phone the project did not write) dialling the hotline's
//! DID. The phone hears the hotline's waiting tone, then the dispatcher; the dispatcher
//! hears the phone; a blind transfer moves the phone to another dispatcher; the hotline
//! holds no media with the caller once a dispatcher has them; a dispatcher hanging up
//! ends the SIP call, and a phone hanging up while waiting leaves the queue. A phone caller
//! who overflows hears the voicemail tone and leaves a message a dispatcher can play.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use calling::client::{self, Callers, Client, ClientSetup};
use calling::peer::NetworkConfig;
use calling::{CallState, Direction, EngineEvent, SyntheticDevices};
use common::baresip::{Baresip, Role};
use common::service::{phone_call_ends, phone_hears, user_hears};

/// Whether the dispatcher's newest speaker has `hz` in its last second (`false` before
/// any speaker exists).
fn hears(devices: &SyntheticDevices, hz: f32) -> bool {
    !devices.probes.speakers().is_empty() && user_hears(devices, hz)
}
use common::DID;
use hotline::config::HotlineConfig;
use hotline::core::Presence;
use hotline::ids::EntryId;
use hotline::store::Store;
use hotline::voice::{DispatcherClient, DispatcherEvent, VoiceEvent, VoiceService, VoiceSetup};
use media::audio::goertzel_power;
use nostr_signal::{EmbeddedRelay, Identity, NostrTransportConfig, PublicKey, RelayUrl};
use phantomcall_schemas::{PhoneLeg, PrivacyMode};
use pstn_gateway::service::{GatewayService, ServiceSetup};
use pstn_gateway::GatewayConfig;
use tokio::sync::broadcast;

const WAIT: Duration = Duration::from_secs(40);
/// The hotline's waiting tone.
const WAITING_HZ: f32 = 425.0;
/// What each side says.
const PHONE_HZ: u32 = 1_000;
const FIRST_HZ: f32 = 660.0;
const SECOND_HZ: f32 = 1_400.0;

fn transport(relay: &RelayUrl) -> NostrTransportConfig {
    let mut config = NostrTransportConfig::new(vec![relay.clone()]);
    config.reconnect_interval = Duration::from_millis(300);
    config.dm_relay_lookup_timeout = Duration::from_millis(500);
    config.allow_local_peer_relays = true;
    config.verifier.accept_controls = true;
    config
}

/// A dispatcher's machine: a person's client (contacts only) saying `hz`, with the
/// hotline's dispatcher side on it.
struct Dispatcher {
    client: Client,
    devices: SyntheticDevices,
    line: DispatcherClient,
    events: broadcast::Receiver<DispatcherEvent>,
    calls: broadcast::Receiver<EngineEvent>,
    identity: Identity,
}

impl Dispatcher {
    async fn start(relay: &RelayUrl, hotline: PublicKey, hz: f32) -> Self {
        let devices = SyntheticDevices::new(hz);
        let identity = Identity::generate();
        let mut setup = ClientSetup::new(
            identity.clone(),
            transport(relay),
            Arc::new(devices.clone()),
            Callers::Contacts(Vec::new()),
        );
        setup.network = NetworkConfig::loopback();
        setup.configure = Some(Box::new(client::takes_any_mode));
        let client = client::connect(setup).await.expect("dispatcher starts");
        let line = DispatcherClient::start(
            client.engine.clone(),
            client.transport.clone(),
            hotline,
            PrivacyMode::Fast,
        );
        let events = line.events();
        let calls = client.engine.events();
        Self {
            client,
            devices,
            line,
            events,
            calls,
            identity,
        }
    }

    async fn next(
        &mut self,
        what: &str,
        want: impl Fn(&DispatcherEvent) -> bool,
    ) -> DispatcherEvent {
        tokio::time::timeout(WAIT, async {
            loop {
                let event = self.events.recv().await.expect("dispatcher events");
                if want(&event) {
                    return event;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("never: {what}"))
    }

    async fn sign_in(&mut self) {
        self.line.set_presence(Presence::Available).await.unwrap();
        self.next("signed in", |e| {
            *e == DispatcherEvent::Presence(Presence::Available)
        })
        .await;
    }

    /// Takes the next offer; the entry and the phone call that rings (already answered
    /// by the dispatcher's client) once it is connected.
    async fn take_next_offer(&mut self) -> (EntryId, calling::CallEvent) {
        let DispatcherEvent::Offered { entry, .. } = self
            .next("an offer", |e| matches!(e, DispatcherEvent::Offered { .. }))
            .await
        else {
            unreachable!()
        };
        self.line.answer(entry).await.unwrap();
        let ringing = self.call_in(CallState::Ringing).await;
        self.next(
            "connected",
            |e| matches!(e, DispatcherEvent::Connected { entry: e, .. } if *e == entry),
        )
        .await;
        (entry, ringing)
    }

    /// The next incoming call reaching `state`.
    async fn call_in(&mut self, state: CallState) -> calling::CallEvent {
        tokio::time::timeout(WAIT, async {
            loop {
                if let EngineEvent::Call(e) = self.calls.recv().await.expect("engine events") {
                    if e.direction == Direction::Incoming && e.state == state {
                        return e;
                    }
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("an incoming call {state:?}"))
    }
}

/// The hotline, knowing `gateway` as a phone gateway (its callers are many people) and
/// otherwise with the default per-caller limits (one entry per caller at a time).
async fn hotline_service(
    relay: &RelayUrl,
    identity: &Identity,
    db: &std::path::Path,
    dispatchers: &[PublicKey],
    gateway: PublicKey,
) -> VoiceService {
    hotline_service_with(relay, identity, db, dispatchers, gateway, "").await
}

/// [`hotline_service`] with more queue rules in `extra`.
async fn hotline_service_with(
    relay: &RelayUrl,
    identity: &Identity,
    db: &std::path::Path,
    dispatchers: &[PublicKey],
    gateway: PublicKey,
    extra: &str,
) -> VoiceService {
    let mut toml = format!(
        "name = \"Test line\"\nwrap_up_secs = 1\nphone_gateways = [\"{}\"]\n{extra}\n",
        nostr_signal::encode_npub(&gateway)
    );
    for d in dispatchers {
        toml += &format!(
            "[[dispatchers]]\nnpub = \"{}\"\n",
            nostr_signal::encode_npub(d)
        );
    }
    VoiceService::start(VoiceSetup {
        config: HotlineConfig::parse(&toml).expect("hotline config"),
        identity: identity.clone(),
        transport: transport(relay),
        network: NetworkConfig::loopback(),
        mode: PrivacyMode::Fast,
        store: Store::open(db).expect("store"),
        max_lines: 10,
    })
    .await
    .expect("the hotline starts")
}

/// A gateway (as `identity`) whose DID rings the hotline `hotline` by name.
async fn gateway(relay: &RelayUrl, identity: &Identity, hotline: PublicKey) -> GatewayService {
    let toml = format!(
        "[[trunk]]\nname = \"test\"\nserver = \"127.0.0.1:9\"\nlisten = \"127.0.0.1:0\"\n\
         media_ip = \"127.0.0.1\"\ninbound_allow = [\"127.0.0.1\"]\nanswer_timeout_secs = 15\n\
         [trunk.dids]\n\"{DID}\" = \"hotline:test\"\n[rules]\nhome_country_code = \"1\"\n\
         [service.hotlines]\ntest = \"{}\"\n",
        nostr_signal::encode_npub(&hotline),
    );
    let mut transport = transport(relay);
    // The gateway turns control messages on itself when it serves a hotline.
    transport.verifier.accept_controls = false;
    GatewayService::start(ServiceSetup {
        config: GatewayConfig::from_toml(&toml).unwrap(),
        identity: identity.clone(),
        transport,
        network: NetworkConfig::loopback(),
        mode: PrivacyMode::Fast,
    })
    .await
    .expect("the gateway starts")
}

/// baresip as the phone +1 555 123 4512, saying 1 kHz, dialling the hotline's DID.
fn phone(gateway: &GatewayService) -> Baresip {
    phone_numbered(gateway, "+15551234512")
}

/// baresip as the phone `number`, saying 1 kHz, dialling the hotline's DID.
fn phone_numbered(gateway: &GatewayService, number: &str) -> Baresip {
    let sip = gateway.gateway().sip_addr("test").unwrap();
    Baresip::start(
        number,
        PHONE_HZ,
        Role::Dial(&format!("sip:{DID}@{sip}")),
        120,
    )
}

/// Whether some 0.2 s of `samples` (8 kHz) is `hz` well above the other test tones.
fn has_burst_of(samples: &[i16], hz: f32) -> bool {
    samples.chunks_exact(1_600).any(|window| {
        let wanted = goertzel_power(window, hz, 8_000);
        let others = [660.0, 880.0, 1_000.0, 1_400.0]
            .iter()
            .map(|&f| goertzel_power(window, f, 8_000))
            .fold(0.0, f64::max);
        wanted > 1e-4 && wanted > 10.0 * others
    })
}

async fn next_service_event(
    events: &mut broadcast::Receiver<VoiceEvent>,
    what: &str,
    want: impl Fn(&VoiceEvent) -> bool,
) -> VoiceEvent {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = events.recv().await.expect("hotline events");
            if want(&event) {
                return event;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("never: {what}"))
}

async fn eventually(what: &str, within: Duration, check: impl AsyncFn() -> bool) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_phone_caller_waits_with_the_tone_then_talks_to_the_dispatcher_and_is_transferred() {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let url = relay.url().clone();
    let identity = Identity::generate();
    let hotline_key = identity.public_key();
    let gateway_identity = Identity::generate();
    let mut first = Dispatcher::start(&url, hotline_key, FIRST_HZ).await;
    let mut second = Dispatcher::start(&url, hotline_key, SECOND_HZ).await;
    let dir = tempfile::tempdir().unwrap();
    let hotline = hotline_service(
        &url,
        &identity,
        &dir.path().join("hotline.db"),
        &[first.client.key, second.client.key],
        gateway_identity.public_key(),
    )
    .await;
    let mut queue = hotline.events();
    let gateway = gateway(&url, &gateway_identity, hotline_key).await;
    let phone = phone(&gateway);

    // Queued: the hotline's waiting tone reaches the phone.
    next_service_event(&mut queue, "the phone caller is queued", |e| {
        matches!(e, VoiceEvent::Queued { .. })
    })
    .await;
    assert_eq!(hotline.lines_with(&gateway.public_key()).await, 1);
    eventually(
        "the phone hears the 425 Hz waiting tone",
        WAIT,
        async || has_burst_of(&phone.heard(), WAITING_HZ),
    )
    .await;
    assert!(
        !has_burst_of(&phone.heard(), FIRST_HZ),
        "no dispatcher is heard while waiting"
    );

    // A dispatcher signs in and takes the call: it rings their own client as a phone call.
    first.sign_in().await;
    let (entry, ringing) = first.take_next_offer().await;
    assert_eq!(
        ringing.peer,
        gateway.public_key(),
        "the gateway calls for the phone"
    );
    assert_eq!(
        ringing.phone,
        PhoneLeg::phone("+1 555 …12"),
        "the dispatcher sees a phone caller, the middle of the number hidden (not end-to-end encrypted)"
    );
    next_service_event(&mut queue, "handed over", |e| {
        *e == VoiceEvent::HandedOver { entry }
    })
    .await;
    // The gateway closes the waiting line once the dispatcher's call is up (well before
    // the hotline's own 20 s grace would).
    eventually(
        "the hotline holds no line with the caller",
        Duration::from_secs(10),
        async || hotline.lines_with(&gateway.public_key()).await == 0,
    )
    .await;
    eventually("the dispatcher hears the phone", WAIT, async || {
        hears(&first.devices, PHONE_HZ as f32)
    })
    .await;
    eventually("the phone hears the dispatcher", WAIT, async || {
        phone_hears(&phone, FIRST_HZ)
    })
    .await;
    assert!(
        !phone.log().contains("terminated"),
        "the SIP call stayed up: {}",
        phone.log()
    );
    assert_eq!(gateway.bridged_calls(), 1);

    // A blind transfer: the second dispatcher's own client takes the phone caller over.
    second.sign_in().await;
    first.line.transfer(entry, second.client.key).await.unwrap();
    let taken = second.call_in(CallState::Ringing).await;
    assert_eq!(taken.phone, PhoneLeg::phone("+1 555 …12"));
    second.call_in(CallState::Connected).await;
    first.call_in(CallState::Ended).await;
    eventually("the new dispatcher hears the phone", WAIT, async || {
        hears(&second.devices, PHONE_HZ as f32)
    })
    .await;
    eventually("the phone hears the new dispatcher", WAIT, async || {
        phone_hears(&phone, SECOND_HZ)
    })
    .await;
    assert_eq!(hotline.lines_with(&gateway.public_key()).await, 0);
    assert!(
        !phone.log().contains("terminated"),
        "the SIP call stayed up: {}",
        phone.log()
    );

    // The dispatcher hangs up: the phone's call ends.
    second.client.engine.hangup(taken.call_id);
    phone_call_ends(&phone, "the SIP call ends with the dispatcher's").await;
    eventually("no call is bridged", Duration::from_secs(10), async || {
        gateway.bridged_calls() == 0
    })
    .await;
    gateway.shutdown().await;
    hotline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_phone_callers_wait_at_once_and_the_one_who_hangs_up_leaves_the_queue_the_other_is_served(
) {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let url = relay.url().clone();
    let identity = Identity::generate();
    let hotline_key = identity.public_key();
    let gateway_identity = Identity::generate();
    let mut dispatcher = Dispatcher::start(&url, hotline_key, FIRST_HZ).await;
    let dir = tempfile::tempdir().unwrap();
    let hotline = hotline_service(
        &url,
        &identity,
        &dir.path().join("hotline.db"),
        &[dispatcher.client.key],
        gateway_identity.public_key(),
    )
    .await;
    let mut queue = hotline.events();
    let gateway = gateway(&url, &gateway_identity, hotline_key).await;
    let queued = async |queue: &mut broadcast::Receiver<VoiceEvent>| match next_service_event(
        queue,
        "queued",
        |e| matches!(e, VoiceEvent::Queued { .. }),
    )
    .await
    {
        VoiceEvent::Queued { entry, .. } => entry,
        _ => unreachable!(),
    };
    // Both calls come from the gateway's key, each naming its phone: two callers at the
    // hotline, each with an id of its own (neither the gateway's), none with its number.
    let staying = phone(&gateway);
    let stays = queued(&mut queue).await;
    let leaving = phone_numbered(&gateway, "+15557654321");
    let leaves = queued(&mut queue).await;
    assert_eq!(hotline.lines_with(&gateway.public_key()).await, 2);
    let callers: Vec<String> = hotline
        .view()
        .entries
        .iter()
        .map(|e| e.caller.clone())
        .collect();
    assert_eq!(callers.len(), 2);
    assert_ne!(callers[0], callers[1], "each phone is its own caller");
    for shown in format!("{callers:?}").split(['"', ',']) {
        assert!(
            !shown.contains("555"),
            "a caller id carries a number: {callers:?}"
        );
    }
    // The first phone dialling a second time while it waits meets the per-caller limit
    // like any caller (one entry each): refused, and the queue keeps its two.
    let again = phone(&gateway);
    eventually(
        "the same phone's second call is refused",
        Duration::from_secs(20),
        async || hotline.view().stats.refused == 1,
    )
    .await;
    eventually(
        "the refused phone is hung up",
        Duration::from_secs(20),
        async || again.log().contains("session closed"),
    )
    .await;
    assert_eq!(hotline.view().entries.len(), 2);
    again.quit();
    // The second phone hangs up (baresip quits, saying BYE).
    leaving.quit();
    next_service_event(&mut queue, "the caller leaves the queue", |e| {
        *e == VoiceEvent::Left { entry: leaves }
    })
    .await;
    let waiting: Vec<EntryId> = hotline.view().entries.iter().map(|e| e.entry).collect();
    assert_eq!(
        waiting,
        vec![stays],
        "the other phone caller keeps its place"
    );
    eventually(
        "the hotline holds one line with the gateway",
        Duration::from_secs(10),
        async || hotline.lines_with(&gateway.public_key()).await == 1,
    )
    .await;
    assert!(!staying.log().contains("terminated"), "{}", staying.log());

    // The remaining phone is put through, then hangs up: the dispatcher's call ends.
    dispatcher.sign_in().await;
    let (entry, _) = dispatcher.take_next_offer().await;
    assert_eq!(entry, stays);
    staying.quit();
    dispatcher
        .next("the dispatcher's call ends with the phone's", |e| {
            *e == DispatcherEvent::CallEnded { entry }
        })
        .await;
    gateway.shutdown().await;
    hotline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_phone_caller_who_overflows_hears_the_tone_and_leaves_a_voicemail_a_dispatcher_plays() {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let url = relay.url().clone();
    let identity = Identity::generate();
    let hotline_key = identity.public_key();
    let gateway_identity = Identity::generate();
    // Enrolled, never signed in: nobody takes the call.
    let first = Dispatcher::start(&url, hotline_key, FIRST_HZ).await;
    let dir = tempfile::tempdir().unwrap();
    // The overflow for persons stays "callback": a phone cannot be called back, so its
    // caller overflows into voicemail whatever it says.
    let hotline = hotline_service_with(
        &url,
        &identity,
        &dir.path().join("hotline.db"),
        &[first.client.key],
        gateway_identity.public_key(),
        "max_wait_secs = 1\nvoicemail_max_secs = 20",
    )
    .await;
    let mut queue = hotline.events();
    let gateway = gateway(&url, &gateway_identity, hotline_key).await;
    let phone = phone(&gateway);
    next_service_event(&mut queue, "the phone caller records", |e| {
        matches!(e, VoiceEvent::Recording { .. })
    })
    .await;
    // The 1 kHz prompt reaches the phone (the hotline sends no other 1 kHz).
    let prompt = |samples: &[i16]| {
        samples.chunks_exact(1_600).any(|window| {
            let wanted = goertzel_power(window, 1_000.0, 8_000);
            let others = [425.0, 660.0, 880.0, 1_400.0]
                .iter()
                .map(|&f| goertzel_power(window, f, 8_000))
                .fold(0.0, f64::max);
            wanted > 1e-4 && wanted > 10.0 * others
        })
    };
    eventually("the phone hears the voicemail tone", WAIT, async || {
        prompt(&phone.heard())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    phone.quit();
    let VoiceEvent::VoicemailStored { id, duration, .. } =
        next_service_event(&mut queue, "the voicemail is stored", |e| {
            matches!(
                e,
                VoiceEvent::VoicemailStored { .. } | VoiceEvent::VoicemailDropped { .. }
            )
        })
        .await
    else {
        panic!("the phone caller's message was not kept");
    };
    assert!(duration >= Duration::from_secs(2), "{duration:?}");
    let voicemail = first
        .line
        .fetch_voicemail(id, &first.identity)
        .await
        .expect("the dispatcher opens the phone caller's voicemail");
    let pcm = voicemail.decode().unwrap();
    let middle = &pcm[pcm.len() / 2 - 24_000..pcm.len() / 2 + 24_000];
    assert!(
        media::audio::ToneCheck::detect(middle, PHONE_HZ as f32).dominant,
        "the phone's tone is in the message"
    );
    gateway.shutdown().await;
    hotline.shutdown().await;
}
