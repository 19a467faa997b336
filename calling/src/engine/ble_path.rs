//! A 1:1 call's way out when there is no IP path: voice over a direct Bluetooth LE
//! connection ([`crate::ble_voice`]), keyed by shares that ride in the offer and answer.
//!
//! With a mesh, every offer (and the answer to an offer that had one) carries our
//! ephemeral share as an SDP session attribute; the peer's share agrees the keys. When the
//! IP path has not come up within the ICE failure timeout of the keys being agreed, or
//! the call would end because its path failed, the session moves the call to Bluetooth:
//! voice only, end-to-end encrypted by these keys, and it stays there (the IP path is no
//! longer watched, so a path that comes back does not pull the call in two directions).
//!
//! It never sends audio without agreed keys, never takes a second call onto the radio
//! (voice packets are not addressed to calls), and never changes a restart offer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nostr_signal::ble_fallback::MeshNode;
use phantomcall_schemas::CallId;

use crate::ble_voice::{self, BleVoiceCall, BleVoiceConfig, BleVoiceKeys, Role};
use crate::devices::MediaDevices;
use crate::pipeline::Controls;

/// The radio an engine may carry one voice call on.
#[derive(Clone)]
pub(crate) struct BleVoiceRadio {
    mesh: Arc<MeshNode>,
    /// A call is on the radio (one at a time).
    busy: Arc<AtomicBool>,
}

impl BleVoiceRadio {
    pub(crate) fn new(mesh: Arc<MeshNode>) -> Self {
        Self {
            mesh,
            busy: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// The radio taken by one call; dropping it frees the radio, however the call ends.
struct RadioClaim(Arc<AtomicBool>);

impl Drop for RadioClaim {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Why the call could not move to Bluetooth.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BlePathError {
    #[error("another call is using Bluetooth voice")]
    Busy,
    #[error(transparent)]
    Voice(#[from] ble_voice::BleVoiceError),
}

/// One call's Bluetooth voice path, from its shares to the running call.
pub(crate) struct BlePath {
    radio: BleVoiceRadio,
    call_id: String,
    role: Role,
    our_share: [u8; 32],
    /// Our key pair until the peer's share arrives.
    ours: Option<BleVoiceKeys>,
    /// The agreed keys until the call moves over, and when they were agreed.
    agreed: Option<(ble_voice::SessionKeys, Instant)>,
    /// We sent our share (the peer can agree too).
    shared: bool,
    /// The running call and its hold on the radio (dropped after the call).
    running: Option<(BleVoiceCall, RadioClaim)>,
}

impl BlePath {
    pub(crate) fn new(radio: BleVoiceRadio, call_id: CallId, is_caller: bool) -> Self {
        let ours = BleVoiceKeys::generate();
        Self {
            radio,
            call_id: call_id.to_string(),
            role: if is_caller {
                Role::Caller
            } else {
                Role::Callee
            },
            our_share: ours.public_share(),
            ours: Some(ours),
            agreed: None,
            shared: false,
            running: None,
        }
    }

    /// Our first offer, or our answer to an offer that carried a share: `sdp` with our
    /// share added. Anything else is left as it is.
    pub(crate) fn add_share(&mut self, sdp: String) -> String {
        let answer_without_share = self.role == Role::Callee && self.agreed.is_none();
        if self.shared || answer_without_share {
            return sdp;
        }
        self.shared = true;
        with_session_attribute(&sdp, &ble_voice::encode_sdp_attribute(&self.our_share))
    }

    /// The peer's offer or answer: agrees the keys when it carries a share. A share that
    /// does not parse or agree leaves the call without a Bluetooth path (and says so in
    /// the log): the IP path is unaffected.
    pub(crate) fn on_peer_sdp(&mut self, sdp: &str, now: Instant) {
        let Some(ours) = self.ours.take() else {
            return; // agreed already: a restart's description
        };
        match ble_voice::find_sdp_attribute(sdp) {
            Ok(Some(share)) => match ours.agree(&share, &self.call_id, self.role) {
                Ok(keys) => self.agreed = Some((keys, now)),
                Err(error) => {
                    tracing::info!(%error, "the peer's Bluetooth voice share was refused")
                }
            },
            Ok(None) => {}
            Err(error) => tracing::info!(%error, "the peer's Bluetooth voice share was refused"),
        }
    }

    /// When the call should move to Bluetooth if its IP path has not come up by then.
    pub(crate) fn due(&self, ice_failed_timeout: Duration) -> Option<Instant> {
        match (&self.agreed, &self.running) {
            (Some((_, at)), None) if self.shared => Some(*at + ice_failed_timeout),
            _ => None,
        }
    }

    /// Both shares are exchanged: the call can move to Bluetooth.
    pub(crate) fn ready(&self) -> bool {
        self.shared && self.agreed.is_some() && self.running.is_none()
    }

    /// The call runs over Bluetooth.
    pub(crate) fn running(&self) -> bool {
        self.running.is_some()
    }

    /// Moves the call's voice to Bluetooth, with the call's microphone and speaker.
    pub(crate) fn start(
        &mut self,
        devices: &dyn MediaDevices,
        controls: Arc<Controls>,
    ) -> Result<(), BlePathError> {
        let Some((keys, _)) = self.agreed.take() else {
            return Ok(());
        };
        if self.radio.busy.swap(true, Ordering::SeqCst) {
            return Err(BlePathError::Busy);
        }
        let claim = RadioClaim(self.radio.busy.clone());
        match BleVoiceCall::start_on_devices(
            self.radio.mesh.clone(),
            None,
            keys,
            BleVoiceConfig::default(),
            devices,
            Some(controls),
        ) {
            Ok(call) => {
                self.running = Some((call, claim));
                Ok(())
            }
            // The claim drops here: the radio is free again.
            Err(error) => Err(error.into()),
        }
    }

    /// Ends the Bluetooth call, if one runs, and frees the radio.
    pub(crate) async fn stop(mut self) {
        if let Some((call, claim)) = self.running.take() {
            let stats = call.stats();
            tracing::info!(
                sent = stats.sender.packets,
                played = stats.receiver.played,
                rebuilt = stats.receiver.from_redundancy,
                concealed = stats.receiver.concealed,
                "Bluetooth voice call ended"
            );
            call.stop().await;
            drop(claim);
        }
    }
}

/// `sdp` with `attribute` (an `a=` line without line ending) added at session level,
/// before the first media section, in the description's own line ending.
fn with_session_attribute(sdp: &str, attribute: &str) -> String {
    let eol = if sdp.contains("\r\n") { "\r\n" } else { "\n" };
    let line = format!("{attribute}{eol}");
    match sdp.find(&format!("{eol}m=")) {
        Some(at) => {
            let at = at + eol.len();
            format!("{}{line}{}", &sdp[..at], &sdp[at..])
        }
        None if sdp.ends_with(eol) => format!("{sdp}{line}"),
        None => format!("{sdp}{eol}{line}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_radio_is_free_again_however_the_call_ends() {
        let busy = Arc::new(AtomicBool::new(true));
        let claim = RadioClaim(busy.clone());
        assert!(busy.load(Ordering::SeqCst));
        // A task cancelled mid-call drops its claim without `stop` ever running.
        let running = Some(claim);
        drop(running);
        assert!(!busy.load(Ordering::SeqCst));
    }

    #[test]
    fn the_share_goes_before_the_first_media_section() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n";
        let with = with_session_attribute(sdp, "a=x-test:1");
        assert_eq!(
            with,
            "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=x-test:1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"
        );
        assert_eq!(
            with_session_attribute("v=0\ns=-\n", "a=x"),
            "v=0\ns=-\na=x\n"
        );
    }
}
