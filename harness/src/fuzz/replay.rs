//! `harness diff`: a queue of cases (a campaign's `queue/`, `corpus/`)
//! replayed beside the reference stack on a target that runs in real time
//! (the Linux kernel). Each case is run on the reference stack (its `linux`
//! profile, the case's sysctls kept) and written as the script that expects
//! what it sent ([`super::triage::replay_script`]); the script runs on the
//! target like any other, and where it fails is where the two stacks part.
//! Failures are clustered by where they appear (the state, the action that
//! led to it, the segment or call expected and the field that differs), the
//! same way the in-process comparison names them ([`super::diff`]), and each
//! cluster's shortest case is kept as its script.
//!
//! Cases whose timers need long waits are skipped and counted: a case is
//! replayed when no step waits longer than [`Options::max_wait`] after the
//! one before it and the whole takes at most [`Options::max_time`].

use super::case::Header;
use crate::engine::Failure;
use crate::runner::{self, RunConfig, Status};
use crate::script::{Script, StepKind, TargetKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How a queue is replayed.
#[derive(Clone, Debug)]
pub struct Options {
    /// Cases with a step that waits longer than this are skipped.
    pub max_wait: Duration,
    /// Cases whose script runs longer than this in all are skipped (a
    /// replay lasts as long as its longest case).
    pub max_time: Duration,
    /// The target's allowances and divergence ledger
    /// (`fuzzer/divergences/linux.yaml`): how windows are compared, which
    /// clusters are known.
    pub allow: super::diff::Allowances,
    /// Keep each worker's namespace and device from one case to the next
    /// ([`runner::run_linux_reusing`]) instead of making them per case.
    pub reuse: bool,
    pub run: RunConfig,
}

/// A case as read from a queue.
#[derive(Clone, Debug)]
pub struct Input {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

/// Reads cases: files as given, directories' files (a campaign's queue
/// names them by hash, without extension; corpus/ has `.case` files).
/// Hidden files and files of other kinds (`.yaml`, `.md`, ...) in a
/// directory are left out.
pub fn load(paths: &[PathBuf]) -> std::io::Result<Vec<Input>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
        if meta.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file())
                .filter(|f| {
                    let name = f.file_name().and_then(|n| n.to_str()).unwrap_or(".");
                    !name.starts_with('.') && f.extension().is_none_or(|x| x == "case")
                })
                .collect();
            files.sort();
            for f in files {
                let bytes =
                    std::fs::read(&f).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", f.display())))?;
                out.push(Input { path: f, bytes });
            }
        } else {
            let bytes = std::fs::read(p).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
            out.push(Input { path: p.clone(), bytes });
        }
    }
    Ok(out)
}

/// The case under the reference stack's `linux` profile (its sysctls kept).
pub fn with_linux_profile(bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    if b.len() >= super::case::HEADER {
        let h = Header { linux: true, ..Header::decode(&b) };
        b[..super::case::HEADER].copy_from_slice(&h.encode());
    }
    b
}

/// The longest a step waits after the one before it, and the script's
/// length in script time.
pub fn waits(s: &Script) -> (Duration, Duration) {
    let (mut prev, mut longest) = (Duration::ZERO, Duration::ZERO);
    for st in &s.steps {
        let end = st.earliest_end(prev);
        longest = longest.max(end.saturating_sub(prev));
        prev = end;
    }
    (longest, prev)
}

/// What became of one case.
#[derive(Debug)]
pub enum Verdict {
    /// The target did what the reference stack did.
    Alike,
    /// Where they parted: the cluster's name and the failure.
    Diverged { cluster: String, failure: Box<Failure> },
    /// They parted as a ledger entry says they may: the cluster and the
    /// entry's index in [`Options::allow`]'s ledger.
    Known { cluster: String, entry: usize },
    /// Not replayed: why (a long wait, a call the target lacks).
    Skipped(String),
    /// The target could not run it, or the script does not pass on the
    /// reference stack itself (a fault of the replay, never a divergence).
    Error(String),
}

/// One replayed case.
#[derive(Debug)]
pub struct Replayed {
    pub input: PathBuf,
    /// Its script, as written to the output directory.
    pub script: PathBuf,
    pub actions: usize,
    pub verdict: Verdict,
    pub wall: Duration,
}

/// A cluster of divergences and its shortest case.
#[derive(Debug)]
pub struct Cluster {
    pub name: String,
    pub count: usize,
    /// The shortest case's index in [`Report::cases`].
    pub shortest: usize,
}

#[derive(Debug, Default)]
pub struct Report {
    pub cases: Vec<Replayed>,
    pub clusters: Vec<Cluster>,
    /// Writing the scripts and running them on the reference stack.
    pub prepare: Duration,
    /// All of it.
    pub wall: Duration,
}

impl Report {
    pub fn count(&self, f: impl Fn(&Verdict) -> bool) -> usize {
        self.cases.iter().filter(|c| f(&c.verdict)).count()
    }
}

/// A short name of a step for a cluster: `in F.`, `write()`, `timers`.
fn step_name(s: &crate::script::Step) -> String {
    match &s.kind {
        StepKind::In(p) => format!("in {}", p.flags),
        StepKind::Call(c) => {
            // (The call's name: its variant's, as scripts write it.)
            let v = format!("{:?}", c.call);
            format!("{}()", v.split([' ', '{', '(']).next().unwrap_or("call").to_lowercase())
        }
        StepKind::Wait(_) | StepKind::Quiet(_) => "timers".into(),
        StepKind::NewConnection { .. } => "new-connection".into(),
        StepKind::Flood(_) => "flood".into(),
        StepKind::Out(m) => m.values().next().map_or_else(|| "out".into(), |p| format!("out {}", p.flags)),
        _ => "step".into(),
    }
}

/// The cluster a failure falls in: `<state> <action> -> <expected> <field>`,
/// the action being the last step before the failing one that was not an
/// expectation (what the stack answered).
pub fn cluster(script: &Script, f: &Failure) -> String {
    let at = f.step.unwrap_or(0).min(script.steps.len().saturating_sub(1));
    let action = script.steps[..at]
        .iter()
        .rev()
        .find(|s| !matches!(s.kind, StepKind::Out(_)))
        .map_or_else(|| "setup".to_string(), step_name);
    let expected = script.steps.get(at).map_or_else(|| "end".to_string(), step_name);
    let field = match f.diffs.first() {
        Some(d) => d.field.to_string(),
        // (As the in-process comparison names them.)
        None if f.message.starts_with("expected a packet") => "missing".into(),
        None if f.message.starts_with("unexpected packet") => "extra".into(),
        None => first_words(&f.message),
    };
    format!("{} {action} -> {expected} {field}", state_of(f))
}

/// The connection's state on the target when the step failed, from the
/// failure's `<local> <-> <remote> STATE, fd N: STATE`: `no-connection`
/// when it had none (CLOSED).
fn state_of(f: &Failure) -> String {
    let s = f.state.as_deref().unwrap_or("");
    let conn = s.split(',').next().unwrap_or("");
    match conn.split_whitespace().last() {
        None | Some("CLOSED") => "no-connection".into(),
        Some(st) if st.contains(':') => "no-connection".into(),
        Some(st) => st.to_string(),
    }
}

/// A message's kind without its numbers: its words up to the first digit
/// or quote.
fn first_words(m: &str) -> String {
    let cut = m.find(|c: char| c.is_ascii_digit() || c == '`' || c == '\'' || c == ':').unwrap_or(m.len());
    m[..cut].trim().replace(' ', "-")
}

/// Replays `inputs` on `target`, writing each case's script under
/// `out/scripts/` and each cluster's shortest case under
/// `out/clusters/<name>/` (case.bin, case.yaml, failure.txt).
pub fn replay(inputs: &[Input], target: TargetKind, opts: &Options, out: &Path) -> std::io::Result<Report> {
    let started = std::time::Instant::now();
    let dir = out.join("scripts");
    std::fs::create_dir_all(&dir)?;
    // Each case as the script of what the reference stack sent (on every
    // CPU: each is a run of the reference stack).
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let write = |i: usize, inp: &Input| -> std::io::Result<(Replayed, Option<Script>)> {
        let bytes = with_linux_profile(&inp.bytes);
        let stem = inp.path.file_stem().and_then(|s| s.to_str()).unwrap_or("case");
        let name = format!("{i:05}-{stem}");
        let text = super::triage::replay_script(
            &bytes,
            &format!("replay of {}", inp.path.display()),
            "what the reference stack (linux profile) sent for this case",
            &opts.allow,
        );
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, &text)?;
        std::fs::write(dir.join(format!("{name}.bin")), &bytes)?;
        let actions = super::case::Case::decode(&bytes).actions.len();
        let (verdict, script) = match crate::script::parse(&path, &text) {
            Err(e) => (Verdict::Error(format!("its script does not parse: {e}")), None),
            Ok(mut v) if v.len() == 1 => {
                let s = v.remove(0);
                let (longest, total) = waits(&s);
                if total > opts.max_time {
                    (
                        Verdict::Skipped(format!(
                            "runs {:.3} s (over --max-time {:.3} s)",
                            total.as_secs_f64(),
                            opts.max_time.as_secs_f64()
                        )),
                        None,
                    )
                } else if longest > opts.max_wait {
                    (
                        Verdict::Skipped(format!(
                            "waits {:.3} s (over --max-wait {:.3} s)",
                            longest.as_secs_f64(),
                            opts.max_wait.as_secs_f64()
                        )),
                        None,
                    )
                } else {
                    (Verdict::Alike, Some(s))
                }
            }
            Ok(v) => (Verdict::Error(format!("its script is {} scripts", v.len())), None),
        };
        Ok((Replayed { input: inp.path.clone(), script: path, actions, verdict, wall: Duration::ZERO }, script))
    };
    let chunk = inputs.len().div_ceil(cpus).max(1);
    type Part = std::io::Result<Vec<(Replayed, Option<Script>)>>;
    let written: Vec<Part> = std::thread::scope(|sc| {
        let handles: Vec<_> = inputs
            .chunks(chunk)
            .enumerate()
            .map(|(k, part)| {
                let write = &write;
                sc.spawn(move || part.iter().enumerate().map(|(j, inp)| write(k * chunk + j, inp)).collect())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(std::io::Error::other("writing a script panicked"))))
            .collect()
    });
    let mut scripts: Vec<Option<Script>> = Vec::with_capacity(inputs.len());
    let mut cases: Vec<Replayed> = Vec::with_capacity(inputs.len());
    for part in written {
        for (c, s) in part? {
            cases.push(c);
            scripts.push(s);
        }
    }
    // The scripts must pass on the reference stack itself.
    let todo: Vec<(usize, Script)> =
        scripts.iter().enumerate().filter_map(|(i, s)| s.clone().map(|s| (i, s))).collect();
    let just: Vec<Script> = todo.iter().map(|(_, s)| s.clone()).collect();
    let on_ref =
        runner::run_all_with(&just, TargetKind::Reference, &RunConfig { jobs: cpus, ..RunConfig::default() }, &|_| {});
    let mut run: Vec<(usize, Script)> = Vec::new();
    for ((i, s), r) in todo.into_iter().zip(on_ref) {
        match r.status {
            Status::Passed => run.push((i, s)),
            Status::Failed(f) => {
                cases[i].verdict = Verdict::Error(format!("its script fails on the reference stack: {}", f.message))
            }
            Status::Skipped(why) | Status::Error(why) => cases[i].verdict = Verdict::Skipped(why),
            Status::Deviation { failure, .. } => cases[i].verdict = Verdict::Error(failure.message),
        }
    }
    // The longest first: a long case started last would be the run's tail.
    run.sort_by_key(|(_, s)| std::cmp::Reverse(waits(s).1));
    let just: Vec<Script> = run.iter().map(|(_, s)| s.clone()).collect();
    let prepared = started.elapsed();
    let results = if target == TargetKind::Linux && opts.reuse {
        runner::run_linux_reusing(&just, &opts.run, &|_| {})
    } else {
        runner::run_all_with(&just, target, &opts.run, &|_| {})
    };
    for ((i, s), r) in run.into_iter().zip(results) {
        cases[i].wall = r.wall;
        cases[i].verdict = match r.status {
            Status::Passed => Verdict::Alike,
            Status::Failed(f) | Status::Deviation { failure: f, .. } => {
                let name = cluster(&s, &f);
                match opts.allow.ledger.iter().position(|e| crate::suite::glob(&e.cluster, &name)) {
                    Some(entry) => Verdict::Known { cluster: name, entry },
                    None => Verdict::Diverged { cluster: name, failure: Box::new(f) },
                }
            }
            Status::Skipped(why) => Verdict::Skipped(why),
            Status::Error(e) => Verdict::Error(e),
        };
    }
    // Clusters, their shortest cases.
    let mut by: BTreeMap<String, Cluster> = BTreeMap::new();
    for (i, c) in cases.iter().enumerate() {
        if let Verdict::Diverged { cluster, .. } = &c.verdict {
            let e = by.entry(cluster.clone()).or_insert(Cluster { name: cluster.clone(), count: 0, shortest: i });
            e.count += 1;
            if c.actions < cases[e.shortest].actions {
                e.shortest = i;
            }
        }
    }
    let mut clusters: Vec<Cluster> = by.into_values().collect();
    clusters.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
    for c in &clusters {
        let d = out.join("clusters").join(super::triage::dir_name(&c.name));
        std::fs::create_dir_all(&d)?;
        let case = &cases[c.shortest];
        std::fs::copy(&case.script, d.join("case.yaml"))?;
        std::fs::copy(case.script.with_extension("bin"), d.join("case.bin"))?;
        if let Verdict::Diverged { failure, .. } = &case.verdict {
            let mut text = format!("{}\n\n{} (from {})\n", c.name, failure.message, case.input.display());
            for fd in &failure.diffs {
                text.push_str(&format!("  {}: expected {}, got {}\n", fd.field, fd.expected, fd.actual));
            }
            if let Some(p) = &failure.pos {
                text.push_str(&format!("at line {} of case.yaml: {}\n", p.line, failure.step_text));
            }
            std::fs::write(d.join("failure.txt"), text)?;
        }
    }
    Ok(Report { cases, clusters, prepare: prepared, wall: started.elapsed() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::FieldDiff;

    fn allow() -> super::super::diff::Allowances {
        super::super::diff::Allowances::builtin("linux").unwrap().unwrap()
    }

    /// Every seed written as its replay script (windows by class, PSH
    /// either way) passes on the reference stack itself: on the kernel, a
    /// failure is then the kernel's difference, never the writing's.
    #[test]
    fn replay_scripts_pass_on_the_reference_stack() {
        let inputs = load(&[PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../corpus"))]).unwrap();
        assert!(inputs.len() > 100, "{}", inputs.len());
        let mut checked = 0;
        for inp in &inputs {
            let bytes = with_linux_profile(&inp.bytes);
            let text = super::super::triage::replay_script(&bytes, "r", "d", &allow());
            let s =
                crate::script::parse(Path::new("r.yaml"), &text).unwrap_or_else(|e| panic!("{e}\n{text}")).remove(0);
            assert_eq!(s.profile.name, "linux", "{}", inp.path.display());
            let r = runner::run_one(&s, TargetKind::Reference);
            assert!(matches!(r.status, Status::Passed), "{}: {:?}\n{text}", inp.path.display(), r.status);
            checked += 1;
        }
        assert!(checked > 100);
    }

    #[test]
    fn windows_are_written_by_class() {
        let text = super::super::triage::replay_script(
            &std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../corpus/handshake-simultaneous-open.case")).unwrap(),
            "r",
            "d",
            &allow(),
        );
        let outs: Vec<&str> = text.lines().filter(|l| l.contains("out: ")).collect();
        assert!(!outs.is_empty(), "{text}");
        for l in outs {
            assert!(l.contains("win 1~65535") || l.contains("win 0"), "{l}");
            assert!(!l.contains("wscale ") || l.contains("wscale *"), "{l}");
            assert!(l.contains("out: \"p"), "{l}");
        }
    }

    #[test]
    fn clusters_name_state_action_expectation_and_field() {
        let text = "name: x\nsteps:\n  - in: \"S 0:0(0) win 1000\"\n  - out: \"S. 0:0(0) ack 1\"\n  - wait: 10ms\n";
        let s = crate::script::parse(Path::new("x.yaml"), text).unwrap().remove(0);
        let mut f = Failure {
            step: Some(1),
            pos: None,
            step_text: String::new(),
            message: "packet differs".into(),
            diffs: vec![FieldDiff { field: "options", expected: "a".into(), actual: "b".into() }],
            state: Some("198.51.100.1:8080 <-> 192.0.2.1:40000 SYN-RECEIVED, fd 3: LISTEN".into()),
            descheduled: None,
        };
        assert_eq!(cluster(&s, &f), "SYN-RECEIVED in S -> out S. options");
        f.diffs.clear();
        f.message = "expected a packet by 0.01 (at 0), nothing was sent".into();
        f.state = Some("198.51.100.1:8080 <-> 192.0.2.1:40000 CLOSED, fd 3: LISTEN".into());
        assert_eq!(cluster(&s, &f), "no-connection in S -> out S. missing");
        f.step = Some(2);
        f.message = "unexpected packet at 0.000060: out R".into();
        assert_eq!(cluster(&s, &f), "no-connection in S -> timers extra");
    }

    #[test]
    fn a_queue_is_read_without_its_hidden_and_other_files() {
        let d = std::env::temp_dir().join(format!("replay-load-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        for (n, b) in [("00ab", &b"\x00\x00"[..]), ("x.case", b"\x01\x00"), (".lafl_lock", b""), ("README.md", b"#")] {
            std::fs::write(d.join(n), b).unwrap();
        }
        let v = load(std::slice::from_ref(&d)).unwrap();
        let names: Vec<_> = v.iter().map(|i| i.path.file_name().unwrap().to_str().unwrap().to_string()).collect();
        assert_eq!(names, ["00ab", "x.case"]);
        let e = load(&[d.join("missing")]).unwrap_err().to_string();
        assert!(e.contains("missing"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
