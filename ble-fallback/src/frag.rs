//! Splitting a message into frames a connection carries, and putting it back together
//! on the other side, with bounds on time and memory.
//!
//! Reassembly is per neighbour and hop by hop: a relay rebuilds the whole message before
//! it forwards it, so a lost piece is asked again from the neighbour that sent it
//! ([`crate::frame::FrameType::Nack`]), never from the origin several hops away.
//!
//! Fragment payload: `index u16 | total u16 | piece`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::envelope::MAX_ENVELOPE_LEN;
use crate::frame::{Frame, FrameType, MessageId, HEADER_LEN, MAX_FRAME_LEN};
use crate::link::NeighborId;

/// Bytes of the fragment header inside a frame's payload.
pub const FRAGMENT_HEADER_LEN: usize = 4;
/// The smallest frame a connection must carry for the mesh to use it (BLE's default
/// ATT MTU of 23 leaves 20; every stack since 4.2 negotiates more).
pub const MIN_FRAME: usize = HEADER_LEN + FRAGMENT_HEADER_LEN + 16;

/// Limits of reassembly.
#[derive(Debug, Clone)]
pub struct ReassemblyLimits {
    /// A message not complete after this long is given up.
    pub timeout: Duration,
    /// Messages being rebuilt at once, over all neighbours.
    pub max_sets: usize,
    /// Bytes held in unfinished messages, over all neighbours.
    pub max_bytes: usize,
    /// Silence on an unfinished message before its missing pieces are asked for again.
    pub nack_after: Duration,
    /// How often the missing pieces of one message are asked for.
    pub max_nacks: u8,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        // BitChat's figures (30 s, 1 MiB, 64-128 sets), with our smaller message bound.
        Self {
            timeout: Duration::from_secs(30),
            max_sets: 64,
            max_bytes: 1024 * 1024,
            nack_after: Duration::from_millis(400),
            max_nacks: 8,
        }
    }
}

/// Why a fragment was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum FragmentError {
    /// Payload shorter than the fragment header, or an empty piece.
    #[error("fragment without its header or piece")]
    Malformed,
    /// Index beyond total, total zero, or more pieces than any message needs.
    #[error("fragment index or total out of range")]
    OutOfRange,
    /// The total differs from earlier pieces of the same message.
    #[error("fragment disagrees with earlier pieces of its message")]
    Inconsistent,
    /// The message would exceed the largest message.
    #[error("fragments add up to more than the largest message")]
    MessageTooLong,
    /// Too many messages being rebuilt, or too many bytes held.
    #[error("reassembly is full")]
    Full,
}

/// Splits `message` into frames of at most `max_frame` bytes: one `Message` frame when it
/// fits, `Fragment` frames otherwise.
pub fn split(id: MessageId, ttl: u8, hops: u8, message: &[u8], max_frame: usize) -> Vec<Frame> {
    let max_frame = max_frame.clamp(MIN_FRAME, MAX_FRAME_LEN);
    if HEADER_LEN + message.len() <= max_frame {
        let mut frame = Frame::new(FrameType::Message, ttl, id, message.to_vec());
        frame.hops = hops;
        return vec![frame];
    }
    let piece_len = max_frame - HEADER_LEN - FRAGMENT_HEADER_LEN;
    let total = message.len().div_ceil(piece_len) as u16;
    message
        .chunks(piece_len)
        .enumerate()
        .map(|(index, piece)| {
            let mut payload = Vec::with_capacity(FRAGMENT_HEADER_LEN + piece.len());
            payload.extend_from_slice(&(index as u16).to_be_bytes());
            payload.extend_from_slice(&total.to_be_bytes());
            payload.extend_from_slice(piece);
            let mut frame = Frame::new(FrameType::Fragment, ttl, id, payload);
            frame.hops = hops;
            frame
        })
        .collect()
}

/// The index of a fragment frame, if it is one.
pub fn fragment_index(frame: &Frame) -> Option<u16> {
    (frame.kind == FrameType::Fragment && frame.payload.len() >= 2)
        .then(|| u16::from_be_bytes([frame.payload[0], frame.payload[1]]))
}

/// The most pieces any message can need at the smallest frame.
fn max_pieces() -> usize {
    MAX_ENVELOPE_LEN.div_ceil(MIN_FRAME - HEADER_LEN - FRAGMENT_HEADER_LEN)
}

struct Set {
    total: u16,
    pieces: Vec<Option<Vec<u8>>>,
    received: u16,
    bytes: usize,
    ttl: u8,
    hops: u8,
    started: Instant,
    last_progress: Instant,
    nacks: u8,
}

impl Set {
    fn missing(&self) -> Vec<u16> {
        (0..self.total)
            .filter(|i| self.pieces[usize::from(*i)].is_none())
            .collect()
    }
}

/// A message rebuilt from its pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembled {
    /// Its id.
    pub id: MessageId,
    /// TTL and hops of its pieces.
    pub ttl: u8,
    /// Hops travelled.
    pub hops: u8,
    /// The message.
    pub message: Vec<u8>,
}

/// What reassembly wants done when time passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReassemblyDue {
    /// Ask `neighbor` again for these pieces of `id`.
    Nack {
        /// Who sent the pieces.
        neighbor: NeighborId,
        /// The message.
        id: MessageId,
        /// The pieces still missing.
        missing: Vec<u16>,
    },
    /// `id` from `neighbor` is given up.
    TimedOut {
        /// Who sent the pieces.
        neighbor: NeighborId,
        /// The message.
        id: MessageId,
        /// Pieces that came.
        got: u16,
        /// Pieces there were.
        total: u16,
    },
}

/// Messages being rebuilt, per neighbour.
pub struct Reassembler {
    limits: ReassemblyLimits,
    sets: HashMap<(NeighborId, MessageId), Set>,
    bytes: usize,
}

impl Reassembler {
    /// An empty reassembler.
    pub fn new(limits: ReassemblyLimits) -> Self {
        Self {
            limits,
            sets: HashMap::new(),
            bytes: 0,
        }
    }

    /// Bytes held in unfinished messages.
    pub fn bytes_held(&self) -> usize {
        self.bytes
    }

    /// Messages being rebuilt.
    pub fn sets(&self) -> usize {
        self.sets.len()
    }

    /// Whether `id` from `neighbor` is being rebuilt.
    pub fn is_rebuilding(&self, neighbor: NeighborId, id: MessageId) -> bool {
        self.sets.contains_key(&(neighbor, id))
    }

    /// Takes one fragment frame; the whole message once its last piece is in.
    pub fn accept(
        &mut self,
        from: NeighborId,
        frame: &Frame,
        now: Instant,
    ) -> Result<Option<Reassembled>, FragmentError> {
        let payload = &frame.payload;
        if payload.len() <= FRAGMENT_HEADER_LEN {
            return Err(FragmentError::Malformed);
        }
        let index = u16::from_be_bytes([payload[0], payload[1]]);
        let total = u16::from_be_bytes([payload[2], payload[3]]);
        if total < 2 || index >= total || usize::from(total) > max_pieces() {
            return Err(FragmentError::OutOfRange);
        }
        let piece = &payload[FRAGMENT_HEADER_LEN..];
        let key = (from, frame.id);
        if !self.sets.contains_key(&key) {
            if self.sets.len() >= self.limits.max_sets {
                return Err(FragmentError::Full);
            }
            self.sets.insert(
                key,
                Set {
                    total,
                    pieces: vec![None; usize::from(total)],
                    received: 0,
                    bytes: 0,
                    ttl: frame.ttl,
                    hops: frame.hops,
                    started: now,
                    last_progress: now,
                    nacks: 0,
                },
            );
        }
        let set = self.sets.get_mut(&key).expect("inserted above");
        if set.total != total {
            return Err(FragmentError::Inconsistent);
        }
        let slot = &mut set.pieces[usize::from(index)];
        if slot.is_some() {
            // A resent piece we already have: harmless.
            return Ok(None);
        }
        if set.bytes + piece.len() > MAX_ENVELOPE_LEN {
            self.drop_set(key);
            return Err(FragmentError::MessageTooLong);
        }
        if self.bytes + piece.len() > self.limits.max_bytes {
            return Err(FragmentError::Full);
        }
        *slot = Some(piece.to_vec());
        set.received += 1;
        set.bytes += piece.len();
        set.last_progress = now;
        set.nacks = 0;
        self.bytes += piece.len();
        if set.received < set.total {
            return Ok(None);
        }
        let set = self.sets.remove(&key).expect("present");
        self.bytes -= set.bytes;
        let mut message = Vec::with_capacity(set.bytes);
        for piece in set.pieces.into_iter().flatten() {
            message.extend_from_slice(&piece);
        }
        Ok(Some(Reassembled {
            id: frame.id,
            ttl: set.ttl,
            hops: set.hops,
            message,
        }))
    }

    /// Forgets everything from a neighbour that went away.
    pub fn forget_neighbor(&mut self, neighbor: NeighborId) {
        let keys: Vec<_> = self
            .sets
            .keys()
            .filter(|(n, _)| *n == neighbor)
            .copied()
            .collect();
        for key in keys {
            self.drop_set(key);
        }
    }

    fn drop_set(&mut self, key: (NeighborId, MessageId)) {
        if let Some(set) = self.sets.remove(&key) {
            self.bytes -= set.bytes;
        }
    }

    /// The next time [`Reassembler::due`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.sets
            .values()
            .map(|set| {
                let nack = set.last_progress + self.limits.nack_after * (u32::from(set.nacks) + 1);
                nack.min(set.started + self.limits.timeout)
            })
            .min()
    }

    /// What is due at `now`: pieces to ask for again, messages to give up.
    pub fn due(&mut self, now: Instant) -> Vec<ReassemblyDue> {
        let mut due = Vec::new();
        let mut expired = Vec::new();
        for (&(neighbor, id), set) in &mut self.sets {
            let out_of_nacks = set.nacks >= self.limits.max_nacks;
            if now >= set.started + self.limits.timeout
                || (out_of_nacks
                    && now
                        >= set.last_progress + self.limits.nack_after * (u32::from(set.nacks) + 1))
            {
                due.push(ReassemblyDue::TimedOut {
                    neighbor,
                    id,
                    got: set.received,
                    total: set.total,
                });
                expired.push((neighbor, id));
            } else if now >= set.last_progress + self.limits.nack_after * (u32::from(set.nacks) + 1)
            {
                // Back off: each further ask waits one more interval.
                set.nacks += 1;
                due.push(ReassemblyDue::Nack {
                    neighbor,
                    id,
                    missing: set.missing(),
                });
            }
        }
        for key in expired {
            self.drop_set(key);
        }
        due
    }
}

/// Encodes the missing pieces of a message for a [`FrameType::Nack`] payload (as many as
/// fit in `max_payload`; the rest are asked for next time).
pub fn encode_missing(missing: &[u16], max_payload: usize) -> Vec<u8> {
    missing
        .iter()
        .take(max_payload / 2)
        .flat_map(|index| index.to_be_bytes())
        .collect()
}

/// Decodes a Nack payload; `None` if malformed.
pub fn decode_missing(payload: &[u8]) -> Option<Vec<u16>> {
    if payload.is_empty() || !payload.len().is_multiple_of(2) {
        return None;
    }
    Some(
        payload
            .chunks_exact(2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: NeighborId = NeighborId(1);

    fn message(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn a_long_message_is_split_to_the_frame_size_and_rebuilt_in_any_order() {
        let original = message(3000);
        let mut frames = split(MessageId([3; 8]), 7, 1, &original, 185);
        assert!(frames.len() > 1);
        assert!(frames.iter().all(|f| f.encode().len() <= 185));
        frames.reverse();
        let mut reassembler = Reassembler::new(ReassemblyLimits::default());
        let now = Instant::now();
        let mut done = None;
        for frame in &frames {
            done = reassembler
                .accept(N, &Frame::decode(&frame.encode()).unwrap(), now)
                .unwrap();
        }
        let done = done.expect("complete after the last piece");
        assert_eq!(done.message, original);
        assert_eq!((done.ttl, done.hops), (7, 1));
        assert_eq!(reassembler.bytes_held(), 0);
    }

    #[test]
    fn a_short_message_is_one_frame() {
        let frames = split(MessageId([3; 8]), 7, 0, &message(100), 185);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].kind, FrameType::Message);
    }

    #[test]
    fn missing_pieces_are_asked_for_with_backoff_then_given_up() {
        let limits = ReassemblyLimits::default();
        let frames = split(MessageId([4; 8]), 7, 0, &message(1000), 185);
        let mut reassembler = Reassembler::new(limits.clone());
        let start = Instant::now();
        reassembler.accept(N, &frames[0], start).unwrap();
        assert!(reassembler.due(start).is_empty());
        let first = reassembler.next_deadline().unwrap();
        assert_eq!(first, start + limits.nack_after);
        match &reassembler.due(first)[..] {
            [ReassemblyDue::Nack { missing, .. }] => {
                assert_eq!(missing.len(), frames.len() - 1);
                assert!(!missing.contains(&0));
            }
            other => panic!("expected one nack, got {other:?}"),
        }
        let mut now;
        let mut nacks = 1;
        loop {
            now = reassembler.next_deadline().expect("still pending");
            match &reassembler.due(now)[..] {
                [ReassemblyDue::Nack { .. }] => nacks += 1,
                [ReassemblyDue::TimedOut { got, total, .. }] => {
                    assert_eq!((*got, usize::from(*total)), (1, frames.len()));
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(nacks, limits.max_nacks);
        assert!(now <= start + limits.timeout);
        assert_eq!((reassembler.sets(), reassembler.bytes_held()), (0, 0));
    }

    #[test]
    fn fragments_that_lie_are_refused_and_memory_stays_bounded() {
        let limits = ReassemblyLimits {
            max_sets: 4,
            ..ReassemblyLimits::default()
        };
        let mut reassembler = Reassembler::new(limits);
        let now = Instant::now();
        let frag = |id: u8, index: u16, total: u16, piece: &[u8]| {
            let mut payload = index.to_be_bytes().to_vec();
            payload.extend_from_slice(&total.to_be_bytes());
            payload.extend_from_slice(piece);
            Frame::new(FrameType::Fragment, 7, MessageId([id; 8]), payload)
        };
        assert_eq!(
            reassembler.accept(N, &frag(1, 0, 2, &[]), now),
            Err(FragmentError::Malformed)
        );
        assert_eq!(
            reassembler.accept(N, &frag(1, 2, 2, &[1]), now),
            Err(FragmentError::OutOfRange)
        );
        assert_eq!(
            reassembler.accept(N, &frag(1, 0, 1, &[1]), now),
            Err(FragmentError::OutOfRange)
        );
        assert_eq!(
            reassembler.accept(N, &frag(1, 0, u16::MAX, &[1]), now),
            Err(FragmentError::OutOfRange)
        );
        assert_eq!(reassembler.accept(N, &frag(1, 0, 3, &[1]), now), Ok(None));
        assert_eq!(
            reassembler.accept(N, &frag(1, 1, 4, &[1]), now),
            Err(FragmentError::Inconsistent)
        );
        for id in 2..=4 {
            assert_eq!(reassembler.accept(N, &frag(id, 0, 3, &[1]), now), Ok(None));
        }
        assert_eq!(
            reassembler.accept(N, &frag(9, 0, 3, &[1]), now),
            Err(FragmentError::Full)
        );
        reassembler.forget_neighbor(N);
        assert_eq!((reassembler.sets(), reassembler.bytes_held()), (0, 0));
    }

    #[test]
    fn nack_payloads_round_trip_and_odd_ones_are_refused() {
        let missing = [1u16, 5, 300];
        assert_eq!(
            decode_missing(&encode_missing(&missing, 100)),
            Some(missing.to_vec())
        );
        assert_eq!(encode_missing(&missing, 4).len(), 4);
        assert_eq!(decode_missing(&[1, 2, 3]), None);
        assert_eq!(decode_missing(&[]), None);
    }
}
