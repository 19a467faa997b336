//! What the network hands the end-to-end layer, as arbitrary bytes: an incoming media
//! frame for SFrame (`calling/src/e2ee/sframe.rs`), and a peer's post-quantum share as an
//! offer's encapsulation key or an answer's ciphertext (`calling/src/e2ee/pq.rs`), and an
//! MLS key package, welcome or commit (`calling/src/e2ee/mls.rs`). Never a panic; a frame
//! nobody encrypted under our member's key is never accepted; a refused MLS message leaves
//! the group's epoch as it was.
#![no_main]

use libfuzzer_sys::fuzz_target;

// Included by path at the top level (an inline module's path would go through a
// directory that does not exist), then placed where the modules' `crate::` paths look.
#[allow(dead_code)]
#[path = "../../calling/src/pipeline/transform.rs"]
mod transform;
#[allow(dead_code)]
#[path = "../../calling/src/e2ee/sframe.rs"]
mod sframe;
#[allow(dead_code)]
#[path = "../../calling/src/e2ee/pq.rs"]
mod pq;
#[allow(dead_code)]
#[path = "../../calling/src/e2ee/mls.rs"]
mod mls;

mod pipeline {
    pub(crate) use super::transform;
}

mod e2ee {
    pub(crate) use super::{mls, pq, sframe};
}

use e2ee::mls::GroupKeys;
use e2ee::pq::{respond, CallBinding, PqOffer};
use e2ee::sframe::{SframeKey, SframeTransform};
use pipeline::transform::{FrameKind, FrameTransform};

fuzz_target!(|data: &[u8]| {
    let ours = SframeKey::new(1, b"fuzz: our base key".to_vec());
    let theirs = SframeKey::new(2, b"fuzz: their base key".to_vec());
    let receiver = SframeTransform::new(&ours).expect("key");
    receiver.add_member_key(&theirs).expect("key");
    // Without the member's secret, no input can authenticate.
    assert!(receiver.incoming(FrameKind::Audio, data.to_vec()).is_err());

    let binding = CallBinding {
        call_id: "fuzz",
        caller: [1; 32],
        callee: [2; 32],
    };
    let _ = respond(data, &binding);
    if let Ok(offer) = PqOffer::generate() {
        let _ = offer.finish(data, &binding);
    }

    let identity = nostr_signal::Identity::generate();
    let mut stranger = GroupKeys::new(&identity).expect("keys");
    let _ = stranger.join(data);
    let mut host = GroupKeys::new(&identity).expect("keys");
    host.create(b"fuzz").expect("group");
    assert!(host.process_commit(data).is_err(), "no commit from outside the group");
    // The engine asks who a key package belongs to before adding it.
    let _ = host.key_package_owner(data);
    let _ = host.add(&[data.to_vec()]);
    assert!(host.epoch().is_some());
});
