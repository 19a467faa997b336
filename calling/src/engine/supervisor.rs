//! Supervision of one call's media path, sans-IO: when the path counts as lost, when the
//! caller restarts ICE and how often, when a lost path ends the call, whether a
//! relay-only call really runs over a relay, and whether the peer's screen share is
//! coming in. Plain synchronous code fed with what the peer connection reported and the
//! current time; the session task carries out its [`Supervision`]s and sleeps until
//! [`Supervisor::next_timeout`]. Tests drive it in virtual time.
//!
//! It never touches a socket, a clock or a task: `now` always comes in.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use phantomcall_schemas::PrivacyMode;

use crate::fsm::MediaError;
use crate::policy::ModePolicy;

/// While the path is down, the caller sends a fresh ICE restart this often.
pub(crate) const RESTART_RETRY: Duration = Duration::from_secs(4);
/// After a switch to a relay-only mode, how long the path may stay off the relay (the
/// ICE restart that moves it) before the call ends as a policy violation.
pub(crate) const RELAY_SWITCH_GRACE: Duration = Duration::from_secs(8);
/// The peer's screen share counts as stopped after this long without a frame: it sends
/// several a second, even of a still screen.
pub(crate) const REMOTE_SCREEN_IDLE: Duration = Duration::from_millis(1500);

/// What the session must do or report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Supervision {
    /// The path came up for the first time: the call is connected.
    Connected,
    /// The path came back after a loss.
    Reconnected,
    /// The path was lost; the call waits for it (and the caller restarts ICE).
    Reconnecting,
    /// Send an ICE restart offer now.
    RestartIce,
    /// The call's media failed: end the call.
    Failed(MediaError),
    /// A relay-only call's selected path is not a relay one: end the call (fail closed).
    PathNotRelayed(PrivacyMode),
    /// The peer's screen share started (`true`) or stopped.
    RemoteScreenShare(bool),
}

/// The supervision state of one call.
#[derive(Debug)]
pub(crate) struct Supervisor {
    is_caller: bool,
    media_lost_timeout: Duration,
    mode: PrivacyMode,
    connected_at: Option<Instant>,
    lost_since: Option<Instant>,
    restart_due: Option<Instant>,
    switched_at: Option<Instant>,
    /// After a switch to a relay-only mode (caller): restarts go on until the figures
    /// show the path on a relay, so a lost restart offer does not end the call.
    awaiting_relay: bool,
    screen_frames: u64,
    screen_frame_at: Option<Instant>,
    screen_active: bool,
    out: VecDeque<Supervision>,
}

impl Supervisor {
    /// A call in `mode`; `is_caller`: we restart ICE when the path is lost (the callee
    /// waits for our offer, so both never restart at once).
    pub fn new(mode: PrivacyMode, is_caller: bool, media_lost_timeout: Duration) -> Self {
        Self {
            is_caller,
            media_lost_timeout,
            mode,
            connected_at: None,
            lost_since: None,
            restart_due: None,
            switched_at: None,
            awaiting_relay: false,
            screen_frames: 0,
            screen_frame_at: None,
            screen_active: false,
            out: VecDeque::new(),
        }
    }

    /// The call's mode now.
    pub fn mode(&self) -> PrivacyMode {
        self.mode
    }

    /// When the path first came up, if it has.
    pub fn connected_at(&self) -> Option<Instant> {
        self.connected_at
    }

    /// Whether the peer's screen share is coming in.
    pub fn remote_screen_active(&self) -> bool {
        self.screen_active
    }

    /// Whether the path is up now (or has not been lost since it came up).
    pub fn path_up(&self) -> bool {
        self.lost_since.is_none()
    }

    /// The peer connection is connected.
    pub fn on_connected(&mut self, now: Instant) {
        self.lost_since = None;
        if !self.awaiting_relay {
            self.restart_due = None;
        }
        if self.connected_at.is_some() {
            self.out.push_back(Supervision::Reconnected);
        } else {
            self.connected_at = Some(now);
            self.out.push_back(Supervision::Connected);
        }
    }

    /// The peer connection is disconnected or failed.
    pub fn on_disconnected(&mut self, failed: bool, now: Instant) {
        if self.connected_at.is_none() {
            // Never connected: a failure means ICE found no path or DTLS refused the
            // peer's certificate; a disconnect before that is ICE still trying.
            if failed {
                self.out
                    .push_back(Supervision::Failed(MediaError::Connection));
            }
            return;
        }
        if self.lost_since.is_some() {
            return;
        }
        self.lost_since = Some(now);
        self.out.push_back(Supervision::Reconnecting);
        if self.is_caller {
            self.restart_due = Some(now);
        }
    }

    /// The user agreed to a new mode and its policy is applied: the caller gathers the
    /// path again under it at once, and a relay-only mode gets a grace period for that.
    pub fn on_mode_switched(&mut self, mode: PrivacyMode, now: Instant) {
        self.mode = mode;
        self.switched_at = Some(now);
        if self.is_caller {
            self.restart_due = Some(now);
            self.awaiting_relay = ModePolicy::for_mode(mode).relay_only;
        }
    }

    /// The app saw the network change: restart ICE now. Retries follow only while the
    /// path is down; a path that stayed up needs no more.
    pub fn on_restart_requested(&mut self, now: Instant) {
        self.restart_due = Some(now);
    }

    /// The type of the local candidate of the selected path, from the figures. In a
    /// relay-only mode it must be `relay` (after a switch, once the restart had its time).
    pub fn on_path(&mut self, local_candidate_type: Option<&str>, now: Instant) {
        let settled = self
            .switched_at
            .is_none_or(|t| now.saturating_duration_since(t) > RELAY_SWITCH_GRACE);
        if local_candidate_type == Some("relay") && self.awaiting_relay {
            self.awaiting_relay = false;
            if self.lost_since.is_none() {
                self.restart_due = None;
            }
        }
        let off_relay = local_candidate_type.is_some_and(|t| t != "relay");
        if ModePolicy::for_mode(self.mode).relay_only && settled && off_relay {
            self.out.push_back(Supervision::PathNotRelayed(self.mode));
        }
    }

    /// How many frames of the peer's screen share were decoded so far.
    pub fn on_remote_screen_frames(&mut self, frames: u64, now: Instant) {
        if frames > self.screen_frames {
            self.screen_frames = frames;
            self.screen_frame_at = Some(now);
        }
        self.check_remote_screen(now);
    }

    fn check_remote_screen(&mut self, now: Instant) {
        let active = self
            .screen_frame_at
            .is_some_and(|t| now.saturating_duration_since(t) < REMOTE_SCREEN_IDLE);
        if active != self.screen_active {
            self.screen_active = active;
            self.out.push_back(Supervision::RemoteScreenShare(active));
        }
    }

    /// When [`Supervisor::on_timeout`] must run next, if a timer is set.
    pub fn next_timeout(&self) -> Option<Instant> {
        let lost_due = self.lost_since.map(|t| t + self.media_lost_timeout);
        let screen_due = self
            .screen_active
            .then(|| self.screen_frame_at.map(|t| t + REMOTE_SCREEN_IDLE))
            .flatten();
        [lost_due, self.restart_due, screen_due]
            .into_iter()
            .flatten()
            .min()
    }

    /// Fires the timers due at `now`.
    pub fn on_timeout(&mut self, now: Instant) {
        if self
            .lost_since
            .is_some_and(|t| now >= t + self.media_lost_timeout)
        {
            self.lost_since = None;
            self.restart_due = None;
            self.out
                .push_back(Supervision::Failed(MediaError::Connection));
            return;
        }
        if self.restart_due.is_some_and(|t| now >= t) {
            let again = self.lost_since.is_some() || self.awaiting_relay;
            self.restart_due = again.then(|| now + RESTART_RETRY);
            self.out.push_back(Supervision::RestartIce);
        }
        self.check_remote_screen(now);
    }

    /// The next thing to do, if any.
    pub fn poll(&mut self) -> Option<Supervision> {
        self.out.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOST: Duration = Duration::from_secs(20);

    fn drain(s: &mut Supervisor) -> Vec<Supervision> {
        std::iter::from_fn(|| s.poll()).collect()
    }

    /// Runs every timer up to `until`, in order, collecting what it asked for with the
    /// virtual time it happened at.
    fn run_until(s: &mut Supervisor, until: Instant) -> Vec<(Instant, Supervision)> {
        let mut seen = Vec::new();
        while let Some(due) = s.next_timeout().filter(|t| *t <= until) {
            s.on_timeout(due);
            seen.extend(drain(s).into_iter().map(|x| (due, x)));
        }
        seen
    }

    #[test]
    fn media_lost_for_the_timeout_ends_the_call_with_restarts_before() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(PrivacyMode::Private, true, LOST);
        s.on_connected(t0);
        assert_eq!(drain(&mut s), [Supervision::Connected]);
        s.on_disconnected(false, t0);
        assert_eq!(drain(&mut s), [Supervision::Reconnecting]);
        let seen = run_until(&mut s, t0 + Duration::from_secs(60));
        let restarts: Vec<Instant> = seen
            .iter()
            .filter(|(_, x)| *x == Supervision::RestartIce)
            .map(|(t, _)| *t)
            .collect();
        // At once, then every RESTART_RETRY until the timeout: 0, 4, 8, 12, 16 s.
        assert_eq!(
            restarts,
            (0..5).map(|i| t0 + RESTART_RETRY * i).collect::<Vec<_>>()
        );
        assert_eq!(
            seen.last(),
            Some(&(t0 + LOST, Supervision::Failed(MediaError::Connection)))
        );
        assert_eq!(s.next_timeout(), None, "nothing left to wait for");
    }

    #[test]
    fn a_path_that_comes_back_stops_the_restarts_and_the_timeout() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(PrivacyMode::Fast, true, LOST);
        s.on_connected(t0);
        s.on_disconnected(true, t0);
        run_until(&mut s, t0 + Duration::from_secs(5));
        drain(&mut s);
        s.on_connected(t0 + Duration::from_secs(5));
        assert_eq!(drain(&mut s), [Supervision::Reconnected]);
        assert_eq!(s.connected_at(), Some(t0), "connected since the first time");
        assert_eq!(s.next_timeout(), None);
        assert!(s.path_up());
    }

    #[test]
    fn the_callee_never_restarts_ice_but_gives_up_after_the_timeout_too() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(PrivacyMode::Private, false, LOST);
        s.on_connected(t0);
        s.on_disconnected(false, t0);
        assert_eq!(
            drain(&mut s),
            [Supervision::Connected, Supervision::Reconnecting]
        );
        let seen = run_until(&mut s, t0 + Duration::from_secs(60));
        assert!(seen.iter().all(|(_, x)| *x != Supervision::RestartIce));
        assert_eq!(
            seen,
            [(t0 + LOST, Supervision::Failed(MediaError::Connection))]
        );
    }

    #[test]
    fn a_failure_before_the_first_connection_fails_at_once() {
        let mut s = Supervisor::new(PrivacyMode::Private, true, LOST);
        s.on_disconnected(false, Instant::now());
        assert!(drain(&mut s).is_empty(), "ICE still trying");
        s.on_disconnected(true, Instant::now());
        assert_eq!(drain(&mut s), [Supervision::Failed(MediaError::Connection)]);
    }

    #[test]
    fn a_private_call_whose_path_is_not_relayed_is_ended() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(PrivacyMode::Private, true, LOST);
        s.on_connected(t0);
        drain(&mut s);
        s.on_path(Some("relay"), t0);
        assert!(drain(&mut s).is_empty());
        s.on_path(Some("host"), t0);
        assert_eq!(
            drain(&mut s),
            [Supervision::PathNotRelayed(PrivacyMode::Private)]
        );
        // Fast has no such rule.
        let mut fast = Supervisor::new(PrivacyMode::Fast, true, LOST);
        fast.on_path(Some("host"), t0);
        assert!(drain(&mut fast).is_empty());
    }

    #[test]
    fn after_a_switch_to_private_the_path_has_a_grace_period_to_move_to_a_relay() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(PrivacyMode::Fast, true, LOST);
        s.on_connected(t0);
        drain(&mut s);
        s.on_mode_switched(PrivacyMode::Private, t0);
        // The caller gathers again under the new mode at once, and again until the path
        // is seen on a relay (a restart offer may be lost on the way).
        s.on_timeout(t0);
        assert_eq!(drain(&mut s), [Supervision::RestartIce]);
        assert_eq!(s.next_timeout(), Some(t0 + RESTART_RETRY));
        s.on_path(Some("host"), t0 + RELAY_SWITCH_GRACE);
        assert!(drain(&mut s).is_empty(), "still within the grace period");
        s.on_path(
            Some("host"),
            t0 + RELAY_SWITCH_GRACE + Duration::from_millis(1),
        );
        assert_eq!(
            drain(&mut s),
            [Supervision::PathNotRelayed(PrivacyMode::Private)]
        );
    }

    #[test]
    fn restarts_after_a_switch_to_private_stop_once_the_path_is_relayed() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(PrivacyMode::Fast, true, LOST);
        s.on_connected(t0);
        s.on_mode_switched(PrivacyMode::Private, t0);
        let seen = run_until(&mut s, t0 + RESTART_RETRY);
        assert_eq!(
            seen.iter()
                .filter(|(_, x)| *x == Supervision::RestartIce)
                .count(),
            2,
            "at once and after one retry interval: {seen:?}"
        );
        s.on_path(
            Some("relay"),
            t0 + RESTART_RETRY + Duration::from_millis(500),
        );
        assert!(drain(&mut s).is_empty());
        assert_eq!(s.next_timeout(), None, "relayed: no more restarts");
        // Back to Fast needs one restart only.
        let t1 = t0 + Duration::from_secs(30);
        s.on_mode_switched(PrivacyMode::Fast, t1);
        let seen = run_until(&mut s, t1 + Duration::from_secs(30));
        assert_eq!(seen, [(t1, Supervision::RestartIce)]);
    }

    #[test]
    fn a_restart_asked_for_on_a_live_path_is_sent_once() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(PrivacyMode::Fast, false, LOST);
        s.on_connected(t0);
        drain(&mut s);
        s.on_restart_requested(t0);
        let seen = run_until(&mut s, t0 + Duration::from_secs(60));
        assert_eq!(seen, [(t0, Supervision::RestartIce)]);
    }

    /// The share's state after `frames` decoded by `at`, when it changed.
    fn screen(s: &mut Supervisor, frames: u64, at: Instant) -> Option<bool> {
        s.on_remote_screen_frames(frames, at);
        drain(s).into_iter().find_map(|x| match x {
            Supervision::RemoteScreenShare(active) => Some(active),
            _ => None,
        })
    }

    #[test]
    fn remote_screen_is_active_from_its_first_frame_until_it_falls_silent() {
        let mut s = Supervisor::new(PrivacyMode::Fast, true, LOST);
        let t0 = Instant::now();
        assert_eq!(
            screen(&mut s, 0, t0),
            None,
            "no frame yet: inactive, no change"
        );
        assert_eq!(screen(&mut s, 1, t0), Some(true));
        assert_eq!(screen(&mut s, 3, t0 + Duration::from_millis(200)), None);
        // Frames stop: still active within the idle time, inactive after it.
        let last = t0 + Duration::from_millis(200);
        assert_eq!(screen(&mut s, 3, last + REMOTE_SCREEN_IDLE / 2), None);
        assert_eq!(screen(&mut s, 3, last + REMOTE_SCREEN_IDLE), Some(false));
        assert_eq!(screen(&mut s, 3, last + REMOTE_SCREEN_IDLE * 2), None);
        // A new share: active again with its first frame.
        assert_eq!(screen(&mut s, 4, last + REMOTE_SCREEN_IDLE * 3), Some(true));
    }

    #[test]
    fn the_peers_screen_share_is_seen_from_its_frames() {
        let t0 = Instant::now();
        let mut s = Supervisor::new(PrivacyMode::Fast, true, LOST);
        s.on_remote_screen_frames(0, t0);
        assert!(drain(&mut s).is_empty());
        s.on_remote_screen_frames(3, t0);
        assert_eq!(drain(&mut s), [Supervision::RemoteScreenShare(true)]);
        // A still screen still sends frames: no change while they come.
        s.on_remote_screen_frames(5, t0 + Duration::from_secs(1));
        assert!(drain(&mut s).is_empty());
        let seen = run_until(&mut s, t0 + Duration::from_secs(10));
        assert_eq!(
            seen,
            [(
                t0 + Duration::from_secs(1) + REMOTE_SCREEN_IDLE,
                Supervision::RemoteScreenShare(false)
            )]
        );
    }
}
