//! The session loop against a simulated media connection, in virtual time: what the
//! session does when the path comes up, drops, comes back or is not relayed, without
//! webrtc-rs, sockets or waiting (str0m's and ringrtc's way of testing their drivers).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use phantomcall_schemas::{CallId, IceCandidate, PrivacyMode};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::session::{drive, SessionCommand, SessionReport, SessionSetup};
use crate::devices::SyntheticDevices;
use crate::e2ee::MediaKeys;
use crate::fsm::MediaError;
use crate::peer::{
    ConnectionTracks, MediaConnection, NetworkConfig, PathState, PeerError, PeerEvent, PeerSetup,
    PeerStats, TurnServer,
};
use crate::policy::PolicyViolation;
use crate::MediaEvent;

/// A media connection whose path the test moves by hand; it records what it was asked.
#[derive(Default)]
struct SimConnection {
    asked: Mutex<Vec<String>>,
    /// Local candidate type of the selected path, as the figures would show it.
    path_type: Mutex<Option<String>>,
}

impl SimConnection {
    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }

    fn note(&self, what: impl Into<String>) {
        self.asked.lock().unwrap().push(what.into());
    }
}

#[async_trait]
impl MediaConnection for SimConnection {
    async fn create_offer(&self, restart_ice: bool) -> Result<String, PeerError> {
        self.note(if restart_ice {
            "restart offer"
        } else {
            "offer"
        });
        Ok("v=0\r\n".into())
    }
    async fn answer(&self, _remote_offer: &str) -> Result<String, PeerError> {
        self.note("answer");
        Ok("v=0\r\n".into())
    }
    async fn apply_answer(&self, _remote_answer: &str) -> Result<(), PeerError> {
        self.note("apply answer");
        Ok(())
    }
    async fn add_remote_candidates(&self, candidates: &[IceCandidate]) -> Vec<PeerError> {
        self.note(format!("{} candidates", candidates.len()));
        Vec::new()
    }
    async fn set_mode(&self, mode: PrivacyMode) -> Result<(), PeerError> {
        self.note(format!("mode {mode:?}"));
        Ok(())
    }
    fn accept_peer_without_modes(&self) {}
    async fn stats(&self) -> PeerStats {
        PeerStats {
            local_candidate_type: self.path_type.lock().unwrap().clone(),
            ..PeerStats::default()
        }
    }
    fn screen_negotiated(&self) -> bool {
        false
    }
    fn tracks(&self) -> Option<ConnectionTracks> {
        None
    }
    async fn close(&self) {
        self.note("close");
    }
}

const LOST: Duration = Duration::from_secs(30);

struct Scene {
    sim: Arc<SimConnection>,
    path: UnboundedSender<PeerEvent>,
    commands: UnboundedSender<SessionCommand>,
    reports: UnboundedReceiver<(CallId, nostr_signal::PublicKey, SessionReport)>,
    task: tokio::task::JoinHandle<()>,
}

fn turn() -> TurnServer {
    TurnServer {
        url: "turn:127.0.0.1:3478".into(),
        username: "u".into(),
        credential: "p".into(),
    }
}

/// A session of the caller (`is_caller`) in `mode` over a simulated connection.
fn scene(mode: PrivacyMode, is_caller: bool) -> Scene {
    let sim = Arc::new(SimConnection::default());
    let network = NetworkConfig {
        media_lost_timeout: LOST,
        turn_servers: vec![turn()],
        ..NetworkConfig::loopback()
    };
    let setup = SessionSetup {
        call_id: CallId::new_random(),
        participant: nostr_signal::Identity::generate().public_key(),
        local: nostr_signal::Identity::generate().public_key(),
        peer: PeerSetup {
            mode,
            send_video: false,
            receive_video: false,
            network,
            signaling_hides_address: false,
        },
        is_caller,
        devices: Arc::new(SyntheticDevices::new(440.0)),
        shared: None,
        group_keys: None,
        ble: None,
        runtime: tokio::runtime::Handle::current(),
    };
    let (path, peer_events) = unbounded_channel();
    let (commands, command_rx) = unbounded_channel();
    let (report_tx, reports) = unbounded_channel();
    let connection = sim.clone();
    let task = tokio::spawn(async move {
        drive(
            setup,
            connection.as_ref(),
            peer_events,
            command_rx,
            report_tx,
        )
        .await;
    });
    Scene {
        sim,
        path,
        commands,
        reports,
        task,
    }
}

impl Scene {
    /// The next report other than live figures, within `within` of virtual time.
    async fn next(&mut self, within: Duration) -> Option<SessionReport> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.reports.recv()).await {
                Ok(Some((_, _, SessionReport::Stats(_)))) => continue,
                Ok(Some((_, _, report))) => return Some(report),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    fn path(&self, state: PathState) {
        self.path.send(PeerEvent::State(state)).unwrap();
    }

    async fn connect(&mut self) {
        self.commands.send(SessionCommand::Offer).unwrap();
        assert!(matches!(
            self.next(Duration::from_secs(1)).await,
            Some(SessionReport::Offer { .. })
        ));
        self.path(PathState::Connected);
        assert!(matches!(
            self.next(Duration::from_secs(1)).await,
            Some(SessionReport::Connected)
        ));
    }

    async fn end(self) {
        drop(self.commands);
        self.task.await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_lost_path_is_restarted_by_the_caller_then_ends_the_call_after_the_timeout() {
    let wall = std::time::Instant::now();
    let mut s = scene(PrivacyMode::Fast, true);
    s.connect().await;
    s.path(PathState::Disconnected);
    assert!(matches!(
        s.next(Duration::from_secs(1)).await,
        Some(SessionReport::Media(MediaEvent::Reconnecting))
    ));
    assert!(matches!(
        s.next(Duration::from_secs(1)).await,
        Some(SessionReport::Media(MediaEvent::IceRestartSent))
    ));
    assert!(matches!(
        s.next(Duration::from_secs(1)).await,
        Some(SessionReport::RestartOffer(_))
    ));
    // The path stays down: restarts every few seconds, then the call ends at the timeout.
    let started = tokio::time::Instant::now();
    let mut restarts = 1;
    let failed = loop {
        match s.next(LOST * 2).await {
            Some(SessionReport::RestartOffer(_)) => restarts += 1,
            Some(SessionReport::Media(MediaEvent::IceRestartSent)) => {}
            Some(SessionReport::Failed(error)) => break error,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(failed, MediaError::Connection);
    let lost_for = tokio::time::Instant::now() - started;
    assert!(
        lost_for >= LOST - Duration::from_secs(1) && lost_for <= LOST + Duration::from_secs(1),
        "ended {lost_for:?} after the loss"
    );
    assert!(restarts >= 5, "restarts while down: {restarts}");
    assert_eq!(
        s.sim
            .asked()
            .iter()
            .filter(|a| *a == "restart offer")
            .count(),
        restarts
    );
    s.end().await;
    assert!(
        wall.elapsed() < Duration::from_secs(5),
        "half a minute of call ran in {:?} of wall time",
        wall.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_path_that_comes_back_is_reported_and_the_callee_never_restarts() {
    let mut s = scene(PrivacyMode::Fast, false);
    s.commands
        .send(SessionCommand::Answer {
            sdp: "v=0\r\n".into(),
            pq_share: None,
        })
        .unwrap();
    // An offer without a share (a NIP-AC caller): DTLS-SRTP alone, and the user is told.
    assert!(matches!(
        s.next(Duration::from_secs(1)).await,
        Some(SessionReport::Media(MediaEvent::MediaKeys(
            MediaKeys::TransportOnly
        )))
    ));
    assert!(matches!(
        s.next(Duration::from_secs(1)).await,
        Some(SessionReport::Answer { pq_share: None, .. })
    ));
    s.path(PathState::Connected);
    assert!(matches!(
        s.next(Duration::from_secs(1)).await,
        Some(SessionReport::Connected)
    ));
    s.path(PathState::Disconnected);
    assert!(matches!(
        s.next(Duration::from_secs(1)).await,
        Some(SessionReport::Media(MediaEvent::Reconnecting))
    ));
    tokio::time::sleep(Duration::from_secs(10)).await;
    s.path(PathState::Connected);
    assert!(matches!(
        s.next(Duration::from_secs(1)).await,
        Some(SessionReport::Media(MediaEvent::Reconnected))
    ));
    // Past the timeout nothing fails: the path came back in time.
    assert!(s.next(LOST * 2).await.is_none());
    assert!(!s.sim.asked().iter().any(|a| a == "restart offer"));
    s.end().await;
}

#[tokio::test(start_paused = true)]
async fn a_private_call_whose_path_is_not_relayed_ends_as_a_policy_violation() {
    let mut s = scene(PrivacyMode::Private, true);
    *s.sim.path_type.lock().unwrap() = Some("relay".into());
    s.connect().await;
    // A few seconds on a relayed path: nothing to say.
    assert!(s.next(Duration::from_secs(3)).await.is_none());
    // The selected path turns out to be direct: the call must end, fail closed.
    *s.sim.path_type.lock().unwrap() = Some("host".into());
    assert!(matches!(
        s.next(Duration::from_secs(3)).await,
        Some(SessionReport::PolicyViolation(
            PolicyViolation::PathNotRelayed {
                mode: PrivacyMode::Private
            }
        ))
    ));
    s.end().await;
}
