//! What the benches share: a calling side on a relay, and the mouth-to-ear measure.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use calling::client::{self, Callers, ClientSetup};
use calling::peer::NetworkConfig;
use calling::{CallEngine, FilterChoice, SyntheticDevices};
use nostr_signal::{Identity, NostrTransport, NostrTransportConfig, PublicKey, RelayUrl};

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
    let mut config = NostrTransportConfig::new(vec![relay.clone()]);
    config.dm_relay_lookup_timeout = Duration::from_millis(500);
    config.proxy = options.proxy;
    let mut devices = SyntheticDevices::new(options.tone);
    devices.filter = options.filter;
    if options.bursts {
        devices.bursts = Some((Duration::from_millis(400), Duration::from_millis(100)));
    }
    let mut setup = ClientSetup::new(
        Identity::generate(),
        config,
        Arc::new(devices.clone()),
        Callers::Anyone,
    );
    setup.network = options.network;
    // The benches call in every mode between identities that do not know each other, and
    // the called side answers at once.
    setup.configure = Some(Box::new(|config: &mut calling::EngineConfig| {
        client::takes_any_mode(config);
        client::answers_everything(config);
    }));
    let client = client::connect(setup).await.unwrap();
    Side {
        engine: client.engine,
        devices,
        transport: client.transport,
        key: client.key,
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
