//! The pre-call lobby: the camera as it will be sent (the privacy filter's output) with the
//! filter's state, a microphone level meter, a speaker test, what the chosen privacy mode
//! means, and the devices found. The work runs on the lobby's threads ([`crate::gui::lobby`]).

use calling::policy::ModePolicy;
use eframe::egui::{self, RichText};

use phantomcall_schemas::PrivacyMode;

use super::call::{fit, texture};
use crate::gui::action::Action;
use crate::gui::devices::FrameSlot;
use crate::gui::lobby::LobbyStatus;
use crate::gui::settings::DeviceChoice;
use crate::gui::widgets::{mode_picker, SAFE, WARN};

/// Width of the lobby's preview, points.
const PREVIEW_WIDTH: f32 = 360.0;

/// What the lobby shows.
pub struct LobbyView<'a> {
    /// What the lobby's threads found, and their preview (the filter's output); `None`
    /// while they are not running.
    pub running: Option<(LobbyStatus, &'a FrameSlot)>,
    /// How many times the lobby's threads started: a new start has a new preview slot.
    pub starts: u64,
    /// The mode whose impact is shown.
    pub mode: PrivacyMode,
    /// The mode of the next call only, if chosen.
    pub next_call_mode: Option<PrivacyMode>,
    /// The devices picked.
    pub devices: &'a DeviceChoice,
    /// The conference room about to be joined ("room 3f2b8c1e on meet.example.org, as a
    /// guest"), if the lobby was opened for one.
    pub conference: Option<String>,
}

/// The lobby screen: it owns the preview's texture.
#[derive(Default)]
pub struct LobbyScreen {
    texture: Option<(u64, egui::TextureHandle)>,
    /// The start whose preview the texture holds.
    start: u64,
}

impl LobbyScreen {
    /// Draws the lobby (the shell starts and stops its threads).
    pub fn show(&mut self, view: &LobbyView<'_>, ui: &mut egui::Ui, out: &mut Vec<Action>) {
        ui.heading("Lobby");
        ui.label(RichText::new("Check your camera, microphone and speaker before a call.").weak());
        if let Some(room) = &view.conference {
            ui.horizontal(|ui| {
                ui.label(RichText::new(format!("Ready to join {room}")).strong());
                let join =
                    egui::Button::new(RichText::new("Join the room").color(egui::Color32::WHITE))
                        .fill(SAFE);
                if ui.add(join).clicked() {
                    out.push(Action::ConfirmConferenceJoin);
                }
                if ui.button("Cancel").clicked() {
                    out.push(Action::CancelConferenceJoin);
                }
            });
        }
        if view.starts != self.start {
            // Restarted on other devices: its slot counts its frames from zero again.
            self.start = view.starts;
            self.texture = None;
        }
        let Some((status, slot)) = &view.running else {
            return;
        };
        let ctx = ui.ctx().clone();
        let preview = texture(&ctx, "lobby-preview", slot, &mut self.texture).cloned();
        show_running(view, status, preview, ui, out);
    }
}

fn show_running(
    view: &LobbyView<'_>,
    status: &LobbyStatus,
    preview: Option<egui::TextureHandle>,
    ui: &mut egui::Ui,
    out: &mut Vec<Action>,
) {
    let ctx = ui.ctx().clone();
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
                    out.push(Action::TestSpeaker);
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
    let mut mode = view.mode;
    let picked = mode_picker(ui, "lobby-mode", "Mode for the next call", &mut mode);
    if picked {
        out.push(Action::SetLobbyMode(mode));
    }
    let mut override_on = view.next_call_mode.is_some();
    let toggled = ui
        .checkbox(
            &mut override_on,
            "Use it for my next call instead of the contact's mode",
        )
        .changed();
    if toggled || (picked && override_on) {
        out.push(Action::SetNextCallMode(override_on.then_some(mode)));
    }
    let summary = ModePolicy::for_mode(mode).summary();
    let colour = if mode == PrivacyMode::Fast {
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
    let mut choice = view.devices.clone();
    let lists = [
        (
            "Microphone",
            "no microphone found",
            &status.microphones,
            &mut choice.microphone,
        ),
        (
            "Speaker",
            "no speaker found",
            &status.speakers,
            &mut choice.speaker,
        ),
        (
            "Camera",
            "no camera found",
            &status.cameras,
            &mut choice.camera,
        ),
    ];
    for (what, none, list, picked) in lists {
        ui.horizontal(|ui| match list {
            None => {
                ui.label(what);
                ui.spinner();
            }
            Some(Ok(names)) if names.is_empty() => {
                ui.label(what);
                ui.label(RichText::new(none).weak());
            }
            Some(Ok(names)) => {
                device_picker(ui, what, names, picked);
            }
            Some(Err(e)) => {
                ui.label(what);
                ui.label(RichText::new(format!("{none} ({e})")).weak());
            }
        });
    }
    if choice != *view.devices {
        // Saved, and applied to the next call placed or answered.
        out.push(Action::ChooseDevices(choice));
    }
}

/// Label of the "system default" entry of a device picker.
pub const DEFAULT_DEVICE: &str = "System default";

/// A picker over `names` plus the system default (`None`). A saved name that is not
/// present now stays selected and is marked, so the user sees why the device fails.
fn device_picker(ui: &mut egui::Ui, what: &str, names: &[String], picked: &mut Option<String>) {
    let selected = match picked.as_deref() {
        None => DEFAULT_DEVICE.to_owned(),
        Some(name) if names.iter().any(|n| n == name) => name.to_owned(),
        Some(name) => format!("{name} (not connected)"),
    };
    egui::ComboBox::new(("lobby-device", what), what)
        .selected_text(selected)
        .show_ui(ui, |ui| {
            ui.selectable_value(picked, None, DEFAULT_DEVICE);
            for name in names {
                ui.selectable_value(picked, Some(name.clone()), name);
            }
        });
}
