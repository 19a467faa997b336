//! Broadcast wrap cost: how many individually gift-wrapped NIP-17 messages (rumor, seal
//! signed by the hotline, wrap signed by a fresh key) one core builds per second, and the
//! same with the wrap kept in the SQLite store as a resumable broadcast does. The relay
//! rate limit, not this, paces a real broadcast.
//!
//! `cargo bench -p hotline --bench broadcast_wrap`

use std::time::Instant;

use hotline::broadcast::wrap::wrap_for;
use hotline::ids::Npub;
use hotline::store::Store;
use nostr_sdk::{JsonUtil, Keys, Timestamp};

const N: usize = 500;
const TEXT: &str = "The shelter on 5th street is open tonight, doors at 8 pm.";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let hotline = Keys::generate();
    let recipients: Vec<Keys> = (0..N).map(|_| Keys::generate()).collect();

    // Warm-up: secp256k1's context and the allocator settle before anything is timed.
    for r in recipients.iter().take(50) {
        let wrap = wrap_for(&hotline, &r.public_key(), TEXT, Timestamp::now()).await;
        std::hint::black_box(wrap.expect("wrap builds"));
    }
    let start = Instant::now();
    for r in &recipients {
        let wrap = wrap_for(&hotline, &r.public_key(), TEXT, Timestamp::now())
            .await
            .expect("wrap builds");
        std::hint::black_box(wrap);
    }
    let alone = start.elapsed();

    let mut store = Store::in_memory().expect("store opens");
    let npubs: Vec<Npub> = recipients
        .iter()
        .map(|k| Npub::from_bytes(k.public_key().to_bytes()))
        .collect();
    let id = store
        .create_broadcast(TEXT, &npubs, 0)
        .expect("broadcast recorded");
    let start = Instant::now();
    for (i, r) in recipients.iter().enumerate() {
        let wrap = wrap_for(&hotline, &r.public_key(), TEXT, Timestamp::now())
            .await
            .expect("wrap builds");
        store
            .save_broadcast_wrap(id, i as u64, &wrap.as_json())
            .expect("wrap kept");
    }
    let stored = start.elapsed();

    let rate = |d: std::time::Duration| N as f64 / d.as_secs_f64();
    println!("broadcast wraps, {N} recipients, one core:");
    println!(
        "  build only:        {:>8.0} wraps/s ({:.2} ms each)",
        rate(alone),
        alone.as_secs_f64() * 1000.0 / N as f64
    );
    println!(
        "  build + store:     {:>8.0} wraps/s ({:.2} ms each)",
        rate(stored),
        stored.as_secs_f64() * 1000.0 / N as f64
    );
}
