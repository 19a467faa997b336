//! A participant's receiving connection on Janus: one VideoRoom subscriber handle carrying
//! every other publisher's streams (multistream). Janus offers, the client answers; one
//! offer is outstanding at a time, and feeds that arrive meanwhile wait for the answer.
//! Janus's own renegotiations (a publisher left: `updated` with a new offer) come as
//! handle events and are forwarded the same way.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::Mutex;

use super::client::{ClientError, JanusClient};
use super::wire::{JsepKind, Message};
use crate::sfu::SfuSignal;

#[derive(Default)]
struct State {
    handle: Option<u64>,
    joined: bool,
    offer_out: bool,
    pending: BTreeSet<u64>,
    subscribed: HashSet<u64>,
    closed: bool,
    /// The `o=` session version of the last offer forwarded.
    last_version: u64,
}

/// The subscriber leg of one participant on one instance.
pub struct Subscriber {
    client: JanusClient,
    room: u64,
    signals: UnboundedSender<SfuSignal>,
    state: Mutex<State>,
}

impl Subscriber {
    /// A leg on `client`'s instance, in VideoRoom room `room`; offers go to `signals`.
    pub fn new(client: JanusClient, room: u64, signals: UnboundedSender<SfuSignal>) -> Arc<Self> {
        Arc::new(Self {
            client,
            room,
            signals,
            state: Mutex::new(State::default()),
        })
    }

    /// Subscribes to `feeds` (publisher ids in the room): now, or after the outstanding
    /// offer is answered.
    pub async fn add_feeds(self: &Arc<Self>, feeds: impl IntoIterator<Item = u64>) {
        let mut state = self.state.lock().await;
        for feed in feeds {
            if !state.subscribed.contains(&feed) {
                state.pending.insert(feed);
            }
        }
        self.flush(&mut state).await;
    }

    /// Forgets a feed that left (Janus drops its streams and renegotiates by itself).
    pub async fn forget_feed(&self, feed: u64) {
        let mut state = self.state.lock().await;
        state.pending.remove(&feed);
        state.subscribed.remove(&feed);
    }

    /// The client's answer to the outstanding offer.
    pub async fn answer(self: &Arc<Self>, sdp: String) -> Result<(), ClientError> {
        let mut state = self.state.lock().await;
        let Some(handle) = state.handle.filter(|_| state.offer_out) else {
            return Err(ClientError::Unexpected("no subscriber offer outstanding"));
        };
        let jsep = json!({"type": "answer", "sdp": sdp});
        let started = self
            .client
            .plugin_async(handle, json!({"request": "start"}), Some(jsep))
            .await;
        state.offer_out = false;
        started?;
        self.flush(&mut state).await;
        Ok(())
    }

    /// One of the client's candidates for this leg.
    pub async fn trickle(&self, candidate: Option<Value>) -> Result<(), ClientError> {
        let handle = self.state.lock().await.handle;
        match handle {
            Some(h) => self.client.trickle(h, candidate).await,
            None => Err(ClientError::Unexpected("no subscriber connection yet")),
        }
    }

    /// Closes the leg (detaches the handle).
    pub async fn close(&self) {
        let mut state = self.state.lock().await;
        state.closed = true;
        if let Some(h) = state.handle.take() {
            self.client.detach(h).await;
        }
    }

    /// Sends what is pending, unless an offer is outstanding.
    async fn flush(self: &Arc<Self>, state: &mut State) {
        if state.offer_out || state.pending.is_empty() || state.closed {
            return;
        }
        let feeds: Vec<u64> = std::mem::take(&mut state.pending).into_iter().collect();
        let Err(e) = self.request(state, &feeds).await else {
            return;
        };
        tracing::debug!(error = %e, feeds = feeds.len(), "Janus subscription refused");
        // A feed that left meanwhile, mostly: the others are asked for one by one.
        if feeds.len() > 1 {
            for feed in feeds {
                if state.offer_out {
                    state.pending.insert(feed);
                } else {
                    let _ = self.request(state, &[feed]).await;
                }
            }
        }
    }

    /// Joins as a subscriber (first time) or adds streams to the subscription.
    async fn request(
        self: &Arc<Self>,
        state: &mut State,
        feeds: &[u64],
    ) -> Result<(), ClientError> {
        let streams: Vec<Value> = feeds.iter().map(|f| json!({"feed": f})).collect();
        let handle = match state.handle {
            Some(h) => h,
            None => {
                let (handle, events) = self.client.attach().await?;
                state.handle = Some(handle);
                tokio::spawn(self.clone().watch(events));
                handle
            }
        };
        let body = if state.joined {
            json!({"request": "subscribe", "streams": streams})
        } else {
            json!({"request": "join", "ptype": "subscriber", "room": self.room, "streams": streams})
        };
        let message = self.client.plugin_async(handle, body, None).await?;
        state.joined = true;
        state.subscribed.extend(feeds.iter().copied());
        self.offer_from(state, &message);
        Ok(())
    }

    /// Forwards the offer a reply or event carries, unless it is older than the last one
    /// (an unsolicited renegotiation that waited for the lock while our own request got a
    /// newer offer).
    fn offer_from(&self, state: &mut State, message: &Message) {
        if let Some(jsep) = &message.jsep {
            if jsep.kind == JsepKind::Offer {
                let version = session_version(&jsep.sdp);
                if version.is_some_and(|v| v <= state.last_version) {
                    return;
                }
                state.last_version = version.unwrap_or(state.last_version);
                state.offer_out = true;
                let _ = self
                    .signals
                    .send(SfuSignal::SubscriberOffer(jsep.sdp.clone()));
            }
        }
    }

    /// Janus's unsolicited renegotiations on this handle.
    async fn watch(self: Arc<Self>, mut events: UnboundedReceiver<Message>) {
        while let Some(message) = events.recv().await {
            if message.jsep.is_some() {
                let mut state = self.state.lock().await;
                self.offer_from(&mut state, &message);
            }
        }
    }
}

/// The session version of an SDP's `o=` line (RFC 4566: it grows with every new offer).
fn session_version(sdp: &str) -> Option<u64> {
    let origin = sdp.lines().find_map(|l| l.strip_prefix("o="))?;
    origin.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_session_version_is_read_from_the_origin_line() {
        let sdp = "v=0\r\no=- 1733 4 IN IP4 192.0.2.2\r\ns=VideoRoom\r\n";
        assert_eq!(super::session_version(sdp), Some(4));
        assert_eq!(super::session_version("v=0\r\n"), None);
        assert_eq!(super::session_version("v=0\r\no=- 1 x IN IP4 a\r\n"), None);
    }
}
