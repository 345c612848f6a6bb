//! The Linux target: the running kernel, in a network namespace made for one
//! script and gone with it. Segments travel through a TUN device or, with the
//! raw transport, as frames on a veth pair whose other end sits in a second
//! private namespace. Socket calls are made on real sockets in the namespace.
//!
//! Kernel sockets are always non-blocking underneath; a script's "blocking"
//! socket is emulated exactly as on the reference target (the call is retried
//! until it completes), so the engine's thread never sleeps in the kernel.

mod syscall_thread;

use super::wire::RealWire;
use super::{CallOutcome, CallValue, Clock, Host, Inject, Target, TargetCall, TargetError};
use crate::os::netlink;
use crate::os::netns::Private;
use crate::os::sys;
use crate::os::tcp_states;
use crate::os::transport::{RawLink, Transport, TunLink};
use crate::os::tun::Tun;
use crate::script::call::{pollbits, Cmsg, ExtErr, OptName};
use crate::script::netconf::{Qdisc, RouteMetrics};
use crate::script::{Script, TargetKind};
use reference_stack::wire::IpPacket;
use reference_stack::{Errno, FourTuple, State};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::collections::BTreeMap;
use std::mem::MaybeUninit;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::time::Duration;
use syscall_thread::{Job, Outcome, SyscallThread};

/// How packets reach the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TransportKind {
    /// A TUN device in the script's namespace.
    Tun,
    /// A veth pair into a second private namespace, AF_PACKET on our end.
    Raw,
}

impl TransportKind {
    pub fn from_name(s: &str) -> Option<TransportKind> {
        match s {
            "tun" => Some(TransportKind::Tun),
            "raw" => Some(TransportKind::Raw),
            _ => None,
        }
    }
}

/// MAC addresses of the veth pair (locally administered).
const MAC_KERNEL: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const MAC_HARNESS: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

const MSG_FASTOPEN: i32 = 0x2000_0000;
const O_NONBLOCK: i64 = 0o4000;

struct Sock {
    s: Socket,
    blocking: bool,
    /// FD_CLOEXEC as the script sees it (F_GETFD/F_SETFD): the harness's
    /// own descriptors are close-on-exec whatever the script says.
    cloexec: bool,
}

pub struct LinuxTarget {
    /// The script's namespace: this thread is in it.
    ns: Private,
    /// The transport to the kernel, and what it sent.
    wire: RealWire,
    /// The wall clock at the script's start: SCM_TIMESTAMPING's software
    /// timestamps are CLOCK_REALTIME, read back as script time.
    epoch_real: std::time::SystemTime,
    socks: BTreeMap<i32, Sock>,
    /// Blocking calls, made for real (started lazily).
    syscalls: Option<SyscallThread>,
    /// When the last blocking call returned (taken by the engine).
    returned_at: Option<Duration>,
    /// Where a blocking read under way puts the octets it returns.
    recv_into: Option<std::sync::Arc<std::sync::Mutex<Vec<u8>>>>,
    /// epoll instances, numbered with the sockets.
    epolls: BTreeMap<i32, std::os::fd::OwnedFd>,
    /// Pipe ends (`pipe`, for `splice`), numbered with the sockets.
    pipes: BTreeMap<i32, std::os::fd::OwnedFd>,
    /// A blocked epoll_wait gives up at this time.
    epoll_until: Option<Duration>,
    poll_until: Option<Duration>,
    info: Vec<(String, String)>,
    /// `congestion:`: set on every socket made.
    congestion: Option<String>,
    /// `in_gso:`: segments go in as GSO packets of this size.
    in_gso: Option<u16>,
    /// The buffers of MSG_ZEROCOPY sends, kept for the whole run: the kernel
    /// sends (and resends) from those pages after the call returns, so
    /// they are never freed and reused under it (packetdrill's
    /// --send_omit_free, which its run_all.py always passes).
    zerocopy_buffers: Vec<Vec<u8>>,
    /// The device the kernel sends on (`tun0` or `veth0`), and the
    /// script's address: `qdisc:` and `route:` steps act on them.
    dev: &'static str,
    remote: IpAddr,
    /// The SNMP counters when the last `counters:` step (or the setup) read them.
    counters_base: BTreeMap<String, i64>,
    /// Neighbour entries made for a flood's sources (veth pair only).
    neighbours: std::collections::BTreeSet<IpAddr>,
}

/// Closes what finished scripts leave behind, off their critical path.
/// Closing a TUN device or a veth pair takes the kernel 10 to 40 ms (it waits
/// for the namespaces being torn down before it); the namespace still goes
/// away once its last descriptor is closed here.
fn reap(junk: Box<dyn Send>) {
    use std::sync::{mpsc, Mutex, OnceLock};
    static REAPER: OnceLock<Mutex<mpsc::Sender<Box<dyn Send>>>> = OnceLock::new();
    let tx = REAPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Box<dyn Send>>();
        let _ = std::thread::Builder::new().name("netns-reaper".into()).spawn(move || {
            for j in rx {
                drop(j);
            }
        });
        Mutex::new(tx)
    });
    if let Ok(tx) = tx.lock() {
        // If the reaper is gone, the junk is dropped here instead.
        let _ = tx.send(junk);
    }
}

/// Waits until every descriptor handed to the reaper so far is closed.
pub fn reaped() {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    struct Signal(std::sync::mpsc::Sender<()>);
    impl Drop for Signal {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
    reap(Box::new(Signal(tx)));
    let _ = rx.recv();
}

impl Drop for LinuxTarget {
    fn drop(&mut self) {
        // A call still asleep in the kernel wakes when its socket shuts down.
        if self.syscalls.as_ref().is_some_and(SyscallThread::busy) {
            for s in self.socks.values() {
                let _ = s.s.shutdown(std::net::Shutdown::Both);
            }
        }
        let socks = std::mem::take(&mut self.socks);
        let link: Box<dyn Transport> = std::mem::replace(&mut self.wire.link, Box::new(Closed));
        reap(Box::new((socks, link)));
    }
}

/// What a report says of the target: the kernel, the transport, every
/// net.ipv4.tcp_* sysctl of the calling thread's namespace.
fn facts(link: &dyn Transport) -> Vec<(String, String)> {
    let uname = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    let mut info = vec![("kernel".to_string(), uname), ("transport".to_string(), link.name().to_string())];
    if let Ok(rd) = std::fs::read_dir("/proc/sys/net/ipv4") {
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("tcp_"))
            .collect();
        names.sort();
        for n in names {
            if let Ok(v) = std::fs::read_to_string(format!("/proc/sys/net/ipv4/{n}")) {
                info.push((format!("net.ipv4.{n}"), v.split_whitespace().collect::<Vec<_>>().join(" ")));
            }
        }
    }
    info
}

/// A private namespace and TUN device kept for one script after another
/// (`harness diff`'s replays, where making and tearing down a namespace
/// per case would cost more than the case): made once, on the thread that
/// keeps it. Between two scripts the script's sockets are closed, every TCP
/// socket left in the namespace is destroyed (TIME-WAIT, orphans still
/// sending, pending connections: sock_diag's SOCK_DESTROY), the sysctls the
/// script set are put back, the kernel's TCP metrics flushed and the device
/// drained: the next script finds the namespace as a new one would be.
pub struct Slot {
    link: Option<Box<dyn Transport>>,
    local: IpAddr,
    remote: IpAddr,
    /// The sysctls the running script set, with their values before.
    restore: Vec<(String, String)>,
    /// The report's facts of the namespace as made ([`facts`]).
    info: Vec<(String, String)>,
}

impl Slot {
    /// A namespace for scripts between `local` and `remote`, on the TUN
    /// transport; the calling thread moves into it for good.
    pub fn new(script: &Script) -> Result<Slot, TargetError> {
        let setup = |e: String| TargetError::Setup(e);
        let (net, plen) = prefix_net(script.remote);
        let local_prefix = if script.local.is_ipv6() { 64 } else { 24 };
        let ns = Private::unshare().map_err(|e| setup(e.to_string()))?;
        let tun = Tun::create("tun0").map_err(|e| setup(e.to_string()))?;
        ns.addr_add("tun0", script.local, local_prefix).map_err(|e| setup(e.to_string()))?;
        ns.link_up("tun0").map_err(|e| setup(e.to_string()))?;
        ns.route_add("tun0", net, plen).map_err(|e| setup(e.to_string()))?;
        let idx = netlink::ifindex("tun0").map_err(|e| setup(e.to_string()))?;
        let mut link: Box<dyn Transport> = Box::new(TunLink::new(tun, idx));
        wait_until_usable(link.as_mut(), script).map_err(setup)?;
        let info = facts(link.as_ref());
        Ok(Slot { link: Some(link), local: script.local, remote: script.remote, restore: Vec::new(), info })
    }

    /// Whether `script` can run in this slot: its addresses, a plain
    /// device (no MTU, qdisc, route metrics, offloads of its own), and no
    /// step that changes the namespace beyond sysctls (a shell command,
    /// a qdisc or route mid-run).
    pub fn fits(&self, script: &Script) -> bool {
        use crate::script::StepKind;
        script.local == self.local
            && script.remote == self.remote
            && script.mtu.is_none()
            && script.qdisc.is_none()
            && script.route.is_none()
            && !script.offload_tso
            && script.in_gso.is_none()
            && !script.steps.iter().any(|s| {
                matches!(
                    s.kind,
                    StepKind::Shell(_) | StepKind::Qdisc(_) | StepKind::Route(_) | StepKind::TcpMetricsFlush
                )
            })
    }

    /// The target for `script` (which [`Slot::fits`]); give it back with
    /// [`Slot::give_back`].
    pub fn target(&mut self, script: &Script) -> Result<LinuxTarget, TargetError> {
        let setup = |e: String| TargetError::Setup(e);
        let link = self.link.take().ok_or_else(|| setup("the kept namespace's device is in use".into()))?;
        // What the script sets, header or step, is put back after it.
        let keys = script.sysctl.keys().cloned().chain(script.steps.iter().flat_map(|s| match &s.kind {
            crate::script::StepKind::Sysctl(kv) => kv.iter().map(|(k, _)| k.clone()).collect(),
            _ => Vec::new(),
        }));
        for k in keys {
            if self.restore.iter().all(|(r, _)| *r != k) {
                let path = format!("/proc/sys/{}", k.replace('.', "/"));
                if let Ok(v) = std::fs::read_to_string(&path) {
                    self.restore.push((k, v.trim().to_string()));
                }
            }
        }
        let ns = Private::current().map_err(|e| setup(e.to_string()))?;
        let mut t = LinuxTarget::on_link(ns, link, script, TransportKind::Tun, Some(self.info.clone()))?;
        t.wire.tuples = Some(Default::default());
        Ok(t)
    }

    /// Takes the device back and cleans the namespace for the next script.
    pub fn give_back(&mut self, mut t: LinuxTarget) -> Result<(), TargetError> {
        let clean = |e: String| TargetError::Setup(format!("cleaning the kept namespace: {e}"));
        if t.syscalls.as_ref().is_some_and(SyscallThread::busy) {
            for s in t.socks.values() {
                let _ = s.s.shutdown(std::net::Shutdown::Both);
            }
        }
        drop(std::mem::take(&mut t.socks));
        // Every connection that sent a segment, by its 4-tuple (a listener
        // went with its socket; a connection that never sent has no state
        // a later script could meet).
        let mut link: Box<dyn Transport> = std::mem::replace(&mut t.wire.link, Box::new(Closed));
        let mut tuples = t.wire.tuples.take().unwrap_or_default();
        // (What it sent since the last read counts too.)
        let mut buf = vec![0u8; 65_536];
        while let Some(n) = link.recv(&mut buf).map_err(|e| clean(e.to_string()))? {
            if let Ok((ip, h)) = reference_stack::wire::IpPacket::parse_sent_header(&buf[..n]) {
                tuples.insert((
                    std::net::SocketAddr::new(ip.src, h.src_port),
                    std::net::SocketAddr::new(ip.dst, h.dst_port),
                ));
            }
        }
        drop(t);
        for (local, remote) in tuples {
            // (A tuple may hold a connection and, behind it, its
            // successor's TIME-WAIT: until none is left.)
            for _ in 0..4 {
                if !netlink::tcp_destroy(local, remote).map_err(|e| clean(e.to_string()))? {
                    break;
                }
            }
        }
        if std::env::var_os("HARNESS_CHECK_CLEAN").is_some() {
            // (A check of the above: a dump of every TCP socket left, which
            // walks the whole table: slow.)
            let left = netlink::tcp_destroy_all().map_err(|e| clean(e.to_string()))?;
            if left > 0 {
                return Err(clean(format!("{left} TCP socket(s) were left after destroying the script's")));
            }
        }
        let ns = Private::current().map_err(|e| clean(e.to_string()))?;
        for (k, v) in self.restore.drain(..) {
            ns.sysctl(&k, &v).map_err(|e| clean(e.to_string()))?;
        }
        ns.tcp_metrics_flush().map_err(|e| clean(e.to_string()))?;
        // What the destroyed sockets sent (their resets) is nobody's.
        while link.recv(&mut buf).map_err(|e| clean(e.to_string()))?.is_some() {}
        self.link = Some(link);
        Ok(())
    }
}

/// What stands in for the transport once it has gone to the reaper.
struct Closed;

impl Transport for Closed {
    fn send(&mut self, _: &[u8]) -> std::io::Result<()> {
        Err(std::io::Error::from_raw_os_error(libc::EBADF))
    }
    fn recv(&mut self, _: &mut [u8]) -> std::io::Result<Option<usize>> {
        Ok(None)
    }
    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        unreachable!("a closed transport is never polled")
    }
    fn name(&self) -> &'static str {
        "closed"
    }
}

/// Checks, without changing anything, whether this process can run the Linux
/// target; the error says what is missing and how to run it.
pub fn available(transport: TransportKind) -> Result<(), String> {
    let probe = std::thread::spawn(move || -> Result<(), String> {
        Private::unshare().map_err(|e| {
            format!("cannot create a network namespace ({e}); run as root, or inside `unshare -rn` where /dev/net/tun is usable")
        })?;
        if transport == TransportKind::Tun {
            Tun::create("tunprobe").map_err(|e| format!("{e}; run as root, or load the tun module"))?;
        }
        Ok(())
    });
    probe.join().unwrap_or_else(|_| Err("the privilege probe panicked".into()))
}

fn prefix_net(a: IpAddr) -> (IpAddr, u8) {
    match a {
        IpAddr::V4(v) => (IpAddr::V4(std::net::Ipv4Addr::from(u32::from(v) & 0xffff_ff00)), 24),
        IpAddr::V6(v) => (IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v) & !((1u128 << 64) - 1))), 64),
    }
}

fn errno_of(e: &std::io::Error) -> Result<Errno, TargetError> {
    let n = e.raw_os_error().unwrap_or(libc::EIO);
    Errno::from_number(n).ok_or_else(|| {
        TargetError::Unsupported(format!("the kernel returned errno {n} ({e}), which scripts cannot name yet"))
    })
}

fn done(r: Result<i64, std::io::Error>) -> Result<CallOutcome, TargetError> {
    Ok(CallOutcome::Done {
        ret: match r {
            Ok(v) => CallValue::Value(v),
            Err(e) => CallValue::Error(errno_of(&e)?),
        },
        out: None,
    })
}

fn would_block(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EINPROGRESS))
}

/// Proves the path works both ways before the script's clock starts: a SYN
/// to a closed port must come back as a RST. (A fresh veth link drops what it
/// is given until the kernel has brought its carrier and queue up.)
fn wait_until_usable(link: &mut dyn Transport, script: &Script) -> Result<(), String> {
    use reference_stack::wire::{IpRepr, TcpFlags, TcpRepr};
    let probe = IpPacket {
        ip: IpRepr::new(script.remote, script.local),
        tcp: TcpRepr {
            src_port: 9,
            dst_port: 9,
            seq: reference_stack::SeqNumber(1),
            flags: TcpFlags::SYN,
            window: 1,
            ..TcpRepr::default()
        },
    }
    .emit()
    .map_err(|e| e.to_string())?;
    let start = std::time::Instant::now();
    let mut buf = vec![0u8; 65_536];
    while start.elapsed() < Duration::from_secs(5) {
        link.send(&probe).map_err(|e| format!("probing the {} transport: {e}", link.name()))?;
        let until = std::time::Instant::now() + Duration::from_millis(2);
        while std::time::Instant::now() < until {
            if let Some(n) = link.recv(&mut buf).map_err(|e| e.to_string())? {
                if let Ok(p) = IpPacket::parse(&buf[..n]) {
                    if p.tcp.flags.rst() && p.tcp.dst_port == 9 {
                        return Ok(());
                    }
                }
            } else {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
    }
    Err(format!("the {} transport did not carry a probe both ways within 5 s", link.name()))
}

/// The kernel's timer tick, 1/HZ: the resolution of its coarse clock, which
/// advances once a jiffy (4 ms on a kernel built with HZ=250).
/// Read once: `clock()` is asked in the engine's wait loops.
pub fn jiffy() -> Duration {
    static JIFFY: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *JIFFY.get_or_init(|| {
        nix::time::clock_getres(nix::time::ClockId::CLOCK_MONOTONIC_COARSE).map_or(Duration::ZERO, Duration::from)
    })
}

/// packetdrill's start (`schedule_start_time_usecs`): the script's clock
/// starts 250 us after the kernel's clock tick has moved on, so that script
/// times fall at the same place within the kernel's jiffies on every run;
/// without it a delayed ACK or an RTT sample can come out one jiffy apart
/// from run to run. times(2) counts jiffies in clock ticks (10 ms), so its
/// change marks a jiffy edge. Waits at most about 10 ms, looking every 50 us.
fn start_into_a_tick() {
    // SAFETY: times(NULL) only returns the clock; no memory is passed.
    #[allow(unsafe_code)]
    let ticks = || unsafe { libc::times(std::ptr::null_mut()) };
    let first = ticks();
    let give_up = std::time::Instant::now() + Duration::from_millis(30);
    while ticks() == first && std::time::Instant::now() < give_up {
        std::thread::sleep(Duration::from_micros(50));
    }
    std::thread::sleep(Duration::from_micros(250));
}

impl LinuxTarget {
    /// Builds the namespace(s), the transport and the addresses for `script`.
    /// Call it on a thread made for this one script: the thread moves into the
    /// new namespace, which disappears when the thread's fds are closed.
    pub fn new(script: &Script, transport: TransportKind) -> Result<LinuxTarget, TargetError> {
        let setup = |e: String| TargetError::Setup(e);
        let (net, plen) = prefix_net(script.remote);
        let local_prefix = if script.local.is_ipv6() { 64 } else { 24 };
        let (ns, link): (Private, Box<dyn Transport>) = match transport {
            TransportKind::Tun => {
                let ns = Private::unshare().map_err(|e| setup(e.to_string()))?;
                let tun = if script.offload_tso { Tun::create_offload("tun0") } else { Tun::create("tun0") }
                    .map_err(|e| setup(e.to_string()))?;
                if let Some(mtu) = script.mtu {
                    ns.link_mtu("tun0", u32::from(mtu)).map_err(|e| setup(e.to_string()))?;
                }
                ns.addr_add("tun0", script.local, local_prefix).map_err(|e| setup(e.to_string()))?;
                ns.link_up("tun0").map_err(|e| setup(e.to_string()))?;
                if let Some(q) = &script.qdisc {
                    ns.root_qdisc("tun0", q).map_err(|e| setup(e.to_string()))?;
                }
                ns.route_add("tun0", net, plen).map_err(|e| setup(e.to_string()))?;
                if let Some(r) = &script.route {
                    ns.route_metrics("tun0", script.remote, r).map_err(|e| setup(e.to_string()))?;
                }
                let idx = netlink::ifindex("tun0").map_err(|e| setup(e.to_string()))?;
                (ns, Box::new(TunLink::new(tun, idx)))
            }
            TransportKind::Raw => {
                // The harness's namespace first, then the kernel's.
                let harness_ns = Private::unshare().and_then(|p| p.handle()).map_err(|e| setup(e.to_string()))?;
                let ns = Private::unshare().map_err(|e| setup(e.to_string()))?;
                let kernel_ns = ns.handle().map_err(|e| setup(e.to_string()))?;
                ns.veth_add("veth0", MAC_KERNEL, "veth1", MAC_HARNESS, &harness_ns)
                    .map_err(|e| setup(e.to_string()))?;
                // Like a real NIC on the wire: full checksums and MTU-sized
                // segments, not offloaded partial sums and 64 KB super-segments.
                for (cmd, what) in [
                    (sys::ETHTOOL_STXCSUM, "tx checksum"),
                    (sys::ETHTOOL_STSO, "TSO"),
                    (sys::ETHTOOL_SGSO, "GSO"),
                    (sys::ETHTOOL_SSG, "scatter-gather"),
                ] {
                    sys::ethtool_set("veth0", cmd, false)
                        .map_err(|e| setup(format!("turning {what} offload off on veth0: {e}")))?;
                }
                if let Some(mtu) = script.mtu {
                    ns.link_mtu("veth0", u32::from(mtu)).map_err(|e| setup(e.to_string()))?;
                }
                ns.addr_add("veth0", script.local, local_prefix).map_err(|e| setup(e.to_string()))?;
                ns.link_up("veth0").map_err(|e| setup(e.to_string()))?;
                if let Some(q) = &script.qdisc {
                    ns.root_qdisc("veth0", q).map_err(|e| setup(e.to_string()))?;
                }
                ns.route_add("veth0", net, plen).map_err(|e| setup(e.to_string()))?;
                if let Some(r) = &script.route {
                    ns.route_metrics("veth0", script.remote, r).map_err(|e| setup(e.to_string()))?;
                }
                ns.neigh_add("veth0", script.remote, MAC_HARNESS).map_err(|e| setup(e.to_string()))?;
                let h = Private::enter(&harness_ns).map_err(|e| setup(e.to_string()))?;
                if let Some(mtu) = script.mtu {
                    // veth drops what is larger than the receiving end's MTU.
                    h.link_mtu("veth1", u32::from(mtu)).map_err(|e| setup(e.to_string()))?;
                }
                h.link_up("veth1").map_err(|e| setup(e.to_string()))?;
                let idx = netlink::ifindex("veth1").map_err(|e| setup(e.to_string()))?;
                let raw = RawLink::open(idx, MAC_KERNEL).map_err(|e| setup(format!("AF_PACKET socket: {e}")))?;
                let ns = Private::enter(&kernel_ns).map_err(|e| setup(e.to_string()))?;
                (ns, Box::new(raw))
            }
        };
        let mut link = link;
        wait_until_usable(link.as_mut(), script).map_err(setup)?;
        LinuxTarget::on_link(ns, link, script, transport, None)
    }

    /// The target over a namespace and transport made for it (or kept:
    /// [`Slot`]): the script's sysctls set, its clock started.
    fn on_link(
        ns: Private,
        link: Box<dyn Transport>,
        script: &Script,
        transport: TransportKind,
        info: Option<Vec<(String, String)>>,
    ) -> Result<LinuxTarget, TargetError> {
        let setup = |e: String| TargetError::Setup(e);
        for (k, v) in &script.sysctl {
            ns.sysctl(k, v).map_err(|e| setup(e.to_string()))?;
        }
        let info = match info {
            Some(mut kept) => {
                // (The namespace's defaults, read once, with the script's.)
                for (k, v) in &script.sysctl {
                    match kept.iter_mut().find(|(n, _)| n == k) {
                        Some(e) => e.1 = v.clone(),
                        None => kept.push((k.clone(), v.clone())),
                    }
                }
                kept
            }
            None => facts(link.as_ref()),
        };
        let syscalls = SyscallThread::spawn().map_err(|e| setup(format!("starting the syscall thread: {e}")))?;
        if script.script_clock {
            start_into_a_tick();
        }
        let mut wire = RealWire::new(link, script.remote, "the kernel", Some(9));
        wire.start();
        Ok(LinuxTarget {
            ns,
            wire,
            epoch_real: std::time::SystemTime::now(),
            socks: BTreeMap::new(),
            // Made before the script's clock starts: a thread's start-up is
            // not something the first blocking call should wait for.
            syscalls: Some(syscalls),
            returned_at: None,
            recv_into: None,
            epolls: BTreeMap::new(),
            pipes: BTreeMap::new(),
            epoll_until: None,
            poll_until: None,
            info,
            congestion: script.congestion.clone(),
            in_gso: script.in_gso,
            zerocopy_buffers: Vec::new(),
            dev: match transport {
                TransportKind::Tun => "tun0",
                TransportKind::Raw => "veth0",
            },
            remote: script.remote,
            // Only a script that counts pays for reading them.
            neighbours: std::collections::BTreeSet::new(),
            counters_base: if script.steps.iter().any(|s| matches!(s.kind, crate::script::StepKind::Counters(_))) {
                sys::net_counters().map_err(|e| setup(format!("reading /proc/net's counters: {e}")))?
            } else {
                BTreeMap::new()
            },
        })
    }

    fn elapsed(&self) -> Duration {
        self.wire.elapsed()
    }

    /// recvmsg's control messages in the language's terms.
    fn cmsgs(&self, raw: &[sys::RawCmsg]) -> Vec<Cmsg> {
        let int = |d: &[u8], at: usize| -> u32 {
            d.get(at..at + 4).map_or(0, |b| u32::from_ne_bytes(b.try_into().expect("4 bytes")))
        };
        let i64_at = |d: &[u8], at: usize| -> i64 {
            d.get(at..at + 8).map_or(0, |b| i64::from_ne_bytes(b.try_into().expect("8 bytes")))
        };
        raw.iter()
            .map(|c| match (c.level, c.kind) {
                // linux/tcp.h: TCP_CM_INQ is TCP_INQ (36).
                (libc::SOL_TCP, 36) => Cmsg::Inq(i64::from(int(&c.data, 0) as i32)),
                (libc::SOL_SOCKET, libc::SO_TIMESTAMPING) => {
                    // struct scm_timestamping: ts[0] is the software stamp.
                    let (sec, nsec) = (i64_at(&c.data, 0), i64_at(&c.data, 8));
                    let real_us = sec * 1_000_000 + nsec / 1000;
                    let base =
                        self.epoch_real.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
                    Cmsg::Timestamping(Some(real_us - base))
                }
                (libc::SOL_IP, libc::IP_RECVERR) | (libc::SOL_IPV6, libc::IPV6_RECVERR) => {
                    let d = &c.data;
                    let b = |i: usize| d.get(i).copied().unwrap_or(0);
                    Cmsg::RecvErr(ExtErr {
                        errno: int(d, 0),
                        origin: b(4),
                        kind: b(5),
                        code: b(6),
                        info: int(d, 8),
                        data: int(d, 12),
                    })
                }
                // SCM_TIMESTAMPING_OPT_STATS: netlink attributes, each a
                // u8, u32 or u64 by its length.
                (libc::SOL_SOCKET, 54) => {
                    let mut attrs = Vec::new();
                    let mut d = &c.data[..];
                    while d.len() >= 4 {
                        let len = usize::from(u16::from_ne_bytes([d[0], d[1]]));
                        let ty = u16::from_ne_bytes([d[2], d[3]]) & 0x3fff;
                        if len < 4 || len > d.len() {
                            break;
                        }
                        let v = &d[4..len];
                        let value = match v.len() {
                            1 => u64::from(v[0]),
                            2 => u64::from(u16::from_ne_bytes([v[0], v[1]])),
                            4 => u64::from(u32::from_ne_bytes(v.try_into().expect("4 octets"))),
                            8 => u64::from_ne_bytes(v.try_into().expect("8 octets")),
                            _ => 0,
                        };
                        attrs.push((crate::script::call::opt_stat_name(ty), Some(value)));
                        d = &d[len.next_multiple_of(4).min(d.len())..];
                    }
                    Cmsg::OptStats(attrs)
                }
                (level, kind) => Cmsg::Other { level, kind, len: c.data.len() },
            })
            .collect()
    }

    fn drain(&mut self) -> Result<(), TargetError> {
        self.wire.drain()
    }

    fn sock(&self, fd: i32) -> Result<&Sock, std::io::Error> {
        self.socks.get(&fd).ok_or_else(|| std::io::Error::from_raw_os_error(libc::EBADF))
    }

    /// A socket the script left blocking (its calls are made for real).
    fn is_blocking(&self, fd: i32) -> bool {
        self.socks.get(&fd).is_some_and(|s| s.blocking)
    }

    /// The lowest number no socket, epoll instance or pipe end has.
    fn free_number(&self) -> i32 {
        (3..)
            .find(|f| !self.socks.contains_key(f) && !self.epolls.contains_key(f) && !self.pipes.contains_key(f))
            .expect("a free number")
    }

    /// A socket's or pipe end's descriptor.
    fn raw_any(&self, fd: i32) -> Result<std::os::fd::RawFd, std::io::Error> {
        use std::os::fd::AsRawFd;
        match (self.socks.get(&fd), self.pipes.get(&fd)) {
            (Some(s), _) => Ok(s.s.as_raw_fd()),
            (None, Some(p)) => Ok(p.as_raw_fd()),
            _ => Err(std::io::Error::from_raw_os_error(libc::EBADF)),
        }
    }

    fn raw(&self, fd: i32) -> Result<std::os::fd::RawFd, TargetError> {
        use std::os::fd::AsRawFd;
        self.socks
            .get(&fd)
            .map(|s| s.s.as_raw_fd())
            .ok_or_else(|| TargetError::Unsupported(format!("fd {fd} is not open")))
    }

    fn add(&mut self, s: Socket) -> i64 {
        let fd = self.free_number();
        self.socks.insert(fd, Sock { s, blocking: true, cloexec: false });
        i64::from(fd)
    }

    fn revents(&self, fd: i32, events: u32) -> Result<u32, std::io::Error> {
        let s = self.sock(fd)?;
        // The language's bits are Linux's (pollbits), passed as they are.
        // libc's poll, not nix's: nix's `revents()` gives None for a bit it
        // does not name (POLLRDHUP), which would read as "nothing ready".
        let events = (events & pollbits::ALL.iter().fold(0, |m, b| m | b.0)) as i16;
        let mut pfd = libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(&s.s), events, revents: 0 };
        // SAFETY: one live pollfd, count 1, timeout 0 (never sleeps).
        #[allow(unsafe_code)]
        let rc = unsafe { libc::poll(&mut pfd, 1, 0) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(u32::from(pfd.revents as u16))
    }

    /// Starts a call on a blocking socket for real; `WouldBlock` while it
    /// sleeps in the kernel.
    fn start_blocking(&mut self, job: Job, accept: bool) -> Result<CallOutcome, TargetError> {
        if self.syscalls.is_none() {
            self.syscalls = Some(
                SyscallThread::spawn().map_err(|e| TargetError::Setup(format!("starting the syscall thread: {e}")))?,
            );
        }
        let mut t = self.syscalls.take().expect("just made");
        let mut drained = Ok(());
        let r = t.start(job, &mut || {
            if drained.is_ok() {
                drained = self.drain();
            }
        });
        self.syscalls = Some(t);
        drained?;
        match r {
            Ok(Some(r)) => self.blocking_done(r, accept),
            Ok(None) => Ok(CallOutcome::WouldBlock),
            Err(e) => done(Err(e)),
        }
    }

    /// Collects a blocking call's result if it has returned.
    fn blocking_settle(&mut self, accept: bool) -> Result<CallOutcome, TargetError> {
        let Some(mut t) = self.syscalls.take() else { return Ok(CallOutcome::WouldBlock) };
        let mut drained = Ok(());
        let r = t.settle(&mut || {
            if drained.is_ok() {
                drained = self.drain();
            }
        });
        self.syscalls = Some(t);
        drained?;
        match r {
            Some(r) => self.blocking_done(r, accept),
            None => Ok(CallOutcome::WouldBlock),
        }
    }

    /// A blocking call's result (an accepted descriptor becomes a socket).
    fn blocking_done(&mut self, (at, r): Outcome, accept: bool) -> Result<CallOutcome, TargetError> {
        self.returned_at = Some(at.saturating_duration_since(self.wire.epoch));
        match r {
            Ok(nfd) if accept => {
                // SAFETY: accept4 returned this descriptor, owned by nobody else.
                #[allow(unsafe_code)]
                let ns = unsafe { <Socket as std::os::fd::FromRawFd>::from_raw_fd(nfd as i32) };
                done(Ok(self.add(ns)))
            }
            Ok(n) => match self.recv_into.take() {
                // A blocking read: the octets it returned.
                Some(got) => {
                    let got = std::mem::take(&mut *got.lock().unwrap_or_else(|p| p.into_inner()));
                    Ok(CallOutcome::Done { ret: CallValue::Value(n), out: Some(CallValue::Bytes(got)) })
                }
                None => done(Ok(n)),
            },
            other => {
                self.recv_into = None;
                done(other)
            }
        }
    }

    fn opt_num(opt: OptName) -> Option<(i32, i32)> {
        Some(match opt {
            OptName::NoDelay => (libc::IPPROTO_TCP, libc::TCP_NODELAY),
            OptName::KeepAlive => (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
            OptName::KeepIdle => (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
            OptName::KeepIntvl => (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
            OptName::KeepCnt => (libc::IPPROTO_TCP, libc::TCP_KEEPCNT),
            OptName::MaxSeg => (libc::IPPROTO_TCP, libc::TCP_MAXSEG),
            OptName::RcvBuf => (libc::SOL_SOCKET, libc::SO_RCVBUF),
            OptName::SndBuf => (libc::SOL_SOCKET, libc::SO_SNDBUF),
            OptName::UserTimeout => (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT),
            OptName::ReuseAddr => (libc::SOL_SOCKET, libc::SO_REUSEADDR),
            OptName::ReusePort => (libc::SOL_SOCKET, libc::SO_REUSEPORT),
            OptName::Linger | OptName::Error => return None,
        })
    }
}

impl Target for LinuxTarget {
    fn kind(&self) -> TargetKind {
        TargetKind::Linux
    }

    /// The kernel's timers are not visible: poll every 2 ms of real time.
    fn next_wakeup(&mut self) -> Option<Duration> {
        Some(self.elapsed() + Duration::from_millis(2))
    }

    fn now(&self) -> Duration {
        self.elapsed()
    }

    fn clock(&self) -> Clock {
        // The kernel's timer wheel rounds a timer up by up to 1/8 of its length
        // (measured on this machine: harness/tests/interop.rs).
        Clock::Real { slack_percent: 12.5, tick: jiffy() }
    }

    fn info(&self) -> Vec<(String, String)> {
        self.info.clone()
    }

    fn advance(&mut self, t: Duration) -> Result<(), TargetError> {
        self.wire.advance(t)
    }

    fn descheduled(&self, from: Duration, to: Duration) -> Duration {
        self.wire.descheduled(from, to)
    }

    fn next_packet(&mut self, deadline: Duration) -> Result<Option<(Duration, IpPacket)>, TargetError> {
        self.wire.next_packet(deadline)
    }

    // inject, inject_icmp and call read what the kernel sent in answer
    // before they return, so those packets carry the step's time, not the
    // time the engine next looked (see `Run::step_end` in the engine).

    fn inject(&mut self, what: Inject<'_>) -> Result<(), TargetError> {
        match (what, self.in_gso) {
            (Inject::Tcp { pkt, wire }, Some(size)) => {
                self.wire.link.send_gso(wire, size, pkt.ip.is_v6()).map_err(|e| {
                    TargetError::Setup(format!("writing to the {} transport: {e}", self.wire.link.name()))
                })?;
            }
            (Inject::Tcp { wire, .. } | Inject::Icmp { wire }, _) => self.wire.send(wire)?,
        }
        self.drain()
    }

    fn call(&mut self, call: &TargetCall) -> Result<CallOutcome, TargetError> {
        self.returned_at = None;
        let out = match call {
            TargetCall::Socket { ipv6 } => {
                let d = if *ipv6 { Domain::IPV6 } else { Domain::IPV4 };
                match Socket::new(d, Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP)) {
                    Ok(s) => {
                        if let Some(cc) = &self.congestion {
                            sys::setsockopt_bytes(s.as_fd(), libc::IPPROTO_TCP, libc::TCP_CONGESTION, cc.as_bytes())
                                .map_err(|e| TargetError::Setup(format!("congestion: {cc}: TCP_CONGESTION: {e}")))?;
                        }
                        done(Ok(self.add(s)))
                    }
                    Err(e) => done(Err(e)),
                }
            }
            TargetCall::Bind { fd, addr } => {
                done(self.sock(*fd).and_then(|s| s.s.bind(&SockAddr::from(*addr))).map(|_| 0))
            }
            TargetCall::Listen { fd, backlog } => done(self.sock(*fd).and_then(|s| s.s.listen(*backlog)).map(|_| 0)),
            TargetCall::Accept { fd } if self.is_blocking(*fd) => {
                let raw = self.raw(*fd)?;
                self.start_blocking(Job::Accept { fd: raw }, true)
            }
            TargetCall::Connect { fd, addr } if self.is_blocking(*fd) => {
                let raw = self.raw(*fd)?;
                self.start_blocking(Job::Connect { fd: raw, addr: SockAddr::from(*addr) }, false)
            }
            TargetCall::Write { fd, data, oob: false, flags: extra, to } if self.is_blocking(*fd) => {
                let raw = self.raw(*fd)?;
                // TCP ignores the address of a connected socket; it is a
                // fast-open connect's destination.
                let to = to.filter(|_| *extra & MSG_FASTOPEN != 0).map(SockAddr::from);
                self.start_blocking(Job::Send { fd: raw, data: data.bytes().into_owned(), flags: *extra, to }, false)
            }
            TargetCall::Read { fd, len, peek, flags: extra } if self.is_blocking(*fd) => {
                let raw = self.raw(*fd)?;
                let flags = extra | if *peek { libc::MSG_PEEK } else { 0 };
                let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
                self.recv_into = Some(got.clone());
                self.start_blocking(Job::Recv { fd: raw, len: *len, flags, got }, false)
            }
            TargetCall::Accept { fd } => match self.sock(*fd).map(|s| (s.s.accept(), s.blocking)) {
                Ok((Ok((ns, _)), _)) => {
                    let _ = ns.set_nonblocking(true);
                    done(Ok(self.add(ns)))
                }
                Ok((Err(e), true)) if would_block(&e) => Ok(CallOutcome::WouldBlock),
                Ok((Err(e), _)) | Err(e) => done(Err(e)),
            },
            TargetCall::Connect { fd, addr } => {
                match self.sock(*fd).map(|s| (s.s.connect(&SockAddr::from(*addr)), s.blocking)) {
                    Ok((Ok(()), _)) => done(Ok(0)),
                    Ok((Err(e), true)) if would_block(&e) => Ok(CallOutcome::WouldBlock),
                    Ok((Err(e), _)) | Err(e) => done(Err(e)),
                }
            }
            TargetCall::Write { fd, data, oob, flags: extra, to } => {
                // MSG_NOSIGNAL: a write on a reset connection is EPIPE for
                // the script, not a SIGPIPE that kills the harness.
                let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT | extra | if *oob { libc::MSG_OOB } else { 0 };
                let to = to.filter(|_| *extra & MSG_FASTOPEN != 0);
                let bytes = data.bytes();
                let r = self
                    .sock(*fd)
                    .and_then(|s| match to {
                        Some(a) => s.s.send_to_with_flags(&bytes, &SockAddr::from(a), flags),
                        None => s.s.send_with_flags(&bytes, flags),
                    })
                    .map(|n| n as i64);
                // Owned (a copy) only where the kernel keeps the pages.
                if flags & libc::MSG_ZEROCOPY != 0 {
                    self.zerocopy_buffers.push(bytes.into_owned());
                }
                done(r)
            }
            TargetCall::Read { fd, len, peek, flags: extra } => {
                let mut buf = vec![MaybeUninit::<u8>::uninit(); (*len).max(1)];
                let flags = extra | if *peek { libc::MSG_PEEK } else { 0 };
                match self.sock(*fd).map(|s| (s.s.recv_with_flags(&mut buf[..*len], flags), s.blocking)) {
                    Ok((Ok(n), _)) => {
                        // SAFETY: recv initialised the first n octets.
                        #[allow(unsafe_code)]
                        let got = buf[..n.min(*len)].iter().map(|b| unsafe { b.assume_init() }).collect();
                        Ok(CallOutcome::Done { ret: CallValue::Value(n as i64), out: Some(CallValue::Bytes(got)) })
                    }
                    Ok((Err(e), true)) if would_block(&e) => Ok(CallOutcome::WouldBlock),
                    Ok((Err(e), _)) | Err(e) => done(Err(e)),
                }
            }
            TargetCall::Disconnect { fd } => {
                done(self.sock(*fd).and_then(|s| sys::connect_unspec(s.s.as_fd())).map(|_| 0))
            }
            TargetCall::Shutdown { fd, how } => {
                let h = match how {
                    reference_stack::Shutdown::Read => std::net::Shutdown::Read,
                    reference_stack::Shutdown::Write => std::net::Shutdown::Write,
                    reference_stack::Shutdown::Both => std::net::Shutdown::Both,
                };
                done(self.sock(*fd).and_then(|s| s.s.shutdown(h)).map(|_| 0))
            }
            TargetCall::Close { fd } => match (self.socks.remove(fd), self.epolls.remove(fd), self.pipes.remove(fd)) {
                (None, None, None) => done(Err(std::io::Error::from_raw_os_error(libc::EBADF))),
                _ => done(Ok(0)),
            },
            TargetCall::EpollCreate {} => {
                // SAFETY: epoll_create1 has no memory arguments; the result is a new descriptor we own.
                #[allow(unsafe_code)]
                let r = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
                if r < 0 {
                    done(Err(std::io::Error::last_os_error()))
                } else {
                    // SAFETY: r is a fresh descriptor owned by nobody else.
                    #[allow(unsafe_code)]
                    let owned = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(r) };
                    let n = self.free_number();
                    self.epolls.insert(n, owned);
                    done(Ok(i64::from(n)))
                }
            }
            TargetCall::EpollCtl { epfd, op, fd, events, data_fd, data } => {
                use std::os::fd::AsRawFd;
                match (self.epolls.get(epfd).map(|e| e.as_raw_fd()), self.socks.get(fd).map(|s| s.s.as_raw_fd())) {
                    (Some(ep), Some(raw)) => {
                        let mut ev = libc::epoll_event { events: *events, u64: data.unwrap_or(*data_fd as u64) };
                        // SAFETY: `ev` is live for the call; both descriptors are open.
                        #[allow(unsafe_code)]
                        let r = unsafe { libc::epoll_ctl(ep, *op, raw, &mut ev) };
                        done(if r < 0 { Err(std::io::Error::last_os_error()) } else { Ok(0) })
                    }
                    _ => done(Err(std::io::Error::from_raw_os_error(libc::EBADF))),
                }
            }
            TargetCall::EpollWait { epfd, max, timeout_ms } => {
                use std::os::fd::AsRawFd;
                match self.epolls.get(epfd).map(|e| e.as_raw_fd()) {
                    None => done(Err(std::io::Error::from_raw_os_error(libc::EBADF))),
                    Some(ep) => {
                        let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; (*max).clamp(1, 64) as usize];
                        // SAFETY: `evs` holds as many events as passed; timeout 0 never sleeps.
                        #[allow(unsafe_code)]
                        let n = unsafe { libc::epoll_wait(ep, evs.as_mut_ptr(), evs.len() as i32, 0) };
                        if n < 0 {
                            done(Err(std::io::Error::last_os_error()))
                        } else if n == 0 && *timeout_ms != 0 && {
                            let now = self.elapsed();
                            let until = *self.epoll_until.get_or_insert(if *timeout_ms > 0 {
                                now + Duration::from_millis(*timeout_ms as u64)
                            } else {
                                Duration::MAX
                            });
                            until > now
                        } {
                            Ok(CallOutcome::WouldBlock)
                        } else {
                            self.epoll_until = None;
                            let out = (n > 0).then(|| {
                                let (events, data) = (evs[0].events, evs[0].u64);
                                CallValue::Event { events, data }
                            });
                            Ok(CallOutcome::Done { ret: CallValue::Value(i64::from(n)), out })
                        }
                    }
                }
            }
            TargetCall::SetSockOpt { fd, opt, value } => {
                let r = self.sock(*fd).and_then(|s| match (opt, Self::opt_num(*opt)) {
                    (OptName::Linger, _) => s.s.set_linger(Some(Duration::from_secs(*value as u64))),
                    (_, Some((level, name))) => sys::setsockopt_int(s.s.as_fd(), level, name, *value as i32),
                    _ => Err(std::io::Error::from_raw_os_error(libc::ENOPROTOOPT)),
                });
                done(r.map(|_| 0))
            }
            TargetCall::SetCongestion { fd, algo } => done(
                self.sock(*fd)
                    .and_then(|s| {
                        sys::setsockopt_bytes(s.s.as_fd(), libc::IPPROTO_TCP, libc::TCP_CONGESTION, algo.as_bytes())
                    })
                    .map(|_| 0),
            ),
            TargetCall::GetSockOpt { fd, opt } => {
                let v = self.sock(*fd).and_then(|s| match (opt, Self::opt_num(*opt)) {
                    (OptName::Error, _) => Ok(match s.s.take_error()? {
                        // Unreachable: every Linux errno (1 to 133) has a name in errno.rs.
                        Some(e) => CallValue::Error(errno_of(&e).unwrap_or(Errno::EINVAL)),
                        None => CallValue::Value(0),
                    }),
                    (OptName::Linger, _) => Ok(CallValue::Value(s.s.linger()?.map_or(0, |d| d.as_secs() as i64))),
                    (_, Some((level, name))) => {
                        sys::getsockopt_int(s.s.as_fd(), level, name).map(|v| CallValue::Value(i64::from(v)))
                    }
                    _ => Err(std::io::Error::from_raw_os_error(libc::ENOPROTOOPT)),
                });
                match v {
                    Ok(v) => Ok(CallOutcome::Done { ret: CallValue::Value(0), out: Some(v) }),
                    Err(e) => done(Err(e)),
                }
            }
            TargetCall::LinuxOpt { fd, get: false, level, name, value, .. } => done(
                self.sock(*fd).and_then(|s| sys::setsockopt_int(s.s.as_fd(), *level, *name, *value as i32)).map(|_| 0),
            ),
            TargetCall::LinuxOpt { fd, get: true, level, name, .. } => {
                match self.sock(*fd).and_then(|s| sys::getsockopt_int(s.s.as_fd(), *level, *name)) {
                    // Linux's unsigned values (TCP_NOTSENT_LOWAT's 0xffffffff) read as written.
                    Ok(v) => Ok(CallOutcome::Done {
                        ret: CallValue::Value(0),
                        out: Some(CallValue::Value(i64::from(v as u32))),
                    }),
                    Err(e) => done(Err(e)),
                }
            }
            TargetCall::GetOptBytes { fd, level, name, len, .. } => {
                match self.sock(*fd).and_then(|s| sys::getsockopt_bytes(s.s.as_fd(), *level, *name, *len)) {
                    Ok(v) => Ok(CallOutcome::Done { ret: CallValue::Value(0), out: Some(CallValue::Bytes(v)) }),
                    Err(e) => done(Err(e)),
                }
            }
            TargetCall::Ioctl { fd, request, .. } => {
                let r = self.raw(*fd).map_err(|_| std::io::Error::from_raw_os_error(libc::EBADF)).and_then(|raw| {
                    let mut v: libc::c_int = 0;
                    // SAFETY: these ioctls write one int through the pointer, which is live.
                    #[allow(unsafe_code)]
                    let rc = unsafe { libc::ioctl(raw, *request as libc::Ioctl, &mut v as *mut libc::c_int) };
                    if rc < 0 {
                        Err(std::io::Error::last_os_error())
                    } else {
                        Ok(v)
                    }
                });
                match r {
                    Ok(v) => {
                        Ok(CallOutcome::Done { ret: CallValue::Value(0), out: Some(CallValue::Value(i64::from(v))) })
                    }
                    Err(e) => done(Err(e)),
                }
            }
            TargetCall::SetNonBlocking { fd, on } => match self.socks.get_mut(fd) {
                Some(s) => {
                    s.blocking = !on;
                    done(Ok(0))
                }
                None => done(Err(std::io::Error::from_raw_os_error(libc::EBADF))),
            },
            // The kernel's flags (O_RDWR, O_APPEND), with O_NONBLOCK as the
            // script set it: the harness keeps every socket non-blocking.
            TargetCall::GetFl { fd } => done(self.sock(*fd).and_then(|s| {
                let real = sys::fcntl(s.s.as_fd(), libc::F_GETFL, 0)?;
                Ok((real & !O_NONBLOCK) | if s.blocking { 0 } else { O_NONBLOCK })
            })),
            TargetCall::Fcntl { fd, cmd, arg, .. } => {
                let Some(s) = self.socks.get_mut(fd) else {
                    return done(Err(std::io::Error::from_raw_os_error(libc::EBADF)));
                };
                match *cmd {
                    libc::F_SETFL => {
                        let r = sys::fcntl(s.s.as_fd(), libc::F_SETFL, arg | O_NONBLOCK);
                        if r.is_ok() {
                            s.blocking = arg & O_NONBLOCK == 0;
                        }
                        done(r)
                    }
                    libc::F_GETFD => done(Ok(i64::from(s.cloexec))),
                    libc::F_SETFD => {
                        s.cloexec = arg & i64::from(libc::FD_CLOEXEC) != 0;
                        done(Ok(0))
                    }
                    libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => match s.s.try_clone() {
                        Ok(dup) => {
                            let blocking = s.blocking;
                            let nfd = self.free_number();
                            let cloexec = *cmd == libc::F_DUPFD_CLOEXEC;
                            self.socks.insert(nfd, Sock { s: dup, blocking, cloexec });
                            done(Ok(i64::from(nfd)))
                        }
                        Err(e) => done(Err(e)),
                    },
                    // Owner, signal, lease, notify and (with a NULL pointer)
                    // lock commands: the kernel's answer as it is.
                    c => done(sys::fcntl(s.s.as_fd(), c, *arg)),
                }
            }
            TargetCall::SendMsg { fd, iov, flags, cmsgs } => {
                // Each buffer apart from the next (as separately allocated
                // buffers are): with MSG_ZEROCOPY the kernel merges
                // contiguous buffers into one fragment.
                let total: usize = iov.iter().map(|l| l + 8).sum();
                let data = crate::target::pattern(total);
                let mut bufs = Vec::with_capacity(iov.len());
                let mut at = 0;
                for l in iov {
                    bufs.push(&data[at..at + l]);
                    at += l + 8;
                }
                let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT | flags;
                let r =
                    self.sock(*fd).and_then(|s| sys::sendmsg_iov(s.s.as_fd(), &bufs, flags, cmsgs)).map(|n| n as i64);
                if flags & libc::MSG_ZEROCOPY != 0 {
                    self.zerocopy_buffers.push(data);
                }
                done(r)
            }
            TargetCall::RecvMsg { fd, len, flags } => {
                match self
                    .sock(*fd)
                    .map(|s| (sys::recvmsg_cmsg(s.s.as_fd(), *len, flags | libc::MSG_DONTWAIT), s.blocking))
                {
                    Ok((Ok((n, msg_flags, raw)), _)) => Ok(CallOutcome::Done {
                        ret: CallValue::Value(n as i64),
                        out: Some(CallValue::Msg { flags: msg_flags, cmsgs: self.cmsgs(&raw) }),
                    }),
                    // MSG_ERRQUEUE never blocks.
                    Ok((Err(e), true)) if would_block(&e) && flags & libc::MSG_ERRQUEUE == 0 => {
                        Ok(CallOutcome::WouldBlock)
                    }
                    Ok((Err(e), _)) | Err(e) => done(Err(e)),
                }
            }
            TargetCall::LinuxOptBytes { fd, level, name, value, len, .. } => {
                let mut v = value.clone();
                v.resize(*len, 0);
                done(self.sock(*fd).and_then(|s| sys::setsockopt_bytes(s.s.as_fd(), *level, *name, &v)).map(|_| 0))
            }
            TargetCall::Pipe {} => match sys::pipe() {
                Ok((r, w)) => {
                    let a = self.free_number();
                    self.pipes.insert(a, r);
                    let b = self.free_number();
                    self.pipes.insert(b, w);
                    Ok(CallOutcome::Done { ret: CallValue::Value(0), out: Some(CallValue::Pair(a, b)) })
                }
                Err(e) => done(Err(e)),
            },
            TargetCall::Splice { fd_in, fd_out, len, flags } if self.is_blocking(*fd_in) => {
                match self.raw_any(*fd_out) {
                    Ok(out) => {
                        let raw = self.raw(*fd_in)?;
                        self.start_blocking(Job::Splice { fd: raw, out, len: *len, flags: *flags }, false)
                    }
                    Err(e) => done(Err(e)),
                }
            }
            TargetCall::Splice { fd_in, fd_out, len, flags } => done(
                self.raw_any(*fd_in)
                    .and_then(|i| self.raw_any(*fd_out).map(|o| (i, o)))
                    .and_then(|(i, o)| sys::splice(i, o, *len, *flags))
                    .map(|n| n as i64),
            ),
            TargetCall::SendToUnspec { fd, data, flags } => {
                let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT | flags;
                done(
                    self.sock(*fd)
                        .and_then(|s| sys::sendto_unspec(s.s.as_fd(), &data.bytes(), flags))
                        .map(|n| n as i64),
                )
            }
            TargetCall::NullBuffer { fd, write, len, flags, to } => {
                let to = to.map(SockAddr::from);
                let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT | flags;
                done(
                    self.sock(*fd)
                        .and_then(|s| sys::null_buffer_call(s.s.as_fd(), *write, *len, flags, to.as_ref()))
                        .map(|n| n as i64),
                )
            }
            TargetCall::Poll { fd, events, timeout_ms } => match self.revents(*fd, *events) {
                Ok(0) if *timeout_ms != 0 => {
                    self.poll_until =
                        (*timeout_ms > 0).then(|| self.elapsed() + Duration::from_millis(*timeout_ms as u64));
                    Ok(CallOutcome::WouldBlock)
                }
                Ok(m) => Ok(CallOutcome::Done { ret: CallValue::Events(m), out: None }),
                Err(e) => done(Err(e)),
            },
        };
        self.drain()?;
        out
    }

    fn retry(&mut self, call: &TargetCall) -> Result<CallOutcome, TargetError> {
        self.returned_at = None;
        let out = match call {
            TargetCall::Accept { .. }
            | TargetCall::Connect { .. }
            | TargetCall::Write { .. }
            | TargetCall::Read { .. }
            | TargetCall::Splice { .. }
                if self.syscalls.as_ref().is_some_and(SyscallThread::busy) =>
            {
                self.blocking_settle(matches!(call, TargetCall::Accept { .. }))
            }
            TargetCall::Connect { fd, .. } => match self.revents(*fd, pollbits::POLLOUT) {
                Ok(m) if m & (pollbits::POLLOUT | pollbits::POLLERR | pollbits::POLLHUP) != 0 => {
                    match self.sock(*fd).and_then(|s| s.s.take_error()) {
                        Ok(Some(e)) => done(Err(e)),
                        Ok(None) => done(Ok(0)),
                        Err(e) => done(Err(e)),
                    }
                }
                Ok(_) => Ok(CallOutcome::WouldBlock),
                Err(e) => done(Err(e)),
            },
            TargetCall::Poll { fd, events, .. } => match self.revents(*fd, *events) {
                Ok(0) if self.poll_until.is_none_or(|t| self.elapsed() < t) => Ok(CallOutcome::WouldBlock),
                Ok(m) => Ok(CallOutcome::Done { ret: CallValue::Events(m), out: None }),
                Err(e) => done(Err(e)),
            },
            other => self.call(other),
        };
        self.drain()?;
        out
    }

    fn state(&mut self, fd: Option<i32>, conn: FourTuple) -> Result<State, TargetError> {
        match fd {
            Some(fd) => Ok(match self.socks.get(&fd) {
                Some(s) => sys::tcp_info_fields(s.s.as_fd())
                    .ok()
                    .and_then(|i| i.get("state").copied())
                    .map_or(State::Closed, |st| tcp_states::from_linux(st as u8)),
                None => State::Closed,
            }),
            None => netlink::tcp_socket_state(conn.local, conn.remote)
                .map(|d| d.map_or(State::Closed, |d| tcp_states::from_linux(d.state)))
                .map_err(|e| TargetError::Setup(format!("sock_diag: {e}"))),
        }
    }

    fn host(&mut self) -> Option<&mut dyn Host> {
        Some(self)
    }

    fn tcp_info(&mut self, fd: i32) -> Result<BTreeMap<&'static str, i64>, TargetError> {
        let s = self.socks.get(&fd).ok_or_else(|| TargetError::Unsupported(format!("fd {fd} is not open")))?;
        sys::tcp_info_fields(s.s.as_fd()).map_err(|e| TargetError::Setup(format!("TCP_INFO: {e}")))
    }

    fn returned_at(&mut self) -> Option<Duration> {
        self.returned_at.take()
    }
}

impl Host for LinuxTarget {
    fn shell(&mut self, cmd: &str) -> Result<(), TargetError> {
        // The child inherits this thread's network namespace: the run's own.
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| TargetError::Setup(format!("running sh: {e}")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(TargetError::Violation(format!(
                "shell command failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    fn sysctl(&mut self, key: &str, value: &str) -> Result<(), TargetError> {
        self.ns.sysctl(key, value).map_err(|e| TargetError::Setup(e.to_string()))
    }

    fn qdisc(&mut self, q: &Qdisc) -> Result<(), TargetError> {
        self.ns.root_qdisc(self.dev, q).map_err(|e| TargetError::Setup(e.to_string()))
    }

    fn route(&mut self, r: &RouteMetrics) -> Result<(), TargetError> {
        self.ns.route_metrics(self.dev, self.remote, r).map_err(|e| TargetError::Setup(e.to_string()))
    }

    fn tcp_metrics_flush(&mut self) -> Result<(), TargetError> {
        self.ns.tcp_metrics_flush().map_err(|e| TargetError::Setup(e.to_string()))
    }

    fn sources(&mut self, addrs: &[IpAddr]) -> Result<(), TargetError> {
        // On TUN every address of the script's network is routed to the
        // device; a veth pair needs each one's neighbour entry (the
        // harness's MAC), as the script's own has.
        if self.dev != "veth0" {
            return Ok(());
        }
        for a in addrs.iter().filter(|a| **a != self.remote) {
            if self.neighbours.insert(*a) {
                self.ns.neigh_add("veth0", *a, MAC_HARNESS).map_err(|e| TargetError::Setup(e.to_string()))?;
            }
        }
        Ok(())
    }

    fn counters(&mut self) -> Result<BTreeMap<String, i64>, TargetError> {
        let now = sys::net_counters().map_err(|e| TargetError::Setup(format!("reading /proc/net's counters: {e}")))?;
        let delta = now.iter().map(|(k, v)| (k.clone(), v - self.counters_base.get(k).copied().unwrap_or(0))).collect();
        self.counters_base = now;
        Ok(delta)
    }
}
