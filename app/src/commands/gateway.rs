//! `phantomcall gateway serve`: the phone gateway as a service. SIP trunks on one side
//! (`gateway.toml`: trunks, DIDs, rules, enrolled users), this identity on the relays on
//! the other; every phone call is bridged to a PhantomCall call.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use nostr_signal::KeyFile;
use pstn_gateway::service::{GatewayService, ServiceSetup};
use pstn_gateway::GatewayConfig;

use crate::call_args::NetArgs;
use crate::identity;
use crate::relays::RelayArgs;

/// Runs the gateway until Ctrl-C (or SIGTERM).
pub async fn serve(
    file: &KeyFile,
    config_path: &Path,
    relays: RelayArgs,
    net: NetArgs,
) -> Result<ExitCode> {
    let text = std::fs::read_to_string(config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    let config = GatewayConfig::from_toml(&text)?;
    let urls = relays.urls()?;
    // The gateway places calls to users in this mode: its TURN server must be there now.
    let network = net.network()?;
    let id = identity::load(file)?;
    eprintln!("connecting to {} relay(s)…", urls.len());
    let service = GatewayService::start(ServiceSetup {
        config,
        transport: net.transport_config(urls, file),
        identity: id,
        network,
        mode: net.privacy_mode(),
    })
    .await?;
    for trunk in &service.gateway().config().trunks {
        if let Some(addr) = service.gateway().sip_addr(&trunk.name) {
            eprintln!(
                "trunk {}: SIP on {addr}, {} DID(s)",
                trunk.name,
                trunk.dids.len()
            );
        }
    }
    if let Some(addr) = service.sms_addr() {
        eprintln!(
            "SMS webhook on {addr} (behind your TLS proxy); SMS are not end-to-end encrypted"
        );
    }
    eprintln!(
        "phone calls are not end-to-end encrypted past this gateway: the carrier and the \
         gateway's operator can hear them. Nothing is recorded."
    );
    eprintln!(
        "users dial numbers through {} (Ctrl-C stops)",
        nostr_signal::encode_npub(&service.public_key())
    );
    super::wait_for_stop().await;
    eprintln!("stopping: running calls end");
    service.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
