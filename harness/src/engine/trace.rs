//! The trace: every packet in and out and every call, with its time, in the
//! script's notation. Reports print it; snapshots keep it.

use crate::script::packet::{segment_text, Style};
use reference_stack::event::Cause;
use reference_stack::wire::{IpPacket, TcpRepr};
use reference_stack::State;
use std::fmt;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    In,
    Out,
}

/// One line of the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceEntry {
    /// `step`: the script's step (0-based) running when it was sent or
    /// seen, for captures' comments.
    Packet {
        at: Duration,
        dir: Dir,
        text: String,
        bytes: Vec<u8>,
        step: Option<usize>,
    },
    Call {
        at: Duration,
        text: String,
        ret: String,
    },
    /// Something on the stack's side that is neither a packet nor a call:
    /// recorded only when a run is asked for them
    /// ([`super::RunOptions::marks`], for the pictures of `--report-dir`).
    Mark {
        at: Duration,
        mark: Mark,
    },
}

/// A state the connection entered, or a timer that fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mark {
    /// `cause`: what the stack logged as the reason (the reference stack
    /// logs every transition); `None` when the engine saw the new state by
    /// asking after a step (a target that logs none). Kept as the stack's
    /// value and put into words only when shown.
    State { from: State, to: State, cause: Option<Cause> },
    /// A timer of the stack fired (the stack's name for it).
    Timer { kind: &'static str },
}

/// What made the state change, in words: "a segment with flags S.", "call
/// Close", "the TimeWait timer".
pub fn cause_text(c: &Cause) -> String {
    match c {
        Cause::Segment(s) => format!("a segment with flags {}", s.flags),
        Cause::Call(call) => format!("call {call:?}"),
        Cause::Timer(t) => format!("the {t:?} timer"),
    }
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mark::State { from, to, cause: Some(c) } => write!(f, "state {from} -> {to} on {}", cause_text(c)),
            Mark::State { from, to, cause: None } => write!(f, "state {from} -> {to} (seen after the step)"),
            Mark::Timer { kind } => write!(f, "timer {kind} fires"),
        }
    }
}

impl TraceEntry {
    pub fn at(&self) -> Duration {
        match self {
            TraceEntry::Packet { at, .. } | TraceEntry::Call { at, .. } | TraceEntry::Mark { at, .. } => *at,
        }
    }

    /// A packet or a call: what the normalised trace (and its snapshots) keeps.
    pub fn is_io(&self) -> bool {
        !matches!(self, TraceEntry::Mark { .. })
    }
}

impl fmt::Display for TraceEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceEntry::Packet { at, dir, text, .. } => {
                let d = match dir {
                    Dir::In => "in ",
                    Dir::Out => "out",
                };
                write!(f, "{:>12.6} {d}  {text}", at.as_secs_f64())
            }
            TraceEntry::Call { at, text, ret } if ret.is_empty() => write!(f, "{:>12.6} {text}", at.as_secs_f64()),
            TraceEntry::Call { at, text, ret } => write!(f, "{:>12.6} call {text} = {ret}", at.as_secs_f64()),
            TraceEntry::Mark { at, mark } => write!(f, "{:>12.6} {mark}", at.as_secs_f64()),
        }
    }
}

/// The two sides' ISNs, as far as the run knows them.
#[derive(Clone, Copy, Debug)]
pub(super) struct Isns {
    pub stack: u32,
    pub script: u32,
}

/// A segment as the trace shows it: sequence numbers relative to the
/// sender's ISN, acknowledgments (and SACK blocks) to the receiver's.
pub(super) fn render(isns: Isns, t: &TcpRepr, dir: Dir) -> String {
    match dir {
        Dir::In => segment_text(t, isns.script, isns.stack, Style::Trace),
        Dir::Out => segment_text(t, isns.stack, isns.script, Style::Trace),
    }
}

/// Entries kept from the start of a run, and from its end: a long run
/// (a closed window probed for a virtual day) keeps these and counts the
/// rest, so its memory is bounded.
pub const TRACE_HEAD: usize = 5_000;
pub const TRACE_TAIL: usize = 5_000;

/// The trace of a run so far: the first [`TRACE_HEAD`] entries, the last
/// [`TRACE_TAIL`], and how many between were not kept.
#[derive(Default)]
pub(super) struct Trace {
    /// The step running now, given to the packets recorded.
    pub step: Option<usize>,
    head: Vec<TraceEntry>,
    tail: std::collections::VecDeque<TraceEntry>,
    dropped: usize,
}

impl Trace {
    pub fn push(&mut self, e: TraceEntry) {
        if self.head.len() < TRACE_HEAD {
            self.head.push(e);
            return;
        }
        if self.tail.len() == TRACE_TAIL {
            self.tail.pop_front();
            self.dropped += 1;
        }
        self.tail.push_back(e);
    }

    /// The entries kept, in order, with a line saying how many were not.
    pub fn finish(self) -> Vec<TraceEntry> {
        let mut out = self.head;
        if let (true, Some(first)) = (self.dropped > 0, self.tail.front()) {
            out.push(TraceEntry::Call {
                at: first.at(),
                text: format!(
                    "...  {} trace entries not kept (the trace keeps the first {TRACE_HEAD} and the last {TRACE_TAIL})",
                    self.dropped
                ),
                ret: String::new(),
            });
        }
        out.extend(self.tail);
        out
    }

    /// A segment the stack sent at `at`; returns its rendering (with its
    /// ports first when `ports`: a script of several connections).
    pub fn out(&mut self, isns: Isns, at: Duration, p: &IpPacket, ports: bool) -> String {
        let mut text = render(isns, &p.tcp, Dir::Out);
        if ports {
            text = format!("{}>{} {text}", p.tcp.src_port, p.tcp.dst_port);
        }
        let (bytes, step) = (p.emit().unwrap_or_default(), self.step);
        self.push(TraceEntry::Packet { at, dir: Dir::Out, text: text.clone(), bytes, step });
        text
    }

    /// A call that returned `ret` at `at`.
    pub fn call(&mut self, at: Duration, text: &str, ret: String) {
        self.push(TraceEntry::Call { at, text: text.to_string(), ret });
    }
}
