//! One module per subcommand.

pub mod blackout;
pub mod call;
pub mod demo;
pub mod gateway;
pub mod hotline;
pub mod keygen;
pub mod listen;
pub mod live;
pub mod relay;
pub mod send_test;
pub mod signaling_demo;
pub mod turn_credentials;
pub mod whoami;
