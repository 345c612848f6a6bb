//! `harness import`: packetdrill scripts in, YAML out; converted scripts run
//! on the kernel and report the .pkt line of a failing step.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn harness(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_harness")).args(args).env("NO_COLOR", "1").output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("harness-import-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A server script in packetdrill's notation (written for this test): a
/// handshake with tcpdump-style absolute ISNs, a write, its ACK, a TCP_INFO
/// assertion, a close. `ack_of_data` is what the stack must ACK.
fn server_pkt(ack_of_data: u32) -> String {
    format!(
        "// Handshake, data, close.\n\
         --tolerance_usecs=20000\n\
         `../common/defaults.sh`\n\
         \n\
         0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
         +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n\
         +0 bind(3, ..., ...) = 0\n\
         +0 listen(3, 1) = 0\n\
         \n\
         +.1 < S 1000:1000(0) win 32792 <mss 1000,nop,wscale 7>\n\
         +0 > S. 0:0(0) ack 1001 <mss 1460,nop,wscale 8>\n\
         +.1 < . 1:1(0) ack 1 win 257\n\
         +0 accept(3, ..., ...) = 4\n\
         +0 %{{ assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd }}%\n\
         \n\
         +0 < P. 1:101(100) ack 1 win 257\n\
         +0~+.05 > . 1:1(0) ack {ack_of_data}\n\
         +0 read(4, ..., 100) = 100\n\
         +0 close(4) = 0\n\
         +0 > F. 1:1(0) ack 101\n"
    )
}

#[test]
fn converts_and_keeps_pkt_lines() {
    let dir = temp_dir("convert");
    std::fs::create_dir_all(dir.join("in/sub")).unwrap();
    std::fs::write(dir.join("in/sub/server.pkt"), server_pkt(101)).unwrap();
    std::fs::write(dir.join("in/icmp.pkt"), "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 > icmp unreachable\n")
        .unwrap();
    std::fs::write(dir.join("in/broken.pkt"), "0 socket(..., SOCK_STREAM\n").unwrap();
    let out = dir.join("out");
    let (code, stdout, stderr) = harness(&["import", dir.join("in").to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    // The converted script: the tree is mirrored, every step names its .pkt line.
    let yaml = std::fs::read_to_string(out.join("sub/server.yaml")).unwrap();
    assert!(yaml.contains("from: \"sub/server.pkt\""), "{yaml}");
    assert!(yaml.contains("remote_isn: 1000"), "{yaml}");
    assert!(yaml.contains("{at: \"+0.1\", in: \"S 0:0(0) win 32792 <mss 1000,nop,wscale 7>\", from: 10}"), "{yaml}");
    assert!(yaml.contains("{out: \"S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>\", from: 11}"), "{yaml}");
    assert!(yaml.contains("{tcp_info: {fd: 4, snd_cwnd: 10}, from: 14}"), "{yaml}");
    assert!(yaml.contains("net.ipv4.tcp_wmem: \"4096 262144 4194304\""), "{yaml}");
    assert!(yaml.contains("congestion: cubic"), "{yaml}");
    // Refused files say where and what; a syntax error too, and nothing crashes.
    assert!(stdout.contains("icmp.pkt:2: ICMP packet:"), "{stdout}");
    assert!(stdout.contains("broken.pkt:1: syntax: column 9: this system call's `(` is never closed"), "{stdout}");
    assert!(stdout.contains("3 file(s) read: 1 converted, 2 refused"), "{stdout}");
    assert!(!out.join("icmp.yaml").exists());
    // What the importer writes is valid in the language.
    let (code, stdout, _) = harness(&["check", out.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_command_lines_are_refused() {
    let (code, _, stderr) = harness(&["import", "/nonexistent/x.pkt"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("/nonexistent/x.pkt: No such file"), "{stderr}");
    let (code, _, stderr) = harness(&["import", "-D", "no-equals", "/nonexistent"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("expected NAME=VALUE"), "{stderr}");
    let (code, _, stderr) = harness(&["import", "--congestion", "cu bic", "/nonexistent"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--congestion"), "{stderr}");
}

/// packetdrill's own scripts, where this machine has them (the shared
/// material, GPL data never copied here): every one is read without a
/// crash, most convert, and every converted one checks.
#[test]
fn packetdrills_own_scripts_import() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/peers/packetdrill/gtests/net/tcp");
    let src = std::env::var_os("PACKETDRILL_TCP").map(PathBuf::from).unwrap_or(src);
    if !src.is_dir() {
        eprintln!("SKIPPED: no packetdrill scripts at {} (set PACKETDRILL_TCP)", src.display());
        return;
    }
    let out = temp_dir("packetdrill");
    let (code, stdout, stderr) = harness(&["import", src.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let last = stdout.lines().last().unwrap();
    let n: Vec<usize> =
        last.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
    assert_eq!(n[0], n[1] + n[2], "{last}");
    assert!(n[0] >= 162, "{last}");
    assert!(n[1] >= 85, "fewer scripts convert than before: {last}");
    let (code, stdout, _) = harness(&["check", out.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}");
    let _ = std::fs::remove_dir_all(&out);
}

/// On the kernel: the converted script passes; with a wrong expectation it
/// fails, and the report names the .pkt line.
#[test]
fn converted_script_runs_on_linux_and_points_at_the_pkt_line() {
    if !common::privileged() {
        return;
    }
    let dir = temp_dir("linux");
    std::fs::write(dir.join("good.pkt"), server_pkt(101)).unwrap();
    std::fs::write(dir.join("bad.pkt"), server_pkt(51)).unwrap();
    let out = dir.join("out");
    let (code, stdout, _) = harness(&["import", dir.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}");
    let (code, stdout, stderr) =
        harness(&["run", out.join("good.yaml").to_str().unwrap(), "--target", "linux", "--verdicts"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");
    let (code, stdout, _) =
        harness(&["run", out.join("bad.yaml").to_str().unwrap(), "--target", "linux", "--verdicts"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("  from: bad.pkt:17\n"), "{stdout}");
    assert!(stdout.contains("ack  expected 51"), "{stdout}");
    assert!(stdout.contains("(from bad.pkt:17)"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
