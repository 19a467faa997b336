//! Identities: generate, import and export (NIP-19, NIP-49), and the encrypted key file.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use nostr_sdk::nips::nip19::{FromBech32, Nip19Profile, ToBech32};
use nostr_sdk::nips::nip49::{EncryptedSecretKey, KeySecurity};
use nostr_sdk::{Keys, PublicKey, SecretKey};

use crate::SignalError;

/// How hard the NIP-49 key derivation (scrypt) is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStrength {
    /// log_n = 16 (64 MiB, a fraction of a second): what NIP-49 recommends for keys at rest.
    Standard,
    /// log_n = 8: only for tests and benchmarks, where many keys are encrypted.
    Weak,
}

impl KeyStrength {
    fn log_n(self) -> u8 {
        match self {
            KeyStrength::Standard => 16,
            KeyStrength::Weak => 8,
        }
    }
}

/// A user's Nostr identity. Deliberately has no `Debug` that shows the secret.
#[derive(Clone)]
pub struct Identity {
    keys: Keys,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field(
                "public_key",
                &crate::logsafe::ShortKey(&self.keys.public_key()).to_string(),
            )
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// A fresh random identity.
    pub fn generate() -> Self {
        Self {
            keys: Keys::generate(),
        }
    }

    /// Import an `nsec1...` or a 64-character hex secret key.
    pub fn from_secret(text: &str) -> Result<Self, SignalError> {
        let secret = SecretKey::parse(text.trim()).map_err(|_| SignalError::InvalidSecretKey)?;
        Ok(Self {
            keys: Keys::new(secret),
        })
    }

    /// Import an `ncryptsec1...` (NIP-49) with its password.
    pub fn from_ncryptsec(text: &str, password: &str) -> Result<Self, SignalError> {
        let encrypted = EncryptedSecretKey::from_bech32(text.trim())
            .map_err(|_| SignalError::InvalidSecretKey)?;
        let secret = encrypted
            .decrypt(password)
            .map_err(|_| SignalError::WrongPassword)?;
        Ok(Self {
            keys: Keys::new(secret),
        })
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        self.keys.public_key()
    }

    /// A BIP-340 Schnorr signature over a 32-byte digest, to bind something else to this
    /// identity (an MLS credential's signature key). Never a Nostr event: callers hash a
    /// domain-separated message of their own into `digest`.
    pub fn sign_digest(&self, digest: [u8; 32]) -> [u8; 64] {
        let message = nostr_sdk::secp256k1::Message::from_digest(digest);
        *self.keys.sign_schnorr(&message).as_ref()
    }

    /// The public key as `npub1...`.
    pub fn npub(&self) -> String {
        encode_npub(&self.keys.public_key())
    }

    /// The secret key as `nsec1...`. Only for an explicit export the user asked for.
    pub fn export_nsec(&self) -> String {
        self.keys
            .secret_key()
            .to_bech32()
            .expect("bech32 encoding of a valid secret key cannot fail")
    }

    /// The secret key encrypted with `password` as `ncryptsec1...` (NIP-49).
    pub fn export_ncryptsec(
        &self,
        password: &str,
        strength: KeyStrength,
    ) -> Result<String, SignalError> {
        if password.is_empty() {
            return Err(SignalError::EmptyPassword);
        }
        let encrypted = EncryptedSecretKey::new(
            self.keys.secret_key(),
            password,
            strength.log_n(),
            // The key has been in this process's memory in the clear; we cannot claim more.
            KeySecurity::Unknown,
        )
        .map_err(|e| SignalError::Build(e.to_string()))?;
        Ok(encrypted
            .to_bech32()
            .expect("bech32 encoding of an encrypted key cannot fail"))
    }

    /// The underlying keys, for signing and decrypting inside this crate and its users.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }
}

/// Encode a public key as `npub1...`.
pub fn encode_npub(key: &PublicKey) -> String {
    key.to_bech32()
        .expect("bech32 encoding of a valid public key cannot fail")
}

/// Parse a contact's public key from `npub1...`, `nprofile1...`, `nostr:` URIs or hex.
pub fn parse_public_key(text: &str) -> Result<PublicKey, SignalError> {
    let text = text.trim();
    let text = text.strip_prefix("nostr:").unwrap_or(text);
    if text.starts_with("nprofile1") {
        return Nip19Profile::from_bech32(text)
            .map(|p| p.public_key)
            .map_err(|_| SignalError::InvalidPublicKey);
    }
    PublicKey::parse(text).map_err(|_| SignalError::InvalidPublicKey)
}

/// The identity on disk: a text file holding one NIP-49 `ncryptsec`, never an nsec.
pub struct KeyFile {
    path: PathBuf,
}

impl KeyFile {
    /// A key file at `path` (it need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where the file lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the ids of accepted call messages are kept across restarts (encrypted to the
    /// identity; see [`crate::NostrTransportConfig::replay_file`]): beside the key file,
    /// one per identity file.
    pub fn seen_ids_path(&self) -> PathBuf {
        self.path.with_extension("seen")
    }

    /// Whether a key has been saved there.
    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// Encrypt `identity` with `password` and write it, readable by the owner only.
    /// Written to a temporary file first and renamed, so a crash never leaves half a key.
    pub fn save(
        &self,
        identity: &Identity,
        password: &str,
        strength: KeyStrength,
    ) -> Result<(), SignalError> {
        let ncryptsec = identity.export_ncryptsec(password, strength)?;
        let io_err = |source| SignalError::KeyFile {
            path: self.path.display().to_string(),
            source,
        };
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        fs::create_dir_all(dir).map_err(io_err)?;
        // A random name, created exclusively with mode 0600: nobody can plant a file or a
        // link under a name we would write to.
        let mut file = tempfile::Builder::new()
            .prefix(".identity-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(io_err)?;
        file.write_all(ncryptsec.as_bytes()).map_err(io_err)?;
        file.write_all(b"\n").map_err(io_err)?;
        file.as_file().sync_all().map_err(io_err)?;
        file.persist(&self.path).map_err(|e| io_err(e.error))?;
        Ok(())
    }

    /// Read and decrypt the identity.
    pub fn load(&self, password: &str) -> Result<Identity, SignalError> {
        let text = fs::read_to_string(&self.path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                SignalError::NoIdentity {
                    path: self.path.display().to_string(),
                }
            } else {
                SignalError::KeyFile {
                    path: self.path.display().to_string(),
                    source,
                }
            }
        })?;
        Identity::from_ncryptsec(&text, password)
    }
}

/// Whether `signature` is `public_key`'s [`Identity::sign_digest`] of `digest`.
pub fn verify_digest(public_key: &PublicKey, digest: [u8; 32], signature: &[u8; 64]) -> bool {
    use nostr_sdk::secp256k1::{schnorr::Signature, Message, Secp256k1};
    let (Ok(xonly), Ok(signature)) = (public_key.xonly(), Signature::from_slice(signature)) else {
        return false;
    };
    Secp256k1::verification_only()
        .verify_schnorr(&signature, &Message::from_digest(digest), &xonly)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsec_and_npub_round_trip() {
        let id = Identity::generate();
        let back = Identity::from_secret(&id.export_nsec()).unwrap();
        assert_eq!(back.public_key(), id.public_key());
        assert!(id.npub().starts_with("npub1"));
        assert_eq!(parse_public_key(&id.npub()).unwrap(), id.public_key());
        assert_eq!(
            parse_public_key(&id.public_key().to_hex()).unwrap(),
            id.public_key()
        );
        let nprofile = Nip19Profile::new(id.public_key(), []).to_bech32().unwrap();
        assert_eq!(parse_public_key(&nprofile).unwrap(), id.public_key());
    }

    #[test]
    fn bad_keys_are_refused_with_a_clear_error() {
        assert!(matches!(
            parse_public_key("npub1notakey"),
            Err(SignalError::InvalidPublicKey)
        ));
        assert!(matches!(
            Identity::from_secret("nsec1garbage"),
            Err(SignalError::InvalidSecretKey)
        ));
    }

    #[test]
    fn ncryptsec_needs_the_right_password() {
        let id = Identity::generate();
        let enc = id
            .export_ncryptsec("correct horse", KeyStrength::Weak)
            .unwrap();
        assert!(enc.starts_with("ncryptsec1"));
        let back = Identity::from_ncryptsec(&enc, "correct horse").unwrap();
        assert_eq!(back.public_key(), id.public_key());
        assert!(matches!(
            Identity::from_ncryptsec(&enc, "wrong"),
            Err(SignalError::WrongPassword)
        ));
        assert!(matches!(
            id.export_ncryptsec("", KeyStrength::Weak),
            Err(SignalError::EmptyPassword)
        ));
    }

    #[test]
    fn key_file_never_contains_the_nsec_in_plain_text() {
        let dir = tempfile::tempdir().unwrap();
        let file = KeyFile::new(dir.path().join("sub/identity.ncryptsec"));
        let id = Identity::generate();
        file.save(&id, "pw", KeyStrength::Weak).unwrap();
        let on_disk = fs::read_to_string(file.path()).unwrap();
        assert!(on_disk.starts_with("ncryptsec1"));
        assert!(!on_disk.contains(&id.export_nsec()));
        assert!(!on_disk.contains(&id.keys().secret_key().to_secret_hex()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(file.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "key file must not be readable by others");
        }
        assert_eq!(file.load("pw").unwrap().public_key(), id.public_key());
        assert!(matches!(file.load("nope"), Err(SignalError::WrongPassword)));
        let missing = KeyFile::new(dir.path().join("none"));
        assert!(matches!(
            missing.load("pw"),
            Err(SignalError::NoIdentity { .. })
        ));
    }

    #[test]
    fn key_file_is_never_written_through_a_planted_temporary_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.ncryptsec");
        // The old fixed temporary name, planted by someone else as a link to a file of theirs.
        let victim = dir.path().join("victim");
        fs::write(&victim, "theirs").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&victim, path.with_extension("tmp")).unwrap();
        let file = KeyFile::new(&path);
        file.save(&Identity::generate(), "pw", KeyStrength::Weak)
            .unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "theirs");
        assert!(fs::read_to_string(&path).unwrap().starts_with("ncryptsec1"));
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".identity-"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }

    #[test]
    fn a_digest_signature_verifies_only_for_its_key_and_digest() {
        let alice = Identity::generate();
        let digest = [7u8; 32];
        let signature = alice.sign_digest(digest);
        assert!(verify_digest(&alice.public_key(), digest, &signature));
        assert!(!verify_digest(&alice.public_key(), [8u8; 32], &signature));
        assert!(!verify_digest(
            &Identity::generate().public_key(),
            digest,
            &signature
        ));
        assert!(!verify_digest(&alice.public_key(), digest, &[0u8; 64]));
    }
}
