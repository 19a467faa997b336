//! RTP numbering of our Opus packets, kept here rather than by webrtc-rs's sample writer:
//! with discontinuous transmission (RFC 7587 section 3.4) the frames not sent during
//! silence must advance the timestamp but not the sequence number (a sequence gap would
//! be read as loss), and the sample writer can only advance both.

use rtc::rtp;

/// Sequence number and timestamp of the next audio packet of one track.
#[derive(Debug)]
pub(crate) struct AudioRtpClock {
    sequence: u16,
    timestamp: u32,
    /// The next packet starts a talkspurt (the first, and the first after frames were
    /// left unsent): RFC 3551 section 4.1 sets its marker bit.
    talkspurt: bool,
}

impl AudioRtpClock {
    /// A clock from random starting points (RFC 3550 section 5.1).
    pub fn new() -> Self {
        AudioRtpClock {
            sequence: fastrand::u16(..),
            timestamp: fastrand::u32(..),
            talkspurt: true,
        }
    }

    /// The packet carrying `payload`, after `unsent` frames of `samples_per_frame` each
    /// that were not sent (DTX); `samples_per_frame` is the frame's length in RTP
    /// timestamp units.
    pub fn packet(
        &mut self,
        payload: Vec<u8>,
        unsent: u32,
        samples_per_frame: u32,
        payload_type: u8,
        ssrc: u32,
    ) -> rtp::Packet {
        if unsent > 0 {
            self.timestamp = self
                .timestamp
                .wrapping_add(unsent.wrapping_mul(samples_per_frame));
            self.talkspurt = true;
        }
        let packet = rtp::Packet {
            header: rtp::header::Header {
                version: 2,
                marker: self.talkspurt,
                payload_type,
                sequence_number: self.sequence,
                timestamp: self.timestamp,
                ssrc,
                ..Default::default()
            },
            payload: payload.into(),
        };
        self.talkspurt = false;
        self.sequence = self.sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(samples_per_frame);
        packet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsent_frames_move_the_timestamp_but_not_the_sequence() {
        let mut clock = AudioRtpClock::new();
        let first = clock.packet(vec![1], 0, 960, 111, 7);
        let second = clock.packet(vec![2], 0, 960, 111, 7);
        assert!(first.header.marker && !second.header.marker);
        assert_eq!(
            second.header.sequence_number,
            first.header.sequence_number.wrapping_add(1)
        );
        assert_eq!(
            second.header.timestamp,
            first.header.timestamp.wrapping_add(960)
        );
        // Five frames of silence left unsent: the sequence goes on, time has moved six
        // frames, and the packet starts a talkspurt.
        let after = clock.packet(vec![3], 5, 960, 111, 7);
        assert_eq!(
            after.header.sequence_number,
            second.header.sequence_number.wrapping_add(1)
        );
        assert_eq!(
            after.header.timestamp,
            second.header.timestamp.wrapping_add(6 * 960)
        );
        assert!(after.header.marker);
        assert_eq!((after.header.payload_type, after.header.ssrc), (111, 7));
        assert_eq!(&after.payload[..], &[3]);
    }
}
