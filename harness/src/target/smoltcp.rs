//! smoltcp (the crates.io release this workspace pins) as a [`StackAdapter`]:
//! an `Interface` on an IP-medium device whose queues the harness fills and
//! drains, in virtual time.
//!
//! What maps, and what cannot (docs/adding-a-stack.md has the table):
//! - A smoltcp TCP socket listens and then becomes the connection itself, so
//!   `listen(fd, backlog)` keeps a pool of `backlog` listening sockets on the
//!   port (at least one); `accept` hands out one that has completed the
//!   handshake and puts a fresh listener in its place. Closing the listener
//!   aborts the connections not yet accepted (a RST each, as Linux does).
//! - Buffer sizes (`SO_RCVBUF`, `SO_SNDBUF`) apply when the smoltcp socket
//!   is made (`listen` or `connect`): 65535 octets each by default.
//! - `TCP_NODELAY` is Nagle off; `SO_KEEPALIVE` with `TCP_KEEPIDLE` (or
//!   75 s) is smoltcp's keep-alive interval; `TCP_USER_TIMEOUT` is its
//!   timeout. `TCP_KEEPINTVL`, `TCP_KEEPCNT`, `TCP_MAXSEG` have no smoltcp
//!   counterpart: `ENOPROTOOPT`.
//! - smoltcp does not say why a connection closed; a synchronized one that
//!   reaches CLOSED other than from LAST-ACK or TIME-WAIT was reset
//!   (`ECONNRESET`) if a RST for it came in during that poll, else it timed
//!   out (`ETIMEDOUT`); a SYN-SENT one, or a SYN-RECEIVED one reached from
//!   SYN-SENT (simultaneous open), was refused (`ECONNREFUSED`). The error
//!   is reported once, as Linux's `SO_ERROR`.
//! - Timestamps (RFC 7323) are on: smoltcp takes a TSval generator, a plain
//!   `fn() -> u32`, which here reads the virtual clock (milliseconds) from
//!   a thread-local the adapter sets before every poll.
//! - No urgent data (smoltcp ignores the urgent pointer), no ICMP errors
//!   for TCP, no `shutdown(SHUT_RD)` on the wire (it is kept here: reads
//!   return end of stream).

use super::adapter::{SocketApi, StackAdapter};
use reference_stack::{Errno, Fd, FourTuple, PollEvents, Shutdown, SockOpt, SockOptName, State};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration as SDuration, Instant as SInstant};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint, IpListenEndpoint};
use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The version linked, for reports.
pub const VERSION: &str = "smoltcp 0.14.0";

/// Default buffer sizes (octets).
const BUFFER: usize = 65_535;

/// The most datagrams the device queues (one more than the harness takes
/// at one instant, `SAME_INSTANT`).
const TX_MAX: usize = super::adapter::SAME_INSTANT as usize + 1;

/// The device: datagrams the harness gives, datagrams smoltcp sends.
#[derive(Default)]
struct Queues {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
    again: Again,
}

/// How often smoltcp sent the same segment again since it last took a
/// datagram, at one instant.
#[derive(Default)]
struct Again {
    at: Option<SInstant>,
    /// Datagrams taken at `at`.
    taken: u32,
    times: u32,
    last: Vec<u8>,
}

impl Again {
    fn now(&mut self, t: SInstant) {
        if self.at != Some(t) {
            self.at = Some(t);
            self.taken = 0;
            self.times = 0;
            self.last.clear();
        }
    }

    fn sent(&mut self, d: &[u8]) {
        let seg = super::adapter::segment_part(d);
        if !self.last.is_empty() && seg == super::adapter::segment_part(&self.last) {
            self.times += 1;
        } else {
            self.times = 0;
            self.last.clear();
            self.last.extend_from_slice(d);
        }
    }

    /// smoltcp sends the same segment again and again with nothing taken
    /// in between: a livelock. Past what the harness allows (`REPEATS`
    /// beyond one answer to each datagram given at this instant), so the
    /// harness sees it and says so.
    fn stuck(&self) -> bool {
        self.times > super::adapter::REPEATS + self.taken + 1
    }
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut VecDeque<Vec<u8>>, &'a mut Again);

impl smoltcp::phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl smoltcp::phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        self.1.sent(&buf);
        self.0.push_back(buf);
        r
    }
}

impl Device for Queues {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, t: SInstant) -> Option<(Rx, Tx<'_>)> {
        let d = self.rx.pop_front()?;
        self.again.now(t);
        self.again.taken += 1;
        self.again.times = 0;
        self.again.last.clear();
        Some((Rx(d), Tx(&mut self.tx, &mut self.again)))
    }

    fn transmit(&mut self, t: SInstant) -> Option<Tx<'_>> {
        // A poll loops until its sockets have nothing more to send: one
        // that always has (a livelock) would never return, so the device
        // refuses once smoltcp sends the same segment again past what the
        // harness takes for one (`Again::stuck`), or is full past what the
        // harness takes at one instant; the poll ends and the harness
        // reports it.
        self.again.now(t);
        (self.tx.len() <= TX_MAX && !self.again.stuck()).then_some(Tx(&mut self.tx, &mut self.again))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = 1500;
        c
    }
}

/// Socket options kept for a socket smoltcp has not made yet, and applied
/// when it does.
#[derive(Clone, Copy, Debug)]
struct Opts {
    nodelay: bool,
    keepalive: bool,
    keep_idle: u32,
    user_timeout: u32,
    rcvbuf: u32,
    sndbuf: u32,
    linger: Option<u32>,
    reuseaddr: bool,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            nodelay: false,
            keepalive: false,
            keep_idle: 75,
            user_timeout: 0,
            rcvbuf: BUFFER as u32,
            sndbuf: BUFFER as u32,
            linger: None,
            reuseaddr: false,
        }
    }
}

enum Kind {
    /// socket() and maybe bind(): no smoltcp socket yet.
    Fresh {
        bound: Option<SocketAddr>,
    },
    /// Up to `backlog` smoltcp sockets on the port, each listening or
    /// taken by a connection not yet accepted. The pool grows as SYNs take
    /// its listeners (one more whenever none is left listening), rather
    /// than being made whole at `listen`: the same answers, as datagrams
    /// reach smoltcp one per poll, without the buffers of sockets that
    /// never get a SYN.
    Listener {
        addr: SocketAddr,
        pool: Vec<SocketHandle>,
        backlog: usize,
    },
    Conn {
        handle: SocketHandle,
        read_shut: bool,
    },
}

struct Sock {
    kind: Kind,
    opts: Opts,
    ipv6: bool,
}

pub struct Smoltcp {
    iface: Interface,
    dev: Queues,
    sockets: SocketSet<'static>,
    fds: BTreeMap<Fd, Sock>,
    local: IpAddr,
    /// What each smoltcp socket was at the last look, and the error its
    /// end left (read once, as SO_ERROR).
    seen: BTreeMap<SocketHandle, Seen>,
    /// The connections a RST came in for since the last look: (remote,
    /// local port).
    rsts: Vec<(SocketAddr, u16)>,
    /// Sockets shut for writing before they were synchronized: smoltcp
    /// can only abort there, so their FIN waits for ESTABLISHED (as BSD
    /// queues it).
    fin_pending: Vec<SocketHandle>,
    errors: BTreeMap<SocketHandle, Errno>,
    next_port: u16,
    /// The socket buffers this instance lent its sockets (see `SPARE`).
    lent: Vec<*mut [u8]>,
    /// How many sockets were seen synchronized so far (`Seen::synced_order`).
    syncs: u64,
    /// The instant of the last `run`, when nothing changed since: every
    /// change (a datagram in, a call) ends in a `run`, and a poll loops
    /// until nothing more goes out, so polling again at that instant
    /// would send nothing (`transmit` skips it).
    settled: Option<Duration>,
}

thread_local! {
    /// Socket buffers of instances dropped on this thread, for the next
    /// ones: a differential campaign makes a fresh instance per case, and
    /// zeroing two new 64 KiB buffers per socket was 11 % of its time.
    static SPARE: std::cell::RefCell<Vec<Box<[u8]>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// How many spare buffers a thread keeps.
const SPARE_MAX: usize = 64;

/// A buffer of `len` octets for a socket of this instance, lent until the
/// instance is dropped. What an earlier socket left in it is never read:
/// smoltcp's ring buffers hand out only octets written since.
fn lend(lent: &mut Vec<*mut [u8]>, len: usize) -> &'static mut [u8] {
    let buf = SPARE
        .with(|s| {
            let mut s = s.borrow_mut();
            let i = s.iter().position(|b| b.len() == len)?;
            Some(s.swap_remove(i))
        })
        .unwrap_or_else(|| vec![0u8; len].into_boxed_slice());
    let p = Box::into_raw(buf);
    lent.push(p);
    // SAFETY: `p` comes from `Box::into_raw` and is given to exactly one
    // socket, which lives in this instance's socket set; `Drop` below drops
    // every socket before it takes the buffer back.
    #[allow(unsafe_code)]
    unsafe {
        &mut *p
    }
}

impl Drop for Smoltcp {
    fn drop(&mut self) {
        // Every socket (the only holders of the lent buffers) goes first.
        self.sockets = SocketSet::new(Vec::new());
        let lent = std::mem::take(&mut self.lent);
        SPARE.with(|s| {
            let mut s = s.borrow_mut();
            for p in lent {
                // SAFETY: `p` came from `Box::into_raw` in `lend` and its
                // socket is gone (above, or removed from the set earlier).
                #[allow(unsafe_code)]
                let b = unsafe { Box::from_raw(p) };
                if s.len() < SPARE_MAX {
                    s.push(b);
                }
            }
        });
    }
}

/// A socket as the adapter last saw it: its state, its endpoints while it
/// had them (smoltcp forgets them on a reset), and whether it came from
/// SYN-SENT (an active open, so a reset in SYN-RECEIVED is a refusal).
#[derive(Clone, Copy, Debug)]
struct Seen {
    state: State,
    ends: Option<(SocketAddr, SocketAddr)>,
    active: bool,
    /// It has been synchronized (ESTABLISHED or later) at some look.
    synced: bool,
    /// When it was first seen synchronized (the adapter's count of such
    /// looks; 0 never): accept() hands out connections in this order, as a
    /// listen queue does.
    synced_order: u64,
}

impl Seen {
    fn new(state: State) -> Seen {
        Seen { state, ends: None, active: false, synced: false, synced_order: 0 }
    }
}

thread_local! {
    /// The virtual clock in milliseconds, for [`tsval`]: smoltcp's TSval
    /// generator is a plain `fn() -> u32` and has no other way to read it.
    static CLOCK_MS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// TSval: the virtual clock at 1 ms per tick (RFC 7323 5.4 allows 1 ms
/// to 1 s).
fn tsval() -> u32 {
    CLOCK_MS.with(|c| c.get())
}

/// (remote, local port) of a TCP segment with RST set, if `datagram` is one.
fn rst_of(datagram: &[u8]) -> Option<(SocketAddr, u16)> {
    use smoltcp::wire::{IpProtocol, Ipv4Packet, Ipv6Packet, TcpPacket};
    let (src, payload): (IpAddr, &[u8]) = match datagram.first()? >> 4 {
        4 => {
            let p = Ipv4Packet::new_checked(datagram).ok()?;
            if p.next_header() != IpProtocol::Tcp {
                return None;
            }
            let hl = usize::from(p.header_len());
            (IpAddr::V4(p.src_addr()), datagram.get(hl..usize::from(p.total_len()))?)
        }
        6 => {
            let p = Ipv6Packet::new_checked(datagram).ok()?;
            if p.next_header() != IpProtocol::Tcp {
                return None;
            }
            (IpAddr::V6(p.src_addr()), datagram.get(40..)?)
        }
        _ => return None,
    };
    let t = TcpPacket::new_checked(payload).ok()?;
    t.rst().then(|| (SocketAddr::new(src, t.src_port()), t.dst_port()))
}

fn at(d: Duration) -> SInstant {
    SInstant::from_micros(d.as_micros() as i64)
}

fn state_of(s: tcp::State) -> State {
    match s {
        tcp::State::Closed => State::Closed,
        tcp::State::Listen => State::Listen,
        tcp::State::SynSent => State::SynSent,
        tcp::State::SynReceived => State::SynReceived,
        tcp::State::Established => State::Established,
        tcp::State::FinWait1 => State::FinWait1,
        tcp::State::FinWait2 => State::FinWait2,
        tcp::State::CloseWait => State::CloseWait,
        tcp::State::Closing => State::Closing,
        tcp::State::LastAck => State::LastAck,
        tcp::State::TimeWait => State::TimeWait,
    }
}

impl Smoltcp {
    /// A stack owning `local` (the script's stack address), reaching every
    /// other address directly over the device.
    pub fn new(local: IpAddr) -> Smoltcp {
        let mut dev = Queues::default();
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = 1;
        let mut iface = Interface::new(config, &mut dev, SInstant::ZERO);
        let (prefix, gw): (u8, IpAddr) = match local {
            IpAddr::V4(v) => (24, IpAddr::V4(std::net::Ipv4Addr::from(u32::from(v) & 0xffff_ff00 | 0xfe))),
            IpAddr::V6(v) => (64, IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v) & !0xffff_ffff_ffff_ffff | 0xfe))),
        };
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(IpAddress::from(local), prefix));
        });
        // Medium::Ip has no neighbours to find: a default route through any
        // address of the local network sends every other datagram out as is.
        match gw {
            IpAddr::V4(g) => {
                let _ = iface.routes_mut().add_default_ipv4_route(g);
            }
            IpAddr::V6(g) => {
                let _ = iface.routes_mut().add_default_ipv6_route(g);
            }
        }
        Smoltcp {
            iface,
            dev,
            sockets: SocketSet::new(Vec::new()),
            fds: BTreeMap::new(),
            local,
            seen: BTreeMap::new(),
            rsts: Vec::new(),
            fin_pending: Vec::new(),
            errors: BTreeMap::new(),
            next_port: 49152,
            lent: Vec::new(),
            syncs: 0,
            settled: None,
        }
    }

    /// Runs the interface at `now`: what arrived, what calls queued, timers.
    fn run(&mut self, now: Duration) {
        CLOCK_MS.with(|c| c.set(now.as_millis() as u32));
        self.iface.poll(at(now), &mut self.dev, &mut self.sockets);
        self.watch();
        self.top_up();
        self.rsts.clear();
        let due: Vec<SocketHandle> = self
            .fin_pending
            .iter()
            .copied()
            .filter(|h| {
                self.sockets.iter().any(|(x, _)| x == *h)
                    && self.seen.get(h).is_some_and(|s| s.synced || s.state == State::Closed)
            })
            .collect();
        if !due.is_empty() {
            self.fin_pending.retain(|h| !due.contains(h));
            for h in due {
                self.tcp(h).close();
            }
            self.iface.poll(at(now), &mut self.dev, &mut self.sockets);
            self.watch();
            self.top_up();
        }
        self.settled = Some(now);
    }

    /// Notes how each socket's state moved since the last look: a
    /// connection that reaches CLOSED other than by a normal close was
    /// refused, reset or timed out; sockets no descriptor holds go once
    /// CLOSED.
    fn watch(&mut self) {
        // (Called after every poll: no allocation unless a socket closed.)
        let mut closed_any = false;
        for (h, sock) in self.sockets.iter() {
            let smoltcp::socket::Socket::Tcp(t) = sock;
            let now = state_of(t.state());
            let before = self.seen.get(&h).copied().unwrap_or(Seen::new(State::Closed));
            closed_any |= now == State::Closed;
            if now == before.state && (before.ends.is_some() || now == State::Listen) {
                continue;
            }
            let ends =
                t.local_endpoint().zip(t.remote_endpoint()).map(|(l, r)| (SocketAddr::from(l), SocketAddr::from(r)));
            let active = before.active || now == State::SynSent;
            let synced =
                before.synced || !matches!(now, State::Closed | State::Listen | State::SynSent | State::SynReceived);
            let synced_order = if synced && !before.synced {
                self.syncs += 1;
                self.syncs
            } else {
                before.synced_order
            };
            self.seen.insert(
                h,
                Seen {
                    state: now,
                    ends: ends.or(before.ends),
                    active: active && now != State::Listen,
                    synced,
                    synced_order,
                },
            );
            if now == State::Closed && before.state != State::Closed {
                let reset = before.ends.is_some_and(|(l, r)| self.rsts.contains(&(r, l.port())));
                let error = match before.state {
                    State::SynSent => Some(Errno::ECONNREFUSED),
                    State::SynReceived if before.active => Some(Errno::ECONNREFUSED),
                    State::SynReceived
                    | State::Established
                    | State::FinWait1
                    | State::FinWait2
                    | State::CloseWait
                    | State::Closing => Some(if reset { Errno::ECONNRESET } else { Errno::ETIMEDOUT }),
                    _ => None,
                };
                if let Some(e) = error {
                    self.errors.insert(h, e);
                }
            }
        }
        if !closed_any {
            return;
        }
        let held: Vec<SocketHandle> = self.fds.values().flat_map(|s| handles(&s.kind)).collect();
        let gone: Vec<SocketHandle> = self
            .sockets
            .iter()
            .filter(|(h, sock)| {
                let smoltcp::socket::Socket::Tcp(t) = sock;
                t.state() == tcp::State::Closed && !held.contains(h)
            })
            .map(|(h, _)| h)
            .collect();
        for h in gone {
            self.forget(h);
        }
    }

    /// A listener for every pool that has none left listening and room
    /// for one.
    fn top_up(&mut self) {
        let listening = |h: &SocketHandle| self.sockets.get::<tcp::Socket>(*h).state() == tcp::State::Listen;
        if !self.fds.values().any(|s| matches!(&s.kind, Kind::Listener { pool, backlog, .. } if pool.len() < *backlog && !pool.iter().any(listening))) {
            return;
        }
        let due: Vec<(Fd, SocketAddr, Opts)> = self
            .fds
            .iter()
            .filter_map(|(fd, s)| match &s.kind {
                Kind::Listener { addr, pool, backlog }
                    if pool.len() < *backlog
                        && !pool.iter().any(|h| self.sockets.get::<tcp::Socket>(*h).state() == tcp::State::Listen) =>
                {
                    Some((*fd, *addr, s.opts))
                }
                _ => None,
            })
            .collect();
        for (fd, addr, opts) in due {
            let Ok(h) = self.new_listener(addr, &opts) else { continue };
            if let Some(Sock { kind: Kind::Listener { pool, .. }, .. }) = self.fds.get_mut(&fd) {
                pool.push(h);
            }
        }
    }

    /// A smoltcp socket listening on `addr`.
    fn new_listener(&mut self, addr: SocketAddr, opts: &Opts) -> Result<SocketHandle, Errno> {
        let h = self.new_socket(opts);
        let ep = IpListenEndpoint {
            addr: (!addr.ip().is_unspecified()).then(|| IpAddress::from(addr.ip())),
            port: addr.port(),
        };
        if self.tcp(h).listen(ep).is_err() {
            self.forget(h);
            return Err(Errno::EADDRINUSE);
        }
        self.seen.insert(h, Seen::new(State::Listen));
        Ok(h)
    }

    /// A smoltcp socket goes, and all the adapter kept of it: smoltcp
    /// gives its handle to the next socket made (a FIN still pending for
    /// the old one must not go out on the new one's connection).
    fn forget(&mut self, h: SocketHandle) {
        self.sockets.remove(h);
        self.seen.remove(&h);
        self.errors.remove(&h);
        self.fin_pending.retain(|x| *x != h);
    }

    fn tcp(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }

    fn new_socket(&mut self, o: &Opts) -> SocketHandle {
        let rx = tcp::SocketBuffer::new(lend(&mut self.lent, o.rcvbuf.max(1) as usize));
        let tx = tcp::SocketBuffer::new(lend(&mut self.lent, o.sndbuf.max(1) as usize));
        let mut s = tcp::Socket::new(rx, tx);
        s.set_tsval_generator(Some(tsval));
        apply(&mut s, o);
        let h = self.sockets.add(s);
        self.seen.insert(h, Seen::new(State::Closed));
        h
    }

    fn sock(&mut self, fd: Fd) -> Result<&mut Sock, Errno> {
        self.fds.get_mut(&fd).ok_or(Errno::EBADF)
    }

    fn conn(&mut self, fd: Fd) -> Result<(SocketHandle, bool), Errno> {
        match &self.sock(fd)?.kind {
            Kind::Conn { handle, read_shut } => Ok((*handle, *read_shut)),
            _ => Err(Errno::ENOTCONN),
        }
    }

    fn ephemeral(&mut self) -> u16 {
        let p = self.next_port;
        self.next_port = if p >= 60999 { 49152 } else { p + 1 };
        p
    }
}

fn handles(k: &Kind) -> Vec<SocketHandle> {
    match k {
        Kind::Fresh { .. } => Vec::new(),
        Kind::Listener { pool, .. } => pool.clone(),
        Kind::Conn { handle, .. } => vec![*handle],
    }
}

/// The options smoltcp has, on one of its sockets.
fn apply(s: &mut tcp::Socket<'static>, o: &Opts) {
    s.set_nagle_enabled(!o.nodelay);
    s.set_keep_alive(o.keepalive.then(|| SDuration::from_secs(u64::from(o.keep_idle))));
    s.set_timeout((o.user_timeout > 0).then(|| SDuration::from_millis(u64::from(o.user_timeout))));
}

impl StackAdapter for Smoltcp {
    fn receive(&mut self, now: Duration, datagram: &[u8]) {
        self.rsts.extend(rst_of(datagram));
        self.dev.rx.push_back(datagram.to_vec());
        self.run(now);
    }

    fn transmit(&mut self, now: Duration) -> Option<Vec<u8>> {
        if self.dev.tx.is_empty() && self.settled != Some(now) {
            self.run(now);
        }
        self.dev.tx.pop_front()
    }

    fn next_deadline(&mut self, now: Duration) -> Option<Duration> {
        let t = self.iface.poll_at(at(now), &self.sockets)?;
        Some(Duration::from_micros(t.total_micros().max(0) as u64))
    }
}

impl SocketApi for Smoltcp {
    fn describe(&self) -> String {
        VERSION.into()
    }

    fn socket(&mut self, _: Duration, ipv6: bool) -> Result<Fd, Errno> {
        let fd = (3..).find(|f| !self.fds.contains_key(f)).expect("a free number");
        self.fds.insert(fd, Sock { kind: Kind::Fresh { bound: None }, opts: Opts::default(), ipv6 });
        Ok(fd)
    }

    fn bind(&mut self, _: Duration, fd: Fd, addr: SocketAddr) -> Result<(), Errno> {
        let local = self.local;
        let s = self.sock(fd)?;
        match &mut s.kind {
            Kind::Fresh { bound: b @ None } => {
                if !addr.ip().is_unspecified() && addr.ip() != local {
                    return Err(Errno::EADDRNOTAVAIL);
                }
                *b = Some(addr);
                Ok(())
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn listen(&mut self, now: Duration, fd: Fd, backlog: i32) -> Result<(), Errno> {
        let (addr, opts) = {
            let s = self.sock(fd)?;
            match &s.kind {
                Kind::Fresh { bound: Some(a) } => (*a, s.opts),
                Kind::Fresh { bound: None } => return Err(Errno::EINVAL),
                Kind::Listener { .. } => return Ok(()),
                Kind::Conn { .. } => return Err(Errno::EINVAL),
            }
        };
        let first = self.new_listener(addr, &opts)?;
        self.sock(fd)?.kind = Kind::Listener { addr, pool: vec![first], backlog: backlog.clamp(1, 64) as usize };
        self.run(now);
        Ok(())
    }

    fn accept(&mut self, now: Duration, fd: Fd) -> Result<Fd, Errno> {
        self.run(now);
        let (pool, opts, ipv6) = match &self.sock(fd)?.kind {
            Kind::Listener { pool, .. } => (pool.clone(), self.fds[&fd].opts, self.fds[&fd].ipv6),
            _ => return Err(Errno::EINVAL),
        };
        // The connection that completed its handshake first, as a listen
        // queue hands them out (RFC 9293 leaves the order to the stack;
        // Linux and the reference stack keep completion order).
        let done = pool
            .iter()
            .enumerate()
            .filter(|(_, h)| {
                let st = state_of(self.sockets.get::<tcp::Socket>(**h).state());
                !matches!(st, State::Listen | State::SynReceived | State::Closed)
            })
            .min_by_key(|(i, h)| (self.seen.get(h).map_or(u64::MAX, |s| s.synced_order), *i))
            .map(|(i, _)| i);
        let Some(i) = done else { return Err(Errno::EAGAIN) };
        let handle = pool[i];
        // It leaves the pool, which makes room for a listener.
        if let Kind::Listener { pool, .. } = &mut self.sock(fd)?.kind {
            pool.remove(i);
        }
        self.top_up();
        let nfd = (3..).find(|f| !self.fds.contains_key(f)).expect("a free number");
        self.fds.insert(nfd, Sock { kind: Kind::Conn { handle, read_shut: false }, opts, ipv6 });
        Ok(nfd)
    }

    fn connect(&mut self, now: Duration, fd: Fd, addr: SocketAddr) -> Result<(), Errno> {
        let (bound, opts) = {
            let s = self.sock(fd)?;
            match &s.kind {
                Kind::Fresh { bound } => (*bound, s.opts),
                Kind::Conn { .. } => return Err(Errno::EISCONN),
                Kind::Listener { .. } => return Err(Errno::EINVAL),
            }
        };
        let port = match bound {
            Some(b) if b.port() != 0 => b.port(),
            _ => self.ephemeral(),
        };
        let h = self.new_socket(&opts);
        let local = IpListenEndpoint { addr: Some(IpAddress::from(self.local)), port };
        let remote = IpEndpoint::from(addr);
        let r = self.sockets.get_mut::<tcp::Socket>(h).connect(self.iface.context(), remote, local);
        if r.is_err() {
            self.forget(h);
            return Err(Errno::EINVAL);
        }
        self.sock(fd)?.kind = Kind::Conn { handle: h, read_shut: false };
        self.run(now);
        Err(Errno::EINPROGRESS)
    }

    fn send(&mut self, now: Duration, fd: Fd, data: &[u8]) -> Result<usize, Errno> {
        let (h, _) = self.conn(fd)?;
        if let Some(e) = self.errors.remove(&h) {
            return Err(e);
        }
        let st = state_of(self.tcp(h).state());
        let r = match self.tcp(h).send_slice(data) {
            Ok(0) if !data.is_empty() => Err(Errno::EAGAIN),
            Ok(n) => Ok(n),
            Err(_) => Err(match st {
                State::SynSent | State::SynReceived => Errno::EAGAIN,
                State::Closed if !self.seen.get(&h).is_some_and(|s| s.synced) => Errno::ENOTCONN,
                _ => Errno::EPIPE,
            }),
        };
        self.run(now);
        r
    }

    fn recv(&mut self, now: Duration, fd: Fd, max: usize, peek: bool) -> Result<Vec<u8>, Errno> {
        let (h, read_shut) = self.conn(fd)?;
        if read_shut {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; max];
        let t = self.tcp(h);
        let r = if peek { t.peek_slice(&mut buf) } else { t.recv_slice(&mut buf) };
        let st = state_of(t.state());
        let out = match r {
            Ok(0) if max > 0 => Err(Errno::EAGAIN),
            Ok(n) => {
                buf.truncate(n);
                Ok(buf)
            }
            Err(tcp::RecvError::Finished) => Ok(Vec::new()),
            Err(tcp::RecvError::InvalidState) => match (self.errors.remove(&h), st) {
                (Some(e), _) => Err(e),
                (None, State::SynSent | State::SynReceived) => Err(Errno::EAGAIN),
                (None, State::Closed) if !self.seen.get(&h).is_some_and(|s| s.synced) => Err(Errno::ENOTCONN),
                (None, State::Closed | State::TimeWait) => Ok(Vec::new()),
                (None, _) => Err(Errno::ENOTCONN),
            },
        };
        self.run(now);
        out
    }

    fn shutdown(&mut self, now: Duration, fd: Fd, how: Shutdown) -> Result<(), Errno> {
        let s = self.sock(fd)?;
        let Kind::Conn { handle, read_shut } = &mut s.kind else { return Err(Errno::ENOTCONN) };
        let h = *handle;
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            *read_shut = true;
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            if matches!(state_of(self.tcp(h).state()), State::SynSent | State::SynReceived) {
                self.fin_pending.push(h);
            } else {
                self.tcp(h).close();
            }
        }
        self.run(now);
        Ok(())
    }

    fn close(&mut self, now: Duration, fd: Fd) -> Result<(), Errno> {
        let s = self.fds.remove(&fd).ok_or(Errno::EBADF)?;
        match s.kind {
            Kind::Fresh { .. } => {}
            Kind::Listener { pool, .. } => {
                // Connections not yet accepted are reset, listeners go.
                for h in pool {
                    self.tcp(h).abort();
                }
            }
            Kind::Conn { handle, .. } => {
                let t = self.tcp(handle);
                // SO_LINGER with a zero timeout: ABORT. Unread data: a RST
                // (RFC 9293 3.6.1, SHLD-3), while CLOSE still closes
                // something: not in CLOSING, LAST-ACK or TIME-WAIT, where
                // RFC 9293 3.10.4 answers "connection closing" (and Linux's
                // socket is already closed in TIME-WAIT).
                let closing = matches!(t.state(), tcp::State::Closing | tcp::State::LastAck | tcp::State::TimeWait);
                if (t.recv_queue() > 0 && !closing) || s.opts.linger == Some(0) {
                    t.abort();
                } else {
                    t.close();
                }
            }
        }
        self.run(now);
        Ok(())
    }

    fn setsockopt(&mut self, now: Duration, fd: Fd, opt: SockOpt) -> Result<(), Errno> {
        let s = self.sock(fd)?;
        let fresh = matches!(s.kind, Kind::Fresh { .. });
        match opt {
            SockOpt::NoDelay(v) => s.opts.nodelay = v,
            SockOpt::KeepAlive(v) => s.opts.keepalive = v,
            SockOpt::KeepIdle(v) if v > 0 => s.opts.keep_idle = v,
            SockOpt::UserTimeout(v) => s.opts.user_timeout = v,
            SockOpt::RcvBuf(v) | SockOpt::SndBuf(v) if !fresh || v == 0 => {
                let _ = v;
                return Err(Errno::EINVAL);
            }
            SockOpt::RcvBuf(v) => s.opts.rcvbuf = v,
            SockOpt::SndBuf(v) => s.opts.sndbuf = v,
            SockOpt::Linger(v) => s.opts.linger = v,
            SockOpt::ReuseAddr(v) => s.opts.reuseaddr = v,
            _ => return Err(Errno::ENOPROTOOPT),
        }
        let opts = s.opts;
        for h in handles(&s.kind) {
            apply(self.tcp(h), &opts);
        }
        self.run(now);
        Ok(())
    }

    fn getsockopt(&mut self, _: Duration, fd: Fd, name: SockOptName) -> Result<SockOpt, Errno> {
        let s = self.fds.get(&fd).ok_or(Errno::EBADF)?;
        let o = s.opts;
        Ok(match name {
            SockOptName::NoDelay => SockOpt::NoDelay(o.nodelay),
            SockOptName::KeepAlive => SockOpt::KeepAlive(o.keepalive),
            SockOptName::KeepIdle => SockOpt::KeepIdle(o.keep_idle),
            SockOptName::UserTimeout => SockOpt::UserTimeout(o.user_timeout),
            SockOptName::RcvBuf => SockOpt::RcvBuf(o.rcvbuf),
            SockOptName::SndBuf => SockOpt::SndBuf(o.sndbuf),
            SockOptName::Linger => SockOpt::Linger(o.linger),
            SockOptName::ReuseAddr => SockOpt::ReuseAddr(o.reuseaddr),
            SockOptName::Error => {
                let hs = handles(&s.kind);
                SockOpt::Error(hs.iter().find_map(|h| self.errors.remove(h)))
            }
            _ => return Err(Errno::ENOPROTOOPT),
        })
    }

    fn poll(&mut self, now: Duration, fd: Fd) -> Result<PollEvents, Errno> {
        self.run(now);
        let s = self.fds.get(&fd).ok_or(Errno::EBADF)?;
        Ok(match &s.kind {
            Kind::Fresh { .. } => PollEvents { writable: true, hup: true, ..PollEvents::default() },
            Kind::Listener { pool, .. } => {
                let ready = pool.iter().any(|h| {
                    let st = state_of(self.sockets.get::<tcp::Socket>(*h).state());
                    !matches!(st, State::Listen | State::SynReceived | State::Closed)
                });
                PollEvents { readable: ready, ..PollEvents::default() }
            }
            Kind::Conn { handle, read_shut } => {
                let t = self.sockets.get::<tcp::Socket>(*handle);
                let st = state_of(t.state());
                let err = self.errors.contains_key(handle);
                let closed = st == State::Closed;
                let rcv_shut = *read_shut || (!t.may_recv() && !matches!(st, State::SynSent | State::SynReceived));
                let snd_shut = !t.may_send() && !matches!(st, State::SynSent | State::SynReceived);
                PollEvents {
                    readable: t.can_recv() || rcv_shut || closed || err,
                    writable: t.can_send() || snd_shut || closed || err,
                    error: err,
                    hup: closed || (rcv_shut && snd_shut),
                    rdhup: rcv_shut || closed,
                    pri: false,
                }
            }
        })
    }

    fn state(&mut self, fd: Fd) -> Result<State, Errno> {
        let s = self.fds.get(&fd).ok_or(Errno::EBADF)?;
        Ok(match &s.kind {
            Kind::Fresh { .. } => State::Closed,
            Kind::Listener { .. } => State::Listen,
            Kind::Conn { handle, .. } => state_of(self.sockets.get::<tcp::Socket>(*handle).state()),
        })
    }

    fn connection_state(&mut self, conn: &FourTuple) -> Option<State> {
        self.connection(conn, false).map(|(s, _)| s)
    }
    fn connection(&mut self, conn: &FourTuple, queues: bool) -> Option<(State, Option<super::adapter::Queued>)> {
        self.sockets.iter().find_map(|(_, s)| {
            let smoltcp::socket::Socket::Tcp(t) = s;
            let (l, r) = (t.local_endpoint()?, t.remote_endpoint()?);
            (SocketAddr::from(l) == conn.local && SocketAddr::from(r) == conn.remote).then(|| {
                let q = queues.then(|| super::adapter::Queued { recv: t.recv_queue(), send: t.send_queue() });
                (state_of(t.state()), q)
            })
        })
    }
    fn connection_queued(&mut self, conn: &FourTuple) -> Option<super::adapter::Queued> {
        self.connection(conn, true).and_then(|(_, q)| q)
    }
}
