//! Stacks linked into the harness (Rust, or C through FFI), run in virtual
//! time. [`StackAdapter`] is what such a stack implements, in the reference
//! stack's shape: datagrams in with `now`, datagrams out, the next deadline,
//! and the BSD-like calls, none of which ever blocks. [`AdapterTarget`] runs
//! any of them as a [`Target`]: it moves time from deadline to deadline,
//! makes blocking sockets out of non-blocking calls, and parses what the
//! stack sends (a datagram that does not parse is a failure of the stack).
//!
//! docs/adding-a-stack.md walks through writing one.

use super::{CallOutcome, CallValue, Clock, Inject, Target, TargetCall, TargetError};
use crate::script::call::{pollbits, OptName};
use crate::script::TargetKind;
use reference_stack::wire::IpPacket;
use reference_stack::{Errno, Fd, FourTuple, PollEvents, Shutdown, SockOpt, SockOptName, State};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

/// What [`SocketApi::connection_queued`] tells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Queued {
    /// Octets taken in sequence and not yet read.
    pub recv: usize,
    /// Octets written and not yet acknowledged.
    pub send: usize,
}

/// The BSD-like calls of a stack, none of which ever blocks: one that would
/// block answers `EAGAIN` (`EINPROGRESS` for `connect`), and the harness
/// retries it for a script's blocking socket. Errors are Linux's errno
/// values; `now` is the time since the script started.
pub trait SocketApi {
    /// The stack and its version, for reports (`smoltcp 0.14.0`).
    fn describe(&self) -> String;
    fn socket(&mut self, now: Duration, ipv6: bool) -> Result<Fd, Errno>;
    fn bind(&mut self, now: Duration, fd: Fd, addr: SocketAddr) -> Result<(), Errno>;
    fn listen(&mut self, now: Duration, fd: Fd, backlog: i32) -> Result<(), Errno>;
    /// A connection the handshake has completed, as a new descriptor.
    fn accept(&mut self, now: Duration, fd: Fd) -> Result<Fd, Errno>;
    /// Starts the handshake: `EINPROGRESS`.
    fn connect(&mut self, now: Duration, fd: Fd, addr: SocketAddr) -> Result<(), Errno>;
    fn send(&mut self, now: Duration, fd: Fd, data: &[u8]) -> Result<usize, Errno>;
    /// Up to `max` octets (`peek`: left in the queue); none at end of stream.
    fn recv(&mut self, now: Duration, fd: Fd, max: usize, peek: bool) -> Result<Vec<u8>, Errno>;
    fn shutdown(&mut self, now: Duration, fd: Fd, how: Shutdown) -> Result<(), Errno>;
    fn close(&mut self, now: Duration, fd: Fd) -> Result<(), Errno>;
    fn setsockopt(&mut self, now: Duration, fd: Fd, opt: SockOpt) -> Result<(), Errno>;
    fn getsockopt(&mut self, now: Duration, fd: Fd, name: SockOptName) -> Result<SockOpt, Errno>;
    fn poll(&mut self, now: Duration, fd: Fd) -> Result<PollEvents, Errno>;
    /// The state of the socket behind `fd` (LISTEN for a listener).
    fn state(&mut self, fd: Fd) -> Result<State, Errno>;
    /// The state of the connection with this 4-tuple, with or without a
    /// descriptor (TIME-WAIT after close()); `None`: no such connection.
    fn connection_state(&mut self, conn: &FourTuple) -> Option<State>;
    /// The connection with this 4-tuple's queues: the octets it has taken in
    /// sequence and not yet handed to the application, and the octets the
    /// application wrote that are not yet acknowledged (`None`: no such
    /// connection, or the stack does not tell). The differential comparison
    /// reads them after every step, so that text one stack took and the
    /// other did not, or an acknowledgment one took and the other did not,
    /// shows where it happened, not at a later segment.
    fn connection_queued(&mut self, _conn: &FourTuple) -> Option<Queued> {
        None
    }
    /// [`SocketApi::connection_state`] and, when `queues`,
    /// [`SocketApi::connection_queued`] in one look (a stack that finds a
    /// connection by walking its sockets overrides it to walk them once).
    fn connection(&mut self, conn: &FourTuple, queues: bool) -> Option<(State, Option<Queued>)> {
        let state = self.connection_state(conn)?;
        Some((state, if queues { self.connection_queued(conn) } else { None }))
    }
    /// TCP_INFO fields the stack can tell, in Linux's units.
    fn tcp_info(&mut self, fd: Fd) -> Result<BTreeMap<&'static str, i64>, Errno> {
        let state = self.state(fd)?;
        Ok(BTreeMap::from([("state", i64::from(crate::os::tcp_states::to_linux(state)))]))
    }
}

/// A TCP stack linked into the harness and driven in virtual time: its
/// calls, and datagrams in and out with the time, in the reference stack's
/// shape. `now` never goes back.
pub trait StackAdapter: SocketApi {
    /// An IP datagram from the script's peer (TCP, or an ICMP error).
    fn receive(&mut self, now: Duration, datagram: &[u8]);
    /// Runs the stack at `now` (what arrived, what calls queued, its timers
    /// that are due) and returns one datagram it sends; `None` when nothing
    /// more goes out at `now`.
    fn transmit(&mut self, now: Duration) -> Option<Vec<u8>>;
    /// When the stack next needs to run on its own (a timer), if ever.
    fn next_deadline(&mut self, now: Duration) -> Option<Duration>;
}

/// How often a stack may ask to run again at the same instant, or how many
/// datagrams it may send there, before the harness calls it a livelock.
pub(crate) const SAME_INSTANT: u32 = 10_000;

/// How many times in a row a stack may send the same segment at one
/// instant, beyond once for each datagram it was given there, before the
/// harness calls it a livelock. A stack that sends a segment and is left
/// where it was sends it again, for ever (smoltcp 0.14's zero-window probe
/// in FIN-WAIT-2); caught here after a few dozen datagrams instead of
/// [`SAME_INSTANT`] (which still bounds one whose segments differ), so a
/// fuzzer's mutants of such a case cost what other cases cost.
pub(crate) const REPEATS: u32 = 64;

/// The transport part of an IP datagram (what follows the IPv4 header and
/// its options, or the fixed IPv6 header): two datagrams that differ only
/// in the IPv4 identification carry the same segment.
pub(crate) fn segment_part(d: &[u8]) -> &[u8] {
    let header = match d.first().map(|b| b >> 4) {
        Some(4) => usize::from(d[0] & 0x0f) * 4,
        Some(6) => 40,
        _ => 0,
    };
    d.get(header..).unwrap_or(d)
}

/// What a stack sends between two datagrams given to it at one instant,
/// watched for a livelock: more than [`SAME_INSTANT`] datagrams, or the same
/// segment more than [`REPEATS`] times in a row beyond one answer to each
/// datagram it was given (a burst of segments may each get the same
/// duplicate ACK).
#[derive(Default)]
pub(crate) struct Sending {
    sent: u32,
    /// How many times in a row the last segment was sent again.
    again: u32,
    given: u32,
    last: Vec<u8>,
}

impl Sending {
    /// A datagram given to the stack.
    pub(crate) fn given(&mut self) {
        self.given += 1;
    }

    /// One datagram the stack sent; what is wrong when it is a livelock.
    pub(crate) fn sent(&mut self, d: &[u8]) -> Option<String> {
        self.sent += 1;
        if self.sent > SAME_INSTANT {
            return Some(format!("sent over {SAME_INSTANT} datagrams"));
        }
        if !self.last.is_empty() && segment_part(d) == segment_part(&self.last) {
            self.again += 1;
            if self.again > REPEATS + self.given {
                return Some(format!("sent the same segment {} times in a row", self.again + 1));
            }
        } else {
            self.again = 0;
            self.last.clear();
            self.last.extend_from_slice(d);
        }
        None
    }

    /// Everything sent was collected: the counts start again.
    pub(crate) fn collected(&mut self) {
        self.sent = 0;
        self.again = 0;
        self.given = 0;
        self.last.clear();
    }
}

/// Linux's O_RDWR and O_NONBLOCK, for F_GETFL.
const O_RDWR: i64 = 0o2;
const O_NONBLOCK: i64 = 0o4000;

fn done(v: Result<i64, Errno>) -> CallOutcome {
    CallOutcome::Done { ret: v.map_or_else(CallValue::Error, CallValue::Value), out: None }
}

/// A script's calls on a [`SocketApi`]: blocking sockets made of
/// non-blocking calls (a call that would block is tried again as time
/// passes), `O_NONBLOCK` kept here, options and readiness in the language's
/// terms. Shared by every target whose stack speaks [`SocketApi`].
#[derive(Default)]
pub(crate) struct Calls {
    /// Descriptors the script made non-blocking (all start blocking).
    nonblocking: BTreeMap<Fd, bool>,
    /// A blocking write: octets still to go and the total.
    write_left: Option<(Vec<u8>, usize)>,
    /// A blocking poll: when it gives up.
    poll_until: Option<Duration>,
}

impl Calls {
    fn blocking(&self, fd: Fd) -> bool {
        !self.nonblocking.get(&fd).copied().unwrap_or(false)
    }

    fn revents<A: SocketApi + ?Sized>(api: &mut A, now: Duration, fd: Fd, events: u32) -> Result<u32, Errno> {
        Ok(pollbits::revents(&api.poll(now, fd)?, events))
    }

    fn write_more<A: SocketApi + ?Sized>(&mut self, api: &mut A, now: Duration, fd: Fd) -> CallOutcome {
        let Some((left, total)) = self.write_left.take() else { return done(Ok(0)) };
        match api.send(now, fd, &left) {
            Ok(n) if n == left.len() => done(Ok(total as i64)),
            Ok(n) => {
                self.write_left = Some((left[n..].to_vec(), total));
                CallOutcome::WouldBlock
            }
            Err(Errno::EAGAIN) => {
                self.write_left = Some((left, total));
                CallOutcome::WouldBlock
            }
            Err(e) => done(Err(e)),
        }
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

    fn getsockopt<A: SocketApi + ?Sized>(api: &mut A, now: Duration, fd: Fd, opt: OptName) -> Result<CallValue, Errno> {
        Ok(match api.getsockopt(now, fd, opt)? {
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

    /// A call, made once at `now`.
    pub fn make<A: SocketApi + ?Sized>(
        &mut self,
        api: &mut A,
        now: Duration,
        call: &TargetCall,
    ) -> Result<CallOutcome, TargetError> {
        Ok(match call {
            TargetCall::Socket { ipv6 } => {
                let r = api.socket(now, *ipv6);
                if let Ok(fd) = r {
                    self.nonblocking.insert(fd, false);
                }
                done(r.map(i64::from))
            }
            TargetCall::Bind { fd, addr } => done(api.bind(now, *fd, *addr).map(|_| 0)),
            TargetCall::Listen { fd, backlog } => done(api.listen(now, *fd, *backlog).map(|_| 0)),
            TargetCall::Accept { fd } => match api.accept(now, *fd) {
                Ok(nfd) => {
                    self.nonblocking.insert(nfd, false);
                    done(Ok(i64::from(nfd)))
                }
                Err(Errno::EAGAIN) if self.blocking(*fd) => CallOutcome::WouldBlock,
                Err(e) => done(Err(e)),
            },
            TargetCall::Connect { fd, addr } => match api.connect(now, *fd, *addr) {
                Err(Errno::EINPROGRESS) if self.blocking(*fd) => CallOutcome::WouldBlock,
                r => done(r.map(|_| 0)),
            },
            TargetCall::Write { flags, to, .. } if *flags != 0 || to.is_some() => {
                return Err(TargetError::Unsupported("send flags and sendto are Linux's".into()))
            }
            TargetCall::Write { oob: true, .. } => {
                return Err(TargetError::Unsupported("urgent data (MSG_OOB)".into()))
            }
            TargetCall::Write { fd, data, .. } => {
                let data = data.bytes();
                if self.blocking(*fd) {
                    self.write_left = Some((data.to_vec(), data.len()));
                    self.write_more(api, now, *fd)
                } else {
                    done(api.send(now, *fd, &data).map(|n| n as i64))
                }
            }
            TargetCall::Read { flags, .. } if flags & !crate::script::call::PLAIN_READ_FLAGS != 0 => {
                return Err(TargetError::Unsupported(format!(
                    "receive flags only Linux has ({})",
                    crate::script::call::recv_flag_names(flags & !crate::script::call::PLAIN_READ_FLAGS)
                )))
            }
            TargetCall::Read { fd, len, peek, .. } => match api.recv(now, *fd, *len, *peek) {
                Ok(d) => CallOutcome::Done { ret: CallValue::Value(d.len() as i64), out: Some(CallValue::Bytes(d)) },
                Err(Errno::EAGAIN) if self.blocking(*fd) => CallOutcome::WouldBlock,
                Err(e) => done(Err(e)),
            },
            // A plain recvmsg is a read with an empty msghdr.
            TargetCall::RecvMsg { fd, len, flags: 0 } => match api.recv(now, *fd, *len, false) {
                Ok(d) => CallOutcome::Done {
                    ret: CallValue::Value(d.len() as i64),
                    out: Some(CallValue::Msg { flags: 0, cmsgs: Vec::new() }),
                },
                Err(Errno::EAGAIN) if self.blocking(*fd) => CallOutcome::WouldBlock,
                Err(e) => done(Err(e)),
            },
            TargetCall::RecvMsg { .. } => {
                return Err(TargetError::Unsupported("recvmsg flags (MSG_ERRQUEUE, ...) are Linux's".into()))
            }
            TargetCall::Shutdown { fd, how } => done(api.shutdown(now, *fd, *how).map(|_| 0)),
            TargetCall::Close { fd } => {
                let r = api.close(now, *fd);
                if r.is_ok() {
                    self.nonblocking.remove(fd);
                }
                done(r.map(|_| 0))
            }
            TargetCall::SetSockOpt { fd, opt, value } => {
                done(Self::sockopt(*opt, *value).and_then(|o| api.setsockopt(now, *fd, o)).map(|_| 0))
            }
            TargetCall::GetSockOpt { fd, opt } => match Self::getsockopt(api, now, *fd, *opt) {
                Ok(v) => CallOutcome::Done { ret: CallValue::Value(0), out: Some(v) },
                Err(e) => done(Err(e)),
            },
            TargetCall::SetCongestion { .. } => {
                return Err(TargetError::Unsupported("TCP_CONGESTION (congestion control by name)".into()))
            }
            TargetCall::SetNonBlocking { fd, on } => match api.state(*fd) {
                Ok(_) => {
                    self.nonblocking.insert(*fd, *on);
                    done(Ok(0))
                }
                Err(e) => done(Err(e)),
            },
            TargetCall::GetFl { fd } => match api.state(*fd) {
                Ok(_) => done(Ok(O_RDWR | if self.blocking(*fd) { 0 } else { O_NONBLOCK })),
                Err(e) => done(Err(e)),
            },
            TargetCall::Poll { fd, events, timeout_ms } => match Self::revents(api, now, *fd, *events) {
                Ok(0) if *timeout_ms != 0 => {
                    self.poll_until = (*timeout_ms > 0).then(|| now + Duration::from_millis(*timeout_ms as u64));
                    CallOutcome::WouldBlock
                }
                Ok(m) => CallOutcome::Done { ret: CallValue::Events(m), out: None },
                Err(e) => done(Err(e)),
            },
            other => {
                let why = other.linux_only().unwrap_or("a call this stack does not have");
                return Err(TargetError::Unsupported(why.into()));
            }
        })
    }

    /// A blocked call, tried again at `now`.
    pub fn retry<A: SocketApi + ?Sized>(
        &mut self,
        api: &mut A,
        now: Duration,
        call: &TargetCall,
    ) -> Result<CallOutcome, TargetError> {
        Ok(match call {
            TargetCall::Connect { fd, .. } => match api.state(*fd) {
                Ok(State::SynSent) | Ok(State::SynReceived) => CallOutcome::WouldBlock,
                Ok(State::Closed) => {
                    let e = match api.getsockopt(now, *fd, SockOptName::Error) {
                        Ok(SockOpt::Error(Some(e))) => e,
                        _ => Errno::ECONNREFUSED,
                    };
                    done(Err(e))
                }
                Ok(_) => done(Ok(0)),
                Err(e) => done(Err(e)),
            },
            TargetCall::Write { fd, .. } => self.write_more(api, now, *fd),
            TargetCall::Poll { fd, events, .. } => match Self::revents(api, now, *fd, *events) {
                Ok(0) if self.poll_until.is_none_or(|t| now < t) => CallOutcome::WouldBlock,
                Ok(m) => CallOutcome::Done { ret: CallValue::Events(m), out: None },
                Err(e) => done(Err(e)),
            },
            other => self.make(api, now, other)?,
        })
    }
}

/// Any [`StackAdapter`] as a target, in virtual time.
pub struct AdapterTarget<S: StackAdapter> {
    stack: S,
    kind: TargetKind,
    now: Duration,
    sent: VecDeque<(Duration, IpPacket)>,
    calls: Calls,
    /// The first thing the stack did wrong, reported at the next operation.
    broken: Option<String>,
    sending: Sending,
}

impl<S: StackAdapter> AdapterTarget<S> {
    pub fn new(stack: S, kind: TargetKind) -> AdapterTarget<S> {
        AdapterTarget {
            stack,
            kind,
            now: Duration::ZERO,
            sent: VecDeque::new(),
            calls: Calls::default(),
            broken: None,
            sending: Sending::default(),
        }
    }

    pub fn stack(&self) -> &S {
        &self.stack
    }

    /// Collects what the stack sends at `now`.
    fn drain(&mut self) {
        while let Some(d) = self.stack.transmit(self.now) {
            if let Some(why) = self.sending.sent(&d) {
                self.broken.get_or_insert(format!(
                    "{} {why} at {:.6} s (a livelock)",
                    self.stack.describe(),
                    self.now.as_secs_f64()
                ));
                break;
            }
            match IpPacket::parse(&d) {
                Ok(p) => self.sent.push_back((self.now, p)),
                Err(e) => {
                    let hex: String = d.iter().take(64).map(|b| format!("{b:02x}")).collect();
                    self.broken.get_or_insert(format!(
                        "{} sent a datagram that does not parse ({e}): {hex}{}",
                        self.stack.describe(),
                        if d.len() > 64 { "..." } else { "" }
                    ));
                }
            }
        }
        self.sending.collected();
    }

    fn checked(&mut self) -> Result<(), TargetError> {
        match self.broken.take() {
            Some(m) => Err(TargetError::Violation(m)),
            None => Ok(()),
        }
    }

    /// Runs the stack's timers up to `t`, collecting what is sent at each
    /// one's time; with `first`, stops at the first datagram sent.
    fn run_until(&mut self, t: Duration, first: bool) {
        self.drain();
        let mut same = 0;
        while !first || self.sent.is_empty() {
            let Some(d) = self.stack.next_deadline(self.now).filter(|d| *d <= t) else { break };
            if d <= self.now {
                same += 1;
                if same > SAME_INSTANT {
                    self.broken.get_or_insert(format!(
                        "{} asked to run again at {:.6} s more than {SAME_INSTANT} times (a livelock)",
                        self.stack.describe(),
                        self.now.as_secs_f64()
                    ));
                    return;
                }
            } else {
                same = 0;
                self.now = d;
            }
            self.drain();
        }
        if !first || self.sent.is_empty() {
            self.now = self.now.max(t);
            self.drain();
        }
    }
}

impl<S: StackAdapter> Target for AdapterTarget<S> {
    fn kind(&self) -> TargetKind {
        self.kind
    }

    fn clock(&self) -> Clock {
        Clock::Virtual
    }

    fn now(&self) -> Duration {
        self.now
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

    fn next_wakeup(&mut self) -> Option<Duration> {
        self.stack.next_deadline(self.now)
    }

    fn inject(&mut self, what: Inject<'_>) -> Result<(), TargetError> {
        let wire = match what {
            Inject::Tcp { wire, .. } | Inject::Icmp { wire } => wire,
        };
        self.sending.given();
        self.stack.receive(self.now, wire);
        self.drain();
        self.checked()
    }

    fn call(&mut self, call: &TargetCall) -> Result<CallOutcome, TargetError> {
        let out = self.calls.make(&mut self.stack, self.now, call)?;
        self.drain();
        self.checked()?;
        Ok(out)
    }

    fn retry(&mut self, call: &TargetCall) -> Result<CallOutcome, TargetError> {
        let out = self.calls.retry(&mut self.stack, self.now, call)?;
        self.drain();
        self.checked()?;
        Ok(out)
    }

    fn state(&mut self, fd: Option<Fd>, conn: FourTuple) -> Result<State, TargetError> {
        Ok(match fd {
            Some(fd) => self.stack.state(fd).unwrap_or(State::Closed),
            None => self.stack.connection_state(&conn).unwrap_or(State::Closed),
        })
    }

    fn tcp_info(&mut self, fd: Fd) -> Result<BTreeMap<&'static str, i64>, TargetError> {
        self.stack.tcp_info(fd).map_err(|e| TargetError::Unsupported(format!("tcp_info on fd {fd}: {e}")))
    }

    fn info(&self) -> Vec<(String, String)> {
        vec![("stack".into(), self.stack.describe())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 datagram of an empty ACK numbered `seq`, with `ident` in the
    /// IP header.
    fn datagram(ident: u16, seq: u8) -> Vec<u8> {
        use reference_stack::wire::{IpRepr, TcpFlags, TcpRepr};
        use reference_stack::SeqNumber;
        let tcp = TcpRepr {
            src_port: 8080,
            dst_port: 40000,
            seq: SeqNumber(u32::from(seq)),
            flags: TcpFlags::ACK,
            ..TcpRepr::default()
        };
        let ip = IpRepr::new([192, 0, 2, 1].into(), [198, 51, 100, 1].into());
        let mut d = Vec::new();
        IpPacket { ip, tcp }.emit_into(&mut d).unwrap();
        d[4..6].copy_from_slice(&ident.to_be_bytes());
        d
    }

    /// The same segment sent again and again is a livelock after REPEATS
    /// more, counted apart from one answer per datagram given (a burst's
    /// duplicate ACKs) and whatever the IPv4 identification says; segments
    /// that differ count only toward SAME_INSTANT; the counts start again
    /// once collected.
    #[test]
    fn sending_the_same_segment_again_is_a_livelock() {
        let mut s = Sending::default();
        for i in 0..=REPEATS {
            assert_eq!(s.sent(&datagram(i as u16, 1)), None, "repeat {i}");
        }
        let why = s.sent(&datagram(9999, 1)).expect("a livelock");
        assert_eq!(why, format!("sent the same segment {} times in a row", REPEATS + 2));

        s.collected();
        for _ in 0..10 {
            s.given();
        }
        for i in 0..=REPEATS + 10 {
            assert_eq!(s.sent(&datagram(0, 1)), None, "repeat {i} after 10 given");
        }
        assert!(s.sent(&datagram(0, 1)).is_some());

        s.collected();
        for i in 0..SAME_INSTANT {
            assert_eq!(s.sent(&datagram(0, i as u8)), None, "datagram {i}");
        }
        assert_eq!(s.sent(&datagram(0, 0)), Some(format!("sent over {SAME_INSTANT} datagrams")));
    }

    /// A stack that sends for ever at one instant: the same segment
    /// (`same`), or each time another one.
    struct Loops {
        same: bool,
        n: u8,
    }

    impl SocketApi for Loops {
        fn describe(&self) -> String {
            "a looping stack".into()
        }
        fn socket(&mut self, _: Duration, _: bool) -> Result<Fd, Errno> {
            Err(Errno::EOPNOTSUPP)
        }
        fn bind(&mut self, _: Duration, _: Fd, _: SocketAddr) -> Result<(), Errno> {
            Err(Errno::EOPNOTSUPP)
        }
        fn listen(&mut self, _: Duration, _: Fd, _: i32) -> Result<(), Errno> {
            Err(Errno::EOPNOTSUPP)
        }
        fn accept(&mut self, _: Duration, _: Fd) -> Result<Fd, Errno> {
            Err(Errno::EOPNOTSUPP)
        }
        fn connect(&mut self, _: Duration, _: Fd, _: SocketAddr) -> Result<(), Errno> {
            Err(Errno::EOPNOTSUPP)
        }
        fn send(&mut self, _: Duration, _: Fd, _: &[u8]) -> Result<usize, Errno> {
            Err(Errno::EOPNOTSUPP)
        }
        fn recv(&mut self, _: Duration, _: Fd, _: usize, _: bool) -> Result<Vec<u8>, Errno> {
            Err(Errno::EOPNOTSUPP)
        }
        fn shutdown(&mut self, _: Duration, _: Fd, _: Shutdown) -> Result<(), Errno> {
            Err(Errno::EOPNOTSUPP)
        }
        fn close(&mut self, _: Duration, _: Fd) -> Result<(), Errno> {
            Err(Errno::EOPNOTSUPP)
        }
        fn setsockopt(&mut self, _: Duration, _: Fd, _: SockOpt) -> Result<(), Errno> {
            Err(Errno::EOPNOTSUPP)
        }
        fn getsockopt(&mut self, _: Duration, _: Fd, _: SockOptName) -> Result<SockOpt, Errno> {
            Err(Errno::EOPNOTSUPP)
        }
        fn poll(&mut self, _: Duration, _: Fd) -> Result<PollEvents, Errno> {
            Err(Errno::EOPNOTSUPP)
        }
        fn state(&mut self, _: Fd) -> Result<State, Errno> {
            Err(Errno::EOPNOTSUPP)
        }
        fn connection_state(&mut self, _: &FourTuple) -> Option<State> {
            None
        }
    }

    impl StackAdapter for Loops {
        fn receive(&mut self, _: Duration, _: &[u8]) {}
        fn transmit(&mut self, _: Duration) -> Option<Vec<u8>> {
            if !self.same {
                self.n = self.n.wrapping_add(1);
            }
            Some(datagram(0, self.n))
        }
        fn next_deadline(&mut self, _: Duration) -> Option<Duration> {
            None
        }
    }

    /// A datagram in that the stack answers with no end of datagrams is an
    /// error of the script that says so: after a few dozen of the same
    /// segment, or SAME_INSTANT different ones.
    #[test]
    fn a_stack_that_never_stops_sending_is_a_livelock() {
        for (same, says) in [(true, "times in a row at 0.000000 s (a livelock)"), (false, "sent over 10000 datagrams")]
        {
            let mut t = AdapterTarget::new(Loops { same, n: 0 }, TargetKind::Smoltcp);
            let Err(TargetError::Violation(m)) = t.inject(Inject::Icmp { wire: &datagram(0, 0) }) else {
                panic!("no error")
            };
            assert!(m.starts_with("a looping stack sent ") && m.contains(says), "{m}");
        }
    }

    #[test]
    fn the_segment_part_follows_the_ip_header() {
        let mut v4 = vec![0x46u8; 30];
        v4[24] = 7;
        assert_eq!(segment_part(&v4), &v4[24..]);
        let v6 = [0x60u8; 41];
        assert_eq!(segment_part(&v6), &v6[40..]);
        assert_eq!(segment_part(&[0x4f, 1, 2]), &[0x4f, 1, 2]);
        assert_eq!(segment_part(&[]), &[] as &[u8]);
    }
}
