//! RTP for the phone leg: the codec state (G.711, Opus), packets, the receive jitter
//! buffer and its playout clock, RFC 4733 DTMF, and SRTP with SDES keys when the trunk is
//! configured for it.

pub(crate) mod codec;
pub mod dtmf;
pub mod jitter;
pub mod packet;
pub mod playout;
pub mod sdes;
pub mod session;
pub mod srtp;

pub use session::{PhoneFrame, FRAME_SAMPLES, FRAME_TIME};
