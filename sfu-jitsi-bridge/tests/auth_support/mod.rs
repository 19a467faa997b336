//! A wallet and an auth service over a fresh SQLite store, shared by the auth tests.

#![allow(dead_code)] // each test binary uses part of it

use std::sync::Arc;

use ed25519_dalek::{Signer as _, SigningKey};
use sfu_jitsi_bridge::auth::{AuthConfig, AuthService};
use sfu_jitsi_bridge::siws::ChainId;
use sfu_jitsi_bridge::store::SqliteStore;
use sfu_jitsi_bridge::token::SessionKeys;
use time::macros::datetime;
use time::OffsetDateTime;

pub const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

pub struct Wallet {
    pub key: SigningKey,
    pub address: String,
}

impl Wallet {
    pub fn new(seed: u8) -> Self {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let address = bs58::encode(key.verifying_key().to_bytes()).into_string();
        Self { key, address }
    }

    /// What a wallet does with the service's challenge: build the message, sign its bytes.
    pub fn sign_in(&self, service: &AuthService, now: OffsetDateTime) -> (String, Vec<u8>) {
        let input = service.challenge(now).unwrap();
        let text = input.to_message(&self.address).unwrap().build().unwrap();
        let signature = self.key.sign(text.as_bytes()).to_bytes().to_vec();
        (text, signature)
    }
}

pub fn service() -> (tempfile::TempDir, Arc<SqliteStore>, AuthService) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("s.db")).unwrap());
    let config = AuthConfig {
        domain: "meet.phantomcall.example".into(),
        uri: "https://meet.phantomcall.example/".into(),
        statement: Some("Sign in to PhantomCall conferences.".into()),
        chain_id: Some(ChainId::Mainnet),
    };
    let auth = AuthService::new(store.clone(), SessionKeys::generate(), config);
    (dir, store, auth)
}
