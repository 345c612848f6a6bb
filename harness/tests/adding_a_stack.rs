//! docs/adding-a-stack.md's worked example is built here (the file the page
//! shows, harness/examples/my_stack.rs, checked to be the same text) and
//! runs scripts as a target of its own.

use harness::engine::Outcome;
use harness::script::{self, TargetKind};
use harness::target::adapter::AdapterTarget;
use std::path::Path;

#[allow(dead_code)]
#[path = "../examples/my_stack.rs"]
mod my_stack;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn the_page_shows_the_example_as_it_is() {
    let page = std::fs::read_to_string(root().join("docs/adding-a-stack.md")).expect("the page");
    let example = std::fs::read_to_string(root().join("harness/examples/my_stack.rs")).expect("the example");
    let start = "<!-- example: harness/examples/my_stack.rs -->\n```rust\n";
    let shown = page
        .split_once(start)
        .and_then(|(_, rest)| rest.split_once("```\n<!-- end of example -->"))
        .map(|(code, _)| code)
        .expect("the page has the example between its markers");
    assert_eq!(shown, example, "docs/adding-a-stack.md must show harness/examples/my_stack.rs as it is");
}

#[test]
fn the_example_adapter_runs_scripts() {
    for path in [
        "suites/close/passive-close.yaml",
        "suites/handshake/active-open.yaml",
        "suites/data/delayed-ack.yaml",
        "suites/timers/keepalive-configurable.yaml",
        "suites/sequence/overlapping-data.yaml",
    ] {
        for s in script::load(&root().join(path)).unwrap_or_else(|e| panic!("{}", e.one_line())) {
            let mut t = AdapterTarget::new(my_stack::MyStack::new(s.local), TargetKind::Dut);
            match harness::engine::run(&s, &mut t).outcome {
                Outcome::Passed => {}
                other => panic!("{} on the example adapter: {other:?}", s.id()),
            }
        }
    }
}

#[test]
fn the_example_adapter_fails_a_script_it_should() {
    // A planted difference: a script expecting Linux's quick ACKs fails on the
    // example (it builds the reference stack with the rfc9293 profile), with
    // the line of the step.
    let s = &script::load(&root().join("suites/data/quick-ack-linux-profile.yaml")).expect("loads")[0];
    let mut t = AdapterTarget::new(my_stack::MyStack::new(s.local), TargetKind::Dut);
    match harness::engine::run(s, &mut t).outcome {
        Outcome::Failed(f) => assert!(f.pos.is_some_and(|p| p.line > 0), "{f:?}"),
        other => panic!("expected a failure, got {other:?}"),
    }
}
