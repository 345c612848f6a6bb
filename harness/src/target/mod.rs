//! The stacks a script runs on, behind one trait: [`Target`]. The engine
//! ([`crate::engine`]) walks a script's steps and checks what comes back;
//! a target only moves time, carries packets and makes socket calls.
//!
//! - [`reference`]: the bundled reference stack in virtual time.
//! - [`linux`]: the running kernel, in a private network namespace per script.

pub mod linux;
pub mod reference;

use crate::script::call::OptName;
use crate::script::TargetKind;
use reference_stack::wire::IpPacket;
use reference_stack::{Errno, FourTuple, State};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// A call with the script's defaults filled in (addresses, ports, data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetCall {
    Socket {
        ipv6: bool,
    },
    Bind {
        fd: i32,
        addr: SocketAddr,
    },
    Listen {
        fd: i32,
        backlog: i32,
    },
    Accept {
        fd: i32,
    },
    Connect {
        fd: i32,
        addr: SocketAddr,
    },
    /// `flags`: Linux send flags beyond MSG_OOB; `to`: sendto the script's peer.
    Write {
        fd: i32,
        data: Vec<u8>,
        oob: bool,
        flags: i32,
        to: Option<SocketAddr>,
    },
    Read {
        fd: i32,
        len: usize,
        peek: bool,
    },
    Shutdown {
        fd: i32,
        how: reference_stack::Shutdown,
    },
    Close {
        fd: i32,
    },
    SetSockOpt {
        fd: i32,
        opt: OptName,
        value: i64,
    },
    SetCongestion {
        fd: i32,
        algo: String,
    },
    GetSockOpt {
        fd: i32,
        opt: OptName,
    },
    SetNonBlocking {
        fd: i32,
        on: bool,
    },
    GetFl {
        fd: i32,
    },
    Poll {
        fd: i32,
        events: u32,
        timeout_ms: i64,
    },
    /// A Linux-only socket option: set `value`, or read it (returned as `out`).
    LinuxOpt {
        fd: i32,
        get: bool,
        label: &'static str,
        level: i32,
        name: i32,
        value: i64,
    },
    EpollCreate,
    EpollCtl {
        epfd: i32,
        op: i32,
        fd: i32,
        events: u32,
    },
    /// Returns the count; the first event as `out` (`CallValue::Event`).
    EpollWait {
        epfd: i32,
        max: i32,
        timeout_ms: i64,
    },
    /// A counting ioctl (SIOCINQ, ...); the count is returned as `out`.
    Ioctl {
        fd: i32,
        label: &'static str,
        request: u64,
    },
    /// sendmsg(2) with an iovec of buffers of these lengths.
    SendMsg {
        fd: i32,
        iov: Vec<usize>,
        flags: i32,
    },
    /// recvmsg(2); the msghdr's flags and control messages come back as
    /// `out` (`CallValue::Msg`).
    RecvMsg {
        fd: i32,
        len: usize,
        flags: i32,
    },
    /// setsockopt(2) with a byte-string value of length `len`.
    LinuxOptBytes {
        fd: i32,
        label: &'static str,
        level: i32,
        name: i32,
        value: Vec<u8>,
        len: usize,
    },
    /// pipe(2): the two ends' numbers come back as `out` (`CallValue::Pair`).
    Pipe,
    /// splice(2) between two descriptors, no offsets.
    Splice {
        fd_in: i32,
        fd_out: i32,
        len: usize,
        flags: u32,
    },
    /// sendto(2) of `data` with an address of family AF_UNSPEC.
    SendToUnspec {
        fd: i32,
        data: Vec<u8>,
        flags: i32,
    },
    /// A send or receive call with a NULL buffer.
    NullBuffer {
        fd: i32,
        write: bool,
        len: usize,
        flags: i32,
        to: Option<SocketAddr>,
    },
}

/// The octets a call sends when the script gives only a length: one
/// pattern for every target and call, so traces show the same payload.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

impl TargetCall {
    /// The descriptor the call works on (none for socket()).
    pub(crate) fn fd_mut(&mut self) -> Option<&mut i32> {
        match self {
            TargetCall::Socket { .. } | TargetCall::EpollCreate | TargetCall::Pipe => None,
            TargetCall::Splice { fd_in, .. } => Some(fd_in),
            TargetCall::EpollCtl { epfd, .. } | TargetCall::EpollWait { epfd, .. } => Some(epfd),
            TargetCall::Bind { fd, .. }
            | TargetCall::Listen { fd, .. }
            | TargetCall::Accept { fd }
            | TargetCall::Connect { fd, .. }
            | TargetCall::Write { fd, .. }
            | TargetCall::Read { fd, .. }
            | TargetCall::Shutdown { fd, .. }
            | TargetCall::Close { fd }
            | TargetCall::SetSockOpt { fd, .. }
            | TargetCall::SetCongestion { fd, .. }
            | TargetCall::GetSockOpt { fd, .. }
            | TargetCall::SetNonBlocking { fd, .. }
            | TargetCall::GetFl { fd }
            | TargetCall::Poll { fd, .. }
            | TargetCall::LinuxOpt { fd, .. }
            | TargetCall::Ioctl { fd, .. }
            | TargetCall::SendMsg { fd, .. }
            | TargetCall::RecvMsg { fd, .. }
            | TargetCall::NullBuffer { fd, .. }
            | TargetCall::SendToUnspec { fd, .. }
            | TargetCall::LinuxOptBytes { fd, .. } => Some(fd),
        }
    }
}

/// What a call returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallValue {
    Value(i64),
    Error(Errno),
    Events(u32),
    /// An epoll event: its bits and the descriptor it is for.
    Event {
        events: u32,
        fd: i32,
    },
    /// Two descriptors (pipe's ends).
    Pair(i32, i32),
    /// What recvmsg(2) returned in its msghdr.
    Msg {
        flags: i32,
        cmsgs: Vec<crate::script::call::Cmsg>,
    },
}

impl fmt::Display for CallValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallValue::Value(v) => write!(f, "{v}"),
            CallValue::Error(e) => write!(f, "-1 {}", e.name()),
            CallValue::Events(v) => write!(f, "{}", crate::script::call::pollbits::names(*v)),
            CallValue::Event { events, fd } => {
                write!(f, "{{events={}, fd={fd}}}", crate::script::call::epoll_names(*events))
            }
            CallValue::Pair(a, b) => write!(f, "[{a}, {b}]"),
            CallValue::Msg { flags, cmsgs } => write!(
                f,
                "{{msg_flags: {}, cmsg: {}}}",
                crate::script::call::recv_flag_names(*flags),
                crate::script::call::cmsgs_text(cmsgs)
            ),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    /// Returned; `out` is a value returned through a pointer (getsockopt).
    Done { ret: CallValue, out: Option<CallValue> },
    /// A blocking call that has not returned yet.
    WouldBlock,
}

#[derive(Debug)]
#[non_exhaustive]
pub enum TargetError {
    /// The target could not be set up or used (privileges, devices).
    Setup(String),
    /// The script asks for something this target cannot do.
    Unsupported(String),
    /// An oracle of the target failed (the reference stack broke a rule).
    Violation(String),
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetError::Setup(m) => write!(f, "target setup: {m}"),
            TargetError::Unsupported(m) => write!(f, "unsupported on this target: {m}"),
            TargetError::Violation(m) => write!(f, "{m}"),
        }
    }
}

/// A stack under test. Times are script times (since the script started).
pub trait Target {
    fn kind(&self) -> TargetKind;
    fn now(&self) -> Duration;
    /// Lets the target run until `t`; what it sends meanwhile is kept, with times.
    fn advance(&mut self, t: Duration) -> Result<(), TargetError>;
    /// The next packet the target sent at or before `deadline`, running it as
    /// far as needed; `None` if nothing by then (the target is then at `deadline`).
    fn next_packet(&mut self, deadline: Duration) -> Result<Option<(Duration, IpPacket)>, TargetError>;
    /// Sends `wire` (the emitted `pkt`, its checksum possibly broken on
    /// purpose) to the stack.
    fn inject(&mut self, pkt: &IpPacket, wire: &[u8]) -> Result<(), TargetError>;
    /// Sends an ICMP error datagram (`wire`) to the stack.
    fn inject_icmp(&mut self, _wire: &[u8]) -> Result<(), TargetError> {
        Err(TargetError::Unsupported("ICMP messages (the reference stack has no ICMP input)".into()))
    }
    fn call(&mut self, call: &TargetCall) -> Result<CallOutcome, TargetError>;
    /// Tries a blocked call again.
    fn retry(&mut self, call: &TargetCall) -> Result<CallOutcome, TargetError>;
    /// When the target may next act on its own: the engine steps a blocked
    /// call's clock through these, so its return time is measured, not
    /// rounded up to the next step. `None`: nothing is scheduled.
    fn next_wakeup(&self) -> Option<Duration>;
    fn state(&mut self, fd: Option<i32>, conn: FourTuple) -> Result<State, TargetError>;
    /// TCP_INFO fields by name (Linux's meaning and units).
    fn tcp_info(&mut self, fd: i32) -> Result<std::collections::BTreeMap<&'static str, i64>, TargetError>;
    /// How late (in percent of the gap) a timer may fire on this target.
    fn timer_slack_percent(&self) -> f64 {
        0.0
    }
    /// Runs a script's `shell:` command where the target lives (its network
    /// namespace); an error when the command fails.
    fn shell(&mut self, cmd: &str) -> Result<(), TargetError> {
        Err(TargetError::Unsupported(format!("shell commands (`{cmd}`)")))
    }
    /// When the blocking call just collected by [`Target::retry`] really
    /// returned, if the target knows better than "now".
    fn returned_at(&mut self) -> Option<Duration> {
        None
    }
    /// Sets a sysctl in the target's namespace (a `sysctl:` step).
    fn sysctl(&mut self, key: &str, _value: &str) -> Result<(), TargetError> {
        Err(TargetError::Unsupported(format!("sysctl {key}")))
    }
    /// Facts about the target for the report (kernel version, sysctls).
    fn info(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}
