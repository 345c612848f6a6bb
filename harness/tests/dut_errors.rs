//! A device under test that breaks the DUT protocol (crashes, hangs, speaks
//! another version, answers garbage, answers another request, says nothing)
//! is an error of the script it ran for, naming the program and the request,
//! and the run goes on with the next script. The DUTs are
//! tests/duts/broken-dut.sh; the target runs in a private namespace, so these
//! need root (CI runs as root), as the other privileged tests.

use std::path::Path;
use std::process::Command;

mod common;
use common::privileged;

fn run_with(how: &str) -> (i32, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dut = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/duts/broken-dut.sh");
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(&root)
        .args(["run", "suites/close/passive-close.yaml", "suites/data/delayed-ack.yaml", "--target", "dut", "-j", "1"])
        .arg("--dut")
        .arg(format!("{} {how}", dut.display()))
        .env_remove("CI")
        .output()
        .expect("harness runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// Both scripts end in an error that names the DUT and says `what`; the run
/// reports both and exits 1 (failures), not by a signal.
fn each_script_errs(how: &str, what: &str) {
    let (code, text) = run_with(how);
    assert_eq!(code, 1, "{how}: exit code\n{text}");
    for script in ["suites/close/passive-close.yaml", "suites/data/delayed-ack.yaml"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("ERROR {script} on dut")))
            .unwrap_or_else(|| panic!("{how}: no error line for {script}\n{text}"));
        assert!(line.contains("broken-dut.sh"), "{how}: the error names the program: {line}");
        assert!(line.contains(what), "{how}: the error says `{what}`: {line}");
    }
    assert!(text.contains("0 passed, 2 failed"), "{how}: both scripts are counted\n{text}");
}

#[test]
fn a_dut_that_speaks_another_version_is_refused() {
    if privileged() {
        each_script_errs("version", "speaks DUT protocol version 2; this harness speaks version 1");
    }
}

#[test]
fn a_dut_that_answers_garbage_is_an_error() {
    if privileged() {
        each_script_errs("garbage", "answered `setup` with `hello there`, not a JSON object");
    }
}

#[test]
fn a_dut_that_crashes_is_an_error_with_its_stderr() {
    if privileged() {
        each_script_errs("crash", "closed its output instead of answering `socket` (it exited: exit status: 3)");
        let (_, text) = run_with("crash");
        assert!(text.contains("its stderr: broken-dut: segmentation fault in tcp_input (pretend)"), "{text}");
        assert!(text.contains(":4:5 (`call: socket() = 3`)"), "the error names the script's step\n{text}");
    }
}

#[test]
fn a_dut_that_hangs_is_an_error_after_the_answer_timeout() {
    if privileged() {
        each_script_errs("hang", "did not answer `socket` within 5 s");
    }
}

#[test]
fn a_dut_that_answers_another_request_is_an_error() {
    if privileged() {
        each_script_errs("wrong-id", "answered `socket` (id 2) with `{\"id\":999,\"fd\":3}`");
    }
}

#[test]
fn a_dut_that_never_says_hello_is_an_error() {
    if privileged() {
        each_script_errs("silent", "did not answer its hello within 5 s");
    }
}

#[test]
fn a_dut_program_that_does_not_exist_is_an_error() {
    if privileged() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = Command::new(env!("CARGO_BIN_EXE_harness"))
            .current_dir(&root)
            .args(["run", "suites/close/passive-close.yaml", "--target", "dut", "--dut", "/nonexistent/dut"])
            .env_remove("CI")
            .output()
            .expect("harness runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains("starting the DUT /nonexistent/dut"), "{text}");
    }
}
