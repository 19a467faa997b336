//! The call screens: the incoming-call window (accept audio / accept video / decline) and
//! the in-call view (remote video, the peer's shared screen, the filtered local preview,
//! mute, camera, screen share, hang up, timer, quality), with the privacy badge and
//! encryption line always on screen.

use eframe::egui::{self, Color32, RichText};
use phantomcall_schemas::{CallType, PrivacyMode};

use crate::gui::action::Action;
use crate::gui::calllog::LogResult;
use crate::gui::calls::{clock, CallView};
use crate::gui::devices::{FrameSlot, UiDevices};
use crate::gui::screens::share;
use crate::gui::widgets::{
    media_keys_line, peer_without_modes_line, privacy_badge, protection_line, signal_path_line,
    voice_label, SAFE, WARN,
};
use calling::{CallState, Direction, VideoQuality, LOW_VIDEO_KBPS};

/// Size of the local preview, points.
const PREVIEW_WIDTH: f32 = 200.0;

/// A call and the name of its peer, as the call screens show it.
pub struct CallViewModel<'a> {
    /// The call.
    pub call: &'a CallView,
    /// The peer's contact name (or short key).
    pub name: String,
    /// The video slots (remote camera, remote screen, our preview), once online.
    pub devices: Option<&'a UiDevices>,
    /// What a hotline says about this call (place in its queue, who put us through).
    pub note: Option<&'a str>,
}

/// The in-call screen: it owns the video textures.
#[derive(Default)]
pub struct CallScreen {
    video: VideoTextures,
}

/// The GPU textures of the remote video and of the preview.
#[derive(Default)]
struct VideoTextures {
    remote: Option<(u64, egui::TextureHandle)>,
    remote_screen: Option<(u64, egui::TextureHandle)>,
    preview: Option<(u64, egui::TextureHandle)>,
}

/// Uploads the slot's picture if it changed; returns the texture to draw.
pub(crate) fn texture<'a>(
    ctx: &egui::Context,
    name: &str,
    slot: &FrameSlot,
    held: &'a mut Option<(u64, egui::TextureHandle)>,
) -> Option<&'a egui::TextureHandle> {
    let seen = held.as_ref().map_or(0, |(g, _)| *g);
    if let Some((generation, picture)) = slot.newer_than(seen) {
        let image = egui::ColorImage::from_rgba_unmultiplied(
            [picture.width as usize, picture.height as usize],
            &picture.rgba,
        );
        match held {
            Some((g, tex)) => {
                tex.set(image, egui::TextureOptions::LINEAR);
                *g = generation;
            }
            None => {
                *held = Some((
                    generation,
                    ctx.load_texture(name, image, egui::TextureOptions::LINEAR),
                ))
            }
        }
    }
    held.as_ref().map(|(_, t)| t)
}

/// The incoming-call window, while a call rings here.
pub fn incoming_window(
    view: Option<&CallViewModel<'_>>,
    ctx: &egui::Context,
    out: &mut Vec<Action>,
) {
    let Some(CallViewModel { call, name, .. }) = view else {
        return;
    };
    let mut action = None;
    egui::Window::new("Incoming call")
        .collapsible(false)
        .resizable(false)
        .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
        .show(ctx, |ui| {
            ui.heading(format!("{name} is calling"));
            ui.label(match call.call_type {
                CallType::Video => "Video call",
                CallType::Voice => "Audio call",
            });
            privacy_badge(ui, call.mode);
            if call.peer_without_modes {
                peer_without_modes_line(ui);
            }
            signal_path_line(ui, call.signaled_via);
            protection_line(ui, call.phone.as_ref());
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                if ui.button("Accept audio").clicked() {
                    action = Some(Some(false));
                }
                if call.call_type == CallType::Video && ui.button("Accept video").clicked() {
                    action = Some(Some(true));
                }
                if ui.button("Decline").clicked() {
                    action = Some(None);
                }
            });
        });
    // Keep ringing visible: the window repaints itself until answered.
    ctx.request_repaint_after(std::time::Duration::from_millis(500));
    match action {
        Some(Some(video)) => out.push(Action::Accept {
            call: call.call_id,
            video,
        }),
        Some(None) => out.push(Action::Decline(call.call_id)),
        None => {}
    }
}

impl CallScreen {
    /// The in-call view (or the summary of the call that just ended).
    pub fn show(&mut self, view: &CallViewModel<'_>, ui: &mut egui::Ui, out: &mut Vec<Action>) {
        let call = view.call;
        if call.direction == Direction::Incoming && call.state == CallState::Ringing {
            ui.label("Incoming call…");
            return;
        }
        header(view, ui);
        if call.is_live() {
            controls(call, ui, out);
            if call.phone.is_some() {
                keypad(call, ui, out);
            }
            share::sharing_banner(call, ui, out);
            if let Some(devices) = view.devices {
                self.video_area(call, &view.name, devices, ui);
            }
        } else {
            let entry = call.log_entry();
            if entry.result == LogResult::Answered {
                ui.label(format!(
                    "Lasted {}",
                    clock(std::time::Duration::from_secs(entry.duration_secs))
                ));
            }
            if ui.button("Close").clicked() {
                out.push(Action::CloseEnded);
            }
        }
    }
}

/// Name, status, timer, privacy badge, encryption line, and while live the quality line.
fn header(view: &CallViewModel<'_>, ui: &mut egui::Ui) {
    let call = view.call;
    ui.horizontal(|ui| {
        ui.heading(&view.name);
        ui.label(RichText::new(call.status()).size(16.0));
        if let Some(t) = call.elapsed() {
            ui.label(RichText::new(clock(t)).monospace().size(16.0));
        }
        if call.is_live() {
            voice_label(ui, call.peer_voice);
        }
    });
    if let Some(note) = view.note {
        ui.label(RichText::new(note).strong());
    }
    privacy_badge(ui, call.mode);
    if call.peer_without_modes {
        peer_without_modes_line(ui);
    }
    signal_path_line(ui, call.signaled_via);
    protection_line(ui, call.phone.as_ref());
    media_keys_line(ui, call.media_keys);
    if call.is_live() {
        ui.horizontal(|ui| {
            let quality = call.quality();
            let colour = match quality {
                "good" => SAFE,
                "fair" | "measuring…" => Color32::GRAY,
                _ => WARN,
            };
            ui.label(RichText::new(format!("Quality: {quality}")).color(colour));
            if let Some(reason) = call.quality_reason() {
                ui.label(RichText::new(format!("({reason})")).color(colour));
            }
            if let Some(stats) = &call.stats {
                if let Some(rtt) = stats.peer.rtt_ms {
                    ui.label(RichText::new(format!("{rtt:.0} ms")).weak());
                }
                ui.label(
                    RichText::new(format!(
                        "in {:.0} kbit/s · out {:.0} kbit/s",
                        stats.bitrate_in_kbps, stats.bitrate_out_kbps
                    ))
                    .weak(),
                );
            }
            if let Some(notice) = &call.notice {
                ui.label(RichText::new(notice).color(WARN));
            }
        });
    }
}

fn controls(call: &CallView, ui: &mut egui::Ui, out: &mut Vec<Action>) {
    ui.horizontal(|ui| {
        let mute = if call.muted { "Unmute" } else { "Mute" };
        if ui.button(mute).clicked() {
            out.push(Action::SetMuted(call.call_id, !call.muted));
        }
        let mut processing = call.voice_processing;
        let toggle = ui
            .checkbox(&mut processing, "Echo cancellation")
            .on_hover_text(
                "Echo cancellation, noise suppression and level control on your microphone. \
             Turn it off with headphones if your voice sounds thin.",
            );
        if toggle.changed() {
            out.push(Action::SetVoiceProcessing(call.call_id, processing));
        }
        if call.sending_video {
            let camera = if call.camera_off {
                "Camera on"
            } else {
                "Camera off"
            };
            let button = ui.button(camera);
            let button = if call.camera_off && call.mode == PrivacyMode::Paranoid {
                button.on_hover_text(
                    "Paranoid calls start audio only: turning the camera on sends your \
                     blacked-out video through the proxy",
                )
            } else {
                button
            };
            if button.clicked() {
                out.push(Action::SetCameraOff(call.call_id, !call.camera_off));
            }
        }
        share::share_button(call, ui, out);
        let hang_up = egui::Button::new(RichText::new("Hang up").color(Color32::WHITE))
            .fill(Color32::from_rgb(0xC6, 0x28, 0x28));
        if ui.add(hang_up).clicked() {
            out.push(Action::Hangup(call.call_id));
        }
    });
    if call.call_type == CallType::Video && call.sending_video {
        emergency(call, ui, out);
    }
}

/// One click each, no confirmation: stop all video, black the camera now, or cap the
/// bitrate. Each says what it did next to it.
fn emergency(call: &CallView, ui: &mut egui::Ui, out: &mut Vec<Action>) {
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("Emergency:").strong());
        let audio_only = call.video_quality == VideoQuality::Off;
        if audio_only {
            if ui.button("Video back on").clicked() {
                out.push(Action::AudioOnly(call.call_id, false));
            }
            ui.label(RichText::new("Audio only: no video is sent").color(SAFE));
            return;
        }
        if ui
            .button("Audio only")
            .on_hover_text("Camera off and no video sent at all")
            .clicked()
        {
            out.push(Action::AudioOnly(call.call_id, true));
        }
        if ui
            .add_enabled(!call.camera_off, egui::Button::new("Camera off now"))
            .on_hover_text("Black frames from now on")
            .clicked()
        {
            out.push(Action::SetCameraOff(call.call_id, true));
        }
        if call.video_quality == VideoQuality::Low {
            if ui.button("Normal quality").clicked() {
                out.push(Action::SetVideoQuality(call.call_id, VideoQuality::Normal));
            }
            ui.label(RichText::new(format!("Video capped at {LOW_VIDEO_KBPS} kbit/s")).weak());
        } else if ui
            .button("Lower quality")
            .on_hover_text(format!("Cap the video at {LOW_VIDEO_KBPS} kbit/s"))
            .clicked()
        {
            out.push(Action::SetVideoQuality(call.call_id, VideoQuality::Low));
        }
    });
}

impl CallScreen {
    fn video_area(&mut self, call: &CallView, name: &str, devices: &UiDevices, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        let video = &mut self.video;
        let screen = if call.remote_screen {
            texture(
                &ctx,
                "remote-screen",
                &devices.remote_screen,
                &mut video.remote_screen,
            )
            .cloned()
        } else {
            None
        };
        if call.call_type != CallType::Video {
            match screen {
                // An audio call shows the peer's screen share, the one video it has.
                Some(tex) => shared_screen(ui, name, &tex, 0.0),
                None => {
                    ui.add_space(20.0);
                    ui.label(RichText::new("Audio call").size(20.0).weak());
                }
            }
            return;
        }
        let remote = texture(&ctx, "remote-video", &devices.remote, &mut video.remote).cloned();
        let preview = texture(&ctx, "local-preview", &devices.preview, &mut video.preview).cloned();
        let available = ui.available_size();
        ui.horizontal_top(|ui| {
            match (&screen, remote) {
                // The shared screen takes the stage; the camera moves to the side column.
                (Some(tex), remote) => {
                    shared_screen(ui, name, tex, PREVIEW_WIDTH + 16.0);
                    ui.vertical(|ui| {
                        if let Some(cam) = remote {
                            let size =
                                fit(cam.size_vec2(), egui::vec2(PREVIEW_WIDTH, PREVIEW_WIDTH));
                            ui.add(egui::Image::new((cam.id(), size)).alt_text("Remote video"));
                        }
                        own_preview(ui, call, preview);
                    });
                }
                (None, Some(tex)) => {
                    let size = fit(
                        tex.size_vec2(),
                        available - egui::vec2(PREVIEW_WIDTH + 16.0, 10.0),
                    );
                    ui.add(egui::Image::new((tex.id(), size)).alt_text("Remote video"));
                    ui.vertical(|ui| own_preview(ui, call, preview));
                }
                (None, None) => {
                    ui.label("Waiting for the other side's video…");
                    ui.vertical(|ui| own_preview(ui, call, preview));
                }
            }
        });
    }
}

/// The peer's shared screen, as large as the room left of `side` allows.
fn shared_screen(ui: &mut egui::Ui, name: &str, tex: &egui::TextureHandle, side: f32) {
    ui.vertical(|ui| {
        ui.label(RichText::new(format!("{name} is sharing their screen")).strong());
        let room = ui.available_size() - egui::vec2(side, 30.0);
        let size = fit(tex.size_vec2(), room);
        ui.add(egui::Image::new((tex.id(), size)).alt_text("Shared screen"));
    });
}

/// Our camera as sent (the filter's output) and the filter's state.
fn own_preview(ui: &mut egui::Ui, call: &CallView, preview: Option<egui::TextureHandle>) {
    ui.label(RichText::new("You (as sent)").weak());
    if call.camera_off || !call.sending_video {
        ui.label("Camera off");
    } else if let Some(tex) = preview {
        let size = fit(tex.size_vec2(), egui::vec2(PREVIEW_WIDTH, PREVIEW_WIDTH));
        ui.add(egui::Image::new((tex.id(), size)).alt_text("Your video as sent"));
    }
    match &call.blackout {
        Some((state, true)) => {
            ui.label(RichText::new(format!("Protected: {state}")).color(SAFE));
        }
        Some((state, false)) => {
            ui.label(RichText::new(state).color(WARN));
        }
        None => {}
    }
}

/// `size` scaled to fit in `room`, aspect kept.
pub(crate) fn fit(size: egui::Vec2, room: egui::Vec2) -> egui::Vec2 {
    let scale = (room.x / size.x).min(room.y / size.y).clamp(0.05, 4.0);
    size * scale
}

/// A phone keypad: each key goes to the telephone as a keypad tone (menus, PINs).
fn keypad(call: &CallView, ui: &mut egui::Ui, out: &mut Vec<Action>) {
    ui.group(|ui| {
        ui.label(RichText::new("Keypad").strong());
        if !call.keys_pressed.is_empty() {
            ui.label(RichText::new(&call.keys_pressed).monospace());
        }
        for row in ["123", "456", "789", "*0#"] {
            ui.horizontal(|ui| {
                for key in row.chars() {
                    let button = egui::Button::new(RichText::new(key.to_string()).size(18.0))
                        .min_size(egui::vec2(40.0, 32.0));
                    if ui.add(button).clicked() {
                        out.push(Action::Keypad(call.call_id, key));
                    }
                }
            });
        }
    });
}
