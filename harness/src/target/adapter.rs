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

/// How often a stack may ask to run again at the same instant before the
/// harness calls it a livelock.
pub(crate) const SAME_INSTANT: u32 = 10_000;

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
}

impl<S: StackAdapter> AdapterTarget<S> {
    pub fn new(stack: S, kind: TargetKind) -> AdapterTarget<S> {
        AdapterTarget { stack, kind, now: Duration::ZERO, sent: VecDeque::new(), calls: Calls::default(), broken: None }
    }

    pub fn stack(&self) -> &S {
        &self.stack
    }

    /// Collects what the stack sends at `now`.
    fn drain(&mut self) {
        let mut n = 0;
        while let Some(d) = self.stack.transmit(self.now) {
            n += 1;
            if n > SAME_INSTANT {
                self.broken.get_or_insert(format!(
                    "{} sent over {SAME_INSTANT} datagrams at {:.6} s (a livelock)",
                    self.stack.describe(),
                    self.now.as_secs_f64()
                ));
                return;
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
