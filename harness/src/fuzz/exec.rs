//! Running one case: a fresh reference stack in virtual time, the oracles
//! after every action, and a coverage map of (state, segment kind, next
//! state) transitions for the fuzzer's feedback.

use super::case::{AckAt, Action, Burst, CallKind, Header, Role, SeqAt, CONNECTIONS, HEADER, MAX_RECORDS, RECORD};
use super::diff::{CallResult, Differ, Input};
use reference_stack::event::{Cause, DropReason, EventKind, Notice};
use reference_stack::oracle::{Oracle, TimerSteps, Violation};
use reference_stack::wire::{IpRepr, OptionData, SackBlocks, TcpFlags, TcpOption, TcpOptions, TcpRepr};
use reference_stack::{
    Domain, Duration, Fd, FourTuple, Instant, Profile, SeqNumber, SockOpt, Stack, StackConfig, State,
};
use std::net::SocketAddr;

/// The bytes written by `Send` calls and carried by injected payloads: a
/// fixed pattern, sliced rather than rebuilt per action.
static PATTERN: [u8; 70_000] = {
    let mut p = [0u8; 70_000];
    let mut i = 0;
    while i < p.len() {
        p[i] = b'a' + (i % 26) as u8;
        i += 1;
    }
    p
};

// The coverage map's regions: a slot is the region's start plus an index.
/// (from state * 11 + to state) * 48 + cause: 121 * 48 = 5,808 slots.
const TRANSITIONS: usize = 0;
/// Drop reason * 8 + the dropped segment's flags (of 8): 96 slots.
const DROPS: usize = 6000;
/// The stack's notices: 32 slots.
const NOTICES: usize = 6200;
/// State * 64 + the flags of a segment injected in it: 704 slots.
const SEGMENT_KINDS: usize = 6300;
/// The flags of an emitted segment: 64 slots.
const EMITTED: usize = 7040;

/// Size of the coverage map: the regions above, back to back (each ends
/// before the next begins; the last ends here).
pub const MAP_SIZE: usize = EMITTED + 64;

pub const LOCAL: &str = "198.51.100.1:8080";
/// The peer of connection 0; connection k's is on the port k above.
pub const REMOTE: &str = "192.0.2.1:40000";
/// `REMOTE`'s address (as a constant: the comparison looks at it per datagram).
pub const REMOTE_IP: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

/// The remote port of connection `conn`.
pub fn remote_port(conn: u8) -> u16 {
    40000 + u16::from(conn)
}

/// An oracle that failed, and after which action (0 = the setup).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub violation: Violation,
    pub step: usize,
}

/// What the case did, in the script's terms (for writing a reproducer).
#[derive(Clone, Debug)]
pub enum Recorded {
    /// A segment sent to the stack by connection `conn`, with the stack's
    /// ISN as the engine will know it at that point (from the stack's
    /// first SYN on that connection).
    In {
        at: Instant,
        conn: u8,
        tcp: Box<TcpRepr>,
        stack_isn: Option<u32>,
    },
    Call {
        at: Instant,
        text: String,
    },
    /// Connection `conn` starts again: a new `connect()` on it, numbered
    /// from its new SYN.
    NewConnection {
        at: Instant,
        conn: u8,
    },
    /// SYNs like `tcp` from `count` sources (a `flood` step).
    Flood {
        at: Instant,
        count: u16,
        tcp: Box<TcpRepr>,
    },
    /// The clock ran on from `at` to `until` (a `wait` step).
    Wait {
        at: Instant,
        until: Instant,
    },
    /// A datagram the stack sent (not part of the script: what its replay
    /// must send again, for checking that it does).
    Out {
        at: Instant,
        bytes: Vec<u8>,
    },
}

/// The state transitions a run's `map` shows (from, to), in map order.
pub fn transitions_hit(map: &[u8]) -> Vec<(State, State)> {
    let n = State::ALL.len();
    (0..n * n)
        .filter(|i| {
            map.get(TRANSITIONS + i * 48..TRANSITIONS + (i + 1) * 48).is_some_and(|c| c.iter().any(|b| *b != 0))
        })
        .map(|i| (State::ALL[i / n], State::ALL[i % n]))
        .collect()
}

/// The stack's notices the map counts, by their slot in the NOTICES
/// region, with a name for reports.
pub const NOTICE_NAMES: [(usize, &str); 10] = [
    (0, "R1 reached"),
    (1, "fast retransmit"),
    (2, "TIME-WAIT reopened by a SYN"),
    (4, "SYN cookie sent"),
    (5, "SYN cookie validated"),
    (6, "cookie ACK rejected"),
    (7, "accept-queue overflow, ACK dropped"),
    (8, "accept-queue overflow, reset"),
    (9, "TIME-WAIT taken over (tcp_tw_reuse)"),
    (10, "window kept (SND.WL1)"),
];

/// The notices (names of [`NOTICE_NAMES`]) a run's `map` shows, and
/// whether a SYN was dropped for a full listen queue.
pub fn notices_hit(map: &[u8]) -> Vec<&'static str> {
    let mut v: Vec<&'static str> =
        NOTICE_NAMES.iter().filter(|(i, _)| map.get(NOTICES + i).is_some_and(|b| *b != 0)).map(|(_, n)| *n).collect();
    let syn = flag_class(TcpFlags::SYN) % 8;
    if map.get(DROPS + drop_index(&DropReason::ListenQueueFull) * 8 + syn).is_some_and(|b| *b != 0) {
        v.push("SYN dropped, listen queue full");
    }
    v
}

fn state_index(s: State) -> usize {
    State::ALL.iter().position(|x| *x == s).unwrap_or(0)
}

fn flag_class(f: TcpFlags) -> usize {
    // SYN, ACK, FIN, RST, PSH, URG: 64 combinations.
    usize::from(f.0 & 0x3f)
}

fn drop_index(r: &DropReason) -> usize {
    match r {
        DropReason::Malformed(_) => 0,
        DropReason::NotForUs => 1,
        DropReason::Unacceptable => 2,
        DropReason::Paws => 3,
        DropReason::MissingTimestamp => 4,
        DropReason::RstChallenged => 5,
        DropReason::SynChallenged => 6,
        DropReason::AckOutOfRange => 7,
        DropReason::Ignored => 8,
        DropReason::ListenQueueFull => 9,
        DropReason::ReassemblyFull => 10,
        _ => 11,
    }
}

fn notice_index(n: &Notice) -> usize {
    match n {
        Notice::R1Reached { .. } => 0,
        Notice::FastRetransmit { .. } => 1,
        Notice::TimeWaitReopened => 2,
        Notice::SynCookieSent => 4,
        Notice::SynCookieValid => 5,
        Notice::SynCookieInvalid => 6,
        Notice::AcceptQueueOverflow { reset: false } => 7,
        Notice::AcceptQueueOverflow { reset: true } => 8,
        Notice::TimeWaitReused => 9,
        Notice::WindowKept => 10,
        _ => 3,
    }
}

/// [`bucket`] as a table: 256 octets, in L1 cache, no branches.
static BUCKETS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = bucket(i as u8);
        i += 1;
    }
    t
};

/// AFL's hit-count classes (1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+), so the
/// map the fuzzer reads is already bucketed and needs no pass over all of it.
const fn bucket(n: u8) -> u8 {
    match n {
        0..=2 => n,
        3 => 4,
        4..=7 => 8,
        8..=15 => 16,
        16..=31 => 32,
        32..=127 => 64,
        _ => 128,
    }
}

/// Turns a map of raw hit counts into AFL's classes in place, eight slots at
/// a time, skipping the words that are all zero: an execution reaches a few
/// percent of a map, and a lookup per slot (LibAFL's hit-count observer
/// reads a 128 KiB table for every pair of slots) cost more than the rest of
/// the fuzzer's bookkeeping. For maps written by code we do not control
/// (the SanitizerCoverage edge counters); [`run_case`] classifies its own
/// map as it goes.
pub fn classify_counts(map: &mut [u8]) {
    let mut words = map.chunks_exact_mut(8);
    for w in &mut words {
        let word: &mut [u8; 8] = w.try_into().expect("chunks of 8");
        if u64::from_ne_bytes(*word) != 0 {
            for b in word.iter_mut() {
                *b = BUCKETS[usize::from(*b)];
            }
        }
    }
    for b in words.into_remainder() {
        *b = BUCKETS[usize::from(*b)];
    }
}

/// One of the case's connections, as the peer knows it.
#[derive(Clone, Copy)]
struct Peer {
    local: SocketAddr,
    remote: SocketAddr,
    fd: Option<Fd>,
    /// The stack's ISN, from its first SYN to this peer (since the last
    /// `connect()` on it).
    stack_isn: Option<u32>,
    last_tsval: u32,
    /// A `connect()` was made on it (a second one starts a new connection).
    connected: bool,
    /// The sequence number of the peer's last SYN, and, when the stack
    /// answered it with a SYN cookie (and kept nothing), RCV.NXT as it
    /// expects it and the cookie: what `SeqAt` and `AckAt` count from while
    /// the connection has no TCB. (`stack_isn` stays what a replay learns.)
    last_syn: u32,
    cookie: Option<(u32, u32)>,
}

struct Run<'m> {
    stack: Stack,
    oracle: Oracle,
    now: Instant,
    role: Role,
    peers: [Peer; CONNECTIONS as usize],
    lfd: Option<Fd>,
    ts_clock: u32,
    map: &'m mut [u8],
    /// The map slots hit so far (each once), for bucketing at the end.
    touched: Vec<u16>,
    /// Buffers reused for every emitted datagram, every step's events and
    /// every injected segment (kept from one case to the next: see [`Scratch`]).
    wire: Vec<u8>,
    events: Vec<reference_stack::Event>,
    tcp: TcpRepr,
    rec: Option<&'m mut Vec<Recorded>>,
    /// The other stack of a differential run, driven beside this one.
    diff: Option<&'m mut Differ>,
}

/// The buffers a run needs, kept between runs on the same thread so that
/// an execution allocates none of them again. Each run empties what it
/// takes, so nothing of one case reaches the next but capacity.
#[derive(Default)]
struct Scratch {
    touched: Vec<u16>,
    wire: Vec<u8>,
    events: Vec<reference_stack::Event>,
    tcp: TcpRepr,
}

thread_local! {
    static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::new(Scratch::default());
}

impl Run<'_> {
    /// Counts a hit of slot `i` (raw counts; [`Run::bucket_map`] classifies).
    fn hit(&mut self, i: usize) {
        let i = i % self.map.len();
        let slot = &mut self.map[i];
        if *slot == 0 {
            self.touched.push(i as u16);
        }
        *slot = slot.saturating_add(1);
    }

    /// Turns the raw counts of the slots hit into AFL's classes.
    fn bucket_map(&mut self) {
        for &i in &self.touched {
            let slot = &mut self.map[usize::from(i)];
            *slot = bucket(*slot);
        }
    }

    /// The clock as the other stack of a differential run reads it.
    fn at(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.now.total_micros())
    }

    /// Each connection's state on the reference stack and on the other
    /// stack (all `None` without one).
    fn states(&mut self) -> [[Option<State>; CONNECTIONS as usize]; 2] {
        let mut s = [[None; CONNECTIONS as usize]; 2];
        let Some(d) = self.diff.as_deref_mut() else { return s };
        for (c, p) in self.peers.iter().enumerate() {
            s[0][c] = self.stack.connection_view(&FourTuple { local: p.local, remote: p.remote }).map(|v| v.state);
            s[1][c] = d.state(c, p.local, p.remote);
        }
        s
    }

    /// A differential run's step begins: both stacks' states before it.
    fn diff_begin(&mut self, input: Input, conn: u8) {
        if self.diff.is_some() {
            let st = match self.diff.as_deref().and_then(Differ::last_after) {
                Some(st) => st,
                None => self.states(),
            };
            if let Some(d) = self.diff.as_deref_mut() {
                d.begin_step(input, conn, st);
            }
        }
    }

    /// A differential run's step ends: both stacks' states after it, and
    /// their queues where the states agree (one look at each connection).
    fn diff_end(&mut self) {
        let Some(d) = self.diff.as_deref_mut() else { return };
        let mut st = [[None; CONNECTIONS as usize]; 2];
        let mut queued = [[None; CONNECTIONS as usize]; 2];
        let mut rcv_nxt = [None; CONNECTIONS as usize];
        for (c, p) in self.peers.iter().enumerate() {
            let view = self.stack.connection_view(&FourTuple { local: p.local, remote: p.remote });
            st[0][c] = view.map(|v| v.state);
            // (Queues only where both stacks have the connection in one
            // state: elsewhere the states part first.)
            let other = d.connection(c, p.local, p.remote, st[0][c].is_some());
            st[1][c] = other.map(|(s, _)| s);
            if st[0][c].is_some() && st[0][c] == st[1][c] {
                rcv_nxt[c] = view.map(|v| v.rcv_nxt.0);
                queued[0][c] =
                    view.map(|v| crate::target::adapter::Queued { recv: v.recv_queued, send: v.send_queued });
                queued[1][c] = other.and_then(|(_, q)| q);
            }
        }
        d.end_step(st, queued, rcv_nxt);
    }

    /// The other stack's side of a call on connection `conn`: `other` makes
    /// it there (with the connection's descriptor there); the two results
    /// are kept for the comparison.
    fn mirror(
        &mut self,
        conn: u8,
        reference: CallResult,
        other: impl FnOnce(&mut dyn crate::target::adapter::StackAdapter, std::time::Duration, Fd) -> CallResult,
    ) {
        let at = self.at();
        let Some(d) = self.diff.as_deref_mut() else { return };
        let r = match d.peers[usize::from(conn)].fd {
            Some(fd) => other(d.stack.as_mut(), at, fd),
            None => Err(reference_stack::Errno::EBADF),
        };
        if reference.is_ok() && r == Err(reference_stack::Errno::ENOPROTOOPT) {
            d.stop_comparing("a socket option the other stack does not have");
        }
        d.set_result(reference, r);
    }

    fn tuple(&self, conn: u8) -> FourTuple {
        let p = &self.peers[usize::from(conn)];
        FourTuple { local: p.local, remote: p.remote }
    }

    fn call(&mut self, text: impl FnOnce() -> String) {
        if let Some(r) = self.rec.as_deref_mut() {
            r.push(Recorded::Call { at: self.now, text: text() });
        }
    }

    /// Sends what the stack queued through the oracles; logs and checks events.
    fn settle(&mut self, step: usize) -> Result<(), Finding> {
        let fail = |violation| Finding { violation, step };
        while let Some(origin) = self.stack.poll_transmit_into(self.now, &mut self.wire) {
            if let Some(r) = self.rec.as_deref_mut() {
                r.push(Recorded::Out { at: self.now, bytes: self.wire.clone() });
            }
            let parsed = self.oracle.on_emit_header(&self.wire, origin.as_ref());
            if let Some(d) = self.diff.as_deref_mut() {
                let at = std::time::Duration::from_micros(self.now.total_micros());
                match &parsed {
                    Ok((ip, tcp)) => d.reference_sent_parsed(at, &self.wire, ip, tcp),
                    Err(_) => d.reference_sent(at, &self.wire),
                }
            }
            let (ip, tcp) = parsed.map_err(fail)?;
            if let Some(p) = self.peers.iter_mut().find(|p| ip.dst == p.remote.ip() && tcp.dst_port == p.remote.port())
            {
                if tcp.flags.syn() && p.stack_isn.is_none() {
                    p.stack_isn = Some(tcp.seq.0);
                    p.local = SocketAddr::new(p.local.ip(), tcp.src_port);
                }
                // A SYN,ACK that left no TCB behind: a cookie (what the
                // peer's ACK must carry back).
                if tcp.flags.syn() && tcp.flags.ack() && self.role == Role::Listen {
                    let tuple = FourTuple { local: p.local, remote: p.remote };
                    if self.stack.connection_view(&tuple).is_none() {
                        p.cookie = Some((p.last_syn.wrapping_add(1), tcp.seq.0));
                    }
                }
                // (The connection the case opened last: one before it to
                // the same port may still send.)
                if let Some((v, _)) = tcp.timestamps.filter(|_| tcp.src_port == p.local.port()) {
                    p.last_tsval = v;
                }
            }
            self.hit(EMITTED + flag_class(tcp.flags));
        }
        let at = self.at();
        if let Some(d) = self.diff.as_deref_mut() {
            d.settle(at);
        }
        self.stack.take_events_into(&mut self.events);
        let events = std::mem::take(&mut self.events);
        let checked = self.oracle.on_events(&events);
        for e in &events {
            match &e.kind {
                EventKind::Transition { from, to, cause } => {
                    let c = match cause {
                        Cause::Segment(s) => flag_class(s.flags) % 40,
                        Cause::Call(c) => 40 + (*c as usize % 4),
                        Cause::Timer(t) => 44 + (*t as usize % 4),
                    };
                    self.hit(TRANSITIONS + (state_index(*from) * 11 + state_index(*to)) * 48 + c);
                }
                EventKind::Dropped { reason, segment } => {
                    let r = drop_index(reason);
                    let f = segment.map_or(0, |s| flag_class(s.flags) % 8);
                    self.hit(DROPS + r * 8 + f);
                }
                EventKind::Notice(n) => {
                    self.hit(NOTICES + notice_index(n) % 32);
                    if let (Notice::WindowKept, Some(t), Some(d)) = (n, e.conn, self.diff.as_deref_mut()) {
                        if let Some(c) = self.peers.iter().position(|p| p.remote == t.remote) {
                            d.window_kept(c);
                        }
                    }
                }
            }
        }
        self.events = events;
        checked.map_err(fail)?;
        self.oracle.end_step(&self.stack, self.now).map_err(fail)
    }

    fn segment(&mut self, s: &super::case::Segment) {
        let conn = s.conn % CONNECTIONS;
        let peer = self.peers[usize::from(conn)];
        let tuple = self.tuple(conn);
        let st = self.stack.connection_view(&tuple);
        let (rcv_nxt, rcv_wnd, snd_nxt, snd_una, max_wnd, state) = match &st {
            Some(c) => (c.rcv_nxt.0, c.rcv_wnd, c.snd_nxt.0, c.snd_una.0, c.max_snd_wnd, c.state),
            None => {
                let isn = peer.cookie.map(|c| c.1).or(peer.stack_isn);
                (
                    peer.cookie.map_or(0, |c| c.0),
                    0,
                    isn.map_or(0, |i| i.wrapping_add(1)),
                    isn.unwrap_or(0),
                    0,
                    State::Closed,
                )
            }
        };
        self.hit(SEGMENT_KINDS + state_index(state) * 64 + flag_class(TcpFlags(s.flags)));
        let seq = match s.seq {
            SeqAt::Next(d) => rcv_nxt.wrapping_add(d),
            SeqAt::Old(d) => rcv_nxt.wrapping_sub(1).wrapping_sub(d),
            SeqAt::Beyond(d) => rcv_nxt.wrapping_add(rcv_wnd).wrapping_add(d),
            SeqAt::InsideRight(d) => rcv_nxt.wrapping_add(rcv_wnd).wrapping_sub(1).wrapping_sub(d),
            SeqAt::Raw(v) => v,
        };
        let ack = match s.ack {
            AckAt::Next(d) => snd_nxt.wrapping_add(d),
            AckAt::Una(d) => snd_una.wrapping_sub(d),
            AckAt::BelowWindow(d) => snd_una.wrapping_sub(max_wnd).wrapping_sub(d),
            AckAt::Raw(v) => v,
        };
        let mut flags = TcpFlags(s.flags);
        if s.options & 8 != 0 {
            self.ts_clock = self.ts_clock.wrapping_add(1 + u32::from(s.option_arg % 4));
        }
        if s.options & 64 != 0 {
            flags |= TcpFlags::URG;
        }
        // The segment is built in the run's reused buffers.
        let tcp = &mut self.tcp;
        let urgent = options_into(s, self.ts_clock, peer.last_tsval, snd_una, &mut tcp.options);
        tcp.payload.clear();
        tcp.payload.extend_from_slice(&PATTERN[..usize::from(s.payload_len)]);
        tcp.src_port = peer.remote.port();
        tcp.dst_port = peer.local.port();
        tcp.seq = SeqNumber(seq);
        tcp.ack = SeqNumber(ack);
        tcp.flags = flags;
        tcp.reserved = 0;
        tcp.window = s.window;
        tcp.urgent = urgent;
        let ip = IpRepr::new(peer.remote.ip(), peer.local.ip());
        // What cannot be put on the wire is not sent (options over 40 bytes).
        if tcp.check_emit().is_err() {
            return;
        }
        self.oracle.before_inject(tuple, st.as_ref());
        self.oracle.on_inject(ip.src, ip.dst, tcp);
        if let Some(r) = self.rec.as_deref_mut() {
            r.push(Recorded::In { at: self.now, conn, tcp: Box::new(tcp.clone()), stack_isn: peer.stack_isn });
        }
        let p = &mut self.peers[usize::from(conn)];
        if flags.syn() {
            p.last_syn = seq;
        }
        if st.is_some() {
            p.cookie = None;
        }
        // The segment as the stack's parser would hand it over, without the
        // round trip through bytes (a replayed script takes that trip:
        // `injected_segments_are_what_the_wire_gives` holds the two equal).
        // Like `handle_packet`, but for the datagram counter, which no
        // oracle reads.
        if let Some(d) = self.diff.as_deref_mut() {
            if let Some(v) = &st {
                d.set_numbers(super::diff::Numbers::of(seq, flags.ack().then_some(ack), v));
            }
            d.inject(std::time::Duration::from_micros(self.now.total_micros()), conn, ip, tcp);
        }
        pad_as_parsed(tcp);
        self.stack.handle_segment(self.now, ip, tcp);
    }

    /// Moves the clock to `until`, firing each timer due before it at its
    /// own deadline and settling after each, as a replay does (the
    /// engine's `run_until`): a timer is never handled late.
    fn wait_until(&mut self, until: Instant, step: usize) -> Result<(), Finding> {
        let mut timers = TimerSteps::new(until);
        while let Some(t) = timers.next(&self.stack, self.now).map_err(|violation| Finding { violation, step })? {
            self.now = t;
            // The other stack's timers due before this one first, each at
            // its own deadline.
            let at = self.at();
            if let Some(d) = self.diff.as_deref_mut() {
                d.wait_until(at);
            }
            self.stack.handle_timeout(self.now);
            self.settle(step)?;
        }
        self.now = until;
        let at = self.at();
        if let Some(d) = self.diff.as_deref_mut() {
            d.wait_until(at);
        }
        self.stack.handle_timeout(self.now);
        Ok(())
    }

    /// SYNs from `b.count` sources of the peer's network, as a script's
    /// `flood` step sends them (the same sources, all at once, to connection
    /// 0's port).
    fn burst(&mut self, b: &Burst, step: usize) -> Result<(), Finding> {
        let main = self.peers[0];
        let Ok(sources) = crate::engine::flood_sources(main.remote.ip(), u32::from(b.count)) else { return Ok(()) };
        let seg = super::case::Segment {
            conn: 0,
            flags: TcpFlags::SYN.0,
            seq: SeqAt::Raw(b.seq),
            ack: AckAt::Raw(0),
            window: b.window,
            // A SYN's options: no SACK blocks, no urgent pointer.
            options: b.options & 0x2f,
            option_arg: b.option_arg,
            payload_len: 0,
        };
        let mut tcp = TcpRepr {
            src_port: 0,
            dst_port: main.local.port(),
            seq: SeqNumber(b.seq),
            flags: TcpFlags::SYN,
            window: b.window,
            ..TcpRepr::default()
        };
        options_into(&seg, self.ts_clock, 0, 0, &mut tcp.options);
        if tcp.check_emit().is_err() {
            return Ok(());
        }
        if let Some(r) = self.rec.as_deref_mut() {
            r.push(Recorded::Flood { at: self.now, count: b.count, tcp: Box::new(tcp.clone()) });
        }
        pad_as_parsed(&mut tcp);
        for (addr, port) in sources {
            tcp.src_port = port;
            let tuple = FourTuple { local: main.local, remote: SocketAddr::new(addr, port) };
            let st = self.stack.connection_view(&tuple);
            self.hit(
                SEGMENT_KINDS
                    + state_index(st.as_ref().map_or(State::Listen, |c| c.state)) * 64
                    + flag_class(tcp.flags),
            );
            let ip = IpRepr::new(addr, main.local.ip());
            self.oracle.before_inject(tuple, st.as_ref());
            self.oracle.on_inject(ip.src, ip.dst, &tcp);
            let at = self.at();
            if let Some(d) = self.diff.as_deref_mut() {
                d.send(at, ip, &tcp);
            }
            self.stack.handle_segment(self.now, ip, &tcp);
        }
        // Settled once: the answers leave at the same instant either way,
        // in the same order.
        self.settle(step)
    }

    /// Does action number `step` (from 1); the caller settles after it.
    fn act(&mut self, a: &Action, step: usize) -> Result<(), Finding> {
        let now = self.now;
        match a {
            Action::Segment(s) => self.segment(s),
            Action::SynBurst(b) => return self.burst(b, step),
            Action::Wait(d) => {
                let until = match d {
                    Some(us) => now + Duration::from_micros(*us),
                    None => self.stack.poll_timeout().filter(|t| *t > now).unwrap_or(now + Duration::from_millis(1)),
                };
                if let Some(r) = self.rec.as_deref_mut() {
                    r.push(Recorded::Wait { at: now, until });
                }
                return self.wait_until(until, step);
            }
            Action::Call { conn, call: c } => {
                let conn = conn % CONNECTIONS;
                let Some(fd) = self.peers[usize::from(conn)].fd else {
                    if let CallKind::Accept = c {
                        self.open(conn);
                    }
                    return Ok(());
                };
                self.call_with(fd, conn, *c);
            }
        }
        Ok(())
    }

    /// `Accept` on a connection without a socket: under [`Role::Listen`]
    /// an `accept()` (of whichever connection is first in the queue: the
    /// socket goes to the peer it came from, if that is one of the case's);
    /// under [`Role::Connect`], for connections 1 and 2, a `connect()` to
    /// the connection's peer (a second one on the same connection starts it
    /// again, and with `tcp_tw_reuse` may take its TIME-WAIT over).
    fn open(&mut self, conn: u8) {
        let now = self.now;
        match (self.role, self.lfd) {
            (Role::Listen, Some(lfd)) => {
                let r = self.stack.accept(now, lfd);
                let mut to = None;
                if let Ok((nfd, from)) = r {
                    let _ = self.stack.set_nonblocking(nfd, true);
                    to = self.peers.iter().position(|p| p.remote == from && p.fd.is_none());
                    if let Some(k) = to {
                        self.peers[k].fd = Some(nfd);
                    }
                    self.call(|| format!("accept({lfd}) = *"));
                    self.call(|| format!("fcntl({nfd}, F_SETFL, O_NONBLOCK) = *"));
                }
                let at = self.at();
                if let Some(d) = self.diff.as_deref_mut() {
                    // The other stack's accepted connection goes to the
                    // peer the reference stack's came from.
                    let o = match d.lfd {
                        Some(l) => d.stack.accept(at, l),
                        None => Err(reference_stack::Errno::EBADF),
                    };
                    if let (Ok(ofd), Some(k)) = (o, to) {
                        d.peers[k].fd = Some(ofd);
                    }
                    d.set_result(r.map(|_| ()), o.map(|_| ()));
                }
            }
            (Role::Connect, _) if conn > 0 => {
                let Ok(fd) = self.stack.socket(now, Domain::Inet) else { return };
                let _ = self.stack.set_nonblocking(fd, true);
                let peer = &mut self.peers[usize::from(conn)];
                let remote = peer.remote;
                let again = std::mem::replace(&mut peer.connected, true);
                if again {
                    peer.stack_isn = None;
                    if let Some(r) = self.rec.as_deref_mut() {
                        r.push(Recorded::NewConnection { at: now, conn });
                    }
                }
                self.call(|| format!("socket() = {fd}"));
                self.call(|| format!("fcntl({fd}, F_SETFL, O_NONBLOCK) = *"));
                let r = self.stack.connect(now, fd, remote);
                self.peers[usize::from(conn)].fd = Some(fd);
                self.call(|| format!("connect({fd}, {remote}) = *"));
                let at = self.at();
                if let Some(d) = self.diff.as_deref_mut() {
                    d.new_connection(conn);
                    let o = d.stack.socket(at, false).and_then(|ofd| {
                        d.peers[usize::from(conn)].fd = Some(ofd);
                        d.stack.connect(at, ofd, remote)
                    });
                    d.set_result(r, o);
                }
            }
            _ => {}
        }
    }

    /// A call on connection `conn`'s socket `fd` (and on the other stack's,
    /// in a differential run).
    fn call_with(&mut self, fd: Fd, conn: u8, c: CallKind) {
        let now = self.now;
        match c {
            CallKind::Accept => {}
            CallKind::Send(n) => {
                let n = usize::from(n) % 16_384;
                let r = self.stack.send(now, fd, &PATTERN[..n], false);
                self.mirror(conn, r.map(|_| ()), |o, t, ofd| o.send(t, ofd, &PATTERN[..n]).map(|_| ()));
                self.call(|| format!("write({fd}, {n}) = *"));
            }
            CallKind::Urgent(n) => {
                let n = usize::from(n).max(1);
                let _ = self.stack.send(now, fd, &PATTERN[..n], true);
                if let Some(d) = self.diff.as_deref_mut() {
                    d.stop_comparing("urgent data (the adapters' socket API has none)");
                }
                self.call(|| format!("send({fd}, ..., {n}, MSG_OOB) = *"));
            }
            CallKind::Recv(n) => {
                let r = self.stack.recv(now, fd, usize::from(n), false);
                self.mirror(conn, r.map(|_| ()), |o, t, ofd| o.recv(t, ofd, usize::from(n), false).map(|_| ()));
                self.call(|| format!("read({fd}, {n}) = *"));
            }
            CallKind::Close => {
                let r = self.stack.close(now, fd);
                self.mirror(conn, r, |o, t, ofd| o.close(t, ofd));
                self.peers[usize::from(conn)].fd = None;
                if let Some(d) = self.diff.as_deref_mut() {
                    d.peers[usize::from(conn)].fd = None;
                }
                self.call(|| format!("close({fd}) = *"));
            }
            CallKind::Abort => {
                let a = self.stack.setsockopt(now, fd, SockOpt::Linger(Some(0)));
                let b = self.stack.close(now, fd);
                self.mirror(conn, a.and(b), |o, t, ofd| {
                    let a = o.setsockopt(t, ofd, SockOpt::Linger(Some(0)));
                    a.and(o.close(t, ofd))
                });
                self.peers[usize::from(conn)].fd = None;
                if let Some(d) = self.diff.as_deref_mut() {
                    d.peers[usize::from(conn)].fd = None;
                }
                self.call(|| format!("setsockopt({fd}, SO_LINGER, 0) = *"));
                self.call(|| format!("close({fd}) = *"));
            }
            CallKind::Shutdown(h) => {
                let (how, name) = match h {
                    0 => (reference_stack::Shutdown::Read, "SHUT_RD"),
                    1 => (reference_stack::Shutdown::Write, "SHUT_WR"),
                    _ => (reference_stack::Shutdown::Both, "SHUT_RDWR"),
                };
                let r = self.stack.shutdown(now, fd, how);
                self.mirror(conn, r, |o, t, ofd| o.shutdown(t, ofd, how));
                self.call(|| format!("shutdown({fd}, {name}) = *"));
            }
            CallKind::NoDelay(on) => {
                let r = self.stack.setsockopt(now, fd, SockOpt::NoDelay(on));
                self.mirror(conn, r, |o, t, ofd| o.setsockopt(t, ofd, SockOpt::NoDelay(on)));
                self.call(|| format!("setsockopt({fd}, TCP_NODELAY, {}) = *", u8::from(on)));
            }
            CallKind::KeepAlive { idle, probes } => {
                let idle = u32::from(idle) + 1;
                let mut opts = vec![SockOpt::KeepAlive(true), SockOpt::KeepIdle(idle)];
                self.call(|| format!("setsockopt({fd}, SO_KEEPALIVE, 1) = *"));
                self.call(|| format!("setsockopt({fd}, TCP_KEEPIDLE, {idle}) = *"));
                if probes != 0 {
                    let (intvl, cnt) = (1 + u32::from(probes & 15), 1 + u32::from(probes >> 4 & 7));
                    opts.extend([SockOpt::KeepIntvl(intvl), SockOpt::KeepCnt(cnt)]);
                    self.call(|| format!("setsockopt({fd}, TCP_KEEPINTVL, {intvl}) = *"));
                    self.call(|| format!("setsockopt({fd}, TCP_KEEPCNT, {cnt}) = *"));
                }
                for opt in opts {
                    let r = self.stack.setsockopt(now, fd, opt);
                    self.mirror(conn, r, |o, t, ofd| o.setsockopt(t, ofd, opt));
                }
            }
            CallKind::RcvBuf(n) => {
                let v = u32::from(n) * 4 + 256;
                let r = self.stack.setsockopt(now, fd, SockOpt::RcvBuf(v));
                self.mirror(conn, r, |o, t, ofd| o.setsockopt(t, ofd, SockOpt::RcvBuf(v)));
                self.call(|| format!("setsockopt({fd}, SO_RCVBUF, {v}) = *"));
            }
        }
    }
}

/// The options a segment record asks for (bits of `s.options`, see
/// [`super::case::Segment`]), written into `options` (cleared first), and
/// its urgent pointer.
fn options_into(s: &super::case::Segment, tsval: u32, tsecr: u32, snd_una: u32, options: &mut TcpOptions) -> u16 {
    options.clear();
    let a = s.option_arg;
    if s.options & 1 != 0 {
        options.push(TcpOption::Mss(536 + u16::from(a) * 4));
    }
    if s.options & 2 != 0 {
        options.extend([TcpOption::Nop, TcpOption::WindowScale(a % 16)]);
    }
    if s.options & 4 != 0 {
        options.extend([TcpOption::Nop, TcpOption::Nop, TcpOption::SackPermitted]);
    }
    if s.options & 8 != 0 {
        options.extend([TcpOption::Nop, TcpOption::Nop, TcpOption::Timestamps { tsval, tsecr }]);
    }
    if s.options & 16 != 0 {
        let l = SeqNumber(snd_una.wrapping_add(u32::from(a) * 8));
        let block = SackBlocks::new(&[(l, l + 100)]).unwrap_or_default();
        options.extend([TcpOption::Nop, TcpOption::Nop, TcpOption::Sack(block)]);
    }
    if s.options & 32 != 0 {
        options.push(TcpOption::Unknown { kind: 254, data: OptionData::new(&[a]).unwrap_or_default() });
    }
    if s.options & 64 != 0 {
        u16::from(a)
    } else {
        0
    }
}

/// Makes a segment what `TcpRepr::parse` gives back after `emit`: option
/// bytes that do not fill the last 32-bit word are padded with zeros, which
/// parse as an EOL option.
fn pad_as_parsed(tcp: &mut TcpRepr) {
    if !tcp.options.wire_len().is_multiple_of(4) {
        tcp.options.push(TcpOption::Eol);
    }
}

/// Runs a case. `map` (of [`MAP_SIZE`], zeroed) collects coverage, as AFL's
/// hit-count classes; `rec`, if given, records what was done for a
/// reproducing script. Panics propagate.
pub fn run_case(bytes: &[u8], map: &mut [u8], rec: Option<&mut Vec<Recorded>>) -> Result<(), Finding> {
    // Taken for the run and put back after (a panic loses only capacity).
    let mut scratch = SCRATCH.take();
    let result = run_case_with(bytes, map, rec, &mut scratch, None);
    SCRATCH.set(scratch);
    result
}

/// What a differential run found: an oracle of the reference stack failed,
/// or the stacks parted where no allowance or ledger entry lets them.
#[derive(Clone, Debug)]
pub enum DiffFailure {
    Oracle(Finding),
    Divergence(Box<super::diff::Divergence>),
}

/// Runs a case on the reference stack and, beside it in the same virtual
/// time, on `differ`'s other stack (a fresh instance), then compares the
/// two under `allow`. `map` gets the reference stack's coverage as in
/// [`run_case`]; `rec` what the case did (as [`run_case`] records it).
pub fn run_diff(
    bytes: &[u8],
    map: &mut [u8],
    differ: &mut Differ,
    allow: &super::diff::Allowances,
    rec: Option<&mut Vec<Recorded>>,
) -> Result<(), DiffFailure> {
    differ.reset();
    differ.linux_profile = allow.linux_profile();
    let mut scratch = SCRATCH.take();
    let result = run_case_with(bytes, map, rec, &mut scratch, Some(differ));
    SCRATCH.set(scratch);
    result.map_err(DiffFailure::Oracle)?;
    match differ.compare(allow) {
        Some(d) => Err(DiffFailure::Divergence(Box::new(d))),
        None => Ok(()),
    }
}

/// An action as a differential run's comparison names it, and the
/// connection it is for.
fn input_of(a: &Action) -> (Input, u8) {
    match a {
        Action::Segment(s) => {
            let mut f = TcpFlags(s.flags);
            if s.options & 64 != 0 {
                f |= TcpFlags::URG;
            }
            (Input::Segment(f, None), s.conn % CONNECTIONS)
        }
        Action::SynBurst(_) => (Input::Flood, 0),
        Action::Wait(_) => (Input::Timers, 0),
        Action::Call { conn, call } => (
            Input::Call(match call {
                CallKind::Accept => "accept",
                CallKind::Send(_) => "write",
                CallKind::Urgent(_) => "send-oob",
                // (A read of no octets: Linux's read(2) returns 0 at once
                // (sock_read_iter), its recv(2) goes to TCP; stacks differ.)
                CallKind::Recv(0) => "read0",
                CallKind::Recv(_) => "read",
                CallKind::Close => "close",
                CallKind::Abort => "abort",
                CallKind::Shutdown(0) => "shutdown-rd",
                CallKind::Shutdown(1) => "shutdown-wr",
                CallKind::Shutdown(_) => "shutdown-rdwr",
                CallKind::NoDelay(_) => "nodelay",
                CallKind::KeepAlive { .. } => "keepalive",
                CallKind::RcvBuf(_) => "rcvbuf",
            }),
            conn % CONNECTIONS,
        ),
    }
}

fn run_case_with(
    bytes: &[u8],
    map: &mut [u8],
    rec: Option<&mut Vec<Recorded>>,
    scratch: &mut Scratch,
    diff: Option<&mut Differ>,
) -> Result<(), Finding> {
    let mut h = Header::decode(bytes);
    if let Some(linux) = diff.as_ref().and_then(|d| d.linux_profile) {
        h = h.with_profile(linux);
    }
    let role = h.role;
    let mut profile = if h.linux { Profile::linux() } else { Profile::rfc9293() };
    if h.linux && (h.syncookies != 1 || h.abort_on_overflow || h.tw_reuse) {
        // What the case's sysctls make of the profile, as a replay's
        // reference target does.
        let sysctls = h.sysctls();
        crate::target::reference::apply_sysctls(&mut profile, |k| {
            sysctls.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str())
        });
    }
    let backlog = h.backlog;
    let oracle = if profile.rfc5961 { Oracle::new() } else { Oracle::without_rfc5961() };
    let local: SocketAddr = SocketAddr::new(std::net::Ipv4Addr::new(198, 51, 100, 1).into(), 8080);
    let remote: SocketAddr = SocketAddr::new(std::net::Ipv4Addr::new(192, 0, 2, 1).into(), 40000);
    debug_assert_eq!((local.to_string(), remote.to_string()), (LOCAL.to_string(), REMOTE.to_string()));
    scratch.touched.clear();
    scratch.wire.clear();
    scratch.events.clear();
    let mut r = Run {
        stack: Stack::new(StackConfig { addrs: vec![local.ip()], profile, seed: 1 }),
        oracle,
        now: Instant::ZERO,
        role,
        peers: std::array::from_fn(|k| Peer {
            local,
            remote: SocketAddr::new(remote.ip(), remote_port(k as u8)),
            fd: None,
            stack_isn: None,
            last_tsval: 0,
            connected: false,
            last_syn: 0,
            cookie: None,
        }),
        lfd: None,
        ts_clock: 100,
        map,
        touched: std::mem::take(&mut scratch.touched),
        wire: std::mem::take(&mut scratch.wire),
        events: std::mem::take(&mut scratch.events),
        tcp: std::mem::take(&mut scratch.tcp),
        rec,
        diff,
    };
    let now = r.now;
    if r.diff.is_some() {
        let st = r.states();
        if let Some(d) = r.diff.as_deref_mut() {
            d.begin_step(Input::Setup, 0, st);
            let o = d.stack.socket(std::time::Duration::ZERO, false);
            if let Ok(ofd) = o {
                let z = std::time::Duration::ZERO;
                let done = match role {
                    Role::Listen => {
                        d.lfd = Some(ofd);
                        d.stack.bind(z, ofd, local).and_then(|()| d.stack.listen(z, ofd, backlog as i32))
                    }
                    Role::Connect => {
                        d.peers[0].fd = Some(ofd);
                        d.stack.connect(z, ofd, remote)
                    }
                };
                let reference = match role {
                    Role::Listen => Ok(()),
                    Role::Connect => Err(reference_stack::Errno::EINPROGRESS),
                };
                d.set_result(reference, done);
            }
        }
    }
    match role {
        Role::Listen => {
            if let Ok(fd) = r.stack.socket(now, Domain::Inet) {
                let _ = r.stack.set_nonblocking(fd, true);
                let _ = r.stack.bind(now, fd, local);
                let _ = r.stack.listen(now, fd, backlog as i32);
                r.lfd = Some(fd);
                r.call(|| format!("socket() = {fd}"));
                r.call(|| format!("fcntl({fd}, F_SETFL, O_NONBLOCK) = *"));
                r.call(|| format!("bind({fd}, {}) = *", local.port()));
                r.call(|| format!("listen({fd}, {backlog}) = *"));
            }
        }
        Role::Connect => {
            if let Ok(fd) = r.stack.socket(now, Domain::Inet) {
                let _ = r.stack.set_nonblocking(fd, true);
                let _ = r.stack.connect(now, fd, remote);
                r.peers[0].fd = Some(fd);
                r.peers[0].connected = true;
                r.call(|| format!("socket() = {fd}"));
                r.call(|| format!("fcntl({fd}, F_SETFL, O_NONBLOCK) = *"));
                r.call(|| format!("connect({fd}, {remote}) = *"));
            }
        }
    }
    // The actions, decoded as they are run (as `Case::decode` would).
    let records = bytes.get(HEADER..).unwrap_or(&[]).chunks_exact(RECORD).take(MAX_RECORDS);
    let mut last = 0;
    let result = r.settle(0).and_then(|()| {
        r.diff_end();
        for (i, rec) in records.enumerate() {
            let a = Action::from_record(rec.try_into().expect("RECORD bytes"));
            last = i + 1;
            if r.diff.is_some() {
                let (input, conn) = input_of(&a);
                r.diff_begin(input, conn);
            }
            r.act(&a, i + 1)?;
            r.settle(i + 1)?;
            r.diff_end();
        }
        if r.diff.is_some() {
            // Both stacks' delayed ACKs go out: a wait, the last step.
            r.diff_begin(Input::Timers, 0);
            let until = r.now + Duration::from_micros(super::diff::FLUSH.as_micros() as u64);
            r.wait_until(until, last + 1)?;
            r.settle(last + 1)?;
            r.diff_end();
        }
        Ok(())
    });
    r.bucket_map();
    scratch.touched = std::mem::take(&mut r.touched);
    scratch.wire = std::mem::take(&mut r.wire);
    scratch.events = std::mem::take(&mut r.events);
    scratch.events.clear();
    scratch.tcp = std::mem::take(&mut r.tcp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::case::{AckAt, Segment, SeqAt};
    use reference_stack::wire::IpPacket;

    /// The fuzzer hands injected segments to `Stack::handle_segment`; a
    /// replayed script sends bytes through `handle_packet`. For every
    /// option combination a record can ask for, the two must see the same
    /// segment.
    #[test]
    fn injected_segments_are_what_the_wire_gives() {
        let (src, dst) = (REMOTE.parse::<SocketAddr>().unwrap(), LOCAL.parse::<SocketAddr>().unwrap());
        let mut checked = 0;
        for options in 0..=255u8 {
            for option_arg in [0u8, 1, 3, 7, 200, 255] {
                for payload_len in [0u16, 1, 1460] {
                    let s = Segment {
                        conn: 0,
                        flags: 0x18 | (options & 3),
                        seq: SeqAt::Next(0),
                        ack: AckAt::Next(0),
                        window: 1000,
                        options,
                        option_arg,
                        payload_len,
                    };
                    let mut opts = TcpOptions::new();
                    let urgent = options_into(&s, 7, 9, 1000, &mut opts);
                    let tcp = TcpRepr {
                        src_port: src.port(),
                        dst_port: dst.port(),
                        seq: SeqNumber(5),
                        ack: SeqNumber(6),
                        flags: TcpFlags(s.flags),
                        window: s.window,
                        urgent,
                        options: opts,
                        payload: PATTERN[..usize::from(payload_len)].to_vec(),
                        ..TcpRepr::default()
                    };
                    if tcp.check_emit().is_err() {
                        continue;
                    }
                    let pkt = IpPacket { ip: IpRepr::new(src.ip(), dst.ip()), tcp };
                    let back = IpPacket::parse(&pkt.emit().unwrap()).unwrap();
                    assert_eq!(back.ip, pkt.ip);
                    let mut padded = pkt.tcp.clone();
                    pad_as_parsed(&mut padded);
                    assert_eq!(back.tcp, padded, "options {options:#x} arg {option_arg}");
                    checked += 1;
                }
            }
        }
        // Most combinations fit in 40 bytes of options.
        assert!(checked > 1000, "{checked}");
    }

    /// Three connections and a burst of SYNs against a listener of backlog
    /// 0 under the linux profile: the second handshake overflows the
    /// accept queue, the burst fills the SYN queue, and the third
    /// connection gets a cookie that its ACK brings back; the map shows
    /// each, and the case's script replays the same datagrams.
    #[test]
    fn connections_and_a_burst_reach_cookies_and_accept_overflow() {
        use crate::fuzz::case::{Action, Burst, Case, Role};
        let seg = |conn: u8, flags: u8| {
            Action::Segment(Segment {
                conn,
                flags,
                seq: if flags & 2 != 0 { SeqAt::Raw(1000) } else { SeqAt::Next(0) },
                ack: AckAt::Next(0),
                window: 1000,
                options: u8::from(flags & 2 != 0),
                option_arg: 231,
                payload_len: 0,
            })
        };
        let (syn, ack) = (TcpFlags::SYN.0, TcpFlags::ACK.0);
        let mut case = Case::new(
            Role::Listen,
            true,
            vec![
                seg(0, syn),
                Action::SynBurst(Burst { count: 3, seq: 5, window: 1000, options: 1, option_arg: 0 }),
                seg(1, syn),
                seg(1, ack),
                seg(0, ack),
                Action::Call { conn: 1, call: crate::fuzz::case::CallKind::Accept },
                seg(2, syn),
                seg(2, ack),
            ],
        );
        case.header.backlog = 0;
        let mut map = vec![0u8; MAP_SIZE];
        run_case(&case.encode(), &mut map, None).unwrap();
        let hit = notices_hit(&map);
        for n in ["SYN cookie sent", "SYN cookie validated", "accept-queue overflow, ACK dropped"] {
            assert!(hit.contains(&n), "{n} not in {hit:?}");
        }
        // With tcp_abort_on_overflow the overflow is answered with a RST.
        case.header.abort_on_overflow = true;
        map.fill(0);
        run_case(&case.encode(), &mut map, None).unwrap();
        assert!(notices_hit(&map).contains(&"accept-queue overflow, reset"));
        // A wrong cookie is rejected.
        let Action::Segment(s) = &mut case.actions[3] else { panic!() };
        s.ack = AckAt::Next(7);
        map.fill(0);
        run_case(&case.encode(), &mut map, None).unwrap();
        assert!(notices_hit(&map).contains(&"cookie ACK rejected"), "{:?}", notices_hit(&map));
        let t = crate::fuzz::triage::Triage {
            kind: "check".into(),
            location: "replay".into(),
            message: "queues".into(),
            step: 0,
        };
        let yaml = crate::fuzz::triage::script(&case.encode(), &t);
        assert!(yaml.contains("connections: {b: 40001, c: 40002}"), "{yaml}");
        assert!(yaml.contains("flood: {count: 3"), "{yaml}");
        assert!(yaml.contains("net.ipv4.tcp_abort_on_overflow"), "{yaml}");
        assert!(yaml.contains("listen(3, 0)"), "{yaml}");
    }

    /// Under the connect role, connections 1 and 2 are opened by `Accept`;
    /// with `tcp_tw_reuse` and one local port, reopening connection 1 after
    /// its TIME-WAIT is a second old takes the TIME-WAIT over.
    #[test]
    fn connect_role_opens_more_connections_and_reuses_time_wait() {
        use crate::fuzz::case::{Action, CallKind, Case, Role};
        let seg = |flags: u8, ts: bool| {
            Action::Segment(Segment {
                conn: 1,
                flags,
                seq: if flags & 2 != 0 { SeqAt::Raw(1000) } else { SeqAt::Next(0) },
                ack: AckAt::Next(0),
                window: 1000,
                options: if ts { 8 } else { 0 },
                option_arg: 0,
                payload_len: 0,
            })
        };
        let open = Action::Call { conn: 1, call: CallKind::Accept };
        let mut case = Case::new(
            Role::Connect,
            true,
            vec![
                open.clone(),
                seg(0x12, true),
                Action::Call { conn: 1, call: CallKind::Close },
                seg(0x11, true),
                Action::Wait(Some(2_000_000)),
                open.clone(),
            ],
        );
        case.header.tw_reuse = true;
        let mut map = vec![0u8; MAP_SIZE];
        run_case(&case.encode(), &mut map, None).unwrap();
        assert!(notices_hit(&map).contains(&"TIME-WAIT taken over (tcp_tw_reuse)"), "{:?}", notices_hit(&map));
        let t = crate::fuzz::triage::Triage {
            kind: "check".into(),
            location: "replay".into(),
            message: "reuse".into(),
            step: 0,
        };
        let yaml = crate::fuzz::triage::script(&case.encode(), &t);
        assert!(yaml.contains("new_connection: {}, conn: b") || yaml.contains("conn: b"), "{yaml}");
        let s = crate::script::parse(std::path::Path::new("case.yaml"), &yaml).unwrap();
        let r = crate::runner::run_one(&s[0], crate::script::TargetKind::Reference);
        assert!(matches!(r.status, crate::runner::Status::Passed), "{:?}\n{yaml}", r.status);
    }

    #[test]
    fn map_regions_do_not_overlap() {
        let regions =
            [(TRANSITIONS, 121 * 48), (DROPS, 12 * 8), (NOTICES, 32), (SEGMENT_KINDS, 11 * 64), (EMITTED, 64)];
        for w in regions.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "{:?} overlaps {:?}", w[0], w[1]);
        }
        assert_eq!(EMITTED + 64, MAP_SIZE);
        assert_eq!(State::ALL.len(), 11);
    }

    #[test]
    fn classify_counts_is_bucket_slot_by_slot() {
        let raw: Vec<u8> = (0..=255u8).chain([0; 13]).chain([3, 0, 0, 200]).collect();
        let mut map = raw.clone();
        classify_counts(&mut map);
        assert_eq!(map, raw.iter().map(|&b| bucket(b)).collect::<Vec<_>>());
    }

    #[test]
    fn the_map_holds_hit_count_classes() {
        assert_eq!(
            [0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 127, 128, 255].map(bucket),
            [0, 1, 2, 4, 8, 8, 16, 16, 32, 32, 64, 64, 128, 128]
        );
        // Twenty segments without flags to a listener: each is dropped, so
        // the (LISTEN, no flags) slot and the drop slot are hit 20 times,
        // which is class 32; every slot holds a class, not a raw count.
        let mut map = vec![0u8; MAP_SIZE];
        let bare = Segment {
            conn: 0,
            flags: 0,
            seq: SeqAt::Next(0),
            ack: AckAt::Next(0),
            window: 1000,
            options: 0,
            option_arg: 0,
            payload_len: 0,
        };
        let case = crate::fuzz::case::Case::new(
            crate::fuzz::case::Role::Listen,
            false,
            vec![crate::fuzz::case::Action::Segment(bare); 20],
        );
        run_case(&case.encode(), &mut map, None).unwrap();
        assert_eq!(map.iter().filter(|&&v| v == 32).count(), 2);
        assert!(map.iter().all(|&v| [0, 1, 2, 4, 8, 16, 32, 64, 128].contains(&v)));
    }
}
