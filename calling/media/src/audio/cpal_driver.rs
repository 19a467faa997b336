//! Real microphone and speakers through cpal (ALSA on Linux).
//!
//! Devices are opened at 48 kHz when they offer it, in whatever sample format and channel
//! count they have; otherwise at their default rate, converted with
//! [`super::resample::LinearResampler`]. The cpal callback threads only convert and queue:
//! the caller's thread does the blocking.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, Sample, SampleFormat, SizedSample, StreamConfig, SupportedStreamConfig};

use super::frame::{
    samples_to_duration, AudioError, AudioFrame, FRAME_DURATION, FRAME_SAMPLES, SAMPLE_RATE,
};
use super::resample::{downmix, f32_to_i16, i16_to_f32, LinearResampler};
use super::source::{AudioSink, AudioSource};

const MICROPHONE: &str = "microphone";
const SPEAKER: &str = "speaker";

/// How long [`CpalMicrophone::read_frame`] waits for audio before giving up, so a dead
/// device is an error and never a hang.
pub const MICROPHONE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the audio system may take to start a stream.
const STREAM_START_TIMEOUT: Duration = Duration::from_secs(5);
/// Captured audio kept when the reader falls behind; older audio is dropped.
const CAPTURE_QUEUE_LIMIT: usize = SAMPLE_RATE as usize; // 1 s
/// Audio queued for the speaker at most; a writer ahead of the card loses its oldest audio
/// rather than building up latency.
const PLAYBACK_QUEUE_LIMIT: Duration = Duration::from_millis(200);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The queues hold plain samples: a panic elsewhere leaves them usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn device_error(kind: &'static str) -> impl Fn(cpal::Error) -> AudioError {
    move |e| AudioError::Device {
        kind,
        message: e.to_string(),
    }
}

fn name_of(device: &cpal::Device) -> Option<String> {
    // Not `to_string()`: cpal's Display fails (and `to_string` would panic) when the
    // description cannot be read.
    device.description().ok().map(|d| d.name().to_string())
}

fn device_id(device: &cpal::Device) -> Option<String> {
    device.id().ok().map(|id| id.id().to_string())
}

/// Names of the capture devices, for [`CpalMicrophone::open`].
pub fn list_input_devices() -> Result<Vec<String>, AudioError> {
    let host = cpal::default_host();
    let devices = host.input_devices().map_err(device_error("audio host"))?;
    Ok(devices.filter_map(|d| name_of(&d)).collect())
}

/// Names of the playback devices, for [`CpalSpeaker::open`].
pub fn list_output_devices() -> Result<Vec<String>, AudioError> {
    let host = cpal::default_host();
    let devices = host.output_devices().map_err(device_error("audio host"))?;
    Ok(devices.filter_map(|d| name_of(&d)).collect())
}

/// Which way a device is used, for the shared open logic.
#[derive(Clone, Copy)]
enum Direction {
    Input,
    Output,
}

impl Direction {
    fn kind(self) -> &'static str {
        match self {
            Direction::Input => MICROPHONE,
            Direction::Output => SPEAKER,
        }
    }
}

/// The device with `name` (its name or its id), or the default device.
fn find_device(direction: Direction, name: Option<&str>) -> Result<cpal::Device, AudioError> {
    let host = cpal::default_host();
    let kind = direction.kind();
    let Some(name) = name else {
        let default = match direction {
            Direction::Input => host.default_input_device(),
            Direction::Output => host.default_output_device(),
        };
        return default.ok_or_else(|| AudioError::NoDevice {
            kind,
            reason: format!("the {} host has no default device", host.id()),
        });
    };
    let devices = match direction {
        Direction::Input => host.input_devices(),
        Direction::Output => host.output_devices(),
    }
    .map_err(device_error("audio host"))?;
    let mut names = Vec::new();
    for device in devices {
        let dev_name = name_of(&device);
        if dev_name.as_deref() == Some(name) || device_id(&device).as_deref() == Some(name) {
            return Ok(device);
        }
        names.extend(dev_name);
    }
    Err(AudioError::DeviceNotFound {
        kind,
        name: name.to_string(),
        available: if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        },
    })
}

/// Formats this module converts.
fn usable(format: SampleFormat) -> bool {
    use SampleFormat::*;
    matches!(
        format,
        I8 | I16 | I32 | I64 | U8 | U16 | U32 | U64 | F32 | F64
    )
}

/// The stream configuration to open: 48 kHz with the fewest channels if the device offers
/// it (no resampling), else the device's default.
fn choose_config(
    device: &cpal::Device,
    direction: Direction,
    is_default: bool,
) -> Result<SupportedStreamConfig, AudioError> {
    let kind = direction.kind();
    let unusable = |e: cpal::Error| {
        if is_default {
            // The default device failing here is what "no sound card" looks like.
            AudioError::NoDevice {
                kind,
                reason: format!("the default device cannot be used: {e}"),
            }
        } else {
            device_error(kind)(e)
        }
    };
    let ranges: Vec<_> = match direction {
        Direction::Input => device
            .supported_input_configs()
            .map_err(unusable)?
            .collect(),
        Direction::Output => device
            .supported_output_configs()
            .map_err(unusable)?
            .collect(),
    };
    let at_48k = ranges
        .iter()
        .filter(|r| usable(r.sample_format()) && r.contains_rate(SAMPLE_RATE))
        .min_by_key(|r| (r.channels(), r.sample_format() != SampleFormat::F32));
    if let Some(range) = at_48k {
        return Ok((*range).with_sample_rate(SAMPLE_RATE));
    }
    let default = match direction {
        Direction::Input => device.default_input_config(),
        Direction::Output => device.default_output_config(),
    }
    .map_err(unusable)?;
    if usable(default.sample_format()) && default.channels() > 0 {
        return Ok(default);
    }
    let offered: Vec<String> = ranges
        .iter()
        .map(|r| format!("{} {}ch", r.sample_format(), r.channels()))
        .collect();
    Err(AudioError::UnsupportedFormat {
        kind,
        message: if offered.is_empty() {
            "no configuration at all".to_string()
        } else {
            offered.join(", ")
        },
    })
}

/// Calls `$build::<T>(args)` with `T` the Rust type of sample format `$format`.
macro_rules! with_sample_type {
    ($format:expr, $build:ident($($arg:expr),*)) => {
        match $format {
            SampleFormat::I8 => $build::<i8>($($arg),*),
            SampleFormat::I16 => $build::<i16>($($arg),*),
            SampleFormat::I32 => $build::<i32>($($arg),*),
            SampleFormat::I64 => $build::<i64>($($arg),*),
            SampleFormat::U8 => $build::<u8>($($arg),*),
            SampleFormat::U16 => $build::<u16>($($arg),*),
            SampleFormat::U32 => $build::<u32>($($arg),*),
            SampleFormat::U64 => $build::<u64>($($arg),*),
            SampleFormat::F32 => $build::<f32>($($arg),*),
            SampleFormat::F64 => $build::<f64>($($arg),*),
            other => Err(cpal::Error::with_message(
                cpal::ErrorKind::UnsupportedConfig,
                format!("sample format {other}"),
            )),
        }
    };
}

/// Captured 48 kHz mono audio waiting for [`CpalMicrophone::read_frame`].
#[derive(Debug, Default)]
struct CaptureQueue {
    samples: VecDeque<i16>,
    /// Capture instant of `samples[0]`.
    head_time: Option<Instant>,
    /// Capture instant of the last frame handed out.
    last_frame_at: Option<Instant>,
    /// A fatal stream error, reported by the next read.
    error: Option<String>,
}

#[derive(Debug, Default)]
struct Capture {
    queue: Mutex<CaptureQueue>,
    ready: Condvar,
}

impl Capture {
    /// Queues freshly captured samples; `captured_at` is the instant of the first one.
    fn push(&self, samples: &[i16], captured_at: Instant) {
        let mut q = lock(&self.queue);
        // Re-anchor the head on every callback, from the newest timing: the card's clock
        // and ours drift apart over a long call, so sample counting alone would not do.
        q.head_time = Some(
            captured_at
                .checked_sub(samples_to_duration(q.samples.len() as u64))
                .unwrap_or(captured_at),
        );
        q.samples.extend(samples);
        let excess = q.samples.len().saturating_sub(CAPTURE_QUEUE_LIMIT);
        if excess > 0 {
            q.samples.drain(..excess);
            q.head_time = q.head_time.map(|t| t + samples_to_duration(excess as u64));
        }
        drop(q);
        self.ready.notify_one();
    }

    fn fail(&self, message: String) {
        lock(&self.queue).error = Some(message);
        self.ready.notify_one();
    }

    /// Blocks until a whole frame is queued (or `timeout` passes).
    fn take_frame(&self, timeout: Duration) -> Result<AudioFrame, AudioError> {
        let deadline = Instant::now() + timeout;
        let mut q = lock(&self.queue);
        while q.samples.len() < FRAME_SAMPLES {
            if let Some(message) = &q.error {
                return Err(AudioError::Device {
                    kind: MICROPHONE,
                    message: message.clone(),
                });
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return Err(AudioError::Timeout {
                    kind: MICROPHONE,
                    waited: timeout,
                });
            };
            q = self
                .ready
                .wait_timeout(q, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let samples: Vec<i16> = q.samples.drain(..FRAME_SAMPLES).collect();
        let anchored = q.head_time.unwrap_or_else(Instant::now);
        // Callbacks that arrive in a burst (ALSA's null device, a stalled driver catching
        // up) re-anchor the head before a frame already handed out; these samples came
        // later, so count them on from that frame instead: time never goes back.
        let captured_at = match q.last_frame_at {
            Some(last) if anchored <= last => last + FRAME_DURATION,
            _ => anchored,
        };
        q.last_frame_at = Some(captured_at);
        q.head_time = Some(captured_at + FRAME_DURATION);
        Ok(AudioFrame {
            samples,
            captured_at,
        })
    }
}

/// Whether a stream error ends the stream (others, like an overrun, are glitches).
fn is_fatal(e: &cpal::Error) -> bool {
    matches!(
        e.kind(),
        cpal::ErrorKind::DeviceNotAvailable
            | cpal::ErrorKind::StreamInvalidated
            | cpal::ErrorKind::HostUnavailable
    )
}

/// A stream error callback: fatal errors go to `fatal`, glitches to the debug log.
fn on_stream_error(
    kind: &'static str,
    fatal: impl Fn(String) + Send + 'static,
) -> impl FnMut(cpal::Error) + Send + 'static {
    move |e| {
        if is_fatal(&e) {
            fatal(e.to_string());
        } else {
            tracing::debug!("{kind} stream: {e}");
        }
    }
}

/// A started stream and what describes it.
struct Opened {
    stream: cpal::Stream,
    config: SupportedStreamConfig,
    description: String,
}

/// Finds the device, chooses its configuration, builds the stream with `build` and
/// starts it.
fn open_stream(
    direction: Direction,
    device_name: Option<&str>,
    build: impl FnOnce(&cpal::Device, &SupportedStreamConfig) -> Result<cpal::Stream, cpal::Error>,
) -> Result<Opened, AudioError> {
    let kind = direction.kind();
    let device = find_device(direction, device_name)?;
    let config = choose_config(&device, direction, device_name.is_none())?;
    let stream = build(&device, &config).map_err(device_error(kind))?;
    stream.play().map_err(device_error(kind))?;
    let name = name_of(&device).unwrap_or_else(|| "unnamed".to_string());
    let description = format!(
        "{kind} {name:?} ({} Hz, {} ch, {})",
        config.sample_rate(),
        config.channels(),
        config.sample_format()
    );
    tracing::info!("opened {description}");
    Ok(Opened {
        stream,
        config,
        description,
    })
}

/// A running cpal stream: dropping it stops the device. cpal's stream has no Debug.
struct RunningStream {
    _stream: cpal::Stream,
}

impl std::fmt::Debug for RunningStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunningStream")
    }
}

/// A microphone, delivering 20 ms frames of 48 kHz mono.
#[derive(Debug)]
pub struct CpalMicrophone {
    _stream: RunningStream,
    capture: Arc<Capture>,
    description: String,
}

fn build_input<T>(
    device: &cpal::Device,
    config: StreamConfig,
    capture: Arc<Capture>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    let channels = usize::from(config.channels);
    let device_rate = config.sample_rate;
    let mut resampler = LinearResampler::new(device_rate, SAMPLE_RATE);
    // Buffers reused across callbacks: no allocation on the audio thread once warm.
    let (mut floats, mut mono, mut resampled, mut out) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let errors = capture.clone();
    device.build_input_stream(
        config,
        move |data: &[T], _: &cpal::InputCallbackInfo| {
            let now = Instant::now();
            floats.clear();
            floats.extend(data.iter().map(|&s| f32::from_sample(s)));
            mono.clear();
            downmix(&floats, channels, &mut mono);
            resampled.clear();
            resampler.process(&mono, &mut resampled);
            out.clear();
            out.extend(resampled.iter().map(|&x| f32_to_i16(x)));
            // The callback runs once the buffer is full: its first sample is one buffer
            // length old.
            let span = Duration::from_secs_f64(mono.len() as f64 / f64::from(device_rate));
            capture.push(&out, now.checked_sub(span).unwrap_or(now));
        },
        on_stream_error(MICROPHONE, move |message| errors.fail(message)),
        Some(STREAM_START_TIMEOUT),
    )
}

impl CpalMicrophone {
    /// Opens the microphone called `device_name` (a name from [`list_input_devices`]), or
    /// the default one, and starts capturing.
    ///
    /// Without a sound card this is an [`AudioError::NoDevice`] or [`AudioError::Device`].
    pub fn open(device_name: Option<&str>) -> Result<Self, AudioError> {
        let capture = Arc::new(Capture::default());
        let shared = capture.clone();
        let opened = open_stream(Direction::Input, device_name, |device, config| {
            with_sample_type!(
                config.sample_format(),
                build_input(device, config.config(), shared)
            )
        })?;
        Ok(CpalMicrophone {
            _stream: RunningStream {
                _stream: opened.stream,
            },
            capture,
            description: opened.description,
        })
    }
}

impl AudioSource for CpalMicrophone {
    /// Blocks until 20 ms have been captured; an error if the device stops or delivers
    /// nothing for [`MICROPHONE_TIMEOUT`].
    fn read_frame(&mut self) -> Result<AudioFrame, AudioError> {
        self.capture.take_frame(MICROPHONE_TIMEOUT)
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

/// Mono samples at the device rate, waiting for the speaker's callback.
#[derive(Debug, Default)]
struct PlaybackQueue {
    samples: VecDeque<f32>,
    limit: usize,
    dropped: u64,
    error: Option<String>,
}

/// A speaker, playing 48 kHz mono on every channel of the device.
///
/// [`AudioSink::write_frame`] never blocks: the playout thread keeps time, the card pulls
/// what is queued, plays silence when nothing is, and at most 200 ms are queued.
#[derive(Debug)]
pub struct CpalSpeaker {
    _stream: RunningStream,
    queue: Arc<Mutex<PlaybackQueue>>,
    resampler: LinearResampler,
    scratch: (Vec<f32>, Vec<f32>),
    description: String,
}

fn build_output<T>(
    device: &cpal::Device,
    config: StreamConfig,
    queue: Arc<Mutex<PlaybackQueue>>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32>,
{
    let channels = usize::from(config.channels).max(1);
    let errors = queue.clone();
    device.build_output_stream(
        config,
        move |data: &mut [T], _: &cpal::OutputCallbackInfo| {
            let mut q = lock(&queue);
            for frame in data.chunks_mut(channels) {
                let x = q.samples.pop_front().unwrap_or(0.0);
                frame.fill(T::from_sample(x));
            }
        },
        on_stream_error(SPEAKER, move |message| lock(&errors).error = Some(message)),
        Some(STREAM_START_TIMEOUT),
    )
}

impl CpalSpeaker {
    /// Opens the speaker called `device_name` (a name from [`list_output_devices`]), or
    /// the default one, and starts playing (silence until frames are written).
    ///
    /// Without a sound card this is an [`AudioError::NoDevice`] or [`AudioError::Device`].
    pub fn open(device_name: Option<&str>) -> Result<Self, AudioError> {
        let queue = Arc::new(Mutex::new(PlaybackQueue::default()));
        let shared = queue.clone();
        let opened = open_stream(Direction::Output, device_name, |device, config| {
            let rate = f64::from(config.sample_rate());
            lock(&shared).limit = (PLAYBACK_QUEUE_LIMIT.as_secs_f64() * rate) as usize;
            with_sample_type!(
                config.sample_format(),
                build_output(device, config.config(), shared)
            )
        })?;
        Ok(CpalSpeaker {
            _stream: RunningStream {
                _stream: opened.stream,
            },
            queue,
            resampler: LinearResampler::new(SAMPLE_RATE, opened.config.sample_rate()),
            scratch: (Vec::new(), Vec::new()),
            description: opened.description,
        })
    }

    /// Samples dropped so far because the writer was more than 200 ms ahead of the card.
    pub fn dropped_samples(&self) -> u64 {
        lock(&self.queue).dropped
    }
}

impl AudioSink for CpalSpeaker {
    fn write_frame(&mut self, samples: &[i16]) -> Result<(), AudioError> {
        let (floats, resampled) = &mut self.scratch;
        floats.clear();
        floats.extend(samples.iter().map(|&s| i16_to_f32(s)));
        resampled.clear();
        self.resampler.process(floats, resampled);
        let mut q = lock(&self.queue);
        if let Some(message) = &q.error {
            return Err(AudioError::Device {
                kind: SPEAKER,
                message: message.clone(),
            });
        }
        q.samples.extend(resampled.iter());
        let excess = q.samples.len().saturating_sub(q.limit);
        if excess > 0 {
            q.samples.drain(..excess);
            q.dropped += excess as u64;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        self.description.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_queue_frames_and_times_samples() {
        let capture = Capture::default();
        let t0 = Instant::now();
        capture.push(&[1; 600], t0);
        capture.push(&[2; 600], t0 + samples_to_duration(600));
        let frame = capture.take_frame(Duration::from_millis(10)).unwrap();
        assert_eq!(frame.samples.len(), FRAME_SAMPLES);
        assert_eq!(frame.samples[599..601], [1, 2]);
        assert_eq!(frame.captured_at, t0);
        // 240 samples left: not a frame; times out rather than hangs.
        match capture.take_frame(Duration::from_millis(10)) {
            Err(AudioError::Timeout { .. }) => {}
            other => panic!("{other:?}"),
        }
        capture.push(&[3; 720], t0 + samples_to_duration(1200));
        let frame = capture.take_frame(Duration::from_millis(10)).unwrap();
        assert_eq!(frame.captured_at, t0 + FRAME_DURATION);
        capture.fail("device unplugged".into());
        match capture.take_frame(Duration::from_millis(10)) {
            Err(e @ AudioError::Device { .. }) => assert!(e.to_string().contains("unplugged")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn capture_times_never_go_back_when_callbacks_burst() {
        let capture = Capture::default();
        let t0 = Instant::now() + Duration::from_secs(1);
        capture.push(&[1; 960], t0);
        let first = capture.take_frame(Duration::from_millis(10)).unwrap();
        // A burst: the next callback claims its samples began before the first frame.
        capture.push(&[2; 960], t0 - Duration::from_millis(5));
        let second = capture.take_frame(Duration::from_millis(10)).unwrap();
        assert_eq!(second.captured_at, first.captured_at + FRAME_DURATION);
        // A later, sane anchor is taken as it is (the card's clock still corrects ours).
        capture.push(&[3; 960], t0 + Duration::from_millis(100));
        let third = capture.take_frame(Duration::from_millis(10)).unwrap();
        assert_eq!(third.captured_at, t0 + Duration::from_millis(100));
    }

    #[test]
    fn capture_queue_drops_the_oldest_when_the_reader_stalls() {
        let capture = Capture::default();
        let t0 = Instant::now();
        for i in 0..60u64 {
            capture.push(&[i as i16; 960], t0 + FRAME_DURATION * i as u32);
        }
        let frame = capture.take_frame(Duration::from_millis(10)).unwrap();
        // 1 s kept = 50 frames: frames 10..60, the first kept one being frame 10.
        assert_eq!(frame.samples[0], 10);
        assert_eq!(frame.captured_at, t0 + FRAME_DURATION * 10);
    }
}
