//! A room outlives a restart of its service process: its record in the room directory
//! (host as a keyed hash, plan, end) reopens it when its participants come back, with its
//! host still host and its time limit where it was. A room that ended before the restart
//! (its host ended it, or everyone left) stays ended. And a room whose last participant
//! lost their connection waits for them to reconnect.

mod conf_support;
mod sfu_support;

use std::time::Duration;

use serde_json::{json, Value};

use conf_support::peer::Peer;
use conf_support::{Options, Service, Wallet};
use sfu_jitsi_bridge::store::{SqliteStore, Store as _};

/// A service whose database, signing key and port stay the same across restarts.
fn options(dir: &std::path::Path) -> Options {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    Options {
        listen: format!("127.0.0.1:{port}"),
        store: Some(format!(
            "sqlite = \"{}\"",
            dir.join("conference.db").display()
        )),
        signing_key: Some(dir.join("session-key.pem").display().to_string()),
        limits: "rejoin_grace_secs = 30".into(),
        ..Options::default()
    }
}

async fn room_of(service: &Service, token: &str) -> String {
    let room = service.create_room(token).await.json();
    room["room"].as_str().unwrap().to_owned()
}

fn code(v: &Value) -> &str {
    v["code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_outlives_a_restart_of_its_process_and_ended_rooms_stay_ended() {
    let dir = tempfile::tempdir().unwrap();
    let options = options(dir.path());
    let service = Service::start(options.clone());
    let wallet = Wallet::new(61);
    service.buy_pro(&wallet, "evt_conf_restart_61").await;
    let session = service.sign_in(&wallet).await;
    let token = session["access_token"].as_str().unwrap().to_owned();

    // The room that lives on: host and guest in when the process dies.
    let live = room_of(&service, &token).await;
    let host = Peer::connect(&service.ws_url(), 1, false).await;
    let joined = host.join(&live, Some(&token)).await;
    assert_eq!(joined["host"], true, "{joined}");
    let left_before = joined["seconds_left"].as_u64().unwrap();
    let guest = Peer::connect(&service.ws_url(), 2, false).await;
    assert_eq!(guest.join(&live, None).await["type"], "joined");
    // A room its host ended, and one everyone left, before the restart.
    let ended = room_of(&service, &token).await;
    let ender = Peer::connect(&service.ws_url(), 3, false).await;
    assert_eq!(ender.join(&ended, Some(&token)).await["type"], "joined");
    ender.send(&json!({"v": 1, "type": "end"})).await;
    ender.wait_for(|v| v["type"] == "room_ended").await;
    let emptied = room_of(&service, &token).await;
    let leaver = Peer::connect(&service.ws_url(), 4, false).await;
    assert_eq!(leaver.join(&emptied, None).await["type"], "joined");
    leaver.send(&json!({"v": 1, "type": "leave"})).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The process dies (SIGKILL: nothing of it runs) and a new one starts on the same
    // database and key.
    drop(service);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let service = Service::start(options);

    let guest = Peer::connect(&service.ws_url(), 5, false).await;
    let rejoined = guest.join(&live, None).await;
    assert_eq!(rejoined["type"], "joined", "{rejoined}\n{}", service.log());
    assert_eq!(rejoined["host"], false);
    let host = Peer::connect(&service.ws_url(), 6, false).await;
    let rejoined = host.join(&live, Some(&token)).await;
    assert_eq!(rejoined["host"], true, "the host is still host: {rejoined}");
    let left_after = rejoined["seconds_left"].as_u64().unwrap();
    assert!(
        left_after <= left_before && left_after + 120 > left_before,
        "the time limit stays where it was: {left_before} s before, {left_after} s after"
    );
    assert_eq!(rejoined["participants"].as_array().unwrap().len(), 2);
    guest
        .wait_for(|v| {
            v["type"] == "participants"
                && v["participants"].as_array().is_some_and(|p| p.len() == 2)
        })
        .await;
    for gone in [&ended, &emptied] {
        let late = Peer::connect(&service.ws_url(), 7, false).await;
        let refused = late.join(gone, None).await;
        assert_eq!(code(&refused), "no_such_room", "{refused}");
    }
    // The directory knows the host by a keyed hash only, never by the wallet.
    let store = SqliteStore::open(&dir.path().join("conference.db")).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let record = store
        .room_record(&live.replace('-', ""), now)
        .unwrap()
        .expect("the live room is recorded");
    assert_eq!(record.host_key.len(), 64);
    assert!(record.host_key.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(!record.host_key.contains(&wallet.address), "{record:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_whose_last_participant_lost_the_connection_waits_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(options(dir.path()));
    let wallet = Wallet::new(62);
    let session = service.sign_in(&wallet).await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let room = room_of(&service, &token).await;
    let first = Peer::connect(&service.ws_url(), 1, false).await;
    assert_eq!(first.join(&room, Some(&token)).await["type"], "joined");
    // The connection drops without a `leave`.
    first.drop_connection().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let back = Peer::connect(&service.ws_url(), 2, false).await;
    let rejoined = back.join(&room, Some(&token)).await;
    assert_eq!(rejoined["type"], "joined", "{rejoined}");
    assert_eq!(rejoined["host"], true);
}
