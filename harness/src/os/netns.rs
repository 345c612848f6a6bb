//! Private network namespaces, and nothing outside them.
//!
//! Every Linux-facing run happens on a thread that first calls
//! [`Private::unshare`]; the namespace dies with the last thread or fd that
//! holds it, so a killed harness leaves nothing behind in the host's
//! namespace.
//!
//! A [`Private`] is the proof that the calling thread is in a namespace the
//! harness made: only [`Private::unshare`] and [`Private::enter`] (of a
//! namespace another `Private` handed out) give one, and it cannot leave its
//! thread. Everything that changes the network (addresses, routes, links,
//! neighbours, sysctls) is a method of it; [`super::netlink`]'s requests are
//! visible only inside `os`, so no code outside can configure a namespace
//! without the proof.

use super::netlink::{self, NetlinkError};
use nix::sched::CloneFlags;
use std::fs::File;
use std::marker::PhantomData;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetnsError {
    /// unshare(CLONE_NEWNET) or setns failed; EPERM means no CAP_SYS_ADMIN.
    #[error("{what}: permission denied: run as root (CAP_SYS_ADMIN and CAP_NET_ADMIN are needed)")]
    Permission { what: &'static str },
    #[error("{what}: {errno}")]
    Namespace { what: &'static str, errno: nix::Error },
    /// After unshare or setns the thread is still in the process's namespace.
    #[error("refusing to configure the network: this thread is in the process's original namespace")]
    NotIsolated,
    /// Reading /proc failed.
    #[error("reading {path}: {error}")]
    Proc { path: &'static str, error: std::io::Error },
    /// A netlink request failed.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    /// Writing a sysctl failed.
    #[error("sysctl {key}={value}: {error}")]
    Sysctl { key: String, value: String, error: std::io::Error },
}

fn namespace_error(what: &'static str, errno: nix::Error) -> NetnsError {
    if errno == nix::Error::EPERM {
        NetnsError::Permission { what }
    } else {
        NetnsError::Namespace { what, errno }
    }
}

fn ns_inode(path: &'static str) -> Result<u64, NetnsError> {
    std::fs::metadata(path).map(|m| m.ino()).map_err(|error| NetnsError::Proc { path, error })
}

/// True when the calling thread's network namespace differs from the process's.
fn isolated() -> Result<bool, NetnsError> {
    Ok(ns_inode("/proc/thread-self/ns/net")? != ns_inode("/proc/self/ns/net")?)
}

/// A namespace made by [`Private::unshare`], for another thread (or this
/// one, later) to [`Private::enter`].
#[derive(Debug)]
pub struct Handle(File);

/// Proof that the calling thread is in a private network namespace (see the
/// module's documentation). Not `Send`: it stays on the thread it proves
/// something about.
#[derive(Debug)]
pub struct Private {
    _thread: PhantomData<*const ()>,
}

impl Private {
    /// Moves the calling thread (only) into a new, empty network namespace
    /// and brings its loopback up.
    pub fn unshare() -> Result<Private, NetnsError> {
        nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(|e| namespace_error("unshare(CLONE_NEWNET)", e))?;
        let p = Private::checked()?;
        p.link_up("lo")?;
        Ok(p)
    }

    /// Moves the calling thread into a namespace a `Private` handed out.
    pub fn enter(ns: &Handle) -> Result<Private, NetnsError> {
        nix::sched::setns(&ns.0, CloneFlags::CLONE_NEWNET).map_err(|e| namespace_error("setns", e))?;
        Private::checked()
    }

    /// Proof for the namespace the calling thread is already in (one a
    /// `Private` moved it into before), if it is a private one.
    pub fn current() -> Result<Private, NetnsError> {
        Private::checked()
    }

    fn checked() -> Result<Private, NetnsError> {
        if !isolated()? {
            return Err(NetnsError::NotIsolated);
        }
        Ok(Private { _thread: PhantomData })
    }

    /// A handle on the namespace the thread is in now, for [`Private::enter`].
    pub fn handle(&self) -> Result<Handle, NetnsError> {
        File::open("/proc/thread-self/ns/net")
            .map(Handle)
            .map_err(|error| NetnsError::Proc { path: "/proc/thread-self/ns/net", error })
    }

    /// `ip link set NAME up`.
    pub fn link_up(&self, name: &str) -> Result<(), NetnsError> {
        Ok(netlink::link_up(name)?)
    }

    /// `ip link set NAME mtu MTU`.
    pub fn link_mtu(&self, name: &str, mtu: u32) -> Result<(), NetnsError> {
        Ok(netlink::link_mtu(name, mtu)?)
    }

    /// `tc qdisc replace dev NAME root KIND [limit N]`.
    /// A kind the kernel lacks gives way to the qdisc's fallback, if any.
    pub fn root_qdisc(&self, name: &str, q: &crate::script::netconf::Qdisc) -> Result<(), NetnsError> {
        match (netlink::root_qdisc(name, &q.kind, q.limit), &q.fallback) {
            (Err(netlink::NetlinkError::Refused { errno: libc::ENOENT, .. }), Some(f)) => self.root_qdisc(name, f),
            (r, _) => Ok(r?),
        }
    }

    /// `ip tcp_metrics flush all`.
    pub fn tcp_metrics_flush(&self) -> Result<(), NetnsError> {
        Ok(netlink::tcp_metrics_flush()?)
    }

    /// `ip route replace DST dev NAME METRICS...`: metrics of the route to `dst`.
    pub fn route_metrics(
        &self,
        name: &str,
        dst: IpAddr,
        r: &crate::script::netconf::RouteMetrics,
    ) -> Result<(), NetnsError> {
        Ok(netlink::route_metrics(name, dst, &r.metrics)?)
    }

    /// `ip addr add ADDR/PREFIX dev NAME` (IPv6 without duplicate address detection).
    pub fn addr_add(&self, name: &str, addr: IpAddr, prefix: u8) -> Result<(), NetnsError> {
        Ok(netlink::addr_add(name, addr, prefix)?)
    }

    /// `ip route add DST/PREFIX dev NAME`.
    pub fn route_add(&self, name: &str, dst: IpAddr, prefix: u8) -> Result<(), NetnsError> {
        Ok(netlink::route_add(name, dst, prefix)?)
    }

    /// `ip neigh add ADDR lladdr MAC dev NAME nud permanent`.
    pub fn neigh_add(&self, name: &str, addr: IpAddr, mac: [u8; 6]) -> Result<(), NetnsError> {
        Ok(netlink::neigh_add(name, addr, mac)?)
    }

    /// `ip link add NAME address MAC type veth peer name PEER address
    /// PEER_MAC netns PEER_NS`: a veth pair whose second end goes into
    /// another private namespace.
    pub fn veth_add(
        &self,
        name: &str,
        mac: [u8; 6],
        peer: &str,
        peer_mac: [u8; 6],
        peer_ns: &Handle,
    ) -> Result<(), NetnsError> {
        Ok(netlink::veth_add(name, mac, peer, peer_mac, &peer_ns.0)?)
    }

    /// Writes a sysctl of this namespace: `net.ipv4.tcp_sack` (or
    /// `net/ipv4/tcp_sack`).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<(), NetnsError> {
        let rel = key.replace('.', "/");
        let path = format!("/proc/thread-self/sys/{rel}");
        let path = if std::path::Path::new(&path).exists() { path } else { format!("/proc/sys/{rel}") };
        std::fs::write(&path, value).map_err(|error| NetnsError::Sysctl {
            key: key.to_string(),
            value: value.to_string(),
            error,
        })
    }
}

/// A counter from the calling thread's namespace's /proc/net/snmp (e.g.
/// ("Tcp", "RetransSegs")).
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
