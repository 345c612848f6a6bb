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
        assert_eq!(r.stack.stats().listen_overflows, 1);
        let (_, peer) = r.stack.accept(r.now, lfd).expect("the first connection");
        assert_eq!(peer.port(), 41000);
        assert_eq!(r.stack.accept(r.now, lfd), Err(Errno::EAGAIN), "the second was not kept");
        r.advance_ms(1000);
        r.inject(ack(&r, 41001, second.wrapping_add(1), &[]));
        let (_, peer) = r.stack.accept(r.now, lfd).expect("the same ACK again, with room");
        assert_eq!(peer.port(), 41001);
    }
}
