//! The SMS bridge in the gateway service: the provider's webhook (and SIP MESSAGE from
//! the trunks) in, the hotline's inbox over control messages, its replies out as SMS.
//!
//! An SMS to a number routed to `hotline:<name>` goes to that hotline as `sms-in`, the
//! sender named by a token only this gateway can open ([`SenderTokens`]); the hotline's
//! `sms-out` naming such a token is sent from the number the phone wrote to, and only
//! when that number routes to the hotline answering. Numbers routed to a user's npub are
//! not bridged yet (dropped with a log line). The text is never logged.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use hotline::voice::wire::Control;
use nostr_signal::{NostrTransport, PublicKey};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::ServiceError;
use crate::gateway::Gateway;
use crate::number::{Redacted, E164};
use crate::sms::{Intake, SenderTokens, SmsConfig, SmsEvent, SmsSender, SmsServer, SmsStore};

/// Webhook messages waiting for the bridge before the provider is answered 503.
const QUEUE: usize = 256;

/// The running SMS bridge.
pub(super) struct SmsBridge {
    server: SmsServer,
    tasks: Vec<JoinHandle<()>>,
}

/// What both directions need.
struct Bridge {
    transport: Arc<NostrTransport>,
    tokens: SenderTokens,
    sender: SmsSender,
    /// Our number -> the hotline it routes to.
    hotline_of: HashMap<String, PublicKey>,
}

impl SmsBridge {
    /// Checks `[sms.numbers]` against `[service.hotlines]`, opens the state store, binds
    /// the webhook and starts both directions.
    pub(super) async fn start(
        config: SmsConfig,
        hotlines: &HashMap<String, PublicKey>,
        gateway: &Gateway,
        transport: Arc<NostrTransport>,
    ) -> Result<Self, ServiceError> {
        let bad = |field: String, reason: String| ServiceError::Config { field, reason };
        let mut hotline_of = HashMap::new();
        for (number, target) in &config.numbers {
            if let Some(name) = target.strip_prefix("hotline:") {
                let key = hotlines.get(name).ok_or_else(|| {
                    bad(
                        format!("sms.numbers.{}", number.as_str()),
                        "no such hotline in [service.hotlines]".into(),
                    )
                })?;
                hotline_of.insert(number.as_str().to_owned(), *key);
            }
        }
        let store = Arc::new(
            SmsStore::open(&config.state_db)
                .map_err(|e| bad("sms.state_db".into(), e.to_string()))?,
        );
        let config = Arc::new(config);
        let (events_tx, events) = mpsc::channel(QUEUE);
        let intake = Arc::new(Intake::new(config.clone(), store.clone(), events_tx));
        let server = SmsServer::start(intake.clone())
            .await
            .map_err(|e| bad("sms.listen".into(), e.to_string()))?;
        gateway.set_sms_intake(intake);
        let bridge = Arc::new(Bridge {
            tokens: SenderTokens::new(
                store.derived_key("sender-token-seal"),
                store.derived_key("sender-token-nonce"),
            ),
            sender: SmsSender::new(config, store),
            transport,
            hotline_of,
        });
        Ok(Self {
            server,
            tasks: vec![
                tokio::spawn(inbound(bridge.clone(), events)),
                tokio::spawn(outbound(bridge)),
            ],
        })
    }

    /// Where the webhook listens.
    pub(super) fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Stops both directions and the webhook.
    pub(super) fn shutdown(&self) {
        self.server.shutdown();
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Provider and trunk messages to their hotline.
async fn inbound(bridge: Arc<Bridge>, mut events: mpsc::Receiver<SmsEvent>) {
    while let Some(event) = events.recv().await {
        match event {
            SmsEvent::Message(message) => {
                bridge
                    .to_hotline(&message.to, &message.from, message.text)
                    .await;
            }
            SmsEvent::Delivery(report) => {
                tracing::debug!(status = ?report.status, "sms: delivery report");
            }
            // The gateway refuses sends to a number that opted out; the conversation
            // shows the word, so the dispatcher knows why a reply goes nowhere.
            SmsEvent::OptedOut { number, to } => {
                bridge.to_hotline(&to, &number, "STOP".into()).await;
            }
            SmsEvent::OptedIn { number, to } => {
                bridge.to_hotline(&to, &number, "START".into()).await;
            }
        }
    }
}

impl Bridge {
    /// `text` from the phone `from` to our number `to`, to the hotline `to` routes to.
    async fn to_hotline(&self, to: &E164, from: &E164, text: String) {
        let Some(hotline) = self.hotline_of.get(to.as_str()) else {
            tracing::warn!(to = ?to, "sms: number not routed to a hotline; message dropped");
            return;
        };
        let control = Control::SmsIn {
            sender: self.tokens.seal(to, from),
            text,
        };
        match self
            .transport
            .hub()
            .send_control(*hotline, &control.to_json())
            .await
        {
            Ok(_) => tracing::info!(from = ?from, "sms: message passed to the hotline"),
            Err(e) => tracing::warn!(error = %e, "sms: message not passed to the hotline"),
        }
    }

    /// A hotline's `sms-out`, checked, sent as an SMS.
    async fn reply_of(&self, hotline: PublicKey, content: &str) {
        let (token, text) = match Control::parse(content) {
            Ok(Control::SmsOut { sender, text }) => (sender, text),
            // Hand-overs and positions are the call side's.
            Ok(_) => return,
            Err(e) => {
                tracing::info!(error = %e, "sms: hotline message dropped");
                return;
            }
        };
        let Some((ours, phone)) = self.tokens.open(&token) else {
            tracing::warn!("sms: reply for a sender this gateway did not name; dropped");
            return;
        };
        // A hotline answers through its own number only.
        if self.hotline_of.get(ours.as_str()) != Some(&hotline) {
            tracing::warn!("sms: reply from a hotline the number does not route to; dropped");
            return;
        }
        match self.sender.send(&ours, &phone, &text).await {
            Ok(sent) => {
                tracing::info!(to = %Redacted(phone.as_str()), segments = sent.segments, "sms: reply sent")
            }
            Err(e) => {
                tracing::warn!(error = %e, to = %Redacted(phone.as_str()), "sms: reply not sent")
            }
        }
    }
}

/// The hotlines' replies, as SMS.
async fn outbound(bridge: Arc<Bridge>) {
    let mut controls = bridge.transport.hub().incoming_controls();
    let hotlines: std::collections::HashSet<PublicKey> =
        bridge.hotline_of.values().copied().collect();
    while let Some(control) = controls.recv().await {
        if hotlines.contains(&control.sender) {
            bridge.reply_of(control.sender, &control.content).await;
        }
    }
}
