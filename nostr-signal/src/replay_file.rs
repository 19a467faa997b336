//! The verifier's seen rumor ids on disk, so a restart within the freshness window does not
//! accept again what the relays send again (they keep wraps, and the subscription looks
//! back). Encrypted to our own key (NIP-44) and written whole, atomically.

use std::path::{Path, PathBuf};

use nostr_sdk::nips::nip44;
use nostr_sdk::{EventId, Keys, Timestamp};

/// Most ids written; the verifier holds no more in one window under normal load.
const MAX_STORED_IDS: usize = 4096;

/// A file of recently accepted rumor ids with their `created_at`.
pub(crate) struct ReplayFile {
    path: PathBuf,
}

impl ReplayFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The ids stored, or none if the file is missing, unreadable or not ours (logged).
    pub fn load(&self, keys: &Keys) -> Vec<(EventId, Timestamp)> {
        let Ok(text) = std::fs::read_to_string(&self.path) else {
            return Vec::new();
        };
        let Ok(plain) = nip44::decrypt(keys.secret_key(), &keys.public_key(), text.trim()) else {
            tracing::warn!("replay file unreadable with this key; starting without it");
            return Vec::new();
        };
        plain
            .lines()
            .filter_map(|line| {
                let (id, at) = line.split_once(' ')?;
                Some((
                    EventId::from_hex(id).ok()?,
                    Timestamp::from(at.parse::<u64>().ok()?),
                ))
            })
            .collect()
    }

    /// Replaces the file with `ids` (the newest [`MAX_STORED_IDS`]).
    pub fn save(&self, keys: &Keys, ids: &mut Vec<(EventId, Timestamp)>) -> std::io::Result<()> {
        ids.sort_unstable_by_key(|(_, at)| std::cmp::Reverse(*at));
        ids.truncate(MAX_STORED_IDS);
        let plain: String = ids
            .iter()
            .map(|(id, at)| format!("{} {}\n", id.to_hex(), at.as_secs()))
            .collect();
        let sealed = nip44::encrypt(
            keys.secret_key(),
            &keys.public_key(),
            plain,
            nip44::Version::default(),
        )
        .map_err(std::io::Error::other)?;
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(dir)?;
        let mut file = tempfile::Builder::new()
            .prefix(".replay-")
            .tempfile_in(dir)?;
        std::io::Write::write_all(&mut file, sealed.as_bytes())?;
        file.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}
