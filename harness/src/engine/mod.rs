//! The engine: walks a script's steps against a [`Target`], checks every
//! packet and call result, and records a trace. Targets differ only in how
//! time passes and where packets go; the checking lives here, once.

use crate::script::call::{Call, CallSpec, Cmsg, Expect};
use crate::script::packet::{Field, OptSpec, PacketSpec};
use crate::script::time::Base;
use crate::script::{Pos, Script, StateOf, Step, StepKind, TargetKind};
use crate::target::{pattern, CallOutcome, CallValue, Target, TargetCall, TargetError};
use reference_stack::wire::{IpPacket, IpRepr, OptionData, SackBlocks, TcpFlags, TcpOption, TcpOptions, TcpRepr};
use reference_stack::{FourTuple, SeqNumber};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// How a run is judged, beyond the script.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Multiplies every tolerance (slow or debug kernels).
    pub tolerance_scale: f64,
    /// `shell:` steps may run (`harness run --allow-shell`).
    pub allow_shell: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { tolerance_scale: 1.0, allow_shell: false }
    }
}

/// One field that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDiff {
    pub field: &'static str,
    pub expected: String,
    pub actual: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub step: Option<usize>,
    pub pos: Option<Pos>,
    pub step_text: String,
    pub message: String,
    pub diffs: Vec<FieldDiff>,
    /// The connection's state when it failed, if known.
    pub state: Option<String>,
}

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

#[derive(Clone, Debug)]
pub enum Outcome {
    Passed,
    Failed(Failure),
    /// The target could not run the script (not a verdict on the stack).
    Error(String),
}

#[derive(Clone, Debug)]
pub struct RunReport {
    pub outcome: Outcome,
    pub trace: Vec<TraceEntry>,
    /// Script time covered.
    pub script_time: Duration,
}

struct Pending {
    step: usize,
    call: TargetCall,
    spec: CallSpec,
    text: String,
    /// When it was made.
    called: Duration,
    /// When it must return.
    lo: Duration,
    hi: Duration,
}

struct Run<'a> {
    script: &'a Script,
    target: &'a mut dyn Target,
    kind: TargetKind,
    stack_isn: Option<u32>,
    local_port: u16,
    remote_port: u16,
    last_tsval: Option<u32>,
    /// `timestamps: mapped`: the script's TS val -> the stack's, and the
    /// first such pair (for values never seen).
    ts_map: std::collections::BTreeMap<u32, u32>,
    ts_first: Option<(u32, u32)>,
    /// The script's ISN (the header's, until a `new_connection` step).
    remote_isn: u32,
    /// (stack port, script port) of connections before a `new_connection`.
    old_conns: Vec<(u16, u16)>,
    /// `fds: mapped`: the script's descriptor numbers -> the target's.
    fd_map: std::collections::BTreeMap<i32, i32>,
    last: Duration,
    /// The target's clock when the previous step was done. A packet the
    /// target had sent by then, or by the current step's script time,
    /// came before the current step; one read later came after it, even
    /// when the engine reaches the step late on a loaded machine.
    step_end: Duration,
    trace: Vec<TraceEntry>,
    pending: Option<Pending>,
    /// The last fd the script used, for the state in failure reports.
    last_fd: Option<i32>,
    /// Timer slack in percent of the gap, and the tolerance multiplier.
    pct: f64,
    scale: f64,
    allow_shell: bool,
}

/// Runs `script` on `target` to the first failure or the end.
pub fn run(script: &Script, target: &mut dyn Target) -> RunReport {
    run_with(script, target, RunOptions::default())
}

pub fn run_with(script: &Script, target: &mut dyn Target, opts: RunOptions) -> RunReport {
    let kind = target.kind();
    let pct = script.tolerance_percent.unwrap_or_else(|| target.timer_slack_percent());
    let mut r = Run {
        script,
        target,
        kind,
        stack_isn: None,
        local_port: script.local_port,
        remote_port: script.remote_port,
        last_tsval: None,
        ts_map: std::collections::BTreeMap::new(),
        ts_first: None,
        remote_isn: script.remote_isn,
        fd_map: std::collections::BTreeMap::new(),
        old_conns: Vec::new(),
        last: Duration::ZERO,
        step_end: Duration::ZERO,
        trace: Vec::new(),
        pending: None,
        last_fd: None,
        pct,
        scale: opts.tolerance_scale,
        allow_shell: opts.allow_shell,
    };
    let outcome = match r.all_steps() {
        Ok(()) => Outcome::Passed,
        Err(Stop::Fail(mut f)) => {
            f.state = r.describe_state();
            Outcome::Failed(*f)
        }
        Err(Stop::Target(e)) => Outcome::Error(e.to_string()),
    };
    RunReport { outcome, script_time: r.target.now(), trace: r.trace }
}

enum Stop {
    Fail(Box<Failure>),
    Target(TargetError),
}

impl From<TargetError> for Stop {
    fn from(e: TargetError) -> Self {
        Stop::Target(e)
    }
}

impl Run<'_> {
    /// The tolerance for an event `gap` after the previous one: the larger of
    /// the script's fixed tolerance and the target's slack percentage.
    fn tol(&self, gap: Duration) -> Duration {
        let fixed = self.script.tolerance.as_secs_f64();
        let pct = gap.as_secs_f64() * self.pct / 100.0;
        Duration::from_secs_f64(fixed.max(pct) * self.scale)
    }

    fn fail(&self, step: Option<(usize, &Step)>, message: String, diffs: Vec<FieldDiff>) -> Stop {
        Stop::Fail(Box::new(Failure {
            step: step.map(|s| s.0),
            pos: step.map(|s| s.1.pos),
            step_text: step.map(|s| s.1.text.clone()).unwrap_or_default(),
            message,
            diffs,
            state: None,
        }))
    }

    fn conn(&self) -> FourTuple {
        FourTuple {
            local: SocketAddr::new(self.script.local, self.local_port),
            remote: SocketAddr::new(self.script.remote, self.remote_port),
        }
    }

    fn describe_state(&mut self) -> Option<String> {
        let conn = self.conn();
        let c = self.target.state(None, conn).ok()?;
        let fd = self.last_fd.and_then(|fd| self.target.state(Some(fd), conn).ok().map(|s| format!(", fd {fd}: {s}")));
        Some(format!("{} {c}{}", conn, fd.unwrap_or_default()))
    }

    fn all_steps(&mut self) -> Result<(), Stop> {
        let steps = &self.script.steps;
        for (i, step) in steps.iter().enumerate() {
            if step.only.is_some_and(|o| o != self.kind) {
                continue;
            }
            let r = self.step(i, step).and_then(|_| self.check_pending());
            self.step_end = self.target.now();
            if let Err(Stop::Target(TargetError::Violation(m))) = r {
                return Err(self.fail(Some((i, step)), format!("the reference stack broke an oracle: {m}"), vec![]));
            }
            r?;
        }
        // A call still blocked at the end gets until its return time (as in
        // packetdrill); nothing else may be sent meanwhile.
        if let Some((step, called, hi)) = self.pending.as_ref().map(|p| (p.step, p.called, p.hi)) {
            let until = hi + self.tol(hi.saturating_sub(called));
            self.settle_pending(until)?;
            let now = self.target.now();
            self.no_packets_until(step, &steps[step], now)?;
        }
        if let Some(p) = &self.pending {
            let step = &steps[p.step];
            return Err(self.fail(Some((p.step, step)), format!("`{}` never returned", p.text), vec![]));
        }
        // What the last step made the stack send: recorded (`outbound:
        // ignore`), and on the reference target put through the oracles
        // like everything before it (a violation there is the last step's).
        let last = steps.iter().enumerate().rev().find(|(_, s)| s.only.is_none_or(|o| o == self.kind));
        if let Some((i, step)) = last {
            let now = self.target.now();
            let r = if self.script.ignore_outbound { self.no_packets_until(i, step, now) } else { Ok(()) }
                .and_then(|()| self.target.advance(now).map_err(Stop::Target));
            if let Err(Stop::Target(TargetError::Violation(m))) = r {
                return Err(self.fail(Some((i, step)), format!("the reference stack broke an oracle: {m}"), vec![]));
            }
            r?;
        }
        Ok(())
    }

    /// Fails on any packet the target sent before `t` (nothing expected it);
    /// with `outbound: ignore`, records them instead. "Before" includes
    /// everything sent by the time the previous step was done
    /// ([`Run::step_end`]): an answer to that step's segment is never late
    /// enough to belong to this one.
    fn no_packets_until(&mut self, i: usize, step: &Step, t: Duration) -> Result<(), Stop> {
        let t = t.max(self.step_end);
        if self.script.queue_outbound {
            // They wait for the next `out` step.
            return Ok(());
        }
        if self.script.ignore_outbound {
            while let Some((at, p)) = self.target.next_packet(t)? {
                if p.tcp.flags.syn() && self.stack_isn.is_none() && p.ip.dst == self.script.remote {
                    self.stack_isn = Some(p.tcp.seq.0);
                    self.local_port = p.tcp.src_port;
                }
                if let Some((v, _)) = p.tcp.timestamps() {
                    self.last_tsval = Some(v);
                }
                self.trace_out(at, &p);
            }
            return Ok(());
        }
        if let Some((at, p)) = self.target.next_packet(t)? {
            let text = self.trace_out(at, &p);
            return Err(self.fail(
                Some((i, step)),
                format!(
                    "unexpected packet at {:.6}: out {text} (the script expected nothing to be sent before this step)",
                    at.as_secs_f64()
                ),
                vec![],
            ));
        }
        Ok(())
    }

    /// With a call blocked, moves the clock towards `until` in the target's
    /// own steps ([`Target::next_wakeup`]), retrying the call after each, so
    /// it returns at the time it really did. Packets sent meanwhile stay
    /// queued for the steps that follow.
    fn settle_pending(&mut self, until: Duration) -> Result<(), Stop> {
        // What the previous step did (a segment injected) may have let the
        // call return already, even with no time to pass before this step.
        if self.pending.is_some() {
            self.check_pending()?;
        }
        while self.pending.is_some() {
            let now = self.target.now();
            if now >= until {
                break;
            }
            let next = match self.target.next_wakeup() {
                Some(w) if w > now => w.min(until),
                Some(_) => now + Duration::from_micros(1),
                None => until,
            };
            self.target.advance(next)?;
            self.check_pending()?;
        }
        Ok(())
    }

    fn step(&mut self, i: usize, step: &Step) -> Result<(), Stop> {
        let base = match step.time.base {
            Base::Absolute => Duration::ZERO,
            Base::Relative => self.last,
        };
        let (lo, hi) = (base + step.time.lo, base + step.time.hi);
        if !step.time.any {
            self.settle_pending(lo)?;
        }
        if self.script.script_clock
            && matches!(step.kind, StepKind::Call(_) | StepKind::TcpInfo { .. } | StepKind::State { .. })
        {
            self.await_pending()?;
        }
        let tol = self.tol(hi.saturating_sub(self.last));
        match &step.kind {
            StepKind::In(spec) => {
                let at = self.reach(i, step, lo)?;
                let pkt = self.build_in(spec).map_err(|m| self.fail(Some((i, step)), m, vec![]))?;
                let mut wire =
                    pkt.emit().map_err(|e| TargetError::Unsupported(format!("the packet cannot be built: {e}")))?;
                let mut text = self.render(&pkt.tcp, Dir::In);
                if spec.bad_checksum {
                    break_tcp_checksum(&mut wire);
                    text.push_str(" bad_checksum");
                }
                let sent = self.target.now().max(at);
                self.trace.push(TraceEntry::Packet { at: sent, dir: Dir::In, text, bytes: wire.clone() });
                self.target.inject(&pkt, &wire)?;
                // What follows counts from when the segment really went in:
                // on a loaded machine that can be after its script time, and
                // the stack's answer can only come after it (virtual time:
                // the same instant). `clock: script`: from its script time.
                self.last = if self.script.script_clock { at } else { sent };
            }
            StepKind::Icmp(spec) => {
                let at = self.reach(i, step, lo)?;
                let s = self.script;
                let (v6, pair) = (s.local.is_ipv6(), if s.local.is_ipv6() { spec.v6 } else { spec.v4 });
                let Some((kind, code)) = pair else {
                    return Err(self.fail(
                        Some((i, step)),
                        format!(
                            "`icmp {}` is not an ICMPv{} message (the script's addresses are IPv{})",
                            spec.type_name,
                            if v6 { 6 } else { 4 },
                            if v6 { 6 } else { 4 }
                        ),
                        vec![],
                    ));
                };
                let repr = reference_stack::wire::IcmpErrorRepr {
                    src: s.remote,
                    dst: s.local,
                    kind,
                    code,
                    mtu: spec.mtu,
                    quoted: reference_stack::wire::QuotedTcp {
                        src: s.local,
                        src_port: self.local_port,
                        dst: s.remote,
                        dst_port: self.remote_port,
                        seq: self.stack_isn.unwrap_or(0).wrapping_add(spec.seq),
                        payload_len: spec.len,
                    },
                };
                let wire = repr
                    .emit()
                    .map_err(|e| TargetError::Unsupported(format!("the ICMP message cannot be built: {e}")))?;
                let sent = self.target.now().max(at);
                self.trace.push(TraceEntry::Packet {
                    at: sent,
                    dir: Dir::In,
                    text: spec.to_string(),
                    bytes: wire.clone(),
                });
                self.target.inject_icmp(&wire)?;
                self.last = if self.script.script_clock { at } else { sent };
            }
            StepKind::Out(per) => {
                let Some(spec) = per.get(&self.kind) else { return Ok(()) };
                let deadline = if step.time.any { self.last + Duration::from_secs(24 * 3600) } else { hi + tol };
                let Some((mut at, mut p)) = self.next_out(deadline)? else {
                    return Err(self.fail(
                        Some((i, step)),
                        format!(
                            "expected a packet by {:.6} ({}), nothing was sent",
                            deadline.as_secs_f64(),
                            window_text(lo, hi, step.time.any)
                        ),
                        vec![],
                    ));
                };
                // `out_segments: merge`: consecutive segments that add up to
                // the expected length stand for it (packetdrill without
                // --strict_segments): headers of the last, sequence number
                // and CWR of the first, payloads joined.
                if let (true, Field::Is(want)) = (self.script.merge_out, spec.len) {
                    while (p.tcp.payload.len() as u32) < want && !p.tcp.payload.is_empty() {
                        let end = p.tcp.seq.0.wrapping_add(p.tcp.payload.len() as u32);
                        let Some((at2, next)) = self.next_out(deadline)? else { break };
                        if next.tcp.seq.0 != end || next.tcp.payload.is_empty() || next.tcp.src_port != p.tcp.src_port {
                            self.trace_out(at, &p);
                            let text = self.trace_out(at2, &next);
                            return Err(self.fail(
                                Some((i, step)),
                                format!(
                                    "packet at {:.6} does not continue the {} octets before it: out {text}",
                                    at2.as_secs_f64(),
                                    p.tcp.payload.len()
                                ),
                                vec![],
                            ));
                        }
                        let (seq, cwr) = (p.tcp.seq, p.tcp.flags.0 & TcpFlags::CWR.0);
                        let mut payload = std::mem::take(&mut p.tcp.payload);
                        p = next;
                        payload.extend_from_slice(&p.tcp.payload);
                        p.tcp.payload = payload;
                        p.tcp.seq = seq;
                        p.tcp.flags = TcpFlags((p.tcp.flags.0 & !TcpFlags::CWR.0) | cwr);
                        at = at2;
                    }
                }
                // Match first: a SYN teaches the stack's ISN, which the trace uses.
                let diffs = self.match_out(spec, &p);
                let text = self.trace_out(at, &p);
                if !diffs.is_empty() {
                    return Err(self.fail(
                        Some((i, step)),
                        format!("packet at {:.6} differs: out {text}", at.as_secs_f64()),
                        diffs,
                    ));
                }
                if !step.time.any && at + tol < lo {
                    return Err(self.fail(
                        Some((i, step)),
                        format!(
                            "packet sent too early at {:.6}, expected {}",
                            at.as_secs_f64(),
                            window_text(lo, hi, false)
                        ),
                        vec![FieldDiff {
                            field: "time",
                            expected: window_text(lo, hi, false),
                            actual: format!("{:.6}", at.as_secs_f64()),
                        }],
                    ));
                }
                if let Some((v, _)) = p.tcp.timestamps() {
                    self.last_tsval = Some(v);
                    if self.script.ts_mapped {
                        let script_val = spec.options.iter().flatten().find_map(|o| match o {
                            OptSpec::Ts { val: Field::Is(sv), .. } => Some(*sv),
                            _ => None,
                        });
                        if let Some(sv) = script_val {
                            // `ts_tick`: the value must also have advanced with
                            // the clock since the first one (packetdrill's
                            // --tcp_ts_tick_usecs), within the step's slack.
                            if let (Some(tick), Some((s0, l0))) = (self.script.ts_tick, self.ts_first) {
                                let mapped = s0.wrapping_add(v.wrapping_sub(l0));
                                let off = i64::from(mapped.wrapping_sub(sv) as i32).unsigned_abs();
                                let dev = tick.saturating_mul(off as u32);
                                let slack = self.script.tolerance.max(at.mul_f64(self.pct / 100.0));
                                if dev > slack {
                                    return Err(self.fail(
                                        Some((i, step)),
                                        format!(
                                            "TS val is {} ticks of {} us away from the script's, more than {:.3} ms",
                                            off,
                                            tick.as_micros(),
                                            slack.as_secs_f64() * 1e3
                                        ),
                                        vec![FieldDiff {
                                            field: "TS val",
                                            expected: sv.to_string(),
                                            actual: mapped.to_string(),
                                        }],
                                    ));
                                }
                            }
                            self.ts_map.insert(sv, v);
                            self.ts_first.get_or_insert((sv, v));
                        }
                    }
                }
                // `clock: script`: an exactly timed packet counts as sent at
                // its script time (it was within the tolerance of it).
                let exact = !step.time.any && step.time.lo == step.time.hi;
                self.last = if self.script.script_clock && exact { lo.max(self.last) } else { at };
            }
            StepKind::Shell(cmd) => {
                let at = self.reach(i, step, lo)?;
                if !self.allow_shell {
                    return Err(Stop::Target(TargetError::Unsupported("a `shell:` step without --allow-shell".into())));
                }
                self.trace.push(TraceEntry::Call { at, text: format!("shell {cmd:?}"), ret: String::new() });
                if let Err(e) = self.target.shell(cmd) {
                    return Err(match e {
                        TargetError::Violation(m) => self.fail(Some((i, step)), m, vec![]),
                        other => Stop::Target(other),
                    });
                }
                self.last = at;
            }
            StepKind::NewConnection { remote_isn } => {
                self.old_conns.push((self.local_port, self.remote_port));
                self.remote_isn = *remote_isn;
                self.remote_port = self.remote_port.wrapping_add(1).max(1);
                self.local_port = self.script.local_port;
                self.stack_isn = None;
                self.last_tsval = None;
                self.ts_map.clear();
                self.ts_first = None;
            }
            StepKind::Sysctl(kv) => {
                let at = self.reach(i, step, lo)?;
                for (k, v) in kv {
                    self.target.sysctl(k, v)?;
                }
                self.last = at;
            }
            StepKind::Call(spec) => {
                let at = self.reach(i, step, lo)?;
                let call = self.resolve_call(&spec.call);
                self.last_fd = spec.call.fd().or(self.last_fd);
                let text = call_text(&step.text);
                match self.target.call(&call)? {
                    CallOutcome::Done { ret, out } => {
                        self.finish_call(i, step, &text, spec, &call, ret, out, at)?;
                    }
                    CallOutcome::WouldBlock => {
                        if self.pending.is_some() {
                            return Err(self.fail(
                                Some((i, step)),
                                "a second blocking call while one is pending".into(),
                                vec![],
                            ));
                        }
                        let (rlo, rhi) = match step.time.returns {
                            Some(r) => {
                                let t = match step.time.base {
                                    Base::Relative => at + r,
                                    Base::Absolute => r,
                                };
                                (t, t)
                            }
                            None => (at, at),
                        };
                        self.pending =
                            Some(Pending { step: i, call, spec: spec.clone(), text, called: at, lo: rlo, hi: rhi });
                    }
                }
                self.last = at;
            }
            StepKind::State { of, is } => {
                let at = self.reach(i, step, lo)?;
                let fd = match of {
                    StateOf::Fd(fd) => Some(self.real_fd(*fd)),
                    StateOf::Conn => None,
                };
                let actual = self.target.state(fd, self.conn())?;
                if actual != *is {
                    let who = fd.map_or_else(|| format!("connection {}", self.conn()), |f| format!("fd {f}"));
                    return Err(self.fail(
                        Some((i, step)),
                        format!("{who} is {actual}, expected {is}"),
                        vec![FieldDiff { field: "state", expected: is.to_string(), actual: actual.to_string() }],
                    ));
                }
                self.last = at;
            }
            StepKind::TcpInfo { fd, fields } => {
                let at = self.reach(i, step, lo)?;
                let info = self.target.tcp_info(self.real_fd(*fd))?;
                let mut diffs = Vec::new();
                for (name, check) in fields {
                    let Some(&v) = info.get(name.as_str()) else {
                        return Err(Stop::Target(TargetError::Unsupported(format!("TCP_INFO field `{name}`"))));
                    };
                    if !check.holds(v) {
                        diffs.push(FieldDiff {
                            field: "tcp_info",
                            expected: format!(
                                "tcpi_{name} {}{check}",
                                if matches!(check, crate::script::InfoCheck::Range(..)) { "= " } else { "" }
                            ),
                            actual: format!("tcpi_{name} = {v}"),
                        });
                    }
                }
                if !diffs.is_empty() {
                    return Err(self.fail(Some((i, step)), format!("TCP_INFO of fd {fd} differs"), diffs));
                }
                self.last = at;
            }
            StepKind::Quiet(d) => {
                let start = if step.time.any { self.last } else { lo.max(self.last) };
                self.no_packets_until(i, step, start)?;
                let end = start + *d;
                if let Some((at, p)) = self.target.next_packet(end)? {
                    let text = self.trace_out(at, &p);
                    return Err(self.fail(
                        Some((i, step)),
                        format!(
                            "expected nothing for {:.6} s, but at {:.6}: out {text}",
                            d.as_secs_f64(),
                            at.as_secs_f64()
                        ),
                        vec![],
                    ));
                }
                self.target.advance(end)?;
                self.last = end;
            }
            StepKind::Wait(d) => {
                let start = if step.time.any { self.last } else { lo.max(self.last) };
                let end = start + *d;
                // What is sent meanwhile is for the next step (as between
                // any two steps): unexpected, recorded or queued.
                self.no_packets_until(i, step, end)?;
                self.target.advance(end)?;
                self.last = end;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_call(
        &mut self,
        i: usize,
        step: &Step,
        text: &str,
        spec: &CallSpec,
        call: &TargetCall,
        ret: CallValue,
        out: Option<CallValue>,
        at: Duration,
    ) -> Result<(), Stop> {
        self.trace.push(TraceEntry::Call { at, text: text.to_string(), ret: ret.to_string() });
        // Learn the connection's ports from the calls that set them, until
        // it is under way: a listener bound later on another port is not
        // the script's connection (a `new_connection` learns them again).
        match call {
            TargetCall::Bind { addr, .. } if self.stack_isn.is_none() => self.local_port = addr.port(),
            TargetCall::Connect { addr, .. } if self.stack_isn.is_none() => self.remote_port = addr.port(),
            _ => {}
        }
        // `fds: mapped`: a new descriptor takes the number the script gave it.
        let mut ret = ret;
        if let (
            true,
            TargetCall::Socket { .. } | TargetCall::Accept { .. } | TargetCall::EpollCreate,
            Expect::Value(want),
            CallValue::Value(got),
        ) = (self.script.fds_mapped, call, &spec.expect, &ret)
        {
            self.fd_map.insert(*want as i32, *got as i32);
            ret = CallValue::Value(*want);
        }
        // pipe([R, W]) = 0: the ends are the script's names (`fds: mapped`)
        // or must be the numbers the target gave.
        if let (Call::Pipe { fds }, Some(CallValue::Pair(a, b))) = (&spec.call, &out) {
            if self.script.fds_mapped {
                self.fd_map.insert(fds[0], *a);
                self.fd_map.insert(fds[1], *b);
            } else if [*a, *b] != *fds {
                let want = format!("[{}, {}]", fds[0], fds[1]);
                return Err(self.fail(
                    Some((i, step)),
                    format!("`{text}` gave the ends [{a}, {b}], expected {want}"),
                    vec![FieldDiff { field: "fds", expected: want, actual: format!("[{a}, {b}]") }],
                ));
            }
        }
        let ok = match (&spec.expect, &ret) {
            (Expect::Any, _) => true,
            (Expect::Failed, r) => matches!(r, CallValue::Error(_)),
            (Expect::Value(v), CallValue::Value(r)) => v == r,
            (Expect::Error(e), CallValue::Error(r)) => e == r,
            (Expect::Events(v), CallValue::Events(r)) => v == r,
            (Expect::Value(0), CallValue::Events(0)) => true,
            _ => false,
        };
        if !ok {
            return Err(self.fail(
                Some((i, step)),
                format!("`{text}` returned {ret}, expected {}", spec.expect),
                vec![FieldDiff { field: "return", expected: spec.expect.to_string(), actual: ret.to_string() }],
            ));
        }
        if let Call::EpollWait { want, .. } = &spec.call {
            let got = match out {
                Some(CallValue::Event { events, fd }) => Some((events, fd)),
                _ => None,
            };
            let want_real = want.map(|(e, fd)| (e, self.real_fd(fd)));
            if got != want_real {
                let show = |w: Option<(u32, i32)>| match w {
                    None => "no event".to_string(),
                    Some((e, fd)) => format!("{{events={}, fd={fd}}}", crate::script::call::epoll_names(e)),
                };
                return Err(self.fail(
                    Some((i, step)),
                    format!("`{text}` reported {}, expected {}", show(got), show(want_real)),
                    vec![FieldDiff { field: "event", expected: show(want_real), actual: show(got) }],
                ));
            }
        }
        // A failed recvmsg leaves the msghdr as it was: nothing to check.
        if let (Call::RecvMsg { msg_flags, cmsgs, .. }, CallValue::Value(_)) = (&spec.call, &ret) {
            let (got_flags, got_cmsgs) = match &out {
                Some(CallValue::Msg { flags, cmsgs }) => (*flags, cmsgs.clone()),
                _ => (0, Vec::new()),
            };
            let mut diffs = Vec::new();
            if let Some(want) = msg_flags {
                if *want != got_flags {
                    diffs.push(FieldDiff {
                        field: "msg_flags",
                        expected: crate::script::call::recv_flag_names(*want),
                        actual: crate::script::call::recv_flag_names(got_flags),
                    });
                }
            }
            if let Some(want) = cmsgs {
                // packetdrill's rule for SCM_TIMESTAMPING: within the
                // script's tolerance of the expected script time.
                let tol = self.script.tolerance.as_micros() as i64;
                let same = want.len() == got_cmsgs.len()
                    && want.iter().zip(&got_cmsgs).all(|(w, g)| match (w, g) {
                        (Cmsg::Timestamping(None), Cmsg::Timestamping(_)) => true,
                        (Cmsg::Timestamping(Some(a)), Cmsg::Timestamping(Some(b))) => (a - b).abs() <= tol,
                        (w, g) => w == g,
                    });
                if !same {
                    diffs.push(FieldDiff {
                        field: "cmsg",
                        expected: crate::script::call::cmsgs_text(want),
                        actual: crate::script::call::cmsgs_text(&got_cmsgs),
                    });
                }
            }
            if !diffs.is_empty() {
                return Err(self.fail(Some((i, step)), format!("`{text}` returned a different msghdr"), diffs));
            }
        }
        if let Call::GetSockOpt { expect: Some(e), .. }
        | Call::LinuxOpt { get: true, expect: Some(e), .. }
        | Call::Ioctl { expect: Some(e), .. } = &spec.call
        {
            let got = out.map_or_else(|| "nothing".to_string(), |o| o.to_string());
            let okv = match (e, &got) {
                (Expect::Error(x), g) => *g == format!("-1 {}", x.name()) || *g == x.name(),
                (other, g) => other.to_string() == *g,
            };
            if !okv {
                return Err(self.fail(
                    Some((i, step)),
                    format!("`{text}` gave the value {got}, expected {e}"),
                    vec![FieldDiff { field: "value", expected: e.to_string(), actual: got }],
                ));
            }
        }
        Ok(())
    }

    /// `clock: script` (packetdrill's model: one thread makes the calls): a
    /// call, TCP_INFO or state read waits for a blocked call to return, at
    /// most until that call's return window has closed.
    fn await_pending(&mut self) -> Result<(), Stop> {
        while let Some(p) = &self.pending {
            let limit = p.hi + self.tol(p.hi.saturating_sub(p.called));
            self.check_pending()?;
            let now = self.target.now();
            if self.pending.is_none() || now > limit {
                break;
            }
            // A kernel's socket wakes nobody here: look again soon. The
            // reference stack's clock jumps to its next timer.
            let next = match (self.kind, self.target.next_wakeup()) {
                (TargetKind::Reference, Some(w)) if w > now => w.min(limit),
                _ => (now + Duration::from_micros(100)).min(limit),
            };
            self.target.advance(next.max(now + Duration::from_micros(1)))?;
        }
        Ok(())
    }

    fn check_pending(&mut self) -> Result<(), Stop> {
        let Some(p) = self.pending.take() else { return Ok(()) };
        match self.target.retry(&p.call)? {
            CallOutcome::WouldBlock => {
                self.pending = Some(p);
                Ok(())
            }
            CallOutcome::Done { ret, out } => {
                let now = self.target.returned_at().unwrap_or_else(|| self.target.now());
                let step = &self.script.steps[p.step];
                // Timer slack grows with how long the call was blocked.
                let tol = self.tol(p.hi.saturating_sub(p.called));
                if now + tol < p.lo || now > p.hi + tol {
                    self.trace.push(TraceEntry::Call { at: now, text: p.text.clone(), ret: ret.to_string() });
                    return Err(self.fail(
                        Some((p.step, step)),
                        format!(
                            "`{}` returned at {:.6}, expected {}",
                            p.text,
                            now.as_secs_f64(),
                            window_text(p.lo, p.hi, false)
                        ),
                        vec![FieldDiff {
                            field: "return time",
                            expected: window_text(p.lo, p.hi, false),
                            actual: format!("{:.6}", now.as_secs_f64()),
                        }],
                    ));
                }
                self.finish_call(p.step, step, &p.text.clone(), &p.spec, &p.call, ret, out, now)
            }
        }
    }

    /// The next packet for an `out` step. With `outbound: queue`, packets of
    /// the script's earlier connections are passed over (packetdrill ignores
    /// packets that are not the socket under test's); they stay in the trace.
    fn next_out(&mut self, deadline: Duration) -> Result<Option<(Duration, IpPacket)>, TargetError> {
        loop {
            // A packet already read is this step's to judge, however late
            // the engine got here; the step's time check says if it was late.
            let deadline = deadline.max(self.target.now());
            let Some((at, p)) = self.target.next_packet(deadline)? else { return Ok(None) };
            let old = self.old_conns.contains(&(p.tcp.src_port, p.tcp.dst_port));
            if self.script.queue_outbound && old {
                self.trace_out(at, &p);
                continue;
            }
            return Ok(Some((at, p)));
        }
    }

    /// Brings the target to a step's time (`lo`, or now for `*`), failing
    /// on anything sent before it that no step expected.
    fn reach(&mut self, i: usize, step: &Step, lo: Duration) -> Result<Duration, Stop> {
        let at = if step.time.any { self.last } else { lo.max(self.last) };
        self.no_packets_until(i, step, at)?;
        self.target.advance(at)?;
        Ok(at)
    }

    /// The target's descriptor for the script's `fd`.
    fn real_fd(&self, fd: i32) -> i32 {
        self.fd_map.get(&fd).copied().unwrap_or(fd)
    }

    fn resolve_call(&self, c: &Call) -> TargetCall {
        let mut t = self.resolve_call_unmapped(c);
        if let Some(fd) = t.fd_mut() {
            *fd = self.real_fd(*fd);
        }
        t
    }

    fn resolve_call_unmapped(&self, c: &Call) -> TargetCall {
        let s = self.script;
        match c.clone() {
            Call::Socket { ipv6 } => TargetCall::Socket { ipv6: ipv6 || s.local.is_ipv6() },
            Call::Bind { fd, addr, port } => {
                let addr = addr.unwrap_or_else(|| SocketAddr::new(s.local, port.unwrap_or(s.local_port)));
                TargetCall::Bind { fd, addr }
            }
            Call::Listen { fd, backlog } => TargetCall::Listen { fd, backlog },
            Call::Accept { fd } => TargetCall::Accept { fd },
            Call::Connect { fd, addr } => {
                TargetCall::Connect { fd, addr: addr.unwrap_or_else(|| SocketAddr::new(s.remote, s.remote_port)) }
            }
            Call::Write { fd, len, data, oob, flags, to } => {
                let data = data.unwrap_or_else(|| pattern(len));
                let to = to.then(|| SocketAddr::new(s.remote, self.remote_port));
                TargetCall::Write { fd, data, oob, flags, to }
            }
            Call::Read { fd, len, peek } => TargetCall::Read { fd, len, peek },
            Call::Shutdown { fd, how } => TargetCall::Shutdown { fd, how },
            Call::Close { fd } => TargetCall::Close { fd },
            Call::SetSockOpt { fd, opt, value } => TargetCall::SetSockOpt { fd, opt, value },
            Call::SetCongestion { fd, algo } => TargetCall::SetCongestion { fd, algo },
            Call::GetSockOpt { fd, opt, .. } => TargetCall::GetSockOpt { fd, opt },
            Call::SetNonBlocking { fd, on } => TargetCall::SetNonBlocking { fd, on },
            Call::GetFl { fd } => TargetCall::GetFl { fd },
            Call::Poll { fd, events, timeout_ms } => TargetCall::Poll { fd, events, timeout_ms },
            Call::LinuxOpt { fd, get, label, level, name, value, .. } => {
                TargetCall::LinuxOpt { fd, get, label, level, name, value }
            }
            Call::Ioctl { fd, label, request, .. } => TargetCall::Ioctl { fd, label, request },
            Call::EpollCreate => TargetCall::EpollCreate,
            Call::EpollCtl { epfd, op, fd, events } => TargetCall::EpollCtl { epfd, op, fd: self.real_fd(fd), events },
            Call::EpollWait { epfd, max, timeout_ms, .. } => TargetCall::EpollWait { epfd, max, timeout_ms },
            Call::SendMsg { fd, iov, flags } => TargetCall::SendMsg { fd, iov, flags },
            Call::SendToUnspec { fd, len, flags } => TargetCall::SendToUnspec { fd, data: pattern(len), flags },
            Call::Pipe { .. } => TargetCall::Pipe,
            Call::LinuxOptBytes { fd, label, level, name, value, len } => {
                TargetCall::LinuxOptBytes { fd, label, level, name, value, len }
            }
            Call::Splice { fd_in, fd_out, len, flags } => {
                TargetCall::Splice { fd_in, fd_out: self.real_fd(fd_out), len, flags }
            }
            Call::RecvMsg { fd, len, flags, .. } => TargetCall::RecvMsg { fd, len, flags },
            Call::NullBuffer { fd, write, len, flags, to } => TargetCall::NullBuffer {
                fd,
                write,
                len,
                flags,
                to: to.then(|| SocketAddr::new(s.remote, self.remote_port)),
            },
        }
    }

    /// Builds the datagram for an `in` step; sequence numbers are relative to the
    /// script's ISN, acks and SACK blocks to the stack's.
    fn build_in(&self, spec: &PacketSpec) -> Result<IpPacket, String> {
        let s = self.script;
        // Until the stack has shown its ISN (in its SYN or SYN,ACK), numbers
        // in its sequence space are absolute.
        let stack_rel =
            |v: u32| -> Result<SeqNumber, String> { Ok(SeqNumber(self.stack_isn.unwrap_or(0).wrapping_add(v))) };
        let seq = SeqNumber(self.remote_isn.wrapping_add(spec.seq.value().unwrap_or(0)));
        let ack = match spec.ack {
            Some(Field::Is(a)) => stack_rel(a)?,
            _ => SeqNumber(0),
        };
        let mut options = TcpOptions::new();
        for o in spec.options.iter().flatten() {
            options.push(match o {
                OptSpec::Eol => TcpOption::Eol,
                OptSpec::Nop => TcpOption::Nop,
                OptSpec::Mss(m) => TcpOption::Mss(m.value().unwrap_or(0)),
                OptSpec::WScale(w) => TcpOption::WindowScale(w.value().unwrap_or(0)),
                OptSpec::SackOk => TcpOption::SackPermitted,
                OptSpec::Sack(blocks) => {
                    let edges = blocks.iter().map(|(l, r)| Ok((stack_rel(*l)?, stack_rel(*r)?))).collect::<Result<
                        Vec<_>,
                        String,
                    >>(
                    )?;
                    // The script's parser allows 1 to 4 blocks.
                    TcpOption::Sack(SackBlocks::new(&edges).ok_or("a SACK option has 1 to 4 blocks")?)
                }
                OptSpec::Ts { val, ecr } => TcpOption::Timestamps {
                    tsval: val.value().unwrap_or(0),
                    tsecr: match ecr {
                        // packetdrill's reading: the script's name for a TSval the stack sent.
                        Field::Is(v) if self.script.ts_mapped && spec.flags.ack() => match self.ts_map.get(v) {
                            Some(live) => *live,
                            None => match self.ts_first {
                                Some((s0, l0)) => v.wrapping_sub(s0).wrapping_add(l0),
                                None => *v,
                            },
                        },
                        Field::Is(v) => *v,
                        Field::Any => self.last_tsval.unwrap_or(0),
                    },
                },
                OptSpec::Unknown { kind, data } => TcpOption::Unknown {
                    kind: *kind,
                    // The script's parser allows at most 38 octets.
                    data: OptionData::new(data).ok_or("an option carries at most 38 octets of data")?,
                },
            });
        }
        let len = spec.len.value().unwrap_or(0) as usize;
        let payload = spec.data.clone().unwrap_or_else(|| (0..len).map(|i| (i % 251) as u8).collect());
        let tcp = TcpRepr {
            src_port: self.remote_port,
            dst_port: self.local_port,
            seq,
            ack,
            flags: spec.flags,
            window: spec.win.and_then(|w| w.value()).unwrap_or(65535),
            urgent: spec.urg.and_then(|u| u.value()).unwrap_or(0),
            options,
            payload,
            ..TcpRepr::default()
        };
        let mut ip = IpRepr::new(s.remote, s.local);
        ip.tos = spec.ecn.map_or(0, |e| e.bits());
        Ok(IpPacket { ip, tcp })
    }

    /// Every field of `p` that `spec` does not allow.
    fn match_out(&mut self, spec: &PacketSpec, p: &IpPacket) -> Vec<FieldDiff> {
        let s = self.script;
        let remote_isn = self.remote_isn;
        let mut d = Vec::new();
        let mut diff =
            |field: &'static str, expected: String, actual: String| d.push(FieldDiff { field, expected, actual });
        let t = &p.tcp;
        if p.ip.src != s.local || p.ip.dst != s.remote {
            diff("addresses", format!("{} > {}", s.local, s.remote), format!("{} > {}", p.ip.src, p.ip.dst));
        }
        // The stack's ephemeral port is learned from its first packet.
        if self.stack_isn.is_none() && t.flags.syn() {
            self.local_port = t.src_port;
        }
        if t.src_port != self.local_port || t.dst_port != self.remote_port {
            diff(
                "ports",
                format!("{} > {}", self.local_port, self.remote_port),
                format!("{} > {}", t.src_port, t.dst_port),
            );
        }
        if let Some(e) = spec.ecn {
            if !e.allows(p.ip.tos) {
                diff("ECN", e.to_string(), format!("[{}]", crate::script::packet::Ecn::name_of(p.ip.tos)));
            }
        }
        let got_flags = if spec.psh_any { TcpFlags(t.flags.0 & !TcpFlags::PSH.0) } else { t.flags };
        if got_flags != spec.flags {
            diff("flags", spec.flags.to_string(), t.flags.to_string());
        }
        // The stack's ISN comes from its SYN.
        if t.flags.syn() && self.stack_isn.is_none() {
            self.stack_isn = Some(t.seq.0.wrapping_sub(spec.seq.value().unwrap_or(0)));
        }
        let isn = self.stack_isn.unwrap_or(0);
        let rel_seq = t.seq.0.wrapping_sub(isn);
        if !spec.seq.matches(rel_seq) {
            diff("seq", fmt_field(&spec.seq), rel_seq.to_string());
        }
        if !spec.len.matches(t.payload.len() as u32) {
            diff("len", fmt_field(&spec.len), t.payload.len().to_string());
        }
        if let Some(a) = spec.ack {
            let rel_ack = t.ack.0.wrapping_sub(remote_isn);
            if !t.flags.ack() {
                diff("ack", fmt_field(&a), "(no ACK flag)".into());
            } else if !a.matches(rel_ack) {
                diff("ack", fmt_field(&a), rel_ack.to_string());
            }
        }
        if let Some(w) = spec.win {
            if !w.matches(t.window) {
                diff("win", fmt_field(&w), t.window.to_string());
            }
        }
        if let Some(u) = spec.urg {
            if !u.matches(t.urgent) {
                diff("urg", fmt_field(&u), t.urgent.to_string());
            }
        }
        if let Some(data) = &spec.data {
            if *data != t.payload {
                diff(
                    "data",
                    format!("{:?}", String::from_utf8_lossy(data)),
                    format!("{:?}", String::from_utf8_lossy(&t.payload)),
                );
            }
        }
        let actual: Vec<&TcpOption> = {
            let mut v: Vec<&TcpOption> = t.options.iter().collect();
            // Zero padding after the last option reads back as EOL.
            while v.last() == Some(&&TcpOption::Eol) {
                v.pop();
            }
            v
        };
        let mut expected = spec.options.clone().unwrap_or_default();
        if s.ts_mapped {
            // packetdrill checks neither TS val (its name for the value is
            // recorded instead) nor TS ecr on packets the stack sends.
            for o in &mut expected {
                if let OptSpec::Ts { val, ecr } = o {
                    (*val, *ecr) = (Field::Any, Field::Any);
                }
            }
        }
        let opts_ok = (if spec.more_options { actual.len() >= expected.len() } else { actual.len() == expected.len() })
            && expected.iter().zip(&actual).all(|(e, a)| opt_matches(e, a, remote_isn));
        if !opts_ok {
            let exp = if spec.options.is_none() {
                "(none)".to_string()
            } else {
                let mut x: Vec<String> = expected.iter().map(opt_spec_text).collect();
                if spec.more_options {
                    x.push("...".into());
                }
                format!("<{}>", x.join(","))
            };
            diff(
                "options",
                exp,
                format!("<{}>", actual.iter().map(|o| self.opt_text(o, Dir::Out)).collect::<Vec<_>>().join(",")),
            );
        }
        d
    }

    fn opt_text(&self, o: &TcpOption, dir: Dir) -> String {
        match o {
            TcpOption::Sack(blocks) => {
                // SACK blocks cover the other side's data.
                let base = match dir {
                    Dir::Out => self.remote_isn,
                    Dir::In => self.stack_isn.unwrap_or(0),
                };
                let b: Vec<String> = blocks
                    .iter()
                    .map(|(l, r)| format!("{}:{}", l.0.wrapping_sub(base), r.0.wrapping_sub(base)))
                    .collect();
                format!("sack {}", b.join(" "))
            }
            other => other.to_string(),
        }
    }

    /// A packet in the script's notation, relative to each side's ISN.
    /// Puts a segment the stack sent into the trace; returns its rendering.
    fn trace_out(&mut self, at: Duration, p: &IpPacket) -> String {
        let text = self.render(&p.tcp, Dir::Out);
        self.trace.push(TraceEntry::Packet {
            at,
            dir: Dir::Out,
            text: text.clone(),
            bytes: p.emit().unwrap_or_default(),
        });
        text
    }

    fn render(&self, t: &TcpRepr, dir: Dir) -> String {
        let (seq_base, ack_base) = match dir {
            Dir::In => (self.remote_isn, self.stack_isn.unwrap_or(0)),
            Dir::Out => (self.stack_isn.unwrap_or(0), self.remote_isn),
        };
        let seq = t.seq.0.wrapping_sub(seq_base);
        let len = t.payload.len() as u32;
        let mut s = format!("{} {}:{}({})", t.flags, seq, seq.wrapping_add(len), len);
        if t.flags.ack() {
            s.push_str(&format!(" ack {}", t.ack.0.wrapping_sub(ack_base)));
        }
        s.push_str(&format!(" win {}", t.window));
        if t.flags.urg() {
            s.push_str(&format!(" urg {}", t.urgent));
        }
        let opts: Vec<String> =
            t.options.iter().filter(|o| **o != TcpOption::Eol).map(|o| self.opt_text(o, dir)).collect();
        if !opts.is_empty() {
            s.push_str(&format!(" <{}>", opts.join(",")));
        }
        s
    }
}

fn fmt_field<T: fmt::Display + Copy + PartialEq>(f: &Field<T>) -> String {
    match f {
        Field::Any => "*".into(),
        Field::Is(v) => v.to_string(),
    }
}

/// Breaks the TCP checksum of an emitted IPv4 or IPv6 datagram (the engine
/// emits no IPv6 extension headers).
fn break_tcp_checksum(wire: &mut [u8]) {
    let ip_len = match wire.first().map(|b| b >> 4) {
        Some(4) => usize::from(wire[0] & 0x0f) * 4,
        _ => 40,
    };
    if let Some(b) = wire.get_mut(ip_len + 16) {
        *b ^= 0xff;
    }
}

fn window_text(lo: Duration, hi: Duration, any: bool) -> String {
    if any {
        format!("any time after {:.6}", lo.as_secs_f64())
    } else if lo == hi {
        format!("at {:.6}", lo.as_secs_f64())
    } else {
        format!("between {:.6} and {:.6}", lo.as_secs_f64(), hi.as_secs_f64())
    }
}

fn call_text(step_text: &str) -> String {
    // "call: listen(3, 1) = 0" -> "listen(3, 1)"
    let t =
        step_text.split("call:").nth(1).unwrap_or(step_text).trim().trim_matches(|c| c == '"' || c == '\'' || c == '}');
    t.split(" =").next().unwrap_or(t).trim().trim_matches('"').to_string()
}

fn opt_spec_text(o: &OptSpec) -> String {
    match o {
        OptSpec::Eol => "eol".into(),
        OptSpec::Nop => "nop".into(),
        OptSpec::Mss(m) => format!("mss {}", fmt_field(m)),
        OptSpec::WScale(w) => format!("wscale {}", fmt_field(w)),
        OptSpec::SackOk => "sackOK".into(),
        OptSpec::Sack(b) => format!("sack {}", b.iter().map(|(l, r)| format!("{l}:{r}")).collect::<Vec<_>>().join(" ")),
        OptSpec::Ts { val, ecr } => format!("TS val {} ecr {}", fmt_field(val), fmt_field(ecr)),
        OptSpec::Unknown { kind, data } => {
            format!("opt{kind} {}", data.iter().map(|b| format!("{b:02x}")).collect::<String>())
        }
    }
}

fn opt_matches(e: &OptSpec, a: &TcpOption, remote_isn: u32) -> bool {
    match (e, a) {
        (OptSpec::Eol, TcpOption::Eol)
        | (OptSpec::Nop, TcpOption::Nop)
        | (OptSpec::SackOk, TcpOption::SackPermitted) => true,
        (OptSpec::Mss(f), TcpOption::Mss(v)) => f.matches(*v),
        (OptSpec::WScale(f), TcpOption::WindowScale(v)) => f.matches(*v),
        (OptSpec::Ts { val, ecr }, TcpOption::Timestamps { tsval, tsecr }) => {
            val.matches(*tsval) && ecr.matches(*tsecr)
        }
        (OptSpec::Sack(eb), TcpOption::Sack(ab)) => {
            eb.len() == ab.len()
                && eb.iter().zip(ab.iter()).all(|((el, er), (al, ar))| {
                    *el == al.0.wrapping_sub(remote_isn) && *er == ar.0.wrapping_sub(remote_isn)
                })
        }
        (OptSpec::Unknown { kind, data }, TcpOption::Unknown { kind: k, data: d }) => kind == k && data[..] == d[..],
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    //! The engine's judgement of "before this step" when it reaches a step
    //! late, against a fake target whose clock runs on while the engine is
    //! away (as the kernel's does on a loaded machine).
    use super::*;
    use reference_stack::State;
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
        fn inject(&mut self, pkt: &IpPacket, _wire: &[u8]) -> Result<(), TargetError> {
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
            self.sent.extend(reply.map(|p| (self.now, p)));
            Ok(())
        }
        fn call(&mut self, _: &TargetCall) -> Result<CallOutcome, TargetError> {
            Err(TargetError::Unsupported("calls".into()))
        }
        fn retry(&mut self, _: &TargetCall) -> Result<CallOutcome, TargetError> {
            Err(TargetError::Unsupported("calls".into()))
        }
        fn next_wakeup(&self) -> Option<Duration> {
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
        let script = crate::script::parse(Path::new("late.yaml"), text).expect("valid").remove(0);
        let mut t = Late {
            now: Duration::ZERO,
            lag: Duration::from_millis(lag_ms),
            plan: VecDeque::new(),
            sent: VecDeque::new(),
            ack_the_ack,
            script: script.clone(),
        };
        let fin = t.packet(TcpFlags::FIN | TcpFlags::ACK, 1001, 1);
        t.plan.push_back((Duration::from_millis(110), fin));
        run(&script, &mut t).outcome
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
