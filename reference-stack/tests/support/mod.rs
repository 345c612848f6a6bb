//! A test rig in the style of smoltcp's socket tests: the test plays the
//! remote peer, injects segments at explicit virtual times, and expects the
//! stack's replies. Stack invariants are checked after every step.
#![allow(dead_code)]

use reference_stack::event::EventKind;
use reference_stack::wire::{IpPacket, IpRepr, TcpFlags, TcpOption, TcpRepr};
use reference_stack::{Domain, Fd, Instant, Profile, SeqNumber, Stack, StackConfig, State};
use std::net::SocketAddr;

pub const LOCAL: &str = "198.51.100.1:8080";
pub const REMOTE: &str = "192.0.2.1:40000";
/// The remote peer's ISN in every test.
pub const PEER_ISS: u32 = 1_000_000;

/// The states after the peer's SYN was taken (RFC 9293 3.10.7.4 "Otherwise").
pub const AFTER_SYN: [State; 8] = [
    State::SynReceived,
    State::Established,
    State::FinWait1,
    State::FinWait2,
    State::CloseWait,
    State::Closing,
    State::LastAck,
    State::TimeWait,
];

/// The synchronized states (RFC 9293 3.5.2): `AFTER_SYN` without SYN-RECEIVED.
pub const SYNCHRONIZED: [State; 7] = [
    State::Established,
    State::FinWait1,
    State::FinWait2,
    State::CloseWait,
    State::Closing,
    State::LastAck,
    State::TimeWait,
];

pub fn flags(s: &str) -> TcpFlags {
    let mut f = TcpFlags::NONE;
    for c in s.chars() {
        f |= match c {
            'S' => TcpFlags::SYN,
            'F' => TcpFlags::FIN,
            'R' => TcpFlags::RST,
            'P' => TcpFlags::PSH,
            'U' => TcpFlags::URG,
            '.' => TcpFlags::ACK,
            _ => panic!("bad flag {c}"),
        };
    }
    f
}

pub struct Rig {
    pub stack: Stack,
    pub now: Instant,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// The stack's ISS for the connection under test, once seen.
    pub iss: u32,
    /// What the peer sends next (absolute), and what it has acked.
    pub peer_nxt: u32,
}

impl Rig {
    pub fn new() -> Rig {
        Rig::with_profile(Profile::rfc9293())
    }

    pub fn with_profile(profile: Profile) -> Rig {
        let local: SocketAddr = LOCAL.parse().unwrap();
        let stack = Stack::new(StackConfig { addrs: vec![local.ip()], profile, seed: 42 });
        Rig { stack, now: Instant::ZERO, local, remote: REMOTE.parse().unwrap(), iss: 0, peer_nxt: PEER_ISS + 1 }
    }

    pub fn at_ms(&mut self, ms: u64) {
        self.now = Instant::from_millis(ms);
    }
    pub fn advance_ms(&mut self, ms: u64) {
        self.now += reference_stack::Duration::from_millis(ms);
    }

    /// A segment from the peer with a 65535 window and no options.
    pub fn seg(&self, f: &str, seq: u32, ack: u32) -> TcpRepr {
        TcpRepr {
            src_port: self.remote.port(),
            dst_port: self.local.port(),
            seq: SeqNumber(seq),
            ack: SeqNumber(ack),
            flags: flags(f),
            window: 65535,
            ..TcpRepr::default()
        }
    }

    /// Injects a segment as an IP datagram (checksums and all).
    pub fn inject(&mut self, seg: TcpRepr) {
        let p = IpPacket { ip: IpRepr::new(self.remote.ip(), self.local.ip()), tcp: seg };
        let bytes = p.emit().expect("test segment emits");
        self.stack.handle_packet(self.now, &bytes).expect("test segment parses");
        self.check();
    }

    /// The next segment the stack sends now, if any.
    pub fn out(&mut self) -> Option<TcpRepr> {
        let bytes = self.stack.poll_transmit(self.now)?;
        let p = IpPacket::parse(&bytes).expect("the stack emits valid packets");
        assert_eq!(p.ip.src, self.local.ip());
        assert_eq!(p.ip.dst, self.remote.ip());
        self.check();
        Some(p.tcp)
    }

    /// Expects exactly one segment with these flags, seq and ack (absolute).
    #[track_caller]
    pub fn expect(&mut self, f: &str, seq: u32, ack: Option<u32>) -> TcpRepr {
        let s = self.out().unwrap_or_else(|| panic!("expected {f} {seq} ack {ack:?} at {}, got nothing", self.now));
        assert_eq!(s.flags, flags(f), "flags of {s}");
        assert_eq!(s.seq.0, seq, "seq of {s}");
        if let Some(a) = ack {
            assert_eq!(s.ack.0, a, "ack of {s}");
        }
        s
    }

    #[track_caller]
    pub fn expect_nothing(&mut self) {
        if let Some(s) = self.out() {
            panic!("expected nothing at {}, got {s}", self.now);
        }
    }

    pub fn check(&self) {
        if let Err(v) = self.stack.check_invariants() {
            panic!("{v}");
        }
    }

    pub fn listen(&mut self) -> Fd {
        let fd = self.stack.socket(self.now, Domain::Inet).unwrap();
        self.stack.bind(self.now, fd, self.local).unwrap();
        self.stack.listen(self.now, fd, 8).unwrap();
        fd
    }

    /// Passive open to ESTABLISHED; returns (listener, accepted fd).
    pub fn passive_open(&mut self) -> (Fd, Fd) {
        let lfd = self.listen();
        let mut syn = self.seg("S", PEER_ISS, 0);
        syn.options = vec![TcpOption::Mss(1460)].into();
        self.inject(syn);
        let sa = self.out().expect("SYN-ACK");
        assert_eq!(sa.flags, flags("S."));
        assert_eq!(sa.ack.0, PEER_ISS + 1);
        self.iss = sa.seq.0;
        self.inject(self.seg(".", PEER_ISS + 1, self.iss + 1));
        self.expect_nothing();
        let (fd, peer) = self.stack.accept(self.now, lfd).unwrap();
        assert_eq!(peer, self.remote);
        assert_eq!(self.stack.state(fd).unwrap(), State::Established);
        (lfd, fd)
    }

    /// Active open to ESTABLISHED; returns the fd.
    pub fn active_open(&mut self) -> Fd {
        self.active_open_with(&[])
    }

    /// Active open to ESTABLISHED with these socket options set first (the
    /// peer's SYN,ACK offers MSS 1460); returns the fd.
    pub fn active_open_with(&mut self, opts: &[reference_stack::SockOpt]) -> Fd {
        let fd = self.stack.socket(self.now, Domain::Inet).unwrap();
        for o in opts {
            self.stack.setsockopt(self.now, fd, *o).unwrap();
        }
        self.stack.bind(self.now, fd, self.local).unwrap();
        assert_eq!(self.stack.connect(self.now, fd, self.remote), Err(reference_stack::Errno::EINPROGRESS));
        let syn = self.out().expect("SYN");
        assert_eq!(syn.flags, flags("S"));
        self.iss = syn.seq.0;
        let mut sa = self.seg("S.", PEER_ISS, self.iss + 1);
        sa.options = vec![TcpOption::Mss(1460)].into();
        self.inject(sa);
        self.expect(".", self.iss + 1, Some(PEER_ISS + 1));
        assert_eq!(self.stack.state(fd).unwrap(), State::Established);
        fd
    }

    /// The transitions logged so far, as (from, to).
    pub fn transitions(&self) -> Vec<(State, State)> {
        self.stack
            .events()
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Transition { from, to, .. } => Some((from, to)),
                _ => None,
            })
            .collect()
    }

    /// The state of the connection under test, with or without a descriptor.
    pub fn conn_state(&self) -> State {
        let t = reference_stack::FourTuple { local: self.local, remote: self.remote };
        self.stack.connection(&t).map_or(State::Closed, |s| s.state)
    }

    /// Our stack's next sequence number for the connection under test.
    pub fn snd_nxt(&self) -> u32 {
        let t = reference_stack::FourTuple { local: self.local, remote: self.remote };
        self.stack.connection(&t).map(|s| s.snd_nxt.0).expect("connection exists")
    }
    pub fn rcv_nxt(&self) -> u32 {
        let t = reference_stack::FourTuple { local: self.local, remote: self.remote };
        self.stack.connection(&t).map(|s| s.rcv_nxt.0).expect("connection exists")
    }

    /// Drives a fresh connection into `target` and returns the fd (if any).
    /// Paths: passive open for SYN-RECEIVED; active open plus closes for the rest.
    pub fn drive_to(&mut self, target: State) -> Option<Fd> {
        let p = PEER_ISS + 1;
        match target {
            State::SynReceived => {
                self.listen();
                self.inject(self.seg("S", PEER_ISS, 0));
                self.iss = self.out().expect("SYN-ACK").seq.0;
                None
            }
            State::SynSent => {
                let fd = self.stack.socket(self.now, Domain::Inet).unwrap();
                self.stack.bind(self.now, fd, self.local).unwrap();
                let _ = self.stack.connect(self.now, fd, self.remote);
                self.iss = self.out().expect("SYN").seq.0;
                Some(fd)
            }
            State::Established => Some(self.active_open()),
            State::FinWait1 => {
                let fd = self.active_open();
                self.stack.shutdown(self.now, fd, reference_stack::Shutdown::Write).unwrap();
                self.expect("F.", self.iss + 1, Some(p));
                Some(fd)
            }
            State::FinWait2 => {
                let fd = self.drive_to(State::FinWait1)?;
                self.inject(self.seg(".", p, self.iss + 2));
                self.expect_nothing();
                Some(fd)
            }
            State::CloseWait => {
                let fd = self.active_open();
                self.inject(self.seg("F.", p, self.iss + 1));
                self.expect(".", self.iss + 1, Some(p + 1));
                self.peer_nxt = p + 1;
                Some(fd)
            }
            State::Closing => {
                let fd = self.drive_to(State::FinWait1)?;
                self.inject(self.seg("F.", p, self.iss + 1));
                self.expect(".", self.iss + 2, Some(p + 1));
                self.peer_nxt = p + 1;
                Some(fd)
            }
            State::LastAck => {
                let fd = self.drive_to(State::CloseWait)?;
                self.stack.shutdown(self.now, fd, reference_stack::Shutdown::Write).unwrap();
                self.expect("F.", self.iss + 1, Some(p + 1));
                Some(fd)
            }
            State::TimeWait => {
                let fd = self.drive_to(State::FinWait2)?;
                self.inject(self.seg("F.", p, self.iss + 2));
                self.expect(".", self.iss + 2, Some(p + 1));
                self.peer_nxt = p + 1;
                Some(fd)
            }
            State::Closed | State::Listen => None,
        }
        .inspect(|_| assert_eq!(self.conn_state(), target))
        .or_else(|| {
            assert_eq!(self.conn_state(), target);
            None
        })
    }
}
