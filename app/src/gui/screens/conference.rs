//! The Conferences screen: join a room by its invite link, or host one
//! ([`super::conference_host`]); in the room, a grid of
//! participants (blacked-out video, name, host or guest, muted; the active speaker
//! outlined), the encryption line with the number of participants holding the key, the
//! plan's time limit before it bites, host controls for the host, mute and leave.

use std::collections::HashMap;
use std::time::Duration;

use calling::conference::{ConferenceCommand, ConferenceFigures, ConferenceLink};
use eframe::egui::{self, RichText};

use crate::gui::action::Action;
use crate::gui::widgets::{SAFE, WARN};

/// Width of a participant's tile, points.
const TILE_WIDTH: f32 = 200.0;
/// Widest a shared screen is drawn, points.
const SCREEN_WIDTH: f32 = 760.0;
/// The plan's end is shown this long before it comes.
pub const WARN_BEFORE_END: Duration = Duration::from_secs(5 * 60);

/// Where the conference stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ConferencePhase {
    /// Not in a room: the join form.
    #[default]
    Idle,
    /// Connecting and joining.
    Joining,
    /// In the room.
    In,
    /// Left, removed, ended or refused, with what to say.
    Over(String),
}

/// What the screen shows.
pub struct ConferenceViewModel<'a> {
    /// Where the join stands.
    pub phase: &'a ConferencePhase,
    /// The room's figures, while in it.
    pub figures: Option<&'a ConferenceFigures>,
    /// Time left by the plan, when known.
    pub time_left: Option<Duration>,
    /// The service's last refusal or a share's failure, for the user.
    pub notice: Option<&'a str>,
    /// The wallet and the room we host.
    pub hosting: &'a crate::gui::hosting::Hosting,
    /// Whether the identity is unlocked (the wallet is sealed with it).
    pub signed_in: bool,
}

/// The screen's own state: the link being typed, the video textures.
#[derive(Default)]
pub struct ConferenceScreen {
    /// The invite link field.
    pub link: String,
    /// The "Host a room" part.
    pub host: super::conference_host::HostForm,
    textures: HashMap<String, (usize, egui::TextureHandle)>,
}

/// The encryption line and whether every participant holds the key.
pub fn keys_line(figures: &ConferenceFigures) -> (String, bool) {
    let present = figures.participants.len();
    match figures.epoch {
        None => (
            "End-to-end encrypted: agreeing on the room's key… (nothing is sent until then)"
                .to_owned(),
            false,
        ),
        Some(epoch) => (
            format!(
                "End-to-end encrypted: the server forwards ciphertext only · the key is held \
                 by {} of {present} participants (MLS epoch {epoch})",
                figures.key_members
            ),
            figures.key_members >= present,
        ),
    }
}

/// "Reconnecting…" while the client rejoins after the connection to the service was lost.
pub fn reconnecting_banner(figures: &ConferenceFigures) -> Option<String> {
    let attempt = figures.reconnecting?;
    Some(if attempt <= 1 {
        "Reconnecting… the connection to the conference service was lost".to_owned()
    } else {
        format!("Reconnecting… the connection to the conference service was lost (try {attempt})")
    })
}

/// "This room ends in 5 minutes" once the plan's end is near.
pub fn plan_warning(time_left: Option<Duration>) -> Option<String> {
    let left = time_left?;
    if left > WARN_BEFORE_END {
        return None;
    }
    let minutes = left.as_secs().div_ceil(60);
    Some(match minutes {
        0 => "This room is ending now: the host's plan limits its length".to_owned(),
        1 => "This room ends in 1 minute: the host's plan limits its length".to_owned(),
        m => format!("This room ends in {m} minutes: the host's plan limits its length"),
    })
}

impl ConferenceScreen {
    /// Draws the screen.
    pub fn show(
        &mut self,
        view: &ConferenceViewModel<'_>,
        ui: &mut egui::Ui,
        out: &mut Vec<Action>,
    ) {
        ui.heading("Conferences");
        match (view.phase, view.figures) {
            (ConferencePhase::In, Some(figures)) => self.room(view, figures, ui, out),
            (ConferencePhase::Joining, _) => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Joining the room…");
                });
            }
            (ConferencePhase::Over(why), _) => {
                ui.label(RichText::new(why).strong());
                if ui.button("Close").clicked() {
                    out.push(Action::CloseConference);
                }
            }
            _ => {
                self.join_form(ui, out);
                ui.separator();
                self.host.show(view.hosting, view.signed_in, ui, out);
            }
        }
    }

    fn join_form(&mut self, ui: &mut egui::Ui, out: &mut Vec<Action>) {
        ui.label("Join a room with the invite link its host shared.");
        ui.horizontal(|ui| {
            let label = ui.label("Invite link");
            ui.add(
                egui::TextEdit::singleline(&mut self.link)
                    .hint_text("phantomcall://join/… or https://…/join/…")
                    .desired_width(420.0),
            )
            .labelled_by(label.id);
        });
        if ui.button("Join").clicked() {
            match ConferenceLink::parse(&self.link) {
                Ok(_) => out.push(Action::JoinConference(self.link.trim().to_owned())),
                Err(e) => out.push(Action::ShowError(e.to_string())),
            }
        }
        ui.label(
            RichText::new(
                "You join as a guest: audio and blacked-out video, no screen share. Media is \
                 end-to-end encrypted under the room's MLS key; the server forwards \
                 ciphertext only.",
            )
            .weak(),
        );
    }

    fn room(
        &mut self,
        view: &ConferenceViewModel<'_>,
        figures: &ConferenceFigures,
        ui: &mut egui::Ui,
        out: &mut Vec<Action>,
    ) {
        let role = match (figures.host, figures.anonymous) {
            (true, _) => " · you host",
            (false, true) => " · you are a guest",
            _ => "",
        };
        ui.label(format!(
            "{} in the room{}{}",
            figures.participants.len(),
            role,
            if figures.locked { " · locked" } else { "" }
        ));
        if let Some(banner) = reconnecting_banner(figures) {
            // As Jitsi shows it: across the room, until the rejoin is done or given up.
            egui::Frame::new()
                .fill(WARN.gamma_multiply(0.25))
                .inner_margin(8.0)
                .show(ui, |ui| {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label(RichText::new(banner).color(WARN).strong());
                    });
                });
        }
        let (keys, all) = keys_line(figures);
        ui.label(RichText::new(keys).color(if all { SAFE } else { WARN }));
        if let Some(warning) = plan_warning(view.time_left) {
            ui.label(RichText::new(warning).color(WARN).strong());
        }
        if let Some(notice) = view.notice {
            ui.label(RichText::new(notice).color(WARN));
        }
        ui.separator();
        self.shared_screen(figures, ui);
        let speaker = figures.active_speaker().map(str::to_owned);
        ui.horizontal_wrapped(|ui| {
            for p in &figures.participants {
                self.tile(
                    ui,
                    figures,
                    p,
                    speaker.as_deref() == Some(p.id.as_str()),
                    out,
                );
            }
        });
        ui.separator();
        ui.horizontal(|ui| {
            let mute = if figures.muted { "Unmute" } else { "Mute" };
            if ui.button(mute).clicked() {
                out.push(Action::Conference(ConferenceCommand::SetMuted(
                    !figures.muted,
                )));
            }
            if figures.sharing_screen {
                if ui.button("Stop sharing").clicked() {
                    out.push(Action::Conference(ConferenceCommand::StopScreenShare));
                }
            } else if !figures.anonymous && ui.button("Share screen").clicked() {
                // Every plan allows 720 lines; the service answers with the plan's own cap,
                // which the share then uses.
                out.push(Action::Conference(ConferenceCommand::ShareScreen {
                    height: 720,
                }));
            }
            if figures.host {
                let lock = if figures.locked {
                    "Unlock room"
                } else {
                    "Lock room"
                };
                if ui.button(lock).clicked() {
                    out.push(Action::Conference(ConferenceCommand::Lock(!figures.locked)));
                }
                if ui.button("End for everyone").clicked() {
                    out.push(Action::Conference(ConferenceCommand::End));
                }
            }
            let leave = egui::Button::new(RichText::new("Leave").color(egui::Color32::WHITE))
                .fill(egui::Color32::from_rgb(0xC6, 0x28, 0x28));
            if ui.add(leave).clicked() {
                out.push(Action::Conference(ConferenceCommand::Leave));
            }
        });
    }

    /// Someone's screen share, large, above the cameras (the first live one).
    fn shared_screen(&mut self, figures: &ConferenceFigures, ui: &mut egui::Ui) {
        if figures.sharing_screen {
            ui.label(
                RichText::new("You are sharing your screen")
                    .color(WARN)
                    .strong(),
            );
        }
        let Some((sender, frame)) = figures.senders.iter().find_map(|s| {
            s.last_screen_frame
                .clone()
                .filter(|_| s.sharing_screen)
                .map(|f| (s, f))
        }) else {
            return;
        };
        let name = figures
            .participants
            .iter()
            .find(|p| p.id == sender.participant)
            .map_or("Someone", |p| p.display_name.as_str());
        ui.label(RichText::new(format!("{name} is sharing their screen")).strong());
        let texture = self.texture(ui, &format!("screen-{}", sender.participant), &frame);
        let size = texture.size_vec2();
        let width = ui.available_width().min(SCREEN_WIDTH);
        ui.image((texture.id(), size * (width / size.x.max(1.0))));
        ui.separator();
    }

    /// The texture of `frame` under `key`, uploaded again only when the frame is new.
    fn texture(
        &mut self,
        ui: &egui::Ui,
        key: &str,
        frame: &std::sync::Arc<media::video::DecodedFrame>,
    ) -> egui::TextureHandle {
        let id = frame_key(frame);
        if let Some((held, t)) = self.textures.get(key) {
            if *held == id {
                return t.clone();
            }
        }
        let image = egui::ColorImage::from_rgb(
            [frame.width as usize, frame.height as usize],
            &frame.to_rgb24(),
        );
        let t = ui.ctx().load_texture(
            format!("conference-{key}"),
            image,
            egui::TextureOptions::LINEAR,
        );
        self.textures.insert(key.to_owned(), (id, t.clone()));
        t
    }

    fn tile(
        &mut self,
        ui: &mut egui::Ui,
        figures: &ConferenceFigures,
        p: &calling::conference::Participant,
        speaking: bool,
        out: &mut Vec<Action>,
    ) {
        let me = p.id == figures.participant_id;
        let mut frame = egui::Frame::group(ui.style());
        if speaking {
            // The active speaker is outlined, as in the group call screen.
            frame = frame.stroke(egui::Stroke::new(3.0, SAFE));
        }
        frame.show(ui, |ui| {
            ui.set_width(TILE_WIDTH);
            ui.vertical(|ui| {
                let mut name = p.display_name.clone();
                if me {
                    name.push_str(" (you)");
                }
                ui.label(RichText::new(name).strong());
                let mut tags = Vec::new();
                if p.host {
                    tags.push("host");
                }
                if p.anonymous {
                    tags.push("guest");
                }
                if p.muted {
                    tags.push("muted");
                }
                if speaking {
                    tags.push("speaking");
                }
                if !tags.is_empty() {
                    ui.label(RichText::new(tags.join(" · ")).weak());
                }
                let sender = figures.senders.iter().find(|s| s.participant == p.id);
                if let Some(frame) = sender.and_then(|s| s.last_frame.clone()) {
                    let texture = self.texture(ui, &p.id, &frame);
                    let size = texture.size_vec2();
                    let scale = (TILE_WIDTH - 10.0) / size.x.max(1.0);
                    ui.image((texture.id(), size * scale));
                }
                if figures.host && !me {
                    ui.horizontal(|ui| {
                        if !p.muted && ui.button("Mute").clicked() {
                            out.push(Action::Conference(ConferenceCommand::Mute(p.id.clone())));
                        }
                        if ui.button("Remove").clicked() {
                            out.push(Action::Conference(ConferenceCommand::Remove(p.id.clone())));
                        }
                    });
                }
            });
        });
    }
}

/// A frame's identity (a new decoded frame is a new allocation).
fn frame_key(frame: &std::sync::Arc<media::video::DecodedFrame>) -> usize {
    std::sync::Arc::as_ptr(frame) as usize
}
