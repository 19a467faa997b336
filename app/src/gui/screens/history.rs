//! Recent calls: the local, encrypted call log, with clear-all; strangers' missed calls
//! as one line ("12 missed calls from unknown callers").

use eframe::egui::{self, RichText};

use crate::gui::action::Action;
use crate::gui::calllog::{CallLog, LogDirection, LogEntry};
use crate::gui::calls::clock;
use crate::gui::contacts::ContactBook;

/// What the history screen shows: rows of words, built once from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryView {
    /// One line per call, newest first; `None`: the log is not available.
    pub rows: Option<Vec<String>>,
    /// The coalesced line of strangers' missed calls, if any.
    pub strangers: Option<String>,
}

impl HistoryView {
    /// The view of `log` (`None`: not available), naming peers from `contacts`.
    pub fn new(log: Option<&CallLog>, contacts: &ContactBook) -> HistoryView {
        let Some(log) = log else {
            return HistoryView {
                rows: None,
                strangers: None,
            };
        };
        let rows = log.entries().iter().map(|e| row(e, contacts)).collect();
        let strangers = log.strangers().map(|s| {
            let calls = if s.missed == 1 { "call" } else { "calls" };
            format!(
                "{} missed {calls} from unknown callers · last {}",
                s.missed,
                when(s.last_at)
            )
        });
        HistoryView {
            rows: Some(rows),
            strangers,
        }
    }
}

fn row(e: &LogEntry, contacts: &ContactBook) -> String {
    let name = match nostr_signal::parse_public_key(&e.peer) {
        Ok(key) => contacts.display_name(&key),
        Err(_) => "unknown".into(),
    };
    let way = match e.direction {
        LogDirection::Outgoing => "outgoing",
        LogDirection::Incoming => "incoming",
    };
    let mut line = format!(
        "{name} · {way} · {} · {} · {}",
        e.result.label(),
        clock(std::time::Duration::from_secs(e.duration_secs)),
        when(e.started_at),
    );
    if let Some(quality) = &e.quality {
        line.push_str(&format!(" · {}", quality.line()));
    }
    line
}

/// Draws the call log.
pub fn show(view: &HistoryView, ui: &mut egui::Ui, out: &mut Vec<Action>) {
    ui.heading("Recent calls");
    ui.label(
        RichText::new(
            "Kept only on this computer, encrypted with a key derived from your identity. \
             Auto-delete is set per contact.",
        )
        .weak(),
    );
    let Some(rows) = &view.rows else {
        ui.label("The call log is not available.");
        return;
    };
    if let Some(line) = &view.strangers {
        ui.label(RichText::new(line).weak());
    }
    if rows.is_empty() {
        ui.label("No calls yet.");
    }
    egui::ScrollArea::vertical()
        .max_height(ui.available_height() - 40.0)
        .show(ui, |ui| {
            for row in rows {
                ui.label(row);
            }
        });
    if (!rows.is_empty() || view.strangers.is_some()) && ui.button("Clear all").clicked() {
        out.push(Action::ClearLog);
    }
}

/// A UTC time of day and date, without a time-zone database.
pub(crate) fn when(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::when(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::when(1_700_000_000), "2023-11-14 22:13 UTC");
    }
}
