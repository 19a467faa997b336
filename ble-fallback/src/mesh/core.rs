//! The sans-IO mesh node.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

use super::store::{SeenIds, Store, Stored};
use super::{Delivery, MeshConfig, MeshInput, MeshOutput, MeshStats, Outgoing};
use crate::envelope::Envelope;
use crate::frag::{self, Reassembler, ReassemblyDue, MIN_FRAME};
use crate::frame::{Frame, FrameType, MessageId, HEADER_LEN, MAX_FRAME_LEN, MAX_TTL};
use crate::link::{Advertisement, NeighborId};
use crate::mesh::DropReason;

/// A node relaying through at least this many neighbours caps TTL (BitChat's dense-graph
/// clamp: enough paths exist that long floods only waste airtime).
const DENSE_NEIGHBORS: usize = 6;
const DENSE_TTL: u8 = 5;
/// Messages awaiting acknowledgement per neighbour before further ones go untracked.
const MAX_UNACKED: usize = 256;
/// Originated messages remembered to report their first hand-over.
const MAX_ORIGINATED: usize = 256;
/// How often expired messages are dropped from the store.
const EXPIRY_SWEEP: Duration = Duration::from_secs(10);
/// The throughput assumed when estimating when a neighbour will have received what was
/// queued for it (BitChat measures about 15 KB/s per link).
const ASSUMED_BYTES_PER_SEC: u64 = 15_000;

struct Unacked {
    frames: Vec<Frame>,
    sends: u8,
    resend_at: Instant,
}

struct Neighbor {
    max_frame: usize,
    rotating_id: Option<[u8; 8]>,
    unacked: HashMap<MessageId, Unacked>,
    /// When what was queued for this neighbour should have gone out.
    drained_at: Instant,
}

struct PendingForward {
    at: Instant,
    id: MessageId,
    except: NeighborId,
    message: Vec<u8>,
    ttl: u8,
    hops: u8,
}

/// One mesh node, sans IO. Feed it with [`MeshCore::handle_input`] and
/// [`MeshCore::handle_timeout`]; drain [`MeshCore::poll_output`]; sleep until
/// [`MeshCore::poll_timeout`].
pub struct MeshCore {
    config: MeshConfig,
    rng: StdRng,
    epoch: (Instant, u64),
    rotating_id: [u8; 8],
    next_rotation: Instant,
    next_sweep: Instant,
    neighbors: BTreeMap<NeighborId, Neighbor>,
    seen: SeenIds,
    store: Store,
    reassembler: Reassembler,
    forwards: Vec<PendingForward>,
    originated: VecDeque<MessageId>,
    outputs: VecDeque<MeshOutput>,
    stats: MeshStats,
}

impl MeshCore {
    /// A node starting at `now`, which is `unix_now` seconds on the wall clock. Its first
    /// output is the advertisement to start with.
    pub fn new(config: MeshConfig, now: Instant, unix_now: u64) -> Self {
        let mut rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        let mut rotating_id = [0u8; 8];
        rng.fill_bytes(&mut rotating_id);
        let mut core = Self {
            seen: SeenIds::new(config.seen_ids),
            store: Store::new(config.store.clone()),
            reassembler: Reassembler::new(config.reassembly.clone()),
            next_rotation: now + config.id_rotation,
            next_sweep: now + EXPIRY_SWEEP,
            config,
            rng,
            epoch: (now, unix_now),
            rotating_id,
            neighbors: BTreeMap::new(),
            forwards: Vec::new(),
            originated: VecDeque::new(),
            outputs: VecDeque::new(),
            stats: MeshStats::default(),
        };
        core.outputs
            .push_back(MeshOutput::Advertise(Advertisement { rotating_id }));
        core
    }

    /// Counters so far.
    pub fn stats(&self) -> &MeshStats {
        &self.stats
    }

    /// Connected neighbours.
    pub fn neighbor_count(&self) -> usize {
        self.neighbors.len()
    }

    /// The connected neighbours, in id order.
    pub fn neighbor_ids(&self) -> Vec<NeighborId> {
        self.neighbors.keys().copied().collect()
    }

    /// Messages kept for store-and-forward.
    pub fn stored_messages(&self) -> usize {
        self.store.len()
    }

    /// Bytes held in unfinished messages.
    pub fn reassembly_bytes(&self) -> usize {
        self.reassembler.bytes_held()
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<MeshOutput> {
        self.outputs.pop_front()
    }

    /// When [`MeshCore::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Instant {
        let mut next = self.next_rotation.min(self.next_sweep);
        for forward in &self.forwards {
            next = next.min(forward.at);
        }
        for neighbor in self.neighbors.values() {
            for unacked in neighbor.unacked.values() {
                next = next.min(unacked.resend_at);
            }
        }
        if let Some(at) = self.reassembler.next_deadline() {
            next = next.min(at);
        }
        next
    }

    fn unix(&self, now: Instant) -> u64 {
        self.epoch.1 + now.saturating_duration_since(self.epoch.0).as_secs()
    }

    /// Takes one input.
    pub fn handle_input(&mut self, input: MeshInput, now: Instant) {
        match input {
            MeshInput::NeighborUp {
                neighbor,
                max_frame,
                rotating_id,
            } => self.neighbor_up(neighbor, max_frame, rotating_id, now),
            MeshInput::NeighborDown(neighbor) => {
                self.neighbors.remove(&neighbor);
                self.reassembler.forget_neighbor(neighbor);
            }
            MeshInput::Frame { neighbor, bytes } => self.frame(neighbor, &bytes, now),
            MeshInput::Send(outgoing) => self.send(outgoing, now),
            MeshInput::Voice { neighbor, packet } => {
                let Some(max_frame) = self.neighbors.get(&neighbor).map(|n| n.max_frame) else {
                    return;
                };
                if HEADER_LEN + packet.len() <= max_frame {
                    let frame = Frame::new(FrameType::Voice, 0, MessageId([0; 8]), packet);
                    self.transmit(neighbor, &frame, now);
                }
            }
        }
    }

    fn neighbor_up(
        &mut self,
        neighbor: NeighborId,
        max_frame: usize,
        rotating_id: Option<[u8; 8]>,
        now: Instant,
    ) {
        self.neighbors.insert(
            neighbor,
            Neighbor {
                max_frame: max_frame.clamp(MIN_FRAME, MAX_FRAME_LEN),
                rotating_id,
                unacked: HashMap::new(),
                drained_at: now,
            },
        );
        let announce = Frame::new(
            FrameType::Announce,
            0,
            MessageId(self.rotating_id),
            Vec::new(),
        );
        self.transmit(neighbor, &announce, now);
        // Store-and-forward: whoever shows up gets what it has not acknowledged.
        for stored in self.store.for_neighbor(rotating_id, self.unix(now)) {
            self.send_message_to(
                neighbor,
                stored.id,
                &stored.message,
                stored.ttl,
                stored.hops,
                now,
            );
        }
    }

    fn send(&mut self, outgoing: Outgoing, now: Instant) {
        let Outgoing { id, envelope } = outgoing;
        if envelope.expires_at <= self.unix(now) || !self.seen.insert(id) {
            self.outputs.push_back(MeshOutput::Refused { id });
            return;
        }
        self.originated.push_back(id);
        if self.originated.len() > MAX_ORIGINATED {
            self.originated.pop_front();
        }
        let message = envelope.encode();
        let stored = Stored {
            id,
            message: message.clone(),
            expires_at: envelope.expires_at,
            ttl: MAX_TTL,
            hops: 0,
            acked_by: Default::default(),
        };
        self.store.keep(envelope.recipient, stored, self.unix(now));
        if self.neighbors.is_empty() {
            self.outputs.push_back(MeshOutput::Queued { id });
            return;
        }
        let neighbors: Vec<NeighborId> = self.neighbors.keys().copied().collect();
        for neighbor in neighbors {
            self.send_message_to(neighbor, id, &message, MAX_TTL, 0, now);
        }
    }

    fn frame(&mut self, neighbor: NeighborId, bytes: &[u8], now: Instant) {
        self.stats.frames_in += 1;
        if !self.neighbors.contains_key(&neighbor) {
            self.stats.drop(DropReason::UnknownNeighbor);
            return;
        }
        let frame = match Frame::decode(bytes) {
            Ok(frame) => frame,
            Err(error) => return self.stats.drop(error),
        };
        match frame.kind {
            FrameType::Announce => {
                if !frame.payload.is_empty() || frame.ttl != 0 {
                    return self.stats.drop(DropReason::BadControl);
                }
                if let Some(n) = self.neighbors.get_mut(&neighbor) {
                    n.rotating_id = Some(frame.id.0);
                }
            }
            FrameType::Message => self.message(
                neighbor,
                frame.id,
                frame.ttl,
                frame.hops,
                frame.payload,
                now,
            ),
            FrameType::Fragment => {
                if self.seen.contains(frame.id)
                    && !self.reassembler.is_rebuilding(neighbor, frame.id)
                {
                    // A piece of something we already have: tell the sender to stop.
                    self.stats.duplicates += 1;
                    return self.control(neighbor, FrameType::Ack, frame.id, Vec::new(), now);
                }
                match self.reassembler.accept(neighbor, &frame, now) {
                    Ok(Some(done)) => {
                        self.message(neighbor, done.id, done.ttl, done.hops, done.message, now)
                    }
                    Ok(None) => {}
                    Err(error) => self.stats.drop(error),
                }
            }
            FrameType::Ack => self.ack(neighbor, &frame),
            FrameType::Nack => self.nack(neighbor, &frame, now),
            FrameType::Voice => {
                if frame.ttl != 0 || frame.payload.is_empty() {
                    return self.stats.drop(DropReason::BadControl);
                }
                self.outputs.push_back(MeshOutput::Voice {
                    neighbor,
                    packet: frame.payload,
                });
            }
        }
    }

    fn message(
        &mut self,
        from: NeighborId,
        id: MessageId,
        ttl: u8,
        hops: u8,
        message: Vec<u8>,
        now: Instant,
    ) {
        self.control(from, FrameType::Ack, id, Vec::new(), now);
        if !self.seen.insert(id) {
            self.stats.duplicates += 1;
            return;
        }
        let envelope = match Envelope::decode(&message) {
            Ok(envelope) => envelope,
            Err(error) => return self.stats.drop(error),
        };
        if envelope.expires_at <= self.unix(now) {
            return self.stats.drop(DropReason::Expired);
        }
        let hops = hops.saturating_add(1);
        if self.config.interests.contains(&envelope.recipient) {
            self.stats.delivered += 1;
            self.outputs
                .push_back(MeshOutput::Deliver(Delivery { id, envelope, hops }));
            return;
        }
        if ttl <= 1 {
            return;
        }
        let mut next_ttl = ttl - 1;
        if self.neighbors.len() >= DENSE_NEIGHBORS {
            next_ttl = next_ttl.min(DENSE_TTL);
        }
        let mut acked_by = std::collections::HashSet::new();
        if let Some(rid) = self.neighbors.get(&from).and_then(|n| n.rotating_id) {
            acked_by.insert(rid);
        }
        let stored = Stored {
            id,
            message: message.clone(),
            expires_at: envelope.expires_at,
            ttl: next_ttl,
            hops,
            acked_by,
        };
        self.store.keep(envelope.recipient, stored, self.unix(now));
        let (low, high) = self.config.relay_jitter;
        let jitter = if high > low {
            self.rng.random_range(low..high)
        } else {
            low
        };
        self.forwards.push(PendingForward {
            at: now + jitter,
            id,
            except: from,
            message,
            ttl: next_ttl,
            hops,
        });
    }

    fn ack(&mut self, neighbor: NeighborId, frame: &Frame) {
        if !frame.payload.is_empty() {
            return self.stats.drop(DropReason::BadControl);
        }
        let Some(n) = self.neighbors.get_mut(&neighbor) else {
            return;
        };
        // An ack for something not awaited (a second ack, a late one) is normal.
        n.unacked.remove(&frame.id);
        if let Some(rid) = n.rotating_id {
            self.store.mark_acked(frame.id, rid);
        }
        if let Some(at) = self.originated.iter().position(|id| *id == frame.id) {
            self.originated.remove(at);
            self.outputs.push_back(MeshOutput::Handed { id: frame.id });
        }
    }

    fn nack(&mut self, neighbor: NeighborId, frame: &Frame, now: Instant) {
        let Some(missing) = frag::decode_missing(&frame.payload) else {
            return self.stats.drop(DropReason::BadControl);
        };
        let Some(unacked) = self
            .neighbors
            .get_mut(&neighbor)
            .and_then(|n| n.unacked.get_mut(&frame.id))
        else {
            return;
        };
        let resend: Vec<Frame> = unacked
            .frames
            .iter()
            .filter(|f| frag::fragment_index(f).is_some_and(|i| missing.contains(&i)))
            .cloned()
            .collect();
        unacked.resend_at = now + self.config.resend_after;
        self.stats.fragments_resent += resend.len() as u64;
        for piece in &resend {
            self.transmit(neighbor, piece, now);
        }
    }

    /// Handles what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.forwards)
            .into_iter()
            .partition(|f| f.at <= now);
        self.forwards = later;
        for forward in due {
            let targets: Vec<NeighborId> = self
                .neighbors
                .keys()
                .filter(|n| **n != forward.except)
                .copied()
                .collect();
            if !targets.is_empty() {
                self.stats.relayed += 1;
            }
            for neighbor in targets {
                self.send_message_to(
                    neighbor,
                    forward.id,
                    &forward.message,
                    forward.ttl,
                    forward.hops,
                    now,
                );
            }
        }
        self.resend_due(now);
        for due in self.reassembler.due(now) {
            match due {
                ReassemblyDue::Nack {
                    neighbor,
                    id,
                    missing,
                } => {
                    let max = self
                        .neighbors
                        .get(&neighbor)
                        .map_or(MIN_FRAME, |n| n.max_frame);
                    let payload = frag::encode_missing(&missing, max - HEADER_LEN);
                    self.control(neighbor, FrameType::Nack, id, payload, now);
                }
                ReassemblyDue::TimedOut { .. } => self.stats.drop(DropReason::ReassemblyTimeout),
            }
        }
        if now >= self.next_rotation {
            self.next_rotation = now + self.config.id_rotation;
            self.rng.fill_bytes(&mut self.rotating_id);
            let rotating_id = self.rotating_id;
            self.outputs
                .push_back(MeshOutput::Advertise(Advertisement { rotating_id }));
            let announce = Frame::new(FrameType::Announce, 0, MessageId(rotating_id), Vec::new());
            let neighbors: Vec<NeighborId> = self.neighbors.keys().copied().collect();
            for neighbor in neighbors {
                self.transmit(neighbor, &announce, now);
            }
        }
        if now >= self.next_sweep {
            self.next_sweep = now + EXPIRY_SWEEP;
            let unix = self.unix(now);
            self.store.expire(unix);
        }
    }

    fn resend_due(&mut self, now: Instant) {
        let mut resends: Vec<(NeighborId, Vec<Frame>)> = Vec::new();
        for (id, neighbor) in &mut self.neighbors {
            let max_sends = self.config.max_sends;
            let before = neighbor.unacked.len();
            neighbor
                .unacked
                .retain(|_, u| u.resend_at > now || u.sends < max_sends);
            self.stats.gave_up += (before - neighbor.unacked.len()) as u64;
            for unacked in neighbor.unacked.values_mut() {
                if unacked.resend_at <= now {
                    unacked.sends += 1;
                    unacked.resend_at = now + self.config.resend_after * u32::from(unacked.sends);
                    self.stats.resends += 1;
                    resends.push((*id, unacked.frames.clone()));
                }
            }
        }
        for (neighbor, frames) in resends {
            for frame in &frames {
                self.transmit(neighbor, frame, now);
            }
        }
    }

    fn send_message_to(
        &mut self,
        neighbor: NeighborId,
        id: MessageId,
        message: &[u8],
        ttl: u8,
        hops: u8,
        now: Instant,
    ) {
        let Some(n) = self.neighbors.get(&neighbor) else {
            return;
        };
        if n.unacked.contains_key(&id) {
            return;
        }
        let frames = frag::split(id, ttl, hops, message, n.max_frame);
        for frame in &frames {
            self.transmit(neighbor, frame, now);
        }
        let n = self.neighbors.get_mut(&neighbor).expect("checked above");
        if n.unacked.len() < MAX_UNACKED {
            // Wait for the acknowledgement from when the neighbour should have it all.
            let resend_at = n.drained_at.max(now) + self.config.resend_after;
            n.unacked.insert(
                id,
                Unacked {
                    frames,
                    sends: 1,
                    resend_at,
                },
            );
        }
    }

    fn control(
        &mut self,
        to: NeighborId,
        kind: FrameType,
        id: MessageId,
        payload: Vec<u8>,
        now: Instant,
    ) {
        self.transmit(to, &Frame::new(kind, 0, id, payload), now);
    }

    fn transmit(&mut self, to: NeighborId, frame: &Frame, now: Instant) {
        let bytes = frame.encode();
        if let Some(n) = self.neighbors.get_mut(&to) {
            let airtime =
                Duration::from_micros(bytes.len() as u64 * 1_000_000 / ASSUMED_BYTES_PER_SEC);
            n.drained_at = n.drained_at.max(now) + airtime;
        }
        self.stats.frames_out += 1;
        self.outputs
            .push_back(MeshOutput::Transmit { to, frame: bytes });
    }
}
