//! Contacts: add by npub, each with its default privacy mode and call-log auto-delete, and
//! the audio and video call buttons.

use eframe::egui::{self, RichText};
use phantomcall_schemas::{CallType, PrivacyMode};

use crate::gui::app::{Net, PhantomApp};
use crate::gui::contacts::AutoDelete;
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

/// Draws the contacts section.
pub fn show(app: &mut PhantomApp, ui: &mut egui::Ui) {
    ui.heading("Contacts");
    let online = matches!(app.net, Net::Online(_));
    let mut dial = None;
    let mut changed = false;
    egui::ScrollArea::vertical()
        .max_height(ui.available_height() - 170.0)
        .show(ui, |ui| {
            if app.contacts.contacts.is_empty() {
                ui.label("No contacts yet: add one below by their npub.");
            }
            for (i, contact) in app.contacts.contacts.iter_mut().enumerate() {
                egui::Frame::group(ui.style()).show(ui, |ui| {
                    ui.set_width(ui.available_width());
                    ui.horizontal(|ui| {
                        ui.label(RichText::new(&contact.name).strong().size(16.0));
                        let short = &contact.key[..12.min(contact.key.len())];
                        ui.label(RichText::new(format!("{short}…")).weak().monospace());
                    });
                    ui.horizontal(|ui| {
                        changed |= mode_picker(ui, ("mode", i), "Privacy mode", &mut contact.mode);
                        egui::ComboBox::new(("autodelete", i), "Call log")
                            .selected_text(contact.auto_delete.label())
                            .show_ui(ui, |ui| {
                                for choice in AutoDelete::ALL {
                                    changed |= ui
                                        .selectable_value(
                                            &mut contact.auto_delete,
                                            choice,
                                            choice.label(),
                                        )
                                        .changed();
                                }
                            });
                    });
                    privacy_badge(ui, contact.mode);
                    ui.horizontal(|ui| {
                        let key = contact.public_key();
                        let enabled = online && key.is_some();
                        if ui
                            .add_enabled(enabled, egui::Button::new("Audio call"))
                            .clicked()
                        {
                            dial = key.map(|k| (k, CallType::Voice));
                        }
                        if ui
                            .add_enabled(enabled, egui::Button::new("Video call"))
                            .clicked()
                        {
                            dial = key.map(|k| (k, CallType::Video));
                        }
                    });
                });
            }
        });
    if changed {
        app.save_contacts();
    }
    if let Some((peer, call_type)) = dial {
        app.dial(peer, call_type);
    }

    if app.demo_peer.is_some() && online && ui.button("Let the demo contact call you").clicked() {
        app.demo_call(crate::gui::app::AutoCall::Incoming);
    }
    ui.separator();
    ui.label(RichText::new("Add a contact").strong());
    let looking_up = app.nip05_lookup().is_some();
    let form = &mut app.forms.contact;
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
    ui.label(RichText::new("nprofile, hex keys and NIP-05 names (name@domain) work too.").weak());
    if ui
        .add_enabled(!looking_up, egui::Button::new("Add contact"))
        .clicked()
    {
        let (name, key, mode) = (form.name.clone(), form.key.clone(), form.mode);
        if app.add_contact(&name, &key, mode) {
            app.forms.contact = AddForm::default();
        }
    }
}
