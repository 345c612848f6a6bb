//! `harness check` on 20 hand-broken scripts: each gives one error at the
//! position its first line promises (`# expect: LINE:COL text`), and the
//! command exits with 2.

use std::path::Path;
use std::process::Command;

#[test]
fn every_broken_script_is_rejected_at_the_right_place() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 20);
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let first = text.lines().next().unwrap();
        let spec = first.strip_prefix("# expect: ").unwrap_or_else(|| panic!("{}: no `# expect:` line", f.display()));
        let (pos, msg) = spec.split_once(' ').unwrap();
        let (line, col) = pos.split_once(':').unwrap();
        let e = harness::script::load(f).err().unwrap_or_else(|| panic!("{} was accepted", f.display()));
        assert!(e.message.contains(msg), "{}: message {:?} lacks {msg:?}", f.display(), e.message);
        assert_eq!(
            (e.line.to_string(), e.column.to_string()),
            (line.to_string(), col.to_string()),
            "{}: {}",
            f.display(),
            e.one_line()
        );
    }
}

#[test]
fn the_command_reports_twenty_positioned_errors_and_exits_2() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken");
    let out = Command::new(env!("CARGO_BIN_EXE_harness")).arg("check").arg(&dir).env("NO_COLOR", "1").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // miette prints `[file:line:col]` for each error.
    let positioned = stderr.lines().filter(|l| l.contains("tests/broken/") && l.contains(".yaml:")).count();
    assert_eq!(positioned, 20, "{stderr}");
    assert!(stdout.contains("20 file(s) checked: 0 script(s) valid, 20 file(s) invalid"), "{stdout}");
    // A valid tree exits 0.
    let suites = Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites");
    let ok = Command::new(env!("CARGO_BIN_EXE_harness")).arg("check").arg(&suites).output().unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
}
