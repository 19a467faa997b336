//! A group call's SFrame keys, shared by every connection of the call: we send under our
//! key of the current MLS epoch, and open each member's frames under its key. A new epoch
//! (someone joined or left) brings new keys; the previous epoch's keys of members who stay
//! are kept until the epoch after, so frames in flight still open, while a member who left
//! loses every key at once.

use std::collections::HashMap;
use std::sync::RwLock;

use nostr_signal::PublicKey;

use super::mls::EpochKeys;
use super::sframe::SframeTransform;
use crate::pipeline::transform::{FrameKind, FrameTransform, TransformError};

/// Key ids kept per member: the current epoch's and the previous one's.
const EPOCHS_KEPT: usize = 2;

struct Keyed {
    transform: SframeTransform,
    epoch: u64,
    /// Each member's key ids, oldest first (at most [`EPOCHS_KEPT`]).
    senders: HashMap<PublicKey, Vec<u64>>,
}

/// The call's SFrame under MLS epoch keys. Until the first epoch's keys come, nothing
/// passes either way ([`TransformError::NoKey`]).
#[derive(Default)]
pub struct GroupSframe {
    keyed: RwLock<Option<Keyed>>,
}

impl std::fmt::Debug for GroupSframe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupSframe")
            .field("epoch", &self.epoch())
            .finish_non_exhaustive()
    }
}

impl GroupSframe {
    /// Keys not yet known.
    pub fn new() -> Self {
        Self::default()
    }

    /// The epoch whose keys we send under, once keyed.
    pub fn epoch(&self) -> Option<u64> {
        self.keyed
            .read()
            .expect("group sframe lock")
            .as_ref()
            .map(|k| k.epoch)
    }

    /// How many other members' keys we hold for the current epoch.
    pub fn members(&self) -> usize {
        self.keyed
            .read()
            .expect("group sframe lock")
            .as_ref()
            .map_or(0, |k| k.senders.len())
    }

    /// Moves to a new epoch's keys. An epoch older than the current one is ignored.
    pub fn apply(&self, keys: &EpochKeys) -> Result<(), TransformError> {
        let mut keyed = self.keyed.write().expect("group sframe lock");
        match keyed.as_mut() {
            Some(current) if keys.epoch <= current.epoch => return Ok(()),
            Some(current) => {
                current.transform.set_own_key(&keys.own)?;
                current.epoch = keys.epoch;
                let staying: HashMap<PublicKey, u64> = keys
                    .members
                    .iter()
                    .map(|(k, key)| (*k, key.key_id))
                    .collect();
                let transform = &current.transform;
                current.senders.retain(|member, ids| {
                    let Some(new_id) = staying.get(member) else {
                        // Left: none of its keys opens anything from now on.
                        ids.iter().for_each(|id| transform.remove_member_key(*id));
                        return false;
                    };
                    ids.push(*new_id);
                    while ids.len() > EPOCHS_KEPT {
                        transform.remove_member_key(ids.remove(0));
                    }
                    true
                });
                for (member, key) in &keys.members {
                    current.transform.add_member_key(key)?;
                    current
                        .senders
                        .entry(*member)
                        .or_insert_with(|| vec![key.key_id]);
                }
            }
            None => {
                let transform = SframeTransform::new(&keys.own)?;
                let mut senders = HashMap::new();
                for (member, key) in &keys.members {
                    transform.add_member_key(key)?;
                    senders.insert(*member, vec![key.key_id]);
                }
                *keyed = Some(Keyed {
                    transform,
                    epoch: keys.epoch,
                    senders,
                });
            }
        }
        Ok(())
    }
}

impl FrameTransform for GroupSframe {
    fn outgoing(&self, kind: FrameKind, frame: Vec<u8>) -> Result<Vec<u8>, TransformError> {
        match &*self.keyed.read().expect("group sframe lock") {
            Some(keyed) => keyed.transform.outgoing(kind, frame),
            None => Err(TransformError::NoKey),
        }
    }

    fn incoming(&self, kind: FrameKind, frame: Vec<u8>) -> Result<Vec<u8>, TransformError> {
        match &*self.keyed.read().expect("group sframe lock") {
            Some(keyed) => keyed.transform.incoming(kind, frame),
            None => Err(TransformError::NoKey),
        }
    }
}

#[cfg(test)]
#[path = "group_sframe_tests.rs"]
mod tests;
