//! Encryption at rest for what the app keeps about the user's calls and contacts.
//!
//! The key is derived from the identity's secret key (HKDF-SHA256, a fixed salt and a
//! per-purpose label), so nothing extra has to be stored or remembered, and a copied file
//! is useless without the identity (which is itself only on disk as a NIP-49 ncryptsec).
//! Each file is sealed whole with ChaCha20-Poly1305 under a fresh random nonce.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use nostr_signal::Identity;
use sha2::Sha256;

/// File format version byte, so a later format can be told apart.
const VERSION: u8 = 1;
/// Salt of the key derivation: fixed, it only separates PhantomCall from other HKDF users.
const SALT: &[u8] = b"phantomcall/vault/v1";
/// ChaCha20-Poly1305 nonce length.
const NONCE_LEN: usize = 12;

/// A symmetric key for one purpose (call log, contacts), derived from the identity.
pub struct Vault {
    cipher: ChaCha20Poly1305,
}

impl Vault {
    /// The key of `purpose` (for example `"call-log"`) for `identity`.
    pub fn new(identity: &Identity, purpose: &str) -> Vault {
        let secret = identity.keys().secret_key().as_secret_bytes();
        let hkdf = Hkdf::<Sha256>::new(Some(SALT), secret);
        let mut key = [0u8; 32];
        hkdf.expand(purpose.as_bytes(), &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Vault {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    /// `plaintext` sealed: version byte, nonce, ciphertext with its tag.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(&nonce, plaintext)
            .expect("ChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The plaintext of what [`Vault::seal`] produced; an error if it was altered, is of
    /// another identity or purpose, or is not a vault file at all.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
            bail!("not a PhantomCall encrypted file (or an unknown version)");
        }
        let nonce = Nonce::from_slice(&sealed[1..1 + NONCE_LEN]);
        self.cipher
            .decrypt(nonce, &sealed[1 + NONCE_LEN..])
            .map_err(|_| anyhow::anyhow!("cannot decrypt: another identity's file, or damaged"))
    }

    /// Seals `plaintext` into `path`, readable by the owner only; written to a temporary
    /// file and renamed so a crash never leaves half a file.
    pub fn save(&self, path: &Path, plaintext: &[u8]) -> Result<()> {
        write_private(path, &self.seal(plaintext))
    }

    /// Opens `path`; `Ok(None)` when it does not exist yet.
    pub fn load(&self, path: &Path) -> Result<Option<Vec<u8>>> {
        match fs::read(path) {
            Ok(bytes) => self
                .open(&bytes)
                .map(Some)
                .with_context(|| format!("reading {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
}

/// Writes `bytes` to `path` with mode 0600, through a temporary file and a rename.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let id = Identity::generate();
        let vault = Vault::new(&id, "call-log");
        let sealed = vault.seal(b"hello");
        assert_eq!(vault.open(&sealed).unwrap(), b"hello");
        assert!(!sealed.windows(5).any(|w| w == b"hello"));
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(vault.open(&bad).is_err());
        // Another purpose or another identity cannot read it.
        assert!(Vault::new(&id, "contacts").open(&sealed).is_err());
        assert!(Vault::new(&Identity::generate(), "call-log")
            .open(&sealed)
            .is_err());
        assert!(vault.open(b"").is_err());
    }
}
