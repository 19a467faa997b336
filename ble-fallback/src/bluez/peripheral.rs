//! Peripheral role: our GATT service (one characteristic; centrals write frames to it
//! without response and subscribe to its notifications for ours) and the advertisement.
//!
//! How BlueZ serves it (read in BlueZ's `src/gatt-database.c`):
//! - Writes come as `WriteValue` calls naming the writing device, one call per frame
//!   (bluer's `CharacteristicWriteMethod::Fun`). They are not `AcquireWrite` sockets:
//!   before BlueZ 5.69 one such socket was shared by every central, so a frame's sender
//!   was lost.
//! - Notifications go through `AcquireNotify` sockets (`CharacteristicNotifyMethod::Io`).
//!   From BlueZ 5.69 each subscribing central gets its own socket, with its address and
//!   ATT MTU, and what we write to it goes to that central only: that subscription is
//!   the [`crate::LinkEvent::Connected`] of the central. BlueZ 5.66-5.68 (Debian 12)
//!   opens one socket, for the first central only, and copies what we write to every
//!   subscribed central: one central per peripheral works there; a second one is not
//!   served (its writes are dropped) and overhears the first one's frames, which the
//!   mesh then drops or de-duplicates as it does any stray frame.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use bluer::adv::{Advertisement, Type};
use bluer::gatt::local::{
    characteristic_control, Application, ApplicationHandle, Characteristic, CharacteristicControl,
    CharacteristicControlEvent, CharacteristicNotify, CharacteristicNotifyMethod,
    CharacteristicWrite, CharacteristicWriteMethod, CharacteristicWriteRequest, ReqError, Service,
};
use bluer::gatt::CharacteristicWriter;
use futures_util::{FutureExt, StreamExt};
use tokio::task::JoinHandle;

use super::links::{Link, Role, Shared};
use super::wire::{frame_limit, FRAME_CHARACTERISTIC, SERVICE};
use crate::link::LinkEvent;

/// Registers our GATT service with BlueZ and starts serving subscriptions. Drop the
/// handle (and stop the task) to withdraw it.
pub(crate) async fn serve(
    shared: &Arc<Shared>,
) -> Result<(ApplicationHandle, JoinHandle<()>), bluer::Error> {
    let (control, control_handle) = characteristic_control();
    let writes = Arc::downgrade(shared);
    let on_write = move |value: Vec<u8>, request: CharacteristicWriteRequest| {
        // Frames are whole writes; a long-write offset is not ours (the flags allow only
        // write without response, so BlueZ refuses the rest itself).
        if let (Some(shared), 0) = (writes.upgrade(), request.offset) {
            shared.central_wrote(request.device_address, value);
        }
        async { Ok::<(), ReqError>(()) }.boxed()
    };
    let application = Application {
        services: vec![Service {
            uuid: SERVICE,
            primary: true,
            characteristics: vec![Characteristic {
                uuid: FRAME_CHARACTERISTIC,
                write: Some(CharacteristicWrite {
                    write_without_response: true,
                    method: CharacteristicWriteMethod::Fun(Box::new(on_write)),
                    ..Default::default()
                }),
                notify: Some(CharacteristicNotify {
                    notify: true,
                    method: CharacteristicNotifyMethod::Io,
                    ..Default::default()
                }),
                control_handle,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let handle = shared.adapter.serve_gatt_application(application).await?;
    let task = tokio::spawn(subscriptions(Arc::downgrade(shared), control));
    Ok((handle, task))
}

async fn subscriptions(shared: Weak<Shared>, mut control: CharacteristicControl) {
    while let Some(event) = control.next().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match event {
            CharacteristicControlEvent::Notify(writer) => subscribed(&shared, writer).await,
            // Only with CharacteristicWriteMethod::Io, which we do not use.
            CharacteristicControlEvent::Write(request) => request.reject(ReqError::NotSupported),
        }
    }
}

/// A central subscribed to our notifications: it is a neighbour from now on, until its
/// socket closes (it unsubscribed or the connection dropped).
async fn subscribed(shared: &Arc<Shared>, writer: CharacteristicWriter) {
    if shared.is_closed() {
        return;
    }
    let address = writer.device_address();
    let Some(max_frame) = frame_limit(writer.mtu()) else {
        // Dropping the writer ends the session; a central that cannot take our smallest
        // frame is of no use to the mesh.
        tracing::info!(
            mtu = writer.mtu(),
            "BLE central's MTU too small for the mesh"
        );
        return;
    };
    for stale in shared.remove_peripheral(address) {
        shared
            .emit(LinkEvent::Disconnected { neighbor: stale })
            .await;
    }
    let neighbor = shared.add(Link::new(address, Role::Peripheral, max_frame, writer));
    let Ok((writer, _)) = shared.writer(neighbor) else {
        return;
    };
    shared.announce(neighbor, None).await;
    let watched = Arc::downgrade(shared);
    let task = tokio::spawn(async move {
        // BlueZ writes nothing to a notification socket; it only closes it.
        let _ = writer.closed().await;
        drop(writer);
        if let Some(shared) = watched.upgrade() {
            shared.gone(neighbor).await;
        }
    });
    shared.set_task(neighbor, task);
}

/// What we advertise: our service's data holding the 8-byte rotating id, and nothing
/// else: no local name, no appearance, no TX power, no manufacturer data, no service
/// UUID list. With the flags BlueZ adds that is 29 bytes, so it fits a legacy (31-byte)
/// advertisement that every scanner hears; the UUID list as well would not fit (47
/// bytes) and would force extended advertising. Scanners find us by the service data's
/// UUID ([`super::central`]).
///
/// What BlueZ does not let an advertisement choose, and so this cannot guarantee:
/// - The address it goes out from. It is the adapter's: a resolvable private address,
///   renewed by the kernel every 15 minutes by default, only when `Privacy = device` (or
///   `network`) is set in `/etc/bluetooth/main.conf`; otherwise the public address, a
///   stable identifier, and nothing here can tell which is in force.
/// - When the address changes: not together with our rotating id, so for a moment a
///   listener may see a new id from the old address, or the old id from a new one.
/// - Scanning is active (BlueZ's discovery sends scan requests), from the same address.
pub(crate) fn advertisement(rotating_id: [u8; 8]) -> Advertisement {
    Advertisement {
        advertisement_type: Type::Peripheral,
        service_data: BTreeMap::from([(SERVICE, rotating_id.to_vec())]),
        // Set the discoverable flag ourselves: leaving it to the adapter would mean
        // making the adapter discoverable, which also shows its name over BR/EDR.
        discoverable: Some(true),
        local_name: None,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bluez::wire::{rotating_id_in, ROTATING_ID_LEN};

    /// The legacy advertising payload limit.
    const LEGACY_ADV_LEN: usize = 31;

    #[test]
    fn the_advertisement_carries_the_rotating_id_and_nothing_that_identifies_us() {
        let ad = advertisement([9; 8]);
        assert_eq!(ad.advertisement_type, Type::Peripheral);
        assert_eq!(ad.service_data.len(), 1);
        let data: std::collections::HashMap<_, _> = ad.service_data.clone().into_iter().collect();
        assert_eq!(rotating_id_in(&data), Some([9; 8]));
        assert!(ad.local_name.is_none());
        assert!(ad.manufacturer_data.is_empty());
        assert!(ad.service_uuids.is_empty());
        assert!(ad.solicit_uuids.is_empty());
        assert!(ad.advertising_data.is_empty());
        assert!(ad.system_includes.is_empty());
        assert!(ad.appearance.is_none());
        assert!(ad.tx_power.is_none());
        assert!(ad.secondary_channel.is_none(), "legacy advertising");
    }

    #[test]
    fn the_advertisement_fits_a_legacy_advertising_packet() {
        let flags = 3;
        let service_data = 2 + 16 + ROTATING_ID_LEN;
        assert!(flags + service_data <= LEGACY_ADV_LEN);
        let with_uuid_list = flags + service_data + 2 + 16;
        assert!(
            with_uuid_list > LEGACY_ADV_LEN,
            "why the UUID list is left out"
        );
    }
}
