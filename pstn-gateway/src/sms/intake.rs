//! What happens to an inbound message once its origin is proven (a verified provider
//! signature, or a SIP MESSAGE from an allow-listed trunk): routing to the target of our
//! number, dropping duplicates, the per-sender flood limit, opt-out keywords, HELP, and
//! handing it to the application. Shared by the webhook server and the SIP MESSAGE path, so
//! both behave the same.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc;

use crate::number::Redacted;
use crate::sms::keywords::{self, Keyword};
use crate::sms::limits::PerMinute;
use crate::sms::webhook::ParsedInbound;
use crate::sms::{InboundSms, SmsConfig, SmsEvent, SmsStore};

/// HELP answers per sender per minute (each answer is a billed message).
const HELP_PER_MINUTE: usize = 1;

/// What became of an inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// Handed to the application as [`SmsEvent::Message`].
    Forwarded,
    /// STOP or START: the opt-out state changed and the application was told.
    OptChanged,
    /// HELP: answer the sender with this text (the caller knows how).
    Help(String),
    /// Dropped on purpose: a duplicate id, a number not ours, over the flood limit, or a
    /// HELP answered too recently. The sender's side must not retry.
    Dropped,
    /// Not taken now (application busy, store failed): the sender should retry later.
    Retry,
}

/// The shared inbound path.
pub struct Intake {
    config: Arc<SmsConfig>,
    store: Arc<SmsStore>,
    events: mpsc::Sender<SmsEvent>,
    inbound_limit: Mutex<PerMinute>,
    help_limit: Mutex<PerMinute>,
}

impl std::fmt::Debug for Intake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intake").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Intake {
    /// An intake handing events to `events`.
    pub fn new(
        config: Arc<SmsConfig>,
        store: Arc<SmsStore>,
        events: mpsc::Sender<SmsEvent>,
    ) -> Self {
        Intake {
            inbound_limit: Mutex::new(PerMinute::new(
                config.inbound_per_minute_per_number,
                "inbound",
            )),
            help_limit: Mutex::new(PerMinute::new(HELP_PER_MINUTE, "HELP reply")),
            config,
            store,
            events,
        }
    }

    /// The configuration it routes with.
    pub fn config(&self) -> &SmsConfig {
        &self.config
    }

    pub(crate) fn config_arc(&self) -> Arc<SmsConfig> {
        self.config.clone()
    }

    /// The store it records in.
    pub fn store(&self) -> &SmsStore {
        &self.store
    }

    /// The channel events go to (delivery reports use it too).
    pub fn events(&self) -> &mpsc::Sender<SmsEvent> {
        &self.events
    }

    /// Takes a message whose origin has been verified.
    pub fn take(&self, m: ParsedInbound) -> Taken {
        let Some(target) = self.config.numbers.get(&m.to) else {
            tracing::warn!(to = %Redacted(m.to.as_str()), "sms: message to a number not in [sms.numbers] dropped");
            return Taken::Dropped;
        };
        match self.store.first_delivery(&m.provider_message_id) {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(id = %m.provider_message_id, "sms: duplicate delivery dropped");
                return Taken::Dropped;
            }
            Err(e) => {
                tracing::error!(error = %e, "sms: store failed");
                return Taken::Retry;
            }
        }
        if !lock(&self.inbound_limit).allow(&m.from, Instant::now()) {
            return Taken::Dropped;
        }
        let (event, taken) = match keywords::classify(&m.text) {
            Some(Keyword::Help) => {
                return if lock(&self.help_limit).allow(&m.from, Instant::now()) {
                    Taken::Help(self.config.help_text.clone())
                } else {
                    Taken::Dropped
                };
            }
            Some(word) => {
                let out = word == Keyword::OptOut;
                if let Err(e) = self.store.set_opted_out(&m.from, out) {
                    tracing::error!(error = %e, "sms: store failed");
                    let _ = self.store.forget_delivery(&m.provider_message_id);
                    return Taken::Retry;
                }
                tracing::info!(from = %Redacted(m.from.as_str()), opted_out = out, "sms: opt-out state changed");
                let (number, to) = (m.from.clone(), m.to.clone());
                let event = if out {
                    SmsEvent::OptedOut { number, to }
                } else {
                    SmsEvent::OptedIn { number, to }
                };
                (event, Taken::OptChanged)
            }
            None => (
                SmsEvent::Message(InboundSms {
                    from: m.from.clone(),
                    to: m.to.clone(),
                    target: target.clone(),
                    text: m.text.clone(),
                    provider_message_id: m.provider_message_id.clone(),
                    segments: m.segments,
                }),
                Taken::Forwarded,
            ),
        };
        if self.events.try_send(event).is_err() {
            // Not taken: forget the id so the retry is accepted.
            let _ = self.store.forget_delivery(&m.provider_message_id);
            tracing::warn!("sms: application not keeping up, sender asked to retry");
            return Taken::Retry;
        }
        tracing::info!(
            from = %Redacted(m.from.as_str()),
            to = %Redacted(m.to.as_str()),
            segments = m.segments,
            "sms: inbound message accepted"
        );
        taken
    }
}
