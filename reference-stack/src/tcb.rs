//! The transmission control block: one connection's state machine.
//!
//! This is RFC 9293 section 3.10 event processing, as code. Every input takes
//! a [`Ctx`] holding `now`, the profile and the sinks for segments and events;
//! the TCB never does I/O. The stack ([`crate::Stack`]) owns TCBs, demultiplexes
//! segments to them and turns the segments they emit into IP datagrams.
//!
//! Where the RFC leaves a choice, or where a practical stack must go beyond its
//! words, the comment at that spot says so (look for "Choice:" and "Linux:").

use crate::assembler::Assembler;
use crate::errno::Errno;
use crate::event::{Call, Cause, DropReason, Event, EventKind, FourTuple, Notice, SegmentSummary, TimerKind};
use crate::profile::{GiveUp, Profile, ZeroWindowProbe};
use crate::seq::SeqNumber;
use crate::state::State;
use crate::time::{Duration, Instant};
use crate::wire::{SackBlocks, TcpFlags, TcpOption, TcpOptions, TcpRepr, MAX_SACK_BLOCKS, TCP_HEADER_LEN};
use std::collections::VecDeque;

/// RFC 7323 2.3: a shift above 14 is treated as 14.
const MAX_WINDOW_SHIFT: u8 = 14;

/// What every TCB input needs: the time, the profile, and where outputs go.
pub struct Ctx<'a> {
    pub now: Instant,
    pub profile: &'a Profile,
    pub out: &'a mut VecDeque<(FourTuple, TcpRepr)>,
    pub events: &'a mut Vec<Event>,
}

impl Ctx<'_> {
    fn notice(&mut self, conn: FourTuple, n: Notice) {
        self.events.push(Event { at: self.now, conn: Some(conn), kind: EventKind::Notice(n) });
    }

    fn drop_event(&mut self, conn: FourTuple, reason: DropReason, seg: &TcpRepr) {
        self.events.push(Event {
            at: self.now,
            conn: Some(conn),
            kind: EventKind::Dropped { reason, segment: Some(SegmentSummary::of(seg)) },
        });
    }
}

/// Socket options that the TCB reads (set through the stack's setsockopt).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SockOpts {
    /// TCP_NODELAY: disables Nagle (MUST-17).
    pub nodelay: bool,
    /// SO_KEEPALIVE (MUST-24; off by default, MUST-25).
    pub keepalive: bool,
    /// TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT; `None` = the profile's.
    pub keep_idle: Option<Duration>,
    pub keep_interval: Option<Duration>,
    pub keep_count: Option<u32>,
    /// TCP_MAXSEG: clamps the MSS we announce and use.
    pub max_seg: Option<u16>,
    /// SO_RCVBUF / SO_SNDBUF in bytes.
    pub rcv_buf: usize,
    pub snd_buf: usize,
    /// SO_LINGER: `Some(0)` makes close() an ABORT.
    pub linger: Option<Duration>,
    /// TCP_USER_TIMEOUT (MUST-21): `None` = off.
    pub user_timeout: Option<Duration>,
    /// SO_REUSEADDR.
    pub reuse_addr: bool,
    /// SO_REUSEPORT.
    pub reuse_port: bool,
}

impl SockOpts {
    pub fn from_profile(p: &Profile) -> Self {
        SockOpts {
            nodelay: false,
            keepalive: false,
            keep_idle: None,
            keep_interval: None,
            keep_count: None,
            max_seg: None,
            rcv_buf: p.rcv_buf,
            snd_buf: p.snd_buf,
            linger: None,
            user_timeout: None,
            reuse_addr: false,
            reuse_port: false,
        }
    }
}

/// A snapshot of a connection, the answer to STATUS (RFC 9293 3.10.6) and the
/// reference stack's analogue of Linux's TCP_INFO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcbStatus {
    /// This connection's identity in its stack (unique over the stack's life,
    /// unlike the 4-tuple, which a later incarnation may reuse).
    pub id: u64,
    pub state: State,
    pub tuple: FourTuple,
    pub iss: SeqNumber,
    pub irs: SeqNumber,
    pub snd_una: SeqNumber,
    pub snd_nxt: SeqNumber,
    pub snd_wnd: u32,
    pub max_snd_wnd: u32,
    pub rcv_nxt: SeqNumber,
    pub rcv_wnd: u32,
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    pub sack: bool,
    pub timestamps: bool,
    /// Effective send MSS (MUST-16), without per-segment options beyond timestamps.
    pub snd_mss: u32,
    pub rcv_mss: u32,
    pub cwnd: u32,
    pub ssthresh: u32,
    /// The RTO from the estimator, before backoff.
    pub rto: Duration,
    /// RFC 6298 5.5 doublings in force (the timer runs for rto << backoff,
    /// capped at the profile's maximum).
    pub backoff: u32,
    pub srtt: Option<Duration>,
    pub rttvar: Option<Duration>,
    pub retransmits: u32,
    pub total_retransmits: u64,
    pub unacked: u32,
    pub send_queued: usize,
    pub recv_queued: usize,
    pub ooo_bytes: usize,
    /// Octets of urgent data still ahead of the reader (MUST-32/33).
    pub urgent_pending: Option<u32>,
    pub timers: Timers,
}

/// The sequence variables of a connection: the part of its [`TcbStatus`]
/// that the oracles and the fuzzer read for every segment, taken without
/// building the whole status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnView {
    /// As [`TcbStatus::id`].
    pub id: u64,
    pub state: State,
    pub irs: SeqNumber,
    pub snd_una: SeqNumber,
    pub snd_nxt: SeqNumber,
    pub max_snd_wnd: u32,
    pub rcv_nxt: SeqNumber,
    pub rcv_wnd: u32,
    pub rcv_wscale: u8,
    /// Octets taken in sequence and not yet read (as [`TcbStatus::recv_queued`]).
    pub recv_queued: usize,
    /// Octets written and not yet acknowledged (as [`TcbStatus::send_queued`]).
    pub send_queued: usize,
}

impl From<&TcbStatus> for ConnView {
    fn from(s: &TcbStatus) -> ConnView {
        ConnView {
            id: s.id,
            state: s.state,
            irs: s.irs,
            snd_una: s.snd_una,
            snd_nxt: s.snd_nxt,
            max_snd_wnd: s.max_snd_wnd,
            rcv_nxt: s.rcv_nxt,
            rcv_wnd: s.rcv_wnd,
            rcv_wscale: s.rcv_wscale,
            recv_queued: s.recv_queued,
            send_queued: s.send_queued,
        }
    }
}

/// What the liveness oracles read of a connection at the end of every step
/// (see `oracle::liveness`): whether it owes the peer something, and the
/// intervals within which it must pay, as the connection itself sets them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveView {
    /// As [`TcbStatus::id`].
    pub id: u64,
    pub tuple: FourTuple,
    pub state: State,
    pub snd_una: SeqNumber,
    pub snd_nxt: SeqNumber,
    pub snd_wnd: u32,
    pub irs: SeqNumber,
    pub rcv_nxt: SeqNumber,
    /// Octets queued and never sent, and whether a FIN is queued and not sent.
    pub unsent: usize,
    pub fin_unsent: bool,
    /// The retransmission timeout with its backoff, capped (RFC 6298 5.5).
    pub rto: Duration,
    /// The persist interval with its backoff, capped (SHLD-30).
    pub persist: Duration,
    /// With SO_KEEPALIVE on: idle time, interval and count in force.
    pub keepalive: Option<(Duration, Duration, u32)>,
    /// When the last acceptable segment arrived (what keep-alive counts from).
    pub last_recv: Instant,
}

/// The timers running on a connection, in [`TimerKind::ALL`] order: a copy
/// of the TCB's own array, so taking a [`TcbStatus`] allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Timers([Option<Instant>; 7]);

impl Timers {
    /// Each running timer and its deadline.
    pub fn iter(&self) -> impl Iterator<Item = (TimerKind, Instant)> + '_ {
        TimerKind::ALL.iter().filter_map(|k| self.0[timer_index(*k)].map(|t| (*k, t)))
    }
}

/// Printed as the list of running timers, as before.
impl std::fmt::Debug for Timers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A violated invariant: what it is and the values that violate it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvariantViolation {
    pub conn: FourTuple,
    pub what: String,
}

impl core::fmt::Display for InvariantViolation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "[{}] invariant violated: {}", self.conn, self.what)
    }
}

#[derive(Clone, Debug)]
pub struct Tcb {
    pub tuple: FourTuple,
    state: State,
    /// MUST-11: SYN-RECEIVED remembers whether it came from LISTEN (passive)
    /// or from SYN-SENT (active, simultaneous open).
    passive: bool,
    opts: SockOpts,

    // Send sequence space (RFC 9293 3.3.1).
    iss: SeqNumber,
    snd_una: SeqNumber,
    /// SND.NXT: the highest sequence number sent so far, plus one.
    snd_nxt: SeqNumber,
    /// Retransmission pointer: after an RTO, segments are sent again from here
    /// up to SND.NXT (go-back-N), before any new data.
    rtx_nxt: Option<SeqNumber>,
    snd_wnd: u32,
    snd_wl1: SeqNumber,
    snd_wl2: SeqNumber,
    /// MAX.SND.WND of RFC 5961 5.2.
    max_snd_wnd: u32,
    /// SND.UP: sequence number of the first non-urgent octet (MUST-62).
    snd_up: Option<SeqNumber>,

    // Receive sequence space.
    irs: SeqNumber,
    rcv_nxt: SeqNumber,
    /// RCV.NXT + RCV.WND as last advertised: the right edge never moves left
    /// (RFC 9293 3.8.6, SHLD-14).
    rcv_adv: SeqNumber,
    rcv_up: Option<SeqNumber>,

    // Negotiated options.
    /// Shift applied to windows the peer sends us (its wscale).
    snd_wscale: u8,
    /// Shift we apply to windows we send (our wscale), and what we offered.
    rcv_wscale: u8,
    offered_wscale: Option<u8>,
    /// Both sides sent the window-scale option (RFC 7323 2.2).
    ws_in_use: bool,
    sack_ok: bool,
    ts_ok: bool,
    ts_recent: u32,
    /// When TS.Recent last changed (Linux's ts_recent_stamp: what
    /// tcp_tw_reuse times a TIME-WAIT by).
    ts_recent_at: Instant,
    /// An active open that took over a TIME-WAIT (tcp_tw_reuse): its SYN
    /// echoes the old TS.Recent, as Linux's does.
    syn_echoes_ts: bool,
    ts_offset: u32,
    last_ack_sent: SeqNumber,
    /// SendMSS (RFC 9293 3.7.1): the peer's MSS option or the default (MUST-15).
    peer_mss: u32,
    /// The MSS we announced (MUST-67).
    rcv_mss: u32,
    /// The window we put in our SYN (unscaled).
    syn_window: u16,
    /// Link MTU, for MMS_S (RFC 9293 3.7.1).
    mtu: usize,

    // Buffers.
    snd_buf: VecDeque<u8>,
    /// Sequence number of `snd_buf[0]`.
    snd_buf_seq: SeqNumber,
    /// CLOSE or shutdown(SHUT_WR) was called: a FIN follows the queued data.
    fin_queued: bool,
    rcv_buf: VecDeque<u8>,
    ooo: Assembler,
    /// A FIN seen beyond a hole, at this sequence number.
    ooo_fin: Option<SeqNumber>,
    /// RFC 2018 4: SACK blocks, most recently changed first.
    sack_recent: Vec<(SeqNumber, SeqNumber)>,

    // What the application did.
    /// close() was called: data arriving now is lost (SHLD-3).
    app_closed: bool,
    rd_shut: bool,
    wr_shut: bool,
    so_error: Option<Errno>,
    /// Reached a synchronized state at some point.
    was_connected: bool,

    // Timers and their bookkeeping.
    timers: [Option<Instant>; 7],
    /// The earliest of `timers`.
    deadline: Option<Instant>,
    rto: Duration,
    backoff: u32,
    srtt: Option<Duration>,
    rttvar: Duration,
    /// (sequence number that, once acked, completes the sample; when sent).
    rtt_probe: Option<(SeqNumber, Instant)>,
    syn_retransmitted: bool,
    retries: u32,
    total_retransmits: u64,
    /// (end sequence number, first sent) of each segment of new data in
    /// flight: when the oldest unacknowledged octet was first sent, for R2
    /// and TCP_USER_TIMEOUT.
    sent_times: VecDeque<(SeqNumber, Instant)>,
    /// When the SYN (or SYN,ACK) was first sent.
    syn_sent_at: Instant,
    /// When new data was last sent (RFC 5681 4.1 restart after idle).
    last_data_sent: Option<Instant>,
    /// An acceptable segment came after the last data segment was sent (in
    /// the order of events, which one instant of virtual time does not give):
    /// MUST-37, the peer answers the probes into its shut window.
    answered_since_data_sent: bool,
    persist_backoff: u32,
    keepalive_probes: u32,
    last_recv: Instant,

    // Congestion control (RFC 5681).
    cwnd: u32,
    ssthresh: u32,
    dup_acks: u32,
    /// RFC 6582: in fast recovery until SND.UNA passes `recover`.
    in_recovery: bool,
    recover: SeqNumber,
    /// Quick-ACK mode: ACK the next this-many data segments at once.
    quickacks_left: u32,

    // ACK generation (RFC 9293 3.8.6.3, RFC 1122 4.2.3.2).
    ack_now: bool,
    unacked_full_segments: u32,
}

/// The part of an arriving segment that lies inside the receive window.
struct Trimmed<'a> {
    /// Sequence number of `data[0]` (after any SYN).
    seq: SeqNumber,
    data: &'a [u8],
    fin: bool,
}

fn timer_index(k: TimerKind) -> usize {
    match k {
        TimerKind::Retransmission => 0,
        TimerKind::Persist => 1,
        TimerKind::DelayedAck => 2,
        TimerKind::KeepAlive => 3,
        TimerKind::TimeWait => 4,
        TimerKind::FinWait2 => 5,
        TimerKind::User => 6,
    }
}

impl Tcb {
    fn blank(ctx: &Ctx<'_>, tuple: FourTuple, iss: SeqNumber, ts_offset: u32, opts: SockOpts, state: State) -> Tcb {
        let p = ctx.profile;
        let rcv_mss = Self::mss_to_announce(p, &tuple, &opts);
        let shift = if p.window_scaling { Some(window_shift_for(opts.rcv_buf)) } else { None };
        Tcb {
            tuple,
            state,
            passive: false,
            iss,
            snd_una: iss,
            snd_nxt: iss + 1,
            rtx_nxt: None,
            snd_wnd: 0,
            snd_wl1: SeqNumber(0),
            snd_wl2: iss,
            max_snd_wnd: 0,
            snd_up: None,
            irs: SeqNumber(0),
            rcv_nxt: SeqNumber(0),
            rcv_adv: SeqNumber(0),
            rcv_up: None,
            snd_wscale: 0,
            rcv_wscale: 0,
            offered_wscale: shift,
            ws_in_use: false,
            sack_ok: false,
            ts_ok: false,
            ts_recent: 0,
            ts_recent_at: ctx.now,
            syn_echoes_ts: false,
            ts_offset,
            last_ack_sent: SeqNumber(0),
            peer_mss: default_send_mss(&tuple),
            rcv_mss,
            syn_window: opts.rcv_buf.min(65535) as u16,
            mtu: p.mtu,
            snd_buf: VecDeque::new(),
            snd_buf_seq: iss + 1,
            fin_queued: false,
            rcv_buf: VecDeque::new(),
            ooo: Assembler::new(),
            ooo_fin: None,
            sack_recent: Vec::new(),
            app_closed: false,
            rd_shut: false,
            wr_shut: false,
            so_error: None,
            was_connected: false,
            timers: [None; 7],
            deadline: None,
            rto: p.rto_initial,
            backoff: 0,
            srtt: None,
            rttvar: Duration::ZERO,
            rtt_probe: None,
            syn_retransmitted: false,
            retries: 0,
            total_retransmits: 0,
            sent_times: VecDeque::new(),
            syn_sent_at: ctx.now,
            last_data_sent: None,
            answered_since_data_sent: false,
            persist_backoff: 0,
            keepalive_probes: 0,
            last_recv: ctx.now,
            cwnd: 0,
            ssthresh: u32::MAX,
            dup_acks: 0,
            in_recovery: false,
            recover: iss,
            quickacks_left: 0,
            ack_now: false,
            unacked_full_segments: 0,
            opts,
        }
    }

    /// OPEN, active (RFC 9293 3.10.1): send <SEQ=ISS><CTL=SYN>, enter SYN-SENT.
    pub fn connect(ctx: &mut Ctx<'_>, tuple: FourTuple, iss: SeqNumber, ts_offset: u32, opts: SockOpts) -> Tcb {
        Tcb::connect_echoing(ctx, tuple, iss, ts_offset, opts, None)
    }

    /// An active open, echoing `ts_recent` in its SYN when it takes over a
    /// TIME-WAIT's 4-tuple (tcp_tw_reuse).
    pub fn connect_echoing(
        ctx: &mut Ctx<'_>,
        tuple: FourTuple,
        iss: SeqNumber,
        ts_offset: u32,
        opts: SockOpts,
        ts_recent: Option<u32>,
    ) -> Tcb {
        let mut t = Tcb::blank(ctx, tuple, iss, ts_offset, opts, State::Closed);
        if let Some(ts) = ts_recent {
            t.ts_recent = ts;
            t.syn_echoes_ts = true;
        }
        t.set_state(ctx, State::SynSent, Cause::Call(Call::Connect));
        t.send_syn(ctx);
        t.rtt_probe = Some((iss + 1, ctx.now));
        t.arm(TimerKind::Retransmission, ctx.now + t.rto);
        t
    }

    /// SEGMENT ARRIVES in LISTEN with a SYN (RFC 9293 3.10.7.2, third step):
    /// a new TCB in SYN-RECEIVED that has sent <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
    /// The caller has already dealt with RST and ACK (first and second steps).
    pub fn accept_syn(
        ctx: &mut Ctx<'_>,
        tuple: FourTuple,
        iss: SeqNumber,
        ts_offset: u32,
        opts: SockOpts,
        syn: &TcpRepr,
    ) -> Tcb {
        let mut t = Tcb::blank(ctx, tuple, iss, ts_offset, opts, State::Listen);
        t.passive = true;
        t.irs = syn.seq;
        t.rcv_nxt = syn.seq + 1;
        t.negotiate(ctx.profile, syn);
        t.rcv_adv = t.rcv_nxt + u32::from(t.syn_window);
        // SND.WND from a SYN is never scaled (RFC 7323 2.2).
        t.snd_wnd = u32::from(syn.window);
        t.max_snd_wnd = t.snd_wnd;
        t.snd_wl1 = syn.seq;
        t.snd_wl2 = iss;
        t.last_recv = ctx.now;
        t.set_state(ctx, State::SynReceived, Cause::Segment(SegmentSummary::of(syn)));
        // "any other control or text should be queued for processing later".
        t.queue_syn_text(ctx, syn);
        t.send_syn(ctx);
        t.rtt_probe = Some((iss + 1, ctx.now));
        t.arm(TimerKind::Retransmission, ctx.now + t.rto);
        t
    }

    // ------------------------------------------------------------------
    // Accessors
    // ------------------------------------------------------------------

    pub fn state(&self) -> State {
        self.state
    }
    /// The TCB can be deleted: it is CLOSED, or a passive SYN-RECEIVED went
    /// back to LISTEN (the listener lives on; this child does not).
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Closed | State::Listen)
    }
    pub fn opts(&self) -> &SockOpts {
        &self.opts
    }
    pub fn opts_mut(&mut self) -> &mut SockOpts {
        &mut self.opts
    }
    pub fn pending_error(&self) -> Option<Errno> {
        self.so_error
    }
    pub fn take_error(&mut self) -> Option<Errno> {
        self.so_error.take()
    }
    pub fn recv_queued(&self) -> usize {
        self.rcv_buf.len()
    }
    pub fn send_space(&self) -> usize {
        self.opts.snd_buf.saturating_sub(self.snd_buf.len())
    }
    /// MAY-2 / RFC 6191: may this SYN reopen the connection in TIME-WAIT?
    /// With timestamps in use, its TSval must be newer than TS.Recent;
    /// otherwise its sequence number must be above RCV.NXT.
    pub fn syn_may_reopen(&self, seg: &TcpRepr) -> bool {
        let f = seg.flags;
        if self.state != State::TimeWait || !f.syn() || f.ack() || f.rst() || f.fin() {
            return false;
        }
        match (self.ts_ok, seg.timestamps()) {
            (true, Some((tsval, _))) => (tsval.wrapping_sub(self.ts_recent) as i32) > 0,
            _ => seg.seq > self.rcv_nxt,
        }
    }

    /// In TIME-WAIT with timestamps: SND.NXT, TS.Recent and when it last
    /// changed (what an outgoing connection taking the 4-tuple over needs).
    pub fn time_wait_timestamps(&self) -> Option<(SeqNumber, u32, Instant)> {
        (self.state == State::TimeWait && self.ts_ok).then_some((self.snd_nxt, self.ts_recent, self.ts_recent_at))
    }

    /// Ends TIME-WAIT because a SYN reopens the connection.
    pub fn reopen_from_time_wait(&mut self, ctx: &mut Ctx<'_>, seg: &TcpRepr) {
        ctx.notice(self.tuple, Notice::TimeWaitReopened);
        self.set_state(ctx, State::Closed, Cause::Segment(SegmentSummary::of(seg)));
    }

    pub fn snd_nxt(&self) -> SeqNumber {
        self.snd_nxt
    }

    /// Segments sent again (RTO retransmissions, SYN and FIN included).
    pub fn retransmitted_segments(&self) -> u64 {
        self.total_retransmits
    }
    pub fn read_shut(&self) -> bool {
        self.rd_shut
    }
    /// shutdown(SHUT_WR) or CLOSE was called: nothing more may be sent.
    pub fn write_shut(&self) -> bool {
        self.wr_shut // (FIN is only ever queued after it is set)
    }
    pub fn fin_received(&self) -> bool {
        matches!(self.state, State::CloseWait | State::Closing | State::LastAck | State::TimeWait)
    }
    pub fn urgent_pending(&self) -> Option<u32> {
        let up = self.rcv_up?;
        let read_to = self.rcv_nxt - self.rcv_buf.len() as u32;
        (up > read_to).then(|| up.wrapping_since(read_to))
    }

    /// The earliest running timer (kept as timers are armed and disarmed:
    /// the stack asks on every call).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The sequence variables (`id` left 0 for the stack to fill in).
    pub fn view(&self) -> ConnView {
        ConnView {
            id: 0,
            state: self.state,
            irs: self.irs,
            snd_una: self.snd_una,
            snd_nxt: self.snd_nxt,
            max_snd_wnd: self.max_snd_wnd,
            rcv_nxt: self.rcv_nxt,
            rcv_wnd: self.rcv_wnd(),
            rcv_wscale: self.rcv_wscale,
            recv_queued: self.rcv_buf.len(),
            send_queued: self.snd_buf.len(),
        }
    }

    /// The [`LiveView`] (`id` left 0 for the stack to fill in).
    pub fn live_view(&self, p: &Profile) -> LiveView {
        let sent_of_buf = (self.snd_nxt.wrapping_since(self.snd_buf_seq) as usize).min(self.snd_buf.len());
        let data_end = self.snd_buf_seq + self.snd_buf.len() as u32;
        LiveView {
            id: 0,
            tuple: self.tuple,
            state: self.state,
            snd_una: self.snd_una,
            snd_nxt: self.snd_nxt,
            snd_wnd: self.snd_wnd,
            irs: self.irs,
            rcv_nxt: self.rcv_nxt,
            unsent: self.snd_buf.len() - sent_of_buf, // (SND.NXT never falls below snd_buf_seq)
            fin_unsent: self.fin_queued && self.snd_nxt <= data_end,
            rto: self.current_rto(p),
            persist: self.rto.saturating_mul(1u64 << self.persist_backoff.min(30)).min(p.rto_max),
            keepalive: self.opts.keepalive.then(|| {
                (
                    self.opts.keep_idle.unwrap_or(p.keepalive_idle),
                    self.opts.keep_interval.unwrap_or(p.keepalive_interval),
                    self.opts.keep_count.unwrap_or(p.keepalive_count),
                )
            }),
            last_recv: self.last_recv,
        }
    }

    pub fn status(&self) -> TcbStatus {
        TcbStatus {
            id: 0,
            state: self.state,
            tuple: self.tuple,
            iss: self.iss,
            irs: self.irs,
            snd_una: self.snd_una,
            snd_nxt: self.snd_nxt,
            snd_wnd: self.snd_wnd,
            max_snd_wnd: self.max_snd_wnd,
            rcv_nxt: self.rcv_nxt,
            rcv_wnd: self.rcv_wnd(),
            snd_wscale: self.snd_wscale,
            rcv_wscale: self.rcv_wscale,
            sack: self.sack_ok,
            timestamps: self.ts_ok,
            snd_mss: self.eff_snd_mss(),
            rcv_mss: self.rcv_mss,
            cwnd: self.cwnd,
            ssthresh: self.ssthresh,
            rto: self.current_rto_base(),
            backoff: self.backoff,
            srtt: self.srtt,
            rttvar: self.srtt.map(|_| self.rttvar),
            retransmits: self.retries,
            total_retransmits: self.total_retransmits,
            unacked: self.snd_nxt.wrapping_since(self.snd_una),
            send_queued: self.snd_buf.len(),
            recv_queued: self.rcv_buf.len(),
            ooo_bytes: self.ooo.held(),
            urgent_pending: self.urgent_pending(),
            timers: Timers(self.timers),
        }
    }

    // ------------------------------------------------------------------
    // State, timers, small helpers
    // ------------------------------------------------------------------

    fn set_state(&mut self, ctx: &mut Ctx<'_>, to: State, cause: Cause) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        ctx.events.push(Event { at: ctx.now, conn: Some(self.tuple), kind: EventKind::Transition { from, to, cause } });
        if to.is_synchronized() {
            self.was_connected = true;
        }
        match to {
            State::TimeWait => {
                // RFC 9293 3.10.7.4 eighth step: "start the time-wait timer,
                // turn off the other timers".
                self.timers = [None; 7];
                self.deadline = None;
                self.arm(TimerKind::TimeWait, ctx.now + ctx.profile.time_wait);
                self.rtx_nxt = None;
            }
            State::Closed | State::Listen => {
                self.timers = [None; 7];
                self.deadline = None;
                self.rtx_nxt = None;
                self.snd_buf.clear();
                self.ooo.clear();
                self.fin_queued = false;
                self.snd_una = self.snd_nxt;
                self.snd_buf_seq = self.snd_nxt;
            }
            State::FinWait2 => {
                if let (true, Some(d)) = (self.app_closed, ctx.profile.fin_wait_2_timeout) {
                    self.arm(TimerKind::FinWait2, ctx.now + d);
                }
            }
            _ => {}
        }
    }

    /// Enters CLOSED and tells the user `err` (if any) through SO_ERROR.
    fn close_with(&mut self, ctx: &mut Ctx<'_>, err: Option<Errno>, cause: Cause) {
        if let Some(e) = err {
            self.so_error = Some(e);
        }
        self.set_state(ctx, State::Closed, cause);
    }

    fn arm(&mut self, k: TimerKind, at: Instant) {
        if self.timers[timer_index(k)].replace(at).is_some() {
            // Re-armed: it may have been the earliest.
            self.deadline = self.timers.iter().flatten().copied().min();
        } else {
            self.deadline = Some(self.deadline.map_or(at, |d| d.min(at)));
        }
    }
    fn disarm(&mut self, k: TimerKind) {
        if self.timers[timer_index(k)].take().is_some() {
            self.deadline = self.timers.iter().flatten().copied().min();
        }
    }
    fn armed(&self, k: TimerKind) -> bool {
        self.timers[timer_index(k)].is_some()
    }

    fn rcv_wnd(&self) -> u32 {
        if self.rcv_adv > self.rcv_nxt {
            self.rcv_adv.wrapping_since(self.rcv_nxt)
        } else {
            0
        }
    }

    /// The RTO with backoff applied, capped at the profile's maximum (RFC 6298 5.5).
    fn current_rto(&self, p: &Profile) -> Duration {
        self.rto.saturating_mul(1u64 << self.backoff.min(30)).min(p.rto_max)
    }
    fn current_rto_base(&self) -> Duration {
        self.rto
    }

    fn ts_now(&self, ctx: &Ctx<'_>) -> u32 {
        let ticks = ctx.now.total_micros() / ctx.profile.ts_tick.total_micros().max(1);
        (ticks as u32).wrapping_add(self.ts_offset)
    }

    fn mss_to_announce(p: &Profile, tuple: &FourTuple, opts: &SockOpts) -> u32 {
        // MUST-67: based on MMS_R, the largest transport message IP can reassemble
        // on this path: the MTU less the IP and TCP fixed headers.
        let ip = if tuple.local.is_ipv6() { 40 } else { 20 };
        let mss = p.mtu.saturating_sub(ip + TCP_HEADER_LEN) as u32;
        let mss = match opts.max_seg {
            Some(m) => mss.min(u32::from(m)),
            None => mss,
        };
        mss.clamp(64, 65535)
    }

    /// MUST-16 / RFC 9293 3.7.1: Eff.snd.MSS = min(SendMSS+20, MMS_S) - TCPhdrsize - IPoptionsize,
    /// here with the options every data segment carries (timestamps).
    fn eff_snd_mss(&self) -> u32 {
        let ip = if self.tuple.local.is_ipv6() { 40 } else { 20 };
        let mms_s = (self.mtu as u32).saturating_sub(ip);
        let hdr = TCP_HEADER_LEN as u32 + if self.ts_ok { 12 } else { 0 };
        let mut mss = (self.peer_mss + TCP_HEADER_LEN as u32).min(mms_s).saturating_sub(hdr);
        if let Some(m) = self.opts.max_seg {
            mss = mss.min(u32::from(m));
        }
        mss.max(1)
    }

    /// Options carried by a SYN or SYN-ACK. The layout is Linux's, so a diff
    /// against the kernel shows only real differences: `mss, sackOK, TS, nop, wscale`.
    fn syn_options(&self, ctx: &Ctx<'_>, synack: bool) -> TcpOptions {
        let p = ctx.profile;
        let mut o = TcpOptions::from([TcpOption::Mss(self.rcv_mss.min(65535) as u16)]);
        let (sack, ts, ws) = if synack {
            (self.sack_ok, self.ts_ok, self.ws_in_use.then_some(self.rcv_wscale))
        } else {
            (p.sack, p.timestamps, self.offered_wscale)
        };
        let tsopt = ts.then(|| TcpOption::Timestamps {
            tsval: self.ts_now(ctx),
            tsecr: if synack || self.syn_echoes_ts { self.ts_recent } else { 0 },
        });
        match (sack, tsopt) {
            (true, Some(t)) => o.extend([TcpOption::SackPermitted, t]),
            (false, Some(t)) => o.extend([TcpOption::Nop, TcpOption::Nop, t]),
            (true, None) => o.extend([TcpOption::Nop, TcpOption::Nop, TcpOption::SackPermitted]),
            (false, None) => {}
        }
        if let Some(s) = ws {
            o.extend([TcpOption::Nop, TcpOption::WindowScale(s)]);
        }
        o
    }

    // ------------------------------------------------------------------
    // Building and sending segments
    // ------------------------------------------------------------------

    /// The window to advertise, with receiver silly-window avoidance
    /// (RFC 9293 3.8.6.2.2, MUST-39): the right edge moves only by at least
    /// min(RCV.BUFF/2, Eff.snd.MSS), and never moves left (SHLD-14).
    fn advertise_window(&mut self) -> u16 {
        let cap = self.opts.rcv_buf.max(1);
        let free = cap.saturating_sub(self.rcv_buf.len()) as u64;
        let max_wnd = 65535u64 << self.rcv_wscale;
        let unit = 1u64 << self.rcv_wscale;
        let cand = (free.min(max_wnd) / unit) * unit;
        let cur = u64::from(self.rcv_wnd());
        // RFC 9293 3.8.6.2.2: min(Fr * RCV.BUFF, Eff.snd.MSS) with Fr = 1/2.
        let threshold = ((cap / 2) as u64).min(u64::from(self.eff_snd_mss())).max(1);
        // A closed window stays closed until it can open by the threshold too
        // (it used to reopen to any free space, 100 octets say: silly).
        let grow = cand > cur && cand - cur >= threshold;
        // (planted-window-shrink: follows the free space down, as a buggy stack would.)
        let wnd = if grow || cfg!(feature = "planted-window-shrink") { cand } else { cur };
        // Rounded down: the edge may move left by under 2^shift (RFC 7323 2.4, App. F). Rounding up moved it right at every
        // advertisement with no buffer behind it (small segments kept the window open: regressions/scaled-window-closes).
        let value = (wnd / unit).min(65535);
        let edge = self.rcv_nxt + (value * unit).min(u64::from(u32::MAX / 2)) as u32;
        if edge > self.rcv_adv || cfg!(feature = "planted-window-shrink") {
            self.rcv_adv = edge;
        }
        value as u16
    }

    /// Forms a segment from this connection with the current ACK, window and
    /// options (timestamps on every non-RST segment once negotiated, RFC 7323
    /// 3.2; SACK blocks while data is held out of order, RFC 2018 4).
    fn make_segment(&mut self, ctx: &Ctx<'_>, flags: TcpFlags, seq: SeqNumber, payload: Vec<u8>) -> TcpRepr {
        let mut seg = TcpRepr {
            src_port: self.tuple.local.port(),
            dst_port: self.tuple.remote.port(),
            seq,
            flags,
            ..TcpRepr::default()
        };
        if flags.ack() {
            seg.ack = self.rcv_nxt;
            self.last_ack_sent = self.rcv_nxt;
            self.ack_now = false;
            self.unacked_full_segments = 0;
            self.disarm(TimerKind::DelayedAck);
        }
        if !flags.rst() {
            seg.window = self.advertise_window();
            if self.ts_ok {
                seg.options.extend([
                    TcpOption::Nop,
                    TcpOption::Nop,
                    TcpOption::Timestamps { tsval: self.ts_now(ctx), tsecr: self.ts_recent },
                ]);
            }
            if self.sack_ok && flags.ack() && !self.ooo.is_empty() {
                let room = if self.ts_ok { 3 } else { MAX_SACK_BLOCKS };
                let recent = &self.sack_recent[..self.sack_recent.len().min(room)];
                if let Some(blocks) = SackBlocks::new(recent).filter(|b| !b.is_empty()) {
                    seg.options.extend([TcpOption::Nop, TcpOption::Nop, TcpOption::Sack(blocks)]);
                }
            }
        }
        if let Some(up) = self.snd_up {
            if up > seq && !payload.is_empty() {
                // RFC 9293 3.8.5 / MUST-62: the pointer is the offset of the
                // first non-urgent octet from SEG.SEQ.
                seg.flags |= TcpFlags::URG;
                seg.urgent = up.wrapping_since(seq).min(65535) as u16;
            }
        }
        seg.payload = payload;
        seg
    }

    fn emit(&mut self, ctx: &mut Ctx<'_>, seg: TcpRepr) {
        ctx.out.push_back((self.tuple, seg));
    }

    fn send_ack(&mut self, ctx: &mut Ctx<'_>) {
        let seg = self.make_segment(ctx, TcpFlags::ACK, self.snd_nxt, Vec::new());
        self.emit(ctx, seg);
    }

    /// <SEQ=seq><CTL=RST>.
    fn send_rst(&mut self, ctx: &mut Ctx<'_>, seq: SeqNumber) {
        let seg = self.make_segment(ctx, TcpFlags::RST, seq, Vec::new());
        self.emit(ctx, seg);
    }

    /// <SEQ=ISS><CTL=SYN> in SYN-SENT, <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> once
    /// the peer's SYN is known.
    fn send_syn(&mut self, ctx: &mut Ctx<'_>) {
        let synack = self.state != State::SynSent;
        let flags = if synack { TcpFlags::SYN | TcpFlags::ACK } else { TcpFlags::SYN };
        let options = self.syn_options(ctx, synack);
        let mut seg = TcpRepr {
            src_port: self.tuple.local.port(),
            dst_port: self.tuple.remote.port(),
            seq: self.iss,
            flags,
            // The window in a SYN is never scaled (RFC 7323 2.2).
            window: self.syn_window,
            options,
            ..TcpRepr::default()
        };
        if synack {
            seg.ack = self.rcv_nxt;
            self.last_ack_sent = self.rcv_nxt;
            self.ack_now = false;
        }
        self.emit(ctx, seg);
    }

    /// Applies the peer's SYN options (RFC 9293 3.7.1, RFC 7323, RFC 2018).
    fn negotiate(&mut self, p: &Profile, syn: &TcpRepr) {
        // MUST-15: without an MSS option, 536 (IPv4) or 1220 (IPv6).
        self.peer_mss = syn.mss().map_or(default_send_mss(&self.tuple), u32::from).max(1);
        if let (Some(ours), Some(theirs)) = (self.offered_wscale, syn.window_scale()) {
            self.ws_in_use = true;
            self.rcv_wscale = ours;
            // RFC 7323 2.3: a shift above 14 is used as 14.
            self.snd_wscale = theirs.min(MAX_WINDOW_SHIFT);
        } else {
            self.ws_in_use = false;
            self.rcv_wscale = 0;
            self.snd_wscale = 0;
        }
        self.sack_ok = p.sack && syn.sack_permitted();
        if let (true, Some((tsval, _))) = (p.timestamps, syn.timestamps()) {
            self.ts_ok = true;
            self.ts_recent = tsval;
            self.ts_recent_at = self.last_recv.max(self.ts_recent_at);
        }
    }

    /// Text and FIN that came with a SYN are "queued for processing" once the
    /// connection is ESTABLISHED (RFC 9293 3.10.7.2, 3.10.7.3). They wait in the
    /// reassembly queue at RCV.NXT, so the first in-order step delivers them.
    fn queue_syn_text(&mut self, ctx: &mut Ctx<'_>, syn: &TcpRepr) {
        let room = self.rcv_wnd() as usize;
        let data = &syn.payload[..syn.payload.len().min(room)];
        if !data.is_empty() {
            let _ = self.ooo.insert(self.rcv_nxt, self.rcv_nxt, data, ctx.profile.max_ooo_blocks);
        }
        if syn.flags.fin() && data.len() == syn.payload.len() {
            self.ooo_fin = Some(self.rcv_nxt + data.len() as u32);
        }
    }

    // ------------------------------------------------------------------
    // SEGMENT ARRIVES (RFC 9293 3.10.7.3 and 3.10.7.4)
    // ------------------------------------------------------------------

    /// A segment for this connection. LISTEN and CLOSED are the stack's.
    pub fn on_segment(&mut self, ctx: &mut Ctx<'_>, seg: &TcpRepr) {
        match self.state {
            State::Closed | State::Listen => {}
            State::SynSent => self.on_segment_syn_sent(ctx, seg),
            _ => self.on_segment_other(ctx, seg),
        }
        if !self.is_finished() {
            self.output(ctx);
        }
    }

    fn on_segment_syn_sent(&mut self, ctx: &mut Ctx<'_>, seg: &TcpRepr) {
        let cause = Cause::Segment(SegmentSummary::of(seg));
        let f = seg.flags;
        // First, check the ACK bit.
        if f.ack() && (seg.ack <= self.iss || seg.ack > self.snd_nxt) {
            if !f.rst() {
                self.send_rst(ctx, seg.ack);
            }
            ctx.drop_event(self.tuple, DropReason::Unacceptable, seg);
            return;
        }
        let ack_ok = f.ack() && self.snd_una < seg.ack && seg.ack <= self.snd_nxt;
        // Second, check the RST bit.
        if f.rst() {
            if ack_ok {
                self.close_with(ctx, Some(Errno::ECONNREFUSED), cause);
            } else {
                ctx.drop_event(self.tuple, DropReason::Ignored, seg);
            }
            return;
        }
        // Fourth, check the SYN bit.
        if !f.syn() {
            ctx.drop_event(self.tuple, DropReason::Ignored, seg);
            return;
        }
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq + 1;
        self.rcv_adv = self.rcv_nxt + u32::from(self.syn_window);
        self.negotiate(ctx.profile, seg);
        self.last_recv = ctx.now;
        if f.ack() {
            self.ack_advances(ctx, seg.ack);
        }
        // SND.WND from a SYN is not scaled (RFC 7323 2.2).
        self.snd_wnd = u32::from(seg.window);
        self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
        self.snd_wl1 = seg.seq;
        self.snd_wl2 = seg.ack;
        if self.snd_una > self.iss {
            self.set_state(ctx, State::Established, cause);
            self.on_established(ctx, cause);
            self.ack_now = true;
            // "continue processing at the sixth step ... where the URG bit is checked".
            if !seg.payload.is_empty() || f.fin() || f.urg() {
                let trimmed = self.trim(seg);
                self.process_urg(seg);
                self.process_text_and_fin(ctx, seg, trimmed);
            }
        } else {
            // Simultaneous open (RFC 9293 3.5 Figure 7, MUST-10).
            self.passive = false;
            self.set_state(ctx, State::SynReceived, cause);
            self.queue_syn_text(ctx, seg);
            self.send_syn(ctx);
            self.backoff = 0;
            self.arm(TimerKind::Retransmission, ctx.now + self.current_rto(ctx.profile));
        }
    }

    /// The segment trimmed to the receive window (RFC 9293 3.10.7.4, first step:
    /// "trimming off any portions that lie outside the window (including SYN and FIN)"):
    /// its right edge here; its left edge (octets, and a FIN, below RCV.NXT) in
    /// [`Tcb::process_text_and_fin`], which must do it anyway (RCV.NXT may move
    /// in between, when entering ESTABLISHED releases text queued with the SYN).
    fn trim<'s>(&self, seg: &'s TcpRepr) -> Trimmed<'s> {
        let seq = seg.seq + u32::from(seg.flags.syn());
        let mut data: &[u8] = &seg.payload;
        let mut fin = seg.flags.fin();
        let wnd_end = self.rcv_nxt + self.rcv_wnd();
        if seq + data.len() as u32 > wnd_end {
            let keep = if wnd_end > seq { wnd_end.wrapping_since(seq) as usize } else { 0 };
            data = &data[..keep.min(data.len())];
            fin = false;
        }
        Trimmed { seq, data, fin }
    }

    fn on_segment_other(&mut self, ctx: &mut Ctx<'_>, seg: &TcpRepr) {
        let p = ctx.profile;
        let f = seg.flags;
        let cause = Cause::Segment(SegmentSummary::of(seg));
        // RFC 7323 3.2: once negotiated, a non-RST segment without TSopt SHOULD be dropped.
        if self.ts_ok && p.drop_segments_without_ts && !f.rst() && seg.timestamps().is_none() {
            ctx.drop_event(self.tuple, DropReason::MissingTimestamp, seg);
            return;
        }
        // Simultaneous open, Figure 7 line 5: in an active SYN-RECEIVED the peer's
        // SYN,ACK repeats the SYN we already took; the idealized segment is what
        // follows it. (Linux special-cases the same segment.)
        let sim_open_synack =
            self.state == State::SynReceived && !self.passive && f.syn() && f.ack() && seg.seq == self.irs;
        // RFC 7323 5.3 R1, PAWS: before the sequence check. RSTs are exempt.
        if let (true, Some((tsval, _))) = (self.ts_ok, seg.timestamps()) {
            if !f.rst() && (tsval.wrapping_sub(self.ts_recent) as i32) < 0 {
                self.send_ack(ctx);
                ctx.drop_event(self.tuple, DropReason::Paws, seg);
                return;
            }
        }

        // First, check the sequence number (Table 6).
        let seg_len = seg.seg_len();
        let rcv_wnd = self.rcv_wnd();
        let (seq0, len0) = if sim_open_synack { (seg.seq + 1, seg_len - 1) } else { (seg.seq, seg_len) };
        let acceptable = match (len0, rcv_wnd) {
            (0, 0) => seq0 == self.rcv_nxt,
            (0, _) => seq0.in_range(self.rcv_nxt, self.rcv_nxt + rcv_wnd),
            (_, 0) => false,
            (_, _) => {
                seq0.in_range(self.rcv_nxt, self.rcv_nxt + rcv_wnd)
                    || (seq0 + len0 - 1).in_range(self.rcv_nxt, self.rcv_nxt + rcv_wnd)
            }
        };
        // "If the RCV.WND is zero, no segments will be acceptable, but special
        // allowance should be made to accept valid ACKs, URGs, and RSTs" (MUST-66).
        // Choice: a FIN at RCV.NXT is let through as well, since it needs no
        // buffer space (Linux does the same).
        let zero_window_allowance = !acceptable && rcv_wnd == 0 && seq0 == self.rcv_nxt;
        if !acceptable && !zero_window_allowance {
            if p.synack_on_duplicate_syn
                && self.state == State::SynReceived
                && f.syn()
                && !f.ack()
                && seg.seq == self.irs
            {
                // Linux: a retransmitted SYN gets the SYN,ACK again.
                self.send_syn(ctx);
                ctx.drop_event(self.tuple, DropReason::Unacceptable, seg);
                return;
            }
            if !f.rst() {
                // A retransmitted FIN in TIME-WAIT is old by now; it still restarts
                // the 2 MSL timer (RFC 9293 3.10.7.4 fifth and eighth steps, MUST-13).
                if self.state == State::TimeWait && f.fin() && seg.seq + seg_len == self.rcv_nxt {
                    self.arm(TimerKind::TimeWait, ctx.now + p.time_wait);
                }
                self.send_ack(ctx);
            }
            ctx.drop_event(self.tuple, DropReason::Unacceptable, seg);
            return;
        }
        self.last_recv = ctx.now;
        self.answered_since_data_sent = true;
        // (planted-keepalive-count: an answer does not reset the probe count.)
        if !cfg!(feature = "planted-keepalive-count") {
            self.keepalive_probes = 0;
        }
        // (planted-time-wait-restart: any acceptable segment restarts TIME-WAIT.)
        if cfg!(feature = "planted-time-wait-restart") && self.state == State::TimeWait {
            self.arm(TimerKind::TimeWait, ctx.now + p.time_wait);
        }
        self.rearm_keepalive(ctx);
        // RFC 7323 4.3: TS.Recent <- SEG.TSval if SEG.SEQ =< Last.ACK.sent.
        if let (true, Some((tsval, _))) = (self.ts_ok, seg.timestamps()) {
            if seg.seq <= self.last_ack_sent && (tsval.wrapping_sub(self.ts_recent) as i32) >= 0 {
                self.ts_recent = tsval;
                self.ts_recent_at = ctx.now;
            }
        }
        let trimmed = if zero_window_allowance {
            Trimmed { seq: self.rcv_nxt, data: &[], fin: f.fin() && seg.payload.is_empty() }
        } else {
            self.trim(seg)
        };

        // Second, check the RST bit.
        if f.rst() {
            if p.rfc5961 && seg.seq != self.rcv_nxt && !cfg!(feature = "planted-rst-any-in-window") {
                // RFC 5961 3.2 case 3: in window but not exact: challenge ACK.
                self.send_ack(ctx);
                ctx.drop_event(self.tuple, DropReason::RstChallenged, seg);
                return;
            }
            match self.state {
                State::SynReceived if self.passive => {
                    // "return this connection to LISTEN state ... The user need not be informed."
                    self.set_state(ctx, State::Listen, cause);
                }
                State::SynReceived => self.close_with(ctx, Some(Errno::ECONNREFUSED), cause),
                State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait => {
                    self.rcv_buf.clear();
                    self.close_with(ctx, Some(Errno::ECONNRESET), cause)
                }
                State::TimeWait if p.rfc1337 => {
                    // RFC 1337: ignore RST in TIME-WAIT (TIME-WAIT assassination hazard).
                    ctx.drop_event(self.tuple, DropReason::Ignored, seg);
                }
                _ => self.close_with(ctx, None, cause),
            }
            return;
        }

        // Fourth, check the SYN bit.
        if f.syn() && !sim_open_synack {
            if self.state == State::SynReceived && self.passive {
                self.set_state(ctx, State::Listen, cause);
                return;
            }
            if p.rfc5961 {
                // RFC 5961 4.2: challenge ACK, whatever the sequence number.
                self.send_ack(ctx);
                ctx.drop_event(self.tuple, DropReason::SynChallenged, seg);
            } else {
                // RFC 793: a SYN in the window is an error: reset.
                self.send_rst(ctx, self.snd_nxt);
                self.close_with(ctx, Some(Errno::ECONNRESET), cause);
            }
            return;
        }

        // Fifth, check the ACK field.
        if !f.ack() {
            ctx.drop_event(self.tuple, DropReason::Ignored, seg);
            return;
        }
        if self.state == State::SynReceived {
            if self.snd_una < seg.ack && seg.ack <= self.snd_nxt {
                self.set_state(ctx, State::Established, cause);
                self.snd_wnd = u32::from(seg.window) << self.snd_wscale;
                self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
                self.snd_wl1 = seg.seq;
                self.snd_wl2 = seg.ack;
                self.on_established(ctx, cause);
            } else {
                self.send_rst(ctx, seg.ack);
                ctx.drop_event(self.tuple, DropReason::Unacceptable, seg);
                return;
            }
        }
        // RFC 5961 5.2: acceptable only if SND.UNA - MAX.SND.WND =< SEG.ACK =< SND.NXT.
        let too_old = p.rfc5961 && seg.ack < self.snd_una - self.max_snd_wnd;
        if (seg.ack > self.snd_nxt && !cfg!(feature = "planted-ack-unsent")) || too_old {
            self.send_ack(ctx);
            ctx.drop_event(self.tuple, DropReason::AckOutOfRange, seg);
            return;
        }
        if self.snd_una < seg.ack {
            // Our SYN acknowledged after a CLOSE in SYN-RECEIVED: the connection
            // never passes through ESTABLISHED, so what came with the peer's
            // SYN is released here.
            if self.ack_advances(ctx, seg.ack) {
                self.release_syn_queue(ctx, cause);
            }
        } else if seg.ack == self.snd_una
            && seg.payload.is_empty()
            && !f.fin()
            && self.snd_nxt > self.snd_una
            && u32::from(seg.window) << self.snd_wscale == self.snd_wnd
            // A closed window is the persist timer's business, not loss.
            && self.snd_wnd > 0
        {
            self.on_duplicate_ack(ctx);
        }
        // (planted-rto-restart-on-dupack: a duplicate ACK restarts the retransmission timer.)
        if cfg!(feature = "planted-rto-restart-on-dupack")
            && seg.ack == self.snd_una
            && self.armed(TimerKind::Retransmission)
        {
            self.arm(TimerKind::Retransmission, ctx.now + self.current_rto(p));
        }
        // Window update (SND.WL1/SND.WL2 rule).
        if self.snd_una <= seg.ack && seg.ack <= self.snd_nxt {
            if self.snd_wl1 < seg.seq || (self.snd_wl1 == seg.seq && self.snd_wl2 <= seg.ack) {
                self.update_send_window(ctx, seg);
            } else if u32::from(seg.window) << self.snd_wscale != self.snd_wnd {
                ctx.notice(self.tuple, Notice::WindowKept);
            }
        }
        // Data refused for lack of window is an unacceptable segment (MUST-66
        // makes room for its ACK and FIN only): say where we are, in every
        // state, whatever the steps below do with the rest of it.
        if zero_window_allowance && !seg.payload.is_empty() {
            self.ack_now = true;
        }
        match self.state {
            State::FinWait1 if self.our_fin_acked() || cfg!(feature = "planted-fin-wait-1-skip") => {
                self.set_state(ctx, State::FinWait2, cause);
            }
            State::Closing => {
                if self.our_fin_acked() {
                    self.set_state(ctx, State::TimeWait, cause);
                }
                return;
            }
            State::LastAck => {
                if self.our_fin_acked() {
                    self.set_state(ctx, State::Closed, cause);
                }
                return;
            }
            _ => {}
        }

        // Sixth, check the URG bit; seventh, the text; eighth, the FIN. In
        // CLOSE-WAIT and TIME-WAIT the text is ignored, and only a FIN at
        // RCV.NXT (a second one) counts: the eighth step ACKs it, and in
        // TIME-WAIT restarts the 2 MSL timer.
        self.process_urg(seg);
        self.process_text_and_fin(ctx, seg, trimmed);
    }

    fn process_urg(&mut self, seg: &TcpRepr) {
        if seg.flags.urg() && matches!(self.state, State::Established | State::FinWait1 | State::FinWait2) {
            // RCV.UP <- max(RCV.UP, SEG.UP), as a sequence number (MUST-62).
            let up = seg.seq + u32::from(seg.urgent);
            self.rcv_up = Some(match self.rcv_up {
                Some(old) => old.max(up),
                None => up,
            });
        }
    }

    fn process_text_and_fin(&mut self, ctx: &mut Ctx<'_>, seg: &TcpRepr, mut t: Trimmed<'_>) {
        let cause = Cause::Segment(SegmentSummary::of(seg));
        // Entering ESTABLISHED may have delivered text queued with the SYN and
        // moved RCV.NXT past the start of this segment: only new octets count.
        if t.seq < self.rcv_nxt {
            let skip = (self.rcv_nxt.wrapping_since(t.seq) as usize).min(t.data.len());
            t.data = &t.data[skip..];
            t.seq += skip as u32;
            if t.seq < self.rcv_nxt {
                t.fin = false;
            }
        }
        let receiving = matches!(self.state, State::Established | State::FinWait1 | State::FinWait2);
        if receiving && !t.data.is_empty() {
            if self.app_closed {
                // RFC 9293 3.6.1 / SHLD-3: new data after CLOSE is lost: send RST.
                self.send_rst(ctx, self.snd_nxt);
                self.close_with(ctx, None, cause);
                return;
            }
            if t.seq == self.rcv_nxt {
                let had_holes = !self.ooo.is_empty();
                self.rcv_buf.extend(t.data);
                self.rcv_nxt += t.data.len() as u32;
                self.deliver_queued();
                if self.ooo_fin == Some(self.rcv_nxt) {
                    // A FIN held beyond the gap is now in sequence.
                    self.process_fin(ctx, cause);
                    return;
                }
                // RFC 5681 4.2: a segment that fills a gap is ACKed at once;
                // otherwise every second full-sized segment (SHLD-19), else delay.
                if had_holes || self.quickacks_left > 0 {
                    self.quickacks_left = self.quickacks_left.saturating_sub(1);
                    self.ack_now = true;
                } else {
                    if t.data.len() as u32 >= self.rcv_mss.min(self.eff_snd_mss()) {
                        self.unacked_full_segments += 1;
                    }
                    if self.unacked_full_segments >= 2 {
                        self.ack_now = true;
                    } else if !self.armed(TimerKind::DelayedAck) || cfg!(feature = "planted-delack-restart") {
                        // (planted-delack-restart: every segment pushes the delayed ACK back.)
                        self.arm(TimerKind::DelayedAck, ctx.now + ctx.profile.delayed_ack);
                    }
                }
            } else {
                // SHLD-31: hold it; RFC 5681 4.2: immediate duplicate ACK.
                match self.ooo.insert(self.rcv_nxt, t.seq, t.data, ctx.profile.max_ooo_blocks) {
                    Ok(block) => {
                        self.sack_recent.retain(|b| b.1 < block.0 || b.0 > block.1);
                        self.sack_recent.insert(0, block);
                        self.sack_recent.truncate(MAX_SACK_BLOCKS);
                    }
                    Err(_) => ctx.drop_event(self.tuple, DropReason::ReassemblyFull, seg),
                }
                self.ack_now = true;
            }
        }
        if !t.fin {
            return;
        }
        // Eighth, check the FIN bit.
        let fin_seq = t.seq + t.data.len() as u32;
        if fin_seq != self.rcv_nxt {
            if receiving && fin_seq > self.rcv_nxt {
                self.ooo_fin = Some(fin_seq);
                self.ooo.truncate_at(fin_seq);
                // Out of order like held text (MAY-13, RFC 5681 4.2): a
                // duplicate ACK at once, a bare FIN included.
                self.ack_now = true;
            }
            return;
        }
        self.process_fin(ctx, cause);
    }

    /// Moves held segments that now continue RCV.NXT into the receive buffer.
    fn deliver_queued(&mut self) {
        while let Some(bytes) = self.ooo.pop_contiguous(self.rcv_nxt) {
            self.rcv_buf.extend(&bytes);
            self.rcv_nxt += bytes.len() as u32;
        }
        let nxt = self.rcv_nxt;
        self.sack_recent.retain(|b| b.0 > nxt);
    }

    /// The eighth step, once the FIN is in sequence.
    fn process_fin(&mut self, ctx: &mut Ctx<'_>, cause: Cause) {
        self.ooo_fin = None;
        self.ooo.clear();
        self.sack_recent.clear();
        self.rcv_nxt += 1;
        self.ack_now = true;
        match self.state {
            State::SynReceived | State::Established => self.set_state(ctx, State::CloseWait, cause),
            State::FinWait1 => {
                if self.our_fin_acked() {
                    self.set_state(ctx, State::TimeWait, cause);
                } else {
                    self.set_state(ctx, State::Closing, cause);
                }
            }
            State::FinWait2 => self.set_state(ctx, State::TimeWait, cause),
            State::TimeWait => self.arm(TimerKind::TimeWait, ctx.now + ctx.profile.time_wait),
            _ => {}
        }
    }

    /// Work done on entering ESTABLISHED from either side of the handshake.
    fn on_established(&mut self, ctx: &mut Ctx<'_>, cause: Cause) {
        let p = ctx.profile;
        self.retries = 0;
        self.backoff = 0;
        // RFC 6298 5.7: RTO of 3 s once data starts if the SYN was retransmitted
        // (and no sample has been taken).
        if self.syn_retransmitted && self.srtt.is_none() {
            self.rto = self.rto.max(p.rto_after_syn_retransmit);
        }
        let smss = self.eff_snd_mss();
        self.cwnd = p.initial_window.bytes(smss);
        self.ssthresh = u32::MAX;
        self.quickacks_left = p.quickacks;
        if self.snd_una == self.snd_nxt {
            self.disarm(TimerKind::Retransmission);
        }
        // Text and FIN queued with the SYN are processed now: a FIN's
        // transition names the segment that completed the handshake.
        self.release_syn_queue(ctx, cause);
        // A CLOSE queued in SYN-RECEIVED takes effect now (RFC 9293 3.10.4):
        // FIN-WAIT-1, or LAST-ACK if a FIN that came with the SYN was just taken.
        match (self.fin_queued, self.state) {
            (true, State::Established) => self.set_state(ctx, State::FinWait1, Cause::Call(Call::Close)),
            (true, State::CloseWait) => self.set_state(ctx, State::LastAck, Cause::Call(Call::Close)),
            _ => {}
        }
        self.rearm_keepalive(ctx);
    }

    fn our_fin_acked(&self) -> bool {
        // Our FIN occupies the sequence number right after the queued data.
        self.fin_queued && self.snd_una == self.snd_buf_seq + self.snd_buf.len() as u32 + 1
    }

    /// SND.UNA advances to `ack` (SND.UNA < ack =< SND.NXT).
    /// Returns whether this ACK is the first to cover our SYN while the
    /// connection is already closing (a CLOSE in SYN-RECEIVED).
    fn ack_advances(&mut self, ctx: &mut Ctx<'_>, ack: SeqNumber) -> bool {
        let p = ctx.profile;
        let syn_acked_now = self.snd_una == self.iss && ack > self.iss;
        let acked = ack.wrapping_since(self.snd_una);
        // Drop acknowledged octets from the send buffer (the SYN and FIN hold no octets).
        if ack > self.snd_buf_seq {
            let n = (ack.wrapping_since(self.snd_buf_seq) as usize).min(self.snd_buf.len());
            self.snd_buf.drain(..n);
            self.snd_buf_seq += n as u32;
        }
        self.snd_una = ack;
        while self.sent_times.front().is_some_and(|(end, _)| *end <= ack) {
            self.sent_times.pop_front();
        }
        if let Some(up) = self.snd_up {
            if up <= ack {
                self.snd_up = None;
            }
        }
        if let Some(r) = self.rtx_nxt {
            if r < ack {
                self.rtx_nxt = Some(ack);
            }
            if self.rtx_nxt >= Some(self.snd_nxt) {
                self.rtx_nxt = None;
            }
        }
        // RTT sample (RFC 6298 2), never from a retransmitted segment (Karn, MUST-18).
        if let Some((probe, sent)) = self.rtt_probe {
            if probe <= ack {
                self.rtt_sample(p, ctx.now - sent);
                self.rtt_probe = None;
            }
        }
        self.retries = 0;
        self.dup_acks = 0;
        if self.state.is_synchronized() {
            let smss = self.eff_snd_mss();
            if self.in_recovery {
                if ack >= self.recover {
                    // RFC 6582 3.2 step 3, full ACK: deflate to
                    // min(ssthresh, max(FlightSize, SMSS) + SMSS) and leave recovery.
                    let flight = self.snd_nxt.wrapping_since(self.snd_una);
                    self.cwnd = self.ssthresh.min(flight.max(smss) + smss);
                    self.in_recovery = false;
                } else {
                    // Step 3, partial ACK: retransmit the first unacknowledged
                    // segment, deflate by the amount acked, add back one SMSS.
                    self.retransmit_head(ctx);
                    self.cwnd = self.cwnd.saturating_sub(acked);
                    if acked >= smss {
                        self.cwnd += smss;
                    }
                }
            } else if self.cwnd < self.ssthresh {
                // RFC 5681 3.1 slow start: cwnd += min(N, SMSS).
                self.cwnd = self.cwnd.saturating_add(acked.min(smss));
            } else {
                // Congestion avoidance: about one SMSS per RTT.
                self.cwnd = self.cwnd.saturating_add((smss * smss / self.cwnd.max(1)).max(1));
            }
        }
        // RFC 6298 5.2 / 5.3: stop the timer when all is acked, else restart it.
        if self.snd_una == self.snd_nxt {
            self.disarm(TimerKind::Retransmission);
        } else if !self.armed(TimerKind::Persist) {
            self.arm(TimerKind::Retransmission, ctx.now + self.current_rto(p));
        }
        // Text that came with the peer's SYN waits until our SYN is acknowledged.
        // From SYN-RECEIVED that is on_established; after a CLOSE in SYN-RECEIVED
        // (FIN-WAIT-1) the caller releases it (release_syn_queue).
        syn_acked_now
            && matches!(
                self.state,
                State::FinWait1 | State::FinWait2 | State::Closing | State::LastAck | State::CloseWait
            )
    }

    /// Text and a FIN that came with the peer's SYN (RFC 9293 3.10.7.2,
    /// 3.10.7.3: "queue them for processing after the ESTABLISHED state has
    /// been reached"), released once our SYN is acknowledged.
    fn release_syn_queue(&mut self, ctx: &mut Ctx<'_>, cause: Cause) {
        if self.ooo.blocks().first().is_some_and(|b| b.start == self.rcv_nxt) {
            self.deliver_queued();
            self.ack_now = true;
        }
        if self.ooo_fin == Some(self.rcv_nxt) {
            self.process_fin(ctx, cause);
        }
    }

    /// A duplicate ACK (RFC 5681 2): fast retransmit on the `dupthresh`-th
    /// (3.2), window inflation after it (NewReno, RFC 6582).
    fn on_duplicate_ack(&mut self, ctx: &mut Ctx<'_>) {
        let p = ctx.profile;
        self.dup_acks += 1;
        let smss = self.eff_snd_mss();
        if self.in_recovery {
            // RFC 6582 3.2 step 4: inflate by one SMSS per further duplicate.
            self.cwnd = self.cwnd.saturating_add(smss);
        } else if self.dup_acks == p.dupthresh && self.snd_una.diff(self.recover) >= 0 {
            // RFC 6582 3.2 step 1/2: only if the ACK covers more than `recover`
            // (avoids multiple fast retransmits for one window).
            ctx.notice(self.tuple, Notice::FastRetransmit { dup_acks: self.dup_acks });
            let flight = self.snd_nxt.wrapping_since(self.snd_una);
            self.ssthresh = (flight / 2).max(2 * smss);
            self.recover = self.snd_nxt;
            self.in_recovery = true;
            self.retransmit_head(ctx);
            self.cwnd = self.ssthresh + 3 * smss;
        }
    }

    /// Sends the first unacknowledged segment again (fast retransmit, partial
    /// ACK): octets already sent only. What lies beyond SND.NXT (held by
    /// Nagle or by the window) is new data, for [`Tcb::output`] to send by
    /// its own rules.
    fn retransmit_head(&mut self, ctx: &mut Ctx<'_>) {
        let data_end = self.snd_buf_seq + self.snd_buf.len() as u32;
        let offset = self.snd_una.wrapping_since(self.snd_buf_seq) as usize;
        if self.snd_una < self.snd_buf_seq {
            return;
        }
        let sent_end = if self.snd_nxt < data_end { self.snd_nxt } else { data_end };
        let sent = sent_end.wrapping_since(self.snd_una) as usize;
        let len = sent.min(self.snd_buf.len().saturating_sub(offset)).min(self.eff_snd_mss() as usize);
        let fin = self.fin_queued && self.snd_una + len as u32 == data_end && self.snd_nxt > data_end;
        if len == 0 && !fin {
            return;
        }
        // Karn: no RTT sample from anything outstanding now.
        self.rtt_probe = None;
        let start = self.snd_una;
        self.build_and_send(ctx, start, len, fin);
        self.total_retransmits += 1;
        self.arm(TimerKind::Retransmission, ctx.now + self.current_rto(ctx.profile));
    }

    fn update_send_window(&mut self, ctx: &mut Ctx<'_>, seg: &TcpRepr) {
        let was_closed = self.snd_wnd == 0;
        self.snd_wnd = u32::from(seg.window) << self.snd_wscale;
        self.max_snd_wnd = self.max_snd_wnd.max(self.snd_wnd);
        self.snd_wl1 = seg.seq;
        self.snd_wl2 = seg.ack;
        // (planted-persist-restart: every zero-window ACK restarts the persist timer.)
        if cfg!(feature = "planted-persist-restart") && self.snd_wnd == 0 && self.armed(TimerKind::Persist) {
            let d = self.rto.saturating_mul(1u64 << self.persist_backoff.min(30)).min(ctx.profile.rto_max);
            self.arm(TimerKind::Persist, ctx.now + d);
        }
        // The window opened: the zero-window probes are over. (With the
        // window already open the timer is the SWS override's: a window
        // update leaves it running, or a peer repeating its small window
        // would hold the data back for ever.)
        if was_closed && self.snd_wnd > 0 && self.armed(TimerKind::Persist) {
            self.disarm(TimerKind::Persist);
            self.persist_backoff = 0;
            if self.snd_nxt > self.snd_una {
                // What is outstanding now are probe octets the closed window
                // dropped: send them again at once, with what follows.
                self.rtx_nxt = Some(self.snd_una);
                self.arm(TimerKind::Retransmission, ctx.now + self.current_rto(ctx.profile));
            }
        }
    }

    /// RFC 6298 2.2 and 2.3 (K = 4, alpha = 1/8, beta = 1/4), clamped by 2.4 and 2.5.
    fn rtt_sample(&mut self, p: &Profile, r: Duration) {
        let r = r.total_micros();
        match self.srtt {
            None => {
                self.srtt = Some(Duration::from_micros(r));
                self.rttvar = Duration::from_micros(r / 2);
            }
            Some(srtt) => {
                let s = srtt.total_micros();
                let var = self.rttvar.total_micros();
                self.rttvar = Duration::from_micros((3 * var + s.abs_diff(r)) / 4);
                self.srtt = Some(Duration::from_micros((7 * s + r) / 8));
            }
        }
        // RTO = SRTT + max(G, K*RTTVAR); G is the profile's floor (the virtual
        // clock's 1 µs under rfc9293, rto_min under Linux).
        let srtt = self.srtt.unwrap_or_default();
        let rto = srtt + self.rttvar.saturating_mul(4).max(p.rttvar_floor);
        self.rto = rto.max(p.rto_min).min(p.rto_max);
        self.backoff = 0;
    }

    // ------------------------------------------------------------------
    // Output
    // ------------------------------------------------------------------

    /// Sends what may be sent now: retransmissions after an RTO, new data
    /// within the send and congestion windows (Nagle, SHLD-7; sender SWS
    /// avoidance, MUST-38), the FIN, and any owed ACK.
    pub fn output(&mut self, ctx: &mut Ctx<'_>) {
        let can_send_data = matches!(
            self.state,
            State::Established | State::CloseWait | State::FinWait1 | State::Closing | State::LastAck
        );
        // A FIN from a CLOSE in SYN-RECEIVED waits for the handshake to finish.
        let syn_unacked = self.snd_una == self.iss;
        if can_send_data && !syn_unacked {
            // Bounded, so a bug cannot hang the caller.
            for _ in 0..100_000 {
                if !self.send_one(ctx) {
                    break;
                }
            }
        }
        if self.ack_now && !matches!(self.state, State::Closed | State::Listen | State::SynSent) {
            self.send_ack(ctx);
        }
    }

    /// Sends one data/FIN segment if allowed; false when nothing more goes out now.
    fn send_one(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let retransmitting = self.rtx_nxt.is_some();
        let start = self.rtx_nxt.unwrap_or(self.snd_nxt);
        let data_end = self.snd_buf_seq + self.snd_buf.len() as u32;
        let offset = start.wrapping_since(self.snd_buf_seq) as usize;
        if start < self.snd_buf_seq || offset > self.snd_buf.len() {
            // Only the FIN (already sent) lies beyond here. (A FIN resent
            // from `data_end` has offset == len and is handled below.)
            return false;
        }
        let avail = self.snd_buf.len() - offset;
        let fin_pending = self.fin_queued && (retransmitting || self.snd_nxt <= data_end);
        if avail == 0 && !fin_pending {
            return false;
        }
        // A retransmission from SND.UNA into a closed window goes anyway:
        // it is the window's probe ("retransmit ... even if the send window
        // is zero", RFC 9293 3.8.6.1), as Linux's RTO does.
        let probe = retransmitting && start == self.snd_una && self.snd_wnd == 0;
        let wnd_end = self.snd_una + if probe { self.eff_snd_mss() } else { self.snd_wnd };
        let cwnd_end = self.snd_una + self.cwnd.max(self.eff_snd_mss());
        let limit_end = if wnd_end < cwnd_end { wnd_end } else { cwnd_end };
        let room = if limit_end > start { limit_end.wrapping_since(start) as usize } else { 0 };
        let mss = self.eff_snd_mss() as usize;
        let len = avail.min(mss).min(room);
        // The FIN rides on the segment that empties the buffer, if the window
        // has room for it too (the FIN occupies one sequence number).
        let fin = fin_pending && len == avail && room > len;
        if len == 0 && !fin {
            self.maybe_arm_persist(ctx, avail);
            return false;
        }
        if !retransmitting && len < mss && !fin {
            let nothing_in_flight = self.snd_una == self.snd_nxt;
            let all_queued = len == avail;
            // Nagle (RFC 9293 3.7.4): a short segment only when nothing is
            // unacknowledged or TCP_NODELAY (MUST-17). Sender SWS (3.8.6.2.1):
            // a short segment only if it empties the queue or is at least half
            // the largest window the peer offered.
            let sws_ok = all_queued || len as u32 >= self.max_snd_wnd / 2;
            let nagle_ok = self.opts.nodelay || nothing_in_flight;
            if !(sws_ok && nagle_ok) {
                if nothing_in_flight {
                    // The SWS override timeout: the persist timer sends it later.
                    self.maybe_arm_persist(ctx, avail);
                }
                return false;
            }
        }
        self.send_segment(ctx, start, len, fin)
    }

    /// Builds the segment [start, start+len) (+FIN) from the send buffer and
    /// emits it: the one place data and FINs go on the wire, so the one
    /// place SND.NXT moves (past octets never sent before, when a segment
    /// sent again carries some: the queue grew behind a zero-window probe's
    /// octet, say; else the peer's ACK of them would be refused as an ACK of
    /// data not yet sent).
    fn build_and_send(&mut self, ctx: &mut Ctx<'_>, start: SeqNumber, len: usize, fin: bool) {
        let offset = start.wrapping_since(self.snd_buf_seq) as usize;
        let payload = copy_out(&self.snd_buf, offset, len);
        let mut flags = TcpFlags::ACK;
        // MUST-61: PSH on the last segment of what the application handed over.
        if len > 0 && offset + len == self.snd_buf.len() {
            flags |= TcpFlags::PSH;
        }
        if fin {
            flags |= TcpFlags::FIN;
        }
        let seg = self.make_segment(ctx, flags, start, payload);
        self.emit(ctx, seg);
        let end = start + len as u32 + u32::from(fin);
        if end > self.snd_nxt {
            self.sent_times.push_back((end, ctx.now));
            self.snd_nxt = end;
        }
    }

    fn send_segment(&mut self, ctx: &mut Ctx<'_>, start: SeqNumber, len: usize, fin: bool) -> bool {
        let p = ctx.profile;
        let end = start + len as u32 + u32::from(fin);
        if self.rtx_nxt.is_none() && end > self.snd_nxt {
            // RFC 5681 4.1: restart after idle: nothing sent for more than an RTO.
            let idle =
                self.snd_una == self.snd_nxt && self.last_data_sent.is_some_and(|t| ctx.now - t > self.current_rto(p));
            if p.slow_start_after_idle && idle {
                self.cwnd = self.cwnd.min(p.initial_window.bytes(self.eff_snd_mss()));
            }
        }
        self.build_and_send(ctx, start, len, fin);
        self.last_data_sent = Some(ctx.now);
        self.answered_since_data_sent = false;
        match self.rtx_nxt {
            Some(_) => {
                self.total_retransmits += 1;
                self.rtx_nxt = if end >= self.snd_nxt { None } else { Some(end) };
            }
            None => {
                if self.rtt_probe.is_none() {
                    self.rtt_probe = Some((end, ctx.now));
                }
            }
        }
        // Data sent into an open window ends a pending SWS override.
        if self.snd_wnd > 0 && self.armed(TimerKind::Persist) {
            self.disarm(TimerKind::Persist);
            self.persist_backoff = 0;
        }
        if !self.armed(TimerKind::Retransmission) && !self.armed(TimerKind::Persist) {
            self.arm(TimerKind::Retransmission, ctx.now + self.current_rto(p));
        }
        true
    }

    /// RFC 9293 3.8.6.1: with data waiting, a closed window and nothing in
    /// flight, probe after one RTO (SHLD-29), backing off (SHLD-30).
    /// A FIN waiting behind a closed window counts as data waiting: it
    /// takes a sequence number, and without a probe it would wait forever
    /// for a window update that may have been lost.
    fn maybe_arm_persist(&mut self, ctx: &mut Ctx<'_>, avail: usize) {
        let waiting = avail > 0 || self.fin_unsent();
        if waiting && self.snd_una == self.snd_nxt && !self.armed(TimerKind::Persist) {
            let d = self.rto.saturating_mul(1u64 << self.persist_backoff.min(30)).min(ctx.profile.rto_max);
            self.arm(TimerKind::Persist, ctx.now + d);
            self.disarm(TimerKind::Retransmission);
        }
    }

    /// A FIN queued and not sent yet.
    fn fin_unsent(&self) -> bool {
        self.fin_queued && self.snd_nxt <= self.snd_buf_seq + self.snd_buf.len() as u32
    }

    fn rearm_keepalive(&mut self, ctx: &Ctx<'_>) {
        if self.opts.keepalive && self.state.is_synchronized() && self.state != State::TimeWait {
            // Probes under way wait out their interval for an answer: a
            // socket option set meanwhile does not cut that wait short (it
            // used to: the timer came due at once and gave up).
            if self.keepalive_probes > 0 && self.armed(TimerKind::KeepAlive) {
                return;
            }
            let idle = self.opts.keep_idle.unwrap_or(ctx.profile.keepalive_idle);
            self.arm(TimerKind::KeepAlive, self.last_recv + idle);
        } else {
            self.disarm(TimerKind::KeepAlive);
        }
    }

    // ------------------------------------------------------------------
    // Timeouts (RFC 9293 3.10.8)
    // ------------------------------------------------------------------

    /// Fires every timer due at or before `ctx.now`.
    pub fn on_timers(&mut self, ctx: &mut Ctx<'_>) {
        for k in TimerKind::ALL {
            let due = self.timers[timer_index(k)].is_some_and(|t| t <= ctx.now);
            if due && !self.is_finished() {
                self.disarm(k);
                self.on_timer(ctx, k);
            }
        }
        if !self.is_finished() {
            self.output(ctx);
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_>, k: TimerKind) {
        let p = ctx.profile;
        let cause = Cause::Timer(k);
        match k {
            TimerKind::TimeWait | TimerKind::FinWait2 => self.set_state(ctx, State::Closed, cause),
            TimerKind::DelayedAck => self.ack_now = true,
            TimerKind::User => self.close_with(ctx, Some(Errno::ETIMEDOUT), cause),
            TimerKind::Retransmission => self.on_rto(ctx),
            TimerKind::Persist => {
                if self.snd_wnd == 0 {
                    match p.zero_window_probe {
                        // One octet (MUST-36): the first unsent octet, or the one
                        // already beyond the window again.
                        ZeroWindowProbe::NewOctet if self.snd_nxt == self.snd_una => {
                            if !self.snd_buf.is_empty() {
                                self.send_segment(ctx, self.snd_nxt, 1, false);
                                self.disarm(TimerKind::Retransmission);
                            } else if self.fin_unsent() {
                                // Only a FIN waits: it is the probe.
                                self.send_segment(ctx, self.snd_nxt, 0, true);
                                self.disarm(TimerKind::Retransmission);
                            }
                        }
                        ZeroWindowProbe::NewOctet => {
                            let octet: Vec<u8> = self.snd_buf.front().copied().into_iter().collect();
                            let flags = if octet.is_empty() && self.fin_queued {
                                TcpFlags::ACK | TcpFlags::FIN
                            } else {
                                TcpFlags::ACK
                            };
                            let seg = self.make_segment(ctx, flags, self.snd_una, octet);
                            self.emit(ctx, seg);
                        }
                        // <SEQ=SND.UNA-1>, no data: old, so the peer must ACK it.
                        ZeroWindowProbe::OldSequence => {
                            let seg = self.make_segment(ctx, TcpFlags::ACK, self.snd_una - 1, Vec::new());
                            self.emit(ctx, seg);
                        }
                    }
                    // MUST-37: the window may stay closed indefinitely: no give-up.
                    self.persist_backoff += 1;
                    let d = self.rto.saturating_mul(1u64 << self.persist_backoff.min(30)).min(p.rto_max);
                    self.arm(TimerKind::Persist, ctx.now + d);
                } else {
                    // SWS override: send what the window allows.
                    self.persist_backoff = 0;
                    let avail = self.snd_buf.len()
                        - (self.snd_nxt.wrapping_since(self.snd_buf_seq) as usize).min(self.snd_buf.len());
                    let room = self.snd_wnd.saturating_sub(self.snd_nxt.wrapping_since(self.snd_una)) as usize;
                    let len = avail.min(room).min(self.eff_snd_mss() as usize);
                    if len > 0 {
                        self.send_segment(ctx, self.snd_nxt, len, false);
                    }
                }
            }
            TimerKind::KeepAlive => {
                if !self.opts.keepalive || !self.state.is_synchronized() {
                    return;
                }
                let idle = self.opts.keep_idle.unwrap_or(p.keepalive_idle);
                let interval = self.opts.keep_interval.unwrap_or(p.keepalive_interval);
                let count = self.opts.keep_count.unwrap_or(p.keepalive_count);
                // MUST-26: only when idle; outstanding data has its own timers.
                if self.snd_nxt != self.snd_una || ctx.now < self.last_recv + idle {
                    self.arm(TimerKind::KeepAlive, (self.last_recv + idle).max(ctx.now + interval));
                    return;
                }
                if self.keepalive_probes >= count {
                    self.close_with(ctx, Some(Errno::ETIMEDOUT), cause);
                    return;
                }
                // SHLD-12: <SEQ=SND.NXT-1> with no data.
                let seg = self.make_segment(ctx, TcpFlags::ACK, self.snd_nxt - 1, Vec::new());
                self.emit(ctx, seg);
                self.keepalive_probes += 1;
                self.arm(TimerKind::KeepAlive, ctx.now + interval);
            }
        }
    }

    fn on_rto(&mut self, ctx: &mut Ctx<'_>) {
        let p = ctx.profile;
        let cause = Cause::Timer(TimerKind::Retransmission);
        if self.snd_una == self.snd_nxt {
            return;
        }
        let syn_phase = self.snd_una == self.iss;
        // RFC 9293 3.8.6.1: with the window closed on data in flight, the
        // retransmissions are the zero-window probes, and MUST-37: the
        // connection is not given up while the peer answers them.
        let probe_answered = !syn_phase && self.snd_wnd == 0 && self.answered_since_data_sent;
        let first_sent = if syn_phase { self.syn_sent_at } else { self.sent_times.front().map_or(ctx.now, |x| x.1) };
        let elapsed = ctx.now - first_sent;
        // TCP_USER_TIMEOUT (MUST-21) replaces R2 when set.
        let give_up = match (self.opts.user_timeout, self.state) {
            (Some(ut), _) => elapsed >= ut,
            _ if probe_answered => false,
            (None, State::SynSent) => self.retries >= p.syn_retries,
            (None, State::SynReceived) => self.retries >= p.synack_retries,
            (None, _) => match p.data_give_up {
                GiveUp::Retries(n) => self.retries >= n,
                GiveUp::LinuxModel { retries } => elapsed >= GiveUp::linux_boundary(retries, p.rto_min, p.rto_max),
            },
        };
        if give_up {
            // R2 reached (MUST-20); for SYNs, MUST-22/23. A passive half-open
            // connection goes away silently.
            let err = if self.state == State::SynReceived && self.passive { None } else { Some(Errno::ETIMEDOUT) };
            self.close_with(ctx, err, cause);
            return;
        }
        self.retries += 1;
        if self.retries == p.r1_retries && !syn_phase {
            ctx.notice(self.tuple, Notice::R1Reached { retransmissions: self.retries });
        }
        // RFC 6298 5.5 backoff, except the first `syn_linear_timeouts` SYN
        // retransmissions (Linux).
        let linear = self.state == State::SynSent && self.retries <= p.syn_linear_timeouts;
        if !linear {
            self.backoff += 1;
        }
        // Karn (MUST-18): no RTT sample from anything sent before this point.
        self.rtt_probe = None;
        if syn_phase {
            // The SYN (or SYN,ACK) itself.
            self.syn_retransmitted = true;
            self.total_retransmits += 1;
            self.send_syn(ctx);
        } else {
            // RFC 5681 3.1: ssthresh = max(FlightSize/2, 2*SMSS); cwnd = LW = 1 SMSS.
            let smss = self.eff_snd_mss();
            let flight = self.snd_nxt.wrapping_since(self.snd_una);
            if !self.in_recovery {
                self.ssthresh = (flight / 2).max(2 * smss);
            }
            self.cwnd = smss;
            // RFC 6582 4: after an RTO, recover = the highest sequence number sent.
            self.in_recovery = false;
            self.recover = self.snd_nxt;
            self.dup_acks = 0;
            // Go back to SND.UNA; send_segment counts each retransmitted segment.
            self.rtx_nxt = Some(self.snd_una);
            self.send_one(ctx);
        }
        self.arm(TimerKind::Retransmission, ctx.now + self.current_rto(p));
    }

    // ------------------------------------------------------------------
    // User calls (RFC 9293 3.10.2 to 3.10.5)
    // ------------------------------------------------------------------

    /// SEND. Returns how many octets were queued.
    pub fn send(&mut self, ctx: &mut Ctx<'_>, data: &[u8], urgent: bool) -> Result<usize, Errno> {
        if let Some(e) = self.so_error.take() {
            return Err(e);
        }
        if self.wr_shut {
            return Err(Errno::EPIPE);
        }
        match self.state {
            State::SynSent | State::SynReceived | State::Established | State::CloseWait => {}
            State::Closed if !self.was_connected => return Err(Errno::ENOTCONN),
            // "error: connection closing".
            _ => return Err(Errno::EPIPE),
        }
        let n = data.len().min(self.send_space());
        if n == 0 {
            return if data.is_empty() { Ok(0) } else { Err(Errno::EAGAIN) };
        }
        self.snd_buf.extend(&data[..n]);
        if urgent {
            // "SND.UP <- SND.NXT": here, the octet after the urgent data (MUST-62).
            self.snd_up = Some(self.snd_buf_seq + self.snd_buf.len() as u32);
        }
        self.output(ctx);
        Ok(n)
    }

    /// RECEIVE. An empty result is end of stream.
    pub fn recv(&mut self, ctx: &mut Ctx<'_>, max: usize, peek: bool) -> Result<Vec<u8>, Errno> {
        if !self.rcv_buf.is_empty() && !self.rd_shut {
            let n = max.min(self.rcv_buf.len());
            let out = copy_out(&self.rcv_buf, 0, n);
            if !peek {
                self.rcv_buf.drain(..n);
                self.maybe_window_update(ctx);
            }
            return Ok(out);
        }
        if let Some(e) = self.so_error.take() {
            return Err(e);
        }
        if self.rd_shut {
            return Ok(Vec::new());
        }
        match self.state {
            State::SynSent | State::SynReceived | State::Established | State::FinWait1 | State::FinWait2 => {
                Err(Errno::EAGAIN)
            }
            State::Closed if !self.was_connected => Err(Errno::ENOTCONN),
            _ => Ok(Vec::new()),
        }
    }

    /// After the reader frees space: send a window update if the window can
    /// open by the SWS threshold and the peer's view of it has become small.
    fn maybe_window_update(&mut self, ctx: &mut Ctx<'_>) {
        if !matches!(self.state, State::Established | State::FinWait1 | State::FinWait2) {
            return;
        }
        let cap = self.opts.rcv_buf;
        // Only what the window field can express counts (65535 << shift).
        let max_wnd = 65535usize << self.rcv_wscale;
        let free = cap.saturating_sub(self.rcv_buf.len()).min(max_wnd) as u32;
        let cur = self.rcv_wnd();
        let threshold = ((cap / 2) as u32).min(self.eff_snd_mss());
        if free >= cur + threshold && (cur as usize) < cap / 2 {
            self.send_ack(ctx);
        }
    }

    /// CLOSE from close(2): the descriptor is gone.
    pub fn close(&mut self, ctx: &mut Ctx<'_>) {
        self.app_closed = true;
        // An orphaned FIN-WAIT-2 gets the profile's timer (Linux tcp_fin_timeout).
        if let (State::FinWait2, Some(d)) = (self.state, ctx.profile.fin_wait_2_timeout) {
            self.arm(TimerKind::FinWait2, ctx.now + d);
        }
        if self.opts.linger == Some(Duration::ZERO) {
            self.abort(ctx);
            return;
        }
        // SHLD-3: closing with unread received data sends RST: data was lost.
        if !self.rcv_buf.is_empty()
            && matches!(
                self.state,
                State::Established | State::CloseWait | State::FinWait1 | State::FinWait2 | State::SynReceived
            )
        {
            self.send_rst(ctx, self.snd_nxt);
            self.close_with(ctx, None, Cause::Call(Call::Close));
            return;
        }
        self.shutdown_write(ctx, Call::Close);
    }

    /// CLOSE as shutdown(SHUT_WR): FIN after the queued data, keep reading.
    pub fn shutdown_write(&mut self, ctx: &mut Ctx<'_>, call: Call) {
        self.wr_shut = true;
        let cause = Cause::Call(call);
        match self.state {
            State::SynSent => self.set_state(ctx, State::Closed, cause),
            State::SynReceived => {
                self.fin_queued = true;
                // "If no SENDs have been issued and there is no pending data to
                // send, then form a FIN segment and send it, and enter FIN-WAIT-1".
                if self.snd_buf.is_empty() {
                    self.set_state(ctx, State::FinWait1, cause);
                }
            }
            State::Established => {
                self.fin_queued = true;
                self.set_state(ctx, State::FinWait1, cause);
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.set_state(ctx, State::LastAck, cause);
            }
            // FIN-WAIT-1/2, CLOSING, LAST-ACK, TIME-WAIT: "connection closing";
            // no second FIN.
            _ => {}
        }
        if !self.is_finished() {
            self.output(ctx);
        }
    }

    pub fn shutdown_read(&mut self) {
        self.rd_shut = true;
    }

    /// ABORT (RFC 9293 3.10.5).
    pub fn abort(&mut self, ctx: &mut Ctx<'_>) {
        let cause = Cause::Call(Call::Abort);
        if matches!(
            self.state,
            State::SynReceived | State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait
        ) {
            self.send_rst(ctx, self.snd_nxt);
        }
        self.rcv_buf.clear();
        self.set_state(ctx, State::Closed, cause);
    }

    /// A socket option changed: re-evaluate the timers and output it affects.
    pub fn options_changed(&mut self, ctx: &mut Ctx<'_>) {
        self.rearm_keepalive(ctx);
        if !self.is_finished() {
            self.output(ctx);
        }
    }

    // ------------------------------------------------------------------
    // Invariants
    // ------------------------------------------------------------------

    /// Sequence-space and queue invariants that hold between any two inputs.
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let fail = |what: String| Err(InvariantViolation { conn: self.tuple, what });
        if self.deadline != self.timers.iter().flatten().copied().min() {
            return fail(format!(
                "next deadline {:?} is not the earliest timer {:?}",
                self.deadline,
                Timers(self.timers)
            ));
        }
        if self.snd_una > self.snd_nxt {
            return fail(format!("SND.UNA {} > SND.NXT {}", self.snd_una, self.snd_nxt));
        }
        if let Some(r) = self.rtx_nxt {
            if r < self.snd_una || r > self.snd_nxt {
                return fail(format!(
                    "retransmit pointer {r} outside [SND.UNA {}, SND.NXT {}]",
                    self.snd_una, self.snd_nxt
                ));
            }
        }
        // RFC 9293 3.3.2 and 3.10.7.4 (ESTABLISHED's fifth step): FIN-WAIT-2 and
        // TIME-WAIT are entered only once our FIN is acknowledged, so nothing
        // of ours is outstanding there.
        if matches!(self.state, State::FinWait2 | State::TimeWait) && !self.our_fin_acked() {
            return fail(format!(
                "{} with our FIN not acknowledged (SND.UNA {}, SND.NXT {})",
                self.state, self.snd_una, self.snd_nxt
            ));
        }
        let data_end = self.snd_buf_seq + self.snd_buf.len() as u32 + u32::from(self.fin_queued);
        if self.snd_nxt > data_end {
            return fail(format!("SND.NXT {} beyond queued data and FIN {}", self.snd_nxt, data_end));
        }
        if self.snd_buf_seq > self.snd_una + 1 || (self.snd_buf_seq < self.snd_una && !self.snd_buf.is_empty()) {
            return fail(format!("send buffer starts at {} but SND.UNA is {}", self.snd_buf_seq, self.snd_una));
        }
        if self.snd_buf.len() > self.opts.snd_buf.max(1) && !self.is_finished() {
            return fail(format!("send queue {} exceeds SO_SNDBUF {}", self.snd_buf.len(), self.opts.snd_buf));
        }
        if self.snd_wnd > self.max_snd_wnd {
            return fail(format!("SND.WND {} > MAX.SND.WND {}", self.snd_wnd, self.max_snd_wnd));
        }
        if self.state != State::SynSent && !self.is_finished() {
            if self.rcv_adv < self.rcv_nxt {
                return fail(format!("advertised right edge {} left of RCV.NXT {}", self.rcv_adv, self.rcv_nxt));
            }
            let unit = 1usize << self.rcv_wscale;
            if self.rcv_buf.len() + self.rcv_wnd() as usize > self.opts.rcv_buf.max(65535 * unit) + unit {
                return fail(format!(
                    "receive queue {} + window {} exceed the buffer {}",
                    self.rcv_buf.len(),
                    self.rcv_wnd(),
                    self.opts.rcv_buf
                ));
            }
            let mut prev_end: Option<SeqNumber> = None;
            for b in self.ooo.blocks() {
                // Text queued with a SYN waits at RCV.NXT until our SYN is acknowledged;
                // anything else held must lie strictly above RCV.NXT.
                let at_left_edge_ok = self.snd_una == self.iss && b.start == self.rcv_nxt;
                if (b.start <= self.rcv_nxt && !at_left_edge_ok) || b.end() > self.rcv_adv {
                    return fail(format!(
                        "held block {}..{} outside (RCV.NXT {}, edge {}]",
                        b.start,
                        b.end(),
                        self.rcv_nxt,
                        self.rcv_adv
                    ));
                }
                if prev_end.is_some_and(|e| b.start <= e) {
                    return fail(format!("held blocks overlap or touch at {}", b.start));
                }
                prev_end = Some(b.end());
            }
            if self.ooo.blocks().len() > 4096 {
                return fail("reassembly queue unbounded".into());
            }
        }
        match self.state {
            State::TimeWait => {
                for k in TimerKind::ALL {
                    if k != TimerKind::TimeWait && self.armed(k) {
                        return fail(format!("timer {k:?} armed in TIME-WAIT"));
                    }
                }
                if !self.armed(TimerKind::TimeWait) {
                    return fail("TIME-WAIT without its timer".into());
                }
            }
            State::Closed | State::Listen => {
                if self.next_deadline().is_some() {
                    return fail(format!("timers armed in {}", self.state));
                }
            }
            _ => {
                if self.snd_nxt > self.snd_una
                    && !self.armed(TimerKind::Retransmission)
                    && !self.armed(TimerKind::Persist)
                {
                    return fail(format!(
                        "{} octets unacknowledged and neither the retransmission nor the persist timer is armed",
                        self.snd_nxt.wrapping_since(self.snd_una)
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `len` octets of `buf` from `start`, copied slice by slice (the queue's
/// two halves) rather than octet by octet.
fn copy_out(buf: &VecDeque<u8>, start: usize, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let (front, back) = buf.as_slices();
    let end = start + len;
    if start < front.len() {
        out.extend_from_slice(&front[start..end.min(front.len())]);
    }
    if end > front.len() {
        out.extend_from_slice(&back[start.saturating_sub(front.len())..end - front.len()]);
    }
    out
}

/// MUST-15: the send MSS without an MSS option: 536 (IPv4), 1220 (IPv6).
fn default_send_mss(tuple: &FourTuple) -> u32 {
    if tuple.local.is_ipv6() {
        1220
    } else {
        536
    }
}

/// The window scale offered for a receive buffer (RFC 7323 2.3): the buffer
/// halved until it fits in 16 bits, as Linux's `tcp_select_initial_window`
/// does. The scaled field then covers the buffer to within 2^shift - 1
/// octets (131071 gives shift 1, a largest window of 131070), not always
/// whole.
pub fn window_shift_for(buf: usize) -> u8 {
    let mut s = 0u8;
    while (buf >> s) > 65535 && s < MAX_WINDOW_SHIFT {
        s += 1;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::copy_out;
    use std::collections::VecDeque;

    /// Whatever way the queue has wrapped, the copy is the range's octets.
    #[test]
    fn copy_out_reads_across_the_wrap() {
        for shift in 0..12usize {
            let mut q: VecDeque<u8> = VecDeque::with_capacity(8);
            for i in 0..8u8 {
                q.push_back(i);
            }
            for _ in 0..shift {
                let x = q.pop_front().unwrap();
                q.push_back(x.wrapping_add(8));
            }
            let all: Vec<u8> = q.iter().copied().collect();
            for start in 0..=q.len() {
                for len in 0..=q.len() - start {
                    assert_eq!(copy_out(&q, start, len), all[start..start + len], "shift {shift} {start}+{len}");
                }
            }
        }
    }
}
