//! The loss we measure on what the peer sends, as the voice encoder's FEC and bitrate use
//! it: smoothed over the last several seconds, weighted by packets. A talking peer sends
//! 50 audio packets a second, a silent one (Opus DTX) two or three; one lost packet in a
//! silent second read alone as 33 % loss would swing the encoder between its lowest and
//! highest bitrate, while waiting for a fixed number of packets would leave a short call
//! with a silent peer without any estimate.

/// The weight the past keeps at each stats interval (about a second): the estimate rests
/// mostly on the last ten or so.
pub(crate) const DECAY: f64 = 0.85;
/// Packets (weighted) before there is an estimate at all.
pub(crate) const MIN_PACKETS: f64 = 5.0;

/// Lost and received packets, both decaying at [`DECAY`] per interval.
#[derive(Debug, Default)]
pub(crate) struct LossWindow {
    lost: f64,
    total: f64,
}

impl LossWindow {
    /// Adds one stats interval (`lost` and `received` packets) and returns the estimate:
    /// the weighted share lost, `None` until [`MIN_PACKETS`] have been seen.
    pub(crate) fn add(&mut self, lost: u64, received: u64) -> Option<f64> {
        self.lost = self.lost * DECAY + lost as f64;
        self.total = self.total * DECAY + (lost + received) as f64;
        (self.total >= MIN_PACKETS).then(|| self.lost / self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_peers_few_packets_do_not_swing_the_estimate() {
        let mut window = LossWindow::default();
        // Too little to say anything yet.
        assert_eq!(window.add(0, 3), None);
        // A second of speech at 10 % loss.
        let speech = window.add(5, 45).unwrap();
        assert!((speech - 0.10).abs() < 0.01, "{speech}");
        // Then silence: three packets a second, one of them lost. Alone that second
        // reads 33 %; weighted with the speech before it, about 11 %.
        let one_lost = window.add(1, 2).unwrap();
        assert!(one_lost < 0.13, "{one_lost}");
        // Thirty quiet seconds without loss bring it down to almost nothing.
        let mut quiet = one_lost;
        for _ in 0..30 {
            quiet = window.add(0, 3).unwrap();
        }
        assert!(quiet < 0.01, "{quiet}");
    }

    #[test]
    fn a_silent_peer_alone_still_gives_an_estimate_within_seconds() {
        let mut window = LossWindow::default();
        // 10 % loss on a DTX stream: one packet in ten, about three a second.
        let mut estimate = None;
        for second in 0..12 {
            let lost = u64::from(second % 3 == 2);
            estimate = window.add(lost, 3 - lost);
            if second == 1 {
                assert!(estimate.is_some(), "an estimate after two seconds");
            }
        }
        let e = estimate.unwrap();
        assert!((0.05..0.2).contains(&e), "{e}");
    }
}
