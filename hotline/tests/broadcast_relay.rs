//! Broadcasts through real relays: delivery and the report, the privacy invariants of
//! the wraps (read with an independent NIP-17 implementation), opt-outs, a relay down,
//! resuming after an interruption.

mod relay_support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use hotline::broadcast::{BroadcastConfig, Broadcaster, Outcome, Progress};
use hotline::ids::Npub;
use hotline::inbox::{InboxEvent, InboxService};
use hotline::store::Store;
use nostr_sdk::prelude::*;
use nostr_signal::{EmbeddedRelay, Identity};
use relay_support::*;
use tokio::sync::mpsc;

const TEXT: &str = "The shelter on 5th street is open tonight.";

/// Fast enough that 200 recipients take well under a second of pacing.
fn fast() -> BroadcastConfig {
    BroadcastConfig {
        per_relay_interval: Duration::from_micros(500),
        jitter: Duration::ZERO..Duration::from_millis(2),
        max_attempts: 3,
        backoff_first: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        attempt_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(2),
        // Every relay here is on loopback, recipients' DM relays included.
        allow_local_relays: true,
        lookup_timeout: Duration::from_secs(2),
        ..BroadcastConfig::default()
    }
}

fn recipients(n: usize) -> Vec<Keys> {
    (0..n).map(|_| Keys::generate()).collect()
}

fn npubs(keys: &[Keys]) -> Vec<Npub> {
    keys.iter().map(|k| npub_of(&k.public_key())).collect()
}

async fn broadcaster(
    hotline: &Identity,
    relays: Vec<RelayUrl>,
    db: &std::path::Path,
    config: BroadcastConfig,
) -> Broadcaster {
    Broadcaster::connect(hotline.keys(), relays, Store::open(db).unwrap(), config)
        .await
        .unwrap()
}

/// Sends `TEXT` to `to` and returns the relay's wraps after it.
async fn broadcast_and_collect(to: &[Keys]) -> (Identity, Vec<Event>) {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hotline = Identity::generate();
    let b = broadcaster(
        &hotline,
        vec![relay.url().clone()],
        &dir.path().join("h.sqlite"),
        fast(),
    )
    .await;
    let id = b.create(TEXT, &npubs(to)).unwrap();
    let report = b.run(id, None).await.unwrap();
    assert_eq!(report.progress().delivered, to.len());
    let client = outside_client(&relay).await;
    let wraps = stored_wraps(&client, None).await;
    b.shutdown().await;
    (hotline, wraps)
}

#[tokio::test]
async fn no_broadcast_wrap_names_more_than_one_recipient() {
    let to = recipients(30);
    let (_, wraps) = broadcast_and_collect(&to).await;
    assert_eq!(wraps.len(), 30);
    for wrap in &wraps {
        assert_eq!(wrap.tags.public_keys().count(), 1);
        assert_eq!(wrap.tags.len(), 1, "no tag but the recipient's");
    }
}

#[tokio::test]
async fn a_broadcast_never_reveals_the_list_to_recipients() {
    let to = recipients(30);
    let (hotline, wraps) = broadcast_and_collect(&to).await;
    let everyone: HashSet<String> = to.iter().map(|k| k.public_key().to_hex()).collect();
    for keys in &to {
        let mine: Vec<Opened> = wraps.iter().filter_map(|w| nip17_open(keys, w)).collect();
        assert_eq!(mine.len(), 1, "one message each");
        let o = &mine[0];
        assert_eq!(o.author, hotline.public_key());
        assert_eq!(o.text(), TEXT);
        // The rumor names its recipient alone, and nobody else from the list anywhere.
        assert_eq!(o.p_tags(), vec![keys.public_key().to_hex()]);
        let rumor = o.rumor.to_string();
        for other in everyone
            .iter()
            .filter(|h| **h != keys.public_key().to_hex())
        {
            assert!(!rumor.contains(other.as_str()));
        }
    }
}

#[tokio::test]
async fn broadcast_wraps_use_fresh_keys_and_randomised_times() {
    let to = recipients(30);
    let (hotline, wraps) = broadcast_and_collect(&to).await;
    let keys: HashSet<PublicKey> = wraps.iter().map(|w| w.pubkey).collect();
    assert_eq!(keys.len(), wraps.len(), "every wrap has its own key");
    assert!(!keys.contains(&hotline.public_key()));
    let times: HashSet<Timestamp> = wraps.iter().map(|w| w.created_at).collect();
    assert!(
        times.len() > 20,
        "created_at randomised, not one send time: {}",
        times.len()
    );
    let now = Timestamp::now().as_secs();
    assert!(wraps.iter().all(|w| w.created_at.as_secs() <= now + 1));
    assert!(
        wraps.iter().any(|w| w.created_at.as_secs() + 600 < now),
        "pushed into the past"
    );
}

#[tokio::test]
async fn broadcast_to_200_recipients_delivers_all_and_skips_one_who_wrote_stop() {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hotline.sqlite");
    let hotline = Identity::generate();
    // One recipient writes "stop" to the hotline's inbox first (the independent NIP-17
    // path), which opts them out.
    let to = recipients(201);
    let stopper = &to[77];
    let service = InboxService::start(
        hotline.clone(),
        service_config(&relay, vec![npub_of(&Keys::generate().public_key())]),
        Store::open(&db).unwrap(),
    )
    .await
    .unwrap();
    let mut events = service.events();
    let client = outside_client(&relay).await;
    client
        .send_event(&nip17_dm(stopper, &hotline.public_key(), "stop"))
        .await
        .unwrap();
    wait_for(&mut events, |e| matches!(e, InboxEvent::OptedOut { .. })).await;

    let b = broadcaster(&hotline, vec![relay.url().clone()], &db, fast()).await;
    let id = b.create(TEXT, &npubs(&to)).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let started = std::time::Instant::now();
    let report = b.run(id, Some(tx)).await.unwrap();
    let took = started.elapsed();

    // The report: 200 delivered to 1 of 1 relays, the one who wrote stop skipped.
    assert_eq!(report.recipients.len(), 201);
    for (i, line) in report.recipients.iter().enumerate() {
        assert_eq!(line.recipient, npub_of(&to[i].public_key()));
        if i == 77 {
            assert_eq!(line.outcome, Outcome::SkippedOptedOut);
        } else {
            assert!(
                matches!(
                    line.outcome,
                    Outcome::Delivered {
                        relays_ok: 1,
                        relays_total: 1,
                        ..
                    }
                ),
                "{i}: {:?}",
                line.outcome
            );
        }
    }
    // Progress came recipient by recipient, ending at the totals.
    let mut seen: Vec<Progress> = Vec::new();
    while let Ok(p) = rx.try_recv() {
        seen.push(p);
    }
    assert_eq!(seen.len(), 202, "the start and one per recipient");
    assert!(seen.windows(2).all(|w| w[1].done == w[0].done + 1));
    assert_eq!(
        *seen.last().unwrap(),
        Progress {
            total: 201,
            done: 201,
            delivered: 200,
            failed: 0,
            skipped: 1
        }
    );

    // What the relay holds for the broadcast: one wrap per recipient, each naming one.
    let wraps = stored_wraps(&client, None).await;
    let broadcast: Vec<&Event> = wraps
        .iter()
        .filter(|w| *w.tags.public_keys().next().unwrap() != hotline.public_key())
        .collect();
    assert_eq!(broadcast.len(), 200);
    let mut per_recipient: HashMap<PublicKey, usize> = HashMap::new();
    for w in &broadcast {
        let named: Vec<&PublicKey> = w.tags.public_keys().collect();
        assert_eq!(named.len(), 1, "no wrap names more than one recipient");
        *per_recipient.entry(*named[0]).or_default() += 1;
    }
    assert_eq!(per_recipient.len(), 200);
    assert!(per_recipient.values().all(|n| *n == 1));
    assert!(
        !per_recipient.contains_key(&stopper.public_key()),
        "opted out: nothing sent"
    );
    let keys: HashSet<PublicKey> = broadcast.iter().map(|w| w.pubkey).collect();
    assert_eq!(keys.len(), 200, "the wraps' keys are all distinct");
    // And every recipient reads it with the independent code.
    for (i, k) in to.iter().enumerate().filter(|(i, _)| *i != 77) {
        let opened = broadcast.iter().find_map(|w| nip17_open(k, w));
        assert_eq!(
            opened.map(|o| o.text().to_owned()).as_deref(),
            Some(TEXT),
            "{i}"
        );
    }
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(b.unfinished().unwrap().is_empty());
    b.shutdown().await;
    service.shutdown().await;
}

#[tokio::test]
async fn a_broadcast_with_one_relay_down_reports_partial_delivery_after_retries() {
    let up = EmbeddedRelay::start_on_loopback().await.unwrap();
    let down = EmbeddedRelay::start_on_loopback().await.unwrap();
    let down_url = down.url().clone();
    down.shutdown().await;
    drop(down);
    let dir = tempfile::tempdir().unwrap();
    let hotline = Identity::generate();
    let mut config = fast();
    config.connect_timeout = Duration::from_millis(300);
    let b = broadcaster(
        &hotline,
        vec![up.url().clone(), down_url.clone()],
        &dir.path().join("h.sqlite"),
        config,
    )
    .await;
    let to = recipients(8);
    let id = b.create(TEXT, &npubs(&to)).unwrap();
    let report = b.run(id, None).await.unwrap();
    for line in &report.recipients {
        assert!(
            matches!(
                line.outcome,
                Outcome::Delivered {
                    relays_ok: 1,
                    relays_total: 2,
                    ..
                }
            ),
            "{:?}",
            line.outcome
        );
    }
    // The first recipients got every attempt on the dead relay before it was given up on.
    assert!(matches!(
        report.recipients[0].outcome,
        Outcome::Delivered { attempts: 3, .. }
    ));
    let client = outside_client(&up).await;
    assert_eq!(stored_wraps(&client, None).await.len(), 8);
    b.shutdown().await;

    // With no relay at all, each recipient fails with the reason.
    let b = broadcaster(
        &hotline,
        vec![down_url],
        &dir.path().join("h2.sqlite"),
        fast(),
    )
    .await;
    let id = b.create(TEXT, &npubs(&to[..2])).unwrap();
    let report = b.run(id, None).await.unwrap();
    assert_eq!(report.progress().failed, 2);
    match &report.recipients[0].outcome {
        Outcome::Failed {
            reason, attempts, ..
        } => {
            assert!(!reason.is_empty());
            assert_eq!(*attempts, 3);
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    b.shutdown().await;
}

#[tokio::test]
async fn each_recipients_wrap_goes_to_their_own_dm_relays_when_they_publish_them() {
    let hotline_relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let inbox_relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let to = recipients(3);
    // Recipient 0 reads DMs on their own relay and says so (kind 10050) where the hotline
    // looks; the others publish no list.
    let client = outside_client(&hotline_relay).await;
    let list = EventBuilder::new(Kind::InboxRelays, "")
        .tag(Tag::custom(TagKind::Relay, [inbox_relay.url().to_string()]))
        .sign_with_keys(&to[0])
        .unwrap();
    client.send_event(&list).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let hotline = Identity::generate();
    let b = broadcaster(
        &hotline,
        vec![hotline_relay.url().clone()],
        &dir.path().join("h.sqlite"),
        fast(),
    )
    .await;
    let id = b.create(TEXT, &npubs(&to)).unwrap();
    let report = b.run(id, None).await.unwrap();
    assert_eq!(report.progress().delivered, 3);
    let on_hotline_relay = stored_wraps(&client, None).await;
    let inbox_client = outside_client(&inbox_relay).await;
    let on_inbox_relay = stored_wraps(&inbox_client, None).await;
    let opens = |wraps: &[Event], k: &Keys| wraps.iter().filter_map(|w| nip17_open(k, w)).count();
    assert_eq!(
        opens(&on_inbox_relay, &to[0]),
        1,
        "recipient 0's wrap is on their relay"
    );
    assert_eq!(opens(&on_hotline_relay, &to[0]), 0, "and only there");
    for k in &to[1..] {
        assert_eq!(
            opens(&on_hotline_relay, k),
            1,
            "no list: the hotline's relays"
        );
        assert_eq!(opens(&on_inbox_relay, k), 0);
    }
    b.shutdown().await;
}

#[tokio::test]
async fn a_recipients_local_dm_relay_is_refused_unless_allowed() {
    let hotline_relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let inbox_relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let to = recipients(1);
    let client = outside_client(&hotline_relay).await;
    let list = EventBuilder::new(Kind::InboxRelays, "")
        .tag(Tag::custom(TagKind::Relay, [inbox_relay.url().to_string()]))
        .sign_with_keys(&to[0])
        .unwrap();
    client.send_event(&list).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = fast();
    // Production default: a list naming a ws:// loopback relay must not steer the hotline.
    config.allow_local_relays = false;
    let b = broadcaster(
        &Identity::generate(),
        vec![hotline_relay.url().clone()],
        &dir.path().join("h.sqlite"),
        config,
    )
    .await;
    let id = b.create(TEXT, &npubs(&to)).unwrap();
    b.run(id, None).await.unwrap();
    assert!(inbox_relay.connections_from().is_empty(), "never contacted");
    assert_eq!(
        stored_wraps(&client, Some(to[0].public_key())).await.len(),
        1
    );
    b.shutdown().await;
}

/// Refuses each event the first time it is offered (`OK false`, as a throttling public
/// relay answers), takes it the second time.
#[derive(Debug, Default)]
struct RefuseOnce {
    offered: std::sync::Mutex<HashSet<EventId>>,
}

impl nostr_relay_builder::prelude::WritePolicy for RefuseOnce {
    fn admit_event<'a>(
        &'a self,
        event: &'a Event,
        _addr: &'a std::net::SocketAddr,
    ) -> nostr_relay_builder::prelude::BoxedFuture<'a, nostr_relay_builder::prelude::PolicyResult>
    {
        use nostr_relay_builder::prelude::PolicyResult;
        let first = self.offered.lock().unwrap().insert(event.id);
        Box::pin(async move {
            if first {
                PolicyResult::Reject("rate-limited: slow down".into())
            } else {
                PolicyResult::Accept
            }
        })
    }
}

#[tokio::test]
async fn a_relay_answering_ok_false_is_retried_with_backoff() {
    use nostr_relay_builder::prelude::{LocalRelay, RelayBuilder};
    let relay = LocalRelay::new(RelayBuilder::default().write_policy(RefuseOnce::default()));
    relay.run().await.unwrap();
    let url = relay.url().await;
    let dir = tempfile::tempdir().unwrap();
    let hotline = Identity::generate();
    let b = broadcaster(
        &hotline,
        vec![url.clone()],
        &dir.path().join("h.sqlite"),
        fast(),
    )
    .await;
    let to = recipients(5);
    let id = b.create(TEXT, &npubs(&to)).unwrap();
    let report = b.run(id, None).await.unwrap();
    for line in &report.recipients {
        assert_eq!(
            line.outcome,
            Outcome::Delivered {
                relays_ok: 1,
                relays_total: 1,
                attempts: 2
            }
        );
    }
    let client = Client::default();
    client.add_relay(url).await.unwrap();
    client.connect().await;
    client.wait_for_connection(Duration::from_secs(5)).await;
    assert_eq!(stored_wraps(&client, None).await.len(), 5);
    b.shutdown().await;
}

#[tokio::test]
async fn an_interrupted_broadcast_resumes_without_resending_to_those_done() {
    let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.sqlite");
    let hotline = Identity::generate();
    let to = recipients(20);
    let id = {
        let b = broadcaster(&hotline, vec![relay.url().clone()], &db, fast()).await;
        let id = b.create(TEXT, &npubs(&to)).unwrap();
        // Interrupted after 8 recipients.
        let report = b.run_at_most(id, 8, None).await.unwrap();
        assert_eq!(report.progress().done, 8);
        assert_eq!(b.unfinished().unwrap(), vec![id]);
        b.shutdown().await;
        id
    };
    // A new process, the same database.
    let b = broadcaster(&hotline, vec![relay.url().clone()], &db, fast()).await;
    assert_eq!(b.unfinished().unwrap(), vec![id]);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let report = b.run(id, Some(tx)).await.unwrap();
    assert_eq!(report.progress().delivered, 20);
    assert_eq!(
        rx.recv().await.unwrap().done,
        8,
        "progress resumes where it stopped"
    );
    assert!(b.unfinished().unwrap().is_empty());
    let client = outside_client(&relay).await;
    let wraps = stored_wraps(&client, None).await;
    assert_eq!(wraps.len(), 20, "one wrap per recipient, none sent twice");
    for k in &to {
        assert_eq!(wraps.iter().filter_map(|w| nip17_open(k, w)).count(), 1);
    }
    b.shutdown().await;
}
