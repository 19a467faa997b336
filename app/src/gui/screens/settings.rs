//! Settings: relays, TURN servers, human blackout, synthetic devices. Saved to
//! `settings.json` in the config directory (format in [`crate::gui::settings`]).

use eframe::egui::{self, RichText};

use crate::gui::app::PhantomApp;
use crate::gui::settings::{Settings, TurnEntry};
use crate::gui::widgets::text_field;

/// The settings as edited (text, checked when saved).
#[derive(Default)]
pub struct SettingsForm {
    /// One relay per line.
    pub relays: String,
    /// TURN URL.
    pub turn_url: String,
    /// TURN username.
    pub turn_user: String,
    /// TURN password.
    pub turn_password: String,
    /// Human blackout on.
    pub blackout: bool,
    /// Synthetic devices.
    pub synthetic: bool,
}

impl From<&Settings> for SettingsForm {
    fn from(s: &Settings) -> Self {
        let turn = s.turn.first().cloned().unwrap_or_default();
        SettingsForm {
            relays: s.relays.join("\n"),
            turn_url: turn.url,
            turn_user: turn.username,
            turn_password: turn.credential,
            blackout: s.blackout,
            synthetic: s.synthetic_devices,
        }
    }
}

impl SettingsForm {
    fn to_settings(&self) -> Settings {
        let turn = if self.turn_url.trim().is_empty() {
            Vec::new()
        } else {
            vec![TurnEntry {
                url: self.turn_url.trim().to_owned(),
                username: self.turn_user.trim().to_owned(),
                credential: self.turn_password.clone(),
            }]
        };
        Settings {
            relays: self
                .relays
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            turn,
            blackout: self.blackout,
            synthetic_devices: self.synthetic,
        }
    }
}

/// Draws the settings section.
pub fn show(app: &mut PhantomApp, ui: &mut egui::Ui) {
    ui.heading("Settings");
    let form = &mut app.forms.settings;
    ui.label(RichText::new("Relays").strong());
    ui.label(
        RichText::new("One per line (wss://…). PhantomCall contacts no relay you did not choose.")
            .weak(),
    );
    let l = ui.label("Relay addresses");
    ui.add(
        egui::TextEdit::multiline(&mut form.relays)
            .desired_rows(3)
            .desired_width(420.0),
    )
    .labelled_by(l.id);
    ui.add_space(8.0);
    ui.label(RichText::new("TURN server (needed for Private and Paranoid modes)").strong());
    text_field(ui, "TURN URL", &mut form.turn_url, false);
    text_field(ui, "TURN username", &mut form.turn_user, false);
    text_field(ui, "TURN password", &mut form.turn_password, true);
    ui.add_space(8.0);
    ui.checkbox(
        &mut form.blackout,
        "Human blackout: paint people black before video leaves (off: camera sends black)",
    );
    ui.checkbox(
        &mut form.synthetic,
        "Synthetic devices (tone and test pattern instead of microphone and camera)",
    );
    ui.add_space(8.0);
    ui.label(
        RichText::new(format!(
            "Saved in {}",
            Settings::path(&app.options.config_dir).display()
        ))
        .weak(),
    );
    if ui.button("Save and reconnect").clicked() {
        let settings = form.to_settings();
        match settings.relay_urls() {
            Ok(_) => {
                app.settings = settings;
                app.save_settings();
                app.reconnect();
            }
            Err(e) => app.error = Some(e.to_string()),
        }
    }
}
