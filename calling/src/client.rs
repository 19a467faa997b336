//! One way to bring a client up: connect the Nostr transport, publish where we take calls
//! (kind 10050), and start a [`CallEngine`] on a fresh device id. The desktop app, the
//! command line, the demo peer, the tests and the benches all start through
//! [`connect`], so a change to start-up (a new link, a new published list) is made once.
//!
//! Headless sides (the demo contact, `listen --auto-answer`, bench sides) answer through
//! the admission policy: [`answers_everything`].

use std::sync::Arc;
use std::time::Duration;

use nostr_signal::ble_fallback::MeshNode;
use nostr_signal::{
    BlePaths, Identity, NostrTransport, NostrTransportConfig, PublicKey, RelayUrl, SignalError,
    SignalTransport,
};
use phantomcall_schemas::DeviceId;

use crate::peer::NetworkConfig;
use crate::{CallEngine, EngineConfig, EngineSetup, MediaDevices};

/// Turns the connected transport into the engine's signaling (tests decorate it).
pub type SignalingWrap = Box<dyn FnOnce(Arc<NostrTransport>) -> Arc<dyn SignalTransport> + Send>;

/// Adjusts the engine's settings after [`connect`] has applied its own (mode floors,
/// contacts' modes, messages the application answers itself).
pub type ConfigureEngine = Box<dyn FnOnce(&mut EngineConfig) + Send>;

/// What to do when the DM relay list (kind 10050) cannot be published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmRelayList {
    /// Fail the start: the command line and tests want to know at once.
    Required,
    /// Log it and go on: a relay that refuses the list still carries calls from peers
    /// that know it, so the desktop app stays online.
    BestEffort,
}

/// Who may ring this client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callers {
    /// Only these keys (more can be added with [`CallEngine::add_contact`]).
    Contacts(Vec<PublicKey>),
    /// Anyone (a listening client, a demo peer, a bench side).
    Anyone,
}

/// Everything [`connect`] needs.
pub struct ClientSetup {
    /// Who we are.
    pub identity: Identity,
    /// The relays and how to reach them (proxy, timeouts).
    pub transport: NostrTransportConfig,
    /// The DM inbox relays to publish as kind 10050; empty: the transport's relays.
    pub inbox: Vec<RelayUrl>,
    /// Whether a failed 10050 publication fails the start.
    pub dm_relay_list: DmRelayList,
    /// Sockets, STUN/TURN of calls.
    pub network: NetworkConfig,
    /// Microphone, speaker, camera, privacy filter, remote view.
    pub devices: Arc<dyn MediaDevices>,
    /// Who may ring.
    pub callers: Callers,
    /// How long an incoming call rings; `None`: the engine's default.
    pub ring_timeout: Option<Duration>,
    /// Decorates the signaling the engine uses; `None`: the transport itself.
    pub signaling: Option<SignalingWrap>,
    /// Last changes to the engine's settings; `None`: as [`connect`] made them.
    pub configure: Option<ConfigureEngine>,
    /// The Bluetooth LE mesh, beside the relays or instead of them; `None`: relays only.
    pub ble: Option<BleSignaling>,
}

/// Signaling over the Bluetooth LE mesh.
#[derive(Clone)]
pub struct BleSignaling {
    /// The running mesh node (its interests include our key).
    pub mesh: Arc<MeshNode>,
    /// Beside the relays or instead of them.
    pub paths: BlePaths,
}

impl ClientSetup {
    /// A setup on `transport` with `devices`, letting only `callers` ring: the 10050 list
    /// of the transport's relays is required, default network, no decoration.
    pub fn new(
        identity: Identity,
        transport: NostrTransportConfig,
        devices: Arc<dyn MediaDevices>,
        callers: Callers,
    ) -> Self {
        Self {
            identity,
            transport,
            inbox: Vec::new(),
            dm_relay_list: DmRelayList::Required,
            network: NetworkConfig::default(),
            devices,
            callers,
            ring_timeout: None,
            signaling: None,
            configure: None,
            ble: None,
        }
    }
}

/// Why a client did not start.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No relay could be reached (or the transport could not be built). Shown as the
    /// transport's own words, which the command line prints as they were.
    #[error(transparent)]
    Connect(SignalError),
    /// The DM relay list was required and could not be published.
    #[error(transparent)]
    DmRelayList(SignalError),
}

/// A started client: its engine and the transport under it.
pub struct Client {
    /// The engine.
    pub engine: CallEngine,
    /// The signaling transport (kept to shut it down and to send by hand).
    pub transport: Arc<NostrTransport>,
    /// This device's id.
    pub device: DeviceId,
    /// Our public key.
    pub key: PublicKey,
}

impl Client {
    /// Stops the engine (hanging up its calls), then the transport.
    pub async fn shutdown(&self) {
        self.engine.shutdown().await;
        self.transport.shutdown().await;
    }
}

/// For [`ClientSetup::configure`] of local test partners (the demo contact, test phones,
/// bench sides): calls ring in any mode, Fast included, from anyone. Never for a person's
/// client: it lowers the stranger floor of DESIGN.md section 4.
pub fn takes_any_mode(config: &mut EngineConfig) {
    config.default_mode = phantomcall_schemas::PrivacyMode::Fast;
    config.stranger_mode = phantomcall_schemas::PrivacyMode::Fast;
}

/// For [`ClientSetup::configure`] of headless sides (the demo contact, `listen
/// --auto-answer`, bench sides): every call that would ring is answered at once, with
/// video when offered ([`crate::fsm::AnswerEverything`]); the refusals and mode floors stay.
pub fn answers_everything(config: &mut EngineConfig) {
    config.admission = Arc::new(crate::fsm::AnswerEverything);
}

/// Connects, publishes the DM relay list and starts the engine.
pub async fn connect(setup: ClientSetup) -> Result<Client, ClientError> {
    let ClientSetup {
        identity,
        transport,
        inbox,
        dm_relay_list,
        network,
        devices,
        callers,
        ring_timeout,
        signaling,
        configure,
        ble,
    } = setup;
    let ble_voice = ble.as_ref().map(|ble| ble.mesh.clone());
    let transport = match ble {
        None => NostrTransport::connect(identity.clone(), transport).await,
        Some(ble) => {
            NostrTransport::connect_with_ble(identity.clone(), transport, ble.mesh, ble.paths).await
        }
    };
    let transport = Arc::new(transport.map_err(ClientError::Connect)?);
    // Published at every start, so a changed inbox list reaches peers on the next one
    // (on the mesh alone there is no relay to publish on).
    let published = match transport.relay_link() {
        Some(_) => transport.publish_dm_relay_list(&inbox).await,
        None => Ok(()),
    };
    if transport.relay_link().is_none() {
        // Relays that join later (relays + Bluetooth, none reachable at start) get our
        // inbox list then.
        let later = Arc::downgrade(&transport);
        let mut joined = transport.relays_joined();
        tokio::spawn(async move {
            if joined.wait_for(|joined| *joined).await.is_err() {
                return; // on the mesh for good
            }
            let Some(transport) = later.upgrade() else {
                return;
            };
            if let Err(e) = transport.publish_dm_relay_list(&inbox).await {
                tracing::warn!(error = %e, "DM relay list not published after the relays joined");
            }
        });
    } else if let Err(e) = published {
        match dm_relay_list {
            DmRelayList::Required => {
                transport.shutdown().await;
                return Err(ClientError::DmRelayList(e));
            }
            DmRelayList::BestEffort => tracing::warn!(error = %e, "DM relay list not published"),
        }
    }
    let device = DeviceId::new_random();
    let mut config = EngineConfig::new(identity.public_key(), device.clone());
    match callers {
        Callers::Contacts(keys) => config.contacts.extend(keys),
        Callers::Anyone => config.allow_strangers = true,
    }
    if let Some(t) = ring_timeout {
        config.ring_timeout = t;
    }
    if let Some(configure) = configure {
        configure(&mut config);
    }
    let signal: Arc<dyn SignalTransport> = match signaling {
        Some(wrap) => wrap(transport.clone()),
        None => transport.clone(),
    };
    let engine = CallEngine::start(EngineSetup {
        identity: identity.clone(),
        transport: signal,
        config,
        network,
        devices,
        ble_voice,
    });
    Ok(Client {
        engine,
        transport,
        device,
        key: identity.public_key(),
    })
}
