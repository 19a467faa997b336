//! The loss we measure on what the peer sends, as the voice encoder's FEC and bitrate use
//! it: over enough packets to mean something. A talking peer sends 50 audio packets a
//! second, a silent one (Opus DTX) two or three; one lost packet in a silent second read as
//! 33 % loss would swing the encoder between its lowest and highest bitrate.

/// Packets an estimate rests on: two seconds of speech, about twenty of silence.
pub(crate) const MIN_PACKETS: f64 = 100.0;

/// Loss counted until [`MIN_PACKETS`] have come or gone, then turned into an estimate
/// that holds until the next one.
#[derive(Debug, Default)]
pub(crate) struct LossWindow {
    lost: f64,
    received: f64,
    estimate: Option<f64>,
}

impl LossWindow {
    /// Adds one stats interval (`lost` and `received` packets) and returns the estimate:
    /// the share lost over the last full window, `None` until one has filled.
    pub(crate) fn add(&mut self, lost: u64, received: u64) -> Option<f64> {
        self.lost += lost as f64;
        self.received += received as f64;
        let total = self.lost + self.received;
        if total >= MIN_PACKETS {
            self.estimate = Some(self.lost / total);
            self.lost = 0.0;
            self.received = 0.0;
        }
        self.estimate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_peers_few_packets_do_not_swing_the_estimate() {
        let mut window = LossWindow::default();
        // Two seconds of speech at 10 % loss.
        assert_eq!(window.add(5, 45), None);
        let speech = window.add(5, 45).unwrap();
        assert!((speech - 0.10).abs() < 1e-9);
        // Then silence: three packets a second, one of them lost in the first second.
        // Per second that would read 33 %; the estimate holds until the window refills.
        assert_eq!(window.add(1, 2), Some(speech));
        for _ in 0..32 {
            assert_eq!(window.add(0, 3), Some(speech), "the window is not full yet");
        }
        // Thirty-three quiet seconds later the window (1 lost of 102) says about 1 %.
        let quiet = window.add(0, 3).unwrap();
        assert!(quiet < 0.02, "{quiet}");
    }
}
