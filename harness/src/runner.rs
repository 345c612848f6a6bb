//! Finding scripts, running them in parallel on a target, and collecting one
//! result per (script, target): the single event stream every reporter reads.

use crate::engine::{self, Outcome, RunOptions, TraceEntry};
use crate::script::{self, Script, ScriptError, TargetKind};
use crate::suite::Ledgers;
use crate::target::linux::{self, LinuxTarget, TransportKind};
use crate::target::reference::ReferenceTarget;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
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
        deviation: crate::suite::Deviation,
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
}

/// How scripts are run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub jobs: usize,
    pub transport: TransportKind,
    pub options: RunOptions,
    /// Why the Linux target cannot run here (checked once), if it cannot.
    pub linux_unavailable: Option<String>,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig { jobs: 1, transport: TransportKind::Tun, options: RunOptions::default(), linux_unavailable: None }
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
}

/// Scripts found under the given paths, in a stable order.
pub fn find_scripts(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out).map_err(|e| format!("{}: {e}", p.display()))?;
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == crate::suite::EXPECTATIONS) {
                continue; // ledgers, not scripts
            }
            walk(&p, out)?;
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

pub fn run_one_with(script: &Script, kind: TargetKind, cfg: &RunConfig) -> ScriptResult {
    let start = Instant::now();
    let result = |status, script_time, trace, info| ScriptResult {
        script: script.clone(),
        target: kind,
        status,
        wall: start.elapsed(),
        script_time,
        trace,
        info,
    };
    if !script.runs_on(kind) {
        return result(
            Status::Skipped(format!("the script's `targets:` does not list {kind}")),
            Duration::ZERO,
            Vec::new(),
            Vec::new(),
        );
    }
    if !cfg.options.allow_shell {
        if let Some(st) = script.steps.iter().find(|s| matches!(s.kind, crate::script::StepKind::Shell(_))) {
            return result(
                Status::Skipped(format!("line {} runs a shell command; pass --allow-shell to run it", st.pos.line)),
                Duration::ZERO,
                Vec::new(),
                Vec::new(),
            );
        }
    }
    match kind {
        TargetKind::Reference => {
            // A panic in the reference stack is a finding, not the end of the run.
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut t = ReferenceTarget::new(script);
                engine::run_with(script, &mut t, cfg.options)
            }));
            match run {
                Ok(r) => result(status_of(r.outcome), r.script_time, r.trace, Vec::new()),
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
                        message: format!("the reference stack panicked: {msg}"),
                        diffs: Vec::new(),
                        state: None,
                    };
                    result(Status::Failed(f), Duration::ZERO, Vec::new(), Vec::new())
                }
            }
        }
        TargetKind::Linux => {
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
            // A thread of its own: it moves into the script's namespace, which
            // goes away with the thread's descriptors when it ends.
            let (transport, options) = (cfg.transport, cfg.options);
            let s = script.clone();
            let joined = std::thread::Builder::new()
                .name("linux-target".into())
                .spawn(move || match LinuxTarget::new(&s, transport) {
                    Err(e) => (Status::Error(e.to_string()), Duration::ZERO, Vec::new(), Vec::new()),
                    Ok(mut t) => {
                        let r = engine::run_with(&s, &mut t, options);
                        let info = crate::target::Target::info(&t);
                        (status_of(r.outcome), r.script_time, r.trace, info)
                    }
                })
                .map_err(|e| e.to_string())
                .and_then(|h| h.join().map_err(|_| "the Linux target's thread panicked".to_string()));
            match joined {
                Ok((st, time, trace, info)) => result(st, time, trace, info),
                Err(e) => result(Status::Error(e), Duration::ZERO, Vec::new(), Vec::new()),
            }
        }
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
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ScriptResult>>> = Mutex::new((0..scripts.len()).map(|_| None).collect());
    std::thread::scope(|sc| {
        for _ in 0..cfg.jobs.max(1).min(scripts.len().max(1)) {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(s) = scripts.get(i) else { break };
                let r = run_one_with(s, kind, cfg);
                on_done(&r);
                results.lock().expect("no poisoned lock")[i] = Some(r);
            });
        }
    });
    results.into_inner().expect("no poisoned lock").into_iter().map(|r| r.expect("every script ran")).collect()
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
            Status::Failed(f) => Status::Deviation { deviation: d, failure: f },
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
            }),
            other => other,
        };
    }
}
