//! The source and sink traits, real-time pacing for synthetic sources, and the simplest
//! synthetic drivers (silence, a sink that discards, a sink that records).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::frame::{samples_to_duration, AudioError, AudioFrame, FRAME_DURATION, FRAME_SAMPLES};

/// Something that produces 20 ms mono frames at 48 kHz: a microphone or a synthetic source.
pub trait AudioSource: Send + 'static {
    /// Blocks until the next frame is complete and returns it.
    ///
    /// Real devices block on the device. Synthetic sources pace themselves in real time
    /// against the instant of their first frame, so they do not drift; built with
    /// `paced(false)` they return frames at once.
    fn read_frame(&mut self) -> Result<AudioFrame, AudioError>;

    /// A short human-readable description (device name, tone frequency, ...).
    fn describe(&self) -> String;
}

/// Something that consumes mono samples at 48 kHz: a speaker or a synthetic sink.
pub trait AudioSink: Send + 'static {
    /// Takes samples to play, normally one frame of [`FRAME_SAMPLES`].
    fn write_frame(&mut self, samples: &[i16]) -> Result<(), AudioError>;

    /// A short human-readable description.
    fn describe(&self) -> String;
}

impl<S: AudioSource + ?Sized> AudioSource for Box<S> {
    fn read_frame(&mut self) -> Result<AudioFrame, AudioError> {
        (**self).read_frame()
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

impl<S: AudioSink + ?Sized> AudioSink for Box<S> {
    fn write_frame(&mut self, samples: &[i16]) -> Result<(), AudioError> {
        (**self).write_frame(samples)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// A consumer this many frames late makes a paced source skip ahead, as a real
/// microphone's buffer overruns, instead of delivering a burst of stale frames.
const MAX_LAG_FRAMES: u64 = 10;

/// Real-time clock for synthetic sources.
///
/// Frame `k` is captured at `start + k * 20 ms` and, when paced, returned no earlier than
/// its last sample, `start + (k + 1) * 20 ms`, like a microphone. Deadlines are computed
/// from `start`, never from the previous wake-up, so sleep overshoot does not accumulate.
#[derive(Debug)]
pub(crate) struct Pacer {
    paced: bool,
    start: Option<Instant>,
    next_frame: u64,
}

impl Pacer {
    pub(crate) fn new() -> Self {
        Pacer {
            paced: true,
            start: None,
            next_frame: 0,
        }
    }

    pub(crate) fn set_paced(&mut self, paced: bool) {
        self.paced = paced;
    }

    pub(crate) fn is_paced(&self) -> bool {
        self.paced
    }

    /// Index and capture instant of the next frame, after sleeping until it is complete.
    pub(crate) fn next(&mut self) -> (u64, Instant) {
        let now = Instant::now();
        let start = *self.start.get_or_insert(now);
        let frame_start = |k: u64| start + samples_to_duration(k * FRAME_SAMPLES as u64);
        if self.paced {
            let due = frame_start(self.next_frame + 1);
            if let Some(lag) = now.checked_duration_since(due) {
                let behind = (lag.as_nanos() / FRAME_DURATION.as_nanos()) as u64;
                if behind > MAX_LAG_FRAMES {
                    self.next_frame += behind;
                }
            }
            let due = frame_start(self.next_frame + 1);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let k = self.next_frame;
        self.next_frame += 1;
        (k, frame_start(k))
    }
}

/// A source of digital silence.
#[derive(Debug)]
pub struct SilenceSource {
    pacer: Pacer,
}

impl SilenceSource {
    /// A paced silence source.
    pub fn new() -> Self {
        SilenceSource {
            pacer: Pacer::new(),
        }
    }

    /// Real-time pacing on (the default) or off (frames returned at once, for tests).
    pub fn paced(mut self, paced: bool) -> Self {
        self.pacer.set_paced(paced);
        self
    }
}

impl Default for SilenceSource {
    fn default() -> Self {
        Self::new()
    }
}

impl AudioSource for SilenceSource {
    fn read_frame(&mut self) -> Result<AudioFrame, AudioError> {
        let (_, captured_at) = self.pacer.next();
        Ok(AudioFrame {
            samples: vec![0; FRAME_SAMPLES],
            captured_at,
        })
    }

    fn describe(&self) -> String {
        format!("silence{}", pacing_suffix(&self.pacer))
    }
}

pub(crate) fn pacing_suffix(pacer: &Pacer) -> &'static str {
    if pacer.is_paced() {
        ""
    } else {
        " (unpaced)"
    }
}

/// A sink that discards everything.
#[derive(Debug, Default)]
pub struct NullSink {
    written: u64,
}

impl NullSink {
    /// A new sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Samples written so far.
    pub fn samples_written(&self) -> u64 {
        self.written
    }
}

impl AudioSink for NullSink {
    fn write_frame(&mut self, samples: &[i16]) -> Result<(), AudioError> {
        self.written += samples.len() as u64;
        Ok(())
    }

    fn describe(&self) -> String {
        "null sink".to_string()
    }
}

/// How much a [`RecordingSink`] keeps by default: the last 30 s.
pub const DEFAULT_RECORDING_LIMIT: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct RecordingInner {
    samples: VecDeque<i16>,
    limit: usize,
    total: u64,
}

/// A sink that keeps what is written to it, for tests and the demo.
#[derive(Debug)]
pub struct RecordingSink {
    inner: Arc<Mutex<RecordingInner>>,
}

/// Read access to what a [`RecordingSink`] received; clones share the same recording.
#[derive(Clone, Debug)]
pub struct Recording {
    inner: Arc<Mutex<RecordingInner>>,
}

fn lock(inner: &Mutex<RecordingInner>) -> MutexGuard<'_, RecordingInner> {
    // A panic elsewhere while holding the lock leaves plain sample data: still usable.
    inner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RecordingSink {
    /// A sink that keeps the last 30 s ([`DEFAULT_RECORDING_LIMIT`]).
    pub fn new() -> (RecordingSink, Recording) {
        Self::with_limit(DEFAULT_RECORDING_LIMIT)
    }

    /// A sink that keeps the last `limit` of audio; older samples are dropped.
    pub fn with_limit(limit: Duration) -> (RecordingSink, Recording) {
        let limit = super::frame::duration_to_samples(limit) as usize;
        let inner = Arc::new(Mutex::new(RecordingInner {
            samples: VecDeque::with_capacity(limit.min(1 << 20)),
            limit,
            total: 0,
        }));
        (
            RecordingSink {
                inner: inner.clone(),
            },
            Recording { inner },
        )
    }
}

impl AudioSink for RecordingSink {
    fn write_frame(&mut self, samples: &[i16]) -> Result<(), AudioError> {
        let mut inner = lock(&self.inner);
        inner.total += samples.len() as u64;
        let keep = samples.len().min(inner.limit);
        let excess = (inner.samples.len() + keep).saturating_sub(inner.limit);
        inner.samples.drain(..excess);
        inner.samples.extend(&samples[samples.len() - keep..]);
        Ok(())
    }

    fn describe(&self) -> String {
        "recording sink".to_string()
    }
}

impl Recording {
    /// A copy of the kept samples, oldest first.
    pub fn samples(&self) -> Vec<i16> {
        lock(&self.inner).samples.iter().copied().collect()
    }

    /// A copy of the last `n` kept samples (fewer if fewer are kept).
    pub fn last(&self, n: usize) -> Vec<i16> {
        let inner = lock(&self.inner);
        let skip = inner.samples.len().saturating_sub(n);
        inner.samples.iter().skip(skip).copied().collect()
    }

    /// Number of samples kept.
    pub fn len(&self) -> usize {
        lock(&self.inner).samples.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Samples written since creation, including those dropped for the limit.
    pub fn total_written(&self) -> u64 {
        lock(&self.inner).total
    }

    /// Drops the kept samples (the total written is unchanged).
    pub fn clear(&self) {
        lock(&self.inner).samples.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_keeps_only_the_last_samples() {
        let (mut sink, rec) = RecordingSink::with_limit(Duration::from_millis(50)); // 2400
        for i in 0..5i16 {
            sink.write_frame(&[i; FRAME_SAMPLES]).unwrap();
        }
        assert_eq!(rec.len(), 2400);
        assert_eq!(rec.total_written(), 5 * 960);
        let kept = rec.samples();
        assert_eq!(kept[0], 2, "oldest kept sample is from frame 2");
        assert_eq!(*kept.last().unwrap(), 4);
        assert_eq!(rec.last(3), vec![4, 4, 4]);
        // A single write longer than the limit keeps its tail.
        sink.write_frame(&vec![7; 5000]).unwrap();
        assert_eq!(rec.samples(), vec![7; 2400]);
        rec.clear();
        assert!(rec.is_empty());
    }

    #[test]
    fn unpaced_silence_has_an_exact_timeline() {
        let mut s = SilenceSource::new().paced(false);
        let a = s.read_frame().unwrap();
        let b = s.read_frame().unwrap();
        assert_eq!(a.samples, vec![0; FRAME_SAMPLES]);
        assert_eq!(b.captured_at - a.captured_at, FRAME_DURATION);
        assert!(s.describe().contains("unpaced"));
    }

    #[test]
    fn a_paced_source_skips_ahead_after_a_long_stall() {
        let mut s = SilenceSource::new();
        let a = s.read_frame().unwrap();
        // A consumer stalled for 300 ms (15 frames, more than the 10 tolerated)...
        std::thread::sleep(Duration::from_millis(300));
        let b = s.read_frame().unwrap();
        // ...gets a current frame, not the stale one after `a`, and still not early.
        assert!(b.captured_at - a.captured_at > FRAME_DURATION * 10);
        assert!(Instant::now() >= b.captured_at + FRAME_DURATION);
        let c = s.read_frame().unwrap();
        assert_eq!(c.captured_at - b.captured_at, FRAME_DURATION);
    }

    #[test]
    fn null_sink_counts() {
        let mut s = NullSink::new();
        s.write_frame(&[1; 10]).unwrap();
        assert_eq!(s.samples_written(), 10);
    }

    #[test]
    fn boxed_sources_and_sinks_are_usable_as_trait_objects() {
        let mut src: Box<dyn AudioSource> = Box::new(SilenceSource::new().paced(false));
        assert_eq!(src.read_frame().unwrap().samples.len(), FRAME_SAMPLES);
        let mut sink: Box<dyn AudioSink> = Box::new(NullSink::new());
        sink.write_frame(&[0; 4]).unwrap();
        assert_eq!(sink.describe(), "null sink");
    }
}
