//! Liveness oracles: what a connection owes its peer within a bound of
//! time, whatever the peer keeps sending. The safety rules of
//! [`super::Oracle`] look at one segment; these look at what did *not*
//! happen: a timer that was re-armed when it should have been left running
//! breaks none of them, yet the ACK, the retransmission or the probe never
//! comes while the peer keeps talking.
//!
//! Every rule is checked at the end of a step against the state left by the
//! steps before it (what was sent at this step's instant counts as sent
//! *now*, so an answer that comes late is late), then brought up to date.
//! The bounds are the connection's own intervals as it reports them
//! ([`LiveView`]), or fixed by the RFC; a stack that fires a timer at its
//! deadline meets them exactly.
//!
//! | rule | obligation | bound |
//! |---|---|---|
//! | [`ACK_WITHIN`] | RCV.NXT beyond every ACK sent | 500 ms (MUST-40) |
//! | [`SEND_WITHIN`] | data or FIN unacknowledged or unsent, window open | one RTO (or persist interval) since the last send or SND.UNA moving |
//! | [`PROBE_WITHIN`] | the same with a zero window | one persist interval (or RTO) since the last probe |
//! | [`TIME_WAIT_ENDS`] | a connection in TIME-WAIT | 2 MSL since it entered or last got a FIN |
//! | [`KEEPALIVE_GIVES_UP`] | a keep-alive give-up | only after idle + count x interval of silence |

use crate::event::{Cause, Event, EventKind, FourTuple, TimerKind};
use crate::seq::SeqNumber;
use crate::sorted_map::SortedMap;
use crate::stack::Stack;
use crate::state::State;
use crate::time::{Duration, Instant};
use crate::wire::TcpHeader;

pub const ACK_WITHIN: &str = "in-order data is acknowledged within 500 ms (MUST-40)";
pub const SEND_WITHIN: &str = "with data queued and the window open, something is sent within one RTO (RFC 6298 5)";
pub const PROBE_WITHIN: &str = "a zero window is probed within the persist interval (MUST-35, SHLD-29)";
pub const TIME_WAIT_ENDS: &str = "TIME-WAIT ends 2 MSL after its last FIN (RFC 9293 3.10.7.4, 3.10.8)";
pub const KEEPALIVE_GIVES_UP: &str = "keep-alive gives up only after its probes went unanswered (RFC 9293 3.8.4)";

/// MUST-40: "the delay MUST be less than 0.5 seconds".
const ACK_DELAY_MAX: Duration = Duration::from_micros(500_000);

/// What one connection (by its id) owes and since when.
#[derive(Clone, Debug, Default)]
struct Owed {
    tuple: Option<FourTuple>,
    /// The highest ACK it sent, and since when RCV.NXT has been beyond it.
    acked: Option<SeqNumber>,
    ack_owed_since: Option<Instant>,
    /// The highest ACK sent during the current step (applied at its end).
    acked_now: Option<SeqNumber>,
    /// Segments occupying sequence space sent this step; window probes
    /// with new octets sent this step; segments below SND.UNA sent this step
    /// (a probe of the window in Linux's form, or a keep-alive probe: the
    /// wire cannot tell them apart).
    sent_now: bool,
    probed_now: bool,
    below_una_now: bool,
    snd_una: Option<SeqNumber>,
    send_by: Option<Instant>,
    probe_by: Option<Instant>,
    /// The deadline the last probe set, kept while the window stays closed
    /// even when nothing waits: a persist timer left running from it with
    /// its backoff still governs data (or a FIN) queued later.
    probe_sched: Option<Instant>,
    time_wait_by: Option<Instant>,
    /// Keep-alive's smallest idle time, interval and count in force since
    /// the last acceptable segment, and that segment's time.
    keepalive: Option<(Duration, Duration, u32, Instant)>,
    /// Seen at the end of the last step (else forgotten).
    alive: bool,
}

/// The liveness half of the oracle: feed it what the stack sent and logged,
/// and call [`Liveness::end_step`] with the step's instant.
#[derive(Clone, Debug, Default)]
pub struct Liveness {
    conns: SortedMap<u64, Owed>,
    /// 4-tuples a FIN was injected into during the step.
    fin_in: Vec<FourTuple>,
    /// Connections keep-alive gave up on during the step.
    gave_up: Vec<FourTuple>,
    /// 4-tuples whose ACK brought a valid SYN cookie back during the step:
    /// the connection made from it has acknowledged its SYN already (the
    /// cookie SYN,ACK did, for whatever sequence number the ACK implies: a
    /// cookie checks the ACK's sequence and acknowledgment numbers only
    /// against each other).
    from_cookie: Vec<FourTuple>,
}

/// The violation a rule gives.
pub(super) fn broken(rule: &'static str, conn: &FourTuple, detail: String) -> super::Violation {
    super::Violation::Liveness { rule, detail: format!("[{} <-> {}] {detail}", conn.local, conn.remote) }
}

impl Liveness {
    pub(super) fn on_inject(&mut self, t: FourTuple, fin: bool) {
        if fin && !self.fin_in.contains(&t) {
            self.fin_in.push(t);
        }
    }

    /// A segment the connection `id` (with SND.UNA `snd_una`) sent.
    pub(super) fn on_emit(&mut self, id: u64, snd_una: SeqNumber, seg: &TcpHeader) {
        if seg.flags.rst() {
            return;
        }
        let o = self.conns.get_or_insert_default(id);
        if seg.flags.ack() {
            o.acked_now = Some(match o.acked_now {
                Some(a) if a > seg.ack => a,
                _ => seg.ack,
            });
        }
        let len = seg.seg_len();
        o.sent_now |= len > 0;
        let below = seg.seq < snd_una;
        o.probed_now |= len > 0 && !below;
        o.below_una_now |= below;
    }

    pub(super) fn on_events(&mut self, events: &[Event]) {
        for e in events {
            if let (EventKind::Notice(crate::event::Notice::SynCookieValid), Some(t)) = (&e.kind, e.conn) {
                self.from_cookie.push(t);
            }
            if let (
                EventKind::Transition { to: State::Closed, cause: Cause::Timer(TimerKind::KeepAlive), .. },
                Some(t),
            ) = (&e.kind, e.conn)
            {
                self.gave_up.push(t);
            }
        }
    }

    pub(super) fn end_step(&mut self, stack: &Stack, now: Instant) -> Result<(), super::Violation> {
        let result = self.check(stack, now);
        self.fin_in.clear();
        self.gave_up.clear();
        self.from_cookie.clear();
        result
    }

    fn check(&mut self, stack: &Stack, now: Instant) -> Result<(), super::Violation> {
        let time_wait = stack.profile().time_wait;
        // Keep-alive give-ups: the connection is gone; what it was is kept.
        for t in &self.gave_up {
            let Some(o) = self.conns.values().find(|o| o.tuple.as_ref() == Some(t)) else { continue };
            if let Some((idle, interval, count, heard)) = o.keepalive {
                let bound = idle + interval.saturating_mul(u64::from(count));
                let silent = now.saturating_duration_since(heard);
                if silent < bound {
                    let detail = format!(
                        "gave up {} ms after the last segment it accepted, before {} ms of silence",
                        silent.total_micros() / 1000,
                        bound.total_micros() / 1000
                    );
                    return Err(broken(KEEPALIVE_GIVES_UP, t, detail));
                }
            }
        }
        for o in self.conns.values_mut() {
            o.alive = false;
        }
        for v in stack.live_views() {
            let o = self.conns.get_or_insert_default(v.id);
            o.alive = true;
            // New, and made from a cookie this step: its SYN (IRS) is
            // acknowledged.
            if o.tuple.is_none() && self.from_cookie.contains(&v.tuple) {
                let a = v.irs + 1;
                o.acked = Some(o.acked.map_or(a, |b| if a > b { a } else { b }));
            }
            o.tuple = Some(v.tuple);
            let late = |by: Option<Instant>| by.is_some_and(|d| now > d);
            let ms = |d: Instant| d.total_micros() / 1000;

            // MUST-40, against the ACKs sent before this instant.
            let receives = !matches!(v.state, State::Closed | State::Listen | State::SynSent);
            let owes_ack = receives && o.acked.is_none_or(|a| a < v.rcv_nxt);
            if let (true, Some(since)) = (owes_ack, o.ack_owed_since) {
                if now > since + ACK_DELAY_MAX {
                    let detail =
                        format!("RCV.NXT {} is not acknowledged {} ms after it moved", v.rcv_nxt, ms(now) - ms(since));
                    return Err(broken(ACK_WITHIN, &v.tuple, detail));
                }
            }
            if let Some(a) = o.acked_now.take() {
                o.acked = Some(o.acked.map_or(a, |b| if a > b { a } else { b }));
            }
            o.ack_owed_since = match o.acked {
                _ if !receives => None,
                Some(a) if a >= v.rcv_nxt => None,
                _ => o.ack_owed_since.or(Some(now)),
            };

            // Sending and probing: the bound is whichever timer the stack runs.
            let sending = matches!(
                v.state,
                State::SynSent
                    | State::SynReceived
                    | State::Established
                    | State::FinWait1
                    | State::CloseWait
                    | State::Closing
                    | State::LastAck
            );
            let work = v.snd_una < v.snd_nxt || v.unsent > 0 || v.fin_unsent;
            let handshake = matches!(v.state, State::SynSent | State::SynReceived);
            let owes_send = sending && work && (v.snd_wnd > 0 || handshake);
            let owes_probe = sending && work && !owes_send;
            if late(o.send_by) {
                let detail = format!("nothing sent by {} ms, now {} ms", ms(o.send_by.unwrap()), ms(now));
                return Err(broken(SEND_WITHIN, &v.tuple, detail));
            }
            if late(o.probe_by) {
                let detail = format!("no probe by {} ms, now {} ms", ms(o.probe_by.unwrap()), ms(now));
                return Err(broken(PROBE_WITHIN, &v.tuple, detail));
            }
            let bound = v.rto.max(v.persist);
            let una_moved = o.snd_una.is_some_and(|u| u != v.snd_una);
            o.send_by = match o.send_by {
                _ if !owes_send => None,
                Some(d) if !(o.sent_now || una_moved) => Some(d),
                _ => Some(now + bound),
            };
            // An ACK of a probe does not restart the persist timer (only a
            // probe does): a deadline set at the probe is not brought
            // forward by the RTO the ACK just shrank.
            // (SND.UNA moving may hand over from the retransmission timer to
            // a fresh persist timer: the later of the two deadlines.)
            // (Work queued behind a window still closed may wait out the
            // persist timer the last probe left running, backoff and all,
            // as Linux's does: the later of that and a fresh one.)
            // (A segment below SND.UNA may be a keep-alive probe, which
            // leaves the persist timer as it is: it sets a fresh deadline
            // but never brings the one running forward.)
            let fresh = now + bound;
            o.probe_by = match o.probe_by {
                _ if !owes_probe => None,
                _ if o.probed_now => Some(fresh),
                Some(d) if una_moved || o.below_una_now => Some(d.max(fresh)),
                Some(d) => Some(d),
                None => Some(o.probe_sched.map_or(fresh, |s| s.max(fresh))),
            };
            if owes_probe && (o.probed_now || o.below_una_now) {
                o.probe_sched = o.probe_by;
            } else if v.snd_wnd > 0 || !sending {
                o.probe_sched = None;
            }
            o.snd_una = Some(v.snd_una);
            o.sent_now = false;
            o.probed_now = false;
            o.below_una_now = false;

            // TIME-WAIT: 2 MSL from entering it, restarted by a FIN.
            if v.state == State::TimeWait {
                if late(o.time_wait_by) {
                    let detail =
                        format!("still in TIME-WAIT at {} ms, past {} ms", ms(now), ms(o.time_wait_by.unwrap()));
                    return Err(broken(TIME_WAIT_ENDS, &v.tuple, detail));
                }
                if o.time_wait_by.is_none() || self.fin_in.contains(&v.tuple) {
                    o.time_wait_by = Some(now + time_wait);
                }
            } else {
                o.time_wait_by = None;
            }

            // Keep-alive: the silence it must wait out is at least the
            // smallest idle time, plus the smallest count of the smallest
            // intervals, in force since the last segment it accepted (a
            // probe sent under one setting runs its interval out after
            // another is set).
            o.keepalive = v.keepalive.map(|(idle, interval, count)| match o.keepalive {
                Some((i, n, c, heard)) if heard == v.last_recv => (i.min(idle), n.min(interval), c.min(count), heard),
                _ => (idle, interval, count, v.last_recv),
            });
        }
        self.conns.retain(|_, o| o.alive);
        Ok(())
    }
}
