//! Linux's TCP state numbers (include/net/tcp_states.h) and their RFC 9293
//! names: the one table TCP_INFO, sock_diag, the reference target's
//! `tcpi_state` and the importer's Python constants read.

use reference_stack::State;

/// (number, the kernel's name, the RFC 9293 state).
pub const TCP_STATES: [(u8, &str, State); 12] = [
    (1, "TCP_ESTABLISHED", State::Established),
    (2, "TCP_SYN_SENT", State::SynSent),
    (3, "TCP_SYN_RECV", State::SynReceived),
    (4, "TCP_FIN_WAIT1", State::FinWait1),
    (5, "TCP_FIN_WAIT2", State::FinWait2),
    (6, "TCP_TIME_WAIT", State::TimeWait),
    (7, "TCP_CLOSE", State::Closed),
    (8, "TCP_CLOSE_WAIT", State::CloseWait),
    (9, "TCP_LAST_ACK", State::LastAck),
    (10, "TCP_LISTEN", State::Listen),
    (11, "TCP_CLOSING", State::Closing),
    // A request socket (a SYN received, not yet a full socket).
    (12, "TCP_NEW_SYN_RECV", State::SynReceived),
];

/// The RFC 9293 state of a Linux state number (an unknown one is CLOSED).
pub fn from_linux(n: u8) -> State {
    TCP_STATES.iter().find(|(k, _, _)| *k == n).map_or(State::Closed, |(_, _, s)| *s)
}

/// Linux's number for an RFC 9293 state.
pub fn to_linux(s: State) -> u8 {
    TCP_STATES.iter().find(|(_, _, x)| *x == s).map_or(7, |(k, _, _)| *k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_goes_there_and_back() {
        for (n, _, s) in TCP_STATES {
            assert_eq!(from_linux(n), s);
            if n != 12 {
                assert_eq!(to_linux(s), n, "{s}");
            }
        }
        assert_eq!(from_linux(99), State::Closed);
    }
}
