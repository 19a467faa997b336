//! `/metrics` in Prometheus's text format and `/readyz`: counts only. Nothing here names a
//! room, a participant, a wallet or an address; media server names are the operator's own
//! configuration. The forwarded bitrate is `rate(phantomcall_media_forwarded_bytes_total[1m])
//! * 8` on the Prometheus side.

use std::fmt::Write as _;

use super::AppState;

/// The exposition text.
pub fn render(state: &AppState) -> String {
    let backend = state.conference.backend();
    let stats = backend.stats();
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    metric(
        "phantomcall_conference_rooms",
        "gauge",
        "Rooms the service holds (created, not ended).",
        state.conference.room_count() as u64,
    );
    metric(
        "phantomcall_media_rooms",
        "gauge",
        "Rooms with media on the backend.",
        stats.rooms,
    );
    metric(
        "phantomcall_media_participants",
        "gauge",
        "Participants with media on the backend.",
        stats.participants,
    );
    metric(
        "phantomcall_media_forwarded_bytes_total",
        "counter",
        "Payload bytes the embedded SFU forwarded (0 on Janus: see Janus's own counters).",
        stats.bytes_forwarded,
    );
    metric(
        "phantomcall_media_servers_up",
        "gauge",
        "Media servers reachable now.",
        stats.servers_up,
    );
    metric(
        "phantomcall_media_servers",
        "gauge",
        "Media servers configured.",
        stats.servers,
    );
    metric(
        "phantomcall_process_cpu_milliseconds_total",
        "counter",
        "CPU time this service process used (user and system).",
        process_cpu_ms().unwrap_or(0),
    );
    let loads = backend.server_loads();
    if !loads.is_empty() {
        let name = "phantomcall_media_server_participants";
        let _ = writeln!(
            out,
            "# HELP {name} Participants placed on each media server.\n# TYPE {name} gauge"
        );
        for (server, load) in loads {
            let server: String = server
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .collect();
            let _ = writeln!(out, "{name}{{server=\"{server}\"}} {load}");
        }
    }
    let _ = writeln!(
        out,
        "# HELP phantomcall_media_backend_info The media backend in use.\n\
         # TYPE phantomcall_media_backend_info gauge\n\
         phantomcall_media_backend_info{{backend=\"{}\"}} 1",
        backend.kind()
    );
    out
}

/// User plus system CPU time from `/proc/self/stat` (Linux), in milliseconds.
fn process_cpu_ms() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(ticks * 10)
}
