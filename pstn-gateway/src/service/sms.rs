//! The SMS bridge in the gateway service: the provider's webhook (and SIP MESSAGE from
//! the trunks) in, the hotline's inbox over control messages, its replies out as SMS.
//!
//! An SMS to a number routed to `hotline:<name>` goes to that hotline as `sms-in`, the
//! sender named by a token only this gateway can open ([`SenderTokens`]); the hotline's
//! `sms-out` naming such a token is sent from the number the phone wrote to, and only
//! when that number routes to the hotline answering. Only hotlines take SMS (the
//! configuration refuses any other target). The text is never logged.
//!
//! A reply that does not reach the phone is reported back as `sms-failed` on the same
//! token, so the dispatcher sees "SMS not delivered: <reason>" in the conversation: when
//! the provider refuses it or stays unavailable through the retries, and when a signed
//! delivery report says failed or undelivered. Which reply a report is about is known
//! from memory only ([`Awaiting`]): the state file never links a message to a phone.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use hotline::voice::wire::Control;
use nostr_signal::{NostrTransport, PublicKey};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::ServiceError;
use crate::gateway::Gateway;
use crate::number::{Redacted, E164};
use crate::sms::{
    DeliveryReport, DeliveryStatus, Intake, SenderTokens, SmsConfig, SmsEvent, SmsSender,
    SmsServer, SmsStore,
};

/// Webhook messages waiting for the bridge before the provider is answered 503.
const QUEUE: usize = 256;

/// The running SMS bridge.
pub(super) struct SmsBridge {
    server: SmsServer,
    tasks: Vec<JoinHandle<()>>,
}

/// Replies waiting for a final delivery report, at most this many (the oldest go first).
const MAX_AWAITING: usize = 4096;

/// Sent replies by provider message id -> (the hotline, the phone's token), in memory
/// only: the SMS store holds no link from a message to a phone. Bounded; a report for a
/// forgotten message (after a restart, or past the bound) is only logged.
#[derive(Default)]
struct Awaiting {
    by_id: HashMap<String, (PublicKey, String)>,
    order: VecDeque<String>,
}

impl Awaiting {
    fn insert(&mut self, id: String, hotline: PublicKey, token: String) {
        while self.order.len() >= MAX_AWAITING {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
        if self.by_id.insert(id.clone(), (hotline, token)).is_none() {
            self.order.push_back(id);
        }
    }

    fn remove(&mut self, id: &str) -> Option<(PublicKey, String)> {
        let found = self.by_id.remove(id)?;
        self.order.retain(|o| o != id);
        Some(found)
    }
}

/// Longest reason sent back (the hotline's wire limit).
const MAX_REASON_CHARS: usize = 200;

/// What both directions need.
struct Bridge {
    transport: Arc<NostrTransport>,
    tokens: SenderTokens,
    sender: SmsSender,
    /// Our number -> the hotline it routes to.
    hotline_of: HashMap<String, PublicKey>,
    awaiting: Mutex<Awaiting>,
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
            awaiting: Mutex::default(),
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
            SmsEvent::Delivery(report) => bridge.delivery(&report).await,
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
                tracing::info!(to = %Redacted(phone.as_str()), segments = sent.segments, "sms: reply sent");
                self.awaiting()
                    .insert(sent.provider_message_id, hotline, token);
            }
            Err(e) => {
                tracing::warn!(error = %e, to = %Redacted(phone.as_str()), "sms: reply not sent");
                // The error's words name no number (checked in the tests).
                let reason = e.to_string();
                let reason = reason.strip_prefix("sms: ").unwrap_or(&reason);
                self.report_failure(hotline, token, reason).await;
            }
        }
    }

    fn awaiting(&self) -> std::sync::MutexGuard<'_, Awaiting> {
        self.awaiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A provider's delivery report (signature already checked): a reply that failed
    /// or was undelivered goes back to its conversation; a final one is forgotten.
    async fn delivery(&self, report: &DeliveryReport) {
        tracing::debug!(status = ?report.status, "sms: delivery report");
        if !report.status.is_final() {
            return;
        }
        let Some((hotline, token)) = self.awaiting().remove(&report.provider_message_id) else {
            return;
        };
        let code = report
            .error_code
            .as_deref()
            .map(|c| format!(" (error {c})"))
            .unwrap_or_default();
        let reason = match report.status {
            DeliveryStatus::Undelivered => format!("the carrier could not deliver it{code}"),
            DeliveryStatus::Failed => format!("the provider could not send it{code}"),
            _ => return,
        };
        self.report_failure(hotline, token, &reason).await;
    }

    /// Tells the hotline that its reply to the phone behind `token` did not arrive.
    async fn report_failure(&self, hotline: PublicKey, token: String, reason: &str) {
        let control = Control::SmsFailed {
            sender: token,
            reason: reason.chars().take(MAX_REASON_CHARS).collect(),
        };
        if let Err(e) = self
            .transport
            .hub()
            .send_control(hotline, &control.to_json())
            .await
        {
            tracing::warn!(error = %e, "sms: failure not passed to the hotline");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn awaiting_replies_are_bounded_and_each_is_reported_once() {
        let hotline = nostr_signal::Identity::generate().public_key();
        let mut awaiting = Awaiting::default();
        for n in 0..MAX_AWAITING + 10 {
            awaiting.insert(format!("SM{n}"), hotline, format!("{n:x}"));
        }
        assert_eq!(awaiting.by_id.len(), MAX_AWAITING);
        assert_eq!(awaiting.order.len(), MAX_AWAITING);
        assert!(awaiting.remove("SM0").is_none(), "the oldest went first");
        let last = format!("SM{}", MAX_AWAITING + 9);
        assert_eq!(
            awaiting.remove(&last),
            Some((hotline, format!("{:x}", MAX_AWAITING + 9)))
        );
        assert!(
            awaiting.remove(&last).is_none(),
            "a second report finds nothing"
        );
    }
}
