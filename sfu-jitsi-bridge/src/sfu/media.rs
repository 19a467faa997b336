//! How the SFU's peer connections are built: codecs (labels only: the SFU never decodes),
//! the audio-level header extension, the interceptor chain and the network settings.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, Registry, SettingEngineBuilder,
};

use super::SfuConfig;

/// RTP payload type of Opus, as the PhantomCall client offers it.
pub const OPUS_PAYLOAD_TYPE: u8 = 111;
/// RTP payload type of VP8, as the PhantomCall client offers it.
pub const VP8_PAYLOAD_TYPE: u8 = 96;
/// The RFC 6464 client-to-mixer audio level header extension.
pub const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

/// Opus as negotiated: the SFU only labels the stream with it. `usedtx=1` tells senders
/// they may stop sending in silence (DTX): the SFU forwards what comes, and a silent
/// participant then costs the room a few packets a second instead of fifty.
pub fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1;usedtx=1".to_owned(),
        rtcp_feedback: Vec::new(),
    }
}

/// VP8 as negotiated, with NACK and PLI feedback (the SFU relays keyframe requests).
pub fn vp8_codec() -> RTCRtpCodec {
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

/// Opus and VP8 with the audio-level extension, and the default interceptors (NACK,
/// reports) plus [`keyframe_requests::KeyframeRequestsToApp`], last in the chain.
pub fn media_engine_and_registry() -> Result<(MediaEngine, Registry), webrtc::error::Error> {
    let mut media_engine = MediaEngine::default();
    media_engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus_codec(),
            payload_type: OPUS_PAYLOAD_TYPE,
        },
        RtpCodecKind::Audio,
    )?;
    media_engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: vp8_codec(),
            payload_type: VP8_PAYLOAD_TYPE,
        },
        RtpCodecKind::Video,
    )?;
    media_engine.register_header_extension(
        RTCRtpHeaderExtensionCapability {
            uri: AUDIO_LEVEL_URI.to_owned(),
        },
        RtpCodecKind::Audio,
        None,
    )?;
    let registry =
        webrtc::peer_connection::register_default_interceptors(Registry::new(), &mut media_engine)?;
    // Application-most, so every interceptor has seen the whole inbound RTCP first.
    let registry = registry.with(
        keyframe_requests::slot(),
        keyframe_requests::KeyframeRequestsToApp::default(),
    );
    Ok((media_engine, registry))
}

/// Builds one of the SFU's peer connections, bound to `bind` (one UDP socket).
pub async fn build_peer_connection(
    config: &SfuConfig,
    bind: SocketAddr,
    handler: Arc<dyn PeerConnectionEventHandler>,
) -> Result<Arc<dyn PeerConnection>, webrtc::error::Error> {
    let (media_engine, registry) = media_engine_and_registry()?;
    let setting_engine = SettingEngineBuilder::new()
        .with_include_loopback_candidate(bind.ip().is_loopback())
        // No mDNS: a server announces its address as it is, and opens no multicast socket.
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .with_ice_connection_attempts(Some(Duration::from_millis(50)), Some(28))
        .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
        .with_ice_timeouts(
            Some(config.ice_disconnected_timeout),
            Some(config.ice_failed_timeout),
            Some(Duration::from_millis(500)),
        )
        .build();
    // No STUN or TURN: the SFU's address is configured, not discovered.
    let rtc_config = RTCConfigurationBuilder::new().build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(rtc_config)
        .with_media_engine(media_engine)
        .with_interceptor_registry(registry)
        .with_setting_engine(setting_engine)
        .with_runtime(Arc::new(webrtc::runtime::TokioRuntime))
        .with_handler(handler)
        .with_udp_addrs(vec![bind])
        .build()
        .await?;
    Ok(Arc::new(pc))
}

/// The id an SDP gives the audio-level extension (`a=extmap:<id> <uri>`), if it has it.
/// Reads only `a=extmap` lines.
pub fn audio_level_id(sdp: &str) -> Option<u8> {
    sdp.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("a=extmap:")?;
        let (id, uri) = rest.split_once(' ')?;
        let id = id.split('/').next()?;
        (uri.trim() == AUDIO_LEVEL_URI).then(|| id.parse().ok())?
    })
}

/// The first media section's id (`a=mid:`), which trickled candidates carry.
pub fn first_mid(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|line| line.trim().strip_prefix("a=mid:").map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_audio_level_id_and_the_first_mid_from_sdp_lines() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n\
                   a=extmap:3 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n\
                   a=extmap:5/sendrecv urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
                   m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n";
        assert_eq!(audio_level_id(sdp), Some(5));
        assert_eq!(first_mid(sdp).as_deref(), Some("0"));
        assert_eq!(audio_level_id("v=0\r\n"), None);
    }
}
