//! Everything slow, off the UI thread: unlocking and creating keys (scrypt), connecting to
//! relays, the call engine, and the demo peer ([`crate::demo`]). Each job runs on the tokio runtime and
//! reports through one channel that the UI drains with `try_recv` once per frame; every
//! report also asks egui to repaint, so the window wakes up for it.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use calling::client::{self, Callers, ClientSetup, DmRelayList};
use calling::peer::NetworkConfig;
use calling::{CallEngine, EngineConfig, EngineEvent, FilterChoice, MediaDevices};
use eframe::egui;
use hotline::voice::CallerAssist;
use nostr_sdk::nips::nip05::{Nip05Address, Nip05Profile};
use nostr_signal::{
    Identity, KeyFile, KeyStrength, NostrTransport, NostrTransportConfig, PublicKey, RelayUrl,
};
use phantomcall_schemas::{CallType, PrivacyMode};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::broadcast::error::RecvError;

use super::nip05::{AddressError, Nip05Resolver};
use crate::demo::DemoPeer;

/// How long shutting down may hold the window open at exit.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(3);

/// What a background job reports.
// Engine events are nearly all of what passes here (figures every second): boxing each
// would allocate per event to shrink a queue that holds a handful.
#[allow(clippy::large_enum_variant)]
pub enum Report {
    /// A key was created, imported or unlocked.
    Identity(Result<Identity, String>),
    /// Connected to the relays; the engine runs.
    Online(Online),
    /// Could not go online.
    OnlineFailed(String),
    /// Something the engine said.
    Engine(EngineEvent),
    /// The engine's calls as they are now, after the UI missed some of its events.
    CallsNow(Vec<calling::CallInfo>),
    /// The demo peer is up: its relay and its key.
    DemoReady {
        /// The embedded relay's URL.
        relay: RelayUrl,
        /// The demo contact.
        peer: PublicKey,
    },
    /// The demo peer could not start.
    DemoFailed(String),
    /// The screens and windows that can be shared, for the picker.
    ScreenTargets(calling::ScreenTargets),
    /// Relays and Bluetooth had started on Bluetooth alone; the relays answered now.
    RelaysJoined,
    /// A hotline we called said something: our place in its queue, a hand-over to one of
    /// its dispatchers, a promised call back.
    Hotline(hotline::voice::CallerEvent),
    /// A chat message that passed the verifier (from anyone: the controller shows contacts').
    Chat(nostr_signal::VerifiedChat),
    /// Sending our message `local_id` ended.
    ChatSent {
        /// Our number for the message.
        local_id: u64,
        /// Its rumor id (hex), once built.
        rumor_id: Option<String>,
        /// What became of it.
        delivery: super::messages::Delivery,
    },
    /// A NIP-05 lookup for a new contact finished.
    Nip05 {
        /// The contact being added.
        request: ContactRequest,
        /// The name looked up.
        address: String,
        /// Its key and relay hints, or why not.
        result: Result<Nip05Profile, AddressError>,
    },
}

/// A contact waiting for its NIP-05 lookup.
#[derive(Debug, Clone)]
pub struct ContactRequest {
    /// The name the user gave.
    pub name: String,
    /// Its privacy mode.
    pub mode: phantomcall_schemas::PrivacyMode,
}

/// A running engine and the transport under it.
pub struct Online {
    /// The engine.
    pub engine: CallEngine,
    /// Its signaling transport (kept to shut it down).
    pub transport: Arc<NostrTransport>,
    /// How many relays were configured.
    pub relays: usize,
    /// What the user should know about the paths (Bluetooth unavailable, relays unreachable).
    pub notice: Option<String>,
}

/// What going online needs.
pub struct Connection {
    /// Who we are.
    pub identity: Identity,
    /// Every relay to connect to (the inbox relays among them).
    pub relays: Vec<RelayUrl>,
    /// The DM inbox relays to publish as kind 10050 (empty: `relays`).
    pub inbox: Vec<RelayUrl>,
    /// SOCKS5 proxy for the relay connections.
    pub proxy: Option<std::net::SocketAddr>,
    /// Network of calls (TURN servers).
    pub network: NetworkConfig,
    /// The engine's devices.
    pub devices: Arc<dyn MediaDevices>,
    /// Who may ring: contacts, with the privacy mode the user chose for each (calls with
    /// them never go lower).
    pub contacts: Vec<(PublicKey, PrivacyMode)>,
    /// Where the ids of accepted messages are kept across restarts (replay protection).
    pub replay_file: Option<std::path::PathBuf>,
    /// Where call messages travel (relays, Bluetooth LE beside them, or alone).
    pub signaling: crate::ble::SignalingPaths,
    /// The radio instead of the system's (tests).
    pub radio: Option<Arc<dyn ble_fallback::BleLink>>,
}

/// The runtime and the report channel.
pub struct Backend {
    runtime: Option<Runtime>,
    handle: Handle,
    tx: Sender<Report>,
    rx: Receiver<Report>,
    repaint: Arc<Mutex<Option<egui::Context>>>,
    demo: Arc<Mutex<Option<DemoPeer>>>,
}

impl Backend {
    /// A backend on its own runtime (two worker threads: the UI keeps a core).
    pub fn new() -> std::io::Result<Backend> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("phantomcall-bg")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        Ok(Self::with(Some(runtime), handle))
    }

    /// A backend on an existing runtime (tests share theirs).
    pub fn on(handle: Handle) -> Backend {
        Self::with(None, handle)
    }

    fn with(runtime: Option<Runtime>, handle: Handle) -> Backend {
        let (tx, rx) = channel();
        Backend {
            runtime,
            handle,
            tx,
            rx,
            repaint: Arc::default(),
            demo: Arc::default(),
        }
    }

    /// Wakes `ctx` on every report from now on.
    pub fn set_repaint(&self, ctx: &egui::Context) {
        *self.repaint.lock().unwrap_or_else(|e| e.into_inner()) = Some(ctx.clone());
    }

    /// The next report, if one is waiting. Never blocks.
    pub fn try_recv(&self) -> Option<Report> {
        self.rx.try_recv().ok()
    }

    /// The runtime, for the engine's own calls that must run inside it.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    fn reporter(&self) -> Reporter {
        Reporter {
            tx: self.tx.clone(),
            repaint: self.repaint.clone(),
        }
    }

    /// Creates (`password` set, `import` empty), imports (`import`: nsec, hex or
    /// ncryptsec) or unlocks (`create == false`, no import) the key in `file`, off the UI
    /// thread (scrypt takes a noticeable fraction of a second).
    pub fn identity_job(&self, file: KeyFile, job: IdentityJob, strength: KeyStrength) {
        let report = self.reporter();
        self.handle.spawn_blocking(move || {
            let result = run_identity_job(&file, job, strength).map_err(|e| e.to_string());
            report.send(Report::Identity(result));
        });
    }

    /// Looks `address` up with `resolver` on a blocking thread (DNS, TLS and HTTP block),
    /// and reports [`Report::Nip05`].
    pub fn resolve_nip05(
        &self,
        resolver: Nip05Resolver,
        address: Nip05Address,
        request: ContactRequest,
    ) {
        let report = self.reporter();
        self.handle.spawn_blocking(move || {
            let result = resolver.resolve(&address);
            report.send(Report::Nip05 {
                request,
                address: address.to_string(),
                result,
            });
        });
    }

    /// Lists what `devices` can share on a blocking thread (the display server may take a
    /// moment, and a portal may ask the user), and reports [`Report::ScreenTargets`].
    pub fn list_screen_targets(&self, devices: Arc<dyn MediaDevices>) {
        let report = self.reporter();
        self.handle.spawn_blocking(move || {
            report.send(Report::ScreenTargets(devices.screen_targets()));
        });
    }

    /// Connects as `connection` says and starts the engine; reports [`Report::Online`].
    pub fn go_online(&self, connection: Connection) {
        let report = self.reporter();
        self.handle.spawn(async move {
            let c = connection;
            let count = c.relays.len();
            let mut transport = NostrTransportConfig::new(c.relays);
            transport.proxy = c.proxy;
            transport.replay_file = c.replay_file;
            // Hotlines we call speak to us in sealed control messages (queue place,
            // hand-over); the assist below acts only on those of keys we called.
            transport.verifier.accept_controls = true;
            // Messages (NIP-17) travel the same paths as calls.
            transport.verifier.accept_chats = true;
            let callers = Callers::Contacts(c.contacts.iter().map(|(key, _)| *key).collect());
            let modes = c.contacts;
            let setup = ClientSetup {
                // Calls with a contact never go below the mode the user chose for them.
                configure: Some(Box::new(move |config: &mut EngineConfig| {
                    config.contact_modes.extend(modes);
                })),
                inbox: c.inbox,
                // A relay that refuses the 10050 list still carries calls from peers that
                // know it: not fatal for the window.
                dm_relay_list: DmRelayList::BestEffort,
                network: c.network,
                ..ClientSetup::new(c.identity.clone(), transport, c.devices, callers)
            };
            let own_key = c.identity.public_key();
            let start = match crate::ble::ble_signaling_on(c.signaling, &own_key, c.radio).await {
                Ok(start) => start,
                Err(e) => {
                    report.send(Report::OnlineFailed(format!("{e:#}")));
                    return;
                }
            };
            let mut notice = start.notice;
            let setup = ClientSetup {
                ble: start.signaling,
                ..setup
            };
            let client = match client::connect(setup).await {
                Ok(c) => c,
                Err(e) => {
                    report.send(Report::OnlineFailed(format!("cannot reach a relay: {e}")));
                    return;
                }
            };
            notice = notice.or_else(|| {
                crate::ble::relays_unreachable_notice(
                    c.signaling,
                    client.transport.relay_link().is_some(),
                )
            });
            let mut joined = client.transport.relays_joined();
            if !*joined.borrow() && c.signaling == crate::ble::SignalingPaths::RelaysAndBluetooth {
                let report = report.clone();
                tokio::spawn(async move {
                    if joined.wait_for(|joined| *joined).await.is_ok() {
                        report.send(Report::RelaysJoined);
                    }
                });
            }
            if let Some(mut chats) = client.transport.hub().chats_since_start() {
                let report = report.clone();
                tokio::spawn(async move {
                    while let Some(chat) = chats.recv().await {
                        report.send(Report::Chat(chat));
                    }
                });
            }
            let mut events = client.engine.events();
            let engine = client.engine.clone();
            // A hotline hands us over to a dispatcher by a control message: the assist
            // closes the waiting line and calls the dispatcher, as a person would.
            let assist = CallerAssist::start(client.engine.clone(), &client.transport);
            let mut hotline_events = assist.events();
            let hotline_report = report.clone();
            tokio::spawn(async move {
                let _assist = assist;
                loop {
                    match hotline_events.recv().await {
                        Ok(event) => hotline_report.send(Report::Hotline(event)),
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => break,
                    }
                }
            });
            report.send(Report::Online(Online {
                engine: client.engine,
                transport: client.transport,
                relays: count,
                notice,
            }));
            loop {
                match events.recv().await {
                    Ok(event) => report.send(Report::Engine(event)),
                    // A missed event may be a call's end: ask the engine where its calls
                    // stand, so none stays on screen after it ended.
                    Err(RecvError::Lagged(n)) => {
                        tracing::debug!(n, "UI missed engine events");
                        report.send(Report::CallsNow(engine.calls().await));
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        });
    }

    /// Sends `chat` (our message `local_id`) over `transport`'s paths and reports
    /// [`Report::ChatSent`]; `names` name its receivers in a failure.
    pub fn send_chat(
        &self,
        transport: Arc<NostrTransport>,
        local_id: u64,
        chat: phantomcall_schemas::ChatMessage,
        names: Vec<String>,
    ) {
        let report = self.reporter();
        self.handle.spawn(async move {
            let bluetooth = transport
                .hub()
                .link_kinds()
                .contains(&nostr_signal::LinkKind::Ble);
            let (rumor_id, results) = match transport.hub().send_chat(&chat).await {
                Ok(results) => {
                    let rumor_id = results
                        .iter()
                        .find_map(|r| r.as_ref().ok())
                        .map(|r| r.rumor_id.to_hex());
                    let results = results
                        .into_iter()
                        .map(|r| r.map(|sent| super::messages::via_text(&sent.accepted_by)))
                        .collect();
                    (rumor_id, results)
                }
                Err(e) => (None, vec![Err(e)]),
            };
            let delivery = super::messages::delivery_of(&results, bluetooth, |i| {
                names.get(i).cloned().unwrap_or_default()
            });
            report.send(Report::ChatSent {
                local_id,
                rumor_id,
                delivery,
            });
        });
    }

    /// Starts the demo contact: an embedded relay on loopback and a second identity that
    /// answers every call with a synthetic camera (through human blackout) and a tone.
    pub fn start_demo(&self, filter: FilterChoice) {
        let report = self.reporter();
        let slot = self.demo.clone();
        self.handle.spawn(async move {
            match DemoPeer::start(filter).await {
                Ok(demo) => {
                    let ready = Report::DemoReady {
                        relay: demo.relay.url().clone(),
                        peer: demo.peer.identity.public_key(),
                    };
                    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(demo);
                    report.send(ready);
                }
                Err(e) => report.send(Report::DemoFailed(e)),
            }
        });
    }

    /// Demo: the demo contact shares its synthetic screen (a slide deck) in `call_id`.
    pub fn demo_share_screen(&self, call_id: phantomcall_schemas::CallId) {
        let demo = self.demo.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(demo) = demo.as_ref() {
            demo.share_screen(call_id);
        }
    }

    /// Demo: the demo contact writes to `user` a moment later (the Messages screen).
    pub fn demo_write(&self, user: PublicKey) {
        let transport = self
            .demo
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|d| d.peer.transport.clone());
        let Some(transport) = transport else {
            return;
        };
        self.handle.spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let chat = phantomcall_schemas::ChatMessage::new(
                vec![user.to_hex()],
                "Yes, six works. Call me then: audio is fine.",
            );
            if let Err(e) = transport.hub().send_chat(&chat).await {
                tracing::warn!(error = %e, "demo contact's message not sent");
            }
        });
    }

    /// Demo: the demo contact calls `user` (video, Fast mode).
    pub fn demo_ring(&self, user: PublicKey) {
        let engine = self
            .demo
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|d| d.peer.engine.clone());
        if let Some(engine) = engine {
            engine.dial(
                user,
                CallType::Video,
                phantomcall_schemas::PrivacyMode::Fast,
            );
        }
    }

    /// Hangs up, stops the engine and the demo peer; waits a little, never forever.
    pub fn shutdown(&mut self, online: Option<&Online>) {
        let engine = online.map(|o| (o.engine.clone(), o.transport.clone()));
        let demo = self.demo.lock().unwrap_or_else(|e| e.into_inner()).take();
        let work = async move {
            if let Some((engine, transport)) = engine {
                engine.shutdown().await;
                transport.shutdown().await;
            }
            if let Some(demo) = demo {
                demo.shutdown().await;
            }
        };
        let done = self.handle.spawn(work);
        let wait = async {
            let _ = tokio::time::timeout(SHUTDOWN_WAIT, done).await;
        };
        // Inside a test's runtime the caller is already async context: do not block it.
        if Handle::try_current().is_err() {
            self.handle.block_on(wait);
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Sends reports and wakes the UI.
#[derive(Clone)]
struct Reporter {
    tx: Sender<Report>,
    repaint: Arc<Mutex<Option<egui::Context>>>,
}

impl Reporter {
    fn send(&self, report: Report) {
        let _ = self.tx.send(report);
        if let Some(ctx) = &*self.repaint.lock().unwrap_or_else(|e| e.into_inner()) {
            ctx.request_repaint();
        }
    }
}

/// A key job.
pub enum IdentityJob {
    /// New random key, saved with this password.
    Create {
        /// The password.
        password: String,
    },
    /// Import an nsec, hex key or ncryptsec (with `secret_password` for an ncryptsec), then
    /// save it with `password`.
    Import {
        /// What the user pasted.
        secret: String,
        /// The ncryptsec's own password (empty for nsec/hex).
        secret_password: String,
        /// The password to save it with.
        password: String,
    },
    /// Decrypt the saved key.
    Unlock {
        /// The password.
        password: String,
    },
}

/// Names the job only: passwords and keys never reach a log.
impl std::fmt::Debug for IdentityJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IdentityJob::Create { .. } => "Create",
            IdentityJob::Import { .. } => "Import",
            IdentityJob::Unlock { .. } => "Unlock",
        })
    }
}

fn run_identity_job(
    file: &KeyFile,
    job: IdentityJob,
    strength: KeyStrength,
) -> anyhow::Result<Identity> {
    match job {
        IdentityJob::Create { password } => {
            let identity = Identity::generate();
            file.save(&identity, &password, strength)?;
            Ok(identity)
        }
        IdentityJob::Import {
            secret,
            secret_password,
            password,
        } => {
            let secret = secret.trim();
            let identity = if secret.starts_with("ncryptsec1") {
                Identity::from_ncryptsec(secret, &secret_password).map_err(|_| {
                    anyhow::anyhow!("cannot decrypt this ncryptsec: wrong password?")
                })?
            } else {
                Identity::from_secret(secret).map_err(|_| {
                    anyhow::anyhow!("that is not a valid nsec, hex key or ncryptsec")
                })?
            };
            file.save(&identity, &password, strength)?;
            Ok(identity)
        }
        IdentityJob::Unlock { password } => file.load(&password).map_err(|e| match e {
            nostr_signal::SignalError::WrongPassword => anyhow::anyhow!("wrong password"),
            other => other.into(),
        }),
    }
}
