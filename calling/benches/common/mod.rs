//! Measurements shared by the benches.

use std::time::Instant;

use calling::SyntheticDevices;

/// Mouth-to-ear latencies (ms): each tone burst heard at `receiver`'s speaker against the
/// burst `sender`'s tone source started last before it. Bursts come every 400 ms, so
/// anything later than 200 ms belongs to no burst of ours.
pub fn mouth_to_ear(sender: &SyntheticDevices, receiver: &SyntheticDevices) -> Vec<f64> {
    let captured: Vec<Instant> = sender
        .probes
        .burst_logs()
        .iter()
        .flat_map(|log| log.onsets())
        .collect();
    let mut latencies = Vec::new();
    for speaker in receiver.probes.speakers() {
        for played in speaker.onsets() {
            if let Some(cap) = captured.iter().filter(|c| **c <= played).max() {
                let ms = played.duration_since(*cap).as_secs_f64() * 1000.0;
                if ms < 200.0 {
                    latencies.push(ms);
                }
            }
        }
    }
    latencies
}
