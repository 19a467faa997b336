//! One module per subcommand.

pub mod blackout;
pub mod call;
pub mod demo;
pub mod gateway;
pub mod hotline;
pub mod join;
pub mod keygen;
pub mod listen;
pub mod live;
pub mod register_links;
pub mod relay;
pub mod send_test;
pub mod signaling_demo;
pub mod turn_credentials;
pub mod wallet;
pub mod whoami;

/// Waits for Ctrl-C or SIGTERM: how a service run from the command line (gateway,
/// hotline) is stopped, by hand or by systemd.
pub(crate) async fn wait_for_stop() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(term) => { term.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
