//! The group call screens: the incoming group call window (who invites, who else is in
//! it) and the in-call view: a grid of members (blacked-out video, name, speaking or
//! muted, connection), the group keys line, mute, add someone, leave.

use std::collections::HashMap;

use calling::{GroupEnd, LeaveReason, MemberState};
use eframe::egui::{self, RichText};
use nostr_signal::PublicKey;
use phantomcall_schemas::CallType;

use crate::gui::action::Action;
use crate::gui::devices::UiDevices;
use crate::gui::screens::call::texture;
use crate::gui::state::groups::GroupView;
use crate::gui::widgets::{privacy_badge, voice_label, SAFE, WARN};

/// Width of a member's tile, points.
const TILE_WIDTH: f32 = 220.0;

/// A group call and the names the screen shows.
pub struct GroupViewModel<'a> {
    /// The call.
    pub call: &'a GroupView,
    /// A name for a member (its contact name, or the start of its npub).
    pub names: &'a dyn Fn(&PublicKey) -> String,
    /// Contacts that could be added now (not in the call), with their names.
    pub invitable: Vec<(PublicKey, String)>,
    /// Each member's video, once online.
    pub devices: Option<&'a UiDevices>,
}

/// The group screen: it owns the members' video textures.
#[derive(Default)]
pub struct GroupScreen {
    textures: HashMap<PublicKey, Option<(u64, egui::TextureHandle)>>,
}

/// What the group keys line says, and whether it is all good.
pub fn keys_line(call: &GroupView) -> (String, bool) {
    match call.keys {
        None => ("Group keys: agreeing…".to_owned(), false),
        Some((epoch, keyed, members)) if keyed >= members => (
            format!("Group keys · MLS epoch {epoch}, {keyed} of {members} members"),
            true,
        ),
        Some((epoch, keyed, members)) => (
            format!(
                "Group keys · MLS epoch {epoch}, {keyed} of {members} members: \
                 the others have DTLS-SRTP only (their app has no group keys)"
            ),
            false,
        ),
    }
}

fn member_state(state: &MemberState) -> String {
    match state {
        MemberState::Invited => "invited".into(),
        MemberState::Connecting => "connecting…".into(),
        MemberState::Connected => "connected".into(),
        MemberState::Reconnecting => "reconnecting…".into(),
        MemberState::Left(LeaveReason::HungUp) => "left".into(),
        MemberState::Left(LeaveReason::Declined) => "declined".into(),
        MemberState::Left(LeaveReason::NoAnswer) => "did not answer".into(),
        MemberState::Failed(why) => format!("connection failed: {why}"),
    }
}

fn end_text(end: &GroupEnd) -> String {
    match end {
        GroupEnd::WeLeft => "You left the group call.".into(),
        GroupEnd::WeDeclined => "You declined.".into(),
        GroupEnd::NobodyLeft => "Everyone else left.".into(),
        GroupEnd::Missed => "Missed group call.".into(),
        GroupEnd::HandledElsewhere => "Handled on another of your devices.".into(),
        GroupEnd::Refused(why) => format!("The group call could not start: {why}"),
    }
}

impl GroupScreen {
    /// Draws the group call (or its end, with a close button).
    pub fn show(&mut self, view: &GroupViewModel<'_>, ui: &mut egui::Ui, out: &mut Vec<Action>) {
        let call = view.call;
        let kind = match call.call_type {
            CallType::Voice => "audio",
            CallType::Video => "video",
        };
        ui.heading(format!(
            "Group {kind} call · {} of {} people",
            call.present() + 1,
            call.members.len() + 1
        ));
        privacy_badge(ui, call.mode);
        let (keys, all_keyed) = keys_line(call);
        ui.label(RichText::new(keys).color(if all_keyed { SAFE } else { WARN }));
        if let Some(end) = &call.ended {
            ui.separator();
            ui.label(RichText::new(end_text(end)).strong());
            if ui.button("Close").clicked() {
                out.push(Action::CloseEnded);
            }
            return;
        }
        ui.separator();
        ui.horizontal_wrapped(|ui| {
            for (member, state) in &call.members {
                self.tile(ui, view, member, state);
            }
        });
        ui.separator();
        ui.horizontal(|ui| {
            let mute = if call.muted { "Unmute" } else { "Mute" };
            if ui.button(mute).clicked() {
                out.push(Action::SetMuted(call.call_id, !call.muted));
            }
            if !view.invitable.is_empty() {
                egui::ComboBox::new(("invite", call.call_id.to_string()), "")
                    .selected_text("Add someone…")
                    .show_ui(ui, |ui| {
                        for (key, name) in &view.invitable {
                            if ui.selectable_label(false, name).clicked() {
                                out.push(Action::InviteToGroup(call.call_id, *key));
                            }
                        }
                    });
            }
            // Red like the 1:1 call's "Hang up".
            let leave = egui::Button::new(RichText::new("Leave").color(egui::Color32::WHITE))
                .fill(egui::Color32::from_rgb(0xC6, 0x28, 0x28));
            if ui.add(leave).clicked() {
                out.push(Action::Hangup(call.call_id));
            }
        });
    }

    fn tile(
        &mut self,
        ui: &mut egui::Ui,
        view: &GroupViewModel<'_>,
        member: &PublicKey,
        state: &crate::gui::state::groups::MemberView,
    ) {
        let mut frame = egui::Frame::group(ui.style());
        if state.voice.speaking {
            // Like Signal and Jitsi: the speaker's tile is outlined.
            frame = frame.stroke(egui::Stroke::new(3.0, SAFE));
        }
        frame.show(ui, |ui| {
            ui.set_width(TILE_WIDTH);
            ui.vertical(|ui| {
                ui.horizontal(|ui| {
                    ui.label(RichText::new((view.names)(member)).strong());
                    voice_label(ui, state.voice);
                });
                let video = view.call.call_type == CallType::Video;
                if let (true, Some(devices)) = (video, view.devices) {
                    let slot = devices.member_video(member);
                    let held = self.textures.entry(*member).or_default();
                    let name = format!("member-video-{}", member.to_hex());
                    if let Some(tex) = texture(ui.ctx(), &name, &slot, held) {
                        let size = tex.size_vec2();
                        let scale = (TILE_WIDTH - 10.0) / size.x.max(1.0);
                        ui.image((tex.id(), size * scale));
                    }
                }
                let mut line = member_state(&state.state);
                if let (true, Some(rtt)) = (state.media_up, state.rtt_ms) {
                    line.push_str(&format!(" · {rtt:.0} ms"));
                }
                ui.label(RichText::new(line).weak());
            });
        });
    }
}

/// The incoming group call window: who invites, who else is in it, accept or decline.
pub fn incoming_group_window(
    ringing: Option<&GroupView>,
    names: &dyn Fn(&PublicKey) -> String,
    ctx: &egui::Context,
    out: &mut Vec<Action>,
) {
    let Some(call) = ringing else {
        return;
    };
    let from = call.ringing_from.map(|k| names(&k)).unwrap_or_default();
    let others: Vec<String> = call
        .members
        .keys()
        .filter(|k| Some(**k) != call.ringing_from)
        .map(names)
        .collect();
    egui::Window::new("Incoming group call")
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
        .show(ctx, |ui| {
            ui.heading(format!("{from} invites you to a group call"));
            if !others.is_empty() {
                ui.label(format!("Also in it: {}", others.join(", ")));
            }
            privacy_badge(ui, call.mode);
            ui.horizontal(|ui| {
                if ui.button("Join").clicked() {
                    out.push(Action::Accept {
                        call: call.call_id,
                        video: call.call_type == CallType::Video,
                    });
                }
                if ui.button("Decline").clicked() {
                    out.push(Action::Decline(call.call_id));
                }
            });
        });
}
