//! One Janus session over Janus's WebSocket API (`janus-protocol` subprotocol): requests
//! matched to replies by transaction, keep-alives, and the transaction-less events of each
//! handle (unsolicited subscriber offers, hang-ups) routed to that handle's channel.
//!
//! Every reply goes through [`super::wire::parse`] first; one that does not parse is logged
//! (its error names the field, not the value) and dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::wire::{self, Kind, Message, MAX_REPLY_BYTES, VIDEOROOM};

/// How long a request waits for its reply (Janus answers in milliseconds; a long wait means
/// the instance is overloaded or gone, and the participant is better placed elsewhere).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Keep-alive period: well inside Janus's default 60 s session timeout, and short enough
/// that an instance which stops answering (a frozen machine sends no TCP reset) is noticed
/// within [`KEEPALIVE`] + [`KEEPALIVE_TIMEOUT`].
pub const KEEPALIVE: Duration = Duration::from_secs(3);
/// A keep-alive not acknowledged within this: the instance is taken as lost.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(3);

/// Why talking to Janus failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the media server")]
    Connect,
    #[error("the media server connection closed")]
    Closed,
    #[error("the media server did not answer in time")]
    Timeout,
    #[error("the media server refused: {0}")]
    Refused(String),
    #[error("unexpected reply from the media server: {0}")]
    Unexpected(&'static str),
}

type Pending = HashMap<String, (bool, oneshot::Sender<Message>)>;

struct Shared {
    pending: Mutex<Pending>,
    handles: Mutex<HashMap<u64, mpsc::UnboundedSender<Message>>>,
    /// Closes the connection from our side (keep-alives unanswered).
    shutdown: tokio::sync::Notify,
}

/// A connected Janus session. Cheap to clone; the connection closes with the last clone's
/// drop or when Janus goes away ([`JanusClient::closed`]).
#[derive(Clone)]
pub struct JanusClient {
    out: mpsc::UnboundedSender<String>,
    shared: Arc<Shared>,
    session: u64,
    next: Arc<AtomicU64>,
    closed: watch::Receiver<bool>,
}

impl JanusClient {
    /// Connects to `url` (`ws://host:port`) and creates a session.
    pub async fn connect(url: &str) -> Result<Self, ClientError> {
        let mut request = url
            .into_client_request()
            .map_err(|_| ClientError::Connect)?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("janus-protocol"),
        );
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_REPLY_BYTES))
            .max_frame_size(Some(MAX_REPLY_BYTES));
        let connecting = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
        let (ws, _) = tokio::time::timeout(REQUEST_TIMEOUT, connecting)
            .await
            .map_err(|_| ClientError::Timeout)?
            .map_err(|_| ClientError::Connect)?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<String>();
        let shared = Arc::new(Shared {
            pending: Mutex::new(HashMap::new()),
            handles: Mutex::new(HashMap::new()),
            shutdown: tokio::sync::Notify::new(),
        });
        let (closed_tx, closed) = watch::channel(false);
        let reader_shared = shared.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    frame = stream.next() => {
                        let Some(Ok(frame)) = frame else { break };
                        if let WsMessage::Text(text) = frame {
                            route(&reader_shared, text.as_str());
                        }
                    }
                    _ = reader_shared.shutdown.notified() => break,
                    text = out_rx.recv() => {
                        let Some(text) = text else { break };
                        if sink.send(WsMessage::Text(text.into())).await.is_err() {
                            break;
                        }
                    }
                }
            }
            // Pending requests fail at once (their senders drop); handles learn it too.
            lock(&reader_shared.pending).clear();
            lock(&reader_shared.handles).clear();
            let _ = closed_tx.send(true);
        });
        let mut client = Self {
            out,
            shared,
            session: 0,
            next: Arc::new(AtomicU64::new(1)),
            closed,
        };
        let created = client.request(json!({"janus": "create"}), false).await?;
        client.session = created
            .id
            .ok_or(ClientError::Unexpected("create without a session id"))?;
        let keepalive = client.clone_weak_keepalive();
        tokio::spawn(keepalive);
        Ok(client)
    }

    /// Sends keep-alives and waits for their acknowledgement; closes the connection when
    /// one goes unanswered. Holds no strong sender, so it never keeps the connection open.
    fn clone_weak_keepalive(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let out = self.out.downgrade();
        let (shared, session, next) = (self.shared.clone(), self.session, self.next.clone());
        let mut closed = self.closed.clone();
        async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(KEEPALIVE) => {}
                    _ = closed.wait_for(|c| *c) => return,
                }
                let Some(out) = out.upgrade() else { return };
                let client = JanusClient {
                    out,
                    shared: shared.clone(),
                    session,
                    next: next.clone(),
                    closed: closed.clone(),
                };
                let body = json!({"janus": "keepalive", "session_id": session});
                let acked = client.request_within(body, false, KEEPALIVE_TIMEOUT).await;
                if matches!(acked, Err(ClientError::Timeout)) {
                    tracing::warn!("Janus stopped answering keep-alives: closing its connection");
                    shared.shutdown.notify_one();
                    return;
                }
            }
        }
    }

    /// This connection's Janus session id (the Admin API lists its handles).
    pub fn session_id(&self) -> u64 {
        self.session
    }

    /// Resolves when the connection to Janus is gone.
    pub async fn closed(&self) {
        let mut closed = self.closed.clone();
        let _ = closed.wait_for(|c| *c).await;
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Attaches a VideoRoom handle; its transaction-less events arrive on the receiver.
    pub async fn attach(&self) -> Result<(u64, mpsc::UnboundedReceiver<Message>), ClientError> {
        let body = json!({"janus": "attach", "session_id": self.session, "plugin": VIDEOROOM});
        let reply = self.request(body, false).await?;
        let handle = reply
            .id
            .ok_or(ClientError::Unexpected("attach without a handle id"))?;
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.shared.handles).insert(handle, tx);
        Ok((handle, rx))
    }

    /// Detaches a handle (its PeerConnection closes). Errors are moot: the handle is gone.
    pub async fn detach(&self, handle: u64) {
        lock(&self.shared.handles).remove(&handle);
        let body = json!({"janus": "detach", "session_id": self.session, "handle_id": handle});
        let _ = self.request(body, false).await;
    }

    /// A synchronous plugin request (`create`, `add_remote_publisher`, ...): its data.
    pub async fn plugin_sync(
        &self,
        handle: u64,
        body: Value,
    ) -> Result<wire::VideoRoomData, ClientError> {
        let reply = self.message(handle, body, None, false).await?;
        reply
            .videoroom
            .ok_or(ClientError::Unexpected("no VideoRoom data in the reply"))
    }

    /// An asynchronous plugin request (`join`, `publish`, `start`, ...): the event it caused.
    pub async fn plugin_async(
        &self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> Result<Message, ClientError> {
        self.message(handle, body, jsep, true).await
    }

    /// Trickles one candidate (`None`: end of candidates) to a handle.
    pub async fn trickle(&self, handle: u64, candidate: Option<Value>) -> Result<(), ClientError> {
        let candidate = candidate.unwrap_or_else(|| json!({"completed": true}));
        let body = json!({
            "janus": "trickle", "session_id": self.session, "handle_id": handle,
            "candidate": candidate,
        });
        self.request(body, false).await.map(|_| ())
    }

    async fn message(
        &self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
        wait_event: bool,
    ) -> Result<Message, ClientError> {
        let mut request = json!({
            "janus": "message", "session_id": self.session, "handle_id": handle, "body": body,
        });
        if let Some(jsep) = jsep {
            request["jsep"] = jsep;
        }
        let reply = self.request(request, wait_event).await?;
        match reply.error_text() {
            Some(text) => Err(ClientError::Refused(text)),
            None => Ok(reply),
        }
    }

    /// Sends `body` with a fresh transaction and waits for its reply (`wait_event`: the
    /// plugin's event after the `ack`).
    async fn request(&self, body: Value, wait_event: bool) -> Result<Message, ClientError> {
        self.request_within(body, wait_event, REQUEST_TIMEOUT).await
    }

    async fn request_within(
        &self,
        mut body: Value,
        wait_event: bool,
        within: Duration,
    ) -> Result<Message, ClientError> {
        if self.is_closed() {
            return Err(ClientError::Closed);
        }
        let transaction = format!("t{}", self.next.fetch_add(1, Ordering::Relaxed));
        body["transaction"] = Value::from(transaction.clone());
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.pending).insert(transaction.clone(), (wait_event, tx));
        if self.out.send(body.to_string()).is_err() {
            lock(&self.shared.pending).remove(&transaction);
            return Err(ClientError::Closed);
        }
        let reply = match tokio::time::timeout(within, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => return Err(ClientError::Closed),
            Err(_) => {
                lock(&self.shared.pending).remove(&transaction);
                return Err(ClientError::Timeout);
            }
        };
        if reply.kind == Kind::Error {
            return Err(ClientError::Refused(
                reply.error_text().unwrap_or_else(|| "Janus error".into()),
            ));
        }
        Ok(reply)
    }
}

/// Hands one message from Janus to whoever waits for it.
fn route(shared: &Shared, text: &str) {
    let message = match wire::parse(text) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "dropped a reply from Janus");
            return;
        }
    };
    if let Some(t) = &message.transaction {
        let mut pending = lock(&shared.pending);
        let waits_event = pending.get(t).map(|(w, _)| *w);
        match (waits_event, message.kind) {
            // An async request's ack: its event comes later.
            (Some(true), Kind::Ack) => return,
            (Some(_), _) => {
                if let Some((_, tx)) = pending.remove(t) {
                    let _ = tx.send(message);
                }
                return;
            }
            (None, _) => {}
        }
    }
    if let Some(sender) = message.sender {
        if let Some(tx) = lock(&shared.handles).get(&sender) {
            let _ = tx.send(message);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
