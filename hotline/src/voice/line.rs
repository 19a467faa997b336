//! The waiting line's "devices": what a queued caller hears (a generated waiting tone,
//! and a short beep per place in the queue whenever their position is announced) and
//! where their voice goes: nowhere (the service never listens to a waiting caller), except
//! on a line that overflowed into voicemail, where a prompt tone plays and the caller's
//! audio after it goes to a [`Recorder`] (`voicemail_record.rs`).

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

use super::voicemail_record::Recorder;

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

/// The voicemail prompt: one 1 kHz tone of half a second (the usual "after the tone"
/// beep), after a short pause that ends whatever the line played before.
pub const PROMPT_TONE_HZ: f32 = 1000.0;
/// Length of the prompt tone.
pub const PROMPT_TONE: Duration = Duration::from_millis(500);

const SAMPLE_RATE: f64 = 48_000.0;
const BEEP_SAMPLES: usize = 7_200; // 150 ms
const GAP_SAMPLES: usize = 7_200;

/// One call's line: what is announced on it, and its voicemail recorder, if any.
#[derive(Default)]
struct Slot {
    announcements: VecDeque<i16>,
    /// The line records a voicemail: no waiting tone any more.
    voicemail: bool,
    recorder: Option<Recorder>,
}

type SharedSlot = Arc<Mutex<Slot>>;

fn lock(slot: &SharedSlot) -> std::sync::MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The waiting line of every queued call, found by call id.
#[derive(Clone, Default)]
pub struct WaitingLine {
    slots: Arc<Mutex<HashMap<CallId, SharedSlot>>>,
}

/// A voicemail being recorded on one line (held by the task that stores it, so the line
/// may be forgotten first).
pub struct VoicemailTap {
    slot: SharedSlot,
}

impl VoicemailTap {
    /// Whether the recording reached its maximum.
    pub fn is_full(&self) -> bool {
        lock(&self.slot)
            .recorder
            .as_ref()
            .is_some_and(Recorder::is_full)
    }

    /// Takes the recorder off the line (nothing more is recorded).
    pub fn take(&self) -> Option<Recorder> {
        lock(&self.slot).recorder.take()
    }
}

impl WaitingLine {
    fn slot_of(&self, call: &CallId) -> SharedSlot {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(*call)
            .or_default()
            .clone()
    }

    /// Plays `position` beeps (at most [`MAX_POSITION_BEEPS`]) on `call`'s line: the
    /// position update for callers whose client shows no queue (a NIP-AC client).
    pub fn announce_position(&self, call: &CallId, position: u32) {
        let slot = self.slot_of(call);
        let mut slot = lock(&slot);
        if slot.voicemail {
            return;
        }
        slot.announcements.clear();
        slot.announcements.extend(position_beeps(position));
    }

    /// Turns `call`'s line into a voicemail recorder of at most `max`: the waiting tone
    /// stops, the prompt tone plays, and the caller's audio is recorded from when it has
    /// played (works before the call's media is up too).
    pub fn start_voicemail(
        &self,
        call: &CallId,
        max: Duration,
    ) -> Result<VoicemailTap, AudioError> {
        let recorder = Recorder::new(max)?;
        let slot = self.slot_of(call);
        {
            let mut s = lock(&slot);
            s.voicemail = true;
            s.announcements.clear();
            s.announcements.extend(prompt_tone());
            s.recorder = Some(recorder);
        }
        Ok(VoicemailTap { slot })
    }

    /// Forgets `call`'s line (its call ended).
    pub fn forget(&self, call: &CallId) {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(call);
    }
}

fn beep(hz: f32, samples: usize) -> impl Iterator<Item = i16> {
    (0..samples).map(move |i| {
        let phase = f64::from(hz) * i as f64 / SAMPLE_RATE;
        (0.25 * f64::from(i16::MAX) * (TAU * phase).sin()).round() as i16
    })
}

/// `position` beeps of [`POSITION_BEEP_HZ`] (150 ms each, 150 ms apart), at least one.
pub fn position_beeps(position: u32) -> Vec<i16> {
    let beeps = position.clamp(1, MAX_POSITION_BEEPS) as usize;
    let mut out = Vec::with_capacity(beeps * (BEEP_SAMPLES + GAP_SAMPLES));
    for _ in 0..beeps {
        out.extend(beep(POSITION_BEEP_HZ, BEEP_SAMPLES));
        out.extend(std::iter::repeat_n(0, GAP_SAMPLES));
    }
    out
}

/// The voicemail prompt: 300 ms of silence, then [`PROMPT_TONE`] of [`PROMPT_TONE_HZ`].
pub fn prompt_tone() -> Vec<i16> {
    let tone = (PROMPT_TONE.as_millis() as usize) * 48;
    let mut out = vec![0; GAP_SAMPLES * 2];
    out.extend(beep(PROMPT_TONE_HZ, tone));
    out
}

/// The waiting tone with announcements laid over it; on a voicemail line, the prompt and
/// then silence.
struct WaitingTone {
    tone: ToneSource,
    slot: SharedSlot,
}

impl AudioSource for WaitingTone {
    fn read_frame(&mut self) -> Result<AudioFrame, AudioError> {
        let mut frame = self.tone.read_frame()?;
        let mut slot = lock(&self.slot);
        if !slot.announcements.is_empty() {
            for sample in frame.samples.iter_mut() {
                *sample = slot.announcements.pop_front().unwrap_or(0);
            }
        } else if slot.voicemail {
            frame.samples.fill(0);
        }
        // The prompt has played out: what the caller says from now on is the message.
        if slot.announcements.is_empty() {
            if let Some(recorder) = slot.recorder.as_mut().filter(|r| !r.is_armed()) {
                recorder.arm();
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
            slot: self.slot_of(&call),
        }))
    }
    fn speaker_for(
        &self,
        call: CallId,
        _participant: &PublicKey,
    ) -> Result<Box<dyn AudioSink>, AudioError> {
        // Only a voicemail recorder ever takes what the caller says.
        Ok(Box::new(VoicemailSink {
            slot: self.slot_of(&call),
        }))
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

/// The caller's audio: dropped, unless the line records a voicemail.
struct VoicemailSink {
    slot: SharedSlot,
}

impl AudioSink for VoicemailSink {
    fn write_frame(&mut self, samples: &[i16]) -> Result<(), AudioError> {
        if let Some(recorder) = lock(&self.slot).recorder.as_mut() {
            recorder.write(samples);
        }
        Ok(())
    }

    fn describe(&self) -> String {
        "hotline line (records voicemail only)".into()
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

    #[test]
    fn a_voicemail_line_plays_the_prompt_then_records_only_what_follows_it() {
        let line = WaitingLine::default();
        let call = CallId::new_random();
        let key = nostr_sdk::Keys::generate().public_key();
        let mut mic = line.microphone_for(call, &key).unwrap();
        let mut speaker = line.speaker_for(call, &key).unwrap();
        let tap = line.start_voicemail(&call, Duration::from_secs(2)).unwrap();
        let loud = vec![8000i16; 960];
        let prompt_frames = prompt_tone().len().div_ceil(960);
        let mut played = Vec::new();
        for _ in 0..prompt_frames {
            // Said over the prompt: not part of the message.
            speaker.write_frame(&loud).unwrap();
            played.extend(mic.read_frame().unwrap().samples);
        }
        assert!(
            media::audio::ToneCheck::detect(&played[played.len() - 9_600..], PROMPT_TONE_HZ)
                .dominant
        );
        // After the prompt: silence, no waiting tone; the caller's audio is recorded.
        assert!(mic.read_frame().unwrap().samples.iter().all(|&s| s == 0));
        for _ in 0..150 {
            speaker.write_frame(&loud).unwrap();
        }
        assert!(tap.is_full(), "2 s recorded, then the recorder is full");
        let recorded = tap.take().unwrap().finish().unwrap();
        assert_eq!(recorded.packets.len(), 100);
        line.announce_position(&call, 3);
        assert!(
            mic.read_frame().unwrap().samples.iter().all(|&s| s == 0),
            "no beeps on a voicemail line"
        );
    }
}
