//! First run: create a key or import one, protected by a password (NIP-49); and the unlock
//! screen for a key saved before.

use eframe::egui::{self, RichText};

use crate::gui::app::{PhantomApp, Stage};
use crate::gui::backend::IdentityJob;
use crate::gui::widgets::text_field;

/// Shortest password accepted: NIP-49's scrypt slows guessing, it does not make a
/// three-letter password safe.
const MIN_PASSWORD: usize = 8;

/// The first-run form.
#[derive(Default)]
pub struct Form {
    /// New password.
    pub password: String,
    /// Repeated.
    pub repeat: String,
    /// nsec / hex / ncryptsec to import.
    pub secret: String,
    /// The ncryptsec's password.
    pub secret_password: String,
}

/// The unlock form.
#[derive(Default)]
pub struct UnlockForm {
    /// The key's password.
    pub password: String,
}

/// Draws the onboarding or unlock screen.
pub fn show(app: &mut PhantomApp, ui: &mut egui::Ui) {
    let busy = app.busy.is_some();
    let mut job = None;
    let mut problem = None;
    match &mut app.stage {
        Stage::Unlock(form) => {
            ui.heading("Unlock your identity");
            ui.label(format!(
                "Your key is saved encrypted in {}.",
                app.options.key_file.display()
            ));
            let field = text_field(ui, "Password", &mut form.password, true);
            let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.add_enabled(!busy, egui::Button::new("Unlock")).clicked() || enter) && !busy {
                job = Some((
                    IdentityJob::Unlock {
                        password: form.password.clone(),
                    },
                    "Unlocking your key…",
                ));
            }
        }
        Stage::Onboarding(form) => {
            ui.heading("Welcome to PhantomCall");
            ui.label(
                "Private calls between Nostr identities. Your identity is a key pair that \
                 stays on this computer, encrypted with a password (NIP-49).",
            );
            ui.add_space(12.0);
            ui.label(RichText::new("Create a new identity").strong());
            text_field(ui, "Password", &mut form.password, true);
            text_field(ui, "Repeat password", &mut form.repeat, true);
            if ui
                .add_enabled(!busy, egui::Button::new("Create identity"))
                .clicked()
            {
                match check_password(&form.password, &form.repeat) {
                    Ok(()) => {
                        job = Some((
                            IdentityJob::Create {
                                password: form.password.clone(),
                            },
                            "Creating and encrypting your key…",
                        ))
                    }
                    Err(e) => problem = Some(e),
                }
            }
            ui.add_space(16.0);
            ui.separator();
            ui.label(RichText::new("Or import a key you already have").strong());
            text_field(ui, "nsec or ncryptsec", &mut form.secret, true);
            text_field(
                ui,
                "Its password (ncryptsec)",
                &mut form.secret_password,
                true,
            );
            ui.label(
                RichText::new("The imported key is saved with the password chosen above.").weak(),
            );
            if ui.add_enabled(!busy, egui::Button::new("Import")).clicked() {
                match check_password(&form.password, &form.repeat) {
                    _ if form.secret.trim().is_empty() => {
                        problem = Some("paste an nsec or ncryptsec to import".into())
                    }
                    Ok(()) => {
                        job = Some((
                            IdentityJob::Import {
                                secret: std::mem::take(&mut form.secret),
                                secret_password: form.secret_password.clone(),
                                password: form.password.clone(),
                            },
                            "Importing and encrypting your key…",
                        ))
                    }
                    Err(e) => problem = Some(e),
                }
            }
        }
        Stage::Welcome | Stage::Ready => {}
    }
    if let Some(problem) = problem {
        app.error = Some(problem);
    }
    if let Some((job, what)) = job {
        app.start_identity_job(job, what);
    }
}

fn check_password(password: &str, repeat: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(format!(
            "choose a password of at least {MIN_PASSWORD} characters"
        ));
    }
    if password != repeat {
        return Err("the two passwords differ".into());
    }
    Ok(())
}
