//! The connection's numbers as a run learns them (the stack's ISN, port and
//! timestamps, the script's ISN and port, descriptors), and the segments
//! built and matched with them: an `in` step's packet, an `out` step's check.

use super::outcome::FieldDiff;
use super::trace::Isns;
use crate::script::packet::{option_text, Field, OptSpec, PacketSpec};
use crate::script::Script;
use reference_stack::wire::{IpPacket, IpRepr, OptionData, SackBlocks, TcpFlags, TcpOption, TcpOptions, TcpRepr};
use reference_stack::{FourTuple, SeqNumber};
use std::collections::BTreeMap;
use std::net::SocketAddr;

pub(super) struct Numbering {
    /// The stack's ISN, from its SYN (or SYN,ACK).
    pub stack_isn: Option<u32>,
    /// The stack's port and the script's.
    pub local_port: u16,
    pub remote_port: u16,
    /// The script's ISN (the header's, until a `new_connection` step).
    pub remote_isn: u32,
    /// The stack's latest TS val.
    pub last_tsval: Option<u32>,
    /// `timestamps: mapped`: the script's TS val -> the stack's, and the
    /// first such pair (for values never seen).
    pub ts_map: BTreeMap<u32, u32>,
    pub ts_first: Option<(u32, u32)>,
    /// (stack port, script port) of connections before a `new_connection`.
    pub old_conns: Vec<(u16, u16)>,
    /// `fds: mapped`: the script's descriptor numbers -> the target's.
    pub fd_map: BTreeMap<i32, i32>,
}

impl Numbering {
    pub fn new(s: &Script) -> Numbering {
        Numbering {
            stack_isn: None,
            local_port: s.local_port,
            remote_port: s.remote_port,
            remote_isn: s.remote_isn,
            last_tsval: None,
            ts_map: BTreeMap::new(),
            ts_first: None,
            old_conns: Vec::new(),
            fd_map: BTreeMap::new(),
        }
    }

    /// One of the script's other connections: the script's port is its
    /// own, the rest is learned as for the main one.
    pub fn other(s: &Script, remote_port: u16) -> Numbering {
        Numbering { remote_port, ..Numbering::new(s) }
    }

    pub fn isns(&self) -> Isns {
        Isns { stack: self.stack_isn.unwrap_or(0), script: self.remote_isn }
    }

    /// The script's connection.
    pub fn conn(&self, s: &Script) -> FourTuple {
        FourTuple {
            local: SocketAddr::new(s.local, self.local_port),
            remote: SocketAddr::new(s.remote, self.remote_port),
        }
    }

    /// The target's descriptor for the script's `fd`.
    pub fn real_fd(&self, fd: i32) -> i32 {
        self.fd_map.get(&fd).copied().unwrap_or(fd)
    }

    /// `new_connection`: the script's port moves on by one; the stack's ISN,
    /// port and timestamps are learned again.
    pub fn new_connection(&mut self, s: &Script, remote_isn: u32, remote_port: Option<u16>) {
        self.old_conns.push((self.local_port, self.remote_port));
        self.remote_isn = remote_isn;
        self.remote_port = remote_port.unwrap_or(self.remote_port.wrapping_add(1).max(1));
        self.local_port = s.local_port;
        self.stack_isn = None;
        self.last_tsval = None;
        self.ts_map.clear();
        self.ts_first = None;
    }

    /// What a packet no step checks teaches (`outbound: ignore`): the
    /// stack's ISN and port from its SYN, its TS val.
    pub fn learn_unchecked(&mut self, s: &Script, p: &IpPacket) {
        if p.tcp.flags.syn() && self.stack_isn.is_none() && p.ip.dst == s.remote && p.tcp.dst_port == self.remote_port {
            self.stack_isn = Some(p.tcp.seq.0);
            self.local_port = p.tcp.src_port;
        }
        if let Some((v, _)) = p.tcp.timestamps() {
            self.last_tsval = Some(v);
        }
    }

    /// The script's name for a TS val the stack sent (`timestamps: mapped`).
    fn echo_of(&self, v: u32) -> u32 {
        match self.ts_map.get(&v) {
            Some(live) => *live,
            None => match self.ts_first {
                Some((s0, l0)) => v.wrapping_sub(s0).wrapping_add(l0),
                None => v,
            },
        }
    }

    /// The datagram for an `in` step: sequence numbers relative to the
    /// script's ISN, acks and SACK blocks to the stack's (absolute until the
    /// stack has shown its ISN in its SYN or SYN,ACK).
    pub fn build_in(&self, s: &Script, spec: &PacketSpec) -> Result<IpPacket, String> {
        let stack_rel = |v: u32| SeqNumber(self.stack_isn.unwrap_or(0).wrapping_add(v));
        let seq = SeqNumber(self.remote_isn.wrapping_add(spec.seq.value().unwrap_or(0)));
        let ack = match spec.ack {
            Some(Field::Is(a)) => stack_rel(a),
            _ => SeqNumber(0),
        };
        let mut options = TcpOptions::new();
        for o in spec.options.iter().flatten() {
            options.push(match o {
                OptSpec::Eol => TcpOption::Eol,
                OptSpec::Nop => TcpOption::Nop,
                OptSpec::Mss(m) => TcpOption::Mss(m.value().unwrap_or(0)),
                OptSpec::WScale(w) => TcpOption::WindowScale(w.value().unwrap_or(0)),
                OptSpec::SackOk => TcpOption::SackPermitted,
                OptSpec::Sack(blocks) => {
                    let edges: Vec<_> = blocks.iter().map(|(l, r)| (stack_rel(*l), stack_rel(*r))).collect();
                    // The script's parser allows 1 to 4 blocks.
                    TcpOption::Sack(SackBlocks::new(&edges).ok_or("a SACK option has 1 to 4 blocks")?)
                }
                OptSpec::Ts { val, ecr } => TcpOption::Timestamps {
                    tsval: val.value().unwrap_or(0),
                    tsecr: match ecr {
                        // packetdrill's reading: the script's name for a TSval the stack sent.
                        Field::Is(v) if s.ts_mapped && spec.flags.ack() => self.echo_of(*v),
                        Field::Is(v) => *v,
                        // Ranges are only parsed for ack, win and urg.
                        Field::Any | Field::Range(..) => self.last_tsval.unwrap_or(0),
                    },
                },
                OptSpec::Unknown { kind, data } => TcpOption::Unknown {
                    kind: *kind,
                    // The script's parser allows at most 38 octets.
                    data: OptionData::new(data).ok_or("an option carries at most 38 octets of data")?,
                },
            });
        }
        let len = spec.len.value().unwrap_or(0) as usize;
        let payload = spec.data.clone().unwrap_or_else(|| (0..len).map(|i| (i % 251) as u8).collect());
        let (src_port, dst_port) = spec.ports.unwrap_or((self.remote_port, self.local_port));
        let tcp = TcpRepr {
            src_port,
            dst_port,
            seq,
            ack,
            flags: spec.flags,
            reserved: if spec.ae { crate::script::packet::AE_BIT } else { 0 },
            window: spec.win.and_then(|w| w.value()).unwrap_or(65535),
            urgent: spec.urg.and_then(|u| u.value()).unwrap_or(0),
            options,
            payload,
        };
        let mut ip = IpRepr::new(s.remote, s.local);
        ip.tos = spec.tos.unwrap_or_else(|| spec.ecn.map_or(0, |e| e.bits()));
        if let Some(f) = spec.flow_label {
            ip.flow_label = f;
        }
        if let Some(t) = spec.ttl {
            ip.ttl = t;
        }
        Ok(IpPacket { ip, tcp })
    }

    /// Every field of `p` that `spec` does not allow. A SYN teaches the
    /// stack's ISN and port first.
    pub fn match_out(&mut self, s: &Script, spec: &PacketSpec, p: &IpPacket) -> Vec<FieldDiff> {
        let remote_isn = self.remote_isn;
        let mut d = Vec::new();
        let mut diff =
            |field: &'static str, expected: String, actual: String| d.push(FieldDiff { field, expected, actual });
        let t = &p.tcp;
        if p.ip.src != s.local || p.ip.dst != s.remote {
            diff("addresses", format!("{} > {}", s.local, s.remote), format!("{} > {}", p.ip.src, p.ip.dst));
        }
        // The stack's ephemeral port is learned from its first packet (of
        // the connection: a packet with its own ports is another's).
        if self.stack_isn.is_none() && t.flags.syn() && spec.ports.is_none() {
            self.local_port = t.src_port;
        }
        let (src, dst) = spec.ports.unwrap_or((self.local_port, self.remote_port));
        if t.src_port != src || t.dst_port != dst {
            diff("ports", format!("{src} > {dst}"), format!("{} > {}", t.src_port, t.dst_port));
        }
        if let Some(e) = spec.ecn {
            if !e.allows(p.ip.tos) {
                diff("ECN", e.to_string(), format!("[{}]", crate::script::packet::Ecn::name_of(p.ip.tos)));
            }
        }
        if let Some(tos) = spec.tos.filter(|t| *t != p.ip.tos) {
            diff("tos", format!("{tos:#04x}"), format!("{:#04x}", p.ip.tos));
        }
        if let Some(f) = spec.flow_label.filter(|f| *f != p.ip.flow_label) {
            diff("flowlabel", format!("{f:#x}"), format!("{:#x}", p.ip.flow_label));
        }
        if let Some(t) = spec.ttl.filter(|t| *t != p.ip.ttl) {
            diff("ttl", t.to_string(), p.ip.ttl.to_string());
        }
        let got_flags = if spec.psh_any { TcpFlags(t.flags.0 & !TcpFlags::PSH.0) } else { t.flags };
        let got_ae = t.reserved & crate::script::packet::AE_BIT != 0;
        if got_flags != spec.flags || got_ae != spec.ae {
            use crate::script::packet::flags_text;
            diff("flags", flags_text(spec.flags, spec.ae), flags_text(t.flags, got_ae));
        }
        // The stack's ISN comes from its SYN.
        if t.flags.syn() && self.stack_isn.is_none() {
            self.stack_isn = Some(t.seq.0.wrapping_sub(spec.seq.value().unwrap_or(0)));
        }
        let rel_seq = t.seq.0.wrapping_sub(self.stack_isn.unwrap_or(0));
        if !spec.seq.matches(rel_seq) {
            diff("seq", spec.seq.to_string(), rel_seq.to_string());
        }
        if !spec.len.matches(t.payload.len() as u32) {
            diff("len", spec.len.to_string(), t.payload.len().to_string());
        }
        if let Some(a) = spec.ack {
            let rel_ack = t.ack.0.wrapping_sub(remote_isn);
            if !t.flags.ack() {
                diff("ack", a.to_string(), "(no ACK flag)".into());
            } else if !a.matches(rel_ack) {
                diff("ack", a.to_string(), rel_ack.to_string());
            }
        }
        if let Some(w) = spec.win.filter(|w| !w.matches(t.window)) {
            diff("win", w.to_string(), t.window.to_string());
        }
        if let Some(u) = spec.urg.filter(|u| !u.matches(t.urgent)) {
            diff("urg", u.to_string(), t.urgent.to_string());
        }
        if let Some(data) = spec.data.as_ref().filter(|data| **data != t.payload) {
            diff(
                "data",
                format!("{:?}", String::from_utf8_lossy(data)),
                format!("{:?}", String::from_utf8_lossy(&t.payload)),
            );
        }
        if let Some((expected, actual)) = options_differ(s, spec, t, remote_isn) {
            diff("options", expected, actual);
        }
        d
    }
}

/// The expected and actual option lists when they differ.
fn options_differ(s: &Script, spec: &PacketSpec, t: &TcpRepr, remote_isn: u32) -> Option<(String, String)> {
    let actual: Vec<&TcpOption> = {
        let mut v: Vec<&TcpOption> = t.options.iter().collect();
        // Zero padding after the last option reads back as EOL.
        while v.last() == Some(&&TcpOption::Eol) {
            v.pop();
        }
        v
    };
    let mut expected = spec.options.clone().unwrap_or_default();
    if s.ts_mapped {
        // packetdrill checks neither TS val (its name for the value is
        // recorded instead) nor TS ecr on packets the stack sends.
        for o in &mut expected {
            if let OptSpec::Ts { val, ecr } = o {
                (*val, *ecr) = (Field::Any, Field::Any);
            }
        }
    }
    let same = if s.option_layout_exact {
        (if spec.more_options { actual.len() >= expected.len() } else { actual.len() == expected.len() })
            && expected.iter().zip(&actual).all(|(e, a)| opt_matches(e, a, remote_isn))
    } else {
        same_options_any_layout(&expected, &actual, spec.more_options, remote_isn)
    };
    if same {
        return None;
    }
    let exp = if spec.options.is_none() {
        "(none)".to_string()
    } else {
        let mut x: Vec<String> = expected.iter().map(ToString::to_string).collect();
        if spec.more_options {
            x.push("...".into());
        }
        format!("<{}>", x.join(","))
    };
    let got = actual.iter().map(|o| option_text(o, remote_isn)).collect::<Vec<_>>().join(",");
    Some((exp, format!("<{got}>")))
}

/// `option_layout: any`: the same options, NOPs aside, in any order (each
/// expected option takes one actual option it matches); with `...`, others
/// may follow.
fn same_options_any_layout(expected: &[OptSpec], actual: &[&TcpOption], more: bool, remote_isn: u32) -> bool {
    let mut left: Vec<&TcpOption> = actual.iter().copied().filter(|a| **a != TcpOption::Nop).collect();
    for e in expected.iter().filter(|e| **e != OptSpec::Nop) {
        match left.iter().position(|a| opt_matches(e, a, remote_isn)) {
            Some(i) => {
                left.remove(i);
            }
            None => return false,
        }
    }
    more || left.is_empty()
}

fn opt_matches(e: &OptSpec, a: &TcpOption, remote_isn: u32) -> bool {
    match (e, a) {
        (OptSpec::Eol, TcpOption::Eol)
        | (OptSpec::Nop, TcpOption::Nop)
        | (OptSpec::SackOk, TcpOption::SackPermitted) => true,
        (OptSpec::Mss(f), TcpOption::Mss(v)) => f.matches(*v),
        (OptSpec::WScale(f), TcpOption::WindowScale(v)) => f.matches(*v),
        (OptSpec::Ts { val, ecr }, TcpOption::Timestamps { tsval, tsecr }) => {
            val.matches(*tsval) && ecr.matches(*tsecr)
        }
        (OptSpec::Sack(eb), TcpOption::Sack(ab)) => {
            eb.len() == ab.len()
                && eb.iter().zip(ab.iter()).all(|((el, er), (al, ar))| {
                    *el == al.0.wrapping_sub(remote_isn) && *er == ar.0.wrapping_sub(remote_isn)
                })
        }
        (OptSpec::Unknown { kind, data }, TcpOption::Unknown { kind: k, data: d }) => kind == k && data[..] == d[..],
        _ => false,
    }
}
