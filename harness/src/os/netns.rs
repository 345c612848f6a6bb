//! Private network namespaces, and nothing outside them.
//!
//! Every Linux-facing run happens on a thread that first calls
//! [`unshare_netns`]; the namespace dies with the last thread or fd that holds
//! it, so a killed harness leaves nothing behind in the host's namespace.
//! [`ip`] refuses to run unless the calling thread is in a namespace other
//! than the process's original one.

use nix::sched::CloneFlags;
use std::fmt;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

#[derive(Debug)]
#[non_exhaustive]
pub enum NetnsError {
    /// unshare(CLONE_NEWNET) or setns failed; EPERM means no CAP_SYS_ADMIN.
    Namespace { what: &'static str, errno: nix::Error },
    /// The calling thread is still in the process's original namespace.
    NotIsolated,
    /// Reading /proc failed.
    Proc { path: &'static str, error: std::io::Error },
    /// An `ip` command failed or could not be started.
    Ip { args: String, detail: String },
}

impl fmt::Display for NetnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetnsError::Namespace { what, errno: nix::Error::EPERM } => {
                write!(f, "{what}: permission denied: run as root (CAP_SYS_ADMIN and CAP_NET_ADMIN are needed)")
            }
            NetnsError::Namespace { what, errno } => write!(f, "{what}: {errno}"),
            NetnsError::NotIsolated => {
                write!(f, "refusing to configure the network: this thread is in the process's original namespace")
            }
            NetnsError::Proc { path, error } => write!(f, "reading {path}: {error}"),
            NetnsError::Ip { args, detail } => write!(f, "`ip {args}` failed: {detail}"),
        }
    }
}

impl std::error::Error for NetnsError {}

fn ns_inode(path: &'static str) -> Result<u64, NetnsError> {
    std::fs::metadata(path).map(|m| m.ino()).map_err(|error| NetnsError::Proc { path, error })
}

/// True when the calling thread's network namespace differs from the process's.
pub fn isolated() -> Result<bool, NetnsError> {
    Ok(ns_inode("/proc/thread-self/ns/net")? != ns_inode("/proc/self/ns/net")?)
}

/// Moves the calling thread (only) into a new, empty network namespace and
/// brings its loopback up.
pub fn unshare_netns() -> Result<(), NetnsError> {
    nix::sched::unshare(CloneFlags::CLONE_NEWNET)
        .map_err(|errno| NetnsError::Namespace { what: "unshare(CLONE_NEWNET)", errno })?;
    if !isolated()? {
        return Err(NetnsError::NotIsolated);
    }
    ip(&["link", "set", "lo", "up"])
}

/// Like [`unshare_netns`], without spawning `ip`: loopback comes up over netlink.
pub fn unshare_private() -> Result<(), NetnsError> {
    nix::sched::unshare(CloneFlags::CLONE_NEWNET)
        .map_err(|errno| NetnsError::Namespace { what: "unshare(CLONE_NEWNET)", errno })?;
    if !isolated()? {
        return Err(NetnsError::NotIsolated);
    }
    crate::os::netlink::link_up("lo")
        .map_err(|e| NetnsError::Ip { args: "link set lo up (netlink)".into(), detail: e.to_string() })
}

/// A handle on the calling thread's namespace, for other threads to [`enter`].
pub fn current() -> Result<File, NetnsError> {
    File::open("/proc/thread-self/ns/net").map_err(|error| NetnsError::Proc { path: "/proc/thread-self/ns/net", error })
}

/// Moves the calling thread into the namespace behind `ns`.
pub fn enter(ns: &File) -> Result<(), NetnsError> {
    nix::sched::setns(ns, CloneFlags::CLONE_NEWNET).map_err(|errno| NetnsError::Namespace { what: "setns", errno })?;
    if !isolated()? {
        return Err(NetnsError::NotIsolated);
    }
    Ok(())
}

/// Runs `ip ARGS` in the calling thread's namespace (a child process inherits
/// the namespaces of the thread that spawns it). Refuses outside a private one.
pub fn ip(args: &[&str]) -> Result<(), NetnsError> {
    if !isolated()? {
        return Err(NetnsError::NotIsolated);
    }
    let joined = args.join(" ");
    let out = Command::new("ip").args(args).output().map_err(|e| NetnsError::Ip {
        args: joined.clone(),
        detail: format!("cannot run `ip` (is iproute2 installed?): {e}"),
    })?;
    if !out.status.success() {
        return Err(NetnsError::Ip { args: joined, detail: String::from_utf8_lossy(&out.stderr).trim().to_string() });
    }
    Ok(())
}

/// Writes a sysctl of the calling thread's namespace (e.g. `net/ipv4/tcp_sack`).
/// Refuses outside a private namespace.
pub fn sysctl(key: &str, value: &str) -> Result<(), NetnsError> {
    if !isolated()? {
        return Err(NetnsError::NotIsolated);
    }
    let path = format!("/proc/thread-self/sys/{key}");
    let path = if std::path::Path::new(&path).exists() { path } else { format!("/proc/sys/{key}") };
    std::fs::write(&path, value)
        .map_err(|e| NetnsError::Ip { args: format!("sysctl {key}={value}"), detail: e.to_string() })
}

/// A counter from the namespace's /proc/net/snmp (e.g. ("Tcp", "RetransSegs")).
pub fn snmp_counter(group: &str, name: &str) -> Result<u64, NetnsError> {
    let text = std::fs::read_to_string("/proc/thread-self/net/snmp")
        .map_err(|error| NetnsError::Proc { path: "/proc/thread-self/net/snmp", error })?;
    let mut lines = text.lines().filter(|l| l.starts_with(&format!("{group}:")));
    let (Some(head), Some(vals)) = (lines.next(), lines.next()) else { return Ok(0) };
    Ok(head
        .split_whitespace()
        .zip(vals.split_whitespace())
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0))
}

/// The kernel's TCP sockets in the calling thread's namespace, from
/// /proc/net/tcp and /proc/net/tcp6: (local, remote, state name). Sees
/// sockets without an fd (TIME-WAIT, orphans) too.
pub fn kernel_tcp_sockets() -> Result<Vec<(std::net::SocketAddr, std::net::SocketAddr, &'static str)>, NetnsError> {
    let mut out = Vec::new();
    for path in ["/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"] {
        let text = std::fs::read_to_string(path).map_err(|error| NetnsError::Proc { path, error })?;
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 4 {
                continue;
            }
            let (Some(l), Some(r)) = (proc_addr(f[1]), proc_addr(f[2])) else { continue };
            out.push((l, r, proc_state(f[3])));
        }
    }
    Ok(out)
}

/// An address as /proc/net/tcp{,6} prints it: hex words in host byte order, ":", hex port.
fn proc_addr(s: &str) -> Option<std::net::SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| u32::from_str_radix(ip.get(8 * i..8 * i + 8)?, 16).ok().map(u32::from_be);
    let ip: std::net::IpAddr = match ip.len() {
        8 => std::net::Ipv4Addr::from(word(0)?).into(),
        32 => {
            let mut octets = [0u8; 16];
            for i in 0..4 {
                octets[4 * i..4 * i + 4].copy_from_slice(&word(i)?.to_be_bytes());
            }
            std::net::Ipv6Addr::from(octets).into()
        }
        _ => return None,
    };
    Some(std::net::SocketAddr::new(ip, port))
}

/// include/net/tcp_states.h, in RFC 9293 spelling.
fn proc_state(hex: &str) -> &'static str {
    match hex {
        "01" => "ESTABLISHED",
        "02" => "SYN-SENT",
        "03" => "SYN-RECEIVED",
        "04" => "FIN-WAIT-1",
        "05" => "FIN-WAIT-2",
        "06" => "TIME-WAIT",
        "07" => "CLOSED",
        "08" => "CLOSE-WAIT",
        "09" => "LAST-ACK",
        "0A" => "LISTEN",
        "0B" => "CLOSING",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_addresses() {
        // 198.51.100.1:8080 as the kernel prints it on a little-endian machine.
        let v4 = proc_addr("016433C6:1F90").unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(v4, "198.51.100.1:8080".parse().unwrap());
            let v6 = proc_addr("B80D0120000000000000000001000000:1F90").unwrap();
            assert_eq!(v6, "[2001:db8::1]:8080".parse().unwrap());
        }
        assert_eq!(proc_state("06"), "TIME-WAIT");
        assert!(proc_addr("zz:1").is_none());
    }
}
