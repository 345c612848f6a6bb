//! Packets in and out of the stack: which segments it takes (MUST-57,
//! MUST-63), which listener a SYN reaches, what it counts and logs, the
//! ISN clock and placed numbers, and who queued each datagram it sends.
mod support;

use reference_stack::event::{DropReason, EventKind, Notice};
use reference_stack::wire::{IpPacket, IpRepr, TcpOption, TcpRepr};
use reference_stack::{Domain, Duration, Errno, Instant, Profile, SeqNumber, Stack, StackConfig, State};
use std::net::{IpAddr, SocketAddr};
use support::*;

fn stack(addrs: &[&str], profile: Profile) -> Stack {
    Stack::new(StackConfig { addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(), profile, seed: 9 })
}

fn syn_to(dst: SocketAddr, src: SocketAddr) -> (IpRepr, TcpRepr) {
    let seg = TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq: SeqNumber(PEER_ISS),
        flags: flags("S"),
        window: 65535,
        ..TcpRepr::default()
    };
    (IpRepr::new(src.ip(), dst.ip()), seg)
}

fn listener(s: &mut Stack, at: &str) -> i32 {
    let fd = s.socket(Instant::ZERO, if at.starts_with('[') { Domain::Inet6 } else { Domain::Inet }).unwrap();
    s.bind(Instant::ZERO, fd, at.parse().unwrap()).unwrap();
    s.listen(Instant::ZERO, fd, 8).unwrap();
    fd
}

/// MUST-57, MUST-63: a segment to an address that is not ours, from or to
/// broadcast, multicast or the unspecified address, or from or to port 0,
/// is dropped without an answer, and logged as such.
#[test]
fn segments_not_for_us_are_dropped_silently() {
    // 224.0.0.1 is in the stack's list so that only the multicast rule can refuse it.
    let mut s = stack(&["198.51.100.1", "224.0.0.1", "2001:db8::1"], Profile::rfc9293());
    listener(&mut s, "0.0.0.0:80");
    listener(&mut s, "[2001:db8::1]:80");
    s.take_events();
    let bad = [
        ("198.51.100.1:80", "255.255.255.255:4000"),
        ("198.51.100.1:80", "224.0.0.9:4000"),
        ("198.51.100.1:80", "0.0.0.0:4000"),
        ("198.51.100.1:80", "192.0.2.1:0"),
        ("198.51.100.1:0", "192.0.2.1:4000"),
        ("198.51.100.2:80", "192.0.2.1:4000"),
        ("224.0.0.1:80", "192.0.2.1:4000"),
        ("[2001:db8::1]:80", "[ff02::1]:4000"),
        ("[2001:db8::1]:80", "[::]:4000"),
    ];
    for (dst, src) in bad {
        let (ip, seg) = syn_to(dst.parse().unwrap(), src.parse().unwrap());
        s.handle_segment(Instant::ZERO, ip, &seg);
        assert_eq!(s.poll_segment(Instant::ZERO).map(|p| p.tcp), None, "{src} -> {dst}");
        let ev = s.take_events();
        assert!(
            matches!(ev.as_slice(), [e] if matches!(e.kind, EventKind::Dropped { reason: DropReason::NotForUs, .. })),
            "{src} -> {dst}: {ev:?}"
        );
    }
    // The same SYN from a unicast peer is answered, on both families.
    for (dst, src) in [("198.51.100.1:80", "192.0.2.1:4000"), ("[2001:db8::1]:80", "[2001:db8::2]:4000")] {
        let (ip, seg) = syn_to(dst.parse().unwrap(), src.parse().unwrap());
        s.handle_segment(Instant::ZERO, ip, &seg);
        let p = s.poll_segment(Instant::ZERO).expect("SYN,ACK");
        assert_eq!((p.tcp.flags, p.tcp.src_port, p.tcp.dst_port), (flags("S."), 80, 4000));
    }
}

/// RFC 9293 3.10.7.1: with no TCB, a segment is answered with a RST that
/// mirrors its ports.
#[test]
fn a_closed_port_resets_with_mirrored_ports() {
    let mut s = stack(&["198.51.100.1"], Profile::rfc9293());
    let (ip, mut seg) = syn_to("198.51.100.1:81".parse().unwrap(), "192.0.2.1:4000".parse().unwrap());
    seg.payload = b"hi".to_vec();
    s.handle_segment(Instant::ZERO, ip, &seg);
    let p = s.poll_segment(Instant::ZERO).expect("RST");
    assert_eq!((p.tcp.flags, p.tcp.src_port, p.tcp.dst_port), (flags("R."), 81, 4000));
    assert_eq!((p.tcp.seq.0, p.tcp.ack.0), (0, PEER_ISS + 3));
    assert_eq!((p.ip.src, p.ip.dst), (ip.dst, ip.src));
}

/// Which listener a SYN reaches: one bound to its address before one bound
/// to the wildcard; never one on another port or of another family.
#[test]
fn a_syn_reaches_the_most_specific_listener() {
    let mut s = stack(&["198.51.100.1", "198.51.100.2", "2001:db8::1"], Profile::rfc9293());
    let t0 = Instant::ZERO;
    // A specific and a wildcard listener on port 80 (SO_REUSEADDR on both
    // lets them bind before either listens).
    let mut fds = Vec::new();
    for at in ["198.51.100.1:80", "0.0.0.0:80"] {
        let fd = s.socket(t0, Domain::Inet).unwrap();
        s.setsockopt(t0, fd, reference_stack::SockOpt::ReuseAddr(true)).unwrap();
        s.bind(t0, fd, at.parse().unwrap()).unwrap();
        fds.push(fd);
    }
    for fd in &fds {
        s.listen(t0, *fd, 8).unwrap();
    }
    let (specific, wildcard) = (fds[0], fds[1]);
    listener(&mut s, "198.51.100.2:90");
    let connect = |s: &mut Stack, dst: &str, port: u16| {
        let (ip, syn) = syn_to(dst.parse().unwrap(), SocketAddr::new("192.0.2.1".parse().unwrap(), port));
        s.handle_segment(t0, ip, &syn);
        let sa = s.poll_segment(t0).expect("an answer").tcp;
        if sa.flags == flags("S.") {
            let ack = TcpRepr {
                seq: SeqNumber(PEER_ISS + 1),
                ack: sa.seq + 1,
                flags: flags("."),
                src_port: port,
                dst_port: syn.dst_port,
                window: 65535,
                ..TcpRepr::default()
            };
            s.handle_segment(t0, ip, &ack);
        }
        sa.flags
    };
    assert_eq!(connect(&mut s, "198.51.100.1:80", 4000), flags("S."));
    assert_eq!(connect(&mut s, "198.51.100.2:80", 4001), flags("S."));
    let (_, peer) = s.accept(t0, specific).expect("the specific listener took its address");
    assert_eq!(peer.port(), 4000);
    let (_, peer) = s.accept(t0, wildcard).expect("the wildcard took the other");
    assert_eq!(peer.port(), 4001);
    assert_eq!(s.accept(t0, specific), Err(Errno::EAGAIN));
    // Port 90 is bound to .2 only; port 91 to nothing; no IPv6 listener.
    assert_eq!(connect(&mut s, "198.51.100.1:90", 4002), flags("R."));
    assert_eq!(connect(&mut s, "198.51.100.2:90", 4003), flags("S."));
    assert_eq!(connect(&mut s, "198.51.100.2:91", 4004), flags("R."));
    assert_eq!(connect(&mut s, "[2001:db8::1]:80", 4005), flags("R."));
}

/// What the stack counts, and the IPv4 identification of what it sends.
#[test]
fn counters_and_idents() {
    let mut r = Rig::new();
    let fd = r.active_open();
    let s = r.stack.stats();
    assert_eq!((s.datagrams_in, s.datagrams_out, s.connections_opened, s.malformed_in), (1, 2, 1, 0));
    r.stack.handle_packet(r.now, &[0x45, 0, 0]).unwrap_err();
    r.stack.handle_packet(r.now, &[0x60]).unwrap_err();
    let s = r.stack.stats();
    assert_eq!((s.datagrams_in, s.malformed_in), (3, 2));
    // Two RTOs: two retransmitted segments.
    r.stack.send(r.now, fd, b"abc", false).unwrap();
    let first = r.stack.poll_segment(r.now).expect("data");
    for n in 1..=2 {
        r.now = r.stack.poll_timeout().unwrap();
        let again = r.stack.poll_segment(r.now).expect("retransmission");
        assert_eq!(again.ip.ident, first.ip.ident.wrapping_add(n), "idents count up");
        assert_eq!(r.stack.stats().retransmitted_segments, u64::from(n));
    }
    assert_eq!(r.stack.stats().datagrams_out, 5);
    // The event log can be taken into a kept vector.
    let mut kept = vec![];
    r.stack.handle_packet(r.now, &[0x45]).unwrap_err();
    r.stack.take_events_into(&mut kept);
    assert!(kept.iter().any(|e| matches!(e.kind, EventKind::Dropped { reason: DropReason::Malformed(_), .. })));
    assert!(r.stack.events().is_empty());
    let _ = fd;
}

/// MUST-8: the ISN clock ticks every `isn_tick` (4 us in RFC 9293), so the
/// same 4-tuple an instant later starts that many ticks further.
#[test]
fn the_isn_clock_ticks_at_its_rate() {
    for profile in [Profile::rfc9293(), Profile::linux()] {
        let tick = profile.isn_tick;
        let isn_at = |at: Instant| {
            let mut s = stack(&["198.51.100.1"], profile.clone());
            let fd = s.socket(at, Domain::Inet).unwrap();
            s.bind(at, fd, "198.51.100.1:5000".parse().unwrap()).unwrap();
            let _ = s.connect(at, fd, "192.0.2.1:80".parse().unwrap());
            s.poll_segment(at).expect("SYN").tcp.seq
        };
        let later = Instant::from_millis(1000);
        let ticks = (1_000_000 / tick.total_micros()) as u32;
        assert_eq!(isn_at(later).0.wrapping_sub(isn_at(Instant::ZERO).0), ticks, "{}", profile.name);
    }
}

/// `place_numbers`: the ISS and TSval offset of every later connection,
/// active or passive.
#[test]
fn placed_numbers_start_every_connection() {
    let mut r = Rig::new();
    r.stack.place_numbers(Some(0xffff_fff0), Some(0x8000_0000));
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    let _ = r.stack.connect(r.now, fd, r.remote);
    let syn = r.out().expect("SYN");
    assert_eq!(syn.seq.0, 0xffff_fff0);
    assert_eq!(syn.timestamps().map(|t| t.0), Some(0x8000_0000));
    r.advance_ms(5);
    let lfd = r.listen();
    let mut peer = r.seg("S", PEER_ISS, 0);
    peer.src_port = 40001;
    peer.options = vec![TcpOption::Timestamps { tsval: 1, tsecr: 0 }].into();
    r.inject(peer);
    let sa = r.out().expect("SYN,ACK");
    assert_eq!(sa.seq.0, 0xffff_fff0);
    assert_eq!(sa.timestamps().map(|t| t.0), Some(0x8000_0005));
    let _ = lfd;
}

/// A datagram says which connection queued it: a RST for a closed port
/// queued before a connection's data is nobody's, even when both wait in
/// the queue together.
#[test]
fn each_datagram_names_the_connection_that_queued_it() {
    let mut r = Rig::new();
    let fd = r.active_open();
    let id = r.stack.status(fd).unwrap().id;
    let (ip, seg) = syn_to("198.51.100.1:81".parse().unwrap(), "192.0.2.1:4000".parse().unwrap());
    r.stack.handle_segment(r.now, ip, &seg);
    r.stack.send(r.now, fd, b"data", false).unwrap();
    let (bytes, origin) = r.stack.poll_transmit_from(r.now).expect("the RST");
    assert!(IpPacket::parse(&bytes).unwrap().tcp.flags.rst());
    assert_eq!(origin, None);
    let (bytes, origin) = r.stack.poll_transmit_from(r.now).expect("the data");
    assert_eq!(IpPacket::parse(&bytes).unwrap().tcp.payload, b"data");
    assert_eq!(origin.map(|v| v.id), Some(id));
    assert_eq!(r.stack.poll_transmit_from(r.now), None);
    let _: IpAddr = ip.src;
}

/// Notices reach the event log (the harness's traces and the fuzzer's map
/// read them): a SYN cookie sent, a listener's drop.
#[test]
fn notices_and_drops_are_logged() {
    let mut p = Profile::linux();
    p.listen = reference_stack::profile::ListenQueues::Linux {
        syncookies: 2,
        max_syn_backlog: 128,
        somaxconn: 4096,
        abort_on_overflow: false,
    };
    let mut r = Rig::with_profile(p);
    let _ = r.listen();
    r.stack.take_events();
    r.inject(r.seg("S", PEER_ISS, 0));
    assert!(r.out().is_some());
    let ev = r.stack.take_events();
    assert!(ev.iter().any(|e| matches!(e.kind, EventKind::Notice(Notice::SynCookieSent))), "{ev:?}");
    // A RST to a listener is ignored, and said so.
    r.inject(r.seg("R", PEER_ISS, 0));
    r.expect_nothing();
    let ev = r.stack.take_events();
    assert!(ev.iter().any(|e| matches!(e.kind, EventKind::Dropped { reason: DropReason::Ignored, .. })), "{ev:?}");
    assert_eq!(r.stack.state(3), Ok(State::Listen));
    let _ = Duration::ZERO;
}
