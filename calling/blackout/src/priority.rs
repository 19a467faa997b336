//! Lowering a background thread's CPU priority.
//!
//! Linux keeps a nice value per thread, so a thread can make itself yield to the rest of
//! the process: the warm-up yields to the UI and running calls, the person detector to the
//! segmenter that must meet every frame's deadline. Elsewhere this does nothing.

/// Raises the calling thread's nice value by `nice` (0 leaves it alone). Best effort: it
/// returns whether the priority was lowered; a thread left at normal priority only
/// competes more for the CPU, it stays correct.
pub(crate) fn lower_this_thread(nice: u8) -> bool {
    if nice == 0 {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getpriority/setpriority take plain integers; `who` 0 is the calling
        // thread on Linux. errno is not consulted: a failed call only leaves the priority.
        let rc = unsafe {
            let now = libc::getpriority(libc::PRIO_PROCESS, 0);
            libc::setpriority(
                libc::PRIO_PROCESS,
                0,
                (now + libc::c_int::from(nice)).min(19),
            )
        };
        rc == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_lowers_only_its_own_priority() {
        // SAFETY: plain integer calls on the calling thread.
        let before = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let inside = std::thread::spawn(|| {
            let lowered = lower_this_thread(5);
            // SAFETY: as above.
            (lowered, unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) })
        })
        .join()
        .unwrap();
        let after = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        assert!(inside.0, "setpriority failed");
        assert_eq!(inside.1, (before + 5).min(19));
        assert_eq!(after, before, "the spawning thread kept its priority");
        assert!(!lower_this_thread(0));
    }
}
