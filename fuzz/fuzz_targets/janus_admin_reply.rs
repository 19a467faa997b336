//! Janus's Admin API replies as the conference service's metrics poller reads them
//! (`sfu-jitsi-bridge/src/janus/admin.rs`) on arbitrary input: never a panic, and a reply
//! that parses satisfies the bounds the poller relies on (bounded size and lists, non-zero
//! handle ids, a reply only for the transaction asked).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../sfu-jitsi-bridge/src/janus/admin.rs"]
mod admin;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The poller's transactions look like these; the seeds use `t1`.
    for transaction in ["t1", "m1"] {
        if let Ok(handles) = admin::parse_handles(text, transaction) {
            assert!(text.len() <= admin::MAX_ADMIN_REPLY_BYTES);
            assert!(handles.len() <= admin::MAX_HANDLES);
            assert!(!handles.contains(&0));
            assert!(text.contains(transaction));
        }
        if admin::parse_handle_info(text, transaction).is_ok() {
            assert!(text.len() <= admin::MAX_ADMIN_REPLY_BYTES);
            assert!(text.contains(transaction));
        }
    }
});
