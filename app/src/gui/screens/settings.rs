//! Settings: relays, the DM inbox relays published as kind 10050, the SOCKS5 proxy, TURN
//! servers, human blackout and its strength, synthetic devices, and the devices picked in
//! the lobby. Saved to `settings.json` in the config directory (format in
//! [`crate::gui::settings`] and `docs/settings.md`).

use eframe::egui::{self, RichText};

use std::path::Path;

use crate::ble::{SignalingPaths, BLUETOOTH_NOTICE};
use crate::gui::action::Action;
use crate::gui::screens::lobby::DEFAULT_DEVICE;
use crate::gui::settings::{BlackoutStrength, DeviceChoice, Settings, TurnEntry};
use crate::gui::widgets::text_field;

/// The settings as edited (text, checked when saved).
#[derive(Default)]
pub struct SettingsForm {
    /// One relay per line.
    pub relays: String,
    /// One DM inbox relay per line (empty: the relays).
    pub dm_relays: String,
    /// SOCKS5 proxy, `IP:PORT` (empty: none).
    pub proxy: String,
    /// TURN URL.
    pub turn_url: String,
    /// TURN username.
    pub turn_user: String,
    /// TURN password.
    pub turn_password: String,
    /// Human blackout on.
    pub blackout: bool,
    /// How hard blackout covers.
    pub blackout_strength: BlackoutStrength,
    /// Synthetic devices.
    pub synthetic: bool,
    /// Where call messages travel.
    pub signaling: SignalingPaths,
    /// The phone gateway's npub (empty: none).
    pub phone_gateway: String,
    /// The npub of the hotline we dispatch for (empty: none).
    pub hotline: String,
}

impl From<&Settings> for SettingsForm {
    fn from(s: &Settings) -> Self {
        let turn = s.turn.first().cloned().unwrap_or_default();
        SettingsForm {
            relays: s.relays.join("\n"),
            dm_relays: s.dm_relays.join("\n"),
            proxy: s.socks5_proxy.clone().unwrap_or_default(),
            turn_url: turn.url,
            turn_user: turn.username,
            turn_password: turn.credential,
            blackout: s.blackout,
            blackout_strength: s.blackout_strength,
            synthetic: s.synthetic_devices,
            signaling: s.signaling,
            phone_gateway: s.phone_gateway.clone().unwrap_or_default(),
            hotline: s.hotline.clone().unwrap_or_default(),
        }
    }
}

/// Non-blank trimmed lines.
fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

impl SettingsForm {
    /// The edited settings on top of `base` (what this form does not edit, such as the
    /// devices picked in the lobby, stays as it is).
    fn to_settings(&self, base: &Settings) -> Settings {
        let turn = if self.turn_url.trim().is_empty() {
            Vec::new()
        } else {
            vec![TurnEntry {
                url: self.turn_url.trim().to_owned(),
                username: self.turn_user.trim().to_owned(),
                credential: self.turn_password.clone(),
            }]
        };
        let proxy = self.proxy.trim();
        Settings {
            relays: lines(&self.relays),
            dm_relays: lines(&self.dm_relays),
            socks5_proxy: (!proxy.is_empty()).then(|| proxy.to_owned()),
            turn,
            blackout: self.blackout,
            blackout_strength: self.blackout_strength,
            synthetic_devices: self.synthetic,
            signaling: self.signaling,
            phone_gateway: {
                let gateway = self.phone_gateway.trim();
                (!gateway.is_empty()).then(|| gateway.to_owned())
            },
            hotline: {
                let hotline = self.hotline.trim();
                (!hotline.is_empty()).then(|| hotline.to_owned())
            },
            ..base.clone()
        }
    }
}

fn multiline(ui: &mut egui::Ui, label: &str, value: &mut String) {
    let l = ui.label(label);
    ui.add(
        egui::TextEdit::multiline(value)
            .desired_rows(2)
            .desired_width(420.0),
    )
    .labelled_by(l.id);
}

/// What the settings screen shows.
pub struct SettingsView<'a> {
    /// The saved settings (the form edits a copy).
    pub settings: &'a Settings,
    /// Where they are saved.
    pub config_dir: &'a Path,
}

/// The settings screen: it owns the form being edited.
pub struct SettingsScreen {
    /// The settings as edited.
    pub form: SettingsForm,
}

impl SettingsScreen {
    /// The form filled from `settings`.
    pub fn new(settings: &Settings) -> SettingsScreen {
        SettingsScreen {
            form: SettingsForm::from(settings),
        }
    }

    /// Draws the settings section.
    pub fn show(&mut self, view: &SettingsView<'_>, ui: &mut egui::Ui, out: &mut Vec<Action>) {
        ui.heading("Settings");
        egui::ScrollArea::vertical().show(ui, |ui| self.form(view, ui, out));
    }

    fn form(&mut self, view: &SettingsView<'_>, ui: &mut egui::Ui, out: &mut Vec<Action>) {
        let form = &mut self.form;
        ui.label(RichText::new("Relays").strong());
        ui.label(
            RichText::new(
                "One per line (wss://…). PhantomCall contacts no relay you did not choose.",
            )
            .weak(),
        );
        multiline(ui, "Relay addresses", &mut form.relays);
        ui.label(
            RichText::new(
                "DM inbox relays: where people send you calls, published as your relay list \
             (kind 10050) whenever it changes. Empty: the relays above.",
            )
            .weak(),
        );
        multiline(ui, "DM relay addresses", &mut form.dm_relays);
        ui.add_space(8.0);
        ui.label(RichText::new("SOCKS5 proxy (Tor)").strong());
        ui.label(
            RichText::new(
                "Relay connections and NIP-05 lookups go through it, e.g. 127.0.0.1:9050. \
             Empty: no proxy.",
            )
            .weak(),
        );
        text_field(ui, "SOCKS5 proxy", &mut form.proxy, false);
        ui.add_space(8.0);
        ui.label(RichText::new("Call messages").strong());
        egui::ComboBox::new("signaling-paths", "Call messages travel over")
            .selected_text(form.signaling.label())
            .show_ui(ui, |ui| {
                for paths in SignalingPaths::ALL {
                    ui.selectable_value(&mut form.signaling, paths, paths.label());
                }
            });
        if form.signaling.uses_bluetooth() {
            ui.label(RichText::new(BLUETOOTH_NOTICE).color(crate::gui::widgets::WARN));
        }
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
        egui::ComboBox::new("blackout-strength", "Blackout strength")
            .selected_text(form.blackout_strength.label())
            .show_ui(ui, |ui| {
                for s in BlackoutStrength::ALL {
                    ui.selectable_value(&mut form.blackout_strength, s, s.label());
                }
            });
        ui.checkbox(
            &mut form.synthetic,
            "Synthetic devices (tone and test pattern instead of microphone and camera)",
        );
        ui.add_space(8.0);
        ui.label(RichText::new("Devices (pick them in the Lobby)").strong());
        let choice = &view.settings.devices;
        for (what, picked) in [
            ("Microphone", &choice.microphone),
            ("Speaker", &choice.speaker),
            ("Camera", &choice.camera),
        ] {
            ui.label(format!(
                "{what}: {}",
                picked.as_deref().unwrap_or(DEFAULT_DEVICE)
            ));
        }
        if *choice != DeviceChoice::default() && ui.button("Use the system defaults").clicked() {
            out.push(Action::ChooseDevices(DeviceChoice::default()));
        }
        ui.add_space(8.0);
        ui.label(RichText::new("Phone gateway").strong());
        ui.label(
            RichText::new(
                "The npub of a PhantomCall phone gateway (your hotline's, or one you run) to \
                 call telephone numbers through. Empty: no phone calls.",
            )
            .weak(),
        );
        text_field(ui, "Phone gateway npub", &mut form.phone_gateway, false);
        ui.add_space(8.0);
        ui.label(RichText::new("Dispatcher mode").strong());
        ui.label(
            RichText::new(
                "The npub of a hotline whose operator enrolled you as a dispatcher. Set, the \
                 side bar shows the dispatcher console and the hotline's statistics. Empty: \
                 no dispatcher mode.",
            )
            .weak(),
        );
        text_field(ui, "Hotline npub", &mut form.hotline, false);
        ui.add_space(8.0);
        ui.label(
            RichText::new(format!(
                "Saved in {}",
                Settings::path(view.config_dir).display()
            ))
            .weak(),
        );
        if ui.button("Save and reconnect").clicked() {
            // Checked and applied by the controller (new transport, new devices).
            out.push(Action::SaveSettings(form.to_settings(view.settings)));
        }
    }
}
