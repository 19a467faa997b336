//! [`JanusBackend`]: conference rooms on Janus VideoRoom instances.
//!
//! A conference room is one VideoRoom room (same number) on every instance that has members
//! of it, created with `require_e2ee`. A participant publishes on the instance placement
//! chose ([`super::place`]); every other instance of the room gets its media as a remote
//! publisher with the same feed id (`add_remote_publisher` there, then `publish_remotely`
//! here), so subscriptions name the same feeds everywhere. Each participant receives on one
//! subscriber handle on its own instance ([`Subscriber`]).
//!
//! When an instance's API connection drops, its participants get
//! [`SfuSignal::Reconnect`], their remote publishers are removed elsewhere, and their
//! `rejoin` places them on a live instance; a supervisor reconnects to the instance when it
//! is back.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::client::{ClientError, JanusClient};
use super::poller::{AdminTarget, Poller, POLL_EVERY};
use super::subscriber::Subscriber;
use super::wire::{Kind, Message, StreamInfo};
use super::{place, Candidate, InstanceConfig, JanusConfig};
use crate::backend::{BackendStats, Leg, MediaBackend, Placement, ServerMedia};
use crate::sfu::{IceCandidate, Joined, ParticipantId, RoomId, SfuError, SfuSignal};
use crate::tiers::{check_join, Tier};

/// How long a new publisher's media may take to come up before the others are not given
/// its feed (its ICE failed; it will leave or be told to reconnect).
const MEDIA_UP_TIMEOUT: Duration = Duration::from_secs(30);
/// Wait between reconnection attempts to a lost instance.
const RECONNECT_EVERY: Duration = Duration::from_millis(500);

#[derive(Clone)]
struct Conn {
    client: JanusClient,
    /// A handle for room management requests.
    admin: u64,
}

struct Instance {
    config: InstanceConfig,
    conn: Mutex<Option<Conn>>,
    load: AtomicUsize,
    draining: AtomicBool,
}

impl Instance {
    fn conn(&self) -> Option<Conn> {
        lock(&self.conn).clone().filter(|c| !c.client.is_closed())
    }
}

struct Member {
    /// `None` while it reconnects after its instance was lost.
    instance: Option<usize>,
    feed: u64,
    publisher: Option<u64>,
    streams: Vec<StreamInfo>,
    sub: Option<Arc<Subscriber>>,
    /// Its media is up and the others were given its feed.
    announced: bool,
    signals: UnboundedSender<SfuSignal>,
}

struct Published {
    handle: u64,
    events: UnboundedReceiver<Message>,
    answer: String,
    streams: Vec<StreamInfo>,
}

#[derive(Default)]
struct RoomState {
    /// Instances where the VideoRoom room exists.
    on: HashSet<usize>,
    members: HashMap<ParticipantId, Member>,
}

struct JRoom {
    number: u64,
    state: tokio::sync::Mutex<RoomState>,
}

struct Inner {
    config: JanusConfig,
    instances: Vec<Instance>,
    rooms: Mutex<HashMap<RoomId, Arc<JRoom>>>,
    /// The rooms' edit secret: only this service manages them.
    secret: String,
    /// Forwarded bitrate and packet loss per instance (their Admin APIs).
    media: Arc<Poller>,
}

/// Janus VideoRoom instances as one media backend. Cheap to clone.
#[derive(Clone)]
pub struct JanusBackend {
    inner: Arc<Inner>,
}

/// Ids Janus keeps as JSON numbers: below 2^53 so no JavaScript client of Janus rounds them.
fn random_id() -> u64 {
    fastrand::u64(1..(1 << 53))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn server_error(what: &'static str) -> impl Fn(ClientError) -> SfuError {
    move |e| {
        tracing::warn!(error = %e, "Janus: {what} failed");
        SfuError::MediaServer
    }
}

impl JanusBackend {
    /// Connects to every instance (those unreachable now are retried in the background) and
    /// supervises the connections. Needs a Tokio runtime.
    pub async fn start(config: JanusConfig) -> Self {
        let mut secret = [0u8; 16];
        let _ = getrandom::fill(&mut secret);
        let instances = config
            .instances
            .iter()
            .map(|c| Instance {
                config: c.clone(),
                conn: Mutex::new(None),
                load: AtomicUsize::new(0),
                draining: AtomicBool::new(c.drain),
            })
            .collect();
        let names = config.instances.iter().map(|i| i.name.clone()).collect();
        let every = config
            .stats_every_ms
            .map_or(POLL_EVERY, Duration::from_millis);
        let inner = Arc::new(Inner {
            config,
            instances,
            rooms: Mutex::new(HashMap::new()),
            secret: hex::encode(secret),
            media: Poller::new(names, every),
        });
        for index in 0..inner.instances.len() {
            let _ = inner.connect(index).await;
            tokio::spawn(cascade::supervise(Arc::downgrade(&inner), index));
            if let Some(target) = AdminTarget::from_config(&inner.instances[index].config) {
                let weak = Arc::downgrade(&inner);
                let session =
                    move || Some(weak.upgrade()?.instances[index].conn()?.client.session_id());
                inner.media.spawn(index, target, session);
            }
        }
        Self { inner }
    }
}

mod cascade;
mod lookup;

impl Inner {
    async fn connect(&self, index: usize) -> Result<(), ClientError> {
        let instance = &self.instances[index];
        let client = JanusClient::connect(&instance.config.url).await?;
        let (admin, _events) = client.attach().await?;
        tracing::info!(instance = %instance.config.name, "Janus instance connected");
        *lock(&instance.conn) = Some(Conn { client, admin });
        Ok(())
    }

    fn room(&self, room: RoomId) -> Option<Arc<JRoom>> {
        lock(&self.rooms).get(&room).cloned()
    }

    fn room_or_new(&self, room: RoomId) -> Arc<JRoom> {
        lock(&self.rooms)
            .entry(room)
            .or_insert_with(|| {
                Arc::new(JRoom {
                    number: random_id(),
                    state: tokio::sync::Mutex::new(RoomState::default()),
                })
            })
            .clone()
    }

    fn conn(&self, index: usize) -> Result<Conn, SfuError> {
        self.instances[index].conn().ok_or(SfuError::MediaServer)
    }

    /// Picks an instance and counts the participant on it.
    fn place(&self, placement: &Placement) -> Result<usize, SfuError> {
        let candidates: Vec<Candidate<'_>> = self
            .instances
            .iter()
            .map(|i| Candidate {
                region: &i.config.region,
                load: i.load.load(Ordering::Relaxed),
                capacity: i.config.max_participants,
                up: i.conn().is_some() && !i.draining.load(Ordering::Relaxed),
            })
            .collect();
        let region = placement
            .region
            .as_deref()
            .or(self.config.region.as_deref());
        let index = place(&candidates, region).ok_or(SfuError::MediaServer)?;
        self.instances[index].load.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            "participant placed on instance {}",
            self.instances[index].config.name
        );
        Ok(index)
    }

    fn unplace(&self, index: usize) {
        let _ =
            self.instances[index]
                .load
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| l.checked_sub(1));
    }

    /// Publishes the participant's offer on `index`: its handle, its events, the answer and
    /// the streams.
    async fn publish(
        &self,
        number: u64,
        index: usize,
        feed: u64,
        offer: String,
    ) -> Result<Published, SfuError> {
        let conn = self.conn(index)?;
        let (handle, events) = conn.client.attach().await.map_err(server_error("attach"))?;
        let joined = conn
            .client
            .plugin_async(
                handle,
                json!({"request": "join", "ptype": "publisher", "room": number, "id": feed}),
                None,
            )
            .await;
        let published = match joined {
            Ok(_) => {
                // E2EE passthrough: Janus must not expect to read the payloads.
                let jsep = json!({"type": "offer", "sdp": offer, "e2ee": true});
                conn.client
                    .plugin_async(handle, json!({"request": "publish"}), Some(jsep))
                    .await
            }
            Err(e) => Err(e),
        };
        let reply = match published {
            Ok(r) => r,
            Err(e) => {
                conn.client.detach(handle).await;
                return Err(server_error("publish")(e));
            }
        };
        let answer = reply.jsep.map(|j| j.sdp);
        let streams = reply.videoroom.and_then(|d| d.streams).unwrap_or_default();
        match answer {
            Some(answer) => Ok(Published {
                handle,
                events,
                answer,
                streams,
            }),
            None => {
                conn.client.detach(handle).await;
                Err(SfuError::MediaServer)
            }
        }
    }

    /// Places and publishes `id` and subscribes it to the others' feeds; once its media is
    /// up (Janus's first `media` event), [`Inner::announce`] gives its feed to the others. The member
    /// must be in `state` already (with no instance). Returns the answer.
    async fn place_member(
        self: &Arc<Self>,
        room: RoomId,
        jroom: &Arc<JRoom>,
        state: &mut RoomState,
        id: &ParticipantId,
        offer: String,
        placement: &Placement,
    ) -> Result<String, SfuError> {
        let index = self.place(placement)?;
        let result = async {
            self.ensure_room(state, jroom.number, index).await?;
            let feed = random_id();
            let published = self.publish(jroom.number, index, feed, offer).await?;
            Ok::<_, SfuError>((feed, published))
        }
        .await;
        let (feed, published) = match result {
            Ok(r) => r,
            Err(e) => {
                self.unplace(index);
                return Err(e);
            }
        };
        let conn = self.conn(index)?;
        let member = state
            .members
            .get_mut(id)
            .ok_or(SfuError::NoSuchParticipant)?;
        let sub = Subscriber::new(conn.client.clone(), jroom.number, member.signals.clone());
        *member = Member {
            instance: Some(index),
            feed,
            publisher: Some(published.handle),
            streams: published.streams,
            sub: Some(sub.clone()),
            announced: false,
            signals: member.signals.clone(),
        };
        let others: Vec<u64> = state
            .members
            .iter()
            .filter(|(other, m)| *other != id && m.announced && m.instance.is_some())
            .map(|(_, m)| m.feed)
            .collect();
        if !others.is_empty() {
            tokio::spawn(async move { sub.add_feeds(others).await });
        }
        let (inner, jroom, id) = (self.clone(), jroom.clone(), id.clone());
        let mut events = published.events;
        tokio::spawn(async move {
            let up = async {
                // Janus's `media` event, not `webrtcup`: `webrtcup` can reach us before
                // VideoRoom marks the publisher started, and a subscription in that gap is
                // refused ("No such feed"); `media` comes with its first packets, after.
                while let Some(event) = events.recv().await {
                    if event.kind == Kind::Media {
                        return true;
                    }
                }
                false
            };
            if let Ok(true) = tokio::time::timeout(MEDIA_UP_TIMEOUT, up).await {
                inner.announce(room, &jroom, &id, feed).await;
            }
        });
        Ok(published.answer)
    }

    /// A member's media is up: the other instances get its feed as a remote publisher, and
    /// everyone else in the room subscribes to it.
    async fn announce(&self, room: RoomId, jroom: &Arc<JRoom>, id: &ParticipantId, feed: u64) {
        if !self.room(room).is_some_and(|r| Arc::ptr_eq(&r, jroom)) {
            return;
        }
        let mut state = jroom.state.lock().await;
        let Some(member) = state.members.get_mut(id).filter(|m| m.feed == feed) else {
            return;
        };
        let (Some(index), false) = (member.instance, member.announced) else {
            return;
        };
        member.announced = true;
        let streams = member.streams.clone();
        for other in state.on.clone() {
            if other != index {
                if let Err(e) = self
                    .cascade(jroom.number, feed, &streams, index, other)
                    .await
                {
                    tracing::warn!(error = %e, "Janus: cascading a new publisher failed");
                }
            }
        }
        for (other_id, m) in state.members.iter() {
            if other_id == id {
                continue;
            }
            if let Some(their) = m.sub.clone() {
                tokio::spawn(async move { their.add_feeds([feed]).await });
            }
        }
    }
}

#[async_trait]
impl MediaBackend for JanusBackend {
    fn kind(&self) -> &'static str {
        "janus"
    }

    async fn join(
        &self,
        room: RoomId,
        tier: Tier,
        participant: ParticipantId,
        offer: String,
        placement: Placement,
    ) -> Result<Joined, SfuError> {
        let jroom = self.inner.room_or_new(room);
        let mut state = jroom.state.lock().await;
        if state.members.contains_key(&participant) {
            return Err(SfuError::AlreadyJoined);
        }
        check_join(tier, state.members.len() as u32)?;
        let (tx, signals) = unbounded_channel();
        state.members.insert(
            participant.clone(),
            Member {
                instance: None,
                feed: 0,
                publisher: None,
                streams: Vec::new(),
                sub: None,
                announced: false,
                signals: tx,
            },
        );
        match self
            .inner
            .place_member(room, &jroom, &mut state, &participant, offer, &placement)
            .await
        {
            Ok(answer) => Ok(Joined { answer, signals }),
            Err(e) => {
                state.members.remove(&participant);
                self.inner.drop_if_empty(room, &jroom, &mut state).await;
                Err(e)
            }
        }
    }

    async fn rejoin(
        &self,
        room: RoomId,
        participant: &ParticipantId,
        offer: String,
    ) -> Result<String, SfuError> {
        let jroom = self.inner.room(room).ok_or(SfuError::NoSuchRoom)?;
        let mut state = jroom.state.lock().await;
        let member = state
            .members
            .get(participant)
            .ok_or(SfuError::NoSuchParticipant)?;
        if member.instance.is_some() {
            return Err(SfuError::AlreadyJoined);
        }
        self.inner
            .place_member(
                room,
                &jroom,
                &mut state,
                participant,
                offer,
                &Placement::default(),
            )
            .await
    }

    async fn apply_answer(
        &self,
        room: RoomId,
        participant: &ParticipantId,
        leg: Leg,
        answer: String,
    ) -> Result<(), SfuError> {
        if leg == Leg::Main {
            // Janus answers the publisher's offers; it never offers on that leg.
            return Err(SfuError::NoOfferOutstanding);
        }
        let sub = self.subscriber(room, participant).await?;
        sub.answer(answer).await.map_err(|e| match e {
            ClientError::Unexpected(_) => SfuError::NoOfferOutstanding,
            other => server_error("start")(other),
        })
    }

    async fn add_ice_candidate(
        &self,
        room: RoomId,
        participant: &ParticipantId,
        leg: Leg,
        candidate: IceCandidate,
    ) -> Result<(), SfuError> {
        let value = if candidate.candidate.is_empty() {
            None
        } else {
            Some(json!({
                "candidate": candidate.candidate, "sdpMid": candidate.sdp_mid,
                "sdpMLineIndex": candidate.sdp_mline_index,
            }))
        };
        match leg {
            Leg::Subscriber => {
                let sub = self.subscriber(room, participant).await?;
                sub.trickle(value).await.map_err(|_| SfuError::BadCandidate)
            }
            Leg::Main => {
                let jroom = self.inner.room(room).ok_or(SfuError::NoSuchRoom)?;
                let (index, handle) = {
                    let state = jroom.state.lock().await;
                    let m = state
                        .members
                        .get(participant)
                        .ok_or(SfuError::NoSuchParticipant)?;
                    (m.instance, m.publisher)
                };
                let (Some(index), Some(handle)) = (index, handle) else {
                    return Err(SfuError::BadCandidate);
                };
                let conn = self.inner.conn(index)?;
                conn.client
                    .trickle(handle, value)
                    .await
                    .map_err(|_| SfuError::BadCandidate)
            }
        }
    }

    async fn leave(&self, room: RoomId, participant: &ParticipantId) -> Result<(), SfuError> {
        let jroom = self.inner.room(room).ok_or(SfuError::NoSuchRoom)?;
        let mut state = jroom.state.lock().await;
        let member = state
            .members
            .remove(participant)
            .ok_or(SfuError::NoSuchParticipant)?;
        self.inner.unpublish(&jroom, &state, &member).await;
        self.inner.drop_if_empty(room, &jroom, &mut state).await;
        Ok(())
    }

    async fn remove(&self, room: RoomId, participant: &ParticipantId) -> Result<(), SfuError> {
        let signals = {
            let jroom = self.inner.room(room).ok_or(SfuError::NoSuchRoom)?;
            let state = jroom.state.lock().await;
            state.members.get(participant).map(|m| m.signals.clone())
        };
        self.leave(room, participant).await?;
        if let Some(s) = signals {
            let _ = s.send(SfuSignal::Removed);
        }
        Ok(())
    }

    async fn end_room(&self, room: RoomId) -> Result<(), SfuError> {
        let jroom = self.inner.room(room).ok_or(SfuError::NoSuchRoom)?;
        let mut state = jroom.state.lock().await;
        let members: Vec<Member> = state.members.drain().map(|(_, m)| m).collect();
        for member in &members {
            self.inner.unpublish(&jroom, &state, member).await;
            let _ = member.signals.send(SfuSignal::RoomEnded);
        }
        self.inner.drop_if_empty(room, &jroom, &mut state).await;
        Ok(())
    }

    fn stats(&self) -> BackendStats {
        let instances = &self.inner.instances;
        BackendStats {
            rooms: lock(&self.inner.rooms).len() as u64,
            participants: instances
                .iter()
                .map(|i| i.load.load(Ordering::Relaxed) as u64)
                .sum(),
            // From the instances' Admin APIs (0 where none is configured).
            bytes_forwarded: self.inner.media.forwarded_total(),
            servers_up: instances.iter().filter(|i| i.conn().is_some()).count() as u64,
            servers: instances.len() as u64,
        }
    }

    fn ready(&self) -> bool {
        self.inner
            .instances
            .iter()
            .any(|i| i.conn().is_some() && !i.draining.load(Ordering::Relaxed))
    }

    fn set_draining(&self, servers: &[String]) {
        for i in &self.inner.instances {
            let drain = servers.contains(&i.config.name);
            if i.draining.swap(drain, Ordering::Relaxed) != drain {
                let state = if drain {
                    "draining"
                } else {
                    "taking participants again"
                };
                tracing::info!("instance {} {state}", i.config.name);
            }
        }
    }

    fn server_media(&self) -> Vec<ServerMedia> {
        self.inner.media.server_media()
    }

    fn server_loads(&self) -> Vec<(String, u64)> {
        self.loads()
            .into_iter()
            .map(|(name, load)| (name, load as u64))
            .collect()
    }
}
