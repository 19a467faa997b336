//! The screens. Each draws a view model and pushes [`Action`]s; none reads the app or
//! calls the engine, so each can be drawn and tested alone. The frame around them: a top
//! bar (who you are, connection), the banner for errors and slow work, the side bar.

pub mod call;
pub mod conference;
pub mod conference_host;
#[cfg(test)]
mod conference_tests;
#[cfg(test)]
mod console_tests;
pub mod contacts;
pub mod dispatcher;
pub mod group;
pub mod history;
pub mod hotline_stats;
pub mod identity;
pub mod lobby;
pub mod messages;
#[cfg(test)]
mod messages_tests;
pub mod onboarding;
pub mod settings;
pub mod share;
#[cfg(test)]
mod tests;

use eframe::egui::{self, RichText};

use super::action::Action;
use super::settings::Settings;
use super::state::{Net, Tab};
use super::widgets;

/// What the screens keep between frames: forms being typed, textures.
pub struct Screens {
    /// Onboarding and unlock forms.
    pub onboarding: onboarding::OnboardingScreen,
    /// The add-contact form.
    pub contacts: contacts::ContactsScreen,
    /// The settings being edited.
    pub settings: settings::SettingsScreen,
    /// The in-call video textures.
    pub call: call::CallScreen,
    /// The group call's video textures.
    pub group: group::GroupScreen,
    /// The lobby's preview texture.
    pub lobby: lobby::LobbyScreen,
    /// The dispatcher console's note being typed.
    pub dispatcher: dispatcher::DispatcherScreen,
    /// The invite link being typed, the participants' video textures.
    pub conference: conference::ConferenceScreen,
    /// The message being written.
    pub messages: messages::MessagesScreen,
}

impl Screens {
    /// Screens with forms filled from the saved settings.
    pub fn new(settings: &Settings) -> Screens {
        Screens {
            onboarding: Default::default(),
            contacts: Default::default(),
            settings: settings::SettingsScreen::new(settings),
            call: Default::default(),
            group: Default::default(),
            lobby: Default::default(),
            dispatcher: Default::default(),
            conference: Default::default(),
            messages: Default::default(),
        }
    }
}

/// What the top bar shows.
pub struct TopBarView<'a> {
    /// The demo runs.
    pub demo: bool,
    /// A key is open.
    pub signed_in: bool,
    /// The connection.
    pub net: &'a Net,
    /// Something slow runs: what to say next to the spinner.
    pub busy: Option<&'a str>,
    /// The error banner's text.
    pub error: Option<&'a str>,
}

/// The top bar and the banners under it.
pub fn top_bar(view: &TopBarView<'_>, ui: &mut egui::Ui, out: &mut Vec<Action>) {
    ui.horizontal(|ui| {
        ui.heading("PhantomCall");
        if view.demo {
            ui.label(RichText::new("demo").italics().weak());
        }
        ui.separator();
        match view.net {
            Net::Offline if view.signed_in => {
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
    if let Some(busy) = view.busy {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(busy);
        });
    }
    if let Some(error) = view.error {
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(error).color(widgets::ERROR));
            if ui.small_button("Dismiss").clicked() {
                out.push(Action::DismissError);
            }
        });
    }
}

/// The sections; dispatcher mode's two only once a hotline is enrolled (`dispatcher`);
/// `unread` messages counted beside Messages.
pub fn side_bar(
    tab: Tab,
    dispatcher: bool,
    unread: usize,
    ui: &mut egui::Ui,
    out: &mut Vec<Action>,
) {
    ui.add_space(8.0);
    let mut pick = |ui: &mut egui::Ui, section: Tab, label: &str| {
        if ui.selectable_label(tab == section, label).clicked() {
            out.push(Action::SelectTab(section));
        }
    };
    let messages = match unread {
        0 => "Messages".to_owned(),
        n => format!("Messages ({n})"),
    };
    for (section, label) in [
        (Tab::Contacts, "Contacts"),
        (Tab::Messages, messages.as_str()),
        (Tab::Lobby, "Lobby"),
        (Tab::Conferences, "Conferences"),
        (Tab::Recent, "Recent calls"),
        (Tab::Settings, "Settings"),
        (Tab::Identity, "My identity"),
    ] {
        pick(ui, section, label);
    }
    if dispatcher {
        ui.separator();
        ui.label(RichText::new("Hotline").weak());
        pick(ui, Tab::Dispatcher, "Dispatcher");
        pick(ui, Tab::HotlineStats, "Statistics");
    }
}
