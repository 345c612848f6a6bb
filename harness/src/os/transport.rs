//! How segments reach the stack under test: through a TUN device, or as raw
//! frames on a veth pair from another namespace (the path that reaches stacks
//! other than the local kernel later). Both behind one small trait.

use crate::os::tun::Tun;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd};

pub trait Transport: Send {
    /// Sends one IP datagram to the stack under test.
    fn send(&mut self, pkt: &[u8]) -> io::Result<()>;
    /// Sends one TCP datagram as a GSO packet of segment size `size`
    /// (`v6`: TCPv6). Only a TUN device with offload can.
    fn send_gso(&mut self, _pkt: &[u8], _size: u16, _v6: bool) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "GSO packets need the TUN transport with `offload: tso`"))
    }
    /// One IP datagram from the stack, if one is waiting.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>>;
    /// For poll(2).
    fn fd(&self) -> BorrowedFd<'_>;
    fn name(&self) -> &'static str;
}

impl Transport for Tun {
    fn send(&mut self, pkt: &[u8]) -> io::Result<()> {
        Tun::send(self, pkt)
    }
    fn send_gso(&mut self, pkt: &[u8], size: u16, v6: bool) -> io::Result<()> {
        Tun::send_gso(self, pkt, Some((if v6 { 4 } else { 1 }, size)))
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match Tun::recv(self, buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn fd(&self) -> BorrowedFd<'_> {
        self.as_fd()
    }
    fn name(&self) -> &'static str {
        "tun"
    }
}

/// An AF_PACKET (SOCK_DGRAM) socket on our end of a veth pair: it sees IP
/// packets without the Ethernet header and sends them to the kernel's MAC.
pub struct RawLink {
    sock: Socket,
    ifindex: u32,
    peer_mac: [u8; 6],
}

impl RawLink {
    /// Opens the socket on `ifindex` in the calling thread's namespace.
    pub fn open(ifindex: u32, peer_mac: [u8; 6]) -> io::Result<RawLink> {
        let proto = (libc::ETH_P_ALL as u16).to_be() as i32;
        let sock = Socket::new(Domain::PACKET, Type::DGRAM.nonblocking().cloexec(), Some(Protocol::from(proto)))?;
        crate::os::sys::packet_bind(sock.as_fd(), ifindex)?;
        Ok(RawLink { sock, ifindex, peer_mac })
    }
}

impl Transport for RawLink {
    fn send(&mut self, pkt: &[u8]) -> io::Result<()> {
        let ethertype = if pkt.first().is_some_and(|b| b >> 4 == 6) { 0x86dd } else { 0x0800 };
        crate::os::sys::packet_send(self.sock.as_fd(), self.ifindex, self.peer_mac, ethertype, pkt).map_err(|e| {
            if e.raw_os_error() == Some(libc::EMSGSIZE) {
                io::Error::other(format!(
                    "a {}-octet IP packet does not fit the veth link's MTU: the raw transport carries only what an \
                     Ethernet link can (the tun transport has no such limit)",
                    pkt.len()
                ))
            } else {
                e
            }
        })
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let mut tmp = vec![MaybeUninit::<u8>::uninit(); buf.len()];
        loop {
            match self.sock.recv_from(&mut tmp) {
                Ok((n, addr)) => {
                    // Our own transmissions come back as PACKET_OUTGOING; skip them.
                    let outgoing = addr.family() == libc::AF_PACKET as libc::sa_family_t && {
                        // SAFETY: the address family is AF_PACKET, so the storage holds a sockaddr_ll.
                        #[allow(unsafe_code)]
                        let ll = unsafe { &*(addr.as_ptr() as *const libc::sockaddr_ll) };
                        ll.sll_pkttype == libc::PACKET_OUTGOING
                    };
                    if outgoing {
                        continue;
                    }
                    for (d, s) in buf.iter_mut().zip(&tmp[..n]) {
                        // SAFETY: recv_from initialised the first n bytes.
                        #[allow(unsafe_code)]
                        {
                            *d = unsafe { s.assume_init() };
                        }
                    }
                    return Ok(Some(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }
    fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
    fn name(&self) -> &'static str {
        "raw"
    }
}

/// One end of a `socketpair(AF_UNIX, SOCK_SEQPACKET)`: one IP datagram per
/// message, to a device-under-test program that holds the other end.
pub struct SeqPacketLink {
    sock: Socket,
}

impl SeqPacketLink {
    /// A connected pair, both ends close-on-exec; ours non-blocking.
    pub fn pair() -> io::Result<(SeqPacketLink, Socket)> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::SEQPACKET.cloexec(), None)?;
        a.set_nonblocking(true)?;
        Ok((SeqPacketLink { sock: a }, b))
    }
}

impl Transport for SeqPacketLink {
    fn send(&mut self, pkt: &[u8]) -> io::Result<()> {
        let n = self.sock.send(pkt)?;
        if n != pkt.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short write to the DUT's link"));
        }
        Ok(())
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let mut tmp = vec![MaybeUninit::<u8>::uninit(); buf.len()];
        match self.sock.recv(&mut tmp) {
            // The program closed its end: nothing more will come.
            Ok(0) => Ok(None),
            Ok(n) => {
                for (d, s) in buf.iter_mut().zip(&tmp[..n]) {
                    // SAFETY: recv initialised the first n bytes.
                    #[allow(unsafe_code)]
                    {
                        *d = unsafe { s.assume_init() };
                    }
                }
                Ok(Some(n))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
    fn name(&self) -> &'static str {
        "dut"
    }
}
