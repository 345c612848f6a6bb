//! A stack in a program of its own, in any language: the device under test
//! (DUT). The harness starts it inside the script's private network
//! namespace with one end of a `SOCK_SEQPACKET` socket pair as descriptor 3
//! (one IP datagram per message: the stack's wire), and speaks the DUT
//! protocol with it over its standard input and output: JSON lines, a
//! request per line, an answer per line. docs/adding-a-stack.md specifies
//! every message; [`PROTOCOL_VERSION`] is the version spoken here.
//!
//! Why JSON lines on stdin/stdout: every language reads and writes them
//! without a library beyond JSON, a person can read a transcript, framing is
//! a newline, and the pipes need no address or cleanup. A script's calls are
//! few and far between, so the text costs nothing that shows.
//!
//! The DUT runs in real time, with the Linux target's tolerance rules. Its
//! sockets never block: the harness retries calls for a script's blocking
//! socket ([`super::adapter::Calls`]). A DUT that crashes, hangs (no answer
//! within [`ANSWER_TIMEOUT`]), speaks another version or answers garbage is
//! an error of that script that names the program and the request.

use super::adapter::{Calls, SocketApi};
use super::wire::RealWire;
use super::{CallOutcome, Clock, Inject, Target, TargetCall, TargetError};
use crate::os::netns::Private;
use crate::os::transport::SeqPacketLink;
use crate::script::{Script, TargetKind};
use reference_stack::wire::IpPacket;
use reference_stack::{Errno, Fd, FourTuple, PollEvents, Shutdown, SockOpt, SockOptName, State};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The DUT protocol's version: a DUT whose hello names another is refused.
pub const PROTOCOL_VERSION: u64 = 1;

/// How long a DUT may take to answer one request.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// The descriptor the DUT finds its end of the wire on.
pub const LINK_FD: i32 = 3;

/// Where the lwIP DUT is: `HARNESS_LWIP_DUT`, or `lwip-dut` next to this
/// executable, or `target/lwip-dut` (what `make lwip-dut` builds).
pub fn lwip_program() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("HARNESS_LWIP_DUT") {
        return Ok(PathBuf::from(p));
    }
    let here = std::env::current_exe().ok().map(|e| e.with_file_name("lwip-dut"));
    let dev = [PathBuf::from("target/lwip-dut"), PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/lwip-dut")];
    here.into_iter().chain(dev).find(|p| p.is_file()).ok_or_else(|| {
        "the lwIP DUT is not built: run `make lwip-dut` (it needs liblwip-dev, gcc and pkg-config)".into()
    })
}

/// The DUT's standard input, a stream socket: writes never raise SIGPIPE.
struct Requests(socket2::Socket);

impl Write for Requests {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.send_with_flags(buf, libc::MSG_NOSIGNAL)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The harness's side of the DUT protocol: requests out, answers in.
pub struct DutClient {
    program: String,
    child: Child,
    /// Our end of the DUT's standard input: a socket, written with
    /// MSG_NOSIGNAL, so a DUT that died is an error and not a SIGPIPE
    /// (the harness keeps SIGPIPE's default for `| head`).
    requests: Requests,
    answers: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
    /// The stack's name, from its hello.
    stack: String,
    next_id: u64,
    /// How the protocol broke, if it did: the script's error.
    broken: Option<String>,
    /// The errno of the last answer that was one.
    last_errno: Option<Errno>,
    /// The script's descriptor numbers (from 3, the lowest free, as a
    /// kernel gives them) for the DUT's own.
    fds: BTreeMap<Fd, i64>,
    /// Datagrams written to the wire so far: every request says how many,
    /// and the DUT answers once it has taken them all in.
    sent: u64,
}

impl DutClient {
    /// Starts `cmd` (program and arguments) with `link` as its descriptor 3,
    /// reads its hello and gives it its address.
    pub fn start(cmd: &[String], link: socket2::Socket, local: std::net::IpAddr) -> Result<DutClient, String> {
        let program = cmd.first().cloned().ok_or("no DUT program given")?;
        let mut command = Command::new(&program);
        let (ours, theirs) =
            std::os::unix::net::UnixStream::pair().map_err(|e| format!("the DUT {program}'s input: {e}"))?;
        command
            .args(&cmd[1..])
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let raw = std::os::fd::AsRawFd::as_raw_fd(&link);
        // SAFETY: between fork and exec only dup2 runs, which is
        // async-signal-safe; `raw` stays open in the parent until spawn
        // returns (`link` is dropped after).
        #[allow(unsafe_code)]
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                if libc::dup2(raw, LINK_FD) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().map_err(|e| format!("starting the DUT {program}: {e}"))?;
        drop(link);
        let requests = Requests(socket2::Socket::from(std::os::fd::OwnedFd::from(ours)));
        let stdout = child.stdout.take().ok_or("the DUT's stdout")?;
        let mut err_pipe = child.stderr.take().ok_or("the DUT's stderr")?;
        let (tx, answers) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(l) = line else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    // Keep the last 8 KiB: enough to say why it died.
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if s.len() > 8192 {
                        let cut = s.len() - 8192;
                        let cut = (cut..s.len()).find(|i| s.is_char_boundary(*i)).unwrap_or(cut);
                        s.drain(..cut);
                    }
                }
            }
        });
        let mut c = DutClient {
            program,
            child,
            requests,
            answers,
            stderr,
            stack: String::new(),
            next_id: 1,
            broken: None,
            last_errno: None,
            fds: BTreeMap::new(),
            sent: 0,
        };
        let hello = c.line("its hello")?;
        let v: Value = serde_json::from_str(&hello)
            .map_err(|_| c.failure(&format!("said `{}` instead of its hello", short(&hello))))?;
        if v.get("dut").and_then(Value::as_str) != Some("tcp-harness") {
            return Err(c.failure(&format!("said `{}` instead of its hello", short(&hello))));
        }
        match v.get("version").and_then(Value::as_u64) {
            Some(PROTOCOL_VERSION) => {}
            other => {
                return Err(c.failure(&format!(
                    "speaks DUT protocol version {}; this harness speaks version {PROTOCOL_VERSION}",
                    other.map_or("(none)".to_string(), |v| v.to_string())
                )))
            }
        }
        c.stack = v.get("stack").and_then(Value::as_str).unwrap_or("a DUT").to_string();
        let prefix = if local.is_ipv6() { 64 } else { 24 };
        c.request("setup", json!({"address": local.to_string(), "prefix": prefix}))
            .map_err(|e| e.unwrap_or_else(|| "refused its setup".into()))?;
        Ok(c)
    }

    /// "the DUT PROGRAM (STACK) WHAT; its stderr: ...".
    fn failure(&mut self, what: &str) -> String {
        let status = match self.child.try_wait() {
            Ok(Some(s)) => format!(" (it exited: {s})"),
            _ => String::new(),
        };
        let err = self.stderr.lock().map(|s| s.trim().to_string()).unwrap_or_default();
        let stack = if self.stack.is_empty() { String::new() } else { format!(" ({})", self.stack) };
        format!(
            "the DUT {}{stack} {what}{status}{}",
            self.program,
            if err.is_empty() { String::new() } else { format!("; its stderr: {}", short(&err)) }
        )
    }

    /// The next line the DUT writes, within the answer timeout.
    fn line(&mut self, waiting_for: &str) -> Result<String, String> {
        match self.answers.recv_timeout(ANSWER_TIMEOUT) {
            Ok(l) => Ok(l),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(self.failure(&format!("did not answer {waiting_for} within {} s", ANSWER_TIMEOUT.as_secs())))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Its stdout closed: give stderr a moment to drain.
                std::thread::sleep(Duration::from_millis(20));
                let _ = self.child.try_wait();
                Err(self.failure(&format!("closed its output instead of answering {waiting_for}")))
            }
        }
    }

    /// One request and its answer: `Ok` with the answer's fields, or
    /// `Err(None)` when the answer is an errno (kept in `last_errno`), or
    /// `Err(Some(message))` when the protocol broke.
    fn request(&mut self, op: &str, args: Value) -> Result<Map<String, Value>, Option<String>> {
        let id = self.next_id;
        self.next_id += 1;
        let mut req = match args {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        req.insert("id".into(), id.into());
        req.insert("op".into(), op.into());
        req.insert("sent".into(), self.sent.into());
        let text = Value::Object(req).to_string();
        if writeln!(self.requests, "{text}").and_then(|_| self.requests.flush()).is_err() {
            return Err(Some(self.failure(&format!("stopped reading its input before `{op}`"))));
        }
        let line = self.line(&format!("`{op}`")).map_err(Some)?;
        let v: Value = match serde_json::from_str(&line) {
            Ok(Value::Object(m)) => Value::Object(m),
            _ => {
                return Err(Some(self.failure(&format!("answered `{op}` with `{}`, not a JSON object", short(&line)))))
            }
        };
        if v.get("id").and_then(Value::as_u64) != Some(id) {
            return Err(Some(self.failure(&format!("answered `{op}` (id {id}) with `{}`", short(&line)))));
        }
        let Value::Object(m) = v else { unreachable!("matched above") };
        if let Some(e) = m.get("errno") {
            return match e.as_str().and_then(Errno::from_name) {
                Some(errno) => {
                    self.last_errno = Some(errno);
                    Err(None)
                }
                None => Err(Some(self.failure(&format!("answered `{op}` with errno `{e}`, which is not one")))),
            };
        }
        Ok(m)
    }

    /// A request whose answer is an errno or fields; the protocol breaking
    /// is kept in `broken` (and reads as EIO to the caller).
    fn ask(&mut self, op: &str, args: Value) -> Result<Map<String, Value>, Errno> {
        if self.broken.is_some() {
            return Err(Errno::EIO);
        }
        match self.request(op, args) {
            Ok(m) => Ok(m),
            Err(None) => Err(self.last_errno.take().unwrap_or(Errno::EIO)),
            Err(Some(msg)) => {
                self.broken = Some(msg);
                Err(Errno::EIO)
            }
        }
    }

    fn field<'a>(&mut self, m: &'a Map<String, Value>, op: &str, key: &str) -> Result<&'a Value, Errno> {
        match m.get(key) {
            Some(v) => Ok(v),
            None => {
                let msg = self.failure(&format!("answered `{op}` without `{key}`"));
                self.broken.get_or_insert(msg);
                Err(Errno::EIO)
            }
        }
    }

    fn int(&mut self, m: &Map<String, Value>, op: &str, key: &str) -> Result<i64, Errno> {
        let v = self.field(m, op, key)?.clone();
        v.as_i64().ok_or_else(|| {
            let msg = self.failure(&format!("answered `{op}` with `{key}: {v}`, not an integer"));
            self.broken.get_or_insert(msg);
            Errno::EIO
        })
    }

    /// The DUT's number for the script's descriptor.
    fn dut_fd(&self, fd: Fd) -> Result<i64, Errno> {
        self.fds.get(&fd).copied().ok_or(Errno::EBADF)
    }

    /// A descriptor the DUT made, numbered for the script.
    fn new_fd(&mut self, theirs: i64) -> Fd {
        let fd = (3..).find(|f| !self.fds.contains_key(f)).expect("a free number");
        self.fds.insert(fd, theirs);
        fd
    }

    fn state_field(&mut self, m: &Map<String, Value>, op: &str) -> Result<Option<State>, Errno> {
        match m.get("state") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => match s.parse::<State>() {
                Ok(st) => Ok(Some(st)),
                Err(_) => {
                    let msg = self.failure(&format!("answered `{op}` with state `{s}`, which is not a TCP state"));
                    self.broken.get_or_insert(msg);
                    Err(Errno::EIO)
                }
            },
            Some(other) => {
                let msg = self.failure(&format!("answered `{op}` with state `{other}`"));
                self.broken.get_or_insert(msg);
                Err(Errno::EIO)
            }
        }
    }
}

impl Drop for DutClient {
    fn drop(&mut self) {
        let _ = writeln!(self.requests, "{}", json!({"id": 0, "op": "quit"}));
        let _ = self.requests.flush();
        // A moment to leave on its own, then no more.
        for _ in 0..20 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn short(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > 200 {
        format!("{}...", s.chars().take(200).collect::<String>())
    } else {
        s.to_string()
    }
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// The option names the protocol uses (Linux's).
fn opt_name(o: SockOptName) -> &'static str {
    match o {
        SockOptName::NoDelay => "TCP_NODELAY",
        SockOptName::KeepAlive => "SO_KEEPALIVE",
        SockOptName::KeepIdle => "TCP_KEEPIDLE",
        SockOptName::KeepIntvl => "TCP_KEEPINTVL",
        SockOptName::KeepCnt => "TCP_KEEPCNT",
        SockOptName::MaxSeg => "TCP_MAXSEG",
        SockOptName::RcvBuf => "SO_RCVBUF",
        SockOptName::SndBuf => "SO_SNDBUF",
        SockOptName::Linger => "SO_LINGER",
        SockOptName::UserTimeout => "TCP_USER_TIMEOUT",
        SockOptName::ReuseAddr => "SO_REUSEADDR",
        SockOptName::ReusePort => "SO_REUSEPORT",
        SockOptName::Error => "SO_ERROR",
    }
}

fn opt_value(o: SockOpt) -> Option<(SockOptName, i64)> {
    Some(match o {
        SockOpt::NoDelay(b) => (SockOptName::NoDelay, i64::from(b)),
        SockOpt::KeepAlive(b) => (SockOptName::KeepAlive, i64::from(b)),
        SockOpt::KeepIdle(v) => (SockOptName::KeepIdle, i64::from(v)),
        SockOpt::KeepIntvl(v) => (SockOptName::KeepIntvl, i64::from(v)),
        SockOpt::KeepCnt(v) => (SockOptName::KeepCnt, i64::from(v)),
        SockOpt::MaxSeg(v) => (SockOptName::MaxSeg, i64::from(v)),
        SockOpt::RcvBuf(v) => (SockOptName::RcvBuf, i64::from(v)),
        SockOpt::SndBuf(v) => (SockOptName::SndBuf, i64::from(v)),
        SockOpt::Linger(v) => (SockOptName::Linger, v.map_or(-1, i64::from)),
        SockOpt::UserTimeout(v) => (SockOptName::UserTimeout, i64::from(v)),
        SockOpt::ReuseAddr(b) => (SockOptName::ReuseAddr, i64::from(b)),
        SockOpt::ReusePort(b) => (SockOptName::ReusePort, i64::from(b)),
        _ => return None,
    })
}

impl SocketApi for DutClient {
    fn describe(&self) -> String {
        self.stack.clone()
    }
    fn socket(&mut self, _: Duration, ipv6: bool) -> Result<Fd, Errno> {
        let m = self.ask("socket", json!({"ipv6": ipv6}))?;
        let theirs = self.int(&m, "socket", "fd")?;
        Ok(self.new_fd(theirs))
    }
    fn bind(&mut self, _: Duration, fd: Fd, addr: SocketAddr) -> Result<(), Errno> {
        self.ask("bind", json!({"fd": self.dut_fd(fd)?, "addr": addr.ip().to_string(), "port": addr.port()}))
            .map(|_| ())
    }
    fn listen(&mut self, _: Duration, fd: Fd, backlog: i32) -> Result<(), Errno> {
        self.ask("listen", json!({"fd": self.dut_fd(fd)?, "backlog": backlog})).map(|_| ())
    }
    fn accept(&mut self, _: Duration, fd: Fd) -> Result<Fd, Errno> {
        let m = self.ask("accept", json!({"fd": self.dut_fd(fd)?}))?;
        let theirs = self.int(&m, "accept", "fd")?;
        Ok(self.new_fd(theirs))
    }
    fn connect(&mut self, _: Duration, fd: Fd, addr: SocketAddr) -> Result<(), Errno> {
        self.ask("connect", json!({"fd": self.dut_fd(fd)?, "addr": addr.ip().to_string(), "port": addr.port()}))
            .map(|_| ())
    }
    fn send(&mut self, _: Duration, fd: Fd, data: &[u8]) -> Result<usize, Errno> {
        let m = self.ask("send", json!({"fd": self.dut_fd(fd)?, "data": hex(data)}))?;
        Ok(self.int(&m, "send", "n")?.max(0) as usize)
    }
    fn recv(&mut self, _: Duration, fd: Fd, max: usize, peek: bool) -> Result<Vec<u8>, Errno> {
        let m = self.ask("recv", json!({"fd": self.dut_fd(fd)?, "len": max, "peek": peek}))?;
        let d = self.field(&m, "recv", "data")?.as_str().and_then(unhex);
        d.ok_or_else(|| {
            let msg = self.failure("answered `recv` with `data` that is not a hex string");
            self.broken.get_or_insert(msg);
            Errno::EIO
        })
    }
    fn shutdown(&mut self, _: Duration, fd: Fd, how: Shutdown) -> Result<(), Errno> {
        let how = match how {
            Shutdown::Read => "SHUT_RD",
            Shutdown::Write => "SHUT_WR",
            Shutdown::Both => "SHUT_RDWR",
        };
        self.ask("shutdown", json!({"fd": self.dut_fd(fd)?, "how": how})).map(|_| ())
    }
    fn close(&mut self, _: Duration, fd: Fd) -> Result<(), Errno> {
        self.ask("close", json!({"fd": self.dut_fd(fd)?}))?;
        self.fds.remove(&fd);
        Ok(())
    }
    fn setsockopt(&mut self, _: Duration, fd: Fd, opt: SockOpt) -> Result<(), Errno> {
        let (name, value) = opt_value(opt).ok_or(Errno::ENOPROTOOPT)?;
        self.ask("setsockopt", json!({"fd": self.dut_fd(fd)?, "opt": opt_name(name), "value": value})).map(|_| ())
    }
    fn getsockopt(&mut self, _: Duration, fd: Fd, name: SockOptName) -> Result<SockOpt, Errno> {
        let m = self.ask("getsockopt", json!({"fd": self.dut_fd(fd)?, "opt": opt_name(name)}))?;
        if name == SockOptName::Error {
            // SO_ERROR: 0, or the pending error's name.
            return Ok(SockOpt::Error(match m.get("value") {
                Some(Value::String(e)) => Errno::from_name(e),
                _ => None,
            }));
        }
        let v = self.int(&m, "getsockopt", "value")?;
        let u = u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        Ok(match name {
            SockOptName::NoDelay => SockOpt::NoDelay(v != 0),
            SockOptName::KeepAlive => SockOpt::KeepAlive(v != 0),
            SockOptName::KeepIdle => SockOpt::KeepIdle(u),
            SockOptName::KeepIntvl => SockOpt::KeepIntvl(u),
            SockOptName::KeepCnt => SockOpt::KeepCnt(u),
            SockOptName::MaxSeg => SockOpt::MaxSeg(u),
            SockOptName::RcvBuf => SockOpt::RcvBuf(u),
            SockOptName::SndBuf => SockOpt::SndBuf(u),
            SockOptName::Linger => SockOpt::Linger((v >= 0).then_some(u)),
            SockOptName::UserTimeout => SockOpt::UserTimeout(u),
            SockOptName::ReuseAddr => SockOpt::ReuseAddr(v != 0),
            SockOptName::ReusePort => SockOpt::ReusePort(v != 0),
            SockOptName::Error => unreachable!("answered above"),
        })
    }
    fn poll(&mut self, _: Duration, fd: Fd) -> Result<PollEvents, Errno> {
        let m = self.ask("poll", json!({"fd": self.dut_fd(fd)?}))?;
        let names: Vec<String> = match self.field(&m, "poll", "events")? {
            Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
            _ => Vec::new(),
        };
        let has = |n: &str| names.iter().any(|x| x == n);
        Ok(PollEvents {
            readable: has("POLLIN"),
            writable: has("POLLOUT"),
            error: has("POLLERR"),
            hup: has("POLLHUP"),
            rdhup: has("POLLRDHUP"),
            pri: has("POLLPRI"),
        })
    }
    fn state(&mut self, fd: Fd) -> Result<State, Errno> {
        let m = self.ask("state", json!({"fd": self.dut_fd(fd)?}))?;
        Ok(self.state_field(&m, "state")?.unwrap_or(State::Closed))
    }
    fn connection_state(&mut self, conn: &FourTuple) -> Option<State> {
        let m =
            self.ask("conn_state", json!({"local": conn.local.to_string(), "remote": conn.remote.to_string()})).ok()?;
        self.state_field(&m, "conn_state").ok().flatten()
    }
}

/// A DUT as a target: the stack in real time behind its wire, its calls
/// over the protocol.
pub struct DutTarget {
    /// The script's namespace: this thread and the DUT are in it.
    _ns: Private,
    kind: TargetKind,
    client: DutClient,
    wire: RealWire,
    calls: Calls,
}

impl DutTarget {
    /// The bundled lwIP DUT for `script`. Call it on a thread made for this
    /// one script: the thread moves into a new private namespace, and the
    /// DUT is started there.
    pub fn lwip(script: &Script) -> Result<DutTarget, TargetError> {
        let program = lwip_program().map_err(TargetError::Setup)?;
        DutTarget::start(&[program.display().to_string()], script, TargetKind::Lwip)
    }

    pub fn start(cmd: &[String], script: &Script, kind: TargetKind) -> Result<DutTarget, TargetError> {
        let setup = |e: String| TargetError::Setup(e);
        let ns = Private::unshare().map_err(|e| setup(e.to_string()))?;
        let (ours, theirs) = SeqPacketLink::pair().map_err(|e| setup(format!("the DUT's link: {e}")))?;
        let client = DutClient::start(cmd, theirs, script.local).map_err(setup)?;
        let mut wire = RealWire::new(Box::new(ours), script.remote, &client.stack, None);
        wire.start();
        Ok(DutTarget { _ns: ns, kind, client, wire, calls: Calls::default() })
    }

    fn checked(&mut self) -> Result<(), TargetError> {
        match self.client.broken.take() {
            Some(m) => Err(TargetError::Dut(m)),
            None => Ok(()),
        }
    }
}

impl Target for DutTarget {
    fn kind(&self) -> TargetKind {
        self.kind
    }

    /// The stack's timers are not visible: as the kernel's.
    fn clock(&self) -> Clock {
        Clock::Real { slack_percent: 12.5, tick: Duration::ZERO }
    }

    fn now(&self) -> Duration {
        self.wire.elapsed()
    }

    fn advance(&mut self, t: Duration) -> Result<(), TargetError> {
        self.wire.advance(t)
    }

    fn descheduled(&self, from: Duration, to: Duration) -> Duration {
        self.wire.descheduled(from, to)
    }

    fn next_packet(&mut self, deadline: Duration) -> Result<Option<(Duration, IpPacket)>, TargetError> {
        self.wire.next_packet(deadline)
    }

    fn next_wakeup(&mut self) -> Option<Duration> {
        Some(self.wire.elapsed() + Duration::from_millis(2))
    }

    fn inject(&mut self, what: Inject<'_>) -> Result<(), TargetError> {
        let wire = match what {
            Inject::Tcp { wire, .. } | Inject::Icmp { wire } => wire,
        };
        self.wire.send(wire)?;
        self.client.sent += 1;
        self.wire.drain()
    }

    fn call(&mut self, call: &TargetCall) -> Result<CallOutcome, TargetError> {
        let now = self.wire.elapsed();
        let out = self.calls.make(&mut self.client, now, call);
        self.checked()?;
        self.wire.drain()?;
        out
    }

    fn retry(&mut self, call: &TargetCall) -> Result<CallOutcome, TargetError> {
        let now = self.wire.elapsed();
        let out = self.calls.retry(&mut self.client, now, call);
        self.checked()?;
        self.wire.drain()?;
        out
    }

    fn state(&mut self, fd: Option<Fd>, conn: FourTuple) -> Result<State, TargetError> {
        let st = match fd {
            Some(fd) => self.client.state(fd).unwrap_or(State::Closed),
            None => self.client.connection_state(&conn).unwrap_or(State::Closed),
        };
        self.checked()?;
        Ok(st)
    }

    fn tcp_info(&mut self, fd: Fd) -> Result<BTreeMap<&'static str, i64>, TargetError> {
        let r = self.client.tcp_info(fd);
        self.checked()?;
        r.map_err(|e| TargetError::Unsupported(format!("tcp_info on fd {fd}: {e}")))
    }

    fn info(&self) -> Vec<(String, String)> {
        vec![("stack".into(), self.client.stack.clone()), ("dut".into(), self.client.program.clone())]
    }
}
