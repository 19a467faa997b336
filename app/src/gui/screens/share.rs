//! Screen share: the picker (a screen or a window), the "you are sharing" banner with its
//! stop button, and the share button of the in-call controls.

use eframe::egui::{self, Color32, RichText};

use crate::gui::action::Action;
use crate::gui::calls::CallView;
use crate::gui::state::ScreenPicker;
use crate::gui::widgets::WARN;
use calling::{ScreenKind, ScreenTarget};

/// What the picker says about privacy: the blackout filter is for the camera.
const UNFILTERED_NOTE: &str =
    "What you share is sent as it is: the human-blackout filter covers your camera, not your screen.";

/// The share button of the in-call controls: "Share screen" opens the picker, "Stop
/// sharing" ends the share.
pub fn share_button(call: &CallView, ui: &mut egui::Ui, out: &mut Vec<Action>) {
    if call.screen_share.is_some() {
        if ui.button("Stop sharing").clicked() {
            out.push(Action::StopScreenShare(call.call_id));
        }
    } else if ui
        .button("Share screen")
        .on_hover_text("Pick a screen or a window to show")
        .clicked()
    {
        out.push(Action::OpenScreenPicker(call.call_id));
    }
}

/// While we share: what is shared, in the warning colour, with a stop button next to it.
pub fn sharing_banner(call: &CallView, ui: &mut egui::Ui, out: &mut Vec<Action>) {
    let Some(what) = &call.screen_share else {
        return;
    };
    egui::Frame::new()
        .fill(WARN)
        .corner_radius(6.0)
        .inner_margin(egui::Margin::symmetric(8, 4))
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(
                    RichText::new(format!("You are sharing {what}"))
                        .color(Color32::WHITE)
                        .strong(),
                );
                if ui.button("Stop").clicked() {
                    out.push(Action::StopScreenShare(call.call_id));
                }
            });
        });
}

/// The picker window, while open: screens, then windows; a spinner while they are listed;
/// what could not be listed; cancel.
pub fn picker_window(picker: Option<&ScreenPicker>, ctx: &egui::Context, out: &mut Vec<Action>) {
    let Some(picker) = picker else {
        return;
    };
    let call_id = picker.call_id;
    let targets = picker.targets.clone();
    let mut chosen: Option<ScreenTarget> = None;
    let mut cancel = false;
    egui::Window::new("Share your screen")
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
        .show(ctx, |ui| {
            ui.label(RichText::new(UNFILTERED_NOTE).weak());
            ui.add_space(6.0);
            match &targets {
                None => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("Looking for screens and windows…");
                    });
                }
                Some(list) => {
                    for (kind, heading) in [
                        (ScreenKind::Screen, "Screens"),
                        (ScreenKind::Window, "Windows"),
                    ] {
                        let of_kind: Vec<_> =
                            list.targets.iter().filter(|t| t.kind == kind).collect();
                        if of_kind.is_empty() {
                            continue;
                        }
                        ui.label(RichText::new(heading).strong());
                        egui::ScrollArea::vertical()
                            .id_salt(heading)
                            .max_height(180.0)
                            .show(ui, |ui| {
                                for target in of_kind {
                                    let label = format!(
                                        "{} ({}x{})",
                                        target.name, target.width, target.height
                                    );
                                    if ui.button(label).clicked() {
                                        chosen = Some(target.clone());
                                    }
                                }
                            });
                    }
                    if list.targets.is_empty() {
                        ui.label("Nothing can be shared on this display.");
                    }
                    for problem in &list.problems {
                        ui.label(RichText::new(problem).color(WARN));
                    }
                }
            }
            ui.add_space(6.0);
            if ui.button("Cancel").clicked() {
                cancel = true;
            }
        });
    // The list arrives from a background thread: look again until it does.
    if targets.is_none() {
        ctx.request_repaint_after(std::time::Duration::from_millis(100));
    }
    if let Some(target) = chosen {
        out.push(Action::ShareScreen(call_id, target));
    } else if cancel {
        out.push(Action::CloseScreenPicker);
    }
}
