//! A TUN device: IP datagrams in and out of the kernel through a file descriptor.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;

/// linux/if_tun.h
const IFF_TUN: i16 = 0x0001;
const IFF_NO_PI: i16 = 0x1000;
const IFF_VNET_HDR: i16 = 0x4000;
/// _IOW('T', 202, int)
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
/// _IOW('T', 208, unsigned int)
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
const TUN_F_CSUM: libc::c_ulong = 0x01;
const TUN_F_TSO4: libc::c_ulong = 0x02;
const TUN_F_TSO6: libc::c_ulong = 0x04;
const TUN_F_TSO_ECN: libc::c_ulong = 0x08;
/// struct virtio_net_hdr (linux/virtio_net.h), the default vnet header size.
const VNET_HDR_LEN: usize = 10;
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TunError {
    /// /dev/net/tun could not be opened (missing module or device, no permission).
    #[error("opening /dev/net/tun: {0} (needs the tun module and root)")]
    Open(std::io::Error),
    #[error("TUNSETIFF: {0}")]
    SetIff(std::io::Error),
    #[error("TUNSETOFFLOAD: {0}")]
    SetOffload(std::io::Error),
    #[error("bad interface name {0:?}: 1 to 15 ASCII characters")]
    BadName(String),
}

pub struct Tun {
    file: File,
    name: String,
    /// With a virtio-net header and TSO/checksum offload (see [`Tun::create_offload`]).
    offload: bool,
    scratch: Vec<u8>,
}

impl Tun {
    /// Creates TUN interface `name` (no packet-information header), non-blocking.
    /// Call it from a thread inside a private namespace: the interface lives there.
    pub fn create(name: &str) -> Result<Tun, TunError> {
        Tun::open(name, false)
    }

    /// Like [`Tun::create`], but the device takes TSO and checksum offload,
    /// like a typical Ethernet NIC (packetdrill's device): the kernel hands
    /// over TCP super-segments of up to 64 KB with the checksum left to the
    /// device. [`Tun::recv`] fills the checksum in and returns the datagram
    /// as the kernel meant it; the virtio-net header never reaches callers.
    pub fn create_offload(name: &str) -> Result<Tun, TunError> {
        Tun::open(name, true)
    }

    fn open(name: &str, offload: bool) -> Result<Tun, TunError> {
        if name.is_empty() || name.len() > 15 || !name.is_ascii() {
            return Err(TunError::BadName(name.to_string()));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(TunError::Open)?;
        // struct ifreq: char ifr_name[16]; union { short ifr_flags; ... } (40 bytes in all).
        let mut ifr = [0u8; 40];
        ifr[..name.len()].copy_from_slice(name.as_bytes());
        let flags = IFF_TUN | IFF_NO_PI | if offload { IFF_VNET_HDR } else { 0 };
        ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
        // SAFETY: TUNSETIFF reads and writes a struct ifreq; `ifr` is a live,
        // properly sized (40-byte) buffer for the duration of the call, and the
        // fd is open.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF, ifr.as_mut_ptr()) };
        if rc < 0 {
            return Err(TunError::SetIff(std::io::Error::last_os_error()));
        }
        if offload {
            let features = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
            // SAFETY: TUNSETOFFLOAD takes its argument by value; the fd is open.
            #[allow(unsafe_code)]
            let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETOFFLOAD, features) };
            if rc < 0 {
                return Err(TunError::SetOffload(std::io::Error::last_os_error()));
            }
        }
        let end = ifr[..16].iter().position(|b| *b == 0).unwrap_or(16);
        Ok(Tun { file, name: String::from_utf8_lossy(&ifr[..end]).into_owned(), offload, scratch: Vec::new() })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// One datagram from the kernel; `WouldBlock` when none is waiting.
    pub fn recv(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.offload {
            return self.file.read(buf);
        }
        self.scratch.resize(buf.len() + VNET_HDR_LEN, 0);
        let n = self.file.read(&mut self.scratch)?;
        if n < VNET_HDR_LEN {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "TUN read shorter than its virtio-net header",
            ));
        }
        let (hdr, pkt) = self.scratch[..n].split_at(VNET_HDR_LEN);
        let len = pkt.len();
        buf[..len].copy_from_slice(pkt);
        if hdr[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 {
            // The checksum field holds the pseudo-header sum; the device
            // completes it over [csum_start, end).
            let start = usize::from(u16::from_le_bytes([hdr[6], hdr[7]]));
            let field = start + usize::from(u16::from_le_bytes([hdr[8], hdr[9]]));
            if field + 2 > len || start > len {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "virtio-net checksum offsets outside the packet",
                ));
            }
            let mut sum: u32 = 0;
            for c in buf[start..len].chunks(2) {
                sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            }
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            buf[field..field + 2].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        }
        Ok(len)
    }

    /// One datagram to the kernel.
    pub fn send(&mut self, pkt: &[u8]) -> std::io::Result<()> {
        self.send_gso(pkt, None)
    }

    /// One datagram to the kernel; with `gso: Some((type, size))` (needs the
    /// offload device) the virtio-net header marks it a GSO packet of that
    /// type (VIRTIO_NET_HDR_GSO_TCPV4 = 1, TCPV6 = 4) and segment size.
    pub fn send_gso(&mut self, pkt: &[u8], gso: Option<(u8, u16)>) -> std::io::Result<()> {
        if gso.is_some() && !self.offload {
            return Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "GSO needs the TUN's virtio-net header"));
        }
        let pkt: std::borrow::Cow<'_, [u8]> = if self.offload {
            let mut v = vec![0u8; VNET_HDR_LEN];
            if let Some((kind, size)) = gso {
                // struct virtio_net_hdr: flags, gso_type, hdr_len, gso_size, ...
                v[1] = kind;
                v[4..6].copy_from_slice(&size.to_le_bytes());
            }
            v.extend_from_slice(pkt);
            v.into()
        } else {
            pkt.into()
        };
        let n = self.file.write(&pkt)?;
        if n != pkt.len() {
            return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "short write to TUN"));
        }
        Ok(())
    }
}

impl AsFd for Tun {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}
