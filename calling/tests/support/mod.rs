//! Real calls on loopback: an embedded websocket relay, real Nostr transports, real
//! webrtc-rs peer connections, synthetic devices.
#![allow(dead_code)] // each test file uses a different part

pub mod busy_camera;

use std::sync::Arc;
use std::time::Duration;

use calling::client::{self, Callers, Client, ClientSetup, SignalingWrap};
use calling::peer::NetworkConfig;
use calling::{
    CallEngine, CallEvent, CallInfo, CallState, DropReason, Dropped, EngineEvent, SyntheticDevices,
};
use media::audio::{MixReport, ToneCheck, ToneReport, SAMPLE_RATE};
use nostr_signal::{
    EmbeddedRelay, Identity, NostrTransport, NostrTransportConfig, PublicKey, RelayUrl,
};
use phantomcall_schemas::{CallId, CallType, PrivacyMode};
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
    // Every relay here is on loopback, peers' relays included.
    config.allow_local_peer_relays = true;
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
    pub wrap: Option<SignalingWrap>,
    /// What every encoded frame passes (`None`: the identity).
    pub frame_transform: Option<Arc<dyn calling::FrameTransform>>,
    /// Wraps the synthetic devices the engine gets (to watch what it asks of them).
    pub devices: Option<DevicesWrap>,
}

/// Turns the phone's synthetic devices into what the engine uses.
pub type DevicesWrap = Box<dyn FnOnce(SyntheticDevices) -> Arc<dyn calling::MediaDevices> + Send>;

impl PhoneOptions {
    pub fn tone(tone_hz: f32) -> Self {
        Self {
            tone_hz,
            ring_timeout: None,
            network: NetworkConfig::loopback(),
            wrap: None,
            frame_transform: None,
            devices: None,
        }
    }
}

/// A device of `identity` on `relay`, with every other test identity as a contact.
pub async fn phone(relay: &Relay, identity: &Identity, options: PhoneOptions) -> Phone {
    phone_with_transport(identity, options, transport_config(vec![relay.url()])).await
}

/// A transport of `identity` with `config`, connected, its DM relays published.
async fn online_transport(
    identity: &Identity,
    config: NostrTransportConfig,
) -> Arc<NostrTransport> {
    let transport = Arc::new(
        NostrTransport::connect(identity.clone(), config)
            .await
            .expect("transport connects"),
    );
    transport
        .publish_dm_relays()
        .await
        .expect("dm relays published");
    transport
}

/// A bare transport of `identity` on `relay`, without an engine: someone who sends
/// hand-made call messages.
pub async fn raw_transport(relay: &Relay, identity: &Identity) -> Arc<NostrTransport> {
    online_transport(identity, transport_config(vec![relay.url()])).await
}

/// Like [`phone`], with the transport settings given (for example a verifier that
/// remembers fewer call ids).
pub async fn phone_with_transport(
    identity: &Identity,
    options: PhoneOptions,
    transport: NostrTransportConfig,
) -> Phone {
    phone_with(identity, options, transport, |_| {}).await
}

/// Like [`phone_with_transport`], with a last change to the client's setup (for example
/// signaling over the Bluetooth LE mesh).
pub async fn phone_with(
    identity: &Identity,
    options: PhoneOptions,
    transport: NostrTransportConfig,
    customize: impl FnOnce(&mut ClientSetup),
) -> Phone {
    let mut devices = SyntheticDevices::new(options.tone_hz);
    devices.frame_transform = options.frame_transform.clone();
    let engine_devices: Arc<dyn calling::MediaDevices> = match options.devices {
        Some(wrap) => wrap(devices.clone()),
        None => Arc::new(devices.clone()),
    };
    let mut setup = ClientSetup::new(identity.clone(), transport, engine_devices, Callers::Anyone);
    setup.network = options.network;
    setup.ring_timeout = options.ring_timeout;
    setup.signaling = options.wrap;
    // Test identities call each other in any mode; the stranger floor has its own tests.
    setup.configure = Some(Box::new(client::takes_any_mode));
    customize(&mut setup);
    let Client {
        engine, transport, ..
    } = client::connect(setup).await.expect("client starts");
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

/// How long [`Phone::wait_hears`] listens to fresh audio.
const LISTEN: Duration = Duration::from_millis(500);

impl Phone {
    /// Waits for figures of `call` with the media path up for which `check` holds.
    pub async fn wait_stats(
        &mut self,
        call: CallId,
        check: impl Fn(&calling::CallStats) -> bool,
    ) -> calling::CallStats {
        let event = self
            .wait_event(Duration::from_secs(10), |e| {
                matches!(e, EngineEvent::Stats { call_id, stats } if *call_id == call && stats.media_up && check(stats))
            })
            .await;
        match event {
            EngineEvent::Stats { stats, .. } => stats,
            other => panic!("not stats: {other:?}"),
        }
    }

    /// Waits until the newest speaker has played at least [`LISTEN`] of audio since this
    /// call, in which `hz` dominates (polled; panics with the last report after 10 s).
    /// Only audio played from now on counts, so it tells that media still flows.
    pub async fn wait_hears(&self, hz: f32) -> ToneReport {
        self.wait_speaker(Duration::from_secs(10), &format!("{hz} Hz"), |samples| {
            let report = ToneCheck::detect(samples, hz);
            (report.dominant, report)
        })
        .await
    }

    /// Waits until [`LISTEN`] of fresh audio from the newest speaker carries every one of
    /// `tones` (a group call's mix) and nothing else of comparable power; panics with the
    /// last check after 20 s.
    pub async fn wait_hears_all(&self, tones: &[f32]) -> MixReport {
        self.wait_speaker(Duration::from_secs(20), &format!("{tones:?}"), |samples| {
            let report = ToneCheck::detect_mix(samples, tones);
            (report.all_present, report)
        })
        .await
    }

    /// Polls the newest speaker's latest [`LISTEN`] of audio played since this call until
    /// `check` says yes; panics with its last report after `within`.
    async fn wait_speaker<R: std::fmt::Debug>(
        &self,
        within: Duration,
        what: &str,
        check: impl Fn(&[i16]) -> (bool, R),
    ) -> R {
        let window = (SAMPLE_RATE as f32 * LISTEN.as_secs_f32()) as usize;
        let deadline = tokio::time::Instant::now() + within;
        let mut since = None;
        let mut last = None;
        loop {
            if let Some(speaker) = self.devices.probes.speakers().pop() {
                let written = speaker.recording.total_written();
                let start = *since.get_or_insert(written);
                if written >= start + window as u64 {
                    let (ok, report) = check(&speaker.recording.last(window));
                    if ok {
                        return report;
                    }
                    last = Some(report);
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what} not heard within {within:?}; last check: {last:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until none of this phone's speakers plays any more (every call's media
    /// stopped); panics after 5 s.
    pub async fn wait_speakers_stopped(&self) {
        let played = || -> Vec<u64> {
            let speakers = self.devices.probes.speakers();
            speakers
                .iter()
                .map(|s| s.recording.total_written())
                .collect()
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let before = played();
            // The playout thread writes a frame every 20 ms while it runs.
            tokio::time::sleep(Duration::from_millis(200)).await;
            if played() == before {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "a speaker still plays 5 s later"
            );
        }
    }

    /// Waits for the drop of an input about `call` for `reason`.
    pub async fn wait_dropped(&mut self, call: CallId, reason: DropReason) -> Dropped {
        let event = self
            .wait_event(Duration::from_secs(20), |e| {
                matches!(e, EngineEvent::Dropped(d) if d.call_id == Some(call) && d.reason == reason)
            })
            .await;
        let EngineEvent::Dropped(dropped) = event else {
            unreachable!("the predicate takes drops only")
        };
        dropped
    }

    /// What the engine remembers of `call` now.
    pub async fn call_info(&self, call: CallId) -> CallInfo {
        self.engine
            .calls()
            .await
            .into_iter()
            .find(|c| c.call_id == call)
            .unwrap_or_else(|| panic!("the engine knows call {call}"))
    }
}

/// `caller` hangs up `call`; `callee` sees it end as a remote hangup; both engines shut
/// down.
pub async fn hang_up_and_shut_down(caller: &Phone, callee: &mut Phone, call: CallId) {
    caller.engine.hangup(call);
    let end = callee.wait_state(Some(call), CallState::Ended).await;
    assert_eq!(
        end.reason,
        calling::Reason::Ended(calling::EndReason::RemoteHangup)
    );
    caller.engine.shutdown().await;
    callee.engine.shutdown().await;
}

/// `caller` calls `callee` (voice, Fast), `callee` accepts; returns once both are
/// connected.
pub async fn connected_call(caller: &mut Phone, callee: &mut Phone) -> CallId {
    connected(caller, callee, CallType::Voice).await
}

/// `caller` places a video call (Fast) to `callee`, who accepts with video; returns once
/// both are connected.
pub async fn connected_video_call(caller: &mut Phone, callee: &mut Phone) -> CallId {
    connected(caller, callee, CallType::Video).await
}

async fn connected(caller: &mut Phone, callee: &mut Phone, call_type: CallType) -> CallId {
    let call = caller.engine.dial(callee.key, call_type, PrivacyMode::Fast);
    callee.wait_state(Some(call), CallState::Ringing).await;
    callee.engine.accept(call, call_type == CallType::Video);
    caller.wait_state(Some(call), CallState::Connected).await;
    callee.wait_state(Some(call), CallState::Connected).await;
    call
}
