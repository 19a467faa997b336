//! The operator's statistics screen: service level (answered within N s), answered,
//! abandoned, average wait and handle time, callbacks and voicemail, the queue now, and a
//! row per dispatcher (presence, calls taken today and in total, missed, declined). Drawn
//! from the same `ConsoleView` as the console; counters only, no caller is named.

use eframe::egui::{self, RichText};

use crate::gui::calls::clock;
use crate::gui::console::{percent, presence_text, ConsoleModel, ConsoleView};
use crate::gui::screens::dispatcher::presence_colour;

/// A tile's inner width, points.
const TILE_WIDTH: f32 = 150.0;

/// One figure of the screen: what it is, its value, and a line under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figure {
    /// What is counted.
    pub label: &'static str,
    /// The value, in words.
    pub value: String,
    /// What it means.
    pub detail: String,
}

/// The figures of `view`, in screen order (the screen's tiles; tests read them too).
pub fn figures(view: &ConsoleView, age: std::time::Duration) -> Vec<Figure> {
    let s = &view.stats;
    let threshold = view.service_level_threshold.as_secs();
    let dash = || "–".to_owned();
    let waiting: Vec<_> = view
        .entries
        .iter()
        .filter(|e| e.position.is_some())
        .collect();
    let longest = waiting.iter().map(|e| e.waited + age).max();
    vec![
        Figure {
            label: "Service level",
            value: view.service_level.map_or_else(dash, percent),
            detail: format!(
                "{} of {} answered within {threshold} s (abandoned count as missed)",
                s.answered_within_sl,
                s.answered + s.abandoned
            ),
        },
        Figure {
            label: "Answered",
            value: s.answered.to_string(),
            detail: format!("of {} queued", s.queued),
        },
        Figure {
            label: "Abandoned",
            value: s.abandoned.to_string(),
            detail: "hung up while waiting".into(),
        },
        Figure {
            label: "Average wait",
            value: s.average_wait().map_or_else(dash, clock),
            detail: "of answered calls".into(),
        },
        Figure {
            label: "Average handle time",
            value: s.average_handle().map_or_else(dash, clock),
            detail: format!("over {} completed", s.completed),
        },
        Figure {
            label: "Callbacks",
            value: s.callbacks_created.to_string(),
            detail: format!("created · {} placed", s.callbacks_placed),
        },
        Figure {
            label: "Voicemail",
            value: s.voicemail.to_string(),
            detail: "sent there by overflow".into(),
        },
        Figure {
            label: "Refused",
            value: s.refused.to_string(),
            detail: "by abuse limits, never as busy".into(),
        },
        Figure {
            label: "Waiting now",
            value: waiting.len().to_string(),
            detail: longest.map_or_else(
                || "nobody waits".into(),
                |l| format!("longest {}", clock(l)),
            ),
        },
    ]
}

/// Draws the statistics.
pub fn show(m: &ConsoleModel<'_>, ui: &mut egui::Ui) {
    ui.heading("Hotline statistics");
    let Some(view) = m.view else {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("Waiting for the hotline's first update…");
        });
        return;
    };
    ui.label(
        RichText::new(
            "Counters since the hotline's store was created. Callers are counted, never named.",
        )
        .weak(),
    );
    ui.add_space(6.0);
    egui::ScrollArea::vertical().show(ui, |ui| {
        // Rows of a fixed count: inside a scroll area a wrapping row has no width to
        // wrap at and runs off the window.
        let all = figures(view, m.age);
        let per_row = ((ui.available_width() / (TILE_WIDTH + 30.0)) as usize).max(1);
        for row in all.chunks(per_row) {
            ui.horizontal(|ui| {
                for f in row {
                    tile(ui, f);
                }
            });
        }
        ui.add_space(10.0);
        ui.label(RichText::new("Dispatchers").strong().size(16.0));
        egui::Grid::new("hotline-dispatchers")
            .striped(true)
            .spacing([18.0, 4.0])
            .show(ui, |ui| {
                for h in [
                    "Dispatcher",
                    "Presence",
                    "Taken today",
                    "Taken in total",
                    "Missed",
                    "Declined",
                ] {
                    ui.label(RichText::new(h).strong());
                }
                ui.end_row();
                for d in &view.dispatchers {
                    ui.label((m.names)(&d.npub));
                    ui.label(
                        RichText::new(presence_text(d.presence)).color(presence_colour(d.presence)),
                    );
                    ui.label(d.taken_today.to_string());
                    ui.label(d.taken_total.to_string());
                    ui.label(d.missed.to_string());
                    ui.label(d.declined.to_string());
                    ui.end_row();
                }
            });
    });
    ui.ctx()
        .request_repaint_after(std::time::Duration::from_secs(1));
}

/// One figure as a tile: the label, the value large, the detail small.
fn tile(ui: &mut egui::Ui, f: &Figure) {
    egui::Frame::group(ui.style())
        .corner_radius(8.0)
        .inner_margin(egui::Margin::same(10))
        .show(ui, |ui| {
            ui.set_width(TILE_WIDTH);
            ui.vertical(|ui| {
                ui.label(RichText::new(f.label).weak());
                ui.label(RichText::new(&f.value).size(24.0).strong());
                ui.label(RichText::new(&f.detail).small().weak());
            });
        });
}
