//! Receive and send paths: reassembly, SACK, timestamps and PAWS, windows,
//! Nagle, retransmission, malformed packets, and two stacks talking.
mod support;

use reference_stack::event::{DropReason, EventKind};
use reference_stack::wire::{IpPacket, IpRepr, TcpOption, TcpRepr, WireError};
use reference_stack::{Domain, Duration, Errno, Instant, Profile, SeqNumber, SockOpt, Stack, StackConfig, State};
use support::*;

const P: u32 = PEER_ISS + 1;

fn data(r: &Rig, seq: u32, bytes: &[u8]) -> TcpRepr {
    let mut d = r.seg(".", seq, r.iss + 1);
    d.payload = bytes.to_vec();
    d
}

fn sack_of(s: &TcpRepr) -> Vec<(u32, u32)> {
    s.sack_blocks().iter().map(|(l, r)| (l.0, r.0)).collect()
}

#[test]
fn reassembly_with_holes_and_overlaps_and_sack_blocks() {
    let mut r = Rig::new();
    // The peer offers SACK; our SYN did too.
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.bind(r.now, fd, r.local).unwrap();
    let _ = r.stack.connect(r.now, fd, r.remote);
    r.iss = r.out().unwrap().seq.0;
    let mut sa = r.seg("S.", PEER_ISS, r.iss + 1);
    sa.options = vec![TcpOption::Mss(1460), TcpOption::SackPermitted].into();
    r.inject(sa);
    r.expect(".", r.iss + 1, Some(P));

    // Octets 0..10 = "0123456789". Send 4..6, then 8..10, then 2..5 (overlap).
    r.inject(data(&r, P + 4, b"45"));
    // SHLD-31 + RFC 5681 4.2: held, immediate duplicate ACK with SACK.
    let a = r.expect(".", r.iss + 1, Some(P));
    assert_eq!(sack_of(&a), vec![(P + 4, P + 6)]);
    r.inject(data(&r, P + 8, b"89"));
    let a = r.expect(".", r.iss + 1, Some(P));
    // RFC 2018 4: the first block is the most recent one.
    assert_eq!(sack_of(&a), vec![(P + 8, P + 10), (P + 4, P + 6)]);
    r.inject(data(&r, P + 2, b"23X"));
    let a = r.expect(".", r.iss + 1, Some(P));
    assert_eq!(sack_of(&a), vec![(P + 2, P + 6), (P + 8, P + 10)]);
    assert_eq!(r.stack.status(fd).unwrap().ooo_bytes, 6);
    // Fill the first gap: ACK at once (gap filling), up to the next hole.
    r.inject(data(&r, P, b"01"));
    let a = r.expect(".", r.iss + 1, Some(P + 6));
    assert_eq!(sack_of(&a), vec![(P + 8, P + 10)]);
    r.inject(data(&r, P + 6, b"67"));
    let a = r.expect(".", r.iss + 1, Some(P + 10));
    assert!(a.sack_blocks().is_empty());
    // The octet already held ("4") won over the overlapping "X".
    assert_eq!(r.stack.recv(r.now, fd, 100, false).unwrap(), b"0123456789");
}

#[test]
fn out_of_order_fin_is_processed_when_the_gap_fills() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    let mut f = data(&r, P + 3, b"def");
    f.flags = flags("F.");
    r.inject(f);
    r.expect(".", r.iss + 1, Some(P));
    assert_eq!(r.conn_state(), State::Established);
    r.inject(data(&r, P, b"abc"));
    r.expect(".", r.iss + 1, Some(P + 7));
    assert_eq!(r.conn_state(), State::CloseWait);
    assert_eq!(r.stack.recv(r.now, fd, 100, false).unwrap(), b"abcdef");
    assert_eq!(r.stack.recv(r.now, fd, 100, false).unwrap(), b"");
}

#[test]
fn reassembly_queue_is_bounded() {
    let mut p = Profile::rfc9293();
    p.max_ooo_blocks = 3;
    let mut r = Rig::with_profile(p);
    r.drive_to(State::Established);
    for i in 0..5u32 {
        r.inject(data(&r, P + 10 + 10 * i, b"x"));
        let _ = r.out();
    }
    let t = reference_stack::FourTuple { local: r.local, remote: r.remote };
    assert_eq!(r.stack.connection(&t).unwrap().ooo_bytes, 3);
    assert!(r
        .stack
        .events()
        .iter()
        .any(|e| matches!(e.kind, EventKind::Dropped { reason: DropReason::ReassemblyFull, .. })));
}

/// A connection with timestamps negotiated; the peer's TSval starts at 100.
fn ts_rig() -> (Rig, i32) {
    let mut r = Rig::new();
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.bind(r.now, fd, r.local).unwrap();
    let _ = r.stack.connect(r.now, fd, r.remote);
    let syn = r.out().unwrap();
    r.iss = syn.seq.0;
    let (our_ts, _) = syn.timestamps().unwrap();
    let mut sa = r.seg("S.", PEER_ISS, r.iss + 1);
    sa.options = vec![TcpOption::Mss(1460), TcpOption::Timestamps { tsval: 100, tsecr: our_ts }].into();
    r.inject(sa);
    let a = r.expect(".", r.iss + 1, Some(P));
    // RFC 7323 3.2: TSopt on every segment; TSecr echoes TS.Recent.
    assert_eq!(a.timestamps().unwrap().1, 100);
    (r, fd)
}

fn with_ts(mut s: TcpRepr, tsval: u32) -> TcpRepr {
    s.options = vec![TcpOption::Nop, TcpOption::Nop, TcpOption::Timestamps { tsval, tsecr: 0 }].into();
    s
}

#[test]
fn paws_rejects_old_timestamps_and_updates_ts_recent() {
    let (mut r, fd) = ts_rig();
    let st = r.stack.status(fd).unwrap();
    assert!(st.timestamps);
    // MUST-16: 1460 + 20 - 20 - 12 (timestamps).
    assert_eq!(st.snd_mss, 1448);
    r.inject(with_ts(data(&r, P, b"new"), 200));
    r.advance_ms(200);
    let a = r.expect(".", r.iss + 1, Some(P + 3));
    assert_eq!(a.timestamps().unwrap().1, 200, "TS.Recent updated");
    // PAWS (RFC 7323 5.3): TSval 150 < TS.Recent 200: ACK and drop.
    r.inject(with_ts(data(&r, P + 3, b"old"), 150));
    let a = r.expect(".", r.iss + 1, Some(P + 3));
    assert_eq!(a.timestamps().unwrap().1, 200);
    assert_eq!(r.stack.recv(r.now, fd, 100, false).unwrap(), b"new");
    assert!(r.stack.events().iter().any(|e| matches!(e.kind, EventKind::Dropped { reason: DropReason::Paws, .. })));
    // Wrap-around: 2^32 - 1 is older than 200, 200 + 2^31 - 1 is newer.
    r.inject(with_ts(data(&r, P + 3, b"w"), u32::MAX));
    r.expect(".", r.iss + 1, Some(P + 3));
    r.inject(with_ts(data(&r, P + 3, b"n"), 200 + (1 << 31) - 1));
    r.advance_ms(200);
    r.expect(".", r.iss + 1, Some(P + 4));
    // RFC 7323 3.2: a non-RST segment without TSopt is dropped silently.
    r.inject(data(&r, P + 4, b"x"));
    r.expect_nothing();
    assert!(r
        .stack
        .events()
        .iter()
        .any(|e| matches!(e.kind, EventKind::Dropped { reason: DropReason::MissingTimestamp, .. })));
    // A RST is exempt from PAWS and needs no TSopt.
    r.inject(r.seg("R", P + 4, 0));
    assert_eq!(r.stack.state(fd).unwrap(), State::Closed);
}

#[test]
fn malformed_packets_are_typed_errors_and_change_nothing() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    let good = IpPacket { ip: IpRepr::new(r.remote.ip(), r.local.ip()), tcp: data(&r, P, b"abc") }.emit().unwrap();
    let before = r.stack.status(fd).unwrap();
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut b = good.clone();
    b[40] ^= 0xff; // payload byte: TCP checksum fails (MUST-3)
    cases.push(("bad checksum", b));
    let mut b = good.clone();
    b[32] = 0x40; // data offset 4 words
    cases.push(("data offset 4", b));
    let mut b = good.clone();
    b[32] = 0xf0; // data offset 15 words > segment
    cases.push(("data offset 15", b));
    // An option with length 1 (MUST-7).
    let mut seg = data(&r, P, b"abc");
    seg.options =
        vec![TcpOption::Unknown { kind: 99, data: reference_stack::wire::OptionData::new(&[]).unwrap() }].into();
    let mut b = IpPacket { ip: IpRepr::new(r.remote.ip(), r.local.ip()), tcp: seg }.emit().unwrap();
    b[41] = 1;
    cases.push(("option length 1", b));
    cases.push(("truncated", good[..30].to_vec()));
    cases.push(("empty", vec![]));
    for (what, bytes) in cases {
        let res = r.stack.handle_packet(r.now, &bytes);
        assert!(res.is_err(), "{what} accepted");
        r.expect_nothing();
        r.check();
    }
    assert!(matches!(r.stack.handle_packet(r.now, &[0x45; 3]), Err(WireError::Truncated { .. })));
    let after = r.stack.status(fd).unwrap();
    assert_eq!(before.rcv_nxt, after.rcv_nxt);
    let n = r
        .stack
        .events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Dropped { reason: DropReason::Malformed(_), .. }))
        .count();
    assert_eq!(n, 7);
    // The good one still works.
    r.stack.handle_packet(r.now, &good).unwrap();
    assert_eq!(r.stack.recv(r.now, fd, 10, false).unwrap(), b"abc");
}

#[test]
fn unknown_options_are_ignored_and_options_parse_anywhere() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    let mut d = data(&r, P, b"abc");
    // MUST-5/6: an unknown option and an MSS on a non-SYN segment are ignored.
    d.options = vec![
        TcpOption::Unknown { kind: 253, data: reference_stack::wire::OptionData::new(&[1, 2, 3]).unwrap() },
        TcpOption::Mss(100),
        TcpOption::Nop,
    ]
    .into();
    r.inject(d);
    assert_eq!(r.stack.recv(r.now, fd, 10, false).unwrap(), b"abc");
    assert_eq!(r.stack.status(fd).unwrap().snd_mss, 1460);
}

#[test]
fn effective_mss_default_without_option_must_15() {
    let mut r = Rig::new();
    r.listen();
    r.inject(r.seg("S", PEER_ISS, 0));
    r.iss = r.out().unwrap().seq.0;
    r.inject(r.seg(".", P, r.iss + 1));
    let t = reference_stack::FourTuple { local: r.local, remote: r.remote };
    assert_eq!(r.stack.connection(&t).unwrap().snd_mss, 536);
}

#[test]
fn send_segments_by_mss_psh_on_last_and_nagle_holds_small_segments() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    // IW per RFC 5681 for SMSS 1460: 4380 octets. Two full segments go out;
    // the 80-octet tail waits under Nagle (RFC 9293 3.7.4: buffer "until the
    // outstanding data has been acknowledged").
    let n = r.stack.send(r.now, fd, &[1u8; 3000], false).unwrap();
    assert_eq!(n, 3000);
    let a = r.expect(".", r.iss + 1, Some(P));
    assert_eq!(a.payload.len(), 1460);
    let b = r.expect(".", r.iss + 1461, Some(P));
    assert_eq!(b.payload.len(), 1460);
    r.expect_nothing();
    r.inject(r.seg(".", P, r.iss + 2921));
    // MUST-61: PSH on the segment that empties the buffer.
    let c = r.expect("P.", r.iss + 2921, Some(P));
    assert_eq!(c.payload.len(), 80);
    r.inject(r.seg(".", P, r.iss + 3001));
    // Nagle (SHLD-7): a small write waits while data is unacknowledged.
    r.stack.send(r.now, fd, b"small", false).unwrap();
    r.stack.send(r.now, fd, b"!", false).unwrap();
    let d = r.expect("P.", r.iss + 3001, Some(P));
    assert_eq!(d.payload, b"small");
    r.expect_nothing();
    r.advance_ms(10);
    r.inject(r.seg(".", P, r.iss + 3006));
    let d = r.expect("P.", r.iss + 3006, Some(P));
    assert_eq!(d.payload, b"!");
    // TCP_NODELAY (MUST-17) sends at once, even with data outstanding.
    r.stack.setsockopt(r.now, fd, SockOpt::NoDelay(true)).unwrap();
    r.stack.send(r.now, fd, b"more", false).unwrap();
    r.expect("P.", r.iss + 3007, Some(P));
}

#[test]
fn receiver_window_shrinks_with_data_and_reopens_by_sws_rule() {
    let mut p = Profile::rfc9293();
    p.window_scaling = false;
    let mut r = Rig::with_profile(p);
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::RcvBuf(4000)).unwrap();
    r.stack.bind(r.now, fd, r.local).unwrap();
    let _ = r.stack.connect(r.now, fd, r.remote);
    r.iss = r.out().unwrap().seq.0;
    let mut sa = r.seg("S.", PEER_ISS, r.iss + 1);
    sa.options = vec![TcpOption::Mss(1000)].into();
    r.inject(sa);
    assert_eq!(r.expect(".", r.iss + 1, Some(P)).window, 4000);
    r.inject(data(&r, P, &[0; 1000]));
    r.inject(data(&r, P + 1000, &[0; 1000]));
    // Two full-sized segments: ACK now (SHLD-19).
    assert_eq!(r.expect(".", r.iss + 1, Some(P + 2000)).window, 2000);
    r.inject(data(&r, P + 2000, &[0; 1500]));
    r.advance_ms(200);
    assert_eq!(r.expect(".", r.iss + 1, Some(P + 3500)).window, 500);
    // Reading 100 octets would open the window by less than min(BUF/2, Eff.snd.MSS)
    // = min(2000, 1000): no update (MUST-39).
    r.stack.recv(r.now, fd, 100, false).unwrap();
    r.expect_nothing();
    // Reading 1000 more opens it by 1100 >= 1000: a window update.
    r.stack.recv(r.now, fd, 1000, false).unwrap();
    assert_eq!(r.expect(".", r.iss + 1, Some(P + 3500)).window, 1600);
}

#[test]
fn window_update_rule_ignores_old_segments() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.inject(data(&r, P, b"abc"));
    let mut w = r.seg(".", P + 3, r.iss + 1);
    w.window = 1000;
    r.inject(w);
    assert_eq!(r.stack.status(fd).unwrap().snd_wnd, 1000);
    // An older segment (SEG.SEQ < SND.WL1) does not change SND.WND.
    let mut old = r.seg(".", P, r.iss + 1);
    old.window = 9;
    r.inject(old);
    assert_eq!(r.stack.status(fd).unwrap().snd_wnd, 1000);
    assert_eq!(r.stack.status(fd).unwrap().max_snd_wnd, 65535);
}

#[test]
fn retransmission_with_exponential_backoff_and_karn() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.send(r.now, fd, b"hello", false).unwrap();
    r.expect("P.", r.iss + 1, Some(P));
    // Initial RTO 1 s (RFC 6298 2.1), then doubled (5.5).
    assert_eq!(r.stack.poll_timeout(), Some(Instant::from_secs(1)));
    r.at_ms(1000);
    r.expect("P.", r.iss + 1, Some(P));
    assert_eq!(r.stack.poll_timeout(), Some(Instant::from_secs(3)));
    r.at_ms(3000);
    r.expect("P.", r.iss + 1, Some(P));
    assert_eq!(r.stack.status(fd).unwrap().total_retransmits, 2);
    // The handshake at t=0 gave the first sample, R = 0.
    // The ACK of a retransmitted segment gives no RTT sample (MUST-18).
    r.at_ms(3100);
    r.inject(r.seg(".", P, r.iss + 6));
    assert_eq!(r.stack.status(fd).unwrap().srtt, Some(Duration::ZERO));
    assert_eq!(r.stack.poll_timeout(), None);
    // A fresh segment gives a sample: SRTT = 7/8*0 + 1/8*50 ms, RTTVAR = 3/4*0 + 1/4*50 ms.
    r.stack.send(r.now, fd, b"x", false).unwrap();
    r.expect("P.", r.iss + 6, Some(P));
    r.at_ms(3150);
    r.inject(r.seg(".", P, r.iss + 7));
    let st = r.stack.status(fd).unwrap();
    assert_eq!(st.srtt, Some(Duration::from_micros(6_250)));
    assert_eq!(st.rttvar, Some(Duration::from_micros(12_500)));
    // RFC 6298 2.4: rounded up to the 1 s minimum.
    assert_eq!(st.rto, Duration::from_secs(1));
}

#[test]
fn syn_retransmission_and_give_up() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::SynSent).unwrap();
    let mut times = vec![];
    while let Some(t) = r.stack.poll_timeout() {
        r.now = t;
        if let Some(s) = r.out() {
            assert_eq!(s.flags, flags("S"));
            times.push(t.total_millis() / 1000);
        }
    }
    // 1, 2, 4, ... s backoff; 8 retransmissions; R2 for a SYN well over 3 min (MUST-23).
    assert_eq!(times, vec![1, 3, 7, 15, 31, 63, 123, 183]);
    assert_eq!(r.stack.state(fd).unwrap(), State::Closed);
    assert!(r.now >= Instant::from_secs(180));
    assert_eq!(r.stack.recv(r.now, fd, 1, false), Err(Errno::ETIMEDOUT));
}

#[test]
fn zero_window_probe_goes_out_and_window_may_stay_closed() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    let mut z = r.seg(".", P, r.iss + 1);
    z.window = 0;
    r.inject(z);
    r.stack.send(r.now, fd, b"data", false).unwrap();
    r.expect_nothing();
    // First probe after one RTO, one octet (MUST-36, SHLD-29).
    r.at_ms(1000);
    let p1 = r.expect(".", r.iss + 1, Some(P));
    assert_eq!(p1.payload.len(), 1);
    for _ in 0..20 {
        let t = r.stack.poll_timeout().unwrap();
        r.now = t;
        let probe = r.out().unwrap_or_else(|| panic!("no probe at {t}"));
        assert_eq!(probe.payload.len(), 1);
        let mut z = r.seg(".", P, r.iss + 1);
        z.window = 0;
        r.inject(z);
    }
    // MUST-37: still open after many probes.
    assert_eq!(r.stack.state(fd).unwrap(), State::Established);
    let mut open = r.seg(".", P, r.iss + 1);
    open.window = 1000;
    r.inject(open);
    let d = r.out().unwrap();
    assert_eq!(d.payload, b"data");
}

#[test]
fn keepalive_is_off_by_default_and_probes_when_enabled() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    assert_eq!(r.stack.poll_timeout(), None, "MUST-25: off by default");
    r.stack.setsockopt(r.now, fd, SockOpt::KeepAlive(true)).unwrap();
    // MUST-28: 2 hours.
    assert_eq!(r.stack.poll_timeout(), Some(Instant::from_secs(7200)));
    r.now = Instant::from_secs(7200);
    // SHLD-12: <SEQ=SND.NXT-1>, no data.
    let k = r.expect(".", r.iss, Some(P));
    assert!(k.payload.is_empty());
    r.inject(r.seg(".", P, r.iss + 1));
    assert_eq!(r.stack.poll_timeout(), Some(Instant::from_secs(2 * 7200)));
}

/// Two stacks joined by a perfect link, in virtual time: 1 MB each way.
#[test]
fn two_stacks_transfer_a_megabyte_each_way_and_close() {
    let a_addr: std::net::SocketAddr = "192.0.2.1:5000".parse().unwrap();
    let b_addr: std::net::SocketAddr = "198.51.100.1:80".parse().unwrap();
    let mut a = Stack::new(StackConfig { addrs: vec![a_addr.ip()], profile: Profile::rfc9293(), seed: 1 });
    let mut b = Stack::new(StackConfig { addrs: vec![b_addr.ip()], profile: Profile::rfc9293(), seed: 2 });
    let mut now = Instant::ZERO;
    let lfd = b.socket(now, Domain::Inet).unwrap();
    b.bind(now, lfd, b_addr).unwrap();
    b.listen(now, lfd, 4).unwrap();
    let afd = a.socket(now, Domain::Inet).unwrap();
    let _ = a.connect(now, afd, b_addr);
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let (mut sent_a, mut sent_b, mut got_a, mut got_b) = (0usize, 0usize, Vec::new(), Vec::new());
    let mut bfd = None;
    let mut closed = false;
    for _ in 0..200_000 {
        // Deliver everything in flight after a 1 ms one-way delay.
        let mut moved = false;
        while let Some(p) = a.poll_transmit(now) {
            b.handle_packet(now + Duration::from_millis(1), &p).unwrap();
            moved = true;
        }
        while let Some(p) = b.poll_transmit(now) {
            a.handle_packet(now + Duration::from_millis(1), &p).unwrap();
            moved = true;
        }
        now = now.max(a.now()).max(b.now());
        if bfd.is_none() {
            bfd = b.accept(now, lfd).ok().map(|x| x.0);
        }
        if let Some(bfd) = bfd {
            if sent_a < payload.len() {
                sent_a += a.send(now, afd, &payload[sent_a..], false).unwrap_or(0);
            }
            if sent_b < payload.len() {
                sent_b += b.send(now, bfd, &payload[sent_b..], false).unwrap_or(0);
            }
            if let Ok(d) = a.recv(now, afd, 1 << 20, false) {
                got_a.extend(d);
            }
            if let Ok(d) = b.recv(now, bfd, 1 << 20, false) {
                got_b.extend(d);
            }
            if got_a.len() == payload.len() && got_b.len() == payload.len() && !closed {
                a.close(now, afd).unwrap();
                b.close(now, bfd).unwrap();
                closed = true;
            }
        }
        a.check_invariants().unwrap();
        b.check_invariants().unwrap();
        if !moved {
            // Jump to the next timer.
            match [a.poll_timeout(), b.poll_timeout()].into_iter().flatten().min() {
                Some(t) => now = now.max(t),
                None => break,
            }
        }
    }
    assert_eq!(got_a, payload);
    assert_eq!(got_b, payload);
    assert!(closed);
    // Simultaneous close: both through CLOSING or FIN-WAIT-2 to TIME-WAIT, then CLOSED.
    assert!(a.connections().is_empty() && b.connections().is_empty());
    assert!(now >= Instant::from_secs(240), "TIME-WAIT lasted 2 MSL");
    let _ = SeqNumber(0);
}

#[test]
fn ipv6_passive_open_uses_v6_mss_numbers() {
    let local: std::net::SocketAddr = "[2001:db8::1]:8080".parse().unwrap();
    let remote: std::net::SocketAddr = "[2001:db8:1::1]:40000".parse().unwrap();
    let mut stack = Stack::new(StackConfig { addrs: vec![local.ip()], profile: Profile::rfc9293(), seed: 9 });
    let now = Instant::ZERO;
    let lfd = stack.socket(now, Domain::Inet6).unwrap();
    assert_eq!(stack.bind(now, lfd, "192.0.2.1:1".parse().unwrap()), Err(Errno::EAFNOSUPPORT));
    stack.bind(now, lfd, local).unwrap();
    stack.listen(now, lfd, 4).unwrap();
    let send = |stack: &mut Stack, tcp: TcpRepr| {
        let b = IpPacket { ip: IpRepr::new(remote.ip(), local.ip()), tcp }.emit().unwrap();
        stack.handle_packet(now, &b).unwrap();
    };
    let syn = TcpRepr {
        src_port: 40000,
        dst_port: 8080,
        seq: SeqNumber(7),
        flags: flags("S"),
        window: 65535,
        ..TcpRepr::default()
    };
    send(&mut stack, syn);
    let out = IpPacket::parse(&stack.poll_transmit(now).unwrap()).unwrap();
    assert_eq!((out.ip.src, out.ip.dst), (local.ip(), remote.ip()));
    // MUST-67: MTU 1500 - 40 (IPv6) - 20.
    assert_eq!(out.tcp.mss(), Some(1440));
    let iss = out.tcp.seq.0;
    let ack = TcpRepr { seq: SeqNumber(8), ack: SeqNumber(iss + 1), flags: flags("."), ..out.tcp.clone() };
    let ack = TcpRepr { src_port: 40000, dst_port: 8080, options: Default::default(), window: 65535, ..ack };
    send(&mut stack, ack);
    let (fd, peer) = stack.accept(now, lfd).unwrap();
    assert_eq!(peer, remote);
    // MUST-15: no MSS option from the peer: 1220 for IPv6.
    assert_eq!(stack.status(fd).unwrap().snd_mss, 1220);
    stack.check_invariants().unwrap();
}

/// MUST-39 with a buffer smaller than two segments: the window reopens by
/// at least half the buffer (the other side of min(BUF/2, Eff.snd.MSS)).
#[test]
fn a_small_buffer_reopens_its_window_by_half_the_buffer() {
    let mut p = Profile::rfc9293();
    p.window_scaling = false;
    let mut r = Rig::with_profile(p);
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::RcvBuf(1000)).unwrap();
    r.stack.bind(r.now, fd, r.local).unwrap();
    let _ = r.stack.connect(r.now, fd, r.remote);
    r.iss = r.out().unwrap().seq.0;
    let mut sa = r.seg("S.", PEER_ISS, r.iss + 1);
    sa.options = vec![TcpOption::Mss(1460)].into();
    r.inject(sa);
    assert_eq!(r.expect(".", r.iss + 1, Some(P)).window, 1000);
    r.inject(data(&r, P, &[0; 600]));
    r.advance_ms(200);
    assert_eq!(r.expect(".", r.iss + 1, Some(P + 600)).window, 400);
    // 100 read: the window could open by 100 < 1000 / 2.
    r.stack.recv(r.now, fd, 100, false).unwrap();
    r.expect_nothing();
    assert_eq!(r.stack.status(fd).unwrap().rcv_wnd, 400);
    // 50 more arrive: the ACK's window is what was left (350), not the
    // free space (450): the edge moves only by half the buffer.
    r.inject(data(&r, P + 600, &[0; 50]));
    r.advance_ms(200);
    assert_eq!(r.expect(".", r.iss + 1, Some(P + 650)).window, 350);
    // 450 more read (100 left): free 900, by 550 >= 500: a window update.
    r.stack.recv(r.now, fd, 450, false).unwrap();
    assert_eq!(r.expect(".", r.iss + 1, Some(P + 650)).window, 900);
}

/// RFC 7323 2.2, 2.3: with window scaling the field carries the window
/// shifted right by our scale (the SYN's never), and a window above 65535
/// is offered.
#[test]
fn a_scaled_window_offers_the_whole_buffer() {
    let mut r = Rig::with_profile(Profile::rfc9293());
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::RcvBuf(1_000_000)).unwrap();
    r.stack.bind(r.now, fd, r.local).unwrap();
    let _ = r.stack.connect(r.now, fd, r.remote);
    let syn = r.out().unwrap();
    r.iss = syn.seq.0;
    let shift = u32::from(syn.window_scale().expect("window scale offered"));
    assert!(shift > 0);
    assert_eq!(syn.window, 65535, "a SYN's window is not scaled");
    let mut sa = r.seg("S.", PEER_ISS, r.iss + 1);
    sa.options = vec![TcpOption::Mss(1460), TcpOption::WindowScale(2)].into();
    r.inject(sa);
    let ack = r.expect(".", r.iss + 1, Some(P));
    let wnd = u32::from(ack.window) << shift;
    assert!(wnd > 1_000_000 - (1 << shift) && wnd <= 1_000_000, "{wnd}");
    assert_eq!(r.stack.status(fd).unwrap().rcv_wnd, wnd);
    // 600000 octets arrive unread: the right edge stays.
    for i in 0..600u32 {
        r.inject(data(&r, P + i * 1000, &[0; 1000]));
    }
    r.advance_ms(200);
    let last = std::iter::from_fn(|| r.out()).last().expect("ACKs");
    assert_eq!(last.ack.0, P + 600_000);
    assert_eq!(u32::from(last.window) << shift, wnd - 600_000 - (wnd - 600_000) % (1 << shift));
    // Read (the peer's view is below half the buffer): the window opens to
    // the whole buffer again.
    assert_eq!(r.stack.recv(r.now, fd, 1_000_000, false).unwrap().len(), 600_000);
    let upd = r.out().expect("a window update");
    assert_eq!(u32::from(upd.window) << shift, wnd);
}

/// The SND.WL1/SND.WL2 rule (RFC 9293 3.10.7.4, fifth step) on an
/// acceptable segment that is older than the last window update: it
/// carries new octets, but its window is not taken.
#[test]
fn an_acceptable_older_segment_does_not_update_the_window() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.inject(data(&r, P, b"abc"));
    let mut w = r.seg(".", P + 3, r.iss + 1);
    w.window = 1000;
    r.inject(w);
    assert_eq!(r.stack.status(fd).unwrap().snd_wnd, 1000);
    // Straddles RCV.NXT (so it is acceptable) but starts before SND.WL1.
    let mut old = data(&r, P + 1, b"bcdef");
    old.window = 9;
    r.inject(old);
    assert_eq!(r.rcv_nxt(), P + 6, "its new octets were taken");
    assert_eq!(r.stack.status(fd).unwrap().snd_wnd, 1000, "its window was not");
    // A newer one is.
    let mut newer = data(&r, P + 6, b"g");
    newer.window = 2000;
    r.inject(newer);
    assert_eq!(r.stack.status(fd).unwrap().snd_wnd, 2000);
}

/// With window scaling, a duplicate ACK's window is compared scaled
/// (RFC 5681 2's "the advertised window does not change"): three of them
/// still make a fast retransmit.
#[test]
fn fast_retransmit_with_a_scaled_window() {
    let mut r = Rig::new();
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.bind(r.now, fd, r.local).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::NoDelay(true)).unwrap();
    let _ = r.stack.connect(r.now, fd, r.remote);
    r.iss = r.out().unwrap().seq.0;
    let mut sa = r.seg("S.", PEER_ISS, r.iss + 1);
    sa.options = vec![TcpOption::Mss(1000), TcpOption::WindowScale(3)].into();
    r.inject(sa);
    let _ = r.out();
    let mut w = r.seg(".", P, r.iss + 1);
    w.window = 5000;
    r.inject(w);
    assert_eq!(r.stack.status(fd).unwrap().snd_wnd, 40_000);
    r.stack.send(r.now, fd, &[7u8; 4000], false).unwrap();
    assert_eq!(std::iter::from_fn(|| r.out()).count(), 4);
    for _ in 0..3 {
        let mut d = r.seg(".", P, r.iss + 1);
        d.window = 5000;
        r.inject(d);
    }
    let fr = r.out().expect("a fast retransmit");
    assert_eq!((fr.seq.0, fr.payload.len()), (r.iss + 1, 1000));
}

/// A retransmission timeout with the peer's window shut sends the first
/// segment anyway: it is the window's probe (RFC 9293 3.8.6.1).
#[test]
fn an_rto_into_a_closed_window_still_retransmits_from_snd_una() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.send(r.now, fd, &[1u8; 500], false).unwrap();
    assert_eq!(r.out().unwrap().payload.len(), 500);
    let mut z = r.seg(".", P, r.iss + 1);
    z.window = 0;
    r.inject(z);
    r.now = r.stack.poll_timeout().unwrap();
    let rtx = r.out().expect("the retransmission");
    assert_eq!((rtx.seq.0, rtx.payload.len()), (r.iss + 1, 500));
}

/// The FIN takes a sequence number, so it needs room in the window: data
/// that fills the window goes without it, and the FIN follows when the
/// window opens.
#[test]
fn a_fin_waits_for_room_in_the_window() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    let mut w = r.seg(".", P, r.iss + 1);
    w.window = 100;
    r.inject(w);
    r.stack.send(r.now, fd, &[1u8; 100], false).unwrap();
    r.stack.shutdown(r.now, fd, reference_stack::Shutdown::Write).unwrap();
    let d = r.out().expect("the data");
    assert_eq!((d.payload.len(), d.flags.fin()), (100, false));
    r.expect_nothing();
    let mut w = r.seg(".", P, r.iss + 101);
    w.window = 100;
    r.inject(w);
    let f = r.expect("F.", r.iss + 101, Some(P));
    assert!(f.payload.is_empty());
}

/// Fast retransmit sends again only what was sent: a short segment with
/// more octets queued behind it (held by the window) goes alone.
#[test]
fn fast_retransmit_resends_only_what_was_sent() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::NoDelay(true)).unwrap();
    let mut w = r.seg(".", P, r.iss + 1);
    w.window = 500;
    r.inject(w);
    r.stack.send(r.now, fd, &[1u8; 500], false).unwrap();
    assert_eq!(r.out().unwrap().payload.len(), 500);
    r.stack.send(r.now, fd, &[2u8; 5000], false).unwrap();
    r.expect_nothing();
    for _ in 0..3 {
        let mut d = r.seg(".", P, r.iss + 1);
        d.window = 500;
        r.inject(d);
    }
    let fr = r.out().expect("the fast retransmit");
    assert_eq!((fr.seq.0, fr.payload.len()), (r.iss + 1, 500));
    assert_eq!(r.snd_nxt(), r.iss + 501, "nothing beyond SND.NXT went");
}

/// Fast retransmit of the last segment carries the FIN again when it
/// carried it; a FIN alone outstanding is fast-retransmitted alone.
#[test]
fn fast_retransmit_carries_the_fin() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.send(r.now, fd, &[1u8; 1000], false).unwrap();
    r.stack.shutdown(r.now, fd, reference_stack::Shutdown::Write).unwrap();
    let out: Vec<TcpRepr> = std::iter::from_fn(|| r.out()).collect();
    assert!(out.last().unwrap().flags.fin());
    for _ in 0..3 {
        r.inject(r.seg(".", P, r.iss + 1));
    }
    let fr = r.out().expect("the fast retransmit");
    assert_eq!((fr.seq.0, fr.payload.len(), fr.flags.fin()), (r.iss + 1, 1000, true));

    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.send(r.now, fd, &[1u8; 1000], false).unwrap();
    let _ = r.out();
    r.inject(r.seg(".", P, r.iss + 1001));
    r.stack.shutdown(r.now, fd, reference_stack::Shutdown::Write).unwrap();
    r.expect("F.", r.iss + 1001, Some(P));
    for _ in 0..3 {
        r.inject(r.seg(".", P, r.iss + 1001));
    }
    let fr = r.out().expect("the FIN again");
    assert_eq!((fr.seq.0, fr.payload.len(), fr.flags.fin()), (r.iss + 1001, 0, true));
}

/// MSG_OOB over several segments: every segment before the urgent pointer
/// carries URG, also those sent after an ACK of the first (SND.UP stays
/// until the ACK passes it).
#[test]
fn urgent_data_over_several_segments_keeps_urg_until_acknowledged() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.send(r.now, fd, &[1u8; 6000], true).unwrap();
    let first: Vec<TcpRepr> = std::iter::from_fn(|| r.out()).collect();
    assert!(first.len() >= 2 && first.iter().all(|s| s.flags.urg()), "{first:?}");
    r.inject(r.seg(".", P, r.iss + 1461));
    let more: Vec<TcpRepr> = std::iter::from_fn(|| r.out()).collect();
    assert!(!more.is_empty());
    for s in &more {
        assert!(s.flags.urg(), "{s}");
        assert_eq!(s.seq.0.wrapping_add(u32::from(s.urgent)), r.iss + 6001, "{s}");
    }
    // All acknowledged: later data has no URG.
    let nxt = r.snd_nxt();
    r.inject(r.seg(".", P, nxt));
    while r.out().is_some() {}
    r.inject(r.seg(".", P, r.snd_nxt()));
    while r.out().is_some() {}
    r.inject(r.seg(".", P, r.snd_nxt()));
    r.stack.send(r.now, fd, b"plain", false).unwrap();
    let plain = std::iter::from_fn(|| r.out()).last().unwrap();
    assert!(!plain.flags.urg(), "{plain}");
}

/// After an RTO, what was outstanding is sent again in order as the ACKs
/// come (go-back-N from SND.UNA), before any new data.
#[test]
fn after_an_rto_the_outstanding_segments_go_again_in_order() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.send(r.now, fd, &[1u8; 10_000], false).unwrap();
    let sent: Vec<u32> = std::iter::from_fn(|| r.out()).map(|s| s.seq.0).collect();
    assert_eq!(sent, [r.iss + 1, r.iss + 1461, r.iss + 2921]);
    r.now = r.stack.poll_timeout().unwrap();
    assert_eq!(r.out().unwrap().seq.0, r.iss + 1);
    r.expect_nothing();
    r.inject(r.seg(".", P, r.iss + 1461));
    let again: Vec<u32> = std::iter::from_fn(|| r.out()).map(|s| s.seq.0).collect();
    assert_eq!(again, [r.iss + 1461, r.iss + 2921]);
}

/// RFC 6298 5.3: an ACK of new data restarts the RTO from now.
#[test]
fn a_partial_ack_restarts_the_rto() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.send(r.now, fd, &[1u8; 4000], false).unwrap();
    while r.out().is_some() {}
    r.advance_ms(500);
    r.inject(r.seg(".", P, r.iss + 1461));
    while r.out().is_some() {}
    let rto = r.stack.status(fd).unwrap().rto;
    assert_eq!(r.stack.poll_timeout(), Some(r.now + rto));
}

/// TCP_USER_TIMEOUT counts from the oldest unacknowledged segment's
/// first transmission, not from data acknowledged long ago.
#[test]
fn the_user_timeout_counts_from_the_oldest_unacknowledged_data() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::UserTimeout(5000)).unwrap();
    r.stack.send(r.now, fd, b"a", false).unwrap();
    let _ = r.out();
    r.advance_ms(100);
    r.inject(r.seg(".", P, r.iss + 2));
    r.at_ms(10_000);
    r.stack.send(r.now, fd, b"b", false).unwrap();
    let _ = r.out();
    // Retransmissions at 11 s, 13 s: still within 5 s of 10 s.
    for _ in 0..2 {
        r.now = r.stack.poll_timeout().unwrap();
        let _ = r.out();
        assert_eq!(r.stack.state(fd), Ok(State::Established), "at {}", r.now);
    }
    for _ in 0..10 {
        let Some(t) = r.stack.poll_timeout() else { break };
        r.now = t;
        let _ = r.out();
    }
    assert_eq!(r.stack.recv(r.now, fd, 1, false), Err(Errno::ETIMEDOUT));
    assert!(r.now >= Instant::from_millis(15_000), "{}", r.now);
}

/// RFC 7323 4.3: TS.Recent takes SEG.TSval only from a segment at or below
/// Last.ACK.sent; an out-of-order segment's newer TSval is not echoed.
#[test]
fn ts_recent_is_not_taken_from_an_out_of_order_segment() {
    let (mut r, _fd) = ts_rig();
    r.inject(with_ts(data(&r, P + 100, b"later"), 500));
    let dup = r.out().expect("a duplicate ACK");
    assert_eq!(dup.ack.0, P);
    assert_eq!(dup.timestamps().unwrap().1, 100, "TS.Recent is still the SYN,ACK's");
    r.inject(with_ts(data(&r, P, b"x"), 600));
    let a = std::iter::from_fn(|| r.out()).last().expect("an ACK");
    assert_eq!(a.timestamps().unwrap().1, 600);
}

/// When a shut window opens: what went out as a probe is sent again with
/// what follows, the RTO runs from now; data never sent before is not a
/// retransmission.
#[test]
fn a_window_opening_after_probes() {
    // rfc9293: the probe carried a new octet, now outstanding.
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    let mut z = r.seg(".", P, r.iss + 1);
    z.window = 0;
    r.inject(z);
    r.stack.send(r.now, fd, b"data", false).unwrap();
    r.now = r.stack.poll_timeout().unwrap();
    let probe = r.out().expect("a probe");
    assert_eq!(probe.payload.len(), 1);
    let mut open = r.seg(".", P, r.iss + 1);
    open.window = 1000;
    r.inject(open);
    let again = r.out().expect("the data");
    assert_eq!((again.seq.0, again.payload.as_slice()), (r.iss + 1, &b"data"[..]));
    let rto = r.stack.status(fd).unwrap().rto;
    assert_eq!(r.stack.poll_timeout(), Some(r.now + rto));
    r.expect_nothing();
    // linux: the probe is an old sequence number; nothing was outstanding.
    let mut r = Rig::with_profile(Profile::linux());
    let fd = r.drive_to(State::Established).unwrap();
    let mut z = r.seg(".", P, r.iss + 1);
    z.window = 0;
    r.inject(z);
    r.stack.send(r.now, fd, b"data", false).unwrap();
    r.now = r.stack.poll_timeout().unwrap();
    assert!(r.out().expect("a probe").payload.is_empty());
    let mut open = r.seg(".", P, r.iss + 1);
    open.window = 1000;
    r.inject(open);
    assert_eq!(r.out().expect("the data").payload, b"data");
    assert_eq!(r.stack.status(fd).unwrap().total_retransmits, 0);
    assert_eq!(r.stack.stats().retransmitted_segments, 0);
}

/// URG marks segments that carry octets before the urgent pointer: not a
/// pure ACK sent meanwhile, nor data starting at the pointer.
#[test]
fn urg_only_on_segments_carrying_urgent_octets() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::NoDelay(true)).unwrap();
    // 6000 urgent octets: the congestion window holds most back.
    r.stack.send(r.now, fd, &[1u8; 6000], true).unwrap();
    while r.out().is_some() {}
    // The peer's data is acknowledged without URG.
    r.inject(data(&r, P, b"hi"));
    r.advance_ms(200);
    let ack = r.out().expect("an ACK");
    assert!(ack.payload.is_empty() && !ack.flags.urg(), "{ack}");
    // One urgent octet, then plain data right after it.
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::NoDelay(true)).unwrap();
    r.stack.send(r.now, fd, b"!", true).unwrap();
    let u = r.out().unwrap();
    assert!(u.flags.urg());
    r.stack.send(r.now, fd, b"plain", false).unwrap();
    let p = r.out().unwrap();
    assert_eq!(p.seq.0, r.iss + 2);
    assert!(!p.flags.urg(), "{p}");
}

/// Fast retransmit puts the FIN only on the segment that ends where the
/// FIN was sent: not on an earlier segment, and not when the FIN has not
/// been sent yet.
#[test]
fn fast_retransmit_adds_no_fin_that_was_not_there() {
    // Everything and the FIN sent; the first segment is resent alone.
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.send(r.now, fd, &[1u8; 3000], false).unwrap();
    r.stack.shutdown(r.now, fd, reference_stack::Shutdown::Write).unwrap();
    let out: Vec<TcpRepr> = std::iter::from_fn(|| r.out()).collect();
    assert!(out.last().unwrap().flags.fin());
    for _ in 0..3 {
        r.inject(r.seg(".", P, r.iss + 1));
    }
    let fr = r.out().expect("the fast retransmit");
    assert_eq!((fr.seq.0, fr.payload.len(), fr.flags.fin()), (r.iss + 1, 1460, false));
    // The FIN queued behind data the congestion window holds back.
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.send(r.now, fd, &[1u8; 5000], false).unwrap();
    r.stack.shutdown(r.now, fd, reference_stack::Shutdown::Write).unwrap();
    let out: Vec<TcpRepr> = std::iter::from_fn(|| r.out()).collect();
    assert!(!out.iter().any(|s| s.flags.fin()));
    for _ in 0..3 {
        r.inject(r.seg(".", P, r.iss + 1));
    }
    let fr = r.out().expect("the fast retransmit");
    assert_eq!((fr.seq.0, fr.flags.fin()), (r.iss + 1, false));
    // All data sent, the FIN waiting for window room: not added either.
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    let mut w = r.seg(".", P, r.iss + 1);
    w.window = 100;
    r.inject(w);
    r.stack.send(r.now, fd, &[1u8; 100], false).unwrap();
    r.stack.shutdown(r.now, fd, reference_stack::Shutdown::Write).unwrap();
    assert!(!r.out().unwrap().flags.fin());
    for _ in 0..3 {
        let mut d = r.seg(".", P, r.iss + 1);
        d.window = 100;
        r.inject(d);
    }
    let fr = r.out().expect("the fast retransmit");
    assert_eq!((fr.payload.len(), fr.flags.fin()), (100, false));
}

/// A window update after a read only when the peer's view of the window
/// had fallen below half the buffer: at exactly half, none.
#[test]
fn no_window_update_when_the_window_was_half_the_buffer() {
    let mut p = Profile::rfc9293();
    p.window_scaling = false;
    let mut r = Rig::with_profile(p);
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::RcvBuf(4000)).unwrap();
    r.stack.bind(r.now, fd, r.local).unwrap();
    let _ = r.stack.connect(r.now, fd, r.remote);
    r.iss = r.out().unwrap().seq.0;
    let mut sa = r.seg("S.", PEER_ISS, r.iss + 1);
    sa.options = vec![TcpOption::Mss(1000)].into();
    r.inject(sa);
    let _ = r.out();
    r.inject(data(&r, P, &[0; 1000]));
    r.inject(data(&r, P + 1000, &[0; 1000]));
    assert_eq!(r.expect(".", r.iss + 1, Some(P + 2000)).window, 2000);
    assert_eq!(r.stack.recv(r.now, fd, 4000, false).unwrap().len(), 2000);
    r.expect_nothing();
}

/// An option that lifts a hold acts at once: TCP_NODELAY releases what
/// Nagle held.
#[test]
fn setting_nodelay_releases_what_nagle_held() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.send(r.now, fd, b"first", false).unwrap();
    let _ = r.out();
    r.stack.send(r.now, fd, b"held", false).unwrap();
    r.expect_nothing();
    r.stack.setsockopt(r.now, fd, SockOpt::NoDelay(true)).unwrap();
    assert_eq!(r.out().map(|s| s.payload), Some(b"held".to_vec()));
}

/// RFC 7323 2.3: the shift Linux's tcp_select_initial_window picks (halve
/// the buffer until it fits 16 bits), at most 14.
#[test]
fn window_shift_covers_the_buffer() {
    use reference_stack::tcb::window_shift_for;
    for (buf, shift) in [(0, 0), (65_535, 0), (65_536, 1), (131_071, 1), (131_072, 2), (1 << 30, 14), (usize::MAX, 14)]
    {
        assert_eq!(window_shift_for(buf), shift, "{buf}");
    }
}
