//! Every script under `suites/`, each matrix variant and wrap variant on
//! each target its own test, judged by the suite's ledgers: `cargo test -p harness --test suites
//! -- handshake/`, or `cargo nextest run -E 'test(/handshake/)'`. Test
//! names are `TARGET::PATH [VARIANT]`, the path relative to `suites/`.
//!
//! The targets are the reference stack unless `HARNESS_SUITE_TARGETS` names
//! others (`reference,smoltcp`; `linux` and `lwip` need root). A run the
//! target skips (its `targets:` leaves it out, a call it lacks) is an
//! ignored test. `make mutants` sets `SUITES_FAIL_FAST`: then the reference
//! runs go two at a time and the binary stops at the first failure (a
//! mutant is killed by one), without the per-test harness.

use harness::runner::{self, RunConfig, Status};
use harness::script::wrap::{self, WrapSide};
use harness::script::{Script, TargetKind};
use harness::suite::Ledgers;
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites");
    let files = match runner::find_scripts(std::slice::from_ref(&root)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("suites/: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (scripts, errors) = runner::load_all(&files);
    // The wrap dimension too, as `make run` runs it: each script again with
    // its numbers placed to cross 2^32 halfway (`[..., wrap=peer]`).
    let scripts = wrap::expand(scripts, &[WrapSide::Peer, WrapSide::Stack]);
    if std::env::var_os("SUITES_FAIL_FAST").is_some() {
        return fail_fast(&scripts, &errors);
    }
    let args = Arguments::from_args();
    let targets = match targets() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let ledgers = match Ledgers::load(std::slice::from_ref(&root), &targets) {
        Ok(l) => Arc::new(l),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut trials = Vec::new();
    for e in errors {
        let text = e.all().map(|x| x.one_line()).collect::<Vec<_>>().join("\n");
        trials.push(Trial::test(format!("invalid::{}", e.path), move || Err(text.into())));
    }
    let count = scripts.len();
    trials.push(Trial::test("suites::are-there", move || {
        if count > 500 {
            Ok(())
        } else {
            Err(format!("only {count} scripts: are the suites there?").into())
        }
    }));
    let cfg = RunConfig { linux_unavailable: None, ..RunConfig::default() };
    for kind in targets {
        for s in scripts.iter().filter(|s| wrap::runs_on(s, kind)) {
            let name = format!("{kind}::{}", rel_id(&root, s));
            let skip = runner::skip_reason(s, kind, &cfg);
            let (s, cfg, ledgers) = (s.clone(), cfg.clone(), ledgers.clone());
            let trial = Trial::test(name, move || run(&s, kind, &cfg, &ledgers));
            trials.push(trial.with_ignored_flag(skip.is_some()));
        }
    }
    libtest_mimic::run(&args, trials).exit_code()
}

/// `HARNESS_SUITE_TARGETS`, or the reference stack.
fn targets() -> Result<Vec<TargetKind>, String> {
    let Some(v) = std::env::var_os("HARNESS_SUITE_TARGETS") else { return Ok(vec![TargetKind::Reference]) };
    let v = v.to_string_lossy().into_owned();
    v.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            TargetKind::from_name(t)
                .ok_or_else(|| format!("HARNESS_SUITE_TARGETS: `{t}` is not a target ({})", TargetKind::names()))
        })
        .collect()
}

/// The script's id with its path relative to `suites/`.
fn rel_id(root: &Path, s: &Script) -> String {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let rel = canon(&s.path).strip_prefix(canon(root)).map(PathBuf::from).unwrap_or_else(|_| s.path.clone());
    match &s.variant {
        Some(v) => format!("{} [{v}]", rel.display()),
        None => rel.display().to_string(),
    }
}

fn run(s: &Script, kind: TargetKind, cfg: &RunConfig, ledgers: &Ledgers) -> Result<(), Failed> {
    let r = runner::run_with_retries(s, kind, cfg, Some(ledgers));
    match &r.status {
        Status::Passed | Status::Deviation { .. } | Status::Skipped(_) => Ok(()),
        Status::Failed(_) => Err(harness::report::failure_text(&r).into()),
        Status::Error(e) => Err(format!("ERROR {} on {kind}: {e}", r.id()).into()),
    }
}

/// `make mutants`: stops at the first failing run (a mutant is killed by
/// one), two at a time.
fn fail_fast(scripts: &[Script], errors: &[harness::script::ScriptError]) -> ExitCode {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;
    if let Some(e) = errors.first() {
        eprintln!("invalid script: {}", e.one_line());
        return ExitCode::FAILURE;
    }
    if scripts.len() <= 500 {
        eprintln!("only {} scripts: are the suites there?", scripts.len());
        return ExitCode::FAILURE;
    }
    let (next, stop) = (AtomicUsize::new(0), AtomicBool::new(false));
    let first: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|sc| {
        for _ in 0..2 {
            sc.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let Some(s) = scripts.get(next.fetch_add(1, Ordering::Relaxed)) else { break };
                    let r = runner::run_one(s, TargetKind::Reference);
                    let text = match &r.status {
                        Status::Failed(_) => harness::report::failure_text(&r),
                        Status::Error(e) => format!("ERROR {}: {e}", r.id()),
                        _ => continue,
                    };
                    stop.store(true, Ordering::Relaxed);
                    first.lock().expect("not poisoned").get_or_insert(text);
                }
            });
        }
    });
    match first.into_inner().expect("not poisoned") {
        Some(text) => {
            eprintln!("a run failed (SUITES_FAIL_FAST: the first one):\n{text}");
            ExitCode::FAILURE
        }
        None => {
            println!("{} scripts passed on the reference target", scripts.len());
            ExitCode::SUCCESS
        }
    }
}
