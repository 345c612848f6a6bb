//! The wrap dimension: a script run again with its numbers placed so that
//! they cross 2^32 in the middle of it (`harness run --wrap peer|stack`).
//!
//! RFC 9293 3.4: "the space ranges from 0 to 2^32 - 1 ... all arithmetic
//! dealing with sequence numbers must be performed modulo 2^32"; RFC 7323
//! 5.2 says the same of timestamps. A stack that compares them as plain
//! integers passes every script whose numbers stay on one side of 2^32.
//! Scripts count sequence numbers from the ISNs, so a script's meaning does
//! not change when its ISN moves; what changes is where the wrap falls.
//!
//! - `peer`: the script's ISN (the header's `remote_isn`, and each
//!   `new_connection`'s by the same amount) and its TSvals (with the `ecr`
//!   its `out` steps expect), so that the octets and timestamps it sends
//!   wrap halfway through. Runs on every target: the script is the peer.
//! - `stack`: the stack's ISS and timestamp clock, halfway through what it
//!   sends and through the script's time. Only the reference stack lets a
//!   run choose them (a kernel draws both from a keyed hash).

use super::packet::{Field, OptSpec, PacketSpec};
use super::{Script, StepKind, TargetKind};
use std::time::Duration;

/// Whose numbers a wrap variant places.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum WrapSide {
    /// The script's sequence numbers and TSvals (every target).
    Peer,
    /// The stack's ISS and timestamp clock (the reference target).
    Stack,
}

impl WrapSide {
    pub fn name(self) -> &'static str {
        match self {
            WrapSide::Peer => "peer",
            WrapSide::Stack => "stack",
        }
    }
}

/// A wrap variant's placement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wrap {
    pub side: WrapSide,
    /// `stack`: the ISS of every connection the stack opens or accepts.
    pub stack_iss: u32,
    /// `stack`: the stack's TSval at time 0 (its offset to its clock in ms).
    pub stack_ts_offset: u32,
}

impl Wrap {
    /// Whether a target can run the variant.
    pub fn runs_on(&self, kind: TargetKind) -> bool {
        match self.side {
            WrapSide::Peer => true,
            WrapSide::Stack => kind == TargetKind::Reference,
        }
    }
}

/// Whether a run on `kind` takes `s`: a wrap variant only on a target that
/// can place its numbers.
pub fn runs_on(s: &Script, kind: TargetKind) -> bool {
    s.wrap.is_none_or(|w| w.runs_on(kind))
}

/// Every script of `scripts`, each followed by its wrap variants for `sides`
/// (a script with nothing to place has none: no TCP segment either way).
pub fn expand(scripts: Vec<Script>, sides: &[WrapSide]) -> Vec<Script> {
    if sides.is_empty() {
        return scripts;
    }
    let mut out = Vec::with_capacity(scripts.len() * (1 + sides.len()));
    for s in scripts {
        let variants: Vec<Script> = sides.iter().filter_map(|side| variant(&s, *side)).collect();
        out.push(s);
        out.extend(variants);
    }
    out
}

/// `s` with `side`'s numbers placed to wrap mid-script, named
/// `[..., wrap=SIDE]`; `None` when the script sends or expects no segment.
pub fn variant(s: &Script, side: WrapSide) -> Option<Script> {
    let has_segments = s.steps.iter().any(|st| matches!(st.kind, StepKind::In(_) | StepKind::Out(_)));
    if !has_segments || s.wrap.is_some() {
        return None;
    }
    let mut v = s.clone();
    v.variant = Some(match &s.variant {
        Some(x) => format!("{x}, wrap={}", side.name()),
        None => format!("wrap={}", side.name()),
    });
    let mut wrap = Wrap { side, stack_iss: 0, stack_ts_offset: 0 };
    match side {
        WrapSide::Peer => place_peer(&mut v),
        WrapSide::Stack => {
            // The stack's octets: what the script acknowledges and what it
            // expects the stack to send, counted from the stack's ISN.
            let mut top = 0u32;
            for spec in in_specs(s) {
                if let Some(a) = spec.ack.as_ref().and_then(hi) {
                    top = top.max(a);
                }
            }
            for spec in out_specs(s) {
                if let Some(seq) = hi(&spec.seq) {
                    top = top.max(seq.saturating_add(hi(&spec.len).unwrap_or(0)));
                }
            }
            wrap.stack_iss = halfway(top);
            // The clock: halfway through the script's time, in ms ticks.
            let ms = (duration(s).as_millis() / 2).clamp(1, 1 << 30) as u32;
            wrap.stack_ts_offset = 0u32.wrapping_sub(ms);
        }
    }
    v.wrap = Some(wrap);
    Some(v)
}

/// The number whose successor `top / 2` later (at least 1) is 2^32: the
/// start of a range of `top` numbers that wraps in its middle.
fn halfway(top: u32) -> u32 {
    0u32.wrapping_sub((top / 2).max(1))
}

/// The script's own numbers: its ISN (every connection's, by the same
/// amount, so their order and distances stay) and its TSvals.
fn place_peer(v: &mut Script) {
    let mut top = 0u32;
    let mut ts: Option<(u32, u32)> = None;
    for spec in in_specs(v) {
        let seq = hi(&spec.seq).unwrap_or(0);
        let len = hi(&spec.len).unwrap_or(0);
        top = top.max(seq.saturating_add(len).saturating_add(u32::from(spec.flags.syn() || spec.flags.fin())));
        for o in spec.options.iter().flatten() {
            if let OptSpec::Ts { val: Field::Is(t), .. } = o {
                ts = Some(ts.map_or((*t, *t), |(lo, hi)| (lo.min(*t), hi.max(*t))));
            }
        }
    }
    for spec in out_specs(v) {
        if let Some(a) = spec.ack.as_ref().and_then(hi) {
            top = top.max(a);
        }
    }
    let isn = halfway(top);
    let delta = isn.wrapping_sub(v.remote_isn);
    v.remote_isn = isn;
    // TSvals: the midpoint of those sent goes to 0, the lowest at least one
    // below it, so the clock the stack sees crosses 2^32 halfway.
    let ts_delta = ts.map(|(lo, hi)| {
        let mid = ((u64::from(lo) + u64::from(hi)).div_ceil(2) as u32).max(lo.saturating_add(1));
        0u32.wrapping_sub(mid)
    });
    for st in &mut v.steps {
        match &mut st.kind {
            StepKind::NewConnection { remote_isn, .. } => *remote_isn = remote_isn.wrapping_add(delta),
            StepKind::In(spec) => shift_ts(spec, ts_delta, true),
            StepKind::Flood(f) => shift_ts(&mut f.seg, ts_delta, true),
            StepKind::Out(specs) => specs.values_mut().for_each(|spec| shift_ts(spec, ts_delta, false)),
            _ => {}
        }
    }
}

/// Moves the script's TSvals (`in`: `val`; `out`: the `ecr` that echoes one).
/// An `out` packet's `ecr 0` without ACK echoes nothing (RFC 7323 3.2:
/// TSecr is valid with ACK; a first SYN's is 0), but a SYN may echo
/// (Linux's reopening SYN carries the old TS.Recent).
fn shift_ts(spec: &mut PacketSpec, delta: Option<u32>, inbound: bool) {
    let Some(d) = delta else { return };
    let ack = spec.flags.ack();
    for o in spec.options.iter_mut().flatten() {
        if let OptSpec::Ts { val, ecr } = o {
            let f = if inbound { val } else { ecr };
            match f {
                Field::Is(0) if !inbound && !ack => {}
                Field::Is(x) => *x = x.wrapping_add(d),
                _ => {}
            }
        }
    }
}

fn hi<T: Copy>(f: &Field<T>) -> Option<T> {
    match f {
        Field::Is(x) | Field::Range(_, x) => Some(*x),
        Field::Any => None,
    }
}

fn in_specs(s: &Script) -> impl Iterator<Item = &PacketSpec> {
    s.steps.iter().filter_map(|st| match &st.kind {
        StepKind::In(spec) => Some(spec),
        StepKind::Flood(f) => Some(&f.seg),
        _ => None,
    })
}

fn out_specs(s: &Script) -> impl Iterator<Item = &PacketSpec> {
    s.steps.iter().flat_map(|st| match &st.kind {
        StepKind::Out(m) => m.values().collect::<Vec<_>>(),
        _ => Vec::new(),
    })
}

/// The script's time at the earliest (step times, waits and quiets added
/// up), as the checker counts it.
fn duration(s: &Script) -> Duration {
    s.steps.iter().fold(Duration::ZERO, |t, st| st.earliest_end(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Script {
        super::super::parse(Path::new("w.yaml"), text).expect("checks").remove(0)
    }

    const SCRIPT: &str = "\
steps:
  - call: socket() = 3
  - call: bind(3, 8080) = 0
  - call: listen(3, 1) = 0
  - in:  S 0:0(0) win 65535 <mss 1460,nop,nop,TS val 100 ecr 0>
  - out: S. 0:0(0) ack 1 <mss 1460,nop,nop,TS val * ecr 100>
  - in:  . 1:1(0) ack 1 win 65535 <nop,nop,TS val 110 ecr *>
  - in:  P. 1:1001(1000) ack 1 win 65535 <nop,nop,TS val 120 ecr *>
  - {at: +0.2, out: \". 1:1(0) ack 1001 <nop,nop,TS val * ecr 120>\"}
  - call: write(4, 3000) = 3000
  - new_connection: {remote_isn: 70000}
";

    #[test]
    fn the_peer_s_numbers_cross_2_32_halfway() {
        let s = parse(SCRIPT);
        let v = variant(&s, WrapSide::Peer).expect("has segments");
        assert_eq!(v.variant.as_deref(), Some("wrap=peer"));
        // 1001 numbers: the ISN is 500 below 2^32, so octet 500 is at 0.
        assert_eq!(v.remote_isn, 0u32.wrapping_sub(500));
        assert!(
            v.steps
                .iter()
                .any(|st| st.kind
                    == StepKind::NewConnection { remote_isn: 70000u32.wrapping_sub(500), remote_port: None })
        );
        // TSvals 100..120: 110 goes to 0, 100 below 2^32, 120 above 0.
        let vals: Vec<u32> = in_specs(&v)
            .flat_map(|p| p.options.iter().flatten())
            .filter_map(|o| match o {
                OptSpec::Ts { val: Field::Is(x), .. } => Some(*x),
                _ => None,
            })
            .collect();
        assert_eq!(vals, [u32::MAX - 9, 0, 10]);
        // (An `out` step holds its packet once per target.)
        let mut echoes: Vec<Field<u32>> = out_specs(&v)
            .flat_map(|p| p.options.iter().flatten())
            .filter_map(|o| match o {
                OptSpec::Ts { ecr, .. } => Some(*ecr),
                _ => None,
            })
            .collect();
        echoes.dedup();
        assert_eq!(echoes, [Field::Is(u32::MAX - 9), Field::Is(10)]);
        assert!(v.wrap.is_some_and(|w| w.runs_on(TargetKind::Linux)));
    }

    #[test]
    fn the_stack_s_numbers_are_placed_on_the_reference_target_only() {
        let s = parse(SCRIPT);
        let v = variant(&s, WrapSide::Stack).expect("has segments");
        let w = v.wrap.expect("placed");
        // The script acknowledges 1 and expects SYN,ACK 0: the ISS is the
        // last number before 2^32, so the first octet is 0.
        assert_eq!(w.stack_iss, u32::MAX);
        // 0.2 s of script time: the clock is 100 ticks below 2^32 at 0.
        assert_eq!(w.stack_ts_offset, 0u32.wrapping_sub(100));
        assert!(w.runs_on(TargetKind::Reference) && !w.runs_on(TargetKind::Linux));
        assert_eq!(v.remote_isn, s.remote_isn);
        assert_eq!(v.variant.as_deref(), Some("wrap=stack"));
    }

    #[test]
    fn a_matrix_variant_keeps_its_name_and_a_script_without_segments_has_none() {
        let mut s = parse(SCRIPT);
        s.variant = Some("k=v".into());
        assert_eq!(variant(&s, WrapSide::Peer).and_then(|v| v.variant).as_deref(), Some("k=v, wrap=peer"));
        let calls = parse("steps:\n  - call: socket() = 3\n");
        assert!(variant(&calls, WrapSide::Peer).is_none());
        assert_eq!(expand(vec![s, calls], &[WrapSide::Peer, WrapSide::Stack]).len(), 4);
    }
}
