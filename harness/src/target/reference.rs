//! The reference target: the bundled stack in virtual time. Advancing time
//! jumps from timer to timer, so a two-hour keep-alive costs microseconds.

use super::{CallOutcome, CallValue, Clock, Inject, Target, TargetCall, TargetError};
use crate::engine::Mark;
use crate::script::call::{pollbits, OptName};
use crate::script::{Script, TargetKind};
use reference_stack::oracle::TimerSteps;
use reference_stack::wire::IpPacket;
use reference_stack::{Domain, Errno, EventKind, FourTuple, Instant, SockOpt, SockOptName, Stack, StackConfig, State};
use std::collections::VecDeque;
use std::time::Duration;

/// Linux's O_RDWR and O_NONBLOCK, for F_GETFL.
const O_RDWR: i64 = 0o2;
const O_NONBLOCK: i64 = 0o4000;

pub struct ReferenceTarget {
    stack: Stack,
    oracle: reference_stack::oracle::Oracle,
    /// The first oracle that failed, reported at the next operation.
    violation: Option<String>,
    now: Duration,
    sent: VecDeque<(Duration, IpPacket)>,
    /// A blocking write: octets still to go and the total.
    write_left: Option<(Vec<u8>, usize)>,
    /// A blocking poll: when it gives up.
    poll_until: Option<Duration>,
    /// Transitions and timer firings, when the engine asked for them
    /// ([`Target::log_marks`]): each with its connection.
    marks: Option<Vec<(Duration, FourTuple, Mark)>>,
    /// The counters when the last `counters:` step read them.
    counters_base: std::collections::BTreeMap<String, i64>,
}

/// A timer's name, as the reference stack's `TimerKind` spells it.
fn timer_name(k: reference_stack::TimerKind) -> &'static str {
    use reference_stack::TimerKind as T;
    match k {
        T::Retransmission => "Retransmission",
        T::Persist => "Persist",
        T::DelayedAck => "DelayedAck",
        T::KeepAlive => "KeepAlive",
        T::TimeWait => "TimeWait",
        T::FinWait2 => "FinWait2",
        T::User => "User",
    }
}

fn at(d: Duration) -> Instant {
    Instant::from_micros(d.as_micros() as u64)
}

fn since_start(i: Instant) -> Duration {
    Duration::from_micros(i.total_micros())
}

/// The script's profile with the header's sysctls that have a profile
/// field applied (the Linux target sets them in its namespace):
/// tcp_rfc1337, the options a SYN offers (tcp_timestamps, tcp_sack,
/// tcp_window_scaling), tcp_fin_timeout, ip_local_port_range, tcp_tw_reuse
/// (and tcp_tw_reuse_delay), and under the linux profile's
/// queues tcp_syncookies, tcp_max_syn_backlog, somaxconn and
/// tcp_abort_on_overflow; the others are Linux's alone.
fn profile_for(script: &Script) -> reference_stack::Profile {
    let mut p = script.profile.clone();
    apply_sysctls(&mut p, |k| script.sysctl.get(k).map(String::as_str));
    p
}

/// [`profile_for`]'s work on any profile, with `get` giving a sysctl's
/// value by name (the fuzzer's cases set their sysctls this way too, so a
/// finding's script gets the stack its case ran on).
pub fn apply_sysctls<'a>(p: &mut reference_stack::Profile, get: impl Fn(&str) -> Option<&'a str>) {
    use reference_stack::profile::ListenQueues;
    let num = |k: &str| get(k).and_then(|v| v.trim().parse::<u32>().ok());
    let on = |k: &str| num(k).map(|v| v != 0);
    if let Some(v) = on("net.ipv4.tcp_rfc1337") {
        p.rfc1337 = v;
    }
    if let Some(v) = on("net.ipv4.tcp_timestamps") {
        p.timestamps = v;
    }
    if let Some(v) = on("net.ipv4.tcp_sack") {
        p.sack = v;
    }
    if let Some(v) = on("net.ipv4.tcp_window_scaling") {
        p.window_scaling = v;
    }
    if let Some(v) = num("net.ipv4.tcp_fin_timeout") {
        p.fin_wait_2_timeout = Some(reference_stack::Duration::from_secs(u64::from(v)));
    }
    if let Some(range) = get("net.ipv4.ip_local_port_range") {
        let mut w = range.split_whitespace().map(|x| x.parse::<u16>());
        if let (Some(Ok(lo)), Some(Ok(hi))) = (w.next(), w.next()) {
            p.local_ports = Some((lo.min(hi), lo.max(hi)));
        }
    }
    // 1: any peer; 2 (Linux's default): loopback only, which the stack's
    // addresses are not.
    if let Some(v) = num("net.ipv4.tcp_tw_reuse") {
        let delay = num("net.ipv4.tcp_tw_reuse_delay").unwrap_or(1000);
        p.tw_reuse_after = (v == 1).then(|| reference_stack::Duration::from_millis(u64::from(delay)));
    }
    if let ListenQueues::Linux { syncookies, max_syn_backlog, somaxconn, abort_on_overflow } = &mut p.listen {
        if let Some(v) = num("net.ipv4.tcp_syncookies") {
            *syncookies = v.min(2) as u8;
        }
        if let Some(v) = num("net.ipv4.tcp_max_syn_backlog") {
            *max_syn_backlog = v;
        }
        if let Some(v) = num("net.core.somaxconn") {
            *somaxconn = v;
        }
        if let Some(v) = on("net.ipv4.tcp_abort_on_overflow") {
            *abort_on_overflow = v;
        }
    }
}

impl ReferenceTarget {
    pub fn new(script: &Script) -> ReferenceTarget {
        let mut stack = Stack::new(StackConfig { addrs: vec![script.local], profile: profile_for(script), seed: 1 });
        if let Some(w) = script.wrap.filter(|w| w.side == crate::script::wrap::WrapSide::Stack) {
            stack.place_numbers(Some(w.stack_iss), Some(w.stack_ts_offset));
        }
        let oracle = if script.profile.rfc5961 {
            reference_stack::oracle::Oracle::new()
        } else {
            reference_stack::oracle::Oracle::without_rfc5961()
        };
        ReferenceTarget {
            stack,
            oracle,
            violation: None,
            now: Duration::ZERO,
            sent: VecDeque::new(),
            counters_base: std::collections::BTreeMap::new(),
            write_left: None,
            poll_until: None,
            marks: None,
        }
    }

    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// Collects what the stack sent, through the oracles.
    fn drain(&mut self) {
        while let Some((bytes, origin)) = self.stack.poll_transmit_from(at(self.now)) {
            // The oracle parses the datagram; only when it objects is it parsed
            // again here, so the script still sees what was sent.
            let parsed = match self.oracle.on_emit(&bytes, origin.as_ref()) {
                Ok(p) => Some(p),
                Err(v) => {
                    self.violation.get_or_insert(v.to_string());
                    IpPacket::parse(&bytes).ok()
                }
            };
            if let Some(p) = parsed {
                self.sent.push_back((self.now, p));
            }
        }
        let events = self.stack.take_events();
        if let Some(marks) = &mut self.marks {
            for e in &events {
                if let (Some(conn), EventKind::Transition { from, to, cause }) = (e.conn, &e.kind) {
                    let mark = Mark::State { from: *from, to: *to, cause: Some(*cause) };
                    marks.push((since_start(e.at), conn, mark));
                }
            }
        }
        if let Err(v) = self.oracle.on_events(&events).and_then(|_| self.oracle.end_step(&self.stack, at(self.now))) {
            self.violation.get_or_insert(v.to_string());
        }
    }

    fn checked(&mut self) -> Result<(), TargetError> {
        match self.violation.take() {
            Some(v) => Err(TargetError::Violation(v)),
            None => Ok(()),
        }
    }

    /// Runs timers up to `t`, collecting what is sent at each one's time.
    fn run_until(&mut self, t: Duration, stop_at_first_packet: bool) {
        self.drain();
        // Each timer fires at its own deadline, as in the fuzzer's cases.
        let mut timers = TimerSteps::new(at(t));
        loop {
            if stop_at_first_packet && !self.sent.is_empty() {
                return;
            }
            match timers.next(&self.stack, at(self.now)) {
                Ok(Some(d)) => {
                    if let Some(marks) = &mut self.marks {
                        for c in self.stack.connections() {
                            for (kind, t) in c.timers.iter().filter(|(_, t)| *t <= d) {
                                marks.push((since_start(t), c.tuple, Mark::Timer { kind: timer_name(kind) }));
                            }
                        }
                    }
                    self.now = self.now.max(since_start(d));
                    self.stack.handle_timeout(at(self.now));
                    self.drain();
                }
                Ok(None) => break,
                Err(v) => {
                    self.violation.get_or_insert(v.to_string());
                    break;
                }
            }
        }
        if !stop_at_first_packet || self.sent.is_empty() {
            self.now = self.now.max(t);
            self.stack.handle_timeout(at(self.now));
            self.drain();
        }
    }

    fn blocking(&self, fd: i32) -> bool {
        !self.stack.is_nonblocking(fd).unwrap_or(true)
    }

    fn done(v: Result<i64, Errno>) -> CallOutcome {
        CallOutcome::Done { ret: v.map_or_else(CallValue::Error, CallValue::Value), out: None }
    }

    fn revents(&mut self, fd: i32, events: u32) -> Result<u32, Errno> {
        Ok(pollbits::revents(&self.stack.poll(at(self.now), fd)?, events))
    }

    fn sockopt(opt: OptName, v: i64) -> Result<SockOpt, Errno> {
        let u = u32::try_from(v).map_err(|_| Errno::EINVAL)?;
        Ok(match opt {
            OptName::NoDelay => SockOpt::NoDelay(v != 0),
            OptName::KeepAlive => SockOpt::KeepAlive(v != 0),
            OptName::KeepIdle => SockOpt::KeepIdle(u),
            OptName::KeepIntvl => SockOpt::KeepIntvl(u),
            OptName::KeepCnt => SockOpt::KeepCnt(u),
            OptName::MaxSeg => SockOpt::MaxSeg(u),
            OptName::RcvBuf => SockOpt::RcvBuf(u),
            OptName::SndBuf => SockOpt::SndBuf(u),
            OptName::Linger => SockOpt::Linger(Some(u)),
            OptName::UserTimeout => SockOpt::UserTimeout(u),
            OptName::ReuseAddr => SockOpt::ReuseAddr(v != 0),
            OptName::ReusePort => SockOpt::ReusePort(v != 0),
            OptName::Error => return Err(Errno::ENOPROTOOPT),
        })
    }

    fn getsockopt(&mut self, fd: i32, opt: OptName) -> Result<CallValue, Errno> {
        Ok(match self.stack.getsockopt(at(self.now), fd, opt)? {
            SockOpt::NoDelay(b) | SockOpt::KeepAlive(b) | SockOpt::ReuseAddr(b) | SockOpt::ReusePort(b) => {
                CallValue::Value(i64::from(b))
            }
            SockOpt::KeepIdle(v)
            | SockOpt::KeepIntvl(v)
            | SockOpt::KeepCnt(v)
            | SockOpt::MaxSeg(v)
            | SockOpt::RcvBuf(v)
            | SockOpt::SndBuf(v)
            | SockOpt::UserTimeout(v) => CallValue::Value(i64::from(v)),
            SockOpt::Linger(v) => CallValue::Value(v.map_or(0, i64::from)),
            SockOpt::Error(None) => CallValue::Value(0),
            SockOpt::Error(Some(e)) => CallValue::Error(e),
            _ => CallValue::Value(0),
        })
    }

    fn write_more(&mut self, fd: i32) -> CallOutcome {
        let Some((left, total)) = self.write_left.take() else { return Self::done(Ok(0)) };
        match self.stack.send(at(self.now), fd, &left, false) {
            Ok(n) if n == left.len() => Self::done(Ok(total as i64)),
            Ok(n) => {
                self.write_left = Some((left[n..].to_vec(), total));
                CallOutcome::WouldBlock
            }
            Err(Errno::EAGAIN) => {
                self.write_left = Some((left, total));
                CallOutcome::WouldBlock
            }
            Err(e) => Self::done(Err(e)),
        }
    }
}

impl ReferenceTarget {
    /// The stack's counters by nstat's names (the ones it keeps).
    fn counter_values(&self) -> std::collections::BTreeMap<String, i64> {
        let s = self.stack.stats();
        [
            ("IpInReceives", s.datagrams_in),
            ("IpOutRequests", s.datagrams_out),
            ("TcpInErrs", s.malformed_in),
            ("TcpRetransSegs", s.retransmitted_segments),
            ("TcpExtListenOverflows", s.listen_overflows),
            ("TcpExtListenDrops", s.listen_drops),
            ("TcpExtSyncookiesSent", s.syncookies_sent),
            ("TcpExtSyncookiesRecv", s.syncookies_recv),
            ("TcpExtSyncookiesFailed", s.syncookies_failed),
            ("TcpExtEmbryonicRsts", s.embryonic_rsts),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v as i64))
        .collect()
    }
}

impl Target for ReferenceTarget {
    fn kind(&self) -> TargetKind {
        TargetKind::Reference
    }

    fn counters(&mut self) -> Result<std::collections::BTreeMap<String, i64>, TargetError> {
        let now = self.counter_values();
        let delta = now.iter().map(|(k, v)| (k.clone(), v - self.counters_base.get(k).copied().unwrap_or(0))).collect();
        self.counters_base = now;
        Ok(delta)
    }

    fn clock(&self) -> Clock {
        Clock::Virtual
    }

    fn now(&self) -> Duration {
        self.now
    }

    fn next_wakeup(&mut self) -> Option<Duration> {
        self.stack.poll_timeout().map(since_start)
    }

    fn advance(&mut self, t: Duration) -> Result<(), TargetError> {
        self.run_until(t, false);
        self.checked()
    }

    fn next_packet(&mut self, deadline: Duration) -> Result<Option<(Duration, IpPacket)>, TargetError> {
        if let Some(p) = self.sent.pop_front() {
            return Ok(Some(p));
        }
        self.run_until(deadline, true);
        self.checked()?;
        Ok(self.sent.pop_front())
    }

    fn inject(&mut self, what: Inject<'_>) -> Result<(), TargetError> {
        let Inject::Tcp { pkt, wire: bytes } = what else {
            return Err(TargetError::Unsupported("ICMP messages (the reference stack has no ICMP input)".into()));
        };
        let tuple = FourTuple {
            local: std::net::SocketAddr::new(pkt.ip.dst, pkt.tcp.dst_port),
            remote: std::net::SocketAddr::new(pkt.ip.src, pkt.tcp.src_port),
        };
        // A datagram that does not parse (a checksum broken on purpose) never
        // reaches the state machine, so the oracle does not see it either.
        if IpPacket::parse(bytes).is_ok() {
            let before = self.stack.connection_view(&tuple);
            self.oracle.before_inject(tuple, before.as_ref());
            self.oracle.on_inject(pkt.ip.src, pkt.ip.dst, &pkt.tcp);
        }
        // A malformed packet is the stack's business: it logs and drops it.
        let _ = self.stack.handle_packet(at(self.now), bytes);
        self.drain();
        self.checked()
    }

    fn call(&mut self, call: &TargetCall) -> Result<CallOutcome, TargetError> {
        let now = at(self.now);
        let s = &mut self.stack;
        let out = match call {
            TargetCall::Socket { ipv6 } => {
                Self::done(s.socket(now, if *ipv6 { Domain::Inet6 } else { Domain::Inet }).map(i64::from))
            }
            TargetCall::Bind { fd, addr } => Self::done(s.bind(now, *fd, *addr).map(|_| 0)),
            TargetCall::Listen { fd, backlog } => Self::done(s.listen(now, *fd, *backlog).map(|_| 0)),
            TargetCall::Accept { fd } => match s.accept(now, *fd) {
                Ok((nfd, _)) => Self::done(Ok(i64::from(nfd))),
                Err(Errno::EAGAIN) if self.blocking(*fd) => CallOutcome::WouldBlock,
                Err(e) => Self::done(Err(e)),
            },
            TargetCall::Connect { fd, addr } => match s.connect(now, *fd, *addr) {
                Err(Errno::EINPROGRESS) if self.blocking(*fd) => CallOutcome::WouldBlock,
                r => Self::done(r.map(|_| 0)),
            },
            TargetCall::Write { flags, to, .. } if *flags != 0 || to.is_some() => {
                return Err(TargetError::Unsupported(
                    "send flags only Linux has (MSG_EOR, MSG_FASTOPEN, ...) and sendto".into(),
                ))
            }
            TargetCall::Write { fd, data, oob, .. } => {
                let data = data.bytes();
                if *oob || s.is_nonblocking(*fd).unwrap_or(true) {
                    Self::done(s.send(now, *fd, &data, *oob).map(|n| n as i64))
                } else {
                    self.write_left = Some((data.to_vec(), data.len()));
                    self.write_more(*fd)
                }
            }
            // A plain recvmsg is a read with an empty msghdr: the reference
            // stack has no error queue, timestamps or TCP_INQ.
            TargetCall::RecvMsg { fd, len, flags: 0 } => match s.recv(now, *fd, *len, false) {
                Ok(d) => CallOutcome::Done {
                    ret: CallValue::Value(d.len() as i64),
                    out: Some(CallValue::Msg { flags: 0, cmsgs: Vec::new() }),
                },
                Err(Errno::EAGAIN) if self.blocking(*fd) => CallOutcome::WouldBlock,
                Err(e) => Self::done(Err(e)),
            },
            TargetCall::RecvMsg { .. } => {
                return Err(TargetError::Unsupported(
                    "recvmsg flags (MSG_ERRQUEUE, ...) are Linux's; the reference stack has no error queue".into(),
                ))
            }
            TargetCall::Read { flags, .. } if flags & !crate::script::call::PLAIN_READ_FLAGS != 0 => {
                return Err(TargetError::Unsupported(format!(
                    "receive flags only Linux has ({})",
                    crate::script::call::recv_flag_names(flags & !crate::script::call::PLAIN_READ_FLAGS)
                )))
            }
            TargetCall::Read { fd, len, peek, .. } => match s.recv(now, *fd, *len, *peek) {
                Ok(d) => CallOutcome::Done { ret: CallValue::Value(d.len() as i64), out: Some(CallValue::Bytes(d)) },
                Err(Errno::EAGAIN) if self.blocking(*fd) => CallOutcome::WouldBlock,
                Err(e) => Self::done(Err(e)),
            },
            TargetCall::Shutdown { fd, how } => Self::done(s.shutdown(now, *fd, *how).map(|_| 0)),
            TargetCall::Close { fd } => Self::done(s.close(now, *fd).map(|_| 0)),
            TargetCall::SetSockOpt { fd, opt, value } => {
                Self::done(Self::sockopt(*opt, *value).and_then(|o| s.setsockopt(now, *fd, o)).map(|_| 0))
            }
            // The reference stack implements NewReno (RFC 5681/6582) only.
            TargetCall::SetCongestion { fd, algo } => Self::done(if s.state(*fd).is_err() {
                Err(Errno::EBADF)
            } else if algo == "reno" || algo == "newreno" {
                Ok(0)
            } else {
                Err(Errno::ENOENT)
            }),
            TargetCall::GetSockOpt { fd, opt } => match self.getsockopt(*fd, *opt) {
                Ok(v) => CallOutcome::Done { ret: CallValue::Value(0), out: Some(v) },
                Err(e) => Self::done(Err(e)),
            },
            TargetCall::SetNonBlocking { fd, on } => Self::done(s.set_nonblocking(*fd, *on).map(|_| 0)),
            TargetCall::GetFl { fd } => {
                Self::done(s.is_nonblocking(*fd).map(|nb| O_RDWR | if nb { O_NONBLOCK } else { 0 }))
            }
            TargetCall::Poll { fd, events, timeout_ms } => match self.revents(*fd, *events) {
                Ok(0) if *timeout_ms != 0 => {
                    self.poll_until = (*timeout_ms > 0).then(|| self.now + Duration::from_millis(*timeout_ms as u64));
                    CallOutcome::WouldBlock
                }
                Ok(m) => CallOutcome::Done { ret: CallValue::Events(m), out: None },
                Err(e) => Self::done(Err(e)),
            },
            // The calls only Linux has, each with its reason.
            other => {
                let why = other.linux_only().unwrap_or("a call the reference stack does not have");
                return Err(TargetError::Unsupported(why.into()));
            }
        };
        self.drain();
        self.checked()?;
        Ok(out)
    }

    fn retry(&mut self, call: &TargetCall) -> Result<CallOutcome, TargetError> {
        let now = at(self.now);
        let out = match call {
            TargetCall::Connect { fd, .. } => match self.stack.state(*fd) {
                Ok(State::SynSent) | Ok(State::SynReceived) => CallOutcome::WouldBlock,
                Ok(State::Closed) => {
                    let e = match self.stack.getsockopt(now, *fd, SockOptName::Error) {
                        Ok(SockOpt::Error(Some(e))) => e,
                        _ => Errno::ECONNREFUSED,
                    };
                    Self::done(Err(e))
                }
                Ok(_) => Self::done(Ok(0)),
                Err(e) => Self::done(Err(e)),
            },
            TargetCall::Write { fd, .. } => self.write_more(*fd),
            TargetCall::Poll { fd, events, .. } => match self.revents(*fd, *events) {
                Ok(0) if self.poll_until.is_none_or(|t| self.now < t) => CallOutcome::WouldBlock,
                Ok(m) => CallOutcome::Done { ret: CallValue::Events(m), out: None },
                Err(e) => Self::done(Err(e)),
            },
            other => self.call(other)?,
        };
        self.drain();
        Ok(out)
    }

    /// TCP_INFO in Linux's units from the reference stack's STATUS: cwnd and
    /// ssthresh in segments, times in microseconds.
    fn tcp_info(&mut self, fd: i32) -> Result<std::collections::BTreeMap<&'static str, i64>, TargetError> {
        let st = self.stack.status(fd).map_err(|e| TargetError::Unsupported(format!("tcp_info on fd {fd}: {e}")))?;
        let mss = i64::from(st.snd_mss.max(1));
        let linux_state = i64::from(crate::os::tcp_states::to_linux(st.state));
        let us = |d: reference_stack::Duration| d.total_micros() as i64;
        Ok(std::collections::BTreeMap::from([
            ("state", linux_state),
            ("retransmits", i64::from(st.retransmits)),
            ("backoff", i64::from(st.backoff)),
            ("snd_wscale", i64::from(st.snd_wscale)),
            ("rcv_wscale", i64::from(st.rcv_wscale)),
            // Linux's tcpi_rto is the timer's current length, backoff included.
            ("rto", us(st.rto.saturating_mul(1u64 << st.backoff.min(30)).min(self.stack.profile().rto_max))),
            ("snd_mss", i64::from(st.snd_mss)),
            ("rcv_mss", i64::from(st.rcv_mss)),
            ("unacked", i64::from(st.unacked).div_euclid(mss).max(i64::from(st.unacked > 0))),
            ("rtt", st.srtt.map_or(0, us)),
            ("rttvar", st.rttvar.map_or(0, us)),
            ("snd_ssthresh", if st.ssthresh == u32::MAX { i64::from(i32::MAX) } else { i64::from(st.ssthresh) / mss }),
            ("snd_cwnd", i64::from(st.cwnd) / mss),
            ("advmss", i64::from(st.rcv_mss)),
            ("total_retrans", st.total_retransmits as i64),
            // The peer's window in octets, scaled, as Linux's tcpi_snd_wnd.
            ("snd_wnd", i64::from(st.snd_wnd)),
        ]))
    }

    fn log_marks(&mut self) -> bool {
        self.marks.get_or_insert_with(Vec::new);
        true
    }

    /// The connection's own marks (its remote end is the script's peer:
    /// the stack's own port may not be known yet, on an active open), and
    /// its listener's (the same local address, no remote).
    fn take_marks(&mut self, conn: FourTuple) -> Vec<(Duration, Mark)> {
        let Some(marks) = self.marks.as_mut().filter(|m| !m.is_empty()) else { return Vec::new() };
        marks
            .drain(..)
            .filter(|(_, c, _)| c.remote == conn.remote || (c.local == conn.local && c.remote.port() == 0))
            .map(|(at, _, m)| (at, m))
            .collect()
    }

    fn state(&mut self, fd: Option<i32>, conn: FourTuple) -> Result<State, TargetError> {
        Ok(match fd {
            Some(fd) => self.stack.state(fd).unwrap_or(State::Closed),
            None => self.stack.connection(&conn).map_or(State::Closed, |c| c.state),
        })
    }
}
