//! The trace: every packet in and out and every call, with its time, in the
//! script's notation. Reports print it; snapshots keep it.

use super::Run;
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

impl Run<'_> {
    /// A segment as the trace shows it: sequence numbers relative to the
    /// sender's ISN, acknowledgments (and SACK blocks) to the receiver's.
    pub(super) fn render(&self, t: &TcpRepr, dir: Dir) -> String {
        let (stack, script) = (self.num.stack_isn.unwrap_or(0), self.num.remote_isn);
        match dir {
            Dir::In => segment_text(t, script, stack, Style::Trace),
            Dir::Out => segment_text(t, stack, script, Style::Trace),
        }
    }

    /// Puts a segment the stack sent into the trace; returns its rendering.
    pub(super) fn trace_out(&mut self, at: Duration, p: &IpPacket) -> String {
        let text = self.render(&p.tcp, Dir::Out);
        self.trace.push(TraceEntry::Packet {
            at,
            dir: Dir::Out,
            text: text.clone(),
            bytes: p.emit().unwrap_or_default(),
        });
        text
    }

    pub(super) fn trace_call(&mut self, at: Duration, text: &str, ret: String) {
        self.trace.push(TraceEntry::Call { at, text: text.to_string(), ret });
    }
}
