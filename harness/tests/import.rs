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

/// The helpers google's tree runs (`../common/defaults.sh`), which the
/// tests' scripts run too.
const HELPERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/import-helpers/packetdrill-gtests");

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
    let (code, stdout, stderr) =
        harness(&["import", "--helpers", HELPERS, dir.join("in").to_str().unwrap(), "-o", out.to_str().unwrap()]);
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
    let (code, _, stderr) = harness(&["import", "--helpers", HELPERS, "/nonexistent/x.pkt"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("/nonexistent/x.pkt: No such file"), "{stderr}");
    let (code, _, stderr) = harness(&["import", "--helpers", HELPERS, "-D", "no-equals", "/nonexistent"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("expected NAME=VALUE"), "{stderr}");
    let (code, _, stderr) = harness(&["import", "--helpers", HELPERS, "--congestion", "cu bic", "/nonexistent"]);
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
    let (code, stdout, stderr) =
        harness(&["import", "--helpers", HELPERS, src.to_str().unwrap(), "-o", out.to_str().unwrap()]);
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
    let (code, stdout, _) =
        harness(&["import", "--helpers", HELPERS, dir.to_str().unwrap(), "-o", out.to_str().unwrap()]);
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

/// Copies every .pkt file under `src` to `dst` (same layout), with each
/// helper call rewritten by `rewrite` and `place` putting helpers in.
fn copy_tree(src: &Path, dst: &Path, rewrite: &dyn Fn(&str) -> String, place: &dyn Fn(&Path)) {
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_tree(&p, &dst.join(e.file_name()), rewrite, place);
        } else if p.extension().is_some_and(|x| x == "pkt") {
            std::fs::create_dir_all(dst).unwrap();
            let text = std::fs::read_to_string(&p).unwrap();
            std::fs::write(dst.join(e.file_name()), rewrite(&text)).unwrap();
            place(dst);
        }
    }
}

/// The files under `dir`, relative, with their contents.
fn tree_files(dir: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    fn walk(d: &Path, root: &Path, out: &mut std::collections::BTreeMap<PathBuf, String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.insert(p.strip_prefix(root).unwrap().to_path_buf(), std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// `../common/defaults.sh` (any depth of `../`) -> `to`.
fn redirect_common(text: &str, defaults: &str, sysctls: &str) -> String {
    let mut out = String::new();
    for l in text.split_inclusive('\n') {
        let mut l = l.to_string();
        for (name, to) in [("common/defaults.sh", defaults), ("common/set_sysctls.py", sysctls)] {
            while let Some(i) = l.find(name) {
                let mut start = i;
                while start >= 3 && &l[start - 3..start] == "../" {
                    start -= 3;
                }
                l.replace_range(start..i + name.len(), to);
            }
        }
        out.push_str(&l);
    }
    out
}

/// A tree that keeps its helpers beside its scripts, under names and paths
/// of its own, converts exactly as the original with its helpers elsewhere:
/// helpers are read, never recognised by name or place.
#[test]
fn helpers_are_read_wherever_the_tree_keeps_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/peers/packetdrill/gtests/net/tcp");
    let src = std::env::var_os("PACKETDRILL_TCP").map(PathBuf::from).unwrap_or(src);
    if !src.is_dir() {
        eprintln!("SKIPPED: no packetdrill scripts at {} (set PACKETDRILL_TCP)", src.display());
        return;
    }
    let dir = temp_dir("helpers-moved");
    let helper = |n: &str| std::fs::read_to_string(Path::new(HELPERS).join(n)).unwrap();
    let (defaults, sysctls) = (helper("defaults.sh"), helper("set_sysctls.py"));
    let import = |tree: &Path, out: &Path, helpers: bool| {
        let mut args = vec!["import", tree.to_str().unwrap(), "--allow-shell", "-o", out.to_str().unwrap()];
        if helpers {
            args.extend(["--helpers", HELPERS]);
        }
        let (code, stdout, stderr) = harness(&args);
        assert_eq!(code, Some(0), "{stdout}{stderr}");
        let last = stdout.lines().last().unwrap();
        last.split("; written").next().unwrap().to_string()
    };
    let original = dir.join("original");
    let summary = import(&src, &original, true);
    assert!(summary.contains("159 converted"), "{summary}");
    let want = tree_files(&original);

    // 1. Every helper moved to `./` beside the scripts.
    let moved = dir.join("moved");
    copy_tree(&src, &moved, &|t| redirect_common(t, "./defaults.sh", "./set_sysctls.py"), &|d| {
        std::fs::write(d.join("defaults.sh"), &defaults).unwrap();
        std::fs::write(d.join("set_sysctls.py"), &sysctls).unwrap();
    });
    let out = dir.join("moved-out");
    assert_eq!(import(&moved, &out, false), summary);
    assert!(tree_files(&out) == want, "the tree with its helpers in ./ converts differently");

    // 2. Names and paths of the tree's own, the setup split over two
    // helpers, one running the other (relative to the script's directory,
    // where packetdrill runs its commands).
    let renamed = dir.join("renamed");
    let (sysctl_lines, rest): (Vec<&str>, Vec<&str>) = defaults.lines().partition(|l| l.starts_with("sysctl"));
    let base = format!("#!/bin/bash\nset -e\n{}\n./lib/tcp-knobs.sh # the sysctls\n", rest.join("\n"));
    let knobs = format!("{}\n", sysctl_lines.join("\n"));
    copy_tree(&src, &renamed, &|t| redirect_common(t, "./lib/base-setup", "./lib/proc-set"), &|d| {
        std::fs::create_dir_all(d.join("lib")).unwrap();
        std::fs::write(d.join("lib/base-setup"), &base).unwrap();
        std::fs::write(d.join("lib/tcp-knobs.sh"), &knobs).unwrap();
        std::fs::write(d.join("lib/proc-set"), &sysctls).unwrap();
    });
    let out = dir.join("renamed-out");
    assert_eq!(import(&renamed, &out, false), summary);
    let got = tree_files(&out);
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (k, v) in &want {
        // The qdisc line now comes before the sysctls; the settings are the same.
        let (mut a, mut b): (Vec<&str>, Vec<&str>) = (v.lines().collect(), got[k].lines().collect());
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b, "{}", k.display());
    }

    // 3. Without the helpers, each script is refused at its helper line.
    let (code, stdout, _) = harness(&["import", src.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("0 converted"), "{stdout}");
    assert!(stdout.contains("../common/defaults.sh` is not at"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tree laid out as the kernel's selftests lay theirs out (written for
/// this test): the helper `./defaults.sh` beside the scripts, the addresses
/// and defines on the runner's command line, given after `--` as
/// packetdrill's own. The script converts and passes on the kernel, with
/// the helper's sysctls, qdisc and the command line's MTU in force.
#[test]
fn a_selftests_style_tree_with_its_runners_arguments() {
    let dir = temp_dir("selftests");
    let tree = dir.join("packetdrill");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(
        tree.join("defaults.sh"),
        "#!/bin/bash\n# Settings every script starts from.\nset -e\n\
         sysctl -q net.ipv4.tcp_rmem=\"4096 $((64 * 1024)) 1048576\" \\\n    net.ipv4.tcp_timestamps=0\n\
         ip tcp_metrics flush all >/dev/null 2>&1\n\
         tc qdisc replace dev tun0 root bfifo\n",
    )
    .unwrap();
    std::fs::write(
        tree.join("tcp_passive_no_ts.pkt"),
        "// A passive open without timestamps; the helper and the MTU checked.\n\
         `./defaults.sh`\n\
         0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
         +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n\
         +0 bind(3, ..., ...) = 0\n\
         +0 listen(3, 1) = 0\n\
         +0 < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 1 ecr 0>\n\
         +0 > S. 0:0(0) ack 1 <mss 1360,nop,nop,sackOK>\n\
         +.01 < . 1:1(0) ack 1 win 514\n\
         +0 accept(3, ..., ...) = 4\n\
         +0 `ip link show tun0 | grep -q 'mtu 1400' && tc qdisc show dev tun0 | grep -q '^qdisc bfifo'`\n",
    )
    .unwrap();
    let out = dir.join("out");
    let (code, stdout, stderr) = harness(&[
        "import",
        tree.to_str().unwrap(),
        "--allow-shell",
        "-o",
        out.to_str().unwrap(),
        "--",
        "--ip_version=ipv4",
        "--local_ip=198.51.100.7",
        "--gateway_ip=198.51.100.7",
        "--netmask_ip=255.255.255.0",
        "--remote_ip=192.0.2.9",
        "--mtu=1400",
        "--send_omit_free",
        "-D",
        "CMSG_LEVEL_IP=SOL_IP",
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("1 converted"), "{stdout}");
    let y = std::fs::read_to_string(out.join("tcp_passive_no_ts.yaml")).unwrap();
    for want in [
        "mtu: 1400",
        "qdisc: bfifo",
        "net.ipv4.tcp_rmem: \"4096 65536 1048576\"",
        "net.ipv4.tcp_timestamps: \"0\"",
        "addresses: {local: \"198.51.100.7\", remote: \"192.0.2.9\"}",
    ] {
        assert!(y.contains(want), "{want} not in\n{y}");
    }
    // Bad command lines are refused before anything is read.
    for (args, why) in [
        (vec!["--ip_vers=ipv6"], "did you mean `--ip_version`"),
        (vec!["--mtu"], "`--mtu` needs a value"),
        (vec!["--strict_segments=1"], "takes no value"),
        (vec!["x.pkt"], "scripts to import go before `--`"),
    ] {
        let mut a = vec!["import", tree.to_str().unwrap(), "--"];
        a.extend(args);
        let (code, _, stderr) = harness(&a);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(why), "{why}: {stderr}");
    }
    if common::privileged() {
        let (code, stdout, stderr) = harness(&[
            "run",
            out.join("tcp_passive_no_ts.yaml").to_str().unwrap(),
            "--target",
            "linux",
            "--allow-shell",
            "--verdicts",
        ]);
        assert_eq!(code, Some(0), "{stdout}{stderr}");
        assert!(stdout.contains("1 passed, 0 failed"), "{stdout}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// packetdrill's AE flag and ACE digits reach the kernel: a SYN with ACE 7
/// (AE, CWR, ECE) to a stack doing RFC 3168 ECN gets a SYN-ACK with ECE
/// only; expecting AE on it fails on the flags. The CE mark counts in the
/// AccECN-era TCP_INFO fields (6.18: tcpi_received_ce, _bytes).
#[test]
fn ace_digits_and_the_ae_flag_reach_the_kernel() {
    let pkt = |synack: &str| {
        format!(
            "`sysctl -q net.ipv4.tcp_ecn=1`\n\
             0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
             +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n\
             +0 bind(3, ..., ...) = 0\n\
             +0 listen(3, 1) = 0\n\
             +0 < S7 0:0(0) win 65535 <mss 1460>\n\
             +0 > {synack} 0:0(0) ack 1 <mss 1460>\n\
             +.01 < . 1:1(0) ack 1 win 257\n\
             +0 accept(3, ..., ...) = 4\n\
             +0 < [ce] P. 1:11(10) ack 1 win 257\n\
             +0 > E. 1:1(0) ack 11\n\
             +0 %{{ assert tcpi_received_ce == 1; assert tcpi_received_ce_bytes == 10 }}%\n\
             +0 %{{ assert SK_MEMINFO_DROPS == 0; assert SK_MEMINFO_RMEM_ALLOC > 0 }}%\n"
        )
    };
    let y = good_and_bad_on_the_kernel(
        "ace",
        &pkt("SE."),
        &pkt("SEA."),
        &["flags  expected SEA.\n                got SE.", "in   SEWA 0:0(0)"],
    );
    assert!(y.contains("in: \"S7 0:0(0) win 65535 <mss 1460>\""), "{y}");
}

/// Imports `good` and `bad` (.pkt texts) from a directory of their own, then,
/// with privileges, runs both on the kernel: `good` must pass, `bad` fail
/// with output holding each of `bad_says`. Returns the good script's YAML.
fn good_and_bad_on_the_kernel(name: &str, good: &str, bad: &str, bad_says: &[&str]) -> String {
    assert_ne!(good, bad, "{name}: the bad variant is the good one");
    let dir = temp_dir(name);
    std::fs::write(dir.join("good.pkt"), good).unwrap();
    std::fs::write(dir.join("bad.pkt"), bad).unwrap();
    let out = dir.join("out");
    let (code, stdout, _) = harness(&["import", dir.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("2 converted"), "{stdout}");
    let yaml = std::fs::read_to_string(out.join("good.yaml")).unwrap();
    if common::privileged() {
        let run = |f: &str| harness(&["run", out.join(f).to_str().unwrap(), "--target", "linux", "--verdicts"]);
        let (code, stdout, stderr) = run("good.yaml");
        assert_eq!(code, Some(0), "{name}: {stdout}{stderr}");
        let (code, stdout, _) = run("bad.yaml");
        assert_eq!(code, Some(1), "{name}: {stdout}");
        for want in bad_says {
            assert!(stdout.contains(want), "{name}: {want}: {stdout}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    yaml
}

/// packetdrill's IP information, `(tos 0x10)` on an inbound packet and
/// `(ttl 64, tos 0x0)` on an outbound one, is set and checked on the
/// kernel; a wrong TTL fails on the ttl field.
#[test]
fn ip_information_is_set_and_checked_on_the_kernel() {
    let pkt = |ttl: u8| {
        format!(
            "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
             +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n\
             +0 bind(3, ..., ...) = 0\n\
             +0 listen(3, 1) = 0\n\
             +0 < (tos 0x10, ttl 9) S 0:0(0) win 65535 <mss 1460>\n\
             +0 > (ttl {ttl}, tos 0x0) S. 0:0(0) ack 1 <mss 1460>\n"
        )
    };
    good_and_bad_on_the_kernel("ipinfo", &pkt(64), &pkt(63), &["ttl  expected 63\n              got 64"]);
}

/// Names of packetdrill's symbol table that the language gained (fcntl's
/// commands and flags, socket options passed as numbers, MSG_ and POLL
/// bits, every errno) do on the kernel what packetdrill's would.
#[test]
fn packetdrill_symbols_reach_the_kernel() {
    let good = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
        +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n\
        +0 bind(3, ..., ...) = 0\n\
        +0 listen(3, 1) = 0\n\
        +0 getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, [1], [4]) = 0\n\
        +0 getsockopt(3, SOL_SOCKET, SO_TYPE, [1], [4]) = 0\n\
        +0 < S 0:0(0) win 32792 <mss 1000>\n\
        +0 > S. 0:0(0) ack 1 <mss 1460>\n\
        +.1 < . 1:1(0) ack 1 win 257\n\
        +0 accept(3, ..., ...) = 4\n\
        +0 getsockopt(4, SOL_SOCKET, SO_ACCEPTCONN, [0], [4]) = 0\n\
        +0 setsockopt(4, SOL_TCP, TCP_CONGESTION, \"reno\", 4) = 0\n\
        +0 getsockopt(4, SOL_TCP, TCP_CONGESTION, \"reno\"..., [4]) = 0\n\
        +0 fcntl(4, F_GETFD) = 0\n\
        +0 fcntl(4, F_SETFD, FD_CLOEXEC) = 0\n\
        +0 fcntl(4, F_GETFD) = 1\n\
        +0 fcntl(4, F_DUPFD, 0) = 5\n\
        +0 fcntl(5, F_GETFD) = 0\n\
        +0 fcntl(4, F_SETFL, O_RDWR|O_APPEND|O_NONBLOCK) = 0\n\
        +0 fcntl(4, F_GETFL) = 0xc02\n\
        +0 fcntl(4, F_SETLEASE, F_RDLCK) = -1 EINVAL (Invalid argument)\n\
        +0 fcntl(4, F_GETLK, 0) = -1 EFAULT (Bad address)\n\
        +0 read(4, ..., 10) = -1 EAGAIN (Resource temporarily unavailable)\n\
        +0 poll([{fd=4, events=POLLOUT|POLLWRNORM|POLLWRBAND|POLLIN|POLLRDNORM, revents=POLLOUT|POLLWRNORM}], 1, 0) = 1\n\
        +0 getsockopt(4, SOL_IP, IP_MTU, [1500], [4]) = 0\n\
        +0 setsockopt(4, SOL_SOCKET, SO_BINDTODEVICE, \"nosuchdev\", 9) = -1 ENODEV (No such device)\n\
        +0 setsockopt(4, SOL_TCP, TCP_COOKIE_TRANSACTIONS, [1], 4) = -1 ENOPROTOOPT (Protocol not available)\n\
        +0 setsockopt(4, SOL_SOCKET, SO_RCVTIMEO, [1], 4) = -1 EINVAL (Invalid argument)\n\
        +0 write(5, ..., 10) = 10\n\
        +0 > P. 1:11(10) ack 1\n\
        +.1 < . 1:1(0) ack 11 win 257\n\
        +0 send(5, ..., 10, MSG_DONTROUTE|MSG_CONFIRM) = 10\n\
        +0 > P. 11:21(10) ack 1\n\
        +.1 < . 1:1(0) ack 21 win 257\n\
        +0 < P. 1:11(10) ack 21 win 257\n\
        +0 > . 21:21(0) ack 11\n\
        +0 poll([{fd=4, events=POLLIN|POLLRDNORM|POLLRDBAND, revents=POLLIN|POLLRDNORM}], 1, 0) = 1\n\
        +0 recv(4, ..., 10, MSG_CMSG_CLOEXEC) = 10\n\
        +0 epoll_create(1) = 6\n\
        +0 epoll_ctl(6, EPOLL_CTL_ADD, 4, {events=EPOLLOUT|EPOLLWRNORM, u64=77}) = 0\n\
        +0 epoll_wait(6, {events=EPOLLOUT|EPOLLWRNORM, u64=77}, 1, 0) = 1\n\
        +0 epoll_ctl(6, EPOLL_CTL_MOD, 4, {events=EPOLLOUT, fd=5}) = 0\n\
        +0 epoll_wait(6, {events=EPOLLOUT, fd=5}, 1, 0) = 1\n\
        +0 close(5) = 0\n\
        +0 close(4) = 0\n";
    // The dup'd descriptor is a socket of its own to the script: its
    // FD_CLOEXEC is not the original's.
    let bad = good.replace("+0 fcntl(5, F_GETFD) = 0", "+0 fcntl(5, F_GETFD) = 1");
    good_and_bad_on_the_kernel("symbols", good, &bad, &["fcntl(5, F_GETFD) = 1"]);
}

/// SCM_TIMESTAMPING_OPT_STATS on the error queue: packetdrill's
/// `cmsg_data=[TCP_NLA_NAME=VALUE, ...]` becomes `opt_stats:` and is
/// checked against what the kernel sends. The set of attributes is the
/// kernel's (newer kernels send more), so it is read from a first run.
#[test]
fn opt_stats_reach_the_kernel() {
    if !common::privileged() {
        return;
    }
    let dir = temp_dir("optstats");
    let pkt = |stats: &str| {
        format!(
            "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
             +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n\
             +0 bind(3, ..., ...) = 0\n\
             +0 listen(3, 1) = 0\n\
             +0 < S 0:0(0) win 32792 <mss 1000>\n\
             +0 > S. 0:0(0) ack 1 <mss 1460>\n\
             +.01 < . 1:1(0) ack 1 win 32792\n\
             +0 accept(3, ..., ...) = 4\n\
             +0 setsockopt(4, SOL_SOCKET, SO_TIMESTAMPING, [SOF_TIMESTAMPING_TX_ACK | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY | SOF_TIMESTAMPING_OPT_STATS], 4) = 0\n\
             +0 write(4, ..., 1000) = 1000\n\
             +0 > P. 1:1001(1000) ack 1\n\
             +.01 < . 1:1(0) ack 1001 win 32792\n\
             +0 recvmsg(4, {{msg_name(...)=..., msg_iov(1)=[{{...,0}}], msg_flags=MSG_ERRQUEUE|MSG_TRUNC, msg_control=[\
             {{cmsg_level=SOL_SOCKET, cmsg_type=SCM_TIMESTAMPING, cmsg_data={{scm_sec=0,scm_nsec=0}}}}, \
             {{cmsg_level=SOL_SOCKET, cmsg_type=SCM_TIMESTAMPING_OPT_STATS, cmsg_data=[{stats}]}}, \
             {{cmsg_level=SOL_IP, cmsg_type=IP_RECVERR, cmsg_data={{ee_errno=ENOMSG, ee_origin=SO_EE_ORIGIN_TIMESTAMPING, ee_type=0, ee_code=0, ee_info=SCM_TSTAMP_ACK, ee_data=999}}}}]}}, MSG_ERRQUEUE) = 0\n"
        )
    };
    let run = |name: &str, stats: &str| {
        std::fs::write(dir.join(format!("{name}.pkt")), pkt(stats)).unwrap();
        let out = dir.join("out");
        let (code, stdout, _) =
            harness(&["import", dir.join(format!("{name}.pkt")).to_str().unwrap(), "-o", out.to_str().unwrap()]);
        assert_eq!(code, Some(0), "{stdout}");
        assert!(stdout.contains("1 converted"), "{stdout}");
        harness(&["run", out.join(format!("{name}.yaml")).to_str().unwrap(), "--target", "linux", "--verdicts"])
    };
    // What this kernel sends.
    let (code, stdout, _) = run("probe", "TCP_NLA_BUSY=...");
    assert_eq!(code, Some(1), "{stdout}");
    let got = stdout.lines().find(|l| l.trim_start().starts_with("got [")).expect("the msghdr's diff");
    let stats = got.split("{opt_stats: {").nth(1).and_then(|r| r.split('}').next()).expect("opt_stats in the diff");
    let names: Vec<&str> = stats.split(", ").filter_map(|kv| kv.split(':').next()).collect();
    for n in ["busy", "data_segs_out", "snd_cwnd", "bytes_sent", "srtt"] {
        assert!(names.contains(&n), "{n}: {stats}");
    }
    let with = |bytes_sent: u32| {
        names
            .iter()
            .map(|n| match *n {
                "data_segs_out" => "TCP_NLA_DATA_SEGS_OUT=1".to_string(),
                "bytes_sent" => format!("TCP_NLA_BYTES_SENT={bytes_sent}"),
                "snd_cwnd" => "TCP_NLA_SND_CWND=10".to_string(),
                "total_retrans" => "TCP_NLA_TOTAL_RETRANS=0".to_string(),
                n => format!("TCP_NLA_{}=...", n.to_uppercase()),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (code, stdout, stderr) = run("good", &with(1000));
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let (code, stdout, _) = run("bad", &with(999));
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("bytes_sent: 999"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// packetdrill's sendmsg with msg_control: a control message passed with
/// one send (SO_TIMESTAMPING's TX_SCHED for this send alone) reaches the
/// kernel, which timestamps that send and not the next.
#[test]
fn sendmsg_control_messages_reach_the_kernel() {
    let good = concat!(
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n",
        "+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n",
        "+0 bind(3, ..., ...) = 0\n",
        "+0 listen(3, 1) = 0\n",
        "+0 < S 0:0(0) win 32792 <mss 1000>\n",
        "+0 > S. 0:0(0) ack 1 <mss 1460>\n",
        "+.01 < . 1:1(0) ack 1 win 32792\n",
        "+0 accept(3, ..., ...) = 4\n",
        "+0 setsockopt(4, SOL_SOCKET, SO_TIMESTAMPING, [SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY], 4) = 0\n",
        "+0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 100}], msg_flags=0, msg_control=[{cmsg_level=SOL_SOCKET, cmsg_type=SO_TIMESTAMPING, cmsg_data=SOF_TIMESTAMPING_TX_SCHED}]}, 0) = 100\n",
        "+0 > P. 1:101(100) ack 1\n",
        "+0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{...,0}], msg_flags=MSG_ERRQUEUE, msg_control=[\n",
        "   {cmsg_level=SOL_SOCKET, cmsg_type=SCM_TIMESTAMPING, cmsg_data={scm_sec=0,scm_nsec=0}},\n",
        "   {cmsg_level=SOL_IP, cmsg_type=IP_RECVERR, cmsg_data={ee_errno=ENOMSG, ee_origin=SO_EE_ORIGIN_TIMESTAMPING, ee_type=0, ee_code=0, ee_info=SCM_TSTAMP_SCHED, ee_data=99}}]}, MSG_ERRQUEUE) = 0\n",
        "+.01 < . 1:1(0) ack 101 win 32792\n",
        "+0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 100}], msg_flags=0}, 0) = 100\n",
        "+0 > P. 101:201(100) ack 1\n",
        "+0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{...,0}], msg_flags=0}, MSG_ERRQUEUE) = -1 EAGAIN (Resource temporarily unavailable)\n"
    );
    // Without the control message the send is not timestamped.
    let bad = good.replace(
        ", msg_control=[{cmsg_level=SOL_SOCKET, cmsg_type=SO_TIMESTAMPING, cmsg_data=SOF_TIMESTAMPING_TX_SCHED}]",
        "",
    );
    let y = good_and_bad_on_the_kernel("sendcmsg", good, &bad, &["returned -1 EAGAIN, expected 0"]);
    assert!(y.contains("sendmsg(4, [100], 0, [{cmsg_level=SOL_SOCKET, cmsg_type=SO_TIMESTAMPING, cmsg_data=SOF_TIMESTAMPING_TX_SCHED}]) = 100"), "{y}");
}

/// packetdrill's per-packet ports: a SYN from another port to a closed
/// one, and the kernel's RST with those ports, beside the connection.
#[test]
fn per_packet_ports_reach_the_kernel() {
    let good = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
        +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n\
        +0 bind(3, ..., ...) = 0\n\
        +0 listen(3, 4) = 0\n\
        +0 < 9999>8081 S 100:100(0) win 1000\n\
        +0 > 8081>9999 R. 0:0(0) ack 101 win 0\n\
        +0 < S 0:0(0) win 32792 <mss 1000>\n\
        +0 > S. 0:0(0) ack 1 <mss 1460>\n\
        +.1 < . 1:1(0) ack 1 win 257\n\
        +0 accept(3, ..., ...) = 4\n";
    good_and_bad_on_the_kernel(
        "ports",
        good,
        &good.replace("> 8081>9999 R.", "> 8081>9998 R."),
        &["ports  expected 8081 > 9998"],
    );
}
