//! IPv4 (RFC 791) and IPv6 (RFC 8200) headers, as far as TCP needs them.

use super::checksum::Checksum;
use super::tcp::{TcpHeader, TcpRepr};
use super::WireError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

pub const IPPROTO_TCP: u8 = 6;
const IPV4_HEADER_LEN: usize = 20;
const IPV6_HEADER_LEN: usize = 40;

/// The IP header fields the stack reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IpRepr {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// TOS (IPv4) or traffic class (IPv6): the Diffserv and ECN bits.
    pub tos: u8,
    /// IPv4 identification; ignored for IPv6.
    pub ident: u16,
    /// IPv6 flow label; ignored for IPv4.
    pub flow_label: u32,
}

impl IpRepr {
    pub fn new(src: IpAddr, dst: IpAddr) -> Self {
        IpRepr { src, dst, ttl: 64, tos: 0, ident: 0, flow_label: 0 }
    }
    pub fn is_v6(&self) -> bool {
        self.src.is_ipv6()
    }
    pub fn header_len(&self) -> usize {
        if self.is_v6() {
            IPV6_HEADER_LEN
        } else {
            IPV4_HEADER_LEN
        }
    }
}

/// A whole IP datagram carrying one TCP segment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IpPacket {
    pub ip: IpRepr,
    pub tcp: TcpRepr,
}

impl IpPacket {
    /// Parses and verifies an IP datagram and the TCP segment inside it
    /// (IPv4 header checksum, lengths, TCP checksum: MUST-3). Liberal about
    /// what follows an EOL option (MUST-69 binds the sender, not us).
    pub fn parse(bytes: &[u8]) -> Result<IpPacket, WireError> {
        let (ip, tcp) = locate(bytes)?;
        let tcp = TcpRepr::parse(&bytes[tcp], Some((ip.src, ip.dst)))?;
        Ok(IpPacket { ip, tcp })
    }

    /// [`IpPacket::parse`] for a datagram a stack under test sent, which is
    /// also held to what a sender must do: the header's padding after an EOL
    /// option is zero (RFC 9293 3.1, MUST-69).
    pub fn parse_sent(bytes: &[u8]) -> Result<IpPacket, WireError> {
        let (ip, range) = locate(bytes)?;
        let tcp = TcpRepr::parse(&bytes[range.clone()], Some((ip.src, ip.dst)))?;
        super::tcp::check_padding(&bytes[range])?;
        Ok(IpPacket { ip, tcp })
    }

    /// [`IpPacket::parse_sent`] without copies: the same checks (IP header,
    /// lengths, TCP checksum, every option's length, zero padding after EOL)
    /// and the header fields the oracles read. Nothing is allocated.
    pub fn parse_sent_header(bytes: &[u8]) -> Result<(IpRepr, TcpHeader), WireError> {
        let (ip, range) = locate(bytes)?;
        let tcp = TcpHeader::parse(&bytes[range.clone()], Some((ip.src, ip.dst)))?;
        super::tcp::check_padding(&bytes[range])?;
        Ok((ip, tcp))
    }

    /// Emits the datagram with correct lengths and checksums.
    pub fn emit(&self) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::with_capacity(self.ip.header_len() + self.tcp.wire_len());
        self.emit_into(&mut out)?;
        Ok(out)
    }

    /// [`IpPacket::emit`] into `out`, which is cleared first (so one buffer
    /// serves every datagram of a run).
    pub fn emit_into(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        out.clear();
        self.tcp.check_emit()?;
        let tcp_len = self.tcp.wire_len();
        match (self.ip.src, self.ip.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let total = IPV4_HEADER_LEN + tcp_len;
                if total > usize::from(u16::MAX) {
                    return Err(WireError::CannotEmit("IPv4 datagram longer than 65535 bytes"));
                }
                out.push(0x45);
                out.push(self.ip.tos);
                out.extend_from_slice(&(total as u16).to_be_bytes());
                out.extend_from_slice(&self.ip.ident.to_be_bytes());
                out.extend_from_slice(&0x4000u16.to_be_bytes()); // DF, offset 0
                out.push(self.ip.ttl);
                out.push(IPPROTO_TCP);
                out.extend_from_slice(&[0, 0]);
                out.extend_from_slice(&s.octets());
                out.extend_from_slice(&d.octets());
                let mut c = Checksum::new();
                c.add_bytes(out);
                let sum = c.finish();
                out[10..12].copy_from_slice(&sum.to_be_bytes());
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                if tcp_len > usize::from(u16::MAX) {
                    return Err(WireError::CannotEmit("IPv6 payload longer than 65535 bytes"));
                }
                let word = (6u32 << 28) | (u32::from(self.ip.tos) << 20) | (self.ip.flow_label & 0xfffff);
                out.extend_from_slice(&word.to_be_bytes());
                out.extend_from_slice(&(tcp_len as u16).to_be_bytes());
                out.push(IPPROTO_TCP);
                out.push(self.ip.ttl);
                out.extend_from_slice(&s.octets());
                out.extend_from_slice(&d.octets());
            }
            _ => return Err(WireError::CannotEmit("source and destination are of different IP versions")),
        }
        // Checked at the top: the options fit.
        self.tcp.write_into(self.ip.src, self.ip.dst, out);
        Ok(())
    }
}

/// The IP header and where the TCP segment lies in `bytes`.
fn locate(bytes: &[u8]) -> Result<(IpRepr, Range<usize>), WireError> {
    let Some(&first) = bytes.first() else {
        return Err(WireError::Truncated { what: "IP header", need: 1, have: 0 });
    };
    match first >> 4 {
        4 => locate_v4(bytes),
        6 => locate_v6(bytes),
        v => Err(WireError::BadIpVersion(v)),
    }
}

fn locate_v4(bytes: &[u8]) -> Result<(IpRepr, Range<usize>), WireError> {
    if bytes.len() < IPV4_HEADER_LEN {
        return Err(WireError::Truncated { what: "IPv4 header", need: IPV4_HEADER_LEN, have: bytes.len() });
    }
    let ihl = bytes[0] & 0x0f;
    let hlen = usize::from(ihl) * 4;
    if hlen < IPV4_HEADER_LEN || hlen > bytes.len() {
        return Err(WireError::BadIpHeaderLength(ihl));
    }
    let total = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
    // A link layer may pad short frames, so the buffer may be longer than the datagram.
    if total < hlen || total > bytes.len() {
        return Err(WireError::BadIpLength { declared: total, actual: bytes.len() });
    }
    let mut c = Checksum::new();
    c.add_bytes(&bytes[..hlen]);
    if c.finish() != 0 {
        return Err(WireError::BadIpChecksum);
    }
    let frag = u16::from_be_bytes([bytes[6], bytes[7]]);
    if frag & 0x2000 != 0 || frag & 0x1fff != 0 {
        return Err(WireError::Fragmented);
    }
    if bytes[9] != IPPROTO_TCP {
        return Err(WireError::NotTcp(bytes[9]));
    }
    let src = IpAddr::V4(Ipv4Addr::new(bytes[12], bytes[13], bytes[14], bytes[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(bytes[16], bytes[17], bytes[18], bytes[19]));
    let ip = IpRepr {
        src,
        dst,
        ttl: bytes[8],
        tos: bytes[1],
        ident: u16::from_be_bytes([bytes[4], bytes[5]]),
        flow_label: 0,
    };
    Ok((ip, hlen..total))
}

fn locate_v6(bytes: &[u8]) -> Result<(IpRepr, Range<usize>), WireError> {
    if bytes.len() < IPV6_HEADER_LEN {
        return Err(WireError::Truncated { what: "IPv6 header", need: IPV6_HEADER_LEN, have: bytes.len() });
    }
    let word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let plen = usize::from(u16::from_be_bytes([bytes[4], bytes[5]]));
    if IPV6_HEADER_LEN + plen > bytes.len() {
        return Err(WireError::BadIpLength { declared: plen, actual: bytes.len() - IPV6_HEADER_LEN });
    }
    let end = IPV6_HEADER_LEN + plen;
    let src = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&bytes[8..24]).expect("16 bytes")));
    let dst = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&bytes[24..40]).expect("16 bytes")));
    // Walk the extension headers that may precede TCP (RFC 8200 4).
    let mut next = bytes[6];
    let mut at = IPV6_HEADER_LEN;
    loop {
        match next {
            IPPROTO_TCP => break,
            // Hop-by-hop, routing, destination options: (next, len in 8-octet units - 1).
            0 | 43 | 60 => {
                if at + 2 > end {
                    return Err(WireError::Truncated { what: "IPv6 extension header", need: at + 2, have: end });
                }
                let len = (usize::from(bytes[at + 1]) + 1) * 8;
                if at + len > end {
                    return Err(WireError::Truncated { what: "IPv6 extension header", need: at + len, have: end });
                }
                next = bytes[at];
                at += len;
            }
            44 => return Err(WireError::Fragmented),
            other => return Err(WireError::NotTcp(other)),
        }
    }
    let ip = IpRepr { src, dst, ttl: bytes[7], tos: ((word >> 20) & 0xff) as u8, ident: 0, flow_label: word & 0xfffff };
    Ok((ip, at..end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seq::SeqNumber;
    use crate::wire::TcpFlags;

    fn seg() -> TcpRepr {
        TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq: SeqNumber(5),
            ack: SeqNumber(9),
            flags: TcpFlags::ACK,
            window: 100,
            payload: vec![1, 2, 3],
            ..TcpRepr::default()
        }
    }

    #[test]
    fn v4_round_trip_and_checks() {
        let p = IpPacket {
            ip: IpRepr { ident: 77, ..IpRepr::new("192.0.2.1".parse().unwrap(), "198.51.100.1".parse().unwrap()) },
            tcp: seg(),
        };
        let mut b = p.emit().unwrap();
        assert_eq!(IpPacket::parse(&b).unwrap(), p);
        // Trailing link-layer padding is tolerated.
        b.extend_from_slice(&[0, 0]);
        assert_eq!(IpPacket::parse(&b).unwrap(), p);
        b.truncate(b.len() - 2);
        let mut bad = b.clone();
        bad[8] = 1; // TTL changed, header checksum stale
        assert_eq!(IpPacket::parse(&bad), Err(WireError::BadIpChecksum));
        let mut bad = b.clone();
        bad[0] = 0x44;
        assert_eq!(IpPacket::parse(&bad), Err(WireError::BadIpHeaderLength(4)));
        assert!(matches!(IpPacket::parse(&b[..30]), Err(WireError::BadIpLength { .. })));
        assert!(matches!(IpPacket::parse(&[0x75]), Err(WireError::BadIpVersion(7))));
        assert!(matches!(IpPacket::parse(&[]), Err(WireError::Truncated { .. })));
    }

    #[test]
    fn v6_round_trip_and_extension_headers() {
        let p = IpPacket {
            ip: IpRepr {
                tos: 2,
                flow_label: 0x12345,
                ..IpRepr::new("2001:db8:1::1".parse().unwrap(), "2001:db8::1".parse().unwrap())
            },
            tcp: seg(),
        };
        let b = p.emit().unwrap();
        assert_eq!(IpPacket::parse(&b).unwrap(), p);
        // Insert an 8-byte destination-options header.
        let mut e = b[..40].to_vec();
        e[6] = 60;
        let plen = u16::from_be_bytes([e[4], e[5]]) + 8;
        e[4..6].copy_from_slice(&plen.to_be_bytes());
        e.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
        e.extend_from_slice(&b[40..]);
        assert_eq!(IpPacket::parse(&e).unwrap(), p);
        let mut f = b.clone();
        f[6] = 44;
        assert_eq!(IpPacket::parse(&f), Err(WireError::Fragmented));
    }

    /// A valid IPv4 header (checksum filled in) with these fields changed.
    fn v4_header(ihl: u8, total: u16, frag: u16, proto: u8, extra: &[u8]) -> Vec<u8> {
        let mut h = vec![0x40 | ihl, 0xb8];
        h.extend_from_slice(&total.to_be_bytes());
        h.extend_from_slice(&[0x12, 0x34]);
        h.extend_from_slice(&frag.to_be_bytes());
        h.extend_from_slice(&[9, proto, 0, 0, 192, 0, 2, 1, 198, 51, 100, 1]);
        h.extend_from_slice(&vec![1u8; usize::from(ihl).saturating_sub(5) * 4]);
        let mut c = Checksum::new();
        c.add_bytes(&h);
        let sum = c.finish();
        h[10..12].copy_from_slice(&sum.to_be_bytes());
        h.extend_from_slice(extra);
        h
    }

    #[test]
    fn v4_header_bounds() {
        // Where the segment lies: after the header (options included), up
        // to the total length, trailing padding left out.
        let (ip, r) = locate(&v4_header(6, 24 + 8, 0, 6, &[0; 12])).unwrap();
        assert_eq!(r, 24..32);
        assert_eq!((ip.ttl, ip.tos, ip.ident), (9, 0xb8, 0x1234));
        assert_eq!(locate(&v4_header(5, 20, 0x4000, 6, &[])).unwrap().1, 20..20, "DF, nothing after the header");
        assert!(matches!(
            locate(&v4_header(5, 20, 0, 6, &[])[..19]),
            Err(WireError::Truncated { need: 20, have: 19, .. })
        ));
        // The header length: at least 5 words, within the buffer.
        assert_eq!(locate(&v4_header(6, 24, 0, 6, &[])).unwrap().1, 24..24, "a header that fills the buffer");
        let mut short = v4_header(6, 24, 0, 6, &[]);
        short.truncate(23);
        assert_eq!(locate(&short), Err(WireError::BadIpHeaderLength(6)));
        // The total length: at least the header, at most the buffer.
        assert_eq!(locate(&v4_header(5, 19, 0, 6, &[0; 4])), Err(WireError::BadIpLength { declared: 19, actual: 24 }));
        assert_eq!(locate(&v4_header(5, 25, 0, 6, &[0; 4])), Err(WireError::BadIpLength { declared: 25, actual: 24 }));
        assert_eq!(locate(&v4_header(5, 24, 0, 6, &[0; 4])).unwrap().1, 20..24);
        // A fragment (more fragments, or an offset) is not reassembled.
        assert_eq!(locate(&v4_header(5, 20, 0x2000, 6, &[])), Err(WireError::Fragmented));
        assert_eq!(locate(&v4_header(5, 20, 0x0001, 6, &[])), Err(WireError::Fragmented));
        assert_eq!(locate(&v4_header(5, 20, 0, 17, &[])), Err(WireError::NotTcp(17)));
    }

    /// An IPv6 header with this payload length and next header, then `rest`.
    fn v6_header(plen: u16, next: u8, rest: &[u8]) -> Vec<u8> {
        let mut h = vec![0x6a, 0xb1, 0x23, 0x45];
        h.extend_from_slice(&plen.to_be_bytes());
        h.extend_from_slice(&[next, 7]);
        h.extend_from_slice(&"2001:db8:1::1".parse::<Ipv6Addr>().unwrap().octets());
        h.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        h.extend_from_slice(rest);
        h
    }

    #[test]
    fn v6_header_bounds() {
        let (ip, r) = locate(&v6_header(8, 6, &[0; 10])).unwrap();
        assert_eq!(r, 40..48, "the payload length, not the buffer, ends the segment");
        assert_eq!((ip.ttl, ip.tos, ip.flow_label), (7, 0xab, 0x12345));
        assert!(matches!(locate(&v6_header(0, 6, &[])[..39]), Err(WireError::Truncated { need: 40, have: 39, .. })));
        assert_eq!(locate(&v6_header(8, 6, &[0; 8])).unwrap().1, 40..48, "a payload that fills the buffer");
        assert_eq!(locate(&v6_header(9, 6, &[0; 8])), Err(WireError::BadIpLength { declared: 9, actual: 8 }));
        // Extension headers (hop-by-hop 0, routing 43, destination 60):
        // (next, length in 8-octet units beyond the first).
        let two = [43, 0, 0, 0, 0, 0, 0, 0, 6, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xee, 0xee];
        assert_eq!(locate(&v6_header(26, 0, &two)).unwrap().1, 64..66, "8 + 16 octets of headers");
        assert_eq!(locate(&v6_header(24, 0, &two)).unwrap().1, 64..64, "headers that end the payload");
        // Cut inside the second header's length, and inside its body.
        assert!(matches!(
            locate(&v6_header(9, 0, &two)),
            Err(WireError::Truncated { what: "IPv6 extension header", need: 50, have: 49 })
        ));
        assert_eq!(
            locate(&v6_header(10, 0, &two)).map(|x| x.1),
            Err(WireError::Truncated { what: "IPv6 extension header", need: 64, have: 50 })
        );
        assert!(matches!(locate(&v6_header(1, 60, &[6])), Err(WireError::Truncated { need: 42, have: 41, .. })));
        assert_eq!(
            locate(&v6_header(2, 60, &[6, 0])).map(|x| x.1),
            Err(WireError::Truncated { what: "IPv6 extension header", need: 48, have: 42 })
        );
        assert_eq!(locate(&v6_header(8, 60, &[6, 0, 0, 0, 0, 0, 0, 0])).unwrap().1, 48..48);
        assert_eq!(locate(&v6_header(0, 17, &[])), Err(WireError::NotTcp(17)));
    }

    #[test]
    fn the_longest_datagrams_emit_and_one_more_octet_does_not() {
        let v4 = IpRepr::new("192.0.2.1".parse().unwrap(), "198.51.100.1".parse().unwrap());
        let v6 = IpRepr::new("2001:db8:1::1".parse().unwrap(), "2001:db8::1".parse().unwrap());
        let with = |ip: IpRepr, len: usize| IpPacket { ip, tcp: TcpRepr { payload: vec![7; len], ..seg() } }.emit();
        // IPv4: 20 + 20 + payload <= 65535. IPv6: 20 + payload <= 65535.
        assert_eq!(with(v4, 65_495).map(|b| b.len()), Ok(65_535));
        assert!(with(v4, 65_496).is_err());
        assert_eq!(with(v6, 65_515).map(|b| b.len()), Ok(65_575));
        assert!(with(v6, 65_516).is_err());
        assert_eq!((v4.header_len(), v6.header_len()), (20, 40));
        assert!(v6.is_v6() && !v4.is_v6());
    }

    #[test]
    fn mixed_versions_cannot_emit() {
        let p = IpPacket { ip: IpRepr::new("192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()), tcp: seg() };
        assert!(p.emit().is_err());
    }

    #[test]
    fn padding_after_eol_must_be_zero_from_a_sender() {
        use crate::wire::TcpOption;
        let addrs = ("192.0.2.1".parse().unwrap(), "198.51.100.1".parse().unwrap());
        let with = |options: Vec<TcpOption>| {
            IpPacket { ip: IpRepr::new(addrs.0, addrs.1), tcp: TcpRepr { options: options.into(), ..seg() } }
                .emit()
                .unwrap()
        };
        // MSS, EOL, then zeros (the emitter pads with zeros): fine both ways.
        let ok = with(vec![TcpOption::Mss(1460), TcpOption::Eol]);
        assert_eq!(IpPacket::parse_sent(&ok), IpPacket::parse(&ok));
        assert_eq!(IpPacket::parse(&ok).unwrap().tcp.options, vec![TcpOption::Mss(1460), TcpOption::Eol]);
        // NOPs written after the EOL are padding that is not zero: a receiver
        // takes the segment (options end at EOL), a sender is held to MUST-69.
        let bad = with(vec![TcpOption::Mss(1460), TcpOption::Eol, TcpOption::Nop, TcpOption::Nop, TcpOption::Nop]);
        assert_eq!(IpPacket::parse(&bad).unwrap().tcp.options, vec![TcpOption::Mss(1460), TcpOption::Eol]);
        assert_eq!(IpPacket::parse_sent(&bad), Err(WireError::NonzeroPadding { at: 5, value: 1 }));
        // No EOL: nothing to check (NOP alignment is not padding).
        let nops = with(vec![TcpOption::Nop, TcpOption::Nop, TcpOption::SackPermitted]);
        assert!(IpPacket::parse_sent(&nops).is_ok());
    }
}
