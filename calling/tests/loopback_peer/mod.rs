//! A peer connection set-up for tests that wire two webrtc-rs connections by hand.

use calling::peer::{NetworkConfig, PeerSetup};
use phantomcall_schemas::PrivacyMode;

/// Fast mode on loopback, audio only.
pub fn fast_audio_on_loopback() -> PeerSetup {
    PeerSetup {
        mode: PrivacyMode::Fast,
        send_video: false,
        receive_video: false,
        network: NetworkConfig::loopback(),
        signaling_hides_address: false,
    }
}
