//! RFC 4733 telephone-events for the 16 DTMF keys.
//!
//! Sending: one event is a run of packets sharing the event's start timestamp, one per
//! 20 ms with a growing duration, the first with the marker bit, and the final packet
//! (end bit set) sent three times, as RFC 4733 section 2.5.1.4 recommends for loss.
//! Durations count the stream's RTP clock (8 kHz for G.711, 48 kHz for Opus).
//! Receiving: a key is reported once, when the first packet of its event arrives; the
//! event's start timestamp de-duplicates the rest, including the repeated end packets.

/// How long a key is held on the wire: 100 ms, long enough for every carrier's detector.
pub const TONE_PACKETS: u16 = 5;
/// The end packet is sent this many times.
pub const END_REPEATS: usize = 3;
/// Volume field: -10 dBm0, a typical keypad level.
const VOLUME: u8 = 10;

/// The event code of a key, if it is one of 0-9 * # A-D.
pub fn event_of(key: char) -> Option<u8> {
    match key.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        l @ 'A'..='D' => Some(l as u8 - b'A' + 12),
        _ => None,
    }
}

/// The key of an event code.
pub fn key_of(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

/// One telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    /// Event code.
    pub event: u8,
    /// End bit.
    pub end: bool,
    /// Volume (0..=63, in -dBm0).
    pub volume: u8,
    /// Duration in timestamp units since the event's start.
    pub duration: u16,
}

impl EventPayload {
    /// Reads the 4-byte payload (`None` if shorter).
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let b = payload.get(..4)?;
        Some(EventPayload {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3F,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// The 4 bytes on the wire.
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            u8::from(self.end) << 7 | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }
}

/// The payloads (and marker bits) of one key press, in send order, one per 20 ms tick.
/// `step` is 20 ms in the stream's RTP clock (160 at 8 kHz, 960 at 48 kHz): the
/// durations are counted in that clock, as the timestamps are.
pub fn key_press(event: u8, step: u16) -> Vec<(bool, EventPayload)> {
    let mut out = Vec::new();
    for i in 1..=TONE_PACKETS {
        out.push((
            i == 1,
            EventPayload {
                event,
                end: false,
                volume: VOLUME,
                duration: step.saturating_mul(i),
            },
        ));
    }
    let end = EventPayload {
        event,
        end: true,
        volume: VOLUME,
        duration: step.saturating_mul(TONE_PACKETS),
    };
    out.extend(std::iter::repeat_n((false, end), END_REPEATS));
    out
}

/// How many event starts are remembered for de-duplication.
const REMEMBERED: usize = 8;

/// Turns received telephone-event packets into keys, once per event.
#[derive(Debug, Default)]
pub struct DtmfReceiver {
    recent: std::collections::VecDeque<u32>,
}

impl DtmfReceiver {
    /// Feeds one packet (its RTP timestamp and payload); returns the key if this packet
    /// starts an event not seen before.
    pub fn receive(&mut self, timestamp: u32, payload: &[u8]) -> Option<char> {
        let event = EventPayload::parse(payload)?;
        let key = key_of(event.event)?;
        if self.recent.contains(&timestamp) {
            return None;
        }
        if self.recent.len() == REMEMBERED {
            self.recent.pop_front();
        }
        self.recent.push_back(timestamp);
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_both_ways() {
        for key in "0123456789*#ABCD".chars() {
            assert_eq!(key_of(event_of(key).unwrap()), Some(key));
        }
        assert_eq!(event_of('x'), None);
        assert_eq!(key_of(16), None);
    }

    #[test]
    fn a_press_is_marked_grows_and_ends_three_times() {
        let packets = key_press(5, 160);
        assert_eq!(packets.len(), 5 + 3);
        assert!(packets[0].0 && packets.iter().skip(1).all(|p| !p.0));
        assert_eq!(packets[4].1.duration, 800);
        assert!(packets[5..].iter().all(|p| p.1.end && p.1.duration == 800));
        let bytes = packets[6].1.to_bytes();
        assert_eq!(EventPayload::parse(&bytes), Some(packets[6].1));
    }

    #[test]
    fn a_press_beside_opus_lasts_100_ms_in_the_48_khz_clock() {
        let packets = key_press(5, 960);
        assert_eq!(packets[0].1.duration, 960);
        assert!(packets[5..]
            .iter()
            .all(|p| p.1.end && p.1.duration == 4_800));
    }

    #[test]
    fn one_key_per_event_even_with_repeats_and_reordering() {
        let mut rx = DtmfReceiver::default();
        let mut keys = String::new();
        for (ts, event) in [(1000u32, 1u8), (5000, 2)] {
            for (_, p) in key_press(event, 160) {
                keys.extend(rx.receive(ts, &p.to_bytes()));
            }
        }
        // A late straggler of the first event.
        keys.extend(rx.receive(1000, &key_press(1, 160)[7].1.to_bytes()));
        assert_eq!(keys, "12");
        assert_eq!(rx.receive(9000, &[1, 2]), None, "short payload");
    }
}
