//! What a hotline we called tells us, shown on the call it is about: our place in its
//! queue on the waiting line, who put us through to the dispatcher, a promised call back.
//! The calls themselves (closing the line, calling the dispatcher) are the assist's job
//! (`hotline::voice::CallerAssist`, started with the engine).

use std::time::Duration;

use hotline::voice::CallerEvent;

use super::controller::Controller;

impl Controller {
    /// Applies one hotline message.
    pub(super) fn on_hotline_event(&mut self, event: CallerEvent) {
        let s = &mut self.state;
        match event {
            CallerEvent::Position {
                hotline,
                position,
                wait,
            } => {
                s.hotline_notes.insert(hotline, queue_line(position, wait));
            }
            CallerEvent::HandedOver {
                hotline,
                dispatcher,
                ..
            } => {
                s.hotline_notes.remove(&hotline);
                let name = s.contacts.display_name(&hotline);
                s.hotline_notes.insert(
                    dispatcher,
                    format!("A dispatcher of {name}, who put you through"),
                );
            }
            CallerEvent::CallbackPromised { hotline } => {
                s.hotline_notes.remove(&hotline);
                let name = s.contacts.display_name(&hotline);
                s.error = Some(format!(
                    "{name} cannot take more callers now: a dispatcher will call you back"
                ));
            }
            CallerEvent::LeaveMessage { hotline, max } => {
                s.hotline_notes.insert(hotline, voicemail_line(max));
            }
            CallerEvent::CallingBack {
                hotline,
                dispatcher,
            } => {
                let name = s.contacts.display_name(&hotline);
                s.hotline_notes.insert(
                    dispatcher,
                    format!("A dispatcher of {name}, calling you back"),
                );
            }
        }
    }
}

/// "Nobody can answer now: leave a message after the tone (up to 2 minutes)".
pub fn voicemail_line(max: Duration) -> String {
    let secs = max.as_secs();
    let up_to = if secs >= 60 && secs.is_multiple_of(60) {
        let minutes = secs / 60;
        format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
    } else {
        format!("{secs} seconds")
    };
    format!("Nobody can answer now: leave a message after the tone (up to {up_to})")
}

/// "You are number 3 in the queue · about 4 minutes".
pub fn queue_line(position: u32, wait: Option<Duration>) -> String {
    let place = if position <= 1 {
        "You are next in the queue".to_owned()
    } else {
        format!("You are number {position} in the queue")
    };
    match wait.map(|w| w.as_secs().div_ceil(60)) {
        None => place,
        Some(0 | 1) => format!("{place} · about a minute"),
        Some(m) => format!("{place} · about {m} minutes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_line_says_the_place_and_the_wait_in_words() {
        assert_eq!(queue_line(1, None), "You are next in the queue");
        assert_eq!(
            queue_line(3, Some(Duration::from_secs(200))),
            "You are number 3 in the queue · about 4 minutes"
        );
        assert_eq!(
            queue_line(2, Some(Duration::from_secs(20))),
            "You are number 2 in the queue · about a minute"
        );
    }

    #[test]
    fn the_voicemail_line_says_how_long_a_message_may_be() {
        assert_eq!(
            voicemail_line(Duration::from_secs(120)),
            "Nobody can answer now: leave a message after the tone (up to 2 minutes)"
        );
        assert_eq!(
            voicemail_line(Duration::from_secs(60)),
            "Nobody can answer now: leave a message after the tone (up to 1 minute)"
        );
        assert_eq!(
            voicemail_line(Duration::from_secs(45)),
            "Nobody can answer now: leave a message after the tone (up to 45 seconds)"
        );
    }
}
