//! The Conferences screen's "Host a room" part: the wallet (import once, by pasting its
//! secret), the conference service, "Create a room", then the room's links to copy and
//! "Join as host".

use eframe::egui::{self, RichText};
use zeroize::Zeroizing;

use crate::gui::action::Action;
use crate::gui::hosting::{Hosting, HostingPhase, WalletSecret};
use crate::gui::widgets::{SAFE, WARN};

/// The part's own state: what is being typed.
#[derive(Default)]
pub struct HostForm {
    /// The conference service's address.
    pub service: String,
    /// A wallet secret being pasted (taken, and wiped, on Import).
    secret: Zeroizing<String>,
}

impl HostForm {
    /// Draws the part.
    pub fn show(
        &mut self,
        hosting: &Hosting,
        identity_unlocked: bool,
        ui: &mut egui::Ui,
        out: &mut Vec<Action>,
    ) {
        ui.heading("Host a room");
        if !identity_unlocked {
            ui.label("Unlock your identity to use a wallet.");
            return;
        }
        match &hosting.wallet_address {
            Some(address) => {
                ui.label(format!("Wallet {}", short(address)))
                    .on_hover_text(address.as_str());
            }
            None => self.import_form(hosting.busy(), ui, out),
        }
        let ready = hosting.wallet_address.is_some();
        ui.horizontal(|ui| {
            let label = ui.label("Conference service");
            ui.add(
                egui::TextEdit::singleline(&mut self.service)
                    .hint_text("meet.example.org")
                    .desired_width(260.0),
            )
            .labelled_by(label.id);
            let working = matches!(hosting.phase, HostingPhase::Working(_));
            let create = ui.add_enabled(
                ready && !working && !self.service.trim().is_empty(),
                egui::Button::new("Create a room"),
            );
            if create.clicked() {
                out.push(Action::CreateRoom(self.service.trim().to_owned()));
            }
        });
        match &hosting.phase {
            HostingPhase::Idle => {
                ui.label(
                    RichText::new(
                        "Your wallet signs in (Sign-In With Solana); the room's creator hosts \
                         it: mute, remove, lock and end for everyone.",
                    )
                    .weak(),
                );
            }
            HostingPhase::Working(what) => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(what.as_str());
                });
            }
            HostingPhase::Failed(why) => {
                ui.label(RichText::new(why.as_str()).color(WARN));
            }
            HostingPhase::Created(links) => {
                ui.label(RichText::new("Room created").color(SAFE).strong());
                ui.label(links.plan.as_str());
                for (label, link) in [
                    ("Invite link", &links.invite_url),
                    ("App link", &links.app_url),
                ] {
                    ui.horizontal(|ui| {
                        ui.label(label);
                        ui.monospace(link.as_str());
                        if ui.button("Copy").clicked() {
                            ui.ctx().copy_text(link.clone());
                        }
                    });
                }
                if ui.button("Join as host").clicked() {
                    out.push(Action::JoinHostedRoom);
                }
            }
        }
    }

    fn import_form(&mut self, busy: bool, ui: &mut egui::Ui, out: &mut Vec<Action>) {
        ui.label(
            "No wallet yet. Paste your Solana wallet's secret key (base58, as a wallet exports \
             it) or the content of a Solana CLI keypair file. It is kept sealed with your \
             identity and used only to sign in to conference services.",
        );
        ui.horizontal(|ui| {
            let label = ui.label("Wallet secret key");
            ui.add(
                egui::TextEdit::singleline(&mut *self.secret)
                    .password(true)
                    .hint_text("base58, or [n, n, …]")
                    .desired_width(300.0),
            )
            .labelled_by(label.id);
            let import = ui.add_enabled(
                !busy && !self.secret.trim().is_empty(),
                egui::Button::new("Import wallet"),
            );
            if import.clicked() {
                let secret = std::mem::take(&mut self.secret);
                out.push(Action::ImportWallet(WalletSecret(secret)));
            }
        });
    }
}

/// An address shown by its ends (the whole on hover).
fn short(address: &str) -> String {
    if address.len() <= 10 {
        return address.to_owned();
    }
    format!("{}…{}", &address[..4], &address[address.len() - 4..])
}
