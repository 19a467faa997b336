//! Audio: devices, Opus, playout buffer, tone detection.
//!
//! Everything runs at 48 kHz mono in 20 ms frames ([`SAMPLE_RATE`], [`FRAME_SAMPLES`]):
//! a microphone or synthetic [`AudioSource`] feeds an [`OpusEncoder`]; received packets
//! go through a [`PlayoutBuffer`] and an [`OpusDecoder`] to an [`AudioSink`]. The
//! microphone's [`AudioChain`] cancels the speaker's echo, suppresses noise and evens the
//! level before encoding.
//! [`ToneCheck`] and [`BurstDetector`] check what came out (frequency, latency).

mod clip;
mod cpal_driver;
mod dtmf;
mod frame;
mod goertzel;
mod opus;
mod playout;
mod processing;
mod resample;
mod source;
mod tone;

pub use self::opus::{
    codec_error as opus_codec_error, OpusDecoder, OpusEncoder, DEFAULT_BITRATE, MAX_BITRATE,
    MAX_PACKET_BYTES, MIN_BITRATE,
};
pub use clip::ClipSource;
pub use cpal_driver::{
    list_input_devices, list_output_devices, CpalMicrophone, CpalSpeaker, MICROPHONE_TIMEOUT,
};
pub use dtmf::{dtmf_frequencies, dtmf_tone, DtmfDetector, DTMF_KEYS, GAP_MS, TONE_MS};
pub use frame::{
    duration_to_samples, samples_to_duration, AudioError, AudioFrame, FRAME_DURATION,
    FRAME_SAMPLES, SAMPLE_RATE,
};
pub use goertzel::{
    goertzel_power, BurstDetector, MixReport, ToneCheck, ToneReport, BURST_OFF_POWER,
    BURST_ON_POWER, BURST_WINDOW,
};
pub use playout::{
    is_dtx_frame, Playout, PlayoutBuffer, PlayoutConfig, PlayoutStats, DTX_FRAME_MAX_BYTES,
};
pub use processing::{
    AudioChain, ProcessingConfig, ProcessingFault, Processor, ProcessorFactory, SonoraProcessor,
    MAX_FAULTS,
};
pub use source::{
    AudioSink, AudioSource, NullSink, Recording, RecordingSink, SilenceSource,
    DEFAULT_RECORDING_LIMIT,
};
pub use tone::{speech_like, BurstLog, ToneSource, BURST_AMPLITUDE};
