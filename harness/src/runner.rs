//! Finding scripts, running them in parallel on a target, and collecting one
//! result per (script, target): the single event stream every reporter reads.

use crate::engine::{self, Outcome, RunOptions, TraceEntry};
use crate::script::{self, Script, ScriptError, TargetKind};
use crate::suite::Ledgers;
use crate::target::adapter::AdapterTarget;
use crate::target::linux::{self, LinuxTarget, TransportKind};
use crate::target::reference::ReferenceTarget;
use crate::target::smoltcp::Smoltcp;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub enum Status {
    Passed,
    Failed(engine::Failure),
    /// Not run on this target: the reason.
    Skipped(String),
    /// The target could not run it.
    Error(String),
    /// Failed as the target's ledger of known deviations says it does.
    Deviation {
        deviation: Box<crate::suite::Deviation>,
        failure: engine::Failure,
    },
}

#[derive(Debug)]
pub struct ScriptResult {
    pub script: Script,
    pub target: TargetKind,
    pub status: Status,
    pub wall: Duration,
    pub script_time: Duration,
    pub trace: Vec<TraceEntry>,
    /// Facts about the target for the report (kernel version, sysctls).
    pub info: Vec<(String, String)>,
    /// Earlier attempts that failed (`--retries`), oldest first: a pass
    /// after one is flaky.
    pub earlier: Vec<Attempt>,
    /// A pass of a script its target's ledger lists as an intermittent
    /// deviation: the entry, which did not show this run.
    pub unshown: Option<crate::suite::Deviation>,
}

/// A failed attempt of a run that was tried again.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// The failure's message, one line.
    pub message: String,
    /// The whole failure report, as the terminal shows it.
    pub text: String,
    pub wall: Duration,
    /// The harness was late or off the CPU this long around the failing
    /// step (the attempt was tried again for it).
    pub descheduled: Option<Duration>,
}

/// Runs tried again by default when the harness was descheduled around
/// their failure.
pub const DEFAULT_LOAD_RETRIES: u32 = 2;

/// How scripts are run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub jobs: usize,
    pub transport: TransportKind,
    pub options: RunOptions,
    /// Why the Linux target cannot run here (checked once), if it cannot.
    pub linux_unavailable: Option<String>,
    /// `--dut`: the program (and its arguments) of the `dut` target.
    pub dut: Option<Vec<String>>,
    /// `--retries`: how many more times a failed run on a real-time target
    /// (Linux, lwIP, a DUT) is tried; a later pass is reported flaky.
    pub retries: u32,
    /// `--load-retries`: how many more times a failed run is tried when the
    /// harness itself was late or off the CPU around the failing step (its
    /// watchdog saw it: the failure may be the machine's load), besides
    /// `retries`.
    pub load_retries: u32,
    /// `--fail-fast`: start nothing new after a run failed.
    pub fail_fast: bool,
    /// `--wrap`: the wrap dimension's sides; each script runs again with
    /// those numbers placed to cross 2^32 halfway (`script::wrap`).
    pub wrap: Vec<crate::script::wrap::WrapSide>,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            jobs: 1,
            transport: TransportKind::Tun,
            options: RunOptions::default(),
            linux_unavailable: None,
            dut: None,
            retries: 0,
            load_retries: DEFAULT_LOAD_RETRIES,
            fail_fast: false,
            wrap: Vec::new(),
        }
    }
}

impl RunConfig {
    /// Probes the Linux target once (only when it will be used).
    pub fn probe_linux(&mut self) {
        self.linux_unavailable = linux::available(self.transport).err();
    }
}

impl ScriptResult {
    pub fn id(&self) -> String {
        self.script.id()
    }

    /// Passed after a failed attempt that the machine's load does not
    /// explain.
    pub fn flaky(&self) -> bool {
        self.earlier.iter().any(|a| a.descheduled.is_none())
            && matches!(self.status, Status::Passed | Status::Deviation { .. })
    }

    /// Passed after failed attempts that were all run while the harness
    /// itself was descheduled (tried again for that, not flaky).
    pub fn rerun_for_load(&self) -> bool {
        !self.earlier.is_empty()
            && self.earlier.iter().all(|a| a.descheduled.is_some())
            && matches!(self.status, Status::Passed | Status::Deviation { .. })
    }

    /// The failure, when the harness was descheduled around it.
    pub fn descheduled(&self) -> Option<Duration> {
        match &self.status {
            Status::Failed(f) => f.descheduled,
            _ => None,
        }
    }

    /// Failed or could not run: what fails the run.
    pub fn failed(&self) -> bool {
        matches!(self.status, Status::Failed(_) | Status::Error(_))
    }
}

/// A path given to run that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct FindError {
    pub path: PathBuf,
    pub message: String,
}

/// Scripts found under the given paths, in a stable order. A path given
/// that is neither a directory nor a regular file (a FIFO, a device) is
/// kept, for loading to refuse with its kind; in directories, only
/// `*.yaml`/`*.yml` entries are taken, and a directory reached again
/// through a symbolic link (a loop) is walked once.
pub fn find_scripts(paths: &[PathBuf]) -> Result<Vec<PathBuf>, FindError> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for p in paths {
        let err = |message: String| FindError { path: p.clone(), message };
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => walk(p, &mut out, &mut seen).map_err(|e| err(e.to_string()))?,
            Ok(_) => out.push(p.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let dangling = std::fs::symlink_metadata(p).is_ok();
                return Err(err(if dangling {
                    "a symbolic link to nothing".into()
                } else {
                    "no such file or directory".into()
                }));
            }
            Err(e) => return Err(err(e.to_string())),
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, seen: &mut std::collections::HashSet<(u64, u64)>) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(dir)?;
    if !seen.insert((m.dev(), m.ino())) {
        return Ok(()); // walked already: a symlink loop, or two links to one directory
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == crate::suite::EXPECTATIONS) {
                continue; // ledgers, not scripts
            }
            walk(&p, out, seen)?;
        } else if p.file_name().is_some_and(|n| n == crate::suite::CATALOGUE) {
            // the requirement catalogue, not a script
        } else if matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
    Ok(())
}

/// Loads every file; returns the scripts (matrix variants expanded) and the
/// errors of those that do not check.
pub fn load_all(files: &[PathBuf]) -> (Vec<Script>, Vec<ScriptError>) {
    let mut scripts = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        match script::load(f) {
            Ok(mut s) => scripts.append(&mut s),
            Err(e) => errors.push(e),
        }
    }
    (scripts, errors)
}

/// A deterministic slice `K/N` (1-based K) of the scripts, by position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    pub k: usize,
    pub n: usize,
}

impl std::str::FromStr for Partition {
    type Err = String;
    fn from_str(s: &str) -> Result<Partition, String> {
        let bad = || format!("`{s}` is not K/N with 1 <= K <= N (e.g. 2/4)");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
        if n == 0 || k == 0 || k > n {
            return Err(bad());
        }
        Ok(Partition { k, n })
    }
}

pub fn partition(scripts: Vec<Script>, p: Option<Partition>) -> Vec<Script> {
    match p {
        None => scripts,
        Some(p) => scripts.into_iter().enumerate().filter(|(i, _)| i % p.n == p.k - 1).map(|(_, s)| s).collect(),
    }
}

/// Runs one script on one target.
pub fn run_one(script: &Script, kind: TargetKind) -> ScriptResult {
    run_one_with(script, kind, &RunConfig::default())
}

/// Why `script` would be skipped on `kind` without running, if it would:
/// not among its `targets:`, a shell step without `--allow-shell`, or a
/// call or option the target does not have.
pub fn skip_reason(script: &Script, kind: TargetKind, cfg: &RunConfig) -> Option<String> {
    if !script.runs_on(kind) {
        return Some(format!("the script's `targets:` does not list {kind}"));
    }
    if !cfg.options.allow_shell {
        if let Some(st) = script.steps.iter().find(|s| matches!(s.kind, crate::script::StepKind::Shell(_))) {
            return Some(format!("line {} runs a shell command; pass --allow-shell to run it", st.pos.line));
        }
    }
    crate::target::capabilities::refusal(kind, script)
}

pub fn run_one_with(script: &Script, kind: TargetKind, cfg: &RunConfig) -> ScriptResult {
    let start = Instant::now();
    let result = |status, script_time, trace, info| result_of(script, kind, start, (status, script_time, trace, info));
    if let Some(why) = skip_reason(script, kind, cfg) {
        return result(Status::Skipped(why), Duration::ZERO, Vec::new(), Vec::new());
    }
    let (st, time, trace, info) = match kind {
        TargetKind::Reference => in_process("the reference stack", || {
            let mut t = ReferenceTarget::new(script);
            (engine::run_with(script, &mut t, cfg.options), Vec::new())
        }),
        TargetKind::Smoltcp => in_process(crate::target::smoltcp::VERSION, || {
            let mut t = AdapterTarget::new(Smoltcp::new(script.local), kind);
            let r = engine::run_with(script, &mut t, cfg.options);
            (r, crate::target::Target::info(&t))
        }),
        TargetKind::Linux | TargetKind::Lwip | TargetKind::Dut => {
            if let Some(why) = &cfg.linux_unavailable {
                // Outside CI a missing privilege skips; in CI it fails, so the
                // scripts never silently disappear.
                let st = if std::env::var_os("CI").is_some() {
                    Status::Error(why.clone())
                } else {
                    Status::Skipped(why.clone())
                };
                return result(st, Duration::ZERO, Vec::new(), Vec::new());
            }
            in_namespace(script, kind, cfg)
        }
    };
    result(st, time, trace, info)
}

type Ran = (Status, Duration, Vec<TraceEntry>, Vec<(String, String)>);

/// Runs an in-process target; a panic in the stack is a finding (a failure
/// that names it), not the end of the run.
fn in_process(who: &str, f: impl FnOnce() -> (engine::RunReport, Vec<(String, String)>)) -> Ran {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok((r, info)) => (status_of(r.outcome), r.script_time, r.trace, info),
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            let f = engine::Failure {
                step: None,
                pos: None,
                step_text: String::new(),
                message: format!("{who} panicked: {msg}"),
                diffs: Vec::new(),
                state: None,
                descheduled: None,
            };
            (Status::Failed(f), Duration::ZERO, Vec::new(), Vec::new())
        }
    }
}

/// Runs a target that lives in a private network namespace, on a thread of
/// its own: it moves into the script's namespace, which goes away with the
/// thread's descriptors when it ends.
fn in_namespace(script: &Script, kind: TargetKind, cfg: &RunConfig) -> Ran {
    let (transport, options, dut) = (cfg.transport, cfg.options, cfg.dut.clone());
    let s = script.clone();
    let joined = std::thread::Builder::new()
        .name(format!("{kind}-target"))
        .spawn(move || {
            let target: Result<Box<dyn crate::target::Target>, crate::target::TargetError> = match kind {
                TargetKind::Lwip => crate::target::dut::DutTarget::lwip(&s).map(|t| Box::new(t) as Box<_>),
                TargetKind::Dut => match &dut {
                    Some(cmd) => {
                        crate::target::dut::DutTarget::start(cmd, &s, TargetKind::Dut).map(|t| Box::new(t) as Box<_>)
                    }
                    None => Err(crate::target::TargetError::Setup(
                        "the dut target runs the program --dut names (e.g. --dut ./my-dut), and none was given".into(),
                    )),
                },
                _ => LinuxTarget::new(&s, transport).map(|t| Box::new(t) as Box<_>),
            };
            match target {
                Err(e) => (Status::Error(e.to_string()), Duration::ZERO, Vec::new(), Vec::new()),
                Ok(mut t) => {
                    let r = engine::run_with(&s, t.as_mut(), options);
                    let info = t.info();
                    (status_of(r.outcome), r.script_time, r.trace, info)
                }
            }
        })
        .map_err(|e| e.to_string())
        .and_then(|h| h.join().map_err(|_| format!("the {kind} target's thread panicked")));
    match joined {
        Ok(r) => r,
        Err(e) => (Status::Error(e), Duration::ZERO, Vec::new(), Vec::new()),
    }
}

fn status_of(o: Outcome) -> Status {
    match o {
        Outcome::Passed => Status::Passed,
        Outcome::Failed(f) => Status::Failed(f),
        Outcome::Error(e) => Status::Error(e),
    }
}

/// Runs all scripts on `kind` with `jobs` threads; `on_done` sees each result
/// as it finishes (for progress); results come back in script order.
pub fn run_all(
    scripts: &[Script],
    kind: TargetKind,
    jobs: usize,
    on_done: &(dyn Fn(&ScriptResult) + Sync),
) -> Vec<ScriptResult> {
    run_all_with(scripts, kind, &RunConfig { jobs, ..RunConfig::default() }, on_done)
}

pub fn run_all_with(
    scripts: &[Script],
    kind: TargetKind,
    cfg: &RunConfig,
    on_done: &(dyn Fn(&ScriptResult) + Sync),
) -> Vec<ScriptResult> {
    run_some(scripts, kind, cfg, None, &AtomicBool::new(false), on_done)
}

/// Whether a target runs in real time, where timing can flake under load
/// and `--retries` applies (virtual-time targets are deterministic).
pub fn real_time(kind: TargetKind) -> bool {
    matches!(kind, TargetKind::Linux | TargetKind::Lwip | TargetKind::Dut)
}

/// Runs one script, judged by `ledgers` when given, and again up to
/// `cfg.retries` times while it fails on a real-time target, and up to
/// `cfg.load_retries` more times while it fails with the harness itself
/// descheduled around the failing step; the failed attempts are kept in the
/// result. A run the ledger lists is not retried when it fails: its failure
/// is the expected one. When it passes on a real-time target (and the entry
/// is not `intermittent`), it is tried again up to `cfg.load_retries` times:
/// a timer of the stack firing at another phase, the machine's load shifting
/// the script against it, can hide a deviation once; only a pass on every
/// attempt is a stale entry.
pub fn run_with_retries(script: &Script, kind: TargetKind, cfg: &RunConfig, ledgers: Option<&Ledgers>) -> ScriptResult {
    retried(script, kind, cfg, ledgers, &mut || run_one_with(script, kind, cfg))
}

/// [`run_with_retries`] with each attempt made by `attempt`.
fn retried(
    script: &Script,
    kind: TargetKind,
    cfg: &RunConfig,
    ledgers: Option<&Ledgers>,
    attempt: &mut dyn FnMut() -> ScriptResult,
) -> ScriptResult {
    let entry = ledgers.and_then(|l| l.lookup(kind, &script.path, script.variant.as_deref()));
    let listed = entry.is_some();
    let strict_entry = entry.is_some_and(|(d, _)| d.intermittent.is_none());
    let mut earlier: Vec<Attempt> = Vec::new();
    let mut listed_passes = 0u32;
    loop {
        let mut r = attempt();
        let descheduled = r.descheduled();
        let listed_pass = strict_entry && real_time(kind) && matches!(r.status, Status::Passed);
        let retry = if listed_pass {
            listed_passes += 1;
            listed_passes <= cfg.load_retries
        } else {
            r.failed() && !listed && real_time(kind) && try_again(&earlier, descheduled.is_some(), cfg)
        };
        if let Some(l) = ledgers {
            apply_ledgers(l, std::slice::from_mut(&mut r));
        }
        if !retry {
            r.earlier = earlier;
            return r;
        }
        let message = match &r.status {
            Status::Failed(f) => f.message.clone(),
            Status::Error(e) => e.clone(),
            _ => String::new(),
        };
        let text = match &r.status {
            Status::Failed(_) => crate::report::failure_text(&r),
            _ => format!("ERROR {} on {}: {message}\n", r.id(), r.target),
        };
        earlier.push(Attempt { message, text, wall: r.wall, descheduled });
    }
}

/// Whether a failed attempt is tried again, after the `earlier` ones: one
/// with the harness descheduled around its failure on the `--load-retries`
/// budget while it lasts, any other on the `--retries` budget.
fn try_again(earlier: &[Attempt], descheduled: bool, cfg: &RunConfig) -> bool {
    let load = cfg.load_retries as usize;
    // Descheduled attempts past the load budget were on the other one.
    let for_load = earlier.iter().filter(|a| a.descheduled.is_some()).count().min(load);
    let plain = earlier.len() - for_load;
    (descheduled && for_load < load) || plain < cfg.retries as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_retry_budget_is_spent_once() {
        let attempt = |d: bool| Attempt {
            message: String::new(),
            text: String::new(),
            wall: Duration::ZERO,
            descheduled: d.then_some(Duration::from_millis(20)),
        };
        // How many attempts a run gets that fails every time, descheduled
        // or not, with `retries` and `load_retries`.
        let attempts = |descheduled: bool, retries: u32, load_retries: u32| {
            let cfg = RunConfig { retries, load_retries, ..RunConfig::default() };
            let mut earlier = Vec::new();
            while try_again(&earlier, descheduled, &cfg) {
                earlier.push(attempt(descheduled));
                assert!(earlier.len() < 100, "no end");
            }
            earlier.len() + 1
        };
        assert_eq!(attempts(true, 0, 2), 3);
        assert_eq!(attempts(true, 1, 2), 4);
        assert_eq!(attempts(true, 3, 0), 4);
        assert_eq!(attempts(false, 0, 2), 1);
        assert_eq!(attempts(false, 2, 2), 3);
        // A plain failure after a descheduled one: on the plain budget.
        let cfg = RunConfig { retries: 1, load_retries: 2, ..RunConfig::default() };
        assert!(try_again(&[attempt(true)], false, &cfg));
        assert!(!try_again(&[attempt(true), attempt(false)], false, &cfg));
        assert!(try_again(&[attempt(true), attempt(false)], true, &cfg));
    }
}

/// [`run_all_with`], stopping (with `cfg.fail_fast`) once `stop` is set:
/// runs not started then are left out of the results.
fn run_some(
    scripts: &[Script],
    kind: TargetKind,
    cfg: &RunConfig,
    ledgers: Option<&Ledgers>,
    stop: &AtomicBool,
    on_done: &(dyn Fn(&ScriptResult) + Sync),
) -> Vec<ScriptResult> {
    in_parallel(
        scripts,
        cfg.jobs,
        cfg.fail_fast.then_some(stop),
        || (),
        |_, s| {
            let r = run_with_retries(s, kind, cfg, ledgers);
            if r.failed() {
                stop.store(true, Ordering::SeqCst);
            }
            r
        },
        on_done,
    )
}

/// `jobs` threads take the scripts in turn, each with a `state` of its own
/// (made on the thread); results come back in script order. Once `stop` is
/// set, nothing new starts (those runs are left out).
fn in_parallel<S>(
    scripts: &[Script],
    jobs: usize,
    stop: Option<&AtomicBool>,
    state: impl Fn() -> S + Sync,
    run: impl Fn(&mut S, &Script) -> ScriptResult + Sync,
    on_done: &(dyn Fn(&ScriptResult) + Sync),
) -> Vec<ScriptResult> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ScriptResult>>> = Mutex::new((0..scripts.len()).map(|_| None).collect());
    std::thread::scope(|sc| {
        for _ in 0..jobs.max(1).min(scripts.len().max(1)) {
            sc.spawn(|| {
                let mut st = state();
                loop {
                    if stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(s) = scripts.get(i) else { break };
                    let r = run(&mut st, s);
                    on_done(&r);
                    results.lock().expect("no poisoned lock")[i] = Some(r);
                }
            });
        }
    });
    results.into_inner().expect("no poisoned lock").into_iter().flatten().collect()
}

/// Runs scripts on the Linux target (TUN transport) with `cfg.jobs`
/// threads, each keeping one namespace and device for the scripts it runs
/// ([`linux::Slot`]: cleaned between two, never made and torn down for
/// each); a script that does not fit a kept namespace (another device, a
/// shell step) runs as [`run_one_with`] runs it. A failed run is tried
/// again as [`run_with_retries`] tries it. Results come back in script
/// order.
pub fn run_linux_reusing(
    scripts: &[Script],
    cfg: &RunConfig,
    on_done: &(dyn Fn(&ScriptResult) + Sync),
) -> Vec<ScriptResult> {
    // (Each thread moves into its namespace for good.) Tried again as
    // `harness run` does (`--retries`, `--load-retries`: the harness
    // descheduled around the failure).
    in_parallel(
        scripts,
        cfg.jobs,
        None,
        || None::<linux::Slot>,
        |slot, s| retried(s, TargetKind::Linux, cfg, None, &mut || run_in_slot(s, cfg, slot)),
        on_done,
    )
}

/// One script in the thread's kept namespace (made on first use, made
/// anew after a failure to clean it).
fn run_in_slot(script: &Script, cfg: &RunConfig, slot: &mut Option<linux::Slot>) -> ScriptResult {
    let kind = TargetKind::Linux;
    if cfg.transport != TransportKind::Tun
        || skip_reason(script, kind, cfg).is_some()
        || cfg.linux_unavailable.is_some()
    {
        return run_one_with(script, kind, cfg);
    }
    let start = Instant::now();
    if slot.is_none() {
        match linux::Slot::new(script) {
            Ok(s) => *slot = Some(s),
            Err(e) => {
                return result_of(
                    script,
                    kind,
                    start,
                    (Status::Error(e.to_string()), Duration::ZERO, Vec::new(), Vec::new()),
                )
            }
        }
    }
    let Some(sl) = slot.as_mut().filter(|s| s.fits(script)) else { return run_one_with(script, kind, cfg) };
    let ran = match sl.target(script) {
        Err(e) => (Status::Error(e.to_string()), Duration::ZERO, Vec::new(), Vec::new()),
        Ok(mut t) => {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let r = engine::run_with(script, &mut t, cfg.options);
                let info = crate::target::Target::info(&t);
                (status_of(r.outcome), r.script_time, r.trace, info)
            }));
            let cleaned = sl.give_back(t);
            match (r, cleaned) {
                (Ok(ran), Ok(())) => ran,
                (Ok(ran), Err(e)) => {
                    // The namespace is left for a new one; the run stands.
                    eprintln!("warning: {e}; a new namespace follows");
                    *slot = None;
                    ran
                }
                (Err(_), _) => {
                    *slot = None;
                    (Status::Error("the linux target panicked".into()), Duration::ZERO, Vec::new(), Vec::new())
                }
            }
        }
    };
    result_of(script, kind, start, ran)
}

fn result_of(
    script: &Script,
    kind: TargetKind,
    start: Instant,
    (status, script_time, trace, info): Ran,
) -> ScriptResult {
    ScriptResult {
        script: script.clone(),
        target: kind,
        status,
        wall: start.elapsed(),
        script_time,
        trace,
        info,
        earlier: Vec::new(),
        unshown: None,
    }
}

/// Turns the failures the ledgers list into known deviations, and the
/// passes they list into failures (a stale entry hides nothing).
pub fn apply_ledgers(ledgers: &Ledgers, results: &mut [ScriptResult]) {
    for r in results.iter_mut() {
        let Some((d, ledger)) = ledgers.lookup(r.target, &r.script.path, r.script.variant.as_deref()) else {
            continue;
        };
        let (d, file) = (d.clone(), ledger.file.clone());
        let status = std::mem::replace(&mut r.status, Status::Passed);
        r.status = match status {
            Status::Failed(f) => Status::Deviation { deviation: Box::new(d), failure: f },
            Status::Passed if d.intermittent.is_some() => {
                r.unshown = Some(d);
                Status::Passed
            }
            Status::Passed => Status::Failed(engine::Failure {
                step: None,
                pos: None,
                step_text: String::new(),
                message: format!(
                    "passed, but {} lists it as a known deviation ({}): remove the entry",
                    file.map(|f| f.display().to_string()).unwrap_or_default(),
                    d.reason
                ),
                diffs: Vec::new(),
                state: None,
                descheduled: None,
            }),
            other => other,
        };
    }
}

/// What a run will do: the targets, the scripts (matrix variants expanded,
/// the partition applied), the ledgers that judge them, and the files that
/// did not check.
pub struct Plan {
    pub kinds: Vec<TargetKind>,
    pub cfg: RunConfig,
    /// The scripts some filter takes on some target (all, with none).
    pub scripts: Vec<Script>,
    pub invalid: Vec<ScriptError>,
    pub ledgers: Ledgers,
    /// `--filter`s: a (script, target) pair runs when one takes it.
    pub filters: Vec<crate::filter::Filter>,
}

/// Why a run cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Find(#[from] FindError),
    #[error(transparent)]
    Suite(#[from] crate::suite::SuiteError),
}

impl Plan {
    /// Finds and loads the scripts under `paths` for `kinds`, probing the
    /// Linux target once when it is among them (`cfg.linux_unavailable`);
    /// keeps what `filters` take (any of them; none takes everything), then
    /// the partition's slice of those, so slices share out the selection.
    pub fn new(
        paths: &[PathBuf],
        kinds: Vec<TargetKind>,
        mut cfg: RunConfig,
        filters: Vec<crate::filter::Filter>,
        part: Option<Partition>,
    ) -> Result<Plan, PlanError> {
        if kinds.iter().any(|k| matches!(k, TargetKind::Linux | TargetKind::Lwip | TargetKind::Dut)) {
            cfg.probe_linux();
        }
        let files = find_scripts(paths)?;
        let (scripts, invalid) = load_all(&files);
        let mut scripts = crate::script::wrap::expand(scripts, &cfg.wrap);
        scripts.retain(|s| kinds.iter().any(|k| takes(&filters, s, *k)));
        let scripts = partition(scripts, part);
        let ledgers = Ledgers::load(paths, &kinds)?;
        Ok(Plan { kinds, cfg, scripts, invalid, ledgers, filters })
    }

    /// The scripts that run on `kind`: those the filters take there.
    pub fn scripts_for(&self, kind: TargetKind) -> Vec<Script> {
        self.scripts.iter().filter(|s| takes(&self.filters, s, kind)).cloned().collect()
    }

    /// How many runs the plan holds.
    pub fn len(&self) -> usize {
        self.kinds.iter().map(|k| self.scripts.iter().filter(|s| takes(&self.filters, s, *k)).count()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs every script on every target, each judged by the ledgers as it
    /// ends: the one stream of results every report reads. With
    /// `cfg.fail_fast`, nothing new starts after a failure (on any target).
    pub fn run(&self, on_done: &(dyn Fn(&ScriptResult) + Sync)) -> Vec<ScriptResult> {
        let mut results = Vec::new();
        let stop = AtomicBool::new(false);
        for kind in &self.kinds {
            if self.cfg.fail_fast && stop.load(Ordering::SeqCst) {
                break;
            }
            results.extend(run_some(&self.scripts_for(*kind), *kind, &self.cfg, Some(&self.ledgers), &stop, on_done));
        }
        results
    }
}

/// Whether a run on `kind` takes `s`: the filters do, and a wrap variant's
/// numbers can be placed there.
pub fn takes(filters: &[crate::filter::Filter], s: &Script, kind: TargetKind) -> bool {
    crate::script::wrap::runs_on(s, kind) && crate::filter::any_matches(filters, s, kind)
}

/// An in-process target's speed: `rounds` passes over `scripts`.
pub struct InProcessBench {
    pub runs: usize,
    pub wall: Duration,
    /// Script (virtual) time covered.
    pub script_time: Duration,
    /// The last round's results (for the ledger and the verdict).
    pub last: Vec<ScriptResult>,
}

/// Runs `scripts` `rounds` times on `kind` (the reference stack, smoltcp:
/// targets in virtual time) and times it.
pub fn bench_in_process(scripts: &[Script], kind: TargetKind, rounds: usize, jobs: usize) -> InProcessBench {
    let start = Instant::now();
    let (mut runs, mut script_time, mut last) = (0, Duration::ZERO, Vec::new());
    for _ in 0..rounds.max(1) {
        last = run_all(scripts, kind, jobs, &|_| {});
        runs += last.len();
        script_time += last.iter().map(|r| r.script_time).sum::<Duration>();
    }
    InProcessBench { runs, wall: start.elapsed(), script_time, last }
}

/// The Linux target's fixed cost per script: `n` runs of a script that only
/// opens a socket (thread, namespace, device, addresses, readiness probe).
pub struct FixedCost {
    /// Each run, sorted.
    pub costs: Vec<Duration>,
    /// All runs back to back, and with every namespace and device torn down.
    pub runs: Duration,
    pub with_teardown: Duration,
}

pub fn bench_linux_fixed_cost(cfg: &RunConfig, n: usize) -> Result<FixedCost, String> {
    bench_fixed_cost(TargetKind::Linux, cfg, n)
}

/// The fixed cost per script of a target in a namespace (Linux, a DUT):
/// `n` runs of a script that only makes a socket.
pub fn bench_fixed_cost(kind: TargetKind, cfg: &RunConfig, n: usize) -> Result<FixedCost, String> {
    let text = format!("targets: [{kind}]\nsteps:\n  - call: socket() = 3\n");
    let trivial = script::parse(Path::new("trivial.yaml"), &text).map_err(|e| e.one_line())?.remove(0);
    let mut costs = Vec::with_capacity(n);
    linux::reaped();
    let all = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        let r = run_one_with(&trivial, kind, cfg);
        costs.push(t.elapsed());
        if !matches!(r.status, Status::Passed) {
            return Err(format!("the trivial script did not pass: {:?}", r.status));
        }
    }
    let runs = all.elapsed();
    linux::reaped();
    costs.sort();
    Ok(FixedCost { costs, runs, with_teardown: all.elapsed() })
}
