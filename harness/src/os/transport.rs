//! How segments reach the stack under test: through a TUN device, or as raw
//! frames on a veth pair from another namespace (the path that reaches stacks
//! other than the local kernel later). Both behind one small trait.

use crate::os::tun::Tun;
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::VecDeque;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::SystemTime;

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
    /// One IP datagram and, where the transport knows it, when the stack
    /// sent it: the kernel's timestamp of the interface handing it on
    /// (CLOCK_REALTIME). `None`: when it is read is all there is; on a loaded
    /// machine that can be well after it was sent.
    fn recv_stamped(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, Option<SystemTime>)>> {
        Ok(self.recv(buf)?.map(|n| (n, None)))
    }
    /// For poll(2).
    fn fd(&self) -> BorrowedFd<'_>;
    fn name(&self) -> &'static str;
}

/// A TUN device, and a packet socket on it that sees every datagram the
/// kernel sends into the device, with the time it did: the datagram read
/// from the device is stamped with that time (matched by its bytes), not with
/// the time the harness got round to reading it.
pub struct TunLink {
    tun: Tun,
    tap: Option<Socket>,
    /// What the tap saw the kernel send, not matched yet, oldest first.
    seen: VecDeque<(Vec<u8>, SystemTime)>,
    scratch: Vec<u8>,
}

/// Tap datagrams kept unmatched at most (one the device dropped is never
/// matched).
const MAX_SEEN: usize = 1024;

impl TunLink {
    /// Opens the tap on the device `ifindex` (in the calling thread's
    /// namespace). Without it (no AF_PACKET), datagrams carry no stamp.
    pub fn new(tun: Tun, ifindex: u32) -> TunLink {
        let tap = open_packet_socket(ifindex).ok();
        TunLink { tun, tap, seen: VecDeque::new(), scratch: vec![0u8; 65_536] }
    }

    /// Takes what the tap has: the kernel's own transmissions.
    fn read_tap(&mut self) -> io::Result<()> {
        let Some(tap) = &self.tap else { return Ok(()) };
        while let Some((n, kind, stamp)) = crate::os::sys::packet_recv(tap.as_fd(), &mut self.scratch)? {
            if let (libc::PACKET_OUTGOING, Some(at)) = (kind, stamp) {
                if self.seen.len() == MAX_SEEN {
                    self.seen.pop_front();
                }
                self.seen.push_back((self.scratch[..n.min(self.scratch.len())].to_vec(), at));
            }
        }
        Ok(())
    }
}

/// Whether the tap's copy `tap` is the datagram `read` from the device. With
/// checksum offload (`offload: tso`) the tap sees the TCP or UDP checksum
/// field as the kernel left it (the pseudo-header's sum), and the harness
/// completes it after reading (`Tun::recv`): those two octets are not
/// compared; every other octet is.
fn same_datagram(tap: &[u8], read: &[u8]) -> bool {
    if tap.len() != read.len() {
        return false;
    }
    let (l4, proto) = match read.first().map(|b| b >> 4) {
        Some(4) if read.len() >= 20 => (usize::from(read[0] & 0x0f) * 4, read[9]),
        Some(6) if read.len() >= 40 => (40, read[6]),
        _ => return tap == read,
    };
    let sum = match proto {
        6 => l4 + 16,
        17 => l4 + 6,
        _ => return tap == read,
    };
    if sum + 2 > read.len() {
        return tap == read;
    }
    tap[..sum] == read[..sum] && tap[sum + 2..] == read[sum + 2..]
}

/// An AF_PACKET (SOCK_DGRAM) socket bound to `ifindex`, non-blocking, with
/// the kernel's software timestamps on.
fn open_packet_socket(ifindex: u32) -> io::Result<Socket> {
    let proto = (libc::ETH_P_ALL as u16).to_be() as i32;
    let sock = Socket::new(Domain::PACKET, Type::DGRAM.nonblocking().cloexec(), Some(Protocol::from(proto)))?;
    crate::os::sys::packet_bind(sock.as_fd(), ifindex)?;
    crate::os::sys::setsockopt_int(sock.as_fd(), libc::SOL_SOCKET, crate::os::sys::SO_TIMESTAMPNS, 1)?;
    Ok(sock)
}

impl Transport for TunLink {
    fn send(&mut self, pkt: &[u8]) -> io::Result<()> {
        self.tun.send(pkt)
    }
    fn send_gso(&mut self, pkt: &[u8], size: u16, v6: bool) -> io::Result<()> {
        self.tun.send_gso(pkt, Some((if v6 { 4 } else { 1 }, size)))
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        Ok(self.recv_stamped(buf)?.map(|(n, _)| n))
    }
    fn recv_stamped(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, Option<SystemTime>)>> {
        let n = match self.tun.recv(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        };
        // The tap had it first (the kernel hands a datagram to its taps,
        // then to the device): what it saw up to this one is waiting.
        self.read_tap()?;
        let stamp = match self.seen.iter().position(|(b, _)| same_datagram(b, &buf[..n])) {
            Some(k) => {
                let at = self.seen[k].1;
                // Earlier ones were never read from the device (dropped).
                self.seen.drain(..=k);
                Some(at)
            }
            None => None,
        };
        Ok(Some((n, stamp)))
    }
    fn fd(&self) -> BorrowedFd<'_> {
        self.tun.as_fd()
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
        let sock = open_packet_socket(ifindex)?;
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
        Ok(self.recv_stamped(buf)?.map(|(n, _)| n))
    }
    /// Stamped by the kernel as the veth pair delivered it, that is as the
    /// stack's namespace sent it.
    fn recv_stamped(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, Option<SystemTime>)>> {
        // Our own transmissions come back as PACKET_OUTGOING; skip them.
        while let Some((n, kind, stamp)) = crate::os::sys::packet_recv(self.sock.as_fd(), buf)? {
            if kind != libc::PACKET_OUTGOING {
                return Ok(Some((n.min(buf.len()), stamp)));
            }
        }
        Ok(None)
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

#[cfg(test)]
mod tests {
    use super::same_datagram;

    /// A TCP segment read from the device with its checksum completed is
    /// the one the tap saw with the pseudo-header's sum (offload); any other
    /// difference is another datagram.
    #[test]
    fn a_datagram_matches_its_tap_copy_whatever_its_checksum_field() {
        let mut read = vec![0u8; 44];
        read[0] = 0x45; // IPv4, 20-octet header
        read[9] = 6; // TCP
        read[40..44].copy_from_slice(b"data");
        read[36] = 0xab; // the completed checksum
        let mut tap = read.clone();
        tap[36] = 0x12; // the partial sum the kernel left
        assert!(same_datagram(&tap, &read));
        tap[41] ^= 1;
        assert!(!same_datagram(&tap, &read), "payload differs");
        assert!(!same_datagram(&read[..43], &read), "length differs");
        // IPv6: the checksum sits 16 octets into the TCP header after 40.
        let mut v6 = vec![0u8; 64];
        v6[0] = 0x60;
        v6[6] = 6;
        let mut tap6 = v6.clone();
        tap6[56] = 1;
        assert!(same_datagram(&tap6, &v6));
        tap6[10] = 1;
        assert!(!same_datagram(&tap6, &v6), "address differs");
        // Not TCP or UDP: every octet counts.
        let mut icmp = read.clone();
        icmp[9] = 1;
        let mut tap_icmp = icmp.clone();
        tap_icmp[36] ^= 1;
        assert!(!same_datagram(&tap_icmp, &icmp));
    }
}
