//! webrtc-rs's tokio runtime with a bound on how long a peer connection's driver sleeps,
//! for connections that may be relayed by TURN.
//!
//! Why: webrtc-rs 0.21's driver hands the TURN relayer its queued packets before it asks
//! the connection for new ones (`poll_writes`, steps 1.b then 1.c), so a packet for the
//! relay waits in the relayer until the driver's next wake-up: during set-up the next ICE
//! keep-alive (500 ms here), for every DTLS flight, which made Private calls take about
//! 1.3 s to connect on loopback instead of about 0.1 s. Waking the driver at least every
//! [`RELAYED_MAX_SLEEP`] bounds that wait, with no change to webrtc-rs: its sans-IO core
//! treats an early wake-up as a timeout with nothing due. A wake-up costs a few
//! microseconds; audio alone already wakes the driver every 20 ms.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, Runtime,
    TokioRuntime,
};

/// The longest a relayed connection's driver sleeps: what a packet for the TURN relay can
/// wait at most before it is sent.
pub(crate) const RELAYED_MAX_SLEEP: Duration = Duration::from_millis(5);

/// [`TokioRuntime`], whose timers fire after at most `max_sleep`.
#[derive(Debug)]
pub(crate) struct PacedRuntime {
    inner: TokioRuntime,
    max_sleep: Duration,
}

impl PacedRuntime {
    /// The tokio runtime, with the driver's sleeps bounded by `max_sleep`.
    pub(crate) fn new(max_sleep: Duration) -> Self {
        Self {
            inner: TokioRuntime,
            max_sleep,
        }
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Runtime for PacedRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.inner.spawn(future)
    }

    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(reactor_pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        self.inner.wrap_udp_socket(socket)
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> BoxFuture<'a, io::Result<Arc<dyn AsyncTcpStream>>> {
        self.inner.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        self.inner.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.inner.sleep(duration.min(self.max_sleep))
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }

    fn yield_now(&self) -> BoxFuture<'static, ()> {
        self.inner.yield_now()
    }

    fn name(&self) -> &'static str {
        "tokio (paced)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sleeps_are_cut_to_the_bound_and_shorter_ones_kept() {
        let runtime = PacedRuntime::new(Duration::from_millis(200));
        let started = Instant::now();
        runtime.sleep(Duration::from_secs(30)).await;
        let long = started.elapsed();
        assert!(
            long >= Duration::from_millis(200) && long < Duration::from_secs(5),
            "a 30 s sleep ends after the 200 ms bound: {long:?}"
        );
        let started = Instant::now();
        runtime.sleep(Duration::from_millis(1)).await;
        let short = started.elapsed();
        assert!(short < Duration::from_millis(200), "{short:?}");
    }
}
