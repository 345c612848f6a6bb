//! The Internet checksum (RFC 1071) and the TCP pseudo-header (RFC 9293 3.1).

use std::net::IpAddr;

/// A running one's-complement sum.
#[derive(Clone, Copy, Debug, Default)]
pub struct Checksum {
    sum: u64,
}

impl Checksum {
    pub fn new() -> Self {
        Checksum { sum: 0 }
    }
    /// Adds bytes as big-endian 16-bit words; an odd tail is padded with zero.
    pub fn add_bytes(&mut self, data: &[u8]) {
        // Eight bytes at a time: a big-endian 32-bit word hi:lo is congruent
        // to hi + lo modulo 0xffff, so summing 32-bit halves and folding at
        // the end gives the same one's-complement sum as 16-bit words.
        let mut wide = data.chunks_exact(8);
        for c in &mut wide {
            let v = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.sum += (v >> 32) + (v & 0xffff_ffff);
        }
        let mut chunks = wide.remainder().chunks_exact(2);
        for c in &mut chunks {
            self.sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            self.sum += u64::from(u16::from_be_bytes([*last, 0]));
        }
    }
    pub fn add_u16(&mut self, v: u16) {
        self.sum += u64::from(v);
    }
    pub fn add_u32(&mut self, v: u32) {
        self.sum += u64::from(v >> 16) + u64::from(v & 0xffff);
    }
    /// The folded, complemented 16-bit checksum.
    pub fn finish(self) -> u16 {
        let mut s = self.sum;
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }
}

/// The pseudo-header sum for TCP: addresses, protocol 6 and the TCP length
/// (RFC 9293 3.1 for IPv4, RFC 8200 8.1 for IPv6).
pub fn pseudo_header_sum(src: IpAddr, dst: IpAddr, tcp_len: usize) -> Checksum {
    let mut c = Checksum::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            c.add_bytes(&s.octets());
            c.add_bytes(&d.octets());
            c.add_u16(6);
            c.add_u16(tcp_len as u16);
        }
        _ => {
            c.add_bytes(&ip_octets(src));
            c.add_bytes(&ip_octets(dst));
            c.add_u32(tcp_len as u32);
            c.add_u32(6);
        }
    }
    c
}

fn ip_octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example: 0001 f203 f4f5 f6f7 sums to ddf2.
        let mut c = Checksum::new();
        c.add_bytes(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
        assert_eq!(c.finish(), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        let mut a = Checksum::new();
        a.add_bytes(&[0x12, 0x34, 0x56]);
        let mut b = Checksum::new();
        b.add_bytes(&[0x12, 0x34, 0x56, 0x00]);
        assert_eq!(a.finish(), b.finish());
    }

    /// RFC 1071's sum done the slow way: 16-bit big-endian words, folded.
    fn word_by_word(bytes: &[u8]) -> u16 {
        let mut sum = 0u64;
        for w in bytes.chunks(2) {
            sum += u64::from(w[0]) << 8 | u64::from(*w.get(1).unwrap_or(&0));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn pseudo_headers_sum_as_their_octets() {
        // RFC 9293 3.1: source, destination, zero, protocol 6, TCP length
        // (16 bits); RFC 8200 8.1: source, destination, the upper-layer
        // length (32 bits), three zero octets, next header 6. Addresses and
        // lengths with every half-word non-zero, so a carry or a shift that
        // goes wrong shows.
        let cases: [(&str, &str, usize); 3] = [
            ("198.51.100.1", "192.0.2.1", 0x9abc),
            ("2001:db8:ffff:1234:5678:9abc:def0:fedc", "2001:db8::1", 0x1_fffe),
            ("fe80::ffff:ffff:ffff:ffff", "2001:db8:8000::8000", 0xffff_fff0),
        ];
        for (src, dst, len) in cases {
            let (s, d): (IpAddr, IpAddr) = (src.parse().expect("literal"), dst.parse().expect("literal"));
            let mut octets = Vec::new();
            match (s, d) {
                (IpAddr::V4(a), IpAddr::V4(b)) => {
                    octets.extend(a.octets());
                    octets.extend(b.octets());
                    octets.extend([0, 6]);
                    octets.extend((len as u16).to_be_bytes());
                }
                (IpAddr::V6(a), IpAddr::V6(b)) => {
                    octets.extend(a.octets());
                    octets.extend(b.octets());
                    octets.extend((len as u32).to_be_bytes());
                    octets.extend([0, 0, 0, 6]);
                }
                _ => unreachable!("one version per case"),
            }
            assert_eq!(pseudo_header_sum(s, d, len).finish(), word_by_word(&octets), "{src} > {dst}, {len}");
        }
        // add_u16 and add_u32 are words of the same sum.
        let mut c = Checksum::new();
        c.add_u32(0xfedc_ba98);
        c.add_u16(0x8765);
        assert_eq!(c.finish(), word_by_word(&[0xfe, 0xdc, 0xba, 0x98, 0x87, 0x65]));
    }

    #[test]
    fn wide_sum_matches_word_by_word() {
        let data: Vec<u8> = (0..1500u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for len in (0..64).chain([1499, 1500]) {
            let mut naive = 0u64;
            for (i, b) in data[..len].iter().enumerate() {
                naive += if i % 2 == 0 { u64::from(*b) << 8 } else { u64::from(*b) };
            }
            while naive > 0xffff {
                naive = (naive & 0xffff) + (naive >> 16);
            }
            let mut c = Checksum::new();
            c.add_bytes(&data[..len]);
            assert_eq!(c.finish(), !(naive as u16), "length {len}");
        }
    }
}
