//! What the privileged integration tests (interop, kernel_facts, linux_target)
//! share.

/// True as root. Otherwise the test fails and says why, unless
/// HARNESS_SKIP_PRIVILEGED is set, in which case it is skipped knowingly.
pub fn privileged() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var_os("HARNESS_SKIP_PRIVILEGED").is_some() {
        eprintln!("SKIPPED: not root and HARNESS_SKIP_PRIVILEGED is set");
        return false;
    }
    panic!(
        "this test needs root (network namespaces, TUN, veth); run as root or set HARNESS_SKIP_PRIVILEGED=1 to skip it"
    );
}
