//! What the mesh carries on the simulated radio (15 KB/s per connection, 15 ms latency,
//! 244-byte frames), in simulated time: messages per second through a 5-node line, and
//! delivery time per hop for a gift wrap of typical size. Prints its figures.
//!
//! `cargo bench -p ble-fallback --bench mesh`

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ble_fallback::sim::{SimAir, SimParams, SimRadio};
use ble_fallback::{Envelope, MeshConfig, MeshNode, MessageId, Outgoing};
use tokio::time::Instant;

/// A sealed, gift-wrapped call offer with its SDP is about this long as JSON.
const WRAP_BYTES: usize = 1_500;

fn line(len: usize, params: SimParams) -> (SimAir, Vec<Arc<SimRadio>>, Vec<MeshNode>) {
    let air = SimAir::new(params);
    let radios: Vec<Arc<SimRadio>> = (0..len)
        .map(|i| Arc::new(air.add_node(&format!("n{i}"))))
        .collect();
    let nodes = radios
        .iter()
        .enumerate()
        .map(|(i, radio)| {
            let config = MeshConfig {
                interests: vec![[i as u8; 32]],
                seed: Some(i as u64 + 1),
                ..MeshConfig::default()
            };
            MeshNode::spawn(radio.clone(), config)
        })
        .collect();
    let refs: Vec<&SimRadio> = radios.iter().map(|r| r.as_ref()).collect();
    air.line(&refs);
    (air, radios, nodes)
}

fn message(id: u32, to: u8) -> Outgoing {
    let mut bytes = [0u8; 8];
    bytes[..4].copy_from_slice(&id.to_be_bytes());
    Outgoing {
        id: MessageId(bytes),
        envelope: Envelope {
            recipient: [to; 32],
            expires_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 3600,
            body: vec![0x5a; WRAP_BYTES],
        },
    }
}

async fn connected(nodes: &[MeshNode]) {
    for (i, node) in nodes.iter().enumerate() {
        let want = if i == 0 || i == nodes.len() - 1 { 1 } else { 2 };
        let mut status = node.status();
        status.wait_for(|s| s.neighbors >= want).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn throughput(count: u32) -> (f64, f64) {
    let (_air, _radios, nodes) = line(5, SimParams::default());
    connected(&nodes).await;
    let start = Instant::now();
    let wall = std::time::Instant::now();
    for id in 0..count {
        let _ = nodes[0].send(message(id, 4)).await;
    }
    for _ in 0..count {
        nodes[4].recv().await.unwrap();
    }
    let simulated = start.elapsed().as_secs_f64();
    (f64::from(count) / simulated, wall.elapsed().as_secs_f64())
}

async fn delivery_time(hops: usize) -> Duration {
    let (_air, _radios, nodes) = line(hops + 1, SimParams::default());
    connected(&nodes).await;
    let start = Instant::now();
    let _ = nodes[0].send(message(1, hops as u8)).await;
    nodes[hops].recv().await.unwrap();
    start.elapsed()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        println!("BLE mesh on the simulated radio: 15 KB/s per connection, 15 ms latency, 244-byte frames, no loss");
        println!("gift wrap of {WRAP_BYTES} bytes ({} frames per hop)", WRAP_BYTES.div_ceil(244 - 18));
        let (rate, wall) = throughput(200).await;
        println!(
            "5-node line (4 hops), 200 wraps back to back: {rate:.1} wraps/s delivered ({:.1} KB/s of wraps; {wall:.2} s of wall time for the run)",
            rate * WRAP_BYTES as f64 / 1000.0
        );
        println!("delivery time of one wrap, end to end:");
        let mut previous = Duration::ZERO;
        for hops in 1..=4 {
            let took = delivery_time(hops).await;
            println!(
                "  {hops} hop(s): {:>4} ms  (+{} ms for this hop; relay jitter 10-220 ms per relay)",
                took.as_millis(),
                took.saturating_sub(previous).as_millis()
            );
            previous = took;
        }
    });
}
