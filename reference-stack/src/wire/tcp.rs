//! The TCP header and its options (RFC 9293 3.1, 3.2; RFC 7323; RFC 2018).

use super::checksum::pseudo_header_sum;
use super::WireError;
use crate::seq::SeqNumber;
use core::fmt;
use std::net::IpAddr;

/// Length of a TCP header without options.
pub const TCP_HEADER_LEN: usize = 20;
/// A SACK option carries at most four blocks in 40 bytes of option space (RFC 2018 3).
pub const MAX_SACK_BLOCKS: usize = 4;
const MAX_OPTIONS_LEN: usize = 40;

/// The eight control bits of RFC 9293 3.1 (CWR, ECE from RFC 3168), stored as
/// they sit in byte 13 of the header.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const ECE: TcpFlags = TcpFlags(0x40);
    pub const CWR: TcpFlags = TcpFlags(0x80);
    pub const NONE: TcpFlags = TcpFlags(0);

    pub fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    pub fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    pub fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    pub fn rst(self) -> bool {
        self.contains(Self::RST)
    }
    pub fn psh(self) -> bool {
        self.contains(Self::PSH)
    }
    pub fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
    pub fn urg(self) -> bool {
        self.contains(Self::URG)
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, o: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | o.0)
    }
}

impl core::ops::BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, o: TcpFlags) {
        self.0 |= o.0;
    }
}

impl fmt::Display for TcpFlags {
    /// packetdrill / tcpdump style: `S`, `S.`, `F.`, `P.`, `R.`, `.` for a bare ACK.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        for (flag, c) in [
            (Self::SYN, 'S'),
            (Self::FIN, 'F'),
            (Self::RST, 'R'),
            (Self::PSH, 'P'),
            (Self::URG, 'U'),
            (Self::ECE, 'E'),
            (Self::CWR, 'W'),
        ] {
            if self.contains(flag) {
                s.push(c);
            }
        }
        if self.ack() {
            s.push('.');
        }
        if s.is_empty() {
            s.push_str("[none]");
        }
        f.write_str(&s)
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Most option data an option of an unknown kind can carry: the 40 octets
/// of option space less its kind and length octets.
pub const MAX_OPTION_DATA: usize = MAX_OPTIONS_LEN - 2;

/// The blocks of a SACK option, (left, right) edges, at most
/// [`MAX_SACK_BLOCKS`] (RFC 2018 3), held inline: a segment with SACK
/// blocks allocates nothing for them.
#[derive(Clone, Copy, Default)]
pub struct SackBlocks {
    len: u8,
    blocks: [(SeqNumber, SeqNumber); MAX_SACK_BLOCKS],
}

impl SackBlocks {
    /// `None` if there are more blocks than an option can carry.
    pub fn new(blocks: &[(SeqNumber, SeqNumber)]) -> Option<SackBlocks> {
        let mut s = SackBlocks::default();
        s.blocks.get_mut(..blocks.len())?.copy_from_slice(blocks);
        s.len = blocks.len() as u8;
        Some(s)
    }
}

impl core::ops::Deref for SackBlocks {
    type Target = [(SeqNumber, SeqNumber)];
    fn deref(&self) -> &Self::Target {
        &self.blocks[..usize::from(self.len)]
    }
}

impl PartialEq for SackBlocks {
    fn eq(&self, o: &Self) -> bool {
        **self == **o
    }
}
impl Eq for SackBlocks {}
impl core::hash::Hash for SackBlocks {
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        (**self).hash(h)
    }
}
impl fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The data octets of an option of an unknown kind, at most
/// [`MAX_OPTION_DATA`], held inline.
#[derive(Clone, Copy)]
pub struct OptionData {
    len: u8,
    bytes: [u8; MAX_OPTION_DATA],
}

impl OptionData {
    /// `None` if the data would not fit in the option space.
    pub fn new(data: &[u8]) -> Option<OptionData> {
        let mut d = OptionData::default();
        d.bytes.get_mut(..data.len())?.copy_from_slice(data);
        d.len = data.len() as u8;
        Some(d)
    }
}

impl Default for OptionData {
    fn default() -> Self {
        OptionData { len: 0, bytes: [0; MAX_OPTION_DATA] }
    }
}

impl core::ops::Deref for OptionData {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl PartialEq for OptionData {
    fn eq(&self, o: &Self) -> bool {
        **self == **o
    }
}
impl Eq for OptionData {}
impl core::hash::Hash for OptionData {
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        (**self).hash(h)
    }
}
impl fmt::Debug for OptionData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// One TCP option. The list in a [`TcpRepr`] keeps the order (and the NOPs)
/// of the wire, so parse then emit gives back the same bytes. Every variant
/// is held inline (no heap), since the stack builds options for most
/// segments it sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TcpOption {
    /// Kind 0, end of option list (MUST-4). Parsing stops here.
    Eol,
    /// Kind 1 (MUST-4).
    Nop,
    /// Kind 2, length 4 (MUST-4, MUST-14).
    Mss(u16),
    /// Kind 3, length 3 (RFC 7323 2.2).
    WindowScale(u8),
    /// Kind 4, length 2 (RFC 2018 2).
    SackPermitted,
    /// Kind 5, length 2 + 8n, n in 1..=4 (RFC 2018 3). (left, right) edges.
    Sack(SackBlocks),
    /// Kind 8, length 10 (RFC 7323 3).
    Timestamps { tsval: u32, tsecr: u32 },
    /// Any other kind, carried through unchanged (MUST-6: ignored by the stack).
    Unknown { kind: u8, data: OptionData },
}

/// How many options a [`TcpOptions`] holds before it moves them to the
/// heap: a SYN's five (`mss, sackOK, TS, nop, wscale`) and a data segment's
/// `nop, nop, TS, nop, nop, SACK` fit.
const INLINE_OPTIONS: usize = 6;

/// The options of a segment, in wire order. Up to six are held inline, so
/// the segments a stack sends carry their options without an allocation;
/// a longer list (a crafted segment of many NOPs, say) moves to the heap.
/// Reads as a slice of [`TcpOption`].
#[derive(Clone)]
pub struct TcpOptions {
    list: OptionList,
    /// The options' length on the wire, unpadded (kept as they are pushed).
    wire_len: usize,
}

// The inline variant is the large one on purpose: boxing it would bring
// back the allocation it exists to avoid.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum OptionList {
    Inline { len: u8, items: [TcpOption; INLINE_OPTIONS] },
    Heap(Vec<TcpOption>),
}

impl TcpOptions {
    pub const fn new() -> TcpOptions {
        TcpOptions { list: OptionList::Inline { len: 0, items: [TcpOption::Eol; INLINE_OPTIONS] }, wire_len: 0 }
    }

    /// Length of the options on the wire before padding.
    pub fn wire_len(&self) -> usize {
        self.wire_len
    }

    #[inline]
    pub fn push(&mut self, o: TcpOption) {
        self.wire_len += o.wire_len();
        match &mut self.list {
            OptionList::Inline { len, items } => match items.get_mut(usize::from(*len)) {
                Some(slot) => {
                    *slot = o;
                    *len += 1;
                }
                None => {
                    let mut v = Vec::with_capacity(2 * INLINE_OPTIONS);
                    v.extend_from_slice(&items[..]);
                    v.push(o);
                    self.list = OptionList::Heap(v);
                }
            },
            OptionList::Heap(v) => v.push(o),
        }
    }

    /// Empties the list (a heap list keeps its capacity).
    pub fn clear(&mut self) {
        self.wire_len = 0;
        match &mut self.list {
            OptionList::Inline { len, .. } => *len = 0,
            OptionList::Heap(v) => v.clear(),
        }
    }
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions::new()
    }
}

/// Read-only: options change only through `push` and `clear`, which keep
/// the wire length.
impl core::ops::Deref for TcpOptions {
    type Target = [TcpOption];
    fn deref(&self) -> &[TcpOption] {
        match &self.list {
            OptionList::Inline { len, items } => &items[..usize::from(*len)],
            OptionList::Heap(v) => v,
        }
    }
}

impl Extend<TcpOption> for TcpOptions {
    fn extend<I: IntoIterator<Item = TcpOption>>(&mut self, iter: I) {
        for o in iter {
            self.push(o);
        }
    }
}

impl FromIterator<TcpOption> for TcpOptions {
    fn from_iter<I: IntoIterator<Item = TcpOption>>(iter: I) -> Self {
        let mut o = TcpOptions::new();
        o.extend(iter);
        o
    }
}

impl From<Vec<TcpOption>> for TcpOptions {
    fn from(v: Vec<TcpOption>) -> Self {
        v.into_iter().collect()
    }
}

impl<const N: usize> From<[TcpOption; N]> for TcpOptions {
    fn from(a: [TcpOption; N]) -> Self {
        a.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a TcpOptions {
    type Item = &'a TcpOption;
    type IntoIter = core::slice::Iter<'a, TcpOption>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl PartialEq for TcpOptions {
    fn eq(&self, o: &Self) -> bool {
        **self == **o
    }
}
impl Eq for TcpOptions {}
impl PartialEq<Vec<TcpOption>> for TcpOptions {
    fn eq(&self, o: &Vec<TcpOption>) -> bool {
        **self == **o
    }
}
impl<const N: usize> PartialEq<[TcpOption; N]> for TcpOptions {
    fn eq(&self, o: &[TcpOption; N]) -> bool {
        **self == o[..]
    }
}
impl core::hash::Hash for TcpOptions {
    fn hash<H: core::hash::Hasher>(&self, h: &mut H) {
        (**self).hash(h)
    }
}
impl fmt::Debug for TcpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl TcpOption {
    pub fn wire_len(&self) -> usize {
        match self {
            TcpOption::Eol | TcpOption::Nop => 1,
            TcpOption::Mss(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::Sack(blocks) => 2 + 8 * blocks.len(),
            TcpOption::Timestamps { .. } => 10,
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    fn emit(&self, out: &mut Vec<u8>) {
        match self {
            TcpOption::Eol => out.push(0),
            TcpOption::Nop => out.push(1),
            TcpOption::Mss(m) => {
                out.extend_from_slice(&[2, 4]);
                out.extend_from_slice(&m.to_be_bytes());
            }
            TcpOption::WindowScale(s) => out.extend_from_slice(&[3, 3, *s]),
            TcpOption::SackPermitted => out.extend_from_slice(&[4, 2]),
            TcpOption::Sack(blocks) => {
                out.extend_from_slice(&[5, (2 + 8 * blocks.len()) as u8]);
                for (l, r) in blocks.iter() {
                    out.extend_from_slice(&l.0.to_be_bytes());
                    out.extend_from_slice(&r.0.to_be_bytes());
                }
            }
            TcpOption::Timestamps { tsval, tsecr } => {
                out.extend_from_slice(&[8, 10]);
                out.extend_from_slice(&tsval.to_be_bytes());
                out.extend_from_slice(&tsecr.to_be_bytes());
            }
            TcpOption::Unknown { kind, data } => {
                out.extend_from_slice(&[*kind, (2 + data.len()) as u8]);
                out.extend_from_slice(&data[..]);
            }
        }
    }
}

impl fmt::Display for TcpOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpOption::Eol => write!(f, "eol"),
            TcpOption::Nop => write!(f, "nop"),
            TcpOption::Mss(m) => write!(f, "mss {m}"),
            TcpOption::WindowScale(s) => write!(f, "wscale {s}"),
            TcpOption::SackPermitted => write!(f, "sackOK"),
            TcpOption::Sack(blocks) => {
                write!(f, "sack")?;
                for (l, r) in blocks.iter() {
                    write!(f, " {}:{}", l.0, r.0)?;
                }
                Ok(())
            }
            TcpOption::Timestamps { tsval, tsecr } => write!(f, "TS val {tsval} ecr {tsecr}"),
            TcpOption::Unknown { kind, data } => {
                write!(f, "opt{kind}")?;
                if !data.is_empty() {
                    write!(f, " ")?;
                    for b in data.iter() {
                        write!(f, "{b:02x}")?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// An owned TCP segment: header fields, options and payload.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TcpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: SeqNumber,
    /// The acknowledgment field as it is on the wire; meaningful only with ACK set.
    pub ack: SeqNumber,
    pub flags: TcpFlags,
    /// The four reserved bits (RFC 9293 3.1): zero on send, ignored on receive,
    /// but kept here so a crafted segment round-trips.
    pub reserved: u8,
    pub window: u16,
    pub urgent: u16,
    pub options: TcpOptions,
    pub payload: Vec<u8>,
}

impl Default for TcpRepr {
    fn default() -> Self {
        TcpRepr {
            src_port: 0,
            dst_port: 0,
            seq: SeqNumber(0),
            ack: SeqNumber(0),
            flags: TcpFlags::NONE,
            reserved: 0,
            window: 0,
            urgent: 0,
            options: TcpOptions::new(),
            payload: Vec::new(),
        }
    }
}

impl TcpRepr {
    /// SEG.LEN: payload octets plus one each for SYN and FIN (RFC 9293 3.4).
    pub fn seg_len(&self) -> u32 {
        self.payload.len() as u32 + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }

    /// Parses a TCP segment. With `addrs` the checksum is verified over the
    /// pseudo-header (MUST-3); with `None` it is not checked (for captures
    /// whose checksums were offloaded).
    pub fn parse(bytes: &[u8], addrs: Option<(IpAddr, IpAddr)>) -> Result<TcpRepr, WireError> {
        let h = TcpHeader::parse(bytes, addrs)?;
        let options = parse_options(&bytes[TCP_HEADER_LEN..h.header_len])?;
        Ok(TcpRepr {
            src_port: h.src_port,
            dst_port: h.dst_port,
            seq: h.seq,
            ack: h.ack,
            reserved: h.reserved,
            flags: h.flags,
            window: h.window,
            urgent: h.urgent,
            options,
            payload: bytes[h.header_len..].to_vec(),
        })
    }

    /// Length of the options once padded to a 32-bit boundary.
    pub fn options_len(&self) -> usize {
        self.options.wire_len().div_ceil(4) * 4
    }

    pub fn header_len(&self) -> usize {
        TCP_HEADER_LEN + self.options_len()
    }

    /// Whether [`TcpRepr::emit`] can carry this segment: the options fit in
    /// 40 bytes and a SACK option has at least one block (the types hold at
    /// most 4 blocks and 38 octets of unknown option data).
    pub fn check_emit(&self) -> Result<(), WireError> {
        if self.options_len() > MAX_OPTIONS_LEN {
            return Err(WireError::CannotEmit("TCP options longer than 40 bytes"));
        }
        for o in &self.options {
            match o {
                TcpOption::Sack(b) if b.is_empty() => {
                    return Err(WireError::CannotEmit("SACK option needs 1 to 4 blocks"))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Length of the emitted segment: header, options, padding, payload.
    pub fn wire_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Emits the segment with its checksum over the pseudo-header (MUST-2).
    /// Options are padded with zero octets (MUST-69).
    pub fn emit(&self, src: IpAddr, dst: IpAddr) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::with_capacity(self.wire_len());
        self.emit_into(src, dst, &mut out)?;
        Ok(out)
    }

    /// [`TcpRepr::emit`], appended to `out` (nothing is appended on error).
    pub fn emit_into(&self, src: IpAddr, dst: IpAddr, out: &mut Vec<u8>) -> Result<(), WireError> {
        self.check_emit()?;
        self.write_into(src, dst, out);
        Ok(())
    }

    /// [`TcpRepr::emit_into`] for a segment [`TcpRepr::check_emit`] accepted.
    pub(crate) fn write_into(&self, src: IpAddr, dst: IpAddr, out: &mut Vec<u8>) {
        let header_len = self.header_len();
        let start = out.len();
        out.reserve(header_len + self.payload.len());
        out.extend_from_slice(&self.src_port.to_be_bytes());
        out.extend_from_slice(&self.dst_port.to_be_bytes());
        out.extend_from_slice(&self.seq.0.to_be_bytes());
        out.extend_from_slice(&self.ack.0.to_be_bytes());
        out.push(((header_len / 4) as u8) << 4 | (self.reserved & 0x0f));
        out.push(self.flags.0);
        out.extend_from_slice(&self.window.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.urgent.to_be_bytes());
        for o in &self.options {
            o.emit(out);
        }
        out.resize(start + header_len, 0);
        out.extend_from_slice(&self.payload);
        let mut c = pseudo_header_sum(src, dst, out.len() - start);
        c.add_bytes(&out[start..]);
        let sum = c.finish();
        out[start + 16..start + 18].copy_from_slice(&sum.to_be_bytes());
    }

    pub fn mss(&self) -> Option<u16> {
        self.options.iter().find_map(|o| match o {
            TcpOption::Mss(m) => Some(*m),
            _ => None,
        })
    }
    pub fn window_scale(&self) -> Option<u8> {
        self.options.iter().find_map(|o| match o {
            TcpOption::WindowScale(s) => Some(*s),
            _ => None,
        })
    }
    pub fn sack_permitted(&self) -> bool {
        self.options.contains(&TcpOption::SackPermitted)
    }
    pub fn timestamps(&self) -> Option<(u32, u32)> {
        self.options.iter().find_map(|o| match o {
            TcpOption::Timestamps { tsval, tsecr } => Some((*tsval, *tsecr)),
            _ => None,
        })
    }
    pub fn sack_blocks(&self) -> &[(SeqNumber, SeqNumber)] {
        self.options
            .iter()
            .find_map(|o| match o {
                TcpOption::Sack(b) => Some(&b[..]),
                _ => None,
            })
            .unwrap_or(&[])
    }
}

impl fmt::Display for TcpRepr {
    /// packetdrill's compact notation with absolute numbers:
    /// `S. 1000:1000(0) ack 2001 win 65535 <mss 1460,nop,wscale 7>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.payload.len() as u32;
        write!(f, "{} {}:{}({})", self.flags, self.seq.0, self.seq.0.wrapping_add(len), len)?;
        if self.flags.ack() {
            write!(f, " ack {}", self.ack.0)?;
        }
        write!(f, " win {}", self.window)?;
        if self.flags.urg() {
            write!(f, " urg {}", self.urgent)?;
        }
        if !self.options.is_empty() {
            write!(f, " <")?;
            for (i, o) in self.options.iter().enumerate() {
                if i > 0 {
                    write!(f, ",")?;
                }
                write!(f, "{o}")?;
            }
            write!(f, ">")?;
        }
        Ok(())
    }
}

/// The fixed header of a TCP segment and what the oracles read of its
/// options, checked like [`TcpRepr::parse`] (lengths, checksum, every
/// option's length) but without taking copies: nothing is allocated. For
/// paths that look at every segment (the fuzzer's oracles); `TcpRepr` is
/// the owned form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcpHeader {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: SeqNumber,
    pub ack: SeqNumber,
    pub flags: TcpFlags,
    pub reserved: u8,
    pub window: u16,
    pub urgent: u16,
    /// Header length in bytes, options and padding included.
    pub header_len: usize,
    pub payload_len: usize,
    /// The first timestamps option, as (TSval, TSecr).
    pub timestamps: Option<(u32, u32)>,
}

impl TcpHeader {
    /// Checks a TCP segment as [`TcpRepr::parse`] does and reads its header.
    pub fn parse(bytes: &[u8], addrs: Option<(IpAddr, IpAddr)>) -> Result<TcpHeader, WireError> {
        if bytes.len() < TCP_HEADER_LEN {
            return Err(WireError::Truncated { what: "TCP header", need: TCP_HEADER_LEN, have: bytes.len() });
        }
        let offset_words = bytes[12] >> 4;
        let header_len = usize::from(offset_words) * 4;
        if header_len < TCP_HEADER_LEN || header_len > bytes.len() {
            return Err(WireError::BadDataOffset { offset_words, segment_len: bytes.len() });
        }
        if let Some((src, dst)) = addrs {
            let mut c = pseudo_header_sum(src, dst, bytes.len());
            c.add_bytes(bytes);
            if c.finish() != 0 {
                let found = u16::from_be_bytes([bytes[16], bytes[17]]);
                let mut zeroed = pseudo_header_sum(src, dst, bytes.len());
                zeroed.add_bytes(&bytes[..16]);
                zeroed.add_bytes(&bytes[18..]);
                return Err(WireError::BadChecksum { found, expected: zeroed.finish() });
            }
        }
        let mut timestamps = None;
        walk_options(&bytes[TCP_HEADER_LEN..header_len], |kind, body| {
            if kind == 8 && timestamps.is_none() {
                timestamps = Some((
                    u32::from_be_bytes([body[0], body[1], body[2], body[3]]),
                    u32::from_be_bytes([body[4], body[5], body[6], body[7]]),
                ));
            }
        })?;
        Ok(TcpHeader {
            src_port: u16::from_be_bytes([bytes[0], bytes[1]]),
            dst_port: u16::from_be_bytes([bytes[2], bytes[3]]),
            seq: SeqNumber(u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]])),
            ack: SeqNumber(u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]])),
            reserved: bytes[12] & 0x0f,
            flags: TcpFlags(bytes[13]),
            window: u16::from_be_bytes([bytes[14], bytes[15]]),
            urgent: u16::from_be_bytes([bytes[18], bytes[19]]),
            header_len,
            payload_len: bytes.len() - header_len,
            timestamps,
        })
    }

    /// The header of an owned segment (what parsing its emitted bytes gives).
    pub fn of(seg: &TcpRepr) -> TcpHeader {
        TcpHeader {
            src_port: seg.src_port,
            dst_port: seg.dst_port,
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            reserved: seg.reserved,
            window: seg.window,
            urgent: seg.urgent,
            header_len: seg.header_len(),
            payload_len: seg.payload.len(),
            timestamps: seg.timestamps(),
        }
    }

    /// SEG.LEN: payload octets plus one each for SYN and FIN (RFC 9293 3.4).
    pub fn seg_len(&self) -> u32 {
        self.payload_len as u32 + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }
}

/// Checks a sender's header padding: every byte after an EOL option up to
/// the data offset is zero (RFC 9293 3.1, MUST-69: "The padding is composed
/// of zeros"). `segment` is a TCP segment that [`TcpRepr::parse`] accepted.
pub fn check_padding(segment: &[u8]) -> Result<(), WireError> {
    let header_len = (usize::from(segment.get(12).copied().unwrap_or(0) >> 4) * 4).min(segment.len());
    let options = segment.get(TCP_HEADER_LEN..header_len).unwrap_or(&[]);
    let mut at = 0;
    while let Some(&kind) = options.get(at) {
        match kind {
            0 => {
                let pad = &options[at + 1..];
                return match pad.iter().position(|&b| b != 0) {
                    Some(i) => Err(WireError::NonzeroPadding { at: at + 1 + i, value: pad[i] }),
                    None => Ok(()),
                };
            }
            1 => at += 1,
            _ => at += usize::from(options.get(at + 1).copied().unwrap_or(0)).max(2),
        }
    }
    Ok(())
}

/// Walks the option bytes, checking each option's length for its kind, and
/// calls `f(kind, body)` for each (EOL and NOP with an empty body; the walk
/// stops at EOL). Options may sit at any alignment (MUST-64); any option may
/// appear in any segment (MUST-5); unknown kinds are carried through
/// (MUST-6); an illegal length is a typed error, never a read past the end
/// (MUST-7). The one place option lengths are judged: [`TcpRepr::parse`] and
/// [`TcpHeader::parse`] both come here.
fn walk_options(mut b: &[u8], mut f: impl FnMut(u8, &[u8])) -> Result<(), WireError> {
    let total = b.len();
    while let Some(&kind) = b.first() {
        let at = total - b.len();
        match kind {
            0 => {
                // EOL: the rest is padding (MUST-69 says zero; a receiver does
                // not insist on it, `check_padding` holds a sender to it).
                f(0, &[]);
                break;
            }
            1 => {
                f(1, &[]);
                b = &b[1..];
                continue;
            }
            _ => {}
        }
        let Some(&len) = b.get(1) else {
            return Err(WireError::TruncatedOption { kind, at });
        };
        let l = usize::from(len);
        if l < 2 || l > b.len() {
            return Err(WireError::BadOptionLength { kind, len, at });
        }
        let body = &b[2..l];
        let legal = match kind {
            2 => body.len() == 2,
            3 => body.len() == 1,
            4 => body.is_empty(),
            5 => !body.is_empty() && body.len() % 8 == 0 && body.len() / 8 <= MAX_SACK_BLOCKS,
            8 => body.len() == 8,
            _ => true,
        };
        if !legal {
            return Err(WireError::BadOptionLength { kind, len, at });
        }
        f(kind, body);
        b = &b[l..];
    }
    Ok(())
}

/// Parses the option bytes into owned options (see [`walk_options`]).
fn parse_options(b: &[u8]) -> Result<TcpOptions, WireError> {
    let mut out = TcpOptions::new();
    // The header holds at most 40 octets of options, so an option's data
    // always fits in 38; a longer region is refused, not truncated.
    if b.len() > MAX_OPTIONS_LEN {
        return Err(WireError::BadDataOffset {
            offset_words: ((TCP_HEADER_LEN + b.len()) / 4) as u8,
            segment_len: b.len(),
        });
    }
    walk_options(b, |kind, body| {
        out.push(match kind {
            0 => TcpOption::Eol,
            1 => TcpOption::Nop,
            2 => TcpOption::Mss(u16::from_be_bytes([body[0], body[1]])),
            3 => TcpOption::WindowScale(body[0]),
            4 => TcpOption::SackPermitted,
            5 => {
                // walk_options admits 1 to MAX_SACK_BLOCKS blocks.
                let mut blocks = SackBlocks::default();
                for (slot, c) in blocks.blocks.iter_mut().zip(body.chunks_exact(8)) {
                    *slot = (
                        SeqNumber(u32::from_be_bytes([c[0], c[1], c[2], c[3]])),
                        SeqNumber(u32::from_be_bytes([c[4], c[5], c[6], c[7]])),
                    );
                }
                blocks.len = (body.len() / 8) as u8;
                TcpOption::Sack(blocks)
            }
            8 => TcpOption::Timestamps {
                tsval: u32::from_be_bytes([body[0], body[1], body[2], body[3]]),
                tsecr: u32::from_be_bytes([body[4], body[5], body[6], body[7]]),
            },
            // At most 38 octets: the region is 40 at most (checked above).
            _ => TcpOption::Unknown { kind, data: OptionData::new(body).unwrap_or_default() },
        })
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));

    fn syn() -> TcpRepr {
        TcpRepr {
            src_port: 40000,
            dst_port: 8080,
            seq: SeqNumber(0xfffffff0),
            flags: TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR,
            window: 65535,
            options: TcpOptions::from([
                TcpOption::Mss(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamps { tsval: 7, tsecr: 0 },
                TcpOption::Nop,
                TcpOption::WindowScale(7),
                TcpOption::Unknown { kind: 254, data: OptionData::new(&[0xf9, 0x89]).unwrap() },
            ]),
            ..TcpRepr::default()
        }
    }

    #[test]
    fn round_trip_with_every_option() {
        let s = syn();
        let bytes = s.emit(A, B).unwrap();
        assert_eq!(bytes.len() % 4, 0);
        let p = TcpRepr::parse(&bytes, Some((A, B))).unwrap();
        // Padding shows up as EOL on parse; compare the rest.
        assert_eq!(&p.options[..s.options.len()], &s.options[..]);
        assert_eq!(p.flags, s.flags);
        assert_eq!(p.seq, s.seq);
        let data = TcpRepr {
            flags: TcpFlags::ACK | TcpFlags::PSH | TcpFlags::URG,
            urgent: 3,
            options: TcpOptions::from([
                TcpOption::Nop,
                TcpOption::Nop,
                TcpOption::Sack(SackBlocks::new(&[(SeqNumber(10), SeqNumber(20))]).unwrap()),
            ]),
            payload: b"hello".to_vec(),
            ..syn()
        };
        let bytes = data.emit(A, B).unwrap();
        assert_eq!(TcpRepr::parse(&bytes, Some((A, B))).unwrap(), data);
    }

    #[test]
    fn checksum_is_verified() {
        let mut bytes = syn().emit(A, B).unwrap();
        bytes[4] ^= 1;
        assert!(matches!(TcpRepr::parse(&bytes, Some((A, B))), Err(WireError::BadChecksum { .. })));
        // Without addresses the checksum is not checked.
        assert!(TcpRepr::parse(&bytes, None).is_ok());
        // Swapped addresses change the pseudo-header.
        let bytes = syn().emit(A, B).unwrap();
        assert!(TcpRepr::parse(&bytes, Some((B, B))).is_err());
    }

    #[test]
    fn bad_data_offset() {
        let mut bytes = syn().emit(A, B).unwrap();
        bytes[12] = 4 << 4;
        assert!(matches!(TcpRepr::parse(&bytes, None), Err(WireError::BadDataOffset { offset_words: 4, .. })));
        bytes[12] = 15 << 4;
        assert!(matches!(TcpRepr::parse(&bytes, None), Err(WireError::BadDataOffset { offset_words: 15, .. })));
        assert!(matches!(TcpRepr::parse(&bytes[..19], None), Err(WireError::Truncated { .. })));
    }

    #[test]
    fn illegal_option_lengths_are_errors() {
        let mk = |opts: &[u8]| {
            let mut b = vec![0u8; 20];
            b.extend_from_slice(opts);
            while b.len() % 4 != 0 {
                b.push(0);
            }
            b[12] = ((b.len() / 4) as u8) << 4;
            b
        };
        // Length 0 and 1 (would loop forever in a naive parser).
        assert!(matches!(TcpRepr::parse(&mk(&[254, 0]), None), Err(WireError::BadOptionLength { len: 0, .. })));
        assert!(matches!(TcpRepr::parse(&mk(&[254, 1]), None), Err(WireError::BadOptionLength { len: 1, .. })));
        // Length past the header.
        assert!(matches!(TcpRepr::parse(&mk(&[2, 40]), None), Err(WireError::BadOptionLength { kind: 2, .. })));
        // Wrong length for the kind.
        assert!(TcpRepr::parse(&mk(&[2, 3, 5, 1]), None).is_err());
        assert!(TcpRepr::parse(&mk(&[3, 4, 1, 1]), None).is_err());
        assert!(TcpRepr::parse(&mk(&[8, 6, 0, 0, 0, 0]), None).is_err());
        assert!(TcpRepr::parse(&mk(&[5, 6, 0, 0, 0, 0]), None).is_err());
        // Kind with no length byte at the very end of the options.
        let mut b = mk(&[1, 1, 1]);
        b[23] = 2;
        assert!(matches!(TcpRepr::parse(&b, None), Err(WireError::TruncatedOption { kind: 2, at: 3 })));
    }

    #[test]
    fn options_at_any_alignment() {
        // MUST-64: an MSS at an odd offset.
        let mut b = vec![0u8; 20];
        b.extend_from_slice(&[1, 2, 4, 0x05, 0xb4, 1, 1, 0]);
        b[12] = 7 << 4;
        let p = TcpRepr::parse(&b, None).unwrap();
        assert_eq!(p.mss(), Some(1460));
    }

    #[test]
    fn display_is_packetdrill_like() {
        let s = syn();
        assert_eq!(
            s.to_string(),
            "SEW 4294967280:4294967280(0) win 65535 <mss 1460,sackOK,TS val 7 ecr 0,nop,wscale 7,opt254 f989>"
        );
    }

    #[test]
    fn emit_rejects_oversized_options() {
        let s = TcpRepr {
            options: TcpOptions::from([
                TcpOption::Unknown { kind: 99, data: OptionData::new(&[0; 38]).unwrap() },
                TcpOption::Nop,
            ]),
            ..syn()
        };
        assert!(s.emit(A, B).is_err());
        assert!(s.check_emit().is_err());
        // More than the option space can hold cannot even be built.
        assert!(OptionData::new(&[0; 39]).is_none());
        assert!(SackBlocks::new(&[(SeqNumber(1), SeqNumber(2)); 5]).is_none());
        assert!(SackBlocks::new(&[]).is_some_and(|b| b.is_empty()));
    }

    #[test]
    fn option_lists_spill_past_six_and_compare_by_content() {
        let mut long = TcpOptions::new();
        for _ in 0..40 {
            long.push(TcpOption::Nop);
        }
        assert_eq!(long.len(), 40);
        assert_eq!(TcpRepr { options: long.clone(), ..TcpRepr::default() }.options_len(), 40);
        let short: TcpOptions = vec![TcpOption::Nop; 40].into();
        assert_eq!(long, short);
        let s = syn();
        assert_eq!(s.options.wire_len(), s.options.iter().map(TcpOption::wire_len).sum::<usize>());
        long.clear();
        assert!(long.is_empty());
        assert_eq!(long, TcpOptions::new());
        // Parsing a header of 40 NOPs gives them all back.
        let mut b = vec![0u8; 20];
        b.extend_from_slice(&[1; 40]);
        b[12] = 15 << 4;
        assert_eq!(TcpRepr::parse(&b, None).unwrap().options, short);
    }
}

/// The value semantics of the inline option types (equality, hashing, the
/// text forms traces and findings print), which no segment's bytes show.
#[cfg(test)]
mod value_tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn hash_of<T: Hash>(v: &T) -> u64 {
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(v)
    }

    #[test]
    fn flags_combine_read_and_print() {
        let pa = TcpFlags::PSH | TcpFlags::ACK;
        assert!(pa.psh() && pa.ack() && !pa.syn() && !pa.fin());
        assert!(!TcpFlags::ACK.psh());
        // Or, not exclusive or: a flag given twice stays set.
        assert_eq!(TcpFlags::ACK | TcpFlags::ACK, TcpFlags::ACK);
        assert_eq!(format!("{pa:?}"), "P.");
        assert_eq!(format!("{:?}", TcpFlags::SYN | TcpFlags::ACK), "S.");
    }

    #[test]
    fn sack_blocks_and_option_data_compare_and_hash_by_content() {
        let a = SackBlocks::new(&[(SeqNumber(1), SeqNumber(5))]).expect("one block");
        let b = SackBlocks::new(&[(SeqNumber(1), SeqNumber(6))]).expect("one block");
        assert_eq!(a, SackBlocks::new(&[(SeqNumber(1), SeqNumber(5))]).expect("one block"));
        assert_ne!(a, b);
        assert_ne!(hash_of(&a), hash_of(&b));
        assert_eq!(format!("{a:?}"), format!("{:?}", [(SeqNumber(1), SeqNumber(5))]));
        let (x, y) = (OptionData::new(b"ab").expect("fits"), OptionData::new(b"ac").expect("fits"));
        assert_eq!(x, OptionData::new(b"ab").expect("fits"));
        assert_ne!(x, y);
        assert_ne!(hash_of(&x), hash_of(&y));
        assert_eq!(format!("{x:?}"), format!("{:?}", b"ab"));
    }

    #[test]
    fn option_lists_compare_and_hash_by_content() {
        let one: TcpOptions = vec![TcpOption::Mss(1460)].into();
        let other: TcpOptions = vec![TcpOption::Mss(536)].into();
        assert_eq!(one, TcpOptions::from(vec![TcpOption::Mss(1460)]));
        assert_ne!(one, other);
        assert!(one == vec![TcpOption::Mss(1460)] && one != vec![TcpOption::Nop]);
        assert!(one == [TcpOption::Mss(1460)] && one != [TcpOption::Nop]);
        assert_ne!(hash_of(&one), hash_of(&other));
    }

    #[test]
    fn option_lengths_and_the_forty_octet_limit() {
        let sack2 =
            TcpOption::Sack(SackBlocks::new(&[(SeqNumber(1), SeqNumber(2)), (SeqNumber(3), SeqNumber(4))]).unwrap());
        assert_eq!(sack2.wire_len(), 18);
        assert_eq!(TcpOption::Unknown { kind: 99, data: OptionData::new(b"abc").unwrap() }.wire_len(), 5);
        let seg = |options: Vec<TcpOption>| TcpRepr { options: options.into(), ..TcpRepr::default() };
        let unknown = |n: usize| TcpOption::Unknown { kind: 99, data: OptionData::new(&vec![7; n]).unwrap() };
        // 38 octets of data make a 40-octet option: the most there is room for.
        assert_eq!(seg(vec![unknown(38)]).check_emit(), Ok(()));
        assert!(seg(vec![unknown(38), TcpOption::Nop]).check_emit().is_err());
        let empty = TcpOption::Sack(SackBlocks::new(&[]).unwrap());
        assert!(seg(vec![empty]).check_emit().is_err(), "a SACK option without blocks");
        assert_eq!(seg(vec![sack2]).check_emit(), Ok(()));
    }

    #[test]
    fn a_parsed_header_counts_its_payload() {
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "198.51.100.1".parse().unwrap());
        let seg = TcpRepr {
            flags: TcpFlags::FIN | TcpFlags::ACK,
            options: vec![TcpOption::Mss(1460)].into(),
            payload: vec![1, 2, 3],
            ..TcpRepr::default()
        };
        let h = TcpHeader::parse(&seg.emit(a, b).unwrap(), Some((a, b))).unwrap();
        assert_eq!((h.header_len, h.payload_len, h.seg_len()), (24, 3, 4));
        assert_eq!(h, TcpHeader::of(&seg));
    }

    /// A TCP header whose data offset covers `options` (no checksum: only
    /// the padding rule reads it).
    fn with_options(options: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; TCP_HEADER_LEN];
        b[12] = (((TCP_HEADER_LEN + options.len()) / 4) as u8) << 4;
        b.extend_from_slice(options);
        b
    }

    #[test]
    fn padding_is_judged_after_the_eol_wherever_it_is() {
        assert_eq!(check_padding(&with_options(&[1, 0, 9, 0])), Err(WireError::NonzeroPadding { at: 2, value: 9 }));
        assert_eq!(check_padding(&with_options(&[1, 1, 1, 0])), Ok(()));
        assert_eq!(
            check_padding(&with_options(&[2, 4, 5, 0xb4, 0, 0, 0, 5])),
            Err(WireError::NonzeroPadding { at: 7, value: 5 })
        );
        assert_eq!(check_padding(&with_options(&[2, 4, 5, 0xb4, 0, 0, 0, 0])), Ok(()));
        // An option of length 0 or 1 still moves on (by 2): no endless walk.
        assert_eq!(check_padding(&with_options(&[99, 0, 0, 7])), Err(WireError::NonzeroPadding { at: 3, value: 7 }));
    }

    #[test]
    fn an_option_region_longer_than_forty_octets_is_refused() {
        assert_eq!(parse_options(&[1; 44]), Err(WireError::BadDataOffset { offset_words: 16, segment_len: 44 }));
        assert_eq!(parse_options(&[1; 40]).map(|o| o.len()), Ok(40));
        let o: TcpOptions = vec![TcpOption::Nop, TcpOption::Mss(1460)].into();
        assert_eq!(format!("{o:?}"), "[Nop, Mss(1460)]");
    }

    #[test]
    fn sack_permitted_carries_nothing() {
        assert!(matches!(
            walk_options(&[4, 3, 0, 0], |_, _| {}),
            Err(WireError::BadOptionLength { kind: 4, len: 3, .. })
        ));
        assert_eq!(walk_options(&[4, 2, 1, 1], |_, _| {}), Ok(()));
    }

    #[test]
    fn wire_errors_say_what_is_wrong() {
        let e = WireError::Truncated { what: "IPv4 header", need: 20, have: 3 };
        assert_eq!(e.to_string(), "truncated IPv4 header: need 20 bytes, have 3");
        assert_eq!(WireError::NotTcp(17).to_string(), "IP payload is protocol 17, not TCP (6)");
    }
}
