//! How long the UI thread spends on each frame, and the startup probe of
//! `scripts/perf.sh`.
//!
//! Every frame's time in [`super::PhantomApp::show`] (draining reports, the screens,
//! texture uploads) is recorded, split by whether a call was live, so the claim "the UI
//! thread never blocks more than 50 ms during a call" is measured where it holds: by the UI
//! test `gui_frame_times` and, with real rendering, by `scripts/perf.sh`.

use std::time::{Duration, Instant};

/// The most one frame may take on the UI thread during a call.
pub const UI_BUDGET: Duration = Duration::from_millis(50);
/// Frame times kept for percentiles (about 20 minutes of a call at 60 fps; bounded).
const MAX_SAMPLES: usize = 65_536;

/// Frame times of one kind of frame.
#[derive(Debug, Clone, Default)]
pub struct FrameStats {
    /// Frames recorded.
    pub frames: u64,
    /// Frames over [`UI_BUDGET`].
    pub over_budget: u64,
    /// The longest frame.
    pub max: Duration,
    samples: Vec<Duration>,
}

impl FrameStats {
    fn record(&mut self, d: Duration) {
        self.frames += 1;
        if d > UI_BUDGET {
            self.over_budget += 1;
        }
        self.max = self.max.max(d);
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push(d);
        }
    }

    /// The `p`-th percentile (0..=100) of the kept frame times.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.samples.is_empty() {
            return Duration::ZERO;
        }
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[i.min(sorted.len() - 1)]
    }

    /// One line: count, median, p99, max, frames over budget.
    pub fn summary(&self) -> String {
        format!(
            "{} frames, median {:.2} ms, p99 {:.2} ms, max {:.2} ms, over {} ms: {}",
            self.frames,
            ms(self.percentile(50.0)),
            ms(self.percentile(99.0)),
            ms(self.max),
            UI_BUDGET.as_millis(),
            self.over_budget
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Frame times, during calls and outside them.
#[derive(Debug, Clone, Default)]
pub struct FrameLog {
    /// Frames drawn while a call was live (ringing included): the app's own work.
    pub in_call: FrameStats,
    /// The other frames (the first ones load fonts and are slow on purpose).
    pub idle: FrameStats,
    /// Whole frames during calls in the real window, as eframe measures them: input, the
    /// app's work, tessellation and OpenGL painting (not the wait for the buffer swap).
    pub whole_in_call: FrameStats,
}

impl FrameLog {
    /// Records one frame that took `d`.
    pub fn record(&mut self, d: Duration, in_call: bool) {
        if in_call {
            self.in_call.record(d)
        } else {
            self.idle.record(d)
        }
    }

    /// Records a whole frame of the real window (eframe's `cpu_usage`) during a call.
    pub fn record_whole_in_call(&mut self, d: Duration) {
        self.whole_in_call.record(d)
    }
}

/// What `scripts/perf.sh` asks the app to measure (`PHANTOMCALL_PERF`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PerfMode {
    /// `startup`: print "perf: interactive" once the first frame has been presented and
    /// the event loop takes input again (the second frame begins), then close.
    Startup,
    /// `call:SECONDS`: after that long, print the frame-time log and close.
    Call(Duration),
}

impl PerfMode {
    /// From `PHANTOMCALL_PERF`; anything else is ignored with a warning.
    pub fn from_env() -> Option<PerfMode> {
        let value = std::env::var("PHANTOMCALL_PERF").ok()?;
        let mode = match value.split_once(':') {
            None if value == "startup" => Some(PerfMode::Startup),
            Some(("call", secs)) => secs
                .parse::<u64>()
                .ok()
                .filter(|s| (1..=3600).contains(s))
                .map(|s| PerfMode::Call(Duration::from_secs(s))),
            _ => None,
        };
        if mode.is_none() {
            tracing::warn!(%value, "PHANTOMCALL_PERF ignored: use startup or call:SECONDS");
        }
        mode
    }
}

/// Drives a [`PerfMode`] from the real window's frames.
pub struct PerfProbe {
    mode: PerfMode,
    started: Instant,
    frames: u64,
    done: bool,
}

impl PerfProbe {
    /// A probe started now.
    pub fn new(mode: PerfMode) -> PerfProbe {
        PerfProbe {
            mode,
            started: Instant::now(),
            frames: 0,
            done: false,
        }
    }

    /// Called at the start of each frame; `true` when the window should close.
    pub fn frame(&mut self, log: &FrameLog) -> bool {
        if self.done {
            return false;
        }
        self.frames += 1;
        let finished = match self.mode {
            PerfMode::Startup if self.frames == 2 => {
                eprintln!(
                    "perf: interactive {:.0} ms after the app was created",
                    ms(self.started.elapsed())
                );
                true
            }
            PerfMode::Call(d) if self.started.elapsed() >= d => {
                eprintln!("perf: frames during calls: {}", log.in_call.summary());
                eprintln!(
                    "perf: whole frames during calls (with painting): {}",
                    log.whole_in_call.summary()
                );
                eprintln!("perf: frames outside calls: {}", log.idle.summary());
                true
            }
            _ => false,
        };
        self.done = finished;
        finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_stats_count_what_goes_over_budget() {
        let mut log = FrameLog::default();
        for ms in [1, 2, 3, 60, 4] {
            log.record(Duration::from_millis(ms), true);
        }
        log.record(Duration::from_millis(200), false);
        assert_eq!(log.in_call.frames, 5);
        assert_eq!(log.in_call.over_budget, 1);
        assert_eq!(log.in_call.max, Duration::from_millis(60));
        assert_eq!(log.in_call.percentile(50.0), Duration::from_millis(3));
        assert_eq!(log.idle.over_budget, 1);
        assert!(log.in_call.summary().contains("over 50 ms: 1"));
    }
}
