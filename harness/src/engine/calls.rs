//! Socket calls: resolving the script's call for the target, calls that
//! block (their return time measured, not rounded to the next step), and the
//! checks of what a call gives back.

use super::numbering::Numbering;
use super::outcome::FieldDiff;
use super::run::{mismatch, Pending, Run, StepError};
use super::timing::window_text;
use crate::script::call::{
    cmsgs_text, epoll_names, recv_flag_names, BindTo, Call, CallSpec, Cmsg, EventData, Expect, Fd, OutCheck, Resolve,
    Resolved, Scripted,
};
use crate::script::time::Base;
use crate::script::{Script, Step};
use crate::target::{CallOutcome, CallValue, Clock, TargetCall, TargetError};
use std::net::SocketAddr;
use std::time::Duration;

/// The script's addresses and descriptors, for [`Call::map`].
struct Resolver<'a> {
    script: &'a Script,
    num: &'a Numbering,
}

impl Resolve<Scripted, Resolved> for Resolver<'_> {
    fn fd(&self, fd: Fd) -> Fd {
        self.num.real_fd(fd)
    }
    fn family(&self, ipv6: bool) -> bool {
        ipv6 || self.script.local.is_ipv6()
    }
    fn local(&self, a: BindTo) -> SocketAddr {
        let s = self.script;
        match a {
            BindTo::Default => SocketAddr::new(s.local, s.local_port),
            BindTo::Port(p) => SocketAddr::new(s.local, p),
            BindTo::Addr(a) => a,
        }
    }
    fn remote(&self, a: Option<SocketAddr>) -> SocketAddr {
        a.unwrap_or_else(|| SocketAddr::new(self.script.remote, self.script.remote_port))
    }
    fn peer(&self, to: bool) -> Option<SocketAddr> {
        to.then(|| SocketAddr::new(self.script.remote, self.num.remote_port))
    }
}

/// "call: listen(3, 1) = 0" -> "listen(3, 1)".
fn call_text(step_text: &str) -> String {
    let t =
        step_text.split("call:").nth(1).unwrap_or(step_text).trim().trim_matches(|c| c == '"' || c == '\'' || c == '}');
    t.split(" =").next().unwrap_or(t).trim().trim_matches('"').to_string()
}

impl Run<'_> {
    pub(super) fn step_call(&mut self, i: usize, step: &Step, spec: &CallSpec, lo: Duration) -> Result<(), StepError> {
        let at = self.reach(step, lo)?;
        let call = spec.call.clone().map(&Resolver { script: self.script, num: &self.num });
        self.last_fd = spec.call.fd().or(self.last_fd);
        let text = call_text(&step.text);
        // When the call is really made: after its script time on a loaded
        // machine (the stack's answers come after it), the same on a virtual
        // clock; with `clock: script`, its script time.
        let made = if self.script.script_clock { at } else { self.target.now().max(at) };
        self.time.lag = made - at;
        self.flush_marks(None);
        let outcome = self.target.call(&call).map_err(|e| match e {
            TargetError::Unsupported(m) => TargetError::Unsupported(format!("`{text}`: {m}")),
            other => other,
        })?;
        match outcome {
            CallOutcome::Done { ret, out } => self.finish_call(&text, spec, &call, ret, out, at)?,
            CallOutcome::WouldBlock => {
                if self.pending.is_some() {
                    return Err(mismatch("a second blocking call while one is pending".into(), vec![]));
                }
                let (rlo, rhi) = match step.time.returns {
                    Some(r) => {
                        let t = match step.time.base {
                            Base::Relative => made + r,
                            // Moves with the call's lateness, as an
                            // absolute `out` does (`Timing::deadline`).
                            Base::Absolute => r + self.time.lag,
                        };
                        (t, t)
                    }
                    None => (made, made),
                };
                self.pending =
                    Some(Pending { step: i, call, spec: spec.clone(), text, called: made, lo: rlo, hi: rhi });
            }
        }
        self.time.last = made;
        Ok(())
    }

    /// A call returned `ret` (and `out`) at `at`: recorded, what it teaches
    /// learned, and checked against the step.
    fn finish_call(
        &mut self,
        text: &str,
        spec: &CallSpec,
        call: &TargetCall,
        ret: CallValue,
        out: Option<CallValue>,
        at: Duration,
    ) -> Result<(), StepError> {
        self.trace.call(at, text, ret.to_string());
        self.learn_ports(call);
        let ret = self.name_descriptors(text, spec, call, ret, &out)?;
        check_return(text, &spec.expect, &ret)?;
        self.check_out(text, &spec.out, &ret, out)
    }

    /// Learns the connection's ports from the calls that set them, until it
    /// is under way: a listener bound later on another port is not the
    /// script's connection (a `new_connection` learns them again).
    fn learn_ports(&mut self, call: &TargetCall) {
        match call {
            Call::Bind { addr, .. } if self.num.stack_isn.is_none() => self.num.local_port = addr.port(),
            Call::Connect { addr, .. } if self.num.stack_isn.is_none() => self.num.remote_port = addr.port(),
            _ => {}
        }
    }

    /// `fds: mapped`: a new descriptor takes the number the script gave it
    /// (the return value reads as the script's). A pipe's ends are the
    /// script's names, or must be the numbers the target gave.
    fn name_descriptors(
        &mut self,
        text: &str,
        spec: &CallSpec,
        call: &TargetCall,
        ret: CallValue,
        out: &Option<CallValue>,
    ) -> Result<CallValue, StepError> {
        let mut ret = ret;
        if let (
            true,
            Call::Socket { .. }
            | Call::Accept { .. }
            | Call::EpollCreate {}
            | Call::Fcntl { label: "F_DUPFD" | "F_DUPFD_CLOEXEC", .. },
            Expect::Value(want),
            CallValue::Value(got),
        ) = (self.script.fds_mapped, call, &spec.expect, &ret)
        {
            self.num.fd_map.insert(*want as i32, *got as i32);
            ret = CallValue::Value(*want);
        }
        if let (OutCheck::Ends(fds), Some(CallValue::Pair(a, b))) = (&spec.out, out) {
            if self.script.fds_mapped {
                self.num.fd_map.insert(fds[0], *a);
                self.num.fd_map.insert(fds[1], *b);
            } else if [*a, *b] != *fds {
                let want = format!("[{}, {}]", fds[0], fds[1]);
                return Err(mismatch(
                    format!("`{text}` gave the ends [{a}, {b}], expected {want}"),
                    vec![FieldDiff { field: "fds", expected: want, actual: format!("[{a}, {b}]") }],
                ));
            }
        }
        Ok(ret)
    }

    /// What the call gave back besides its return value, against the step.
    fn check_out(
        &self,
        text: &str,
        check: &OutCheck,
        ret: &CallValue,
        out: Option<CallValue>,
    ) -> Result<(), StepError> {
        match check {
            OutCheck::None | OutCheck::Ends(_) => Ok(()),
            OutCheck::Event(want) => {
                let got = match out {
                    Some(CallValue::Event { events, data }) => Some((events, data)),
                    _ => None,
                };
                // A descriptor is the target's number for the script's.
                let want_real = want.map(|(e, d)| match d {
                    EventData::Fd(fd) => (e, self.num.real_fd(fd) as u64),
                    EventData::Value(v) => (e, v),
                });
                if got == want_real {
                    return Ok(());
                }
                let by_fd = matches!(want, Some((_, EventData::Fd(_))));
                let show = |w: Option<(u32, u64)>| match w {
                    None => "no event".to_string(),
                    Some((e, d)) if by_fd => format!("{{events={}, fd={}}}", epoll_names(e), d as i64),
                    Some((e, d)) => format!("{{events={}, u64={d}}}", epoll_names(e)),
                };
                Err(mismatch(
                    format!("`{text}` reported {}, expected {}", show(got), show(want_real)),
                    vec![FieldDiff { field: "event", expected: show(want_real), actual: show(got) }],
                ))
            }
            // A failed recvmsg leaves the msghdr as it was: nothing to check.
            OutCheck::Msg { .. } if !matches!(ret, CallValue::Value(_)) => Ok(()),
            OutCheck::Msg { flags, cmsgs } => self.check_msghdr(text, *flags, cmsgs.as_deref(), out),
            OutCheck::Bytes(want) => {
                let got = match out {
                    Some(CallValue::Bytes(b)) => b,
                    _ => return Ok(()),
                };
                if got == *want {
                    return Ok(());
                }
                let show = |b: &[u8]| {
                    format!("{} ({} octets)", crate::script::print::quoted(&String::from_utf8_lossy(b)), b.len())
                };
                Err(mismatch(
                    format!("`{text}` read {}, expected {}", show(&got), show(want)),
                    vec![FieldDiff { field: "value", expected: show(want), actual: show(&got) }],
                ))
            }
            OutCheck::Value(e) => {
                let got = out.map_or_else(|| "nothing".to_string(), |o| o.to_string());
                let ok = match (e, &got) {
                    (Expect::Error(x), g) => *g == format!("-1 {}", x.name()) || *g == x.name(),
                    (other, g) => other.to_string() == *g,
                };
                if ok {
                    return Ok(());
                }
                Err(mismatch(
                    format!("`{text}` gave the value {got}, expected {e}"),
                    vec![FieldDiff { field: "value", expected: e.to_string(), actual: got }],
                ))
            }
        }
    }

    /// recvmsg's msghdr: its flags and control messages, where the step says.
    fn check_msghdr(
        &self,
        text: &str,
        want_flags: Option<i32>,
        want_cmsgs: Option<&[Cmsg]>,
        out: Option<CallValue>,
    ) -> Result<(), StepError> {
        let (got_flags, got_cmsgs) = match out {
            Some(CallValue::Msg { flags, cmsgs }) => (flags, cmsgs),
            _ => (0, Vec::new()),
        };
        let mut diffs = Vec::new();
        if let Some(want) = want_flags.filter(|w| *w != got_flags) {
            diffs.push(FieldDiff {
                field: "msg_flags",
                expected: recv_flag_names(want),
                actual: recv_flag_names(got_flags),
            });
        }
        if let Some(want) = want_cmsgs {
            // packetdrill's rule for SCM_TIMESTAMPING: within the script's
            // tolerance of the expected script time.
            let tol = self.script.tolerance.as_micros() as i64;
            let same = want.len() == got_cmsgs.len()
                && want.iter().zip(&got_cmsgs).all(|(w, g)| match (w, g) {
                    (Cmsg::Timestamping(None), Cmsg::Timestamping(_)) => true,
                    (Cmsg::Timestamping(Some(a)), Cmsg::Timestamping(Some(b))) => (a - b).abs() <= tol,
                    // Every attribute the kernel sent, none more; packetdrill's
                    // rule for each (the kernel's order is its own and fixed,
                    // so they are matched by name).
                    (Cmsg::OptStats(w), Cmsg::OptStats(g)) => {
                        w.len() == g.len()
                            && w.iter().all(|(wn, wv)| {
                                g.iter().find(|(gn, _)| gn == wn).is_some_and(|(_, gv)| {
                                    crate::script::call::opt_stat_holds(wn, *wv, *gv, tol as u64)
                                })
                            })
                    }
                    (w, g) => w == g,
                });
            if !same {
                diffs.push(FieldDiff { field: "cmsg", expected: cmsgs_text(want), actual: cmsgs_text(&got_cmsgs) });
            }
        }
        if diffs.is_empty() {
            Ok(())
        } else {
            Err(mismatch(format!("`{text}` returned a different msghdr"), diffs))
        }
    }

    /// With a call blocked, moves the clock towards `until` in the target's
    /// own steps ([`crate::target::Target::next_wakeup`]), retrying the call
    /// after each, so it returns at the time it really did. Packets sent
    /// meanwhile stay queued for the steps that follow.
    pub(super) fn settle_pending(&mut self, until: Duration) -> Result<(), StepError> {
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

    /// `clock: script` (packetdrill's model: one thread makes the calls): a
    /// call, TCP_INFO or state read waits for a blocked call to return, at
    /// most until that call's return window has closed.
    pub(super) fn await_pending(&mut self) -> Result<(), StepError> {
        while let Some(p) = &self.pending {
            let limit = p.hi + self.time.late_tol(p.hi.saturating_sub(p.called));
            self.check_pending()?;
            let now = self.target.now();
            if self.pending.is_none() || now > limit {
                break;
            }
            // A kernel's socket wakes nobody here: look again soon. A
            // virtual clock jumps to the target's next timer.
            let next = match (self.target.clock(), self.target.next_wakeup()) {
                (Clock::Virtual, Some(w)) if w > now => w.min(limit),
                _ => (now + Duration::from_micros(100)).min(limit),
            };
            self.target.advance(next.max(now + Duration::from_micros(1)))?;
        }
        Ok(())
    }

    /// Collects a blocked call if it has returned, and judges it (its
    /// failures are its own step's).
    pub(super) fn check_pending(&mut self) -> Result<(), StepError> {
        let Some(p) = self.pending.take() else { return Ok(()) };
        let (ret, out) = match self.target.retry(&p.call)? {
            CallOutcome::WouldBlock => {
                self.pending = Some(p);
                return Ok(());
            }
            CallOutcome::Done { ret, out } => (ret, out),
        };
        let now = self.target.returned_at().unwrap_or_else(|| self.target.now());
        // Timer slack grows with how long the call was blocked.
        let early = self.time.early_tol(p.hi.saturating_sub(p.called));
        let late = self.time.late_tol(p.hi.saturating_sub(p.called));
        let at_its_step = |e: StepError| match e {
            StepError::Mismatch { step: None, message, diffs } => {
                StepError::Mismatch { step: Some(p.step), message, diffs }
            }
            other => other,
        };
        if now + early < p.lo || now > p.hi + late {
            self.trace.call(now, &p.text, ret.to_string());
            return Err(at_its_step(mismatch(
                format!(
                    "`{}` returned at {:.6}, expected {}{}",
                    p.text,
                    now.as_secs_f64(),
                    window_text(p.lo, p.hi, false),
                    self.time.tick_note(now + early < p.lo).map(|n| format!(" ({n})")).unwrap_or_default()
                ),
                vec![FieldDiff {
                    field: "return time",
                    expected: window_text(p.lo, p.hi, false),
                    actual: format!("{:.6}", now.as_secs_f64()),
                }],
            )));
        }
        self.finish_call(&p.text, &p.spec, &p.call, ret, out, now).map_err(at_its_step)
    }
}

/// What a call returned against what it must.
fn check_return(text: &str, expect: &Expect, ret: &CallValue) -> Result<(), StepError> {
    let ok = match (expect, ret) {
        (Expect::Any, _) => true,
        (Expect::Failed, r) => matches!(r, CallValue::Error(_)),
        (Expect::Value(v), CallValue::Value(r)) => v == r,
        (Expect::Error(e), CallValue::Error(r)) => e == r,
        (Expect::Events(v), CallValue::Events(r)) => v == r,
        (Expect::Value(0), CallValue::Events(0)) => true,
        _ => false,
    };
    if ok {
        return Ok(());
    }
    Err(mismatch(
        format!("`{text}` returned {ret}, expected {expect}"),
        vec![FieldDiff { field: "return", expected: expect.to_string(), actual: ret.to_string() }],
    ))
}
