//! Pure helpers of the Linux driver: our UUIDs, the rotating id in service data, frame
//! bounds, radio addresses. Nothing here touches D-Bus, so all of it is tested on a
//! machine without Bluetooth.

use std::collections::HashMap;

use bluer::{Address, Uuid};

use crate::frag::MIN_FRAME;
use crate::frame::MAX_FRAME_LEN;
use crate::link::RadioAddress;

/// [`crate::link::SERVICE_UUID`] as a number (checked against the string in the tests).
pub(crate) const SERVICE: Uuid = Uuid::from_u128(0x544d16a0_c7f7_4cd1_b4ea_74a7efc67e86);
/// [`crate::link::FRAME_CHARACTERISTIC_UUID`] as a number.
pub(crate) const FRAME_CHARACTERISTIC: Uuid =
    Uuid::from_u128(0x544d16a0_c7f7_4cd1_b4ea_74a7efc67e87);

/// Bytes of the rotating id in our service data.
pub(crate) const ROTATING_ID_LEN: usize = 8;

/// The rotating id out of the service data bytes of our UUID: exactly 8 bytes, or nothing.
pub(crate) fn parse_rotating_id(data: &[u8]) -> Option<[u8; ROTATING_ID_LEN]> {
    data.try_into().ok()
}

/// The rotating id a device advertises, from all the service data BlueZ heard from it.
pub(crate) fn rotating_id_in(service_data: &HashMap<Uuid, Vec<u8>>) -> Option<[u8; 8]> {
    service_data
        .get(&SERVICE)
        .and_then(|data| parse_rotating_id(data))
}

/// The frame size a link may use, from the payload size the stack reports for it
/// (bluer's socket MTU: ATT MTU minus 5). Capped at [`MAX_FRAME_LEN`]; `None` when it is
/// below what the mesh needs ([`MIN_FRAME`]: the default ATT MTU of 23 is not enough),
/// and such a link is dropped.
pub(crate) fn frame_limit(stack_payload: usize) -> Option<usize> {
    (stack_payload >= MIN_FRAME).then(|| stack_payload.min(MAX_FRAME_LEN))
}

/// Whether bytes from the air may be handed to the mesh: not empty, at most
/// [`MAX_FRAME_LEN`]. Longer ones are dropped unread.
pub(crate) fn acceptable_from_air(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.len() <= MAX_FRAME_LEN
}

/// The BlueZ address behind a [`RadioAddress`] this driver handed out.
pub(crate) fn parse_address(address: &RadioAddress) -> Option<Address> {
    address.0.parse().ok()
}

/// The [`RadioAddress`] the mesh gets for a BlueZ address.
pub(crate) fn radio_address(address: Address) -> RadioAddress {
    RadioAddress(address.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::{FRAME_CHARACTERISTIC_UUID, SERVICE_UUID};

    #[test]
    fn the_uuid_constants_match_the_strings_the_link_defines() {
        assert_eq!(SERVICE, Uuid::parse_str(SERVICE_UUID).unwrap());
        assert_eq!(
            FRAME_CHARACTERISTIC,
            Uuid::parse_str(FRAME_CHARACTERISTIC_UUID).unwrap()
        );
        assert_ne!(SERVICE, FRAME_CHARACTERISTIC);
        assert!(Uuid::parse_str("544d16a0-c7f7-4cd1-b4ea").is_err());
    }

    #[test]
    fn a_rotating_id_is_exactly_eight_bytes_of_our_service_data() {
        assert_eq!(parse_rotating_id(&[7; 8]), Some([7; 8]));
        for len in [0, 1, 7, 9, 16, 31, 300] {
            assert_eq!(parse_rotating_id(&vec![1; len]), None, "length {len}");
        }
        let mut data = HashMap::new();
        assert_eq!(rotating_id_in(&data), None);
        data.insert(FRAME_CHARACTERISTIC, vec![1; 8]);
        assert_eq!(
            rotating_id_in(&data),
            None,
            "only our service's data counts"
        );
        data.insert(SERVICE, vec![2; 9]);
        assert_eq!(rotating_id_in(&data), None);
        data.insert(SERVICE, vec![3; 8]);
        assert_eq!(rotating_id_in(&data), Some([3; 8]));
    }

    #[test]
    fn frame_limits_follow_the_stack_within_the_mesh_bounds() {
        assert_eq!(frame_limit(0), None);
        assert_eq!(frame_limit(18), None, "ATT MTU 23 is too small");
        assert_eq!(frame_limit(MIN_FRAME - 1), None);
        assert_eq!(frame_limit(MIN_FRAME), Some(MIN_FRAME));
        assert_eq!(frame_limit(242), Some(242), "ATT MTU 247");
        assert_eq!(frame_limit(512), Some(512));
        assert_eq!(frame_limit(517), Some(MAX_FRAME_LEN));
        assert_eq!(frame_limit(usize::MAX), Some(MAX_FRAME_LEN));
    }

    #[test]
    fn bytes_from_the_air_are_bounded() {
        assert!(!acceptable_from_air(&[]));
        assert!(acceptable_from_air(&[1]));
        assert!(acceptable_from_air(&[0; MAX_FRAME_LEN]));
        assert!(!acceptable_from_air(&[0; MAX_FRAME_LEN + 1]));
    }

    #[test]
    fn radio_addresses_round_trip_and_garbage_is_refused() {
        let address: Address = "C0:FF:EE:00:11:22".parse().unwrap();
        let radio = radio_address(address);
        assert_eq!(radio.0, "C0:FF:EE:00:11:22");
        assert_eq!(parse_address(&radio), Some(address));
        for bad in [
            "",
            "node-a",
            "C0:FF:EE:00:11",
            "C0:FF:EE:00:11:22:33",
            "ZZ:FF:EE:00:11:22",
        ] {
            assert_eq!(parse_address(&RadioAddress(bad.into())), None, "{bad:?}");
        }
    }
}
