//! Every script under `suites/` passes on the reference target: the suites as
//! a test, for `cargo test` and for `make mutants` (cargo-mutants counts a
//! mutant of the reference stack killed when this fails).

use harness::runner::{self, Status};
use harness::script::TargetKind;
use std::path::Path;

#[test]
fn every_suite_script_passes_on_the_reference_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites");
    let files = runner::find_scripts(&[root]).expect("suites/");
    let (scripts, errors) = runner::load_all(&files);
    assert!(
        errors.is_empty(),
        "invalid scripts: {}",
        errors.iter().map(|e| e.one_line()).collect::<Vec<_>>().join("\n")
    );
    if std::env::var_os("SUITES_FAIL_FAST").is_some() {
        return fail_fast(&scripts);
    }
    let results = runner::run_all(&scripts, TargetKind::Reference, 2, &|_| {});
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| match &r.status {
            Status::Failed(_) => Some(harness::report::failure_text(r)),
            Status::Error(e) => Some(format!("ERROR {}: {e}", r.id())),
            _ => None,
        })
        .collect();
    assert!(failed.is_empty(), "{} of {} runs failed:\n{}", failed.len(), results.len(), failed.join("\n"));
    assert!(results.len() > 500, "only {} runs: are the suites there?", results.len());
}

/// `make mutants`: stops at the first failing run (a mutant is killed by
/// one), two at a time; passing runs cost the same as above.
fn fail_fast(scripts: &[harness::script::Script]) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;
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
    if let Some(text) = first.into_inner().expect("not poisoned") {
        panic!("a run failed (SUITES_FAIL_FAST: the first one):\n{text}");
    }
    assert!(scripts.len() > 500, "only {} runs: are the suites there?", scripts.len());
}
