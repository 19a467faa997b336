//! What end-to-end media encryption costs on this machine: SFrame (RFC 9605, AES-128-GCM)
//! encrypt and decrypt per frame for an Opus frame and VP8 frames of typical sizes, next
//! to the identity transform as the baseline in the same run; and the post-quantum
//! key agreement of a 1:1 call (X-Wing: key pair, encapsulation, decapsulation + HKDF).
//!
//! `cargo bench -p calling --bench e2ee` (`-- --quick` for a short run).

use std::hint::black_box;
use std::time::{Duration, Instant};

use calling::e2ee::pq::{respond, CallBinding, PqOffer};
use calling::e2ee::{SframeKey, SframeTransform};
use calling::{FrameKind, FrameTransform, IdentityTransform};

/// Typical encoded frame sizes: Opus at 32 kbit/s in 20 ms, VP8 640x480 delta and key frames.
const FRAMES: [(&str, FrameKind, usize); 3] = [
    ("opus 20 ms", FrameKind::Audio, 80),
    ("vp8 delta", FrameKind::Camera, 2_500),
    ("vp8 key", FrameKind::Camera, 25_000),
];

fn per_op(iterations: u32, mut op: impl FnMut()) -> Duration {
    // Warm up caches and the allocator first.
    for _ in 0..iterations / 10 {
        op();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        op();
    }
    start.elapsed() / iterations
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let iterations = if quick { 2_000 } else { 20_000 };

    let (alice_key, bob_key) = (
        SframeKey::new(1, vec![7u8; 32]),
        SframeKey::new(2, vec![9u8; 32]),
    );
    let alice = SframeTransform::new(&alice_key).expect("alice");
    let bob = SframeTransform::new(&bob_key).expect("bob");
    bob.add_member_key(&alice_key).expect("key");

    println!("SFrame per frame ({iterations} frames each, one core):");
    println!(
        "{:<12} {:>8} {:>12} {:>12} {:>12} {:>10}",
        "frame", "bytes", "identity", "encrypt", "decrypt", "enc/ident"
    );
    for (name, kind, size) in FRAMES {
        let frame = vec![0x5au8; size];
        let identity = per_op(iterations, || {
            black_box(
                IdentityTransform
                    .outgoing(kind, black_box(frame.clone()))
                    .ok(),
            );
        });
        let encrypt = per_op(iterations, || {
            black_box(alice.outgoing(kind, black_box(frame.clone())).ok());
        });
        // Fresh ciphertexts, so the replay window takes each one.
        let wires: Vec<_> = (0..iterations + iterations / 10)
            .map(|_| alice.outgoing(kind, frame.clone()).expect("encrypt"))
            .collect();
        let mut wires = wires.into_iter();
        let decrypt = per_op(iterations, || {
            let wire = wires.next().expect("enough frames");
            assert!(bob.incoming(kind, wire).is_ok(), "decrypt failed");
        });
        println!(
            "{name:<12} {size:>8} {:>10.2?} {:>10.2?} {:>10.2?} {:>9.1}x",
            identity,
            encrypt,
            decrypt,
            encrypt.as_secs_f64() / identity.as_secs_f64().max(1e-9)
        );
    }

    let rounds = if quick { 50 } else { 500 };
    let binding = CallBinding {
        call_id: "bench-call",
        caller: [1; 32],
        callee: [2; 32],
    };
    let mut generate = Duration::ZERO;
    let mut encapsulate = Duration::ZERO;
    let mut finish = Duration::ZERO;
    for _ in 0..rounds {
        let t = Instant::now();
        let offer = PqOffer::generate().expect("offer");
        generate += t.elapsed();
        let t = Instant::now();
        let (answer, callee) = respond(offer.share(), &binding).expect("respond");
        encapsulate += t.elapsed();
        let t = Instant::now();
        let caller = offer.finish(&answer, &binding).expect("finish");
        finish += t.elapsed();
        assert_eq!(caller.fingerprint(), callee.fingerprint());
    }
    println!("\nPost-quantum 1:1 key agreement (X-Wing = X25519 + ML-KEM-768), {rounds} rounds:");
    println!("  caller key pair      {:>10.2?}", generate / rounds);
    println!("  callee encapsulate   {:>10.2?}", encapsulate / rounds);
    println!("  caller decapsulate   {:>10.2?}", finish / rounds);
    println!("  offer share 1216 bytes, answer share 1120 bytes (before base64)");
}
