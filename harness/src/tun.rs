//! A TUN device: IP datagrams in and out of the kernel through a file descriptor.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;

/// linux/if_tun.h
const IFF_TUN: i16 = 0x0001;
const IFF_NO_PI: i16 = 0x1000;
/// _IOW('T', 202, int)
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

#[derive(Debug)]
#[non_exhaustive]
pub enum TunError {
    /// /dev/net/tun could not be opened (missing module or device, no permission).
    Open(std::io::Error),
    /// TUNSETIFF failed.
    SetIff(std::io::Error),
    BadName(String),
}

impl fmt::Display for TunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TunError::Open(e) => write!(f, "opening /dev/net/tun: {e} (needs the tun module and root)"),
            TunError::SetIff(e) => write!(f, "TUNSETIFF: {e}"),
            TunError::BadName(n) => write!(f, "bad interface name {n:?}: 1 to 15 ASCII characters"),
        }
    }
}

impl std::error::Error for TunError {}

pub struct Tun {
    file: File,
    name: String,
}

impl Tun {
    /// Creates TUN interface `name` (no packet-information header), non-blocking.
    /// Call it from a thread inside a private namespace: the interface lives there.
    pub fn create(name: &str) -> Result<Tun, TunError> {
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
        ifr[16..18].copy_from_slice(&(IFF_TUN | IFF_NO_PI).to_ne_bytes());
        // SAFETY: TUNSETIFF reads and writes a struct ifreq; `ifr` is a live,
        // properly sized (40-byte) buffer for the duration of the call, and the
        // fd is open.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF, ifr.as_mut_ptr()) };
        if rc < 0 {
            return Err(TunError::SetIff(std::io::Error::last_os_error()));
        }
        let end = ifr[..16].iter().position(|b| *b == 0).unwrap_or(16);
        Ok(Tun { file, name: String::from_utf8_lossy(&ifr[..end]).into_owned() })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// One datagram from the kernel; `WouldBlock` when none is waiting.
    pub fn recv(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.file.read(buf)
    }

    /// One datagram to the kernel.
    pub fn send(&mut self, pkt: &[u8]) -> std::io::Result<()> {
        let n = self.file.write(pkt)?;
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
