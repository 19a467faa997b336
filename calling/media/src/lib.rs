//! PhantomCall media: what sits between the hardware and the peer connection.
//!
//! - [`audio`]: the [`audio::AudioSource`] / [`audio::AudioSink`] traits with real (cpal)
//!   and synthetic drivers, Opus at 48 kHz, the playout buffer that absorbs jitter, and
//!   tone detection for tests and the demo.
//! - [`video`]: the [`video::VideoSource`] trait with real (nokhwa) and synthetic drivers,
//!   and the video codec. The encoder accepts only [`blackout::FilteredFrame`]: no raw
//!   camera frame can reach it.
#![warn(missing_docs)]

pub mod audio;
pub mod video;
