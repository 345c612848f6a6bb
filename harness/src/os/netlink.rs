//! Just enough rtnetlink and sock_diag to configure a private namespace in
//! well under a millisecond (no `ip` processes) and to read the state of a
//! socket that has no descriptor any more. Messages are built by hand from
//! linux/netlink.h, rtnetlink.h, if_addr.h, neighbour.h and inet_diag.h.
//!
//! Every function acts on the calling thread's network namespace. Those that
//! change something are visible only inside `os`: the rest of the harness
//! reaches them through [`super::netns::Private`], the proof that the thread
//! is in a private namespace. Reading (sock_diag, dumps) needs no proof.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};

const NETLINK_ROUTE: i32 = 0;
const NETLINK_SOCK_DIAG: i32 = 4;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x01;
const NLM_F_ACK: u16 = 0x04;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const RTM_NEWNEIGH: u16 = 28;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const IFF_UP: u32 = 0x1;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_F_NODAD: u8 = 0x02;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
const NUD_PERMANENT: u16 = 0x80;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetlinkError {
    #[error("netlink {0}: {1}")]
    Io(&'static str, io::Error),
    /// The kernel refused a request: what it was and the errno.
    #[error("netlink {what}: {}", io::Error::from_raw_os_error(*errno))]
    Refused { what: String, errno: i32 },
}

/// A netlink message under construction: header, fixed part, attributes.
struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    fn new(ty: u16, flags: u16) -> Msg {
        let mut buf = vec![0u8; 16];
        buf[4..6].copy_from_slice(&ty.to_ne_bytes());
        buf[6..8].copy_from_slice(&flags.to_ne_bytes());
        buf[8..12].copy_from_slice(&1u32.to_ne_bytes());
        Msg { buf, nests: Vec::new() }
    }
    fn bytes(mut self, b: &[u8]) -> Msg {
        self.buf.extend_from_slice(b);
        self.align();
        self
    }
    fn align(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }
    fn attr(mut self, ty: u16, data: &[u8]) -> Msg {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.align();
        self
    }
    fn begin(mut self, ty: u16) -> Msg {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self
    }
    fn end(mut self) -> Msg {
        let at = self.nests.pop().expect("begin before end");
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }
    fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

fn open(proto: i32) -> Result<Socket, NetlinkError> {
    Socket::new(
        Domain::from(libc::AF_NETLINK),
        Type::from(libc::SOCK_RAW | libc::SOCK_CLOEXEC),
        Some(Protocol::from(proto)),
    )
    .map_err(|e| NetlinkError::Io("socket", e))
}

fn recv_all(s: &Socket) -> Result<Vec<u8>, NetlinkError> {
    let mut buf = vec![MaybeUninit::<u8>::uninit(); 65536];
    let n = s.recv(&mut buf).map_err(|e| NetlinkError::Io("recv", e))?;
    // SAFETY: recv initialised the first n bytes.
    #[allow(unsafe_code)]
    Ok(buf[..n].iter().map(|b| unsafe { b.assume_init() }).collect())
}

/// Sends one request and waits for the kernel's acknowledgement.
fn request(what: String, msg: Vec<u8>) -> Result<(), NetlinkError> {
    request_on(NETLINK_ROUTE, what, msg)
}

fn request_on(proto: i32, what: String, msg: Vec<u8>) -> Result<(), NetlinkError> {
    let s = open(proto)?;
    s.send(&msg).map_err(|e| NetlinkError::Io("send", e))?;
    let reply = recv_all(&s)?;
    if reply.len() >= 20 && u16::from_ne_bytes([reply[4], reply[5]]) == NLMSG_ERROR {
        let errno = -i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]);
        if errno != 0 {
            return Err(NetlinkError::Refused { what, errno });
        }
    }
    Ok(())
}

pub fn ifindex(name: &str) -> Result<u32, NetlinkError> {
    nix::net::if_::if_nametoindex(name).map_err(|e| NetlinkError::Io("if_nametoindex", io::Error::from(e)))
}

fn ifinfomsg(index: u32, flags: u32, change: u32) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[4..8].copy_from_slice(&(index as i32).to_ne_bytes());
    m[8..12].copy_from_slice(&flags.to_ne_bytes());
    m[12..16].copy_from_slice(&change.to_ne_bytes());
    m
}

/// `ip link set NAME up`.
pub(super) fn link_up(name: &str) -> Result<(), NetlinkError> {
    let idx = ifindex(name)?;
    let msg = Msg::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK).bytes(&ifinfomsg(idx, IFF_UP, IFF_UP)).finish();
    request(format!("set {name} up"), msg)
}

const IFLA_MTU: u16 = 4;
const RTM_NEWQDISC: u16 = 36;
const NLM_F_REPLACE: u16 = 0x100;
const TC_H_ROOT: u32 = 0xFFFF_FFFF;
const TCA_KIND: u16 = 1;

/// `ip link set NAME mtu MTU`.
pub(super) fn link_mtu(name: &str, mtu: u32) -> Result<(), NetlinkError> {
    let idx = ifindex(name)?;
    let msg = Msg::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK)
        .bytes(&ifinfomsg(idx, 0, 0))
        .attr(IFLA_MTU, &mtu.to_ne_bytes())
        .finish();
    request(format!("set {name} mtu {mtu}"), msg)
}

/// `tc qdisc replace dev NAME root KIND [limit N]`: the kind's default
/// parameters, or a FIFO's limit (`struct tc_fifo_qopt`, sch_fifo.c).
pub(super) fn root_qdisc(name: &str, kind: &str, limit: Option<u32>) -> Result<(), NetlinkError> {
    let idx = ifindex(name)?;
    // struct tcmsg: family, two pad octets, ifindex, handle, parent, info.
    let mut tcm = [0u8; 20];
    tcm[4..8].copy_from_slice(&(idx as i32).to_ne_bytes());
    tcm[12..16].copy_from_slice(&TC_H_ROOT.to_ne_bytes());
    let mut k = kind.as_bytes().to_vec();
    k.push(0);
    let mut msg =
        Msg::new(RTM_NEWQDISC, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE).bytes(&tcm).attr(TCA_KIND, &k);
    if let Some(l) = limit {
        msg = msg.attr(TCA_OPTIONS, &l.to_ne_bytes());
    }
    let what = match limit {
        Some(l) => format!("root qdisc {kind} limit {l} on {name}"),
        None => format!("root qdisc {kind} on {name}"),
    };
    request(what, msg.finish()).map_err(|e| match e {
        NetlinkError::Refused { errno: libc::ENOENT, what } => {
            NetlinkError::Refused { what: format!("{what} (a kind this kernel does not have)"), errno: libc::ENOENT }
        }
        e => e,
    })
}

const TCA_OPTIONS: u16 = 2;
const NETLINK_GENERIC: i32 = 16;
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const TCP_METRICS_CMD_DEL: u8 = 2;

/// A generic netlink family's number, by name.
fn genl_family(name: &str) -> Result<u16, NetlinkError> {
    let s = open(NETLINK_GENERIC)?;
    let mut n = name.as_bytes().to_vec();
    n.push(0);
    // genlmsghdr: cmd, version, reserved.
    let msg = Msg::new(GENL_ID_CTRL, NLM_F_REQUEST)
        .bytes(&[CTRL_CMD_GETFAMILY, 1, 0, 0])
        .attr(CTRL_ATTR_FAMILY_NAME, &n)
        .finish();
    s.send(&msg).map_err(|e| NetlinkError::Io("send", e))?;
    let reply = recv_all(&s)?;
    let what = || format!("generic netlink family {name}");
    if reply.len() >= 20 && u16::from_ne_bytes([reply[4], reply[5]]) == NLMSG_ERROR {
        let errno = -i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]);
        return Err(NetlinkError::Refused { what: what(), errno });
    }
    reply
        .get(20..)
        .and_then(|a| attrs(a).into_iter().find(|(t, v)| *t == CTRL_ATTR_FAMILY_ID && v.len() >= 2))
        .map(|(_, v)| u16::from_ne_bytes([v[0], v[1]]))
        .ok_or(NetlinkError::Refused { what: what(), errno: libc::ENOENT })
}

/// `ip tcp_metrics flush all`: the namespace's TCP metrics cache (RTTs,
/// fast-open cookies) forgotten.
pub(super) fn tcp_metrics_flush() -> Result<(), NetlinkError> {
    let family = genl_family("tcp_metrics")?;
    // TCP_METRICS_CMD_DEL without an address: every entry (tcp_metrics.c).
    let msg = Msg::new(family, NLM_F_REQUEST | NLM_F_ACK).bytes(&[TCP_METRICS_CMD_DEL, 1, 0, 0]).finish();
    request_on(NETLINK_GENERIC, "flush tcp_metrics".into(), msg)
}
const RTA_METRICS: u16 = 8;
const RTAX_LOCK: u16 = 1;

/// `ip route replace DST/PREFIX dev NAME METRICS...`: a route of its own to
/// `dst` with these (RTAX_ number, value, locked) metrics.
pub(super) fn route_metrics(name: &str, dst: IpAddr, metrics: &[(u16, u32, bool)]) -> Result<(), NetlinkError> {
    let idx = ifindex(name)?;
    let (family, octets) = ip_bytes(dst);
    let prefix = (octets.len() * 8) as u8;
    // rtmsg: family, dst_len, src_len, tos, table MAIN, protocol BOOT, scope LINK, type UNICAST, flags.
    let m = [family, prefix, 0, 0, 254, 3, 253, 1, 0, 0, 0, 0];
    let mut msg = Msg::new(RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE)
        .bytes(&m)
        .attr(RTA_DST, &octets)
        .attr(RTA_OIF, &idx.to_ne_bytes())
        .begin(RTA_METRICS);
    let locks = metrics.iter().filter(|x| x.2).fold(0u32, |l, x| l | 1 << x.0);
    if locks != 0 {
        msg = msg.attr(RTAX_LOCK, &locks.to_ne_bytes());
    }
    for (num, v, _) in metrics {
        msg = msg.attr(*num, &v.to_ne_bytes());
    }
    request(format!("route {dst}/{prefix} via {name} with metrics"), msg.end().finish())
}

fn ip_bytes(a: IpAddr) -> (u8, Vec<u8>) {
    match a {
        IpAddr::V4(v) => (libc::AF_INET as u8, v.octets().to_vec()),
        IpAddr::V6(v) => (libc::AF_INET6 as u8, v.octets().to_vec()),
    }
}

/// `ip addr add ADDR/PREFIX dev NAME` (IPv6 without duplicate address detection).
pub(super) fn addr_add(name: &str, addr: IpAddr, prefix: u8) -> Result<(), NetlinkError> {
    let idx = ifindex(name)?;
    let (family, octets) = ip_bytes(addr);
    let flags = if addr.is_ipv6() { IFA_F_NODAD } else { 0 };
    let mut m = [0u8; 8];
    m[0] = family;
    m[1] = prefix;
    m[2] = flags;
    m[4..8].copy_from_slice(&idx.to_ne_bytes());
    let msg = Msg::new(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
        .bytes(&m)
        .attr(IFA_LOCAL, &octets)
        .attr(IFA_ADDRESS, &octets)
        .finish();
    request(format!("add {addr}/{prefix} to {name}"), msg)
}

/// `ip route add DST/PREFIX dev NAME`.
pub(super) fn route_add(name: &str, dst: IpAddr, prefix: u8) -> Result<(), NetlinkError> {
    let idx = ifindex(name)?;
    let (family, octets) = ip_bytes(dst);
    // rtmsg: family, dst_len, src_len, tos, table MAIN, protocol BOOT, scope LINK, type UNICAST, flags.
    let m = [family, prefix, 0, 0, 254, 3, 253, 1, 0, 0, 0, 0];
    let msg = Msg::new(RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
        .bytes(&m)
        .attr(RTA_DST, &octets)
        .attr(RTA_OIF, &idx.to_ne_bytes())
        .finish();
    request(format!("route {dst}/{prefix} via {name}"), msg)
}

/// `ip neigh add ADDR lladdr MAC dev NAME nud permanent`.
pub(super) fn neigh_add(name: &str, addr: IpAddr, mac: [u8; 6]) -> Result<(), NetlinkError> {
    let idx = ifindex(name)?;
    let (family, octets) = ip_bytes(addr);
    let mut m = [0u8; 12];
    m[0] = family;
    m[4..8].copy_from_slice(&(idx as i32).to_ne_bytes());
    m[8..10].copy_from_slice(&NUD_PERMANENT.to_ne_bytes());
    let msg = Msg::new(RTM_NEWNEIGH, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
        .bytes(&m)
        .attr(NDA_DST, &octets)
        .attr(NDA_LLADDR, &mac)
        .finish();
    request(format!("neighbour {addr} on {name}"), msg)
}

/// `ip link add NAME address MAC type veth peer name PEER address PEER_MAC netns FD`:
/// a veth pair whose second end is moved into the namespace behind `peer_ns`.
pub(super) fn veth_add(
    name: &str,
    mac: [u8; 6],
    peer: &str,
    peer_mac: [u8; 6],
    peer_ns: &std::fs::File,
) -> Result<(), NetlinkError> {
    use std::os::fd::AsRawFd;
    let mut zname = name.as_bytes().to_vec();
    zname.push(0);
    let mut zpeer = peer.as_bytes().to_vec();
    zpeer.push(0);
    let fd = peer_ns.as_raw_fd() as u32;
    let msg = Msg::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
        .bytes(&ifinfomsg(0, 0, 0))
        .attr(IFLA_IFNAME, &zname)
        .attr(IFLA_ADDRESS, &mac)
        .begin(IFLA_LINKINFO)
        .attr(IFLA_INFO_KIND, b"veth")
        .begin(IFLA_INFO_DATA)
        .begin(VETH_INFO_PEER)
        .bytes(&ifinfomsg(0, 0, 0))
        .attr(IFLA_IFNAME, &zpeer)
        .attr(IFLA_ADDRESS, &peer_mac)
        .attr(IFLA_NET_NS_FD, &fd.to_ne_bytes())
        .end()
        .end()
        .end()
        .finish();
    request(format!("veth {name}/{peer}"), msg)
}

/// A socket found by sock_diag: its state (linux/tcp_states.h numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiagSocket {
    pub state: u8,
    pub timer: u8,
    pub retrans: u8,
    /// Milliseconds until the timer fires.
    pub expires_ms: u32,
}

/// Looks up the TCP socket with exactly this 4-tuple in the calling thread's
/// namespace (inet_diag, by 4-tuple). `None`: no such socket (CLOSED).
pub fn tcp_socket_state(local: SocketAddr, remote: SocketAddr) -> Result<Option<DiagSocket>, NetlinkError> {
    let s = open(NETLINK_SOCK_DIAG)?;
    let msg = Msg::new(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST).bytes(&inet_diag_req(local, remote)).finish();
    s.send(&msg).map_err(|e| NetlinkError::Io("sock_diag send", e))?;
    let reply = recv_all(&s)?;
    if reply.len() < 16 {
        return Ok(None);
    }
    match u16::from_ne_bytes([reply[4], reply[5]]) {
        NLMSG_ERROR => {
            let errno = -i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]);
            if errno == libc::ENOENT {
                Ok(None)
            } else {
                Err(NetlinkError::Refused { what: "sock_diag".into(), errno })
            }
        }
        NLMSG_DONE => Ok(None),
        _ => {
            // inet_diag_msg: family, state, timer, retrans, id (48 bytes), expires, ...
            let b = &reply[16..];
            if b.len() < 56 {
                return Ok(None);
            }
            // The exact lookup falls back to a listener on the local port: only
            // a socket with this very 4-tuple counts.
            let dport = u16::from_be_bytes([b[6], b[7]]);
            let (_, want_dst) = ip_bytes(remote.ip());
            if dport != remote.port() || b[24..24 + want_dst.len()] != want_dst[..] {
                return Ok(None);
            }
            Ok(Some(DiagSocket {
                state: b[1],
                timer: b[2],
                retrans: b[3],
                expires_ms: u32::from_ne_bytes([b[52], b[53], b[54], b[55]]),
            }))
        }
    }
}

/// inet_diag_req_v2 for the TCP socket of one 4-tuple, any state: family,
/// protocol, ext, pad, states, then inet_diag_sockid.
fn inet_diag_req(local: SocketAddr, remote: SocketAddr) -> Vec<u8> {
    let (family, _) = ip_bytes(local.ip());
    let mut req = vec![family, libc::IPPROTO_TCP as u8, 0, 0];
    req.extend_from_slice(&u32::MAX.to_ne_bytes());
    req.extend_from_slice(&local.port().to_be_bytes());
    req.extend_from_slice(&remote.port().to_be_bytes());
    for a in [local.ip(), remote.ip()] {
        let mut b = [0u8; 16];
        let (_, o) = ip_bytes(a);
        b[..o.len()].copy_from_slice(&o);
        req.extend_from_slice(&b);
    }
    req.extend_from_slice(&0u32.to_ne_bytes()); // interface
    req.extend_from_slice(&[0xff; 8]); // cookie: INET_DIAG_NOCOOKIE
    req
}

/// sock_diag's SOCK_DESTROY (linux/sock_diag.h).
const SOCK_DESTROY: u16 = 21;

/// Destroys the TCP socket of this 4-tuple in the calling thread's
/// namespace, whatever its state (TIME-WAIT, a pending connection, an
/// orphan): sock_diag's SOCK_DESTROY by its exact id, a hash lookup (a dump,
/// [`tcp_destroy_all`], walks the whole table of every namespace). `false`
/// when there was none.
pub fn tcp_destroy(local: SocketAddr, remote: SocketAddr) -> Result<bool, NetlinkError> {
    let msg = Msg::new(SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK).bytes(&inet_diag_req(local, remote)).finish();
    match request_on(NETLINK_SOCK_DIAG, format!("sock_diag destroy {local} {remote}"), msg) {
        Err(NetlinkError::Refused { errno, .. }) if errno == libc::ENOENT => Ok(false),
        Err(e) => Err(e),
        Ok(()) => Ok(true),
    }
}

/// Destroys every TCP socket of the calling thread's namespace, whatever
/// its state (TIME-WAIT, orphans still sending, pending connections,
/// listeners): sock_diag's SOCK_DESTROY, as `ss -K` does
/// (CONFIG_INET_DIAG_DESTROY). Returns how many there were. A namespace
/// kept for one script after another is made clean with it.
pub fn tcp_destroy_all() -> Result<usize, NetlinkError> {
    let mut total = 0;
    // (A destroyed connection may leave a TIME-WAIT or request behind:
    // a few rounds.)
    for _ in 0..4 {
        let mut ids: Vec<(u8, Vec<u8>)> = Vec::new();
        for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
            let s = open(NETLINK_SOCK_DIAG)?;
            let mut req = vec![family, libc::IPPROTO_TCP as u8, 0, 0];
            req.extend_from_slice(&u32::MAX.to_ne_bytes());
            req.extend_from_slice(&[0u8; 48]);
            let msg = Msg::new(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP).bytes(&req).finish();
            s.send(&msg).map_err(|e| NetlinkError::Io("sock_diag dump send", e))?;
            'dump: loop {
                let buf = recv_all(&s)?;
                let mut b = &buf[..];
                if b.len() < 16 {
                    break;
                }
                while b.len() >= 16 {
                    let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
                    let kind = u16::from_ne_bytes([b[4], b[5]]);
                    if len < 16 || len > b.len() {
                        break 'dump;
                    }
                    match kind {
                        NLMSG_DONE => break 'dump,
                        NLMSG_ERROR => {
                            let errno = -i32::from_ne_bytes([b[16], b[17], b[18], b[19]]);
                            return Err(NetlinkError::Refused { what: "sock_diag dump".into(), errno });
                        }
                        // inet_diag_msg: family, state, timer, retrans, then
                        // inet_diag_sockid (48 octets).
                        _ if len >= 16 + 4 + 48 => ids.push((b[16], b[20..68].to_vec())),
                        _ => {}
                    }
                    b = &b[len.next_multiple_of(4).min(b.len())..];
                }
            }
        }
        if ids.is_empty() {
            return Ok(total);
        }
        for (family, id) in &ids {
            let mut req = vec![*family, libc::IPPROTO_TCP as u8, 0, 0];
            req.extend_from_slice(&u32::MAX.to_ne_bytes());
            req.extend_from_slice(id);
            let msg = Msg::new(SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK).bytes(&req).finish();
            match request_on(NETLINK_SOCK_DIAG, "sock_diag destroy".into(), msg) {
                // (Gone meanwhile.)
                Err(NetlinkError::Refused { errno, .. }) if errno == libc::ENOENT => {}
                Err(e) => return Err(e),
                Ok(()) => total += 1,
            }
        }
    }
    Ok(total)
}

const NLM_F_DUMP: u16 = 0x300;
const RTM_GETLINK: u16 = 18;
const RTM_GETADDR: u16 = 22;
const RTM_GETROUTE: u16 = 26;
const RTM_GETRULE: u16 = 34;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_TABLE: u16 = 15;
const FRA_PRIORITY: u16 = 6;
const FRA_TABLE: u16 = 15;

/// The attributes of one netlink message's payload after its fixed part.
fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([b[0], b[1]]));
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((ty, &b[4..len]));
        b = &b[len.next_multiple_of(4).min(b.len())..];
    }
    out
}

fn ip_text(family: u8, b: &[u8]) -> String {
    match (i32::from(family), b.len()) {
        (libc::AF_INET, 4) => std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string(),
        (libc::AF_INET6, 16) => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).expect("16 octets")).to_string(),
        _ => format!("{b:02x?}"),
    }
}

fn u32_attr(b: &[u8]) -> u32 {
    b.get(..4).map_or(0, |x| u32::from_ne_bytes(x.try_into().expect("4 octets")))
}

/// Dumps one rtnetlink table of the calling thread's namespace (read only):
/// every message's payload, in the kernel's order.
fn dump(ty: u16, family: u8) -> Result<Vec<Vec<u8>>, NetlinkError> {
    let s = open(NETLINK_ROUTE)?;
    // The table's own fixed part, zeroed but for the family: ifinfomsg
    // (16 octets), ifaddrmsg (8), rtmsg and fib_rule_hdr (12).
    let fixed = match ty {
        RTM_GETLINK => 16,
        RTM_GETADDR => 8,
        _ => 12,
    };
    let mut hdr = vec![0u8; fixed];
    hdr[0] = family;
    let msg = Msg::new(ty, NLM_F_REQUEST | NLM_F_DUMP).bytes(&hdr).finish();
    s.send(&msg).map_err(|e| NetlinkError::Io("dump send", e))?;
    let mut out = Vec::new();
    loop {
        let buf = recv_all(&s)?;
        let mut b = &buf[..];
        while b.len() >= 16 {
            let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
            let kind = u16::from_ne_bytes([b[4], b[5]]);
            if len < 16 || len > b.len() {
                return Ok(out);
            }
            match kind {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => {
                    let errno = -i32::from_ne_bytes([b[16], b[17], b[18], b[19]]);
                    return Err(NetlinkError::Refused { what: format!("dump of table {ty}"), errno });
                }
                _ => out.push(b[16..len].to_vec()),
            }
            b = &b[len.next_multiple_of(4).min(b.len())..];
        }
    }
}

/// What `ip -o link`, `ip -o addr`, `ip route`, `ip -6 route` and `ip rule`
/// would show of the calling thread's namespace, one line per entry and
/// without counters or timers: a snapshot to compare before and after a run.
pub fn snapshot() -> Result<String, NetlinkError> {
    use std::fmt::Write as _;
    let mut s = String::new();
    for m in dump(RTM_GETLINK, libc::AF_UNSPEC as u8)? {
        // ifinfomsg: family, pad, type, index, flags, change.
        let index = i32::from_ne_bytes([m[4], m[5], m[6], m[7]]);
        let flags = u32::from_ne_bytes([m[8], m[9], m[10], m[11]]);
        let name = attrs(&m[16..])
            .into_iter()
            .find(|(t, _)| *t == IFLA_IFNAME)
            .map(|(_, v)| String::from_utf8_lossy(v).trim_end_matches('\0').to_string())
            .unwrap_or_default();
        let _ = writeln!(s, "link {index} {name} flags {flags:#x}");
    }
    for m in dump(RTM_GETADDR, libc::AF_UNSPEC as u8)? {
        // ifaddrmsg: family, prefixlen, flags, scope, index.
        let (family, prefix, index) = (m[0], m[1], u32::from_ne_bytes([m[4], m[5], m[6], m[7]]));
        let a = attrs(&m[8..]);
        let addr = a.iter().find(|(t, _)| *t == IFA_LOCAL).or_else(|| a.iter().find(|(t, _)| *t == IFA_ADDRESS));
        let _ = writeln!(s, "addr {index} {}/{prefix}", addr.map_or("?".into(), |(_, v)| ip_text(family, v)));
    }
    for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
        for m in dump(RTM_GETROUTE, family)? {
            // rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
            let a = attrs(&m[12..]);
            let get = |t: u16| a.iter().find(|(k, _)| *k == t).map(|(_, v)| *v);
            let table = get(RTA_TABLE).map_or(u32::from(m[4]), u32_attr);
            let _ = writeln!(
                s,
                "route {} {}/{} table {table} type {} scope {} proto {} dev {} via {} metric {}",
                m[0],
                get(RTA_DST).map_or("default".into(), |v| ip_text(m[0], v)),
                m[1],
                m[7],
                m[6],
                m[5],
                get(RTA_OIF).map_or(0, u32_attr),
                get(RTA_GATEWAY).map_or("-".into(), |v| ip_text(m[0], v)),
                get(RTA_PRIORITY).map_or(0, u32_attr),
            );
        }
        for m in dump(RTM_GETRULE, family)? {
            // fib_rule_hdr: family, dst_len, src_len, tos, table, res1, res2, action, flags.
            let a = attrs(&m[12..]);
            let get = |t: u16| a.iter().find(|(k, _)| *k == t).map(|(_, v)| u32_attr(v));
            let _ = writeln!(
                s,
                "rule {} priority {} table {} action {}",
                m[0],
                get(FRA_PRIORITY).unwrap_or(0),
                get(FRA_TABLE).unwrap_or(u32::from(m[4])),
                m[7]
            );
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    /// Reading needs no privilege and changes nothing: the host's own
    /// namespace is fine to look at.
    #[test]
    fn the_snapshot_lists_loopback() {
        let s = super::snapshot().unwrap();
        eprintln!("{s}");
        assert!(s.lines().any(|l| l.starts_with("link 1 lo flags")), "{s}");
        assert!(s.lines().any(|l| l == "addr 1 127.0.0.1/8"), "{s}");
        assert!(s.lines().any(|l| l.starts_with("route 2 127.0.0.0/8 table 255")), "{s}");
        assert!(s.lines().any(|l| l.starts_with("rule 2 priority 0 table 255")), "{s}");
    }
}
