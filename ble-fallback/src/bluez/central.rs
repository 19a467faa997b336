//! Central role: scan for our service, connect, find the frame characteristic, subscribe
//! to its notifications (their frames) and write ours without response.
//!
//! Scanning: BlueZ's own UUID filter matches only the advertised service UUID list, not
//! the UUID of service data (`is_filter_match` in BlueZ's `src/adapter.c`), and our
//! advertisement carries service data only (see [`super::peripheral::advertisement`]).
//! So discovery runs on LE without a UUID filter, and this module keeps only devices
//! whose service data is keyed by our service UUID, with exactly 8 bytes.
//!
//! Connections use BlueZ's `AcquireNotify` / `AcquireWrite` on the remote
//! characteristic: one socket each way, one datagram per frame, and the MTU the stack
//! negotiated (bluer reports ATT MTU minus 5; see [`super::wire::frame_limit`]).

use std::sync::{Arc, Weak};
use std::time::Duration;

use bluer::gatt::remote::Characteristic;
use bluer::gatt::CharacteristicReader;
use bluer::{AdapterEvent, Address, Device, DiscoveryFilter, DiscoveryTransport};
use futures_util::StreamExt;

use super::links::{Link, Role, Shared};
use super::wire::{frame_limit, radio_address, rotating_id_in, FRAME_CHARACTERISTIC, SERVICE};
use crate::link::{BleError, LinkEvent};

/// The longest a connection may take, service discovery and subscription included.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause before discovery is started again after it stopped (adapter reset, error).
const RESCAN_AFTER: Duration = Duration::from_secs(5);
/// The longest a `Disconnect` call to BlueZ is waited for.
pub(crate) const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Scans until the radio is shut down (or this task is stopped).
pub(crate) async fn scan(shared: Weak<Shared>) {
    loop {
        let Some(strong) = shared.upgrade() else {
            return;
        };
        if strong.is_closed() {
            return;
        }
        if let Err(error) = scan_once(&strong).await {
            tracing::warn!(%error, "BLE scan failed");
        }
        drop(strong);
        tokio::time::sleep(RESCAN_AFTER).await;
    }
}

async fn scan_once(shared: &Arc<Shared>) -> bluer::Result<()> {
    let adapter = &shared.adapter;
    adapter
        .set_discovery_filter(DiscoveryFilter {
            transport: DiscoveryTransport::Le,
            // Report service data every time it is heard, so a new rotating id is seen.
            duplicate_data: true,
            ..Default::default()
        })
        .await?;
    let events = adapter.discover_devices_with_changes().await?;
    let mut events = std::pin::pin!(events);
    while let Some(event) = events.next().await {
        if shared.is_closed() {
            break;
        }
        if let AdapterEvent::DeviceAdded(address) = event {
            heard(shared, address).await;
        }
    }
    Ok(())
}

/// A device was heard or changed: report it if it advertises our service.
async fn heard(shared: &Arc<Shared>, address: Address) {
    let Ok(device) = shared.adapter.device(address) else {
        return;
    };
    let Ok(Some(service_data)) = device.service_data().await else {
        return;
    };
    let Some(rotating_id) = rotating_id_in(&service_data) else {
        return;
    };
    // BlueZ also lists devices cached from earlier; only those heard now have an RSSI.
    if !matches!(device.rssi().await, Ok(Some(_))) {
        return;
    }
    if shared.heard(address, rotating_id) {
        tracing::debug!("BLE device advertising our service heard");
        shared
            .emit(LinkEvent::Discovered {
                address: radio_address(address),
                rotating_id,
            })
            .await;
    }
}

/// Connects to `address` in the background; success is reported as
/// [`LinkEvent::Connected`], failure only logged (the next advertisement heard from it
/// is another chance).
pub(crate) async fn establish(shared: Arc<Shared>, address: Address) {
    // A connection that was up before (the device connected to us) is not ours to end.
    let was_up = match shared.adapter.device(address) {
        Ok(device) => device.is_connected().await.unwrap_or(false),
        Err(_) => false,
    };
    let outcome = tokio::time::timeout(CONNECT_TIMEOUT, open_link(&shared, address)).await;
    let error = match outcome {
        Ok(Ok(_)) if shared.is_closed() => {
            BleError::ConnectFailed("the radio was shut down".into())
        }
        Ok(Ok((reader, link))) => {
            // Outside the timeout: once in the table, a link is announced and served.
            let neighbor = shared.add(link);
            shared.end_connect(address);
            shared.announce(neighbor, shared.heard_id(address)).await;
            let task = tokio::spawn(read_frames(Arc::downgrade(&shared), neighbor, reader));
            shared.set_task(neighbor, task);
            return;
        }
        Ok(Err(error)) => error,
        Err(_) => BleError::ConnectFailed(format!("no link within {CONNECT_TIMEOUT:?}")),
    };
    shared.end_connect(address);
    tracing::debug!(%error, "BLE connect failed");
    if !was_up {
        drop_acl(&shared, address).await;
    }
}

/// Connects, finds our characteristic, subscribes and acquires the write socket.
async fn open_link(
    shared: &Shared,
    address: Address,
) -> Result<(CharacteristicReader, Link), BleError> {
    let failed =
        |what: &str, error: bluer::Error| BleError::ConnectFailed(format!("{what}: {error}"));
    let device = shared
        .adapter
        .device(address)
        .map_err(|e| failed("unknown device", e))?;
    if !device.is_connected().await.unwrap_or(false) {
        device.connect().await.map_err(|e| failed("connect", e))?;
    }
    let characteristic = frame_characteristic(&device).await?;
    let reader = characteristic
        .notify_io()
        .await
        .map_err(|e| failed("subscribe", e))?;
    let writer = characteristic
        .write_io()
        .await
        .map_err(|e| failed("acquire write", e))?;
    let max_frame = frame_limit(writer.mtu()).ok_or_else(|| {
        BleError::ConnectFailed(format!("MTU leaves {} bytes, too few", writer.mtu()))
    })?;
    Ok((reader, Link::new(address, Role::Central, max_frame, writer)))
}

/// Our service's frame characteristic on a connected device, if it has one that takes
/// writes without response and notifies.
async fn frame_characteristic(device: &Device) -> Result<Characteristic, BleError> {
    let stack = |error: bluer::Error| BleError::ConnectFailed(format!("GATT discovery: {error}"));
    for service in device.services().await.map_err(stack)? {
        if service.uuid().await.map_err(stack)? != SERVICE {
            continue;
        }
        for characteristic in service.characteristics().await.map_err(stack)? {
            if characteristic.uuid().await.map_err(stack)? != FRAME_CHARACTERISTIC {
                continue;
            }
            let flags = characteristic.flags().await.map_err(stack)?;
            if flags.write_without_response && flags.notify {
                return Ok(characteristic);
            }
        }
    }
    Err(BleError::ConnectFailed(
        "device has no PhantomCall frame characteristic".into(),
    ))
}

/// Hands the mesh what the peripheral notifies, until the socket closes.
async fn read_frames(
    shared: Weak<Shared>,
    neighbor: crate::link::NeighborId,
    reader: CharacteristicReader,
) {
    let address = reader.device_address();
    // A datagram longer than the socket's MTU is cut by the kernel, and frames longer
    // than the mesh allows are dropped by `emit_frame`; an empty read is the socket's
    // end (BlueZ closes it when the device disconnects).
    while let Ok(frame) = reader.recv().await {
        if frame.is_empty() {
            break;
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.emit_frame(neighbor, frame);
    }
    drop(reader);
    if let Some(shared) = shared.upgrade() {
        shared.gone(neighbor).await;
        drop_acl(&shared, address).await;
    }
}

/// Ends the LE connection to `address` unless another of our links still uses it.
pub(crate) async fn drop_acl(shared: &Shared, address: Address) {
    if shared.has_link_to(address) {
        return;
    }
    if let Ok(device) = shared.adapter.device(address) {
        let _ = tokio::time::timeout(DISCONNECT_TIMEOUT, device.disconnect()).await;
    }
}
