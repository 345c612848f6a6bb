//! The stack: sockets, listeners and connections, a BSD-like call surface,
//! packets in through [`Stack::handle_packet`] and out through
//! [`Stack::poll_transmit`], and virtual time through [`Stack::poll_timeout`].
//!
//! The stack never blocks: a call that would block returns `EAGAIN` (or
//! `EINPROGRESS` for connect), and the caller, which owns time, retries when
//! [`Stack::poll`] says the socket is ready. That is how the script engine
//! models blocking calls.
//!
//! Determinism: all maps are ordered (`SortedMap`), randomness comes from the
//! seed, and timers fire in (deadline, connection) order, so the same inputs
//! give the same outputs bit for bit.

use crate::errno::Errno;
use crate::event::{Call, Cause, DropReason, Event, EventKind, FourTuple, Notice, SegmentSummary};
use crate::profile::{ListenQueues, Profile};
use crate::rng::{siphash24, Rng};
use crate::seq::SeqNumber;
use crate::sorted_map::SortedMap;
use crate::state::State;
use crate::tcb::{ConnView, Ctx, InvariantViolation, LiveView, SockOpts, Tcb, TcbStatus};
use crate::time::{Duration, Instant};
use crate::wire::{IpPacket, IpRepr, TcpFlags, TcpOption, TcpRepr, WireError};
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A socket descriptor. Like POSIX, the lowest free number from 3 up.
pub type Fd = i32;

/// Ephemeral ports, Linux's default `ip_local_port_range`.
const EPHEMERAL: (u16, u16) = (32768, 60999);
/// A bound on timer firings per call, so a bug cannot hang the caller.
const MAX_TIMER_FIRINGS_PER_CALL: usize = 1_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Domain {
    Inet,
    Inet6,
}

impl Domain {
    fn matches(self, a: IpAddr) -> bool {
        matches!((self, a), (Domain::Inet, IpAddr::V4(_)) | (Domain::Inet6, IpAddr::V6(_)))
    }
    fn unspecified(self) -> IpAddr {
        match self {
            Domain::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Domain::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shutdown {
    Read,
    Write,
    Both,
}

/// A socket option with its value, for setsockopt and getsockopt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SockOpt {
    /// TCP_NODELAY.
    NoDelay(bool),
    /// SO_KEEPALIVE.
    KeepAlive(bool),
    /// TCP_KEEPIDLE, seconds.
    KeepIdle(u32),
    /// TCP_KEEPINTVL, seconds.
    KeepIntvl(u32),
    /// TCP_KEEPCNT.
    KeepCnt(u32),
    /// TCP_MAXSEG, octets.
    MaxSeg(u32),
    /// SO_RCVBUF, octets.
    RcvBuf(u32),
    /// SO_SNDBUF, octets.
    SndBuf(u32),
    /// SO_LINGER: `None` off, `Some(secs)` on.
    Linger(Option<u32>),
    /// TCP_USER_TIMEOUT, milliseconds (0 = off).
    UserTimeout(u32),
    /// SO_REUSEADDR.
    ReuseAddr(bool),
    /// SO_REUSEPORT: sockets that all set it before bind() share a port
    /// (listeners share the connections by the 4-tuple's hash).
    ReusePort(bool),
    /// SO_ERROR (get only): the pending error, cleared by reading it.
    Error(Option<Errno>),
}

/// Which option to read, for getsockopt. Exhaustive on purpose: a new option
/// must be handled by every target that matches on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SockOptName {
    NoDelay,
    KeepAlive,
    KeepIdle,
    KeepIntvl,
    KeepCnt,
    MaxSeg,
    RcvBuf,
    SndBuf,
    Linger,
    UserTimeout,
    ReuseAddr,
    ReusePort,
    Error,
}

impl SockOptName {
    /// From the Linux constant's name (`TCP_NODELAY`, `SO_RCVBUF`, ...).
    pub fn from_name(s: &str) -> Option<SockOptName> {
        Some(match s {
            "TCP_NODELAY" => SockOptName::NoDelay,
            "SO_KEEPALIVE" => SockOptName::KeepAlive,
            "TCP_KEEPIDLE" => SockOptName::KeepIdle,
            "TCP_KEEPINTVL" => SockOptName::KeepIntvl,
            "TCP_KEEPCNT" => SockOptName::KeepCnt,
            "TCP_MAXSEG" => SockOptName::MaxSeg,
            "SO_RCVBUF" => SockOptName::RcvBuf,
            "SO_SNDBUF" => SockOptName::SndBuf,
            "SO_LINGER" => SockOptName::Linger,
            "TCP_USER_TIMEOUT" => SockOptName::UserTimeout,
            "SO_REUSEADDR" => SockOptName::ReuseAddr,
            "SO_REUSEPORT" => SockOptName::ReusePort,
            "SO_ERROR" => SockOptName::Error,
            _ => return None,
        })
    }
    /// The names [`SockOptName::from_name`] knows, for error messages.
    pub const NAMES: &'static str = "TCP_NODELAY, SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_MAXSEG, SO_RCVBUF, SO_SNDBUF, SO_LINGER, TCP_USER_TIMEOUT, SO_REUSEADDR, SO_REUSEPORT, SO_ERROR";
}

/// Readiness, as poll(2) would report it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PollEvents {
    pub readable: bool,
    pub writable: bool,
    pub error: bool,
    pub hup: bool,
    pub rdhup: bool,
    /// Urgent data is pending (POLLPRI).
    pub pri: bool,
}

/// Counters over the stack's whole life (connections come and go; these stay).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StackStats {
    pub datagrams_in: u64,
    pub datagrams_out: u64,
    pub malformed_in: u64,
    pub retransmitted_segments: u64,
    pub connections_opened: u64,
    /// Linux's listen counters (the `linux` profile's queues): a SYN or an
    /// ACK that found the accept queue full; every segment a listener dropped
    /// for its queues; SYN cookies sent, taken back, and failing validation;
    /// half-open connections reset.
    pub listen_overflows: u64,
    pub listen_drops: u64,
    pub syncookies_sent: u64,
    pub syncookies_recv: u64,
    pub syncookies_failed: u64,
    pub embryonic_rsts: u64,
}

/// Stack configuration.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// The addresses the stack owns; packets to others are dropped.
    pub addrs: Vec<IpAddr>,
    pub profile: Profile,
    /// Seeds the ISN key, timestamp offsets and ephemeral port choice.
    pub seed: u64,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            addrs: vec!["198.51.100.1".parse().expect("literal"), "2001:db8::1".parse().expect("literal")],
            profile: Profile::rfc9293(),
            seed: 0,
        }
    }
}

#[derive(Clone, Debug)]
struct Listener {
    backlog: usize,
    half_open: Vec<u64>,
    accept_queue: VecDeque<u64>,
    /// When the listener last answered a SYN with a cookie: cookie ACKs are
    /// taken for two minutes after (Linux's tcp_synq_no_recent_overflow).
    cookie_at: Option<Instant>,
}

#[derive(Clone, Debug)]
enum SocketKind {
    Idle,
    Listening(Listener),
    Conn(u64),
}

#[derive(Clone, Debug)]
struct Socket {
    domain: Domain,
    opts: SockOpts,
    nonblocking: bool,
    local: Option<SocketAddr>,
    kind: SocketKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Fd(Fd),
    /// Spawned by the listener on this fd, not accepted yet.
    Listener(Fd),
    /// close() was called; the TCB finishes on its own.
    Orphan,
}

#[derive(Clone, Debug)]
struct Conn {
    tcb: Tcb,
    owner: Owner,
}

/// A whole TCP/IP stack on a virtual clock.
#[derive(Clone, Debug)]
pub struct Stack {
    profile: Profile,
    addrs: Vec<IpAddr>,
    now: Instant,
    isn_key: (u64, u64),
    ts_key: (u64, u64),
    rng: Rng,
    sockets: SortedMap<Fd, Socket>,
    conns: SortedMap<u64, Conn>,
    demux: SortedMap<FourTuple, u64>,
    next_conn: u64,
    out: VecDeque<(FourTuple, TcpRepr)>,
    /// Which connection queued each entry of `out` (None: CLOSED or LISTEN replies).
    out_origin: VecDeque<Option<u64>>,
    events: Vec<Event>,
    ip_ident: u16,
    stats: StackStats,
    /// [`Stack::place_numbers`]: every new connection's ISS and timestamp
    /// offset, instead of the keyed hashes'.
    placed: (Option<u32>, Option<u32>),
}

impl Stack {
    pub fn new(config: StackConfig) -> Stack {
        let mut rng = Rng::new(config.seed);
        let isn_key = (rng.next_u64(), rng.next_u64());
        let ts_key = (rng.next_u64(), rng.next_u64());
        Stack {
            profile: config.profile,
            addrs: config.addrs,
            now: Instant::ZERO,
            isn_key,
            ts_key,
            rng,
            sockets: SortedMap::new(),
            conns: SortedMap::new(),
            demux: SortedMap::new(),
            next_conn: 1,
            out: VecDeque::new(),
            out_origin: VecDeque::new(),
            events: Vec::new(),
            ip_ident: 0,
            stats: StackStats::default(),
            placed: (None, None),
        }
    }

    /// For tests that place the stack's numbers (a harness's wrap
    /// dimension): every connection opened or accepted from now on starts
    /// its sequence space at `iss` and its TSval clock at `ts_offset` (the
    /// TSval at time 0), instead of at values drawn from the keyed hashes
    /// of RFC 9293 3.4.1 and RFC 7323 7.1. A connection that must start
    /// above an old incarnation's numbers still does; SYN cookies are
    /// still cookies.
    pub fn place_numbers(&mut self, iss: Option<u32>, ts_offset: Option<u32>) {
        self.placed = (iss, ts_offset);
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }
    pub fn now(&self) -> Instant {
        self.now
    }
    pub fn addrs(&self) -> &[IpAddr] {
        &self.addrs
    }
    pub fn stats(&self) -> StackStats {
        self.stats
    }

    // ------------------------------------------------------------------
    // Time
    // ------------------------------------------------------------------

    /// When to call back: the next timer deadline, or the current time while
    /// segments are waiting in [`Stack::poll_transmit`]; `None` when idle.
    ///
    /// Drain `poll_transmit` before moving time forward: a segment queued now
    /// and polled after a later `now` would leave after timers that fired in
    /// between (an RTO, say), which is not what a real stack would do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.out.is_empty() {
            return Some(self.now);
        }
        self.conns.values().filter_map(|c| c.tcb.next_deadline()).min()
    }

    /// Fires every timer due at or before `now`, each at its own deadline and
    /// in deadline order. Every other entry point does this first.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
    }

    fn advance(&mut self, now: Instant) {
        // Time never runs backwards; an earlier `now` is taken as the current time.
        let now = now.max(self.now);
        for _ in 0..MAX_TIMER_FIRINGS_PER_CALL {
            let due = self
                .conns
                .iter()
                .filter_map(|(k, c)| c.tcb.next_deadline().map(|d| (d, *k)))
                .filter(|(d, _)| *d <= now)
                .min();
            let Some((deadline, key)) = due else { break };
            self.now = self.now.max(deadline);
            self.with_tcb(key, |tcb, ctx| tcb.on_timers(ctx));
        }
        self.now = now;
    }

    fn with_tcb<R>(&mut self, key: u64, f: impl FnOnce(&mut Tcb, &mut Ctx<'_>) -> R) -> Option<R> {
        let queued = self.out.len();
        let conn = self.conns.get_mut(&key)?;
        let before = conn.tcb.retransmitted_segments();
        let mut ctx = Ctx { now: self.now, profile: &self.profile, out: &mut self.out, events: &mut self.events };
        let r = f(&mut conn.tcb, &mut ctx);
        let retransmitted = conn.tcb.retransmitted_segments() - before;
        self.stats.retransmitted_segments += retransmitted;
        self.tag_output(queued, Some(key));
        self.after_tcb(key);
        Some(r)
    }

    /// Records who queued the entries of `out` from index `from` on.
    fn tag_output(&mut self, from: usize, origin: Option<u64>) {
        while self.out_origin.len() < from {
            self.out_origin.push_back(None);
        }
        while self.out_origin.len() < self.out.len() {
            self.out_origin.push_back(origin);
        }
    }

    /// Bookkeeping after any TCB input: accept-queue moves and deletion.
    fn after_tcb(&mut self, key: u64) {
        let Some(conn) = self.conns.get(&key) else { return };
        let state = conn.tcb.state();
        let tuple = conn.tcb.tuple;
        let owner = conn.owner;
        if let Owner::Listener(lfd) = owner {
            if let Some(SocketKind::Listening(l)) = self.sockets.get_mut(&lfd).map(|s| &mut s.kind) {
                if state.is_synchronized() || state == State::Closed {
                    if let Some(i) = l.half_open.iter().position(|k| *k == key) {
                        l.half_open.remove(i);
                        if state != State::Closed {
                            l.accept_queue.push_back(key);
                        }
                    }
                }
            }
        }
        if self.conns[&key].tcb.is_finished() {
            // The 4-tuple is given up only while it still names this
            // connection: a descriptor's call on a connection finished long
            // ago comes here too, when a new connection may hold it.
            if self.demux.get(&tuple) == Some(&key) {
                self.demux.remove(&tuple);
            }
            match owner {
                Owner::Fd(_) => {} // the descriptor still refers to it
                Owner::Orphan => {
                    self.conns.remove(&key);
                }
                Owner::Listener(lfd) => {
                    if let Some(SocketKind::Listening(l)) = self.sockets.get_mut(&lfd).map(|s| &mut s.kind) {
                        l.half_open.retain(|k| *k != key);
                        l.accept_queue.retain(|k| *k != key);
                    }
                    self.conns.remove(&key);
                }
            }
        }
    }

    // ------------------------------------------------------------------
    // Packets
    // ------------------------------------------------------------------

    /// An IP datagram arrives. A packet that does not parse is dropped with a
    /// logged event and returned as the error; nothing else is an error.
    pub fn handle_packet(&mut self, now: Instant, bytes: &[u8]) -> Result<(), WireError> {
        self.advance(now);
        self.stats.datagrams_in += 1;
        match IpPacket::parse(bytes) {
            Ok(p) => {
                self.handle_segment(now, p.ip, &p.tcp);
                Ok(())
            }
            Err(e) => {
                self.stats.malformed_in += 1;
                self.events.push(Event {
                    at: self.now,
                    conn: None,
                    kind: EventKind::Dropped { reason: DropReason::Malformed(e.clone()), segment: None },
                });
                Err(e)
            }
        }
    }

    /// A parsed segment arrives (checksum already verified or not wanted).
    pub fn handle_segment(&mut self, now: Instant, ip: IpRepr, seg: &TcpRepr) {
        self.advance(now);
        let tuple =
            FourTuple { local: SocketAddr::new(ip.dst, seg.dst_port), remote: SocketAddr::new(ip.src, seg.src_port) };
        // MUST-57, MUST-63: not ours, or to/from broadcast, multicast or unspecified.
        if !self.addrs.contains(&ip.dst)
            || !is_unicast(ip.src)
            || !is_unicast(ip.dst)
            || seg.src_port == 0
            || seg.dst_port == 0
        {
            self.drop_event(Some(tuple), DropReason::NotForUs, seg);
            return;
        }
        if let Some(&key) = self.demux.get(&tuple) {
            let reopen = self.profile.syn_reopens_time_wait
                && self.conns[&key].tcb.syn_may_reopen(seg)
                && self.find_listener(&tuple).is_some();
            if !reopen {
                if !self.accept_overflow(key, tuple, seg) {
                    self.with_tcb(key, |tcb, ctx| tcb.on_segment(ctx, seg));
                }
                return;
            }
            // MAY-2 / RFC 6191: the new incarnation's ISS lies beyond the old
            // SND.NXT (by Linux's 65535 + 2); the rfc9293 profile keeps the ISN
            // clock's value when that is already past it.
            let old_nxt = self.conns[&key].tcb.snd_nxt();
            self.with_tcb(key, |tcb, ctx| tcb.reopen_from_time_wait(ctx, seg));
            let lfd = self.find_listener(&tuple).expect("checked above");
            self.listen_segment(lfd, tuple, seg, Some(old_nxt + 65537));
            return;
        }
        if let Some(lfd) = self.find_listener(&tuple) {
            self.listen_segment(lfd, tuple, seg, None);
            return;
        }
        self.closed_segment(tuple, seg);
    }

    fn notice(&mut self, conn: FourTuple, n: Notice) {
        self.events.push(Event { at: self.now, conn: Some(conn), kind: EventKind::Notice(n) });
    }

    fn drop_event(&mut self, conn: Option<FourTuple>, reason: DropReason, seg: &TcpRepr) {
        self.events.push(Event {
            at: self.now,
            conn,
            kind: EventKind::Dropped { reason, segment: Some(SegmentSummary::of(seg)) },
        });
    }

    /// RFC 9293 3.10.7.1: no TCB. A RST is dropped; anything else is answered
    /// with a RST that the sender will find acceptable.
    fn closed_segment(&mut self, tuple: FourTuple, seg: &TcpRepr) {
        if seg.flags.rst() {
            self.drop_event(Some(tuple), DropReason::Ignored, seg);
            return;
        }
        let rst = if seg.flags.ack() {
            // <SEQ=SEG.ACK><CTL=RST>
            TcpRepr { seq: seg.ack, flags: TcpFlags::RST, ..reply_to(seg) }
        } else {
            // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
            TcpRepr {
                seq: SeqNumber(0),
                ack: seg.seq + seg.seg_len(),
                flags: TcpFlags::RST | TcpFlags::ACK,
                ..reply_to(seg)
            }
        };
        self.out.push_back((tuple, rst));
    }

    /// RFC 9293 3.10.7.2.
    fn listen_segment(&mut self, lfd: Fd, tuple: FourTuple, seg: &TcpRepr, iss_floor: Option<SeqNumber>) {
        // First, check for a RST: ignore it.
        if seg.flags.rst() {
            self.drop_event(Some(tuple), DropReason::Ignored, seg);
            return;
        }
        // Second, check for an ACK: <SEQ=SEG.ACK><CTL=RST>; under Linux's
        // queues it may be the answer to a SYN cookie.
        if seg.flags.ack() {
            if !seg.flags.syn() && self.cookie_ack(lfd, tuple, seg) {
                return;
            }
            let rst = TcpRepr { seq: seg.ack, flags: TcpFlags::RST, ..reply_to(seg) };
            self.out.push_back((tuple, rst));
            return;
        }
        // Third, check for a SYN. Fourth: anything else is dropped.
        if !seg.flags.syn() {
            self.drop_event(Some(tuple), DropReason::Ignored, seg);
            return;
        }
        let (opts, backlog, qlen, accepted) = match self.sockets.get(&lfd) {
            Some(Socket { opts, kind: SocketKind::Listening(l), .. }) => {
                (opts.clone(), l.backlog, l.half_open.len(), l.accept_queue.len())
            }
            _ => return,
        };
        match self.profile.listen {
            ListenQueues::Backlog => {
                if qlen + accepted >= backlog.max(1) {
                    // Choice: a full queue drops the SYN silently, so the peer retries.
                    self.drop_event(Some(tuple), DropReason::ListenQueueFull, seg);
                    return;
                }
            }
            ListenQueues::Linux { syncookies, max_syn_backlog, somaxconn, .. } => {
                let max = backlog.min(somaxconn as usize);
                // tcp_conn_request: past the SYN queue, a cookie or nothing.
                let want_cookie = syncookies == 2 || qlen > max;
                if want_cookie && syncookies == 0 {
                    self.stats.listen_drops += 1;
                    self.drop_event(Some(tuple), DropReason::ListenQueueFull, seg);
                    return;
                }
                if accepted > max {
                    self.stats.listen_overflows += 1;
                    self.stats.listen_drops += 1;
                    self.drop_event(Some(tuple), DropReason::ListenQueueFull, seg);
                    return;
                }
                // Without cookies a quarter of the queue is kept for peers
                // the stack has talked to before (it keeps no such memory).
                let max_syn = max_syn_backlog as usize;
                if !want_cookie && syncookies == 0 && max_syn.saturating_sub(qlen) < max_syn >> 2 {
                    self.stats.listen_drops += 1;
                    self.drop_event(Some(tuple), DropReason::ListenQueueFull, seg);
                    return;
                }
                if want_cookie {
                    self.send_cookie(lfd, tuple, seg, opts);
                    return;
                }
            }
        }
        let mut iss = self.isn(&tuple);
        if let Some(floor) = iss_floor {
            if iss < floor || self.profile.reopen_iss_after_old {
                iss = floor;
            }
        }
        let ts_offset = self.ts_offset(&tuple);
        let key = self.next_conn;
        self.next_conn += 1;
        let queued = self.out.len();
        let mut ctx = Ctx { now: self.now, profile: &self.profile, out: &mut self.out, events: &mut self.events };
        let tcb = Tcb::accept_syn(&mut ctx, tuple, iss, ts_offset, opts, seg);
        self.tag_output(queued, Some(key));
        self.conns.insert(key, Conn { tcb, owner: Owner::Listener(lfd) });
        self.stats.connections_opened += 1;
        self.demux.insert(tuple, key);
        if let Some(SocketKind::Listening(l)) = self.sockets.get_mut(&lfd).map(|s| &mut s.kind) {
            l.half_open.push(key);
        }
        self.after_tcb(key);
    }

    // ------------------------------------------------------------------
    // SYN cookies (the linux profile's queues; RFC 4987 3.6)
    // ------------------------------------------------------------------

    /// The cookie for a SYN from `tuple` with sequence number `sseq`
    /// carrying MSS table entry `mssind`, in Linux's layout
    /// (secure_tcp_syn_cookie): a keyed hash of the 4-tuple plus the peer's
    /// ISN, the minute counter in the top 8 bits, and a second hash (of the
    /// counter too) plus the entry in the low 24.
    fn cookie(&self, tuple: &FourTuple, sseq: SeqNumber, count: u32, mssind: u32) -> u32 {
        let (h1, h2) = self.cookie_hashes(tuple, count);
        h1.wrapping_add(sseq.0).wrapping_add(count << COOKIE_BITS).wrapping_add(h2.wrapping_add(mssind) & COOKIE_MASK)
    }

    fn cookie_hashes(&self, tuple: &FourTuple, count: u32) -> (u32, u32) {
        let key = (self.isn_key.0 ^ 0x636f_6f6b_6965_0001, self.isn_key.1.rotate_left(17));
        let mut b = tuple_bytes(tuple);
        let h1 = siphash24(key, &b) as u32;
        b.extend_from_slice(&count.to_be_bytes());
        let h2 = siphash24((key.1, key.0), &b) as u32;
        (h1, h2)
    }

    /// The MSS table entry a cookie carries, if `cookie` is one this stack
    /// made for `tuple` and `sseq` within the last two minutes
    /// (check_tcp_syn_cookie, MAX_SYNCOOKIE_AGE).
    fn cookie_check(&self, tuple: &FourTuple, sseq: SeqNumber, cookie: u32) -> Option<u32> {
        let now = self.cookie_count();
        let (h1, _) = self.cookie_hashes(tuple, 0);
        let rest = cookie.wrapping_sub(h1).wrapping_sub(sseq.0);
        let count = rest >> COOKIE_BITS;
        // Valid while fewer than MAX_SYNCOOKIE_AGE minute ticks have passed
        // (`diff >= MAX_SYNCOOKIE_AGE` fails): at most two minutes.
        if now.wrapping_sub(count) & (u32::MAX >> COOKIE_BITS) >= COOKIE_MAX_AGE {
            return None;
        }
        let (_, h2) = self.cookie_hashes(tuple, count);
        let mssind = rest.wrapping_sub(h2) & COOKIE_MASK;
        (mssind < COOKIE_MSS_V4.len() as u32).then_some(mssind)
    }

    /// Minutes since the stack started (Linux counts them since boot).
    fn cookie_count(&self) -> u32 {
        (self.now.total_micros() / 60_000_000) as u32
    }

    fn cookie_mss_table(tuple: &FourTuple) -> &'static [u16] {
        if tuple.local.is_ipv6() {
            &COOKIE_MSS_V6
        } else {
            &COOKIE_MSS_V4
        }
    }

    /// Answers a SYN with a cookie SYN,ACK and keeps nothing: the SYN,ACK a
    /// half-open connection would send, its ISS the cookie, without window
    /// scale and SACK unless timestamps carry them back (their TSval's low
    /// six bits: the peer's window scale, or 15 for none, SACK and ECN, as
    /// cookie_init_timestamp puts them).
    fn send_cookie(&mut self, lfd: Fd, tuple: FourTuple, seg: &TcpRepr, opts: SockOpts) {
        let table = Self::cookie_mss_table(&tuple);
        let peer_mss = seg.mss().unwrap_or(536);
        let mssind = table.iter().rposition(|m| *m <= peer_mss).unwrap_or(0);
        let cookie = self.cookie(&tuple, seg.seq, self.cookie_count(), mssind as u32);
        let with_ts = self.profile.timestamps && seg.timestamps().is_some();
        let mut syn = seg.clone();
        if !with_ts {
            syn.options.clear();
            for o in seg.options.iter().filter(|o| !matches!(o, TcpOption::WindowScale(_) | TcpOption::SackPermitted)) {
                syn.options.push(*o);
            }
        }
        let mut out = VecDeque::new();
        let mut events = Vec::new();
        let ts_offset = self.ts_offset(&tuple);
        let mut ctx = Ctx { now: self.now, profile: &self.profile, out: &mut out, events: &mut events };
        let _ = Tcb::accept_syn(&mut ctx, tuple, SeqNumber(cookie), ts_offset, opts, &syn);
        let Some((_, mut synack)) = out.pop_front() else { return };
        if with_ts {
            let bits =
                u32::from(seg.window_scale().unwrap_or(15).min(15)) | if seg.sack_permitted() { 1 << 4 } else { 0 };
            let old = std::mem::take(&mut synack.options);
            for o in old.iter() {
                synack.options.push(match o {
                    TcpOption::Timestamps { tsval, tsecr } => {
                        let mut v = (tsval & !0x3f) | bits;
                        if v > *tsval {
                            v = v.wrapping_sub(64);
                        }
                        TcpOption::Timestamps { tsval: v, tsecr: *tsecr }
                    }
                    o => *o,
                });
            }
        }
        self.stats.syncookies_sent += 1;
        self.notice(tuple, Notice::SynCookieSent);
        if let Some(SocketKind::Listening(l)) = self.sockets.get_mut(&lfd).map(|s| &mut s.kind) {
            l.cookie_at = Some(self.now);
        }
        let queued = self.out.len();
        self.out.push_back((tuple, synack));
        self.tag_output(queued, None);
    }

    /// An ACK to a listener that may answer one of its cookies: valid, it
    /// makes the connection (with the MSS the cookie carries, and window
    /// scale and SACK if the timestamp echoed them), unless the accept
    /// queue is full (then it is dropped); `false` when it is not a
    /// cookie's answer (the caller resets it).
    fn cookie_ack(&mut self, lfd: Fd, tuple: FourTuple, seg: &TcpRepr) -> bool {
        let ListenQueues::Linux { syncookies, somaxconn, .. } = self.profile.listen else {
            return false;
        };
        let (opts, backlog, accepted, recent) = match self.sockets.get(&lfd) {
            Some(Socket { opts, kind: SocketKind::Listening(l), .. }) => (
                opts.clone(),
                l.backlog,
                l.accept_queue.len(),
                // tcp_synq_no_recent_overflow: not recent once `now` is
                // after the last cookie plus 120 s (time_after, strict).
                l.cookie_at.is_some_and(|t| self.now.saturating_duration_since(t) <= Duration::from_secs(120)),
            ),
            _ => return false,
        };
        if syncookies == 0 || !recent || seg.flags.rst() {
            return false;
        }
        let sseq = seg.seq - 1;
        let Some(mssind) = self.cookie_check(&tuple, sseq, (seg.ack - 1).0) else {
            self.stats.syncookies_failed += 1;
            self.notice(tuple, Notice::SynCookieInvalid);
            return false;
        };
        self.stats.syncookies_recv += 1;
        self.notice(tuple, Notice::SynCookieValid);
        if accepted > backlog.min(somaxconn as usize) {
            self.notice(tuple, Notice::AcceptQueueOverflow { reset: false });
            self.stats.listen_overflows += 1;
            self.stats.listen_drops += 1;
            // The connection was never kept, and Linux forgets it without
            // a word whatever tcp_abort_on_overflow says (cookie_v4_check
            // finds no socket: the ACK is discarded).
            self.drop_event(Some(tuple), DropReason::ListenQueueFull, seg);
            return true;
        }
        // The SYN the cookie stands for, then the ACK itself.
        let mut syn = TcpRepr {
            seq: sseq,
            flags: TcpFlags::SYN,
            window: seg.window,
            src_port: seg.src_port,
            dst_port: seg.dst_port,
            ..TcpRepr::default()
        };
        syn.options.push(TcpOption::Mss(Self::cookie_mss_table(&tuple)[mssind as usize]));
        if let (true, Some((tsval, tsecr))) = (self.profile.timestamps, seg.timestamps()) {
            let bits = tsecr & 0x3f;
            if bits & 0xf != 0xf {
                syn.options.push(TcpOption::WindowScale((bits & 0xf) as u8));
            }
            if bits & (1 << 4) != 0 {
                syn.options.push(TcpOption::SackPermitted);
            }
            syn.options.push(TcpOption::Timestamps { tsval, tsecr: 0 });
        }
        let key = self.next_conn;
        self.next_conn += 1;
        let ts_offset = self.ts_offset(&tuple);
        let mut discard = VecDeque::new();
        let mut ctx = Ctx { now: self.now, profile: &self.profile, out: &mut discard, events: &mut self.events };
        let tcb = Tcb::accept_syn(&mut ctx, tuple, seg.ack - 1, ts_offset, opts, &syn);
        self.conns.insert(key, Conn { tcb, owner: Owner::Listener(lfd) });
        self.stats.connections_opened += 1;
        self.demux.insert(tuple, key);
        if let Some(SocketKind::Listening(l)) = self.sockets.get_mut(&lfd).map(|s| &mut s.kind) {
            l.half_open.push(key);
        }
        self.with_tcb(key, |tcb, ctx| tcb.on_segment(ctx, seg));
        true
    }

    /// Under Linux's queues, an ACK that would complete a half-open
    /// connection while the accept queue is full (tcp_check_req's
    /// listen_overflow): dropped, the connection left half-open, or with
    /// `abort_on_overflow` reset. `true` when that happened.
    fn accept_overflow(&mut self, key: u64, tuple: FourTuple, seg: &TcpRepr) -> bool {
        let ListenQueues::Linux { somaxconn, abort_on_overflow, .. } = self.profile.listen else { return false };
        // The cheap tests first: this runs for every segment of a connection.
        if !seg.flags.ack() || seg.flags.syn() || seg.flags.rst() {
            return false;
        }
        let Some(conn) = self.conns.get(&key) else { return false };
        let Owner::Listener(lfd) = conn.owner else { return false };
        if conn.tcb.state() != State::SynReceived || seg.ack != conn.tcb.snd_nxt() {
            return false;
        }
        let full = match self.sockets.get(&lfd) {
            Some(Socket { kind: SocketKind::Listening(l), .. }) => {
                l.accept_queue.len() > l.backlog.min(somaxconn as usize)
            }
            _ => false,
        };
        if !full {
            return false;
        }
        self.stats.listen_overflows += 1;
        self.stats.listen_drops += 1;
        self.notice(tuple, Notice::AcceptQueueOverflow { reset: abort_on_overflow });
        self.drop_event(Some(tuple), DropReason::ListenQueueFull, seg);
        if abort_on_overflow {
            let rst = TcpRepr { seq: seg.ack, flags: TcpFlags::RST, ..reply_to(seg) };
            self.out.push_back((tuple, rst));
            self.stats.embryonic_rsts += 1;
            self.demux.remove(&tuple);
            if let Some(SocketKind::Listening(l)) = self.sockets.get_mut(&lfd).map(|s| &mut s.kind) {
                l.half_open.retain(|k| *k != key);
            }
            self.conns.remove(&key);
        }
        true
    }

    /// The TIME-WAIT connection on `tuple` an outgoing connection may take
    /// over: its key, SND.NXT and TS.Recent.
    fn time_wait_reusable(&self, tuple: &FourTuple) -> Option<(u64, SeqNumber, u32)> {
        let after = self.profile.tw_reuse_after?;
        let key = *self.demux.get(tuple)?;
        let conn = self.conns.get(&key)?;
        if !matches!(conn.owner, Owner::Orphan) {
            return None;
        }
        let (nxt, ts_recent, at) = conn.tcb.time_wait_timestamps()?;
        (self.now.saturating_duration_since(at) > after).then_some((key, nxt, ts_recent))
    }

    /// The listener a segment to `tuple` goes to: one bound to its local
    /// address, else one bound to the wildcard; among several that share
    /// the port with SO_REUSEPORT, the one the 4-tuple's hash picks
    /// (Linux: reuseport_select_sock), in the order of their descriptors.
    fn find_listener(&self, tuple: &FourTuple) -> Option<Fd> {
        let local = tuple.local;
        // Listeners on the port, bound to the address itself (`true`) or
        // to the wildcard, in the order of their descriptors (`sockets` is
        // sorted); counted first, so the common case allocates nothing.
        let on_port = || {
            self.sockets.iter().filter_map(move |(fd, s)| match (&s.kind, s.local) {
                (SocketKind::Listening(_), Some(addr))
                    if addr.port() == local.port()
                        && s.domain.matches(local.ip())
                        && (addr.ip() == local.ip() || addr.ip().is_unspecified()) =>
                {
                    Some((*fd, addr.ip() == local.ip()))
                }
                _ => None,
            })
        };
        let exact = on_port().filter(|l| l.1).count();
        let want = exact > 0;
        let n = if want { exact } else { on_port().count() };
        let pick = match n {
            0 => return None,
            1 => 0,
            n => siphash24(self.isn_key, &tuple_bytes(tuple)) as usize % n,
        };
        on_port().filter(|l| l.1 == want).nth(pick).map(|l| l.0)
    }

    /// RFC 9293 3.4.1 (MUST-8, MUST-9, SHLD-1): ISN = M + F(localip, localport,
    /// remoteip, remoteport, secretkey), M a clock ticking every `isn_tick`.
    fn isn(&self, t: &FourTuple) -> SeqNumber {
        if let Some(iss) = self.placed.0 {
            return SeqNumber(iss);
        }
        let m = (self.now.total_micros() / self.profile.isn_tick.total_micros().max(1)) as u32;
        SeqNumber(m.wrapping_add(siphash24(self.isn_key, &tuple_bytes(t)) as u32))
    }

    /// A per-connection timestamp offset, so TSval does not reveal the clock.
    fn ts_offset(&self, t: &FourTuple) -> u32 {
        if let Some(off) = self.placed.1 {
            return off;
        }
        siphash24(self.ts_key, &tuple_bytes(t)) as u32
    }

    /// The next datagram to send, with the STATUS of the connection that
    /// queued it if that connection still exists (for oracles: the same
    /// 4-tuple may have had another incarnation since).
    pub fn poll_transmit_from(&mut self, now: Instant) -> Option<(Vec<u8>, Option<ConnView>)> {
        let mut out = Vec::new();
        self.poll_transmit_into(now, &mut out).map(|status| (out, status))
    }

    /// The next segment the stack wants to send, as a parsed packet.
    pub fn poll_segment(&mut self, now: Instant) -> Option<IpPacket> {
        self.advance(now);
        self.tag_output(self.out.len(), None);
        self.pop_segment()
    }

    /// The head of the output queue as a datagram (time already advanced).
    fn pop_segment(&mut self) -> Option<IpPacket> {
        let (tuple, tcp) = self.out.pop_front()?;
        self.out_origin.pop_front();
        self.stats.datagrams_out += 1;
        let ident = self.ip_ident;
        self.ip_ident = self.ip_ident.wrapping_add(1);
        Some(IpPacket { ip: IpRepr { ident, ..IpRepr::new(tuple.local.ip(), tuple.remote.ip()) }, tcp })
    }

    /// The next datagram to put on the wire, as bytes.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.advance(now);
        self.tag_output(self.out.len(), None);
        let mut out = Vec::new();
        self.transmit_next(&mut out).then_some(out)
    }

    /// [`Stack::poll_transmit_from`] into a buffer the caller keeps (cleared
    /// first), so a caller that looks at every datagram allocates none:
    /// `Some(origin)` when a datagram was written.
    pub fn poll_transmit_into(&mut self, now: Instant, out: &mut Vec<u8>) -> Option<Option<ConnView>> {
        self.advance(now);
        self.tag_output(self.out.len(), None);
        let origin = self.out_origin.front().copied().flatten();
        let status = origin.and_then(|k| self.conns.get(&k).map(|c| ConnView { id: k, ..c.tcb.view() }));
        self.transmit_next(out).then_some(status)
    }

    /// Emits the next queued segment into `out` (time already advanced);
    /// `false` when there is none.
    fn transmit_next(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(p) = self.pop_segment() else { return false };
        // A segment the stack built always fits the format; if not, that is a bug
        // the invariant checks and tests catch: report it through the event log.
        match p.emit_into(out) {
            Ok(()) => true,
            Err(e) => {
                self.events.push(Event {
                    at: self.now,
                    conn: None,
                    kind: EventKind::Dropped {
                        reason: DropReason::Malformed(e),
                        segment: Some(SegmentSummary::of(&p.tcp)),
                    },
                });
                false
            }
        }
    }

    /// The events since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
    /// [`Stack::take_events`] into a vector the caller keeps: `out` is
    /// cleared and swapped with the log, so neither allocates again.
    pub fn take_events_into(&mut self, out: &mut Vec<Event>) {
        out.clear();
        std::mem::swap(out, &mut self.events);
    }
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    // ------------------------------------------------------------------
    // Socket calls
    // ------------------------------------------------------------------

    fn socket_mut(&mut self, fd: Fd) -> Result<&mut Socket, Errno> {
        self.sockets.get_mut(&fd).ok_or(Errno::EBADF)
    }

    fn conn_key(&self, fd: Fd) -> Result<u64, Errno> {
        match &self.sockets.get(&fd).ok_or(Errno::EBADF)?.kind {
            SocketKind::Conn(k) => Ok(*k),
            _ => Err(Errno::ENOTCONN),
        }
    }

    pub fn socket(&mut self, now: Instant, domain: Domain) -> Result<Fd, Errno> {
        self.advance(now);
        let fd = (3..).find(|f| !self.sockets.contains_key(f)).ok_or(Errno::EMFILE)?;
        self.sockets.insert(
            fd,
            Socket {
                domain,
                opts: SockOpts::from_profile(&self.profile),
                nonblocking: false,
                local: None,
                kind: SocketKind::Idle,
            },
        );
        Ok(fd)
    }

    pub fn bind(&mut self, now: Instant, fd: Fd, addr: SocketAddr) -> Result<(), Errno> {
        self.advance(now);
        let s = self.sockets.get(&fd).ok_or(Errno::EBADF)?;
        if !s.domain.matches(addr.ip()) {
            return Err(Errno::EAFNOSUPPORT);
        }
        if s.local.is_some() || !matches!(s.kind, SocketKind::Idle) {
            return Err(Errno::EINVAL);
        }
        if !addr.ip().is_unspecified() && !self.addrs.contains(&addr.ip()) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let reuse = s.opts.reuse_addr;
        let reuse_port = s.opts.reuse_port;
        let port = if addr.port() == 0 { self.ephemeral_port(addr.ip(), None)? } else { addr.port() };
        let local = SocketAddr::new(addr.ip(), port);
        // SO_REUSEPORT (Linux's inet_csk_bind_conflict): a socket that set
        // it may share the port with sockets that all set it too.
        let shared = reuse_port && self.port_shared_by_reuseport(fd, local);
        if !shared && self.port_in_use(fd, local, reuse) {
            return Err(Errno::EADDRINUSE);
        }
        self.socket_mut(fd)?.local = Some(SocketAddr::new(addr.ip(), port));
        Ok(())
    }

    /// Every socket holding `addr`'s port (on an overlapping address) set
    /// SO_REUSEPORT, and no connection without a descriptor holds it.
    fn port_shared_by_reuseport(&self, fd: Fd, addr: SocketAddr) -> bool {
        let overlaps = |a: IpAddr| addrs_overlap(a, addr.ip());
        self.sockets.iter().all(|(f, s)| {
            *f == fd || !s.local.is_some_and(|l| l.port() == addr.port() && overlaps(l.ip())) || s.opts.reuse_port
        }) && !self.demux.iter().any(|(t, k)| {
            t.local.port() == addr.port()
                && overlaps(t.local.ip())
                && self.conns.get(k).is_some_and(|c| matches!(c.owner, Owner::Orphan))
        })
    }

    fn port_in_use(&self, fd: Fd, addr: SocketAddr, reuse: bool) -> bool {
        let overlaps = |a: IpAddr| addrs_overlap(a, addr.ip());
        let by_socket = self.sockets.iter().any(|(f, s)| {
            *f != fd
                && s.local.is_some_and(|l| l.port() == addr.port() && overlaps(l.ip()))
                && (!reuse || !s.opts.reuse_addr || matches!(s.kind, SocketKind::Listening(_)))
        });
        // Connections without a descriptor (TIME-WAIT, orphans) hold the port
        // unless SO_REUSEADDR.
        let by_conn = !reuse && self.demux.keys().any(|t| t.local.port() == addr.port() && overlaps(t.local.ip()));
        by_socket || by_conn
    }

    fn ephemeral_port(&mut self, ip: IpAddr, remote: Option<SocketAddr>) -> Result<u16, Errno> {
        let (lo, hi) = self.profile.local_ports.unwrap_or(EPHEMERAL);
        let span = u32::from(hi.saturating_sub(lo)) + 1;
        let start = self.rng.next_u32() % span;
        for i in 0..span {
            let port = lo + ((start + i) % span) as u16;
            let local = SocketAddr::new(ip, port);
            let taken = match remote {
                // A TIME-WAIT the connection may take over does not hold it.
                Some(r) if self.time_wait_reusable(&FourTuple { local, remote: r }).is_some() => false,
                Some(r) => {
                    self.demux.contains_key(&FourTuple { local, remote: r }) || self.port_in_use(-1, local, false)
                }
                None => self.port_in_use(-1, local, false),
            };
            if !taken {
                return Ok(port);
            }
        }
        Err(Errno::EADDRNOTAVAIL)
    }

    pub fn listen(&mut self, now: Instant, fd: Fd, backlog: i32) -> Result<(), Errno> {
        self.advance(now);
        let s = self.sockets.get(&fd).ok_or(Errno::EBADF)?;
        match &s.kind {
            SocketKind::Conn(_) => return Err(Errno::EINVAL),
            SocketKind::Listening(_) => {
                if let Some(SocketKind::Listening(l)) = self.sockets.get_mut(&fd).map(|s| &mut s.kind) {
                    l.backlog = backlog.max(0) as usize;
                }
                return Ok(());
            }
            SocketKind::Idle => {}
        }
        let domain = s.domain;
        if s.local.is_none() {
            // Linux binds an unbound socket to an ephemeral port on listen().
            let unspec = domain.unspecified();
            let port = self.ephemeral_port(unspec, None)?;
            self.socket_mut(fd)?.local = Some(SocketAddr::new(unspec, port));
        }
        let s = self.socket_mut(fd)?;
        s.kind = SocketKind::Listening(Listener {
            backlog: backlog.max(0) as usize,
            half_open: Vec::new(),
            accept_queue: VecDeque::new(),
            cookie_at: None,
        });
        let local = s.local.expect("bound above");
        let tuple = FourTuple { local, remote: SocketAddr::new(domain.unspecified(), 0) };
        self.events.push(Event {
            at: self.now,
            conn: Some(tuple),
            kind: EventKind::Transition { from: State::Closed, to: State::Listen, cause: Cause::Call(Call::Listen) },
        });
        Ok(())
    }

    /// accept(): the next established connection, or EAGAIN.
    pub fn accept(&mut self, now: Instant, fd: Fd) -> Result<(Fd, SocketAddr), Errno> {
        self.advance(now);
        let s = self.sockets.get_mut(&fd).ok_or(Errno::EBADF)?;
        let SocketKind::Listening(l) = &mut s.kind else { return Err(Errno::EINVAL) };
        let key = l.accept_queue.pop_front().ok_or(Errno::EAGAIN)?;
        let domain = s.domain;
        let new_fd = (3..).find(|f| !self.sockets.contains_key(f)).ok_or(Errno::EMFILE)?;
        let conn = self.conns.get_mut(&key).expect("queued connection exists");
        conn.owner = Owner::Fd(new_fd);
        let tuple = conn.tcb.tuple;
        let opts = conn.tcb.opts().clone();
        self.sockets.insert(
            new_fd,
            Socket { domain, opts, nonblocking: false, local: Some(tuple.local), kind: SocketKind::Conn(key) },
        );
        Ok((new_fd, tuple.remote))
    }

    /// connect(): starts the handshake and returns `EINPROGRESS` (the stack
    /// never blocks); completion shows in `poll` and `status`, failure in SO_ERROR.
    pub fn connect(&mut self, now: Instant, fd: Fd, remote: SocketAddr) -> Result<(), Errno> {
        self.advance(now);
        let s = self.sockets.get(&fd).ok_or(Errno::EBADF)?;
        match &s.kind {
            SocketKind::Listening(_) => return Err(Errno::EISCONN),
            SocketKind::Conn(k) => {
                let tcb = &mut self.conns.get_mut(k).expect("socket's connection exists").tcb;
                return match tcb.state() {
                    State::SynSent | State::SynReceived => Err(Errno::EALREADY),
                    State::Closed => Err(tcb.take_error().unwrap_or(Errno::EISCONN)),
                    _ => Err(Errno::EISCONN),
                };
            }
            SocketKind::Idle => {}
        }
        if !s.domain.matches(remote.ip()) {
            return Err(Errno::EAFNOSUPPORT);
        }
        if remote.ip().is_unspecified() || remote.port() == 0 {
            return Err(Errno::EADDRNOTAVAIL);
        }
        // MUST-46: no OPEN to a broadcast or multicast address.
        if !is_unicast(remote.ip()) {
            return Err(Errno::ENETUNREACH);
        }
        let domain = s.domain;
        let opts = s.opts.clone();
        // MUST-44/45: the bound address, or one of ours of the right family.
        let local_ip = match s.local {
            Some(l) if !l.ip().is_unspecified() => l.ip(),
            _ => *self.addrs.iter().find(|a| domain.matches(**a)).ok_or(Errno::EADDRNOTAVAIL)?,
        };
        let port = match s.local {
            Some(l) => l.port(),
            None => self.ephemeral_port(local_ip, Some(remote))?,
        };
        let tuple = FourTuple { local: SocketAddr::new(local_ip, port), remote };
        // tcp_tw_reuse: a TIME-WAIT with an old enough timestamp gives its
        // 4-tuple up; the new ISS lies beyond its sequence space (SND.NXT +
        // 65535 + 2) and the SYN echoes its TS.Recent (tcp_twsk_unique).
        let mut echo = None;
        let mut iss_after = None;
        if let Some((old_key, nxt, ts_recent)) = self.time_wait_reusable(&tuple) {
            self.demux.remove(&tuple);
            self.conns.remove(&old_key);
            echo = Some(ts_recent);
            iss_after = Some(nxt + 65537);
            self.notice(tuple, Notice::TimeWaitReused);
        }
        if self.demux.contains_key(&tuple) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let iss = iss_after.unwrap_or_else(|| self.isn(&tuple));
        let ts_offset = self.ts_offset(&tuple);
        let key = self.next_conn;
        self.next_conn += 1;
        let queued = self.out.len();
        let mut ctx = Ctx { now: self.now, profile: &self.profile, out: &mut self.out, events: &mut self.events };
        let tcb = Tcb::connect_echoing(&mut ctx, tuple, iss, ts_offset, opts, echo);
        self.tag_output(queued, Some(key));
        self.conns.insert(key, Conn { tcb, owner: Owner::Fd(fd) });
        self.stats.connections_opened += 1;
        self.demux.insert(tuple, key);
        let s = self.socket_mut(fd)?;
        s.local = Some(tuple.local);
        s.kind = SocketKind::Conn(key);
        Err(Errno::EINPROGRESS)
    }

    /// send(); `urgent` is MSG_OOB.
    pub fn send(&mut self, now: Instant, fd: Fd, data: &[u8], urgent: bool) -> Result<usize, Errno> {
        self.advance(now);
        let key = self.conn_key(fd)?;
        self.with_tcb(key, |tcb, ctx| tcb.send(ctx, data, urgent)).unwrap_or(Err(Errno::ENOTCONN))
    }

    /// recv() of at most `max` octets; `Ok(empty)` is end of stream.
    pub fn recv(&mut self, now: Instant, fd: Fd, max: usize, peek: bool) -> Result<Vec<u8>, Errno> {
        self.advance(now);
        let key = self.conn_key(fd)?;
        self.with_tcb(key, |tcb, ctx| tcb.recv(ctx, max, peek)).unwrap_or(Err(Errno::ENOTCONN))
    }

    pub fn shutdown(&mut self, now: Instant, fd: Fd, how: Shutdown) -> Result<(), Errno> {
        self.advance(now);
        let key = self.conn_key(fd)?;
        self.with_tcb(key, |tcb, ctx| {
            if tcb.state() == State::Closed || tcb.state() == State::Listen {
                return Err(Errno::ENOTCONN);
            }
            if matches!(how, Shutdown::Read | Shutdown::Both) {
                tcb.shutdown_read();
            }
            if matches!(how, Shutdown::Write | Shutdown::Both) {
                tcb.shutdown_write(ctx, Call::Shutdown);
            }
            Ok(())
        })
        .unwrap_or(Err(Errno::ENOTCONN))
    }

    /// close(): releases the descriptor; the connection closes on its own
    /// (or is aborted with SO_LINGER 0, or reset if unread data is lost).
    pub fn close(&mut self, now: Instant, fd: Fd) -> Result<(), Errno> {
        self.advance(now);
        let s = self.sockets.remove(&fd).ok_or(Errno::EBADF)?;
        match s.kind {
            SocketKind::Idle => {}
            SocketKind::Listening(l) => {
                // Connections not yet accepted are aborted (RFC 9293 3.10.5 for each).
                for key in l.half_open.iter().chain(l.accept_queue.iter()).copied().collect::<Vec<_>>() {
                    if let Some(c) = self.conns.get_mut(&key) {
                        c.owner = Owner::Orphan;
                    }
                    self.with_tcb(key, |tcb, ctx| tcb.abort(ctx));
                }
                let local = s.local.expect("listening sockets are bound");
                self.events.push(Event {
                    at: self.now,
                    conn: Some(FourTuple { local, remote: SocketAddr::new(s.domain.unspecified(), 0) }),
                    kind: EventKind::Transition {
                        from: State::Listen,
                        to: State::Closed,
                        cause: Cause::Call(Call::Close),
                    },
                });
            }
            SocketKind::Conn(key) => {
                if let Some(c) = self.conns.get_mut(&key) {
                    c.owner = Owner::Orphan;
                }
                self.with_tcb(key, |tcb, ctx| {
                    if !tcb.is_finished() {
                        tcb.close(ctx);
                    }
                });
                // A connection that was already closed is deleted with its descriptor.
                if self.conns.get(&key).is_some_and(|c| c.tcb.is_finished()) {
                    self.conns.remove(&key);
                }
            }
        }
        Ok(())
    }

    /// ABORT (RFC 9293 3.10.5), the same as SO_LINGER {on, 0} then close().
    pub fn abort(&mut self, now: Instant, fd: Fd) -> Result<(), Errno> {
        self.advance(now);
        let key = self.conn_key(fd)?;
        self.with_tcb(key, |tcb, ctx| tcb.abort(ctx));
        self.sockets.remove(&fd);
        self.conns.remove(&key);
        Ok(())
    }

    pub fn set_nonblocking(&mut self, fd: Fd, on: bool) -> Result<(), Errno> {
        self.socket_mut(fd)?.nonblocking = on;
        Ok(())
    }
    pub fn is_nonblocking(&self, fd: Fd) -> Result<bool, Errno> {
        Ok(self.sockets.get(&fd).ok_or(Errno::EBADF)?.nonblocking)
    }

    pub fn setsockopt(&mut self, now: Instant, fd: Fd, opt: SockOpt) -> Result<(), Errno> {
        self.advance(now);
        let s = self.socket_mut(fd)?;
        let o = &mut s.opts;
        let secs = |v: u32| -> Result<Option<Duration>, Errno> {
            if v == 0 || v > 32767 {
                Err(Errno::EINVAL)
            } else {
                Ok(Some(Duration::from_secs(u64::from(v))))
            }
        };
        match opt {
            SockOpt::NoDelay(v) => o.nodelay = v,
            SockOpt::KeepAlive(v) => o.keepalive = v,
            SockOpt::KeepIdle(v) => o.keep_idle = secs(v)?,
            SockOpt::KeepIntvl(v) => o.keep_interval = secs(v)?,
            SockOpt::KeepCnt(v) => {
                if v == 0 || v > 127 {
                    return Err(Errno::EINVAL);
                }
                o.keep_count = Some(v)
            }
            SockOpt::MaxSeg(v) => {
                if !(88..=65535).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                o.max_seg = Some(v as u16)
            }
            SockOpt::RcvBuf(v) => o.rcv_buf = (v as usize).max(256),
            SockOpt::SndBuf(v) => o.snd_buf = (v as usize).max(256),
            SockOpt::Linger(v) => o.linger = v.map(|s| Duration::from_secs(u64::from(s))),
            SockOpt::UserTimeout(ms) => o.user_timeout = (ms > 0).then(|| Duration::from_millis(u64::from(ms))),
            SockOpt::ReuseAddr(v) => o.reuse_addr = v,
            SockOpt::ReusePort(v) => o.reuse_port = v,
            SockOpt::Error(_) => return Err(Errno::ENOPROTOOPT),
        }
        let opts = o.clone();
        if let SocketKind::Conn(key) = s.kind {
            self.with_tcb(key, |tcb, ctx| {
                // The receive buffer may shrink, but never below what is already
                // promised: queued data plus the advertised window (which cannot be
                // taken back, SHLD-14).
                let promised = tcb.recv_queued() + tcb.status().rcv_wnd as usize;
                *tcb.opts_mut() = SockOpts { rcv_buf: opts.rcv_buf.max(promised), ..opts };
                tcb.options_changed(ctx);
            });
        }
        Ok(())
    }

    pub fn getsockopt(&mut self, now: Instant, fd: Fd, name: SockOptName) -> Result<SockOpt, Errno> {
        self.advance(now);
        let key = self.conn_key(fd).ok();
        let s = self.sockets.get(&fd).ok_or(Errno::EBADF)?;
        let o = &s.opts;
        let secs = |d: Option<Duration>, dflt: Duration| (d.unwrap_or(dflt).total_micros() / 1_000_000) as u32;
        Ok(match name {
            SockOptName::NoDelay => SockOpt::NoDelay(o.nodelay),
            SockOptName::KeepAlive => SockOpt::KeepAlive(o.keepalive),
            SockOptName::KeepIdle => SockOpt::KeepIdle(secs(o.keep_idle, self.profile.keepalive_idle)),
            SockOptName::KeepIntvl => SockOpt::KeepIntvl(secs(o.keep_interval, self.profile.keepalive_interval)),
            SockOptName::KeepCnt => SockOpt::KeepCnt(o.keep_count.unwrap_or(self.profile.keepalive_count)),
            SockOptName::MaxSeg => {
                let mss = key.and_then(|k| self.conns.get(&k)).map(|c| c.tcb.status().snd_mss);
                SockOpt::MaxSeg(mss.unwrap_or(u32::from(o.max_seg.unwrap_or(536))))
            }
            SockOptName::RcvBuf => SockOpt::RcvBuf(o.rcv_buf as u32),
            SockOptName::SndBuf => SockOpt::SndBuf(o.snd_buf as u32),
            SockOptName::Linger => SockOpt::Linger(o.linger.map(|d| (d.total_micros() / 1_000_000) as u32)),
            SockOptName::UserTimeout => SockOpt::UserTimeout(o.user_timeout.map_or(0, |d| d.total_millis() as u32)),
            SockOptName::ReuseAddr => SockOpt::ReuseAddr(o.reuse_addr),
            SockOptName::ReusePort => SockOpt::ReusePort(o.reuse_port),
            SockOptName::Error => {
                let err = key.and_then(|k| self.conns.get_mut(&k)).and_then(|c| c.tcb.take_error());
                SockOpt::Error(err)
            }
        })
    }

    /// Readiness of a descriptor.
    pub fn poll(&mut self, now: Instant, fd: Fd) -> Result<PollEvents, Errno> {
        self.advance(now);
        let s = self.sockets.get(&fd).ok_or(Errno::EBADF)?;
        Ok(match &s.kind {
            SocketKind::Idle => PollEvents { writable: true, hup: true, ..PollEvents::default() },
            SocketKind::Listening(l) => PollEvents { readable: !l.accept_queue.is_empty(), ..PollEvents::default() },
            SocketKind::Conn(k) => {
                // As Linux's tcp_poll: the receive side is shut by the peer's
                // FIN or by shutdown(SHUT_RD), the send side by
                // shutdown(SHUT_WR); both shut (or CLOSED) is a hang-up. A
                // shut side never blocks: reads return 0, writes fail at once.
                let t = &self.conns[k].tcb;
                let st = t.state();
                let closed = st == State::Closed;
                let err = t.pending_error().is_some();
                let rcv_shut = t.fin_received() || t.read_shut();
                let snd_shut = t.write_shut();
                PollEvents {
                    readable: t.recv_queued() > 0 || rcv_shut || closed || err,
                    writable: (matches!(st, State::Established | State::CloseWait) && t.send_space() > 0)
                        || snd_shut
                        || closed
                        || err,
                    error: err,
                    hup: closed || (rcv_shut && snd_shut),
                    rdhup: rcv_shut || closed,
                    pri: t.urgent_pending().is_some(),
                }
            }
        })
    }

    /// The local and remote address of a descriptor.
    pub fn getsockname(&self, fd: Fd) -> Result<Option<SocketAddr>, Errno> {
        Ok(self.sockets.get(&fd).ok_or(Errno::EBADF)?.local)
    }
    pub fn getpeername(&self, fd: Fd) -> Result<SocketAddr, Errno> {
        let key = self.conn_key(fd)?;
        Ok(self.conns[&key].tcb.tuple.remote)
    }

    /// STATUS (RFC 9293 3.10.6) of a descriptor's connection.
    pub fn status(&self, fd: Fd) -> Result<TcbStatus, Errno> {
        let key = self.conn_key(fd)?;
        Ok(TcbStatus { id: key, ..self.conns[&key].tcb.status() })
    }

    /// The state of a descriptor: LISTEN, CLOSED, or its connection's.
    pub fn state(&self, fd: Fd) -> Result<State, Errno> {
        let s = self.sockets.get(&fd).ok_or(Errno::EBADF)?;
        Ok(match &s.kind {
            SocketKind::Idle => State::Closed,
            SocketKind::Listening(_) => State::Listen,
            SocketKind::Conn(k) => self.conns[k].tcb.state(),
        })
    }

    /// Every live connection, with or without a descriptor (TIME-WAIT, orphans,
    /// children not yet accepted), in 4-tuple order: the analogue of sock_diag.
    pub fn connections(&self) -> Vec<TcbStatus> {
        self.demux.values().map(|k| TcbStatus { id: *k, ..self.conns[k].tcb.status() }).collect()
    }

    /// The connection with this 4-tuple, if it exists.
    pub fn connection(&self, tuple: &FourTuple) -> Option<TcbStatus> {
        self.demux.get(tuple).map(|k| TcbStatus { id: *k, ..self.conns[k].tcb.status() })
    }

    /// [`Stack::connection`]'s sequence variables alone (what the oracles
    /// read before every injected segment).
    pub fn connection_view(&self, tuple: &FourTuple) -> Option<ConnView> {
        let k = self.demux.get(tuple)?;
        self.conns.get(k).map(|c| ConnView { id: *k, ..c.tcb.view() })
    }

    /// Every live connection's [`LiveView`], in 4-tuple order, without
    /// allocating (the liveness oracles read it after every step).
    pub fn live_views(&self) -> impl Iterator<Item = LiveView> + '_ {
        self.demux
            .values()
            .filter_map(|k| self.conns.get(k).map(|c| LiveView { id: *k, ..c.tcb.live_view(&self.profile) }))
    }

    /// Every connection's invariants plus the stack's own bookkeeping.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        for (tuple, key) in self.demux.iter() {
            let Some(c) = self.conns.get(key) else {
                return Err(InvariantViolation { conn: *tuple, what: "demux entry without a connection".into() });
            };
            if c.tcb.tuple != *tuple {
                return Err(InvariantViolation {
                    conn: *tuple,
                    what: "demux key differs from the TCB's 4-tuple".into(),
                });
            }
            if c.tcb.is_finished() {
                return Err(InvariantViolation {
                    conn: *tuple,
                    what: format!("{} connection still demultiplexed", c.tcb.state()),
                });
            }
        }
        for c in self.conns.values() {
            c.tcb.check_invariants()?;
            if c.tcb.is_finished() && !matches!(c.owner, Owner::Fd(_)) {
                return Err(InvariantViolation {
                    conn: c.tcb.tuple,
                    what: "finished connection kept without a descriptor".into(),
                });
            }
        }
        Ok(())
    }
}

/// The fields of a reply that mirror the segment it answers.
fn reply_to(seg: &TcpRepr) -> TcpRepr {
    TcpRepr { src_port: seg.dst_port, dst_port: seg.src_port, ..TcpRepr::default() }
}

/// Whether two bound addresses claim a common local address: equal, or one
/// is the wildcard of the other's family. An IPv6 socket is taken as
/// IPV6_V6ONLY (it never receives IPv4, see `find_listener`), so `[::]` and
/// `0.0.0.0` do not overlap.
fn addrs_overlap(a: IpAddr, b: IpAddr) -> bool {
    let covers = |w: IpAddr, x: IpAddr| w.is_unspecified() && w.is_ipv4() == x.is_ipv4();
    a == b || covers(a, b) || covers(b, a)
}

fn is_unicast(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    }
}

fn tuple_bytes(t: &FourTuple) -> Vec<u8> {
    let mut b = Vec::with_capacity(36);
    for a in [t.local, t.remote] {
        match a.ip() {
            IpAddr::V4(v4) => b.extend_from_slice(&v4.octets()),
            IpAddr::V6(v6) => b.extend_from_slice(&v6.octets()),
        }
        b.extend_from_slice(&a.port().to_be_bytes());
    }
    b
}

/// A SYN cookie's layout and the MSS values it can carry (syncookies.c:
/// COOKIEBITS, MAX_SYNCOOKIE_AGE, msstab; the IPv6 table is IPv6's).
const COOKIE_BITS: u32 = 24;
const COOKIE_MASK: u32 = (1 << COOKIE_BITS) - 1;
const COOKIE_MAX_AGE: u32 = 2;
const COOKIE_MSS_V4: [u16; 4] = [536, 1300, 1440, 1460];
const COOKIE_MSS_V6: [u16; 4] = [1220, 1420, 1440, 8940];

#[cfg(test)]
mod tests {
    use super::*;

    /// `check_invariants` is what every test and the fuzzer lean on; it
    /// must see each kind of broken bookkeeping (which no call can cause).
    #[test]
    fn check_invariants_sees_broken_bookkeeping() {
        let t0 = Instant::ZERO;
        let mut s = Stack::new(StackConfig::default());
        let fd = s.socket(t0, Domain::Inet).unwrap();
        assert_eq!(s.connect(t0, fd, "192.0.2.1:80".parse().unwrap()), Err(Errno::EINPROGRESS));
        assert!(s.check_invariants().is_ok());
        let (tuple, key) = s.demux.iter().map(|(t, k)| (*t, *k)).next().unwrap();
        let what = |s: &Stack| s.check_invariants().expect_err("broken").what;

        let mut b = s.clone();
        b.conns.remove(&key);
        assert!(what(&b).contains("without a connection"));

        let mut b = s.clone();
        b.demux.remove(&tuple);
        b.demux.insert(FourTuple { remote: "192.0.2.1:81".parse().unwrap(), ..tuple }, key);
        assert!(what(&b).contains("differs"));

        let mut b = s.clone();
        let profile = b.profile.clone();
        let (mut out, mut events) = (VecDeque::new(), Vec::new());
        let mut ctx = Ctx { now: t0, profile: &profile, out: &mut out, events: &mut events };
        b.conns.get_mut(&key).unwrap().tcb.abort(&mut ctx);
        assert!(what(&b).contains("still demultiplexed"));
        b.demux.remove(&tuple);
        assert!(b.check_invariants().is_ok(), "a finished connection its descriptor still holds");
        b.conns.get_mut(&key).unwrap().owner = Owner::Orphan;
        assert!(what(&b).contains("without a descriptor"));
    }
}
