//! Shared by the voice hotline tests: the service, dispatchers and callers on one real
//! embedded relay, each with its own engine and real webrtc-rs media on loopback.
#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use calling::client::{self, Callers, Client, ClientSetup};
use calling::peer::NetworkConfig;
use calling::{CallState, EngineEvent, SyntheticDevices};
use hotline::config::HotlineConfig;
use hotline::core::Presence;
use hotline::ids::EntryId;
use hotline::store::Store;
use hotline::voice::{
    CallerAssist, CallerEvent, DispatcherClient, DispatcherEvent, VoiceService, VoiceSetup,
};
use media::audio::{ToneCheck, SAMPLE_RATE};
use nostr_signal::{EmbeddedRelay, Identity, NostrTransportConfig, PublicKey, RelayUrl};
use phantomcall_schemas::{CallType, PrivacyMode};
use tokio::sync::broadcast;

pub const WAIT: Duration = Duration::from_secs(30);
/// How long a caller waits to be rung back after a restart: three of the service's tries.
pub const RING_BACK_WAIT: Duration = Duration::from_secs(3 * (12 + 5));

pub fn transport(relay: &RelayUrl) -> NostrTransportConfig {
    let mut config = NostrTransportConfig::new(vec![relay.clone()]);
    config.reconnect_interval = Duration::from_millis(300);
    config.dm_relay_lookup_timeout = Duration::from_millis(500);
    config.allow_local_peer_relays = true;
    config.verifier.accept_controls = true;
    config
}

/// A person's client: contacts only (no strangers), control messages on.
pub async fn person(relay: &RelayUrl, devices: &SyntheticDevices) -> Client {
    person_as(relay, devices, Identity::generate()).await
}

/// [`person`] with a given identity (a dispatcher who opens voicemails with their key).
pub async fn person_as(relay: &RelayUrl, devices: &SyntheticDevices, identity: Identity) -> Client {
    let mut setup = ClientSetup::new(
        identity,
        transport(relay),
        Arc::new(devices.clone()),
        Callers::Contacts(Vec::new()),
    );
    setup.network = NetworkConfig::loopback();
    setup.configure = Some(Box::new(client::takes_any_mode));
    client::connect(setup).await.expect("client starts")
}

/// `hotline.toml` text for these dispatchers.
pub fn config_text(extra: &str, dispatchers: &[PublicKey]) -> String {
    let mut toml = format!("name = \"Test line\"\n{extra}\n");
    for d in dispatchers {
        toml += &format!(
            "[[dispatchers]]\nnpub = \"{}\"\n",
            nostr_signal::encode_npub(d)
        );
    }
    toml
}

pub async fn service(relay: &RelayUrl, identity: &Identity, toml: &str, db: &Path) -> VoiceService {
    // As `phantomcall hotline serve` does (the key file's seen-ids file): a restarted
    // service knows the wraps it already took, so the relay's stored copy of a caller's
    // first offer is not taken for a new call.
    let mut transport = transport(relay);
    transport.replay_file = Some(db.with_extension("seen"));
    VoiceService::start(VoiceSetup {
        config: HotlineConfig::parse(toml).expect("config"),
        identity: identity.clone(),
        transport,
        network: NetworkConfig::loopback(),
        mode: PrivacyMode::Fast,
        store: Store::open(db).expect("store"),
        max_lines: 50,
    })
    .await
    .expect("service starts")
}

/// What one test dispatcher did, with times.
#[derive(Debug, Clone, PartialEq)]
pub enum Did {
    Offered(EntryId, Instant),
    Cancelled(EntryId, String),
    Connected(EntryId, Instant),
    Heard(EntryId, Option<f32>),
    Ended(EntryId, Instant),
}

/// A dispatcher that answers every offer (or none) and ends each call after `talk`,
/// noting which caller tone it heard.
pub struct Dispatcher {
    pub client: Client,
    pub devices: SyntheticDevices,
    pub line: Arc<DispatcherClient>,
    pub log: Arc<Mutex<Vec<Did>>>,
}

impl Dispatcher {
    pub async fn start(
        relay: &RelayUrl,
        hotline: PublicKey,
        answers: bool,
        talk: Duration,
        tones: &'static [f32],
    ) -> Self {
        let devices = SyntheticDevices::new(200.0);
        let client = person(relay, &devices).await;
        let line = Arc::new(DispatcherClient::start(
            client.engine.clone(),
            client.transport.clone(),
            hotline,
            PrivacyMode::Fast,
        ));
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut events = line.events();
        let (engine, probes, task_line, task_log) = (
            client.engine.clone(),
            devices.probes.clone(),
            line.clone(),
            log.clone(),
        );
        tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                let now = Instant::now();
                let note = |did| task_log.lock().unwrap().push(did);
                match event {
                    DispatcherEvent::Offered { entry, .. } => {
                        note(Did::Offered(entry, now));
                        if answers {
                            let _ = task_line.answer(entry).await;
                        }
                    }
                    DispatcherEvent::OfferCancelled { entry, reason } => {
                        note(Did::Cancelled(entry, reason))
                    }
                    DispatcherEvent::Connected { entry, call } => {
                        note(Did::Connected(entry, now));
                        let (engine, probes, log) =
                            (engine.clone(), probes.clone(), task_log.clone());
                        tokio::spawn(async move {
                            tokio::time::sleep(talk).await;
                            let heard = heard_tone(&probes, tones);
                            log.lock().unwrap().push(Did::Heard(entry, heard));
                            engine.hangup(call);
                        });
                    }
                    DispatcherEvent::CallEnded { entry } => note(Did::Ended(entry, now)),
                    _ => {}
                }
            }
        });
        Self {
            client,
            devices,
            line,
            log,
        }
    }

    pub async fn sign_in(&self) {
        let mut events = self.line.events();
        self.line.set_presence(Presence::Available).await.unwrap();
        tokio::time::timeout(WAIT, async {
            loop {
                if let Ok(DispatcherEvent::Presence(Presence::Available)) = events.recv().await {
                    return;
                }
            }
        })
        .await
        .expect("signed in");
    }

    pub fn log(&self) -> Vec<Did> {
        self.log.lock().unwrap().clone()
    }
}

/// Which of `tones` the last second of the newest speaker carries, if one dominates.
pub fn heard_tone(probes: &calling::Probes, tones: &[f32]) -> Option<f32> {
    let speaker = probes.speakers().pop()?;
    let last = speaker.recording.last(SAMPLE_RATE as usize);
    tones
        .iter()
        .copied()
        .find(|&hz| ToneCheck::detect(&last, hz).dominant)
}

/// A caller with its own tone and the hotline assist.
pub struct Caller {
    pub client: Client,
    pub devices: SyntheticDevices,
    pub assist: CallerAssist,
    pub events: broadcast::Receiver<CallerEvent>,
    pub calls: broadcast::Receiver<EngineEvent>,
    pub hz: f32,
}

impl Caller {
    pub async fn start(relay: &RelayUrl, hz: f32) -> Self {
        let devices = SyntheticDevices::new(hz);
        let client = person(relay, &devices).await;
        let assist = CallerAssist::start(client.engine.clone(), &client.transport);
        let events = assist.events();
        let calls = client.engine.events();
        Self {
            client,
            devices,
            assist,
            events,
            calls,
            hz,
        }
    }

    pub fn dial(&self, hotline: PublicKey) -> phantomcall_schemas::CallId {
        self.client
            .engine
            .dial(hotline, CallType::Voice, PrivacyMode::Fast)
    }

    /// The next assist event matching `want`, within [`WAIT`].
    pub async fn next(&mut self, want: impl Fn(&CallerEvent) -> bool) -> CallerEvent {
        tokio::time::timeout(WAIT, async {
            loop {
                let event = self.events.recv().await.expect("assist events");
                if want(&event) {
                    return event;
                }
            }
        })
        .await
        .expect("the hotline's message arrives")
    }

    /// Waits until the hotline has rung this caller and the call is up (after a restart),
    /// as long as the service keeps trying: a ring-back that does not connect is hung up
    /// after 12 s and tried again 5 s later (the first may meet the caller's old line still
    /// closing on a loaded machine).
    pub async fn rung_back_by(&mut self, hotline: PublicKey) {
        tokio::time::timeout(RING_BACK_WAIT, async {
            loop {
                if let Ok(EngineEvent::Call(e)) = self.calls.recv().await {
                    if e.peer == hotline
                        && e.direction == calling::Direction::Incoming
                        && e.state == CallState::Connected
                    {
                        return;
                    }
                }
            }
        })
        .await
        .expect("the hotline rings back and the line is up");
    }

    /// Waits until `call` reaches `state`.
    pub async fn until(&mut self, call: &phantomcall_schemas::CallId, state: CallState) {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Ok(EngineEvent::Call(e)) = self.calls.recv().await {
                    if &e.call_id == call && e.state == state {
                        return;
                    }
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{state:?} within {WAIT:?}"));
    }
}

/// Waits until `check` holds, polling.
pub async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn relay() -> EmbeddedRelay {
    EmbeddedRelay::start_on_loopback().await.unwrap()
}
