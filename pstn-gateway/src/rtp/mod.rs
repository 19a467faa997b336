//! RTP for the phone leg: packets, the receive jitter buffer and RFC 4733 DTMF.

pub mod dtmf;
pub mod jitter;
pub mod packet;
pub mod session;

pub use session::{PhoneFrame, FRAME_SAMPLES, FRAME_TIME};
