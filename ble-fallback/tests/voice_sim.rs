//! Voice packets over one direct connection of the simulated radio: the node reports its
//! neighbours' ids (what a call sends to), and a packet goes to that neighbour only,
//! whole, or not at all when it does not fit one frame.

use std::sync::Arc;
use std::time::Duration;

use ble_fallback::sim::{SimAir, SimParams};
use ble_fallback::{MeshConfig, MeshNode, NeighborId};

fn node(air: &SimAir, name: &str, seed: u64) -> (Arc<ble_fallback::sim::SimRadio>, MeshNode) {
    let radio = Arc::new(air.add_node(name));
    let config = MeshConfig {
        seed: Some(seed),
        ..MeshConfig::default()
    };
    let mesh = MeshNode::spawn(radio.clone(), config);
    (radio, mesh)
}

async fn neighbor_ids(mesh: &MeshNode, count: usize) -> Vec<NeighborId> {
    let mut status = mesh.status();
    let ids = tokio::time::timeout(
        Duration::from_secs(30),
        status.wait_for(|s| s.neighbor_ids.len() >= count),
    )
    .await
    .expect("neighbours in time")
    .expect("node running")
    .neighbor_ids
    .clone();
    ids
}

#[tokio::test(start_paused = true)]
async fn status_names_the_neighbours_and_voice_reaches_the_one_it_was_sent_to() {
    let air = SimAir::new(SimParams::default());
    let (a, mesh_a) = node(&air, "a", 1);
    let (b, mesh_b) = node(&air, "b", 2);
    let (c, mesh_c) = node(&air, "c", 3);
    air.line(&[&a, &b, &c]);
    let from_a = neighbor_ids(&mesh_a, 1).await;
    let from_b = neighbor_ids(&mesh_b, 2).await;
    assert_eq!(from_a.len(), 1);
    assert_eq!(from_b.len(), 2);
    assert_eq!(mesh_b.status().borrow().neighbors, 2);

    mesh_a.send_voice(from_a[0], vec![7; 100]);
    let (via, packet) = tokio::time::timeout(Duration::from_secs(1), mesh_b.recv_voice())
        .await
        .expect("in time")
        .expect("running");
    assert!(from_b.contains(&via));
    assert_eq!(packet, vec![7; 100]);

    // Never relayed: c hears nothing. Too long for one frame (244 - 14): not sent at all.
    mesh_a.send_voice(from_a[0], vec![8; 231]);
    mesh_a.send_voice(from_a[0], vec![9; 230]);
    let (_, packet) = mesh_b.recv_voice().await.expect("running");
    assert_eq!(packet, vec![9; 230], "the oversized packet was skipped");
    let relayed = tokio::time::timeout(Duration::from_secs(2), mesh_c.recv_voice()).await;
    assert!(relayed.is_err(), "voice relayed: {relayed:?}");

    // The connection goes away: so does its id.
    air.set_in_range(&a, &b, false);
    let mut status = mesh_a.status();
    tokio::time::timeout(
        Duration::from_secs(5),
        status.wait_for(|s| s.neighbor_ids.is_empty()),
    )
    .await
    .expect("in time")
    .expect("running");
}
