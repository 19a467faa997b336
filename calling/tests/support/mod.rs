//! Real calls on loopback: an embedded websocket relay, real Nostr transports, real
//! webrtc-rs peer connections, synthetic devices.
#![allow(dead_code)] // each test file uses a different part

use std::sync::Arc;
use std::time::Duration;

use calling::peer::NetworkConfig;
use calling::{
    CallEngine, CallEvent, CallState, EngineConfig, EngineEvent, EngineSetup, SyntheticDevices,
};
use nostr_signal::{
    EmbeddedRelay, Identity, NostrTransport, NostrTransportConfig, PublicKey, RelayUrl,
    SignalTransport,
};
use phantomcall_schemas::{CallId, DeviceId};
use tokio::sync::broadcast;

pub struct Relay {
    pub relay: EmbeddedRelay,
}

pub async fn relay() -> Relay {
    Relay {
        relay: EmbeddedRelay::start_on_loopback()
            .await
            .expect("relay starts"),
    }
}

impl Relay {
    pub fn url(&self) -> RelayUrl {
        self.relay.url().clone()
    }
}

pub fn transport_config(relays: Vec<RelayUrl>) -> NostrTransportConfig {
    let mut config = NostrTransportConfig::new(relays);
    config.reconnect_interval = Duration::from_millis(300);
    config.dm_relay_lookup_timeout = Duration::from_millis(500);
    config.send_timeout = Duration::from_secs(15);
    config
}

/// One device of a person: its engine, its devices' probes and an event subscription
/// taken before anything happened.
pub struct Phone {
    pub key: PublicKey,
    pub engine: CallEngine,
    pub devices: SyntheticDevices,
    pub events: broadcast::Receiver<EngineEvent>,
    pub transport: Arc<NostrTransport>,
}

pub struct PhoneOptions {
    pub tone_hz: f32,
    pub ring_timeout: Option<Duration>,
    pub network: NetworkConfig,
    /// Decorates the engine's signaling transport (for example to rewrite what it sends).
    #[allow(clippy::type_complexity)]
    pub wrap: Option<Box<dyn FnOnce(Arc<NostrTransport>) -> Arc<dyn SignalTransport>>>,
}

impl PhoneOptions {
    pub fn tone(tone_hz: f32) -> Self {
        Self {
            tone_hz,
            ring_timeout: None,
            network: NetworkConfig::loopback(),
            wrap: None,
        }
    }
}

/// A device of `identity` on `relay`, with every other test identity as a contact.
pub async fn phone(relay: &Relay, identity: &Identity, options: PhoneOptions) -> Phone {
    let transport = Arc::new(
        NostrTransport::connect(identity.clone(), transport_config(vec![relay.url()]))
            .await
            .expect("transport connects"),
    );
    transport
        .publish_dm_relays()
        .await
        .expect("dm relays published");
    let devices = SyntheticDevices::new(options.tone_hz);
    let mut config = EngineConfig::new(identity.public_key(), DeviceId::new_random());
    config.allow_strangers = true;
    if let Some(t) = options.ring_timeout {
        config.ring_timeout = t;
    }
    let signal: Arc<dyn SignalTransport> = match options.wrap {
        Some(wrap) => wrap(transport.clone()),
        None => transport.clone(),
    };
    let engine = CallEngine::start(EngineSetup {
        transport: signal,
        config,
        network: options.network,
        devices: Arc::new(devices.clone()),
    });
    let events = engine.events();
    Phone {
        key: identity.public_key(),
        engine,
        devices,
        events,
        transport,
    }
}

impl Phone {
    /// Waits for the next call event of `call` (any call when `None`) that satisfies
    /// `pred`, skipping others.
    pub async fn wait_call(
        &mut self,
        call: Option<CallId>,
        within: Duration,
        pred: impl Fn(&CallEvent) -> bool,
    ) -> CallEvent {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("no matching call event within {within:?}"))
                .expect("engine events");
            if let EngineEvent::Call(ev) = event {
                if call.is_none_or(|c| c == ev.call_id) && pred(&ev) {
                    return ev;
                }
            }
        }
    }

    pub async fn wait_state(&mut self, call: Option<CallId>, state: CallState) -> CallEvent {
        self.wait_call(call, Duration::from_secs(20), |e| e.state == state)
            .await
    }

    /// Waits for any engine event satisfying `pred`.
    pub async fn wait_event(
        &mut self,
        within: Duration,
        pred: impl Fn(&EngineEvent) -> bool,
    ) -> EngineEvent {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("no matching engine event within {within:?}"))
                .expect("engine events");
            if pred(&event) {
                return event;
            }
        }
    }
}
