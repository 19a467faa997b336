//! [`ClipSource`]: recorded samples played as a microphone (speech for the quality bench).

use std::sync::Arc;

use super::frame::{AudioError, AudioFrame, FRAME_SAMPLES};
use super::source::{pacing_suffix, AudioSource, Pacer};

/// Plays 48 kHz mono samples in a loop, one 20 ms frame at a time, paced in real time
/// (or not, for tests). An empty clip plays silence.
#[derive(Debug)]
pub struct ClipSource {
    samples: Arc<[i16]>,
    pacer: Pacer,
}

impl ClipSource {
    /// A paced source playing `samples` (48 kHz mono) over and over.
    pub fn new(samples: Arc<[i16]>) -> Self {
        ClipSource {
            samples,
            pacer: Pacer::new(),
        }
    }

    /// Real-time pacing on (the default) or off (frames returned at once, for tests).
    pub fn paced(mut self, paced: bool) -> Self {
        self.pacer.set_paced(paced);
        self
    }
}

impl AudioSource for ClipSource {
    fn read_frame(&mut self) -> Result<AudioFrame, AudioError> {
        let (index, captured_at) = self.pacer.next();
        let len = self.samples.len() as u64;
        let first = index * FRAME_SAMPLES as u64;
        let samples = (0..FRAME_SAMPLES as u64)
            .map(|k| match len {
                0 => 0,
                _ => self.samples[((first + k) % len) as usize],
            })
            .collect();
        Ok(AudioFrame {
            samples,
            captured_at,
        })
    }

    fn describe(&self) -> String {
        format!(
            "clip of {:.1} s{}",
            self.samples.len() as f64 / f64::from(super::SAMPLE_RATE),
            pacing_suffix(&self.pacer)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plays_the_clip_in_order_and_loops() {
        let clip: Arc<[i16]> = (0..1500).map(|n| n as i16).collect();
        let mut source = ClipSource::new(clip).paced(false);
        let first = source.read_frame().unwrap().samples;
        assert_eq!(first.len(), FRAME_SAMPLES);
        assert_eq!(&first[..3], &[0, 1, 2]);
        // 960 samples per frame: the second frame wraps after 540 of them.
        let second = source.read_frame().unwrap().samples;
        assert_eq!(second[0], 960);
        assert_eq!(second[539], 1499);
        assert_eq!(second[540], 0);
    }

    #[test]
    fn an_empty_clip_is_silence() {
        let mut source = ClipSource::new(Arc::from(Vec::new())).paced(false);
        assert!(source.read_frame().unwrap().samples.iter().all(|&s| s == 0));
    }
}
