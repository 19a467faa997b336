use std::collections::{BTreeMap, BTreeSet, VecDeque};

use nostr_signal::Identity;

use super::*;

/// `n` keys in ascending order (the mesh's tie-break is the key order).
fn keys(n: usize) -> Vec<PublicKey> {
    let mut keys: Vec<_> = (0..n).map(|_| Identity::generate().public_key()).collect();
    keys.sort();
    keys
}

/// A message between members, as the mesh's steps would send them.
#[derive(Debug, Clone)]
enum Wire {
    Offer {
        from: PublicKey,
        named: Vec<PublicKey>,
    },
    /// An answer goes to every member and to ourselves ("I joined").
    Answer {
        from: PublicKey,
        named: Vec<PublicKey>,
    },
    Hangup {
        from: PublicKey,
    },
}

/// Every member's mesh and what is on the way to whom.
struct Group {
    meshes: BTreeMap<PublicKey, Mesh>,
    queue: VecDeque<(PublicKey, Wire)>,
    /// Pairs with an offer answered: (offerer, answerer).
    connected: BTreeSet<(PublicKey, PublicKey)>,
    pending_offers: BTreeSet<(PublicKey, PublicKey)>,
}

impl Group {
    fn new() -> Self {
        Self {
            meshes: BTreeMap::new(),
            queue: VecDeque::new(),
            connected: BTreeSet::new(),
            pending_offers: BTreeSet::new(),
        }
    }

    fn carry_out(&mut self, who: PublicKey, steps: Vec<MeshStep>) {
        for step in steps {
            match step {
                MeshStep::Offer { to, members } => {
                    let mut named = members;
                    named.retain(|k| *k != who);
                    self.pending_offers.insert((who, to));
                    self.queue.push_back((to, Wire::Offer { from: who, named }));
                }
                MeshStep::Answer { from } => {
                    assert!(
                        self.pending_offers.remove(&(from, who)),
                        "{who:?} answers an offer nobody sent"
                    );
                    self.connected.insert(pair(from, who));
                    self.meshes.get_mut(&who).unwrap().answered(from);
                    let named = self.meshes[&who].members();
                    for member in named.iter().copied().chain([who]) {
                        let wire = Wire::Answer {
                            from: who,
                            named: named.clone(),
                        };
                        self.queue.push_back((member, wire));
                    }
                }
                MeshStep::Close { peer } => {
                    self.connected.remove(&pair(who, peer));
                }
                MeshStep::End => {}
            }
        }
    }

    fn deliver_all(&mut self) {
        let mut rounds = 0;
        while let Some((to, wire)) = self.queue.pop_front() {
            rounds += 1;
            assert!(rounds < 10_000, "the mesh never settles");
            let me = to;
            let steps = match (self.meshes.get_mut(&to), wire) {
                (Some(mesh), Wire::Offer { from, named }) => mesh.offer_from(from, named),
                (Some(mesh), Wire::Answer { from, named }) => mesh.answer_from(from, named),
                (Some(mesh), Wire::Hangup { from }) => mesh.left(from),
                (None, _) => continue, // not in the call (yet): a ringing phone elsewhere
            };
            self.carry_out(me, steps);
        }
    }

    fn every_pair_connected_once(&self, members: &[PublicKey]) {
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                assert!(
                    self.connected.contains(&pair(*a, *b)),
                    "{i} and another member are not connected"
                );
            }
        }
        let n = members.len();
        assert_eq!(
            self.connected.len(),
            n * (n - 1) / 2,
            "one connection per pair"
        );
    }
}

fn pair(a: PublicKey, b: PublicKey) -> (PublicKey, PublicKey) {
    if a < b {
        (a, b)
    } else {
        (b, a)
    }
}

/// The caller starts with every other key; each callee rings, then accepts in `order`.
fn full_group(members: &[PublicKey], caller: usize, order: &[usize]) -> Group {
    let mut group = Group::new();
    let me = members[caller];
    let callees: Vec<_> = members.iter().copied().filter(|k| *k != me).collect();
    let (mesh, steps) = Mesh::start(me, CallType::Voice, callees).unwrap();
    group.meshes.insert(me, mesh);
    // The offers reach the callees, which ring.
    for step in steps {
        let MeshStep::Offer { to, members: named } = step else {
            panic!("a start only offers")
        };
        let mesh = Mesh::invited(to, CallType::Voice, me, named).unwrap();
        group.meshes.insert(to, mesh);
        group.pending_offers.insert((me, to));
    }
    for &callee in order {
        let key = members[callee];
        let steps = group.meshes.get_mut(&key).unwrap().accept();
        group.carry_out(key, steps);
        group.deliver_all();
    }
    group
}

#[test]
fn every_pair_of_a_four_party_call_connects_once_whatever_the_order_of_accepting() {
    let members = keys(4);
    for caller in 0..4 {
        let callees: Vec<usize> = (0..4).filter(|i| *i != caller).collect();
        for order in [
            callees.clone(),
            callees.iter().rev().copied().collect::<Vec<_>>(),
        ] {
            let group = full_group(&members, caller, &order);
            group.every_pair_connected_once(&members);
        }
    }
}

#[test]
fn between_callees_the_lower_key_offers() {
    let members = keys(3);
    // members[0] calls; 1 and 2 are callees, 1 has the lower key.
    let group = full_group(&members, 0, &[2, 1]);
    group.every_pair_connected_once(&members);
    let mesh_of_1 = &group.meshes[&members[1]];
    assert_eq!(mesh_of_1.link(&members[2]), Some(Link::Connected));
    // The connection between the callees was 1's offer, answered by 2.
    assert!(group.pending_offers.is_empty());
}

#[test]
fn a_member_invited_mid_call_is_offered_to_by_every_connected_member_and_never_offers() {
    let members = keys(4);
    let (first, late) = members.split_at(3);
    let mut group = full_group(first, 0, &[1, 2]);
    group.every_pair_connected_once(first);

    // members[1] invites the newcomer; every other member learns of it from its answer.
    let newcomer = late[0];
    let inviter = first[1];
    let steps = group
        .meshes
        .get_mut(&inviter)
        .unwrap()
        .invite(newcomer)
        .unwrap();
    let MeshStep::Offer { members: named, .. } = &steps[0] else {
        panic!("an invitation is an offer")
    };
    assert!(named.contains(&newcomer) && named.contains(&first[0]) && named.contains(&first[2]));
    let mesh = Mesh::invited(newcomer, CallType::Voice, inviter, named.clone()).unwrap();
    group.meshes.insert(newcomer, mesh);
    group.pending_offers.insert((inviter, newcomer));
    let accepted = group.meshes.get_mut(&newcomer).unwrap().accept();
    assert!(
        accepted
            .iter()
            .all(|s| !matches!(s, MeshStep::Offer { .. })),
        "a newcomer never offers: {accepted:?}"
    );
    group.carry_out(newcomer, accepted);
    group.deliver_all();
    group.every_pair_connected_once(&members);
}

#[test]
fn a_member_leaving_closes_its_connection_alone_and_the_last_one_ends_the_call() {
    let members = keys(4);
    let mut group = full_group(&members, 0, &[1, 2, 3]);
    // members[1] hangs up: signed once, wrapped to every member.
    let leaver = members[1];
    group.meshes.remove(&leaver);
    for member in [members[0], members[2], members[3]] {
        group
            .queue
            .push_back((member, Wire::Hangup { from: leaver }));
    }
    group.deliver_all();
    let rest = [members[0], members[2], members[3]];
    group.every_pair_connected_once(&rest);
    let mesh = group.meshes.get_mut(&members[0]).unwrap();
    assert_eq!(mesh.connections(), vec![members[2], members[3]]);
    assert_eq!(
        mesh.left(members[2]),
        vec![MeshStep::Close { peer: members[2] }]
    );
    assert_eq!(
        mesh.left(members[3]),
        vec![MeshStep::Close { peer: members[3] }, MeshStep::End]
    );
    // A hangup from someone not in the call changes nothing.
    assert!(mesh.left(keys(1)[0]).is_empty());
}

#[test]
fn a_ringing_callee_stops_when_the_caller_hangs_up() {
    let members = keys(3);
    let mut mesh = Mesh::invited(members[1], CallType::Voice, members[0], members.clone()).unwrap();
    assert_eq!(
        mesh.left(members[0]),
        vec![MeshStep::Close { peer: members[0] }, MeshStep::End]
    );
}

#[test]
fn a_ringing_callee_keeps_ringing_while_another_member_has_offered() {
    let members = keys(3);
    let mut mesh = Mesh::invited(members[2], CallType::Voice, members[0], members.clone()).unwrap();
    mesh.offer_from(members[1], members.clone());
    assert_eq!(
        mesh.left(members[0]),
        vec![MeshStep::Close { peer: members[0] }]
    );
    assert_eq!(mesh.accept(), vec![MeshStep::Answer { from: members[1] }]);
}

#[test]
fn groups_past_the_cap_are_refused() {
    let me = keys(1)[0];
    assert!(Mesh::start(me, CallType::Voice, keys(MAX_AUDIO_MEMBERS - 1)).is_ok());
    assert_eq!(
        Mesh::start(me, CallType::Voice, keys(MAX_AUDIO_MEMBERS)).unwrap_err(),
        MeshError::TooLarge {
            call_type: CallType::Voice,
            cap: MAX_AUDIO_MEMBERS
        }
    );
    let others = keys(MAX_VIDEO_MEMBERS);
    assert!(Mesh::invited(me, CallType::Video, others[0], others.clone()).is_err());
    let (mut mesh, _) = Mesh::start(me, CallType::Video, keys(MAX_VIDEO_MEMBERS - 1)).unwrap();
    assert!(matches!(
        mesh.invite(keys(1)[0]),
        Err(MeshError::TooLarge { .. })
    ));
}

#[test]
fn invitations_need_us_in_the_call_and_a_new_person() {
    let members = keys(3);
    let mut ringing =
        Mesh::invited(members[1], CallType::Voice, members[0], members.clone()).unwrap();
    assert_eq!(ringing.invite(keys(1)[0]), Err(MeshError::NotJoined));
    ringing.accept();
    assert_eq!(ringing.invite(members[2]), Err(MeshError::AlreadyMember));
    assert_eq!(ringing.invite(members[1]), Err(MeshError::AlreadyMember));
}

#[test]
fn offer_glare_between_two_members_leaves_one_connection() {
    let members = keys(2);
    let (low, high) = (members[0], members[1]);
    let third = keys(1)[0];
    let (mut low_mesh, _) = Mesh::start(low, CallType::Voice, [high, third]).unwrap();
    let (mut high_mesh, _) = Mesh::start(high, CallType::Voice, [low, third]).unwrap();
    // Both offered each other: the lower key's offer stands.
    assert!(low_mesh.offer_from(high, [low, third]).is_empty());
    assert_eq!(
        high_mesh.offer_from(low, [high, third]),
        vec![
            MeshStep::Close { peer: low },
            MeshStep::Answer { from: low }
        ]
    );
}

#[test]
fn our_own_answer_copy_changes_nothing() {
    let members = keys(3);
    let (mut mesh, _) = Mesh::start(members[0], CallType::Voice, members[1..].to_vec()).unwrap();
    let before = mesh.connections();
    assert!(mesh.answer_from(members[0], members.clone()).is_empty());
    assert_eq!(mesh.connections(), before);
}
