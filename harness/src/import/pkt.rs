//! packetdrill's script grammar, read into items that keep their line
//! numbers. This is a reader, not an evaluator: packets and system calls keep
//! their text, which [`super::convert`] turns into the YAML language.
//!
//! The grammar (packetdrill's `lexer.l` and `parser.y`): command-line options
//! (`--name=value`) first; then events, each a time followed by a packet
//! (`<` inbound, `>` outbound), a system call `name(args) = result`, a shell
//! command in backticks or a Python block `%{ ... }%`. A backtick command may
//! also stand without a time. Comments are `//` to the end of the line or
//! `/* ... */`. System calls may span lines (struct literals).

/// A time as packetdrill writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct PdTime {
    /// `*`: any time.
    pub any: bool,
    /// `+`: after the previous event.
    pub relative: bool,
    pub start: f64,
    /// `~END`: a range (END relative to the previous event when `+`).
    pub range_end: Option<f64>,
    /// `...END`: a blocking call returning at END (from the previous event
    /// when the start is relative, else absolute).
    pub returns: Option<f64>,
    /// The time as written.
    pub text: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ItemKind {
    /// `--name[=value]`.
    Flag { name: String, value: Option<String> },
    /// A command in backticks.
    Shell(String),
    /// The code of a `%{ ... }%` block.
    Python(String),
    /// `<` (inbound: true) or `>`, and the packet's text.
    Packet { inbound: bool, text: String },
    /// `name(args) = result`; args and result as written.
    Call { name: String, args: String, result: Option<String> },
    /// A `//` or `/* */` comment's text.
    Comment(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// 1-based line where the item starts.
    pub line: usize,
    pub time: Option<PdTime>,
    pub kind: ItemKind,
}

/// Where the text stops making sense.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PktError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

struct Lexer<'a> {
    s: &'a [u8],
    text: &'a str,
    p: usize,
    /// Where each line starts: a position in O(log n), so a file of many
    /// lines converts in linear time.
    line_starts: Vec<usize>,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a str) -> Lexer<'a> {
        let mut line_starts = vec![0];
        line_starts.extend(text.bytes().enumerate().filter(|&(_, c)| c == b'\n').map(|(i, _)| i + 1));
        Lexer { s: text.as_bytes(), text, p: 0, line_starts }
    }

    fn line_col(&self, at: usize) -> (usize, usize) {
        let at = at.min(self.s.len());
        let i = self.line_starts.partition_point(|&s| s <= at) - 1;
        (i + 1, at - self.line_starts[i] + 1)
    }
    fn err(&self, at: usize, message: impl Into<String>) -> PktError {
        let (line, column) = self.line_col(at);
        PktError { line, column, message: message.into() }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.p).copied()
    }
    fn starts(&self, pat: &str) -> bool {
        self.s[self.p..].starts_with(pat.as_bytes())
    }
    fn skip_blank(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r')) {
            self.p += 1;
        }
    }
    /// Text from `from` to the end of the line (without a trailing `//` comment).
    fn rest_of_line(&mut self) -> String {
        let start = self.p;
        while self.peek().is_some_and(|c| c != b'\n') {
            if self.starts("//") {
                break;
            }
            self.p += 1;
        }
        self.text[start..self.p].trim().to_string()
    }
    /// Up to the closing delimiter `end`; the text between, or an error at `open`.
    fn until(&mut self, open: usize, end: &str, what: &str) -> Result<String, PktError> {
        let start = self.p;
        match self.text[start..].find(end) {
            Some(i) => {
                self.p = start + i + end.len();
                Ok(self.text[start..start + i].to_string())
            }
            None => Err(self.err(open, format!("{what} is never closed (no `{end}`)"))),
        }
    }
    fn number(&mut self) -> Option<f64> {
        let start = self.p;
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == b'.') {
            // Stop before `...`.
            if self.starts("...") {
                break;
            }
            self.p += 1;
        }
        if start == self.p {
            return None;
        }
        self.text[start..self.p].parse().ok()
    }
    fn time(&mut self) -> Result<PdTime, PktError> {
        let start = self.p;
        let mut t =
            PdTime { any: false, relative: false, start: 0.0, range_end: None, returns: None, text: String::new() };
        if self.peek() == Some(b'*') {
            self.p += 1;
            t.any = true;
        } else {
            if self.peek() == Some(b'+') {
                t.relative = true;
                self.p += 1;
                // `+ 0.1`: the lexer's tokens may stand apart.
                self.skip_blank();
            }
            t.start =
                self.number().ok_or_else(|| self.err(start, "expected a time (`0.1`, `+.1`, `*`) or `--option`"))?;
            let save = self.p;
            self.skip_blank();
            if self.peek() == Some(b'~') {
                self.p += 1;
                self.skip_blank();
                if self.peek() == Some(b'+') {
                    self.p += 1;
                    self.skip_blank();
                }
                let at = self.p;
                t.range_end =
                    Some(self.number().ok_or_else(|| self.err(at, "expected the end of a time range after `~`"))?);
            } else if self.starts("...") {
                self.p += 3;
                self.skip_blank();
                if self.peek() == Some(b'+') {
                    self.p += 1;
                    self.skip_blank();
                }
                let at = self.p;
                t.returns = Some(
                    self.number()
                        .ok_or_else(|| self.err(at, "expected the time a blocking call returns after `...`"))?,
                );
            } else {
                self.p = save;
            }
        }
        t.text = self.text[start..self.p].split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(t)
    }
    /// A system call's arguments: balanced parentheses across lines, strings respected.
    fn call_args(&mut self, open: usize) -> Result<String, PktError> {
        let start = self.p;
        let mut depth = 1usize;
        let mut quote = false;
        while let Some(c) = self.peek() {
            self.p += 1;
            match c {
                b'\\' if quote => self.p += 1,
                b'"' => quote = !quote,
                b'(' if !quote => depth += 1,
                b')' if !quote => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(self.text[start..self.p - 1].to_string());
                    }
                }
                _ => {}
            }
        }
        Err(self.err(open, "this system call's `(` is never closed"))
    }
}

/// Reads a packetdrill script. Never panics; a construct it cannot read is
/// an error with its line and column.
pub fn parse(text: &str) -> Result<Vec<Item>, PktError> {
    let mut lx = Lexer::new(text);
    let mut items = Vec::new();
    loop {
        while matches!(lx.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            lx.p += 1;
        }
        let Some(c) = lx.peek() else { break };
        let at = lx.p;
        let line = lx.line_col(at).0;
        if lx.starts("//") {
            lx.p += 2;
            let t = lx.text[lx.p..].split('\n').next().unwrap_or("").trim_end().to_string();
            lx.p += t.len();
            items.push(Item { line, time: None, kind: ItemKind::Comment(t.trim().to_string()) });
            continue;
        }
        if lx.starts("/*") {
            lx.p += 2;
            let t = lx.until(at, "*/", "a `/*` comment")?;
            items.push(Item { line, time: None, kind: ItemKind::Comment(t.trim().to_string()) });
            continue;
        }
        if lx.starts("--") {
            lx.p += 2;
            // The name, as packetdrill's lexer reads it: [a-zA-Z0-9_]+.
            let start = lx.p;
            while lx.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
                lx.p += 1;
            }
            let name = text[start..lx.p].to_string();
            if name.is_empty() {
                return Err(lx.err(at, "`--` without an option name"));
            }
            // `= VALUE`, where VALUE may be a "string", a `command`, or
            // WORD=that (blanks around `=` allowed, as between tokens).
            let save = lx.p;
            lx.skip_blank();
            let value = if lx.peek() == Some(b'=') {
                lx.p += 1;
                lx.skip_blank();
                let vstart = lx.p;
                while let Some(c) = lx.peek().filter(|c| !c.is_ascii_whitespace()) {
                    lx.p += 1;
                    if c == b'"' || c == b'`' {
                        let what = if c == b'"' { "a string" } else { "a backtick command" };
                        lx.until(lx.p - 1, if c == b'"' { "\"" } else { "`" }, what)?;
                    }
                }
                if lx.p == vstart {
                    return Err(lx.err(at, format!("`--{name}=` without a value")));
                }
                Some(text[vstart..lx.p].to_string())
            } else {
                lx.p = save;
                if lx.peek().is_some_and(|c| !c.is_ascii_whitespace() && c != b'/') {
                    return Err(lx.err(
                        lx.p,
                        format!(
                            "`--{name}` is followed by `{}`, not `=` or a blank",
                            lx.peek().unwrap_or(b' ') as char
                        ),
                    ));
                }
                None
            };
            items.push(Item { line, time: None, kind: ItemKind::Flag { name, value } });
            continue;
        }
        if c == b'`' {
            lx.p += 1;
            let cmd = lx.until(at, "`", "a backtick command")?;
            items.push(Item { line, time: None, kind: ItemKind::Shell(cmd) });
            continue;
        }
        let time = lx.time()?;
        lx.skip_blank();
        let at = lx.p;
        let kind = match lx.peek() {
            Some(b'<' | b'>') => {
                let inbound = lx.peek() == Some(b'<');
                lx.p += 1;
                let text = lx.rest_of_line();
                if text.is_empty() {
                    return Err(lx.err(at, "a packet line needs flags and sequence numbers after `<`/`>`"));
                }
                ItemKind::Packet { inbound, text }
            }
            Some(b'`') => {
                lx.p += 1;
                ItemKind::Shell(lx.until(at, "`", "a backtick command")?)
            }
            Some(b'%') if lx.starts("%{") => {
                lx.p += 2;
                ItemKind::Python(lx.until(at, "}%", "a `%{` Python block")?)
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let start = lx.p;
                while lx.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
                    lx.p += 1;
                }
                let name = text[start..lx.p].to_string();
                lx.skip_blank();
                if lx.peek() != Some(b'(') {
                    return Err(lx.err(lx.p, format!("expected `(` after the system call name `{name}`")));
                }
                let open = lx.p;
                lx.p += 1;
                let args = lx.call_args(open)?;
                lx.skip_blank();
                let result = if lx.peek() == Some(b'=') {
                    lx.p += 1;
                    Some(lx.rest_of_line())
                } else {
                    None
                };
                ItemKind::Call { name, args, result }
            }
            Some(_) => {
                return Err(lx
                    .err(at, "expected a packet (`<`, `>`), a system call, a backtick command or `%{` after the time"))
            }
            None => return Err(lx.err(at, "the script ends after a time")),
        };
        items.push(Item { line, time: Some(time), kind });
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_form() {
        let s = "// hi\n--tolerance_usecs=10000\n`../common/defaults.sh\nsysctl -q x=1`\n\
                 0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
                 +.1...0.200 accept(3, ..., ...) = 4 // c\n\
                 +0 ... .02 sendto(4, ..., 6000, MSG_FASTOPEN, ..., ...) = 6000\n\
                 +.1~+.2 > P. 1:2001(2000) ack 1 // out\n\
                 * < . 1:1(0) ack 1 win 257\n\
                 +0 %{ assert tcpi_snd_cwnd == 10 }%\n\
                 +0 poll([{fd=4,\n events=POLLOUT}], 1, 0) = 1\n/* x\ny */\n";
        let all = parse(s).unwrap();
        // Trailing `//` comments are items of their own (kept as comments).
        assert_eq!(all.iter().filter(|i| matches!(i.kind, ItemKind::Comment(_))).count(), 4);
        let items: Vec<&Item> = all.iter().filter(|i| !matches!(i.kind, ItemKind::Comment(_))).collect();
        assert_eq!(items.len(), 9);
        assert_eq!(items[0].kind, ItemKind::Flag { name: "tolerance_usecs".into(), value: Some("10000".into()) });
        assert!(matches!(&items[1].kind, ItemKind::Shell(c) if c.contains("sysctl -q")));
        let t = items[3].time.as_ref().unwrap();
        assert!(t.relative && (t.start - 0.1).abs() < 1e-9 && t.returns == Some(0.2));
        assert!(matches!(&items[3].kind, ItemKind::Call { name, result: Some(r), .. } if name == "accept" && r == "4"));
        assert_eq!(items[4].time.as_ref().unwrap().returns, Some(0.02));
        assert_eq!(items[5].time.as_ref().unwrap().range_end, Some(0.2));
        assert!(matches!(&items[5].kind, ItemKind::Packet { inbound: false, text } if text == "P. 1:2001(2000) ack 1"));
        assert!(items[6].time.as_ref().unwrap().any);
        assert!(matches!(&items[7].kind, ItemKind::Python(c) if c.contains("tcpi_snd_cwnd")));
        assert!(matches!(&items[8].kind, ItemKind::Call { args, .. } if args.contains("events=POLLOUT")));
        assert_eq!(items[8].line, 11);
        assert_eq!(all.last().unwrap().line, 13);
    }

    #[test]
    fn errors_say_where() {
        for (s, line, col) in [
            ("0 socket(", 1, 9),
            ("\n  +0 frob 3", 2, 11),
            ("`abc", 1, 1),
            ("%{ x }%", 1, 1),
            ("+x", 1, 1),
            ("0 ", 1, 3),
            ("0 %{ assert 1", 1, 3),
        ] {
            let e = parse(s).unwrap_err();
            assert_eq!((e.line, e.column), (line, col), "{s}: {}", e.message);
        }
    }
}
