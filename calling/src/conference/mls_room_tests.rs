//! The room's MLS membership through an in-memory delivery service that orders commits the
//! way the conference service does (first commit for the current epoch wins, echoed to all).

use std::collections::VecDeque;

use super::*;
use crate::e2ee::GroupSframe;
use crate::pipeline::transform::{FrameKind, FrameTransform, TransformError};

const ROOM: &str = "3f2b8c1e-9d4a-4e7b-a1c2-0123456789ab";

struct Member {
    id: String,
    room: MlsRoom,
    sframe: GroupSframe,
    inbox: VecDeque<(String, ClientMessage)>,
}

#[derive(Default)]
struct Ds {
    epoch: u64,
    members: Vec<Member>,
    gone: Vec<Member>,
}

impl Ds {
    fn ids(&self) -> Vec<String> {
        self.members.iter().map(|m| m.id.clone()).collect()
    }

    fn join(&mut self, n: u8) {
        let id = format!("{:032x}", n);
        let mut member = Member {
            id: id.clone(),
            room: MlsRoom::new(&Identity::generate(), ROOM).unwrap(),
            sframe: GroupSframe::new(),
            inbox: VecDeque::new(),
        };
        let ids = {
            let mut ids = self.ids();
            ids.push(id.clone());
            ids
        };
        for m in &mut self.members {
            let out = m.room.on_participants(&ids).unwrap();
            for message in out {
                m.inbox.push_back((m.id.clone(), message));
            }
        }
        let out = member.room.on_joined(&id, &ids, self.epoch).unwrap();
        for message in out {
            member.inbox.push_back((id.clone(), message));
        }
        self.members.push(member);
        self.settle();
    }

    fn leave(&mut self, index: usize) {
        let gone = self.members.remove(index);
        self.gone.push(gone);
        let ids = self.ids();
        for m in &mut self.members {
            for message in m.room.on_participants(&ids).unwrap() {
                m.inbox.push_back((m.id.clone(), message));
            }
        }
        self.settle();
    }

    /// Delivers every queued outgoing message until none is left.
    fn settle(&mut self) {
        loop {
            let next = self.members.iter_mut().find_map(|m| m.inbox.pop_front());
            let Some((from, message)) = next else { break };
            let ClientMessage::Mls {
                kind,
                epoch,
                to,
                data,
            } = message
            else {
                panic!("only MLS messages here");
            };
            if kind == MlsKind::Commit {
                if epoch != Some(self.epoch) {
                    let sender = self.members.iter_mut().find(|m| m.id == from).unwrap();
                    sender.room.on_stale_commit();
                    continue;
                }
                self.epoch += 1;
            }
            let echo = kind == MlsKind::Commit;
            for m in &mut self.members {
                let addressed = match &to {
                    Some(to) => *to == m.id,
                    None => echo || m.id != from,
                };
                if !addressed {
                    continue;
                }
                for out in m.room.on_mls(&from, kind, epoch, &data).unwrap() {
                    m.inbox.push_back((m.id.clone(), out));
                }
                if let Ok(keys) = m.room.epoch_keys() {
                    m.sframe.apply(&keys).unwrap();
                }
            }
        }
    }
}

fn opens(from: &GroupSframe, to: &GroupSframe) -> Result<(), TransformError> {
    let sealed = from.outgoing(FrameKind::Audio, b"tone frame".to_vec())?;
    assert_ne!(sealed, b"tone frame".to_vec());
    let opened = to.incoming(FrameKind::Audio, sealed)?;
    assert_eq!(opened, b"tone frame".to_vec());
    Ok(())
}

#[test]
fn five_participants_share_one_epoch_key_through_the_delivery_service() {
    let mut ds = Ds::default();
    for n in 1..=5 {
        ds.join(n);
    }
    assert_eq!(ds.epoch, 4, "one commit per newcomer after the first");
    for m in &ds.members {
        assert_eq!(m.room.epoch(), Some(4));
        assert_eq!(m.room.members(), 5);
        assert_eq!(m.sframe.members(), 4);
    }
    for a in &ds.members {
        for b in &ds.members {
            if a.id != b.id {
                opens(&a.sframe, &b.sframe).unwrap();
            }
        }
    }
}

#[test]
fn a_removed_participant_cannot_open_what_is_sent_after_its_removal() {
    let mut ds = Ds::default();
    for n in 1..=4 {
        ds.join(n);
    }
    ds.leave(2);
    assert_eq!(ds.epoch, 4, "the leader committed the removal");
    for m in &ds.members {
        assert_eq!(m.room.members(), 3);
    }
    let removed = &ds.gone[0];
    for m in &ds.members {
        assert!(
            opens(&m.sframe, &removed.sframe).is_err(),
            "the removed member holds no key of the new epoch"
        );
    }
    opens(&ds.members[0].sframe, &ds.members[2].sframe).unwrap();
}

#[test]
fn when_the_leader_leaves_the_next_one_removes_it_and_adds_newcomers() {
    let mut ds = Ds::default();
    for n in 1..=3 {
        ds.join(n);
    }
    ds.leave(0);
    for m in &ds.members {
        assert_eq!(m.room.members(), 2, "the old leader's leaf is gone");
    }
    ds.join(9);
    for m in &ds.members {
        assert_eq!(m.room.members(), 3);
        assert_eq!(m.room.epoch(), Some(ds.epoch));
    }
    opens(&ds.members[2].sframe, &ds.members[0].sframe).unwrap();
    assert!(opens(&ds.members[2].sframe, &ds.gone[0].sframe).is_err());
}

#[test]
fn a_room_everyone_left_and_came_back_to_starts_its_group_again_at_the_service_epoch() {
    // The service kept the room (and its epoch) while everyone reconnected.
    let mut ds = Ds::default();
    for n in 1..=3 {
        ds.join(n);
    }
    while !ds.members.is_empty() {
        ds.leave(0);
    }
    let kept = ds.epoch;
    assert!(kept > 0);
    for n in 11..=13 {
        ds.join(n);
    }
    assert_eq!(ds.epoch, kept + 2, "the newcomers' commits were accepted");
    for m in &ds.members {
        assert_eq!(m.room.members(), 3);
    }
    for a in &ds.members {
        for b in &ds.members {
            if a.id != b.id {
                opens(&a.sframe, &b.sframe).unwrap();
            }
        }
    }
    // And the leader after the first still commits at the service's epoch.
    ds.leave(0);
    assert_eq!(ds.epoch, kept + 3);
    for m in &ds.members {
        assert_eq!(m.room.members(), 2);
    }
    ds.join(14);
    for m in &ds.members {
        assert_eq!(m.room.members(), 3);
    }
    opens(&ds.members[2].sframe, &ds.members[0].sframe).unwrap();
}
