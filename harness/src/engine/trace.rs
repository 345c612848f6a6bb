//! The trace: every packet in and out and every call, with its time, in the
//! script's notation. Reports print it; snapshots keep it.

use crate::script::packet::{segment_text, Style};
use reference_stack::wire::{IpPacket, TcpRepr};
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
    Packet { at: Duration, dir: Dir, text: String, bytes: Vec<u8> },
    Call { at: Duration, text: String, ret: String },
}

impl TraceEntry {
    pub fn at(&self) -> Duration {
        match self {
            TraceEntry::Packet { at, .. } | TraceEntry::Call { at, .. } => *at,
        }
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
            TraceEntry::Call { at, text, ret } => write!(f, "{:>12.6} call {text} = {ret}", at.as_secs_f64()),
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

/// The trace of a run so far.
#[derive(Default)]
pub(super) struct Trace {
    pub entries: Vec<TraceEntry>,
}

impl Trace {
    pub fn push(&mut self, e: TraceEntry) {
        self.entries.push(e);
    }

    /// A segment the stack sent at `at`; returns its rendering.
    pub fn out(&mut self, isns: Isns, at: Duration, p: &IpPacket) -> String {
        let text = render(isns, &p.tcp, Dir::Out);
        self.entries.push(TraceEntry::Packet {
            at,
            dir: Dir::Out,
            text: text.clone(),
            bytes: p.emit().unwrap_or_default(),
        });
        text
    }

    /// A call that returned `ret` at `at`.
    pub fn call(&mut self, at: Duration, text: &str, ret: String) {
        self.entries.push(TraceEntry::Call { at, text: text.to_string(), ret });
    }
}
