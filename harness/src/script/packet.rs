//! Packets in packetdrill's compact notation:
//!
//! ```text
//! S  0:0(0) win 65535 <mss 1460,sackOK,nop,wscale 7>
//! S. 0:0(0) ack 1 <mss 1460,...>
//! P. 1:101(100) ack 1 win 257
//! F. * ack * win *
//! ```
//!
//! Flags (`S F R P U E W`, `.` for ACK), then `seq:end(len)`, then any of
//! `ack N`, `win N`, `urg N`, `<options>`, `data "bytes"`. `*` matches any
//! value in an `out` packet; `...` as the last option matches any further
//! options. Sequence and ack numbers are relative to each side's ISN.

use reference_stack::wire::{TcpFlags, TcpOption, TcpRepr};
use std::fmt;

/// A value, `*`, or (`ack`, `win` and `urg` of an `out` packet) a range
/// `LO~HI`, both ends included: `ack 11~41` for "whichever ACK the stack
/// chose to send, as long as it covers the first segment".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field<T> {
    Any,
    Is(T),
    Range(T, T),
}

impl<T: Copy + PartialOrd> Field<T> {
    pub fn matches(&self, v: T) -> bool {
        match self {
            Field::Any => true,
            Field::Is(x) => *x == v,
            Field::Range(lo, hi) => *lo <= v && v <= *hi,
        }
    }
    pub fn value(&self) -> Option<T> {
        match self {
            Field::Any | Field::Range(..) => None,
            Field::Is(x) => Some(*x),
        }
    }
}

impl<T: fmt::Display> fmt::Display for Field<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Any => f.write_str("*"),
            Field::Is(v) => write!(f, "{v}"),
            Field::Range(lo, hi) => write!(f, "{lo}~{hi}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptSpec {
    Eol,
    Nop,
    Mss(Field<u16>),
    WScale(Field<u8>),
    SackOk,
    /// Blocks relative to the ISN of the side whose data they cover.
    Sack(Vec<(u32, u32)>),
    /// TS val/ecr: absolute values; `ecr *` in an `in` packet echoes the
    /// stack's last TSval.
    Ts {
        val: Field<u32>,
        ecr: Field<u32>,
    },
    Unknown {
        kind: u8,
        data: Vec<u8>,
    },
}

/// The most payload a segment can carry: 65,535 octets of IPv4 packet less
/// the IP and TCP headers.
pub const MAX_PAYLOAD: u32 = 65_535 - 20 - 20;
/// The most option octets a TCP header holds.
pub const MAX_OPTIONS: usize = 40;

impl OptSpec {
    /// The octets the option takes on the wire.
    pub fn wire_len(&self) -> usize {
        match self {
            OptSpec::Eol | OptSpec::Nop => 1,
            OptSpec::Mss(_) => 4,
            OptSpec::WScale(_) => 3,
            OptSpec::SackOk => 2,
            OptSpec::Sack(b) => 2 + 8 * b.len(),
            OptSpec::Ts { .. } => 10,
            OptSpec::Unknown { data, .. } => 2 + data.len(),
        }
    }
}

/// An option as the language writes it (what the parser reads back).
impl fmt::Display for OptSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptSpec::Eol => f.write_str("eol"),
            OptSpec::Nop => f.write_str("nop"),
            OptSpec::Mss(m) => write!(f, "mss {m}"),
            OptSpec::WScale(w) => write!(f, "wscale {w}"),
            OptSpec::SackOk => f.write_str("sackOK"),
            OptSpec::Sack(b) => {
                write!(f, "sack {}", b.iter().map(|(l, r)| format!("{l}:{r}")).collect::<Vec<_>>().join(" "))
            }
            OptSpec::Ts { val, ecr } => write!(f, "TS val {val} ecr {ecr}"),
            OptSpec::Unknown { kind, data } => {
                write!(f, "opt{kind} {}", data.iter().map(|b| format!("{b:02x}")).collect::<String>())
            }
        }
    }
}

/// How [`segment_text`] writes a segment the wire carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// As a trace shows it: the fields the flags give meaning to (`ack`
    /// with ACK, `urg` with URG), padding left out, `[none]` for no flags.
    Trace,
    /// As a script says it, every field the segment carries (`ack` always,
    /// `urg` when set, `eol` kept, `-` for no flags): the parser reads it
    /// back as the same segment.
    Script,
    /// As an `out` step expects the segment: as `Script`, but `ack` only with
    /// the ACK flag (a segment without it has no acknowledgment to check).
    Expect,
}

/// A segment in the language's notation, sequence numbers relative to
/// `seq_base` and acknowledgment numbers (and SACK blocks, which cover the
/// other side's data) to `ack_base`: the one renderer of segments.
pub fn segment_text(t: &TcpRepr, seq_base: u32, ack_base: u32, style: Style) -> String {
    let seq = t.seq.0.wrapping_sub(seq_base);
    let len = t.payload.len() as u32;
    let ae = t.reserved & AE_BIT != 0;
    let flags = match (style, t.flags == TcpFlags::NONE && !ae) {
        (Style::Script | Style::Expect, true) => "-".to_string(),
        _ => flags_text(t.flags, ae),
    };
    let mut s = format!("{flags} {seq}:{}({len})", seq.wrapping_add(len));
    if t.flags.ack() || style == Style::Script {
        s.push_str(&format!(" ack {}", t.ack.0.wrapping_sub(ack_base)));
    }
    s.push_str(&format!(" win {}", t.window));
    let urg = match style {
        Style::Trace => t.flags.urg(),
        Style::Script | Style::Expect => t.urgent != 0,
    };
    if urg {
        s.push_str(&format!(" urg {}", t.urgent));
    }
    let opts: Vec<String> = t
        .options
        .iter()
        .filter(|o| style != Style::Trace || **o != TcpOption::Eol)
        .map(|o| option_text(o, ack_base))
        .collect();
    if !opts.is_empty() {
        s.push_str(&format!(" <{}>", opts.join(",")));
    }
    s
}

/// An option the wire carried, SACK blocks relative to `sack_base`.
pub fn option_text(o: &TcpOption, sack_base: u32) -> String {
    match o {
        TcpOption::Sack(blocks) => {
            let b: Vec<String> = blocks
                .iter()
                .map(|(l, r)| format!("{}:{}", l.0.wrapping_sub(sack_base), r.0.wrapping_sub(sack_base)))
                .collect();
            format!("sack {}", b.join(" "))
        }
        other => other.to_string(),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketSpec {
    pub flags: TcpFlags,
    /// `A` (or an ACE digit with 4): the AE flag ([`AE_BIT`]).
    pub ae: bool,
    pub seq: Field<u32>,
    pub len: Field<u32>,
    pub ack: Option<Field<u32>>,
    pub win: Option<Field<u16>>,
    pub urg: Option<Field<u16>>,
    /// `None`: no `<...>` given (an `out` must then carry no options).
    pub options: Option<Vec<OptSpec>>,
    /// `...` closed the option list: further options are allowed.
    pub more_options: bool,
    pub data: Option<Vec<u8>>,
    /// `p` among the flags of an `out` packet: PSH may be set or not (where
    /// PSH goes is the sender's choice, MAY-16 / SHLD-27).
    pub psh_any: bool,
    /// `bad_checksum`: an `in` packet sent with its TCP checksum broken
    /// (MUST-3: the stack must drop it).
    pub bad_checksum: bool,
    /// `[noecn]`, `[ect0]`, `[ect1]`, `[ce]` before the flags: the IP ECN
    /// field (RFC 3168 5) an `in` packet carries or an `out` packet must
    /// carry; `[ect01]` (out only): either ECT codepoint. `None`: an `in`
    /// packet is Not-ECT and an `out` packet's field is not checked.
    pub ecn: Option<Ecn>,
    /// `(tos 0xNN)`: the whole TOS octet (IPv4) or traffic class (IPv6) an
    /// `in` packet carries or an `out` packet must carry, ECN bits included.
    pub tos: Option<u8>,
    /// `(flowlabel 0xN)`: the IPv6 flow label (20 bits) set or checked.
    pub flow_label: Option<u32>,
    /// `(ttl N)`: the TTL (IPv4) or hop limit (IPv6) set or checked.
    pub ttl: Option<u8>,
    /// `9999>8080` before the flags (packetdrill's per-packet ports): the
    /// packet's source and destination ports, instead of the connection's
    /// (`in`: the script's port, then the stack's; `out`: the stack's, then
    /// the script's). Its numbers count as the connection's do.
    pub ports: Option<(u16, u16)>,
}

/// The IP information before a packet's flags: `[ect0]`, or packetdrill's
/// `(ect0, flowlabel 0x3)`, `(tos 0x2)`, `[ttl 9]`: ECN mark, TOS octet,
/// flow label and TTL, comma-separated, each at most once.
#[derive(Debug, Default)]
struct IpInfo {
    ecn: Option<Ecn>,
    tos: Option<u8>,
    flow_label: Option<u32>,
    ttl: Option<u8>,
    /// Octets of the text it took (0: none).
    consumed: usize,
}

impl IpInfo {
    fn parse(s: &str) -> Result<IpInfo, PacketError> {
        let start = s.len() - s.trim_start().len();
        let rest = &s[start..];
        let close = match rest.chars().next() {
            Some('[') => ']',
            Some('(') => ')',
            _ => return Ok(IpInfo::default()),
        };
        let Some(end) = rest.find(close) else {
            return Err(err(format!("`{}` is never closed", &rest[..1]), start, 1));
        };
        let mut info = IpInfo { consumed: start + end + 1, ..IpInfo::default() };
        let mut at = start + 1;
        for item in rest[1..end].split(',') {
            let item_at = at + (item.len() - item.trim_start().len());
            at += item.len() + 1;
            let w: Vec<&str> = item.split_whitespace().collect();
            let bad = |what: &str| {
                Err(PacketError {
                    message: format!("`{}`: {what}", item.trim()),
                    at: item_at,
                    len: item.trim().len().max(1),
                    help: Some(
                        "IP information: an ECN mark ([noecn], [ect0], [ect1], [ce], [ect01]), `tos 0xNN`, \
                         `flowlabel 0xNNNNN`, `ttl N`, comma-separated, as in `(ect0, flowlabel 0x3)`"
                            .into(),
                    ),
                })
            };
            let num = |v: &str| -> Option<u64> {
                match v.strip_prefix("0x") {
                    Some(h) => u64::from_str_radix(h, 16).ok(),
                    None => v.parse().ok(),
                }
            };
            match w[..] {
                [m] if Ecn::NAMES.iter().any(|(n, _)| *n == m) && info.ecn.is_none() => {
                    info.ecn = Ecn::NAMES.iter().find(|(n, _)| *n == m).map(|(_, e)| *e);
                }
                ["tos", v] if info.tos.is_none() => match num(v).and_then(|n| u8::try_from(n).ok()) {
                    Some(t) => info.tos = Some(t),
                    None => return bad("a TOS octet is 0 to 0xff"),
                },
                ["flowlabel", v] if info.flow_label.is_none() => match num(v).filter(|n| *n < 1 << 20) {
                    Some(f) => info.flow_label = Some(f as u32),
                    None => return bad("a flow label is 20 bits (0 to 0xfffff)"),
                },
                ["ttl", v] if info.ttl.is_none() => match num(v).and_then(|n| u8::try_from(n).ok()) {
                    Some(t) => info.ttl = Some(t),
                    None => return bad("a TTL is 0 to 255"),
                },
                [] => return bad("empty IP information"),
                [m] if !m.contains(' ') && w.len() == 1 && !Ecn::NAMES.iter().any(|(n, _)| *n == m) => {
                    return Err(PacketError {
                        message: format!("unknown ECN mark `[{m}]`"),
                        at: item_at,
                        len: m.len(),
                        help: Some(
                            "marks: [noecn], [ect0], [ect1], [ce], [ect01] (an `out` packet's ECT either way)".into(),
                        ),
                    })
                }
                _ => return bad("not IP information, or given twice"),
            }
        }
        if let (Some(_), Some(_)) = (info.ecn, info.tos) {
            return Err(err("an ECN mark and `tos` together: the TOS octet holds the ECN bits", start, end + 1));
        }
        Ok(info)
    }
}

/// The IP header's ECN codepoints (RFC 3168 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ecn {
    NotEct,
    Ect1,
    Ect0,
    Ce,
    /// ECT(0) or ECT(1).
    EctAny,
}

impl Ecn {
    const NAMES: &'static [(&'static str, Ecn)] =
        &[("noecn", Ecn::NotEct), ("ect1", Ecn::Ect1), ("ect0", Ecn::Ect0), ("ce", Ecn::Ce), ("ect01", Ecn::EctAny)];
    /// The two ECN bits of an `in` packet.
    pub fn bits(self) -> u8 {
        match self {
            Ecn::NotEct => 0,
            Ecn::Ect1 => 1,
            Ecn::Ect0 | Ecn::EctAny => 2,
            Ecn::Ce => 3,
        }
    }
    /// Whether an `out` packet's two ECN bits fit.
    pub fn allows(self, bits: u8) -> bool {
        match self {
            Ecn::EctAny => bits == 1 || bits == 2,
            e => e.bits() == bits & 3,
        }
    }
    /// The mark's name for two ECN bits.
    pub fn name_of(bits: u8) -> &'static str {
        ["noecn", "ect1", "ect0", "ce"][usize::from(bits & 3)]
    }
}

impl std::fmt::Display for Ecn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = Ecn::NAMES.iter().find(|(_, e)| e == self).map_or("?", |(n, _)| n);
        write!(f, "[{n}]")
    }
}

/// A parse error: message and byte range inside the packet text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketError {
    pub message: String,
    pub at: usize,
    pub len: usize,
    pub help: Option<String>,
}

fn err(message: impl Into<String>, at: usize, len: usize) -> PacketError {
    PacketError { message: message.into(), at, len: len.max(1), help: None }
}

/// Splits on whitespace outside `<...>` and quotes, keeping byte offsets.
fn tokens(s: &str) -> Result<Vec<(usize, &str)>, PacketError> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        match b[i] {
            b'<' => {
                let Some(end) = s[i..].find('>') else { return Err(err("unclosed `<`: options end with `>`", i, 1)) };
                i += end + 1;
            }
            b'"' => {
                let Some(end) = s[i + 1..].find('"') else { return Err(err("unclosed string", i, 1)) };
                i += end + 2;
            }
            _ => {
                while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'<' {
                    i += 1;
                }
            }
        }
        out.push((start, &s[start..i]));
    }
    Ok(out)
}

fn num<T: std::str::FromStr>(tok: &str, at: usize, what: &str) -> Result<T, PacketError> {
    let t = tok.trim();
    let parsed = if let Some(h) = t.strip_prefix("0x") {
        u64::from_str_radix(h, 16).ok().and_then(|v| v.to_string().parse().ok())
    } else {
        t.parse().ok()
    };
    parsed.ok_or_else(|| err(format!("`{t}` is not a valid {what}"), at, t.len()))
}

fn field<T: std::str::FromStr>(tok: &str, at: usize, what: &str) -> Result<Field<T>, PacketError> {
    if tok.trim() == "*" {
        Ok(Field::Any)
    } else {
        num(tok, at, what).map(Field::Is)
    }
}

/// [`field`], or a range `LO~HI` (LO at most HI).
fn field_or_range<T: std::str::FromStr + PartialOrd>(
    tok: &str,
    at: usize,
    what: &str,
) -> Result<Field<T>, PacketError> {
    let Some((l, h)) = tok.split_once('~') else { return field(tok, at, what) };
    let lo: T = num(l, at, what)?;
    let hi: T = num(h, at + l.len() + 1, what)?;
    if lo > hi {
        return Err(err(format!("the range `{tok}` ends below where it starts"), at, tok.len()));
    }
    Ok(Field::Range(lo, hi))
}

/// The AE flag (RFC 9768 2.1, formerly NS): bit 0 of the TCP header's
/// reserved nibble (the low bit of octet 12), which [`TcpFlags`] (octet 13)
/// does not hold.
pub const AE_BIT: u8 = 0x01;

/// A segment's flags as the notation writes them: [`TcpFlags`]' letters,
/// with `A` for AE before the `.` of ACK.
pub fn flags_text(flags: TcpFlags, ae: bool) -> String {
    let s = flags.to_string();
    if !ae {
        return s;
    }
    match s.as_str() {
        "[none]" => "A".into(),
        _ => match s.strip_suffix('.') {
            Some(head) => format!("{head}A."),
            None => format!("{s}A"),
        },
    }
}

/// Flags with AE: the letters (`A` for AE), or, as packetdrill writes
/// AccECN's ACE counter, one digit 0 to 7 for the three bits AE, CWR, ECE
/// (4, 2, 1) in place of the letters E, W and A.
pub fn parse_flags_ae(tok: &str, at: usize) -> Result<(TcpFlags, bool), PacketError> {
    let ace: Vec<(usize, char)> = tok.char_indices().filter(|(_, c)| c.is_ascii_digit()).collect();
    let letters: String = tok.chars().filter(|c| !c.is_ascii_digit()).collect();
    let ae_letter = letters.contains('A');
    if let Some(&(i, d)) = ace.first() {
        if ace.len() > 1 || d > '7' || letters.contains(['E', 'W', 'A']) {
            return Err(PacketError {
                message: format!("`{tok}`: the ACE digit is one of 0 to 7, in place of E, W and A"),
                at: at + i,
                len: 1,
                help: Some("`S.7` is SYN, ACK, AE, CWR and ECE; `.5` is ACK, AE and ECE".into()),
            });
        }
    }
    let mut f = parse_flags(&letters.replace('A', ""), at)?;
    let mut ae = ae_letter;
    if let Some(&(_, d)) = ace.first() {
        let v = d as u8 - b'0';
        if v & 1 != 0 {
            f |= TcpFlags::ECE;
        }
        if v & 2 != 0 {
            f |= TcpFlags::CWR;
        }
        ae = v & 4 != 0;
    }
    Ok((f, ae))
}

pub fn parse_flags(tok: &str, at: usize) -> Result<TcpFlags, PacketError> {
    let mut f = TcpFlags::NONE;
    for (i, c) in tok.char_indices() {
        f |= match c {
            'S' => TcpFlags::SYN,
            'F' => TcpFlags::FIN,
            'R' => TcpFlags::RST,
            'P' => TcpFlags::PSH,
            'U' => TcpFlags::URG,
            'E' => TcpFlags::ECE,
            'W' => TcpFlags::CWR,
            '.' => TcpFlags::ACK,
            '-' if tok == "-" => TcpFlags::NONE,
            _ => {
                return Err(PacketError {
                    message: format!("unknown flag `{c}`"),
                    at: at + i,
                    len: c.len_utf8(),
                    help: Some("flags are S F R P U E W A (AE) and `.` for ACK (`-` for none), as in `S.` or `P.`, or a digit 0 to 7 for AccECN's ACE bits; `p` on an `out` packet: PSH either way".into()),
                })
            }
        };
    }
    Ok(f)
}

impl PacketSpec {
    /// Parses a packet. Offsets in errors are byte offsets in `s`.
    pub fn parse(s: &str) -> Result<PacketSpec, PacketError> {
        // `[ect0] S 0:0(0) ...` or `(tos 0x2, flowlabel 0x1) ...`: the IP
        // information comes first (packetdrill's `[...]` or `(...)`).
        let ip = IpInfo::parse(s)?;
        let mut toks = tokens(&s[ip.consumed..])?;
        for t in &mut toks {
            t.0 += ip.consumed;
        }
        let ecn = ip.ecn;
        // `9999>8080` or `9999 > 8080`: the packet's own ports.
        let mut ports = None;
        // (A flags token may be digits too: the ACE field's value.)
        let spaced = toks.get(1).is_some_and(|t| t.1 == ">");
        if toks.first().is_some_and(|t| t.1.starts_with(|c: char| c.is_ascii_digit()) && (spaced || t.1.contains('>')))
        {
            let n = if spaced { 3 } else { 1 };
            let text: String = toks.iter().take(n).map(|t| t.1).collect();
            let at = toks[0].0;
            let (a, b) = text
                .split_once('>')
                .ok_or_else(|| err(format!("`{text}`: ports are written SRC>DST, e.g. `9999>8080`"), at, text.len()))?;
            let port = |x: &str| {
                x.parse::<u16>().map_err(|_| err(format!("`{x}` is not a port (0 to 65535)"), at, text.len()))
            };
            ports = Some((port(a)?, port(b)?));
            toks.drain(..n.min(toks.len()));
        }
        let Some(&(fat, ftok)) = toks.first() else {
            return Err(PacketError {
                message: "empty packet".into(),
                at: 0,
                len: 1,
                help: Some("write flags then seq:end(len), e.g. `S 0:0(0) win 65535`".into()),
            });
        };
        let psh_any = ftok.contains('p');
        let (flags, ae) = if psh_any {
            if ftok.contains('P') {
                return Err(err("`P` and `p` together: `p` already allows PSH", fat, ftok.len()));
            }
            parse_flags_ae(&ftok.replace('p', ""), fat)?
        } else if ftok == "-" {
            (TcpFlags::NONE, false)
        } else {
            parse_flags_ae(ftok, fat)?
        };
        let Some(&(sat, stok)) = toks.get(1) else {
            return Err(PacketError {
                message: "missing sequence numbers after the flags".into(),
                at: fat + ftok.len(),
                len: 1,
                help: Some("write seq:end(len), e.g. `1:101(100)`, or `*`".into()),
            });
        };
        let (seq, len) = parse_seq(stok, sat)?;
        let mut p = PacketSpec {
            flags,
            ae,
            seq,
            len,
            ack: None,
            win: None,
            urg: None,
            options: None,
            more_options: false,
            data: None,
            psh_any,
            bad_checksum: false,
            ecn,
            tos: ip.tos,
            flow_label: ip.flow_label,
            ttl: ip.ttl,
            ports,
        };
        let mut i = 2;
        while i < toks.len() {
            let (at, tok) = toks[i];
            let arg = toks.get(i + 1).copied();
            let need =
                |what: &str| arg.ok_or_else(|| err(format!("`{tok}` needs a {what} after it"), at + tok.len(), 1));
            match tok {
                "ack" => {
                    let (a, v) = need("number")?;
                    p.ack = Some(field_or_range(v, a, "ack number")?);
                    i += 2;
                }
                "win" => {
                    let (a, v) = need("number")?;
                    p.win = Some(field_or_range(v, a, "window (0 to 65535)")?);
                    i += 2;
                }
                "urg" => {
                    let (a, v) = need("number")?;
                    p.urg = Some(field_or_range(v, a, "urgent pointer")?);
                    i += 2;
                }
                "bad_checksum" => {
                    p.bad_checksum = true;
                    i += 1;
                }
                "data" => {
                    let (a, v) = need("quoted string")?;
                    let Some(inner) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
                        return Err(err("`data` takes a quoted string, e.g. data \"hello\"", a, v.len()));
                    };
                    p.data = Some(inner.as_bytes().to_vec());
                    i += 2;
                }
                t if t.starts_with('<') => {
                    let (opts, more) = parse_options(&t[1..t.len() - 1], at + 1)?;
                    let octets: usize = opts.iter().map(OptSpec::wire_len).sum();
                    if octets > MAX_OPTIONS {
                        return Err(PacketError {
                            message: format!("these options take {octets} octets; a TCP header holds at most {MAX_OPTIONS}"),
                            at,
                            len: t.len(),
                            help: None,
                        });
                    }
                    p.options = Some(opts);
                    p.more_options = more;
                    i += 1;
                }
                other => {
                    return Err(PacketError {
                        message: format!("unexpected `{other}`"),
                        at,
                        len: other.len(),
                        help: Some(
                            "after seq:end(len) come `ack N`, `win N`, `urg N`, `<options>`, `data \"...\"`, `bad_checksum`".into(),
                        ),
                    })
                }
            }
        }
        if let (Some(d), Field::Is(l)) = (&p.data, p.len) {
            if d.len() as u32 != l {
                return Err(err(format!("`data` has {} octets but the length says {l}", d.len()), sat, stok.len()));
            }
        }
        Ok(p)
    }

    /// `in` packets are built, not matched: wildcards are not allowed, except
    /// `TS ecr *` (echo the stack's last TSval).
    pub fn check_concrete(&self, text: &str) -> Result<(), PacketError> {
        let at = |needle: &str| text.find(needle).unwrap_or(0);
        let wild = |w: bool, what: &str| {
            if w {
                Err(PacketError {
                    message: format!("`*` for the {what} of a packet the script sends"),
                    at: at("*"),
                    len: 1,
                    help: Some("an `in` packet is built from the script, so every field needs a value".into()),
                })
            } else {
                Ok(())
            }
        };
        wild(self.seq == Field::Any || self.len == Field::Any, "sequence numbers")?;
        let open = |f: Option<Field<u32>>| matches!(f, Some(Field::Any | Field::Range(..)));
        let open16 = |f: Option<Field<u16>>| matches!(f, Some(Field::Any | Field::Range(..)));
        if [open(self.ack), open16(self.win), open16(self.urg)].contains(&true) && text.contains('~') {
            return Err(PacketError {
                message: "a range (`LO~HI`) in a packet the script sends".into(),
                at: at("~"),
                len: 1,
                help: Some("an `in` packet is built from the script, so every field needs one value".into()),
            });
        }
        wild(open(self.ack), "ack number")?;
        wild(open16(self.win), "window")?;
        wild(open16(self.urg), "urgent pointer")?;
        if self.more_options {
            return Err(PacketError {
                message: "`...` in the options of a packet the script sends".into(),
                at: at("..."),
                len: 3,
                help: Some("list every option the packet carries".into()),
            });
        }
        for o in self.options.iter().flatten() {
            match o {
                OptSpec::Mss(Field::Any) | OptSpec::WScale(Field::Any) | OptSpec::Ts { val: Field::Any, .. } => {
                    wild(true, "option value")?
                }
                _ => {}
            }
        }
        if self.flags.ack() && self.ack.is_none() {
            return Err(PacketError {
                message: "the ACK flag is set but no `ack N` is given".into(),
                at: 0,
                len: text.find(' ').unwrap_or(text.len()),
                help: Some("add `ack N` (relative to the stack's ISN)".into()),
            });
        }
        Ok(())
    }
}

fn parse_seq(tok: &str, at: usize) -> Result<(Field<u32>, Field<u32>), PacketError> {
    if tok == "*" {
        return Ok((Field::Any, Field::Any));
    }
    let bad = || PacketError {
        message: format!("`{tok}` is not seq:end(len)"),
        at,
        len: tok.len(),
        help: Some("e.g. `0:0(0)` for a SYN, `1:101(100)` for 100 octets".into()),
    };
    let (se, rest) = tok.split_once('(').ok_or_else(bad)?;
    let len_s = rest.strip_suffix(')').ok_or_else(bad)?;
    let (s, e) = se.split_once(':').ok_or_else(bad)?;
    let seq: Field<u32> = field(s, at, "sequence number")?;
    let end: Field<u32> = field(e, at + s.len() + 1, "end sequence number")?;
    let len: Field<u32> = field(len_s, at + se.len() + 1, "length")?;
    if let Field::Is(l) = len {
        if l > MAX_PAYLOAD {
            return Err(PacketError {
                message: format!("a segment carries at most {MAX_PAYLOAD} octets (an IP packet is at most 65,535)"),
                at: at + se.len() + 1,
                len: len_s.len(),
                help: None,
            });
        }
    }
    if let (Field::Is(s), Field::Is(e), Field::Is(l)) = (seq, end, len) {
        if e.wrapping_sub(s) != l {
            return Err(PacketError {
                message: format!("{s}:{e} spans {} octets but the length says {l}", e.wrapping_sub(s)),
                at,
                len: tok.len(),
                help: Some("end = seq + len".into()),
            });
        }
    }
    Ok((seq, len))
}

fn parse_options(s: &str, base: usize) -> Result<(Vec<OptSpec>, bool), PacketError> {
    let mut out = Vec::new();
    let mut more = false;
    let mut off = 0;
    for part in s.split(',') {
        let at = base + off + (part.len() - part.trim_start().len());
        off += part.len() + 1;
        let p = part.trim();
        if more {
            return Err(err("`...` must be the last option", at, p.len()));
        }
        let words: Vec<&str> = p.split_whitespace().collect();
        let arg = |i: usize| words.get(i).copied().ok_or_else(|| err(format!("`{p}` needs a value"), at, p.len()));
        let o = match words.first().copied() {
            None => return Err(err("empty option", at, 1)),
            Some("...") => {
                more = true;
                continue;
            }
            Some("nop") => OptSpec::Nop,
            Some("eol") => OptSpec::Eol,
            Some("sackOK") => OptSpec::SackOk,
            Some("mss") => {
                // (planted-parser-panic: a deliberate bug for `make fuzz-parsers`
                // to find: the MSS read into a signed 16-bit integer first,
                // unwrapped, so a value above 32767 panics.)
                if cfg!(feature = "planted-parser-panic") {
                    let v = arg(1)?;
                    if v.bytes().all(|b| b.is_ascii_digit()) && v.len() <= 5 {
                        std::hint::black_box(v.parse::<i16>().unwrap());
                    }
                }
                OptSpec::Mss(field(arg(1)?, at, "MSS")?)
            }
            Some("wscale") => OptSpec::WScale(field(arg(1)?, at, "window scale")?),
            Some("TS") => {
                if words.get(1) != Some(&"val") || words.get(3) != Some(&"ecr") {
                    return Err(PacketError {
                        message: format!("`{p}` is not a timestamp option"),
                        at,
                        len: p.len(),
                        help: Some("write `TS val N ecr M` (`*` for any value)".into()),
                    });
                }
                OptSpec::Ts { val: field(arg(2)?, at, "TSval")?, ecr: field(arg(4)?, at, "TSecr")? }
            }
            Some("sack") => {
                let mut blocks = Vec::new();
                for w in &words[1..] {
                    let (l, r) = w
                        .split_once(':')
                        .ok_or_else(|| err(format!("SACK block `{w}` is not left:right"), at, p.len()))?;
                    blocks.push((num(l, at, "SACK edge")?, num(r, at, "SACK edge")?));
                }
                if blocks.is_empty() || blocks.len() > 4 {
                    return Err(err("a SACK option has 1 to 4 blocks", at, p.len()));
                }
                OptSpec::Sack(blocks)
            }
            Some(w) if w.starts_with("opt") => {
                let kind: u8 = num(&w[3..], at, "option kind")?;
                let data = match words.get(1) {
                    Some(h) => hex(h).ok_or_else(|| err(format!("`{h}` is not hex octets"), at, p.len()))?,
                    None => Vec::new(),
                };
                if data.len() > reference_stack::wire::MAX_OPTION_DATA {
                    return Err(err(
                        format!("option data of {} octets: an option carries at most 38", data.len()),
                        at,
                        p.len(),
                    ));
                }
                OptSpec::Unknown { kind, data }
            }
            Some(w) => {
                return Err(PacketError {
                    message: format!("unknown option `{w}`"),
                    at,
                    len: w.len(),
                    help: Some(
                        "options: mss N, wscale N, sackOK, sack L:R..., TS val N ecr M, nop, eol, optK HEX, ...".into(),
                    ),
                })
            }
        };
        out.push(o);
    }
    Ok((out, more))
}

fn hex(s: &str) -> Option<Vec<u8>> {
    // (Byte offsets below: a multi-byte character is not hex, and slicing
    // inside one panicked; found by `make fuzz-parsers`.)
    if !s.is_ascii() || !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_packet_ports() {
        let p = PacketSpec::parse("9999>8080 S 0:0(0) win 1000").unwrap();
        assert_eq!(p.ports, Some((9999, 8080)));
        let p = PacketSpec::parse("[ect0] 9999 > 8080 S. 0:0(0) ack 1").unwrap();
        assert_eq!((p.ports, p.flags), (Some((9999, 8080)), TcpFlags(TcpFlags::SYN.0 | TcpFlags::ACK.0)));
        assert_eq!(PacketSpec::parse("S 0:0(0)").unwrap().ports, None);
        assert!(PacketSpec::parse("70000>80 S 0:0(0)").unwrap_err().message.contains("not a port"));
        assert!(PacketSpec::parse("9999> S 0:0(0)").unwrap_err().message.contains("not a port"));
    }

    #[test]
    fn icmp_forms_and_their_errors() {
        let i = IcmpSpec::parse("icmp unreachable frag_needed mtu 840 [0:1000(1000)]").unwrap();
        assert_eq!((i.v4, i.v6, i.mtu, i.seq, i.len), (Some((3, 4)), None, Some(840), 0, 1000));
        let i = IcmpSpec::parse("icmp unreachable").unwrap();
        assert_eq!((i.v4, i.v6, i.mtu, i.len), (Some((3, 0)), Some((1, 0)), None, 0));
        let i = IcmpSpec::parse("icmp type_11 code_1 [5000:6000(1000)]").unwrap();
        assert_eq!((i.v4, i.seq), (Some((11, 1)), 5000));
        let i = IcmpSpec::parse("icmp packet_too_big mtu 1400 [0:1440(1440)]").unwrap();
        assert_eq!((i.v4, i.v6, i.mtu), (None, Some((2, 0)), Some(1400)));
        for (bad, why) in [
            ("icmp", "needs a type"),
            ("icmp unreachabel", "unknown ICMP type"),
            ("icmp unreachable CODE", "unknown code `CODE`"),
            ("icmp unreachable host_unreachable mtu 800", "frag_needed"),
            ("icmp packet_too_big bogus", "unknown code `bogus`"),
            ("icmp unreachable [0:10(20)]", "is 10 bytes, not 20"),
            ("icmp unreachable host_unreachable extra", "unexpected `extra`"),
        ] {
            let e = IcmpSpec::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn psh_either_way_and_bad_checksum() {
        let p = PacketSpec::parse("pF. 1:11(10) ack 1").unwrap();
        assert!(p.psh_any);
        assert_eq!(p.flags, TcpFlags::FIN | TcpFlags::ACK);
        assert!(PacketSpec::parse("Pp. 1:1(0) ack 1").is_err());
        let q = PacketSpec::parse("P. 1:101(100) ack 1 win 65535 bad_checksum").unwrap();
        assert!(q.bad_checksum && !q.psh_any);
    }

    #[test]
    fn every_construct() {
        let p = PacketSpec::parse("S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>").unwrap();
        assert_eq!(p.flags, TcpFlags::SYN);
        assert_eq!((p.seq, p.len, p.win), (Field::Is(0), Field::Is(0), Some(Field::Is(65535))));
        assert_eq!(p.options.as_ref().unwrap().len(), 5);
        let p = PacketSpec::parse("S. 0:0(0) ack 1 <mss 1460,...>").unwrap();
        assert!(p.more_options);
        assert_eq!(p.ack, Some(Field::Is(1)));
        let p = PacketSpec::parse("P. 1:101(100) ack * win * urg 3").unwrap();
        assert_eq!((p.ack, p.win, p.urg), (Some(Field::Any), Some(Field::Any), Some(Field::Is(3))));
        let p = PacketSpec::parse("F. * ack 1 <nop,nop,sack 1:11 21:31,opt254 f989,eol>").unwrap();
        assert_eq!(p.seq, Field::Any);
        let p = PacketSpec::parse("P. 1:6(5) ack 1 data \"hello\"").unwrap();
        assert_eq!(p.data.as_deref(), Some(&b"hello"[..]));
        assert_eq!(PacketSpec::parse("- 0:0(0)").unwrap().flags, TcpFlags::NONE);
        assert_eq!(PacketSpec::parse("SEW 0:0(0)").unwrap().flags, TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR);
    }

    #[test]
    fn errors_point_at_the_culprit() {
        let cases: &[(&str, usize, &str)] = &[
            ("X 0:0(0)", 0, "unknown flag"),
            ("S. 0:0(0) ack", 13, "needs a number"),
            ("S 0:1(0)", 2, "spans 1 octets"),
            ("S 0:0", 2, "not seq:end(len)"),
            ("S 0:0(0) wim 5", 9, "unexpected `wim`"),
            ("S 0:0(0) <mss 1460,foo 3>", 19, "unknown option `foo`"),
            ("S 0:0(0) <mss 1460", 9, "unclosed"),
            ("S 0:0(0) win 70000", 13, "not a valid window"),
            ("S 0:0(0) <..., nop>", 15, "must be the last"),
            ("S 0:0(0) <TS val 1>", 10, "not a timestamp option"),
            ("P. 1:3(2) ack 1 data \"abc\"", 3, "has 3 octets"),
            ("", 0, "empty packet"),
        ];
        for (text, at, msg) in cases {
            let e = PacketSpec::parse(text).unwrap_err();
            assert!(e.message.contains(msg), "{text}: {e:?}");
            assert_eq!(e.at, *at, "{text}: {e:?}");
        }
    }

    #[test]
    fn in_packets_must_be_concrete() {
        let t = "S * win 100";
        assert!(PacketSpec::parse(t).unwrap().check_concrete(t).is_err());
        let t = ". 1:1(0) win 100";
        assert!(PacketSpec::parse(t).unwrap().check_concrete(t).unwrap_err().message.contains("no `ack N`"));
        let t = ". 1:1(0) ack 1 <nop,nop,TS val 5 ecr *>";
        assert!(PacketSpec::parse(t).unwrap().check_concrete(t).is_ok());
    }
    #[test]
    fn ip_information_before_the_flags() {
        let p = PacketSpec::parse("(ect0, flowlabel 0x3) . 1:1(0) ack 1").unwrap();
        assert_eq!((p.ecn, p.flow_label, p.tos, p.ttl), (Some(Ecn::Ect0), Some(3), None, None));
        let p = PacketSpec::parse("[tos 0x10, ttl 9]S 0:0(0)").unwrap();
        assert_eq!((p.tos, p.ttl, p.flags), (Some(0x10), Some(9), TcpFlags::SYN));
        let p = PacketSpec::parse("[ce] . 1:1(0)").unwrap();
        assert_eq!(p.ecn, Some(Ecn::Ce));
        for (bad, why) in [
            ("(tos 0x100) S 0:0(0)", "a TOS octet is 0 to 0xff"),
            ("(flowlabel 0x100000) S 0:0(0)", "20 bits"),
            ("(ttl 300) S 0:0(0)", "a TTL is 0 to 255"),
            ("(ect0, tos 0x2) S 0:0(0)", "an ECN mark and `tos` together"),
            ("(ttl 1, ttl 2) S 0:0(0)", "given twice"),
            ("[ect9] S 0:0(0)", "unknown ECN mark"),
            ("(ttl 1 S 0:0(0)", "not IP information"),
            ("(ttl 1 S", "never closed"),
        ] {
            let e = PacketSpec::parse(bad).unwrap_err();
            assert!(e.message.contains(why), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn the_ae_flag_and_ace_digits() {
        let p = PacketSpec::parse("SEWA 0:0(0) win 1000").unwrap();
        assert_eq!((p.flags, p.ae), (TcpFlags::SYN | TcpFlags::ECE | TcpFlags::CWR, true));
        let p = PacketSpec::parse("S.5 0:0(0) ack 1 win 1000").unwrap();
        assert_eq!((p.flags, p.ae), (TcpFlags::SYN | TcpFlags::ACK | TcpFlags::ECE, true));
        let p = PacketSpec::parse(".2 1:1(0) ack 1").unwrap();
        assert_eq!((p.flags, p.ae), (TcpFlags::ACK | TcpFlags::CWR, false));
        // ACE 0 alone: no flags, AE, CWR and ECE clear (checked as such).
        let p = PacketSpec::parse("0 1:1(0)").unwrap();
        assert_eq!((p.flags, p.ae), (TcpFlags::NONE, false));
        for bad in ["S.8 0:0(0)", "SE1 0:0(0)", "S12 0:0(0)", "SA3 0:0(0)"] {
            let e = PacketSpec::parse(bad).unwrap_err();
            assert!(e.message.contains("ACE digit"), "{bad}: {}", e.message);
        }
        assert_eq!(flags_text(TcpFlags::SYN | TcpFlags::ACK | TcpFlags::ECE, true), "SEA.");
        assert_eq!(flags_text(TcpFlags::NONE, true), "A");
        assert_eq!(flags_text(TcpFlags::SYN, true), "SA");
        assert_eq!(flags_text(TcpFlags::SYN, false), "S");
    }
}

/// An ICMP error the script sends about a segment of the stack's:
/// `icmp TYPE [CODE] [mtu N] [[SEQ:END(LEN)]]` (packetdrill's form). The
/// quoted segment's ports are the connection's; SEQ counts from the stack's
/// ISN, as the stack's own packets do. Names are ICMPv4's or ICMPv6's (RFC
/// 4443); which one is sent follows the script's addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IcmpSpec {
    /// `unreachable`, `packet_too_big`, ... as written.
    pub type_name: String,
    /// Type and code as ICMPv4 (None: the names are ICMPv6's only).
    pub v4: Option<(u8, u8)>,
    /// Type and code as ICMPv6 (None: the names are ICMPv4's only).
    pub v6: Option<(u8, u8)>,
    pub mtu: Option<u32>,
    pub seq: u32,
    pub len: u16,
}

type Names = &'static [(&'static str, u8)];

/// ICMPv4 types and their codes (RFC 792, RFC 1812 5.2.7.1); packetdrill's names.
const ICMPV4: &[(&str, u8, Names)] = &[
    ("echo_reply", 0, &[]),
    (
        "unreachable",
        3,
        &[
            ("net_unreachable", 0),
            ("host_unreachable", 1),
            ("protocol_unreachable", 2),
            ("port_unreachable", 3),
            ("frag_needed", 4),
            ("source_route_failed", 5),
            ("net_unknown", 6),
            ("host_unknown", 7),
            ("source_host_isolated", 8),
            ("net_prohibited", 9),
            ("host_prohibited", 10),
            ("net_unreachable_for_tos", 11),
            ("host_unreachable_for_tos", 12),
            ("packet_filtered", 13),
            ("precedence_violation", 14),
            ("precedence_cutoff", 15),
        ],
    ),
    ("source_quench", 4, &[]),
    ("redirect", 5, &[]),
    ("echo_request", 8, &[]),
    ("time_exceeded", 11, &[]),
    ("parameter_problem", 12, &[]),
];

/// ICMPv6 types and their codes (RFC 4443 3); packetdrill's names.
const ICMPV6: &[(&str, u8, Names)] = &[
    (
        "unreachable",
        1,
        &[
            ("net_unreachable", 0),
            ("no_route", 0),
            ("admin_prohibited", 1),
            ("not_neighbour", 2),
            ("address_unreachable", 3),
            ("port_unreachable", 4),
        ],
    ),
    ("packet_too_big", 2, &[]),
    ("time_exceeded", 3, &[("exceeded_hop_limit", 0), ("exceeded_frag_time", 1)]),
    ("parameter_problem", 4, &[("header_field", 0), ("unknown_next_header", 1), ("unknown_option", 2)]),
    ("echo_request", 128, &[]),
    ("echo_reply", 129, &[]),
];

/// Type and code in one version's table; None if the type is not in it or
/// the code is not one of the type's.
fn icmp_lookup(table: &[(&str, u8, Names)], t: &str, c: Option<&str>) -> Option<(u8, u8)> {
    let kind = match t.strip_prefix("type_").and_then(|n| n.parse::<u8>().ok()) {
        Some(k) => k,
        None => table.iter().find(|x| x.0 == t)?.1,
    };
    let code = match c {
        None => 0,
        Some(c) => match c.strip_prefix("code_").and_then(|n| n.parse::<u8>().ok()) {
            Some(v) => v,
            None => table.iter().find(|x| x.1 == kind)?.2.iter().find(|x| x.0 == c)?.1,
        },
    };
    Some((kind, code))
}

impl IcmpSpec {
    /// Parses `icmp ...`. Errors say which word and why.
    pub fn parse(text: &str) -> Result<IcmpSpec, String> {
        let rest = text.trim().strip_prefix("icmp").ok_or("an ICMP packet starts with `icmp`")?;
        let (words, quoted) = match rest.find('[') {
            Some(i) => (&rest[..i], Some(rest[i..].trim())),
            None => (rest, None),
        };
        let mut w = words.split_whitespace().peekable();
        let type_name = w.next().ok_or("`icmp` needs a type, e.g. `icmp unreachable host_unreachable`")?;
        let known = |t: &[(&str, u8, Names)]| t.iter().any(|x| x.0 == type_name);
        if !type_name.starts_with("type_") && !known(ICMPV4) && !known(ICMPV6) {
            let mut names: Vec<&str> = ICMPV4.iter().chain(ICMPV6).map(|x| x.0).collect();
            names.sort_unstable();
            names.dedup();
            return Err(format!("unknown ICMP type `{type_name}` ({}, or type_N)", names.join(", ")));
        }
        let code_name = w.next_if(|c| *c != "mtu");
        let (v4, v6) = (icmp_lookup(ICMPV4, type_name, code_name), icmp_lookup(ICMPV6, type_name, code_name));
        if let (None, None, Some(c)) = (v4, v6, code_name) {
            let codes: Vec<&str> = ICMPV4
                .iter()
                .chain(ICMPV6)
                .filter(|x| x.0 == type_name)
                .flat_map(|x| x.2.iter().map(|c| c.0))
                .collect();
            return Err(if codes.is_empty() {
                format!("unknown code `{c}` (code_N)")
            } else {
                format!("unknown code `{c}` for {type_name} ({}, or code_N)", codes.join(", "))
            });
        }
        let mut mtu = None;
        if let Some(m) = w.next() {
            if m != "mtu" {
                return Err(format!("unexpected `{m}` (after type and code: `mtu N`, then `[SEQ:END(LEN)]`)"));
            }
            let n = w.next().ok_or("`mtu` needs a number")?;
            mtu = Some(n.parse::<u32>().map_err(|_| format!("`{n}` is not an MTU"))?);
            if v4 != Some((3, 4)) && v6 != Some((2, 0)) {
                return Err("an MTU goes with `unreachable frag_needed` (ICMPv4) or `packet_too_big` (ICMPv6)".into());
            }
        }
        if let Some(x) = w.next() {
            return Err(format!("unexpected `{x}`"));
        }
        let (mut seq, mut len) = (0, 0);
        if let Some(q) = quoted {
            let inner = q
                .strip_prefix('[')
                .and_then(|x| x.strip_suffix(']'))
                .ok_or("the quoted segment is `[SEQ:END(LEN)]`")?;
            let (s, rest) = inner.split_once(':').ok_or("the quoted segment is `[SEQ:END(LEN)]`")?;
            let (e, l) = rest.split_once('(').ok_or("the quoted segment is `[SEQ:END(LEN)]`")?;
            let l = l.strip_suffix(')').ok_or("the quoted segment is `[SEQ:END(LEN)]`")?;
            let num = |x: &str| x.trim().parse::<u32>().map_err(|_| format!("`{x}` is not a sequence number"));
            seq = num(s)?;
            let end = num(e)?;
            len = u16::try_from(num(l)?).map_err(|_| "the quoted length is at most 65535")?;
            if end.wrapping_sub(seq) != u32::from(len) {
                return Err(format!("{seq}:{end} is {} bytes, not {len}", end.wrapping_sub(seq)));
            }
        }
        Ok(IcmpSpec { type_name: type_name.to_string(), v4, v6, mtu, seq, len })
    }
}

impl std::fmt::Display for IcmpSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (t, c) = self.v4.or(self.v6).unwrap_or_default();
        write!(f, "icmp {} (type {t} code {c})", self.type_name)?;
        if let Some(m) = self.mtu {
            write!(f, " mtu {m}")?;
        }
        write!(f, " [{}:{}({})]", self.seq, self.seq.wrapping_add(u32::from(self.len)), self.len)
    }
}
