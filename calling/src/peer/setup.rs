//! Building a peer connection: the mDNS address, the proxied network, the ICE
//! configuration of a mode, the codecs and our tracks.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU16};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::MediaStreamTrack;
use webrtc::peer_connection::{
    PeerConnection, RTCConfigurationBuilder, RTCIceServer, RTCIceTransportPolicy,
};

use crate::policy::ModePolicy;
use crate::proxy::{TurnServerAddr, TurnTcpBridge};

use super::track::NO_PAYLOAD_TYPE;
use super::{audio_rtp, LocalTrack, NetworkConfig, PeerError, SetupFailure, TurnServer};

/// The one address whose host candidate is announced as an mDNS name, when the mode
/// sends host candidates and the settings ask for it: the configured IPv4 bind address,
/// or, for "every interface", the one the default route leaves from. `None` (addresses
/// as they are) on loopback, or without an IPv4 route.
pub(super) fn mdns_address(policy: &ModePolicy, network: &NetworkConfig) -> Option<IpAddr> {
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
pub(super) fn default_route_ipv4() -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    // TEST-NET-2 (RFC 5737): routed like any outside address, owned by nobody.
    socket.connect((Ipv4Addr::new(198, 51, 100, 1), 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

/// Paranoid mode's network: one loopback bridge per TURN server, through the proxy, and
/// webrtc-rs's sockets bound to loopback so that no packet of the call can leave the
/// machine except through the proxy, whatever ICE would like to try.
pub(super) async fn proxied_network(
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

/// ICE servers and transport policy of `policy`: STUN only in modes that allow it (and
/// only the user's own), TURN always, relay-only where the mode says so.
pub(super) fn ice_configuration(
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

pub(super) fn opus_codec() -> RTCRtpCodec {
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

pub(super) fn vp8_codec() -> RTCRtpCodec {
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

pub(super) async fn add_track(
    pc: &Arc<dyn PeerConnection>,
    kind: RtpCodecKind,
    name: &str,
    codec: RTCRtpCodec,
) -> Result<LocalTrack, PeerError> {
    let ssrc = fastrand::u32(1..);
    // Unique per connection, never the peer's (see `AUDIO_TRACK_ID`).
    let track_id = format!("{name}-{:08x}", fastrand::u32(..));
    let track = Arc::new(TrackLocalStaticSample::new(
        Instant::now(),
        MediaStreamTrack::new(
            "phantomcall".to_owned(),
            track_id,
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
