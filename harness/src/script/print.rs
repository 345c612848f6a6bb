//! The language printed: a script's header, matrix and steps as YAML text
//! that [`super::parse`] reads back. Every writer of scripts (`harness
//! import`, fuzz triage, `harness grid`) goes through here, so there is one
//! layout and one quoting rule.

use std::fmt::Write as _;

/// A header key of the language (docs/script-language.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Name,
    From,
    Description,
    Rfc,
    Tags,
    Targets,
    Profile,
    Sysctl,
    Tolerance,
    TolerancePercent,
    Addresses,
    LocalPort,
    RemotePort,
    RemoteIsn,
    Connections,
    Outbound,
    Timestamps,
    Offload,
    Congestion,
    OutSegments,
    Clock,
    Fds,
    TsTick,
    TimerTick,
    InGso,
    OptionLayout,
    Mtu,
    Qdisc,
    Route,
}

impl Key {
    pub const ALL: [Key; 29] = [
        Key::Name,
        Key::From,
        Key::Description,
        Key::Rfc,
        Key::Tags,
        Key::Targets,
        Key::Profile,
        Key::Sysctl,
        Key::Tolerance,
        Key::TolerancePercent,
        Key::Addresses,
        Key::LocalPort,
        Key::RemotePort,
        Key::RemoteIsn,
        Key::Connections,
        Key::Outbound,
        Key::Timestamps,
        Key::Offload,
        Key::Congestion,
        Key::OutSegments,
        Key::Clock,
        Key::Fds,
        Key::TsTick,
        Key::TimerTick,
        Key::InGso,
        Key::OptionLayout,
        Key::Mtu,
        Key::Qdisc,
        Key::Route,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Key::Name => "name",
            Key::From => "from",
            Key::Description => "description",
            Key::Rfc => "rfc",
            Key::Tags => "tags",
            Key::Targets => "targets",
            Key::Profile => "profile",
            Key::Sysctl => "sysctl",
            Key::Tolerance => "tolerance",
            Key::TolerancePercent => "tolerance_percent",
            Key::Addresses => "addresses",
            Key::LocalPort => "local_port",
            Key::RemotePort => "remote_port",
            Key::RemoteIsn => "remote_isn",
            Key::Connections => "connections",
            Key::Outbound => "outbound",
            Key::Timestamps => "timestamps",
            Key::Offload => "offload",
            Key::Congestion => "congestion",
            Key::OutSegments => "out_segments",
            Key::Clock => "clock",
            Key::Fds => "fds",
            Key::TsTick => "ts_tick",
            Key::TimerTick => "timer_tick",
            Key::InGso => "in_gso",
            Key::OptionLayout => "option_layout",
            Key::Mtu => "mtu",
            Key::Qdisc => "qdisc",
            Key::Route => "route",
        }
    }
}

/// A step key of the language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StepKey {
    At,
    In,
    Out,
    Call,
    State,
    Quiet,
    Wait,
    TcpInfo,
    Shell,
    Sysctl,
    Qdisc,
    Route,
    TcpMetrics,
    Counters,
    Flood,
    NewConnection,
    Only,
    Why,
    From,
    MsgFlags,
    Cmsg,
    Within,
    Conn,
}

impl StepKey {
    pub const ALL: [StepKey; 23] = [
        StepKey::At,
        StepKey::In,
        StepKey::Out,
        StepKey::Call,
        StepKey::State,
        StepKey::Quiet,
        StepKey::Wait,
        StepKey::TcpInfo,
        StepKey::Shell,
        StepKey::Sysctl,
        StepKey::Qdisc,
        StepKey::Route,
        StepKey::TcpMetrics,
        StepKey::Counters,
        StepKey::Flood,
        StepKey::NewConnection,
        StepKey::Only,
        StepKey::Why,
        StepKey::From,
        StepKey::MsgFlags,
        StepKey::Cmsg,
        StepKey::Within,
        StepKey::Conn,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StepKey::At => "at",
            StepKey::In => "in",
            StepKey::Out => "out",
            StepKey::Call => "call",
            StepKey::State => "state",
            StepKey::Quiet => "quiet",
            StepKey::Wait => "wait",
            StepKey::TcpInfo => "tcp_info",
            StepKey::Shell => "shell",
            StepKey::Sysctl => "sysctl",
            StepKey::Qdisc => "qdisc",
            StepKey::Route => "route",
            StepKey::TcpMetrics => "tcp_metrics",
            StepKey::Counters => "counters",
            StepKey::Flood => "flood",
            StepKey::NewConnection => "new_connection",
            StepKey::Only => "only",
            StepKey::Why => "why",
            StepKey::From => "from",
            StepKey::MsgFlags => "msg_flags",
            StepKey::Cmsg => "cmsg",
            StepKey::Within => "within",
            StepKey::Conn => "conn",
        }
    }
}

/// A value in a script.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Text: written plain when it reads back as the same text, else quoted.
    Str(String),
    Int(i64),
    Num(f64),
    /// `[a, b]`.
    List(Vec<Value>),
    /// `{k: v, ...}`.
    Map(Vec<(String, Value)>),
    /// A map written one key per line under its key (header level only).
    Block(Vec<(String, Value)>),
    /// A folded block (`>`): text that may run over several lines.
    Folded(String),
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

/// A step: its keys in order, the comments before it, and whether it is
/// written as a block (`- in: ...` then one key per line) or a flow map.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepDoc {
    pub comments: Vec<String>,
    pub fields: Vec<(StepKey, Value)>,
    pub block: bool,
}

impl StepDoc {
    /// A step of one kind, with its time if any (`at:` first).
    pub fn new(at: Option<String>, key: StepKey, value: impl Into<Value>) -> StepDoc {
        let mut fields = Vec::new();
        if let Some(a) = at {
            fields.push((StepKey::At, Value::Str(a)));
        }
        fields.push((key, value.into()));
        StepDoc { comments: Vec::new(), fields, block: false }
    }

    pub fn with(mut self, key: StepKey, value: impl Into<Value>) -> StepDoc {
        self.fields.push((key, value.into()));
        self
    }
}

/// A whole script: what the parser reads, in the order it is written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScriptDoc {
    /// `#` lines before the header.
    pub comments: Vec<String>,
    pub header: Vec<(Key, Value)>,
    /// `matrix:` rows, each a map of the same variables.
    pub matrix: Vec<Vec<(String, Value)>>,
    pub steps: Vec<StepDoc>,
    /// `#` lines after the last step.
    pub trailing: Vec<String>,
}

impl ScriptDoc {
    pub fn set(&mut self, key: Key, value: impl Into<Value>) {
        let value = value.into();
        match self.header.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.header.push((key, value)),
        }
    }

    pub fn get(&self, key: Key) -> Option<&Value> {
        self.header.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    pub fn remove(&mut self, key: Key) -> Option<Value> {
        let i = self.header.iter().position(|(k, _)| *k == key)?;
        Some(self.header.remove(i).1)
    }

    /// The YAML text.
    pub fn print(&self) -> String {
        let mut o = String::new();
        for c in &self.comments {
            comment(&mut o, "", c);
        }
        for (k, v) in &self.header {
            match v {
                Value::Block(entries) => {
                    let _ = writeln!(o, "{}:", k.name());
                    for (ek, ev) in entries {
                        let _ = writeln!(o, "  {}: {}", scalar(ek), flow(ev));
                    }
                }
                // Without a matrix, `${` may not be spelled (below): such
                // text goes double-quoted, where it can be escaped.
                Value::Folded(text) if self.matrix.is_empty() && text.contains("${") => {
                    let _ = writeln!(o, "{}: {}", k.name(), quoted(text));
                }
                Value::Folded(text) => {
                    let _ = writeln!(o, "{}: >", k.name());
                    for l in text.lines() {
                        let _ = writeln!(o, "  {l}");
                    }
                }
                other => {
                    let _ = writeln!(o, "{}: {}", k.name(), flow(other));
                }
            }
        }
        if !self.matrix.is_empty() {
            o.push_str("matrix:\n");
            for row in &self.matrix {
                let _ = writeln!(o, "  - {}", flow(&Value::Map(row.clone())));
            }
        }
        o.push_str("steps:\n");
        for s in &self.steps {
            for c in &s.comments {
                comment(&mut o, "  ", c);
            }
            if s.block {
                for (i, (k, v)) in s.fields.iter().enumerate() {
                    let _ = writeln!(o, "  {} {}: {}", if i == 0 { "-" } else { " " }, k.name(), flow(v));
                }
            } else {
                let entries: Vec<String> = s.fields.iter().map(|(k, v)| format!("{}: {}", k.name(), flow(v))).collect();
                let _ = writeln!(o, "  - {{{}}}", entries.join(", "));
            }
        }
        for c in &self.trailing {
            comment(&mut o, "  ", c);
        }
        // `${` is a matrix variable wherever it stands in a script; a
        // document without a matrix spells it `\x24{` (in a double-quoted
        // string that reads back as `${`; in a comment it is text). Plain
        // scalars and map keys never hold a `$`, folded text went quoted.
        if self.matrix.is_empty() && o.contains("${") {
            o = o.replace("${", "\\x24{");
        }
        o
    }
}

/// Whether YAML 1.2 lets `c` stand in a document as itself (its printable
/// set, less the characters some readers take for line breaks).
fn printable(c: char) -> bool {
    matches!(c, '\t' | '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// A comment's text, one `#` line per line; characters YAML does not allow
/// there (control characters, a lone carriage return) are written as
/// `\xNN` / `\u{N}` text, so the comment stays a comment.
fn comment(o: &mut String, indent: &str, c: &str) {
    for l in c.lines() {
        let l = l.trim_end();
        if l.is_empty() {
            let _ = writeln!(o, "{indent}#");
            continue;
        }
        let _ = write!(o, "{indent}# ");
        for ch in l.chars() {
            if printable(ch) {
                o.push(ch);
            } else if (ch as u32) < 0x100 {
                let _ = write!(o, "\\x{:02x}", ch as u32);
            } else {
                let _ = write!(o, "\\u{{{:x}}}", ch as u32);
            }
        }
        o.push('\n');
    }
}

/// A value on one line.
fn flow(v: &Value) -> String {
    match v {
        Value::Str(s) => scalar(s),
        Value::Int(i) => i.to_string(),
        Value::Num(f) => {
            let s = f.to_string();
            if s.contains(['.', 'e', 'i', 'N']) {
                s
            } else {
                format!("{s}.0")
            }
        }
        Value::List(items) => format!("[{}]", items.iter().map(flow).collect::<Vec<_>>().join(", ")),
        Value::Map(entries) | Value::Block(entries) => format!(
            "{{{}}}",
            entries.iter().map(|(k, v)| format!("{}: {}", scalar(k), flow(v))).collect::<Vec<_>>().join(", ")
        ),
        Value::Folded(text) => quoted(text),
    }
}

/// Text written plain when YAML reads it back as the same string (a word of
/// letters, digits, `_`, `.`, `-`, starting with a letter or `_`, and not
/// one of YAML's booleans or nulls; or a duration such as `10ms`);
/// double-quoted with escapes otherwise.
pub fn scalar(s: &str) -> String {
    let word = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    let duration = ["us", "ms", "s"].iter().any(|u| {
        s.strip_suffix(u).is_some_and(|n| {
            let (int, frac) = n.split_once('.').unwrap_or((n, "0"));
            !int.is_empty() && !frac.is_empty() && (int.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit())
        })
    });
    let word = word || duration;
    let special =
        ["true", "false", "yes", "no", "on", "off", "null", "y", "n"].iter().any(|w| s.eq_ignore_ascii_case(w));
    if word && !special {
        s.to_string()
    } else {
        quoted(s)
    }
}

/// A YAML double-quoted string.
pub fn quoted(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            c if printable(c) => o.push(c),
            c if (c as u32) < 0x100 => {
                let _ = write!(o, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
        }
    }
    o.push('"');
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn scalars_are_plain_only_when_they_read_back_the_same() {
        assert_eq!(scalar("cubic"), "cubic");
        assert_eq!(scalar("CLOSE_WAIT"), "CLOSE_WAIT");
        assert_eq!(scalar("net.ipv4.tcp_sack"), "net.ipv4.tcp_sack");
        assert_eq!(scalar("SYN-ACK"), "SYN-ACK");
        assert_eq!(scalar("4000us"), "4000us");
        assert_eq!(scalar("1.5s"), "1.5s");
        for quotedly in ["1", "1e3", "1.s", "+0.1", "sub/x.pkt", "a b", "yes", "No", "", "S. 0:0(0)", "#x", "a:b", "*"]
        {
            assert!(scalar(quotedly).starts_with('"'), "{quotedly}");
        }
        assert_eq!(quoted("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\x01\"");
    }

    /// Whatever text a comment or a name holds (an imported file's, found
    /// by `make fuzz-parsers`: control characters in a comment), the
    /// document reads back, with the name unchanged.
    #[test]
    fn any_text_in_comments_and_names_reads_back() {
        let mut text: String = (0u32..0x300).filter_map(char::from_u32).collect();
        text.extend(['\u{2028}', '\u{2029}', '\u{feff}', '\u{fffe}', '\u{ffff}', '\u{10000}', '\r', '#', '$', '{']);
        let mut d = ScriptDoc { comments: vec![text.clone()], ..ScriptDoc::default() };
        let name: String = text.chars().filter(|c| *c != '\n').collect();
        d.set(Key::Name, name.as_str());
        d.steps.push(StepDoc::new(None, StepKey::Call, "socket() = 3"));
        d.steps[0].comments = vec![text.clone()];
        d.trailing = vec![text];
        let y = d.print();
        let s = crate::script::parse(Path::new("x.yaml"), &y).unwrap_or_else(|e| panic!("{}\n{y}", e.message));
        assert_eq!(s[0].name, name);
    }

    /// Every header and step key the printer knows is one the parser
    /// accepts, and what it prints parses back to the same values.
    #[test]
    fn every_key_prints_and_parses_back() {
        let mut d = ScriptDoc { comments: vec!["a comment".into(), String::new()], ..ScriptDoc::default() };
        for k in Key::ALL {
            let v: Value = match k {
                Key::Name => "all keys: \"quoted\" #1".into(),
                Key::From => "dir/x.pkt".into(),
                Key::Description => Value::Folded("two\nlines".into()),
                Key::Rfc => Value::List(vec!["MUST-1".into(), "9293 3.10.7.4".into()]),
                Key::Tags => Value::List(vec!["slow".into(), "needs-ipv6".into()]),
                Key::Targets => Value::List(vec!["reference".into(), "linux".into()]),
                Key::Profile => "linux".into(),
                Key::Sysctl => Value::Block(vec![("net.ipv4.tcp_wmem".into(), "4096 262144 4194304".into())]),
                Key::Tolerance => "4000us".into(),
                Key::TolerancePercent => Value::Num(12.5),
                Key::Addresses => {
                    Value::Map(vec![("local".into(), "198.51.100.1".into()), ("remote".into(), "192.0.2.1".into())])
                }
                Key::LocalPort | Key::RemotePort => Value::Int(8081),
                Key::RemoteIsn => Value::Int(1000),
                Key::Connections => Value::Map(vec![("b".into(), 40001.into()), ("c".into(), 40002.into())]),
                // (`queue` does not go with the `within` step below.)
                Key::Outbound => "ignore".into(),
                Key::Timestamps => "mapped".into(),
                Key::Offload => "tso".into(),
                Key::Congestion => "cubic".into(),
                Key::OutSegments => "merge".into(),
                Key::Clock => "script".into(),
                Key::Fds => "mapped".into(),
                Key::TsTick => "1ms".into(),
                Key::TimerTick => "1ms".into(),
                Key::InGso => Value::Int(1460),
                Key::OptionLayout => "exact".into(),
                Key::Mtu => Value::Int(1520),
                Key::Qdisc => "pfifo limit 10".into(),
                Key::Route => "advmss 600 mtu lock 640".into(),
            };
            d.set(k, v);
        }
        d.steps.push(StepDoc::new(Some("+0.1".into()), StepKey::Call, "socket() = 3").with(StepKey::From, 7));
        d.steps.push(StepDoc {
            comments: vec!["why".into()],
            block: true,
            ..StepDoc::new(None, StepKey::Out, Value::Map(vec![("linux".into(), "S. 0:0(0) ack 1".into())]))
                .with(StepKey::Why, "RFC 9293 3.5")
                .with(StepKey::Only, "linux")
        });
        d.steps.push(StepDoc::new(None, StepKey::In, "S 0:0(0) win 1 <sackOK,TS val 1 ecr 0>"));
        d.steps.push(StepDoc::new(None, StepKey::In, "S 0:0(0) win 1").with(StepKey::Conn, "c"));
        d.steps.push(StepDoc::new(
            None,
            StepKey::State,
            Value::Map(vec![("fd".into(), 3.into()), ("is".into(), "LISTEN".into())]),
        ));
        d.steps.push(StepDoc::new(None, StepKey::Quiet, "10ms"));
        d.steps.push(StepDoc::new(None, StepKey::Wait, "1s"));
        d.steps.push(StepDoc::new(
            None,
            StepKey::TcpInfo,
            Value::Map(vec![("fd".into(), 3.into()), ("snd_cwnd".into(), "&2".into())]),
        ));
        d.steps.push(StepDoc::new(None, StepKey::Shell, "tc qdisc show dev \"tun0\""));
        d.steps.push(StepDoc::new(None, StepKey::Sysctl, Value::Map(vec![("net.ipv4.tcp_sack".into(), "0".into())])));
        d.steps.push(StepDoc::new(None, StepKey::Qdisc, "pfifo limit 0"));
        d.steps.push(StepDoc::new(None, StepKey::Route, "advmss 1460 mtu lock 1500"));
        d.steps.push(StepDoc::new(None, StepKey::TcpMetrics, "flush"));
        d.steps.push(StepDoc::new(
            None,
            StepKey::Counters,
            Value::Map(vec![("*OutOfWindowIcmps*".into(), "1~".into())]),
        ));
        d.steps.push(StepDoc::new(
            None,
            StepKey::Flood,
            Value::Map(vec![
                ("count".into(), 100.into()),
                ("seg".into(), "S 0:0(0) win 65535".into()),
                ("answers".into(), Value::Map(vec![("S.".into(), "1~".into()), ("none".into(), 0.into())])),
            ]),
        ));
        d.steps.push(StepDoc::new(None, StepKey::NewConnection, Value::Map(vec![("remote_isn".into(), 5.into())])));
        d.steps.push(
            StepDoc::new(None, StepKey::Call, "recvmsg(4, 0, MSG_ERRQUEUE) = 0")
                .with(StepKey::MsgFlags, "MSG_ERRQUEUE")
                .with(StepKey::Cmsg, Value::List(vec![Value::Map(vec![("inq".into(), 7.into())])])),
        );
        d.steps.push(StepDoc::new(None, StepKey::Out, ". 1:1(0) ack 1~5 win *").with(StepKey::Within, "500ms"));
        assert_eq!(
            d.steps.iter().flat_map(|s| s.fields.iter().map(|f| f.0)).collect::<std::collections::BTreeSet<_>>().len(),
            StepKey::ALL.len(),
            "every step key is used"
        );
        d.trailing.push("the end".into());
        let text = d.print();
        let s =
            crate::script::parse(Path::new("all.yaml"), &text).unwrap_or_else(|e| panic!("{}\n{text}", e.one_line()));
        let s = &s[0];
        assert_eq!(s.name, "all keys: \"quoted\" #1");
        assert_eq!(s.from.as_deref(), Some("dir/x.pkt"));
        assert_eq!(s.sysctl.get("net.ipv4.tcp_wmem").map(String::as_str), Some("4096 262144 4194304"));
        assert_eq!((s.local_port, s.remote_port, s.remote_isn, s.tolerance_percent), (8081, 8081, 1000, Some(12.5)));
        assert_eq!(s.connections, vec![("b".to_string(), 40001), ("c".to_string(), 40002)]);
        assert!(s.steps.iter().any(|st| st.conn.as_deref() == Some("c")));
        assert_eq!(s.steps.len(), 18);
        assert_eq!(s.steps[0].from, Some(7));
        assert_eq!(s.steps[17].within, Some(std::time::Duration::from_millis(500)));
        assert_eq!(s.qdisc.as_ref().map(ToString::to_string).as_deref(), Some("pfifo limit 10"));
        assert_eq!(s.route.as_ref().map(ToString::to_string).as_deref(), Some("advmss 600 mtu lock 640"));
    }

    #[test]
    fn a_matrix_prints_and_parses_back() {
        let d = ScriptDoc {
            header: vec![(Key::Name, "grid".into())],
            matrix: vec![
                vec![("kind".into(), "SYN".into()), ("_seg".into(), "S 0:0(0) win 1".into())],
                vec![("kind".into(), "FIN-ACK".into()), ("_seg".into(), "F. 0:0(0) ack 1 win 1".into())],
            ],
            steps: vec![StepDoc::new(None, StepKey::In, "${_seg}").with(StepKey::Why, "a ${kind} segment")],
            ..ScriptDoc::default()
        };
        let s = crate::script::parse(Path::new("m.yaml"), &d.print()).unwrap();
        assert_eq!(
            s.iter().map(|s| s.variant.clone().unwrap_or_default()).collect::<Vec<_>>(),
            ["kind=SYN", "kind=FIN-ACK"]
        );
    }
}
