//! The device's own radio, when this build has a driver for it.

use std::sync::Arc;

use crate::link::{BleError, BleLink};

/// Opens this device's Bluetooth LE radio in both roles: the BlueZ driver on Linux builds
/// with the `bluetooth` feature, otherwise a clear error.
pub async fn open_system_radio() -> Result<Arc<dyn BleLink>, BleError> {
    #[cfg(feature = "bluetooth")]
    {
        let radio = crate::bluez::BluezRadio::open().await?;
        Ok(Arc::new(radio))
    }
    #[cfg(not(feature = "bluetooth"))]
    {
        Err(BleError::NoAdapter(
            "this build of PhantomCall has no Bluetooth support (built without the `bluetooth` feature)"
                .into(),
        ))
    }
}
