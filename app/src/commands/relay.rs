//! `phantomcall relay`: the embedded relay as a standalone process.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Result;
use nostr_signal::EmbeddedRelay;

pub async fn run(bind: SocketAddr) -> Result<ExitCode> {
    let relay = EmbeddedRelay::start(bind).await?;
    println!(
        "relay listening on {} (events in memory only; Ctrl-C stops it)",
        relay.url()
    );
    tokio::signal::ctrl_c().await?;
    relay.shutdown().await;
    eprintln!("relay stopped");
    Ok(ExitCode::SUCCESS)
}
