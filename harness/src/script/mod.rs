//! The script language: YAML with a header and a list of steps. This module
//! turns text into a checked [`Script`] or a [`ScriptError`] that points at the
//! file, line and column (down to a character inside a packet or call).
//! The language is documented in `docs/script-language.md`.

// A ScriptError carries the script's text for its diagnostic; it is returned
// only when a script is rejected (the cold path), so its size does not matter.
#![allow(clippy::result_large_err)]

pub mod call;
pub mod netconf;
pub mod packet;
pub mod print;
pub mod time;
pub mod wrap;

use call::{CallError, CallSpec};
use packet::{PacketError, PacketSpec};
use reference_stack::{Profile, State};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use time::TimeSpec;

/// The targets a script can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetKind {
    /// The bundled reference stack, in virtual time.
    Reference,
    /// The running Linux kernel, in a private namespace.
    Linux,
    /// smoltcp, linked in, in virtual time.
    Smoltcp,
    /// lwIP, a device-under-test program in a private namespace.
    Lwip,
    /// Any stack behind the DUT protocol: the program `--dut` names, in a
    /// private namespace.
    Dut,
}

impl TargetKind {
    pub const ALL: [TargetKind; 5] =
        [TargetKind::Reference, TargetKind::Linux, TargetKind::Smoltcp, TargetKind::Lwip, TargetKind::Dut];
    /// What `--target all` runs: the targets this project brings (a `dut`
    /// needs a program named).
    pub const BUNDLED: [TargetKind; 4] =
        [TargetKind::Reference, TargetKind::Linux, TargetKind::Smoltcp, TargetKind::Lwip];
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Reference => "reference",
            TargetKind::Linux => "linux",
            TargetKind::Smoltcp => "smoltcp",
            TargetKind::Lwip => "lwip",
            TargetKind::Dut => "dut",
        }
    }
    pub fn from_name(s: &str) -> Option<TargetKind> {
        TargetKind::ALL.into_iter().find(|k| k.name() == s)
    }
    /// A stack this project did not write: held to the reference's `out`
    /// packets (the RFC's behaviour) where a script names none for it.
    pub fn third_party(self) -> bool {
        matches!(self, TargetKind::Smoltcp | TargetKind::Lwip | TargetKind::Dut)
    }
    /// The names, for messages.
    pub fn names() -> String {
        TargetKind::ALL.map(|k| k.name()).join(", ")
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A position in the script text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
    pub offset: usize,
    pub len: usize,
}

/// What happens to a packet the stack sends that no `out` step expects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Outbound {
    /// `check` (the default): it fails the step after it.
    #[default]
    Check,
    /// `queue`: packetdrill's reading. What the stack sends waits, in order,
    /// for the next `out` step (which matches it, time included); packets no
    /// `out` step reaches are not failures.
    Queue,
    /// `ignore`: recorded, not a failure (for generated scripts, whose
    /// oracles are the target's).
    Ignore,
}

impl Outbound {
    pub const ALL: [Outbound; 3] = [Outbound::Check, Outbound::Queue, Outbound::Ignore];
    pub fn name(self) -> &'static str {
        match self {
            Outbound::Check => "check",
            Outbound::Queue => "queue",
            Outbound::Ignore => "ignore",
        }
    }
}

/// Which connection a state assertion is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateOf {
    /// The socket behind this descriptor (LISTEN for a listener).
    Fd(i32),
    /// The script's connection, with or without a descriptor (TIME-WAIT after close()).
    Conn,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// A segment the script sends to the stack under test.
    In(PacketSpec),
    /// `in: "icmp ..."`: an ICMP error about one of the stack's segments.
    Icmp(packet::IcmpSpec),
    /// A segment the stack must send, per target where they differ.
    Out(BTreeMap<TargetKind, PacketSpec>),
    Call(CallSpec),
    State {
        of: StateOf,
        is: State,
    },
    /// Nothing may be sent for this long.
    Quiet(Duration),
    /// The clock runs on this long with nothing to do: timers fire, and
    /// what the stack sends meanwhile is handled as between any two steps
    /// (an `out` step must expect it, unless `outbound` is `ignore` or
    /// `queue`). Scripts written by `harness fuzz` end with one.
    Wait(Duration),
    /// TCP_INFO fields of a socket (without the `tcpi_` prefix): exact, `*` or `lo~hi`.
    TcpInfo {
        fd: i32,
        fields: Vec<InfoField>,
    },
    /// A shell command, run in the target's namespace; only with
    /// `harness run --allow-shell`, else the script is skipped.
    Shell(String),
    /// `new_connection: {remote_isn: N}`: what follows is a new connection
    /// (packetdrill's second socket under test): the script's port moves on
    /// by one (or is `remote_port: P`: the stack connecting again to the
    /// same port), the stack's ISN, port and timestamps are learned again,
    /// and the script's sequence numbers count from N.
    NewConnection {
        remote_isn: u32,
        remote_port: Option<u16>,
    },
    /// `sysctl: {net.X: V}` mid-script (the header's are set before it starts).
    Sysctl(Vec<(String, String)>),
    /// `qdisc: "pfifo limit 0"` mid-script: the device's root qdisc now.
    Qdisc(netconf::Qdisc),
    /// `route: "advmss 1460 mtu lock 1500"` mid-script: the metrics of the
    /// route to the script's address now.
    Route(netconf::RouteMetrics),
    /// `tcp_metrics: flush`: the kernel forgets what it learned of peers
    /// (RTTs, fast-open cookies), as `ip tcp_metrics flush all`.
    TcpMetricsFlush,
    /// `counters: {TcpExtListenOverflows: 1, "*OutOfWindowIcmps*": "1~"}`:
    /// how much the kernel's SNMP counters (nstat's names) grew since the
    /// previous `counters:` step or the start; a name with `*` is the sum
    /// over the counters it matches. `counters: {}` only starts counting.
    Counters(Vec<InfoField>),
    /// `flood: {count: 10000, seg: "S 0:0(0) win 65535", answers: {"S.": "1~"}}`:
    /// many segments, each from its own address and port of the script's
    /// network, then what the stack sent back to them.
    Flood(Flood),
}

/// A flood: `count` copies of `seg`, each from its own source (the
/// script's network's addresses, then ports from 1024), at `rate` per
/// second (as fast as the target takes them when `None`); the stack's
/// answers to those sources within `settle` of the last, counted by their
/// flags (`S.`, `R.`, ...; `none`: the sources that got nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flood {
    pub count: u32,
    pub seg: PacketSpec,
    pub rate: Option<u32>,
    pub settle: Duration,
    pub answers: Vec<InfoField>,
}

/// The most segments one `flood` step sends.
pub const MAX_FLOOD: u32 = 1_000_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub pos: Pos,
    /// The step as written (for reports).
    pub text: String,
    pub time: TimeSpec,
    pub only: Option<TargetKind>,
    /// `conn: NAME`: the step is about another connection of the script's,
    /// one of the header's `connections` (its own port and numbering).
    pub conn: Option<String>,
    /// `from: LINE`: the line of the imported file (the header's `from`).
    pub from: Option<usize>,
    /// `within: D` on an `out` step: the packet must come at the latest D
    /// after the previous step, and the steps after this one do not wait
    /// for it (they run on their own times while it is awaited).
    pub within: Option<Duration>,
    pub kind: StepKind,
}

impl Step {
    /// When the step ends at the earliest, if the previous one ended at
    /// `prev`: its time (absolute, or after `prev`), plus a wait or quiet.
    pub fn earliest_end(&self, prev: Duration) -> Duration {
        let at = match self.time.base {
            time::Base::Absolute => prev.max(self.time.lo),
            time::Base::Relative => prev + self.time.lo,
        };
        at + match self.kind {
            StepKind::Wait(d) | StepKind::Quiet(d) => d,
            _ => Duration::ZERO,
        }
    }
}

/// A checked script (one matrix variant).
#[derive(Clone, Debug)]
pub struct Script {
    pub path: PathBuf,
    pub source: Arc<str>,
    pub name: String,
    /// `var=value, ...` for a matrix variant.
    pub variant: Option<String>,
    pub rfc: Vec<String>,
    /// Free labels for `--filter tag:NAME` (letters, digits, `-`, `_`).
    pub tags: Vec<String>,
    pub targets: Vec<TargetKind>,
    pub profile: Profile,
    pub sysctl: BTreeMap<String, String>,
    pub tolerance: Duration,
    /// Timers may also stray by this percentage of the gap since the previous
    /// step; `None`: the target's own (0 on the reference, 12.5 on Linux).
    pub tolerance_percent: Option<f64>,
    /// The address of the stack under test and of the script's peer.
    pub local: IpAddr,
    pub remote: IpAddr,
    pub local_port: u16,
    pub remote_port: u16,
    /// The script's ISN: its sequence numbers are relative to this.
    pub remote_isn: u32,
    /// What happens to a packet no `out` step expects.
    pub outbound: Outbound,
    /// `from:`: the file this script was imported from (a packetdrill .pkt);
    /// steps' `from: LINE` are lines of it.
    pub from: Option<String>,
    /// `timestamps: mapped`: packetdrill's meaning of TS values. An `out`
    /// packet's `TS val N` names the value the stack sent (not checked); an
    /// `in` packet's `ecr N` echoes the value the stack sent for N (or, for
    /// an N never seen, the first one's offset applied to N).
    pub ts_mapped: bool,
    /// `offload: tso`: the Linux target's TUN device takes TSO and checksum
    /// offload, like a typical Ethernet NIC (packetdrill's setup): the kernel
    /// hands over super-segments of up to 64 KB, matched as one packet.
    pub offload_tso: bool,
    /// `option_layout: exact`: a stack's options must be the script's list
    /// as written, NOPs and order included (packetdrill's rule). By default
    /// (`any`) NOPs are padding and the order is free: RFC 9293 3.1 lets an
    /// option begin on any octet (MUST-64), so where NOPs go is the
    /// stack's choice.
    pub option_layout_exact: bool,
    /// `congestion: NAME`: set on every socket the script makes (Linux:
    /// TCP_CONGESTION; a namespace cannot change the host's default).
    pub congestion: Option<String>,
    /// `out_segments: merge`: an `out` step of LEN octets may be met by
    /// consecutive segments that add up to LEN (packetdrill's default; the
    /// kernel's TSO sizing varies with pacing). `exact` (the default): one segment.
    pub merge_out: bool,
    /// `clock: script` (packetdrill's reading): a relative time counts from
    /// the previous step's script time, so lateness does not add up over a
    /// script; only a step with a time range (or `*`) counts from when it
    /// really happened. `observed` (the default): every relative time counts
    /// from when the previous step really happened (a segment injected, a
    /// packet seen).
    pub script_clock: bool,
    /// `fds: mapped`: the script's descriptor numbers are names (packetdrill's
    /// reading): socket() or accept() `= N` binds N to whatever the target
    /// returned, and later calls on N use it. `exact` (the default): the
    /// numbers must be the target's.
    pub fds_mapped: bool,
    /// `ts_tick: 1ms` (with `timestamps: mapped`): the stack's TS val must
    /// advance by one per tick of script time since its first, within the
    /// tolerance (packetdrill's --tcp_ts_tick_usecs).
    pub ts_tick: Option<Duration>,
    /// `timer_tick: 1ms`: the kernel timer tick (1/HZ) the script's times
    /// were written for (packetdrill's, HZ=1000). On a Linux kernel whose
    /// tick is coarser, a packet or a call's return may come up to one of
    /// its ticks earlier and three later, less one of the script's (see
    /// `engine::timing::tick_allowance`).
    pub timer_tick: Option<Duration>,
    /// `in_gso: N` (with `offload: tso`): every `in` TCP segment goes to the
    /// kernel as a GSO packet of segment size N, as a NIC's GRO hands it
    /// over (packetdrill's --mss): one longer than N is a super-segment.
    pub in_gso: Option<u16>,
    /// `mtu: N`: the MTU of the Linux target's device (packetdrill's
    /// --mtu); other targets cannot run the script.
    pub mtu: Option<u16>,
    /// `qdisc: KIND [limit N]`: the root qdisc of the Linux target's device
    /// (`tc qdisc replace dev tun0 root KIND`, as packetdrill's helpers set
    /// pfifo); other targets have no queue and ignore it.
    pub qdisc: Option<netconf::Qdisc>,
    /// `route: "advmss 600 mtu lock 640"`: the metrics of the Linux target's
    /// route to the script's address (`ip route change ...`); other targets
    /// cannot run the script.
    pub route: Option<netconf::RouteMetrics>,
    /// `connections: [b, c]` or `{b: 40100}`: the script's other connections
    /// by name, each with its remote port (by default `remote_port` + 1000
    /// for the first, + 2000 for the second, ...), numbered on their own.
    pub connections: Vec<(String, u16)>,
    pub steps: Vec<Step>,
    /// A wrap variant's placement (`harness run --wrap`): the script's
    /// numbers are already moved; the stack's are the target's to place.
    pub wrap: Option<wrap::Wrap>,
}

impl Script {
    /// `path` plus the variant, for reports.
    pub fn id(&self) -> String {
        match &self.variant {
            Some(v) => format!("{} [{v}]", self.path.display()),
            None => self.path.display().to_string(),
        }
    }
    pub fn runs_on(&self, t: TargetKind) -> bool {
        self.targets.contains(&t)
    }
}

/// A script that cannot be used: where, what, and a hint.
#[derive(Clone, Debug, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
pub struct ScriptError {
    pub message: String,
    #[source_code]
    pub src: miette::NamedSource<Arc<str>>,
    #[label("{label}")]
    pub span: miette::SourceSpan,
    pub label: String,
    #[help]
    pub help: Option<String>,
    pub path: String,
    pub line: usize,
    pub column: usize,
    /// The file's further errors, after this first one.
    #[related]
    pub others: Vec<ScriptError>,
}

impl ScriptError {
    fn at(
        path: &Path,
        source: &Arc<str>,
        offset: usize,
        len: usize,
        message: String,
        help: Option<String>,
    ) -> ScriptError {
        // An offset inside a scalar counts in its value, which escapes and
        // folding can make longer or shorter than its text in the file: it
        // may land inside a character (found by `make fuzz-parsers`).
        let mut offset = offset.min(source.len());
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let (line, column) = line_col(source, offset);
        let (shown, offset) = shown_source(source, offset, line);
        let message = shorten_quoted(message);
        ScriptError {
            label: short_label(&message),
            message,
            src: miette::NamedSource::new(path.display().to_string(), shown.clone()),
            span: (offset, len.min(shown.len() - offset).max(usize::from(offset < shown.len()))).into(),
            help,
            path: path.display().to_string(),
            line,
            column,
            others: Vec::new(),
        }
    }

    /// `file:line:column: message`, for one-line output.
    pub fn one_line(&self) -> String {
        format!("{}:{}:{}: {}", self.path, self.line, self.column, self.message)
    }

    /// This error and the file's further ones, in order.
    pub fn all(&self) -> impl Iterator<Item = &ScriptError> {
        std::iter::once(self).chain(self.others.iter())
    }
}

/// A message with each `quoted` piece of script text over 80 characters
/// cut to its start and end: a message names what is wrong, it does not
/// repeat a 20 MB argument.
fn shorten_quoted(message: String) -> String {
    if message.len() <= 200 {
        return message;
    }
    let parts: Vec<&str> = message.split('`').collect();
    let mut out = String::with_capacity(200);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push('`');
        }
        let n = p.chars().count();
        if i % 2 == 1 && n > 80 {
            out.extend(p.chars().take(50));
            out.push_str(&format!("...({} characters)...", n - 70));
            out.extend(p.chars().skip(n - 20));
        } else {
            out.push_str(p);
        }
    }
    out
}

/// The longest line a diagnostic shows whole.
const MAX_SHOWN_LINE: usize = 400;

/// The source a diagnostic renders, and the offset in it: the file itself,
/// or, when the error's line is longer than [`MAX_SHOWN_LINE`], only a
/// window of that line around the error (behind as many empty lines, so
/// the line number stays right): a 100 MB line is not rendered.
fn shown_source(source: &Arc<str>, offset: usize, line: usize) -> (Arc<str>, usize) {
    let start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = source[offset..].find('\n').map_or(source.len(), |i| offset + i);
    // The lines around it are shown too: they must be short as well.
    let before = source[..start.saturating_sub(1)].rfind('\n').map_or(0, |i| i + 1);
    let after = source.get(end + 1..).and_then(|r| r.find('\n')).map_or(source.len(), |i| end + 1 + i);
    let long = |a: usize, b: usize| b.saturating_sub(a) > MAX_SHOWN_LINE;
    if !long(start, end) && !long(before, start) && !long(end, after) {
        return (source.clone(), offset);
    }
    let mut from = offset.saturating_sub(MAX_SHOWN_LINE / 3).max(start);
    while !source.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (offset + 2 * MAX_SHOWN_LINE / 3).min(end);
    while !source.is_char_boundary(to) {
        to += 1;
    }
    let mut shown = "\n".repeat(line - 1);
    if from > start {
        shown.push_str("...");
    }
    let at = shown.len() + (offset - from);
    shown.push_str(&source[from..to]);
    if to < end {
        shown.push_str("...");
    }
    (Arc::from(shown), at)
}

fn short_label(m: &str) -> String {
    let s = m.split(':').next().unwrap_or(m);
    if s.len() > 60 {
        "here".into()
    } else {
        s.to_string()
    }
}

/// The byte offset of a 1-based line and column (columns count characters).
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    let rest = &text[start.min(text.len())..];
    start + rest.char_indices().nth(column.saturating_sub(1)).map_or(rest.len(), |(i, _)| i)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.chars().count(), |i| before[i + 1..].chars().count()) + 1;
    (line, col)
}

// ---------------------------------------------------------------- raw YAML

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    name: Option<Spanned<String>>,
    #[serde(default)]
    rfc: Vec<Spanned<String>>,
    #[serde(default)]
    tags: Vec<Spanned<String>>,
    targets: Option<Vec<Spanned<String>>>,
    profile: Option<Spanned<String>>,
    #[serde(default)]
    sysctl: BTreeMap<String, Spanned<serde_json::Value>>,
    tolerance: Option<Spanned<String>>,
    tolerance_percent: Option<Spanned<f64>>,
    addresses: Option<RawAddresses>,
    local_port: Option<Spanned<u16>>,
    remote_port: Option<Spanned<u16>>,
    remote_isn: Option<Spanned<u32>>,
    outbound: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    timestamps: Option<Spanned<String>>,
    offload: Option<Spanned<String>>,
    congestion: Option<Spanned<String>>,
    out_segments: Option<Spanned<String>>,
    clock: Option<Spanned<String>>,
    fds: Option<Spanned<String>>,
    ts_tick: Option<Spanned<String>>,
    timer_tick: Option<Spanned<String>>,
    in_gso: Option<Spanned<u32>>,
    option_layout: Option<Spanned<String>>,
    mtu: Option<Spanned<u32>>,
    qdisc: Option<Spanned<String>>,
    route: Option<Spanned<String>>,
    connections: Option<Spanned<serde_json::Value>>,
    /// Free text on why the script exists.
    #[allow(dead_code)]
    description: Option<String>,
    /// A map of variables to value lists (every combination), or a list of
    /// rows, each a map of the same variables (one script per row).
    matrix: Option<Spanned<serde_json::Value>>,
    steps: Spanned<Vec<Spanned<RawStep>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAddresses {
    local: Option<Spanned<String>>,
    remote: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    at: Option<Spanned<String>>,
    #[serde(rename = "in")]
    inbound: Option<Spanned<serde_json::Value>>,
    out: Option<Spanned<serde_json::Value>>,
    call: Option<Spanned<String>>,
    state: Option<Spanned<serde_json::Value>>,
    quiet: Option<Spanned<String>>,
    wait: Option<Spanned<String>>,
    tcp_info: Option<Spanned<serde_json::Value>>,
    shell: Option<Spanned<String>>,
    sysctl: Option<Spanned<BTreeMap<String, serde_json::Value>>>,
    new_connection: Option<Spanned<BTreeMap<String, u32>>>,
    qdisc: Option<Spanned<String>>,
    route: Option<Spanned<String>>,
    tcp_metrics: Option<Spanned<String>>,
    counters: Option<Spanned<serde_json::Map<String, serde_json::Value>>>,
    flood: Option<Spanned<serde_json::Map<String, serde_json::Value>>>,
    only: Option<Spanned<String>>,
    conn: Option<Spanned<String>>,
    /// With a `recvmsg` call: the msghdr's flags it must return.
    msg_flags: Option<Spanned<serde_json::Value>>,
    /// With a `recvmsg` call: the control messages it must return, in order.
    cmsg: Option<Spanned<serde_json::Value>>,
    /// The line of the imported file this step came from.
    from: Option<Spanned<usize>>,
    /// With `out`: the packet comes at the latest this long after the
    /// previous step, while the steps after it go on.
    within: Option<Spanned<String>>,
    /// The RFC clause or the deviation a per-target step stands for.
    #[allow(dead_code)]
    why: Option<String>,
}

/// Where the text of a scalar starts (after an opening quote).
fn scalar_pos(source: &str, loc: &serde_saphyr::Location) -> (usize, usize) {
    let off = loc.span().byte_offset().unwrap_or(0) as usize;
    let len = loc.span().byte_len().unwrap_or(1) as usize;
    match source.as_bytes().get(off) {
        Some(b'"') | Some(b'\'') => (off + 1, len.saturating_sub(2)),
        _ => (off, len),
    }
}

struct Ctx<'a> {
    path: &'a Path,
    source: Arc<str>,
    /// Where each line starts: positions in O(log n), not a scan from the
    /// top per step (a 40,000-step script checks in linear time).
    line_starts: Vec<usize>,
}

impl<'a> Ctx<'a> {
    fn new(path: &'a Path, source: Arc<str>) -> Ctx<'a> {
        let mut line_starts = vec![0];
        line_starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        Ctx { path, source, line_starts }
    }

    /// 1-based line and column (in characters) of a byte offset.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let off = offset.min(self.source.len());
        let i = self.line_starts.partition_point(|&s| s <= off) - 1;
        let col = self.source.get(self.line_starts[i]..off).map_or(1, |t| t.chars().count() + 1);
        (i + 1, col)
    }

    /// The text of a 1-based line, without its line break.
    fn line_text(&self, line: usize) -> &str {
        let Some(&start) = self.line_starts.get(line.wrapping_sub(1)) else { return "" };
        let end = self.line_starts.get(line).map_or(self.source.len(), |e| e - 1);
        self.source.get(start..end).unwrap_or("").trim_end_matches('\r')
    }

    fn err_at(&self, loc: &serde_saphyr::Location, message: impl Into<String>, help: Option<String>) -> ScriptError {
        let (off, len) = scalar_pos(&self.source, loc);
        ScriptError::at(self.path, &self.source, off, len, message.into(), help)
    }
    /// An error inside a scalar: `at`/`len` are offsets in its text.
    fn err_in(
        &self,
        loc: &serde_saphyr::Location,
        at: usize,
        len: usize,
        message: String,
        help: Option<String>,
    ) -> ScriptError {
        let (off, slen) = scalar_pos(&self.source, loc);
        let at = at.min(slen);
        ScriptError::at(self.path, &self.source, off + at, len, message, help)
    }
    fn yaml_error(&self, e: &serde_saphyr::Error) -> ScriptError {
        let msg = e.to_string();
        // The position is shown by the report; drop it from the message.
        let msg = match msg.rfind(" at line ") {
            Some(i) => msg[..i].to_string(),
            None => msg,
        };
        let msg = msg.trim_start_matches("error: ").to_string();
        let (off, len) = e
            .location()
            .map(|l| match l.span().byte_offset() {
                Some(o) => (o as usize, l.span().byte_len().unwrap_or(1) as usize),
                // Syntax errors carry a line and column but no byte offset.
                None => (offset_of(&self.source, l.line() as usize, l.column() as usize), 1),
            })
            .unwrap_or((0, 1));
        let help = msg.contains("unknown field").then(|| {
            let header: Vec<&str> = print::Key::ALL.iter().map(|k| k.name()).chain(["matrix", "steps"]).collect();
            let steps: Vec<&str> = print::StepKey::ALL.iter().map(|k| k.name()).collect();
            // The keys serde expected there (header or step keys) first.
            let field = msg.split('`').nth(1).unwrap_or_default();
            let expected: Vec<&str> = msg
                .split_once("expected one of ")
                .map(|(_, l)| l.split(", ").map(str::trim).collect())
                .unwrap_or_default();
            let hint = if expected.is_empty() {
                mean(field, header.iter().chain(&steps).copied())
            } else {
                mean(field, expected)
            };
            format!("{hint}header keys: {}; step keys: {}", header.join(", "), steps.join(", "))
        });
        ScriptError::at(self.path, &self.source, off, len.max(1), msg, help)
    }
}

/// The closest of `candidates` to a misspelt `word` (all of them when
/// several are as close), when close enough to be what was meant: a third
/// of its letters wrong at most.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let w = word.to_lowercase();
    let scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&w, &c.to_lowercase()), c))
        .filter(|&(d, c)| d > 0 && d <= (w.chars().count().max(c.chars().count()) / 3).max(1))
        .collect();
    let Some(best) = scored.iter().map(|&(d, _)| d).min() else { return Vec::new() };
    let mut out: Vec<&str> = scored.into_iter().filter(|&(d, _)| d == best).map(|(_, c)| c).collect();
    out.dedup();
    out
}

/// "did you mean `x`? " (or "`x` or `y`") when `word` is close to
/// `candidates`; empty when it is not.
pub fn mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    let close = did_you_mean(word, candidates);
    if close.is_empty() {
        return String::new();
    }
    let list: Vec<String> = close.iter().map(|c| format!("`{c}`")).collect();
    format!("did you mean {}? ", list.join(" or "))
}

// ---------------------------------------------------------------- loading

/// Reads and checks a script file; a `matrix:` header gives one script per variant.
pub fn load(path: &Path) -> Result<Vec<Script>, ScriptError> {
    let text = crate::os::files::read_text(path).map_err(|(e, valid)| {
        let (source, at): (Arc<str>, usize) = match valid {
            Some((v, at)) => (Arc::from(v), at),
            None => (Arc::from(""), 0),
        };
        ScriptError::at(path, &source, at, 0, format!("cannot read {}: {e}", path.display()), None)
    })?;
    parse(path, &text)
}

/// The longest a script may run, in its own time (virtual on in-process
/// targets, real on the others): ten days.
pub const MAX_SCRIPT_TIME: Duration = Duration::from_secs(10 * 86_400);

/// The most errors reported for one file (each costs a pass over it).
pub const MAX_ERRORS: usize = 100;

/// The most scripts a `matrix:` may expand to.
pub const MATRIX_LIMIT: usize = 100_000;

/// The bytes of the top-level `matrix:` entry, key and value: from its line
/// to the next line that starts another top-level key (or the end).
fn matrix_region(text: &str) -> Option<std::ops::Range<usize>> {
    let mut start = None;
    let mut off = 0;
    for line in text.split_inclusive('\n') {
        match start {
            Some(st) if line.starts_with(|c: char| !c.is_whitespace() && c != '#') => return Some(st..off),
            None if line.starts_with("matrix:") => start = Some(off),
            _ => {}
        }
        off += line.len();
    }
    start.map(|s| s..text.len())
}

/// Checks script text; `path` is used for messages only.
pub fn parse(path: &Path, text: &str) -> Result<Vec<Script>, ScriptError> {
    let ctx = Ctx::new(path, Arc::from(text));
    let opts = serde_saphyr::options! { with_snippet: false };
    let raw: RawScript = serde_saphyr::from_str_with_options(text, opts.clone()).map_err(|e| ctx.yaml_error(&e))?;
    let Some(matrix) = &raw.matrix else {
        if let Some(i) = text.find("${") {
            let end = text[i..].find('}').map_or(2, |e| e + 1);
            return Err(ScriptError::at(
                path,
                &ctx.source,
                i,
                end,
                format!("`{}` refers to a matrix variable, but there is no `matrix:`", &text[i..i + end]),
                Some("declare it in the header: matrix: {name: [value, ...]}".into()),
            ));
        }
        return Ok(vec![build(&ctx, raw, None)?]);
    };
    let scalar = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut combos: Vec<Vec<(String, String)>> = match &matrix.value {
        // Every combination of the variables (sorted by name).
        serde_json::Value::Object(vars) => {
            // Counted before any is built: 64 two-value variables would not fit in memory.
            let total = vars
                .values()
                .try_fold(1usize, |n, v| n.checked_mul(v.as_array().map_or(1, |a| a.len().max(1))))
                .filter(|&n| n <= MATRIX_LIMIT);
            if total.is_none() {
                return Err(ctx.err_at(
                    &matrix.referenced,
                    format!("the matrix expands to more than {MATRIX_LIMIT} scripts"),
                    Some("split it, or list the combinations wanted as rows: matrix: [{a: 1, b: 2}, ...]".into()),
                ));
            }
            let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
            for (k, values) in vars {
                let Some(values) = values.as_array().filter(|v| !v.is_empty()) else {
                    return Err(ctx.err_at(
                        &matrix.referenced,
                        format!("matrix variable `{k}` needs a non-empty list of values"),
                        None,
                    ));
                };
                combos = combos
                    .iter()
                    .flat_map(|c| values.iter().map(move |v| (c.clone(), v)))
                    .map(|(mut c, v)| {
                        c.push((k.clone(), scalar(v)));
                        c
                    })
                    .collect();
            }
            combos
        }
        // Rows: one script each.
        serde_json::Value::Array(rows) if !rows.is_empty() => {
            let mut out = Vec::new();
            let mut keys: Option<Vec<String>> = None;
            for (i, row) in rows.iter().enumerate() {
                let Some(m) = row.as_object() else {
                    return Err(ctx.err_at(
                        &matrix.referenced,
                        format!("matrix row {} is not a map of variables", i + 1),
                        None,
                    ));
                };
                let k: Vec<String> = m.keys().cloned().collect();
                if keys.get_or_insert_with(|| k.clone()) != &k {
                    return Err(ctx.err_at(
                        &matrix.referenced,
                        format!("matrix row {} does not have the same variables as row 1", i + 1),
                        None,
                    ));
                }
                out.push(m.iter().map(|(k, v)| (k.clone(), scalar(v))).collect());
            }
            out
        }
        _ => {
            return Err(ctx.err_at(
                &matrix.referenced,
                "`matrix:` is a map of variables to lists, or a list of rows".to_string(),
                Some("matrix: {flag: [S, F]}  or  matrix: [{flag: S, ack: 1}, {flag: F, ack: 2}]".into()),
            ))
        }
    };
    for (k, _) in combos.first().cloned().unwrap_or_default() {
        if !text.contains(&format!("${{{k}}}")) {
            return Err(ctx.err_at(
                &matrix.referenced,
                format!("matrix variable `{k}` is never used as ${{{k}}}"),
                None,
            ));
        }
    }
    combos.retain(|c| !c.is_empty());
    if combos.len() > MATRIX_LIMIT {
        return Err(ctx.err_at(
            &matrix.referenced,
            format!("the matrix expands to {} scripts (limit {MATRIX_LIMIT})", combos.len()),
            None,
        ));
    }
    // Each variant is the text without the matrix, so checking one costs
    // its steps, not the whole matrix again.
    // (Only the matrix's line breaks are kept: lines and columns stay
    // those of the file; byte offsets past the matrix are the variant's.)
    let template = match matrix_region(text) {
        Some(r) => {
            let breaks = text[r.clone()].matches('\n').count();
            format!("{}{}{}", &text[..r.start], "\n".repeat(breaks), &text[r.end..])
        }
        None => text.to_string(),
    };
    let mut out = Vec::with_capacity(combos.len());
    for combo in combos {
        // Substitute in the text and check it again: positions stay on the same lines.
        let mut t = template.clone();
        for (k, v) in &combo {
            t = t.replace(&format!("${{{k}}}"), v);
        }
        let vctx = Ctx::new(path, Arc::from(t.as_str()));
        let vraw: RawScript = serde_saphyr::from_str_with_options(&t, opts.clone()).map_err(|e| vctx.yaml_error(&e))?;
        // Variables named `_...` carry a row's expectations, not its identity:
        // they stay out of the variant's name.
        let label = combo
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(build(&vctx, vraw, Some(label))?);
    }
    Ok(out)
}

/// Every error of the script, not only the first: each is kept in `errs`
/// and the build goes on with a default in its place.
fn keep<T>(errs: &mut Vec<ScriptError>, r: Result<T, ScriptError>, default: T) -> T {
    r.unwrap_or_else(|e| {
        errs.push(e);
        default
    })
}

fn build(ctx: &Ctx<'_>, raw: RawScript, variant: Option<String>) -> Result<Script, ScriptError> {
    let mut errs = Vec::new();
    let name =
        raw.name.as_ref().map(|n| n.value.clone()).unwrap_or_else(|| {
            ctx.path.file_stem().map_or_else(|| "script".into(), |s| s.to_string_lossy().into_owned())
        });
    for t in &raw.tags {
        if t.value.is_empty() || !t.value.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_') {
            errs.push(ctx.err_at(
                &t.referenced,
                format!("`{}` is not a tag", t.value),
                Some("a tag is a word of letters, digits, `-` and `_`: tags: [slow, needs-ipv6]".into()),
            ));
        }
    }
    for r in &raw.rfc {
        let r = check_requirement_id(&r.value).map_err(|m| ctx.err_at(&r.referenced, m, Some("IDs as in rfc9293-requirements.md (MUST-1..69, SHLD-1..31, MAY-1..18, REC-1), or a clause such as \"9293 3.6\"".into())));
        keep(&mut errs, r, ());
    }
    let targets = match &raw.targets {
        None => TargetKind::ALL.to_vec(),
        Some(ts) => {
            let mut out = Vec::new();
            for t in ts {
                let r = TargetKind::from_name(&t.value).ok_or_else(|| {
                    ctx.err_at(
                        &t.referenced,
                        format!("unknown target `{}`", t.value),
                        Some(format!(
                            "{}targets: {}",
                            mean(&t.value, TargetKind::ALL.iter().map(|k| k.name())),
                            TargetKind::names()
                        )),
                    )
                });
                out.extend(keep(&mut errs, r.map(Some), None));
            }
            out
        }
    };
    let profile = match &raw.profile {
        None => Profile::rfc9293(),
        Some(p) => {
            let r = Profile::by_name(&p.value).ok_or_else(|| {
                ctx.err_at(
                    &p.referenced,
                    format!("unknown profile `{}`", p.value),
                    Some(format!(
                        "{}profiles: {}",
                        mean(&p.value, Profile::NAMES.iter().copied()),
                        Profile::NAMES.join(", ")
                    )),
                )
            });
            keep(&mut errs, r, Profile::rfc9293())
        }
    };
    let mut sysctl = BTreeMap::new();
    for (k, v) in &raw.sysctl {
        let r = check_sysctl_name(k).map_err(|m| {
            ctx.err_at(&v.referenced, m, Some("only net.* keys, applied inside the run's own namespace".into()))
        });
        keep(&mut errs, r, ());
        let val = match &v.value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => u8::from(*b).to_string(),
            _ => {
                errs.push(ctx.err_at(&v.referenced, format!("sysctl `{k}` needs a number or a string"), None));
                continue;
            }
        };
        sysctl.insert(k.clone(), val);
    }
    let tolerance = match &raw.tolerance {
        None => Duration::from_millis(10),
        Some(t) => {
            let r = time::parse_duration(&t.value).map_err(|m| ctx.err_at(&t.referenced, m, None));
            keep(&mut errs, r, Duration::from_millis(10))
        }
    };
    let addr = |s: &Option<Spanned<String>>, dflt: &str| -> Result<IpAddr, ScriptError> {
        match s {
            None => Ok(dflt.parse().expect("literal")),
            Some(a) => a
                .value
                .parse()
                .map_err(|_| ctx.err_at(&a.referenced, format!("`{}` is not an IP address", a.value), None)),
        }
    };
    let (local, remote) = match &raw.addresses {
        None => (addr(&None, "198.51.100.1")?, addr(&None, "192.0.2.1")?),
        Some(a) => {
            let ipv6 = a.local.as_ref().is_some_and(|l| l.value.contains(':'))
                || a.remote.as_ref().is_some_and(|r| r.value.contains(':'));
            let (dl, dr) = if ipv6 { ("2001:db8::1", "2001:db8:1::1") } else { ("198.51.100.1", "192.0.2.1") };
            let l = addr(&a.local, dl);
            let r = addr(&a.remote, dr);
            let (dl, dr) = (dl.parse().expect("literal"), dr.parse().expect("literal"));
            (keep(&mut errs, l, dl), keep(&mut errs, r, dr))
        }
    };
    if local.is_ipv6() != remote.is_ipv6() {
        let loc = raw.addresses.as_ref().and_then(|a| a.local.as_ref().or(a.remote.as_ref())).map(|s| s.referenced);
        errs.push(match loc {
            Some(l) => ctx.err_at(&l, "local and remote addresses are of different IP versions".to_string(), None),
            None => ScriptError::at(ctx.path, &ctx.source, 0, 1, "addresses of different IP versions".into(), None),
        });
    }
    let connections = match &raw.connections {
        None => Vec::new(),
        Some(c) => match parse_connections(&c.value, raw.remote_port.as_ref().map_or(40000, |p| p.value)) {
            Ok(v) => v,
            Err(m) => {
                errs.push(ctx.err_at(&c.referenced, m, None));
                Vec::new()
            }
        },
    };
    let steps_loc = raw.steps.referenced;
    let mut steps = Vec::new();
    let queue = raw.outbound.as_ref().is_some_and(|o| o.value == "queue");
    // The latest absolute time so far: a step may not be timed before it
    // (steps only go forward; relative ones add to the previous step's).
    let mut latest: Option<(Duration, usize)> = None;
    // The earliest the script can be at each step: a bound on the virtual
    // time a run may take (a closed window probed for 1e9 s ran 20 s).
    let mut earliest = Duration::ZERO;
    let mut over = false;
    for s in &raw.steps.value {
        if errs.len() >= MAX_ERRORS {
            let (off, _) = scalar_pos(&ctx.source, &s.referenced);
            errs.push(ScriptError::at(
                ctx.path,
                &ctx.source,
                off,
                1,
                format!("{MAX_ERRORS} errors so far: the steps from here on are not checked"),
                None,
            ));
            break;
        }
        let step = match build_step(ctx, s) {
            Ok(step) => step,
            Err(e) => {
                errs.push(e);
                continue;
            }
        };
        if let Some(c) = step.conn.as_deref().filter(|c| !connections.iter().any(|(n, _)| n == c)) {
            errs.push(ScriptError::at(
                ctx.path,
                &ctx.source,
                step.pos.offset,
                1,
                format!("`conn: {c}` is not one of the header's `connections`"),
                Some(format!("e.g. `connections: [{c}]`")),
            ));
            continue;
        }
        earliest = step.earliest_end(earliest);
        if earliest > MAX_SCRIPT_TIME && !over {
            over = true;
            errs.push(ScriptError::at(
                ctx.path,
                &ctx.source,
                step.pos.offset,
                1,
                format!(
                    "the script runs past {} days of script time here (at {:.0} s at the earliest): the limit",
                    MAX_SCRIPT_TIME.as_secs() / 86_400,
                    earliest.as_secs_f64()
                ),
                None,
            ));
        }
        if step.time.base == time::Base::Absolute && !step.time.any {
            match latest {
                Some((t, line)) if step.time.lo < t => errs.push(ScriptError::at(
                    ctx.path,
                    &ctx.source,
                    step.pos.offset,
                    1,
                    format!(
                        "this step is timed at {:.6} s, before line {line}'s {:.6} s: time only goes forward",
                        step.time.lo.as_secs_f64(),
                        t.as_secs_f64()
                    ),
                    Some("write the times in order, or relative to the step before (`at: +0.1`)".into()),
                )),
                _ => latest = Some((step.time.lo, step.pos.line)),
            }
        }
        if let (true, Some(w)) = (queue, s.value.within.as_ref().filter(|_| step.within.is_some())) {
            errs.push(ctx.err_at(
                &w.referenced,
                "`within` does not go with `outbound: queue` (a queued packet is the next `out` step's)".to_string(),
                None,
            ));
        }
        steps.push(step);
    }
    if raw.steps.value.is_empty() {
        errs.push(ctx.err_at(&steps_loc, "a script needs at least one step".to_string(), None));
    }
    let script = Script {
        path: ctx.path.to_path_buf(),
        source: ctx.source.clone(),
        name,
        variant,
        rfc: raw.rfc.iter().map(|r| r.value.clone()).collect(),
        tags: raw.tags.iter().map(|r| r.value.clone()).collect(),
        targets,
        profile,
        sysctl,
        tolerance,
        tolerance_percent: match &raw.tolerance_percent {
            None => None,
            Some(t) if (0.0..=100.0).contains(&t.value) => Some(t.value),
            Some(t) => {
                errs.push(ctx.err_at(&t.referenced, "tolerance_percent is 0 to 100".to_string(), None));
                None
            }
        },
        local,
        remote,
        local_port: raw.local_port.map_or(8080, |p| p.value),
        remote_port: raw.remote_port.map_or(40000, |p| p.value),
        remote_isn: raw.remote_isn.map_or(0, |p| p.value),
        outbound: match &raw.outbound {
            None => Outbound::Check,
            Some(o) => {
                let r = Outbound::ALL.into_iter().find(|x| x.name() == o.value).ok_or_else(|| {
                    ctx.err_at(
                        &o.referenced,
                        format!("outbound is `check`, `queue` or `ignore`, not `{}`", o.value),
                        None,
                    )
                });
                keep(&mut errs, r, Outbound::Check)
            }
        },
        from: raw.from.as_ref().map(|f| f.value.clone()),
        ts_mapped: switch(ctx, &mut errs, &raw.timestamps, "timestamps", "exact", "mapped"),
        offload_tso: switch(ctx, &mut errs, &raw.offload, "offload", "none", "tso"),
        option_layout_exact: switch(ctx, &mut errs, &raw.option_layout, "option_layout", "any", "exact"),
        congestion: match &raw.congestion {
            None => None,
            Some(c)
                if !c.value.is_empty()
                    && c.value.len() < 16
                    && c.value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                Some(c.value.clone())
            }
            Some(c) => {
                errs.push(ctx.err_at(&c.referenced, format!("`{}` is not a congestion control name", c.value), None));
                None
            }
        },
        ts_tick: match &raw.ts_tick {
            None => None,
            Some(t) => {
                let r = time::parse_duration(&t.value).map_err(|m| ctx.err_at(&t.referenced, m, None));
                let d = keep(&mut errs, r, Duration::from_millis(1));
                if d.is_zero() || raw.timestamps.as_ref().is_none_or(|m| m.value != "mapped") {
                    errs.push(ctx.err_at(
                        &t.referenced,
                        "ts_tick is a positive duration, with `timestamps: mapped`".to_string(),
                        None,
                    ));
                }
                Some(d)
            }
        },
        timer_tick: match &raw.timer_tick {
            None => None,
            Some(t) => {
                let r = time::parse_duration(&t.value).map_err(|m| ctx.err_at(&t.referenced, m, None));
                let d = keep(&mut errs, r, Duration::from_millis(1));
                if d.is_zero() || d > Duration::from_millis(100) {
                    errs.push(ctx.err_at(
                        &t.referenced,
                        "timer_tick is a kernel's tick, above 0 and at most 100ms (HZ=1000 is `1ms`)".to_string(),
                        None,
                    ));
                }
                Some(d)
            }
        },
        in_gso: match &raw.in_gso {
            None => None,
            Some(g) => {
                let ok = (1..=65_535).contains(&g.value) && raw.offload.as_ref().is_some_and(|o| o.value == "tso");
                if !ok {
                    errs.push(ctx.err_at(
                        &g.referenced,
                        "in_gso is a segment size from 1 to 65535, with `offload: tso`".to_string(),
                        None,
                    ));
                }
                Some(g.value as u16)
            }
        },
        mtu: raw.mtu.as_ref().map(|m| {
            if !(68..=65_535).contains(&m.value) {
                errs.push(ctx.err_at(&m.referenced, "mtu is a device MTU from 68 to 65535".to_string(), None));
            }
            m.value.clamp(68, 65_535) as u16
        }),
        qdisc: raw.qdisc.as_ref().and_then(|q| match netconf::Qdisc::parse(&q.value) {
            Ok(q) => Some(q),
            Err(m) => {
                errs.push(ctx.err_at(&q.referenced, m, None));
                None
            }
        }),
        connections,
        route: raw.route.as_ref().and_then(|r| match netconf::RouteMetrics::parse(&r.value) {
            Ok(r) => Some(r),
            Err(m) => {
                errs.push(ctx.err_at(&r.referenced, m, None));
                None
            }
        }),
        fds_mapped: switch(ctx, &mut errs, &raw.fds, "fds", "exact", "mapped"),
        merge_out: switch(ctx, &mut errs, &raw.out_segments, "out_segments", "exact", "merge"),
        script_clock: switch(ctx, &mut errs, &raw.clock, "clock", "observed", "script"),
        steps,
        wrap: None,
    };
    errs.sort_by_key(|e| (e.line, e.column));
    let mut errs = errs.into_iter();
    match errs.next() {
        None => Ok(script),
        Some(mut first) => {
            first.others = errs.collect();
            Err(first)
        }
    }
}

/// A header key with two spellings: `off` (also the default) or `on`.
/// (A value that is neither is an error kept in `errs`; the default stands.)
fn switch(
    ctx: &Ctx<'_>,
    errs: &mut Vec<ScriptError>,
    v: &Option<Spanned<String>>,
    key: &str,
    off: &str,
    on: &str,
) -> bool {
    match v {
        None => false,
        Some(x) if x.value == off => false,
        Some(x) if x.value == on => true,
        Some(x) => {
            errs.push(ctx.err_at(
                &x.referenced,
                format!("{key} is `{off}` or `{on}`, not `{}`", x.value),
                Some("see the header keys in docs/script-language.md".into()),
            ));
            false
        }
    }
}

/// A sysctl the Linux target may set: `net.*`, a plain dotted name.
pub fn check_sysctl_name(k: &str) -> Result<(), String> {
    if k.starts_with("net.")
        && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
        && !k.contains("..")
    {
        Ok(())
    } else {
        Err(format!("`{k}` is not a network sysctl (net.*)"))
    }
}

/// Checks an `rfc:` entry: a requirement ID from RFC 9293 Appendix B, or a clause.
pub fn check_requirement_id(s: &str) -> Result<(), String> {
    let ranges = [("MUST-", 69), ("SHLD-", 31), ("MAY-", 18), ("REC-", 1)];
    for (prefix, max) in ranges {
        if let Some(n) = s.strip_prefix(prefix) {
            return match n.parse::<u32>() {
                Ok(v) if (1..=max).contains(&v) => Ok(()),
                _ => Err(format!("`{s}` is not a requirement ID of RFC 9293 ({prefix}1 to {prefix}{max})")),
            };
        }
    }
    if s.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        return Ok(());
    }
    Err(format!("`{s}` is neither a requirement ID nor an RFC clause"))
}

fn packet_error(ctx: &Ctx<'_>, loc: &serde_saphyr::Location, e: PacketError) -> ScriptError {
    ctx.err_in(loc, e.at, e.len, e.message, e.help)
}

fn call_error(ctx: &Ctx<'_>, loc: &serde_saphyr::Location, e: CallError) -> ScriptError {
    ctx.err_in(loc, e.at, e.len, e.message, e.help)
}

/// A packet from a string, or from the map form used by generated scripts.
fn packet_from_value(
    ctx: &Ctx<'_>,
    v: &serde_json::Value,
    loc: &serde_saphyr::Location,
    inbound: bool,
) -> Result<PacketSpec, ScriptError> {
    let text = match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(m) => map_packet_text(m).map_err(|msg| {
            ctx.err_at(loc, msg, Some("map keys: flags, seq, len, ack, win, urg, options, data".into()))
        })?,
        _ => return Err(ctx.err_at(loc, "a packet is a string like `S. 0:0(0) ack 1` or a map".to_string(), None)),
    };
    let p = PacketSpec::parse(&text).map_err(|e| packet_error(ctx, loc, e))?;
    if inbound && p.psh_any {
        return Err(ctx.err_at(
            loc,
            "`p` (PSH either way) on an `in` packet: the script builds it, so say `P` or leave it out".to_string(),
            None,
        ));
    }
    if inbound && p.ecn == Some(packet::Ecn::EctAny) {
        return Err(ctx.err_at(
            loc,
            "`[ect01]` on an `in` packet: the script sends one codepoint, say `[ect0]` or `[ect1]`".to_string(),
            None,
        ));
    }
    if inbound {
        p.check_concrete(&text).map_err(|e| packet_error(ctx, loc, e))?;
    } else if p.bad_checksum {
        return Err(ctx.err_at(
            loc,
            "`bad_checksum` on an `out` packet: every packet the stack sends must have a good checksum".to_string(),
            Some("`bad_checksum` breaks the checksum of a packet the script sends (`in`)".into()),
        ));
    }
    Ok(p)
}

/// The map form, rendered to the compact notation.
fn map_packet_text(m: &serde_json::Map<String, serde_json::Value>) -> Result<String, String> {
    let get = |k: &str| -> Option<String> {
        m.get(k).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    for k in m.keys() {
        if !["flags", "seq", "len", "ack", "win", "urg", "options", "data"].contains(&k.as_str()) {
            return Err(format!("unknown packet field `{k}`"));
        }
    }
    let flags = get("flags").ok_or("a packet map needs `flags`")?;
    let seq = get("seq").unwrap_or_else(|| "*".into());
    let len = get("len").unwrap_or_else(|| "0".into());
    let mut t = if seq == "*" {
        format!("{flags} *")
    } else {
        let s: u64 = seq.parse().map_err(|_| format!("seq `{seq}` is not a number"))?;
        let l: u64 = len.parse().map_err(|_| format!("len `{len}` is not a number"))?;
        format!("{flags} {s}:{}({l})", (s + l) as u32)
    };
    for k in ["ack", "win", "urg"] {
        if let Some(v) = get(k) {
            t.push_str(&format!(" {k} {v}"));
        }
    }
    if let Some(o) = get("options") {
        t.push_str(&format!(" <{o}>"));
    }
    if let Some(d) = get("data") {
        t.push_str(&format!(" data \"{d}\""));
    }
    Ok(t)
}

fn build_step(ctx: &Ctx<'_>, s: &Spanned<RawStep>) -> Result<Step, ScriptError> {
    let r = &s.value;
    let (off, _) = scalar_pos(&ctx.source, &s.referenced);
    let (line, column) = ctx.line_col(off);
    let line_text = ctx.line_text(line).trim().trim_start_matches("- ").to_string();
    let pos = Pos { line, column, offset: off, len: 1 };
    let kinds = [
        r.inbound.is_some(),
        r.out.is_some(),
        r.call.is_some(),
        r.state.is_some(),
        r.quiet.is_some(),
        r.wait.is_some(),
        r.tcp_info.is_some(),
        r.shell.is_some(),
        r.sysctl.is_some(),
        r.new_connection.is_some(),
        r.qdisc.is_some(),
        r.route.is_some(),
        r.tcp_metrics.is_some(),
        r.counters.is_some(),
        r.flood.is_some(),
    ];
    let n = kinds.iter().filter(|k| **k).count();
    if n != 1 {
        return Err(ScriptError::at(
            ctx.path,
            &ctx.source,
            off,
            1,
            if n == 0 {
                "a step needs one of `in`, `out`, `call`, `state`, `quiet`, `wait`, `tcp_info`, `shell`, `sysctl`, `qdisc`, `route`, `tcp_metrics`, `counters`, `flood`, `new_connection`".into()
            } else {
                "a step has exactly one of `in`, `out`, `call`, `state`, `quiet`, `wait`, `tcp_info`, `shell`, `sysctl`, `qdisc`, `route`, `tcp_metrics`, `counters`, `flood`, `new_connection`".into()
            },
            Some("split it into several steps".into()),
        ));
    }
    let time = match &r.at {
        None => TimeSpec::default(),
        Some(a) => {
            // A bare number is an absolute time, as in packetdrill.
            let v = a.value.trim();
            let t = if v.chars().next().is_some_and(|c| c.is_ascii_digit()) { format!("@{v}") } else { v.to_string() };
            TimeSpec::parse(&t).map_err(|m| ctx.err_at(&a.referenced, m, Some("times: 1.5 or @1.5 (from the start), +0.2 or +200ms (after the previous step), +1~1.2 (a range), +0...0.5 (a blocking call's return), *".into())))?
        }
    };
    let only = match &r.only {
        None => None,
        Some(o) => Some(TargetKind::from_name(&o.value).ok_or_else(|| {
            ctx.err_at(
                &o.referenced,
                format!("unknown target `{}`", o.value),
                Some(format!("targets: {}", TargetKind::names())),
            )
        })?),
    };
    let kind = if let Some(p) =
        r.inbound.as_ref().filter(|p| p.value.as_str().is_some_and(|t| t.trim().starts_with("icmp")))
    {
        let text = p.value.as_str().unwrap_or_default();
        StepKind::Icmp(packet::IcmpSpec::parse(text).map_err(|m| {
            ctx.err_at(
                &p.referenced,
                m,
                Some("e.g. `in: icmp unreachable host_unreachable [0:10(10)]`, `in: icmp unreachable frag_needed mtu 800`".into()),
            )
        })?)
    } else if let Some(p) = &r.inbound {
        StepKind::In(packet_from_value(ctx, &p.value, &p.referenced, true)?)
    } else if let Some(p) = r.out.as_ref().filter(|p| p.value.as_str() == Some("none")) {
        // `out: none`: nothing may be sent within the step's time range.
        if time.hi <= time.lo || time.any {
            return Err(ctx.err_at(
                &p.referenced,
                "`out: none` needs a time range to be silent for".to_string(),
                Some("e.g. `{at: +0~0.5, out: none}`: nothing sent in the next 0.5 s".into()),
            ));
        }
        StepKind::Quiet(time.hi - time.lo)
    } else if let Some(p) = &r.out {
        let mut per = BTreeMap::new();
        let split = match &p.value {
            serde_json::Value::Object(m) if m.keys().all(|k| TargetKind::from_name(k).is_some()) && !m.is_empty() => {
                Some(m)
            }
            _ => None,
        };
        match split {
            Some(m) => {
                for (k, v) in m {
                    per.insert(
                        TargetKind::from_name(k).expect("checked"),
                        packet_from_value(ctx, v, &p.referenced, false)?,
                    );
                }
                // A third-party stack not named is held to the reference's
                // packet: the RFC's behaviour.
                if let Some(r) = per.get(&TargetKind::Reference).cloned() {
                    for t in TargetKind::ALL.into_iter().filter(|t| t.third_party()) {
                        per.entry(t).or_insert_with(|| r.clone());
                    }
                }
            }
            None => {
                let spec = packet_from_value(ctx, &p.value, &p.referenced, false)?;
                for t in TargetKind::ALL {
                    per.insert(t, spec.clone());
                }
            }
        }
        StepKind::Out(per)
    } else if let Some(c) = &r.call {
        let mut spec = CallSpec::parse(&c.value).map_err(|e| call_error(ctx, &c.referenced, e))?;
        if let call::OutCheck::Msg { flags: msg_flags, cmsgs } = &mut spec.out {
            if let Some(f) = &r.msg_flags {
                let text = match &f.value {
                    serde_json::Value::String(t) => t.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    _ => String::new(),
                };
                *msg_flags = Some(call::parse_recv_flags(&text).map_err(|m| {
                    ctx.err_at(&f.referenced, m, Some("e.g. `msg_flags: MSG_ERRQUEUE|MSG_TRUNC` or 0".into()))
                })?);
            }
            if let Some(c) = &r.cmsg {
                *cmsgs = Some(parse_cmsgs(&c.value).map_err(|m| {
                    ctx.err_at(
                        &c.referenced,
                        m,
                        Some("e.g. `cmsg: [{inq: 9000}]`, `[{timestamping: 0.010}, {recverr: {errno: ENOMSG, origin: SO_EE_ORIGIN_TIMESTAMPING, info: SCM_TSTAMP_SND, data: 1999}}]`, `[]`".into()),
                    )
                })?);
            }
        }
        StepKind::Call(spec)
    } else if let Some(st) = &r.state {
        let (of, is) = parse_state(&st.value).map_err(|m| {
            const STATES: [&str; 11] = [
                "CLOSED",
                "LISTEN",
                "SYN_SENT",
                "SYN_RECEIVED",
                "ESTABLISHED",
                "FIN_WAIT1",
                "FIN_WAIT2",
                "CLOSE_WAIT",
                "CLOSING",
                "LAST_ACK",
                "TIME_WAIT",
            ];
            let hint =
                m.strip_prefix("unknown TCP state ").map(|w| mean(w.trim_matches('"'), STATES)).unwrap_or_default();
            ctx.err_at(
                &st.referenced,
                m,
                Some(format!(
                    "{hint}e.g. `state: {{fd: 4, is: ESTABLISHED}}`, `state: 4 ESTABLISHED`, `state: conn TIME_WAIT`"
                )),
            )
        })?;
        StepKind::State { of, is }
    } else if let Some(q) = &r.quiet {
        StepKind::Quiet(time::parse_duration(&q.value).map_err(|m| ctx.err_at(&q.referenced, m, None))?)
    } else if let Some(w) = &r.wait {
        StepKind::Wait(time::parse_duration(&w.value).map_err(|m| ctx.err_at(&w.referenced, m, None))?)
    } else if let Some(t) = &r.tcp_info {
        let (fd, fields) = parse_tcp_info(&t.value).map_err(|m| {
            ctx.err_at(
                &t.referenced,
                m,
                Some(format!(
                    "e.g. `tcp_info: {{fd: 4, snd_cwnd: 10, rto: 200000~220000, retransmits: 0}}`; fields: {}; \
                     on Linux also {}, {}",
                    TCP_INFO_FIELDS.join(", "),
                    crate::os::sys::MEMINFO_FIELDS.join(", "),
                    crate::os::sys::CC_INFO_FIELDS.join(", ")
                )),
            )
        })?;
        StepKind::TcpInfo { fd, fields }
    } else if let Some(c) = &r.shell {
        if c.value.trim().is_empty() {
            return Err(ctx.err_at(&c.referenced, "an empty shell command".to_string(), None));
        }
        StepKind::Shell(c.value.clone())
    } else if let Some(m) = &r.sysctl {
        let mut kv = Vec::new();
        for (k, v) in &m.value {
            let val = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => return Err(ctx.err_at(&m.referenced, format!("sysctl `{k}` needs a number or a string"), None)),
            };
            check_sysctl_name(k).map_err(|msg| ctx.err_at(&m.referenced, msg, None))?;
            kv.push((k.clone(), val));
        }
        StepKind::Sysctl(kv)
    } else if let Some(q) = &r.qdisc {
        StepKind::Qdisc(netconf::Qdisc::parse(&q.value).map_err(|m| ctx.err_at(&q.referenced, m, None))?)
    } else if let Some(q) = &r.route {
        StepKind::Route(netconf::RouteMetrics::parse(&q.value).map_err(|m| ctx.err_at(&q.referenced, m, None))?)
    } else if let Some(t) = &r.tcp_metrics {
        if t.value != "flush" {
            return Err(ctx.err_at(&t.referenced, format!("tcp_metrics takes `flush`, not `{}`", t.value), None));
        }
        StepKind::TcpMetricsFlush
    } else if let Some(c) = &r.counters {
        let mut fields = Vec::new();
        for (k, v) in &c.value {
            let ok = !k.is_empty() && k.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '*' || ch == '_');
            if !ok {
                return Err(ctx.err_at(
                    &c.referenced,
                    format!("`{k}` is not a counter's name (nstat's: TcpExtListenOverflows, TcpInSegs, Ip6InReceives; `*` for any text)"),
                    None,
                ));
            }
            fields.push((k.clone(), parse_check(k, v).map_err(|m| ctx.err_at(&c.referenced, m, None))?));
        }
        StepKind::Counters(fields)
    } else if let Some(f) = &r.flood {
        StepKind::Flood(parse_flood(&f.value).map_err(|m| ctx.err_at(&f.referenced, m, None))?)
    } else if let Some(m) = &r.new_connection {
        if let Some(k) = m.value.keys().find(|k| *k != "remote_isn" && *k != "remote_port") {
            return Err(ctx.err_at(
                &m.referenced,
                format!("unknown key `{k}` in new_connection (remote_isn, remote_port)"),
                None,
            ));
        }
        let remote_port = match m.value.get("remote_port") {
            None => None,
            Some(&p) if (1..=65535).contains(&p) => Some(p as u16),
            Some(p) => {
                return Err(ctx.err_at(
                    &m.referenced,
                    format!("new_connection's remote_port {p} is not a port (1 to 65535)"),
                    None,
                ))
            }
        };
        StepKind::NewConnection { remote_isn: m.value.get("remote_isn").copied().unwrap_or(0), remote_port }
    } else {
        unreachable!("one kind is present")
    };
    for (key, v) in [("msg_flags", r.msg_flags.as_ref()), ("cmsg", r.cmsg.as_ref())] {
        if let Some(v) = v {
            if !matches!(&kind, StepKind::Call(c) if matches!(c.out, call::OutCheck::Msg { .. })) {
                return Err(ctx.err_at(&v.referenced, format!("`{key}` goes with a recvmsg call"), None));
            }
        }
    }
    if time.returns.is_some() && !matches!(kind, StepKind::Call(_)) {
        let a = r.at.as_ref().expect("a return time comes from `at`");
        return Err(ctx.err_at(&a.referenced, "only a call can have a return time (`...`)".to_string(), None));
    }
    let within = match &r.within {
        None => None,
        Some(w) => {
            let d = time::parse_duration(&w.value).map_err(|m| ctx.err_at(&w.referenced, m, None))?;
            if !matches!(kind, StepKind::Out(_)) {
                return Err(ctx.err_at(
                    &w.referenced,
                    "`within` goes with an `out` packet".to_string(),
                    Some(
                        "e.g. `{within: 500ms, out: \". 1:1(0) ack 101\"}`: that ACK by 0.5 s after the previous step"
                            .into(),
                    ),
                ));
            }
            if r.at.is_some() {
                return Err(ctx.err_at(
                    &w.referenced,
                    "`within` counts from the previous step; it does not go with `at`".to_string(),
                    Some("for a packet in a time range that the next steps wait for, use `at: +LO~HI`".into()),
                ));
            }
            if d.is_zero() {
                return Err(ctx.err_at(&w.referenced, "`within` needs a bound above zero".to_string(), None));
            }
            Some(d)
        }
    };
    let conn = match &r.conn {
        None => None,
        Some(c) => {
            let ok = matches!(
                &kind,
                StepKind::In(_) | StepKind::Out(_) | StepKind::Icmp(_) | StepKind::NewConnection { .. }
            ) || matches!(&kind, StepKind::State { of: StateOf::Conn, .. });
            if !ok {
                return Err(ctx.err_at(
                    &c.referenced,
                    "`conn` goes with `in`, `out`, `new_connection` and `state: conn ...` steps (calls name their descriptors)"
                        .to_string(),
                    None,
                ));
            }
            Some(c.value.clone())
        }
    };
    Ok(Step { pos, text: line_text, time, only, conn, from: r.from.as_ref().map(|f| f.value), within, kind })
}

/// `cmsg: [{inq: N}, {timestamping: SECS}, {recverr: {errno, origin, type, code, info, data}}]`.
fn parse_cmsgs(v: &serde_json::Value) -> Result<Vec<call::Cmsg>, String> {
    use call::{Cmsg, ExtErr, EXT_ERR_NAMES};
    let list = v.as_array().ok_or("`cmsg` is a list of control messages")?;
    let num = |x: &serde_json::Value, what: &str| -> Result<i64, String> {
        match x {
            serde_json::Value::Number(n) => n.as_i64().ok_or(format!("{what}: `{n}` is not an integer")),
            serde_json::Value::String(t) => EXT_ERR_NAMES
                .iter()
                .find(|(k, _)| k == t)
                .map(|(_, v)| *v)
                .or_else(|| t.parse().ok())
                .ok_or(format!("{what}: `{t}` is not a known name")),
            other => Err(format!("{what}: `{other}` is not a number")),
        }
    };
    let mut out = Vec::new();
    for item in list {
        let m = item.as_object().filter(|m| m.len() == 1).ok_or(format!(
            "`{item}`: a control message is one of {{inq: N}}, {{timestamping: SECS}}, {{recverr: {{...}}}}, {{opt_stats: {{...}}}}"
        ))?;
        let (k, x) = m.iter().next().expect("one entry");
        out.push(match k.as_str() {
            "inq" => Cmsg::Inq(num(x, "inq")?),
            "timestamping" => Cmsg::Timestamping(match x {
                serde_json::Value::String(t) if t == "*" => None,
                serde_json::Value::Number(n) => {
                    let secs = n.as_f64().ok_or("timestamping: not a number")?;
                    // packetdrill's zero: not checked.
                    (secs != 0.0).then_some((secs * 1e6).round() as i64)
                }
                serde_json::Value::String(t) => Some(time::parse_duration(t)?.as_micros() as i64),
                other => return Err(format!("timestamping: `{other}` is not a time")),
            }),
            "recverr" => {
                let f = x.as_object().ok_or("recverr: a map of errno, origin, type, code, info, data")?;
                let mut e = ExtErr::default();
                for (fk, fv) in f {
                    let n = num(fv, fk)?;
                    match fk.as_str() {
                        "errno" => e.errno = n as u32,
                        "origin" => e.origin = n as u8,
                        "type" => e.kind = n as u8,
                        "code" => e.code = n as u8,
                        "info" => e.info = n as u32,
                        "data" => e.data = n as u32,
                        other => {
                            return Err(format!(
                                "recverr: unknown field `{other}` (errno, origin, type, code, info, data)"
                            ))
                        }
                    }
                }
                Cmsg::RecvErr(e)
            }
            "opt_stats" => {
                let f = x.as_object().ok_or("opt_stats: a map of TCP_NLA_ attributes (busy: N, srtt: \"*\", ...)")?;
                let mut attrs = Vec::new();
                for (fk, fv) in f {
                    let name = fk.strip_prefix("TCP_NLA_").map(str::to_ascii_lowercase).unwrap_or_else(|| fk.clone());
                    if !call::OPT_STATS.iter().any(|a| a.1 == name) {
                        return Err(format!(
                            "opt_stats: `{fk}` is not a TCP_NLA_ attribute ({})",
                            call::OPT_STATS.iter().map(|a| a.1).collect::<Vec<_>>().join(", ")
                        ));
                    }
                    let v = match fv {
                        serde_json::Value::String(t) if t == "*" => None,
                        serde_json::Value::Number(n) => {
                            Some(n.as_u64().ok_or(format!("opt_stats: `{fk}: {n}` is not a count"))?)
                        }
                        other => return Err(format!("opt_stats: `{fk}: {other}` is not a count or \"*\"")),
                    };
                    attrs.push((name, v));
                }
                Cmsg::OptStats(attrs)
            }
            other => return Err(format!("unknown control message `{other}` (inq, timestamping, recverr, opt_stats)")),
        });
    }
    Ok(out)
}

/// What a TCP_INFO field must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoCheck {
    /// `N`, `lo~hi` or `*`.
    Range(i64, i64),
    /// `&MASK`: every bit of MASK set.
    BitsSet(i64),
    /// `!&MASK`: no bit of MASK set.
    BitsClear(i64),
}

impl InfoCheck {
    pub fn holds(self, v: i64) -> bool {
        match self {
            InfoCheck::Range(lo, hi) => lo <= v && v <= hi,
            InfoCheck::BitsSet(m) => v & m == m,
            InfoCheck::BitsClear(m) => v & m == 0,
        }
    }
}

impl fmt::Display for InfoCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            InfoCheck::Range(lo, hi) if lo == hi => write!(f, "{lo}"),
            InfoCheck::Range(i64::MIN, i64::MAX) => write!(f, "*"),
            InfoCheck::Range(i64::MIN, hi) => write!(f, "<= {hi}"),
            InfoCheck::Range(lo, i64::MAX) => write!(f, ">= {lo}"),
            InfoCheck::Range(lo, hi) => write!(f, "{lo}~{hi}"),
            InfoCheck::BitsSet(m) => write!(f, "bits {m:#x} set"),
            InfoCheck::BitsClear(m) => write!(f, "bits {m:#x} clear"),
        }
    }
}

/// A TCP_INFO field (without `tcpi_`) and what it must be.
pub type InfoField = (String, InfoCheck);

/// The TCP_INFO fields a script can assert (`tcpi_` prefix optional), as
/// Linux's `struct tcp_info` names them. The reference target answers the
/// ones its STATUS has.
pub const TCP_INFO_FIELDS: &[&str] = &[
    "state",
    "ca_state",
    "retransmits",
    "probes",
    "backoff",
    "options",
    "snd_wscale",
    "rcv_wscale",
    "delivery_rate_app_limited",
    "fastopen_client_fail",
    "rto",
    "ato",
    "snd_mss",
    "rcv_mss",
    "unacked",
    "sacked",
    "lost",
    "retrans",
    "fackets",
    "last_data_sent",
    "last_ack_sent",
    "last_data_recv",
    "last_ack_recv",
    "pmtu",
    "rcv_ssthresh",
    "rtt",
    "rttvar",
    "snd_ssthresh",
    "snd_cwnd",
    "advmss",
    "reordering",
    "rcv_rtt",
    "rcv_space",
    "total_retrans",
    "pacing_rate",
    "max_pacing_rate",
    "bytes_acked",
    "bytes_received",
    "segs_out",
    "segs_in",
    "notsent_bytes",
    "min_rtt",
    "data_segs_in",
    "data_segs_out",
    "delivery_rate",
    "busy_time",
    "rwnd_limited",
    "sndbuf_limited",
    "delivered",
    "delivered_ce",
    "bytes_sent",
    "bytes_retrans",
    "dsack_dups",
    "reord_seen",
    "rcv_ooopack",
    "snd_wnd",
    "rcv_wnd",
    "rehash",
    "total_rto",
    "total_rto_recoveries",
    "total_rto_time",
    "received_ce",
    "delivered_e1_bytes",
    "delivered_e0_bytes",
    "delivered_ce_bytes",
    "received_e1_bytes",
    "received_e0_bytes",
    "received_ce_bytes",
    "ecn_mode",
    "accecn_opt_seen",
    "accecn_fail_mode",
    "options2",
];

/// Whether a `tcp_info` step may name the field: TCP_INFO's, SO_MEMINFO's or
/// TCP_CC_INFO's.
pub fn is_info_field(f: &str) -> bool {
    use crate::os::sys::{CC_INFO_FIELDS, MEMINFO_FIELDS};
    TCP_INFO_FIELDS.contains(&f) || MEMINFO_FIELDS.contains(&f) || CC_INFO_FIELDS.contains(&f)
}

fn parse_tcp_info(v: &serde_json::Value) -> Result<(i32, Vec<InfoField>), String> {
    let m = v.as_object().ok_or("tcp_info is a map: {fd: N, FIELD: VALUE, ...}")?;
    let fd = m.get("fd").and_then(|f| f.as_i64()).ok_or("tcp_info needs `fd: N`")? as i32;
    let mut fields = Vec::new();
    for (k, val) in m {
        if k == "fd" {
            continue;
        }
        let name = k.strip_prefix("tcpi_").unwrap_or(k);
        if !is_info_field(name) {
            return Err(format!("unknown TCP_INFO field `{k}`"));
        }
        fields.push((name.to_string(), parse_check(k, val)?));
    }
    if fields.is_empty() {
        return Err("tcp_info names no field".into());
    }
    Ok((fd, fields))
}

/// `connections: [b, c]` (ports by default) or `{b: 40100, c: 40200}`.
fn parse_connections(v: &serde_json::Value, remote_port: u16) -> Result<Vec<(String, u16)>, String> {
    let name_ok = |n: &str| {
        !n.is_empty() && n.len() <= 32 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let mut out: Vec<(String, u16)> = Vec::new();
    let entries: Vec<(String, Option<u64>)> = match v {
        serde_json::Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map(|n| (n.to_string(), None)).ok_or("connections is a list of names"))
            .collect::<Result<_, _>>()?,
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, p)| p.as_u64().map(|p| (k.clone(), Some(p))).ok_or("connections maps a name to its remote port"))
            .collect::<Result<_, _>>()?,
        _ => return Err("connections is a list of names, or a map of names to remote ports".into()),
    };
    for (i, (name, port)) in entries.into_iter().enumerate() {
        if !name_ok(&name) {
            return Err(format!("`{name}` is not a connection's name (letters, digits, `_`, `-`)"));
        }
        let port = match port {
            Some(p) => u16::try_from(p).ok().filter(|p| *p > 0).ok_or(format!("`{name}: {p}` is not a port"))?,
            None => remote_port
                .checked_add(1000 * (i as u16 + 1))
                .ok_or(format!("`{name}`: no default port above {remote_port}; give one"))?,
        };
        if port == remote_port || out.iter().any(|(n, p)| *n == name || *p == port) {
            return Err(format!("`{name}`: each connection needs a name and a remote port of its own"));
        }
        out.push((name, port));
    }
    Ok(out)
}

/// `flood: {count, seg, rate, settle, answers}`.
fn parse_flood(m: &serde_json::Map<String, serde_json::Value>) -> Result<Flood, String> {
    if let Some(k) = m.keys().find(|k| !["count", "seg", "rate", "settle", "answers"].contains(&k.as_str())) {
        return Err(format!("unknown key `{k}` in a flood (count, seg, rate, settle, answers)"));
    }
    let count = m
        .get("count")
        .and_then(serde_json::Value::as_u64)
        .filter(|c| (1..=u64::from(MAX_FLOOD)).contains(c))
        .ok_or(format!("a flood needs `count:`, from 1 to {MAX_FLOOD}"))? as u32;
    let seg_text = m
        .get("seg")
        .and_then(serde_json::Value::as_str)
        .ok_or("a flood needs `seg:`, the segment each source sends")?;
    let seg = PacketSpec::parse(seg_text).map_err(|e| format!("seg: {}", e.message))?;
    if seg.ports.is_some() {
        return Err("seg: a flood's segments come from ports of its own; give none".into());
    }
    let rate = match m.get("rate") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|r| (1..=10_000_000).contains(r))
                .ok_or("rate is segments per second, from 1 to 10000000")? as u32,
        ),
    };
    let settle = match m.get("settle") {
        None => Duration::from_millis(100),
        Some(serde_json::Value::String(t)) => time::parse_duration(t)?,
        Some(other) => return Err(format!("settle: `{other}` is not a time (e.g. 100ms)")),
    };
    let mut answers = Vec::new();
    if let Some(a) = m.get("answers") {
        let a = a.as_object().ok_or("answers is a map of flags (S., R., ...) or `none` to counts")?;
        for (k, v) in a {
            if k != "none" {
                crate::script::packet::parse_flags_ae(k, 0).map_err(|e| format!("answers: `{k}`: {}", e.message))?;
            }
            answers.push((k.clone(), parse_check(k, v)?));
        }
    }
    Ok(Flood { count, seg, rate, settle, answers })
}

/// A value a number must have: `N`, `lo~hi` (`lo~` or `~hi` open),
/// `&MASK`, `!&MASK` or `*`.
fn parse_check(k: &str, val: &serde_json::Value) -> Result<InfoCheck, String> {
    let int = |s: &str| -> Result<i64, String> {
        let s = s.trim();
        match s.strip_prefix("0x") {
            Some(h) => i64::from_str_radix(h, 16),
            None => s.parse(),
        }
        .map_err(|_| format!("`{s}` is not an integer"))
    };
    Ok(match val {
        serde_json::Value::Number(n) => {
            let x = n.as_i64().ok_or(format!("`{k}` needs an integer"))?;
            InfoCheck::Range(x, x)
        }
        serde_json::Value::String(s) if s == "*" => InfoCheck::Range(i64::MIN, i64::MAX),
        serde_json::Value::String(s) if s.starts_with("!&") => InfoCheck::BitsClear(int(&s[2..])?),
        serde_json::Value::String(s) if s.starts_with('&') => InfoCheck::BitsSet(int(&s[1..])?),
        serde_json::Value::String(s) => match s.split_once('~') {
            Some((a, b)) => InfoCheck::Range(
                if a.trim().is_empty() { i64::MIN } else { int(a)? },
                if b.trim().is_empty() { i64::MAX } else { int(b)? },
            ),
            None => {
                let x = int(s).map_err(|_| format!("`{k}: {s}` is not N, lo~hi, &MASK, !&MASK or *"))?;
                InfoCheck::Range(x, x)
            }
        },
        _ => return Err(format!("`{k}` needs N, lo~hi, &MASK, !&MASK or *")),
    })
}

fn parse_state(v: &serde_json::Value) -> Result<(StateOf, State), String> {
    let (who, is) = match v {
        serde_json::Value::String(s) => {
            let mut w = s.split_whitespace();
            match (w.next(), w.next(), w.next()) {
                (Some(a), Some(b), None) => (a.to_string(), b.to_string()),
                _ => return Err(format!("`{s}` is not `FD STATE` or `conn STATE`")),
            }
        }
        serde_json::Value::Object(m) => {
            for k in m.keys() {
                if !["fd", "conn", "is"].contains(&k.as_str()) {
                    return Err(format!("unknown key `{k}` in a state check (fd, conn, is)"));
                }
            }
            let is = m.get("is").and_then(|x| x.as_str()).ok_or("a state check needs `is: STATE`")?.to_string();
            let who = match (m.get("fd"), m.get("conn")) {
                (Some(fd), None) => fd.to_string(),
                (None, Some(_)) => "conn".into(),
                _ => return Err("a state check names either `fd: N` or `conn: true`".into()),
            };
            (who, is)
        }
        _ => return Err("a state check is `FD STATE` or a map".into()),
    };
    let of = if who == "conn" {
        StateOf::Conn
    } else {
        StateOf::Fd(who.parse().map_err(|_| format!("`{who}` is not a file descriptor or `conn`"))?)
    };
    let is: State = is.parse()?;
    Ok((of, is))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Vec<Script>, ScriptError> {
        parse(Path::new("t.yaml"), text)
    }

    /// Every error of a file is reported, each where it is, with a "did
    /// you mean" where a name is close to a known one.
    #[test]
    fn every_error_with_its_suggestion() {
        let text = "profile: linx\ntags: [slow, 'a b']\nsteps:\n  - call: sokcet() = 3\n  - call: socket() = 3\n  - state: 3 ESTABLISHD\n  - call: setsockopt(3, SOL_SOCKET, SO_REUSEADR, 1) = 0\n";
        let e = p(text).unwrap_err();
        let got: Vec<(usize, &str, Option<&str>)> =
            e.all().map(|e| (e.line, e.message.as_str(), e.help.as_deref())).collect();
        assert_eq!(got.len(), 5, "{got:?}");
        let lines: Vec<usize> = got.iter().map(|g| g.0).collect();
        assert_eq!(lines, [1, 2, 4, 6, 7]);
        for (hint, (_, _, help)) in ["`linux`", "", "`socket`", "`ESTABLISHED`", "`SO_REUSEADDR`"].iter().zip(&got) {
            let help = help.unwrap_or_default();
            if hint.is_empty() {
                assert!(!help.contains("did you mean"), "{help}");
            } else {
                assert!(help.starts_with(&format!("did you mean {hint}?")), "{help}");
            }
        }
        let e = p("steps:\n  - ot: S 0:0(0) win 1\n").unwrap_err();
        assert!(e.help.unwrap_or_default().starts_with("did you mean `at` or `out`?"));
        assert!(did_you_mean("zzzz", ["socket", "bind"]).is_empty());
    }

    #[test]
    fn a_whole_script() {
        let s = p(r#"
name: active close
rfc: [MUST-13, "9293 3.6"]
targets: [reference]
profile: rfc9293
tolerance: 5ms
sysctl: {net.ipv4.tcp_timestamps: 0}
steps:
  - call: socket() = 3
  - call: bind(3, 8080) = 0
  - call: listen(3, 1) = 0
  - in: S 0:0(0) win 65535 <mss 1460>
  - out: S. 0:0(0) ack 1 <mss 1460,...>
  - in: . 1:1(0) ack 1 win 257
  - {at: +0...0, call: "accept(3) = 4"}
  - state: {fd: 4, is: ESTABLISHED}
  - out: {reference: "F. 1:1(0) ack 1", linux: "F. 1:1(0) ack 1 win *"}
    why: RFC 9293 3.6
  - {at: +240s, state: conn CLOSED}
  - quiet: 500ms
  - {only: linux, in: "R 1:1(0) win 0"}
"#)
        .unwrap();
        assert_eq!(s.len(), 1);
        let s = &s[0];
        assert_eq!(s.tolerance, Duration::from_millis(5));
        assert_eq!(s.steps.len(), 12);
        assert_eq!(s.steps[3].pos.line, 12);
        assert!(matches!(s.steps[9].kind, StepKind::State { of: StateOf::Conn, is: State::Closed }));
        assert_eq!(s.steps[11].only, Some(TargetKind::Linux));
        assert_eq!(s.sysctl.get("net.ipv4.tcp_timestamps").map(String::as_str), Some("0"));
    }

    #[test]
    fn packetdrill_readings_in_the_header() {
        let text = "from: \"x.pkt\"\ntimestamps: mapped\nts_tick: 1ms\ntimer_tick: 1ms\noutbound: queue\nfds: mapped\noffload: tso\n\
                    out_segments: merge\nclock: script\ncongestion: cubic\nsteps:\n  - {call: \"socket() = 3\", from: 7}\n  \
                    - {sysctl: {net.ipv4.tcp_fastopen: \"0x402\"}}\n  - new_connection: {remote_isn: 5}\n  \
                    - {tcp_info: {fd: 3, options: \"&32\", snd_cwnd: \"10~12\"}}\n";
        let s = &p(text).unwrap()[0];
        assert!(
            s.ts_mapped
                && s.outbound == Outbound::Queue
                && s.fds_mapped
                && s.offload_tso
                && s.merge_out
                && s.script_clock
        );
        assert_eq!((s.from.as_deref(), s.steps[0].from), (Some("x.pkt"), Some(7)));
        assert_eq!(s.ts_tick, Some(Duration::from_millis(1)));
        assert_eq!(s.timer_tick, Some(Duration::from_millis(1)));
        assert_eq!(s.congestion.as_deref(), Some("cubic"));
        assert!(matches!(&s.steps[1].kind, StepKind::Sysctl(kv) if kv[0].1 == "0x402"));
        assert_eq!(s.steps[2].kind, StepKind::NewConnection { remote_isn: 5, remote_port: None });
        let StepKind::TcpInfo { fields, .. } = &s.steps[3].kind else { panic!() };
        assert_eq!(fields[0], ("options".to_string(), InfoCheck::BitsSet(32)));
        assert!(InfoCheck::BitsSet(32).holds(0x21) && !InfoCheck::BitsSet(32).holds(1));
        assert!(InfoCheck::BitsClear(32).holds(1));
        for (bad, msg) in [
            ("fds: maybe\nsteps:\n  - call: socket() = 3\n", "fds is `exact` or `mapped`, not `maybe`"),
            ("ts_tick: 1ms\nsteps:\n  - call: socket() = 3\n", "with `timestamps: mapped`"),
            ("timer_tick: 0s\nsteps:\n  - call: socket() = 3\n", "timer_tick is a kernel's tick"),
            ("timer_tick: 1s\nsteps:\n  - call: socket() = 3\n", "at most 100ms"),
            ("in_gso: 1000\nsteps:\n  - call: socket() = 3\n", "with `offload: tso`"),
            ("mtu: 40\nsteps:\n  - call: socket() = 3\n", "mtu is a device MTU from 68 to 65535"),
            ("qdisc: \"fq; rm\"\nsteps:\n  - call: socket() = 3\n", "qdisc is a queueing discipline's kind"),
            ("congestion: \"cu bic\"\nsteps:\n  - call: socket() = 3\n", "not a congestion control name"),
            ("steps:\n  - sysctl: {kernel.panic: 1}\n", "not a network sysctl"),
        ] {
            let e = p(bad).unwrap_err();
            assert!(e.message.contains(msg), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn recvmsg_keys_and_icmp_steps() {
        let text = "steps:\n  - {call: \"recvmsg(4, 0, MSG_ERRQUEUE) = 0\", msg_flags: \"MSG_ERRQUEUE|MSG_TRUNC\", \
                    cmsg: [{timestamping: 0.01}, {recverr: {errno: ENOMSG, origin: SO_EE_ORIGIN_TIMESTAMPING, \
                    type: 0, code: 0, info: SCM_TSTAMP_SND, data: 1999}}, {inq: 7}]}\n  \
                    - in: icmp unreachable frag_needed mtu 800 [0:10(10)]\n";
        let s = &p(text).unwrap()[0];
        let StepKind::Call(c) = &s.steps[0].kind else { panic!() };
        let call::OutCheck::Msg { flags: msg_flags, cmsgs } = &c.out else { panic!() };
        assert_eq!(*msg_flags, Some(0x2020));
        let cm = cmsgs.as_ref().unwrap();
        assert_eq!(cm[0], call::Cmsg::Timestamping(Some(10_000)));
        assert_eq!(
            cm[1],
            call::Cmsg::RecvErr(call::ExtErr { errno: 42, origin: 4, kind: 0, code: 0, info: 0, data: 1999 })
        );
        assert_eq!(cm[2], call::Cmsg::Inq(7));
        assert!(matches!(&s.steps[1].kind, StepKind::Icmp(i) if i.mtu == Some(800) && i.len == 10));
        for (bad, msg) in [
            ("steps:\n  - {call: \"read(4, 1) = 1\", cmsg: []}\n", "goes with a recvmsg call"),
            ("steps:\n  - {call: \"recvmsg(4, 1, 0) = 1\", msg_flags: MSG_NOPE}\n", "not a recvmsg flag"),
            ("steps:\n  - {call: \"recvmsg(4, 1, 0) = 1\", cmsg: [{frob: 1}]}\n", "unknown control message"),
            ("steps:\n  - {call: \"recvmsg(4, 1, 0) = 1\", cmsg: [{recverr: {colour: 1}}]}\n", "unknown field"),
            (
                "steps:\n  - {call: \"recvmsg(4, 1, 0) = 1\", cmsg: [{opt_stats: {frob: 1}}]}\n",
                "not a TCP_NLA_ attribute",
            ),
            ("steps:\n  - {call: \"recvmsg(4, 1, 0) = 1\", cmsg: [{opt_stats: {busy: -1}}]}\n", "not a count"),
            ("steps:\n  - counters: {\"Tcp Ext\": 1}\n", "not a counter's name"),
            ("steps:\n  - qdisc: \"fq limit 3\"\n", "pfifo"),
            ("steps:\n  - route: \"rtt 3\"\n", "not a route metric"),
            ("steps:\n  - tcp_metrics: clear\n", "takes `flush`"),
            ("steps:\n  - flood: {seg: \"S 0:0(0)\"}\n", "needs `count:`"),
            ("connections: [b, b]\nsteps:\n  - call: socket() = 3\n", "of its own"),
            ("connections: {b: 40000}\nsteps:\n  - call: socket() = 3\n", "of its own"),
            ("connections: [\"b c\"]\nsteps:\n  - call: socket() = 3\n", "not a connection's name"),
            ("connections: 5\nsteps:\n  - call: socket() = 3\n", "list of names"),
            ("steps:\n  - {in: \"S 0:0(0)\", conn: b}\n", "not one of the header's `connections`"),
            ("connections: [b]\nsteps:\n  - {call: \"socket() = 3\", conn: b}\n", "`conn` goes with"),
            ("steps:\n  - flood: {count: 2000000, seg: \"S 0:0(0)\"}\n", "from 1 to 1000000"),
            ("steps:\n  - flood: {count: 5}\n", "needs `seg:`"),
            ("steps:\n  - flood: {count: 5, seg: \"9>8 S 0:0(0)\"}\n", "ports of its own"),
            ("steps:\n  - flood: {count: 5, seg: \"S 0:0(0)\", answers: {\"Q\": 1}}\n", "answers: `Q`"),
            ("steps:\n  - flood: {count: 5, seg: \"S 0:0(0)\", colour: 1}\n", "unknown key `colour`"),
            ("steps:\n  - in: icmp unreachable bogus_code\n", "unknown code"),
        ] {
            let e = p(bad).unwrap_err();
            assert!(e.message.contains(msg), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn matrix_expands() {
        let s = p("matrix: {f: [S, F.], w: [0, 100]}\nsteps:\n  - in: ${f} 0:0(0) ack 0 win ${w}\n").unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].variant.as_deref(), Some("f=S, w=0"));
        assert!(p("steps:\n  - in: ${f} 0:0(0) win 1\n").unwrap_err().message.contains("no `matrix:`"));
        let rows = p("matrix: [{f: S, a: 1}, {f: F, a: 2}]\nsteps:\n  - in: ${f} 0:0(0) win ${a}\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].variant.as_deref(), Some("a=2, f=F"));
        assert!(p("matrix: [{f: S}, {g: F}]\nsteps:\n  - in: ${f} 0:0(0) win 1\n")
            .unwrap_err()
            .message
            .contains("same variables"));
    }

    /// Malformed scripts: the message and the exact position.
    #[test]
    fn errors_are_positioned() {
        let cases: &[(&str, usize, usize, &str)] = &[
            ("steps:\n  - inn: S 0:0(0)\n", 2, 5, "unknown field `inn`"),
            ("steps:\n  - in: X 0:0(0) win 1\n", 2, 9, "unknown flag"),
            ("steps:\n  - in: \"S 0:0(0) win 70000\"\n", 2, 23, "window"),
            ("steps:\n  - call: listen(3, 1) = 0\n  - call: sockit() = 3\n", 3, 11, "unknown call"),
            ("steps:\n  - {at: soon, call: close(3) = 0}\n", 2, 10, "must start with"),
            ("profile: bsd\nsteps:\n  - quiet: 1s\n", 1, 10, "unknown profile"),
            ("targets: [reference, windows]\nsteps:\n  - quiet: 1s\n", 1, 22, "unknown target"),
            ("rfc: [MUST-70]\nsteps:\n  - quiet: 1s\n", 1, 7, "not a requirement ID"),
            ("steps:\n  - {in: S 0:0(0) win 1, out: S. 0:0(0)}\n", 2, 5, "exactly one"),
            ("steps:\n  - state: 4 EST\n", 2, 12, "unknown TCP state"),
            ("steps:\n  - quiet: forever\n", 2, 12, "not a duration"),
            ("steps: []\n", 1, 8, "at least one step"),
            ("steps:\n  - in: S * win 1\n", 2, 11, "`*`"),
            ("steps:\n  - in: [1\n", 2, 9, "unclosed bracket"),
        ];
        for (text, line, col, msg) in cases {
            let e = p(text).unwrap_err();
            assert!(e.message.contains(msg), "{text:?}: got {:?}", e.message);
            assert_eq!((e.line, e.column), (*line, *col), "{text:?}: {}", e.message);
        }
    }
}
