//! Recent calls: the local, encrypted call log, with clear-all.

use eframe::egui::{self, RichText};

use crate::gui::app::PhantomApp;
use crate::gui::calllog::LogDirection;
use crate::gui::calls::clock;

/// Draws the call log.
pub fn show(app: &mut PhantomApp, ui: &mut egui::Ui) {
    ui.heading("Recent calls");
    ui.label(
        RichText::new(
            "Kept only on this computer, encrypted with a key derived from your identity. \
             Auto-delete is set per contact.",
        )
        .weak(),
    );
    let Some(log) = &app.log else {
        ui.label("The call log is not available.");
        return;
    };
    let rows: Vec<String> = log
        .entries()
        .iter()
        .map(|e| {
            let name = match nostr_signal::parse_public_key(&e.peer) {
                Ok(key) => app.contacts.display_name(&key),
                Err(_) => "unknown".into(),
            };
            let way = match e.direction {
                LogDirection::Outgoing => "outgoing",
                LogDirection::Incoming => "incoming",
            };
            format!(
                "{name} · {way} · {} · {} · {}",
                e.result.label(),
                clock(std::time::Duration::from_secs(e.duration_secs)),
                when(e.started_at),
            )
        })
        .collect();
    if rows.is_empty() {
        ui.label("No calls yet.");
    }
    egui::ScrollArea::vertical()
        .max_height(ui.available_height() - 40.0)
        .show(ui, |ui| {
            for row in &rows {
                ui.label(row);
            }
        });
    if !rows.is_empty() && ui.button("Clear all").clicked() {
        app.clear_log();
    }
}

/// A UTC time of day and date, without a time-zone database.
fn when(unix: u64) -> String {
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
