//! The stacks a script runs on, behind one trait: [`Target`]. The engine
//! ([`crate::engine`]) walks a script's steps and checks what comes back;
//! a target only moves time, carries packets and makes socket calls.
//!
//! - [`reference`]: the bundled reference stack in virtual time.
//! - [`linux`]: the running kernel, in a private network namespace per script.

pub mod adapter;
pub mod capabilities;
pub mod dut;
pub mod linux;
pub mod reference;
pub mod smoltcp;
mod wire;

pub use crate::script::call::pattern;
use crate::script::call::{Call, Resolved};
use crate::script::TargetKind;
use reference_stack::wire::IpPacket;
use reference_stack::{Errno, FourTuple, State};
use std::fmt;
use std::time::Duration;

/// A call as a target makes it: the script's call with every address and
/// descriptor resolved ([`crate::script::call::Call`] in form [`Resolved`]).
pub type TargetCall = Call<Resolved>;

/// What a call returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallValue {
    Value(i64),
    Error(Errno),
    Events(u32),
    /// An epoll event: its bits and its data (the descriptor it is for,
    /// unless the script gave other data).
    Event {
        events: u32,
        data: u64,
    },
    /// Two descriptors (pipe's ends).
    Pair(i32, i32),
    /// An option's octets.
    Bytes(Vec<u8>),
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
            CallValue::Event { events, data } => {
                write!(f, "{{events={}, data={data}}}", crate::script::call::epoll_names(*events))
            }
            CallValue::Pair(a, b) => write!(f, "[{a}, {b}]"),
            CallValue::Bytes(b) => write!(f, "{}", crate::script::print::quoted(&String::from_utf8_lossy(b))),
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

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// The target could not be set up or used (privileges, devices).
    #[error("target setup: {0}")]
    Setup(String),
    /// The script asks for something this target cannot do.
    #[error("unsupported on this target: {0}")]
    Unsupported(String),
    /// An oracle of the target failed (the reference stack broke a rule), or
    /// a command the script ran there failed.
    #[error("{0}")]
    Violation(String),
    /// A device under test broke the DUT protocol (crashed, hung, answered
    /// garbage): which program, which request.
    #[error("{0}")]
    Dut(String),
}

/// How time passes on a target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clock {
    /// Jumps from event to event: the target's own timers say when
    /// something can next happen, exactly.
    Virtual,
    /// The wall clock: the target's timers are not visible and fire late by
    /// up to `slack_percent` of their length. `tick`: how coarse its timers
    /// are (the Linux kernel's jiffy, 1/HZ), zero when not known.
    Real { slack_percent: f64, tick: Duration },
}

/// What the script sends the stack: a TCP segment (`wire` is the emitted
/// `pkt`, its checksum possibly broken on purpose) or an ICMP error datagram.
#[derive(Clone, Copy, Debug)]
pub enum Inject<'a> {
    Tcp { pkt: &'a IpPacket, wire: &'a [u8] },
    Icmp { wire: &'a [u8] },
}

/// What only a target that is a host can do: run the script's commands and
/// set sysctls where the stack lives (its network namespace).
pub trait Host {
    /// Runs a `shell:` command; `Violation` when it fails.
    fn shell(&mut self, cmd: &str) -> Result<(), TargetError>;
    /// Sets a sysctl (a `sysctl:` step).
    fn sysctl(&mut self, key: &str, value: &str) -> Result<(), TargetError>;
    /// Replaces the device's root qdisc (a `qdisc:` step).
    fn qdisc(&mut self, q: &crate::script::netconf::Qdisc) -> Result<(), TargetError>;
    /// Sets the metrics of the route to the script's address (a `route:` step).
    fn route(&mut self, r: &crate::script::netconf::RouteMetrics) -> Result<(), TargetError>;
    /// Forgets the TCP metrics cache (a `tcp_metrics: flush` step).
    fn tcp_metrics_flush(&mut self) -> Result<(), TargetError>;
    /// Makes the stack able to answer these addresses of the script's
    /// network (a `flood`'s sources): on a veth pair, their neighbour entries.
    fn sources(&mut self, addrs: &[std::net::IpAddr]) -> Result<(), TargetError>;
    /// How much each SNMP counter (nstat's names) grew since the previous
    /// call, or since the target was made (a `counters:` step).
    fn counters(&mut self) -> Result<std::collections::BTreeMap<String, i64>, TargetError>;
}

/// A stack under test. Times are script times (since the script started).
pub trait Target {
    /// Which target this is, for a script's per-target parts (`only:`,
    /// `out: {linux: ...}`); the engine asks nothing else of it.
    fn kind(&self) -> TargetKind;
    fn clock(&self) -> Clock;
    fn now(&self) -> Duration;
    /// Lets the target run until `t`; what it sends meanwhile is kept, with times.
    fn advance(&mut self, t: Duration) -> Result<(), TargetError>;
    /// The next packet the target sent at or before `deadline`, running it as
    /// far as needed; `None` if nothing by then (the target is then at `deadline`).
    fn next_packet(&mut self, deadline: Duration) -> Result<Option<(Duration, IpPacket)>, TargetError>;
    /// When the target may next act on its own: the engine steps a blocked
    /// call's clock through these, so its return time is measured, not
    /// rounded up to the next step. `None`: nothing is scheduled.
    fn next_wakeup(&mut self) -> Option<Duration>;
    /// Sends a datagram to the stack; what the stack sends in answer is
    /// read before this returns.
    fn inject(&mut self, what: Inject<'_>) -> Result<(), TargetError>;
    fn call(&mut self, call: &TargetCall) -> Result<CallOutcome, TargetError>;
    /// Tries a blocked call again.
    fn retry(&mut self, call: &TargetCall) -> Result<CallOutcome, TargetError>;
    /// When the blocking call just collected by [`Target::retry`] really
    /// returned, if the target knows better than "now".
    fn returned_at(&mut self) -> Option<Duration> {
        None
    }
    /// On a real-time target: how long, between two script times, the
    /// harness could not run (its watchdog's gaps, its late wake-ups).
    fn descheduled(&self, _from: Duration, _to: Duration) -> Duration {
        Duration::ZERO
    }
    fn state(&mut self, fd: Option<i32>, conn: FourTuple) -> Result<State, TargetError>;
    /// Starts logging state changes and timer firings for
    /// [`Target::take_marks`]; false when this target logs none (the
    /// engine then asks [`Target::state`] after each step instead).
    fn log_marks(&mut self) -> bool {
        false
    }
    /// What was logged since the last call for the connection `conn` (and
    /// its listener), with script times.
    fn take_marks(&mut self, _conn: FourTuple) -> Vec<(Duration, crate::engine::Mark)> {
        Vec::new()
    }
    /// TCP_INFO fields by name (Linux's meaning and units).
    fn tcp_info(&mut self, fd: i32) -> Result<std::collections::BTreeMap<&'static str, i64>, TargetError>;
    /// The host abilities, on a target that has them.
    fn host(&mut self) -> Option<&mut dyn Host> {
        None
    }
    /// How much each of the stack's counters (nstat's names) grew since the
    /// previous call, or since the target was made (a `counters:` step): a
    /// host's SNMP counters, or what a stack in process counts.
    fn counters(&mut self) -> Result<std::collections::BTreeMap<String, i64>, TargetError> {
        match self.host() {
            Some(h) => h.counters(),
            None => Err(TargetError::Unsupported("counters".into())),
        }
    }
    /// Facts about the target for the report (kernel version, sysctls).
    fn info(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}
