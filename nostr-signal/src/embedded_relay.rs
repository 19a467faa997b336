//! A real websocket Nostr relay running inside the process, for the demo, tests and
//! `phantomcall relay`. Events are kept in memory only.

use std::net::SocketAddr;

use nostr_relay_builder::prelude::{LocalRelay, RateLimit, RelayBuilder};
use nostr_sdk::RelayUrl;

use crate::SignalError;

/// Events per minute per connection. The default of the relay crate (60) is meant for public
/// relays; a local relay carrying benchmarks and a few calls needs far more.
const LOCAL_NOTES_PER_MINUTE: u32 = 100_000;

/// An in-process relay listening on a loopback (or given) address. Stops when dropped.
pub struct EmbeddedRelay {
    relay: LocalRelay,
    url: RelayUrl,
    addr: SocketAddr,
}

impl EmbeddedRelay {
    /// Start a relay on `addr`; port 0 picks a free port.
    pub async fn start(addr: SocketAddr) -> Result<Self, SignalError> {
        let mut builder = RelayBuilder::default()
            .addr(addr.ip())
            .rate_limit(RateLimit {
                max_reqs: 500,
                notes_per_minute: LOCAL_NOTES_PER_MINUTE,
            });
        if addr.port() != 0 {
            builder = builder.port(addr.port());
        }
        let relay = LocalRelay::new(builder);
        relay
            .run()
            .await
            .map_err(|e| SignalError::Client(format!("relay on {addr}: {e}")))?;
        let url = relay.url().await;
        let addr = SocketAddr::new(
            addr.ip(),
            url.as_str()
                .rsplit(':')
                .next()
                .and_then(|p| p.trim_end_matches('/').parse().ok())
                .unwrap_or(addr.port()),
        );
        Ok(Self { relay, url, addr })
    }

    /// Start a relay on a free loopback port.
    pub async fn start_on_loopback() -> Result<Self, SignalError> {
        Self::start(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// The `ws://` URL clients connect to.
    pub fn url(&self) -> &RelayUrl {
        &self.url
    }

    /// The socket address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop listening and close every connection; returns once the port refuses connections.
    pub async fn shutdown(&self) {
        // The relay crate signals its accept loop with `Notify::notify_waiters`, which is lost
        // if the loop has not reached its first wait yet: repeat until the port is closed.
        for _ in 0..200 {
            self.relay.shutdown();
            if tokio::net::TcpStream::connect(self.addr).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        tracing::warn!(addr = %self.addr, "embedded relay did not stop listening");
    }
}

impl Drop for EmbeddedRelay {
    fn drop(&mut self) {
        self.relay.shutdown();
    }
}
