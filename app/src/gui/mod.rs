//! The PhantomCall desktop app (eframe/egui, glow renderer).
//!
//! The UI thread only draws: keys (scrypt), relays, the call engine and media run on a
//! tokio runtime ([`backend`]), whose reports the UI drains without waiting each frame and
//! which wake the window when they arrive. The local preview is the privacy filter's
//! output, never the raw camera ([`devices`]). Contacts and the call log are encrypted at
//! rest with a key derived from the identity ([`vault`]), the log written off the UI
//! thread ([`logstore`]); settings are JSON in the config directory ([`settings`]).
//!
//! The shape: [`shell`] builds each screen's view from [`state`], the [`screens`] draw it
//! and return [`action::Action`]s, [`controller`] applies them (with [`session`] for the
//! identity and connection lifecycle and [`reports`] for what the background says), and
//! [`effects`] rings and notifies as the state says.
//!
//! Main types: [`PhantomApp`] (the shell, one `show` per frame), [`AppOptions`],
//! [`state::AppState`], [`action::Action`], [`controller::Controller`],
//! [`backend::Backend`].

pub mod action;
pub mod backend;
pub mod calllog;
pub mod calls;
pub mod chat;
pub mod conference;
pub mod console;
pub mod contacts;
pub mod controller;
pub mod devices;
pub mod effects;
pub mod hosting;
pub mod hotline_caller;
pub mod instance;
pub mod lobby;
pub mod logstore;
pub mod messages;
pub mod nip05;
pub mod options;
pub mod perf;
pub mod picture;
pub mod quality;
pub mod reports;
pub mod ring;
pub mod screens;
pub mod session;
pub mod settings;
pub mod shell;
pub mod state;
pub mod vault;
pub mod widgets;

pub use options::{AppOptions, AutoCall};
pub use shell::PhantomApp;

/// Initial window size, points: room for the video and the preview side by side.
const WINDOW_SIZE: [f32; 2] = [980.0, 680.0];

/// Opens the window and runs until it is closed.
pub fn run(options: AppOptions) -> anyhow::Result<()> {
    // Human blackout's models get ready while the window opens and the user picks someone
    // to call, so the first video call (or the lobby's preview) does not wait for them.
    // Unreadable settings leave blackout on (the filter's default), so warm then too.
    let blackout_on =
        options.demo || settings::Settings::load(&options.config_dir).map_or(true, |s| s.blackout);
    if blackout_on {
        crate::warm_up_blackout();
    }
    let backend = backend::Backend::new()?;
    let native = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_title("PhantomCall")
            .with_inner_size(WINDOW_SIZE)
            .with_min_inner_size([640.0, 480.0]),
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    eframe::run_native(
        "PhantomCall",
        native,
        Box::new(move |_cc| Ok(Box::new(PhantomApp::new(options, backend)))),
    )
    .map_err(|e| anyhow::anyhow!("the window could not open: {e}"))
}
