//! What can be checked of the driver without a controller: that it is a [`BleLink`] the
//! mesh can run on, and that opening it where there is no Bluetooth fails cleanly.
//! The pure helpers are tested in [`super::wire`] and [`super::peripheral`].

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::{MeshConfig, MeshNode};

fn is_a_ble_link<T: BleLink>() {}

/// Compiled, never run here: the mesh starts on the real radio as on the simulated one.
async fn mesh_on_bluez() -> Result<MeshNode, BleError> {
    let radio: Arc<dyn BleLink> = Arc::new(BluezRadio::open().await?);
    Ok(MeshNode::spawn(radio, MeshConfig::default()))
}

#[test]
fn bluez_radio_is_a_ble_link_the_mesh_can_run_on() {
    is_a_ble_link::<BluezRadio>();
    let _: fn() -> _ = mesh_on_bluez;
}

#[tokio::test]
async fn open_without_a_controller_reports_no_adapter() {
    // `open` bounds itself; this bound only keeps a broken `open` from hanging the suite.
    let opened = tokio::time::timeout(OPEN_TIMEOUT + Duration::from_secs(5), BluezRadio::open())
        .await
        .expect("BluezRadio::open must not hang");
    match opened {
        Err(BleError::NoAdapter(why)) => {
            eprintln!("BluezRadio::open here: {why}");
            assert!(!why.is_empty());
        }
        Err(other) => panic!("expected NoAdapter, got {other}"),
        // A machine with a working controller and bluetoothd: nothing to check here.
        Ok(radio) => radio.shutdown().await,
    }
}
