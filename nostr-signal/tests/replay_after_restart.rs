//! Replay protection survives a restart: the relays send stored wraps again to a new
//! subscription, and what was accepted before the restart is not accepted twice.

mod common;

use std::time::Duration;

use common::{client, expect_silence, fast_config, next_message, offer_to};
use nostr_signal::{EmbeddedRelay, Identity, NostrTransport, RejectReason, SignalTransport};

#[tokio::test]
async fn messages_accepted_before_a_restart_are_not_accepted_again() {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bob = Identity::generate();
    let mut config = fast_config(vec![relay.url().clone()]);
    config.replay_file = Some(dir.path().join("seen"));
    let bob_tx = NostrTransport::connect(bob.clone(), config.clone())
        .await
        .unwrap();
    let mut bob_in = bob_tx.incoming();
    let (_, alice_tx) = client(vec![relay.url().clone()]).await;
    alice_tx
        .send(bob.public_key(), &offer_to(&bob.public_key()))
        .await
        .unwrap();
    next_message(&mut bob_in, "the offer").await;
    bob_tx.shutdown().await;

    // Restart within the freshness window: the relay hands the stored wrap over again.
    let restarted = NostrTransport::connect(bob.clone(), config).await.unwrap();
    let mut again = restarted.incoming();
    expect_silence(&mut again, Duration::from_secs(2)).await;
    assert!(
        restarted.rejection_counts().get(RejectReason::Replayed) >= 1,
        "the stored wrap came back and was refused as a replay (without the file it \
         would have been accepted: nothing else remembers it)"
    );
}
