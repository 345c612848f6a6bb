//! From a raw crashing input to a finding a person can read and replay:
//! classify it (which oracle, where), minimise it, write it as a script.

use super::case::{Case, CONNECTIONS, HEADER, RECORD};
use super::exec::{self, Recorded, MAP_SIZE, REMOTE};
use crate::script::packet::{segment_text, Style};
use crate::script::print::{Key, ScriptDoc, StepDoc, StepKey, Value};
use crate::script::Outbound;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

/// A classified finding: its kind and location identify it for deduplication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Triage {
    pub kind: String,
    pub location: String,
    pub message: String,
    pub step: usize,
}

impl Triage {
    pub fn key(&self) -> (String, String) {
        (self.kind.clone(), self.location.clone())
    }
}

thread_local! {
    static PANIC: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
    static QUIET: RefCell<bool> = const { RefCell::new(false) };
}

/// A panic hook that records where a panic happened and, while classifying,
/// keeps quiet (other panics print as usual).
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let loc = info.location().map_or_else(|| "unknown".to_string(), |l| format!("{}:{}", l.file(), l.line()));
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            PANIC.with(|p| *p.borrow_mut() = Some((loc, msg)));
            if !QUIET.with(|q| *q.borrow()) {
                default(info);
            }
        }));
    });
}

/// The other stack of a differential campaign's triage.
#[derive(Clone)]
pub struct Against {
    /// As `--against` names it (`smoltcp`).
    pub name: String,
    pub make: fn() -> Box<dyn crate::target::adapter::StackAdapter>,
    pub allow: super::diff::Allowances,
}

impl Against {
    /// The stack `name` linked in, with its allowances (`allowances`: a
    /// file's path and text, else the ones shipped).
    pub fn new(name: &str, allowances: Option<(&str, &str)>) -> Result<Against, String> {
        let make = super::diff::maker(name).ok_or_else(|| {
            format!("--against {name}: not a stack linked in; one of: {}", super::diff::STACKS.join(", "))
        })?;
        let allow = match allowances {
            Some((path, text)) => super::diff::Allowances::parse(path, text).map_err(|e| e.to_string())?,
            None => super::diff::Allowances::builtin(name)
                .ok_or_else(|| format!("--against {name}: no allowances shipped; pass --allowances"))?
                .map_err(|e| e.to_string())?,
        };
        Ok(Against { name: name.to_string(), make, allow })
    }

    /// The script target of the same stack (none for `reference`, the
    /// self-check, whose other side differs only in its seed).
    pub fn target(&self) -> Option<crate::script::TargetKind> {
        let k = crate::script::TargetKind::ALL.into_iter().find(|k| k.name() == self.name)?;
        (k != crate::script::TargetKind::Reference).then_some(k)
    }
}

/// Runs a case and says what, if anything, it finds.
pub fn classify(bytes: &[u8]) -> Option<Triage> {
    classify_against(bytes, None)
}

/// Runs a case, beside `against`'s stack when given, and says what, if
/// anything, it finds: an oracle's failure, a panic, or a divergence
/// (kind `divergence`, located by its cluster).
pub fn classify_against(bytes: &[u8], against: Option<&Against>) -> Option<Triage> {
    install_hook();
    QUIET.with(|q| *q.borrow_mut() = true);
    let mut map = vec![0u8; MAP_SIZE];
    let r = panic::catch_unwind(AssertUnwindSafe(|| match against {
        None => exec::run_case(bytes, &mut map, None).map_err(exec::DiffFailure::Oracle),
        Some(a) => {
            let mut d = super::diff::Differ::new(a.make);
            exec::run_diff(bytes, &mut map, &mut d, &a.allow, None)
        }
    }));
    QUIET.with(|q| *q.borrow_mut() = false);
    match r {
        Ok(Ok(())) => None,
        Ok(Err(exec::DiffFailure::Oracle(f))) => Some(Triage {
            kind: f.violation.kind().to_string(),
            location: f.violation.location(),
            message: f.violation.to_string(),
            step: f.step,
        }),
        Ok(Err(exec::DiffFailure::Divergence(d))) => {
            Some(Triage { kind: "divergence".into(), location: d.cluster(), message: d.to_string(), step: d.step })
        }
        Err(_) => {
            let (loc, msg) = PANIC.with(|p| p.borrow_mut().take()).unwrap_or_default();
            Some(Triage { kind: "panic".into(), location: loc, message: msg, step: 0 })
        }
    }
}

/// How long triage lets a case run before it calls it a hang (the
/// campaign's own timeout is 10 s; a case runs in microseconds).
pub const HANG: std::time::Duration = std::time::Duration::from_secs(10);

/// [`classify_against`] on a thread of its own, which gets [`HANG`] to
/// finish: a case that loops for ever in a stack (a livelock the stack's
/// own loop never leaves) comes back as kind `hang` instead of stopping
/// the triage. (The thread is left to spin; the process ends after the
/// triage.)
pub fn classify_guarded(bytes: &[u8], against: Option<&Against>) -> Option<Triage> {
    let (tx, rx) = std::sync::mpsc::channel();
    let (case, other) = (bytes.to_vec(), against.cloned());
    let spawned = std::thread::Builder::new().name("triage".into()).spawn(move || {
        let _ = tx.send(classify_against(&case, other.as_ref()));
    });
    if spawned.is_err() {
        return classify_against(bytes, against);
    }
    match rx.recv_timeout(HANG) {
        Ok(t) => t,
        Err(_) => Some(Triage {
            kind: "hang".into(),
            location: "no-step".into(),
            message: format!("the run did not end within {} s", HANG.as_secs()),
            step: 0,
        }),
    }
}

/// A differential run of `bytes` beside `against`'s stack, both sides
/// step by step ([`super::diff::Differ::explain`]).
pub fn explain(bytes: &[u8], against: Option<&Against>) -> String {
    let Some(a) = against else { return String::new() };
    let mut d = super::diff::Differ::new(a.make);
    let mut map = vec![0u8; MAP_SIZE];
    install_hook();
    QUIET.with(|q| *q.borrow_mut() = true);
    let r = panic::catch_unwind(AssertUnwindSafe(|| exec::run_diff(bytes, &mut map, &mut d, &a.allow, None)));
    QUIET.with(|q| *q.borrow_mut() = false);
    match r {
        Ok(_) => d.explain(),
        Err(_) => "the run panicked\n".into(),
    }
}

/// Removes records and shrinks payloads while the same finding (kind and
/// location) still shows. Deterministic; bounded.
pub fn minimise(bytes: &[u8]) -> Vec<u8> {
    minimise_against(bytes, None)
}

/// [`minimise`], for a finding of a differential run beside `against`.
pub fn minimise_against(bytes: &[u8], against: Option<&Against>) -> Vec<u8> {
    let Some(want) = classify_against(bytes, against).map(|t| t.key()) else { return bytes.to_vec() };
    let same = |b: &[u8]| classify_against(b, against).is_some_and(|t| t.key() == want);
    let header = bytes[..HEADER.min(bytes.len())].to_vec();
    let mut recs: Vec<[u8; RECORD]> =
        bytes.get(HEADER..).unwrap_or(&[]).chunks_exact(RECORD).map(|c| c.try_into().expect("16")).collect();
    let join = |h: &[u8], r: &[[u8; RECORD]]| {
        let mut v = h.to_vec();
        for x in r {
            v.extend_from_slice(x);
        }
        v
    };
    for _round in 0..4 {
        let mut changed = false;
        // Drop records, last first (later records rarely matter to earlier ones).
        let mut i = recs.len();
        while i > 0 {
            i -= 1;
            let mut t = recs.clone();
            t.remove(i);
            if same(&join(&header, &t)) {
                recs = t;
                changed = true;
            }
        }
        // Zero payloads and options where the finding survives.
        for i in 0..recs.len() {
            let is_segment = !matches!(recs[i][0] % 8, 4 | 5);
            if !is_segment {
                continue;
            }
            for (byte, mask) in [(2usize, 0x07u8), (7, 0x03), (14, 0x00)] {
                if recs[i][byte] & !mask != 0 {
                    let mut t = recs.clone();
                    t[i][byte] &= mask;
                    if same(&join(&header, &t)) {
                        recs = t;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    join(&header, &recs)
}

/// A finding's or a cluster's directory name: its name's letters and
/// digits, the rest dashes, at most 60 characters.
pub(crate) fn dir_name(name: &str) -> String {
    let slug: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).take(60).collect();
    slug.trim_matches('-').to_string()
}

/// The names of a case's connections in its script (0 is the main one).
const CONN_NAMES: [&str; CONNECTIONS as usize] = ["main", "b", "c"];

/// The script that replays `bytes` on the reference target; the reference
/// target's oracles make it fail where the fuzzer's did.
pub fn script(bytes: &[u8], t: &Triage) -> String {
    written(bytes, &finding_name(t), &t.message, false, None)
}

fn finding_name(t: &Triage) -> String {
    format!("fuzz finding: {} ({})", t.kind, t.location)
}

/// The case as a script that also expects what the reference stack sent
/// (`out` steps, its timestamps mapped): run on another target, it fails
/// where that target parts from the reference stack.
pub fn differential_script(bytes: &[u8], t: &Triage) -> String {
    written(bytes, &finding_name(t), &t.message, true, None)
}

/// [`differential_script`] under a name of its own (`harness diff`'s
/// replay of a queue on a real-time target), each `out` window written as
/// `window` compares it (its class: `win 0` closed, `win 1~65535` open; or
/// `win *`), a SYN's window scale then `wscale *` (the window's size is the
/// stack's choice, RFC 7323 2.2).
pub fn replay_script(bytes: &[u8], name: &str, description: &str, allow: &super::diff::Allowances) -> String {
    let text = written(bytes, name, description, true, None);
    let window = allow.compare.window;
    // PSH among the ignored flags: `p`, set or not.
    let psh = allow.flag_mask & reference_stack::wire::TcpFlags::PSH.0 != 0;
    text.lines()
        .map(|l| match l.find("out: \"") {
            Some(i) => {
                let (head, seg) = l.split_at(i + 6);
                let seg = if psh { psh_either(seg) } else { seg.to_string() };
                let seg = if window == super::diff::Mode::Exact { seg } else { relax_window(&seg, window) };
                format!("{head}{seg}")
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// An `out` segment's text with PSH set or not (`p`).
fn psh_either(seg: &str) -> String {
    match seg.split_once(' ') {
        Some((flags, rest)) if flags != "-" => format!("p{} {rest}", flags.replace('P', "")),
        _ => seg.to_string(),
    }
}

/// An `out` segment's text with its window as `window` compares it.
fn relax_window(seg: &str, window: super::diff::Mode) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut words = seg.split(' ').peekable();
    while let Some(w) = words.next() {
        out.push(w.to_string());
        let Some(next) = words.peek() else { break };
        let digits = next.chars().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            continue;
        }
        let (value, rest) = next.split_at(digits);
        // (The option's name: the word's last after `<` or `,`.)
        let relaxed = match (w.rsplit([',', '<']).next().unwrap_or(w), window) {
            ("win", super::diff::Mode::Ignore) => "*".to_string(),
            ("win", _) if value == "0" => "0".to_string(),
            ("win", _) => "1~65535".to_string(),
            ("wscale", _) => "*".to_string(),
            _ => continue,
        };
        out.push(format!("{relaxed}{rest}"));
        words.next();
    }
    out.join(" ")
}

/// [`differential_script`] for a divergence found beside `against`: the
/// case as that comparison ran it, its flush included (the reference
/// stack's last delayed ACKs are expected, so what the other stack sends
/// after the last action is checked too).
pub fn divergence_script(bytes: &[u8], t: &Triage, against: &Against) -> String {
    written(bytes, &finding_name(t), &t.message, true, Some(against))
}

fn written(bytes: &[u8], name: &str, description: &str, with_out: bool, against: Option<&Against>) -> String {
    let case = Case::decode(bytes);
    let mut rec = Vec::new();
    let mut map = vec![0u8; MAP_SIZE];
    install_hook();
    QUIET.with(|q| *q.borrow_mut() = true);
    let _ = panic::catch_unwind(AssertUnwindSafe(|| match against {
        None => {
            let _ = exec::run_case(bytes, &mut map, Some(&mut rec));
        }
        Some(a) => {
            let mut d = super::diff::Differ::new(a.make);
            let _ = exec::run_diff(bytes, &mut map, &mut d, &a.allow, Some(&mut rec));
        }
    }));
    QUIET.with(|q| *q.borrow_mut() = false);
    let mut doc = ScriptDoc::default();
    doc.set(Key::Name, name);
    doc.set(Key::Description, description);
    if !with_out {
        doc.set(Key::Targets, Value::List(vec!["reference".into()]));
    }
    doc.set(Key::Profile, if case.header.linux { "linux" } else { "rfc9293" });
    let sysctls = case.header.sysctls();
    if !sysctls.is_empty() {
        doc.set(Key::Sysctl, Value::Block(sysctls.into_iter().map(|(k, v)| (k.to_string(), Value::Str(v))).collect()));
    }
    let port: i64 = REMOTE.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(40000);
    doc.set(Key::RemotePort, Value::Int(port));
    // Connections 1 and 2 by name, when the case used them.
    // (A connection the stack opened and the peer never wrote to counts:
    // its `out` steps name it.)
    let to_other = |b: &Vec<u8>| {
        reference_stack::wire::IpPacket::parse_sent_header(b)
            .is_ok_and(|(_, h)| (1..CONNECTIONS).any(|k| h.dst_port == exec::remote_port(k)))
    };
    let used = rec.iter().any(|r| match r {
        Recorded::In { conn: 1.., .. } | Recorded::NewConnection { .. } => true,
        Recorded::Out { bytes, .. } => with_out && to_other(bytes),
        _ => false,
    });
    if used {
        let names =
            (1..CONNECTIONS).map(|k| (CONN_NAMES[usize::from(k)].to_string(), i64::from(exec::remote_port(k)).into()));
        doc.set(Key::Connections, Value::Map(names.collect()));
    }
    // A flood's answers go to its many sources and interleave with the
    // peers' segments (SYN,ACK retransmissions to them come later, at the
    // stack's times), which `out` steps cannot tell apart: a case with a
    // flood is written without them.
    let with_out = with_out && !rec.iter().any(|r| matches!(r, Recorded::Flood { .. }));
    if with_out {
        doc.set(Key::Timestamps, "mapped");
    } else {
        doc.set(Key::Outbound, Outbound::Ignore.name());
    }
    // The stack's ISN per connection, as the engine learns it: from its
    // SYN (or SYN,ACK), anew after a `new_connection`.
    let mut isn: [Option<u32>; CONNECTIONS as usize] = [None; CONNECTIONS as usize];
    let peer_ip = REMOTE.parse::<std::net::SocketAddr>().map(|a| a.ip()).ok();
    let secs = |i: &reference_stack::Instant| Some(format!("{:.6}", i.total_micros() as f64 / 1e6));
    let on = |step: StepDoc, conn: u8| match conn {
        0 => step,
        k => step.with(StepKey::Conn, CONN_NAMES[usize::from(k)]),
    };
    for (i, r) in rec.iter().enumerate() {
        doc.steps.push(match r {
            Recorded::Call { at, text } => StepDoc::new(secs(at), StepKey::Call, text.as_str()),
            // The script's ISN is 0; numbers in the stack's sequence space
            // are relative to its ISN once the engine knows it.
            Recorded::In { at, conn, tcp, stack_isn } => on(
                StepDoc::new(secs(at), StepKey::In, segment_text(tcp, 0, stack_isn.unwrap_or(0), Style::Script)),
                *conn,
            ),
            Recorded::NewConnection { at, conn } => {
                isn[usize::from(*conn % CONNECTIONS)] = None;
                // (The case connects again to the same port.)
                let port = i64::from(exec::remote_port(*conn % CONNECTIONS));
                on(
                    StepDoc::new(
                        secs(at),
                        StepKey::NewConnection,
                        Value::Map(vec![("remote_port".into(), port.into())]),
                    ),
                    *conn,
                )
            }
            Recorded::Flood { at, count, tcp } => StepDoc::new(
                secs(at),
                StepKey::Flood,
                Value::Map(vec![
                    ("count".into(), i64::from(*count).into()),
                    ("seg".into(), segment_text(tcp, 0, 0, Style::Script).into()),
                    ("settle".into(), "0us".into()),
                ]),
            ),
            // With `out` steps, a wait in which the stack sent something is
            // left to those steps, each at its time (the wait would call
            // them unexpected).
            Recorded::Wait { at, until }
                if with_out
                    && rec[i + 1..]
                        .iter()
                        .take_while(|r| matches!(r, Recorded::Out { .. }))
                        .any(|r| matches!(r, Recorded::Out { at: t, .. } if t > at && t <= until)) =>
            {
                continue
            }
            Recorded::Wait { at, until } => {
                let d = until.total_micros() - at.total_micros();
                StepDoc::new(secs(at), StepKey::Wait, format!("{d}us"))
            }
            Recorded::Out { at, bytes } if with_out => {
                let Ok(p) = reference_stack::wire::IpPacket::parse(bytes) else { continue };
                // To one of the case's peers (a flood's sources are counted
                // by the flood step).
                let Some(conn) = (0..CONNECTIONS).find(|k| p.tcp.dst_port == exec::remote_port(*k)) else { continue };
                if Some(p.ip.dst) != peer_ip {
                    continue;
                }
                let base = &mut isn[usize::from(conn)];
                if p.tcp.flags.syn() && base.is_none() {
                    *base = Some(p.tcp.seq.0);
                }
                on(
                    StepDoc::new(secs(at), StepKey::Out, segment_text(&p.tcp, base.unwrap_or(0), 0, Style::Expect)),
                    conn,
                )
            }
            Recorded::Out { .. } => continue,
        });
    }
    doc.print()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::engine::{Dir, TraceEntry};
    use crate::runner::{self, Status};
    use crate::script::TargetKind;

    /// Cases to check: every seed in `corpus/`, each also with a few bytes
    /// changed (the kind of case a campaign runs), and cases of random bytes.
    pub(crate) fn cases() -> Vec<Vec<u8>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
        let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
            .expect("corpus/")
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "case"))
            .filter_map(|e| std::fs::read(e.path()).ok())
            .collect();
        seeds.sort();
        assert!(seeds.len() >= 20, "corpus/ has {} seeds", seeds.len());
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut out = seeds.clone();
        for s in &seeds {
            for _ in 0..8 {
                let mut m = s.clone();
                for _ in 0..1 + next() % 6 {
                    if m.len() > 2 {
                        let i = 2 + (next() as usize) % (m.len() - 2);
                        m[i] = next() as u8;
                    }
                }
                out.push(m);
            }
        }
        for _ in 0..300 {
            let len = 2 + (next() as usize) % (16 * 40);
            out.push((0..len).map(|_| next() as u8).collect());
        }
        out
    }

    /// The differential script of a case expects what the reference stack
    /// sent, so on the reference target it passes (fails only where an
    /// oracle failed, as the case did): what it then reports on another
    /// target is that target parting from the reference stack, not the
    /// writer's error.
    #[test]
    fn a_differential_script_passes_on_the_reference_stack() {
        let t = Triage { kind: "check".into(), location: "differential".into(), message: "fidelity".into(), step: 0 };
        let (mut checked, mut tried, mut parted) = (0, 0, 0);
        for bytes in cases() {
            let found = exec::run_case(&bytes, &mut vec![0u8; exec::MAP_SIZE], None);
            let yaml = differential_script(&bytes, &t);
            let s = crate::script::parse(std::path::Path::new("case.yaml"), &yaml)
                .unwrap_or_else(|e| panic!("a differential script does not parse: {e:?}\n{yaml}"));
            let r = runner::run_one(&s[0], TargetKind::Reference);
            match (&r.status, found.is_err()) {
                (Status::Passed, false) | (Status::Failed(_), true) => {}
                (other, _) => panic!("oracle: {found:?}; the script: {other:?}\n{yaml}"),
            }
            checked += 1;
            // The same script against a stack that behaves otherwise (the
            // reference stack under the other profile: other delayed-ACK and
            // RTO times, another initial window) parts from it where the
            // case reaches a difference (172 of 1292 cases when written).
            if found.is_ok() && yaml.contains("profile: rfc9293") && yaml.contains("out: ") {
                let other = yaml.replacen("profile: rfc9293", "profile: linux", 1);
                let s = crate::script::parse(std::path::Path::new("case.yaml"), &other).expect("parses");
                tried += 1;
                parted +=
                    usize::from(matches!(runner::run_one(&s[0], TargetKind::Reference).status, Status::Failed(_)));
            }
        }
        assert!(checked > 1000, "{checked} cases");
        eprintln!("{parted} of {tried} scripts parted from the other profile");
        assert!(parted >= 100, "{parted} of {tried} scripts parted from the other profile");
    }

    /// The script written for a case does on the reference target what the
    /// case did in the fuzzer: the same datagrams at the same times, and it
    /// fails exactly when an oracle failed. (A case whose timers the fuzzer
    /// ran late, or whose last wait the script left out, differs here.)
    #[test]
    fn a_case_and_its_script_send_the_same_datagrams() {
        let t = Triage { kind: "check".into(), location: "replay".into(), message: "fidelity".into(), step: 0 };
        let (mut checked, mut failing) = (0, 0);
        for bytes in cases() {
            let mut rec = Vec::new();
            let mut map = vec![0u8; exec::MAP_SIZE];
            let found = exec::run_case(&bytes, &mut map, Some(&mut rec));
            // What the stack sent the case's peers (a flood step counts its
            // answers to the flood's sources instead of tracing each).
            let peer: std::net::IpAddr = REMOTE.parse::<std::net::SocketAddr>().unwrap().ip();
            let to_peer = |b: &[u8]| reference_stack::wire::IpPacket::parse(b).is_ok_and(|p| p.ip.dst == peer);
            let sent: Vec<(u64, Vec<u8>)> = rec
                .iter()
                .filter_map(|r| match r {
                    Recorded::Out { at, bytes } if to_peer(bytes) => Some((at.total_micros(), bytes.clone())),
                    _ => None,
                })
                .collect();
            let yaml = script(&bytes, &t);
            let s = crate::script::parse(std::path::Path::new("case.yaml"), &yaml)
                .unwrap_or_else(|e| panic!("the script of a case does not parse: {e:?}\n{yaml}"));
            let r = runner::run_one(&s[0], TargetKind::Reference);
            let replayed: Vec<(u64, Vec<u8>)> = r
                .trace
                .iter()
                .filter_map(|e| match e {
                    TraceEntry::Packet { at, dir: Dir::Out, bytes, .. } if to_peer(bytes) => {
                        Some((at.as_micros() as u64, bytes.clone()))
                    }
                    _ => None,
                })
                .collect();
            let failed = matches!(r.status, Status::Failed(_));
            assert_eq!(found.is_err(), failed, "oracle verdicts differ ({found:?}, {:?}) for\n{yaml}", r.status);
            if !failed {
                assert!(matches!(r.status, Status::Passed), "{:?}\n{yaml}", r.status);
            }
            if sent != replayed {
                let i = sent.iter().zip(&replayed).position(|(a, b)| a != b).unwrap_or(sent.len().min(replayed.len()));
                panic!(
                    "datagram {i} differs: the case sent {} datagrams, its script {}; at {:?} vs {:?}\n{yaml}",
                    sent.len(),
                    replayed.len(),
                    sent.get(i).map(|s| s.0),
                    replayed.get(i).map(|s| s.0)
                );
            }
            checked += 1;
            failing += usize::from(failed);
        }
        assert!(checked > 1000, "{checked} cases");
        eprintln!("{checked} cases replayed alike ({failing} failing)");
    }
}

/// One distinct finding of a campaign, minimised and written as a script.
#[derive(Debug)]
pub struct Finding {
    pub kind: String,
    pub location: String,
    /// Solutions that were this finding.
    pub count: usize,
    pub message: String,
    /// Actions in the minimised case.
    pub actions: usize,
    /// The script written for it (`case.yaml`; `case.bin` beside it).
    pub script: std::path::PathBuf,
    /// The script fails on the reference target, as the case did (for a
    /// divergence: see [`Finding::how`]).
    pub replays: bool,
    /// How replaying was checked.
    pub how: &'static str,
}

/// What a campaign's solutions came to.
#[derive(Debug)]
pub struct CampaignTriage {
    pub solutions: usize,
    /// Solutions that found nothing when run again outside the campaign.
    pub unreproduced: usize,
    pub findings: Vec<Finding>,
}

/// Triages `out/crashes/`: every solution classified, the shortest of each
/// (oracle, location) minimised and written under `out/findings/<kind-location>/`
/// as `case.bin`, `case.yaml` and `differential.yaml` (the case expecting
/// what the reference stack sent, for other targets), and the script replayed on the reference
/// target, which must fail where the fuzzer's case did.
pub fn triage_campaign(out: &std::path::Path) -> CampaignTriage {
    triage_campaign_against(out, None)
}

/// [`triage_campaign`] for a differential campaign beside `against`: a
/// divergence is written like any finding, and replays when its
/// `differential.yaml` passes on the reference target and fails on the
/// other stack's (the case's first difference there, which may be one the
/// allowances let pass: `divergence.txt` beside it says which one the
/// comparison found).
pub fn triage_campaign_against(out: &std::path::Path, against: Option<&Against>) -> CampaignTriage {
    use crate::runner::{run_one, Status};
    use crate::script::TargetKind;
    let mut groups: std::collections::BTreeMap<(String, String), (usize, Vec<u8>)> = Default::default();
    let mut files: Vec<_> = std::fs::read_dir(out.join("crashes"))
        .map(|r| r.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    // LibAFL keeps metadata and lock files next to each solution (dot files).
    files.retain(|f| f.is_file() && !f.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')));
    files.sort();
    let mut unreproduced = 0;
    for f in &files {
        let Ok(bytes) = std::fs::read(f) else { continue };
        match classify_guarded(&bytes, against) {
            Some(t) => {
                let e = groups.entry(t.key()).or_insert((0, bytes.clone()));
                e.0 += 1;
                if bytes.len() < e.1.len() {
                    e.1 = bytes;
                }
            }
            None => unreproduced += 1,
        }
    }
    let dir = out.join("findings");
    let _ = std::fs::create_dir_all(&dir);
    let mut findings = Vec::new();
    for ((kind, location), (count, bytes)) in groups {
        if kind == "hang" {
            // Not minimised nor replayed (each try would take HANG): the
            // case as the campaign kept it.
            let fdir = dir.join(dir_name(&format!("{kind}-{location}")));
            let _ = std::fs::create_dir_all(&fdir);
            let _ = std::fs::write(fdir.join("case.bin"), &bytes);
            findings.push(Finding {
                kind,
                location,
                count,
                message: format!("the run did not end within {} s (case.bin, not minimised)", HANG.as_secs()),
                actions: (bytes.len().saturating_sub(HEADER)) / RECORD,
                script: fdir.join("case.bin"),
                replays: false,
                how: "not replayed: a hang",
            });
            continue;
        }
        let mut min = minimise_against(&bytes, against);
        if let (Some(linux), true) = (against.and_then(|a| a.allow.linux_profile()), min.len() >= HEADER) {
            // The case as it ran beside the other stack (its profile).
            let h = super::case::Header::decode(&min).with_profile(linux);
            min[..HEADER].copy_from_slice(&h.encode());
        }
        let Some(t) = classify_against(&min, against) else { continue };
        let fdir = dir.join(dir_name(&format!("{kind}-{location}")));
        let _ = std::fs::create_dir_all(&fdir);
        let script_path = fdir.join("case.yaml");
        let _ = std::fs::write(fdir.join("case.bin"), &min);
        let _ = std::fs::write(&script_path, script(&min, &t));
        // The same case expecting what the reference stack sent, for
        // another target: does that stack do what the reference stack did?
        let differential = match against {
            Some(a) if t.kind == "divergence" => divergence_script(&min, &t, a),
            _ => differential_script(&min, &t),
        };
        let _ = std::fs::write(fdir.join("differential.yaml"), differential);
        let mut how = "harness run fails";
        let replays = if t.kind == "divergence" {
            let _ = std::fs::write(fdir.join("divergence.txt"), format!("{}\n\n{}", t.message, explain(&min, against)));
            let other = against.and_then(Against::target);
            match (crate::script::load(&fdir.join("differential.yaml")), other) {
                (Ok(s), Some(k)) => {
                    how = "differential.yaml passes on the reference target and fails on the other";
                    matches!(run_one(&s[0], TargetKind::Reference).status, Status::Passed)
                        && matches!(run_one(&s[0], k).status, Status::Failed(_))
                }
                // No script target for the other side: the minimised case
                // diverges alike when run again.
                (Ok(_), None) => {
                    how = "the minimised case diverges alike when run again";
                    classify_against(&min, against).is_some_and(|again| again.key() == t.key())
                }
                _ => false,
            }
        } else {
            match crate::script::load(&script_path) {
                Ok(s) => matches!(run_one(&s[0], TargetKind::Reference).status, Status::Failed(_)),
                Err(_) => false,
            }
        };
        findings.push(Finding {
            kind,
            location,
            count,
            message: t.message,
            actions: (min.len().saturating_sub(HEADER)) / RECORD,
            script: script_path,
            replays,
            how,
        });
    }
    CampaignTriage { solutions: files.len(), unreproduced, findings }
}
