//! Your identity: the npub to share, with a copy button and a QR code.

use std::path::Path;

use eframe::egui;

use crate::gui::action::Action;
use crate::gui::widgets::npub_card;

/// Right after the key was created or imported: its npub and where it is saved.
pub fn welcome(npub: Option<&str>, key_file: &Path, ui: &mut egui::Ui, out: &mut Vec<Action>) {
    ui.heading("Your identity is ready");
    if let Some(npub) = npub {
        npub_card(ui, npub);
    }
    ui.label(format!(
        "Saved encrypted in {}. Keep your password: without it the key cannot be opened.",
        key_file.display()
    ));
    if ui.button("Continue").clicked() {
        out.push(Action::Continue);
    }
}

/// The "My identity" section.
pub fn show(npub: Option<&str>, ui: &mut egui::Ui) {
    ui.heading("My identity");
    if let Some(npub) = npub {
        npub_card(ui, npub);
    }
}
