//! The voice hotline end to end on a real relay: callers and dispatchers are separate
//! engines with real webrtc-rs media; the service answers with the waiting tone, hands
//! callers over by control message, and never carries a conversation's media.

mod voice_support;

use std::collections::HashMap;
use std::time::Duration;

use hotline::core::Presence;
use hotline::voice::{CallerEvent, PresenceError, VoiceEvent};
use nostr_signal::{EmbeddedRelay, Identity, PublicKey, RelayUrl};
use voice_support::*;

const TONES: &[f32] = &[520.0, 660.0, 780.0, 900.0, 1040.0, 1180.0];

async fn next_service_event(
    events: &mut tokio::sync::broadcast::Receiver<VoiceEvent>,
    want: impl Fn(&VoiceEvent) -> bool,
) -> VoiceEvent {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = events.recv().await.expect("service events");
            if want(&event) {
                return event;
            }
        }
    })
    .await
    .expect("the service event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn six_callers_three_dispatchers_are_served_in_arrival_order_and_the_service_never_holds_a_conversation(
) {
    let relay = relay().await;
    let url = relay.url().clone();
    let identity = Identity::generate();
    let hotline = identity.public_key();
    let talk = Duration::from_secs(3);
    let d1 = Dispatcher::start(&url, hotline, true, talk, TONES).await;
    let d2 = Dispatcher::start(&url, hotline, true, talk, TONES).await;
    // The third is enrolled but never signs in: nothing is offered to them.
    let d3 = Dispatcher::start(&url, hotline, true, talk, TONES).await;
    let dir = tempfile::tempdir().unwrap();
    let toml = config_text(
        "strategy = \"longest-idle\"\nring_timeout_secs = 5\nwrap_up_secs = 2\n\
         position_interval_secs = 5\n",
        &[d1.client.key, d2.client.key, d3.client.key],
    );
    let service = service(&url, &identity, &toml, &dir.path().join("hotline.db")).await;
    let mut service_events = service.events();
    let mut handovers = service.events();
    for d in [&d1, &d2] {
        d.sign_in().await;
    }

    // Six callers ring one after another; each is queued before the next rings.
    let mut callers = Vec::new();
    let mut entry_of = HashMap::new();
    for &hz in TONES {
        let caller = Caller::start(&url, hz).await;
        let call = caller.dial(hotline);
        let queued = next_service_event(&mut service_events, |e| {
            matches!(e, VoiceEvent::Queued { .. })
        })
        .await;
        let VoiceEvent::Queued { entry, .. } = queued else {
            unreachable!()
        };
        entry_of.insert(entry, hz);
        callers.push((caller, call, entry));
    }

    // The last caller hangs up while still waiting, and leaves the queue.
    let (mut last, last_call, last_entry) = callers.pop().unwrap();
    last.next(|e| matches!(e, CallerEvent::Position { .. }))
        .await;
    last.client.engine.hangup(last_call);
    next_service_event(&mut service_events, |e| {
        *e == VoiceEvent::Left { entry: last_entry }
    })
    .await;

    // Everyone else is handed over, in arrival order, and talks to a dispatcher directly.
    for (caller, _, _) in callers.iter_mut() {
        let CallerEvent::HandedOver {
            call, dispatcher, ..
        } = caller
            .next(|e| matches!(e, CallerEvent::HandedOver { .. }))
            .await
        else {
            unreachable!()
        };
        assert_ne!(
            dispatcher, d3.client.key,
            "a dispatcher not signed in gets no caller"
        );
        caller.until(&call, calling::CallState::Connected).await;
        // Privacy invariant: once with a dispatcher, the service holds no line with them.
        let deadline = std::time::Instant::now() + WAIT;
        while service.lines_with(&caller.client.key).await > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the waiting line stayed open"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut order = Vec::new();
    while order.len() < callers.len() {
        if let VoiceEvent::HandedOver { entry } = next_service_event(&mut handovers, |e| {
            matches!(e, VoiceEvent::HandedOver { .. })
        })
        .await
        {
            order.push(entry);
        }
    }
    let arrival: Vec<_> = callers.iter().map(|(_, _, entry)| *entry).collect();
    assert_eq!(order, arrival, "served in arrival order");

    // Each dispatcher heard the caller of the entry they took: the media ran end to end.
    let heard_all = || {
        let heard: Vec<_> = [&d1, &d2]
            .iter()
            .flat_map(|d| d.log())
            .filter_map(|did| match did {
                Did::Heard(entry, tone) => Some((entry, tone)),
                _ => None,
            })
            .collect();
        heard.len() >= 5
    };
    eventually("every call talked and ended", heard_all).await;
    for d in [&d1, &d2] {
        for did in d.log() {
            if let Did::Heard(entry, tone) = did {
                assert_eq!(
                    tone,
                    entry_of.get(&entry).copied(),
                    "entry {entry} heard its caller"
                );
            }
        }
    }
    assert!(!entry_of.is_empty());
    assert!(
        [&d1, &d2]
            .iter()
            .flat_map(|d| d.log())
            .all(|did| !matches!(did, Did::Connected(e, _) if e == last_entry)),
        "the caller who hung up was never put through"
    );

    assert!(
        d3.log().is_empty(),
        "nothing is offered to a dispatcher who is away"
    );

    // Wrap-up: after each call a dispatcher is offered nothing for wrap_up_secs.
    for d in [&d1, &d2] {
        let log = d.log();
        for (i, did) in log.iter().enumerate() {
            if let Did::Ended(_, ended) = did {
                if let Some(Did::Offered(_, offered)) =
                    log[i..].iter().find(|d| matches!(d, Did::Offered(..)))
                {
                    assert!(
                        offered.duration_since(*ended) >= Duration::from_millis(1900),
                        "offered {:?} after the end",
                        offered.duration_since(*ended)
                    );
                }
            }
        }
    }
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dispatcher_who_does_not_answer_is_skipped_at_the_ring_timeout() {
    let relay = relay().await;
    let url = relay.url().clone();
    let identity = Identity::generate();
    let hotline = identity.public_key();
    let silent = Dispatcher::start(&url, hotline, false, Duration::from_secs(2), TONES).await;
    let answering = Dispatcher::start(&url, hotline, true, Duration::from_secs(2), TONES).await;
    let dir = tempfile::tempdir().unwrap();
    // Enrolled first, so longest-idle (ties by enrolment) offers the silent one first.
    let toml = config_text(
        "ring_timeout_secs = 2\nwrap_up_secs = 1\n",
        &[silent.client.key, answering.client.key],
    );
    let service = service(&url, &identity, &toml, &dir.path().join("hotline.db")).await;
    silent.sign_in().await;
    answering.sign_in().await;
    let mut caller = Caller::start(&url, TONES[1]).await;
    caller.dial(hotline);
    let CallerEvent::HandedOver {
        dispatcher, call, ..
    } = caller
        .next(|e| matches!(e, CallerEvent::HandedOver { .. }))
        .await
    else {
        unreachable!()
    };
    assert_eq!(dispatcher, answering.client.key);
    caller.until(&call, calling::CallState::Connected).await;
    let log = silent.log();
    assert!(matches!(log.first(), Some(Did::Offered(..))), "{log:?}");
    assert!(
        log.iter()
            .any(|d| matches!(d, Did::Cancelled(_, r) if r == "timeout")),
        "{log:?}"
    );
    eventually("the answering dispatcher heard the caller", || {
        answering
            .log()
            .iter()
            .any(|d| matches!(d, Did::Heard(_, Some(hz)) if *hz == TONES[1]))
    })
    .await;
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transferred_call_keeps_media_flowing_to_the_new_dispatcher() {
    let relay = relay().await;
    let url = relay.url().clone();
    let identity = Identity::generate();
    let hotline = identity.public_key();
    // The first dispatcher would talk for a minute; they transfer long before.
    let first = Dispatcher::start(&url, hotline, true, Duration::from_secs(60), TONES).await;
    let second = Dispatcher::start(&url, hotline, true, Duration::from_secs(3), TONES).await;
    let dir = tempfile::tempdir().unwrap();
    let toml = config_text("wrap_up_secs = 1\n", &[first.client.key, second.client.key]);
    let service = service(&url, &identity, &toml, &dir.path().join("hotline.db")).await;
    first.sign_in().await;
    let mut caller = Caller::start(&url, TONES[2]).await;
    caller.dial(hotline);
    let CallerEvent::HandedOver { call: to_first, .. } = caller
        .next(|e| matches!(e, CallerEvent::HandedOver { .. }))
        .await
    else {
        unreachable!()
    };
    caller.until(&to_first, calling::CallState::Connected).await;
    let entry = first
        .log()
        .iter()
        .find_map(|d| match d {
            Did::Offered(entry, _) => Some(*entry),
            _ => None,
        })
        .unwrap();
    // On a call, "away" is refused by the hotline, and the client says so instead of
    // sending it again and again.
    let away = first.line.set_presence(Presence::Away).await;
    assert!(matches!(away, Err(PresenceError::Refused(_))), "{away:?}");
    second.sign_in().await;
    first.line.transfer(entry, second.client.key).await.unwrap();

    let CallerEvent::HandedOver {
        call: to_second,
        dispatcher,
        ..
    } = caller
        .next(|e| matches!(e, CallerEvent::HandedOver { .. }))
        .await
    else {
        unreachable!()
    };
    assert_eq!(dispatcher, second.client.key);
    caller
        .until(&to_second, calling::CallState::Connected)
        .await;
    // The call to the first dispatcher is closed: one call, with the new dispatcher.
    let calls = caller.client.engine.calls().await;
    assert!(
        calls
            .iter()
            .all(|c| c.call_id != to_first || c.state == calling::CallState::Ended),
        "{calls:?}"
    );
    eventually("the new dispatcher hears the caller's tone", || {
        second
            .log()
            .iter()
            .any(|d| matches!(d, Did::Heard(e, Some(hz)) if *e == entry && *hz == TONES[2]))
    })
    .await;
    assert_eq!(service.lines_with(&caller.client.key).await, 0);
    service.shutdown().await;
}

/// A hotline with one enrolled dispatcher whose queue survives restarts: each
/// [`Restartable::run`] is a new service process on the same key and database.
struct Restartable {
    _relay: EmbeddedRelay,
    url: RelayUrl,
    identity: Identity,
    hotline: PublicKey,
    dispatcher: Dispatcher,
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    toml: String,
}

impl Restartable {
    async fn new() -> Self {
        let relay = relay().await;
        let url = relay.url().clone();
        let identity = Identity::generate();
        let hotline = identity.public_key();
        let dispatcher =
            Dispatcher::start(&url, hotline, true, Duration::from_secs(2), TONES).await;
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("hotline.db");
        let toml = config_text("wrap_up_secs = 1\n", &[dispatcher.client.key]);
        Self {
            _relay: relay,
            url,
            identity,
            hotline,
            dispatcher,
            _dir: dir,
            db,
            toml,
        }
    }

    async fn run(&self) -> hotline::voice::VoiceService {
        service(&self.url, &self.identity, &self.toml, &self.db).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_while_two_callers_wait_loses_neither_of_them() {
    let line_setup = Restartable::new().await;
    let (url, hotline, dispatcher) = (&line_setup.url, line_setup.hotline, &line_setup.dispatcher);
    let first_run = line_setup.run().await;
    let mut queued = first_run.events();
    let mut callers = Vec::new();
    for &hz in &TONES[..2] {
        let mut caller = Caller::start(url, hz).await;
        caller.dial(hotline);
        next_service_event(&mut queued, |e| matches!(e, VoiceEvent::Queued { .. })).await;
        caller
            .next(|e| matches!(e, CallerEvent::Position { position, .. } if *position >= 1))
            .await;
        callers.push(caller);
    }
    first_run.shutdown().await;

    // Back up: both are rung again, keep their places, and are served in order.
    let second_run = line_setup.run().await;
    for caller in callers.iter_mut() {
        caller.rung_back_by(hotline).await;
    }
    dispatcher.sign_in().await;
    let mut served = Vec::new();
    for caller in callers.iter_mut() {
        let CallerEvent::HandedOver { call, .. } = caller
            .next(|e| matches!(e, CallerEvent::HandedOver { .. }))
            .await
        else {
            unreachable!()
        };
        caller.until(&call, calling::CallState::Connected).await;
        served.push(caller.hz);
    }
    eventually("the dispatcher heard both callers in order", || {
        let heard: Vec<_> = dispatcher
            .log()
            .iter()
            .filter_map(|d| match d {
                Did::Heard(_, Some(hz)) => Some(*hz),
                _ => None,
            })
            .collect();
        heard == TONES[..2]
    })
    .await;
    second_run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_caller_busy_when_rung_back_after_a_restart_is_rung_again_and_keeps_the_place() {
    let line_setup = Restartable::new().await;
    let (url, hotline, dispatcher) = (&line_setup.url, line_setup.hotline, &line_setup.dispatcher);
    let first_run = line_setup.run().await;
    let mut queued = first_run.events();
    let mut caller = Caller::start(url, TONES[0]).await;
    let line = caller.dial(hotline);
    next_service_event(&mut queued, |e| matches!(e, VoiceEvent::Queued { .. })).await;
    // The hotline's first message makes it a caller's contact (it may ring back).
    caller
        .next(|e| matches!(e, CallerEvent::Position { .. }))
        .await;
    first_run.shutdown().await;
    caller.until(&line, calling::CallState::Ended).await;

    // While the hotline is down the caller takes a friend's call: the ring-back finds
    // them busy.
    let mut friend = Caller::start(url, TONES[1]).await;
    friend.client.engine.add_contact(caller.client.key);
    caller.client.engine.add_contact(friend.client.key);
    let chat = friend.client.engine.dial(
        caller.client.key,
        phantomcall_schemas::CallType::Voice,
        phantomcall_schemas::PrivacyMode::Fast,
    );
    let mut caller_calls = caller.client.engine.events();
    tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(calling::EngineEvent::Call(e)) = caller_calls.recv().await {
                if e.call_id == chat && e.state == calling::CallState::Ringing {
                    caller.client.engine.accept(chat, false);
                    return;
                }
            }
        }
    })
    .await
    .expect("the friend's call rings");
    friend.until(&chat, calling::CallState::Connected).await;

    let second_run = line_setup.run().await;
    // The first ring-back ends unanswered: the caller was on another call.
    tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(calling::EngineEvent::Call(e)) = caller_calls.recv().await {
                if e.peer == hotline && e.state == calling::CallState::Ended {
                    return;
                }
            }
        }
    })
    .await
    .expect("the hotline rings back while the caller is busy");
    caller.client.engine.hangup(chat);

    // The hotline rings again, and the caller is still first in line.
    caller.rung_back_by(hotline).await;
    dispatcher.sign_in().await;
    let CallerEvent::HandedOver { call, .. } = caller
        .next(|e| matches!(e, CallerEvent::HandedOver { .. }))
        .await
    else {
        unreachable!()
    };
    caller.until(&call, calling::CallState::Connected).await;
    second_run.shutdown().await;
}
