//! A caller's side of a hotline call: shows the queue position the hotline sends, and
//! follows the hotline's hand-over by closing the waiting line and calling the dispatcher
//! it names. Nothing here acts on a message from a key the user did not call.

use std::collections::HashMap;
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
/// Most remembered sessions: a bound, not a limit anyone reaches.
const MAX_SESSIONS: usize = 64;

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
    },
    /// The queue overflowed: the line ends and a dispatcher will call back.
    CallbackPromised {
        /// The hotline.
        hotline: PublicKey,
    },
    /// A dispatcher of the hotline is calling you back (their call rings).
    CallingBack {
        /// The hotline.
        hotline: PublicKey,
        /// The dispatcher calling.
        dispatcher: PublicKey,
    },
}

/// One hotline the user called.
struct Session {
    /// The call the user placed to the hotline (its id names the session in messages).
    first_call: CallId,
    /// The user's current call of this session (waiting line or dispatcher).
    current: CallId,
    call_type: CallType,
    mode: PrivacyMode,
    since: Instant,
    /// A valid control message came from it: it is a hotline.
    known_hotline: bool,
}

/// Follows hotline control messages for a caller's engine.
pub struct CallerAssist {
    events: broadcast::Sender<CallerEvent>,
    task: JoinHandle<()>,
}

impl CallerAssist {
    /// Starts following `transport`'s control messages (its verifier must accept them)
    /// for the calls of `engine`.
    pub fn start(engine: CallEngine, transport: &Arc<NostrTransport>) -> Self {
        let (events, _) = broadcast::channel(64);
        let controls = transport.hub().incoming_controls();
        let task = tokio::spawn(run(
            engine.clone(),
            engine.events(),
            controls,
            events.clone(),
        ));
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
    sessions: HashMap<PublicKey, Session>,
}

async fn run(
    engine: CallEngine,
    mut calls: broadcast::Receiver<EngineEvent>,
    mut controls: IncomingControls,
    events: broadcast::Sender<CallerEvent>,
) {
    let mut assist = Assist {
        engine,
        events,
        sessions: HashMap::new(),
    };
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
    fn on_call(&mut self, event: &calling::CallEvent) {
        match (event.direction, event.state) {
            (Direction::Outgoing, CallState::Dialing) => {
                let handover = self.sessions.values().any(|s| s.current == event.call_id);
                if !handover && !self.sessions.contains_key(&event.peer) {
                    self.sessions.retain(|_, s| s.since.elapsed() < SESSION_TTL);
                    if self.sessions.len() >= MAX_SESSIONS {
                        return;
                    }
                    self.sessions.insert(
                        event.peer,
                        Session {
                            first_call: event.call_id,
                            current: event.call_id,
                            call_type: event.call_type,
                            mode: event.mode,
                            since: Instant::now(),
                            known_hotline: false,
                        },
                    );
                }
            }
            (Direction::Incoming, CallState::Ringing) => {
                // The hotline rings back after a restart: the user is still waiting.
                if let Some(session) = self.sessions.get_mut(&event.peer) {
                    session.current = event.call_id;
                    self.engine.accept(event.call_id, false);
                }
            }
            _ => {}
        }
    }

    fn on_control(&mut self, sender: PublicKey, content: &str) {
        let Some(session) = self.sessions.get_mut(&sender) else {
            tracing::debug!("control message from a key we did not call dropped");
            return;
        };
        let control = match Control::parse(content) {
            Ok(control) => control,
            Err(e) => {
                tracing::info!(error = %e, "hotline control message dropped");
                return;
            }
        };
        // The first call names the session; after a restart the hotline rings back with a
        // new call, which is the current one.
        let ours = |call: &str| {
            call == session.first_call.to_string() || call == session.current.to_string()
        };
        if !session.known_hotline {
            // It speaks for a hotline: it may ring back (after a restart) like a contact.
            session.known_hotline = true;
            self.engine.add_contact(sender);
        }
        let event = match control {
            Control::Position {
                call,
                position,
                wait_secs,
            } if ours(&call) => CallerEvent::Position {
                hotline: sender,
                position,
                wait: wait_secs.map(|s| Duration::from_secs(u64::from(s))),
            },
            Control::TransferTo { call, dispatcher } if ours(&call) => {
                let Ok(dispatcher) = key_of(&dispatcher, "dispatcher")
                    .map(|n| PublicKey::from_slice(n.as_bytes()).expect("checked key"))
                else {
                    return;
                };
                // A person's client keeps one live call: the line (or the previous
                // dispatcher) closes first, then the dispatcher is called.
                self.engine.hangup(session.current);
                let new = self
                    .engine
                    .dial(dispatcher, session.call_type, session.mode);
                session.current = new;
                CallerEvent::HandedOver {
                    hotline: sender,
                    dispatcher,
                    call: new,
                }
            }
            Control::CallbackPromised { call } if ours(&call) => {
                CallerEvent::CallbackPromised { hotline: sender }
            }
            Control::CallingBack { dispatcher } => {
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
                tracing::debug!("hotline control message not meant for a caller dropped");
                return;
            }
        };
        let _ = self.events.send(event);
    }
}
