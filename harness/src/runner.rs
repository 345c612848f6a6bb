//! Finding scripts, running them in parallel on a target, and collecting one
//! result per (script, target): the single event stream every reporter reads.

use crate::engine::reference::ReferenceTarget;
use crate::engine::{self, Outcome, Target, TraceEntry};
use crate::script::{self, Script, ScriptError, TargetKind};
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
}

#[derive(Debug)]
pub struct ScriptResult {
    pub script: Script,
    pub target: TargetKind,
    pub status: Status,
    pub wall: Duration,
    pub script_time: Duration,
    pub trace: Vec<TraceEntry>,
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
            walk(&p, out)?;
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

/// Makes a target for one script run.
pub fn make_target(kind: TargetKind, script: &Script) -> Result<Box<dyn Target>, String> {
    match kind {
        TargetKind::Reference => Ok(Box::new(ReferenceTarget::new(script))),
        TargetKind::Linux => Err("the Linux target is not available in this build yet".into()),
    }
}

/// Runs one script on one target.
pub fn run_one(script: &Script, kind: TargetKind) -> ScriptResult {
    let start = Instant::now();
    if !script.runs_on(kind) {
        return ScriptResult {
            script: script.clone(),
            target: kind,
            status: Status::Skipped(format!("the script's `targets:` does not list {kind}")),
            wall: start.elapsed(),
            script_time: Duration::ZERO,
            trace: Vec::new(),
        };
    }
    let (status, script_time, trace) = match make_target(kind, script) {
        Err(e) => (Status::Error(e), Duration::ZERO, Vec::new()),
        Ok(mut t) => {
            let r = engine::run(script, t.as_mut());
            let status = match r.outcome {
                Outcome::Passed => Status::Passed,
                Outcome::Failed(f) => Status::Failed(f),
                Outcome::Error(e) => Status::Error(e),
            };
            (status, r.script_time, r.trace)
        }
    };
    ScriptResult { script: script.clone(), target: kind, status, wall: start.elapsed(), script_time, trace }
}

/// Runs all scripts on `kind` with `jobs` threads; `on_done` sees each result
/// as it finishes (for progress); results come back in script order.
pub fn run_all(
    scripts: &[Script],
    kind: TargetKind,
    jobs: usize,
    on_done: &(dyn Fn(&ScriptResult) + Sync),
) -> Vec<ScriptResult> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ScriptResult>>> = Mutex::new((0..scripts.len()).map(|_| None).collect());
    std::thread::scope(|sc| {
        for _ in 0..jobs.max(1).min(scripts.len().max(1)) {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(s) = scripts.get(i) else { break };
                let r = run_one(s, kind);
                on_done(&r);
                results.lock().expect("no poisoned lock")[i] = Some(r);
            });
        }
    });
    results.into_inner().expect("no poisoned lock").into_iter().map(|r| r.expect("every script ran")).collect()
}
