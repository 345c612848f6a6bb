//! The worked example of docs/adding-a-stack.md: a sans-IO TCP stack linked
//! into the harness through `StackAdapter`. The stack here is the bundled
//! reference stack, standing in for yours; every method is the one place
//! where your stack's API meets the harness's.
//!
//! Run a script on it:
//!     cargo run --release --example my_stack -- suites/handshake/passive-open.yaml

use harness::engine::Outcome;
use harness::script::TargetKind;
use harness::target::adapter::{AdapterTarget, SocketApi, StackAdapter};
use reference_stack::{
    Domain, Errno, Fd, FourTuple, Instant, PollEvents, Shutdown, SockOpt, SockOptName, Stack, StackConfig, State,
};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Your stack, and whatever it needs to answer the harness.
pub struct MyStack {
    stack: Stack,
}

impl MyStack {
    /// A stack that owns `local`, the script's address for it.
    pub fn new(local: IpAddr) -> MyStack {
        MyStack { stack: Stack::new(StackConfig { addrs: vec![local], ..StackConfig::default() }) }
    }
}

/// The harness's time (since the script started) in your stack's terms.
fn at(now: Duration) -> Instant {
    Instant::from_micros(now.as_micros() as u64)
}

/// Datagrams in and out, and the next deadline: the stack's wire and timers.
impl StackAdapter for MyStack {
    fn receive(&mut self, now: Duration, datagram: &[u8]) {
        // A datagram your stack cannot parse is dropped, as a NIC would.
        let _ = self.stack.handle_packet(at(now), datagram);
    }

    fn transmit(&mut self, now: Duration) -> Option<Vec<u8>> {
        // Timers that are due run first; then one datagram, if any.
        self.stack.handle_timeout(at(now));
        self.stack.poll_transmit(at(now))
    }

    fn next_deadline(&mut self, _now: Duration) -> Option<Duration> {
        self.stack.poll_timeout().map(|t| Duration::from_micros(t.total_micros()))
    }
}

/// The BSD-like calls. None blocks: EAGAIN (EINPROGRESS for connect) and the
/// harness tries again as time passes, for a script's blocking socket.
impl SocketApi for MyStack {
    fn describe(&self) -> String {
        "my stack 0.1 (the reference stack in disguise)".into()
    }
    fn socket(&mut self, now: Duration, ipv6: bool) -> Result<Fd, Errno> {
        let fd = self.stack.socket(at(now), if ipv6 { Domain::Inet6 } else { Domain::Inet })?;
        self.stack.set_nonblocking(fd, true)?;
        Ok(fd)
    }
    fn bind(&mut self, now: Duration, fd: Fd, addr: SocketAddr) -> Result<(), Errno> {
        self.stack.bind(at(now), fd, addr)
    }
    fn listen(&mut self, now: Duration, fd: Fd, backlog: i32) -> Result<(), Errno> {
        self.stack.listen(at(now), fd, backlog)
    }
    fn accept(&mut self, now: Duration, fd: Fd) -> Result<Fd, Errno> {
        let (new, _peer) = self.stack.accept(at(now), fd)?;
        self.stack.set_nonblocking(new, true)?;
        Ok(new)
    }
    fn connect(&mut self, now: Duration, fd: Fd, addr: SocketAddr) -> Result<(), Errno> {
        self.stack.connect(at(now), fd, addr)
    }
    fn send(&mut self, now: Duration, fd: Fd, data: &[u8]) -> Result<usize, Errno> {
        self.stack.send(at(now), fd, data, false)
    }
    fn recv(&mut self, now: Duration, fd: Fd, max: usize, peek: bool) -> Result<Vec<u8>, Errno> {
        self.stack.recv(at(now), fd, max, peek)
    }
    fn shutdown(&mut self, now: Duration, fd: Fd, how: Shutdown) -> Result<(), Errno> {
        self.stack.shutdown(at(now), fd, how)
    }
    fn close(&mut self, now: Duration, fd: Fd) -> Result<(), Errno> {
        self.stack.close(at(now), fd)
    }
    fn setsockopt(&mut self, now: Duration, fd: Fd, opt: SockOpt) -> Result<(), Errno> {
        self.stack.setsockopt(at(now), fd, opt)
    }
    fn getsockopt(&mut self, now: Duration, fd: Fd, name: SockOptName) -> Result<SockOpt, Errno> {
        self.stack.getsockopt(at(now), fd, name)
    }
    fn poll(&mut self, now: Duration, fd: Fd) -> Result<PollEvents, Errno> {
        self.stack.poll(at(now), fd)
    }
    fn state(&mut self, fd: Fd) -> Result<State, Errno> {
        self.stack.state(fd)
    }
    fn connection_state(&mut self, conn: &FourTuple) -> Option<State> {
        self.stack.connection(conn).map(|c| c.state)
    }
}

/// Runs the scripts named on the command line on `MyStack`; exits 1 if one
/// does not pass.
fn main() {
    let mut failed = false;
    for path in std::env::args().skip(1) {
        let scripts = match harness::script::load(std::path::Path::new(&path)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{}", e.one_line());
                std::process::exit(2);
            }
        };
        for script in scripts {
            // Calls and options the stack has no counterpart for skip the script.
            if let Some(why) = harness::target::capabilities::refusal(TargetKind::Dut, &script) {
                println!("SKIP {}: {why}", script.id());
                continue;
            }
            // TargetKind::Dut: a stack the harness does not bundle, held to
            // the reference's packets where a script names none for it.
            let mut target = AdapterTarget::new(MyStack::new(script.local), TargetKind::Dut);
            match harness::engine::run(&script, &mut target).outcome {
                Outcome::Passed => println!("PASS {}", script.id()),
                Outcome::Failed(f) => {
                    println!("FAIL {}:{}: {}", script.id(), f.pos.map_or(0, |p| p.line), f.message);
                    failed = true;
                }
                Outcome::Error(e) => {
                    println!("ERROR {}: {e}", script.id());
                    failed = true;
                }
            }
        }
    }
    std::process::exit(i32::from(failed));
}
