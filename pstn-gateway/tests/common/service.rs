//! The gateway service with a PhantomCall user on an embedded relay: the set-up shared by
//! the service tests (real engines, real webrtc-rs media on loopback).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use calling::client::{self, Callers, Client, ClientSetup};
use calling::peer::NetworkConfig;
use calling::{CallState, EndReason, EngineEvent, SyntheticDevices};
use media::audio::{goertzel_power, ToneCheck, SAMPLE_RATE};
use nostr_signal::{EmbeddedRelay, Identity, NostrTransportConfig, RelayUrl};
use phantomcall_schemas::{CallId, PrivacyMode};
use pstn_gateway::service::{GatewayService, ServiceSetup};
use pstn_gateway::GatewayConfig;
use tokio::sync::broadcast;

use super::baresip::{Baresip, Role};
use super::DID;

pub fn transport(relay: &RelayUrl) -> NostrTransportConfig {
    let mut config = NostrTransportConfig::new(vec![relay.clone()]);
    config.reconnect_interval = Duration::from_millis(300);
    config.dm_relay_lookup_timeout = Duration::from_millis(500);
    config.allow_local_peer_relays = true;
    config
}

pub async fn user(relay: &RelayUrl, devices: &SyntheticDevices) -> Client {
    let mut setup = ClientSetup::new(
        Identity::generate(),
        transport(relay),
        Arc::new(devices.clone()),
        Callers::Anyone,
    );
    setup.network = NetworkConfig::loopback();
    setup.configure = Some(Box::new(client::takes_any_mode));
    client::connect(setup).await.expect("user starts")
}

/// A gateway service whose DID rings `callee` and whose trunk is `trunk` (baresip), with
/// `enrolled` users allowed to dial out.
pub async fn service(
    relay: &RelayUrl,
    callee: &Client,
    trunk: Option<std::net::SocketAddr>,
    enrolled: &[&Client],
) -> GatewayService {
    service_allowing(relay, callee, trunk, enrolled, "127.0.0.1", 30, "").await
}

/// [`service`] that takes inbound calls only from `allow`.
pub async fn service_allowing(
    relay: &RelayUrl,
    callee: &Client,
    trunk: Option<std::net::SocketAddr>,
    enrolled: &[&Client],
    allow: &str,
    credit_minutes: u32,
    service_keys: &str,
) -> GatewayService {
    let server = trunk.map_or("127.0.0.1:9".into(), |a| a.to_string());
    let mut toml = format!(
        "[[trunk]]\nname = \"test\"\nserver = \"{server}\"\nlisten = \"127.0.0.1:0\"\n\
         media_ip = \"127.0.0.1\"\ninbound_allow = [\"{allow}\"]\nanswer_timeout_secs = 15\n\
         media_timeout_secs = 3\n\
         [trunk.dids]\n\"{DID}\" = \"{}\"\n[rules]\nhome_country_code = \"1\"\n\
         [service]\n{service_keys}[service.users]\n",
        nostr_signal::encode_npub(&callee.key),
        allow = allow,
    );
    for user in enrolled {
        toml += &format!(
            "\"{}\" = {credit_minutes}\n",
            nostr_signal::encode_npub(&user.key)
        );
    }
    GatewayService::start(ServiceSetup {
        config: GatewayConfig::from_toml(&toml).unwrap(),
        identity: Identity::generate(),
        transport: transport(relay),
        network: NetworkConfig::loopback(),
        mode: PrivacyMode::Fast,
    })
    .await
    .expect("the service starts")
}

pub async fn wait_state(
    events: &mut broadcast::Receiver<EngineEvent>,
    state: CallState,
    within: Duration,
) -> calling::CallEvent {
    tokio::time::timeout(within, async {
        loop {
            if let EngineEvent::Call(e) = events.recv().await.expect("engine events") {
                if e.state == state {
                    return e;
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{state:?} within {within:?}"))
}

pub fn user_hears(devices: &SyntheticDevices, hz: f32) -> bool {
    let speaker = devices.probes.speakers().pop().expect("a speaker");
    ToneCheck::detect(&speaker.recording.last(SAMPLE_RATE as usize), hz).dominant
}

/// Whether the last second baresip heard is `hz` rather than the other test tones.
pub fn phone_hears(phone: &Baresip, hz: f32) -> bool {
    let heard = phone.heard();
    let last = &heard[heard.len().saturating_sub(8_000)..];
    let wanted = goertzel_power(last, hz, 8_000);
    let others = [440.0, 660.0, 1_000.0, 1_400.0]
        .iter()
        .filter(|&&f| (f - hz).abs() > 50.0)
        .map(|&f| goertzel_power(last, f, 8_000))
        .fold(0.0, f64::max);
    last.len() == 8_000 && wanted > 1e-4 && wanted > 10.0 * others
}

pub async fn ended_within(
    events: &mut broadcast::Receiver<EngineEvent>,
    call: CallId,
) -> EndReason {
    let e = wait_state(events, CallState::Ended, Duration::from_secs(10)).await;
    assert_eq!(e.call_id, call);
    match e.reason {
        calling::Reason::Ended(reason) => reason,
        other => panic!("ended for {other:?}"),
    }
}

/// A relay and a user, Alice, whose devices say `hz`.
pub struct Scene {
    pub relay: EmbeddedRelay,
    pub devices: SyntheticDevices,
    pub alice: Client,
    pub events: broadcast::Receiver<EngineEvent>,
    /// The tone Alice says.
    pub hz: f32,
}

pub async fn scene(hz: f32) -> Scene {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let devices = SyntheticDevices::new(hz);
    let alice = user(relay.url(), &devices).await;
    let events = alice.engine.events();
    Scene {
        relay,
        devices,
        alice,
        events,
        hz,
    }
}

impl Scene {
    /// Waits for a call to ring, answers it and waits until it is connected.
    pub async fn answer(&mut self) -> calling::CallEvent {
        let ringing = wait_state(
            &mut self.events,
            CallState::Ringing,
            Duration::from_secs(15),
        )
        .await;
        self.alice.engine.accept(ringing.call_id, false);
        wait_state(
            &mut self.events,
            CallState::Connected,
            Duration::from_secs(15),
        )
        .await;
        ringing
    }

    /// A gateway whose DID rings Alice; `phone` (given the gateway's SIP address) dials
    /// it and Alice answers. The gateway, the phone, and the ringing event.
    pub async fn phone_rings_alice(
        &mut self,
        phone: impl FnOnce(SocketAddr) -> Baresip,
    ) -> (GatewayService, Baresip, calling::CallEvent) {
        let gateway = service(self.relay.url(), &self.alice, None, &[]).await;
        let phone = phone(gateway.gateway().sip_addr("test").unwrap());
        let ringing = self.answer().await;
        (gateway, phone, ringing)
    }

    /// Alice dials `number` through `gateway` and waits (20 s) until the phone that
    /// answers is connected: that event, checked to be her call.
    pub async fn alice_dials(
        &mut self,
        gateway: &GatewayService,
        number: &str,
    ) -> calling::CallEvent {
        dial_connected(&self.alice, &mut self.events, gateway, number).await
    }

    /// After 4 s of talk: Alice hears the phone's `phone_hz` and the phone hears her
    /// tone. `how` ends both messages (" through Opus").
    pub async fn both_hear(&self, phone: &Baresip, phone_hz: f32, how: &str) {
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(
            user_hears(&self.devices, phone_hz),
            "the user hears the phone's {phone_hz} Hz{how}"
        );
        assert!(
            phone_hears(phone, self.hz),
            "the phone hears the user's {} Hz{how}: {}",
            self.hz,
            phone.log()
        );
    }
}

/// [`Scene::alice_dials`] for a test that keeps Alice borrowed elsewhere (`events` are
/// her engine's).
pub async fn dial_connected(
    user: &Client,
    events: &mut broadcast::Receiver<EngineEvent>,
    gateway: &GatewayService,
    number: &str,
) -> calling::CallEvent {
    let call = user
        .engine
        .dial_phone(gateway.public_key(), number, PrivacyMode::Fast)
        .unwrap();
    let connected = wait_state(events, CallState::Connected, Duration::from_secs(20)).await;
    assert_eq!(connected.call_id, call);
    connected
}

/// The SIP URI of the test DID at a gateway's SIP address.
pub fn did_at(sip: SocketAddr) -> String {
    format!("sip:{DID}@{sip}")
}

/// baresip as a phone with the number +1 555 123 4512, saying 1 kHz, dialling the DID at
/// `sip`.
pub fn phone_dialling(ip: &str, sip: std::net::SocketAddr) -> Baresip {
    Baresip::start_on(ip, "+15551234512", 1_000, Role::Dial(&did_at(sip)), 30)
}

/// Waits until baresip says its call ended.
pub async fn phone_call_ends(phone: &Baresip, what: &str) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while !phone.log().contains("terminated") {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: {}", phone.log()));
}
