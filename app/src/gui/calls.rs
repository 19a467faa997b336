//! What the UI knows about each call: built from the engine's events, so the screens never
//! ask the engine anything (which would mean waiting on it).

use std::time::{Duration, Instant};

use calling::{CallEvent, CallState, CallStats, Direction, EndReason, PhoneRefusal, Reason};
use nostr_signal::PublicKey;
use phantomcall_schemas::{CallId, CallType, PrivacyMode};

use super::calllog::{entry_for, unix_now, LogDirection, LogEntry, LogResult};

/// One call as the UI shows it.
#[derive(Debug, Clone)]
pub struct CallView {
    /// The call.
    pub call_id: CallId,
    /// The other party.
    pub peer: PublicKey,
    /// Who called.
    pub direction: Direction,
    /// Voice or video as offered.
    pub call_type: CallType,
    /// Privacy mode of the call.
    pub mode: PrivacyMode,
    /// Latest state.
    pub state: CallState,
    /// Why it ended, once it has.
    pub end_reason: Option<EndReason>,
    /// Whether the engine marked the end as missed.
    pub missed: bool,
    /// When the call started (Unix seconds), for the log.
    pub started_at: u64,
    /// When media came up.
    pub connected_at: Option<Instant>,
    /// How long it was connected, frozen at the end.
    pub connected_for: Option<Duration>,
    /// Our microphone muted.
    pub muted: bool,
    /// Our camera off.
    pub camera_off: bool,
    /// Whether we send video (accepted with video, or a video call placed).
    pub sending_video: bool,
    /// How much video we send (Normal, Low, Off = audio only).
    pub video_quality: calling::VideoQuality,
    /// Latest live figures.
    pub stats: Option<CallStats>,
    /// Latest privacy filter state: text and whether the person is being blacked out.
    pub blackout: Option<(String, bool)>,
    /// Latest media notice (reconnecting, device problem…).
    pub notice: Option<String>,
    /// What we are sharing, while we share a screen or window.
    pub screen_share: Option<String>,
    /// The peer's app does not support privacy modes (a plain NIP-AC client).
    pub peer_without_modes: bool,
    /// The path the peer's last call message came over.
    pub signaled_via: Option<nostr_signal::Via>,
    /// A telephone at one end, through a phone gateway (not end-to-end encrypted past it).
    pub phone: Option<phantomcall_schemas::PhoneLeg>,
    /// Keypad keys pressed in this call (shown above the keypad).
    pub keys_pressed: String,
    /// Whether the peer's screen share is coming in.
    pub remote_screen: bool,
    /// How the media is protected end to end (post-quantum keys, or DTLS-SRTP alone).
    pub media_keys: calling::e2ee::MediaKeys,
    /// Whether the peer is speaking or muted, from its audio.
    pub peer_voice: calling::VoiceActivity,
    /// Echo cancellation and noise suppression on our microphone (when the devices
    /// process it at all).
    pub voice_processing: bool,
    /// The quality indicator, fed by every figures report.
    pub quality: super::quality::QualityMeter,
}

impl CallView {
    /// A call we just dialed.
    pub fn dialed(
        call_id: CallId,
        peer: PublicKey,
        call_type: CallType,
        mode: PrivacyMode,
    ) -> Self {
        Self::new(
            call_id,
            peer,
            Direction::Outgoing,
            call_type,
            mode,
            CallState::Dialing,
        )
    }

    /// A call first seen through an event.
    pub fn from_event(e: &CallEvent) -> Self {
        let mut view = Self::new(e.call_id, e.peer, e.direction, e.call_type, e.mode, e.state);
        view.signaled_via = e.signaled_via;
        view.phone = e.phone.clone();
        view
    }

    fn new(
        call_id: CallId,
        peer: PublicKey,
        direction: Direction,
        call_type: CallType,
        mode: PrivacyMode,
        state: CallState,
    ) -> Self {
        CallView {
            call_id,
            peer,
            direction,
            call_type,
            mode,
            state,
            end_reason: None,
            missed: false,
            started_at: unix_now(),
            connected_at: None,
            connected_for: None,
            muted: false,
            // Paranoid is audio first: the engine keeps the camera off until the user
            // turns it on (the explicit confirmation).
            camera_off: !calling::policy::ModePolicy::for_mode(mode).video_on_by_default,
            sending_video: direction == Direction::Outgoing && call_type == CallType::Video,
            video_quality: calling::VideoQuality::Normal,
            stats: None,
            blackout: None,
            notice: None,
            screen_share: None,
            remote_screen: false,
            media_keys: calling::e2ee::MediaKeys::Pending,
            peer_without_modes: false,
            signaled_via: None,
            phone: None,
            keys_pressed: String::new(),
            peer_voice: calling::VoiceActivity::default(),
            voice_processing: true,
            quality: super::quality::QualityMeter::default(),
        }
    }

    /// Applies a state change.
    pub fn apply(&mut self, e: &CallEvent) {
        self.state = e.state;
        self.mode = e.mode;
        self.peer_without_modes |= e.peer_without_modes;
        if e.signaled_via.is_some() {
            self.signaled_via = e.signaled_via;
        }
        // A call once known to reach a phone stays one.
        if e.phone.is_some() {
            self.phone = e.phone.clone();
        }
        match e.reason {
            Reason::MediaConnected if self.connected_at.is_none() => {
                self.connected_at = Some(Instant::now());
            }
            Reason::Ended(end) => {
                self.end_reason = Some(end);
                self.missed = e.missed;
                self.connected_for = self.connected_at.map(|t| t.elapsed());
            }
            _ => {}
        }
    }

    /// Whether the call is still going (ringing, connecting or connected).
    pub fn is_live(&self) -> bool {
        self.state != CallState::Ended
    }

    /// The call timer: time connected so far.
    pub fn elapsed(&self) -> Option<Duration> {
        self.connected_for
            .or_else(|| self.connected_at.map(|t| t.elapsed()))
    }

    /// What the status line says.
    pub fn status(&self) -> String {
        match (self.state, self.direction) {
            (CallState::Dialing, _) => "Calling…".into(),
            (CallState::Ringing, Direction::Outgoing) => "Ringing…".into(),
            (CallState::Ringing, Direction::Incoming) => "Incoming call…".into(),
            (CallState::Connecting, _) => "Connecting…".into(),
            (CallState::Connected, _) => "Connected".into(),
            (CallState::Ended, _) => format!("Call ended: {}", self.end_words()),
        }
    }

    fn end_words(&self) -> &'static str {
        match self.end_reason {
            Some(EndReason::LocalHangup) => "you hung up",
            Some(EndReason::RemoteHangup) => "the other side hung up",
            Some(EndReason::LocalDecline) => "you declined",
            Some(EndReason::RemoteDecline) => "declined",
            Some(EndReason::RemoteBusy) => "busy",
            Some(EndReason::RingTimeout) => "no answer",
            Some(EndReason::ModeMismatch) => "the other side asked for another privacy mode",
            Some(EndReason::MediaFailed(_)) => "connection failed",
            Some(EndReason::ConnectTimeout) => "could not connect",
            Some(EndReason::AlreadyInCall) => "you are already in a call",
            Some(EndReason::UnknownCaller) => "unknown caller",
            Some(EndReason::PolicyViolation) => {
                "ended: the other side broke the privacy mode (a less private path was refused)"
            }
            Some(EndReason::RemotePolicyViolation) => {
                "ended: the other side refused a path outside the privacy mode"
            }
            Some(EndReason::LocalBusy) => "missed: you were in another call",
            Some(EndReason::ModeTooLow(mode)) => match mode {
                PrivacyMode::Paranoid => "refused: the caller asked for less than Paranoid mode",
                _ => "refused: the caller asked for less than Private mode",
            },
            Some(EndReason::RemoteRequiresMode(mode)) => match mode {
                PrivacyMode::Paranoid => "they accept only Paranoid calls: call again in Paranoid",
                PrivacyMode::Private => "they accept only Private calls: call again in Private",
                PrivacyMode::Fast => "refused by their privacy settings",
            },
            Some(EndReason::ModeUnavailable(_)) => {
                "refused: no TURN server (or proxy) here for the mode the caller asked for"
            }
            Some(EndReason::RemoteModeUnavailable(_)) => {
                "their side has no TURN server (or proxy) for this mode"
            }
            Some(EndReason::RemotePhoneRefused(refusal)) => refusal.words(),
            Some(EndReason::GroupCallUnsupported) => "a group call: not supported yet",
            Some(EndReason::UnreadableOffer) => "the caller's app sent a call we could not read",
            Some(EndReason::Glare) => "you both called at once: the other call was kept",
            Some(
                EndReason::AnsweredElsewhere
                | EndReason::DeclinedElsewhere
                | EndReason::BusyElsewhere
                | EndReason::EndedElsewhere,
            ) => "handled on another device",
            None => "ended",
        }
    }

    /// The log entry of this ended call.
    pub fn log_entry(&self) -> LogEntry {
        let result = if self.connected_at.is_some() {
            LogResult::Answered
        } else if self.missed {
            LogResult::Missed
        } else {
            match self.end_reason {
                Some(
                    EndReason::LocalDecline
                    | EndReason::RemoteDecline
                    | EndReason::DeclinedElsewhere,
                ) => LogResult::Declined,
                Some(
                    EndReason::MediaFailed(_)
                    | EndReason::ConnectTimeout
                    | EndReason::ModeMismatch
                    | EndReason::AlreadyInCall
                    | EndReason::RemoteRequiresMode(_)
                    | EndReason::RemoteModeUnavailable(_),
                ) => LogResult::Failed,
                Some(EndReason::RemotePhoneRefused(
                    PhoneRefusal::Busy | PhoneRefusal::NoAnswer,
                )) => LogResult::NoAnswer,
                Some(EndReason::RemotePhoneRefused(_)) => LogResult::Failed,
                _ if self.direction == Direction::Incoming => LogResult::Missed,
                _ => LogResult::NoAnswer,
            }
        };
        let direction = match self.direction {
            Direction::Outgoing => LogDirection::Outgoing,
            Direction::Incoming => LogDirection::Incoming,
        };
        let mut entry = entry_for(
            &self.peer,
            self.started_at,
            self.connected_for,
            direction,
            result,
        );
        entry.quality = self.quality.summary();
        entry
    }

    /// The quality indicator's word from the latest figures.
    pub fn quality(&self) -> &'static str {
        match (&self.stats, self.quality.now()) {
            (None, _) => "measuring…",
            (Some(stats), _) if !stats.media_up => "reconnecting…",
            (Some(_), None) => "measuring…",
            (Some(_), Some(now)) => now.level.word(),
        }
    }

    /// Why the quality is not good, in words, when it is not.
    pub fn quality_reason(&self) -> Option<&str> {
        self.quality.now()?.reason.as_deref()
    }
}

/// `m:ss` (or `h:mm:ss`).
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(state: CallState, reason: Reason, without_modes: bool) -> CallEvent {
        CallEvent {
            phone: None,
            call_id: CallId::new_random(),
            peer: nostr_signal::Identity::generate().public_key(),
            direction: Direction::Incoming,
            call_type: CallType::Voice,
            mode: PrivacyMode::Private,
            state,
            reason,
            missed: false,
            peer_without_modes: without_modes,
            signaled_via: None,
        }
    }

    #[test]
    fn a_call_with_a_peer_without_modes_says_so_and_a_refusal_names_the_mode() {
        let ringing = event(CallState::Ringing, Reason::OfferReceived, true);
        let mut view = CallView::from_event(&ringing);
        view.apply(&ringing);
        assert!(view.peer_without_modes);
        let ordinary = event(CallState::Ringing, Reason::OfferReceived, false);
        let mut other = CallView::from_event(&ordinary);
        other.apply(&ordinary);
        assert!(!other.peer_without_modes);
        let refused = event(
            CallState::Ended,
            Reason::Ended(EndReason::RemoteRequiresMode(PrivacyMode::Private)),
            false,
        );
        other.apply(&refused);
        assert!(
            other.status().contains("call again in Private"),
            "{}",
            other.status()
        );
    }

    #[test]
    fn a_call_the_phone_gateway_would_not_place_says_why_and_logs_as_failed() {
        let mut dialed = event(CallState::Ringing, Reason::OfferSent, false);
        dialed.direction = Direction::Outgoing;
        let mut view = CallView::from_event(&dialed);
        view.apply(&dialed);
        let mut refused = event(
            CallState::Ended,
            Reason::Ended(EndReason::RemotePhoneRefused(PhoneRefusal::NoCredit)),
            false,
        );
        refused.direction = Direction::Outgoing;
        view.apply(&refused);
        assert_eq!(
            view.status(),
            "Call ended: not enough phone credit left at the gateway"
        );
        assert_eq!(view.log_entry().result, LogResult::Failed);
        let mut busy = CallView::from_event(&dialed);
        busy.apply(&dialed);
        refused.reason = Reason::Ended(EndReason::RemotePhoneRefused(PhoneRefusal::Busy));
        busy.apply(&refused);
        assert_eq!(busy.log_entry().result, LogResult::NoAnswer);
    }

    #[test]
    fn clock_format() {
        assert_eq!(clock(Duration::from_secs(65)), "1:05");
        assert_eq!(clock(Duration::from_secs(3600 + 61)), "1:01:01");
    }
}
