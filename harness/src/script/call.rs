//! Socket calls: `name(args) = ret [ERRNO [(text)]]`.
//!
//! The compact forms (`bind(3, 8080)`, `write(4, 100)`, `setsockopt(3,
//! TCP_NODELAY, 1)`) and packetdrill's (`bind(3, ..., ...)`, `setsockopt(3,
//! SOL_SOCKET, SO_KEEPALIVE, [1], 4)`) both parse; `...` stands for an
//! argument the engine fills in.

use reference_stack::{Errno, Shutdown};
use std::net::SocketAddr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    Int(i64),
    /// A name or names joined by `|` (SOCK_STREAM, O_RDWR|O_NONBLOCK).
    Names(Vec<String>),
    Addr(SocketAddr),
    /// `[v]`: a value passed or returned by reference.
    Ref(Box<Arg>),
    Str(Vec<u8>),
    /// `...`
    Elided,
    /// `{key=value, ...}` (epoll_event).
    Struct(Vec<(String, String)>),
    /// `[a, b, ...]`: a list (sendmsg's iovec lengths).
    List(Vec<Arg>),
}

/// Socket options the engine knows (the reference stack's list: one list for
/// the language, the reference target and the Linux target).
pub use reference_stack::SockOptName as OptName;

/// poll(2) event bits, Linux's values (asm-generic/poll.h): every name
/// packetdrill's symbol table has.
pub mod pollbits {
    pub const POLLIN: u32 = 0x001;
    pub const POLLPRI: u32 = 0x002;
    pub const POLLOUT: u32 = 0x004;
    pub const POLLERR: u32 = 0x008;
    pub const POLLHUP: u32 = 0x010;
    pub const POLLNVAL: u32 = 0x020;
    pub const POLLRDNORM: u32 = 0x040;
    pub const POLLRDBAND: u32 = 0x080;
    pub const POLLWRNORM: u32 = 0x100;
    pub const POLLWRBAND: u32 = 0x200;
    pub const POLLMSG: u32 = 0x400;
    pub const POLLREMOVE: u32 = 0x1000;
    pub const POLLRDHUP: u32 = 0x2000;
    /// Every bit, by name, in the order names are shown.
    pub const ALL: &[(u32, &str)] = &[
        (POLLIN, "POLLIN"),
        (POLLPRI, "POLLPRI"),
        (POLLOUT, "POLLOUT"),
        (POLLERR, "POLLERR"),
        (POLLHUP, "POLLHUP"),
        (POLLNVAL, "POLLNVAL"),
        (POLLRDNORM, "POLLRDNORM"),
        (POLLRDBAND, "POLLRDBAND"),
        (POLLWRNORM, "POLLWRNORM"),
        (POLLWRBAND, "POLLWRBAND"),
        (POLLMSG, "POLLMSG"),
        (POLLREMOVE, "POLLREMOVE"),
        (POLLRDHUP, "POLLRDHUP"),
    ];
    pub fn from_name(s: &str) -> Option<u32> {
        ALL.iter().find(|b| b.1 == s).map(|b| b.0)
    }
    pub fn names(v: u32) -> String {
        let s: Vec<&str> = ALL.iter().filter(|(b, _)| v & b != 0).map(|x| x.1).collect();
        if s.is_empty() {
            "0".into()
        } else {
            s.join("|")
        }
    }
    /// What poll(2) reports for a socket of this readiness when `events`
    /// are asked for, as Linux's tcp_poll does: readable data is POLLIN and
    /// POLLRDNORM, room to write POLLOUT and POLLWRNORM, urgent data
    /// POLLPRI; POLLERR and POLLHUP whether asked for or not.
    pub fn revents(p: &reference_stack::PollEvents, events: u32) -> u32 {
        let mut m = 0;
        for (on, bits) in [
            (p.readable, POLLIN | POLLRDNORM),
            (p.writable, POLLOUT | POLLWRNORM),
            (p.pri, POLLPRI),
            (p.rdhup, POLLRDHUP),
        ] {
            if on {
                m |= bits & events;
            }
        }
        if p.error {
            m |= POLLERR;
        }
        if p.hup {
            m |= POLLHUP;
        }
        m
    }
}

/// How a call names its addresses: as the script wrote them ([`Scripted`]),
/// or resolved against the script's addresses and descriptors for a target
/// ([`Resolved`]). Everything else in a [`Call`] is the same in both forms.
pub trait Form: Clone + std::fmt::Debug + PartialEq + Eq {
    /// socket(2)'s family: AF_INET6 or not.
    type Family: Clone + std::fmt::Debug + PartialEq + Eq;
    /// bind(2)'s address.
    type Local: Clone + std::fmt::Debug + PartialEq + Eq;
    /// connect(2)'s address.
    type Remote: Clone + std::fmt::Debug + PartialEq + Eq;
    /// sendto(2)'s destination, if any.
    type Peer: Clone + std::fmt::Debug + PartialEq + Eq;
}

/// A call as the script wrote it: addresses left to the script's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scripted;

impl Form for Scripted {
    /// AF_INET6 named in the call (an IPv6 script's sockets are IPv6 anyway).
    type Family = bool;
    type Local = BindTo;
    /// `None`: the script's peer.
    type Remote = Option<SocketAddr>;
    /// `true`: the script's peer (`sendto(fd, ..., N, FLAGS, ..., ...)`).
    type Peer = bool;
}

/// A call as a target makes it: every address and descriptor concrete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolved;

impl Form for Resolved {
    /// IPv6.
    type Family = bool;
    type Local = SocketAddr;
    type Remote = SocketAddr;
    type Peer = Option<SocketAddr>;
}

/// bind(2)'s address as a script gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindTo {
    /// `bind(3, ...)`: the script's address and port.
    Default,
    /// `bind(3, 8080)`: the script's address, this port.
    Port(u16),
    /// `bind(3, 198.51.100.1:8080)`.
    Addr(SocketAddr),
}

/// What a write sends: `len` octets of [`pattern`], or the script's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    pub len: usize,
    pub data: Option<Vec<u8>>,
}

impl Payload {
    pub fn of_len(len: usize) -> Payload {
        Payload { len, data: None }
    }
    pub fn bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        match &self.data {
            Some(d) => d.as_slice().into(),
            None => pattern(self.len).into(),
        }
    }
}

/// The octets a call sends when the script gives only a length: one
/// pattern for every target and call, so traces show the same payload.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// The most octets one call may move (write, read, sendmsg's iovec...).
pub const MAX_CALL_LEN: u64 = 64 << 20;

/// A descriptor: the script's number, or (resolved) the target's.
pub type Fd = i32;
/// A constant's name as the kernel's headers spell it.
pub type Label = &'static str;
/// A byte string.
pub type Bytes = Vec<u8>;
/// An iovec's buffer lengths.
pub type Lengths = Vec<usize>;
/// An epoll_event's data when it is not a descriptor (`u32=N`, `u64=N`,
/// `ptr=N`): the 64 bits as given.
pub type Data = Option<u64>;
/// Control messages a send passes: (level, type, an int of data), Linux's
/// numbers.
pub type SendCmsgs = Vec<(i32, i32, i32)>;

/// How one form of a call becomes another: descriptors and addresses.
pub trait Resolve<A: Form, B: Form> {
    fn fd(&self, fd: Fd) -> Fd;
    fn family(&self, f: A::Family) -> B::Family;
    fn local(&self, a: A::Local) -> B::Local;
    fn remote(&self, a: A::Remote) -> B::Remote;
    fn peer(&self, a: A::Peer) -> B::Peer;
}

/// A call's field type in form `A`: the address kinds ([`kind`]) differ
/// by form; every other type is the same in both.
pub trait Field<A: Form> {
    type Ty: Clone + std::fmt::Debug + PartialEq + Eq;
}

/// The kinds of address a call can hold, each a type per [`Form`].
pub mod kind {
    pub struct Family;
    pub struct Local;
    pub struct Remote;
    pub struct Peer;
}
use kind::{Family, Local, Peer, Remote};

impl<A: Form> Field<A> for Family {
    type Ty = A::Family;
}
impl<A: Form> Field<A> for Local {
    type Ty = A::Local;
}
impl<A: Form> Field<A> for Remote {
    type Ty = A::Remote;
}
impl<A: Form> Field<A> for Peer {
    type Ty = A::Peer;
}
macro_rules! same_in_every_form {
    ($($t:ty),*) => { $(impl<A: Form> Field<A> for $t { type Ty = $t; })* };
}
same_in_every_form!(
    bool, i32, i64, u32, u64, usize, String, Payload, Shutdown, OptName, Label, Bytes, Lengths, Data, SendCmsgs
);

// How a field is mapped from one form to another, by its declared type:
// descriptors and addresses through the resolver, the rest kept.
macro_rules! map_field {
    ($r:ident, Fd, $v:ident) => {
        $r.fd($v)
    };
    ($r:ident, Family, $v:ident) => {
        $r.family($v)
    };
    ($r:ident, Local, $v:ident) => {
        $r.local($v)
    };
    ($r:ident, Remote, $v:ident) => {
        $r.remote($v)
    };
    ($r:ident, Peer, $v:ident) => {
        $r.peer($v)
    };
    ($r:ident, $t:ident, $v:ident) => {
        $v
    };
}
macro_rules! fd_field {
    (Fd, $v:ident) => {
        Some(*$v)
    };
    ($t:ident, $v:ident) => {{
        let _ = $v;
        None::<Fd>
    }};
}

/// Declares [`Call`] once: each variant with its fields, and `linux "why"`
/// after the calls only Linux has (the reference target answers those with
/// the reason, in one place). [`Call::map`], [`Call::fd`] and
/// [`Call::linux_only`] follow from the declaration.
macro_rules! calls {
    ($( $(#[$m:meta])* $V:ident { $($f:ident: $t:ident),* $(,)? } $(linux $why:literal)? ;)*) => {
        /// A socket call: the operation only (what it must return is the
        /// step's, [`CallSpec`]), in form `A`: [`Scripted`] as parsed,
        /// [`Resolved`] as a target makes it.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Call<A: Form = Scripted> {
            $( $(#[$m])* $V { $($f: <$t as Field<A>>::Ty),* }, )*
        }

        impl<A: Form> Call<A> {
            /// The same call in form `B`: resolving is a map.
            pub fn map<B: Form>(self, r: &impl Resolve<A, B>) -> Call<B> {
                match self {
                    $( Call::$V { $($f),* } => Call::$V { $($f: map_field!(r, $t, $f)),* }, )*
                }
            }

            /// The descriptor the call works on (its first), if any.
            pub fn fd(&self) -> Option<Fd> {
                match self {
                    $( Call::$V { $($f),* } => None $(.or(fd_field!($t, $f)))*, )*
                }
            }

            /// Why only Linux can make this call, if that is so.
            pub fn linux_only(&self) -> Option<&'static str> {
                match self {
                    $( Call::$V { .. } => None $(.or(Some($why)))?, )*
                }
            }
        }
    };
}

calls! {
    Socket { ipv6: Family };
    Bind { fd: Fd, addr: Local };
    Listen { fd: Fd, backlog: i32 };
    Accept { fd: Fd };
    Connect { fd: Fd, addr: Remote };
    /// `connect(fd, AF_UNSPEC, ...)`: Linux's tcp_disconnect (a RST if the
    /// connection is synchronized, then CLOSED; the socket can connect again).
    Disconnect { fd: Fd } linux "connect with an AF_UNSPEC address (tcp_disconnect) is Linux's";
    /// write, send, sendto. `flags`: Linux-only send flags beyond MSG_OOB
    /// (MSG_EOR, MSG_MORE, MSG_ZEROCOPY, MSG_FASTOPEN, MSG_DONTWAIT), as
    /// Linux numbers; `to`: sendto's destination (a fast-open connect).
    Write { fd: Fd, data: Payload, oob: bool, flags: i32, to: Peer };
    /// read, recv, recvfrom. `flags`: Linux-only receive flags beyond
    /// MSG_PEEK (MSG_DONTWAIT, MSG_WAITALL, MSG_TRUNC), as Linux numbers.
    Read { fd: Fd, len: usize, peek: bool, flags: i32 };
    Shutdown { fd: Fd, how: Shutdown };
    Close { fd: Fd };
    SetSockOpt { fd: Fd, opt: OptName, value: i64 };
    /// setsockopt(fd, TCP_CONGESTION, "name").
    SetCongestion { fd: Fd, algo: String };
    /// The value read comes back as the call's `out`.
    GetSockOpt { fd: Fd, opt: OptName };
    /// fcntl(fd, F_SETFL, O_NONBLOCK or not).
    SetNonBlocking { fd: Fd, on: bool };
    /// fcntl(fd, F_GETFL).
    GetFl { fd: Fd };
    /// Returns the revents mask; blocks up to `timeout_ms` (-1: forever) if empty.
    Poll { fd: Fd, events: u32, timeout_ms: i64 };
    /// `epoll_create(N) = fd`.
    EpollCreate {} linux "epoll (Linux only)";
    /// `epoll_ctl(epfd, EPOLL_CTL_ADD|MOD|DEL, fd, {events=E, fd=N}) = 0`.
    /// The event's data is the descriptor `data_fd` (`fd=N`, the watched
    /// one by default), or `data` (`u32=N`, `u64=N`, `ptr=N`) when given.
    EpollCtl { epfd: Fd, op: i32, fd: Fd, events: u32, data_fd: Fd, data: Data } linux "epoll (Linux only)";
    /// `epoll_wait(epfd, {events=E, fd=N}, MAX, TIMEOUT_MS) = COUNT`; the
    /// first event comes back as `out`.
    EpollWait { epfd: Fd, max: i32, timeout_ms: i64 } linux "epoll (Linux only)";
    /// `ioctl(fd, SIOCINQ, [N]) = 0` (SIOCINQ or FIONREAD, SIOCOUTQ, SIOCOUTQNSD): the
    /// count comes back as `out`.
    Ioctl { fd: Fd, label: Label, request: u64 } linux "ioctls that count a socket's queues (SIOCINQ, SIOCOUTQ, SIOCOUTQNSD) are Linux's";
    /// A socket option only Linux has (TCP_FASTOPEN, SO_ZEROCOPY, ...), by
    /// its Linux level and number: set `value`, or read it (`get`, as `out`).
    LinuxOpt { fd: Fd, get: bool, label: Label, level: i32, name: i32, value: i64 } linux "a socket option only Linux has";
    /// `sendmsg(fd, [L1, L2, ...], FLAGS) = N`: one send of an iovec of
    /// buffers of these lengths (with MSG_ZEROCOPY each becomes a fragment
    /// of the packet, so the split matters).
    /// `cmsgs`: control messages passed with it (`[{cmsg_level=SOL_SOCKET,
    /// cmsg_type=SO_TIMESTAMPING, cmsg_data=SOF_TIMESTAMPING_TX_SCHED}]`
    /// after the flags: this send's timestamping, mark or priority).
    SendMsg { fd: Fd, iov: Lengths, flags: i32, cmsgs: SendCmsgs } linux "sendmsg with an iovec (zerocopy fragments) is Linux's";
    /// `recvmsg(fd, LEN, FLAGS) = N`: the msghdr's flags and control
    /// messages come back as `out`. A plain recvmsg(fd, LEN, 0) is a read
    /// on the reference target.
    RecvMsg { fd: Fd, len: usize, flags: i32 };
    /// A Linux socket option whose value is bytes (TCP_FASTOPEN_KEY):
    /// `setsockopt(fd, SOL_TCP, TCP_FASTOPEN_KEY, "\x..", LEN)`; the value
    /// is passed with length LEN (zero-padded or cut).
    LinuxOptBytes { fd: Fd, label: Label, level: i32, name: i32, value: Bytes, len: usize } linux "a socket option only Linux has (its value is bytes)";
    /// `getsockopt(fd, SOL_TCP, TCP_CONGESTION, "cubic", [5]) = 0`: an
    /// option read as `len` octets; they come back as `out` (packetdrill's
    /// rule: the kernel's length must be `len` and the octets the string).
    GetOptBytes { fd: Fd, label: Label, level: i32, name: i32, len: usize } linux "a socket option read as bytes is Linux's";
    /// `pipe([R, W]) = 0`: the two ends come back as `out`.
    Pipe {} linux "pipes and splice are the kernel's, not the reference stack's";
    /// `splice(IN, NULL, OUT, NULL, LEN, FLAGS) = N`: moves up to LEN bytes
    /// from a socket to a pipe or back.
    Splice { fd_in: Fd, fd_out: Fd, len: usize, flags: u32 } linux "pipes and splice are the kernel's, not the reference stack's";
    /// `fcntl(fd, CMD, ARG)` beyond O_NONBLOCK: F_SETFL with O_APPEND,
    /// F_GETFD/F_SETFD, F_DUPFD (a new descriptor), owner, signal, lease
    /// and notify commands, passed to the kernel as numbers.
    Fcntl { fd: Fd, label: Label, cmd: i32, arg: i64 } linux "fcntl commands beyond F_GETFL and F_SETFL's O_NONBLOCK are the kernel's";
    /// `sendto(fd, ..., N, FLAGS, AF_UNSPEC, ...)`: an address of family
    /// AF_UNSPEC (with MSG_FASTOPEN Linux refuses it, EOPNOTSUPP).
    SendToUnspec { fd: Fd, data: Payload, flags: i32 } linux "sendto with an AF_UNSPEC address is Linux's";
    /// `write(fd, NULL, N)`, `send`, `sendto`, `read`, `recv`, `recvfrom`
    /// with a NULL buffer: the kernel's EFAULT paths.
    NullBuffer { fd: Fd, write: bool, len: usize, flags: i32, to: Peer } linux "NULL buffers (EFAULT) are a property of the system call layer, which the reference stack has not";
}

/// What a call gives back besides its return value, and what the step
/// says it must be (a `getsockopt`'s value, the msghdr of a `recvmsg`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum OutCheck {
    /// Nothing to check.
    #[default]
    None,
    /// The value read back (getsockopt, a Linux option read, ioctl).
    Value(Expect),
    /// epoll_wait's first event: its bits and data (`None`: no event).
    Event(Option<(u32, EventData)>),
    /// recvmsg's msghdr: its flags and control messages, each unchecked when absent.
    Msg { flags: Option<i32>, cmsgs: Option<Vec<Cmsg>> },
    /// pipe's two ends, as the script names them.
    Ends([Fd; 2]),
    /// An option's octets, as read (GetOptBytes).
    Bytes(Bytes),
}

/// The MSG_ flags of send(2) and recv(2), Linux's values
/// (linux/socket.h): every name packetdrill's symbol table has. recvmsg's
/// flags, in and out, are named from it.
pub const RECV_FLAGS: &[(&str, i32)] = &[
    ("MSG_OOB", 0x1),
    ("MSG_PEEK", 0x2),
    ("MSG_DONTROUTE", 0x4),
    ("MSG_CTRUNC", 0x8),
    ("MSG_PROXY", 0x10),
    ("MSG_TRUNC", 0x20),
    ("MSG_DONTWAIT", 0x40),
    ("MSG_EOR", 0x80),
    ("MSG_WAITALL", 0x100),
    ("MSG_FIN", 0x200),
    ("MSG_SYN", 0x400),
    ("MSG_CONFIRM", 0x800),
    ("MSG_RST", 0x1000),
    ("MSG_ERRQUEUE", 0x2000),
    ("MSG_NOSIGNAL", 0x4000),
    ("MSG_MORE", 0x8000),
    ("MSG_ZEROCOPY", 0x0400_0000),
    ("MSG_FASTOPEN", 0x2000_0000),
    ("MSG_CMSG_CLOEXEC", 0x4000_0000),
];

/// Names of recvmsg flag bits.
pub fn recv_flag_names(v: i32) -> String {
    if v == 0 {
        return "0".into();
    }
    let mut parts: Vec<String> = RECV_FLAGS.iter().filter(|(_, b)| v & b != 0).map(|(n, _)| (*n).to_string()).collect();
    let rest = v & !RECV_FLAGS.iter().fold(0, |m, f| m | f.1);
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    parts.join("|")
}

/// Parses `MSG_ERRQUEUE|MSG_TRUNC`, `0` or a number.
pub fn parse_recv_flags(s: &str) -> Result<i32, String> {
    let mut m = 0;
    for n in s.split('|').map(str::trim) {
        m |= match parse_int(n) {
            Some(v) => i32::try_from(v).map_err(|_| format!("`{n}` is out of range"))?,
            None => RECV_FLAGS.iter().find(|f| f.0 == n).map(|f| f.1).ok_or_else(|| {
                format!(
                    "`{n}` is not a recvmsg flag ({})",
                    RECV_FLAGS.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")
                )
            })?,
        };
    }
    Ok(m)
}

/// A control message of recvmsg(2), as the script expects it or as the
/// target returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmsg {
    /// SOL_TCP / TCP_CM_INQ: bytes left to read (needs TCP_INQ set).
    Inq(i64),
    /// SOL_SOCKET / SCM_TIMESTAMPING: the software timestamp (ts[0]) in
    /// microseconds of script time; as expected, `None` is not checked
    /// (packetdrill's zero).
    Timestamping(Option<i64>),
    /// SOL_IP / IP_RECVERR (or SOL_IPV6 / IPV6_RECVERR): a sock_extended_err.
    RecvErr(ExtErr),
    /// SOL_SOCKET / SCM_TIMESTAMPING_OPT_STATS (SOF_TIMESTAMPING_OPT_STATS):
    /// the connection's TCP_NLA_ attributes, by name (without `TCP_NLA_`,
    /// lower case); as expected, every one the kernel sends, `None` not checked.
    OptStats(Vec<(String, Option<u64>)>),
    /// Any other control message, by level and type (never expected).
    Other { level: i32, kind: i32, len: usize },
}

/// SCM_TIMESTAMPING_OPT_STATS's attributes (linux/tcp.h's TCP_NLA_*):
/// number and name. The first three are times in microseconds.
pub const OPT_STATS: &[(u16, &str)] = &[
    (0, "pad"),
    (1, "busy"),
    (2, "rwnd_limited"),
    (3, "sndbuf_limited"),
    (4, "data_segs_out"),
    (5, "total_retrans"),
    (6, "pacing_rate"),
    (7, "delivery_rate"),
    (8, "snd_cwnd"),
    (9, "reordering"),
    (10, "min_rtt"),
    (11, "recur_retrans"),
    (12, "delivery_rate_app_lmt"),
    (13, "sndq_size"),
    (14, "ca_state"),
    (15, "snd_ssthresh"),
    (16, "delivered"),
    (17, "delivered_ce"),
    (18, "bytes_sent"),
    (19, "bytes_retrans"),
    (20, "dsack_dups"),
    (21, "reord_seen"),
    (22, "srtt"),
    (23, "timeout_rehash"),
    (24, "bytes_notsent"),
    (25, "edt"),
    (26, "ttl"),
    (27, "rehash"),
];

/// An OPT_STATS attribute's name for its number (`nla_N` for one this
/// table lacks).
pub fn opt_stat_name(n: u16) -> String {
    OPT_STATS.iter().find(|a| a.0 == n).map_or_else(|| format!("nla_{n}"), |a| a.1.to_string())
}

/// packetdrill's rule for one attribute: the busy and limited times
/// within `tol_us` when the expected one is not zero (exactly zero when it
/// is), the others exactly; an unchecked one always.
pub fn opt_stat_holds(name: &str, want: Option<u64>, got: Option<u64>, tol_us: u64) -> bool {
    match (want, got) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(w), Some(g)) if ["busy", "rwnd_limited", "sndbuf_limited"].contains(&name) && w != 0 => {
            w.abs_diff(g) <= tol_us
        }
        (Some(w), Some(g)) => w == g,
    }
}

/// struct sock_extended_err (linux/errqueue.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ExtErr {
    pub errno: u32,
    pub origin: u8,
    pub kind: u8,
    pub code: u8,
    pub info: u32,
    pub data: u32,
}

/// Named values of sock_extended_err's fields (linux/errqueue.h,
/// asm-generic/errno.h); packetdrill's names.
pub const EXT_ERR_NAMES: &[(&str, i64)] = &[
    ("ENOMSG", 42),
    ("EMSGSIZE", 90),
    ("ECONNREFUSED", 111),
    ("EHOSTUNREACH", 113),
    ("ETIMEDOUT", 110),
    ("SO_EE_ORIGIN_NONE", 0),
    ("SO_EE_ORIGIN_LOCAL", 1),
    ("SO_EE_ORIGIN_ICMP", 2),
    ("SO_EE_ORIGIN_ICMP6", 3),
    ("SO_EE_ORIGIN_TIMESTAMPING", 4),
    ("SO_EE_ORIGIN_TXSTATUS", 4),
    ("SO_EE_ORIGIN_ZEROCOPY", 5),
    ("SO_EE_ORIGIN_TXTIME", 6),
    ("SO_EE_CODE_ZEROCOPY_COPIED", 1),
    ("SCM_TSTAMP_SND", 0),
    ("SCM_TSTAMP_SCHED", 1),
    ("SCM_TSTAMP_ACK", 2),
];

impl std::fmt::Display for Cmsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cmsg::Inq(v) => write!(f, "{{inq: {v}}}"),
            Cmsg::Timestamping(None) => write!(f, "{{timestamping: *}}"),
            Cmsg::Timestamping(Some(us)) => write!(f, "{{timestamping: {:.6}}}", *us as f64 / 1e6),
            Cmsg::RecvErr(e) => write!(
                f,
                "{{recverr: {{errno: {}, origin: {}, type: {}, code: {}, info: {}, data: {}}}}}",
                e.errno, e.origin, e.kind, e.code, e.info, e.data
            ),
            Cmsg::OptStats(attrs) => {
                let a: Vec<String> = attrs
                    .iter()
                    .map(|(k, v)| match v {
                        Some(v) => format!("{k}: {v}"),
                        None => format!("{k}: \"*\""),
                    })
                    .collect();
                write!(f, "{{opt_stats: {{{}}}}}", a.join(", "))
            }
            Cmsg::Other { level, kind, len } => write!(f, "{{level: {level}, type: {kind}, len: {len}}}"),
        }
    }
}

/// Shows a list of control messages.
pub fn cmsgs_text(c: &[Cmsg]) -> String {
    format!("[{}]", c.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
}

/// What a call returns (or must return).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// A non-negative return value.
    Value(i64),
    /// -1 with this errno.
    Error(Errno),
    /// poll revents.
    Events(u32),
    /// `*`: anything.
    Any,
    /// `-1` alone: fails, with any errno (packetdrill's reading).
    Failed,
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Value(v) => write!(f, "{v}"),
            Expect::Error(e) => write!(f, "-1 {}", e.name()),
            Expect::Events(v) => write!(f, "{}", pollbits::names(*v)),
            Expect::Any => write!(f, "*"),
            Expect::Failed => write!(f, "-1"),
        }
    }
}

/// A call step: the call, what it must return, and what it must give back
/// besides (a value read, an event, a msghdr, a pipe's ends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallSpec {
    pub call: Call,
    pub expect: Expect,
    pub out: OutCheck,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallError {
    pub message: String,
    pub at: usize,
    pub len: usize,
    pub help: Option<String>,
}

fn cerr(message: impl Into<String>, at: usize, len: usize, help: Option<&str>) -> CallError {
    CallError { message: message.into(), at, len: len.max(1), help: help.map(String::from) }
}

/// Socket options only Linux has, run on the Linux target alone:
/// (name, level, number) as in the kernel's uapi headers.
pub const LINUX_OPTS: &[(&str, i32, i32)] = &[
    ("TCP_CORK", 6, 3),
    ("TCP_SYNCNT", 6, 7),
    ("TCP_LINGER2", 6, 8),
    ("TCP_DEFER_ACCEPT", 6, 9),
    ("TCP_WINDOW_CLAMP", 6, 10),
    ("TCP_QUICKACK", 6, 12),
    ("TCP_THIN_LINEAR_TIMEOUTS", 6, 16),
    ("TCP_FASTOPEN", 6, 23),
    ("TCP_NOTSENT_LOWAT", 6, 25),
    ("TCP_SAVE_SYN", 6, 27),
    ("TCP_FASTOPEN_CONNECT", 6, 30),
    ("TCP_FASTOPEN_NO_COOKIE", 6, 34),
    ("TCP_INQ", 6, 36),
    ("TCP_TX_DELAY", 6, 37),
    ("SO_PRIORITY", 1, 12),
    ("SO_RCVLOWAT", 1, 18),
    ("SO_SNDLOWAT", 1, 19),
    ("SO_MARK", 1, 36),
    ("SO_BUSY_POLL", 1, 46),
    ("SO_MAX_PACING_RATE", 1, 47),
    ("SO_ZEROCOPY", 1, 60),
    ("SO_TIMESTAMPING", 1, 37),
    ("IP_TOS", 0, 1),
    ("IP_TTL", 0, 2),
    ("IP_MTU_DISCOVER", 0, 10),
    ("IP_FREEBIND", 0, 15),
    ("IP_RECVERR", 0, 11),
    ("IPV6_TCLASS", 41, 67),
    // The rest of packetdrill's symbol table: passed to the kernel as the
    // script gives them, an integer (or bytes) whatever the option's type,
    // as packetdrill does (a struct-valued option given 4 octets gets the
    // kernel's EINVAL, as under packetdrill).
    ("SO_DEBUG", 1, 1),
    ("SO_TYPE", 1, 3),
    ("SO_DONTROUTE", 1, 5),
    ("SO_BROADCAST", 1, 6),
    ("SO_OOBINLINE", 1, 10),
    ("SO_NO_CHECK", 1, 11),
    ("SO_BSDCOMPAT", 1, 14),
    ("SO_PASSCRED", 1, 16),
    ("SO_PEERCRED", 1, 17),
    ("SO_RCVTIMEO", 1, 20),
    ("SO_SNDTIMEO", 1, 21),
    ("SO_SECURITY_AUTHENTICATION", 1, 22),
    ("SO_SECURITY_ENCRYPTION_TRANSPORT", 1, 23),
    ("SO_SECURITY_ENCRYPTION_NETWORK", 1, 24),
    ("SO_BINDTODEVICE", 1, 25),
    ("SO_ATTACH_FILTER", 1, 26),
    ("SO_DETACH_FILTER", 1, 27),
    ("SO_PEERNAME", 1, 28),
    ("SO_TIMESTAMP", 1, 29),
    ("SO_ACCEPTCONN", 1, 30),
    ("SO_PEERSEC", 1, 31),
    ("TCP_INFO", 6, 11),
    ("TCP_MD5SIG", 6, 14),
    ("TCP_COOKIE_TRANSACTIONS", 6, 15),
    ("TCP_THIN_DUPACK", 6, 17),
    ("TCP_TIMESTAMP", 6, 24),
    ("IP_MTU", 0, 14),
    ("IPV6_MTU_DISCOVER", 41, 23),
    ("IPV6_MTU", 41, 24),
    ("IPV6_HOPLIMIT", 41, 52),
];

/// A flags argument: absent, `...`, a number, or names from `table` (and
/// MSG_OOB) joined by `|`.
fn msg_flags(a: Option<&(usize, Arg)>, at: usize, table: &[(&str, i32)]) -> Result<i32, CallError> {
    match a.map(|a| &a.1) {
        None | Some(Arg::Elided) => Ok(0),
        Some(Arg::Int(v)) => i32::try_from(*v).map_err(|_| cerr("flags out of range", at, 1, None)),
        Some(Arg::Names(n)) => n.iter().try_fold(0, |m, x| match table.iter().find(|f| f.0 == x) {
            Some(f) => Ok(m | f.1),
            None if x == "MSG_OOB" => Ok(m | 1),
            None => Err(cerr(
                format!("`{x}` is not a flag here ({})", table.iter().map(|f| f.0).collect::<Vec<_>>().join(", ")),
                at,
                1,
                None,
            )),
        }),
        Some(_) => Err(cerr("expected flags: MSG_ names joined by `|`, or a number", at, 1, None)),
    }
}

/// Receive flags: every MSG_ name; MSG_PEEK is the call's `peek`, the
/// rest go to the call as Linux's numbers (the reference stack models
/// MSG_DONTWAIT, MSG_WAITALL and MSG_TRUNC's absence only).
pub const READ_FLAGS: &[(&str, i32)] = RECV_FLAGS;

/// Send flags: every MSG_ name; MSG_OOB is the call's `oob`, the rest go
/// to the call as Linux's numbers (only Linux takes them).
pub const MSG_FLAGS: &[(&str, i32)] = RECV_FLAGS;

/// The receive flags the reference stack and the in-process adapters
/// take (and ignore: their reads never block past what the engine drives).
pub const PLAIN_READ_FLAGS: i32 = 0x20 | 0x40 | 0x100;

/// epoll event bits (linux/eventpoll.h).
pub const EPOLL_EVENTS: &[(&str, u32)] = &[
    ("EPOLLIN", 0x1),
    ("EPOLLPRI", 0x2),
    ("EPOLLOUT", 0x4),
    ("EPOLLERR", 0x8),
    ("EPOLLHUP", 0x10),
    ("EPOLLRDNORM", 0x40),
    ("EPOLLRDBAND", 0x80),
    ("EPOLLWRNORM", 0x100),
    ("EPOLLWRBAND", 0x200),
    ("EPOLLMSG", 0x400),
    ("EPOLLRDHUP", 0x2000),
    ("EPOLLEXCLUSIVE", 1 << 28),
    ("EPOLLWAKEUP", 1 << 29),
    ("EPOLLONESHOT", 1 << 30),
    ("EPOLLET", 1 << 31),
];

/// Names of epoll event bits.
pub fn epoll_names(v: u32) -> String {
    if v == 0 {
        return "0".into();
    }
    EPOLL_EVENTS.iter().filter(|(_, b)| v & b != 0).map(|(n, _)| *n).collect::<Vec<_>>().join("|")
}

/// An epoll event's data as a script gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventData {
    /// `fd=N`: a descriptor, the script's number.
    Fd(Fd),
    /// `u32=N`, `u64=N`, `ptr=N`: the bits.
    Value(u64),
}

/// `{events=E, fd=N}`, `{events=E, u32=N}` (or `u64=`, `ptr=`): the bits
/// and the data, if given.
fn epoll_event(fields: &[(String, String)]) -> Result<(u32, Option<EventData>), String> {
    let mut events = None;
    let mut fd = None;
    for (k, v) in fields {
        match k.as_str() {
            "events" => {
                let mut m = 0;
                for n in v.split('|').map(str::trim) {
                    m |= match parse_int(n) {
                        Some(x) => x as u32,
                        None => EPOLL_EVENTS
                            .iter()
                            .find(|e| e.0 == n)
                            .map(|e| e.1)
                            .ok_or(format!("`{n}` is not an epoll event"))?,
                    };
                }
                events = Some(m);
            }
            "fd" => fd = Some(EventData::Fd(parse_int(v).ok_or(format!("`{v}` is not a descriptor"))? as i32)),
            "ptr" | "u32" | "u64" => {
                let n = parse_int(v).ok_or(format!("`{k}={v}`: not a number"))?;
                let n = match k.as_str() {
                    "u32" => u64::from(u32::try_from(n).map_err(|_| format!("`u32={v}` is out of range"))?),
                    _ => n as u64,
                };
                fd = Some(EventData::Value(n));
            }
            other => return Err(format!("`{other}={v}` in an epoll_event: its data is fd=N, u32=N, u64=N or ptr=N")),
        }
    }
    Ok((events.ok_or("an epoll_event needs events=")?, fd))
}

/// Options whose value is bytes and that the language sets otherwise
/// (SetCongestion, LinuxOptBytes): for reading them as bytes.
const BYTES_OPTS: &[(&str, i32, i32)] = &[("TCP_CONGESTION", 6, 13), ("TCP_FASTOPEN_KEY", 6, 33)];

/// Socket levels by name (linux/socket.h, netinet/in.h).
const LEVELS: &[(&str, i32)] =
    &[("SOL_SOCKET", 1), ("SOL_IP", 0), ("SOL_TCP", 6), ("IPPROTO_TCP", 6), ("SOL_IPV6", 41), ("SOL_UDP", 17)];

/// One control message of a send: `{cmsg_level=L, cmsg_type=T,
/// cmsg_data=D}`, each a number or a name (a level, a socket option or
/// SCM_ name, a value of one), as packetdrill writes it.
fn send_cmsg(a: &Arg) -> Result<(i32, i32, i32), String> {
    let Arg::Struct(fields) = a else {
        return Err("a control message is {cmsg_level=L, cmsg_type=T, cmsg_data=D}".into());
    };
    let get = |k: &str| {
        fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim()).ok_or(format!("a control message needs {k}="))
    };
    if let Some((k, _)) = fields.iter().find(|(n, _)| !["cmsg_level", "cmsg_type", "cmsg_data"].contains(&n.as_str())) {
        return Err(format!("`{k}` is not a field of a control message (cmsg_level, cmsg_type, cmsg_data)"));
    }
    let num = |v: &str, names: &dyn Fn(&str) -> Option<i64>| -> Result<i32, String> {
        let mut m = 0i64;
        for n in v.split('|').map(str::trim) {
            m |= parse_int(n).or_else(|| names(n)).ok_or(format!("`{n}` is not a number or a name this takes"))?;
        }
        i32::try_from(m).or_else(|_| u32::try_from(m).map(|u| u as i32)).map_err(|_| format!("`{v}` is out of range"))
    };
    let level = num(get("cmsg_level")?, &|n| LEVELS.iter().find(|l| l.0 == n).map(|l| i64::from(l.1)))?;
    // SCM_TIMESTAMPING is SO_TIMESTAMPING, SCM_TXTIME SO_TXTIME (asm-generic/socket.h).
    let ty = num(get("cmsg_type")?, &|n| match n {
        "SCM_TIMESTAMPING" => Some(37),
        "SCM_TXTIME" | "SO_TXTIME" => Some(61),
        _ => LINUX_OPTS.iter().find(|o| o.0 == n).map(|o| i64::from(o.2)),
    })?;
    let data = num(get("cmsg_data")?, &|n| LINUX_OPT_VALUES.iter().find(|v| v.0 == n).map(|v| v.1))?;
    Ok((level, ty, data))
}

/// Socket ioctls (asm-generic/ioctls.h, linux/sockios.h).
const IOCTLS: &[(&str, u64)] =
    &[("SIOCINQ", 0x541B), ("FIONREAD", 0x541B), ("SIOCOUTQ", 0x5411), ("SIOCOUTQNSD", 0x894B)];

/// Named values of those options.
const LINUX_OPT_VALUES: &[(&str, i64)] = &[
    ("IP_PMTUDISC_DONT", 0),
    ("IP_PMTUDISC_WANT", 1),
    ("IP_PMTUDISC_DO", 2),
    ("IP_PMTUDISC_PROBE", 3),
    // packetdrill's name for the kernel's "no slow-start threshold yet".
    ("TCP_INFINITE_SSTHRESH", 0x7fff_ffff),
    // SO_TIMESTAMPING's bits (linux/net_tstamp.h).
    ("SOF_TIMESTAMPING_TX_HARDWARE", 1),
    ("SOF_TIMESTAMPING_TX_SOFTWARE", 1 << 1),
    ("SOF_TIMESTAMPING_RX_HARDWARE", 1 << 2),
    ("SOF_TIMESTAMPING_RX_SOFTWARE", 1 << 3),
    ("SOF_TIMESTAMPING_SOFTWARE", 1 << 4),
    ("SOF_TIMESTAMPING_SYS_HARDWARE", 1 << 5),
    ("SOF_TIMESTAMPING_RAW_HARDWARE", 1 << 6),
    ("SOF_TIMESTAMPING_OPT_ID", 1 << 7),
    ("SOF_TIMESTAMPING_TX_SCHED", 1 << 8),
    ("SOF_TIMESTAMPING_TX_ACK", 1 << 9),
    ("SOF_TIMESTAMPING_OPT_CMSG", 1 << 10),
    ("SOF_TIMESTAMPING_OPT_TSONLY", 1 << 11),
    ("SOF_TIMESTAMPING_OPT_STATS", 1 << 12),
    ("SOF_TIMESTAMPING_OPT_PKTINFO", 1 << 13),
    ("SOF_TIMESTAMPING_OPT_TX_SWHW", 1 << 14),
];

/// fcntl(2) commands, Linux's numbers (asm-generic/fcntl.h,
/// linux/fcntl.h; on 64-bit Linux the *64 lock commands are the plain ones).
pub const FCNTL_CMDS: &[(&str, i32)] = &[
    ("F_DUPFD", 0),
    ("F_GETFD", 1),
    ("F_SETFD", 2),
    ("F_GETFL", 3),
    ("F_SETFL", 4),
    ("F_GETLK", 5),
    ("F_SETLK", 6),
    ("F_SETLKW", 7),
    ("F_GETLK64", 5),
    ("F_SETLK64", 6),
    ("F_SETLKW64", 7),
    ("F_SETOWN", 8),
    ("F_GETOWN", 9),
    ("F_SETSIG", 10),
    ("F_GETSIG", 11),
    ("F_SETLEASE", 1024),
    ("F_GETLEASE", 1025),
    ("F_NOTIFY", 1026),
    ("F_DUPFD_CLOEXEC", 1030),
];

/// fcntl(2) arguments by name: open flags (asm-generic/fcntl.h),
/// FD_CLOEXEC, and lease and lock types.
pub const FCNTL_VALUES: &[(&str, i64)] = &[
    ("O_RDONLY", 0),
    ("O_WRONLY", 0o1),
    ("O_RDWR", 0o2),
    ("O_ACCMODE", 0o3),
    ("O_CREAT", 0o100),
    ("O_EXCL", 0o200),
    ("O_NOCTTY", 0o400),
    ("O_TRUNC", 0o1000),
    ("O_APPEND", 0o2000),
    ("O_NONBLOCK", 0o4000),
    ("FD_CLOEXEC", 1),
    ("F_RDLCK", 0),
    ("F_WRLCK", 1),
    ("F_UNLCK", 2),
    ("F_EXLCK", 4),
    ("F_SHLCK", 8),
];
const O_ACCMODE: i64 = 0o3;
const O_CREATION: i64 = 0o100 | 0o200 | 0o400 | 0o1000;
const O_NONBLOCK_FLAG: i64 = 0o4000;

pub const CALLS: &str =
    "socket, bind, listen, accept, connect, write, send, sendto, sendmsg, read, recv, recvfrom, recvmsg, pipe, splice, shutdown, close, setsockopt, getsockopt, fcntl, poll, ioctl, epoll_create, epoll_ctl, epoll_wait";

/// Splits `a, b, [c, d], "e,f"` on top-level commas, keeping offsets.
fn split_args(s: &str, base: usize) -> Result<Vec<(usize, &str)>, CallError> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, false, 0);
    for (i, c) in s.char_indices() {
        match c {
            '"' => quote = !quote,
            '[' | '{' | '(' if !quote => depth += 1,
            ']' | '}' | ')' if !quote => depth -= 1,
            ',' if !quote && depth == 0 => {
                out.push((start, &s[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    if quote {
        return Err(cerr("unclosed string", base + start, 1, None));
    }
    if !s.trim().is_empty() {
        out.push((start, &s[start..]));
    }
    Ok(out.into_iter().map(|(o, a)| (base + o + (a.len() - a.trim_start().len()), a.trim())).collect())
}

/// How deep `[...]` may nest in a call's argument (an iovec in a list is 2).
const MAX_NESTING: usize = 4;

fn parse_arg(a: &str, at: usize, depth: usize) -> Result<Arg, CallError> {
    if a == "..." {
        return Ok(Arg::Elided);
    }
    if let Some(inner) = a.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        if depth >= MAX_NESTING {
            return Err(cerr(format!("`[` nested deeper than {MAX_NESTING}"), at, 1, None));
        }
        let items = split_args(inner, at + 1)?;
        if items.len() > 1 || inner.trim().is_empty() {
            return Ok(Arg::List(items.iter().map(|(o, x)| parse_arg(x, *o, depth + 1)).collect::<Result<_, _>>()?));
        }
        return Ok(Arg::Ref(Box::new(parse_arg(inner.trim(), at + 1, depth + 1)?)));
    }
    if let Some(inner) = a.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
        let mut fields = Vec::new();
        for kv in inner.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            let (k, v) =
                kv.split_once('=').ok_or_else(|| cerr(format!("`{kv}` is not key=value"), at, a.len(), None))?;
            fields.push((k.trim().to_string(), v.trim().to_string()));
        }
        return Ok(Arg::Struct(fields));
    }
    if let Some(inner) = a.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        return unescape(inner).map(Arg::Str).map_err(|m| cerr(m, at, a.len(), None));
    }
    if let Ok(addr) = a.parse::<SocketAddr>() {
        return Ok(Arg::Addr(addr));
    }
    if let Some(v) = parse_int(a) {
        return Ok(Arg::Int(v));
    }
    let names: Vec<String> = a.split('|').map(|n| n.trim().to_string()).collect();
    if names.iter().all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) {
        return Ok(Arg::Names(names));
    }
    Err(cerr(
        format!("`{a}` is not an argument"),
        at,
        a.len(),
        Some("arguments are numbers, NAMES, ip:port, [value], \"text\" or ..."),
    ))
}

/// A string's bytes with C's escapes read: `\xNN`, `\n`, `\t`, `\0`, `\\`, `\"`.
fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'x') => {
                let hex = s.get(i + 2..i + 4).ok_or("`\\x` needs two hex digits")?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("`\\x{hex}` is not a hex byte"))?);
                i += 4;
            }
            Some(c) => {
                out.push(match c {
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'0' => 0,
                    b'\\' => b'\\',
                    b'"' => b'"',
                    other => return Err(format!("unknown escape `\\{}`", *other as char)),
                });
                i += 2;
            }
            None => return Err("a string ends with `\\`".into()),
        }
    }
    Ok(out)
}

fn parse_int(a: &str) -> Option<i64> {
    let (neg, d) = match a.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, a),
    };
    let v =
        if let Some(h) = d.strip_prefix("0x") { i64::from_str_radix(h, 16).ok()? } else { d.parse::<i64>().ok()? };
    Some(if neg { -v } else { v })
}

impl CallSpec {
    /// Parses `name(args) = ret`. Offsets in errors are byte offsets in `s`.
    pub fn parse(s: &str) -> Result<CallSpec, CallError> {
        let Some(open) = s.find('(') else {
            return Err(cerr("a call looks like `name(args) = result`", 0, s.len(), Some("e.g. `listen(3, 1) = 0`")));
        };
        let name = s[..open].trim();
        let name_at = s[..open].len() - s[..open].trim_start().len();
        let close = matching_paren(s, open).ok_or_else(|| cerr("unclosed `(`", open, 1, None))?;
        let args_text = &s[open + 1..close];
        let args = split_args(args_text, open + 1)?;
        let parsed: Vec<(usize, Arg)> =
            args.iter().map(|(at, a)| parse_arg(a, *at, 0).map(|x| (*at, x))).collect::<Result<_, _>>()?;
        let rest = s[close + 1..].trim_start();
        let rest_at = s.len() - rest.len();
        let Some(ret) = rest.strip_prefix('=') else {
            return Err(cerr(
                "missing `= result` after the call",
                close + 1,
                1,
                Some("every call states what it returns: `= 0`, `= 4`, `= -1 EAGAIN`, `= *`"),
            ));
        };
        let ret_at = rest_at + 1 + (ret.len() - ret.trim_start().len());
        let expect = parse_expect(ret.trim(), ret_at)?;
        let (call, out) = resolve(name, name_at, &parsed, s.len())?;
        if let (Call::Poll { .. }, Expect::Value(v)) = (&call, &expect) {
            if *v != 0 {
                return Err(cerr(
                    "poll returns its revents: names like POLLIN|POLLOUT, or 0",
                    ret_at,
                    ret.trim().len(),
                    None,
                ));
            }
        }
        Ok(CallSpec { call, expect, out })
    }
}

fn matching_paren(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut quote = false;
    for (i, c) in s[open..].char_indices() {
        match c {
            '"' => quote = !quote,
            '(' if !quote => depth += 1,
            ')' if !quote => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

fn parse_expect(r: &str, at: usize) -> Result<Expect, CallError> {
    // Drop a trailing "(description)".
    let r = match r.find('(') {
        Some(i) if r.ends_with(')') => r[..i].trim(),
        _ => r,
    };
    if r == "*" {
        return Ok(Expect::Any);
    }
    let words: Vec<&str> = r.split_whitespace().collect();
    match words.as_slice() {
        ["-1", e] => Errno::from_name(e).map(Expect::Error).ok_or_else(|| {
            cerr(
                format!("unknown errno `{e}`"),
                at + r.find(e).unwrap_or(0),
                e.len(),
                Some("e.g. EAGAIN, ECONNREFUSED, EINPROGRESS"),
            )
        }),
        ["-1"] => Ok(Expect::Failed),
        [v] => {
            if let Some(n) = parse_int(v) {
                if n < 0 {
                    return Err(cerr("a failing call is written `-1 ERRNO`", at, v.len(), Some("e.g. `= -1 EAGAIN`")));
                }
                return Ok(Expect::Value(n));
            }
            if let Some(e) = Errno::from_name(v) {
                return Ok(Expect::Error(e));
            }
            let mut mask = 0;
            for n in v.split('|') {
                mask |= pollbits::from_name(n.trim()).ok_or_else(|| {
                    cerr(format!("`{v}` is not a result"), at, v.len(), Some("results: N, -1 ERRNO, POLL flags, or *"))
                })?;
            }
            Ok(Expect::Events(mask))
        }
        _ => Err(cerr(format!("`{r}` is not a result"), at, r.len(), Some("results: N, -1 ERRNO, POLL flags, or *"))),
    }
}

/// Turns name + arguments into a typed call, or says precisely what is wrong.
/// The call and what it must give back besides its return value.
fn resolve(name: &str, name_at: usize, args: &[(usize, Arg)], text_len: usize) -> Result<(Call, OutCheck), CallError> {
    let end = text_len.saturating_sub(1);
    let arg_at = |i: usize| args.get(i).map_or(end, |a| a.0);
    let fd = |i: usize| -> Result<i32, CallError> {
        match args.get(i) {
            Some((_, Arg::Int(v))) if *v >= 0 && *v <= i64::from(i32::MAX) => Ok(*v as i32),
            Some((at, _)) => Err(cerr("expected a file descriptor (a number)", *at, 1, None)),
            None => Err(cerr(format!("`{name}` needs a file descriptor"), end, 1, None)),
        }
    };
    // A length a call moves: what a target can take in one call, never
    // whatever number the script gives (a buffer is made of it).
    let length = |v: i64, at: usize| -> Result<usize, CallError> {
        match u64::try_from(v) {
            Err(_) => Err(cerr("a length is not negative", at, 1, None)),
            Ok(n) if n > MAX_CALL_LEN => Err(cerr(
                format!("a length over {MAX_CALL_LEN} octets (64 MiB), the most one call moves here"),
                at,
                1,
                None,
            )),
            Ok(n) => Ok(n as usize),
        }
    };
    let int_at = |i: usize, what: &str| -> Result<Option<i64>, CallError> {
        match args.get(i) {
            None | Some((_, Arg::Elided)) => Ok(None),
            Some((_, Arg::Int(v))) => Ok(Some(*v)),
            Some((_, Arg::Ref(b))) if matches!(**b, Arg::Int(_)) => match **b {
                Arg::Int(v) => Ok(Some(v)),
                _ => unreachable!(),
            },
            Some((at, _)) => Err(cerr(format!("expected {what} (a number)"), *at, 1, None)),
        }
    };
    let names_in = |a: &Arg| -> Vec<String> {
        match a {
            Arg::Names(n) => n.clone(),
            _ => Vec::new(),
        }
    };
    let mut out = OutCheck::None;
    let call = match name {
        "socket" => {
            let ipv6 = args.iter().any(|(_, a)| names_in(a).iter().any(|n| n == "AF_INET6"));
            Call::Socket { ipv6 }
        }
        "bind" => {
            let fd = fd(0)?;
            match args.get(1) {
                None | Some((_, Arg::Elided)) => Call::Bind { fd, addr: BindTo::Default },
                Some((_, Arg::Int(p))) => {
                    let port = u16::try_from(*p).map_err(|_| cerr("a port is 0 to 65535", arg_at(1), 1, None))?;
                    Call::Bind { fd, addr: BindTo::Port(port) }
                }
                Some((_, Arg::Addr(a))) => Call::Bind { fd, addr: BindTo::Addr(*a) },
                Some((at, _)) => return Err(cerr("bind takes a port, ip:port or ...", *at, 1, None)),
            }
        }
        "listen" => Call::Listen { fd: fd(0)?, backlog: int_at(1, "a backlog")?.unwrap_or(1) as i32 },
        "accept" => Call::Accept { fd: fd(0)? },
        "connect" => {
            let fd = fd(0)?;
            match args.get(1) {
                None | Some((_, Arg::Elided)) => Call::Connect { fd, addr: None },
                Some((_, Arg::Addr(a))) => Call::Connect { fd, addr: Some(*a) },
                Some((_, Arg::Names(n))) if n == &["AF_UNSPEC"] => Call::Disconnect { fd },
                Some((at, _)) => return Err(cerr("connect takes ip:port, ... or AF_UNSPEC", *at, 1, None)),
            }
        }
        "write" | "send" | "sendto" | "read" | "recv" | "recvfrom" if matches!(args.get(1), Some((_, Arg::Names(n))) if n == &["NULL"]) =>
        {
            // The kernel's EFAULT paths: (fd, NULL, N[, flags[, ..., ...]]).
            let fd = fd(0)?;
            let len = match args.get(2) {
                Some((at, Arg::Int(v))) if *v >= 0 => length(*v, *at)?,
                _ => return Err(cerr(format!("`{name}(fd, NULL, N, ...)` needs a length N"), arg_at(2), 1, None)),
            };
            let write = matches!(name, "write" | "send" | "sendto");
            let flags = msg_flags(args.get(3), arg_at(3), if write { MSG_FLAGS } else { RECV_FLAGS })?;
            Call::NullBuffer { fd, write, len, flags, to: name == "sendto" }
        }
        "pipe" => match args.first().map(|a| &a.1) {
            Some(Arg::List(v)) => match v.as_slice() {
                [Arg::Int(r), Arg::Int(w)] if *r >= 0 && *w >= 0 => {
                    out = OutCheck::Ends([*r as i32, *w as i32]);
                    Call::Pipe {}
                }
                _ => return Err(cerr("pipe takes [READ_FD, WRITE_FD]", arg_at(0), 1, Some("e.g. pipe([5, 6]) = 0"))),
            },
            _ => return Err(cerr("pipe takes [READ_FD, WRITE_FD]", arg_at(0), 1, Some("e.g. pipe([5, 6]) = 0"))),
        },
        "splice" => {
            // splice(IN, NULL, OUT, NULL, LEN, FLAGS): no offsets.
            let fd_in = fd(0)?;
            let fd_out = fd(2)?;
            for i in [1, 3] {
                if !matches!(args.get(i), Some((_, Arg::Names(n))) if n == &["NULL"]) {
                    return Err(cerr("splice's offsets are NULL here", arg_at(i), 1, None));
                }
            }
            let len = match args.get(4) {
                Some((at, Arg::Int(v))) if *v >= 0 => length(*v, *at)?,
                _ => return Err(cerr("splice needs a length", arg_at(4), 1, None)),
            };
            let flags = match args.get(5).map(|a| &a.1) {
                None | Some(Arg::Int(0)) => 0,
                Some(Arg::Names(n)) => {
                    let mut m = 0u32;
                    for x in n {
                        m |= match x.as_str() {
                            "SPLICE_F_MOVE" => 1,
                            "SPLICE_F_NONBLOCK" => 2,
                            "SPLICE_F_MORE" => 4,
                            "SPLICE_F_GIFT" => 8,
                            _ => return Err(cerr(format!("`{x}` is not a splice flag"), arg_at(5), 1, None)),
                        };
                    }
                    m
                }
                Some(_) => return Err(cerr("expected splice flags", arg_at(5), 1, None)),
            };
            Call::Splice { fd_in, fd_out, len, flags }
        }
        "sendto" if matches!(args.get(4), Some((_, Arg::Names(n))) if n == &["AF_UNSPEC"]) => {
            let fd = fd(0)?;
            let len = match args.get(2) {
                Some((at, Arg::Int(v))) if *v >= 0 => length(*v, *at)?,
                _ => {
                    return Err(cerr(
                        "`sendto(fd, ..., N, FLAGS, AF_UNSPEC, ...)` needs a length N",
                        arg_at(2),
                        1,
                        None,
                    ))
                }
            };
            Call::SendToUnspec { fd, data: Payload::of_len(len), flags: msg_flags(args.get(3), arg_at(3), MSG_FLAGS)? }
        }
        "sendmsg" => {
            // sendmsg(fd, [L1, L2, ...], FLAGS): an iovec of these lengths.
            let fd = fd(0)?;
            let iov = match args.get(1).map(|a| &a.1) {
                Some(Arg::List(items)) => items
                    .iter()
                    .map(|x| match x {
                        Arg::Int(v) if *v >= 0 => length(*v, arg_at(1)),
                        _ => Err(cerr("an iovec is a list of lengths, e.g. [1000, 0, 500]", arg_at(1), 1, None)),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                Some(Arg::Ref(b)) => match **b {
                    Arg::Int(v) if v >= 0 => vec![length(v, arg_at(1))?],
                    _ => return Err(cerr("an iovec is a list of lengths, e.g. [1000, 0, 500]", arg_at(1), 1, None)),
                },
                _ => {
                    return Err(cerr(
                        "sendmsg takes an iovec as a list of lengths",
                        arg_at(1),
                        1,
                        Some("e.g. sendmsg(4, [1000, 0, 500], MSG_ZEROCOPY) = 1500"),
                    ))
                }
            };
            if iov.iter().sum::<usize>() as u64 > MAX_CALL_LEN {
                return Err(cerr(format!("the iovec holds over {MAX_CALL_LEN} octets"), arg_at(1), 1, None));
            }
            let cmsgs = match args.get(3) {
                None => Vec::new(),
                Some((at, Arg::List(items))) => {
                    items.iter().map(|c| send_cmsg(c).map_err(|m| cerr(m, *at, 1, None))).collect::<Result<_, _>>()?
                }
                // `[{...}]`: a list of one.
                Some((at, Arg::Ref(one))) if matches!(**one, Arg::Struct(_)) => {
                    vec![send_cmsg(one).map_err(|m| cerr(m, *at, 1, None))?]
                }
                Some((at, _)) => {
                    return Err(cerr(
                        "after the flags, sendmsg takes its control messages as a list",
                        *at,
                        1,
                        Some("e.g. [{cmsg_level=SOL_SOCKET, cmsg_type=SO_TIMESTAMPING, cmsg_data=SOF_TIMESTAMPING_TX_SCHED}]"),
                    ))
                }
            };
            Call::SendMsg { fd, iov, flags: msg_flags(args.get(2), arg_at(2), MSG_FLAGS)?, cmsgs }
        }
        "recvmsg" => {
            // recvmsg(fd, LEN, FLAGS); what the msghdr must hold is said by
            // the step's `msg_flags:` and `cmsg:`.
            let fd = fd(0)?;
            let len = match args.get(1) {
                Some((at, Arg::Int(v))) if *v >= 0 => length(*v, *at)?,
                _ => {
                    return Err(cerr(
                        "recvmsg takes the buffer's length",
                        arg_at(1),
                        1,
                        Some("e.g. recvmsg(4, 1000, 0) = 1000, recvmsg(4, 0, MSG_ERRQUEUE) = 0"),
                    ))
                }
            };
            let flags = match args.get(2).map(|a| &a.1) {
                None | Some(Arg::Int(0)) => 0,
                Some(Arg::Names(n)) => parse_recv_flags(&n.join("|")).map_err(|m| cerr(m, arg_at(2), 1, None))?,
                Some(Arg::Int(v)) => *v as i32,
                Some(_) => return Err(cerr("expected recvmsg flags", arg_at(2), 1, None)),
            };
            out = OutCheck::Msg { flags: None, cmsgs: None };
            Call::RecvMsg { fd, len, flags }
        }
        "write" | "send" | "sendto" => {
            let fd = fd(0)?;
            // write(fd, N) / write(fd, "text") / write(fd, ..., N) / send(fd, ..., N, flags)
            // / sendto(fd, ..., N, flags, ..., ...)
            let mut len = None;
            let mut data = None;
            let mut oob = false;
            let mut flags = 0;
            for (i, (at, a)) in args.iter().enumerate().skip(1) {
                match a {
                    Arg::Int(v) if len.is_none() && i <= 2 => {
                        len = Some(length(*v, *at)?)
                    }
                    // packetdrill's `write(fd, "text", N)`: the first N
                    // octets of the string.
                    Arg::Int(v) if i == 2 && data.is_some() => {
                        let text: &mut Vec<u8> = data.as_mut().expect("checked");
                        let n = length(*v, *at)?;
                        if n > text.len() {
                            return Err(cerr(
                                format!("a length of {n} for a string of {} octets", text.len()),
                                *at,
                                1,
                                None,
                            ));
                        }
                        text.truncate(n);
                        len = Some(n);
                    }
                    Arg::Int(0) => {}
                    Arg::Str(s) => {
                        len = Some(s.len());
                        data = Some(s.clone());
                    }
                    Arg::Names(n) if n.iter().all(|x| MSG_FLAGS.iter().any(|f| f.0 == x)) => {
                        for x in n {
                            match MSG_FLAGS.iter().find(|f| f.0 == x) {
                                Some(f) if f.1 != 1 => flags |= f.1,
                                _ => oob = true,
                            }
                        }
                    }
                    Arg::Elided => {}
                    // sendto's flags as a number (0x20000000 is MSG_FASTOPEN).
                    Arg::Int(v) if name == "sendto" && i == 3 && len.is_some() => {
                        let v = i32::try_from(*v).map_err(|_| cerr("flags out of range", *at, 1, None))?;
                        let known = MSG_FLAGS.iter().fold(0x1, |m, f| m | f.1);
                        if v & !known != 0 {
                            return Err(cerr(format!("unknown send flags {v:#x}"), *at, 1, None));
                        }
                        oob |= v & 1 != 0;
                        flags |= v & !1;
                    }
                    _ => {
                        return Err(cerr(
                            format!("unexpected argument to {name}"),
                            *at,
                            1,
                            Some("write(fd, N), write(fd, \"text\"), send(fd, ..., N, MSG_OOB | MSG_EOR | MSG_MORE | MSG_ZEROCOPY), sendto(fd, ..., N, MSG_FASTOPEN, ..., ...)"),
                        ))
                    }
                }
            }
            let to = name == "sendto";
            let len = len.ok_or_else(|| {
                cerr(format!("`{name}` needs a length or a string"), end, 1, Some("e.g. write(4, 1000)"))
            })?;
            Call::Write { fd, data: Payload { len, data }, oob, flags, to }
        }
        "read" | "recv" | "recvfrom" => {
            let fd = fd(0)?;
            let mut len = None;
            let mut peek = false;
            let mut flags = 0;
            for (i, (at, a)) in args.iter().enumerate().skip(1) {
                match a {
                    Arg::Int(v) if len.is_none() && i <= 2 => len = Some(length(*v, *at)?),
                    // `read(4, "text")`: reads as many octets, which must be these.
                    Arg::Str(want) if len.is_none() && i <= 2 => {
                        len = Some(length(want.len() as i64, *at)?);
                        out = OutCheck::Bytes(want.clone());
                    }
                    Arg::Int(0) | Arg::Elided => {}
                    Arg::Names(n) if n.iter().all(|x| READ_FLAGS.iter().any(|f| f.0 == x)) => {
                        for x in n {
                            match READ_FLAGS.iter().find(|f| f.0 == x) {
                                Some(f) if f.1 != 2 => flags |= f.1,
                                _ => peek = true,
                            }
                        }
                    }
                    _ => {
                        return Err(cerr(
                            format!("unexpected argument to {name}"),
                            *at,
                            1,
                            Some("read(fd, N), read(fd, \"octets it must return\"), recv(fd, ..., N, MSG_PEEK | MSG_DONTWAIT | MSG_WAITALL | MSG_TRUNC)"),
                        ))
                    }
                }
            }
            let len =
                len.ok_or_else(|| cerr(format!("`{name}` needs a length"), end, 1, Some("e.g. read(4, 1000)")))?;
            Call::Read { fd, len, peek, flags }
        }
        "shutdown" => {
            let fd = fd(0)?;
            let how = match args.get(1).map(|a| &a.1) {
                Some(Arg::Names(n)) if n.len() == 1 => match n[0].as_str() {
                    "SHUT_RD" => Shutdown::Read,
                    "SHUT_WR" => Shutdown::Write,
                    "SHUT_RDWR" => Shutdown::Both,
                    _ => return Err(cerr("shutdown takes SHUT_RD, SHUT_WR or SHUT_RDWR", arg_at(1), 1, None)),
                },
                Some(Arg::Int(0)) => Shutdown::Read,
                Some(Arg::Int(1)) => Shutdown::Write,
                Some(Arg::Int(2)) => Shutdown::Both,
                _ => return Err(cerr("shutdown takes SHUT_RD, SHUT_WR or SHUT_RDWR", arg_at(1), 1, None)),
            };
            Call::Shutdown { fd, how }
        }
        "close" => Call::Close { fd: fd(0)? },
        "setsockopt" if args.iter().any(|(_, a)| names_in(a).iter().any(|n| n == "TCP_FASTOPEN_KEY")) => {
            // setsockopt(fd, SOL_TCP, TCP_FASTOPEN_KEY, "BYTES", LEN)
            let fd = fd(0)?;
            let p = args.iter().position(|(_, a)| names_in(a).iter().any(|n| n == "TCP_FASTOPEN_KEY")).expect("found");
            let value = match args.get(p + 1).map(|a| &a.1) {
                Some(Arg::Str(b)) => b.clone(),
                _ => {
                    return Err(cerr(
                        "TCP_FASTOPEN_KEY takes its key as a string",
                        arg_at(p + 1),
                        1,
                        Some("e.g. setsockopt(3, SOL_TCP, TCP_FASTOPEN_KEY, \"\\xf7\\x63...\", 16) = 0"),
                    ))
                }
            };
            let len = match args.get(p + 2) {
                None => value.len(),
                Some((at, Arg::Int(n))) if *n >= 0 => length(*n, *at)?,
                Some((at, _)) => return Err(cerr("expected the value's length", *at, 1, None)),
            };
            Call::LinuxOptBytes { fd, label: "TCP_FASTOPEN_KEY", level: 6, name: 33, value, len }
        }
        "setsockopt"
            if args.iter().any(|(_, a)| names_in(a).iter().any(|n| n == "SO_LINGER"))
                && args.iter().any(|(_, a)| matches!(a, Arg::Struct(_))) =>
        {
            // setsockopt(fd, SOL_SOCKET, SO_LINGER, {onoff=A, linger=B}, 8):
            // struct linger. On with B seconds is the language's
            // `SO_LINGER, B` (every target); off is Linux's, as bytes.
            let fd = fd(0)?;
            let p = args.iter().position(|(_, a)| names_in(a).iter().any(|n| n == "SO_LINGER")).expect("found");
            let fields = match args.get(p + 1).map(|a| &a.1) {
                Some(Arg::Struct(f)) => f,
                _ => {
                    return Err(cerr(
                        "SO_LINGER takes a struct linger",
                        arg_at(p + 1),
                        1,
                        Some("setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0"),
                    ))
                }
            };
            let field = |k: &str| -> Result<i32, CallError> {
                let v = fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim());
                v.and_then(|v| v.parse::<i32>().ok())
                    .ok_or_else(|| cerr(format!("struct linger needs {k}=N"), arg_at(p + 1), 1, None))
            };
            if let Some((k, _)) = fields.iter().find(|(n, _)| n != "onoff" && n != "linger") {
                return Err(cerr(
                    format!("`{k}` is not a field of struct linger (onoff, linger)"),
                    arg_at(p + 1),
                    1,
                    None,
                ));
            }
            let (onoff, secs) = (field("onoff")?, field("linger")?);
            let len = match args.get(p + 2) {
                None => 8,
                Some((at, Arg::Int(n))) if *n >= 0 => length(*n, *at)?,
                Some((at, _)) => return Err(cerr("expected the value's length", *at, 1, None)),
            };
            if onoff != 0 && secs >= 0 && len == 8 {
                Call::SetSockOpt { fd, opt: OptName::Linger, value: i64::from(secs) }
            } else {
                let mut value = onoff.to_ne_bytes().to_vec();
                value.extend(secs.to_ne_bytes());
                Call::LinuxOptBytes { fd, label: "SO_LINGER", level: 1, name: 13, value, len }
            }
        }
        "setsockopt" if args.iter().any(|(_, a)| names_in(a).iter().any(|n| n == "TCP_CONGESTION")) => {
            let fd = fd(0)?;
            let algo = args.iter().find_map(|(_, a)| match a {
                Arg::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
                Arg::Ref(b) => match &**b {
                    Arg::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
                    _ => None,
                },
                _ => None,
            });
            let algo = algo.ok_or_else(|| {
                cerr(
                    "TCP_CONGESTION takes a name in quotes",
                    end,
                    1,
                    Some("e.g. setsockopt(3, TCP_CONGESTION, \"reno\") = 0"),
                )
            })?;
            Call::SetCongestion { fd, algo }
        }
        // getsockopt(fd, LEVEL, OPT, "octets", [LEN]): the option read as bytes.
        "getsockopt" if matches!(args.get(3).map(|a| &a.1), Some(Arg::Str(_))) => {
            let fd = fd(0)?;
            let Some(Arg::Str(want)) = args.get(3).map(|a| &a.1) else { unreachable!("matched") };
            let opt = args.get(2).map(|a| names_in(&a.1)).unwrap_or_default();
            let &(label, level, num) =
                opt.first().and_then(|n| BYTES_OPTS.iter().chain(LINUX_OPTS).find(|o| o.0 == n)).ok_or_else(|| {
                    cerr("expected a socket option read as bytes (TCP_CONGESTION, ...)", arg_at(2), 1, None)
                })?;
            let len = match args.get(4).map(|a| &a.1) {
                None => want.len(),
                Some(Arg::Int(n)) if *n >= 0 => length(*n, arg_at(4))?,
                Some(Arg::Ref(b)) => match **b {
                    Arg::Int(n) if n >= 0 => length(n, arg_at(4))?,
                    _ => return Err(cerr("expected the value's length, [N]", arg_at(4), 1, None)),
                },
                Some(_) => return Err(cerr("expected the value's length, [N]", arg_at(4), 1, None)),
            };
            if len != want.len() {
                return Err(cerr(
                    format!(
                        "a length of {len} for a value of {} octets (packetdrill's getsockopt needs them equal)",
                        want.len()
                    ),
                    arg_at(4),
                    1,
                    None,
                ));
            }
            out = OutCheck::Bytes(want.clone());
            Call::GetOptBytes { fd, label, level, name: num, len }
        }
        "setsockopt" | "getsockopt" if args.iter().any(|(_, a)| names_in(a).iter().any(|n| n == "SOL_UDP")) => {
            let at = args.iter().find(|(_, a)| names_in(a).iter().any(|n| n == "SOL_UDP")).map_or(end, |a| a.0);
            return Err(cerr("SOL_UDP: options of UDP sockets, and the language's sockets are TCP's", at, 1, None));
        }
        "setsockopt" | "getsockopt" => {
            let fd = fd(0)?;
            // The option is the first name that is an option; levels are skipped.
            // (`SOL_SOCKET | SO_SNDBUF` as one argument took the level for the
            // option and panicked; found by `make fuzz-parsers`.)
            if let Some((at, _)) = args.iter().skip(1).find(|(_, a)| {
                let n = names_in(a);
                n.len() > 1 && n.iter().any(|x| OptName::from_name(x).is_some() || LINUX_OPTS.iter().any(|o| o.0 == x))
            }) {
                return Err(cerr("a level and an option are two arguments, not names joined by `|`", *at, 1, None));
            }
            let pos =
                args.iter().skip(1).position(|(_, a)| names_in(a).iter().any(|n| OptName::from_name(n).is_some()));
            let linux = args.iter().enumerate().skip(1).find_map(|(i, (_, a))| {
                names_in(a).first().and_then(|n| LINUX_OPTS.iter().find(|o| o.0 == n)).map(|o| (i, o))
            });
            if let (None, Some((p, &(label, level, num)))) = (pos, linux) {
                let value_arg = args.get(p + 1).map(|a| &a.1);
                let inner = match value_arg {
                    Some(Arg::Ref(b)) => Some(&**b),
                    Some(Arg::Elided) | None => None,
                    Some(other) => Some(other),
                };
                let int = match inner {
                    Some(Arg::Int(v)) => Some(*v),
                    Some(Arg::Names(n)) => {
                        n.iter().try_fold(0, |m, x| LINUX_OPT_VALUES.iter().find(|(k, _)| *k == x).map(|(_, v)| m | *v))
                    }
                    _ => None,
                };
                let get = name == "getsockopt";
                // A string value is the option's bytes (SO_BINDTODEVICE "lo").
                if let (false, Some(Arg::Str(b))) = (get, inner) {
                    let len = match args.get(p + 2) {
                        None => b.len(),
                        Some((at, Arg::Int(n))) if *n >= 0 => length(*n, *at)?,
                        Some((at, _)) => return Err(cerr("expected the value's length", *at, 1, None)),
                    };
                    return Ok((Call::LinuxOptBytes { fd, label, level, name: num, value: b.clone(), len }, out));
                }
                let (value, expect) = match (get, int) {
                    (false, Some(v)) => (v, None),
                    (true, v) if inner.is_none() || v.is_some() => (0, v.map(Expect::Value)),
                    _ => {
                        return Err(cerr(
                            format!("{label} takes an integer value, as [N] or N"),
                            arg_at(p + 1),
                            1,
                            Some("e.g. setsockopt(3, SOL_TCP, TCP_FASTOPEN, [1], 4) = 0"),
                        ))
                    }
                };
                if let (true, Some(e)) = (get, expect) {
                    out = OutCheck::Value(e);
                }
                return Ok((Call::LinuxOpt { fd, get, label, level, name: num, value }, out));
            }
            let Some(p) = pos.map(|p| p + 1) else {
                let bad = args.iter().skip(1).find(|(_, a)| matches!(a, Arg::Names(n) if !n.iter().all(|x| x.starts_with("SOL_") || x == "IPPROTO_TCP")));
                let at = bad.map_or(arg_at(1), |b| b.0);
                let hint = bad
                    .and_then(|(_, a)| match a {
                        Arg::Names(n) => n.iter().find(|x| !x.starts_with("SOL_") && *x != "IPPROTO_TCP"),
                        _ => None,
                    })
                    .map(|w| super::mean(w, OptName::NAMES.split(", ").chain(LINUX_OPTS.iter().map(|o| o.0))))
                    .unwrap_or_default();
                return Err(cerr(
                    "unknown or missing socket option",
                    at,
                    1,
                    Some(&format!(
                        "{hint}known: {}; Linux only: {}",
                        OptName::NAMES,
                        LINUX_OPTS.iter().map(|o| o.0).collect::<Vec<_>>().join(", ")
                    )),
                ));
            };
            let opt = OptName::from_name(&names_in(&args[p].1)[0]).expect("checked");
            let value_arg = args.get(p + 1);
            if name == "setsockopt" {
                let value = match value_arg.map(|a| &a.1) {
                    Some(Arg::Int(v)) => *v,
                    Some(Arg::Ref(b)) => match **b {
                        Arg::Int(v) => v,
                        _ => return Err(cerr("expected a number or [number]", arg_at(p + 1), 1, None)),
                    },
                    _ => {
                        return Err(cerr(
                            "setsockopt needs a value",
                            arg_at(p + 1),
                            1,
                            Some("e.g. setsockopt(3, TCP_NODELAY, 1)"),
                        ))
                    }
                };
                Call::SetSockOpt { fd, opt, value }
            } else {
                // The expected value, bare or as [value].
                let inner: Option<&Arg> = match value_arg.map(|a| &a.1) {
                    None | Some(Arg::Elided) => None,
                    Some(Arg::Ref(b)) => Some(&**b),
                    Some(other) => Some(other),
                };
                let expect = match inner {
                    None => None,
                    Some(Arg::Int(v)) => Some(Expect::Value(*v)),
                    Some(Arg::Names(n)) if n.len() == 1 => match Errno::from_name(&n[0]) {
                        Some(e) => Some(Expect::Error(e)),
                        None => return Err(cerr(format!("`{}` is not a value", n[0]), arg_at(p + 1), 1, None)),
                    },
                    Some(_) => return Err(cerr("expected [value]", arg_at(p + 1), 1, None)),
                };
                if let Some(e) = expect {
                    out = OutCheck::Value(e);
                }
                Call::GetSockOpt { fd, opt }
            }
        }
        "epoll_create" | "epoll_create1" => Call::EpollCreate {},
        "epoll_ctl" => {
            let epfd = fd(0)?;
            let op = match args.get(1).map(|a| names_in(&a.1)).as_deref() {
                Some([n]) if n == "EPOLL_CTL_ADD" => 1,
                Some([n]) if n == "EPOLL_CTL_DEL" => 2,
                Some([n]) if n == "EPOLL_CTL_MOD" => 3,
                _ => return Err(cerr("expected EPOLL_CTL_ADD, EPOLL_CTL_MOD or EPOLL_CTL_DEL", arg_at(1), 1, None)),
            };
            let target = match args.get(2) {
                Some((_, Arg::Int(v))) => *v as i32,
                _ => return Err(cerr("expected the descriptor to watch", arg_at(2), 1, None)),
            };
            let (events, data) = match args.get(3).map(|a| &a.1) {
                Some(Arg::Struct(f)) => epoll_event(f).map_err(|m| cerr(m, arg_at(3), 1, None))?,
                None | Some(Arg::Elided) if op == 2 => (0, None),
                _ => return Err(cerr("expected {events=EPOLLIN|..., fd=N}", arg_at(3), 1, None)),
            };
            let (data_fd, data) = match data {
                None => (target, None),
                Some(EventData::Fd(f)) => (f, None),
                Some(EventData::Value(v)) => (target, Some(v)),
            };
            Call::EpollCtl { epfd, op, fd: target, events, data_fd, data }
        }
        "epoll_wait" => {
            let epfd = fd(0)?;
            let want = match args.get(1).map(|a| &a.1) {
                Some(Arg::Struct(f)) => {
                    let (ev, fd) = epoll_event(f).map_err(|m| cerr(m, arg_at(1), 1, None))?;
                    fd.map(|fd| (ev, fd))
                }
                None | Some(Arg::Elided) => None,
                _ => return Err(cerr("expected {events=EPOLLIN|..., fd=N}", arg_at(1), 1, None)),
            };
            out = OutCheck::Event(want);
            Call::EpollWait {
                epfd,
                max: int_at(2, "the number of events")?.unwrap_or(1) as i32,
                timeout_ms: int_at(3, "a timeout in ms")?.unwrap_or(0),
            }
        }
        "ioctl" => {
            let fd = fd(0)?;
            let name = args.get(1).map(|a| names_in(&a.1)).unwrap_or_default();
            let Some(&(label, request)) = name.first().and_then(|n| IOCTLS.iter().find(|i| i.0 == n)) else {
                return Err(cerr(
                    "ioctl supports SIOCINQ (FIONREAD), SIOCOUTQ and SIOCOUTQNSD",
                    arg_at(1),
                    1,
                    Some("e.g. ioctl(4, SIOCINQ, [1000]) = 0"),
                ));
            };
            let expect = match args.get(2).map(|a| &a.1) {
                None | Some(Arg::Elided) => None,
                Some(Arg::Ref(b)) if matches!(**b, Arg::Int(_)) => match **b {
                    Arg::Int(v) => Some(Expect::Value(v)),
                    _ => None,
                },
                Some(_) => return Err(cerr("expected [N], the count it must read back", arg_at(2), 1, None)),
            };
            if let Some(e) = expect {
                out = OutCheck::Value(e);
            }
            Call::Ioctl { fd, label, request }
        }
        "fcntl" => {
            let fd = fd(0)?;
            let cmd_names = args.get(1).map(|a| names_in(&a.1)).unwrap_or_default();
            let &(label, cmd) = match cmd_names.as_slice() {
                [n] => FCNTL_CMDS.iter().find(|c| c.0 == n).ok_or_else(|| {
                    cerr(
                        format!("`{n}` is not an fcntl command"),
                        arg_at(1),
                        1,
                        Some(&FCNTL_CMDS.iter().map(|c| c.0).collect::<Vec<_>>().join(", ")),
                    )
                })?,
                _ => return Err(cerr("expected an fcntl command (F_GETFL, F_SETFL, ...)", arg_at(1), 1, None)),
            };
            // The argument: a number, or names of O_ flags, FD_CLOEXEC or
            // a lease type joined by `|`.
            let arg = match args.get(2) {
                None | Some((_, Arg::Elided)) => 0,
                Some((_, Arg::Int(v))) => *v,
                Some((at, Arg::Names(n))) => {
                    n.iter().try_fold(0, |m, x| match FCNTL_VALUES.iter().find(|v| v.0 == x) {
                        Some(v) => Ok(m | v.1),
                        None => Err(cerr(
                            match x.split('_').next() {
                                Some("LOCK") => format!(
                                    "`{x}` is flock(2)'s, and packetdrill has no flock call: not an fcntl value"
                                ),
                                Some("SEEK") => {
                                    format!("`{x}` is lseek(2)'s, and a socket has no offset: not an fcntl value")
                                }
                                _ => format!(
                                    "`{x}` is not an fcntl value ({})",
                                    FCNTL_VALUES.iter().map(|v| v.0).collect::<Vec<_>>().join(", ")
                                ),
                            },
                            *at,
                            1,
                            None,
                        )),
                    })?
                }
                Some((at, _)) => return Err(cerr("expected the fcntl argument: a number or names", *at, 1, None)),
            };
            match label {
                "F_GETFL" => Call::GetFl { fd },
                // F_SETFL changes O_APPEND, O_ASYNC, O_DIRECT, O_NOATIME
                // and O_NONBLOCK only (fs/fcntl.c); the access mode and
                // creation flags are ignored. O_NONBLOCK alone is the
                // language's, on every target.
                "F_SETFL" if arg & !(O_ACCMODE | O_CREATION | O_NONBLOCK_FLAG) == 0 => {
                    Call::SetNonBlocking { fd, on: arg & O_NONBLOCK_FLAG != 0 }
                }
                "F_GETLK" | "F_SETLK" | "F_SETLKW" | "F_GETLK64" | "F_SETLK64" | "F_SETLKW64" if arg != 0 => {
                    return Err(cerr(
                        format!("{label} takes a pointer to a struct flock, which the language has not (packetdrill would pass the number {arg} as the pointer; 0, a NULL pointer, is taken)"),
                        arg_at(2),
                        1,
                        None,
                    ))
                }
                // The owner gets SIGIO and SIGURG: no process but the
                // harness's own may be named (0 clears it).
                "F_SETOWN" if arg != 0 => {
                    return Err(cerr(
                        "F_SETOWN with a process other than 0: the kernel would signal a process outside the run",
                        arg_at(2),
                        1,
                        None,
                    ))
                }
                _ => Call::Fcntl { fd, label, cmd, arg },
            }
        }
        "poll" => {
            let fd = fd(0)?;
            let mut events = 0;
            for n in args.get(1).map(|a| names_in(&a.1)).unwrap_or_default() {
                events |= pollbits::from_name(&n)
                    .ok_or_else(|| cerr(format!("`{n}` is not a poll event"), arg_at(1), 1, None))?;
            }
            if events == 0 {
                return Err(cerr("poll needs events, e.g. poll(4, POLLIN)", arg_at(1), 1, None));
            }
            Call::Poll { fd, events, timeout_ms: int_at(2, "a timeout in ms")?.unwrap_or(0) }
        }
        other => {
            return Err(cerr(
                format!("unknown call `{other}`"),
                name_at,
                other.len().max(1),
                Some(&format!("{}calls: {CALLS}", super::mean(other, CALLS.split(", ").map(str::trim)))),
            ));
        }
    };
    Ok((call, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> CallSpec {
        CallSpec::parse(s).unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }

    #[test]
    fn compact_and_packetdrill_forms() {
        assert_eq!(p("socket() = 3").call, Call::Socket { ipv6: false });
        assert_eq!(p("socket(..., SOCK_STREAM, IPPROTO_TCP) = 3").expect, Expect::Value(3));
        assert_eq!(p("socket(AF_INET6, SOCK_STREAM, IPPROTO_TCP) = 3").call, Call::Socket { ipv6: true });
        assert_eq!(p("bind(3, 8080) = 0").call, Call::Bind { fd: 3, addr: BindTo::Port(8080) });
        assert_eq!(p("bind(3, ..., ...) = 0").call, Call::Bind { fd: 3, addr: BindTo::Default });
        assert_eq!(p("listen(3, 1) = 0").call, Call::Listen { fd: 3, backlog: 1 });
        assert_eq!(p("accept(3, ..., ...) = 4").call, Call::Accept { fd: 3 });
        assert_eq!(p("connect(4, AF_UNSPEC, ...) = 0").call, Call::Disconnect { fd: 4 });
        assert_eq!(
            p("connect(3, 192.0.2.1:8080) = -1 EINPROGRESS (Operation now in progress)").expect,
            Expect::Error(Errno::EINPROGRESS)
        );
        assert_eq!(
            p("write(4, ..., 1000) = 1000").call,
            Call::Write { fd: 4, data: Payload::of_len(1000), oob: false, flags: 0, to: false }
        );
        assert_eq!(
            p("write(4, \"hi, there\") = 9").call,
            Call::Write {
                fd: 4,
                data: Payload { len: 9, data: Some(b"hi, there".to_vec()) },
                oob: false,
                flags: 0,
                to: false
            }
        );
        assert_eq!(
            p("send(4, ..., 1, MSG_OOB) = 1").call,
            Call::Write { fd: 4, data: Payload::of_len(1), oob: true, flags: 0, to: false }
        );
        assert_eq!(
            p("sendto(4, ..., 100, MSG_FASTOPEN|MSG_EOR, ..., ...) = 100").call,
            Call::Write { fd: 4, data: Payload::of_len(100), oob: false, flags: 0x2000_0080, to: true }
        );
        assert_eq!(
            p("setsockopt(3, SOL_TCP, TCP_FASTOPEN, [5], 4) = 0").call,
            Call::LinuxOpt { fd: 3, get: false, label: "TCP_FASTOPEN", level: 6, name: 23, value: 5 }
        );
        let c = p("getsockopt(4, SOL_TCP, TCP_NOTSENT_LOWAT, [0xffffffff], [4]) = 0");
        assert_eq!(
            c.call,
            Call::LinuxOpt { fd: 4, get: true, label: "TCP_NOTSENT_LOWAT", level: 6, name: 25, value: 0 }
        );
        assert_eq!(c.out, OutCheck::Value(Expect::Value(0xffff_ffff)));
        assert_eq!(
            p("setsockopt(3, SOL_IP, IP_MTU_DISCOVER, [IP_PMTUDISC_DONT], 4) = 0").call,
            Call::LinuxOpt { fd: 3, get: false, label: "IP_MTU_DISCOVER", level: 0, name: 10, value: 0 }
        );
        assert_eq!(p("read(4, 1000) = 100").call, Call::Read { fd: 4, len: 1000, peek: false, flags: 0 });
        assert_eq!(p("recv(4, ..., 10, MSG_PEEK) = 10").call, Call::Read { fd: 4, len: 10, peek: true, flags: 0 });
        let r = p("read(4, \"abc\") = 3");
        assert_eq!(
            (r.call, r.out),
            (Call::Read { fd: 4, len: 3, peek: false, flags: 0 }, OutCheck::Bytes(b"abc".to_vec()))
        );
        assert_eq!(p("shutdown(4, SHUT_WR) = 0").call, Call::Shutdown { fd: 4, how: Shutdown::Write });
        assert_eq!(
            p("setsockopt(3, SOL_SOCKET, SO_KEEPALIVE, [1], 4) = 0").call,
            Call::SetSockOpt { fd: 3, opt: OptName::KeepAlive, value: 1 }
        );
        assert_eq!(
            p("setsockopt(3, TCP_NODELAY, 1) = 0").call,
            Call::SetSockOpt { fd: 3, opt: OptName::NoDelay, value: 1 }
        );
        let c = p("getsockopt(3, SOL_SOCKET, SO_ERROR, [ECONNREFUSED], [4]) = 0");
        assert_eq!(c.call, Call::GetSockOpt { fd: 3, opt: OptName::Error });
        assert_eq!(c.out, OutCheck::Value(Expect::Error(Errno::ECONNREFUSED)));
        let c = p("getsockopt(3, TCP_MAXSEG, [1460]) = 0");
        assert_eq!(c.call, Call::GetSockOpt { fd: 3, opt: OptName::MaxSeg });
        assert_eq!(c.out, OutCheck::Value(Expect::Value(1460)));
        assert_eq!(p("fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0").call, Call::SetNonBlocking { fd: 3, on: true });
        assert_eq!(p("poll(4, POLLIN|POLLOUT, 100) = POLLOUT").expect, Expect::Events(pollbits::POLLOUT));
        assert_eq!(p("read(4, 10) = *").expect, Expect::Any);
        assert_eq!(
            p("setsockopt(3, IPPROTO_TCP, TCP_CONGESTION, \"reno\", 4) = 0").call,
            Call::SetCongestion { fd: 3, algo: "reno".into() }
        );
        assert_eq!(p("read(4, 10) = EAGAIN").expect, Expect::Error(Errno::EAGAIN));
    }

    #[test]
    fn msghdr_calls_and_null_buffers() {
        assert_eq!(
            p("sendmsg(4, [0, 40, 0, 20], MSG_ZEROCOPY) = 60").call,
            Call::SendMsg { fd: 4, iov: vec![0, 40, 0, 20], flags: 0x0400_0000, cmsgs: vec![] }
        );
        assert_eq!(p("sendmsg(4, [7], 0) = 7").call, Call::SendMsg { fd: 4, iov: vec![7], flags: 0, cmsgs: vec![] });
        assert_eq!(
            p("sendmsg(4, [7], 0, [{cmsg_level=SOL_SOCKET, cmsg_type=SO_TIMESTAMPING, cmsg_data=SOF_TIMESTAMPING_TX_SCHED|SOF_TIMESTAMPING_OPT_ID}, {cmsg_level=1, cmsg_type=SO_MARK, cmsg_data=7}]) = 7").call,
            Call::SendMsg { fd: 4, iov: vec![7], flags: 0, cmsgs: vec![(1, 37, 0x180), (1, 36, 7)] }
        );
        for (bad, msg) in [
            ("sendmsg(4, [7], 0, 5) = 7", "as a list"),
            ("sendmsg(4, [7], 0, [{cmsg_level=SOL_SOCKET, cmsg_type=SO_MARK}]) = 7", "needs cmsg_data"),
            ("sendmsg(4, [7], 0, [{cmsg_level=SOL_SOCKET, cmsg_type=SO_FROB, cmsg_data=1}]) = 7", "`SO_FROB`"),
            ("sendmsg(4, [7], 0, [{level=1, cmsg_type=SO_MARK, cmsg_data=1}]) = 7", "not a field"),
        ] {
            let e = CallSpec::parse(bad).unwrap_err();
            assert!(e.message.contains(msg), "{bad}: {e:?}");
        }
        let c = p("recvmsg(4, 0, MSG_ERRQUEUE) = 0");
        assert_eq!(c.call, Call::RecvMsg { fd: 4, len: 0, flags: 0x2000 });
        assert_eq!(c.out, OutCheck::Msg { flags: None, cmsgs: None });
        assert_eq!(
            p("write(4, NULL, 1000) = -1 EFAULT").call,
            Call::NullBuffer { fd: 4, write: true, len: 1000, flags: 0, to: false }
        );
        assert_eq!(
            p("sendto(4, NULL, 1, MSG_FASTOPEN, ..., ...) = -1").call,
            Call::NullBuffer { fd: 4, write: true, len: 1, flags: 0x2000_0000, to: true }
        );
        assert_eq!(
            p("recvfrom(4, NULL, 1000, 0, ..., ...) = -1 EFAULT").call,
            Call::NullBuffer { fd: 4, write: false, len: 1000, flags: 0, to: false }
        );
        assert_eq!(
            p("recvfrom(4, ..., 10, 0, ..., ...) = 10").call,
            Call::Read { fd: 4, len: 10, peek: false, flags: 0 }
        );
        // SO_LINGER's struct linger, as bytes for the Linux target.
        let c = p("setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=7}, 8) = 0").call;
        assert_eq!(c, Call::SetSockOpt { fd: 4, opt: OptName::Linger, value: 7 });
        let c = p("setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=0, linger=7}, 8) = 0").call;
        let mut want = 0i32.to_ne_bytes().to_vec();
        want.extend(7i32.to_ne_bytes());
        assert_eq!(c, Call::LinuxOptBytes { fd: 4, label: "SO_LINGER", level: 1, name: 13, value: want, len: 8 });
        let e = CallSpec::parse("setsockopt(4, SOL_SOCKET, SO_LINGER, {on=1, linger=7}, 8) = 0").unwrap_err();
        assert!(e.message.contains("`on` is not a field of struct linger"), "{}", e.message);
        // Linux's receive flags, and packetdrill's `write(fd, "text", N)`.
        assert_eq!(
            p("recv(4, ..., 10, MSG_DONTWAIT|MSG_PEEK) = 10").call,
            Call::Read { fd: 4, len: 10, peek: true, flags: 0x40 }
        );
        assert_eq!(
            p("write(4, \"hello\", 3) = 3").call,
            Call::Write {
                fd: 4,
                data: Payload { len: 3, data: Some(b"hel".to_vec()) },
                oob: false,
                flags: 0,
                to: false
            }
        );
        assert!(CallSpec::parse("write(4, \"hi\", 3) = 3")
            .unwrap_err()
            .message
            .contains("a length of 3 for a string of 2"));
        let c = p("pipe([5, 6]) = 0");
        assert_eq!((c.call, c.out), (Call::Pipe {}, OutCheck::Ends([5, 6])));
        assert_eq!(
            p("setsockopt(3, SOL_TCP, TCP_FASTOPEN_KEY, \"\\xf7\\x63a\\\\\", 16) = 0").call,
            Call::LinuxOptBytes {
                fd: 3,
                label: "TCP_FASTOPEN_KEY",
                level: 6,
                name: 33,
                value: vec![0xf7, 0x63, b'a', b'\\'],
                len: 16
            }
        );
        assert!(CallSpec::parse("write(4, \"\\xZZ\") = 1").unwrap_err().message.contains("not a hex byte"));
        assert_eq!(
            p("splice(4, NULL, 6, NULL, 99, 0) = 99").call,
            Call::Splice { fd_in: 4, fd_out: 6, len: 99, flags: 0 }
        );
        assert_eq!(
            p("sendto(3, ..., 0, MSG_FASTOPEN, AF_UNSPEC, ...) = -1 EOPNOTSUPP").call,
            Call::SendToUnspec { fd: 3, data: Payload::of_len(0), flags: 0x2000_0000 }
        );
        assert_eq!(
            p("setsockopt(3, SOL_SOCKET, SO_TIMESTAMPING, [SOF_TIMESTAMPING_TX_SCHED | SOF_TIMESTAMPING_OPT_ID], 4) = 0")
                .call,
            Call::LinuxOpt { fd: 3, get: false, label: "SO_TIMESTAMPING", level: 1, name: 37, value: 384 }
        );
        assert_eq!(parse_recv_flags("MSG_ERRQUEUE|MSG_TRUNC"), Ok(0x2020));
        assert!(parse_recv_flags("MSG_BOGUS").unwrap_err().contains("not a recvmsg flag"));
        assert_eq!(recv_flag_names(0x2020), "MSG_TRUNC|MSG_ERRQUEUE");
        for (bad, msg) in [
            ("sendmsg(4, 100, 0) = 100", "list of lengths"),
            ("sendmsg(4, [1, x], 0) = 1", "list of lengths"),
            ("recvmsg(4, ..., 0) = 0", "buffer's length"),
            ("write(4, NULL) = -1", "needs a length"),
        ] {
            let e = CallSpec::parse(bad).unwrap_err();
            assert!(e.message.contains(msg), "{bad}: {e:?}");
        }
    }

    #[test]
    fn options_read_as_bytes() {
        let c = p("getsockopt(4, SOL_TCP, TCP_CONGESTION, \"reno\", [4]) = 0");
        assert_eq!(c.call, Call::GetOptBytes { fd: 4, label: "TCP_CONGESTION", level: 6, name: 13, len: 4 });
        assert_eq!(c.out, OutCheck::Bytes(b"reno".to_vec()));
        assert!(CallSpec::parse("getsockopt(4, SOL_TCP, TCP_CONGESTION, \"reno\", [16]) = 0")
            .unwrap_err()
            .message
            .contains("a length of 16 for a value of 4 octets"));
        assert!(CallSpec::parse("getsockopt(4, SOL_TCP, TCP_FROB, \"x\", [1]) = 0")
            .unwrap_err()
            .message
            .contains("read as bytes"));
    }

    /// The names of packetdrill's symbol table each language form takes
    /// (harness/tests/import_grammar.rs holds the importer to all 373).
    #[test]
    fn packetdrill_symbols() {
        assert_eq!(
            p("fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK|O_CREAT) = 0").call,
            Call::SetNonBlocking { fd: 4, on: true }
        );
        assert_eq!(
            p("fcntl(4, F_SETFL, O_APPEND) = 0").call,
            Call::Fcntl { fd: 4, label: "F_SETFL", cmd: 4, arg: 0o2000 }
        );
        assert_eq!(
            p("fcntl(4, F_SETFD, FD_CLOEXEC) = 0").call,
            Call::Fcntl { fd: 4, label: "F_SETFD", cmd: 2, arg: 1 }
        );
        assert_eq!(
            p("fcntl(4, F_DUPFD_CLOEXEC, 0) = 5").call,
            Call::Fcntl { fd: 4, label: "F_DUPFD_CLOEXEC", cmd: 1030, arg: 0 }
        );
        assert_eq!(p("fcntl(4, F_GETFL) = 2").call, Call::GetFl { fd: 4 });
        match p("send(4, ..., 10, MSG_OOB|MSG_CONFIRM|MSG_DONTROUTE) = 10").call {
            Call::Write { oob, flags, .. } => assert_eq!((oob, flags), (true, 0x804)),
            c => panic!("{c:?}"),
        }
        match p("recv(4, ..., 10, MSG_PEEK|MSG_OOB) = 1").call {
            Call::Read { peek, flags, .. } => assert_eq!((peek, flags), (true, 1)),
            c => panic!("{c:?}"),
        }
        assert_eq!(p("poll(4, POLLRDNORM|POLLWRBAND, 0) = POLLRDNORM").expect, Expect::Events(0x40));
        assert_eq!(
            pollbits::names(0x1ff),
            "POLLIN|POLLPRI|POLLOUT|POLLERR|POLLHUP|POLLNVAL|POLLRDNORM|POLLRDBAND|POLLWRNORM"
        );
        assert_eq!(p("read(4, 10) = -1 EHWPOISON").expect, Expect::Error(Errno::EHWPOISON));
        assert_eq!(p("read(4, 10) = -1 EDEADLOCK").expect, Expect::Error(Errno::EDEADLK));
        assert_eq!(
            p("setsockopt(4, SOL_SOCKET, SO_BINDTODEVICE, \"lo\", 2) = 0").call,
            Call::LinuxOptBytes { fd: 4, label: "SO_BINDTODEVICE", level: 1, name: 25, value: b"lo".to_vec(), len: 2 }
        );
        assert_eq!(
            p("setsockopt(4, SOL_TCP, TCP_WINDOW_CLAMP, [TCP_INFINITE_SSTHRESH], 4) = 0").call,
            Call::LinuxOpt { fd: 4, get: false, label: "TCP_WINDOW_CLAMP", level: 6, name: 10, value: 0x7fff_ffff }
        );
    }

    #[test]
    fn errors_point_at_the_culprit() {
        let cases: &[(&str, usize, &str)] = &[
            ("sockit() = 3", 0, "unknown call `sockit`"),
            ("listen(3, 1)", 12, "missing `= result`"),
            ("listen(3, 1 = 0", 6, "unclosed"),
            ("close(x) = 0", 6, "file descriptor"),
            ("connect(3, 192.0.2.1:8080) = -1 EWHAT", 32, "unknown errno"),
            ("setsockopt(3, TCP_FOO, 1) = 0", 14, "unknown or missing socket option"),
            ("shutdown(4, SHUT_UP) = 0", 12, "SHUT_RD"),
            ("read(4) = 0", 10, "needs a length"),
            ("write(4, 10) = -5", 15, "-1 ERRNO"),
            ("poll(4, POLLIN) = 1", 18, "revents"),
            ("bind(3, 70000) = 0", 8, "0 to 65535"),
            ("fcntl(3, F_FROB) = 0", 9, "not an fcntl command"),
            ("fcntl(3, F_SETFL, LOCK_EX) = 0", 18, "not an fcntl value"),
            ("fcntl(3, F_SETLK, 7) = 0", 18, "struct flock"),
            ("fcntl(3, F_SETOWN, 1) = 0", 19, "outside the run"),
        ];
        for (text, at, msg) in cases {
            let e = CallSpec::parse(text).unwrap_err();
            assert!(e.message.contains(msg), "{text}: {e:?}");
            assert_eq!(e.at, *at, "{text}: {e:?}");
        }
    }
}
