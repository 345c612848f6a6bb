//! Profiles: every tunable number of the stack, as data, with its source.
//!
//! `rfc9293()` is what the RFCs require or recommend. A Linux profile (the
//! kernel's defaults, for differential runs) is added with the timer work; the
//! state machine reads every number from here and hard-codes none.

use crate::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Profile {
    pub name: &'static str,

    // --- Timers ---------------------------------------------------------
    /// Maximum segment lifetime. RFC 9293 3.4.2: "taken to be 2 minutes".
    pub msl: Duration,
    /// How long TIME-WAIT lasts. RFC 9293 3.6.1 / MUST-13: 2*MSL.
    pub time_wait: Duration,
    /// RTO before any RTT sample. RFC 6298 2.1: 1 s.
    pub rto_initial: Duration,
    /// RFC 6298 2.4: an RTO below 1 s SHOULD be rounded up to 1 s.
    pub rto_min: Duration,
    /// RFC 6298 2.5: a maximum MAY be placed on RTO provided it is at least 60 s.
    pub rto_max: Duration,
    /// RFC 6298 5.7: RTO after a retransmitted SYN, once data starts: 3 s.
    pub rto_after_syn_retransmit: Duration,
    /// SYN retransmissions before giving up (MUST-22/23: R2 for a SYN at least
    /// 3 minutes). The give-up comes one more backed-off RTO after the last one.
    pub syn_retries: u32,
    /// The first this-many SYN retransmissions use the initial RTO without
    /// backoff (Linux 6.5+ `tcp_syn_linear_timeouts`); 0 is RFC 6298 5.5.
    pub syn_linear_timeouts: u32,
    /// SYN-ACK retransmissions before the half-open connection is dropped (MUST-22).
    pub synack_retries: u32,
    /// R2 for data (MUST-20, SHLD-11: at least 100 s).
    pub data_give_up: GiveUp,
    /// R1: retransmissions after which IP gets negative advice (MUST-20, SHLD-10: 3).
    pub r1_retries: u32,
    /// RTO = SRTT + max(K*RTTVAR, this) (RFC 6298 2.3 with G; Linux floors
    /// RTTVAR at rto_min, so its RTO is at least SRTT + 200 ms).
    pub rttvar_floor: Duration,
    /// Duplicate ACKs that trigger fast retransmit (RFC 5681 3.2: 3).
    pub dupthresh: u32,
    /// RFC 5681 4.1: after an idle period longer than the RTO, cwnd = min(cwnd, IW).
    pub slow_start_after_idle: bool,
    /// ACK every data segment at once for the first this-many segments of a
    /// connection (Linux quick-ACK mode, TCP_MAX_QUICKACKS); 0 for none.
    pub quickacks: u32,
    /// Delayed-ACK timeout. RFC 9293 3.8.6.3 / MUST-40: under 0.5 s. RFC 1122
    /// 4.2.3.2 and common practice: 200 ms.
    pub delayed_ack: Duration,
    /// Keep-alive: idle time before the first probe (MUST-28: at least 2 hours),
    /// interval between probes, probes before the connection is dropped.
    pub keepalive_idle: Duration,
    pub keepalive_interval: Duration,
    pub keepalive_count: u32,
    /// Timer for orphaned FIN-WAIT-2 connections; RFC 9293 has none.
    pub fin_wait_2_timeout: Option<Duration>,
    /// What a zero-window probe carries (RFC 9293 3.8.6.1).
    pub zero_window_probe: ZeroWindowProbe,
    /// The ISN clock (RFC 9293 3.4.1: "a 4 microsecond timer").
    pub isn_tick: Duration,
    /// Timestamp clock tick (RFC 7323 5.4: between 1 ms and 1 s).
    pub ts_tick: Duration,

    // --- Options and negotiation ----------------------------------------
    /// Offer window scaling in SYNs (RFC 7323 2).
    pub window_scaling: bool,
    /// Offer SACK (RFC 2018).
    pub sack: bool,
    /// Offer timestamps (RFC 7323 3).
    pub timestamps: bool,
    /// RFC 7323 3.2: a non-RST segment without TSopt once TS is negotiated
    /// SHOULD be dropped.
    pub drop_segments_without_ts: bool,

    // --- Robustness ------------------------------------------------------
    /// RFC 5961 challenge ACKs for RST (3.2) and SYN (4.2) and the ACK range
    /// check (5.2), as RFC 9293 3.10.7.4 describes. Off: RFC 793 behaviour.
    pub rfc5961: bool,
    /// RFC 1337: ignore RST in TIME-WAIT. RFC 9293 3.10.7.4 closes instead.
    pub rfc1337: bool,
    /// MAY-2 / RFC 6191: a SYN with a higher sequence number (or newer
    /// timestamp) reopens a connection in TIME-WAIT.
    pub syn_reopens_time_wait: bool,
    /// The ISS of a connection reopened from TIME-WAIT. `false`: the ISN
    /// clock's value, raised to the old SND.NXT + 65537 if it is not beyond
    /// that (RFC 6191 2 asks only that the new ISS be beyond the old
    /// sequence space). `true`: exactly the old SND.NXT + 65535 + 2, as
    /// Linux's tcp_timewait_state_process sets it.
    pub reopen_iss_after_old: bool,
    /// Answer a retransmitted SYN in SYN-RECEIVED with the SYN,ACK again.
    /// RFC 9293's step 1 sends a bare ACK; Linux resends the SYN,ACK.
    pub synack_on_duplicate_syn: bool,
    /// Reassembly queue: at most this many separate out-of-order blocks; a
    /// segment that would make more is dropped (resource bound, not an RFC number).
    pub max_ooo_blocks: usize,

    // --- Buffers and segment sizes ---------------------------------------
    /// Default SO_RCVBUF and SO_SNDBUF in bytes.
    pub rcv_buf: usize,
    pub snd_buf: usize,
    /// Link MTU used for MMS_R / MMS_S (RFC 9293 3.7.1).
    pub mtu: usize,
    /// Initial congestion window.
    pub initial_window: InitialWindow,

    // --- Listen queues -----------------------------------------------------
    /// How a listener bounds its half-open connections and the established
    /// ones not accepted yet, and what it does past the bound.
    pub listen: ListenQueues,
    /// Ephemeral ports for connect() without bind(); `None`: 32768 to 60999.
    pub local_ports: Option<(u16, u16)>,
    /// An outgoing connection may take over a 4-tuple in TIME-WAIT whose
    /// TS.Recent is older than this (Linux's tcp_tw_reuse with
    /// tcp_tw_reuse_delay); `None`: never (RFC 9293 has no such rule).
    pub tw_reuse_after: Option<Duration>,
}

/// A listener's queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenQueues {
    /// RFC 9293 says nothing of a queue's size (3.10.1's OPEN has no
    /// backlog): the choice here is half-open and unaccepted connections
    /// together at most the backlog, a SYN beyond it dropped silently so
    /// the peer retries.
    Backlog,
    /// Linux's (tcp_conn_request, tcp_check_req, syncookies.c): the SYN
    /// queue and the accept queue each hold up to backlog + 1 (the backlog
    /// capped at `somaxconn`); past the SYN queue a SYN gets a SYN cookie
    /// (RFC 4987 3.6) when `syncookies` is 1 (always when 2), else it is
    /// dropped, and without cookies a quarter of `max_syn_backlog` is kept
    /// for peers the stack has seen (it has seen none); a SYN that finds the
    /// accept queue full is dropped; an ACK that finds it full is dropped
    /// (`abort_on_overflow` false: the connection stays half-open) or
    /// answered with a RST.
    Linux { syncookies: u8, max_syn_backlog: u32, somaxconn: u32, abort_on_overflow: bool },
}

/// When a connection with unacknowledged data gives up (R2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiveUp {
    /// After this many retransmissions of the same data.
    Retries(u32),
    /// Linux's `tcp_retries2` model: give up at the first RTO at least
    /// sum(min(rto_min * 2^i, rto_max) for i in 0..=retries) after the oldest
    /// unacknowledged segment was first sent (924.6 s for 15).
    LinuxModel { retries: u32 },
}

impl GiveUp {
    /// For `LinuxModel`, the time after which the connection gives up.
    pub fn linux_boundary(retries: u32, rto_min: Duration, rto_max: Duration) -> Duration {
        (0..=retries).fold(Duration::ZERO, |acc, i| acc + rto_min.saturating_mul(1u64 << i.min(40)).min(rto_max))
    }
}

/// The form of a zero-window probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZeroWindowProbe {
    /// One octet of new data beyond the window (RFC 9293 3.8.6.1, MUST-36).
    NewOctet,
    /// A segment with SEQ = SND.UNA - 1 and no data, which the peer must ACK
    /// (what Linux sends).
    OldSequence,
}

/// How the initial congestion window is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitialWindow {
    /// RFC 5681 3.1 (from RFC 3390): min(4*SMSS, max(2*SMSS, 4380 bytes)).
    Rfc5681,
    /// A fixed number of segments (RFC 6928's IW10 is `Segments(10)`).
    Segments(u32),
}

impl InitialWindow {
    pub fn bytes(self, smss: u32) -> u32 {
        match self {
            InitialWindow::Rfc5681 => rfc5681_initial_window(smss),
            InitialWindow::Segments(n) => n.saturating_mul(smss),
        }
    }
}

/// RFC 5681 3.1 (from RFC 3390): IW = min(4*SMSS, max(2*SMSS, 4380 bytes)).
pub fn rfc5681_initial_window(smss: u32) -> u32 {
    (4 * smss).min((2 * smss).max(4380))
}

impl Profile {
    /// What RFC 9293 and the RFCs it defers to require or recommend.
    pub fn rfc9293() -> Profile {
        let msl = Duration::from_secs(120);
        Profile {
            name: "rfc9293",
            msl,
            time_wait: msl.saturating_mul(2),
            rto_initial: Duration::from_secs(1),
            rto_min: Duration::from_secs(1),
            rto_max: Duration::from_secs(60),
            rto_after_syn_retransmit: Duration::from_secs(3),
            syn_retries: 8,
            syn_linear_timeouts: 0,
            synack_retries: 8,
            data_give_up: GiveUp::Retries(15),
            r1_retries: 3,
            rttvar_floor: Duration::from_micros(1),
            dupthresh: 3,
            slow_start_after_idle: true,
            quickacks: 0,
            delayed_ack: Duration::from_millis(200),
            keepalive_idle: Duration::from_secs(2 * 3600),
            keepalive_interval: Duration::from_secs(75),
            keepalive_count: 9,
            fin_wait_2_timeout: None,
            zero_window_probe: ZeroWindowProbe::NewOctet,
            isn_tick: Duration::from_micros(4),
            ts_tick: Duration::from_millis(1),
            window_scaling: true,
            sack: true,
            timestamps: true,
            drop_segments_without_ts: true,
            rfc5961: true,
            rfc1337: false,
            syn_reopens_time_wait: true,
            reopen_iss_after_old: false,
            synack_on_duplicate_syn: false,
            max_ooo_blocks: 32,
            rcv_buf: 131_072,
            snd_buf: 131_072,
            mtu: 1500,
            initial_window: InitialWindow::Rfc5681,
            listen: ListenQueues::Backlog,
            local_ports: None,
            tw_reuse_after: None,
        }
    }

    /// What Linux does by default. Sources: include/net/tcp.h constants and
    /// this machine's sysctls, read in a fresh network namespace on kernel
    /// 6.18 (`unshare -n cat /proc/sys/net/ipv4/...`).
    pub fn linux() -> Profile {
        Profile {
            name: "linux",
            // No MSL in Linux; TCP_TIMEWAIT_LEN is a fixed 60 s.
            msl: Duration::from_secs(30),
            time_wait: Duration::from_secs(60),
            // TCP_TIMEOUT_INIT.
            rto_initial: Duration::from_secs(1),
            // tcp_rto_min_us = 200000 (TCP_RTO_MIN = HZ/5).
            rto_min: Duration::from_millis(200),
            // tcp_rto_max_ms = 120000 (TCP_RTO_MAX).
            rto_max: Duration::from_secs(120),
            // TCP_TIMEOUT_FALLBACK.
            rto_after_syn_retransmit: Duration::from_secs(3),
            // tcp_syn_retries = 6 plus tcp_syn_linear_timeouts = 4: SYNs at
            // 0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67 s; connect fails at 131 s.
            // Measured over TUN on 6.18 (harness/tests/interop.rs): 0, 1.02,
            // 2.04, 3.07, 4.09, 5.11, 7.13, 11.26, 19.45, 35.58, 68.60 s, the
            // nominal gaps rounded up by the kernel's timer wheel.
            syn_retries: 10,
            syn_linear_timeouts: 4,
            // tcp_synack_retries = 5: SYN,ACKs at 0, 1, 3, 7, 15, 31 s.
            synack_retries: 5,
            // tcp_retries2 = 15: about 924.6 s.
            data_give_up: GiveUp::LinuxModel { retries: 15 },
            // tcp_retries1 = 3.
            r1_retries: 3,
            rttvar_floor: Duration::from_millis(200),
            // TCP_FASTRETRANS_THRESH; tcp_reordering = 3.
            dupthresh: 3,
            // tcp_slow_start_after_idle = 1.
            slow_start_after_idle: true,
            // TCP_MAX_QUICKACKS.
            quickacks: 16,
            // TCP_DELACK_MIN = HZ/25.
            delayed_ack: Duration::from_millis(40),
            // tcp_keepalive_time / intvl / probes = 7200 / 75 / 9.
            keepalive_idle: Duration::from_secs(7200),
            keepalive_interval: Duration::from_secs(75),
            keepalive_count: 9,
            // tcp_fin_timeout = 60.
            fin_wait_2_timeout: Some(Duration::from_secs(60)),
            zero_window_probe: ZeroWindowProbe::OldSequence,
            // Linux's ISN clock ticks every 64 ns; the virtual clock counts
            // microseconds, so the profile keeps RFC 9293's 4 µs.
            isn_tick: Duration::from_micros(4),
            // TS clock: 1 ms (tcp_clock_ms).
            ts_tick: Duration::from_millis(1),
            // tcp_window_scaling = tcp_sack = tcp_timestamps = 1.
            window_scaling: true,
            sack: true,
            timestamps: true,
            // Linux accepts segments without TSopt on a TS connection
            // (verified on 6.18 over TUN: harness/tests/kernel_facts.rs).
            drop_segments_without_ts: false,
            rfc5961: true,
            // tcp_rfc1337 = 0: a RST kills a TIME-WAIT socket.
            rfc1337: false,
            syn_reopens_time_wait: true,
            // tw_snd_nxt + 65535 + 2 (seen on 6.18: suites/close/time-wait-reopen-new-incarnation).
            reopen_iss_after_old: true,
            // Verified on 6.18 over TUN: harness/tests/kernel_facts.rs.
            synack_on_duplicate_syn: true,
            max_ooo_blocks: 64,
            // tcp_rmem / tcp_wmem defaults: 131072 / 16384.
            rcv_buf: 131_072,
            snd_buf: 16_384,
            mtu: 1500,
            // TCP_INIT_CWND = 10 (RFC 6928).
            initial_window: InitialWindow::Segments(10),
            // tcp_syncookies = 1, tcp_max_syn_backlog = 2048 (in a fresh
            // namespace on this machine), somaxconn = 4096,
            // tcp_abort_on_overflow = 0.
            listen: ListenQueues::Linux {
                syncookies: 1,
                max_syn_backlog: 2048,
                somaxconn: 4096,
                abort_on_overflow: false,
            },
            // ip_local_port_range = 32768 60999.
            local_ports: None,
            // tcp_tw_reuse = 2: loopback only, which the stack's addresses are
            // not (with 1, tcp_tw_reuse_delay = 1000 ms).
            tw_reuse_after: None,
        }
    }

    /// A profile by name, for scripts and the command line.
    pub fn by_name(name: &str) -> Option<Profile> {
        match name {
            "rfc9293" => Some(Profile::rfc9293()),
            "linux" => Some(Profile::linux()),
            _ => None,
        }
    }

    pub const NAMES: &'static [&'static str] = &["rfc9293", "linux"];
}

impl Default for Profile {
    fn default() -> Self {
        Profile::rfc9293()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_numbers() {
        let p = Profile::rfc9293();
        assert_eq!(p.time_wait, Duration::from_secs(240));
        assert!(p.delayed_ack < Duration::from_millis(500));
        assert!(p.keepalive_idle >= Duration::from_secs(7200));
        assert_eq!(rfc5681_initial_window(1460), 4380);
        assert_eq!(rfc5681_initial_window(536), 2144);
        assert_eq!(rfc5681_initial_window(3000), 6000);
        assert_eq!(InitialWindow::Segments(10).bytes(1460), 14600);
    }

    #[test]
    fn linux_give_up_boundary_is_924_6_seconds() {
        let p = Profile::linux();
        assert_eq!(GiveUp::linux_boundary(15, p.rto_min, p.rto_max), Duration::from_millis(924_600));
        for n in Profile::NAMES {
            assert_eq!(Profile::by_name(n).unwrap().name, *n);
        }
    }
}
