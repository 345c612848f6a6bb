//! What ends or takes over a TIME-WAIT: a SYN that reopens it (MAY-2,
//! RFC 6191: newer timestamp, or a higher sequence number without them),
//! and an outgoing connection under tcp_tw_reuse; and what the states
//! after the peer's FIN answer (text ignored, or ACKed when refused).
mod support;

use reference_stack::event::{EventKind, Notice};
use reference_stack::wire::{TcpOption, TcpRepr};
use reference_stack::{Domain, Duration, Errno, Profile, SeqNumber, Shutdown, SockOpt, State};
use support::*;

const P: u32 = PEER_ISS + 1;

/// The server closes first, with timestamps (the peer's TSval 1000 last),
/// so its TIME-WAIT sits on the listener's port.
fn server_time_wait(ts: bool) -> Rig {
    let mut r = Rig::new();
    let lfd = r.listen();
    let ts_opt = |v| TcpOption::Timestamps { tsval: v, tsecr: 0 };
    let mut syn = r.seg("S", PEER_ISS, 0);
    syn.options = if ts { vec![TcpOption::Mss(1460), ts_opt(990)] } else { vec![TcpOption::Mss(1460)] }.into();
    r.inject(syn);
    r.iss = r.out().expect("SYN,ACK").seq.0;
    let with = |mut s: TcpRepr, v| {
        if ts {
            s.options = vec![ts_opt(v)].into();
        }
        s
    };
    r.inject(with(r.seg(".", P, r.iss + 1), 995));
    let (fd, _) = r.stack.accept(r.now, lfd).unwrap();
    r.stack.close(r.now, fd).unwrap();
    r.expect("F.", r.iss + 1, Some(P));
    r.inject(with(r.seg("F.", P, r.iss + 2), 1000));
    r.expect(".", r.iss + 2, Some(P + 1));
    assert_eq!(r.conn_state(), State::TimeWait);
    r.stack.take_events();
    r
}

fn reopened(r: &Rig) -> bool {
    r.stack.events().iter().any(|e| matches!(e.kind, EventKind::Notice(Notice::TimeWaitReopened)))
}

/// Only a bare SYN reopens: with ACK, RST or FIN too it is a segment for
/// the TIME-WAIT connection, however new its number.
#[test]
fn only_a_bare_syn_reopens_time_wait() {
    for f in ["S.", "SR", "SF"] {
        let mut r = server_time_wait(false);
        r.inject(r.seg(f, P + 100_000, r.iss + 2));
        assert!(!reopened(&r), "{f}");
        while let Some(s) = r.out() {
            assert_ne!(s.flags, flags("S."), "{f}: answered as a new connection");
        }
    }
    let mut r = server_time_wait(false);
    r.inject(r.seg("S", P + 100_000, 0));
    assert!(reopened(&r));
    assert_eq!(r.out().map(|s| s.flags), Some(flags("S.")));
}

/// Without timestamps the SYN's sequence number must be above RCV.NXT: at
/// RCV.NXT it is not (the challenge ACK answers it).
#[test]
fn without_timestamps_the_syn_must_be_above_rcv_nxt() {
    let mut r = server_time_wait(false);
    r.inject(r.seg("S", P + 1, 0));
    assert!(!reopened(&r));
    r.expect(".", r.iss + 2, Some(P + 1));
    r.inject(r.seg("S", P + 2, 0));
    assert!(reopened(&r));
}

/// With timestamps the SYN's TSval must be newer than TS.Recent, whatever
/// its sequence number (RFC 6191 3): equal or older is not enough, newer
/// with a lower sequence number is.
#[test]
fn with_timestamps_the_syn_must_carry_a_newer_tsval() {
    for (tsval, seq, reopens) in [(1000, P + 100_000, false), (999, P + 100_000, false), (1001, P - 50_000, true)] {
        let mut r = server_time_wait(true);
        let mut syn = r.seg("S", seq, 0);
        syn.options = vec![TcpOption::Timestamps { tsval, tsecr: 0 }].into();
        r.inject(syn);
        assert_eq!(reopened(&r), reopens, "TSval {tsval}, seq {seq}");
    }
}

/// tcp_tw_reuse takes over a TIME-WAIT only: not a closing connection in
/// another state, and not one without timestamps.
#[test]
fn tw_reuse_takes_only_a_time_wait_with_timestamps() {
    let one_port = || {
        let mut p = Profile::linux();
        p.local_ports = Some((8080, 8080));
        p.tw_reuse_after = Some(Duration::from_secs(1));
        p.fin_wait_2_timeout = None;
        p
    };
    // An orphan in FIN-WAIT-2 with timestamps.
    let mut r = Rig::with_profile(one_port());
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    let _ = r.stack.connect(r.now, fd, r.remote);
    let syn = r.out().unwrap();
    r.iss = syn.seq.0;
    let mut sa = r.seg("S.", PEER_ISS, r.iss + 1);
    sa.options = vec![TcpOption::Timestamps { tsval: 5, tsecr: syn.timestamps().unwrap().0 }].into();
    r.inject(sa);
    let _ = r.out();
    r.stack.close(r.now, fd).unwrap();
    let fin = r.out().unwrap();
    let mut a = r.seg(".", P, r.iss + 2);
    a.options = vec![TcpOption::Timestamps { tsval: 6, tsecr: fin.timestamps().unwrap().0 }].into();
    r.inject(a);
    assert_eq!(r.conn_state(), State::FinWait2);
    r.advance_ms(5000);
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    assert_eq!(r.stack.connect(r.now, fd, r.remote), Err(Errno::EADDRNOTAVAIL));

    // A TIME-WAIT without timestamps.
    let mut p = one_port();
    p.timestamps = false;
    let mut r = Rig::with_profile(p);
    let fd = r.drive_to(State::TimeWait).unwrap();
    r.stack.close(r.now, fd).unwrap();
    r.advance_ms(5000);
    let fd = r.stack.socket(r.now, Domain::Inet).unwrap();
    assert_eq!(r.stack.connect(r.now, fd, r.remote), Err(Errno::EADDRNOTAVAIL));
    let _ = SeqNumber(0);
}

/// In TIME-WAIT, acceptable text is ignored (RFC 9293 3.10.7.4, seventh
/// step) and nothing is answered; a FIN at RCV.NXT (a second one) is taken
/// as the eighth step says (RCV.NXT advances over it, it is acknowledged)
/// and restarts the 2 MSL timer.
#[test]
fn time_wait_ignores_text_and_acknowledges_a_fin() {
    let mut r = Rig::new();
    r.drive_to(State::TimeWait);
    let end = r.stack.poll_timeout().unwrap();
    r.advance_ms(1000);
    let mut d = r.seg("P.", P + 1, r.iss + 2);
    d.payload = b"zz".to_vec();
    r.inject(d);
    r.expect_nothing();
    assert_eq!((r.conn_state(), r.rcv_nxt()), (State::TimeWait, P + 1));
    assert_eq!(r.stack.poll_timeout(), Some(end));
    r.inject(r.seg("F.", P + 1, r.iss + 2));
    r.expect(".", r.iss + 2, Some(P + 2));
    assert_eq!(r.stack.poll_timeout(), Some(end + Duration::from_millis(1000)));
}

/// Text refused for lack of window is an unacceptable segment, and an
/// unacceptable segment is answered with an ACK (RFC 9293 3.10.7.4 first
/// step; MUST-66 makes room for ACKs, URGs, RSTs, and here FINs, not text),
/// in TIME-WAIT as in ESTABLISHED. The window is shut in TIME-WAIT when the
/// peer filled the buffer before its FIN: text at RCV.NXT then gets the ACK
/// (window 0), where with an open window it is ignored without a word (the
/// test above).
#[test]
fn time_wait_acknowledges_text_refused_at_a_shut_window() {
    let mut p = Profile::rfc9293();
    p.window_scaling = false;
    let mut r = Rig::with_profile(p);
    let fd = r.active_open_with(&[SockOpt::RcvBuf(256)]);
    r.stack.shutdown(r.now, fd, Shutdown::Write).unwrap();
    r.expect("F.", r.iss + 1, Some(P));
    r.inject(r.seg(".", P, r.iss + 2));
    assert_eq!(r.conn_state(), State::FinWait2);
    let mut d = r.seg("P.", P, r.iss + 2);
    d.payload = vec![b'x'; 256];
    r.inject(d);
    r.advance_ms(500);
    assert_eq!(r.expect(".", r.iss + 2, Some(P + 256)).window, 0);
    // The FIN at RCV.NXT needs no room: taken at the shut window.
    r.inject(r.seg("F.", P + 256, r.iss + 2));
    assert_eq!(r.expect(".", r.iss + 2, Some(P + 257)).window, 0);
    assert_eq!(r.conn_state(), State::TimeWait);
    let end = r.stack.poll_timeout().unwrap();
    r.advance_ms(1000);
    let mut d = r.seg("P.", P + 257, r.iss + 2);
    d.payload = b"zz".to_vec();
    r.inject(d);
    assert_eq!(r.expect(".", r.iss + 2, Some(P + 257)).window, 0);
    r.expect_nothing();
    // Refused text does not restart the 2 MSL timer; nothing was taken.
    assert_eq!((r.conn_state(), r.rcv_nxt(), r.stack.poll_timeout()), (State::TimeWait, P + 257, Some(end)));
    r.check();
}

/// The same in CLOSING and LAST-ACK, the other states that come after the
/// peer's FIN: text refused at the shut window is answered with an ACK.
#[test]
fn closing_and_last_ack_acknowledge_text_refused_at_a_shut_window() {
    for want in [State::Closing, State::LastAck] {
        let mut p = Profile::rfc9293();
        p.window_scaling = false;
        let mut r = Rig::with_profile(p);
        let fd = r.active_open_with(&[SockOpt::RcvBuf(256)]);
        if want == State::Closing {
            // Our FIN goes out first and stays unacknowledged.
            r.stack.shutdown(r.now, fd, Shutdown::Write).unwrap();
            r.expect("F.", r.iss + 1, Some(P));
        }
        let mut d = r.seg("P.", P, r.iss + 1);
        d.payload = vec![b'x'; 256];
        r.inject(d);
        r.advance_ms(500);
        assert_eq!(r.expect(".", r.iss + 1 + u32::from(want == State::Closing), Some(P + 256)).window, 0);
        r.inject(r.seg("F.", P + 256, r.iss + 1));
        r.expect(".", r.iss + 1 + u32::from(want == State::Closing), Some(P + 257));
        if want == State::LastAck {
            r.stack.shutdown(r.now, fd, Shutdown::Write).unwrap();
            r.expect("F.", r.iss + 1, Some(P + 257));
        }
        assert_eq!(r.conn_state(), want);
        let mut d = r.seg("P.", P + 257, r.iss + 1);
        d.payload = b"zz".to_vec();
        r.inject(d);
        assert_eq!(r.expect(".", r.iss + 2, Some(P + 257)).window, 0, "{want:?}");
        r.expect_nothing();
        assert_eq!((r.conn_state(), r.rcv_nxt()), (want, P + 257));
        r.check();
    }
}
