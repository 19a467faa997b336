//! Real SFrame (RFC 9605) for the Janus tests: each test participant encrypts its synthetic
//! payload with a key of its own (KID = its marker), so what a media server forwards is
//! SFrame ciphertext, and a receiver proves it got that ciphertext byte for byte by
//! decrypting it (AES-GCM authenticates every byte) without ever seeing the plaintext.

use ::sframe::frame::{EncryptedFrameView, MediaFrameView, PanickingSingleUseCounter};
use ::sframe::key::{DecryptionKey, EncryptionKey};
use ::sframe::CipherSuite;

const SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;

fn base_key(sender: u8) -> Vec<u8> {
    format!("phantomcall janus test key of participant {sender}").into_bytes()
}

/// `plain` encrypted by `sender` with frame counter `ctr`.
pub fn seal(sender: u8, ctr: u64, plain: &[u8]) -> Vec<u8> {
    let key = EncryptionKey::derive_from(SUITE, u64::from(sender), base_key(sender)).unwrap();
    let mut counter = PanickingSingleUseCounter::new(ctr);
    let frame = MediaFrameView::new(&mut counter, plain);
    let mut out = Vec::new();
    frame.encrypt_into(&key, &mut out).unwrap();
    out
}

/// The plaintext of an SFrame frame from any test participant, or `None` if it is not one
/// (or any byte of it changed on the way).
pub fn open(data: &[u8]) -> Option<Vec<u8>> {
    let frame = EncryptedFrameView::try_new(data).ok()?;
    let kid = frame.header().key_id();
    let sender = u8::try_from(kid).ok()?;
    let key = DecryptionKey::derive_from(SUITE, kid, base_key(sender)).ok()?;
    let mut out = Vec::new();
    let media = frame.decrypt_into(&key, &mut out).ok()?;
    Some(media.payload().to_vec())
}
