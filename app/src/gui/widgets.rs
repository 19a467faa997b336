//! Small pieces shown on several screens: the privacy badge, the encryption line, the npub
//! with its copy button and QR code, labelled text fields.

use calling::policy::ModePolicy;
use eframe::egui::{self, Color32, RichText};
use phantomcall_schemas::PrivacyMode;
use qrcode::{Color, QrCode};

/// Colour of the "your IP may be seen" warning.
pub const WARN: Color32 = Color32::from_rgb(0xE0, 0x8A, 0x1E);
/// Colour of protected states.
pub const SAFE: Color32 = Color32::from_rgb(0x3C, 0xA5, 0x5C);
/// Colour of errors.
pub const ERROR: Color32 = Color32::from_rgb(0xD6, 0x45, 0x45);

/// The mode badge ("Mode: Fast") with what it means for the user's IP address; in Fast
/// mode the warning "Peer may see your IP" stands out.
pub fn privacy_badge(ui: &mut egui::Ui, mode: PrivacyMode) {
    let summary = ModePolicy::for_mode(mode).summary();
    let colour = if mode == PrivacyMode::Fast {
        WARN
    } else {
        SAFE
    };
    ui.horizontal_wrapped(|ui| {
        egui::Frame::new()
            .fill(colour)
            .corner_radius(6.0)
            .inner_margin(egui::Margin::symmetric(8, 2))
            .show(ui, |ui| {
                ui.label(
                    RichText::new(format!("Mode: {}", summary.title))
                        .color(Color32::WHITE)
                        .strong(),
                );
            });
        ui.label(RichText::new(summary.ip_exposure).color(colour))
            .on_hover_text(summary.expected_delay);
    });
}

/// What a call with a peer whose app does not support privacy modes means, in plain words.
pub const PEER_WITHOUT_MODES: &str = "Their app does not support privacy modes: your side \
    keeps its mode and hides your IP as usual, but their IP may be visible to you and your \
    TURN server.";

/// The note shown on a call with a peer whose app does not support privacy modes.
pub fn peer_without_modes_line(ui: &mut egui::Ui) {
    ui.label(RichText::new(PEER_WITHOUT_MODES).color(WARN));
}

/// What using Bluetooth LE tells people nearby (docs/ble.md has the whole table).
pub const BLE_REVEALS: &str = "Bluetooth lets people nearby see that a PhantomCall device is \
    here (not who you are or whom you call).";

/// The signaling path of a call, when it is not the relays: "Signaling via Bluetooth,
/// 2 hops" and what that reveals.
pub fn signal_path_line(ui: &mut egui::Ui, via: Option<nostr_signal::Via>) {
    let Some(via) = via.filter(|via| via.link == nostr_signal::LinkKind::Ble) else {
        return;
    };
    ui.label(RichText::new(format!("Signaling {via}")).strong());
    ui.label(RichText::new(BLE_REVEALS).color(WARN));
}

/// What a call with a telephone at one end means, in plain words.
pub const PHONE_NOT_E2EE: &str = "Not end-to-end encrypted: the phone leg is an ordinary \
    phone call. The gateway's operator and the phone company can hear it.";

/// The number a phone call shows: the gateway's (possibly masked) or the one dialled.
pub fn phone_number(leg: &phantomcall_schemas::PhoneLeg) -> &str {
    match leg {
        phantomcall_schemas::PhoneLeg::Phone { shown, .. } => shown,
        phantomcall_schemas::PhoneLeg::Dial { number } => number,
    }
}

/// A phone call's line, shown instead of the encryption line: who is on the phone and
/// that the call is not end-to-end encrypted past the gateway.
pub fn phone_line(ui: &mut egui::Ui, leg: &phantomcall_schemas::PhoneLeg) {
    ui.label(RichText::new(format!("Phone call: {}", phone_number(leg))).strong());
    ui.label(RichText::new(PHONE_NOT_E2EE).color(WARN).strong());
}

/// The encryption line, or for a phone call the phone line in its place.
pub fn protection_line(ui: &mut egui::Ui, phone: Option<&phantomcall_schemas::PhoneLeg>) {
    match phone {
        Some(leg) => phone_line(ui, leg),
        None => encryption_line(ui),
    }
}

/// The encryption indicator with its one-line explanation.
pub fn encryption_line(ui: &mut egui::Ui) {
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("End-to-end encrypted").color(SAFE).strong());
        ui.label(
            RichText::new(
                "media: DTLS-SRTP keyed to your Nostr identity; call messages: gift-wrapped (NIP-59)",
            )
            .weak(),
        );
    });
}

/// The call's end-to-end media keys: post-quantum (with the safety code both ends show),
/// or DTLS-SRTP alone because the other app has no such layer. Nothing while agreeing.
pub fn media_keys_line(ui: &mut egui::Ui, keys: calling::e2ee::MediaKeys) {
    use calling::e2ee::MediaKeys;
    match keys {
        MediaKeys::Pending => {}
        MediaKeys::PostQuantum { .. } => {
            let code = keys.code().unwrap_or_default();
            ui.label(
                RichText::new(format!("Post-quantum media keys · safety code {code}")).color(SAFE),
            )
            .on_hover_text(
                "Frames are also encrypted with SFrame under a hybrid X25519 + ML-KEM-768 key: \
                     a recording of this call stays private even against a future quantum \
                     computer. The code is the same on both ends.",
            );
        }
        MediaKeys::TransportOnly => {
            ui.label(
                RichText::new("No post-quantum media layer: the other app does not support it")
                    .color(WARN),
            );
        }
        MediaKeys::Group { epoch } => {
            ui.label(RichText::new(format!("Group keys · MLS epoch {epoch}")).color(SAFE));
        }
    }
}

/// A labelled single-line text field; the label names it for screen readers and tests.
pub fn text_field(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut String,
    password: bool,
) -> egui::Response {
    ui.horizontal(|ui| {
        let l = ui.add_sized([150.0, 20.0], egui::Label::new(label));
        ui.add(
            egui::TextEdit::singleline(value)
                .password(password)
                .desired_width(320.0),
        )
        .labelled_by(l.id)
    })
    .inner
}

/// The npub in full, a copy button, and its QR code.
pub fn npub_card(ui: &mut egui::Ui, npub: &str) {
    ui.label(RichText::new("Your npub (share it so people can call you)").strong());
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new(npub).monospace());
        if ui.button("Copy npub").clicked() {
            ui.ctx().copy_text(npub.to_owned());
        }
    });
    qr_code(ui, npub, 4.0);
}

/// `text` as a QR code, `scale` points per module.
pub fn qr_code(ui: &mut egui::Ui, text: &str, scale: f32) {
    let Ok(code) = QrCode::new(text.as_bytes()) else {
        ui.label("(no QR code: text too long)");
        return;
    };
    let width = code.width();
    let colors = code.to_colors();
    // The quiet zone of 2 modules keeps scanners happy on a dark theme.
    let quiet = 2.0;
    let side = (width as f32 + 2.0 * quiet) * scale;
    let (rect, response) = ui.allocate_exact_size(egui::vec2(side, side), egui::Sense::hover());
    response
        .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "QR code of your npub"));
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 0.0, Color32::WHITE);
    for (i, c) in colors.iter().enumerate() {
        if *c == Color::Dark {
            let (x, y) = ((i % width) as f32, (i / width) as f32);
            let min = rect.min + egui::vec2((x + quiet) * scale, (y + quiet) * scale);
            painter.rect_filled(
                egui::Rect::from_min_size(min, egui::vec2(scale, scale)),
                0.0,
                Color32::BLACK,
            );
        }
    }
}

/// The mode picker (Fast / Private / Paranoid).
pub fn mode_picker(
    ui: &mut egui::Ui,
    id: impl std::hash::Hash + std::fmt::Debug,
    label: &str,
    mode: &mut PrivacyMode,
) -> bool {
    let mut changed = false;
    egui::ComboBox::new(id, label)
        .selected_text(ModePolicy::for_mode(*mode).summary().title)
        .show_ui(ui, |ui| {
            for m in [
                PrivacyMode::Fast,
                PrivacyMode::Private,
                PrivacyMode::Paranoid,
            ] {
                let title = ModePolicy::for_mode(m).summary().title;
                changed |= ui.selectable_value(mode, m, title).changed();
            }
        });
    changed
}

/// What the UI says of a remote person's voice: "muted" (in the warning colour),
/// "speaking" (green), or nothing.
pub fn voice_label(ui: &mut egui::Ui, voice: calling::VoiceActivity) {
    if voice.muted {
        ui.label(RichText::new("muted").color(WARN));
    } else if voice.speaking {
        ui.label(RichText::new("speaking").color(SAFE));
    }
}
