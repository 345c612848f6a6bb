//! The step loop: runs a script's steps on a target, one by one, and turns
//! a step's error into a failure at that step, in one place ([`Run::stop_at`]).
//! What each step does is in [`super::steps`] and [`super::calls`].

use super::numbering::Numbering;
use super::outcome::{Failure, FieldDiff, Outcome, RunOptions, RunReport};
use super::timing::Timing;
use super::trace::Trace;
use crate::script::call::CallSpec;
use crate::script::{Outbound, Script, Step, TargetKind};
use crate::target::{Target, TargetCall, TargetError};
use reference_stack::State;
use std::time::Duration;

/// A blocking call that has not returned yet.
pub(super) struct Pending {
    pub step: usize,
    pub call: TargetCall,
    pub spec: CallSpec,
    pub text: String,
    /// When it was made.
    pub called: Duration,
    /// When it must return.
    pub lo: Duration,
    pub hi: Duration,
}

/// An `out` step with `within:`, awaited while the steps after it run.
pub(super) struct Expected {
    pub step: usize,
    pub spec: crate::script::packet::PacketSpec,
    /// The previous step's time, the bound, and the deadline with the
    /// tolerance.
    pub from: Duration,
    pub within: Duration,
    pub by: Duration,
}

/// What stopped a step, before the step loop says at which step.
pub(super) enum StepError {
    /// The stack did not do what the script says: at the current step, or
    /// at `step` (a blocked call's, judged later).
    Mismatch {
        step: Option<usize>,
        message: String,
        diffs: Vec<FieldDiff>,
    },
    Target(TargetError),
}

impl From<TargetError> for StepError {
    fn from(e: TargetError) -> Self {
        StepError::Target(e)
    }
}

/// A mismatch at the current step.
pub(super) fn mismatch(message: String, diffs: Vec<FieldDiff>) -> StepError {
    StepError::Mismatch { step: None, message, diffs }
}

/// Why a run stopped.
enum Stop {
    Fail(Box<Failure>),
    Target(TargetError),
}

pub(super) struct Run<'a> {
    pub script: &'a Script,
    pub target: &'a mut dyn Target,
    pub kind: TargetKind,
    pub time: Timing,
    pub num: Numbering,
    pub trace: Trace,
    /// A blocking call that has not returned yet.
    pub pending: Option<Pending>,
    /// `within` packets not seen yet, oldest first.
    pub expected: Vec<Expected>,
    /// The last fd the script used, for the state in failure reports.
    pub last_fd: Option<i32>,
    pub allow_shell: bool,
    /// When each step started (target time), for the span a failure covers.
    pub starts: Vec<Duration>,
    /// The step being run (or the last one, once they are all done).
    pub current: usize,
    /// Steps the engine reached late on a real-time target: (due, reached).
    pub late: Vec<(Duration, Duration)>,
    /// Marks asked for ([`RunOptions::marks`]): whether the target logs
    /// them itself, and the state seen after the last step when it does not.
    pub marks: Option<MarkLog>,
    /// Packets the stack sent that a `flood` step took from the target but
    /// were not answers to the flood: the steps after it see them first.
    pub held: std::collections::VecDeque<(Duration, reference_stack::wire::IpPacket)>,
    /// The script's other connections' numbers (`conn:` steps), by name.
    pub conns: std::collections::BTreeMap<String, super::numbering::Numbering>,
    /// The connection a failed `conn:` step named, for the report.
    pub failed_conn: Option<String>,
}

pub(super) struct MarkLog {
    logged: bool,
    last: Option<State>,
    /// Taken from the target and not yet in the trace: later than the
    /// packet being recorded.
    pending: std::collections::VecDeque<(Duration, super::trace::Mark)>,
    /// A sampled connection was seen (in a state other than CLOSED or LISTEN).
    conn_seen: bool,
}

/// Lateness below this is the wake-up path's, not worth recording.
pub(super) const LATE_MIN: Duration = Duration::from_millis(1);

/// Runs `script` on `target` to the first failure or the end.
pub fn run(script: &Script, target: &mut dyn Target) -> RunReport {
    run_with(script, target, RunOptions::default())
}

pub fn run_with(script: &Script, target: &mut dyn Target, opts: RunOptions) -> RunReport {
    let kind = target.kind();
    let time = Timing::new(script, target.clock(), opts.tolerance_scale);
    let time_real = time.real;
    let mut r = Run {
        script,
        target,
        kind,
        time,
        num: Numbering::new(script),
        trace: Trace::default(),
        pending: None,
        expected: Vec::new(),
        last_fd: None,
        allow_shell: opts.allow_shell,
        // Only a real-time target's failures ask when steps started.
        starts: if time_real { vec![Duration::ZERO; script.steps.len()] } else { Vec::new() },
        current: 0,
        late: Vec::new(),
        marks: None,
        held: std::collections::VecDeque::new(),
        conns: std::collections::BTreeMap::new(),
        failed_conn: None,
    };
    if opts.marks {
        let logged = r.target.log_marks();
        r.marks = Some(MarkLog { logged, last: None, pending: Default::default(), conn_seen: false });
        r.note_marks();
    }
    let outcome = match r.all_steps() {
        Ok(()) => Outcome::Passed,
        Err(Stop::Fail(mut f)) => {
            f.state = r.describe_state();
            f.descheduled = r.descheduled(f.step);
            Outcome::Failed(*f)
        }
        Err(Stop::Target(e)) => Outcome::Error(e.to_string()),
    };
    r.note_marks();
    RunReport { outcome, script_time: r.target.now(), trace: r.trace.finish() }
}

impl Run<'_> {
    fn all_steps(&mut self) -> Result<(), Stop> {
        for (i, step) in self.script.steps.iter().enumerate() {
            self.current = i;
            self.trace.step = Some(i);
            if let Some(s) = self.starts.get_mut(i) {
                *s = self.target.now();
            }
            if !self.runs(step) {
                continue;
            }
            let r = self.step(i, step).and_then(|()| self.check_pending());
            self.time.step_end = self.target.now();
            self.note_marks();
            r.map_err(|e| self.stop_at(i, e, true))?;
        }
        self.finish()
    }

    /// Whether `step` runs on this target. A third-party stack follows the
    /// reference's `only: reference` steps, as it is held to the
    /// reference's packet in a per-target `out` map: they are the RFC's
    /// behaviour.
    pub(super) fn runs(&self, step: &Step) -> bool {
        step.only.is_none_or(|o| o == self.kind || (o == TargetKind::Reference && self.kind.third_party()))
    }

    /// The one place a step's error becomes a failure at a step (step `i`,
    /// or the one the mismatch names). With `oracle`, an oracle of the
    /// target that failed is a failure at step `i` too; otherwise it ends
    /// the run as the target's error.
    fn stop_at(&self, i: usize, e: StepError, oracle: bool) -> Stop {
        let fail = |j: usize, message: String, diffs: Vec<FieldDiff>| {
            let step = &self.script.steps[j];
            Stop::Fail(Box::new(Failure {
                step: Some(j),
                pos: Some(step.pos),
                step_text: step.text.clone(),
                message,
                diffs,
                state: None,
                descheduled: None,
            }))
        };
        match e {
            StepError::Mismatch { step, message, diffs } => fail(step.unwrap_or(i), message, diffs),
            StepError::Target(TargetError::Violation(m)) if oracle => {
                // (An in-process adapter's message names its stack.)
                let m = if self.kind == TargetKind::Reference {
                    format!("the reference stack broke an oracle: {m}")
                } else {
                    m
                };
                fail(i, m, vec![])
            }
            // What the target could not do is said at the step that asked
            // it (`file:line:column`, as a failure is), in the variant's words.
            StepError::Target(e) => {
                let s = &self.script.steps[i];
                let at =
                    format!("{}:{}:{} (`{}`)", self.script.path.display(), s.pos.line, s.pos.column, s.text.trim());
                Stop::Target(match e {
                    TargetError::Dut(m) => TargetError::Dut(format!("{at}: {m}")),
                    TargetError::Setup(m) => TargetError::Setup(format!("{m}, at {at}")),
                    TargetError::Unsupported(m) => TargetError::Unsupported(format!("{m}, at {at}")),
                    TargetError::Violation(m) => TargetError::Violation(format!("{at}: {m}")),
                })
            }
        }
    }

    /// After the last step: a call still blocked gets until its return time
    /// (as in packetdrill), with nothing else sent meanwhile; what the last
    /// step made the stack send is recorded (`outbound: ignore`) and, on the
    /// reference target, put through the oracles like everything before it.
    fn finish(&mut self) -> Result<(), Stop> {
        if let Some((step, called, hi)) = self.pending.as_ref().map(|p| (p.step, p.called, p.hi)) {
            let until = hi + self.time.late_tol(hi.saturating_sub(called));
            self.settle_pending(until).map_err(|e| self.stop_at(step, e, false))?;
            let now = self.target.now();
            self.no_packets_until(now).map_err(|e| self.stop_at(step, e, false))?;
        }
        if let Some(p) = &self.pending {
            let e = mismatch(format!("`{}` never returned", p.text), vec![]);
            return Err(self.stop_at(p.step, e, false));
        }
        // `within` packets still awaited get until their deadlines; what
        // else is sent by then is unexpected, as before any step.
        if let Some(by) = self.expected.iter().map(|e| e.by).max() {
            let step = self.expected[0].step;
            self.no_packets_until(by + Duration::from_micros(1)).map_err(|e| self.stop_at(step, e, false))?;
        }
        let last = self.script.steps.iter().enumerate().rev().find(|(_, s)| self.runs(s));
        if let Some((i, _)) = last {
            let now = self.target.now();
            let r = if self.script.outbound == Outbound::Ignore { self.no_packets_until(now) } else { Ok(()) }
                .and_then(|()| self.target.advance(now).map_err(StepError::Target));
            r.map_err(|e| self.stop_at(i, e, true))?;
        }
        Ok(())
    }

    /// How long the harness itself was late or off the CPU while the
    /// failing step ran (from the start of the step before it, whose action
    /// the failing step usually judges, or of the step the failure names),
    /// if that is enough to have spoilt its timing: half the script's fixed
    /// tolerance (at least 1 ms). The engine's own late arrivals at steps
    /// and the target's record (the watchdog's gaps, late wake-ups) are
    /// both asked; a stall they both saw counts once, as the larger.
    fn descheduled(&self, failed: Option<usize>) -> Option<Duration> {
        if !self.time.real {
            return None;
        }
        let first = failed.unwrap_or(self.current).min(self.current).saturating_sub(1);
        let from = self.starts.get(first).copied().unwrap_or_default();
        let to = self.target.now();
        let engine = crate::os::watchdog::covered(self.late.iter().copied(), from, to);
        let d = engine.max(self.target.descheduled(from, to));
        (d >= (self.time.tol(Duration::ZERO) / 2).max(LATE_MIN)).then_some(d)
    }

    /// A segment the stack sent at `at`, into the trace after the marks
    /// logged up to then (the timer that sent it, the state it left).
    pub(super) fn out_entry(&mut self, at: Duration, p: &reference_stack::wire::IpPacket) -> String {
        self.flush_marks(Some(at));
        let ports = self.shows_ports(p.tcp.dst_port);
        self.trace.out(self.num.isns(), at, p, ports)
    }

    /// Whether a segment to or from the script's `port` is shown with its
    /// ports: in a script of several connections, or when the port is not
    /// the connection's (per-packet ports, a flood's).
    pub(super) fn shows_ports(&self, port: u16) -> bool {
        !self.script.connections.is_empty() || port != self.num.remote_port
    }

    /// Puts the marks a logging target has logged into the trace: all of
    /// them, or those up to `upto`. Called before the engine records an
    /// injection, a call or a segment, so each mark lands among them in the
    /// order it happened.
    pub(super) fn flush_marks(&mut self, upto: Option<Duration>) {
        let Some(log) = &mut self.marks else { return };
        if !log.logged {
            return;
        }
        let conn = self.num.conn(self.script);
        log.pending.extend(self.target.take_marks(conn));
        while let Some((at, _)) = log.pending.front() {
            if upto.is_some_and(|u| *at > u) {
                break;
            }
            let Some((at, mark)) = log.pending.pop_front() else { break };
            self.trace.push(super::trace::TraceEntry::Mark { at, mark });
        }
    }

    /// After a step: what the target logged or, for a target that logs
    /// nothing, the connection's state when it changed (asked now, so a
    /// state held only between two steps is not seen).
    fn note_marks(&mut self) {
        let Some(log) = &self.marks else { return };
        if log.logged {
            return self.flush_marks(None);
        }
        let conn = self.num.conn(self.script);
        let Ok(mut now) = self.target.state(None, conn) else { return };
        // No connection yet: the socket the script last used may be its
        // listener. (Once a connection was seen, CLOSED is where it went.)
        let seen = self.marks.as_ref().is_some_and(|l| l.conn_seen);
        if now == State::Closed && !seen {
            if let Some(fd) = self.last_fd {
                if self.target.state(Some(fd), conn).is_ok_and(|s| s == State::Listen) {
                    now = State::Listen;
                }
            }
        }
        let Some(log) = &mut self.marks else { return };
        log.conn_seen |= !matches!(now, State::Closed | State::Listen);
        let from = log.last.replace(now);
        match from {
            Some(from) if from != now => {
                let at = self.target.now();
                self.trace.push(super::trace::TraceEntry::Mark {
                    at,
                    mark: super::trace::Mark::State { from, to: now, cause: None },
                });
            }
            _ => {}
        }
    }

    fn describe_state(&mut self) -> Option<String> {
        // The connection the failed step was about (`conn:`), else the main one.
        let named = self.failed_conn.as_ref().and_then(|n| self.conns.get(n).map(|num| (n, num.conn(self.script))));
        let (prefix, conn) = match named {
            Some((n, c)) => (format!("{n} "), c),
            None => (String::new(), self.num.conn(self.script)),
        };
        let c = self.target.state(None, conn).ok()?;
        let fd = self.last_fd.and_then(|fd| self.target.state(Some(fd), conn).ok().map(|s| format!(", fd {fd}: {s}")));
        Some(format!("{prefix}{} {c}{}", conn, fd.unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    //! The engine's judgement of "before this step" when it reaches a step
    //! late, against a fake target whose clock runs on while the engine is
    //! away (as the kernel's does on a loaded machine).
    use super::*;
    use crate::target::{CallOutcome, Clock, Inject, TargetCall};
    use reference_stack::wire::{IpPacket, IpRepr, TcpFlags, TcpRepr};
    use reference_stack::{FourTuple, SeqNumber, State};
    use std::collections::VecDeque;
    use std::path::Path;

    struct Late {
        now: Duration,
        /// How far past the asked time `advance` comes back, from 0.1 s on
        /// (the engine was away when the step at 0.1 s was due).
        lag: Duration,
        /// Packets the target will send, with their times.
        plan: VecDeque<(Duration, IpPacket)>,
        /// Read, not yet taken.
        sent: VecDeque<(Duration, IpPacket)>,
        /// Answer a SYN with a SYN-ACK, and this ACK with an ACK, at once.
        ack_the_ack: bool,
        /// Answer every call with 0 and send a FIN at once (a shutdown).
        fin_on_call: bool,
        /// The target's timer tick (the Linux kernel's jiffy).
        tick: Duration,
        /// Answers come this long after what they answer (as the kernel's
        /// softirq sends them), not read with it; zero: read with it.
        reply_after: Duration,
        script: Script,
    }

    impl Late {
        fn packet(&self, flags: TcpFlags, seq: u32, ack: u32) -> IpPacket {
            let s = &self.script;
            IpPacket {
                ip: IpRepr::new(s.local, s.remote),
                tcp: TcpRepr {
                    src_port: s.local_port,
                    dst_port: s.remote_port,
                    seq: SeqNumber(seq),
                    ack: SeqNumber(ack),
                    flags,
                    window: 1000,
                    ..TcpRepr::default()
                },
            }
        }
        fn answer(&mut self, reply: Option<IpPacket>) {
            match reply {
                Some(p) if self.reply_after > Duration::ZERO => {
                    let at = self.now + self.reply_after;
                    let k = self.plan.iter().position(|(t, _)| *t > at).unwrap_or(self.plan.len());
                    self.plan.insert(k, (at, p));
                }
                reply => self.sent.extend(reply.map(|p| (self.now, p))),
            }
        }
        /// Like the Linux target: what was sent by now is read, stamped now.
        fn read(&mut self) {
            while self.plan.front().is_some_and(|(at, _)| *at <= self.now) {
                let (_, p) = self.plan.pop_front().expect("front");
                self.sent.push_back((self.now, p));
            }
        }
    }

    impl Target for Late {
        fn kind(&self) -> TargetKind {
            TargetKind::Linux
        }
        fn now(&self) -> Duration {
            self.now
        }
        fn advance(&mut self, t: Duration) -> Result<(), TargetError> {
            let lag = if t >= Duration::from_millis(100) { self.lag } else { Duration::ZERO };
            self.now = self.now.max(t + lag);
            self.read();
            Ok(())
        }
        fn next_packet(&mut self, deadline: Duration) -> Result<Option<(Duration, IpPacket)>, TargetError> {
            loop {
                self.read();
                if self.sent.front().is_some_and(|(at, _)| *at <= deadline) {
                    return Ok(self.sent.pop_front());
                }
                if self.now >= deadline {
                    return Ok(None);
                }
                self.now = self.plan.front().map_or(deadline, |(at, _)| (*at).min(deadline));
            }
        }
        fn clock(&self) -> Clock {
            Clock::Real { slack_percent: 0.0, tick: self.tick }
        }
        fn inject(&mut self, what: Inject<'_>) -> Result<(), TargetError> {
            let Inject::Tcp { pkt, .. } = what else { return Err(TargetError::Unsupported("ICMP".into())) };
            let ack = pkt.tcp.seq.0.wrapping_add(1);
            let reply = if pkt.tcp.flags.syn() {
                Some(self.packet(TcpFlags::SYN | TcpFlags::ACK, 1000, ack))
            } else if self.ack_the_ack {
                Some(self.packet(TcpFlags::ACK, 1001, pkt.tcp.seq.0))
            } else {
                None
            };
            // Read just after the write returned, as the Linux target's
            // inject does.
            self.now += Duration::from_micros(1);
            self.answer(reply);
            Ok(())
        }
        fn call(&mut self, _: &TargetCall) -> Result<CallOutcome, TargetError> {
            if !self.fin_on_call {
                return Err(TargetError::Unsupported("calls".into()));
            }
            self.now += Duration::from_micros(1);
            let fin = self.packet(TcpFlags::FIN | TcpFlags::ACK, 1001, 1);
            self.answer(Some(fin));
            Ok(CallOutcome::Done { ret: crate::target::CallValue::Value(0), out: None })
        }
        fn retry(&mut self, _: &TargetCall) -> Result<CallOutcome, TargetError> {
            Err(TargetError::Unsupported("calls".into()))
        }
        fn next_wakeup(&mut self) -> Option<Duration> {
            None
        }
        fn state(&mut self, _: Option<i32>, _: FourTuple) -> Result<State, TargetError> {
            Err(TargetError::Unsupported("state".into()))
        }
        fn tcp_info(&mut self, _: i32) -> Result<std::collections::BTreeMap<&'static str, i64>, TargetError> {
            Err(TargetError::Unsupported("tcp_info".into()))
        }
    }

    const SCRIPT: &str = r#"
name: late engine
steps:
  - in:  S 0:0(0) win 65535
  - out: S. 0:0(0) ack 1
  - in:  . 1:1(0) ack 1 win 65535
  - {at: +0.1, in: ". 1:1(0) ack 1 win 65535"}
  - {at: +0~0.05, out: "F. 1:1(0) ack 1"}
"#;

    /// Runs `text` on the fake, whose stack sends a FIN at 0.110 s.
    fn run_late(text: &str, lag_ms: u64, ack_the_ack: bool) -> Outcome {
        run_fake(text, lag_ms, ack_the_ack, false, true)
    }

    fn run_fake(text: &str, lag_ms: u64, ack_the_ack: bool, fin_on_call: bool, planned_fin: bool) -> Outcome {
        let script = crate::script::parse(Path::new("late.yaml"), text).expect("valid").remove(0);
        let mut t = Late {
            now: Duration::ZERO,
            lag: Duration::from_millis(lag_ms),
            plan: VecDeque::new(),
            sent: VecDeque::new(),
            ack_the_ack,
            fin_on_call,
            reply_after: if fin_on_call || !planned_fin { Duration::from_micros(200) } else { Duration::ZERO },
            script: script.clone(),
            tick: Duration::ZERO,
        };
        if planned_fin {
            let fin = t.packet(TcpFlags::FIN | TcpFlags::ACK, 1001, 1);
            t.plan.push_back((Duration::from_millis(110), fin));
        }
        run(&script, &mut t).outcome
    }

    #[test]
    fn an_absolute_time_moves_with_a_late_injection() {
        // The stack ACKs the segment injected at 0.1 at once. The engine
        // got there 15 ms late (more than the 10 ms tolerance): the answer
        // comes 15 ms after the script time, and is on time for it.
        let text = "name: absolute\nsteps:\n  - in: S 0:0(0) win 65535\n  - out: S. 0:0(0) ack 1\n  \
                    - {at: 0.1, in: \". 1:1(0) ack 1 win 65535\"}\n  - {at: 0.1, out: \". 1:1(0) ack 1\"}\n";
        for lag in [0, 15, 40] {
            let o = run_fake(text, lag, true, false, false);
            assert!(matches!(o, Outcome::Passed), "{lag} ms late: {o:?}");
        }
    }

    /// A script written for a 1 ms timer tick (`timer_tick`, as packetdrill's
    /// are) on a target whose timers tick every 4 ms (HZ=250): a timer's
    /// packet may come up to 11 ms late (and 4 ms early); without
    /// `timer_tick`, or on a target as fine as the script's, the tolerance
    /// alone holds.
    #[test]
    fn a_coarser_timer_tick_than_the_scripts_allows_timers_to_fire_later() {
        let header = "name: tick\ntolerance: 4ms\ntolerance_percent: 0\n";
        let steps = "steps:\n  - in: S 0:0(0) win 65535\n  - out: S. 0:0(0) ack 1\n  \
                     - {at: 0.1, in: \". 1:1(0) ack 1 win 65535\"}\n  - {at: +0.01, out: \"F. 1:1(0) ack 1\"}\n";
        // The stack's FIN comes at 0.119, 9 ms after the step's time (or at
        // 0.101, 9 ms before it).
        let outcome = |tick_line: &str, tick_ms: u64, early: bool| {
            let text = format!("{header}{tick_line}{steps}");
            let script = crate::script::parse(Path::new("tick.yaml"), &text).expect("valid").remove(0);
            let mut t = Late {
                now: Duration::ZERO,
                lag: Duration::ZERO,
                plan: VecDeque::new(),
                sent: VecDeque::new(),
                ack_the_ack: false,
                fin_on_call: false,
                reply_after: Duration::ZERO,
                script: script.clone(),
                tick: Duration::from_millis(tick_ms),
            };
            let fin = t.packet(TcpFlags::FIN | TcpFlags::ACK, 1001, 1);
            t.plan.push_back((Duration::from_millis(if early { 101 } else { 119 }), fin));
            run(&script, &mut t).outcome
        };
        assert!(matches!(outcome("timer_tick: 1ms\n", 4, false), Outcome::Passed));
        for (line, tick, early) in [("", 4, false), ("timer_tick: 1ms\n", 1, false), ("timer_tick: 1ms\n", 4, true)] {
            match outcome(line, tick, early) {
                Outcome::Failed(f) => {
                    assert!(
                        f.message.contains(if early { "too early" } else { "nothing was sent" }),
                        "{line:?} on a {tick} ms tick: {f:?}"
                    );
                    // The window's make-up is said when the allowance was in it.
                    let note = if early { "with 4.0 ms more" } else { "with 11.0 ms more" };
                    let noted = f.message.contains(&format!("{note} for the target's 4.0 ms timer tick, `timer_tick`"));
                    assert_eq!(noted, !line.is_empty() && tick == 4, "{f:?}");
                }
                other => panic!("{line:?} on a {tick} ms tick: {other:?}"),
            }
        }
        let ms = Duration::from_millis;
        use crate::engine::timing::tick_allowance;
        assert_eq!(tick_allowance(Some(ms(1)), ms(4)), (ms(4), ms(11)));
        assert_eq!(tick_allowance(Some(ms(4)), ms(1)), (Duration::ZERO, Duration::ZERO));
        assert_eq!(tick_allowance(None, ms(10)), (Duration::ZERO, Duration::ZERO));
    }

    #[test]
    fn what_follows_a_late_call_counts_from_when_it_was_made() {
        // A shutdown made 15 ms after its time: its FIN comes at once after
        // it, and the `out` at +0 counts from the call's real time.
        let text = "name: call\nsteps:\n  - in: S 0:0(0) win 65535\n  - out: S. 0:0(0) ack 1\n  \
                    - {at: 0.1, call: \"shutdown(3, SHUT_WR) = 0\"}\n  - out: F. 1:1(0) ack 1\n";
        for lag in [0, 15] {
            let o = run_fake(text, lag, false, true, false);
            assert!(matches!(o, Outcome::Passed), "{lag} ms late: {o:?}");
        }
    }

    #[test]
    fn a_failure_after_the_engine_was_late_says_so() {
        // The stack never sends what the last step expects: a failure either
        // way, with the engine's lateness (12 ms, over half the tolerance)
        // named only when it was late.
        let text = "name: never\nsteps:\n  - in: S 0:0(0) win 65535\n  - out: S. 0:0(0) ack 1\n  \
                    - {at: 0.1, in: \". 1:1(0) ack 1 win 65535\"}\n  - out: R. 1:1(0) ack 1\n";
        match run_fake(text, 12, false, false, false) {
            Outcome::Failed(f) => {
                assert_eq!(f.step, Some(3), "{f:?}");
                let d = f.descheduled.expect("the engine was late");
                assert!(d >= Duration::from_millis(12), "{d:?}");
            }
            other => panic!("{other:?}"),
        }
        match run_fake(text, 0, false, false, false) {
            Outcome::Failed(f) => assert_eq!(f.descheduled, None, "{f:?}"),
            other => panic!("{other:?}"),
        }
        // 3 ms late: under half the 10 ms tolerance, not enough to blame.
        match run_fake(text, 3, false, false, false) {
            Outcome::Failed(f) => assert_eq!(f.descheduled, None, "{f:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_packet_sent_after_a_late_steps_time_belongs_to_the_steps_after_it() {
        // On time: the FIN comes after the `in` at 0.1, for the `out`.
        let on_time = run_late(SCRIPT, 0, false);
        assert!(matches!(on_time, Outcome::Passed), "{on_time:?}");
        // 12 ms late: the FIN was sent (at 0.110) before the engine reached
        // the `in` due at 0.100, but after that step's time: it is the
        // `out`'s, not "unexpected before this step".
        let late = run_late(SCRIPT, 12, false);
        assert!(matches!(late, Outcome::Passed), "{late:?}");
    }

    #[test]
    fn an_answer_read_as_the_previous_step_ended_comes_before_the_next_one() {
        // The stack answers the handshake's ACK at once (as Linux does in
        // simultaneous open); it is read a microsecond after the step's
        // time, as the step ends, so the next step (+0) fails on it rather
        // than leaving it queued past the end of the script.
        let text = "name: answer\nsteps:\n  - in: S 0:0(0) win 65535\n  - out: S. 0:0(0) ack 1\n  \
                    - in: . 1:1(0) ack 1 win 65535\n  - in: . 1:1(0) ack 1 win 65535\n";
        match run_late(text, 0, true) {
            Outcome::Failed(f) => {
                assert_eq!(f.step, Some(3), "{f:?}");
                assert!(f.message.contains("unexpected packet"), "{}", f.message);
            }
            other => panic!("{other:?}"),
        }
    }
}
