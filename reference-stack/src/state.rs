//! The eleven connection states of RFC 9293 3.3.2.

use core::fmt;
use core::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl State {
    pub const ALL: [State; 11] = [
        State::Closed,
        State::Listen,
        State::SynSent,
        State::SynReceived,
        State::Established,
        State::FinWait1,
        State::FinWait2,
        State::CloseWait,
        State::Closing,
        State::LastAck,
        State::TimeWait,
    ];

    /// The RFC's spelling, e.g. `SYN-RECEIVED`.
    pub fn rfc_name(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
            State::TimeWait => "TIME-WAIT",
        }
    }

    /// "Synchronized" states (RFC 9293 3.5.2): after the handshake completed.
    pub fn is_synchronized(self) -> bool {
        !matches!(self, State::Closed | State::Listen | State::SynSent | State::SynReceived)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rfc_name())
    }
}

/// Accepts the RFC spelling and Linux's (`SYN_RECV`, `FIN_WAIT1`, `TIME_WAIT`...),
/// in any case.
impl FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<State, String> {
        let norm: String = s.to_ascii_uppercase().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        Ok(match norm.as_str() {
            "CLOSED" | "CLOSE" => State::Closed,
            "LISTEN" => State::Listen,
            "SYNSENT" => State::SynSent,
            "SYNRECEIVED" | "SYNRECV" => State::SynReceived,
            "ESTABLISHED" => State::Established,
            "FINWAIT1" => State::FinWait1,
            "FINWAIT2" => State::FinWait2,
            "CLOSEWAIT" => State::CloseWait,
            "CLOSING" => State::Closing,
            "LASTACK" => State::LastAck,
            "TIMEWAIT" => State::TimeWait,
            _ => return Err(format!("unknown TCP state {s:?}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_both_spellings() {
        for s in State::ALL {
            assert_eq!(s.rfc_name().parse::<State>(), Ok(s));
        }
        assert_eq!("SYN_RECV".parse::<State>(), Ok(State::SynReceived));
        assert_eq!("time_wait".parse::<State>(), Ok(State::TimeWait));
        assert!("NOPE".parse::<State>().is_err());
    }
}
