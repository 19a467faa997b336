//! A conference participant's part in the room's MLS group, through the service's delivery
//! service (which relays blobs and orders commits, one per epoch). Sans-IO: inputs are the
//! service's messages, outputs the MLS messages to send; the caller applies new epoch keys.
//!
//! One member commits: the *leader*, the first participant in the service's list (join
//! order). Everyone after it joined later and sent it a key package, so the leader alone
//! knows, for every participant present, the Nostr key bound to its MLS credential: it
//! adds whoever is present but not a member, and removes every member who is no longer
//! present (left, removed by the host, or a former leader). Its commit stays pending until
//! the delivery service echoes it back (accepted for that epoch); a `stale_epoch` refusal
//! discards it. Only then are the newcomers sent the welcome.

use std::collections::HashMap;

use nostr_signal::{Identity, PublicKey};

use super::wire::{ClientMessage, MlsKind};
use crate::e2ee::mls::{EpochKeys, GroupKeys, MlsError};

/// The MLS messages to send after a step.
pub type Outgoing = Vec<ClientMessage>;

/// Our commit waiting for the delivery service's order.
struct InFlight {
    epoch: u64,
    /// The welcome for these newcomers, sent once the commit is accepted.
    welcome: Option<(Vec<String>, Vec<u8>)>,
}

/// One participant's MLS state in a room.
pub struct MlsRoom {
    keys: GroupKeys,
    identity_key: PublicKey,
    group_id: Vec<u8>,
    me: Option<String>,
    participants: Vec<String>,
    /// Participant id -> the Nostr key its key package is bound to.
    owners: HashMap<String, PublicKey>,
    /// Key packages of participants not (known to be) added yet.
    packages: HashMap<String, Vec<u8>>,
    in_flight: Option<InFlight>,
    /// The delivery service's epoch minus the group's MLS epoch: 0, unless the group was
    /// started again in a room whose delivery service had counted on (everyone had left,
    /// the room was kept, and someone came back alone).
    base: u64,
    /// Before we are in the group: the delivery-service epoch of the last commit seen (the
    /// one that adds us, when the welcome comes).
    last_commit: Option<u64>,
}

impl std::fmt::Debug for MlsRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlsRoom")
            .field("epoch", &self.keys.epoch())
            .finish_non_exhaustive()
    }
}

impl MlsRoom {
    /// A participant of room `room` (its id is the group id) under `identity` (an
    /// ephemeral key is enough: the credential only has to be bound to something).
    pub fn new(identity: &Identity, room: &str) -> Result<Self, MlsError> {
        Ok(Self {
            keys: GroupKeys::new(identity)?,
            identity_key: identity.public_key(),
            group_id: room.as_bytes().to_vec(),
            me: None,
            participants: Vec::new(),
            owners: HashMap::new(),
            packages: HashMap::new(),
            in_flight: None,
            base: 0,
            last_commit: None,
        })
    }

    /// The current epoch, once in the group.
    pub fn epoch(&self) -> Option<u64> {
        self.keys.epoch()
    }

    /// How many members the current key has (ourselves included); 0 before the group.
    pub fn members(&self) -> usize {
        self.keys.members().map_or(0, |m| m.len())
    }

    /// This epoch's SFrame keys.
    pub fn epoch_keys(&self) -> Result<EpochKeys, MlsError> {
        self.keys.epoch_keys()
    }

    /// Our group's epoch as the delivery service counts it.
    fn service_epoch(&self) -> Option<u64> {
        self.keys.epoch().map(|e| e + self.base)
    }

    fn is_leader(&self) -> bool {
        self.me.is_some() && self.participants.first() == self.me.as_ref()
    }

    /// We joined as `me`; `participants` is the list (join order), `epoch` the delivery
    /// service's. Alone in the room, we start the group (at the delivery service's epoch:
    /// a room everyone left and came back to has counted on); anyone else sends a key
    /// package to everyone (the leader adds it; the others keep it in case they become
    /// the leader).
    pub fn on_joined(
        &mut self,
        me: &str,
        participants: &[String],
        epoch: u64,
    ) -> Result<Outgoing, MlsError> {
        self.me = Some(me.to_owned());
        self.participants = participants.to_vec();
        if participants == [me.to_owned()] {
            self.keys.create(&self.group_id)?;
            self.base = epoch;
            return Ok(Vec::new());
        }
        Ok(vec![ClientMessage::Mls {
            kind: MlsKind::KeyPackage,
            epoch: None,
            to: None,
            data: self.keys.key_package()?,
        }])
    }

    /// The participant list changed.
    pub fn on_participants(&mut self, participants: &[String]) -> Result<Outgoing, MlsError> {
        self.participants = participants.to_vec();
        self.packages.retain(|p, _| participants.contains(p));
        self.reconcile()
    }

    /// An MLS message relayed by the delivery service.
    pub fn on_mls(
        &mut self,
        from: &str,
        kind: MlsKind,
        epoch: Option<u64>,
        data: &[u8],
    ) -> Result<Outgoing, MlsError> {
        match kind {
            MlsKind::KeyPackage => {
                let owner = self.keys.key_package_owner(data)?;
                self.owners.insert(from.to_owned(), owner);
                self.packages.insert(from.to_owned(), data.to_vec());
                self.reconcile()
            }
            MlsKind::Welcome => {
                if self.keys.epoch().is_none() {
                    self.keys.join_group(data, Some(&self.group_id))?;
                    // The commit that added us was ordered at `last_commit`; the welcome
                    // brings the epoch after it.
                    if let (Some(ours), Some(ordered)) = (self.keys.epoch(), self.last_commit) {
                        self.base = (ordered + 1).saturating_sub(ours);
                    }
                }
                Ok(Vec::new())
            }
            MlsKind::Commit => {
                if self.keys.epoch().is_none() {
                    self.last_commit = epoch;
                }
                let mut out = Vec::new();
                let ours = self.me.as_deref() == Some(from)
                    && self.in_flight.as_ref().map(|f| f.epoch) == epoch;
                if ours {
                    let in_flight = self.in_flight.take().expect("checked");
                    self.keys.merge_pending()?;
                    if let Some((to, welcome)) = in_flight.welcome {
                        for newcomer in to {
                            out.push(ClientMessage::Mls {
                                kind: MlsKind::Welcome,
                                epoch: None,
                                to: Some(newcomer),
                                data: welcome.clone(),
                            });
                        }
                    }
                } else if self.keys.epoch().is_some() && self.service_epoch() == epoch {
                    // Someone else's commit won this epoch: ours (if any) is void.
                    if self.in_flight.take().is_some() {
                        self.keys.discard_pending();
                    }
                    self.keys.process_commit(data)?;
                }
                // A commit for an epoch we are not at: a newcomer sees the commit that
                // adds it (its welcome brings that epoch), or a removed member sees the
                // one that removes it. Nothing to do.
                out.extend(self.reconcile()?);
                Ok(out)
            }
            MlsKind::Proposal => Ok(Vec::new()),
        }
    }

    /// The delivery service refused our commit (`stale_epoch`): another was ordered first.
    pub fn on_stale_commit(&mut self) {
        if self.in_flight.take().is_some() {
            self.keys.discard_pending();
        }
    }

    /// As the leader: one commit towards "every participant present is a member, no one
    /// else is" (removals first, then additions).
    fn reconcile(&mut self) -> Result<Outgoing, MlsError> {
        if !self.is_leader() || self.in_flight.is_some() {
            return Ok(Vec::new());
        }
        let Some(epoch) = self.service_epoch() else {
            return Ok(Vec::new());
        };
        let members = self.keys.members()?;
        let present: Vec<PublicKey> = self
            .participants
            .iter()
            .filter_map(|p| self.owners.get(p).copied())
            .collect();
        let gone: Vec<PublicKey> = members
            .iter()
            .filter(|m| **m != self.identity_key && !present.contains(m))
            .copied()
            .collect();
        if !gone.is_empty() {
            let commit = self.keys.remove_pending(&gone)?;
            self.in_flight = Some(InFlight {
                epoch,
                welcome: None,
            });
            return Ok(vec![commit_message(epoch, commit)]);
        }
        let mut newcomers = Vec::new();
        let mut packages = Vec::new();
        for p in &self.participants {
            let (Some(owner), Some(package)) = (self.owners.get(p), self.packages.get(p)) else {
                continue;
            };
            if !members.contains(owner) {
                newcomers.push(p.clone());
                packages.push(package.clone());
            }
        }
        if newcomers.is_empty() {
            return Ok(Vec::new());
        }
        let (commit, welcome) = match self.keys.add_pending(&packages) {
            Ok(made) => made,
            Err(e) => {
                // A package that cannot be added would block every later one: drop them.
                for p in &newcomers {
                    self.packages.remove(p);
                }
                return Err(e);
            }
        };
        for p in &newcomers {
            self.packages.remove(p);
        }
        self.in_flight = Some(InFlight {
            epoch,
            welcome: Some((newcomers, welcome)),
        });
        Ok(vec![commit_message(epoch, commit)])
    }
}

fn commit_message(epoch: u64, data: Vec<u8>) -> ClientMessage {
    ClientMessage::Mls {
        kind: MlsKind::Commit,
        epoch: Some(epoch),
        to: None,
        data,
    }
}

#[cfg(test)]
#[path = "mls_room_tests.rs"]
mod tests;
