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
    /// 3 minutes). With 1 s doubling, 8 retransmissions give up after 511 s.
    pub syn_retries: u32,
    /// SYN-ACK retransmissions before the half-open connection is dropped (MUST-22).
    pub synack_retries: u32,
    /// R2 for data (MUST-20, SHLD-11: at least 100 s). 15 retransmissions with
    /// backoff capped at `rto_max` take well over 100 s.
    pub data_retries: u32,
    /// R1: retransmissions after which IP gets negative advice (MUST-20, SHLD-10: 3).
    pub r1_retries: u32,
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
            synack_retries: 8,
            data_retries: 15,
            r1_retries: 3,
            delayed_ack: Duration::from_millis(200),
            keepalive_idle: Duration::from_secs(2 * 3600),
            keepalive_interval: Duration::from_secs(75),
            keepalive_count: 9,
            fin_wait_2_timeout: None,
            isn_tick: Duration::from_micros(4),
            ts_tick: Duration::from_millis(1),
            window_scaling: true,
            sack: true,
            timestamps: true,
            drop_segments_without_ts: true,
            rfc5961: true,
            rfc1337: false,
            max_ooo_blocks: 32,
            rcv_buf: 131_072,
            snd_buf: 131_072,
            mtu: 1500,
            initial_window: InitialWindow::Rfc5681,
        }
    }

    /// A profile by name, for scripts and the command line.
    pub fn by_name(name: &str) -> Option<Profile> {
        match name {
            "rfc9293" => Some(Profile::rfc9293()),
            _ => None,
        }
    }
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
}
