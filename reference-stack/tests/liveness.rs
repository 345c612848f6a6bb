//! The liveness oracles against a driver that can be late on purpose: a
//! connection driven by its timers (each fired at its deadline, as the
//! fuzzer and the harness do) meets every bound; the same connection with
//! the clock moved past a deadline without its timer firing (what a stack
//! whose timer was pushed back looks like from outside) breaks the rule.
mod support;

use reference_stack::oracle::{liveness, Oracle, TimerSteps, Violation};
use reference_stack::wire::{IpPacket, IpRepr, TcpOption, TcpRepr};
use reference_stack::{Duration, Fd, FourTuple, Instant, Profile, Stack, StackConfig};
use support::*;

struct Watched {
    stack: Stack,
    oracle: Oracle,
    now: Instant,
    rig: Rig,
    /// The stack's ISS, from its SYN,ACK.
    iss: u32,
}

impl Watched {
    fn new() -> Watched {
        let rig = Rig::new();
        let stack = Stack::new(StackConfig { addrs: vec![rig.local.ip()], profile: Profile::rfc9293(), seed: 7 });
        Watched { stack, oracle: Oracle::new(), now: Instant::ZERO, rig, iss: 0 }
    }

    fn tuple(&self) -> FourTuple {
        FourTuple { local: self.rig.local, remote: self.rig.remote }
    }

    /// What the stack sent now, through the oracles, then the step's end.
    fn settle(&mut self) -> Result<Vec<TcpRepr>, Violation> {
        let mut sent = Vec::new();
        while let Some((bytes, origin)) = self.stack.poll_transmit_from(self.now) {
            sent.push(self.oracle.on_emit(&bytes, origin.as_ref())?.tcp);
        }
        let events = self.stack.take_events();
        self.oracle.on_events(&events)?;
        self.oracle.end_step(&self.stack, self.now)?;
        Ok(sent)
    }

    fn inject(&mut self, seg: TcpRepr) -> Result<Vec<TcpRepr>, Violation> {
        let view = self.stack.connection_view(&self.tuple());
        self.oracle.before_inject(self.tuple(), view.as_ref());
        self.oracle.on_inject(self.rig.remote.ip(), self.rig.local.ip(), &seg);
        let bytes = IpPacket { ip: IpRepr::new(self.rig.remote.ip(), self.rig.local.ip()), tcp: seg }.emit().unwrap();
        self.stack.handle_packet(self.now, &bytes).unwrap();
        self.settle()
    }

    /// Every timer due by `until` fires at its own deadline.
    fn run_until(&mut self, until: Instant) -> Result<(), Violation> {
        let mut timers = TimerSteps::new(until);
        while let Some(t) = timers.next(&self.stack, self.now)? {
            self.now = t;
            self.stack.handle_timeout(self.now);
            self.settle()?;
        }
        self.now = until;
        self.settle().map(|_| ())
    }

    /// The oracles look at the stack at `t` with no timer fired on the way
    /// (the stack is not polled: polling would fire what is due).
    fn skip_to(&mut self, t: Instant) -> Result<(), Violation> {
        self.now = t;
        self.oracle.end_step(&self.stack, t)
    }

    /// A passive open, every segment seen by the oracles; the accepted fd.
    fn established(&mut self) -> Fd {
        let now = self.now;
        let lfd = self.stack.socket(now, reference_stack::Domain::Inet).unwrap();
        self.stack.bind(now, lfd, self.rig.local).unwrap();
        self.stack.listen(now, lfd, 1).unwrap();
        let mut syn = self.rig.seg("S", PEER_ISS, 0);
        syn.options = vec![TcpOption::Mss(1460)].into();
        let sa = self.inject(syn).unwrap();
        self.iss = sa[0].seq.0;
        self.inject(self.rig.seg(".", PEER_ISS + 1, self.iss + 1)).unwrap();
        self.stack.accept(self.now, lfd).unwrap().0
    }
}

fn ms(v: u64) -> Instant {
    Instant::from_millis(v)
}

#[track_caller]
fn broke(r: Result<(), Violation>, rule: &str) {
    match r {
        Err(Violation::Liveness { rule: r, detail }) => assert_eq!(r, rule, "{detail}"),
        other => panic!("expected {rule:?}, got {other:?}"),
    }
}

#[test]
fn unacknowledged_data_is_retransmitted_within_one_rto() {
    let mut w = Watched::new();
    let fd = w.established();
    w.stack.send(w.now, fd, b"0123456789", false).unwrap();
    assert_eq!(w.settle().unwrap().len(), 1);
    let mut late = Watched::new();
    let fd2 = late.established();
    late.stack.send(late.now, fd2, b"0123456789", false).unwrap();
    late.settle().unwrap();
    // The RTO is 1 s: at its deadline the retransmission goes; moved past
    // it with nothing sent, the rule is broken.
    w.run_until(ms(5000)).unwrap();
    late.skip_to(ms(999)).unwrap();
    broke(late.skip_to(ms(1001)), liveness::SEND_WITHIN);
}

#[test]
fn in_order_data_is_acknowledged_within_500_ms() {
    let mut w = Watched::new();
    w.established();
    let data = TcpRepr { payload: vec![1; 10], ..w.rig.seg("P.", PEER_ISS + 1, w.iss + 1) };
    assert!(w.inject(data.clone()).unwrap().is_empty(), "the ACK is delayed");
    w.run_until(ms(1000)).unwrap();
    let mut late = Watched::new();
    late.established();
    late.inject(data).unwrap();
    // The delayed ACK (200 ms) never fires here.
    late.skip_to(ms(500)).unwrap();
    broke(late.skip_to(ms(501)), liveness::ACK_WITHIN);
}

#[test]
fn a_closed_window_is_probed_within_the_persist_interval() {
    let mut w = Watched::new();
    let fd = w.established();
    let closed = TcpRepr { window: 0, ..w.rig.seg(".", PEER_ISS + 1, w.iss + 1) };
    w.inject(closed.clone()).unwrap();
    w.stack.send(w.now, fd, b"0123456789", false).unwrap();
    assert!(w.settle().unwrap().is_empty(), "the window is closed");
    let mut late = Watched::new();
    let fd2 = late.established();
    late.inject(closed).unwrap();
    late.stack.send(late.now, fd2, b"0123456789", false).unwrap();
    late.settle().unwrap();
    w.run_until(ms(10_000)).unwrap();
    broke(late.skip_to(ms(1001)), liveness::PROBE_WITHIN);
}

#[test]
fn time_wait_ends_two_msl_after_the_last_fin() {
    let mut w = Watched::new();
    let fd = w.established();
    w.stack.close(w.now, fd).unwrap();
    let fin = w.settle().unwrap();
    assert!(fin[0].flags.fin());
    w.inject(w.rig.seg("F.", PEER_ISS + 1, w.iss + 2)).unwrap();
    assert_eq!(w.stack.connection(&w.tuple()).unwrap().state, reference_stack::State::TimeWait);
    let two_msl = w.stack.profile().time_wait;
    // A retransmitted FIN restarts the timer (and the oracle's bound).
    w.run_until(ms(100_000)).unwrap();
    w.inject(w.rig.seg("F.", PEER_ISS + 1, w.iss + 2)).unwrap();
    let restart = w.now;
    w.skip_to(restart + two_msl).unwrap();
    broke(w.skip_to(restart + two_msl + Duration::from_millis(1)), liveness::TIME_WAIT_ENDS);
}

/// What the liveness oracles read of a connection: octets and FIN queued
/// and not yet sent, the timers' intervals with their backoff, keep-alive's
/// settings.
#[test]
fn the_live_view_counts_what_is_queued_and_unsent() {
    let mut r = Rig::new();
    let fd = r.active_open();
    let view = |r: &Rig| r.stack.live_views().next().expect("one connection");
    let v = view(&r);
    assert_eq!((v.unsent, v.fin_unsent, v.keepalive), (0, false, None));
    assert_eq!(v.id, r.stack.status(fd).unwrap().id);
    // The congestion window holds most of 30000 octets back.
    r.stack.send(r.now, fd, &[b'x'; 30_000], false).unwrap();
    let sent: usize = std::iter::from_fn(|| r.out()).map(|s| s.payload.len()).sum();
    assert!(sent > 0 && sent < 30_000, "{sent}");
    let v = view(&r);
    assert_eq!((v.unsent, v.fin_unsent), (30_000 - sent, false));
    assert_eq!(v.snd_nxt.0.wrapping_sub(v.snd_una.0) as usize, sent);
    // A FIN queued behind them.
    r.stack.shutdown(r.now, fd, reference_stack::Shutdown::Write).unwrap();
    assert_eq!(r.out(), None);
    assert_eq!((view(&r).unsent, view(&r).fin_unsent), (30_000 - sent, true));
    // Acknowledged as it goes, everything leaves, the FIN last.
    let mut last_fin = false;
    for _ in 0..100 {
        let nxt = r.snd_nxt();
        r.inject(r.seg(".", PEER_ISS + 1, nxt));
        let out: Vec<_> = std::iter::from_fn(|| r.out()).collect();
        if let Some(s) = out.last() {
            last_fin = s.flags.fin();
        }
        if view(&r).unsent == 0 && !view(&r).fin_unsent {
            break;
        }
    }
    assert!(last_fin);
    assert_eq!((view(&r).unsent, view(&r).fin_unsent), (0, false));
    // The RTO with its backoff: after two timeouts, four times the base.
    let base = r.stack.status(fd).unwrap().rto;
    assert_eq!(view(&r).rto, base);
    for _ in 0..2 {
        r.now = r.stack.poll_timeout().unwrap();
        let _: Vec<_> = std::iter::from_fn(|| r.out()).collect();
    }
    assert_eq!(view(&r).rto, base.saturating_mul(4));

    // Keep-alive's settings in force, the socket's over the profile's.
    let mut r = Rig::new();
    let fd = r.active_open();
    r.stack.setsockopt(r.now, fd, reference_stack::SockOpt::KeepAlive(true)).unwrap();
    r.stack.setsockopt(r.now, fd, reference_stack::SockOpt::KeepIdle(60)).unwrap();
    let p = Profile::rfc9293();
    assert_eq!(view(&r).keepalive, Some((Duration::from_secs(60), p.keepalive_interval, p.keepalive_count)));
    assert_eq!(view(&r).last_recv, r.now);
}
