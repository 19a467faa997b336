//! The conference client rejoins when its signaling connection is lost, with real
//! processes on loopback: the conference service (started by the test), `phantomcall join`
//! processes with synthetic cameras and tones, and between some of them and the service a
//! TCP proxy written here that cuts every connection it carries and refuses new ones for a
//! while. Only the signaling goes through the proxy (the media goes to the SFU's UDP port
//! directly); the service drops a member whose socket closed, so each cut participant
//! rebuilds everything: new socket, new peer connection, new place in the MLS group.
//!
//! One participant joins directly, so the room keeps a member while the others are cut
//! (everyone cut at once, by a restart of the service, is `conference_service_restart`).

mod conference_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conference_support::{until_all_hear, Participant, Service};
use ed25519_dalek::SigningKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Generous: three encoders and six decoders on a shared two-core machine (measured: see
/// docs/decisions.md).
const SETTLE: Duration = Duration::from_secs(150);
/// From the cut to everyone hearing everyone again (the proxy refuses for 2 s of it).
const BACK_WITHIN: Duration = Duration::from_secs(90);

/// A TCP proxy to the service's port that can cut what it carries.
struct Proxy {
    port: u16,
    cuts: watch::Sender<u64>,
    stalls: watch::Sender<u64>,
    refuse_until: Arc<Mutex<Instant>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cuts, watching) = watch::channel(0u64);
        let (stalls, watching_stalls) = watch::channel(0u64);
        let refuse_until = Arc::new(Mutex::new(Instant::now()));
        let refusing = refuse_until.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if Instant::now() < *refusing.lock().unwrap() {
                    // Closed at once: the client's WebSocket handshake fails.
                    drop(inbound);
                    continue;
                }
                let mut cut = watching.clone();
                cut.borrow_and_update();
                let mut stall = watching_stalls.clone();
                stall.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        // Both ends dropped: the client and the service each see it close.
                        _ = cut.changed() => {}
                        // Nothing passes any more, nothing closes: a network gone silent.
                        _ = stall.changed() => {
                            let _ = cut.changed().await;
                        }
                    }
                });
            }
        });
        Self {
            port,
            cuts,
            stalls,
            refuse_until,
            task,
        }
    }

    fn link(&self, room: &str) -> String {
        format!("http://127.0.0.1:{}/join/{room}", self.port)
    }

    /// Cuts every connection, and refuses new ones for `refuse_for`.
    fn cut(&self, refuse_for: Duration) {
        *self.refuse_until.lock().unwrap() = Instant::now() + refuse_for;
        self.cuts.send_modify(|n| *n += 1);
    }
}

impl Proxy {
    /// Stops forwarding on every connection it carries, without closing them; new
    /// connections are carried as usual.
    fn stall(&self) {
        self.stalls.send_modify(|n| *n += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A Pro host's room: its id and a file with the host's session token.
async fn pro_room(service: &Service, dir: &tempfile::TempDir) -> (String, std::path::PathBuf) {
    let wallet = SigningKey::from_bytes(&[9; 32]);
    service.sign_in(&wallet).await;
    service.buy_pro(&wallet).await;
    // The tier is in the token: sign in again after buying.
    let token = service.sign_in(&wallet).await;
    let room = service.create_room(&token).await;
    let token_file = dir.path().join("session-token");
    std::fs::write(&token_file, &token).unwrap();
    (room, token_file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_participants_reconnect_rejoin_and_hear_everyone_again() {
    let service = Service::start().await;
    let proxy = Proxy::start(service.port).await;
    let dir = tempfile::tempdir().unwrap();
    let (room, token_file) = pro_room(&service, &dir).await;

    // The host (first in: the MLS group's leader) and a guest through the proxy; a guest
    // straight to the service keeps the room open and becomes the leader meanwhile.
    let host = Participant::spawn(&proxy.link(&room), "Host", 440, Some(&token_file));
    let joined = host
        .wait_for(Duration::from_secs(60), |v| v["event"] == "joined")
        .await;
    assert_eq!(joined["host"], true);
    let direct = Participant::spawn(&service.link(&room), "Direct", 550, None);
    direct
        .wait_for(Duration::from_secs(60), |v| v["event"] == "joined")
        .await;
    let guest = Participant::spawn(&proxy.link(&room), "Guest", 660, None);
    guest
        .wait_for(Duration::from_secs(60), |v| v["event"] == "joined")
        .await;
    let mut people = vec![(host, 440), (direct, 550), (guest, 660)];
    let first = until_all_hear(&people, SETTLE).await;
    eprintln!("first join: everyone hears everyone after {first:?}");
    let before: Vec<String> = people
        .iter()
        .map(|(p, _)| {
            p.figures().unwrap()["participant_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    // The signed-in host shares a screen; the cut stops it, and says so.
    people[0].0.command("share-screen 720");
    people[0]
        .0
        .wait_for(Duration::from_secs(30), |v| {
            v["event"] == "screen_share_allowed"
        })
        .await;

    let cut_at = Instant::now();
    proxy.cut(Duration::from_secs(2));
    let mut rejoined_after = Duration::ZERO;
    for i in [0, 2] {
        let p = &people[i].0;
        let first_try = p
            .wait_for(Duration::from_secs(30), |v| {
                v["event"] == "reconnecting" && v["attempt"] == 1
            })
            .await;
        assert_eq!(first_try["attempt"], 1);
        let back = p
            .wait_for(Duration::from_secs(60), |v| v["event"] == "reconnected")
            .await;
        rejoined_after = rejoined_after.max(cut_at.elapsed());
        let id = back["participant_id"].as_str().unwrap();
        assert_ne!(id, before[i], "{}: a rejoin is a new participant", p.name);
        assert_eq!(back["host"], i == 0, "the host is host again");
        // The proxy refused for 2 s: more than one try was needed.
        let tries = p
            .lines
            .lock()
            .unwrap()
            .iter()
            .filter(|v| v["event"] == "reconnecting")
            .count();
        assert!(tries >= 2, "{}: {tries} tries", p.name);
    }
    let stopped = people[0]
        .0
        .wait_for(Duration::from_secs(5), |v| {
            v["event"] == "screen_share_failed"
        })
        .await;
    assert!(
        stopped["reason"]
            .as_str()
            .unwrap()
            .contains("connection to the conference service was lost"),
        "{stopped}"
    );
    let direct_lines = people[1].0.lines.lock().unwrap().clone();
    assert!(
        !direct_lines.iter().any(|v| v["event"] == "reconnecting"),
        "the participant whose connection was not cut did not reconnect"
    );

    let back = until_all_hear(&people, BACK_WITHIN).await;
    let total = cut_at.elapsed();
    eprintln!(
        "after the cut: rejoined within {rejoined_after:?}, everyone hears everyone again \
         {total:?} after the cut ({back:?} after the last rejoin was seen)"
    );
    assert!(total < BACK_WITHIN, "back after {total:?}");
    for (p, _) in &people {
        let lines = p.lines.lock().unwrap();
        assert!(
            !lines
                .iter()
                .any(|v| v["event"] == "ended" || v["event"] == "left"),
            "{} is still in the conference",
            p.name
        );
    }
    // The old identities are gone from everyone's list.
    let list = people[1]
        .0
        .lines
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|v| v["event"] == "participants")
        .cloned()
        .unwrap();
    let ids: Vec<&str> = list["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(!ids.contains(&before[0].as_str()) && !ids.contains(&before[2].as_str()));
    assert_eq!(
        people[0].0.figures().unwrap()["sharing_screen"],
        false,
        "the share does not come back by itself"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_gone_silent_is_noticed_and_rejoined_with_the_microphone_still_muted() {
    let service = Service::start().await;
    let proxy = Proxy::start(service.port).await;
    let dir = tempfile::tempdir().unwrap();
    let (room, token_file) = pro_room(&service, &dir).await;

    let host = Participant::spawn(&service.link(&room), "Host", 440, Some(&token_file));
    host.wait_for(Duration::from_secs(60), |v| v["event"] == "joined")
        .await;
    let mut guest = Participant::spawn(&proxy.link(&room), "Guest", 550, None);
    let joined = guest
        .wait_for(Duration::from_secs(60), |v| v["event"] == "joined")
        .await;
    let old_id = joined["participant_id"].as_str().unwrap().to_owned();
    guest
        .wait_for(Duration::from_secs(60), |v| {
            v["event"] == "keys" && v["members"] == 2
        })
        .await;
    guest.command("mute-self");
    guest
        .wait_for(Duration::from_secs(10), |v| {
            v["event"] == "figures" && v["muted"] == true
        })
        .await;

    // No close, no error: only silence. The client's unanswered pings tell.
    let stalled_at = Instant::now();
    proxy.stall();
    guest
        .wait_for(Duration::from_secs(60), |v| v["event"] == "reconnecting")
        .await;
    let noticed = stalled_at.elapsed();
    let back = guest
        .wait_for(Duration::from_secs(60), |v| v["event"] == "reconnected")
        .await;
    eprintln!(
        "silence noticed after {noticed:?}, rejoined after {:?}",
        stalled_at.elapsed()
    );
    assert!(
        noticed >= Duration::from_secs(25),
        "not before the silence limit: {noticed:?}"
    );
    let new_id = back["participant_id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, old_id);

    // In again, still muted: the host gets the guest's video but not its tone; the guest
    // hears the host.
    let deadline = Instant::now() + SETTLE;
    loop {
        let guest_hears = guest.figures().is_some_and(|f| {
            f["participant_id"] == new_id.as_str()
                && f["muted"] == true
                && f["senders"].as_array().is_some_and(|s| {
                    s.iter().any(|s| {
                        s["tone_hz"]
                            .as_f64()
                            .is_some_and(|hz| (hz - 440.0).abs() <= 15.0)
                    })
                })
        });
        let host_sees = host.figures().is_some_and(|f| {
            f["senders"].as_array().is_some_and(|s| {
                s.iter().any(|s| {
                    s["participant"] == new_id.as_str()
                        && s["video_frames"].as_u64().unwrap_or(0) > 0
                })
            })
        });
        if guest_hears && host_sees {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{:#?}",
            (guest.figures(), host.figures())
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let host_figures = host.figures().unwrap();
    let of_guest = host_figures["senders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["participant"] == new_id.as_str())
        .unwrap();
    assert!(
        of_guest["tone_hz"].is_null(),
        "the rejoined guest is still muted: {of_guest}"
    );
    guest.command("leave");
    assert_eq!(guest.exit_code(Duration::from_secs(30)).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejoin_the_room_refuses_ends_the_participant_with_the_reason() {
    let service = Service::start().await;
    let proxy = Proxy::start(service.port).await;
    let dir = tempfile::tempdir().unwrap();
    let (room, token_file) = pro_room(&service, &dir).await;

    let mut host = Participant::spawn(&service.link(&room), "Host", 440, Some(&token_file));
    host.wait_for(Duration::from_secs(60), |v| v["event"] == "joined")
        .await;
    let mut guest = Participant::spawn(&proxy.link(&room), "Guest", 550, None);
    guest
        .wait_for(Duration::from_secs(60), |v| v["event"] == "joined")
        .await;
    guest
        .wait_for(Duration::from_secs(60), |v| {
            v["event"] == "keys" && v["members"] == 2
        })
        .await;

    // While the guest is cut off, the host locks the room: the rejoin is refused.
    proxy.cut(Duration::from_secs(3));
    guest
        .wait_for(Duration::from_secs(30), |v| v["event"] == "reconnecting")
        .await;
    host.command("lock");
    host.wait_for(Duration::from_secs(30), |v| {
        v["event"] == "room_state" && v["locked"] == true
    })
    .await;
    let ended = guest
        .wait_for(Duration::from_secs(60), |v| v["event"] == "ended")
        .await;
    let reason = ended["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("lost the connection to the conference service and could not rejoin")
            && reason.contains("locked"),
        "{reason}"
    );
    guest
        .wait_for(Duration::from_secs(30), |v| v["event"] == "left")
        .await;
    assert!(!guest
        .lines
        .lock()
        .unwrap()
        .iter()
        .any(|v| v["event"] == "reconnected"));
    assert_eq!(
        guest.exit_code(Duration::from_secs(30)).await,
        Some(4),
        "stderr:\n{}",
        guest.stderr.lock().unwrap()
    );
    assert!(guest.stderr.lock().unwrap().contains("could not rejoin"));
    // The host is not disturbed.
    assert!(host.exit_code(Duration::from_millis(10)).await.is_none());
    host.command("leave");
}
