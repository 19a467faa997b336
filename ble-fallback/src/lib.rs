//! BLE fallback for PhantomCall signaling (placeholder; filled by the BLE issue).
//!
//! Will hold: a `BleLink` trait over Bluetooth LE (btleplug central, BlueZ peripheral) with a
//! simulated link for tests, fragmentation and reassembly of gift-wrapped events into GATT-sized
//! frames, and store-and-forward mesh relaying. It carries the same kind 1059 wraps as the Nostr
//! relays; `nostr-signal`'s single verifier checks everything that arrives over it.
//! It must never see plaintext call messages: it only moves opaque wraps.
//!
//! Main types: none yet.
