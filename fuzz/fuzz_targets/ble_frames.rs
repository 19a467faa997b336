//! Frames from the Bluetooth LE air, as a hostile device in range would send them: the
//! frame parser round-trips what it accepts, and a mesh node fed any sequence of frames
//! from several neighbours never panics and keeps its reassembly memory within bounds.
#![no_main]

use std::time::{Duration, Instant};

use ble_fallback::frag::ReassemblyLimits;
use ble_fallback::frame::Frame;
use ble_fallback::mesh::{MeshCore, MeshInput};
use ble_fallback::{MeshConfig, NeighborId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = Frame::decode(data) {
        assert_eq!(frame.encode(), data, "an accepted frame encodes back to its bytes");
    }
    let limits = ReassemblyLimits::default();
    let config = MeshConfig {
        interests: vec![[7; 32]],
        seed: Some(1),
        reassembly: limits.clone(),
        ..MeshConfig::default()
    };
    let mut now = Instant::now();
    let mut core = MeshCore::new(config, now, 1_800_000_000);
    for n in 0..3 {
        core.handle_input(
            MeshInput::NeighborUp {
                neighbor: NeighborId(n),
                max_frame: 244,
                rotating_id: None,
            },
            now,
        );
    }
    // Each chunk: neighbour (1 byte), length (1 byte), that many bytes; time moves on.
    let mut rest = data;
    while rest.len() >= 2 {
        let neighbor = NeighborId(u64::from(rest[0] % 4));
        let len = usize::from(rest[1]).min(rest.len() - 2);
        let bytes = rest[2..2 + len].to_vec();
        rest = &rest[2 + len..];
        core.handle_input(MeshInput::Frame { neighbor, bytes }, now);
        now += Duration::from_millis(u64::from(rest.first().copied().unwrap_or(0)) * 10);
        core.handle_timeout(now);
        while core.poll_output().is_some() {}
        assert!(core.reassembly_bytes() <= limits.max_bytes);
    }
});
