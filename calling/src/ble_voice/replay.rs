//! The receiver's replay window over the sender's 64-bit packet counter.
//!
//! A packet carries only the counter's low 16 bits (`seq`); the receiver takes the full
//! counter to be the one nearest the highest it has authenticated (as SRTP does with its
//! rollover counter). A wrong guess only fails authentication, since the counter is the
//! nonce. Once a packet has authenticated, its counter is marked: the same counter again
//! is a replay, and a counter more than [`WINDOW`] behind the highest is refused outright
//! (its turn in the playout buffer is long past anyway).
//!
//! [`ReplayWindow::check`] runs before decryption, [`ReplayWindow::accept`] only after
//! the tag has verified, so forged packets never move the window.

use super::packet::Dropped;

/// Counters remembered behind the highest: 128 packets, 5.1 s of 40 ms frames, far longer
/// than any packet stays useful to the playout buffer.
pub const WINDOW: u64 = 128;

/// Seen counters within [`WINDOW`] of the highest authenticated one.
#[derive(Debug, Clone, Default)]
pub struct ReplayWindow {
    /// Highest authenticated counter, `None` before the first.
    highest: Option<u64>,
    /// Bit `i` set: counter `highest - i` was accepted.
    seen: u128,
}

impl ReplayWindow {
    /// The full counter a packet with `seq` most likely carries: within 32768 of the
    /// highest authenticated one (the first packets count from zero).
    pub fn estimate(&self, seq: u16) -> Result<u64, Dropped> {
        let Some(highest) = self.highest else {
            return Ok(u64::from(seq));
        };
        let delta = i64::from(seq.wrapping_sub(highest as u16) as i16);
        highest.checked_add_signed(delta).ok_or(Dropped::TooOld)
    }

    /// Whether `counter` may still be accepted: not seen, and not behind the window.
    pub fn check(&self, counter: u64) -> Result<(), Dropped> {
        let Some(highest) = self.highest else {
            return Ok(());
        };
        if counter > highest {
            return Ok(());
        }
        let behind = highest - counter;
        if behind >= WINDOW {
            return Err(Dropped::TooOld);
        }
        if self.seen & (1u128 << behind) != 0 {
            return Err(Dropped::Replayed);
        }
        Ok(())
    }

    /// Marks an authenticated `counter` (after [`ReplayWindow::check`] passed).
    pub fn accept(&mut self, counter: u64) {
        match self.highest {
            None => {
                self.highest = Some(counter);
                self.seen = 1;
            }
            Some(highest) if counter > highest => {
                let ahead = counter - highest;
                self.seen = if ahead >= WINDOW {
                    0
                } else {
                    self.seen << ahead
                };
                self.seen |= 1;
                self.highest = Some(counter);
            }
            Some(highest) => {
                let behind = highest - counter;
                if behind < WINDOW {
                    self.seen |= 1u128 << behind;
                }
            }
        }
    }

    /// The highest authenticated counter.
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(window: &mut ReplayWindow, counter: u64) -> Result<(), Dropped> {
        window.check(counter)?;
        window.accept(counter);
        Ok(())
    }

    #[test]
    fn replays_and_stale_counters_are_refused_reordering_is_not() {
        let mut w = ReplayWindow::default();
        assert_eq!(accepted(&mut w, 5), Ok(()));
        assert_eq!(accepted(&mut w, 5), Err(Dropped::Replayed));
        assert_eq!(accepted(&mut w, 3), Ok(()), "late but new");
        assert_eq!(accepted(&mut w, 3), Err(Dropped::Replayed));
        assert_eq!(accepted(&mut w, 200), Ok(()));
        assert_eq!(w.check(5), Err(Dropped::TooOld));
        assert_eq!(w.check(200 - WINDOW), Err(Dropped::TooOld));
        assert_eq!(
            accepted(&mut w, 200 - WINDOW + 1),
            Ok(()),
            "oldest in the window"
        );
        assert_eq!(accepted(&mut w, 199), Ok(()));
        assert_eq!(accepted(&mut w, 199), Err(Dropped::Replayed));
        assert_eq!(w.highest(), Some(200));
    }

    #[test]
    fn the_full_counter_is_the_nearest_to_the_highest() {
        let mut w = ReplayWindow::default();
        assert_eq!(w.estimate(7), Ok(7));
        w.accept(65_534);
        assert_eq!(w.estimate(65_535), Ok(65_535));
        assert_eq!(w.estimate(1), Ok(65_537), "across the wrap");
        assert_eq!(w.estimate(65_000), Ok(65_000), "a little behind");
        w.accept(3 * 65_536 + 10);
        assert_eq!(w.estimate(65_530), Ok(3 * 65_536 - 6));
        // Near zero, a seq "behind" would be a negative counter: never valid.
        let mut w = ReplayWindow::default();
        w.accept(2);
        assert_eq!(w.estimate(65_535), Err(Dropped::TooOld));
    }
}
