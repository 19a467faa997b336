//! Publishing one event to a set of relays through a nostr-sdk client, with retries.

use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use nostr_sdk::prelude::{Client, ConnectionMode, Event, RelayOptions, RelayStatus, RelayUrl};

use crate::SignalError;

/// Pause between two publish attempts to a relay that refused or is reconnecting.
const PUBLISH_RETRY_PAUSE: Duration = Duration::from_millis(250);
/// How long one publish attempt waits for the relay's OK before sending again: an event
/// written into a connection that just died is never answered, and nostr-sdk would wait
/// 10 s for it. Five seconds leave room for a round trip through Tor.
const PUBLISH_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Options of a relay in the pool: `read` relays get our subscription, the others are
/// write-only. Every connection goes through `proxy` when one is set.
pub(crate) fn relay_options(
    reconnect_interval: Duration,
    proxy: Option<std::net::SocketAddr>,
    read: bool,
) -> RelayOptions {
    let mut options = RelayOptions::new()
        .read(read)
        .retry_interval(reconnect_interval)
        .adjust_retry_interval(false);
    if let Some(proxy) = proxy {
        options = options.connection_mode(ConnectionMode::proxy(proxy));
    }
    options
}

/// Waits until any relay of `client` is connected, or `timeout`.
pub(crate) async fn wait_for_any_relay(client: &Client, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let relays = client.relays().await;
        if relays
            .values()
            .any(|r| r.status() == RelayStatus::Connected)
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Publish `event` to `urls` (already in `client`'s pool); resolves with the first relay
/// that accepted it. The other relays keep being tried in the background until the
/// deadline, so a dead relay never holds up a call.
pub(crate) async fn publish(
    client: &Client,
    event: Event,
    urls: Vec<RelayUrl>,
    send_timeout: Duration,
) -> Result<RelayUrl, SignalError> {
    let deadline = Instant::now() + send_timeout;
    let mut attempts: FuturesUnordered<_> = urls
        .into_iter()
        .map(|url| publish_to_relay(client.clone(), event.clone(), url, deadline))
        .collect();
    let mut last_error = String::from("no relay");
    while let Some(result) = attempts.next().await {
        match result {
            Ok(url) => {
                tokio::spawn(async move { while attempts.next().await.is_some() {} });
                return Ok(url);
            }
            Err(e) => last_error = e,
        }
    }
    Err(SignalError::NotDelivered {
        seconds: send_timeout.as_secs(),
        last_error,
    })
}

/// Keep offering `event` to one relay until it says OK, refuses outright, or time runs out.
async fn publish_to_relay(
    client: Client,
    event: Event,
    url: RelayUrl,
    deadline: Instant,
) -> Result<RelayUrl, String> {
    let mut last_error = String::from("timed out");
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(format!("{url}: {last_error}"));
        }
        let relay = client.relay(&url).await.map_err(|e| e.to_string())?;
        let attempt = remaining.min(PUBLISH_ATTEMPT_TIMEOUT);
        match tokio::time::timeout(attempt, relay.send_event(&event)).await {
            Ok(Ok(_)) => return Ok(url),
            // The relay read the event and said no: retrying will not change its mind.
            Ok(Err(nostr_sdk::pool::relay::Error::RelayMessage(message))) => {
                return Err(format!("{url} refused: {message}"))
            }
            Ok(Err(e)) => last_error = e.to_string(),
            // No OK: the event may have gone down with a dead connection. Sending it again
            // is harmless (relays and the verifier drop duplicates by id).
            Err(_) => last_error = "no answer from the relay".to_owned(),
        }
        tokio::time::sleep(PUBLISH_RETRY_PAUSE.min(remaining)).await;
    }
}
