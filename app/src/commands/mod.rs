//! One module per subcommand.

pub mod blackout;
pub mod demo;
pub mod keygen;
pub mod listen;
pub mod relay;
pub mod send_test;
pub mod turn_credentials;
pub mod whoami;
