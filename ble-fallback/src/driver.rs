//! Runs a [`MeshCore`] over a [`BleLink`] on Tokio: the radio's events and the layer
//! above's sends go in, frames and deliveries come out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::frame::MessageId;
use crate::link::{BleLink, LinkEvent, NeighborId};
use crate::mesh::{Delivery, MeshConfig, MeshCore, MeshInput, MeshOutput, MeshStats, Outgoing};

/// Deliveries waiting for the layer above before the mesh stops reading the radio.
const DELIVERY_BUFFER: usize = 256;
/// Voice packets waiting for the call before the oldest are lost (late voice is useless).
const VOICE_BUFFER: usize = 64;

/// What became of a message handed to the mesh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandOver {
    /// A neighbour acknowledged it.
    Handed,
    /// No neighbour is in range; it is kept and sent to whoever comes (until it expires).
    Queued,
    /// Not sent: already expired, or its id was carried before.
    Refused,
    /// The mesh is shut down.
    Closed,
}

enum Command {
    Send(Outgoing, oneshot::Sender<HandOver>),
    Voice(NeighborId, Vec<u8>),
    Shutdown,
}

/// What a running node reports about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeStatus {
    /// Connected neighbours.
    pub neighbors: usize,
    /// Their ids, in order (what a direct voice call sends to).
    pub neighbor_ids: Vec<NeighborId>,
    /// Messages kept for store-and-forward.
    pub stored: usize,
    /// Counters.
    pub stats: MeshStats,
}

/// A mesh node running on its own task.
pub struct MeshNode {
    commands: mpsc::UnboundedSender<Command>,
    deliveries: tokio::sync::Mutex<mpsc::Receiver<Delivery>>,
    voice: tokio::sync::Mutex<mpsc::Receiver<(NeighborId, Vec<u8>)>>,
    status: watch::Receiver<NodeStatus>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl MeshNode {
    /// Starts a node on `link`. Must run inside a Tokio runtime.
    pub fn spawn(link: Arc<dyn BleLink>, config: MeshConfig) -> Self {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (delivery_tx, deliveries) = mpsc::channel(DELIVERY_BUFFER);
        let (voice_tx, voice) = mpsc::channel(VOICE_BUFFER);
        let (status_tx, status) = watch::channel(NodeStatus::default());
        let unix_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let core = MeshCore::new(config, Instant::now().into_std(), unix_now);
        let task = tokio::spawn(run(Running {
            core,
            link,
            commands: command_rx,
            deliveries: delivery_tx,
            voice: voice_tx,
            status: status_tx,
            waiters: HashMap::new(),
            rotating_id: None,
        }));
        Self {
            commands,
            deliveries: tokio::sync::Mutex::new(deliveries),
            voice: tokio::sync::Mutex::new(voice),
            status,
            task: Mutex::new(Some(task)),
        }
    }

    /// Sends a message; resolves when a neighbour has it, or at once when none is in
    /// range (it is then kept for later).
    pub async fn send(&self, outgoing: Outgoing) -> HandOver {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Send(outgoing, tx)).is_err() {
            return HandOver::Closed;
        }
        rx.await.unwrap_or(HandOver::Closed)
    }

    /// The next message for us; `None` once the node has stopped.
    pub async fn recv(&self) -> Option<Delivery> {
        self.deliveries.lock().await.recv().await
    }

    /// Sends a voice packet to a neighbour (direct, not relayed, not acknowledged).
    pub fn send_voice(&self, neighbor: NeighborId, packet: Vec<u8>) {
        let _ = self.commands.send(Command::Voice(neighbor, packet));
    }

    /// The next voice packet from a neighbour.
    pub async fn recv_voice(&self) -> Option<(NeighborId, Vec<u8>)> {
        self.voice.lock().await.recv().await
    }

    /// The node's status, updated as it runs.
    pub fn status(&self) -> watch::Receiver<NodeStatus> {
        self.status.clone()
    }

    /// Stops the node (the radio is shut down too).
    pub async fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown);
        let task = self.task.lock().expect("mesh node poisoned").take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for MeshNode {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
    }
}

struct Running {
    core: MeshCore,
    link: Arc<dyn BleLink>,
    commands: mpsc::UnboundedReceiver<Command>,
    deliveries: mpsc::Sender<Delivery>,
    voice: mpsc::Sender<(NeighborId, Vec<u8>)>,
    status: watch::Sender<NodeStatus>,
    waiters: HashMap<MessageId, oneshot::Sender<HandOver>>,
    rotating_id: Option<[u8; 8]>,
}

async fn run(mut node: Running) {
    loop {
        if !node.flush().await {
            break;
        }
        let deadline = Instant::from_std(node.core.poll_timeout());
        tokio::select! {
            command = node.commands.recv() => match command {
                Some(Command::Send(outgoing, waiter)) => {
                    node.waiters.insert(outgoing.id, waiter);
                    node.core.handle_input(MeshInput::Send(outgoing), now());
                }
                Some(Command::Voice(neighbor, packet)) => {
                    node.core.handle_input(MeshInput::Voice { neighbor, packet }, now());
                }
                Some(Command::Shutdown) | None => break,
            },
            event = node.link.next_event() => match event {
                Some(event) => node.on_link_event(event).await,
                None => break,
            },
            () = tokio::time::sleep_until(deadline) => node.core.handle_timeout(now()),
        }
    }
    node.link.shutdown().await;
    for (_, waiter) in node.waiters.drain() {
        let _ = waiter.send(HandOver::Closed);
    }
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

impl Running {
    async fn on_link_event(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Discovered {
                address,
                rotating_id,
            } => {
                // Both sides discover each other; the lower rotating id connects, so a
                // pair ends up with one connection.
                if self.rotating_id.is_some_and(|own| own < rotating_id) {
                    if let Err(error) = self.link.connect(&address).await {
                        tracing::debug!(%error, "BLE connect failed");
                    }
                }
            }
            LinkEvent::Connected {
                neighbor,
                max_frame,
                rotating_id,
            } => self.core.handle_input(
                MeshInput::NeighborUp {
                    neighbor,
                    max_frame,
                    rotating_id,
                },
                now(),
            ),
            LinkEvent::Disconnected { neighbor } => self
                .core
                .handle_input(MeshInput::NeighborDown(neighbor), now()),
            LinkEvent::Received { neighbor, frame } => self.core.handle_input(
                MeshInput::Frame {
                    neighbor,
                    bytes: frame,
                },
                now(),
            ),
        }
    }

    /// Carries out what the core asked for; false once the layer above is gone.
    async fn flush(&mut self) -> bool {
        while let Some(output) = self.core.poll_output() {
            match output {
                MeshOutput::Transmit { to, frame } => {
                    if let Err(error) = self.link.send(to, frame).await {
                        tracing::debug!(%error, "BLE send failed");
                    }
                }
                MeshOutput::Deliver(delivery) => {
                    if self.deliveries.send(delivery).await.is_err() {
                        return false;
                    }
                }
                MeshOutput::Voice { neighbor, packet } => {
                    let _ = self.voice.try_send((neighbor, packet));
                }
                MeshOutput::Handed { id } => self.answer(id, HandOver::Handed),
                MeshOutput::Queued { id } => self.answer(id, HandOver::Queued),
                MeshOutput::Refused { id } => self.answer(id, HandOver::Refused),
                MeshOutput::Advertise(ad) => {
                    self.rotating_id = Some(ad.rotating_id);
                    if let Err(error) = self.link.advertise_and_scan(ad).await {
                        tracing::warn!(%error, "BLE advertising failed");
                    }
                }
            }
        }
        let status = NodeStatus {
            neighbors: self.core.neighbor_count(),
            neighbor_ids: self.core.neighbor_ids(),
            stored: self.core.stored_messages(),
            stats: self.core.stats().clone(),
        };
        self.status.send_if_modified(|old| {
            let changed = *old != status;
            *old = status;
            changed
        });
        true
    }

    fn answer(&mut self, id: MessageId, outcome: HandOver) {
        if let Some(waiter) = self.waiters.remove(&id) {
            let _ = waiter.send(outcome);
        }
    }
}

/// How long [`MeshNode::send`] callers usually wait for a neighbour: a few resends.
pub const HAND_OVER_WAIT: Duration = Duration::from_secs(5);
