//! One dispatcher's own desk beside the shared console view: presence, the offer ringing
//! at them, the call they handle, wrap-up. The service builds it from its core for each
//! dispatcher's console; the app's demo builds it from its own core.

use std::time::{Duration, Instant};

use super::view::ConsoleView;
use super::{EntryKind, EntryState, HotlineCore, Presence};
use crate::ids::{EntryId, Npub};

/// An offer ringing at this dispatcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskOffer {
    /// The queue entry.
    pub entry: EntryId,
    /// The caller's opaque short id (`c-…`).
    pub caller: String,
    /// A live caller on the line, or a callback to place.
    pub kind: EntryKind,
    /// The caller was seen within the repeat window.
    pub repeat: bool,
    /// How long the caller had waited when the snapshot was taken.
    pub waited: Duration,
    /// How long the offer still rang when the snapshot was taken (`None`: unknown).
    pub rings_for: Option<Duration>,
}

/// The call this dispatcher handles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskCall {
    /// The queue entry.
    pub entry: EntryId,
    /// The caller's opaque short id (`c-…`).
    pub caller: String,
    /// A live call handed over, or a callback placed.
    pub kind: EntryKind,
    /// On hold.
    pub on_hold: bool,
    /// The note on the entry.
    pub note: Option<String>,
    /// How long the call had run (since answered or transferred here) at the snapshot.
    pub since: Duration,
}

/// This dispatcher's own state, beside the shared snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskState {
    /// This dispatcher.
    pub me: Npub,
    /// Presence as the hotline has it.
    pub presence: Presence,
    /// The offer ringing here, if any.
    pub offer: Option<DeskOffer>,
    /// The call handled here, if any.
    pub call: Option<DeskCall>,
    /// Wrap-up time left at the snapshot, while wrapping up.
    pub wrap_up_left: Option<Duration>,
}

impl DeskState {
    /// Signed in to nothing yet: away, no offer, no call.
    pub fn signed_out(me: Npub) -> DeskState {
        DeskState {
            me,
            presence: Presence::Away,
            offer: None,
            call: None,
            wrap_up_left: None,
        }
    }

    /// The desk of `me` as `core` has it at `now`, with the console entries of `view`
    /// (taken at the same `now`). This is what the hotline service knows; the demo and
    /// the tests use it, and a service can send the same fields to each dispatcher.
    pub fn from_core(core: &HotlineCore, view: &ConsoleView, me: Npub, now: Instant) -> DeskState {
        let entry = |id: EntryId| view.entries.iter().find(|e| e.entry == id);
        let offer = core.waiting().into_iter().find_map(|id| {
            let EntryState::Ringing { dispatchers, until } = core.entry_state(id)? else {
                return None;
            };
            if !dispatchers.contains(&me) {
                return None;
            }
            let e = entry(id)?;
            Some(DeskOffer {
                entry: id,
                caller: e.caller.clone(),
                kind: e.kind,
                repeat: e.repeat,
                waited: e.waited,
                rings_for: Some(until.saturating_duration_since(now)),
            })
        });
        let call = view
            .entries
            .iter()
            .filter(|e| e.dispatcher == Some(me))
            .find_map(|e| {
                let EntryState::Assigned { since, on_hold, .. } = core.entry_state(e.entry)? else {
                    return None;
                };
                Some(DeskCall {
                    entry: e.entry,
                    caller: e.caller.clone(),
                    kind: e.kind,
                    on_hold: *on_hold,
                    note: e.note.clone(),
                    since: now.saturating_duration_since(*since),
                })
            });
        let presence = core.presence(&me).unwrap_or(Presence::Away);
        let wrap_up_left = (presence == Presence::WrapUp)
            .then(|| {
                core.wrap_up_until(&me)
                    .map(|t| t.saturating_duration_since(now))
            })
            .flatten();
        DeskState {
            me,
            presence,
            offer,
            call,
            wrap_up_left,
        }
    }
}
