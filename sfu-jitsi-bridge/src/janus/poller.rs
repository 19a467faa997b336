//! Forwarded bitrate and packet loss per Janus instance, for `/metrics`: every few seconds
//! the poller asks each instance's Admin API (`list_handles` of this service's own Janus
//! session, then `handle_info` of each handle) for the handles' media counters, and keeps
//! per-instance figures from the growth of those counters. Only sums per instance come out:
//! no room number, handle, feed or address leaves this module.
//!
//! Polling must never affect calls: it runs on its own Admin API connection (not the one the
//! calls use), one request at a time with a timeout, at most [`MAX_HANDLES_PER_ROUND`]
//! handles and [`ROUND_BUDGET`] per round; a round that fails logs once (on the change) and
//! marks the instance's figures stale until a round succeeds again.
//!
//! A handle's counters vanish with it, so totals are kept from deltas: what a handle sent
//! between its last poll and its detach is not counted (at most one interval's worth).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::admin::{self, AdminError, HandleStats, Role, MAX_ADMIN_REPLY_BYTES};
use super::InstanceConfig;
use crate::backend::ServerMedia;

/// Default time between two polls of an instance.
pub const POLL_EVERY: Duration = Duration::from_secs(5);
/// How long one Admin API request may take (Janus answers in a millisecond or two).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one round (all of an instance's handles) may take; beyond, the round is
/// abandoned and the figures marked stale.
pub const ROUND_BUDGET: Duration = Duration::from_secs(4);
/// Most handles asked about per round (a participant has two): bounds the Admin API load
/// an instance with thousands of participants would otherwise get every interval. Beyond,
/// rounds take turns over the handles ([`pick`]); a handle left out keeps its last counters,
/// so its growth is counted when its turn comes (totals stay right; one interval's rates
/// then cover part of the handles).
pub const MAX_HANDLES_PER_ROUND: usize = 2000;

/// The Admin API secret. Never printed: `Debug` hides it, and no error carries it.
#[derive(Clone)]
pub struct AdminSecret(String);

impl std::fmt::Debug for AdminSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminSecret(..)")
    }
}

impl AdminSecret {
    /// The first line of `path` (the secret file the operator generated).
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        let secret = text.lines().next().unwrap_or("").trim().to_owned();
        if secret.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "empty admin secret file",
            ));
        }
        Ok(Self(secret))
    }
}

/// Where an instance's Admin API is, and its secret.
#[derive(Debug, Clone)]
pub struct AdminTarget {
    pub url: String,
    pub secret: AdminSecret,
}

impl AdminTarget {
    /// From an instance's `admin_url` and `admin_secret_file`; `None` (logged) when it has
    /// none, or the secret cannot be read: that instance is then not polled.
    pub fn from_config(instance: &InstanceConfig) -> Option<Self> {
        let (url, file) = match (&instance.admin_url, &instance.admin_secret_file) {
            (Some(url), Some(file)) => (url, file),
            (None, None) => return None,
            _ => {
                tracing::warn!(
                    "instance {}: admin_url and admin_secret_file go together; not polled",
                    instance.name
                );
                return None;
            }
        };
        match AdminSecret::read(file) {
            Ok(secret) => Some(Self {
                url: url.clone(),
                secret,
            }),
            Err(e) => {
                tracing::warn!(
                    "instance {}: admin secret file unreadable ({}); not polled",
                    instance.name,
                    e.kind()
                );
                None
            }
        }
    }
}

/// One instance's figures as the last rounds left them.
#[derive(Debug, Clone, Default)]
struct Figures {
    polled: bool,
    /// When the last round succeeded, and whether the latest one did.
    last_ok: Option<Instant>,
    ok: bool,
    forwarded_total: u64,
    forwarded_bps: Option<f64>,
    received_bps: Option<f64>,
    loss_in: Option<f64>,
    loss_out: Option<f64>,
}

/// The figures of every instance, shared between the poll tasks and `/metrics`.
pub struct Poller {
    names: Vec<String>,
    figures: Vec<Mutex<Figures>>,
    every: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Poller {
    /// Figures for `names` (the instances, in configuration order), polled every `every`.
    pub fn new(names: Vec<String>, every: Duration) -> Arc<Self> {
        let figures = names.iter().map(|_| Mutex::default()).collect();
        Arc::new(Self {
            names,
            figures,
            every,
        })
    }

    /// Starts polling instance `index` at `target`; `session` gives this service's Janus
    /// session on that instance now (`None` while its API connection is down). The task
    /// ends when the [`Poller`] is dropped.
    pub fn spawn(
        self: &Arc<Self>,
        index: usize,
        target: AdminTarget,
        session: impl Fn() -> Option<u64> + Send + 'static,
    ) {
        lock(&self.figures[index]).polled = true;
        tokio::spawn(run(Arc::downgrade(self), index, target, session));
    }

    /// Payload bytes forwarded to subscribers on all instances since the service started.
    pub fn forwarded_total(&self) -> u64 {
        self.figures
            .iter()
            .map(|f| lock(f).forwarded_total)
            .fold(0, u64::saturating_add)
    }

    /// The polled instances' figures; a stale instance's rates are `None`.
    pub fn server_media(&self) -> Vec<ServerMedia> {
        let fresh_within = self.every * 3;
        self.names
            .iter()
            .zip(&self.figures)
            .filter_map(|(name, f)| {
                let f = lock(f).clone();
                if !f.polled {
                    return None;
                }
                let fresh = f.ok && f.last_ok.is_some_and(|t| t.elapsed() <= fresh_within);
                let when_fresh = |v: Option<f64>| v.filter(|_| fresh);
                Some(ServerMedia {
                    server: name.clone(),
                    fresh,
                    forwarded_bytes_total: f.forwarded_total,
                    forwarded_bits_per_second: when_fresh(f.forwarded_bps),
                    received_bits_per_second: when_fresh(f.received_bps),
                    loss_to_server: when_fresh(f.loss_in),
                    loss_to_subscribers: when_fresh(f.loss_out),
                })
            })
            .collect()
    }
}

/// What one round adds up to, from the handles' growth since the previous round.
#[derive(Debug, Default, PartialEq)]
struct Growth {
    forwarded_bytes: u64,
    received_bytes: u64,
    received_packets: u64,
    lost_in: u64,
    sent_packets: u64,
    lost_out: u64,
}

/// Sums the growth of each handle's counters from `before` to `now` (a handle not seen
/// before counts from zero: it began after the previous round).
fn growth(before: &HashMap<u64, HandleStats>, now: &HashMap<u64, HandleStats>) -> Growth {
    let mut g = Growth::default();
    for (handle, s) in now {
        let b = before.get(handle).copied().unwrap_or_default();
        let d = |now: u64, was: u64| now.saturating_sub(was);
        match s.role {
            Role::Subscriber => {
                g.forwarded_bytes += d(s.out_bytes, b.out_bytes);
                g.sent_packets += d(s.out_packets, b.out_packets);
                g.lost_out += d(s.lost_by_remote, b.lost_by_remote);
            }
            Role::Publisher => {
                g.received_bytes += d(s.in_bytes, b.in_bytes);
                g.received_packets += d(s.in_packets, b.in_packets);
                g.lost_in += d(s.lost, b.lost);
            }
            Role::Other => {}
        }
    }
    g
}

/// `lost / total`, or `None` with no traffic.
fn ratio(lost: u64, total: u64) -> Option<f64> {
    (total > 0).then(|| (lost as f64 / total as f64).min(1.0))
}

async fn run(
    poller: Weak<Poller>,
    index: usize,
    target: AdminTarget,
    session: impl Fn() -> Option<u64> + Send + 'static,
) {
    let every = match poller.upgrade() {
        Some(p) => p.every,
        None => return,
    };
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut conn: Option<AdminConn> = None;
    let mut before: HashMap<u64, HandleStats> = HashMap::new();
    let mut before_at: Option<Instant> = None;
    let mut failing = false;
    let mut turn = 0usize;
    loop {
        ticks.tick().await;
        let Some(poller) = poller.upgrade() else {
            return;
        };
        let name = &poller.names[index];
        let round = match session() {
            Some(session) => {
                let asked = round(&mut conn, &target, session, &mut turn, &before);
                tokio::time::timeout(ROUND_BUDGET, asked)
                    .await
                    .unwrap_or(Err(PollError::Timeout))
            }
            None => Err(PollError::NoSession),
        };
        let now = match round {
            Ok(now) => now,
            Err(e) => {
                conn = None;
                if !failing {
                    tracing::warn!("instance {name}: media counters unavailable ({e})");
                }
                failing = true;
                lock(&poller.figures[index]).ok = false;
                continue;
            }
        };
        if failing {
            tracing::info!("instance {name}: media counters available again");
            failing = false;
        }
        let at = Instant::now();
        let g = growth(&before, &now);
        let mut f = lock(&poller.figures[index]);
        f.forwarded_total = f.forwarded_total.saturating_add(g.forwarded_bytes);
        // Rates need two rounds in a row: across a gap, the growth spans the gap.
        let seconds = before_at
            .filter(|_| f.ok)
            .map(|t| at.duration_since(t).as_secs_f64());
        if let Some(s) = seconds.filter(|s| *s > 0.0) {
            f.forwarded_bps = Some(g.forwarded_bytes as f64 * 8.0 / s);
            f.received_bps = Some(g.received_bytes as f64 * 8.0 / s);
            f.loss_in = ratio(g.lost_in, g.received_packets + g.lost_in);
            f.loss_out = ratio(g.lost_out, g.sent_packets);
        } else {
            (f.forwarded_bps, f.received_bps, f.loss_in, f.loss_out) = (None, None, None, None);
        }
        f.ok = true;
        f.last_ok = Some(at);
        drop(f);
        before = now;
        before_at = Some(at);
    }
}

/// Why a round failed (logged; names no handle, room or secret).
#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error("the instance's API connection is down")]
    NoSession,
    #[error("cannot reach the Admin API")]
    Connect,
    #[error("the Admin API connection closed")]
    Closed,
    #[error("the Admin API did not answer in time")]
    Timeout,
    #[error("{0}")]
    Reply(#[from] AdminError),
}

/// The handles to ask about this round: all of them, or [`MAX_HANDLES_PER_ROUND`] from
/// `turn` on (in id order, wrapping), `turn` then moving past them.
fn pick(mut handles: Vec<u64>, turn: &mut usize) -> Vec<u64> {
    if handles.len() <= MAX_HANDLES_PER_ROUND {
        return handles;
    }
    handles.sort_unstable();
    let start = *turn % handles.len();
    *turn = start + MAX_HANDLES_PER_ROUND;
    handles.rotate_left(start);
    handles.truncate(MAX_HANDLES_PER_ROUND);
    handles
}

/// One round: the session's handles and each one's counters (those not asked about this
/// round keep their counters from `before`).
async fn round(
    conn: &mut Option<AdminConn>,
    target: &AdminTarget,
    session: u64,
    turn: &mut usize,
    before: &HashMap<u64, HandleStats>,
) -> Result<HashMap<u64, HandleStats>, PollError> {
    if conn.is_none() {
        *conn = Some(AdminConn::connect(&target.url).await?);
    }
    let Some(c) = conn.as_mut() else {
        return Err(PollError::Closed);
    };
    let body = json!({"janus": "list_handles", "session_id": session});
    let (transaction, text) = c.request(body, &target.secret).await?;
    let listed = admin::parse_handles(&text, &transaction)?;
    let mut stats = HashMap::with_capacity(listed.len());
    if listed.len() > MAX_HANDLES_PER_ROUND {
        for handle in &listed {
            if let Some(s) = before.get(handle) {
                stats.insert(*handle, *s);
            }
        }
    }
    for handle in pick(listed, turn) {
        let body = json!({"janus": "handle_info", "session_id": session, "handle_id": handle});
        let (transaction, text) = c.request(body, &target.secret).await?;
        match admin::parse_handle_info(&text, &transaction) {
            Ok(s) => {
                stats.insert(handle, s);
            }
            // Detached between the list and now: nothing to count.
            Err(AdminError::Refused(459)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(stats)
}

/// A WebSocket connection to an Admin API (`janus-admin-protocol`), one request at a time.
struct AdminConn {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next: u64,
}

impl AdminConn {
    async fn connect(url: &str) -> Result<Self, PollError> {
        let mut request = url.into_client_request().map_err(|_| PollError::Connect)?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("janus-admin-protocol"),
        );
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_ADMIN_REPLY_BYTES))
            .max_frame_size(Some(MAX_ADMIN_REPLY_BYTES));
        let connecting = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
        let (ws, _) = tokio::time::timeout(REQUEST_TIMEOUT, connecting)
            .await
            .map_err(|_| PollError::Timeout)?
            .map_err(|_| PollError::Connect)?;
        Ok(Self { ws, next: 1 })
    }

    /// Sends `body` with a fresh transaction and the secret; the transaction and the reply.
    async fn request(
        &mut self,
        mut body: serde_json::Value,
        secret: &AdminSecret,
    ) -> Result<(String, String), PollError> {
        let transaction = format!("m{}", self.next);
        self.next += 1;
        body["transaction"] = transaction.clone().into();
        body["admin_secret"] = secret.0.clone().into();
        let exchange = async {
            self.ws
                .send(WsMessage::Text(body.to_string().into()))
                .await
                .map_err(|_| PollError::Closed)?;
            loop {
                match self.ws.next().await {
                    Some(Ok(WsMessage::Text(text))) => return Ok(text.as_str().to_owned()),
                    Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => {
                        return Err(PollError::Closed)
                    }
                    // Pings are answered by tungstenite; binary frames are not Janus's.
                    Some(Ok(_)) => {}
                }
            }
        };
        let text = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| PollError::Timeout)??;
        Ok((transaction, text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(role: Role, out_bytes: u64, in_bytes: u64, lost: u64) -> HandleStats {
        HandleStats {
            role,
            out_bytes,
            out_packets: out_bytes / 100,
            in_bytes,
            in_packets: in_bytes / 100,
            lost,
            lost_by_remote: lost,
            ..HandleStats::default()
        }
    }

    #[test]
    fn growth_counts_deltas_new_handles_from_zero_and_ignores_gone_and_other_handles() {
        let before = HashMap::from([
            (1, h(Role::Subscriber, 1000, 0, 1)),
            (2, h(Role::Publisher, 0, 5000, 2)),
            (3, h(Role::Subscriber, 9000, 0, 0)),
        ]);
        let now = HashMap::from([
            (1, h(Role::Subscriber, 3000, 0, 3)),
            (2, h(Role::Publisher, 0, 6000, 2)),
            (4, h(Role::Subscriber, 500, 0, 0)),
            (5, h(Role::Other, 7000, 7000, 7)),
        ]);
        let g = growth(&before, &now);
        assert_eq!(g.forwarded_bytes, 2000 + 500);
        assert_eq!(g.sent_packets, 20 + 5);
        assert_eq!(g.lost_out, 2);
        assert_eq!(
            (g.received_bytes, g.received_packets, g.lost_in),
            (1000, 10, 0)
        );
        // A counter going back (never seen from Janus) gives no growth, not a wrap.
        let back = HashMap::from([(1, h(Role::Subscriber, 10, 0, 0))]);
        assert_eq!(growth(&before, &back), Growth::default());
        assert_eq!(ratio(1, 0), None);
        assert_eq!(ratio(5, 4), Some(1.0));
    }

    #[test]
    fn rounds_take_turns_over_more_handles_than_one_round_asks_about() {
        let few: Vec<u64> = (1..=10).collect();
        let mut turn = 0;
        assert_eq!(pick(few.clone(), &mut turn), few);
        let many: Vec<u64> = (1..=(MAX_HANDLES_PER_ROUND as u64 * 2 + 1)).rev().collect();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..3 {
            let picked = pick(many.clone(), &mut turn);
            assert_eq!(picked.len(), MAX_HANDLES_PER_ROUND);
            seen.extend(picked);
        }
        assert_eq!(
            seen.len(),
            many.len(),
            "every handle's turn came within three rounds"
        );
    }

    #[test]
    fn the_admin_secret_is_never_printed() {
        let secret = AdminSecret("s3cr3t-value".into());
        let target = AdminTarget {
            url: "ws://127.0.0.1:7188".into(),
            secret,
        };
        assert!(!format!("{target:?}").contains("s3cr3t"));
    }
}
