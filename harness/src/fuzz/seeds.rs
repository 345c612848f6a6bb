//! Seeds from scripts: every script of a suite becomes a case, so a campaign
//! starts from the handshakes, transfers, closes and timers the suites
//! already walk through instead of from random bytes.
//!
//! The translation keeps what a case can say: the role (a script that
//! calls `connect` makes the stack the client), the profile, every inbound
//! segment (flags, window, options, payload length; its sequence number
//! relative to what the peer has sent so far), the socket calls a case
//! knows, and the time between steps. Acknowledgment numbers become
//! "SND.NXT + d" where d is how far past the stack's data (as the script's
//! `out` steps show it) the script acknowledges, or "SND.UNA" when it
//! acknowledges less than all of it: a partial acknowledgment becomes a
//! duplicate one, the closest a case can come without knowing the stack's
//! state. Assertions (`out`, `state`, `quiet`, `tcp_info`) are not
//! part of a case: the oracles take their place.

use super::case::{AckAt, Action, Burst, CallKind, Case, Role, Segment, SeqAt, BACKLOGS, CONNECTIONS, MAX_BURST};
use crate::script::call::{Call, OptName};
use crate::script::packet::OptSpec;
use crate::script::time::Base;
use crate::script::{Script, StepKind};
use reference_stack::wire::TcpFlags;
use reference_stack::Shutdown;
use std::time::Duration;

/// The case for a script (see the module documentation for what is kept).
pub fn case_from_script(s: &Script) -> Case {
    let role =
        if s.steps.iter().any(|st| matches!(&st.kind, StepKind::Call(c) if matches!(c.call, Call::Connect { .. }))) {
            Role::Connect
        } else {
            Role::Listen
        };
    let mut actions = Vec::new();
    let mut now = Duration::ZERO;
    // Per connection: the peer's next sequence number (script-relative)
    // once it sent a SYN, and the end of what the stack has sent, as the
    // `out` steps show it.
    let mut peer_nexts: [Option<u32>; CONNECTIONS as usize] = [None; CONNECTIONS as usize];
    let mut stack_nexts: [u32; CONNECTIONS as usize] = [0; CONNECTIONS as usize];
    for st in &s.steps {
        // The script's connections in the header's order after the main
        // one; a step of a connection past the case's last is left out.
        let conn = match &st.conn {
            None => 0,
            Some(name) => match s.connections.iter().position(|(n, _)| n == name) {
                Some(i) if i + 1 < usize::from(CONNECTIONS) => i as u8 + 1,
                _ => continue,
            },
        };
        let (peer_next, stack_next) = (&mut peer_nexts[usize::from(conn)], &mut stack_nexts[usize::from(conn)]);
        let at = match st.time.base {
            Base::Absolute => st.time.lo,
            Base::Relative => now + st.time.lo,
        };
        if at > now && !st.time.any {
            push_wait(&mut actions, at - now);
            now = at;
        }
        match &st.kind {
            StepKind::In(p) => {
                let seq = p.seq.value().unwrap_or(0);
                let len = p.len.value().or(p.data.as_ref().map(|d| d.len() as u32)).unwrap_or(0);
                let seq_at = match *peer_next {
                    None => SeqAt::Raw(s.remote_isn.wrapping_add(seq)),
                    Some(n) if seq.wrapping_sub(n) < 65_536 => SeqAt::Next(seq.wrapping_sub(n)),
                    Some(n) if n.wrapping_sub(1).wrapping_sub(seq) < 65_536 => {
                        SeqAt::Old(n.wrapping_sub(1).wrapping_sub(seq))
                    }
                    Some(_) => SeqAt::Raw(s.remote_isn.wrapping_add(seq)),
                };
                let end = seq.wrapping_add(len).wrapping_add(u32::from(p.flags.syn()) + u32::from(p.flags.fin()));
                *peer_next = Some(match *peer_next {
                    Some(n) if end.wrapping_sub(n) >= 1 << 31 => n,
                    _ => end,
                });
                let ack = p.ack.as_ref().and_then(|a| a.value()).unwrap_or(0);
                let ack_at = if ack.wrapping_sub(*stack_next) < 65_536 {
                    AckAt::Next(ack.wrapping_sub(*stack_next))
                } else {
                    // Behind the stack's data: acknowledge no more than is
                    // already acknowledged (a simultaneous close's FIN does
                    // not cover ours).
                    AckAt::Una(0)
                };
                let (mut options, arg) = option_bits(p.options.iter().flatten());
                let mut flags = p.flags;
                if flags.urg() {
                    options |= 64;
                    flags = TcpFlags(flags.0 & !TcpFlags::URG.0);
                }
                actions.push(Action::Segment(Segment {
                    conn,
                    flags: flags.0,
                    seq: seq_at,
                    ack: ack_at,
                    window: p.win.as_ref().and_then(|w| w.value()).unwrap_or(65_535),
                    options,
                    option_arg: arg,
                    payload_len: len.min(2047) as u16,
                }));
            }
            StepKind::Out(per_target) => {
                if let Some(p) = per_target.values().next() {
                    if let (Some(seq), Some(len)) = (p.seq.value(), p.len.value()) {
                        let end =
                            seq.wrapping_add(len).wrapping_add(u32::from(p.flags.syn()) + u32::from(p.flags.fin()));
                        if end.wrapping_sub(*stack_next) < 1 << 31 {
                            *stack_next = end;
                        }
                    }
                }
            }
            StepKind::Call(c) => {
                let kind = match &c.call {
                    Call::Accept { .. } => Some(CallKind::Accept),
                    Call::Write { flags: 1.., .. } | Call::Write { to: true, .. } => None,
                    Call::Write { data, oob: false, .. } => Some(CallKind::Send(data.len.min(65_535) as u16)),
                    Call::Write { data, oob: true, .. } => Some(CallKind::Urgent(data.len.min(255) as u8)),
                    Call::Read { len, .. } => Some(CallKind::Recv((*len).min(65_535) as u16)),
                    Call::Close { .. } => Some(CallKind::Close),
                    Call::Shutdown { how, .. } => Some(CallKind::Shutdown(match how {
                        Shutdown::Read => 0,
                        Shutdown::Write => 1,
                        Shutdown::Both => 2,
                    })),
                    Call::SetSockOpt { opt: OptName::NoDelay, value, .. } => Some(CallKind::NoDelay(*value != 0)),
                    Call::SetSockOpt { opt: OptName::KeepIdle, value, .. } => {
                        Some(CallKind::KeepAlive { idle: (*value).clamp(1, 256) as u8 - 1, probes: 0 })
                    }
                    Call::SetSockOpt { opt: OptName::RcvBuf, value, .. } => {
                        Some(CallKind::RcvBuf(((*value).max(256) as u64 - 256).min(4 * 65_535) as u16 / 4))
                    }
                    Call::SetSockOpt { opt: OptName::Linger, value: 0, .. } => Some(CallKind::Abort),
                    _ => None,
                };
                // An abortive close is SO_LINGER 0 then close(): one action.
                let after_abort =
                    matches!(actions.last(), Some(Action::Call { call: CallKind::Abort, conn: c }) if *c == conn);
                match kind {
                    Some(CallKind::Close) if after_abort => {}
                    Some(call) => actions.push(Action::Call { conn, call }),
                    None => {}
                }
            }
            // A flood of SYNs: a burst as large as a case's (more than any
            // SYN queue a case can have).
            StepKind::Flood(f) if f.seg.flags.syn() && !f.seg.flags.ack() => {
                let (options, option_arg) = option_bits(f.seg.options.iter().flatten());
                actions.push(Action::SynBurst(Burst {
                    count: f.count.clamp(1, u32::from(MAX_BURST)) as u16,
                    seq: s.remote_isn.wrapping_add(f.seg.seq.value().unwrap_or(0)),
                    window: f.seg.win.as_ref().and_then(|w| w.value()).unwrap_or(65_535),
                    options,
                    option_arg,
                }));
            }
            StepKind::Flood(_) => {}
            StepKind::Quiet(d) | StepKind::Wait(d) => {
                push_wait(&mut actions, *d);
                now += *d;
            }
            StepKind::State { .. }
            | StepKind::TcpInfo { .. }
            | StepKind::Shell(_)
            | StepKind::Sysctl(_)
            | StepKind::Qdisc(_)
            | StepKind::Route(_)
            | StepKind::TcpMetricsFlush
            | StepKind::Counters(_)
            | StepKind::Icmp(_)
            | StepKind::NewConnection { .. } => {}
        }
    }
    actions.truncate(super::case::MAX_RECORDS);
    let mut case = Case::new(role, s.profile.name == "linux", actions);
    // The listen queues' settings, from the scripts about them (several
    // connections or a flood); every other script's case keeps the
    // defaults, as its seed always had.
    let queues = !s.connections.is_empty() || s.steps.iter().any(|st| matches!(st.kind, StepKind::Flood(_)));
    if queues {
        let backlog = s.steps.iter().find_map(|st| match &st.kind {
            StepKind::Call(c) => match c.call {
                Call::Listen { backlog, .. } => Some(backlog),
                _ => None,
            },
            _ => None,
        });
        // The nearest backlog a case can have.
        if let Some(b) = backlog {
            case.header.backlog =
                BACKLOGS.iter().copied().min_by_key(|x| (i64::from(*x) - i64::from(b)).abs()).unwrap_or(8);
        }
        if case.header.linux {
            let num = |k: &str| s.sysctl.get(k).and_then(|v| v.trim().parse::<u32>().ok());
            case.header.syncookies = num("net.ipv4.tcp_syncookies").map_or(1, |v| v.min(2) as u8);
            case.header.abort_on_overflow = num("net.ipv4.tcp_abort_on_overflow").is_some_and(|v| v != 0);
            case.header.tw_reuse = num("net.ipv4.tcp_tw_reuse") == Some(1);
        }
    }
    case
}

/// A segment's option bits and argument (see [`Segment`]) for the options
/// a script's packet lists.
fn option_bits<'a>(opts: impl Iterator<Item = &'a OptSpec>) -> (u8, u8) {
    let (mut options, mut arg) = (0u8, None);
    for o in opts {
        match o {
            OptSpec::Mss(m) => {
                options |= 1;
                arg = arg.or(m.value().map(|m| (m.saturating_sub(536) / 4).min(255) as u8));
            }
            OptSpec::WScale(w) => {
                options |= 2;
                arg = arg.or(w.value());
            }
            OptSpec::SackOk => options |= 4,
            OptSpec::Ts { .. } => options |= 8,
            OptSpec::Sack(_) => options |= 16,
            OptSpec::Unknown { .. } => options |= 32,
            OptSpec::Eol | OptSpec::Nop => {}
        }
    }
    (options, arg.unwrap_or(0))
}

/// Wait actions for `d`: whole seconds in steps of up to 255 s, the rest
/// in microseconds.
fn push_wait(actions: &mut Vec<Action>, d: Duration) {
    let mut left = d.as_micros() as u64;
    while left > 0 {
        let step = if left >= 1_000_000 { (left / 1_000_000).min(255) * 1_000_000 } else { left };
        actions.push(Action::Wait(Some(step)));
        left -= step;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::exec::{run_case, MAP_SIZE};
    use std::path::Path;

    fn suite_scripts() -> Vec<Script> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites");
        let files = crate::runner::find_scripts(&[root]).expect("suites/");
        files.iter().flat_map(|f| crate::script::load(f).expect("suite scripts parse")).collect()
    }

    #[test]
    fn every_suite_script_becomes_a_case_the_oracles_accept() {
        let scripts = suite_scripts();
        assert!(scripts.len() >= 20, "found {} scripts", scripts.len());
        let mut union = vec![0u8; MAP_SIZE];
        for s in &scripts {
            let case = case_from_script(s);
            // Only a script without segments (socket options alone) has nothing to say.
            let has_in = s.steps.iter().any(|st| matches!(st.kind, StepKind::In(_)));
            assert!(!has_in || !case.actions.is_empty(), "{}: empty case", s.id());
            // The bytes decode to the same case.
            assert_eq!(Case::decode(&case.encode()), case, "{}", s.id());
            let mut map = vec![0u8; MAP_SIZE];
            // A seed may not trip an oracle: the suites pass on the reference stack.
            if let Err(f) = run_case(&case.encode(), &mut map, None) {
                panic!("{}: {:?}", s.id(), f);
            }
            for (u, m) in union.iter_mut().zip(&map) {
                *u |= u8::from(*m > 0);
            }
        }
        // Between them the seeds walk into every state of RFC 9293's diagram.
        let mut into: Vec<reference_stack::State> =
            (0..11 * 11 * 48).filter(|i| union[*i] > 0).map(|i| reference_stack::State::ALL[(i / 48) % 11]).collect();
        into.sort_by_key(|s| reference_stack::State::ALL.iter().position(|x| x == s));
        into.dedup();
        assert_eq!(into, reference_stack::State::ALL.to_vec(), "states the seeds reach");
    }

    #[test]
    fn handshake_seed_gets_the_stack_to_established() {
        let s = suite_scripts()
            .into_iter()
            .find(|s| s.name.starts_with("passive open answers"))
            .expect("a passive-open script");
        let case = case_from_script(&s);
        assert_eq!(case.header.role, Role::Listen);
        let Action::Segment(syn) = &case.actions[0] else { panic!("first action {:?}", case.actions[0]) };
        assert_eq!(syn.flags & 0x3f, TcpFlags::SYN.0);
        assert!(matches!(
            case.actions[1..].iter().find(|a| matches!(a, Action::Segment(_))),
            Some(Action::Segment(Segment { seq: SeqAt::Next(0), ack: AckAt::Next(0), .. }))
        ));
    }
}

/// What [`distill`] wrote.
#[derive(Debug, Default)]
pub struct Distilled {
    pub written: usize,
    /// Cases that reach no transition-map slot the kept ones do not.
    pub redundant: usize,
    /// Scripts without a segment or call a case can say.
    pub empty: usize,
    /// Map slots the kept cases reach together.
    pub slots: usize,
}

/// Why seeds could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DistillError {
    #[error(transparent)]
    Script(Box<crate::script::ScriptError>),
    #[error("{}: {error}", path.display())]
    Io { path: std::path::PathBuf, error: std::io::Error },
}

/// Writes a `.case` per script (and matrix variant) of `files` under `out`,
/// keeping a case only when it reaches a transition-map slot the cases kept
/// before it do not; `.case` files already in `out` are replaced. Names are
/// the script's path below `root`.
pub fn distill(
    files: &[std::path::PathBuf],
    root: &std::path::Path,
    out: &std::path::Path,
) -> Result<Distilled, DistillError> {
    use super::exec::{run_case, MAP_SIZE};
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |error| DistillError::Io { path, error }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    // The corpus is what this run writes: earlier seeds go.
    for e in std::fs::read_dir(out).map_err(io(out))?.flatten() {
        if e.path().extension().is_some_and(|x| x == "case") {
            std::fs::remove_file(e.path()).map_err(io(&e.path()))?;
        }
    }
    let mut d = Distilled::default();
    let mut covered = vec![false; MAP_SIZE];
    for f in files {
        let scripts = crate::script::load(f).map_err(|e| DistillError::Script(Box::new(e)))?;
        for s in &scripts {
            let case = case_from_script(s);
            if case.actions.is_empty() {
                d.empty += 1;
                continue;
            }
            // Kept only if it reaches something the kept ones do not.
            let mut map = vec![0u8; MAP_SIZE];
            let _ = run_case(&case.encode(), &mut map, None);
            let mut new = false;
            for (c, m) in covered.iter_mut().zip(&map) {
                if *m > 0 && !*c {
                    *c = true;
                    new = true;
                }
            }
            if !new {
                d.redundant += 1;
                continue;
            }
            let stem = f.strip_prefix(root).unwrap_or(f).with_extension("");
            let mut name: String =
                stem.to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
            if let Some(v) = &s.variant {
                name.push('-');
                name.extend(v.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }));
            }
            let path = out.join(format!("{}.case", name.trim_matches('-')));
            std::fs::write(&path, case.encode()).map_err(io(&path))?;
            d.written += 1;
        }
    }
    d.slots = covered.iter().filter(|c| **c).count();
    Ok(d)
}
