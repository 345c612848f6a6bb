//! Two reference stacks talk over a simulated link in virtual time: a
//! connection, a bulk transfer each way, a close, and TIME-WAIT to the end.
//! The link has a fixed one-way delay and drops segments with a seeded
//! probability, so retransmission runs for real and every run is repeatable.

use reference_stack::rng::Rng;
use reference_stack::{Domain, Duration, Errno, Event, Fd, Instant, Profile, Stack, StackConfig};
use std::collections::VecDeque;
use std::net::SocketAddr;

#[derive(Clone, Debug)]
pub struct LoopbackConfig {
    /// Octets sent each way.
    pub bytes: usize,
    /// One-way delay of the link.
    pub delay: Duration,
    /// Probability of dropping a datagram, in parts per million.
    pub loss_ppm: u32,
    pub seed: u64,
    pub profile: Profile,
    /// Give up after this much virtual time.
    pub time_limit: Duration,
}

impl Default for LoopbackConfig {
    fn default() -> Self {
        LoopbackConfig {
            bytes: 1 << 20,
            delay: Duration::from_millis(5),
            loss_ppm: 0,
            seed: 1,
            profile: Profile::rfc9293(),
            time_limit: Duration::from_secs(3600),
        }
    }
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct LoopbackReport {
    pub bytes_each_way: usize,
    /// Virtual time at which both sides had all data.
    pub transfer_done: Instant,
    /// Virtual time at which both sides were CLOSED (after TIME-WAIT).
    pub all_closed: Instant,
    pub datagrams: u64,
    pub dropped: u64,
    pub retransmits: u64,
    /// FNV-1a of what was sent and of what each side received.
    pub checksum_sent: u64,
    pub checksum_at_client: u64,
    pub checksum_at_server: u64,
    pub events: Vec<Event>,
    pub wall: std::time::Duration,
}

impl LoopbackReport {
    pub fn ok(&self) -> bool {
        self.checksum_sent == self.checksum_at_client && self.checksum_sent == self.checksum_at_server
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoopbackError {
    /// A socket call failed where it must not.
    #[error("{what} failed: {errno}")]
    Call { what: &'static str, errno: Errno },
    /// Virtual time ran past the limit before both sides closed.
    #[error("virtual time limit reached at {at} (client received {received_client} octets, server {received_server})")]
    TimeLimit { at: Instant, received_client: usize, received_server: usize },
    /// Nothing left to do (no timers, nothing in flight) but the run is not finished.
    #[error("stalled at {at}: no timer and nothing in flight (client received {received_client} octets, server {received_server})")]
    Stalled { at: Instant, received_client: usize, received_server: usize },
    /// A stack invariant broke.
    #[error("{0}")]
    Invariant(String),
}

fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

struct Side {
    stack: Stack,
    fd: Option<Fd>,
    sent: usize,
    received: Vec<u8>,
    closed: bool,
}

impl Side {
    /// Sends, receives and closes as far as the socket allows now.
    fn pump(&mut self, now: Instant, payload: &[u8]) -> Result<(), LoopbackError> {
        let Some(fd) = self.fd.filter(|_| !self.closed) else { return Ok(()) };
        while self.sent < payload.len() {
            match self.stack.send(now, fd, &payload[self.sent..], false) {
                Ok(n) => self.sent += n,
                Err(Errno::EAGAIN) => break,
                Err(errno) => return Err(LoopbackError::Call { what: "send", errno }),
            }
        }
        loop {
            match self.stack.recv(now, fd, 1 << 20, false) {
                Ok(d) if d.is_empty() => break,
                Ok(d) => self.received.extend(d),
                Err(Errno::EAGAIN) => break,
                Err(errno) => return Err(LoopbackError::Call { what: "recv", errno }),
            }
        }
        if !self.closed && self.sent == payload.len() && self.received.len() == payload.len() {
            self.stack.close(now, fd).map_err(|errno| LoopbackError::Call { what: "close", errno })?;
            self.closed = true;
        }
        Ok(())
    }
}

/// Runs the scenario to the end (both sides CLOSED) or to an error.
pub fn run(cfg: &LoopbackConfig) -> Result<LoopbackReport, LoopbackError> {
    let started = std::time::Instant::now();
    let client_addr: SocketAddr = "192.0.2.1:40000".parse().expect("literal");
    let server_addr: SocketAddr = "198.51.100.1:8080".parse().expect("literal");
    let mk =
        |addr: SocketAddr, seed| Stack::new(StackConfig { addrs: vec![addr.ip()], profile: cfg.profile.clone(), seed });
    let mut client = Side { stack: mk(client_addr, cfg.seed), fd: None, sent: 0, received: Vec::new(), closed: false };
    let mut server = Side {
        stack: mk(server_addr, cfg.seed.wrapping_add(1)),
        fd: None,
        sent: 0,
        received: Vec::new(),
        closed: false,
    };
    let payload: Vec<u8> = (0..cfg.bytes as u64).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let call = |what| move |errno| LoopbackError::Call { what, errno };

    let mut now = Instant::ZERO;
    let lfd = server.stack.socket(now, Domain::Inet).map_err(call("socket"))?;
    server.stack.bind(now, lfd, server_addr).map_err(call("bind"))?;
    server.stack.listen(now, lfd, 1).map_err(call("listen"))?;
    let cfd = client.stack.socket(now, Domain::Inet).map_err(call("socket"))?;
    client.stack.bind(now, cfd, client_addr).map_err(call("bind"))?;
    match client.stack.connect(now, cfd, server_addr) {
        Err(Errno::EINPROGRESS) => {}
        Err(errno) => return Err(LoopbackError::Call { what: "connect", errno }),
        Ok(()) => {}
    }
    client.fd = Some(cfd);

    let mut rng = Rng::new(cfg.seed ^ 0x5eed);
    // (deliver at, to the server?, datagram)
    let mut link: VecDeque<(Instant, bool, Vec<u8>)> = VecDeque::new();
    let (mut datagrams, mut dropped) = (0u64, 0u64);
    let mut events = Vec::new();
    let mut transfer_done = None;
    loop {
        if server.fd.is_none() {
            server.fd = server.stack.accept(now, lfd).ok().map(|(fd, _)| fd);
        }
        client.pump(now, &payload)?;
        server.pump(now, &payload)?;
        // Everything the stacks want to send now goes on the link before time moves.
        for (to_server, side) in [(true, &mut client), (false, &mut server)] {
            while let Some(d) = side.stack.poll_transmit(now) {
                datagrams += 1;
                if cfg.loss_ppm > 0 && rng.next_u32() % 1_000_000 < cfg.loss_ppm {
                    dropped += 1;
                } else {
                    link.push_back((now + cfg.delay, to_server, d));
                }
            }
        }
        for s in [&mut client, &mut server] {
            events.extend(s.stack.take_events());
            s.stack.check_invariants().map_err(|v| LoopbackError::Invariant(v.to_string()))?;
        }
        if transfer_done.is_none() && client.received.len() == cfg.bytes && server.received.len() == cfg.bytes {
            transfer_done = Some(now);
        }
        let finished = client.closed
            && server.closed
            && client.stack.connections().is_empty()
            && server.stack.connections().is_empty()
            && link.is_empty();
        if finished {
            break;
        }
        // Jump to the next thing that happens: a delivery or a timer.
        let next = [link.front().map(|x| x.0), client.stack.poll_timeout(), server.stack.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else {
            return Err(LoopbackError::Stalled {
                at: now,
                received_client: client.received.len(),
                received_server: server.received.len(),
            });
        };
        now = now.max(next);
        if now > Instant::ZERO + cfg.time_limit {
            return Err(LoopbackError::TimeLimit {
                at: now,
                received_client: client.received.len(),
                received_server: server.received.len(),
            });
        }
        while link.front().is_some_and(|x| x.0 <= now) {
            let (at, to_server, d) = link.pop_front().expect("checked");
            let side = if to_server { &mut server } else { &mut client };
            // The stack built these datagrams, so they parse; if not, the
            // stack logs a Malformed drop that the report shows.
            let _ = side.stack.handle_packet(at, &d);
        }
        client.stack.handle_timeout(now);
        server.stack.handle_timeout(now);
    }
    Ok(LoopbackReport {
        bytes_each_way: cfg.bytes,
        transfer_done: transfer_done.unwrap_or(now),
        all_closed: now,
        datagrams,
        dropped,
        retransmits: client.stack.stats().retransmitted_segments + server.stack.stats().retransmitted_segments,
        checksum_sent: fnv1a(&payload),
        checksum_at_client: fnv1a(&client.received),
        checksum_at_server: fnv1a(&server.received),
        events,
        wall: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_link_transfers_and_closes() {
        let r = run(&LoopbackConfig { bytes: 200_000, ..LoopbackConfig::default() }).unwrap();
        assert!(r.ok());
        assert_eq!(r.dropped, 0);
        assert_eq!(r.retransmits, 0);
        // Both sides close at once and pass through TIME-WAIT (2 MSL = 240 s).
        assert!(r.all_closed >= r.transfer_done + Duration::from_secs(240));
    }

    #[test]
    fn lossy_link_still_delivers_everything() {
        let r =
            run(&LoopbackConfig { bytes: 200_000, loss_ppm: 20_000, seed: 3, ..LoopbackConfig::default() }).unwrap();
        assert!(r.ok());
        assert!(r.dropped > 0);
        assert!(r.retransmits > 0);
    }
}
