//! The pre-call lobby: the camera as it will be sent (the privacy filter's output) with the
//! filter's state, a microphone level meter, a speaker test, what the chosen privacy mode
//! means, and the devices found. The work runs on the lobby's threads ([`crate::gui::lobby`]).

use calling::policy::ModePolicy;
use eframe::egui::{self, RichText};

use super::call::{fit, texture};
use crate::gui::app::PhantomApp;
use crate::gui::widgets::{mode_picker, SAFE, WARN};

/// Width of the lobby's preview, points.
const PREVIEW_WIDTH: f32 = 360.0;

/// Draws the lobby (the app starts and stops its threads, see `PhantomApp::show`).
pub fn show(app: &mut PhantomApp, ui: &mut egui::Ui) {
    ui.heading("Lobby");
    ui.label(RichText::new("Check your camera, microphone and speaker before a call.").weak());
    let Some(lobby) = &app.lobby else {
        return;
    };
    let status = lobby.status();
    let ctx = ui.ctx().clone();
    let preview = texture(
        &ctx,
        "lobby-preview",
        lobby.preview(),
        &mut app.lobby_texture,
    )
    .cloned();
    // The meter moves with the microphone: keep drawing while the lobby is open.
    ctx.request_repaint_after(std::time::Duration::from_millis(100));

    ui.add_space(6.0);
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.label(RichText::new("Your video as it will be sent").weak());
            match (&preview, &status.camera_error) {
                (Some(tex), _) => {
                    let size = fit(tex.size_vec2(), egui::vec2(PREVIEW_WIDTH, PREVIEW_WIDTH));
                    ui.add(egui::Image::new((tex.id(), size)).alt_text("Lobby preview (as sent)"));
                }
                (None, Some(e)) => {
                    ui.label(RichText::new(e).color(WARN));
                }
                (None, None) => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("Starting the camera…");
                    });
                }
            }
        });
        ui.vertical(|ui| {
            ui.set_max_width(320.0);
            ui.label(RichText::new("Privacy filter").strong());
            match &status.filter {
                Some((state, true)) => {
                    ui.label(RichText::new(format!("Protected: {state}")).color(SAFE));
                }
                Some((state, false)) => {
                    ui.label(RichText::new(state).color(WARN));
                }
                None => {
                    ui.label(RichText::new("Filter starting…").weak());
                }
            }
            ui.add_space(8.0);
            ui.label(RichText::new("Microphone level").strong());
            match &status.mic_error {
                Some(e) => {
                    ui.label(RichText::new(e).color(WARN));
                }
                None => {
                    // A speaking voice is around -30..-10 dBFS: scale so it fills the bar.
                    let shown = (status.mic_level * 4.0).clamp(0.0, 1.0);
                    ui.add(
                        egui::ProgressBar::new(shown)
                            .desired_width(240.0)
                            .text(format!("Microphone level {:.0} %", shown * 100.0)),
                    );
                }
            }
            ui.add_space(8.0);
            ui.horizontal_wrapped(|ui| {
                if ui.button("Test speaker").clicked() {
                    lobby.test_speaker();
                }
                if let Some(s) = &status.speaker {
                    ui.label(s);
                }
            });
        });
    });

    ui.add_space(10.0);
    ui.separator();
    ui.label(RichText::new("Privacy mode").strong());
    mode_picker(
        ui,
        "lobby-mode",
        "Mode for the next call",
        &mut app.lobby_mode,
    );
    let summary = ModePolicy::for_mode(app.lobby_mode).summary();
    let colour = if app.lobby_mode == phantomcall_schemas::PrivacyMode::Fast {
        WARN
    } else {
        SAFE
    };
    ui.label(RichText::new(summary.title).strong());
    ui.label(RichText::new(summary.ip_exposure).color(colour));
    ui.label(RichText::new(summary.expected_delay).weak());

    ui.add_space(10.0);
    ui.separator();
    ui.label(RichText::new("Devices").strong());
    let Some(lobby) = &mut app.lobby else {
        return;
    };
    let lists = [
        ("Microphone", "no microphone found", &status.microphones),
        ("Speaker", "no speaker found", &status.speakers),
        ("Camera", "no camera found", &status.cameras),
    ];
    for (i, (what, none, list)) in lists.into_iter().enumerate() {
        ui.horizontal(|ui| {
            ui.add_sized([90.0, 20.0], egui::Label::new(what));
            match list {
                None => {
                    ui.spinner();
                }
                Some(Ok(names)) if names.is_empty() => {
                    ui.label(RichText::new(none).weak());
                }
                Some(Ok(names)) => {
                    let picked = &mut lobby.picked[i];
                    *picked = (*picked).min(names.len() - 1);
                    egui::ComboBox::new(("lobby-device", i), "")
                        .selected_text(names[*picked].as_str())
                        .show_ui(ui, |ui| {
                            for (j, name) in names.iter().enumerate() {
                                ui.selectable_value(picked, j, name);
                            }
                        });
                }
                Some(Err(e)) => {
                    ui.label(RichText::new(format!("{none} ({e})")).weak());
                }
            }
        });
    }
}
