//! One connection to a neighbour, in either role.

use std::sync::Arc;

use bluer::gatt::CharacteristicWriter;
use bluer::Address;
use tokio::task::JoinHandle;

/// Which side of the connection we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// We connected; we write, they notify.
    Central,
    /// They connected and subscribed; they write, we notify.
    Peripheral,
}

/// One connection to a neighbour.
pub(crate) struct Link {
    pub(crate) address: Address,
    pub(super) role: Role,
    pub(super) max_frame: usize,
    /// Our way to them: a write-without-response socket (central) or a notification
    /// socket (peripheral), both from BlueZ's Acquire* calls.
    pub(super) writer: Arc<CharacteristicWriter>,
    /// Reads their frames (central) or waits for them to leave (peripheral).
    pub(super) task: Option<JoinHandle<()>>,
    /// The mesh has been told of it ([`crate::LinkEvent::Connected`] is out).
    pub(super) ready: bool,
}

impl Link {
    pub(crate) fn new(
        address: Address,
        role: Role,
        max_frame: usize,
        writer: CharacteristicWriter,
    ) -> Self {
        Self {
            address,
            role,
            max_frame,
            writer: Arc::new(writer),
            task: None,
            ready: false,
        }
    }

    pub(crate) fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
