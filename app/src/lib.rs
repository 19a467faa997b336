//! The PhantomCall desktop app as a library, so the binary and the UI tests share it.
//! The command line's own modules stay in the binary (`main.rs`).

#![warn(missing_docs)]

pub mod gui;
