//! Every script under `suites/` that runs on the reference target keeps its
//! normalised trace (relative sequence numbers, script times, calls, outcome)
//! as an insta snapshot: a behaviour change in the reference stack shows up as
//! a snapshot diff, accepted with `cargo insta review` (or INSTA_UPDATE=always).
//! With CI set, a changed or missing snapshot fails the run.

use harness::report;
use harness::runner;
use harness::script::{self, TargetKind};

#[test]
fn suites_on_the_reference_target() {
    insta::glob!("../../suites", "**/*.yaml", |path| {
        // The requirement catalogue and the ledgers are data, not scripts.
        if path.file_name().is_some_and(|n| n == harness::suite::CATALOGUE)
            || path.components().any(|c| c.as_os_str() == harness::suite::EXPECTATIONS)
        {
            return;
        }
        let scripts = script::load(path).unwrap_or_else(|e| panic!("{}", e.one_line()));
        // A script for the Linux target alone (ICMP input, say) has no
        // reference trace to keep.
        if !scripts.iter().any(|s| s.runs_on(TargetKind::Reference)) {
            return;
        }
        let mut text = String::new();
        for s in scripts.iter().filter(|s| s.runs_on(TargetKind::Reference)) {
            let r = runner::run_one(s, TargetKind::Reference);
            if let Some(v) = &s.variant {
                text.push_str(&format!("### {v}\n"));
            }
            text.push_str(&report::trace_text(&r));
        }
        insta::assert_snapshot!(text);
    });
}
