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

/// TCP_INFO.
pub fn tcp_info(fd: BorrowedFd<'_>) -> io::Result<libc::tcp_info> {
    // SAFETY: tcp_info is plain old data; all-zero is a valid value.
    #[allow(unsafe_code)]
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is a live tcp_info and `len` its size; the kernel writes at most `len` bytes.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(info)
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
