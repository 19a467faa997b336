//! A group call with a member that is a plain NIP-AC client, not PhantomCall: its
//! signaling is built by hand from NIP-AC's group rules (`nip_ac/`): it answers the
//! caller's offer with an answer naming every member and wrapped to every member and to
//! itself; between callees the lower public key offers; its candidates name one member;
//! no PhantomCall tags anywhere. Its media is one plain webrtc-rs connection per member,
//! sending a 2 kHz Opus tone and decoding what each member sends. The PhantomCall members
//! must hear it in their mix, and it must hear each of them on its own connection.

mod nip_ac;
mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use calling::e2ee::MediaKeys;
use calling::peer::{NetworkConfig, PathState, PeerEvent, PeerSession, PeerSetup};
use calling::{EngineEvent, GroupChange, MediaEvent};
use media::audio::{AudioSource, FRAME_DURATION, SAMPLE_RATE};
use media::audio::{OpusDecoder, OpusEncoder, ToneCheck, ToneSource, DEFAULT_BITRATE};
use nip_ac::{NipAcEvent, Signaling};
use nostr_sdk::prelude::*;
use nostr_signal::Identity;
use phantomcall_schemas::{CallType, IceCandidate, PrivacyMode};
use support::{phone, relay, Phone, PhoneOptions};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use webrtc::media_stream::track_remote::TrackRemoteEvent;

const CALLER_TONE: f32 = 300.0;
const CALLEE_TONE: f32 = 1000.0;
const NIP_AC_TONE: f32 = 2000.0;

/// The NIP-AC member: one peer connection per other member.
struct NipAcMember {
    sig: Signaling,
    call_id: String,
    /// Every member but itself, from the offer's `p` tags and author.
    members: Vec<PublicKey>,
    sessions: HashMap<PublicKey, PeerSession>,
    /// Members it sent an offer to, waiting for their answer.
    offered: Vec<PublicKey>,
    events_tx: UnboundedSender<(PublicKey, PeerEvent)>,
    events: UnboundedReceiver<(PublicKey, PeerEvent)>,
    /// What it decoded from each member's connection.
    heard: HashMap<PublicKey, Arc<Mutex<Vec<i16>>>>,
}

impl NipAcMember {
    fn me(&self) -> PublicKey {
        self.sig.keys.public_key()
    }

    /// A new peer connection to `member`; its events come tagged with the member.
    async fn session_for(&mut self, member: PublicKey) -> &PeerSession {
        let (tx, mut rx) = unbounded_channel();
        let setup = PeerSetup {
            mode: PrivacyMode::Fast,
            send_video: false,
            receive_video: false,
            network: NetworkConfig::loopback(),
            signaling_hides_address: false,
        };
        let session = PeerSession::new(setup, tx).await.unwrap();
        let merged = self.events_tx.clone();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let _ = merged.send((member, event));
            }
        });
        self.sessions.insert(member, session);
        &self.sessions[&member]
    }

    /// An answer to `member`'s offer, naming every member, wrapped to each and to itself.
    async fn answer(&mut self, member: PublicKey, offer: &str) {
        let answer = self.session_for(member).await.answer(offer).await.unwrap();
        let event = self
            .sig
            .sign(&self.members, 25051, &self.call_id, &[], &answer);
        for to in self.members.iter().chain([&self.me()]) {
            self.sig.wrap_to(*to, &event).await;
        }
    }

    /// The mesh offer to another callee (we hold the lower key), wrapped to it alone.
    async fn offer(&mut self, member: PublicKey) {
        let offer = self
            .session_for(member)
            .await
            .create_offer(false)
            .await
            .unwrap();
        let extra = [Tag::parse(["call-type", "voice"]).unwrap()];
        let event = self
            .sig
            .sign(&self.members, 25050, &self.call_id, &extra, &offer);
        self.sig.wrap_to(member, &event).await;
        self.offered.push(member);
    }

    async fn on_signal(&mut self, event: NipAcEvent) {
        let from = event.author;
        if from == self.me() || event.tag("call-id") != Some(self.call_id.as_str()) {
            return;
        }
        match event.kind {
            25050 => self.answer(from, &event.content).await,
            25051 => {
                if let Some(i) = self.offered.iter().position(|k| *k == from) {
                    self.offered.remove(i);
                    self.sessions[&from]
                        .apply_answer(&event.content)
                        .await
                        .unwrap();
                } else if !self.sessions.contains_key(&from) && self.me() < from {
                    // Another callee joined: the lower key sends the mesh offer.
                    self.offer(from).await;
                }
            }
            25052 => {
                let value: serde_json::Value = serde_json::from_str(&event.content).unwrap();
                let items = match value {
                    serde_json::Value::Array(items) => items,
                    single => vec![single],
                };
                let Some(session) = self.sessions.get(&from) else {
                    return; // candidates of a connection we do not have (yet)
                };
                for item in items {
                    let candidate = IceCandidate {
                        candidate: item["candidate"].as_str().unwrap().to_owned(),
                        sdp_mid: item["sdpMid"].as_str().map(str::to_owned),
                        sdp_mline_index: item["sdpMLineIndex"].as_u64().map(|i| i as u16),
                    };
                    let errors = session.add_remote_candidates(&[candidate]).await;
                    assert!(errors.is_empty(), "{errors:?}");
                }
            }
            25053 | 25054 => panic!("a member ended the call: {:?}", event.content),
            _ => {}
        }
    }

    async fn on_media(&mut self, member: PublicKey, event: PeerEvent) {
        match event {
            PeerEvent::Candidate(c) => {
                // ICE carries one `p`: the member this connection belongs to.
                let json = serde_json::json!({
                    "candidate": c.candidate,
                    "sdpMid": c.sdp_mid.clone().unwrap_or_else(|| "0".into()),
                    "sdpMLineIndex": c.sdp_mline_index.unwrap_or(0),
                });
                let event = self
                    .sig
                    .sign(&[member], 25052, &self.call_id, &[], &json.to_string());
                self.sig.wrap_to(member, &event).await;
            }
            PeerEvent::State(PathState::Failed) => panic!("connection with a member failed"),
            PeerEvent::RemoteTrack(track, _) => {
                let heard = self.heard.entry(member).or_default().clone();
                tokio::spawn(async move {
                    let mut decoder = OpusDecoder::new().unwrap();
                    while let Some(event) = track.poll().await {
                        if let TrackRemoteEvent::OnRtpPacket(packet) = event {
                            if let Ok(pcm) = decoder.decode(Some(&packet.payload)) {
                                heard.lock().unwrap().extend(pcm);
                            }
                        }
                    }
                });
            }
            _ => {}
        }
    }

    /// Whether the last half second it decoded from `member` is `hz`.
    fn hears(&self, member: &PublicKey, hz: f32) -> bool {
        let Some(heard) = self.heard.get(member) else {
            return false;
        };
        let heard = heard.lock().unwrap();
        let window = SAMPLE_RATE as usize / 2;
        heard.len() >= window && ToneCheck::detect(&heard[heard.len() - window..], hz).dominant
    }
}

/// Runs the NIP-AC member (its signaling, its connections, its 2 kHz tone to each) until
/// it hears both PhantomCall members on their own connections and each of them hears the
/// other and it in their mix; panics after 30 s with who heard whom.
async fn pump_until_all_hear(member: &mut NipAcMember, a: (&Phone, f32), b: (&Phone, f32)) {
    let mut encoder = OpusEncoder::new(DEFAULT_BITRATE).unwrap();
    let mut tone = ToneSource::new(NIP_AC_TONE, 0.3);
    let mut ticker = tokio::time::interval(FRAME_DURATION);
    let mut check = tokio::time::interval(Duration::from_millis(250));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        tokio::select! {
            event = member.sig.next_call_event() => member.on_signal(event).await,
            Some((from, event)) = member.events.recv() => member.on_media(from, event).await,
            _ = ticker.tick() => {
                let frame = tone.read_frame().unwrap();
                let packet = encoder.encode(&frame.samples).unwrap();
                for session in member.sessions.values() {
                    let _ = session.audio.write(packet.clone(), Instant::now(), FRAME_DURATION).await;
                }
            }
            _ = check.tick() => {
                let heard = [
                    member.hears(&a.0.key, a.1),
                    member.hears(&b.0.key, b.1),
                    phone_hears(a.0, &[b.1, NIP_AC_TONE]),
                    phone_hears(b.0, &[a.1, NIP_AC_TONE]),
                ];
                if heard.iter().all(|h| *h) {
                    return;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "not every member heard every other within 30 s \
                     (NIP-AC hears a, b; a hears all; b hears all): {heard:?}"
                );
            }
        }
    }
}

/// Whether a PhantomCall phone's speaker carries every one of `tones` now.
fn phone_hears(phone: &Phone, tones: &[f32]) -> bool {
    let window = SAMPLE_RATE as usize / 2;
    phone.devices.probes.speakers().pop().is_some_and(|s| {
        s.recording.total_written() >= window as u64
            && ToneCheck::detect_mix(&s.recording.last(window), tones).all_present
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plain_nip_ac_client_joins_a_group_call_and_offers_to_a_higher_key() {
    group_call_with_a_nip_ac_member(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plain_nip_ac_client_joins_a_group_call_and_answers_a_lower_key() {
    group_call_with_a_nip_ac_member(false).await;
}

/// Alice calls Bob and the NIP-AC client together; `nip_ac_offers`: the NIP-AC client has
/// the lower key of the two callees, so it sends the mesh offer (else Bob does).
async fn group_call_with_a_nip_ac_member(nip_ac_offers: bool) {
    let relay = relay().await;
    let keys = Keys::generate();
    let bob_identity = loop {
        let identity = Identity::generate();
        if (keys.public_key() < identity.public_key()) == nip_ac_offers {
            break identity;
        }
    };
    let mut alice = phone(
        &relay,
        &Identity::generate(),
        PhoneOptions::tone(CALLER_TONE),
    )
    .await;
    let mut bob = phone(&relay, &bob_identity, PhoneOptions::tone(CALLEE_TONE)).await;
    let mut sig = Signaling::start_as(keys, relay.url()).await;
    let nip_ac_key = sig.keys.public_key();

    let call = alice
        .engine
        .dial_group(
            vec![bob.key, nip_ac_key],
            CallType::Voice,
            PrivacyMode::Fast,
        )
        .unwrap();
    // The NIP-AC client reads the caller's offer: every callee in its `p` tags.
    let offer = loop {
        let event = sig.next_call_event().await;
        if event.kind == 25050 {
            break event;
        }
    };
    assert_eq!(offer.author, alice.key);
    assert_eq!(offer.tag("call-id"), Some(call.to_string().as_str()));
    let mut named = offer.p_tags();
    named.sort();
    let mut callees = vec![bob.key, nip_ac_key];
    callees.sort();
    assert_eq!(named, callees, "the offer names every callee");
    let members: Vec<PublicKey> = vec![alice.key, bob.key];
    let (events_tx, events) = unbounded_channel();
    let mut member = NipAcMember {
        sig,
        call_id: call.to_string(),
        members,
        sessions: HashMap::new(),
        offered: Vec::new(),
        events_tx,
        events,
        heard: HashMap::new(),
    };
    member.answer(alice.key, &offer.content).await;

    // Bob accepts; the mesh between Bob and the NIP-AC client is set up by the lower key.
    let ringing = bob
        .wait_event(Duration::from_secs(20), |e| {
            matches!(e, EngineEvent::Group(g) if g.call_id == call && matches!(g.change, GroupChange::Ringing { .. }))
        })
        .await;
    let EngineEvent::Group(ringing) = ringing else {
        unreachable!()
    };
    let GroupChange::Ringing { members, .. } = ringing.change else {
        unreachable!()
    };
    assert!(members.contains(&nip_ac_key), "Bob sees who else is in it");
    bob.engine.accept(call, false);

    pump_until_all_hear(&mut member, (&alice, CALLER_TONE), (&bob, CALLEE_TONE)).await;
    assert_eq!(member.sessions.len(), 2, "one connection per member");
    // Alice and Bob share the group keys; the NIP-AC member has DTLS-SRTP alone, and
    // both PhantomCall members are told so.
    for phone in [&mut alice, &mut bob] {
        let (mut keyed, mut plain) = (false, false);
        while !(keyed && plain) {
            let event = phone
                .wait_event(Duration::from_secs(10), |e| {
                    matches!(e, EngineEvent::Group(_))
                })
                .await;
            let EngineEvent::Group(group) = event else {
                unreachable!()
            };
            match group.change {
                GroupChange::Keys {
                    keyed: 2,
                    members: 3,
                    ..
                } => keyed = true,
                GroupChange::Media {
                    member,
                    event: MediaEvent::MediaKeys(MediaKeys::TransportOnly),
                } if member == nip_ac_key => plain = true,
                _ => {}
            }
        }
    }
    alice.engine.shutdown().await;
    bob.engine.shutdown().await;
}

/// Waits for the group call `call_id` to ring on `phone`.
async fn ringing(phone: &mut Phone, call_id: &str) -> EngineEvent {
    phone
        .wait_event(Duration::from_secs(20), |e| {
            matches!(e, EngineEvent::Group(g) if g.call_id.to_string() == call_id && matches!(g.change, GroupChange::Ringing { .. }))
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plain_nip_ac_client_calls_two_phantomcall_users_and_the_mesh_forms_between_them() {
    let relay = relay().await;
    // Bob has the lower key of the two callees: he must offer to Carol, so he must know she
    // joined, though her "I joined" reaches him before his own invitation does.
    let (bob_identity, carol_identity) = loop {
        let (b, c) = (Identity::generate(), Identity::generate());
        if b.public_key() < c.public_key() {
            break (b, c);
        }
    };
    let mut bob = phone(&relay, &bob_identity, PhoneOptions::tone(CALLEE_TONE)).await;
    let mut carol = phone(&relay, &carol_identity, PhoneOptions::tone(CALLER_TONE)).await;
    let sig = Signaling::start(relay.url()).await;
    let (events_tx, events) = unbounded_channel();
    let mut member = NipAcMember {
        sig,
        call_id: uuid::Uuid::new_v4().to_string(),
        members: vec![carol.key, bob.key],
        sessions: HashMap::new(),
        offered: Vec::new(),
        events_tx,
        events,
        heard: HashMap::new(),
    };
    member.offer(carol.key).await;
    let EngineEvent::Group(invited) = ringing(&mut carol, &member.call_id).await else {
        unreachable!()
    };
    carol.engine.accept(invited.call_id, false);
    // Carol's answer (to us, and to Bob, who has no invitation yet).
    loop {
        let event = member.sig.next_call_event().await;
        let answered = event.kind == 25051 && event.author == carol.key;
        member.on_signal(event).await;
        if answered {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    member.offer(bob.key).await;
    let EngineEvent::Group(invited) = ringing(&mut bob, &member.call_id).await else {
        unreachable!()
    };
    bob.engine.accept(invited.call_id, false);
    pump_until_all_hear(&mut member, (&carol, CALLER_TONE), (&bob, CALLEE_TONE)).await;
    bob.engine.shutdown().await;
    carol.engine.shutdown().await;
}
