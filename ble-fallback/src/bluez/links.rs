//! What both roles share: the adapter, the one event channel to
//! [`crate::BleLink::next_event`], and the table of connections, numbered for the mesh.
//! Its locks are plain mutexes, never held across an `.await`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bluer::gatt::CharacteristicWriter;
use bluer::{Adapter, Address};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub(crate) use super::connection::{Link, Role};
use super::tables::{Heard, Parked};
use super::wire::acceptable_from_air;
use crate::link::{BleError, LinkEvent, NeighborId};

/// Events waiting for the mesh. Frames beyond this are dropped (the mesh resends);
/// connection changes wait for room.
pub(crate) const EVENT_BUFFER: usize = 1024;

#[derive(Default)]
struct Table {
    next: u64,
    links: HashMap<NeighborId, Link>,
    connecting: HashSet<Address>,
}

/// The state of one [`super::BluezRadio`], shared with its tasks and GATT callbacks.
pub(crate) struct Shared {
    pub(crate) adapter: Adapter,
    events: mpsc::Sender<LinkEvent>,
    table: Mutex<Table>,
    heard: Mutex<Heard<Address>>,
    parked: Mutex<Parked<Address>>,
    closed: watch::Sender<bool>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the radio down with it: the data stays usable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    pub(crate) fn new(adapter: Adapter) -> (Arc<Self>, mpsc::Receiver<LinkEvent>) {
        let (events, receiver) = mpsc::channel(EVENT_BUFFER);
        let shared = Arc::new(Self {
            adapter,
            events,
            table: Mutex::new(Table::default()),
            heard: Mutex::new(Heard::new()),
            parked: Mutex::new(Parked::new()),
            closed: watch::channel(false).0,
        });
        (shared, receiver)
    }

    pub(crate) fn close(&self) {
        self.closed.send_replace(true);
    }

    pub(crate) fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    pub(crate) fn closed(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }

    /// Reports a connection change (waits for room in the channel).
    pub(crate) async fn emit(&self, event: LinkEvent) {
        if !self.is_closed() {
            let _ = self.events.send(event).await;
        }
    }

    /// Reports a frame from the air: bounded, and dropped rather than waited for.
    pub(crate) fn emit_frame(&self, neighbor: NeighborId, frame: Vec<u8>) {
        if !acceptable_from_air(&frame) {
            tracing::debug!(len = frame.len(), "BLE frame of a bad size dropped");
            return;
        }
        if self.is_closed() {
            return;
        }
        let event = LinkEvent::Received { neighbor, frame };
        if self.events.try_send(event).is_err() {
            tracing::debug!("BLE event queue full, frame dropped");
        }
    }

    /// Adds a connection the mesh has not heard of yet; [`Self::announce`] tells it.
    pub(crate) fn add(&self, link: Link) -> NeighborId {
        let mut table = lock(&self.table);
        table.next += 1;
        let neighbor = NeighborId(table.next);
        table.links.insert(neighbor, link);
        neighbor
    }

    /// Gives a connection the task that serves it (stopped with the connection).
    pub(crate) fn set_task(&self, neighbor: NeighborId, task: JoinHandle<()>) {
        match lock(&self.table).links.get_mut(&neighbor) {
            Some(link) => link.task = Some(task),
            None => task.abort(),
        }
    }

    /// Tells the mesh of a connection added with [`Self::add`], then hands it the writes
    /// that arrived before (peripheral side).
    pub(crate) async fn announce(&self, neighbor: NeighborId, rotating_id: Option<[u8; 8]>) {
        let Some((max_frame, role)) = lock(&self.table)
            .links
            .get(&neighbor)
            .map(|l| (l.max_frame, l.role))
        else {
            return;
        };
        // Never the address in the log: it is someone else's, possibly their only one.
        tracing::debug!(neighbor = neighbor.0, ?role, max_frame, "BLE link up");
        self.emit(LinkEvent::Connected {
            neighbor,
            max_frame,
            rotating_id,
        })
        .await;
        // Marking it ready and taking what was parked happen under the table's lock, so
        // a write either finds the link ready or is parked before this takes the queue.
        let early = {
            let mut table = lock(&self.table);
            let Some(link) = table.links.get_mut(&neighbor) else {
                return;
            };
            link.ready = true;
            if link.role != Role::Peripheral {
                return;
            }
            let address = link.address;
            lock(&self.parked).take(&address, Instant::now())
        };
        for frame in early {
            self.emit_frame(neighbor, frame);
        }
    }

    /// Routes a write a central made to our characteristic: to its connection if the
    /// mesh knows it, else parked for a moment.
    pub(crate) fn central_wrote(&self, address: Address, frame: Vec<u8>) {
        if !acceptable_from_air(&frame) {
            tracing::debug!(len = frame.len(), "BLE write of a bad size dropped");
            return;
        }
        let ready = {
            let table = lock(&self.table);
            let found = table
                .links
                .iter()
                .find(|(_, l)| l.address == address && l.role == Role::Peripheral);
            match found {
                Some((neighbor, link)) if link.ready => Some(*neighbor),
                _ => {
                    if !lock(&self.parked).park(address, frame.clone(), Instant::now()) {
                        tracing::debug!("BLE write from an unsubscribed central dropped");
                    }
                    None
                }
            }
        };
        if let Some(neighbor) = ready {
            self.emit_frame(neighbor, frame);
        }
    }

    /// Removes a connection and stops its task; the caller reports it.
    pub(crate) fn remove(&self, neighbor: NeighborId) -> Option<Link> {
        let mut link = lock(&self.table).links.remove(&neighbor)?;
        link.stop();
        Some(link)
    }

    /// A connection ended by itself: remove it and tell the mesh. Called by the
    /// connection's own task, which is therefore let go rather than stopped (stopping it
    /// could cancel this very report).
    pub(crate) async fn gone(&self, neighbor: NeighborId) {
        let removed = lock(&self.table).links.remove(&neighbor);
        if let Some(mut link) = removed {
            drop(link.task.take());
            drop(link);
            tracing::debug!(neighbor = neighbor.0, "BLE link down");
            self.emit(LinkEvent::Disconnected { neighbor }).await;
        }
    }

    /// Removes every connection (shutdown).
    pub(crate) fn remove_all(&self) -> Vec<Link> {
        let mut table = lock(&self.table);
        table.connecting.clear();
        let mut links: Vec<Link> = table.links.drain().map(|(_, link)| link).collect();
        links.iter_mut().for_each(Link::stop);
        links
    }

    /// The way to a neighbour and the frame size it takes.
    pub(crate) fn writer(
        &self,
        neighbor: NeighborId,
    ) -> Result<(Arc<CharacteristicWriter>, usize), BleError> {
        lock(&self.table)
            .links
            .get(&neighbor)
            .map(|link| (link.writer.clone(), link.max_frame))
            .ok_or(BleError::NotConnected(neighbor))
    }

    /// Whether any connection (either role) goes to `address`.
    pub(crate) fn has_link_to(&self, address: Address) -> bool {
        lock(&self.table)
            .links
            .values()
            .any(|link| link.address == address)
    }

    /// Marks a connection attempt as under way; false if `address` is already connected
    /// (either way round, as in the simulated radio) or being connected: then there is
    /// nothing to do.
    pub(crate) fn begin_connect(&self, address: Address) -> bool {
        let mut table = lock(&self.table);
        let linked = table.links.values().any(|l| l.address == address);
        !linked && table.connecting.insert(address)
    }

    /// Removes the peripheral-side connections of `address` (it subscribed again, so the
    /// old ones are stale); the caller reports them.
    pub(crate) fn remove_peripheral(&self, address: Address) -> Vec<NeighborId> {
        let mut table = lock(&self.table);
        let stale: Vec<NeighborId> = table
            .links
            .iter()
            .filter(|(_, l)| l.address == address && l.role == Role::Peripheral)
            .map(|(neighbor, _)| *neighbor)
            .collect();
        for neighbor in &stale {
            if let Some(mut link) = table.links.remove(neighbor) {
                link.stop();
            }
        }
        stale
    }

    pub(crate) fn end_connect(&self, address: Address) {
        lock(&self.table).connecting.remove(&address);
    }

    /// Records an advertisement heard; true when the mesh should hear of it now.
    pub(crate) fn heard(&self, address: Address, rotating_id: [u8; 8]) -> bool {
        lock(&self.heard).advertised(address, rotating_id, Instant::now())
    }

    /// The rotating id `address` advertised last.
    pub(crate) fn heard_id(&self, address: Address) -> Option<[u8; 8]> {
        lock(&self.heard).rotating_id(&address)
    }
}
