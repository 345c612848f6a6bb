//! The `harness` binary: closing line, exit codes, partitions.

use std::path::Path;
use std::process::Command;

fn harness(args: &[&str]) -> (Option<i32>, String, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out =
        Command::new(env!("CARGO_BIN_EXE_harness")).args(args).current_dir(root).env("NO_COLOR", "1").output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn counts(stdout: &str) -> (usize, usize, usize) {
    let last = stdout.lines().last().unwrap_or_default();
    let n: Vec<usize> =
        last.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
    // "P passed, F failed, D known deviations, S skipped"
    assert_eq!(n.len(), 4, "closing line: {last:?}");
    (n[0], n[1], n[3])
}

#[test]
fn run_suites_passes_and_partitions_cover_it_once() {
    let (code, out, err) = harness(&["run", "suites/"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let (total, failed, _) = counts(&out);
    assert!(total >= 20);
    assert_eq!(failed, 0);
    let mut sum = 0;
    for k in 1..=3 {
        let (code, out, _) = harness(&["run", "suites/", "--partition", &format!("{k}/3")]);
        assert_eq!(code, Some(0));
        sum += counts(&out).0;
    }
    assert_eq!(sum, total);
}

#[test]
fn bad_command_lines_exit_2() {
    for args in [
        vec!["run", "suites/", "--partition", "4/3"],
        vec!["run", "suites/", "--target", "windows"],
        vec!["run", "no/such/dir"],
        vec!["run", "suites/", "--bogus"],
        vec!["check"],
    ] {
        let (code, _, err) = harness(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(!err.is_empty(), "{args:?} says why");
    }
}

#[test]
fn a_failing_script_exits_1_and_an_invalid_one_2() {
    let dir = std::env::temp_dir().join(format!("harness-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("fails.yaml");
    std::fs::write(&bad, "steps:\n  - in: S 0:0(0) win 65535\n  - out: S. 0:0(0) ack 1\n").unwrap();
    let (code, out, _) = harness(&["run", bad.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAIL") && out.ends_with("0 passed, 1 failed, 0 known deviations, 0 skipped\n"), "{out}");
    // The failure named again next to the totals (what a CI log's tail shows).
    let before_totals = out.lines().rev().nth(1).unwrap_or_default();
    assert!(before_totals.starts_with("FAILED ") && before_totals.contains("fails.yaml:3 on reference"), "{out}");
    let invalid = dir.join("invalid.yaml");
    std::fs::write(&invalid, "steps:\n  - inn: S\n").unwrap();
    let (code, _, err) = harness(&["run", invalid.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("invalid.yaml:2:5"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn map_form_packets_run_like_the_compact_ones() {
    let dir = std::env::temp_dir().join(format!("harness-map-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("map.yaml");
    std::fs::write(
        &f,
        "steps:\n  - call: socket() = 3\n  - call: bind(3, 8080) = 0\n  - call: listen(3, 1) = 0\n  - in: {flags: S, seq: 0, win: 65535, options: mss 1460}\n  - out: {flags: S., seq: 0, ack: 1, options: \"mss 1460\"}\n",
    )
    .unwrap();
    let (code, out, err) = harness(&["run", f.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A scratch suite: `requirements.yaml`-free, with an `expectations/` ledger.
fn scratch_suite(name: &str, ledger: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("harness-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("expectations")).unwrap();
    std::fs::create_dir_all(dir.join("a")).unwrap();
    // Passes on the reference stack.
    std::fs::write(dir.join("a/passes.yaml"), "steps:\n  - call: socket() = 3\n").unwrap();
    // Fails on the reference stack: the first fd is 3.
    std::fs::write(dir.join("a/fails.yaml"), "steps:\n  - call: socket() = 7\n").unwrap();
    std::fs::write(dir.join("expectations/reference.yaml"), ledger).unwrap();
    dir
}

#[test]
fn a_listed_failure_is_a_known_deviation_and_a_listed_pass_fails() {
    let entry = |glob: &str| {
        format!(
            "deviations:\n  - script: \"{glob}\"\n    reason: fds start at 7 there\n    rfc: none\n    kernel: test\n"
        )
    };
    // The failing script listed: expected, exit 0, and reported as such.
    let dir = scratch_suite("dev", &entry("a/fail*.yaml"));
    let (code, out, err) = harness(&["run", dir.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("DEVIATION") && out.contains("fds start at 7 there"), "{out}");
    assert!(out.trim_end().ends_with("1 passed, 0 failed, 1 known deviations, 0 skipped"), "{out}");
    // Every script listed: the one that passes is a stale entry, a failure.
    let dir = scratch_suite("stale", &entry("**"));
    let (code, out, _) = harness(&["run", dir.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("remove the entry"), "{out}");
    // An entry marked intermittent (the deviation shows on some runs only):
    // the pass is a pass, reported with the entry; the failure a deviation.
    let intermittent = format!("{}    intermittent: the timer's phase\n", entry("**"));
    let dir = scratch_suite("intermittent", &intermittent);
    let (code, out, _) = harness(&["run", dir.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.lines().any(|l| l.starts_with("UNSHOWN ") && l.contains("passes.yaml on reference: passed")), "{out}");
    assert!(out.contains("the timer's phase") && out.contains("DEVIATION"), "{out}");
    assert!(
        out.trim_end().ends_with(
            "1 passed (1 with an intermittent deviation not shown), 0 failed, 1 known deviations, 0 skipped"
        ),
        "{out}"
    );
    // The ledger is not a script, and a malformed one is an error that names it.
    let dir = scratch_suite("bad", "deviations:\n  - script: a\n    reson: typo\n");
    let (code, _, err) = harness(&["run", dir.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("expectations/reference.yaml") && err.contains("reson"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

/// `--filter` takes one grid cell; `list` shows it without running; a bad
/// filter is refused with its column (exit 2).
#[test]
fn a_filter_selects_one_grid_cell_and_list_shows_it() {
    let cell = "grid/established-passive.yaml [kind=SYN, pos=right]";
    let (code, out, err) = harness(&["run", "suites/", "-E", cell, "--verdicts"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("suites/grid/established-passive.yaml [kind=SYN, pos=right] on reference"), "{out}");
    assert_eq!(counts(&out), (1, 0, 0), "{out}");
    let (code, out, _) = harness(&["list", "suites/", "-E", cell, "--format", "json"]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 1, "{out}");
    assert_eq!(list[0]["variant"], "kind=SYN, pos=right");
    assert_eq!(list[0]["runs_on"].as_array().unwrap().len(), 4, "{out}");
    // By requirement ID, and only where the target says.
    let (_, all, _) = harness(&["list", "suites/", "-E", "rfc:MUST-13"]);
    let (_, linux, _) = harness(&["list", "suites/", "-E", "rfc:MUST-13 and target:linux", "--format", "json"]);
    let linux: serde_json::Value = serde_json::from_str(&linux).unwrap();
    assert!(linux.as_array().unwrap().iter().all(|s| s["runs_on"].as_array().unwrap().len() <= 1));
    assert!(all.lines().count() > 2, "{all}");
    let (code, _, err) = harness(&["run", "suites/", "-E", "rfc:MUST-13 adn x"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("column 13") && err.contains("found `adn`"), "{err}");
    let (code, _, err) = harness(&["list", "suites/", "-E", "target:linx"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("did you mean `linux`?"), "{err}");
}

/// A failure's rerun line, pasted, runs exactly that run again.
#[test]
fn the_rerun_line_reruns_that_variant() {
    let dir = std::env::temp_dir().join(format!("harness-rerun-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("m.yaml");
    std::fs::write(&f, "name: ${who}\nmatrix: {fd: [3, 7], who: [a, b]}\nsteps:\n  - call: socket() = ${fd}\n")
        .unwrap();
    let (code, out, _) = harness(&["run", f.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    let line = out.lines().find_map(|l| l.trim().strip_prefix("rerun: ")).expect("a rerun line").to_string();
    assert!(line.contains("--filter 'variant:\"fd=7, who=a\"'"), "{line}");
    // Pasted into a shell (with the binary under test for `harness`).
    let sh = Command::new("sh")
        .arg("-c")
        .arg(line.replacen("harness", env!("CARGO_BIN_EXE_harness"), 1))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&sh.stdout);
    assert_eq!(sh.status.code(), Some(1), "{out}");
    assert!(out.trim_end().ends_with("0 passed, 1 failed, 0 known deviations, 0 skipped"), "{out}");
    assert!(out.contains("[fd=7, who=a] on reference"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Completions and the man page come from the same definitions as --help.
#[test]
fn completions_and_man_page() {
    let (code, out, _) = harness(&["completions", "bash"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("complete -F _harness") || out.contains("-F _harness"), "{out}");
    assert!(out.contains("--filter") && out.contains("--retries"));
    let (code, out, _) = harness(&["man"]);
    assert_eq!(code, Some(0));
    assert!(out.contains(".TH harness 1") && out.contains("list"), "{out}");
    let (code, _, err) = harness(&["completions", "fsh"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("fish"), "{err}");
}

/// `check --message-format short`: every error of a file, a line each.
#[test]
fn short_messages_list_every_error() {
    let dir = std::env::temp_dir().join(format!("harness-short-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("two.yaml");
    std::fs::write(&f, "profile: linx\nsteps:\n  - call: sokcet() = 3\n").unwrap();
    let (code, _, err) = harness(&["check", f.to_str().unwrap(), "--message-format", "short"]);
    assert_eq!(code, Some(2));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].ends_with("two.yaml:1:10: error: unknown profile `linx`"), "{err}");
    assert!(lines[1].ends_with("two.yaml:3:11: error: unknown call `sokcet`"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Nothing to run is an error unless asked for; `-j 0` and report paths
/// under a missing directory are refused before anything runs.
#[test]
fn nothing_to_run_and_bad_outputs_are_refused_up_front() {
    let dir = std::env::temp_dir().join(format!("harness-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (code, _, err) = harness(&["run", dir.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("nothing to run: no script under the paths given"), "{err}");
    let (code, out, _) = harness(&["run", dir.to_str().unwrap(), "--allow-empty"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, _, err) = harness(&["run", "suites/data", "-E", "path:no-such-thing"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("the filter takes no run"), "{err}");
    let (code, _, err) = harness(&["run", "suites/data", "-j", "0"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("1 or more"), "{err}");
    let missing = dir.join("no/such/dir");
    for flag in ["--json", "--junit", "--pcap-dir", "--report-dir"] {
        let p = missing.join("x");
        let (code, out, err) = harness(&["run", "suites/data", flag, p.to_str().unwrap()]);
        assert_eq!(code, Some(2), "{flag}: {out}{err}");
        assert!(err.contains("does not exist") && out.is_empty(), "{flag}: nothing ran: {out}{err}");
        assert!(!missing.exists(), "{flag} created the tree");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--partition` slices what the filter takes, evenly, each run once.
#[test]
fn partitions_share_out_the_filtered_runs() {
    let (_, out, _) = harness(&["run", "suites/", "-E", "path:grid/closing.yaml"]);
    let total = counts(&out).0;
    let slices: Vec<usize> = (1..=3)
        .map(|k| {
            counts(&harness(&["run", "suites/", "-E", "path:grid/closing.yaml", "--partition", &format!("{k}/3")]).1).0
        })
        .collect();
    assert_eq!(slices.iter().sum::<usize>(), total, "{slices:?}");
    assert!(slices.iter().all(|&n| n + 1 >= total / 3 && n <= total / 3 + 1), "{slices:?} of {total}");
}

/// `--report-dir` writes the index (totals, the state diagram and grid heat
/// map of each target, a row per run linking to its page) and a runs file
/// per target; `--json` records carry the runs' transitions, and `coverage
/// --from` draws the same pictures from them without running anything.
#[test]
fn the_report_directory_and_coverage_from_a_saved_run() {
    let dir = std::env::temp_dir().join(format!("harness-cli-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (report, json, cov) = (dir.join("report"), dir.join("r.jsonl"), dir.join("cov.html"));
    let (code, out, err) = harness(&[
        "run",
        "suites/handshake",
        "suites/grid/closing.yaml",
        "--report-dir",
        report.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    let runs = counts(&out).0;
    assert!(out.contains(&format!("({runs} run pages in 3 files")), "{out}");
    let index = std::fs::read_to_string(report.join("index.html")).unwrap();
    let file = std::fs::read_to_string(report.join("runs-reference.html")).unwrap();
    assert_eq!(file.matches("<section class=\"run\" id=\"").count(), runs);
    // Each row of the index links to a section that exists.
    let links: Vec<&str> =
        index.split("href=\"runs-reference.html#").skip(1).map(|t| &t[..t.find('"').unwrap()]).collect();
    assert!(links.len() >= runs, "{} links for {runs} runs", links.len());
    for l in &links {
        assert!(file.contains(&format!("id=\"{l}\"")), "no section {l}");
    }
    assert_eq!(index.matches("<h2 id=\"states-reference\">").count(), 1);
    assert_eq!(index.matches("<h2 id=\"grid-reference\">").count(), 1);
    // The grid file's cells (a matrix row each) in one row of the heat map.
    let grid = Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/grid/closing.yaml");
    let cells = std::fs::read_to_string(grid).unwrap().matches("\n  - {kind: ").count();
    assert_eq!(index.matches("<g class=\"cell ").count(), cells, "heat map cells");
    assert!(index.contains("passive OPEN ×"), "the figure's transitions carry their counts");
    let records = std::fs::read_to_string(&json).unwrap();
    // Every grid cell's run opens a connection and records how it went.
    let grid: Vec<&str> = records.lines().filter(|l| l.contains("grid/closing.yaml")).collect();
    assert_eq!(grid.len(), cells);
    assert!(grid.iter().all(|l| l.contains("\"transitions\":[[")), "every grid run recorded its transitions");
    let (code, out, err) = harness(&[
        "coverage",
        "suites/",
        "--from",
        json.to_str().unwrap(),
        "--format",
        "html",
        "-o",
        cov.to_str().unwrap(),
    ]);
    // A subset of the suites: requirements are uncovered, so exit 1.
    assert_eq!(code, Some(1), "{out}{err}");
    let html = std::fs::read_to_string(&cov).unwrap();
    assert!(html.contains("<th>runs</th><td>read from "), "the header says where the runs came from");
    assert_eq!(html.matches("<g class=\"cell ").count(), cells);
    assert!(html.contains("<h2 id=\"states-reference\">"));
    // Bad input: a record that is not JSON, a file that is not there.
    std::fs::write(dir.join("bad.jsonl"), "{\"status\": \"passed\"}\nnot json\n").unwrap();
    let (code, _, err) = harness(&["coverage", "suites/", "--from", dir.join("bad.jsonl").to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("bad.jsonl:1: no \"path\""), "{err}");
    let (code, _, err) = harness(&["coverage", "suites/", "--from", dir.join("none.jsonl").to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("none.jsonl") && err.contains("No such file"), "{err}");
    // A file where the report directory should be.
    std::fs::write(dir.join("afile"), "x").unwrap();
    let (code, out, err) = harness(&["run", "suites/handshake", "--report-dir", dir.join("afile").to_str().unwrap()]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("--report-dir") && out.is_empty(), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
