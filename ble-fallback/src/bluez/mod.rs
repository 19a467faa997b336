//! The Linux radio (feature `bluetooth`): BlueZ through its D-Bus API, central and
//! peripheral at once, as [`crate::sim`] models it.
//!
//! # Crates
//! Both roles use **bluer** 0.17 (`bluetoothd` feature), the BlueZ project's own Rust
//! binding; the central role does not use btleplug (latest 0.13.5, not 0.11) because:
//! - bluer is needed anyway for the peripheral role (btleplug has none), and on Linux
//!   btleplug is itself a D-Bus client of the same bluetoothd (through bluez-async):
//!   two D-Bus connections and two caches of the same devices, for nothing bluer lacks;
//! - bluer's central API reaches BlueZ's `AcquireWrite`/`AcquireNotify`: one socket
//!   each way per connection, one datagram per frame, and the negotiated MTU with it.
//!
//! # Roles
//! - Peripheral (`peripheral.rs`): our GATT service and characteristic
//!   ([`crate::link::SERVICE_UUID`], [`crate::link::FRAME_CHARACTERISTIC_UUID`]); a
//!   central's subscription to its notifications is a [`LinkEvent::Connected`]
//!   (neighbour id ours, rotating id unknown until its Announce frame), its writes are
//!   [`LinkEvent::Received`], our frames go to it as notifications. Needs BlueZ 5.69 or
//!   later to tell several centrals apart (5.66-5.68 serve one; see that file).
//! - Central (`central.rs`): scanning, [`LinkEvent::Discovered`] from the service data,
//!   and the connections we make. [`BleLink::connect`] returns at once; the connection
//!   (seconds, with service discovery) is made in the background and reported as
//!   [`LinkEvent::Connected`], a failure only logged.
//!
//! Both roles report through one bounded channel. Every frame from the air is bounded
//! (at most [`crate::frame::MAX_FRAME_LEN`] bytes, longer ones dropped unread), and a
//! link whose MTU cannot carry the mesh's smallest frame is not used. The frame size of
//! a link is what the stack negotiated: bluer's socket MTU (ATT MTU minus 5, bluer's
//! margin for a BlueZ quirk), capped at 512; under 34 bytes (the default ATT MTU of 23
//! leaves 18) the link is dropped.
//!
//! Nothing that talks to BlueZ can run on a machine without a controller: it is
//! compiled and type-checked there, and `docs/ble.md` says how to try it on two laptops.

mod central;
mod connection;
mod links;
mod peripheral;
mod tables;
mod wire;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bluer::adv::AdvertisementHandle;
use bluer::gatt::local::ApplicationHandle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::link::{Advertisement, BleError, BleLink, LinkEvent, NeighborId, RadioAddress};
use links::Shared;

/// The longest [`BluezRadio::open`] waits for bluetoothd.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a frame waits for room on a congested link before it is dropped (the
/// mesh resends): one slow neighbour must not hold up the others.
const SEND_WAIT: Duration = Duration::from_millis(250);

/// What runs for the roles, stopped at shutdown.
#[derive(Default)]
struct Running {
    application: Option<ApplicationHandle>,
    subscriptions: Option<JoinHandle<()>>,
    advertisement: Option<AdvertisementHandle>,
    scan: Option<JoinHandle<()>>,
}

/// The Bluetooth LE radio of a Linux machine, through BlueZ (`bluetoothd` 5.66 or later;
/// 5.69 or later for several centrals at once). See the module documentation.
///
/// # What goes on the air
/// The advertisement holds our service's data, the 8-byte rotating id, and nothing
/// else: no local name, no appearance, no TX power, no manufacturer data (29 bytes with
/// the flags BlueZ adds, a legacy advertisement every scanner hears).
///
/// What BlueZ does not let a program choose, and so this driver cannot guarantee:
/// - The address. BlueZ has no per-advertisement address setting: the adapter's own is
///   used for advertising, scanning and connections. It is a resolvable private
///   address, renewed by the kernel every 15 minutes by default, only when
///   `Privacy = device` (or `network`) is set in `/etc/bluetooth/main.conf`; otherwise
///   it is the public address, a stable identifier. Nothing over D-Bus tells which is
///   in force, so the driver cannot check it.
/// - That the address and the rotating id change together: they rotate on separate
///   clocks, so a listener may link an old id to a new address (or the reverse).
/// - Passive scanning: BlueZ's discovery scans actively, sending scan requests from
///   that same address.
/// - The rest of the GATT database: a central that connects can read BlueZ's own GAP
///   service next to ours, whose Device Name is the adapter's name (often the host's
///   name: give it a neutral one, `bluetoothctl system-alias ...`), and a PnP ID when
///   `DeviceID` is set in `main.conf`.
pub struct BluezRadio {
    shared: Arc<Shared>,
    events: tokio::sync::Mutex<mpsc::Receiver<LinkEvent>>,
    running: Mutex<Running>,
}

impl BluezRadio {
    /// Opens the default adapter (`hci0` if present) and publishes our GATT service.
    /// Advertising and scanning start with [`BleLink::advertise_and_scan`].
    ///
    /// Fails with [`BleError::NoAdapter`] when there is no system D-Bus, no bluetoothd,
    /// no controller, or the adapter is powered off; never waits more than
    /// [`OPEN_TIMEOUT`]. Must run inside a Tokio runtime.
    pub async fn open() -> Result<Self, BleError> {
        match tokio::time::timeout(OPEN_TIMEOUT, Self::open_default()).await {
            Ok(opened) => opened,
            Err(_) => Err(BleError::NoAdapter(format!(
                "bluetoothd did not answer within {OPEN_TIMEOUT:?}"
            ))),
        }
    }

    async fn open_default() -> Result<Self, BleError> {
        let session = bluer::Session::new().await.map_err(|error| {
            BleError::NoAdapter(format!(
                "cannot reach BlueZ on the system D-Bus ({error}); is bluetoothd running?"
            ))
        })?;
        let adapter = session.default_adapter().await.map_err(|error| {
            BleError::NoAdapter(match error.kind {
                bluer::ErrorKind::NotFound => {
                    "BlueZ reports no Bluetooth controller on this machine".to_owned()
                }
                _ => format!("cannot list Bluetooth adapters ({error}); is bluetoothd running?"),
            })
        })?;
        let powered = adapter.is_powered().await.map_err(|error| {
            BleError::NoAdapter(format!("adapter {} unusable: {error}", adapter.name()))
        })?;
        if !powered {
            return Err(BleError::NoAdapter(format!(
                "adapter {} is powered off (turn Bluetooth on)",
                adapter.name()
            )));
        }
        let (shared, events) = Shared::new(adapter);
        let (application, subscriptions) = peripheral::serve(&shared).await.map_err(|error| {
            BleError::Stack(format!("cannot publish our GATT service: {error}"))
        })?;
        Ok(Self {
            shared,
            events: tokio::sync::Mutex::new(events),
            running: Mutex::new(Running {
                application: Some(application),
                subscriptions: Some(subscriptions),
                ..Running::default()
            }),
        })
    }

    fn running(&self) -> std::sync::MutexGuard<'_, Running> {
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl BleLink for BluezRadio {
    /// Replaces our advertisement (see [`BluezRadio`] for what it holds and what BlueZ
    /// cannot promise about the address), and starts scanning if it is not running.
    async fn advertise_and_scan(&self, ad: Advertisement) -> Result<(), BleError> {
        if self.shared.is_closed() {
            return Err(BleError::Stack("the radio is shut down".into()));
        }
        // The old advertisement goes first, so one advertising slot is enough.
        drop(self.running().advertisement.take());
        let handle = self
            .shared
            .adapter
            .advertise(peripheral::advertisement(ad.rotating_id))
            .await
            .map_err(|error| BleError::Stack(format!("cannot advertise: {error}")))?;
        tracing::debug!("BLE advertising a new rotating id");
        let mut running = self.running();
        running.advertisement = Some(handle);
        if running.scan.as_ref().is_none_or(JoinHandle::is_finished) {
            let shared = Arc::downgrade(&self.shared);
            running.scan = Some(tokio::spawn(central::scan(shared)));
        }
        Ok(())
    }

    async fn connect(&self, address: &RadioAddress) -> Result<(), BleError> {
        let Some(address) = wire::parse_address(address) else {
            return Err(BleError::ConnectFailed(format!(
                "{:?} is not a Bluetooth address",
                address.0
            )));
        };
        if self.shared.is_closed() {
            return Err(BleError::ConnectFailed("the radio is shut down".into()));
        }
        // Already connected, or on the way: nothing to do (as in the simulated radio).
        if self.shared.begin_connect(address) {
            tokio::spawn(central::establish(self.shared.clone(), address));
        }
        Ok(())
    }

    async fn send(&self, to: NeighborId, frame: Vec<u8>) -> Result<(), BleError> {
        let (writer, max) = self.shared.writer(to)?;
        if frame.len() > max {
            return Err(BleError::FrameTooLong {
                len: frame.len(),
                max,
            });
        }
        if frame.is_empty() {
            return Ok(());
        }
        match tokio::time::timeout(SEND_WAIT, writer.send(&frame)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => {
                // The socket is gone with the connection.
                tracing::debug!(%error, "BLE link closed under a send");
                self.disconnect(to).await;
                Err(BleError::NotConnected(to))
            }
            Err(_) => Err(BleError::Stack(format!(
                "link to {to} congested, frame dropped"
            ))),
        }
    }

    async fn disconnect(&self, neighbor: NeighborId) {
        let Some(link) = self.shared.remove(neighbor) else {
            return;
        };
        let address = link.address;
        drop(link);
        central::drop_acl(&self.shared, address).await;
        tracing::debug!(neighbor = neighbor.0, "BLE link closed");
        self.shared.emit(LinkEvent::Disconnected { neighbor }).await;
    }

    async fn next_event(&self) -> Option<LinkEvent> {
        let mut closed = self.shared.closed();
        let mut events = self.events.lock().await;
        if *closed.borrow_and_update() {
            return None;
        }
        tokio::select! {
            event = events.recv() => event,
            _ = closed.wait_for(|closed| *closed) => None,
        }
    }

    async fn shutdown(&self) {
        self.shared.close();
        let running = std::mem::take(&mut *self.running());
        for task in [running.scan, running.subscriptions].into_iter().flatten() {
            task.abort();
        }
        // Dropping the handles unregisters the advertisement and the GATT service.
        drop(running.advertisement);
        drop(running.application);
        for link in self.shared.remove_all() {
            let address = link.address;
            drop(link);
            central::drop_acl(&self.shared, address).await;
        }
    }
}

impl Drop for BluezRadio {
    fn drop(&mut self) {
        self.shared.close();
        let running = std::mem::take(&mut *self.running());
        for task in [running.scan, running.subscriptions].into_iter().flatten() {
            task.abort();
        }
        self.shared.remove_all();
    }
}

#[cfg(test)]
mod tests;
