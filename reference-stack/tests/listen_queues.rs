//! The linux profile's listen queues: SYN cookies in Linux's layout (with
//! the window scale and SACK in the timestamp when there is one), their
//! validation and age, and the SYN and accept queues' bounds.
mod support;

use reference_stack::profile::ListenQueues;
use reference_stack::wire::{TcpOption, TcpRepr};
use reference_stack::{Domain, Errno, Profile, State};
use support::*;

fn linux(syncookies: u8, abort_on_overflow: bool) -> Profile {
    let mut p = Profile::linux();
    p.listen = ListenQueues::Linux { syncookies, max_syn_backlog: 128, somaxconn: 4096, abort_on_overflow };
    p
}

fn listen(r: &mut Rig, backlog: i32) -> i32 {
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.bind(r.now, fd, r.local).unwrap();
    r.stack.listen(r.now, fd, backlog).unwrap();
    fd
}

fn syn(r: &Rig, port: u16, opts: &[TcpOption]) -> TcpRepr {
    let mut s = r.seg("S", PEER_ISS, 0);
    s.src_port = port;
    s.options = opts.to_vec().into();
    s
}

fn ack(r: &Rig, port: u16, ack: u32, opts: &[TcpOption]) -> TcpRepr {
    let mut s = r.seg(".", PEER_ISS + 1, ack);
    s.src_port = port;
    s.options = opts.to_vec().into();
    s
}

#[test]
fn a_cookie_carries_the_mss_window_scale_and_sack_back() {
    let mut r = Rig::with_profile(linux(2, false));
    let lfd = listen(&mut r, 8);
    let ts = TcpOption::Timestamps { tsval: 5000, tsecr: 0 };
    r.inject(syn(&r, 40000, &[TcpOption::Mss(1000), TcpOption::WindowScale(7), TcpOption::SackPermitted, ts]));
    let sa = r.out().expect("a cookie SYN,ACK");
    assert!(sa.flags.syn() && sa.flags.ack());
    // Nothing was kept for it.
    assert_eq!(r.stack.accept(r.now, lfd), Err(Errno::EAGAIN));
    // The peer's window scale (7) and SACK (16) in TSval's low six bits.
    let (tsval, tsecr) = sa.timestamps().expect("TS on the SYN,ACK");
    assert_eq!((tsval & 0x3f, tsecr), (7 | 16, 5000));
    let cookie = sa.seq.0;
    r.advance_ms(10);
    r.inject(ack(&r, 40000, cookie.wrapping_add(1), &[TcpOption::Timestamps { tsval: 5010, tsecr: tsval }]));
    let (fd, _) = r.stack.accept(r.now, lfd).expect("the cookie made the connection");
    let st = r.stack.status(fd).unwrap();
    // 536 from the table, less the timestamp option's 12 octets (as Linux's tcpi_snd_mss).
    assert_eq!((st.state, st.iss.0, st.snd_mss), (State::Established, cookie, 524));
    assert_eq!((st.snd_wscale, st.sack, st.timestamps), (7, true, true));
    assert_eq!((r.stack.stats().syncookies_sent, r.stack.stats().syncookies_recv), (1, 1));
}

#[test]
fn a_forged_or_stale_cookie_is_reset() {
    let mut r = Rig::with_profile(linux(2, false));
    let lfd = listen(&mut r, 8);
    r.inject(syn(&r, 40000, &[TcpOption::Mss(1460)]));
    let cookie = r.out().expect("a cookie SYN,ACK").seq.0;
    // Without timestamps the SYN,ACK offers neither window scale nor SACK.
    r.inject(ack(&r, 40000, cookie.wrapping_add(2), &[]));
    r.expect("R", cookie.wrapping_add(2), None);
    assert_eq!(r.stack.stats().syncookies_failed, 1);
    // The right cookie from another port is not that port's.
    r.inject(ack(&r, 40001, cookie.wrapping_add(1), &[]));
    r.expect("R", cookie.wrapping_add(1), None);
    // Three minutes on, the right one is too old.
    r.advance_ms(180_000);
    r.inject(syn(&r, 40002, &[TcpOption::Mss(1460)]));
    let _ = r.out();
    r.inject(ack(&r, 40000, cookie.wrapping_add(1), &[]));
    r.expect("R", cookie.wrapping_add(1), None);
    assert_eq!(r.stack.accept(r.now, lfd), Err(Errno::EAGAIN));
    assert_eq!(r.stack.stats().syncookies_recv, 0);
}

#[test]
fn the_queues_hold_backlog_plus_one_and_overflow_as_linux() {
    // No cookies: the SYN queue holds backlog + 1, then SYNs are dropped.
    let mut r = Rig::with_profile(linux(0, false));
    let _ = listen(&mut r, 2);
    for port in 40000..40005 {
        r.inject(syn(&r, port, &[TcpOption::Mss(1460)]));
    }
    let answered = std::iter::from_fn(|| r.out()).count();
    assert_eq!(answered, 3);
    assert_eq!(r.stack.stats().listen_drops, 2);

    // An ACK that finds the accept queue full (listen(1) holds two): dropped,
    // or with abort_on_overflow reset; the half-open connection stays or goes.
    for abort in [false, true] {
        let mut r = Rig::with_profile(linux(1, abort));
        let _ = listen(&mut r, 1);
        let mut isn = Vec::new();
        for port in [40000, 40001, 40002] {
            r.inject(syn(&r, port, &[TcpOption::Mss(1460)]));
            isn.push(r.out().expect("SYN,ACK").seq.0);
            if port == 40000 {
                r.inject(ack(&r, port, isn[0].wrapping_add(1), &[]));
            }
        }
        r.inject(ack(&r, 40001, isn[1].wrapping_add(1), &[]));
        r.expect_nothing();
        r.inject(ack(&r, 40002, isn[2].wrapping_add(1), &[]));
        if abort {
            r.expect("R", isn[2].wrapping_add(1), None);
        } else {
            r.expect_nothing();
        }
        let s = r.stack.stats();
        assert_eq!((s.listen_overflows, s.embryonic_rsts), (1, u64::from(abort)), "abort_on_overflow {abort}");
    }
}

/// SO_REUSEPORT: listeners that all set it share the port and the
/// connections (by the 4-tuple's hash, so many peers reach both); a socket
/// without it cannot bind there, nor can one with it where a socket
/// without it holds the port.
#[test]
fn reuseport_listeners_share_a_port_and_its_connections() {
    use reference_stack::SockOpt;
    let mut r = Rig::with_profile(Profile::linux());
    let reuse_listener = |r: &mut Rig| {
        let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
        r.stack.setsockopt(r.now, fd, SockOpt::ReusePort(true)).unwrap();
        r.stack.bind(r.now, fd, r.local).unwrap();
        r.stack.listen(r.now, fd, 64).unwrap();
        fd
    };
    let (a, b) = (reuse_listener(&mut r), reuse_listener(&mut r));
    let plain = r.stack.socket(r.now, Domain::Inet).unwrap();
    assert_eq!(r.stack.bind(r.now, plain, r.local), Err(Errno::EADDRINUSE));
    assert_eq!(r.stack.getsockopt(r.now, a, reference_stack::SockOptName::ReusePort), Ok(SockOpt::ReusePort(true)));
    for port in 41000..41040 {
        r.inject(syn(&r, port, &[TcpOption::Mss(1460)]));
        let sa = r.out().expect("a SYN,ACK");
        r.inject(ack(&r, port, sa.seq.0.wrapping_add(1), &[]));
    }
    let mut took = [0, 0];
    for (i, fd) in [a, b].into_iter().enumerate() {
        while r.stack.accept(r.now, fd).is_ok() {
            took[i] += 1;
        }
    }
    assert_eq!(took[0] + took[1], 40);
    assert!(took[0] > 5 && took[1] > 5, "the hash spreads the connections: {took:?}");
    // A port held by a socket without the option is not shared.
    let mut r = Rig::with_profile(Profile::linux());
    let first = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.bind(r.now, first, r.local).unwrap();
    let late = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.setsockopt(r.now, late, SockOpt::ReusePort(true)).unwrap();
    assert_eq!(r.stack.bind(r.now, late, r.local), Err(Errno::EADDRINUSE));
}

/// A valid cookie ACK that finds the accept queue full is forgotten
/// without a RST, whatever tcp_abort_on_overflow says (Linux's
/// cookie_v4_check finds no socket), and the same ACK makes the connection
/// once the queue has room (the cookie is still valid).
#[test]
fn a_cookie_ack_finding_the_accept_queue_full_is_dropped_silently() {
    for abort in [false, true] {
        let mut r = Rig::with_profile(linux(2, abort));
        let lfd = listen(&mut r, 0);
        let cookie_for = |r: &mut Rig, port: u16| {
            r.inject(syn(r, port, &[TcpOption::Mss(1460)]));
            r.out().expect("a cookie SYN,ACK").seq.0
        };
        let first = cookie_for(&mut r, 41000);
        let second = cookie_for(&mut r, 41001);
        r.inject(ack(&r, 41000, first.wrapping_add(1), &[]));
        assert_eq!(r.out(), None);
        // The queue (backlog 0: room for one) is full.
        r.inject(ack(&r, 41001, second.wrapping_add(1), &[]));
        assert_eq!(r.out(), None, "abort_on_overflow {abort}: nothing, not even a RST");
        assert_eq!((r.stack.stats().listen_overflows, r.stack.stats().listen_drops), (1, 1));
        let (_, peer) = r.stack.accept(r.now, lfd).expect("the first connection");
        assert_eq!(peer.port(), 41000);
        assert_eq!(r.stack.accept(r.now, lfd), Err(Errno::EAGAIN), "the second was not kept");
        r.advance_ms(1000);
        r.inject(ack(&r, 41001, second.wrapping_add(1), &[]));
        let (_, peer) = r.stack.accept(r.now, lfd).expect("the same ACK again, with room");
        assert_eq!(peer.port(), 41001);
    }
}

fn at_ms(r: &mut Rig, ms: u64) {
    r.at_ms(ms);
}

/// A cookie carries its minute counter (the top eight bits): one made in
/// minute 3 is valid in minutes 3 and 4 and not in minute 5 (Linux's
/// check_tcp_syn_cookie: `diff >= MAX_SYNCOOKIE_AGE` fails).
#[test]
fn a_cookie_lives_two_minute_ticks() {
    let mut r = Rig::with_profile(linux(2, false));
    let lfd = listen(&mut r, 8);
    at_ms(&mut r, 239_500);
    r.inject(syn(&r, 40000, &[TcpOption::Mss(1460)]));
    let young = r.out().expect("a cookie").seq.0;
    r.inject(syn(&r, 40001, &[TcpOption::Mss(1460)]));
    let old = r.out().expect("a cookie").seq.0;
    at_ms(&mut r, 241_000);
    r.inject(ack(&r, 40000, young.wrapping_add(1), &[]));
    r.expect_nothing();
    let (fd, _) = r.stack.accept(r.now, lfd).expect("a cookie from the previous minute");
    assert_eq!(r.stack.status(fd).unwrap().iss.0, young);
    at_ms(&mut r, 300_500);
    r.inject(ack(&r, 40001, old.wrapping_add(1), &[]));
    r.expect("R", old.wrapping_add(1), None);
    let s = r.stack.stats();
    assert_eq!((s.syncookies_sent, s.syncookies_recv, s.syncookies_failed), (2, 1, 1));
    assert_eq!(s.connections_opened, 1);
}

/// Cookies are looked at only while the listener has sent one within 120 s
/// (tcp_synq_no_recent_overflow; `time_after` is strict), and never when
/// syncookies is 0: otherwise an ACK to a listener is reset without
/// counting a failed cookie.
#[test]
fn cookie_acks_are_checked_only_after_recent_cookies() {
    for syncookies in [0, 1] {
        let mut r = Rig::with_profile(linux(syncookies, false));
        let _ = listen(&mut r, 8);
        r.inject(ack(&r, 40000, 12345, &[]));
        r.expect("R", 12345, None);
        assert_eq!(r.stack.stats().syncookies_failed, 0, "syncookies={syncookies}: no cookie sent yet");
    }
    let mut r = Rig::with_profile(linux(2, false));
    let _ = listen(&mut r, 8);
    r.inject(syn(&r, 40000, &[TcpOption::Mss(1460)]));
    let cookie = r.out().expect("a cookie").seq.0;
    at_ms(&mut r, 120_000);
    r.inject(ack(&r, 40000, cookie.wrapping_add(1), &[]));
    r.expect("R", cookie.wrapping_add(1), None);
    assert_eq!(r.stack.stats().syncookies_failed, 1, "120 s on, still recent: checked (and too old)");
    at_ms(&mut r, 120_001);
    r.inject(ack(&r, 40000, cookie.wrapping_add(1), &[]));
    r.expect("R", cookie.wrapping_add(1), None);
    assert_eq!(r.stack.stats().syncookies_failed, 1, "past 120 s: not checked");
}

/// Without a timestamp to carry them back, a cookie SYN,ACK offers neither
/// window scale nor SACK, whatever the SYN offered.
#[test]
fn without_timestamps_a_cookie_drops_window_scale_and_sack() {
    let mut r = Rig::with_profile(linux(2, false));
    let lfd = listen(&mut r, 8);
    r.inject(syn(&r, 40000, &[TcpOption::Mss(1460), TcpOption::WindowScale(7), TcpOption::SackPermitted]));
    let sa = r.out().expect("a cookie SYN,ACK");
    assert_eq!(sa.mss(), Some(1460));
    assert_eq!((sa.window_scale(), sa.sack_permitted(), sa.timestamps()), (None, false, None));
    r.inject(ack(&r, 40000, sa.seq.0.wrapping_add(1), &[]));
    let (fd, _) = r.stack.accept(r.now, lfd).unwrap();
    let st = r.stack.status(fd).unwrap();
    assert_eq!((st.snd_wscale, st.rcv_wscale, st.sack, st.timestamps, st.snd_mss), (0, 0, false, false, 1460));
}

/// The echoed timestamp says which of window scale and SACK the SYN
/// offered, one without the other.
#[test]
fn a_cookie_brings_back_window_scale_and_sack_one_without_the_other() {
    for (offer_ws, offer_sack) in [(false, true), (true, false)] {
        let mut r = Rig::with_profile(linux(2, false));
        let lfd = listen(&mut r, 8);
        let mut opts = vec![TcpOption::Mss(1460)];
        if offer_ws {
            opts.push(TcpOption::WindowScale(5));
        }
        if offer_sack {
            opts.push(TcpOption::SackPermitted);
        }
        opts.push(TcpOption::Timestamps { tsval: 100, tsecr: 0 });
        r.inject(syn(&r, 40000, &opts));
        let sa = r.out().expect("a cookie SYN,ACK");
        let (tsval, _) = sa.timestamps().unwrap();
        r.advance_ms(3);
        let mut a = ack(&r, 40000, sa.seq.0.wrapping_add(1), &[TcpOption::Timestamps { tsval: 103, tsecr: tsval }]);
        a.window = 1234;
        r.stack.take_events();
        r.inject(a);
        let (fd, _) = r.stack.accept(r.now, lfd).unwrap();
        let st = r.stack.status(fd).unwrap();
        assert_eq!(
            (st.snd_wscale, st.sack),
            (if offer_ws { 5 } else { 0 }, offer_sack),
            "ws {offer_ws} sack {offer_sack}"
        );
        assert_eq!(st.snd_wnd, 1234 << st.snd_wscale);
        // The trace shows the SYN the cookie stood for, with the ACK's window.
        let syn_seen = r.stack.events().iter().find_map(|e| match e.kind {
            reference_stack::EventKind::Transition { to: State::SynReceived, cause, .. } => Some(cause),
            _ => None,
        });
        match syn_seen {
            Some(reference_stack::event::Cause::Segment(s)) => {
                assert_eq!((s.flags, s.seq.0, s.window), (flags("S"), PEER_ISS, 1234));
            }
            other => panic!("no SYN-RECEIVED from a segment: {other:?}"),
        }
    }
}

/// cookie_init_timestamp: the option bits replace TSval's low six bits, and
/// if that would put TSval ahead of the clock it goes back 64 ticks.
#[test]
fn a_cookie_tsval_never_runs_ahead_of_the_clock() {
    // SYN offers window scale 7 and SACK: the bits are 7 | 16 = 23.
    for (low, want) in [(0u32, 0x1000 + 23 - 64), (23, 0x1000 + 23), (40, 0x1000 + 23)] {
        let mut r = Rig::with_profile(linux(2, false));
        r.stack.place_numbers(None, Some(0x1000 + low));
        let _ = listen(&mut r, 8);
        let ts = TcpOption::Timestamps { tsval: 5000, tsecr: 0 };
        r.inject(syn(&r, 40000, &[TcpOption::Mss(1460), TcpOption::WindowScale(7), TcpOption::SackPermitted, ts]));
        let (tsval, _) = r.out().expect("a cookie SYN,ACK").timestamps().unwrap();
        assert_eq!(tsval, want, "clock at {:#x}", 0x1000 + low);
    }
}

/// The SYN queue without cookies keeps a quarter of max_syn_backlog free
/// (tcp_conn_request's "not proven alive" rule); a full accept queue drops
/// SYNs and counts an overflow.
#[test]
fn syn_queue_reserve_and_accept_queue_overflow_counters() {
    let mut p = Profile::linux();
    p.listen = ListenQueues::Linux { syncookies: 0, max_syn_backlog: 8, somaxconn: 4096, abort_on_overflow: false };
    let mut r = Rig::with_profile(p);
    let _ = listen(&mut r, 100);
    for port in 40000..40020 {
        r.inject(syn(&r, port, &[TcpOption::Mss(1460)]));
    }
    assert_eq!(std::iter::from_fn(|| r.out()).count(), 7, "8 - 7 < 8 / 4: the eighth is refused");
    let s = r.stack.stats();
    assert_eq!((s.listen_drops, s.listen_overflows, s.connections_opened), (13, 0, 7));

    let mut r = Rig::with_profile(linux(1, false));
    let lfd = listen(&mut r, 0);
    r.inject(syn(&r, 40000, &[TcpOption::Mss(1460)]));
    let isn = r.out().unwrap().seq.0;
    r.inject(ack(&r, 40000, isn.wrapping_add(1), &[]));
    // The queue (backlog 0) now holds one: it is full, the next SYN is dropped.
    r.inject(syn(&r, 40001, &[TcpOption::Mss(1460)]));
    r.expect_nothing();
    let s = r.stack.stats();
    assert_eq!((s.listen_overflows, s.listen_drops), (1, 1));
    // Data for the queued connection is taken before accept().
    let mut d = ack(&r, 40000, isn.wrapping_add(1), &[]);
    d.payload = b"early".to_vec();
    r.inject(d);
    let a = r.out().expect("an ACK for data on a queued connection");
    assert_eq!(a.ack.0, PEER_ISS + 6);
    assert_eq!(r.stack.stats().listen_overflows, 1);
    let (fd, _) = r.stack.accept(r.now, lfd).unwrap();
    assert_eq!(r.stack.recv(r.now, fd, 10, false).unwrap(), b"early");
}

/// listen(2): the accept queue takes three; it is filled with 40000..40002
/// while 40003 and 40004 are left half-open. Returns the listener and
/// every port's ISS.
fn full_with_two_half_open(r: &mut Rig) -> (i32, std::collections::BTreeMap<u16, u32>) {
    let lfd = listen(r, 2);
    let mut isn = std::collections::BTreeMap::new();
    let open = |r: &mut Rig, isn: &mut std::collections::BTreeMap<u16, u32>, port: u16| {
        r.inject(syn(r, port, &[TcpOption::Mss(1460)]));
        isn.insert(port, r.out().expect("SYN,ACK").seq.0);
    };
    for port in 40000..=40002 {
        open(r, &mut isn, port);
    }
    for port in [40000, 40001] {
        r.inject(ack(r, port, isn[&port].wrapping_add(1), &[]));
    }
    open(r, &mut isn, 40003);
    open(r, &mut isn, 40004);
    r.inject(ack(r, 40002, isn[&40002].wrapping_add(1), &[]));
    r.expect_nothing();
    assert_eq!(r.stack.stats().listen_overflows, 0);
    (lfd, isn)
}

/// With the accept queue full, only an ACK that would complete a handshake
/// is an overflow: a RST, or a segment without ACK, to a half-open
/// connection goes to it as usual.
#[test]
fn only_a_completing_ack_overflows_the_accept_queue() {
    for abort in [false, true] {
        let mut r = Rig::with_profile(linux(1, abort));
        let (lfd, isn) = full_with_two_half_open(&mut r);
        // A segment without ACK (its ack field a completing ACK's) to
        // 40003: dropped by the connection, not counted.
        let mut no_ack = ack(&r, 40003, isn[&40003].wrapping_add(1), &[]);
        no_ack.flags = flags("P");
        no_ack.payload = b"x".to_vec();
        r.inject(no_ack);
        r.expect_nothing();
        assert_eq!(r.stack.stats().listen_overflows, 0, "abort {abort}");
        // A RST,ACK to 40004 ends that half-open connection.
        let mut rst = ack(&r, 40004, isn[&40004].wrapping_add(1), &[]);
        rst.flags = flags("R.");
        r.inject(rst);
        assert_eq!(r.stack.stats().listen_overflows, 0, "abort {abort}");
        assert_eq!(r.stack.connections().len(), 4, "abort {abort}: 40004 is gone");
        // The completing ACK from 40003 overflows; with abort it is reset,
        // without it the connection stays half-open and completes once the
        // queue has room.
        r.inject(ack(&r, 40003, isn[&40003].wrapping_add(1), &[]));
        if abort {
            r.expect("R", isn[&40003].wrapping_add(1), None);
        } else {
            r.expect_nothing();
        }
        let s = r.stack.stats();
        assert_eq!((s.listen_overflows, s.listen_drops, s.embryonic_rsts), (1, 1, u64::from(abort)));
        let _ = r.stack.accept(r.now, lfd).unwrap();
        r.inject(ack(&r, 40003, isn[&40003].wrapping_add(1), &[]));
        let mut ports = Vec::new();
        while let Ok((_, peer)) = r.stack.accept(r.now, lfd) {
            ports.push(peer.port());
        }
        assert_eq!(ports.contains(&40003), !abort, "abort {abort}: {ports:?}");
    }
}

/// abort_on_overflow resets one half-open connection and leaves the others
/// in the SYN queue, where they complete once there is room.
#[test]
fn an_overflow_reset_leaves_the_other_half_open_connections() {
    let mut r = Rig::with_profile(linux(1, true));
    let (lfd, isn) = full_with_two_half_open(&mut r);
    r.inject(ack(&r, 40004, isn[&40004].wrapping_add(1), &[]));
    r.expect("R", isn[&40004].wrapping_add(1), None);
    let _ = r.stack.accept(r.now, lfd).unwrap();
    r.inject(ack(&r, 40003, isn[&40003].wrapping_add(1), &[]));
    let mut ports = Vec::new();
    while let Ok((_, peer)) = r.stack.accept(r.now, lfd) {
        ports.push(peer.port());
    }
    assert_eq!(ports, [40001, 40002, 40003], "40003 was still half-open");
}
