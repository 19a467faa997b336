//! PhantomCall media: what sits between the hardware and the peer connection.
//!
//! - [`audio`]: the [`audio::AudioSource`] / [`audio::AudioSink`] traits with real (cpal)
//!   and synthetic drivers, Opus at 48 kHz, the playout buffer that absorbs jitter, and
//!   tone detection for tests and the demo.
//! - [`video`]: the [`video::VideoSource`] trait with real (nokhwa) and synthetic drivers,
//!   and the video codec. The encoder accepts only [`blackout::FilteredFrame`]: no raw
//!   camera frame can reach it.
//!
//! Main types: [`audio::AudioSource`], [`audio::AudioSink`], [`audio::OpusEncoder`],
//! [`audio::OpusDecoder`], [`audio::PlayoutBuffer`]; [`video::VideoSource`],
//! [`video::ScreenSource`], [`video::VideoEncoder`], [`video::VideoDecoder`].
//!
//! What it must never do: encode a raw camera frame. [`video::VideoEncoder::encode`] takes
//! only a filtered frame, and its one other input, [`video::ScreenFrame`] (for
//! [`video::VideoEncoder::encode_screen`]), can be made only by this crate's screen
//! sources, never from a camera frame. It opens no network connection: encoded packets go
//! back to the caller.
#![warn(missing_docs)]

pub mod audio;
pub mod video;
