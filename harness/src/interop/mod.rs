//! Interop with the real kernel: a Linux socket and the reference stack talk
//! over TUN inside a private namespace. Both directions move `bytes` octets at
//! once, checksummed at each end; one side closes first; both sides' final
//! states are checked against RFC 9293 (the closer ends in TIME-WAIT, the
//! other in CLOSED). Optional seeded drops at the TUN boundary exercise
//! retransmission for real.

pub mod tunpeer;

use crate::os::netns::{self, Handle, Private};
use crate::os::{netlink, tcp_states};
use reference_stack::{Domain, Errno, Fd, FourTuple, Instant, Profile, Stack, State};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use tunpeer::{App, TunAddrs, TunPeer, TunPeerError, TunStats};

const PORT: u16 = 8080;

/// Who closes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CloseOrder {
    /// The kernel's socket.
    #[value(name = "kernel")]
    KernelFirst,
    /// The reference stack.
    #[value(name = "stack")]
    StackFirst,
}

#[derive(Clone, Debug)]
pub struct InteropConfig {
    pub bytes: usize,
    pub close: CloseOrder,
    pub loss_ppm: u32,
    pub profile: Profile,
    pub seed: u64,
    pub ipv6: bool,
    /// Wall-clock limit for the whole run.
    pub limit: Duration,
}

impl Default for InteropConfig {
    fn default() -> Self {
        InteropConfig {
            bytes: 4 << 20,
            close: CloseOrder::KernelFirst,
            loss_ppm: 0,
            profile: Profile::rfc9293(),
            seed: 1,
            ipv6: false,
            limit: Duration::from_secs(300),
        }
    }
}

#[derive(Clone, Debug)]
pub struct InteropReport {
    pub bytes: usize,
    /// From connect() until both directions were complete, on the kernel side.
    pub transfer: Duration,
    pub checksum_sent: u64,
    pub checksum_at_kernel: u64,
    pub checksum_at_stack: u64,
    pub kernel_final: String,
    pub stack_final: State,
    pub tun: TunStats,
    pub stack_retransmits: u64,
    pub kernel_retransmits: u64,
}

impl InteropReport {
    pub fn ok(&self, close: CloseOrder) -> bool {
        let states = match close {
            CloseOrder::KernelFirst => self.kernel_final == "TIME-WAIT" && self.stack_final == State::Closed,
            CloseOrder::StackFirst => self.kernel_final == "CLOSED" && self.stack_final == State::TimeWait,
        };
        states && self.checksum_at_kernel == self.checksum_sent && self.checksum_at_stack == self.checksum_sent
    }

    pub fn throughput_mbit(&self) -> f64 {
        2.0 * self.bytes as f64 * 8.0 / self.transfer.as_secs_f64().max(1e-9) / 1e6
    }
}

pub fn payload(n: usize) -> Vec<u8> {
    (0..n as u64).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

pub fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// The reference stack's side: a server that sends and receives `bytes`.
struct Server {
    close: CloseOrder,
    payload: Vec<u8>,
    lfd: Option<Fd>,
    fd: Option<Fd>,
    tuple: Option<FourTuple>,
    sent: usize,
    received: Vec<u8>,
    eof: bool,
    closed: bool,
    final_state: State,
    kernel_done: Arc<AtomicBool>,
    listen_addr: SocketAddr,
}

impl App for Server {
    fn step(&mut self, stack: &mut Stack, now: Instant) -> Result<bool, String> {
        let err = |what: &str, e: Errno| format!("reference stack: {what}: {e}");
        if self.lfd.is_none() {
            let domain = if self.listen_addr.is_ipv6() { Domain::Inet6 } else { Domain::Inet };
            let lfd = stack.socket(now, domain).map_err(|e| err("socket", e))?;
            stack.bind(now, lfd, self.listen_addr).map_err(|e| err("bind", e))?;
            stack.listen(now, lfd, 4).map_err(|e| err("listen", e))?;
            self.lfd = Some(lfd);
        }
        if self.fd.is_none() {
            match stack.accept(now, self.lfd.expect("set above")) {
                Ok((fd, peer)) => {
                    self.fd = Some(fd);
                    self.tuple = Some(FourTuple { local: self.listen_addr, remote: peer });
                }
                Err(Errno::EAGAIN) => return Ok(false),
                Err(e) => return Err(err("accept", e)),
            }
        }
        let fd = self.fd.expect("accepted");
        if !self.closed {
            while self.sent < self.payload.len() {
                match stack.send(now, fd, &self.payload[self.sent..], false) {
                    Ok(n) => self.sent += n,
                    Err(Errno::EAGAIN) => break,
                    Err(e) => return Err(err("send", e)),
                }
            }
            while !self.eof {
                match stack.recv(now, fd, 1 << 20, false) {
                    Ok(d) if d.is_empty() => self.eof = true,
                    Ok(d) => self.received.extend(d),
                    Err(Errno::EAGAIN) => break,
                    Err(e) => return Err(err("recv", e)),
                }
            }
            let all = self.sent == self.payload.len() && self.received.len() == self.payload.len();
            let close_now = match self.close {
                CloseOrder::StackFirst => all,
                CloseOrder::KernelFirst => all && self.eof,
            };
            if close_now {
                stack.close(now, fd).map_err(|e| err("close", e))?;
                self.closed = true;
            }
        }
        self.final_state = self.tuple.and_then(|t| stack.connection(&t)).map_or(State::Closed, |s| s.state);
        let target = match self.close {
            CloseOrder::StackFirst => State::TimeWait,
            CloseOrder::KernelFirst => State::Closed,
        };
        Ok(self.closed && self.final_state == target && self.kernel_done.load(Ordering::SeqCst))
    }

    fn progress(&self) -> String {
        format!(
            "stack side: sent {} / {}, received {}, eof {}, closed {}, state {}, kernel done {}",
            self.sent,
            self.payload.len(),
            self.received.len(),
            self.eof,
            self.closed,
            self.final_state,
            self.kernel_done.load(Ordering::SeqCst)
        )
    }
}

struct KernelSide {
    transfer: Duration,
    checksum: u64,
    final_state: String,
    retransmits: u64,
}

fn kernel_side(ns: Handle, cfg: &InteropConfig, server: SocketAddr) -> Result<KernelSide, String> {
    let _ns = Private::enter(&ns).map_err(|e| e.to_string())?;
    let data = payload(cfg.bytes);
    let started = std::time::Instant::now();
    let mut s = TcpStream::connect_timeout(&server, Duration::from_secs(20))
        .map_err(|e| format!("kernel connect to {server}: {e}"))?;
    let local = s.local_addr().map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(cfg.limit)).map_err(|e| e.to_string())?;
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    let writer = std::thread::spawn(move || w.write_all(&data).map_err(|e| format!("kernel write: {e}")));
    let mut got = Vec::with_capacity(cfg.bytes);
    let mut buf = vec![0u8; 1 << 16];
    while got.len() < cfg.bytes {
        match s.read(&mut buf) {
            Ok(0) => return Err(format!("kernel read: EOF after {} of {} octets", got.len(), cfg.bytes)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("kernel read after {} octets: {e}", got.len())),
        }
    }
    writer.join().map_err(|_| "kernel writer panicked".to_string())??;
    let transfer = started.elapsed();
    // Close in the requested order: the kernel sends its FIN first, or waits
    // for the stack's. Either way the next read must be end of stream.
    if cfg.close == CloseOrder::KernelFirst {
        s.shutdown(std::net::Shutdown::Write).map_err(|e| e.to_string())?;
    }
    match s.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => return Err(format!("kernel read {n} unexpected octets after the transfer")),
        Err(e) => return Err(format!("kernel waiting for the stack's FIN: {e}")),
    }
    drop(s);
    // Watch the kernel's socket, fd or not, reach its final state.
    let want = match cfg.close {
        CloseOrder::KernelFirst => "TIME-WAIT",
        CloseOrder::StackFirst => "CLOSED",
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let final_state = loop {
        let state = netlink::tcp_socket_state(local, server)
            .map_err(|e| e.to_string())?
            .map_or(reference_stack::State::Closed, |d| tcp_states::from_linux(d.state))
            .to_string();
        if state == want || std::time::Instant::now() > deadline {
            break state;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let retransmits = netns::snmp_counter("Tcp", "RetransSegs").map_err(|e| e.to_string())?;
    Ok(KernelSide { transfer, checksum: fnv1a(&got), final_state, retransmits })
}

#[derive(Debug, thiserror::Error)]
pub enum InteropError {
    #[error("reference-stack side: {0}")]
    Peer(TunPeerError),
    #[error("kernel side: {0}")]
    Kernel(String),
}

/// Runs one interop scenario. Needs root (a private namespace and a TUN device).
pub fn run(cfg: &InteropConfig) -> Result<InteropReport, InteropError> {
    let addrs = TunAddrs::default();
    let server = if cfg.ipv6 {
        SocketAddr::new(IpAddr::V6(addrs.stack_v6), PORT)
    } else {
        SocketAddr::new(IpAddr::V4(addrs.stack_v4), PORT)
    };
    let kernel_done = Arc::new(AtomicBool::new(false));
    let (ns_tx, ns_rx) = mpsc::channel();
    let peer_cfg = cfg.clone();
    let peer_done = kernel_done.clone();
    let peer = std::thread::spawn(move || -> Result<(u64, State, TunStats, u64), TunPeerError> {
        // This thread, and only it, moves into the new namespace.
        let setup = Private::unshare().map_err(TunPeerError::from).and_then(|ns| {
            let tp = TunPeer::setup(&ns, addrs, peer_cfg.profile.clone(), peer_cfg.seed, peer_cfg.loss_ppm)?;
            Ok((tp, ns.handle().ok()))
        });
        let mut tp = match setup {
            Ok((tp, handle)) => {
                let _ = ns_tx.send(handle);
                tp
            }
            Err(e) => {
                let _ = ns_tx.send(None);
                return Err(e);
            }
        };
        let mut app = Server {
            close: peer_cfg.close,
            payload: payload(peer_cfg.bytes),
            lfd: None,
            fd: None,
            tuple: None,
            sent: 0,
            received: Vec::new(),
            eof: false,
            closed: false,
            final_state: State::Closed,
            kernel_done: peer_done,
            listen_addr: server,
        };
        tp.run(&mut app, peer_cfg.limit)?;
        Ok((fnv1a(&app.received), app.final_state, tp.stats, tp.stack.stats().retransmitted_segments))
    });
    let Ok(Some(ns)) = ns_rx.recv() else {
        return Err(InteropError::Peer(
            peer.join()
                .unwrap_or_else(|_| Err(TunPeerError::App("peer thread panicked".into())))
                .err()
                .unwrap_or(TunPeerError::App("no namespace".into())),
        ));
    };
    let kcfg = cfg.clone();
    let kernel = std::thread::spawn(move || kernel_side(ns, &kcfg, server));
    let k = kernel.join().unwrap_or_else(|_| Err("kernel thread panicked".into()));
    kernel_done.store(true, Ordering::SeqCst);
    let p = peer.join().unwrap_or_else(|_| Err(TunPeerError::App("peer thread panicked".into())));
    let k = k.map_err(InteropError::Kernel)?;
    let (checksum_at_stack, stack_final, tun, stack_retransmits) = p.map_err(InteropError::Peer)?;
    Ok(InteropReport {
        bytes: cfg.bytes,
        transfer: k.transfer,
        checksum_sent: fnv1a(&payload(cfg.bytes)),
        checksum_at_kernel: k.checksum,
        checksum_at_stack,
        kernel_final: k.final_state,
        stack_final,
        tun,
        stack_retransmits,
        kernel_retransmits: k.retransmits,
    })
}

/// Measures when the kernel (re)transmits a SYN to an address that never
/// answers: offsets from the first SYN, over `watch` of wall time. The
/// connecting socket lives in a private namespace and is closed afterwards.
pub fn kernel_syn_schedule(watch: Duration) -> Result<Vec<Duration>, InteropError> {
    let h = std::thread::spawn(move || -> Result<Vec<Duration>, TunPeerError> {
        let ns = Private::unshare()?;
        let addrs = TunAddrs::default();
        // An address routed into tun0 that the reference stack does not own.
        let silent = SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 99)), 9);
        let mut tp = TunPeer::setup(&ns, addrs, Profile::linux(), 1, 0)?;
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .map_err(|e| TunPeerError::Io("socket", e))?;
        sock.set_nonblocking(true).map_err(|e| TunPeerError::Io("O_NONBLOCK", e))?;
        match sock.connect(&silent.into()) {
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(TunPeerError::Io("connect", e)),
            Ok(()) => return Err(TunPeerError::App("connect to a silent address succeeded".into())),
        }
        let syns = tp.capture(watch, |p| p.tcp.flags.syn() && !p.tcp.flags.ack() && p.ip.dst == silent.ip())?;
        drop(sock);
        let first = syns.first().map(|x| x.0).unwrap_or_default();
        Ok(syns.into_iter().map(|(t, _)| t - first).collect())
    });
    h.join().unwrap_or_else(|_| Err(TunPeerError::App("capture thread panicked".into()))).map_err(InteropError::Peer)
}
