//! The person detector's schedule: it runs on its own thread, at a lower rate than the
//! segmenter, and its boxes only grow while they wait for the next run (DESIGN.md section 5).
//!
//! Every `interval` frames the worker hands a downscaled copy of the frame to the detector
//! thread (channel of capacity 1: never a queue). The boxes of the two most recent results
//! are painted into the segmenter's mask on every frame, each grown by a margin and by a
//! motion allowance proportional to its age in frames, so a person who moves between two
//! detector runs stays inside the painted area. Safety never depends on the detector being
//! on time: when no result is younger than `max_age` frames the worker waits for one (the
//! frame then misses its deadline and is sent black), and a detector error or panic makes
//! every later frame fail (black).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::thread;
use std::time::Duration;

use crate::detector::{Detection, PersonDetector};
use crate::frame::PixelFormat;
use crate::motion::MotionConfig;
use crate::resize::Downscaler;
use crate::segmenter::{RgbImage, SegmentError};
use crate::worker::panic_message;

/// How the detector is scheduled and how its boxes are widened. See [`DetectorConfig`]
/// (crate::DetectorConfig) for the meaning of each field.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScheduleSettings {
    pub(crate) interval: u64,
    pub(crate) max_age: u64,
    pub(crate) margin: f32,
    pub(crate) growth_per_frame: f32,
    pub(crate) max_wait: Duration,
    pub(crate) gate: Option<f32>,
    pub(crate) motion: Option<MotionConfig>,
    pub(crate) nice: u8,
}

/// Settings of the person detector (NanoDet, embedded) that runs beside the segmenter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// Longer side of the detector's input in pixels, rounded down to a multiple of 32
    /// (default 320: 320x256 for 4:3, 320x192 for 16:9).
    pub long_side: u32,
    /// Lowest person score whose box is blacked out (default 0.3).
    pub min_score: f32,
    /// The detector starts a run every `interval` frames (default 8, a third of a second at
    /// 24 fps), when it is idle. The motion mask covers what changes in between, so this
    /// trades background blacked while people move for speed, not safety.
    pub interval: u32,
    /// A frame whose newest detector result is older than this many frames waits for a
    /// fresh one, and is then most likely sent black (default 16, two detector intervals:
    /// two thirds of a second at 24 fps).
    pub max_age: u32,
    /// Each box is widened by this fraction of its width and height on each side (0.05).
    pub margin: f32,
    /// Each box also grows, per frame of age, by this fraction of its height on the left
    /// and right and half of it at the top and bottom (0.04), so a moving person stays
    /// inside it until the next result.
    pub growth_per_frame: f32,
    /// How long a frame without a usable result waits for one before failing (2 s).
    pub max_wait: Duration,
    /// `Some(extra)`: the segmenter's mask is kept only within the boxes widened by
    /// `extra` (fraction of the box size, each side, on top of `margin`; default 0.5);
    /// `None`: the segmenter's mask is used everywhere (pure union). The selfie segmenter
    /// marks 30-45 % of some photographs without anyone (a building with birds, an animal
    /// face, a butterfly) as person with near certainty; gating removes that.
    pub segmenter_gate: Option<f32>,
    /// `Some`: the motion mask (see [`MotionConfig`]) blacks out, on every frame, what
    /// changed since the frame of the newest detector result, until the detector has seen
    /// it; this covers people walking in before the detector finds them. `None`: off.
    pub motion: Option<MotionConfig>,
    /// How far the detector thread lowers its own CPU priority (Linux nice value; default
    /// 10, 0 = the filter's priority). The segmenter must finish every frame within its
    /// deadline or the frame goes black; the detector's lateness is already safe (frames
    /// wait for a result, then go black), so on a busy core the detector yields.
    pub nice: u8,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            long_side: 320,
            min_score: 0.3,
            interval: 8,
            max_age: 16,
            margin: 0.05,
            growth_per_frame: 0.04,
            max_wait: Duration::from_secs(2),
            segmenter_gate: Some(0.5),
            motion: Some(MotionConfig::default()),
            nice: 10,
        }
    }
}

impl DetectorConfig {
    pub(crate) fn schedule(&self) -> ScheduleSettings {
        let finite = |v: f32, d: f32| if v.is_finite() { v.max(0.0) } else { d };
        ScheduleSettings {
            interval: u64::from(self.interval.max(1)),
            max_age: u64::from(self.max_age.max(1)),
            margin: finite(self.margin, 0.1),
            growth_per_frame: finite(self.growth_per_frame, 0.04),
            max_wait: self.max_wait,
            gate: self.segmenter_gate.map(|g| finite(g, 0.5)),
            motion: self.motion,
            nice: self.nice,
        }
    }
}

struct DetJob {
    frame_no: u64,
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

struct DetResult {
    frame_no: u64,
    outcome: Result<Vec<Detection>, String>,
    rgb: Vec<u8>,
}

/// Boxes of one detector run and the frame they were found in.
struct Held {
    frame_no: u64,
    boxes: Vec<Detection>,
}

pub(crate) struct Schedule {
    settings: ScheduleSettings,
    jobs: SyncSender<DetJob>,
    results: Receiver<DetResult>,
    in_flight: bool,
    down: Downscaler,
    spare: Vec<u8>,
    frame_no: u64,
    last_submitted: Option<u64>,
    current: Option<Held>,
    previous: Option<Held>,
    failed: Option<String>,
    /// `input_size` of the detector, asked once per frame size.
    sizes: Vec<((u32, u32), (u32, u32))>,
    size_of: Box<dyn Fn(u32, u32) -> (u32, u32) + Send>,
}

impl Schedule {
    /// Starts the detector thread.
    pub(crate) fn spawn(
        mut detector: Box<dyn PersonDetector>,
        settings: ScheduleSettings,
    ) -> std::io::Result<Schedule> {
        let (jobs, job_rx) = mpsc::sync_channel::<DetJob>(1);
        let (res_tx, results) = mpsc::channel::<DetResult>();
        // The size rule is asked on the worker thread; the detector lives on its own thread,
        // so the rule is sampled here for the usual sizes and the detector asked again on
        // its thread (a mismatch is an error, never a wrong box).
        let probe: Vec<((u32, u32), (u32, u32))> = [(640, 480), (1280, 720), (1920, 1080)]
            .iter()
            .map(|&(w, h)| ((w, h), detector.input_size(w, h)))
            .collect();
        let long = probe[0].1 .0.max(probe[0].1 .1);
        let nice = settings.nice;
        thread::Builder::new()
            .name("blackout-detector".into())
            .spawn(move || {
                crate::priority::lower_this_thread(nice);
                let mut poisoned: Option<String> = None;
                let mut boxes = Vec::new();
                while let Ok(job) = job_rx.recv() {
                    let outcome = match &poisoned {
                        Some(msg) => Err(msg.clone()),
                        None => {
                            let run = catch_unwind(AssertUnwindSafe(|| {
                                detector.detect(
                                    RgbImage {
                                        width: job.width,
                                        height: job.height,
                                        pixels: &job.rgb,
                                    },
                                    &mut boxes,
                                )
                            }));
                            match run {
                                Ok(Ok(())) => Ok(boxes.clone()),
                                Ok(Err(e)) => Err(e.0),
                                Err(p) => {
                                    let msg = format!("crashed: {}", panic_message(&*p));
                                    poisoned = Some(msg.clone());
                                    Err(msg)
                                }
                            }
                        }
                    };
                    let result = DetResult {
                        frame_no: job.frame_no,
                        outcome,
                        rgb: job.rgb,
                    };
                    if res_tx.send(result).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Schedule {
            settings,
            jobs,
            results,
            in_flight: false,
            down: Downscaler::default(),
            spare: Vec::new(),
            frame_no: 0,
            last_submitted: None,
            current: None,
            previous: None,
            failed: None,
            sizes: probe,
            size_of: Box::new(move |w, h| crate::detector::detector_input_size(w, h, long)),
        })
    }

    fn input_size(&mut self, width: u32, height: u32) -> (u32, u32) {
        if let Some((_, s)) = self.sizes.iter().find(|(k, _)| *k == (width, height)) {
            return *s;
        }
        let s = (self.size_of)(width, height);
        self.sizes.push(((width, height), s));
        s
    }

    fn accept(&mut self, result: DetResult) {
        self.in_flight = false;
        self.spare = result.rgb;
        match result.outcome {
            Ok(boxes) => {
                // Keep the newer of the two as current; an older result never replaces it.
                if self
                    .current
                    .as_ref()
                    .is_some_and(|c| c.frame_no > result.frame_no)
                {
                    return;
                }
                self.previous = self.current.take();
                self.current = Some(Held {
                    frame_no: result.frame_no,
                    boxes,
                });
            }
            Err(msg) => self.failed = Some(msg),
        }
    }

    fn poll(&mut self) {
        loop {
            match self.results.try_recv() {
                Ok(r) => self.accept(r),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.failed
                        .get_or_insert_with(|| "detector thread stopped".into());
                    return;
                }
            }
        }
    }

    fn submit(&mut self, format: PixelFormat, width: u32, height: u32, frame: &[u8]) {
        let (dw, dh) = self.input_size(width, height);
        self.down.run(format, width, height, frame, dw, dh);
        let mut rgb = std::mem::take(&mut self.spare);
        rgb.clear();
        rgb.extend_from_slice(&self.down.rgb);
        let job = DetJob {
            frame_no: self.frame_no,
            width: dw,
            height: dh,
            rgb,
        };
        match self.jobs.try_send(job) {
            Ok(()) => {
                self.in_flight = true;
                self.last_submitted = Some(self.frame_no);
            }
            Err(TrySendError::Full(job)) => self.spare = job.rgb,
            Err(TrySendError::Disconnected(_)) => {
                self.failed = Some("detector thread stopped".into());
            }
        }
    }

    /// Called once per frame, before the boxes are painted: collects finished results,
    /// starts a detector run when one is due, and waits for a result when the newest one is
    /// too old. An error means the frame must not be sent.
    pub(crate) fn step(
        &mut self,
        format: PixelFormat,
        width: u32,
        height: u32,
        frame: &[u8],
    ) -> Result<(), SegmentError> {
        self.frame_no += 1;
        self.poll();
        let due = self
            .last_submitted
            .is_none_or(|last| self.frame_no >= last + self.settings.interval);
        if due && !self.in_flight && self.failed.is_none() {
            self.submit(format, width, height, frame);
        }
        let fresh = |s: &Schedule| {
            s.current
                .as_ref()
                .is_some_and(|c| s.frame_no - c.frame_no <= s.settings.max_age)
        };
        if !fresh(self) && self.failed.is_none() {
            if !self.in_flight {
                self.submit(format, width, height, frame);
            }
            // No usable boxes: wait for the run in flight. This frame will most likely be
            // late (black); the point is that the next ones are covered.
            match self.results.recv_timeout(self.settings.max_wait) {
                Ok(r) => self.accept(r),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(SegmentError("person detector too slow".into()))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.failed = Some("detector thread stopped".into());
                }
            }
            self.poll();
        }
        if let Some(msg) = &self.failed {
            return Err(SegmentError(format!("person detector failed: {msg}")));
        }
        if !fresh(self) {
            return Err(SegmentError("person detector result too old".into()));
        }
        Ok(())
    }

    /// The motion mask's settings (`None`: no motion mask).
    pub(crate) fn motion_config(&self) -> Option<MotionConfig> {
        self.settings.motion
    }

    /// Number of the current frame (counted from 1 by [`step`](Self::step)).
    pub(crate) fn frame_no(&self) -> u64 {
        self.frame_no
    }

    /// Whether the current frame was handed to the detector.
    pub(crate) fn submitted_this_frame(&self) -> bool {
        self.last_submitted == Some(self.frame_no)
    }

    /// The frame the newest detector result was computed on.
    pub(crate) fn newest_result(&self) -> Option<u64> {
        self.current.as_ref().map(|c| c.frame_no)
    }

    /// Paints the held boxes (grown by margin and age) into `mask` (`mw x mh`, the whole
    /// frame squashed) as certain person (255).
    pub(crate) fn paint(&self, mask: &mut [u8], mw: usize, mh: usize) {
        self.paint_grown(mask, mw, mh, 0.0);
    }

    fn paint_grown(&self, mask: &mut [u8], mw: usize, mh: usize, extra: f32) {
        let mut s = self.settings;
        s.margin += extra;
        for held in [&self.current, &self.previous].into_iter().flatten() {
            let age = self.frame_no.saturating_sub(held.frame_no) as f32;
            for b in &held.boxes {
                paint_box(mask, mw, mh, grown(b, s, age));
            }
        }
    }

    /// With a segmenter gate, clears the segmenter's map outside the neighbourhood of the
    /// held boxes (each grown by the gate's extra margin). `scratch` is reused.
    pub(crate) fn gate(&self, map: &mut [u8], mw: usize, mh: usize, scratch: &mut Vec<u8>) {
        let Some(extra) = self.settings.gate else {
            return;
        };
        scratch.clear();
        scratch.resize(mw * mh, 0);
        self.paint_grown(scratch, mw, mh, extra);
        for (v, &g) in map.iter_mut().zip(scratch.iter()) {
            if g == 0 {
                *v = 0;
            }
        }
    }
}

/// A box grown by the margin (fraction of its own size, each side) and by the motion
/// allowance (fraction of its height per frame of age, each side: people move about one
/// body height per second, and box height is the size cue that does not depend on pose).
pub(crate) fn grown(b: &Detection, s: ScheduleSettings, age: f32) -> [f32; 4] {
    let (w, h) = ((b.x1 - b.x0).max(0.0), (b.y1 - b.y0).max(0.0));
    let motion = s.growth_per_frame * h * age;
    [
        b.x0 - s.margin * w - motion,
        b.y0 - s.margin * h - motion * 0.5,
        b.x1 + s.margin * w + motion,
        b.y1 + s.margin * h + motion * 0.5,
    ]
}

/// Sets every mask cell the box touches to 255 (rounded outwards).
pub(crate) fn paint_box(mask: &mut [u8], mw: usize, mh: usize, b: [f32; 4]) {
    // A NaN edge goes to the frame's edge: an undefined box covers more, never less.
    let low = |v: f32, n: usize| {
        if v.is_nan() {
            0
        } else {
            v.clamp(0.0, n as f32) as usize
        }
    };
    let high = |v: f32, n: usize| {
        if v.is_nan() {
            n
        } else {
            v.clamp(0.0, n as f32) as usize
        }
    };
    let x0 = low((b[0] * mw as f32).floor(), mw);
    let y0 = low((b[1] * mh as f32).floor(), mh);
    let x1 = high((b[2] * mw as f32).ceil(), mw);
    let y1 = high((b[3] * mh as f32).ceil(), mh);
    if x0 >= x1 || y0 >= y1 {
        return;
    }
    for row in mask.chunks_exact_mut(mw).skip(y0).take(y1 - y0) {
        row[x0..x1].fill(255);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ScheduleSettings {
        ScheduleSettings {
            interval: 3,
            max_age: 12,
            margin: 0.1,
            growth_per_frame: 0.05,
            max_wait: Duration::from_secs(1),
            gate: None,
            motion: None,
            nice: 0,
        }
    }

    #[test]
    fn boxes_grow_with_age() {
        let b = Detection {
            x0: 0.4,
            y0: 0.2,
            x1: 0.5,
            y1: 0.6,
            score: 0.9,
        };
        let g0 = grown(&b, settings(), 0.0);
        let g4 = grown(&b, settings(), 4.0);
        assert!((g0[0] - 0.39).abs() < 1e-6 && (g0[3] - 0.64).abs() < 1e-6);
        assert!(g4[0] < g0[0] && g4[1] < g0[1] && g4[2] > g0[2] && g4[3] > g0[3]);
        assert!((g0[0] - g4[0] - 0.05 * 0.4 * 4.0).abs() < 1e-5);
    }

    #[test]
    fn paint_box_rounds_outwards_and_clips() {
        let mut mask = vec![0u8; 10 * 4];
        paint_box(&mut mask, 10, 4, [0.15, 0.3, 0.31, 0.5]);
        let rows: Vec<&[u8]> = mask.chunks(10).collect();
        assert_eq!(rows[0], &[0; 10]);
        assert_eq!(rows[1], &[0, 255, 255, 255, 0, 0, 0, 0, 0, 0]);
        assert_eq!(rows[2], &[0; 10]);
        let mut mask = vec![0u8; 10 * 4];
        paint_box(&mut mask, 10, 4, [-1.0, -1.0, 2.0, f32::NAN]);
        assert!(
            mask.iter().all(|&v| v == 255),
            "a NaN edge covers to the frame edge"
        );
        let mut mask = vec![0u8; 10 * 4];
        paint_box(&mut mask, 10, 4, [0.5, 0.5, 0.2, 0.9]);
        assert!(
            mask.iter().all(|&v| v == 0),
            "an inverted box paints nothing"
        );
    }
}
