//! The Linux target against the running kernel, on both transports. Needs root
//! (CI runs as root); without it these fail and say so, unless
//! HARNESS_SKIP_PRIVILEGED=1 is set to skip them knowingly.

use harness::report;
use harness::runner::{self, RunConfig, Status};
use harness::script::{self, TargetKind};
use harness::target::linux::TransportKind;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

mod common;
use common::privileged;

fn suite(path: &str) -> Vec<script::Script> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    script::load(&p).unwrap_or_else(|e| panic!("{}", e.one_line()))
}

fn cfg(transport: TransportKind) -> RunConfig {
    RunConfig { transport, ..RunConfig::default() }
}

/// Runs the suite script on the kernel over both transports; all must pass.
fn passes_on_linux(path: &str) {
    for t in [TransportKind::Tun, TransportKind::Raw] {
        for s in suite(path) {
            let r = runner::run_one_with(&s, TargetKind::Linux, &cfg(t));
            match &r.status {
                Status::Passed => {}
                Status::Failed(_) => panic!("{path} over {t:?}:\n{}", report::failure_text(&r)),
                other => panic!("{path} over {t:?}: {other:?}"),
            }
            assert!(r.info.iter().any(|(k, v)| k == "kernel" && !v.is_empty()), "the report names the kernel");
            assert!(
                r.info.iter().any(|(k, _)| k == "net.ipv4.tcp_timestamps"),
                "the report has the namespace's sysctls"
            );
        }
    }
}

#[test]
fn passive_open() {
    if privileged() {
        passes_on_linux("suites/handshake/passive-open.yaml");
        passes_on_linux("suites/handshake/passive-open-ipv6.yaml");
    }
}

#[test]
fn active_open() {
    if privileged() {
        passes_on_linux("suites/handshake/active-open.yaml");
    }
}

#[test]
fn close_reaches_time_wait_seen_after_close() {
    if privileged() {
        // `state: conn TIME_WAIT` after close(): sock_diag, no descriptor.
        passes_on_linux("suites/close/active-close-time-wait.yaml");
        passes_on_linux("suites/close/passive-close.yaml");
    }
}

#[test]
fn retransmission_timed_in_real_time() {
    if privileged() {
        passes_on_linux("suites/timers/data-retransmission-linux-profile.yaml");
    }
}

#[test]
fn a_script_that_must_fail_reports_where_and_what() {
    if !privileged() {
        return;
    }
    let text = "targets: [linux]\nsteps:\n  - call: socket() = 3\n  - call: bind(3, 8080) = 0\n  - call: listen(3, 1) = 0\n  - in: S 0:0(0) win 65535 <mss 1460>\n  - out: S. 0:0(0) ack 1 win 1000 <mss 1460>\n";
    let s = script::parse(Path::new("must-fail.yaml"), text).unwrap();
    for t in [TransportKind::Tun, TransportKind::Raw] {
        let r = runner::run_one_with(&s[0], TargetKind::Linux, &cfg(t));
        let Status::Failed(f) = &r.status else { panic!("{t:?}: expected a failure, got {:?}", r.status) };
        let text = report::failure_text(&r);
        assert_eq!(f.pos.unwrap().line, 7, "{text}");
        assert!(f.diffs.iter().any(|d| d.field == "win" && d.expected == "1000" && d.actual == "64240"), "{text}");
        assert!(text.contains("must-fail.yaml:7:5 on linux"), "{text}");
        assert!(text.contains("connection: 198.51.100.1:8080 <-> 192.0.2.1:40000 SYN-RECEIVED"), "{text}");
    }
}

#[test]
fn a_sysctl_applies_only_inside_the_namespace() {
    if !privileged() {
        return;
    }
    let host_before = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_timestamps").unwrap();
    assert_eq!(host_before.trim(), "1", "this test expects timestamps on in the host's namespace");
    // With timestamps off inside, the SYN,ACK carries no TSopt although the SYN offered one.
    let text = "targets: [linux]\nsysctl: {net.ipv4.tcp_timestamps: 0}\nsteps:\n  - call: socket() = 3\n  - call: bind(3, 8080) = 0\n  - call: listen(3, 1) = 0\n  - in: S 0:0(0) win 65535 <mss 1460,TS val 1 ecr 0>\n  - out: S. 0:0(0) ack 1 <mss 1460>\n";
    let s = script::parse(Path::new("sysctl.yaml"), text).unwrap();
    let r = runner::run_one_with(&s[0], TargetKind::Linux, &cfg(TransportKind::Tun));
    assert!(matches!(r.status, Status::Passed), "{}", report::failure_text(&r));
    assert!(r.info.iter().any(|(k, v)| k == "net.ipv4.tcp_timestamps" && v == "0"), "{:?}", r.info);
    assert_eq!(std::fs::read_to_string("/proc/sys/net/ipv4/tcp_timestamps").unwrap(), host_before);
}

/// Interfaces, addresses, routes, the host's TCP sockets and TCP sysctls.
fn host_snapshot() -> String {
    // Over netlink, read only: what `ip` would list, without counters.
    let mut s = harness::os::netlink::snapshot().unwrap();
    // No socket with the harness's documentation addresses in the host's namespace
    // (198.51.100.1 and 192.0.2.1 as /proc/net/tcp prints them, and 2001:db8::).
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let ours = std::fs::read_to_string(f)
            .unwrap()
            .lines()
            .filter(|l| l.contains("016433C6") || l.contains("010200C0") || l.contains("B80D0120"))
            .count();
        s.push_str(&format!("{f}: {ours} harness sockets\n"));
    }
    let mut names: Vec<_> =
        std::fs::read_dir("/proc/sys/net/ipv4").unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    names.sort();
    for n in names {
        let n = n.to_string_lossy();
        if n.starts_with("tcp_") {
            s.push_str(&format!(
                "{n}={}",
                std::fs::read_to_string(format!("/proc/sys/net/ipv4/{n}")).unwrap_or_default()
            ));
        }
    }
    s
}

/// A subset of the suites for the host test: script files (without a
/// matrix) that run on Linux, chosen greedily until every kind of step and
/// every call the Linux runs of the suites use is in one of them. The whole
/// suite runs on the kernel in `make run` and CI (both transports); here the
/// question is the host, and each kind of step is what could touch it.
fn covering_subset(root: &Path) -> (Vec<String>, usize) {
    use std::collections::BTreeSet;
    let files = runner::find_scripts(&[root.join("suites")]).unwrap();
    let (scripts, errors) = runner::load_all(&files);
    assert!(errors.is_empty());
    let word = |d: String| d.split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or_default().to_string();
    // Each kind of step and call, and what the header sets up in the
    // namespace: IPv6 addresses, sysctls, the profile's options.
    let features = |s: &script::Script| -> BTreeSet<String> {
        let mut f: BTreeSet<String> = s
            .steps
            .iter()
            .map(|st| match &st.kind {
                script::StepKind::Call(c) => format!("call {}", word(format!("{:?}", c.call))),
                k => word(format!("{k:?}")),
            })
            .collect();
        if s.local.is_ipv6() {
            f.insert("ipv6".into());
        }
        f.extend(s.sysctl.keys().map(|k| format!("sysctl {k}")));
        if s.offload_tso {
            f.insert("offload tso".into());
        }
        f
    };
    let cfg = RunConfig::default();
    let candidates: Vec<&script::Script> = scripts
        .iter()
        .filter(|s| s.variant.is_none() && runner::skip_reason(s, TargetKind::Linux, &cfg).is_none())
        .collect();
    let wanted: BTreeSet<String> = candidates.iter().flat_map(|s| features(s)).collect();
    let mut have = BTreeSet::new();
    let mut chosen = Vec::new();
    while have.len() < wanted.len() {
        let best = candidates
            .iter()
            .max_by_key(|s| (features(s).difference(&have).count(), std::cmp::Reverse(s.steps.len())))
            .unwrap();
        have.extend(features(best));
        chosen.push(best.path.strip_prefix(root).unwrap_or(&best.path).display().to_string());
    }
    (chosen, wanted.len())
}

#[test]
fn the_host_is_unchanged_after_a_run_and_after_sigkill() {
    if !privileged() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (mut subset, kinds) = covering_subset(&root);
    assert!(subset.len() >= 5 && kinds >= 15, "{kinds} kinds of step in {subset:?}");
    // A shell step (with --allow-shell) runs in the run's namespace: it
    // changes a per-namespace sysctl that the host must keep.
    let dir = std::env::temp_dir().join(format!("harness-host-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shell = dir.join("shell.yaml");
    std::fs::write(
        &shell,
        "targets: [linux]\nsteps:\n  - shell: \"echo 0 > /proc/sys/net/ipv4/tcp_sack\"\n  - call: socket() = 3\n",
    )
    .unwrap();
    subset.push(shell.display().to_string());
    let before = host_snapshot();
    assert!(before.contains("tcp_sack=1"), "this test expects SACK on in the host's namespace");
    for transport in ["tun", "raw"] {
        let mut args = vec!["run", "--target", "linux", "--transport", transport, "--allow-shell"];
        // This test is about the host, not timing: it runs beside the other
        // tests of this file on a 2-core machine, so timers get slack.
        args.extend(["-j", "2", "--tolerance-scale", "5"]);
        args.extend(subset.iter().map(String::as_str));
        let out = Command::new(env!("CARGO_BIN_EXE_harness")).args(&args).current_dir(&root).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
        assert_eq!(host_snapshot(), before, "after a {transport} run of {subset:?}");
        // Killed in the middle of a run (the slow timer scripts are still going).
        let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
            .args(["run", "suites/", "--target", "linux", "--transport", transport, "-j", "8"])
            .current_dir(&root)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(400));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(host_snapshot(), before, "after SIGKILL in a {transport} run");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The host test's subset (no privilege needed to choose it): a handful of
/// files, and every kind of step of the Linux runs in one of them.
#[test]
fn the_host_subset_covers_every_kind_of_step() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (subset, kinds) = covering_subset(&root);
    println!("{kinds} kinds of step in {} files: {subset:?}", subset.len());
    assert!(subset.len() < 40, "{subset:?}");
}

/// A packet the harness reads late is judged by when the kernel sent it (its
/// timestamp on the transport), not by when it was read: the script stops
/// the harness's whole process (SIGSTOP from a background shell) across the
/// kernel's first retransmission and past the step's deadline; the
/// retransmission, read 0.5 s late, is on time. Read-time stamps failed it
/// ("expected a packet by ..., nothing was sent"), and so did TUN with
/// checksum offload while the tap's copy (with the kernel's partial
/// checksum) was compared octet for octet with the datagram read.
#[test]
fn a_packet_read_late_is_judged_by_when_the_kernel_sent_it() {
    if !privileged() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("harness-stamped-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("stopped.yaml");
    let steps = "steps:\n  - call: socket() = 3\n  - call: bind(3, 8080) = 0\n  \
                - call: listen(3, 1) = 0\n  - in: S 0:0(0) win 65535 <mss 1460>\n  \
                - out: S. 0:0(0) ack 1 <mss 1460,...>\n  - {at: +0.05, in: \". 1:1(0) ack 1 win 65535\"}\n  \
                - call: accept(3) = 4\n  - call: write(4, 100) = 100\n  - out: P. 1:101(100) ack 1\n  \
                - shell: \"(sleep 0.1; kill -STOP $PPID; sleep 0.6; kill -CONT $PPID) >/dev/null 2>&1 &\"\n  \
                - {at: +0.25~0.3, out: \"P. 1:101(100) ack 1\"}\n";
    for (transport, offload) in [("tun", "none"), ("raw", "none"), ("tun", "tso")] {
        std::fs::write(&path, format!("targets: [linux]\noffload: {offload}\n{steps}")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_harness"))
            .args(["run", "--target", "linux", "--allow-shell", "--load-retries", "0", "--transport", transport])
            .arg(&path)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "over {transport}, offload {offload}:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The kernel's tick as the Linux target reports it for `timer_tick`: a
/// kernel's HZ is 100 to 1000, so one tick is 1 to 10 ms (4 ms here, HZ=250).
#[test]
fn the_kernel_tick_is_read_from_the_coarse_clock() {
    let j = harness::target::linux::jiffy();
    assert!(j >= std::time::Duration::from_millis(1) && j <= std::time::Duration::from_millis(10), "{j:?}");
    assert_eq!(harness::target::linux::jiffy(), j);
}

/// A run the ledger lists that passes on a real-time target is tried again
/// (`--load-retries`, 2 by default) before it fails as a stale entry: a
/// timer's phase under load can hide a deviation once. An `intermittent`
/// entry's pass is a pass at once; a listed failure is the deviation.
#[test]
fn a_listed_pass_on_the_kernel_is_tried_again_before_it_fails() {
    if !privileged() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("harness-listed-pass-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("expectations")).unwrap();
    std::fs::write(dir.join("passes.yaml"), "steps:\n  - call: socket() = 3\n").unwrap();
    std::fs::write(dir.join("fails.yaml"), "steps:\n  - call: socket() = 7\n").unwrap();
    std::fs::write(dir.join("sometimes.yaml"), "steps:\n  - call: socket() = 3\n").unwrap();
    let entry = |glob: &str, extra: &str| {
        format!("  - script: {glob}\n    reason: listed\n    rfc: none\n    kernel: test\n{extra}")
    };
    std::fs::write(
        dir.join("expectations/linux.yaml"),
        format!(
            "deviations:\n{}{}{}",
            entry("passes.yaml", ""),
            entry("fails.yaml", ""),
            entry("sometimes.yaml", "    intermittent: a timer's phase\n")
        ),
    )
    .unwrap();
    let ledgers = harness::suite::Ledgers::load(std::slice::from_ref(&dir), &[TargetKind::Linux]).unwrap();
    let cfg = RunConfig::default();
    let run = |name: &str| {
        let s = script::load(&dir.join(name)).unwrap().remove(0);
        runner::run_with_retries(&s, TargetKind::Linux, &cfg, Some(&ledgers))
    };
    let r = run("passes.yaml");
    assert!(matches!(&r.status, Status::Failed(f) if f.message.contains("remove the entry")), "{:?}", r.status);
    assert_eq!(r.earlier.len(), cfg.load_retries as usize, "tried {} times", r.earlier.len() + 1);
    let r = run("fails.yaml");
    assert!(matches!(r.status, Status::Deviation { .. }) && r.earlier.is_empty(), "{:?}", r.status);
    let r = run("sometimes.yaml");
    assert!(matches!(r.status, Status::Passed) && r.unshown.is_some() && r.earlier.is_empty(), "{:?}", r.status);
    let _ = std::fs::remove_dir_all(&dir);
}
