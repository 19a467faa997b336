//! The dispatcher each strategy picks, end to end on a real relay: two dispatchers, the
//! first talks long, the second briefly; the first two callers go one to each; when both
//! are free again, the third goes to the first under round-robin (its turn comes round
//! again) but to the second under longest-idle and fewest-calls (idle since earlier; the
//! tie in calls broken by idle time). The orders themselves are asserted in detail by the
//! core's tests; this shows the service applies them over the relays.

mod voice_support;

use std::time::Duration;

use hotline::voice::CallerEvent;
use nostr_signal::{Identity, PublicKey};
use voice_support::*;

const TONES: &[f32] = &[520.0, 660.0, 780.0];

/// Runs the scenario under `strategy`; returns who took the third caller, and the two
/// dispatchers.
async fn third_caller_goes_to(strategy: &str) -> (PublicKey, PublicKey, PublicKey) {
    let relay = relay().await;
    let url = relay.url().clone();
    let identity = Identity::generate();
    let hotline = identity.public_key();
    let long = Dispatcher::start(&url, hotline, true, Duration::from_secs(5), TONES).await;
    let short = Dispatcher::start(&url, hotline, true, Duration::from_secs(1), TONES).await;
    let dir = tempfile::tempdir().unwrap();
    let toml = config_text(
        &format!("strategy = \"{strategy}\"\nwrap_up_secs = 1\n"),
        &[long.client.key, short.client.key],
    );
    let service = service(&url, &identity, &toml, &dir.path().join("hotline.db")).await;
    long.sign_in().await;
    short.sign_in().await;

    let mut takers = Vec::new();
    let mut callers = Vec::new();
    for (i, &hz) in TONES.iter().enumerate() {
        if i == 2 {
            // Both calls over (the short one first) and both dispatchers free again.
            let ended = |d: &Dispatcher| d.log().iter().any(|x| matches!(x, Did::Ended(..)));
            eventually("both first calls end", || ended(&long) && ended(&short)).await;
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        let mut caller = Caller::start(&url, hz).await;
        caller.dial(hotline);
        let CallerEvent::HandedOver { dispatcher, .. } = caller
            .next(|e| matches!(e, CallerEvent::HandedOver { .. }))
            .await
        else {
            unreachable!()
        };
        takers.push(dispatcher);
        // Kept on while the dispatcher talks (the dispatcher hangs up).
        callers.push(caller);
    }
    assert_eq!(
        takers[..2],
        [long.client.key, short.client.key],
        "the first two callers go one to each, in enrolment order"
    );
    service.shutdown().await;
    (takers[2], long.client.key, short.client.key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn round_robin_gives_the_third_caller_to_the_first_dispatcher_again() {
    let (third, long, _) = third_caller_goes_to("round-robin").await;
    assert_eq!(third, long);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn longest_idle_gives_the_third_caller_to_the_one_free_the_longest() {
    let (third, _, short) = third_caller_goes_to("longest-idle").await;
    assert_eq!(third, short);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fewest_calls_breaks_the_tie_by_idle_time() {
    let (third, _, short) = third_caller_goes_to("fewest-calls").await;
    assert_eq!(third, short);
}
