//! The conference's task across connections: the first join, then, whenever the signaling
//! connection is lost without the conference having ended (not after `removed`,
//! `room_ended` or our own leave), a rejoin through the same join path with the same
//! options, as Jitsi and Signal do: `Reconnecting { attempt }` for each try, a backoff
//! between tries, and `Reconnected` once in again. A refusal that will not change (the
//! room ended, was locked, the token is no longer good) or running out of time ends the
//! conference with the reason.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::run::{Outcome, Run, Shared};
use super::session::{self, Session};
use super::wire::ClientMessage;
use super::{socket, ConferenceCommand, ConferenceEvent, JoinError, JoinOptions};

/// The first wait between tries; it doubles up to [`LAST_WAIT`].
const FIRST_WAIT: Duration = Duration::from_millis(500);
const LAST_WAIT: Duration = Duration::from_secs(5);
/// How long we try to rejoin in all before giving up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

/// Refusal codes worth another try: the service's media side was busy, we were too fast,
/// or the room is full because our old place is not freed yet.
const TRANSIENT: [&str; 3] = ["join_refused", "rate_limited", "room_full"];

/// Joins, and spawns the task that keeps the conference going.
pub(crate) async fn start(
    options: JoinOptions,
    events: UnboundedSender<ConferenceEvent>,
    commands: UnboundedReceiver<ConferenceCommand>,
) -> Result<(Arc<Mutex<Shared>>, tokio::task::JoinHandle<()>), JoinError> {
    let session = session::join(&options, false).await?;
    let shared = Arc::new(Mutex::new(Shared::new()));
    let run = Run::begin(
        session,
        shared.clone(),
        events.clone(),
        options.devices.clone(),
        false,
    )
    .await;
    let task = tokio::spawn(supervise(run, options, shared.clone(), events, commands));
    Ok((shared, task))
}

async fn supervise(
    mut run: Run,
    options: JoinOptions,
    shared: Arc<Mutex<Shared>>,
    events: UnboundedSender<ConferenceEvent>,
    mut commands: UnboundedReceiver<ConferenceCommand>,
) {
    let mut rejoin = Rejoin {
        options: &options,
        shared: &shared,
        events: &events,
        commands: &mut commands,
    };
    loop {
        let (muted, sharing) = match run.drive(rejoin.commands).await {
            Outcome::Over => break,
            Outcome::Lost { muted, sharing } => (muted, sharing),
        };
        tracing::info!("lost the connection to the conference service: rejoining");
        if sharing {
            let _ = events.send(ConferenceEvent::ScreenShareFailed(
                "it stopped: the connection to the conference service was lost".to_owned(),
            ));
        }
        match rejoin.run(muted).await {
            Ok(Some(session)) => {
                run = Run::begin(
                    session,
                    shared.clone(),
                    events.clone(),
                    options.devices.clone(),
                    true,
                )
                .await;
            }
            Ok(None) => break,
            Err(why) => {
                let reason = format!(
                    "lost the connection to the conference service and could not rejoin: {why}"
                );
                let _ = events.send(ConferenceEvent::Ended { reason });
                break;
            }
        }
    }
    shared
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .base
        .reconnecting = None;
    let _ = events.send(ConferenceEvent::Left);
}

/// Tries to rejoin.
struct Rejoin<'a> {
    options: &'a JoinOptions,
    shared: &'a Arc<Mutex<Shared>>,
    events: &'a UnboundedSender<ConferenceEvent>,
    commands: &'a mut UnboundedReceiver<ConferenceCommand>,
}

impl Rejoin<'_> {
    /// Tries until in again (`Ok(Some)`), the user leaves (`Ok(None)`), or it cannot be
    /// (`Err`: why, for the user). The user's commands are heeded meanwhile.
    async fn run(&mut self, mut muted: bool) -> Result<Option<Session>, String> {
        let started = Instant::now();
        let mut wait = FIRST_WAIT;
        let mut attempt = 0;
        {
            let mut s = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
            // The old connection's people and keys are gone with it.
            s.senders = Default::default();
            s.base.epoch = None;
            s.base.key_members = 0;
            s.base.connected = false;
        }
        loop {
            attempt += 1;
            self.shared
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .base
                .reconnecting = Some(attempt);
            let _ = self.events.send(ConferenceEvent::Reconnecting { attempt });
            let mut leaving = false;
            let tried = {
                let join = session::join(self.options, muted);
                tokio::pin!(join);
                // The try runs to its end (its timeouts bound it): cut short, it could
                // leave media running.
                loop {
                    tokio::select! {
                        tried = &mut join => break tried,
                        command = self.commands.recv(), if !leaving => {
                            let command = command.unwrap_or(ConferenceCommand::Leave);
                            leaving = self.on_command(command, &mut muted);
                        }
                    }
                }
            };
            let last = match tried {
                Ok(session) if leaving => {
                    leave(session).await;
                    return Ok(None);
                }
                Ok(session) => return Ok(Some(session)),
                Err(JoinError::Refused { code, message })
                    if !TRANSIENT.contains(&code.as_str()) =>
                {
                    return Err(message)
                }
                Err(e) => e.to_string(),
            };
            tracing::info!(attempt, error = %last, "rejoin failed");
            if leaving {
                return Ok(None);
            }
            if started.elapsed() + wait > GIVE_UP_AFTER {
                return Err(format!(
                    "gave up after {} s ({last})",
                    started.elapsed().as_secs()
                ));
            }
            let pause = tokio::time::sleep(wait);
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    _ = &mut pause => break,
                    command = self.commands.recv() => {
                        let command = command.unwrap_or(ConferenceCommand::Leave);
                        if self.on_command(command, &mut muted) {
                            return Ok(None);
                        }
                    }
                }
            }
            wait = (wait * 2).min(LAST_WAIT);
        }
    }

    /// A command while not connected; `true` when it is to leave.
    fn on_command(&self, command: ConferenceCommand, muted: &mut bool) -> bool {
        match command {
            ConferenceCommand::Leave => return true,
            ConferenceCommand::SetMuted(m) => {
                *muted = m;
                self.shared
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .base
                    .muted = m;
            }
            // Stopped already, with the old media.
            ConferenceCommand::StopScreenShare => {}
            _ => {
                let _ = self.events.send(ConferenceEvent::Refused {
                    code: "reconnecting".to_owned(),
                    message: "not connected to the conference service: reconnecting".to_owned(),
                });
            }
        }
        false
    }
}

/// The user left while a rejoin was in flight: leave the room it joined.
async fn leave(mut session: Session) {
    let _ = socket::send(&mut session.socket, ClientMessage::Leave.to_json()).await;
    let _ = session.socket.close(None).await;
    session.media.stop().await;
}
