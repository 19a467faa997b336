//! Whether a remote member is speaking or muted, read from its decoded audio on the render
//! thread (sans-IO: [`VoiceMeter::observe`] takes one tick's frame and says what changed).
//!
//! "Muted" needs no message of its own: a muted PhantomCall sends digital silence (see
//! `audio::spawn_sender`), and so does a WebRTC client whose audio track is disabled, so a
//! NIP-AC member's mute shows too. A real microphone never delivers exact zeros, so a quiet
//! room does not look muted.

/// RMS above which a frame counts as speech: -45 dBFS (quiet speech is around -35, a
/// quiet room's noise floor below -55).
const SPEECH_RMS: f64 = 32768.0 * 0.005_623;
/// Loud frames in a row before "speaking" shows (40 ms: a click is not speech).
const ONSET_FRAMES: u32 = 2;
/// Quiet frames before "speaking" goes off again (300 ms: pauses between words).
const HANGOVER_FRAMES: u32 = 15;
/// Frames of digital silence in a row before the member shows as muted (500 ms).
const MUTED_FRAMES: u32 = 25;
/// A decoded frame whose samples all lie within this of zero is digital silence (the Opus
/// decoder may leave a least significant bit of dither).
const SILENCE_PEAK: i16 = 2;

/// A remote member's voice as the UI shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VoiceActivity {
    /// Its audio is above the speech level now.
    pub speaking: bool,
    /// It sends digital silence: its microphone is muted.
    pub muted: bool,
}

/// What the render stage had of one stream at one tick.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Tick<'a> {
    /// A frame decoded from a packet that arrived.
    Decoded(&'a [i16]),
    /// A concealed frame or nothing (loss, or no packet yet): says nothing about mute.
    Missing,
}

/// Follows one stream's voice activity, tick by tick.
#[derive(Debug, Default)]
pub(crate) struct VoiceMeter {
    shown: VoiceActivity,
    loud_run: u32,
    quiet_run: u32,
    silent_run: u32,
}

impl VoiceMeter {
    /// Takes one tick; returns the new activity when it changed.
    pub fn observe(&mut self, tick: Tick<'_>) -> Option<VoiceActivity> {
        let mut next = self.shown;
        let loud = match tick {
            Tick::Decoded(samples) => {
                let silent = samples
                    .iter()
                    .all(|s| s.unsigned_abs() <= SILENCE_PEAK as u16);
                self.silent_run = if silent { self.silent_run + 1 } else { 0 };
                if !silent {
                    next.muted = false;
                } else if self.silent_run >= MUTED_FRAMES {
                    next.muted = true;
                }
                rms(samples) > SPEECH_RMS
            }
            Tick::Missing => false,
        };
        if loud {
            self.loud_run += 1;
            self.quiet_run = 0;
            if self.loud_run >= ONSET_FRAMES {
                next.speaking = true;
            }
        } else {
            self.loud_run = 0;
            self.quiet_run += 1;
            if self.quiet_run >= HANGOVER_FRAMES || next.muted {
                next.speaking = false;
            }
        }
        (next != self.shown).then(|| {
            self.shown = next;
            next
        })
    }
}

fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use media::audio::{AudioSource, OpusDecoder, OpusEncoder, ToneSource, DEFAULT_BITRATE};

    use super::*;

    /// Decoded frames of `hz` at `level` (0 = digital silence), through a real Opus round
    /// trip, as the render stage gets them.
    fn decoded(hz: f32, level: f32, frames: usize) -> Vec<Vec<i16>> {
        let mut tone = ToneSource::new(hz, level.max(0.001)).paced(false);
        let mut encoder = OpusEncoder::new(DEFAULT_BITRATE).unwrap();
        let mut decoder = OpusDecoder::new().unwrap();
        (0..frames)
            .map(|_| {
                let mut samples = tone.read_frame().unwrap().samples;
                if level == 0.0 {
                    samples.fill(0);
                }
                let packet = encoder.encode(&samples).unwrap();
                decoder.decode(Some(&packet)).unwrap()
            })
            .collect()
    }

    /// Feeds frames; returns every change, with the index of the frame that caused it.
    fn changes(meter: &mut VoiceMeter, frames: &[Vec<i16>]) -> Vec<(usize, VoiceActivity)> {
        frames
            .iter()
            .enumerate()
            .filter_map(|(i, f)| meter.observe(Tick::Decoded(f)).map(|a| (i, a)))
            .collect()
    }

    #[test]
    fn speech_level_audio_shows_speaking_within_a_few_frames_and_stops_after_the_hangover() {
        let mut meter = VoiceMeter::default();
        let talk = decoded(300.0, 0.1, 20);
        let seen = changes(&mut meter, &talk);
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(seen[0].0 <= 4, "speaking shows within 100 ms: {seen:?}");
        assert!(seen[0].1.speaking && !seen[0].1.muted);
        // Quiet (but not digitally silent: a room's noise floor) after the talk.
        let quiet = decoded(300.0, 0.0008, 30);
        let seen = changes(&mut meter, &quiet);
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(!seen[0].1.speaking && !seen[0].1.muted, "{seen:?}");
        assert!(
            (HANGOVER_FRAMES as usize - 1..HANGOVER_FRAMES as usize + 2).contains(&seen[0].0),
            "speaking stops after the hangover, not at the first quiet frame: {seen:?}"
        );
    }

    #[test]
    fn a_quiet_room_is_not_speaking_and_not_muted() {
        let mut meter = VoiceMeter::default();
        assert!(changes(&mut meter, &decoded(200.0, 0.0008, 100)).is_empty());
    }

    #[test]
    fn digital_silence_through_opus_shows_muted_and_the_first_sound_unmutes() {
        let mut meter = VoiceMeter::default();
        let seen = changes(&mut meter, &decoded(0.0, 0.0, 60));
        assert_eq!(
            seen,
            vec![(
                MUTED_FRAMES as usize - 1,
                VoiceActivity {
                    speaking: false,
                    muted: true
                }
            )],
            "muted after half a second of the silence a muted sender encodes"
        );
        let seen = changes(&mut meter, &decoded(300.0, 0.1, 5));
        assert_eq!(seen.first().map(|(i, a)| (*i, a.muted)), Some((0, false)));
        assert!(seen.iter().any(|(_, a)| a.speaking));
    }

    #[test]
    fn lost_or_missing_frames_never_show_muted() {
        let mut meter = VoiceMeter::default();
        for _ in 0..200 {
            assert_eq!(meter.observe(Tick::Missing), None);
        }
    }

    #[test]
    fn a_single_click_is_not_speech() {
        let mut meter = VoiceMeter::default();
        let mut frames = decoded(200.0, 0.0008, 10);
        frames.insert(5, decoded(300.0, 0.3, 1).remove(0));
        assert!(changes(&mut meter, &frames).is_empty());
    }
}
