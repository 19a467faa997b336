//! A dispatcher's client fetching a voicemail: the hotline sends a header and the
//! encrypted recording in chunks (control messages are at most 64 KiB, and a relay may
//! lose or reorder any of them). Only voicemails this client asked for are assembled;
//! every chunk is checked against the header; missing chunks are asked for again; the
//! whole fetch gives up after [`FETCH_TIMEOUT`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::voicemail_wire::{chunk_count, MAX_VOICEMAIL_CHUNKS, VOICEMAIL_CHUNK_BYTES};
use super::wire::{key_of, Control};

/// A fetch that is not whole after this has failed.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(40);
/// Missing parts are asked for again this often.
pub(super) const RETRY_EVERY: Duration = Duration::from_secs(6);
/// Most fetches assembling at once (each holds up to 1 MiB).
const MAX_FETCHES: usize = 4;

/// The checked header of a voicemail being fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Header {
    pub(super) ephemeral: [u8; 32],
    pub(super) sealed_key: String,
    pub(super) nonce: [u8; 12],
    pub(super) bytes: usize,
    pub(super) duration_ms: u32,
    pub(super) caller: String,
    pub(super) recorded_unix_secs: u64,
}

#[derive(Default)]
struct Assembly {
    /// The hotline said there is no such voicemail for us.
    unavailable: bool,
    header: Option<Header>,
    /// By index; checked against the header when it is there.
    chunks: HashMap<u32, Vec<u8>>,
}

/// The fetches in progress, shared by the client and its message loop.
#[derive(Clone, Default)]
pub(super) struct Fetches {
    inner: Arc<Mutex<HashMap<u64, Assembly>>>,
}

/// What a fetch is missing.
pub(super) enum Missing {
    /// Everything: the hotline has no such voicemail for us.
    Unavailable,
    /// The header (so: everything).
    Header,
    /// These chunks.
    Chunks(Vec<u32>),
}

impl Fetches {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Assembly>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts assembling `id`; `false` when too many fetches run.
    pub(super) fn begin(&self, id: u64) -> bool {
        let mut map = self.lock();
        if map.len() >= MAX_FETCHES && !map.contains_key(&id) {
            return false;
        }
        map.insert(id, Assembly::default());
        true
    }

    /// Stops assembling `id`.
    pub(super) fn end(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Takes a (parsed, checked) header or chunk; anything for a voicemail not being
    /// fetched is dropped.
    pub(super) fn take(&self, control: Control) {
        let mut map = self.lock();
        match control {
            Control::VoicemailHeader {
                id,
                ephemeral,
                sealed_key,
                nonce,
                bytes,
                duration_ms,
                caller,
                recorded_unix_secs,
            } => {
                let Some(assembly) = map.get_mut(&id) else {
                    return;
                };
                let (Ok(key), Ok(nonce)) = (
                    key_of(&ephemeral, "voicemail ephemeral key"),
                    hex::decode(&nonce).map(<[u8; 12]>::try_from),
                ) else {
                    return;
                };
                let Ok(nonce) = nonce else {
                    return;
                };
                assembly.header = Some(Header {
                    ephemeral: *key.as_bytes(),
                    sealed_key,
                    nonce,
                    bytes: bytes as usize,
                    duration_ms,
                    caller,
                    recorded_unix_secs,
                });
                assembly
                    .chunks
                    .retain(|&index, data| fits(bytes as usize, index, data));
            }
            Control::VoicemailUnavailable { id } => {
                if let Some(assembly) = map.get_mut(&id) {
                    assembly.unavailable = true;
                }
            }
            Control::VoicemailChunk { id, index, data } => {
                let Some(assembly) = map.get_mut(&id) else {
                    return;
                };
                let Ok(data) = hex::decode(&data) else {
                    return;
                };
                let ok = match &assembly.header {
                    Some(h) => fits(h.bytes, index, &data),
                    None => {
                        (index as usize) < MAX_VOICEMAIL_CHUNKS
                            && data.len() <= VOICEMAIL_CHUNK_BYTES
                    }
                };
                if ok {
                    assembly.chunks.insert(index, data);
                }
            }
            _ => {}
        }
    }

    /// The header and the whole recording of `id` once every chunk is there; else what
    /// is missing.
    pub(super) fn poll(&self, id: u64) -> Result<(Header, Vec<u8>), Missing> {
        let map = self.lock();
        let Some(assembly) = map.get(&id) else {
            return Err(Missing::Header);
        };
        if assembly.unavailable {
            return Err(Missing::Unavailable);
        }
        let Some(header) = &assembly.header else {
            return Err(Missing::Header);
        };
        let count = chunk_count(header.bytes) as u32;
        let missing: Vec<u32> = (0..count)
            .filter(|i| !assembly.chunks.contains_key(i))
            .collect();
        if !missing.is_empty() {
            return Err(Missing::Chunks(missing));
        }
        let mut audio = Vec::with_capacity(header.bytes);
        for index in 0..count {
            audio.extend_from_slice(&assembly.chunks[&index]);
        }
        Ok((header.clone(), audio))
    }
}

/// Whether chunk `index` of `data` belongs to a recording of `bytes` bytes: every chunk
/// but the last is whole, the last holds the rest.
fn fits(bytes: usize, index: u32, data: &[u8]) -> bool {
    let count = chunk_count(bytes);
    let index = index as usize;
    if index >= count {
        return false;
    }
    let expected = if index + 1 == count {
        bytes - (count - 1) * VOICEMAIL_CHUNK_BYTES
    } else {
        VOICEMAIL_CHUNK_BYTES
    };
    data.len() == expected
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "82341f882b6eabcd2ba7f1ef90aad961cf074af15b9ef44a09f9d2a8fbfbe6a2";

    fn header(id: u64, bytes: u32) -> Control {
        Control::VoicemailHeader {
            id,
            ephemeral: KEY.into(),
            sealed_key: "QUJD".into(),
            nonce: "00".repeat(12),
            bytes,
            duration_ms: 1000,
            caller: "c-00".into(),
            recorded_unix_secs: 1,
        }
    }

    fn chunk(id: u64, index: u32, data: &[u8]) -> Control {
        Control::VoicemailChunk {
            id,
            index,
            data: hex::encode(data),
        }
    }

    #[test]
    fn chunks_in_any_order_assemble_and_bad_ones_are_asked_for_again() {
        let fetches = Fetches::default();
        let audio: Vec<u8> = (0..VOICEMAIL_CHUNK_BYTES * 2 + 10)
            .map(|i| i as u8)
            .collect();
        let parts: Vec<&[u8]> = audio.chunks(VOICEMAIL_CHUNK_BYTES).collect();
        // Not asked for: dropped.
        fetches.take(header(9, audio.len() as u32));
        assert!(matches!(fetches.poll(9), Err(Missing::Header)));
        assert!(fetches.begin(7));
        // A chunk before the header, a short middle chunk, then the header.
        fetches.take(chunk(7, 2, parts[2]));
        fetches.take(chunk(7, 1, &parts[1][..10]));
        fetches.take(header(7, audio.len() as u32));
        fetches.take(chunk(7, 0, parts[0]));
        fetches.take(chunk(7, 5, parts[2]));
        match fetches.poll(7) {
            Err(Missing::Chunks(missing)) => assert_eq!(missing, vec![1]),
            _ => panic!("chunk 1 is missing"),
        }
        fetches.take(chunk(7, 1, parts[1]));
        let (h, whole) = fetches.poll(7).ok().unwrap();
        assert_eq!(whole, audio);
        assert_eq!(h.bytes, audio.len());
        fetches.end(7);
        assert!(matches!(fetches.poll(7), Err(Missing::Header)));
        // The hotline says there is none for us: the fetch ends.
        assert!(fetches.begin(8));
        fetches.take(Control::VoicemailUnavailable { id: 8 });
        assert!(matches!(fetches.poll(8), Err(Missing::Unavailable)));
    }

    #[test]
    fn fetches_at_once_are_bounded() {
        let fetches = Fetches::default();
        for id in 0..MAX_FETCHES as u64 {
            assert!(fetches.begin(id));
        }
        assert!(!fetches.begin(99));
    }
}
