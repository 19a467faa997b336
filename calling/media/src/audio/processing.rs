//! The microphone's processing chain: echo cancellation against what the speaker played,
//! noise suppression, automatic gain control and a high-pass filter (WebRTC's audio
//! processing module, ported to Rust by `sonora`).
//!
//! A processing fault never silences the call: the frame goes out as captured, the
//! processor is rebuilt, and the fault is reported; after [`MAX_FAULTS`] the chain stays
//! off for the rest of the call ([`AudioChain::capture`]).

use std::panic::{catch_unwind, AssertUnwindSafe};

use sonora::config::{EchoCanceller, GainController2, HighPassFilter, NoiseSuppression};
use sonora::{AudioProcessing, Config, StreamConfig};

use super::{FRAME_SAMPLES, SAMPLE_RATE};

/// Samples in the processor's 10 ms frame (a 20 ms frame is two of them).
const HALF_FRAME: usize = FRAME_SAMPLES / 2;

/// Faults after which the chain gives up for the call (a processor that keeps failing
/// would otherwise be rebuilt every frame).
pub const MAX_FAULTS: u32 = 3;

/// Which parts of the chain run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessingConfig {
    /// Echo cancellation (AEC3), against the speaker's output.
    pub echo_cancellation: bool,
    /// Noise suppression.
    pub noise_suppression: bool,
    /// Automatic gain control (AGC2, with its limiter).
    pub gain_control: bool,
    /// High-pass filter (removes rumble and DC).
    pub high_pass: bool,
    /// Time from a frame's hand-over to the speaker until its echo's capture, in ms: a
    /// hint; the echo canceller estimates the delay itself.
    pub stream_delay_ms: i32,
}

impl Default for ProcessingConfig {
    /// Everything on, as Signal and Jitsi do.
    fn default() -> Self {
        Self {
            echo_cancellation: true,
            noise_suppression: true,
            gain_control: true,
            high_pass: true,
            stream_delay_ms: 0,
        }
    }
}

/// What a processor failed with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProcessingFault(pub String);

/// One audio processor: 10 ms mono frames at 48 kHz.
pub trait Processor: Send {
    /// Takes one 10 ms frame the speaker played.
    fn render(&mut self, played: &[i16]) -> Result<(), ProcessingFault>;
    /// Processes one 10 ms microphone frame into `out`.
    fn capture(&mut self, captured: &[i16], out: &mut [i16]) -> Result<(), ProcessingFault>;
}

/// Makes processors: one at the start, a fresh one after each fault.
pub type ProcessorFactory = Box<dyn Fn() -> Box<dyn Processor> + Send>;

/// The real processor: sonora's audio processing module.
pub struct SonoraProcessor {
    apm: AudioProcessing,
}

impl SonoraProcessor {
    /// A processor with the parts `config` asks for.
    pub fn new(config: &ProcessingConfig) -> Self {
        let sonora_config = Config {
            echo_canceller: config.echo_cancellation.then(EchoCanceller::default),
            noise_suppression: config.noise_suppression.then(NoiseSuppression::default),
            gain_controller2: config.gain_control.then(GainController2::default),
            high_pass_filter: config.high_pass.then(HighPassFilter::default),
            ..Default::default()
        };
        let stream = StreamConfig::new(SAMPLE_RATE, 1);
        let mut apm = AudioProcessing::builder()
            .config(sonora_config)
            .capture_config(stream)
            .render_config(stream)
            .build();
        // Clamping is the only error; the clamped value is used.
        let _ = apm.set_stream_delay_ms(config.stream_delay_ms);
        Self { apm }
    }

    /// A factory of processors with `config`.
    pub fn factory(config: ProcessingConfig) -> ProcessorFactory {
        Box::new(move || Box::new(SonoraProcessor::new(&config)))
    }
}

impl Processor for SonoraProcessor {
    fn render(&mut self, played: &[i16]) -> Result<(), ProcessingFault> {
        let mut unused = [0i16; HALF_FRAME];
        self.apm
            .process_render_i16(played, &mut unused)
            .map_err(|e| ProcessingFault(format!("{e:?}")))
    }

    fn capture(&mut self, captured: &[i16], out: &mut [i16]) -> Result<(), ProcessingFault> {
        let delay = self.apm.stream_delay_ms();
        // The module wants the delay before every capture frame.
        let _ = self.apm.set_stream_delay_ms(delay);
        self.apm
            .process_capture_i16(captured, out)
            .map_err(|e| ProcessingFault(format!("{e:?}")))
    }
}

/// The chain of one call: a processor, rebuilt after a fault, given up after
/// [`MAX_FAULTS`].
pub struct AudioChain {
    factory: ProcessorFactory,
    processor: Option<Box<dyn Processor>>,
    faults: u32,
    out: Vec<i16>,
}

impl AudioChain {
    /// A chain whose processors come from `factory`.
    pub fn new(factory: ProcessorFactory) -> Self {
        let mut chain = Self {
            factory,
            processor: None,
            faults: 0,
            out: vec![0; FRAME_SAMPLES],
        };
        chain.processor = chain.build().ok();
        if chain.processor.is_none() {
            chain.faults = MAX_FAULTS;
        }
        chain
    }

    /// A chain of sonora processors with `config`.
    pub fn sonora(config: ProcessingConfig) -> Self {
        Self::new(SonoraProcessor::factory(config))
    }

    /// Whether processing still runs (it stops after [`MAX_FAULTS`] faults).
    pub fn is_running(&self) -> bool {
        self.processor.is_some()
    }

    /// Takes one 20 ms frame the speaker played (the echo canceller's reference). A fault
    /// here is reported by the next [`AudioChain::capture`].
    pub fn far_end(&mut self, played: &[i16]) -> Result<(), ProcessingFault> {
        let Some(processor) = self.processor.as_mut() else {
            return Ok(());
        };
        let result = catch_unwind(AssertUnwindSafe(|| {
            played
                .chunks_exact(HALF_FRAME)
                .try_for_each(|half| processor.render(half))
        }));
        self.settle(result)
    }

    /// Processes one 20 ms microphone frame in place. On a fault the frame stays exactly as
    /// captured (never silence) and the fault is returned; the processor is rebuilt, or
    /// after [`MAX_FAULTS`] the chain stops and every later frame passes unprocessed.
    pub fn capture(&mut self, frame: &mut [i16]) -> Result<(), ProcessingFault> {
        let Some(processor) = self.processor.as_mut() else {
            return Ok(());
        };
        if frame.len() != FRAME_SAMPLES {
            return Err(ProcessingFault(format!(
                "a frame of {} samples, not {FRAME_SAMPLES}",
                frame.len()
            )));
        }
        let out = &mut self.out;
        let result = catch_unwind(AssertUnwindSafe(|| {
            frame
                .chunks_exact(HALF_FRAME)
                .zip(out.chunks_exact_mut(HALF_FRAME))
                .try_for_each(|(half, out)| processor.capture(half, out))
        }));
        let settled = self.settle(result);
        if settled.is_ok() && self.processor.is_some() {
            frame.copy_from_slice(&self.out);
        }
        settled
    }

    /// Turns a processing result (or a caught panic) into the chain's state.
    fn settle(
        &mut self,
        result: std::thread::Result<Result<(), ProcessingFault>>,
    ) -> Result<(), ProcessingFault> {
        let fault = match result {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(fault)) => fault,
            Err(panic) => ProcessingFault(panic_text(&panic)),
        };
        self.faults += 1;
        self.processor = None;
        if self.faults < MAX_FAULTS {
            self.processor = self.build().ok();
        }
        Err(fault)
    }

    fn build(&self) -> Result<Box<dyn Processor>, ProcessingFault> {
        catch_unwind(AssertUnwindSafe(|| (self.factory)()))
            .map_err(|panic| ProcessingFault(panic_text(&panic)))
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown".into());
    format!("processor panicked: {what}")
}

#[cfg(test)]
#[path = "processing_tests.rs"]
mod tests;
