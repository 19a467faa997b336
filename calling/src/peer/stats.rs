//! The figures of one peer connection that the UI and the demo show.

use webrtc::peer_connection::{RTCStatsReport, RTCStatsReportEntry};

/// A snapshot of one connection (webrtc-rs `getStats`, boiled down).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeerStats {
    /// Round-trip time of the selected candidate pair, milliseconds (STUN consent checks).
    pub rtt_ms: Option<f64>,
    /// Interarrival jitter of the incoming audio, milliseconds (RFC 3550).
    pub audio_jitter_ms: Option<f64>,
    /// Incoming RTP packets lost so far (all streams).
    pub packets_lost: i64,
    /// Incoming RTP packets received so far (all streams).
    pub packets_received: u64,
    /// Bytes received on the transport so far.
    pub bytes_received: u64,
    /// Bytes sent on the transport so far.
    pub bytes_sent: u64,
    /// Candidate type of our side of the selected pair (`host`, `srflx`, `prflx`,
    /// `relay`).
    pub local_candidate_type: Option<String>,
    /// Candidate type of the peer's side of the selected pair.
    pub remote_candidate_type: Option<String>,
    /// The congestion controller's current target, bits/s.
    pub target_bitrate_bps: u64,
}

impl PeerStats {
    /// Extracts the figures from a webrtc-rs report.
    pub fn from_report(report: &RTCStatsReport) -> Self {
        let mut stats = PeerStats::default();
        let transport = report.transport();
        if let Some(t) = transport {
            stats.bytes_received = t.bytes_received;
            stats.bytes_sent = t.bytes_sent;
        }
        let selected = transport
            .map(|t| t.selected_candidate_pair_id.clone())
            .filter(|id| !id.is_empty());
        let pair = report
            .candidate_pairs()
            .find(|p| Some(&p.stats.id) == selected.as_ref())
            .or_else(|| report.candidate_pairs().find(|p| p.nominated));
        if let Some(pair) = pair {
            if pair.current_round_trip_time > 0.0 {
                stats.rtt_ms = Some(pair.current_round_trip_time * 1000.0);
            }
            stats.local_candidate_type = candidate_type(report, &pair.local_candidate_id, true);
            stats.remote_candidate_type = candidate_type(report, &pair.remote_candidate_id, false);
        }
        for inbound in report.inbound_rtp_streams() {
            let received = &inbound.received_rtp_stream_stats;
            stats.packets_lost += received.packets_lost;
            stats.packets_received += received.packets_received;
            if received.rtp_stream_stats.kind
                == rtc::rtp_transceiver::rtp_sender::RtpCodecKind::Audio
            {
                // webrtc-rs fills this from the RTCP receiver report as is: RTP timestamp
                // units (RFC 3550 section 6.4.1), 48 kHz for Opus, despite its docs saying
                // seconds.
                stats.audio_jitter_ms = Some(received.jitter * 1000.0 / 48_000.0);
            }
        }
        stats
    }
}

/// The type of the candidate a pair names. webrtc-rs ids the candidate entries with a
/// prefix on the id the pair carries, so match on the suffix.
fn candidate_type(report: &RTCStatsReport, id: &str, local: bool) -> Option<String> {
    report.iter().find_map(|entry| match entry {
        RTCStatsReportEntry::LocalCandidate(c) if local && c.stats.id.ends_with(id) => {
            Some(c.candidate_type.to_string())
        }
        RTCStatsReportEntry::RemoteCandidate(c) if !local && c.stats.id.ends_with(id) => {
            Some(c.candidate_type.to_string())
        }
        _ => None,
    })
}
