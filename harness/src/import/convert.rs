//! packetdrill items -> a script in the YAML language.
//!
//! Every step keeps `from: LINE`, the .pkt line it came from; the script's
//! header names the .pkt file, so a failing step is reported against it.
//! What the language cannot say is not approximated: the script is refused
//! with a [`Problem`] per construct (file:line, the construct, why).

use super::helpers;
use super::pkt::{self, Item, ItemKind, PdTime};
use crate::script::print::{Key, ScriptDoc, StepDoc, StepKey, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            congestion: HelperCongestion::AsSet,
            allow_shell: false,
            defines: Vec::new(),
            helper_dirs: Vec::new(),
            args: Vec::new(),
        }
    }
}

/// packetdrill's default `--tolerance_usecs`.
const PD_TOLERANCE_US: u64 = 4000;

/// Names the Python blocks use (packetdrill's `tcp_info` constants); the
/// TCP_* state names are [`crate::os::tcp_states::TCP_STATES`]'.
const PY_CONSTANTS: &[(&str, i64)] = &[
    ("TCP_CA_Open", 0),
    ("TCP_CA_Disorder", 1),
    ("TCP_CA_CWR", 2),
    ("TCP_CA_Recovery", 3),
    ("TCP_CA_Loss", 4),
    ("TCPI_OPT_TIMESTAMPS", 1),
    ("TCPI_OPT_SACK", 2),
    ("TCPI_OPT_WSCALE", 4),
    ("TCPI_OPT_ECN", 8),
    ("TCPI_OPT_ECN_SEEN", 16),
    ("TCPI_OPT_SYN_DATA", 32),
    ("TCPI_OPT_USEC_TS", 64),
    ("TCPI_OPT_TFO_CHILD", 128),
    ("TCP_INFINITE_SSTHRESH", 0x7fff_ffff),
];

#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// What a helper's `net.ipv4.tcp_congestion_control` becomes.
    pub congestion: HelperCongestion,
    /// packetdrill's `-D NAME=VALUE`: NAME is replaced by VALUE as a whole
    /// word (run_all.py passes TFO_COOKIE, CMSG_LEVEL_IP, ...).
    pub defines: Vec<(String, String)>,
    /// Keep backtick commands the language has no equivalent for as `shell:`
    /// steps (run only under `harness run --allow-shell`).
    pub allow_shell: bool,
    /// Where to find a helper the tree refers to but does not hold, by its
    /// file name (`--helpers DIR`).
    pub helper_dirs: Vec<PathBuf>,
    /// packetdrill's command line for every script (`--ip_version=ipv6`,
    /// `--local_ip=...`): as packetdrill does, they override the script's
    /// own options. `-D` goes to `defines`.
    pub args: Vec<(String, Option<String>)>,
}

/// What the congestion control a helper sets becomes. A namespace cannot
/// change the default away from the host's allowed list, so it is set on
/// every socket the script makes (the header's `congestion:`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HelperCongestion {
    /// The helper's value.
    AsSet,
    /// Left out: the host's default, as packetdrill itself gets inside a
    /// namespace.
    Host,
    /// This algorithm instead.
    Algo(String),
}

/// One construct the language cannot say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    /// A short, groupable name: "call sendto", "option --mss", "ICMP packet".
    pub construct: String,
    pub reason: String,
}

/// The outcome for one .pkt file.
#[derive(Debug)]
pub struct Converted {
    /// The YAML script, when every construct converted.
    pub yaml: Option<String>,
    pub problems: Vec<Problem>,
    /// Steps written (or that would have been).
    pub steps: usize,
}

struct Out {
    /// The script: header settings and steps as they are found.
    doc: ScriptDoc,
    sysctl: Vec<(String, String)>,
    problems: Vec<Problem>,
    /// A dropped event's time, to add to the next relative one.
    carry: Option<(bool, f64)>,
    pending_comments: Vec<String>,
    /// The socket the Python blocks read TCP_INFO of (packetdrill's "socket
    /// under test": the last one made by socket() or accept()).
    under_test: Option<i32>,
    py_vars: BTreeMap<String, i64>,
    /// `--strict_segments`: each `out` packet is one segment.
    strict_segments: bool,
    /// `--ip_version=ipv6`: the run's addresses are IPv6 ones.
    ipv6: bool,
    /// The sequence number of the script's first SYN: packetdrill reads
    /// sequence numbers of SYN packets (and acks of the stack's SYNs) as
    /// absolute, the others relative to it, as tcpdump prints them.
    remote_isn: Option<u32>,
    /// A SYN was seen: a later socket() starts a new connection.
    had_connection: bool,
    /// The `new_connection` step that waits for the peer's ISN.
    isn_patch: Option<usize>,
    /// The stack's ISN as the script names it (its SYN's sequence number).
    local_isn: u32,
    /// The first connection's ISN: the header's `remote_isn`.
    header_isn: Option<u32>,
    /// The script's directory, where its helpers are looked up.
    script_dir: Option<PathBuf>,
}

fn secs(v: f64) -> String {
    // Microsecond resolution, as packetdrill's.
    let us = (v * 1e6).round() as i64;
    let s = format!("{}.{:06}", us / 1_000_000, (us % 1_000_000).abs());
    let s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    if s.is_empty() {
        "0".into()
    } else {
        s
    }
}

impl Out {
    fn problem(&mut self, line: usize, construct: impl Into<String>, reason: impl Into<String>) {
        self.problems.push(Problem { line, construct: construct.into(), reason: reason.into() });
    }

    /// The step's `at:`, folding in the time of dropped events.
    fn at(&mut self, line: usize, t: &PdTime) -> Option<String> {
        let carry = self.carry.take();
        if t.any {
            return Some("*".into());
        }
        let (relative, start) = match (t.relative, carry) {
            (true, Some((true, c))) => (true, t.start + c),
            (true, Some((false, c))) => (false, t.start + c),
            _ => (t.relative, t.start),
        };
        let base_shift = start - t.start;
        let p = if relative { "+" } else { "@" };
        let mut s = format!("{p}{}", secs(start));
        if let Some(e) = t.range_end {
            if e < t.start {
                self.problem(line, "time range", format!("`{}` ends before it starts", t.text));
                return None;
            }
            let _ = write!(s, "~{}", secs(e + base_shift));
        }
        if let Some(r) = t.returns {
            if relative {
                // packetdrill counts a relative END from the previous event;
                // the language counts it from the call's start.
                if r < t.start {
                    self.problem(line, "blocking time", format!("`{}` returns before it starts", t.text));
                    return None;
                }
                let _ = write!(s, "...{}", secs(r - t.start));
            } else {
                let _ = write!(s, "...{}", secs(r + base_shift));
            }
        }
        Some(s)
    }

    /// Drops an event but keeps its time for the next step.
    fn drop_time(&mut self, t: Option<&PdTime>) {
        let Some(t) = t else { return };
        if t.any {
            return;
        }
        let prev = self.carry.take();
        self.carry = Some(match (t.relative, prev) {
            (true, Some((abs_or_rel, c))) => (abs_or_rel, c + t.start),
            (true, None) => (true, t.start),
            (false, _) => (false, t.start),
        });
    }

    /// The comments read since the last step, as the script's comments.
    fn take_comments(&mut self) -> Vec<String> {
        std::mem::take(&mut self.pending_comments)
            .iter()
            .flat_map(|c| c.lines().map(|l| l.trim_start_matches(['/', '*', ' ']).trim_end().to_string()))
            .collect()
    }

    /// A step of one kind (and maybe more keys), from .pkt line `line`.
    fn step(&mut self, line: usize, at: Option<String>, key: StepKey, value: Value, more: Vec<(StepKey, Value)>) {
        let at = at.filter(|a| a != "+0");
        let mut st = StepDoc::new(at, key, value);
        st.fields.extend(more);
        st.fields.push((StepKey::From, Value::Int(line as i64)));
        st.comments = self.take_comments();
        self.doc.steps.push(st);
    }
}

/// Converts one packetdrill script. `name` is how the header names the
/// source (its path relative to the imported tree).
pub fn convert(name: &str, text: &str, opts: &ImportOptions) -> Converted {
    convert_file(name, text, None, opts)
}

/// [`convert`] of a script read from `path`, whose helpers are looked up
/// from its directory.
pub fn convert_file(name: &str, text: &str, path: Option<&Path>, opts: &ImportOptions) -> Converted {
    let mut c = convert_file_unchecked(name, text, path, opts);
    // The importer never writes a script the language refuses: what would
    // be one (a time past the language's limit, say) is a problem at the
    // .pkt line its step came from.
    let Some(y) = c.yaml.as_deref() else { return c };
    if let Err(e) = crate::script::parse(Path::new(name), y) {
        let from = y
            .lines()
            .nth(e.line.saturating_sub(1))
            .and_then(|l| l.rsplit_once("from: "))
            .and_then(|(_, n)| n.trim_end_matches(['}', ' ']).parse::<usize>().ok())
            .unwrap_or(0);
        c.problems.push(Problem {
            line: from,
            construct: "language".into(),
            reason: format!("what this line becomes, the language refuses: {}", e.message),
        });
        c.yaml = None;
    }
    c
}

fn convert_file_unchecked(name: &str, text: &str, path: Option<&Path>, opts: &ImportOptions) -> Converted {
    let mut defines = opts.defines.clone();
    // run_all.py's other IPv4 definitions.
    for (n, v) in [("CODE", "host_unreachable"), ("CMSG_LEVEL_IP", "SOL_IP"), ("CMSG_TYPE_RECVERR", "IP_RECVERR")] {
        if !defines.iter().any(|(d, _)| d == n) {
            defines.push((n.into(), v.into()));
        }
    }
    // The script's own `--define=NAME=VALUE` lines: packetdrill reads them
    // before the rest, and a command line's -D (here: earlier in the list)
    // overrides them. They leave blank lines, so line numbers stay.
    let mut own = String::with_capacity(text.len());
    for (i, l) in text.split_inclusive('\n').enumerate() {
        let t = l.trim();
        let Some(body) = t.strip_prefix("--define").filter(|b| b.is_empty() || b.starts_with([' ', '\t', '='])) else {
            own.push_str(l);
            continue;
        };
        let kv = body.trim_start().strip_prefix('=').map(str::trim_start).unwrap_or("");
        match kv.split_once('=') {
            Some((n, v))
                if !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !v.is_empty() =>
            {
                if !defines.iter().any(|(d, _)| d == n) {
                    defines.push((n.to_string(), v.trim().to_string()));
                }
            }
            _ => {
                let c = Converted {
                    yaml: None,
                    problems: vec![Problem {
                        line: i + 1,
                        construct: "option --define".into(),
                        reason: format!("`{t}` is not --define=NAME=VALUE"),
                    }],
                    steps: 0,
                };
                return c;
            }
        }
        own.push_str(if l.ends_with('\n') { "\n" } else { "" });
    }
    let text = own.as_str();
    if defines.iter().any(|(n, _)| n == "TFO_COOKIE") || !text.contains("TFO_COOKIE") {
        return convert_with(name, text, path, opts, &defines).0;
    }
    // The fast-open cookie depends on the key the script (or a helper it
    // runs) sets: a first reading finds it.
    let (first, key) = convert_with(name, text, path, opts, &defines);
    match key.as_deref().map(fastopen_key) {
        Some(Some(key)) => {
            defines.push(("TFO_COOKIE".into(), tfo_cookie_for(name, text, &opts.args, key)));
            convert_with(name, text, path, opts, &defines).0
        }
        bad => {
            let line = text.lines().position(|l| l.contains("TFO_COOKIE")).map_or(0, |i| i + 1);
            let why = match bad {
                Some(None) => format!(
                    "the script sets net.ipv4.tcp_fastopen_key to `{}`, which is not four 8-digit hex words \
                     joined by `-`",
                    key.unwrap_or_default()
                ),
                _ => "the cookie follows net.ipv4.tcp_fastopen_key, which neither the script nor its helpers \
                      set (the kernel then picks a random key)"
                    .into(),
            };
            let mut problems = vec![Problem {
                line,
                construct: "TFO_COOKIE".into(),
                reason: format!("{why}; give it with -D TFO_COOKIE=HEX"),
            }];
            // The first reading's other problems (not those of the lines
            // that name the cookie).
            let lines: Vec<&str> = text.lines().collect();
            problems.extend(
                first
                    .problems
                    .into_iter()
                    .filter(|p| !lines.get(p.line.wrapping_sub(1)).is_some_and(|l| l.contains("TFO_COOKIE"))),
            );
            Converted { yaml: None, problems, steps: first.steps }
        }
    }
}

/// `net.ipv4.tcp_fastopen_key`'s value as the kernel reads it: four 32-bit
/// hex words joined by `-` (a second key after `,` is the backup).
fn fastopen_key(v: &str) -> Option<[u32; 4]> {
    let primary = v.trim().split(',').next()?;
    let words: Vec<u32> = primary.split('-').map(|w| u32::from_str_radix(w, 16).ok()).collect::<Option<_>>()?;
    words.try_into().ok()
}

/// One reading of the script with these defines; also the fast-open key the
/// header's sysctls set.
fn convert_with(
    name: &str,
    text: &str,
    path: Option<&Path>,
    opts: &ImportOptions,
    defines: &[(String, String)],
) -> (Converted, Option<String>) {
    let text = &substitute(text, defines);
    let items = match pkt::parse(text) {
        Ok(i) => i,
        Err(e) => {
            let c = Converted {
                yaml: None,
                problems: vec![Problem {
                    line: e.line,
                    construct: "syntax".into(),
                    reason: format!("column {}: {}", e.column, e.message),
                }],
                steps: 0,
            };
            return (c, None);
        }
    };
    let mut o = Out {
        doc: ScriptDoc::default(),
        sysctl: Vec::new(),
        problems: Vec::new(),
        carry: None,
        pending_comments: Vec::new(),
        under_test: None,
        py_vars: BTreeMap::new(),
        strict_segments: false,
        // run_all.py runs a `*v6.pkt` file over IPv6 only; the script's own
        // --ip_version, read below, has the last word.
        ipv6: name.ends_with("v6.pkt"),
        remote_isn: None,
        had_connection: false,
        isn_patch: None,
        local_isn: 0,
        header_isn: None,
        script_dir: path.map(|p| p.parent().map(Path::to_path_buf).unwrap_or_default()),
    };
    let mut tolerance_us = PD_TOLERANCE_US;
    let mut first_comment: Option<String> = None;
    let mut seen_event = false;
    // packetdrill reads the script's options, then its command line over
    // them, before anything else in the script.
    let mut args_applied = false;
    for it in &items {
        let line = it.line;
        if !args_applied && !matches!(it.kind, ItemKind::Comment(_) | ItemKind::Flag { .. }) {
            args_applied = true;
            command_line(&mut o, &opts.args, &mut tolerance_us);
        }
        match &it.kind {
            ItemKind::Comment(c) => {
                // The script's title: its first comment line that says
                // something (not a license tag, not an empty `//`).
                if first_comment.is_none() && !seen_event {
                    first_comment = c
                        .lines()
                        .map(|l| l.trim().trim_start_matches(['/', '*']).trim())
                        .find(|l| !l.is_empty() && !l.starts_with("SPDX-License-Identifier"))
                        .map(str::to_string);
                }
                o.pending_comments.push(c.clone());
            }
            ItemKind::Flag { name, value } => flag(&mut o, line, name, value.as_deref(), &mut tolerance_us),
            ItemKind::Shell(cmd) => {
                seen_event = true;
                shell(&mut o, it, cmd, opts);
            }
            ItemKind::Python(code) => {
                seen_event = true;
                python(&mut o, it, code);
            }
            ItemKind::Packet { inbound, text } => {
                seen_event = true;
                packet(&mut o, it, *inbound, text);
            }
            ItemKind::Call { name, args, result } => {
                seen_event = true;
                call(&mut o, it, name, args, result.as_deref());
            }
        }
    }
    if !args_applied {
        command_line(&mut o, &opts.args, &mut tolerance_us);
    }
    let fo_key = o.sysctl.iter().rev().find(|(k, _)| k == "net.ipv4.tcp_fastopen_key").map(|(_, v)| v.clone());
    // Comments after the last step are kept too.
    let trailing = o.take_comments();
    let steps = o.doc.steps.len();
    if steps == 0 && o.problems.is_empty() {
        let line = items.last().map_or(1, |i| i.line);
        o.problem(
            line,
            "no steps",
            "nothing to run: no packet, call or command became a step (a script of the language needs one)",
        );
    }
    if !o.problems.is_empty() {
        return (Converted { yaml: None, problems: o.problems, steps }, fo_key);
    }
    let title = first_comment.filter(|c| !c.is_empty()).unwrap_or_else(|| name.to_string());
    let mut doc = ScriptDoc {
        comments: vec![format!("Imported by `harness import` from packetdrill's {name}; re-import rather than edit.")],
        steps: std::mem::take(&mut o.doc.steps),
        trailing,
        ..ScriptDoc::default()
    };
    doc.set(Key::Name, title);
    doc.set(Key::From, name);
    doc.set(Key::Targets, Value::List(vec!["linux".into()]));
    doc.set(Key::Tolerance, format!("{tolerance_us}us"));
    doc.set(Key::TolerancePercent, Value::Num(12.5));
    // packetdrill's scripts are written on kernels with HZ=1000.
    doc.set(Key::TimerTick, "1ms");
    doc.set(Key::Timestamps, "mapped");
    doc.set(Key::Outbound, crate::script::Outbound::Queue.name());
    doc.set(Key::Fds, "mapped");
    doc.set(Key::Offload, "tso");
    doc.set(Key::OptionLayout, "exact");
    if let Some(isn) = o.header_isn.filter(|i| *i != 0) {
        doc.set(Key::RemoteIsn, Value::Int(i64::from(isn)));
    }
    if !o.strict_segments {
        doc.set(Key::OutSegments, "merge");
    }
    doc.set(Key::Clock, "script");
    if o.ipv6 {
        let addr = |k: &str, default: &str| -> Value {
            match o.doc.get(Key::Addresses) {
                Some(Value::Map(m)) => m.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
                _ => None,
            }
            .unwrap_or_else(|| default.into())
        };
        let v =
            Value::Map(vec![("local".into(), addr("local", V6_LOCAL)), ("remote".into(), addr("remote", V6_REMOTE))]);
        o.doc.set(Key::Addresses, v);
    }
    // The settings the options and helpers gave, in the language's order.
    for k in Key::ALL {
        if let Some(v) = o.doc.remove(k) {
            doc.set(k, v);
        }
    }
    if !o.sysctl.is_empty() {
        // Later settings win, as in the script.
        let mut seen = BTreeMap::new();
        for (k, v) in &o.sysctl {
            seen.insert(k.clone(), v.clone());
        }
        doc.set(Key::Sysctl, Value::Block(seen.into_iter().map(|(k, v)| (k, Value::Str(v))).collect()));
    }
    (Converted { yaml: Some(doc.print()), problems: Vec::new(), steps }, fo_key)
}

/// `--ip_version=ipv6`'s addresses unless the script names its own.
const V6_LOCAL: &str = "2001:db8:1::1";
const V6_REMOTE: &str = "2001:db8::1";

/// The fast-open cookie Linux gives the script's peer: SipHash-2-4, keyed by
/// the `tcp_fastopen_key` the script's sysctls set, over the client's then
/// the server's address, little-endian (net/ipv4/tcp_fastopen.c).
/// run_all.py passes the value for its own addresses (3021b9d889017eeb for
/// 192.0.2.1 -> 192.168.0.1 under google's defaults.sh); this is the value
/// for the addresses the script will run with.
fn tfo_cookie_for(name: &str, text: &str, args: &[(String, Option<String>)], key: [u32; 4]) -> String {
    // The command line's value, else the script's.
    let arg = |flag: &str| args.iter().rev().find(|(n, _)| n == flag).and_then(|(_, v)| v.clone());
    let flag = |name: &str| -> Option<std::net::IpAddr> {
        if let Some(v) = arg(&name[2..]) {
            return v.parse().ok();
        }
        text.lines().find_map(|l| l.trim().strip_prefix(name)?.strip_prefix('=')?.trim().parse().ok())
    };
    let v6 = match arg("ip_version").as_deref() {
        Some(v) => v == "ipv6",
        None => {
            text.lines().any(|l| l.trim().starts_with("--ip_version=ipv6"))
                || (name.ends_with("v6.pkt") && !text.lines().any(|l| l.trim().starts_with("--ip_version=ipv4")))
        }
    };
    let (dl, dr) = if v6 { (V6_LOCAL, V6_REMOTE) } else { ("198.51.100.1", "192.0.2.1") };
    let local = flag("--local_ip").unwrap_or_else(|| dl.parse().expect("literal"));
    let remote = flag("--remote_ip").unwrap_or_else(|| dr.parse().expect("literal"));
    tfo_cookie(remote, local, key)
}

pub fn tfo_cookie(client: std::net::IpAddr, server: std::net::IpAddr, key: [u32; 4]) -> String {
    let octets = |a: std::net::IpAddr| match a {
        std::net::IpAddr::V4(v) => v.octets().to_vec(),
        std::net::IpAddr::V6(v) => v.octets().to_vec(),
    };
    let mut msg = octets(client);
    msg.extend(octets(server));
    // The kernel's siphash_key_t: the 16 octets of the four words, little-endian.
    let mut k = [0u8; 16];
    for (i, w) in key.iter().enumerate() {
        k[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    let k0 = u64::from_le_bytes(k[..8].try_into().expect("8 octets"));
    let k1 = u64::from_le_bytes(k[8..].try_into().expect("8 octets"));
    reference_stack::rng::siphash24((k0, k1), &msg).to_le_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Replaces each defined NAME, as a whole word, by its value.
fn substitute(text: &str, defines: &[(String, String)]) -> String {
    let mut t = text.to_string();
    for (name, value) in defines {
        let mut out = String::with_capacity(t.len());
        let mut rest = t.as_str();
        while let Some(i) = rest.find(name.as_str()) {
            let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            let before = rest[..i].chars().next_back();
            let after = rest[i + name.len()..].chars().next();
            out.push_str(&rest[..i]);
            if word(before) || word(after) {
                out.push_str(name);
            } else {
                out.push_str(value);
            }
            rest = &rest[i + name.len()..];
        }
        out.push_str(rest);
        t = out;
    }
    t
}

/// packetdrill's command line (`ImportOptions::args`), over the script's
/// options; problems are reported at line 0 (the command line).
fn command_line(o: &mut Out, args: &[(String, Option<String>)], tolerance_us: &mut u64) {
    for (name, value) in args {
        flag(o, 0, name, value.as_deref(), tolerance_us);
    }
}

fn flag(o: &mut Out, line: usize, name: &str, value: Option<&str>, tolerance_us: &mut u64) {
    let v = value.unwrap_or("");
    match name {
        "tolerance_usecs" => match v.parse::<u64>() {
            Ok(n) => *tolerance_us = n,
            Err(_) => o.problem(line, "option --tolerance_usecs", format!("`{v}` is not a number of microseconds")),
        },
        "ip_version" if v == "ipv4" => o.ipv6 = false,
        // The language's documentation addresses unless --local_ip /
        // --remote_ip say otherwise (packetdrill's remote is 2001:db8::1 too).
        "ip_version" if v == "ipv6" => o.ipv6 = true,
        "strict_segments" if value.is_none() => o.strict_segments = true,
        // `timestamps: mapped` already reads an inbound ecr that names no TS
        // val the stack sent as offset from the first pair, which is what
        // this option asks for (packetdrill refuses such an ecr without it).
        "tcp_ts_ecr_scaled" if value.is_none() => {}
        "tcp_ts_tick_usecs" => match v.parse::<u64>() {
            Ok(0) => {}
            Ok(n) => {
                o.doc.set(Key::TsTick, format!("{n}us"));
            }
            Err(_) => o.problem(line, "option --tcp_ts_tick_usecs", format!("`{v}` is not a number of microseconds")),
        },
        "local_ip" | "remote_ip" => match v.parse::<std::net::IpAddr>() {
            Ok(_) => {
                let key = if name == "local_ip" { "local" } else { "remote" };
                let mut parts = match o.doc.remove(Key::Addresses) {
                    Some(Value::Map(m)) => m,
                    _ => Vec::new(),
                };
                parts.retain(|(k, _)| k != key);
                parts.push((key.to_string(), v.into()));
                o.doc.set(Key::Addresses, Value::Map(parts));
            }
            Err(_) => o.problem(line, format!("option --{name}"), format!("`{v}` is not an IP address")),
        },
        // Inbound segments as GSO packets of this size (packetdrill writes
        // every TCP packet with this gso_size in its virtio-net header).
        "mss" => match v.parse::<u16>() {
            Ok(n) if n > 0 => {
                o.doc.set(Key::InGso, Value::Int(i64::from(n)));
            }
            _ => o.problem(line, "option --mss", format!("`{v}` is not a segment size")),
        },
        // packetdrill's namespace reaches the remote address through a
        // gateway; the run's namespace has it on-link (route lines that
        // name the gateway lose their `via`), so neither changes the run.
        "gateway_ip" | "netmask_ip" if v.parse::<std::net::IpAddr>().is_ok() => {}
        "mtu" => match v.parse::<u16>() {
            Ok(n) if n >= 68 => {
                o.doc.set(Key::Mtu, Value::Int(i64::from(n)));
            }
            _ => o.problem(line, "option --mtu", format!("`{v}` is not a device MTU (68 to 65535)")),
        },
        "tolerance_percent" => match v.parse::<f64>() {
            Ok(p) if (0.0..=100.0).contains(&p) => {
                o.doc.set(Key::TolerancePercent, Value::Num(p));
            }
            _ => o.problem(line, "option --tolerance_percent", format!("`{v}` is not a percentage")),
        },
        // Output only.
        "verbose" | "debug" => {}
        // The Linux target keeps every MSG_ZEROCOPY send's buffer for the
        // whole run, always (what this option asks of packetdrill).
        "send_omit_free" if value.is_none() => {}
        // Which getsockopt packetdrill's blocks read: the tcp_info step
        // reads TCP_INFO, SO_MEMINFO and TCP_CC_INFO together.
        "code_sockopt" if matches!(v, "TCP_INFO" | "SO_MEMINFO" | "TCP_CC_INFO") => {}
        _ => {
            let written = format!("--{name}{}", value.map(|v| format!("={v}")).unwrap_or_default());
            let why = match name {
                "bind_port" | "connect_port" => {
                    "the ports packetdrill's `...` addresses stand for: the language's are the header's \
                     local_port and remote_port, and packets of one connection only"
                }
                "speed" => "the TUN device's reported link speed: the language has no such setting",
                "init_scripts" => "scripts packetdrill runs first: import them as scripts of their own",
                "code_command" | "code_format" | "code_sockopt" => {
                    "how packetdrill runs its %{ }% blocks: the importer turns them into tcp_info: steps \
                     (TCP_INFO read by the harness), so there is no interpreter to choose"
                }
                "wire_client" | "wire_server" | "wire_server_ip" | "wire_server_at" | "wire_server_port"
                | "wire_client_dev" | "wire_server_dev" => {
                    "packetdrill's two-machine wire mode: the harness drives a stack it does not link \
                     through its DUT protocol (--target dut), chosen at run time, not in the script"
                }
                "so_filename" | "so_flags" => {
                    "a TCP stack in a shared object: here such a stack is a target (an in-process adapter or \
                     the DUT protocol), chosen at run time, not in the script"
                }
                "non_fatal" => {
                    "packetdrill goes on after a failing packet or call of these kinds: a script of the \
                     language stops at its first failure"
                }
                "dry_run" => "packetdrill only parses the script: `harness check` does that",
                "is_anyip" => "the local address as an AnyIP route (IP_TRANSPARENT-style): not in the language yet",
                "psp_udp_port" => "PSP encapsulation's UDP port: the language has no PSP",
                "ip_version" => {
                    "an IP version packetdrill knows (ipv4, ipv6) but the language does not (ipv4-mapped-ipv6)"
                }
                "mss" | "mtu" | "tolerance_usecs" | "tolerance_percent" | "tcp_ts_tick_usecs" | "local_ip"
                | "remote_ip" | "gateway_ip" | "netmask_ip" => "not a value this option takes",
                "strict_segments" | "tcp_ts_ecr_scaled" | "send_omit_free" => "this option takes no value",
                _ if crate::import::PACKETDRILL_OPTIONS.iter().any(|(n, _)| *n == name) => "not in the language yet",
                _ => {
                    let near =
                        crate::script::did_you_mean(name, crate::import::PACKETDRILL_OPTIONS.iter().map(|(n, _)| *n));
                    o.problem(
                        line,
                        format!("option --{name}"),
                        format!(
                            "`{written}` is not one of packetdrill's options{}",
                            near.first().map(|n| format!(" (did you mean `--{n}`?)")).unwrap_or_default()
                        ),
                    );
                    return;
                }
            };
            o.problem(line, format!("option --{name}"), format!("`{written}`: {why}"));
        }
    }
}

/// packetdrill's namespace reaches the remote address through a gateway on
/// tun0; the run's namespace reaches it on the TUN device directly. So
/// `ip [-6] route change REMOTE via GATEWAY dev tun0 OPTS` becomes
/// `ip [-6] route replace REMOTE dev tun0 OPTS` (a host route next to the
/// namespace's prefix route, with the script's advmss, mtu, ...).
fn route_in_our_namespace(l: &str) -> String {
    let w: Vec<&str> = l.split_whitespace().collect();
    let v6 = w.get(1) == Some(&"-6");
    let w: Vec<&str> = if v6 { [&w[..1], &w[2..]].concat() } else { w };
    if w.len() > 3 && w[0] == "ip" && w[1] == "route" && matches!(w[2], "change" | "add" | "replace") {
        let mut out = if v6 { vec!["ip", "-6", "route", "replace"] } else { vec!["ip", "route", "replace"] };
        let mut i = 3;
        while i < w.len() {
            // packetdrill's gateway (192.168.0.2 with run_all.py's IPv4
            // arguments, fd3d:fa7b:d17d:8888::0 for IPv6): on-link here.
            if w[i] == "via" && i + 1 < w.len() && w.contains(&"tun0") {
                i += 2;
                continue;
            }
            out.push(w[i]);
            i += 1;
        }
        return out.join(" ");
    }
    l.to_string()
}

/// One line of shell a backtick block runs: its own, or a helper's.
struct ShLine {
    /// Which line of the block (a helper's lines share their call's).
    i: usize,
    /// The .pkt line.
    lno: usize,
    /// The helper file and line it was read from.
    origin: Option<helpers::Origin>,
    text: String,
}

impl ShLine {
    /// A message about this line: prefixed by the helper's file:line.
    fn say(&self, what: String) -> String {
        match &self.origin {
            Some(h) => format!("{}:{}: {what}", h.file, h.line),
            None => what,
        }
    }
}

/// `cmd`'s redirections that change nothing (to /dev/null, between
/// descriptors) taken out.
fn without_null_redirections(l: &str) -> String {
    let mut t = l.to_string();
    for r in ["2>&1", "&> /dev/null", "&>/dev/null", "2> /dev/null", "2>/dev/null", "> /dev/null", ">/dev/null"] {
        t = t.replace(r, " ");
    }
    t.trim().to_string()
}

/// `ARG` of a set_sysctls.py-style call: `/proc/sys/NAME=VALUE`.
fn proc_sys_arg(a: &str) -> Option<(String, &str)> {
    let (k, v) = a.split_once('=')?;
    let k = k.strip_prefix("/proc/sys/")?;
    k.starts_with("net/").then(|| (k.replace('/', "."), v))
}

/// Puts the line into `out`, or, when it runs a file of the script's tree,
/// that file's lines in its place (read, never recognised by name).
fn expand(o: &mut Out, opts: &ImportOptions, line: ShLine, depth: usize, env: &mut ShellEnv, out: &mut Vec<ShLine>) {
    let mut line = line;
    line.text = env.substitute(&line.text);
    let plain = shell_words(&without_null_redirections(&line.text));
    // `NAME=VALUE`, `export NAME=VALUE`: the shell's variables, for the
    // lines after it (`$NAME`, `${NAME}`).
    if let Some(words) = &plain {
        if env.assign(words) {
            return;
        }
    }
    // `source FILE` and `. FILE` read FILE in this shell (its variables
    // stay); any other path runs a helper in a shell of its own.
    let (words, sourced) = match plain {
        Some(w) if w.len() == 2 && (w[0] == "source" || w[0] == ".") => {
            let f = if w[1].contains('/') { w[1].clone() } else { format!("./{}", w[1]) };
            (vec![f], true)
        }
        Some(w) if w.first().is_some_and(|w0| w0.contains('/')) => (w, false),
        _ => {
            out.push(line);
            return;
        }
    };
    let cmd = words[0].as_str();
    // An absolute path is the host's program (`/bin/rm`), not the tree's.
    if cmd.starts_with('/') {
        out.push(line);
        return;
    }
    let found = helpers::locate(cmd, o.script_dir.as_deref(), &opts.helper_dirs);
    let path = match found {
        Ok(p) => p,
        Err(why) => {
            let what = line.say(why);
            o.problem(line.lno, "helper not found", what);
            return;
        }
    };
    // set_sysctls.py's convention: every argument /proc/sys/NAME=VALUE.
    if words.len() > 1 && words[1..].iter().all(|a| proc_sys_arg(a).is_some()) {
        out.push(line);
        return;
    }
    if depth >= helpers::MAX_DEPTH {
        let what = line.say(format!("`{cmd}`: helpers run helpers deeper than {}", helpers::MAX_DEPTH));
        o.problem(line.lno, "helper", what);
        return;
    }
    let h = match helpers::read(&path) {
        Ok(h) => h,
        Err(why) => {
            let what = line.say(why);
            o.problem(line.lno, "helper", what);
            return;
        }
    };
    if let Some(interp) = &h.interpreter {
        let what = line.say(format!(
            "`{cmd}` is a {interp} program: the importer reads shell helpers, and calls whose arguments are all \
             /proc/sys/NAME=VALUE"
        ));
        o.problem(line.lno, format!("helper {interp}"), what);
        return;
    }
    // Named as the script's tree names it (commands run in the script's
    // directory, helpers' too), or where --helpers found it.
    let file = match o.script_dir.as_ref().is_some_and(|d| path.starts_with(d)) {
        true => cmd.to_string(),
        false => path.display().to_string(),
    };
    // A helper run as a program sees the exported variables only.
    let mut own = if sourced { None } else { Some(env.exported()) };
    let env = own.as_mut().unwrap_or(env);
    for (n, text) in helpers::lines(&h.text) {
        let origin = Some(helpers::Origin { file: file.clone(), line: n });
        expand(o, opts, ShLine { i: line.i, lno: line.lno, origin, text }, depth + 1, env, out);
    }
}

/// The shell variables a backtick block (and the helpers it sources) set:
/// name -> (value, exported).
#[derive(Default)]
struct ShellEnv(BTreeMap<String, (String, bool)>);

impl ShellEnv {
    fn name_ok(n: &str) -> bool {
        n.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    /// Takes `NAME=VALUE` or `export|readonly NAME=VALUE [...]`; false for
    /// any other command.
    fn assign(&mut self, words: &[String]) -> bool {
        let (exported, rest) = match words.first().map(String::as_str) {
            Some("export") => (true, &words[1..]),
            Some("readonly" | "local" | "declare") => (false, &words[1..]),
            _ => (false, words),
        };
        let pairs: Option<Vec<(&str, &str)>> =
            rest.iter().map(|w| w.split_once('=').filter(|(n, _)| Self::name_ok(n))).collect();
        match pairs {
            Some(p) if !p.is_empty() && (exported || words.len() == p.len()) => {
                for (n, v) in p {
                    let was_exported = self.0.get(n).is_some_and(|e| e.1);
                    self.0.insert(n.to_string(), (v.to_string(), exported || was_exported));
                }
                true
            }
            _ => false,
        }
    }

    /// `$NAME` and `${NAME}` of the variables set, replaced by their values
    /// (others, and `$((...))`, left for the word reader).
    fn substitute(&self, text: &str) -> String {
        if self.0.is_empty() || !text.contains('$') {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (name, used) = match after.strip_prefix('{') {
                Some(b) => match b.find('}') {
                    Some(e) => (&b[..e], e + 2),
                    None => ("", 0),
                },
                None => {
                    let e = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
                    (&after[..e], e)
                }
            };
            match self.0.get(name).filter(|_| Self::name_ok(name)) {
                Some((v, _)) => {
                    out.push_str(v);
                    rest = &after[used..];
                }
                None => {
                    out.push('$');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    fn exported(&self) -> ShellEnv {
        ShellEnv(self.0.iter().filter(|(_, v)| v.1).map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}

/// Backtick commands (and the helper files they run) become header
/// settings, `sysctl:` steps, or `shell:` steps under --allow-shell.
fn shell(o: &mut Out, it: &Item, cmd: &str, opts: &ImportOptions) {
    let line = it.line;
    let mut dropped = true;
    let mut kept: Vec<String> = Vec::new();
    let mut mid_sysctl: Vec<(String, String)> = Vec::new();
    // `qdisc:` and `route:` steps, after the first step.
    let mut mid_net: Vec<(StepKey, Value)> = Vec::new();
    // A trailing `\` continues the line (the line number stays the first one).
    let mut sh = Vec::new();
    // Each backtick block is a shell of its own.
    let mut env = ShellEnv::default();
    for (i, raw) in helpers::joined(cmd) {
        let text = helpers::strip_comment(&raw).trim().trim_end_matches(';').trim().to_string();
        if !text.is_empty() {
            expand(o, opts, ShLine { i, lno: line + i, origin: None, text }, 0, &mut env, &mut sh);
        }
    }
    // Where the mid-script sysctls and the kept commands sit in the block.
    let (mut last_sysctl, mut first_kept) = (None, None);
    for (n, s) in sh.iter().enumerate() {
        let (i, lno, l) = (s.i, s.lno, s.text.as_str());
        // packetdrill runs a block as one command: its last line's status is
        // the block's, a failure of any other line goes unnoticed.
        let last = n + 1 == sh.len();
        let (n_sysctl, n_kept) = (mid_sysctl.len() + mid_net.len(), kept.len());
        // A plain command (no pipes, lists or redirections other than to
        // /dev/null) is read word by word; anything else is a shell
        // command as a whole.
        let plain = shell_words(&without_null_redirections(l));
        let words: Vec<&str> = match &plain {
            Some(w) if !w.is_empty() => w.iter().map(String::as_str).collect(),
            _ => vec![""],
        };
        if words[0].contains('/') && words.len() > 1 && words[1..].iter().all(|a| proc_sys_arg(a).is_some()) {
            for (k, v) in words[1..].iter().filter_map(|a| proc_sys_arg(a)) {
                sysctl_at(o, lno, &k, v, s.origin.is_some(), opts, &mut mid_sysctl);
            }
        } else if words[0] == "sysctl" {
            let kvs: Vec<&&str> = words[1..].iter().filter(|w| !w.starts_with('-')).collect();
            for kv in kvs {
                match kv.split_once('=') {
                    Some((k, v)) if k.starts_with("net.") || k.starts_with("net/") => {
                        sysctl_at(o, lno, &k.replace('/', "."), v, s.origin.is_some(), opts, &mut mid_sysctl)
                    }
                    _ => {
                        let what = s.say(format!("`{kv}` is not net.NAME=VALUE"));
                        o.problem(lno, "shell sysctl", what)
                    }
                }
            }
        } else if l.starts_with("/tmp/sysctl_restore_") && l.ends_with(".sh") && !l.contains(' ') {
            // Restores what set_sysctls.py changed: the namespace dies with
            // the run, so there is nothing to restore.
        } else if matches!(
            words[..],
            ["ip", "tcp_metrics" | "tcpmetrics" | "tcp_metr", "flush", "all"] | ["ip", "tcp_metrics", "flush"]
        ) {
            // A fresh namespace has no metrics to flush; later in the script,
            // the kernel forgets fast-open cookies and RTTs: a step.
            if seen_steps(o) {
                mid_net.push((StepKey::TcpMetrics, "flush".into()));
            }
        } else if let Some(counters) = nstat(l) {
            // nstat prints (and forgets) how much the counters grew since its
            // previous run; grep succeeds if a name holding the word grew.
            // Before the first step, the count starts with the run anyway.
            if seen_steps(o) {
                mid_net.push((StepKey::Counters, counters));
            }
        } else if let Some(mtu) = tun_mtu(&words).filter(|_| !seen_steps(o)) {
            // The run's device's MTU, before anything is sent.
            o.doc.set(Key::Mtu, Value::Int(i64::from(mtu)));
        } else if ethtool_tso_off(&words) && !seen_steps(o) {
            // The device without TSO (and GSO): the kernel segments what
            // it sends itself, as the language's `offload: none` device.
            o.doc.set(Key::Offload, "none");
        } else if let Some(q) = root_qdisc(l, last, seen_steps(o), o.doc.get(Key::Qdisc)) {
            // The run's device's root qdisc: before anything is sent, the
            // header's; later, a step.
            if seen_steps(o) {
                mid_net.push((StepKey::Qdisc, q.into()));
            } else {
                o.doc.set(Key::Qdisc, q);
            }
        } else if let Some(r) = route_metrics(&words, script_remote(o)) {
            // The metrics of the route to the script's address.
            if seen_steps(o) {
                mid_net.push((StepKey::Route, r.into()));
            } else {
                o.doc.set(Key::Route, r);
            }
        } else if let (true, Err(why)) = (opts.allow_shell, namespace_local(l)) {
            let first = l.split_whitespace().next().unwrap_or("");
            let what = s.say(why);
            o.problem(lno, format!("shell {}", first.rsplit('/').next().unwrap_or(first)), what);
        } else if opts.allow_shell {
            dropped = false;
            kept.push(route_in_our_namespace(l));
        } else {
            let first = l.split_whitespace().next().unwrap_or("");
            let cmd_name = first.rsplit('/').next().unwrap_or(first);
            let what = s.say(match namespace_local(l) {
                // --allow-shell would not keep it either: say why.
                Err(why) => format!("{why}: not kept, even with --allow-shell"),
                Ok(()) => format!("`{l}` is a shell command; import with --allow-shell to keep it as a `shell:` step"),
            });
            o.problem(lno, format!("shell {cmd_name}"), what);
        }
        if mid_sysctl.len() + mid_net.len() > n_sysctl {
            last_sysctl = Some(i);
        }
        if kept.len() > n_kept {
            first_kept.get_or_insert(i);
        }
    }
    let lines: Vec<(usize, String)> = sh.iter().map(|s| (s.i, s.text.clone())).collect();
    if !mid_sysctl.is_empty() || !mid_net.is_empty() {
        // Sysctls first, then qdiscs and routes, then the other commands:
        // steps at the same time, in that order.
        if let (false, Some(s), Some(k)) = (dropped, last_sysctl, first_kept) {
            if s > k {
                o.problem(line, "shell", "a backtick block that runs commands before its mid-script settings");
                return;
            }
        }
        let mut at = it.time.as_ref().and_then(|t| o.at(line, t));
        if !mid_sysctl.is_empty() {
            let m = mid_sysctl.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect();
            o.step(line, at.take(), StepKey::Sysctl, Value::Map(m), vec![]);
        }
        for (key, v) in mid_net {
            o.step(line, at.take(), key, v, vec![]);
        }
        if !dropped {
            // The block's status is its last line's (a kept command's here,
            // since the sysctls come first).
            o.step(line, None, StepKey::Shell, kept.join("\n").into(), vec![]);
        }
    } else if dropped {
        o.drop_time(it.time.as_ref());
    } else {
        let at = it.time.as_ref().and_then(|t| o.at(line, t));
        // packetdrill runs the block as one command: its status is the last
        // line's. When that line became a setting, the kept ones may fail.
        let last_kept =
            lines.iter().rev().map(|(_, l)| l.split('#').next().unwrap_or("").trim()).find(|l| !l.is_empty())
                == kept.last().map(String::as_str);
        let mut text = kept.join("\n");
        if !last_kept {
            text.push_str("\ntrue");
        }
        o.step(line, at, StepKey::Shell, text.into(), vec![]);
    }
}

/// Commands that act on the run's own network namespace only (its devices,
/// routes, qdiscs, sysctls, counters). Even with --allow-shell the importer
/// keeps nothing else: packetdrill's scripts also write module parameters
/// under /sys and files under /tmp, which would change the host.
const NAMESPACE_LOCAL: &[&str] = &["tc", "ip", "ethtool", "nstat", "sysctl", "ss"];

fn namespace_local(l: &str) -> Result<(), String> {
    let t = without_null_redirections(l);
    if let Some(i) = t.find('>') {
        let target = t[i + 1..].split_whitespace().next().unwrap_or("");
        return Err(format!("`{l}` writes to `{target}`, outside the run's namespace"));
    }
    // Each command of a list or pipeline.
    for part in t.split(['|', ';', '&']).map(str::trim).filter(|p| !p.is_empty()) {
        let cmd = part.split_whitespace().next().unwrap_or("");
        if !NAMESPACE_LOCAL.contains(&cmd) && cmd != "grep" && cmd != "true" {
            return Err(format!(
                "`{l}`: `{cmd}` is not known to stay inside the run's namespace (kept: {}, grep)",
                NAMESPACE_LOCAL.join(", ")
            ));
        }
    }
    Ok(())
}

/// The words of a plain shell command (quotes and backslashes undone), or
/// `None` when it uses pipes, redirections, lists, substitutions or globs.
fn shell_words(l: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = l.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    cur.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => cur.extend(chars.next()),
                        '$' => cur.push_str(&arith_expansion(&mut chars)?),
                        '`' => return None,
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.extend(chars.next());
            }
            '$' => {
                in_word = true;
                cur.push_str(&arith_expansion(&mut chars)?);
            }
            '|' | '&' | ';' | '<' | '>' | '`' | '*' | '?' | '(' | ')' => return None,
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

/// After a `$`: `((EXPR))` evaluated (the rest of `chars` moves past it);
/// any other expansion is `None` (the command is not a plain one).
fn arith_expansion(chars: &mut std::str::Chars<'_>) -> Option<String> {
    let rest = chars.as_str().strip_prefix("((")?;
    let end = rest.find("))")?;
    let v = super::helpers::arith(&rest[..end])?;
    *chars = rest[end + 2..].chars();
    Some(v.to_string())
}

fn seen_steps(o: &Out) -> bool {
    !o.doc.steps.is_empty()
}

/// `ip link set [dev] tun0 mtu N` with an MTU every device takes (68 to
/// 65535): the run's device's MTU.
fn tun_mtu(w: &[&str]) -> Option<u16> {
    let n = match w {
        ["ip", "link", "set", "dev", "tun0", "mtu", n] | ["ip", "link", "set", "tun0", "mtu", n] => n,
        _ => return None,
    };
    n.parse::<u16>().ok().filter(|m| *m >= 68)
}

/// Root qdiscs built into every kernel that has tc (sch_generic.c,
/// sch_fifo.c): setting one cannot fail for want of a module.
const ALWAYS_BUILT_QDISCS: &[&str] = &["pfifo", "bfifo", "pfifo_fast"];

/// `tc qdisc add|replace dev tun0 root KIND [limit N]`, alone or after a
/// `tc qdisc del dev tun0 root` in a `;` list (a replace): the run's
/// device's root qdisc, as the language writes it. The target fails the
/// run where the kernel lacks the kind, as the block's status fails
/// packetdrill's when the line is its last; before the last, packetdrill
/// goes on unnoticed with the qdisc set before, which the header then names
/// as the fallback (`fq or pfifo`). Without one to name (or mid-script),
/// such a line is not a setting.
fn root_qdisc(l: &str, last: bool, mid_script: bool, before: Option<&Value>) -> Option<String> {
    let parts: Vec<Vec<String>> =
        without_null_redirections(l).split(';').map(|p| shell_words(p.trim())).collect::<Option<_>>()?;
    let parts: Vec<Vec<&str>> = parts.iter().map(|p| p.iter().map(String::as_str).collect()).collect();
    let add = match parts.as_slice() {
        [add] => add,
        [del, add] if matches!(del.as_slice(), ["tc", "qdisc", "del" | "delete", "dev", "tun0", "root"]) => add,
        _ => return None,
    };
    match add.as_slice() {
        ["tc", "qdisc", "add" | "replace", "dev", "tun0", "root", rest @ ..] => {
            let q = crate::script::netconf::Qdisc::parse(&rest.join(" ")).ok()?;
            if last || ALWAYS_BUILT_QDISCS.contains(&q.kind.as_str()) {
                Some(q.to_string())
            } else if let (false, Some(Value::Str(b))) = (mid_script, before) {
                Some(format!("{q} or {b}"))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// `nstat` (or `nstat -n`): a `counters:` step that only starts counting;
/// `nstat | grep [-q] WORD`: one that asks that a counter whose name holds
/// WORD grew (nstat lists the counters that grew; grep matches within names).
fn nstat(l: &str) -> Option<Value> {
    let t = without_null_redirections(l);
    let parts: Vec<Vec<String>> = t.split('|').map(|p| shell_words(p.trim())).collect::<Option<_>>()?;
    let parts: Vec<Vec<&str>> = parts.iter().map(|p| p.iter().map(String::as_str).collect()).collect();
    match parts.as_slice() {
        [n] if matches!(n.as_slice(), ["nstat"] | ["nstat", "-n"]) => Some(Value::Map(Vec::new())),
        [n, g] if n.as_slice() == ["nstat"] => {
            let word = match g.as_slice() {
                ["grep", w] | ["grep", "-q", w] => *w,
                _ => return None,
            };
            word.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
                .then(|| Value::Map(vec![(format!("*{word}*"), "1~".into())]))
        }
        _ => None,
    }
}

/// `ethtool -K tun0 tso off [gso off]` (either order, `--offload`): the
/// device without segmentation offload.
fn ethtool_tso_off(w: &[&str]) -> bool {
    match w {
        ["ethtool", "-K" | "--offload" | "--features", "tun0", rest @ ..]
            if !rest.is_empty() && rest.len() % 2 == 0 =>
        {
            let pairs: Vec<(&str, &str)> = rest.chunks(2).map(|c| (c[0], c[1])).collect();
            pairs.iter().all(|p| matches!(*p, ("tso" | "gso", "off"))) && pairs.iter().any(|p| p.0 == "tso")
        }
        _ => false,
    }
}

/// The address the script's packets come from, as packetdrill names it.
fn script_remote(o: &Out) -> std::net::IpAddr {
    let set = match o.doc.get(Key::Addresses) {
        Some(Value::Map(m)) => m.iter().find(|(k, _)| k == "remote").and_then(|(_, v)| match v {
            Value::Str(s) => s.parse().ok(),
            _ => None,
        }),
        _ => None,
    };
    set.unwrap_or_else(|| if o.ipv6 { V6_REMOTE } else { "192.0.2.1" }.parse().expect("literal"))
}

/// `ip [-4|-6] route change|replace|add REMOTE [via GW] dev tun0 METRICS...`
/// for the script's own address: the route's metrics, as the language
/// writes them.
fn route_metrics(w: &[&str], remote: std::net::IpAddr) -> Option<String> {
    let rest = match w {
        ["ip", "-4" | "-6", "route" | "ro" | "r", rest @ ..] | ["ip", "route" | "ro" | "r", rest @ ..] => rest,
        _ => return None,
    };
    let (dst, rest) = match rest {
        ["change" | "replace" | "add", dst, rest @ ..] => (*dst, rest),
        _ => return None,
    };
    let dst: std::net::IpAddr = dst.trim_end_matches("/32").trim_end_matches("/128").parse().ok()?;
    if dst != remote {
        return None;
    }
    let rest = match rest {
        ["via", _, "dev", "tun0", m @ ..] | ["dev", "tun0", m @ ..] => m,
        _ => return None,
    };
    crate::script::netconf::RouteMetrics::parse(&rest.join(" ")).ok().map(|r| r.to_string())
}

/// Before the first step, a header setting; after it, a `sysctl:` step.
/// `from_helper`: the setting was read from a helper file, where the
/// congestion control is what `--congestion` makes of it.
fn sysctl_at(
    o: &mut Out,
    line: usize,
    k: &str,
    v: &str,
    from_helper: bool,
    opts: &ImportOptions,
    mid: &mut Vec<(String, String)>,
) {
    // The language's rule for the names it sets (what it would refuse, the
    // importer does not write).
    if let Err(why) = crate::script::check_sysctl_name(k) {
        o.problem(line, "sysctl", why);
        return;
    }
    if k == "net.ipv4.tcp_congestion_control" {
        // A namespace cannot change the default away from the host's
        // allowed list: the algorithm is set on every socket instead.
        let algo = match (&opts.congestion, from_helper) {
            (HelperCongestion::AsSet, _) | (_, false) => Some(v),
            (HelperCongestion::Host, true) => None,
            (HelperCongestion::Algo(a), true) => Some(a.as_str()),
        };
        if seen_steps(o) {
            o.problem(
                line,
                "sysctl mid-script",
                format!("`{k}={v}` after the first step (set per socket from the start)"),
            );
        } else if let Some(a) = algo {
            o.doc.set(Key::Congestion, a);
        }
        return;
    }
    if seen_steps(o) {
        mid.push((k.to_string(), v.to_string()));
    } else {
        o.sysctl.push((k.to_string(), v.to_string()));
    }
}

/// Packets: packetdrill's notation is the language's, except for the
/// fast-open options (raw option kinds here) and ECN marks.
fn packet(o: &mut Out, it: &Item, inbound: bool, text: &str) {
    let line = it.line;
    let mut t = text.trim().to_string();
    if t.starts_with("icmp") || t.split_whitespace().nth(1) == Some("icmp") {
        if !inbound {
            o.problem(line, "ICMP packet", "an ICMP message the stack must send cannot be expected yet");
            return;
        }
        if !t.starts_with("icmp") {
            o.problem(line, "ICMP packet", format!("`{t}`: IP-level marks on an ICMP message"));
            return;
        }
        let words: Vec<&str> = t.split_whitespace().collect();
        let special = if t.contains("[udp") || t.contains("[raw") {
            Some(
                "an ICMP error quoting a UDP datagram or a raw packet: the language's ICMP errors quote a TCP \
                  segment of the connection ([SEQ:END(LEN)])",
            )
        } else if words.get(1).is_some_and(|w| w.starts_with("echo")) || words.contains(&"id") {
            Some("an ICMP echo message: the language sends ICMP errors about the connection only")
        } else {
            None
        };
        if let Some(why) = special {
            o.problem(line, "ICMP packet", format!("`{t}`: {why}"));
            return;
        }
        if let Err(why) = crate::script::packet::IcmpSpec::parse(&t) {
            o.problem(line, "ICMP packet", format!("`{t}`: {why}"));
            return;
        }
        let at = it.time.as_ref().and_then(|tm| o.at(line, tm));
        o.step(line, at, StepKey::In, t.into(), vec![]);
        return;
    }
    // What of packetdrill's packet grammar the language cannot say, each
    // refused with its reason (before the language's parser would stop at
    // its first character).
    if let Err((construct, why)) = packetdrill_packet_forms(&t) {
        o.problem(line, construct, format!("`{}`: {why}", text.trim()));
        return;
    }
    // Options: FO (RFC 7413, kind 34) and FOEXP (kind 254 with magic 0xF989).
    if let (Some(a), Some(b)) = (t.find('<'), t.rfind('>')) {
        if a < b {
            let mut opts = Vec::new();
            for opt in t[a + 1..b].split(',') {
                let w: Vec<&str> = opt.split_whitespace().collect();
                match w.first().copied() {
                    Some("FO") => opts.push(format!("opt34 {}", w.get(1).copied().unwrap_or("")).trim().to_string()),
                    Some("FOEXP") => opts.push(format!("opt254 f989{}", w.get(1).copied().unwrap_or(""))),
                    // TCP MD5 (RFC 2385, kind 19): the digest as written;
                    // it is not computed (packetdrill does not either, and
                    // takes a digest shorter than 16 octets as given).
                    Some("md5") => match w.get(1) {
                        Some(h)
                            if h.len() <= 32
                                && h.len().is_multiple_of(2)
                                && h.chars().all(|c| c.is_ascii_hexdigit()) =>
                        {
                            opts.push(format!("opt19 {h}").trim().to_string())
                        }
                        _ => {
                            o.problem(
                                line,
                                "option md5",
                                format!("`{}`: md5 takes a digest of up to 16 octets in hex", opt.trim()),
                            );
                            return;
                        }
                    },
                    // AccECN (RFC 9768 drafts' kinds 172 and 174): its
                    // 24-bit counters, big-endian, in the order the first
                    // one names (e0b ceb e1b, or e1b ceb e0b).
                    Some("ECN") => match accecn_option(&w[1..]) {
                        Ok(raw) => opts.push(raw),
                        Err(why) => {
                            o.problem(line, "option AccECN", format!("`{}`: {why}", opt.trim()));
                            return;
                        }
                    },
                    _ => opts.push(opt.trim().to_string()),
                }
            }
            t = format!("{}<{}>{}", &t[..a], opts.join(","), &t[b + 1..]);
        }
    }
    if let Err(why) = absolute_to_relative(o, inbound, &mut t) {
        o.problem(line, "packet", format!("`{t}`: {why}"));
        return;
    }
    // packetdrill's inbound `ack` defaults to 0 (the stack's ISN).
    if inbound {
        if let Ok(p) = crate::script::packet::PacketSpec::parse(&t) {
            if p.flags.ack() && p.ack.is_none() {
                let at = t.find(" win ").or_else(|| t.find(" <")).unwrap_or(t.len());
                t.insert_str(at, " ack 0");
            }
        }
    }
    if let Err(e) = crate::script::packet::PacketSpec::parse(&t) {
        o.problem(line, "packet", format!("`{t}`: {}", e.message));
        return;
    }
    let at = it.time.as_ref().and_then(|tm| o.at(line, tm));
    o.step(line, at, if inbound { StepKey::In } else { StepKey::Out }, t.into(), vec![]);
}

/// packetdrill's `ECN e0b A ceb B e1b C` (or starting with e1b): the raw
/// option, kind 172 (order e0b, ceb, e1b) or 174 (e1b, ceb, e0b), each
/// counter three octets, as many as given in that order.
fn accecn_option(w: &[&str]) -> Result<String, String> {
    let order: &[&str] = match w.first() {
        Some(&"e0b") => &["e0b", "ceb", "e1b"],
        Some(&"e1b") => &["e1b", "ceb", "e0b"],
        _ => return Err("an AccECN option starts with e0b or e1b".into()),
    };
    if !w.len().is_multiple_of(2) || w.len() / 2 > 3 {
        return Err("an AccECN option is up to three `NAME VALUE` counters".into());
    }
    let mut hex = String::new();
    for (i, pair) in w.chunks(2).enumerate() {
        if pair[0] != order[i] {
            return Err(format!("counter {} must be {} (after {})", i + 1, order[i], order[..i].join(", ")));
        }
        match pair[1].parse::<u32>() {
            Ok(v) if v < 1 << 24 => hex.push_str(&format!("{v:06x}")),
            _ => return Err(format!("`{}` is not a 24-bit counter", pair[1])),
        }
    }
    let kind = if order[0] == "e0b" { 172 } else { 174 };
    Ok(format!("opt{kind} {hex}"))
}

/// packetdrill's packet forms around the TCP segment that the language
/// does not have: encapsulations (outer IPv4/IPv6 headers, GRE, MPLS, PSP),
/// UDP, each refused with the construct and why. The IP
/// information (`[ect0]`, `(tos 0x2, flowlabel 0x3)`, `(ttl 9)`) and the
/// flags (AE, ACE digits) are the language's already.
fn packetdrill_packet_forms(t: &str) -> Result<(), (&'static str, String)> {
    const ENCAP: &str = "packet encapsulation";
    let first = t.split(|c: char| c.is_whitespace() || c == ':' || c == ',').next().unwrap_or("");
    let why_encap = |what: &str| {
        Err((
            ENCAP,
            format!(
                "{what}: the language's packets are one IP header and a TCP segment (or an ICMP error about one); \
                 the Linux target has no tunnel device to take them"
            ),
        ))
    };
    let why_psp = || {
        Err((
            ENCAP,
            "PSP encapsulation: a PSP-encrypted TCP segment in UDP needs the kernel's PSP security associations \
             (psp_rx_assoc, psp_tx_assoc) and the harness to encrypt; the language has neither"
                .to_string(),
        ))
    };
    match first {
        "ipv4" => return why_encap("an outer IPv4 header (IP-in-IP)"),
        "ipv6" => return why_encap("an outer IPv6 header (IPv6 encapsulation)"),
        "gre" | "GREv0" => return why_encap("GRE encapsulation"),
        "mpls" => return why_encap("an MPLS label stack"),
        "encap" => return why_psp(),
        _ => {}
    }
    // The IP information (`[ect0]`, `(tos 0x2, flowlabel 0x3)`, ...) is the
    // language's; what follows it is looked at here.
    let rest = t.trim_start();
    let rest = match rest.chars().next() {
        Some(open @ ('(' | '[')) => {
            let close = if open == '(' { ')' } else { ']' };
            rest.find(close).map_or(rest, |e| rest[e + 1..].trim_start())
        }
        _ => rest,
    };
    let word = rest.split_whitespace().next().unwrap_or("");
    // packetdrill's PSP encapsulation comes after the IP information.
    if word == "encap" {
        return why_psp();
    }
    if word == "udp" {
        return Err(("UDP packet", "a UDP datagram: the harness tests TCP (and ICMP errors about TCP)".into()));
    }
    // Per-packet ports (`9999>8080`) are the language's too.
    Ok(())
}

/// Rewrites packetdrill's absolute numbers on SYNs into the language's,
/// which counts the script's side from `remote_isn`.
fn absolute_to_relative(o: &mut Out, inbound: bool, t: &mut String) -> Result<(), String> {
    let mut words: Vec<String> = t.split(' ').map(str::to_string).collect();
    // The flags: the first word after an ECN mark and the packet's own
    // ports (`9999>8080`, `9999 > 8080`).
    let Some(mut fi) = words.iter().position(|w| !w.is_empty() && !w.starts_with('[')) else {
        return Ok(());
    };
    let digits = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_digit() || c == '>');
    let next = |i: usize| words.iter().skip(i + 1).position(|w| !w.is_empty()).map(|p| p + i + 1);
    let mut own_ports = false;
    if digits(&words[fi]) && words[fi].contains('>') {
        own_ports = true;
        fi = next(fi).unwrap_or(fi);
    } else if digits(&words[fi]) && next(fi).is_some_and(|n| words[n] == ">") {
        own_ports = true;
        fi = next(fi).and_then(next).and_then(next).unwrap_or(fi);
    }
    // A packet with its own ports is not the connection's: its numbers stay
    // as written (the language counts them as the connection's, from the
    // ISN it has then), and it names no ISN.
    if !words[fi].contains('S') || own_ports {
        return Ok(());
    }
    o.had_connection = true;
    let seq_at = words.iter().skip(fi + 1).position(|w| !w.is_empty()).map(|p| p + fi + 1);
    let span = |w: &str| -> Result<(u32, u32, String), String> {
        let (a, rest) = w.split_once(':').ok_or("no START:END(LEN)")?;
        let (b, len) = rest.split_once('(').ok_or("no START:END(LEN)")?;
        let a: u32 = a.parse().map_err(|_| format!("`{a}` is not a sequence number"))?;
        let b: u32 = b.parse().map_err(|_| format!("`{b}` is not a sequence number"))?;
        Ok((a, b, len.to_string()))
    };
    if !inbound {
        // The stack's SYN names its ISN: the language counts from it.
        if let Some(si) = seq_at {
            if let Ok((a, b, len)) = span(&words[si]) {
                o.local_isn = a;
                words[si] = format!("0:{}({len}", b.wrapping_sub(a));
            }
        }
    } else if let Some(ai) = words.iter().position(|w| w == "ack") {
        // An inbound SYN-ACK's ack is absolute, in the stack's numbering.
        if let Some(v) = words.get(ai + 1).and_then(|v| v.parse::<u32>().ok()) {
            words[ai + 1] = v.wrapping_sub(o.local_isn).to_string();
        }
    }
    if inbound {
        let Some(si) = words.iter().skip(fi + 1).position(|w| !w.is_empty()).map(|p| p + fi + 1) else {
            return Ok(());
        };
        if let (None, Some(at)) = (o.remote_isn, o.isn_patch.take()) {
            // The first SYN or SYN-ACK of a new connection names the peer's ISN.
            let a: u32 = words[si].split(':').next().and_then(|a| a.parse().ok()).ok_or("no START:END(LEN)")?;
            if let Some(st) = o.doc.steps.get_mut(at) {
                if let Some(f) = st.fields.iter_mut().find(|f| f.0 == StepKey::NewConnection) {
                    f.1 = Value::Map(vec![("remote_isn".into(), Value::Int(i64::from(a)))]);
                }
            }
            o.remote_isn = Some(a);
        }
        let w = words[si].clone();
        let (a, rest) = w.split_once(':').ok_or("no START:END(LEN)")?;
        let (b, len) = rest.split_once('(').ok_or("no START:END(LEN)")?;
        let a: u32 = a.parse().map_err(|_| format!("`{a}` is not a sequence number"))?;
        let b: u32 = b.parse().map_err(|_| format!("`{b}` is not a sequence number"))?;
        let isn = *o.remote_isn.get_or_insert(a);
        o.header_isn.get_or_insert(isn);
        words[si] = format!("{}:{}({len}", a.wrapping_sub(isn), b.wrapping_sub(isn));
    } else if let Some(isn) = o.remote_isn {
        if let Some(ai) = words.iter().position(|w| w == "ack") {
            if let Some(v) = words.get(ai + 1).and_then(|v| v.parse::<u32>().ok()) {
                words[ai + 1] = v.wrapping_sub(isn).to_string();
            }
        }
    }
    *t = words.join(" ");
    Ok(())
}

/// System calls: the language's call syntax is packetdrill's; what it does
/// not know is refused with the checker's own message.
fn call(o: &mut Out, it: &Item, name: &str, args: &str, result: Option<&str>) {
    let line = it.line;
    let Some(result) = result else {
        o.problem(line, format!("call {name}"), "a system call without `= RESULT`");
        return;
    };
    let args1 = sockaddr_in(&args.split_whitespace().collect::<Vec<_>>().join(" "));
    let mut new_connection = false;
    let mut extra = Vec::new();
    let structured = match name {
        "poll" => poll_struct(&args1, result),
        "sendmsg" => sendmsg_struct(&args1, result),
        "writev" => iovec_as_one(&args1, result, "write"),
        "readv" => iovec_as_one(&args1, result, "read"),
        "cap_set" => Some(Err("drops the process's capabilities: the harness makes its calls with its own, \
                               and a script cannot change them"
            .into())),
        "open" | "sendfile" => Some(Err(format!(
            "{name} works on a file of the host: a script's calls act on sockets and pipes of the run only"
        ))),
        "psp_rx_assoc" | "psp_tx_assoc" => {
            Some(Err("a PSP security association: the language has no PSP encapsulation".into()))
        }
        "recvmsg" => Some(recvmsg_struct(&args1, result).map(|(t, e)| {
            extra = e;
            t
        })),
        _ => None,
    };
    // packetdrill's sleep: a poll of nothing for MS milliseconds.
    if name == "poll" && result.trim() == "0" {
        if let ["[]", "0", ms] = split_top(&args1, ',').iter().map(|a| a.trim()).collect::<Vec<_>>()[..] {
            if let Ok(ms) = ms.parse::<u32>() {
                let at = it.time.as_ref().and_then(|t| o.at(line, t));
                o.step(line, at, StepKey::Wait, format!("{ms}ms").into(), vec![]);
                return;
            }
        }
    }
    // Buffers with contents, and struct values of socket options: what the
    // language's calls do not take yet, said as such.
    let parts: Vec<&str> = split_top(&args1, ',').into_iter().map(str::trim).collect();
    let structured = structured.or_else(|| match (name, parts.get(1), parts.get(3)) {
        ("write" | "send" | "sendto" | "read" | "recv" | "recvfrom", Some(buf), _)
            if buf.starts_with('"') && buf.ends_with("...") =>
        {
            Some(Err(format!(
                "a buffer given as {buf}: packetdrill's {name} takes `...` or NULL there and refuses a string at \
                 run time (\"Expected ... or NULL for buffer\")"
            )))
        }
        // `"text"...` is how packetdrill prints a string value: the string.
        ("setsockopt" | "getsockopt", _, Some(v)) if v.starts_with('"') && v.ends_with("\"...") => {
            let mut p: Vec<String> = parts.iter().map(|x| x.to_string()).collect();
            p[3] = v.trim_end_matches("...").to_string();
            Ok(format!("{name}({}) = {result}", p.join(", "))).into()
        }
        // An IPv6 address as the option's value: its 16 octets, which
        // packetdrill passes as they are (struct in6_addr).
        ("setsockopt", _, Some(v)) if v.starts_with("inet6_addr(") => {
            let a = v.strip_prefix("inet6_addr(").and_then(|r| r.strip_suffix(')')).map(|q| q.trim().trim_matches('"'));
            Some(match a.and_then(|a| a.parse::<std::net::Ipv6Addr>().ok()) {
                Some(ip) => {
                    let bytes: String = ip.octets().iter().map(|b| format!("\\x{b:02x}")).collect();
                    let mut p: Vec<String> = parts.iter().map(|x| x.to_string()).collect();
                    p[3] = format!("\"{bytes}\"");
                    Ok(format!("{name}({}) = {result}", p.join(", ")))
                }
                None => Err(format!("`{v}` is not an IPv6 address")),
            })
        }
        // packetdrill's own setsockopt refuses these at run time: an
        // address in brackets is not an integer, and an IPv4 address is
        // not a value it passes.
        ("setsockopt" | "getsockopt", _, Some(v)) if v.starts_with("[inet") || v.starts_with("inet_addr(") => {
            Some(Err(format!(
                "the address value `{v}` of {}: packetdrill's setsockopt takes a bare inet6_addr(...) (its 16 octets) \
                 but refuses this form at run time, so the script cannot pass there either",
                parts.get(2).copied().unwrap_or("?")
            )))
        }
        ("poll", Some(_), _) if parts.first() == Some(&"[]") => Some(Err(
            "a poll of no descriptors other than `poll([], 0, MS) = 0` (a sleep, which becomes `wait:`)".into(),
        )),
        // `{N}`: packetdrill's list of one, read as `[N]`; a longer list
        // its setsockopt and getsockopt refuse at run time.
        ("setsockopt" | "getsockopt", _, Some(v))
            if v.starts_with('{')
                && v.ends_with('}')
                && split_top(&v[1..v.len() - 1], ',').iter().all(|e| {
                    let e = e.trim();
                    !e.is_empty() && !e.contains(|c: char| c.is_whitespace() || "=(){}".contains(c))
                }) =>
        {
            let inner = &v[1..v.len() - 1];
            Some(if split_top(inner, ',').len() == 1 {
                let mut p: Vec<String> = parts.iter().map(|x| x.to_string()).collect();
                p[3] = format!("[{}]", inner.trim());
                Ok(format!("{name}({}) = {result}", p.join(", ")))
            } else {
                Err(format!(
                    "the list value `{v}` of {}: packetdrill's {name} takes a list of one element and refuses \
                     this one at run time (\"Expected [<element>] but got multiple elements\")",
                    parts.get(2).copied().unwrap_or("?")
                ))
            })
        }
        ("setsockopt" | "getsockopt", _, Some(v))
            if v.starts_with('{') && !(name == "setsockopt" && parts.get(2) == Some(&"SO_LINGER")) =>
        {
            Some(Err(format!(
                "the struct value `{v}` of {}: the language's socket options take integers ([N]), strings and \
                 SO_LINGER's struct linger",
                parts.get(2).copied().unwrap_or("?")
            )))
        }
        _ => None,
    });
    let text = match structured {
        Some(Ok(t)) => t,
        Some(Err(why)) => {
            o.problem(line, format!("call {name}"), format!("`{name}({})`: {why}", short(&args1)));
            return;
        }
        None => format!("{name}({args1}) = {result}"),
    };
    match crate::script::call::CallSpec::parse(&text) {
        Ok(spec) => {
            use crate::script::call::{Call, Expect};
            if let (Call::Socket { .. } | Call::Accept { .. }, Expect::Value(fd)) = (&spec.call, &spec.expect) {
                o.under_test = Some(*fd as i32);
            }
            if matches!(spec.call, Call::Socket { .. }) && o.had_connection {
                // packetdrill's next socket under test: a new connection,
                // whose peer ISN its first SYN (or SYN-ACK) will name.
                o.remote_isn = None;
                o.had_connection = false;
                new_connection = true;
            }
        }
        Err(e) => {
            o.problem(line, format!("call {name}"), format!("`{}`: {}", short(&text), e.message));
            return;
        }
    }
    if new_connection {
        o.step(line, None, StepKey::NewConnection, Value::Map(vec![]), vec![]);
        o.isn_patch = Some(o.doc.steps.len() - 1);
    }
    let at = it.time.as_ref().and_then(|t| o.at(line, t));
    o.step(line, at, StepKey::Call, text.into(), extra);
}

/// A packetdrill expression: `{k=v, ...}` (entries may be bare), `[a, b]`, or an atom.
#[derive(Debug)]
enum PdExpr {
    Struct(Vec<(Option<String>, PdExpr)>),
    List(Vec<PdExpr>),
    Atom(String),
}

impl PdExpr {
    fn parse(s: &str) -> Result<PdExpr, String> {
        let s = s.trim();
        if let Some(inner) = s.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
            let mut out = Vec::new();
            for item in split_top_nested(inner) {
                match top_eq(item) {
                    Some(i) => out.push((Some(item[..i].trim().to_string()), PdExpr::parse(&item[i + 1..])?)),
                    None => out.push((None, PdExpr::parse(item)?)),
                }
            }
            return Ok(PdExpr::Struct(out));
        }
        if let Some(inner) = s.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
            return Ok(PdExpr::List(split_top_nested(inner).into_iter().map(PdExpr::parse).collect::<Result<_, _>>()?));
        }
        if s.contains(['{', '}', '[', ']']) {
            return Err(format!("`{}` is not an expression", short(s)));
        }
        Ok(PdExpr::Atom(s.to_string()))
    }

    fn field(&self, key: &str) -> Option<&PdExpr> {
        match self {
            PdExpr::Struct(f) => f.iter().find(|(k, _)| k.as_deref() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A field whose key starts with `prefix` (`msg_iov(1)`).
    fn field_prefix(&self, prefix: &str) -> Option<&PdExpr> {
        match self {
            PdExpr::Struct(f) => {
                f.iter().find(|(k, _)| k.as_deref().is_some_and(|k| k.starts_with(prefix))).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    fn atom(&self) -> Option<&str> {
        match self {
            PdExpr::Atom(a) => Some(a),
            _ => None,
        }
    }
}

/// Splits on commas outside brackets, braces and parentheses; empty items dropped.
/// A packetdrill integer: decimal or 0x hex.
fn parse_pd_int(s: &str) -> Option<i64> {
    match s.strip_prefix("0x") {
        Some(h) => i64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn split_top_nested(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0i32, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out.into_iter().filter(|x| !x.is_empty()).collect()
}

/// The first `=` outside brackets (a struct entry's key), if any.
fn top_eq(s: &str) -> Option<usize> {
    let mut depth = 0i32;
    for (i, c) in s.char_indices() {
        match c {
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => depth -= 1,
            '=' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// packetdrill's `recvmsg(fd, {msg_name(...)=..., msg_iov(N)=[{..., L}],
/// msg_flags=F, msg_control=[{cmsg_level=.., cmsg_type=.., cmsg_data=..}]},
/// FLAGS) = R` as the language's `recvmsg(fd, SUM, FLAGS) = R` with the
/// step keys `msg_flags:` and `cmsg:` (returned as the text after the call).
fn recvmsg_struct(args: &str, result: &str) -> Result<(String, Vec<(StepKey, Value)>), String> {
    let parts = split_top_nested(args);
    let [fd, msg, flags] = parts.as_slice() else { return Err("recvmsg takes (fd, msghdr, flags)".into()) };
    let msg = PdExpr::parse(msg)?;
    let mut len = 0u64;
    match msg.field_prefix("msg_iov") {
        Some(PdExpr::List(items)) => {
            for it in items {
                let l = match it {
                    PdExpr::Struct(f) => f.last().and_then(|(_, v)| v.atom()).and_then(|a| a.parse::<u64>().ok()),
                    _ => None,
                };
                len += l.ok_or("an iovec entry is {..., LENGTH}")?;
            }
        }
        _ => return Err("a msghdr needs msg_iov(N)=[{..., LENGTH}]".into()),
    }
    let mut extra = Vec::new();
    if let Some(f) = msg.field("msg_flags") {
        let f = f.atom().ok_or("msg_flags is a number or MSG_ names")?;
        crate::script::call::parse_recv_flags(f)?;
        extra.push((StepKey::MsgFlags, Value::from(f)));
    }
    if let Some(c) = msg.field("msg_control") {
        let PdExpr::List(items) = c else { return Err("msg_control is a list of cmsgs".into()) };
        let mut list = Vec::new();
        for cm in items {
            let ty = cm.field("cmsg_type").and_then(PdExpr::atom).ok_or("a cmsg needs cmsg_type")?;
            let data = cm.field("cmsg_data").ok_or("a cmsg needs cmsg_data")?;
            let num = |e: &PdExpr, k: &str| -> Result<Value, String> {
                let a = e.field(k).and_then(PdExpr::atom).ok_or(format!("`{k}` missing"))?;
                if let Ok(v) = a.parse::<i64>() {
                    Ok(Value::Int(v))
                } else if crate::script::call::EXT_ERR_NAMES.iter().any(|(n, _)| *n == a) {
                    Ok(a.into())
                } else {
                    Err(format!("`{k}={a}`: not a known value"))
                }
            };
            let one = |k: &str, v: Value| Value::Map(vec![(k.to_string(), v)]);
            list.push(match ty {
                "TCP_CM_INQ" => {
                    let v = data.atom().and_then(|a| a.parse::<i64>().ok()).ok_or("TCP_CM_INQ's data is a number")?;
                    one("inq", Value::Int(v))
                }
                "SCM_TIMESTAMPING" => {
                    let Value::Int(sec) = num(data, "scm_sec")? else { return Err("scm_sec is a number".into()) };
                    let Value::Int(nsec) = num(data, "scm_nsec")? else { return Err("scm_nsec is a number".into()) };
                    one("timestamping", Value::Num(secs(sec as f64 + nsec as f64 / 1e9).parse().unwrap_or(0.0)))
                }
                "CMSG_TYPE_RECVERR" | "IP_RECVERR" | "IPV6_RECVERR" => {
                    let mut e = Vec::new();
                    for (k, pd) in [
                        ("errno", "ee_errno"),
                        ("origin", "ee_origin"),
                        ("type", "ee_type"),
                        ("code", "ee_code"),
                        ("info", "ee_info"),
                        ("data", "ee_data"),
                    ] {
                        e.push((k.to_string(), num(data, pd)?));
                    }
                    one("recverr", Value::Map(e))
                }
                "SCM_TIMESTAMPING_OPT_STATS" => {
                    // cmsg_data=[TCP_NLA_BUSY=0, TCP_NLA_SRTT=..., ...]: `...` unchecked.
                    let PdExpr::List(items) = data else {
                        return Err("SCM_TIMESTAMPING_OPT_STATS's data is a list of TCP_NLA_NAME=VALUE".into());
                    };
                    let mut attrs = Vec::new();
                    for it in items {
                        let a = it.atom().ok_or("an OPT_STATS attribute is TCP_NLA_NAME=VALUE")?;
                        let (k, v) = a.split_once('=').ok_or(format!("`{a}`: an attribute is TCP_NLA_NAME=VALUE"))?;
                        let name = k.trim().strip_prefix("TCP_NLA_").map(str::to_ascii_lowercase);
                        let name = name
                            .filter(|n| crate::script::call::OPT_STATS.iter().any(|x| x.1 == n))
                            .ok_or(format!("`{}` is not a TCP_NLA_ attribute", k.trim()))?;
                        let v = match v.trim() {
                            "..." => Value::from("*"),
                            n => Value::Int(parse_pd_int(n).ok_or(format!("`{a}`: the value is a number or ..."))?),
                        };
                        attrs.push((name, v));
                    }
                    one("opt_stats", Value::Map(attrs))
                }
                other => return Err(format!("control message `{other}` is not in the language yet")),
            });
        }
        extra.push((StepKey::Cmsg, Value::List(list)));
    }
    let flags = if flags.trim().is_empty() { "0" } else { flags.trim() };
    Ok((format!("recvmsg({}, {len}, {flags}) = {result}", fd.trim()), extra))
}

/// packetdrill's `sendmsg(fd, {msg_name(...)=..., msg_iov(N)=[{..., L}, ...],
/// msg_flags=0}, FLAGS) = R` as `sendto(fd, ..., SUM, FLAGS, ..., ...) = R`:
/// TCP copies an iovec's buffers one after the other, so on the wire it is
/// one buffer of their total length. With MSG_ZEROCOPY the buffers become
/// the packets' fragments, so that form is refused.
/// packetdrill's `{sa_family=AF_INET, sin_port=htons(P), sin_addr=inet_addr("A")}`
/// as the language's `A:P` (other text unchanged).
fn sockaddr_in(args: &str) -> String {
    let mut out = String::with_capacity(args.len());
    let mut rest = args;
    while let Some(i) = rest.find("{sa_family=AF_INET,") {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let Some(end) = after.find('}') else { break };
        let inner = &after[1..end];
        let field = |k: &str| inner.split(',').map(str::trim).find_map(|f| f.strip_prefix(k));
        let port =
            field("sin_port=htons(").and_then(|p| p.strip_suffix(')')).and_then(|p| p.trim().parse::<u16>().ok());
        let addr = field("sin_addr=inet_addr(")
            .and_then(|a| a.strip_suffix(')'))
            .and_then(|a| a.trim().trim_matches('"').parse::<std::net::Ipv4Addr>().ok());
        match (addr, port) {
            (Some(a), Some(p)) => out.push_str(&format!("{a}:{p}")),
            _ => out.push_str(&after[..=end]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `writev(FD, [{..., A}, {..., B}], N) = R` as `write(FD, ..., A+B) = R`
/// (and readv as read): a TCP socket takes the vector's octets as one
/// stream, as sendmsg's iovec (below).
fn iovec_as_one(args: &str, result: &str, call: &str) -> Option<Result<String, String>> {
    let (fd, rest) = args.split_once(',')?;
    let list = rest.trim().strip_prefix('[')?;
    let (list, count) = list.rsplit_once(']')?;
    let count = count.trim().trim_start_matches(',').trim();
    let mut total = 0u64;
    let mut n = 0;
    for entry in list.split('}').map(|e| e.trim().trim_start_matches(',').trim()).filter(|e| !e.is_empty()) {
        let Some(len) = entry.strip_prefix("{...,").map(str::trim) else {
            return Some(Err(format!(
                "iovec `{entry}}}`: the language's {call} takes octets of a length (`{{..., N}}`), not given contents"
            )));
        };
        match len.parse::<u64>() {
            Ok(v) => total += v,
            Err(_) => return Some(Err(format!("iovec length `{len}`"))),
        }
        n += 1;
    }
    if count.parse::<usize>().ok() != Some(n) {
        return Some(Err(format!("an iovec count `{count}` that is not the vector's {n} entries")));
    }
    Some(Ok(format!("{call}({}, ..., {total}) = {result}", fd.trim())))
}

fn sendmsg_struct(args: &str, result: &str) -> Option<Result<String, String>> {
    // Control messages: the language's sendmsg takes them after the flags.
    let mut control = String::new();
    if args.contains("msg_control") {
        let parts = split_top_nested(args);
        let msg = match parts.get(1).map(|m| PdExpr::parse(m)) {
            Some(Ok(m)) => m,
            Some(Err(e)) => return Some(Err(e)),
            None => return Some(Err("sendmsg takes (fd, msghdr, flags)".into())),
        };
        let Some(PdExpr::List(items)) = msg.field("msg_control") else {
            return Some(Err("msg_control is a list of cmsgs".into()));
        };
        let mut list = Vec::new();
        for cm in items {
            let f = |k: &str| cm.field(k).and_then(PdExpr::atom).map(str::to_string);
            match (f("cmsg_level"), f("cmsg_type"), f("cmsg_data")) {
                (Some(l), Some(t), Some(d)) => list.push(format!("{{cmsg_level={l}, cmsg_type={t}, cmsg_data={d}}}")),
                _ => {
                    return Some(Err("a sendmsg control message is {cmsg_level=L, cmsg_type=T, cmsg_data=INT}".into()))
                }
            }
        }
        control = format!(", [{}]", list.join(", "));
    }
    let (fd, rest) = args.split_once(',')?;
    let rest = rest.trim().strip_prefix('{')?;
    let close = rest.rfind('}')?;
    let (body, flags) = (&rest[..close], rest[close + 1..].trim().trim_start_matches(',').trim());
    let iov = body.split_once("msg_iov(")?.1;
    let list = iov.split_once("=[")?.1.split_once(']')?.0;
    let mut lens = Vec::new();
    for entry in list.split('}') {
        let Some((_, len)) = entry.rsplit_once(',') else { continue };
        match len.trim().parse::<u64>() {
            Ok(n) => lens.push(n),
            Err(_) => return Some(Err(format!("iovec length `{}`", len.trim()))),
        }
    }
    let total: u64 = lens.iter().sum();
    if !body.contains("msg_flags=0") && body.contains("msg_flags") {
        return Some(Err("msg_flags other than 0".into()));
    }
    let flags = if flags.is_empty() { "0" } else { flags };
    if flags.contains("MSG_ZEROCOPY") || !control.is_empty() {
        // The buffers become the packet's fragments (the split is kept),
        // or the send carries control messages.
        let l = lens.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        return Some(Ok(format!("sendmsg({}, [{l}], {flags}{control}) = {result}", fd.trim())));
    }
    Some(Ok(format!("sendto({}, ..., {total}, {flags}, ..., ...) = {result}", fd.trim())))
}

/// packetdrill's `poll([{fd=N, events=E, revents=R}], 1, T) = 1` as the
/// language's `poll(N, E, T) = R` (`= 0` when nothing is ready).
fn poll_struct(args: &str, result: &str) -> Option<Result<String, String>> {
    let rest = args.trim().strip_prefix("[{")?;
    let (inner, after) = rest.split_once("}]")?;
    let after = after.trim().strip_prefix(',')?;
    let mut parts = after.split(',').map(str::trim);
    let (n, timeout) = (parts.next()?, parts.next()?);
    if n != "1" || parts.next().is_some() {
        return Some(Err("only one pollfd is supported".into()));
    }
    let mut fd = None;
    let mut events = None;
    let mut revents = None;
    for kv in inner.split(',') {
        match kv.split_once('=').map(|(k, v)| (k.trim(), v.trim().to_string())) {
            Some(("fd", v)) => fd = Some(v),
            Some(("events", v)) => events = Some(v),
            Some(("revents", v)) => revents = Some(v),
            _ => return Some(Err(format!("`{kv}` in a pollfd"))),
        }
    }
    let (Some(fd), Some(events)) = (fd, events) else { return Some(Err("a pollfd needs fd= and events=".into())) };
    let result = result.split("//").next().unwrap_or("").trim();
    let ret = match result {
        "0" => "0".to_string(),
        "1" => revents.unwrap_or_else(|| "0".into()),
        r => return Some(Err(format!("poll returning `{r}`"))),
    };
    Some(Ok(format!("poll({fd}, {events}, {timeout}) = {ret}")))
}

fn short(s: &str) -> String {
    if s.chars().count() > 90 {
        format!("{}...", s.chars().take(87).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Python blocks: `assert` on `tcpi_*` fields (with integer variables and
/// packetdrill's constants) become a `tcp_info:` step; `print` is dropped.
fn python(o: &mut Out, it: &Item, code: &str) {
    let line = it.line;
    let mut fields: Vec<(String, Value)> = Vec::new();
    // Statements: lines joined at a trailing `\`, split at `;`.
    let joined = code.replace("\\\n", " ");
    for (i, l) in joined.lines().enumerate() {
        let l = l.split('#').next().unwrap_or("");
        for stmt in split_top(l, ';') {
            let stmt = stmt.trim();
            if stmt.is_empty() || stmt.starts_with("print(") || stmt.starts_with("print ") {
                continue;
            }
            match py_stmt(o, stmt) {
                Ok(Some(f)) => fields.extend(f),
                Ok(None) => {}
                Err(why) => {
                    o.problem(line + i, "python", format!("`{}`: {why}", short(stmt)));
                    return;
                }
            }
        }
    }
    if fields.is_empty() {
        o.drop_time(it.time.as_ref());
        return;
    }
    let Some(fd) = o.under_test else {
        o.problem(line, "python", "TCP_INFO is asserted before any socket exists");
        return;
    };
    let mut m = vec![("fd".to_string(), Value::Int(i64::from(fd)))];
    m.extend(fields);
    let at = it.time.as_ref().and_then(|t| o.at(line, t));
    o.step(line, at, StepKey::TcpInfo, Value::Map(m), vec![]);
}

fn split_top(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0);
    for (i, c) in s.char_indices() {
        match c {
            '\'' | '"' if quote == Some(c) => quote = None,
            '\'' | '"' if quote.is_none() => quote = Some(c),
            '(' | '[' | '{' if quote.is_none() => depth += 1,
            ')' | ']' | '}' if quote.is_none() => depth -= 1,
            c if c == sep && depth == 0 && quote.is_none() => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// A variable packetdrill's code.c gives a Python block, as the tcp_info
/// step's field: `tcpi_X` (TCP_INFO), `SK_MEMINFO_X` (SO_MEMINFO:
/// `meminfo_x`), `bbr_*`/`dctcp_*`/`tcpv_*` and vegas's `tcp_rtt`,
/// `tcp_minrtt` (TCP_CC_INFO).
fn py_field(t: &str) -> Option<String> {
    if !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    if let Some(f) = t.strip_prefix("tcpi_") {
        return Some(f.to_string());
    }
    if let Some(f) = t.strip_prefix("SK_MEMINFO_") {
        return Some(format!("meminfo_{}", f.to_ascii_lowercase()));
    }
    match t {
        "tcp_rtt" => Some("tcpv_rtt".into()),
        "tcp_minrtt" => Some("tcpv_minrtt".into()),
        _ if t.starts_with("bbr_") || t.starts_with("dctcp_") || t.starts_with("tcpv_") => Some(t.to_string()),
        _ => None,
    }
}

/// One statement: `NAME = INT`, `NAME += INT`, or `assert COND[, MSG]`.
fn py_stmt(o: &mut Out, s: &str) -> Result<Option<Vec<(String, Value)>>, String> {
    if let Some(rest) = s.strip_prefix("assert ") {
        let cond = split_top(rest, ',')[0].trim();
        return py_cond(o, cond).map(Some);
    }
    for op in ["+=", "-=", "="] {
        if let Some((lhs, rhs)) = s.split_once(op) {
            let name = lhs.trim();
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || name.is_empty() {
                break;
            }
            let v = py_int(o, rhs.trim())?;
            let cur = o.py_vars.get(name).copied();
            let nv = match op {
                "=" => v,
                "+=" => cur.ok_or(format!("`{name}` is used before it is set"))? + v,
                _ => cur.ok_or(format!("`{name}` is used before it is set"))? - v,
            };
            o.py_vars.insert(name.to_string(), nv);
            return Ok(None);
        }
    }
    Err("only `assert` on tcpi_* fields, integer variables and print() can be converted".into())
}

fn py_int(o: &Out, s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return i64::from_str_radix(h, 16).map_err(|_| format!("`{s}` is not an integer"));
    }
    if let Ok(v) = s.parse::<i64>() {
        return Ok(v);
    }
    if let Some(&(_, v)) = PY_CONSTANTS.iter().find(|(n, _)| *n == s) {
        return Ok(v);
    }
    if let Some(&(v, _, _)) = crate::os::tcp_states::TCP_STATES.iter().find(|(_, n, _)| *n == s) {
        return Ok(i64::from(v));
    }
    if let Some(v) = o.py_vars.get(s) {
        return Ok(*v);
    }
    // a * b, a + b with integers only.
    for op in ['+', '*', '-'] {
        if let Some((a, b)) = s.rsplit_once(op) {
            if !a.trim().is_empty() {
                let (a, b) = (py_int(o, a)?, py_int(o, b)?);
                return Ok(match op {
                    '+' => a + b,
                    '-' => a - b,
                    _ => a * b,
                });
            }
        }
    }
    Err(format!("`{s}` is not an integer or a known name"))
}

/// `tcpi_x OP v`, `v OP tcpi_x`, `a <= tcpi_x <= b`, `(tcpi_x & M) ==/!= 0`.
fn py_cond(o: &Out, c: &str) -> Result<Vec<(String, Value)>, String> {
    let c = c.trim();
    let c = if c.starts_with('(') && c.ends_with(')') && !c[1..].contains('(') { c[1..c.len() - 1].trim() } else { c };
    if c.contains(" and ") {
        let mut out = Vec::new();
        for part in c.split(" and ") {
            out.extend(py_cond(o, part)?);
        }
        return Ok(out);
    }
    // Tokens: operands and comparison operators.
    let mut toks: Vec<String> = Vec::new();
    let mut cur = String::new();
    let b = c.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let two = c.get(i..i + 2).unwrap_or("");
        if ["==", "!=", "<=", ">="].contains(&two) {
            toks.push(std::mem::take(&mut cur).trim().to_string());
            toks.push(two.to_string());
            i += 2;
        } else if b[i] == b'<' || b[i] == b'>' {
            toks.push(std::mem::take(&mut cur).trim().to_string());
            toks.push((b[i] as char).to_string());
            i += 1;
        } else {
            cur.push(b[i] as char);
            i += 1;
        }
    }
    toks.push(cur.trim().to_string());
    let field_of = |t: &str| -> Option<(String, Option<i64>)> {
        let t = t.trim();
        let t = t.strip_prefix('(').and_then(|x| x.strip_suffix(')')).unwrap_or(t).trim();
        if let Some((f, m)) = t.split_once('&') {
            return Some((py_field(f.trim())?, py_int(o, m).ok()));
        }
        py_field(t).map(|f| (f, None))
    };
    let check_field = |f: &str| -> Result<(), String> {
        if crate::script::is_info_field(f) {
            Ok(())
        } else {
            match f {
                // code.c's FreeBSD section.
                "snd_bwnd" | "snd_nxt" | "rcv_nxt" | "toe_tid" | "snd_rexmitpack" | "snd_zerowin" => {
                    Err(format!("`tcpi_{f}` is FreeBSD's tcp_info field: Linux's struct tcp_info has none"))
                }
                _ => {
                    Err(format!("the field `{f}` (TCP_INFO, SO_MEMINFO or TCP_CC_INFO) is not one the language reads"))
                }
            }
        }
    };
    match toks.len() {
        3 => {
            let (a, op, bb) = (&toks[0], toks[1].as_str(), &toks[2]);
            let (field, mask, v, op) = match (field_of(a), field_of(bb)) {
                (Some((f, m)), None) => (f, m, py_int(o, bb)?, op.to_string()),
                (None, Some((f, m))) => {
                    let flipped = match op {
                        "<" => ">",
                        ">" => "<",
                        "<=" => ">=",
                        ">=" => "<=",
                        x => x,
                    };
                    (f, m, py_int(o, a)?, flipped.to_string())
                }
                _ => return Err("a condition compares one tcpi_* field with a value".into()),
            };
            check_field(&field)?;
            if let Some(m) = mask {
                return match (op.as_str(), v) {
                    ("!=", 0) => Ok(vec![(field, format!("&{m}").into())]),
                    ("==", 0) => Ok(vec![(field, format!("!&{m}").into())]),
                    ("==", v) if v == m => Ok(vec![(field, format!("&{m}").into())]),
                    _ => Err("a bit test is `(tcpi_x & MASK) == 0` or `!= 0`".into()),
                };
            }
            let range = match op.as_str() {
                "==" => return Ok(vec![(field, Value::Int(v))]),
                "<=" => format!("{}~{v}", i64::MIN),
                "<" => format!("{}~{}", i64::MIN, v - 1),
                ">=" => format!("{v}~{}", i64::MAX),
                ">" => format!("{}~{}", v + 1, i64::MAX),
                _ => return Err(format!("`{op}` on a field cannot be converted")),
            };
            Ok(vec![(field, range.into())])
        }
        5 => {
            // lo OP field OP hi
            let (f, m) = field_of(&toks[2]).ok_or("a chained comparison has the tcpi_* field in the middle")?;
            if m.is_some() {
                return Err("a chained comparison on a bit test".into());
            }
            check_field(&f)?;
            let lo = py_int(o, &toks[0])? + i64::from(toks[1] == "<");
            let hi = py_int(o, &toks[4])? - i64::from(toks[3] == "<");
            if !matches!(toks[1].as_str(), "<" | "<=") || !matches!(toks[3].as_str(), "<" | "<=") {
                return Err("a chained comparison must be lo <= field <= hi".into());
            }
            Ok(vec![(f, format!("{lo}~{hi}").into())])
        }
        _ => Err("the condition is not a comparison of a tcpi_* field".into()),
    }
}

/// The path a script is imported under: `DIR/x.pkt` -> `OUT/DIR/x.yaml`.
pub fn yaml_name(rel: &Path) -> std::path::PathBuf {
    rel.with_extension("yaml")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Import options with the helpers google's tree runs.
    fn with_helpers() -> ImportOptions {
        ImportOptions {
            helper_dirs: vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("import-helpers/packetdrill-gtests")],
            ..ImportOptions::default()
        }
    }

    #[test]
    fn converts_a_server_script() {
        let pkt = "// Test for blocking accept.\n--tolerance_usecs=10000\n`../common/defaults.sh`\n\
                   0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
                   +0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n\
                   +0...0.200 accept(3, ..., ...) = 4\n\
                   +.1 < S 0:0(0) win 32792 <mss 1000,nop,wscale 7>\n\
                   +0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 8>\n\
                   +.1 < . 1:1(0) ack 1 win 257\n\
                   +0 %{ cwnd = 10; assert tcpi_snd_cwnd == cwnd, tcpi_snd_cwnd }%\n\
                   +0 %{ assert (tcpi_options & TCPI_OPT_SYN_DATA) != 0; assert 100 <= tcpi_rtt < 200 }%\n\
                   `/tmp/sysctl_restore_${PPID}.sh`\n";
        let c = convert("blocking/x.pkt", pkt, &with_helpers());
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        let y = c.yaml.unwrap();
        assert!(y.contains("tolerance: 10000us"), "{y}");
        assert!(y.contains("congestion: cubic"), "{y}");
        assert!(y.contains("net.ipv4.tcp_rmem: \"4096 540000 15728640\""), "{y}");
        assert!(y.contains("{at: \"+0...0.2\", call: \"accept(3, ..., ...) = 4\", from: 7}"), "{y}");
        assert!(y.contains("{fd: 4, snd_cwnd: 10}"), "{y}");
        assert!(y.contains("{fd: 4, options: \"&32\", rtt: \"100~199\"}"), "{y}");
        // The converted script is one the language accepts.
        crate::script::parse(Path::new("x.yaml"), &y).unwrap();
    }

    /// tc, ip, ethtool and nstat lines become the language's settings:
    /// header keys before the first step, steps after it.
    #[test]
    fn network_settings_from_shell_lines() {
        let body = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n";
        let conv = |pkt: &str| convert("x.pkt", pkt, &ImportOptions::default());
        let y = conv(&format!(
            "`tc qdisc add dev tun0 root pfifo\n\
             tc qdisc replace dev tun0 root fq\n\
             ip route change 192.0.2.1 via 192.168.0.2 dev tun0 advmss 600 mtu lock 640 initcwnd 11\n\
             ethtool -K tun0 gso off tso off\n\
             nstat > /dev/null`\n{body}\
             +0 `tc qdisc delete dev tun0 root 2>/dev/null ; tc qdisc add dev tun0 root pfifo limit 0`\n\
             +0 `ip route change 192.0.2.1 via 192.168.0.2 dev tun0 advmss 1460 mtu lock 1500`\n\
             +0 `ip tcp_metrics flush all > /dev/null 2>&1`\n\
             +0 `nstat > /dev/null`\n\
             +0 `nstat | grep TcpExtOutOfWindowIcmps > /dev/null`\n"
        ))
        .yaml
        .unwrap();
        for want in [
            // Not the block's last line: packetdrill goes on with pfifo where fq is missing.
            "qdisc: \"fq or pfifo\"",
            "route: \"advmss 600 mtu lock 640 initcwnd 11\"",
            "offload: none",
            "{qdisc: \"pfifo limit 0\", from: 7}",
            "{route: \"advmss 1460 mtu lock 1500\", from: 8}",
            "{tcp_metrics: flush, from: 9}",
            "{counters: {}, from: 10}",
            "{counters: {\"*TcpExtOutOfWindowIcmps*\": \"1~\"}, from: 11}",
        ] {
            assert!(y.contains(want), "{want}: {y}");
        }
        crate::script::parse(Path::new("x.yaml"), &y).unwrap();
        // The block's last line: the kernel must have the kind, as packetdrill's status says.
        let y = conv(&format!("`tc qdisc replace dev tun0 root fq`\n{body}")).yaml.unwrap();
        assert!(y.contains("qdisc: fq\n"), "{y}");
        // What is not the run's own device or address, or not a setting, stays a shell command.
        for line in [
            "ip route change 198.51.100.7 dev tun0 advmss 600",
            "ip route change 192.0.2.1 dev eth0 advmss 600",
            "ip route change 192.0.2.1 dev tun0 rtt 3",
            "tc qdisc add dev tun0 root fq_codel target 5ms",
            "ethtool -K tun0 gro off",
            "nstat -a | grep Tcp",
        ] {
            let c = conv(&format!("{body}+0 `{line}`\n"));
            assert_eq!(c.problems.len(), 1, "{line}: {:?}", c.problems);
            assert!(c.problems[0].reason.contains("is a shell command"), "{line}: {:?}", c.problems);
        }
        // Not the block's last line, mid-script: nothing to fall back on.
        let c = conv(&format!("{body}+0 `tc qdisc replace dev tun0 root fq\nsysctl -q net.ipv4.tcp_sack=1`\n"));
        assert!(c.problems[0].reason.contains("tc qdisc replace dev tun0 root fq"), "{:?}", c.problems);
    }

    #[test]
    fn refuses_with_reasons() {
        let pkt = "--mss=x\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
                   +0 < [ect9] S 0:0(0) win 1000\n+0 > icmp unreachable\n+0 frob(3) = 0\n\
                   +0 %{ import os }%\n+0 `tc qdisc add dev tun0 root fq_codel target 5ms`\n";
        let c = convert("x.pkt", pkt, &ImportOptions::default());
        assert!(c.yaml.is_none());
        let got: Vec<(usize, &str)> = c.problems.iter().map(|p| (p.line, p.construct.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (1, "option --mss"),
                (3, "packet"),
                (4, "ICMP packet"),
                (5, "call frob"),
                (6, "python"),
                (7, "shell tc")
            ]
        );
    }

    #[test]
    fn fast_open_cookie_is_the_kernels() {
        let key = [0xa1a1_a1a1, 0xb2b2_b2b2, 0xc3c3_c3c3, 0xd4d4_d4d4];
        let ip = |s: &str| s.parse().unwrap();
        // run_all.py's value for its addresses, and the kernel 6.18's answer
        // for the language's default addresses (seen in a SYN-ACK).
        assert_eq!(tfo_cookie(ip("192.0.2.1"), ip("192.168.0.1"), key), "3021b9d889017eeb");
        assert_eq!(tfo_cookie(ip("192.0.2.1"), ip("198.51.100.1"), key), "1082c9244032bf10");
    }

    #[test]
    fn times() {
        let pkt = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+.1 `/tmp/sysctl_restore_1.sh`\n+.2 close(3) = 0\n\
                   1.0~1.5 > . 1:1(0) ack 1\n// the end\n";
        let y = convert("x.pkt", pkt, &ImportOptions::default()).yaml.unwrap();
        assert!(y.ends_with("  # the end\n"), "{y}");
        assert!(y.contains("{at: \"+0.3\", call: \"close(3) = 0\""), "{y}");
        assert!(y.contains("{at: \"@1~1.5\", out:"), "{y}");
    }

    /// Helpers read from the script's tree: what they set, what is refused
    /// (at the helper's file:line), and what is kept under --allow-shell.
    #[test]
    fn helpers_are_read_line_by_line() {
        let d = std::env::temp_dir().join(format!("convert-helpers-{}", std::process::id()));
        std::fs::create_dir_all(d.join("t/lib")).unwrap();
        let w = |p: &str, t: &str| std::fs::write(d.join(p), t).unwrap();
        w(
            "t/lib/setup.sh",
            "#!/bin/bash\n# setup\nsysctl -w net.ipv4.tcp_sack=0\nsysctl -q net.core.x=$((2*8))\n./lib/more.sh\n",
        );
        w("t/lib/more.sh", "tc qdisc replace dev tun0 root pfifo\nmodprobe tcp_bbr\n");
        w("t/lib/py", "#!/usr/bin/env python3\nprint(1)\n");
        w("t/lib/loop.sh", "./lib/loop.sh\n");
        let script = d.join("t/x.pkt");
        let conv = |pkt: &str, allow_shell: bool| {
            let opts = ImportOptions { allow_shell, ..ImportOptions::default() };
            convert_file("x.pkt", pkt, Some(&script), &opts)
        };
        let body = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n";
        // modprobe is neither a setting nor namespace-local.
        let c = conv(&format!("`./lib/setup.sh`\n{body}"), false);
        let p: Vec<(usize, &str, &str)> =
            c.problems.iter().map(|p| (p.line, p.construct.as_str(), p.reason.as_str())).collect();
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].0, p[0].1), (1, "shell modprobe"));
        assert!(p[0].2.starts_with("./lib/more.sh:2: `modprobe tcp_bbr`: `modprobe` is not known"), "{}", p[0].2);
        assert!(p[0].2.ends_with("not kept, even with --allow-shell"), "{}", p[0].2);
        let c = conv(&format!("`./lib/setup.sh`\n{body}"), true);
        assert!(
            c.problems[0].reason.contains("more.sh:2: `modprobe tcp_bbr`: `modprobe` is not known"),
            "{:?}",
            c.problems
        );
        // Without the refused line: settings from both helpers.
        w("t/lib/more.sh", "tc qdisc replace dev tun0 root pfifo\n");
        let y = conv(&format!("`./lib/setup.sh`\n{body}"), false).yaml.unwrap();
        for want in ["qdisc: pfifo", "net.ipv4.tcp_sack: \"0\"", "net.core.x: \"16\""] {
            assert!(y.contains(want), "{want}: {y}");
        }
        // A helper's `ip link set dev tun0 mtu N` is the header's mtu:.
        w("t/lib/more.sh", "tc qdisc replace dev tun0 root pfifo\nip link set dev tun0 mtu 1400\n");
        let y = conv(&format!("`./lib/setup.sh`\n{body}"), false).yaml.unwrap();
        assert!(y.contains("mtu: 1400"), "{y}");
        w("t/lib/more.sh", "tc qdisc replace dev tun0 root pfifo\n");
        // After the first step, a helper's sysctls are a sysctl: step.
        let y = conv(&format!("{body}+0 `./lib/setup.sh`\n"), true).yaml.unwrap();
        assert!(y.contains("sysctl: {net.ipv4.tcp_sack: \"0\", net.core.x: \"16\"}"), "{y}");
        assert!(y.contains("{qdisc: pfifo, from: "), "{y}");
        for (pkt, construct, why) in [
            ("`./lib/py`\n", "helper python3", "is a python3 program"),
            ("`./lib/loop.sh`\n", "helper", "helpers run helpers deeper than 8"),
            ("`./lib/none.sh`\n", "helper not found", "`./lib/none.sh` is not at"),
            ("`../../../etc/x.sh`\n", "helper not found", "is not at"),
        ] {
            let c = conv(&format!("{pkt}{body}"), true);
            assert_eq!(c.problems.len(), 1, "{pkt}: {:?}", c.problems);
            assert_eq!(c.problems[0].construct, construct, "{pkt}");
            assert!(c.problems[0].reason.contains(why), "{pkt}: {}", c.problems[0].reason);
        }
        // set_sysctls.py's convention: read from the call's arguments.
        let y = conv(&format!("`./lib/py /proc/sys/net/ipv4/tcp_ecn=1`\n{body}"), false).yaml.unwrap();
        assert!(y.contains("net.ipv4.tcp_ecn: \"1\""), "{y}");
        let _ = std::fs::remove_dir_all(&d);
    }

    /// Helpers as trees write them: variables (`NAME=`, `export`, `$NAME`,
    /// `${NAME}`), `source FILE` and `. FILE` (sharing the variables), and a
    /// helper run as a program seeing only the exported ones.
    #[test]
    fn helpers_with_variables_and_source() {
        let d = std::env::temp_dir().join(format!("convert-vars-{}", std::process::id()));
        std::fs::create_dir_all(d.join("t/lib")).unwrap();
        let w = |p: &str, t: &str| std::fs::write(d.join(p), t).unwrap();
        w(
            "t/lib/env.sh",
            "#!/bin/bash\nRMEM_MAX=$((8*1024*1024))\nexport ECN=1\nLOCAL_ONLY=5\nsource lib/knobs.sh\n. ./lib/more.sh\n./lib/child.sh\n",
        );
        w("t/lib/knobs.sh", "sysctl -q net.ipv4.tcp_rmem=\"4096 87380 ${RMEM_MAX}\"\n");
        w("t/lib/more.sh", "sysctl -q net.ipv4.tcp_syn_retries=$LOCAL_ONLY\n");
        w("t/lib/child.sh", "sysctl -q net.ipv4.tcp_ecn=$ECN\n");
        let script = d.join("t/x.pkt");
        let conv = |pkt: &str| convert_file("x.pkt", pkt, Some(&script), &ImportOptions::default());
        let c = conv("`./lib/env.sh`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n");
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        let y = c.yaml.unwrap();
        for want in
            ["net.ipv4.tcp_rmem: \"4096 87380 8388608\"", "net.ipv4.tcp_syn_retries: \"5\"", "net.ipv4.tcp_ecn: \"1\""]
        {
            assert!(y.contains(want), "{want}\n{y}");
        }
        // A helper run as a program does not see what is not exported.
        w("t/lib/child.sh", "sysctl -q net.ipv4.tcp_ecn=$LOCAL_ONLY\n");
        let c = conv("`./lib/env.sh`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n");
        assert_eq!(c.problems.len(), 1, "{:?}", c.problems);
        assert!(
            c.problems[0].reason.starts_with("./lib/child.sh:1: `sysctl -q net.ipv4.tcp_ecn=$LOCAL_ONLY`"),
            "{:?}",
            c.problems
        );
        // Variables of the block itself.
        let c = conv("`X=2\nsysctl -q net.ipv4.tcp_frto=$X`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n");
        assert!(c.yaml.unwrap().contains("net.ipv4.tcp_frto: \"2\""));
        let _ = std::fs::remove_dir_all(&d);
    }

    /// The fast-open cookie is computed from the key the script's sysctls
    /// set, or the script is refused at the cookie's line.
    #[test]
    fn the_fastopen_cookie_follows_the_scripts_key() {
        let pkt = |key: &str| {
            format!(
                "`sysctl -q net.ipv4.tcp_fastopen_key={key}`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
                 +0 sendto(3, ..., 0, MSG_FASTOPEN, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n\
                 +0 > S 0:0(0) <mss 1460,nop,nop,sackOK,nop,wscale 8,FO,nop,nop>\n\
                 +0 < S. 123:123(0) ack 1 win 5792 <mss 1460,nop,nop,sackOK,nop,wscale 6,FO TFO_COOKIE,nop,nop>\n"
            )
        };
        let opts = ImportOptions::default();
        let a = convert("x.pkt", &pkt("a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4"), &opts).yaml.unwrap();
        let b = convert("x.pkt", &pkt("00000001-00000002-00000003-00000004"), &opts).yaml.unwrap();
        let cookie = |y: &str| y.split("opt34 ").nth(1).map(|s| s[..16].to_string());
        assert_ne!(cookie(&a), cookie(&b), "{a}\n{b}");
        let want = tfo_cookie(
            "192.0.2.1".parse().unwrap(),
            "198.51.100.1".parse().unwrap(),
            [0xa1a1_a1a1, 0xb2b2_b2b2, 0xc3c3_c3c3, 0xd4d4_d4d4],
        );
        assert!(a.contains(&want), "{want}: {a}");
        let c = convert("x.pkt", &pkt("zz"), &opts);
        assert_eq!(c.problems[0].construct, "TFO_COOKIE");
        assert_eq!(c.problems[0].line, 5);
        let none = pkt("x").replace("`sysctl -q net.ipv4.tcp_fastopen_key=x`\n", "");
        let c = convert("x.pkt", &none, &opts);
        assert!(c.problems[0].reason.contains("neither the script nor its helpers set"), "{:?}", c.problems);
    }
}
