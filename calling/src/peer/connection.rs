//! The media connection of one call, as the session drives it: [`MediaConnection`].
//! [`PeerSession`] (webrtc-rs) is the real one; the session's tests drive a simulated one
//! in virtual time, and a conference or gateway leg can bring its own.
//!
//! What a connection reports comes back as [`PeerEvent`]s in PhantomCall's own terms
//! ([`PathState`]), never as webrtc-rs types.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use async_trait::async_trait;
use phantomcall_schemas::{IceCandidate, PrivacyMode};
use webrtc::peer_connection::{RTCIceConnectionState, RTCPeerConnectionState};

use super::{LocalTrack, PeerError, PeerSession, PeerStats};

/// Where a connection's media path stands (ICE and DTLS together).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathState {
    /// Nothing tried yet.
    New,
    /// Checking candidates, handshaking.
    Connecting,
    /// Media can flow.
    Connected,
    /// The path stopped answering; it may come back.
    Disconnected,
    /// The path is gone for good (a restart may find a new one).
    Failed,
    /// The connection was closed.
    Closed,
}

impl std::fmt::Display for PathState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl From<RTCPeerConnectionState> for PathState {
    fn from(state: RTCPeerConnectionState) -> Self {
        match state {
            RTCPeerConnectionState::Connecting => PathState::Connecting,
            RTCPeerConnectionState::Connected => PathState::Connected,
            RTCPeerConnectionState::Disconnected => PathState::Disconnected,
            RTCPeerConnectionState::Failed => PathState::Failed,
            RTCPeerConnectionState::Closed => PathState::Closed,
            _ => PathState::New,
        }
    }
}

impl From<RTCIceConnectionState> for PathState {
    fn from(state: RTCIceConnectionState) -> Self {
        match state {
            RTCIceConnectionState::Checking => PathState::Connecting,
            RTCIceConnectionState::Connected | RTCIceConnectionState::Completed => {
                PathState::Connected
            }
            RTCIceConnectionState::Disconnected => PathState::Disconnected,
            RTCIceConnectionState::Failed => PathState::Failed,
            RTCIceConnectionState::Closed => PathState::Closed,
            _ => PathState::New,
        }
    }
}

/// The tracks a connection carries our media on, for the pipelines.
#[derive(Clone)]
pub struct ConnectionTracks {
    /// Our voice.
    pub audio: LocalTrack,
    /// Our camera, when we send video.
    pub video: Option<LocalTrack>,
    /// Our screen share (negotiated up front, idle until the user shares).
    pub screen: LocalTrack,
    /// The congestion controller's target for everything we send, bits/s (f64 bits).
    pub target_bitrate: Arc<AtomicU64>,
}

/// One call's media connection: negotiation, candidates, mode and figures.
#[async_trait]
pub trait MediaConnection: Send + Sync {
    /// Our offer (with fresh ICE credentials when `restart_ice`), set as local description.
    async fn create_offer(&self, restart_ice: bool) -> Result<String, PeerError>;
    /// Applies the peer's offer and returns our answer.
    async fn answer(&self, remote_offer: &str) -> Result<String, PeerError>;
    /// Applies the peer's answer.
    async fn apply_answer(&self, remote_answer: &str) -> Result<(), PeerError>;
    /// Adds the peer's candidates; what was refused, each with why.
    async fn add_remote_candidates(&self, candidates: &[IceCandidate]) -> Vec<PeerError>;
    /// Switches the connection to `mode`'s rules (both users agreed).
    async fn set_mode(&self, mode: PrivacyMode) -> Result<(), PeerError>;
    /// The peer's client does not speak privacy modes: take its candidates of any type.
    fn accept_peer_without_modes(&self);
    /// Live figures.
    async fn stats(&self) -> PeerStats;
    /// Whether the peer's app negotiated the screen-share track.
    fn screen_negotiated(&self) -> bool;
    /// The tracks the pipelines write to; `None` for a connection without local media.
    fn tracks(&self) -> Option<ConnectionTracks>;
    /// Closes the connection.
    async fn close(&self);
}

#[async_trait]
impl MediaConnection for PeerSession {
    async fn create_offer(&self, restart_ice: bool) -> Result<String, PeerError> {
        PeerSession::create_offer(self, restart_ice).await
    }

    async fn answer(&self, remote_offer: &str) -> Result<String, PeerError> {
        PeerSession::answer(self, remote_offer).await
    }

    async fn apply_answer(&self, remote_answer: &str) -> Result<(), PeerError> {
        PeerSession::apply_answer(self, remote_answer).await
    }

    async fn add_remote_candidates(&self, candidates: &[IceCandidate]) -> Vec<PeerError> {
        PeerSession::add_remote_candidates(self, candidates).await
    }

    async fn set_mode(&self, mode: PrivacyMode) -> Result<(), PeerError> {
        PeerSession::set_mode(self, mode).await
    }

    fn accept_peer_without_modes(&self) {
        PeerSession::accept_peer_without_modes(self)
    }

    async fn stats(&self) -> PeerStats {
        PeerSession::stats(self).await
    }

    fn screen_negotiated(&self) -> bool {
        self.screen.is_negotiated()
    }

    fn tracks(&self) -> Option<ConnectionTracks> {
        Some(ConnectionTracks {
            audio: self.audio.clone(),
            video: self.video.clone(),
            screen: self.screen.clone(),
            target_bitrate: self.target_bitrate.clone(),
        })
    }

    async fn close(&self) {
        PeerSession::close(self).await
    }
}
