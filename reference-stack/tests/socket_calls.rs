//! The stack's call surface as a program sees it: option names and ranges,
//! poll(2) readiness, addresses, bind and ephemeral-port rules, connect's
//! errors. Written for what `make mutants MUTANTS_PART=stack` showed no
//! test and no script could see (docs/mutants.md).
mod support;

use reference_stack::{Domain, Errno, PollEvents, Shutdown, SockOpt, SockOptName, State};
use std::net::SocketAddr;
use support::*;

#[test]
fn every_option_name_maps_to_its_option() {
    let names = [
        ("TCP_NODELAY", SockOptName::NoDelay),
        ("SO_KEEPALIVE", SockOptName::KeepAlive),
        ("TCP_KEEPIDLE", SockOptName::KeepIdle),
        ("TCP_KEEPINTVL", SockOptName::KeepIntvl),
        ("TCP_KEEPCNT", SockOptName::KeepCnt),
        ("TCP_MAXSEG", SockOptName::MaxSeg),
        ("SO_RCVBUF", SockOptName::RcvBuf),
        ("SO_SNDBUF", SockOptName::SndBuf),
        ("SO_LINGER", SockOptName::Linger),
        ("TCP_USER_TIMEOUT", SockOptName::UserTimeout),
        ("SO_REUSEADDR", SockOptName::ReuseAddr),
        ("SO_REUSEPORT", SockOptName::ReusePort),
        ("SO_ERROR", SockOptName::Error),
    ];
    for (name, opt) in names {
        assert_eq!(SockOptName::from_name(name), Some(opt), "{name}");
    }
    // NAMES lists exactly these, for error messages.
    let listed: Vec<&str> = SockOptName::NAMES.split(", ").collect();
    assert_eq!(listed, names.iter().map(|n| n.0).collect::<Vec<_>>());
    assert_eq!(SockOptName::from_name("TCP_CORK"), None);
    assert_eq!(SockOptName::from_name("tcp_nodelay"), None);
}

/// Linux's ranges (tcp_sock_set_keepidle and friends, do_tcp_setsockopt's
/// TCP_MAXSEG): a value out of range is EINVAL and changes nothing; one in
/// range reads back as set.
#[test]
fn options_take_linux_ranges_and_read_back() {
    use SockOpt as O;
    use SockOptName as N;
    let mut r = Rig::new();
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    let p = r.stack.profile().clone();
    let secs = |d: reference_stack::Duration| (d.total_micros() / 1_000_000) as u32;
    // Unset, the profile's values.
    assert_eq!(r.stack.getsockopt(r.now, fd, N::KeepIdle), Ok(O::KeepIdle(secs(p.keepalive_idle))));
    assert_eq!(r.stack.getsockopt(r.now, fd, N::KeepIntvl), Ok(O::KeepIntvl(secs(p.keepalive_interval))));
    assert_eq!(r.stack.getsockopt(r.now, fd, N::KeepCnt), Ok(O::KeepCnt(p.keepalive_count)));
    assert_eq!(r.stack.getsockopt(r.now, fd, N::MaxSeg), Ok(O::MaxSeg(536)));
    assert_eq!(r.stack.getsockopt(r.now, fd, N::Linger), Ok(O::Linger(None)));
    assert_eq!(r.stack.getsockopt(r.now, fd, N::UserTimeout), Ok(O::UserTimeout(0)));
    assert_eq!(r.stack.getsockopt(r.now, fd, N::Error), Ok(O::Error(None)));
    let cases: &[(SockOpt, SockOptName, bool)] = &[
        (O::KeepIdle(0), N::KeepIdle, false),
        (O::KeepIdle(1), N::KeepIdle, true),
        (O::KeepIdle(32767), N::KeepIdle, true),
        (O::KeepIdle(32768), N::KeepIdle, false),
        (O::KeepIntvl(0), N::KeepIntvl, false),
        (O::KeepIntvl(75), N::KeepIntvl, true),
        (O::KeepIntvl(32767), N::KeepIntvl, true),
        (O::KeepIntvl(32768), N::KeepIntvl, false),
        (O::KeepCnt(0), N::KeepCnt, false),
        (O::KeepCnt(1), N::KeepCnt, true),
        (O::KeepCnt(127), N::KeepCnt, true),
        (O::KeepCnt(128), N::KeepCnt, false),
        (O::MaxSeg(87), N::MaxSeg, false),
        (O::MaxSeg(88), N::MaxSeg, true),
        (O::MaxSeg(65535), N::MaxSeg, true),
        (O::MaxSeg(65536), N::MaxSeg, false),
        (O::Linger(Some(5)), N::Linger, true),
        (O::Linger(Some(0)), N::Linger, true),
        (O::Linger(None), N::Linger, true),
        (O::UserTimeout(1500), N::UserTimeout, true),
        (O::UserTimeout(0), N::UserTimeout, true),
        (O::NoDelay(true), N::NoDelay, true),
        (O::NoDelay(false), N::NoDelay, true),
        (O::KeepAlive(true), N::KeepAlive, true),
        (O::KeepAlive(false), N::KeepAlive, true),
        (O::ReuseAddr(true), N::ReuseAddr, true),
        (O::ReuseAddr(false), N::ReuseAddr, true),
        (O::ReusePort(true), N::ReusePort, true),
        (O::ReusePort(false), N::ReusePort, true),
        (O::RcvBuf(5000), N::RcvBuf, true),
        (O::SndBuf(7000), N::SndBuf, true),
    ];
    for &(opt, name, ok) in cases {
        let before = r.stack.getsockopt(r.now, fd, name).unwrap();
        let got = r.stack.setsockopt(r.now, fd, opt);
        if ok {
            assert_eq!(got, Ok(()), "{opt:?}");
            assert_eq!(r.stack.getsockopt(r.now, fd, name), Ok(opt), "{opt:?} reads back");
        } else {
            assert_eq!(got, Err(Errno::EINVAL), "{opt:?}");
            assert_eq!(r.stack.getsockopt(r.now, fd, name), Ok(before), "{opt:?} changed nothing");
        }
    }
    // Buffers have Linux's floor (SOCK_MIN_RCVBUF and SNDBUF, rounded).
    r.stack.setsockopt(r.now, fd, O::RcvBuf(10)).unwrap();
    assert_eq!(r.stack.getsockopt(r.now, fd, N::RcvBuf), Ok(O::RcvBuf(256)));
    r.stack.setsockopt(r.now, fd, O::SndBuf(10)).unwrap();
    assert_eq!(r.stack.getsockopt(r.now, fd, N::SndBuf), Ok(O::SndBuf(256)));
    // SO_ERROR is read-only; a descriptor that does not exist is EBADF.
    assert_eq!(r.stack.setsockopt(r.now, fd, O::Error(None)), Err(Errno::ENOPROTOOPT));
    assert_eq!(r.stack.setsockopt(r.now, 99, O::NoDelay(true)), Err(Errno::EBADF));
    assert_eq!(r.stack.getsockopt(r.now, 99, N::NoDelay), Err(Errno::EBADF));
    // O_NONBLOCK is the descriptor's, and reads back.
    assert_eq!(r.stack.is_nonblocking(fd), Ok(false));
    r.stack.set_nonblocking(fd, true).unwrap();
    assert_eq!(r.stack.is_nonblocking(fd), Ok(true));
    r.stack.set_nonblocking(fd, false).unwrap();
    assert_eq!(r.stack.is_nonblocking(fd), Ok(false));
    assert_eq!(r.stack.set_nonblocking(99, true), Err(Errno::EBADF));
    assert_eq!(r.stack.is_nonblocking(99), Err(Errno::EBADF));
}

/// TCP_USER_TIMEOUT 0 is "off" (the system's R2), not "give up at once".
#[test]
fn a_user_timeout_of_zero_is_off() {
    let mut r = Rig::new();
    let fd = r.active_open();
    r.stack.setsockopt(r.now, fd, SockOpt::UserTimeout(0)).unwrap();
    r.stack.send(r.now, fd, b"hello", false).unwrap();
    r.expect("P.", r.iss + 1, None);
    for _ in 0..3 {
        let deadline = r.stack.poll_timeout().expect("the retransmission timer");
        r.now = deadline;
        r.expect("P.", r.iss + 1, None);
    }
    assert_eq!(r.stack.state(fd), Ok(State::Established));
}

/// SHLD-14: shrinking SO_RCVBUF never takes back window already offered;
/// the buffer keeps what was queued plus that window, and no more.
#[test]
fn a_shrunk_receive_buffer_keeps_the_window_it_offered() {
    let mut r = Rig::new();
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::RcvBuf(10_000)).unwrap();
    r.stack.bind(r.now, fd, r.local).unwrap();
    assert_eq!(r.stack.connect(r.now, fd, r.remote), Err(Errno::EINPROGRESS));
    r.iss = r.out().expect("SYN").seq.0;
    r.inject(r.seg("S.", PEER_ISS, r.iss + 1));
    r.expect(".", r.iss + 1, Some(PEER_ISS + 1));
    let offered = r.stack.status(fd).unwrap().rcv_wnd;
    assert_eq!(offered, 10_000);
    // 3000 octets arrive and stay unread; then the buffer shrinks.
    let mut d = r.seg(".", PEER_ISS + 1, r.iss + 1);
    d.payload = vec![b'a'; 3000];
    r.inject(d);
    r.advance_ms(500);
    let _ = r.out();
    r.stack.setsockopt(r.now, fd, SockOpt::RcvBuf(256)).unwrap();
    // The rest of what was offered is still taken whole.
    let mut d = r.seg(".", PEER_ISS + 3001, r.iss + 1);
    d.payload = vec![b'b'; 7000];
    r.inject(d);
    assert_eq!(r.stack.status(fd).unwrap().recv_queued, 10_000, "the offered window was honoured");
    // Read everything: the window opens to the kept buffer, not beyond.
    assert_eq!(r.stack.recv(r.now, fd, 20_000, false).map(|v| v.len()), Ok(10_000));
    let _ = r.out();
    let st = r.stack.status(fd).unwrap();
    assert_eq!(st.rcv_wnd, 10_000, "the buffer kept what was promised, no more and no less");
}

/// poll(2) as Linux's tcp_poll reports it, state by state.
#[test]
fn poll_reports_readiness_state_by_state() {
    let ev = |readable, writable, error, hup, rdhup, pri| PollEvents { readable, writable, error, hup, rdhup, pri };
    let mut r = Rig::new();
    // A fresh socket: writable and hung up (Linux: POLLOUT | POLLHUP).
    let idle = r.stack.socket(r.now, Domain::Inet).unwrap();
    assert_eq!(r.stack.poll(r.now, idle), Ok(ev(false, true, false, true, false, false)));
    assert_eq!(r.stack.poll(r.now, 99), Err(Errno::EBADF));
    // A listener: readable once a connection waits to be accepted.
    let lfd = r.listen();
    assert_eq!(r.stack.poll(r.now, lfd), Ok(PollEvents::default()));
    r.inject(r.seg("S", PEER_ISS, 0));
    r.iss = r.out().expect("SYN,ACK").seq.0;
    assert_eq!(r.stack.poll(r.now, lfd), Ok(PollEvents::default()), "half-open is not acceptable yet");
    r.inject(r.seg(".", PEER_ISS + 1, r.iss + 1));
    assert_eq!(r.stack.poll(r.now, lfd), Ok(ev(true, false, false, false, false, false)));
    let (fd, _) = r.stack.accept(r.now, lfd).unwrap();
    // ESTABLISHED with room to send and nothing to read.
    assert_eq!(r.stack.poll(r.now, fd), Ok(ev(false, true, false, false, false, false)));
    // Data to read.
    let mut d = r.seg(".", PEER_ISS + 1, r.iss + 1);
    d.payload = b"abc".to_vec();
    r.inject(d);
    assert_eq!(r.stack.poll(r.now, fd), Ok(ev(true, true, false, false, false, false)));
    assert_eq!(r.stack.recv(r.now, fd, 10, false).unwrap(), b"abc");
    assert_eq!(r.stack.poll(r.now, fd), Ok(ev(false, true, false, false, false, false)));
    // A full send buffer is not writable.
    r.stack.setsockopt(r.now, fd, SockOpt::SndBuf(256)).unwrap();
    let mut queued = 0;
    while let Ok(n) = r.stack.send(r.now, fd, &[b'x'; 100], false) {
        queued += n;
        assert!(queued < 100_000);
    }
    assert_eq!(r.stack.status(fd).unwrap().send_queued, 256);
    assert_eq!(r.stack.poll(r.now, fd), Ok(PollEvents::default()));
    // Urgent data pending: POLLPRI.
    let mut u = r.seg(".U", PEER_ISS + 4, r.iss + 1);
    u.payload = b"!".to_vec();
    u.urgent = 1;
    r.inject(u);
    assert_eq!(r.stack.poll(r.now, fd), Ok(ev(true, false, false, false, false, true)));
    assert_eq!(r.stack.recv(r.now, fd, 10, false).unwrap().len(), 1);
    // Read up to the urgent pointer: no longer urgent.
    assert_eq!(r.stack.poll(r.now, fd), Ok(ev(false, false, false, false, false, false)));
    assert_eq!(r.stack.status(fd).unwrap().urgent_pending, None);
    // The peer's FIN: readable (EOF) and read-hung-up; CLOSE-WAIT.
    r.inject(r.seg("F.", PEER_ISS + 5, r.iss + 1));
    assert_eq!(r.stack.state(fd), Ok(State::CloseWait));
    assert_eq!(r.stack.poll(r.now, fd), Ok(ev(true, false, false, false, true, false)));
    // Our side shut too: writable (writes fail at once) and hung up.
    r.stack.shutdown(r.now, fd, Shutdown::Write).unwrap();
    assert_eq!(r.stack.poll(r.now, fd), Ok(ev(true, true, false, true, true, false)));

    // shutdown(SHUT_RD) alone shuts the receive side only.
    let mut r = Rig::new();
    let fd = r.active_open();
    r.stack.shutdown(r.now, fd, Shutdown::Read).unwrap();
    assert_eq!(r.stack.poll(r.now, fd), Ok(ev(true, true, false, false, true, false)));
    // SHUT_WR alone: writable (fails at once), not readable.
    let mut r = Rig::new();
    let fd = r.active_open();
    r.stack.shutdown(r.now, fd, Shutdown::Write).unwrap();
    assert_eq!(r.stack.poll(r.now, fd), Ok(ev(false, true, false, false, false, false)));
    // Reset: everything, with the error pending until SO_ERROR reads it.
    let mut r = Rig::new();
    let fd = r.active_open();
    r.inject(r.seg("R", PEER_ISS + 1, 0));
    assert_eq!(r.stack.poll(r.now, fd), Ok(ev(true, true, true, true, true, false)));
    assert_eq!(r.stack.getsockopt(r.now, fd, SockOptName::Error), Ok(SockOpt::Error(Some(Errno::ECONNRESET))));
    assert_eq!(r.stack.poll(r.now, fd), Ok(ev(true, true, false, true, true, false)));
    // A connection that is gone cannot be shut down.
    assert_eq!(r.stack.shutdown(r.now, fd, Shutdown::Write), Err(Errno::ENOTCONN));
    assert_eq!(r.stack.shutdown(r.now, fd, Shutdown::Read), Err(Errno::ENOTCONN));
}

/// Names, peers and STATUS identities.
#[test]
fn addresses_and_identities() {
    let mut r = Rig::new();
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    assert_eq!(r.stack.getsockname(fd), Ok(None));
    assert_eq!(r.stack.getsockname(99), Err(Errno::EBADF));
    // Bound to the wildcard: connect() picks the family's address and keeps the port.
    r.stack.bind(r.now, fd, "0.0.0.0:8080".parse().unwrap()).unwrap();
    assert_eq!(r.stack.getsockname(fd), Ok(Some("0.0.0.0:8080".parse().unwrap())));
    assert_eq!(r.stack.bind(r.now, fd, r.local), Err(Errno::EINVAL), "bound once");
    assert_eq!(r.stack.connect(r.now, fd, r.remote), Err(Errno::EINPROGRESS));
    assert_eq!(r.stack.getsockname(fd), Ok(Some(r.local)));
    assert_eq!(r.stack.getpeername(fd), Ok(r.remote));
    let p = r.stack.poll_segment(r.now).expect("SYN");
    assert_eq!((p.ip.src, p.tcp.src_port), (r.local.ip(), 8080));
    // Connection identities are unique, never 0, and the same everywhere.
    let other = r.stack.socket(r.now, Domain::Inet).unwrap();
    assert_eq!(r.stack.connect(r.now, other, "192.0.2.7:80".parse().unwrap()), Err(Errno::EINPROGRESS));
    let (a, b) = (r.stack.status(fd).unwrap().id, r.stack.status(other).unwrap().id);
    assert!(a != 0 && b != 0 && a != b);
    let mut ids: Vec<u64> = r.stack.connections().iter().map(|s| s.id).collect();
    ids.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(ids, want);
    // The stack's own accessors.
    r.stack.handle_timeout(reference_stack::Instant::from_millis(250));
    assert_eq!(r.stack.now(), reference_stack::Instant::from_millis(250));
    assert_eq!(r.stack.addrs(), &[r.local.ip()]);
    assert_eq!(r.stack.profile().name, "rfc9293");
    let linux = Rig::with_profile(reference_stack::Profile::linux());
    assert_eq!(linux.stack.profile(), &reference_stack::Profile::linux());
}

/// A socket bound to one of two addresses connects from that one.
#[test]
fn connect_uses_the_bound_address() {
    let addrs: Vec<std::net::IpAddr> = vec!["198.51.100.1".parse().unwrap(), "198.51.100.2".parse().unwrap()];
    let mut s = reference_stack::Stack::new(reference_stack::StackConfig {
        addrs: addrs.clone(),
        profile: reference_stack::Profile::rfc9293(),
        seed: 1,
    });
    let t0 = reference_stack::Instant::ZERO;
    let fd = s.socket(t0, Domain::Inet).unwrap();
    s.bind(t0, fd, SocketAddr::new(addrs[1], 0)).unwrap();
    assert_eq!(s.connect(t0, fd, "192.0.2.1:80".parse().unwrap()), Err(Errno::EINPROGRESS));
    assert_eq!(s.poll_segment(t0).expect("SYN").ip.src, addrs[1]);
    // Unbound: the first address of the family.
    let fd = s.socket(t0, Domain::Inet).unwrap();
    assert_eq!(s.connect(t0, fd, "192.0.2.1:81".parse().unwrap()), Err(Errno::EINPROGRESS));
    assert_eq!(s.poll_segment(t0).expect("SYN").ip.src, addrs[0]);
    // An address the stack does not own cannot be bound.
    let fd = s.socket(t0, Domain::Inet).unwrap();
    assert_eq!(s.bind(t0, fd, "198.51.100.3:0".parse().unwrap()), Err(Errno::EADDRNOTAVAIL));
    assert_eq!(s.bind(t0, fd, "[2001:db8::1]:0".parse().unwrap()), Err(Errno::EAFNOSUPPORT));
}

/// connect()'s errors, as Linux's: no port 0 or unspecified peer, no
/// broadcast or multicast (MUST-46), EALREADY while the handshake runs,
/// the refusal once through SO_ERROR's value, then EISCONN... as Linux,
/// which reports ECONNREFUSED from the second connect().
#[test]
fn connect_errors() {
    let mut r = Rig::new();
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    for bad in ["192.0.2.1:0", "0.0.0.0:80"] {
        assert_eq!(r.stack.connect(r.now, fd, bad.parse().unwrap()), Err(Errno::EADDRNOTAVAIL), "{bad}");
    }
    for bad in ["255.255.255.255:80", "224.0.0.1:80"] {
        assert_eq!(r.stack.connect(r.now, fd, bad.parse().unwrap()), Err(Errno::ENETUNREACH), "{bad}");
    }
    assert_eq!(r.stack.connect(r.now, fd, "[2001:db8::9]:80".parse().unwrap()), Err(Errno::EAFNOSUPPORT));
    assert_eq!(r.stack.getsockname(fd), Ok(None), "a refused connect binds nothing");
    r.stack.bind(r.now, fd, r.local).unwrap();
    assert_eq!(r.stack.connect(r.now, fd, r.remote), Err(Errno::EINPROGRESS));
    assert_eq!(r.stack.connect(r.now, fd, r.remote), Err(Errno::EALREADY));
    let syn = r.out().expect("SYN");
    r.inject(r.seg("R.", 0, syn.seq.0.wrapping_add(1)));
    assert_eq!(r.stack.state(fd), Ok(State::Closed));
    assert_eq!(r.stack.connect(r.now, fd, r.remote), Err(Errno::ECONNREFUSED));
    assert_eq!(r.stack.connect(r.now, fd, r.remote), Err(Errno::EISCONN));
    let lfd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.listen(r.now, lfd, 1).unwrap();
    assert_eq!(r.stack.connect(r.now, lfd, r.remote), Err(Errno::EISCONN));
}

/// bind(2)'s conflicts (Linux's inet_csk_bind_conflict, as far as the
/// reference stack models it): overlapping addresses on one port conflict
/// unless both sockets set SO_REUSEADDR and the holder is not listening.
#[test]
fn bind_conflicts_and_reuseaddr() {
    let addrs: Vec<std::net::IpAddr> = vec!["198.51.100.1".parse().unwrap(), "198.51.100.2".parse().unwrap()];
    let new = || {
        reference_stack::Stack::new(reference_stack::StackConfig {
            addrs: addrs.clone(),
            profile: reference_stack::Profile::linux(),
            seed: 5,
        })
    };
    let t0 = reference_stack::Instant::ZERO;
    let a1: SocketAddr = "198.51.100.1:5000".parse().unwrap();
    let a2: SocketAddr = "198.51.100.2:5000".parse().unwrap();
    let any: SocketAddr = "0.0.0.0:5000".parse().unwrap();
    // (first, second, reuse on first, reuse on second, first listens, second binds?)
    let cases = [
        (a1, a2, false, false, false, true),
        (a1, a1, false, false, false, false),
        (a1, any, false, false, false, false),
        (any, a1, false, false, false, false),
        (any, any, false, false, false, false),
        (a1, a1, true, true, false, true),
        (any, a1, true, true, false, true),
        (a1, a1, true, false, false, false),
        (a1, a1, false, true, false, false),
        (a1, a1, true, true, true, false),
        (a1, "198.51.100.1:5001".parse().unwrap(), false, false, true, true),
    ];
    for (i, &(first, second, r1, r2, listen, ok)) in cases.iter().enumerate() {
        let mut s = new();
        let f = s.socket(t0, Domain::Inet).unwrap();
        s.setsockopt(t0, f, SockOpt::ReuseAddr(r1)).unwrap();
        s.bind(t0, f, first).unwrap();
        if listen {
            s.listen(t0, f, 4).unwrap();
        }
        let g = s.socket(t0, Domain::Inet).unwrap();
        s.setsockopt(t0, g, SockOpt::ReuseAddr(r2)).unwrap();
        let want = if ok { Ok(()) } else { Err(Errno::EADDRINUSE) };
        assert_eq!(s.bind(t0, g, second), want, "case {i}: {first} then {second}, reuse {r1}/{r2}, listen {listen}");
    }
}

/// An IPv6 socket is IPV6_V6ONLY in the reference stack (it never takes
/// IPv4): the IPv4 wildcard does not hold an IPv6 address's port, nor the
/// IPv6 wildcard an IPv4 one's.
#[test]
fn the_families_bind_apart() {
    let mut s = reference_stack::Stack::new(reference_stack::StackConfig::default());
    let t0 = reference_stack::Instant::ZERO;
    let v4 = s.socket(t0, Domain::Inet).unwrap();
    s.bind(t0, v4, "0.0.0.0:5000".parse().unwrap()).unwrap();
    for at in ["[2001:db8::1]:5000", "[::]:5000"] {
        let v6 = s.socket(t0, Domain::Inet6).unwrap();
        assert_eq!(s.bind(t0, v6, at.parse().unwrap()), Ok(()), "{at}");
        s.close(t0, v6).unwrap();
    }
    let v6 = s.socket(t0, Domain::Inet6).unwrap();
    s.bind(t0, v6, "[::]:6000".parse().unwrap()).unwrap();
    let other = s.socket(t0, Domain::Inet).unwrap();
    assert_eq!(s.bind(t0, other, "198.51.100.1:6000".parse().unwrap()), Ok(()));
    let again = s.socket(t0, Domain::Inet6).unwrap();
    assert_eq!(s.bind(t0, again, "[2001:db8::1]:6000".parse().unwrap()), Err(Errno::EADDRINUSE));
}

/// A connection without a descriptor (TIME-WAIT after close()) holds its
/// port against bind(2) unless SO_REUSEADDR, and against SO_REUSEPORT
/// sharing; connections elsewhere, or with descriptors that set
/// SO_REUSEPORT, do not.
#[test]
fn time_wait_holds_its_port() {
    let mut r = Rig::with_profile(reference_stack::Profile::linux());
    let fd = r.drive_to(State::TimeWait).unwrap();
    r.stack.close(r.now, fd).unwrap();
    assert_eq!(r.conn_state(), State::TimeWait);
    let plain = r.stack.socket(r.now, Domain::Inet).unwrap();
    assert_eq!(r.stack.bind(r.now, plain, r.local), Err(Errno::EADDRINUSE));
    let reuse_port = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.setsockopt(r.now, reuse_port, SockOpt::ReusePort(true)).unwrap();
    assert_eq!(r.stack.bind(r.now, reuse_port, r.local), Err(Errno::EADDRINUSE));
    // Another port is free for both.
    let elsewhere: SocketAddr = "198.51.100.1:8081".parse().unwrap();
    assert_eq!(r.stack.bind(r.now, reuse_port, elsewhere), Ok(()));
    let reuse = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.setsockopt(r.now, reuse, SockOpt::ReuseAddr(true)).unwrap();
    assert_eq!(r.stack.bind(r.now, reuse, r.local), Ok(()), "SO_REUSEADDR takes a TIME-WAIT's port");

    // Live connections whose sockets set SO_REUSEPORT share their port.
    let mut r = Rig::with_profile(reference_stack::Profile::linux());
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::ReusePort(true)).unwrap();
    r.stack.bind(r.now, fd, r.local).unwrap();
    assert_eq!(r.stack.connect(r.now, fd, r.remote), Err(Errno::EINPROGRESS));
    let unrelated = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.bind(r.now, unrelated, "198.51.100.1:9000".parse().unwrap()).unwrap();
    let _idle = r.stack.socket(r.now, Domain::Inet).unwrap();
    let second = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.setsockopt(r.now, second, SockOpt::ReusePort(true)).unwrap();
    assert_eq!(r.stack.bind(r.now, second, r.local), Ok(()));
    let third = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.setsockopt(r.now, third, SockOpt::ReusePort(true)).unwrap();
    assert_eq!(r.stack.bind(r.now, third, "0.0.0.0:8080".parse().unwrap()), Ok(()), "the wildcard overlaps too");
}

/// Ephemeral ports (RFC 6056): from the range, drawn from the seed, each
/// free port found before EADDRNOTAVAIL; a port some socket holds is not
/// drawn, and a TIME-WAIT on the same 4-tuple holds it unless tcp_tw_reuse
/// lets the connection take it over.
#[test]
fn ephemeral_ports() {
    use reference_stack::{Instant, Profile, Stack, StackConfig};
    let cfg = |seed, profile: Profile| StackConfig { addrs: vec!["198.51.100.1".parse().unwrap()], profile, seed };
    let t0 = Instant::ZERO;
    // The default range, and not the same first port for every seed.
    let mut first = std::collections::BTreeSet::new();
    for seed in 0..8 {
        let mut s = Stack::new(cfg(seed, Profile::linux()));
        let fd = s.socket(t0, Domain::Inet).unwrap();
        assert_eq!(s.connect(t0, fd, "192.0.2.1:80".parse().unwrap()), Err(Errno::EINPROGRESS));
        let port = s.getsockname(fd).unwrap().unwrap().port();
        assert!((32768..=60999).contains(&port), "{port}");
        first.insert(port);
    }
    assert!(first.len() > 4, "the first port is drawn: {first:?}");
    // A range of eight: eight binds to port 0 take all of it, the ninth fails.
    for seed in 0..4 {
        let mut p = Profile::linux();
        p.local_ports = Some((50000, 50007));
        let mut s = Stack::new(cfg(seed, p));
        let mut got = std::collections::BTreeSet::new();
        for _ in 0..8 {
            let fd = s.socket(t0, Domain::Inet).unwrap();
            s.bind(t0, fd, "0.0.0.0:0".parse().unwrap()).unwrap();
            got.insert(s.getsockname(fd).unwrap().unwrap().port());
        }
        assert_eq!(got, (50000..=50007).collect());
        let fd = s.socket(t0, Domain::Inet).unwrap();
        assert_eq!(s.bind(t0, fd, "0.0.0.0:0".parse().unwrap()), Err(Errno::EADDRNOTAVAIL));
        assert_eq!(s.connect(t0, fd, "192.0.2.1:80".parse().unwrap()), Err(Errno::EADDRNOTAVAIL));
        // listen() on an unbound socket needs a port too.
        assert_eq!(s.listen(t0, fd, 1), Err(Errno::EADDRNOTAVAIL));
    }
    // One port, held by a bound socket: connect() finds none.
    let mut p = Profile::linux();
    p.local_ports = Some((50000, 50000));
    let mut s = Stack::new(cfg(1, p.clone()));
    let holder = s.socket(t0, Domain::Inet).unwrap();
    s.bind(t0, holder, "198.51.100.1:50000".parse().unwrap()).unwrap();
    let fd = s.socket(t0, Domain::Inet).unwrap();
    assert_eq!(s.connect(t0, fd, "192.0.2.1:80".parse().unwrap()), Err(Errno::EADDRNOTAVAIL));
}

/// tcp_tw_reuse: an outgoing connection may take over the 4-tuple of a
/// TIME-WAIT whose last timestamp is older than `tw_reuse_after` (strictly,
/// as tcp_twsk_unique's time_after32); its ISS lies past the old SND.NXT by
/// 65535 + 2 and its SYN echoes the old TS.Recent.
#[test]
fn tw_reuse_takes_an_old_time_wait_over() {
    use reference_stack::wire::TcpOption;
    let mut p = reference_stack::Profile::linux();
    p.local_ports = Some((8080, 8080));
    p.tw_reuse_after = Some(reference_stack::Duration::from_secs(1));
    let mut r = Rig::with_profile(p);
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    assert_eq!(r.stack.connect(r.now, fd, r.remote), Err(Errno::EINPROGRESS));
    let syn = r.out().expect("SYN");
    assert_eq!(syn.src_port, 8080);
    let iss = syn.seq.0;
    let (tsval, _) = syn.timestamps().expect("timestamps");
    let mut sa = r.seg("S.", PEER_ISS, iss.wrapping_add(1));
    sa.options = vec![TcpOption::Timestamps { tsval: 777, tsecr: tsval }].into();
    r.inject(sa);
    let _ = r.out();
    // Close first; the peer's FIN then puts us in TIME-WAIT.
    r.stack.close(r.now, fd).unwrap();
    let fin = r.out().expect("FIN");
    let mut ack = r.seg("F.", PEER_ISS + 1, iss.wrapping_add(2));
    ack.options = vec![TcpOption::Timestamps { tsval: 778, tsecr: fin.timestamps().unwrap().0 }].into();
    r.inject(ack);
    let _ = r.out();
    assert_eq!(r.conn_state(), State::TimeWait);
    let old_nxt = iss.wrapping_add(2);
    // At exactly the threshold, not yet: the one port is taken.
    r.advance_ms(1000);
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    assert_eq!(r.stack.connect(r.now, fd, r.remote), Err(Errno::EADDRNOTAVAIL));
    r.advance_ms(1);
    assert_eq!(r.stack.connect(r.now, fd, r.remote), Err(Errno::EINPROGRESS));
    let syn = r.out().expect("the new SYN");
    assert_eq!(syn.seq.0, old_nxt.wrapping_add(65537));
    assert_eq!(syn.timestamps().map(|t| t.1), Some(778), "the SYN echoes the old TS.Recent");
    assert_eq!(r.stack.stats().connections_opened, 2);
}
