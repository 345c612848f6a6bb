//! The case format and its decoding into actions.

use arbitrary::{Arbitrary, Unstructured};

pub const HEADER: usize = 2;
pub const RECORD: usize = 16;
/// Records beyond this are ignored (bounds the work per execution).
pub const MAX_RECORDS: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The stack listens on 198.51.100.1:8080; the case is the client.
    Listen,
    /// The stack connects to 192.0.2.1:40000; the case is the server.
    Connect,
}

/// Where a sequence number points, relative to the stack's receive state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeqAt {
    /// RCV.NXT + d.
    Next(u32),
    /// Below the window: RCV.NXT - 1 - d.
    Old(u32),
    /// At or beyond the right edge: RCV.NXT + RCV.WND + d.
    Beyond(u32),
    /// Inside, counted back from the right edge: RCV.NXT + RCV.WND - 1 - d.
    InsideRight(u32),
    /// An absolute value.
    Raw(u32),
}

/// Where an acknowledgment points, relative to the stack's send state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AckAt {
    /// SND.NXT + d (d > 0: data never sent).
    Next(u32),
    /// SND.UNA - d (duplicate or old).
    Una(u32),
    /// SND.UNA - MAX.SND.WND - d (RFC 5961 5.2's lower edge and below).
    BelowWindow(u32),
    Raw(u32),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Segment {
    pub flags: u8,
    pub seq: SeqAt,
    pub ack: AckAt,
    pub window: u16,
    /// Bits: 1 MSS, 2 window scale, 4 SACK-permitted, 8 timestamps, 16 a SACK
    /// block, 32 an unknown option, 64 urgent pointer.
    pub options: u8,
    /// A byte that parameterises the options (MSS, shift, TSval step).
    pub option_arg: u8,
    pub payload_len: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallKind {
    Accept,
    Send(u16),
    Recv(u16),
    Close,
    Shutdown(u8),
    Abort,
    NoDelay(bool),
    /// SO_KEEPALIVE with TCP_KEEPIDLE `idle + 1` s; `probes` 0 keeps the
    /// profile's interval and count, else TCP_KEEPINTVL `1 + (probes & 15)`
    /// s and TCP_KEEPCNT `1 + (probes >> 4 & 7)`.
    KeepAlive {
        idle: u8,
        probes: u8,
    },
    RcvBuf(u16),
    Urgent(u8),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Segment(Segment),
    Call(CallKind),
    /// Advance time by this many microseconds; `None`: to the next timer.
    Wait(Option<u64>),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Case {
    pub role: Role,
    /// `true`: the linux profile; `false`: rfc9293.
    pub linux: bool,
    pub actions: Vec<Action>,
}

fn u16_at(r: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([r[i], r[i + 1]])
}
fn u32_at(r: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]])
}

impl Action {
    /// Decodes one 16-byte record. Every byte pattern decodes to some action.
    pub fn from_record(r: &[u8; RECORD]) -> Action {
        match r[0] % 8 {
            4 => Action::Call(match r[1] % 10 {
                0 => CallKind::Accept,
                1 => CallKind::Send(u16_at(r, 2)),
                2 => CallKind::Recv(u16_at(r, 2)),
                3 => CallKind::Close,
                4 => CallKind::Shutdown(r[2] % 3),
                5 => CallKind::Abort,
                6 => CallKind::NoDelay(r[2] & 1 == 1),
                7 => CallKind::KeepAlive { idle: r[2], probes: r[4] },
                8 => CallKind::RcvBuf(u16_at(r, 2)),
                _ => CallKind::Urgent(r[2]),
            }),
            5 => Action::Wait(match r[1] % 4 {
                0 => Some(u64::from(u16_at(r, 2) % 2000) * 1000),
                1 => None,
                2 => Some(u64::from(r[2]) * 1_000_000),
                _ => Some(u64::from(u32_at(r, 2) % 10_000_000)),
            }),
            _ => {
                let v = u32_at(r, 3);
                let w = u32_at(r, 8);
                Action::Segment(Segment {
                    flags: r[1],
                    seq: match (r[2] & 7) % 5 {
                        0 => SeqAt::Next(v % 65_536),
                        1 => SeqAt::Old(v % 65_536),
                        2 => SeqAt::Beyond(v % 65_536),
                        3 => SeqAt::InsideRight(v % 65_536),
                        _ => SeqAt::Raw(v),
                    },
                    ack: match r[7] & 3 {
                        0 => AckAt::Next(w % 65_536),
                        1 => AckAt::Una(w % 65_536),
                        2 => AckAt::BelowWindow(w % 65_536),
                        _ => AckAt::Raw(w),
                    },
                    window: u16_at(r, 12),
                    options: r[14],
                    option_arg: r[15],
                    // Length: 64 times the high bits of the seq-mode byte, plus the
                    // high bits of the ack-mode byte (0 to 2047).
                    payload_len: u16::from(r[2] >> 3) * 64 + u16::from(r[7] >> 2),
                })
            }
        }
    }

    /// Encodes an action so that [`Action::from_record`] gives it back.
    pub fn to_record(&self) -> [u8; RECORD] {
        let mut r = [0u8; RECORD];
        match self {
            Action::Call(c) => {
                r[0] = 4;
                let (k, arg): (u8, u16) = match *c {
                    CallKind::Accept => (0, 0),
                    CallKind::Send(n) => (1, n),
                    CallKind::Recv(n) => (2, n),
                    CallKind::Close => (3, 0),
                    CallKind::Shutdown(h) => (4, u16::from(h)),
                    CallKind::Abort => (5, 0),
                    CallKind::NoDelay(b) => (6, u16::from(b)),
                    CallKind::KeepAlive { idle, probes } => {
                        r[4] = probes;
                        (7, u16::from(idle))
                    }
                    CallKind::RcvBuf(n) => (8, n),
                    CallKind::Urgent(n) => (9, u16::from(n)),
                };
                r[1] = k;
                r[2..4].copy_from_slice(&arg.to_le_bytes());
            }
            Action::Wait(d) => {
                r[0] = 5;
                match d {
                    None => r[1] = 1,
                    // Whole seconds up to 255 have their own code (long idle periods).
                    Some(us) if *us % 1_000_000 == 0 && (1..=255).contains(&(*us / 1_000_000)) => {
                        r[1] = 2;
                        r[2] = (*us / 1_000_000) as u8;
                    }
                    Some(us) => {
                        r[1] = 3;
                        r[2..6].copy_from_slice(&((*us % 10_000_000) as u32).to_le_bytes());
                    }
                }
            }
            Action::Segment(s) => {
                r[0] = 0;
                r[1] = s.flags;
                let (m, v) = match s.seq {
                    SeqAt::Next(v) => (0, v),
                    SeqAt::Old(v) => (1, v),
                    SeqAt::Beyond(v) => (2, v),
                    SeqAt::InsideRight(v) => (3, v),
                    SeqAt::Raw(v) => (4, v),
                };
                let len = s.payload_len.min(2047);
                r[2] = m | (((len / 64) as u8) << 3);
                r[3..7].copy_from_slice(&v.to_le_bytes());
                let (m, w) = match s.ack {
                    AckAt::Next(w) => (0, w),
                    AckAt::Una(w) => (1, w),
                    AckAt::BelowWindow(w) => (2, w),
                    AckAt::Raw(w) => (3, w),
                };
                r[7] = m | (((len % 64) as u8) << 2);
                r[8..12].copy_from_slice(&w.to_le_bytes());
                r[12..14].copy_from_slice(&s.window.to_le_bytes());
                r[14] = s.options;
                r[15] = s.option_arg;
            }
        }
        r
    }
}

impl Case {
    /// Decodes bytes; anything decodes (short input: an empty case).
    pub fn decode(bytes: &[u8]) -> Case {
        let role = if bytes.first().is_some_and(|b| b & 1 == 1) { Role::Connect } else { Role::Listen };
        let linux = bytes.get(1).is_some_and(|b| b & 1 == 1);
        let records = bytes.get(HEADER..).unwrap_or(&[]).chunks_exact(RECORD).take(MAX_RECORDS);
        let mut actions = Vec::with_capacity(records.len());
        actions.extend(records.map(|c| Action::from_record(c.try_into().expect("16 bytes"))));
        Case { role, linux, actions }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![u8::from(self.role == Role::Connect), u8::from(self.linux)];
        for a in &self.actions {
            b.extend_from_slice(&a.to_record());
        }
        b
    }
}

/// A case from unstructured bytes, for property tests and `arbitrary` users.
impl<'a> Arbitrary<'a> for Case {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let n = u.int_in_range(0..=32)?;
        let mut bytes = vec![u.arbitrary::<u8>()?, u.arbitrary::<u8>()?];
        for _ in 0..n {
            bytes.extend_from_slice(&u.arbitrary::<[u8; RECORD]>()?);
        }
        Ok(Case::decode(&bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let actions = vec![
            Action::Segment(Segment {
                flags: 0x12,
                seq: SeqAt::Beyond(77),
                ack: AckAt::Raw(0xdead_beef),
                window: 1234,
                options: 0x0f,
                option_arg: 9,
                payload_len: 2000,
            }),
            Action::Call(CallKind::Send(3000)),
            Action::Call(CallKind::Shutdown(1)),
            Action::Wait(Some(1_500_000)),
            Action::Wait(None),
        ];
        let c = Case { role: Role::Connect, linux: true, actions };
        assert_eq!(Case::decode(&c.encode()), c);
    }

    #[test]
    fn any_bytes_decode() {
        let mut u = Unstructured::new(&[7u8; 400]);
        let c = Case::arbitrary(&mut u).unwrap();
        assert_eq!(Case::decode(&c.encode()), c);
        assert!(Case::decode(&[]).actions.is_empty());
        assert_eq!(Case::decode(&[1, 1, 2]).role, Role::Connect);
    }
}
