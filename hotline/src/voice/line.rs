//! The waiting line's "devices": what a queued caller hears (a generated waiting tone,
//! and a short beep per place in the queue whenever their position is announced) and
//! where their voice goes (nowhere: the service never listens).

use std::collections::{HashMap, VecDeque};
use std::f64::consts::TAU;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use blackout::{BlackFrameFilter, PrivacyFilter};
use calling::{MediaDevices, RemoteVideoSink, ScreenTarget, ScreenTargets};
use media::audio::{AudioError, AudioFrame, AudioSink, AudioSource, NullSink, ToneSource};
use media::video::{DecodedFrame, ScreenSource, VideoError, VideoSource};
use nostr_signal::PublicKey;
use phantomcall_schemas::CallId;

/// The waiting tone: 425 Hz (the ITU's common "special information"/queue tone
/// frequency) for 0.4 s every 4 s: clearly "still connected", not a ring-back.
pub const WAITING_TONE_HZ: f32 = 425.0;
/// Period of the waiting tone.
pub const WAITING_TONE_PERIOD: Duration = Duration::from_secs(4);
/// Length of each waiting-tone burst.
pub const WAITING_TONE_BURST: Duration = Duration::from_millis(400);
/// Frequency of the position beeps (one per place ahead, at most [`MAX_POSITION_BEEPS`]).
pub const POSITION_BEEP_HZ: f32 = 880.0;
/// Most beeps one announcement plays ("9 or more").
pub const MAX_POSITION_BEEPS: u32 = 9;

const SAMPLE_RATE: f64 = 48_000.0;
const BEEP_SAMPLES: usize = 7_200; // 150 ms
const GAP_SAMPLES: usize = 7_200;

type Announcements = Arc<Mutex<VecDeque<i16>>>;

/// The waiting line of every queued call, found by call id.
#[derive(Clone, Default)]
pub struct WaitingLine {
    announcements: Arc<Mutex<HashMap<CallId, Announcements>>>,
}

impl WaitingLine {
    fn queue_of(&self, call: &CallId) -> Announcements {
        self.announcements
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(*call)
            .or_default()
            .clone()
    }

    /// Plays `position` beeps (at most [`MAX_POSITION_BEEPS`]) on `call`'s line: the
    /// position update for callers whose client shows no queue (a NIP-AC client).
    pub fn announce_position(&self, call: &CallId, position: u32) {
        let queue = self.queue_of(call);
        let mut samples = queue.lock().unwrap_or_else(PoisonError::into_inner);
        samples.clear();
        samples.extend(position_beeps(position));
    }

    /// Forgets `call`'s line (its call ended).
    pub fn forget(&self, call: &CallId) {
        self.announcements
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(call);
    }
}

/// `position` beeps of [`POSITION_BEEP_HZ`] (150 ms each, 150 ms apart), at least one.
pub fn position_beeps(position: u32) -> Vec<i16> {
    let beeps = position.clamp(1, MAX_POSITION_BEEPS) as usize;
    let mut out = Vec::with_capacity(beeps * (BEEP_SAMPLES + GAP_SAMPLES));
    for _ in 0..beeps {
        out.extend((0..BEEP_SAMPLES).map(|i| {
            let phase = f64::from(POSITION_BEEP_HZ) * i as f64 / SAMPLE_RATE;
            (0.25 * f64::from(i16::MAX) * (TAU * phase).sin()).round() as i16
        }));
        out.extend(std::iter::repeat_n(0, GAP_SAMPLES));
    }
    out
}

/// The waiting tone with announcements laid over it.
struct WaitingTone {
    tone: ToneSource,
    announcements: Announcements,
}

impl AudioSource for WaitingTone {
    fn read_frame(&mut self) -> Result<AudioFrame, AudioError> {
        let mut frame = self.tone.read_frame()?;
        let mut queued = self
            .announcements
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !queued.is_empty() {
            for sample in frame.samples.iter_mut() {
                *sample = queued.pop_front().unwrap_or(0);
            }
        }
        Ok(frame)
    }

    fn describe(&self) -> String {
        "hotline waiting tone".into()
    }
}

impl MediaDevices for WaitingLine {
    fn microphone(&self) -> Result<Box<dyn AudioSource>, AudioError> {
        Err(AudioError::Device {
            kind: "microphone",
            message: "a waiting line has a tone per call, not a microphone".into(),
        })
    }
    fn speaker(&self) -> Result<Box<dyn AudioSink>, AudioError> {
        Ok(Box::new(NullSink::new()))
    }
    fn microphone_for(
        &self,
        call: CallId,
        _participant: &PublicKey,
    ) -> Result<Box<dyn AudioSource>, AudioError> {
        let (tone, _) =
            ToneSource::bursts(WAITING_TONE_HZ, WAITING_TONE_PERIOD, WAITING_TONE_BURST);
        Ok(Box::new(WaitingTone {
            tone,
            announcements: self.queue_of(&call),
        }))
    }
    fn speaker_for(
        &self,
        _call: CallId,
        _participant: &PublicKey,
    ) -> Result<Box<dyn AudioSink>, AudioError> {
        // The service never listens to a caller.
        Ok(Box::new(NullSink::new()))
    }
    fn camera(&self) -> Result<Box<dyn VideoSource>, VideoError> {
        Err(VideoError::NoCamera)
    }
    fn privacy_filter(&self) -> Box<dyn PrivacyFilter> {
        Box::new(BlackFrameFilter::new())
    }
    fn remote_video(&self) -> Box<dyn RemoteVideoSink> {
        Box::new(Discard)
    }
    fn screen_targets(&self) -> ScreenTargets {
        ScreenTargets::default()
    }
    fn screen(&self, target: &ScreenTarget) -> Result<Box<dyn ScreenSource>, VideoError> {
        Err(VideoError::Screen(format!(
            "a hotline's waiting line shares no screen ({target})"
        )))
    }
    fn remote_screen(&self) -> Box<dyn RemoteVideoSink> {
        Box::new(Discard)
    }
}

/// Video nobody watches.
struct Discard;

impl RemoteVideoSink for Discard {
    fn on_frame(&mut self, _frame: &DecodedFrame) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_is_as_many_beeps_capped_at_nine() {
        let count = |samples: &[i16]| {
            samples
                .chunks(BEEP_SAMPLES)
                .filter(|c| c.iter().any(|s| s.unsigned_abs() > 1000))
                .count()
        };
        assert_eq!(count(&position_beeps(3)), 3);
        assert_eq!(count(&position_beeps(0)), 1);
        assert_eq!(count(&position_beeps(40)), MAX_POSITION_BEEPS as usize);
    }

    #[test]
    fn an_announcement_replaces_the_waiting_tone_then_the_tone_returns() {
        let line = WaitingLine::default();
        let call = CallId::new_random();
        let key = nostr_sdk::Keys::generate().public_key();
        let mut mic = line.microphone_for(call, &key).unwrap();
        line.announce_position(&call, 2);
        let frames = (2 * (BEEP_SAMPLES + GAP_SAMPLES)) / 960;
        let announced: Vec<i16> = (0..frames)
            .flat_map(|_| mic.read_frame().unwrap().samples)
            .collect();
        assert_eq!(announced, position_beeps(2)[..announced.len()]);
    }
}
