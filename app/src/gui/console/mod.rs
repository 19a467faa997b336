//! Dispatcher mode: what the dispatcher console and the operator's statistics screen
//! show, and what the console asks the hotline to do.
//!
//! The screens ([`crate::gui::screens::dispatcher`], [`crate::gui::screens::hotline_stats`])
//! draw a [`ConsoleModel`]: the hotline's [`ConsoleView`] snapshot (the queue, the roster,
//! the counters, as `hotline::core::HotlineCore::view` builds it) plus this dispatcher's own
//! [`DeskState`] (presence, the offer ringing here, the current call, wrap-up). They return
//! [`ConsoleAction`]s and do no I/O; whoever links the app to the hotline turns each action
//! into a control message ([`ConsoleAction::input`] names the core input it stands for).
//!
//! Privacy: a caller is shown by the opaque per-hotline id (`c-…`); the caller's npub
//! only where the snapshot carries it, which the core does only when the operator set
//! `show_caller_npub`. Nothing here derives or keeps an npub of its own.
//!
//! [`demo::DemoHotline`] drives a real `HotlineCore` for the demo, the screenshots and the
//! tests; [`DeskLink`] is the seam a network link implements, [`relay::RelayDesk`] the
//! link to a real hotline over the relays.

pub mod demo;
mod desk;
pub mod relay;

use std::time::{Duration, Instant};

use hotline::core::Input;
pub use hotline::core::{
    ConsoleView, DeskCall, DeskOffer, DeskState, DispatcherView, EntryKind, EntryView, Presence,
};
pub use hotline::voice::VoicemailListing;
pub use hotline::{EntryId, Npub};

/// What the console asks the hotline to do. Each names the entry it is about, so an
/// action that arrives after the entry moved on is refused by the core, not misapplied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleAction {
    /// Available, busy or away (wrap-up is the hotline's, entered by ending a call).
    SetPresence(Presence),
    /// Take the live call ringing here (the caller's client then re-offers to us).
    Answer(EntryId),
    /// Take the callback ringing here (we then call the caller).
    CallBack(EntryId),
    /// Refuse the offer ringing here (the next dispatcher is tried).
    Decline(EntryId),
    /// Hold on (`true`) or off.
    Hold(EntryId, bool),
    /// Replace the entry's note (empty clears it).
    SaveNote(EntryId, String),
    /// Hand our call to a free colleague (blind transfer).
    Transfer(EntryId, Npub),
    /// End our call; wrap-up starts.
    End(EntryId),
    /// End wrap-up now and take calls again.
    EndWrapUp,
    /// Fetch voicemail `id`, open it with our key and play it through the speaker (it is
    /// marked heard once played).
    PlayVoicemail(u64),
    /// Mark voicemail `id` heard (for the whole team).
    VoicemailHeard(u64),
    /// Delete voicemail `id` from the hotline.
    DeleteVoicemail(u64),
}

impl ConsoleAction {
    /// The hotline core's input this action stands for, sent by dispatcher `me`; `None`
    /// for voicemail, which is the service's mailbox, not the queue's.
    pub fn input(&self, me: Npub) -> Option<Input> {
        Some(match self {
            ConsoleAction::SetPresence(p) => Input::SetPresence(me, *p),
            ConsoleAction::Answer(e) | ConsoleAction::CallBack(e) => Input::Answer(*e, me),
            ConsoleAction::Decline(e) => Input::Decline(*e, me),
            ConsoleAction::Hold(e, on) => Input::Hold(*e, me, *on),
            ConsoleAction::SaveNote(e, text) => Input::Note(*e, me, text.clone()),
            ConsoleAction::Transfer(e, to) => Input::TransferTo {
                entry: *e,
                from: me,
                to: *to,
            },
            ConsoleAction::End(e) => Input::End(*e, me),
            // The core ends wrap-up early when the dispatcher says "available".
            ConsoleAction::EndWrapUp => Input::SetPresence(me, Presence::Available),
            ConsoleAction::PlayVoicemail(_)
            | ConsoleAction::VoicemailHeard(_)
            | ConsoleAction::DeleteVoicemail(_) => return None,
        })
    }
}

/// What the dispatcher screens draw.
pub struct ConsoleModel<'a> {
    /// The newest snapshot from the hotline; `None` until one arrives.
    pub view: Option<&'a ConsoleView>,
    /// This dispatcher's state, from the same moment.
    pub desk: &'a DeskState,
    /// Time since the snapshot was taken: waits grow and countdowns shrink by it, so the
    /// clocks tick between snapshots.
    pub age: Duration,
    /// A colleague's name (a contact's name, or the short npub).
    pub names: &'a dyn Fn(&Npub) -> String,
    /// The hotline's voicemails, newest first.
    pub voicemails: &'a [VoicemailListing],
    /// What became of the last voicemail played ("Playing…", or why not).
    pub voicemail_note: Option<&'a str>,
}

impl ConsoleModel<'_> {
    /// The snapshot's entry `id`.
    pub fn entry(&self, id: EntryId) -> Option<&EntryView> {
        self.view?.entries.iter().find(|e| e.entry == id)
    }

    /// Colleagues a call can be handed to, with whether each is free now: everyone
    /// enrolled but us, in enrolment order. Only free ones may be picked: available and
    /// neither ringing nor on a call (the core refuses a transfer to anyone else).
    pub fn transfer_targets(&self) -> Vec<(&DispatcherView, bool)> {
        let Some(view) = self.view else {
            return Vec::new();
        };
        view.dispatchers
            .iter()
            .filter(|d| d.npub != self.desk.me)
            .map(|d| (d, d.free))
            .collect()
    }

    /// Whether any entry of the snapshot carries a caller's npub (the operator allows it).
    pub fn shows_npubs(&self) -> bool {
        self.view
            .is_some_and(|v| v.entries.iter().any(|e| e.caller_npub.is_some()))
    }

    /// `waited` of the snapshot as of now.
    pub fn grown(&self, waited: Duration) -> Duration {
        waited + self.age
    }

    /// A countdown of the snapshot as of now.
    pub fn shrunk(&self, left: Duration) -> Duration {
        left.saturating_sub(self.age)
    }
}

/// An entry's state in words. The one place that reads `EntryView::state`, so a change
/// of its type touches only this function.
pub fn state_text(entry: &EntryView) -> &str {
    entry.state
}

/// A presence in words, capitalised for the console.
pub fn presence_text(presence: Presence) -> &'static str {
    match presence {
        Presence::Available => "Available",
        Presence::Busy => "Busy",
        Presence::WrapUp => "Wrap-up",
        Presence::Away => "Away",
    }
}

/// Live or callback, in words.
pub fn kind_text(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Live => "live",
        EntryKind::Callback => "callback",
    }
}

/// An npub shortened for a table: `npub1` and the first and last 4 characters.
pub fn short_npub(npub: &Npub) -> String {
    let full = npub.to_bech32();
    if full.len() < 16 {
        return full;
    }
    format!("{}…{}", &full[..9], &full[full.len() - 4..])
}

/// A share as a whole percentage.
pub fn percent(share: f64) -> String {
    format!("{:.0} %", share * 100.0)
}

/// Where the console's snapshots come from and its actions go: the network link to the
/// hotline service implements it, [`demo::DemoHotline`] too. Called on the UI thread each
/// frame, so neither method may wait.
pub trait DeskLink: Send {
    /// Sends one action; an error is shown in the banner.
    fn send(&mut self, action: &ConsoleAction) -> Result<(), String>;
    /// The newest snapshot if one came since the last call, with the instant it was
    /// taken on this machine's clock.
    fn poll(&mut self) -> Option<(ConsoleView, DeskState, Instant)>;
    /// The newest list of voicemails if one came since the last call (a hotline that
    /// records none never sends one).
    fn voicemails(&mut self) -> Option<Vec<VoicemailListing>> {
        None
    }
    /// What became of the last voicemail played, if that changed since the last call.
    fn voicemail_note(&mut self) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_names_the_dispatcher_who_sent_it() {
        let me = Npub::from_bytes([7; 32]);
        let other = Npub::from_bytes([8; 32]);
        let e = EntryId(3);
        assert!(matches!(
            ConsoleAction::Answer(e).input(me),
            Some(Input::Answer(x, d)) if x == e && d == me
        ));
        assert!(matches!(
            ConsoleAction::CallBack(e).input(me),
            Some(Input::Answer(x, d)) if x == e && d == me
        ));
        assert!(matches!(
            ConsoleAction::Transfer(e, other).input(me),
            Some(Input::TransferTo { entry, from, to }) if entry == e && from == me && to == other
        ));
        assert!(matches!(
            ConsoleAction::EndWrapUp.input(me),
            Some(Input::SetPresence(d, Presence::Available)) if d == me
        ));
        assert!(ConsoleAction::PlayVoicemail(4).input(me).is_none());
    }

    #[test]
    fn short_npubs_keep_both_ends() {
        let npub = Npub::from_bytes([1; 32]);
        let full = npub.to_bech32();
        let short = short_npub(&npub);
        assert!(short.starts_with(&full[..9]) && short.ends_with(&full[full.len() - 4..]));
        assert!(short.chars().count() < 16);
    }
}
