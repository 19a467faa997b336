//! The plain types the SMS bridge hands to the application (and that the fuzz target
//! compiles alone): no I/O, no provider details beyond the provider's name.

use crate::number::E164;

/// The SMS provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Twilio Programmable Messaging.
    Twilio,
    /// Plivo Messaging.
    Plivo,
}

impl Provider {
    /// Reads the `provider` key of `[sms]` (`twilio` or `plivo`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "twilio" => Some(Provider::Twilio),
            "plivo" => Some(Provider::Plivo),
            _ => None,
        }
    }
}

/// An inbound message for the application (a hotline conversation or a user).
#[derive(Clone, PartialEq, Eq)]
pub struct InboundSms {
    /// The sender.
    pub from: E164,
    /// Our number it was sent to.
    pub to: E164,
    /// Where `to` routes (`[sms.numbers]`: `hotline:<name>`).
    pub target: String,
    /// The text, whole (the provider joins a concatenated message before posting it).
    pub text: String,
    /// The provider's message id (Twilio MessageSid, Plivo MessageUUID).
    pub provider_message_id: String,
    /// Parts the message arrived in.
    pub segments: usize,
}

/// `Debug` shows numbers redacted and the text's length only: an event logged by
/// accident leaks neither.
impl std::fmt::Debug for InboundSms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundSms")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("target", &self.target)
            .field("chars", &self.text.chars().count())
            .field("provider_message_id", &self.provider_message_id)
            .field("segments", &self.segments)
            .finish()
    }
}

/// Delivery state of a message we sent, as the provider reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Accepted by the provider, waiting to go out.
    Queued,
    /// Being handed to the carrier.
    Sending,
    /// Handed to the carrier.
    Sent,
    /// The handset received it (where the carrier reports it).
    Delivered,
    /// The carrier could not deliver it.
    Undelivered,
    /// The provider refused or could not send it.
    Failed,
}

impl DeliveryStatus {
    /// Order in which states follow each other; final states share the top rank.
    pub fn rank(self) -> u8 {
        match self {
            DeliveryStatus::Queued => 0,
            DeliveryStatus::Sending => 1,
            DeliveryStatus::Sent => 2,
            DeliveryStatus::Delivered | DeliveryStatus::Undelivered | DeliveryStatus::Failed => 3,
        }
    }

    /// Whether no further state follows.
    pub fn is_final(self) -> bool {
        self.rank() == 3
    }
}

/// A delivery report from the provider's status callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The provider's id of the message we sent.
    pub provider_message_id: String,
    /// Its new state.
    pub status: DeliveryStatus,
    /// The provider's error code, for undelivered and failed messages.
    pub error_code: Option<String>,
}

/// What the bridge tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsEvent {
    /// A message to route to its target.
    Message(InboundSms),
    /// `number` sent STOP (or a synonym) to our number `to`: it gets no more messages
    /// until it sends START. The conversation should be closed.
    OptedOut {
        /// The sender who opted out.
        number: E164,
        /// Our number it wrote to.
        to: E164,
    },
    /// `number` sent START/UNSTOP: messages may be sent to it again.
    OptedIn {
        /// The sender who opted in.
        number: E164,
        /// Our number it wrote to.
        to: E164,
    },
    /// A delivery state changed.
    Delivery(DeliveryReport),
}
