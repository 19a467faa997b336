//! The dispatcher console: presence, the offer ringing here (answer / decline, or call
//! back), the current call (hold, note, transfer to a free colleague, end), the wrap-up
//! countdown, the live queue, the team and the hotline's voicemails (play, mark heard,
//! delete). It draws a [`ConsoleModel`] and pushes
//! [`ConsoleAction`]s; it keeps only the note being typed.
//!
//! Callers appear by their opaque per-hotline id; a caller's npub only where the snapshot
//! carries it (the operator's choice).

use eframe::egui::{self, Color32, RichText};

use crate::gui::calls::clock;
use crate::gui::console::{
    kind_text, percent, presence_text, state_text, ConsoleAction, ConsoleModel, DeskCall,
    DeskOffer, EntryId, EntryKind, Presence,
};
use crate::gui::widgets::{ERROR, SAFE, WARN};
use hotline::core::MAX_NOTE_CHARS;

/// The presences a dispatcher picks (wrap-up is the hotline's, after a call).
const PICKABLE: [Presence; 3] = [Presence::Available, Presence::Busy, Presence::Away];
/// How much of a note the queue table shows.
const NOTE_PREVIEW_CHARS: usize = 40;

/// A presence's colour: green free, red busy, orange wrap-up, grey away.
pub fn presence_colour(presence: Presence) -> Color32 {
    match presence {
        Presence::Available => SAFE,
        Presence::Busy => ERROR,
        Presence::WrapUp => WARN,
        Presence::Away => Color32::GRAY,
    }
}

/// The console: it owns the note being typed.
#[derive(Default)]
pub struct DispatcherScreen {
    /// The note as typed, for the entry named beside it.
    pub note: String,
    note_for: Option<EntryId>,
}

impl DispatcherScreen {
    /// Draws the console.
    pub fn show(&mut self, m: &ConsoleModel<'_>, ui: &mut egui::Ui, out: &mut Vec<ConsoleAction>) {
        header(m, ui, out);
        let Some(view) = m.view else {
            ui.add_space(12.0);
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Waiting for the hotline's first update…");
            });
            return;
        };
        if let Some(left) = m.desk.wrap_up_left {
            wrap_up(m.shrunk(left), ui, out);
        }
        if let Some(offer) = &m.desk.offer {
            offer_card(m, offer, ui, out);
        }
        match &m.desk.call {
            Some(call) => self.call_card(m, call, ui, out),
            None => self.note_for = None,
        }
        ui.add_space(8.0);
        egui::ScrollArea::vertical().show(ui, |ui| {
            queue(m, view, ui);
            ui.add_space(8.0);
            team(m, view, ui);
            ui.add_space(8.0);
            voicemails(m, ui, out);
        });
        // The clocks tick between snapshots.
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(500));
    }

    fn call_card(
        &mut self,
        m: &ConsoleModel<'_>,
        call: &DeskCall,
        ui: &mut egui::Ui,
        out: &mut Vec<ConsoleAction>,
    ) {
        if self.note_for != Some(call.entry) {
            self.note = call.note.clone().unwrap_or_default();
            self.note_for = Some(call.entry);
        }
        card(ui, if call.on_hold { WARN } else { SAFE }, |ui| {
            ui.horizontal_wrapped(|ui| {
                let what = match call.kind {
                    EntryKind::Live => "On call with",
                    EntryKind::Callback => "Calling back",
                };
                ui.heading(format!("{what} {}", call.caller));
                ui.label(
                    RichText::new(clock(m.grown(call.since)))
                        .monospace()
                        .size(16.0),
                );
                if call.on_hold {
                    ui.label(RichText::new("On hold").color(WARN).strong());
                }
            });
            if let Some(npub) = m.entry(call.entry).and_then(|e| e.caller_npub.as_deref()) {
                ui.label(RichText::new(format!("Caller's npub: {npub}")).monospace())
                    .on_hover_text("Shown because the hotline's operator allows it");
            }
            ui.horizontal(|ui| {
                let hold = if call.on_hold { "Resume" } else { "Hold" };
                if ui.button(hold).clicked() {
                    out.push(ConsoleAction::Hold(call.entry, !call.on_hold));
                }
                let end = egui::Button::new(RichText::new("End call").color(Color32::WHITE))
                    .fill(Color32::from_rgb(0xC6, 0x28, 0x28));
                if ui.add(end).clicked() {
                    out.push(ConsoleAction::End(call.entry));
                }
            });
            ui.add_space(4.0);
            let label =
                ui.label(RichText::new("Note (seen by the hotline's dispatchers)").strong());
            ui.add(
                egui::TextEdit::multiline(&mut self.note)
                    .desired_rows(2)
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(label.id);
            ui.horizontal(|ui| {
                let chars = self.note.chars().count();
                let changed = self.note != call.note.clone().unwrap_or_default();
                let fits = chars <= MAX_NOTE_CHARS;
                if ui
                    .add_enabled(changed && fits, egui::Button::new("Save note"))
                    .clicked()
                {
                    out.push(ConsoleAction::SaveNote(
                        call.entry,
                        self.note.trim().to_owned(),
                    ));
                }
                if !fits {
                    ui.label(
                        RichText::new(format!("{chars} of at most {MAX_NOTE_CHARS} characters"))
                            .color(ERROR),
                    );
                }
            });
            ui.add_space(4.0);
            ui.label(RichText::new("Transfer to").strong());
            let targets = m.transfer_targets();
            if targets.is_empty() {
                ui.label(RichText::new("No colleague is enrolled.").weak());
            }
            ui.horizontal_wrapped(|ui| {
                for (d, free) in targets {
                    let name = (m.names)(&d.npub);
                    let button = ui
                        .add_enabled(free, egui::Button::new(format!("Transfer to {name}")))
                        .on_disabled_hover_text(format!(
                            "{name} is {}: only a free colleague can take a call",
                            busy_text(d)
                        ));
                    if button.clicked() {
                        out.push(ConsoleAction::Transfer(call.entry, d.npub));
                    }
                }
            });
        });
    }
}

/// Heading, the presence picker and what it means.
fn header(m: &ConsoleModel<'_>, ui: &mut egui::Ui, out: &mut Vec<ConsoleAction>) {
    let desk = m.desk;
    ui.horizontal_wrapped(|ui| {
        ui.heading("Dispatcher console");
        ui.separator();
        // On a call the hotline keeps us busy; presence changes wait for the call's end.
        let on_call = desk.call.is_some();
        for p in PICKABLE {
            let selected = desk.presence == p;
            let text = RichText::new(presence_text(p));
            let text = if selected {
                text.color(presence_colour(p)).strong()
            } else {
                text
            };
            let response = ui.add_enabled(!on_call, egui::Button::selectable(selected, text));
            if response.clicked() && !selected {
                out.push(ConsoleAction::SetPresence(p));
            }
        }
        if desk.presence == Presence::WrapUp {
            ui.label(RichText::new("Wrap-up").color(WARN).strong());
        }
    });
    let says = match desk.presence {
        Presence::Available => "Calls are offered to you.",
        Presence::Busy if desk.call.is_some() => "On a call: no other call is offered to you.",
        Presence::Busy => "Busy: no call is offered to you.",
        Presence::WrapUp => "Wrapping up: no call is offered to you until it ends.",
        Presence::Away => "Away: no call is offered to you.",
    };
    ui.label(RichText::new(says).weak());
}

/// The wrap-up countdown and the way out of it.
fn wrap_up(left: std::time::Duration, ui: &mut egui::Ui, out: &mut Vec<ConsoleAction>) {
    card(ui, WARN, |ui| {
        ui.horizontal_wrapped(|ui| {
            ui.label(
                RichText::new(format!("Wrap-up: {} left", clock(left)))
                    .color(WARN)
                    .strong()
                    .size(16.0),
            );
            ui.label("Finish your note; calls are offered again when it ends.");
            if ui.button("Ready now").clicked() {
                out.push(ConsoleAction::EndWrapUp);
            }
        });
    });
}

/// The offer ringing here: who, how long they waited, how long it still rings.
fn offer_card(
    m: &ConsoleModel<'_>,
    offer: &DeskOffer,
    ui: &mut egui::Ui,
    out: &mut Vec<ConsoleAction>,
) {
    card(ui, SAFE, |ui| {
        ui.horizontal_wrapped(|ui| {
            let what = match offer.kind {
                EntryKind::Live => "Incoming call",
                EntryKind::Callback => "Callback to place",
            };
            ui.heading(format!("{what}: {}", offer.caller));
            if offer.repeat {
                ui.label(RichText::new("Repeat caller").color(WARN).strong());
            }
        });
        if let Some(npub) = m.entry(offer.entry).and_then(|e| e.caller_npub.as_deref()) {
            ui.label(RichText::new(format!("Caller's npub: {npub}")).monospace());
        }
        let mut line = format!("Waited {}", clock(m.grown(offer.waited)));
        if let Some(rings) = offer.rings_for {
            line.push_str(&format!(" · rings {} more", clock(m.shrunk(rings))));
        }
        ui.label(line);
        ui.horizontal(|ui| {
            let (take, action) = match offer.kind {
                EntryKind::Live => ("Answer", ConsoleAction::Answer(offer.entry)),
                EntryKind::Callback => ("Call back", ConsoleAction::CallBack(offer.entry)),
            };
            let take = egui::Button::new(RichText::new(take).color(Color32::WHITE)).fill(SAFE);
            if ui.add(take).clicked() {
                out.push(action);
            }
            if ui.button("Decline").clicked() {
                out.push(ConsoleAction::Decline(offer.entry));
            }
        });
    });
}

/// The queue: waiting entries in service order, then calls in progress.
fn queue(m: &ConsoleModel<'_>, view: &hotline::core::ConsoleView, ui: &mut egui::Ui) {
    let waiting: Vec<_> = view
        .entries
        .iter()
        .filter(|e| e.position.is_some())
        .collect();
    let longest = waiting.iter().map(|e| m.grown(e.waited)).max();
    let mut summary = format!("{} waiting", waiting.len());
    if let Some(longest) = longest {
        summary.push_str(&format!(" · longest {}", clock(longest)));
    }
    if let Some(level) = view.service_level {
        summary.push_str(&format!(
            " · service level {} within {} s",
            percent(level),
            view.service_level_threshold.as_secs()
        ));
    }
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("Queue").strong().size(16.0));
        ui.label(summary);
    });
    if view.entries.is_empty() {
        ui.label(RichText::new("Nobody is waiting.").weak());
        return;
    }
    let npubs = m.shows_npubs();
    egui::Grid::new("hotline-queue")
        .striped(true)
        .spacing([14.0, 4.0])
        .show(ui, |ui| {
            let mut heads = vec!["#", "Caller"];
            if npubs {
                heads.push("Caller's npub");
            }
            heads.extend([
                "Waited",
                "Priority",
                "Type",
                "Repeat",
                "State",
                "Dispatcher",
                "Note",
            ]);
            for h in heads {
                ui.label(RichText::new(h).strong());
            }
            ui.end_row();
            for e in &view.entries {
                ui.label(e.position.map_or(String::new(), |p| p.to_string()));
                ui.label(RichText::new(&e.caller).monospace());
                if npubs {
                    ui.label(RichText::new(e.caller_npub.as_deref().unwrap_or("")).monospace());
                }
                // A call in progress waits no more (the snapshot's time counts from its
                // arrival, not its wait).
                let waited = e
                    .position
                    .map_or(String::new(), |_| clock(m.grown(e.waited)));
                ui.label(RichText::new(waited).monospace());
                if e.priority > 0 {
                    ui.label(RichText::new(format!("{} (urgent)", e.priority)).color(WARN));
                } else {
                    ui.label(e.priority.to_string());
                }
                ui.label(kind_text(e.kind));
                if e.repeat {
                    ui.label(RichText::new("repeat").color(WARN));
                } else {
                    ui.label("");
                }
                ui.label(state_text(e));
                ui.label(
                    e.dispatcher
                        .as_ref()
                        .map_or(String::new(), |d| (m.names)(d)),
                );
                ui.label(preview(e.note.as_deref().unwrap_or("")))
                    .on_hover_text(e.note.as_deref().unwrap_or(""));
                ui.end_row();
            }
        });
}

/// The team's presence at a glance.
fn team(m: &ConsoleModel<'_>, view: &hotline::core::ConsoleView, ui: &mut egui::Ui) {
    ui.label(RichText::new("Team").strong().size(16.0));
    ui.horizontal_wrapped(|ui| {
        for d in &view.dispatchers {
            let name = (m.names)(&d.npub);
            ui.label(
                RichText::new(format!("{name}: {}", presence_text(d.presence)))
                    .color(presence_colour(d.presence)),
            );
            ui.add_space(8.0);
        }
    });
}

/// The hotline's voicemails, newest first: who (the opaque caller id), when, how long,
/// new or heard, and what to do with each. Played here only: the recording is opened
/// with our own key.
fn voicemails(m: &ConsoleModel<'_>, ui: &mut egui::Ui, out: &mut Vec<ConsoleAction>) {
    let new = m.voicemails.iter().filter(|v| !v.heard).count();
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("Voicemail").strong().size(16.0));
        ui.label(format!("{} · {new} new", m.voicemails.len()));
    });
    if let Some(note) = m.voicemail_note {
        ui.label(RichText::new(note).weak());
    }
    if m.voicemails.is_empty() {
        ui.label(RichText::new("No voicemail.").weak());
        return;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    egui::Grid::new("hotline-voicemail")
        .striped(true)
        .spacing([14.0, 4.0])
        .show(ui, |ui| {
            for h in ["Caller", "Received", "Length", "Status", ""] {
                ui.label(RichText::new(h).strong());
            }
            ui.end_row();
            for v in m.voicemails {
                ui.label(RichText::new(&v.caller).monospace());
                ui.label(ago(now.saturating_sub(v.recorded_unix_secs)));
                ui.label(RichText::new(clock(v.duration)).monospace());
                if v.heard {
                    ui.label("heard");
                } else {
                    ui.label(RichText::new("new").color(WARN).strong());
                }
                ui.horizontal(|ui| {
                    if ui
                        .button("Play")
                        .on_hover_text(format!("Play voicemail {} of {}", v.id, v.caller))
                        .clicked()
                    {
                        out.push(ConsoleAction::PlayVoicemail(v.id));
                    }
                    if !v.heard && ui.button("Mark heard").clicked() {
                        out.push(ConsoleAction::VoicemailHeard(v.id));
                    }
                    if ui.button("Delete").clicked() {
                        out.push(ConsoleAction::DeleteVoicemail(v.id));
                    }
                });
                ui.end_row();
            }
        });
}

/// How long ago, in words ("just now", "12 min ago", "3 h ago", "2 days ago").
pub fn ago(secs: u64) -> String {
    match secs {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        _ => {
            let days = secs / 86_400;
            format!("{days} day{} ago", if days == 1 { "" } else { "s" })
        }
    }
}

/// Why a colleague is not free, in words.
fn busy_text(d: &hotline::core::DispatcherView) -> String {
    if d.presence == Presence::Available {
        "being offered a call".into()
    } else {
        presence_text(d.presence).to_lowercase()
    }
}

/// The first characters of a note, with an ellipsis when cut.
fn preview(note: &str) -> String {
    let mut chars = note.chars();
    let head: String = chars.by_ref().take(NOTE_PREVIEW_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// A framed card with a coloured edge (the offer, the call, wrap-up).
fn card(ui: &mut egui::Ui, edge: Color32, body: impl FnOnce(&mut egui::Ui)) {
    egui::Frame::group(ui.style())
        .stroke(egui::Stroke::new(2.0, edge))
        .corner_radius(8.0)
        .inner_margin(egui::Margin::same(10))
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            body(ui);
        });
    ui.add_space(6.0);
}
