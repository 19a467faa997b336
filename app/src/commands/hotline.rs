//! `phantomcall hotline serve`: a hotline as a service. Callers call this identity's npub
//! and wait on a line with a waiting tone until an enrolled dispatcher takes them (their
//! own clients talk end to end); NIP-17 messages to the same npub land in the shared
//! inbox. Rules and dispatchers come from `hotline.toml`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use hotline::config::HotlineConfig;
use hotline::inbox::{InboxService, InboxServiceConfig};
use hotline::store::Store;
use hotline::voice::{VoiceService, VoiceSetup};
use nostr_signal::KeyFile;

use crate::call_args::NetArgs;
use crate::identity;
use crate::relays::RelayArgs;

/// Runs the hotline until Ctrl-C (or SIGTERM).
pub async fn serve(
    file: &KeyFile,
    config_path: &Path,
    state: Option<PathBuf>,
    max_lines: usize,
    relays: RelayArgs,
    net: NetArgs,
) -> Result<ExitCode> {
    let config = HotlineConfig::load(config_path)?;
    // Next to the config unless said otherwise: the queue survives restarts there.
    let state = state.unwrap_or_else(|| config_path.with_file_name("hotline.db"));
    let urls = relays.urls()?;
    let network = net.network()?;
    let id = identity::load(file)?;
    let open = |what| {
        Store::open(&state)
            .with_context(|| format!("cannot open the {what} store {}", state.display()))
    };
    eprintln!("connecting to {} relay(s)…", urls.len());
    let voice = VoiceService::start(VoiceSetup {
        config: config.clone(),
        identity: id.clone(),
        transport: net.transport_config(urls.clone(), file),
        network,
        mode: net.privacy_mode(),
        store: open("queue")?,
        max_lines,
    })
    .await?;
    let mut inbox_config = InboxServiceConfig::new(urls.clone(), config.dispatcher_npubs());
    inbox_config.inbox = config.inbox.clone();
    // The phone gateways whose callers queue here also bring their SMS to the inbox.
    inbox_config.phone_gateways = config.core.phone_gateways.clone();
    let base = net.transport_config(urls, file);
    inbox_config.transport.proxy = base.proxy;
    let inbox = InboxService::start(id, inbox_config, open("inbox")?).await?;
    let view = voice.view();
    eprintln!(
        "hotline \"{}\": {} dispatcher(s) enrolled, {} caller(s) waiting; queue kept in {}",
        config.name,
        view.dispatchers.len(),
        view.entries.len(),
        state.display()
    );
    eprintln!(
        "callers call {} (Ctrl-C stops; waiting callers keep their place)",
        nostr_signal::encode_npub(&voice.public_key())
    );
    super::wait_for_stop().await;
    eprintln!("stopping: waiting callers are rung again at the next start");
    inbox.shutdown().await;
    voice.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
