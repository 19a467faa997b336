//! Conference rooms as the signaling layer keeps them: who is in, who is host, locked or
//! not, the MLS epoch the delivery service orders commits by. Members, lock and epoch live
//! in memory only; what reopens a room after its process restarted (its host as a keyed
//! hash, its plan, its end) is in the room directory (`super::directory`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};

use super::protocol::{ParticipantInfo, ServerMessage};
use crate::sfu::{ParticipantId, RoomId};
use crate::tiers::{check_join, LimitExceeded, Tier};

/// Messages queued for one participant before its connection counts as too slow.
pub const OUTBOX_CAPACITY: usize = 256;

/// A participant's queue of messages, read by its connection task.
pub struct Outbox {
    pub rx: mpsc::Receiver<ServerMessage>,
    /// Signalled when the participant must be disconnected (its queue overflowed).
    pub kick: Arc<Notify>,
}

struct Member {
    info: ParticipantInfo,
    id: ParticipantId,
    tx: mpsc::Sender<ServerMessage>,
    kick: Arc<Notify>,
}

impl Member {
    fn send(&self, message: ServerMessage) {
        match self.tx.try_send(message) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            // A client that does not read cannot hold the room's messages in memory.
            Err(mpsc::error::TrySendError::Full(_)) => self.kick.notify_one(),
        }
    }
}

#[derive(Default)]
struct State {
    locked: bool,
    ended: bool,
    started: bool,
    /// Joins admitted to the SFU but not yet in `members` (they count towards the cap).
    joining: u32,
    epoch: u64,
    /// When the plan's duration limit ends the room (set by the first join).
    ends_at: Option<Instant>,
    members: Vec<Member>,
}

/// Why a join was refused. The text is shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinRefused {
    #[error("no such room: it ended, or the link is wrong")]
    NoSuchRoom,
    #[error("the room is locked by its host: no one else can join")]
    Locked,
    #[error("the room has ended")]
    Ended,
    #[error(transparent)]
    Full(#[from] LimitExceeded),
}

impl JoinRefused {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            JoinRefused::NoSuchRoom => "no_such_room",
            JoinRefused::Locked => "room_locked",
            JoinRefused::Ended => "room_ended",
            JoinRefused::Full(_) => "room_full",
        }
    }
}

/// One room.
pub struct ConfRoom {
    pub id: RoomId,
    /// The host's plan when the room was created: its caps.
    pub tier: Tier,
    /// The host's wallet as a keyed hash (the directory keeps the same, never the wallet).
    host_key: String,
    state: Mutex<State>,
}

/// A commit for another epoch than the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrongEpoch {
    pub current: u64,
}

impl ConfRoom {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a place for a joiner (`wallet_key`: the signed-in wallet as a keyed hash,
    /// `None`: anonymous). Returns whether the joiner is the host. Undo with
    /// [`ConfRoom::cancel`] or complete with [`ConfRoom::admit`].
    pub fn reserve(&self, wallet_key: Option<&str>) -> Result<bool, JoinRefused> {
        let mut s = self.state();
        if s.ended {
            return Err(JoinRefused::Ended);
        }
        let host = wallet_key == Some(self.host_key.as_str());
        // The host may always come back into their own locked room.
        if s.locked && !host {
            return Err(JoinRefused::Locked);
        }
        check_join(self.tier, s.members.len() as u32 + s.joining)?;
        s.joining += 1;
        Ok(host)
    }

    /// Gives back a reservation whose join failed.
    pub fn cancel(&self) {
        let mut s = self.state();
        s.joining = s.joining.saturating_sub(1);
    }

    /// Completes a reservation: the participant is in. Returns its outbox, whether this was
    /// the room's first join (its clock starts: the room lasts `duration` from now), and the
    /// room's state for the `joined` reply; the others get the new participant list.
    /// Refused if the room ended while the participant was joining.
    pub fn admit(
        &self,
        id: ParticipantId,
        info: ParticipantInfo,
        duration: Duration,
    ) -> Result<Admitted, JoinRefused> {
        let (tx, rx) = mpsc::channel(OUTBOX_CAPACITY);
        let kick = Arc::new(Notify::new());
        let mut s = self.state();
        s.joining = s.joining.saturating_sub(1);
        if s.ended {
            return Err(JoinRefused::Ended);
        }
        let first = !s.started;
        s.started = true;
        let now = Instant::now();
        let ends_at = *s.ends_at.get_or_insert(now + duration);
        s.members.push(Member {
            info,
            id,
            tx,
            kick: kick.clone(),
        });
        let participants = list(&s);
        for m in &s.members[..s.members.len() - 1] {
            m.send(ServerMessage::Participants {
                participants: participants.clone(),
            });
        }
        Ok(Admitted {
            outbox: Outbox { rx, kick },
            first,
            participants,
            locked: s.locked,
            epoch: s.epoch,
            seconds_left: ends_at.saturating_duration_since(now).as_secs(),
        })
    }

    /// Takes a participant out; the others get the new list. `false` if it was not in.
    pub fn remove_member(&self, id: &ParticipantId) -> bool {
        let mut s = self.state();
        let Some(pos) = s.members.iter().position(|m| &m.id == id) else {
            return false;
        };
        s.members.remove(pos);
        let participants = list(&s);
        for m in &s.members {
            m.send(ServerMessage::Participants {
                participants: participants.clone(),
            });
        }
        true
    }

    /// Sends to everyone but `except`.
    pub fn broadcast(&self, message: &ServerMessage, except: Option<&ParticipantId>) {
        let s = self.state();
        for m in s.members.iter().filter(|m| Some(&m.id) != except) {
            m.send(message.clone());
        }
    }

    /// Sends to one participant; `false` if it is not in the room.
    pub fn send_to(&self, id: &ParticipantId, message: ServerMessage) -> bool {
        let s = self.state();
        match s.members.iter().find(|m| &m.id == id) {
            Some(m) => {
                m.send(message);
                true
            }
            None => false,
        }
    }

    /// The participant's id if `text` names one in the room.
    pub fn member(&self, text: &str) -> Option<ParticipantId> {
        let s = self.state();
        s.members
            .iter()
            .find(|m| m.id.as_str() == text)
            .map(|m| m.id.clone())
    }

    /// Whether `id` is in the room as its host.
    pub fn is_host(&self, id: &ParticipantId) -> bool {
        self.state()
            .members
            .iter()
            .any(|m| &m.id == id && m.info.host)
    }

    /// Locks or unlocks; everyone is told.
    pub fn set_locked(&self, locked: bool) {
        let mut s = self.state();
        s.locked = locked;
        for m in &s.members {
            m.send(ServerMessage::RoomState { locked });
        }
    }

    /// Marks `id` muted: it is told, the others get the new list.
    pub fn mute(&self, id: &ParticipantId) -> bool {
        let mut s = self.state();
        let Some(target) = s.members.iter_mut().find(|m| &m.id == id) else {
            return false;
        };
        target.info.muted = true;
        target.send(ServerMessage::Muted);
        let participants = list(&s);
        for m in &s.members {
            m.send(ServerMessage::Participants {
                participants: participants.clone(),
            });
        }
        true
    }

    /// The delivery service's ordering: the first commit for the current epoch wins and is
    /// fanned out to everyone (its sender included, as its acknowledgement); any other epoch
    /// is refused with the current one.
    pub fn commit(&self, from: &ParticipantId, epoch: u64, data: String) -> Result<(), WrongEpoch> {
        let mut s = self.state();
        if epoch != s.epoch {
            return Err(WrongEpoch { current: s.epoch });
        }
        s.epoch += 1;
        let message = ServerMessage::Mls {
            from: from.as_str().to_owned(),
            kind: super::protocol::MlsKind::Commit,
            epoch: Some(epoch),
            data,
        };
        for m in &s.members {
            m.send(message.clone());
        }
        Ok(())
    }

    /// Marks the room ended if someone joined it once and nobody is in or joining now, in
    /// one step (so no join can slip in between the check and the end).
    fn end_if_empty(&self) -> bool {
        let mut s = self.state();
        if s.started && s.members.is_empty() && s.joining == 0 {
            s.ended = true;
            return true;
        }
        false
    }

    /// Marks the room ended; `false` if it already was.
    pub fn mark_ended(&self) -> bool {
        let mut s = self.state();
        !std::mem::replace(&mut s.ended, true)
    }

    /// Participants now.
    pub fn len(&self) -> usize {
        self.state().members.len()
    }

    /// No participant and no join in progress.
    pub fn is_empty(&self) -> bool {
        let s = self.state();
        s.members.is_empty() && s.joining == 0
    }

    /// Whether anyone ever joined.
    pub fn started(&self) -> bool {
        self.state().started
    }

    /// The host's wallet as a keyed hash.
    pub fn host_key(&self) -> &str {
        &self.host_key
    }
}

/// What [`ConfRoom::admit`] returns.
pub struct Admitted {
    pub outbox: Outbox,
    pub first: bool,
    pub participants: Vec<ParticipantInfo>,
    pub locked: bool,
    pub epoch: u64,
    pub seconds_left: u64,
}

fn list(s: &State) -> Vec<ParticipantInfo> {
    s.members.iter().map(|m| m.info.clone()).collect()
}

/// Every open room.
#[derive(Default)]
pub struct Rooms {
    map: Mutex<HashMap<RoomId, Arc<ConfRoom>>>,
}

impl Rooms {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, Arc<ConfRoom>>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new room hosted by the wallet whose keyed hash is `host_key`, with the caps of
    /// `tier`.
    pub fn create(&self, host_key: &str, tier: Tier) -> Arc<ConfRoom> {
        let room = Arc::new(ConfRoom {
            id: RoomId::random(),
            tier,
            host_key: host_key.to_owned(),
            state: Mutex::new(State::default()),
        });
        self.map().insert(room.id, room.clone());
        room
    }

    /// Opens again a room this process no longer holds (its process restarted), as the
    /// directory recorded it; it ends at `ends_at` at the latest. The room already open
    /// under that id, if any, is returned instead.
    pub fn reopen(
        &self,
        id: RoomId,
        host_key: &str,
        tier: Tier,
        ends_at: Instant,
    ) -> Arc<ConfRoom> {
        self.map()
            .entry(id)
            .or_insert_with(|| {
                Arc::new(ConfRoom {
                    id,
                    tier,
                    host_key: host_key.to_owned(),
                    state: Mutex::new(State {
                        ends_at: Some(ends_at),
                        ..State::default()
                    }),
                })
            })
            .clone()
    }

    /// The open room of that id.
    pub fn get(&self, id: RoomId) -> Option<Arc<ConfRoom>> {
        self.map().get(&id).cloned()
    }

    /// Forgets `room` if it is still the open room of its id, someone joined it once, and
    /// nobody is in or joining now (the last participant left). Returns whether it did.
    pub fn forget_if_empty(&self, room: &Arc<ConfRoom>) -> bool {
        let mut map = self.map();
        let current = map.get(&room.id).is_some_and(|r| Arc::ptr_eq(r, room));
        if current && room.end_if_empty() {
            map.remove(&room.id);
            return true;
        }
        false
    }

    /// Forgets `room` whatever its state (it ended).
    pub fn forget(&self, room: &Arc<ConfRoom>) {
        let mut map = self.map();
        if map.get(&room.id).is_some_and(|r| Arc::ptr_eq(r, room)) {
            map.remove(&room.id);
        }
    }

    /// Rooms open now.
    pub fn count(&self) -> usize {
        self.map().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &ParticipantId, host: bool) -> ParticipantInfo {
        ParticipantInfo {
            id: id.as_str().to_owned(),
            display_name: "x".into(),
            host,
            anonymous: false,
            muted: false,
        }
    }

    #[test]
    fn one_commit_per_epoch_first_wins_and_stale_epochs_name_the_current_one() {
        let rooms = Rooms::default();
        let room = rooms.create("host", Tier::Pro);
        let (a, b) = (ParticipantId::random(), ParticipantId::random());
        for id in [&a, &b] {
            room.reserve(None).unwrap();
            room.admit(id.clone(), info(id, false), Duration::from_secs(60))
                .unwrap();
        }
        assert_eq!(room.commit(&a, 0, "AA==".into()), Ok(()));
        assert_eq!(
            room.commit(&b, 0, "AQ==".into()),
            Err(WrongEpoch { current: 1 })
        );
        assert_eq!(room.commit(&b, 1, "AQ==".into()), Ok(()));
        assert_eq!(
            room.commit(&a, 7, "AA==".into()),
            Err(WrongEpoch { current: 2 })
        );
    }

    #[test]
    fn a_locked_room_refuses_guests_but_not_its_host() {
        let rooms = Rooms::default();
        let room = rooms.create("host", Tier::Pro);
        room.set_locked(true);
        assert_eq!(room.reserve(None), Err(JoinRefused::Locked));
        assert_eq!(room.reserve(Some("other")), Err(JoinRefused::Locked));
        assert_eq!(room.reserve(Some("host")), Ok(true));
    }

    #[test]
    fn reservations_count_towards_the_cap_and_the_room_vanishes_with_its_last_participant() {
        let rooms = Rooms::default();
        let room = rooms.create("host", Tier::Free);
        room.reserve(None).unwrap();
        room.reserve(None).unwrap();
        assert!(matches!(room.reserve(None), Err(JoinRefused::Full(_))));
        room.cancel();
        room.cancel();
        // Created but never joined: kept for its host.
        assert!(!rooms.forget_if_empty(&room));
        let id = ParticipantId::random();
        room.reserve(None).unwrap();
        room.admit(id.clone(), info(&id, false), Duration::from_secs(60))
            .unwrap();
        assert!(!rooms.forget_if_empty(&room));
        assert!(room.remove_member(&id));
        assert!(rooms.forget_if_empty(&room));
        assert!(rooms.get(room.id).is_none());
        // A join that got hold of the room just before: refused, not left alone in it.
        assert_eq!(room.reserve(None), Err(JoinRefused::Ended));
    }
}
