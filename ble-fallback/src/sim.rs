//! A simulated Bluetooth LE radio, in process, for tests and benches: this machine has no
//! Bluetooth controller and no `/dev/vhci`, so no virtual controller either.
//!
//! It models what the mesh depends on: which nodes hear which (range, changed at any time
//! to move nodes in and out), the frame size of a connection, per-connection throughput
//! (frames queue behind each other), latency and random loss. Time is Tokio's, so tests
//! under `tokio::time::pause` run minutes of radio in milliseconds.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::link::{Advertisement, BleError, BleLink, LinkEvent, NeighborId, RadioAddress};

/// How the simulated air behaves.
#[derive(Debug, Clone)]
pub struct SimParams {
    /// Largest frame per connection (ATT MTU 247 minus 3, what phones negotiate).
    pub max_frame: usize,
    /// Throughput of one connection, each way.
    pub bytes_per_sec: u64,
    /// Time from the end of a transmission to its arrival.
    pub latency: Duration,
    /// Chance that a frame is lost.
    pub loss: f64,
    /// Seed of the loss draws.
    pub seed: u64,
}

impl Default for SimParams {
    fn default() -> Self {
        Self {
            max_frame: 244,
            bytes_per_sec: 15_000,
            latency: Duration::from_millis(15),
            loss: 0.0,
            seed: 1,
        }
    }
}

type NodeIndex = usize;

struct Connection {
    ends: [(NodeIndex, NeighborId); 2],
    /// Per direction (0: ends[0] to ends[1]): when the last queued frame is off the air,
    /// and the queue that delivers in order.
    busy_until: [Instant; 2],
    pipes: [mpsc::UnboundedSender<(Instant, Vec<u8>)>; 2],
}

struct Node {
    name: String,
    events: mpsc::UnboundedSender<LinkEvent>,
    advert: Option<Advertisement>,
    next_neighbor: u64,
}

/// What a passive listener next to every node would have heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// An advertisement.
    Advertisement {
        /// The node (its simulated address).
        from: String,
        /// What it advertised.
        ad: Advertisement,
    },
    /// A frame on a connection.
    Frame {
        /// The sending node.
        from: String,
        /// The bytes.
        frame: Vec<u8>,
    },
}

struct Air {
    params: SimParams,
    capture: Option<Vec<Heard>>,
    rng: StdRng,
    nodes: Vec<Node>,
    in_range: HashSet<(NodeIndex, NodeIndex)>,
    connections: Vec<Connection>,
}

impl Air {
    fn pair(a: NodeIndex, b: NodeIndex) -> (NodeIndex, NodeIndex) {
        (a.min(b), a.max(b))
    }

    fn hears(&self, a: NodeIndex, b: NodeIndex) -> bool {
        self.in_range.contains(&Self::pair(a, b))
    }

    fn connection_of(&self, node: NodeIndex, neighbor: NeighborId) -> Option<(usize, usize)> {
        self.connections.iter().enumerate().find_map(|(i, c)| {
            c.ends
                .iter()
                .position(|end| *end == (node, neighbor))
                .map(|side| (i, side))
        })
    }

    fn announce_to(&self, listener: NodeIndex, heard: NodeIndex) {
        if let (Some(ad), Some(_)) = (self.nodes[heard].advert, self.nodes[listener].advert) {
            let _ = self.nodes[listener].events.send(LinkEvent::Discovered {
                address: RadioAddress(self.nodes[heard].name.clone()),
                rotating_id: ad.rotating_id,
            });
        }
    }
}

/// The simulated air that [`SimRadio`]s share. Cheap to clone.
#[derive(Clone)]
pub struct SimAir {
    air: Arc<Mutex<Air>>,
}

impl SimAir {
    /// Empty air.
    pub fn new(params: SimParams) -> Self {
        let rng = StdRng::seed_from_u64(params.seed);
        Self {
            air: Arc::new(Mutex::new(Air {
                params,
                capture: None,
                rng,
                nodes: Vec::new(),
                in_range: HashSet::new(),
                connections: Vec::new(),
            })),
        }
    }

    /// A new device called `name` (its simulated radio address), in range of nobody yet.
    pub fn add_node(&self, name: &str) -> SimRadio {
        let (events, receiver) = mpsc::unbounded_channel();
        let mut air = self.air.lock().expect("sim air poisoned");
        air.nodes.push(Node {
            name: name.to_owned(),
            events,
            advert: None,
            next_neighbor: 1,
        });
        SimRadio {
            air: self.clone(),
            index: air.nodes.len() - 1,
            events: tokio::sync::Mutex::new(receiver),
        }
    }

    /// Puts `a` and `b` in range of each other or out of it. Out of range ends their
    /// connection at once; in range lets their scans find each other.
    pub fn set_in_range(&self, a: &SimRadio, b: &SimRadio, in_range: bool) {
        let (a, b) = (a.index, b.index);
        let mut air = self.air.lock().expect("sim air poisoned");
        if in_range {
            if air.in_range.insert(Air::pair(a, b)) {
                air.announce_to(a, b);
                air.announce_to(b, a);
            }
            return;
        }
        air.in_range.remove(&Air::pair(a, b));
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut air.connections)
            .into_iter()
            .partition(|c| Air::pair(c.ends[0].0, c.ends[1].0) == Air::pair(a, b));
        air.connections = kept;
        for connection in gone {
            for (node, neighbor) in connection.ends {
                let _ = air.nodes[node]
                    .events
                    .send(LinkEvent::Disconnected { neighbor });
            }
        }
    }

    /// Puts `radios` in a line, each in range of the next only.
    pub fn line(&self, radios: &[&SimRadio]) {
        for pair in radios.windows(2) {
            self.set_in_range(pair[0], pair[1], true);
        }
    }

    /// Takes `radio` out of everyone's range (it walked away).
    pub fn isolate(&self, radio: &SimRadio) {
        let count = self.air.lock().expect("sim air poisoned").nodes.len();
        for other in 0..count {
            if other != radio.index {
                let other = SimRadio::handle(self, other);
                self.set_in_range(radio, &other, false);
            }
        }
    }

    /// Starts recording everything sent on the air (advertisements and frames), as a
    /// listener in range of every node would.
    pub fn start_capture(&self) {
        self.air.lock().expect("sim air poisoned").capture = Some(Vec::new());
    }

    /// What was recorded since [`SimAir::start_capture`].
    pub fn captured(&self) -> Vec<Heard> {
        self.air
            .lock()
            .expect("sim air poisoned")
            .capture
            .clone()
            .unwrap_or_default()
    }

    /// Changes the loss rate from now on.
    pub fn set_loss(&self, loss: f64) {
        self.air.lock().expect("sim air poisoned").params.loss = loss;
    }
}

/// One simulated device's radio.
pub struct SimRadio {
    air: SimAir,
    index: NodeIndex,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<LinkEvent>>,
}

impl SimRadio {
    /// A handle that names a node for range changes (it receives no events).
    fn handle(air: &SimAir, index: NodeIndex) -> Self {
        let (_, receiver) = mpsc::unbounded_channel();
        Self {
            air: air.clone(),
            index,
            events: tokio::sync::Mutex::new(receiver),
        }
    }
}

fn deliver_in_order(
    mut pipe: mpsc::UnboundedReceiver<(Instant, Vec<u8>)>,
    events: mpsc::UnboundedSender<LinkEvent>,
    receiver: NodeIndex,
    neighbor: NeighborId,
    air: SimAir,
) {
    tokio::spawn(async move {
        while let Some((at, frame)) = pipe.recv().await {
            tokio::time::sleep_until(at).await;
            // Frames in flight when the connection ended are lost with it.
            let alive = air
                .air
                .lock()
                .expect("sim air poisoned")
                .connection_of(receiver, neighbor)
                .is_some();
            if alive {
                let _ = events.send(LinkEvent::Received { neighbor, frame });
            }
        }
    });
}

#[async_trait]
impl BleLink for SimRadio {
    async fn advertise_and_scan(&self, ad: Advertisement) -> Result<(), BleError> {
        let mut air = self.air.air.lock().expect("sim air poisoned");
        let first = air.nodes[self.index].advert.is_none();
        air.nodes[self.index].advert = Some(ad);
        let from = air.nodes[self.index].name.clone();
        if let Some(capture) = &mut air.capture {
            capture.push(Heard::Advertisement { from, ad });
        }
        if first {
            for other in 0..air.nodes.len() {
                if other != self.index && air.hears(self.index, other) {
                    air.announce_to(self.index, other);
                    air.announce_to(other, self.index);
                }
            }
        }
        Ok(())
    }

    async fn connect(&self, address: &RadioAddress) -> Result<(), BleError> {
        let mut air = self.air.air.lock().expect("sim air poisoned");
        let Some(peer) = air.nodes.iter().position(|n| n.name == address.0) else {
            return Err(BleError::ConnectFailed(format!("{} not found", address.0)));
        };
        if !air.hears(self.index, peer) {
            return Err(BleError::ConnectFailed(format!(
                "{} out of range",
                address.0
            )));
        }
        let pair = Air::pair(self.index, peer);
        if air
            .connections
            .iter()
            .any(|c| Air::pair(c.ends[0].0, c.ends[1].0) == pair)
        {
            return Ok(());
        }
        let mut ends = [(self.index, NeighborId(0)), (peer, NeighborId(0))];
        for end in &mut ends {
            let node = &mut air.nodes[end.0];
            end.1 = NeighborId(node.next_neighbor);
            node.next_neighbor += 1;
        }
        let now = Instant::now();
        let (to_peer, from_me) = mpsc::unbounded_channel();
        let (to_me, from_peer) = mpsc::unbounded_channel();
        deliver_in_order(
            from_me,
            air.nodes[peer].events.clone(),
            peer,
            ends[1].1,
            self.air.clone(),
        );
        deliver_in_order(
            from_peer,
            air.nodes[self.index].events.clone(),
            self.index,
            ends[0].1,
            self.air.clone(),
        );
        let max_frame = air.params.max_frame;
        let rids = [air.nodes[self.index].advert, air.nodes[peer].advert];
        let _ = air.nodes[self.index].events.send(LinkEvent::Connected {
            neighbor: ends[0].1,
            max_frame,
            rotating_id: rids[1].map(|ad| ad.rotating_id),
        });
        // The peripheral side does not know who connected until it announces itself.
        let _ = air.nodes[peer].events.send(LinkEvent::Connected {
            neighbor: ends[1].1,
            max_frame,
            rotating_id: None,
        });
        air.connections.push(Connection {
            ends,
            busy_until: [now, now],
            pipes: [to_peer, to_me],
        });
        Ok(())
    }

    async fn send(&self, to: NeighborId, frame: Vec<u8>) -> Result<(), BleError> {
        let mut air = self.air.air.lock().expect("sim air poisoned");
        let max = air.params.max_frame;
        if frame.len() > max {
            return Err(BleError::FrameTooLong {
                len: frame.len(),
                max,
            });
        }
        let Some((index, side)) = air.connection_of(self.index, to) else {
            return Err(BleError::NotConnected(to));
        };
        let params = air.params.clone();
        let from = air.nodes[self.index].name.clone();
        if let Some(capture) = &mut air.capture {
            capture.push(Heard::Frame {
                from,
                frame: frame.clone(),
            });
        }
        let lost = params.loss > 0.0 && air.rng.random_bool(params.loss.min(1.0));
        let connection = &mut air.connections[index];
        let airtime = Duration::from_micros(frame.len() as u64 * 1_000_000 / params.bytes_per_sec);
        let start = connection.busy_until[side].max(Instant::now());
        connection.busy_until[side] = start + airtime;
        if !lost {
            let _ = connection.pipes[side].send((start + airtime + params.latency, frame));
        }
        Ok(())
    }

    async fn disconnect(&self, neighbor: NeighborId) {
        let mut air = self.air.air.lock().expect("sim air poisoned");
        if let Some((index, _)) = air.connection_of(self.index, neighbor) {
            let connection = air.connections.remove(index);
            for (node, neighbor) in connection.ends {
                let _ = air.nodes[node]
                    .events
                    .send(LinkEvent::Disconnected { neighbor });
            }
        }
    }

    async fn next_event(&self) -> Option<LinkEvent> {
        self.events.lock().await.recv().await
    }

    async fn shutdown(&self) {
        let count = self.air.air.lock().expect("sim air poisoned").nodes.len();
        for other in 0..count {
            if other != self.index {
                let other = SimRadio::handle(&self.air, other);
                self.air.set_in_range(self, &other, false);
            }
        }
        let mut air = self.air.air.lock().expect("sim air poisoned");
        air.nodes[self.index].advert = None;
    }
}

/// Per-node names of the neighbours, for tests that look at who is connected.
pub fn connected_pairs(air: &SimAir) -> HashMap<String, Vec<String>> {
    let air = air.air.lock().expect("sim air poisoned");
    let mut pairs: HashMap<String, Vec<String>> = HashMap::new();
    for connection in &air.connections {
        let (a, b) = (connection.ends[0].0, connection.ends[1].0);
        pairs
            .entry(air.nodes[a].name.clone())
            .or_default()
            .push(air.nodes[b].name.clone());
        pairs
            .entry(air.nodes[b].name.clone())
            .or_default()
            .push(air.nodes[a].name.clone());
    }
    pairs
}
