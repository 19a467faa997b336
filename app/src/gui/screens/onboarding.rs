//! First run: create a key or import one, protected by a password (NIP-49); and the unlock
//! screen for a key saved before.

use eframe::egui::{self, RichText};

use std::path::Path;

use crate::gui::action::Action;
use crate::gui::backend::IdentityJob;
use crate::gui::state::Stage;
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

/// A key job and what the spinner says meanwhile.
type Job = (IdentityJob, &'static str);

/// The onboarding and unlock screens: they own their forms.
#[derive(Default)]
pub struct OnboardingScreen {
    /// The first-run form.
    pub create: Form,
    /// The unlock form.
    pub unlock: UnlockForm,
}

/// What the onboarding and unlock screens show.
pub struct OnboardingView<'a> {
    /// Which of the two.
    pub stage: Stage,
    /// Something slow runs: the buttons wait.
    pub busy: bool,
    /// Where the key is saved.
    pub key_file: &'a Path,
}

impl OnboardingScreen {
    /// Draws the onboarding or unlock screen.
    pub fn show(&mut self, view: &OnboardingView<'_>, ui: &mut egui::Ui, out: &mut Vec<Action>) {
        let (job, problem) = self.form(view, ui);
        if let Some(problem) = problem {
            out.push(Action::ShowError(problem));
        }
        if let Some((job, what)) = job {
            out.push(Action::Identity { job, what });
        }
    }

    /// The form of the stage: the job asked for, or a problem with what was typed.
    fn form(
        &mut self,
        view: &OnboardingView<'_>,
        ui: &mut egui::Ui,
    ) -> (Option<Job>, Option<String>) {
        let busy = view.busy;
        let mut job = None;
        let mut problem = None;
        match view.stage {
            Stage::Unlock => {
                let form = &mut self.unlock;
                ui.heading("Unlock your identity");
                ui.label(format!(
                    "Your key is saved encrypted in {}.",
                    view.key_file.display()
                ));
                let field = text_field(ui, "Password", &mut form.password, true);
                let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if (ui.add_enabled(!busy, egui::Button::new("Unlock")).clicked() || enter) && !busy
                {
                    job = Some((
                        IdentityJob::Unlock {
                            password: form.password.clone(),
                        },
                        "Unlocking your key…",
                    ));
                }
            }
            Stage::Onboarding => {
                let form = &mut self.create;
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
                    RichText::new("The imported key is saved with the password chosen above.")
                        .weak(),
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
        (job, problem)
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
