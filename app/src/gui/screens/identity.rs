//! Your identity: the npub to share, with a copy button and a QR code.

use eframe::egui;

use crate::gui::app::{PhantomApp, Stage};
use crate::gui::widgets::npub_card;

/// Right after the key was created or imported.
pub fn welcome(app: &mut PhantomApp, ui: &mut egui::Ui) {
    ui.heading("Your identity is ready");
    if let Some(id) = &app.identity {
        npub_card(ui, &id.npub());
    }
    ui.label(format!(
        "Saved encrypted in {}. Keep your password: without it the key cannot be opened.",
        app.options.key_file.display()
    ));
    if ui.button("Continue").clicked() {
        app.stage = Stage::Ready;
    }
}

/// The "My identity" section.
pub fn show(app: &mut PhantomApp, ui: &mut egui::Ui) {
    ui.heading("My identity");
    if let Some(id) = &app.identity {
        npub_card(ui, &id.npub());
    }
}
