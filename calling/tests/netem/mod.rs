//! A network between two loopback peers that a test can cut or degrade: a UDP proxy (a
//! tiny symmetric NAT with a blackhole switch, random loss and delay with jitter, and a
//! bandwidth cap: a bottleneck link with a bounded drop-tail queue) and a signaling decorator that points every ICE candidate a side sends at a proxy port
//! instead of the real socket.
#![allow(dead_code)] // each test file uses a different part

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use nostr_signal::{IncomingMessages, PublicKey, SendReport, SignalError, SignalTransport};
use phantomcall_schemas::{CallBody, CallMessage, IceCandidate};
use tokio::net::UdpSocket;
use tokio::task::AbortHandle;

/// Largest datagram relayed (anything longer is truncated by the kernel and dropped).
const MAX_DATAGRAM: usize = 65_536;
/// After a receive error, the pause before the next receive (never a busy loop).
const RECV_ERROR_PAUSE: Duration = Duration::from_millis(5);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Random loss and delay applied to every datagram, both ways.
#[derive(Debug, Clone, Copy, Default)]
pub struct Impairment {
    /// Probability that a datagram is dropped (0..=1), each independently.
    pub loss: f64,
    /// Mean one-way delay added.
    pub delay: Duration,
    /// Each datagram's delay is `delay` plus or minus up to this (uniform), so datagrams
    /// overtake each other as on a real jittery path.
    pub jitter: Duration,
}

/// A bandwidth cap, per direction (per destination address), as a real bottleneck applies
/// it: datagrams leave one after another at `bits_per_second`, waiting in a first-in,
/// first-out queue; a datagram that would wait longer than `max_queue_delay` is dropped
/// (drop-tail), as a router's full buffer drops it.
#[derive(Debug, Clone, Copy)]
pub struct Bandwidth {
    /// Link rate, bits per second, counting each datagram's IPv4 and UDP headers.
    pub bits_per_second: u64,
    /// The longest a datagram may queue before it is sent (the buffer's size in time).
    pub max_queue_delay: Duration,
}

/// IPv4 and UDP headers: what a datagram costs on the wire beyond its payload.
const IP_UDP_OVERHEAD: usize = 28;

/// One direction of the bottleneck: when the link is next free to send.
struct Link {
    free_at: Instant,
}

impl Link {
    /// Queues a `len`-byte datagram arriving `now`: the delay until its last bit has left
    /// the link, or `None` when the queue is too long (dropped).
    fn enqueue(&mut self, cap: Bandwidth, now: Instant, len: usize) -> Option<Duration> {
        let start = self.free_at.max(now);
        if start - now > cap.max_queue_delay {
            return None;
        }
        let bits = ((len + IP_UDP_OVERHEAD) * 8) as f64;
        let sending = Duration::from_secs_f64(bits / cap.bits_per_second.max(1) as f64);
        self.free_at = start + sending;
        Some(self.free_at - now)
    }
}

#[derive(Default)]
struct Shared {
    blackhole: AtomicBool,
    impairment: Mutex<Impairment>,
    bandwidth: Mutex<Option<Bandwidth>>,
    /// The bottleneck's queue towards each destination.
    links: Mutex<HashMap<SocketAddr, Link>>,
    forwarded: AtomicU64,
    dropped: AtomicU64,
    /// Datagrams dropped because the bottleneck's queue was full (also in `dropped`).
    overflowed: AtomicU64,
    /// Real candidate address -> the proxy port that fronts it.
    fronts: Mutex<HashMap<SocketAddr, SocketAddr>>,
    /// Every task of the proxy, aborted when it is dropped (`None` once it is).
    tasks: Mutex<Option<Vec<AbortHandle>>>,
}

impl Shared {
    fn track(&self, handle: AbortHandle) {
        match lock(&self.tasks).as_mut() {
            Some(tasks) => {
                tasks.retain(|t| !t.is_finished());
                tasks.push(handle);
            }
            // Spawned by a task while the proxy was being dropped.
            None => handle.abort(),
        }
    }

    /// Counts a `len`-byte datagram towards `to` and says whether it may pass, and after
    /// how long: random loss first, then the bottleneck's queue and sending time, then the
    /// path's delay and jitter.
    fn pass(&self, to: SocketAddr, len: usize) -> Option<Duration> {
        let impairment = *lock(&self.impairment);
        if self.blackhole.load(Ordering::Acquire) || fastrand::f64() < impairment.loss {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let queued = match *lock(&self.bandwidth) {
            Some(cap) => {
                let now = Instant::now();
                let mut links = lock(&self.links);
                let link = links.entry(to).or_insert(Link { free_at: now });
                match link.enqueue(cap, now, len) {
                    Some(delay) => delay,
                    None => {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                        self.overflowed.fetch_add(1, Ordering::Relaxed);
                        return None;
                    }
                }
            }
            None => Duration::ZERO,
        };
        self.forwarded.fetch_add(1, Ordering::Relaxed);
        let spread = impairment.jitter.as_secs_f64() * (2.0 * fastrand::f64() - 1.0);
        Some(queued + Duration::from_secs_f64((impairment.delay.as_secs_f64() + spread).max(0.0)))
    }
}

/// Sends `data` from `socket` to `to` now, or after `delay` without holding up the
/// datagrams behind it.
async fn send_after(socket: &Arc<UdpSocket>, data: &[u8], to: SocketAddr, delay: Duration) {
    if delay.is_zero() {
        let _ = socket.send_to(data, to).await;
        return;
    }
    let (socket, data) = (socket.clone(), data.to_vec());
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let _ = socket.send_to(&data, to).await;
    });
}

/// The UDP proxy. For each real address A it fronts, a listening socket P; for each source
/// S that sends to P, an outbound socket Q_S that talks to A, and whatever A sends back to
/// Q_S reaches S from P. While the blackhole is on, every datagram is dropped.
pub struct UdpProxy {
    shared: Arc<Shared>,
}

impl UdpProxy {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            shared: Arc::new(Shared {
                tasks: Mutex::new(Some(Vec::new())),
                ..Shared::default()
            }),
        })
    }

    /// Drop every datagram (`true`) or let them pass again.
    pub fn set_blackhole(&self, on: bool) {
        self.shared.blackhole.store(on, Ordering::Release);
    }

    /// Drops and delays datagrams from now on (`Impairment::default()`: none).
    pub fn set_impairment(&self, impairment: Impairment) {
        *lock(&self.shared.impairment) = impairment;
    }

    /// Caps each direction at `cap` from now on (`None`: no cap; what is queued still
    /// leaves at the old rate).
    pub fn set_bandwidth(&self, cap: Option<Bandwidth>) {
        *lock(&self.shared.bandwidth) = cap;
        lock(&self.shared.links).clear();
    }

    /// Datagrams the bandwidth cap's full queue dropped so far.
    pub fn overflowed(&self) -> u64 {
        self.shared.overflowed.load(Ordering::Relaxed)
    }

    /// Datagrams relayed so far (both directions).
    pub fn forwarded(&self) -> u64 {
        self.shared.forwarded.load(Ordering::Relaxed)
    }

    /// Datagrams dropped so far (blackhole and random loss).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// How many real addresses the proxy fronts.
    pub fn fronted(&self) -> usize {
        lock(&self.shared.fronts).len()
    }

    /// The proxy address that fronts `real`, opened on first use. Must run inside a tokio
    /// runtime. `None` when no socket could be opened.
    pub fn front(&self, real: SocketAddr) -> Option<SocketAddr> {
        let mut fronts = lock(&self.shared.fronts);
        if let Some(front) = fronts.get(&real) {
            return Some(*front);
        }
        let socket = bind_loopback().ok()?;
        let front = socket.local_addr().ok()?;
        let task = tokio::spawn(listen(self.shared.clone(), Arc::new(socket), real));
        self.shared.track(task.abort_handle());
        fronts.insert(real, front);
        Some(front)
    }
}

impl Drop for UdpProxy {
    fn drop(&mut self) {
        for task in lock(&self.shared.tasks).take().unwrap_or_default() {
            task.abort();
        }
    }
}

fn bind_loopback() -> std::io::Result<UdpSocket> {
    let socket = std::net::UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
}

/// The next datagram. Errors (ICMP reports and the like) leave the socket usable: they
/// are skipped after a short pause, never in a busy loop.
async fn recv(socket: &UdpSocket, buf: &mut [u8]) -> (usize, SocketAddr) {
    loop {
        match socket.recv_from(buf).await {
            Ok(r) => return r,
            Err(_) => tokio::time::sleep(RECV_ERROR_PAUSE).await,
        }
    }
}

/// Relays what reaches the front socket `front` (fronting `real`) towards `real`.
async fn listen(shared: Arc<Shared>, front: Arc<UdpSocket>, real: SocketAddr) {
    let mut outbound: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (len, source) = recv(&front, &mut buf).await;
        let q = match outbound.get(&source) {
            Some(q) => q.clone(),
            None => {
                let Ok(q) = bind_loopback().map(Arc::new) else {
                    continue;
                };
                let task = tokio::spawn(reply(
                    shared.clone(),
                    q.clone(),
                    front.clone(),
                    real,
                    source,
                ));
                shared.track(task.abort_handle());
                outbound.insert(source, q.clone());
                q
            }
        };
        if let Some(delay) = shared.pass(real, len) {
            send_after(&q, &buf[..len], real, delay).await;
        }
    }
}

/// Relays what `real` sends to the outbound socket `q` back to `source`, from `front`.
async fn reply(
    shared: Arc<Shared>,
    q: Arc<UdpSocket>,
    front: Arc<UdpSocket>,
    real: SocketAddr,
    source: SocketAddr,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (len, from) = recv(&q, &mut buf).await;
        // A symmetric NAT: only the address this mapping was opened for gets through.
        if from != real {
            continue;
        }
        if let Some(delay) = shared.pass(source, len) {
            send_after(&front, &buf[..len], source, delay).await;
        }
    }
}

/// Rewrites one `candidate:` line (with or without the `a=` prefix) so that its address
/// is the proxy's front for it. `None` when the line is not a UDP candidate with an IP
/// address (it would bypass the proxy).
pub fn rewrite_candidate(line: &str, proxy: &UdpProxy) -> Option<String> {
    let mut fields: Vec<String> = line.split(' ').map(str::to_owned).collect();
    if fields.len() < 8 || !fields[2].eq_ignore_ascii_case("udp") || fields[6] != "typ" {
        return None;
    }
    let ip: IpAddr = fields[4].parse().ok()?;
    let port: u16 = fields[5].parse().ok()?;
    let front = proxy.front(SocketAddr::new(ip, port))?;
    fields[4] = front.ip().to_string();
    fields[5] = front.port().to_string();
    Some(fields.join(" "))
}

/// Rewrites every `a=candidate` line of an SDP; lines that cannot be rewritten are removed.
pub fn rewrite_sdp(sdp: &str, proxy: &UdpProxy) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let ending = &line[body.len()..];
        if let Some(candidate) = body.strip_prefix("a=") {
            if candidate.starts_with("candidate:") {
                if let Some(rewritten) = rewrite_candidate(candidate, proxy) {
                    out.push_str("a=");
                    out.push_str(&rewritten);
                    out.push_str(ending);
                }
                continue;
            }
        }
        out.push_str(line);
    }
    out
}

/// Points every candidate of `message` at the proxy.
pub fn rewrite_message(message: &CallMessage, proxy: &UdpProxy) -> CallMessage {
    let mut message = message.clone();
    match &mut message.body {
        CallBody::IceCandidates(candidates) => {
            let mut kept: Vec<IceCandidate> = Vec::with_capacity(candidates.len());
            for c in candidates.iter() {
                if c.candidate.is_empty() {
                    kept.push(c.clone());
                } else if let Some(rewritten) = rewrite_candidate(&c.candidate, proxy) {
                    kept.push(IceCandidate {
                        candidate: rewritten,
                        ..c.clone()
                    });
                }
            }
            if kept.is_empty() {
                // An empty list does not validate: send an end-of-candidates marker.
                kept.push(IceCandidate {
                    candidate: String::new(),
                    ..candidates[0].clone()
                });
            }
            *candidates = kept;
        }
        CallBody::Offer { sdp, .. } | CallBody::Answer { sdp } | CallBody::Renegotiate { sdp } => {
            *sdp = rewrite_sdp(sdp, proxy);
        }
        _ => {}
    }
    message
}

/// A signaling transport whose outgoing candidates all point at the proxy.
pub struct ThroughProxy {
    inner: Arc<dyn SignalTransport>,
    proxy: Arc<UdpProxy>,
}

impl ThroughProxy {
    pub fn wrap(inner: Arc<dyn SignalTransport>, proxy: Arc<UdpProxy>) -> Arc<dyn SignalTransport> {
        Arc::new(Self { inner, proxy })
    }
}

#[async_trait]
impl SignalTransport for ThroughProxy {
    fn local_public_key(&self) -> PublicKey {
        self.inner.local_public_key()
    }

    async fn send(
        &self,
        peer: PublicKey,
        message: &CallMessage,
    ) -> Result<SendReport, SignalError> {
        let message = rewrite_message(message, &self.proxy);
        self.inner.send(peer, &message).await
    }

    fn incoming(&self) -> IncomingMessages {
        self.inner.incoming()
    }

    fn hides_network_address(&self) -> bool {
        self.inner.hides_network_address()
    }
}

#[tokio::test]
async fn candidates_in_messages_and_sdp_point_at_the_proxy() {
    let proxy = UdpProxy::new();
    let host = "candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host generation 0";
    let rewritten = rewrite_candidate(host, &proxy).expect("a UDP host candidate");
    let front = proxy.front("127.0.0.1:40000".parse().unwrap()).unwrap();
    assert_eq!(
        rewritten,
        format!(
            "candidate:1 1 udp 2130706431 127.0.0.1 {} typ host generation 0",
            front.port()
        )
    );
    assert_eq!(proxy.fronted(), 1, "one front per real address");
    // What would bypass the proxy is left out.
    assert_eq!(
        rewrite_candidate("candidate:1 1 tcp 1 127.0.0.1 9 typ host", &proxy),
        None
    );
    assert_eq!(
        rewrite_candidate("candidate:1 1 udp 1 abc.local 9 typ host", &proxy),
        None
    );
    assert_eq!(rewrite_candidate("candidate:garbage", &proxy), None);
    let sdp =
        format!("v=0\r\na={host}\r\na=candidate:2 1 tcp 1 127.0.0.1 9 typ host\r\na=mid:0\r\n");
    assert_eq!(
        rewrite_sdp(&sdp, &proxy),
        format!("v=0\r\na={rewritten}\r\na=mid:0\r\n")
    );
}

#[tokio::test]
async fn the_proxy_relays_both_ways_and_drops_everything_while_blackholed() {
    let real = bind_loopback().unwrap();
    let client = bind_loopback().unwrap();
    let proxy = UdpProxy::new();
    let front = proxy.front(real.local_addr().unwrap()).unwrap();
    let mut buf = [0u8; 64];
    let within = Duration::from_secs(2);

    client.send_to(b"ping", front).await.unwrap();
    let (n, q) = tokio::time::timeout(within, real.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"ping");
    assert_ne!(q, client.local_addr().unwrap(), "the source is translated");
    real.send_to(b"pong", q).await.unwrap();
    let (n, from) = tokio::time::timeout(within, client.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&buf[..n], from), (&b"pong"[..], front));
    assert_eq!(proxy.forwarded(), 2);

    proxy.set_blackhole(true);
    client.send_to(b"lost", front).await.unwrap();
    let quiet = Duration::from_millis(200);
    assert!(tokio::time::timeout(quiet, real.recv_from(&mut buf))
        .await
        .is_err());
    assert_eq!(proxy.dropped(), 1);
    proxy.set_blackhole(false);
    client.send_to(b"back", front).await.unwrap();
    let (n, _) = tokio::time::timeout(within, real.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"back");
}

#[tokio::test]
async fn the_bandwidth_cap_paces_datagrams_and_drops_what_overflows_its_queue() {
    let real = bind_loopback().unwrap();
    let client = bind_loopback().unwrap();
    let proxy = UdpProxy::new();
    let front = proxy.front(real.local_addr().unwrap()).unwrap();
    // 1000 bytes on the wire (972 + 28) take 10 ms at 800 kbit/s; the queue holds 100 ms.
    proxy.set_bandwidth(Some(Bandwidth {
        bits_per_second: 800_000,
        max_queue_delay: Duration::from_millis(100),
    }));
    let payload = [7u8; 972];
    let sent = std::time::Instant::now();
    for _ in 0..40 {
        client.send_to(&payload, front).await.unwrap();
    }
    let mut buf = vec![0u8; 2048];
    let mut received = 0;
    let mut last = sent;
    while let Ok(Ok(_)) =
        tokio::time::timeout(Duration::from_millis(500), real.recv_from(&mut buf)).await
    {
        received += 1;
        last = std::time::Instant::now();
    }
    // About 11 fit (the first at once, ten more within the 100 ms queue); the rest is
    // dropped, not delayed.
    assert!((9..=13).contains(&received), "{received} of 40 passed");
    assert_eq!(proxy.overflowed(), 40 - received);
    let spread = last - sent;
    assert!(
        spread >= Duration::from_millis(80),
        "paced at the rate, not at once: {spread:?}"
    );
    // Lifted: everything passes.
    proxy.set_bandwidth(None);
    for _ in 0..20 {
        client.send_to(&payload, front).await.unwrap();
    }
    let mut after = 0;
    while let Ok(Ok(_)) =
        tokio::time::timeout(Duration::from_millis(300), real.recv_from(&mut buf)).await
    {
        after += 1;
    }
    assert_eq!(after, 20);
}
