//! Active speaker and last-N, from the RFC 6464 audio level each publisher puts in the clear
//! header extension of its audio packets (the payload is SFrame ciphertext: the level is the
//! only thing about the sound the SFU can know).
//!
//! The rule, all of it (plain synchronous code fed with `now`, so it is tested in virtual
//! time):
//! - A packet's level is `0..=127` -dBov (0 loudest, 127 silence); it becomes a loudness
//!   `127 - level`, smoothed per publisher by an exponential moving average
//!   ([`SpeakerConfig::smoothing`] per packet: about 200 ms at 50 packets/s).
//! - A publisher is *speaking* while its smoothed loudness is at least
//!   [`SpeakerConfig::speaking_loudness`] and its last audio packet is less than
//!   [`SpeakerConfig::silence_after`] old (a muted or DTX sender stops counting).
//! - The *dominant* speaker is the first to speak when nobody is; another speaker takes over
//!   when the dominant one stops speaking, or when it is louder by
//!   [`SpeakerConfig::switch_margin`] after the dominant one has held the floor for
//!   [`SpeakerConfig::min_hold`] (no flapping between two voices of similar level).
//! - Last-N for a subscriber ranks the other publishers: the dominant speaker first, then
//!   those speaking now, longest-running turn first (stable while they keep talking), then
//!   those who spoke before, most recent first, then those who never spoke, in join order.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::ids::ParticipantId;

/// Tuning of the active-speaker rule (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct SpeakerConfig {
    /// Weight of each new packet in the moving average: higher reacts faster to a new voice
    /// but follows single loud packets (a cough, a door) too.
    pub smoothing: f32,
    /// Smoothed loudness (`127 - level`) from which a publisher counts as speaking: 77 is
    /// -50 dBov, above a quiet room's noise floor and below conversational speech.
    pub speaking_loudness: f32,
    /// No audio packet for this long: not speaking (muted, DTX, gone).
    pub silence_after: Duration,
    /// How much louder (dB) a challenger must be to take the floor from a speaking dominant
    /// speaker: smaller switches on every interjection.
    pub switch_margin: f32,
    /// How long the dominant speaker keeps the floor before a louder voice may take it.
    pub min_hold: Duration,
}

impl Default for SpeakerConfig {
    fn default() -> Self {
        Self {
            smoothing: 0.1,
            speaking_loudness: 77.0,
            silence_after: Duration::from_millis(500),
            switch_margin: 6.0,
            min_hold: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, Clone)]
struct Member {
    join_seq: u64,
    loudness: f32,
    last_packet: Option<Instant>,
    /// Start of the current speaking turn.
    turn_since: Option<Instant>,
    /// Last time it was speaking.
    last_spoke: Option<Instant>,
}

/// Who is speaking in one room.
#[derive(Debug, Clone)]
pub struct SpeakerTracker {
    config: SpeakerConfig,
    members: HashMap<ParticipantId, Member>,
    dominant: Option<(ParticipantId, Instant)>,
    next_seq: u64,
}

impl SpeakerTracker {
    /// An empty room.
    pub fn new(config: SpeakerConfig) -> Self {
        Self {
            config,
            members: HashMap::new(),
            dominant: None,
            next_seq: 0,
        }
    }

    /// A publisher joined (ranked after everyone before it until it speaks).
    pub fn add(&mut self, id: ParticipantId) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.members.entry(id).or_insert(Member {
            join_seq: seq,
            loudness: 0.0,
            last_packet: None,
            turn_since: None,
            last_spoke: None,
        });
    }

    /// A publisher left.
    pub fn remove(&mut self, id: &ParticipantId) {
        self.members.remove(id);
        if self.dominant.as_ref().is_some_and(|(d, _)| d == id) {
            self.dominant = None;
        }
    }

    fn speaking(&self, member: &Member, now: Instant) -> bool {
        member.loudness >= self.config.speaking_loudness
            && member
                .last_packet
                .is_some_and(|at| now.saturating_duration_since(at) < self.config.silence_after)
    }

    /// One audio packet of `id` with RFC 6464 `level` (-dBov, 0..=127) at `now`. Returns
    /// whether the dominant speaker changed.
    pub fn observe(&mut self, id: &ParticipantId, level: u8, now: Instant) -> bool {
        let alpha = self.config.smoothing;
        let Some(member) = self.members.get_mut(id) else {
            return false;
        };
        let loudness = 127.0 - f32::from(level.min(127));
        member.loudness += alpha * (loudness - member.loudness);
        member.last_packet = Some(now);
        let member = member.clone();
        let speaking = self.speaking(&member, now);
        let member = self.members.get_mut(id).expect("looked up above");
        if speaking {
            member.last_spoke = Some(now);
            member.turn_since.get_or_insert(now);
        } else {
            member.turn_since = None;
        }
        if !speaking {
            return false;
        }
        let take_floor = match &self.dominant {
            None => true,
            Some((current, _)) if current == id => false,
            Some((current, since)) => match self.members.get(current) {
                None => true,
                Some(cur) if !self.speaking(cur, now) => true,
                Some(cur) => {
                    now.saturating_duration_since(*since) >= self.config.min_hold
                        && loudness_of(&self.members, id) > cur.loudness + self.config.switch_margin
                }
            },
        };
        if take_floor {
            self.dominant = Some((id.clone(), now));
        }
        take_floor
    }

    /// The dominant speaker, if it is still speaking at `now`.
    pub fn dominant(&self, now: Instant) -> Option<&ParticipantId> {
        let (id, _) = self.dominant.as_ref()?;
        let member = self.members.get(id)?;
        self.speaking(member, now).then_some(id)
    }

    /// The `n` publishers whose video `subscriber` should get (never itself), best first.
    pub fn last_n(&self, n: usize, subscriber: &ParticipantId, now: Instant) -> Vec<ParticipantId> {
        let dominant = self.dominant(now).cloned();
        let mut ranked: Vec<(&ParticipantId, &Member)> = self
            .members
            .iter()
            .filter(|(id, _)| *id != subscriber)
            .collect();
        ranked.sort_by(|(a_id, a), (b_id, b)| {
            let class = |id: &ParticipantId, m: &Member| {
                if dominant.as_ref() == Some(id) {
                    0
                } else if self.speaking(m, now) {
                    1
                } else if m.last_spoke.is_some() {
                    2
                } else {
                    3
                }
            };
            let (ca, cb) = (class(a_id, a), class(b_id, b));
            ca.cmp(&cb)
                .then_with(|| match ca {
                    // Longest-running turn first.
                    1 => a.turn_since.cmp(&b.turn_since),
                    // Most recent first.
                    2 => b.last_spoke.cmp(&a.last_spoke),
                    _ => std::cmp::Ordering::Equal,
                })
                .then(a.join_seq.cmp(&b.join_seq))
        });
        ranked
            .into_iter()
            .take(n)
            .map(|(id, _)| id.clone())
            .collect()
    }
}

fn loudness_of(members: &HashMap<ParticipantId, Member>, id: &ParticipantId) -> f32 {
    members.get(id).map_or(0.0, |m| m.loudness)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<ParticipantId> {
        (0..n)
            .map(|i| ParticipantId::new(format!("participant-{i}")))
            .collect()
    }

    /// Feeds `level` for each of `who` every 20 ms for `span`.
    fn talk(
        t: &mut SpeakerTracker,
        now: &mut Instant,
        who: &[(&ParticipantId, u8)],
        span: Duration,
    ) {
        let end = *now + span;
        while *now < end {
            for (id, level) in who {
                t.observe(id, *level, *now);
            }
            *now += Duration::from_millis(20);
        }
    }

    #[test]
    fn a_voice_becomes_dominant_within_a_quarter_second_and_silence_is_never_dominant() {
        let p = ids(3);
        let mut t = SpeakerTracker::new(SpeakerConfig::default());
        p.iter().for_each(|id| t.add(id.clone()));
        let mut now = Instant::now();
        talk(
            &mut t,
            &mut now,
            &[(&p[0], 127), (&p[1], 127)],
            Duration::from_secs(1),
        );
        assert_eq!(t.dominant(now), None);
        talk(
            &mut t,
            &mut now,
            &[(&p[0], 127), (&p[1], 20)],
            Duration::from_millis(260),
        );
        assert_eq!(t.dominant(now), Some(&p[1]));
    }

    #[test]
    fn a_louder_voice_takes_the_floor_only_after_the_hold_and_by_the_margin() {
        let p = ids(2);
        let mut t = SpeakerTracker::new(SpeakerConfig::default());
        p.iter().for_each(|id| t.add(id.clone()));
        let mut now = Instant::now();
        talk(&mut t, &mut now, &[(&p[0], 30)], Duration::from_secs(1));
        assert_eq!(t.dominant(now), Some(&p[0]));
        // Similar level: no switch.
        talk(
            &mut t,
            &mut now,
            &[(&p[0], 30), (&p[1], 27)],
            Duration::from_secs(2),
        );
        assert_eq!(t.dominant(now), Some(&p[0]));
        // Much louder: switch.
        talk(
            &mut t,
            &mut now,
            &[(&p[0], 30), (&p[1], 5)],
            Duration::from_secs(1),
        );
        assert_eq!(t.dominant(now), Some(&p[1]));
        // The dominant one goes quiet (no packets): the other takes over.
        talk(&mut t, &mut now, &[(&p[0], 30)], Duration::from_secs(1));
        assert_eq!(t.dominant(now), Some(&p[0]));
    }

    #[test]
    fn last_n_prefers_speakers_then_recent_speakers_then_join_order_and_never_self() {
        let p = ids(5);
        let mut t = SpeakerTracker::new(SpeakerConfig::default());
        p.iter().for_each(|id| t.add(id.clone()));
        let mut now = Instant::now();
        // Nobody spoke: join order, without the subscriber.
        assert_eq!(t.last_n(2, &p[0], now), vec![p[1].clone(), p[2].clone()]);
        // p3 speaks, then stops; p4 speaks now.
        talk(&mut t, &mut now, &[(&p[3], 10)], Duration::from_secs(1));
        talk(&mut t, &mut now, &[(&p[4], 10)], Duration::from_secs(1));
        assert_eq!(t.last_n(2, &p[0], now), vec![p[4].clone(), p[3].clone()]);
        assert_eq!(
            t.last_n(3, &p[4], now),
            vec![p[3].clone(), p[0].clone(), p[1].clone()]
        );
        t.remove(&p[4]);
        assert_eq!(t.last_n(2, &p[0], now), vec![p[3].clone(), p[1].clone()]);
    }
}
