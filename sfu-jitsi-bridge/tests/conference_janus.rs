//! The conference service on the Janus backend, against real Janus processes (Debian's
//! `janus`, started per test on free loopback ports): webrtc-rs participants signal only
//! with the service, publish to and receive from Janus VideoRoom, and what reaches them is
//! the SFrame ciphertext their peers sent. Across two instances, one room spans both through
//! VideoRoom's remote publishers; when one instance dies its participants are moved.

mod conf_support;
mod janus_support;
mod sfu_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use conf_support::peer::{stream_all, Peer, PeerOptions};
use conf_support::{Options, Service, Wallet};
use janus_support::Janus;
use sfu_support::Kind;

/// Waits for `check` to hold, polling; panics with `what` after `within`.
async fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Participants bind the machine's address: Janus offers no loopback candidates.
fn clients_on_host_ip() {
    sfu_support::use_client_ip(janus_support::host_ip());
}

/// `[janus]` with these (name, region, url) instances.
fn janus_config(instances: &[(&str, &str, String)]) -> String {
    let mut text = "[janus]\n".to_owned();
    for (name, region, url) in instances {
        text.push_str(&format!(
            "[[janus.instances]]\nname = \"{name}\"\nregion = \"{region}\"\nurl = \"{url}\"\n"
        ));
    }
    text
}

/// A Pro host's room on `service`.
async fn pro_room(service: &Service, seed: u8) -> (String, String) {
    let host = Wallet::new(seed);
    service.buy_pro(&host, &format!("evt_janus_{seed}")).await;
    let session = service.sign_in(&host).await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let created = service.create_room(&token).await;
    assert_eq!(created.status, 201, "{}", created.text());
    (created.json()["room"].as_str().unwrap().to_owned(), token)
}

fn receives_all(peer: &Peer, others: &[u8]) -> bool {
    others
        .iter()
        .all(|&o| peer.flow(o, Kind::Audio).packets > 10 && peer.flow(o, Kind::Video).packets > 10)
}

#[tokio::test]
async fn metrics_count_rooms_and_participants_but_name_no_room_participant_or_wallet() {
    clients_on_host_ip();
    // An instance nobody listens on: the service starts, is live, and not ready.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let service = Service::start(Options {
        extra: janus_config(&[("gone", "a", format!("ws://127.0.0.1:{port}"))]),
        ..Options::default()
    });
    assert_eq!(
        service.request("GET", "/healthz", &[], b"").await.status,
        200
    );
    let ready = service.request("GET", "/readyz", &[], b"").await;
    assert_eq!(ready.status, 503, "{}", ready.text());
    let host = Wallet::new(43);
    let session = service.sign_in(&host).await;
    let token = session["access_token"].as_str().unwrap();
    let room = service.create_room(token).await.json();
    let room = room["room"].as_str().unwrap();
    let metrics = service.request("GET", "/metrics", &[], b"").await;
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    for line in [
        "phantomcall_conference_rooms 1",
        "phantomcall_media_servers_up 0",
        "phantomcall_media_servers 1",
        "phantomcall_media_server_participants{server=\"gone\"} 0",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    assert!(!text.contains(room), "{text}");
    assert!(!text.contains(&host.address), "{text}");
    assert!(!text.contains("127.0.0.1"), "{text}");
    // Joining fails clearly: no media server.
    let peer = Peer::connect(&service.ws_url(), 1, false).await;
    let refused = peer.join(room, Some(token)).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["message"], "the media server is unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn janus_forwards_the_sframe_ciphertext_participants_sent_without_reading_it() {
    clients_on_host_ip();
    let janus = Janus::start("solo");
    let service = Service::start(Options {
        extra: janus_config(&[("solo", "a", janus.url())]),
        ..Options::default()
    });
    let (room, token) = pro_room(&service, 41).await;
    let options = PeerOptions {
        sframe: true,
        ..PeerOptions::default()
    };
    let mut peers = Vec::new();
    for marker in 1..=3u8 {
        let peer = Arc::new(Peer::connect_with(&service.ws_url(), marker, options.clone()).await);
        let token = (marker == 1).then_some(token.as_str());
        let joined = peer.join(&room, token).await;
        assert_eq!(joined["type"], "joined", "{joined}");
        peers.push(peer);
    }
    let streams = stream_all(&peers, Duration::from_secs(600));
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline
        && !peers.iter().all(|p| {
            let others: Vec<u8> = (1..=3).filter(|m| *m != p.marker).collect();
            receives_all(p, &others)
        })
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if Instant::now() >= deadline {
        for p in &peers {
            eprintln!("peer {}: {:?}", p.marker, p.types());
            eprintln!("  received: {:?}", p.received.lock().unwrap());
        }
        eprintln!("SERVICE LOG:\n{}", service.log());
        let jl = janus.log();
        eprintln!(
            "JANUS LOG (tail):\n{}",
            &jl[jl.len().saturating_sub(6000)..]
        );
    }
    for peer in &peers {
        let others: Vec<u8> = (1..=3).filter(|m| *m != peer.marker).collect();
        eventually(
            Duration::from_secs(30),
            &format!("participant {} hears and sees the others", peer.marker),
            || receives_all(peer, &others),
        )
        .await;
    }
    for s in streams {
        s.abort();
    }
    for peer in &peers {
        // Two legs on Janus: the receiving one was offered by the service.
        assert!(peer
            .events
            .lock()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "offer" && e["leg"] == "subscriber"));
        let r = peer.received.lock().unwrap();
        assert!(r.sframe_decrypted > 40, "{r:?}");
        assert_eq!(r.plaintext_on_wire, 0, "plaintext crossed Janus");
        assert_eq!(r.undecryptable, 0, "a frame was altered on the way");
        for flow in r.flows.values() {
            assert_eq!(flow.corrupted, 0);
        }
    }
    // The service placed everyone on Janus and never on its own SFU.
    let metrics = service.request("GET", "/metrics", &[], b"").await.text();
    assert!(
        metrics.contains("phantomcall_media_participants 3"),
        "{metrics}"
    );
    assert!(metrics.contains("backend=\"janus\""), "{metrics}");
    let log = service.log();
    assert!(log.contains("Janus instance connected"), "{log}");
    assert!(
        !janus
            .log()
            .contains("Room requires end-to-end encrypted media"),
        "Janus refused a publisher as not end-to-end encrypted"
    );
}

/// What each participant got, and the service's log, for a failure's message.
fn dump(peers: &[Arc<Peer>], service: &Service) {
    for p in peers {
        let events: Vec<String> = p
            .events
            .lock()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{}{}",
                    e["type"],
                    e.get("leg").map_or(String::new(), |l| format!("/{l}"))
                )
            })
            .collect();
        eprintln!("participant {}: {events:?}", p.marker);
        let r = p.received.lock().unwrap();
        let flows: Vec<_> = r.flows.iter().map(|(k, f)| (*k, f.packets)).collect();
        eprintln!("  flows {flows:?} streams {:?}", r.streams.len());
    }
    eprintln!("service log:\n{}", service.log());
}

/// Packets from `sender` of both kinds that reached `peer` after `since`.
fn flowing_since(peer: &Peer, sender: u8, since: Instant) -> bool {
    [Kind::Audio, Kind::Video]
        .iter()
        .all(|&k| peer.flow(sender, k).last.is_some_and(|t| t > since))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_room_spans_two_janus_instances_and_survives_losing_one() {
    clients_on_host_ip();
    let janus_a = Janus::start("a");
    let mut janus_b = Janus::start("b");
    let service = Service::start(Options {
        extra: janus_config(&[("a", "eu", janus_a.url()), ("b", "us", janus_b.url())]),
        ..Options::default()
    });
    let (room, token) = pro_room(&service, 42).await;
    // Two participants near each region: placement puts two on each instance.
    let mut peers = Vec::new();
    for (marker, region) in [(1u8, "eu"), (2, "eu"), (3, "us"), (4, "us")] {
        let options = PeerOptions {
            sframe: true,
            region: Some(region.to_owned()),
            ..PeerOptions::default()
        };
        let peer = Arc::new(Peer::connect_with(&service.ws_url(), marker, options).await);
        let token = (marker == 1).then_some(token.as_str());
        let joined = peer.join(&room, token).await;
        assert_eq!(joined["type"], "joined", "{joined}");
        peers.push(peer);
    }
    let streams = stream_all(&peers, Duration::from_secs(600));
    let everyone = |p: &Peer| {
        let others: Vec<u8> = (1..=4).filter(|m| *m != p.marker).collect();
        receives_all(p, &others)
    };
    let deadline = Instant::now() + Duration::from_secs(40);
    while !peers.iter().all(|p| everyone(p)) {
        if Instant::now() > deadline {
            dump(&peers, &service);
            panic!("not everyone gets all three others");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = service.log();
    for name in ["a", "b"] {
        let placed = format!("participant placed on instance {name}");
        assert_eq!(log.matches(&placed).count(), 2, "{log}");
    }
    // Media crossed between the instances as remote publishers (cascading), not through the
    // service: each instance's log shows the remote publishers it was given.
    for janus in [&janus_a, &janus_b] {
        let log = janus.log();
        assert!(log.contains("Joining remote publisher thread"), "{log}");
    }

    // Instance b dies mid-call: its two participants are moved to a.
    let audio_1_from_2 = peers[0].flow(2, Kind::Audio).packets;
    let audio_2_from_1 = peers[1].flow(1, Kind::Audio).packets;
    let killed = Instant::now();
    janus_b.stop();
    // Recovered: the moved ones (3, 4) rejoined and receive everyone on their new
    // connections (their old ones were closed before they rejoined, so nothing counted
    // here can be a packet Janus b forwarded), and 1 and 2 receive 3 and 4 again after
    // those rejoined.
    let recovered_now = || {
        let rejoined: Vec<Option<Instant>> = peers[2..]
            .iter()
            .map(|p| p.rejoined_at().first().copied())
            .collect();
        let (Some(r3), Some(r4)) = (rejoined[0], rejoined[1]) else {
            return false;
        };
        let moved_ok = peers[2..].iter().zip([r3, r4]).all(|(p, since)| {
            (1..=4)
                .filter(|m| *m != p.marker)
                .all(|o| flowing_since(p, o, since))
        });
        let stayed_ok = peers[..2]
            .iter()
            .all(|p| flowing_since(p, 3, r3) && flowing_since(p, 4, r4));
        moved_ok && stayed_ok
    };
    let deadline = killed + Duration::from_secs(30);
    while !recovered_now() {
        assert!(
            Instant::now() < deadline,
            "no recovery within 30 s: {:?} / {:?}",
            peers[2].types(),
            peers[3].types()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let recovered = killed.elapsed();
    // The two on a were not interrupted: their audio to each other kept its 50 packets/s
    // (80 % of them at least, on a loaded machine) through the failover, and they were
    // never asked to reconnect.
    let expected = (recovered.as_millis() / 20) as u64 * 8 / 10;
    assert!(peers[0].flow(2, Kind::Audio).packets - audio_1_from_2 >= expected);
    assert!(peers[1].flow(1, Kind::Audio).packets - audio_2_from_1 >= expected);
    for peer in &peers[..2] {
        assert!(!peer.types().iter().any(|t| t == "reconnect"));
    }
    for peer in &peers[2..] {
        assert_eq!(peer.rejoined_at().len(), 1, "{:?}", peer.types());
    }
    let log = service.log();
    assert_eq!(log.matches("participant placed on instance a").count(), 4);
    for s in streams {
        s.abort();
    }
    for peer in &peers {
        let r = peer.received.lock().unwrap();
        assert_eq!(r.plaintext_on_wire, 0);
        assert_eq!(r.undecryptable, 0);
    }
    println!(
        "janus failover: instance killed -> all four receive everyone again in {} ms",
        recovered.as_millis()
    );
    assert!(
        recovered < Duration::from_secs(15),
        "failover took {recovered:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_janus_instance_is_noticed_by_keepalives_and_its_participants_moved() {
    clients_on_host_ip();
    let janus_a = Janus::start("a");
    let janus_b = Janus::start("b");
    let service = Service::start(Options {
        extra: janus_config(&[("a", "eu", janus_a.url()), ("b", "us", janus_b.url())]),
        ..Options::default()
    });
    let (room, token) = pro_room(&service, 44).await;
    let mut peers = Vec::new();
    for (marker, region) in [(1u8, "eu"), (2, "us")] {
        let options = PeerOptions {
            sframe: true,
            region: Some(region.to_owned()),
            ..PeerOptions::default()
        };
        let peer = Arc::new(Peer::connect_with(&service.ws_url(), marker, options).await);
        let token = (marker == 1).then_some(token.as_str());
        assert_eq!(peer.join(&room, token).await["type"], "joined");
        peers.push(peer);
    }
    let streams = stream_all(&peers, Duration::from_secs(600));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(receives_all(&peers[0], &[2]) && receives_all(&peers[1], &[1])) {
        if Instant::now() > deadline {
            dump(&peers, &service);
            panic!("they do not receive each other");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Janus b freezes: no TCP reset, its API just stops answering.
    let frozen = Instant::now();
    janus_b.freeze();
    let deadline = frozen + Duration::from_secs(30);
    loop {
        let moved = peers[1].rejoined_at().first().copied();
        if let Some(since) = moved {
            if flowing_since(&peers[1], 1, since) && flowing_since(&peers[0], 2, since) {
                break;
            }
        }
        assert!(Instant::now() < deadline, "{:?}", peers[1].types());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let recovered = frozen.elapsed();
    for s in streams {
        s.abort();
    }
    println!(
        "janus failover: instance frozen -> both receive each other again in {} ms",
        recovered.as_millis()
    );
    // Keep-alives every 3 s, 3 s to answer: noticed within 6 s, then the rejoin (well under
    // a second here; the margin is for a loaded CI machine).
    assert!(recovered < Duration::from_secs(15), "took {recovered:?}");
    assert!(!peers[0].types().iter().any(|t| t == "reconnect"));
}

#[test]
fn the_trial_stack_script_brings_janus_and_the_service_up_ready() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/try-local.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .args(["--check", "--janus"])
        .env(
            "PHANTOMCALL_CONFERENCE_BIN",
            env!("CARGO_BIN_EXE_phantomcall-conference"),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("(ready)"), "{stdout}");
    assert!(
        stdout.contains("phantomcall_media_servers_up 1"),
        "{stdout}"
    );
    assert!(stdout.contains("backend=\"janus\""), "{stdout}");
    // Janus's Admin API is on (loopback, a generated secret) and the service reads it.
    assert!(
        stdout.contains("phantomcall_media_server_stats_up{server=\"local-1\"} 1"),
        "{stdout}"
    );
    assert!(stdout.contains("try-local: ok\n"), "{stdout}");
    // Everything it started is stopped again.
    assert!(stdout.ends_with("try-local: stopped\n"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_draining_instance_takes_no_new_participants_and_keeps_the_ones_it_has() {
    clients_on_host_ip();
    let janus_a = Janus::start("a");
    let janus_b = Janus::start("b");
    let service = Service::start(Options {
        extra: janus_config(&[("a", "eu", janus_a.url()), ("b", "us", janus_b.url())]),
        ..Options::default()
    });
    let (room, token) = pro_room(&service, 45).await;
    let join = |marker: u8, token: Option<String>| {
        let (url, room) = (service.ws_url(), room.clone());
        async move {
            let options = PeerOptions {
                region: Some("us".to_owned()),
                ..PeerOptions::default()
            };
            let peer = Arc::new(Peer::connect_with(&url, marker, options).await);
            let joined = peer.join(&room, token.as_deref()).await;
            assert_eq!(joined["type"], "joined", "{joined}");
            peer
        }
    };
    let first = join(1, Some(token.clone())).await;
    assert_eq!(
        service
            .log()
            .matches("participant placed on instance b")
            .count(),
        1
    );
    // The operator marks b as draining and tells the service (SIGHUP).
    let path = service.dir.path().join("conference.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    let drained = config.replace("name = \"b\"\n", "name = \"b\"\ndrain = true\n");
    assert_ne!(config, drained);
    std::fs::write(&path, drained).unwrap();
    let hup = std::process::Command::new("kill")
        .arg("-HUP")
        .arg(service.pid().to_string())
        .status()
        .unwrap();
    assert!(hup.success());
    eventually(
        Duration::from_secs(10),
        "the service re-read the drain flags",
        || service.log().contains("instance b draining"),
    )
    .await;
    // A newcomer from b's region goes to a; the one on b stays and both see each other.
    let second = join(2, None).await;
    assert_eq!(
        service
            .log()
            .matches("participant placed on instance a")
            .count(),
        1
    );
    let peers = vec![first, second];
    let streams = stream_all(&peers, Duration::from_secs(600));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(receives_all(&peers[0], &[2]) && receives_all(&peers[1], &[1])) {
        if Instant::now() > deadline {
            dump(&peers, &service);
            panic!("they do not receive each other");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for s in streams {
        s.abort();
    }
    assert!(!peers[0].types().iter().any(|t| t == "reconnect"));
}
