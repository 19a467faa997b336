//! Sending a stored broadcast: one task per relay (its own rate and retries), a producer
//! that builds each recipient's wrap, keeps it, waits a random jitter and queues it on
//! every relay, and a tally that records each recipient's outcome once every relay has
//! answered for them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use nostr_sdk::prelude::{
    Client, Event, JsonUtil, Keys, PublicKey, RelayOptions, RelayStatus, RelayUrl, Timestamp,
};
use nostr_signal::PeerRelayPolicy;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::report::{BroadcastId, DeliveryReport, Outcome, Progress};
use super::targets::dm_relays;
use super::wrap::wrap_for;
use super::BroadcastConfig;
use crate::ids::{CallerIdKey, Npub};
use crate::store::{Store, StoreError};

/// Wraps queued per relay ahead of its rate; past it the producer waits.
const RELAY_QUEUE: usize = 64;
/// Recipients a relay failed in a row (every attempt) before it gets one attempt per
/// recipient until it takes one again: a relay that is down must not hold the broadcast
/// for `max_attempts` backoffs per recipient.
const DOWN_AFTER_FAILURES: u32 = 3;
/// Pause between reconnection attempts to a relay that went away.
const RECONNECT_INTERVAL: Duration = Duration::from_millis(500);
/// Most distinct relays one broadcast connects to (the hotline's and recipients' DM
/// relays); recipients whose relays would go past it get the hotline's relays.
const MAX_RELAYS: usize = 64;

/// Why a broadcast could not be started or stopped early.
#[derive(Debug, thiserror::Error)]
pub enum BroadcastError {
    /// The store failed; the broadcast resumes from what was recorded.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// No relay to send to.
    #[error("no relay configured")]
    NoRelays,
    /// The relay client refused a relay address.
    #[error("relay client: {0}")]
    Client(String),
    /// No such broadcast in the store.
    #[error("unknown {0}")]
    Unknown(BroadcastId),
    /// Text empty or longer than a chat message may be.
    #[error(
        "the text must be 1 to {} characters",
        phantomcall_schemas::MAX_CHAT_LEN
    )]
    Text,
    /// A setting out of range.
    #[error("invalid setting: {0}")]
    Config(&'static str),
}

/// Sends broadcasts from the hotline's identity.
pub struct Broadcaster {
    keys: Keys,
    client: Client,
    relays: Vec<RelayUrl>,
    store: Mutex<Store>,
    caller_ids: CallerIdKey,
    config: BroadcastConfig,
}

struct Job {
    position: u64,
    /// How many relays this recipient's wrap goes to.
    targets: u32,
    wrap: Arc<Event>,
}

enum Tally {
    /// The recipient opted out.
    Skipped(u64),
    /// The wrap could not be built.
    Unbuildable(u64, String),
    /// One relay's final answer for one recipient.
    Relay {
        position: u64,
        targets: u32,
        result: Result<(), String>,
        attempts: u32,
    },
}

#[derive(Default)]
struct Answers {
    reported: usize,
    ok: u32,
    attempts: u32,
    last_error: Option<String>,
}

impl Broadcaster {
    /// Connects to `relays` (write only) as the hotline's `keys`, with `store` (its own
    /// connection to the hotline's database). Relays that do not answer within
    /// `connect_timeout` are still tried during the broadcast.
    pub async fn connect(
        keys: &Keys,
        relays: Vec<RelayUrl>,
        mut store: Store,
        config: BroadcastConfig,
    ) -> Result<Self, BroadcastError> {
        if relays.is_empty() {
            return Err(BroadcastError::NoRelays);
        }
        if config.max_attempts == 0 {
            return Err(BroadcastError::Config("max_attempts must be at least 1"));
        }
        if config.jitter.start > config.jitter.end {
            return Err(BroadcastError::Config("jitter range is reversed"));
        }
        let caller_ids = store.caller_id_key()?;
        let client = Client::builder().build();
        for url in &relays {
            add_relay(&client, url).await?;
        }
        client.connect().await;
        let deadline = Instant::now() + config.connect_timeout;
        while Instant::now() < deadline {
            let all = client.relays().await;
            if all.values().all(|r| r.status() == RelayStatus::Connected) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(Self {
            keys: keys.clone(),
            client,
            relays,
            store: Mutex::new(store),
            caller_ids,
            config,
        })
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a new broadcast of `text` to `recipients`; [`Broadcaster::run`] sends it.
    pub fn create(&self, text: &str, recipients: &[Npub]) -> Result<BroadcastId, BroadcastError> {
        if text.trim().is_empty() || text.chars().count() > phantomcall_schemas::MAX_CHAT_LEN {
            return Err(BroadcastError::Text);
        }
        Ok(self.store().create_broadcast(text, recipients, unix_ms())?)
    }

    /// Broadcasts not finished (interrupted), to resume with [`Broadcaster::run`].
    pub fn unfinished(&self) -> Result<Vec<BroadcastId>, BroadcastError> {
        Ok(self.store().unfinished_broadcasts()?)
    }

    /// The delivery report as it stands.
    pub fn report(&self, id: BroadcastId) -> Result<DeliveryReport, BroadcastError> {
        Ok(self.store().delivery_report(id)?)
    }

    /// Sends broadcast `id` to every recipient still pending (all of them the first time;
    /// the rest after an interruption), reporting totals to `progress` after each
    /// recipient. Returns the delivery report.
    pub async fn run(
        &self,
        id: BroadcastId,
        progress: Option<mpsc::UnboundedSender<Progress>>,
    ) -> Result<DeliveryReport, BroadcastError> {
        self.run_at_most(id, usize::MAX, progress).await
    }

    /// Like [`Broadcaster::run`], stopping after `limit` recipients (to pace a long list
    /// over several runs, and for tests of an interruption).
    pub async fn run_at_most(
        &self,
        id: BroadcastId,
        limit: usize,
        progress: Option<mpsc::UnboundedSender<Progress>>,
    ) -> Result<DeliveryReport, BroadcastError> {
        let text = self
            .store()
            .broadcast_text(id)?
            .ok_or(BroadcastError::Unknown(id))?;
        let mut pending = self.store().pending_recipients(id)?;
        let finishing = pending.len() <= limit;
        pending.truncate(limit);
        let mut totals = self.store().delivery_report(id)?.progress();
        let notify = |p: Progress| {
            if let Some(tx) = &progress {
                let _ = tx.send(p);
            }
        };
        notify(totals);

        let lists = if self.config.recipient_relays {
            let policy = PeerRelayPolicy {
                own: self.relays.clone(),
                allow_local: self.config.allow_local_relays,
            };
            let who: Vec<Npub> = pending.iter().map(|p| p.recipient).collect();
            dm_relays(
                &self.client,
                &self.relays,
                &who,
                &policy,
                self.config.max_relays_per_recipient,
                self.config.lookup_timeout,
            )
            .await
        } else {
            HashMap::new()
        };
        let (tally_tx, mut tally_rx) = mpsc::unbounded_channel();
        let producer = self.produce(id, &text, pending, &lists, tally_tx);
        let relay_count = self.relays.len();
        let tally = async {
            let mut answers: HashMap<u64, Answers> = HashMap::new();
            while let Some(t) = tally_rx.recv().await {
                let (position, outcome) = match t {
                    Tally::Skipped(p) => (p, Outcome::SkippedOptedOut),
                    Tally::Unbuildable(p, reason) => (
                        p,
                        Outcome::Failed {
                            relays_total: relay_count as u32,
                            attempts: 0,
                            reason,
                        },
                    ),
                    Tally::Relay {
                        position,
                        targets,
                        result,
                        attempts,
                    } => {
                        let a = answers.entry(position).or_default();
                        a.reported += 1;
                        a.attempts = a.attempts.max(attempts);
                        match result {
                            Ok(()) => a.ok += 1,
                            Err(e) => a.last_error = Some(e),
                        }
                        if a.reported < targets as usize {
                            continue;
                        }
                        let a = answers.remove(&position).unwrap_or_default();
                        let outcome = if a.ok > 0 {
                            Outcome::Delivered {
                                relays_ok: a.ok,
                                relays_total: targets,
                                attempts: a.attempts,
                            }
                        } else {
                            Outcome::Failed {
                                relays_total: targets,
                                attempts: a.attempts,
                                reason: a.last_error.unwrap_or_default(),
                            }
                        };
                        (position, outcome)
                    }
                };
                self.store().record_outcome(id, position, &outcome)?;
                match outcome {
                    Outcome::Delivered { .. } => totals.delivered += 1,
                    Outcome::Failed { .. } => totals.failed += 1,
                    Outcome::SkippedOptedOut => totals.skipped += 1,
                    Outcome::Pending => continue,
                }
                totals.done += 1;
                notify(totals);
            }
            Ok::<(), BroadcastError>(())
        };
        let (produced, tallied) = tokio::join!(producer, tally);
        produced?;
        tallied?;
        if finishing {
            self.store().finish_broadcast(id, unix_ms())?;
        }
        self.report(id)
    }

    /// Builds (or takes the stored) wrap of each pending recipient and queues it on every
    /// relay, after a random jitter. Opted-out recipients are skipped.
    async fn produce(
        &self,
        id: BroadcastId,
        text: &str,
        pending: Vec<crate::store::PendingRecipient>,
        lists: &HashMap<Npub, Vec<RelayUrl>>,
        tally: mpsc::UnboundedSender<Tally>,
    ) -> Result<(), BroadcastError> {
        // One worker per relay, started when the first wrap for it comes. Dropping the
        // queues at the end lets the workers drain and stop, which ends the tally.
        let mut queues: HashMap<RelayUrl, mpsc::Sender<Job>> = HashMap::new();
        for p in pending {
            // Asked at the moment of sending: a "stop" that arrived mid-broadcast counts.
            let caller = self.caller_ids.caller_id(&p.recipient);
            if self.store().is_opted_out(&caller)? {
                let _ = tally.send(Tally::Skipped(p.position));
                continue;
            }
            let stored = p
                .wrap
                .as_deref()
                .and_then(|json| Event::from_json(json).ok());
            let wrap = match stored {
                Some(wrap) => wrap,
                None => {
                    let built = match PublicKey::from_slice(p.recipient.as_bytes()) {
                        Ok(key) => wrap_for(&self.keys, &key, text, Timestamp::now()).await,
                        Err(_) => Err("not a valid public key (not on the curve)".to_owned()),
                    };
                    match built {
                        Ok(wrap) => {
                            // Kept before it leaves: a resumed run sends this same wrap.
                            self.store()
                                .save_broadcast_wrap(id, p.position, &wrap.as_json())?;
                            wrap
                        }
                        Err(reason) => {
                            let _ = tally.send(Tally::Unbuildable(p.position, reason));
                            continue;
                        }
                    }
                }
            };
            let jitter = &self.config.jitter;
            if jitter.end > jitter.start {
                let ms = rand::random_range(jitter.start.as_micros()..jitter.end.as_micros());
                tokio::time::sleep(Duration::from_micros(ms as u64)).await;
            }
            let targets = self.targets_for(&p.recipient, lists, &queues).await;
            let wrap = Arc::new(wrap);
            for url in &targets {
                let queue = match queues.get(url) {
                    Some(q) => q.clone(),
                    None => {
                        let (tx, rx) = mpsc::channel(RELAY_QUEUE);
                        tokio::spawn(relay_worker(
                            self.client.clone(),
                            url.clone(),
                            rx,
                            tally.clone(),
                            self.config.clone(),
                        ));
                        queues.insert(url.clone(), tx.clone());
                        tx
                    }
                };
                let job = Job {
                    position: p.position,
                    targets: targets.len() as u32,
                    wrap: Arc::clone(&wrap),
                };
                if queue.send(job).await.is_err() {
                    // A worker that ended cannot answer: count the relay as failed.
                    let _ = tally.send(Tally::Relay {
                        position: p.position,
                        targets: targets.len() as u32,
                        result: Err(format!("{url}: relay worker stopped")),
                        attempts: 0,
                    });
                }
            }
        }
        Ok(())
    }

    /// The relays `recipient`'s wrap goes to: their DM relays when known (added to the
    /// pool, up to [`MAX_RELAYS`] in all), else the hotline's.
    async fn targets_for(
        &self,
        recipient: &Npub,
        lists: &HashMap<Npub, Vec<RelayUrl>>,
        open: &HashMap<RelayUrl, mpsc::Sender<Job>>,
    ) -> Vec<RelayUrl> {
        let Some(theirs) = lists.get(recipient) else {
            return self.relays.clone();
        };
        let new = theirs.iter().filter(|u| !open.contains_key(*u)).count();
        if open.len().max(self.relays.len()) + new > MAX_RELAYS {
            return self.relays.clone();
        }
        let mut usable = Vec::with_capacity(theirs.len());
        for url in theirs {
            if self.relays.contains(url) || add_relay(&self.client, url).await.is_ok() {
                usable.push(url.clone());
            }
        }
        if usable.is_empty() {
            self.relays.clone()
        } else {
            usable
        }
    }

    /// Disconnects from the relays.
    pub async fn shutdown(&self) {
        self.client.shutdown().await;
    }
}

/// One relay: its queue at its rate, each wrap retried with backoff.
async fn relay_worker(
    client: Client,
    url: RelayUrl,
    mut jobs: mpsc::Receiver<Job>,
    tally: mpsc::UnboundedSender<Tally>,
    config: BroadcastConfig,
) {
    let period = config.per_relay_interval;
    // A relay added for a recipient's list connects now; the first publish waits for it.
    if let Ok(relay) = client.relay(&url).await {
        relay.wait_for_connection(config.connect_timeout).await;
    }
    let mut next_slot = Instant::now();
    let mut failed_in_a_row = 0u32;
    while let Some(job) = jobs.recv().await {
        let max_attempts = if failed_in_a_row >= DOWN_AFTER_FAILURES {
            1
        } else {
            config.max_attempts
        };
        let mut attempts = 0;
        let mut backoff = config.backoff_first;
        let result = loop {
            tokio::time::sleep_until(next_slot).await;
            next_slot = next_slot.max(Instant::now()) + period;
            attempts += 1;
            match publish_once(&client, &url, &job.wrap, config.attempt_timeout).await {
                Ok(()) => break Ok(()),
                Err(reason) if attempts >= max_attempts => break Err(format!("{url}: {reason}")),
                Err(_) => {
                    let spread = backoff.as_millis().max(1) as u64 / 2;
                    let extra = Duration::from_millis(rand::random_range(0..=spread));
                    tokio::time::sleep(backoff + extra).await;
                    backoff = (backoff * 2).min(config.backoff_max);
                }
            }
        };
        failed_in_a_row = if result.is_ok() {
            0
        } else {
            failed_in_a_row + 1
        };
        let _ = tally.send(Tally::Relay {
            position: job.position,
            targets: job.targets,
            result,
            attempts,
        });
    }
}

/// One publish of `wrap` to one relay: `OK true` (or a duplicate) is success.
async fn publish_once(
    client: &Client,
    url: &RelayUrl,
    wrap: &Event,
    timeout: Duration,
) -> Result<(), String> {
    let relay = client.relay(url).await.map_err(|e| e.to_string())?;
    match tokio::time::timeout(timeout, relay.send_event(wrap)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(nostr_sdk::pool::relay::Error::RelayMessage(message))) => {
            if message.starts_with("duplicate:") {
                Ok(())
            } else {
                Err(format!("OK false: {message}"))
            }
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no OK from the relay in time".to_owned()),
    }
}

/// Adds `url` to the pool (read for the DM relay lookup, write for the wraps) and
/// connects; an address already in the pool is left as it is.
async fn add_relay(client: &Client, url: &RelayUrl) -> Result<(), BroadcastError> {
    let options = RelayOptions::new()
        .retry_interval(RECONNECT_INTERVAL)
        .adjust_retry_interval(false);
    let added = client
        .pool()
        .add_relay(url.clone(), options)
        .await
        .map_err(|e| BroadcastError::Client(e.to_string()))?;
    if added {
        let _ = client.connect_relay(url.clone()).await;
    }
    Ok(())
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
