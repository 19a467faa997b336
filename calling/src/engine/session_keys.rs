//! One call's post-quantum media keys, from the session's side: the caller's key pair
//! between offer and answer, the callee's encapsulation, and the call's [`CallKeyLayer`]
//! they key. The state machine never sees keys; the shares ride on the offer and answer as
//! opaque bytes (see `key_shares.rs` for the engine's side).

use std::sync::Arc;

use nostr_signal::PublicKey;
use phantomcall_schemas::CallId;

use crate::e2ee::pq::{respond, CallBinding, PqError, PqOffer};
use crate::e2ee::{CallKeyLayer, GroupSframe, MediaKeys};

/// The key agreement of one 1:1 call.
pub(crate) struct SessionKeys {
    layer: Arc<CallKeyLayer>,
    call_id: String,
    caller: [u8; 32],
    callee: [u8; 32],
    is_caller: bool,
    /// The caller's key pair, from its offer until the answer.
    pending: Option<PqOffer>,
    /// A group call's keys: a member's connection is keyed by them, not by its own key
    /// agreement (`None` for 1:1 calls and for a group member without them).
    group: Option<Arc<GroupSframe>>,
}

impl SessionKeys {
    pub(crate) fn new(
        layer: Arc<CallKeyLayer>,
        call_id: CallId,
        local: &PublicKey,
        remote: &PublicKey,
        is_caller: bool,
    ) -> Self {
        let (caller, callee) = if is_caller {
            (local, remote)
        } else {
            (remote, local)
        };
        Self {
            layer,
            call_id: call_id.to_string(),
            caller: caller.to_bytes(),
            callee: callee.to_bytes(),
            is_caller,
            pending: None,
            group: None,
        }
    }

    /// Keys this connection by the group call's keys once its offer and answer are done.
    pub(crate) fn use_group(&mut self, group: Option<Arc<GroupSframe>>) {
        self.group = group;
    }

    fn binding(&self) -> CallBinding<'_> {
        CallBinding {
            call_id: &self.call_id,
            caller: self.caller,
            callee: self.callee,
        }
    }

    /// The caller's share for its first offer (a fresh key pair per call).
    pub(crate) fn offer_share(&mut self) -> Result<Vec<u8>, PqError> {
        let offer = PqOffer::generate()?;
        let share = offer.share().to_vec();
        self.pending = Some(offer);
        Ok(share)
    }

    /// The callee takes the offer's share: keys the layer and returns the answer's share.
    /// No share (the caller's app has no such layer): DTLS-SRTP alone, and no share back.
    pub(crate) fn answer(
        &mut self,
        offer_share: Option<&[u8]>,
    ) -> Result<(Option<Vec<u8>>, MediaKeys), PqError> {
        if let Some(group) = &self.group {
            return Ok((None, self.layer.key_group(group.clone())));
        }
        let Some(offer_share) = offer_share else {
            return Ok((None, self.layer.transport_only()));
        };
        let (answer_share, keys) = respond(offer_share, &self.binding())?;
        let state = self
            .layer
            .key(&keys, false)
            .map_err(|_| PqError::InvalidKey)?;
        Ok((Some(answer_share), state))
    }

    /// The caller takes the answer's share. `None` when this answer settles nothing: an
    /// answer to a later restart offer, after the keys were agreed.
    pub(crate) fn finish(
        &mut self,
        answer_share: Option<&[u8]>,
    ) -> Option<Result<MediaKeys, PqError>> {
        if !self.is_caller {
            return None;
        }
        let offer = self.pending.take()?;
        if let Some(group) = &self.group {
            return Some(Ok(self.layer.key_group(group.clone())));
        }
        Some(match answer_share {
            None => Ok(self.layer.transport_only()),
            Some(share) => offer
                .finish(share, &self.binding())
                .and_then(|keys| self.layer.key(&keys, true).map_err(|_| PqError::InvalidKey)),
        })
    }
}
