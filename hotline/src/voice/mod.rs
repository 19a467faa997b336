//! The voice hotline: callers call the hotline's npub and wait on a line that plays a
//! generated waiting tone; the queue core picks a dispatcher; a signed control message
//! hands the caller over, and the caller's own client calls the dispatcher's own client.
//!
//! Who signs what (docs/decisions.md, "Voice hotline"): every control message is a
//! sealed rumor (kind 25070) signed by its sender's key. The hotline's key signs the
//! hand-over ([`wire::Control::TransferTo`]) naming the dispatcher, so the caller's
//! client knows the dispatcher speaks for the hotline; dispatchers never hold the
//! hotline's key. The conversation is an ordinary PhantomCall call between the caller
//! and the dispatcher: its media keys exist on those two machines only.
//!
//! - [`VoiceService`]: the service (`phantomcall hotline serve`).
//! - [`DispatcherClient`]: a dispatcher's side (sign in, offers, answer, transfer, end).
//! - [`CallerAssist`]: a caller's side (position updates, following a hand-over).
//! - [`wire`]: the control messages; [`console_dto`]: the console snapshot among them.
//! - [`voicemail`]: overflow into voicemail, recorded on the line and sealed to the
//!   enrolled dispatchers only ([`voicemail_wire`]: its messages and framing).

mod caller;
pub mod console_dto;
mod console_view;
mod consoles;
mod dispatcher;
mod driver;
pub mod line;
mod service;
pub mod voicemail;
mod voicemail_fetch;
pub mod voicemail_record;
mod voicemail_service;
pub mod voicemail_wire;
pub mod wire;

pub use caller::{CallerAssist, CallerEvent, Redial};
pub use dispatcher::{DispatcherClient, DispatcherEvent, PresenceError};
pub use service::{VoiceError, VoiceEvent, VoiceService, VoiceSetup, DEFAULT_MAX_LINES};
pub use voicemail::{Voicemail, VoicemailError, VoicemailListing};
