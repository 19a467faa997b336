//! Messages: the conversations on the left (newest first, unread counts), the open one on
//! the right with its messages, where each of ours stands (sent, waiting for someone in
//! Bluetooth range, not sent with Retry), the path each came over, call buttons and the
//! box to write in. As in Signal: Enter sends.

use eframe::egui::{self, RichText};
use phantomcall_schemas::CallType;

use crate::gui::action::Action;
use crate::gui::messages::{Conversation, Delivery, Messages, MAX_TEXT_BYTES};
use crate::gui::widgets;

/// What the messages screen shows.
pub struct MessagesView<'a> {
    /// The conversations.
    pub messages: &'a Messages,
    /// A name for a hex key (the contact's, or a short npub).
    pub name: &'a dyn Fn(&str) -> String,
    /// Whether messages and calls can go out now.
    pub online: bool,
    /// Whether Bluetooth carries messages (a message for someone out of range waits).
    pub bluetooth: bool,
}

/// What the screen keeps between frames: what is being written, per conversation (as in
/// Signal, a draft waits in its conversation while another is open).
#[derive(Default)]
pub struct MessagesScreen {
    /// Drafts by conversation (its members).
    pub drafts: std::collections::HashMap<Vec<String>, String>,
}

/// Words for where our message stands, and its colour.
pub fn delivery_words(delivery: &Delivery) -> (String, egui::Color32) {
    match delivery {
        Delivery::Sending => ("Sending…".into(), egui::Color32::GRAY),
        Delivery::Sent { via } => (format!("Sent {via}"), widgets::SAFE),
        Delivery::Waiting => (
            "Waiting: no one in Bluetooth range took it yet; devices nearby carry it when they \
             come (up to 24 h)"
                .into(),
            widgets::WARN,
        ),
        Delivery::Failed(why) => (why.clone(), widgets::ERROR),
        Delivery::Received { via } => (format!("Received {via}"), egui::Color32::GRAY),
    }
}

impl MessagesScreen {
    /// Draws the messages section.
    pub fn show(&mut self, view: &MessagesView<'_>, ui: &mut egui::Ui, out: &mut Vec<Action>) {
        ui.heading("Messages");
        ui.label(
            RichText::new(
                "End-to-end encrypted (NIP-17 gift wraps): relays and devices that carry them \
                 see neither who wrote nor what.",
            )
            .weak(),
        );
        if view.messages.from_strangers > 0 {
            ui.label(
                RichText::new(format!(
                    "{} message(s) from people not in your contacts were not shown.",
                    view.messages.from_strangers
                ))
                .weak(),
            );
        }
        let conversations = view.messages.conversations();
        if conversations.is_empty() {
            ui.label(
                "No conversations yet. In Contacts, press Message beside a contact, or tick \
                 several and press Message group.",
            );
            return;
        }
        let height = ui.available_height();
        ui.horizontal_top(|ui| {
            ui.allocate_ui(egui::vec2(200.0, height), |ui| {
                ui.vertical(|ui| conversation_list(view, &conversations, ui, out));
            });
            ui.separator();
            ui.vertical(|ui| {
                let open = view
                    .messages
                    .open
                    .as_ref()
                    .and_then(|m| view.messages.find(m));
                match open {
                    Some(conversation) => self.conversation(view, conversation, ui, out),
                    None => {
                        ui.label("Pick a conversation.");
                    }
                }
            });
        });
    }

    fn conversation(
        &mut self,
        view: &MessagesView<'_>,
        c: &Conversation,
        ui: &mut egui::Ui,
        out: &mut Vec<Action>,
    ) {
        let title = room_title(view, c);
        ui.horizontal(|ui| {
            ui.label(RichText::new(&title).strong().size(16.0));
            let peers = c.member_keys();
            for (label, call_type) in [
                ("Audio call", CallType::Voice),
                ("Video call", CallType::Video),
            ] {
                let fits = peers.len() < calling::group::member_cap(call_type);
                if ui
                    .add_enabled(view.online && fits, egui::Button::new(label))
                    .clicked()
                {
                    out.push(match peers.as_slice() {
                        [peer] => Action::Dial {
                            peer: *peer,
                            call_type,
                        },
                        _ => Action::DialGroup {
                            peers: peers.clone(),
                            call_type,
                        },
                    });
                }
            }
        });
        if view.bluetooth {
            ui.label(
                RichText::new(
                    "Bluetooth carries messages to people nearby; a message for someone out \
                     of range waits on the devices that carry it.",
                )
                .weak(),
            );
        }
        ui.separator();
        egui::ScrollArea::vertical()
            .max_height(ui.available_height() - 70.0)
            .stick_to_bottom(true)
            .auto_shrink([false, false])
            .show(ui, |ui| {
                for m in &c.messages {
                    let who = match &m.from {
                        None => "You".to_owned(),
                        Some(hex) => (view.name)(hex),
                    };
                    ui.horizontal(|ui| {
                        ui.label(RichText::new(who).strong());
                        ui.label(RichText::new(super::history::when(m.at)).weak());
                    });
                    ui.label(&m.text);
                    let (words, colour) = delivery_words(&m.delivery);
                    ui.horizontal(|ui| {
                        ui.label(RichText::new(words).small().color(colour));
                        if let (Delivery::Failed(_), Some(id)) = (&m.delivery, m.local_id) {
                            if ui.small_button("Retry").clicked() {
                                out.push(Action::RetryMessage(id));
                            }
                        }
                    });
                    ui.add_space(6.0);
                }
            });
        ui.separator();
        let draft = self.drafts.entry(c.members.clone()).or_default();
        ui.horizontal(|ui| {
            let field = ui.add(
                egui::TextEdit::singleline(draft)
                    .hint_text("Message")
                    .desired_width(ui.available_width() - 70.0),
            );
            let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            // Too long is said before sending, so the text stays in the box to be cut.
            let fits = draft.trim().len() <= MAX_TEXT_BYTES;
            let send = ui.add_enabled(fits, egui::Button::new("Send")).clicked();
            if (enter || send) && fits && !draft.trim().is_empty() {
                out.push(Action::SendMessage {
                    members: c.members.clone(),
                    text: std::mem::take(draft),
                });
                field.request_focus();
            }
        });
        if draft.trim().len() > MAX_TEXT_BYTES {
            ui.label(
                RichText::new(format!(
                    "Too long to send: at most {} KB per message",
                    MAX_TEXT_BYTES / 1024
                ))
                .color(widgets::WARN),
            );
        }
        if !view.online {
            ui.label(
                RichText::new("Not connected: messages written now say so and can be sent again.")
                    .color(widgets::WARN),
            );
        }
    }
}

/// The names of a conversation's people, joined.
fn room_title(view: &MessagesView<'_>, c: &Conversation) -> String {
    c.members
        .iter()
        .map(|m| (view.name)(m))
        .collect::<Vec<_>>()
        .join(", ")
}

fn conversation_list(
    view: &MessagesView<'_>,
    conversations: &[&Conversation],
    ui: &mut egui::Ui,
    out: &mut Vec<Action>,
) {
    egui::ScrollArea::vertical()
        .id_salt("conversations")
        .show(ui, |ui| {
            for c in conversations {
                let open = view.messages.open.as_ref() == Some(&c.members);
                let mut title = room_title(view, c);
                if c.unread > 0 {
                    title = format!("{title} ({})", c.unread);
                }
                let text = if c.unread > 0 {
                    RichText::new(title).strong()
                } else {
                    RichText::new(title)
                };
                if ui.selectable_label(open, text).clicked() {
                    out.push(Action::OpenConversation(c.members.clone()));
                }
                if let Some(last) = c.messages.last() {
                    let preview: String = last.text.chars().take(40).collect();
                    ui.label(RichText::new(preview).small().weak());
                }
                ui.add_space(4.0);
            }
        });
}
