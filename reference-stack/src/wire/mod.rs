//! The wire format, in one place: IPv4, IPv6 and TCP headers, TCP options,
//! checksums, and the ICMP errors a peer may send about a segment. Each header has an owned `Repr` with `parse` (which checks
//! everything and returns a typed [`WireError`], never panics) and `emit`.

mod checksum;
mod icmp;
mod ip;
mod tcp;

pub use checksum::{pseudo_header_sum, Checksum};
pub use icmp::{
    IcmpErrorRepr, QuotedTcp, ICMPV6_PKT_TOOBIG, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, IPPROTO_ICMP, IPPROTO_ICMPV6,
};
pub use ip::{IpPacket, IpRepr, IPPROTO_TCP};
pub use tcp::{
    OptionData, SackBlocks, TcpFlags, TcpHeader, TcpOption, TcpOptions, TcpRepr, MAX_OPTION_DATA, MAX_SACK_BLOCKS,
    TCP_HEADER_LEN,
};

use core::fmt;

/// Why a packet was rejected. Every variant says where and what.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The buffer ends before the `what` it should hold (`need` bytes, `have` bytes).
    Truncated { what: &'static str, need: usize, have: usize },
    /// The IP version nibble is neither 4 nor 6.
    BadIpVersion(u8),
    /// IPv4 IHL below 5 words or beyond the packet.
    BadIpHeaderLength(u8),
    /// IPv4 total length or IPv6 payload length disagrees with the buffer.
    BadIpLength { declared: usize, actual: usize },
    /// IPv4 header checksum does not verify.
    BadIpChecksum,
    /// The IP payload is not TCP (protocol / next header number).
    NotTcp(u8),
    /// An IPv4 fragment or an IPv6 fragment header: reassembly is the IP layer's job.
    Fragmented,
    /// TCP data offset below 5 words or beyond the segment (MUST-7 neighbourhood).
    BadDataOffset { offset_words: u8, segment_len: usize },
    /// An option whose length byte is illegal: below 2, past the header, or
    /// wrong for its kind (MUST-7). `at` is the byte offset within the options.
    BadOptionLength { kind: u8, len: u8, at: usize },
    /// An option kind byte with no room for its length byte (MUST-7).
    TruncatedOption { kind: u8, at: usize },
    /// A byte of the header's padding after an EOL option is not zero
    /// (MUST-69); `at` is its offset within the options. Only
    /// [`IpPacket::parse_sent`] reports this.
    NonzeroPadding { at: usize, value: u8 },
    /// The TCP checksum over the pseudo-header does not verify (MUST-3).
    BadChecksum { found: u16, expected: u16 },
    /// `emit` was asked for something the format cannot carry.
    CannotEmit(&'static str),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated { what, need, have } => {
                write!(f, "truncated {what}: need {need} bytes, have {have}")
            }
            WireError::BadIpVersion(v) => write!(f, "IP version {v} is neither 4 nor 6"),
            WireError::BadIpHeaderLength(ihl) => write!(f, "IPv4 header length {ihl} words is illegal"),
            WireError::BadIpLength { declared, actual } => {
                write!(f, "IP length field says {declared} bytes, packet has {actual}")
            }
            WireError::BadIpChecksum => write!(f, "IPv4 header checksum does not verify"),
            WireError::NotTcp(p) => write!(f, "IP payload is protocol {p}, not TCP (6)"),
            WireError::Fragmented => write!(f, "IP fragment: not reassembled by the stack"),
            WireError::BadDataOffset { offset_words, segment_len } => {
                write!(f, "TCP data offset {offset_words} words is illegal for a {segment_len}-byte segment")
            }
            WireError::BadOptionLength { kind, len, at } => {
                write!(f, "TCP option kind {kind} at options byte {at} has illegal length {len}")
            }
            WireError::TruncatedOption { kind, at } => {
                write!(f, "TCP option kind {kind} at options byte {at} has no length byte")
            }
            WireError::NonzeroPadding { at, value } => {
                write!(f, "TCP header padding byte at options byte {at} is {value:#04x}, not zero (MUST-69)")
            }
            WireError::BadChecksum { found, expected } => {
                write!(f, "TCP checksum {found:#06x} does not verify (expected {expected:#06x})")
            }
            WireError::CannotEmit(why) => write!(f, "cannot emit: {why}"),
        }
    }
}

impl std::error::Error for WireError {}
