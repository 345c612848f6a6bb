//! One function per step kind. Each brings the target to the step's time,
//! does what the step says and checks what came back; a mismatch is returned
//! for the step loop to place.

use super::numbering::Numbering;
use super::outcome::FieldDiff;
use super::run::{mismatch, Run, StepError};
use super::timing::window_text;
use super::trace::{render, Dir, TraceEntry};
use crate::script::packet::{IcmpSpec, PacketSpec};
use crate::script::{Flood, InfoCheck, InfoField, Outbound, StateOf, Step, StepKind, TargetKind};
use crate::target::{Inject, TargetError};
use reference_stack::wire::{IcmpErrorRepr, IpPacket, QuotedTcp, TcpFlags};
use reference_stack::State;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long an `out` step at `*` waits for its packet.
const ANY_TIME: Duration = Duration::from_secs(24 * 3600);

impl Run<'_> {
    /// A step, with the numbers of the connection it names (`conn:`) in
    /// place of the main one's while it runs; descriptors stay the script's.
    pub(super) fn step(&mut self, i: usize, step: &Step) -> Result<(), StepError> {
        let Some(name) = step.conn.as_deref() else { return self.step_main(i, step) };
        let port = self.script.connections.iter().find(|(n, _)| n == name).map_or(self.num.remote_port, |c| c.1);
        let mut other = self.conns.remove(name).unwrap_or_else(|| Numbering::other(self.script, port));
        std::mem::swap(&mut self.num, &mut other);
        std::mem::swap(&mut self.num.fd_map, &mut other.fd_map);
        // The main connection's numbers wait under the name "" (for what
        // the stack sends it meanwhile: see `learn_unchecked`).
        self.conns.insert(String::new(), other);
        let r = self.step_main(i, step);
        if r.is_err() {
            self.failed_conn = Some(name.to_string());
        }
        let mut other = self.conns.remove("").expect("the main connection's numbers");
        std::mem::swap(&mut self.num.fd_map, &mut other.fd_map);
        std::mem::swap(&mut self.num, &mut other);
        self.conns.insert(name.to_string(), other);
        r
    }

    fn step_main(&mut self, i: usize, step: &Step) -> Result<(), StepError> {
        let (lo, hi) = self.time.window(&step.time);
        if !step.time.any {
            self.settle_pending(lo)?;
        }
        if self.script.script_clock
            && matches!(step.kind, StepKind::Call(_) | StepKind::TcpInfo { .. } | StepKind::State { .. })
        {
            self.await_pending()?;
        }
        match &step.kind {
            StepKind::In(spec) => self.step_in(step, spec, lo),
            StepKind::Icmp(spec) => self.step_icmp(step, spec, lo),
            StepKind::Out(per) => match step.within {
                Some(d) => {
                    self.await_within(i, per, d);
                    Ok(())
                }
                None => self.step_out(step, per, lo, hi),
            },
            StepKind::Shell(cmd) => self.step_shell(step, cmd, lo),
            StepKind::NewConnection { remote_isn, remote_port } => {
                self.num.new_connection(self.script, *remote_isn, *remote_port);
                Ok(())
            }
            StepKind::Sysctl(kv) => self.step_sysctl(step, kv, lo),
            StepKind::Qdisc(_) | StepKind::Route(_) | StepKind::TcpMetricsFlush => self.step_netconf(step, lo),
            StepKind::Counters(fields) => self.step_counters(step, fields, lo),
            StepKind::Flood(f) => self.step_flood(step, f, lo),
            StepKind::Call(spec) => self.step_call(i, step, spec, lo),
            StepKind::State { of, is } => self.step_state(step, *of, *is, lo),
            StepKind::TcpInfo { fd, fields } => self.step_tcp_info(step, *fd, fields, lo),
            StepKind::Quiet(d) => self.step_quiet(step, *d, lo),
            StepKind::Wait(d) => self.step_wait(step, *d, lo),
        }
    }

    /// Brings the target to a step's time (`lo`, or now for `*`), failing
    /// on anything sent before it that no step expected.
    pub(super) fn reach(&mut self, step: &Step, lo: Duration) -> Result<Duration, StepError> {
        let at = self.time.at(&step.time, lo);
        self.no_packets_until(at)?;
        self.target.advance(at)?;
        if self.time.real {
            // The engine's own view: it got to the step this late (a
            // previous step took long, or it waited for a CPU).
            let now = self.target.now();
            if now > at + super::run::LATE_MIN {
                self.late.push((at, now));
            }
        }
        Ok(at)
    }

    /// Fails on any packet the target sent before `t` (nothing expected it);
    /// with `outbound: ignore`, records them instead; with `queue`, leaves
    /// them for the next `out` step. "Before" includes everything sent by
    /// the time the previous step was done ([`super::timing::Timing::step_end`]):
    /// an answer to that step's segment is never late enough to belong to
    /// this one.
    pub(super) fn no_packets_until(&mut self, t: Duration) -> Result<(), StepError> {
        let t = t.max(self.time.step_end);
        // Awaited `within` packets whose deadline comes first are judged
        // first, with what was sent by then.
        while let Some(by) = self.expected.iter().map(|e| e.by).filter(|by| *by < t).min() {
            self.packets_until(by)?;
            if let Some(k) = self.expected.iter().position(|e| e.by == by) {
                let e = self.expected.remove(k);
                return Err(StepError::Mismatch {
                    step: Some(e.step),
                    message: format!(
                        "expected a packet by {:.6} (within {:?} of {:.6}), nothing that matches was sent",
                        e.by.as_secs_f64(),
                        e.within,
                        e.from.as_secs_f64()
                    ),
                    diffs: vec![],
                });
            }
        }
        self.packets_until(t)
    }

    /// The packets sent by `t`: an awaited `within` step's if one matches,
    /// else what `outbound` says.
    fn packets_until(&mut self, t: Duration) -> Result<(), StepError> {
        // `outbound: queue` leaves them for the next `out` step (a script
        // with `within` steps cannot say `queue`).
        if self.script.outbound == Outbound::Queue {
            return Ok(());
        }
        while let Some((at, p)) = self.next_packet(t)? {
            if self.take_expected(at, &p)? {
                continue;
            }
            match self.script.outbound {
                Outbound::Queue | Outbound::Ignore => {
                    self.learn_unchecked(&p);
                    self.out_entry(at, &p);
                }
                Outbound::Check => {
                    let text = self.out_entry(at, &p);
                    return Err(mismatch(
                        format!(
                            "unexpected packet at {:.6}: out {text} (the script expected nothing to be sent before this step)",
                            at.as_secs_f64()
                        ),
                        vec![],
                    ));
                }
            }
        }
        Ok(())
    }

    /// What a packet no step checks teaches the connection it is for: the
    /// one of the step (or the main one) if its port is theirs, else the
    /// header's connection of that port; anything else teaches the step's
    /// connection its TS val, as before there were several.
    fn learn_unchecked(&mut self, p: &IpPacket) {
        let port = p.tcp.dst_port;
        if p.ip.dst == self.script.remote && port != self.num.remote_port {
            if let Some(n) = self.conns.values_mut().find(|n| n.remote_port == port) {
                n.learn_unchecked(self.script, p);
                return;
            }
            if let Some((name, _)) = self.script.connections.iter().find(|(_, q)| *q == port) {
                let mut n = Numbering::other(self.script, port);
                n.learn_unchecked(self.script, p);
                self.conns.insert(name.clone(), n);
                return;
            }
        }
        self.num.learn_unchecked(self.script, p);
    }

    /// `within: D` on an `out` step: its packet is awaited from now on, by
    /// D after the previous step (with the tolerance for that gap), while
    /// the next steps run on their own times.
    fn await_within(&mut self, i: usize, per: &BTreeMap<TargetKind, PacketSpec>, within: Duration) {
        let Some(spec) = per.get(&self.kind) else { return };
        let from = self.time.last;
        let by = from + within + self.time.late_tol(within);
        self.expected.push(super::run::Expected { step: i, spec: spec.clone(), from, within, by });
    }

    /// Offers a packet sent at `at` to the awaited `within` steps, oldest
    /// first; true when one took it (it matched, by its deadline).
    fn take_expected(&mut self, at: Duration, p: &IpPacket) -> Result<bool, StepError> {
        for k in 0..self.expected.len() {
            if at > self.expected[k].by {
                continue;
            }
            // Matching a SYN teaches the stack's ISN and port: only if taken.
            let learned = (self.num.stack_isn, self.num.local_port);
            let spec = self.expected[k].spec.clone();
            if self.num.match_out(self.script, &spec, p).is_empty() {
                self.expected.remove(k);
                self.out_entry(at, p);
                if let Some((v, _)) = p.tcp.timestamps() {
                    self.learn_tsval(&spec, v, at)?;
                }
                return Ok(true);
            }
            (self.num.stack_isn, self.num.local_port) = learned;
        }
        Ok(false)
    }

    /// After an injection: what follows counts from when the datagram really
    /// went in (on a loaded machine that can be after its script time, and
    /// the stack's answer can only come after it; in virtual time the same
    /// instant); with `clock: script`, from its script time.
    fn injected(&mut self, at: Duration, dir_text: String, wire: Vec<u8>) -> Duration {
        let sent = self.target.now().max(at);
        let step = self.trace.step;
        self.trace.push(TraceEntry::Packet { at: sent, dir: Dir::In, text: dir_text, bytes: wire, step });
        self.time.last = if self.script.script_clock { at } else { sent };
        self.time.lag = self.time.last - at;
        sent
    }

    fn step_in(&mut self, step: &Step, spec: &PacketSpec, lo: Duration) -> Result<(), StepError> {
        let at = self.reach(step, lo)?;
        let pkt = self.num.build_in(self.script, spec).map_err(|m| mismatch(m, vec![]))?;
        let mut wire = pkt.emit().map_err(|e| TargetError::Unsupported(format!("the packet cannot be built: {e}")))?;
        let mut text = render(self.num.isns(), &pkt.tcp, Dir::In);
        if self.shows_ports(pkt.tcp.src_port) {
            text = format!("{}>{} {text}", pkt.tcp.src_port, pkt.tcp.dst_port);
        }
        if spec.bad_checksum {
            break_tcp_checksum(&mut wire);
            text.push_str(" bad_checksum");
        }
        self.injected(at, text, wire.clone());
        self.flush_marks(None);
        self.target.inject(Inject::Tcp { pkt: &pkt, wire: &wire })?;
        Ok(())
    }

    fn step_icmp(&mut self, step: &Step, spec: &IcmpSpec, lo: Duration) -> Result<(), StepError> {
        let at = self.reach(step, lo)?;
        let s = self.script;
        let v6 = s.local.is_ipv6();
        let Some((kind, code)) = (if v6 { spec.v6 } else { spec.v4 }) else {
            let v = if v6 { 6 } else { 4 };
            return Err(mismatch(
                format!("`icmp {}` is not an ICMPv{v} message (the script's addresses are IPv{v})", spec.type_name),
                vec![],
            ));
        };
        let repr = IcmpErrorRepr {
            src: s.remote,
            dst: s.local,
            kind,
            code,
            mtu: spec.mtu,
            quoted: QuotedTcp {
                src: s.local,
                src_port: self.num.local_port,
                dst: s.remote,
                dst_port: self.num.remote_port,
                seq: self.num.stack_isn.unwrap_or(0).wrapping_add(spec.seq),
                payload_len: spec.len,
            },
        };
        let wire =
            repr.emit().map_err(|e| TargetError::Unsupported(format!("the ICMP message cannot be built: {e}")))?;
        self.injected(at, spec.to_string(), wire.clone());
        self.flush_marks(None);
        self.target.inject(Inject::Icmp { wire: &wire })?;
        Ok(())
    }

    fn step_out(
        &mut self,
        step: &Step,
        per: &BTreeMap<TargetKind, PacketSpec>,
        lo: Duration,
        hi: Duration,
    ) -> Result<(), StepError> {
        let Some(spec) = per.get(&self.kind) else { return Ok(()) };
        let gap = hi.saturating_sub(self.time.last);
        let early = self.time.early_tol(gap);
        let late = self.time.late_tol(gap);
        let deadline = if step.time.any { self.time.last + ANY_TIME } else { self.time.deadline(&step.time, hi, late) };
        let Some((at, p)) = self.next_out(deadline)? else {
            return Err(mismatch(
                format!(
                    "expected a packet by {:.6} ({}{}), nothing was sent",
                    deadline.as_secs_f64(),
                    window_text(lo, hi, step.time.any),
                    self.time.tick_note(false).filter(|_| !step.time.any).map(|n| format!(", {n}")).unwrap_or_default()
                ),
                vec![],
            ));
        };
        let (at, p) = self.merge_segments(spec, at, p, deadline)?;
        // Match first: a SYN teaches the stack's ISN, which the trace uses.
        let diffs = self.num.match_out(self.script, spec, &p);
        let text = self.out_entry(at, &p);
        if !diffs.is_empty() {
            return Err(mismatch(format!("packet at {:.6} differs: out {text}", at.as_secs_f64()), diffs));
        }
        if !step.time.any && at + early < lo {
            return Err(mismatch(
                format!(
                    "packet sent too early at {:.6}, expected {}{}",
                    at.as_secs_f64(),
                    window_text(lo, hi, false),
                    self.time.tick_note(true).map(|n| format!(" ({n})")).unwrap_or_default()
                ),
                vec![FieldDiff {
                    field: "time",
                    expected: window_text(lo, hi, false),
                    actual: format!("{:.6}", at.as_secs_f64()),
                }],
            ));
        }
        if let Some((v, _)) = p.tcp.timestamps() {
            self.learn_tsval(spec, v, at)?;
        }
        // `clock: script`: an exactly timed packet counts as sent at
        // its script time (it was within the tolerance of it).
        let exact = !step.time.any && step.time.lo == step.time.hi;
        self.time.last = if self.script.script_clock && exact { lo.max(self.time.last) } else { at };
        Ok(())
    }

    /// `out_segments: merge`: consecutive segments that add up to the
    /// expected length stand for it (packetdrill without --strict_segments):
    /// headers of the last, sequence number and CWR of the first, payloads
    /// joined.
    fn merge_segments(
        &mut self,
        spec: &PacketSpec,
        mut at: Duration,
        mut p: IpPacket,
        deadline: Duration,
    ) -> Result<(Duration, IpPacket), StepError> {
        let crate::script::packet::Field::Is(want) = spec.len else { return Ok((at, p)) };
        if !self.script.merge_out {
            return Ok((at, p));
        }
        while (p.tcp.payload.len() as u32) < want && !p.tcp.payload.is_empty() {
            let end = p.tcp.seq.0.wrapping_add(p.tcp.payload.len() as u32);
            let Some((at2, next)) = self.next_out(deadline)? else { break };
            if next.tcp.seq.0 != end || next.tcp.payload.is_empty() || next.tcp.src_port != p.tcp.src_port {
                self.out_entry(at, &p);
                let text = self.out_entry(at2, &next);
                return Err(mismatch(
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
        Ok((at, p))
    }

    /// The stack's TS val `v`, sent at `at`: the latest, and with
    /// `timestamps: mapped` the value the script's name for it stands for.
    /// With `ts_tick`, it must also have advanced with the clock since the
    /// first (packetdrill's --tcp_ts_tick_usecs), within the step's slack.
    fn learn_tsval(&mut self, spec: &PacketSpec, v: u32, at: Duration) -> Result<(), StepError> {
        use crate::script::packet::{Field, OptSpec};
        self.num.last_tsval = Some(v);
        if !self.script.ts_mapped {
            return Ok(());
        }
        let script_val = spec.options.iter().flatten().find_map(|o| match o {
            OptSpec::Ts { val: Field::Is(sv), .. } => Some(*sv),
            _ => None,
        });
        let Some(sv) = script_val else { return Ok(()) };
        if let (Some(tick), Some((s0, l0))) = (self.script.ts_tick, self.num.ts_first) {
            let mapped = s0.wrapping_add(v.wrapping_sub(l0));
            let off = i64::from(mapped.wrapping_sub(sv) as i32).unsigned_abs();
            let dev = tick.saturating_mul(off as u32);
            let slack = self.time.ts_slack(at);
            if dev > slack {
                return Err(mismatch(
                    format!(
                        "TS val is {} ticks of {} us away from the script's, more than {:.3} ms",
                        off,
                        tick.as_micros(),
                        slack.as_secs_f64() * 1e3
                    ),
                    vec![FieldDiff { field: "TS val", expected: sv.to_string(), actual: mapped.to_string() }],
                ));
            }
        }
        self.num.ts_map.insert(sv, v);
        self.num.ts_first.get_or_insert((sv, v));
        Ok(())
    }

    /// The next packet for an `out` step. With `outbound: queue`, packets of
    /// the script's earlier connections are passed over (packetdrill ignores
    /// packets that are not the socket under test's); they stay in the trace.
    fn next_out(&mut self, deadline: Duration) -> Result<Option<(Duration, IpPacket)>, StepError> {
        loop {
            // A packet already read is this step's to judge, however late
            // the engine got here; the step's time check says if it was late.
            let deadline = deadline.max(self.target.now());
            let Some((at, p)) = self.next_packet(deadline)? else { return Ok(None) };
            if self.take_expected(at, &p)? {
                continue;
            }
            let old = self.num.old_conns.contains(&(p.tcp.src_port, p.tcp.dst_port));
            if self.script.outbound == Outbound::Queue && old {
                self.out_entry(at, &p);
                continue;
            }
            return Ok(Some((at, p)));
        }
    }

    fn step_shell(&mut self, step: &Step, cmd: &str, lo: Duration) -> Result<(), StepError> {
        let at = self.reach(step, lo)?;
        if !self.allow_shell {
            return Err(TargetError::Unsupported("a `shell:` step without --allow-shell".into()).into());
        }
        self.trace.push(TraceEntry::Call { at, text: format!("call shell {cmd:?}"), ret: String::new() });
        let Some(host) = self.target.host() else {
            return Err(TargetError::Unsupported(format!("shell commands (`{cmd}`)")).into());
        };
        match host.shell(cmd) {
            // The command failed: a failure of the step, not of an oracle.
            Err(TargetError::Violation(m)) => return Err(mismatch(m, vec![])),
            other => other?,
        }
        self.time.last = at;
        Ok(())
    }

    fn step_sysctl(&mut self, step: &Step, kv: &[(String, String)], lo: Duration) -> Result<(), StepError> {
        let at = self.reach(step, lo)?;
        for (k, v) in kv {
            let Some(host) = self.target.host() else {
                return Err(TargetError::Unsupported(format!("sysctl {k}")).into());
            };
            host.sysctl(k, v)?;
        }
        self.time.last = at;
        Ok(())
    }

    /// A `qdisc:`, `route:` or `tcp_metrics:` step: the host's network
    /// setting, now.
    fn step_netconf(&mut self, step: &Step, lo: Duration) -> Result<(), StepError> {
        let at = self.reach(step, lo)?;
        let Some(host) = self.target.host() else {
            return Err(TargetError::Unsupported("qdisc, route and tcp_metrics settings".into()).into());
        };
        match &step.kind {
            StepKind::Qdisc(q) => host.qdisc(q)?,
            StepKind::Route(r) => host.route(r)?,
            StepKind::TcpMetricsFlush => host.tcp_metrics_flush()?,
            _ => unreachable!("a network setting"),
        }
        self.time.last = at;
        Ok(())
    }

    /// The next packet the stack sent by `deadline`: one a flood held back
    /// first, then the target's.
    pub(super) fn next_packet(&mut self, deadline: Duration) -> Result<Option<(Duration, IpPacket)>, TargetError> {
        if self.held.front().is_some_and(|(at, _)| *at <= deadline) {
            return Ok(self.held.pop_front());
        }
        self.target.next_packet(deadline)
    }

    /// A `flood` step: `count` segments, each from its own source of the
    /// script's network (numbered as the connection's), then the stack's
    /// answers to those sources within `settle` of the last, counted by
    /// their flags. What the stack sent elsewhere meanwhile is kept for the
    /// steps after it.
    fn step_flood(&mut self, step: &Step, f: &Flood, lo: Duration) -> Result<(), StepError> {
        let start = self.reach(step, lo)?;
        let sources = flood_sources(self.script.remote, f.count).map_err(|m| mismatch(m, vec![]))?;
        if let Some(host) = self.target.host() {
            let mut addrs: Vec<std::net::IpAddr> = sources.iter().map(|s| s.0).collect();
            addrs.sort_unstable();
            addrs.dedup();
            host.sources(&addrs)?;
        }
        let pkt = self.num.build_in(self.script, &f.seg).map_err(|m| mismatch(m, vec![]))?;
        let from: std::collections::HashSet<(std::net::IpAddr, u16)> = sources.iter().copied().collect();
        let mut kinds: BTreeMap<String, i64> = BTreeMap::new();
        let mut answered: std::collections::HashSet<(std::net::IpAddr, u16)> = std::collections::HashSet::new();
        let mut take = |p: &IpPacket, kinds: &mut BTreeMap<String, i64>| -> bool {
            let to = (p.ip.dst, p.tcp.dst_port);
            if !from.contains(&to) {
                return false;
            }
            let ae = p.tcp.reserved & crate::script::packet::AE_BIT != 0;
            *kinds.entry(crate::script::packet::flags_text(p.tcp.flags, ae)).or_default() += 1;
            answered.insert(to);
            true
        };
        for (i, (addr, port)) in sources.iter().enumerate() {
            if let Some(rate) = f.rate {
                self.target.advance(start + Duration::from_secs_f64(i as f64 / f64::from(rate)))?;
            }
            let mut p = pkt.clone();
            p.ip.src = *addr;
            p.tcp.src_port = *port;
            let wire = p.emit().map_err(|e| TargetError::Unsupported(format!("the packet cannot be built: {e}")))?;
            self.target.inject(Inject::Tcp { pkt: &p, wire: &wire })?;
            // Answers are taken as they come, so the target keeps few.
            while let Some((at, q)) = self.target.next_packet(self.target.now())? {
                if !take(&q, &mut kinds) {
                    self.held.push_back((at, q));
                }
            }
        }
        let sent = self.target.now();
        let end = sent + f.settle;
        while let Some((at, q)) = self.target.next_packet(end)? {
            if !take(&q, &mut kinds) {
                self.held.push_back((at, q));
            }
        }
        self.target.advance(end)?;
        let none = i64::from(f.count) - answered.len() as i64;
        let summary = |kinds: &BTreeMap<String, i64>| {
            let mut parts: Vec<String> = kinds.iter().map(|(k, v)| format!("{k} {v}")).collect();
            parts.push(format!("none {none}"));
            parts.join(", ")
        };
        self.trace.push(TraceEntry::Call {
            at: start,
            text: format!(
                "flood {} x `{}` from as many sources in {:.3} s",
                f.count,
                render(self.num.isns(), &pkt.tcp, Dir::In),
                (sent - start).as_secs_f64()
            ),
            ret: format!("answers: {}", summary(&kinds)),
        });
        let mut diffs = Vec::new();
        for (k, check) in &f.answers {
            let v = if k == "none" { none } else { kinds.get(k).copied().unwrap_or(0) };
            if !check.holds(v) {
                diffs.push(FieldDiff {
                    field: "answers",
                    expected: format!("{k} {check}"),
                    actual: format!("{k} {v}"),
                });
            }
        }
        if !diffs.is_empty() {
            return Err(mismatch(format!("the stack answered the flood otherwise ({})", summary(&kinds)), diffs));
        }
        self.time.last = end;
        Ok(())
    }

    /// A `counters:` step: the growth of the kernel's SNMP counters since
    /// the previous one (or the start).
    fn step_counters(&mut self, step: &Step, fields: &[InfoField], lo: Duration) -> Result<(), StepError> {
        let at = self.reach(step, lo)?;
        let delta = self.target.counters()?;
        let mut diffs = Vec::new();
        for (name, check) in fields {
            let matching: Vec<(&String, &i64)> = if name.contains('*') {
                delta.iter().filter(|(k, _)| crate::suite::glob(name, k)).collect()
            } else {
                delta.get_key_value(name).into_iter().collect()
            };
            if matching.is_empty() {
                let hint = crate::script::mean(name, delta.keys().map(String::as_str));
                let hint = hint.trim_end_matches([' ', ';', ',']);
                let sep = if hint.is_empty() { "" } else { "; " };
                return Err(mismatch(format!("the target has no counter `{name}`{sep}{hint}"), vec![]));
            }
            let v: i64 = matching.iter().map(|(_, v)| **v).sum();
            if !check.holds(v) {
                let eq = if matches!(check, InfoCheck::Range(..)) { "+" } else { "" };
                diffs.push(FieldDiff {
                    field: "counters",
                    expected: format!("{name} {eq}{check}"),
                    actual: format!("{name} +{v}"),
                });
            }
        }
        if !diffs.is_empty() {
            return Err(mismatch("the counters grew otherwise".to_string(), diffs));
        }
        self.time.last = at;
        Ok(())
    }

    fn step_state(&mut self, step: &Step, of: StateOf, is: State, lo: Duration) -> Result<(), StepError> {
        let at = self.reach(step, lo)?;
        let fd = match of {
            StateOf::Fd(fd) => Some(self.num.real_fd(fd)),
            StateOf::Conn => None,
        };
        let conn = self.num.conn(self.script);
        let actual = self.target.state(fd, conn)?;
        if actual != is {
            let who = fd.map_or_else(|| format!("connection {conn}"), |f| format!("fd {f}"));
            return Err(mismatch(
                format!("{who} is {actual}, expected {is}"),
                vec![FieldDiff { field: "state", expected: is.to_string(), actual: actual.to_string() }],
            ));
        }
        self.time.last = at;
        Ok(())
    }

    fn step_tcp_info(&mut self, step: &Step, fd: i32, fields: &[InfoField], lo: Duration) -> Result<(), StepError> {
        let at = self.reach(step, lo)?;
        let info = self.target.tcp_info(self.num.real_fd(fd))?;
        let mut diffs = Vec::new();
        for (name, check) in fields {
            let Some(&v) = info.get(name.as_str()) else {
                return Err(TargetError::Unsupported(format!("TCP_INFO field `{name}`")).into());
            };
            if !check.holds(v) {
                let eq = if matches!(check, InfoCheck::Range(..)) { "= " } else { "" };
                // TCP_INFO's fields as the kernel names them; SO_MEMINFO's
                // and TCP_CC_INFO's by their own names.
                let label = match crate::script::TCP_INFO_FIELDS.contains(&name.as_str()) {
                    true => format!("tcpi_{name}"),
                    false => name.clone(),
                };
                diffs.push(FieldDiff {
                    field: "tcp_info",
                    expected: format!("{label} {eq}{check}"),
                    actual: format!("{label} = {v}"),
                });
            }
        }
        if !diffs.is_empty() {
            return Err(mismatch(format!("TCP_INFO of fd {fd} differs"), diffs));
        }
        self.time.last = at;
        Ok(())
    }

    fn step_quiet(&mut self, step: &Step, d: Duration, lo: Duration) -> Result<(), StepError> {
        let start = self.time.at(&step.time, lo);
        self.no_packets_until(start)?;
        let end = start + d;
        if let Some((at, p)) = self.next_packet(end)? {
            let text = self.out_entry(at, &p);
            return Err(mismatch(
                format!("expected nothing for {:.6} s, but at {:.6}: out {text}", d.as_secs_f64(), at.as_secs_f64()),
                vec![],
            ));
        }
        self.target.advance(end)?;
        self.time.last = end;
        Ok(())
    }

    fn step_wait(&mut self, step: &Step, d: Duration, lo: Duration) -> Result<(), StepError> {
        let end = self.time.at(&step.time, lo) + d;
        // What is sent meanwhile is for the next step (as between any two
        // steps): unexpected, recorded or queued.
        self.no_packets_until(end)?;
        self.target.advance(end)?;
        self.time.last = end;
        Ok(())
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

/// A flood's sources: the script's network's addresses but its own (IPv4:
/// the /24's hosts; IPv6: the /64's, from ::2), each with ports from 1024
/// up, address first: `count` distinct (address, port) pairs.
pub(crate) fn flood_sources(remote: std::net::IpAddr, count: u32) -> Result<Vec<(std::net::IpAddr, u16)>, String> {
    use std::net::IpAddr;
    // Host k of the network (1..=last) other than the remote's own, the
    // i-th of them found without listing them (a flood per execution in
    // the fuzzer).
    let (last, own): (u128, u128) = match remote {
        IpAddr::V4(v) => (254, u128::from(u32::from(v) & 0xff)),
        IpAddr::V6(v) => (4096, u128::from(v) & 0xffff_ffff_ffff_ffff),
    };
    let per_port = if (1..=last).contains(&own) { last - 1 } else { last } as u64;
    let host = |i: u64| -> IpAddr {
        let mut h = u128::from(i) + 1;
        if (1..=last).contains(&own) && h >= own {
            h += 1;
        }
        match remote {
            IpAddr::V4(v) => IpAddr::V4((u32::from(v) & 0xffff_ff00 | h as u32).into()),
            IpAddr::V6(v) => IpAddr::V6((u128::from(v) & !0xffff_ffff_ffff_ffffu128 | h).into()),
        }
    };
    let ports = u64::from(u16::MAX) - 1024 + 1;
    if u64::from(count) > per_port * ports {
        return Err(format!("a flood of {count} has not as many sources in the script's network"));
    }
    Ok((0..u64::from(count)).map(|i| (host(i % per_port), (1024 + i / per_port) as u16)).collect())
}

#[cfg(test)]
mod tests {
    use super::flood_sources;

    #[test]
    fn a_floods_sources_are_distinct_and_in_the_scripts_network() {
        let v4 = flood_sources("192.0.2.1".parse().unwrap(), 10_000).unwrap();
        let set: std::collections::HashSet<_> = v4.iter().collect();
        assert_eq!(set.len(), 10_000);
        assert!(v4.iter().all(|(a, p)| a.to_string().starts_with("192.0.2.")
            && *a != "192.0.2.1".parse::<std::net::IpAddr>().unwrap()
            && *p >= 1024));
        assert_eq!(v4[0], ("192.0.2.2".parse().unwrap(), 1024));
        let v6 = flood_sources("2001:db8::1".parse().unwrap(), 5000).unwrap();
        assert_eq!(v6.iter().collect::<std::collections::HashSet<_>>().len(), 5000);
        assert!(v6.iter().all(|(a, _)| a.to_string().starts_with("2001:db8::")));
        assert!(flood_sources("192.0.2.1".parse().unwrap(), u32::MAX).is_err());
    }
}
