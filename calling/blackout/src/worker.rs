//! The segmentation worker thread and its watchdog.
//!
//! Frames go to the worker through a channel of capacity 1: when the worker falls behind a
//! frame is dropped, never queued. Loading the model and every frame run inside
//! `catch_unwind`; a panic poisons the worker for good (every later frame fails), since the
//! segmenter's state can no longer be trusted. The watchdog is a "busy since" timestamp the
//! worker sets around each frame: the filter reads it and declares the worker stalled when
//! one frame has run longer than the stall limit.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::detector::PersonDetector;
use crate::filtered::FrameOrigin;
use crate::frame::PixelFormat;
use crate::model::ModelError;
use crate::pipeline::{MaskSettings, Pipeline};
use crate::placeholder::Placeholder;
use crate::schedule::{Schedule, ScheduleSettings};
use crate::segmenter::{SegmentError, Segmenter};

/// A frame for the worker: a tight copy of the camera frame (or an empty buffer in
/// placeholder mode).
pub(crate) struct Job {
    pub(crate) id: u64,
    pub(crate) format: PixelFormat,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) buf: Vec<u8>,
}

/// What became of a job.
pub(crate) enum Outcome {
    /// Filtered: the buffer may be sent.
    Done(FrameOrigin),
    /// The segmenter returned an error: the buffer must not be sent.
    Failed(SegmentError),
    /// The segmenter panicked (now or earlier): the buffer must not be sent.
    Panicked(String),
}

pub(crate) struct Reply {
    pub(crate) id: u64,
    pub(crate) outcome: Outcome,
    pub(crate) buf: Vec<u8>,
}

/// Set by the worker while it runs a frame; read by the filter.
#[derive(Debug)]
pub(crate) struct Watchdog {
    epoch: Instant,
    /// Nanoseconds since `epoch` + 1 when the current frame started; 0 when idle.
    busy_since: AtomicU64,
}

impl Watchdog {
    fn new() -> Watchdog {
        Watchdog {
            epoch: Instant::now(),
            busy_since: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64 + 1
    }

    fn busy(&self) {
        self.busy_since.store(self.now(), Ordering::Release);
    }

    fn idle(&self) {
        self.busy_since.store(0, Ordering::Release);
    }

    /// How long the current frame has been running, if the worker is busy.
    pub(crate) fn busy_for(&self) -> Option<Duration> {
        match self.busy_since.load(Ordering::Acquire) {
            0 => None,
            since => Some(Duration::from_nanos(self.now().saturating_sub(since))),
        }
    }
}

/// Builds the segmenter on the worker thread.
pub(crate) type MakeSegmenter =
    Box<dyn FnOnce() -> Result<Box<dyn Segmenter>, ModelError> + Send + 'static>;

/// Builds the person detector on the worker thread.
pub(crate) type MakeDetector =
    Box<dyn FnOnce() -> Result<Box<dyn PersonDetector>, ModelError> + Send + 'static>;

/// The filter's handle on the worker thread.
pub(crate) struct Worker {
    jobs: SyncSender<Job>,
    replies: Receiver<Reply>,
    ready: Option<Receiver<Result<(), ModelError>>>,
    pub(crate) watchdog: Arc<Watchdog>,
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Why a job could not be handed over.
pub(crate) enum SubmitError {
    /// The worker is still busy with an earlier frame: this one is dropped.
    Busy(Job),
    /// The worker thread is gone.
    Gone(Job),
}

impl Worker {
    /// Starts the worker thread, which builds the segmenter with `make` and, when given, the
    /// person detector (a failure of either is a model failure: permanent, black).
    pub(crate) fn spawn(
        make: MakeSegmenter,
        detector: Option<(MakeDetector, ScheduleSettings)>,
        settings: MaskSettings,
        placeholder: Option<Placeholder>,
    ) -> std::io::Result<Worker> {
        // Capacity 1: at most one frame waits while another runs; later ones are dropped.
        let (jobs, job_rx) = mpsc::sync_channel::<Job>(1);
        let (reply_tx, replies) = mpsc::channel::<Reply>();
        let (ready_tx, ready) = mpsc::channel();
        let watchdog = Arc::new(Watchdog::new());
        let dog = watchdog.clone();
        thread::Builder::new()
            .name("blackout-worker".into())
            .spawn(move || {
                dog.busy();
                let made = catch_unwind(AssertUnwindSafe(move || {
                    let segmenter = make()?;
                    let schedule = match detector {
                        None => None,
                        Some((make_detector, schedule)) => {
                            let detector = make_detector()?;
                            Some(Schedule::spawn(detector, schedule).map_err(|e| {
                                ModelError::Prepare {
                                    name: "person detector".into(),
                                    message: format!("cannot start its thread: {e}"),
                                }
                            })?)
                        }
                    };
                    Ok((segmenter, schedule))
                }));
                dog.idle();
                let (segmenter, schedule) = match made {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                    Err(p) => {
                        let _ = ready_tx.send(Err(ModelError::Panicked(panic_message(&*p))));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                let mut pipeline = Pipeline::new(segmenter, schedule, settings, placeholder);
                let mut poisoned: Option<String> = None;
                while let Ok(mut job) = job_rx.recv() {
                    dog.busy();
                    let outcome = match &poisoned {
                        Some(msg) => Outcome::Panicked(msg.clone()),
                        None => {
                            let origin = if pipeline.uses_placeholder() {
                                FrameOrigin::Placeholder
                            } else {
                                FrameOrigin::Filtered
                            };
                            let buf = &mut job.buf;
                            let run = catch_unwind(AssertUnwindSafe(|| {
                                pipeline.run(job.format, job.width, job.height, buf)
                            }));
                            match run {
                                Ok(Ok(())) => Outcome::Done(origin),
                                Ok(Err(e)) => Outcome::Failed(e),
                                Err(p) => {
                                    let msg = panic_message(&*p);
                                    poisoned = Some(msg.clone());
                                    Outcome::Panicked(msg)
                                }
                            }
                        }
                    };
                    dog.idle();
                    let reply = Reply {
                        id: job.id,
                        outcome,
                        buf: job.buf,
                    };
                    if reply_tx.send(reply).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Worker {
            jobs,
            replies,
            ready: Some(ready),
            watchdog,
        })
    }

    /// Waits up to `timeout` for the segmenter to be built. `None`: still loading.
    pub(crate) fn wait_ready(&mut self, timeout: Duration) -> Option<Result<(), ModelError>> {
        let rx = self.ready.as_ref()?;
        let got = if timeout.is_zero() {
            rx.try_recv()
                .map_err(|e| matches!(e, mpsc::TryRecvError::Disconnected))
        } else {
            rx.recv_timeout(timeout)
                .map_err(|e| matches!(e, mpsc::RecvTimeoutError::Disconnected))
        };
        match got {
            Ok(result) => {
                self.ready = None;
                Some(result)
            }
            Err(true) => {
                self.ready = None;
                Some(Err(ModelError::Panicked("the worker thread ended".into())))
            }
            Err(false) => None,
        }
    }

    /// Whether the segmenter is built.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.is_none()
    }

    /// Hands a frame over without waiting.
    pub(crate) fn submit(&self, job: Job) -> Result<(), SubmitError> {
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(job) => SubmitError::Busy(job),
            TrySendError::Disconnected(job) => SubmitError::Gone(job),
        })
    }

    /// The next reply, waiting at most until `deadline`. `Err(true)`: the worker is gone.
    pub(crate) fn reply_until(&self, deadline: Instant) -> Result<Reply, bool> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return self
                .replies
                .try_recv()
                .map_err(|e| matches!(e, mpsc::TryRecvError::Disconnected));
        }
        self.replies
            .recv_timeout(left)
            .map_err(|e| matches!(e, mpsc::RecvTimeoutError::Disconnected))
    }

    /// A reply that is already there, if any.
    pub(crate) fn try_reply(&self) -> Option<Reply> {
        self.replies.try_recv().ok()
    }
}
