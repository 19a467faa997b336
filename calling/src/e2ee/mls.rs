//! [`GroupKeys`]: a group call's media keys from MLS (RFC 9420, `openmls` with the
//! RustCrypto provider, suite `MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519`), turned into
//! SFrame keys as RFC 9605 section 5.2 says: one base key per epoch from the MLS exporter
//! ("SFrame 1.0 Base Key"), a key id per sender made of its leaf index and the epoch.
//!
//! Every join and leave is a commit, so a new epoch and new keys: a member who left cannot
//! open a frame sent after, and a member who joined cannot open one sent before.
//!
//! Each member's MLS credential is bound to its Nostr key: the credential's identity is the
//! Nostr public key and a Schnorr signature by it over the MLS signature key, checked for
//! every key package we add and every member a welcome or commit brings in.

use std::fmt;

use nostr_signal::{verify_digest, Identity, PublicKey};
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use sframe::mls::{MlsKeyId, MlsKeyIdBitRange};
use sha2::{Digest, Sha256};

use super::sframe::{SframeKey, SFRAME_SUITE};

/// The MLS cipher suite (the mandatory one: X25519, AES-128-GCM, SHA-256, Ed25519).
const CIPHERSUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;
/// RFC 9605 section 5.2's exporter label.
const SFRAME_EXPORTER_LABEL: &str = "SFrame 1.0 Base Key";
/// Key id layout: 8 bits of epoch (frames of the previous epochs stay apart), 6 bits of
/// leaf index (64 leaves: a mesh of at most 8 never gets there).
const EPOCH_BITS: u8 = 8;
const INDEX_BITS: u8 = 6;
/// What the Schnorr signature in a credential signs, before the MLS signature key.
const BINDING_LABEL: &[u8] = b"PhantomCall MLS credential v1";

/// Why an MLS step failed. The message is dropped; the group stays as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MlsError {
    /// The bytes are not the MLS message expected here.
    #[error("not a valid MLS {0}")]
    Malformed(&'static str),
    /// A credential is not bound to the Nostr key it names.
    #[error("an MLS credential is not signed by the Nostr key it names")]
    UnboundCredential,
    /// There is no group (yet), or it is not in a state for this step.
    #[error("no MLS group for this step")]
    NoGroup,
    /// The MLS library refused the step.
    #[error("MLS refused: {0}")]
    Refused(String),
    /// The member is not in the group.
    #[error("not a member of the group")]
    NotMember,
    /// A welcome into another group than the call's.
    #[error("a welcome into another group")]
    WrongGroup,
}

fn refused(error: impl fmt::Display) -> MlsError {
    MlsError::Refused(error.to_string())
}

/// The SFrame keys of one epoch: ours, and every other member's by Nostr key.
#[derive(Debug, Clone)]
pub struct EpochKeys {
    /// The MLS epoch.
    pub epoch: u64,
    /// The key we send under.
    pub own: SframeKey,
    /// Each other member's key.
    pub members: Vec<(PublicKey, SframeKey)>,
}

/// One member's MLS state for a group call.
pub struct GroupKeys {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    credential: CredentialWithKey,
    group: Option<MlsGroup>,
}

impl fmt::Debug for GroupKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupKeys")
            .field("epoch", &self.group.as_ref().map(|g| g.epoch().as_u64()))
            .finish_non_exhaustive()
    }
}

fn binding_digest(signature_key: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(BINDING_LABEL)
        .chain_update(signature_key)
        .finalize()
        .into()
}

/// The Nostr key a credential is bound to, if its signature checks out.
fn bound_nostr_key(credential: &Credential, signature_key: &[u8]) -> Result<PublicKey, MlsError> {
    let basic =
        BasicCredential::try_from(credential.clone()).map_err(|_| MlsError::UnboundCredential)?;
    let identity = basic.identity();
    if identity.len() != 96 {
        return Err(MlsError::UnboundCredential);
    }
    let key = PublicKey::from_slice(&identity[..32]).map_err(|_| MlsError::UnboundCredential)?;
    let signature: [u8; 64] = identity[32..].try_into().expect("64 bytes");
    if verify_digest(&key, binding_digest(signature_key), &signature) {
        Ok(key)
    } else {
        Err(MlsError::UnboundCredential)
    }
}

impl GroupKeys {
    /// A fresh MLS signature key, bound to `identity`'s Nostr key.
    pub fn new(identity: &Identity) -> Result<Self, MlsError> {
        let provider = OpenMlsRustCrypto::default();
        let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).map_err(refused)?;
        signer.store(provider.storage()).map_err(refused)?;
        let mut bound = identity.public_key().to_bytes().to_vec();
        bound.extend_from_slice(&identity.sign_digest(binding_digest(signer.public())));
        let credential = CredentialWithKey {
            credential: BasicCredential::new(bound).into(),
            signature_key: signer.public().into(),
        };
        Ok(Self {
            provider,
            signer,
            credential,
            group: None,
        })
    }

    /// A key package for someone to add us with (TLS-encoded MLS message).
    pub fn key_package(&self) -> Result<Vec<u8>, MlsError> {
        let bundle = KeyPackage::builder()
            .build(
                CIPHERSUITE,
                &self.provider,
                &self.signer,
                self.credential.clone(),
            )
            .map_err(refused)?;
        MlsMessageOut::from(bundle.key_package().clone())
            .to_bytes()
            .map_err(refused)
    }

    /// Starts the group for call `group_id` with ourselves alone (epoch 0).
    pub fn create(&mut self, group_id: &[u8]) -> Result<(), MlsError> {
        let config = MlsGroupCreateConfig::builder()
            .ciphersuite(CIPHERSUITE)
            .use_ratchet_tree_extension(true)
            .build();
        let group = MlsGroup::new_with_group_id(
            &self.provider,
            &self.signer,
            &config,
            GroupId::from_slice(group_id),
            self.credential.clone(),
        )
        .map_err(refused)?;
        self.group = Some(group);
        Ok(())
    }

    fn group(&self) -> Result<&MlsGroup, MlsError> {
        self.group.as_ref().ok_or(MlsError::NoGroup)
    }

    /// A valid key package and the Nostr key its credential is bound to.
    fn bound_package(&self, bytes: &[u8]) -> Result<(KeyPackage, PublicKey), MlsError> {
        let message = MlsMessageIn::tls_deserialize_exact(bytes)
            .map_err(|_| MlsError::Malformed("key package"))?;
        let MlsMessageBodyIn::KeyPackage(package) = message.extract() else {
            return Err(MlsError::Malformed("key package"));
        };
        let package = package
            .validate(self.provider.crypto(), ProtocolVersion::Mls10)
            .map_err(|_| MlsError::Malformed("key package"))?;
        let leaf = package.leaf_node();
        let owner = bound_nostr_key(leaf.credential(), leaf.signature_key().as_slice())?;
        Ok((package, owner))
    }

    /// The Nostr key a key package's credential is bound to (who may hand it to us).
    pub fn key_package_owner(&self, key_package: &[u8]) -> Result<PublicKey, MlsError> {
        self.bound_package(key_package).map(|(_, owner)| owner)
    }

    /// Adds the people whose key packages these are: returns the commit (for the members)
    /// and the welcome (for the newcomers). Every credential must be bound to its Nostr
    /// key, or nobody is added.
    pub fn add(&mut self, key_packages: &[Vec<u8>]) -> Result<(Vec<u8>, Vec<u8>), MlsError> {
        let made = self.add_pending(key_packages)?;
        self.merge_pending()?;
        Ok(made)
    }

    /// [`GroupKeys::add`] without moving to the new epoch: the commit stays pending until
    /// [`GroupKeys::merge_pending`] (a delivery service accepted it) or
    /// [`GroupKeys::discard_pending`] (it accepted another member's commit instead).
    pub fn add_pending(
        &mut self,
        key_packages: &[Vec<u8>],
    ) -> Result<(Vec<u8>, Vec<u8>), MlsError> {
        let mut packages = Vec::with_capacity(key_packages.len());
        for bytes in key_packages {
            packages.push(self.bound_package(bytes)?.0);
        }
        let (provider, signer) = (&self.provider, &self.signer);
        let group = self.group.as_mut().ok_or(MlsError::NoGroup)?;
        let (commit, welcome, _) = group
            .add_members(provider, signer, &packages)
            .map_err(refused)?;
        Ok((
            commit.to_bytes().map_err(refused)?,
            welcome.to_bytes().map_err(refused)?,
        ))
    }

    /// Removes `member`: returns the commit for those who stay.
    pub fn remove(&mut self, member: &PublicKey) -> Result<Vec<u8>, MlsError> {
        let commit = self.remove_pending(std::slice::from_ref(member))?;
        self.merge_pending()?;
        Ok(commit)
    }

    /// Removes `members` in one commit, left pending (see [`GroupKeys::add_pending`]).
    pub fn remove_pending(&mut self, members: &[PublicKey]) -> Result<Vec<u8>, MlsError> {
        let mut indexes = Vec::with_capacity(members.len());
        for member in members {
            let index = self
                .group()?
                .members()
                .find(|m| bound_nostr_key(&m.credential, &m.signature_key).as_ref() == Ok(member))
                .map(|m| m.index)
                .ok_or(MlsError::NotMember)?;
            indexes.push(index);
        }
        let (provider, signer) = (&self.provider, &self.signer);
        let group = self.group.as_mut().ok_or(MlsError::NoGroup)?;
        let (commit, _, _) = group
            .remove_members(provider, signer, &indexes)
            .map_err(refused)?;
        commit.to_bytes().map_err(refused)
    }

    /// Moves to the epoch of our pending commit.
    pub fn merge_pending(&mut self) -> Result<(), MlsError> {
        let provider = &self.provider;
        let group = self.group.as_mut().ok_or(MlsError::NoGroup)?;
        group.merge_pending_commit(provider).map_err(refused)
    }

    /// Forgets our pending commit (another one was ordered first); the epoch stays.
    pub fn discard_pending(&mut self) {
        let provider = &self.provider;
        if let Some(group) = self.group.as_mut() {
            let _ = group.clear_pending_commit(provider.storage());
        }
    }

    /// Joins through a welcome. Every member's credential must be bound to its Nostr key.
    pub fn join(&mut self, welcome: &[u8]) -> Result<(), MlsError> {
        self.join_group(welcome, None)
    }

    /// Joins through a welcome into the group `group_id` only (a group call's id): a
    /// welcome into any other group is refused as [`MlsError::WrongGroup`].
    pub fn join_group(&mut self, welcome: &[u8], group_id: Option<&[u8]>) -> Result<(), MlsError> {
        let message = MlsMessageIn::tls_deserialize_exact(welcome)
            .map_err(|_| MlsError::Malformed("welcome"))?;
        let MlsMessageBodyIn::Welcome(welcome) = message.extract() else {
            return Err(MlsError::Malformed("welcome"));
        };
        let config = MlsGroupJoinConfig::builder()
            .use_ratchet_tree_extension(true)
            .build();
        let staged = StagedWelcome::new_from_welcome(&self.provider, &config, welcome, None)
            .map_err(refused)?;
        if group_id.is_some_and(|id| staged.group_context().group_id().as_slice() != id) {
            return Err(MlsError::WrongGroup);
        }
        for member in staged.members() {
            bound_nostr_key(&member.credential, &member.signature_key)?;
        }
        self.group = Some(staged.into_group(&self.provider).map_err(refused)?);
        Ok(())
    }

    /// Takes a member's commit (someone joined or left). New members' credentials must be
    /// bound to their Nostr keys, or the commit is refused and the epoch stays.
    pub fn process_commit(&mut self, commit: &[u8]) -> Result<(), MlsError> {
        let message = MlsMessageIn::tls_deserialize_exact(commit)
            .map_err(|_| MlsError::Malformed("commit"))?;
        let protocol = message
            .try_into_protocol_message()
            .map_err(|_| MlsError::Malformed("commit"))?;
        let provider = &self.provider;
        let group = self.group.as_mut().ok_or(MlsError::NoGroup)?;
        let processed = group.process_message(provider, protocol).map_err(refused)?;
        let ProcessedMessageContent::StagedCommitMessage(staged) = processed.into_content() else {
            return Err(MlsError::Malformed("commit"));
        };
        for add in staged.add_proposals() {
            let leaf = add.add_proposal().key_package().leaf_node();
            if bound_nostr_key(leaf.credential(), leaf.signature_key().as_slice()).is_err() {
                group.clear_pending_commit(provider.storage()).ok();
                return Err(MlsError::UnboundCredential);
            }
        }
        group
            .merge_staged_commit(provider, *staged)
            .map_err(refused)
    }

    /// The current epoch.
    pub fn epoch(&self) -> Option<u64> {
        self.group.as_ref().map(|g| g.epoch().as_u64())
    }

    /// Every member's Nostr key, ourselves included.
    pub fn members(&self) -> Result<Vec<PublicKey>, MlsError> {
        self.group()?
            .members()
            .map(|m| bound_nostr_key(&m.credential, &m.signature_key))
            .collect()
    }

    /// This epoch's SFrame keys: the exporter's base key, a key id per sender.
    pub fn epoch_keys(&self) -> Result<EpochKeys, MlsError> {
        let group = self.group()?;
        let epoch = group.epoch().as_u64();
        let base_key = group
            .export_secret(
                self.provider.crypto(),
                SFRAME_EXPORTER_LABEL,
                b"",
                SFRAME_SUITE.key_len(),
            )
            .map_err(refused)?;
        let bits = MlsKeyIdBitRange::new(EPOCH_BITS, INDEX_BITS);
        let key_for = |index: LeafNodeIndex| -> Result<SframeKey, MlsError> {
            let key_id =
                MlsKeyId::try_new(0u64, epoch, u64::from(index.u32()), bits).map_err(refused)?;
            Ok(SframeKey::new(u64::from(key_id), base_key.clone()))
        };
        let own_index = group.own_leaf_index();
        let mut members = Vec::new();
        for member in group.members().filter(|m| m.index != own_index) {
            let key = bound_nostr_key(&member.credential, &member.signature_key)?;
            members.push((key, key_for(member.index)?));
        }
        Ok(EpochKeys {
            epoch,
            own: key_for(own_index)?,
            members,
        })
    }
}

#[cfg(test)]
#[path = "mls_tests.rs"]
mod tests;
