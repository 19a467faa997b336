//! The bridge between a phone leg and a PhantomCall call: the gateway runs an ordinary
//! call engine whose devices are phone lines ([`PhoneDevices`]), so the Nostr side of
//! every bridged call is a normal, end-to-end encrypted call between the app and the
//! gateway; only the phone leg beyond the gateway is not.

pub mod devices;
pub mod resample;

pub use devices::{PhoneAudio, PhoneDevices, PHONE_FRAME, PHONE_RATE};
