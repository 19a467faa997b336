//! Outgoing call messages: one ordered queue per peer, the peers' queues in parallel.
//!
//! A peer's relays get its messages in order (an answer before its candidates), but a
//! peer whose relay list points at a dead relay only delays its own messages: the hangup
//! or candidates of another call never wait behind it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use nostr_signal::{PublicKey, Recipients, Route, SignalTransport};
use phantomcall_schemas::CallMessage;
use tokio::sync::broadcast;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

use super::EngineEvent;

/// A peer's queue stops after this long without messages (a new one starts on demand), so
/// a flood of peers leaves no idle tasks behind.
const IDLE_QUEUE_LIFETIME: Duration = Duration::from_secs(30);

/// A message, who gets it (one peer, or a group's members: one rumor, a wrap each), and
/// the relays it may take.
type Item = (Recipients, CallMessage, Route);

/// The per-peer queues of one engine.
pub(super) struct Outbox {
    transport: Arc<dyn SignalTransport>,
    events: broadcast::Sender<EngineEvent>,
    queues: HashMap<PublicKey, UnboundedSender<Item>>,
    workers: Vec<JoinHandle<()>>,
}

impl Outbox {
    pub fn new(
        transport: Arc<dyn SignalTransport>,
        events: broadcast::Sender<EngineEvent>,
    ) -> Self {
        Self {
            transport,
            events,
            queues: HashMap::new(),
            workers: Vec::new(),
        }
    }

    /// Queues `message` for `to`, after the messages already queued for `to`.
    pub fn send(&mut self, to: PublicKey, message: CallMessage, route: Route) {
        self.send_to(to, Recipients::One(to), message, route);
    }

    /// Queues one `message` for every one of `recipients` (one rumor, one wrap each),
    /// after the messages already queued for `first`, so what `first` gets next (the
    /// candidates after a group answer) follows it.
    pub fn send_to(
        &mut self,
        first: PublicKey,
        recipients: Recipients,
        message: CallMessage,
        route: Route,
    ) {
        let to = first;
        let mut item = (recipients, message, route);
        if let Some(queue) = self.queues.get(&to) {
            match queue.send(item) {
                Ok(()) => return,
                // That queue went idle and closed: start a new one.
                Err(returned) => item = returned.0,
            }
        }
        self.queues.retain(|_, q| !q.is_closed());
        self.workers.retain(|w| !w.is_finished());
        let (queue, receiver) = unbounded_channel();
        let _ = queue.send(item);
        self.workers.push(tokio::spawn(send_in_order(
            self.transport.clone(),
            to,
            receiver,
            self.events.clone(),
        )));
        self.queues.insert(to, queue);
    }

    /// Sends what is queued, then returns.
    pub async fn close(self) {
        drop(self.queues);
        for worker in self.workers {
            let _ = worker.await;
        }
    }
}

/// Sends one peer's messages one after the other, so its relays get them in order.
async fn send_in_order(
    transport: Arc<dyn SignalTransport>,
    peer: PublicKey,
    mut queue: UnboundedReceiver<Item>,
    events: broadcast::Sender<EngineEvent>,
) {
    loop {
        let item = match tokio::time::timeout(IDLE_QUEUE_LIFETIME, queue.recv()).await {
            Ok(Some(item)) => item,
            Ok(None) => return,
            Err(_) => {
                // Idle: refuse new messages (the engine starts a new queue), send what
                // slipped in meanwhile.
                queue.close();
                while let Some(item) = queue.recv().await {
                    send_one(&*transport, peer, item, &events).await;
                }
                return;
            }
        };
        send_one(&*transport, peer, item, &events).await;
    }
}

async fn send_one(
    transport: &dyn SignalTransport,
    peer: PublicKey,
    (recipients, message, route): Item,
    events: &broadcast::Sender<EngineEvent>,
) {
    let failures = match recipients {
        Recipients::One(_) => match transport.send_via(peer, &message, route).await {
            Ok(_) => Vec::new(),
            Err(e) => vec![e],
        },
        many => match transport.send_to(&many, &message, route).await {
            Ok(results) => results.into_iter().filter_map(Result::err).collect(),
            Err(e) => vec![e],
        },
    };
    for e in failures {
        tracing::warn!(error = %e, kind = %message.kind(), "call message not sent");
        let _ = events.send(EngineEvent::SignalingError {
            call_id: message.call_id,
            error: std::sync::Arc::new(e),
        });
    }
}
