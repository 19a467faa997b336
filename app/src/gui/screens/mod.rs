//! The screens, and the frame around them: a top bar (who you are, connection, the
//! privacy badge of the live call), a side bar with the sections, the banner for errors
//! and slow work, the incoming-call window.

pub mod call;
pub mod contacts;
pub mod history;
pub mod identity;
pub mod lobby;
pub mod onboarding;
pub mod settings;
pub mod share;

use eframe::egui::{self, RichText};

use super::app::{Net, PhantomApp, Stage, Tab};
use super::settings::Settings;
use super::widgets;

/// What the user is typing, per screen.
#[derive(Default)]
pub struct Forms {
    /// Add-contact form.
    pub contact: contacts::AddForm,
    /// Settings being edited.
    pub settings: settings::SettingsForm,
}

impl Forms {
    /// Forms filled from the saved settings.
    pub fn new(settings: &Settings) -> Forms {
        Forms {
            contact: Default::default(),
            settings: settings::SettingsForm::from(settings),
        }
    }
}

/// Draws the whole window.
pub fn show(app: &mut PhantomApp, ui: &mut egui::Ui) {
    egui::Panel::top("status").show(ui, |ui| {
        top_bar(app, ui);
        banners(app, ui);
    });
    match app.stage {
        Stage::Onboarding(_) | Stage::Unlock(_) => {
            egui::CentralPanel::default().show(ui, |ui| onboarding::show(app, ui));
        }
        Stage::Welcome => {
            egui::CentralPanel::default().show(ui, |ui| identity::welcome(app, ui));
        }
        Stage::Ready => {
            egui::Panel::left("sections")
                .resizable(false)
                .exact_size(150.0)
                .show(ui, |ui| side_bar(app, ui));
            egui::CentralPanel::default().show(ui, |ui| {
                if app.live_call().is_some() || app.ended.is_some() {
                    call::in_call(app, ui);
                } else {
                    match app.tab {
                        Tab::Contacts => contacts::show(app, ui),
                        Tab::Recent => history::show(app, ui),
                        Tab::Settings => settings::show(app, ui),
                        Tab::Identity => identity::show(app, ui),
                        Tab::Lobby => lobby::show(app, ui),
                    }
                }
            });
            call::incoming_window(app, ui.ctx());
            share::picker_window(app, ui.ctx());
        }
    }
}

fn top_bar(app: &PhantomApp, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        ui.heading("PhantomCall");
        if app.options.demo {
            ui.label(RichText::new("demo").italics().weak());
        }
        ui.separator();
        match &app.net {
            Net::Offline if app.identity.is_some() => {
                ui.label("Offline: add a relay in Settings");
            }
            Net::Offline => {}
            Net::Connecting => {
                ui.spinner();
                ui.label("Connecting to relays…");
            }
            Net::Online(o) => {
                ui.label(
                    RichText::new(format!("Online · {} relay(s)", o.relays)).color(widgets::SAFE),
                );
            }
            Net::Failed(e) => {
                ui.label(RichText::new(format!("Offline: {e}")).color(widgets::ERROR));
            }
        }
    });
}

fn banners(app: &mut PhantomApp, ui: &mut egui::Ui) {
    if let Some(busy) = &app.busy {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(busy);
        });
    }
    let mut dismiss = false;
    if let Some(error) = &app.error {
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(error).color(widgets::ERROR));
            dismiss = ui.small_button("Dismiss").clicked();
        });
    }
    if dismiss {
        app.error = None;
    }
}

fn side_bar(app: &mut PhantomApp, ui: &mut egui::Ui) {
    ui.add_space(8.0);
    for (tab, label) in [
        (Tab::Contacts, "Contacts"),
        (Tab::Lobby, "Lobby"),
        (Tab::Recent, "Recent calls"),
        (Tab::Settings, "Settings"),
        (Tab::Identity, "My identity"),
    ] {
        if ui.selectable_label(app.tab == tab, label).clicked() {
            app.tab = tab;
        }
    }
}
