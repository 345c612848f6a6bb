//! RFC 9293 3.4.1 (MUST-8, MUST-9, SHLD-1) and RFC 7323 7.1: the ISN and
//! the timestamp offset come from a clock and a keyed hash of the 4-tuple,
//! so connections (and the same 4-tuple later) start elsewhere, and a TSval
//! does not give the clock away. Scripts cannot see this: they count every
//! number from the ISNs the stack shows them.

use reference_stack::wire::TcpOption;
use reference_stack::{Domain, Duration, Instant, Profile, Stack, StackConfig};
use std::net::SocketAddr;

/// The ISN and TSval of the SYN a fresh socket sends to `remote` at `now`.
fn syn(stack: &mut Stack, now: Instant, remote: SocketAddr) -> (u32, u32) {
    let fd = stack.socket(now, Domain::Inet).unwrap();
    // Non-blocking underneath: the handshake is under way.
    assert!(matches!(stack.connect(now, fd, remote), Ok(()) | Err(reference_stack::Errno::EINPROGRESS)));
    let p = stack.poll_segment(now).expect("a SYN");
    assert!(p.tcp.flags.syn());
    let ts = p.tcp.options.iter().find_map(|o| match o {
        TcpOption::Timestamps { tsval, .. } => Some(*tsval),
        _ => None,
    });
    (p.tcp.seq.0, ts.expect("timestamps on"))
}

#[test]
fn every_connection_starts_its_numbers_elsewhere() {
    for profile in [Profile::rfc9293(), Profile::linux()] {
        let mut stack =
            Stack::new(StackConfig { addrs: vec!["198.51.100.1".parse().unwrap()], profile: profile.clone(), seed: 3 });
        let t0 = Instant::ZERO;
        let (isn_a, ts_a) = syn(&mut stack, t0, "192.0.2.1:40000".parse().unwrap());
        let (isn_b, ts_b) = syn(&mut stack, t0, "192.0.2.1:40001".parse().unwrap());
        assert_ne!(isn_a, isn_b, "two 4-tuples at the same instant: {profile:?}");
        assert_ne!(ts_a, ts_b, "each connection has its own TSval offset");
        // Neither TSval is the clock itself (0 ticks at time 0, or 1).
        assert!(ts_a > 1 && ts_b > 1);
        // The ISN clock moves on: a later connection to a third port does
        // not start where a hash alone would put it (two stacks, same key).
        let mut twin =
            Stack::new(StackConfig { addrs: vec!["198.51.100.1".parse().unwrap()], profile: profile.clone(), seed: 3 });
        let remote: SocketAddr = "192.0.2.1:40002".parse().unwrap();
        let (now_isn, _) = syn(&mut stack, t0, remote);
        let (later_isn, _) = syn(&mut twin, t0 + Duration::from_secs(1), remote);
        assert_ne!(now_isn, later_isn, "the ISN clock (MUST-8)");
    }
}
