//! The hotline side of the window tests: the real voice service and people's clients on
//! the world's relay, all speaking sealed control messages.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use calling::client::{self, Callers, Client, ClientSetup};
use calling::peer::NetworkConfig;
use calling::SyntheticDevices;
use hotline::config::HotlineConfig;
use hotline::store::Store;
use hotline::voice::{VoiceService, VoiceSetup};
use nostr_signal::{Identity, NostrTransportConfig, PublicKey, RelayUrl};
use phantomcall_schemas::PrivacyMode;

/// A transport on `relay` that takes hotline control messages.
pub fn transport(relay: &RelayUrl) -> NostrTransportConfig {
    let mut config = NostrTransportConfig::new(vec![relay.clone()]);
    config.reconnect_interval = Duration::from_millis(300);
    config.dm_relay_lookup_timeout = Duration::from_millis(500);
    config.allow_local_peer_relays = true;
    config.verifier.accept_controls = true;
    config
}

/// A person's client as `identity` (Fast calls taken: loopback has no TURN server).
pub async fn person(relay: &RelayUrl, identity: Identity, tone_hz: f32) -> Client {
    let mut setup = ClientSetup::new(
        identity,
        transport(relay),
        Arc::new(SyntheticDevices::new(tone_hz)),
        Callers::Contacts(Vec::new()),
    );
    setup.network = NetworkConfig::loopback();
    setup.configure = Some(Box::new(client::takes_any_mode));
    client::connect(setup).await.expect("client online")
}

/// The "Help line" voice hotline as `identity`, with `dispatcher` enrolled, its queue in
/// `db`, lines in Fast mode.
pub async fn help_line(
    relay: &RelayUrl,
    identity: &Identity,
    dispatcher: &PublicKey,
    db: &Path,
) -> VoiceService {
    help_line_with(relay, identity, dispatcher, db, "").await
}

/// [`help_line`] with more of `hotline.toml` (queue rules) in `extra`.
pub async fn help_line_with(
    relay: &RelayUrl,
    identity: &Identity,
    dispatcher: &PublicKey,
    db: &Path,
    extra: &str,
) -> VoiceService {
    let toml = format!(
        "name = \"Help line\"\n{extra}\n[[dispatchers]]\nnpub = \"{}\"\n",
        nostr_signal::encode_npub(dispatcher)
    );
    VoiceService::start(VoiceSetup {
        config: HotlineConfig::parse(&toml).expect("hotline config"),
        identity: identity.clone(),
        transport: transport(relay),
        network: NetworkConfig::loopback(),
        mode: PrivacyMode::Fast,
        store: Store::open(db).expect("hotline store"),
        max_lines: 10,
    })
    .await
    .expect("hotline starts")
}
