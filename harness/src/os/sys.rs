//! The few system calls that need `unsafe`, each small and commented: socket
//! options by number, TCP_INFO, and AF_PACKET addressing. Everything else goes
//! through socket2 and nix.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// setsockopt with an int value.
pub fn setsockopt_int(fd: BorrowedFd<'_>, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: `value` is a live i32 and its size is passed; the fd is open.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// setsockopt with a byte-string value (TCP_CONGESTION).
pub fn setsockopt_bytes(fd: BorrowedFd<'_>, level: i32, name: i32, value: &[u8]) -> io::Result<()> {
    // SAFETY: `value` is a live slice and its length is passed; the fd is open.
    #[allow(unsafe_code)]
    let rc =
        unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, value.as_ptr().cast(), value.len() as libc::socklen_t) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// fcntl(2) with an integer argument (a NULL pointer for the commands that
/// take one, when the script gives 0).
pub fn fcntl(fd: BorrowedFd<'_>, cmd: i32, arg: i64) -> io::Result<i64> {
    // SAFETY: the fd is open; commands that read through a pointer get 0
    // (NULL, answered with EFAULT): the language lets no other value through.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), cmd, arg as libc::c_long) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(i64::from(rc))
    }
}

/// The calling thread's network namespace's SNMP counters, by nstat's
/// names: `/proc/net/snmp` and `/proc/net/netstat` (a line of names after
/// its section, `TcpExt:`, then a line of values; TcpExt + ListenOverflows
/// is TcpExtListenOverflows) and `/proc/net/snmp6` (a name and a value a
/// line). The thread's own namespace: `/proc/thread-self`, not `/proc/self`
/// (the process's first thread lives in the host's).
pub fn net_counters() -> io::Result<std::collections::BTreeMap<String, i64>> {
    let mut out = std::collections::BTreeMap::new();
    for file in ["snmp", "netstat"] {
        let text = std::fs::read_to_string(format!("/proc/thread-self/net/{file}"))?;
        let lines: Vec<&str> = text.lines().collect();
        for pair in lines.chunks(2) {
            let [names, values] = pair else { continue };
            let (Some((sect, names)), Some((_, values))) = (names.split_once(':'), values.split_once(':')) else {
                continue;
            };
            for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
                if let Ok(v) = v.parse::<i64>() {
                    out.insert(format!("{sect}{n}"), v);
                }
            }
        }
    }
    // Without IPv6 in the kernel there is no snmp6.
    if let Ok(text) = std::fs::read_to_string("/proc/thread-self/net/snmp6") {
        for l in text.lines() {
            let mut w = l.split_whitespace();
            if let (Some(n), Some(v)) = (w.next(), w.next().and_then(|v| v.parse::<i64>().ok())) {
                out.insert(n.to_string(), v);
            }
        }
    }
    Ok(out)
}

/// getsockopt into `len` octets: what the kernel wrote (its length may
/// be shorter).
pub fn getsockopt_bytes(fd: BorrowedFd<'_>, level: i32, name: i32, len: usize) -> io::Result<Vec<u8>> {
    let mut v = vec![0u8; len];
    let mut l = len as libc::socklen_t;
    // SAFETY: `v` holds `len` octets and `l` says so; the fd is open.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::getsockopt(fd.as_raw_fd(), level, name, v.as_mut_ptr().cast(), &mut l) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    v.truncate(l as usize);
    Ok(v)
}

/// getsockopt of an int.
pub fn getsockopt_int(fd: BorrowedFd<'_>, level: i32, name: i32) -> io::Result<i32> {
    let mut v: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: `v` and `len` are live and sized for the call; the fd is open.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::getsockopt(fd.as_raw_fd(), level, name, (&mut v as *mut i32).cast(), &mut len) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(v)
    }
}

/// Linux's `struct tcp_info` (include/uapi/linux/tcp.h, through 6.x), in
/// order: (name, size in bytes). Eight one-byte fields come first, two of
/// them bit fields split below; then u32s and naturally aligned u64s.
const TCP_INFO_LAYOUT: &[(&str, usize)] = &[
    ("rto", 4),
    ("ato", 4),
    ("snd_mss", 4),
    ("rcv_mss", 4),
    ("unacked", 4),
    ("sacked", 4),
    ("lost", 4),
    ("retrans", 4),
    ("fackets", 4),
    ("last_data_sent", 4),
    ("last_ack_sent", 4),
    ("last_data_recv", 4),
    ("last_ack_recv", 4),
    ("pmtu", 4),
    ("rcv_ssthresh", 4),
    ("rtt", 4),
    ("rttvar", 4),
    ("snd_ssthresh", 4),
    ("snd_cwnd", 4),
    ("advmss", 4),
    ("reordering", 4),
    ("rcv_rtt", 4),
    ("rcv_space", 4),
    ("total_retrans", 4),
    ("pacing_rate", 8),
    ("max_pacing_rate", 8),
    ("bytes_acked", 8),
    ("bytes_received", 8),
    ("segs_out", 4),
    ("segs_in", 4),
    ("notsent_bytes", 4),
    ("min_rtt", 4),
    ("data_segs_in", 4),
    ("data_segs_out", 4),
    ("delivery_rate", 8),
    ("busy_time", 8),
    ("rwnd_limited", 8),
    ("sndbuf_limited", 8),
    ("delivered", 4),
    ("delivered_ce", 4),
    ("bytes_sent", 8),
    ("bytes_retrans", 8),
    ("dsack_dups", 4),
    ("reord_seen", 4),
    ("rcv_ooopack", 4),
    ("snd_wnd", 4),
    ("rcv_wnd", 4),
    ("rehash", 4),
    ("total_rto", 2),
    ("total_rto_recoveries", 2),
    ("total_rto_time", 4),
    // Accurate ECN (6.18): counters, then a word of bit fields split below.
    ("received_ce", 4),
    ("delivered_e1_bytes", 4),
    ("delivered_e0_bytes", 4),
    ("delivered_ce_bytes", 4),
    ("received_e1_bytes", 4),
    ("received_e0_bytes", 4),
    ("received_ce_bytes", 4),
    (ECN_BITS, 4),
];

/// The word `tcpi_ecn_mode:2, tcpi_accecn_opt_seen:2, tcpi_accecn_fail_mode:4,
/// tcpi_options2:24` (bit fields from the low bits up, as on every Linux ABI
/// this runs on): read whole, reported as its four fields.
const ECN_BITS: &str = "ecn_bits";

/// TCP_INFO as name -> value, for every field this kernel filled in (an
/// older kernel returns a shorter struct; its missing fields are absent).
pub fn tcp_info_fields(fd: BorrowedFd<'_>) -> io::Result<std::collections::BTreeMap<&'static str, i64>> {
    let mut buf = [0u8; 512];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: `buf` is live and `len` its size; the kernel writes at most `len` bytes.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::getsockopt(fd.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_INFO, buf.as_mut_ptr().cast(), &mut len)
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let len = (len as usize).min(buf.len());
    let mut m = std::collections::BTreeMap::new();
    if len >= 8 {
        for (i, n) in ["state", "ca_state", "retransmits", "probes", "backoff", "options"].iter().enumerate() {
            m.insert(*n, i64::from(buf[i]));
        }
        m.insert("snd_wscale", i64::from(buf[6] & 0x0f));
        m.insert("rcv_wscale", i64::from(buf[6] >> 4));
        m.insert("delivery_rate_app_limited", i64::from(buf[7] & 1));
        m.insert("fastopen_client_fail", i64::from((buf[7] >> 1) & 3));
    }
    let mut off: usize = 8;
    for (name, size) in TCP_INFO_LAYOUT {
        off = off.next_multiple_of(*size);
        if off + size > len {
            break;
        }
        let b = &buf[off..off + size];
        let v = match size {
            2 => i64::from(u16::from_ne_bytes([b[0], b[1]])),
            4 => i64::from(u32::from_ne_bytes([b[0], b[1], b[2], b[3]])),
            _ => {
                i64::try_from(u64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])).unwrap_or(i64::MAX)
            }
        };
        if *name == ECN_BITS {
            m.insert("ecn_mode", v & 0x3);
            m.insert("accecn_opt_seen", (v >> 2) & 0x3);
            m.insert("accecn_fail_mode", (v >> 4) & 0xf);
            m.insert("options2", (v >> 8) & 0xff_ffff);
        } else {
            m.insert(*name, v);
        }
        off += size;
    }
    socket_extras(fd, &mut m);
    Ok(m)
}

/// SO_MEMINFO's counters, in the kernel's order (linux/sock_diag.h's
/// SK_MEMINFO_*): fields of the same `tcp_info` step on Linux.
pub const MEMINFO_FIELDS: [&str; 9] = [
    "meminfo_rmem_alloc",
    "meminfo_rcvbuf",
    "meminfo_wmem_alloc",
    "meminfo_sndbuf",
    "meminfo_fwd_alloc",
    "meminfo_wmem_queued",
    "meminfo_optmem",
    "meminfo_backlog",
    "meminfo_drops",
];

/// TCP_CC_INFO's fields for bbr, dctcp and vegas (linux/inet_diag.h): fields
/// of the same `tcp_info` step on Linux, for the socket's congestion control.
pub const CC_INFO_FIELDS: &[&str] = &[
    "bbr_bw_lo",
    "bbr_bw_hi",
    "bbr_bw",
    "bbr_min_rtt",
    "bbr_pacing_gain",
    "bbr_cwnd_gain",
    "dctcp_enabled",
    "dctcp_ce_state",
    "dctcp_alpha",
    "dctcp_ab_ecn",
    "dctcp_ab_tot",
    "tcpv_enabled",
    "tcpv_rttcnt",
    "tcpv_rtt",
    "tcpv_minrtt",
];

/// SO_MEMINFO's counters (`meminfo_*`, linux/sock_diag.h's SK_MEMINFO_*
/// order) and TCP_CC_INFO's for the socket's congestion control (`bbr_*`,
/// `dctcp_*`, `tcpv_*`: linux/inet_diag.h), where the kernel gives them.
fn socket_extras(fd: BorrowedFd<'_>, m: &mut std::collections::BTreeMap<&'static str, i64>) {
    use MEMINFO_FIELDS as MEMINFO;
    let get = |level: i32, name: i32, buf: &mut [u8]| -> Option<usize> {
        let mut len = buf.len() as libc::socklen_t;
        // SAFETY: `buf` is live and `len` its size; the kernel writes at most `len` bytes.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::getsockopt(fd.as_raw_fd(), level, name, buf.as_mut_ptr().cast(), &mut len) };
        (rc == 0).then_some((len as usize).min(buf.len()))
    };
    let u32_at = |b: &[u8], i: usize| i64::from(u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]));
    let mut buf = [0u8; 64];
    if let Some(len) = get(libc::SOL_SOCKET, libc::SO_MEMINFO, &mut buf) {
        for (i, n) in MEMINFO.iter().enumerate().take(len / 4) {
            m.insert(n, u32_at(&buf, i * 4));
        }
    }
    let mut cc = [0u8; 16];
    let Some(cc_len) = get(libc::IPPROTO_TCP, libc::TCP_CONGESTION, &mut cc) else { return };
    let algo = String::from_utf8_lossy(&cc[..cc_len]).trim_end_matches('\0').to_string();
    let Some(len) = get(libc::IPPROTO_TCP, libc::TCP_CC_INFO, &mut buf) else { return };
    let b = &buf[..len];
    match algo.as_str() {
        // struct tcp_bbr_info: bw_lo, bw_hi, min_rtt, pacing_gain, cwnd_gain.
        "bbr" if len >= 20 => {
            let (lo, hi) = (u32_at(b, 0), u32_at(b, 4));
            m.insert("bbr_bw_lo", lo);
            m.insert("bbr_bw_hi", hi);
            m.insert("bbr_bw", (hi << 32) | lo);
            m.insert("bbr_min_rtt", u32_at(b, 8));
            m.insert("bbr_pacing_gain", u32_at(b, 12));
            m.insert("bbr_cwnd_gain", u32_at(b, 16));
        }
        // struct tcp_dctcp_info: u16 enabled, u16 ce_state, alpha, ab_ecn, ab_tot.
        "dctcp" if len >= 16 => {
            m.insert("dctcp_enabled", i64::from(u16::from_ne_bytes([b[0], b[1]])));
            m.insert("dctcp_ce_state", i64::from(u16::from_ne_bytes([b[2], b[3]])));
            m.insert("dctcp_alpha", u32_at(b, 4));
            m.insert("dctcp_ab_ecn", u32_at(b, 8));
            m.insert("dctcp_ab_tot", u32_at(b, 12));
        }
        // struct tcpvegas_info: enabled, rttcnt, rtt, minrtt.
        "vegas" if len >= 16 => {
            m.insert("tcpv_enabled", u32_at(b, 0));
            m.insert("tcpv_rttcnt", u32_at(b, 4));
            m.insert("tcpv_rtt", u32_at(b, 8));
            m.insert("tcpv_minrtt", u32_at(b, 12));
        }
        _ => {}
    }
}

fn sockaddr_ll(ifindex: u32, protocol: u16, mac: Option<[u8; 6]>) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    #[allow(unsafe_code)]
    let mut a: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    a.sll_family = libc::AF_PACKET as u16;
    a.sll_protocol = protocol.to_be();
    a.sll_ifindex = ifindex as i32;
    if let Some(m) = mac {
        a.sll_halen = 6;
        a.sll_addr[..6].copy_from_slice(&m);
    }
    a
}

/// Binds an AF_PACKET socket to one interface.
pub fn packet_bind(fd: BorrowedFd<'_>, ifindex: u32) -> io::Result<()> {
    let a = sockaddr_ll(ifindex, libc::ETH_P_ALL as u16, None);
    // SAFETY: `a` is a live sockaddr_ll and its size is passed; the fd is open.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&a as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// SO_TIMESTAMPNS (and its control message, SCM_TIMESTAMPNS) as
/// asm-generic/socket.h numbers it (x86-64, arm64, riscv; 64-bit `time_t`,
/// so the "old" option is the 64-bit one); the libc crate lacks it on Linux.
pub const SO_TIMESTAMPNS: i32 = 35;

/// One datagram from an AF_PACKET socket: its length, its packet type
/// (`PACKET_HOST`, `PACKET_OUTGOING`, ...) and, with SO_TIMESTAMPNS on, the
/// kernel's software timestamp (CLOCK_REALTIME) of when the interface sent
/// or received it. `None` when nothing is waiting (non-blocking socket).
pub fn packet_recv(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
) -> io::Result<Option<(usize, u8, Option<std::time::SystemTime>)>> {
    // u64s keep the control buffer aligned for cmsghdr.
    let mut control = [0u64; 16];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: a zeroed sockaddr_ll is valid; the msghdr points at live
    // buffers whose lengths it states; the CMSG_* walk stays within
    // msg_controllen as the kernel set it, and a timespec is read only from
    // a control message whose length holds one.
    #[allow(unsafe_code)]
    let (rc, pkttype, stamp) = unsafe {
        let mut addr: libc::sockaddr_ll = std::mem::zeroed();
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut addr as *mut libc::sockaddr_ll).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        let rc = libc::recvmsg(fd.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT);
        let mut stamp = None;
        if rc >= 0 {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                let hdr = &*c;
                let fits = hdr.cmsg_len >= libc::CMSG_LEN(std::mem::size_of::<libc::timespec>() as u32) as usize;
                if hdr.cmsg_level == libc::SOL_SOCKET && hdr.cmsg_type == SO_TIMESTAMPNS && fits {
                    let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                    if ts.tv_sec > 0 {
                        stamp = Some(
                            std::time::UNIX_EPOCH
                                + std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec.clamp(0, 999_999_999) as u32),
                        );
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        (rc, addr.sll_pkttype, stamp)
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::WouldBlock { Ok(None) } else { Err(e) };
    }
    Ok(Some((rc as usize, pkttype, stamp)))
}

/// Sends an IP packet out of `ifindex` to `mac` on a SOCK_DGRAM AF_PACKET socket
/// (the kernel adds the Ethernet header).
pub fn packet_send(fd: BorrowedFd<'_>, ifindex: u32, mac: [u8; 6], ethertype: u16, pkt: &[u8]) -> io::Result<()> {
    let a = sockaddr_ll(ifindex, ethertype, Some(mac));
    // SAFETY: `pkt` and `a` are live for the call and their sizes are passed.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            pkt.as_ptr().cast(),
            pkt.len(),
            0,
            (&a as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else if rc as usize != pkt.len() {
        Err(io::Error::new(io::ErrorKind::WriteZero, "short packet write"))
    } else {
        Ok(())
    }
}

/// ethtool commands (linux/ethtool.h) that set a boolean feature.
pub const ETHTOOL_STXCSUM: u32 = 0x17;
pub const ETHTOOL_SSG: u32 = 0x19;
pub const ETHTOOL_STSO: u32 = 0x1f;
pub const ETHTOOL_SGSO: u32 = 0x24;

/// `ethtool -K NAME ... on|off` for one feature, on an interface in the
/// calling thread's namespace.
pub fn ethtool_set(ifname: &str, cmd: u32, on: bool) -> io::Result<()> {
    if ifname.is_empty() || ifname.len() > 15 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad interface name"));
    }
    // struct ethtool_value { u32 cmd; u32 data; }
    let mut val: [u32; 2] = [cmd, u32::from(on)];
    // struct ifreq: name[16], then a pointer to the ethtool request.
    let mut ifr = [0u8; 40];
    ifr[..ifname.len()].copy_from_slice(ifname.as_bytes());
    let ptr = val.as_mut_ptr() as usize;
    ifr[16..16 + std::mem::size_of::<usize>()].copy_from_slice(&ptr.to_ne_bytes());
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
    // SAFETY: SIOCETHTOOL reads the ifreq (a live 40-byte buffer) and the
    // ethtool_value it points to (live until the call returns); the fd is open.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCETHTOOL as _, ifr.as_mut_ptr()) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A control message as recvmsg(2) returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawCmsg {
    pub level: i32,
    pub kind: i32,
    pub data: Vec<u8>,
}

/// sendmsg(2) of an iovec of `bufs`; returns the bytes sent.
pub fn sendmsg_iov(fd: BorrowedFd<'_>, bufs: &[&[u8]], flags: i32, cmsgs: &[(i32, i32, i32)]) -> io::Result<usize> {
    let mut iov: Vec<libc::iovec> =
        bufs.iter().map(|b| libc::iovec { iov_base: b.as_ptr() as *mut libc::c_void, iov_len: b.len() }).collect();
    // Each control message: a cmsghdr and an int, padded to CMSG_SPACE (u64s
    // keep the buffer aligned for cmsghdr).
    // SAFETY: CMSG_SPACE and CMSG_LEN only compute sizes.
    #[allow(unsafe_code)]
    let (space, clen) = unsafe { (libc::CMSG_SPACE(4) as usize, libc::CMSG_LEN(4) as usize) };
    let mut control = vec![0u64; (space * cmsgs.len()).div_ceil(8)];
    for (i, (level, ty, data)) in cmsgs.iter().enumerate() {
        let hdr = libc::cmsghdr { cmsg_len: clen, cmsg_level: *level, cmsg_type: *ty };
        // SAFETY: message i starts at i * space octets, within the buffer
        // (space octets each) and aligned (space is a multiple of the
        // cmsghdr's alignment); its int of data ends at CMSG_LEN(4) <= space.
        #[allow(unsafe_code)]
        unsafe {
            let at = control.as_mut_ptr().cast::<u8>().add(i * space);
            std::ptr::write_unaligned(at.cast::<libc::cmsghdr>(), hdr);
            std::ptr::write_unaligned(at.add(clen - 4).cast::<i32>(), *data);
        }
    }
    // SAFETY: zeroed msghdr is valid (no name); iov points at live buffers
    // of the given lengths, which the kernel only reads, and the control
    // buffer holds the messages it states.
    #[allow(unsafe_code)]
    let rc = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = iov.len();
        if !cmsgs.is_empty() {
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = space * cmsgs.len();
        }
        libc::sendmsg(fd.as_raw_fd(), &msg, flags)
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}

/// recvmsg(2) into a buffer of `len` bytes and 512 bytes of control space:
/// the bytes read, the msghdr's flags and its control messages.
pub fn recvmsg_cmsg(fd: BorrowedFd<'_>, len: usize, flags: i32) -> io::Result<(usize, i32, Vec<RawCmsg>)> {
    let mut buf = vec![0u8; len];
    // u64s keep the control buffer aligned for cmsghdr.
    let mut control = vec![0u64; 64];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: len };
    let mut out = Vec::new();
    // SAFETY: the msghdr points at live buffers whose lengths it states; the
    // CMSG_* walk stays within msg_controllen as the kernel set it.
    #[allow(unsafe_code)]
    let (rc, msg_flags) = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len() * 8;
        let rc = libc::recvmsg(fd.as_raw_fd(), &mut msg, flags);
        if rc >= 0 {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                let hdr = &*c;
                let data_len = hdr.cmsg_len.saturating_sub(libc::CMSG_LEN(0) as usize);
                let data = std::slice::from_raw_parts(libc::CMSG_DATA(c), data_len).to_vec();
                out.push(RawCmsg { level: hdr.cmsg_level, kind: hdr.cmsg_type, data });
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        (rc, msg.msg_flags)
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok((rc as usize, msg_flags, out))
    }
}

/// send/sendto (or recv) with a NULL buffer of `len` bytes: the kernel's
/// EFAULT paths (and, with MSG_FASTOPEN, its fast-open connect).
pub fn null_buffer_call(
    fd: BorrowedFd<'_>,
    write: bool,
    len: usize,
    flags: i32,
    to: Option<&socket2::SockAddr>,
) -> io::Result<usize> {
    // SAFETY: a NULL buffer is what is being tested: the kernel checks the
    // pointer and fails with EFAULT rather than touching our memory; the
    // address, when given, is a live sockaddr of the stated length.
    #[allow(unsafe_code)]
    let rc = unsafe {
        let null = std::ptr::null_mut::<libc::c_void>();
        if write {
            match to {
                Some(a) => libc::sendto(fd.as_raw_fd(), null, len, flags, a.as_ptr().cast(), a.len()),
                None => libc::send(fd.as_raw_fd(), null, len, flags),
            }
        } else {
            libc::recv(fd.as_raw_fd(), null, len, flags)
        }
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}

/// sendto(2) of `data` to an address of family AF_UNSPEC.
pub fn sendto_unspec(fd: BorrowedFd<'_>, data: &[u8], flags: i32) -> io::Result<usize> {
    // SAFETY: a zeroed sockaddr_storage is a valid AF_UNSPEC (0) address;
    // its size and the live buffer's are passed.
    #[allow(unsafe_code)]
    let rc = unsafe {
        let addr: libc::sockaddr_storage = std::mem::zeroed();
        libc::sendto(
            fd.as_raw_fd(),
            data.as_ptr().cast(),
            data.len(),
            flags,
            (&addr as *const libc::sockaddr_storage).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}

/// connect(2) to an address of family AF_UNSPEC: a TCP socket disconnects.
pub fn connect_unspec(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: a zeroed sockaddr_storage is a valid AF_UNSPEC (0) address,
    // live for the call; its size is passed.
    #[allow(unsafe_code)]
    let rc = unsafe {
        let addr: libc::sockaddr_storage = std::mem::zeroed();
        libc::connect(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_storage).cast(),
            std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// pipe2(2), close-on-exec: the read end and the write end.
pub fn pipe() -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and owned by nobody else.
    #[allow(unsafe_code)]
    Ok(unsafe { (std::os::fd::OwnedFd::from_raw_fd(fds[0]), std::os::fd::OwnedFd::from_raw_fd(fds[1])) })
}

/// splice(2) of up to `len` bytes with no offsets, never sleeping
/// (SPLICE_F_NONBLOCK; on a blocking socket the syscall thread splices).
pub fn splice(fd_in: std::os::fd::RawFd, fd_out: std::os::fd::RawFd, len: usize, flags: u32) -> io::Result<usize> {
    // SAFETY: no offsets are passed (NULL); the descriptors are open.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::splice(fd_in, std::ptr::null_mut(), fd_out, std::ptr::null_mut(), len, flags | libc::SPLICE_F_NONBLOCK)
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}
