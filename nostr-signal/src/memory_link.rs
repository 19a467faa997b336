//! An in-process link: hubs of one program hand each other wraps directly. For tests and
//! demos of the hub (and as the model the Bluetooth LE simulation builds on); it carries
//! the same opaque wraps the relays carry, so the hub treats it like any other link.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use nostr_sdk::{Event, PublicKey};

use crate::link::{Accepted, Arrival, ArrivalSink, Destination, LinkKind, SignalLink, Via};
use crate::SignalError;

struct Node {
    id: u64,
    key: PublicKey,
    sink: ArrivalSink,
}

/// A set of hubs that reach each other in-process. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct MemoryNet {
    nodes: Arc<Mutex<Vec<Node>>>,
    next_id: Arc<AtomicU64>,
}

impl MemoryNet {
    /// An empty net.
    pub fn new() -> Self {
        Self::default()
    }

    /// A link for the hub of `key` whose arrivals go to `sink`.
    pub fn attach(&self, key: PublicKey, sink: ArrivalSink) -> MemoryLink {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.nodes
            .lock()
            .expect("memory net poisoned")
            .push(Node { id, key, sink });
        MemoryLink {
            net: self.clone(),
            id,
            key,
        }
    }

    /// Hands `wrap` to every node of `recipient`; how many got it. Lets tests put a wrap
    /// built elsewhere on this link.
    pub async fn inject(&self, wrap: Event, recipient: PublicKey) -> usize {
        self.hand_to(wrap, |node| node.key == recipient).await
    }

    async fn hand_to(&self, wrap: Event, pick: impl Fn(&Node) -> bool) -> usize {
        let sinks: Vec<ArrivalSink> = self
            .nodes
            .lock()
            .expect("memory net poisoned")
            .iter()
            .filter(|node| pick(node))
            .map(|node| node.sink.clone())
            .collect();
        let mut handed = 0;
        for sink in sinks {
            let arrival = Arrival {
                wrap: wrap.clone(),
                via: Via::link(LinkKind::Memory),
            };
            if sink.send(arrival).await.is_ok() {
                handed += 1;
            }
        }
        handed
    }

    fn detach(&self, id: u64) {
        self.nodes
            .lock()
            .expect("memory net poisoned")
            .retain(|node| node.id != id);
    }
}

/// One hub's end of a [`MemoryNet`].
pub struct MemoryLink {
    net: MemoryNet,
    id: u64,
    key: PublicKey,
}

#[async_trait]
impl SignalLink for MemoryLink {
    fn kind(&self) -> LinkKind {
        LinkKind::Memory
    }

    async fn deliver(&self, wrap: Event, to: Destination) -> Result<Accepted, SignalError> {
        let handed = match to {
            Destination::Peer { peer, .. } => self.net.hand_to(wrap, |n| n.key == peer).await,
            Destination::OwnDevices => {
                let (me, id) = (self.key, self.id);
                self.net.hand_to(wrap, |n| n.key == me && n.id != id).await;
                // Having no other device is not a failure.
                return Ok(Accepted::Link(LinkKind::Memory));
            }
        };
        if handed == 0 {
            return Err(SignalError::Unreachable {
                link: LinkKind::Memory,
            });
        }
        Ok(Accepted::Link(LinkKind::Memory))
    }

    fn hides_network_address(&self) -> bool {
        // Nothing leaves the process.
        true
    }

    async fn shutdown(&self) {
        self.net.detach(self.id);
    }
}

impl Drop for MemoryLink {
    fn drop(&mut self) {
        self.net.detach(self.id);
    }
}
