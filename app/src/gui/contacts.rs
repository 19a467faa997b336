//! The contact list: who may ring, with each contact's default privacy mode and call-log
//! auto-delete. Kept encrypted at rest like the call log (who you talk to is metadata too).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};
use nostr_signal::{parse_public_key, Identity, PublicKey, RelayUrl};
use phantomcall_schemas::PrivacyMode;
use serde::{Deserialize, Serialize};

use super::nip05::{parse_contact_address, ContactAddress};
use super::vault::Vault;

/// Vault purpose label of the contact list.
const PURPOSE: &str = "contacts";
/// Longest contact name kept.
const MAX_NAME: usize = 64;

/// How long a contact's calls stay in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoDelete {
    /// Kept until cleared by hand.
    #[default]
    Never,
    /// One day.
    Day,
    /// One week.
    Week,
    /// 30 days.
    Month,
}

impl AutoDelete {
    /// Every choice, in menu order.
    pub const ALL: [AutoDelete; 4] = [
        AutoDelete::Never,
        AutoDelete::Day,
        AutoDelete::Week,
        AutoDelete::Month,
    ];

    /// Age past which entries go; `None`: never.
    pub fn max_age(self) -> Option<Duration> {
        let day = 86_400;
        match self {
            AutoDelete::Never => None,
            AutoDelete::Day => Some(Duration::from_secs(day)),
            AutoDelete::Week => Some(Duration::from_secs(7 * day)),
            AutoDelete::Month => Some(Duration::from_secs(30 * day)),
        }
    }

    /// Menu label.
    pub fn label(self) -> &'static str {
        match self {
            AutoDelete::Never => "keep calls",
            AutoDelete::Day => "delete after 1 day",
            AutoDelete::Week => "delete after 7 days",
            AutoDelete::Month => "delete after 30 days",
        }
    }
}

/// One contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The name the user gave.
    pub name: String,
    /// Public key, hex.
    pub key: String,
    /// Privacy mode of calls to this contact (the user can still change it per call).
    pub mode: PrivacyMode,
    /// Call-log auto-delete for this contact.
    #[serde(default)]
    pub auto_delete: AutoDelete,
    /// Relay hints from the nprofile or NIP-05 document the contact was added from.
    #[serde(default)]
    pub relays: Vec<String>,
    /// The NIP-05 name the contact was added by, if any.
    #[serde(default)]
    pub nip05: Option<String>,
}

impl Contact {
    /// The public key (checked when the contact was added, so this only fails on a
    /// hand-edited file).
    pub fn public_key(&self) -> Option<PublicKey> {
        parse_public_key(&self.key).ok()
    }
}

/// The contacts, in memory.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContactBook {
    /// Every contact, in the order added.
    pub contacts: Vec<Contact>,
}

impl ContactBook {
    /// The contact with this hex key.
    pub fn find_hex(&self, hex: &str) -> Option<&Contact> {
        self.contacts.iter().find(|c| c.key == hex)
    }

    /// The contact with this key.
    pub fn find(&self, key: &PublicKey) -> Option<&Contact> {
        self.find_hex(&key.to_hex())
    }

    /// A display name for `key`: the contact's, or a shortened npub.
    pub fn display_name(&self, key: &PublicKey) -> String {
        match self.find(key) {
            Some(c) => c.name.clone(),
            None => {
                let npub = nostr_signal::encode_npub(key);
                format!("{}…", &npub[..16.min(npub.len())])
            }
        }
    }

    /// Adds a contact from a key the user typed (npub, nprofile with its relay hints, or
    /// hex). A NIP-05 name is refused here: it needs a lookup first
    /// ([`super::nip05::Nip05Resolver`]), then [`ContactBook::add_key`].
    pub fn add(&mut self, name: &str, key_text: &str, mode: PrivacyMode) -> Result<PublicKey> {
        match parse_contact_address(key_text)? {
            ContactAddress::Key(key, relays) => self.add_key(name, key, &relays, None, mode),
            ContactAddress::Nip05(address) => {
                bail!("{address} is a NIP-05 name: it has to be looked up first")
            }
        }
    }

    /// Adds the contact `key` with its relay hints and the NIP-05 name it came from.
    pub fn add_key(
        &mut self,
        name: &str,
        key: PublicKey,
        relays: &[RelayUrl],
        nip05: Option<String>,
        mode: PrivacyMode,
    ) -> Result<PublicKey> {
        if self.find(&key).is_some() {
            bail!("this contact is already in your list");
        }
        let name: String = name.trim().chars().take(MAX_NAME).collect();
        let name = match (name.is_empty(), &nip05) {
            (false, _) => name,
            (true, Some(nip05)) => nip05.chars().take(MAX_NAME).collect(),
            (true, None) => self.display_name(&key),
        };
        self.contacts.push(Contact {
            name,
            key: key.to_hex(),
            mode,
            auto_delete: AutoDelete::Never,
            relays: relays.iter().map(|r| r.to_string()).collect(),
            nip05,
        });
        Ok(key)
    }
}

/// The contact list of one identity with its encrypted file.
pub struct ContactStore {
    path: PathBuf,
    vault: Vault,
}

impl ContactStore {
    /// The store at `path` for `identity`.
    pub fn new(path: &Path, identity: &Identity) -> ContactStore {
        ContactStore {
            path: path.to_owned(),
            vault: Vault::new(identity, PURPOSE),
        }
    }

    /// The saved contacts (none if the file does not exist).
    pub fn load(&self) -> Result<ContactBook> {
        Ok(match self.vault.load(&self.path)? {
            Some(bytes) => serde_json::from_slice(&bytes)?,
            None => ContactBook::default(),
        })
    }

    /// Saves `book`.
    pub fn save(&self, book: &ContactBook) -> Result<()> {
        self.vault.save(&self.path, &serde_json::to_vec(book)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_is_a_clear_error() {
        let mut book = ContactBook::default();
        let err = book.add("x", "npub1nope", PrivacyMode::Fast).unwrap_err();
        assert!(err.to_string().contains("not a valid npub"));
        assert!(book.add("x", "bob@example.com", PrivacyMode::Fast).is_err());
        let id = Identity::generate();
        book.add(" Bob ", &id.npub(), PrivacyMode::Fast).unwrap();
        assert_eq!(book.contacts[0].name, "Bob");
        assert!(book.add("again", &id.npub(), PrivacyMode::Fast).is_err());
    }

    #[test]
    fn nprofile_adds_the_key_with_its_relay_hints() {
        use nostr_sdk::nips::nip19::{Nip19Profile, ToBech32};
        let bob = Identity::generate();
        let relay = RelayUrl::parse("wss://bob.relay.example").unwrap();
        let nprofile = Nip19Profile::new(bob.public_key(), [relay.clone()])
            .to_bech32()
            .unwrap();
        let mut book = ContactBook::default();
        let key = book.add("Bob", &nprofile, PrivacyMode::Private).unwrap();
        assert_eq!(key, bob.public_key());
        assert_eq!(book.contacts[0].key, bob.public_key().to_hex());
        assert_eq!(book.contacts[0].relays, vec![relay.to_string()]);
        // The same person by npub is a duplicate.
        assert!(book.add("B", &bob.npub(), PrivacyMode::Fast).is_err());
    }

    #[test]
    fn saved_encrypted() {
        let dir = tempfile::tempdir().unwrap();
        let me = Identity::generate();
        let store = ContactStore::new(&dir.path().join("contacts"), &me);
        let mut book = ContactBook::default();
        book.add("Bob", &Identity::generate().npub(), PrivacyMode::Private)
            .unwrap();
        store.save(&book).unwrap();
        assert_eq!(store.load().unwrap().contacts, book.contacts);
        let raw = std::fs::read(dir.path().join("contacts")).unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("Bob"));
    }
}
