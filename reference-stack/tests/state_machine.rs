//! RFC 9293 3.10 event processing, state by state.
mod support;

use reference_stack::event::{Call, Cause, EventKind};
use reference_stack::wire::{TcpOption, TcpRepr};
use reference_stack::{Domain, Errno, Instant, Shutdown, SockOpt, State};
use support::*;

const P: u32 = PEER_ISS + 1;

// ---------------------------------------------------------------- opening

#[test]
fn passive_open_walks_listen_synrcvd_established() {
    let mut r = Rig::new();
    let lfd = r.listen();
    assert_eq!(r.stack.state(lfd).unwrap(), State::Listen);
    let mut syn = r.seg("S", PEER_ISS, 0);
    syn.options =
        vec![TcpOption::Mss(1400), TcpOption::SackPermitted, TcpOption::Nop, TcpOption::WindowScale(7)].into();
    r.inject(syn);
    let iss = r.out_peek_seq();
    let sa = r.expect("S.", iss, Some(P));
    // mss, nop, nop, sackOK, nop, wscale: the peer offered SACK and WS, not TS.
    assert_eq!(sa.mss(), Some(1460));
    assert!(sa.sack_permitted());
    // 131072-octet buffer: the smallest shift that fits it in 16 bits is 2.
    assert_eq!(sa.window_scale(), Some(2));
    assert!(sa.timestamps().is_none());
    assert_eq!(r.conn_state(), State::SynReceived);
    assert_eq!(r.stack.accept(r.now, lfd), Err(Errno::EAGAIN));
    r.iss = sa.seq.0;
    r.inject(r.seg(".", P, r.iss + 1));
    r.expect_nothing();
    let (fd, _) = r.stack.accept(r.now, lfd).unwrap();
    assert_eq!(fd, lfd + 1);
    let st = r.stack.status(fd).unwrap();
    assert_eq!(st.state, State::Established);
    assert_eq!(st.snd_wscale, 7);
    assert!(st.sack);
    // Window in the handshake ACK is scaled by the peer's shift.
    assert_eq!(st.snd_wnd, 65535 << 7);
    // MUST-16: 1400 + 20 - 20 (no TS).
    assert_eq!(st.snd_mss, 1400);
    assert_eq!(
        r.transitions(),
        vec![
            (State::Closed, State::Listen),
            (State::Listen, State::SynReceived),
            (State::SynReceived, State::Established)
        ]
    );
}

impl Rig {
    fn out_peek_seq(&self) -> u32 {
        // The SYN-ACK's seq is the stack's ISS: read it without consuming.
        let t = reference_stack::FourTuple { local: self.local, remote: self.remote };
        self.stack.connection(&t).map(|s| s.iss.0).unwrap()
    }
}

#[test]
fn active_open_walks_synsent_established() {
    let mut r = Rig::new();
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    assert_eq!(r.stack.connect(r.now, fd, r.remote), Err(Errno::EINPROGRESS));
    assert_eq!(r.stack.connect(r.now, fd, r.remote), Err(Errno::EALREADY));
    let syn = r.out().unwrap();
    assert_eq!(syn.flags, flags("S"));
    // MAY-3 / SHLD-5: MSS always sent; MUST-67: MTU 1500 - 40.
    assert_eq!(syn.mss(), Some(1460));
    assert!(syn.timestamps().is_some() && syn.sack_permitted() && syn.window_scale().is_some());
    assert!(!r.stack.poll(r.now, fd).unwrap().writable);
    let mut sa = r.seg("S.", PEER_ISS, syn.seq.0 + 1);
    sa.dst_port = syn.src_port;
    sa.options = vec![TcpOption::Mss(1000)].into();
    r.local.set_port(syn.src_port);
    r.inject(sa);
    r.expect(".", syn.seq.0 + 1, Some(P));
    assert_eq!(r.stack.state(fd).unwrap(), State::Established);
    assert!(r.stack.poll(r.now, fd).unwrap().writable);
    assert_eq!(r.stack.connect(r.now, fd, r.remote), Err(Errno::EISCONN));
    let st = r.stack.status(fd).unwrap();
    // Peer sent neither WS nor TS: neither is used (RFC 7323 2.2, 3.2).
    assert_eq!((st.snd_wscale, st.rcv_wscale, st.timestamps), (0, 0, false));
    assert_eq!(st.snd_mss, 1000);
}

#[test]
fn syn_sent_rejects_bad_ack_with_rst_and_refuses_on_rst() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::SynSent).unwrap();
    // SEG.ACK =< ISS: <SEQ=SEG.ACK><CTL=RST>.
    r.inject(r.seg("S.", PEER_ISS, r.iss));
    r.expect("R", r.iss, None);
    // A RST with an unacceptable ACK is dropped silently.
    r.inject(r.seg("R.", 0, r.iss + 5));
    r.expect_nothing();
    // A RST without ACK is dropped.
    r.inject(r.seg("R", 0, 0));
    r.expect_nothing();
    assert_eq!(r.conn_state(), State::SynSent);
    // A bare ACK (acceptable, no SYN) is dropped ("fifth").
    r.inject(r.seg(".", P, r.iss + 1));
    r.expect_nothing();
    assert_eq!(r.conn_state(), State::SynSent);
    // RST with an acceptable ACK: connection refused.
    r.inject(r.seg("R.", 0, r.iss + 1));
    r.expect_nothing();
    assert_eq!(r.stack.state(fd).unwrap(), State::Closed);
    assert_eq!(r.stack.recv(r.now, fd, 10, false), Err(Errno::ECONNREFUSED));
    // Never connected: afterwards, "not connected".
    assert_eq!(r.stack.recv(r.now, fd, 10, false), Err(Errno::ENOTCONN));
}

#[test]
fn simultaneous_open_figure_7() {
    // MUST-10, MUST-11: SYN-SENT -> SYN-RECEIVED (active) -> ESTABLISHED.
    let mut r = Rig::new();
    let fd = r.drive_to(State::SynSent).unwrap();
    r.inject(r.seg("S", PEER_ISS, 0));
    // <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>
    let sa = r.expect("S.", r.iss, Some(P));
    assert!(sa.mss().is_some());
    assert_eq!(r.conn_state(), State::SynReceived);
    // The peer's SYN,ACK (line 5): repeats its SYN and acks ours.
    r.inject(r.seg("S.", PEER_ISS, r.iss + 1));
    assert_eq!(r.stack.state(fd).unwrap(), State::Established);
    r.expect_nothing();
    assert_eq!(
        r.transitions(),
        vec![
            (State::Closed, State::SynSent),
            (State::SynSent, State::SynReceived),
            (State::SynReceived, State::Established)
        ]
    );
    // An active SYN-RECEIVED reset by the peer reports "connection refused", not LISTEN.
    let mut r = Rig::new();
    let fd = r.drive_to(State::SynSent).unwrap();
    r.inject(r.seg("S", PEER_ISS, 0));
    r.expect("S.", r.iss, Some(P));
    r.inject(r.seg("R", P, 0));
    assert_eq!(r.stack.state(fd).unwrap(), State::Closed);
    assert_eq!(r.stack.recv(r.now, fd, 1, false), Err(Errno::ECONNREFUSED));
}

#[test]
fn syn_received_passive_rst_returns_to_listen_and_user_is_not_told() {
    let mut r = Rig::new();
    r.drive_to(State::SynReceived);
    r.inject(r.seg("R", P, 0));
    r.expect_nothing();
    assert_eq!(r.conn_state(), State::Closed);
    assert!(r.transitions().contains(&(State::SynReceived, State::Listen)));
    // The listener still works.
    r.inject(r.seg("S", PEER_ISS + 7, 0));
    let iss = r.out_peek_seq();
    r.expect("S.", iss, Some(PEER_ISS + 8));
}

#[test]
fn syn_received_bad_ack_gets_rst() {
    let mut r = Rig::new();
    r.drive_to(State::SynReceived);
    // SEG.ACK not in (SND.UNA, SND.NXT]: <SEQ=SEG.ACK><CTL=RST>.
    r.inject(r.seg(".", P, r.iss + 9));
    r.expect("R", r.iss + 9, None);
    assert_eq!(r.conn_state(), State::SynReceived);
}

#[test]
fn syn_text_is_queued_until_established() {
    let mut r = Rig::new();
    let lfd = r.listen();
    let mut syn = r.seg("S", PEER_ISS, 0);
    syn.payload = b"early".to_vec();
    r.inject(syn);
    // The SYN-ACK acknowledges the SYN only.
    let sa = r.out().unwrap();
    assert_eq!(sa.ack.0, P);
    r.iss = sa.seq.0;
    r.inject(r.seg(".", P, r.iss + 1));
    // Entering ESTABLISHED processes the queued text and ACKs it.
    r.expect(".", r.iss + 1, Some(P + 5));
    let (fd, _) = r.stack.accept(r.now, lfd).unwrap();
    assert_eq!(r.stack.recv(r.now, fd, 100, false).unwrap(), b"early");
}

#[test]
fn listen_answers_ack_with_rst_ignores_rst_and_drops_the_rest() {
    let mut r = Rig::new();
    r.listen();
    r.inject(r.seg("R", 5, 0));
    r.expect_nothing();
    r.inject(r.seg(".", 5, 77));
    r.expect("R", 77, None);
    r.inject(r.seg("", 5, 0));
    r.expect_nothing();
    r.inject(r.seg("F", 5, 0));
    r.expect_nothing();
    assert_eq!(r.conn_state(), State::Closed);
}

#[test]
fn listen_queue_limit_drops_syns() {
    let mut r = Rig::new();
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.bind(r.now, fd, r.local).unwrap();
    r.stack.listen(r.now, fd, 1).unwrap();
    r.inject(r.seg("S", PEER_ISS, 0));
    assert!(r.out().is_some());
    r.remote.set_port(40001);
    r.inject(r.seg("S", PEER_ISS, 0));
    r.expect_nothing();
}

#[test]
fn closed_port_rst_forms_3_10_7_1() {
    let mut r = Rig::new();
    // ACK off: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, SYN and FIN counted.
    let mut s = r.seg("S", 500, 0);
    s.payload = vec![1, 2, 3];
    r.inject(s);
    r.expect("R.", 0, Some(504));
    r.inject(r.seg("F", 500, 0));
    r.expect("R.", 0, Some(501));
    // ACK on: <SEQ=SEG.ACK><CTL=RST>.
    r.inject(r.seg("P.", 500, 9999));
    let rst = r.expect("R", 9999, None);
    assert_eq!(rst.window, 0);
    // A RST gets nothing.
    r.inject(r.seg("R.", 500, 9999));
    r.expect_nothing();
}

// ---------------------------------------------------------------- closing

#[test]
fn active_close_fin_wait_1_fin_wait_2_time_wait_closed() {
    let mut r = Rig::new();
    let fd = r.active_open();
    r.stack.close(r.now, fd).unwrap();
    r.expect("F.", r.iss + 1, Some(P));
    assert_eq!(r.conn_state(), State::FinWait1);
    r.inject(r.seg(".", P, r.iss + 2));
    assert_eq!(r.conn_state(), State::FinWait2);
    r.advance_ms(1000);
    r.inject(r.seg("F.", P, r.iss + 2));
    r.expect(".", r.iss + 2, Some(P + 1));
    assert_eq!(r.conn_state(), State::TimeWait);
    let entered = r.now;
    // MUST-13: 2*MSL = 240 s under rfc9293.
    r.now = entered + reference_stack::Duration::from_secs(240) - reference_stack::Duration::from_micros(1);
    r.stack.handle_timeout(r.now);
    assert_eq!(r.conn_state(), State::TimeWait);
    r.now = entered + reference_stack::Duration::from_secs(240);
    assert_eq!(r.stack.poll_timeout(), Some(r.now));
    r.stack.handle_timeout(r.now);
    assert_eq!(r.conn_state(), State::Closed);
    let last = r.stack.events().last().unwrap().clone();
    assert!(matches!(
        last.kind,
        EventKind::Transition {
            from: State::TimeWait,
            to: State::Closed,
            cause: Cause::Timer(reference_stack::TimerKind::TimeWait)
        }
    ));
    assert_eq!(last.at, r.now);
}

#[test]
fn fin_wait_1_straight_to_time_wait_on_fin_ack_of_our_fin() {
    let mut r = Rig::new();
    r.drive_to(State::FinWait1);
    r.inject(r.seg("F.", P, r.iss + 2));
    r.expect(".", r.iss + 2, Some(P + 1));
    assert_eq!(r.conn_state(), State::TimeWait);
}

#[test]
fn simultaneous_close_through_closing() {
    let mut r = Rig::new();
    r.drive_to(State::Closing);
    // An ACK that does not cover our FIN changes nothing.
    r.inject(r.seg(".", P + 1, r.iss + 1));
    assert_eq!(r.conn_state(), State::Closing);
    r.inject(r.seg(".", P + 1, r.iss + 2));
    assert_eq!(r.conn_state(), State::TimeWait);
    r.expect_nothing();
    let tr = r.transitions();
    assert!(tr.ends_with(&[
        (State::Established, State::FinWait1),
        (State::FinWait1, State::Closing),
        (State::Closing, State::TimeWait)
    ]));
}

#[test]
fn passive_close_close_wait_last_ack_closed() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::CloseWait).unwrap();
    // RECEIVE in CLOSE-WAIT with nothing queued: end of stream.
    assert_eq!(r.stack.recv(r.now, fd, 10, false), Ok(vec![]));
    assert!(r.stack.poll(r.now, fd).unwrap().rdhup);
    // Half-close (MAY-1): we can still send.
    assert_eq!(r.stack.send(r.now, fd, b"bye", false), Ok(3));
    let d = r.expect("P.", r.iss + 1, Some(P + 1));
    assert_eq!(d.payload, b"bye");
    r.stack.close(r.now, fd).unwrap();
    r.expect("F.", r.iss + 4, Some(P + 1));
    assert_eq!(r.conn_state(), State::LastAck);
    r.inject(r.seg(".", P + 1, r.iss + 4)); // acks the data only
    assert_eq!(r.conn_state(), State::LastAck);
    r.inject(r.seg(".", P + 1, r.iss + 5));
    assert_eq!(r.conn_state(), State::Closed);
    r.expect_nothing();
}

#[test]
fn close_in_syn_sent_deletes_the_tcb() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::SynSent).unwrap();
    r.stack.close(r.now, fd).unwrap();
    r.expect_nothing();
    assert_eq!(r.conn_state(), State::Closed);
    assert_eq!(r.stack.poll_timeout(), None);
}

#[test]
fn close_in_syn_received_sends_fin_after_handshake() {
    // Simultaneous open puts an fd on a SYN-RECEIVED connection.
    let mut r = Rig::new();
    let fd = r.drive_to(State::SynSent).unwrap();
    r.inject(r.seg("S", PEER_ISS, 0));
    r.expect("S.", r.iss, Some(P));
    r.stack.close(r.now, fd).unwrap();
    assert_eq!(r.conn_state(), State::FinWait1);
    // The FIN waits until our SYN is acknowledged.
    r.expect_nothing();
    r.inject(r.seg(".", P, r.iss + 1));
    r.expect("F.", r.iss + 1, Some(P));
}

#[test]
fn close_listener_aborts_unaccepted_connections() {
    let mut r = Rig::new();
    let lfd = r.listen();
    r.inject(r.seg("S", PEER_ISS, 0));
    r.iss = r.out().unwrap().seq.0;
    r.inject(r.seg(".", P, r.iss + 1));
    r.stack.close(r.now, lfd).unwrap();
    r.expect("R", r.iss + 1, None);
    assert_eq!(r.conn_state(), State::Closed);
    assert!(r.transitions().contains(&(State::Listen, State::Closed)));
    // The port is free again, and a SYN now gets RST,ACK.
    r.inject(r.seg("S", PEER_ISS, 0));
    r.expect("R.", 0, Some(P));
}

#[test]
fn abort_sends_rst_in_synchronized_states() {
    for st in [State::Established, State::FinWait1, State::FinWait2, State::CloseWait] {
        let mut r = Rig::new();
        let fd = r.drive_to(st).unwrap();
        let nxt = r.snd_nxt();
        r.stack.setsockopt(r.now, fd, SockOpt::Linger(Some(0))).unwrap();
        r.stack.close(r.now, fd).unwrap();
        // <SEQ=SND.NXT><CTL=RST>
        r.expect("R", nxt, None);
        assert_eq!(r.conn_state(), State::Closed, "{st}");
    }
    for st in [State::Closing, State::LastAck] {
        let mut r = Rig::new();
        let fd = r.drive_to(st).unwrap();
        r.stack.abort(r.now, fd).unwrap();
        r.expect_nothing();
        assert_eq!(r.conn_state(), State::Closed);
    }
}

#[test]
fn close_with_unread_data_sends_rst_shld_3() {
    let mut r = Rig::new();
    let fd = r.active_open();
    let mut d = r.seg("P.", P, r.iss + 1);
    d.payload = b"unread".to_vec();
    r.inject(d);
    r.stack.close(r.now, fd).unwrap();
    let rst = r.out().unwrap();
    assert!(rst.flags.rst(), "{rst}");
    assert_eq!(r.conn_state(), State::Closed);
}

#[test]
fn data_after_close_is_lost_and_reset_shld_3() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::FinWait2).unwrap();
    r.stack.close(r.now, fd).unwrap();
    let mut d = r.seg("P.", P, r.iss + 2);
    d.payload = b"late".to_vec();
    r.inject(d);
    r.expect("R", r.iss + 2, None);
    assert_eq!(r.conn_state(), State::Closed);
    // After shutdown(SHUT_WR) instead, the data is still welcome.
    let mut r = Rig::new();
    let fd = r.drive_to(State::FinWait2).unwrap();
    let mut d = r.seg("P.", P, r.iss + 2);
    d.payload = b"late".to_vec();
    r.inject(d);
    assert_eq!(r.stack.recv(r.now, fd, 10, false).unwrap(), b"late");
    assert_eq!(r.conn_state(), State::FinWait2);
}

#[test]
fn time_wait_reacks_retransmitted_fin_and_restarts_timer() {
    let mut r = Rig::new();
    r.drive_to(State::TimeWait);
    let t0 = r.now;
    r.at_ms(100_000);
    r.inject(r.seg("F.", P, r.iss + 2));
    r.expect(".", r.iss + 2, Some(P + 1));
    // MUST-13: the 2 MSL timer restarts from the retransmitted FIN.
    let _ = t0;
    assert_eq!(r.stack.poll_timeout(), Some(Instant::from_millis(100_000 + 240_000)));
    r.stack.handle_timeout(Instant::from_millis(240_000));
    assert_eq!(r.conn_state(), State::TimeWait);
    r.stack.handle_timeout(Instant::from_millis(340_000));
    assert_eq!(r.conn_state(), State::Closed);
}

#[test]
fn send_and_close_calls_in_closing_states_report_connection_closing() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::FinWait2).unwrap();
    assert_eq!(r.stack.send(r.now, fd, b"x", false), Err(Errno::EPIPE));
    // A second CLOSE does not emit a second FIN.
    r.stack.shutdown(r.now, fd, Shutdown::Write).unwrap();
    r.expect_nothing();
}

// ---------------------------------------------------------------- RST

fn rst_cases(st: State) -> (Rig, Option<i32>) {
    let mut r = Rig::new();
    let fd = r.drive_to(st);
    (r, fd)
}

#[test]
fn rst_outside_window_is_dropped_in_every_synchronized_state() {
    for st in AFTER_SYN {
        let (mut r, _) = rst_cases(st);
        let nxt = r.peer_nxt;
        for seq in [nxt.wrapping_sub(1), nxt.wrapping_sub(100_000), nxt + 200_000] {
            r.inject(r.seg("R", seq, 0));
            r.expect_nothing();
            assert_eq!(r.conn_state(), st, "RST at {seq} in {st}");
        }
    }
}

#[test]
fn rst_in_window_not_exact_gets_challenge_ack_in_every_synchronized_state() {
    for st in AFTER_SYN {
        let (mut r, _) = rst_cases(st);
        let nxt = r.peer_nxt;
        r.inject(r.seg("R", nxt + 1, 0));
        // RFC 5961 3.2: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
        let snd_nxt = r.snd_nxt();
        r.expect(".", snd_nxt, Some(nxt));
        assert_eq!(r.conn_state(), st, "in-window RST in {st}");
    }
}

#[test]
fn rst_exact_resets_in_every_synchronized_state() {
    for (st, err) in [
        (State::Established, Some(Errno::ECONNRESET)),
        (State::FinWait1, Some(Errno::ECONNRESET)),
        (State::FinWait2, Some(Errno::ECONNRESET)),
        (State::CloseWait, Some(Errno::ECONNRESET)),
        (State::Closing, None),
        (State::LastAck, None),
        (State::TimeWait, None),
    ] {
        let (mut r, fd) = rst_cases(st);
        let nxt = r.peer_nxt;
        r.inject(r.seg("R", nxt, 0));
        r.expect_nothing();
        assert_eq!(r.conn_state(), State::Closed, "exact RST in {st}");
        let fd = fd.unwrap();
        match err {
            Some(e) => assert_eq!(r.stack.recv(r.now, fd, 1, false), Err(e), "{st}"),
            None => assert_eq!(r.stack.recv(r.now, fd, 1, false), Ok(vec![]), "{st}"),
        }
        assert_eq!(r.stack.poll_timeout(), None, "timers left after RST in {st}");
    }
}

#[test]
fn rst_in_time_wait_ignored_under_rfc1337_profile() {
    let mut p = reference_stack::Profile::rfc9293();
    p.rfc1337 = true;
    let mut r = Rig::with_profile(p);
    r.drive_to(State::TimeWait);
    r.inject(r.seg("R", r.peer_nxt, 0));
    assert_eq!(r.conn_state(), State::TimeWait);
}

#[test]
fn without_rfc5961_any_in_window_rst_resets() {
    let mut p = reference_stack::Profile::rfc9293();
    p.rfc5961 = false;
    let mut r = Rig::with_profile(p);
    r.drive_to(State::Established);
    r.inject(r.seg("R", P + 100, 0));
    assert_eq!(r.conn_state(), State::Closed);
}

// ---------------------------------------------------------------- SYN

#[test]
fn syn_in_synchronized_states_gets_challenge_ack() {
    for st in SYNCHRONIZED {
        for seq in [P - 1, r_in_window(), P + 1_000_000] {
            let (mut r, _) = rst_cases(st);
            let nxt = r.peer_nxt;
            r.inject(r.seg("S", seq, 0));
            let snd_nxt = r.snd_nxt();
            r.expect(".", snd_nxt, Some(nxt));
            assert_eq!(r.conn_state(), st, "SYN at {seq} in {st}");
        }
    }
}

fn r_in_window() -> u32 {
    P + 10
}

#[test]
fn syn_in_passive_syn_received_returns_to_listen() {
    let mut r = Rig::new();
    r.drive_to(State::SynReceived);
    r.inject(r.seg("S", P + 5, 0));
    assert!(r.transitions().contains(&(State::SynReceived, State::Listen)));
    assert_eq!(r.conn_state(), State::Closed);
}

#[test]
fn syn_without_rfc5961_resets() {
    let mut p = reference_stack::Profile::rfc9293();
    p.rfc5961 = false;
    let mut r = Rig::with_profile(p);
    let fd = r.drive_to(State::Established).unwrap();
    r.inject(r.seg("S", P + 5, 0));
    r.expect("R", r.iss + 1, None);
    assert_eq!(r.stack.recv(r.now, fd, 1, false), Err(Errno::ECONNRESET));
}

// ---------------------------------------------------------------- acceptability

#[test]
fn unacceptable_segments_get_an_ack_in_every_synchronized_state() {
    for st in AFTER_SYN {
        let (mut r, _) = rst_cases(st);
        let nxt = r.peer_nxt;
        let snd = r.snd_nxt();
        // Old data, entirely below RCV.NXT.
        let mut old = r.seg("P.", nxt - 10, snd);
        old.payload = vec![0; 5];
        r.inject(old);
        r.expect(".", snd, Some(nxt));
        // Beyond the right edge.
        let mut far = r.seg("P.", nxt + 300_000, snd);
        far.payload = vec![0; 5];
        r.inject(far);
        r.expect(".", snd, Some(nxt));
        // A zero-length segment below the window.
        r.inject(r.seg(".", nxt - 1, snd));
        r.expect(".", snd, Some(nxt));
        assert_eq!(r.conn_state(), st, "{st}");
    }
}

#[test]
fn ack_of_unsent_data_is_answered_and_dropped_rfc5961_5_2() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    r.inject(r.seg(".", P, r.iss + 1000));
    r.expect(".", r.iss + 1, Some(P));
    // Data on such a segment is not taken either.
    let mut d = r.seg("P.", P, r.iss + 1000);
    d.payload = b"inject".to_vec();
    r.inject(d);
    r.expect(".", r.iss + 1, Some(P));
    assert_eq!(r.stack.recv(r.now, fd, 10, false), Err(Errno::EAGAIN));
    // Too old: below SND.UNA - MAX.SND.WND.
    let mut d = r.seg("P.", P, r.iss.wrapping_sub(70_000));
    d.payload = b"inject".to_vec();
    r.inject(d);
    r.expect(".", r.iss + 1, Some(P));
    assert_eq!(r.stack.recv(r.now, fd, 10, false), Err(Errno::EAGAIN));
}

#[test]
fn segment_without_ack_bit_is_dropped_in_synchronized_states() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    let mut d = r.seg("P", P, 0);
    d.payload = b"noack".to_vec();
    r.inject(d);
    r.expect_nothing();
    assert_eq!(r.stack.recv(r.now, fd, 10, false), Err(Errno::EAGAIN));
}

#[test]
fn segment_straddling_the_left_edge_keeps_only_new_octets() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    let mut d = r.seg("P.", P, r.iss + 1);
    d.payload = b"abcdef".to_vec();
    r.inject(d);
    let mut d = r.seg("P.", P + 3, r.iss + 1);
    d.payload = b"XYZghi".to_vec();
    r.inject(d);
    assert_eq!(r.stack.recv(r.now, fd, 100, false).unwrap(), b"abcdefghi");
}

#[test]
fn the_call_cause_is_recorded_for_user_transitions() {
    let mut r = Rig::new();
    let fd = r.active_open();
    r.stack.close(r.now, fd).unwrap();
    let ev = r.stack.events().iter().rev().find(|e| matches!(e.kind, EventKind::Transition { .. })).unwrap();
    assert!(matches!(ev.kind, EventKind::Transition { to: State::FinWait1, cause: Cause::Call(Call::Close), .. }));
}

#[test]
fn urgent_pointer_in_and_out() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    // MUST-62: pointer = offset of the first non-urgent octet.
    let mut d = r.seg("PU.", P, r.iss + 1);
    d.payload = b"abcdef".to_vec();
    d.urgent = 3;
    r.inject(d);
    assert_eq!(r.stack.status(fd).unwrap().urgent_pending, Some(3));
    assert!(r.stack.poll(r.now, fd).unwrap().pri);
    assert_eq!(r.stack.recv(r.now, fd, 2, false).unwrap(), b"ab");
    assert_eq!(r.stack.status(fd).unwrap().urgent_pending, Some(1));
    assert_eq!(r.stack.recv(r.now, fd, 10, false).unwrap(), b"cdef");
    assert_eq!(r.stack.status(fd).unwrap().urgent_pending, None);
    // Sending with MSG_OOB: URG set, pointer past the urgent octets.
    r.stack.send(r.now, fd, b"xyz", true).unwrap();
    let s = r.expect("PU.", r.iss + 1, Some(P + 6));
    assert_eq!(s.urgent, 3);
}

#[test]
fn zero_window_still_processes_ack_rst_and_fin_must_66() {
    let mut p = reference_stack::Profile::rfc9293();
    p.window_scaling = false;
    let mut r = Rig::with_profile(p);
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::RcvBuf(1000)).unwrap();
    r.stack.bind(r.now, fd, r.local).unwrap();
    let _ = r.stack.connect(r.now, fd, r.remote);
    r.iss = r.out().unwrap().seq.0;
    r.inject(r.seg("S.", PEER_ISS, r.iss + 1));
    let ack = r.expect(".", r.iss + 1, Some(P));
    assert_eq!(ack.window, 1000);
    let mut d = r.seg(".", P, r.iss + 1);
    d.payload = vec![7; 1000];
    r.inject(d);
    // Not a full-sized segment: the ACK waits for the delayed-ACK timer (200 ms).
    r.expect_nothing();
    r.advance_ms(200);
    let a = r.expect(".", r.iss + 1, Some(P + 1000));
    assert_eq!(a.window, 0);
    // More data with a zero window: dropped, ACK sent; its ACK field is used.
    r.stack.send(r.now, fd, b"hi", false).unwrap();
    r.expect("P.", r.iss + 1, Some(P + 1000));
    let mut d = r.seg(".", P + 1000, r.iss + 3);
    d.payload = vec![8; 10];
    r.inject(d);
    r.expect(".", r.iss + 3, Some(P + 1000));
    assert_eq!(r.stack.status(fd).unwrap().snd_una.0, r.iss + 3);
    // A FIN at RCV.NXT is taken.
    r.inject(r.seg("F.", P + 1000, r.iss + 3));
    r.expect(".", r.iss + 3, Some(P + 1001));
    assert_eq!(r.conn_state(), State::CloseWait);
    // A RST at RCV.NXT resets.
    r.inject(r.seg("R", P + 1001, 0));
    assert_eq!(r.conn_state(), State::Closed);
}

#[test]
fn status_in_every_state_is_reported() {
    for st in State::ALL {
        if matches!(st, State::Closed | State::Listen) {
            continue;
        }
        let mut r = Rig::new();
        r.drive_to(st);
        let t = reference_stack::FourTuple { local: r.local, remote: r.remote };
        assert_eq!(r.stack.connection(&t).unwrap().state, st);
        assert!(r.stack.connections().iter().any(|c| c.state == st));
        // The cheap view agrees with the full status, state by state.
        let status = r.stack.connection(&t).unwrap();
        assert_eq!(r.stack.connection_view(&t), Some(reference_stack::ConnView::from(&status)));
    }
}

#[test]
fn recv_and_send_on_unconnected_sockets() {
    let mut r = Rig::new();
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    assert_eq!(r.stack.recv(r.now, fd, 1, false), Err(Errno::ENOTCONN));
    assert_eq!(r.stack.send(r.now, fd, b"x", false), Err(Errno::ENOTCONN));
    assert_eq!(r.stack.accept(r.now, fd), Err(Errno::EINVAL));
    assert_eq!(r.stack.send(r.now, 99, b"x", false), Err(Errno::EBADF));
    assert_eq!(r.stack.bind(r.now, fd, "203.0.113.9:1".parse().unwrap()), Err(Errno::EADDRNOTAVAIL));
    assert_eq!(r.stack.bind(r.now, fd, "[2001:db8::1]:1".parse().unwrap()), Err(Errno::EAFNOSUPPORT));
    r.stack.bind(r.now, fd, r.local).unwrap();
    let fd2 = r.stack.socket(r.now, Domain::Inet).unwrap();
    assert_eq!(r.stack.bind(r.now, fd2, r.local), Err(Errno::EADDRINUSE));
    assert_eq!(r.stack.connect(r.now, fd2, "224.0.0.1:80".parse().unwrap()), Err(Errno::ENETUNREACH));
}

#[test]
fn segment_to_another_address_or_from_broadcast_is_dropped() {
    let mut r = Rig::new();
    r.listen();
    r.local = "198.51.100.2:8080".parse().unwrap();
    // Not ours: handle_packet accepts the bytes but nothing answers.
    let seg = r.seg("S", 1, 0);
    let p = reference_stack::wire::IpPacket {
        ip: reference_stack::wire::IpRepr::new(r.remote.ip(), r.local.ip()),
        tcp: seg,
    };
    r.stack.handle_packet(r.now, &p.emit().unwrap()).unwrap();
    assert!(r.stack.poll_transmit(r.now).is_none());
    // MUST-63: a SYN from a broadcast source.
    let seg = TcpRepr { dst_port: 8080, ..r.seg("S", 1, 0) };
    let p = reference_stack::wire::IpPacket {
        ip: reference_stack::wire::IpRepr::new("255.255.255.255".parse().unwrap(), "198.51.100.1".parse().unwrap()),
        tcp: seg,
    };
    r.stack.handle_packet(r.now, &p.emit().unwrap()).unwrap();
    assert!(r.stack.poll_transmit(r.now).is_none());
}

/// SYN-SENT's first and second checks at their edges: an ACK beyond
/// SND.NXT is reset; a RST counts only with the ACK bit and an acceptable
/// acknowledgment field.
#[test]
fn syn_sent_ack_and_rst_edges() {
    let mut r = Rig::new();
    let _fd = r.drive_to(State::SynSent).unwrap();
    r.inject(r.seg("S.", PEER_ISS, r.iss + 2));
    r.expect("R", r.iss + 2, None);
    assert_eq!(r.conn_state(), State::SynSent);
    // The acknowledgment field is right, but the ACK bit is off.
    r.inject(r.seg("R", 0, r.iss + 1));
    r.expect_nothing();
    assert_eq!(r.conn_state(), State::SynSent);
}

/// A SYN,ACK's text and FIN are processed at once (RFC 9293 3.10.7.3
/// "continue processing at the sixth step").
#[test]
fn text_and_fin_on_a_syn_ack() {
    for (text, fin) in [(&b"hello"[..], true), (&b"hello"[..], false), (&b""[..], true)] {
        let mut r = Rig::new();
        let fd = r.drive_to(State::SynSent).unwrap();
        let mut sa = r.seg(if fin { "SF." } else { "S." }, PEER_ISS, r.iss + 1);
        sa.payload = text.to_vec();
        r.inject(sa);
        let end = P + text.len() as u32 + u32::from(fin);
        let acks: Vec<TcpRepr> = std::iter::from_fn(|| r.out()).collect();
        assert_eq!(acks.last().map(|a| a.ack.0), Some(end), "{text:?} fin {fin}");
        assert_eq!(r.stack.state(fd).unwrap(), if fin { State::CloseWait } else { State::Established });
        assert_eq!(r.stack.recv(r.now, fd, 100, false).unwrap(), text);
        if fin {
            assert_eq!(r.stack.recv(r.now, fd, 100, false).unwrap(), b"", "then end of stream");
        }
    }
}

/// A FIN on a SYN is queued with its text; when the text did not all fit
/// the window, the FIN is not taken (it lies beyond what was kept).
#[test]
fn a_fin_on_a_syn_is_queued_with_its_text() {
    let mut r = Rig::new();
    let lfd = r.listen();
    let mut syn = r.seg("SF", PEER_ISS, 0);
    syn.payload = b"abc".to_vec();
    r.inject(syn);
    r.iss = r.out().unwrap().seq.0;
    r.inject(r.seg(".", P, r.iss + 1));
    let (fd, _) = r.stack.accept(r.now, lfd).unwrap();
    assert_eq!(r.stack.state(fd).unwrap(), State::CloseWait);
    // The FIN's transition names the segment that completed the handshake.
    let cause = r.stack.events().iter().find_map(|e| match e.kind {
        EventKind::Transition { to: State::CloseWait, cause, .. } => Some(cause),
        _ => None,
    });
    assert!(matches!(cause, Some(Cause::Segment(s)) if s.ack.0 == r.iss + 1), "{cause:?}");
    assert_eq!(r.stack.recv(r.now, fd, 100, false).unwrap(), b"abc");
    assert_eq!(r.stack.recv(r.now, fd, 100, false).unwrap(), b"");

    let mut r = Rig::new();
    let lfd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.setsockopt(r.now, lfd, SockOpt::RcvBuf(256)).unwrap();
    r.stack.bind(r.now, lfd, r.local).unwrap();
    r.stack.listen(r.now, lfd, 8).unwrap();
    let mut syn = r.seg("SF", PEER_ISS, 0);
    syn.payload = vec![b'x'; 300];
    r.inject(syn);
    let sa = r.out().unwrap();
    assert_eq!(sa.window, 256);
    r.iss = sa.seq.0;
    r.inject(r.seg(".", P, r.iss + 1));
    let (fd, _) = r.stack.accept(r.now, lfd).unwrap();
    assert_eq!(r.stack.state(fd).unwrap(), State::Established, "the FIN was beyond the window");
    assert_eq!(r.stack.recv(r.now, fd, 1000, false).unwrap().len(), 256);
}

/// SACK blocks (RFC 2018 4) go only where SACK was agreed, and only while
/// data is held out of order.
#[test]
fn sack_blocks_only_when_agreed_and_while_data_is_held() {
    for agreed in [false, true] {
        let mut r = Rig::new();
        let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
        r.stack.bind(r.now, fd, r.local).unwrap();
        let _ = r.stack.connect(r.now, fd, r.remote);
        r.iss = r.out().unwrap().seq.0;
        let mut sa = r.seg("S.", PEER_ISS, r.iss + 1);
        sa.options = if agreed { vec![TcpOption::SackPermitted] } else { vec![] }.into();
        r.inject(sa);
        let _ = r.out();
        let mut d = r.seg(".", P + 100, r.iss + 1);
        d.payload = vec![0; 100];
        r.inject(d);
        let dup = r.out().expect("a duplicate ACK");
        assert_eq!(dup.ack.0, P);
        assert_eq!(!dup.sack_blocks().is_empty(), agreed, "agreed {agreed}");
        let mut fill = r.seg(".", P, r.iss + 1);
        fill.payload = vec![0; 100];
        r.inject(fill);
        let a = r.out().expect("the ACK of both");
        assert_eq!(a.ack.0, P + 200);
        assert!(a.sack_blocks().is_empty(), "nothing held: no SACK option");
    }
}

/// A segment straddling RCV.NXT with a FIN: the new octets and the FIN are
/// taken; one wholly old (its FIN too) is answered and changes nothing;
/// one beyond the window loses its FIN with the octets cut off.
#[test]
fn a_fin_on_a_straddling_or_old_or_oversized_segment() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::Established).unwrap();
    let mut d = r.seg("P.", P, r.iss + 1);
    d.payload = b"abc".to_vec();
    r.inject(d);
    let mut d = r.seg("FP.", P + 1, r.iss + 1);
    d.payload = b"bcdef".to_vec();
    r.inject(d);
    assert_eq!(r.conn_state(), State::CloseWait);
    assert_eq!(r.rcv_nxt(), P + 7);
    assert_eq!(r.stack.recv(r.now, fd, 100, false).unwrap(), b"abcdef");
    // The same FIN again, wholly old: an ACK, nothing else.
    while r.out().is_some() {}
    let mut d = r.seg("FP.", P + 1, r.iss + 1);
    d.payload = b"bcdef".to_vec();
    r.inject(d);
    r.expect(".", r.iss + 1, Some(P + 7));
    assert_eq!((r.conn_state(), r.rcv_nxt()), (State::CloseWait, P + 7));
    assert_eq!(r.stack.recv(r.now, fd, 100, false).unwrap(), b"");

    // A window of 4: "abcdef"+FIN keeps "abcd" and drops the FIN.
    let mut r = Rig::new();
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::RcvBuf(256)).unwrap();
    r.stack.bind(r.now, fd, r.local).unwrap();
    let _ = r.stack.connect(r.now, fd, r.remote);
    r.iss = r.out().unwrap().seq.0;
    r.inject(r.seg("S.", PEER_ISS, r.iss + 1));
    let _ = r.out();
    let mut d = r.seg("P.", P, r.iss + 1);
    d.payload = vec![b'x'; 252];
    r.inject(d);
    let mut d = r.seg("FP.", P + 252, r.iss + 1);
    d.payload = b"abcdef".to_vec();
    r.inject(d);
    assert_eq!((r.conn_state(), r.rcv_nxt()), (State::Established, P + 256));
}

/// A FIN that came with the peer's SYN, on a connection closed in
/// SYN-RECEIVED: it is taken once our SYN is acknowledged (the connection
/// never passes through ESTABLISHED), so our FIN acknowledges it and the
/// connection is CLOSING.
#[test]
fn a_syn_fin_is_released_after_a_close_in_syn_received() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::SynSent).unwrap();
    r.inject(r.seg("SF", PEER_ISS, 0));
    r.expect("S.", r.iss, Some(P));
    r.stack.close(r.now, fd).unwrap();
    r.expect_nothing();
    r.inject(r.seg(".", P, r.iss + 1));
    r.expect("F.", r.iss + 1, Some(P + 1));
    assert_eq!(r.conn_state(), State::Closing);
}

/// The handshake's retransmission timer stops when the SYN is acknowledged
/// (RFC 6298 5.2): nothing is armed on a quiet ESTABLISHED connection.
#[test]
fn no_timer_runs_on_a_quiet_established_connection() {
    let mut r = Rig::new();
    let fd = r.active_open();
    assert_eq!(r.stack.status(fd).unwrap().timers.iter().count(), 0);
    let mut r = Rig::new();
    let (_lfd, fd) = r.passive_open();
    assert_eq!(r.stack.status(fd).unwrap().timers.iter().count(), 0);
    let mut d = r.seg("P.", P, r.iss + 1);
    d.payload = b"x".to_vec();
    r.inject(d);
    // Only the delayed ACK.
    let timers: Vec<_> = r.stack.status(fd).unwrap().timers.iter().map(|t| t.0).collect();
    assert_eq!(timers, [reference_stack::TimerKind::DelayedAck]);
}

/// CLOSE in SYN-RECEIVED with data queued is held until ESTABLISHED
/// (RFC 9293 3.10.4): then FIN-WAIT-1, the data and the FIN.
#[test]
fn close_with_data_queued_in_syn_received_waits_for_established() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::SynSent).unwrap();
    r.inject(r.seg("S", PEER_ISS, 0));
    r.expect("S.", r.iss, Some(P));
    assert_eq!(r.stack.send(r.now, fd, b"data", false), Ok(4));
    r.stack.close(r.now, fd).unwrap();
    assert_eq!(r.conn_state(), State::SynReceived);
    r.inject(r.seg(".", P, r.iss + 1));
    assert_eq!(r.conn_state(), State::FinWait1);
    let out: Vec<TcpRepr> = std::iter::from_fn(|| r.out()).collect();
    let last = out.last().expect("data and FIN");
    assert!(last.flags.fin());
    assert_eq!(out.iter().map(|s| s.payload.len()).sum::<usize>(), 4);
}

/// FIN-WAIT-1 ends only when the FIN itself is acknowledged, not the data
/// before it.
#[test]
fn fin_wait_1_waits_for_the_ack_of_the_fin() {
    let mut r = Rig::new();
    let fd = r.active_open();
    r.stack.send(r.now, fd, &[1u8; 1000], false).unwrap();
    r.stack.close(r.now, fd).unwrap();
    while r.out().is_some() {}
    for acked in [999, 1000] {
        r.inject(r.seg(".", P, r.iss + 1 + acked));
        assert_eq!(r.conn_state(), State::FinWait1, "{acked} acknowledged");
    }
    r.inject(r.seg(".", P, r.iss + 1002));
    assert_eq!(r.conn_state(), State::FinWait2);
}

/// Only a segment with URG moves the receive urgent pointer: ordinary data
/// waiting to be read is not urgent.
#[test]
fn ordinary_data_is_not_urgent() {
    let mut r = Rig::new();
    let fd = r.active_open();
    for (i, part) in [&b"abc"[..], b"def"].into_iter().enumerate() {
        let mut d = r.seg("P.", P + 3 * i as u32, r.iss + 1);
        d.payload = part.to_vec();
        r.inject(d);
    }
    assert!(!r.stack.poll(r.now, fd).unwrap().pri);
    assert_eq!(r.stack.status(fd).unwrap().urgent_pending, None);
}

/// Table 6's acceptability for zero-length segments: one below RCV.NXT is
/// old (answered with an ACK, not processed); with the receive window shut
/// only RCV.NXT itself is acceptable.
#[test]
fn zero_length_segments_outside_the_window_are_answered_not_taken() {
    let mut r = Rig::new();
    let fd = r.active_open();
    r.stack.send(r.now, fd, b"abc", false).unwrap();
    let _ = r.out();
    // An old pure ACK acknowledging our data: answered, and the data stays unacked.
    r.inject(r.seg(".", P - 100, r.iss + 4));
    r.expect(".", r.iss + 4, Some(P));
    assert_eq!(r.stack.status(fd).unwrap().snd_una.0, r.iss + 1);

    // Shut the receive window: RcvBuf 256, filled.
    let mut r = Rig::new();
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::RcvBuf(256)).unwrap();
    r.stack.bind(r.now, fd, r.local).unwrap();
    let _ = r.stack.connect(r.now, fd, r.remote);
    r.iss = r.out().unwrap().seq.0;
    r.inject(r.seg("S.", PEER_ISS, r.iss + 1));
    let _ = r.out();
    let mut d = r.seg(".", P, r.iss + 1);
    d.payload = vec![0; 256];
    r.inject(d);
    while r.out().is_some() {}
    assert_eq!(r.stack.status(fd).unwrap().rcv_wnd, 0);
    r.stack.send(r.now, fd, b"abc", false).unwrap();
    let _ = r.out();
    // Beyond RCV.NXT with a shut window: not acceptable, even as an ACK.
    r.inject(r.seg(".", P + 256 + 5, r.iss + 4));
    r.expect(".", r.iss + 4, Some(P + 256));
    assert_eq!(r.stack.status(fd).unwrap().snd_una.0, r.iss + 1);
    // At RCV.NXT: taken (MUST-66).
    r.inject(r.seg(".", P + 256, r.iss + 4));
    assert_eq!(r.stack.status(fd).unwrap().snd_una.0, r.iss + 4);
    // Data at RCV.NXT with the window shut is refused; it carries no FIN, so
    // the connection stays ESTABLISHED.
    let mut d = r.seg("P.", P + 256, r.iss + 4);
    d.payload = b"more".to_vec();
    r.inject(d);
    assert_eq!((r.conn_state(), r.rcv_nxt()), (State::Established, P + 256));
    // Data with a FIN at RCV.NXT: the data cannot be taken, so neither is
    // the FIN behind it.
    let mut d = r.seg("FP.", P + 256, r.iss + 4);
    d.payload = b"more".to_vec();
    r.inject(d);
    assert_eq!((r.conn_state(), r.rcv_nxt()), (State::Established, P + 256));
    // A bare FIN at RCV.NXT is let through (it needs no buffer).
    r.inject(r.seg("F.", P + 256, r.iss + 4));
    assert_eq!(r.conn_state(), State::CloseWait);
}

/// A FIN right at the window's edge, after data that fills it, is taken
/// (it needs no buffer space, as at a shut window).
#[test]
fn a_fin_just_past_data_filling_the_window_is_taken() {
    let mut r = Rig::new();
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::RcvBuf(256)).unwrap();
    r.stack.bind(r.now, fd, r.local).unwrap();
    let _ = r.stack.connect(r.now, fd, r.remote);
    r.iss = r.out().unwrap().seq.0;
    r.inject(r.seg("S.", PEER_ISS, r.iss + 1));
    let _ = r.out();
    let mut d = r.seg("FP.", P, r.iss + 1);
    d.payload = vec![0; 256];
    r.inject(d);
    assert_eq!((r.conn_state(), r.rcv_nxt()), (State::CloseWait, P + 257));
}

/// SYN-RECEIVED: an ACK of SND.UNA itself (the ISS) does not acknowledge
/// the SYN: reset <SEQ=SEG.ACK>.
#[test]
fn syn_received_ack_of_the_iss_is_reset() {
    let mut r = Rig::new();
    r.drive_to(State::SynReceived);
    r.inject(r.seg(".", P, r.iss));
    r.expect("R", r.iss, None);
    assert_eq!(r.conn_state(), State::SynReceived);
}

/// A passive open takes the send window from the handshake's ACK, scaled.
#[test]
fn the_handshake_ack_sets_a_scaled_send_window() {
    let mut r = Rig::new();
    let lfd = r.listen();
    let mut syn = r.seg("S", PEER_ISS, 0);
    syn.options = vec![TcpOption::Mss(1460), TcpOption::WindowScale(4)].into();
    r.inject(syn);
    r.iss = r.out().unwrap().seq.0;
    let mut a = r.seg(".", P, r.iss + 1);
    a.window = 1000;
    r.inject(a);
    let (fd, _) = r.stack.accept(r.now, lfd).unwrap();
    assert_eq!(r.stack.status(fd).unwrap().snd_wnd, 16_000);
}

/// RFC 5961 5.2: an ACK is acceptable down to SND.UNA - MAX.SND.WND (an
/// old duplicate, ignored); below that it gets a challenge ACK.
#[test]
fn rfc5961_ack_range_boundary() {
    let mut r = Rig::new();
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    r.stack.bind(r.now, fd, r.local).unwrap();
    r.stack.setsockopt(r.now, fd, SockOpt::NoDelay(true)).unwrap();
    let _ = r.stack.connect(r.now, fd, r.remote);
    r.iss = r.out().unwrap().seq.0;
    let mut sa = r.seg("S.", PEER_ISS, r.iss + 1);
    sa.window = 1000;
    sa.options = vec![TcpOption::Mss(1460)].into();
    r.inject(sa);
    let _ = r.out();
    for i in 1..=3u32 {
        r.stack.send(r.now, fd, &[1u8; 1000], false).unwrap();
        while r.out().is_some() {}
        let mut a = r.seg(".", P, r.iss + 1 + 1000 * i);
        a.window = 1000;
        r.inject(a);
    }
    assert_eq!(r.stack.status(fd).unwrap().max_snd_wnd, 1000);
    let mut old = r.seg(".", P, r.iss + 2001);
    old.window = 1000;
    r.inject(old);
    r.expect_nothing();
    let mut too_old = r.seg(".", P, r.iss + 2000);
    too_old.window = 1000;
    r.inject(too_old);
    r.expect(".", r.iss + 3001, Some(P));
}

/// Duplicate ACKs count only with data outstanding: three pure ACKs of a
/// quiet connection change no congestion state.
#[test]
fn duplicate_acks_need_data_in_flight() {
    let mut r = Rig::new();
    let fd = r.active_open();
    let before = r.stack.status(fd).unwrap();
    for _ in 0..4 {
        r.inject(r.seg(".", P, r.iss + 1));
    }
    r.expect_nothing();
    let after = r.stack.status(fd).unwrap();
    assert_eq!((after.cwnd, after.ssthresh), (before.cwnd, before.ssthresh));
}

/// In TIME-WAIT, only a retransmitted FIN restarts the timer: an old
/// segment without FIN is answered and leaves it.
#[test]
fn an_old_segment_in_time_wait_leaves_the_timer() {
    let mut r = Rig::new();
    r.drive_to(State::TimeWait);
    let end = r.stack.poll_timeout().unwrap();
    r.advance_ms(1000);
    let mut d = r.seg(".", P - 4, r.iss + 2);
    d.payload = b"abcde".to_vec();
    r.inject(d);
    r.expect(".", r.iss + 2, Some(P + 1));
    assert_eq!(r.stack.poll_timeout(), Some(end));
    r.inject(r.seg(".", P - 50, r.iss + 2));
    r.expect(".", r.iss + 2, Some(P + 1));
    assert_eq!(r.stack.poll_timeout(), Some(end));
}

/// The ACK completing a handshake may carry the SYN's text again and more,
/// with a FIN: the SYN's text is taken once, the rest and the FIN after it.
#[test]
fn the_handshake_ack_repeating_the_syn_text_with_more_and_a_fin() {
    let mut r = Rig::new();
    let lfd = r.listen();
    let mut syn = r.seg("S", PEER_ISS, 0);
    syn.payload = b"abc".to_vec();
    r.inject(syn);
    r.iss = r.out().unwrap().seq.0;
    let mut a = r.seg("FP.", P, r.iss + 1);
    a.payload = b"abcdef".to_vec();
    r.inject(a);
    let (fd, _) = r.stack.accept(r.now, lfd).unwrap();
    assert_eq!(r.stack.recv(r.now, fd, 100, false).unwrap(), b"abcdef");
    assert_eq!(r.stack.state(fd).unwrap(), State::CloseWait);
    assert_eq!(r.rcv_nxt(), P + 7);
}

/// A FIN beyond RCV.NXT in CLOSE-WAIT (the peer's FIN was taken already)
/// changes nothing.
#[test]
fn a_second_fin_beyond_rcv_nxt_in_close_wait_changes_nothing() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::CloseWait).unwrap();
    while r.out().is_some() {}
    r.inject(r.seg("F.", P + 10, r.iss + 1));
    r.expect_nothing();
    assert_eq!((r.conn_state(), r.rcv_nxt()), (State::CloseWait, P + 1));
    assert_eq!(r.stack.recv(r.now, fd, 10, false).unwrap(), b"");
    // Our close still ends as usual.
    r.stack.close(r.now, fd).unwrap();
    r.expect("F.", r.iss + 1, Some(P + 1));
}

/// send() on a dead connection: the error once (SO_ERROR's), then ENOTCONN
/// if it never connected, EPIPE if it did.
#[test]
fn send_after_the_connection_died() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::SynSent).unwrap();
    r.inject(r.seg("R.", 0, r.iss + 1));
    assert_eq!(r.stack.send(r.now, fd, b"x", false), Err(Errno::ECONNREFUSED));
    assert_eq!(r.stack.send(r.now, fd, b"x", false), Err(Errno::ENOTCONN));
    let mut r = Rig::new();
    let fd = r.active_open();
    r.inject(r.seg("R", P, 0));
    assert_eq!(r.stack.send(r.now, fd, b"x", false), Err(Errno::ECONNRESET));
    assert_eq!(r.stack.send(r.now, fd, b"x", false), Err(Errno::EPIPE));
}

/// Regression (found reading `make mutants`' survivors): a CLOSE queued in
/// SYN-RECEIVED behind data, on a connection whose peer's SYN carried a
/// FIN, ends in LAST-ACK once the handshake completes (CLOSE-WAIT plus the
/// CLOSE); it stayed in CLOSE-WAIT with its FIN sent.
#[test]
fn a_queued_close_after_a_syn_fin_goes_to_last_ack() {
    let mut r = Rig::new();
    let fd = r.drive_to(State::SynSent).unwrap();
    r.inject(r.seg("SF", PEER_ISS, 0));
    r.expect("S.", r.iss, Some(P));
    r.stack.send(r.now, fd, b"data", false).unwrap();
    r.stack.close(r.now, fd).unwrap();
    assert_eq!(r.conn_state(), State::SynReceived);
    r.inject(r.seg(".", P + 1, r.iss + 1));
    assert_eq!(r.conn_state(), State::LastAck);
    let out: Vec<TcpRepr> = std::iter::from_fn(|| r.out()).collect();
    let last = out.last().expect("data and FIN");
    assert!(last.flags.fin());
    assert_eq!(last.ack.0, P + 1, "the peer's FIN acknowledged");
    r.inject(r.seg(".", P + 1, r.iss + 6));
    assert_eq!(r.conn_state(), State::Closed);
}
