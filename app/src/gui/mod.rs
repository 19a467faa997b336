//! The PhantomCall desktop app (eframe/egui, glow renderer).
//!
//! The UI thread only draws: keys (scrypt), relays, the call engine and media run on a
//! tokio runtime ([`backend`]), whose reports the UI drains without waiting each frame and
//! which wake the window when they arrive. The local preview is the privacy filter's
//! output, never the raw camera ([`devices`]). Contacts and the call log are encrypted at
//! rest with a key derived from the identity ([`vault`]); settings are JSON in the config
//! directory ([`settings`]).
//!
//! Main types: [`PhantomApp`] (state and one `show` per frame), [`AppOptions`],
//! [`backend::Backend`].

pub mod app;
pub mod backend;
pub mod calllog;
pub mod calls;
pub mod contacts;
pub mod devices;
pub mod lobby;
pub mod nip05;
pub mod perf;
pub mod picture;
pub mod ring;
pub mod screens;
pub mod settings;
pub mod vault;
pub mod widgets;

pub use app::{AppOptions, PhantomApp};

/// Initial window size, points: room for the video and the preview side by side.
const WINDOW_SIZE: [f32; 2] = [980.0, 680.0];

/// Opens the window and runs until it is closed.
pub fn run(options: AppOptions) -> anyhow::Result<()> {
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
