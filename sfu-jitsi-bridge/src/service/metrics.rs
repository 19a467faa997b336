//! `/metrics` in Prometheus's text format and `/readyz`: counts only. Nothing here names a
//! room, a participant, a wallet or an address; media server names are the operator's own
//! configuration. The forwarded bitrate is `rate(phantomcall_media_forwarded_bytes_total[1m])
//! * 8` on the Prometheus side; on Janus the service also gives each instance's own rates
//! over its last poll (`phantomcall_media_server_*`, from Janus's Admin API).

use std::fmt::Write as _;

use super::AppState;
use crate::backend::ServerMedia;

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
        "Bytes forwarded to subscribers (embedded SFU: payload; Janus: RTP as its Admin API counts).",
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
            let _ = writeln!(out, "{name}{{server=\"{}\"}} {load}", label(&server));
        }
    }
    render_server_media(&mut out, &backend.server_media());
    let _ = writeln!(
        out,
        "# HELP phantomcall_media_backend_info The media backend in use.\n\
         # TYPE phantomcall_media_backend_info gauge\n\
         phantomcall_media_backend_info{{backend=\"{}\"}} 1",
        backend.kind()
    );
    out
}

/// A server name as a label value: the operator's own name, kept to safe characters.
fn label(server: &str) -> String {
    server
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect()
}

/// Each media server's forwarding figures (Janus). A stale server (its Admin API did not
/// answer lately) keeps its byte counter and `_stats_up 0`, and its rates are left out, so
/// Prometheus shows them as absent rather than as an old value.
fn render_server_media(out: &mut String, servers: &[ServerMedia]) {
    if servers.is_empty() {
        return;
    }
    type Pick = fn(&ServerMedia) -> Option<f64>;
    let families: [(&str, &str, &str, Pick); 4] = [
        (
            "phantomcall_media_server_stats_up",
            "gauge",
            "1 if the media server's counters were read at the last poll (Janus Admin API), else 0.",
            |s| Some(if s.fresh { 1.0 } else { 0.0 }),
        ),
        (
            "phantomcall_media_server_forwarded_bytes_total",
            "counter",
            "Bytes the media server sent to subscribers (RTP, summed from its handles' growth).",
            |s| Some(s.forwarded_bytes_total as f64),
        ),
        (
            "phantomcall_media_server_forwarded_bits_per_second",
            "gauge",
            "Bits per second the media server sent to subscribers over the last poll interval.",
            |s| s.forwarded_bits_per_second,
        ),
        (
            "phantomcall_media_server_received_bits_per_second",
            "gauge",
            "Bits per second the media server received from publishers over the last poll interval.",
            |s| s.received_bits_per_second,
        ),
    ];
    for (name, kind, help, pick) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for s in servers {
            if let Some(v) = pick(s) {
                let _ = writeln!(out, "{name}{{server=\"{}\"}} {v}", label(&s.server));
            }
        }
    }
    let name = "phantomcall_media_server_packet_loss_ratio";
    let _ = writeln!(
        out,
        "# HELP {name} Share of packets lost over the last poll interval: direction=\"in\" from \
         publishers to the server, \"out\" from the server to subscribers (their reports).\n\
         # TYPE {name} gauge"
    );
    for s in servers {
        for (direction, v) in [("in", s.loss_to_server), ("out", s.loss_to_subscribers)] {
            if let Some(v) = v {
                let server = label(&s.server);
                let _ = writeln!(
                    out,
                    "{name}{{server=\"{server}\",direction=\"{direction}\"}} {v}"
                );
            }
        }
    }
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
