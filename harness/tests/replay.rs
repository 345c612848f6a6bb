//! `harness diff`'s replay on the kernel: a kept namespace is clean from one
//! script to the next, and the corpus replays. Needs root (CI runs as root);
//! HARNESS_SKIP_PRIVILEGED=1 skips knowingly.

use harness::engine::{self, Outcome, RunOptions};
use harness::os::netlink;
use harness::target::linux::Slot;
use std::net::SocketAddr;
use std::path::Path;

mod common;
use common::privileged;

fn script(text: &str) -> harness::script::Script {
    harness::script::parse(Path::new("kept.yaml"), text).unwrap_or_else(|e| panic!("{e}")).remove(0)
}

/// A script leaves a connection in TIME-WAIT and sets a sysctl; given back,
/// the namespace has no TCP socket left and the sysctl as it was, and the
/// next script binds the same port and connects from it as in a new one.
#[test]
fn a_kept_namespace_is_clean_between_scripts() {
    if !privileged() {
        return;
    }
    let leaves = script(
        "targets: [linux]\nprofile: linux\noutbound: ignore\nremote_port: 40000\nsysctl:\n  net.ipv4.tcp_syncookies: \"2\"\nsteps:\n\
         \x20 - call: socket() = 3\n  - call: bind(3, 50000) = 0\n  - call: fcntl(3, F_SETFL, O_NONBLOCK) = 0\n\
         \x20 - call: connect(3, 192.0.2.1:40000) = -1 EINPROGRESS\n  - in: S. 0:0(0) ack 1 win 65535 <mss 1460>\n\
         \x20 - wait: 10ms\n  - call: close(3) = 0\n  - wait: 10ms\n  - in: . 1:1(0) ack 2 win 65535\n\
         \x20 - in: F. 1:1(0) ack 2 win 65535\n  - wait: 20ms\n",
    );
    let again = script(
        "targets: [linux]\nprofile: linux\nremote_port: 40000\nsteps:\n  - call: socket() = 3\n\
         \x20 - call: bind(3, 50000) = 0\n  - call: fcntl(3, F_SETFL, O_NONBLOCK) = 0\n\
         \x20 - call: connect(3, 192.0.2.1:40000) = -1 EINPROGRESS\n  - out: S 0:0(0) win * <...>\n",
    );
    std::thread::spawn(move || {
        let mut slot = Slot::new(&leaves).unwrap_or_else(|e| panic!("{e}"));
        let before = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_syncookies").unwrap();
        let mut t = slot.target(&leaves).unwrap_or_else(|e| panic!("{e}"));
        let r = engine::run_with(&leaves, &mut t, RunOptions::default());
        assert!(matches!(r.outcome, Outcome::Passed), "{:?}", r.outcome);
        let (local, remote): (SocketAddr, SocketAddr) =
            ("198.51.100.1:50000".parse().unwrap(), "192.0.2.1:40000".parse().unwrap());
        let tw = netlink::tcp_socket_state(local, remote).unwrap().expect("a TIME-WAIT");
        assert_eq!(tw.state, 6, "TIME-WAIT");
        assert_eq!(std::fs::read_to_string("/proc/sys/net/ipv4/tcp_syncookies").unwrap().trim(), "2");
        slot.give_back(t).unwrap_or_else(|e| panic!("{e}"));
        assert!(netlink::tcp_socket_state(local, remote).unwrap().is_none());
        assert_eq!(netlink::tcp_destroy_all().unwrap(), 0, "TCP sockets left");
        assert_eq!(std::fs::read_to_string("/proc/sys/net/ipv4/tcp_syncookies").unwrap(), before);
        assert!(slot.fits(&again));
        let mut t = slot.target(&again).unwrap_or_else(|e| panic!("{e}"));
        let r = engine::run_with(&again, &mut t, RunOptions::default());
        assert!(matches!(r.outcome, Outcome::Passed), "{:?}", r.outcome);
        slot.give_back(t).unwrap_or_else(|e| panic!("{e}"));
    })
    .join()
    .expect("the slot's thread");
}

/// The corpus replayed on the kernel: every case's script passes on the
/// reference stack (no errors), most cases come out alike, and the ledger's
/// clusters are met; each divergence cluster keeps its shortest case.
#[test]
fn the_corpus_replays_on_the_kernel() {
    if !privileged() {
        return;
    }
    let out = std::env::temp_dir().join(format!("replay-corpus-{}", std::process::id()));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["diff", concat!(env!("CARGO_MANIFEST_DIR"), "/../corpus"), "-j", "32", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    eprintln!("{text}{}", String::from_utf8_lossy(&o.stderr));
    let first = text.lines().next().unwrap_or("");
    let number = |after: &str| -> usize {
        let at = first.find(after).unwrap_or_else(|| panic!("`{after}` in {first}"));
        first[..at].split_whitespace().last().and_then(|n| n.trim_start_matches('(').parse().ok()).unwrap_or(0)
    };
    assert!(first.contains(" 0 errors"), "{first}");
    let (alike, known, diverged) = (number(" alike"), number(" parted as the ledger allows"), number(" diverged"));
    assert!(alike >= 80 && known >= 20, "{first}");
    // Exit 1 only for divergences the ledger does not list (a timer's
    // phase under load), each kept as its cluster's case.
    assert_eq!(o.status.code(), Some(if diverged > 0 { 1 } else { 0 }), "{first}");
    if diverged > 0 {
        let n = std::fs::read_dir(out.join("clusters")).unwrap().count();
        assert!(n > 0);
    }
    std::fs::remove_dir_all(&out).ok();
}
