//! The figures of one peer connection that the UI and the demo show.

use std::net::{IpAddr, SocketAddr};

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
    /// Address of our side of the selected pair (a relay address on the TURN server in
    /// relay-only modes). For tests and diagnostics; never shown to the peer.
    pub local_address: Option<SocketAddr>,
    /// Address of the peer's side of the selected pair: where our packets go and where
    /// the peer's packets come from.
    pub remote_address: Option<SocketAddr>,
    /// The congestion controller's current target, bits/s.
    pub target_bitrate_bps: u64,
    /// Share of our audio packets the peer lost (0..=1), from its latest RTCP receiver
    /// report; `None` before the first one.
    pub audio_loss_reported: Option<f64>,
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
            if let Some((kind, address)) = candidate(report, &pair.local_candidate_id, true) {
                stats.local_candidate_type = Some(kind);
                stats.local_address = address;
            }
            if let Some((kind, address)) = candidate(report, &pair.remote_candidate_id, false) {
                stats.remote_candidate_type = Some(kind);
                stats.remote_address = address;
            }
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
        for entry in report.iter() {
            if let RTCStatsReportEntry::RemoteInboundRtp(remote) = entry {
                let kind = &remote.received_rtp_stream_stats.rtp_stream_stats.kind;
                if *kind == rtc::rtp_transceiver::rtp_sender::RtpCodecKind::Audio
                    && remote.fraction_lost.is_finite()
                {
                    stats.audio_loss_reported = Some(remote.fraction_lost.clamp(0.0, 1.0));
                }
            }
        }
        stats
    }
}

/// The type and address of the candidate a pair names. webrtc-rs ids the candidate
/// entries with a prefix on the id the pair carries, so match on the suffix.
fn candidate(
    report: &RTCStatsReport,
    id: &str,
    local: bool,
) -> Option<(String, Option<SocketAddr>)> {
    let describe = |c: &rtc::statistics::stats::ice_candidate::RTCIceCandidateStats| {
        let address = c
            .address
            .as_deref()
            .and_then(|a| a.parse::<IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, c.port));
        (c.candidate_type.to_string(), address)
    };
    report.iter().find_map(|entry| match entry {
        RTCStatsReportEntry::LocalCandidate(c) if local && c.stats.id.ends_with(id) => {
            Some(describe(c))
        }
        RTCStatsReportEntry::RemoteCandidate(c) if !local && c.stats.id.ends_with(id) => {
            Some(describe(c))
        }
        _ => None,
    })
}
