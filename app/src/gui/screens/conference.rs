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
        let (keys, all) = keys_line(figures);
        ui.label(RichText::new(keys).color(if all { SAFE } else { WARN }));
        if let Some(warning) = plan_warning(view.time_left) {
            ui.label(RichText::new(warning).color(WARN).strong());
        }
        ui.separator();
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
                    let key = frame_key(&frame);
                    let held = self.textures.get(&p.id).filter(|(k, _)| *k == key);
                    let texture = match held {
                        Some((_, t)) => t.clone(),
                        None => {
                            let image = egui::ColorImage::from_rgb(
                                [frame.width as usize, frame.height as usize],
                                &frame.to_rgb24(),
                            );
                            let t = ui.ctx().load_texture(
                                format!("conference-{}", p.id),
                                image,
                                egui::TextureOptions::LINEAR,
                            );
                            self.textures.insert(p.id.clone(), (key, t.clone()));
                            t
                        }
                    };
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
