//! `phantomcall-conference`: the PhantomCall conference service (HTTPS, WebSocket signaling,
//! the embedded SFU). See `docs/host-a-conference.md`.
//!
//! ```text
//! phantomcall-conference --config /etc/phantomcall/conference.toml
//! ```
//!
//! Flags override the file; `--check` validates the configuration and exits. Logs go to
//! standard error (`PHANTOMCALL_LOG`, `RUST_LOG` syntax; webrtc-rs's targets stay off). Once
//! listening, the process prints `ready port=<port>` on standard output.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use sfu_jitsi_bridge::service::config::ServiceConfig;
use sfu_jitsi_bridge::service::logging::log_filter;
use sfu_jitsi_bridge::service::Server;

/// The PhantomCall conference service.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The configuration file (TOML).
    #[arg(long, short)]
    config: PathBuf,
    /// Overrides `listen` (address:port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Overrides `public_host` (the authority in invite links and sign-in messages).
    #[arg(long)]
    public_host: Option<String>,
    /// Validate the configuration and exit.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = log_filter(&std::env::var("PHANTOMCALL_LOG").unwrap_or_default());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
    let mut config = match ServiceConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(host) = args.public_host {
        config.public_host = host;
    }
    if let Err(e) = config.validate() {
        return fail(&e);
    }
    if args.check {
        println!("configuration ok");
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    runtime.block_on(async {
        let server = match Server::bind(config).await {
            Ok(s) => s,
            Err(e) => return fail(&e),
        };
        let port = server.local_addr().map(|a| a.port()).unwrap_or_default();
        println!("ready port={port}");
        let _ = std::io::stdout().flush();
        tracing::info!(port, "conference service listening");
        tokio::spawn(drain_on_hangup(args.config.clone(), server.backend()));
        tokio::select! {
            () = server.run() => {}
            _ = tokio::signal::ctrl_c() => tracing::info!("shutting down"),
        }
        ExitCode::SUCCESS
    })
}

/// On SIGHUP, re-reads the configuration's `drain` flags of the Janus instances (nothing
/// else is reloaded: the rest needs a restart).
async fn drain_on_hangup(
    path: PathBuf,
    backend: std::sync::Arc<dyn sfu_jitsi_bridge::backend::MediaBackend>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        return;
    };
    while hangups.recv().await.is_some() {
        match ServiceConfig::load(&path) {
            Ok(config) => {
                let draining: Vec<String> = config
                    .janus
                    .iter()
                    .flat_map(|j| &j.instances)
                    .filter(|i| i.drain)
                    .map(|i| i.name.clone())
                    .collect();
                backend.set_draining(&draining);
                tracing::info!(draining = draining.len(), "drain flags re-read");
            }
            Err(e) => tracing::warn!(error = %e, "SIGHUP: configuration not re-read"),
        }
    }
}

fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("phantomcall-conference: {error}");
    ExitCode::FAILURE
}
