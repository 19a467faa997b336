//! The mesh over the simulated radio, in virtual time.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ble_fallback::sim::{SimAir, SimParams, SimRadio};
use ble_fallback::{
    Advertisement, BleLink, Envelope, HandOver, LinkEvent, MeshConfig, MeshNode, MessageId,
    Outgoing,
};

fn key(n: u8) -> [u8; 32] {
    [n; 32]
}

fn in_an_hour() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600
}

fn node(air: &SimAir, name: &str, own_key: u8, seed: u64) -> (Arc<SimRadio>, MeshNode) {
    let radio = Arc::new(air.add_node(name));
    let config = MeshConfig {
        interests: vec![key(own_key)],
        seed: Some(seed),
        ..MeshConfig::default()
    };
    let mesh = MeshNode::spawn(radio.clone(), config);
    (radio, mesh)
}

fn message(id: u8, to: u8, len: usize) -> Outgoing {
    Outgoing {
        id: MessageId([id; 8]),
        envelope: Envelope {
            recipient: key(to),
            expires_at: in_an_hour(),
            body: (0..len).map(|i| (i % 251) as u8).collect(),
        },
    }
}

async fn settle() {
    tokio::time::sleep(Duration::from_secs(2)).await;
}

async fn wait_neighbors(mesh: &MeshNode, count: usize) {
    let mut status = mesh.status();
    tokio::time::timeout(
        Duration::from_secs(30),
        status.wait_for(|s| s.neighbors >= count),
    )
    .await
    .expect("neighbours in time")
    .expect("node running");
}

#[tokio::test(start_paused = true)]
async fn a_message_crosses_three_hops_and_says_how_far_it_came() {
    let air = SimAir::new(SimParams::default());
    let (a, mesh_a) = node(&air, "a", 1, 1);
    let (b, _mesh_b) = node(&air, "b", 2, 2);
    let (c, _mesh_c) = node(&air, "c", 3, 3);
    let (d, mesh_d) = node(&air, "d", 4, 4);
    air.line(&[&a, &b, &c, &d]);
    wait_neighbors(&mesh_a, 1).await;
    wait_neighbors(&mesh_d, 1).await;
    settle().await;

    // A gift-wrapped offer with a long SDP: several fragments per hop.
    let sent = message(7, 4, 3000);
    assert_eq!(mesh_a.send(sent.clone()).await, HandOver::Handed);
    let got = tokio::time::timeout(Duration::from_secs(20), mesh_d.recv())
        .await
        .expect("delivered in time")
        .expect("node running");
    assert_eq!(got.envelope, sent.envelope);
    assert_eq!(got.hops, 3);
}

#[tokio::test(start_paused = true)]
async fn a_message_arriving_over_two_paths_is_delivered_once() {
    let air = SimAir::new(SimParams::default());
    let (a, mesh_a) = node(&air, "a", 1, 1);
    let (b, _mesh_b) = node(&air, "b", 2, 2);
    let (c, _mesh_c) = node(&air, "c", 3, 3);
    let (d, mesh_d) = node(&air, "d", 4, 4);
    air.line(&[&a, &b, &d]);
    air.line(&[&a, &c, &d]);
    wait_neighbors(&mesh_d, 2).await;
    wait_neighbors(&mesh_a, 2).await;
    settle().await;

    mesh_a.send(message(9, 4, 600)).await;
    let first = mesh_d.recv().await.expect("delivered");
    assert_eq!(first.id, MessageId([9; 8]));
    settle().await;
    settle().await;
    let again = tokio::time::timeout(Duration::from_secs(10), mesh_d.recv()).await;
    assert!(again.is_err(), "delivered a second time: {again:?}");
    assert!(
        mesh_d.status().borrow().stats.duplicates >= 1,
        "the second copy was seen"
    );
}

#[tokio::test(start_paused = true)]
async fn a_node_out_of_range_gets_its_queued_messages_when_it_comes_back() {
    let air = SimAir::new(SimParams::default());
    let (a, mesh_a) = node(&air, "a", 1, 1);
    let (b, mesh_b) = node(&air, "b", 2, 2);
    let (c, mesh_c) = node(&air, "c", 3, 3);
    air.line(&[&a, &b]);
    wait_neighbors(&mesh_a, 1).await;
    settle().await;

    for id in 1..=3 {
        assert_eq!(mesh_a.send(message(id, 3, 800)).await, HandOver::Handed);
    }
    settle().await;
    assert_eq!(
        mesh_b.status().borrow().stored,
        3,
        "the relay keeps them for C"
    );
    // A walks away; C walks up to B.
    air.isolate(&a);
    air.set_in_range(&b, &c, true);
    let mut got = Vec::new();
    for _ in 0..3 {
        let delivery = tokio::time::timeout(Duration::from_secs(30), mesh_c.recv())
            .await
            .expect("queued message delivered after rejoining")
            .unwrap();
        assert_eq!(delivery.hops, 2);
        got.push(delivery.id.0[0]);
    }
    got.sort();
    assert_eq!(got, vec![1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn with_no_neighbour_a_message_is_queued_and_goes_out_when_one_comes() {
    let air = SimAir::new(SimParams::default());
    let (a, mesh_a) = node(&air, "a", 1, 1);
    let (b, mesh_b) = node(&air, "b", 2, 2);
    settle().await;
    assert_eq!(mesh_a.send(message(5, 2, 100)).await, HandOver::Queued);
    air.set_in_range(&a, &b, true);
    let got = tokio::time::timeout(Duration::from_secs(30), mesh_b.recv())
        .await
        .expect("delivered once in range")
        .unwrap();
    assert_eq!(got.id, MessageId([5; 8]));
}

#[tokio::test(start_paused = true)]
async fn fragments_lost_at_ten_percent_are_resent_until_the_message_is_whole() {
    let air = SimAir::new(SimParams {
        loss: 0.10,
        seed: 42,
        ..SimParams::default()
    });
    let (a, mesh_a) = node(&air, "a", 1, 1);
    let (b, _mesh_b) = node(&air, "b", 2, 2);
    let (c, _mesh_c) = node(&air, "c", 3, 3);
    let (d, mesh_d) = node(&air, "d", 4, 4);
    air.line(&[&a, &b, &c, &d]);
    wait_neighbors(&mesh_a, 1).await;
    wait_neighbors(&mesh_d, 1).await;
    settle().await;

    for id in 1..=5 {
        mesh_a.send(message(id, 4, 4000)).await;
    }
    let mut got = Vec::new();
    for _ in 0..5 {
        let delivery = tokio::time::timeout(Duration::from_secs(60), mesh_d.recv())
            .await
            .expect("every message whole despite loss")
            .unwrap();
        assert_eq!(delivery.envelope.body.len(), 4000);
        got.push(delivery.id.0[0]);
    }
    got.sort();
    assert_eq!(got, vec![1, 2, 3, 4, 5]);
    let sender = mesh_a.status().borrow().stats.clone();
    assert!(
        sender.fragments_resent + sender.resends > 0,
        "loss must have cost resends: {sender:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_message_whose_pieces_never_arrive_ends_in_a_counted_timeout() {
    let air = SimAir::new(SimParams::default());
    let (b, mesh_b) = node(&air, "b", 2, 2);
    let raw = air.add_node("raw");
    raw.advertise_and_scan(Advertisement {
        rotating_id: [0; 8],
    })
    .await
    .unwrap();
    air.set_in_range(&raw, &b, true);
    let neighbor = connect_raw(&raw, "b").await;
    // The first of three pieces, then nothing, whatever B asks for.
    let mut piece = vec![1, 0x03, 7, 0, 9, 9, 9, 9, 9, 9, 9, 9, 0, 8];
    piece.extend_from_slice(&[0, 0, 0, 3, 1, 2, 3, 4]);
    raw.send(neighbor, piece).await.unwrap();
    tokio::time::sleep(Duration::from_secs(40)).await;
    let stats = mesh_b.status().borrow().stats.clone();
    let timeouts: u64 = stats
        .dropped
        .iter()
        .filter(|(reason, _)| reason.to_string() == "message incomplete in time")
        .map(|(_, n)| *n)
        .sum();
    assert_eq!(timeouts, 1, "{stats:?}");
}

async fn connect_raw(raw: &SimRadio, to: &str) -> ble_fallback::NeighborId {
    raw.connect(&ble_fallback::RadioAddress(to.into()))
        .await
        .unwrap();
    loop {
        match raw.next_event().await.expect("radio running") {
            LinkEvent::Connected { neighbor, .. } => return neighbor,
            _ => continue,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_flood_of_malformed_frames_leaves_the_node_responsive() {
    let air = SimAir::new(SimParams {
        bytes_per_sec: 10_000_000,
        ..SimParams::default()
    });
    let (a, mesh_a) = node(&air, "a", 1, 1);
    let (b, mesh_b) = node(&air, "b", 2, 2);
    air.set_in_range(&a, &b, true);
    let raw = air.add_node("raw");
    raw.advertise_and_scan(Advertisement {
        rotating_id: [0; 8],
    })
    .await
    .unwrap();
    air.set_in_range(&raw, &b, true);
    let neighbor = connect_raw(&raw, "b").await;
    wait_neighbors(&mesh_b, 2).await;

    let mut seed = 7u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    const FLOOD: usize = 20_000;
    for i in 0..FLOOD {
        let len = (next() % 244) as usize;
        let mut frame: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 2 == 0 && frame.len() >= 14 {
            // Half look like ours (version 1, a known type) to reach the deeper checks.
            frame[0] = 1;
            frame[1] = 1 + (next() % 6) as u8;
        }
        raw.send(neighbor, frame).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(mesh_a.send(message(3, 2, 1500)).await, HandOver::Handed);
    let got = tokio::time::timeout(Duration::from_secs(10), mesh_b.recv())
        .await
        .expect("still delivers after the flood")
        .unwrap();
    assert_eq!(got.id, MessageId([3; 8]));
    let stats = mesh_b.status().borrow().stats.clone();
    assert!(
        stats.dropped_total() >= (FLOOD / 2) as u64,
        "drops counted: {stats:?}"
    );
    assert!(stats.dropped.len() >= 4, "by several reasons: {stats:?}");
}

#[tokio::test(start_paused = true)]
async fn ble_advertisements_and_announcements_carry_only_a_rotating_id() {
    let air = SimAir::new(SimParams::default());
    air.start_capture();
    let config = |seed| MeshConfig {
        interests: vec![key(seed as u8)],
        id_rotation: Duration::from_secs(60),
        seed: Some(seed),
        ..MeshConfig::default()
    };
    let a = Arc::new(air.add_node("a"));
    let b = Arc::new(air.add_node("b"));
    let mesh_a = MeshNode::spawn(a.clone(), config(1));
    let _mesh_b = MeshNode::spawn(b.clone(), config(2));
    air.set_in_range(&a, &b, true);
    wait_neighbors(&mesh_a, 1).await;
    tokio::time::sleep(Duration::from_secs(60 * 5 + 30)).await;

    let heard = air.captured();
    let ads: Vec<[u8; 8]> = heard
        .iter()
        .filter_map(|h| match h {
            ble_fallback::sim::Heard::Advertisement { from, ad } if from == "a" => {
                Some(ad.rotating_id)
            }
            _ => None,
        })
        .collect();
    assert!(ads.len() >= 6, "a first id and one per minute: {ads:?}");
    let distinct: std::collections::HashSet<_> = ads.iter().collect();
    assert_eq!(distinct.len(), ads.len(), "no advertised id comes back");
    // Announcements on a connection name the current rotating id and nothing else.
    let announced: Vec<Vec<u8>> = heard
        .iter()
        .filter_map(|h| match h {
            ble_fallback::sim::Heard::Frame { from, frame } if from == "a" && frame[1] == 0x01 => {
                Some(frame.clone())
            }
            _ => None,
        })
        .collect();
    assert!(
        announced.len() >= 6,
        "announced at connect and at each rotation"
    );
    for frame in &announced {
        assert_eq!(frame.len(), 14, "an announcement is a bare header");
        let id: [u8; 8] = frame[4..12].try_into().unwrap();
        assert!(
            ads.contains(&id),
            "announces only an advertised rotating id"
        );
    }
    // Our key (the mesh interest) never goes on the air outside a message's envelope.
    let own = key(1);
    for h in &heard {
        if let ble_fallback::sim::Heard::Frame { frame, .. } = h {
            assert!(!frame.windows(32).any(|w| w == own), "own key on the air");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_message_sent_twice_or_already_expired_is_refused_at_once() {
    let air = SimAir::new(SimParams::default());
    let (_a, mesh_a) = node(&air, "a", 1, 1);
    assert_eq!(mesh_a.send(message(1, 2, 10)).await, HandOver::Queued);
    assert_eq!(mesh_a.send(message(1, 2, 10)).await, HandOver::Refused);
    let mut stale = message(2, 2, 10);
    stale.envelope.expires_at = 1;
    assert_eq!(mesh_a.send(stale).await, HandOver::Refused);
}
