//! A group call's MLS key schedule, carried out by the engine: the caller creates the
//! group; a member who joins sends its key package to every member; the committer (the
//! lowest Nostr key among the members keyed and still in the call) adds it, sends the
//! welcome to the newcomer and the commit to the others, and removes a member who left.
//! Every new epoch re-keys the call's [`GroupSframe`], which every connection to a member
//! with group keys encrypts with. Members whose app has none (plain NIP-AC clients) get
//! DTLS-SRTP alone on their connection, and the key state says how many are keyed.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use nostr_signal::{Identity, PublicKey, Recipients, Route};
use phantomcall_schemas::{CallBody, CallId, GroupKeysKind};

use super::group_events::GroupChange;
use super::Driver;
use crate::e2ee::mls::{GroupKeys, MlsError};
use crate::e2ee::GroupSframe;

/// Commits held until the epoch they follow (out of order, or before our welcome).
const MAX_HELD_COMMITS: usize = 8;

/// One group call's MLS state, from our side.
pub(super) struct CallKeys {
    mls: GroupKeys,
    /// What every keyed connection of the call encrypts with.
    pub sframe: Arc<GroupSframe>,
    held_commits: Vec<Vec<u8>>,
    /// Key packages of members not in the group yet, for whoever commits next.
    waiting: HashMap<PublicKey, Vec<u8>>,
}

impl CallKeys {
    /// Our MLS state for a call; `create`: we start the group (we placed the call).
    pub(super) fn start(
        identity: &Identity,
        call_id: CallId,
        create: bool,
    ) -> Result<Self, MlsError> {
        let mut mls = GroupKeys::new(identity)?;
        let sframe = Arc::new(GroupSframe::new());
        if create {
            mls.create(call_id.to_string().as_bytes())?;
            let _ = sframe.apply(&mls.epoch_keys()?);
        }
        Ok(Self {
            mls,
            sframe,
            held_commits: Vec::new(),
            waiting: HashMap::new(),
        })
    }

    fn keyed_members(&self) -> BTreeSet<PublicKey> {
        self.mls.members().unwrap_or_default().into_iter().collect()
    }

    /// Re-keys the call's SFrame from the current epoch.
    fn rekey(&self) -> Option<u64> {
        let keys = self.mls.epoch_keys().ok()?;
        match self.sframe.apply(&keys) {
            Ok(()) => Some(keys.epoch),
            Err(e) => {
                tracing::warn!(error = %e, "group keys could not be applied");
                None
            }
        }
    }

    /// Takes held commits that now follow, oldest first, until none does.
    fn drain_held(&mut self) {
        loop {
            let before = self.held_commits.len();
            let held = std::mem::take(&mut self.held_commits);
            for commit in held {
                if self.mls.process_commit(&commit).is_err() {
                    self.held_commits.push(commit);
                }
            }
            if self.held_commits.len() == before {
                return;
            }
        }
    }
}

impl Driver {
    /// Who commits: the lowest key among the members keyed and still in the call.
    fn committer(&self, call_id: CallId) -> Option<PublicKey> {
        let call = self.groups.get(&call_id)?;
        let keys = call.keys.as_ref()?;
        let present: BTreeSet<PublicKey> = call
            .mesh
            .members()
            .into_iter()
            .chain([self.local_key])
            .collect();
        keys.keyed_members().intersection(&present).next().copied()
    }

    /// We joined a call someone else created: our key package goes to every member with
    /// group keys (a plain NIP-AC member would only drop it).
    pub(super) fn send_key_package(&mut self, call_id: CallId) {
        let Some(call) = self.groups.get(&call_id) else {
            return;
        };
        let Some(package) = call.keys.as_ref().and_then(|k| k.mls.key_package().ok()) else {
            return;
        };
        let recipients: Vec<PublicKey> = call
            .mesh
            .members()
            .into_iter()
            .filter(|m| !call.plain.contains(m))
            .collect();
        self.send_group_keys(call_id, recipients, GroupKeysKind::KeyPackage, package);
    }

    fn send_group_keys(
        &mut self,
        call_id: CallId,
        recipients: Vec<PublicKey>,
        mls: GroupKeysKind,
        data: Vec<u8>,
    ) {
        let Some(first) = recipients.first().copied() else {
            return;
        };
        let Some(call) = self.groups.get(&call_id) else {
            return;
        };
        let body = CallBody::GroupKeys { mls, data };
        let message = self.group_message(call_id, first, &recipients, call.mode, body);
        self.outbox.send_to(
            first,
            Recipients::Many(recipients),
            message,
            Route::PeerInbox,
        );
    }

    /// A member's MLS message.
    pub(super) fn on_group_keys(
        &mut self,
        call_id: CallId,
        sender: PublicKey,
        mls: GroupKeysKind,
        data: Vec<u8>,
    ) {
        let Some(call) = self.groups.get_mut(&call_id) else {
            return;
        };
        let Some(keys) = call.keys.as_mut() else {
            // Not joined yet (still ringing): a member's key package waits for our join.
            if call.early_keys.len() < MAX_HELD_COMMITS * 2 {
                call.early_keys.push((sender, mls, data));
            }
            return;
        };
        let outcome = match mls {
            GroupKeysKind::KeyPackage => match keys.mls.key_package_owner(&data) {
                Ok(owner) if owner == sender => {
                    keys.waiting.insert(sender, data);
                    Ok(())
                }
                Ok(_) => Err(MlsError::UnboundCredential),
                Err(e) => Err(e),
            },
            GroupKeysKind::Welcome if keys.mls.epoch().is_none() => {
                let group_id = call_id.to_string();
                keys.mls
                    .join_group(&data, Some(group_id.as_bytes()))
                    .map(|()| keys.drain_held())
            }
            GroupKeysKind::Welcome => Ok(()), // already in: a duplicate
            GroupKeysKind::Commit => {
                if keys.mls.epoch().is_some() && keys.mls.process_commit(&data).is_ok() {
                    keys.drain_held();
                } else {
                    // Before our welcome, or ahead of a commit still on its way. The newest
                    // are kept: a stale or forged one cannot keep a real one out for long.
                    if keys.held_commits.len() >= MAX_HELD_COMMITS {
                        keys.held_commits.remove(0);
                    }
                    keys.held_commits.push(data);
                }
                Ok(())
            }
        };
        if let Err(e) = outcome {
            tracing::info!(error = %e, kind = ?mls, "group keys message refused");
            if mls == GroupKeysKind::Welcome {
                // Opening it used up our key package: a fresh one, for the real welcome.
                self.send_key_package(call_id);
            }
            return;
        }
        self.after_epoch_change(call_id);
    }

    /// A member left: the committer removes it from the group.
    pub(super) fn remove_from_group_keys(&mut self, call_id: CallId, member: PublicKey) {
        if let Some(keys) = self.groups.get_mut(&call_id).and_then(|c| c.keys.as_mut()) {
            keys.waiting.remove(&member);
        }
        self.after_epoch_change(call_id);
    }

    /// Commits what is ours to commit (removals of members gone, additions of members
    /// waiting), then re-keys and tells the UI. Run after every MLS message and every
    /// change of who is in the call.
    pub(super) fn after_epoch_change(&mut self, call_id: CallId) {
        self.create_if_ours(call_id);
        if self.committer(call_id) == Some(self.local_key) {
            self.commit_changes(call_id);
        }
        let Some(call) = self.groups.get(&call_id) else {
            return;
        };
        let Some(keys) = call.keys.as_ref() else {
            return;
        };
        let epoch_before = keys.sframe.epoch();
        let Some(epoch) = keys.rekey() else {
            return;
        };
        if epoch_before != Some(epoch) {
            let change = GroupChange::Keys {
                epoch,
                keyed: keys.keyed_members().len(),
                members: call.mesh.members().len() + 1,
            };
            self.group_event(call_id, change);
        }
    }

    /// A plain NIP-AC client invited us, so nobody created the group: the lowest key among
    /// the members named in the call, gone ones and those known to lack group keys aside,
    /// creates it once it has joined. Every member reaches the same answer from the
    /// invitation's names, so exactly one creates; the others' key packages wait for it.
    fn create_if_ours(&mut self, call_id: CallId) {
        let me = self.local_key;
        let Some(call) = self.groups.get_mut(&call_id) else {
            return;
        };
        if !call.inviter_plain {
            return;
        }
        let creator = call
            .mesh
            .members()
            .into_iter()
            .chain([me])
            .filter(|m| !call.plain.contains(m))
            .min();
        let Some(keys) = call.keys.as_mut() else {
            return;
        };
        if creator != Some(me) || keys.mls.epoch().is_some() {
            return;
        }
        if let Err(e) = keys.mls.create(call_id.to_string().as_bytes()) {
            tracing::warn!(error = %e, "group keys could not be created");
        }
    }

    /// As the committer: one commit per member gone, one per member waiting.
    fn commit_changes(&mut self, call_id: CallId) {
        let Some(call) = self.groups.get_mut(&call_id) else {
            return;
        };
        let present: BTreeSet<PublicKey> = call.mesh.members().into_iter().collect();
        let Some(keys) = call.keys.as_mut() else {
            return;
        };
        let mut sends: Vec<(Vec<PublicKey>, GroupKeysKind, Vec<u8>)> = Vec::new();
        let me = self.local_key;
        for gone in keys
            .keyed_members()
            .into_iter()
            .filter(|m| *m != me && !present.contains(m))
        {
            match keys.mls.remove(&gone) {
                Ok(commit) => {
                    let to: Vec<PublicKey> = keys
                        .keyed_members()
                        .into_iter()
                        .filter(|m| *m != me)
                        .collect();
                    sends.push((to, GroupKeysKind::Commit, commit));
                }
                Err(e) => tracing::warn!(error = %e, "member not removed from the group keys"),
            }
        }
        // A key package can come before the newcomer's answer tells us it is in the call:
        // it waits for that.
        keys.waiting
            .retain(|k, _| !keys.mls.members().unwrap_or_default().contains(k));
        let mut ready: Vec<PublicKey> = keys
            .waiting
            .keys()
            .filter(|k| present.contains(k))
            .copied()
            .collect();
        // Higher keys first: a newcomer with a lower key than ours commits from its welcome
        // on, so we stop right after adding it (a commit of ours after that would fork the
        // group from its first commit, in the same epoch).
        ready.sort_unstable_by(|a, b| b.cmp(a));
        for newcomer in ready {
            let Some(package) = keys.waiting.remove(&newcomer) else {
                continue;
            };
            let others: Vec<PublicKey> = keys
                .keyed_members()
                .into_iter()
                .filter(|m| *m != me)
                .collect();
            match keys.mls.add(&[package]) {
                Ok((commit, welcome)) => {
                    sends.push((others, GroupKeysKind::Commit, commit));
                    sends.push((vec![newcomer], GroupKeysKind::Welcome, welcome));
                    if newcomer < me {
                        break; // the committer now
                    }
                }
                Err(e) => tracing::info!(error = %e, "key package not added"),
            }
        }
        for (to, kind, data) in sends {
            self.send_group_keys(call_id, to, kind, data);
        }
    }
}
