//! Relay selection on the command line.

use anyhow::{bail, Result};
use nostr_signal::RelayUrl;

/// `--relay` options shared by the networked commands.
#[derive(clap::Args, Clone)]
pub struct RelayArgs {
    /// Relay to use (ws:// or wss://); repeat for several. Also PHANTOMCALL_RELAYS, comma separated.
    #[arg(long = "relay", env = "PHANTOMCALL_RELAYS", value_delimiter = ',')]
    pub relays: Vec<String>,
}

impl RelayArgs {
    /// The parsed relays. There is no built-in default: PhantomCall never contacts a relay
    /// the user did not choose.
    /// The relays when `paths` uses them (then at least one is needed), else whatever was
    /// given (none is fine: nothing is contacted).
    pub fn urls_for(&self, paths: phantomcall::ble::SignalingPaths) -> Result<Vec<RelayUrl>> {
        if paths.uses_relays() || !self.relays.is_empty() {
            self.urls()
        } else {
            Ok(Vec::new())
        }
    }

    pub fn urls(&self) -> Result<Vec<RelayUrl>> {
        if self.relays.is_empty() {
            bail!("no relay given: pass --relay ws://HOST:PORT (run your own with `phantomcall relay`)");
        }
        self.relays
            .iter()
            .map(|r| {
                RelayUrl::parse(r.trim())
                    .map_err(|e| anyhow::anyhow!("invalid relay URL {r:?}: {e}"))
            })
            .collect()
    }
}
