//! What the benches share: a calling side on a relay, and the mouth-to-ear measure.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use calling::peer::NetworkConfig;
use calling::{CallEngine, EngineConfig, EngineSetup, FilterChoice, SyntheticDevices};
use nostr_signal::{Identity, NostrTransport, NostrTransportConfig, PublicKey, RelayUrl};
use phantomcall_schemas::{DeviceId, PrivacyMode};

/// One device of the bench: engine, synthetic devices (with their probes), transport.
pub struct Side {
    pub engine: CallEngine,
    pub devices: SyntheticDevices,
    pub transport: Arc<NostrTransport>,
    pub key: PublicKey,
}

/// How a bench side is set up.
pub struct SideOptions {
    /// Frequency of its tone.
    pub tone: f32,
    /// Tone bursts (for mouth-to-ear) instead of a steady tone.
    pub bursts: bool,
    /// Its camera's privacy filter.
    pub filter: FilterChoice,
    /// Sockets and servers.
    pub network: NetworkConfig,
    /// SOCKS5 proxy for its relay connections.
    pub proxy: Option<SocketAddr>,
}

impl SideOptions {
    /// A loopback side with a steady tone and an all-black camera.
    pub fn tone(tone: f32) -> Self {
        Self {
            tone,
            bursts: false,
            filter: FilterChoice::AllBlack,
            network: NetworkConfig::loopback(),
            proxy: None,
        }
    }
}

/// A side on `relay` that lets strangers ring (the benches' sides know no contacts).
pub async fn side(relay: &RelayUrl, options: SideOptions) -> Side {
    let id = Identity::generate();
    let mut config = NostrTransportConfig::new(vec![relay.clone()]);
    config.dm_relay_lookup_timeout = Duration::from_millis(500);
    config.proxy = options.proxy;
    let transport = Arc::new(NostrTransport::connect(id.clone(), config).await.unwrap());
    transport.publish_dm_relays().await.unwrap();
    let mut devices = SyntheticDevices::new(options.tone);
    devices.filter = options.filter;
    if options.bursts {
        devices.bursts = Some((Duration::from_millis(400), Duration::from_millis(100)));
    }
    let mut engine_config = EngineConfig::new(id.public_key(), DeviceId::new_random());
    engine_config.allow_strangers = true;
    // The benches call in every mode between identities that do not know each other.
    engine_config.stranger_mode = PrivacyMode::Fast;
    engine_config.default_mode = PrivacyMode::Fast;
    let engine = CallEngine::start(EngineSetup {
        transport: transport.clone(),
        config: engine_config,
        network: options.network,
        devices: Arc::new(devices.clone()),
    });
    Side {
        engine,
        devices,
        transport,
        key: id.public_key(),
    }
}

/// Mouth-to-ear latencies (ms): each tone burst heard at `receiver`'s speaker against the
/// burst `sender`'s tone source started last before it. Bursts come every 400 ms, so
/// anything later than 200 ms belongs to no burst of ours.
pub fn mouth_to_ear(sender: &SyntheticDevices, receiver: &SyntheticDevices) -> Vec<f64> {
    let captured: Vec<Instant> = sender
        .probes
        .burst_logs()
        .iter()
        .flat_map(|log| log.onsets())
        .collect();
    let mut latencies = Vec::new();
    for speaker in receiver.probes.speakers() {
        for played in speaker.onsets() {
            if let Some(cap) = captured.iter().filter(|c| **c <= played).max() {
                let ms = played.duration_since(*cap).as_secs_f64() * 1000.0;
                if ms < 200.0 {
                    latencies.push(ms);
                }
            }
        }
    }
    latencies
}

/// Answers every call that rings at `bob`, with video when offered.
pub fn auto_answer(bob: &Side) -> tokio::task::JoinHandle<()> {
    let engine = bob.engine.clone();
    let mut events = bob.engine.events();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(calling::EngineEvent::Call(e))
                    if e.state == calling::CallState::Ringing
                        && e.direction == calling::Direction::Incoming =>
                {
                    engine.accept(
                        e.call_id,
                        e.call_type == phantomcall_schemas::CallType::Video,
                    );
                }
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
    })
}
