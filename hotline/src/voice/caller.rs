//! A caller's side of a hotline call: shows the queue position the hotline sends, and
//! follows the hotline's hand-over by closing the waiting line and calling the dispatcher
//! it names. Nothing here acts on a message from a key the user did not call.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use calling::{CallEngine, CallState, Direction, EngineEvent};
use nostr_signal::{IncomingControls, NostrTransport, PublicKey};
use phantomcall_schemas::CallType;
use phantomcall_schemas::{CallId, PrivacyMode};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::wire::{key_of, Control};

/// How long after calling a key its control messages are still taken (a long queue).
const SESSION_TTL: Duration = Duration::from_secs(2 * 3600);
/// Most remembered sessions of a person: a bound, not a limit anyone reaches.
const MAX_SESSIONS: usize = 64;
/// Most followed calls of a bridge (its sessions end with their calls).
const MAX_BRIDGED_SESSIONS: usize = 4096;

/// What the caller's screen shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerEvent {
    /// Your place in the hotline's queue.
    Position {
        /// The hotline.
        hotline: PublicKey,
        /// 1-based place.
        position: u32,
        /// Estimated wait, when the hotline can tell.
        wait: Option<Duration>,
    },
    /// The hotline handed you to one of its dispatchers: `call` is your call to them.
    HandedOver {
        /// The hotline that vouches for the dispatcher.
        hotline: PublicKey,
        /// The dispatcher.
        dispatcher: PublicKey,
        /// The new call.
        call: CallId,
        /// The call it replaces (the waiting line, or the previous dispatcher's call):
        /// already hung up by a person's assist; a bridge closes it itself
        /// ([`CallerAssist::start_bridged`]).
        previous: CallId,
    },
    /// The queue overflowed: the line ends and a dispatcher will call back.
    CallbackPromised {
        /// The hotline.
        hotline: PublicKey,
    },
    /// The queue overflowed into voicemail: leave a message after the tone (the line
    /// records for at most `max`, then ends).
    LeaveMessage {
        /// The hotline.
        hotline: PublicKey,
        /// The longest message kept.
        max: Duration,
    },
    /// A dispatcher of the hotline is calling you back (their call rings).
    CallingBack {
        /// The hotline.
        hotline: PublicKey,
        /// The dispatcher calling.
        dispatcher: PublicKey,
    },
}

/// One call to a hotline and what became of it.
struct Session {
    /// The hotline called.
    hotline: PublicKey,
    /// The call placed to the hotline (its id names the session in messages).
    first_call: CallId,
    /// The current call of this session (waiting line or dispatcher).
    current: CallId,
    call_type: CallType,
    mode: PrivacyMode,
    since: Instant,
}

/// How a client that carries another leg (a phone gateway) places the hand-over's call:
/// given the engine, the dispatcher and the session's current call, it dials the
/// dispatcher and returns the new call (`None`: not placed).
pub type Redial = Arc<dyn Fn(&CallEngine, PublicKey, CallId) -> Option<CallId> + Send + Sync>;

/// Whose client this is.
enum Style {
    /// A person's client: one call at a time; the waiting line closes before the
    /// dispatcher is called.
    Person,
    /// A bridge of another leg: the waiting line stays open until the client moves its
    /// leg onto the new call (on [`CallerEvent::HandedOver`]) and closes it itself.
    Bridge(Redial),
}

/// Follows hotline control messages for a caller's engine.
pub struct CallerAssist {
    events: broadcast::Sender<CallerEvent>,
    task: JoinHandle<()>,
}

impl CallerAssist {
    /// Starts following `transport`'s control messages (its verifier must accept them)
    /// for the calls of `engine`, a person's client.
    pub fn start(engine: CallEngine, transport: &Arc<NostrTransport>) -> Self {
        Self::start_styled(engine, transport, Style::Person)
    }

    /// [`CallerAssist::start`] for a client that bridges another leg into its calls (a
    /// phone gateway, whose engine holds many calls, several to one hotline): each call
    /// to a hotline is followed on its own, the hand-over's call is placed by `redial`,
    /// and the previous call is left open for the client to close once it has moved its
    /// leg ([`CallerEvent::HandedOver::previous`]). Callbacks are not followed.
    pub fn start_bridged(
        engine: CallEngine,
        transport: &Arc<NostrTransport>,
        redial: Redial,
    ) -> Self {
        Self::start_styled(engine, transport, Style::Bridge(redial))
    }

    fn start_styled(engine: CallEngine, transport: &Arc<NostrTransport>, style: Style) -> Self {
        let (events, _) = broadcast::channel(64);
        let controls = transport.hub().incoming_controls();
        let assist = Assist {
            engine: engine.clone(),
            events: events.clone(),
            sessions: HashMap::new(),
            hotlines: HashSet::new(),
            style,
        };
        let task = tokio::spawn(run(assist, engine.events(), controls));
        Self { events, task }
    }

    /// What happens, from now on.
    pub fn events(&self) -> broadcast::Receiver<CallerEvent> {
        self.events.subscribe()
    }
}

impl Drop for CallerAssist {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Assist {
    engine: CallEngine,
    events: broadcast::Sender<CallerEvent>,
    /// By the first call.
    sessions: HashMap<CallId, Session>,
    /// Keys that sent a valid control message about one of our calls: hotlines.
    hotlines: HashSet<PublicKey>,
    style: Style,
}

async fn run(
    mut assist: Assist,
    mut calls: broadcast::Receiver<EngineEvent>,
    mut controls: IncomingControls,
) {
    loop {
        tokio::select! {
            event = calls.recv() => match event {
                Ok(EngineEvent::Call(event)) => assist.on_call(&event),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            control = controls.recv() => match control {
                Some(control) => assist.on_control(control.sender, &control.content),
                None => return,
            },
        }
    }
}

impl Assist {
    fn bridged(&self) -> bool {
        matches!(self.style, Style::Bridge(_))
    }

    fn most_sessions(&self) -> usize {
        if self.bridged() {
            MAX_BRIDGED_SESSIONS
        } else {
            MAX_SESSIONS
        }
    }

    fn on_call(&mut self, event: &calling::CallEvent) {
        match (event.direction, event.state) {
            (Direction::Outgoing, CallState::Dialing) => {
                let handover = self.sessions.values().any(|s| s.current == event.call_id);
                if handover {
                    return;
                }
                self.sessions.retain(|_, s| s.since.elapsed() < SESSION_TTL);
                if self.sessions.len() >= self.most_sessions() {
                    tracing::warn!("too many hotline calls followed: this one is not");
                    return;
                }
                self.sessions.insert(
                    event.call_id,
                    Session {
                        hotline: event.peer,
                        first_call: event.call_id,
                        current: event.call_id,
                        call_type: event.call_type,
                        mode: event.mode,
                        since: Instant::now(),
                    },
                );
            }
            (Direction::Incoming, CallState::Ringing) if !self.bridged() => {
                // The hotline rings back after a restart: the user is still waiting.
                let session = self
                    .sessions
                    .values_mut()
                    .filter(|s| s.hotline == event.peer)
                    .max_by_key(|s| s.since);
                if let Some(session) = session {
                    session.current = event.call_id;
                    self.engine.accept(event.call_id, false);
                }
            }
            (_, CallState::Ended) if self.bridged() => {
                // A bridge's session ends with its current call (the waiting line before
                // a hand-over, the dispatcher's call after): its many calls must not
                // fill the table. A person's stays (a callback may still come).
                self.sessions.retain(|_, s| s.current != event.call_id);
            }
            _ => {}
        }
    }

    fn on_control(&mut self, sender: PublicKey, content: &str) {
        if !self.sessions.values().any(|s| s.hotline == sender) {
            tracing::debug!("control message from a key we did not call dropped");
            return;
        }
        let control = match Control::parse(content) {
            Ok(control) => control,
            Err(e) => {
                tracing::info!(error = %e, "hotline control message dropped");
                return;
            }
        };
        if self.hotlines.insert(sender) {
            // It speaks for a hotline: it may ring back (after a restart) like a contact.
            self.engine.add_contact(sender);
        }
        // The first call names the session; after a restart the hotline rings back with a
        // new call, which is the current one.
        let session_of = |sessions: &mut HashMap<CallId, Session>, call: &str| {
            sessions
                .values_mut()
                .find(|s| {
                    s.hotline == sender
                        && (call == s.first_call.to_string() || call == s.current.to_string())
                })
                .map(|s| s.first_call)
        };
        let event = match control {
            Control::Position {
                call,
                position,
                wait_secs,
            } if session_of(&mut self.sessions, &call).is_some() => CallerEvent::Position {
                hotline: sender,
                position,
                wait: wait_secs.map(|s| Duration::from_secs(u64::from(s))),
            },
            Control::TransferTo { call, dispatcher } => {
                let Some(first) = session_of(&mut self.sessions, &call) else {
                    tracing::debug!("hand-over for a call that is not ours dropped");
                    return;
                };
                let Ok(dispatcher) = key_of(&dispatcher, "dispatcher")
                    .map(|n| PublicKey::from_slice(n.as_bytes()).expect("checked key"))
                else {
                    return;
                };
                let Some(event) = self.hand_over(first, sender, dispatcher) else {
                    return;
                };
                event
            }
            Control::CallbackPromised { call }
                if session_of(&mut self.sessions, &call).is_some() =>
            {
                CallerEvent::CallbackPromised { hotline: sender }
            }
            Control::VoicemailPrompt { call, max_secs }
                if session_of(&mut self.sessions, &call).is_some() =>
            {
                CallerEvent::LeaveMessage {
                    hotline: sender,
                    max: Duration::from_secs(u64::from(max_secs)),
                }
            }
            Control::CallingBack { dispatcher } if !self.bridged() => {
                let Ok(dispatcher) = key_of(&dispatcher, "dispatcher")
                    .map(|n| PublicKey::from_slice(n.as_bytes()).expect("checked key"))
                else {
                    return;
                };
                // Their call rings like a contact's: the hotline vouches for them.
                self.engine.add_contact(dispatcher);
                CallerEvent::CallingBack {
                    hotline: sender,
                    dispatcher,
                }
            }
            _ => {
                tracing::debug!("hotline control message not meant for this caller dropped");
                return;
            }
        };
        let _ = self.events.send(event);
    }

    /// Calls `dispatcher` for the session `first`; the event to report.
    fn hand_over(
        &mut self,
        first: CallId,
        hotline: PublicKey,
        dispatcher: PublicKey,
    ) -> Option<CallerEvent> {
        let session = self.sessions.get_mut(&first)?;
        let previous = session.current;
        let new = match &self.style {
            Style::Person => {
                // A person's client keeps one live call: the line (or the previous
                // dispatcher) closes first, then the dispatcher is called.
                self.engine.hangup(previous);
                self.engine
                    .dial(dispatcher, session.call_type, session.mode)
            }
            Style::Bridge(redial) => match redial(&self.engine, dispatcher, previous) {
                Some(new) => new,
                None => {
                    tracing::warn!("hand-over's call to the dispatcher not placed");
                    return None;
                }
            },
        };
        session.current = new;
        Some(CallerEvent::HandedOver {
            hotline,
            dispatcher,
            call: new,
            previous,
        })
    }
}
