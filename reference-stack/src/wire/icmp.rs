//! ICMP error messages about a TCP segment (RFC 792 for IPv4, RFC 4443 for
//! IPv6), as a script's peer (or a router on its path) sends them: the
//! message quotes the IP header and the first 8 bytes of the segment it is
//! about (ports and sequence number), which is what TCP uses to find the
//! connection (RFC 9293 3.9.2.2: MUST-54 to MUST-56, SHLD-25, SHLD-26; RFC
//! 5927 on checking them).

use super::checksum::Checksum;
use super::WireError;
use std::net::IpAddr;

pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_ICMPV6: u8 = 58;

/// ICMPv4 type 3, destination unreachable (RFC 792), and its codes.
pub const ICMP_DEST_UNREACH: u8 = 3;
/// Code 4 of type 3: fragmentation needed and DF set (RFC 1191's MTU).
pub const ICMP_FRAG_NEEDED: u8 = 4;
/// ICMPv6 type 2, packet too big (RFC 4443 3.2).
pub const ICMPV6_PKT_TOOBIG: u8 = 2;

/// The TCP segment an ICMP error is about, as the stack sent it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotedTcp {
    /// The stack's address and port (the segment's source).
    pub src: IpAddr,
    pub src_port: u16,
    /// The peer's address and port.
    pub dst: IpAddr,
    pub dst_port: u16,
    pub seq: u32,
    /// The segment's payload length (for the quoted IP header's length).
    pub payload_len: u16,
}

/// An ICMP error from `src` to `dst` quoting a TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpErrorRepr {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub kind: u8,
    pub code: u8,
    /// Next-hop MTU (IPv4 frag-needed) or MTU (IPv6 packet too big).
    pub mtu: Option<u32>,
    pub quoted: QuotedTcp,
}

impl IcmpErrorRepr {
    /// The whole datagram: IP header, ICMP header, quoted IP header and the
    /// first 8 bytes of the quoted TCP header, checksums filled in.
    pub fn emit(&self) -> Result<Vec<u8>, WireError> {
        let q = &self.quoted;
        let mut tcp8 = Vec::with_capacity(8);
        tcp8.extend_from_slice(&q.src_port.to_be_bytes());
        tcp8.extend_from_slice(&q.dst_port.to_be_bytes());
        tcp8.extend_from_slice(&q.seq.to_be_bytes());
        match (self.src, self.dst, q.src, q.dst) {
            (IpAddr::V4(s), IpAddr::V4(d), IpAddr::V4(qs), IpAddr::V4(qd)) => {
                let mtu = match self.mtu {
                    None => 0,
                    Some(m) if self.kind == ICMP_DEST_UNREACH && self.code == ICMP_FRAG_NEEDED => {
                        u16::try_from(m).map_err(|_| WireError::CannotEmit("an ICMPv4 MTU is 16 bits"))?
                    }
                    Some(_) => return Err(WireError::CannotEmit("an ICMPv4 MTU goes with unreachable frag_needed")),
                };
                let quoted_ip = v4_header(qs.octets(), qd.octets(), 6, 20 + 20 + usize::from(q.payload_len))?;
                let mut icmp = vec![self.kind, self.code, 0, 0, 0, 0];
                icmp.extend_from_slice(&mtu.to_be_bytes());
                icmp.extend_from_slice(&quoted_ip);
                icmp.extend_from_slice(&tcp8);
                let mut c = Checksum::new();
                c.add_bytes(&icmp);
                let sum = c.finish();
                icmp[2..4].copy_from_slice(&sum.to_be_bytes());
                let mut out = v4_header(s.octets(), d.octets(), IPPROTO_ICMP, 20 + icmp.len())?;
                out.extend_from_slice(&icmp);
                Ok(out)
            }
            (IpAddr::V6(s), IpAddr::V6(d), IpAddr::V6(qs), IpAddr::V6(qd)) => {
                let mut quoted = Vec::with_capacity(48);
                let plen = 20 + q.payload_len;
                quoted.extend_from_slice(&(6u32 << 28).to_be_bytes());
                quoted.extend_from_slice(&plen.to_be_bytes());
                quoted.extend_from_slice(&[6, 64]);
                quoted.extend_from_slice(&qs.octets());
                quoted.extend_from_slice(&qd.octets());
                let mut icmp = vec![self.kind, self.code, 0, 0];
                icmp.extend_from_slice(&self.mtu.unwrap_or(0).to_be_bytes());
                icmp.extend_from_slice(&quoted);
                icmp.extend_from_slice(&tcp8);
                // RFC 4443 2.3: the checksum covers an IPv6 pseudo-header.
                let mut c = Checksum::new();
                c.add_bytes(&s.octets());
                c.add_bytes(&d.octets());
                c.add_u32(icmp.len() as u32);
                c.add_u32(u32::from(IPPROTO_ICMPV6));
                c.add_bytes(&icmp);
                let sum = c.finish();
                icmp[2..4].copy_from_slice(&sum.to_be_bytes());
                let mut out = Vec::with_capacity(40 + icmp.len());
                out.extend_from_slice(&(6u32 << 28).to_be_bytes());
                out.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
                out.extend_from_slice(&[IPPROTO_ICMPV6, 64]);
                out.extend_from_slice(&s.octets());
                out.extend_from_slice(&d.octets());
                out.extend_from_slice(&icmp);
                Ok(out)
            }
            _ => Err(WireError::CannotEmit("an ICMP message and the segment it quotes use one IP version")),
        }
    }
}

fn v4_header(src: [u8; 4], dst: [u8; 4], proto: u8, total: usize) -> Result<Vec<u8>, WireError> {
    let total = u16::try_from(total).map_err(|_| WireError::CannotEmit("IPv4 datagram longer than 65535 bytes"))?;
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let mut c = Checksum::new();
    c.add_bytes(&h);
    let sum = c.finish();
    h[10..12].copy_from_slice(&sum.to_be_bytes());
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frag_needed_quotes_the_segment_with_good_checksums() {
        let r = IcmpErrorRepr {
            src: "198.51.100.1".parse().unwrap(),
            dst: "192.0.2.1".parse().unwrap(),
            kind: ICMP_DEST_UNREACH,
            code: ICMP_FRAG_NEEDED,
            mtu: Some(800),
            quoted: QuotedTcp {
                src: "192.0.2.1".parse().unwrap(),
                src_port: 8080,
                dst: "198.51.100.1".parse().unwrap(),
                dst_port: 40000,
                seq: 0x0102_0304,
                payload_len: 1000,
            },
        };
        let b = r.emit().unwrap();
        assert_eq!(b.len(), 20 + 8 + 20 + 8);
        assert_eq!(u16::from_be_bytes([b[2], b[3]]), 56, "outer total length");
        assert_eq!(b[9], IPPROTO_ICMP);
        let sum = |s: &[u8]| {
            let mut c = Checksum::new();
            c.add_bytes(s);
            c.finish()
        };
        assert_eq!(sum(&b[..20]), 0, "outer IPv4 header checksum");
        assert_eq!(sum(&b[20..]), 0, "ICMP checksum");
        assert_eq!(sum(&b[28..48]), 0, "quoted IPv4 header checksum");
        assert_eq!(&b[20..22], &[3, 4]);
        assert_eq!(u16::from_be_bytes([b[26], b[27]]), 800);
        assert_eq!(u16::from_be_bytes([b[30], b[31]]), 1040, "quoted total length");
        assert_eq!(&b[48..56], &[0x1f, 0x90, 0x9c, 0x40, 1, 2, 3, 4]);
        let bad = IcmpErrorRepr { code: 1, ..r };
        assert!(bad.emit().is_err(), "an MTU on a code other than frag_needed");
    }

    #[test]
    fn packet_too_big_quotes_the_segment_with_its_pseudo_header_checksum() {
        let (stack, peer) = ("2001:db8::1".parse().unwrap(), "2001:db8:1::1".parse().unwrap());
        let r = IcmpErrorRepr {
            src: peer,
            dst: stack,
            kind: ICMPV6_PKT_TOOBIG,
            code: 0,
            mtu: Some(0x0001_2345),
            quoted: QuotedTcp {
                src: stack,
                src_port: 8080,
                dst: peer,
                dst_port: 40000,
                seq: 0xa1b2_c3d4,
                payload_len: 1000,
            },
        };
        let b = r.emit().unwrap();
        let icmp_len = 4 + 4 + 40 + 8;
        assert_eq!(b.len(), 40 + icmp_len);
        assert_eq!(b[0] >> 4, 6);
        assert_eq!(usize::from(u16::from_be_bytes([b[4], b[5]])), icmp_len, "payload length");
        assert_eq!((b[6], b[7]), (IPPROTO_ICMPV6, 64));
        // RFC 4443 2.3: the sum over the pseudo-header (addresses, the
        // 32-bit length, next header 58) and the message is all ones.
        let mut words = Vec::new();
        words.extend_from_slice(&b[8..40]);
        words.extend_from_slice(&(icmp_len as u32).to_be_bytes());
        words.extend_from_slice(&[0, 0, 0, IPPROTO_ICMPV6]);
        words.extend_from_slice(&b[40..]);
        let mut sum = 0u64;
        for w in words.chunks(2) {
            sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff, "ICMPv6 checksum");
        assert_eq!(&b[40..42], &[ICMPV6_PKT_TOOBIG, 0]);
        assert_eq!(u32::from_be_bytes([b[44], b[45], b[46], b[47]]), 0x0001_2345, "MTU");
        // The quoted IPv6 header: version 6, payload length 20 + 1000, TCP.
        assert_eq!(u32::from_be_bytes([b[48], b[49], b[50], b[51]]), 6 << 28);
        assert_eq!(u16::from_be_bytes([b[52], b[53]]), 1020, "quoted payload length");
        assert_eq!(b[54], 6);
        assert_eq!(&b[56..72], &b[24..40], "quoted source: the stack");
        assert_eq!(&b[88..96], &[0x1f, 0x90, 0x9c, 0x40, 0xa1, 0xb2, 0xc3, 0xd4]);
        let mixed = IcmpErrorRepr { dst: "198.51.100.1".parse().unwrap(), ..r };
        assert!(mixed.emit().is_err(), "an ICMPv6 message quoting IPv4");
    }
}
