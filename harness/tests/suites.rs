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
