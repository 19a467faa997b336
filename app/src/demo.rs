//! The demo contact and the synthetic peers of the UI tests and `phantomcall demo`: a
//! second client with synthetic devices that lets anyone ring. Kept out of the GUI's
//! backend, which only runs the user's own client.

use std::sync::Arc;

use calling::client::{self, Callers, ClientError, ClientSetup};
use calling::peer::NetworkConfig;
use calling::{CallEngine, FilterChoice, MediaDevices, SyntheticDevices};
use nostr_signal::{EmbeddedRelay, Identity, NostrTransport, NostrTransportConfig, RelayUrl};
use phantomcall_schemas::CallId;

/// Tone of the demo contact's synthetic microphone (the user's own synthetic tone is 440).
const DEMO_PEER_HZ: f32 = 660.0;
/// Frame rate of the demo contact's synthetic camera.
const DEMO_PEER_FPS: u32 = 12;

/// A client with synthetic devices that lets anyone ring (the other side of a call in the
/// UI tests) or answers anyone at once (the demo contact, `phantomcall demo`'s Bob).
pub struct SyntheticPeer {
    /// Its identity.
    pub identity: Identity,
    /// Its engine.
    pub engine: CallEngine,
    /// Its devices (their probes record what it heard and saw).
    pub devices: SyntheticDevices,
    /// Its signaling transport.
    pub transport: Arc<NostrTransport>,
}

/// Starts a [`SyntheticPeer`] on `relay` whose calls ring until its engine is told what to
/// do, in Fast-capable loopback networking (no TURN server on a bare machine).
pub async fn synthetic_peer(
    relay: RelayUrl,
    devices: SyntheticDevices,
) -> Result<SyntheticPeer, ClientError> {
    start_peer(relay, devices, false).await
}

/// Starts a [`SyntheticPeer`] on `relay` that answers every call at once, with video when
/// offered ([`client::answers_everything`]).
pub async fn answering_peer(
    relay: RelayUrl,
    devices: SyntheticDevices,
) -> Result<SyntheticPeer, ClientError> {
    start_peer(relay, devices, true).await
}

async fn start_peer(
    relay: RelayUrl,
    devices: SyntheticDevices,
    answers: bool,
) -> Result<SyntheticPeer, ClientError> {
    let identity = Identity::generate();
    // It does not know the user's key in advance, and takes calls in any mode: it is a
    // local test partner on loopback, not a person.
    let setup = ClientSetup {
        network: NetworkConfig::loopback(),
        configure: Some(Box::new(move |config: &mut calling::EngineConfig| {
            client::takes_any_mode(config);
            if answers {
                client::answers_everything(config);
            }
        })),
        ..ClientSetup::new(
            identity.clone(),
            NostrTransportConfig::new(vec![relay]),
            Arc::new(devices.clone()),
            Callers::Anyone,
        )
    };
    let client = client::connect(setup).await?;
    Ok(SyntheticPeer {
        identity,
        engine: client.engine,
        devices,
        transport: client.transport,
    })
}

/// The demo contact: an embedded relay on loopback and a synthetic peer on it that
/// answers every call with a synthetic camera (through the filter) and a tone.
pub struct DemoPeer {
    /// The relay the demo runs on.
    pub relay: EmbeddedRelay,
    /// The answering peer.
    pub peer: SyntheticPeer,
}

impl DemoPeer {
    /// Starts the relay and the peer with `filter` on its camera (inside a tokio runtime).
    pub async fn start(filter: FilterChoice) -> Result<DemoPeer, String> {
        let relay = EmbeddedRelay::start_on_loopback()
            .await
            .map_err(|e| format!("embedded relay: {e}"))?;
        let mut devices = SyntheticDevices::new(DEMO_PEER_HZ);
        devices.filter = filter;
        // Half the user's frame rate when it is the test pattern: the demo runs two
        // blackout filters on one machine, and a synthetic camera under 24 fps gives its
        // filter a frame interval's deadline, so a two-core laptop keeps both protected
        // rather than blacking out on missed deadlines.
        devices.video.2 = DEMO_PEER_FPS;
        // People walking past a still camera (at the clip's 10 fps), so the user sees bodies
        // blacked out and the scene kept.
        let devices = devices.with_people_clip();
        let peer = answering_peer(relay.url().clone(), devices)
            .await
            .map_err(|e| format!("demo peer: {e}"))?;
        Ok(DemoPeer { relay, peer })
    }

    /// The demo contact shares its synthetic screen (a slide deck) in `call_id`.
    pub fn share_screen(&self, call_id: CallId) {
        let targets = self.peer.devices.screen_targets().targets;
        if let Some(slides) = targets.into_iter().next() {
            self.peer.engine.start_screen_share(call_id, slides);
        }
    }

    /// Stops the peer, its transport and the relay.
    pub async fn shutdown(self) {
        self.peer.engine.shutdown().await;
        self.peer.transport.shutdown().await;
        self.relay.shutdown().await;
    }
}
