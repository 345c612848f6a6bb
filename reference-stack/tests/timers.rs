//! Every timer, in virtual time, with its exact schedule under both profiles:
//! retransmission and backoff, SYN and SYN,ACK give-up, TIME-WAIT, keep-alive,
//! persist, delayed ACK, user timeout, plus slow start, fast retransmit and
//! cwnd after an RTO.
mod support;

use reference_stack::event::{EventKind, Notice};
use reference_stack::wire::{TcpOption, TcpRepr};
use reference_stack::{Domain, Duration, Errno, Instant, Profile, SockOpt, State, TimerKind};
use support::*;

const P: u32 = PEER_ISS + 1;

/// Runs the clock from timer to timer until nothing is armed (or `until`),
/// collecting (time in ms, segment) for everything sent.
fn run_timers(r: &mut Rig, until: Instant) -> Vec<(u64, TcpRepr)> {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let Some(t) = r.stack.poll_timeout() else { break };
        if t > until {
            break;
        }
        r.now = t;
        while let Some(s) = r.out() {
            out.push((t.total_micros() / 1000, s));
        }
    }
    out
}

fn times(v: &[(u64, TcpRepr)]) -> Vec<u64> {
    v.iter().map(|x| x.0).collect()
}

fn secs(v: &[u64]) -> Vec<u64> {
    v.iter().map(|ms| ms * 1000).collect()
}

// ----------------------------------------------------------- SYN and SYN,ACK

#[test]
fn syn_schedule_and_give_up_rfc9293() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::SynSent).unwrap();
    let sent = run_timers(&mut r, Instant::from_secs(3600));
    // RFC 6298: 1 s, doubling (5.5), capped at rto_max = 60 s.
    assert_eq!(times(&sent), secs(&[1, 3, 7, 15, 31, 63, 123, 183]));
    assert!(sent.iter().all(|(_, s)| s.flags == flags("S") && s.seq.0 == r.iss));
    // Give-up one backed-off RTO after the last: 243 s, at least 3 minutes (MUST-23).
    assert_eq!(r.stack.state(fd).unwrap(), State::Closed);
    assert_eq!(r.now, Instant::from_secs(243));
    assert_eq!(r.stack.recv(r.now, fd, 1, false), Err(Errno::ETIMEDOUT));
}

#[test]
fn syn_schedule_and_give_up_linux() {
    let mut r = Rig::with_profile(Profile::linux());
    let fd = r.drive_to(State::SynSent).unwrap();
    let sent = run_timers(&mut r, Instant::from_secs(3600));
    // tcp_syn_linear_timeouts = 4, then backoff.
    assert_eq!(times(&sent), secs(&[1, 2, 3, 4, 5, 7, 11, 19, 35, 67]));
    assert_eq!(r.now, Instant::from_secs(131));
    assert_eq!(r.stack.recv(r.now, fd, 1, false), Err(Errno::ETIMEDOUT));
}

#[test]
fn synack_schedule_and_give_up_both_profiles() {
    for (p, expect, gone_at) in
        [(Profile::rfc9293(), vec![1, 3, 7, 15, 31, 63, 123, 183], 243), (Profile::linux(), vec![1, 3, 7, 15, 31], 63)]
    {
        let name = p.name;
        let mut r = Rig::with_profile(p);
        r.drive_to(State::SynReceived);
        let sent = run_timers(&mut r, Instant::from_secs(3600));
        assert_eq!(times(&sent), secs(&expect), "{name}");
        assert!(sent.iter().all(|(_, s)| s.flags == flags("S.")), "{name}");
        assert_eq!(r.now, Instant::from_secs(gone_at), "{name}");
        assert_eq!(r.conn_state(), State::Closed, "{name}");
    }
}

#[test]
fn duplicate_syn_in_syn_received_rfc_acks_linux_resends_synack() {
    let mut r = Rig::new();
    r.drive_to(State::SynReceived);
    r.inject(r.seg("S", PEER_ISS, 0));
    // RFC 9293 3.10.7.4 first step: not acceptable: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
    r.expect(".", r.iss + 1, Some(P));
    let mut r = Rig::with_profile(Profile::linux());
    r.drive_to(State::SynReceived);
    r.inject(r.seg("S", PEER_ISS, 0));
    r.expect("S.", r.iss, Some(P));
}

#[test]
fn rto_is_three_seconds_after_a_retransmitted_syn_rfc6298_5_7() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::SynSent).unwrap();
    r.at_ms(1000);
    r.expect("S", r.iss, None);
    r.at_ms(1500);
    r.inject(r.seg("S.", PEER_ISS, r.iss + 1));
    r.expect(".", r.iss + 1, Some(P));
    // Karn: no RTT sample from the retransmitted SYN.
    assert_eq!(r.stack.status(fd).unwrap().srtt, None);
    r.stack.send(r.now, fd, b"x", false).unwrap();
    r.expect("P.", r.iss + 1, Some(P));
    assert_eq!(r.stack.poll_timeout(), Some(Instant::from_millis(1500 + 3000)));
}

// ----------------------------------------------------------- data retransmission

fn established_with_data(p: Profile) -> (Rig, i32) {
    let mut r = Rig::with_profile(p);
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.send(r.now, fd, b"hello", false).unwrap();
    r.expect("P.", r.iss + 1, Some(P));
    (r, fd)
}

#[test]
fn data_retransmission_schedule_and_r2_rfc9293() {
    let (mut r, fd) = established_with_data(Profile::rfc9293());
    let sent = run_timers(&mut r, Instant::from_secs(10_000));
    // 1, 2, 4, 8, 16, 32, then capped at 60 s: 15 retransmissions (R2).
    let mut expect = vec![1, 3, 7, 15, 31, 63];
    for _ in 0..9 {
        expect.push(expect.last().unwrap() + 60);
    }
    assert_eq!(times(&sent), secs(&expect));
    assert!(sent.iter().all(|(_, s)| s.payload == b"hello"));
    assert_eq!(r.now, Instant::from_secs(expect.last().unwrap() + 60));
    assert_eq!(r.stack.recv(r.now, fd, 1, false), Err(Errno::ETIMEDOUT));
    // MUST-20 / SHLD-9: R1 (3 retransmissions) was reported.
    let r1 = r.stack.events().iter().find(|e| matches!(e.kind, EventKind::Notice(Notice::R1Reached { .. }))).unwrap();
    assert_eq!(r1.at, Instant::from_secs(7));
}

#[test]
fn data_retransmission_schedule_and_r2_linux() {
    let (mut r, fd) = established_with_data(Profile::linux());
    let sent = run_timers(&mut r, Instant::from_secs(10_000));
    // SRTT 0 from the instant handshake: RTO = max(200 ms floor) = 200 ms,
    // doubling to the 120 s cap.
    let t = times(&sent);
    assert_eq!(&t[..6], &[200, 600, 1400, 3000, 6200, 12600]);
    // tcp_retries2 = 15 model: give up at the first RTO at or after 924.6 s.
    assert!(r.now >= Instant::from_millis(924_600), "gave up at {}", r.now);
    assert!(r.now < Instant::from_millis(924_600 + 120_000));
    assert_eq!(r.stack.recv(r.now, fd, 1, false), Err(Errno::ETIMEDOUT));
    assert_eq!(t.len(), 15, "retransmissions: {t:?}");
}

#[test]
fn user_timeout_overrides_r2_must_21() {
    let (mut r, fd) = established_with_data(Profile::rfc9293());
    r.stack.setsockopt(r.now, fd, SockOpt::UserTimeout(5000)).unwrap();
    let sent = run_timers(&mut r, Instant::from_secs(10_000));
    assert_eq!(times(&sent), secs(&[1, 3]));
    // Given up at the first RTO at or after 5 s: 7 s.
    assert_eq!(r.now, Instant::from_secs(7));
    assert_eq!(r.stack.recv(r.now, fd, 1, false), Err(Errno::ETIMEDOUT));
}

#[test]
fn cwnd_after_rto_is_one_smss_and_slow_start_follows() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    let st = r.stack.status(fd).unwrap();
    // RFC 5681 IW for SMSS 1460: 4380.
    assert_eq!(st.cwnd, 4380);
    r.stack.send(r.now, fd, &[0u8; 20_000], false).unwrap();
    let mut n = 0;
    while r.out().is_some() {
        n += 1;
    }
    assert_eq!(n, 3, "IW: three 1460-octet segments");
    r.at_ms(1000);
    let rtx = r.out().unwrap();
    assert_eq!(rtx.seq.0, r.iss + 1);
    assert!(r.out().is_none(), "cwnd = 1 SMSS after the RTO: one segment");
    let st = r.stack.status(fd).unwrap();
    assert_eq!(st.cwnd, 1460);
    // ssthresh = max(FlightSize/2, 2*SMSS) = max(2190, 2920).
    assert_eq!(st.ssthresh, 2920);
    // Slow start: each ACK of a full segment adds one SMSS; at ssthresh,
    // congestion avoidance adds SMSS*SMSS/cwnd.
    r.inject(r.seg(".", P, r.iss + 1461));
    assert_eq!(r.stack.status(fd).unwrap().cwnd, 2920);
    while r.out().is_some() {}
    r.inject(r.seg(".", P, r.iss + 1 + 3 * 1460));
    assert_eq!(r.stack.status(fd).unwrap().cwnd, 2920 + 730);
    // An ACK of two segments in slow start adds one SMSS (RFC 5681 3.1: min(N, SMSS)).
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.send(r.now, fd, &[0u8; 20_000], false).unwrap();
    while r.out().is_some() {}
    r.inject(r.seg(".", P, r.iss + 1 + 2 * 1460));
    assert_eq!(r.stack.status(fd).unwrap().cwnd, 4380 + 1460);
    // The linux profile starts at IW10.
    let mut r = Rig::with_profile(Profile::linux());
    let fd = r.drive_to(State::Established).unwrap();
    assert_eq!(r.stack.status(fd).unwrap().cwnd, 14600);
}

#[test]
fn fast_retransmit_on_third_duplicate_ack_and_newreno_recovery() {
    let mut r = Rig::with_profile(Profile::linux());
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::NoDelay(true)).unwrap();
    r.stack.send(r.now, fd, &[1u8; 8 * 1460], false).unwrap();
    let mut first = Vec::new();
    while let Some(s) = r.out() {
        first.push(s);
    }
    assert_eq!(first.len(), 8);
    // Segment 1 lost; segments 2..4 produce three duplicate ACKs.
    r.advance_ms(10);
    for i in 0..2 {
        r.inject(r.seg(".", P, r.iss + 1));
        assert!(r.out().is_none(), "no retransmission after {} dup ACKs", i + 1);
    }
    r.inject(r.seg(".", P, r.iss + 1));
    let fr = r.out().expect("fast retransmit");
    assert_eq!(fr.seq.0, r.iss + 1);
    assert_eq!(fr.payload.len(), 1460);
    let st = r.stack.status(fd).unwrap();
    // ssthresh = FlightSize/2 = 5840; cwnd = ssthresh + 3 SMSS.
    assert_eq!((st.ssthresh, st.cwnd), (5840, 5840 + 3 * 1460));
    assert!(r
        .stack
        .events()
        .iter()
        .any(|e| matches!(e.kind, EventKind::Notice(Notice::FastRetransmit { dup_acks: 3 }))));
    // A partial ACK (up to segment 3) retransmits the next hole at once (RFC 6582).
    r.inject(r.seg(".", P, r.iss + 1 + 2 * 1460));
    let pr = r.out().expect("partial-ACK retransmission");
    assert_eq!(pr.seq.0, r.iss + 1 + 2 * 1460);
    assert_eq!(pr.payload.len(), 1460, "one segment, not what follows");
    assert!(r.out().is_none());
    // RFC 6582 3.2 step 3: deflated by the 2920 acked, one SMSS added back.
    assert_eq!(r.stack.status(fd).unwrap().cwnd, 5840 + 3 * 1460 - 2920 + 1460);
    assert_eq!(r.stack.stats().retransmitted_segments, 2);
    // A further duplicate inflates by one SMSS (step 4).
    r.inject(r.seg(".", P, r.iss + 1 + 2 * 1460));
    assert_eq!(r.stack.status(fd).unwrap().cwnd, 5840 + 3 * 1460 - 2920 + 2 * 1460);
    // The full ACK ends recovery: cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS)
    // with nothing in flight.
    r.inject(r.seg(".", P, r.iss + 1 + 8 * 1460));
    assert_eq!(r.stack.status(fd).unwrap().cwnd, 2 * 1460);
}

#[test]
fn restart_after_idle_resets_cwnd_to_iw() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.send(r.now, fd, &[0u8; 4380], false).unwrap();
    while r.out().is_some() {}
    r.advance_ms(10);
    r.inject(r.seg(".", P, r.iss + 1 + 4380));
    let grown = r.stack.status(fd).unwrap().cwnd;
    assert!(grown > 4380);
    // Idle for longer than the RTO (1 s), then send: cwnd = min(cwnd, IW).
    r.advance_ms(5000);
    r.stack.send(r.now, fd, b"again", false).unwrap();
    assert_eq!(r.stack.status(fd).unwrap().cwnd, 4380);
}

// ----------------------------------------------------------- TIME-WAIT

#[test]
fn time_wait_lasts_two_msl_rfc_and_sixty_seconds_linux() {
    for (p, len) in [(Profile::rfc9293(), 240), (Profile::linux(), 60)] {
        let name = p.name;
        let mut r = Rig::with_profile(p);
        r.drive_to(State::TimeWait);
        let entered = r.now;
        assert_eq!(r.stack.poll_timeout(), Some(entered + Duration::from_secs(len)), "{name}");
        run_timers(&mut r, Instant::from_secs(10_000));
        assert_eq!(r.now, entered + Duration::from_secs(len), "{name}");
        assert_eq!(r.conn_state(), State::Closed, "{name}");
    }
}

#[test]
fn syn_reopens_time_wait_only_with_a_higher_sequence_number_may_2() {
    // The server closes first, so its TIME-WAIT sits on the listener's port.
    let mut r = Rig::new();
    let (_lfd, fd) = r.passive_open();
    r.stack.close(r.now, fd).unwrap();
    r.expect("F.", r.iss + 1, Some(P));
    r.inject(r.seg("F.", P, r.iss + 2));
    r.expect(".", r.iss + 2, Some(P + 1));
    assert_eq!(r.conn_state(), State::TimeWait);
    let old_nxt = r.snd_nxt();
    // A SYN at or below RCV.NXT gets the challenge ACK; the connection stays.
    r.inject(r.seg("S", P, 0));
    r.expect(".", old_nxt, Some(P + 1));
    assert_eq!(r.conn_state(), State::TimeWait);
    // Above RCV.NXT: TIME-WAIT ends and the listener answers with a SYN,ACK
    // whose ISS lies beyond the old SND.NXT (RFC 6191).
    r.inject(r.seg("S", P + 100_000, 0));
    let sa = r.out().unwrap();
    assert_eq!(sa.flags, flags("S."));
    assert_eq!(sa.ack.0, P + 100_001);
    assert!(reference_stack::SeqNumber(sa.seq.0) > reference_stack::SeqNumber(old_nxt));
    assert_eq!(r.conn_state(), State::SynReceived);
    assert!(r.stack.events().iter().any(|e| matches!(e.kind, EventKind::Notice(Notice::TimeWaitReopened))));
}

#[test]
fn orphaned_fin_wait_2_times_out_under_linux_only() {
    for (p, gone) in [(Profile::rfc9293(), None), (Profile::linux(), Some(60))] {
        let name = p.name;
        let mut r = Rig::with_profile(p);
        let fd = r.drive_to(State::FinWait2).unwrap();
        let t0 = r.now;
        r.stack.close(r.now, fd).unwrap();
        run_timers(&mut r, Instant::from_secs(100_000));
        match gone {
            Some(s) => {
                assert_eq!(r.conn_state(), State::Closed, "{name}");
                assert_eq!(r.now, t0 + Duration::from_secs(s), "{name}");
            }
            None => assert_eq!(r.conn_state(), State::FinWait2, "{name}: RFC 9293 has no FIN-WAIT-2 timer"),
        }
    }
}

// ----------------------------------------------------------- keep-alive

#[test]
fn keepalive_probe_times_and_abort_must_24_to_29() {
    for p in [Profile::rfc9293(), Profile::linux()] {
        let name = p.name;
        let mut r = Rig::with_profile(p);
        let fd = r.drive_to(State::Established).unwrap();
        r.stack.setsockopt(r.now, fd, SockOpt::KeepAlive(true)).unwrap();
        let sent = run_timers(&mut r, Instant::from_secs(100_000));
        // 7200 s idle, then 9 probes 75 s apart, then abort (MUST-28, MUST-29).
        let expect: Vec<u64> = (0..9).map(|i| 7200 + 75 * i).collect();
        assert_eq!(times(&sent), secs(&expect), "{name}");
        // SHLD-12: <SEQ=SND.NXT-1>, no data.
        assert!(sent.iter().all(|(_, s)| s.seq.0 == r.iss && s.payload.is_empty()), "{name}");
        assert_eq!(r.now, Instant::from_secs(7200 + 75 * 9), "{name}");
        assert_eq!(r.stack.recv(r.now, fd, 1, false), Err(Errno::ETIMEDOUT), "{name}");
    }
}

#[test]
fn keepalive_configurable_and_one_lost_probe_is_tolerated() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::KeepAlive(true)).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::KeepIdle(10)).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::KeepIntvl(2)).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::KeepCnt(3)).unwrap();
    // MUST-27: the interval is the application's.
    assert_eq!(r.stack.poll_timeout(), Some(Instant::from_secs(10)));
    r.now = Instant::from_secs(10);
    r.expect(".", r.iss, Some(P));
    // First probe lost; the second is answered: still alive (MUST-29).
    r.now = Instant::from_secs(12);
    r.expect(".", r.iss, Some(P));
    r.inject(r.seg(".", P, r.iss + 1));
    assert_eq!(r.stack.poll_timeout(), Some(Instant::from_secs(22)));
    assert_eq!(r.stack.state(fd).unwrap(), State::Established);
}

// ----------------------------------------------------------- persist

fn zero_window_rig(p: Profile) -> (Rig, i32) {
    let mut r = Rig::with_profile(p);
    let fd = r.drive_to(State::Established).unwrap();
    let mut z = r.seg(".", P, r.iss + 1);
    z.window = 0;
    r.inject(z);
    r.stack.send(r.now, fd, b"data", false).unwrap();
    r.expect_nothing();
    (r, fd)
}

#[test]
fn persist_probe_backoff_rfc_new_octet() {
    let (mut r, fd) = zero_window_rig(Profile::rfc9293());
    let sent = run_timers(&mut r, Instant::from_secs(600));
    // SHLD-29/30: first after one RTO (1 s), doubling, capped at 60 s; no give-up (MUST-37).
    let mut expect = vec![1, 3, 7, 15, 31, 63];
    while expect.last().unwrap() + 60 <= 600 {
        expect.push(expect.last().unwrap() + 60);
    }
    assert_eq!(times(&sent), secs(&expect));
    assert!(sent.iter().all(|(_, s)| s.payload.len() == 1 && s.seq.0 == r.iss + 1));
    assert_eq!(r.stack.state(fd).unwrap(), State::Established);
    assert!(r.stack.status(fd).unwrap().timers.iter().any(|(k, _)| k == TimerKind::Persist));
}

#[test]
fn persist_probe_backoff_linux_old_sequence() {
    let (mut r, fd) = zero_window_rig(Profile::linux());
    let sent = run_timers(&mut r, Instant::from_secs(600));
    let t = times(&sent);
    // RTO 200 ms, doubling, capped at 120 s.
    assert_eq!(&t[..5], &[200, 600, 1400, 3000, 6200]);
    // Probe = <SEQ=SND.UNA-1>, no data.
    assert!(sent.iter().all(|(_, s)| s.payload.is_empty() && s.seq.0 == r.iss));
    assert_eq!(r.stack.state(fd).unwrap(), State::Established);
    // The window opens: the data goes at once.
    let mut open = r.seg(".", P, r.iss + 1);
    open.window = 1000;
    r.inject(open);
    assert_eq!(r.out().unwrap().payload, b"data");
}

// ----------------------------------------------------------- delayed ACK

fn data_from_peer(r: &Rig, off: u32, len: usize) -> TcpRepr {
    let mut d = r.seg(".", P + off, r.iss + 1);
    d.payload = vec![0; len];
    d
}

#[test]
fn delayed_ack_bound_and_every_second_full_segment() {
    for (p, delay) in [(Profile::rfc9293(), 200), (Profile::linux(), 40)] {
        let name = p.name;
        let quick = p.quickacks;
        let mut r = Rig::with_profile(p);
        r.drive_to(State::Established);
        // Linux quick-ACK mode ACKs the first segments at once.
        for i in 0..quick {
            r.inject(data_from_peer(&r, i * 100, 100));
            assert!(r.out().is_some(), "{name}: quick ACK {i}");
        }
        let base = quick * 100;
        let t0 = r.now;
        r.inject(data_from_peer(&r, base, 100));
        r.expect_nothing();
        // MUST-40: within the profile's delay (< 500 ms).
        assert_eq!(r.stack.poll_timeout(), Some(t0 + Duration::from_millis(delay)), "{name}");
        r.now = t0 + Duration::from_millis(delay);
        r.expect(".", r.iss + 1, Some(P + base + 100));
        // SHLD-19: two full-sized segments get an ACK at once.
        r.inject(data_from_peer(&r, base + 100, 1460));
        r.expect_nothing();
        r.inject(data_from_peer(&r, base + 1560, 1460));
        r.expect(".", r.iss + 1, Some(P + base + 3020));
        // Out of order: an immediate duplicate ACK.
        r.inject(data_from_peer(&r, base + 5000, 10));
        r.expect(".", r.iss + 1, Some(P + base + 3020));
    }
}

#[test]
fn syn_options_follow_the_profile() {
    let mut r = Rig::with_profile(Profile::linux());
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    let _ = r.stack.connect(r.now, fd, r.remote);
    let syn = r.out().unwrap();
    assert_eq!(syn.mss(), Some(1460));
    assert!(syn.sack_permitted() && syn.timestamps().is_some() && syn.window_scale().is_some());
    assert!(matches!(syn.options[1], TcpOption::SackPermitted));
}

#[test]
fn sender_sws_avoidance_must_38() {
    let mut p = Profile::rfc9293();
    p.window_scaling = false;
    let mut r = Rig::with_profile(p);
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::NoDelay(true)).unwrap();
    // The peer has offered 65535 (MAX.SND.WND); now it offers only 1000.
    let mut w = r.seg(".", P, r.iss + 1);
    w.window = 1000;
    r.inject(w);
    r.stack.send(r.now, fd, &[7u8; 10_000], false).unwrap();
    // 1000 < Eff.snd.MSS and < MAX.SND.WND / 2, and more is queued: nothing
    // goes out, even with Nagle off (RFC 9293 3.8.6.2.1).
    r.expect_nothing();
    // The override timer (here the persist timer, one RTO) sends what fits.
    assert_eq!(r.stack.poll_timeout(), Some(Instant::from_secs(1)));
    r.now = Instant::from_secs(1);
    let s = r.out().expect("SWS override");
    assert_eq!(s.payload.len(), 1000);
    // A window of at least half the largest offered lets a short segment go at once.
    let mut w = r.seg(".", P, r.iss + 1001);
    w.window = 40_000;
    r.inject(w);
    let mut total = 0;
    while let Some(s) = r.out() {
        total += s.payload.len();
    }
    assert!(total > 0);
}

#[test]
fn congestion_avoidance_grows_about_one_smss_per_rtt() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::NoDelay(true)).unwrap();
    r.stack.send(r.now, fd, &[0u8; 60_000], false).unwrap();
    while r.out().is_some() {}
    // Force ssthresh down with an RTO, then ACK our way back up.
    r.at_ms(1000);
    while r.out().is_some() {}
    let st = r.stack.status(fd).unwrap();
    assert_eq!((st.cwnd, st.ssthresh), (1460, 2920));
    let mut acked = r.iss + 1;
    let mut cwnds = vec![];
    for _ in 0..6 {
        acked += 1460;
        r.inject(r.seg(".", P, acked));
        while r.out().is_some() {}
        cwnds.push(r.stack.status(fd).unwrap().cwnd);
    }
    // Slow start to ssthresh (+SMSS per ACK), then + SMSS*SMSS/cwnd per ACK.
    assert_eq!(cwnds[0], 2920);
    assert_eq!(cwnds[1], 2920 + 1460 * 1460 / 2920);
    assert!(cwnds.windows(2).all(|w| w[1] > w[0] && w[1] - w[0] <= 1460 / 2));
}

/// RFC 6298 2.2: the handshake gives the first RTT measurement, on both
/// sides (the SYN's and the SYN,ACK's round trip, MUST-18's Karn aside).
#[test]
fn the_handshake_measures_the_first_rtt() {
    // Active: the SYN,ACK comes 100 ms after the SYN.
    let mut r = Rig::new();
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.bind(r.now, fd, r.local).unwrap();
    let _ = r.stack.connect(r.now, fd, r.remote);
    r.iss = r.out().unwrap().seq.0;
    r.advance_ms(100);
    r.inject(r.seg("S.", PEER_ISS, r.iss + 1));
    let st = r.stack.status(fd).unwrap();
    assert_eq!(st.srtt, Some(Duration::from_millis(100)));
    assert_eq!(st.rttvar, Some(Duration::from_millis(50)));
    // Passive: the ACK comes 40 ms after the SYN,ACK.
    let mut r = Rig::new();
    let lfd = r.listen();
    r.inject(r.seg("S", PEER_ISS, 0));
    r.iss = r.out().unwrap().seq.0;
    r.advance_ms(40);
    r.inject(r.seg(".", P, r.iss + 1));
    let (fd, _) = r.stack.accept(r.now, lfd).unwrap();
    assert_eq!(r.stack.status(fd).unwrap().srtt, Some(Duration::from_millis(40)));
}

/// Linux's tcp_fin_timeout for a connection closed before it reached
/// FIN-WAIT-2: 60 s from entering it, not from close().
#[test]
fn fin_wait_2_timer_starts_on_entering_it_after_close() {
    let mut r = Rig::with_profile(Profile::linux());
    let fd = r.active_open();
    r.stack.close(r.now, fd).unwrap();
    r.expect("F.", r.iss + 1, Some(P));
    r.advance_ms(500);
    r.inject(r.seg(".", P, r.iss + 2));
    assert_eq!(r.conn_state(), State::FinWait2);
    let entered = r.now;
    run_timers(&mut r, entered + Duration::from_millis(59_999));
    assert_eq!(r.conn_state(), State::FinWait2);
    run_timers(&mut r, Instant::from_secs(1000));
    assert_eq!(r.conn_state(), State::Closed);
    assert_eq!(r.now, entered + Duration::from_secs(60));
}

/// RFC 7323 5.4: the TSval clock ticks once per `ts_tick` (1 ms in both
/// profiles), from the connection's offset.
#[test]
fn the_tsval_clock_ticks_once_a_millisecond() {
    let mut r = Rig::new();
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.bind(r.now, fd, r.local).unwrap();
    let _ = r.stack.connect(r.now, fd, r.remote);
    let syn = r.out().unwrap();
    r.iss = syn.seq.0;
    let mut sa = r.seg("S.", PEER_ISS, r.iss + 1);
    sa.options = vec![TcpOption::Timestamps { tsval: 1, tsecr: syn.timestamps().unwrap().0 }].into();
    r.inject(sa);
    let _ = r.out();
    r.at_ms(10_000);
    r.stack.send(r.now, fd, b"a", false).unwrap();
    let a = r.out().unwrap().timestamps().unwrap().0;
    let mut ack = r.seg(".", P, r.iss + 2);
    ack.options = vec![TcpOption::Timestamps { tsval: 2, tsecr: a }].into();
    r.inject(ack);
    r.at_ms(12_500);
    r.stack.send(r.now, fd, b"b", false).unwrap();
    let b = r.out().unwrap().timestamps().unwrap().0;
    assert_eq!(b.wrapping_sub(a), 2500);
}

/// RFC 6298 2.3: later samples move SRTT by 1/8 and RTTVAR by 1/4 of the
/// difference; RTO = SRTT + 4 RTTVAR, at least rto_min.
#[test]
fn later_rtt_samples_are_smoothed() {
    let mut p = Profile::rfc9293();
    p.rto_min = Duration::from_millis(10);
    let mut r = Rig::with_profile(p);
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.bind(r.now, fd, r.local).unwrap();
    let _ = r.stack.connect(r.now, fd, r.remote);
    r.iss = r.out().unwrap().seq.0;
    r.advance_ms(100);
    r.inject(r.seg("S.", PEER_ISS, r.iss + 1));
    let _ = r.out();
    r.stack.send(r.now, fd, b"x", false).unwrap();
    let _ = r.out();
    r.advance_ms(200);
    r.inject(r.seg(".", P, r.iss + 2));
    let st = r.stack.status(fd).unwrap();
    // RTTVAR = 3/4 50 + 1/4 |100 - 200|; SRTT = 7/8 100 + 1/8 200.
    assert_eq!(st.rttvar, Some(Duration::from_micros(62_500)));
    assert_eq!(st.srtt, Some(Duration::from_micros(112_500)));
    assert_eq!(st.rto, Duration::from_micros(112_500 + 4 * 62_500));
}

// ----------------------------------------------------------- timers left running
// Each rule below is what a planted feature (reference-stack/Cargo.toml)
// breaks for the fuzzer's liveness oracles to find; here it is checked
// directly, so a mutant that breaks it fails the stack's own tests too.

/// RFC 6298 5.3 restarts the RTO only when new data is acknowledged: a
/// duplicate ACK leaves it running.
#[test]
fn a_duplicate_ack_leaves_the_rto_running() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::NoDelay(true)).unwrap();
    let t0 = r.now;
    r.stack.send(r.now, fd, &[0u8; 2000], false).unwrap();
    while r.out().is_some() {}
    let rto = r.stack.status(fd).unwrap().rto;
    for ms in [300, 600] {
        r.now = t0 + Duration::from_millis(ms);
        r.inject(r.seg(".", P, r.iss + 1));
        r.expect_nothing();
    }
    assert_eq!(r.stack.poll_timeout(), Some(t0 + rto));
}

/// A zero-window ACK while the persist timer runs leaves it running
/// (SHLD-29: the probe still goes at the interval).
#[test]
fn zero_window_acks_leave_the_persist_timer_running() {
    let (mut r, _fd) = zero_window_rig(Profile::rfc9293());
    let first = r.stack.poll_timeout().expect("the persist timer");
    for ms in [200, 400, 600, 800] {
        r.now = Instant::from_millis(ms);
        let mut z = r.seg(".", P, r.iss + 1);
        z.window = 0;
        r.inject(z);
    }
    assert_eq!(r.stack.poll_timeout(), Some(first));
}

/// Only a retransmitted FIN restarts TIME-WAIT (MUST-13); any other
/// acceptable segment leaves the 2 MSL timer as it was.
#[test]
fn only_a_fin_restarts_time_wait() {
    let mut r = Rig::new();
    r.drive_to(State::TimeWait);
    let end = r.stack.poll_timeout().expect("the TIME-WAIT timer");
    r.advance_ms(10_000);
    r.inject(r.seg(".", P + 1, r.iss + 2));
    assert_eq!(r.stack.poll_timeout(), Some(end));
    r.inject(r.seg("F.", P, r.iss + 2));
    r.expect(".", r.iss + 2, Some(P + 1));
    assert!(r.stack.poll_timeout() > Some(end));
}

/// An answered keep-alive probe resets the count: KeepCnt unanswered
/// probes in a row are needed to give up (MUST-29 counts from the last
/// answer).
#[test]
fn an_answered_probe_resets_the_keepalive_count() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::KeepAlive(true)).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::KeepIdle(10)).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::KeepIntvl(2)).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::KeepCnt(2)).unwrap();
    // Probe at 10 s lost; the one at 12 s answered.
    for t in [10, 12] {
        r.now = Instant::from_secs(t);
        r.expect(".", r.iss, Some(P));
    }
    r.inject(r.seg(".", P, r.iss + 1));
    // Idle again: probes at 22 s and 24 s lost; given up at 26 s, not before.
    for t in [22, 24] {
        r.now = Instant::from_secs(t);
        r.expect(".", r.iss, Some(P));
        assert_eq!(r.stack.state(fd).unwrap(), State::Established, "at {t} s");
    }
    r.now = Instant::from_secs(26);
    let _ = r.out();
    assert_eq!(r.stack.recv(r.now, fd, 1, false), Err(Errno::ETIMEDOUT));
}

/// The delayed ACK timer runs from the first unacknowledged segment: more
/// small segments do not push it back (MUST-40's 500 ms bound holds).
#[test]
fn more_segments_do_not_push_the_delayed_ack_back() {
    let mut r = Rig::new();
    r.drive_to(State::Established);
    let t0 = r.now;
    r.inject(data_from_peer(&r, 0, 10));
    let due = r.stack.poll_timeout().expect("the delayed ACK");
    assert_eq!(due, t0 + Duration::from_millis(200));
    r.now = t0 + Duration::from_millis(150);
    r.inject(data_from_peer(&r, 10, 10));
    assert_eq!(r.stack.poll_timeout(), Some(due));
}

/// RFC 5681 3.2 (2): ssthresh = max(FlightSize / 2, 2 * SMSS), the floor
/// when little is in flight.
#[test]
fn fast_retransmit_ssthresh_has_a_floor_of_two_segments() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::NoDelay(true)).unwrap();
    for _ in 0..4 {
        r.stack.send(r.now, fd, &[1u8; 500], false).unwrap();
        assert_eq!(r.out().map(|s| s.payload.len()), Some(500));
    }
    for _ in 0..3 {
        r.inject(r.seg(".", P, r.iss + 1));
    }
    // The retransmission repacketizes the small segments, up to one SMSS.
    assert_eq!(r.out().map(|s| (s.seq.0, s.payload.len())), Some((r.iss + 1, 1460)));
    let st = r.stack.status(fd).unwrap();
    assert_eq!((st.ssthresh, st.cwnd), (2920, 2920 + 3 * 1460));
}

/// Sender SWS (RFC 9293 3.8.6.2.1): a short segment goes when it is at
/// least half the largest window the peer offered.
#[test]
fn a_short_segment_of_half_the_max_window_goes() {
    let mut r = Rig::new();
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.bind(r.now, fd, r.local).unwrap();
    let _ = r.stack.connect(r.now, fd, r.remote);
    r.iss = r.out().unwrap().seq.0;
    let mut sa = r.seg("S.", PEER_ISS, r.iss + 1);
    sa.window = 1000;
    sa.options = vec![TcpOption::Mss(1460)].into();
    r.inject(sa);
    let _ = r.out();
    let mut w = r.seg(".", P, r.iss + 1);
    w.window = 600;
    r.inject(w);
    r.stack.send(r.now, fd, &[1u8; 2000], false).unwrap();
    assert_eq!(r.out().map(|s| s.payload.len()), Some(600), "600 >= 1000 / 2");
}

/// RFC 5681 4.1: the restart window applies after more than an RTO without
/// sending; at exactly one RTO the window is kept.
#[test]
fn restart_after_idle_needs_more_than_one_rto() {
    for (idle_us, reset) in [(1_000_000u64, false), (1_000_001, true)] {
        let mut r = Rig::new();
        let fd = r.drive_to(State::Established).unwrap();
        r.stack.send(r.now, fd, &[0u8; 4380], false).unwrap();
        let sent_at = r.now;
        while r.out().is_some() {}
        r.advance_ms(10);
        r.inject(r.seg(".", P, r.iss + 1 + 4380));
        let grown = r.stack.status(fd).unwrap().cwnd;
        assert!(grown > 4380);
        let rto = r.stack.status(fd).unwrap().rto;
        assert_eq!(rto, Duration::from_secs(1));
        r.now = sent_at + Duration::from_micros(idle_us);
        r.stack.send(r.now, fd, b"again", false).unwrap();
        let cwnd = r.stack.status(fd).unwrap().cwnd;
        assert_eq!(cwnd, if reset { 4380 } else { grown }, "idle {idle_us} us");
    }
}

/// RFC 6298 5.1: sending new data starts the RTO only if it is not running.
#[test]
fn new_data_does_not_restart_a_running_rto() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::NoDelay(true)).unwrap();
    let t0 = r.now;
    r.stack.send(r.now, fd, b"first", false).unwrap();
    let _ = r.out();
    let rto = r.stack.status(fd).unwrap().rto;
    r.advance_ms(500);
    r.stack.send(r.now, fd, b"second", false).unwrap();
    let _ = r.out();
    assert_eq!(r.stack.poll_timeout(), Some(t0 + rto));
}

/// The SWS override timer (the persist timer with the window open) ends
/// when the data goes out because the window opened.
#[test]
fn sending_into_an_opened_window_ends_the_sws_override() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    let mut w = r.seg(".", P, r.iss + 1);
    w.window = 1000;
    r.inject(w);
    r.stack.send(r.now, fd, &[1u8; 5000], false).unwrap();
    r.expect_nothing();
    let kinds = |r: &Rig| r.stack.status(fd).unwrap().timers.iter().map(|t| t.0).collect::<Vec<_>>();
    assert_eq!(kinds(&r), [TimerKind::Persist], "held by sender SWS, the override armed");
    r.inject(r.seg(".", P, r.iss + 1));
    assert!(r.out().is_some());
    while r.out().is_some() {}
    assert_eq!(kinds(&r), [TimerKind::Retransmission]);
}

/// A FIN alone behind a shut window is the zero-window probe (it takes a
/// sequence number; without a probe a lost window update would leave it
/// waiting for ever).
#[test]
fn a_fin_alone_behind_a_shut_window_is_probed() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    let mut z = r.seg(".", P, r.iss + 1);
    z.window = 0;
    r.inject(z);
    r.stack.shutdown(r.now, fd, reference_stack::Shutdown::Write).unwrap();
    r.expect_nothing();
    let when = r.stack.poll_timeout().expect("the persist timer");
    r.now = when;
    let probe = r.out().expect("the FIN as a probe");
    assert!(probe.flags.fin() && probe.payload.is_empty());
    assert_eq!(probe.seq.0, r.iss + 1);
}

/// A keep-alive option set while probes are under way does not cut the
/// wait for an answer short.
#[test]
fn a_keepalive_option_set_during_probes_leaves_the_interval() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::KeepAlive(true)).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::KeepIdle(10)).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::KeepIntvl(2)).unwrap();
    r.now = Instant::from_secs(10);
    r.expect(".", r.iss, Some(P));
    r.now = Instant::from_secs(11);
    r.stack.setsockopt(r.now, fd, SockOpt::KeepIdle(5)).unwrap();
    r.expect_nothing();
    assert_eq!(r.stack.poll_timeout(), Some(Instant::from_secs(12)));
}

/// Repeated zero-window probes of a queue with a FIN behind it carry the
/// first octet and no FIN (the FIN comes after every octet).
#[test]
fn repeated_probes_carry_no_fin_while_octets_wait() {
    let (mut r, fd) = zero_window_rig(Profile::rfc9293());
    r.stack.shutdown(r.now, fd, reference_stack::Shutdown::Write).unwrap();
    let sent = run_timers(&mut r, Instant::from_secs(20));
    assert!(sent.len() >= 3, "{sent:?}");
    for (_, s) in &sent {
        assert_eq!((s.seq.0, s.payload.as_slice(), s.flags.fin()), (r.iss + 1, &b"d"[..], false), "{s}");
    }
}

/// MUST-26: keep-alive probes only an idle connection; with data
/// outstanding the retransmission timer does the asking.
#[test]
fn no_keepalive_probe_while_data_is_outstanding() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::KeepAlive(true)).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::KeepIdle(5)).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::KeepIntvl(1)).unwrap();
    r.stack.send(r.now, fd, b"unanswered", false).unwrap();
    let _ = r.out();
    let sent = run_timers(&mut r, Instant::from_secs(40));
    assert!(!sent.is_empty());
    for (t, s) in &sent {
        assert_eq!(s.payload, b"unanswered", "at {t} ms: {s}");
    }
}

/// MUST-37 with data in flight: while the peer answers the retransmissions
/// into its shut window, the connection is not given up at R2; a silent
/// peer is. An answer counts by the order of events, not by the clock: one
/// in the very instant of the retransmission (a script's `+0`, a link
/// without delay) comes after it and answers it. A passively opened
/// connection that gives up reports ETIMEDOUT like an active one.
#[test]
fn answered_probes_into_a_shut_window_keep_the_connection() {
    let mut p = Profile::rfc9293();
    p.data_give_up = reference_stack::profile::GiveUp::Retries(3);
    for delay in [10, 0] {
        let mut r = Rig::with_profile(p.clone());
        let fd = r.drive_to(State::Established).unwrap();
        r.stack.send(r.now, fd, b"data", false).unwrap();
        let _ = r.out();
        for _ in 0..6 {
            r.now = r.stack.poll_timeout().expect("the retransmission timer");
            assert!(r.out().is_some(), "a retransmission at {}", r.now);
            r.advance_ms(delay);
            let mut z = r.seg(".", P, r.iss + 1);
            z.window = 0;
            r.inject(z);
        }
        assert_eq!(r.stack.state(fd), Ok(State::Established), "answered after {delay} ms");
        assert_eq!(r.stack.status(fd).unwrap().total_retransmits, 6);
    }
    // Silent, accepted: given up after three retransmissions, with ETIMEDOUT.
    let mut r = Rig::with_profile(p);
    let (_lfd, fd) = r.passive_open();
    r.stack.send(r.now, fd, b"data", false).unwrap();
    let _ = r.out();
    run_timers(&mut r, Instant::from_secs(1000));
    assert_eq!(r.stack.recv(r.now, fd, 1, false), Err(Errno::ETIMEDOUT));
}

/// SYN retransmissions count as retransmitted segments; after an RTO with
/// much in flight, ssthresh is half the flight (RFC 5681 (4)).
#[test]
fn syn_retransmissions_count_and_ssthresh_halves_the_flight() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::SynSent).unwrap();
    for n in 1..=2u64 {
        r.now = r.stack.poll_timeout().unwrap();
        assert!(r.out().unwrap().flags.syn());
        assert_eq!(r.stack.status(fd).unwrap().total_retransmits, n);
        assert_eq!(r.stack.stats().retransmitted_segments, n);
    }
    let mut r = Rig::with_profile(Profile::linux());
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.send(r.now, fd, &[0u8; 14_600], false).unwrap();
    assert_eq!(std::iter::from_fn(|| r.out()).count(), 10);
    r.now = r.stack.poll_timeout().unwrap();
    let _ = r.out();
    let st = r.stack.status(fd).unwrap();
    assert_eq!((st.ssthresh, st.cwnd), (7300, 1460));
}

/// R2 counts while the window is open, even if the peer keeps sending
/// duplicate ACKs: only answers into a shut window (MUST-37) suspend it.
#[test]
fn duplicate_acks_with_an_open_window_do_not_suspend_r2() {
    let mut p = Profile::rfc9293();
    p.data_give_up = reference_stack::profile::GiveUp::Retries(3);
    let mut r = Rig::with_profile(p);
    let fd = r.drive_to(State::Established).unwrap();
    r.stack.send(r.now, fd, b"data", false).unwrap();
    let _ = r.out();
    for _ in 0..6 {
        let Some(t) = r.stack.poll_timeout() else { break };
        r.now = t;
        while r.out().is_some() {}
        r.advance_ms(10);
        r.inject(r.seg(".", P, r.iss + 1));
    }
    assert_eq!(r.stack.recv(r.now, fd, 1, false), Err(Errno::ETIMEDOUT));
}

/// A longer TCP_KEEPIDLE set while probes are under way: at the probe
/// interval the connection is idle for less than the new time, so no
/// probe goes and the timer waits for the rest of it (as Linux's
/// tcp_keepalive_timer).
#[test]
fn a_longer_keepidle_set_during_probes_defers_the_next_probe() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    let last_recv = r.now;
    r.stack.setsockopt(r.now, fd, SockOpt::KeepAlive(true)).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::KeepIdle(10)).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::KeepIntvl(2)).unwrap();
    r.now = Instant::from_secs(10);
    r.expect(".", r.iss, Some(P));
    r.now = Instant::from_secs(11);
    r.stack.setsockopt(r.now, fd, SockOpt::KeepIdle(100)).unwrap();
    r.now = Instant::from_secs(12);
    r.expect_nothing();
    assert_eq!(r.stack.poll_timeout(), Some(last_recv + Duration::from_secs(100)));
}
