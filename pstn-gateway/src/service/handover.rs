//! A phone caller in a hotline's queue follows the hotline's hand-over: the hotline's
//! signed `transfer-to` names a dispatcher, the gateway calls that dispatcher for the
//! caller (showing the same phone number), and once the dispatcher's call is up the SIP
//! leg's audio moves onto it and the waiting line closes. The SIP leg itself is never
//! answered again nor dropped. The control handling is the hotline crate's own caller
//! side ([`CallerAssist`]); the gateway's identity is the caller the hotline sees.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use calling::CallEngine;
use hotline::voice::{CallerAssist, CallerEvent, Redial};
use nostr_signal::NostrTransport;
use phantomcall_schemas::{CallId, PrivacyMode};
use tokio::sync::broadcast;

/// How each bridged phone caller is shown to the PhantomCall side, by call: the number
/// a hand-over's call carries is the one the first call carried.
#[derive(Clone, Default)]
pub(super) struct Shown(Arc<Mutex<HashMap<CallId, String>>>);

impl Shown {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<CallId, String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records how `call`'s phone caller is shown.
    pub(super) fn insert(&self, call: CallId, shown: &str) {
        self.map().insert(call, shown.to_owned());
    }

    /// Forgets `call` (ended).
    pub(super) fn remove(&self, call: &CallId) {
        self.map().remove(call);
    }

    fn get(&self, call: &CallId) -> Option<String> {
        self.map().get(call).cloned()
    }
}

/// Starts following hotlines' control messages for the gateway's calls: a hand-over's
/// call to the dispatcher is a phone call (`phone` tag, the caller's shown number, not
/// end-to-end encrypted past the gateway), in `mode`.
pub(super) fn follow_hotlines(
    engine: &CallEngine,
    transport: &Arc<NostrTransport>,
    shown: Shown,
    mode: PrivacyMode,
) -> CallerAssist {
    let redial: Redial = Arc::new(move |engine: &CallEngine, dispatcher, current| {
        // Only a call the gateway placed for a phone caller is handed on.
        let number = shown.get(&current)?;
        // The dispatcher's client expects the gateway, not a particular phone: no reference.
        let new = engine.dial_for_phone(dispatcher, &number, None, mode)?;
        shown.insert(new, &number);
        Some(new)
    });
    CallerAssist::start_bridged(engine.clone(), transport, redial)
}

/// The new call, if `event` is a hand-over of a call `ours` takes.
pub(super) fn handed_over(
    event: Result<CallerEvent, broadcast::error::RecvError>,
    ours: impl Fn(CallId) -> bool,
) -> Option<CallId> {
    match event {
        Ok(CallerEvent::HandedOver { call, previous, .. }) if ours(previous) => Some(call),
        Ok(_) | Err(broadcast::error::RecvError::Closed) => None,
        Err(broadcast::error::RecvError::Lagged(n)) => {
            tracing::warn!(missed = n, "pstn: hand-over events missed");
            None
        }
    }
}
