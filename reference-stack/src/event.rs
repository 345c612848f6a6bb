//! The event log: every state transition, with what caused it, and every
//! segment the stack refused. The engine prints it; the fuzzer's oracles read it.

use crate::seq::SeqNumber;
use crate::state::State;
use crate::time::Instant;
use crate::wire::{TcpFlags, TcpRepr, WireError};
use core::fmt;
use std::net::SocketAddr;

/// A connection's identity: (local, remote) socket addresses.
///
/// Ordered as the derived order of `(local, remote)` would be (IPv4 before
/// IPv6, then address, then port), but by integer keys: maps keyed by
/// 4-tuple are looked up on every segment, and `SocketAddr`'s own `cmp`
/// compares addresses octet by octet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FourTuple {
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// `SocketAddr`'s order as integers: (family, address, port).
fn addr_key(a: &SocketAddr) -> (bool, u128, u16) {
    match a {
        SocketAddr::V4(v4) => (false, u128::from(u32::from(*v4.ip())), v4.port()),
        SocketAddr::V6(v6) => (true, u128::from(*v6.ip()), v6.port()),
    }
}

/// An IPv4 address and port as one integer in `SocketAddr`'s order.
fn v4_key(a: &SocketAddr) -> Option<u64> {
    match a {
        SocketAddr::V4(v4) => Some(u64::from(u32::from(*v4.ip())) << 16 | u64::from(v4.port())),
        SocketAddr::V6(_) => None,
    }
}

impl Ord for FourTuple {
    #[inline]
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        // IPv4 on both sides of both tuples (the common case): two integers.
        if let (Some(a), Some(b), Some(c), Some(d)) =
            (v4_key(&self.local), v4_key(&self.remote), v4_key(&other.local), v4_key(&other.remote))
        {
            return (a, b).cmp(&(c, d));
        }
        addr_key(&self.local)
            .cmp(&addr_key(&other.local))
            .then_with(|| addr_key(&self.remote).cmp(&addr_key(&other.remote)))
    }
}

impl PartialOrd for FourTuple {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for FourTuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} <-> {}", self.local, self.remote)
    }
}

/// The timers of one connection (RFC 9293 3.8, 3.10.8; RFC 1122 4.2.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKind {
    Retransmission,
    Persist,
    DelayedAck,
    KeepAlive,
    TimeWait,
    FinWait2,
    User,
}

impl TimerKind {
    pub const ALL: [TimerKind; 7] = [
        TimerKind::Retransmission,
        TimerKind::Persist,
        TimerKind::DelayedAck,
        TimerKind::KeepAlive,
        TimerKind::TimeWait,
        TimerKind::FinWait2,
        TimerKind::User,
    ];
}

/// A socket call, as a cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    Connect,
    Listen,
    Send,
    Recv,
    Close,
    Shutdown,
    Abort,
}

/// What a segment looked like, for the log (absolute sequence numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SegmentSummary {
    pub flags: TcpFlags,
    pub seq: SeqNumber,
    pub ack: SeqNumber,
    pub len: u32,
    pub window: u16,
}

impl SegmentSummary {
    pub fn of(seg: &TcpRepr) -> Self {
        SegmentSummary {
            flags: seg.flags,
            seq: seg.seq,
            ack: seg.ack,
            len: seg.payload.len() as u32,
            window: seg.window,
        }
    }
}

impl fmt::Display for SegmentSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}:{}({})", self.flags, self.seq, self.seq + self.len, self.len)?;
        if self.flags.ack() {
            write!(f, " ack {}", self.ack)?;
        }
        write!(f, " win {}", self.window)
    }
}

/// Why a state changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    Segment(SegmentSummary),
    Call(Call),
    Timer(TimerKind),
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Segment(s) => write!(f, "segment {s}"),
            Cause::Call(c) => write!(f, "call {c:?}"),
            Cause::Timer(t) => write!(f, "timer {t:?}"),
        }
    }
}

/// Why an arriving packet or segment was not processed further.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// The bytes do not parse (MUST-3, MUST-7).
    Malformed(WireError),
    /// Not addressed to one of the stack's addresses, or from/to a broadcast,
    /// multicast or unspecified address (MUST-57, MUST-63).
    NotForUs,
    /// RFC 9293 3.10.7.4 step 1: failed the acceptability test.
    Unacceptable,
    /// RFC 7323 5.3: PAWS rejected an old timestamp.
    Paws,
    /// RFC 7323 3.2: no timestamp on a connection that negotiated them.
    MissingTimestamp,
    /// RFC 5961 3.2: in-window RST that is not at RCV.NXT (challenge ACK sent).
    RstChallenged,
    /// RFC 5961 4.2: SYN in a synchronized state (challenge ACK sent).
    SynChallenged,
    /// RFC 5961 5.2: ACK outside [SND.UNA - MAX.SND.WND, SND.NXT].
    AckOutOfRange,
    /// A segment the state's rules say to drop (e.g. no ACK bit, RST to LISTEN).
    Ignored,
    /// The listen queue is full.
    ListenQueueFull,
    /// The out-of-order queue has too many holes.
    ReassemblyFull,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::Malformed(e) => write!(f, "malformed: {e}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Something the stack tells the application or the IP layer without a state change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Notice {
    /// MUST-20 / SHLD-9: R1 retransmissions of the same data reached: negative
    /// advice to IP, and the application is told the path may be failing.
    R1Reached { retransmissions: u32 },
    /// RFC 5681 3.2: fast retransmit after this many duplicate ACKs.
    FastRetransmit { dup_acks: u32 },
    /// RFC 6191 / MAY-2: a SYN reopened a connection in TIME-WAIT.
    TimeWaitReopened,
    /// RFC 4987 3.6 (the `linux` profile's queues): a SYN past the SYN
    /// queue was answered with a SYN cookie and nothing kept.
    SynCookieSent,
    /// An ACK to a listener carried a valid cookie: the connection was made
    /// from it (or, with the accept queue full, dropped).
    SynCookieValid,
    /// An ACK to a listener that had sent cookies did not carry one of
    /// them (it is answered with a RST, as any ACK to LISTEN).
    SynCookieInvalid,
    /// A handshake completed (or a cookie came back) while the accept queue
    /// was full: `reset` when `tcp_abort_on_overflow` answered it with a RST.
    AcceptQueueOverflow { reset: bool },
    /// `tcp_tw_reuse`: an outgoing connection took over a 4-tuple in
    /// TIME-WAIT.
    TimeWaitReused,
    /// RFC 9293 3.10.7.4 (fifth): an acceptable ACK whose window differs
    /// from SND.WND left it as it was, the segment being older than the one
    /// that last set it (SND.WL1, SND.WL2). Stacks that take the window of
    /// any acceptable ACK (smoltcp) part from this one here.
    WindowKept,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    Transition { from: State, to: State, cause: Cause },
    Dropped { reason: DropReason, segment: Option<SegmentSummary> },
    Notice(Notice),
}

/// One entry of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub at: Instant,
    /// `None` for a packet that matched no connection or did not parse.
    pub conn: Option<FourTuple>,
    pub kind: EventKind,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.at)?;
        if let Some(c) = &self.conn {
            write!(f, "[{c}] ")?;
        }
        match &self.kind {
            EventKind::Transition { from, to, cause } => write!(f, "{from} -> {to} on {cause}"),
            EventKind::Notice(n) => write!(f, "notice {n:?}"),
            EventKind::Dropped { reason, segment } => {
                write!(f, "dropped ({reason})")?;
                if let Some(s) = segment {
                    write!(f, ": {s}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FourTuple;
    use std::net::SocketAddr;

    /// The hand-written order is the one `(local, remote)` derives.
    #[test]
    fn four_tuples_order_as_socket_address_pairs() {
        let addrs: Vec<SocketAddr> = [
            "192.0.2.1:40000",
            "192.0.2.1:1",
            "192.0.2.2:1",
            "198.51.100.1:8080",
            "10.0.0.1:65535",
            "255.255.255.255:0",
            "[2001:db8::1]:80",
            "[2001:db8::1]:79",
            "[2001:db8:1::1]:80",
            "[::1]:1",
            "[ffff::]:2",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        for a in &addrs {
            for b in &addrs {
                for c in &addrs {
                    for d in &addrs {
                        let (x, y) = (FourTuple { local: *a, remote: *b }, FourTuple { local: *c, remote: *d });
                        assert_eq!(x.cmp(&y), (a, b).cmp(&(c, d)), "{x} vs {y}");
                    }
                }
            }
        }
    }
}
