//! Contacts: add by npub, each with its default privacy mode and call-log auto-delete, and
//! the audio and video call buttons.

use eframe::egui::{self, RichText};
use phantomcall_schemas::{CallType, PrivacyMode};

use crate::gui::action::Action;
use crate::gui::contacts::{AutoDelete, Contact};
use crate::gui::widgets::{mode_picker, privacy_badge, text_field};

/// The add-contact form.
pub struct AddForm {
    /// Name to show.
    pub name: String,
    /// npub (or nprofile, hex).
    pub key: String,
    /// Default mode of the new contact.
    pub mode: PrivacyMode,
}

impl Default for AddForm {
    fn default() -> Self {
        AddForm {
            name: String::new(),
            key: String::new(),
            // DESIGN.md section 4: Private is the default mode.
            mode: PrivacyMode::Private,
        }
    }
}

/// What the contacts screen shows.
pub struct ContactsView<'a> {
    /// The contacts.
    pub contacts: &'a [Contact],
    /// Whether calls can be placed (the engine runs).
    pub online: bool,
    /// Whether a NIP-05 name is being looked up (adding waits for it).
    pub looking_up: bool,
    /// Whether the demo contact can ring us.
    pub demo: bool,
    /// How many contacts were added so far: the form clears when it changes.
    pub added: u64,
    /// Whether a phone gateway is set (phone numbers can be called).
    pub phone_gateway: bool,
}

/// The contacts screen: it owns the add-contact form and the group-call selection.
#[derive(Default)]
pub struct ContactsScreen {
    /// What the user is typing.
    pub form: AddForm,
    added_seen: u64,
    /// Contacts ticked for a group call, by their place in the book.
    pub selected: std::collections::BTreeSet<usize>,
    /// The telephone number being typed.
    pub phone_number: String,
}

impl ContactsScreen {
    /// Draws the contacts section.
    pub fn show(&mut self, view: &ContactsView<'_>, ui: &mut egui::Ui, out: &mut Vec<Action>) {
        if view.added != self.added_seen {
            // A contact was added (at once, or when its NIP-05 name resolved).
            self.added_seen = view.added;
            self.form = AddForm::default();
        }
        ui.heading("Contacts");
        egui::ScrollArea::vertical()
            .max_height(ui.available_height() - 170.0)
            .show(ui, |ui| {
                if view.contacts.is_empty() {
                    ui.label("No contacts yet: add one below by their npub.");
                }
                for (index, contact) in view.contacts.iter().enumerate() {
                    let mut ticked = self.selected.contains(&index);
                    contact_row(ui, index, contact, view.online, &mut ticked, out);
                    if ticked {
                        self.selected.insert(index);
                    } else {
                        self.selected.remove(&index);
                    }
                }
            });
        self.selected.retain(|i| *i < view.contacts.len());
        if self.selected.len() >= 2 {
            self.group_buttons(view, ui, out);
        }
        if view.demo && view.online && ui.button("Let the demo contact call you").clicked() {
            out.push(Action::DemoRingMe);
        }
        self.phone_dialer(view, ui, out);
        ui.separator();
        ui.label(RichText::new("Add a contact").strong());
        let form = &mut self.form;
        text_field(ui, "Name", &mut form.name, false);
        text_field(ui, "npub", &mut form.key, false);
        ui.horizontal(|ui| {
            mode_picker(
                ui,
                "new-contact-mode",
                "Default privacy mode",
                &mut form.mode,
            );
        });
        ui.label(
            RichText::new("nprofile, hex keys and NIP-05 names (name@domain) work too.").weak(),
        );
        if ui
            .add_enabled(!view.looking_up, egui::Button::new("Add contact"))
            .clicked()
        {
            out.push(Action::AddContact {
                name: form.name.clone(),
                address: form.key.clone(),
                mode: form.mode,
            });
        }
    }
}

impl ContactsScreen {
    /// "Call a phone number": a number field and its button, with what such a call is.
    fn phone_dialer(&mut self, view: &ContactsView<'_>, ui: &mut egui::Ui, out: &mut Vec<Action>) {
        ui.separator();
        ui.label(RichText::new("Call a phone number").strong());
        if !view.phone_gateway {
            ui.label(
                RichText::new("Set a phone gateway in Settings to call telephone numbers.").weak(),
            );
            return;
        }
        text_field(ui, "Phone number", &mut self.phone_number, false);
        // Spaces and dashes as people write numbers are fine; the gateway gets E.164.
        let number: String = self
            .phone_number
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
            .collect();
        let valid = phantomcall_schemas::PhoneLeg::dial(&number).is_some();
        if !self.phone_number.trim().is_empty() && !valid {
            ui.label(
                RichText::new("Write it with + and the country code, e.g. +1 555 123 4567")
                    .color(crate::gui::widgets::WARN),
            );
        }
        ui.label(
            RichText::new(crate::gui::widgets::PHONE_NOT_E2EE).color(crate::gui::widgets::WARN),
        );
        if ui
            .add_enabled(view.online && valid, egui::Button::new("Call number"))
            .clicked()
        {
            out.push(Action::DialPhone { number });
            self.phone_number.clear();
        }
    }

    /// The group call buttons for the ticked contacts; past the cap they say why.
    fn group_buttons(&mut self, view: &ContactsView<'_>, ui: &mut egui::Ui, out: &mut Vec<Action>) {
        let peers: Vec<_> = self
            .selected
            .iter()
            .filter_map(|i| view.contacts.get(*i)?.public_key())
            .collect();
        ui.horizontal(|ui| {
            ui.label(RichText::new(format!("{} selected", peers.len())).strong());
            for (label, call_type) in [
                ("Group audio call", CallType::Voice),
                ("Group video call", CallType::Video),
            ] {
                let cap = calling::group::member_cap(call_type);
                let fits = peers.len() < cap;
                let button = ui
                    .add_enabled(view.online && fits, egui::Button::new(label))
                    .on_disabled_hover_text(format!(
                        "Up to {cap} people, you included: larger meetings need a conference"
                    ));
                if button.clicked() {
                    out.push(Action::DialGroup {
                        peers: peers.clone(),
                        call_type,
                    });
                    self.selected.clear();
                }
            }
            if ui
                .add_enabled(
                    peers.len() <= crate::gui::chat::MAX_RECEIVERS,
                    egui::Button::new("Message group"),
                )
                .clicked()
            {
                out.push(Action::OpenConversation(
                    peers.iter().map(|p| p.to_hex()).collect(),
                ));
                self.selected.clear();
            }
            if ui.button("Clear selection").clicked() {
                self.selected.clear();
            }
        });
    }
}

fn contact_row(
    ui: &mut egui::Ui,
    index: usize,
    contact: &Contact,
    online: bool,
    ticked: &mut bool,
    out: &mut Vec<Action>,
) {
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.horizontal(|ui| {
            // The name is the box's label: ticking two or more offers a group call.
            ui.checkbox(ticked, RichText::new(&contact.name).strong().size(16.0))
                .on_hover_text("Tick two or more for a group call");
            let short = &contact.key[..12.min(contact.key.len())];
            ui.label(RichText::new(format!("{short}…")).weak().monospace());
        });
        let (mut mode, mut auto_delete) = (contact.mode, contact.auto_delete);
        let mut changed = false;
        ui.horizontal(|ui| {
            changed |= mode_picker(ui, ("mode", index), "Privacy mode", &mut mode);
            egui::ComboBox::new(("autodelete", index), "Call log")
                .selected_text(auto_delete.label())
                .show_ui(ui, |ui| {
                    for choice in AutoDelete::ALL {
                        changed |= ui
                            .selectable_value(&mut auto_delete, choice, choice.label())
                            .changed();
                    }
                });
        });
        if changed {
            out.push(Action::EditContact {
                index,
                mode,
                auto_delete,
            });
        }
        privacy_badge(ui, contact.mode);
        ui.horizontal(|ui| {
            let key = contact.public_key();
            let enabled = online && key.is_some();
            for (label, call_type) in [
                ("Audio call", CallType::Voice),
                ("Video call", CallType::Video),
            ] {
                if ui.add_enabled(enabled, egui::Button::new(label)).clicked() {
                    if let Some(peer) = key {
                        out.push(Action::Dial { peer, call_type });
                    }
                }
            }
            // Writing works offline too: the message says it was not sent and can go again.
            if ui
                .add_enabled(key.is_some(), egui::Button::new("Message"))
                .clicked()
            {
                out.push(Action::OpenConversation(vec![contact.key.clone()]));
            }
        });
    });
}
