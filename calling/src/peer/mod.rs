//! One webrtc-rs peer connection per call: ICE under the call's privacy mode, DTLS-SRTP,
//! Opus and VP8 tracks, trickle candidates handed out as events, ICE restart, stats.
//!
//! The DTLS fingerprint travels inside the SDP, which travels inside the gift-wrapped,
//! authenticated call message: webrtc-rs checks the peer's certificate against it (its
//! fingerprint verification is left on), so the media identity is bound to the Nostr key
//! that signed the offer or answer.

mod audio_rtp;
mod candidates;
mod config;
mod connection;
mod handlers;
mod opus_params;
mod paced_runtime;
mod pacing;
mod setup;
mod stats;
mod track;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use phantomcall_schemas::{IceCandidate, PrivacyMode};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{Gcc, NackGeneratorBuilder, Slot};
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_congestion_control, register_default_interceptors, CongestionFeedback,
};
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodecParameters, RtpCodecKind};
use tokio::sync::mpsc::UnboundedSender;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, RTCSessionDescription, Registry,
    SettingEngineBuilder,
};
use webrtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use webrtc::runtime::TokioRuntime;

use handlers::{Handler, ReportingEstimator};
pub use opus_params::{peer_opus_wishes, OpusWishes};
use paced_runtime::{PacedRuntime, RELAYED_MAX_SLEEP};
use setup::{add_track, ice_configuration, mdns_address, opus_codec, proxied_network, vp8_codec};
pub use track::{LocalTrack, AUDIO_TRACK_ID, CAMERA_TRACK_ID, SCREEN_TRACK_ID};

use crate::policy::{ModePolicy, OwnAddresses, PolicyViolation};
use crate::proxy::TurnTcpBridge;

pub use candidates::{candidate_mid, inbound as inbound_candidate, outbound as outbound_candidate};
pub use config::{ModeUnavailable, NetworkConfig, SetupFailure, TurnServer};
pub use connection::{ConnectionTracks, MediaConnection, PathState};
pub use stats::PeerStats;

/// RTP payload type we offer for Opus (what browsers use).
pub const OPUS_PAYLOAD_TYPE: u8 = 111;
/// RTP payload type we offer for VP8.
pub const VP8_PAYLOAD_TYPE: u8 = 96;
/// Pacing of ICE connectivity checks.
pub const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(50);
/// Congestion control starts video here and keeps it within these bounds (bits/s).
pub const INITIAL_BITRATE: f64 = 600_000.0;
/// Lowest target the congestion controller may set.
pub const MIN_BITRATE: f64 = 100_000.0;
/// Highest target the congestion controller may set.
pub const MAX_BITRATE: f64 = 2_500_000.0;
/// How many times a missing packet is asked for (NACK) before it is given up (see where
/// the generator is set up).
const MAX_NACKS_PER_PACKET: u16 = 5;

/// What went wrong with a peer connection.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// webrtc-rs refused an operation.
    #[error("webrtc: {0}")]
    Webrtc(#[from] webrtc::error::Error),
    /// The SDP from the peer does not parse. (webrtc-rs's parse error is not kept: it may
    /// quote the SDP, and with it addresses, into logs.)
    #[error("the peer's SDP does not parse")]
    BadSdp,
    /// The SDP from the peer carries a candidate its mode does not allow.
    #[error("{0}")]
    Policy(#[from] PolicyViolation),
    /// The mode's media path cannot be set up: something for the user to fix.
    #[error(transparent)]
    Setup(#[from] SetupFailure),
    /// A Paranoid call stays Paranoid: its sockets are bound to loopback behind the proxy
    /// bridge and cannot be moved to a direct path (or into the bridge) mid-call.
    #[error("a call cannot switch into or out of Paranoid mode: hang up and call again")]
    ParanoidSwitch,
}

impl PeerError {
    /// The problem of the user's settings or network this is (a clear message for
    /// them), if it is not one of webrtc-rs or the peer.
    pub fn setup_failure(&self) -> Option<&SetupFailure> {
        match self {
            PeerError::Setup(failure) => Some(failure),
            _ => None,
        }
    }
}

impl From<crate::proxy::ProxyError> for PeerError {
    fn from(e: crate::proxy::ProxyError) -> Self {
        PeerError::Setup(SetupFailure::Proxy(e))
    }
}

impl PeerError {
    /// What may be logged: webrtc-rs's own messages can quote SDP lines or candidates
    /// (addresses), so they are reduced to a fixed text.
    pub fn log_text(&self) -> String {
        match self {
            PeerError::Webrtc(_) => "webrtc-rs refused the operation".to_owned(),
            other => other.to_string(),
        }
    }
}

/// The log filter for `user`'s directives (`PHANTOMCALL_LOG`, an `EnvFilter` string)
/// with webrtc-rs silenced whatever the user asks: at info, debug and trace level it logs
/// the peer's and our addresses (the LAN address mDNS hides among them), and at error
/// level its bind and connect failures name addresses too; logs end up in bug reports.
/// What matters of its failures reaches the user as engine events. The user's
/// directives for webrtc-rs's targets are dropped (a longer target such as `rtc_ice`
/// would outrank ours), then `rtc` (which covers the sans-IO core's crates, `rtc_ice`,
/// `rtc_dtls`, ...: targets match by prefix) and `webrtc` are turned off.
pub fn log_filter(user: &str) -> String {
    let mut directives: Vec<&str> = user
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .filter(|d| {
            // The target is what comes before `=` or `[` (a bare level has none of
            // webrtc-rs's names).
            let target = d.split(['=', '[']).next().unwrap_or("");
            !(target.starts_with("rtc") || target.starts_with("webrtc"))
        })
        .collect();
    directives.push(WEBRTC_LOGS_OFF);
    directives.join(",")
}

/// See [`log_filter`].
const WEBRTC_LOGS_OFF: &str = "rtc=off,webrtc=off";

/// Something the peer connection reports (sent on the channel given to
/// [`PeerSession::new`]).
pub enum PeerEvent {
    /// A local candidate gathered and allowed by the mode, ready to send.
    Candidate(IceCandidate),
    /// A gathered candidate the mode forbids: never sent.
    CandidateWithheld(PolicyViolation),
    /// The media path's state changed (ICE and DTLS together).
    State(PathState),
    /// The network path's state changed (ICE alone, before DTLS).
    IcePath(PathState),
    /// The peer's media track arrived.
    RemoteTrack(Arc<dyn TrackRemote>, RemoteKind),
}

/// What one of the peer's tracks carries, by its kind and track id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteKind {
    /// The peer's voice.
    Audio,
    /// The peer's (filtered) camera.
    Camera,
    /// The peer's screen share.
    Screen,
}

impl std::fmt::Debug for PeerEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerEvent::Candidate(_) => f.write_str("Candidate"),
            PeerEvent::CandidateWithheld(v) => write!(f, "CandidateWithheld({v})"),
            PeerEvent::State(s) => write!(f, "State({s})"),
            PeerEvent::IcePath(s) => write!(f, "IcePath({s})"),
            PeerEvent::RemoteTrack(_, k) => write!(f, "RemoteTrack({k:?})"),
        }
    }
}

/// What one call's peer connection carries.
#[derive(Debug, Clone)]
pub struct PeerSetup {
    /// The call's privacy mode (ICE policy, candidate filter).
    pub mode: PrivacyMode,
    /// Send our video (video calls with the camera allowed).
    pub send_video: bool,
    /// Receive the peer's video (video calls).
    pub receive_video: bool,
    /// Sockets and servers.
    pub network: NetworkConfig,
    /// Whether the call's signaling keeps our address from the relays (a SOCKS5 proxy, a
    /// radio link). Paranoid refuses to start without it.
    pub signaling_hides_address: bool,
}

/// A call's peer connection and its local tracks.
pub struct PeerSession {
    pc: Arc<dyn PeerConnection>,
    /// The call's mode rules, shared with the handler that filters gathered candidates;
    /// replaced when both users agree to switch the mode.
    policy: Arc<RwLock<ModePolicy>>,
    /// The peer's client does not speak privacy modes: its candidates and SDP are taken
    /// whatever their type (its address is its own choice); ours still follow our mode.
    remote_without_modes: std::sync::atomic::AtomicBool,
    network: NetworkConfig,
    /// Our audio track.
    pub audio: LocalTrack,
    /// Our video track, when we send video.
    pub video: Option<LocalTrack>,
    /// Our screen-share track. Every call negotiates it up front, so sharing starts and
    /// stops without renegotiating; nothing is sent on it until the user shares.
    pub screen: LocalTrack,
    /// The congestion controller's target for everything we send, bits/s.
    pub target_bitrate: Arc<AtomicU64>,
    /// Hide the related address of our srflx and relay candidates even outside the
    /// relay-only modes: the settings hide host candidates behind mDNS names.
    hide_related_address: bool,
    /// The call was set up on loopback (tests, the local demo): the peer is there too.
    loopback_call: bool,
    /// The mid our trickled candidates carry (the first media section of our SDP).
    candidate_mid: Arc<RwLock<Option<String>>>,
    /// Paranoid mode's TURN-over-TCP bridges through the proxy; they stop with the call.
    _bridges: Vec<TurnTcpBridge>,
}

impl PeerSession {
    /// Builds the peer connection (sockets bound, nothing sent yet) and its tracks.
    /// Events (candidates, state, remote tracks) go to `events`.
    pub async fn new(
        setup: PeerSetup,
        events: UnboundedSender<PeerEvent>,
    ) -> Result<Self, PeerError> {
        let policy = ModePolicy::for_mode(setup.mode);
        setup
            .network
            .check_mode(setup.mode, setup.signaling_hides_address)
            .map_err(SetupFailure::from)?;
        let (network, bridges) = if policy.requires_proxy {
            proxied_network(&setup.network).await?
        } else {
            (setup.network.clone(), Vec::new())
        };
        let network = &network;

        let mut media_engine = MediaEngine::default();
        let opus = opus_codec();
        let vp8 = vp8_codec();
        media_engine.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: opus.clone(),
                payload_type: OPUS_PAYLOAD_TYPE,
            },
            RtpCodecKind::Audio,
        )?;
        media_engine.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: vp8.clone(),
                payload_type: VP8_PAYLOAD_TYPE,
            },
            RtpCodecKind::Video,
        )?;
        let (estimator, target_bitrate) =
            ReportingEstimator::new(Gcc::new(INITIAL_BITRATE, MIN_BITRATE, MAX_BITRATE));
        let registry = configure_congestion_control(
            Registry::new(),
            estimator,
            CongestionFeedback::Twcc,
            &mut media_engine,
        )?
        // webrtc-rs's pacer holds the voice behind a video backlog it drains at exactly the
        // target: on a link that shrinks the voice stalls for good (see `pacing.rs`).
        .with(Slot::Pacer, pacing::VoiceFirstPacer::new(INITIAL_BITRATE));
        let registry = register_default_interceptors(registry, &mut media_engine)?
            // webrtc-rs asks again for a missing packet every 100 ms until it leaves a
            // 512-packet window: on a congested link that is a thousand requests a second,
            // each answered into the same congestion. A packet not back after five asks
            // belongs to a frame long gone; the next keyframe repairs the picture.
            .with(
                Slot::NackGenerator,
                NackGeneratorBuilder::new()
                    .with_max_nacks_per_packet(MAX_NACKS_PER_PACKET)
                    .build(),
            )
            // The peer's "send me a keyframe" (a picture it could not repair) reaches the
            // camera's encoder instead of stopping at the end of the chain.
            .with(
                keyframe_requests::slot(),
                keyframe_requests::KeyframeRequestsToApp::default(),
            );

        let config = ice_configuration(&policy, network);
        let mut setting_engine = SettingEngineBuilder::new()
            .with_include_loopback_candidate(network.bind_ip.is_loopback())
            // A check every 50 ms (RFC 8445's pacing) instead of webrtc-rs's 200 ms: set-up
            // time is dominated by it. 28 attempts keep the default 1.4 s per pair.
            .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(28))
            // An ICE restart rebinds the sockets on the interfaces the machine has now
            // (after Wi-Fi -> wired, say) and gathers afresh, instead of retrying the old
            // addresses.
            .with_discard_local_candidates_during_ice_restart(true)
            // A peer-reflexive pair is nominated as soon as it works, not after webrtc-rs's
            // 1 s wait: on a fast path the peer's check arrives before its trickled
            // candidate, and the pair it makes is the very address that candidate names.
            // Waiting made one Fast call in six take 1.1 s instead of 0.1 s.
            .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
            .with_ice_timeouts(
                Some(network.ice_disconnected_timeout),
                Some(network.ice_failed_timeout),
                Some(network.ice_keepalive_interval),
            );
        // The LAN address stays on the machine: the host candidate goes out as a random
        // `.local` name. webrtc-rs hides one IPv4 address this way, so the sockets bind
        // that address alone (the one with the default route) instead of every interface.
        let mdns_ip = mdns_address(&policy, network);
        setting_engine = match mdns_ip {
            Some(ip) => setting_engine
                .with_multicast_dns_mode(MulticastDnsMode::QueryAndGather)
                .with_multicast_dns_local_ip(Some(ip)),
            // webrtc-rs's default (QueryOnly) opens a 0.0.0.0:5353 multicast socket and
            // answers `.local` candidates with queries on the LAN, outside any relay or
            // proxy: relay-only modes and calls without mDNS hiding have no use for it.
            None => setting_engine.with_multicast_dns_mode(MulticastDnsMode::Disabled),
        };
        if policy.relay_only {
            // Relay candidates are all there is: waiting for better ones only delays.
            setting_engine = setting_engine.with_relay_acceptance_min_wait(Some(Duration::ZERO));
        }
        let setting_engine = setting_engine.build();

        // The user's settings, not the proxied network: Paranoid binds loopback for the
        // bridge, but its peer is never on loopback.
        let loopback_call = setup.network.bind_ip.is_loopback();
        let hide_related_address = setup.network.mdns_host_candidates && !loopback_call;
        let policy = Arc::new(RwLock::new(policy));
        let candidate_mid = Arc::new(RwLock::new(None));
        let handler = Arc::new(Handler {
            events,
            policy: policy.clone(),
            hide_related_address,
            candidate_mid: candidate_mid.clone(),
        });
        let bind = SocketAddr::new(mdns_ip.unwrap_or(network.bind_ip), 0);
        // A connection that may be relayed gets a driver that wakes often enough for the
        // TURN relayer's queue (see `paced_runtime`); a direct one needs no extra wake-ups.
        let runtime: Arc<dyn webrtc::runtime::Runtime> =
            if network.turn_servers.is_empty() && network.turn_renewal.is_none() {
                Arc::new(TokioRuntime)
            } else {
                Arc::new(PacedRuntime::new(RELAYED_MAX_SLEEP))
            };
        let pc = PeerConnectionBuilder::new()
            .with_configuration(config)
            .with_media_engine(media_engine)
            .with_interceptor_registry(registry)
            .with_setting_engine(setting_engine)
            .with_runtime(runtime)
            .with_handler(handler)
            .with_udp_addrs(vec![bind])
            .build()
            .await?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);

        let audio = add_track(&pc, RtpCodecKind::Audio, AUDIO_TRACK_ID, opus).await?;
        let video = if setup.send_video {
            Some(add_track(&pc, RtpCodecKind::Video, CAMERA_TRACK_ID, vp8.clone()).await?)
        } else {
            if setup.receive_video {
                pc.add_transceiver_from_kind(
                    RtpCodecKind::Video,
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Recvonly,
                        streams: Vec::new(),
                        send_encodings: Vec::new(),
                    }),
                )
                .await?;
            }
            None
        };
        let screen = add_track(&pc, RtpCodecKind::Video, SCREEN_TRACK_ID, vp8).await?;
        Ok(Self {
            pc,
            policy,
            remote_without_modes: std::sync::atomic::AtomicBool::new(false),
            network: network.clone(),
            hide_related_address,
            loopback_call,
            candidate_mid,
            _bridges: bridges,
            audio,
            video,
            screen,
            target_bitrate,
        })
    }

    /// Stops offering our screen-share section as sending (before the first offer): a
    /// conference's anonymous guests may not share a screen, and the service refuses a
    /// guest's offer with a second sending video section.
    pub async fn withdraw_screen(&self) -> Result<(), PeerError> {
        self.pc.remove_track(&self.screen.sender).await?;
        Ok(())
    }

    fn policy(&self) -> ModePolicy {
        self.policy
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The rules the peer's candidates and SDP are checked against: the call's, or any
    /// candidate type for a peer without privacy modes (our own side is unaffected: what
    /// we gather and send still follows the call's mode).
    fn remote_policy(&self) -> ModePolicy {
        if self
            .remote_without_modes
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            ModePolicy::for_mode(PrivacyMode::Fast)
        } else {
            self.policy()
        }
    }

    /// The peer's client does not speak privacy modes (a plain NIP-AC client): from now on
    /// its candidates of any type are taken.
    pub fn accept_peer_without_modes(&self) {
        self.remote_without_modes
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The addresses a peer's candidate must not point at, as the machine has them now.
    fn own_addresses(&self) -> OwnAddresses {
        candidates::this_machine(self.loopback_call)
    }

    /// Our SDP as it may leave; the mid our candidates will carry is taken from it first
    /// (before the local description starts gathering, so no candidate goes without it).
    fn outgoing(&self, sdp: &str) -> Result<String, PeerError> {
        let out = candidates::outbound_sdp(&self.policy(), self.hide_related_address, sdp)?;
        if let Some(mid) = candidate_mid(sdp) {
            *self
                .candidate_mid
                .write()
                .unwrap_or_else(PoisonError::into_inner) = Some(mid);
        }
        Ok(out)
    }

    /// The peer's description, checked as webrtc-rs reads it: the same parser on the same
    /// text (webrtc-rs keeps its own parse private), every candidate through the policy.
    /// Returns what it asks of our Opus.
    fn check_remote(&self, desc: &RTCSessionDescription) -> Result<OpusWishes, PeerError> {
        let parsed = desc.unmarshal().map_err(|_| PeerError::BadSdp)?;
        candidates::inbound_sdp(&self.remote_policy(), &self.own_addresses(), &parsed)?;
        Ok(peer_opus_wishes(&parsed))
    }

    /// Records what the peer's applied description asks of our Opus.
    fn note_opus_wishes(&self, wishes: OpusWishes) {
        self.audio
            .peer_wants_fec
            .store(wishes.inband_fec, Ordering::Release);
        self.audio
            .peer_wants_dtx
            .store(wishes.dtx, Ordering::Release);
    }

    /// Applies the rules of `mode` from now on (both users agreed to switch): candidates
    /// are filtered and checked under them, and the next ICE gathering (the restart that
    /// follows a switch) uses its transport policy and servers.
    pub async fn set_mode(&self, mode: PrivacyMode) -> Result<(), PeerError> {
        let policy = ModePolicy::for_mode(mode);
        if policy.requires_proxy != self.policy().requires_proxy {
            return Err(PeerError::ParanoidSwitch);
        }
        if policy.relay_only && self.network.turn_servers.is_empty() {
            return Err(SetupFailure::NoTurnServer(mode).into());
        }
        // The stricter rules apply to candidates at once, even before the restart.
        *self.policy.write().unwrap_or_else(PoisonError::into_inner) = policy.clone();
        self.pc
            .set_configuration(ice_configuration(&policy, &self.network))
            .await?;
        Ok(())
    }

    /// Creates our offer (with fresh ICE credentials when `restart_ice`) and sets it as
    /// the local description. Candidates follow as [`PeerEvent::Candidate`].
    pub async fn create_offer(&self, restart_ice: bool) -> Result<String, PeerError> {
        if restart_ice {
            self.pc.restart_ice().await?;
        }
        let offer = self.pc.create_offer(None).await?;
        let sdp = self.outgoing(&offer.sdp)?;
        self.pc.set_local_description(offer).await?;
        Ok(sdp)
    }

    /// Applies the peer's offer (first or renegotiated) and returns our answer.
    pub async fn answer(&self, remote_offer: &str) -> Result<String, PeerError> {
        let offer =
            RTCSessionDescription::offer(remote_offer.to_owned()).map_err(|_| PeerError::BadSdp)?;
        let wishes = self.check_remote(&offer)?;
        self.pc.set_remote_description(offer).await?;
        self.note_opus_wishes(wishes);
        let answer = self.pc.create_answer(None).await?;
        let sdp = self.outgoing(&answer.sdp)?;
        self.pc.set_local_description(answer).await?;
        self.refresh_payload_types().await;
        Ok(sdp)
    }

    /// Applies the peer's answer to our offer.
    pub async fn apply_answer(&self, remote_answer: &str) -> Result<(), PeerError> {
        let answer = RTCSessionDescription::answer(remote_answer.to_owned())
            .map_err(|_| PeerError::BadSdp)?;
        let wishes = self.check_remote(&answer)?;
        self.pc.set_remote_description(answer).await?;
        self.note_opus_wishes(wishes);
        self.refresh_payload_types().await;
        Ok(())
    }

    /// Adds the peer's candidates. Each one the mode forbids, or that points at this
    /// machine, is refused, reported, and never reaches ICE; the others are added.
    pub async fn add_remote_candidates(&self, candidates: &[IceCandidate]) -> Vec<PeerError> {
        let mut errors = Vec::new();
        let policy = self.remote_policy();
        let own = self.own_addresses();
        for candidate in candidates {
            if candidate.candidate.is_empty() {
                continue; // end-of-candidates marker
            }
            match inbound_candidate(&policy, &own, candidate) {
                Ok(init) => {
                    if let Err(e) = self.pc.add_ice_candidate(init).await {
                        errors.push(PeerError::Webrtc(e));
                    }
                }
                Err(violation) => errors.push(PeerError::Policy(violation)),
            }
        }
        errors
    }

    /// A snapshot of the connection's figures.
    pub async fn stats(&self) -> PeerStats {
        let report = self
            .pc
            .get_stats(Instant::now(), webrtc::peer_connection::StatsSelector::None)
            .await;
        let mut stats = PeerStats::from_report(&report);
        stats.target_bitrate_bps =
            f64::from_bits(self.target_bitrate.load(Ordering::Relaxed)) as u64;
        stats
    }

    /// Closes the connection (sockets released, DTLS close sent).
    pub async fn close(&self) {
        if let Err(e) = self.pc.close().await {
            // webrtc-rs's text may name addresses: logged through `log_text` only.
            tracing::debug!(error = %PeerError::Webrtc(e).log_text(), "peer connection close");
        }
    }

    async fn refresh_payload_types(&self) {
        self.audio.refresh_payload_type().await;
        self.screen.refresh_payload_type().await;
        if let Some(video) = &self.video {
            video.refresh_payload_type().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Logs carry no payload (DESIGN.md section 3): webrtc-rs's messages may quote SDP
    /// lines and candidates, and with them addresses.
    #[test]
    fn peer_error_logs_never_quote_sdp_or_addresses() {
        let quoting = webrtc::error::Error::Other(
            "bad line: a=candidate:1 1 udp 2130706431 192.0.2.7 50000 typ host".to_owned(),
        );
        let errors = [
            PeerError::Webrtc(quoting),
            PeerError::BadSdp,
            PeerError::Setup(SetupFailure::NoTurnServer(PrivacyMode::Private)),
        ];
        for error in errors {
            let logged = error.log_text();
            assert!(!logged.contains("192.0.2.7"), "{logged}");
            assert!(!logged.contains("candidate"), "{logged}");
        }
    }

    #[test]
    fn webrtc_rs_logs_stay_off_whatever_level_the_user_asks() {
        assert_eq!(log_filter(""), "rtc=off,webrtc=off");
        assert_eq!(
            log_filter("debug,rtc_ice=trace,webrtc::peer_connection,calling=trace,"),
            "debug,calling=trace,rtc=off,webrtc=off"
        );
    }
}
