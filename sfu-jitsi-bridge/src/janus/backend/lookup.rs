//! Read-only lookups on the backend's state: loads, a participant's instance and its
//! receiving connection.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::JanusBackend;
use crate::janus::subscriber::Subscriber;
use crate::sfu::{ParticipantId, RoomId, SfuError};

impl JanusBackend {
    /// Participants placed on each instance now, by instance name.
    pub fn loads(&self) -> Vec<(String, usize)> {
        self.inner
            .instances
            .iter()
            .map(|i| (i.config.name.clone(), i.load.load(Ordering::Relaxed)))
            .collect()
    }

    /// The instance a participant publishes on now (tests, metrics).
    pub async fn instance_of(&self, room: RoomId, participant: &ParticipantId) -> Option<String> {
        let jroom = self.inner.room(room)?;
        let state = jroom.state.lock().await;
        let index = state.members.get(participant)?.instance?;
        Some(self.inner.instances[index].config.name.clone())
    }

    /// A participant's receiving connection.
    pub(super) async fn subscriber(
        &self,
        room: RoomId,
        participant: &ParticipantId,
    ) -> Result<Arc<Subscriber>, SfuError> {
        let jroom = self.inner.room(room).ok_or(SfuError::NoSuchRoom)?;
        let state = jroom.state.lock().await;
        state
            .members
            .get(participant)
            .ok_or(SfuError::NoSuchParticipant)?
            .sub
            .clone()
            .ok_or(SfuError::NoOfferOutstanding)
    }
}
