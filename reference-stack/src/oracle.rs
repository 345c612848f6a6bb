//! Oracles: what must hold whatever the input. The fuzzer checks every case
//! with them, and the harness's reference target checks every script step,
//! so a finding replays as a failing script.
//!
//! - [`ALLOWED_TRANSITIONS`]: the state changes RFC 9293 allows (Figure 5 and
//!   3.10), kept as data.
//! - [`Oracle`]: invariants after each step, and rules on every emitted
//!   segment: it parses back; it never acknowledges data the peer never sent;
//!   it never answers a RST with a RST; it lies below SND.NXT; the right edge of the advertised window
//!   never moves left (SHLD-14); a step does not emit without bound (livelock).
//! - [`liveness`]: what must happen within a bound of time (an ACK, a
//!   retransmission, a zero-window probe, the end of TIME-WAIT, a keep-alive
//!   that gives up only on silence).

pub mod liveness;

use crate::event::{EventKind, FourTuple};
use crate::seq::SeqNumber;
use crate::sorted_map::SortedMap;
use crate::stack::Stack;
use crate::state::State;
use crate::wire::{IpPacket, IpRepr, TcpHeader, TcpRepr};
use crate::Event;

use State::*;

/// Every (from, to) the reference stack may take, with the RFC 9293 rule.
pub const ALLOWED_TRANSITIONS: &[(State, State, &str)] = &[
    (Closed, Listen, "3.10.1 passive OPEN"),
    (Closed, SynSent, "3.10.1 active OPEN"),
    (Listen, Closed, "3.10.4 CLOSE in LISTEN"),
    (Listen, SynReceived, "3.10.7.2 SYN in LISTEN"),
    (SynSent, SynReceived, "3.10.7.3 SYN without ACK (simultaneous open)"),
    (SynSent, Established, "3.10.7.3 SYN,ACK acknowledging our SYN"),
    (SynSent, Closed, "3.10.7.3 RST with acceptable ACK; 3.10.4 CLOSE; 3.10.8 timeout"),
    (SynReceived, Established, "3.10.7.4 fifth: ACK of our SYN"),
    (SynReceived, Listen, "3.10.7.4 second/fourth: RST or SYN, passive open"),
    (SynReceived, Closed, "3.10.7.4 second: RST, active open; 3.10.5 ABORT; 3.10.8 timeout"),
    (SynReceived, FinWait1, "3.10.4 CLOSE in SYN-RECEIVED"),
    (SynReceived, CloseWait, "3.10.7.4 eighth: FIN"),
    (Established, FinWait1, "3.10.4 CLOSE"),
    (Established, CloseWait, "3.10.7.4 eighth: FIN"),
    (Established, Closed, "3.10.7.4 second: RST; 3.10.5 ABORT; 3.10.8 timeout; SHLD-3"),
    (FinWait1, FinWait2, "3.10.7.4 fifth: our FIN acknowledged"),
    (FinWait1, Closing, "3.10.7.4 eighth: FIN, ours not acknowledged"),
    (FinWait1, TimeWait, "3.10.7.4 eighth: FIN, ours acknowledged"),
    (FinWait1, Closed, "RST; ABORT; timeout; SHLD-3"),
    (FinWait2, TimeWait, "3.10.7.4 eighth: FIN"),
    (FinWait2, Closed, "RST; ABORT; timeout; SHLD-3; orphan FIN-WAIT-2 timer (linux profile)"),
    (CloseWait, LastAck, "3.10.4 CLOSE"),
    (CloseWait, Closed, "RST; ABORT; timeout"),
    (Closing, TimeWait, "3.10.7.4 fifth: our FIN acknowledged"),
    (Closing, Closed, "RST; ABORT; timeout"),
    (LastAck, Closed, "3.10.7.4 fifth: our FIN acknowledged; RST; timeout"),
    (TimeWait, Closed, "3.10.8 time-wait timeout; RST (RFC 9293, not RFC 1337); MAY-2 reopen"),
];

pub fn transition_allowed(from: State, to: State) -> bool {
    ALLOWED_TRANSITIONS.iter().any(|(f, t, _)| *f == from && *t == to)
}

/// More segments than this from one step is a livelock.
pub const MAX_SEGMENTS_PER_STEP: usize = 20_000;

/// More timer firings than this without the clock moving (each deadline
/// handled is still due, or due again, at the same instant) is a livelock.
pub const MAX_TIMERS_AT_ONE_INSTANT: usize = 10_000;

/// Fires timers the way a replay must: each due timer at its own deadline,
/// never late, up to `until`. The fuzzer's time steps and the engine's
/// reference target both drive the clock with it, so a case and its script
/// see the same timers; a deadline still due after
/// [`MAX_TIMERS_AT_ONE_INSTANT`] firings without the clock moving is a
/// [`Violation::TimerLivelock`].
pub struct TimerSteps {
    until: crate::Instant,
    stuck: usize,
}

impl TimerSteps {
    pub fn new(until: crate::Instant) -> TimerSteps {
        TimerSteps { until, stuck: 0 }
    }

    /// When to call `Stack::handle_timeout` next (the earliest deadline, or
    /// `now` for one already due), or `None` when nothing is due by `until`.
    pub fn next(&mut self, stack: &Stack, now: crate::Instant) -> Result<Option<crate::Instant>, Violation> {
        let Some(t) = stack.poll_timeout().filter(|t| *t <= self.until) else { return Ok(None) };
        if t > now {
            self.stuck = 0;
            return Ok(Some(t));
        }
        self.stuck += 1;
        if self.stuck > MAX_TIMERS_AT_ONE_INSTANT {
            return Err(Violation::TimerLivelock { fired: self.stuck, at_micros: now.total_micros() });
        }
        Ok(Some(now))
    }
}

/// What an oracle saw.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Violation {
    Invariant(String),
    Transition {
        from: State,
        to: State,
    },
    /// A segment the stack emitted breaks a rule: which one, and the segment.
    Emitted {
        rule: &'static str,
        segment: String,
    },
    Livelock {
        segments: usize,
    },
    /// `Stack::poll_timeout` kept giving a deadline that had passed:
    /// handling it did not move it (see [`MAX_TIMERS_AT_ONE_INSTANT`]).
    TimerLivelock {
        fired: usize,
        at_micros: u64,
    },
    /// Something owed was not done in time ([`liveness`]): which rule, and
    /// the connection with its figures.
    Liveness {
        rule: &'static str,
        detail: String,
    },
}

impl Violation {
    /// The kind of oracle, for grouping findings.
    pub fn kind(&self) -> &'static str {
        match self {
            Violation::Invariant(_) => "invariant",
            Violation::Transition { .. } => "transition",
            Violation::Emitted { .. } => "emitted-segment",
            Violation::Livelock { .. } | Violation::TimerLivelock { .. } => "livelock",
            Violation::Liveness { .. } => "liveness",
        }
    }

    /// What identifies the finding for deduplication (kind plus where).
    pub fn location(&self) -> String {
        match self {
            // The invariant's words without the connection and the numbers:
            // "SND.UNA > SND.NXT" whichever ports or values showed it.
            Violation::Invariant(s) => {
                let what = s.split_once("violated: ").map_or(s.as_str(), |(_, w)| w);
                what.split_whitespace()
                    .filter(|w| {
                        let core = w.trim_matches(|c: char| !c.is_ascii_alphanumeric());
                        core.is_empty() || !core.chars().all(|c| c.is_ascii_digit() || c == '.')
                    })
                    .take(6)
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            Violation::Transition { from, to } => format!("{from}->{to}"),
            Violation::Emitted { rule, .. } => (*rule).to_string(),
            Violation::Livelock { .. } => "livelock".into(),
            Violation::TimerLivelock { .. } => "timer".into(),
            Violation::Liveness { rule, .. } => (*rule).to_string(),
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::Invariant(s) => write!(f, "{s}"),
            Violation::Transition { from, to } => write!(f, "transition {from} -> {to} is not allowed by RFC 9293"),
            Violation::Emitted { rule, segment } => write!(f, "emitted segment breaks \"{rule}\": {segment}"),
            Violation::Livelock { segments } => write!(f, "livelock: {segments} segments from one step"),
            Violation::TimerLivelock { fired, at_micros } => {
                write!(f, "livelock: a timer fired {fired} times at {at_micros} µs without its deadline moving")
            }
            Violation::Liveness { rule, detail } => write!(f, "liveness \"{rule}\": {detail}"),
        }
    }
}

impl PeerView {
    fn push_end(&mut self, end: SeqNumber) {
        if self.ends.len() == ENDS_KEPT {
            self.ends.pop_front();
            self.furthest = None;
        }
        self.ends.push_back(end);
        if let Some((irs, max)) = &mut self.furthest {
            let d = end.wrapping_since(*irs);
            if d < (1 << 31) {
                *max = Some(max.map_or(d, |m| m.max(d)));
            }
        }
    }

    /// The largest distance from `irs` to an end the peer sent, among those
    /// within 2^31 of it.
    fn furthest_from(&mut self, irs: SeqNumber) -> Option<u32> {
        match self.furthest {
            Some((i, max)) if i == irs => max,
            _ => {
                let max = self.ends.iter().map(|e| e.wrapping_since(irs)).filter(|d| *d < (1 << 31)).max();
                self.furthest = Some((irs, max));
                max
            }
        }
    }
}

#[derive(Clone, Debug, Default)]
struct PeerView {
    /// SEG.SEQ + SEG.LEN of the segments the peer sent (the most recent ones).
    ends: std::collections::VecDeque<SeqNumber>,
    /// The furthest of `ends` counted from an IRS, as (IRS, distance),
    /// brought up to date as ends are added: the ACK rule reads it for every
    /// segment the stack sends, which would otherwise walk all the ends.
    furthest: Option<(SeqNumber, Option<u32>)>,
    /// The right edge of the last window the stack advertised, and the
    /// connection (incarnation) it belongs to.
    right_edge: Option<(u64, SeqNumber)>,
}

/// How many recent peer segment ends are remembered per connection.
const ENDS_KEPT: usize = 100_000;

/// Checks a running stack. Feed it every injected segment, every emitted
/// datagram and every event, and call [`Oracle::end_step`] after each step.
#[derive(Clone, Debug, Default)]
pub struct Oracle {
    peers: SortedMap<FourTuple, PeerView>,
    injected_rst: bool,
    emitted_this_step: usize,
    /// RCV.NXT of the connection a segment was injected into, just before it.
    rcv_nxt_before: SortedMap<FourTuple, SeqNumber>,
    /// Whether the stack applies RFC 5961 (exact-RST rule).
    rfc5961: bool,
    liveness: liveness::Liveness,
    liveness_off: bool,
}

fn unparsable(e: crate::wire::WireError) -> Violation {
    Violation::Emitted {
        rule: "emitted segments parse, their header padding zero (MUST-2, MUST-69)",
        segment: e.to_string(),
    }
}

/// An emitted datagram that parsed, as a finding shows it.
fn describe(bytes: &[u8]) -> String {
    IpPacket::parse_sent(bytes).map_or_else(|e| e.to_string(), |p| p.tcp.to_string())
}

impl Oracle {
    pub fn new() -> Oracle {
        Oracle { rfc5961: true, ..Oracle::default() }
    }

    /// For a stack whose profile has `rfc5961` off.
    pub fn without_rfc5961() -> Oracle {
        Oracle::default()
    }

    /// Without the [`liveness`] rules: for a driver that moves time past
    /// deadlines without firing each timer at its own (they would blame the
    /// stack for the driver's lateness).
    pub fn without_liveness(mut self) -> Oracle {
        self.liveness_off = true;
        self
    }

    /// Call before injecting a segment: what the stack knew of the connection.
    pub fn before_inject(&mut self, tuple: FourTuple, status: Option<&crate::ConnView>) {
        match status {
            Some(st) => self.rcv_nxt_before.insert(tuple, st.rcv_nxt),
            None => self.rcv_nxt_before.remove(&tuple),
        };
    }

    /// A segment the peer sent to the stack (parsed, addressed to it).
    pub fn on_inject(&mut self, ip_src: std::net::IpAddr, ip_dst: std::net::IpAddr, seg: &TcpRepr) {
        let t = FourTuple {
            local: std::net::SocketAddr::new(ip_dst, seg.dst_port),
            remote: std::net::SocketAddr::new(ip_src, seg.src_port),
        };
        let v = self.peers.get_or_insert_default(t);
        v.push_end(seg.seq + seg.seg_len());
        self.injected_rst |= seg.flags.rst();
        self.liveness.on_inject(t, seg.flags.fin());
    }

    /// A datagram the stack emitted, with the STATUS of the connection that
    /// queued it (from [`Stack::poll_transmit_from`]). Returns the parsed
    /// datagram so the caller need not parse it again.
    pub fn on_emit(&mut self, bytes: &[u8], origin: Option<&crate::ConnView>) -> Result<IpPacket, Violation> {
        self.count_emitted()?;
        let p = IpPacket::parse_sent(bytes).map_err(unparsable)?;
        self.check_emitted(bytes, p.ip, &TcpHeader::of(&p.tcp), origin)?;
        Ok(p)
    }

    /// [`Oracle::on_emit`] for a caller that needs only the header (the
    /// fuzzer): the same checks on the same bytes, nothing allocated unless
    /// a rule is broken.
    pub fn on_emit_header(
        &mut self,
        bytes: &[u8],
        origin: Option<&crate::ConnView>,
    ) -> Result<(IpRepr, TcpHeader), Violation> {
        self.count_emitted()?;
        let (ip, tcp) = IpPacket::parse_sent_header(bytes).map_err(unparsable)?;
        self.check_emitted(bytes, ip, &tcp, origin)?;
        Ok((ip, tcp))
    }

    fn count_emitted(&mut self) -> Result<(), Violation> {
        self.emitted_this_step += 1;
        if self.emitted_this_step > MAX_SEGMENTS_PER_STEP {
            return Err(Violation::Livelock { segments: self.emitted_this_step });
        }
        Ok(())
    }

    /// The rules on an emitted segment that parsed. `bytes` is only read
    /// again to describe a segment that breaks one.
    fn check_emitted(
        &mut self,
        bytes: &[u8],
        ip: IpRepr,
        seg: &TcpHeader,
        origin: Option<&crate::ConnView>,
    ) -> Result<(), Violation> {
        let broken = |rule: &'static str| Violation::Emitted { rule, segment: describe(bytes) };
        if seg.flags.rst() && self.injected_rst {
            return Err(broken("a RST is never answered with a RST"));
        }
        let t = FourTuple {
            local: std::net::SocketAddr::new(ip.src, seg.src_port),
            remote: std::net::SocketAddr::new(ip.dst, seg.dst_port),
        };
        let status = origin;
        if let Some(st) = status {
            self.liveness.on_emit(st.id, st.snd_una, seg);
        }
        // Everything sent lies below SND.NXT (RFC 9293 3.3.1: SND.NXT is the
        // next sequence number to be sent): otherwise the peer's ACK of it
        // would be "an ACK of something not yet sent" and dropped. Not for a
        // RST, whose sequence number may be the peer's SEG.ACK (3.10.7).
        if let (false, Some(st)) = (seg.flags.rst(), status) {
            if seg.seq + seg.seg_len() > st.snd_nxt {
                return Err(broken("nothing is sent beyond SND.NXT"));
            }
        }
        let v = self.peers.get_or_insert_default(t);
        // Only for a connection that exists: its IRS is the stack's own.
        if let (true, false, Some(st)) = (seg.flags.ack(), seg.flags.rst(), status) {
            if st.state != State::SynSent {
                // The ACK never goes past anything the peer has sent, counted
                // in this connection's own sequence space.
                let irs = st.irs;
                let max = v.furthest_from(irs);
                if max.is_none_or(|m| seg.ack.wrapping_since(irs) > m) {
                    return Err(broken("no ACK of data never sent"));
                }
            }
            // SHLD-14: the right edge never moves left (not for SYNs, whose
            // window is unscaled), but by less than one unit of the window
            // scale, which rounding may cost (RFC 7323 2.4, Appendix F).
            if !seg.flags.syn() {
                let edge = seg.ack + (u32::from(seg.window) << st.rcv_wscale);
                let slack = (1u32 << st.rcv_wscale) - 1;
                if let Some((id, prev)) = v.right_edge {
                    if id == st.id && edge + slack < prev {
                        return Err(broken("the window never shrinks from the right (SHLD-14)"));
                    }
                }
                let keep = match v.right_edge {
                    Some((id, prev)) if id == st.id => prev.max(edge),
                    _ => edge,
                };
                v.right_edge = Some((st.id, keep));
            }
        }
        Ok(())
    }

    /// Events the stack logged during the step.
    pub fn on_events(&mut self, events: &[Event]) -> Result<(), Violation> {
        self.liveness.on_events(events);
        for e in events {
            if let EventKind::Transition { from, to, cause } = e.kind {
                if !transition_allowed(from, to) {
                    return Err(Violation::Transition { from, to });
                }
                // RFC 5961 3.2 (RFC 9293 3.10.7.4): only a RST exactly at RCV.NXT resets a
                // synchronized connection (SYN-SENT checks the ACK instead).
                if let (true, crate::event::Cause::Segment(seg), Some(conn)) = (self.rfc5961, cause, e.conn) {
                    let reset =
                        seg.flags.rst() && from != State::SynSent && matches!(to, State::Closed | State::Listen);
                    if let (true, Some(nxt)) = (reset, self.rcv_nxt_before.get(&conn)) {
                        if seg.seq != *nxt {
                            return Err(Violation::Emitted {
                                rule: "RFC 5961 3.2: only a RST at RCV.NXT resets",
                                segment: format!("{seg} reset {from} with RCV.NXT {nxt}"),
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Ends a step at `now` (the instant everything since the last call
    /// happened): the stack's invariants must hold, and what it owed by now
    /// must have been done ([`liveness`]).
    pub fn end_step(&mut self, stack: &Stack, now: crate::Instant) -> Result<(), Violation> {
        self.injected_rst = false;
        self.emitted_this_step = 0;
        stack.check_invariants().map_err(|v| Violation::Invariant(v.to_string()))?;
        if self.liveness_off {
            return Ok(());
        }
        self.liveness.end_step(stack, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invariant_findings_deduplicate_by_what_not_where() {
        let a = Violation::Invariant(
            "[198.51.100.1:47176 <-> 192.0.2.1:40000] invariant violated: SND.UNA 3149218286 > SND.NXT 3149218111"
                .into(),
        );
        let b = Violation::Invariant(
            "[198.51.100.1:8080 <-> 192.0.2.1:40000] invariant violated: SND.UNA 33816576 > SND.NXT 3204508487".into(),
        );
        assert_eq!(a.location(), "SND.UNA > SND.NXT");
        assert_eq!(a.location(), b.location());
        let c = Violation::Invariant(
            "[x] invariant violated: FIN-WAIT-2 with our FIN not acknowledged (SND.UNA 3149218110, SND.NXT 3149218110)"
                .into(),
        );
        assert_eq!(c.location(), "FIN-WAIT-2 with our FIN not acknowledged");
    }

    /// The kept maximum is the walk's answer, whatever the order of ends
    /// and IRSs asked for.
    #[test]
    fn the_furthest_end_is_kept_as_ends_arrive() {
        let mut v = PeerView::default();
        let mut x = 7u32;
        for i in 0..2000u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            if x % 3 == 0 {
                v.push_end(SeqNumber(x.wrapping_mul(7)));
            } else {
                let irs = SeqNumber([0, 1 << 31, x, 5][(i % 4) as usize]);
                let walk = v.ends.iter().map(|e| e.wrapping_since(irs)).filter(|d| *d < (1 << 31)).max();
                assert_eq!(v.furthest_from(irs), walk);
            }
        }
    }

    #[test]
    fn the_table_covers_every_state() {
        for s in State::ALL {
            assert!(ALLOWED_TRANSITIONS.iter().any(|(f, t, _)| *f == s || *t == s), "{s}");
        }
        assert!(transition_allowed(TimeWait, Closed));
        assert!(!transition_allowed(TimeWait, Established));
        assert!(!transition_allowed(Closed, Established));
    }
}
