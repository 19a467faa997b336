//! The [`PrivacyFilter`] trait and its two implementations: [`BlackoutFilter`] (segmentation)
//! and [`BlackFrameFilter`] (always black).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::detector::{PersonDetector, TractDetector, PERSON_DETECTOR_ONNX};
use crate::filtered::{BufferPool, FilteredFrame};
use crate::frame::{FrameError, PixelFormat, RawFrame};
use crate::model::{ModelChoice, ModelError, ModelSource};
use crate::pipeline::MaskSettings;
use crate::placeholder::Placeholder;
use crate::schedule::{DetectorConfig, ScheduleSettings};
use crate::segmenter::{SegmentError, Segmenter, TractSegmenter};
use crate::worker::{Job, MakeDetector, MakeSegmenter, Outcome, Reply, SubmitError, Worker};

/// What the call engine puts between the camera and everything that sends or shows video.
///
/// The encoder, the network, files and the remote peer's preview accept only
/// [`FilteredFrame`]; the only ways to get one are a `PrivacyFilter` and
/// [`FilteredFrame::black`]. An implementation must return, for every input, either the
/// input with its person pixels painted black or an all-black frame (or the filtered static
/// placeholder) — never the input unchanged — and must not panic.
pub trait PrivacyFilter: Send {
    /// Filters one camera frame. The result has the frame's size and format.
    fn filter(&mut self, frame: RawFrame<'_>) -> FilteredFrame;

    /// What the UI should show about the filter (after the last frame).
    fn state(&self) -> FilterState;

    /// Checks a tightly packed (`stride: None`) or packed-with-stride buffer and filters it.
    /// A refused buffer gives its [`FrameError`] and a black frame of the stated size
    /// (clamped, see [`FilteredFrame::black`]).
    fn filter_bytes(
        &mut self,
        data: &[u8],
        width: u32,
        height: u32,
        format: PixelFormat,
        stride: Option<usize>,
    ) -> Result<FilteredFrame, Rejected> {
        let frame = match stride {
            None => RawFrame::tight(data, width, height, format),
            Some(stride) => RawFrame::packed(data, width, height, format, stride),
        };
        match frame {
            Ok(frame) => Ok(self.filter(frame)),
            Err(error) => Err(Rejected {
                error,
                black: FilteredFrame::black(width, height, format),
            }),
        }
    }
}

/// A frame buffer that was refused, with the black frame to send in its place.
#[derive(Debug)]
pub struct Rejected {
    /// Why it was refused.
    pub error: FrameError,
    /// An all-black frame to send instead.
    pub black: FilteredFrame,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "frame refused, sent black: {}", self.error)
    }
}

impl std::error::Error for Rejected {}

/// The filter's condition, for the UI.
#[derive(Debug, Clone)]
pub enum FilterState {
    /// The model is still loading; frames are black.
    Starting,
    /// The last frame was segmented and its person pixels painted black.
    Active,
    /// The last frame was replaced by black.
    Unavailable {
        /// Why.
        reason: UnavailableReason,
    },
}

impl FilterState {
    /// Whether frames are currently passing the segmentation filter.
    pub fn is_active(&self) -> bool {
        matches!(self, FilterState::Active)
    }
}

impl fmt::Display for FilterState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilterState::Starting => f.write_str("blackout starting: camera blacked out"),
            FilterState::Active => f.write_str("blackout active"),
            FilterState::Unavailable { reason } => {
                write!(f, "blackout unavailable: camera blacked out ({reason})")
            }
        }
    }
}

/// Why frames are black.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UnavailableReason {
    /// Blackout is switched off ([`BlackFrameFilter`]).
    #[error("blackout is off")]
    Off,
    /// The model could not be loaded (missing, corrupt, wrong shape). Permanent.
    #[error("{0}")]
    Model(ModelError),
    /// Segmentation panicked; the filter stays black until it is rebuilt. Permanent.
    #[error("segmentation crashed: {0}")]
    Panicked(String),
    /// The worker thread could not be started or has ended. Permanent.
    #[error("segmentation worker stopped")]
    WorkerStopped,
    /// The worker has been stuck on one frame longer than the stall limit.
    #[error("segmentation stalled for {}", Millis(*.0))]
    Stalled(Duration),
    /// Inference failed on the last frame.
    #[error("segmentation failed: {0}")]
    Inference(SegmentError),
    /// The last frame was not segmented within its deadline.
    #[error("frame missed its {} deadline", Millis(*.0))]
    DeadlineMissed(Duration),
    /// The worker was still busy: the last frame was dropped.
    #[error("segmentation falling behind, frame dropped")]
    FellBehind,
    /// The last frame was refused.
    #[error("bad frame: {0}")]
    BadFrame(FrameError),
}

/// A duration for people: whole milliseconds, rounded (`42 ms`, not `41.666666ms`).
struct Millis(Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms", (self.0.as_secs_f64() * 1000.0).round() as u64)
    }
}

impl UnavailableReason {
    /// Whether the filter stays black from now on (until it is rebuilt).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            UnavailableReason::Off
                | UnavailableReason::Model(_)
                | UnavailableReason::Panicked(_)
                | UnavailableReason::WorkerStopped
        )
    }
}

/// Settings of a [`BlackoutFilter`]. `Default` gives the conservative defaults below.
#[derive(Debug, Clone)]
pub struct FilterConfig {
    /// Where the model comes from (default: embedded).
    pub model: ModelSource,
    /// Which embedded model (default: by aspect ratio, see [`ModelChoice::resolve`]).
    pub model_choice: ModelChoice,
    /// Person probability at and above which a pixel is painted (0..=1, clamped; NaN counts
    /// every pixel as person; default 0.25).
    pub threshold: f32,
    /// Dilation radius as a fraction of the frame width (0..=0.5, clamped; default 0.02:
    /// 26 px at 1280 wide), applied as an ellipse at the model's resolution.
    pub dilation: f32,
    /// A pixel that was person in any of the last `hold_frames` frames stays black
    /// (default 6, a quarter of a second at 24 fps; 1 = no hold; at most 240).
    pub hold_frames: usize,
    /// Time from `filter()` being called to a filtered frame; later means black
    /// (default 1/24 s).
    pub deadline: Duration,
    /// A frame running longer than this marks the worker stalled (default 1 s).
    pub stall_limit: Duration,
    /// How long [`BlackoutFilter::new`] waits for the model to load (default 10 s); after
    /// that it returns a filter in [`FilterState::Starting`] that becomes active once loaded.
    pub load_timeout: Duration,
    /// Replace every frame by this image (itself passed through the filter).
    pub placeholder: Option<Placeholder>,
    /// The person detector whose boxes are blacked out together with the segmentation, and
    /// its motion mask (default: on, [`DetectorConfig::default`]). `None`: segmentation
    /// alone (the pre-issue-13 pipeline).
    pub detector: Option<DetectorConfig>,
}

/// Low threshold: MediaPipe's own cut is 0.5; counting 0.25..0.5 as person covers soft
/// edges (hair, motion blur) at the cost of a thin extra band of background.
pub const DEFAULT_THRESHOLD: f32 = 0.25;
/// 2 % of the width: covers the model's edge error at 256 px (1 px = 0.4 % of the width)
/// with margin, while keeping the blacked background under ~20 % on head-and-shoulders shots.
pub const DEFAULT_DILATION: f32 = 0.02;
/// 6 frames: covers a person the model misses for a few frames (fast motion, occlusion),
/// at the cost of a 0.25 s trail behind movement.
pub const DEFAULT_HOLD_FRAMES: usize = 6;
/// One frame time at 24 fps: a frame that is not filtered in time is dropped to black
/// rather than delaying the video.
pub const DEFAULT_DEADLINE: Duration = Duration::from_nanos(1_000_000_000 / 24);
/// 1 s (24 deadlines): long enough to ignore a single hiccup, short enough for the UI to
/// say "stalled" before the user wonders.
pub const DEFAULT_STALL_LIMIT: Duration = Duration::from_secs(1);
/// Loading both models takes well under a second; 10 s covers a loaded machine.
pub const DEFAULT_LOAD_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for FilterConfig {
    fn default() -> Self {
        FilterConfig {
            model: ModelSource::Embedded,
            model_choice: ModelChoice::Auto,
            threshold: DEFAULT_THRESHOLD,
            dilation: DEFAULT_DILATION,
            hold_frames: DEFAULT_HOLD_FRAMES,
            deadline: DEFAULT_DEADLINE,
            stall_limit: DEFAULT_STALL_LIMIT,
            load_timeout: DEFAULT_LOAD_TIMEOUT,
            placeholder: None,
            // The segmenter alone misses people behind the caller, whole bodies and distant
            // people, and the motion mask covers people walking in before the detector has
            // looked (issue 13, calling/blackout/README.md).
            detector: Some(DetectorConfig::default()),
        }
    }
}

impl FilterConfig {
    /// The defaults, which include the person detector and its motion mask (the issue-13
    /// pipeline); kept for callers that name the detector explicitly. The segmenter alone
    /// (the old pipeline) is `FilterConfig { detector: None, ..FilterConfig::default() }`.
    pub fn with_person_detector() -> Self {
        FilterConfig {
            detector: Some(DetectorConfig::default()),
            ..FilterConfig::default()
        }
    }

    fn mask_settings(&self) -> MaskSettings {
        // Out-of-range values are made safe, never refused: NaN or negative thresholds count
        // everything as person, dilation is kept within 0..=50 % of the width.
        let threshold = if self.threshold.is_nan() {
            0.0
        } else {
            self.threshold.clamp(0.0, 1.0)
        };
        let dilation = if self.dilation.is_nan() {
            DEFAULT_DILATION
        } else {
            self.dilation.clamp(0.0, 0.5)
        };
        MaskSettings {
            threshold,
            dilation,
            hold_frames: self.hold_frames.clamp(1, 240),
        }
    }
}

/// The blackout filter: segmentation on a worker thread, person pixels painted black, and
/// black frames whenever anything goes wrong.
pub struct BlackoutFilter {
    deadline: Duration,
    stall_limit: Duration,
    pool: Arc<BufferPool>,
    worker: Option<Worker>,
    placeholder_mode: bool,
    state: FilterState,
    /// Set once something permanent happened: every frame is black from then on.
    dead: Option<UnavailableReason>,
    next_id: u64,
}

impl fmt::Debug for BlackoutFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlackoutFilter")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl BlackoutFilter {
    /// A filter with the tract segmenter for `config.model`. Never fails: if the model cannot
    /// be loaded the filter is [`FilterState::Unavailable`] and every frame is black. Waits
    /// up to `config.load_timeout` for the model.
    pub fn new(config: FilterConfig) -> BlackoutFilter {
        let source = config.model.clone();
        let choice = config.model_choice;
        let detector = config.detector.map(|d| {
            let make: MakeDetector = Box::new(move || {
                TractDetector::load(PERSON_DETECTOR_ONNX, d.long_side, d.min_score)
                    .map(|d| Box::new(d) as Box<dyn PersonDetector>)
            });
            (make, d.schedule())
        });
        let make: MakeSegmenter = Box::new(move || {
            TractSegmenter::load(&source, choice).map(|s| Box::new(s) as Box<dyn Segmenter>)
        });
        Self::build(config, make, detector)
    }

    /// A filter with a custom segmenter, built on the worker thread by `make` (fault
    /// injection, other backends), and no person detector. `config.model`,
    /// `config.model_choice` and `config.detector` are unused.
    pub fn with_segmenter<F>(config: FilterConfig, make: F) -> BlackoutFilter
    where
        F: FnOnce() -> Result<Box<dyn Segmenter>, ModelError> + Send + 'static,
    {
        Self::build(config, Box::new(make), None)
    }

    /// A filter with a custom segmenter and a custom person detector, both built on the
    /// worker thread (fault injection). The detector is scheduled by `config.detector`
    /// (its default when `None`); `config.model` and `config.model_choice` are unused.
    pub fn with_models<F, G>(config: FilterConfig, make: F, make_detector: G) -> BlackoutFilter
    where
        F: FnOnce() -> Result<Box<dyn Segmenter>, ModelError> + Send + 'static,
        G: FnOnce() -> Result<Box<dyn PersonDetector>, ModelError> + Send + 'static,
    {
        let schedule = config.detector.unwrap_or_default().schedule();
        let detector: MakeDetector = Box::new(make_detector);
        Self::build(config, Box::new(make), Some((detector, schedule)))
    }

    fn build(
        config: FilterConfig,
        make: MakeSegmenter,
        detector: Option<(MakeDetector, ScheduleSettings)>,
    ) -> BlackoutFilter {
        let mut filter = BlackoutFilter {
            deadline: config.deadline,
            stall_limit: config.stall_limit,
            pool: Arc::new(BufferPool::default()),
            worker: None,
            placeholder_mode: config.placeholder.is_some(),
            state: FilterState::Starting,
            dead: None,
            next_id: 0,
        };
        match Worker::spawn(
            make,
            detector,
            config.mask_settings(),
            config.placeholder.clone(),
        ) {
            Ok(worker) => filter.worker = Some(worker),
            Err(_) => filter.kill(UnavailableReason::WorkerStopped),
        }
        filter.wait_ready(config.load_timeout);
        filter
    }

    /// Waits up to `timeout` for the model to finish loading; returns the state.
    pub fn wait_ready(&mut self, timeout: Duration) -> FilterState {
        if let Some(worker) = self.worker.as_mut() {
            match worker.wait_ready(timeout) {
                Some(Ok(())) => {
                    if matches!(self.state, FilterState::Starting) {
                        self.state = FilterState::Active;
                    }
                }
                Some(Err(e)) => self.kill(UnavailableReason::Model(e)),
                None => {}
            }
        }
        self.state.clone()
    }

    fn kill(&mut self, reason: UnavailableReason) {
        self.state = FilterState::Unavailable {
            reason: reason.clone(),
        };
        self.dead = Some(reason);
    }

    fn black(
        &mut self,
        width: u32,
        height: u32,
        format: PixelFormat,
        reason: Option<UnavailableReason>,
    ) -> FilteredFrame {
        if let Some(reason) = reason {
            self.state = FilterState::Unavailable { reason };
        }
        FilteredFrame::black_pooled(width, height, format, &self.pool)
    }

    /// Handles a reply that is not for the frame being waited on: recycle the buffer, note
    /// a panic.
    fn discard(&mut self, reply: Reply) {
        if let Outcome::Panicked(msg) = &reply.outcome {
            self.kill(UnavailableReason::Panicked(msg.clone()));
        }
        self.pool.give(reply.buf);
    }
}

impl PrivacyFilter for BlackoutFilter {
    fn filter(&mut self, frame: RawFrame<'_>) -> FilteredFrame {
        let start = Instant::now();
        let (width, height, format) = (frame.width(), frame.height(), frame.format());
        if self.dead.is_some() {
            let reason = self.dead.clone();
            return self.black(width, height, format, reason);
        }
        if self.worker.as_ref().is_some_and(|w| !w.is_ready()) {
            self.wait_ready(Duration::ZERO);
            if self.dead.is_some() {
                let reason = self.dead.clone();
                return self.black(width, height, format, reason);
            }
            if matches!(self.state, FilterState::Starting) {
                return self.black(width, height, format, None);
            }
        }
        let Some(worker) = self.worker.as_ref() else {
            return self.black(
                width,
                height,
                format,
                Some(UnavailableReason::WorkerStopped),
            );
        };
        // Old replies (frames that missed their deadline) only give their buffers back.
        let mut stale = Vec::new();
        while let Some(reply) = worker.try_reply() {
            stale.push(reply);
        }
        if let Some(busy) = worker.watchdog.busy_for().filter(|b| *b > self.stall_limit) {
            for reply in stale {
                self.discard(reply);
            }
            return self.black(
                width,
                height,
                format,
                Some(UnavailableReason::Stalled(busy)),
            );
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut buf = self.pool.take();
        if self.placeholder_mode {
            buf.clear(); // the camera pixels are not even copied
        } else {
            frame.copy_tight(&mut buf);
        }
        let job = Job {
            id,
            format,
            width,
            height,
            buf,
        };
        let submitted = worker.submit(job);
        for reply in stale {
            self.discard(reply);
        }
        match submitted {
            Ok(()) => {}
            Err(SubmitError::Busy(job)) => {
                self.pool.give(job.buf);
                return self.black(width, height, format, Some(UnavailableReason::FellBehind));
            }
            Err(SubmitError::Gone(job)) => {
                self.pool.give(job.buf);
                self.kill(UnavailableReason::WorkerStopped);
                return self.black(width, height, format, None);
            }
        }
        let deadline = start + self.deadline;
        loop {
            let Some(worker) = self.worker.as_ref() else {
                return self.black(
                    width,
                    height,
                    format,
                    Some(UnavailableReason::WorkerStopped),
                );
            };
            match worker.reply_until(deadline) {
                Ok(reply) if reply.id == id => {
                    return match reply.outcome {
                        Outcome::Done(origin) => {
                            self.state = FilterState::Active;
                            FilteredFrame::from_pipeline(
                                width,
                                height,
                                format,
                                origin,
                                reply.buf,
                                Some(self.pool.clone()),
                            )
                        }
                        Outcome::Failed(e) => {
                            self.pool.give(reply.buf);
                            self.black(width, height, format, Some(UnavailableReason::Inference(e)))
                        }
                        Outcome::Panicked(msg) => {
                            self.pool.give(reply.buf);
                            self.kill(UnavailableReason::Panicked(msg));
                            self.black(width, height, format, None)
                        }
                    };
                }
                Ok(other) => self.discard(other),
                Err(false) => {
                    let reason = UnavailableReason::DeadlineMissed(self.deadline);
                    return self.black(width, height, format, Some(reason));
                }
                Err(true) => {
                    self.kill(UnavailableReason::WorkerStopped);
                    return self.black(width, height, format, None);
                }
            }
            if self.dead.is_some() {
                let reason = self.dead.clone();
                return self.black(width, height, format, reason);
            }
        }
    }

    fn state(&self) -> FilterState {
        if self.dead.is_none() {
            if let Some(busy) = self
                .worker
                .as_ref()
                .and_then(|w| w.watchdog.busy_for())
                .filter(|b| *b > self.stall_limit)
            {
                return FilterState::Unavailable {
                    reason: UnavailableReason::Stalled(busy),
                };
            }
        }
        self.state.clone()
    }
}

/// The filter that sends only black frames: used by the call engine when blackout is off or
/// unavailable. It never reads the camera pixels.
#[derive(Debug, Clone)]
pub struct BlackFrameFilter {
    reason: UnavailableReason,
}

impl BlackFrameFilter {
    /// An always-black filter whose state says blackout is off.
    pub fn new() -> BlackFrameFilter {
        BlackFrameFilter {
            reason: UnavailableReason::Off,
        }
    }

    /// An always-black filter whose state gives `reason` (e.g. why the real filter failed).
    pub fn with_reason(reason: UnavailableReason) -> BlackFrameFilter {
        BlackFrameFilter { reason }
    }
}

impl Default for BlackFrameFilter {
    fn default() -> Self {
        Self::new()
    }
}

impl PrivacyFilter for BlackFrameFilter {
    fn filter(&mut self, frame: RawFrame<'_>) -> FilteredFrame {
        FilteredFrame::black(frame.width(), frame.height(), frame.format())
    }

    fn state(&self) -> FilterState {
        FilterState::Unavailable {
            reason: self.reason.clone(),
        }
    }
}
