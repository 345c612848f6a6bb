//! The reference stack on a TUN device: it owns one address, the kernel owns
//! another, and real kernel sockets talk to it. Virtual time follows the wall
//! clock here (microseconds since the peer started).

use crate::os::netns::{NetnsError, Private};
use crate::os::tun::{Tun, TunError};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use reference_stack::rng::Rng;
use reference_stack::wire::WireError;
use reference_stack::{Instant, Profile, Stack, StackConfig};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;

/// Addresses inside the private namespace: documentation ranges only.
#[derive(Clone, Debug)]
pub struct TunAddrs {
    pub stack_v4: Ipv4Addr,
    pub kernel_v4: Ipv4Addr,
    pub stack_v6: Ipv6Addr,
    pub kernel_v6: Ipv6Addr,
}

impl Default for TunAddrs {
    fn default() -> Self {
        TunAddrs {
            stack_v4: Ipv4Addr::new(192, 0, 2, 1),
            kernel_v4: Ipv4Addr::new(198, 51, 100, 1),
            stack_v6: "2001:db8:1::1".parse().expect("literal"),
            kernel_v6: "2001:db8::1".parse().expect("literal"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TunPeerError {
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error(transparent)]
    Tun(TunError),
    #[error("{0}: {1}")]
    Io(&'static str, std::io::Error),
    #[error("poll: {0}")]
    Poll(nix::Error),
    /// The application side reported a failure.
    #[error("{0}")]
    App(String),
    /// The run went past its wall-clock limit.
    #[error("timed out after {:.1} s: {detail}", after.as_secs_f64())]
    Timeout { after: std::time::Duration, detail: String },
}

/// What the stack's application does on each turn of the loop.
pub trait App {
    /// Makes socket calls on `stack`; `Ok(true)` when finished.
    fn step(&mut self, stack: &mut Stack, now: Instant) -> Result<bool, String>;
    /// Says where it is, for a timeout message.
    fn progress(&self) -> String;
}

#[derive(Clone, Copy, Debug, Default)]
pub struct TunStats {
    pub to_stack: u64,
    pub to_kernel: u64,
    pub dropped_to_stack: u64,
    pub dropped_to_kernel: u64,
    pub not_tcp: u64,
}

pub struct TunPeer {
    tun: Tun,
    pub stack: Stack,
    epoch: std::time::Instant,
    rng: Rng,
    loss_ppm: u32,
    pub stats: TunStats,
    pub addrs: TunAddrs,
}

impl TunPeer {
    /// Creates `tun0` and gives the kernel its addresses and routes towards
    /// the stack, in the private namespace the calling thread is in.
    pub fn setup(
        ns: &Private,
        addrs: TunAddrs,
        profile: Profile,
        seed: u64,
        loss_ppm: u32,
    ) -> Result<TunPeer, TunPeerError> {
        let tun = Tun::create("tun0").map_err(TunPeerError::Tun)?;
        let name = tun.name().to_string();
        ns.addr_add(&name, IpAddr::V4(addrs.kernel_v4), 24)?;
        ns.addr_add(&name, IpAddr::V6(addrs.kernel_v6), 64)?;
        ns.link_up(&name)?;
        ns.route_add(&name, IpAddr::V4(mask_v4(addrs.stack_v4)), 24)?;
        ns.route_add(&name, IpAddr::V6(mask_v6(addrs.stack_v6)), 64)?;
        let stack = Stack::new(StackConfig {
            addrs: vec![IpAddr::V4(addrs.stack_v4), IpAddr::V6(addrs.stack_v6)],
            profile,
            seed,
        });
        Ok(TunPeer {
            tun,
            stack,
            epoch: std::time::Instant::now(),
            rng: Rng::new(seed ^ 0xd120),
            loss_ppm,
            stats: TunStats::default(),
            addrs,
        })
    }

    pub fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    fn lose(&mut self) -> bool {
        self.loss_ppm > 0 && self.rng.next_u32() % 1_000_000 < self.loss_ppm
    }

    /// Moves datagrams both ways and fires timers until `app` is done.
    pub fn run(&mut self, app: &mut dyn App, limit: std::time::Duration) -> Result<(), TunPeerError> {
        let mut buf = vec![0u8; 65_536];
        loop {
            let now = self.now();
            if app.step(&mut self.stack, now).map_err(TunPeerError::App)? {
                self.flush(now)?;
                return Ok(());
            }
            self.flush(now)?;
            if self.epoch.elapsed() > limit {
                return Err(TunPeerError::Timeout { after: self.epoch.elapsed(), detail: app.progress() });
            }
            // Sleep until a datagram arrives or the next timer, at most 5 ms so
            // the application side stays responsive.
            let wait_us = self
                .stack
                .poll_timeout()
                .map_or(5_000, |t| t.total_micros().saturating_sub(now.total_micros()))
                .min(5_000);
            let mut fds = [PollFd::new(self.tun.as_fd(), PollFlags::POLLIN)];
            let ms = wait_us.div_ceil(1000) as u16;
            match nix::poll::poll(&mut fds, PollTimeout::from(ms)) {
                Ok(_) | Err(nix::Error::EINTR) => {}
                Err(e) => return Err(TunPeerError::Poll(e)),
            }
            loop {
                match self.tun.recv(&mut buf) {
                    Ok(n) => {
                        // The time is read right at the read.
                        let at = self.now();
                        if self.lose() {
                            self.stats.dropped_to_stack += 1;
                            continue;
                        }
                        match self.stack.handle_packet(at, &buf[..n]) {
                            Ok(()) => self.stats.to_stack += 1,
                            // IPv6 neighbour discovery, MLD and the like.
                            Err(WireError::NotTcp(_)) => self.stats.not_tcp += 1,
                            Err(_) => self.stats.to_stack += 1,
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(TunPeerError::Io("reading tun0", e)),
                }
            }
            self.stack.handle_timeout(self.now());
        }
    }

    /// Hands a datagram straight to the kernel, bypassing the stack.
    pub fn inject(&mut self, pkt: &[u8]) -> Result<(), TunPeerError> {
        self.tun.send(pkt).map_err(|e| TunPeerError::Io("writing tun0", e))
    }

    /// Reads datagrams from the kernel for `limit` without giving them to the
    /// stack, keeping those `keep` accepts, with their arrival times.
    pub fn capture(
        &mut self,
        limit: std::time::Duration,
        mut keep: impl FnMut(&reference_stack::wire::IpPacket) -> bool,
    ) -> Result<Vec<(std::time::Duration, reference_stack::wire::IpPacket)>, TunPeerError> {
        let start = std::time::Instant::now();
        let mut buf = vec![0u8; 65_536];
        let mut out = Vec::new();
        while start.elapsed() < limit {
            let mut fds = [PollFd::new(self.tun.as_fd(), PollFlags::POLLIN)];
            match nix::poll::poll(&mut fds, PollTimeout::from(50u16)) {
                Ok(_) | Err(nix::Error::EINTR) => {}
                Err(e) => return Err(TunPeerError::Poll(e)),
            }
            loop {
                match self.tun.recv(&mut buf) {
                    Ok(n) => {
                        let at = start.elapsed();
                        if let Ok(p) = reference_stack::wire::IpPacket::parse(&buf[..n]) {
                            if keep(&p) {
                                out.push((at, p));
                            }
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(TunPeerError::Io("reading tun0", e)),
                }
            }
        }
        Ok(out)
    }

    fn flush(&mut self, now: Instant) -> Result<(), TunPeerError> {
        while let Some(p) = self.stack.poll_transmit(now) {
            if self.lose() {
                self.stats.dropped_to_kernel += 1;
                continue;
            }
            self.stats.to_kernel += 1;
            self.tun.send(&p).map_err(|e| TunPeerError::Io("writing tun0", e))?;
        }
        Ok(())
    }
}

fn mask_v4(a: Ipv4Addr) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(a) & 0xffff_ff00)
}

fn mask_v6(a: Ipv6Addr) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(a) & !((1u128 << 64) - 1))
}
