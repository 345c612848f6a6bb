//! The case format and its decoding into actions.

use arbitrary::{Arbitrary, Unstructured};

pub const HEADER: usize = 2;
pub const RECORD: usize = 16;
/// Records beyond this are ignored (bounds the work per execution).
pub const MAX_RECORDS: usize = 128;
/// Connections a case drives: the first (as every case before there were
/// more), and two more from the same peer address on the next ports.
pub const CONNECTIONS: u8 = 3;
/// The listener's backlog, chosen by bits 1-2 of the header's first byte
/// (0: 8, as every case before these bits; the small ones let two or three
/// connections fill Linux's accept queue).
pub const BACKLOGS: [u32; 4] = [8, 0, 1, 2];
/// `tcp_syncookies` under the linux profile, by bits 3-4 of the second byte.
const SYNCOOKIES: [u8; 4] = [1, 2, 0, 1];
/// The most SYNs one burst sends (more than the largest SYN queue a case
/// can have, the backlog of 8 plus one).
pub const MAX_BURST: u16 = 16;

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
    /// Which connection (below [`CONNECTIONS`]) sends it.
    pub conn: u8,
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

/// SYNs from `count` sources of the peer's network that are none of the
/// case's connections (a script's `flood`): the addresses of 192.0.2.0/24
/// but the peer's, then the next port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Burst {
    /// 1 to [`MAX_BURST`].
    pub count: u16,
    pub seq: u32,
    pub window: u16,
    /// As a segment's (MSS, window scale, SACK-permitted, timestamps, ...).
    pub options: u8,
    pub option_arg: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Segment(Segment),
    /// A call on the socket of connection `conn`. Under [`Role::Listen`],
    /// `Accept` takes whichever connection is first in the accept queue;
    /// under [`Role::Connect`], `Accept` on connection 1 or 2 without a
    /// socket is a `connect()` to its port.
    Call {
        conn: u8,
        call: CallKind,
    },
    /// Advance time by this many microseconds; `None`: to the next timer.
    Wait(Option<u64>),
    SynBurst(Burst),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Case {
    pub header: Header,
    pub actions: Vec<Action>,
}

/// A case's two header bytes: byte 0 bit 0 the role, bits 1-2 the
/// backlog ([`BACKLOGS`]); byte 1 bit 0 the profile, bit 1 tcp_tw_reuse,
/// bit 2 tcp_abort_on_overflow, bits 3-4 tcp_syncookies. Every case
/// written before the queue's settings has 0 or 1 in each byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    pub role: Role,
    /// `true`: the linux profile; `false`: rfc9293.
    pub linux: bool,
    /// The listener's backlog: one of [`BACKLOGS`].
    pub backlog: u32,
    /// Under the linux profile: `tcp_syncookies` (0, 1 or 2),
    /// `tcp_abort_on_overflow`, and `tcp_tw_reuse` 1 with two ephemeral
    /// ports (`ip_local_port_range` 50000 50001: the reference stack gives
    /// each `connect()` a port of its own), so while connection 0 holds one,
    /// a second `connect()` on connection 1 needs its first one's TIME-WAIT.
    pub syncookies: u8,
    pub abort_on_overflow: bool,
    pub tw_reuse: bool,
}

impl Header {
    pub fn decode(bytes: &[u8]) -> Header {
        let (a, b) = (bytes.first().copied().unwrap_or(0), bytes.get(1).copied().unwrap_or(0));
        Header {
            role: if a & 1 == 1 { Role::Connect } else { Role::Listen },
            linux: b & 1 == 1,
            backlog: BACKLOGS[usize::from(a >> 1 & 3)],
            syncookies: SYNCOOKIES[usize::from(b >> 3 & 3)],
            abort_on_overflow: b & 4 != 0,
            tw_reuse: b & 2 != 0,
        }
    }

    /// The header with the profile `linux` (or rfc9293) and none of the
    /// Linux listen-queue sysctls: what a case runs as beside a stack that
    /// has no counterpart of them (differential runs).
    pub fn with_profile(self, linux: bool) -> Header {
        Header { linux, syncookies: 1, abort_on_overflow: false, tw_reuse: false, ..self }
    }

    pub fn encode(&self) -> [u8; HEADER] {
        let backlog = BACKLOGS.iter().position(|b| *b == self.backlog).unwrap_or(0) as u8;
        let cookies = SYNCOOKIES.iter().position(|c| *c == self.syncookies).unwrap_or(0) as u8;
        [
            u8::from(self.role == Role::Connect) | backlog << 1,
            u8::from(self.linux) | u8::from(self.tw_reuse) << 1 | u8::from(self.abort_on_overflow) << 2 | cookies << 3,
        ]
    }

    /// The sysctls that make a stack of the header's profile the one the
    /// case runs on (none when the bits are 0, as in every case before them).
    pub fn sysctls(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if !self.linux {
            return v;
        }
        if self.syncookies != 1 {
            v.push(("net.ipv4.tcp_syncookies", self.syncookies.to_string()));
        }
        if self.abort_on_overflow {
            v.push(("net.ipv4.tcp_abort_on_overflow", "1".to_string()));
        }
        if self.tw_reuse {
            v.push(("net.ipv4.tcp_tw_reuse", "1".to_string()));
            v.push(("net.ipv4.ip_local_port_range", "50000 50001".to_string()));
        }
        v
    }
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
        // The connection: the high bits of the kind byte (0 in every case
        // written before there were more).
        let conn = (r[0] >> 3) % CONNECTIONS;
        match r[0] % 8 {
            4 => Action::Call {
                conn,
                call: match r[1] % 10 {
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
                },
            },
            // Kind 7 with no connection bits: a burst (1 in 256 random
            // records: a burst costs as much as a dozen segments, and the
            // fuzzer's insert-burst mutation makes them where they count).
            _ if r[0] == 7 => Action::SynBurst(Burst {
                count: 1 + u16::from(r[1]) % MAX_BURST,
                seq: u32_at(r, 3),
                window: u16_at(r, 12),
                options: r[14],
                option_arg: r[15],
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
                    conn,
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
            Action::Call { conn, call } => {
                r[0] = 4 | (conn % CONNECTIONS) << 3;
                let (k, arg): (u8, u16) = match *call {
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
            Action::SynBurst(b) => {
                r[0] = 7;
                r[1] = (b.count.clamp(1, MAX_BURST) - 1) as u8;
                r[3..7].copy_from_slice(&b.seq.to_le_bytes());
                r[12..14].copy_from_slice(&b.window.to_le_bytes());
                r[14] = b.options;
                r[15] = b.option_arg;
            }
            Action::Segment(s) => {
                r[0] = (s.conn % CONNECTIONS) << 3;
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
        let header = Header::decode(bytes);
        let records = bytes.get(HEADER..).unwrap_or(&[]).chunks_exact(RECORD).take(MAX_RECORDS);
        let mut actions = Vec::with_capacity(records.len());
        actions.extend(records.map(|c| Action::from_record(c.try_into().expect("16 bytes"))));
        Case { header, actions }
    }

    /// A case of the given role and profile with every other header field
    /// as in a case before they existed.
    pub fn new(role: Role, linux: bool, actions: Vec<Action>) -> Case {
        let header = Header { role, linux, backlog: 8, syncookies: 1, abort_on_overflow: false, tw_reuse: false };
        Case { header, actions }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut b = self.header.encode().to_vec();
        for a in &self.actions {
            b.extend_from_slice(&a.to_record());
        }
        b
    }
}

/// Makes `bytes` a case of one connection, as every case was before there
/// were more: the header's queue bits cleared (backlog 8, the profile's
/// defaults), every record's connection bits cleared, a burst made a
/// segment (kind 6, as kind 7 decoded before bursts). `tcp-fuzz
/// --one-connection` runs only such cases.
pub fn confine_to_one_connection(bytes: &mut [u8]) {
    for b in bytes.iter_mut().take(HEADER) {
        *b &= 1;
    }
    for r in bytes.get_mut(HEADER..).unwrap_or(&mut []).chunks_exact_mut(RECORD) {
        if r[0] % 8 != 5 {
            r[0] &= 7;
            if r[0] == 7 {
                r[0] = 6;
            }
        }
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
                conn: 2,
                flags: 0x12,
                seq: SeqAt::Beyond(77),
                ack: AckAt::Raw(0xdead_beef),
                window: 1234,
                options: 0x0f,
                option_arg: 9,
                payload_len: 2000,
            }),
            Action::Call { conn: 0, call: CallKind::Send(3000) },
            Action::Call { conn: 1, call: CallKind::Shutdown(1) },
            Action::Wait(Some(1_500_000)),
            Action::Wait(None),
            Action::SynBurst(Burst { count: MAX_BURST, seq: 7, window: 512, options: 9, option_arg: 3 }),
        ];
        let mut c = Case::new(Role::Connect, true, actions);
        assert_eq!(Case::decode(&c.encode()), c);
        for backlog in BACKLOGS {
            for syncookies in 0..=2 {
                for bits in 0..4u8 {
                    (c.header.backlog, c.header.syncookies, c.header.abort_on_overflow, c.header.tw_reuse) =
                        (backlog, syncookies, bits & 1 != 0, bits & 2 != 0);
                    assert_eq!(Case::decode(&c.encode()), c);
                }
            }
        }
    }

    /// The header bytes of every case written before the connection and
    /// queue fields existed (0 or 1 each) decode as they did: backlog 8,
    /// the linux profile's defaults, no sysctls; records whose kind byte
    /// has no high bits are connection 0's.
    #[test]
    fn cases_before_the_queue_fields_mean_what_they_meant() {
        for (a, b) in [(0u8, 0u8), (0, 1), (1, 0), (1, 1)] {
            let h = Header::decode(&[a, b]);
            assert_eq!((h.backlog, h.syncookies, h.abort_on_overflow, h.tw_reuse), (8, 1, false, false));
            assert!(h.sysctls().is_empty());
            assert_eq!(h.encode(), [a, b]);
        }
        let mut r = [0u8; RECORD];
        for kind in [0u8, 4] {
            r[0] = kind;
            match Action::from_record(&r) {
                Action::Segment(s) => assert_eq!(s.conn, 0),
                Action::Call { conn, .. } => assert_eq!(conn, 0),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn confined_cases_have_one_connection_and_keep_the_rest() {
        for seed in 0..50u8 {
            let bytes: Vec<u8> = (0..2 + 16 * 20).map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed)).collect();
            let mut c = bytes.clone();
            confine_to_one_connection(&mut c);
            let (a, b) = (Case::decode(&c), Case::decode(&bytes));
            let (h, g) = (a.header, b.header);
            assert_eq!((h.backlog, h.syncookies, h.abort_on_overflow, h.tw_reuse), (8, 1, false, false));
            assert_eq!((h.role, h.linux), (g.role, g.linux));
            assert_eq!(a.actions.len(), b.actions.len());
            for (x, y) in a.actions.iter().zip(&b.actions) {
                match (x, y) {
                    (Action::Segment(s), Action::Segment(t)) => assert_eq!(*s, Segment { conn: 0, ..t.clone() }),
                    (Action::Call { conn, call }, Action::Call { call: d, .. }) => assert_eq!((*conn, call), (0, d)),
                    (Action::Segment(s), Action::SynBurst(_)) => assert_eq!(s.conn, 0),
                    (x, y) => assert_eq!(x, y),
                }
            }
        }
    }

    #[test]
    fn any_bytes_decode() {
        let mut u = Unstructured::new(&[7u8; 400]);
        let c = Case::arbitrary(&mut u).unwrap();
        assert_eq!(Case::decode(&c.encode()), c);
        assert!(Case::decode(&[]).actions.is_empty());
        assert_eq!(Case::decode(&[1, 1, 2]).header.role, Role::Connect);
    }
}
