//! A dispatcher's side: signs in to the hotline, hears offers, answers, and takes the
//! caller's call on its own engine when the hotline hands the caller over. The console
//! screen drives it; it never holds the hotline's key.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use calling::{CallEngine, CallState, Direction, EngineEvent};
use nostr_signal::{IncomingControls, NostrTransport, PublicKey, SignalError};
use phantomcall_schemas::CallType;
use phantomcall_schemas::{CallId, PrivacyMode};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::voicemail::{open, Voicemail, VoicemailError, VoicemailListing};
use super::voicemail_fetch::{Fetches, Missing, FETCH_TIMEOUT, RETRY_EVERY};
use super::wire::{key_of, Control};
use crate::core::{ConsoleView, DeskState, Presence};
use crate::ids::EntryId;

/// How long a presence change waits for the hotline's confirmation before it is sent again.
const PRESENCE_CONFIRM_WAIT: Duration = Duration::from_secs(5);
/// Sends of one presence change: a loaded relay can lose a control message, and a
/// dispatcher who clicked "Available" must not sit unseen by the queue.
const PRESENCE_SENDS: u32 = 5;

/// Why a presence change did not take.
#[derive(Debug, thiserror::Error)]
pub enum PresenceError {
    /// It could not be sent at all.
    #[error(transparent)]
    Send(#[from] SignalError),
    /// The hotline refused it (on a call, not enrolled, ...).
    #[error("the hotline refused: {0}")]
    Refused(String),
    /// The hotline never confirmed it.
    #[error("the hotline did not confirm the change ({0} tries, {1} s each)")]
    Unconfirmed(u32, u64),
}

/// What the console shows.
#[derive(Debug, Clone, PartialEq)]
pub enum DispatcherEvent {
    /// An entry rings for you.
    Offered {
        /// The entry.
        entry: EntryId,
        /// The opaque caller id, short form.
        caller: String,
        /// The caller's npub, only when the operator allows it.
        caller_npub: Option<String>,
        /// A repeat caller.
        repeat: bool,
        /// A callback entry: you will call them.
        callback: bool,
        /// How long it rings.
        ring: Duration,
    },
    /// An offer was withdrawn ("answered-elsewhere", "timeout", "withdrawn").
    OfferCancelled {
        /// The entry.
        entry: EntryId,
        /// Why.
        reason: String,
    },
    /// You are on a call with the caller of `entry`.
    Connected {
        /// The entry.
        entry: EntryId,
        /// Your call with them.
        call: CallId,
    },
    /// Your call of `entry` ended.
    CallEnded {
        /// The entry.
        entry: EntryId,
    },
    /// Your presence as the hotline sees it.
    Presence(Presence),
    /// The hotline refused an action of yours.
    Refused(String),
    /// The hotline's console snapshot for you (checked), and when it arrived.
    Console {
        /// The queue, the roster and the counters.
        view: Box<ConsoleView>,
        /// Your desk.
        desk: Box<DeskState>,
        /// When it arrived (its times count from then).
        at: std::time::Instant,
    },
    /// The hotline's voicemails, newest first (with each console snapshot).
    Voicemails(Vec<VoicemailListing>),
}

#[derive(Default)]
struct Calls {
    /// Callers the hotline handed to us, and their entries.
    expected: HashMap<PublicKey, EntryId>,
    /// Calls ringing before their hand-over arrived.
    ringing: HashMap<PublicKey, CallId>,
    /// Our calls with callers, by call.
    calls: HashMap<CallId, EntryId>,
    /// Entries we transferred away: their call's end is not ours to report.
    given_away: HashSet<EntryId>,
}

/// One dispatcher's connection to one hotline.
pub struct DispatcherClient {
    engine: CallEngine,
    transport: Arc<NostrTransport>,
    hotline: PublicKey,
    events: broadcast::Sender<DispatcherEvent>,
    calls: Arc<Mutex<Calls>>,
    /// Number of the newest presence change: an older one stops re-sending.
    presence_changes: AtomicU64,
    fetches: Fetches,
    task: JoinHandle<()>,
}

impl DispatcherClient {
    /// Starts listening to `hotline` on `transport` (whose verifier must accept control
    /// messages); calls with callers run on `engine` in `mode`.
    pub fn start(
        engine: CallEngine,
        transport: Arc<NostrTransport>,
        hotline: PublicKey,
        mode: PrivacyMode,
    ) -> Self {
        let (events, _) = broadcast::channel(64);
        let calls = Arc::new(Mutex::new(Calls::default()));
        let fetches = Fetches::default();
        let controls = transport.hub().incoming_controls();
        let task = tokio::spawn(run(
            Runner {
                engine: engine.clone(),
                hotline,
                mode,
                events: events.clone(),
                calls: calls.clone(),
                transport: transport.clone(),
                fetches: fetches.clone(),
            },
            engine.events(),
            controls,
        ));
        Self {
            engine,
            transport,
            hotline,
            events,
            calls,
            presence_changes: AtomicU64::new(0),
            fetches,
            task,
        }
    }

    /// What happens, from now on.
    pub fn events(&self) -> broadcast::Receiver<DispatcherEvent> {
        self.events.subscribe()
    }

    async fn send(&self, control: Control) -> Result<(), SignalError> {
        self.transport
            .hub()
            .send_control(self.hotline, &control.to_json())
            .await
            .map(drop)
    }

    /// Sign in (available), pause (busy), or sign out (away). Resolves once the hotline
    /// confirms it (every change is answered with the presence in force), sending it
    /// again while no confirmation comes; a newer change supersedes this one.
    pub async fn set_presence(&self, presence: Presence) -> Result<(), PresenceError> {
        let mine = self.presence_changes.fetch_add(1, Ordering::SeqCst) + 1;
        let mut events = self.events.subscribe();
        let mut unsent = None;
        for _ in 0..PRESENCE_SENDS {
            if self.presence_changes.load(Ordering::SeqCst) != mine {
                return Ok(());
            }
            let deadline = tokio::time::Instant::now() + PRESENCE_CONFIRM_WAIT;
            let sent = self
                .send(Control::SetPresence {
                    presence: presence.as_str().into(),
                })
                .await;
            if let Err(e) = sent {
                // No relay took it now (a relay restarting): try again in a while.
                unsent = Some(e);
                tokio::time::sleep_until(deadline).await;
                continue;
            }
            unsent = None;
            while let Ok(event) = tokio::time::timeout_at(deadline, events.recv()).await {
                match event {
                    Ok(DispatcherEvent::Presence(now)) if now == presence => return Ok(()),
                    Ok(DispatcherEvent::Refused(why)) => return Err(PresenceError::Refused(why)),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    // The client is shutting down: nothing left to confirm to.
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                }
            }
        }
        Err(match unsent {
            Some(e) => PresenceError::Send(e),
            None => PresenceError::Unconfirmed(PRESENCE_SENDS, PRESENCE_CONFIRM_WAIT.as_secs()),
        })
    }

    /// Take the offered entry.
    pub async fn answer(&self, entry: EntryId) -> Result<(), SignalError> {
        self.send(Control::Answer { entry: entry.0 }).await
    }

    /// Decline the offered entry.
    pub async fn decline(&self, entry: EntryId) -> Result<(), SignalError> {
        self.send(Control::Decline { entry: entry.0 }).await
    }

    /// Hand the caller of `entry` to the dispatcher `to` (blind: they take over).
    pub async fn transfer(&self, entry: EntryId, to: PublicKey) -> Result<(), SignalError> {
        self.lock().given_away.insert(entry);
        self.send(Control::Transfer {
            entry: entry.0,
            to: to.to_hex(),
        })
        .await
    }

    /// Hold or resume (the queue records it; muting is the console's).
    pub async fn hold(&self, entry: EntryId, on: bool) -> Result<(), SignalError> {
        self.send(Control::SetHold { entry: entry.0, on }).await
    }

    /// Ends our call of `entry` (hanging it up reports the end to the hotline; with no
    /// call of ours, the end is reported directly).
    pub async fn end(&self, entry: EntryId) -> Result<(), SignalError> {
        let call = self
            .lock()
            .calls
            .iter()
            .find_map(|(call, e)| (*e == entry).then_some(*call));
        match call {
            Some(call) => {
                self.engine.hangup(call);
                Ok(())
            }
            None => self.send(Control::End { entry: entry.0 }).await,
        }
    }

    /// Set the entry's note (internal: never sent to the caller).
    pub async fn note(&self, entry: EntryId, text: &str) -> Result<(), SignalError> {
        self.send(Control::Note {
            entry: entry.0,
            text: text.into(),
        })
        .await
    }

    /// Fetches voicemail `id` from the hotline and opens it with `identity` (this
    /// dispatcher's own key: the only one besides other enrolled dispatchers' that can).
    /// Parts lost on the way are asked for again; gives up after 40 s.
    pub async fn fetch_voicemail(
        &self,
        id: u64,
        identity: &nostr_signal::Identity,
    ) -> Result<Voicemail, VoicemailError> {
        if !self.fetches.begin(id) {
            return Err(VoicemailError::Send(
                "too many voicemails being fetched".into(),
            ));
        }
        let result = self.assemble(id).await;
        self.fetches.end(id);
        let (header, audio) = result?;
        let packets = open(
            identity.keys(),
            &header.ephemeral,
            &header.sealed_key,
            &header.nonce,
            &audio,
        )?;
        Ok(Voicemail {
            id,
            caller: header.caller,
            recorded_unix_secs: header.recorded_unix_secs,
            duration: Duration::from_millis(u64::from(header.duration_ms)),
            packets,
        })
    }

    async fn assemble(
        &self,
        id: u64,
    ) -> Result<(super::voicemail_fetch::Header, Vec<u8>), VoicemailError> {
        let started = tokio::time::Instant::now();
        let mut wanted = Vec::new();
        loop {
            self.send(Control::VoicemailFetch {
                id,
                chunks: std::mem::take(&mut wanted),
            })
            .await
            .map_err(|e| VoicemailError::Send(e.to_string()))?;
            let asked = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                match self.fetches.poll(id) {
                    Ok(done) => return Ok(done),
                    Err(Missing::Unavailable) => return Err(VoicemailError::Unavailable),
                    Err(missing) if asked.elapsed() >= RETRY_EVERY => {
                        wanted = match missing {
                            Missing::Header | Missing::Unavailable => Vec::new(),
                            Missing::Chunks(chunks) => chunks,
                        };
                        break;
                    }
                    Err(_) => {}
                }
                if started.elapsed() >= FETCH_TIMEOUT {
                    return Err(VoicemailError::Timeout);
                }
            }
        }
    }

    /// Marks voicemail `id` heard (for every dispatcher of the hotline).
    pub async fn mark_voicemail_heard(&self, id: u64) -> Result<(), SignalError> {
        self.send(Control::VoicemailHeard { id }).await
    }

    /// Deletes voicemail `id` from the hotline.
    pub async fn delete_voicemail(&self, id: u64) -> Result<(), SignalError> {
        self.send(Control::VoicemailDelete { id }).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for DispatcherClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Runner {
    engine: CallEngine,
    hotline: PublicKey,
    mode: PrivacyMode,
    events: broadcast::Sender<DispatcherEvent>,
    calls: Arc<Mutex<Calls>>,
    transport: Arc<NostrTransport>,
    fetches: Fetches,
}

async fn run(
    runner: Runner,
    mut calls: broadcast::Receiver<EngineEvent>,
    mut controls: IncomingControls,
) {
    loop {
        tokio::select! {
            event = calls.recv() => match event {
                Ok(EngineEvent::Call(event)) => runner.on_call(&event).await,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            control = controls.recv() => match control {
                Some(control) if control.sender == runner.hotline => {
                    runner.on_control(&control.content);
                }
                Some(_) => tracing::debug!("control message from another key dropped"),
                None => return,
            },
        }
    }
}

impl Runner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn emit(&self, event: DispatcherEvent) {
        let _ = self.events.send(event);
    }

    async fn on_call(&self, event: &calling::CallEvent) {
        match (event.direction, event.state) {
            (Direction::Incoming, CallState::Ringing) => {
                let mut calls = self.lock();
                match calls.expected.remove(&event.peer) {
                    Some(entry) => {
                        calls.calls.insert(event.call_id, entry);
                        self.engine.accept(event.call_id, false);
                    }
                    None => {
                        calls.ringing.insert(event.peer, event.call_id);
                    }
                }
            }
            (_, CallState::Connected) => {
                let entry = self.lock().calls.get(&event.call_id).copied();
                if let Some(entry) = entry {
                    self.emit(DispatcherEvent::Connected {
                        entry,
                        call: event.call_id,
                    });
                }
            }
            (_, CallState::Ended) => {
                let ended = {
                    let mut calls = self.lock();
                    calls.ringing.retain(|_, call| *call != event.call_id);
                    calls
                        .calls
                        .remove(&event.call_id)
                        .map(|entry| (entry, calls.given_away.remove(&entry)))
                };
                if let Some((entry, given_away)) = ended {
                    if !given_away {
                        let end = Control::End { entry: entry.0 };
                        if let Err(e) = self
                            .transport
                            .hub()
                            .send_control(self.hotline, &end.to_json())
                            .await
                        {
                            tracing::warn!(error = %e, "call end not reported to the hotline");
                        }
                    }
                    self.emit(DispatcherEvent::CallEnded { entry });
                }
            }
            _ => {}
        }
    }

    fn on_control(&self, content: &str) {
        let control = match Control::parse(content) {
            Ok(control) => control,
            Err(e) => {
                tracing::info!(error = %e, "hotline control message dropped");
                return;
            }
        };
        let caller_key = |hex: &str| {
            key_of(hex, "caller")
                .ok()
                .and_then(|n| PublicKey::from_slice(n.as_bytes()).ok())
        };
        let event = match control {
            Control::Offer {
                entry,
                caller,
                caller_npub,
                repeat,
                callback,
                ring_secs,
            } => DispatcherEvent::Offered {
                entry: EntryId(entry),
                caller,
                caller_npub,
                repeat,
                callback,
                ring: Duration::from_secs(u64::from(ring_secs)),
            },
            Control::OfferCancelled { entry, reason } => DispatcherEvent::OfferCancelled {
                entry: EntryId(entry),
                reason,
            },
            Control::ExpectCaller { entry, caller } => {
                let Some(caller) = caller_key(&caller) else {
                    return;
                };
                // Their call must ring here, though they are no contact of ours.
                self.engine.add_contact(caller);
                let mut calls = self.lock();
                match calls.ringing.remove(&caller) {
                    Some(call) => {
                        calls.calls.insert(call, EntryId(entry));
                        self.engine.accept(call, false);
                    }
                    None => {
                        calls.expected.insert(caller, EntryId(entry));
                    }
                }
                return;
            }
            Control::CallBack { entry, caller } => {
                let Some(caller) = caller_key(&caller) else {
                    return;
                };
                let call = self.engine.dial(caller, CallType::Voice, self.mode);
                self.lock().calls.insert(call, EntryId(entry));
                return;
            }
            Control::PresenceIs { presence } => match Presence::parse(&presence) {
                Some(presence) => DispatcherEvent::Presence(presence),
                None => return,
            },
            Control::Refused { reason } => DispatcherEvent::Refused(reason),
            header_or_chunk @ (Control::VoicemailHeader { .. }
            | Control::VoicemailChunk { .. }
            | Control::VoicemailUnavailable { .. }) => {
                self.fetches.take(header_or_chunk);
                return;
            }
            Control::Console(snapshot) => match snapshot.read() {
                Ok((view, desk)) => {
                    self.emit(DispatcherEvent::Voicemails(snapshot.voicemails()));
                    DispatcherEvent::Console {
                        view: Box::new(view),
                        desk: Box::new(desk),
                        at: std::time::Instant::now(),
                    }
                }
                Err(e) => {
                    tracing::info!(error = %e, "console snapshot dropped");
                    return;
                }
            },
            _ => {
                tracing::debug!("control message not meant for a dispatcher dropped");
                return;
            }
        };
        self.emit(event);
    }
}
