//! The call-quality indicator: good / fair / poor with the reason in words, from the
//! engine's figures of the last second (loss, concealment, round trip, jitter), and the
//! call's summary for the call log (figures only; no audio is ever stored).

use calling::CallStats;
use serde::{Deserialize, Serialize};

/// Round trips up to this are good (ITU-T G.114 puts one-way delay under 150 ms as
/// unnoticed).
const GOOD_RTT_MS: f64 = 150.0;
/// Up to this fair; beyond it people talk over each other.
const FAIR_RTT_MS: f64 = 400.0;
/// Jitter above this makes the playout buffer grow or conceal.
const FAIR_JITTER_MS: f64 = 30.0;
const POOR_JITTER_MS: f64 = 60.0;
/// Loss shares (incoming packets) for fair and poor: Opus hides about 2 % well.
const FAIR_LOSS: f64 = 0.02;
const POOR_LOSS: f64 = 0.08;
/// Concealed audio shares (frames the decoder had to invent) for fair and poor.
const FAIR_CONCEALED: f64 = 0.05;
const POOR_CONCEALED: f64 = 0.15;

/// How the call sounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QualityLevel {
    /// Nothing to notice.
    Good,
    /// Noticeable: some gaps or delay.
    Fair,
    /// Hard to talk.
    Poor,
}

impl QualityLevel {
    /// The word the UI shows.
    pub fn word(self) -> &'static str {
        match self {
            QualityLevel::Good => "good",
            QualityLevel::Fair => "fair",
            QualityLevel::Poor => "poor",
        }
    }
}

/// The quality now and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// The level.
    pub level: QualityLevel,
    /// What makes it less than good, in words ("the connection is losing 8 % of packets").
    pub reason: Option<String>,
}

/// A finished call's quality, kept in the call log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualitySummary {
    /// The worst level any second of the call had.
    pub worst: QualityLevel,
    /// Incoming packets lost over the whole call, percent.
    pub loss_percent: f64,
    /// Audio concealed over the whole call, percent.
    pub concealed_percent: f64,
    /// The highest round trip measured, ms.
    pub max_rtt_ms: Option<f64>,
    /// Why the worst second was not good.
    pub worst_reason: Option<String>,
}

impl QualitySummary {
    /// One line for the call log ("quality fair: 3.1 % of packets lost, round trip up to
    /// 180 ms").
    pub fn line(&self) -> String {
        let mut parts = vec![format!("{:.1} % lost", self.loss_percent)];
        if self.concealed_percent >= 0.1 {
            parts.push(format!("{:.1} % concealed", self.concealed_percent));
        }
        if let Some(rtt) = self.max_rtt_ms {
            parts.push(format!("round trip up to {rtt:.0} ms"));
        }
        format!("quality {}: {}", self.worst.word(), parts.join(", "))
    }
}

/// Counters at one report.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    lost: i64,
    received: u64,
    played: u64,
    concealed: u64,
}

impl Counts {
    fn of(stats: &CallStats) -> Self {
        Self {
            lost: stats.peer.packets_lost.max(0),
            received: stats.peer.packets_received,
            // A peer's DTX silence is played as comfort noise: audio heard as sent, so it
            // counts with the played frames, never as concealment.
            played: stats.audio_frames_played + stats.audio_frames_comfort,
            concealed: stats.audio_frames_concealed,
        }
    }
}

/// Follows one call's figures, report by report.
#[derive(Debug, Clone, Default)]
pub struct QualityMeter {
    first: Option<Counts>,
    last: Option<Counts>,
    now: Option<Assessment>,
    worst: Option<Assessment>,
    max_rtt_ms: Option<f64>,
}

/// `part / whole`, 0 when there is no whole.
fn share(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        part / whole
    } else {
        0.0
    }
}

impl QualityMeter {
    /// Takes the engine's latest figures (about once a second).
    pub fn update(&mut self, stats: &CallStats) {
        let counts = Counts::of(stats);
        self.first.get_or_insert(counts);
        let last = self.last.replace(counts).unwrap_or(counts);
        if let Some(rtt) = stats.peer.rtt_ms {
            self.max_rtt_ms = Some(self.max_rtt_ms.map_or(rtt, |m| m.max(rtt)));
        }
        if !stats.media_up {
            self.now = None;
            return;
        }
        let lost = (counts.lost - last.lost).max(0) as f64;
        let received = counts.received.saturating_sub(last.received) as f64;
        let concealed = counts.concealed.saturating_sub(last.concealed) as f64;
        let played = counts.played.saturating_sub(last.played) as f64;
        let now = assess(
            share(lost, lost + received),
            share(concealed, concealed + played),
            stats.peer.rtt_ms,
            stats.peer.audio_jitter_ms,
        );
        if self.worst.as_ref().is_none_or(|w| now.level > w.level) {
            self.worst = Some(now.clone());
        }
        self.now = Some(now);
    }

    /// The quality of the last second; `None` before the first figures or while the media
    /// path is down.
    pub fn now(&self) -> Option<&Assessment> {
        self.now.as_ref()
    }

    /// The call's summary so far; `None` if no figures came while connected.
    pub fn summary(&self) -> Option<QualitySummary> {
        let worst = self.worst.clone()?;
        let (first, last) = (self.first?, self.last?);
        let lost = (last.lost - first.lost).max(0) as f64;
        let received = last.received.saturating_sub(first.received) as f64;
        let concealed = last.concealed.saturating_sub(first.concealed) as f64;
        let played = last.played.saturating_sub(first.played) as f64;
        Some(QualitySummary {
            worst: worst.level,
            loss_percent: 100.0 * share(lost, lost + received),
            concealed_percent: 100.0 * share(concealed, concealed + played),
            max_rtt_ms: self.max_rtt_ms,
            worst_reason: worst.reason,
        })
    }
}

/// The level and the reason from one interval's figures: the worst of its parts decides,
/// and the reason names that part.
fn assess(loss: f64, concealed: f64, rtt_ms: Option<f64>, jitter_ms: Option<f64>) -> Assessment {
    let grade = |value: f64, fair: f64, poor: f64| {
        if value >= poor {
            QualityLevel::Poor
        } else if value >= fair {
            QualityLevel::Fair
        } else {
            QualityLevel::Good
        }
    };
    let mut parts = vec![
        (
            grade(loss, FAIR_LOSS, POOR_LOSS),
            format!(
                "the connection is losing {:.0} % of packets",
                (loss * 100.0).max(1.0)
            ),
        ),
        (
            grade(concealed, FAIR_CONCEALED, POOR_CONCEALED),
            format!(
                "{:.0} % of the audio had gaps filled in",
                (concealed * 100.0).max(1.0)
            ),
        ),
    ];
    if let Some(rtt) = rtt_ms {
        parts.push((
            grade(rtt, GOOD_RTT_MS, FAIR_RTT_MS),
            format!("long delay: {rtt:.0} ms round trip"),
        ));
    }
    if let Some(jitter) = jitter_ms {
        parts.push((
            grade(jitter, FAIR_JITTER_MS, POOR_JITTER_MS),
            format!("uneven delivery: {jitter:.0} ms of jitter"),
        ));
    }
    // The first part of the worst level: loss before concealment before delay.
    let level = parts
        .iter()
        .map(|(l, _)| *l)
        .max()
        .unwrap_or(QualityLevel::Good);
    let reason = (level != QualityLevel::Good)
        .then(|| parts.into_iter().find(|(l, _)| *l == level).map(|(_, r)| r))
        .flatten();
    Assessment { level, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(lost: i64, received: u64, played: u64, concealed: u64, rtt: f64) -> CallStats {
        let mut s = CallStats {
            media_up: true,
            audio_frames_played: played,
            audio_frames_concealed: concealed,
            ..CallStats::default()
        };
        s.peer.packets_lost = lost;
        s.peer.packets_received = received;
        s.peer.rtt_ms = Some(rtt);
        s
    }

    #[test]
    fn a_clean_second_is_good_without_a_reason() {
        let mut meter = QualityMeter::default();
        meter.update(&stats(0, 0, 0, 0, 20.0));
        meter.update(&stats(0, 100, 50, 0, 20.0));
        let now = meter.now().unwrap();
        assert_eq!(now.level, QualityLevel::Good);
        assert_eq!(now.reason, None);
    }

    #[test]
    fn loss_in_the_last_second_names_its_share() {
        let mut meter = QualityMeter::default();
        meter.update(&stats(0, 1000, 500, 0, 20.0));
        // 8 lost of 100 in the last second: poor, whatever came before.
        meter.update(&stats(8, 1092, 550, 2, 20.0));
        let now = meter.now().unwrap();
        assert_eq!(now.level, QualityLevel::Poor);
        assert_eq!(
            now.reason.as_deref(),
            Some("the connection is losing 8 % of packets")
        );
        // A clean second after it is good again; the summary keeps the worst.
        meter.update(&stats(8, 1192, 600, 2, 20.0));
        assert_eq!(meter.now().unwrap().level, QualityLevel::Good);
        let summary = meter.summary().unwrap();
        assert_eq!(summary.worst, QualityLevel::Poor);
        assert!((summary.loss_percent - 8.0 / 200.0 * 100.0).abs() < 1e-9);
        assert_eq!(
            summary.line(),
            "quality poor: 4.0 % lost, 2.0 % concealed, round trip up to 20 ms"
        );
    }

    #[test]
    fn delay_and_jitter_lower_the_level_with_their_own_reason() {
        assert_eq!(
            assess(0.0, 0.0, Some(450.0), None),
            Assessment {
                level: QualityLevel::Poor,
                reason: Some("long delay: 450 ms round trip".into())
            }
        );
        let jittery = assess(0.0, 0.0, Some(30.0), Some(40.0));
        assert_eq!(jittery.level, QualityLevel::Fair);
        assert_eq!(
            jittery.reason.as_deref(),
            Some("uneven delivery: 40 ms of jitter")
        );
    }

    #[test]
    fn a_silent_peer_in_dtx_is_not_a_bad_line() {
        // One concealed frame in a second where the peer sent 3 packets and its silence
        // (DTX) was played as comfort noise for the other 46 turns: good, not "poor".
        let mut meter = QualityMeter::default();
        meter.update(&stats(0, 1000, 500, 0, 20.0));
        let mut quiet = stats(0, 1003, 503, 1, 20.0);
        quiet.audio_frames_comfort = 46;
        meter.update(&quiet);
        assert_eq!(meter.now().unwrap().level, QualityLevel::Good);
        // The same second without comfort noise counted would read 25 % concealed.
        assert_eq!(
            assess(0.0, 1.0 / 4.0, Some(20.0), None).level,
            QualityLevel::Poor
        );
    }

    #[test]
    fn nothing_is_judged_while_the_media_path_is_down() {
        let mut meter = QualityMeter::default();
        let mut down = stats(0, 0, 0, 0, 20.0);
        down.media_up = false;
        meter.update(&down);
        assert!(meter.now().is_none());
        assert!(meter.summary().is_none());
    }
}
