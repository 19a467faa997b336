//! Two conference service processes on one PostgreSQL (`[cluster]`), as behind a load
//! balancer: a room created through process A is joined through process B, the join is
//! relayed to A (which holds the room), and the two participants are in one room: each is
//! listed to the other and receives the other's media. A room neither process holds is
//! refused through B as it is through A, and A's per-address connection limit does not
//! count B's relayed sessions. Between machines the relay runs over TLS (`wss://`), trusting
//! only the cluster's own certificates.

#[path = "common/pg.rs"]
mod pg;

mod conf_support;
mod sfu_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use conf_support::peer::{stream_all, Peer};
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
    member_with(port, conn, shared, per_ip, "")
}

/// [`member`] with more lines for its `[cluster]` table.
fn member_with(
    port: u16,
    conn: &str,
    shared: &std::path::Path,
    per_ip: u32,
    cluster: &str,
) -> Service {
    let secret = shared.join("cluster-secret");
    Service::start(Options {
        listen: format!("127.0.0.1:{port}"),
        store: Some(format!("postgres = \"{conn}\"")),
        signing_key: Some(shared.join("session-key.pem").display().to_string()),
        limits: format!("websockets_per_ip = {per_ip}"),
        extra: format!(
            "[cluster]\nadvertise = \"ws://127.0.0.1:{port}\"\nsecret_file = \"{}\"\n{cluster}",
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
            .query(
                "SELECT room, owner, expires_at::TEXT, host_key, tier FROM rooms",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (0..5).map(|i| r.get::<_, String>(i)).collect())
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
    let (token, room) = a.signed_in_room(&host_wallet).await;
    let host = Peer::connect(&a.ws_url(), 1, false).await;
    let joined = host.join(&room, Some(&token)).await;
    assert_eq!(joined["type"], "joined", "{joined}");
    let participant = joined["participant_id"].as_str().unwrap().to_owned();
    let rows = directory_rows(&conn).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    // The room (its id without hyphens), where it lives, until when, its host as a keyed
    // hash and its plan: nothing else.
    assert_eq!(rows[0][0], room.replace('-', ""));
    assert_eq!(rows[0][1], format!("ws://127.0.0.1:{port}"));
    assert_eq!(rows[0][3].len(), 64);
    assert_eq!(rows[0][4], "free");
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
    let (token, room) = a.signed_in_room(&host_wallet).await;

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
    let streams = stream_all(&[host.clone(), guest.clone()], Duration::from_secs(30));
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

/// A process of a TLS cluster on `port`: its listener and its relay both TLS, trusting
/// `shared/cert.pem` only.
fn tls_member(port: u16, conn: &str, shared: &std::path::Path, ca: &str) -> Service {
    let path = |name: &str| shared.join(name).display().to_string();
    Service::start(Options {
        listen: format!("127.0.0.1:{port}"),
        store: Some(format!("postgres = \"{conn}\"")),
        signing_key: Some(path("session-key.pem")),
        extra: format!(
            "[tls]\ncert = \"{cert}\"\nkey = \"{key}\"\n\
             [cluster]\nadvertise = \"wss://127.0.0.1:{port}\"\nsecret_file = \"{secret}\"\n\
             ca_file = \"{ca}\"\n",
            cert = path("cert.pem"),
            key = path("key.pem"),
            secret = path("cluster-secret"),
            ca = path(ca),
        ),
        ..Options::default()
    })
}

/// A raw `wss://` signaling connection to `service`, trusting `der`.
async fn wss(
    service: &Service,
    der: &[u8],
) -> tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", service.port))
        .await
        .unwrap();
    let tls = conf_support::tls_connector(der)
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    tokio_tungstenite::client_async("wss://localhost/v1/signal", tls)
        .await
        .unwrap()
        .0
}

/// The first JSON message on `ws` (10 s at most).
async fn reply<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> serde_json::Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use futures_util::StreamExt as _;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a reply in time")
            .expect("the connection stays open")
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn between_machines_the_relay_runs_over_tls_to_the_clusters_own_certificates_only() {
    use futures_util::SinkExt as _;
    let Some((_pg, conn, shared)) = database().await else {
        return;
    };
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    std::fs::write(shared.path().join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(
        shared.path().join("key.pem"),
        cert.signing_key.serialize_pem(),
    )
    .unwrap();
    let stranger = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    std::fs::write(shared.path().join("other-ca.pem"), stranger.cert.pem()).unwrap();
    let der = cert.cert.der().to_vec();

    let mut a = tls_member(free_port(), &conn, shared.path(), "cert.pem");
    a.cert_der = Some(der.clone());
    let b = tls_member(free_port(), &conn, shared.path(), "cert.pem");
    // C trusts another certificate than the cluster's: it must not talk to A.
    let c = tls_member(free_port(), &conn, shared.path(), "other-ca.pem");
    let (_token, room) = a.signed_in_room(&Wallet::new(43)).await;

    // An anonymous join offering two sending video sections: only the room's own process
    // judges it (B and C would say `no_such_room`, or `media_server_unavailable` without
    // reaching A), so A's "screen share not allowed" back through B proves the relay.
    let offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendrecv\r\n\
                 m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendrecv\r\n\
                 m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendrecv\r\n";
    let join = serde_json::json!({
        "v": 1, "type": "join", "room": room, "display_name": "guest", "offer": offer,
    })
    .to_string();
    let mut through_b = wss(&b, &der).await;
    through_b
        .send(tokio_tungstenite::tungstenite::Message::Text(
            join.clone().into(),
        ))
        .await
        .unwrap();
    let answered = reply(&mut through_b).await;
    assert_eq!(
        answered["code"],
        "screen_share_not_allowed",
        "{answered}\nB:\n{}",
        b.log()
    );
    assert!(b.log().contains("join relayed"), "{}", b.log());

    let mut through_c = wss(&c, &der).await;
    through_c
        .send(tokio_tungstenite::tungstenite::Message::Text(join.into()))
        .await
        .unwrap();
    let refused = reply(&mut through_c).await;
    assert_eq!(refused["code"], "media_server_unavailable", "{refused}");
    assert!(
        c.log().contains("TLS to the room's process failed"),
        "{}",
        c.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rooms_of_a_process_that_stopped_are_taken_over_by_the_one_a_join_reaches() {
    let Some((_pg, conn, shared)) = database().await else {
        return;
    };
    let takeover = "takeover_after_secs = 6\n";
    let a = member_with(free_port(), &conn, shared.path(), 4, takeover);
    let b = member_with(free_port(), &conn, shared.path(), 4, takeover);
    let wallet = Wallet::new(44);
    let (token, room) = a.signed_in_room(&wallet).await;
    let host = Peer::connect(&a.ws_url(), 1, false).await;
    assert_eq!(host.join(&room, Some(&token)).await["host"], true);
    // While A is alive, a join through B goes to A (relayed), as always.
    let guest = Peer::connect(&b.ws_url(), 2, false).await;
    assert_eq!(guest.join(&room, None).await["type"], "joined");
    assert!(b.log().contains("join relayed"), "{}", b.log());
    let a_port = a.port;

    // A stops for good. Once it has been silent for takeover_after_secs, the host coming
    // back through B finds the room there: same room, still its host.
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(40);
    let rejoined = loop {
        let back = Peer::connect(&b.ws_url(), 3, false).await;
        let reply = back.join(&room, Some(&token)).await;
        if reply["type"] == "joined" {
            break reply;
        }
        assert_eq!(reply["code"], "media_server_unavailable", "{reply}");
        assert!(Instant::now() < deadline, "never taken over:\n{}", b.log());
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert_eq!(rejoined["host"], true, "{rejoined}");
    assert!(b.log().contains("room taken over"), "{}", b.log());
    let rows = directory_rows(&conn).await;
    let row = rows.iter().find(|r| r[0] == room.replace('-', "")).unwrap();
    assert_eq!(row[1], format!("ws://127.0.0.1:{}", b.port));
    assert_ne!(row[1], format!("ws://127.0.0.1:{a_port}"));
}
