//! Two conference service processes on one PostgreSQL (`[cluster]`), as behind a load
//! balancer: a room created through process A is joined through process B, the join is
//! relayed to A (which holds the room), and the two participants are in one room: each is
//! listed to the other and receives the other's media. A room neither process holds is
//! refused through B as it is through A, and A's per-address connection limit does not
//! count B's relayed sessions.

#[path = "common/pg.rs"]
mod pg;

mod conf_support;
mod sfu_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use conf_support::peer::Peer;
use conf_support::{Options, Service, Wallet};
use sfu_support::Kind;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A process of the cluster on `port`, on the shared database `conn` and signing key,
/// taking `per_ip` WebSockets per address.
fn member(port: u16, conn: &str, shared: &std::path::Path, per_ip: u32) -> Service {
    let secret = shared.join("cluster-secret");
    Service::start(Options {
        listen: format!("127.0.0.1:{port}"),
        store: Some(format!("postgres = \"{conn}\"")),
        signing_key: Some(shared.join("session-key.pem").display().to_string()),
        limits: format!("websockets_per_ip = {per_ip}"),
        extra: format!(
            "[cluster]\nadvertise = \"ws://127.0.0.1:{port}\"\nsecret_file = \"{}\"\n",
            secret.display()
        ),
        ..Options::default()
    })
}

/// A throwaway PostgreSQL with one database, and a directory with the cluster's secret
/// (`None`: no PostgreSQL server installed, said on stderr).
async fn database() -> Option<(pg::PgCluster, String, tempfile::TempDir)> {
    // The synchronous PostgreSQL client must not run on the test's runtime.
    let started = tokio::task::spawn_blocking(|| {
        let pg = pg::PgCluster::start()?;
        let conn = pg.create_db("cluster");
        Some((pg, conn))
    });
    let (pg, conn) = started.await.unwrap()?;
    let shared = tempfile::tempdir().unwrap();
    std::fs::write(
        shared.path().join("cluster-secret"),
        "a-cluster-secret-for-this-test",
    )
    .unwrap();
    Some((pg, conn, shared))
}

/// Every row of the room directory, each column as text.
async fn directory_rows(conn: &str) -> Vec<Vec<String>> {
    let conn = conn.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&conn, postgres::NoTls).unwrap();
        client
            .query("SELECT room, owner, expires_at::TEXT FROM rooms", &[])
            .unwrap()
            .iter()
            .map(|r| (0..3).map(|i| r.get::<_, String>(i)).collect())
            .collect()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_directory_names_no_wallet_participant_or_address() {
    let Some((_pg, conn, shared)) = database().await else {
        return;
    };
    let port = free_port();
    let a = member(port, &conn, shared.path(), 4);
    let host_wallet = Wallet::new(42);
    let session = a.sign_in(&host_wallet).await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let room = a.create_room(&token).await.json()["room"]
        .as_str()
        .unwrap()
        .to_owned();
    let host = Peer::connect(&a.ws_url(), 1, false).await;
    let joined = host.join(&room, Some(&token)).await;
    assert_eq!(joined["type"], "joined", "{joined}");
    let participant = joined["participant_id"].as_str().unwrap().to_owned();
    let rows = directory_rows(&conn).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    // The room (its id without hyphens), where it lives, until when: nothing else.
    assert_eq!(rows[0][0], room.replace('-', ""));
    assert_eq!(rows[0][1], format!("ws://127.0.0.1:{port}"));
    for column in &rows[0] {
        for secret in [
            &host_wallet.address,
            &participant,
            &token,
            &"participant 1".to_owned(),
        ] {
            assert!(!column.contains(secret.as_str()), "{column} names {secret}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_participant_joining_through_process_b_is_in_the_room_created_through_process_a() {
    let Some((_pg, conn, shared)) = database().await else {
        return;
    };
    // A first: it writes the signing key both use. A takes one WebSocket per address: B
    // relays from 127.0.0.1 too, so a relayed session counted against that address would be
    // refused while the host is connected to A directly.
    let a = member(free_port(), &conn, shared.path(), 1);
    let b = member(free_port(), &conn, shared.path(), 4);

    let host_wallet = Wallet::new(41);
    let session = a.sign_in(&host_wallet).await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let created = a.create_room(&token).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let room = created.json()["room"].as_str().unwrap().to_owned();

    let host = Arc::new(Peer::connect(&a.ws_url(), 1, false).await);
    let joined = host.join(&room, Some(&token)).await;
    assert_eq!(joined["type"], "joined", "{joined}");
    assert_eq!(joined["host"], true);

    let guest = Arc::new(Peer::connect(&b.ws_url(), 2, false).await);
    let joined = guest.join(&room, None).await;
    assert_eq!(
        joined["type"],
        "joined",
        "through B: {joined}\nB:\n{}",
        b.log()
    );
    assert_eq!(
        joined["participants"].as_array().map(Vec::len),
        Some(2),
        "the guest is in the host's room: {joined}"
    );
    host.wait_for(|v| {
        v["type"] == "participants" && v["participants"].as_array().is_some_and(|p| p.len() == 2)
    })
    .await;
    assert!(
        b.log().contains("join relayed to the room's process"),
        "B relayed the join: {}",
        b.log()
    );

    // Media both ways, through A's SFU (the guest's signaling went through B).
    let streams: Vec<_> = [host.clone(), guest.clone()]
        .into_iter()
        .map(|p| tokio::spawn(async move { p.stream(Duration::from_secs(30)).await }))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let flowing = |receiver: &Peer, sender: u8| {
            [Kind::Audio, Kind::Video]
                .iter()
                .all(|&k| receiver.flow(sender, k).packets > 10)
        };
        if flowing(&host, 2) && flowing(&guest, 1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no media both ways: host got {:?}, guest got {:?}",
            host.flow(2, Kind::Audio),
            guest.flow(1, Kind::Audio)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for s in streams {
        s.abort();
    }

    // The guest leaves through B: A takes it out of the room.
    guest
        .send(&serde_json::json!({"v": 1, "type": "leave"}))
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !host.events_match(|v| {
        v["type"] == "participants" && v["participants"].as_array().is_some_and(|p| p.len() == 1)
    }) {
        assert!(
            Instant::now() < deadline,
            "the guest's leave did not reach A: {:?}\nA:\n{}\nB:\n{}",
            host.types(),
            a.log(),
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A room nobody holds: refused through B as through A.
    let stranger = Peer::connect(&b.ws_url(), 3, false).await;
    let refused = stranger
        .join("0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0", None)
        .await;
    assert_eq!(refused["code"], "no_such_room", "{refused}");
}
