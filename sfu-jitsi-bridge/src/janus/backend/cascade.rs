//! Rooms across instances: creating a room where it is needed, cascading publishers to
//! other instances (remote publishers), removing them, destroying empty rooms, and what
//! happens when an instance is lost.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Value};

use super::{lock, server_error, Conn, Inner, JRoom, Member, RoomState, RECONNECT_EVERY};

/// How often, and how many times, a new remote publisher's listing is checked.
const LISTED_POLL_EVERY: std::time::Duration = std::time::Duration::from_millis(10);
const LISTED_POLLS: u32 = 100;
use crate::janus::wire::StreamInfo;
use crate::sfu::{RoomId, SfuError, SfuSignal};

impl Inner {
    /// Creates the VideoRoom room on `index` if it is not there yet, and brings every member
    /// elsewhere in as a remote publisher.
    pub(super) async fn ensure_room(
        &self,
        state: &mut RoomState,
        number: u64,
        index: usize,
    ) -> Result<(), SfuError> {
        if state.on.contains(&index) {
            return Ok(());
        }
        let conn = self.conn(index)?;
        let body = json!({
            "request": "create", "room": number, "secret": self.secret,
            "require_e2ee": true, "publishers": 100, "audiocodec": "opus", "videocodec": "vp8",
            "notify_joining": false, "is_private": true,
        });
        conn.client
            .plugin_sync(conn.admin, body)
            .await
            .map_err(server_error("create room"))?;
        state.on.insert(index);
        let elsewhere: Vec<(u64, usize, Vec<StreamInfo>)> = state
            .members
            .values()
            .filter(|m| m.announced)
            .filter_map(|m| Some((m.feed, m.instance?, m.streams.clone())))
            .filter(|(_, i, _)| *i != index)
            .collect();
        for (feed, from, streams) in elsewhere {
            if let Err(e) = self.cascade(number, feed, &streams, from, index).await {
                tracing::warn!(error = %e, "Janus: cascading a publisher failed");
            }
        }
        Ok(())
    }

    /// Makes publisher `feed` of instance `from` a remote publisher on instance `to`.
    pub(super) async fn cascade(
        &self,
        number: u64,
        feed: u64,
        streams: &[StreamInfo],
        from: usize,
        to: usize,
    ) -> Result<(), SfuError> {
        let (src, dst) = (self.conn(from)?, self.conn(to)?);
        let target = &self.instances[to].config;
        let streams: Vec<Value> = streams
            .iter()
            .filter(|s| s.disabled != Some(true))
            .map(|s| {
                json!({
                    "type": s.kind, "mindex": s.mindex, "mid": s.mid.clone().unwrap_or_default(),
                    "codec": s.codec,
                })
            })
            .collect();
        let added = dst
            .client
            .plugin_sync(
                dst.admin,
                json!({
                    "request": "add_remote_publisher", "room": number, "secret": self.secret,
                    "id": feed, "iface": target.cascade_ip, "streams": streams,
                }),
            )
            .await
            .map_err(server_error("add_remote_publisher"))?;
        let port = added.port.ok_or(SfuError::MediaServer)?;
        self.wait_listed(&dst, number, feed).await?;
        let mut body = json!({
            "request": "publish_remotely", "room": number, "secret": self.secret,
            "publisher_id": feed, "remote_id": format!("to-{to}"),
            "host": target.cascade_ip, "port": port,
        });
        if let Some(rtcp) = added.rtcp_port {
            body["rtcp_port"] = json!(rtcp);
        }
        src.client
            .plugin_sync(src.admin, body)
            .await
            .map_err(server_error("publish_remotely"))?;
        Ok(())
    }

    /// Waits until `feed` is listed in the room on `conn`'s instance. Janus 1.1.2 adds a
    /// remote publisher to its room from the publisher's own thread, after
    /// `add_remote_publisher` has answered: a subscription sent at once can be refused
    /// ("No such feed"). `listparticipants` is asked until it is there (1 s at most).
    async fn wait_listed(&self, conn: &Conn, number: u64, feed: u64) -> Result<(), SfuError> {
        for _ in 0..LISTED_POLLS {
            let body = json!({"request": "listparticipants", "room": number});
            let listed = conn
                .client
                .plugin_sync(conn.admin, body)
                .await
                .map_err(server_error("listparticipants"))?;
            if listed.participants.iter().flatten().any(|p| p.id == feed) {
                return Ok(());
            }
            tokio::time::sleep(LISTED_POLL_EVERY).await;
        }
        tracing::warn!("Janus: a remote publisher was not listed within a second");
        Err(SfuError::MediaServer)
    }

    pub(super) async fn remove_remote(&self, number: u64, feed: u64, on: usize) {
        if let Ok(conn) = self.conn(on) {
            let body = json!({
                "request": "remove_remote_publisher", "room": number, "secret": self.secret,
                "id": feed,
            });
            if let Err(e) = conn.client.plugin_sync(conn.admin, body).await {
                tracing::debug!(error = %e, "Janus: remove_remote_publisher failed");
            }
        }
    }

    /// Destroys the room everywhere once its last member is gone.
    pub(super) async fn drop_if_empty(
        &self,
        room: RoomId,
        jroom: &Arc<JRoom>,
        state: &mut RoomState,
    ) {
        if !state.members.is_empty() {
            return;
        }
        for index in state.on.drain() {
            if let Ok(conn) = self.conn(index) {
                let body =
                    json!({"request": "destroy", "room": jroom.number, "secret": self.secret});
                let _ = conn.client.plugin_sync(conn.admin, body).await;
            }
        }
        let mut rooms = lock(&self.rooms);
        if rooms.get(&room).is_some_and(|r| Arc::ptr_eq(r, jroom)) {
            rooms.remove(&room);
        }
    }

    /// An instance is gone: its members are told to reconnect, their media leaves the
    /// other instances.
    pub(super) async fn instance_lost(&self, index: usize) {
        let rooms: Vec<Arc<JRoom>> = lock(&self.rooms).values().cloned().collect();
        for jroom in rooms {
            let mut state = jroom.state.lock().await;
            if !state.on.remove(&index) {
                continue;
            }
            let mut lost_feeds = Vec::new();
            for m in state.members.values_mut() {
                if m.instance == Some(index) {
                    m.instance = None;
                    m.publisher = None;
                    m.sub = None;
                    m.announced = false;
                    lost_feeds.push(m.feed);
                    let _ = m.signals.send(SfuSignal::Reconnect);
                }
            }
            for feed in lost_feeds {
                for &other in &state.on {
                    self.remove_remote(jroom.number, feed, other).await;
                }
            }
        }
        self.instances[index].load.store(0, Ordering::Relaxed);
    }
    /// Takes a member's media out of every instance (its handles, its remote publishers).
    pub(super) async fn unpublish(&self, jroom: &JRoom, state: &RoomState, member: &Member) {
        let Some(index) = member.instance else { return };
        self.unplace(index);
        if let Some(sub) = &member.sub {
            sub.close().await;
        }
        if let (Some(handle), Ok(conn)) = (member.publisher, self.conn(index)) {
            conn.client.detach(handle).await;
        }
        for &other in state.on.iter().filter(|&&o| o != index) {
            self.remove_remote(jroom.number, member.feed, other).await;
        }
        for m in state.members.values() {
            if let Some(sub) = &m.sub {
                sub.forget_feed(member.feed).await;
            }
        }
    }
}

/// Reconnects to a lost instance; reports the loss to the rooms first.
pub(super) async fn supervise(inner: std::sync::Weak<Inner>, index: usize) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let conn = strong.instances[index].conn();
        drop(strong);
        match conn {
            Some(conn) => {
                conn.client.closed().await;
                let Some(strong) = inner.upgrade() else {
                    return;
                };
                tracing::warn!(instance = %strong.instances[index].config.name, "Janus instance lost");
                *lock(&strong.instances[index].conn) = None;
                strong.instance_lost(index).await;
            }
            None => {
                tokio::time::sleep(RECONNECT_EVERY).await;
                let Some(strong) = inner.upgrade() else {
                    return;
                };
                let _ = strong.connect(index).await;
            }
        }
    }
}
