//! The user's Solana wallet, for signing in to conference services (Sign-In With Solana)
//! and nothing else: [`WalletSigner`] is what signs, [`SolanaKeypair`] the desktop signer
//! (a keypair the user imports), [`WalletFile`] keeps it sealed on disk, [`service`] talks
//! to a conference service's sign-in and room API.
//!
//! What it must never do: write the secret unencrypted, show or log it, send it anywhere, or
//! sign a sign-in message for a domain other than the service the user is signing in to.

pub mod secret;
pub mod service;
pub mod siws;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use ed25519_dalek::{Signer as _, SigningKey};
use nostr_signal::Identity;
use zeroize::Zeroizing;

use crate::gui::vault::Vault;

/// Signs Sign-In With Solana messages for one wallet address.
///
/// The desktop implementation is [`SolanaKeypair`]. A browser wallet such as Phantom would
/// implement it by handing the service's sign-in input to the wallet (wallet-standard's
/// `solana:signIn`, or Phantom's deep link `signMessage`) and returning its signature; that
/// round trip needs the wallet app, which this machine lacks (docs/decisions.md).
pub trait WalletSigner: Send + Sync {
    /// The wallet's address (its Ed25519 public key in base58).
    fn address(&self) -> String;
    /// An Ed25519 signature of `message`, exactly as given.
    fn sign_message(&self, message: &[u8]) -> Result<[u8; 64]>;
}

/// A Solana keypair held by the app (imported from the Solana CLI or a wallet's export).
pub struct SolanaKeypair {
    key: SigningKey,
}

impl SolanaKeypair {
    /// The keypair in `text`: a Solana CLI keypair file's content or a base58 secret.
    pub fn import(text: &str) -> Result<Self, secret::SecretError> {
        secret::parse_secret(text).map(|key| Self { key })
    }
}

impl WalletSigner for SolanaKeypair {
    fn address(&self) -> String {
        secret::address(&self.key)
    }

    fn sign_message(&self, message: &[u8]) -> Result<[u8; 64]> {
        Ok(self.key.sign(message).to_bytes())
    }
}

/// Where the imported keypair lives: sealed (ChaCha20-Poly1305) under a key derived from
/// the Nostr identity, like the contacts and the call log, so a copied file is useless
/// without the identity and its password.
pub struct WalletFile {
    path: PathBuf,
}

/// The vault purpose of the wallet file.
const PURPOSE: &str = "solana-wallet";

impl WalletFile {
    /// The wallet file that sits next to the identity's key file.
    pub fn beside(key_file: &Path) -> Self {
        Self {
            path: key_file.with_file_name("wallet.sealed"),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether a wallet was imported.
    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    /// Seals `keypair` to disk (replacing an earlier one only if `replace`).
    pub fn save(&self, identity: &Identity, keypair: &SolanaKeypair, replace: bool) -> Result<()> {
        if self.exists() && !replace {
            bail!(
                "a wallet is already imported ({}); pass --force to replace it",
                self.path.display()
            );
        }
        let seed = Zeroizing::new(keypair.key.to_bytes());
        Vault::new(identity, PURPOSE).save(&self.path, seed.as_slice())
    }

    /// The imported keypair.
    pub fn load(&self, identity: &Identity) -> Result<SolanaKeypair> {
        if !self.exists() {
            bail!(
                "no wallet imported: run `phantomcall wallet import` with your Solana keypair \
                 file (or paste its secret in the app's Conferences screen)"
            );
        }
        let sealed = Vault::new(identity, PURPOSE)
            .load(&self.path)?
            .context("the wallet file vanished while being read")?;
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            sealed
                .as_slice()
                .try_into()
                .context("the wallet file is damaged (wrong length)")?,
        );
        Ok(SolanaKeypair {
            key: SigningKey::from_bytes(&seed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wallet_file_is_sealed_and_opens_only_with_its_identity() {
        let dir = tempfile::tempdir().unwrap();
        let file = WalletFile::beside(&dir.path().join("identity.ncryptsec"));
        let identity = Identity::generate();
        let keypair = SolanaKeypair::import(
            &bs58::encode(SigningKey::from_bytes(&[5; 32]).to_keypair_bytes()).into_string(),
        )
        .unwrap();
        file.save(&identity, &keypair, false).unwrap();
        let on_disk = std::fs::read(file.path()).unwrap();
        let seed = [5u8; 32];
        assert!(
            !on_disk.windows(32).any(|w| w == seed),
            "the secret is not in clear"
        );
        assert_eq!(file.load(&identity).unwrap().address(), keypair.address());
        assert!(file.load(&Identity::generate()).is_err());
        assert!(
            file.save(&identity, &keypair, false).is_err(),
            "no silent replace"
        );
    }

    #[test]
    fn its_signatures_verify_under_its_address() {
        let keypair = SolanaKeypair {
            key: SigningKey::from_bytes(&[7; 32]),
        };
        let signature = keypair.sign_message(b"hello").unwrap();
        let public: [u8; 32] = bs58::decode(keypair.address())
            .into_vec()
            .unwrap()
            .try_into()
            .unwrap();
        let verifying = ed25519_dalek::VerifyingKey::from_bytes(&public).unwrap();
        verifying
            .verify_strict(b"hello", &ed25519_dalek::Signature::from_bytes(&signature))
            .unwrap();
    }
}
