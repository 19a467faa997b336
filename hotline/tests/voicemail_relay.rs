//! Voicemail end to end on a real relay: a caller who overflows hears the prompt tone and
//! leaves a message (their tone) on the line; the service seals it to the enrolled
//! dispatchers and stores it; a dispatcher's client fetches it in chunks, opens it with
//! its own key and hears the caller's tone. Neither the SQLite file nor a key that is not
//! an enrolled dispatcher's can play it.

mod voice_support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use calling::SyntheticDevices;
use hotline::core::Presence;
use hotline::voice::line::PROMPT_TONE_HZ;
use hotline::voice::voicemail::{open, VoicemailError};
use hotline::voice::{
    CallerEvent, DispatcherClient, DispatcherEvent, VoiceEvent, VoiceService, VoicemailListing,
};
use media::audio::ToneCheck;
use nostr_signal::{Identity, PublicKey, RelayUrl};
use phantomcall_schemas::PrivacyMode;
use voice_support::*;

const CALLER_HZ: f32 = 660.0;
const TALK: Duration = Duration::from_secs(3);

struct Desk {
    identity: Identity,
    client: calling::client::Client,
    line: Arc<DispatcherClient>,
}

async fn desk(url: &RelayUrl, hotline: PublicKey) -> Desk {
    let identity = Identity::generate();
    let client = person_as(url, &SyntheticDevices::new(200.0), identity.clone()).await;
    let line = Arc::new(DispatcherClient::start(
        client.engine.clone(),
        client.transport.clone(),
        hotline,
        PrivacyMode::Fast,
    ));
    Desk {
        identity,
        client,
        line,
    }
}

async fn next_event(
    events: &mut tokio::sync::broadcast::Receiver<VoiceEvent>,
    want: impl Fn(&VoiceEvent) -> bool,
) -> VoiceEvent {
    tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(event) = events.recv().await {
                if want(&event) {
                    return event;
                }
            }
        }
    })
    .await
    .expect("the service event")
}

async fn listing(
    events: &mut tokio::sync::broadcast::Receiver<DispatcherEvent>,
    want: impl Fn(&[VoicemailListing]) -> bool,
) -> Vec<VoicemailListing> {
    tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(DispatcherEvent::Voicemails(list)) = events.recv().await {
                if want(&list) {
                    return list;
                }
            }
        }
    })
    .await
    .expect("the console lists the voicemail")
}

/// Whether any 100 ms of what the caller's speaker played is the prompt tone.
fn heard_prompt(devices: &SyntheticDevices) -> bool {
    devices.probes.speakers().iter().any(|speaker| {
        speaker.recording.samples().chunks(4_800).any(|window| {
            window.len() == 4_800 && ToneCheck::detect(window, PROMPT_TONE_HZ).dominant
        })
    })
}

/// A caller overflows (max_wait 1 s, no dispatcher available), hears the prompt, sends
/// their tone for [`TALK`] and hangs up: the voicemail's id and length.
async fn leave_a_message(url: &RelayUrl, service: &VoiceService) -> (u64, Duration) {
    leave_a_message_at(url, service, CALLER_HZ).await
}

/// [`leave_a_message`] in the tone `hz`.
async fn leave_a_message_at(url: &RelayUrl, service: &VoiceService, hz: f32) -> (u64, Duration) {
    let mut events = service.events();
    let mut caller = Caller::start(url, hz).await;
    let call = caller.dial(service.public_key());
    let CallerEvent::LeaveMessage { max, .. } = caller
        .next(|e| matches!(e, CallerEvent::LeaveMessage { .. }))
        .await
    else {
        unreachable!()
    };
    assert_eq!(max, Duration::from_secs(8));
    let devices = caller.devices.clone();
    eventually("the caller hears the prompt tone", || {
        heard_prompt(&devices)
    })
    .await;
    tokio::time::sleep(TALK).await;
    caller.client.engine.hangup(call);
    match next_event(&mut events, |e| {
        matches!(
            e,
            VoiceEvent::VoicemailStored { .. } | VoiceEvent::VoicemailDropped { .. }
        )
    })
    .await
    {
        VoiceEvent::VoicemailStored { id, duration, .. } => (id, duration),
        other => panic!("the message was not kept: {other:?}"),
    }
}

const OVERFLOW: &str = "max_wait_secs = 1\noverflow = \"voicemail\"\nvoicemail_max_secs = 8\n";

/// The database file and its write-ahead log, as bytes.
fn on_disk(db: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(db).unwrap();
    if let Ok(wal) = std::fs::read(db.with_extension("db-wal")) {
        bytes.extend(wal);
    }
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_overflowing_caller_leaves_a_voicemail_that_a_dispatcher_fetches_and_hears() {
    let relay = relay().await;
    let url = relay.url().clone();
    let identity = Identity::generate();
    let hotline = identity.public_key();
    let d = desk(&url, hotline).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hotline.db");
    let toml = config_text(OVERFLOW, &[d.client.key]);
    let service = service(&url, &identity, &toml, &db).await;
    let mut console = d.line.events();
    // The dispatcher's app is there, busy: nothing is offered, so the caller overflows.
    d.line.set_presence(Presence::Busy).await.unwrap();

    let (id, duration) = leave_a_message(&url, &service).await;
    assert!(
        duration >= TALK - Duration::from_millis(1500) && duration <= TALK + Duration::from_secs(2),
        "recorded {duration:?} of a {TALK:?} message"
    );
    assert_eq!(
        service.view().stats.voicemail,
        1,
        "the counter counts it once"
    );

    let listed = listing(&mut console, |l| l.iter().any(|v| v.id == id)).await;
    let shown = listed.iter().find(|v| v.id == id).unwrap();
    assert!(!shown.heard);
    assert_eq!(shown.duration, duration);
    assert!(
        shown.caller.starts_with("c-"),
        "an opaque caller id: {}",
        shown.caller
    );

    let voicemail = d.line.fetch_voicemail(id, &d.identity).await.unwrap();
    assert_eq!(voicemail.duration, duration);
    let pcm = voicemail.decode().unwrap();
    assert_eq!(pcm.len() as u64, duration.as_millis() as u64 * 48);
    // The middle second: the caller's tone, not the prompt nor the waiting tone.
    let middle = &pcm[pcm.len() / 2 - 24_000..pcm.len() / 2 + 24_000];
    assert!(
        ToneCheck::detect(middle, CALLER_HZ).dominant,
        "the caller's tone is heard"
    );
    assert!(!ToneCheck::detect(middle, PROMPT_TONE_HZ).dominant);

    d.line.mark_voicemail_heard(id).await.unwrap();
    listing(&mut console, |l| l.iter().any(|v| v.id == id && v.heard)).await;
    d.line.delete_voicemail(id).await.unwrap();
    listing(&mut console, |l| l.iter().all(|v| v.id != id)).await;
    assert!(service.voicemails().unwrap().is_empty());
    // Deleted: a fetch ends at once with the hotline's answer, not after the timeout.
    let asked = std::time::Instant::now();
    assert_eq!(
        d.line.fetch_voicemail(id, &d.identity).await,
        Err(VoicemailError::Unavailable)
    );
    assert!(asked.elapsed() < Duration::from_secs(20));
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_caller_over_the_queue_length_leaves_a_voicemail_at_once_and_the_waiting_one_keeps_waiting(
) {
    let relay = relay().await;
    let url = relay.url().clone();
    let identity = Identity::generate();
    let hotline = identity.public_key();
    let d = desk(&url, hotline).await;
    let dir = tempfile::tempdir().unwrap();
    let toml = config_text(
        "max_queue_len = 1\noverflow = \"voicemail\"\nvoicemail_max_secs = 8\n",
        &[d.client.key],
    );
    let service = service(&url, &identity, &toml, &dir.path().join("hotline.db")).await;
    d.line.set_presence(Presence::Busy).await.unwrap();
    let mut events = service.events();
    let first = Caller::start(&url, 520.0).await;
    first.dial(hotline);
    next_event(&mut events, |e| matches!(e, VoiceEvent::Queued { .. })).await;

    // The queue is full: the second caller records on arrival, never queued.
    const SECOND_HZ: f32 = 900.0;
    let (id, _) = leave_a_message_at(&url, &service, SECOND_HZ).await;
    let voicemail = d.line.fetch_voicemail(id, &d.identity).await.unwrap();
    let pcm = voicemail.decode().unwrap();
    let middle = &pcm[pcm.len() / 2 - 24_000..pcm.len() / 2 + 24_000];
    assert!(ToneCheck::detect(middle, SECOND_HZ).dominant);
    let view = service.view();
    assert_eq!(view.entries.len(), 1, "the first caller still waits");
    assert_eq!(view.stats.voicemail, 1);
    assert_eq!(service.lines_with(&first.client.key).await, 1);
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn voicemail_is_readable_only_by_enrolled_dispatchers() {
    let relay = relay().await;
    let url = relay.url().clone();
    let identity = Identity::generate();
    let hotline = identity.public_key();
    let d = desk(&url, hotline).await;
    // Enrolled, but not running: still a reader of every message recorded.
    let offline = Identity::generate();
    // A key the hotline never enrolled (a caller, an operator's own npub, anyone).
    let stranger = Identity::generate();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hotline.db");
    let toml = config_text(OVERFLOW, &[d.client.key, offline.public_key()]);
    let service = service(&url, &identity, &toml, &db).await;
    d.line.set_presence(Presence::Busy).await.unwrap();

    let (id, _) = leave_a_message(&url, &service).await;
    let fetched = d.line.fetch_voicemail(id, &d.identity).await.unwrap();
    // A stranger who asks the hotline for it, as a dispatcher's client would, gets
    // nothing at all (not even a refusal).
    let stranger_client = person_as(&url, &SyntheticDevices::new(200.0), stranger.clone()).await;
    let stranger_line = DispatcherClient::start(
        stranger_client.engine.clone(),
        stranger_client.transport.clone(),
        hotline,
        PrivacyMode::Fast,
    );
    assert!(
        tokio::time::timeout(
            Duration::from_secs(8),
            stranger_line.fetch_voicemail(id, &stranger)
        )
        .await
        .is_err(),
        "the hotline sends a stranger nothing"
    );
    service.shutdown().await;

    // What is on the operator's disk: the encrypted recording and one sealed key per
    // enrolled dispatcher, nothing else that opens it.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (ephemeral, nonce, audio): (Vec<u8>, Vec<u8>, Vec<u8>) = conn
        .query_row(
            "SELECT ephemeral, nonce, audio FROM voicemails WHERE id = ?1",
            [id as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let ephemeral: [u8; 32] = ephemeral.try_into().unwrap();
    let nonce: [u8; 12] = nonce.try_into().unwrap();
    let mut stmt = conn
        .prepare("SELECT dispatcher, sealed FROM voicemail_keys WHERE voicemail = ?1")
        .unwrap();
    let sealed: Vec<(Vec<u8>, String)> = stmt
        .query_map([id as i64], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut readers: Vec<[u8; 32]> = sealed
        .iter()
        .map(|(k, _)| k.as_slice().try_into().unwrap())
        .collect();
    readers.sort();
    let mut enrolled = [d.client.key.to_bytes(), offline.public_key().to_bytes()];
    enrolled.sort();
    assert_eq!(readers, enrolled, "sealed to the enrolled dispatchers only");
    for (_, key) in &sealed {
        for nobody in [&stranger, &identity] {
            assert_eq!(
                open(nobody.keys(), &ephemeral, key, &nonce, &audio),
                Err(VoicemailError::CannotOpen),
                "neither a stranger nor the hotline's own key opens it"
            );
        }
    }
    let offline_key = &sealed
        .iter()
        .find(|(k, _)| k.as_slice() == offline.public_key().to_bytes())
        .unwrap()
        .1;
    assert_eq!(
        open(offline.keys(), &ephemeral, offline_key, &nonce, &audio).unwrap(),
        fetched.packets,
        "another enrolled dispatcher opens the same message with their own key"
    );

    // The recording is not on disk in the clear: no Opus packet of it, no PCM run of the
    // caller's tone, in the database or its log.
    let disk = on_disk(&db);
    for packet in fetched.packets.iter().filter(|p| p.len() >= 16) {
        assert!(
            !disk.windows(packet.len()).any(|w| w == packet.as_slice()),
            "an Opus packet of the message is in the file in the clear"
        );
    }
    for offset in [0, 1] {
        let samples: Vec<i16> = disk[offset..]
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert!(
            !samples
                .chunks_exact(4_800)
                .any(|w| ToneCheck::detect(w, CALLER_HZ).dominant),
            "a PCM run of the caller's tone is in the file"
        );
    }
}
