//! Acceptance of the conference client with real processes on loopback: the conference
//! service (started by the test, its SFU's forwarding hook watching) and five `phantomcall
//! join` processes with synthetic cameras and tones. Everyone hears everyone else's own
//! tone and gets their video; the SFU forwards SFrame ciphertext only; a removed
//! participant's streams stop and the others move to a key it does not hold; a locked room
//! refuses a join with the host's reason; an anonymous guest cannot share a screen.

mod conference_support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use conference_support::{Participant, Service};
use ed25519_dalek::SigningKey;
use serde_json::Value;

const TONES: [u32; 5] = [440, 550, 660, 770, 880];
/// Generous: five encoders and twenty decoders on a shared two-core machine.
const SETTLE: Duration = Duration::from_secs(150);

/// Whether `figures` shows every other participant's tone and video, opened under a key
/// all five hold.
fn hears_everyone(figures: &Value, tones: &HashMap<String, u32>, me: &str) -> bool {
    if figures["key_members"] != 5 {
        return false;
    }
    let senders = figures["senders"].as_array().cloned().unwrap_or_default();
    let others: Vec<&String> = tones.keys().filter(|id| *id != me).collect();
    others.len() == 4
        && others.iter().all(|id| {
            senders.iter().any(|s| {
                s["participant"] == id.as_str()
                    && s["video_frames"].as_u64().unwrap_or(0) > 0
                    && s["tone_hz"]
                        .as_f64()
                        .is_some_and(|hz| (hz - f64::from(tones[*id])).abs() <= 15.0)
            })
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_cli_participants_hear_each_others_tones_through_an_sfu_that_sees_only_ciphertext() {
    let service = Service::start().await;
    let wallet = SigningKey::from_bytes(&[7; 32]);
    service.sign_in(&wallet).await;
    service.buy_pro(&wallet).await;
    // The tier is in the token: sign in again after buying.
    let token = service.sign_in(&wallet).await;
    let room = service.create_room(&token).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("session-token");
    std::fs::write(&token_file, &token).unwrap();
    let link = service.link(&room);

    let mut people = Vec::new();
    let mut tones = HashMap::new();
    for (i, tone) in TONES.iter().enumerate() {
        let token = (i == 0).then_some(token_file.as_path());
        let p = Participant::spawn(&link, &format!("P{}", i + 1), *tone, token);
        let joined = p
            .wait_for(Duration::from_secs(60), |v| v["event"] == "joined")
            .await;
        assert_eq!(joined["host"], i == 0, "the room's creator hosts it");
        assert_eq!(joined["anonymous"], i != 0, "the others came by link alone");
        tones.insert(joined["participant_id"].as_str().unwrap().to_owned(), *tone);
        people.push((joined["participant_id"].as_str().unwrap().to_owned(), p));
    }

    // Everyone hears the other four, each at its own frequency, and decodes their video.
    let deadline = Instant::now() + SETTLE;
    loop {
        let done = people
            .iter()
            .all(|(id, p)| p.figures().is_some_and(|f| hears_everyone(&f, &tones, id)));
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not everyone hears everyone: {:#?}",
            people.iter().map(|(_, p)| p.figures()).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The SFU had SFrame ciphertext in hand, never a codec's bytes.
    {
        let seen = service.capture.packets.lock().unwrap();
        let (audio, video): (Vec<_>, Vec<_>) = seen.iter().partition(|s| s.audio);
        assert!(
            audio.len() > 100 && video.len() > 100,
            "media went through the SFU"
        );
        for packet in audio.iter().filter(|p| !p.payload.is_empty()) {
            let header = sframe::header::SframeHeader::deserialize(&packet.payload)
                .expect("every audio payload is an SFrame frame");
            // Header, then at least a byte of ciphertext and the 16-byte tag.
            assert!(packet.len > header.len() + 16);
        }
        // A plain VP8 keyframe shows its start code right after the payload descriptor;
        // the synthetic camera sends a keyframe every 3 s, so plain video would show it.
        let plain_keyframes = video
            .iter()
            .filter(|p| {
                p.payload
                    .windows(3)
                    .take(12)
                    .any(|w| w == [0x9d, 0x01, 0x2a])
            })
            .count();
        assert_eq!(plain_keyframes, 0, "no VP8 keyframe in clear");
    }

    // The host removes P5: its process ends, the SFU stops forwarding its streams, and the
    // four others move to a new epoch whose key it does not hold.
    let epoch_before = people[0].1.figures().unwrap()["epoch"].as_u64().unwrap();
    let (removed_id, mut removed) = people.pop().unwrap();
    people[0].1.command(&format!("remove {removed_id}"));
    removed
        .wait_for(Duration::from_secs(30), |v| v["event"] == "removed")
        .await;
    let removed_at = Instant::now();
    assert_eq!(
        removed.exit_code(Duration::from_secs(30)).await,
        Some(3),
        "the removed participant's process ends with 3; its stderr:\n{}",
        removed.stderr.lock().unwrap()
    );
    for (_, p) in &people {
        p.wait_for(SETTLE, |v| {
            v["event"] == "keys"
                && v["members"] == 4
                && v["epoch"].as_u64().is_some_and(|e| e > epoch_before)
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    {
        let seen = service.capture.packets.lock().unwrap();
        let late = seen
            .iter()
            .filter(|s| s.publisher == removed_id && s.at > removed_at)
            .count();
        assert_eq!(late, 0, "nothing of the removed participant is forwarded");
        let others_after = seen.iter().filter(|s| s.at > removed_at).count();
        assert!(others_after > 50, "the others go on");
    }

    // Locked: a new guest is refused with the host's reason.
    people[0].1.command("lock");
    people[1]
        .1
        .wait_for(Duration::from_secs(30), |v| {
            v["event"] == "room_state" && v["locked"] == true
        })
        .await;
    let mut late = Participant::spawn(&link, "Late", 990, None);
    let refused = late
        .wait_for(Duration::from_secs(60), |v| v["event"] == "join_refused")
        .await;
    assert_eq!(refused["code"], "room_locked");
    assert!(refused["message"].as_str().unwrap().contains("locked"));
    assert_eq!(late.exit_code(Duration::from_secs(30)).await, Some(2));

    // An anonymous guest (by link alone) may not share a screen.
    people[1].1.command("share-screen 720");
    let refused = people[1]
        .1
        .wait_for(Duration::from_secs(30), |v| v["event"] == "refused")
        .await;
    assert_eq!(refused["code"], "screen_share_not_allowed");

    // The signed-in host shares a screen: the others decode it as a screen share (apart
    // from the camera), and the SFU still has ciphertext only in hand.
    let shared_from = Instant::now();
    let host_id = people[0].0.clone();
    people[0].1.command("share-screen 720");
    people[0]
        .1
        .wait_for(Duration::from_secs(30), |v| {
            v["event"] == "screen_share_allowed"
        })
        .await;
    let deadline = Instant::now() + SETTLE;
    loop {
        let all_see_it = people[1..].iter().all(|(_, p)| {
            p.figures().is_some_and(|f| {
                f["senders"].as_array().is_some_and(|senders| {
                    senders.iter().any(|s| {
                        s["participant"] == host_id.as_str()
                            && s["screen_frames"].as_u64().unwrap_or(0) > 0
                            && s["sharing_screen"] == true
                    })
                })
            })
        });
        if all_see_it {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the host's screen share did not reach everyone: {:#?}",
            people.iter().map(|(_, p)| p.figures()).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    {
        let seen = service.capture.packets.lock().unwrap();
        let host_video_after: Vec<_> = seen
            .iter()
            .filter(|s| !s.audio && s.publisher == host_id && s.at > shared_from)
            .filter(|s| !s.payload.is_empty())
            .collect();
        assert!(!host_video_after.is_empty());
        assert!(
            host_video_after.iter().all(|p| !p
                .payload
                .windows(3)
                .take(12)
                .any(|w| w == [0x9d, 0x01, 0x2a])),
            "no screen keyframe in clear"
        );
    }

    // A muted participant sends silence, which Opus DTX (negotiated through the SFU)
    // turns into a few comfort-noise packets a second instead of fifty.
    let quiet_id = people[1].0.clone();
    let audio_from = |from: Instant, to: Instant| {
        service
            .capture
            .packets
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.audio && s.publisher == quiet_id && s.at > from && s.at <= to)
            .count()
    };
    let talking_from = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let talking = audio_from(talking_from, Instant::now());
    people[1].1.command("mute-self");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let quiet_from = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let quiet = audio_from(quiet_from, Instant::now());
    // The hook sees each packet once as it is forwarded: about 100 in 2 s talking (50 a
    // second), a handful in DTX.
    assert!(talking > 60, "talking: {talking} forwarded packets in 2 s");
    assert!(
        quiet * 4 < talking,
        "muted: {quiet} vs talking {talking} in 2 s"
    );
}
