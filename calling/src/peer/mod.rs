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
mod opus_params;
mod paced_runtime;
mod pacing;
mod stats;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use phantomcall_schemas::{IceCandidate, PrivacyMode};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{
    BandwidthEstimator, EstimatorStats, Gcc, NackGeneratorBuilder, PacketReport, Slot,
};
use rtc::media::Sample;
use rtc::peer_connection::configuration::interceptor_registry::{
    configure_congestion_control, register_default_interceptors, CongestionFeedback,
};
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::mpsc::UnboundedSender;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::media_stream::MediaStreamTrack;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceConnectionState, RTCIceServer, RTCIceTransportPolicy,
    RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSessionDescription, Registry,
    SettingEngineBuilder,
};
use webrtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit, RtpSender};
use webrtc::runtime::TokioRuntime;

pub use opus_params::{peer_opus_wishes, OpusWishes};
use paced_runtime::{PacedRuntime, RELAYED_MAX_SLEEP};

use crate::pipeline::transform::{FrameKind, FrameTransform};
use crate::policy::{ModePolicy, OwnAddresses, PolicyViolation};
use crate::proxy::{TurnServerAddr, TurnTcpBridge};

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

/// One of our outgoing tracks, with what a pipeline needs to write encoded frames to it.
#[derive(Clone)]
pub struct LocalTrack {
    track: Arc<TrackLocalStaticSample>,
    /// What each frame passes before it is packetized (none: sent as encoded).
    transform: Option<(FrameKind, Arc<dyn FrameTransform>)>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
    /// Negotiated payload type; `NO_PAYLOAD_TYPE` until negotiation settles it.
    payload_type: Arc<AtomicU16>,
    /// The peer's description asks for Opus in-band FEC (audio only; false until it is
    /// applied).
    peer_wants_fec: Arc<AtomicBool>,
    /// The peer's description accepts Opus DTX (`usedtx=1`; audio only).
    peer_wants_dtx: Arc<AtomicBool>,
    /// Numbering of audio packets written with [`LocalTrack::write_audio`].
    audio_clock: Arc<Mutex<audio_rtp::AudioRtpClock>>,
}

const NO_PAYLOAD_TYPE: u16 = u16::MAX;

/// Track ids (the SDP's `a=msid`), which tell the peer what each of our tracks carries:
/// the camera and the screen share are both VP8 video, and m-lines may pair up in any order.
pub const AUDIO_TRACK_ID: &str = "audio";
/// See [`AUDIO_TRACK_ID`].
pub const CAMERA_TRACK_ID: &str = "video";
/// See [`AUDIO_TRACK_ID`].
pub const SCREEN_TRACK_ID: &str = "screen";

impl LocalTrack {
    /// This track with every frame passing `transform` as a `kind` frame before it is
    /// packetized.
    pub fn with_transform(mut self, kind: FrameKind, transform: Arc<dyn FrameTransform>) -> Self {
        self.transform = Some((kind, transform));
        self
    }

    /// Writes one encoded frame (Opus packet or VP8 frame). Before negotiation settles
    /// the payload type, or when the frame transform refuses it, the frame is dropped
    /// (returns false).
    pub async fn write(
        &self,
        data: Vec<u8>,
        captured_at: Instant,
        duration: Duration,
    ) -> Result<bool, PeerError> {
        let pt = self.payload_type.load(Ordering::Acquire);
        if pt == NO_PAYLOAD_TYPE {
            return Ok(false);
        }
        let data = match &self.transform {
            Some((kind, transform)) => match transform.outgoing(*kind, data) {
                Ok(data) => data,
                Err(e) => {
                    tracing::debug!(error = %e, "frame not sent");
                    return Ok(false);
                }
            },
            None => data,
        };
        let sample = Sample {
            data: data.into(),
            duration,
            ..Sample::new(captured_at)
        };
        self.track
            .sample_writer(self.ssrc, pt as u8)
            .write_sample(&sample)
            .await?;
        Ok(true)
    }

    /// Whether the peer's description asks for Opus in-band FEC (`useinbandfec=1`): the
    /// audio sender adds it only then.
    pub fn peer_wants_fec(&self) -> bool {
        self.peer_wants_fec.load(Ordering::Acquire)
    }

    /// Whether the peer's description accepts Opus DTX (`usedtx=1`): the audio sender then
    /// sends nothing during silence.
    pub fn peer_wants_dtx(&self) -> bool {
        self.peer_wants_dtx.load(Ordering::Acquire)
    }

    /// Writes one Opus packet of `samples_per_frame` (48 kHz units) as one RTP packet,
    /// after `unsent` frames that were not sent (DTX): their time passes in the
    /// timestamp, not in the sequence. Dropped (false) before negotiation or when the
    /// frame transform refuses it, as [`LocalTrack::write`]. An audio track is written
    /// only through this method.
    pub async fn write_audio(
        &self,
        data: Vec<u8>,
        unsent: u32,
        samples_per_frame: u32,
    ) -> Result<bool, PeerError> {
        let pt = self.payload_type.load(Ordering::Acquire);
        if pt == NO_PAYLOAD_TYPE {
            return Ok(false);
        }
        let data = match &self.transform {
            Some((kind, transform)) => match transform.outgoing(*kind, data) {
                Ok(data) => data,
                Err(e) => {
                    tracing::debug!(error = %e, "frame not sent");
                    return Ok(false);
                }
            },
            None => data,
        };
        let packet = self
            .audio_clock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .packet(data, unsent, samples_per_frame, pt as u8, self.ssrc);
        self.track.write_rtp(packet).await?;
        Ok(true)
    }

    /// Whether negotiation gave this track a payload type (a peer whose app does not know
    /// the screen-share track leaves it unnegotiated).
    pub fn is_negotiated(&self) -> bool {
        self.payload_type.load(Ordering::Acquire) != NO_PAYLOAD_TYPE
    }

    async fn refresh_payload_type(&self) {
        if let Ok(params) = self.sender.get_parameters().await {
            if let Some(codec) = params.rtp_parameters.codecs.first() {
                self.payload_type
                    .store(u16::from(codec.payload_type), Ordering::Release);
            }
        }
    }
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

/// ICE servers and transport policy of `policy`: STUN only in modes that allow it (and
/// only the user's own), TURN always, relay-only where the mode says so.
/// The one address whose host candidate is announced as an mDNS name, when the mode
/// sends host candidates and the settings ask for it: the configured IPv4 bind address,
/// or, for "every interface", the one the default route leaves from. `None` (addresses
/// as they are) on loopback, or without an IPv4 route.
fn mdns_address(policy: &ModePolicy, network: &NetworkConfig) -> Option<IpAddr> {
    if policy.relay_only || !network.mdns_host_candidates || network.bind_ip.is_loopback() {
        return None;
    }
    match network.bind_ip {
        IpAddr::V4(ip) if ip.is_unspecified() => default_route_ipv4(),
        IpAddr::V4(ip) => Some(IpAddr::V4(ip)),
        IpAddr::V6(_) => None,
    }
}

/// The local IPv4 address of the default route. Connecting a UDP socket only looks the
/// route up: nothing is sent.
fn default_route_ipv4() -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    // TEST-NET-2 (RFC 5737): routed like any outside address, owned by nobody.
    socket.connect((Ipv4Addr::new(198, 51, 100, 1), 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

/// Paranoid mode's network: one loopback bridge per TURN server, through the proxy, and
/// webrtc-rs's sockets bound to loopback so that no packet of the call can leave the
/// machine except through the proxy, whatever ICE would like to try.
async fn proxied_network(
    network: &NetworkConfig,
) -> Result<(NetworkConfig, Vec<TurnTcpBridge>), PeerError> {
    let proxy = network.socks5_proxy.ok_or(SetupFailure::NoMediaProxy)?;
    let loopback = if network.bind_ip.is_loopback() {
        network.bind_ip
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    };
    let mut bridges = Vec::new();
    let mut turn_servers = Vec::new();
    for turn in &network.turn_servers {
        let server = TurnServerAddr::parse(&turn.url)?;
        let bridge =
            TurnTcpBridge::start(proxy, server, loopback, network.proxy_connect_timeout).await?;
        turn_servers.push(TurnServer {
            url: bridge.turn_url(),
            ..turn.clone()
        });
        bridges.push(bridge);
    }
    let proxied = NetworkConfig {
        bind_ip: loopback,
        stun_servers: Vec::new(),
        turn_servers,
        ..network.clone()
    };
    Ok((proxied, bridges))
}

fn ice_configuration(
    policy: &ModePolicy,
    network: &NetworkConfig,
) -> webrtc::peer_connection::RTCConfiguration {
    let mut ice_servers = Vec::new();
    if !policy.relay_only && !network.stun_servers.is_empty() {
        ice_servers.push(RTCIceServer {
            urls: network.stun_servers.clone(),
            ..Default::default()
        });
    }
    for turn in &network.turn_servers {
        ice_servers.push(RTCIceServer {
            urls: vec![turn.url.clone()],
            username: turn.username.clone(),
            credential: turn.credential.clone(),
        });
    }
    let transport_policy = if policy.relay_only {
        RTCIceTransportPolicy::Relay
    } else {
        RTCIceTransportPolicy::All
    };
    RTCConfigurationBuilder::new()
        .with_ice_servers(ice_servers)
        .with_ice_transport_policy(transport_policy)
        .build()
}

fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        // SDP always says opus/48000/2; we send mono (RFC 7587 section 7).
        channels: 2,
        // DTX: our playout buffer plays comfort noise through a sender's silence.
        sdp_fmtp_line: "minptime=10;useinbandfec=1;usedtx=1".to_owned(),
        rtcp_feedback: Vec::new(),
    }
}

fn vp8_codec() -> RTCRtpCodec {
    let feedback = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    };
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![feedback("nack", ""), feedback("nack", "pli")],
    }
}

async fn add_track(
    pc: &Arc<dyn PeerConnection>,
    kind: RtpCodecKind,
    name: &str,
    codec: RTCRtpCodec,
) -> Result<LocalTrack, PeerError> {
    let ssrc = fastrand::u32(1..);
    let track = Arc::new(TrackLocalStaticSample::new(
        Instant::now(),
        MediaStreamTrack::new(
            "phantomcall".to_owned(),
            name.to_owned(),
            name.to_owned(),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec,
                ..Default::default()
            }],
        ),
    )?);
    let sender = pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
    Ok(LocalTrack {
        transform: None,
        track,
        sender,
        ssrc,
        payload_type: Arc::new(AtomicU16::new(NO_PAYLOAD_TYPE)),
        peer_wants_fec: Arc::new(AtomicBool::new(false)),
        peer_wants_dtx: Arc::new(AtomicBool::new(false)),
        audio_clock: Arc::new(Mutex::new(audio_rtp::AudioRtpClock::new())),
    })
}

/// Forwards webrtc-rs callbacks to the call's channel; gathered candidates pass the
/// mode's policy here, before anything else can see them.
struct Handler {
    events: UnboundedSender<PeerEvent>,
    policy: Arc<RwLock<ModePolicy>>,
    hide_related_address: bool,
    candidate_mid: Arc<RwLock<Option<String>>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let event = match event.candidate.to_json() {
            Ok(mut init) => {
                let policy = self
                    .policy
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                // webrtc-rs gives an empty mid; peers look the section up by it.
                init.sdp_mid = self
                    .candidate_mid
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                init.sdp_mline_index = Some(0);
                match outbound_candidate(&policy, self.hide_related_address, init) {
                    Ok(candidate) => PeerEvent::Candidate(candidate),
                    Err(violation) => PeerEvent::CandidateWithheld(violation),
                }
            }
            Err(_) => {
                tracing::debug!("gathered candidate does not serialise");
                return;
            }
        };
        let _ = self.events.send(event);
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        let _ = self.events.send(PeerEvent::IcePath(state.into()));
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.events.send(PeerEvent::State(state.into()));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let kind = track.kind().await;
        // A peer names its screen share `screen`; a conference SFU names the copies it
        // forwards `screen-<publisher>`.
        let screen = kind == RtpCodecKind::Video && {
            let id = track.track_id().await;
            id == SCREEN_TRACK_ID || id.starts_with("screen-")
        };
        let kind = match kind {
            RtpCodecKind::Audio => RemoteKind::Audio,
            RtpCodecKind::Video if screen => RemoteKind::Screen,
            RtpCodecKind::Video => RemoteKind::Camera,
            _ => return,
        };
        let _ = self.events.send(PeerEvent::RemoteTrack(track, kind));
    }
}

/// GCC's target, published where the video pipeline reads it.
struct ReportingEstimator<E: BandwidthEstimator> {
    inner: E,
    target: Arc<AtomicU64>,
}

impl<E: BandwidthEstimator> ReportingEstimator<E> {
    fn new(inner: E) -> (Self, Arc<AtomicU64>) {
        let target = Arc::new(AtomicU64::new(inner.target_bitrate().to_bits()));
        (
            Self {
                inner,
                target: target.clone(),
            },
            target,
        )
    }

    fn publish(&self) {
        self.target
            .store(self.inner.target_bitrate().to_bits(), Ordering::Relaxed);
    }
}

impl<E: BandwidthEstimator> BandwidthEstimator for ReportingEstimator<E> {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.inner.on_reports(now, reports);
        self.publish();
    }

    fn target_bitrate(&self) -> f64 {
        self.inner.target_bitrate()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
        self.publish();
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }

    fn stats(&self) -> EstimatorStats {
        self.inner.stats()
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
