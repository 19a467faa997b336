//! The voice hotline on relays: a headless call engine answers every caller at once with
//! the waiting tone, the queue core decides, and control messages hand each caller to a
//! dispatcher's own client. The service never carries a conversation's media.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use calling::client::{self, Callers, ClientError, ClientSetup};
use calling::fsm::AnswerUpTo;
use calling::peer::NetworkConfig;
use calling::{CallEngine, EngineConfig};
use nostr_signal::{Identity, NostrTransport, NostrTransportConfig, PublicKey};
use phantomcall_schemas::PrivacyMode;
use tokio::sync::{broadcast, Notify};
use tokio::task::JoinHandle;

use super::driver::{self, Line};
use super::line::WaitingLine;
use crate::config::HotlineConfig;
use crate::core::ConsoleView;
use crate::core::HotlineCore;
use crate::ids::EntryId;
use crate::store::{Store, StoreError};

/// Everything [`VoiceService::start`] needs.
pub struct VoiceSetup {
    /// The queue rules and the enrolled dispatchers (`hotline.toml`).
    pub config: HotlineConfig,
    /// The hotline's own identity: callers call its npub.
    pub identity: Identity,
    /// Relays and how to reach them.
    pub transport: NostrTransportConfig,
    /// Sockets and STUN/TURN of the waiting lines.
    pub network: NetworkConfig,
    /// The privacy mode of waiting lines (and the least taken from callers).
    pub mode: PrivacyMode,
    /// The queue's SQLite store (a file: a restart keeps every caller's place).
    pub store: Store,
    /// Most waiting lines open at once: the machine's limit, not the queue's (callers
    /// past `max_queue_len` overflow into callbacks before this is reached).
    pub max_lines: usize,
}

/// Default of [`VoiceSetup::max_lines`].
pub const DEFAULT_MAX_LINES: usize = 200;

/// Why the service did not start.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No relay reachable.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// What happened, for the operator's log and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoiceEvent {
    /// A caller is on the waiting line as `entry`.
    Queued {
        /// The entry.
        entry: EntryId,
        /// 1-based place.
        position: usize,
    },
    /// `entry` was handed to a dispatcher (its waiting line is closed).
    HandedOver {
        /// The entry.
        entry: EntryId,
    },
    /// A caller left the queue before being served.
    Left {
        /// The entry.
        entry: EntryId,
    },
    /// A restored caller is being rung again after a restart.
    ReRinging {
        /// The entry.
        entry: EntryId,
    },
    /// A caller overflowed into voicemail: the prompt plays and the line records.
    Recording {
        /// The entry (already out of the queue).
        entry: EntryId,
    },
    /// A voicemail was stored (encrypted to the enrolled dispatchers).
    VoicemailStored {
        /// The entry it came from.
        entry: EntryId,
        /// The voicemail's id.
        id: u64,
        /// Its length.
        duration: Duration,
    },
    /// A voicemail line ended with nothing worth keeping (no voice, or the store is full).
    VoicemailDropped {
        /// The entry it came from.
        entry: EntryId,
    },
    /// A control message or a dispatcher's action was refused.
    Refused {
        /// Why, in words.
        reason: String,
    },
}

/// What the driver tasks share.
pub(super) struct State {
    pub(super) core: HotlineCore,
    pub(super) store: Store,
    /// Open waiting lines and restored entries by entry.
    pub(super) lines: HashMap<EntryId, Line>,
    /// Dispatchers whose app spoke to us since the start: they get console snapshots.
    pub(super) consoles: std::collections::HashSet<PublicKey>,
}

pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    pub(super) engine: CallEngine,
    pub(super) transport: Arc<NostrTransport>,
    pub(super) line: WaitingLine,
    /// The mode of waiting lines (and of re-rings).
    pub(super) mode: PrivacyMode,
    pub(super) events: broadcast::Sender<VoiceEvent>,
    /// Woken when the core's next deadline may have moved.
    pub(super) wake: Notify,
    /// Longest voicemail recorded.
    pub(super) voicemail_max: Duration,
    /// Whom voicemails are sealed to: the dispatchers enrolled now.
    pub(super) voicemail_readers: Vec<crate::ids::Npub>,
}

impl Shared {
    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running voice hotline.
pub struct VoiceService {
    shared: Arc<Shared>,
    key: PublicKey,
    tasks: Vec<JoinHandle<()>>,
}

impl VoiceService {
    /// Restores the queue from the store, connects to the relays as the hotline and starts
    /// answering. Callers who were waiting when the service stopped are rung again.
    pub async fn start(setup: VoiceSetup) -> Result<Self, VoiceError> {
        let VoiceSetup {
            config,
            identity,
            mut transport,
            network,
            mode,
            mut store,
            max_lines,
        } = setup;
        let key = store.caller_id_key()?;
        let voicemail_max = config.voicemail_max;
        let voicemail_readers = config.dispatcher_npubs();
        let snapshot = store.load()?;
        let core = config.restore_core(key, snapshot, Instant::now(), unix_ms());
        transport.verifier.accept_controls = true;
        let line = WaitingLine::default();
        let max_calls = max_lines.max(1);
        let started = client::connect(ClientSetup {
            network,
            configure: Some(Box::new(move |engine: &mut EngineConfig| {
                engine.default_mode = mode;
                engine.stranger_mode = mode;
                engine.max_live_calls = max_calls;
                engine.admission = Arc::new(AnswerUpTo { max_calls });
            })),
            ..ClientSetup::new(identity, transport, Arc::new(line.clone()), Callers::Anyone)
        })
        .await?;
        let (events, _) = broadcast::channel(256);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                core,
                store,
                lines: HashMap::new(),
                consoles: Default::default(),
            }),
            engine: started.engine.clone(),
            transport: started.transport.clone(),
            line,
            mode,
            events,
            wake: Notify::new(),
            voicemail_max,
            voicemail_readers,
        });
        let controls = started.transport.hub().incoming_controls();
        let calls = started.engine.events();
        // Outputs of the restore (re-ring, offers to whoever is free) go out first.
        driver::flush(&shared, Instant::now()).await;
        let tasks = vec![
            tokio::spawn(driver::serve_calls(shared.clone(), calls)),
            tokio::spawn(driver::serve_controls(shared.clone(), controls)),
            tokio::spawn(driver::serve_timers(shared.clone())),
            tokio::spawn(super::consoles::serve_consoles(shared.clone())),
        ];
        tracing::info!(npub = %nostr_signal::encode_npub(&started.key), "hotline voice service started");
        Ok(Self {
            shared,
            key: started.key,
            tasks,
        })
    }

    /// The hotline's public key: what callers dial.
    pub fn public_key(&self) -> PublicKey {
        self.key
    }

    /// What happens, from now on.
    pub fn events(&self) -> broadcast::Receiver<VoiceEvent> {
        self.shared.events.subscribe()
    }

    /// The queue, the roster and the counters now (the operator's statistics screen).
    pub fn view(&self) -> ConsoleView {
        self.shared.state().core.view(Instant::now())
    }

    /// The voicemails stored, newest first (no audio: what a console lists).
    pub fn voicemails(&self) -> Result<Vec<crate::store::VoicemailRow>, StoreError> {
        self.shared
            .state()
            .store
            .voicemails(crate::store::MAX_STORED_VOICEMAILS)
    }

    /// Calls (peer connections) the service holds with `caller` right now: a waiting
    /// line, or nothing once the caller is with a dispatcher.
    pub async fn lines_with(&self, caller: &PublicKey) -> usize {
        let calls = self.shared.engine.calls().await;
        calls
            .iter()
            .filter(|c| c.peer == *caller && c.state != calling::CallState::Ended)
            .count()
    }

    /// Stops answering; the queue stays in the store for the next start.
    pub async fn shutdown(self) {
        for task in &self.tasks {
            task.abort();
        }
        {
            let mut state = self.shared.state();
            let State { core, store, .. } = &mut *state;
            if let Err(e) = store.write_through(core) {
                tracing::error!(error = %e, "hotline queue not saved at shutdown");
            }
        }
        self.shared.engine.shutdown().await;
        self.shared.transport.shutdown().await;
    }
}

/// Wall-clock milliseconds (the store's time base).
pub(super) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// How long a handed-over waiting line stays open after the transfer message went out:
/// the caller's client closes it as soon as the dispatcher's call connects; this only
/// ends lines of clients that never do.
pub(super) const HANDOVER_GRACE: Duration = Duration::from_secs(20);
