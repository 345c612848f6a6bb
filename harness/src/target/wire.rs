//! The script's end of a link to a stack that runs in real time (the
//! kernel, or a device-under-test program): datagrams to it, and what it
//! sends, read as it arrives and stamped with the time the stack sent it
//! where the transport knows it (the kernel's timestamps), else with the time
//! it was read.

use super::TargetError;
use crate::os::transport::Transport;
use nix::poll::{PollFd, PollFlags};
use reference_stack::wire::{IpPacket, WireError};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

pub(crate) struct RealWire {
    pub link: Box<dyn Transport>,
    /// When the script's clock started.
    pub epoch: Instant,
    /// The same instant on the wall clock, for the kernel's timestamps.
    epoch_real: SystemTime,
    /// What the stack sent for the script's peer, not yet taken.
    pub sent: VecDeque<(Duration, IpPacket)>,
    /// The script's peer address: datagrams to others are not the script's.
    remote: IpAddr,
    /// Who is at the other end, for messages ("the kernel", "lwIP 2.1.3").
    who: String,
    /// A readiness probe's port, whose late answers are not the script's.
    probe_port: Option<u16>,
    buf: Vec<u8>,
    /// Every (source, destination) of a TCP segment the stack sent, when
    /// asked for: the connections a kept namespace must destroy after the
    /// script ([`crate::target::linux::Slot`]).
    pub tuples: Option<std::collections::BTreeSet<(std::net::SocketAddr, std::net::SocketAddr)>>,
}

impl RealWire {
    pub fn new(link: Box<dyn Transport>, remote: IpAddr, who: &str, probe_port: Option<u16>) -> RealWire {
        crate::os::watchdog::start();
        RealWire {
            link,
            epoch: Instant::now(),
            epoch_real: SystemTime::now(),
            sent: VecDeque::new(),
            remote,
            who: who.to_string(),
            probe_port,
            buf: vec![0u8; 65_536],
            tuples: None,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// How long, between two script times, the harness could not run.
    pub fn descheduled(&self, from: Duration, to: Duration) -> Duration {
        crate::os::watchdog::descheduled(self.epoch + from, self.epoch + to)
    }

    /// Starts the script's clock now.
    pub fn start(&mut self) {
        self.epoch = Instant::now();
        self.epoch_real = SystemTime::now();
    }

    /// Reads every datagram waiting on the link; keeps the TCP ones for the
    /// script's network. A segment whose options are padded with anything but
    /// zeros is the stack's failure.
    pub fn drain(&mut self) -> Result<(), TargetError> {
        loop {
            match self.link.recv_stamped(&mut self.buf) {
                Ok(Some((n, stamp))) => {
                    // When the stack sent it, if the transport knows (never
                    // after now, nor before what came before it); else now.
                    let now = self.elapsed();
                    let at = stamp
                        .and_then(|t| t.duration_since(self.epoch_real).ok())
                        .map_or(now, |t| t.min(now))
                        .max(self.sent.back().map_or(Duration::ZERO, |(t, _)| *t));
                    let parsed = match IpPacket::parse_sent(&self.buf[..n]) {
                        Err(e @ WireError::NonzeroPadding { .. }) => {
                            let seg = IpPacket::parse(&self.buf[..n]).map(|p| p.tcp.to_string()).unwrap_or_default();
                            return Err(TargetError::Violation(format!("{} sent {seg}: {e}", self.who)));
                        }
                        parsed => parsed,
                    };
                    if let (Ok(p), Some(t)) = (&parsed, self.tuples.as_mut()) {
                        t.insert((
                            std::net::SocketAddr::new(p.ip.src, p.tcp.src_port),
                            std::net::SocketAddr::new(p.ip.dst, p.tcp.dst_port),
                        ));
                    }
                    if let Ok(p) = parsed {
                        // On a loaded machine the answer to an earlier
                        // readiness probe can come after the script started:
                        // it is not the script's.
                        let probe_answer = self
                            .probe_port
                            .is_some_and(|port| p.tcp.flags.rst() && p.tcp.src_port == port && p.tcp.dst_port == port);
                        // The script's address, or another of its network
                        // (a flood's sources, the script's other ports'
                        // peers): the engine checks the addresses.
                        if same_network(p.ip.dst, self.remote) && !probe_answer {
                            self.sent.push_back((at, p));
                        }
                    }
                }
                Ok(None) => return Ok(()),
                Err(e) => {
                    return Err(TargetError::Setup(format!("reading from the {} transport: {e}", self.link.name())))
                }
            }
        }
    }

    /// Waits for the link to be readable, at most until `until`.
    pub fn wait(&mut self, until: Duration) -> Result<(), TargetError> {
        let now = self.elapsed();
        if now >= until {
            return Ok(());
        }
        let ts = nix::sys::time::TimeSpec::from_duration(until - now);
        let mut fds = [PollFd::new(self.link.fd(), PollFlags::POLLIN)];
        match nix::poll::ppoll(&mut fds, Some(ts), None) {
            Ok(0) => {
                // Timed out: a wake-up this late means the thread waited
                // for a CPU (what it reads now is stamped that late).
                let woke = self.elapsed();
                if woke > until + Duration::from_millis(1) {
                    crate::os::watchdog::record(self.epoch + until, self.epoch + woke);
                }
                Ok(())
            }
            Ok(_) | Err(nix::Error::EINTR) => Ok(()),
            Err(e) => Err(TargetError::Setup(format!("ppoll: {e}"))),
        }
    }

    /// Lets real time run to `t`, reading what is sent meanwhile.
    pub fn advance(&mut self, t: Duration) -> Result<(), TargetError> {
        loop {
            self.drain()?;
            if self.elapsed() >= t {
                return Ok(());
            }
            self.wait(t)?;
        }
    }

    /// The next packet read at or before `deadline` (one read after it
    /// stays queued for a later step).
    pub fn next_packet(&mut self, deadline: Duration) -> Result<Option<(Duration, IpPacket)>, TargetError> {
        loop {
            self.drain()?;
            if self.sent.front().is_some_and(|(at, _)| *at <= deadline) {
                return Ok(self.sent.pop_front());
            }
            if self.elapsed() >= deadline {
                return Ok(None);
            }
            self.wait(deadline)?;
        }
    }

    /// A datagram to the stack.
    pub fn send(&mut self, wire: &[u8]) -> Result<(), TargetError> {
        self.link
            .send(wire)
            .map_err(|e| TargetError::Setup(format!("writing to the {} transport: {e}", self.link.name())))
    }
}

/// Whether `a` is in `b`'s network: the /24 (IPv4) or /64 (IPv6) the
/// targets route to the script.
fn same_network(a: std::net::IpAddr, b: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => u32::from(a) >> 8 == u32::from(b) >> 8,
        (IpAddr::V6(a), IpAddr::V6(b)) => u128::from(a) >> 64 == u128::from(b) >> 64,
        _ => false,
    }
}
