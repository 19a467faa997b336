//! The messaging inbox on a real relay: a NIP-17 message built by an independent
//! implementation becomes a conversation, the dispatcher's reply reads back with that same
//! code, notes never leave, hand-over, restart, "stop".

mod relay_support;

use std::time::Duration;

use hotline::inbox::{ConversationId, InboxEvent, InboxService, MessageKind, Status};
use hotline::store::Store;
use nostr_sdk::prelude::*;
use nostr_signal::{EmbeddedRelay, Identity};
use relay_support::*;

struct Setup {
    relay: EmbeddedRelay,
    hotline: Identity,
    dispatchers: [hotline::ids::Npub; 2],
    dir: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Self {
        let relay = EmbeddedRelay::start_on_loopback().await.unwrap();
        let dispatchers = [0, 1].map(|_| npub_of(&Keys::generate().public_key()));
        Self {
            relay,
            hotline: Identity::generate(),
            dispatchers,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    async fn start(&self) -> InboxService {
        let store = Store::open(&self.dir.path().join("hotline.sqlite")).unwrap();
        let config = service_config(&self.relay, self.dispatchers.to_vec());
        InboxService::start(self.hotline.clone(), config, store)
            .await
            .unwrap()
    }

    /// A sender (outside the project's code) writes `text` to the hotline.
    async fn dm(&self, sender: &Keys, text: &str) {
        let client = outside_client(&self.relay).await;
        client
            .send_event(&nip17_dm(sender, &self.hotline.public_key(), text))
            .await
            .unwrap();
        client.shutdown().await;
    }
}

async fn first_assignment(
    events: &mut tokio::sync::broadcast::Receiver<InboxEvent>,
) -> (ConversationId, hotline::ids::Npub) {
    match wait_for(events, |e| matches!(e, InboxEvent::Assigned { .. })).await {
        InboxEvent::Assigned {
            conversation,
            dispatcher,
        } => (conversation, dispatcher),
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn an_independent_nip17_dm_becomes_an_assigned_conversation_and_the_reply_reads_back() {
    let s = Setup::new().await;
    let service = s.start().await;
    let d = s.dispatchers[0];
    service.set_available(&d, true).unwrap();
    let mut events = service.events();
    let sender = Keys::generate();
    s.dm(&sender, "I need help with my landlord").await;

    let (id, assigned) = first_assignment(&mut events).await;
    assert_eq!(assigned, d, "the only available dispatcher gets it");
    let mine = service.assigned_to(&d).unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].id, id);
    assert_eq!(mine[0].status, Status::Open);
    assert_eq!(mine[0].messages[0].text, "I need help with my landlord");
    // The dispatcher sees the opaque id, not the npub.
    assert_eq!(mine[0].caller_npub, None);
    let original = match &mine[0].messages[0].kind {
        MessageKind::FromSender { rumor_id } => rumor_id.clone(),
        other => panic!("expected the sender's message, got {other:?}"),
    };

    service
        .reply(&d, id, "We can help. What city?")
        .await
        .unwrap();
    assert_eq!(service.view(&d, id).unwrap().status, Status::Pending);

    // The sender's own (independent) code finds and opens the reply.
    let client = outside_client(&s.relay).await;
    let for_sender = stored_wraps(&client, Some(sender.public_key())).await;
    let opened: Vec<Opened> = for_sender
        .iter()
        .filter_map(|w| nip17_open(&sender, w))
        .collect();
    assert_eq!(opened.len(), 1, "exactly the one reply reaches the sender");
    let reply = &opened[0];
    assert_eq!(
        reply.author,
        s.hotline.public_key(),
        "from the hotline's identity"
    );
    assert_eq!(reply.text(), "We can help. What city?");
    assert_eq!(reply.p_tags(), vec![sender.public_key().to_hex()]);
    assert_eq!(
        reply.tag_values("e"),
        vec![original],
        "it answers the sender's message"
    );
    // NIP-17: the sender's copy goes to the hotline too (its other devices, the archive).
    let hotline_keys = s.hotline.keys().clone();
    eventually("the hotline's own copy is stored", || {
        let client = client.clone();
        let keys = hotline_keys.clone();
        async move {
            stored_wraps(&client, Some(keys.public_key()))
                .await
                .iter()
                .filter_map(|w| nip17_open(&keys, w))
                .any(|o| o.text() == "We can help. What city?")
        }
    })
    .await;
    service.shutdown().await;
}

#[tokio::test]
async fn internal_notes_and_hand_overs_never_reach_the_caller() {
    let s = Setup::new().await;
    let service = s.start().await;
    let [d1, d2] = s.dispatchers;
    service.set_available(&d1, true).unwrap();
    let mut events = service.events();
    let sender = Keys::generate();
    s.dm(&sender, "hello?").await;
    let (id, _) = first_assignment(&mut events).await;

    service
        .note(&d1, id, "NOTE-7f3a: sounds like the 3rd floor case")
        .unwrap();
    service
        .hand_over(&d1, id, &d2, "HANDOVER-91c2: speaks Portuguese")
        .unwrap();
    // After the hand-over only the new dispatcher answers, still as the hotline.
    assert!(service.reply(&d1, id, "old owner").await.is_err());
    service.reply(&d2, id, "Olá, estamos aqui.").await.unwrap();
    let view = service.view(&d2, id).unwrap();
    assert_eq!(view.assigned, Some(d2));
    assert_eq!(view.messages.len(), 4, "message, note, hand-over, reply");

    // Everything the relay holds: nothing carries the notes in the clear, and everything
    // addressed to the sender opens to the reply alone.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = outside_client(&s.relay).await;
    let all = everything_stored(&client).await;
    for event in &all {
        let json = event.as_json();
        assert!(!json.contains("NOTE-7f3a") && !json.contains("HANDOVER-91c2"));
    }
    let to_sender: Vec<Opened> = all
        .iter()
        .filter(|e| e.tags.public_keys().any(|p| *p == sender.public_key()))
        .map(|e| nip17_open(&sender, e).expect("everything for the sender opens"))
        .collect();
    let texts: Vec<&str> = to_sender.iter().map(Opened::text).collect();
    assert_eq!(texts, ["Olá, estamos aqui."]);
    // Nor do notes go to the hotline's own copies.
    for event in &all {
        if let Some(o) = nip17_open(s.hotline.keys(), event) {
            assert!(!o.text().contains("NOTE-7f3a") && !o.text().contains("HANDOVER-91c2"));
        }
    }
    service.shutdown().await;
}

#[tokio::test]
async fn a_restart_keeps_conversations_and_takes_what_arrived_while_down_once() {
    let s = Setup::new().await;
    let sender = Keys::generate();
    let d = s.dispatchers[0];
    let id = {
        let service = s.start().await;
        service.set_available(&d, true).unwrap();
        let mut events = service.events();
        s.dm(&sender, "first").await;
        let (id, _) = first_assignment(&mut events).await;
        service.note(&d, id, "call back tomorrow").unwrap();
        service.reply(&d, id, "got it").await.unwrap();
        service.shutdown().await;
        id
    };
    // Written while the service is down: it waits on the relay.
    s.dm(&sender, "second, while you were away").await;

    let service = s.start().await;
    let mut events = service.events();
    eventually("the waiting message is taken", || async {
        service
            .view(&d, id)
            .map(|v| v.messages.len() == 4)
            .unwrap_or(false)
    })
    .await;
    let view = service.view(&d, id).unwrap();
    let texts: Vec<&str> = view.messages.iter().map(|m| m.text.as_str()).collect();
    // The relay sent "first" again after the restart: it is not taken twice; our own copy
    // of the reply came back too and is not a message from anyone.
    assert_eq!(
        texts,
        [
            "first",
            "call back tomorrow",
            "got it",
            "second, while you were away"
        ]
    );
    assert_eq!(view.assigned, Some(d), "still with the same dispatcher");
    assert_eq!(view.status, Status::Open, "the sender wrote last");
    // Availability survived the restart too: a new sender is assigned at once.
    s.dm(&Keys::generate(), "new person").await;
    let (other, to) = first_assignment(&mut events).await;
    assert!(other.0 > id.0);
    assert_eq!(to, d);
    // The hotline's own copies of its replies never became conversations.
    let held: Vec<ConversationId> = service
        .assigned_to(&d)
        .unwrap()
        .iter()
        .map(|v| v.id)
        .collect();
    assert_eq!(held, [id, other]);
    service.shutdown().await;
}

#[tokio::test]
async fn stop_from_a_sender_opts_them_out_of_broadcasts() {
    let s = Setup::new().await;
    let service = s.start().await;
    let mut events = service.events();
    let sender = Keys::generate();
    s.dm(&sender, "STOP").await;
    let caller = match wait_for(&mut events, |e| matches!(e, InboxEvent::OptedOut { .. })).await {
        InboxEvent::OptedOut { caller } => caller,
        _ => unreachable!(),
    };
    assert!(service.is_opted_out(&caller).unwrap());
    // A later "start" undoes it.
    s.dm(&sender, "start").await;
    wait_for(&mut events, |e| matches!(e, InboxEvent::OptedIn { .. })).await;
    assert!(!service.is_opted_out(&caller).unwrap());
    service.shutdown().await;
}

#[tokio::test]
async fn a_dm_with_a_forged_seal_is_dropped() {
    let s = Setup::new().await;
    let service = s.start().await;
    service.set_available(&s.dispatchers[0], true).unwrap();
    let mut events = service.events();
    // The seal is signed by someone other than the rumor's author.
    let claimed = Keys::generate();
    let forger = Keys::generate();
    let mut rumor = UnsignedEvent::new(
        claimed.public_key(),
        Timestamp::now(),
        Kind::from(14),
        [Tag::public_key(s.hotline.public_key())],
        "I am someone else",
    );
    rumor.ensure_id();
    let hotline = s.hotline.public_key();
    let sealed = nostr_sdk::nips::nip44::encrypt(
        forger.secret_key(),
        &hotline,
        rumor.as_json(),
        nostr_sdk::nips::nip44::Version::V2,
    )
    .unwrap();
    let seal = EventBuilder::new(Kind::from(13), sealed)
        .sign_with_keys(&forger)
        .unwrap();
    let random = Keys::generate();
    let wrapped = nostr_sdk::nips::nip44::encrypt(
        random.secret_key(),
        &hotline,
        seal.as_json(),
        nostr_sdk::nips::nip44::Version::V2,
    )
    .unwrap();
    let wrap = EventBuilder::new(Kind::from(1059), wrapped)
        .tag(Tag::public_key(hotline))
        .sign_with_keys(&random)
        .unwrap();
    let client = outside_client(&s.relay).await;
    client.send_event(&wrap).await.unwrap();
    // A genuine message after it is taken; the forged one never was.
    s.dm(&Keys::generate(), "genuine").await;
    let (id, d) = first_assignment(&mut events).await;
    let view = service.view(&d, id).unwrap();
    assert_eq!(view.messages[0].text, "genuine");
    assert_eq!(service.assigned_to(&d).unwrap().len(), 1);
    service.shutdown().await;
}
