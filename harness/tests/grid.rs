//! The state x segment grid's rules live in `harness::grid`; the committed
//! files under `suites/grid/` must be exactly what they generate (`harness
//! grid suites/grid` rewrites them).

use std::path::Path;

#[test]
fn the_committed_grid_is_what_the_rules_generate() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/grid");
    let r = harness::grid::write(&dir, true).unwrap();
    assert!(
        r.differ.is_empty(),
        "suites/grid/ differs from harness::grid in {:?}: run `harness grid suites/grid`",
        r.differ
    );
    // And nothing else lives there: a file the rules do not make would be
    // a hand-written cell nobody regenerates.
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut made: Vec<String> = harness::grid::files().into_iter().map(|(n, _)| n.to_string()).collect();
    made.sort();
    assert_eq!(names, made);
}
